//! Imports files into tables. Each source is read into a staging table (DuckDB's readers for
//! CSV, Parquet and JSON; calamine for workbooks; the arrow crate for Arrow IPC); only a
//! complete, validated load lands — renamed into place, or appended — in one transaction with
//! its catalog entry and its rejects. A failure or cancel at any point leaves the workspace as
//! it was.
//!
//! Where to look: `sniff` (what a file is), `csv`, `json`, `excel`, `arrow_ipc` (reading),
//! `land` (checks and landing), `sources` (globs, folders, archives, pipes), `preview` and
//! `linked` (the import window's preview, opening a file in place).

pub mod arrow_ipc;
pub mod batches;
pub mod csv;
pub mod encoding;
pub mod excel;
pub mod json;
mod land;
pub mod linked;
pub mod options;
mod plain_text;
pub mod preview;
pub mod rejects;
pub mod sniff;
pub(crate) mod sources;
pub mod whitespace;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use duckdb::Connection;
use serde::Serialize;

pub use self::land::{AppendRules, Origin, append_by_name, first_changed};
use self::land::{rename_and_register, validate_expected};
pub use self::options::{CsvOptions, ExpectedColumn, FileFormat, ImportOptions, OnError};
pub use self::sniff::estimate_text_rows;
use self::sources::Source;
pub use crate::engine::error::display_name;
use crate::engine::error::{DuckMessage, EngineError, Result};
use crate::engine::job::{Job, JobCtx};
use crate::engine::sql::{META_SCHEMA, STAGING_PREFIX, quote_ident, quote_literal, table_name_from_path, unique_suffix, validate_table_name};
use crate::engine::workspace::{Workspace, is_view, new_table_name, table_columns, table_exists};

/// Imports smaller than this are checkpointed at once (see `ImportJob::run`).
const SMALL_IMPORT_BYTES: u64 = 64 << 20;

/// A DuckDB reader's failure on `path`, located and in plain words.
pub fn read_error(path: &Path, err: duckdb::Error) -> EngineError {
    DuckMessage::new(&err.to_string()).into_read_error(path)
}

/// Registers the table and scalar functions imports and files opened in place read through.
pub fn register_table_functions(conn: &Connection) -> Result<()> {
    batches::register(conn)?;
    plain_text::register(conn)?;
    arrow_ipc::register(conn)
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
    /// Rows left out of an append because the table already had them.
    pub skipped_existing: u64,
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
    /// Temporary rejects and scans tables of this connection, and the rejected lines.
    rejects: Option<(String, String, u64)>,
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
            return Err(EngineError::InvalidOption("no files to import".into()));
        }
        if let Some(name) = &self.options.table {
            validate_table_name(name)?;
        }
        if self.options.append && self.options.table.is_none() {
            return Err(EngineError::InvalidOption("appending needs the name of the table to append to".into()));
        }
        let temp_dir = self.workspace.settings().temp_dir;
        let sources = sources::expand(&self.sources, &temp_dir, ctx)?;
        if sources.is_empty() {
            return Err(EngineError::invalid_file(&self.sources[0], "the archive holds only empty files; there is nothing to import"));
        }
        let file_bytes: u64 = sources.iter().map(|s| s.bytes).sum();
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        let _writing = self.workspace.writing();
        let blocks_before = used_blocks(&conn).ok();
        let staging = format!("{STAGING_PREFIX}{}", unique_suffix());
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
                // Files loaded into one new table: a column takes a type that holds every
                // file's values (whole numbers in one, decimals in another make it DOUBLE).
                let rules = AppendRules { add_columns: true, widen: true, skip_existing: None };
                let appended = append_by_name(&conn, &staging, &target, &Origin { name: source.display.clone(), file_column: None }, &rules)?;
                notices.extend(appended.notices.into_iter().map(|n| n.replace(&format!("\"{staging}\""), "the table")));
                conn.execute_batch(&format!("DROP TABLE {}", quote_ident(&target)))?;
            }
            if let Some((temp, scans, n)) = &part.rejects {
                guard.names.push(rejects_staging.clone());
                rejects::save_rejects(&conn, (temp, scans), &rejects_staging, &source.path, source.is_pattern)?;
                rejected += n;
            }
            rows += part.rows;
            first.get_or_insert(part);
        }
        let first = first.ok_or_else(|| EngineError::Internal("no source was loaded".into()))?;
        if !matches!(first.format, FileFormat::Csv) {
            self.apply_types(&conn, &staging, &mut notices)?;
        }
        validate_expected(&conn, &staging, &self.options.expect, &self.sources[0])?;
        ctx.checkpoint()?;

        ctx.phase("Saving table", None);
        let columns = table_columns(&conn, &staging)?.len() as u64;
        let rejects_staging = (rejected > 0).then_some(rejects_staging.as_str());
        let (table, rejects_table, skipped_existing) = self.land(&conn, &staging, rows, rejects_staging, ctx, &mut notices)?;
        let rows = rows - skipped_existing;
        lap("landed");
        guard.armed = false;
        ctx.record_output(rows, file_bytes);
        // A small table sits in the write-ahead log until a checkpoint, where its size cannot
        // be measured; a large one was written to the file as it loaded.
        if file_bytes < SMALL_IMPORT_BYTES {
            if let Err(e) = conn.execute_batch("CHECKPOINT") {
                tracing::debug!("no checkpoint after the import: {e}");
            }
        }
        // A new table's size is what the file grew by (cheap) when nothing else wrote to it
        // meanwhile; otherwise it is measured.
        let is_alone = self.workspace.writers() == 1;
        let table_bytes = match (self.options.append || !is_alone, blocks_before, used_blocks(&conn)) {
            (false, Some((before, size)), Ok((after, _))) => Some(after.saturating_sub(before) * size),
            _ => table_storage_bytes(&conn, &table).ok(),
        }
        .filter(|b| *b > 0);
        if let Some(bytes) = table_bytes {
            let _ = conn.execute(&format!("UPDATE {META_SCHEMA}.tables SET bytes = ? WHERE name = ?"), duckdb::params![bytes as i64, table]);
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
            skipped_existing,
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
                let head = if source.is_pattern { None } else { Some(encoding::head(path, sniff::ESTIMATE_BYTES)?) };
                let mut enc = match (declared, &head) {
                    (Some(e), _) => e,
                    (None, Some((bytes, _))) => encoding::detect_bytes(&bytes[..bytes.len().min(encoding::DETECT_BYTES)], false),
                    (None, None) => encoding_rs::UTF_8,
                };
                let estimate = head.and_then(|(bytes, read)| sniff::estimate_text_rows_from(path, &bytes, read, source.bytes));
                let loaded = loop {
                    let converted = if encoding::is_utf8(enc) {
                        None
                    } else {
                        ctx.phase(format!("Converting {} from {} to UTF-8", source.display, encoding::display(enc)), Some(source.bytes));
                        Some(encoding::transcode(path, enc, temp_dir, ctx)?)
                    };
                    let read_path = converted.as_ref().map_or_else(|| readable.path().to_path_buf(), |p| p.to_path_buf());
                    ctx.phase(format!("Reading {}", source.display), Some(source.bytes));
                    if let Some(rows) = estimate {
                        ctx.expect_rows(rows);
                    }
                    let mut attempt_notices = Vec::new();
                    let outcome = match csv::plain_load(conn, target, &read_path, path, opts)? {
                        Some(rows) => Ok(csv::Loaded { rows, rejects: None }),
                        None => csv::prepare(conn, &read_path, path, opts, temp_dir, csv::Rewrite::Whole, ctx, &mut attempt_notices)
                            .and_then(|prepared| csv::load(conn, target, &prepared, path, opts, ctx, &mut attempt_notices)),
                    };
                    match outcome {
                        Err(EngineError::InvalidEncoding { line, .. }) if declared.is_none() && encoding::is_utf8(enc) => {
                            ctx.phase(format!("Detecting the encoding of {}", source.display), None);
                            let guess = encoding::detect_whole(path, ctx)?;
                            if encoding::is_utf8(guess) {
                                return Err(EngineError::InvalidEncoding { file: path.clone(), line, encoding: "UTF-8".into() });
                            }
                            notices.push(format!(
                                "the file is not UTF-8 (invalid bytes{}); it was read as {}",
                                line.map(|l| format!(" at line {}", crate::engine::config::group_digits(l))).unwrap_or_default(),
                                encoding::display(guess)
                            ));
                            enc = guess;
                        }
                        other => {
                            notices.extend(attempt_notices);
                            break other?;
                        }
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
            FileFormat::Parquet => {
                let reader = table_reader(format, readable.path(), source.is_pattern);
                if let Some(rows) = sniff::estimate_rows(path, format, source.bytes) {
                    ctx.expect_rows(rows);
                }
                let created = conn.execute(&format!("CREATE TABLE {} AS SELECT * FROM {reader}", quote_ident(target)), []);
                part.rows = created.map_err(|e| read_error(path, e))? as u64;
            }
            FileFormat::Json => {
                if let Some(rows) = sniff::estimate_rows(path, format, source.bytes) {
                    ctx.expect_rows(rows);
                }
                part.rows = json::load(conn, target, path, readable.path(), source.is_pattern, ctx, notices)?;
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
            let many = self.sources.len() > 1 && self.options.source_column;
            let origin = Origin { name: display_name(&self.sources[0]), file_column: many.then(|| "source_file".to_string()) };
            if let Some(changed) = first_changed(conn, staging, &col.name, &col.data_type, ty, &origin)? {
                if self.options.on_error == OnError::Text {
                    let what = match &changed.becomes {
                        Some(b) => format!("{} would become {b} as {ty}", changed.value),
                        None => format!("\"{}\" is not a valid {ty}", changed.value),
                    };
                    notices.push(format!("column \"{}\" was kept as {}: {what}", col.name, col.data_type));
                    continue;
                }
                return Err(EngineError::ValueChanged(Box::new(changed)));
            }
            conn.execute_batch(&format!("ALTER TABLE {} ALTER COLUMN {} SET DATA TYPE {ty}", quote_ident(staging), quote_ident(&col.name)))?;
        }
        Ok(())
    }

    /// Lands the staging table (renamed, or appended to the target) and its rejects, together
    /// with their catalog rows: all or nothing.
    fn land(&self, conn: &Connection, staging: &str, rows: u64, rejects: Option<&str>, ctx: &JobCtx, notices: &mut Vec<String>) -> Result<(String, Option<String>, u64)> {
        // An append waits while another writer (a dedupe replacing the table) holds it.
        let _table_lock = match (&self.options.table, self.options.append) {
            (Some(name), true) => Some(crate::engine::catalog::lock_table(&self.workspace, name, ctx)?),
            _ => None,
        };
        let _landing = self.workspace.land_lock();
        let source = self.sources.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>().join(", ");
        let mut skipped = 0;
        let (table, rejects_table) = ctx.transaction(conn, || {
            let table = if self.options.append {
                let name = self.options.table.clone().ok_or_else(|| EngineError::InvalidOption("appending needs a table name".into()))?;
                if !table_exists(conn, &name)? {
                    return Err(EngineError::TableNotFound(name));
                }
                if is_view(conn, &name)? {
                    return Err(EngineError::Unsupported(format!("\"{name}\" is a file opened in place; import it to append to it")));
                }
                let rules = AppendRules { add_columns: self.options.add_columns, widen: self.options.widen, skip_existing: self.options.skip_existing.clone() };
                let many = self.sources.len() > 1 && self.options.source_column;
                let origin = Origin { name: display_name(&self.sources[0]), file_column: many.then(|| "source_file".to_string()) };
                let appended = append_by_name(conn, &name, staging, &origin, &rules)?;
                skipped = appended.skipped;
                notices.extend(appended.notices);
                conn.execute_batch(&format!("DROP TABLE {}", quote_ident(staging)))?;
                crate::engine::catalog::record_rows(conn, &name)?;
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
        })?;
        let derived = self.derived_name();
        if !self.options.append && self.options.table.is_none() && !table.eq_ignore_ascii_case(&derived) {
            notices.push(format!("a table named \"{derived}\" already exists, so this one is named \"{table}\""));
        }
        if skipped > 0 {
            let rows = if skipped == 1 { "1 row was".to_string() } else { format!("{skipped} rows were") };
            notices.push(format!("{rows} already in \"{table}\" and skipped"));
        }
        Ok((table, rejects_table, skipped))
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


/// Blocks in use in the workspace file, and the block size.
fn used_blocks(conn: &Connection) -> Result<(u64, u64)> {
    let (used, size): (i64, i64) = conn.query_row(
        "SELECT used_blocks, block_size FROM pragma_database_size() WHERE database_name = current_database()",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((used.max(0) as u64, size.max(0) as u64))
}

pub(crate) fn table_storage_bytes(conn: &Connection, table: &str) -> Result<u64> {
    let (blocks, block_size): (i64, i64) = conn.query_row(
        "SELECT count(DISTINCT block_id), (SELECT block_size FROM pragma_database_size() WHERE database_name = current_database())
         FROM pragma_storage_info(?) WHERE block_id >= 0",
        [table],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((blocks.max(0) * block_size.max(0)) as u64)
}
