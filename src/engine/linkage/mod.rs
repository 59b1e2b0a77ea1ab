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
mod review;
pub mod setup;
mod steps;

use std::sync::Arc;

use duckdb::Connection;
use serde::{Deserialize, Serialize};

use self::compare::Comparison;
use self::model::{Fitted, LevelModel};
pub use self::review::{ClusterRows, ClusterSummary, Contribution, FLAG_BELOW, MatchReview, PairExplained, SplitOutcome, ThresholdCounts, WeakLink};
use self::steps::{apply_labels, count_rule_pairs, create_pairs, estimate_prior, estimate_u, form_clusters, patterns, prepare, propose_rules, score, term_frequencies, write_result};
use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::sql::validate_table_name;
use super::workspace::{ColumnInfo, Workspace, table_columns};

/// Random pairs that estimate u.
pub(super) const RANDOM_PAIRS: u64 = 1_000_000;
/// Candidate pairs a run may compare unless the user raises it.
pub const DEFAULT_MAX_PAIRS: u64 = 50_000_000;
/// A cluster held together by one link below this probability is split there.
pub(super) const SPLIT_BELOW: f64 = 0.9;
/// Pairs below this probability are not written to the pairs table.
pub(super) const PAIRS_TABLE_FLOOR: f64 = 0.01;

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
    /// Compared columns whose exact matches weigh by how common the value is (a shared rare
    /// surname says more than a shared "Smith"); `None`: the names.
    #[serde(default)]
    pub term_frequencies: Option<Vec<String>>,
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
            term_frequencies: None,
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
    /// Its exact matches weigh by how common the value is.
    pub term_frequencies: bool,
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
        let term_tables: Vec<String> = conn
            .prepare("SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, '__match_tf')")
            .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default();
        for t in term_tables {
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", super::sql::quote_ident(&t)));
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
pub(super) struct Sides {
    pub(super) a: String,
    pub(super) b: Option<String>,
    pub(super) n_a: u64,
    pub(super) n_b: u64,
}

impl Sides {
    pub(super) fn is_link(&self) -> bool {
        self.b.is_some()
    }

    /// The prepared table of the right-hand side of a pair.
    pub(super) fn right(&self) -> &'static str {
        if self.is_link() { "__match_b" } else { "__match_a" }
    }

    /// Every pair the run could compare.
    pub(super) fn all_pairs(&self) -> f64 {
        if self.is_link() { self.n_a as f64 * self.n_b as f64 } else { self.n_a as f64 * (self.n_a as f64 - 1.0) / 2.0 }
    }

    /// Keeps each unordered pair of one table once.
    pub(super) fn pair_order(&self) -> &'static str {
        if self.is_link() { "TRUE" } else { "l._row < r._row" }
    }
}

fn table_only(conn: &Connection, name: &str) -> Result<Vec<ColumnInfo>> {
    let columns = table_columns(conn, name)?;
    let is_table: i64 =
        conn.query_row("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND lower(table_name) = lower(?)", [name], |r| {
            r.get(0)
        })?;
    if is_table == 0 {
        return Err(EngineError::InvalidOption(format!("{name} is a file opened in place; import it to match its rows")));
    }
    Ok(columns)
}

fn find_column<'a>(columns: &'a [ColumnInfo], table: &str, name: &str) -> Result<&'a ColumnInfo> {
    columns.iter().find(|c| c.name.eq_ignore_ascii_case(name)).ok_or_else(|| EngineError::ColumnNotFound { table: table.to_string(), column: name.to_string() })
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
    /// Per comparison: weighed by how common its values are.
    tf: Vec<bool>,
}

impl Prepared {
    fn setup(&self) -> MatchSetup {
        MatchSetup {
            comparisons: self.comparisons.clone(),
            reasons: self.reasons.clone(),
            left_out: self.left_out.clone(),
            rules: self.rule_reports.clone(),
            term_frequencies: self.comparisons.iter().zip(&self.tf).filter(|(_, on)| **on).map(|(c, _)| c.column.clone()).collect(),
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
    /// Compared columns whose exact matches weigh by how common the value is.
    pub term_frequencies: Vec<String>,
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

    let tf: Vec<bool> = match &spec.term_frequencies {
        None => comparisons.iter().map(|c| c.kind == compare::CompareKind::Name).collect(),
        Some(names) => {
            for name in names {
                if !comparisons.iter().any(|c| c.column.eq_ignore_ascii_case(name)) {
                    return Err(EngineError::InvalidOption(format!("{name:?} is weighed by how common its values are but is not one of the compared columns")));
                }
            }
            comparisons.iter().map(|c| names.iter().any(|n| n.eq_ignore_ascii_case(&c.column))).collect()
        }
    };

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
                        comparisons
                            .iter()
                            .position(|c| c.column.eq_ignore_ascii_case(name))
                            .ok_or_else(|| EngineError::InvalidOption(format!("blocking rule column {name:?} is not one of the compared columns")))
                    })
                    .collect::<Result<Vec<usize>>>()
            })
            .collect::<Result<_>>()?
    };
    if rules.is_empty() {
        return Err(EngineError::InvalidOption("no blocking rule keeps the pairs few enough; name one with --block COLUMN[,COLUMN…]".into()));
    }
    // Each pair keeps the rules it satisfies as bits of one 64-bit mask.
    if rules.len() > 64 {
        return Err(EngineError::InvalidOption(format!("{} blocking rules are more than the 64 a run can use", rules.len())));
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
    Ok(Prepared { comparisons, reasons, left_out, sides, rules, rule_reports, columns_a, columns_b, tf })
}

fn run(conn: &Connection, spec: &MatchSpec, ctx: &JobCtx) -> Result<MatchReport> {
    if !(spec.threshold > 0.0 && spec.threshold < 1.0) {
        return Err(EngineError::InvalidOption(format!("the threshold is a probability between 0 and 1; got {}", spec.threshold)));
    }
    let mut clock = PhaseClock::new(ctx);
    let Prepared { comparisons, reasons, left_out, sides, rules, rule_reports, columns_a, columns_b, tf } = prepare_run(conn, spec, &mut clock)?;

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
        tracing::debug!(
            "match: session {:?}: {} pairs, match share {:.4} after {} rounds; m {:?}",
            rule_reports[i].columns,
            patterns.iter().map(|p| p.count).sum::<f64>(),
            fitted.matches,
            fitted.iterations,
            fitted.m
        );
        sessions.push(fitted);
        ctx.checkpoint()?;
    }
    let (m, trained) = model::combine(&sessions, &levels);

    clock.phase("Estimating how many pairs match");
    let prior = estimate_prior(conn, &sides, &rules, &comparisons, &m, &u)?;

    clock.phase("Scoring the pairs");
    let weights: Vec<Vec<f64>> = m.iter().zip(&u).map(|(m, u)| model::weights(m, u)).collect();
    if tf.iter().any(|&on| on) {
        term_frequencies(conn, &sides, &tf)?;
    }
    score(conn, &comparisons, &weights, model::prior_weight(prior), &tf, &u)?;
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
                term_frequencies: tf[c],
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
            let (table, pairs) = write_result(conn, &sides, &comparisons, &weights, &tf, into, &columns_a, columns_b.as_deref())?;
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
            threshold: spec.threshold,
            tf: tf.clone(),
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
