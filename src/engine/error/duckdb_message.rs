//! The one place DuckDB's error text is read. DuckDB reports everything as a string (an
//! error class, a sentence, then pages of hints); [`DuckMessage`] pulls out what dataforge
//! acts on: the kind of failure, the line and column, the value that did not convert, the
//! column counts of a ragged line, whether the reader guessed the failing setting. The tests
//! below run on messages captured from DuckDB 2.0.

use std::path::{Path, PathBuf};

use super::EngineError;

/// What a DuckDB failure was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Interrupted,
    Locked,
    /// `errno 28` writing this file.
    DiskFull(PathBuf),
    OutOfMemory,
    /// A DuckDB bug (`INTERNAL Error`).
    Internal,
    /// A value did not convert to a column's type.
    Conversion { value: String, data_type: String },
    /// A strict cast ([`crate::engine::kind::strict_cast_sql`]) met text its type would change.
    ValueChanges { tag: usize, value: String },
    /// A line had another number of fields than the header.
    ColumnCount { expected: u64, found: u64 },
    LineTooLong { bytes: u64, limit: u64 },
    /// The CSV sniffer found no dialect that fits the sample.
    NoDialect,
    InvalidUnicode,
    UnterminatedQuote,
    /// The CSV state machine hit a quote or line ending it cannot place (strict mode).
    InvalidState,
    /// A JSON object repeats a key.
    DuplicateKey,
    NoSuchFile,
    NoSuchType,
    /// A catalog entry (a table function registered twice) exists already.
    AlreadyExists,
    Other,
}

#[derive(Clone, Copy)]
pub struct DuckMessage<'a> {
    text: &'a str,
}

impl<'a> DuckMessage<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { text: text.trim() }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    pub fn kind(&self) -> MessageKind {
        let t = self.text;
        if t.starts_with("INTERRUPT") || t.contains("Interrupted!") {
            return MessageKind::Interrupted;
        }
        if t.contains("Could not set lock") || t.contains("Conflicting lock") {
            return MessageKind::Locked;
        }
        if t.contains("No space left on device") || t.contains("\"errno\":\"28\"") {
            let path = after(t, "Could not write file \\\"")
                .and_then(|s| s.split("\\\"").next())
                .or_else(|| after(t, "Could not write file \"").and_then(|s| s.split('"').next()))
                .unwrap_or_default();
            return MessageKind::DiskFull(PathBuf::from(path));
        }
        if t.starts_with("Out of Memory Error") || t.contains("failed to allocate data of size") {
            return MessageKind::OutOfMemory;
        }
        if t.starts_with("INTERNAL Error") {
            return MessageKind::Internal;
        }
        // The mark heads the message the strict cast raised; the same text further on is the
        // statement echoed back with another error.
        let first_line = t.lines().next().unwrap_or_default();
        if let Some(rest) = first_line.split_once("Error: ").map(|(_, m)| m).and_then(|m| m.strip_prefix(crate::engine::kind::CHANGED_MARK)) {
            if let Some((tag, value)) = rest.split_once(':') {
                if let Ok(tag) = tag.parse() {
                    return MessageKind::ValueChanges { tag, value: value.lines().next().unwrap_or_default().to_string() };
                }
            }
        }
        if let Some((value, data_type)) = self.conversion() {
            return MessageKind::Conversion { value: value.to_string(), data_type: data_type.to_string() };
        }
        if let Some(bytes) = after(t, "Maximum line size of ") {
            let mut numbers = bytes.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty()).filter_map(|n| n.parse().ok());
            if let (Some(limit), Some(bytes)) = (numbers.next(), numbers.next()) {
                return MessageKind::LineTooLong { bytes, limit };
            }
        }
        if let Some(rest) = after(t, "Expected Number of Columns: ") {
            let mut numbers = rest.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty()).filter_map(|n| n.parse().ok());
            if let (Some(expected), Some(found)) = (numbers.next(), numbers.next()) {
                return MessageKind::ColumnCount { expected, found };
            }
        }
        if t.contains("not possible to automatically detect the CSV parsing dialect") || t.contains("Error when sniffing file") {
            return MessageKind::NoDialect;
        }
        if t.contains("Invalid unicode") {
            return MessageKind::InvalidUnicode;
        }
        if t.contains("unterminated quote") {
            return MessageKind::UnterminatedQuote;
        }
        if t.contains("invalid state") {
            return MessageKind::InvalidState;
        }
        if t.contains("has duplicate key") {
            return MessageKind::DuplicateKey;
        }
        if t.contains("No files found that match the pattern") {
            return MessageKind::NoSuchFile;
        }
        if t.starts_with("Catalog Error: Type with name") {
            return MessageKind::NoSuchType;
        }
        if t.contains("already exists") {
            return MessageKind::AlreadyExists;
        }
        MessageKind::Other
    }

    /// `CSV Error on Line: 1096` → 1096.
    pub fn line(&self) -> Option<u64> {
        after(self.text, "Line: ")
            .or_else(|| after(self.text, ", in line "))
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
    }

    /// The column a conversion failed in.
    pub fn column(&self) -> Option<&'a str> {
        after(self.text, "converting column \"")
            .and_then(|s| s.split('"').next())
            .or_else(|| after(self.text, "Column ").and_then(|s| s.split_whitespace().next()))
    }

    /// `Could not convert string "n/a" to 'BIGINT'` → (`n/a`, `BIGINT`).
    pub fn conversion(&self) -> Option<(&'a str, &'a str)> {
        let rest = after(self.text, "Could not convert string \"")?;
        let (value, rest) = rest.split_once("\" to '")?;
        let (data_type, _) = rest.split_once('\'')?;
        Some((value, data_type))
    }

    /// The raw line DuckDB quotes (`Original Line: …`), cut to `max` characters.
    pub fn original_line(&self, max: usize) -> Option<String> {
        let line = after(self.text, "Original Line: ")?.lines().next()?;
        Some(line.chars().take(max).collect())
    }

    /// The failure as an engine error, for failures not tied to a file being read.
    pub fn into_error(self) -> EngineError {
        match self.kind() {
            MessageKind::Interrupted => EngineError::Cancelled,
            MessageKind::DiskFull(path) => EngineError::DiskFull(path),
            MessageKind::OutOfMemory => EngineError::OutOfMemory(self.first_sentence()),
            MessageKind::Internal => EngineError::Internal(self.first_sentence()),
            MessageKind::Locked => EngineError::WorkspaceLocked(PathBuf::from(
                after(self.text, "lock on file \"").and_then(|s| s.split('"').next()).unwrap_or_default(),
            )),
            _ => EngineError::Database(self.text.to_string()),
        }
    }

    /// The failure of a reader on `file`, located and in plain words.
    pub fn into_read_error(self, file: &Path) -> EngineError {
        let kind = self.kind();
        match kind {
            MessageKind::Interrupted | MessageKind::DiskFull(_) | MessageKind::OutOfMemory | MessageKind::Locked => {
                return self.into_error();
            }
            // A DuckDB bug met while reading this file: the file cannot be read, the rest works.
            MessageKind::Internal => {
                return EngineError::ReadFailed {
                    file: file.to_path_buf(),
                    reason: format!("DuckDB failed inside while reading it ({})", self.first_sentence()),
                };
            }
            _ => {}
        }
        let line = self.line();
        if kind == MessageKind::InvalidUnicode {
            return EngineError::InvalidEncoding { file: file.to_path_buf(), line, encoding: "UTF-8".into() };
        }
        let column = match kind {
            MessageKind::Conversion { .. } => self.column().map(str::to_string),
            _ => None,
        };
        let reason = self.reason();
        let is_data = line.is_some()
            || column.is_some()
            || ["Conversion Error", "Invalid Input Error", "Parser Error", "CSV Error", "Invalid Error", "Malformed"]
                .iter()
                .any(|m| self.text.contains(m));
        if is_data {
            EngineError::InvalidData { file: file.to_path_buf(), line, column, reason }
        } else {
            EngineError::ReadFailed { file: file.to_path_buf(), reason }
        }
    }

    /// The sentence that says what is wrong, in dataforge's words where it is recognised.
    pub fn reason(&self) -> String {
        match self.kind() {
            MessageKind::Conversion { value, data_type } => format!("\"{value}\" is not a valid {data_type}"),
            MessageKind::ValueChanges { value, .. } => {
                format!("\"{value}\" would change if read as its column's type (a fraction, a time of day or a UTC offset would be lost)")
            }
            // DuckDB stops counting at the first extra field, so "found" is exact only when short.
            MessageKind::ColumnCount { expected, found } if found > expected => {
                format!("expected {expected} columns but the line has more")
            }
            MessageKind::ColumnCount { expected, found } => format!("expected {expected} columns but the line has {found}"),
            MessageKind::LineTooLong { bytes, limit } => format!(
                "the line is {} bytes long; a line may be at most {} bytes",
                crate::engine::config::group_digits(bytes),
                crate::engine::config::group_digits(limit)
            ),
            MessageKind::NoDialect => {
                "the layout (delimiter, quoting, header) could not be detected, because lines disagree on their number of fields; choose the delimiter and quote yourself".into()
            }
            MessageKind::DuplicateKey => "an object repeats a key".into(),
            MessageKind::NoSuchFile => "the file does not exist".into(),
            _ => self.first_sentence(),
        }
    }

    fn first_sentence(&self) -> String {
        let lines: Vec<&str> = self.text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let pick = lines
            .iter()
            .find(|l| l.starts_with("Value with unterminated quote"))
            .or_else(|| lines.first())
            .copied()
            .unwrap_or("unknown error");
        let pick = ["Invalid Input Error: ", "IO Error: ", "Out of Memory Error: ", "INTERNAL Error: "]
            .iter()
            .find_map(|p| pick.strip_prefix(p))
            .unwrap_or(pick);
        pick.trim_end_matches('.').to_string()
    }
}

fn after<'t>(text: &'t str, marker: &str) -> Option<&'t str> {
    text.find(marker).map(|i| &text[i + marker.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONVERSION: &str = "Conversion Error: CSV Error on Line: 3\nOriginal Line: 1,abc\nError when converting column \"b\". Could not convert string \"abc\" to 'BIGINT'\n\nColumn b is being converted as type BIGINT\nThis type was auto-detected from the CSV file.";
    const TOO_MANY: &str = "Invalid Input Error: CSV Error on Line: 1096\nOriginal Line: 1,2,3,4,5,6\nExpected Number of Columns: 4 Found: 5\nPossible fixes:\n* Disable the parser's strict mode";
    const LONG_LINE: &str = "Invalid Input Error: CSV Error on Line: 1\nOriginal Line: xxxx\nMaximum line size of 2000000 bytes exceeded. Actual Size:10000003 bytes.\n\nPossible Solution: Change the maximum length size, e.g., max_line_size=10000005";
    const DISK_FULL_COPY: &str = r#"IO Error: Async write failed for range [offset=491798, size=3966131]: {"exception_type":"IO","exception_message":"Could not write file \"/mnt/small/out.parquet\": No space left on device","errno":"28"}"#;
    const DISK_FULL_CTAS: &str = "IO Error: Could not write file \"/mnt/small/ws.duckdb\": No space left on device";
    const DISK_FULL_WAL: &str = "TransactionContext Error: Failed to commit: Could not write file \"/mnt/small/ws.duckdb.wal\": No space left on device";
    const LOCKED: &str = "IO Error: Could not set lock on file \"/tmp/ws/lock.duckdb\": Conflicting lock is held in /usr/bin/python3.11 (PID 8883). See also https://duckdb.org/docs/current/connect/concurrency";
    const OOM: &str = "Out of Memory Error: failed to allocate data of size 16.0 MiB (80.0 MiB/95.3 MiB used)\n\nPossible solutions:\n* Reducing the number of threads (SET threads=X)";
    const NO_DIALECT: &str = "Invalid Input Error: Error when sniffing file \"/x/many_columns.csv\".\nIt was not possible to automatically detect the CSV parsing dialect\nThe search space used was:\nDelimiter Candidates: ','";
    const UNICODE: &str = "Invalid Input Error: CSV Error on Line: 2\nOriginal Line: a,b\nInvalid unicode (byte sequence mismatch) detected. This file is not utf-8 encoded.";
    const DUPLICATE_KEY: &str = "Invalid Input Error: JSON transform error in file \"dupkey.json\", in line 1: Object {\"a\":1,\"a\":2} has duplicate key \"a\"";
    const NO_TYPE: &str = "Catalog Error: Type with name INTEGR does not exist!\nDid you mean \"JSON\"?";

    #[test]
    fn kinds_of_captured_messages() {
        assert_eq!(DuckMessage::new(CONVERSION).kind(), MessageKind::Conversion { value: "abc".into(), data_type: "BIGINT".into() });
        assert_eq!(DuckMessage::new(TOO_MANY).kind(), MessageKind::ColumnCount { expected: 4, found: 5 });
        assert_eq!(DuckMessage::new(LONG_LINE).kind(), MessageKind::LineTooLong { bytes: 10_000_003, limit: 2_000_000 });
        assert_eq!(DuckMessage::new(DISK_FULL_COPY).kind(), MessageKind::DiskFull("/mnt/small/out.parquet".into()));
        assert_eq!(DuckMessage::new(DISK_FULL_CTAS).kind(), MessageKind::DiskFull("/mnt/small/ws.duckdb".into()));
        assert_eq!(DuckMessage::new(DISK_FULL_WAL).kind(), MessageKind::DiskFull("/mnt/small/ws.duckdb.wal".into()));
        assert_eq!(DuckMessage::new(LOCKED).kind(), MessageKind::Locked);
        assert_eq!(DuckMessage::new(OOM).kind(), MessageKind::OutOfMemory);
        assert_eq!(DuckMessage::new(NO_DIALECT).kind(), MessageKind::NoDialect);
        assert_eq!(DuckMessage::new(UNICODE).kind(), MessageKind::InvalidUnicode);
        assert_eq!(DuckMessage::new(DUPLICATE_KEY).kind(), MessageKind::DuplicateKey);
        assert_eq!(DuckMessage::new(NO_TYPE).kind(), MessageKind::NoSuchType);
        assert_eq!(DuckMessage::new("INTERRUPT Error: Interrupted!").kind(), MessageKind::Interrupted);
        assert_eq!(DuckMessage::new("INTERNAL Error: StructStats::GetChildStats").kind(), MessageKind::Internal);
    }

    #[test]
    fn locations_and_reasons() {
        let m = DuckMessage::new(CONVERSION);
        assert_eq!((m.line(), m.column()), (Some(3), Some("b")));
        assert_eq!(m.reason(), "\"abc\" is not a valid BIGINT");
        let m = DuckMessage::new(TOO_MANY);
        assert_eq!((m.line(), m.original_line(80).as_deref()), (Some(1096), Some("1,2,3,4,5,6")));
        assert_eq!(m.reason(), "expected 4 columns but the line has more");
        assert_eq!(
            DuckMessage::new(LONG_LINE).reason(),
            "the line is 10,000,003 bytes long; a line may be at most 2,000,000 bytes"
        );
        assert_eq!(DuckMessage::new(DUPLICATE_KEY).line(), Some(1));
    }

    #[test]
    fn engine_errors_from_messages() {
        let err = DuckMessage::new(DISK_FULL_COPY).into_error();
        assert_eq!(err.to_string(), "no space left on device writing /mnt/small/out.parquet");
        let err = DuckMessage::new(LOCKED).into_error();
        assert!(matches!(&err, EngineError::WorkspaceLocked(p) if p == Path::new("/tmp/ws/lock.duckdb")), "{err:?}");
        assert!(DuckMessage::new("INTERRUPT Error: Interrupted!").into_error().is_cancelled());
        let err = DuckMessage::new(LONG_LINE).into_read_error(Path::new("/data/big.csv"));
        assert_eq!(err.to_string(), "big.csv: line 1: the line is 10,000,003 bytes long; a line may be at most 2,000,000 bytes");
        let err = DuckMessage::new(OOM).into_read_error(Path::new("/data/big.csv"));
        assert_eq!(err.kind(), "out_of_memory");
        let err = DuckMessage::new("IO Error: No files found that match the pattern \"nonexist.csv\"").into_read_error(Path::new("nonexist.csv"));
        assert_eq!(err.to_string(), "nonexist.csv: the file does not exist");
    }
}
