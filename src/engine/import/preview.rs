//! The first rows of a file as the import would read them with the given options, plus what
//! was detected (format, encoding, dialect, sheets, column types). Runs as a job on its own
//! in-memory database so it never touches the workspace.

use std::io::Write as _;
use std::path::PathBuf;

use duckdb::Connection;
use serde::Serialize;

use super::csv;
use super::sniff::Dialect;
use super::options::{FileFormat, ImportOptions};
use super::{encoding, excel, read_error, register_table_functions, sources, table_reader};
use crate::engine::error::{EngineError, Result};
use crate::engine::job::{Job, JobCtx};
use crate::engine::sql::quote_ident;

/// Bytes of a non-UTF-8 text file converted for its preview.
const PREVIEW_BYTES: usize = 1 << 20;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Preview {
    pub format: Option<FileFormat>,
    /// The encoding used (detected unless the options name one).
    pub encoding: Option<String>,
    pub dialect: Option<Dialect>,
    pub sheets: Vec<String>,
    pub sheet: Option<String>,
    pub zip_members: Vec<String>,
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Option<String>>>,
    pub notices: Vec<String>,
    /// A pipe's contents, copied to this file (kept while the folder is held).
    #[serde(skip)]
    pub spooled: Option<(PathBuf, std::sync::Arc<tempfile::TempDir>)>,
}

pub struct PreviewJob {
    pub path: PathBuf,
    pub options: ImportOptions,
    pub rows: usize,
    pub temp_dir: PathBuf,
}

impl Job for PreviewJob {
    type Output = Preview;

    fn title(&self) -> String {
        format!("Preview {}", super::display_name(&self.path))
    }

    fn run(self, ctx: &JobCtx) -> Result<Preview> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("SET threads = 2; SET memory_limit = '512MB'")?;
        register_table_functions(&conn)?;
        ctx.watch(&conn)?;
        let mut preview = Preview::default();
        let mut path = self.path.clone();
        // A pipe can be read once: it is copied to a file the import then reads too.
        if std::fs::metadata(&path).is_ok_and(|m| sources::is_stream(&m)) {
            let spooled = sources::spool(&path, &self.temp_dir, ctx)?;
            path = spooled.path.clone();
            preview.spooled = spooled.scratch().map(|dir| (spooled.path.clone(), dir));
        }
        let is_zip = sources::is_zip(&path) && path.is_file();
        let expanded;
        if is_zip {
            preview.zip_members = sources::zip_members(&path)?;
            expanded = sources::expand(&[path.join(preview.zip_members.first().cloned().unwrap_or_default())], &self.temp_dir, ctx)?;
            path = expanded.first().map(|s| s.path.clone()).ok_or_else(|| EngineError::invalid_file(&self.path, "the archive holds only empty files"))?;
        }
        let format = match self.options.format {
            Some(f) => f,
            None => FileFormat::detect(&path)?,
        };
        preview.format = Some(format);
        let limit = self.rows.max(1);
        let table = "preview";
        // Where text columns are checked for values that kept them text: the rows shown, or
        // for a CSV the rows its sniffer looked at (the odd value may lie past those shown).
        let mut sniffed_rows = None;
        match format {
            FileFormat::Csv => {
                let enc = encoding::resolve(self.options.encoding.as_deref(), &path)?;
                preview.encoding = Some(encoding::display(enc).to_string());
                let _converted;
                let read_path = if encoding::is_utf8(enc) {
                    path.clone()
                } else {
                    let mut sample = encoding::sample(&path, PREVIEW_BYTES)?;
                    if sample.len() == PREVIEW_BYTES {
                        let cut = sample.iter().rposition(|b| *b == b'\n').map_or(sample.len(), |i| i + 1);
                        sample.truncate(cut);
                    }
                    let (text, _, _) = enc.decode(&sample);
                    let mut tmp = crate::engine::scratch::file(&self.temp_dir, "preview", ".csv")?;
                    tmp.write_all(text.as_bytes()).map_err(|e| EngineError::io(tmp.path(), e))?;
                    let p = tmp.path().to_path_buf();
                    _converted = tmp;
                    p
                };
                let prepared = csv::prepare(&conn, &read_path, &self.path, &self.options, &self.temp_dir, csv::Rewrite::Start(PREVIEW_BYTES as u64), ctx, &mut preview.notices)?;
                // Bad lines among the first rows are shown, not a reason to show nothing; the
                // reader may also scan past the rows shown, where a bad line must not fail them.
                let mut attempt = prepared.attempt.clone();
                let mut made = Err(EngineError::Internal("not read".into()));
                let mut rejects = ("preview_rejects_1", "preview_scans_1");
                for (na_everywhere, names) in [(attempt.na_everywhere, ("preview_rejects_1", "preview_scans_1")), (true, ("preview_rejects_2", "preview_scans_2"))] {
                    attempt.na_everywhere = na_everywhere;
                    rejects = names;
                    let select = csv::select_sql(&prepared.path, &self.options, &attempt, &prepared.dialect, Some(rejects))?;
                    made = conn.execute_batch(&format!("CREATE OR REPLACE TABLE {table} AS {select} LIMIT {limit}")).map_err(|e| read_error(&self.path, e));
                    if made.is_ok() {
                        break;
                    }
                }
                made?;
                let whole = csv::select_sql(&prepared.path, &self.options, &attempt, &prepared.dialect, None)?;
                sniffed_rows = Some(format!("(SELECT * FROM ({whole}) LIMIT {SNIFFED_ROWS})"));
                let header_lines = prepared.dialect.skip + u64::from(prepared.dialect.header);
                let bad = super::rejects::early_rejects(&conn, rejects, header_lines + limit as u64 + 5)?;
                let stops = if self.options.on_error == super::OnError::Skip { "goes to the rejects table" } else { "stops the import" };
                for (line, reason) in &bad {
                    preview.notices.push(format!("line {}: {reason} — this line {stops}", crate::engine::config::group_digits(*line)));
                }
                preview.dialect = Some(prepared.dialect);
            }
            FileFormat::Parquet | FileFormat::Json => {
                let reader = table_reader(format, &path, false);
                conn.execute_batch(&format!("CREATE TABLE {table} AS SELECT * FROM {reader} LIMIT {limit}"))
                    .map_err(|e| read_error(&self.path, e))?;
            }
            FileFormat::Excel => {
                preview.sheets = excel::worksheet_names(&path)?;
                let sheet = excel::resolve_sheet(&path, self.options.sheet.as_deref())?;
                let opts = ImportOptions { sheet: Some(sheet.clone()), ..self.options.clone() };
                excel::load_limited(&conn, table, &path, &opts, ctx, &mut preview.notices, Some(limit as u64))?;
                preview.sheet = Some(sheet);
            }
            FileFormat::Arrow => {
                super::arrow_ipc::load_limited(&conn, table, &path, ctx, Some(limit as u64))?;
            }
        }
        let mut stmt = conn.prepare("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'preview' ORDER BY column_index")?;
        preview.columns = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<duckdb::Result<_>>()?;
        let checked = sniffed_rows.unwrap_or_else(|| quote_ident(table));
        preview.notices.extend(text_that_looks_typed(&conn, &checked, &preview.columns));
        let cols: Vec<String> = preview.columns.iter().map(|(n, _)| format!("{}::VARCHAR", quote_ident(n))).collect();
        if !cols.is_empty() {
            let mut stmt = conn.prepare(&format!("SELECT {} FROM {table} LIMIT {limit}", cols.join(", ")))?;
            let n = cols.len();
            preview.rows = stmt
                .query_map([], |r| (0..n).map(|i| r.get::<_, Option<String>>(i)).collect::<duckdb::Result<Vec<_>>>())?
                .collect::<duckdb::Result<_>>()?;
        }
        Ok(preview)
    }
}

/// Rows DuckDB's CSV sniffer reads to choose the column types (its `sample_size`).
const SNIFFED_ROWS: u64 = 20_480;

/// Text columns whose values are nearly all numbers or dates: one value kept the column as
/// text, and the user should hear which, and how to read the column as its type. `rows` is
/// a table or a subquery.
fn text_that_looks_typed(conn: &Connection, rows: &str, columns: &[(String, String)]) -> Vec<String> {
    let mut notices = Vec::new();
    for (name, ty) in columns {
        if !ty.eq_ignore_ascii_case("VARCHAR") {
            continue;
        }
        let c = quote_ident(name);
        for (target, words) in [("DOUBLE", "a number"), ("DATE", "a date"), ("TIMESTAMP", "a date and time")] {
            let sql = format!(
                "SELECT count(*) FILTER (WHERE TRY_CAST({c} AS {target}) IS NOT NULL), count({c}),
                        first({c}) FILTER (WHERE TRY_CAST({c} AS {target}) IS NULL AND trim({c}) <> '')
                 FROM {rows}"
            );
            let Ok((typed, present, odd)) = conn.query_row(&sql, [], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?))) else {
                continue;
            };
            if let Some(odd) = odd.filter(|_| typed >= 2 && typed * 10 >= present * 9) {
                notices.push(format!(
                    "column \"{name}\" is read as text because \"{odd}\" is not {words}, though nearly all its other values are; give it the type {target} below (and choose what happens to values that do not fit) to read it as {target}"
                ));
                break;
            }
        }
    }
    notices
}
