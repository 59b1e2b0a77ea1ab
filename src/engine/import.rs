//! Imports one file into a new table. The file is read by DuckDB (`read_csv`,
//! `read_parquet`, `read_json`) into a staging table; only a complete load is renamed to the
//! final name, in one transaction with its catalog entry. A failure or cancel at any point
//! leaves the workspace as it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use duckdb::Connection;
use serde::Serialize;

use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::sql::{META_SCHEMA, STAGING_PREFIX, quote_ident, quote_literal, table_name_from_path, validate_table_name};
use super::workspace::{Workspace, table_columns, table_exists, unique_name};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Parquet,
    Json,
}

impl FileFormat {
    /// Picks the reader from the extension (under any `.gz`/`.zst`), else from the first bytes.
    pub fn detect(path: &Path) -> Result<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let base = name.trim_end_matches(".gz").trim_end_matches(".zst");
        let ext = base.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match ext {
            "csv" | "tsv" | "txt" | "psv" | "tab" | "dat" => return Ok(Self::Csv),
            "parquet" | "pq" => return Ok(Self::Parquet),
            "json" | "jsonl" | "ndjson" => return Ok(Self::Json),
            _ => {}
        }
        let mut magic = [0u8; 4];
        let mut file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
        let n = std::io::Read::read(&mut file, &mut magic).map_err(|e| EngineError::io(path, e))?;
        Ok(if n == 4 && &magic == b"PAR1" { Self::Parquet } else { Self::Csv })
    }

    fn reader_sql(self, path: &Path) -> String {
        let path = quote_literal(&path.to_string_lossy());
        match self {
            Self::Csv => format!("read_csv({path})"),
            Self::Parquet => format!("read_parquet({path})"),
            Self::Json => format!("read_json({path})"),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    pub table: String,
    pub source: PathBuf,
    pub format: FileFormat,
    pub rows: u64,
    pub columns: u64,
    pub file_bytes: u64,
    pub table_bytes: Option<u64>,
}

pub struct ImportJob {
    workspace: Arc<Workspace>,
    path: PathBuf,
    table: Option<String>,
}

impl ImportJob {
    /// Imports `path` as `table`, or as a free name derived from the file name.
    pub fn new(workspace: Arc<Workspace>, path: impl Into<PathBuf>, table: Option<String>) -> Self {
        Self {
            workspace,
            path: path.into(),
            table,
        }
    }
}

impl Job for ImportJob {
    type Output = ImportReport;

    fn title(&self) -> String {
        format!("Import {}", display_name(&self.path))
    }

    fn run(self, ctx: &JobCtx) -> Result<ImportReport> {
        let meta = std::fs::metadata(&self.path).map_err(|e| EngineError::io(&self.path, e))?;
        if meta.is_dir() {
            return Err(EngineError::io(&self.path, std::io::Error::other("is a folder, not a file")));
        }
        if meta.len() == 0 {
            return Err(EngineError::InvalidData {
                file: self.path.clone(),
                line: None,
                column: None,
                reason: "the file is empty; there is nothing to import".into(),
            });
        }
        if let Some(name) = &self.table {
            validate_table_name(name)?;
        }
        let format = FileFormat::detect(&self.path)?;
        let readable = GlobSafePath::new(&self.path)?;
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        let staging = format!("{STAGING_PREFIX}{}", ctx_unique_suffix());
        let mut guard = StagingGuard {
            conn: &conn,
            ctx,
            name: &staging,
            armed: true,
        };

        ctx.phase(format!("Reading {}", display_name(&self.path)), Some(meta.len()));
        if let Some(rows) = estimate_rows(&self.path, format, meta.len()) {
            ctx.expect_rows(rows);
        }
        // CREATE TABLE AS reports how many rows it inserted.
        let rows = conn
            .execute(
                &format!(
                    "CREATE TABLE {} AS SELECT * FROM {}",
                    quote_ident(&staging),
                    format.reader_sql(readable.path())
                ),
                [],
            )
            .map_err(|e| read_error(&self.path, e))? as i64;
        ctx.checkpoint()?;

        ctx.phase("Saving table", None);
        let columns = table_columns(&conn, &staging)?.len() as i64;
        let table = self.land(&conn, &staging, rows)?;
        guard.armed = false;
        ctx.record_output(rows as u64, meta.len());

        // Flushing the WAL makes the import durable and lets us measure its size; another
        // open transaction only postpones it, which is fine.
        let _ = conn.execute_batch("CHECKPOINT");
        let table_bytes = table_storage_bytes(&conn, &table).ok();
        if let Some(bytes) = table_bytes {
            let _ = conn.execute(
                &format!("UPDATE {META_SCHEMA}.tables SET bytes = ? WHERE name = ?"),
                duckdb::params![bytes as i64, table],
            );
        }
        Ok(ImportReport {
            table,
            source: self.path.clone(),
            format,
            rows: rows as u64,
            columns: columns as u64,
            file_bytes: meta.len(),
            table_bytes,
        })
    }
}

impl ImportJob {
    /// Renames the staging table into place together with its catalog row: both or neither.
    fn land(&self, conn: &Connection, staging: &str, rows: i64) -> Result<String> {
        let _landing = self.workspace.land_lock();
        conn.execute_batch("BEGIN TRANSACTION")?;
        let landed = (|| {
            let table = match &self.table {
                Some(name) if table_exists(conn, name)? => return Err(EngineError::Duplicate(name.clone())),
                Some(name) => name.clone(),
                None => unique_name(&table_name_from_path(&self.path), |n| table_exists(conn, n))?,
            };
            conn.execute_batch(&format!("ALTER TABLE {} RENAME TO {}", quote_ident(staging), quote_ident(&table)))?;
            conn.execute(&format!("DELETE FROM {META_SCHEMA}.tables WHERE name = ?"), [&table])?;
            conn.execute(
                &format!("INSERT INTO {META_SCHEMA}.tables (name, source, rows) VALUES (?, ?, ?)"),
                duckdb::params![table, self.path.to_string_lossy().into_owned(), rows],
            )?;
            conn.execute_batch("COMMIT")?;
            Ok(table)
        })();
        if landed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        landed
    }
}

/// DuckDB expands `*`, `?`, `[` and `{` in reader paths as globs. A file whose name has them
/// is read through a symlink with a plain name in a private temporary folder.
struct GlobSafePath {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl GlobSafePath {
    fn new(path: &Path) -> Result<Self> {
        let text = path.to_string_lossy();
        if !text.contains(['*', '?', '[', ']', '{', '}']) {
            return Ok(Self { path: path.to_path_buf(), _dir: None });
        }
        let absolute = std::path::absolute(path).map_err(|e| EngineError::io(path, e))?;
        let dir = tempfile::tempdir().map_err(|e| EngineError::io(std::env::temp_dir(), e))?;
        let name = display_name(path).replace(['*', '?', '[', ']', '{', '}'], "_");
        let link = dir.path().join(name);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&absolute, &link).map_err(|e| EngineError::io(&link, e))?;
        #[cfg(not(unix))]
        std::fs::hard_link(&absolute, &link).map_err(|e| EngineError::io(&link, e))?;
        Ok(Self { path: link, _dir: Some(dir) })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Drops the staging table unless the import landed.
struct StagingGuard<'a> {
    conn: &'a Connection,
    ctx: &'a JobCtx,
    name: &'a str,
    armed: bool,
}

impl Drop for StagingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.ctx.unwatch();
            let _ = self.conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(self.name)));
        }
    }
}

fn ctx_unique_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}_{nanos}", std::process::id())
}

/// Rows the file probably holds: exact for Parquet (footer), else extrapolated from the line
/// length in the first megabyte (after decompression for `.gz`). Only drives progress text.
fn estimate_rows(path: &Path, format: FileFormat, file_len: u64) -> Option<u64> {
    use std::io::Read as _;
    const SAMPLE: usize = 1 << 20;
    if format == FileFormat::Parquet {
        let file = std::fs::File::open(path).ok()?;
        let reader = parquet::file::reader::SerializedFileReader::new(file).ok()?;
        return u64::try_from(parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows()).ok();
    }
    let name = path.to_string_lossy().to_ascii_lowercase();
    let file = std::fs::File::open(path).ok()?;
    let mut sample = Vec::with_capacity(SAMPLE);
    let expanded_len = if name.ends_with(".gz") {
        let mut counted = CountingReader { inner: file, bytes: 0 };
        let mut decoder = flate2::read::MultiGzDecoder::new(&mut counted);
        decoder.by_ref().take(SAMPLE as u64).read_to_end(&mut sample).ok()?;
        drop(decoder);
        let ratio = sample.len() as f64 / counted.bytes.max(1) as f64;
        (file_len as f64 * ratio) as u64
    } else if name.ends_with(".zst") {
        return None;
    } else {
        file.take(SAMPLE as u64).read_to_end(&mut sample).ok()?;
        file_len
    };
    let lines = sample.iter().filter(|b| **b == b'\n').count().max(1);
    Some((expanded_len as f64 * lines as f64 / sample.len().max(1) as f64) as u64)
}

struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

pub fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

pub(crate) fn table_storage_bytes(conn: &Connection, table: &str) -> Result<u64> {
    let (blocks, block_size): (i64, i64) = conn.query_row(
        "SELECT count(DISTINCT block_id), (SELECT block_size FROM pragma_database_size() LIMIT 1)
         FROM pragma_storage_info(?) WHERE block_id >= 0",
        [table],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((blocks.max(0) * block_size.max(0)) as u64)
}

/// Turns a DuckDB reader failure into a located, plain-language error.
pub(crate) fn read_error(path: &Path, err: duckdb::Error) -> EngineError {
    let text = err.to_string();
    if text.contains("INTERRUPT") || text.contains("Interrupted") {
        return EngineError::Cancelled;
    }
    let line = after(&text, "Line: ").and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
    let column = after(&text, "column \"")
        .and_then(|s| s.split('"').next())
        .or_else(|| after(&text, "Column ").and_then(|s| s.split_whitespace().next()))
        .map(str::to_string);
    let reason = summarize(&text);
    if line.is_some() || column.is_some() || is_data_error(&text) {
        EngineError::InvalidData {
            file: path.to_path_buf(),
            line,
            column,
            reason,
        }
    } else {
        EngineError::Processing(format!("{}: {reason}", display_name(path)))
    }
}

fn after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    text.find(marker).map(|i| &text[i + marker.len()..])
}

fn is_data_error(text: &str) -> bool {
    ["Conversion Error", "Invalid Input Error", "Parser Error", "CSV Error", "Invalid Error", "Malformed"]
        .iter()
        .any(|m| text.contains(m))
}

/// DuckDB's reader errors carry a header, the raw line and pages of hints; keep the sentence
/// that says what is wrong, in our words where we recognise it.
fn summarize(text: &str) -> String {
    let guessed = text.contains("auto-detected") || text.contains("sniff");
    if let Some((value, data_type)) = conversion_failure(text) {
        let mut reason = format!("\"{value}\" is not a valid {data_type}");
        if guessed {
            reason.push_str(" (the column type was guessed from the first rows of the file)");
        }
        return reason;
    }
    if let Some(rest) = after(text, "Expected Number of Columns: ") {
        let mut numbers = rest.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty());
        let parsed = (numbers.next().and_then(|n| n.parse::<u64>().ok()), numbers.next().and_then(|n| n.parse::<u64>().ok()));
        // DuckDB stops counting at the first extra field, so "found" is exact only when short.
        match parsed {
            (Some(expected), Some(found)) if found > expected => {
                return format!("expected {expected} columns but the line has more");
            }
            (Some(expected), Some(found)) => return format!("expected {expected} columns but the line has {found}"),
            _ => {}
        }
    }
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let pick = lines
        .iter()
        .find(|l| {
            l.starts_with("Expected Number of Columns")
                || l.starts_with("Value with unterminated quote")
                || l.contains("Invalid unicode")
        })
        .or_else(|| lines.first())
        .copied()
        .unwrap_or("unknown error");
    let pick = pick.strip_prefix("Invalid Input Error: ").unwrap_or(pick);
    pick.trim_end_matches('.').to_string()
}

/// `Could not convert string "n/a" to 'BIGINT'` → (`n/a`, `BIGINT`).
fn conversion_failure(text: &str) -> Option<(&str, &str)> {
    let rest = after(text, "Could not convert string \"")?;
    let (value, rest) = rest.split_once("\" to '")?;
    let (data_type, _) = rest.split_once('\'')?;
    Some((value, data_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_conversion_errors() {
        let text = "Conversion Error: CSV Error on Line: 3\nOriginal Line: 1,abc\nError when converting column \"b\". Could not convert string \"abc\" to 'BIGINT'\n\nColumn b is being converted as type BIGINT\nThis type was auto-detected from the CSV file.";
        assert_eq!(
            summarize(text),
            "\"abc\" is not a valid BIGINT (the column type was guessed from the first rows of the file)"
        );
        assert_eq!(
            summarize("Invalid Input Error: Expected Number of Columns: 2 Found: 4\nmore"),
            "expected 2 columns but the line has more"
        );
    }

    #[test]
    fn detects_formats_by_name_and_magic() {
        assert_eq!(FileFormat::detect(Path::new("a.CSV.gz")).unwrap(), FileFormat::Csv);
        assert_eq!(FileFormat::detect(Path::new("a.ndjson")).unwrap(), FileFormat::Json);
        assert_eq!(FileFormat::detect(Path::new("x/a.parquet")).unwrap(), FileFormat::Parquet);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data.bin");
        std::fs::write(&p, b"PAR1....").unwrap();
        assert_eq!(FileFormat::detect(&p).unwrap(), FileFormat::Parquet);
    }
}
