//! Exports a table (optionally in a sort order) to Parquet (zstd) or CSV. DuckDB writes a
//! temporary file beside the target; only a complete file is renamed onto the target, so a
//! failed or cancelled export never leaves a partial or clobbered file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::error::{EngineError, Result};
use super::import::display_name;
use super::job::{Job, JobCtx};
use super::sql::{quote_ident, quote_literal};
use super::workspace::{Workspace, is_view, table_columns};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Parquet,
    Csv,
}

impl ExportFormat {
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        match ext.as_str() {
            "parquet" | "pq" => Ok(Self::Parquet),
            "csv" => Ok(Self::Csv),
            _ => Err(EngineError::Processing(format!(
                "{}: choose a file ending in .parquet or .csv",
                display_name(path)
            ))),
        }
    }

    fn copy_options(self) -> &'static str {
        match self {
            // The target is already our own temporary file: no second one from DuckDB.
            Self::Parquet => "FORMAT parquet, COMPRESSION zstd, USE_TMP_FILE false",
            Self::Csv => "FORMAT csv, HEADER true, USE_TMP_FILE false",
        }
    }
}

/// A column to order rows by, as the table view's header sort.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct SortKey {
    pub column: String,
    pub descending: bool,
}

impl SortKey {
    /// `ORDER BY` clause for this key. `rowid` breaks ties so the order is total and stable,
    /// unless the table has its own column named `rowid`, which hides DuckDB's (`rowid_usable`).
    pub(crate) fn order_by(sort: Option<&SortKey>, rowid_usable: bool) -> String {
        let tie_break = if rowid_usable { ", rowid" } else { "" };
        match sort {
            Some(k) => format!(
                "ORDER BY {} {} NULLS LAST{tie_break}",
                quote_ident(&k.column),
                if k.descending { "DESC" } else { "ASC" }
            ),
            None if rowid_usable => "ORDER BY rowid".to_string(),
            None => String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    pub table: String,
    pub path: PathBuf,
    pub format: ExportFormat,
    pub rows: u64,
    pub bytes: u64,
}

pub struct ExportJob {
    workspace: Arc<Workspace>,
    table: String,
    sort: Option<SortKey>,
    path: PathBuf,
}

impl ExportJob {
    pub fn new(workspace: Arc<Workspace>, table: impl Into<String>, sort: Option<SortKey>, path: impl Into<PathBuf>) -> Self {
        Self {
            workspace,
            table: table.into(),
            sort,
            path: path.into(),
        }
    }
}

impl Job for ExportJob {
    type Output = ExportReport;

    fn title(&self) -> String {
        format!("Export {} to {}", self.table, display_name(&self.path))
    }

    fn run(self, ctx: &JobCtx) -> Result<ExportReport> {
        let format = ExportFormat::from_path(&self.path)?;
        let conn = self.workspace.connect()?;
        let columns = table_columns(&conn, &self.table)?;
        if let Some(key) = &self.sort {
            if !columns.iter().any(|c| c.name == key.column) {
                return Err(EngineError::ColumnNotFound {
                    table: self.table.clone(),
                    column: key.column.clone(),
                });
            }
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(EngineError::io(&dir, std::io::Error::new(std::io::ErrorKind::NotFound, "folder does not exist")));
        }
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", display_name(&self.path)))
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(|e| EngineError::io(&dir, e))?
            .into_temp_path();

        ctx.watch(&conn)?;
        ctx.phase(format!("Writing {}", display_name(&self.path)), None);
        let rowid_usable = !columns.iter().any(|c| c.name.eq_ignore_ascii_case("rowid")) && !is_view(&conn, &self.table)?;
        let order = if self.sort.is_some() { SortKey::order_by(self.sort.as_ref(), rowid_usable) } else { String::new() };
        let rows = conn
            .execute(
                &format!(
                    "COPY (SELECT * FROM {} {order}) TO {} ({})",
                    quote_ident(&self.table),
                    quote_literal(&temp.to_string_lossy()),
                    format.copy_options()
                ),
                [],
            )
            .map_err(|e| {
                if ctx.is_cancelled() {
                    return EngineError::Cancelled;
                }
                // Name the user's file, not our temporary one.
                let message = e.to_string().replace(&*temp.to_string_lossy(), &self.path.to_string_lossy());
                EngineError::Processing(format!("{}: {message}", display_name(&self.path)))
            })?;
        ctx.checkpoint()?;
        let bytes = std::fs::metadata(&temp).map_err(|e| EngineError::io(&*temp, e))?.len();
        temp.persist(&self.path).map_err(|e| EngineError::io(&self.path, e.error))?;
        ctx.record_output(rows as u64, bytes);
        Ok(ExportReport {
            table: self.table,
            path: self.path,
            format,
            rows: rows as u64,
            bytes,
        })
    }
}
