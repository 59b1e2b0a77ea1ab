//! Text encodings. DuckDB reads UTF-8; anything else is detected (BOM, NUL pattern,
//! chardetng) and transcoded to a UTF-8 temporary file in streaming fashion, never holding
//! the file in memory.

use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use encoding_rs::{DecoderResult, Encoding, UTF_8, UTF_16BE, UTF_16LE};

use crate::engine::error::{EngineError, Result};
use crate::engine::job::JobCtx;

/// Bytes the encoding is guessed from.
pub const DETECT_BYTES: usize = 256 * 1024;

/// Looks an encoding up by any WHATWG label (`latin1`, `cp1252`, `sjis`, `utf-16le`…).
pub fn encoding_for_label(label: &str) -> Result<&'static Encoding> {
    let label = label.trim();
    let alias = match label.to_ascii_lowercase().as_str() {
        "utf8" => "utf-8",
        "utf16" | "utf-16" | "utf16le" => "utf-16le",
        "utf16be" => "utf-16be",
        "latin-1" | "latin_1" => "latin1",
        "cp932" | "sjis" | "shift-jis" => "shift_jis",
        _ => label,
    }
    .to_string();
    Encoding::for_label(alias.as_bytes()).ok_or_else(|| {
        EngineError::InvalidOption(format!("unknown encoding \"{label}\" (try utf-8, utf-16le, windows-1252, latin1, shift_jis, gbk, euc-kr…)"))
    })
}

/// Opens a file, decompressing `.gz`/`.zst`; the counter follows bytes read from disk.
pub fn open_decompressed(path: &Path, counter: Arc<AtomicU64>) -> Result<Box<dyn Read + Send>> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let counted = CountingReader { inner: file, bytes: counter };
    let name = path.to_string_lossy().to_ascii_lowercase();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(counted)))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(counted).map_err(|e| EngineError::io(path, e))?)
    } else {
        Box::new(counted)
    })
}

struct CountingReader<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The first `len` bytes of the (decompressed) file, and how many bytes of the file on disk
/// they took.
pub fn head(path: &Path, len: usize) -> Result<(Vec<u8>, u64)> {
    let counter = Arc::new(AtomicU64::new(0));
    let mut reader = open_decompressed(path, counter.clone())?;
    let mut buf = Vec::with_capacity(len.min(1 << 20));
    reader.by_ref().take(len as u64).read_to_end(&mut buf).map_err(|e| EngineError::io(path, e))?;
    Ok((buf, counter.load(Ordering::Relaxed)))
}

/// The first bytes of the (decompressed) file.
pub fn sample(path: &Path, len: usize) -> Result<Vec<u8>> {
    Ok(head(path, len)?.0)
}

/// Guesses the encoding from the first 256 KB.
pub fn detect(path: &Path) -> Result<&'static Encoding> {
    Ok(detect_bytes(&sample(path, DETECT_BYTES)?, false))
}

/// The encoding the user named, else the detected one.
pub fn resolve(label: Option<&str>, path: &Path) -> Result<&'static Encoding> {
    match label {
        Some(label) => encoding_for_label(label),
        None => detect(path),
    }
}

/// BOM first, then the NUL pattern of UTF-16 (chardetng never reports UTF-16), then valid
/// UTF-8, then chardetng. `complete` says the bytes are the whole file.
pub fn detect_bytes(bytes: &[u8], complete: bool) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(bytes) {
        return encoding;
    }
    if let Some(encoding) = utf16_by_nuls(bytes) {
        return encoding;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => return UTF_8,
        // A sample may end inside a character.
        Err(e) if e.error_len().is_none() && !complete => return UTF_8,
        Err(_) => {}
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, complete);
    detector.guess(None, chardetng::Utf8Detection::Allow)
}

fn utf16_by_nuls(bytes: &[u8]) -> Option<&'static Encoding> {
    let n = bytes.len().min(4096) & !1;
    if n < 4 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in bytes[..n].chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    let pairs = n / 2;
    if odd * 10 > pairs * 3 && even * 20 < pairs {
        Some(UTF_16LE)
    } else if even * 10 > pairs * 3 && odd * 20 < pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Reads the whole (decompressed) file through chardetng: used when the first bytes looked
/// like UTF-8 but the file is not.
pub fn detect_whole(path: &Path, ctx: &JobCtx) -> Result<&'static Encoding> {
    let mut reader = open_decompressed(path, Arc::default())?;
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        ctx.checkpoint()?;
        let n = reader.read(&mut buf).map_err(|e| EngineError::io(path, e))?;
        if n == 0 {
            break;
        }
        detector.feed(&buf[..n], false);
    }
    detector.feed(&[], true);
    Ok(detector.guess(None, chardetng::Utf8Detection::Allow))
}

/// Writes `src` (decompressed) as UTF-8 into a new file in `dir`. Bytes that are not valid in
/// `encoding` are an error naming the line.
pub fn transcode(src: &Path, encoding: &'static Encoding, dir: &Path, ctx: &JobCtx) -> Result<tempfile::TempPath> {
    let (file, out_path) = crate::engine::scratch::file(dir, "utf8", ".csv")?.into_parts();
    let read_bytes = Arc::new(AtomicU64::new(0));
    let mut reader = open_decompressed(src, read_bytes.clone())?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    // Without BOM sniffing: the detected/declared encoding is what the user sees and picks.
    let mut decoder = encoding.new_decoder_with_bom_removal();
    let mut input = vec![0u8; 1 << 16];
    let mut output = vec![0u8; (1 << 16) * 3 + 16];
    let mut line = 1u64;
    let mut last_report = 0u64;
    loop {
        ctx.checkpoint()?;
        let n = reader.read(&mut input).map_err(|e| EngineError::io(src, e))?;
        let last = n == 0;
        let mut consumed = 0;
        loop {
            let (result, read, written) = decoder.decode_to_utf8_without_replacement(&input[consumed..n], &mut output, last);
            line += output[..written].iter().filter(|b| **b == b'\n').count() as u64;
            writer.write_all(&output[..written]).map_err(|e| EngineError::io(&out_path, e))?;
            consumed += read;
            match result {
                DecoderResult::InputEmpty => break,
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(_, _) => {
                    return Err(EngineError::InvalidEncoding { file: src.to_path_buf(), line: Some(line), encoding: encoding.name().to_string() });
                }
            }
        }
        let done = read_bytes.load(Ordering::Relaxed);
        if done - last_report > (4 << 20) {
            ctx.progress(done, 0);
            last_report = done;
        }
        if last {
            break;
        }
    }
    writer.flush().map_err(|e| EngineError::io(&out_path, e))?;
    Ok(out_path)
}

pub fn is_utf8(encoding: &'static Encoding) -> bool {
    encoding == UTF_8
}

/// Name shown to people (`UTF-8`, `windows-1252`, `Shift_JIS`).
pub fn display(encoding: &'static Encoding) -> &'static str {
    encoding.name()
}

pub fn is_utf16(encoding: &'static Encoding) -> bool {
    encoding == UTF_16LE || encoding == UTF_16BE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_boms_utf16_and_legacy_text() {
        assert_eq!(detect_bytes(b"\xEF\xBB\xBFa,b\n", false), UTF_8);
        assert_eq!(detect_bytes(b"\xFF\xFEa\0,\0b\0", false), UTF_16LE);
        let utf16be: Vec<u8> = "name,city\nJos\u{e9},K\u{f6}ln\n".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(detect_bytes(&utf16be, true), UTF_16BE);
        assert_eq!(detect_bytes("na\u{ef}ve,caf\u{e9}\n".as_bytes(), true), UTF_8);
        let (latin, _, _) = encoding_rs::WINDOWS_1252.encode("name,city\nJos\u{e9},K\u{f6}ln\nFran\u{e7}ois,Besan\u{e7}on\n");
        assert_eq!(detect_bytes(&latin, true), encoding_rs::WINDOWS_1252);
        assert_eq!(encoding_for_label("latin-1").unwrap(), encoding_rs::WINDOWS_1252);
        assert_eq!(encoding_for_label("sjis").unwrap(), encoding_rs::SHIFT_JIS);
        assert!(encoding_for_label("klingon").is_err());
    }
}
