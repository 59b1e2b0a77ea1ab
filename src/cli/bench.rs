//! `dataforge bench`: times the engine's own jobs on a deterministic CSV (the same data as
//! `shared/bench/anchors gen`) and, given the anchors script, the same work done directly by
//! DuckDB in the same run, so the report shows ratios rather than noisy absolute times.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::engine::browse::{Browser, PAGE_ROWS, TableView};
use crate::engine::config::EnvOverrides;
use crate::engine::export::ExportJob;
use crate::engine::view::{Condition, Filter, SortKey, Source, TextMatch, View};
use crate::engine::import::linked::LinkJob;
use crate::engine::import::{ImportJob, ImportOptions};
use crate::engine::job::{no_waker, spawn};
use crate::engine::sql::quote_literal;
use crate::engine::Workspace;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Rows of the generated CSV
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Use this CSV instead of generating one
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Runs of each timed step; the best is reported
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Random 100-row pages fetched from the sorted table
    #[arg(long, default_value_t = 500)]
    pub pages: u32,
    /// The anchors script (shared/bench/anchors): time DuckDB itself alongside
    #[arg(long, value_name = "PATH")]
    pub anchors: Option<PathBuf>,
    /// Generated people (`anchors people`) to match beside Splink; 0 skips them
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub match_rows: u64,
    /// Only the record matching steps
    #[arg(long)]
    pub match_only: bool,
    /// Only the naive way against ours (row-by-row loading, a hash-set dedupe, a row-by-row
    /// profile), on this many generated rows
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "200000")]
    pub compare: Option<u64>,
}

struct Step {
    name: &'static str,
    ours_secs: f64,
    anchor_secs: Option<f64>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<(Value, String)> {
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let dir = tempfile::tempdir().context("creating a scratch folder")?;
    if let Some(rows) = args.compare {
        let (steps, json) = super::bench_compare::run(rows, dir.path())?;
        return Ok((json!({"ok": true, "command": "bench", "compare": json}), super::bench_compare::text(rows, &steps)));
    }
    if args.match_only {
        let (steps, json) = super::bench_match::run(args.anchors.as_deref(), args.match_rows, dir.path())?;
        let text = format!("dataforge bench: record matching\n{}", super::bench_match::text(&steps));
        return Ok((json!({"ok": true, "command": "bench", "match": json}), text));
    }
    let csv = match &args.csv {
        Some(p) => p.clone(),
        None => {
            let path = dir.path().join("bench.csv");
            eprintln!("generating {} rows…", args.rows);
            generate_csv(args.rows, &path)?;
            path
        }
    };
    let csv_bytes = std::fs::metadata(&csv).with_context(|| csv.display().to_string())?.len();
    let mut steps = Vec::new();

    // Import: a fresh workspace file per run, alternating with the anchor's own run.
    let mut import_best = f64::MAX;
    let mut anchor_import_best: Option<f64> = None;
    let mut rows = 0;
    for run in 0..args.repeat {
        let path = dir.path().join(format!("import-{run}.duckdb"));
        let ws = Arc::new(crate::engine::catalog::open_workspace(&path, EnvOverrides::from_env()?)?);
        let started = Instant::now();
        let report = spawn(ImportJob::new(ws.clone(), &csv, Some("t".into())), no_waker()).wait()?;
        import_best = import_best.min(started.elapsed().as_secs_f64());
        rows = report.rows;
        drop(ws);
        remove_workspace(&path);
        if let Some(anchors) = &args.anchors {
            let secs = anchor(anchors, &["import", &csv.to_string_lossy()])?;
            anchor_import_best = Some(anchor_import_best.map_or(secs, |b: f64| b.min(secs)));
        }
    }
    steps.push(Step { name: "import CSV", ours_secs: import_best, anchor_secs: anchor_import_best });

    let path = dir.path().join("work.duckdb");
    let ws = Arc::new(crate::engine::catalog::open_workspace(&path, EnvOverrides::from_env()?)?);
    spawn(ImportJob::new(ws.clone(), &csv, Some("t".into())), no_waker()).wait()?;

    let conn = ws.connect()?;
    let mut scan_best = f64::MAX;
    for _ in 0..args.repeat {
        let started = Instant::now();
        conn.execute_batch("SELECT min(COLUMNS(*)) FROM t")?;
        scan_best = scan_best.min(started.elapsed().as_secs_f64());
    }
    steps.push(Step { name: "full scan (min of every column)", ours_secs: scan_best, anchor_secs: None });

    // What the table view does: the first page of a new sort or filter straight from its
    // query, the copy for deep pages in the background.
    let sorted = View { sort: vec![SortKey::ascending("amount")], ..View::table("t") };
    let (first, ready) = time_view(&ws, sorted.clone())?;
    steps.push(Step { name: "new sort: first page", ours_secs: first, anchor_secs: None });
    steps.push(Step { name: "new sort: all pages ready", ours_secs: ready, anchor_secs: None });
    let filtered = View {
        filters: vec![Filter { column: "email".into(), condition: Condition::Text { how: TextMatch::Contains, value: "user77".into(), case_sensitive: false } }],
        ..View::table("t")
    };
    let (first, ready) = time_view(&ws, filtered)?;
    steps.push(Step { name: "new filter: first page", ours_secs: first, anchor_secs: None });
    steps.push(Step { name: "new filter: all pages ready", ours_secs: ready, anchor_secs: None });

    let mut browser = Browser::new(&ws)?;
    browser.fetch(&sorted, 0, PAGE_ROWS)?;
    let mut page_ms = Vec::with_capacity(args.pages as usize);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let last_start = rows.saturating_sub(PAGE_ROWS);
    for _ in 0..args.pages {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let first = if last_start == 0 { 0 } else { rng % last_start };
        let started = Instant::now();
        let page = browser.fetch(&sorted, first, PAGE_ROWS)?;
        page_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if page.rows.len() as u64 != PAGE_ROWS.min(rows - first) {
            bail!("page at row {first} came back with {} rows", page.rows.len());
        }
    }
    page_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| page_ms.get(((page_ms.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    let (p50, p99, max) = (pct(0.5), pct(0.99), page_ms.last().copied().unwrap_or(0.0));

    let mut export_best = f64::MAX;
    let mut anchor_export_best: Option<f64> = None;
    let out = dir.path().join("out.parquet");
    for _ in 0..args.repeat {
        let started = Instant::now();
        let options = crate::engine::export::ExportOptions { overwrite: true, ..Default::default() };
        spawn(ExportJob::new(ws.clone(), View::table("t"), &out, options), no_waker()).wait()?;
        export_best = export_best.min(started.elapsed().as_secs_f64());
        if let Some(anchors) = &args.anchors {
            let anchor_out = dir.path().join("anchor.parquet");
            let secs = anchor(anchors, &["export", &csv.to_string_lossy(), &anchor_out.to_string_lossy()])?;
            anchor_export_best = Some(anchor_export_best.map_or(secs, |b: f64| b.min(secs)));
        }
    }
    steps.push(Step { name: "export Parquet (zstd)", ours_secs: export_best, anchor_secs: anchor_export_best });

    // Open in place: link the exported Parquet file and the CSV, then read their first page.
    for (name, file, step) in [("lp", &out, "open Parquet in place + first page"), ("lc", &csv, "open CSV in place + first page")] {
        let started = Instant::now();
        let options = ImportOptions { table: Some(name.into()), ..ImportOptions::new() };
        spawn(LinkJob::new(ws.clone(), file, options), no_waker()).wait()?;
        browser.describe_fast(&Source::Table(name.to_string()))?;
        browser.fetch(&View::table(name), 0, PAGE_ROWS)?;
        steps.push(Step { name: step, ours_secs: started.elapsed().as_secs_f64(), anchor_secs: None });
    }

    // Excel: a fresh process (as a user runs it) exports up to 1M rows; its peak memory is
    // the job's own measure.
    drop(browser);
    drop(conn);
    drop(ws);
    let xlsx_rows = rows.min(1_000_000);
    let xlsx = dir.path().join("out.xlsx");
    let started = Instant::now();
    let child = Command::new(std::env::current_exe()?)
        .args(["--workspace", &path.to_string_lossy(), "--json", "export", "t", &xlsx.to_string_lossy(), "--where", &format!("id < {xlsx_rows}")])
        .output()
        .context("running the Excel export")?;
    let xlsx_secs = started.elapsed().as_secs_f64();
    if !child.status.success() {
        bail!("the Excel export failed: {}", String::from_utf8_lossy(&child.stderr));
    }
    let report: Value = serde_json::from_slice(&child.stdout)?;
    let xlsx_peak = report["metrics"]["peak_rss_bytes"].as_u64().unwrap_or(0);
    let xlsx_bytes = report["report"]["bytes"].as_u64().unwrap_or(0);
    steps.push(Step { name: "export Excel (1M rows, own process)", ours_secs: xlsx_secs, anchor_secs: None });

    // Profile: every statistic of every column, in a fresh process (its peak memory is the
    // job's own measure), beside Polars describe + nulls + n_unique + top values in memory.
    let (mut profile_best, mut profile_peak, mut profile_runs) = (f64::MAX, 0u64, Vec::new());
    let mut anchor_profile_best: Option<f64> = None;
    for _ in 0..args.repeat {
        let child = Command::new(std::env::current_exe()?)
            .args(["--workspace", &path.to_string_lossy(), "--json", "profile", "t"])
            .output()
            .context("running the profile")?;
        if !child.status.success() {
            bail!("the profile failed: {}", String::from_utf8_lossy(&child.stderr));
        }
        let report: Value = serde_json::from_slice(&child.stdout)?;
        let secs = report["metrics"]["duration_secs"].as_f64().unwrap_or(f64::MAX);
        profile_runs.push(secs);
        if secs < profile_best {
            profile_best = secs;
            profile_peak = report["metrics"]["peak_rss_bytes"].as_u64().unwrap_or(0);
        }
        if let Some(anchors) = &args.anchors {
            let secs = anchor(anchors, &["profile", &csv.to_string_lossy()])?;
            anchor_profile_best = Some(anchor_profile_best.map_or(secs, |b: f64| b.min(secs)));
        }
    }
    steps.push(Step { name: "profile every column (own process)", ours_secs: profile_best, anchor_secs: anchor_profile_best });
    profile_runs.sort_by(f64::total_cmp);
    let profile_median = profile_runs[profile_runs.len() / 2];

    // Dedupe by (email, day), keeping the first by id, into a new table with the removed rows
    // beside it (the job's own time), against DuckDB's QUALIFY row_number() = 1; then once
    // more with the memory limit at a quarter of the CSV's size, with its peak memory.
    let dedupe = |memory_limit: Option<u64>| -> anyhow::Result<(f64, u64)> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["--workspace", &path.to_string_lossy(), "--json", "dedupe", "t", "--keys", "email,day", "--order-by", "id", "--into", "t_dedupe_bench"]);
        if let Some(limit) = memory_limit {
            command.env("DATAFORGE_MEMORY_LIMIT", limit.to_string());
        }
        let child = command.output().context("running the dedupe")?;
        if !child.status.success() {
            bail!("the dedupe failed: {}", String::from_utf8_lossy(&child.stderr));
        }
        let report: Value = serde_json::from_slice(&child.stdout)?;
        let drop = Command::new(std::env::current_exe()?)
            .args(["--workspace", &path.to_string_lossy(), "sql", "DROP TABLE t_dedupe_bench; DROP TABLE t_removed"])
            .output()?;
        if !drop.status.success() {
            bail!("dropping the dedupe's tables failed: {}", String::from_utf8_lossy(&drop.stderr));
        }
        Ok((report["metrics"]["duration_secs"].as_f64().unwrap_or(f64::MAX), report["metrics"]["peak_rss_bytes"].as_u64().unwrap_or(0)))
    };
    let (mut dedupe_best, mut anchor_dedupe_best) = (f64::MAX, None::<f64>);
    for _ in 0..args.repeat {
        dedupe_best = dedupe_best.min(dedupe(None)?.0);
        if let Some(anchors) = &args.anchors {
            let secs = anchor(anchors, &["dedupe", &csv.to_string_lossy()])?;
            anchor_dedupe_best = Some(anchor_dedupe_best.map_or(secs, |b| b.min(secs)));
        }
    }
    steps.push(Step { name: "dedupe (email, day), keep first", ours_secs: dedupe_best, anchor_secs: anchor_dedupe_best });
    let quarter = (csv_bytes / 4).max(64 << 20);
    let (quarter_secs, quarter_peak) = dedupe(Some(quarter))?;
    steps.push(Step { name: "same dedupe, memory limit = CSV/4", ours_secs: quarter_secs, anchor_secs: None });

    let mut text = format!(
        "dataforge bench: {rows} rows, {:.1} MB CSV, best of {} runs\n{:<34} {:>11} {:>11} {:>7}\n",
        csv_bytes as f64 / 1e6,
        args.repeat,
        "step",
        "dataforge",
        "anchor",
        "ratio"
    );
    for s in &steps {
        let anchor = s.anchor_secs.map_or("-".to_string(), |a| format!("{a:.3} s"));
        let ratio = s.anchor_secs.map_or("-".to_string(), |a| format!("{:.2}x", s.ours_secs / a));
        text.push_str(&format!("{:<34} {:>9.3} s {:>11} {:>7}\n", s.name, s.ours_secs, anchor, ratio));
    }
    text.push_str(&format!(
        "{:<34} p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms\n",
        format!("{} random sorted pages", args.pages)
    ));
    text.push_str(&format!(
        "{:<34} {} rows, {}, peak memory {}\n",
        "Excel export",
        crate::engine::config::group_digits(xlsx_rows),
        crate::engine::config::format_bytes(xlsx_bytes),
        crate::engine::config::format_bytes(xlsx_peak)
    ));

    text.push_str(&format!(
        "{:<34} median {profile_median:.3} s of {} runs, peak memory {}\n",
        "Profile",
        profile_runs.len(),
        crate::engine::config::format_bytes(profile_peak)
    ));
    text.push_str(&format!(
        "{:<34} limit {}, peak memory {}\n",
        "Dedupe with a quarter of memory",
        crate::engine::config::format_bytes(quarter),
        crate::engine::config::format_bytes(quarter_peak)
    ));

    eprintln!("matching records…");
    let (match_steps, match_json) = super::bench_match::run(args.anchors.as_deref(), args.match_rows, dir.path())?;
    text.push_str(&super::bench_match::text(&match_steps));

    let json = json!({
        "ok": true,
        "command": "bench",
        "match": match_json,
        "rows": rows,
        "csv_bytes": csv_bytes,
        "repeat": args.repeat,
        "steps": steps.iter().map(|s| json!({
            "step": s.name, "seconds": s.ours_secs, "anchor_seconds": s.anchor_secs,
            "ratio": s.anchor_secs.map(|a| s.ours_secs / a),
        })).collect::<Vec<_>>(),
        "sorted_page_ms": {"p50": p50, "p99": p99, "max": max, "pages": args.pages},
        "xlsx": {"rows": xlsx_rows, "seconds": xlsx_secs, "bytes": xlsx_bytes, "peak_rss_bytes": xlsx_peak},
        "profile": {"seconds": profile_best, "median_seconds": profile_median, "peak_rss_bytes": profile_peak, "polars_seconds": anchor_profile_best},
        "dedupe": {"seconds": dedupe_best, "duckdb_seconds": anchor_dedupe_best,
                   "quarter_memory": {"limit_bytes": quarter, "seconds": quarter_secs, "peak_rss_bytes": quarter_peak}},
    });
    Ok((json, text))
}

/// Writes the anchors' 12-column CSV (same SQL, so the same bytes for the same row count).
pub fn generate_csv(rows: u64, out: &Path) -> anyhow::Result<()> {
    let conn = duckdb::Connection::open_in_memory()?;
    let keys = (rows * 9 / 10).max(1);
    conn.execute_batch(&format!(
        "COPY (
          SELECT
            i AS id,
            'user' || k || '@example.' || ['com','org','net'][1 + k % 3] AS email,
            ['Ann','Bob','Cleo','Dmitri','Eve','Fran','Gus','Hana'][1 + (h >> 3) % 8] || ' ' ||
              ['Smith','Jones','Müller','García','Nguyen','O''Brien'][1 + (h >> 7) % 6] AS name,
            ['DE','FR','US','JP','BR','IN','NG'][1 + (h >> 11) % 7] AS country,
            DATE '2024-01-01' + CAST(k % 700 AS INTEGER) AS day,
            round(((h >> 13) % 1000000) / 100.0, 2) AS amount,
            CAST((h >> 17) % 50 AS INTEGER) AS qty,
            TIMESTAMP '2024-01-01 00:00:00' + to_seconds(CAST((h >> 5) % 60000000 AS BIGINT)) AS ts,
            (h >> 23) % 2 = 0 AS active,
            CASE WHEN (h >> 29) % 20 = 0 THEN NULL ELSE ['a','b','c','d'][1 + (h >> 31) % 4] END AS category,
            CASE WHEN (h >> 37) % 10 = 0 THEN 'said \"hi\", then left' ELSE 'note ' || (h % 997) END AS note,
            (h >> 41) % 100000 AS code
          FROM (SELECT i, i % {keys} AS k, CAST(hash(i) >> 1 AS BIGINT) AS h FROM range({rows}) t(i))
        ) TO {} (HEADER, DELIMITER ',')",
        quote_literal(&out.to_string_lossy())
    ))?;
    Ok(())
}

/// Seconds until a table view shows the first page of `view`, and until it is prepared
/// (counted, every page a range scan).
fn time_view(ws: &Arc<Workspace>, view: View) -> anyhow::Result<(f64, f64)> {
    let mut table = TableView::open(ws.clone(), "t", no_waker())?;
    let deadline = Instant::now() + std::time::Duration::from_secs(600);
    let wait = |table: &mut TableView, done: &dyn Fn(&TableView) -> bool| -> anyhow::Result<()> {
        while !done(table) {
            if Instant::now() > deadline {
                bail!("the table view did not settle");
            }
            if let Some(e) = table.error().or(table.view_error()) {
                bail!("{e}");
            }
            table.poll();
            table.prefetch(0..PAGE_ROWS);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(())
    };
    wait(&mut table, &|t| t.has_rows(0..PAGE_ROWS))?;
    let started = Instant::now();
    table.set_view(view);
    wait(&mut table, &|t| !t.is_showing_old_rows() && t.has_rows(0..PAGE_ROWS))?;
    let first = started.elapsed().as_secs_f64();
    wait(&mut table, &|t| !t.is_preparing() && !t.is_counting())?;
    Ok((first, started.elapsed().as_secs_f64()))
}

fn anchor(script: &Path, args: &[&str]) -> anyhow::Result<f64> {
    anchor_json(script, args)?["seconds"].as_f64().context("anchors JSON has no seconds")
}

/// Runs an anchors command and returns the JSON line it printed.
pub(super) fn anchor_json(script: &Path, args: &[&str]) -> anyhow::Result<Value> {
    // The anchors run with their own defaults, not the thread setting this process gives Polars.
    let output = Command::new(script)
        .args(args)
        .env_remove("POLARS_MAX_THREADS")
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!("{} {} failed: {}", script.display(), args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).context("anchors printed no JSON")?;
    Ok(serde_json::from_str(line)?)
}

fn remove_workspace(path: &Path) {
    let _ = std::fs::remove_file(path);
    let mut wal = path.as_os_str().to_owned();
    wal.push(".wal");
    let _ = std::fs::remove_file(PathBuf::from(wal));
}
