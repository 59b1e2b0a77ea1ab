//! Exports a table (optionally in a sort order) to Parquet (zstd) or CSV. DuckDB writes a
//! hidden `.partial` file beside the target, named after this process; only a complete file
//! is renamed onto the target, so a failed or cancelled export never leaves a partial or
//! clobbered file, and one killed mid-way is removed by a later run. The file gets the
//! permissions a new file gets, or keeps those of the file it replaces.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::error::{EngineError, Result, display_name};
use super::job::{Job, JobCtx};
use super::scratch::{self, PartialMarker};
use super::sql::{SortKey, quote_ident, quote_literal};
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
            _ => Err(EngineError::InvalidOption(format!("{}: choose a file ending in .parquet or .csv", display_name(path)))),
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

/// Removes a file when dropped, unless it was renamed away.
struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
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
        scratch::sweep_partials(&dir);
        let partial = scratch::partial_path(&self.path);
        let _marker = PartialMarker::new(&self.workspace.settings().temp_dir, &partial);
        let _cleanup = RemoveOnDrop(&partial);

        ctx.watch(&conn)?;
        ctx.phase(format!("Writing {}", display_name(&self.path)), None);
        let rowid_usable = !columns.iter().any(|c| c.name.eq_ignore_ascii_case("rowid")) && !is_view(&conn, &self.table)?;
        let order = if self.sort.is_some() { SortKey::order_by(self.sort.as_ref(), rowid_usable) } else { String::new() };
        let copied = conn.execute(
            &format!(
                "COPY (SELECT * FROM {} {order}) TO {} ({})",
                quote_ident(&self.table),
                quote_literal(&partial.to_string_lossy()),
                format.copy_options()
            ),
            [],
        );
        let rows = copied.map_err(|e| match EngineError::from(e).with_path_shown_as(&partial, &self.path) {
            _ if ctx.is_cancelled() => EngineError::Cancelled,
            EngineError::Database(text) => EngineError::Database(format!("{}: {text}", display_name(&self.path))),
            other => other,
        })?;
        ctx.checkpoint()?;
        let bytes = std::fs::metadata(&partial).map_err(|e| EngineError::io(&partial, e))?.len();
        // DuckDB created the file as any new file (umask applies); a replaced file keeps its mode.
        if let Ok(existing) = std::fs::metadata(&self.path) {
            std::fs::set_permissions(&partial, existing.permissions()).map_err(|e| EngineError::io(&self.path, e))?;
        }
        std::fs::rename(&partial, &self.path).map_err(|e| EngineError::io(&self.path, e))?;
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
