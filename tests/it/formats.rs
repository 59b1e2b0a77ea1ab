//! Import of every supported kind of input, with options, fallbacks and rejects.

use std::io::Write as _;

use dataforge::engine::EngineError;
use dataforge::engine::import::{ExpectedColumn, ImportOptions, OnError, split_archives};

use crate::common::{TestWorkspace, shared, write_file};

fn opts() -> ImportOptions {
    ImportOptions::new()
}

#[test]
fn real_files_that_mislead_the_sniffer_import_completely() {
    let t = TestWorkspace::new();
    let bokeh = shared().join("realdata/bokeh_sampledata");
    let r = t.import(bokeh.join("population.csv.gz"), None).unwrap();
    assert_eq!((r.rows, r.columns), (346_332, 7));
    assert!(r.notices.iter().any(|n| n.contains("line 53,384") && n.contains("whole file")), "{:?}", r.notices);
    assert_eq!(t.scalar("SELECT count(*) FROM population WHERE Location = 'China, Taiwan Province of China'"), "1302");

    let r = t.import(bokeh.join("CGM.csv.gz"), None).unwrap();
    assert_eq!((r.rows, r.columns), (52_281, 3));
    assert!(r.notices.iter().any(|n| n.contains("\"isig\"") && n.contains("nil") && n.contains("39,460")), "{:?}", r.notices);
    assert!(r.notices.iter().any(|n| n.contains("lenient")), "{:?}", r.notices);
    assert_eq!(t.types("cgm")[0], ("isig".into(), "VARCHAR".into()));
    assert!(t.scalar("SELECT count(*) FROM cgm WHERE isig = 'nil'").parse::<u64>().unwrap() > 0);
    assert_eq!(t.scalar("SELECT max(glucose) FROM cgm"), "400");
}

fn bad_amounts(t: &TestWorkspace) -> std::path::PathBuf {
    let mut csv = String::from("id,amount\n1,5\n2,x\n");
    for i in 3..30_000 {
        csv.push_str(&format!("{i},{i}\n"));
    }
    csv.push_str("30000,8,9\n30001,10\n");
    write_file(t.dir.path(), "amounts.csv", &csv)
}

#[test]
fn on_error_fail_skip_and_text() {
    let t = TestWorkspace::new();
    let file = bad_amounts(&t);
    let typed = ImportOptions { types: vec![("amount".into(), dataforge::engine::sql::SqlType::parse("BIGINT").unwrap())], ..opts() };

    let err = t.import_with(std::slice::from_ref(&file), typed.clone()).unwrap_err();
    assert_eq!(err.to_string(), "amounts.csv: line 3, column \"amount\": \"x\" is not a valid BIGINT");
    assert!(t.all_table_names().is_empty());

    let skip = ImportOptions { on_error: OnError::Skip, table: Some("kept".into()), ..typed.clone() };
    let r = t.import_with(std::slice::from_ref(&file), skip).unwrap();
    assert_eq!(r.rows, 29_999);
    let rejects = r.rejects.expect("rejects");
    assert_eq!((rejects.table.as_str(), rejects.rows), ("kept_rejects", 2));
    let rows = t.rows("kept_rejects");
    assert_eq!(rows[0][1].as_deref(), Some("3"));
    assert_eq!(rows[0][2].as_deref(), Some("amount"));
    assert_eq!(rows[0][4].as_deref(), Some("2,x"));
    assert_eq!(rows[1][1].as_deref(), Some("30001"));
    assert_eq!(rows[1][4].as_deref(), Some("30000,8,9"));
    assert!(t.ws.tables().unwrap().iter().any(|info| info.name == "kept_rejects"));

    let text = ImportOptions { on_error: OnError::Text, table: Some("texts".into()), ..typed };
    let file = write_file(t.dir.path(), "amounts2.csv", "id,amount\n1,5\n2,x\n3,7\n");
    let r = t.import_with(&[file], text).unwrap();
    assert_eq!(r.rows, 3);
    assert_eq!(r.notices, vec!["column \"amount\" was kept as text: \"x\" at line 3 is not a valid BIGINT".to_string()]);
    assert_eq!(t.types("texts")[1].1, "VARCHAR");
}

#[test]
fn dialect_options_are_honoured() {
    let t = TestWorkspace::new();
    let file = write_file(t.dir.path(), "semi.txt", "exported by tool X\n# generated\n1;NA;01/02/2024\n2;3,5;15/03/2024\n");
    let mut o = opts();
    o.csv.delimiter = Some(";".into());
    o.csv.skip = Some(2);
    o.csv.header = Some(false);
    o.csv.nulls = vec!["NA".into()];
    o.csv.date_format = Some("%d/%m/%Y".into());
    o.table = Some("semi".into());
    let r = t.import_with(&[file], o).unwrap();
    assert_eq!((r.rows, r.columns), (2, 3));
    assert_eq!(t.types("semi")[2].1, "DATE");
    let rows = t.rows("semi");
    assert_eq!(rows[0], vec![Some("1".into()), None, Some("2024-02-01".into())]);
    assert_eq!(rows[1][1].as_deref(), Some("3,5"));

    // CR-only line endings and quoted fields with delimiters, quotes and newlines.
    let file = write_file(t.dir.path(), "cr.csv", "a,b\r1,\"x, \"\"y\"\"\nz\"\r2,w\r");
    let r = t.import(&file, None).unwrap();
    assert_eq!(r.rows, 2);
    assert_eq!(t.rows("cr")[0][1].as_deref(), Some("x, \"y\"\nz"));
}

#[test]
fn encodings_are_detected_and_can_be_overridden() {
    let t = TestWorkspace::new();
    let dir = shared().join("corpora/duckdb-data/data/csv/encodings");
    for (file, table, first) in [
        ("latin1.csv", "latin1", "José Álvarez"),
        ("utf16.csv", "utf16", "José Álvarez"),
        ("latin1.csv.gz", "latin1_2", "José Álvarez"),
        ("shift_jis.csv", "shift_jis", "名前"),
    ] {
        let r = t.import(dir.join(file), None).unwrap();
        assert_eq!(r.table, table);
        assert!(r.encoding.is_some(), "{file}");
        assert_eq!(t.rows(table)[0][0].as_deref(), Some(first), "{file}");
    }
    // A latin-1 file whose first 256 KB are plain ASCII: found at read time, then converted.
    let path = t.dir.path().join("late.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "name,n").unwrap();
    for i in 0..30_000 {
        writeln!(f, "plain{i},{i}").unwrap();
    }
    f.write_all(b"Fran\xe7ois,1\n").unwrap();
    drop(f);
    let r = t.import(&path, None).unwrap();
    assert_eq!(r.rows, 30_001);
    assert_eq!(t.scalar("SELECT name FROM late WHERE name LIKE 'Fran%'"), "François");
    assert!(r.notices.iter().any(|n| n.contains("not UTF-8") && n.contains("30,002")), "{:?}", r.notices);

    // Overriding: the same bytes read as another encoding.
    let o = ImportOptions { encoding: Some("iso-8859-7".into()), table: Some("greek".into()), ..opts() };
    t.import_with(&[dir.join("latin1.csv")], o).unwrap();
    assert_eq!(t.rows("greek")[0][0].as_deref(), Some("Josι Αlvarez"));
    let o = ImportOptions { encoding: Some("utf-8".into()), table: Some("strict".into()), ..opts() };
    let err = t.import_with(&[dir.join("latin1.csv")], o).unwrap_err();
    assert!(matches!(err, EngineError::InvalidEncoding { .. }), "{err:?}");
}

#[test]
fn workbooks_import_typed_and_by_sheet() {
    let t = TestWorkspace::new();
    let tests = shared().join("corpora/calamine/tests");
    let r = t.import(tests.join("date.xlsx"), None).unwrap();
    assert_eq!((r.rows, r.columns), (3, 2));
    assert_eq!(t.types("date")[1], ("B".into(), "BIGINT".into()));
    assert_eq!(r.sheet.as_deref(), Some("Sheet1"));
    for file in ["date.xls", "date.xlsb"] {
        let r = t.import(tests.join(file), None).unwrap();
        assert_eq!((r.rows, r.columns), (3, 2), "{file}");
    }
    let r = t.import(tests.join("date.ods"), None).unwrap();
    assert_eq!(t.types(&r.table)[1], ("B".into(), "BIGINT".into()));
    let sheets = dataforge::engine::import::excel::sheet_names(&tests.join("any_sheets.xlsx")).unwrap();
    assert_eq!(sheets, ["Visible", "Hidden", "VeryHidden", "Chart"]);
    let o = ImportOptions { sheet: Some("Visible".into()), table: Some("visible".into()), ..opts() };
    let r = t.import_with(&[tests.join("any_sheets.xlsx")], o).unwrap();
    assert_eq!((r.rows, r.sheet.as_deref()), (4, Some("Visible")));
    let o = ImportOptions { sheet: Some("Hidden".into()), ..opts() };
    let err = t.import_with(&[tests.join("any_sheets.xlsx")], o).unwrap_err();
    assert_eq!(err.to_string(), "any_sheets.xlsx: sheet \"Hidden\" is empty; there is nothing to import");
    let o = ImportOptions { sheet: Some("nope".into()), ..opts() };
    let err = t.import_with(&[tests.join("any_sheets.xlsx")], o).unwrap_err();
    assert!(err.to_string().contains("there is no sheet \"nope\""), "{err}");
    let err = t.import(tests.join("pass_protected.xlsx"), None).unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
}

#[test]
fn arrow_ipc_files_and_streams() {
    let t = TestWorkspace::new();
    let dir = shared().join("corpora/arrow-testing/data/arrow-ipc-stream/integration/1.0.0-littleendian");
    let r = t.import(dir.join("generated_primitive.arrow_file"), None).unwrap();
    assert_eq!((r.rows, r.columns), (37, 30));
    let r = t.import(dir.join("generated_primitive.stream"), Some("streamed")).unwrap();
    assert_eq!((r.rows, r.columns), (37, 30));
    assert_eq!(
        t.scalar("SELECT count(*) FROM (SELECT * FROM generated_primitive EXCEPT ALL SELECT * FROM streamed)"),
        "0"
    );
}

#[test]
fn zips_globs_many_files_and_append() {
    let t = TestWorkspace::new();
    let zip = shared().join("corpora/frictionless-py/data/table-multiple-files.zip");
    let members = split_archives(std::slice::from_ref(&zip)).unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    let r = t.import(&members[0], None).unwrap();
    assert_eq!(r.rows, 2);
    let r = t.import_with(std::slice::from_ref(&zip), ImportOptions { table: Some("members".into()), ..opts() }).unwrap();
    assert_eq!((r.rows, r.columns), (4, 3));
    assert_eq!(t.scalar("SELECT count(DISTINCT source_file) FROM members"), "2");

    let a = write_file(t.dir.path(), "a.csv", "id,name\n1,x\n2,y\n");
    let b = write_file(t.dir.path(), "b.csv", "name,id,extra\nz,3,true\n");
    let r = t.import_with(&[a.clone(), b.clone()], ImportOptions { table: Some("ab".into()), ..opts() }).unwrap();
    assert_eq!((r.rows, r.columns), (3, 4));
    assert_eq!(t.scalar("SELECT string_agg(name || id, ',' ORDER BY id) FROM ab"), "x1,y2,z3");

    t.import(&a, Some("base")).unwrap();
    let append = ImportOptions { table: Some("base".into()), append: true, ..opts() };
    let err = t.import_with(std::slice::from_ref(&b), append.clone()).unwrap_err();
    assert!(err.to_string().contains("column \"extra\" is not in table \"base\""), "{err}");
    let r = t.import_with(std::slice::from_ref(&b), ImportOptions { add_columns: true, ..append.clone() }).unwrap();
    assert!(r.appended);
    assert_eq!(t.scalar("SELECT count(*) FROM base"), "3");
    let c = write_file(t.dir.path(), "c.csv", "id,name\nfour,w\n");
    let err = t.import_with(&[c], append).unwrap_err();
    assert!(err.to_string().contains("\"four\" cannot be stored"), "{err}");
    assert_eq!(t.scalar("SELECT count(*) FROM base"), "3");

    let parquet = shared().join("corpora/parquet-testing/data");
    let glob = parquet.join("alltypes_plain*.parquet");
    let r = t.import_with(&[glob], ImportOptions { table: Some("globbed".into()), ..opts() }).unwrap();
    // alltypes_plain.parquet (8 rows) and alltypes_plain.snappy.parquet (2 rows).
    assert_eq!(r.rows, 10);
}

#[test]
fn an_expected_schema_is_checked_before_landing() {
    let t = TestWorkspace::new();
    let file = write_file(t.dir.path(), "people.csv", "id,name\n1,ann\n2,\n");
    let expect = |s: &str| ImportOptions { expect: ExpectedColumn::parse_list(s).unwrap(), ..opts() };
    t.import_with(std::slice::from_ref(&file), expect("id:BIGINT,name:VARCHAR")).unwrap();
    let err = t.import_with(std::slice::from_ref(&file), expect("id,name!")).unwrap_err();
    assert_eq!(err.to_string(), "people.csv: column \"name\": 1 rows have no value, but the schema requires one");
    let err = t.import_with(std::slice::from_ref(&file), expect("id:DATE")).unwrap_err();
    assert!(err.to_string().contains("expected type DATE"), "{err}");
    let err = t.import_with(std::slice::from_ref(&file), expect("email")).unwrap_err();
    assert!(err.to_string().contains("\"email\": the expected column is missing"), "{err}");
    assert_eq!(t.ws.tables().unwrap().len(), 1);
}

#[test]
fn a_duckdb_internal_error_leaves_the_workspace_usable() {
    let t = TestWorkspace::new();
    let dir = shared().join("corpora/parquet-testing/shredded_variant");
    for case in ["case-088.parquet", "case-132.parquet"] {
        let err = t.import(dir.join(case), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{case}: DuckDB failed inside while reading it (Calling StructStats::GetChildStats but there are no stats for this index)")
        );
    }
    let r = t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    assert_eq!(r.rows, 344);
    assert_eq!(t.scalar("SELECT count(*) FROM penguins"), "344");
}

#[test]
fn files_open_in_place_as_views() {
    use dataforge::engine::browse::Browser;
    use dataforge::engine::export::{ExportJob, ExportOptions};
    use dataforge::engine::view::{SortKey, Source, View};
    use dataforge::engine::import::linked::LinkJob;
    use dataforge::engine::job::{no_waker, spawn};
    let t = TestWorkspace::new();
    let flights = shared().join("realdata/nycflights13/flights.csv.gz");
    let mut with_na = opts();
    with_na.csv.nulls = vec!["NA".into()];
    let r = spawn(LinkJob::new(t.ws.clone(), &flights, with_na), no_waker()).wait().unwrap();
    assert_eq!((r.table.as_str(), r.rows, r.columns), ("flights", None, 19));
    assert!(t.ws.table("flights").unwrap().is_linked);

    // A text file is estimated first and counted once, then the count is kept.
    let mut browser = Browser::new(&t.ws).unwrap();
    let (columns, estimate, is_exact) = browser.describe_fast(&Source::Table("flights".into())).unwrap();
    assert!(!is_exact);
    assert!((250_000..450_000).contains(&estimate), "{estimate}");
    let (_, rows) = browser.describe(&Source::Table("flights".into())).unwrap();
    assert_eq!((columns.len(), rows), (19, 336_776));
    assert_eq!(browser.describe_fast(&Source::Table("flights".into())).unwrap().1, 336_776);
    assert_eq!(t.ws.table("flights").unwrap().rows, 336_776);
    let page = browser.fetch(&View::table("flights"), 336_770, 10).unwrap();
    assert_eq!(page.rows.len(), 6);
    let sort = SortKey { column: "dep_delay".into(), descending: true };
    let sorted = View { sort: vec![sort.clone()], ..View::table("flights") };
    let top = browser.fetch(&sorted, 0, 1).unwrap();
    assert_eq!(top.rows[0][columns.iter().position(|c| c.name == "dep_delay").unwrap()].as_deref(), Some("1301"));

    let out = t.dir.path().join("flights.parquet");
    let exported = spawn(ExportJob::new(t.ws.clone(), sorted, &out, ExportOptions::default()), no_waker()).wait().unwrap();
    assert_eq!(exported.rows, 336_776);
    let r = spawn(LinkJob::new(t.ws.clone(), &out, ImportOptions { table: Some("fp".into()), ..opts() }), no_waker()).wait().unwrap();
    assert_eq!(r.rows, Some(336_776));
    assert!(t.all_table_names().is_empty(), "views are not tables: {:?}", t.all_table_names());

    let append = ImportOptions { table: Some("flights".into()), append: true, ..opts() };
    let err = t.import_with(std::slice::from_ref(&flights), append).unwrap_err();
    assert_eq!(err.to_string(), "\"flights\" is a file opened in place; import it to append to it");

    dataforge::engine::catalog::drop_table(&t.ws, "flights").unwrap();
    assert!(flights.exists());
    assert_eq!(t.ws.tables().unwrap().len(), 1);
    let err = spawn(LinkJob::new(t.ws.clone(), shared().join("corpora/calamine/tests/date.xlsx"), opts()), no_waker()).wait().unwrap_err();
    assert!(err.to_string().contains("import them instead"), "{err}");

    // Arrow IPC (file and stream) through the workspace's own Arrow reader, equal to an import.
    let dir = shared().join("corpora/arrow-testing/data/arrow-ipc-stream/integration/1.0.0-littleendian");
    for (file, name) in [("generated_primitive.arrow_file", "arrow_view"), ("generated_nested.stream", "stream_view")] {
        let o = ImportOptions { table: Some(name.into()), ..opts() };
        let r = spawn(LinkJob::new(t.ws.clone(), dir.join(file), o), no_waker()).wait().unwrap();
        let imported = t.import(dir.join(file), Some(&format!("{name}_copy"))).unwrap();
        assert_eq!(r.rows, Some(imported.rows));
        let diff = format!("SELECT count(*) FROM (SELECT * FROM {name} EXCEPT ALL SELECT * FROM {name}_copy)");
        assert_eq!(t.scalar(&diff), "0", "{file}");
    }

}
