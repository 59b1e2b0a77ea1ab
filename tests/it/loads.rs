//! Loads that must never go silently wrong: whitespace-separated text, a delimiter the sniffer
//! missed, "NA" missing values, a layout the user fixed by hand, rejects, hostile shapes.

use dataforge::engine::EngineError;
use dataforge::engine::import::preview::PreviewJob;
use dataforge::engine::import::{ImportOptions, OnError};
use dataforge::engine::job::{no_waker, spawn};
use dataforge::engine::sql::SqlType;

use crate::common::{TestWorkspace, shared, write_file};

fn opts() -> ImportOptions {
    ImportOptions::new()
}

fn many_columns() -> std::path::PathBuf {
    shared().join("corpora/duckdb-data/data/csv/rejects/incorrect_columns/many_columns.csv")
}

#[test]
fn r_write_table_output_loads_with_its_columns() {
    let t = TestWorkspace::new();
    // write.table(mtcars[1:4, 1:3]) with a text column: quoted header one short (row names),
    // single spaces, quoted strings with spaces, NA.
    let r = "\"mpg\" \"cyl\" \"model\"\n\"Mazda RX4\" 21 6 \"RX 4\"\n\"Datsun 710\" 22.8 4 \"510\"\n\"Hornet 4 Drive\" NA 6 \"NA\"\n\"Valiant\" 18.1 NA \"Slant \\\"6\\\"\"\n";
    let file = write_file(t.dir.path(), "mtcars.txt", r);
    let report = t.import(&file, None).unwrap();
    assert_eq!((report.rows, report.columns), (4, 4));
    assert_eq!(
        t.types("mtcars"),
        vec![
            ("rownames".into(), "VARCHAR".into()),
            ("mpg".into(), "DOUBLE".into()),
            ("cyl".into(), "BIGINT".into()),
            ("model".into(), "VARCHAR".into())
        ]
    );
    let rows = t.rows("mtcars");
    assert_eq!(rows[0], vec![Some("Mazda RX4".into()), Some("21.0".into()), Some("6".into()), Some("RX 4".into())]);
    assert_eq!(rows[2][1], None, "unquoted NA is missing");
    assert_eq!(rows[2][3].as_deref(), Some("NA"), "a quoted \"NA\" is text");
    assert_eq!(rows[3][3].as_deref(), Some("Slant \"6\""));
    assert_eq!(
        report.notices,
        vec![
            "fields are separated by spaces, not by a delimiter (as R's write.table writes them); read as 4 columns".to_string(),
            "the header names one column fewer than the rows hold (R's row names); the first column is named \"rownames\"".to_string(),
        ]
    );
}

#[test]
fn runs_of_spaces_single_quotes_and_no_header() {
    let t = TestWorkspace::new();
    let aligned = write_file(t.dir.path(), "aligned.dat", "station   temp    rain\n   A1     12.5     0.0\n   B22     9.25    1.5\n   C3     -3.0    12.75\n");
    let r = t.import(&aligned, None).unwrap();
    assert_eq!((r.rows, r.columns), (3, 3));
    assert_eq!(t.types("aligned")[1], ("temp".into(), "DOUBLE".into()));
    assert_eq!(t.scalar("SELECT sum(rain) FROM aligned"), "14.25");

    let quoted = write_file(t.dir.path(), "quoted.txt", "'city name' 'pop'\n'New York' 8336817\n'Los Angeles' 3979576\n");
    t.import(&quoted, None).unwrap();
    assert_eq!(t.rows("quoted")[1], vec![Some("Los Angeles".into()), Some("3979576".into())]);
    assert_eq!(t.ws.columns("quoted").unwrap()[0].name, "city name");

    let bare = write_file(t.dir.path(), "bare.txt", "1 2.5 x\n2 3.5 y\n3 4.5 z\n");
    let mut o = opts();
    o.csv.header = Some(false);
    o.table = Some("bare".into());
    let r = t.import_with(&[bare], o).unwrap();
    assert_eq!((r.rows, r.columns), (3, 3));
    assert_eq!(t.rows("bare")[2], vec![Some("3".into()), Some("4.5".into()), Some("z".into())]);

    // Two-word names in one column stay one column.
    let cities = write_file(t.dir.path(), "cities.txt", "city\nNew York\nLos Angeles\nSan Diego\n");
    let r = t.import(&cities, None).unwrap();
    assert_eq!((r.rows, r.columns), (3, 1));
    assert!(r.notices.is_empty(), "{:?}", r.notices);
}

#[test]
fn a_delimiter_the_sniffer_missed_is_used_and_its_ragged_lines_are_located() {
    let t = TestWorkspace::new();
    let err = t.import(many_columns(), None).unwrap_err();
    assert_eq!(err.to_string(), "many_columns.csv: line 1096: expected 4 columns but the line has 6");
    assert!(t.all_table_names().is_empty());

    // Skipping bad lines: each of the four bad lines is one rejected row.
    let skip = ImportOptions { on_error: OnError::Skip, ..opts() };
    let r = t.import_with(&[many_columns()], skip).unwrap();
    assert_eq!((r.rows, r.columns), (2768, 4));
    let rejects = r.rejects.expect("rejects");
    assert_eq!(rejects.rows, 4);
    let lines: Vec<(Option<String>, Option<String>)> = t.rows(&rejects.table).into_iter().map(|row| (row[1].clone(), row[5].clone())).collect();
    assert_eq!(
        lines,
        vec![
            (Some("1096".into()), Some("expected 4 columns but the line has 6".into())),
            (Some("1159".into()), Some("expected 4 columns but the line has 6".into())),
            (Some("1206".into()), Some("expected 4 columns but the line has 5".into())),
            (Some("2769".into()), Some("expected 4 columns but the line has 5".into())),
        ]
    );
    assert_eq!(t.scalar(&format!("SELECT count(*) FROM {}", rejects.table)), "4");
}

#[test]
fn a_one_column_load_of_ragged_delimited_lines_says_so() {
    let t = TestWorkspace::new();
    let mut text = String::from("entry\n");
    for i in 0..200 {
        text.push_str(&match i % 3 {
            0 => format!("a{i},b,c\n"),
            1 => format!("a{i}\n"),
            _ => format!("a{i},b,c,d,e\n"),
        });
    }
    let file = write_file(t.dir.path(), "log.txt", &text);
    let r = t.import(&file, None).unwrap();
    assert_eq!(r.columns, 1);
    assert_eq!(
        r.notices,
        vec!["loaded as one column: many lines contain commas, but not the same number of times; if the file has columns, choose its delimiter".to_string()]
    );
}

#[test]
fn na_is_a_missing_value_in_number_and_date_columns_only() {
    let t = TestWorkspace::new();
    let flights = shared().join("realdata/nycflights13/flights.csv.gz");
    t.import(&flights, None).unwrap();
    let types = t.types("flights");
    let ty = |name: &str| types.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()).unwrap();
    assert_eq!(ty("dep_time"), "BIGINT");
    assert_eq!(ty("arr_delay"), "BIGINT");
    assert_eq!(t.scalar("SELECT count(*) FROM flights WHERE dep_time IS NULL"), "8255");
    // tailnum is text: "NA" there stays text, as the user sees it in the file.
    assert_eq!(ty("tailnum"), "VARCHAR");
    assert_eq!(t.scalar("SELECT count(*) FROM flights WHERE tailnum = 'NA'"), "2512");
    assert_eq!(t.scalar("SELECT count(*) FROM flights WHERE tailnum IS NULL"), "0");
    // Rows keep the file's order (DuckDB loses it when a read is planned with a join).
    for (row, expected) in [(0, "2013-1-1 517"), (100_000, "2013-12-19 817"), (336_775, "2013-9-30 NULL")] {
        let got = t.scalar(&format!("SELECT concat_ws(' ', year || '-' || month || '-' || day, coalesce(dep_time::VARCHAR, 'NULL')) FROM flights WHERE rowid = {row}"));
        assert_eq!(got, expected, "row {row}");
    }

    // Turned off, the columns with NA are text again.
    let keep = ImportOptions { table: Some("kept".into()), csv: dataforge::engine::import::CsvOptions { na_as_null: false, ..Default::default() }, ..opts() };
    t.import_with(std::slice::from_ref(&flights), keep).unwrap();
    assert_eq!(t.types("kept")[3], ("dep_time".into(), "VARCHAR".into()));

    let mixed = write_file(t.dir.path(), "mixed.csv", "code,n,day,v\nNA,1,2024-01-02,nan\nDE,N/A,NULL,1.5\nFR,3,null,NaN\n");
    t.import(&mixed, None).unwrap();
    assert_eq!(
        t.types("mixed"),
        vec![("code".into(), "VARCHAR".into()), ("n".into(), "BIGINT".into()), ("day".into(), "DATE".into()), ("v".into(), "DOUBLE".into())]
    );
    assert_eq!(t.rows("mixed")[0], vec![Some("NA".into()), Some("1".into()), Some("2024-01-02".into()), None]);
    assert_eq!(t.scalar("SELECT count(*) FROM mixed WHERE n IS NULL OR day IS NULL OR v IS NULL"), "3");
    // An empty text field is still NULL, not an empty string.
    let empty = write_file(t.dir.path(), "empty_text.csv", "name,n\n,NA\nx,2\n");
    t.import(&empty, None).unwrap();
    assert_eq!(t.rows("empty_text")[0], vec![None, None]);
}

#[test]
fn na_first_seen_after_the_sample_is_still_missing() {
    let t = TestWorkspace::new();
    let mut csv = String::from("id,n\n");
    for i in 0..200_000 {
        csv.push_str(&format!("{i},{i}\n"));
    }
    csv.push_str("200000,NA\n");
    let file = write_file(t.dir.path(), "late_na.csv", &csv);
    let r = t.import(&file, None).unwrap();
    assert_eq!(r.rows, 200_001);
    assert_eq!(t.types("late_na")[1].1, "BIGINT");
    assert_eq!(t.scalar("SELECT count(*) FROM late_na WHERE n IS NULL"), "1");
}

#[test]
fn a_layout_set_by_hand_is_used_for_the_preview_and_located_on_import() {
    let t = TestWorkspace::new();
    let mut o = opts();
    o.csv.delimiter = Some(",".into());
    o.csv.quote = Some("\"".into());
    o.csv.header = Some(true);
    let preview = spawn(PreviewJob { path: many_columns(), options: o.clone(), rows: 50, temp_dir: t.dir.path().join("tmp") }, no_waker())
        .wait()
        .unwrap();
    assert_eq!(preview.columns.len(), 4);
    assert_eq!(preview.rows.len(), 50);
    assert_eq!(preview.dialect.map(|d| d.delimiter), Some(",".to_string()));
    let err = t.import_with(&[many_columns()], o).unwrap_err();
    assert_eq!(err.to_string(), "many_columns.csv: line 1096: expected 4 columns but the line has 6");
    match err {
        EngineError::InvalidData { line, .. } => assert_eq!(line, Some(1096)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn previews_of_real_files() {
    let t = TestWorkspace::new();
    for (file, column) in [("realdata/nycflights13/flights.csv.gz", "carrier"), ("realdata/palmerpenguins/penguins.csv", "species")] {
        let preview = spawn(PreviewJob { path: shared().join(file), options: opts(), rows: 50, temp_dir: t.dir.path().join("tmp") }, no_waker())
            .wait()
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(preview.rows.len(), 50, "{file}");
        assert!(preview.columns.iter().any(|(n, _)| n == column), "{file}");
    }
}

#[test]
fn hostile_shapes_get_plain_errors() {
    let t = TestWorkspace::new();
    let long = write_file(t.dir.path(), "long.csv", &format!("a,b\n{},1\n", "x".repeat(10_000_000)));
    let err = t.import(&long, None).unwrap_err();
    assert_eq!(err.to_string(), "long.csv: line 2: the line is 10,000,003 bytes long; a line may be at most 2,000,000 bytes");

    let header: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
    let wide = write_file(t.dir.path(), "wide.csv", &format!("{}\n{}\n", header.join(","), vec!["1"; 100_000].join(",")));
    let started = std::time::Instant::now();
    let err = t.import(&wide, None).unwrap_err();
    assert_eq!(err.to_string(), "wide.csv: line 1: the line has 100,000 fields; dataforge reads at most 16,384 columns");
    println!("a 100,000-column file was refused in {:.2} s", started.elapsed().as_secs_f64());
    assert!(t.all_table_names().is_empty());
}

#[test]
fn a_pipe_is_read_as_a_stream() {
    let t = TestWorkspace::new();
    let fifo = t.dir.path().join("numbers");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(writer_path, "n,sq\n1,1\n2,4\n3,9\n").unwrap());
    let r = t.import(&fifo, None).unwrap();
    writer.join().unwrap();
    assert_eq!((r.table.as_str(), r.rows, r.columns), ("numbers", 3, 2));
    assert_eq!(t.scalar("SELECT sum(sq) FROM numbers"), "14");
}

#[test]
fn a_type_typed_anywhere_cannot_run_sql() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE x AS SELECT 1 AS a").unwrap();
    let hostile = "INTEGER); DROP TABLE x; --";
    let err = SqlType::parse(hostile).unwrap_err();
    assert!(matches!(err, EngineError::InvalidOption(_)), "{err:?}");
    let options = format!(
        "{{\"format\":\"parquet\",\"csv\":{{\"delimiter\":null,\"quote\":null,\"escape\":null,\"header\":null,\"skip\":null,\"comment\":null,\"nulls\":[],\"date_format\":null,\"timestamp_format\":null}},\"encoding\":null,\"sheet\":null,\"name_by_sheet\":false,\"types\":[[\"id\",\"{hostile}\"]],\"on_error\":\"fail\",\"table\":null,\"append\":false,\"add_columns\":false,\"source_column\":true,\"expect\":[]}}"
    );
    assert!(serde_json::from_str::<ImportOptions>(&options).is_err(), "an options file cannot carry it either");
    // The import window validates what is typed under a column the same way.
    let mut draft = dataforge::ui::import_dialog::ImportDraft::new(vec![t.dir.path().join("a.csv")], t.dir.path().to_path_buf());
    draft.set_type("id", hostile);
    assert!(draft.options.types.is_empty());
    assert!(draft.type_error.as_deref().is_some_and(|e| e.contains("is not a column type")), "{:?}", draft.type_error);
    assert_eq!(t.scalar("SELECT count(*) FROM x"), "1");
}

#[test]
fn a_second_import_of_the_same_name_says_what_it_was_named() {
    let t = TestWorkspace::new();
    let file = shared().join("realdata/palmerpenguins/penguins.csv");
    assert!(t.import(&file, None).unwrap().notices.is_empty());
    let r = t.import(&file, None).unwrap();
    assert_eq!(r.table, "penguins_2");
    assert_eq!(r.notices, vec!["a table named \"penguins\" already exists, so this one is named \"penguins_2\"".to_string()]);
}
