//! The corpus sweep: every file under ../shared/corpora and ../shared/realdata goes through
//! the importer, in worker processes supervised here with a time limit per file and a memory
//! bound. Each must end as a table or a typed, clear error; files meant to fail must fail;
//! files with known contents must load with them.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::shared;

const FILE_LIMIT: Duration = Duration::from_secs(30);
/// Grace on top of the worker's own cancel, before the supervisor kills it.
const KILL_AFTER: Duration = Duration::from_secs(45);
const RSS_BOUND_BYTES: u64 = 2 << 30;

#[derive(Debug)]
struct Outcome {
    ok: bool,
    kind: String,
    message: String,
    rows: u64,
    columns: u64,
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let doc = name == "SOURCE.txt" || name.starts_with("LICENSE") || name.starts_with("README") || name == "PROBE-RESULTS.tsv"
            || name.ends_with(".md") || name.starts_with("COPYING") || name.starts_with("NOTICE");
        // Arrow integration expectations are read by the checks, not imported.
        let expectation = name.ends_with(".json.gz") && p.to_string_lossy().contains("arrow-ipc-stream/integration");
        if !doc && !expectation {
            out.push(p);
        }
    }
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Runs the files through worker processes, restarting after a kill or crash.
fn supervise(mut files: Vec<PathBuf>, scratch: &Path, peak: &mut u64) -> BTreeMap<PathBuf, Outcome> {
    let mut results = BTreeMap::new();
    let mut round = 0;
    while !files.is_empty() {
        round += 1;
        let list = scratch.join(format!("list-{round}.txt"));
        std::fs::write(&list, files.iter().map(|f| f.to_string_lossy().into_owned()).collect::<Vec<_>>().join("\n")).unwrap();
        let ws = scratch.join(format!("ws-{round}.duckdb"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_dataforge"))
            .arg("--workspace")
            .arg(&ws)
            .args(["sweep-worker", "--list"])
            .arg(&list)
            .args(["--timeout", &FILE_LIMIT.as_secs().to_string()])
            .env("DATAFORGE_MEMORY_LIMIT", "1GB")
            .env("DATAFORGE_THREADS", "1")
            .env("DATAFORGE_TEMP_DIR", scratch.join("tmp"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<serde_json::Value>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut current: Option<(PathBuf, Instant)> = None;
        let failure = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(v) if v.get("start").is_some() => {
                    current = Some((PathBuf::from(v["start"].as_str().unwrap()), Instant::now()));
                }
                Ok(v) => {
                    let file = PathBuf::from(v["file"].as_str().unwrap());
                    files.retain(|f| *f != file);
                    current = None;
                    results.insert(
                        file,
                        Outcome {
                            ok: v["ok"].as_bool().unwrap(),
                            kind: v["kind"].as_str().unwrap_or("").to_string(),
                            message: v["message"].as_str().unwrap_or("").to_string(),
                            rows: v["rows"].as_u64().unwrap_or(0),
                            columns: v["columns"].as_u64().unwrap_or(0),
                        },
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break current.map(|(f, _)| (f, "crash", "the worker died")),
            }
            let rss = rss_bytes(child.id());
            *peak = (*peak).max(rss);
            if let Some((file, started)) = &current {
                if rss > RSS_BOUND_BYTES {
                    break Some((file.clone(), "memory", "exceeded the memory bound"));
                }
                if started.elapsed() > KILL_AFTER {
                    break Some((file.clone(), "hang", "did not stop after the time limit"));
                }
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(&ws);
        let _ = std::fs::remove_file(ws.with_extension("duckdb.wal"));
        if let Some((file, kind, message)) = failure {
            files.retain(|f| *f != file);
            results.insert(file, Outcome { ok: false, kind: kind.into(), message: message.into(), rows: 0, columns: 0 });
        }
    }
    results
}

fn rel(path: &Path) -> String {
    let text = path.to_string_lossy();
    text.split("/shared/").nth(1).unwrap_or(&text).to_string()
}

/// Files `corpora/README.md` lists as meant to fail. Not here: non-UTF-8 text (plain DuckDB
/// rejects it; this importer converts it) and the broken-CSV folders, some of whose files
/// DuckDB's reader makes sense of in lenient mode — for those any clean outcome is fine.
fn meant_to_fail(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    // `_EXCLUDE` jsonchecker cases (a lone string, deep nesting) are valid JSON to modern
    // parsers; JSONTestSuite's y_ files require both to load.
    let json = rel.starts_with("corpora/JSONTestSuite/test_parsing/n_")
        || (rel.contains("nativejson-benchmark/data/jsonchecker/fail") && !name.contains("_EXCLUDE"))
        || rel.contains("duckdb-data/data/json/malformed/");
    let parquet = rel.contains("parquet-testing/bad_data/")
        || (rel.contains("shredded_variant/") && name.contains("-INVALID"))
        || name.ends_with(".parquet.encrypted")
        || rel.contains("arrow-testing/data/parquet/fuzzing/")
        || rel.contains("encoding-fuzzing/")
        || ["broken/", "afl/", "encryption/"].iter().any(|d| rel.contains(&format!("duckdb-data/data/parquet-testing/{d}")))
        || (name.starts_with("invalid") && name.ends_with(".parquet"))
        || name == "corrupt_stats.parquet"
        || name == "page_size_corruption.parquet";
    let arrow = (rel.contains("arrow-testing/data/arrow-ipc") && (name.starts_with("clusterfuzz-testcase-") || name.starts_with("crash-")))
        || rel.ends_with("forward-compatibility/schema_v6.arrow");
    let excel = rel.contains("calamine/tests/pass_protected.")
        || rel.ends_with("calamine/tests/issue_385.xls")
        || (rel.contains("sheetjs-test-files/") && name.starts_with("password_") && name.ends_with(".xls"))
        || rel.ends_with("encrypted_no_password.xls")
        || ["too_small.xls", "OOM_alloc3.xls", "issue252.xlsx", "issue_594_dos.ods"].iter().any(|n| rel.ends_with(&format!("calamine/tests/{n}")));
    json || parquet || arrow || excel
}

/// Rows the Arrow integration JSON says its IPC twin holds.
fn arrow_expected_rows(ipc: &Path) -> Option<(u64, u64)> {
    let stem = ipc.file_stem()?.to_string_lossy().to_string();
    let json = ipc.with_file_name(format!("{stem}.json.gz"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(json).ok()?).read_to_string(&mut text).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let rows = v["batches"].as_array()?.iter().map(|b| b["count"].as_u64().unwrap_or(0)).sum();
    let cols = v["schema"]["fields"].as_array()?.len() as u64;
    Some((rows, cols))
}

/// Rows a valid JSON document should become: an array of objects is one row each, an object
/// one row.
fn json_expected_rows(path: &Path) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    match &v {
        serde_json::Value::Array(items) if !items.is_empty() && items.iter().all(|i| i.is_object() && !i.as_object().unwrap().is_empty()) => {
            Some(items.len() as u64)
        }
        serde_json::Value::Object(map) if !map.is_empty() => Some(1),
        _ => None,
    }
}

/// Rows each file had when DuckDB (or pyarrow, for Arrow IPC) loaded it: `PROBE-RESULTS.tsv`.
fn reference_rows() -> std::collections::HashMap<String, u64> {
    let text = std::fs::read_to_string(shared().join("corpora/PROBE-RESULTS.tsv")).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 5 || cols[0] != "OK" {
                return None;
            }
            let rows = cols[4].split(['x', ' ']).next()?.parse().ok()?;
            Some((cols[3].to_string(), rows))
        })
        .collect()
}

#[test]
fn corpus_sweep_every_file_loads_or_fails_clearly() {
    let mut files = Vec::new();
    collect(&shared().join("corpora"), &mut files);
    collect(&shared().join("realdata"), &mut files);
    assert!(files.len() > 3000, "{} files", files.len());
    let scratch = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // Two supervisors, one per core.
    let (even, odd): (Vec<_>, Vec<_>) = files.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
    let halves = [even, odd].map(|h| h.into_iter().map(|(_, f)| f).collect::<Vec<_>>());
    let dirs = [scratch.path().join("a"), scratch.path().join("b")];
    let mut results = BTreeMap::new();
    let mut peak = 0;
    std::thread::scope(|s| {
        let handles: Vec<_> = halves
            .into_iter()
            .zip(&dirs)
            .map(|(half, dir)| {
                std::fs::create_dir_all(dir).unwrap();
                s.spawn(move || {
                    let mut peak = 0;
                    let r = supervise(half, dir, &mut peak);
                    (r, peak)
                })
            })
            .collect();
        for h in handles {
            let (r, p) = h.join().unwrap();
            results.extend(r);
            peak = peak.max(p);
        }
    });

    // DATAFORGE_SWEEP_REPORT=path writes every outcome, one JSON line per file, to compare runs.
    if let Ok(report) = std::env::var("DATAFORGE_SWEEP_REPORT") {
        let lines: Vec<String> = results
            .iter()
            .map(|(p, o)| serde_json::json!({"file": rel(p), "ok": o.ok, "kind": o.kind, "message": o.message, "rows": o.rows, "columns": o.columns}).to_string())
            .collect();
        std::fs::write(report, lines.join("\n")).unwrap();
    }
    let (mut ok, mut clear) = (0, 0);
    let mut wrong = Vec::new();
    let mut accepted = Vec::new();
    let reference = reference_rows();
    for (path, outcome) in &results {
        let rel = rel(path);
        let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
        let verdict: Result<(), String> = (|| {
            if matches!(outcome.kind.as_str(), "timeout" | "hang" | "crash" | "memory") {
                return Err(format!("{}: {}", outcome.kind, outcome.message));
            }
            if outcome.message.contains("invalidated") {
                return Err(format!("the workspace was invalidated by an earlier file: {}", outcome.message));
            }
            if outcome.message.starts_with("internal error") || outcome.message.is_empty() && !outcome.ok {
                return Err(format!("panic or empty message: {}", outcome.message));
            }
            if outcome.ok && meant_to_fail(&rel) {
                // DuckDB and pyarrow read a few of these without complaint; loading the same
                // rows they do is no worse than the reference readers.
                if reference.get(rel.trim_start_matches("corpora/")) == Some(&outcome.rows) {
                    accepted.push(format!("{rel} ({} rows, as the reference readers)", outcome.rows));
                    return Ok(());
                }
                return Err(format!("loaded ({} rows) but is meant to fail", outcome.rows));
            }
            let must_load = rel.starts_with("realdata/")
                || rel.contains("csv-spectrum/csvs/")
                || (rel.contains("JSONTestSuite/test_parsing/") && name.starts_with("y_"))
                || (rel.contains("arrow-ipc-stream/integration/") && !rel.contains("bigendian") && !name.ends_with(".json.gz"));
            if must_load && !outcome.ok && !name.ends_with(".txt") {
                return Err(format!("must load: {}", outcome.message));
            }
            if outcome.ok && rel.contains("arrow-ipc-stream/integration/") {
                if let Some((rows, cols)) = arrow_expected_rows(path) {
                    if (outcome.rows, outcome.columns) != (rows, cols) {
                        return Err(format!("{} rows × {} columns, expected {rows} × {cols}", outcome.rows, outcome.columns));
                    }
                }
            }
            if outcome.ok && name.starts_with("y_") && name.ends_with(".json") {
                if let Some(rows) = json_expected_rows(path) {
                    if outcome.rows != rows {
                        return Err(format!("{} rows, expected {rows}", outcome.rows));
                    }
                }
            }
            Ok(())
        })();
        match verdict {
            Err(why) => wrong.push(format!("{rel}: {why}")),
            Ok(()) if outcome.ok => ok += 1,
            Ok(()) => clear += 1,
        }
    }
    println!(
        "corpus sweep: {} files in {:.0}s — ok {ok} / clear error {clear} / wrong {}; peak worker RSS {} MB",
        results.len(),
        started.elapsed().as_secs_f64(),
        wrong.len(),
        peak >> 20
    );
    for a in &accepted {
        println!("  meant to fail, loaded as by DuckDB/pyarrow: {a}");
    }
    for w in &wrong {
        println!("  wrong: {w}");
    }
    assert_eq!(results.len(), files.len());
    assert!(wrong.is_empty(), "{} files went wrong:\n{}", wrong.len(), wrong.join("\n"));
}
