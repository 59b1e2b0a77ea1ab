use std::time::{Duration, Instant};

use dataforge::engine::browse::{Browser, Cell, PAGE_ROWS, TableView};
use dataforge::engine::view::{SortKey, Source, View};
use dataforge::engine::job::no_waker;

use crate::common::{TestWorkspace, generated_csv, shared};

fn plain_order_by(t: &TestWorkspace, order: &str, offset: u64, limit: u64) -> Vec<Vec<Option<String>>> {
    let conn = t.ws.connect().unwrap();
    let cols = t.ws.columns("gen").unwrap();
    let list: Vec<String> = cols.iter().map(|c| format!("CAST(\"{}\" AS VARCHAR)", c.name)).collect();
    let sql = format!("SELECT {} FROM gen ORDER BY {order} LIMIT {limit} OFFSET {offset}", list.join(", "));
    let mut stmt = conn.prepare(&sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push((0..cols.len()).map(|i| row.get::<_, Option<String>>(i).unwrap()).collect());
    }
    out
}

fn sorted(key: &SortKey) -> View {
    View { sort: vec![key.clone()], ..View::table("gen") }
}

#[test]
fn random_sorted_pages_equal_order_by() {
    let t = TestWorkspace::new();
    t.import(generated_csv(50_000), Some("gen")).unwrap();
    let mut browser = Browser::new(&t.ws).unwrap();
    let cases = [
        (SortKey { column: "amount".into(), descending: false }, "amount ASC NULLS LAST, rowid"),
        (SortKey { column: "category".into(), descending: true }, "category DESC NULLS LAST, rowid"),
        (SortKey { column: "email".into(), descending: false }, "email ASC NULLS LAST, rowid"),
    ];
    let mut seed = 12345u64;
    for (key, order) in &cases {
        for _ in 0..15 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let first = (seed >> 33) % 50_000;
            let page = browser.fetch(&sorted(key), first, PAGE_ROWS).unwrap();
            assert_eq!(page.first_row, first);
            assert_eq!(page.rows, plain_order_by(&t, order, first, PAGE_ROWS), "{order} at {first}");
        }
    }
    // The last page is short; past the end is empty.
    let key = &cases[0].0;
    assert_eq!(browser.fetch(&sorted(key), 49_950, PAGE_ROWS).unwrap().rows.len(), 50);
    assert!(browser.fetch(&sorted(key), 60_000, PAGE_ROWS).unwrap().rows.is_empty());
    // Unsorted pages follow table order.
    let page = browser.fetch(&View::table("gen"), 31_337, PAGE_ROWS).unwrap();
    assert_eq!(page.rows, plain_order_by(&t, "rowid", 31_337, PAGE_ROWS));
}

#[test]
fn pages_after_deletes_still_follow_table_order() {
    let t = TestWorkspace::new();
    t.import(generated_csv(50_000), Some("gen")).unwrap();
    t.ws.connect().unwrap().execute_batch("DELETE FROM gen WHERE id % 7 = 0").unwrap();
    let mut browser = Browser::new(&t.ws).unwrap();
    let (_, total) = browser.describe(&Source::Table("gen".into())).unwrap();
    assert_eq!(total, 50_000 - 50_000usize.div_ceil(7) as u64);
    let page = browser.fetch(&View::table("gen"), 20_000, PAGE_ROWS).unwrap();
    assert_eq!(page.rows, plain_order_by(&t, "rowid", 20_000, PAGE_ROWS));
}

#[test]
fn table_view_fetches_visible_rows_in_the_background() {
    let t = TestWorkspace::new();
    t.import(generated_csv(50_000), Some("gen")).unwrap();
    let mut view = TableView::open(t.ws.clone(), "gen", no_waker()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let wanted = 40_010..40_040;
    while !view.has_rows(wanted.clone()) {
        assert!(Instant::now() < deadline, "rows never arrived");
        view.poll();
        view.prefetch(wanted.clone());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(view.total_rows(), 50_000);
    assert_eq!(view.cell(40_010, 0), Cell::Text("40010"));
    assert_eq!(view.cell(0, 0), Cell::Loading, "far rows are not fetched");
    // NULL stays distinct from text: `category` is NULL for some rows.
    let expected = plain_order_by(&t, "rowid", 40_010, 30);
    for (i, row) in expected.iter().enumerate() {
        let got = view.cell(40_010 + i as u64, 9);
        match &row[9] {
            None => assert_eq!(got, Cell::Null),
            Some(text) => assert_eq!(got, Cell::Text(text)),
        }
    }
    assert!(expected.iter().any(|r| r[9].is_none()), "sample has a NULL");

    // A sort is a job; its first page comes straight from a top-N query, the old rows stay
    // on screen until then.
    view.set_view(sorted(&SortKey { column: "id".into(), descending: true }));
    assert!(view.is_preparing());
    assert_eq!(view.cell(40_010, 0), Cell::Text("40010"), "old rows stay on screen");
    // The copy for deep pages is made once the first page is on screen.
    let mut jobs = Vec::new();
    while jobs.is_empty() {
        assert!(Instant::now() < deadline, "the sort job never started");
        view.poll();
        jobs = view.take_new_jobs();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(view.cell(0, 0), Cell::Text("49999"), "the first page came first");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].snapshot().title, "Sort gen by id (descending)");
    while view.is_preparing() || !view.has_rows(40_000..40_010) {
        assert!(Instant::now() < deadline, "sorted rows never arrived");
        view.poll();
        view.prefetch(40_000..40_010);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(view.cell(0, 0), Cell::Text("49999"));
    assert_eq!(view.cell(40_000, 0), Cell::Text("9999"));
    assert_eq!(jobs[0].snapshot().metrics.rows, 50_000);
    // Back to table order, and an abandoned sort ends.
    view.set_view(View::table("gen"));
    view.set_view(sorted(&SortKey::ascending("category")));
    let mut cancelled = Vec::new();
    while cancelled.is_empty() {
        assert!(Instant::now() < deadline, "the second sort never started");
        view.poll();
        cancelled = view.take_new_jobs();
        std::thread::sleep(Duration::from_millis(2));
    }
    view.set_view(View::table("gen"));
    while !cancelled[0].snapshot().state.is_finished() || view.is_preparing() {
        assert!(Instant::now() < deadline, "the abandoned sort never ended");
        view.poll();
        view.prefetch(0..10);
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sorted_copies_live_outside_the_workspace_file() {
    let t = TestWorkspace::new();
    t.import(generated_csv(50_000), Some("gen")).unwrap();
    let mut browser = Browser::new(&t.ws).unwrap();
    browser.fetch(&sorted(&SortKey::ascending("amount")), 0, PAGE_ROWS).unwrap();
    assert_eq!(t.all_table_names(), ["gen"], "no sorted copy among the workspace's tables");
    assert_eq!(t.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'dataforge_scratch'"), "1");
    drop(browser);
    assert_eq!(t.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'dataforge_scratch'"), "0");
}

#[test]
fn a_column_named_rowid_does_not_confuse_paging() {
    let t = TestWorkspace::new();
    let conn = t.ws.connect().unwrap();
    conn.execute_batch(
        "CREATE TABLE gen AS SELECT (range * 7919) % 5000 AS rowid, range AS v FROM range(5000);
         DELETE FROM gen WHERE v % 3 = 0;",
    )
    .unwrap();
    let mut browser = Browser::new(&t.ws).unwrap();
    let page = browser.fetch(&View::table("gen"), 1200, PAGE_ROWS).unwrap();
    assert_eq!(page.rows, plain_order_by(&t, "v", 1200, PAGE_ROWS));
    let key = SortKey { column: "v".into(), descending: true };
    let page = browser.fetch(&sorted(&key), 1200, PAGE_ROWS).unwrap();
    assert_eq!(page.rows, plain_order_by(&t, "v DESC", 1200, PAGE_ROWS));
    let key = SortKey { column: "rowid".into(), descending: false };
    let page = browser.fetch(&sorted(&key), 0, PAGE_ROWS).unwrap();
    let firsts: Vec<_> = page.rows.iter().map(|r| r[0].clone().unwrap().parse::<i64>().unwrap()).collect();
    assert!(firsts.windows(2).all(|w| w[0] <= w[1]), "sorted by the user's rowid column");
}


/// Polls a table view until `ready` holds, prefetching `rows`.
fn settle(view: &mut TableView, rows: std::ops::Range<u64>, ready: impl Fn(&TableView) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(view) {
        assert!(Instant::now() < deadline, "the view never settled");
        view.poll();
        view.prefetch(rows.clone());
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_sorted_and_filtered_view_pages_and_counts() {
    use dataforge::engine::view::{Condition, Filter, TextMatch};
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let mut view = TableView::open(t.ws.clone(), "penguins", no_waker()).unwrap();
    settle(&mut view, 0..30, |v| v.has_rows(0..30));
    let mass = view.columns().unwrap().iter().position(|c| c.name == "body_mass_g").unwrap();
    view.set_view(View { sort: vec![SortKey::ascending("body_mass_g")], ..View::table("penguins") });
    settle(&mut view, 0..30, |v| !v.is_preparing() && v.has_rows(0..30));
    assert_eq!(view.cell(0, mass), Cell::Text("2700"));
    assert_eq!(view.total_rows(), 344);

    let mut filtered = view.view().clone();
    filtered.filters.push(Filter { column: "species".into(), condition: Condition::Text { how: TextMatch::Equals, value: "gentoo".into(), case_sensitive: false } });
    view.set_view(filtered);
    settle(&mut view, 0..30, |v| !v.is_preparing() && !v.is_counting() && v.has_rows(0..30));
    assert_eq!(view.total_rows(), 124);
    assert_eq!(view.cell(0, mass), Cell::Text("3950"));
    assert_eq!(t.scalar("SELECT min(body_mass_g) FROM penguins WHERE species = 'Gentoo'"), "3950");
}

#[test]
fn a_shaped_view_survives_a_reload_and_a_refused_change() {
    use dataforge::engine::view::{Condition, Filter};
    let t = TestWorkspace::new();
    t.import(generated_csv(50_000), Some("gen")).unwrap();
    let mut view = TableView::open(t.ws.clone(), "gen", no_waker()).unwrap();
    settle(&mut view, 0..30, |v| v.has_rows(0..30));
    let by_id_desc = sorted(&SortKey { column: "id".into(), descending: true });
    view.set_view(by_id_desc.clone());
    // While the copy is made, a filter with a value that is not a number is refused and the
    // sort carries on: deep pages still come.
    settle(&mut view, 0..30, |v| !v.is_showing_old_rows());
    let mut bad = by_id_desc.clone();
    bad.filters.push(Filter { column: "id".into(), condition: Condition::Range { min: Some("abc".into()), max: None } });
    view.set_view(bad);
    settle(&mut view, 0..30, |v| v.view_error().is_some());
    assert_eq!(view.view(), &by_id_desc);
    settle(&mut view, 30_000..30_030, |v| !v.is_preparing() && v.has_rows(30_000..30_030));
    assert_eq!(view.cell(30_000, 0), Cell::Text("19999"));
    // A reload (the table changed) keeps the sort and reads deep pages again.
    t.ws.connect().unwrap().execute_batch("DELETE FROM gen WHERE id >= 40000").unwrap();
    view.reload();
    settle(&mut view, 30_000..30_030, |v| !v.is_preparing() && v.columns().is_some() && v.has_rows(30_000..30_030));
    assert_eq!(view.total_rows(), 40_000);
    assert_eq!(view.cell(0, 0), Cell::Text("39999"));
    assert_eq!(view.cell(30_000, 0), Cell::Text("9999"));
}
