use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{generated_csv, shared, write_file};

fn dataforge(workspace: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .arg("--workspace")
        .arg(workspace)
        .args(args)
        .env_remove("DATAFORGE_WORKSPACE")
        .output()
        .expect("run dataforge")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn import_tables_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");
    let penguins = shared().join("realdata/palmerpenguins/penguins.csv");

    let out = dataforge(&ws, &["import", penguins.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["imports"][0]["report"]["table"], "penguins");
    assert_eq!(v["imports"][0]["report"]["rows"], 344);
    assert!(v["imports"][0]["metrics"]["duration_secs"].as_f64().unwrap() > 0.0);

    let out = dataforge(&ws, &["tables", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["tables"][0]["name"], "penguins");
    assert_eq!(v["tables"][0]["rows"], 344);
    assert_eq!(v["tables"][0]["columns"], 8);

    let out = dataforge(&ws, &["tables"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("penguins") && text.contains("344"), "{text}");

    let parquet = dir.path().join("p.parquet");
    let out = dataforge(&ws, &["export", "penguins", parquet.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["report"]["rows"], 344);
    assert!(std::fs::metadata(&parquet).unwrap().len() > 1000);

    // The exported file imports again with the same shape.
    let out = dataforge(&ws, &["import", parquet.to_str().unwrap(), "--table", "again", "--json"]);
    assert_eq!(json(&out)["imports"][0]["report"]["rows"], 344);
}

#[test]
fn errors_and_usage_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");

    let out = dataforge(&ws, &["import"]);
    assert_eq!(out.status.code(), Some(2), "missing FILE is a usage error");
    let out = dataforge(&ws, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));

    let mut csv = String::from("n\n");
    for i in 0..30_000 {
        csv.push_str(&format!("{i}\n"));
    }
    csv.push_str("three\n");
    let bad = write_file(dir.path(), "bad.csv", &csv);
    let out = dataforge(&ws, &["import", bad.to_str().unwrap(), "--types", "n=BIGINT"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.csv: line 30002, column \"n\""), "{stderr}");

    let out = dataforge(&ws, &["export", "missing", dir.path().join("x.parquet").to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"]["kind"], "table_not_found");
    assert!(!dir.path().join("x.parquet").exists());

    let out = dataforge(&ws, &["tables", "--json"]);
    assert_eq!(json(&out)["tables"], serde_json::json!([]));
}

#[test]
fn ctrl_c_cancels_an_import_cleanly() {
    let csv = generated_csv(3_000_000);
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");
    let child = Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .arg("--workspace")
        .arg(&ws)
        .args(["import", csv.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Give it time to open the workspace and start reading.
    std::thread::sleep(Duration::from_millis(800));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let out = dataforge(&ws, &["tables", "--json"]);
    assert_eq!(json(&out)["tables"], serde_json::json!([]), "nothing partial");
}

#[test]
fn import_options_sheets_rejects_and_links_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");
    let book = shared().join("corpora/calamine/tests/any_sheets.xlsx");
    let out = dataforge(&ws, &["import", book.to_str().unwrap(), "--all-sheets", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = dataforge(&ws, &["tables", "--json"]);
    let names: Vec<String> = json(&stdout)["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["any_sheets_visible"]);

    let mut csv = String::from("id;amount\n");
    for i in 0..100 {
        csv.push_str(&format!("{i};{}\n", i * 2));
    }
    csv.push_str("100;lots\n");
    let file = write_file(dir.path(), "semi.csv", &csv);
    let args = ["import", file.to_str().unwrap(), "--delimiter", ";", "--types", "amount=INTEGER", "--on-error", "skip", "--json"];
    let out = dataforge(&ws, &args);
    assert_eq!(out.status.code(), Some(0));
    let report = &json(&out)["imports"][0]["report"];
    assert_eq!(report["rows"], 100);
    assert_eq!(report["rejects"]["table"], "semi_rejects");
    assert_eq!(report["rejects"]["rows"], 1);

    let flights = shared().join("realdata/nycflights13/airlines.csv");
    let out = dataforge(&ws, &["link", flights.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["links"][0]["report"]["table"], "airlines");
    let out = dataforge(&ws, &["tables", "--json"]);
    let linked = json(&out)["tables"].as_array().unwrap().iter().find(|t| t["name"] == "airlines").cloned().unwrap();
    assert_eq!(linked["is_linked"], true);

    // An Arrow file opened in place reads again in a later process.
    let arrow = shared().join("corpora/arrow-testing/data/arrow-ipc-stream/integration/1.0.0-littleendian/generated_primitive.arrow_file");
    let out = dataforge(&ws, &["link", arrow.to_str().unwrap(), "--table", "prims"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let csv_out = dir.path().join("prims.csv");
    let out = dataforge(&ws, &["export", "prims", csv_out.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["report"]["rows"], 37);
}

#[test]
fn sql_reads_files_freely_but_not_under_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");
    let outside = tempfile::tempdir().unwrap();
    let secret = write_file(outside.path(), "secret.csv", "s\n42\n");
    let query = format!("SELECT s FROM read_csv('{}')", secret.display());

    let out = dataforge(&ws, &["sql", &query, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"), "{}", String::from_utf8_lossy(&out.stdout));

    let out = dataforge(&ws, &["sql", &query, "--sandbox", "--json"]);
    assert_eq!(out.status.code(), Some(2), "a refused statement is an option that cannot be used: {}", String::from_utf8_lossy(&out.stdout));
    let v = json(&out);
    assert_eq!(v["error"]["kind"], "invalid_option");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("secret.csv") && message.contains("SQL file access"), "the refusal names the file and the setting: {message}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("42"));
}

#[test]
fn large_results_stream_whole_and_a_dry_run_shows_a_bounded_page() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");
    // Rows returned by a statement that is not a query are all printed, none cut.
    let out = dataforge(&ws, &["sql", "CREATE TABLE t (a BIGINT); INSERT INTO t SELECT range FROM range(1200000) RETURNING a"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 + 1_200_000 + 1, "header, rule, every row, footer");
    assert_eq!(lines[lines.len() - 2].trim(), "1199999", "a wider value further down is not cut");
    assert_eq!(*lines.last().unwrap(), "(1,200,000 rows)");

    // One group of 120,000 rows: the dry run prints a page of it and says how many more.
    let out = dataforge(&ws, &["sql", "CREATE TABLE calls AS SELECT range AS id, range % 2 AS who FROM range(240000)"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = dataforge(&ws, &["dedupe", "calls", "--keys", "who", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().count() < 1000, "{} lines", text.lines().count());
    assert!(text.contains("239,998"), "the count of rows to remove: {text}");
    assert!(text.contains("more rows"), "{text}");
}

#[test]
fn match_finds_the_same_person_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");
    let febrl = shared().join("corpora/linkage/febrl1/dataset1.csv");
    let out = dataforge(&ws, &["import", febrl.to_str().unwrap(), "--table", "people"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = dataforge(&ws, &["match", "people", "--exclude", "rec_id", "--into", "found", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    let report = &v["report"];
    assert_eq!(report["rows"], 1000);
    assert_eq!(report["clusters"], 500, "FEBRL 1 holds 500 people written twice");
    assert_eq!(report["into"], "found");
    assert_eq!(report["pairs_table"], "found_pairs");
    let surname = report["comparisons"].as_array().unwrap().iter().find(|c| c["column"] == "surname").unwrap();
    assert_eq!(surname["kind"], "name");
    assert_eq!(surname["levels"].as_array().unwrap().last().unwrap()["label"], "exact");
    assert!(surname["levels"].as_array().unwrap().last().unwrap()["weight"].as_f64().unwrap() > 3.0);
    assert_eq!(surname["term_frequencies"], true, "names weigh by how common they are");

    // Every exact match alike, or only the surname by how common it is; a column not compared is named.
    for (flag, given_name, surname) in [(&["--no-tf"][..], false, false), (&["--tf", "surname"][..], false, true)] {
        let mut args = vec!["match", "people", "--exclude", "rec_id", "--json"];
        args.extend(flag);
        let v = json(&dataforge(&ws, &args));
        let tf = |column: &str| v["report"]["comparisons"].as_array().unwrap().iter().find(|c| c["column"] == column).unwrap()["term_frequencies"].clone();
        assert_eq!((tf("given_name"), tf("surname")), (given_name.into(), surname.into()), "{flag:?}");
        assert_eq!(v["report"]["clusters"], 500);
    }
    let out = dataforge(&ws, &["match", "people", "--exclude", "rec_id", "--tf", "rec_id"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"rec_id\" is weighed by how common its values are but is not one of the compared columns"), "{}", String::from_utf8_lossy(&out.stderr));

    // A set-up given by hand, and a typo in it named.
    let out = dataforge(&ws, &["match", "people", "--compare", "surname:name", "--compare", "date_of_birth:date", "--compare", "postcode:postcode", "--block", "postcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("blocking rules:") && text.contains("postcode"), "{text}");
    let out = dataforge(&ws, &["match", "people", "--compare", "surname:nmae"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown comparison \"nmae\""), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_version_names_the_engines_built_in() {
    let out = Command::new(env!("CARGO_BIN_EXE_dataforge")).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let versions = dataforge::engine::Versions::of_this_build();
    assert_eq!(text.trim(), versions.line());
    assert!(versions.duckdb.starts_with('v') && text.contains("Polars 0."), "{text}");
}

#[test]
fn a_job_past_the_memory_warning_says_so_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");
    {
        let workspace = dataforge::engine::catalog::open_workspace(&ws, Default::default()).unwrap();
        let mut settings = workspace.settings();
        settings.memory_limit_bytes = 64 << 20;
        settings.memory_warning_percent = 1;
        workspace.update_settings(settings).unwrap();
    }
    let penguins = shared().join("realdata/palmerpenguins/penguins.csv");
    let out = dataforge(&ws, &["import", penguins.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dataforge: memory warning: the process uses") && stderr.contains("more than 1 % of its memory limit of 64.0 MB while \"Import penguins.csv\" runs"),
        "{stderr}"
    );
    // At the default share nothing is said.
    let out = dataforge(&dir.path().join("other.duckdb"), &["import", penguins.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("memory warning"));
}

#[test]
fn bench_compare_times_the_naive_way_beside_ours() {
    let dir = tempfile::tempdir().unwrap();
    let out = dataforge(&dir.path().join("ws.duckdb"), &["bench", "--compare", "3000", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    let steps = v["compare"]["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, ["load a CSV", "load a CSV", "remove duplicate rows", "profile every column"]);
    assert!(steps.iter().all(|s| s["naive_secs"].as_f64().unwrap() > 0.0 && s["ours_secs"].as_f64().unwrap() > 0.0));
    assert_eq!(v["compare"]["rows"], 3000);
}
