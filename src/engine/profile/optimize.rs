//! "Optimize types": a table rewritten with the narrower types its profile suggested, as a new
//! table or in place of the old one, in one transaction (Cancel or failure changes nothing).

use std::sync::Arc;

use serde::Serialize;

use crate::engine::error::{EngineError, Result};
use crate::engine::job::{Job, JobCtx};
use crate::engine::sql::{STAGING_PREFIX, SqlType, quote_ident, quote_literal, validate_table_name};
use crate::engine::workspace::{Workspace, in_transaction, new_table_name, register_in_catalog, table_columns};

/// A column and the type it is to be stored as (`ENUM` takes the column's own values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeChange {
    pub column: String,
    pub data_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptimizeTarget {
    NewTable(String),
    /// Replaces the table (the window asks first).
    Replace,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OptimizeReport {
    pub table: String,
    pub rows: u64,
    pub changed_columns: usize,
}

pub struct OptimizeJob {
    pub workspace: Arc<Workspace>,
    pub table: String,
    pub changes: Vec<TypeChange>,
    pub target: OptimizeTarget,
}

impl Job for OptimizeJob {
    type Output = OptimizeReport;

    fn title(&self) -> String {
        match &self.target {
            OptimizeTarget::NewTable(name) => format!("Optimize the types of {} into {name}", self.table),
            OptimizeTarget::Replace => format!("Optimize the types of {}", self.table),
        }
    }

    fn run(self, ctx: &JobCtx) -> Result<OptimizeReport> {
        if self.changes.is_empty() {
            return Err(EngineError::InvalidOption("no type to change".into()));
        }
        let _writing = self.workspace.writing();
        let conn = self.workspace.connect()?;
        let columns = table_columns(&conn, &self.table)?;
        let mut select = Vec::new();
        for c in &columns {
            let name = quote_ident(&c.name);
            match self.changes.iter().find(|t| t.column == c.name) {
                None => select.push(name),
                Some(change) => {
                    let target = if change.data_type.to_ascii_uppercase().starts_with("ENUM") {
                        let mut stmt = conn.prepare(&format!(
                            "SELECT DISTINCT CAST({name} AS VARCHAR) AS v FROM {} WHERE {name} IS NOT NULL ORDER BY v",
                            quote_ident(&self.table)
                        ))?;
                        let values: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<duckdb::Result<_>>()?;
                        format!("ENUM({})", values.iter().map(|v| quote_literal(v)).collect::<Vec<_>>().join(", "))
                    } else {
                        SqlType::parse(&change.data_type)?.as_str().to_string()
                    };
                    select.push(format!("CAST({name} AS {target}) AS {name}"));
                }
            }
        }
        for change in &self.changes {
            if !columns.iter().any(|c| c.name == change.column) {
                return Err(EngineError::ColumnNotFound { table: self.table.clone(), column: change.column.clone() });
            }
        }
        ctx.watch(&conn)?;
        ctx.phase(self.title(), None);
        let source: Option<String> = conn
            .query_row(&format!("SELECT source FROM {}.tables WHERE name = ?", crate::engine::sql::META_SCHEMA), [&self.table], |r| r.get(0))
            .ok();
        let copy = |into: &str| format!("CREATE TABLE {} AS SELECT {} FROM {} ORDER BY rowid", quote_ident(into), select.join(", "), quote_ident(&self.table));
        let outcome = in_transaction(&conn, || {
            let name = match &self.target {
                OptimizeTarget::NewTable(name) => {
                    validate_table_name(name)?;
                    let name = new_table_name(&conn, Some(name), name)?;
                    let rows = conn.execute(&copy(&name), [])? as u64;
                    register_in_catalog(&conn, &name, &format!("{} with optimized types", self.table), Some(rows))?;
                    (name, rows)
                }
                OptimizeTarget::Replace => {
                    let staging = format!("{STAGING_PREFIX}optimize_{}", std::process::id());
                    let rows = conn.execute(&copy(&staging), [])? as u64;
                    conn.execute_batch(&format!("DROP TABLE {}; ALTER TABLE {} RENAME TO {};", quote_ident(&self.table), quote_ident(&staging), quote_ident(&self.table)))?;
                    register_in_catalog(&conn, &self.table, source.as_deref().unwrap_or(""), Some(rows))?;
                    (self.table.clone(), rows)
                }
            };
            if ctx.is_cancelled() {
                return Err(EngineError::Cancelled);
            }
            Ok(name)
        });
        ctx.unwatch();
        let (table, rows) = outcome?;
        if self.target == OptimizeTarget::Replace {
            let _ = super::store::mark_changed(&conn, Some(&table));
        }
        ctx.record_output(rows, 0);
        Ok(OptimizeReport { table, rows, changed_columns: self.changes.len() })
    }
}
