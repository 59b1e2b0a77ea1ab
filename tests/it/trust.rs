//! No value changes without a word: appends, unions, types fixed by the user, CSV values the
//! sniffer's sample did not see, type suggestions and their application, writers that would
//! lose each other's rows, a merge's undo after its table was replaced, a cancel that comes
//! after the commit.

use dataforge::engine::EngineError;
use dataforge::engine::import::ImportOptions;
use dataforge::engine::job::{no_waker, spawn};

use crate::common::{TestWorkspace, write_file};

fn append_to(table: &str) -> ImportOptions {
    ImportOptions { table: Some(table.into()), append: true, ..ImportOptions::new() }
}

#[test]
fn an_append_never_rounds_a_value() {
    let t = TestWorkspace::new();
    let jan = write_file(t.dir.path(), "jan.csv", "day,qty\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n");
    let feb = write_file(t.dir.path(), "feb.csv", "day,qty\n2024-02-01,2.5\n2024-02-02,7.9\n");
    t.import(&jan, Some("sales")).unwrap();
    assert_eq!(t.types("sales")[1].1, "BIGINT");

    let err = t.import_with(std::slice::from_ref(&feb), append_to("sales")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "feb.csv: row 1, column \"qty\": \"2.5\" would be stored as 2 in \"sales\", whose column is BIGINT; widen \"qty\" to DOUBLE to keep it (--widen)"
    );
    assert!(matches!(&err, EngineError::ValueChanged(c) if c.widen_to.as_deref() == Some("DOUBLE")));
    assert_eq!(t.scalar("SELECT count(*) FROM sales"), "3", "nothing landed");
    assert_eq!(t.types("sales")[1].1, "BIGINT");

    // Skipping rows already there must not take 2.5 for the 2 it would round to.
    let skip = ImportOptions { skip_existing: Some(Vec::new()), ..append_to("sales") };
    let err = t.import_with(std::slice::from_ref(&feb), skip).unwrap_err();
    assert!(matches!(err, EngineError::ValueChanged(_)), "{err}");

    // Asked for: the column is widened in the same transaction, every value kept.
    let report = t.import_with(std::slice::from_ref(&feb), ImportOptions { widen: true, ..append_to("sales") }).unwrap();
    assert_eq!(report.rows, 2);
    assert!(report.notices.iter().any(|n| n.contains("widened from BIGINT to DOUBLE")), "{:?}", report.notices);
    assert_eq!(t.types("sales")[1].1, "DOUBLE");
    assert_eq!(t.scalar("SELECT string_agg(qty::VARCHAR, ',' ORDER BY rowid) FROM sales"), "1.0,2.0,3.0,2.5,7.9");
}

#[test]
fn an_append_keeps_the_time_of_day_and_whole_numbers_only_where_they_fit() {
    let t = TestWorkspace::new();
    let a = write_file(t.dir.path(), "a.csv", "d\n2024-01-01\n2024-01-02\n");
    let b = write_file(t.dir.path(), "b.csv", "d\n2024-01-03 10:30:00\n");
    let c = write_file(t.dir.path(), "c.csv", "d\n2024-01-04 00:00:00\n");
    t.import(&a, Some("days")).unwrap();
    assert_eq!(t.types("days")[0].1, "DATE");
    let err = t.import_with(std::slice::from_ref(&b), append_to("days")).unwrap_err();
    assert!(err.to_string().contains("\"2024-01-03 10:30:00\" would be stored as 2024-01-03"), "{err}");
    // Midnight is a date exactly: it goes in as one.
    t.import_with(std::slice::from_ref(&c), append_to("days")).unwrap();
    assert_eq!(t.scalar("SELECT max(d) FROM days"), "2024-01-04");
}

#[test]
fn files_unioned_into_one_table_take_a_type_that_holds_every_value() {
    let t = TestWorkspace::new();
    let jan = write_file(t.dir.path(), "jan.csv", "qty\n1\n2\n");
    let feb = write_file(t.dir.path(), "feb.csv", "qty\n2.5\n");
    let report = t.import_with(&[jan, feb], ImportOptions { table: Some("months".into()), ..ImportOptions::new() }).unwrap();
    assert_eq!(t.types("months")[0].1, "DOUBLE");
    assert_eq!(t.scalar("SELECT string_agg(qty::VARCHAR, ',' ORDER BY qty) FROM months"), "1.0,2.0,2.5");
    assert!(report.notices.iter().any(|n| n.contains("widened from BIGINT to DOUBLE")), "{:?}", report.notices);
}

#[test]
fn types_fixed_by_the_user_must_hold_the_values() {
    let t = TestWorkspace::new();
    // Parquet (typed): a DOUBLE column fixed as BIGINT.
    let conn = t.ws.connect().unwrap();
    let parquet = t.dir.path().join("q.parquet");
    conn.execute_batch(&format!("COPY (SELECT * FROM (VALUES (1.0), (2.5)) v(qty)) TO '{}' (FORMAT parquet)", parquet.display())).unwrap();
    let typed = ImportOptions { types: ImportOptions::parse_types("qty=BIGINT").unwrap(), ..ImportOptions::new() };
    let err = t.import_with(std::slice::from_ref(&parquet), typed.clone()).unwrap_err();
    // (VALUES (2.5) is a DECIMAL, which rounds half away from zero.)
    assert_eq!(err.to_string(), "q.parquet: row 2, column \"qty\": \"2.5\" would be stored as 3 as BIGINT");
    // CSV: read strictly, the row named.
    let csv = write_file(t.dir.path(), "q.csv", "qty\n1\n2.5\n");
    let err = t.import_with(std::slice::from_ref(&csv), typed.clone()).unwrap_err();
    assert_eq!(err.to_string(), "q.csv: row 2, column \"qty\": \"2.5\" would be stored as 3 as BIGINT");
    // "Keep the column as text" keeps it, and says why.
    let report = t.import_with(&[csv], ImportOptions { on_error: dataforge::engine::import::OnError::Text, ..typed }).unwrap();
    assert_eq!(t.types(&report.table)[0].1, "VARCHAR");
    assert!(report.notices.iter().any(|n| n.contains("\"2.5\" would be stored as 3 as BIGINT")), "{:?}", report.notices);
}

/// A CSV whose first 30,000 rows look like one type and whose last row needs another.
fn late_value_csv(t: &TestWorkspace, name: &str, header: &str, early: &str, late: &str) -> std::path::PathBuf {
    let mut text = format!("{header}\n");
    for _ in 0..30_000 {
        text.push_str(early);
        text.push('\n');
    }
    text.push_str(late);
    text.push('\n');
    write_file(t.dir.path(), name, &text)
}

#[test]
fn a_csv_value_past_the_sniffers_sample_is_never_rounded_or_cut() {
    let t = TestWorkspace::new();
    let decimal = late_value_csv(&t, "late_decimal.csv", "id,qty", "1,7", "2,2.5");
    let report = t.import(&decimal, None).unwrap();
    assert_eq!(t.types(&report.table)[1].1, "DOUBLE", "{:?}", report.notices);
    assert_eq!(t.scalar(&format!("SELECT qty FROM {} WHERE id = 2", report.table)), "2.5");
    assert!(report.notices.iter().any(|n| n.contains("\"2.5\" would be stored as 3 as BIGINT")), "{:?}", report.notices);

    let time = late_value_csv(&t, "late_time.csv", "d", "2024-01-01", "2024-01-02 10:11:12");
    let report = t.import(&time, None).unwrap();
    assert_eq!(t.types(&report.table)[0].1, "TIMESTAMP");
    assert_eq!(t.scalar(&format!("SELECT max(d) FROM {}", report.table)), "2024-01-02 10:11:12");

    let offset = late_value_csv(&t, "late_offset.csv", "ts", "2024-01-01 10:00:00", "2024-01-01 10:00:00+05:30");
    let report = t.import(&offset, None).unwrap();
    let ty = &t.types(&report.table)[0].1;
    assert!(ty == "TIMESTAMP WITH TIME ZONE" || ty == "VARCHAR", "{ty}: the offset is kept, one way or the other");
    assert_eq!(t.scalar(&format!("SELECT count(DISTINCT ts) FROM {}", report.table)), "2");

    // The same rows in the plain path (no sample involved): still exact.
    let small = write_file(t.dir.path(), "small.csv", "qty\n1\n2.5\n");
    let report = t.import(&small, None).unwrap();
    assert_eq!(t.types(&report.table)[0].1, "DOUBLE");
}

#[test]
fn nanosecond_timestamps_in_a_csv_keep_their_nanoseconds() {
    let t = TestWorkspace::new();
    let ns = write_file(t.dir.path(), "ns.csv", "ts\n2024-01-01 00:00:00.000000001\n2024-01-01 00:00:00.000000002\n2024-01-01 00:00:00.000000003\n");
    let report = t.import(&ns, None).unwrap();
    assert_eq!(t.types(&report.table)[0].1, "TIMESTAMP_NS", "{:?}", report.notices);
    assert_eq!(t.scalar(&format!("SELECT count(DISTINCT ts) FROM {}", report.table)), "3");
}

#[test]
fn a_commit_that_started_is_reported_even_when_cancel_arrives_during_it() {
    use dataforge::engine::job::{Job, JobCtx};
    struct CommitsThenWaits(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Job for CommitsThenWaits {
        type Output = &'static str;
        fn title(&self) -> String {
            "commit".into()
        }
        fn run(self, ctx: &JobCtx) -> dataforge::engine::Result<&'static str> {
            ctx.commit_point()?;
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            // Cancel arrives now, while the commit would be running.
            std::thread::sleep(std::time::Duration::from_millis(200));
            ctx.checkpoint()?;
            Ok("committed")
        }
    }
    let at_commit = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handle = spawn(CommitsThenWaits(at_commit.clone()), no_waker());
    while !at_commit.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    handle.cancel();
    assert_eq!(handle.wait().unwrap(), "committed");
}

#[test]
fn a_second_writer_waits_for_the_first_and_loses_nothing() {
    use dataforge::engine::dedupe::{DedupeJob, DedupeSpec, DedupeTarget};
    let t = TestWorkspace::new();
    let base = write_file(t.dir.path(), "base.csv", "id,name\n1,a\n1,a\n2,b\n");
    let more = write_file(t.dir.path(), "more.csv", "id,name\n3,c\n");
    t.import(&base, Some("people")).unwrap();
    // Another writer holds the table: an append waits, saying for whom, and lands afterwards.
    let held = t.ws.try_lock_table("people", "Remove duplicates from people").unwrap();
    let append = spawn(dataforge::engine::import::ImportJob::with_options(t.ws.clone(), vec![more.clone()], append_to("people")), no_waker());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !append.snapshot().progress.phase.starts_with("Waiting for \"Remove duplicates from people\"") {
        assert!(std::time::Instant::now() < deadline, "the append never said it waits: {:?}", append.snapshot().progress.phase);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(t.scalar("SELECT count(*) FROM people"), "3");
    drop(held);
    append.wait().unwrap();
    assert_eq!(t.scalar("SELECT count(*) FROM people"), "4");
    // A replace and an append at once: whichever goes first, the other sees its rows.
    let dedupe = spawn(DedupeJob { workspace: t.ws.clone(), spec: DedupeSpec::new("people"), excluded: Vec::new(), target: DedupeTarget::Replace }, no_waker());
    let append = spawn(dataforge::engine::import::ImportJob::with_options(t.ws.clone(), vec![more], append_to("people")), no_waker());
    dedupe.wait().unwrap();
    append.wait().unwrap();
    let rows = t.scalar("SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM people");
    assert!(rows == "1,2,3,3" || rows == "1,2,3", "the append's row was kept: {rows}");
    assert!(rows.contains('3'));
}

#[test]
fn a_unique_check_looks_only_at_the_rows_kept() {
    use dataforge::engine::checks::{Check, CheckJob, Rule};
    use dataforge::engine::view::{View, WhereExpr};
    let t = TestWorkspace::new();
    let csv = write_file(t.dir.path(), "ids.csv", "id,year\n1,2023\n1,2024\n2,2024\n");
    t.import(&csv, Some("ids")).unwrap();
    let unique = vec![Check { column: Some("id".into()), rule: Rule::Unique }];
    let run = |view: View| spawn(CheckJob { workspace: t.ws.clone(), view, checks: unique.clone() }, no_waker()).wait().unwrap();
    let all = run(View::table("ids"));
    assert_eq!((all[0].passed, all[0].failing), (false, 2));
    let mut in_2024 = View::table("ids");
    in_2024.where_expr = Some(WhereExpr::parse("year = 2024").unwrap());
    let kept = run(in_2024);
    assert!(kept[0].passed, "ids are unique among the rows of 2024: {:?}", kept[0]);
}

#[test]
fn sql_under_the_policy_reaches_no_file_outside_the_allowed_folders() {
    use dataforge::engine::console::{RunSql, SqlAccess};
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE t AS SELECT range AS a FROM range(3)").unwrap();
    let allowed = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret = write_file(outside.path(), "secret.csv", "s\nhidden\n");
    let mine = write_file(allowed.path(), "mine.csv", "m\n1\n");
    let access = SqlAccess::Folders(vec![allowed.path().to_path_buf()]);
    let run = |sql: &str| spawn(RunSql::new(t.ws.clone(), sql, access.clone()), no_waker()).wait();
    let (s, o) = (secret.display().to_string(), outside.path().display().to_string());
    for escape in [
        format!("SELECT * FROM read_csv('{s}')"),
        format!("SELECT * FROM read_text('{s}')"),
        format!("SELECT * FROM glob('{o}/*')"),
        format!("SELECT * FROM '{s}'"),
        format!("SUMMARIZE '{s}'"),
        format!("SUMMARIZE SELECT * FROM read_csv('{s}')"),
        format!("COPY t TO '{o}/out.csv'"),
        format!("COPY t FROM '{s}'"),
        format!("ATTACH '{o}/x.duckdb' AS x"),
        format!("EXPORT DATABASE '{o}/dump'"),
        format!("SELECT * FROM query('SELECT * FROM read_text(''{s}'')')"),
        format!("SELECT * FROM query_table('{s}')"),
        format!("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_text(''{s}'')'))"),
        format!("PRAGMA profiling_output = '{o}/p.json'"),
        "SET allowed_directories = ['/']".to_string(),
        "SET enable_external_access = true".to_string(),
        "RESET temp_directory".to_string(),
        "DETACH dataforge_scratch".to_string(),
        format!("SELECT * FROM read_text('{o}' || '/secret.csv')"),
        format!("SELECT * FROM read_text(concat('{o}', '/secret.csv'))"),
        format!("COPY (SELECT 1) TO ('{o}' || '/c.csv')"),
    ] {
        let err = run(&escape).expect_err(&escape);
        assert!(!err.to_string().contains("hidden"), "{escape}: the file's content leaked: {err}");
    }
    assert!(std::fs::read_dir(outside.path()).unwrap().count() == 1, "nothing was written outside");
    // Inside the allowed folder, SQL reads and writes files as usual.
    let read = run(&format!("SELECT * FROM read_csv('{}')", mine.display())).unwrap();
    assert_eq!(read.result.map(|r| r.rows), Some(1));
    run(&format!("COPY t TO '{}/t.csv'", allowed.path().display())).unwrap();
    assert!(allowed.path().join("t.csv").exists());

    // A rules file's SQL runs under the same policy, in the CLI and the window alike.
    use dataforge::engine::checks::{Check, CheckJob, Rule};
    let rule = Check { column: None, rule: Rule::Sql { predicate: format!("(SELECT count(*) FROM read_text('{s}')) > 0") } };
    let err = spawn(CheckJob { workspace: t.ws.clone(), view: dataforge::engine::view::View::table("t"), checks: vec![rule] }, no_waker()).wait().unwrap_err();
    assert!(!err.to_string().contains("hidden"), "{err}");
}

#[test]
fn a_console_keeps_its_transaction_and_temporary_tables() {
    use dataforge::engine::console::{ConsoleSession, RunSql, SqlAccess};
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE t AS SELECT range AS a FROM range(3)").unwrap();
    let session = ConsoleSession::shared();
    let run = |sql: &str| spawn(RunSql::new(t.ws.clone(), sql, SqlAccess::Folders(Vec::new())).in_session(session.clone()), no_waker()).wait().unwrap();
    run("BEGIN");
    run("DELETE FROM t");
    let inside = run("SELECT count(*) AS n FROM t");
    assert_eq!(inside.result.as_ref().map(|r| r.rows), Some(1));
    assert_eq!(t.scalar("SELECT count(*) FROM t"), "3", "others do not see the delete before it commits");
    run("ROLLBACK");
    assert_eq!(t.scalar("SELECT count(*) FROM t"), "3", "the rollback undid the delete");
    run("CREATE TEMP TABLE mine AS SELECT 42 AS x");
    let again = run("SELECT x FROM mine");
    assert_eq!(again.result.map(|r| r.rows), Some(1), "a temporary table lives as long as the console");
}

#[test]
fn an_endless_stream_stops_at_the_line_limit() {
    let t = TestWorkspace::new();
    let err = t.import("/dev/zero", None).unwrap_err();
    assert_eq!(err.to_string(), "zero: line 1: the line is longer than 2,000,000 bytes; a line may be at most 2,000,000 bytes");
    assert!(t.all_table_names().is_empty());
}

#[cfg(unix)]
#[test]
fn a_pipe_nobody_writes_to_can_be_cancelled() {
    let t = TestWorkspace::new();
    let fifo = t.dir.path().join("silent.csv");
    let c_path = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let handle = spawn(dataforge::engine::import::ImportJob::new(t.ws.clone(), &fifo, None), no_waker());
    std::thread::sleep(std::time::Duration::from_millis(300));
    handle.cancel();
    let started = std::time::Instant::now();
    let outcome = handle.wait();
    assert!(matches!(outcome, Err(EngineError::Cancelled)), "{outcome:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn an_enum_column_takes_new_values_in_an_append() {
    let t = TestWorkspace::new();
    let first = write_file(t.dir.path(), "first.csv", "city\nOslo\nBergen\n");
    let more = write_file(t.dir.path(), "more.csv", "city\nOslo\nTromsø\n");
    t.import(&first, Some("cities")).unwrap();
    t.ws.connect().unwrap().execute_batch("ALTER TABLE cities ALTER COLUMN city SET DATA TYPE ENUM('Bergen', 'Oslo')").unwrap();
    t.import_with(std::slice::from_ref(&more), append_to("cities")).unwrap();
    assert!(t.types("cities")[0].1.starts_with("ENUM"));
    assert_eq!(t.scalar("SELECT string_agg(city::VARCHAR, ',' ORDER BY rowid) FROM cities"), "Oslo,Bergen,Oslo,Tromsø");
    // An ENUM is text to the search, to dedupe and to clustering.
    let mut view = dataforge::engine::view::View::table("cities");
    view.search = Some("troms".into());
    let shape = dataforge::engine::view::SourceShape::of(&t.ws.connect().unwrap(), &view.source).unwrap();
    let compiled = view.compile(&shape).unwrap();
    let conn = t.ws.connect().unwrap();
    let n: i64 = conn.prepare(&compiled.select_columns("count(*)")).unwrap().query_row(compiled.params(), |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_merge_is_not_undone_into_rows_a_replace_renumbered() {
    use dataforge::engine::cluster::{Cluster, MergeJob, UndoMergeJob, ValueCount};
    use dataforge::engine::dedupe::{DedupeJob, DedupeSpec, DedupeTarget};
    let t = TestWorkspace::new();
    let csv = write_file(t.dir.path(), "c.csv", "id,city\n1,Oslo\n1,Oslo\n2,oslo\n3,Bergen\n");
    t.import(&csv, Some("c")).unwrap();
    let cluster = Cluster {
        values: vec![ValueCount { value: "Oslo".into(), count: 2 }, ValueCount { value: "oslo".into(), count: 1 }],
        canonical: "Oslo".into(),
        rows: 3,
    };
    let merged = spawn(MergeJob { workspace: t.ws.clone(), table: "c".into(), column: "city".into(), clusters: vec![cluster] }, no_waker()).wait().unwrap();
    // Rows renumbered by a dedupe that replaces the table: the undo would write into others.
    spawn(DedupeJob { workspace: t.ws.clone(), spec: DedupeSpec::new("c"), excluded: Vec::new(), target: DedupeTarget::Replace }, no_waker()).wait().unwrap();
    let before = t.rows("c");
    let undo = UndoMergeJob { workspace: t.ws.clone(), table: "c".into(), column: "city".into(), undo_table: merged.undo_table.clone() };
    let err = spawn(undo, no_waker()).wait().unwrap_err();
    assert!(err.to_string().contains("cannot be undone row by row"), "{err}");
    assert_eq!(t.rows("c"), before, "nothing was written");
}

#[test]
fn type_suggestions_hold_every_value_and_are_checked_again_when_applied() {
    use dataforge::engine::profile::optimize::{OptimizeJob, OptimizeTarget, TypeChange};
    use dataforge::engine::profile::{ProfileJob, ProfileOptions};
    use dataforge::engine::view::View;
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch(
            "CREATE TABLE ids AS SELECT CAST(18446744073709551557 - range AS VARCHAR) AS id,
                    '2024-01-0' || (1 + range % 9) || ' 01:30:00+05:30' AS at,
                    CAST(range AS VARCHAR) AS n
             FROM range(300)",
        )
        .unwrap();
    let p = spawn(ProfileJob { workspace: t.ws.clone(), view: View::table("ids"), options: ProfileOptions::default(), on_column: None }, no_waker()).wait().unwrap();
    let suggested = |c: &str| p.column(c).unwrap().suggested.as_ref().map(|s| s.data_type.clone());
    // 20-digit ids: not doubles (which would merge them); an unsigned 64-bit integer holds them.
    assert_eq!(suggested("id").as_deref(), Some("UBIGINT"));
    // Offsets are kept: TIMESTAMP WITH TIME ZONE, never a TIMESTAMP that drops them.
    assert_eq!(suggested("at").as_deref(), Some("TIMESTAMPTZ"));
    let before = t.scalar("SELECT count(DISTINCT id) FROM ids");
    let changes: Vec<TypeChange> = ["id", "at", "n"].iter().map(|c| TypeChange { column: c.to_string(), data_type: suggested(c).unwrap() }).collect();
    spawn(OptimizeJob { workspace: t.ws.clone(), table: "ids".into(), changes, target: OptimizeTarget::Replace }, no_waker()).wait().unwrap();
    assert_eq!(t.scalar("SELECT count(DISTINCT id) FROM ids"), before);
    assert_eq!(t.scalar("SELECT max(id) FROM ids"), "18446744073709551557");
    // A suggestion made before the table changed is checked on the rows as they are now.
    t.ws.connect().unwrap().execute_batch("CREATE TABLE later AS SELECT CAST(range AS DOUBLE) AS q FROM range(10); INSERT INTO later VALUES (2.5)").unwrap();
    let stale = vec![TypeChange { column: "q".into(), data_type: "SMALLINT".into() }];
    let err = spawn(OptimizeJob { workspace: t.ws.clone(), table: "later".into(), changes: stale, target: OptimizeTarget::Replace }, no_waker()).wait().unwrap_err();
    assert_eq!(err.to_string(), "later: row 11, column \"q\": \"2.5\" would be stored as 2 as SMALLINT");
    assert_eq!(t.types("later")[0].1, "DOUBLE", "nothing changed");
}
