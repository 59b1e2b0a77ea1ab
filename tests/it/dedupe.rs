//! Exact dedupe equals a naive row-by-row reference for every keep rule, normalisation and
//! NULL rule; kept and removed rows add up to the input; a real file's counts; the CLI.

use std::collections::HashMap;

use dataforge::engine::dedupe::{DedupeJob, DedupeSpec, DedupeTarget, Keep, Normalize, NullKeys, PreviewJob};
use dataforge::engine::job::{no_waker, spawn};
use proptest::prelude::*;
use dataforge::engine::fold::{Fold, fold_as};

use crate::common::{TestWorkspace, shared};

type Row = [Option<String>; 4];
const COLUMNS: [&str; 4] = ["k", "n", "ord", "v"];
const NAMES: &[&str] = &["Ann", "ann ", " ANN", "Ánn", "ánn", "Bob  Lee", "bob lee", "bob\tlee", "", "日本"];

fn cell(options: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(0.8, proptest::sample::select(options).prop_map(str::to_string))
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec((cell(NAMES), cell(&["1", "2"]), cell(&["1", "2", "3"]), cell(&["a", "b"])).prop_map(|(k, n, o, v)| [k, n, o, v]), 0..40)
}

fn normalise(text: &str, n: &Normalize) -> Option<String> {
    let mut s = text.to_string();
    if let Some(fold) = Fold::from_flags(n.case, n.accents) {
        s = fold_as(&s, fold);
    }
    if n.space {
        s = regex::Regex::new(r"\s+").unwrap().replace_all(&s, " ").into_owned();
    }
    if n.trim {
        s = regex::Regex::new(r"^\s+|\s+$").unwrap().replace_all(&s, "").into_owned();
    }
    (!(n.empty_as_null && s.is_empty())).then_some(s)
}

/// The reference: (rows kept, in table order, merged when asked; removed rows with their
/// survivor's index).
fn naive(rows: &[Row], keys: &[usize], spec: &DedupeSpec) -> (Vec<Row>, Vec<(Row, usize)>) {
    let key_of = |i: usize| -> Vec<Option<String>> {
        let mut key: Vec<Option<String>> = keys
            .iter()
            .map(|&c| match &rows[i][c] {
                Some(v) if c == 0 || c == 3 => normalise(v, &spec.normalize),
                other => other.clone(),
            })
            .collect();
        if spec.nulls == NullKeys::Distinct && key.iter().any(Option::is_none) {
            key.push(Some(format!("row {i}")));
        }
        key
    };
    let mut groups: HashMap<Vec<Option<String>>, Vec<usize>> = HashMap::new();
    for i in 0..rows.len() {
        groups.entry(key_of(i)).or_default().push(i);
    }
    let ord = |i: usize| rows[i][2].as_ref().map(|v| v.parse::<i64>().unwrap());
    let nulls = |i: usize| rows[i].iter().filter(|c| c.is_none()).count();
    // Group order: the order column (NULLs last either way), then import order; `last`
    // reverses both but keeps NULLs last.
    let order = |a: usize, b: usize, descending: bool| -> std::cmp::Ordering {
        let flip = |o: std::cmp::Ordering| if descending { o.reverse() } else { o };
        let by = match (spec.order_by.as_ref().and(ord(a)), spec.order_by.as_ref().and(ord(b))) {
            (Some(x), Some(y)) => flip(x.cmp(&y)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            _ => std::cmp::Ordering::Equal,
        };
        by.then(flip(a.cmp(&b)))
    };
    let mut kept: Vec<(usize, Row)> = Vec::new();
    let mut removed = Vec::new();
    for (_, mut members) in groups {
        members.sort_by(|&a, &b| match spec.keep {
            Keep::First => order(a, b, false),
            Keep::Complete => nulls(a).cmp(&nulls(b)).then(order(a, b, false)),
            Keep::Last => order(a, b, true),
        });
        let survivor = members[0];
        let mut row = rows[survivor].clone();
        if spec.merge {
            for c in 0..4 {
                if row[c].is_none() {
                    row[c] = members[1..].iter().find_map(|&m| rows[m][c].clone());
                }
            }
        }
        kept.push((survivor, row));
        removed.extend(members[1..].iter().map(|&m| (rows[m].clone(), survivor)));
    }
    kept.sort_by_key(|(i, _)| *i);
    (kept.into_iter().map(|(_, r)| r).collect(), removed)
}

fn load(t: &TestWorkspace, rows: &[Row]) {
    let conn = t.ws.connect().unwrap();
    conn.execute_batch("DROP TABLE IF EXISTS p_deduplicated; DROP TABLE IF EXISTS p_removed; CREATE OR REPLACE TABLE p (k VARCHAR, n BIGINT, ord BIGINT, v VARCHAR)").unwrap();
    let mut app = conn.appender("p").unwrap();
    for r in rows {
        let int = |v: &Option<String>| v.as_ref().map(|v| v.parse::<i64>().unwrap());
        app.append_row(duckdb::params![r[0], int(&r[1]), int(&r[2]), r[3]]).unwrap();
    }
    app.flush().unwrap();
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn dedupe_equals_a_naive_reference_and_loses_no_row() {
    let t = TestWorkspace::new();
    let config = ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() };
    let keep = proptest::sample::select(&[Keep::First, Keep::Last, Keep::Complete][..]);
    const KEY_SETS: [&[usize]; 4] = [&[0], &[0, 1], &[1], &[0, 1, 2, 3]];
    let key_sets = proptest::sample::select(&KEY_SETS[..]);
    proptest!(config, |(rows in rows(), keys in key_sets, keep in keep, flags in proptest::array::uniform5(any::<bool>()),
                        distinct in any::<bool>(), by_ord in any::<bool>(), merge in any::<bool>(), whole_row in any::<bool>())| {
        load(&t, &rows);
        let mut spec = DedupeSpec::new("p");
        let keys: Vec<usize> = if whole_row { vec![0, 1, 2, 3] } else { keys.to_vec() };
        spec.keys = if whole_row { Vec::new() } else { keys.iter().map(|&c| COLUMNS[c].to_string()).collect() };
        spec.normalize = Normalize { trim: flags[0], case: flags[1], space: flags[2], accents: flags[3], empty_as_null: flags[4] };
        spec.nulls = if distinct { NullKeys::Distinct } else { NullKeys::Equal };
        spec.keep = keep;
        spec.order_by = by_ord.then(|| "ord".to_string());
        spec.merge = merge;
        let (want_kept, want_removed) = naive(&rows, &keys, &spec);

        let preview = spawn(PreviewJob { workspace: t.ws.clone(), spec: spec.clone() }, no_waker()).wait().unwrap();
        prop_assert_eq!(preview.duplicates, want_removed.len() as u64);
        preview.discard(&t.ws.connect().unwrap());

        let report = spawn(DedupeJob { workspace: t.ws.clone(), spec: spec.clone(), excluded: Vec::new(), target: DedupeTarget::NewTable(None) }, no_waker()).wait().unwrap();
        prop_assert_eq!(report.rows_removed, want_removed.len() as u64);
        let got_kept: Vec<Row> = t.rows(&report.table).into_iter().map(|r| [r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()]).collect();
        prop_assert_eq!(&got_kept, &want_kept, "{:?}", spec);
        let got_removed: Vec<(Row, usize)> = t
            .rows(&report.removed_table)
            .into_iter()
            .map(|r| ([r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()], r[4].as_ref().unwrap().parse::<usize>().unwrap() - 1))
            .collect();
        prop_assert_eq!(sorted(got_removed.clone()), sorted(want_removed));
        if !merge {
            // Nothing is lost: kept and removed rows are the input, as multisets.
            let mut both: Vec<Row> = got_kept.clone();
            both.extend(got_removed.into_iter().map(|(r, _)| r));
            prop_assert_eq!(sorted(both), sorted(rows.clone()));
        }
    });
}

#[test]
fn excluded_groups_stay_and_replace_is_atomic() {
    let t = TestWorkspace::new();
    load(&t, &[
        [Some("a".into()), Some("1".into()), None, None],
        [Some("a".into()), Some("1".into()), None, Some("x".into())],
        [Some("b".into()), Some("1".into()), None, None],
        [Some("b".into()), Some("1".into()), None, None],
        [Some("c".into()), None, None, None],
    ]);
    let mut spec = DedupeSpec::new("p");
    spec.keys = vec!["k".into()];
    let preview = spawn(PreviewJob { workspace: t.ws.clone(), spec: spec.clone() }, no_waker()).wait().unwrap();
    let conn = t.ws.connect().unwrap();
    assert_eq!((preview.rows, preview.groups, preview.duplicates), (5, 2, 2));
    assert_eq!(preview.groups_page(&conn, 0, 10).unwrap(), vec![(1, 2), (3, 2)]);
    let page = preview.group_rows(&conn, 3, 0, 100).unwrap();
    assert_eq!(page.columns, ["k", "n", "ord", "v"]);
    assert_eq!((page.removed.len(), page.total_removed), (1, 1));
    // A window of a group: the survivor and as many of the others as asked for.
    assert_eq!(preview.group_rows(&conn, 3, 0, 0).unwrap().removed.len(), 0);
    assert_eq!(preview.group_rows(&conn, 3, 1, 10).unwrap().removed.len(), 0);
    preview.discard(&conn);
    // Leave the group kept at row 1 alone; replace the table.
    let report = spawn(DedupeJob { workspace: t.ws.clone(), spec, excluded: vec![1], target: DedupeTarget::Replace }, no_waker()).wait().unwrap();
    assert_eq!((report.table.as_str(), report.rows_kept, report.rows_removed, report.excluded_groups), ("p", 4, 1, 1));
    assert_eq!(t.scalar("SELECT string_agg(k, ',' ORDER BY rowid) FROM p"), "a,a,b,c");
    assert_eq!(t.scalar("SELECT k || ':' || _kept_row || ':' || _group_size FROM p_removed"), "b:3:2");
    // Listing the duplicates writes a table of them and changes nothing else.
    let mut spec = DedupeSpec::new("p");
    spec.keys = vec!["k".into()];
    let found = spawn(dataforge::engine::dedupe::FindDuplicatesJob { workspace: t.ws.clone(), spec }, no_waker()).wait().unwrap();
    assert_eq!((found.table.as_str(), found.rows), ("p_duplicates", 2));
    assert_eq!(t.scalar("SELECT string_agg(k || ':' || _group || ':' || _group_size, ',') FROM p_duplicates"), "a:1:2,a:1:2");
    // A key that is not a column changes nothing.
    let mut bad = DedupeSpec::new("p");
    bad.keys = vec!["nope".into()];
    let err = spawn(DedupeJob { workspace: t.ws.clone(), spec: bad, excluded: Vec::new(), target: DedupeTarget::Replace }, no_waker()).wait().unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(t.scalar("SELECT count(*) FROM p"), "4");
}

/// The README's example: flights keyed by plane and day keeps each plane's first flight.
#[test]
fn flights_dedupe_by_plane_and_day_matches_duckdb_counts() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/nycflights13/flights.csv.gz"), None).unwrap();
    let mut spec = DedupeSpec::new("flights");
    spec.keys = ["tailnum", "year", "month", "day"].map(String::from).to_vec();
    spec.order_by = Some("dep_time".into());
    let report = spawn(DedupeJob { workspace: t.ws.clone(), spec, excluded: Vec::new(), target: DedupeTarget::NewTable(Some("planes_daily".into())) }, no_waker())
        .wait()
        .unwrap();
    assert_eq!((report.rows_before, report.rows_kept, report.rows_removed, report.groups), (336_776, 251_727, 85_049, 64_928));
    assert_eq!(t.scalar("SELECT count(DISTINCT (tailnum, year, month, day)) FROM flights"), "251727");
    assert_eq!(t.scalar("SELECT count(*) FROM (SELECT * FROM planes_daily UNION ALL SELECT * EXCLUDE (_kept_row, _group_size) FROM flights_removed EXCEPT ALL SELECT * FROM flights)"), "0");
    // Each kept row is its plane's earliest departure that day.
    assert_eq!(
        t.scalar("SELECT count(*) FROM flights_removed r JOIN planes_daily k USING (tailnum, year, month, day) WHERE r.dep_time < k.dep_time"),
        "0"
    );
}

#[test]
fn appends_skip_rows_the_table_already_has() {
    use dataforge::engine::import::ImportOptions;
    let t = TestWorkspace::new();
    let first = crate::common::write_file(t.dir.path(), "first.csv", "id,name\n1,a\n2,b\n3,\n");
    let grown = crate::common::write_file(t.dir.path(), "grown.csv", "id,name\n1,a\n2,b\n3,\n4,d\n2,B\n");
    t.import(&first, Some("t")).unwrap();
    let append = |keys: Option<Vec<String>>| {
        let mut o = ImportOptions::new();
        o.table = Some("t".into());
        o.append = true;
        o.skip_existing = keys;
        t.import_with(&[grown.clone()], o)
    };
    // Whole rows: 1,a 2,b and 3,NULL are there already (NULL matches NULL); 4,d and 2,B are new.
    let report = append(Some(Vec::new())).unwrap();
    assert_eq!((report.rows, report.skipped_existing), (2, 3));
    assert!(report.notices.iter().any(|n| n.contains("3 rows were already in \"t\"")), "{:?}", report.notices);
    assert_eq!(t.scalar("SELECT string_agg(id || coalesce(name, '-'), ',' ORDER BY rowid) FROM t"), "1a,2b,3-,4d,2B");
    // By key: every id is now there.
    let report = append(Some(vec!["id".into()])).unwrap();
    assert_eq!((report.rows, report.skipped_existing), (0, 5));
    assert_eq!(t.scalar("SELECT count(*) FROM t"), "5");
    // A value that does not fit the table's type is not "already there" (it would be a NULL
    // after a cast): the append reports it instead.
    t.ws.connect().unwrap().execute_batch("INSERT INTO t VALUES (NULL, 'n')").unwrap();
    let odd = crate::common::write_file(t.dir.path(), "odd.csv", "id,name\nA-17,x\n");
    let mut o = ImportOptions::new();
    o.table = Some("t".into());
    o.append = true;
    o.skip_existing = Some(vec!["id".into()]);
    let err = t.import_with(&[odd], o).unwrap_err();
    assert!(err.to_string().contains("A-17"), "{err}");
    t.ws.connect().unwrap().execute_batch("DELETE FROM t WHERE id IS NULL").unwrap();
    // A key the file lacks is an error that names it, and nothing lands.
    let err = append(Some(vec!["email".into()])).unwrap_err();
    assert!(err.to_string().contains("email"), "{err}");
    assert_eq!(t.scalar("SELECT count(*) FROM t"), "5");
}

mod clustering {
    use dataforge::engine::cluster::{ClusterJob, MergeJob, Method, UndoMergeJob, ValueCount, clusters, fingerprint, ngram_fingerprint};
    use dataforge::engine::job::{no_waker, spawn};

    use crate::common::TestWorkspace;

    const MESSY: &[&str] = &["New York", "New York", "new york ", "NEW-YORK", "Nwe York", "York New", "Boston", "boston", "München", "Munchen", "Muenchen", "Paris"];

    fn values() -> Vec<ValueCount> {
        let mut out: Vec<ValueCount> = Vec::new();
        for v in MESSY {
            match out.iter_mut().find(|c| c.value == *v) {
                Some(c) => c.count += 1,
                None => out.push(ValueCount { value: v.to_string(), count: 1 }),
            }
        }
        out
    }

    /// The cluster holding "New York", as its sorted values.
    fn new_york(method: Method) -> Vec<String> {
        let found = clusters(&values(), method, None).unwrap();
        let c = found.iter().find(|c| c.values.iter().any(|v| v.value == "New York")).expect("a New York cluster");
        assert_eq!(c.canonical, "New York", "the most frequent value is canonical");
        assert!(found.iter().all(|c| c.values.iter().all(|v| v.value != "Paris")), "{method:?} clustered Paris");
        let mut values: Vec<String> = c.values.iter().map(|v| v.value.clone()).collect();
        values.sort();
        values
    }

    #[test]
    fn each_method_finds_the_spellings_it_should() {
        assert_eq!(fingerprint("  New-York new  "), "new newyork");
        assert_eq!(ngram_fingerprint("Ab-a", 2), "abba");
        assert_eq!(new_york(Method::Fingerprint), ["New York", "York New", "new york "]);
        assert_eq!(new_york(Method::NGram(2)), ["NEW-YORK", "New York", "new york "]);
        for method in [Method::DoubleMetaphone, Method::Soundex, Method::Cologne, Method::Levenshtein(2), Method::JaroWinkler(0.9)] {
            assert_eq!(new_york(method), ["NEW-YORK", "New York", "Nwe York", "new york "], "{method:?}");
        }
        assert_eq!(new_york(Method::Metaphone), ["NEW-YORK", "New York", "new york "]);
        // Accents fold for every method; "Muenchen" is only a phonetic match.
        let munich = |method| clusters(&values(), method, None).unwrap().into_iter().find(|c| c.values.iter().any(|v| v.value == "München")).map(|c| c.values.len());
        assert_eq!(munich(Method::Fingerprint), Some(2));
        assert_eq!(munich(Method::Cologne), Some(3));
        // Letters outside the Latin alphabet are left out of phonetic keys, never a failure.
        let foreign: Vec<ValueCount> = ["Øst", "Ost", "Москва", "東京"].iter().map(|v| ValueCount { value: v.to_string(), count: 1 }).collect();
        for method in [Method::Metaphone, Method::DoubleMetaphone, Method::Soundex, Method::Cologne] {
            // (These encoders used to index past their tables on such letters and panic.)
            let found = clusters(&foreign, method, None).unwrap();
            assert!(found.iter().all(|c| c.values.iter().all(|v| v.value != "東京")), "{method:?}: {found:?}");
        }
        // Short values are not within two edits of each other just for being short.
        let short: Vec<ValueCount> = ["ab", "cd", "abc", "abd"].iter().map(|v| ValueCount { value: v.to_string(), count: 1 }).collect();
        assert!(clusters(&short, Method::Levenshtein(2), None).unwrap().is_empty());
    }

    #[test]
    fn a_merge_rewrites_values_and_can_be_undone() {
        let t = TestWorkspace::new();
        let conn = t.ws.connect().unwrap();
        conn.execute_batch("CREATE TABLE c (id INTEGER, city VARCHAR)").unwrap();
        for (i, v) in MESSY.iter().enumerate() {
            conn.execute("INSERT INTO c VALUES (?, ?)", duckdb::params![i as i32, v]).unwrap();
        }
        let before = t.scalar("SELECT string_agg(city, '|' ORDER BY id) FROM c");
        let report = spawn(ClusterJob { workspace: t.ws.clone(), table: "c".into(), column: "city".into(), method: Method::Fingerprint }, no_waker()).wait().unwrap();
        assert_eq!(report.distinct_values, 11);
        let merged = spawn(MergeJob { workspace: t.ws.clone(), table: "c".into(), column: "city".into(), clusters: report.clusters }, no_waker()).wait().unwrap();
        assert_eq!(merged.rows_changed, 4, "new york, York New, boston, Munchen");
        assert_eq!(t.scalar("SELECT count(*) FROM c WHERE city = 'New York'"), "4");
        assert_eq!(t.scalar(&format!("SELECT count(*) FROM \"{}\"", merged.undo_table)), "4");
        let undone = spawn(UndoMergeJob { workspace: t.ws.clone(), table: "c".into(), column: "city".into(), undo_table: merged.undo_table.clone() }, no_waker()).wait().unwrap();
        assert_eq!(undone, 4);
        assert_eq!(t.scalar("SELECT string_agg(city, '|' ORDER BY id) FROM c"), before);
        assert!(!t.all_table_names().contains(&merged.undo_table));
        // Numbers are not clustered.
        let err = spawn(ClusterJob { workspace: t.ws.clone(), table: "c".into(), column: "id".into(), method: Method::Fingerprint }, no_waker()).wait().unwrap_err();
        assert!(err.to_string().contains("not text"), "{err}");
    }
}

#[test]
fn a_cancelled_dedupe_replace_leaves_the_workspace_as_it_was() {
    let t = TestWorkspace::new();
    t.import(crate::common::generated_csv(3_000_000), Some("big")).unwrap();
    let before = t.all_table_names();
    let mut spec = DedupeSpec::new("big");
    spec.keys = vec!["email".into(), "day".into()];
    let handle = spawn(DedupeJob { workspace: t.ws.clone(), spec, excluded: Vec::new(), target: DedupeTarget::Replace }, no_waker());
    // Cancel once it is at work on the grouping.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !handle.snapshot().progress.phase.contains("Grouping") {
        assert!(!handle.snapshot().state.is_finished() && std::time::Instant::now() < deadline, "{:?}", handle.snapshot());
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    handle.cancel();
    assert!(matches!(handle.wait(), Err(dataforge::engine::EngineError::Cancelled)));
    assert_eq!(t.all_table_names(), before, "no table added, removed or left staged");
    assert_eq!(t.scalar("SELECT count(*) FROM big"), "3000000");
}
