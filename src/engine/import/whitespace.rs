//! Whitespace-separated text: fields split by runs of spaces or tabs, strings optionally in
//! `"…"` or `'…'` — what R's `write.table` writes and much scientific data looks like. DuckDB
//! takes one delimiter character, so such a file is rewritten as CSV in the temp folder, line
//! for line (line numbers in messages stay right), and read from there.

use std::borrow::Cow;
use std::io::{BufRead as _, BufWriter, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::encoding::open_decompressed;
use crate::engine::error::{EngineError, Result};
use crate::engine::job::JobCtx;

/// Name given to R's unnamed row-name column.
pub const ROW_NAMES: &str = "rownames";

#[derive(Clone, Debug, PartialEq)]
pub struct Token<'a> {
    pub text: Cow<'a, str>,
    pub is_quoted: bool,
}

/// Splits a line on runs of spaces and tabs; `"…"` and `'…'` keep spaces, with `\"` or `""`
/// standing for a quote inside.
pub fn split(line: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let quote = bytes[i];
        if quote == b'"' || quote == b'\'' {
            let mut text = String::new();
            let mut j = i + 1;
            let mut closed = false;
            while j < bytes.len() {
                let b = bytes[j];
                if b == b'\\' && j + 1 < bytes.len() && (bytes[j + 1] == quote || bytes[j + 1] == b'\\') {
                    text.push(bytes[j + 1] as char);
                    j += 2;
                } else if b == quote && bytes.get(j + 1) == Some(&quote) {
                    text.push(quote as char);
                    j += 2;
                } else if b == quote {
                    closed = true;
                    j += 1;
                    break;
                } else {
                    let ch = line[j..].chars().next().unwrap_or(' ');
                    text.push(ch);
                    j += ch.len_utf8();
                }
            }
            if closed && (j >= bytes.len() || matches!(bytes[j], b' ' | b'\t' | b'\r')) {
                tokens.push(Token { text: Cow::Owned(text), is_quoted: true });
                i = j;
                continue;
            }
        }
        // Unquoted (or a quote that does not close where a field ends): up to the next space.
        let start = i;
        while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\r') {
            i += 1;
        }
        tokens.push(Token { text: Cow::Borrowed(&line[start..i]), is_quoted: false });
    }
    tokens
}

/// Appends `text` to `out` as one CSV field, quoted when it must be.
fn push_field(out: &mut String, text: &str) {
    let needs = text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ');
    if needs {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// One line of whitespace-separated text as a CSV line. An unquoted `NA` (R's missing
/// value) becomes an empty field when `na_is_null`.
pub fn to_csv_line(line: &str, na_is_null: bool, out: &mut String) {
    for (i, token) in split(line).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if na_is_null && !token.is_quoted && token.text == "NA" {
            continue;
        }
        push_field(out, &token.text);
    }
}

/// Rewrites the whitespace-separated `src` as CSV in a new file in `dir`, one line for one
/// line. The first `skip` lines are copied as single fields; `row_names` puts a name in front
/// of a header that lacks one for R's row names. `max_bytes` stops early (previews).
pub fn convert(
    src: &Path,
    dir: &Path,
    skip: usize,
    row_names: bool,
    na_is_null: bool,
    max_bytes: Option<u64>,
    ctx: &JobCtx,
) -> Result<tempfile::TempPath> {
    let (file, out_path) = crate::engine::scratch::file(dir, "space", ".csv")?.into_parts();
    let read_bytes = Arc::new(AtomicU64::new(0));
    let mut reader = std::io::BufReader::with_capacity(1 << 20, open_decompressed(src, read_bytes.clone())?);
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut csv = String::new();
    let mut line_no = 0usize;
    let mut text_bytes = 0u64;
    let mut is_header_done = false;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| EngineError::io(src, e))?;
        if n == 0 || max_bytes.is_some_and(|m| text_bytes >= m) {
            break;
        }
        text_bytes += n as u64;
        line_no += 1;
        if line_no % 65_536 == 0 {
            ctx.checkpoint()?;
            ctx.progress(read_bytes.load(Ordering::Relaxed), 0);
        }
        let content = line.trim_end_matches(['\n', '\r']);
        csv.clear();
        if line_no <= skip {
            push_field(&mut csv, content);
        } else if !is_header_done && !content.trim().is_empty() {
            is_header_done = true;
            if row_names {
                csv.push_str(ROW_NAMES);
                csv.push(',');
            }
            to_csv_line(content, false, &mut csv);
        } else {
            to_csv_line(content, na_is_null, &mut csv);
        }
        csv.push('\n');
        writer.write_all(csv.as_bytes()).map_err(|e| EngineError::io(&out_path, e))?;
    }
    writer.flush().map_err(|e| EngineError::io(&out_path, e))?;
    Ok(out_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split(line).into_iter().map(|t| t.text.into_owned()).collect()
    }

    #[test]
    fn splits_r_style_lines() {
        assert_eq!(texts("\"Mazda RX4\" 21 6 \"a b\""), ["Mazda RX4", "21", "6", "a b"]);
        assert_eq!(texts("  1.0   2.5\t\t3  "), ["1.0", "2.5", "3"]);
        assert_eq!(texts(r#""say \"hi\"" 'it''s' "x""y""#), ["say \"hi\"", "it's", "x\"y"]);
        assert_eq!(texts("don't stop"), ["don't", "stop"]);
        assert!(split("\"a\" b")[0].is_quoted && !split("\"a\" b")[1].is_quoted);
    }

    #[test]
    fn writes_csv_lines() {
        let mut out = String::new();
        to_csv_line("\"Valiant\" NA 6 \"d, e\" \"\" \"NA\"", true, &mut out);
        assert_eq!(out, "Valiant,,6,\"d, e\",,NA");
        out.clear();
        to_csv_line("\"Valiant\" NA 6", false, &mut out);
        assert_eq!(out, "Valiant,NA,6");
    }
}
