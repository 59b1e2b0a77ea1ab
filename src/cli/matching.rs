//! `dataforge match`: records that are the same person written differently.

use serde_json::json;

use super::{Args, EXIT_OK, Outcome, metrics_json, open_workspace, progress, split_list};
use crate::engine::config::group_digits;
use crate::engine::job::{no_waker, spawn};
use crate::engine::linkage::compare::Comparison;
use crate::engine::linkage::{DEFAULT_MAX_PAIRS, MatchJob, MatchSpec};

#[derive(clap::Args, Debug)]
pub struct MatchArgs {
    /// Link each row of TABLE to its matches in this table (default: match TABLE with itself)
    #[arg(long, value_name = "OTHER")]
    link: Option<String>,
    /// Only these columns, in the automatic set-up
    #[arg(long, value_name = "A,B,...")]
    columns: Option<String>,
    /// Never these columns, in the automatic set-up (a truth column, a free-text note)
    #[arg(long, value_name = "A,B,...")]
    exclude: Option<String>,
    /// Compare COL as KIND: name, date, postcode, email, phone, number, code, text or exact
    /// (repeatable; replaces the automatic set-up)
    #[arg(long, value_name = "COL:KIND")]
    compare: Vec<String>,
    /// A blocking rule: candidate pairs are equal in these compared columns (repeatable;
    /// default: proposed from pair counts)
    #[arg(long, value_name = "A[,B...]")]
    block: Vec<String>,
    /// Pairs at or above this match probability are matches
    #[arg(long, value_name = "P", default_value_t = 0.5)]
    threshold: f64,
    /// Weigh exact matches of these compared columns by how common the value is (default:
    /// the name columns)
    #[arg(long, value_name = "A,B,...", conflicts_with = "no_tf")]
    tf: Option<String>,
    /// Weigh every exact match alike, however common the value
    #[arg(long)]
    no_tf: bool,
    /// Refuse to compare more candidate pairs than this
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PAIRS)]
    max_pairs: u64,
    /// Write the rows with their `_cluster` and `_match_probability` to this new table, and the
    /// scored pairs to NAME_pairs
    #[arg(long, value_name = "NAME")]
    into: Option<String>,
    /// With --into: also merge each cluster into one row, into NAME_merged (or --merged-into)
    #[arg(long, requires = "into")]
    apply: bool,
    /// With --apply: how a column's value is chosen: most_frequent (default), most_complete,
    /// longest, first, newest:COLUMN or chosen (the --choose row's) (repeatable)
    #[arg(long, value_name = "COL:RULE", requires = "apply")]
    survive: Vec<String>,
    /// With --apply: rows (1-based, in table order) whose values win their cluster's
    /// `chosen` columns; a cluster with none takes its most complete row's
    #[arg(long, value_name = "ROW,ROW...", requires = "apply")]
    choose: Option<String>,
    /// With --apply: the merged rows' table
    #[arg(long, value_name = "NAME", requires = "apply", conflicts_with = "replace")]
    merged_into: Option<String>,
    /// With --apply: replace TABLE by the merged rows (the --into table keeps every original row)
    #[arg(long, requires = "apply")]
    replace: bool,
    /// Put TABLE back as it was before a --replace, from that run's --into table
    #[arg(long, value_name = "INTO_TABLE", conflicts_with_all = ["apply", "into", "compare", "block"])]
    undo: Option<String>,
}

pub(super) fn run(args: &Args, table: &str, o: &MatchArgs) -> anyhow::Result<Outcome> {
    let ws = open_workspace(args)?;
    if let Some(companion) = &o.undo {
        let job = crate::engine::linkage::apply::UndoApplyJob { workspace: ws, table: table.to_string(), companion: companion.clone() };
        let (result, snap) = progress::wait(spawn(job, no_waker()));
        let rows = result?;
        return Ok(Outcome {
            json: json!({"ok": true, "command": "match", "undo": {"table": table, "rows": rows}, "metrics": metrics_json(&snap)}),
            text: format!("{table} is back as it was: {} rows from {companion}\n", group_digits(rows)),
            code: EXIT_OK,
        });
    }
    let mut spec = MatchSpec::new(table);
    spec.link = o.link.clone();
    spec.columns = o.columns.as_deref().map(split_list).unwrap_or_default();
    spec.exclude = o.exclude.as_deref().map(split_list).unwrap_or_default();
    spec.comparisons = o.compare.iter().map(|c| Comparison::parse(c)).collect::<Result<_, _>>()?;
    spec.blocking = o.block.iter().map(|b| split_list(b)).collect();
    spec.threshold = o.threshold;
    spec.max_pairs = o.max_pairs;
    spec.term_frequencies = if o.no_tf { Some(Vec::new()) } else { o.tf.as_deref().map(split_list) };
    spec.into = o.into.clone();
    if o.apply {
        use crate::engine::linkage::apply::{ApplySpec, ApplyTarget, Survivor};
        let survivors = o
            .survive
            .iter()
            .map(|s| {
                let (column, rule) = s.split_once(':').ok_or_else(|| crate::engine::EngineError::InvalidOption(format!("--survive takes COLUMN:RULE; got {s:?}")))?;
                Ok((column.trim().to_string(), Survivor::parse(rule)?))
            })
            .collect::<Result<Vec<_>, crate::engine::EngineError>>()?;
        let target = if o.replace { ApplyTarget::Replace } else { ApplyTarget::NewTable(o.merged_into.clone()) };
        let chosen_rows = o
            .choose
            .as_deref()
            .map(split_list)
            .unwrap_or_default()
            .iter()
            .map(|row| match row.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(n - 1),
                _ => Err(crate::engine::EngineError::InvalidOption(format!("--choose takes row numbers from 1; got {row:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        spec.apply = Some(ApplySpec { survivors, target, chosen_rows });
    }
    let (result, snap) = progress::wait(spawn(MatchJob { workspace: ws, spec }, no_waker()));
    let report = result?;
    let mut text = String::new();
    match &report.link {
        Some(other) => text.push_str(&format!("{} rows of {table} and {} of {other}\n", group_digits(report.rows), group_digits(report.rows_linked.unwrap_or(0)))),
        None => text.push_str(&format!("{} rows of {table}\n", group_digits(report.rows))),
    }
    text.push_str("compared:\n");
    for c in &report.comparisons {
        let exact = c.levels.last().map_or(0.0, |l| l.weight);
        let different = c.levels.first().map_or(0.0, |l| l.weight);
        let tf = if c.term_frequencies { " (by how common)" } else { "" };
        text.push_str(&format!(
            "  {:<24} {:<9} exact {exact:+.1}{tf}, different {different:+.1}{}\n",
            c.column,
            c.kind.name(),
            c.reason.as_deref().map(|r| format!("  ({r})")).unwrap_or_default()
        ));
    }
    for p in &report.left_out {
        text.push_str(&format!("  {:<24} left out: {}\n", p.column, p.reason));
    }
    text.push_str("blocking rules:\n");
    for r in &report.rules {
        text.push_str(&format!("  {:<40} {} pairs\n", r.columns.join(" + "), group_digits(r.pairs)));
    }
    text.push_str(&report.summary());
    text.push('\n');
    if let (Some(into), Some(pairs)) = (&report.into, &report.pairs_table) {
        text.push_str(&format!("rows with their cluster in {into}, scored pairs in {pairs}\n"));
    }
    if let Some((merged, rows)) = &report.merged {
        text.push_str(&format!("one row per cluster: {} rows in {merged}\n", group_digits(*rows)));
    }
    Ok(Outcome { json: json!({"ok": true, "command": "match", "report": report, "metrics": metrics_json(&snap)}), text, code: EXIT_OK })
}
