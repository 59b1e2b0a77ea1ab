//! Applying a match: one row per cluster, each column's value chosen by a survivorship rule,
//! written to a new table or replacing the table (after the user confirmed), in the same
//! transaction as the companion table of every original row with its cluster, from which an
//! undo puts the table back exactly.

use std::sync::Arc;

use duckdb::Connection;
use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};
use crate::engine::job::{Job, JobCtx};
use crate::engine::sql::quote_ident;
use crate::engine::workspace::{ColumnInfo, Workspace, new_table_name, register_in_catalog, table_columns};

/// How a cluster's value of one column is chosen.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Survivor {
    /// The value most rows of the cluster have (ties: the earliest row's).
    MostFrequent,
    /// The value of the cluster's most complete row (fewest missing cells; ties: the earliest).
    MostComplete,
    /// The longest value.
    Longest,
    /// The first value present, in row order.
    First,
    /// The value of the row with the greatest value in this column (a date of last update).
    NewestBy(String),
    /// The value of the row chosen for its cluster ([`ApplySpec::chosen_rows`]); a cluster
    /// with no row chosen takes its most complete row's.
    Chosen,
}

impl Survivor {
    /// `most_frequent`, `most_complete`, `longest`, `first`, `chosen` or `newest:COLUMN`.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "most_frequent" | "frequent" => Ok(Self::MostFrequent),
            "most_complete" | "complete" => Ok(Self::MostComplete),
            "longest" => Ok(Self::Longest),
            "first" => Ok(Self::First),
            "chosen" | "chosen_row" => Ok(Self::Chosen),
            lower if lower.starts_with("newest:") => Ok(Self::NewestBy(t["newest:".len()..].to_string())),
            _ => Err(EngineError::InvalidOption(format!("unknown survivorship rule {t:?}; use most_frequent, most_complete, longest, first, chosen or newest:COLUMN"))),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Self::MostFrequent => "most frequent".into(),
            Self::MostComplete => "from the most complete row".into(),
            Self::Longest => "longest".into(),
            Self::First => "first present".into(),
            Self::NewestBy(c) => format!("newest by {c}"),
            Self::Chosen => "from the chosen row".into(),
        }
    }
}

/// Where the merged rows go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyTarget {
    /// A new table (this name, or `<table>_merged`).
    NewTable(Option<String>),
    /// The table itself.
    Replace,
}

/// What to do with the clusters found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplySpec {
    /// A rule per column; columns not named take [`Survivor::MostFrequent`].
    pub survivors: Vec<(String, Survivor)>,
    pub target: ApplyTarget,
    /// Rows (0-based, in table order) whose values win their cluster's columns that take
    /// [`Survivor::Chosen`].
    #[serde(default)]
    pub chosen_rows: Vec<u64>,
}

/// The columns the companion table adds to the original ones.
pub const ADDED_COLUMNS: &[&str] = &["_cluster", "_match_probability"];

/// Writes the merged rows from `companion` (every row of `table` in order, with `_cluster`).
/// Returns the table written and its row count. Runs inside the caller's transaction.
pub(crate) fn write_merged(conn: &Connection, table: &str, columns: &[ColumnInfo], companion: &str, apply: &ApplySpec) -> Result<(String, u64)> {
    let rule_of = |name: &str| apply.survivors.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)).map_or(Survivor::MostFrequent, |(_, s)| s.clone());
    for (name, survivor) in &apply.survivors {
        if !columns.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
            return Err(EngineError::ColumnNotFound { table: table.to_string(), column: name.clone() });
        }
        if let Survivor::NewestBy(by) = survivor {
            if !columns.iter().any(|c| c.name.eq_ignore_ascii_case(by)) {
                return Err(EngineError::ColumnNotFound { table: table.to_string(), column: by.clone() });
            }
        }
    }
    // The companion's cluster column, named as the run named it.
    let cluster = quote_ident(&crate::engine::dedupe::unused_name(columns, "_cluster"));
    let nulls: Vec<String> = columns.iter().map(|c| format!("CAST({} IS NULL AS INTEGER)", quote_ident(&c.name))).collect();
    // Rows numbered from 0 in the companion's order (a table written in this transaction has
    // rowids far from 0 until it commits).
    let mut inner = vec!["*".to_string(), "row_number() OVER (ORDER BY rowid) - 1 AS __r".to_string(), format!("({}) AS __nulls", nulls.join(" + "))];
    let chosen = if apply.chosen_rows.is_empty() {
        "FALSE".to_string()
    } else {
        format!("list_contains([{}], __r)", apply.chosen_rows.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
    };
    let mut aggregates = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        let q = quote_ident(&c.name);
        let present = format!("FILTER (WHERE {q} IS NOT NULL)");
        let aggregate = match rule_of(&c.name) {
            Survivor::MostFrequent => {
                inner.push(format!("count(*) OVER (PARTITION BY {cluster}, {q}) AS __n{i}"));
                format!("arg_max({q}, [__n{i}, -__r]) {present}")
            }
            Survivor::MostComplete => format!("arg_min({q}, [__nulls, __r])"),
            Survivor::Longest => {
                format!("arg_max({q}, [length(CAST({q} AS VARCHAR)), -__r]) {present}")
            }
            Survivor::First => format!("arg_min({q}, __r) {present}"),
            Survivor::NewestBy(by) => format!("arg_max({q}, {}) {present}", quote_ident(&by)),
            Survivor::Chosen => {
                format!("arg_min({q}, [CASE WHEN {chosen} THEN 0 ELSE 1 END, __nulls, __r])")
            }
        };
        aggregates.push(format!("{aggregate} AS {q}"));
    }
    let grouped = format!(
        "SELECT {}, {cluster} AS __cluster, count(*) AS __rows, min(__r) AS __first FROM (SELECT {} FROM {}) GROUP BY {cluster}",
        aggregates.join(", "),
        inner.join(", "),
        quote_ident(companion)
    );
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    match &apply.target {
        ApplyTarget::Replace => {
            let select = format!("SELECT {} FROM ({grouped}) ORDER BY __first", names.join(", "));
            let rows = crate::engine::catalog::replace_table(conn, table, &select)?;
            Ok((table.to_string(), rows))
        }
        ApplyTarget::NewTable(wanted) => {
            let name = new_table_name(conn, wanted.as_deref(), &format!("{table}_merged"))?;
            let rows_column = quote_ident(&crate::engine::dedupe::unused_name(columns, "_rows"));
            let select = format!("SELECT {}, __cluster AS {cluster}, __rows AS {rows_column} FROM ({grouped}) ORDER BY __first", names.join(", "));
            let rows = conn.execute(&format!("CREATE TABLE {} AS {select}", quote_ident(&name)), [])? as u64;
            register_in_catalog(conn, &name, &format!("{table} with each match cluster merged into one row"), Some(rows))?;
            Ok((name, rows))
        }
    }
}

/// Puts `table` back as it was before a merge replaced it, from the merge's companion table.
pub struct UndoApplyJob {
    pub workspace: Arc<Workspace>,
    pub table: String,
    pub companion: String,
}

impl Job for UndoApplyJob {
    type Output = u64;

    fn title(&self) -> String {
        format!("Undo the merge of {}", self.table)
    }

    fn run(self, ctx: &JobCtx) -> Result<u64> {
        let _writing = self.workspace.writing();
        let conn = self.workspace.connect()?;
        let columns = table_columns(&conn, &self.companion)?;
        if !ADDED_COLUMNS.iter().all(|a| columns.iter().any(|c| c.name == *a)) {
            return Err(EngineError::InvalidOption(format!("{} is not the companion table of a merge (it has no _cluster and _match_probability)", self.companion)));
        }
        let original: Vec<String> = columns.iter().filter(|c| !ADDED_COLUMNS.contains(&c.name.as_str())).map(|c| quote_ident(&c.name)).collect();
        let _lock = crate::engine::catalog::lock_table(&self.workspace, &self.table, ctx)?;
        ctx.watch(&conn)?;
        let select = format!("SELECT {} FROM {} ORDER BY rowid", original.join(", "), quote_ident(&self.companion));
        let outcome = ctx.transaction(&conn, || crate::engine::catalog::replace_table(&conn, &self.table, &select));
        ctx.unwatch();
        let rows = outcome?;
        let _ = crate::engine::profile::store::mark_changed(&conn, Some(&self.table));
        ctx.record_output(rows, 0);
        Ok(rows)
    }
}
