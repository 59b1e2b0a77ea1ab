//! Views compiled to SQL return the same rows as filtering and sorting the whole table in
//! Rust; hostile names and values inject nothing; the SQL console and `dataforge sql`.

use std::cmp::Ordering;
use std::time::Duration;

use dataforge::engine::browse::Browser;
use dataforge::engine::console::{ResultTable, RunSql, SaveResultJob, SqlAccess, for_each_result_row, history};
use dataforge::engine::job::{no_waker, spawn};
use dataforge::engine::view::{Condition, Filter, SortKey, TextMatch, View};
use dataforge::engine::{EngineError, Workspace};
use proptest::prelude::*;

use crate::common::TestWorkspace;

const PIECES: &[&str] = &["a", "B", "é", "É", "日", "'", "\"", ";", "%", "_", " ", "x", "--", "ab"];
const COLUMNS: [&str; 4] = ["s", "n", "d", "we\"ird; name"];
const ROWS: usize = 400;

/// Row `i` of the property-test table: text, whole number, date, text (NULLs among them).
fn row(i: usize) -> [Option<String>; 4] {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut text = || {
        if next(9) == 0 {
            return None;
        }
        let len = next(4) as usize;
        Some((0..len).map(|_| PIECES[next(PIECES.len() as u64) as usize]).collect::<String>())
    };
    let s = text();
    let w = text();
    let n = (next(8) != 0).then(|| (next(200) as i64 - 100).to_string());
    let d = (next(8) != 0).then(|| {
        let day = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Duration::days(next(1500) as i64);
        day.to_string()
    });
    [s, n, d, w]
}

fn property_table() -> TestWorkspace {
    let t = TestWorkspace::new();
    let conn = t.ws.connect().unwrap();
    conn.execute_batch("CREATE TABLE p (s VARCHAR, n BIGINT, d DATE, \"we\"\"ird; name\" VARCHAR)").unwrap();
    let mut app = conn.appender("p").unwrap();
    for i in 0..ROWS {
        let [s, n, d, w] = row(i);
        let n: Option<i64> = n.map(|v| v.parse().unwrap());
        app.append_row(duckdb::params![s, n, d, w]).unwrap();
    }
    app.flush().unwrap();
    t
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// What the condition keeps, decided in Rust on the row's text.
fn keeps(condition: &Condition, value: Option<&str>, column: usize) -> bool {
    match condition {
        Condition::IsNull => value.is_none(),
        Condition::IsNotNull => value.is_some(),
        Condition::OneOf { values, include_null } => match value {
            None => *include_null,
            Some(v) => values.iter().any(|x| x == v),
        },
        Condition::Range { min, max } => {
            let Some(v) = value else { return false };
            let cmp = |a: &str, b: &str| if column == 1 { a.parse::<i64>().unwrap().cmp(&b.parse::<i64>().unwrap()) } else { a.cmp(b) };
            min.as_deref().is_none_or(|m| cmp(v, m) != Ordering::Less) && max.as_deref().is_none_or(|m| cmp(v, m) != Ordering::Greater)
        }
        Condition::Length { min, max } => {
            let Some(v) = value else { return false };
            let len = v.chars().count() as u64;
            min.is_none_or(|m| len >= m) && max.is_none_or(|m| len <= m)
        }
        Condition::Not(inner) => value.is_some() && !keeps(inner, value, column),
        Condition::Repeated => unreachable!("checked against SQL in the profile tests"),
        Condition::Text { how, value: needle, case_sensitive } => {
            let Some(v) = value else { return false };
            let (v, needle) = if *case_sensitive || *how == TextMatch::Regex { (v.to_string(), needle.clone()) } else { (lower(v), lower(needle)) };
            match how {
                TextMatch::Contains => v.contains(&needle),
                TextMatch::Equals => v == needle,
                TextMatch::StartsWith => v.starts_with(&needle),
                TextMatch::Regex => {
                    let pattern = if *case_sensitive { needle } else { format!("(?i){needle}") };
                    regex::Regex::new(&pattern).unwrap().is_match(&v)
                }
            }
        }
    }
}

fn compare_key(a: &Option<String>, b: &Option<String>, column: usize) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) if column == 1 => a.parse::<i64>().unwrap().cmp(&b.parse::<i64>().unwrap()),
        (Some(a), Some(b)) => a.cmp(b),
    }
}

fn piece_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PIECES), 0..3).prop_map(|p| p.concat())
}

fn condition(column: usize) -> BoxedStrategy<Condition> {
    let text = (proptest::sample::select(&[TextMatch::Contains, TextMatch::Equals, TextMatch::StartsWith][..]), piece_text(), any::<bool>())
        .prop_map(|(how, value, case_sensitive)| Condition::Text { how, value, case_sensitive })
        .boxed();
    let regex = (proptest::sample::select(&["^a", "é$", "[xB]", "a.*b", "^$", "日|;"][..]), any::<bool>())
        .prop_map(|(p, case_sensitive)| Condition::Text { how: TextMatch::Regex, value: p.to_string(), case_sensitive });
    let nulls = prop_oneof![Just(Condition::IsNull), Just(Condition::IsNotNull)];
    match column {
        1 => prop_oneof![
            (proptest::option::of(-100i64..100), proptest::option::of(-100i64..100))
                .prop_map(|(a, b)| Condition::Range { min: a.map(|v| v.to_string()), max: b.map(|v| v.to_string()) }),
            text,
            nulls,
        ]
        .boxed(),
        2 => prop_oneof![
            (proptest::option::of(0i64..1500), proptest::option::of(0i64..1500)).prop_map(|(a, b)| {
                let day = |d: i64| (chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Duration::days(d)).to_string();
                Condition::Range { min: a.map(day), max: b.map(day) }
            }),
            nulls,
        ]
        .boxed(),
        _ => prop_oneof![
            text.clone(),
            regex,
            nulls,
            (proptest::option::of(0u64..4), proptest::option::of(0u64..4)).prop_map(|(min, max)| Condition::Length { min, max }),
            text.prop_map(|c| Condition::Not(Box::new(c))),
            (proptest::collection::vec(piece_text(), 0..4), any::<bool>()).prop_map(|(values, include_null)| Condition::OneOf { values, include_null }),
        ]
        .boxed(),
    }
}

fn filter() -> impl Strategy<Value = (usize, Condition)> {
    (0usize..4).prop_flat_map(|c| condition(c).prop_map(move |cond| (c, cond)))
}

fn sort_keys() -> impl Strategy<Value = Vec<(usize, bool)>> {
    proptest::collection::vec((0usize..4, any::<bool>()), 0..3)
}

#[test]
fn compiled_views_return_the_rows_rust_finds() {
    let t = property_table();
    let all: Vec<[Option<String>; 4]> = (0..ROWS).map(row).collect();
    let browser = std::cell::RefCell::new(Browser::new(&t.ws).unwrap());
    let config = ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(filters in proptest::collection::vec(filter(), 0..3), search in proptest::option::of(piece_text()), keys in sort_keys())| {
        let mut view = View::table("p");
        view.filters = filters.iter().map(|(c, cond)| Filter { column: COLUMNS[*c].to_string(), condition: cond.clone() }).collect();
        view.search = search.clone();
        let mut seen = std::collections::HashSet::new();
        view.sort = keys.iter().filter(|(c, _)| seen.insert(*c)).map(|(c, desc)| SortKey { column: COLUMNS[*c].to_string(), descending: *desc }).collect();

        let mut expected: Vec<usize> = (0..ROWS)
            .filter(|&i| filters.iter().all(|(c, cond)| keeps(cond, all[i][*c].as_deref(), *c)))
            .filter(|&i| match search.as_deref() {
                None | Some("") => true,
                Some(needle) => [0, 3].iter().any(|&c| all[i][c].as_deref().is_some_and(|v| lower(v).contains(&lower(needle)))),
            })
            .collect();
        expected.sort_by(|&a, &b| {
            for key in &view.sort {
                let c = COLUMNS.iter().position(|n| *n == key.column).unwrap();
                let ord = compare_key(&all[a][c], &all[b][c], c);
                let ord = if key.descending { match (&all[a][c], &all[b][c]) { (Some(_), Some(_)) => ord.reverse(), _ => ord } } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            a.cmp(&b)
        });
        let expected: Vec<Vec<Option<String>>> = expected.iter().map(|&i| all[i].to_vec()).collect();
        let got = browser.borrow_mut().fetch(&view, 0, ROWS as u64).unwrap().rows;
        prop_assert_eq!(got, expected, "{:?}", view);
    });
    // Nothing was injected: the table is still whole.
    assert_eq!(t.scalar("SELECT count(*) FROM p"), ROWS.to_string());
}

#[test]
fn hostile_names_and_values_inject_nothing() {
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch(
            r#"CREATE TABLE "t; DROP TABLE x; --" ("a""b" VARCHAR, "; DROP TABLE x; --" INTEGER, "日本 語" VARCHAR, "rowid" INTEGER);
               INSERT INTO "t; DROP TABLE x; --" VALUES ('it''s', 1, '"; DROP', 10), ('x'');--', 2, NULL, 20), (NULL, 3, '日本', 30);
               CREATE TABLE x AS SELECT 1 AS keep;"#,
        )
        .unwrap();
    let table = "t; DROP TABLE x; --";
    let mut browser = Browser::new(&t.ws).unwrap();
    let mut cases: Vec<(Filter, usize)> = vec![
        (Filter { column: "a\"b".into(), condition: Condition::Text { how: TextMatch::Equals, value: "it's".into(), case_sensitive: true } }, 1),
        (Filter { column: "a\"b".into(), condition: Condition::Text { how: TextMatch::Contains, value: "');--".into(), case_sensitive: false } }, 1),
        (Filter { column: "日本 語".into(), condition: Condition::OneOf { values: vec!["\"; DROP".into(), "'); DROP TABLE x; --".into()], include_null: true } }, 2),
        (Filter { column: "; DROP TABLE x; --".into(), condition: Condition::Range { min: Some("2".into()), max: None } }, 2),
        (Filter { column: "rowid".into(), condition: Condition::Range { min: Some("15".into()), max: Some("25".into()) } }, 1),
        (Filter { column: "a\"b".into(), condition: Condition::Text { how: TextMatch::Regex, value: "^it'".into(), case_sensitive: false } }, 1),
    ];
    for (filter, rows) in cases.drain(..) {
        let view = View { filters: vec![filter.clone()], sort: vec![SortKey { column: "; DROP TABLE x; --".into(), descending: true }], ..View::table(table) };
        assert_eq!(browser.fetch(&view, 0, 10).unwrap().rows.len(), rows, "{filter}");
    }
    let view = View { search: Some("'; drop".into()), columns: Some(vec!["日本 語".into(), "a\"b".into()]), ..View::table(table) };
    assert_eq!(browser.fetch(&view, 0, 10).unwrap().rows.len(), 0);
    let view = View { search: Some("\"; drop".into()), ..View::table(table) };
    assert_eq!(browser.fetch(&view, 0, 10).unwrap().rows.len(), 1);
    // A value that is not of the column's type is named, not run.
    let bad = View { filters: vec![Filter { column: "; DROP TABLE x; --".into(), condition: Condition::Range { min: Some("1; DROP TABLE x".into()), max: None } }], ..View::table(table) };
    let err = browser.fetch(&bad, 0, 10).unwrap_err();
    assert!(err.to_string().contains("\"1; DROP TABLE x\" is not a whole number value (column ; DROP TABLE x; --)"), "{err}");
    let bad = View { filters: vec![Filter { column: "a\"b".into(), condition: Condition::Text { how: TextMatch::Regex, value: "([".into(), case_sensitive: true } }], ..View::table(table) };
    assert!(browser.fetch(&bad, 0, 10).unwrap_err().is_usage());
    assert_eq!(t.scalar("SELECT count(*) FROM x"), "1");
    assert_eq!(t.scalar("SELECT count(*) FROM \"t; DROP TABLE x; --\""), "3");
}

fn run(ws: &std::sync::Arc<Workspace>, sql: &str, access: SqlAccess) -> dataforge::engine::Result<dataforge::engine::console::SqlOutcome> {
    spawn(RunSql::new(ws.clone(), sql, access), no_waker()).wait()
}

fn result_rows(ws: &Workspace, result: &ResultTable) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for_each_result_row(&ws.connect().unwrap(), result, u64::MAX, |_, row| {
        rows.push(row.to_vec());
        Ok(())
    })
    .unwrap();
    rows
}

#[test]
fn the_console_runs_queries_and_statements_and_keeps_history() {
    let t = TestWorkspace::new();
    let ws = &t.ws;
    let out = run(ws, "SELECT 42 AS answer, 'x' AS s UNION ALL SELECT 7, NULL ORDER BY answer", SqlAccess::Unrestricted).unwrap();
    let result = out.result.unwrap();
    assert_eq!((result.rows, out.message.as_str(), out.changes_tables), (2, "2 rows", false));
    assert_eq!(result_rows(ws, &result), vec![vec![Some("7".into()), None], vec![Some("42".into()), Some("x".into())]]);

    let made = run(ws, "CREATE TABLE made AS SELECT range AS r FROM range(10);", SqlAccess::Unrestricted).unwrap();
    assert!(made.changes_tables && made.result.is_none());
    assert!(ws.has_table("made").unwrap());
    assert_eq!(run(ws, "INSERT INTO made VALUES (99), (100)", SqlAccess::Unrestricted).unwrap().message, "2 rows changed");
    let explained = run(ws, "EXPLAIN SELECT * FROM made", SqlAccess::Unrestricted).unwrap();
    assert!(explained.result.is_some_and(|r| r.rows >= 1));

    // Errors carry the line and column of the fault in the statement as typed.
    let err = run(ws, "SELECT *\nFROM made\nWHERE r >\n  ORDER BY r", SqlAccess::Unrestricted).unwrap_err();
    assert!(matches!(err, EngineError::SqlError { line: 4, column: 3, .. }), "{err:?}");
    assert!(err.to_string().starts_with("line 4, column 3: Parser Error: syntax error at or near \"ORDER\""), "{err}");
    let err = run(ws, "SELECT nope FROM made", SqlAccess::Unrestricted).unwrap_err();
    assert!(matches!(err, EngineError::SqlError { line: 1, column: 8, .. }), "{err:?}");
    assert!(run(ws, "SELECT 1; SELECT 2", SqlAccess::Unrestricted).unwrap_err().is_usage());

    // A result saved as a table, in one step; the name must be free.
    let sum = run(ws, "SELECT sum(r) AS total FROM made", SqlAccess::Unrestricted).unwrap().result.unwrap();
    let saved = spawn(SaveResultJob { workspace: ws.clone(), result: sum.clone(), table: "totals".into() }, no_waker()).wait().unwrap();
    assert_eq!(saved, "totals");
    assert_eq!(t.scalar("SELECT total FROM totals"), "244");
    let again = spawn(SaveResultJob { workspace: ws.clone(), result: sum, table: "made".into() }, no_waker()).wait().unwrap_err();
    assert!(matches!(again, EngineError::Duplicate(_)));

    // History is per workspace, newest first, searchable, and survives reopening.
    let entries = history(ws, "made", 10).unwrap();
    assert_eq!(entries[0].sql, "SELECT sum(r) AS total FROM made");
    assert!(entries.iter().any(|e| e.sql == "CREATE TABLE made AS SELECT range AS r FROM range(10)"));
    let path = t.path();
    let dir = t.dir;
    drop(t.ws);
    let reopened = dataforge::engine::catalog::open_workspace(&path, Default::default()).unwrap();
    assert_eq!(history(&reopened, "INSERT", 10).unwrap().len(), 1);
    drop(dir);
}

#[test]
fn console_file_access_stays_in_allowed_folders() {
    let t = TestWorkspace::new();
    let allowed = tempfile::tempdir().unwrap();
    std::fs::write(allowed.path().join("in.csv"), "a,b\n1,2\n").unwrap();
    let access = SqlAccess::Folders(vec![allowed.path().to_path_buf()]);
    let inside = format!("SELECT * FROM read_csv('{}/in.csv')", allowed.path().display());
    assert_eq!(run(&t.ws, &inside, access.clone()).unwrap().result.unwrap().rows, 1);
    let copy = format!("COPY (SELECT 1 AS one) TO '{}/out.csv'", allowed.path().display());
    run(&t.ws, &copy, access.clone()).unwrap();
    assert!(allowed.path().join("out.csv").exists());
    for outside in ["SELECT * FROM read_csv('/etc/passwd')", "COPY (SELECT 1) TO '/tmp/dataforge-escape.csv'", "SELECT * FROM '/etc/hosts'"] {
        let err = run(&t.ws, outside, access.clone()).unwrap_err();
        assert!(err.to_string().contains("outside the folders SQL may use"), "{outside}: {err}");
    }
    assert!(!std::path::Path::new("/tmp/dataforge-escape.csv").exists());
    // The app's own imports and exports still read and write anywhere.
    t.import(crate::common::shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
}

#[test]
fn a_long_query_cancels_and_leaves_no_result() {
    let t = TestWorkspace::new();
    let handle = spawn(RunSql::new(t.ws.clone(), "SELECT count(*) FROM range(100000000000) a WHERE hash(range) % 7 = 3", SqlAccess::Unrestricted), no_waker());
    std::thread::sleep(Duration::from_millis(300));
    handle.cancel();
    assert!(matches!(handle.wait(), Err(EngineError::Cancelled)));
    assert_eq!(t.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'dataforge_scratch'"), "0");
}

fn cli(ws: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dataforge")).arg("--workspace").arg(ws).args(args).output().unwrap()
}

#[test]
fn sql_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.duckdb");
    let out = cli(&ws, &["sql", "CREATE TABLE z AS SELECT range AS q, 'v' || range AS label FROM range(3); SELECT q + 1 AS r, label FROM z ORDER BY q DESC"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("r  label\n─  ─────\n3  v2\n2  v1\n1  v0\n(3 rows)"), "{text}");
    let out = cli(&ws, &["sql", "SELECT q, label FROM z WHERE q = 1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], serde_json::json!([{"q": "1", "label": "v1"}]));
    let csv = dir.path().join("z.csv");
    let out = cli(&ws, &["sql", "SELECT label FROM z ORDER BY q DESC", "--out", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "label\nv2\nv1\nv0\n");
    // A syntax error names the line and column and exits 1; a second statement in --where is refused (2).
    let out = cli(&ws, &["sql", "SELECT * FROM z WHERE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1, column"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&ws, &["export", "z", dir.path().join("w.csv").to_str().unwrap(), "--where", "q > 0; DROP TABLE z"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a second statement is not allowed"));
    let out = cli(&ws, &["export", "z", dir.path().join("w.csv").to_str().unwrap(), "--where", "q > 0", "--sort", "label:desc", "--columns", "label"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.path().join("w.csv")).unwrap(), "label\nv2\nv1\n");
    // Statements share one connection: a temporary table lives until the last one, which
    // may end in a comment.
    let out = cli(&ws, &["sql", "CREATE TEMP TABLE tmp AS SELECT 41 AS a; SELECT a + 1 AS b FROM tmp -- the answer", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], serde_json::json!([{"b": "42"}]));
    let tmp_csv = dir.path().join("tmp.csv");
    let out = cli(&ws, &["sql", "CREATE TEMP TABLE tmp AS SELECT 7 AS a; SELECT * FROM tmp", "--out", tmp_csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&tmp_csv).unwrap(), "a\n7\n");
}
