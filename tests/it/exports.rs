//! Exports in every format, read back by other readers (DuckDB, the arrow and parquet
//! crates, calamine, serde_json): the same values, or the documented conversion.

use std::path::{Path, PathBuf};

use dataforge::engine::EngineError;
use dataforge::engine::export::{Codec, ExportFormat, ExportJob, ExportOptions, ExportReport, LineEnding, Partitioning, Period, TextEncoding};
use dataforge::engine::job::{no_waker, spawn};
use dataforge::engine::view::{Condition, Filter, SortKey, TextMatch, View};
use dataforge::engine::Result;

use crate::common::TestWorkspace;

/// A table holding every type the formats are asked to carry, with NULLs, unicode and extremes.
const EVERY_TYPE: &str = r#"CREATE TABLE every AS SELECT * FROM (VALUES
 (1, 'plain', true, 9223372036854775807::BIGINT, 99999999999999999999999999999999999999::HUGEINT,
  12345678901234567890123456789.123456789::DECIMAL(38,9), DATE '2024-02-29', TIMESTAMP '2024-02-29 13:14:15.123456',
  TIMESTAMPTZ '2024-02-29 13:14:15.5+00', TIME '13:14:15', INTERVAL '1 year 2 months 3 days 04:05:06', '\xDE\xAD'::BLOB,
  [1, 2, 3], {'a': 1, 'b': 'x'}, 'a3bb189e-8bf9-3888-9912-ace4e6543002'::UUID, 1.5::DOUBLE),
 (2, 'ünïcödé "quoted", comma; 日本
second line', false, -9223372036854775808, -99999999999999999999999999999999999999,
  -0.000000001, DATE '1899-12-31', TIMESTAMP '1969-07-20 20:17:40', TIMESTAMPTZ '1999-12-31 23:59:59+00', TIME '00:00:00',
  INTERVAL '5 minutes', ''::BLOB, []::INTEGER[], {'a': NULL, 'b': NULL}, '00000000-0000-0000-0000-000000000000'::UUID,
  'NaN'::DOUBLE),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(id, txt, flag, big, huge, dec, d, ts, tstz, tm, iv, bl, lst, st, uid, dbl)"#;

fn every_type() -> TestWorkspace {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch(EVERY_TYPE).unwrap();
    t
}

fn export(t: &TestWorkspace, view: View, path: &Path, options: ExportOptions) -> Result<ExportReport> {
    spawn(ExportJob::new(t.ws.clone(), view, path, options), no_waker()).wait()
}

/// Every value of a query as DuckDB writes it as text, row by row.
fn text_rows(t: &TestWorkspace, sql: &str) -> Vec<Vec<Option<String>>> {
    let conn = t.ws.connect().unwrap();
    let mut stmt = conn.prepare(&format!("SELECT COLUMNS(*)::VARCHAR FROM ({sql})")).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let n = rows.as_ref().unwrap().column_count();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push((0..n).map(|i| row.get::<_, Option<String>>(i).unwrap()).collect());
    }
    out
}

fn every_types(t: &TestWorkspace) -> Vec<(String, String)> {
    t.types("every")
}

/// `read_csv` of an export, cast back to the table's types.
/// (`allow_quoted_nulls = false`: a quoted "" is the empty text, as the writer meant it.)
fn csv_read_back(t: &TestWorkspace, path: &Path, extra: &str) -> Vec<Vec<Option<String>>> {
    let casts: Vec<String> = every_types(t).iter().map(|(c, ty)| format!("TRY_CAST(\"{c}\" AS {ty}) AS \"{c}\"")).collect();
    text_rows(t, &format!("SELECT {} FROM read_csv('{}', all_varchar = true, allow_quoted_nulls = false{extra}) ORDER BY id::INT", casts.join(", "), path.display()))
}

#[test]
fn parquet_keeps_every_type() {
    let t = every_type();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("every.parquet");
    let report = export(&t, View::table("every"), &out, ExportOptions::default()).unwrap();
    assert_eq!((report.rows, report.format, report.compression, report.files), (3, ExportFormat::Parquet, Codec::Zstd, 1));
    let original = text_rows(&t, "SELECT * FROM every ORDER BY id");
    let back = text_rows(&t, &format!("SELECT * FROM read_parquet('{}') ORDER BY id", out.display()));
    assert_eq!(back, original);
    // The parquet crate reads it too: HUGEINT as DECIMAL(38,0), UUID with its logical type.
    let file = std::fs::File::open(&out).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader as _;
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 3);
    let schema = meta.file_metadata().schema_descr();
    let huge = schema.columns().iter().find(|c| c.name() == "huge").unwrap();
    assert_eq!((huge.type_precision(), huge.type_scale()), (38, 0));
    let codec = meta.row_group(0).column(0).compression();
    assert!(matches!(codec, parquet::basic::Compression::ZSTD(_)), "{codec:?}");

    // Other codecs, a level and a row group size.
    for codec in [Codec::Snappy, Codec::Gzip, Codec::Lz4, Codec::Brotli, Codec::None] {
        let out = dir.path().join(format!("every-{}.parquet", codec.name()));
        export(&t, View::table("every"), &out, ExportOptions { compression: Some(codec), ..Default::default() }).unwrap();
        assert_eq!(text_rows(&t, &format!("SELECT * FROM read_parquet('{}') ORDER BY id", out.display())), original, "{codec:?}");
    }
    let big = dir.path().join("groups.parquet");
    t.ws.connect().unwrap().execute_batch("CREATE TABLE nums AS SELECT range AS n FROM range(10000)").unwrap();
    // DuckDB rounds row groups up to whole vectors of 2,048 rows.
    let options = ExportOptions { level: Some(19), row_group_size: Some(2048), ..Default::default() };
    export(&t, View::table("nums"), &big, options).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&big).unwrap()).unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 5);
    // A level for a codec without levels is refused before anything is written.
    let err = export(&t, View::table("nums"), &dir.path().join("x.parquet"), ExportOptions { level: Some(3), compression: Some(Codec::Snappy), ..Default::default() })
        .unwrap_err();
    assert!(err.is_usage(), "{err}");
}

#[test]
fn csv_round_trips_and_speaks_every_encoding() {
    let t = every_type();
    let dir = tempfile::tempdir().unwrap();
    let original = text_rows(&t, "SELECT * FROM every ORDER BY id");
    let plain = dir.path().join("every.csv");
    export(&t, View::table("every"), &plain, ExportOptions::default()).unwrap();
    // NaN reads back as nan, the same DOUBLE; everything else is identical text.
    assert_eq!(csv_read_back(&t, &plain, ""), original);
    let utf8 = std::fs::read(&plain).unwrap();

    // Compressed by the name; the same bytes once decompressed.
    let gz = dir.path().join("every.csv.gz");
    export(&t, View::table("every"), &gz, ExportOptions::default()).unwrap();
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap()), &mut unpacked).unwrap();
    assert_eq!(unpacked, utf8);
    let zst = dir.path().join("every.csv.zst");
    export(&t, View::table("every"), &zst, ExportOptions::default()).unwrap();
    assert_eq!(zstd::decode_all(std::fs::File::open(&zst).unwrap()).unwrap(), utf8);

    // UTF-8 with a BOM, UTF-16LE: the same text.
    for (encoding, codec, bom) in [(TextEncoding::Utf8Bom, None, &b"\xEF\xBB\xBF"[..]), (TextEncoding::Utf16Le, None, b"\xFF\xFE"), (TextEncoding::Utf16Le, Some(Codec::Gzip), b"\xFF\xFE")] {
        let out = dir.path().join(format!("every-{encoding:?}-{codec:?}.csv"));
        let mut options = ExportOptions { compression: codec, ..Default::default() };
        options.csv.encoding = encoding;
        export(&t, View::table("every"), &out, options).unwrap();
        let mut bytes = std::fs::read(&out).unwrap();
        if codec.is_some() {
            let mut unpacked = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut unpacked).unwrap();
            bytes = unpacked;
        }
        assert!(bytes.starts_with(bom), "{encoding:?}");
        let text = match encoding {
            TextEncoding::Utf16Le => encoding_rs::UTF_16LE.decode_without_bom_handling(&bytes[2..]).0.into_owned(),
            _ => String::from_utf8(bytes[3..].to_vec()).unwrap(),
        };
        assert_eq!(text.as_bytes(), &utf8[..], "{encoding:?}");
    }

    // Windows-1252 has no 日本: the export stops at the line that holds it, and leaves nothing.
    let cp = dir.path().join("every-1252.csv");
    let mut options = ExportOptions::default();
    options.csv.encoding = TextEncoding::Windows1252;
    let err = export(&t, View::table("every"), &cp, options.clone()).unwrap_err();
    assert!(matches!(&err, EngineError::InvalidData { line: Some(3), .. }), "{err:?}");
    assert!(err.to_string().contains("U+65E5") && err.to_string().contains("every-1252.csv"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("1252")).count(), 0);
    // Text it can carry is written in the code page: é is one byte, 0xE9.
    let latin = View { columns: Some(vec!["id".into(), "txt".into()]), filters: vec![Filter { column: "id".into(), condition: Condition::Range { min: None, max: Some("1".into()) } }], ..View::table("every") };
    t.ws.connect().unwrap().execute_batch("UPDATE every SET txt = 'café €5' WHERE id = 1").unwrap();
    export(&t, latin, &cp, options).unwrap();
    assert_eq!(std::fs::read(&cp).unwrap(), b"id,txt\n1,caf\xE9 \x805\n");

    // Delimiter, quote, no header, NULL text, CRLF, TSV.
    let tsv = dir.path().join("two.tsv");
    let mut options = ExportOptions::default();
    options.csv.header = false;
    options.csv.null_text = "NA".into();
    options.csv.line_ending = LineEnding::CrLf;
    let two = View { columns: Some(vec!["id".into(), "flag".into()]), sort: vec![SortKey { column: "id".into(), descending: true }], ..View::table("every") };
    export(&t, two.clone(), &tsv, options).unwrap();
    assert_eq!(std::fs::read_to_string(&tsv).unwrap(), "3\tNA\r\n2\tfalse\r\n1\ttrue\r\n");
    let semi = dir.path().join("two.csv");
    let mut options = ExportOptions::default();
    options.csv.delimiter = Some(';');
    options.csv.quote = '\'';
    let with_text = View { columns: Some(vec!["id".into(), "txt".into()]), ..two };
    t.ws.connect().unwrap().execute_batch("UPDATE every SET txt = 'it''s; here' WHERE id = 1").unwrap();
    export(&t, with_text, &semi, options).unwrap();
    let text = std::fs::read_to_string(&semi).unwrap();
    assert!(text.starts_with("id;txt\n3;\n2;") && text.ends_with("1;'it''s; here'\n"), "{text}");
}

#[test]
fn json_and_ndjson_are_valid_json() {
    let t = every_type();
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("every.ndjson");
    export(&t, View::table("every"), &ndjson, ExportOptions::default()).unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&ndjson).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["big"], serde_json::json!(9223372036854775807i64));
    assert_eq!(lines[1]["txt"], "ünïcödé \"quoted\", comma; 日本\nsecond line");
    assert_eq!(lines[0]["lst"], serde_json::json!([1, 2, 3]));
    assert_eq!(lines[0]["st"], serde_json::json!({"a": 1, "b": "x"}));
    assert_eq!(lines[0]["ts"], "2024-02-29 13:14:15.123456");
    // JSON has no NaN: it is written as null.
    assert_eq!(lines[1]["dbl"], serde_json::Value::Null);
    assert!(lines[2].as_object().unwrap().iter().filter(|(k, _)| *k != "id").all(|(_, v)| v.is_null()));
    // A HUGEINT keeps all its digits in the text.
    assert!(std::fs::read_to_string(&ndjson).unwrap().contains("\"huge\":99999999999999999999999999999999999999"));

    let json = dir.path().join("every.json");
    export(&t, View::table("every"), &json, ExportOptions::default()).unwrap();
    let array: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(array.as_array().unwrap().len(), 3);
    assert_eq!(array[1], lines[1]);
    // DuckDB reads it back with the table's types: the same values (NaN aside; its JSON reader
    // takes numbers as doubles and BLOB text as raw bytes, so those two are checked as text).
    let types: Vec<String> = every_types(&t).iter().map(|(c, ty)| format!("'{c}': '{ty}'")).collect();
    let cols = "id, txt, flag, big, huge, d, ts, tstz, tm, iv, lst, st, uid, dbl";
    let back = text_rows(&t, &format!("SELECT {cols} FROM read_json('{}', columns = {{{}}}) WHERE id <> 2 ORDER BY id", json.display(), types.join(", ")));
    assert_eq!(back, text_rows(&t, &format!("SELECT {cols} FROM every WHERE id <> 2 ORDER BY id")));
    let raw = std::fs::read_to_string(&json).unwrap();
    assert!(raw.contains("\"dec\":12345678901234567890123456789.123456789") && raw.contains(r#""bl":"\\xDE\\xAD""#), "{raw}");
}

fn read_arrow_batches(path: &Path, stream: bool) -> Vec<arrow::record_batch::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    if stream {
        arrow::ipc::reader::StreamReader::try_new(file, None).unwrap().map(|b| b.unwrap()).collect()
    } else {
        arrow::ipc::reader::FileReader::try_new(file, None).unwrap().map(|b| b.unwrap()).collect()
    }
}

fn duckdb_batches(t: &TestWorkspace, sql: &str) -> Vec<arrow::record_batch::RecordBatch> {
    let conn = t.ws.connect().unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_arrow([]).unwrap().collect()
}

fn concat(batches: &[arrow::record_batch::RecordBatch]) -> arrow::record_batch::RecordBatch {
    arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
}

#[test]
fn arrow_files_and_streams_hold_duckdbs_own_batches() {
    let t = every_type();
    let dir = tempfile::tempdir().unwrap();
    let expected = concat(&duckdb_batches(&t, "SELECT * FROM every"));
    for (name, stream, codec) in [("e.arrow", false, None), ("e.arrows", true, None), ("z.arrow", false, Some(Codec::Zstd)), ("l.arrows", true, Some(Codec::Lz4))] {
        let out = dir.path().join(name);
        let report = export(&t, View::table("every"), &out, ExportOptions { compression: codec, ..Default::default() }).unwrap();
        assert_eq!(report.rows, 3);
        assert_eq!(report.format, if stream { ExportFormat::ArrowStream } else { ExportFormat::Arrow });
        let back = concat(&read_arrow_batches(&out, stream));
        assert_eq!(back.schema().fields(), expected.schema().fields(), "{name}");
        assert_eq!(back.columns(), expected.columns(), "{name}");
    }
    // The file imports again (through dataforge's own Arrow reader) to the same values.
    let report = t.import(dir.path().join("e.arrow"), Some("again")).unwrap();
    assert_eq!(report.rows, 3);
    let cols = "id, txt, flag, big, huge, dec, d, ts, tstz, tm, iv, bl, lst, st, uid, dbl";
    assert_eq!(text_rows(&t, &format!("SELECT {cols} FROM again ORDER BY id")), text_rows(&t, &format!("SELECT {cols} FROM every ORDER BY id")));
}

#[test]
fn an_arrow_stream_goes_to_standard_output() {
    let t = every_type();
    let ws = t.path();
    let TestWorkspace { dir: _dir, ws: workspace } = t;
    drop(workspace);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(["--workspace", ws.to_str().unwrap(), "export", "every", "-", "--format", "arrow-stream", "--where", "id < 3", "--columns", "id,txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reader = arrow::ipc::reader::StreamReader::try_new(&out.stdout[..], None).unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let all = concat(&batches);
    assert_eq!((all.num_rows(), all.num_columns()), (2, 2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 rows"), "the summary goes to stderr");
}

#[test]
fn excel_cells_are_typed_and_conversions_documented() {
    use calamine::{Data, DataType as _, Reader, Xlsx, open_workbook};
    let t = every_type();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("every.xlsx");
    let report = export(&t, View::table("every"), &out, ExportOptions::default()).unwrap();
    assert_eq!((report.rows, report.sheets), (3, 1));
    let notes = report.notes.join("\n");
    assert!(notes.contains("too precise") && notes.contains("written as text: iv, bl, lst, st, uid") && notes.contains("UTC: tstz"), "{notes}");
    let mut book: Xlsx<_> = open_workbook(&out).unwrap();
    assert_eq!(book.sheet_names(), ["every"]);
    let range = book.worksheet_range("every").unwrap();
    let row = |r: usize| -> Vec<Data> { range.rows().nth(r).unwrap().to_vec() };
    assert_eq!(row(0).iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["id", "txt", "flag", "big", "huge", "dec", "d", "ts", "tstz", "tm", "iv", "bl", "lst", "st", "uid", "dbl"]);
    let first = row(1);
    assert_eq!(first[0], Data::Float(1.0));
    assert_eq!(first[1], Data::String("plain".into()));
    assert_eq!(first[2], Data::Bool(true));
    // Beyond 2^53 and beyond 15 digits: exact text.
    assert_eq!(first[3], Data::String("9223372036854775807".into()));
    assert_eq!(first[4], Data::String("99999999999999999999999999999999999999".into()));
    assert_eq!(first[5], Data::String("12345678901234567890123456789.123456789".into()));
    let date = |d: &Data| d.as_datetime().map(|t| t.to_string());
    assert_eq!(date(&first[6]), Some("2024-02-29 00:00:00".into()));
    assert_eq!(date(&first[7]).as_deref().map(|s| &s[..19]), Some("2024-02-29 13:14:15"));
    assert_eq!(date(&first[8]).as_deref().map(|s| &s[..19]), Some("2024-02-29 13:14:15"));
    assert_eq!(first[10], Data::String("1 year 2 months 3 days 04:05:06".into()));
    assert_eq!(first[12], Data::String("[1, 2, 3]".into()));
    assert_eq!(first[14], Data::String("a3bb189e-8bf9-3888-9912-ace4e6543002".into()));
    assert_eq!(first[15], Data::Float(1.5));
    let second = row(2);
    assert_eq!(second[1], Data::String("ünïcödé \"quoted\", comma; 日本\nsecond line".into()));
    assert_eq!(second[5], Data::Float(-0.000000001));
    // Before Excel's calendar: ISO text.
    assert_eq!(second[6], Data::String("1899-12-31".into()));
    assert_eq!(second[15], Data::String("NaN".into()));
    assert!(row(3)[1..].iter().all(|c| *c == Data::Empty), "NULL is an empty cell");
}

#[test]
fn excel_rows_continue_on_further_sheets() {
    use calamine::{Reader, Xlsx, open_workbook};
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE many AS SELECT range AS n FROM range(1100000)").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("many.xlsx");
    let report = export(&t, View::table("many"), &out, ExportOptions::default()).unwrap();
    assert_eq!((report.rows, report.sheets), (1_100_000, 2));
    assert!(report.notes[0].contains("continue on 2 sheets"), "{:?}", report.notes);
    let mut book: Xlsx<_> = open_workbook(&out).unwrap();
    assert_eq!(book.sheet_names(), ["many", "many (2)"]);
    let second = book.worksheet_range("many (2)").unwrap();
    assert_eq!(second.height(), 1 + 1_100_000 - 1_048_575);
    assert_eq!(second.rows().nth(1).unwrap()[0], calamine::Data::Float(1_048_575.0));
}

#[test]
fn exported_rows_are_the_views_rows_in_its_order() {
    let t = TestWorkspace::new();
    t.import(crate::common::shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let view = View {
        filters: vec![
            Filter { column: "island".into(), condition: Condition::OneOf { values: vec!["Biscoe".into(), "Dream".into()], include_null: false } },
            Filter { column: "sex".into(), condition: Condition::IsNotNull },
            Filter { column: "bill_length_mm".into(), condition: Condition::Range { min: Some("40".into()), max: Some("50.5".into()) } },
            Filter { column: "species".into(), condition: Condition::Text { how: TextMatch::StartsWith, value: "ad".into(), case_sensitive: false } },
        ],
        sort: vec![SortKey { column: "body_mass_g".into(), descending: true }, SortKey::ascending("bill_length_mm")],
        columns: Some(vec!["body_mass_g".into(), "island".into(), "bill_length_mm".into()]),
        ..View::table("penguins")
    };
    let expected = text_rows(
        &t,
        "SELECT body_mass_g, island, bill_length_mm FROM penguins WHERE island IN ('Biscoe', 'Dream') AND sex IS NOT NULL
         AND bill_length_mm BETWEEN 40 AND 50.5 AND species ILIKE 'ad%' ORDER BY body_mass_g DESC NULLS LAST, bill_length_mm, rowid",
    );
    assert!(expected.len() > 20);
    for name in ["v.parquet", "v.csv", "v.ndjson", "v.arrow"] {
        let out = dir.path().join(name);
        let report = export(&t, view.clone(), &out, ExportOptions::default()).unwrap();
        assert_eq!(report.rows, expected.len() as u64, "{name}");
        let reader = match name {
            "v.parquet" => format!("read_parquet('{}')", out.display()),
            "v.csv" => format!("read_csv('{}')", out.display()),
            "v.ndjson" => format!("read_json('{}')", out.display()),
            _ => continue,
        };
        // Files are read in order (no ORDER BY): the order is the file's own.
        let back = text_rows(&t, &format!("SELECT * FROM {reader}"));
        assert_eq!(back, expected, "{name}");
    }
    let back = concat(&read_arrow_batches(&dir.path().join("v.arrow"), false));
    assert_eq!(back.num_rows(), expected.len());
}

#[test]
fn nothing_is_overwritten_without_asking_and_a_cancel_leaves_nothing() {
    let t = every_type();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kept.csv");
    std::fs::write(&out, "precious").unwrap();
    for format in ExportFormat::ALL {
        if format == ExportFormat::ArrowStream {
            continue;
        }
        let options = ExportOptions { format: Some(format), ..Default::default() };
        let err = export(&t, View::table("every"), &out, options).unwrap_err();
        assert!(matches!(err, EngineError::OutputExists(_)), "{format:?}: {err:?}");
    }
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    export(&t, View::table("every"), &out, ExportOptions { overwrite: true, ..Default::default() }).unwrap();
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("id,txt"));
    // The CLI says so and exits 1; --force replaces.
    let ws = t.path();
    let TestWorkspace { dir: _dir, ws: workspace } = t;
    drop(workspace);
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dataforge"))
            .args(["--workspace", ws.to_str().unwrap(), "export", "every", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already exists; choose another name or replace it (--force)"));
    assert_eq!(run(&["--force"]).status.code(), Some(0));
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { stack.push(p) } else { out.push(p.strip_prefix(dir).unwrap().to_path_buf()) }
        }
    }
    out.sort();
    out
}

#[test]
fn partitioned_parquet_lands_whole_and_rebalances() {
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch("CREATE TABLE sales AS SELECT range AS id, ['north', 'south', 'east'][range % 3 + 1] AS region, TIMESTAMP '2023-11-15' + INTERVAL (range * 3) MINUTE AS sold_at, range * 1.5 AS amount, md5(range::VARCHAR) AS note FROM range(100000)")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sales");
    let by_region = ExportOptions { partitioning: Partitioning::Columns(vec!["region".into()]), ..Default::default() };
    let report = export(&t, View::table("sales"), &out, by_region.clone()).unwrap();
    assert_eq!((report.rows, report.files), (100_000, 3));
    let files = files_under(&out);
    assert_eq!(files.iter().map(|f| f.parent().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>(), ["region=east", "region=north", "region=south"]);
    let back = t.scalar(&format!("SELECT count(*) || ' ' || count(DISTINCT region) || ' ' || sum(amount) FROM read_parquet('{}/**/*.parquet', hive_partitioning = true)", out.display()));
    assert_eq!(back, format!("100000 3 {}", t.scalar("SELECT sum(amount) FROM sales")));
    // The folder exists now: replacing it needs asking.
    assert!(matches!(export(&t, View::table("sales"), &out, by_region).unwrap_err(), EngineError::OutputExists(_)));

    // Rebalanced by month, with small files: the old folder is replaced whole.
    let by_month = ExportOptions {
        partitioning: Partitioning::Period { column: "sold_at".into(), period: Period::Month },
        file_size_bytes: Some(64 << 10),
        overwrite: true,
        ..Default::default()
    };
    let report = export(&t, View::table("sales"), &out, by_month).unwrap();
    let files = files_under(&out);
    assert!(files.iter().all(|f| f.to_string_lossy().starts_with("year=")), "{files:?}");
    assert!(files.iter().any(|f| f.starts_with("year=2024/month=3")), "{files:?}");
    assert!(report.files > 8, "small target files split the 8 months: {}", report.files);
    let back = t.scalar(&format!("SELECT count(*) FROM read_parquet('{}/**/*.parquet', hive_partitioning = true) WHERE year = 2024 AND month = 1", out.display()));
    assert_eq!(back, t.scalar("SELECT count(*) FROM sales WHERE sold_at >= '2024-01-01' AND sold_at < '2024-02-01'"));
    // Nothing but the target in the folder: no temporary folder left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // A period needs a date.
    let bad = ExportOptions { partitioning: Partitioning::Period { column: "region".into(), period: Period::Year }, overwrite: true, ..Default::default() };
    assert!(export(&t, View::table("sales"), &out, bad).unwrap_err().is_usage());
}

#[test]
fn a_cancelled_export_leaves_nothing_in_any_format() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE big AS SELECT range AS id, md5(range::VARCHAR) AS h, range % 7 AS k FROM range(6000000)").unwrap();
    for (name, options) in [
        ("c.xlsx", ExportOptions::default()),
        ("c.arrow", ExportOptions::default()),
        ("part", ExportOptions { partitioning: Partitioning::Columns(vec!["k".into()]), ..Default::default() }),
        ("c.csv", { let mut o = ExportOptions::default(); o.csv.encoding = TextEncoding::Utf16Le; o }),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(name);
        let view = View { sort: vec![SortKey { column: "h".into(), descending: true }], ..View::table("big") };
        let handle = spawn(ExportJob::new(t.ws.clone(), view, &out, options), no_waker());
        std::thread::sleep(std::time::Duration::from_millis(300));
        handle.cancel();
        let result = handle.wait();
        assert!(matches!(result, Err(EngineError::Cancelled)), "{name}: {result:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{name}: left something");
    }
}

#[test]
fn a_file_never_replaces_a_folder() {
    let t = every_type();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("keep");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("precious.txt"), "x").unwrap();
    let options = ExportOptions { format: Some(ExportFormat::Parquet), overwrite: true, ..Default::default() };
    let err = export(&t, View::table("every"), &folder, options).unwrap_err();
    assert!(err.to_string().contains("is a folder"), "{err}");
    assert!(folder.join("precious.txt").exists());
}

#[test]
fn json_reports_stay_off_a_stream_on_standard_output() {
    let t = every_type();
    let ws = t.path();
    let TestWorkspace { dir: _dir, ws: workspace } = t;
    drop(workspace);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(["--workspace", ws.to_str().unwrap(), "--json", "export", "every", "-", "--format", "arrow-stream"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let batches: Vec<_> = arrow::ipc::reader::StreamReader::try_new(&out.stdout[..], None).unwrap().map(|b| b.unwrap()).collect();
    assert_eq!(concat(&batches).num_rows(), 3);
    let report: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stderr).lines().last().unwrap()).unwrap();
    assert_eq!(report["report"]["rows"], 3);
}
