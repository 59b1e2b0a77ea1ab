//! Excel workbooks, written in rust_xlsxwriter's constant-memory mode: one row in memory at
//! a time, rows streamed from DuckDB as Arrow batches. Cells are typed: numbers, booleans,
//! dates, times and timestamps (as Excel date numbers with a date format), text. A bold
//! header row is frozen and carries an autofilter. Past Excel's 1,048,576 rows per sheet the
//! rows continue on further sheets.
//!
//! What Excel cannot hold is converted, and the report says how often:
//! - whole numbers beyond ±2^53 and decimals of more than 15 digits are written as text,
//!   exactly, since Excel numbers are doubles;
//! - NaN and infinity are written as the text `NaN`, `inf`, `-inf`;
//! - dates before 1900-03-01 or after 9999-12-31 are written as ISO text;
//! - timestamps with time zone are written in UTC;
//! - text longer than 32,767 characters is cut to that length;
//! - intervals, lists, structs, maps, UUIDs and blobs are written as DuckDB's text for them.

use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, TimeUnit};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::Written;
use crate::engine::error::{EngineError, Result};
use crate::engine::job::JobCtx;
use crate::engine::sql::quote_ident;
use crate::engine::view::CompiledView;
use crate::engine::workspace::{ColumnInfo, WsConnection};

/// Rows per sheet, the header included.
pub const SHEET_ROWS: u32 = 1_048_576;
const MAX_COLUMNS: usize = 16_384;
const MAX_TEXT: usize = 32_767;
/// Excel's day 61 is 1900-03-01; its calendar wrongly has 1900-02-29 before that.
const FIRST_SERIAL: f64 = 61.0;
const LAST_SERIAL: f64 = 2_958_466.0;
/// Days from Excel's day 0 (1899-12-30) to 1970-01-01.
const UNIX_EPOCH_SERIAL: f64 = 25_569.0;
const MAX_EXACT_INTEGER: i128 = 1 << 53;

/// A writer that keeps the first error and ignores what comes after it: the zip writer tries
/// to finish the archive again when it is dropped, and would print that second failure.
struct FirstError<W: std::io::Write> {
    file: W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> std::io::Write for FirstError<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.error.is_some() {
            return Ok(buf.len());
        }
        self.file.write(buf).map_err(|e| {
            let kept = std::io::Error::new(e.kind(), e.to_string());
            self.error = Some(e);
            kept
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.error.is_some() {
            return Ok(());
        }
        self.file.flush().map_err(|e| {
            let kept = std::io::Error::new(e.kind(), e.to_string());
            self.error = Some(e);
            kept
        })
    }
}

fn xlsx_error(e: XlsxError) -> EngineError {
    match e {
        XlsxError::IoError(io) => EngineError::io("workbook", io),
        other => EngineError::Database(format!("writing the workbook: {other}")),
    }
}

/// Types written as they are; everything else is cast to text by DuckDB first.
fn is_native(data_type: &str) -> bool {
    let t = data_type.to_ascii_uppercase();
    matches!(
        t.as_str(),
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "HUGEINT" | "UTINYINT" | "USMALLINT" | "UINTEGER" | "UBIGINT"
            | "UHUGEINT" | "FLOAT" | "DOUBLE" | "DATE" | "TIME" | "VARCHAR"
    ) || t.starts_with("DECIMAL")
        || t.starts_with("TIMESTAMP")
}

fn select_list(columns: &[ColumnInfo]) -> String {
    columns
        .iter()
        .map(|c| {
            let name = quote_ident(&c.name);
            if is_native(&c.data_type) { name } else { format!("CAST({name} AS VARCHAR) AS {name}") }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How often each conversion happened.
#[derive(Default)]
struct Conversions {
    big_numbers: u64,
    not_finite: u64,
    out_of_range_dates: u64,
    cut_text: u64,
    utc_columns: Vec<String>,
    text_columns: Vec<String>,
}

impl Conversions {
    fn notes(&self, sheets: u64, rows: u64) -> Vec<String> {
        let mut notes = Vec::new();
        if sheets > 1 {
            notes.push(format!(
                "{} rows do not fit one sheet (Excel holds {} rows): they continue on {sheets} sheets",
                crate::engine::config::group_digits(rows),
                crate::engine::config::group_digits(u64::from(SHEET_ROWS - 1))
            ));
        }
        let count = |n: u64, what: &str| (n > 0).then(|| format!("{} {what}", crate::engine::config::group_digits(n)));
        notes.extend(count(self.big_numbers, "numbers too precise for Excel were written as text"));
        notes.extend(count(self.not_finite, "NaN or infinite values were written as text"));
        notes.extend(count(self.out_of_range_dates, "dates outside Excel's calendar (1900-03-01 to 9999-12-31) were written as text"));
        notes.extend(count(self.cut_text, "texts longer than 32,767 characters were cut to Excel's limit"));
        if !self.utc_columns.is_empty() {
            notes.push(format!("timestamps with time zone are in UTC: {}", self.utc_columns.join(", ")));
        }
        if !self.text_columns.is_empty() {
            notes.push(format!("written as text: {}", self.text_columns.join(", ")));
        }
        notes
    }
}

struct Formats {
    header: Format,
    date: Format,
    time: Format,
    timestamp: Format,
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(base: &str, index: u64) -> String {
    let clean: String = base.chars().map(|c| if "[]:*?/\\".contains(c) { '_' } else { c }).collect();
    let clean = clean.trim_matches('\'').to_string();
    let clean = if clean.is_empty() { "Sheet".to_string() } else { clean };
    let suffix = if index == 0 { String::new() } else { format!(" ({})", index + 1) };
    let room = 31 - suffix.chars().count();
    format!("{}{suffix}", clean.chars().take(room).collect::<String>())
}

fn column_width(column: &ColumnInfo) -> f64 {
    let t = column.data_type.to_ascii_uppercase();
    let by_type: f64 = if t.starts_with("TIMESTAMP") {
        20.0
    } else if t == "DATE" {
        11.0
    } else {
        10.0
    };
    by_type.max(column.name.chars().count() as f64 + 3.0).min(60.0)
}

fn start_sheet<'a>(workbook: &'a mut Workbook, name: &str, columns: &[ColumnInfo], f: &Formats) -> Result<&'a mut Worksheet> {
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(xlsx_error)?;
    sheet.set_name(name).map_err(xlsx_error)?;
    for (i, column) in columns.iter().enumerate() {
        sheet.set_column_width(i as u16, column_width(column)).map_err(xlsx_error)?;
        sheet.write_string_with_format(0, i as u16, &column.name, &f.header).map_err(xlsx_error)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
    Ok(sheet)
}

fn end_sheet(sheet: &mut Worksheet, last_row: u32, columns: usize) -> Result<()> {
    if columns > 0 {
        sheet.autofilter(0, 0, last_row, (columns - 1) as u16).map_err(xlsx_error)?;
    }
    Ok(())
}

pub(super) fn write(conn: &WsConnection, compiled: &CompiledView, title: &str, partial: &Path, temp_dir: &Path, ctx: &JobCtx) -> Result<Written> {
    let columns = &compiled.columns;
    if columns.len() > MAX_COLUMNS {
        return Err(EngineError::InvalidOption(format!(
            "an Excel sheet holds at most {MAX_COLUMNS} columns; this view has {}: choose fewer columns",
            columns.len()
        )));
    }
    let mut conversions = Conversions::default();
    for c in columns {
        let t = c.data_type.to_ascii_uppercase();
        if t.contains("WITH TIME ZONE") || t == "TIMESTAMPTZ" {
            conversions.utc_columns.push(c.name.clone());
        } else if !is_native(&c.data_type) {
            conversions.text_columns.push(c.name.clone());
        }
    }
    let formats = Formats {
        header: Format::new().set_bold(),
        date: Format::new().set_num_format("yyyy-mm-dd"),
        time: Format::new().set_num_format("hh:mm:ss"),
        timestamp: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
    };
    let mut workbook = Workbook::new();
    std::fs::create_dir_all(temp_dir).map_err(|e| EngineError::io(temp_dir, e))?;
    workbook.set_tempdir(temp_dir).map_err(xlsx_error)?;
    let base = title;

    let mut stmt = conn.prepare(&compiled.select_columns(&select_list(columns)))?;
    let stream = stmt.stream_arrow(compiled.params())?;
    let mut sheets = 1u64;
    let mut rows = 0u64;
    let mut row_in_sheet = 0u32;
    {
        let mut sheet = start_sheet(&mut workbook, &sheet_name(base, 0), columns, &formats)?;
        for batch in stream {
            ctx.checkpoint()?;
            let batch = batch?;
            let arrays: Vec<ArrayRef> = batch.columns().to_vec();
            for i in 0..batch.num_rows() {
                if row_in_sheet + 1 == SHEET_ROWS {
                    end_sheet(sheet, row_in_sheet, columns.len())?;
                    sheet = start_sheet(&mut workbook, &sheet_name(base, sheets), columns, &formats)?;
                    sheets += 1;
                    row_in_sheet = 0;
                }
                row_in_sheet += 1;
                for (c, array) in arrays.iter().enumerate() {
                    write_cell(sheet, row_in_sheet, c as u16, array, i, &formats, &mut conversions)?;
                }
            }
            rows += batch.num_rows() as u64;
            ctx.progress(0, rows);
        }
        end_sheet(sheet, row_in_sheet, columns.len())?;
    }
    ctx.checkpoint()?;
    ctx.phase("Saving the workbook", None);
    let file = std::fs::File::create(partial).map_err(|e| EngineError::io(partial, e))?;
    let mut out = FirstError { file: std::io::BufWriter::new(file), error: None };
    let saved = workbook.save_to_writer(&mut out);
    // The write that failed (a full disk) is the error, named with the file it was writing.
    if let Some(e) = out.error.take() {
        return Err(EngineError::io(partial, e));
    }
    saved.map_err(xlsx_error)?;
    std::io::Write::flush(&mut out.file).map_err(|e| EngineError::io(partial, e))?;
    let notes = conversions.notes(sheets, rows);
    Ok(Written { rows, bytes: 0, sheets, notes })
}

fn write_cell(sheet: &mut Worksheet, row: u32, col: u16, array: &ArrayRef, i: usize, f: &Formats, conv: &mut Conversions) -> Result<()> {
    if array.is_null(i) {
        return Ok(());
    }
    let written = match array.data_type() {
        DataType::Boolean => sheet.write_boolean(row, col, array.as_boolean().value(i)),
        DataType::Int8 => sheet.write_number(row, col, array.as_primitive::<arrow::datatypes::Int8Type>().value(i)),
        DataType::Int16 => sheet.write_number(row, col, array.as_primitive::<arrow::datatypes::Int16Type>().value(i)),
        DataType::Int32 => sheet.write_number(row, col, array.as_primitive::<arrow::datatypes::Int32Type>().value(i)),
        DataType::UInt8 => sheet.write_number(row, col, array.as_primitive::<arrow::datatypes::UInt8Type>().value(i)),
        DataType::UInt16 => sheet.write_number(row, col, array.as_primitive::<arrow::datatypes::UInt16Type>().value(i)),
        DataType::UInt32 => sheet.write_number(row, col, array.as_primitive::<arrow::datatypes::UInt32Type>().value(i)),
        DataType::Int64 => integer(sheet, row, col, i128::from(array.as_primitive::<arrow::datatypes::Int64Type>().value(i)), conv),
        DataType::UInt64 => integer(sheet, row, col, i128::from(array.as_primitive::<arrow::datatypes::UInt64Type>().value(i)), conv),
        DataType::Float32 => float(sheet, row, col, f64::from(array.as_primitive::<arrow::datatypes::Float32Type>().value(i)), conv),
        DataType::Float64 => float(sheet, row, col, array.as_primitive::<arrow::datatypes::Float64Type>().value(i), conv),
        DataType::Decimal128(_, scale) => decimal(sheet, row, col, array.as_primitive::<arrow::datatypes::Decimal128Type>().value(i), *scale, conv),
        DataType::Decimal64(_, scale) => decimal(sheet, row, col, i128::from(array.as_primitive::<arrow::datatypes::Decimal64Type>().value(i)), *scale, conv),
        DataType::Decimal32(_, scale) => decimal(sheet, row, col, i128::from(array.as_primitive::<arrow::datatypes::Decimal32Type>().value(i)), *scale, conv),
        DataType::Date32 => {
            let days = array.as_primitive::<arrow::datatypes::Date32Type>().value(i);
            let text = || days.checked_add(719_163).and_then(chrono::NaiveDate::from_num_days_from_ce_opt).map_or_else(|| days.to_string(), |d| d.to_string());
            serial(sheet, row, col, f64::from(days) + UNIX_EPOCH_SERIAL, &f.date, text, conv)
        }
        DataType::Timestamp(unit, _) => {
            let micros = timestamp_micros(array, i, *unit);
            let text = || chrono::DateTime::from_timestamp_micros(micros).map_or_else(|| micros.to_string(), |t| t.naive_utc().to_string());
            serial(sheet, row, col, micros as f64 / 86_400e6 + UNIX_EPOCH_SERIAL, &f.timestamp, text, conv)
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let micros = array.as_primitive::<arrow::datatypes::Time64MicrosecondType>().value(i);
            sheet.write_number_with_format(row, col, micros as f64 / 86_400e6, &f.time)
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            let nanos = array.as_primitive::<arrow::datatypes::Time64NanosecondType>().value(i);
            sheet.write_number_with_format(row, col, nanos as f64 / 86_400e9, &f.time)
        }
        DataType::Utf8 => text(sheet, row, col, array.as_string::<i32>().value(i), conv),
        DataType::LargeUtf8 => text(sheet, row, col, array.as_string::<i64>().value(i), conv),
        DataType::Utf8View => text(sheet, row, col, array.as_string_view().value(i), conv),
        other => return Err(EngineError::Internal(format!("no Excel cell for Arrow type {other}"))),
    };
    written.map(|_| ()).map_err(xlsx_error)
}

type Wrote<'a> = std::result::Result<&'a mut Worksheet, XlsxError>;

fn integer<'a>(sheet: &'a mut Worksheet, row: u32, col: u16, v: i128, conv: &mut Conversions) -> Wrote<'a> {
    if v.abs() <= MAX_EXACT_INTEGER {
        sheet.write_number(row, col, v as f64)
    } else {
        conv.big_numbers += 1;
        sheet.write_string(row, col, v.to_string())
    }
}

fn float<'a>(sheet: &'a mut Worksheet, row: u32, col: u16, v: f64, conv: &mut Conversions) -> Wrote<'a> {
    if v.is_finite() {
        sheet.write_number(row, col, v)
    } else {
        conv.not_finite += 1;
        sheet.write_string(row, col, if v.is_nan() { "NaN" } else if v > 0.0 { "inf" } else { "-inf" })
    }
}

fn decimal<'a>(sheet: &'a mut Worksheet, row: u32, col: u16, unscaled: i128, scale: i8, conv: &mut Conversions) -> Wrote<'a> {
    let digits = unscaled.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1);
    let text = decimal_text(unscaled, scale);
    if digits <= 15 {
        sheet.write_number(row, col, text.parse::<f64>().unwrap_or(0.0))
    } else {
        conv.big_numbers += 1;
        sheet.write_string(row, col, text)
    }
}

/// `12345`, scale 2 → `123.45`.
fn decimal_text(unscaled: i128, scale: i8) -> String {
    if scale <= 0 {
        return (unscaled * 10i128.pow(u32::from(scale.unsigned_abs()))).to_string();
    }
    let scale = scale as usize;
    let digits = unscaled.unsigned_abs().to_string();
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, frac) = padded.split_at(padded.len() - scale);
    format!("{}{whole}.{frac}", if unscaled < 0 { "-" } else { "" })
}

fn serial<'a>(sheet: &'a mut Worksheet, row: u32, col: u16, serial: f64, format: &Format, text: impl Fn() -> String, conv: &mut Conversions) -> Wrote<'a> {
    if (FIRST_SERIAL..LAST_SERIAL).contains(&serial) {
        sheet.write_number_with_format(row, col, serial, format)
    } else {
        conv.out_of_range_dates += 1;
        sheet.write_string(row, col, text())
    }
}

fn timestamp_micros(array: &ArrayRef, i: usize, unit: TimeUnit) -> i64 {
    use arrow::datatypes::{TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType};
    match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i).saturating_mul(1_000_000),
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i).saturating_mul(1_000),
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
        TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(i) / 1_000,
    }
}

fn text<'a>(sheet: &'a mut Worksheet, row: u32, col: u16, value: &str, conv: &mut Conversions) -> Wrote<'a> {
    if value.len() > MAX_TEXT && value.chars().count() > MAX_TEXT {
        conv.cut_text += 1;
        sheet.write_string(row, col, value.chars().take(MAX_TEXT).collect::<String>())
    } else {
        sheet.write_string(row, col, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_exactly() {
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(decimal_text(i128::MAX, 10), "17014118346046923173168730371.5884105727");
    }

    #[test]
    fn sheet_names_fit_excel() {
        assert_eq!(sheet_name("a/b:c", 0), "a_b_c");
        assert_eq!(sheet_name(&"x".repeat(40), 2).chars().count(), 31);
        assert!(sheet_name(&"x".repeat(40), 2).ends_with(" (3)"));
    }
}
