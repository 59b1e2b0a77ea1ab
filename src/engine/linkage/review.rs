//! A run's clusters and pairs kept for review: paged, explained pair by pair, and counted
//! at other thresholds.

use duckdb::Connection;

use super::compare::Comparison;
use super::{PAIRS_TABLE_FLOOR, SPLIT_BELOW, Sides, cluster};
use crate::engine::error::{EngineError, Result};
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
    /// Pairs at or above it link their rows.
    pub threshold: f64,
    /// Per comparison: its exact matches weigh by how common the value is (`t{i}`).
    pub(super) tf: Vec<bool>,
}

/// A cluster of three or more rows held together by one link below this is flagged.
pub const FLAG_BELOW: f64 = 0.99;

/// The one link a flagged cluster hangs on: without it, the cluster falls in two.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeakLink {
    pub left: u32,
    pub right: u32,
    pub probability: f64,
}

/// What a split did.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitOutcome {
    /// The clusters of two or more rows the split cluster became.
    pub clusters: Vec<u32>,
    /// Rows the split left in no cluster.
    pub alone: u64,
    /// Pairs across the split, labelled "not the same" so later runs keep it.
    pub labelled: u64,
}

/// One cluster in the review list.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSummary {
    pub id: u32,
    pub size: u64,
    /// The least probability among the links that hold it.
    pub least: f64,
    /// Flagged: the one doubtful link it hangs on.
    pub weak_link: Option<WeakLink>,
}

/// A cluster's rows side by side.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterRows {
    pub columns: Vec<String>,
    /// Where each row comes from ("row 12", or "b row 7" when linking) and its cells as text.
    pub rows: Vec<(String, Vec<Option<String>>)>,
    /// Each row's number in the review (for splitting rows off and choosing a row).
    pub nodes: Vec<u32>,
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
                format!(
                    "CASE WHEN {node} < {n} THEN (SELECT _rowid FROM __match_a WHERE _row = {node}) ELSE (SELECT _rowid FROM __match_b WHERE _row = {node} - {n}) END",
                    n = sides.n_a
                )
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
             FROM {clusters} AS c LEFT JOIN {pairs} AS p ON p.cluster = c.cluster AND p.l = c.node GROUP BY c.cluster;
             CREATE TABLE {weak} (cluster UINTEGER, l UINTEGER, r UINTEGER, p DOUBLE);",
            clusters = self.scratch("clusters"),
            pairs = self.scratch("pairs"),
            groups = self.scratch("groups"),
            scores = self.scratch("scores"),
            weak = self.scratch("weak"),
            rowid = rowid_of("c.node"),
            offset = if sides.is_link() { sides.n_a } else { 0 },
            levels = (0..self.comparisons.len())
                .map(|i| if self.tf[i] { format!("p.g{i}, p.t{i}") } else { format!("p.g{i}") })
                .collect::<Vec<_>>()
                .join(", "),
        ))?;
        self.flag_weak_links(conn, &format!("IN (SELECT cluster FROM {} WHERE size >= 3)", self.scratch("groups")))
    }

    /// Finds the clusters `which` selects (an SQL condition on the cluster id) that hang on
    /// one doubtful link, and keeps that link.
    fn flag_weak_links(&self, conn: &Connection, which: &str) -> Result<()> {
        let mut stmt = conn.prepare(&format!("SELECT cluster, l, r, p FROM {} WHERE p >= ? AND cluster {which} ORDER BY cluster", self.scratch("pairs")))?;
        let mut rows = stmt.query([self.threshold])?;
        let mut by_cluster: Vec<(u32, Vec<(u32, u32, f64)>)> = Vec::new();
        while let Some(row) = rows.next()? {
            let id: u32 = row.get(0)?;
            let edge = (row.get(1)?, row.get(2)?, row.get(3)?);
            match by_cluster.last_mut() {
                Some((last, edges)) if *last == id => edges.push(edge),
                _ => by_cluster.push((id, vec![edge])),
            }
        }
        let mut flagged = Vec::new();
        for (id, edges) in by_cluster {
            let mut nodes: Vec<u32> = edges.iter().flat_map(|&(l, r, _)| [l, r]).collect();
            nodes.sort_unstable();
            nodes.dedup();
            if nodes.len() < 3 {
                continue;
            }
            if let Some(&(l, r, p)) = cluster::bridges(&nodes, &edges).first().filter(|b| b.2 < FLAG_BELOW) {
                flagged.push(format!("({id}, {l}, {r}, {p:?})"));
            }
        }
        for chunk in flagged.chunks(1000) {
            conn.execute_batch(&format!("INSERT INTO {} VALUES {}", self.scratch("weak"), chunk.join(", ")))?;
        }
        Ok(())
    }

    /// Clusters, largest and least certain first, from `offset`.
    pub fn clusters_page(&self, conn: &Connection, offset: u64, limit: u64) -> Result<Vec<ClusterSummary>> {
        let mut stmt = conn.prepare(&format!(
            "SELECT g.cluster, g.size, g.least, w.l, w.r, w.p FROM {} AS g LEFT JOIN {} AS w USING (cluster) ORDER BY g.size DESC, g.least, g.cluster LIMIT ? OFFSET ?",
            self.scratch("groups"),
            self.scratch("weak")
        ))?;
        let rows = stmt.query_map(duckdb::params![limit as i64, offset as i64], |r| {
            let weak_link = match (r.get::<_, Option<u32>>(3)?, r.get::<_, Option<u32>>(4)?, r.get::<_, Option<f64>>(5)?) {
                (Some(left), Some(right), Some(probability)) => Some(WeakLink { left, right, probability }),
                _ => None,
            };
            Ok(ClusterSummary { id: r.get(0)?, size: r.get::<_, i64>(1)? as u64, least: r.get(2)?, weak_link })
        })?;
        Ok(rows.collect::<duckdb::Result<_>>()?)
    }

    fn label(&self, node: u32) -> String {
        match &self.link {
            Some(b) if u64::from(node) >= self.rows_a => {
                format!("{b} row {}", u64::from(node) - self.rows_a + 1)
            }
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
            let which = if from_b {
                format!("c.node >= {}", self.rows_a)
            } else if self.link.is_some() {
                format!("c.node < {}", self.rows_a)
            } else {
                "TRUE".into()
            };
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
        let read = rows.collect::<duckdb::Result<Vec<_>>>()?;
        let nodes = read.iter().map(|(node, _)| *node).collect();
        let rows = read.into_iter().map(|(node, cells)| (self.label(node), cells)).collect();
        Ok(ClusterRows { columns, rows, nodes })
    }

    /// The scored pairs inside cluster `id`, most likely first, each explained.
    pub fn cluster_pairs(&self, conn: &Connection, id: u32) -> Result<Vec<PairExplained>> {
        let k = self.comparisons.len();
        let mut levels: Vec<String> = (0..k).map(|i| format!("g{i}")).collect();
        levels.extend((0..k).map(|i| if self.tf[i] { format!("t{i}") } else { "CAST(NULL AS FLOAT)".into() }));
        let mut stmt =
            conn.prepare(&format!("SELECT l, r, p, weight, {} FROM {} WHERE cluster = ? ORDER BY p DESC, l, r LIMIT {REVIEW_LIMIT}", levels.join(", "), self.scratch("pairs")))?;
        let rows = stmt.query_map([id], |r| {
            let codes = (0..k).map(|i| r.get::<_, i8>(4 + i)).collect::<duckdb::Result<Vec<_>>>()?;
            let adjusted = (0..k).map(|i| r.get::<_, Option<f32>>(4 + k + i)).collect::<duckdb::Result<Vec<_>>>()?;
            Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?, r.get::<_, f64>(2)?, r.get::<_, f64>(3)?, codes, adjusted))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (l, r, p, weight, codes, adjusted) = row?;
            let parts = self
                .comparisons
                .iter()
                .zip(codes.iter().zip(&adjusted))
                .enumerate()
                .map(|(i, (c, (&code, &t)))| match (usize::try_from(code), t) {
                    (Ok(level), Some(t)) => Contribution {
                        column: c.column.clone(),
                        level: format!("{}, {} value {t:+.1}", c.kind.level_labels()[level], if t < 0.0 { "a common" } else { "a rare" }),
                        weight: self.weights[i][level] + f64::from(t),
                    },
                    (Ok(level), None) => Contribution { column: c.column.clone(), level: c.kind.level_labels()[level].to_string(), weight: self.weights[i][level] },
                    (Err(_), _) => Contribution { column: c.column.clone(), level: "missing".into(), weight: 0.0 },
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

    /// Splits the rows `moved` off cluster `id`. Every scored pair across the split is
    /// labelled "not the same", kept with the table so later runs split it too; what is left
    /// on each side forms clusters again from its own links, as a run forms them.
    pub fn split(&self, conn: &Connection, id: u32, moved: &[u32]) -> Result<SplitOutcome> {
        use std::collections::{HashMap, HashSet};
        let nodes: Vec<u32> = {
            let mut stmt = conn.prepare(&format!("SELECT node FROM {} WHERE cluster = ? ORDER BY node", self.scratch("clusters")))?;
            stmt.query_map([id], |r| r.get(0))?.collect::<duckdb::Result<_>>()?
        };
        if nodes.is_empty() {
            return Err(EngineError::InvalidOption(format!("cluster {} is not in this review any more; find matches again", id + 1)));
        }
        let moved: HashSet<u32> = moved.iter().copied().collect();
        if moved.is_empty() || moved.len() >= nodes.len() || moved.iter().any(|n| nodes.binary_search(n).is_err()) {
            return Err(EngineError::InvalidOption(format!("to split cluster {}, tick some of its {} rows, not all of them", id + 1, nodes.len())));
        }
        let pairs: Vec<(u32, u32, f64)> = {
            let mut stmt = conn.prepare(&format!("SELECT l, r, p FROM {} WHERE cluster = ?", self.scratch("pairs")))?;
            stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<duckdb::Result<_>>()?
        };
        let (across, within): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|&(l, r, _)| moved.contains(&l) != moved.contains(&r));
        let across: Vec<(u32, u32)> = across.into_iter().map(|(l, r, _)| (l, r)).collect();
        super::labels::record(conn, self, &across, false)?;

        let local: HashMap<u32, u32> = nodes.iter().enumerate().map(|(i, &n)| (n, i as u32)).collect();
        let edges: Vec<(u32, u32, f64)> = within.iter().filter(|e| e.2 >= self.threshold).map(|&(l, r, p)| (local[&l], local[&r], p)).collect();
        let formed = cluster::form(nodes.len(), &edges, SPLIT_BELOW);
        let placed: Vec<String> = formed
            .best
            .iter()
            .map(|(&i, &p)| {
                let part = formed.ids[i as usize];
                format!("({}, {}, {p:?}, {})", nodes[i as usize], nodes[part as usize], formed.sizes[&part])
            })
            .collect();
        let mut clusters: Vec<u32> = formed.sizes.keys().map(|&part| nodes[part as usize]).collect();
        clusters.sort_unstable();
        let list = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        let new_ids = if clusters.is_empty() { "NULL".to_string() } else { list(&clusters) };
        let placed_values =
            if placed.is_empty() { "SELECT NULL::UINTEGER, NULL::UINTEGER, NULL::DOUBLE, NULL::BIGINT WHERE FALSE".to_string() } else { format!("VALUES {}", placed.join(", ")) };
        let across_values = if across.is_empty() {
            "SELECT NULL::UINTEGER, NULL::UINTEGER WHERE FALSE".to_string()
        } else {
            format!("VALUES {}", across.iter().map(|(l, r)| format!("({l}, {r})")).collect::<Vec<_>>().join(", "))
        };
        conn.execute_batch("BEGIN TRANSACTION")?;
        let outcome = conn
            .execute_batch(&format!(
                "DELETE FROM {clusters_t} WHERE cluster = {id} AND node NOT IN (SELECT node FROM ({placed_values}) AS s(node, cluster, p, size));
             UPDATE {clusters_t} SET cluster = s.cluster, p = s.p, size = s.size FROM ({placed_values}) AS s(node, cluster, p, size) WHERE {clusters_t}.node = s.node;
             DELETE FROM {pairs_t} WHERE cluster = {id} AND l NOT IN (SELECT node FROM ({placed_values}) AS s(node, cluster, p, size));
             UPDATE {pairs_t} SET cluster = s.cluster FROM ({placed_values}) AS s(node, cluster, p, size) WHERE {pairs_t}.cluster = {id} AND {pairs_t}.l = s.node;
             DELETE FROM {pairs_t} WHERE cluster IN ({new_ids}) AND NOT EXISTS (SELECT 1 FROM {clusters_t} AS c WHERE c.node = {pairs_t}.r AND c.cluster = {pairs_t}.cluster);
             DELETE FROM {scores_t} WHERE (l, r) IN (SELECT (l, r) FROM ({across_values}) AS x(l, r));
             DELETE FROM {groups_t} WHERE cluster = {id};
             DELETE FROM {weak_t} WHERE cluster = {id};
             INSERT INTO {groups_t}
             SELECT c.cluster, max(c.size), coalesce(min(p.p) FILTER (WHERE p.p >= 0), 1.0)
             FROM {clusters_t} AS c LEFT JOIN {pairs_t} AS p ON p.cluster = c.cluster AND p.l = c.node WHERE c.cluster IN ({new_ids}) GROUP BY c.cluster;",
                clusters_t = self.scratch("clusters"),
                pairs_t = self.scratch("pairs"),
                scores_t = self.scratch("scores"),
                groups_t = self.scratch("groups"),
                weak_t = self.scratch("weak"),
            ))
            .map_err(EngineError::from)
            .and_then(|()| self.flag_weak_links(conn, &format!("IN ({new_ids})")));
        match outcome {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        Ok(SplitOutcome { alone: (nodes.len() - formed.best.len()) as u64, clusters, labelled: across.len() as u64 })
    }

    /// Splits cluster `id` where `link` holds it: the rows on the right-hand row's side of
    /// that link go off on their own.
    pub fn split_at(&self, conn: &Connection, id: u32, link: WeakLink) -> Result<SplitOutcome> {
        let pairs: Vec<(u32, u32, f64)> = {
            let mut stmt = conn.prepare(&format!("SELECT l, r, p FROM {} WHERE cluster = ? AND p >= ?", self.scratch("pairs")))?;
            stmt.query_map(duckdb::params![id, self.threshold], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<duckdb::Result<_>>()?
        };
        // The rows still reached from the right-hand row without the link.
        let mut side = vec![link.right];
        let mut seen: std::collections::HashSet<u32> = side.iter().copied().collect();
        while let Some(node) = side.pop() {
            for &(l, r, _) in &pairs {
                if (l, r) == (link.left, link.right) || (l, r) == (link.right, link.left) {
                    continue;
                }
                let next = if l == node {
                    r
                } else if r == node {
                    l
                } else {
                    continue;
                };
                if seen.insert(next) {
                    side.push(next);
                }
            }
        }
        if seen.contains(&link.left) {
            return Err(EngineError::InvalidOption(format!("cluster {} does not fall in two without that link; tick the rows to split off instead", id + 1)));
        }
        self.split(conn, id, &seen.into_iter().collect::<Vec<_>>())
    }

    /// Drops the review's tables.
    pub fn discard(&self, conn: &Connection) {
        for part in ["clusters", "pairs", "groups", "scores", "weak"] {
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", self.scratch(part)));
        }
    }
}
