//! CSV and TSV. DuckDB writes UTF-8 itself (with gzip or zstd). For the other encodings it
//! writes UTF-8 to a scratch file, which is then transcoded here, streaming, into the output:
//! UTF-8 with a byte-order mark (what Excel needs to read UTF-8), UTF-16LE with a BOM, or
//! Windows-1252, where a character the code page lacks stops the export with its line.

use std::io::{BufReader, Read, Write};
use std::path::Path;

use serde::Serialize;

use super::{Codec, CsvWriteOptions, ExportFormat, Written};
use crate::engine::error::{EngineError, Result, display_name};
use crate::engine::job::JobCtx;
use crate::engine::sql::quote_literal;
use crate::engine::view::CompiledView;
use crate::engine::workspace::WsConnection;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextEncoding {
    #[default]
    Utf8,
    Utf8Bom,
    Utf16Le,
    Windows1252,
}

impl TextEncoding {
    pub const ALL: [Self; 4] = [Self::Utf8, Self::Utf8Bom, Self::Utf16Le, Self::Windows1252];

    pub fn parse(label: &str) -> Result<Self> {
        Ok(match label.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Self::Utf8,
            "utf-8-bom" | "utf8-bom" | "utf-8-sig" | "utf8-sig" => Self::Utf8Bom,
            "utf-16le" | "utf-16-le" | "utf16le" | "utf-16" | "utf16" => Self::Utf16Le,
            "windows-1252" | "cp1252" | "latin1" | "latin-1" | "iso-8859-1" => Self::Windows1252,
            _ => {
                return Err(EngineError::InvalidOption(format!(
                    "\"{label}\" is not an export encoding; choose utf-8, utf-8-bom, utf-16le or windows-1252"
                )));
            }
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Utf8Bom => "UTF-8 with BOM (Excel)",
            Self::Utf16Le => "UTF-16LE",
            Self::Windows1252 => "Windows-1252",
        }
    }

    pub(super) fn needs_transcoding(self) -> bool {
        self != Self::Utf8
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineEnding {
    #[default]
    Lf,
    CrLf,
}

impl LineEnding {
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "lf" | "unix" | "\\n" => Ok(Self::Lf),
            "crlf" | "windows" | "\\r\\n" => Ok(Self::CrLf),
            _ => Err(EngineError::InvalidOption(format!("\"{text}\" is not a line ending; choose lf or crlf"))),
        }
    }
}

pub(super) fn check_options(o: &CsvWriteOptions) -> Result<()> {
    let bad = |m: String| Err(EngineError::InvalidOption(m));
    if let Some(d) = o.delimiter {
        if ['\n', '\r'].contains(&d) || d == o.quote {
            return bad(format!("{d:?} cannot be the delimiter"));
        }
    }
    if ['\n', '\r'].contains(&o.quote) {
        return bad(format!("{:?} cannot be the quote", o.quote));
    }
    if o.null_text.contains(['\n', '\r']) {
        return bad("the NULL text cannot hold a line break".into());
    }
    Ok(())
}

/// `COPY` options for CSV/TSV.
pub(super) fn duckdb_options(format: ExportFormat, o: &CsvWriteOptions) -> Vec<String> {
    let delimiter = o.delimiter.unwrap_or(if format == ExportFormat::Tsv { '\t' } else { ',' });
    vec![
        "FORMAT csv".to_string(),
        format!("DELIMITER {}", quote_literal(&delimiter.to_string())),
        format!("QUOTE {}", quote_literal(&o.quote.to_string())),
        format!("ESCAPE {}", quote_literal(&o.quote.to_string())),
        format!("HEADER {}", o.header),
        format!("NULLSTR {}", quote_literal(&o.null_text)),
        format!("NEW_LINE {}", quote_literal(if o.line_ending == LineEnding::CrLf { "\r\n" } else { "\n" })),
    ]
}

/// Writes UTF-8 CSV with DuckDB into a scratch file, then transcodes it into `partial`.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_transcoded(
    conn: &WsConnection,
    compiled: &CompiledView,
    partial: &Path,
    temp_dir: &Path,
    format: ExportFormat,
    codec: Codec,
    o: &CsvWriteOptions,
    ctx: &JobCtx,
) -> Result<Written> {
    let scratch = crate::engine::scratch::file(temp_dir, "csv", ".csv")?.into_temp_path();
    let mut options = duckdb_options(format, o);
    options.push("USE_TMP_FILE false".into());
    let sql = format!("COPY ({}) TO {} ({})", compiled.select(), quote_literal(&scratch.to_string_lossy()), options.join(", "));
    let rows = conn.execute(&sql, compiled.params())? as u64;
    ctx.checkpoint()?;
    let total = std::fs::metadata(&scratch).map_err(|e| EngineError::io(&scratch, e))?.len();
    ctx.phase(format!("Writing {} in {}", display_name(partial), o.encoding.label()), Some(total));
    let input = std::fs::File::open(&scratch).map_err(|e| EngineError::io(&scratch, e))?;
    let file = std::fs::File::create(partial).map_err(|e| EngineError::io(partial, e))?;
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    let io = |e| EngineError::io(partial, e);
    match codec {
        Codec::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            transcode(input, &mut gz, o.encoding, partial, rows, ctx)?;
            gz.finish().map_err(io)?.flush().map_err(io)?;
        }
        Codec::Zstd => {
            let mut z = zstd::stream::write::Encoder::new(out, 3).map_err(io)?;
            transcode(input, &mut z, o.encoding, partial, rows, ctx)?;
            z.finish().map_err(io)?.flush().map_err(io)?;
        }
        _ => {
            let mut out = out;
            transcode(input, &mut out, o.encoding, partial, rows, ctx)?;
            out.flush().map_err(io)?;
        }
    }
    Ok(Written { rows, ..Written::default() })
}

/// Streams UTF-8 from `input` to `out` in `encoding`.
fn transcode(input: std::fs::File, out: &mut impl Write, encoding: TextEncoding, shown: &Path, rows: u64, ctx: &JobCtx) -> Result<()> {
    let io = |e| EngineError::io(shown, e);
    let mut reader = BufReader::with_capacity(1 << 20, input);
    match encoding {
        TextEncoding::Utf8 => {}
        TextEncoding::Utf8Bom => out.write_all(b"\xEF\xBB\xBF").map_err(io)?,
        TextEncoding::Utf16Le => out.write_all(b"\xFF\xFE").map_err(io)?,
        TextEncoding::Windows1252 => {}
    }
    let mut encoder = encoding_rs::WINDOWS_1252.new_encoder();
    let mut buf = vec![0u8; 1 << 20];
    let mut carry = 0usize;
    let mut done = 0u64;
    let mut line = 1u64;
    let mut wide = Vec::with_capacity(2 << 20);
    let mut narrow = vec![0u8; 1 << 20];
    loop {
        ctx.checkpoint()?;
        let n = reader.read(&mut buf[carry..]).map_err(io)?;
        let filled = carry + n;
        if filled == 0 {
            break;
        }
        // Only whole characters: the tail of a split one waits for the next read.
        let valid = match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => filled,
            Err(e) if e.error_len().is_none() && n > 0 => e.valid_up_to(),
            Err(e) => {
                return Err(EngineError::Internal(format!("the CSV DuckDB wrote is not UTF-8 at byte {}", done + e.valid_up_to() as u64)));
            }
        };
        let text = std::str::from_utf8(&buf[..valid]).map_err(|e| EngineError::Internal(e.to_string()))?;
        match encoding {
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => out.write_all(text.as_bytes()).map_err(io)?,
            TextEncoding::Utf16Le => {
                wide.clear();
                for unit in text.encode_utf16() {
                    wide.extend_from_slice(&unit.to_le_bytes());
                }
                out.write_all(&wide).map_err(io)?;
            }
            TextEncoding::Windows1252 => {
                let mut rest = text;
                loop {
                    let (result, read, written) = encoder.encode_from_utf8_without_replacement(rest, &mut narrow, false);
                    out.write_all(&narrow[..written]).map_err(io)?;
                    match result {
                        encoding_rs::EncoderResult::InputEmpty => break,
                        encoding_rs::EncoderResult::OutputFull => rest = &rest[read..],
                        encoding_rs::EncoderResult::Unmappable(c) => {
                            let before = &rest[..read];
                            let at_line = line + text[..text.len() - rest.len()].matches('\n').count() as u64 + before.matches('\n').count() as u64;
                            return Err(EngineError::InvalidData {
                                file: shown.to_path_buf(),
                                line: Some(at_line),
                                column: None,
                                reason: format!("\"{c}\" (U+{:04X}) cannot be written in Windows-1252; choose UTF-8 or UTF-16LE", c as u32),
                            });
                        }
                    }
                }
            }
        }
        line += text.matches('\n').count() as u64;
        done += valid as u64;
        buf.copy_within(valid..filled, 0);
        carry = filled - valid;
        ctx.progress(done, rows);
        if n == 0 {
            break;
        }
    }
    Ok(())
}
