//! `dataforge dedupe` and `dataforge cluster`: duplicate rows and similar values.

use serde_json::{Value, json};

use super::{Args, EXIT_OK, Outcome, metrics_json, open_workspace, progress, split_list};
use crate::engine::EngineError;
use crate::engine::config::group_digits;
use crate::engine::job::{no_waker, spawn};
use crate::engine::view::WhereExpr;

#[derive(clap::Args, Debug)]
pub struct DedupeArgs {
    /// Key columns (default: every column)
    #[arg(long, value_name = "A,B,...")]
    keys: Option<String>,
    /// Make text keys comparable: any of trim, case, space, accents, empty (empty text as NULL)
    #[arg(long, value_name = "LIST")]
    normalize: Option<String>,
    /// Rows with a NULL key: `equal` (NULLs match each other, the default) or `distinct` (never duplicates)
    #[arg(long, value_name = "equal|distinct", default_value = "equal")]
    nulls: String,
    /// Which row of a group stays: first, last (by --order-by, else import order) or complete (fewest NULLs)
    #[arg(long, value_name = "first|last|complete", default_value = "first")]
    keep: String,
    /// Order within a group (default: import order)
    #[arg(long, value_name = "COL")]
    order_by: Option<String>,
    /// Fill the kept row's empty cells from the other rows of its group
    #[arg(long)]
    merge: bool,
    /// Only look for duplicates among rows where this SQL condition holds
    #[arg(long = "where", value_name = "EXPR")]
    where_expr: Option<String>,
    /// Leave these groups alone (by the row number of their kept row, as --dry-run lists them)
    #[arg(long, value_name = "ROW,ROW,...")]
    exclude: Option<String>,
    /// Write the deduplicated rows to this new table (default: <table>_deduplicated)
    #[arg(long, value_name = "NAME", conflicts_with = "replace")]
    into: Option<String>,
    /// Replace the table itself
    #[arg(long)]
    replace: bool,
    /// Print the groups and counts; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Change nothing; write every row that has a duplicate, with its group and group size,
    /// to a new table <table>_duplicates
    #[arg(long, conflicts_with_all = ["dry_run", "replace", "into"])]
    find: bool,
}

pub(super) fn dedupe(args: &Args, table: &str, o: &DedupeArgs) -> anyhow::Result<Outcome> {
    use crate::engine::dedupe::{DedupeJob, DedupeSpec, DedupeTarget, Keep, Normalize, NullKeys, PreviewJob};
    let ws = open_workspace(args)?;
    let mut spec = DedupeSpec::new(table);
    spec.view.where_expr = o.where_expr.as_deref().map(WhereExpr::parse).transpose()?;
    spec.keys = o.keys.as_deref().map(split_list).unwrap_or_default();
    spec.normalize = Normalize::parse(o.normalize.as_deref().unwrap_or(""))?;
    spec.nulls = match o.nulls.to_ascii_lowercase().as_str() {
        "equal" => NullKeys::Equal,
        "distinct" => NullKeys::Distinct,
        other => return Err(EngineError::InvalidOption(format!("unknown --nulls {other:?}; use equal or distinct")).into()),
    };
    spec.keep = Keep::parse(&o.keep)?;
    spec.order_by = o.order_by.clone();
    spec.merge = o.merge;
    let excluded: Vec<u64> = match &o.exclude {
        Some(list) => split_list(list)
            .iter()
            .map(|v| v.parse::<u64>().map_err(|_| EngineError::InvalidOption(format!("--exclude takes row numbers; {v:?} is not one"))))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    if o.find {
        let (result, snap) = progress::wait(spawn(crate::engine::dedupe::FindDuplicatesJob { workspace: ws, spec }, no_waker()));
        let found = result?;
        return Ok(Outcome {
            json: json!({"ok": true, "command": "dedupe", "find": found, "metrics": metrics_json(&snap)}),
            text: format!("{} rows of {table} have a duplicate; listed with their group in {}\n", group_digits(found.rows), found.table),
            code: EXIT_OK,
        });
    }
    if o.dry_run {
        let (result, snap) = progress::wait(spawn(PreviewJob { workspace: ws.clone(), spec }, no_waker()));
        let preview = result?;
        let conn = ws.connect()?;
        let shown = preview.groups_page(&conn, 0, 10)?;
        let mut text = format!(
            "{} rows, {} duplicate groups, {} rows would be removed\n",
            group_digits(preview.rows),
            group_digits(preview.groups),
            group_digits(preview.duplicates)
        );
        let mut groups = Vec::new();
        // A few rows of each group: a group can hold most of the table.
        const SHOWN_ROWS: u64 = 5;
        for (kept_row, size) in &shown {
            let page = preview.group_rows(&conn, *kept_row, 0, SHOWN_ROWS)?;
            text.push_str(&format!("\ngroup of {} (keeps row {}):\n", group_digits(*size), group_digits(*kept_row)));
            let line = |row: &[Option<String>]| {
                page.columns.iter().zip(row).map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("NULL"))).collect::<Vec<_>>().join(", ")
            };
            text.push_str(&format!("  keep   {}\n", line(&page.survivor)));
            for row in &page.removed {
                text.push_str(&format!("  remove {}\n", line(row)));
            }
            if page.total_removed > page.removed.len() as u64 {
                text.push_str(&format!("  … and {} more rows\n", group_digits(page.total_removed - page.removed.len() as u64)));
            }
            let mut rows = vec![page.survivor.clone()];
            rows.extend(page.removed.iter().cloned());
            groups.push(json!({"kept_row": kept_row, "size": size, "columns": page.columns, "rows": rows, "rows_shown": rows.len()}));
        }
        if preview.groups > shown.len() as u64 {
            text.push_str(&format!("\n… and {} more groups\n", group_digits(preview.groups - shown.len() as u64)));
        }
        preview.discard(&conn);
        return Ok(Outcome {
            json: json!({"ok": true, "command": "dedupe", "dry_run": true, "rows": preview.rows, "groups": preview.groups,
                         "rows_to_remove": preview.duplicates, "largest_groups": groups, "metrics": metrics_json(&snap)}),
            text,
            code: EXIT_OK,
        });
    }
    let target = if o.replace { DedupeTarget::Replace } else { DedupeTarget::NewTable(o.into.clone()) };
    let (result, snap) = progress::wait(spawn(DedupeJob { workspace: ws, spec, excluded, target }, no_waker()));
    let report = result?;
    let text = format!(
        "{} → {}: kept {} of {} rows; {} duplicates in {} groups moved to {}\n",
        table,
        report.table,
        group_digits(report.rows_kept),
        group_digits(report.rows_before),
        group_digits(report.rows_removed),
        group_digits(report.groups),
        report.removed_table
    );
    Ok(Outcome { json: json!({"ok": true, "command": "dedupe", "report": report, "metrics": metrics_json(&snap)}), text, code: EXIT_OK })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn cluster(args: &Args, table: &str, column: &str, method: &str, radius: Option<usize>, threshold: Option<f64>, apply: bool, undo: Option<&str>) -> anyhow::Result<Outcome> {
    use crate::engine::cluster::{ClusterJob, MergeJob, Method, UndoMergeJob};
    let ws = open_workspace(args)?;
    if let Some(undo_table) = undo {
        let job = UndoMergeJob { workspace: ws, table: table.into(), column: column.into(), undo_table: undo_table.into() };
        let (result, snap) = progress::wait(spawn(job, no_waker()));
        let rows = result?;
        return Ok(Outcome {
            json: json!({"ok": true, "command": "cluster", "undone_rows": rows, "metrics": metrics_json(&snap)}),
            text: format!("put back {} values of {table}.{column}\n", group_digits(rows)),
            code: EXIT_OK,
        });
    }
    let method = match (Method::parse(method)?, radius, threshold) {
        (Method::Levenshtein(_), Some(r), _) => Method::Levenshtein(r),
        (Method::JaroWinkler(_), _, Some(t)) if (0.0..=1.0).contains(&t) => Method::JaroWinkler(t),
        (Method::JaroWinkler(_), _, Some(t)) => return Err(EngineError::InvalidOption(format!("--threshold is a similarity from 0 to 1, not {t}")).into()),
        (m, _, _) => m,
    };
    let (result, snap) = progress::wait(spawn(ClusterJob { workspace: ws.clone(), table: table.into(), column: column.into(), method }, no_waker()));
    let report = result?;
    let mut text = format!("{} distinct values of {table}.{column}, {} clusters by {}\n", group_digits(report.distinct_values), report.clusters.len(), method.label());
    for c in report.clusters.iter().take(20) {
        let mut values: Vec<String> = c.values.iter().take(8).map(|v| format!("{:?} ×{}", v.value, v.count)).collect();
        if c.values.len() > 8 {
            values.push(format!("… {} more values", c.values.len() - 8));
        }
        text.push_str(&format!("  → {:?}: {}\n", c.canonical, values.join(", ")));
    }
    if report.clusters.len() > 20 {
        text.push_str(&format!("  … and {} more clusters\n", report.clusters.len() - 20));
    }
    let mut merged = Value::Null;
    if apply && !report.clusters.is_empty() {
        let job = MergeJob { workspace: ws, table: table.into(), column: column.into(), clusters: report.clusters.clone() };
        let (result, _) = progress::wait(spawn(job, no_waker()));
        let m = result?;
        text.push_str(&format!("merged {} clusters: {} rows changed; undo with --undo {}\n", m.clusters, group_digits(m.rows_changed), m.undo_table));
        merged = json!(m);
    }
    Ok(Outcome {
        json: json!({"ok": true, "command": "cluster", "method": method.label(), "distinct_values": report.distinct_values,
                     "clusters": report.clusters, "merge": merged, "metrics": metrics_json(&snap)}),
        text,
        code: EXIT_OK,
    })
}
