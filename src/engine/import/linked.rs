//! Opening a file in place: a view over DuckDB's reader, so a large Parquet or CSV file can
//! be browsed, sorted and exported without copying it into the workspace. The view is
//! checked (its first row read, its rows counted) before it is registered.

use std::path::PathBuf;
use std::sync::Arc;

use super::options::{FileFormat, ImportOptions};
use super::{arrow_ipc, csv, display_name, encoding, read_error, sources, table_reader};
use crate::engine::error::{EngineError, Result};
use crate::engine::job::{Job, JobCtx};
use crate::engine::sql::{quote_ident, quote_literal, table_name_from_path, validate_table_name};
use crate::engine::workspace::{Workspace, new_table_name, register_in_catalog, table_columns};

#[derive(Clone, Debug, serde::Serialize)]
pub struct LinkReport {
    pub table: String,
    pub source: PathBuf,
    pub format: FileFormat,
    /// Known at once for Parquet; counted on first browse for text files.
    pub rows: Option<u64>,
    pub columns: u64,
    /// What was detected on the way, in plain words.
    pub notices: Vec<String>,
}

pub struct LinkJob {
    workspace: Arc<Workspace>,
    path: PathBuf,
    options: ImportOptions,
}

impl LinkJob {
    pub fn new(workspace: Arc<Workspace>, path: impl Into<PathBuf>, options: ImportOptions) -> Self {
        Self { workspace, path: path.into(), options }
    }
}

impl Job for LinkJob {
    type Output = LinkReport;

    fn title(&self) -> String {
        format!("Open {} in place", display_name(&self.path))
    }

    fn run(self, ctx: &JobCtx) -> Result<LinkReport> {
        if let Some(name) = &self.options.table {
            validate_table_name(name)?;
        }
        // The view outlives this process: it must name the file absolutely.
        let path = std::path::absolute(&self.path).map_err(|e| EngineError::io(&self.path, e))?;
        let meta = std::fs::metadata(&path).map_err(|e| EngineError::io(&path, e))?;
        if sources::is_stream(&meta) {
            return Err(EngineError::Unsupported(format!("{}: a pipe or stream cannot be opened in place; import it instead", display_name(&path))));
        }
        let format = match self.options.format {
            Some(f) => f,
            None => FileFormat::detect(&path)?,
        };
        let unsupported = |why: &str| EngineError::invalid_file(&path, why);
        let mut notices = Vec::new();
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        ctx.phase(format!("Reading {}", display_name(&path)), Some(meta.len()));
        let select = match format {
            FileFormat::Parquet if meta.is_dir() => format!("SELECT * FROM {}", table_reader(format, &sources::parquet_glob(&path), true)),
            FileFormat::Parquet | FileFormat::Json => format!("SELECT * FROM {}", table_reader(format, &path, false)),
            FileFormat::Csv => {
                let enc = encoding::resolve(self.options.encoding.as_deref(), &path)?;
                if !encoding::is_utf8(enc) {
                    return Err(unsupported(&format!("the file is {} text; only UTF-8 files open in place — import it instead", encoding::display(enc))));
                }
                let temp_dir = self.workspace.settings().temp_dir;
                let prepared = csv::prepare(&conn, &path, &path, &self.options, &temp_dir, csv::Rewrite::Refuse, ctx, &mut notices)?;
                csv::select_sql(&path, &self.options, &prepared.attempt, &prepared.dialect, None)?
            }
            FileFormat::Arrow => format!("SELECT * FROM {}({})", arrow_ipc::READ_ARROW_FUNCTION, quote_literal(&path.to_string_lossy())),
            FileFormat::Excel => return Err(unsupported("workbooks cannot be opened in place; import them instead")),
        };
        // Parquet and Arrow know their row counts; a text file is only checked to start
        // readably, and is counted in the background when first browsed.
        let rows = if format == FileFormat::Parquet {
            let count: i64 = conn.query_row(&format!("SELECT count(*) FROM ({select})"), [], |r| r.get(0)).map_err(|e| read_error(&path, e))?;
            Some(count.max(0) as u64)
        } else {
            conn.execute_batch(&format!("SELECT * FROM ({select}) LIMIT 100")).map_err(|e| read_error(&path, e))?;
            if format == FileFormat::Arrow { Some(arrow_ipc::count_rows(&path)?) } else { None }
        };
        ctx.checkpoint()?;

        let _landing = self.workspace.land_lock();
        let (table, columns) = ctx.transaction(&conn, || {
            let table = new_table_name(&conn, self.options.table.as_deref(), &table_name_from_path(&path))?;
            conn.execute_batch(&format!("CREATE VIEW {} AS {select}", quote_ident(&table)))?;
            register_in_catalog(&conn, &table, &path.to_string_lossy(), rows)?;
            let columns = table_columns(&conn, &table)?.len() as u64;
            Ok((table, columns))
        })?;
        ctx.record_output(rows.unwrap_or(0), meta.len());
        Ok(LinkReport { table, source: path, format, rows, columns, notices })
    }
}
