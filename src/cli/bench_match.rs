//! `dataforge bench`'s record matching steps: a FEBRL set and generated people matched end to
//! end in their own process, beside Splink 5 on the same files (`anchors link`), with
//! pairwise precision, recall and F1 of the clusters against the truth.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::bench::anchor_json;

/// One matching run of ours or of the anchor.
#[derive(Debug, Default)]
pub struct Run {
    pub seconds: f64,
    pub peak_rss_bytes: u64,
    pub f1: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub largest_cluster: Option<u64>,
}

impl Run {
    fn json(&self) -> Value {
        json!({"seconds": self.seconds, "peak_rss_bytes": self.peak_rss_bytes, "precision": self.precision, "recall": self.recall,
               "f1": self.f1, "largest_cluster": self.largest_cluster})
    }
}

fn dataforge(workspace: &Path, args: &[&str], memory_limit: Option<&str>) -> anyhow::Result<Value> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("--workspace").arg(workspace).arg("--json").args(args);
    if let Some(limit) = memory_limit {
        command.env("DATAFORGE_MEMORY_LIMIT", limit);
    }
    let out = command.output().with_context(|| format!("running dataforge {}", args.join(" ")))?;
    if !out.status.success() {
        bail!("dataforge {} failed: {}{}", args.join(" "), String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Matches `table` of `workspace` into `<table>_matched` in its own process; scores the
/// clusters when `entity` (SQL over its rows) gives the truth.
fn ours(workspace: &Path, table: &str, exclude: &str, entity: Option<&str>, memory_limit: Option<&str>) -> anyhow::Result<Run> {
    let into = format!("{table}_matched");
    let report = dataforge(workspace, &["match", table, "--exclude", exclude, "--into", &into], memory_limit)?;
    let mut run = Run {
        seconds: report["metrics"]["duration_secs"].as_f64().unwrap_or(f64::MAX),
        peak_rss_bytes: report["metrics"]["peak_rss_bytes"].as_u64().unwrap_or(0),
        largest_cluster: report["report"]["largest_cluster"].as_u64(),
        ..Run::default()
    };
    if let Some(entity) = entity {
        let pairs = |group: &str| format!("SELECT coalesce(sum(n * (n - 1) / 2), 0)::DOUBLE FROM (SELECT count(*) AS n FROM t GROUP BY {group})");
        let sql = format!(
            "WITH t AS (SELECT *, {entity} AS __e FROM \"{into}\") SELECT ({}) AS tp, ({}) AS predicted, ({}) AS truth",
            pairs("__e, _cluster"),
            pairs("_cluster"),
            pairs("__e")
        );
        let scored = dataforge(workspace, &["sql", &sql], None)?;
        let row = &scored["rows"][0];
        let number = |k: &str| row[k].as_f64().or_else(|| row[k].as_str().and_then(|s| s.parse().ok())).unwrap_or(0.0);
        let (tp, predicted, truth) = (number("tp"), number("predicted"), number("truth"));
        let (p, r) = (tp / predicted.max(1.0), tp / truth.max(1.0));
        run.precision = Some(p);
        run.recall = Some(r);
        run.f1 = Some(if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 });
    }
    dataforge(workspace, &["sql", &format!("DROP TABLE \"{into}\"; DROP TABLE \"{into}_pairs\"")], None)?;
    Ok(run)
}

fn anchor_run(value: &Value) -> Run {
    Run {
        seconds: value["seconds"].as_f64().unwrap_or(f64::NAN),
        peak_rss_bytes: value["peak_rss_mb"].as_u64().unwrap_or(0) << 20,
        precision: value["precision"].as_f64(),
        recall: value["recall"].as_f64(),
        f1: value["f1"].as_f64(),
        largest_cluster: value["largest_cluster"].as_u64(),
    }
}

/// The steps: (name, ours, anchor).
pub fn run(anchors: Option<&Path>, people_rows: u64, dir: &Path) -> anyhow::Result<(Vec<(String, Run, Option<Run>)>, Value)> {
    let workspace = dir.join("match.duckdb");
    let mut steps = Vec::new();
    let shared = anchors.and_then(|a| a.parent()).and_then(|b| b.parent());
    if let Some(febrl) = shared.map(|s| s.join("corpora/linkage/febrl2/dataset2.csv")).filter(|p| p.exists()) {
        dataforge(&workspace, &["import", &febrl.to_string_lossy(), "--table", "febrl2"], None)?;
        let ours = ours(&workspace, "febrl2", "rec_id", Some("regexp_extract(rec_id, 'rec-(\\d+)', 1)"), None)?;
        let anchor = match anchors {
            Some(a) => Some(anchor_run(&anchor_json(a, &["link", &febrl.to_string_lossy(), "--exclude", "rec_id"])?)),
            None => None,
        };
        steps.push(("match FEBRL 2 (5,000 rows)".to_string(), ours, anchor));
    }
    if let (Some(anchors), true) = (anchors, people_rows > 0) {
        let csv = dir.join("people.csv");
        anchor_json(anchors, &["people", &people_rows.to_string(), &csv.to_string_lossy()])?;
        dataforge(&workspace, &["import", &csv.to_string_lossy(), "--table", "people"], None)?;
        let ours = ours(&workspace, "people", "entity", Some("entity"), Some("2GB"))?;
        let anchor = anchor_run(&anchor_json(anchors, &["link", &csv.to_string_lossy(), "--truth", "entity"])?);
        steps.push((format!("match {} people (2 GB limit)", crate::engine::config::group_digits(people_rows)), ours, Some(anchor)));
    }
    let json = Value::Array(
        steps
            .iter()
            .map(|(name, ours, anchor)| json!({"step": name, "dataforge": ours.json(), "splink": anchor.as_ref().map(Run::json)}))
            .collect(),
    );
    Ok((steps, json))
}

/// The steps as lines of the bench's table.
pub fn text(steps: &[(String, Run, Option<Run>)]) -> String {
    let mut text = String::new();
    let f1 = |r: &Run| r.f1.map_or("-".to_string(), |f| format!("{f:.3}"));
    for (name, ours, anchor) in steps {
        let ratio = anchor.as_ref().map_or("-".to_string(), |a| format!("{:.2}x", ours.seconds / a.seconds));
        let anchor_secs = anchor.as_ref().map_or("-".to_string(), |a| format!("{:.3} s", a.seconds));
        text.push_str(&format!("{name:<34} {:>9.3} s {anchor_secs:>11} {ratio:>7}\n", ours.seconds));
        text.push_str(&format!(
            "{:<34} F1 {} (Splink {}), peak memory {} (Splink {}), largest cluster {} (Splink {})\n",
            "",
            f1(ours),
            anchor.as_ref().map_or("-".to_string(), f1),
            crate::engine::config::format_bytes(ours.peak_rss_bytes),
            anchor.as_ref().map_or("-".to_string(), |a| crate::engine::config::format_bytes(a.peak_rss_bytes)),
            ours.largest_cluster.map_or("-".to_string(), |c| c.to_string()),
            anchor.as_ref().and_then(|a| a.largest_cluster).map_or("-".to_string(), |c| c.to_string()),
        ));
    }
    text
}
