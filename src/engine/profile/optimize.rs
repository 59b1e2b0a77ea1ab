//! "Optimize types": a table rewritten with the narrower types its profile suggested, as a new
//! table or in place of the old one, in one transaction (Cancel or failure changes nothing).
//! Each change is checked again on the whole column inside that transaction: a value the
//! new type would round or cut stops it, named.

use std::sync::Arc;

use serde::Serialize;

use crate::engine::catalog;
use crate::engine::error::{EngineError, Result};
use crate::engine::import::{Origin, first_changed};
use crate::engine::job::{Job, JobCtx};
use crate::engine::sql::{SqlType, quote_ident, quote_literal, validate_table_name};
use crate::engine::workspace::{Workspace, new_table_name, register_in_catalog, table_columns};

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
        for change in &self.changes {
            if !columns.iter().any(|c| c.name == change.column) {
                return Err(EngineError::ColumnNotFound { table: self.table.clone(), column: change.column.clone() });
            }
        }
        // Replacing the table: no other write may land between reading it and replacing it.
        let _lock = match self.target {
            OptimizeTarget::Replace => Some(catalog::lock_table(&self.workspace, &self.table, ctx)?),
            OptimizeTarget::NewTable(_) => None,
        };
        ctx.watch(&conn)?;
        ctx.phase(self.title(), None);
        let outcome = ctx.transaction(&conn, || {
            // Decided on the rows as they are now, not as a profile saw them: every value of a
            // changed column must come back unchanged from its new type.
            let mut select = Vec::new();
            for c in &columns {
                let name = quote_ident(&c.name);
                let Some(change) = self.changes.iter().find(|t| t.column == c.name) else {
                    select.push(name);
                    continue;
                };
                let target = if change.data_type.to_ascii_uppercase().starts_with("ENUM") {
                    let mut stmt = conn.prepare(&format!(
                        "SELECT DISTINCT CAST({name} AS VARCHAR) AS v FROM {} WHERE {name} IS NOT NULL ORDER BY v",
                        quote_ident(&self.table)
                    ))?;
                    let values: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<duckdb::Result<_>>()?;
                    SqlType::parse(&format!("ENUM({})", values.iter().map(|v| quote_literal(v)).collect::<Vec<_>>().join(", ")))?
                } else {
                    SqlType::parse(&change.data_type)?
                };
                let origin = Origin { name: self.table.clone(), file_column: None };
                if let Some(changed) = first_changed(&conn, &self.table, &c.name, &c.data_type, &target, &origin)? {
                    return Err(EngineError::ValueChanged(Box::new(changed)));
                }
                select.push(format!("CAST({name} AS {target}) AS {name}"));
            }
            let select = format!("SELECT {} FROM {} ORDER BY rowid", select.join(", "), quote_ident(&self.table));
            let name = match &self.target {
                OptimizeTarget::NewTable(name) => {
                    validate_table_name(name)?;
                    let name = new_table_name(&conn, Some(name), name)?;
                    let rows = conn.execute(&format!("CREATE TABLE {} AS {select}", quote_ident(&name)), [])? as u64;
                    register_in_catalog(&conn, &name, &format!("{} with optimized types", self.table), Some(rows))?;
                    (name, rows)
                }
                OptimizeTarget::Replace => (self.table.clone(), catalog::replace_table(&conn, &self.table, &select)?),
            };
            ctx.checkpoint()?;
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
