use std::time::{Duration, Instant};

use dataforge::engine::EngineError;
use dataforge::engine::export::{ExportJob, ExportOptions};
use dataforge::engine::view::{SortKey, View};
use dataforge::engine::import::{ImportJob, ImportOptions};
use dataforge::engine::job::{JobSnapshot, no_waker, spawn};

use crate::common::{TestWorkspace, generated_csv, shared, write_file};

#[test]
fn csv_spectrum_files_match_their_expected_json() {
    let dir = shared().join("corpora/csv-spectrum");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.join("csvs")).unwrap() {
        let csv = entry.unwrap().path();
        let stem = csv.file_stem().unwrap().to_string_lossy().into_owned();
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("json").join(format!("{stem}.json"))).unwrap()).unwrap();
        // location_coordinates.json is a bare object; the rest are arrays of objects.
        let expected: Vec<serde_json::Map<String, serde_json::Value>> = match expected {
            serde_json::Value::Array(rows) => rows.into_iter().map(|r| r.as_object().unwrap().clone()).collect(),
            serde_json::Value::Object(row) => vec![row],
            other => panic!("unexpected JSON {other}"),
        };
        let t = TestWorkspace::new();
        let report = t.import(&csv, None).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let columns = t.ws.columns(&report.table).unwrap();
        let rows = t.rows(&report.table);
        assert_eq!(rows.len(), expected.len(), "{stem}: row count");
        for (row, want) in rows.iter().zip(&expected) {
            assert_eq!(columns.len(), want.len(), "{stem}: columns");
            for (col, cell) in columns.iter().zip(row) {
                // Upstream's expected phone number differs from its own CSV; every other
                // field of that file is compared.
                if stem == "location_coordinates" && col.name == "Contact Phone Number" {
                    continue;
                }
                let want = want[&col.name].as_str().unwrap();
                // A CSV cannot tell an empty field from a missing value: both read as "".
                assert_eq!(cell.as_deref().unwrap_or(""), want, "{stem}: column {}", col.name);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
fn flights_csv_gz_imports_all_rows() {
    let t = TestWorkspace::new();
    let report = t.import(shared().join("realdata/nycflights13/flights.csv.gz"), None).unwrap();
    assert_eq!(report.table, "flights");
    assert_eq!(report.rows, 336_776);
    assert_eq!(report.columns, 19);
    let info = t.ws.table("flights").unwrap();
    assert_eq!((info.rows, info.columns), (336_776, 19));
    assert!(info.bytes.unwrap_or(0) > 1_000_000, "{info:?}");
    let types: Vec<String> = t.ws.columns("flights").unwrap().into_iter().map(|c| c.data_type).collect();
    assert_eq!(types[0], "BIGINT", "year");
    assert!(types.iter().any(|t| t.starts_with("TIMESTAMP")), "time_hour: {types:?}");
}

#[test]
fn parquet_files_import_with_rows_and_types() {
    let data = shared().join("corpora/parquet-testing/data");
    let t = TestWorkspace::new();
    let r = t.import(data.join("alltypes_plain.parquet"), None).unwrap();
    assert_eq!((r.rows, r.columns), (8, 11));
    let types: Vec<(String, String)> =
        t.ws.columns(&r.table).unwrap().into_iter().map(|c| (c.name, c.data_type)).collect();
    assert_eq!(types[0], ("id".into(), "INTEGER".into()));
    assert_eq!(types[1], ("bool_col".into(), "BOOLEAN".into()));
    assert!(types.iter().any(|(n, ty)| n == "timestamp_col" && ty.starts_with("TIMESTAMP")), "{types:?}");

    let r = t.import(data.join("nulls.snappy.parquet"), None).unwrap();
    assert_eq!((r.rows, r.columns), (8, 1));
    assert_eq!(t.ws.columns(&r.table).unwrap()[0].data_type, "STRUCT(b_c_int INTEGER)");
    assert!(t.rows(&r.table).iter().all(|row| row[0].as_deref() == Some("{'b_c_int': NULL}")));

    let r = t.import(data.join("datapage_v2.snappy.parquet"), None).unwrap();
    assert_eq!((r.rows, r.columns), (5, 5));
}

#[test]
fn bad_values_are_located_and_leave_no_table() {
    let t = TestWorkspace::new();
    let mut csv = String::from("id,amount\n");
    for i in 0..30_000 {
        csv.push_str(&format!("{i},{}\n", i * 3));
    }
    csv.push_str("30000,n/a\n");
    let path = write_file(t.dir.path(), "sales.csv", &csv);
    let before = t.all_table_names();
    let typed = ImportOptions { types: vec![("amount".into(), dataforge::engine::sql::SqlType::parse("BIGINT").unwrap())], ..ImportOptions::new() };
    let err = t.import_with(std::slice::from_ref(&path), typed).unwrap_err();
    match &err {
        EngineError::InvalidData { file, line, column, reason } => {
            assert!(file.ends_with("sales.csv"));
            assert_eq!(*line, Some(30_002), "{err}");
            assert_eq!(column.as_deref(), Some("amount"), "{err}");
            assert_eq!(reason, "\"n/a\" is not a valid BIGINT");
        }
        other => panic!("expected InvalidData, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.starts_with("sales.csv: line 30002, column \"amount\""), "{message}");
    assert_eq!(t.all_table_names(), before);

    // With the type only guessed, the column is kept as text and the report says why.
    let r = t.import(&path, None).unwrap();
    assert_eq!(r.rows, 30_001);
    assert_eq!(t.ws.columns("sales").unwrap()[1].data_type, "VARCHAR");
    assert!(r.notices.iter().any(|n| n == "column \"amount\" was kept as text: \"n/a\" at line 30,002 is not a valid BIGINT"), "{:?}", r.notices);
}

#[test]
fn broken_and_missing_files_give_typed_errors() {
    let t = TestWorkspace::new();
    let bad = shared().join("corpora/parquet-testing/bad_data/PARQUET-1481.parquet");
    let err = t.import(&bad, None).unwrap_err();
    assert!(err.to_string().contains("PARQUET-1481.parquet"), "{err}");
    let err = t.import(t.dir.path().join("nope.csv"), None).unwrap_err();
    assert!(matches!(err, EngineError::Io { .. }), "{err:?}");
    let mut ragged = String::from("a,b\n");
    for i in 0..30_000 {
        ragged.push_str(&format!("{i},x{i}\n"));
    }
    ragged.push_str("1,2,3,4\n5,6\n");
    let ragged = write_file(t.dir.path(), "ragged.csv", &ragged);
    let err = t.import(&ragged, None).unwrap_err();
    assert!(matches!(err, EngineError::InvalidData { line: Some(30_002), .. }), "{err:?}");
    assert_eq!(err.to_string(), "ragged.csv: line 30002: expected 2 columns but the line has 4");
    let empty = write_file(t.dir.path(), "empty.csv", "");
    let err = t.import(&empty, None).unwrap_err();
    assert_eq!(err.to_string(), "empty.csv: the file is empty; there is nothing to import");
    assert!(t.ws.tables().unwrap().is_empty());
    assert!(t.all_table_names().is_empty(), "{:?}", t.all_table_names());
}

#[test]
fn explicit_names_must_be_free_and_derived_names_are_made_unique() {
    let t = TestWorkspace::new();
    let file = shared().join("realdata/palmerpenguins/penguins.csv");
    assert_eq!(t.import(&file, None).unwrap().table, "penguins");
    assert_eq!(t.import(&file, None).unwrap().table, "penguins_2");
    let err = t.import(&file, Some("penguins")).unwrap_err();
    assert!(matches!(err, EngineError::Duplicate(ref n) if n == "penguins"), "{err:?}");
    assert_eq!(t.import(&file, Some("Pen \"guins\"")).unwrap().rows, 344);
    // DuckDB resolves names without regard to case.
    let err = t.import(&file, Some("PENGUINS")).unwrap_err();
    assert!(matches!(err, EngineError::Duplicate(_)), "{err:?}");
    let sales = t.dir.path().join("sales.csv");
    std::fs::copy(&file, &sales).unwrap();
    assert_eq!(t.import(&sales, Some("Sales")).unwrap().table, "Sales");
    assert_eq!(t.import(&sales, None).unwrap().table, "sales_2");
    // Glob characters in a file name are read literally.
    let odd = t.dir.path().join("report[1] *final?.csv");
    std::fs::copy(&file, &odd).unwrap();
    assert_eq!(t.import(&odd, None).unwrap().rows, 344);
    assert_eq!(t.ws.tables().unwrap().len(), 6);
}

#[test]
fn workspace_survives_reopen() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let path = t.path();
    drop(t.ws);
    let ws = dataforge::engine::catalog::open_workspace(&path, Default::default()).unwrap();
    let tables = ws.tables().unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!((tables[0].rows, tables[0].columns), (344, 8));
    assert!(tables[0].source.as_deref().unwrap().ends_with("penguins.csv"));
}

/// Waits until DuckDB reports progress on the job's statement, so a cancel lands mid-query.
fn wait_until_reading(snapshot: impl Fn() -> JobSnapshot) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let snap = snapshot();
        assert!(!snap.state.is_finished(), "the job ended before it could be cancelled: {snap:?}");
        if snap.progress.fraction.is_some_and(|f| f > 0.0) {
            return;
        }
        assert!(Instant::now() < deadline, "no progress reported: {snap:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn cancelled_import_leaves_the_workspace_unchanged() {
    let csv = generated_csv(3_000_000);
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let before = t.all_table_names();
    let handle = spawn(ImportJob::new(t.ws.clone(), &csv, None), no_waker());
    wait_until_reading(|| handle.snapshot());
    handle.cancel();
    let started = Instant::now();
    let result = handle.wait();
    assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "cancel took {:?}", started.elapsed());
    assert_eq!(t.all_table_names(), before);
    // The workspace keeps working after an interrupt.
    assert_eq!(t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap().rows, 344);
}

#[test]
fn cancelled_export_leaves_no_file() {
    let csv = generated_csv(3_000_000);
    let t = TestWorkspace::new();
    t.import(&csv, Some("big")).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("big.parquet");
    std::fs::write(&out, b"the previous export").unwrap();
    let view = View { sort: vec![SortKey { column: "email".into(), descending: true }], ..View::table("big") };
    let handle = spawn(ExportJob::new(t.ws.clone(), view, &out, ExportOptions { overwrite: true, ..Default::default() }), no_waker());
    wait_until_reading(|| handle.snapshot());
    handle.cancel();
    assert!(matches!(handle.wait(), Err(EngineError::Cancelled)));
    let left: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("big.parquet")], "files left behind");
    assert_eq!(std::fs::read(&out).unwrap(), b"the previous export", "the old file is untouched");
}

#[test]
fn export_reads_back_identical_rows() {
    use dataforge_arrow::*;
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/nycflights13/flights.csv.gz"), None).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("flights.parquet");
    let report = spawn(ExportJob::new(t.ws.clone(), View::table("flights"), &out, ExportOptions::default()), no_waker()).wait().unwrap();
    assert_eq!(report.rows, 336_776);
    let from_file = read_parquet_as_text(&out);
    let conn = t.ws.connect().unwrap();
    let from_db = query_as_text(&conn, "SELECT * FROM flights ORDER BY rowid");
    assert_eq!(from_file.len(), 19);
    assert_eq!(from_file, from_db);

    // A sorted export writes rows in that order.
    let sorted = out_dir.path().join("sorted.parquet");
    let view = View { sort: vec![SortKey { column: "dep_delay".into(), descending: true }], ..View::table("flights") };
    spawn(ExportJob::new(t.ws.clone(), view, &sorted, ExportOptions::default()), no_waker()).wait().unwrap();
    let from_file = read_parquet_as_text(&sorted);
    let from_db = query_as_text(&conn, "SELECT * FROM flights ORDER BY dep_delay DESC NULLS LAST, rowid");
    assert_eq!(from_file, from_db);

    // A failed export (unknown column) does not touch an existing file.
    std::fs::write(out_dir.path().join("keep.parquet"), b"old").unwrap();
    let bad = View { sort: vec![SortKey::ascending("nope")], ..View::table("flights") };
    let replace = ExportOptions { overwrite: true, ..Default::default() };
    let err = spawn(ExportJob::new(t.ws.clone(), bad, out_dir.path().join("keep.parquet"), replace), no_waker())
        .wait()
        .unwrap_err();
    assert!(matches!(err, EngineError::ColumnNotFound { .. }), "{err:?}");
    assert_eq!(std::fs::read(out_dir.path().join("keep.parquet")).unwrap(), b"old");
}

/// Columns of a Parquet file (read by the parquet crate) and of a DuckDB query, as text.
mod dataforge_arrow {
    use std::path::Path;

    use duckdb::arrow::array::{Array, ArrayRef, StringArray};
    use duckdb::arrow::compute::{cast, concat};
    use duckdb::arrow::datatypes::DataType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn to_text(columns: Vec<Vec<ArrayRef>>) -> Vec<Vec<Option<String>>> {
        columns
            .into_iter()
            .map(|chunks| {
                let refs: Vec<&dyn Array> = chunks.iter().map(|a| a.as_ref()).collect();
                let mut whole = concat(&refs).unwrap();
                // Render instants without a zone database: both sides store UTC.
                if let DataType::Timestamp(unit, Some(_)) = whole.data_type() {
                    whole = cast(&whole, &DataType::Timestamp(*unit, None)).unwrap();
                }
                let text = cast(&whole, &DataType::Utf8).unwrap();
                let text = text.as_any().downcast_ref::<StringArray>().unwrap();
                text.iter().map(|v| v.map(str::to_string)).collect()
            })
            .collect()
    }

    pub fn read_parquet_as_text(path: &Path) -> Vec<Vec<Option<String>>> {
        let file = std::fs::File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        let mut columns: Vec<Vec<ArrayRef>> = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            columns.resize(batch.num_columns(), Vec::new());
            for (i, col) in batch.columns().iter().enumerate() {
                columns[i].push(col.clone());
            }
        }
        to_text(columns)
    }

    pub fn query_as_text(conn: &duckdb::Connection, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut stmt = conn.prepare(sql).unwrap();
        let mut columns: Vec<Vec<ArrayRef>> = Vec::new();
        for batch in stmt.query_arrow([]).unwrap() {
            columns.resize(batch.num_columns(), Vec::new());
            for (i, col) in batch.columns().iter().enumerate() {
                columns[i].push(col.clone());
            }
        }
        to_text(columns)
    }
}

#[test]
fn scratch_files_of_a_killed_import_are_removed_at_open() {
    use dataforge::engine::config::EnvOverrides;
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("ws.duckdb.tmp");
    std::fs::create_dir_all(&temp).unwrap();
    // Beyond any pid_max, so never a live process.
    let stale = write_file(&temp, "dataforge-utf8-4000000000-abc.csv", "a\n1\n");
    std::fs::create_dir_all(temp.join("dataforge-zip-4000000000-def/0")).unwrap();
    let mine = write_file(&temp, &format!("dataforge-utf8-{}-ghi.csv", std::process::id()), "a\n");
    let other = write_file(&temp, "notes.txt", "keep me");
    let _ws = dataforge::engine::catalog::open_workspace(dir.path().join("ws.duckdb"), EnvOverrides::default()).unwrap();
    assert!(!stale.exists());
    assert!(!temp.join("dataforge-zip-4000000000-def").exists());
    assert!(mine.exists(), "a live process's file stays");
    assert!(other.exists());
}
