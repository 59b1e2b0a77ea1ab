//! `dataforge bench --compare`: the naive way against ours, on the same generated rows, so
//! the speed-ups the README states are measured side by side: loading a CSV row by row
//! through a prepared INSERT (the loader people write first) and through DuckDB's Appender
//! against dataforge's import; a hash set over whole rows against dataforge's dedupe; a
//! row-by-row profile in plain Rust against dataforge's.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::engine::config::EnvOverrides;
use crate::engine::dedupe::{DedupeJob, DedupeSpec, DedupeTarget};
use crate::engine::import::ImportJob;
use crate::engine::job::{no_waker, spawn};
use crate::engine::profile::{ProfileJob, ProfileOptions};
use crate::engine::view::View;

pub struct Comparison {
    pub name: &'static str,
    pub naive: &'static str,
    pub naive_secs: f64,
    pub ours_secs: f64,
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

pub fn run(rows: u64, dir: &Path) -> anyhow::Result<(Vec<Comparison>, Value)> {
    let csv = dir.join("compare.csv");
    eprintln!("generating {rows} rows…");
    super::bench::generate_csv(rows, &csv)?;
    let ws = Arc::new(crate::engine::catalog::open_workspace(&dir.join("compare.duckdb"), EnvOverrides::from_env()?)?);
    let conn = ws.connect()?;
    let mut out = Vec::new();

    // Loading.
    let header: Vec<String> = csv::Reader::from_path(&csv)?.headers()?.iter().map(str::to_string).collect();
    let columns: Vec<String> = header.iter().map(|h| format!("{} VARCHAR", crate::engine::sql::quote_ident(h))).collect();
    conn.execute_batch(&format!("CREATE TABLE naive_insert ({0}); CREATE TABLE naive_appender ({0});", columns.join(", ")))?;
    let started = Instant::now();
    conn.execute_batch("BEGIN TRANSACTION")?;
    {
        let marks = vec!["?"; header.len()].join(", ");
        let mut insert = conn.prepare(&format!("INSERT INTO naive_insert VALUES ({marks})"))?;
        for record in csv::Reader::from_path(&csv)?.records() {
            let record = record?;
            insert.execute(duckdb::params_from_iter(record.iter()))?;
        }
    }
    conn.execute_batch("COMMIT")?;
    let insert_secs = secs(started);
    let started = Instant::now();
    {
        let mut appender = conn.appender("naive_appender")?;
        for record in csv::Reader::from_path(&csv)?.records() {
            let record = record?;
            appender.append_row(duckdb::appender_params_from_iter(record.iter()))?;
        }
        appender.flush()?;
    }
    let appender_secs = secs(started);
    let started = Instant::now();
    spawn(ImportJob::new(ws.clone(), &csv, Some("t".into())), no_waker()).wait()?;
    let import_secs = secs(started);
    out.push(Comparison { name: "load a CSV", naive: "row-by-row prepared INSERT", naive_secs: insert_secs, ours_secs: import_secs });
    out.push(Comparison { name: "load a CSV", naive: "DuckDB Appender, row by row", naive_secs: appender_secs, ours_secs: import_secs });

    // Whole-row dedupe into a new table.
    let started = Instant::now();
    {
        let names: Vec<String> = header.iter().map(|h| format!("CAST({} AS VARCHAR)", crate::engine::sql::quote_ident(h))).collect();
        conn.execute_batch(&format!("CREATE TABLE naive_unique ({})", columns.join(", ")))?;
        let mut seen: HashSet<Vec<Option<String>>> = HashSet::new();
        let mut appender = conn.appender("naive_unique")?;
        let mut stmt = conn.prepare(&format!("SELECT {} FROM t", names.join(", ")))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let values = (0..header.len()).map(|i| row.get::<_, Option<String>>(i)).collect::<duckdb::Result<Vec<_>>>()?;
            if !seen.contains(&values) {
                appender.append_row(duckdb::appender_params_from_iter(values.iter()))?;
                seen.insert(values);
            }
        }
        appender.flush()?;
    }
    let naive_dedupe = secs(started);
    let started = Instant::now();
    let spec = DedupeSpec::new("t");
    spawn(DedupeJob { workspace: ws.clone(), spec, excluded: Vec::new(), target: DedupeTarget::NewTable(Some("t_unique".into())) }, no_waker()).wait()?;
    let dedupe_secs = secs(started);
    let (naive_rows, our_rows): (i64, i64) = conn.query_row("SELECT (SELECT count(*) FROM naive_unique), (SELECT count(*) FROM t_unique)", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    anyhow::ensure!(naive_rows == our_rows, "the dedupes disagree: {naive_rows} rows against {our_rows}");
    out.push(Comparison { name: "remove duplicate rows", naive: "hash set over every row", naive_secs: naive_dedupe, ours_secs: dedupe_secs });

    // Profile: count, missing, distinct, min, max and mean of every column.
    let started = Instant::now();
    {
        let names: Vec<String> = header.iter().map(|h| format!("CAST({} AS VARCHAR)", crate::engine::sql::quote_ident(h))).collect();
        let mut stmt = conn.prepare(&format!("SELECT {} FROM t", names.join(", ")))?;
        let mut rows = stmt.query([])?;
        #[derive(Default)]
        struct Figures {
            count: u64,
            missing: u64,
            distinct: HashMap<String, u64>,
            min: Option<String>,
            max: Option<String>,
            sum: f64,
            numbers: u64,
        }
        let mut figures: Vec<Figures> = (0..header.len()).map(|_| Figures::default()).collect();
        while let Some(row) = rows.next()? {
            for (i, f) in figures.iter_mut().enumerate() {
                f.count += 1;
                match row.get::<_, Option<String>>(i)? {
                    None => f.missing += 1,
                    Some(v) => {
                        if let Ok(x) = v.parse::<f64>() {
                            f.sum += x;
                            f.numbers += 1;
                        }
                        if f.min.as_ref().is_none_or(|m| v < *m) {
                            f.min = Some(v.clone());
                        }
                        if f.max.as_ref().is_none_or(|m| v > *m) {
                            f.max = Some(v.clone());
                        }
                        *f.distinct.entry(v).or_default() += 1;
                    }
                }
            }
        }
        let distinct: usize = figures.iter().map(|f| f.distinct.len()).sum();
        anyhow::ensure!(distinct > 0, "the naive profile saw no values");
    }
    let naive_profile = secs(started);
    let started = Instant::now();
    spawn(ProfileJob { workspace: ws.clone(), view: View::table("t"), options: ProfileOptions::default(), on_column: None }, no_waker()).wait().context("profiling")?;
    let profile_secs = secs(started);
    out.push(Comparison { name: "profile every column", naive: "row-by-row counts in plain Rust", naive_secs: naive_profile, ours_secs: profile_secs });

    let json = json!({
        "rows": rows,
        "steps": out.iter().map(|c| json!({"step": c.name, "naive": c.naive, "naive_secs": c.naive_secs, "ours_secs": c.ours_secs, "speedup": c.naive_secs / c.ours_secs})).collect::<Vec<_>>(),
    });
    Ok((out, json))
}

pub fn text(rows: u64, steps: &[Comparison]) -> String {
    let machine = format!(
        "{} cores, {} memory",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::engine::config::format_bytes(crate::engine::job::memory::total_memory_bytes())
    );
    let mut text = format!("dataforge bench --compare: {} generated rows, {machine}\n", crate::engine::config::group_digits(rows));
    text.push_str(&format!("{:<24} {:<34} {:>10} {:>10} {:>9}\n", "step", "the naive way", "naive", "dataforge", "speed-up"));
    for c in steps {
        text.push_str(&format!("{:<24} {:<34} {:>8.2} s {:>8.2} s {:>8.1}x\n", c.name, c.naive, c.naive_secs, c.ours_secs, c.naive_secs / c.ours_secs));
    }
    text
}
