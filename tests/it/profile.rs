//! Profiles: every statistic against DuckDB SQL on real files and edge cases; a column read in
//! many chunks equals the whole; stored profiles and staleness; the CLI's JSON and HTML.

use std::process::Command;

use dataforge::engine::job::{no_waker, spawn};
use dataforge::engine::profile::store;
use dataforge::engine::profile::{ColumnProfile, Kind, Profile, ProfileJob, ProfileOptions};
use dataforge::engine::view::View;

use crate::common::{TestWorkspace, shared};

fn profile_with(t: &TestWorkspace, table: &str, options: ProfileOptions) -> Profile {
    spawn(ProfileJob { workspace: t.ws.clone(), view: View::table(table), options, on_column: None }, no_waker())
        .wait()
        .expect("profile")
}

fn profile(t: &TestWorkspace, table: &str) -> Profile {
    profile_with(t, table, ProfileOptions::default())
}

fn f64_of(t: &TestWorkspace, sql: &str) -> Option<f64> {
    let s = t.scalar(sql);
    (!s.is_empty()).then(|| s.parse().unwrap_or_else(|e| panic!("{sql}: {s:?}: {e}")))
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => assert!(a == b || (a - b).abs() <= 1e-9_f64.max(1e-7 * b.abs()), "{what}: {a} vs {b}"),
        (a, b) => assert_eq!(a.is_some(), b.is_some(), "{what}: {a:?} vs {b:?}"),
    }
}

/// Every figure of one column checked against DuckDB.
fn check_column(t: &TestWorkspace, table: &str, c: &ColumnProfile) {
    let col = format!("\"{}\"", c.name.replace('"', "\"\""));
    let from = format!("FROM \"{table}\"");
    let what = |s: &str| format!("{table}.{}: {s}", c.name);
    assert_eq!(c.count.to_string(), t.scalar(&format!("SELECT count(*) {from}")), "{}", what("count"));
    assert_eq!(c.nulls.to_string(), t.scalar(&format!("SELECT count(*) - count({col}) {from}")), "{}", what("nulls"));
    let as_value = match c.kind {
        Kind::Date | Kind::Timestamp | Kind::Time => format!("epoch_us({col})"),
        Kind::Integer | Kind::Float => format!("CAST({col} AS DOUBLE)"),
        _ => col.clone(),
    };
    assert_eq!(c.distinct.to_string(), t.scalar(&format!("SELECT count(DISTINCT {as_value}) {from}")), "{}", what("distinct"));
    // Top values: the counts in order, and each value's count.
    let top_counts = t.scalar(&format!(
        "SELECT string_agg(n::VARCHAR, ',' ORDER BY n DESC) FROM (SELECT count(*) n {from} WHERE {col} IS NOT NULL GROUP BY {col} ORDER BY n DESC LIMIT 10)"
    ));
    assert_eq!(c.top_values.iter().map(|v| v.count.to_string()).collect::<Vec<_>>().join(","), top_counts, "{}", what("top counts"));
    if let Some(n) = c.numeric.as_ref().filter(|_| c.kind.is_numeric()) {
        let finite = format!("{from} WHERE isfinite(CAST({col} AS DOUBLE))");
        let v = format!("CAST({col} AS DOUBLE)");
        // The ends take the infinities, as DuckDB's min and max do (NaN is left out).
        close(n.min, f64_of(t, &format!("SELECT min({v}) {from} WHERE NOT isnan({v})")), &what("min"));
        close(n.max, f64_of(t, &format!("SELECT max({v}) {from} WHERE NOT isnan({v})")), &what("max"));
        // Doubles of values far from zero are only as exact as their spacing there: the mean
        // is compared within that (a mean of ±9.2e18 and 0 and 1 is 0, not the 0.25 doubles give).
        let span = n.min.zip(n.max).filter(|(a, b)| a.is_finite() && b.is_finite()).map_or(0.0, |(a, b)| a.abs().max(b.abs()));
        let mean = f64_of(t, &format!("SELECT avg({v}) {finite}"));
        match (n.mean, mean) {
            (Some(a), Some(b)) if span > 1e15 => assert!((a - b).abs() <= span * 1e-15 * 4.0, "{}: {a} vs {b}", what("mean")),
            _ => close(n.mean, mean, &what("mean")),
        }
        close(n.std, f64_of(t, &format!("SELECT stddev_samp({v}) {finite}")), &what("std"));
        close(n.variance, f64_of(t, &format!("SELECT var_samp({v}) {finite}")), &what("variance"));
        let sum = f64_of(t, &format!("SELECT sum({v}) {finite}")).unwrap_or(0.0);
        if span > 1e15 {
            assert!((n.sum - sum).abs() <= span * 1e-15 * 4.0 * c.count as f64, "{}: {} vs {sum}", what("sum"), n.sum);
        } else {
            close(Some(n.sum), Some(sum), &what("sum"));
        }
        close(n.skewness, f64_of(t, &format!("SELECT skewness({v}) {finite}")), &what("skewness"));
        close(n.kurtosis, f64_of(t, &format!("SELECT kurtosis({v}) {finite}")), &what("kurtosis"));
        // Quantiles taken from a sample are compared within a tolerance where that is asked.
        if !n.approximate {
            for q in &n.quantiles {
                close(Some(q.value), f64_of(t, &format!("SELECT quantile_cont({v}, {}) {from} WHERE NOT isnan({v})", q.p)), &what(&format!("q{}", q.p)));
            }
            close(n.mad, f64_of(t, &format!("SELECT mad({v}) {from} WHERE NOT isnan({v})")), &what("mad"));
            let q1 = f64_of(t, &format!("SELECT quantile_cont({v}, 0.25) {from} WHERE NOT isnan({v})"));
            let q3 = f64_of(t, &format!("SELECT quantile_cont({v}, 0.75) {from} WHERE NOT isnan({v})"));
            if let (Some(q1), Some(q3)) = (q1, q3) {
                let iqr = q3 - q1;
                let outliers = t.scalar(&format!("SELECT count(*) {from} WHERE NOT isnan({v}) AND ({v} < '{}'::DOUBLE OR {v} > '{}'::DOUBLE)", q1 - 1.5 * iqr, q3 + 1.5 * iqr));
                assert_eq!(n.outliers.map(|o| o.to_string()), Some(outliers), "{}", what("outliers"));
            }
        }
        assert_eq!(c.zeros.to_string(), t.scalar(&format!("SELECT count(*) {from} WHERE {v} = 0")), "{}", what("zeros"));
        assert_eq!(c.negatives.to_string(), t.scalar(&format!("SELECT count(*) {from} WHERE {v} < 0")), "{}", what("negatives"));
        let hist = c.histogram.as_ref().expect("histogram");
        assert_eq!(hist.counts.iter().sum::<u64>().to_string(), t.scalar(&format!("SELECT count(*) {finite}")), "{}", what("histogram total"));
    }
    if let Some(x) = &c.text {
        let col = format!("CAST({col} AS VARCHAR)");
        let len = format!("length({col})");
        assert_eq!(x.length_min.map(|v| v.to_string()).unwrap_or_default(), t.scalar(&format!("SELECT min({len}) {from}")), "{}", what("len min"));
        assert_eq!(x.length_max.map(|v| v.to_string()).unwrap_or_default(), t.scalar(&format!("SELECT max({len}) {from}")), "{}", what("len max"));
        close(x.length_mean, f64_of(t, &format!("SELECT avg({len}) {from}")), &what("len mean"));
        assert_eq!(c.empty_strings.to_string(), t.scalar(&format!("SELECT count(*) {from} WHERE {col} = ''")), "{}", what("empty"));
        assert_eq!(x.leading_whitespace.to_string(), t.scalar(&format!("SELECT count(*) {from} WHERE regexp_matches({col}, '^\\s')")), "{}", what("leading"));
        assert_eq!(x.trailing_whitespace.to_string(), t.scalar(&format!("SELECT count(*) {from} WHERE regexp_matches({col}, '\\s$')")), "{}", what("trailing"));
        assert_eq!(x.with_digits.to_string(), t.scalar(&format!("SELECT count(*) {from} WHERE regexp_matches({col}, '[0-9]')")), "{}", what("digits"));
    }
}

fn check_all(t: &TestWorkspace, table: &str, p: &Profile) {
    for c in &p.column_profiles {
        check_column(t, table, c);
    }
    let columns: Vec<String> = p.column_profiles.iter().map(|c| format!("\"{}\"", c.name.replace('"', "\"\""))).collect();
    let columns = columns.join(", ");
    let dups = t.scalar(&format!("SELECT (SELECT count(*) FROM \"{table}\") - (SELECT count(*) FROM (SELECT DISTINCT {columns} FROM \"{table}\"))"));
    assert_eq!(p.duplicate_rows.to_string(), dups, "{table}: duplicate rows");
}

#[test]
fn statistics_equal_duckdbs_on_real_files() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    t.import(shared().join("realdata/nycflights13/weather.csv"), None).unwrap();
    for table in ["penguins", "weather"] {
        let p = profile(&t, table);
        assert_eq!(p.rows.to_string(), t.scalar(&format!("SELECT count(*) FROM \"{table}\"")));
        check_all(&t, table, &p);
    }
    let p = profile(&t, "penguins");
    let species = p.column("species").unwrap();
    assert_eq!(species.meaning, dataforge::engine::profile::Meaning::Categorical);
    assert_eq!(species.top_values[0].value.as_deref(), Some("Adelie"));
    assert!(species.suggested.as_ref().is_some_and(|s| s.data_type.starts_with("ENUM")), "{:?}", species.suggested);
    // Pearson against DuckDB's corr.
    let corr = p.correlations.as_ref().expect("correlations");
    let n = corr.columns.len();
    let i = corr.columns.iter().position(|c| c == "bill_length_mm").unwrap();
    let j = corr.columns.iter().position(|c| c == "body_mass_g").unwrap();
    close(corr.pearson[i * n + j], f64_of(&t, "SELECT corr(bill_length_mm, body_mass_g) FROM penguins"), "pearson");
    let spearman = f64_of(
        &t,
        "SELECT corr(ra, rb) FROM (SELECT rank() OVER (ORDER BY bill_length_mm) + (count(*) OVER (PARTITION BY bill_length_mm) - 1) / 2.0 AS ra,
                                          rank() OVER (ORDER BY body_mass_g) + (count(*) OVER (PARTITION BY body_mass_g) - 1) / 2.0 AS rb
                                   FROM penguins WHERE bill_length_mm IS NOT NULL AND body_mass_g IS NOT NULL)",
    );
    close(corr.spearman[i * n + j], spearman, "spearman");
}

#[test]
fn a_column_read_in_many_chunks_equals_the_whole() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/nycflights13/flights.csv.gz"), None).unwrap();
    let columns = Some(["dep_delay", "carrier", "time_hour", "tailnum", "distance"].map(String::from).to_vec());
    let whole = profile_with(&t, "flights", ProfileOptions { columns: columns.clone(), ..Default::default() });
    let chunked = profile_with(&t, "flights", ProfileOptions { columns, chunk_bytes: 64 << 10, ..Default::default() });
    for (a, b) in whole.column_profiles.iter().zip(&chunked.column_profiles) {
        assert_eq!((a.count, a.nulls, a.distinct, &a.top_values), (b.count, b.nulls, b.distinct, &b.top_values), "{}", a.name);
        assert_eq!(a.text, b.text, "{}", a.name);
        assert_eq!(a.temporal, b.temporal, "{}", a.name);
        assert_eq!(a.histogram, b.histogram, "{}", a.name);
        assert_eq!(a.missing_by_segment, b.missing_by_segment, "{}", a.name);
        if let (Some(x), Some(y)) = (&a.numeric, &b.numeric) {
            assert!(!y.approximate, "{}", a.name);
            assert_eq!(x.quantiles, y.quantiles, "{}", a.name);
            assert_eq!((x.min, x.max, x.mad, x.outliers), (y.min, y.max, y.mad, y.outliers), "{}", a.name);
            for (u, v, what) in [(x.mean, y.mean, "mean"), (x.variance, y.variance, "variance"), (x.skewness, y.skewness, "skewness"), (x.kurtosis, y.kurtosis, "kurtosis")] {
                close(u, v, &format!("{} {what}", a.name));
            }
        }
    }
    check_all(&t, "flights", &chunked);
}

#[test]
fn columns_with_too_many_values_to_merge_stay_exact_or_say_so() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/nycflights13/flights.csv.gz"), None).unwrap();
    let columns = Some(["tailnum", "dest", "time_hour", "dep_delay"].map(String::from).to_vec());
    let whole = profile_with(&t, "flights", ProfileOptions { columns: columns.clone(), ..Default::default() });
    let small = ProfileOptions { columns, chunk_bytes: 256 << 10, max_merged_distinct: 50, max_merged_runs: 100 };
    let parted = profile_with(&t, "flights", small);
    for (a, b) in whole.column_profiles.iter().zip(&parted.column_profiles) {
        // Shapes read every value of the whole and a sample of the parted: the tallies agree.
        let tallies = |t: &Option<dataforge::engine::profile::TextStats>| {
            t.clone().map(|t| dataforge::engine::profile::TextStats { shapes: Vec::new(), sampled_values: 0, numeric_values: 0, date_formats: Vec::new(), ..t })
        };
        assert_eq!((a.count, a.nulls, a.distinct, &a.top_values, tallies(&a.text)), (b.count, b.nulls, b.distinct, &b.top_values, tallies(&b.text)), "{}", a.name);
        if let (Some(x), Some(y)) = (&a.text, &b.text) {
            assert_eq!(x.shapes.first().and_then(|s| s.value.clone()), y.shapes.first().and_then(|s| s.value.clone()), "{}", a.name);
            assert!(y.sampled_values < x.sampled_values, "{}", a.name);
        }
        if let (Some(x), Some(y)) = (&a.numeric, &b.numeric) {
            // Quantiles from a sample are labelled; the moments stay exact.
            assert!(!x.approximate && y.approximate, "{}", a.name);
            close(x.mean, y.mean, &a.name);
            close(x.variance, y.variance, &a.name);
            let (q1, q2) = (x.quantiles[3].value, y.quantiles[3].value);
            assert!((q1 - q2).abs() <= 0.05 * (x.max.unwrap() - x.min.unwrap()), "{}: median {q1} vs {q2}", a.name);
        }
    }
    check_all(&t, "flights", &parted);
}

#[test]
fn edge_cases_profile_without_fault() {
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch(
            r#"CREATE TABLE empty (a INTEGER, b VARCHAR);
               CREATE TABLE one (a INTEGER, b VARCHAR, d DATE);
               INSERT INTO one VALUES (7, 'x', DATE '2024-02-29');
               CREATE TABLE nulls (a INTEGER, b VARCHAR, c DOUBLE);
               INSERT INTO nulls SELECT NULL, NULL, NULL FROM range(5);
               CREATE TABLE special (f DOUBLE, big BIGINT, huge HUGEINT, u VARCHAR, ts TIMESTAMPTZ, t TIME, l INTEGER[], s STRUCT(x INTEGER), dec DECIMAL(38,10));
               INSERT INTO special VALUES
                 ('NaN', -9223372036854775808, -170141183460469231731687303715884105728, '日本語 テキスト', TIMESTAMPTZ '2024-01-01 00:00:00+00', TIME '00:00:00', [1,2], {'x': 1}, 1.5),
                 ('Infinity', 9223372036854775807, 170141183460469231731687303715884105727, ' ümlaut ', TIMESTAMPTZ '2024-03-01 12:00:00+00', TIME '23:59:59', NULL, NULL, -2.25),
                 ('-Infinity', 0, 0, '', NULL, NULL, [], {'x': NULL}, 0),
                 (1.5, 1, 1, 'a', TIMESTAMPTZ '2024-01-02 00:00:00+00', TIME '12:00:00', [3], {'x': 3}, 99999999999999999999999999.9999999999),
                 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"#,
        )
        .unwrap();
    let empty = profile(&t, "empty");
    assert_eq!((empty.rows, empty.column_profiles[0].count, empty.column_profiles[0].distinct), (0, 0, 0));
    let one = profile(&t, "one");
    check_all(&t, "one", &one);
    assert_eq!(one.column("d").unwrap().temporal.as_ref().unwrap().min.as_deref(), Some("2024-02-29"));
    let nulls = profile(&t, "nulls");
    assert!(nulls.column_profiles.iter().all(|c| c.nulls == 5 && c.alerts.iter().any(|a| a.kind == dataforge::engine::profile::AlertKind::Empty)));
    assert_eq!(nulls.duplicate_rows, 4);
    let special = profile(&t, "special");
    check_all(&t, "special", &special);
    let f = special.column("f").unwrap();
    // The ends are the infinities, as DuckDB's min and max; the mean is of the finite values.
    assert_eq!((f.nan, f.infinite, f.numeric.as_ref().unwrap().min), (1, 2, Some(f64::NEG_INFINITY)));
    assert_eq!(f.numeric.as_ref().unwrap().mean, Some(1.5));
    let big = special.column("big").unwrap().numeric.clone().unwrap();
    assert_eq!((big.min, big.max), (Some(i64::MIN as f64), Some(i64::MAX as f64)));
    let u = special.column("u").unwrap();
    assert_eq!(u.text.as_ref().unwrap().with_non_ascii, 2);
    assert_eq!(u.text.as_ref().unwrap().length_max, Some(8));
    assert_eq!(special.column("ts").unwrap().temporal.as_ref().unwrap().max.as_deref(), Some("2024-03-01 12:00:00+00"));
    assert_eq!(special.column("t").unwrap().temporal.as_ref().unwrap().max.as_deref(), Some("23:59:59"));
    assert_eq!(special.column("l").unwrap().distinct, 3);
    // Infinities survive storing and reading the profile back.
    let stored = store::load(&t.ws.connect().unwrap(), "special").unwrap().expect("stored");
    assert_eq!(stored.profile, special);
    assert_eq!(stored.profile.column("f").unwrap().numeric.as_ref().unwrap().quantiles[0].value, f64::NEG_INFINITY);
    // Correlations pair only rows where both values are present.
    t.ws.connect().unwrap().execute_batch("CREATE TABLE pairs AS SELECT * FROM (VALUES (1, NULL), (2, 4), (3, 3), (4, 2), (NULL, 1), (5, 0)) t(a, b)").unwrap();
    let pairs = profile(&t, "pairs");
    let corr = pairs.correlations.unwrap();
    close(corr.pearson[1], f64_of(&t, "SELECT corr(a, b) FROM pairs"), "pearson with NULLs");
    close(corr.spearman[1], Some(-1.0), "spearman with NULLs");
    // Codes with leading zeros are not numbers to store as numbers.
    t.ws.connect().unwrap().execute_batch("CREATE TABLE zips AS SELECT * FROM (VALUES ('01234'), ('10115'), ('80331')) t(zip)").unwrap();
    assert_eq!(profile(&t, "zips").column("zip").unwrap().suggested, None);
}

#[test]
fn a_thousand_columns_profile() {
    let t = TestWorkspace::new();
    let cols: Vec<String> = (0..1000).map(|i| format!("CAST(range * {i} % 7 AS INTEGER) AS c{i}")).collect();
    t.ws.connect().unwrap().execute_batch(&format!("CREATE TABLE wide AS SELECT {} FROM range(50)", cols.join(", "))).unwrap();
    let p = profile_with(&t, "wide", ProfileOptions::default());
    assert_eq!(p.column_profiles.len(), 1000);
    check_column(&t, "wide", &p.column_profiles[999]);
    assert!(p.correlations.as_ref().is_some_and(|c| c.columns.len() == 40));
}

#[test]
fn profiles_are_stored_and_go_stale_when_the_table_changes() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let conn = t.ws.connect().unwrap();
    assert!(store::load(&conn, "penguins").unwrap().is_none());
    let made = profile(&t, "penguins");
    let stored = store::load(&conn, "penguins").unwrap().expect("stored");
    assert_eq!(stored.profile, made);
    assert!(!stored.stale);
    conn.execute_batch("INSERT INTO penguins SELECT * FROM penguins LIMIT 1").unwrap();
    assert!(store::load(&conn, "penguins").unwrap().unwrap().stale);
    profile(&t, "penguins");
    assert!(!store::load(&conn, "penguins").unwrap().unwrap().stale);
    store::mark_changed(&conn, None).unwrap();
    assert!(store::load(&conn, "penguins").unwrap().unwrap().stale);
}

#[test]
fn a_profile_can_be_cancelled() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE big AS SELECT range AS id, hash(range) % 1000 AS h, md5(range::VARCHAR) AS s FROM range(3000000)").unwrap();
    let handle = spawn(ProfileJob { workspace: t.ws.clone(), view: View::table("big"), options: ProfileOptions::default(), on_column: None }, no_waker());
    std::thread::sleep(std::time::Duration::from_millis(300));
    handle.cancel();
    assert!(matches!(handle.wait(), Err(dataforge::engine::EngineError::Cancelled)));
    let conn = t.ws.connect().unwrap();
    assert!(store::load(&conn, "big").unwrap().is_none());
}

/// A workspace holding the penguins, used through the CLI binary.
fn cli_penguins() -> (tempfile::TempDir, impl Fn(&[&str]) -> std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");
    let run = move |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dataforge")).arg("--workspace").arg(&ws).args(args).env_remove("DATAFORGE_WORKSPACE").output().unwrap()
    };
    let penguins = shared().join("realdata/palmerpenguins/penguins.csv");
    assert!(run(&["import", penguins.to_str().unwrap()]).status.success());
    (dir, run)
}

#[test]
fn the_cli_prints_json_and_writes_html() {
    let (dir, run) = cli_penguins();
    let html = dir.path().join("penguins.html");
    let out = run(&["profile", "penguins", "--json", "--html", html.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["profile"]["format"], 1);
    assert_eq!(v["profile"]["rows"], 344);
    assert_eq!(v["profile"]["column_profiles"][0]["name"], "species");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg") && page.contains("bill_length_mm"));
    for external in ["<script", "https://", "@import", "<link", "src=", "url("] {
        assert!(!page.contains(external), "{external}");
    }
    assert_eq!(page.matches("http://").count(), page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
    // The HTML is not replaced without --force; people get a readable table.
    let out = run(&["profile", "penguins", "--html", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["profile", "penguins", "--columns", "species,island"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("344 rows") && text.contains("species") && !text.contains("bill_length_mm"), "{text}");
    let out = run(&["profile", "penguins", "--columns", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

#[test]
fn checks_count_failing_rows_and_open_them_as_a_view() {
    use dataforge::engine::browse::Browser;
    use dataforge::engine::checks::{Check, CheckJob, Rule};
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let col = |c: &str| Some(c.to_string());
    let cases: Vec<(Check, &str)> = vec![
        (Check { column: col("bill_length_mm"), rule: Rule::NotNull }, "bill_length_mm IS NULL"),
        (Check { column: col("body_mass_g"), rule: Rule::Unique }, "body_mass_g IN (SELECT body_mass_g FROM penguins GROUP BY 1 HAVING count(*) > 1)"),
        (Check { column: col("body_mass_g"), rule: Rule::Between { min: Some("3000".into()), max: Some("5000".into()) } }, "body_mass_g NOT BETWEEN 3000 AND 5000"),
        (Check { column: col("island"), rule: Rule::Matches { pattern: "^[BD]".into() } }, "NOT regexp_matches(island, '^[BD]')"),
        (Check { column: col("species"), rule: Rule::InSet { values: vec!["Adelie".into(), "Gentoo".into()] } }, "species NOT IN ('Adelie', 'Gentoo')"),
        (Check { column: col("island"), rule: Rule::Length { min: Some(6), max: Some(6) } }, "length(island) <> 6"),
        (Check { column: None, rule: Rule::Sql { predicate: "bill_length_mm > 40 OR sex = 'female'".into() } }, "NOT coalesce(bill_length_mm > 40 OR sex = 'female', false)"),
    ];
    let checks: Vec<Check> = cases.iter().map(|(c, _)| c.clone()).collect();
    let results = spawn(CheckJob { workspace: t.ws.clone(), view: View::table("penguins"), checks }, no_waker()).wait().unwrap();
    let mut browser = Browser::new(&t.ws).unwrap();
    for ((check, sql), result) in cases.iter().zip(&results) {
        let expected = t.scalar(&format!("SELECT count(*) FROM penguins WHERE {sql}"));
        assert_eq!(result.failing.to_string(), expected, "{}", result.description);
        assert!(!result.passed && result.failing > 0, "{}", result.description);
        assert_eq!(result.examples.len() as u64, result.failing.min(5));
        let failing = check.failing_rows(&View::table("penguins")).unwrap();
        assert_eq!(browser.fetch(&failing, 0, 1000).unwrap().rows.len().to_string(), expected, "{}", result.description);
    }
    // "One of" compares numbers as numbers: 3800 is 3800.0 in a DOUBLE column.
    t.ws.connect().unwrap().execute_batch("CREATE TABLE masses AS SELECT CAST(body_mass_g AS DOUBLE) AS g FROM penguins").unwrap();
    let in_set = Check { column: col("g"), rule: Rule::InSet { values: vec!["3800".into(), "3700".into()] } };
    let results = spawn(CheckJob { workspace: t.ws.clone(), view: View::table("masses"), checks: vec![in_set] }, no_waker()).wait().unwrap();
    assert_eq!(results[0].failing.to_string(), t.scalar("SELECT count(*) FROM masses WHERE g NOT IN (3800, 3700)"));
    // A passing check, and a check of a filtered view.
    let mut adelie = View::table("penguins");
    adelie.where_expr = Some(dataforge::engine::view::WhereExpr::parse("species = 'Adelie'").unwrap());
    let ok = Check { column: col("species"), rule: Rule::InSet { values: vec!["Adelie".into()] } };
    let results = spawn(CheckJob { workspace: t.ws.clone(), view: adelie, checks: vec![ok] }, no_waker()).wait().unwrap();
    assert!(results[0].passed && results[0].failing == 0);
}

#[test]
fn the_cli_checks_a_rules_file_and_fails_on_failures() {
    let (dir, run) = cli_penguins();
    let rules = crate::common::write_file(
        dir.path(),
        "rules.toml",
        "[[check]]\ncolumn = \"species\"\nin = [\"Adelie\", \"Gentoo\", \"Chinstrap\"]\n\n[[check]]\ncolumn = \"bill_length_mm\"\nnot_null = true\n",
    );
    let out = run(&["check", "penguins", "--rules", rules.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("pass  species in {Adelie, Gentoo, Chinstrap}") && text.contains("FAIL  bill_length_mm is not null: 2 rows"), "{text}");
    assert!(text.contains("bill_length_mm=NULL"), "{text}");
    let out = run(&["--json", "check", "penguins", "--rules", rules.to_str().unwrap(), "--where", "bill_length_mm IS NOT NULL"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failed"], 0);
    assert_eq!(v["checks"][1]["failing"], 0);
    let bad = crate::common::write_file(dir.path(), "bad.toml", "[[check]]\ncolumn = \"sex\"\n");
    let out = run(&["check", "penguins", "--rules", bad.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml: check 1: no rule"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn optimized_types_keep_every_value() {
    use dataforge::engine::profile::optimize::{OptimizeJob, OptimizeTarget, TypeChange};
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE texts AS SELECT CAST(range AS VARCHAR) AS n, CAST(DATE '2024-01-01' + CAST(range AS INTEGER) AS VARCHAR) AS d FROM range(300)").unwrap();
    let p = profile(&t, "penguins");
    let changes: Vec<TypeChange> = p
        .column_profiles
        .iter()
        .filter_map(|c| c.suggested.as_ref().map(|s| TypeChange { column: c.name.clone(), data_type: s.data_type.clone() }))
        .collect();
    assert_eq!(changes.iter().map(|c| c.column.as_str()).collect::<Vec<_>>(), ["species", "island", "flipper_length_mm", "body_mass_g", "sex", "year"]);
    let before = t.rows("penguins");
    let job = OptimizeJob { workspace: t.ws.clone(), table: "penguins".into(), changes: changes.clone(), target: OptimizeTarget::NewTable("slim".into()) };
    spawn(job, no_waker()).wait().unwrap();
    let types = t.types("slim");
    assert!(types[0].1.starts_with("ENUM") && types[4].1 == "SMALLINT" && types[7].1 == "SMALLINT", "{types:?}");
    assert_eq!(t.rows("slim"), before);
    // In place: the same rows, the narrower types, and the stored profile goes stale.
    let job = OptimizeJob { workspace: t.ws.clone(), table: "penguins".into(), changes, target: OptimizeTarget::Replace };
    spawn(job, no_waker()).wait().unwrap();
    assert_eq!(t.rows("penguins"), before);
    assert_eq!(t.types("penguins")[5].1, "SMALLINT");
    assert!(store::load(&t.ws.connect().unwrap(), "penguins").unwrap().unwrap().stale);
    // Text that holds numbers and dates becomes numbers and dates.
    let p = profile(&t, "texts");
    let suggested: Vec<String> = p.column_profiles.iter().map(|c| c.suggested.as_ref().map(|s| s.data_type.clone()).unwrap_or_default()).collect();
    assert_eq!(suggested, ["SMALLINT", "DATE"]);
    let changes = p.column_profiles.iter().map(|c| TypeChange { column: c.name.clone(), data_type: c.suggested.clone().unwrap().data_type }).collect();
    let before = t.rows("texts");
    spawn(OptimizeJob { workspace: t.ws.clone(), table: "texts".into(), changes, target: OptimizeTarget::Replace }, no_waker()).wait().unwrap();
    assert_eq!(t.rows("texts"), before);
    // A name in use is refused and nothing changes.
    let job = OptimizeJob { workspace: t.ws.clone(), table: "texts".into(), changes: vec![TypeChange { column: "n".into(), data_type: "INTEGER".into() }], target: OptimizeTarget::NewTable("slim".into()) };
    assert!(spawn(job, no_waker()).wait().is_err());
    assert_eq!(t.types("slim")[0].1.starts_with("ENUM"), true);
}

/// Figures that doubles of the values would get wrong, checked against DuckDB computing in
/// each column's own type (moments of values measured from their minimum).
#[test]
fn figures_are_exact_for_every_column_type() {
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch(
            "CREATE TABLE types AS SELECT
                CAST('170141183460469231731687303715884105' || (700 + i % 3) AS HUGEINT) AS h,
                CAST(18446744073709550615 - (i % 1000) AS UBIGINT) AS u,
                CAST('1000000000000000000000000000.' || lpad(CAST(i * 137 % 10000000000 AS VARCHAR), 10, '0') AS DECIMAL(38,10)) AS d,
                CAST(9007199254740993 + (i % 5) AS BIGINT) AS b,
                CAST('2024-01-01 00:00:00.00000000' || (1 + i % 3) AS TIMESTAMP_NS) AS tns,
                CAST(TIMESTAMP '2024-01-01 00:00:00' + to_minutes(i) AS TIMESTAMPTZ) AS tz,
                CASE i % 6 WHEN 0 THEN -0.0 WHEN 1 THEN 0.0 WHEN 2 THEN 'inf'::DOUBLE WHEN 3 THEN '-inf'::DOUBLE WHEN 4 THEN 'nan'::DOUBLE ELSE i END AS f,
                TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(i * 200 // 3000) AS ts,
                1 + i % 31 AS n,
                DATE '1960-01-01' + CAST(i AS INTEGER) AS dt
             FROM range(3000) r(i)",
        )
        .unwrap();
    // Small chunks: every figure is merged across many of them.
    let p = profile_with(&t, "types", ProfileOptions { chunk_bytes: 4 << 10, ..ProfileOptions::default() });
    for c in &p.column_profiles {
        let col = format!("\"{}\"", c.name);
        let what = |s: &str| format!("types.{}: {s}", c.name);
        assert_eq!(c.distinct.to_string(), t.scalar(&format!("SELECT count(DISTINCT {col}) FROM types")), "{}", what("distinct"));
        // The most frequent values, as DuckDB writes them, ties by value.
        let top = t.scalar(&format!(
            "SELECT string_agg(v || '=' || n, ',' ORDER BY n DESC, k) FROM (SELECT {col} AS k, CAST({col} AS VARCHAR) AS v, count(*) AS n FROM types WHERE {col} IS NOT NULL AND NOT (CAST({col} AS VARCHAR) = 'nan') GROUP BY {col} ORDER BY n DESC, k LIMIT 10)"
        ));
        let ours: Vec<String> = c.top_values.iter().filter(|v| v.value.as_deref() != Some("NaN")).map(|v| format!("{}={}", v.value.clone().unwrap_or_default(), v.count)).collect();
        if c.name != "f" {
            assert_eq!(ours.join(","), top, "{}", what("top values"));
        }
        let Some(n) = &c.numeric else { continue };
        if !c.kind.is_numeric() && c.name != "ts" {
            continue;
        }
        // Measured from the minimum in the column's own type, then doubles.
        let centred = match c.name.as_str() {
            "f" => "f".to_string(),
            "ts" => "epoch_us(ts) - (SELECT min(epoch_us(ts)) FROM types)".to_string(),
            "d" => "CAST(d - (SELECT min(d) FROM types) AS DOUBLE)".to_string(),
            _ => format!("CAST(CAST({col} AS HUGEINT) - (SELECT min(CAST({col} AS HUGEINT)) FROM types) AS DOUBLE)"),
        };
        let finite = "WHERE NOT isinf(CAST(f AS DOUBLE)) AND NOT isnan(CAST(f AS DOUBLE))";
        let filter = if c.name == "f" { finite } else { "" };
        close(n.std, f64_of(&t, &format!("SELECT stddev_samp({centred}) FROM types {filter}")), &what("std"));
        close(n.skewness, f64_of(&t, &format!("SELECT skewness({centred}) FROM types {filter}")), &what("skewness"));
        close(n.kurtosis, f64_of(&t, &format!("SELECT kurtosis({centred}) FROM types {filter}")), &what("kurtosis"));
        if c.name != "ts" {
            let not_nan = if c.name == "f" { "WHERE NOT isnan(f)" } else { "" };
            close(n.min, f64_of(&t, &format!("SELECT CAST(min({col}) AS DOUBLE) FROM types {not_nan}")), &what("min"));
            close(n.max, f64_of(&t, &format!("SELECT CAST(max({col}) AS DOUBLE) FROM types {not_nan}")), &what("max"));
            // (DuckDB's own avg overflows on HUGEINTs near the top: the mean is taken from the minimum.)
            let base = if c.name == "f" { "0".to_string() } else { format!("(SELECT CAST(min({col}) AS DOUBLE) FROM types)") };
            close(n.mean, f64_of(&t, &format!("SELECT {base} + avg({centred}) FROM types {filter}")), &what("mean"));
        }
    }
    let f = p.column("f").unwrap();
    assert_eq!((f.distinct, f.nan, f.infinite, f.zeros), (504, 500, 1000, 1000), "-0.0 and 0.0 are one value");
    let numbers = f.numeric.as_ref().unwrap();
    assert_eq!((numbers.min, numbers.max), (Some(f64::NEG_INFINITY), Some(f64::INFINITY)), "min and max take the infinities, as DuckDB's do");
    let tns = p.column("tns").unwrap();
    assert_eq!(tns.distinct, 3);
    let temporal = tns.temporal.as_ref().unwrap();
    assert_eq!((temporal.min.as_deref(), temporal.max.as_deref()), (Some("2024-01-01 00:00:00.000000001"), Some("2024-01-01 00:00:00.000000003")));
    let dt = p.column("dt").unwrap();
    assert_eq!((dt.zeros, dt.negatives), (0, 0), "dates before 1970 are not negative numbers");
    // Whole numbers 1..=31 in 30 bars: the 31s are in the last bar with the 30s, not in a bar
    // that ends before them.
    let hist = p.column("n").unwrap().histogram.as_ref().unwrap();
    assert_eq!(hist.counts.iter().sum::<u64>(), 3000);
    assert_eq!(*hist.edges.last().unwrap(), 31.0);
}

/// -0.0 and 0.0 in different chunks (a chunk holds at most 4M rows) are one value.
#[test]
fn negative_zero_is_zero_across_chunks() {
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch("CREATE TABLE z AS SELECT CASE WHEN i = 0 THEN 1.0 WHEN i < 4200000 THEN -0.0 ELSE 0.0 END::DOUBLE AS z FROM range(4300000) r(i)")
        .unwrap();
    let p = profile(&t, "z");
    assert_eq!(p.column("z").unwrap().distinct, 2);
}
