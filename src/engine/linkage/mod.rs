//! Record-level fuzzy matching: the rows of one table that are the same person (or thing)
//! written differently, or each row of one table matched to its rows in another.
//!
//! Everything heavy is DuckDB SQL: values are prepared once per row, blocking rules join the
//! rows that share a key, each candidate pair is stored as its two row numbers and one small
//! level code per comparison (never the joined text), random pairs give u, and the aggregated
//! patterns of each blocking rule train m by EM ([`model`]). Pairs above the threshold are
//! clustered by union-find in Rust, over row numbers only. Nothing changes until the result
//! is written to new tables, in one transaction.

pub mod apply;
pub mod cluster;
pub mod compare;
pub mod distance;
pub mod labels;
pub mod model;
pub mod setup;

use std::collections::HashMap;
use std::sync::Arc;

use duckdb::Connection;
use serde::{Deserialize, Serialize};

use self::compare::Comparison;
use self::model::{Fitted, LevelModel, Pattern};
use super::dedupe::unused_name;
use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::sql::{quote_ident, quote_literal, validate_table_name};
use super::workspace::{ColumnInfo, Workspace, new_table_name, register_in_catalog, table_columns};

/// Random pairs that estimate u.
const RANDOM_PAIRS: u64 = 1_000_000;
/// Candidate pairs a run may compare unless the user raises it.
pub const DEFAULT_MAX_PAIRS: u64 = 50_000_000;
/// A cluster held together by one link below this probability is split there.
const SPLIT_BELOW: f64 = 0.9;
/// Pairs below this probability are not written to the pairs table.
const PAIRS_TABLE_FLOOR: f64 = 0.01;

/// What to match and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchSpec {
    pub table: String,
    /// Link each row of `table` to its matches in this table instead of matching `table` with itself.
    pub link: Option<String>,
    /// The comparisons; empty: proposed from each column's name, type and values.
    pub comparisons: Vec<Comparison>,
    /// With the automatic set-up: only these columns (empty: all).
    pub columns: Vec<String>,
    /// With the automatic set-up: never these columns.
    pub exclude: Vec<String>,
    /// Blocking rules, each a list of compared columns that must be equal (after the
    /// comparison's preparation); empty: proposed from pair counts.
    pub blocking: Vec<Vec<String>>,
    /// Pairs at or above this match probability are matches.
    pub threshold: f64,
    /// Refuse to compare more candidate pairs than this.
    pub max_pairs: u64,
    /// Write the rows with their cluster to this new table, and the pairs to `<into>_pairs`.
    pub into: Option<String>,
    /// Keep the clusters and pairs for review ([`MatchReview`]) in scratch tables.
    pub review: bool,
    /// With `into`: merge each cluster into one row ([`apply`]) in the same transaction.
    pub apply: Option<apply::ApplySpec>,
}

impl MatchSpec {
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            link: None,
            comparisons: Vec::new(),
            columns: Vec::new(),
            exclude: Vec::new(),
            blocking: Vec::new(),
            threshold: 0.5,
            max_pairs: DEFAULT_MAX_PAIRS,
            into: None,
            review: false,
            apply: None,
        }
    }
}

/// A blocking rule and the pairs it gives on its own.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleReport {
    pub columns: Vec<String>,
    pub pairs: u64,
}

/// One comparison as it was set up and trained.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComparisonReport {
    pub column: String,
    pub kind: compare::CompareKind,
    /// Why this comparison was chosen ("name by its name"), for the automatic set-up.
    pub reason: Option<String>,
    /// How many training sessions estimated its m (0: the starting values were kept).
    pub trained_sessions: usize,
    pub levels: Vec<LevelModel>,
}

/// What a run found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchReport {
    pub table: String,
    pub link: Option<String>,
    pub rows: u64,
    pub rows_linked: Option<u64>,
    pub comparisons: Vec<ComparisonReport>,
    /// Columns the automatic set-up left out, with why.
    pub left_out: Vec<setup::Proposal>,
    pub rules: Vec<RuleReport>,
    /// Distinct candidate pairs the rules gave together.
    pub candidate_pairs: u64,
    pub random_pairs: u64,
    /// λ: the estimated share of all pairs that match.
    pub prior: f64,
    pub threshold: f64,
    pub pairs_above_threshold: u64,
    /// Clusters of two or more rows.
    pub clusters: u64,
    pub rows_in_clusters: u64,
    pub largest_cluster: u64,
    /// Clusters of three or more rows that one doubtful link held together, split there.
    pub split_clusters: u64,
    pub into: Option<String>,
    pub pairs_table: Option<String>,
    /// Labelled pairs whose label took the place of their score.
    pub labels_used: u64,
    /// The merged table and its rows, with `apply` asked.
    pub merged: Option<(String, u64)>,
    /// The clusters and pairs kept for review, with `review` asked.
    #[serde(skip)]
    pub review: Option<MatchReview>,
}

impl MatchReport {
    /// What the run found, in one sentence.
    pub fn summary(&self) -> String {
        let g = super::config::group_digits;
        format!(
            "{} candidate pairs compared · {} at or above {:.2} · {} clusters hold {} rows (largest {}){}",
            g(self.candidate_pairs),
            g(self.pairs_above_threshold),
            self.threshold,
            g(self.clusters),
            g(self.rows_in_clusters),
            g(self.largest_cluster),
            if self.split_clusters > 0 { format!(" · {} split where one doubtful link held them", g(self.split_clusters)) } else { String::new() }
        ) + &if self.labels_used > 0 { format!(" · {} labelled pairs used", g(self.labels_used)) } else { String::new() }
    }
}

pub struct MatchJob {
    pub workspace: Arc<Workspace>,
    pub spec: MatchSpec,
}

impl Job for MatchJob {
    type Output = MatchReport;

    fn title(&self) -> String {
        match &self.spec.link {
            Some(other) => format!("Link {} to {other}", self.spec.table),
            None => format!("Match records of {}", self.spec.table),
        }
    }

    fn run(self, ctx: &JobCtx) -> Result<MatchReport> {
        let conn = self.workspace.connect()?;
        if let Some(name) = &self.spec.into {
            validate_table_name(name)?;
        }
        if let Some(a) = &self.spec.apply {
            if self.spec.link.is_some() || self.spec.into.is_none() {
                return Err(EngineError::InvalidOption("merging clusters works on one table, with the rows and their cluster written beside it".into()));
            }
            if let apply::ApplyTarget::NewTable(Some(name)) = &a.target {
                validate_table_name(name)?;
            }
        }
        let replacing = self.spec.apply.as_ref().is_some_and(|a| a.target == apply::ApplyTarget::Replace);
        let _writing = replacing.then(|| self.workspace.writing());
        // Replacing: no other write may land between reading the table and replacing it.
        let _lock = if replacing { Some(super::catalog::lock_table(&self.workspace, &self.spec.table, ctx)?) } else { None };
        ctx.watch(&conn)?;
        let outcome = run(&conn, &self.spec, ctx);
        ctx.unwatch();
        for t in ["__match_a", "__match_b", "__match_pairs", "__match_random", "__match_clusters", "__match_labels"] {
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {t}"));
        }
        let report = outcome?;
        if replacing {
            let _ = super::profile::store::mark_changed(&conn, Some(&self.spec.table));
        }
        ctx.record_output(report.rows + report.rows_linked.unwrap_or(0), 0);
        Ok(report)
    }
}

/// The two sides of a run: the table and, when linking, the other table.
struct Sides {
    a: String,
    b: Option<String>,
    n_a: u64,
    n_b: u64,
}

impl Sides {
    fn is_link(&self) -> bool {
        self.b.is_some()
    }

    /// The prepared table of the right-hand side of a pair.
    fn right(&self) -> &'static str {
        if self.is_link() { "__match_b" } else { "__match_a" }
    }

    /// Every pair the run could compare.
    fn all_pairs(&self) -> f64 {
        if self.is_link() { self.n_a as f64 * self.n_b as f64 } else { self.n_a as f64 * (self.n_a as f64 - 1.0) / 2.0 }
    }

    /// Keeps each unordered pair of one table once.
    fn pair_order(&self) -> &'static str {
        if self.is_link() { "TRUE" } else { "l._row < r._row" }
    }
}

fn table_only(conn: &Connection, name: &str) -> Result<Vec<ColumnInfo>> {
    let columns = table_columns(conn, name)?;
    let is_table: i64 = conn.query_row(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND lower(table_name) = lower(?)",
        [name],
        |r| r.get(0),
    )?;
    if is_table == 0 {
        return Err(EngineError::InvalidOption(format!("{name} is a file opened in place; import it to match its rows")));
    }
    Ok(columns)
}

fn find_column<'a>(columns: &'a [ColumnInfo], table: &str, name: &str) -> Result<&'a ColumnInfo> {
    columns
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| EngineError::ColumnNotFound { table: table.to_string(), column: name.to_string() })
}

/// The set-up a run uses: comparisons, the prepared rows and the blocking rules with their
/// pair counts.
struct Prepared {
    comparisons: Vec<Comparison>,
    reasons: Vec<Option<String>>,
    left_out: Vec<setup::Proposal>,
    sides: Sides,
    rules: Vec<Vec<usize>>,
    rule_reports: Vec<RuleReport>,
    columns_a: Vec<ColumnInfo>,
    columns_b: Option<Vec<ColumnInfo>>,
}

impl Prepared {
    fn setup(&self) -> MatchSetup {
        MatchSetup {
            comparisons: self.comparisons.clone(),
            reasons: self.reasons.clone(),
            left_out: self.left_out.clone(),
            rules: self.rule_reports.clone(),
            rows: self.sides.n_a,
            rows_linked: self.sides.b.as_ref().map(|_| self.sides.n_b),
        }
    }
}

/// The proposed (or given) set-up and what its blocking rules give, before anything runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchSetup {
    pub comparisons: Vec<Comparison>,
    /// Why each comparison was proposed; `None` for one the user gave.
    pub reasons: Vec<Option<String>>,
    pub left_out: Vec<setup::Proposal>,
    pub rules: Vec<RuleReport>,
    pub rows: u64,
    pub rows_linked: Option<u64>,
}

impl MatchSetup {
    /// The most candidate pairs the rules give (pairs two rules share are counted twice).
    pub fn pairs_at_most(&self) -> u64 {
        self.rules.iter().map(|r| r.pairs).sum()
    }
}

/// Proposes the set-up (or checks the given one) and counts each blocking rule's pairs.
pub struct SetupJob {
    pub workspace: Arc<Workspace>,
    pub spec: MatchSpec,
}

impl Job for SetupJob {
    type Output = MatchSetup;

    fn title(&self) -> String {
        format!("Set up matching of {}", self.spec.table)
    }

    fn run(self, ctx: &JobCtx) -> Result<MatchSetup> {
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        let mut clock = PhaseClock::new(ctx);
        let outcome = prepare_run(&conn, &self.spec, &mut clock).map(|p| p.setup());
        drop(clock);
        ctx.unwatch();
        for t in ["__match_a", "__match_b"] {
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {t}"));
        }
        outcome
    }
}

fn prepare_run(conn: &Connection, spec: &MatchSpec, clock: &mut PhaseClock<'_>) -> Result<Prepared> {
    clock.phase("Setting up the comparisons");
    let columns_a = table_only(conn, &spec.table)?;
    let columns_b = match &spec.link {
        Some(other) => Some(table_only(conn, other)?),
        None => None,
    };
    // The automatic set-up, or the user's comparisons checked against both tables.
    let (comparisons, reasons, left_out) = if spec.comparisons.is_empty() {
        for name in spec.columns.iter().chain(&spec.exclude) {
            find_column(&columns_a, &spec.table, name)?;
        }
        let candidates: Vec<ColumnInfo> = columns_a
            .iter()
            .filter(|c| spec.columns.is_empty() || spec.columns.iter().any(|w| w.eq_ignore_ascii_case(&c.name)))
            .filter(|c| columns_b.as_ref().is_none_or(|b| b.iter().any(|x| x.name.eq_ignore_ascii_case(&c.name))))
            .cloned()
            .collect();
        let proposals = setup::propose(conn, &spec.table, spec.link.as_deref(), &candidates, &spec.exclude)?;
        let comparisons = setup::comparisons(&proposals);
        let reasons: Vec<Option<String>> = proposals.iter().filter(|p| p.kind.is_some()).map(|p| Some(p.reason.clone())).collect();
        let left_out: Vec<setup::Proposal> = proposals.into_iter().filter(|p| p.kind.is_none()).collect();
        (comparisons, reasons, left_out)
    } else {
        let mut checked = Vec::new();
        for c in &spec.comparisons {
            let column = find_column(&columns_a, &spec.table, &c.column)?;
            if let (Some(b), Some(other)) = (&columns_b, &spec.link) {
                find_column(b, other, &c.column)?;
            }
            checked.push(Comparison { column: column.name.clone(), kind: c.kind });
        }
        let reasons = vec![None; checked.len()];
        (checked, reasons, Vec::new())
    };
    if comparisons.is_empty() {
        return Err(EngineError::InvalidOption(format!("no column of {} is left to compare; name some with --compare COLUMN:KIND", spec.table)));
    }

    clock.phase("Preparing the rows");
    let n_a = prepare(conn, &spec.table, &comparisons, "__match_a")?;
    let n_b = match &spec.link {
        Some(other) => prepare(conn, other, &comparisons, "__match_b")?,
        None => n_a,
    };
    let sides = Sides { a: spec.table.clone(), b: spec.link.clone(), n_a, n_b };
    clock.ctx.checkpoint()?;

    clock.phase("Counting the pairs of each blocking rule");
    let rules: Vec<Vec<usize>> = if spec.blocking.is_empty() {
        propose_rules(conn, &sides, &comparisons)?
    } else {
        spec.blocking
            .iter()
            .map(|rule| {
                rule.iter()
                    .map(|name| {
                        comparisons.iter().position(|c| c.column.eq_ignore_ascii_case(name)).ok_or_else(|| {
                            EngineError::InvalidOption(format!("blocking rule column {name:?} is not one of the compared columns"))
                        })
                    })
                    .collect::<Result<Vec<usize>>>()
            })
            .collect::<Result<_>>()?
    };
    if rules.is_empty() {
        return Err(EngineError::InvalidOption("no blocking rule keeps the pairs few enough; name one with --block COLUMN[,COLUMN…]".into()));
    }
    let mut rule_reports = Vec::new();
    for rule in &rules {
        let pairs = count_rule_pairs(conn, &sides, &comparisons, rule)?;
        rule_reports.push(RuleReport { columns: rule.iter().map(|&i| comparisons[i].column.clone()).collect(), pairs });
    }
    let upper: u64 = rule_reports.iter().map(|r| r.pairs).sum();
    if upper > spec.max_pairs {
        let each: Vec<String> = rule_reports.iter().map(|r| format!("{}: {}", r.columns.join("+"), super::config::group_digits(r.pairs))).collect();
        return Err(EngineError::InvalidOption(format!(
            "the blocking rules give up to {} candidate pairs ({}), more than the limit of {}; use tighter rules or raise the limit",
            super::config::group_digits(upper),
            each.join(", "),
            super::config::group_digits(spec.max_pairs)
        )));
    }
    clock.ctx.checkpoint()?;
    Ok(Prepared { comparisons, reasons, left_out, sides, rules, rule_reports, columns_a, columns_b })
}

fn run(conn: &Connection, spec: &MatchSpec, ctx: &JobCtx) -> Result<MatchReport> {
    if !(spec.threshold > 0.0 && spec.threshold < 1.0) {
        return Err(EngineError::InvalidOption(format!("the threshold is a probability between 0 and 1; got {}", spec.threshold)));
    }
    let mut clock = PhaseClock::new(ctx);
    let Prepared { comparisons, reasons, left_out, sides, rules, rule_reports, columns_a, columns_b } = prepare_run(conn, spec, &mut clock)?;

    clock.phase("Comparing the candidate pairs");
    let candidate_pairs = create_pairs(conn, &sides, &comparisons, &rules)?;
    ctx.checkpoint()?;

    clock.phase("Estimating u from random pairs");
    let (u, random_pairs) = estimate_u(conn, &sides, &comparisons)?;
    ctx.checkpoint()?;

    let levels: Vec<usize> = comparisons.iter().map(|c| c.kind.levels()).collect();
    let mut sessions: Vec<Fitted> = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        clock.phase(format!("Training on the pairs of {}", rule_reports[i].columns.join(" + ")));
        let active: Vec<bool> = (0..comparisons.len()).map(|c| !rule.contains(&c)).collect();
        if !active.iter().any(|&a| a) {
            continue;
        }
        let patterns = patterns(conn, comparisons.len(), &format!("mask & {} <> 0", 1u64 << i))?;
        let fitted = model::em(&patterns, &u, &active, 100);
        tracing::debug!("match: session {:?}: {} pairs, match share {:.4} after {} rounds; m {:?}", rule_reports[i].columns, patterns.iter().map(|p| p.count).sum::<f64>(), fitted.matches, fitted.iterations, fitted.m);
        sessions.push(fitted);
        ctx.checkpoint()?;
    }
    let (m, trained) = model::combine(&sessions, &levels);

    clock.phase("Estimating how many pairs match");
    let prior = estimate_prior(conn, &sides, &rules, &comparisons, &m, &u)?;

    clock.phase("Scoring the pairs");
    let weights: Vec<Vec<f64>> = m.iter().zip(&u).map(|(m, u)| model::weights(m, u)).collect();
    score(conn, &comparisons, &weights, model::prior_weight(prior))?;
    let labels_used = if labels::count(conn, &spec.table, spec.link.as_deref())? > 0 {
        clock.phase("Using the labelled pairs");
        apply_labels(conn, &sides, spec, &comparisons, &weights, model::prior_weight(prior))?
    } else {
        0
    };
    ctx.checkpoint()?;

    clock.phase("Forming clusters");
    let clustered = form_clusters(conn, &sides, spec.threshold)?;
    ctx.checkpoint()?;

    let mut report = MatchReport {
        table: spec.table.clone(),
        link: spec.link.clone(),
        rows: sides.n_a,
        rows_linked: spec.link.as_ref().map(|_| sides.n_b),
        comparisons: comparisons
            .iter()
            .enumerate()
            .map(|(c, comparison)| ComparisonReport {
                column: comparison.column.clone(),
                kind: comparison.kind,
                reason: reasons[c].clone(),
                trained_sessions: trained[c],
                levels: comparison
                    .kind
                    .level_labels()
                    .iter()
                    .enumerate()
                    .map(|(k, label)| LevelModel { label: label.to_string(), m: m[c][k], u: u[c][k], weight: weights[c][k] })
                    .collect(),
            })
            .collect(),
        left_out,
        rules: rule_reports,
        candidate_pairs,
        random_pairs,
        prior,
        threshold: spec.threshold,
        pairs_above_threshold: clustered.edges,
        clusters: clustered.clusters,
        rows_in_clusters: clustered.rows_in_clusters,
        largest_cluster: clustered.largest,
        split_clusters: clustered.split,
        into: None,
        pairs_table: None,
        merged: None,
        labels_used,
        review: None,
    };
    if let Some(into) = &spec.into {
        clock.phase("Writing the result tables");
        let (table, pairs, merged) = ctx.transaction(conn, || {
            let (table, pairs) = write_result(conn, &sides, &comparisons, &weights, into, &columns_a, columns_b.as_deref())?;
            let merged = match &spec.apply {
                Some(a) => Some(apply::write_merged(conn, &spec.table, &columns_a, &table, a)?),
                None => None,
            };
            Ok((table, pairs, merged))
        })?;
        report.into = Some(table);
        report.pairs_table = Some(pairs);
        report.merged = merged;
    }
    if spec.review {
        clock.phase("Keeping the clusters for review");
        let review = MatchReview {
            prefix: format!("match_{}", super::sql::unique_suffix()),
            table: spec.table.clone(),
            link: spec.link.clone(),
            rows_a: sides.n_a,
            rows_all: sides.n_a + if sides.is_link() { sides.n_b } else { 0 },
            comparisons: comparisons.clone(),
            weights: weights.clone(),
            prior_weight: model::prior_weight(prior),
        };
        review.create(conn, &sides)?;
        report.review = Some(review);
    }
    Ok(report)
}

/// Names each phase of a run on its job and logs how long the one before took.
struct PhaseClock<'a> {
    ctx: &'a JobCtx,
    name: String,
    started: std::time::Instant,
}

impl<'a> PhaseClock<'a> {
    fn new(ctx: &'a JobCtx) -> Self {
        Self { ctx, name: String::new(), started: std::time::Instant::now() }
    }

    fn phase(&mut self, name: impl Into<String>) {
        if !self.name.is_empty() {
            tracing::debug!("match: {} in {:?}", self.name, self.started.elapsed());
        }
        self.name = name.into();
        self.started = std::time::Instant::now();
        self.ctx.phase(self.name.clone(), None);
    }
}

impl Drop for PhaseClock<'_> {
    fn drop(&mut self) {
        tracing::debug!("match: {} in {:?}", self.name, self.started.elapsed());
    }
}

/// A run's clusters and pairs, kept in scratch tables for the window to page through.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchReview {
    prefix: String,
    pub table: String,
    pub link: Option<String>,
    /// Rows of `table`; rows of the linked table are numbered after them.
    rows_a: u64,
    /// Rows of both tables.
    rows_all: u64,
    pub comparisons: Vec<Comparison>,
    weights: Vec<Vec<f64>>,
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
        format!("{}.main.{}", super::sql::SCRATCH_DB, quote_ident(&format!("{}_{part}", self.prefix)))
    }

    fn create(&self, conn: &Connection, sides: &Sides) -> Result<()> {
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
        let mut stmt = conn.prepare(&format!("SELECT l, r, p FROM {} WHERE p >= ?", self.scratch("scores")))?;
        let mut rows = stmt.query([threshold])?;
        let mut edges = Vec::new();
        while let Some(row) = rows.next()? {
            edges.push((row.get::<_, u32>(0)?, row.get::<_, u32>(1)?, row.get::<_, f64>(2)?));
        }
        let (ids, kept, _) = cluster::split_clusters(self.rows_all as usize, &edges, SPLIT_BELOW);
        let mut clustered = std::collections::HashSet::new();
        for &(l, r, _) in &kept {
            clustered.insert(l);
            clustered.insert(r);
        }
        let clusters: std::collections::HashSet<u32> = clustered.iter().map(|&n| ids[n as usize]).collect();
        Ok(ThresholdCounts { threshold, pairs: edges.len() as u64, clusters: clusters.len() as u64, rows: clustered.len() as u64 })
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

/// Column names of the prepared values of comparison `i`.
fn prepared(i: usize) -> (String, String) {
    (format!("c{i}"), format!("c{i}x"))
}

/// Creates `target`: each row's number `_row` (0-based, in table order), its rowid and its
/// prepared values. Returns the row count.
fn prepare(conn: &Connection, table: &str, comparisons: &[Comparison], target: &str) -> Result<u64> {
    let mut select = vec!["CAST(row_number() OVER (ORDER BY rowid) - 1 AS UINTEGER) AS _row".to_string(), "rowid AS _rowid".to_string()];
    for (i, c) in comparisons.iter().enumerate() {
        let (main, second) = c.kind.prepare_sql(&quote_ident(&c.column));
        let (a, a2) = prepared(i);
        select.push(format!("{main} AS {a}"));
        select.push(format!("{second} AS {a2}"));
    }
    conn.execute_batch(&format!("CREATE OR REPLACE TEMP TABLE {target} AS SELECT {} FROM {}", select.join(", "), quote_ident(table)))?;
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {target}"), [], |r| r.get(0))?;
    Ok(n as u64)
}

/// The key expressions of a rule over the prepared table aliased `side`.
fn rule_keys(comparisons: &[Comparison], rule: &[usize], side: &str) -> Vec<String> {
    rule.iter()
        .map(|&i| {
            let (a, a2) = prepared(i);
            comparisons[i].kind.block_key(&format!("{side}.{a}"), &format!("{side}.{a2}"))
        })
        .collect()
}

/// A rule as a join condition between `l` and `r` (NULL keys never join).
fn rule_condition(comparisons: &[Comparison], rule: &[usize]) -> String {
    let l = rule_keys(comparisons, rule, "l");
    let r = rule_keys(comparisons, rule, "r");
    l.iter().zip(&r).map(|(a, b)| format!("{a} = {b}")).collect::<Vec<_>>().join(" AND ")
}

/// Pairs a rule gives on its own, counted from the sizes of its key groups.
fn count_rule_pairs(conn: &Connection, sides: &Sides, comparisons: &[Comparison], rule: &[usize]) -> Result<u64> {
    let grouped = |table: &str| {
        let keys = rule_keys(comparisons, rule, "t");
        let named: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("{k} AS k{i}")).collect();
        let present: Vec<String> = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect();
        format!("SELECT {}, count(*) AS n FROM {table} AS t WHERE {} GROUP BY ALL", named.join(", "), present.join(" AND "))
    };
    let sql = if sides.is_link() {
        let on: Vec<String> = (0..rule.len()).map(|i| format!("a.k{i} = b.k{i}")).collect();
        format!("SELECT coalesce(sum(a.n * b.n), 0)::DOUBLE FROM ({}) AS a JOIN ({}) AS b ON {}", grouped("__match_a"), grouped("__match_b"), on.join(" AND "))
    } else {
        format!("SELECT coalesce(sum(n * (n - 1) / 2), 0)::DOUBLE FROM ({})", grouped("__match_a"))
    };
    let pairs: f64 = conn.query_row(&sql, [], |r| r.get(0))?;
    Ok(pairs as u64)
}

/// Proposes blocking rules: each column that tells people apart, alone when its pairs stay
/// under the budget, else with the partner that gives the most pairs under it.
fn propose_rules(conn: &Connection, sides: &Sides, comparisons: &[Comparison]) -> Result<Vec<Vec<usize>>> {
    let rows = sides.n_a.max(sides.n_b);
    let budget = (rows.saturating_mul(10)).max(100_000);
    let strong: Vec<usize> = (0..comparisons.len()).filter(|&i| comparisons[i].kind.identifies_people()).collect();
    let mut rules: Vec<Vec<usize>> = Vec::new();
    let mut too_coarse = Vec::new();
    for &i in &strong {
        if count_rule_pairs(conn, sides, comparisons, &[i])? <= budget {
            rules.push(vec![i]);
        } else {
            too_coarse.push(i);
        }
    }
    for &i in &too_coarse {
        let mut best: Option<(u64, usize)> = None;
        for j in 0..comparisons.len() {
            if j == i {
                continue;
            }
            let pairs = count_rule_pairs(conn, sides, comparisons, &[i, j])?;
            if pairs <= budget && best.is_none_or(|(b, _)| pairs > b) {
                best = Some((pairs, j));
            }
        }
        if let Some((_, j)) = best {
            let mut rule = vec![i, j];
            rule.sort_unstable();
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
    }
    Ok(rules)
}

/// The level codes of comparison `i` for the pair `l`, `r`.
fn level_sql(comparisons: &[Comparison], i: usize) -> String {
    let (a, a2) = prepared(i);
    comparisons[i].kind.level_sql(&format!("l.{a}"), &format!("r.{a}"), &format!("l.{a2}"), &format!("r.{a2}"))
}

/// Creates `__match_pairs`: each distinct candidate pair once, its level codes `g0…` and a
/// `mask` of the rules it satisfies. Returns the pair count.
fn create_pairs(conn: &Connection, sides: &Sides, comparisons: &[Comparison], rules: &[Vec<usize>]) -> Result<u64> {
    let right = sides.right();
    let order = sides.pair_order();
    let mut parts = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let mut condition = format!("{} AND {order}", rule_condition(comparisons, rule));
        for earlier in &rules[..i] {
            condition.push_str(&format!(" AND NOT coalesce({}, false)", rule_condition(comparisons, earlier)));
        }
        parts.push(format!("SELECT l._row AS l, r._row AS r FROM __match_a AS l JOIN {right} AS r ON {condition}"));
    }
    let levels: Vec<String> = (0..comparisons.len()).map(|i| format!("{} AS g{i}", level_sql(comparisons, i))).collect();
    let mask: Vec<String> =
        rules.iter().enumerate().map(|(i, rule)| format!("CASE WHEN {} THEN {} ELSE 0 END", rule_condition(comparisons, rule), 1u64 << i)).collect();
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE __match_pairs AS
         SELECT p.l, p.r, {}, CAST({} AS UBIGINT) AS mask
         FROM ({}) AS p JOIN __match_a AS l ON l._row = p.l JOIN {right} AS r ON r._row = p.r",
        levels.join(", "),
        mask.join(" + "),
        parts.join(" UNION ALL ")
    ))?;
    let n: i64 = conn.query_row("SELECT count(*) FROM __match_pairs", [], |r| r.get(0))?;
    Ok(n as u64)
}

/// u of every level: how often random pairs (almost all non-matches) land there.
fn estimate_u(conn: &Connection, sides: &Sides, comparisons: &[Comparison]) -> Result<(Vec<Vec<f64>>, u64)> {
    let wanted = RANDOM_PAIRS.min((sides.all_pairs() as u64).saturating_mul(4)).max(1);
    let right = sides.right();
    let different = if sides.is_link() { "TRUE" } else { "s.a <> s.b" };
    let levels: Vec<String> = (0..comparisons.len()).map(|i| format!("{} AS g{i}", level_sql(comparisons, i))).collect();
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE __match_random AS
         SELECT {} FROM (SELECT CAST(hash(i, 17) % {na} AS UINTEGER) AS a, CAST(hash(i, 29) % {nb} AS UINTEGER) AS b FROM range({wanted}) AS t(i)) AS s
         JOIN __match_a AS l ON l._row = s.a JOIN {right} AS r ON r._row = s.b WHERE {different}",
        levels.join(", "),
        na = sides.n_a.max(1),
        nb = sides.n_b.max(1),
    ))?;
    let drawn: i64 = conn.query_row("SELECT count(*) FROM __match_random", [], |r| r.get(0))?;
    let mut u = Vec::new();
    for (i, c) in comparisons.iter().enumerate() {
        let n = c.kind.levels();
        let mut counts = vec![0f64; n];
        let mut stmt = conn.prepare(&format!("SELECT g{i}, count(*) FROM __match_random WHERE g{i} >= 0 GROUP BY 1"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let level: i8 = row.get(0)?;
            counts[level as usize] = row.get::<_, i64>(1)? as f64;
        }
        let total: f64 = counts.iter().sum();
        // A level no random pair reached is rarer than one in the pairs drawn.
        let floor = 0.5 / total.max(1.0);
        u.push(if total == 0.0 { vec![1.0 / n as f64; n] } else { counts.iter().map(|&k| (k / total).max(floor)).collect() });
    }
    Ok((u, drawn as u64))
}

/// The distinct level patterns of the candidate pairs where `filter` holds, with counts.
fn patterns(conn: &Connection, comparisons: usize, filter: &str) -> Result<Vec<Pattern>> {
    let g: Vec<String> = (0..comparisons).map(|i| format!("g{i}")).collect();
    let mut stmt = conn.prepare(&format!("SELECT {g}, count(*) FROM __match_pairs WHERE {filter} GROUP BY {g}", g = g.join(", ")))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let levels = (0..comparisons).map(|i| row.get::<_, i8>(i)).collect::<duckdb::Result<Vec<i8>>>()?;
        out.push(Pattern { levels, count: row.get::<_, i64>(comparisons)? as f64 });
    }
    Ok(out)
}

/// λ from deterministic rules: pairs that agree exactly on a rule's columns and on enough
/// others that random agreement is negligible are matches; the share of all matches they
/// catch is the product of those comparisons' exact-level m. The median over the rules.
fn estimate_prior(conn: &Connection, sides: &Sides, rules: &[Vec<usize>], comparisons: &[Comparison], m: &[Vec<f64>], u: &[Vec<f64>]) -> Result<f64> {
    let all = sides.all_pairs().max(1.0);
    let exact = |c: usize| comparisons[c].kind.levels() - 1;
    let mut by_u: Vec<usize> = (0..comparisons.len()).collect();
    by_u.sort_by(|&a, &b| u[a][exact(a)].total_cmp(&u[b][exact(b)]));
    let mut estimates = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let mut chosen = rule.clone();
        let mut rest = by_u.iter().filter(|c| !rule.contains(c));
        loop {
            let agree: Vec<String> = chosen.iter().map(|&c| format!("g{c} = {}", exact(c))).collect();
            let caught: i64 = conn.query_row(&format!("SELECT count(*) FROM __match_pairs WHERE mask & {} <> 0 AND {}", 1u64 << i, agree.join(" AND ")), [], |r| r.get(0))?;
            let by_chance = all * chosen.iter().map(|&c| u[c][exact(c)]).product::<f64>();
            if by_chance <= 0.01 * caught as f64 {
                let recall: f64 = chosen.iter().map(|&c| m[c][exact(c)]).product();
                if caught > 0 && recall > 0.0 {
                    estimates.push((caught as f64 - by_chance) / recall);
                }
                break;
            }
            match rest.next() {
                Some(&next) => chosen.push(next),
                None => break,
            }
        }
    }
    estimates.sort_by(f64::total_cmp);
    let matches = match estimates.len() {
        0 => all.sqrt(),
        n => estimates[n / 2],
    };
    // Fewer than two rows: no pair, and the prior says nothing.
    Ok((matches / all).clamp((1.0 / all).min(0.5), 0.5))
}

/// SQL of a pair's weight for comparison `i` from its level code.
fn weight_sql(i: usize, weights: &[f64]) -> String {
    let mut sql = format!("CASE g{i}");
    for (k, w) in weights.iter().enumerate() {
        sql.push_str(&format!(" WHEN {k} THEN {w:?}"));
    }
    sql.push_str(" ELSE 0.0 END");
    sql
}

/// Pairs the user labelled take 1 (match) or 0 (not a match) as their probability; a pair
/// labelled a match that no rule blocked is added. Returns the labels used.
fn apply_labels(conn: &Connection, sides: &Sides, spec: &MatchSpec, comparisons: &[Comparison], weights: &[Vec<f64>], prior_weight: f64) -> Result<u64> {
    let used = labels::load(conn, &spec.table, spec.link.as_deref(), sides.right())?;
    if used == 0 {
        return Ok(0);
    }
    let levels: Vec<String> = (0..comparisons.len()).map(|i| format!("{} AS g{i}", level_sql(comparisons, i))).collect();
    let sum: Vec<String> = (0..comparisons.len()).map(|i| weight_sql(i, &weights[i])).collect();
    conn.execute_batch(&format!(
        "UPDATE __match_pairs SET p = CASE WHEN x.is_match THEN 1.0 ELSE 0.0 END FROM __match_labels AS x WHERE __match_pairs.l = x.l AND __match_pairs.r = x.r;
         INSERT INTO __match_pairs
         SELECT l, r, {g}, CAST(0 AS UBIGINT), {prior_weight:?} + {sum}, 1.0 FROM (
           SELECT x.l AS l, x.r AS r, {levels} FROM __match_labels AS x JOIN __match_a AS l ON l._row = x.l JOIN {right} AS r ON r._row = x.r
           WHERE x.is_match AND NOT EXISTS (SELECT 1 FROM __match_pairs AS p WHERE p.l = x.l AND p.r = x.r));",
        g = (0..comparisons.len()).map(|i| format!("g{i}")).collect::<Vec<_>>().join(", "),
        sum = sum.join(" + "),
        levels = levels.join(", "),
        right = sides.right(),
    ))?;
    Ok(used)
}

/// Adds `weight` and `p` (the match probability) to every candidate pair.
fn score(conn: &Connection, comparisons: &[Comparison], weights: &[Vec<f64>], prior_weight: f64) -> Result<()> {
    let sum: Vec<String> = (0..comparisons.len()).map(|i| weight_sql(i, &weights[i])).collect();
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE __match_pairs AS
         SELECT *, 1.0 / (1.0 + pow(2.0, -weight)) AS p FROM (SELECT *, {prior_weight:?} + {} AS weight FROM __match_pairs)",
        sum.join(" + ")
    ))?;
    Ok(())
}

struct Clustered {
    edges: u64,
    clusters: u64,
    rows_in_clusters: u64,
    largest: u64,
    split: u64,
}

/// Clusters of the pairs at or above `threshold`, split where one doubtful link held them;
/// each clustered row's cluster and best probability go to `__match_clusters` (node,
/// cluster, p). Rows of the linked table are
/// numbered after the first table's.
fn form_clusters(conn: &Connection, sides: &Sides, threshold: f64) -> Result<Clustered> {
    let offset = if sides.is_link() { sides.n_a as u32 } else { 0 };
    let nodes = (sides.n_a + if sides.is_link() { sides.n_b } else { 0 }) as usize;
    let mut edges = Vec::new();
    {
        let mut stmt = conn.prepare("SELECT l, r, p FROM __match_pairs WHERE p >= ?")?;
        let mut rows = stmt.query([threshold])?;
        while let Some(row) = rows.next()? {
            edges.push((row.get::<_, u32>(0)?, row.get::<_, u32>(1)? + offset, row.get::<_, f64>(2)?));
        }
    }
    let (ids, kept, split) = cluster::split_clusters(nodes, &edges, SPLIT_BELOW);
    let mut best: HashMap<u32, f64> = HashMap::new();
    for &(l, r, p) in &kept {
        for node in [l, r] {
            let e = best.entry(node).or_insert(p);
            *e = f64::max(*e, p);
        }
    }
    let mut sizes: HashMap<u32, u64> = HashMap::new();
    for &node in best.keys() {
        *sizes.entry(ids[node as usize]).or_default() += 1;
    }
    conn.execute_batch("CREATE OR REPLACE TEMP TABLE __match_clusters (node UINTEGER, cluster UINTEGER, p DOUBLE)")?;
    {
        let mut app = conn.appender("__match_clusters")?;
        for (&node, &p) in &best {
            app.append_row(duckdb::params![node, ids[node as usize], p])?;
        }
        app.flush()?;
    }
    Ok(Clustered {
        edges: edges.len() as u64,
        clusters: sizes.len() as u64,
        rows_in_clusters: best.len() as u64,
        largest: sizes.values().copied().max().unwrap_or(0),
        split,
    })
}

/// Writes `into` (every input row with `_cluster` and `_match_probability`; when linking,
/// both tables' rows with `_source` and `_row`) and `<into>_pairs`.
fn write_result(
    conn: &Connection,
    sides: &Sides,
    comparisons: &[Comparison],
    weights: &[Vec<f64>],
    into: &str,
    columns_a: &[ColumnInfo],
    columns_b: Option<&[ColumnInfo]>,
) -> Result<(String, String)> {
    let name = new_table_name(conn, Some(into), into)?;
    let pairs_name = new_table_name(conn, None, &format!("{into}_pairs"))?;
    let mut all_columns = columns_a.to_vec();
    all_columns.extend(columns_b.unwrap_or_default().iter().cloned());
    let cluster_col = quote_ident(&unused_name(&all_columns, "_cluster"));
    let prob_col = quote_ident(&unused_name(&all_columns, "_match_probability"));
    let side = |table: &str, prepared_table: &str, offset: u64| {
        format!(
            "SELECT t.*, coalesce(c.cluster, p._row + {offset}) + 1 AS {cluster_col}, c.p AS {prob_col}, p._row AS __row
             FROM {} AS t JOIN {prepared_table} AS p ON p._rowid = t.rowid LEFT JOIN __match_clusters AS c ON c.node = p._row + {offset}",
            quote_ident(table)
        )
    };
    let select = match &sides.b {
        None => format!("SELECT * EXCLUDE (__row) FROM ({}) ORDER BY __row", side(&sides.a, "__match_a", 0)),
        Some(b) => {
            let source_col = quote_ident(&unused_name(&all_columns, "_source"));
            let row_col = quote_ident(&unused_name(&all_columns, "_row"));
            format!(
                "SELECT {} AS {source_col}, __row + 1 AS {row_col}, * EXCLUDE (__row) FROM ({}) UNION ALL BY NAME
                 SELECT {} AS {source_col}, __row + 1 AS {row_col}, * EXCLUDE (__row) FROM ({}) ORDER BY 1 DESC, 2",
                quote_literal(&sides.a),
                side(&sides.a, "__match_a", 0),
                quote_literal(b),
                side(b, "__match_b", sides.n_a)
            )
        }
    };
    conn.execute_batch(&format!("CREATE TABLE {} AS {select}", quote_ident(&name)))?;
    let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(&name)), [], |r| r.get(0))?;
    let what = match &sides.b {
        Some(b) => format!("rows of {} and {b} with their match cluster", sides.a),
        None => format!("rows of {} with their match cluster", sides.a),
    };
    register_in_catalog(conn, &name, &what, Some(rows as u64))?;
    let mut cells = vec!["l + 1 AS row_l".to_string(), "r + 1 AS row_r".to_string(), "p AS match_probability".into(), "weight AS match_weight".into()];
    for (i, c) in comparisons.iter().enumerate() {
        cells.push(format!("g{i} AS {}", quote_ident(&format!("{}_level", c.column))));
        cells.push(format!("{} AS {}", weight_sql(i, &weights[i]), quote_ident(&format!("{}_weight", c.column))));
    }
    conn.execute_batch(&format!(
        "CREATE TABLE {} AS SELECT {} FROM __match_pairs WHERE p >= {PAIRS_TABLE_FLOOR} ORDER BY p DESC, l, r",
        quote_ident(&pairs_name),
        cells.join(", ")
    ))?;
    let pairs: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(&pairs_name)), [], |r| r.get(0))?;
    register_in_catalog(conn, &pairs_name, &format!("candidate pairs of {into} with their match probability"), Some(pairs as u64))?;
    Ok((name, pairs_name))
}
