//! Imports files into tables. Each source is read into a staging table (DuckDB's readers for
//! CSV, Parquet and JSON; calamine for workbooks; the arrow crate for Arrow IPC); only a
//! complete, validated load lands — renamed into place, or appended — in one transaction with
//! its catalog entry and its rejects. A failure or cancel at any point leaves the workspace as
//! it was.

pub mod arrow_ipc;
pub mod csv;
pub mod encoding;
pub mod errors;
pub mod excel;
pub mod linked;
pub mod options;
pub mod preview;
pub(crate) mod sources;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use duckdb::Connection;
use serde::Serialize;

pub use self::errors::read_error;
pub use self::options::{CsvOptions, ExpectedColumn, FileFormat, ImportOptions, OnError};
use self::sources::Source;
use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::sql::{META_SCHEMA, STAGING_PREFIX, quote_ident, quote_literal, table_name_from_path, validate_table_name};
use super::workspace::{Workspace, in_transaction, is_view, new_table_name, register_in_catalog, table_columns, table_exists};

/// Prefix of a scratch file or folder an import makes in the temp folder (converted text,
/// extracted zip members); it carries the process id so leftovers of a killed process can be
/// told from files in use.
pub(crate) fn scratch_prefix(kind: &str) -> String {
    format!("dataforge-{kind}-{}-", std::process::id())
}

/// Removes scratch files that a killed or crashed process left in `dir`.
pub(crate) fn remove_stale_scratch(dir: &Path) {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut system = System::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = ["dataforge-utf8-", "dataforge-zip-"].iter().find_map(|p| name.strip_prefix(p)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() {
            continue;
        }
        let pid = Pid::from_u32(pid);
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, ProcessRefreshKind::nothing());
        if system.process(pid).is_none() {
            let path = entry.path();
            let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
    }
}

/// Replaces each zip archive with more than one member by its members
/// (`archive.zip/member.csv`), for one table per file.
pub fn split_archives(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let is_zip = sources::is_zip(path) && path.is_file();
        if is_zip {
            let members = sources::zip_members(path)?;
            if members.len() > 1 {
                out.extend(members.iter().map(|m| path.join(m)));
                continue;
            }
        }
        out.push(path.clone());
    }
    Ok(out)
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
            "json" | "jsonl" | "ndjson" | "geojson" => return Ok(Self::Json),
            _ if excel::is_excel_name(base) => return Ok(Self::Excel),
            _ if arrow_ipc::is_arrow_name(base) => return Ok(Self::Arrow),
            _ => {}
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

#[derive(Clone, Debug, Serialize)]
pub struct RejectsInfo {
    pub table: String,
    pub rows: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    pub table: String,
    pub source: PathBuf,
    pub sources: Vec<PathBuf>,
    pub format: FileFormat,
    /// Rows this import added.
    pub rows: u64,
    pub columns: u64,
    pub file_bytes: u64,
    pub table_bytes: Option<u64>,
    pub appended: bool,
    pub encoding: Option<String>,
    pub sheet: Option<String>,
    /// Everything the importer decided on its own (fallbacks, conversions), in plain words.
    pub notices: Vec<String>,
    pub rejects: Option<RejectsInfo>,
}

pub struct ImportJob {
    workspace: Arc<Workspace>,
    sources: Vec<PathBuf>,
    options: ImportOptions,
}

impl ImportJob {
    /// Imports `path` as `table`, or as a free name derived from the file name.
    pub fn new(workspace: Arc<Workspace>, path: impl Into<PathBuf>, table: Option<String>) -> Self {
        let options = ImportOptions { table, ..ImportOptions::new() };
        Self::with_options(workspace, vec![path.into()], options)
    }

    /// Imports one or more sources into one table: several are unioned by column name.
    pub fn with_options(workspace: Arc<Workspace>, sources: Vec<PathBuf>, options: ImportOptions) -> Self {
        Self { workspace, sources, options }
    }
}

/// One source's load into a staging table.
struct Part {
    rows: u64,
    format: FileFormat,
    encoding: Option<String>,
    sheet: Option<String>,
    rejects: Option<(String, u64)>,
}

impl Job for ImportJob {
    type Output = ImportReport;

    fn title(&self) -> String {
        match self.sources.as_slice() {
            [one] => format!("Import {}", display_name(one)),
            many => format!("Import {} files", many.len()),
        }
    }

    fn run(self, ctx: &JobCtx) -> Result<ImportReport> {
        let started = std::time::Instant::now();
        let lap = |what: &str| tracing::debug!("import: {what} after {:.3}s", started.elapsed().as_secs_f64());
        if self.sources.is_empty() {
            return Err(EngineError::Processing("no files to import".into()));
        }
        if let Some(name) = &self.options.table {
            validate_table_name(name)?;
        }
        if self.options.append && self.options.table.is_none() {
            return Err(EngineError::Processing("appending needs the name of the table to append to".into()));
        }
        let temp_dir = self.workspace.settings().temp_dir;
        let sources = sources::expand(&self.sources, &temp_dir)?;
        if sources.is_empty() {
            return Err(EngineError::invalid_file(&self.sources[0], "the archive holds only empty files; there is nothing to import"));
        }
        let file_bytes: u64 = sources.iter().map(|s| s.bytes).sum();
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        let staging = format!("{STAGING_PREFIX}{}", ctx_unique_suffix());
        let mut guard = StagingGuard { conn: &conn, ctx, names: vec![staging.clone()], armed: true };

        let mut notices = Vec::new();
        let mut rows = 0u64;
        let mut first: Option<Part> = None;
        let rejects_staging = format!("{staging}_rejects");
        let mut rejected = 0u64;
        let many = sources.len() > 1;
        for (i, source) in sources.iter().enumerate() {
            ctx.checkpoint()?;
            let target = if i == 0 { staging.clone() } else { format!("{staging}_part") };
            guard.names.push(target.clone());
            let mut part_notices = Vec::new();
            lap("prepared");
            let part = self.load_part(&conn, &target, source, &temp_dir, ctx, &mut part_notices)?;
            lap("loaded");
            for n in part_notices {
                notices.push(if many { format!("{}: {n}", source.display) } else { n });
            }
            if many && self.options.source_column {
                conn.execute_batch(&format!(
                    "ALTER TABLE {} ADD COLUMN source_file VARCHAR DEFAULT {}",
                    quote_ident(&target),
                    quote_literal(&source.display)
                ))?;
            }
            if i > 0 {
                append_by_name(&conn, &staging, &target, true)?;
                conn.execute_batch(&format!("DROP TABLE {}", quote_ident(&target)))?;
            }
            if let Some((temp, n)) = &part.rejects {
                guard.names.push(rejects_staging.clone());
                csv::save_rejects(&conn, temp, &rejects_staging, &source.path)?;
                rejected += n;
            }
            rows += part.rows;
            first.get_or_insert(part);
        }
        let first = first.expect("at least one source");
        if !matches!(first.format, FileFormat::Csv) {
            self.apply_types(&conn, &staging, &mut notices)?;
        }
        validate_expected(&conn, &staging, &self.options.expect, &self.sources[0])?;
        ctx.checkpoint()?;

        ctx.phase("Saving table", None);
        let columns = table_columns(&conn, &staging)?.len() as u64;
        let rejects_staging = (rejected > 0).then_some(rejects_staging.as_str());
        let (table, rejects_table) = self.land(&conn, &staging, rows, rejects_staging)?;
        lap("landed");
        guard.armed = false;
        ctx.record_output(rows, file_bytes);

        // Flushing the WAL makes the import durable and lets us measure its size; another
        // open transaction only postpones it, which is fine.
        let _ = conn.execute_batch("CHECKPOINT");
        lap("checkpointed");
        let table_bytes = table_storage_bytes(&conn, &table).ok();
        if let Some(bytes) = table_bytes {
            let _ = conn.execute(
                &format!("UPDATE {META_SCHEMA}.tables SET bytes = ? WHERE name = ?"),
                duckdb::params![bytes as i64, table],
            );
        }
        lap("measured");
        Ok(ImportReport {
            table,
            source: self.sources[0].clone(),
            sources: sources.iter().map(|s| s.path.clone()).collect(),
            format: first.format,
            rows,
            columns,
            file_bytes,
            table_bytes,
            appended: self.options.append,
            encoding: first.encoding,
            sheet: first.sheet,
            notices,
            rejects: rejects_table.map(|table| RejectsInfo { table, rows: rejected }),
        })
    }
}

impl ImportJob {
    fn load_part(&self, conn: &Connection, target: &str, source: &Source, temp_dir: &Path, ctx: &JobCtx, notices: &mut Vec<String>) -> Result<Part> {
        let opts = &self.options;
        let path = &source.path;
        let format = match opts.format {
            Some(f) => f,
            None => FileFormat::detect(path)?,
        };
        let mut part = Part { rows: 0, format, encoding: None, sheet: None, rejects: None };
        let readable = GlobSafePath::new(path, source.is_pattern)?;
        ctx.phase(format!("Reading {}", source.display), Some(source.bytes));
        match format {
            FileFormat::Csv => {
                let declared = opts.encoding.as_deref().map(encoding::encoding_for_label).transpose()?;
                // One read of the file's start serves the encoding guess and the row estimate.
                let head = if source.is_pattern { None } else { Some(encoding::head(path, ESTIMATE_BYTES)?) };
                let mut enc = match (declared, &head) {
                    (Some(e), _) => e,
                    (None, Some((bytes, _))) => encoding::detect_bytes(&bytes[..bytes.len().min(encoding::DETECT_BYTES)], false),
                    (None, None) => encoding_rs::UTF_8,
                };
                if let Some(rows) = head.and_then(|(bytes, read)| estimate_text_rows_from(path, &bytes, read, source.bytes)) {
                    ctx.expect_rows(rows);
                }
                let loaded = loop {
                    let converted = if encoding::is_utf8(enc) {
                        None
                    } else {
                        ctx.phase(format!("Converting {} from {} to UTF-8", source.display, encoding::display(enc)), Some(source.bytes));
                        Some(encoding::transcode(path, enc, temp_dir, ctx)?)
                    };
                    let read_path = converted.as_ref().map_or_else(|| readable.path().to_path_buf(), |p| p.to_path_buf());
                    ctx.phase(format!("Reading {}", source.display), Some(source.bytes));
                    match csv::load(conn, target, &[read_path], path, opts, ctx, notices) {
                        Err(EngineError::InvalidData { reason, line, .. })
                            if declared.is_none() && encoding::is_utf8(enc) && reason.to_lowercase().contains("unicode") =>
                        {
                            ctx.phase(format!("Detecting the encoding of {}", source.display), None);
                            let guess = encoding::detect_whole(path, ctx)?;
                            if encoding::is_utf8(guess) {
                                return Err(EngineError::InvalidData { file: path.clone(), line, column: None, reason });
                            }
                            notices.push(format!(
                                "the file is not UTF-8 (invalid bytes{}); it was read as {}",
                                line.map(|l| format!(" at line {}", csv::group_digits(l))).unwrap_or_default(),
                                encoding::display(guess)
                            ));
                            enc = guess;
                        }
                        other => break other?,
                    }
                };
                if !encoding::is_utf8(enc) {
                    if declared.is_none() {
                        notices.push(format!("the text encoding was detected as {}", encoding::display(enc)));
                    }
                    part.encoding = Some(encoding::display(enc).to_string());
                }
                part.rows = loaded.rows;
                part.rejects = loaded.rejects;
            }
            FileFormat::Parquet | FileFormat::Json => {
                let reader = table_reader(format, readable.path(), source.is_pattern);
                if let Some(rows) = estimate_rows(path, format, source.bytes) {
                    ctx.expect_rows(rows);
                }
                if format == FileFormat::Json && !source.is_pattern {
                    validate_json(path, ctx)?;
                }
                let created = conn.execute(&format!("CREATE TABLE {} AS SELECT * FROM {reader}", quote_ident(target)), []);
                part.rows = match created {
                    Err(e) if format == FileFormat::Json && e.to_string().contains("duplicate key") => {
                        notices.push("some objects repeat a key, so each record was kept whole as JSON text".into());
                        let objects = format!("read_json_objects({}) AS t(json)", quote_literal(&readable.path().to_string_lossy()));
                        conn.execute(&format!("CREATE OR REPLACE TABLE {} AS SELECT json FROM {objects}", quote_ident(target)), [])
                            .map_err(|e| read_error(path, e))? as u64
                    }
                    other => other.map_err(|e| read_error(path, e))? as u64,
                };
            }
            FileFormat::Excel => {
                let loaded = excel::load(conn, target, path, opts, ctx, notices)?;
                part.rows = loaded.rows;
                part.sheet = Some(loaded.sheet);
            }
            FileFormat::Arrow => part.rows = arrow_ipc::load(conn, target, path, ctx)?,
        }
        Ok(part)
    }

    /// The table name when none was given: from the file, plus the sheet when every sheet of
    /// a workbook becomes a table.
    fn derived_name(&self) -> String {
        let base = table_name_from_path(&self.sources[0]);
        match (&self.options.sheet, self.options.name_by_sheet) {
            (Some(sheet), true) => {
                let sheet = table_name_from_path(Path::new(sheet));
                if sheet.is_empty() { base } else { format!("{base}_{sheet}") }
            }
            _ => base,
        }
    }

    /// The user's column types for readers without a `types` option: cast after loading.
    fn apply_types(&self, conn: &Connection, staging: &str, notices: &mut Vec<String>) -> Result<()> {
        let columns = table_columns(conn, staging)?;
        for (name, ty) in &self.options.types {
            let Some(col) = columns.iter().find(|c| c.name.eq_ignore_ascii_case(name)) else {
                return Err(EngineError::ColumnNotFound { table: display_name(&self.sources[0]), column: name.clone() });
            };
            if let Some(value) = first_uncastable(conn, staging, &col.name, ty)? {
                if self.options.on_error == OnError::Text {
                    notices.push(format!("column \"{}\" was kept as {}: \"{value}\" is not a valid {ty}", col.name, col.data_type));
                    continue;
                }
                return Err(EngineError::InvalidData {
                    file: self.sources[0].clone(),
                    line: None,
                    column: Some(col.name.clone()),
                    reason: format!("\"{value}\" is not a valid {ty}"),
                });
            }
            conn.execute_batch(&format!("ALTER TABLE {} ALTER COLUMN {} SET DATA TYPE {ty}", quote_ident(staging), quote_ident(&col.name)))?;
        }
        Ok(())
    }

    /// Lands the staging table (renamed, or appended to the target) and its rejects, together
    /// with their catalog rows: all or nothing.
    fn land(&self, conn: &Connection, staging: &str, rows: u64, rejects: Option<&str>) -> Result<(String, Option<String>)> {
        let _landing = self.workspace.land_lock();
        in_transaction(conn, || {
            let source = self.sources.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>().join(", ");
            let table = if self.options.append {
                let name = self.options.table.clone().expect("checked in run");
                if !table_exists(conn, &name)? {
                    return Err(EngineError::TableNotFound(name));
                }
                if is_view(conn, &name)? {
                    return Err(EngineError::Processing(format!("\"{name}\" is a file opened in place; import it to append to it")));
                }
                append_by_name(conn, &name, staging, self.options.add_columns)?;
                conn.execute_batch(&format!("DROP TABLE {}", quote_ident(staging)))?;
                let total: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(&name)), [], |r| r.get(0))?;
                conn.execute(&format!("UPDATE {META_SCHEMA}.tables SET rows = ? WHERE lower(name) = lower(?)"), duckdb::params![total, name])?;
                name
            } else {
                let table = new_table_name(conn, self.options.table.as_deref(), &self.derived_name())?;
                rename_and_register(conn, staging, &table, &source, rows)?;
                table
            };
            let rejects_table = match rejects {
                Some(temp) => {
                    let name = new_table_name(conn, None, &format!("{table}_rejects"))?;
                    let count: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(temp)), [], |r| r.get(0))?;
                    rename_and_register(conn, temp, &name, &format!("lines rejected from {source}"), count as u64)?;
                    Some(name)
                }
                None => None,
            };
            Ok((table, rejects_table))
        })
    }
}

fn rename_and_register(conn: &Connection, from: &str, to: &str, source: &str, rows: u64) -> Result<()> {
    conn.execute_batch(&format!("ALTER TABLE {} RENAME TO {}", quote_ident(from), quote_ident(to)))?;
    register_in_catalog(conn, to, source, Some(rows))
}

/// Appends `from` to `into`, matching columns by name. Columns `into` lacks are added when
/// `add_columns`, else they are an error; values that do not fit a column's type are an error
/// naming the column and the value.
pub(crate) fn append_by_name(conn: &Connection, into: &str, from: &str, add_columns: bool) -> Result<()> {
    let target = table_columns(conn, into)?;
    let incoming = table_columns(conn, from)?;
    for col in &incoming {
        match target.iter().find(|t| t.name.eq_ignore_ascii_case(&col.name)) {
            None if add_columns => conn.execute_batch(&format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote_ident(into),
                quote_ident(&col.name),
                col.data_type
            ))?,
            None => {
                return Err(EngineError::Processing(format!(
                    "column \"{}\" is not in table \"{into}\"; allow adding new columns to append it",
                    col.name
                )));
            }
            Some(t) if t.data_type != col.data_type => {
                if let Some(value) = first_uncastable(conn, from, &col.name, &t.data_type)? {
                    return Err(EngineError::Processing(format!(
                        "column \"{}\": \"{value}\" cannot be stored in table \"{into}\", whose column is {}",
                        col.name, t.data_type
                    )));
                }
            }
            Some(_) => {}
        }
    }
    conn.execute_batch(&format!("INSERT INTO {} BY NAME SELECT * FROM {}", quote_ident(into), quote_ident(from)))?;
    Ok(())
}

/// The first non-null value of `column` that does not cast to `ty`.
fn first_uncastable(conn: &Connection, table: &str, column: &str, ty: &str) -> Result<Option<String>> {
    let col = quote_ident(column);
    let sql = format!("SELECT {col}::VARCHAR FROM {} WHERE {col} IS NOT NULL AND TRY_CAST({col} AS {ty}) IS NULL LIMIT 1", quote_ident(table));
    match conn.query_row(&sql, [], |r| r.get::<_, String>(0)) {
        Ok(v) => Ok(Some(v)),
        Err(duckdb::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(EngineError::Processing(format!("\"{ty}\" is not a usable type for column \"{column}\": {}", e.to_string().lines().next().unwrap_or_default()))),
    }
}

/// Checks the loaded columns against the user's expected schema.
fn validate_expected(conn: &Connection, staging: &str, expect: &[ExpectedColumn], file: &Path) -> Result<()> {
    if expect.is_empty() {
        return Ok(());
    }
    let columns = table_columns(conn, staging)?;
    let fail = |column: &str, reason: String| EngineError::InvalidData { file: file.to_path_buf(), line: None, column: Some(column.to_string()), reason };
    for e in expect {
        let Some(col) = columns.iter().find(|c| c.name.eq_ignore_ascii_case(&e.name)) else {
            let have: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            return Err(fail(&e.name, format!("the expected column is missing (the file has: {})", have.join(", "))));
        };
        if let Some(ty) = &e.data_type {
            if !same_type(&col.data_type, ty) {
                return Err(fail(&col.name, format!("expected type {ty}, the file has {}", col.data_type)));
            }
        }
        if e.not_null {
            let nulls: i64 = conn.query_row(
                &format!("SELECT count(*) FROM {} WHERE {} IS NULL", quote_ident(staging), quote_ident(&col.name)),
                [],
                |r| r.get(0),
            )?;
            if nulls > 0 {
                return Err(fail(&col.name, format!("{nulls} rows have no value, but the schema requires one")));
            }
        }
    }
    Ok(())
}

fn same_type(actual: &str, expected: &str) -> bool {
    let norm = |t: &str| match t.trim().to_ascii_uppercase().as_str() {
        "INT" | "INT4" | "INTEGER" => "INTEGER".to_string(),
        "INT8" | "LONG" | "BIGINT" => "BIGINT".to_string(),
        "FLOAT8" | "DOUBLE" => "DOUBLE".to_string(),
        "TEXT" | "STRING" | "VARCHAR" => "VARCHAR".to_string(),
        "BOOL" | "BOOLEAN" => "BOOLEAN".to_string(),
        "DATETIME" | "TIMESTAMP" => "TIMESTAMP".to_string(),
        other => other.replace(' ', ""),
    };
    norm(actual) == norm(expected)
}

/// DuckDB's JSON reader accepts some malformed input (trailing commas, NaN); a streaming
/// pass through a strict parser first makes those a located error.
fn validate_json(path: &Path, ctx: &JobCtx) -> Result<()> {
    let reader = encoding::open_decompressed(path, Arc::default())?;
    let mut values = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 20, reader)).into_iter::<JsonKind>();
    let mut count = 0u64;
    let mut first = None;
    for value in values.by_ref() {
        if count % 65_536 == 0 {
            ctx.checkpoint()?;
        }
        let fail = |line: usize, reason: String| EngineError::InvalidData { file: path.to_path_buf(), line: Some(line as u64), column: None, reason };
        match (&value, first) {
            // Several values make JSON Lines, whose records are objects.
            (Ok(kind), Some(_)) if *kind != JsonKind::Object || first != Some(JsonKind::Object) => {
                return Err(fail(count as usize + 1, "not valid JSON: more than one value, and not one object per line (JSON Lines)".into()));
            }
            (Ok(kind), None) => first = Some(*kind),
            _ => {}
        }
        if let Err(e) = value {
            let reason = e.to_string();
            let reason = reason.split(" at line ").next().unwrap_or(&reason).to_string();
            return Err(EngineError::InvalidData {
                file: path.to_path_buf(),
                line: Some(e.line() as u64),
                column: None,
                reason: format!("not valid JSON: {reason} (character {})", e.column()),
            });
        }
        count += 1;
    }
    if count == 0 {
        return Err(EngineError::invalid_file(path, "the file holds no JSON value"));
    }
    Ok(())
}

/// What a JSON value is, read without keeping it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonKind {
    Object,
    Array,
    Scalar,
}

impl<'de> serde::Deserialize<'de> for JsonKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonKind;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<JsonKind, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonKind::Object)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<JsonKind, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonKind::Array)
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_unit<E>(self) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `read_parquet`/`read_json` over a file, or over a glob (`is_pattern`), where Parquet
/// takes hive partitions and matches columns by name.
pub(crate) fn table_reader(format: FileFormat, path: &Path, is_pattern: bool) -> String {
    let path = quote_literal(&path.to_string_lossy());
    match (format, is_pattern) {
        (FileFormat::Parquet, true) => format!("read_parquet({path}, hive_partitioning = true, union_by_name = true)"),
        (FileFormat::Parquet, false) => format!("read_parquet({path})"),
        _ => format!("read_json({path})"),
    }
}

/// Bytes of a text file's start its row count is extrapolated from.
const ESTIMATE_BYTES: usize = 1 << 20;

/// Rows a text file probably holds (from its first megabyte).
pub fn estimate_text_rows(path: &Path) -> Option<u64> {
    let len = std::fs::metadata(path).ok()?.len();
    estimate_rows(path, FileFormat::Csv, len)
}

/// Rows the file probably holds: exact for Parquet (footer), else extrapolated from the line
/// length in the first megabyte (after decompression). Only drives progress text.
fn estimate_rows(path: &Path, format: FileFormat, file_len: u64) -> Option<u64> {
    if format == FileFormat::Parquet {
        let file = std::fs::File::open(path).ok()?;
        let reader = parquet::file::reader::SerializedFileReader::new(file).ok()?;
        return u64::try_from(parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows()).ok();
    }
    let (sample, read) = encoding::head(path, ESTIMATE_BYTES).ok()?;
    estimate_text_rows_from(path, &sample, read, file_len)
}

/// Extrapolates from `sample`, the decompressed start of `path` that took `read` bytes on disk.
fn estimate_text_rows_from(path: &Path, sample: &[u8], read: u64, file_len: u64) -> Option<u64> {
    if path.to_string_lossy().to_ascii_lowercase().ends_with(".zst") {
        return None;
    }
    let expanded_len = (file_len as f64 * sample.len() as f64 / read.max(1) as f64) as u64;
    let lines = sample.iter().filter(|b| **b == b'\n').count().max(1);
    Some((expanded_len as f64 * lines as f64 / sample.len().max(1) as f64) as u64)
}

/// DuckDB expands `*`, `?`, `[` and `{` in reader paths as globs. A file whose name has them
/// is read through a symlink with a plain name in a private temporary folder.
struct GlobSafePath {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl GlobSafePath {
    fn new(path: &Path, is_pattern: bool) -> Result<Self> {
        let text = path.to_string_lossy();
        if is_pattern || !text.contains(['*', '?', '[', ']', '{', '}']) {
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
    names: Vec<String>,
    armed: bool,
}

impl Drop for StagingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.ctx.unwatch();
            for name in &self.names {
                let _ = self.conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(name)));
            }
        }
    }
}

fn ctx_unique_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}_{nanos}", std::process::id())
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
}
