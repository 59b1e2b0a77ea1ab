//! Pairs the user labelled "match" or "not a match": kept with the table in the workspace,
//! keyed by each row's content (so a replace that renumbers rows keeps them), and used by
//! every later run in place of the pair's score.

use std::sync::Arc;

use duckdb::Connection;

use super::MatchReview;
use crate::engine::error::{EngineError, Result};
use crate::engine::job::{Job, JobCtx};
use crate::engine::sql::{META_SCHEMA, quote_ident};
use crate::engine::workspace::Workspace;

fn ensure(conn: &Connection) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {META_SCHEMA}.match_labels (table_name VARCHAR, other VARCHAR, left_key VARCHAR, right_key VARCHAR, is_match BOOLEAN, labelled TIMESTAMP DEFAULT current_timestamp)"
    ))?;
    Ok(())
}

/// The content key of the row of `table` whose rowid is `rowid`.
fn row_key(conn: &Connection, table: &str, rowid: i64) -> Result<String> {
    let key: Option<String> = conn.query_row(&format!("SELECT md5(CAST(__r AS VARCHAR)) FROM {} AS __r WHERE rowid = ?", quote_ident(table)), [rowid], |r| r.get(0)).ok();
    key.ok_or_else(|| EngineError::InvalidOption(format!("the row of {table} this pair named is gone; find matches again")))
}

/// Labels one pair of a review.
pub struct LabelJob {
    pub workspace: Arc<Workspace>,
    pub review: MatchReview,
    pub left: u32,
    pub right: u32,
    pub is_match: bool,
}

impl Job for LabelJob {
    type Output = ();

    fn title(&self) -> String {
        format!("Label a pair of {}", self.review.table)
    }

    fn run(self, _: &JobCtx) -> Result<()> {
        let conn = self.workspace.connect()?;
        record(&conn, &self.review, &[(self.left, self.right)], self.is_match)
    }
}

/// Labels pairs of a review's rows, in one transaction.
pub(super) fn record(conn: &Connection, review: &MatchReview, pairs: &[(u32, u32)], is_match: bool) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    ensure(conn)?;
    let mut keys = std::collections::HashMap::new();
    for &node in pairs.iter().flat_map(|(l, r)| [l, r]) {
        if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(node) {
            let (table, rowid) = review.row_of(conn, node)?;
            slot.insert(row_key(conn, &table, rowid)?);
        }
    }
    let other = review.link.clone().unwrap_or_default();
    conn.execute_batch("BEGIN TRANSACTION")?;
    let outcome = (|| -> Result<()> {
        let mut forget = conn.prepare(&format!(
            "DELETE FROM {META_SCHEMA}.match_labels WHERE table_name = ? AND other = ? AND ((left_key = ? AND right_key = ?) OR (left_key = ? AND right_key = ?))"
        ))?;
        let mut insert = conn.prepare(&format!("INSERT INTO {META_SCHEMA}.match_labels (table_name, other, left_key, right_key, is_match) VALUES (?, ?, ?, ?, ?)"))?;
        for (l, r) in pairs {
            let (l, r) = (&keys[l], &keys[r]);
            forget.execute(duckdb::params![review.table, other, l, r, r, l])?;
            insert.execute(duckdb::params![review.table, other, l, r, is_match])?;
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(())
}

/// Splits rows off a cluster of a review ([`MatchReview::split`]), or splits it at the one
/// link it hangs on.
pub struct SplitJob {
    pub workspace: Arc<Workspace>,
    pub review: MatchReview,
    pub cluster: u32,
    pub how: Split,
}

/// Where a cluster is split.
#[derive(Clone, Debug, PartialEq)]
pub enum Split {
    /// These rows go off on their own.
    Rows(Vec<u32>),
    /// At the one link the cluster hangs on.
    At(super::review::WeakLink),
}

impl Job for SplitJob {
    type Output = super::review::SplitOutcome;

    fn title(&self) -> String {
        format!("Split cluster {} of {}", self.cluster + 1, self.review.table)
    }

    fn run(self, _: &JobCtx) -> Result<Self::Output> {
        let conn = self.workspace.connect()?;
        match self.how {
            Split::Rows(rows) => self.review.split(&conn, self.cluster, &rows),
            Split::At(link) => self.review.split_at(&conn, self.cluster, link),
        }
    }
}

/// How many labels `table` (linked with `other`) has; a workspace never labelled has none
/// (and a run that only reads writes nothing to find that out).
pub fn count(conn: &Connection, table: &str, other: Option<&str>) -> Result<u64> {
    let exists: i64 =
        conn.query_row("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? AND table_name = 'match_labels'", [META_SCHEMA], |r| {
            r.get(0)
        })?;
    if exists == 0 {
        return Ok(0);
    }
    let n: i64 =
        conn.query_row(&format!("SELECT count(*) FROM {META_SCHEMA}.match_labels WHERE table_name = ? AND other = ?"), duckdb::params![table, other.unwrap_or("")], |r| r.get(0))?;
    Ok(n as u64)
}

/// Creates `__match_labels` (l, r, is_match): the labelled pairs of this run, by row number.
pub(super) fn load(conn: &Connection, table: &str, other: Option<&str>, right_prepared: &str) -> Result<u64> {
    let keys = |source: &str, prepared: &str, wanted: &str| {
        format!(
            "SELECT p._row, md5(CAST(__r AS VARCHAR)) AS k FROM {} AS __r JOIN {prepared} AS p ON p._rowid = __r.rowid WHERE md5(CAST(__r AS VARCHAR)) IN ({wanted})",
            quote_ident(source)
        )
    };
    let right_table = other.unwrap_or(table);
    // One table: a label may name the pair either way round.
    let pairs = if other.is_some() {
        "SELECT a._row AS l, b._row AS r, x.is_match FROM labels AS x JOIN ka AS a ON a.k = x.left_key JOIN kb AS b ON b.k = x.right_key"
    } else {
        "SELECT least(a._row, b._row) AS l, greatest(a._row, b._row) AS r, x.is_match FROM labels AS x JOIN ka AS a ON a.k = x.left_key JOIN ka AS b ON b.k = x.right_key WHERE a._row <> b._row"
    };
    conn.execute(
        &format!(
            "CREATE OR REPLACE TEMP TABLE __match_labels AS
             WITH labels AS (SELECT left_key, right_key, is_match FROM {META_SCHEMA}.match_labels WHERE table_name = ? AND other = ?),
                  ka AS ({}), kb AS ({})
             SELECT l, r, bool_and(is_match) AS is_match FROM ({pairs}) GROUP BY l, r",
            keys(table, "__match_a", "SELECT left_key FROM labels UNION SELECT right_key FROM labels"),
            keys(right_table, right_prepared, "SELECT right_key FROM labels"),
        ),
        duckdb::params![table, other.unwrap_or("")],
    )?;
    let n: i64 = conn.query_row("SELECT count(*) FROM __match_labels", [], |r| r.get(0))?;
    Ok(n as u64)
}
