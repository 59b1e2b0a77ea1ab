//! A run's clusters and pairs kept for review: paged, explained pair by pair, and counted
//! at other thresholds.

use duckdb::Connection;

use super::compare::Comparison;
use super::{PAIRS_TABLE_FLOOR, SPLIT_BELOW, Sides, cluster};
use crate::engine::error::Result;
use crate::engine::sql::quote_ident;
use crate::engine::workspace::{ColumnInfo, table_columns};

/// A run's clusters and pairs, kept in scratch tables for the window to page through.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchReview {
    pub(super) prefix: String,
    pub table: String,
    pub link: Option<String>,
    /// Rows of `table`; rows of the linked table are numbered after them.
    pub(super) rows_a: u64,
    /// Rows of both tables.
    pub(super) rows_all: u64,
    pub comparisons: Vec<Comparison>,
    pub(super) weights: Vec<Vec<f64>>,
    pub prior_weight: f64,
}

/// One cluster in the review list.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSummary {
    pub id: u32,
    pub size: u64,
    /// The least probability among the links that hold it.
    pub least: f64,
}

/// A cluster's rows side by side.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterRows {
    pub columns: Vec<String>,
    /// Where each row comes from ("row 12", or "b row 7" when linking) and its cells as text.
    pub rows: Vec<(String, Vec<Option<String>>)>,
}

/// What one comparison added to a pair's weight.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    pub column: String,
    /// The level the pair is at ("exact", "different"…), or "missing".
    pub level: String,
    pub weight: f64,
}

/// A scored pair and why: the prior's weight plus each comparison's adds up to its weight.
#[derive(Clone, Debug, PartialEq)]
pub struct PairExplained {
    /// The two rows' numbers in the review (for labelling the pair).
    pub left_node: u32,
    pub right_node: u32,
    pub left: String,
    pub right: String,
    pub probability: f64,
    pub weight: f64,
    pub parts: Vec<Contribution>,
}

/// What one threshold gives ([`MatchReview::at_threshold`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThresholdCounts {
    pub threshold: f64,
    pub pairs: u64,
    pub clusters: u64,
    pub rows: u64,
}

/// Rows of a cluster or pairs shown at most.
const REVIEW_LIMIT: u64 = 200;

impl MatchReview {
    fn scratch(&self, part: &str) -> String {
        format!("{}.main.{}", crate::engine::sql::SCRATCH_DB, quote_ident(&format!("{}_{part}", self.prefix)))
    }

    pub(super) fn create(&self, conn: &Connection, sides: &Sides) -> Result<()> {
        let rowid_of = |node: &str| {
            if sides.is_link() {
                format!("CASE WHEN {node} < {n} THEN (SELECT _rowid FROM __match_a WHERE _row = {node}) ELSE (SELECT _rowid FROM __match_b WHERE _row = {node} - {n}) END", n = sides.n_a)
            } else {
                format!("(SELECT _rowid FROM __match_a WHERE _row = {node})")
            }
        };
        conn.execute_batch(&format!(
            "CREATE TABLE {clusters} AS
             SELECT c.node, c.cluster, c.p, {rowid} AS rid, count(*) OVER (PARTITION BY c.cluster) AS size FROM __match_clusters AS c;
             CREATE TABLE {pairs} AS
             SELECT p.l, p.r + {offset} AS r, p.p, p.weight, {levels}, a.cluster
             FROM __match_pairs AS p JOIN {clusters} AS a ON a.node = p.l JOIN {clusters} AS b ON b.node = p.r + {offset}
             WHERE a.cluster = b.cluster AND p.p >= {PAIRS_TABLE_FLOOR};
             CREATE TABLE {scores} AS SELECT l, r + {offset} AS r, p FROM __match_pairs WHERE p >= {PAIRS_TABLE_FLOOR};
             CREATE TABLE {groups} AS
             SELECT c.cluster, max(c.size) AS size, coalesce(min(p.p) FILTER (WHERE p.p >= 0), 1.0) AS least
             FROM {clusters} AS c LEFT JOIN {pairs} AS p ON p.cluster = c.cluster AND p.l = c.node GROUP BY c.cluster
             ORDER BY size DESC, least, c.cluster;",
            clusters = self.scratch("clusters"),
            pairs = self.scratch("pairs"),
            groups = self.scratch("groups"),
            scores = self.scratch("scores"),
            rowid = rowid_of("c.node"),
            offset = if sides.is_link() { sides.n_a } else { 0 },
            levels = (0..self.comparisons.len()).map(|i| format!("p.g{i}")).collect::<Vec<_>>().join(", "),
        ))?;
        Ok(())
    }

    /// Clusters, largest and least certain first, from `offset`.
    pub fn clusters_page(&self, conn: &Connection, offset: u64, limit: u64) -> Result<Vec<ClusterSummary>> {
        let mut stmt = conn.prepare(&format!("SELECT cluster, size, least FROM {} LIMIT ? OFFSET ?", self.scratch("groups")))?;
        let rows = stmt.query_map(duckdb::params![limit as i64, offset as i64], |r| Ok(ClusterSummary { id: r.get(0)?, size: r.get::<_, i64>(1)? as u64, least: r.get(2)? }))?;
        Ok(rows.collect::<duckdb::Result<_>>()?)
    }

    fn label(&self, node: u32) -> String {
        match &self.link {
            Some(b) if u64::from(node) >= self.rows_a => format!("{b} row {}", u64::from(node) - self.rows_a + 1),
            Some(_) => format!("{} row {}", self.table, node + 1),
            None => format!("row {}", node + 1),
        }
    }

    /// The rows of cluster `id` (at most 200), in row order, as text.
    pub fn cluster_rows(&self, conn: &Connection, id: u32) -> Result<ClusterRows> {
        let columns_a = table_columns(conn, &self.table)?;
        let columns_b = match &self.link {
            Some(b) => Some(table_columns(conn, b)?),
            None => None,
        };
        let columns: Vec<String> = columns_a.iter().map(|c| c.name.clone()).collect();
        let side = |table: &str, have: &[ColumnInfo], from_b: bool| {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| match have.iter().find(|h| h.name.eq_ignore_ascii_case(c)) {
                    Some(h) => format!("CAST(t.{} AS VARCHAR)", quote_ident(&h.name)),
                    None => "NULL".to_string(),
                })
                .collect();
            let which = if from_b { format!("c.node >= {}", self.rows_a) } else if self.link.is_some() { format!("c.node < {}", self.rows_a) } else { "TRUE".into() };
            format!(
                "SELECT c.node, {} FROM {} AS c JOIN {} AS t ON t.rowid = c.rid WHERE c.cluster = ? AND {which}",
                cells.join(", "),
                self.scratch("clusters"),
                quote_ident(table)
            )
        };
        let mut sql = side(&self.table, &columns_a, false);
        if let (Some(b), Some(have)) = (&self.link, &columns_b) {
            sql = format!("{sql} UNION ALL {}", side(b, have, true));
        }
        let sql = format!("SELECT * FROM ({sql}) ORDER BY 1 LIMIT {REVIEW_LIMIT}");
        let mut stmt = conn.prepare(&sql)?;
        let params: Vec<u32> = if self.link.is_some() { vec![id, id] } else { vec![id] };
        let n = columns.len();
        let rows = stmt.query_map(duckdb::params_from_iter(params), |r| {
            let node: u32 = r.get(0)?;
            let cells = (1..=n).map(|i| r.get::<_, Option<String>>(i)).collect::<duckdb::Result<Vec<_>>>()?;
            Ok((node, cells))
        })?;
        let rows = rows.collect::<duckdb::Result<Vec<_>>>()?.into_iter().map(|(node, cells)| (self.label(node), cells)).collect();
        Ok(ClusterRows { columns, rows })
    }

    /// The scored pairs inside cluster `id`, most likely first, each explained.
    pub fn cluster_pairs(&self, conn: &Connection, id: u32) -> Result<Vec<PairExplained>> {
        let k = self.comparisons.len();
        let levels: Vec<String> = (0..k).map(|i| format!("g{i}")).collect();
        let mut stmt = conn.prepare(&format!("SELECT l, r, p, weight, {} FROM {} WHERE cluster = ? ORDER BY p DESC, l, r LIMIT {REVIEW_LIMIT}", levels.join(", "), self.scratch("pairs")))?;
        let rows = stmt.query_map([id], |r| {
            let codes = (0..k).map(|i| r.get::<_, i8>(4 + i)).collect::<duckdb::Result<Vec<_>>>()?;
            Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?, r.get::<_, f64>(2)?, r.get::<_, f64>(3)?, codes))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (l, r, p, weight, codes) = row?;
            let parts = self
                .comparisons
                .iter()
                .zip(&codes)
                .enumerate()
                .map(|(i, (c, &code))| match usize::try_from(code) {
                    Ok(level) => Contribution { column: c.column.clone(), level: c.kind.level_labels()[level].to_string(), weight: self.weights[i][level] },
                    Err(_) => Contribution { column: c.column.clone(), level: "missing".into(), weight: 0.0 },
                })
                .collect();
            out.push(PairExplained { left_node: l, right_node: r, left: self.label(l), right: self.label(r), probability: p, weight, parts });
        }
        Ok(out)
    }

    /// What another threshold would give: pairs at or above it, the clusters they form (split
    /// where one doubtful link holds them, as a run does) and the rows in those clusters.
    pub fn at_threshold(&self, conn: &Connection, threshold: f64) -> Result<ThresholdCounts> {
        let edges = super::steps::read_edges(conn, &format!("SELECT l, r, p FROM {} WHERE p >= ?", self.scratch("scores")), threshold, 0)?;
        let formed = cluster::form(self.rows_all as usize, &edges, SPLIT_BELOW);
        Ok(ThresholdCounts { threshold, pairs: edges.len() as u64, clusters: formed.sizes.len() as u64, rows: formed.best.len() as u64 })
    }

    /// The table and rowid of a clustered row.
    pub fn row_of(&self, conn: &Connection, node: u32) -> Result<(String, i64)> {
        let rid: i64 = conn.query_row(&format!("SELECT rid FROM {} WHERE node = ?", self.scratch("clusters")), [node], |r| r.get(0))?;
        let table = match &self.link {
            Some(b) if u64::from(node) >= self.rows_a => b.clone(),
            _ => self.table.clone(),
        };
        Ok((table, rid))
    }

    /// Drops the review's tables.
    pub fn discard(&self, conn: &Connection) {
        for part in ["clusters", "pairs", "groups", "scores"] {
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", self.scratch(part)));
        }
    }
}
