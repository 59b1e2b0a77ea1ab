//! What a file is before it is read: its format (from the name, then the first bytes), how
//! many rows it probably holds, and for delimited text the layout DuckDB's sniffer settles
//! on. The sniffer's answer is checked against the lines themselves, so a file whose lines
//! split into columns never lands as one column without the user being told.

use std::path::Path;

use duckdb::Connection;

use super::{arrow_ipc, encoding, excel};
use crate::engine::error::{EngineError, Result};
use crate::engine::formats::FileFormat;

/// Bytes of a text file's start its row count is extrapolated from.
pub(crate) const ESTIMATE_BYTES: usize = 1 << 20;
/// Widest delimited text dataforge reads; wider files take minutes and gigabytes to sniff.
pub const MAX_COLUMNS: u64 = 16_384;

impl FileFormat {
    /// Picks the reader from the extension (under any `.gz`/`.zst`), else from the first bytes.
    pub fn detect(path: &Path) -> Result<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(format) = FileFormat::from_name(&name) {
            return Ok(format);
        }
        if path.is_dir() {
            return Ok(Self::Parquet);
        }
        let mut magic = [0u8; 8];
        let n = match std::fs::File::open(path) {
            Ok(mut file) => std::io::Read::read(&mut file, &mut magic).map_err(|e| EngineError::io(path, e))?,
            // A glob pattern: DuckDB resolves it.
            Err(_) if path.to_string_lossy().contains(['*', '?']) => 0,
            Err(e) => return Err(EngineError::io(path, e)),
        };
        let head = &magic[..n];
        Ok(if head.starts_with(b"PAR1") {
            Self::Parquet
        } else if arrow_ipc::has_file_magic(head) || arrow_ipc::has_stream_magic(head) {
            Self::Arrow
        } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) || (head.starts_with(b"PK\x03\x04") && excel::sheet_names(path).is_ok()) {
            Self::Excel
        } else if arrow_ipc::looks_like_stream(path) {
            Self::Arrow
        } else {
            let sample = encoding::sample(path, 4096).unwrap_or_default();
            let is_binary = sample.contains(&0) && !encoding::is_utf16(encoding::detect_bytes(&sample, false));
            let known = [
                (&b"PARE"[..], "an encrypted Parquet file; dataforge cannot read encrypted Parquet"),
                (&b"BZh"[..], "compressed with bzip2, which dataforge does not read; decompress it (or use .gz/.zst/.zip)"),
                (&[0xFD, b'7', b'z', b'X', b'Z', 0][..], "compressed with xz, which dataforge does not read; decompress it (or use .gz/.zst/.zip)"),
                (&b"7z\xBC\xAF"[..], "a 7-Zip archive, which dataforge does not read; extract it (or use .zip)"),
                (&b"SQLite format 3\0"[..], "an SQLite database, not a data file dataforge imports"),
            ];
            let named = known.iter().find(|(magic, _)| sample.starts_with(magic)).map(|(_, what)| *what);
            if is_binary || named.is_some() {
                return Err(EngineError::invalid_file(path, named.unwrap_or("a binary file in none of the formats dataforge reads (CSV, JSON, Parquet, Arrow, Excel)")));
            }
            let first = head.iter().find(|b| !b.is_ascii_whitespace());
            if matches!(first, Some(b'{') | Some(b'[')) { Self::Json } else { Self::Csv }
        })
    }
}

/// Rows a text file probably holds (from its first megabyte).
pub fn estimate_text_rows(path: &Path) -> Option<u64> {
    let len = std::fs::metadata(path).ok()?.len();
    estimate_rows(path, FileFormat::Csv, len)
}

/// Rows the file probably holds: exact for Parquet (footer), else extrapolated from the line
/// length in the first megabyte (after decompression). Only drives progress text.
pub(crate) fn estimate_rows(path: &Path, format: FileFormat, file_len: u64) -> Option<u64> {
    if format == FileFormat::Parquet {
        let file = std::fs::File::open(path).ok()?;
        let reader = parquet::file::reader::SerializedFileReader::new(file).ok()?;
        return u64::try_from(parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows()).ok();
    }
    let (sample, read) = encoding::head(path, ESTIMATE_BYTES).ok()?;
    estimate_text_rows_from(path, &sample, read, file_len)
}

/// Extrapolates from `sample`, the decompressed start of `path` that took `read` bytes on disk.
pub(crate) fn estimate_text_rows_from(path: &Path, sample: &[u8], read: u64, file_len: u64) -> Option<u64> {
    if path.to_string_lossy().to_ascii_lowercase().ends_with(".zst") {
        return None;
    }
    let expanded_len = (file_len as f64 * sample.len() as f64 / read.max(1) as f64) as u64;
    let lines = sample.iter().filter(|b| **b == b'\n').count().max(1);
    Some((expanded_len as f64 * lines as f64 / sample.len().max(1) as f64) as u64)
}

/// The layout DuckDB's sniffer settles on.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Dialect {
    pub delimiter: String,
    pub quote: String,
    pub escape: String,
    pub newline: String,
    pub skip: u64,
    pub header: bool,
    pub comment: String,
    pub date_format: String,
    pub timestamp_format: String,
    pub columns: Vec<(String, String)>,
}

/// Runs `sniff_csv` with the reader arguments `args` (the path first). A failure is DuckDB's
/// message, for the caller to classify ([`DuckMessage`]).
pub fn sniff_dialect(conn: &Connection, args: &str) -> std::result::Result<Dialect, String> {
    let sql = format!(
        "SELECT Delimiter, Quote, Escape, NewLineDelimiter, SkipRows, HasHeader, Comment,
                coalesce(DateFormat, ''), coalesce(TimestampFormat, ''),
                to_json(Columns)::VARCHAR
         FROM sniff_csv({args})"
    );
    let row = conn.query_row(&sql, [], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, bool>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
            r.get::<_, String>(9)?,
        ))
    });
    let row = row.map_err(|e| e.to_string())?;
    let columns: Vec<serde_json::Value> = serde_json::from_str(&row.9).unwrap_or_default();
    // The read names the columns itself (`columns = {…}`): a NUL cannot go into SQL text.
    let columns = columns
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or_default().replace('\0', "\u{FFFD}"), c["type"].as_str().unwrap_or_default().to_string()))
        .collect();
    let empty = |s: String| if s == "(empty)" { String::new() } else { s };
    Ok(Dialect {
        delimiter: row.0,
        quote: empty(row.1),
        escape: empty(row.2),
        newline: row.3,
        skip: row.4.max(0) as u64,
        header: row.5,
        comment: empty(row.6),
        date_format: row.7,
        timestamp_format: row.8,
        columns,
    })
}

/// Fails when the first line of `text` (a file's start) has more fields than dataforge
/// reads, for any common delimiter.
pub fn check_width(path: &Path, text: &[u8]) -> Result<()> {
    let line = text.split(|b| *b == b'\n' || *b == b'\r').next().unwrap_or_default();
    // Spaces are left out: prose has many, and whitespace-separated tables are not that wide.
    let widest = [b',', b';', b'\t', b'|'].iter().map(|d| line.iter().filter(|b| *b == d).count() as u64 + 1).max().unwrap_or(1);
    if widest > MAX_COLUMNS {
        return Err(EngineError::InvalidData {
            file: path.to_path_buf(),
            line: Some(1),
            column: None,
            reason: format!(
                "the line has {} fields; dataforge reads at most {} columns",
                crate::engine::config::group_digits(widest),
                crate::engine::config::group_digits(MAX_COLUMNS)
            ),
        });
    }
    Ok(())
}

/// How the lines of a file's start split, when the sniffer saw one column.
#[derive(Clone, Debug, PartialEq)]
pub enum LineSplit {
    /// Nearly every line splits on this delimiter into the same number of fields.
    Delimiter { delimiter: char, fields: usize },
    /// Fields separated by runs of spaces or tabs (R's `write.table`, fixed-width data).
    /// `row_names`: the header has one field fewer than the rows (R's row names).
    Whitespace { fields: usize, row_names: bool },
    /// Many lines hold the delimiter, but not the same number of times.
    Ragged { delimiter: char },
    /// Lines of text: one column is right.
    Lines,
}

const CANDIDATES: [char; 4] = [',', ';', '\t', '|'];
/// Share of sampled lines that must agree on a field count.
const STEADY_SHARE: f64 = 0.9;
const SAMPLE_LINES: usize = 500;

/// Looks at the lines of `sample` (a file's start, after `skip` lines) to see whether they
/// split into columns the sniffer missed.
pub fn split_lines(sample: &str, skip: usize, comment: Option<char>) -> LineSplit {
    let mut lines: Vec<&str> = sample
        .lines()
        .skip(skip)
        .filter(|l| !l.trim().is_empty() && !comment.is_some_and(|c| l.trim_start().starts_with(c)))
        .take(SAMPLE_LINES + 1)
        .collect();
    // The sample may end inside a line.
    if lines.len() > SAMPLE_LINES || !sample.ends_with('\n') {
        lines.pop();
    }
    if lines.len() < 2 {
        return LineSplit::Lines;
    }
    let mut best: Option<(f64, usize, char)> = None;
    let mut ragged = None;
    for d in CANDIDATES {
        let counts: Vec<usize> = lines.iter().map(|l| delimited_fields(l, d, Some('"'))).collect();
        let (fields, share) = mode(&counts);
        if fields >= 2 && share >= STEADY_SHARE && best.is_none_or(|(s, f, _)| (share, fields) > (s, f)) {
            best = Some((share, fields, d));
        }
        let with_delimiter = counts.iter().filter(|c| **c >= 2).count() as f64 / counts.len() as f64;
        if with_delimiter >= 0.5 && ragged.is_none() {
            ragged = Some(d);
        }
    }
    if let Some((_, fields, delimiter)) = best {
        return LineSplit::Delimiter { delimiter, fields };
    }
    if let Some(split) = whitespace_split(&lines) {
        return split;
    }
    match ragged {
        Some(delimiter) => LineSplit::Ragged { delimiter },
        None => LineSplit::Lines,
    }
}

/// Space-separated fields: every data line has the same number of fields, the header that
/// many or one fewer, and something says these are columns and not words: a header of quoted
/// names (as R writes it) or a column of numbers.
fn whitespace_split(lines: &[&str]) -> Option<LineSplit> {
    use super::whitespace::{Token, split};
    let rows: Vec<Vec<Token>> = lines.iter().map(|l| split(l)).collect();
    let (header, data) = rows.split_first()?;
    let fields = data.first()?.len();
    if fields < 2 || data.iter().any(|r| r.len() != fields) || !(header.len() == fields || header.len() + 1 == fields) {
        return None;
    }
    let is_number = |t: &Token| t.text.parse::<f64>().is_ok() || t.text == "NA";
    let quoted_header = header.iter().all(|t| t.is_quoted);
    let numeric_column = (0..fields).any(|i| data.iter().all(|r| !r[i].is_quoted && is_number(&r[i])));
    (quoted_header || numeric_column).then_some(LineSplit::Whitespace { fields, row_names: header.len() + 1 == fields })
}

/// Fields of `line` split on `delimiter`, with fields in `quote` kept whole.
pub fn delimited_fields(line: &str, delimiter: char, quote: Option<char>) -> usize {
    let mut fields = 1;
    let mut is_quoted = false;
    for c in line.chars() {
        if Some(c) == quote {
            is_quoted = !is_quoted;
        } else if c == delimiter && !is_quoted {
            fields += 1;
        }
    }
    fields
}

/// The most common value and the share of `values` that have it.
fn mode(values: &[usize]) -> (usize, f64) {
    let mut counts = std::collections::HashMap::new();
    for v in values {
        *counts.entry(*v).or_insert(0usize) += 1;
    }
    let (value, n) = counts.into_iter().max_by_key(|(v, n)| (*n, *v)).unwrap_or((0, 0));
    (value, n as f64 / values.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_by_name_and_magic() {
        assert_eq!(FileFormat::detect(Path::new("a.CSV.gz")).unwrap(), FileFormat::Csv);
        assert_eq!(FileFormat::detect(Path::new("a.ndjson")).unwrap(), FileFormat::Json);
        assert_eq!(FileFormat::detect(Path::new("x/a.parquet")).unwrap(), FileFormat::Parquet);
        assert_eq!(FileFormat::detect(Path::new("x/a.xlsx")).unwrap(), FileFormat::Excel);
        assert_eq!(FileFormat::detect(Path::new("x/a.feather")).unwrap(), FileFormat::Arrow);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data.bin");
        std::fs::write(&p, b"PAR1....").unwrap();
        assert_eq!(FileFormat::detect(&p).unwrap(), FileFormat::Parquet);
        std::fs::write(&p, b"ARROW1\0\0").unwrap();
        assert_eq!(FileFormat::detect(&p).unwrap(), FileFormat::Arrow);
        std::fs::write(&p, b"  [{\"a\": 1}]").unwrap();
        assert_eq!(FileFormat::detect(&p).unwrap(), FileFormat::Json);
    }

    #[test]
    fn lines_that_split_into_columns() {
        let mut ragged_commas = String::from("a,b,c,d\n");
        for i in 0..100 {
            ragged_commas.push_str(if i % 40 == 7 { "1,2,3,4,5,6\n" } else { "1,2,3,4\n" });
        }
        assert_eq!(split_lines(&ragged_commas, 0, None), LineSplit::Delimiter { delimiter: ',', fields: 4 });
        let r = "\"mpg\" \"cyl\" \"name\"\n\"Mazda RX4\" 21 6 \"a b\"\n\"Datsun 710\" 22.8 4 \"c\"\n";
        assert_eq!(split_lines(r, 0, None), LineSplit::Whitespace { fields: 4, row_names: true });
        let runs = "x    y     z\n1.0  2.5   3\n10   20.25 300\n  4  5     6\n";
        assert_eq!(split_lines(runs, 0, None), LineSplit::Whitespace { fields: 3, row_names: false });
        let prose = "It was a dark night.\nThe rain fell, hard, on the roof\nNobody came.\n";
        assert_eq!(split_lines(prose, 0, None), LineSplit::Lines);
        let cities = "city\nNew York\nLos Angeles\nSan Diego\n";
        assert_eq!(split_lines(cities, 0, None), LineSplit::Lines, "two-word names are not two columns");
        let pairs = "\"first\" \"last\"\n\"Ann\" \"Lee\"\n\"Bo\" \"Chan\"\n";
        assert_eq!(split_lines(pairs, 0, None), LineSplit::Whitespace { fields: 2, row_names: false });
        let mixed = "a,b\n1,2,3\nx\n4,5,6,7\n8,9\n";
        assert_eq!(split_lines(mixed, 0, None), LineSplit::Ragged { delimiter: ',' });
        assert_eq!(split_lines("one line only\n", 0, None), LineSplit::Lines);
    }

    #[test]
    fn very_wide_files_are_refused() {
        let wide = (0..20_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",");
        let err = check_width(Path::new("wide.csv"), wide.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "wide.csv: line 1: the line has 20,000 fields; dataforge reads at most 16,384 columns");
        assert!(check_width(Path::new("ok.csv"), b"a,b,c\n1,2,3\n").is_ok());
        let cr_lines = "a,b\r1,2\r".repeat(20_000);
        assert!(check_width(Path::new("cr.csv"), cr_lines.as_bytes()).is_ok(), "lines may end in CR alone");
    }
}
