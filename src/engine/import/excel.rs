//! Excel (.xlsx, .xlsm, .xlsb, .xls) and OpenDocument (.ods) sheets through calamine.
//!
//! Two passes over the sheet's cells: the first finds the header and each column's type, the
//! second streams typed Arrow batches into DuckDB. xlsx/xlsb cells are streamed from the file
//! (only the shared strings are held); xls/ods sheets are loaded once by calamine.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use calamine::{Data, Range, Reader, Sheets, open_workbook_auto};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use duckdb::Connection;

use super::batches::insert_batch;
use super::options::ImportOptions;
use crate::engine::error::{EngineError, Result};
use crate::engine::job::JobCtx;
use crate::engine::sql::quote_ident;

const BATCH_ROWS: usize = 8192;
/// Largest declared size of a workbook's XML we agree to expand (zip-bomb guard).
const MAX_EXPANDED_BYTES: u64 = 8 << 30;

fn open(path: &Path) -> Result<Sheets<BufReader<File>>> {
    check_expanded_size(path)?;
    open_workbook_auto(path).map_err(|e| workbook_error(path, e))
}

pub fn sheet_names(path: &Path) -> Result<Vec<String>> {
    Ok(open(path)?.sheet_names())
}

/// Names of the sheets that hold cells (chart and dialog sheets left out).
pub fn worksheet_names(path: &Path) -> Result<Vec<String>> {
    let book = open(path)?;
    Ok(book.sheets_metadata().iter().filter(|s| s.typ == calamine::SheetType::WorkSheet).map(|s| s.name.clone()).collect())
}

fn workbook_error(path: &Path, err: calamine::Error) -> EngineError {
    let text = err.to_string();
    let lower = text.to_ascii_lowercase();
    let reason = if lower.contains("password") || lower.contains("encrypt") {
        "the workbook is password-protected; save an unprotected copy and import that".to_string()
    } else {
        format!("not a readable workbook ({text})")
    };
    EngineError::InvalidData { file: path.to_path_buf(), line: None, column: None, reason }
}

/// Refuses workbooks (zip containers) whose parts declare more than we would ever expand.
fn check_expanded_size(path: &Path) -> Result<()> {
    let Ok(file) = File::open(path) else { return Ok(()) };
    let Ok(mut archive) = zip::ZipArchive::new(BufReader::new(file)) else { return Ok(()) };
    let mut total = 0u64;
    for i in 0..archive.len() {
        if let Ok(entry) = archive.by_index_raw(i) {
            total = total.saturating_add(entry.size());
        }
    }
    if total > MAX_EXPANDED_BYTES {
        return Err(EngineError::invalid_file(path, format!("the workbook would expand to {} GB; refusing to read it", total >> 30)));
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Number(f64),
    Int(i64),
    Bool(bool),
    Text(String),
    Date(NaiveDate),
    DateTime(NaiveDateTime),
    Error,
}

fn excel_datetime(dt: &calamine::ExcelDateTime) -> Option<Cell> {
    if dt.is_duration() {
        return Some(Cell::Text(format_duration(dt.as_f64())));
    }
    let value = dt.as_datetime()?;
    Some(if value.time() == NaiveTime::MIN { Cell::Date(value.date()) } else { Cell::DateTime(value) })
}

fn format_duration(days: f64) -> String {
    let total = (days * 86_400.0).round() as i64;
    format!("{}:{:02}:{:02}", total / 3600, (total / 60) % 60, total % 60)
}

fn iso_datetime(text: &str) -> Cell {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Cell::Date(d);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, fmt) {
            return Cell::DateTime(dt);
        }
    }
    Cell::Text(text.to_string())
}

/// A sheet cell as typed data; `None` for an empty cell. Streamed cells (`DataRef`) come
/// through `Data::from`.
fn from_data(value: Data) -> Option<Cell> {
    Some(match value {
        Data::Empty => return None,
        Data::Int(i) => Cell::Int(i),
        Data::Float(f) => Cell::Number(f),
        Data::Bool(b) => Cell::Bool(b),
        Data::String(s) if s.is_empty() => return None,
        Data::String(s) => Cell::Text(s),
        Data::DateTime(dt) => excel_datetime(&dt).unwrap_or(Cell::Error),
        Data::DateTimeIso(s) => iso_datetime(&s),
        Data::DurationIso(s) => Cell::Text(s),
        Data::Error(_) => Cell::Error,
    })
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Number(f) => f.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::Bool(b) => b.to_string(),
        Cell::Text(s) => s.clone(),
        Cell::Date(d) => d.to_string(),
        Cell::DateTime(dt) => dt.to_string(),
        Cell::Error => String::new(),
    }
}

/// Where a sheet's cells come from: streamed (xlsx/xlsb) or loaded by calamine (xls/ods).
enum SheetSource {
    Streamed(Sheets<BufReader<File>>),
    Loaded(Range<Data>),
}

impl SheetSource {
    fn open(path: &Path, sheet: &str) -> Result<Self> {
        let mut book = open(path)?;
        match book {
            Sheets::Xlsx(_) | Sheets::Xlsb(_) => Ok(Self::Streamed(book)),
            _ => Ok(Self::Loaded(book.worksheet_range(sheet).map_err(|e| workbook_error(path, e))?)),
        }
    }

    /// Calls `row` for every row with cells, in order, with (column, value) pairs, until it
    /// says to stop.
    fn each_row(&mut self, path: &Path, sheet: &str, ctx: &JobCtx, row: impl FnMut(u32, &[(u32, Cell)]) -> Result<Walk>) -> Result<()> {
        let mut rows = RowAssembler { row, ctx, current: None, cells: Vec::new(), seen: 0 };
        let bad = |e: &dyn std::fmt::Display| EngineError::invalid_file(path, format!("the sheet cannot be read ({e})"));
        match self {
            Self::Streamed(Sheets::Xlsx(book)) => {
                let mut reader = book.worksheet_cells_reader(sheet).map_err(|e| bad(&e))?;
                while let Some(cell) = reader.next_cell().map_err(|e| bad(&e))? {
                    if rows.push(cell.get_position(), from_data(Data::from(cell.get_value().clone())))?.is_break() {
                        return Ok(());
                    }
                }
            }
            Self::Streamed(Sheets::Xlsb(book)) => {
                let mut reader = book.worksheet_cells_reader(sheet).map_err(|e| bad(&e))?;
                while let Some(cell) = reader.next_cell().map_err(|e| bad(&e))? {
                    if rows.push(cell.get_position(), from_data(Data::from(cell.get_value().clone())))?.is_break() {
                        return Ok(());
                    }
                }
            }
            Self::Streamed(_) => unreachable!("only xlsx and xlsb are streamed"),
            Self::Loaded(range) => {
                let (r0, c0) = range.start().unwrap_or((0, 0));
                for (r, c, value) in range.used_cells() {
                    if rows.push((r0 + r as u32, c0 + c as u32), from_data(value.clone()))?.is_break() {
                        return Ok(());
                    }
                }
            }
        }
        rows.flush().map(|_| ())
    }
}

/// Whether a walk over a sheet's rows goes on.
type Walk = std::ops::ControlFlow<()>;

/// Groups cells, which arrive in row order, into rows.
struct RowAssembler<'a, F> {
    row: F,
    ctx: &'a JobCtx,
    current: Option<u32>,
    cells: Vec<(u32, Cell)>,
    seen: u64,
}

impl<F: FnMut(u32, &[(u32, Cell)]) -> Result<Walk>> RowAssembler<'_, F> {
    fn push(&mut self, (r, c): (u32, u32), cell: Option<Cell>) -> Result<Walk> {
        if self.current != Some(r) {
            if self.flush()?.is_break() {
                return Ok(Walk::Break(()));
            }
            self.current = Some(r);
            self.seen += 1;
            if self.seen % 4096 == 0 {
                self.ctx.checkpoint()?;
            }
        }
        if let Some(cell) = cell {
            self.cells.push((c, cell));
        }
        Ok(Walk::Continue(()))
    }

    /// Hands on the row being assembled, unless it is empty.
    fn flush(&mut self) -> Result<Walk> {
        let mut walk = Walk::Continue(());
        if let Some(r) = self.current {
            if !self.cells.is_empty() {
                walk = (self.row)(r, &self.cells)?;
            }
        }
        self.cells.clear();
        Ok(walk)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColType {
    Int,
    Float,
    Bool,
    Date,
    Timestamp,
    Text,
}

impl ColType {
    fn sql(self) -> &'static str {
        match self {
            Self::Int => "BIGINT",
            Self::Float => "DOUBLE",
            Self::Bool => "BOOLEAN",
            Self::Date => "DATE",
            Self::Timestamp => "TIMESTAMP",
            Self::Text => "VARCHAR",
        }
    }

    fn arrow(self) -> DataType {
        match self {
            Self::Int => DataType::Int64,
            Self::Float => DataType::Float64,
            Self::Bool => DataType::Boolean,
            Self::Date => DataType::Date32,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Self::Text => DataType::Utf8,
        }
    }
}

#[derive(Default, Clone)]
struct Kinds {
    whole: u64,
    fractional: u64,
    bools: u64,
    texts: u64,
    dates: u64,
    datetimes: u64,
    errors: u64,
    /// "NA"-style text, a missing value unless the column is text anyway.
    missing: u64,
}

impl Kinds {
    fn add(&mut self, cell: &Cell, na_as_null: bool) {
        match cell {
            Cell::Text(t) if na_as_null && super::csv::NA_TOKENS.contains(&t.as_str()) => self.missing += 1,
            Cell::Int(_) => self.whole += 1,
            Cell::Number(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => self.whole += 1,
            Cell::Number(_) => self.fractional += 1,
            Cell::Bool(_) => self.bools += 1,
            Cell::Text(_) => self.texts += 1,
            Cell::Date(_) => self.dates += 1,
            Cell::DateTime(_) => self.datetimes += 1,
            Cell::Error => self.errors += 1,
        }
    }

    /// The column's type, and whether different kinds of values were mixed in it.
    fn decide(&self) -> (ColType, bool) {
        let numbers = self.whole + self.fractional;
        let times = self.dates + self.datetimes;
        let groups = [numbers, self.bools, self.texts, times].iter().filter(|n| **n > 0).count();
        if groups > 1 {
            return (ColType::Text, true);
        }
        let ty = if self.texts > 0 || groups == 0 {
            ColType::Text
        } else if self.datetimes > 0 {
            ColType::Timestamp
        } else if self.dates > 0 {
            ColType::Date
        } else if self.fractional > 0 {
            ColType::Float
        } else if self.whole > 0 {
            ColType::Int
        } else if self.bools > 0 {
            ColType::Bool
        } else {
            ColType::Text
        };
        (ty, false)
    }
}

struct Layout {
    header_row: Option<u32>,
    /// Sheet column → output column.
    first_col: u32,
    slots: Vec<Option<usize>>,
    names: Vec<String>,
    types: Vec<ColType>,
    data_rows: u64,
}

pub struct Loaded {
    pub rows: u64,
    pub sheet: String,
}

/// Picks the sheet: the one named, else the first.
pub fn resolve_sheet(path: &Path, wanted: Option<&str>) -> Result<String> {
    let names = sheet_names(path)?;
    match wanted {
        Some(name) => names.iter().find(|n| n.as_str() == name).cloned().ok_or_else(|| EngineError::invalid_file(path, format!("there is no sheet \"{name}\" (sheets: {})", names.join(", ")))),
        None => names.into_iter().next().ok_or_else(|| EngineError::invalid_file(path, "the workbook has no sheets")),
    }
}

pub fn load(conn: &Connection, staging: &str, path: &Path, opts: &ImportOptions, ctx: &JobCtx, notices: &mut Vec<String>) -> Result<Loaded> {
    load_limited(conn, staging, path, opts, ctx, notices, None)
}

pub fn load_limited(
    conn: &Connection,
    staging: &str,
    path: &Path,
    opts: &ImportOptions,
    ctx: &JobCtx,
    notices: &mut Vec<String>,
    limit: Option<u64>,
) -> Result<Loaded> {
    let sheet = resolve_sheet(path, opts.sheet.as_deref())?;
    let mut source = SheetSource::open(path, &sheet)?;
    ctx.phase(format!("Scanning sheet \"{sheet}\""), None);
    let layout = scan(&mut source, path, &sheet, opts, ctx, notices, limit)?;
    if layout.names.is_empty() {
        return Err(EngineError::EmptySheet { file: path.to_path_buf(), sheet });
    }
    let columns: Vec<String> = layout.names.iter().zip(&layout.types).map(|(n, t)| format!("{} {}", quote_ident(n), t.sql())).collect();
    conn.execute_batch(&format!("CREATE TABLE {} ({})", quote_ident(staging), columns.join(", ")))?;

    ctx.phase(format!("Reading sheet \"{sheet}\""), None);
    ctx.expect_rows(layout.data_rows);
    let schema = Arc::new(Schema::new(
        layout.names.iter().zip(&layout.types).map(|(n, t)| Field::new(n, t.arrow(), true)).collect::<Vec<_>>(),
    ));
    let mut batch = BatchBuilder::new(&layout.types);
    let mut rows = 0u64;
    let skip = opts.csv.skip.unwrap_or(0);
    let walked = source.each_row(path, &sheet, ctx, |r, cells| {
        if u64::from(r) < skip || Some(r) <= layout.header_row {
            return Ok(Walk::Continue(()));
        }
        if limit.is_some_and(|l| rows >= l) {
            return Ok(Walk::Break(()));
        }
        batch.push_row(&layout, cells);
        rows += 1;
        if batch.len == BATCH_ROWS {
            insert_batch(conn, staging, batch.finish(&schema)?)?;
            ctx.progress(0, rows);
        }
        Ok(Walk::Continue(()))
    });
    walked?;
    if batch.len > 0 {
        insert_batch(conn, staging, batch.finish(&schema)?)?;
    }
    Ok(Loaded { rows, sheet })
}

fn scan(
    source: &mut SheetSource,
    path: &Path,
    sheet: &str,
    opts: &ImportOptions,
    ctx: &JobCtx,
    notices: &mut Vec<String>,
    limit: Option<u64>,
) -> Result<Layout> {
    let skip = opts.csv.skip.unwrap_or(0);
    let mut has_header = opts.csv.header;
    let mut header_row = None;
    let mut header: Vec<(u32, String)> = Vec::new();
    let mut kinds: Vec<Kinds> = Vec::new();
    let (mut min_col, mut max_col) = (u32::MAX, 0u32);
    let mut data_rows = 0u64;
    let mut last_row = None;
    let mut blank_rows = 0u64;
    let walked = source.each_row(path, sheet, ctx, |r, cells| {
        if u64::from(r) < skip {
            return Ok(Walk::Continue(()));
        }
        if limit.is_some_and(|l| data_rows >= l) {
            return Ok(Walk::Break(()));
        }
        // Detected: the first row names columns only when it is all text.
        let is_header = *has_header.get_or_insert_with(|| cells.iter().all(|(_, v)| matches!(v, Cell::Text(_))));
        if is_header && header_row.is_none() {
            header_row = Some(r);
            header = cells.iter().map(|(c, v)| (*c, cell_text(v))).collect();
            for (c, _) in cells {
                min_col = min_col.min(*c);
                max_col = max_col.max(*c);
            }
            return Ok(Walk::Continue(()));
        }
        if let Some(last) = last_row {
            blank_rows += u64::from(r.saturating_sub(last + 1));
        }
        last_row = Some(r);
        data_rows += 1;
        for (c, v) in cells {
            let c = *c as usize;
            if kinds.len() <= c {
                kinds.resize(c + 1, Kinds::default());
            }
            kinds[c].add(v, opts.csv.na_as_null);
            min_col = min_col.min(c as u32);
            max_col = max_col.max(c as u32);
        }
        Ok(Walk::Continue(()))
    });
    walked?;
    if min_col == u32::MAX {
        return Ok(Layout { header_row, first_col: 0, slots: Vec::new(), names: Vec::new(), types: Vec::new(), data_rows: 0 });
    }
    let mut slots = vec![None; (max_col - min_col + 1) as usize];
    let (mut names, mut types) = (Vec::new(), Vec::new());
    let mut taken = std::collections::HashSet::new();
    let mut mixed = Vec::new();
    let mut errors = 0;
    for col in min_col..=max_col {
        let title = header.iter().find(|(c, _)| *c == col).map(|(_, t)| t.trim().to_string()).filter(|t| !t.is_empty());
        let k = kinds.get(col as usize).cloned().unwrap_or_default();
        let used = k.whole + k.fractional + k.bools + k.texts + k.dates + k.datetimes + k.errors + k.missing > 0;
        if title.is_none() && !used {
            continue;
        }
        let base = title.unwrap_or_else(|| column_letter(col));
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.to_lowercase()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        let (ty, was_mixed) = k.decide();
        if was_mixed {
            mixed.push(name.clone());
        }
        errors += k.errors;
        slots[(col - min_col) as usize] = Some(names.len());
        names.push(name);
        types.push(ty);
    }
    if !mixed.is_empty() {
        notices.push(format!("kept as text because they mix numbers, dates or text: {}", quoted_list(&mixed)));
    }
    if errors > 0 {
        notices.push(format!("{errors} cells hold Excel errors (#N/A, #DIV/0!…) and were stored as empty"));
    }
    if blank_rows > 0 {
        notices.push(format!("{blank_rows} blank rows between the data were skipped"));
    }
    Ok(Layout { header_row, first_col: min_col, slots, names, types, data_rows })
}

fn quoted_list(names: &[String]) -> String {
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// Spreadsheet column letters: 0 → A, 27 → AB.
pub fn column_letter(mut col: u32) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

enum ColBuilder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Text(StringBuilder),
}

struct BatchBuilder {
    cols: Vec<ColBuilder>,
    row: Vec<Option<Cell>>,
    len: usize,
}

impl BatchBuilder {
    fn new(types: &[ColType]) -> Self {
        let cols = types
            .iter()
            .map(|t| match t {
                ColType::Int => ColBuilder::Int(Int64Builder::with_capacity(BATCH_ROWS)),
                ColType::Float => ColBuilder::Float(Float64Builder::with_capacity(BATCH_ROWS)),
                ColType::Bool => ColBuilder::Bool(BooleanBuilder::with_capacity(BATCH_ROWS)),
                ColType::Date => ColBuilder::Date(Date32Builder::with_capacity(BATCH_ROWS)),
                ColType::Timestamp => ColBuilder::Timestamp(TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS)),
                ColType::Text => ColBuilder::Text(StringBuilder::new()),
            })
            .collect();
        Self { cols, row: vec![None; types.len()], len: 0 }
    }

    fn push_row(&mut self, layout: &Layout, cells: &[(u32, Cell)]) {
        self.row.iter_mut().for_each(|v| *v = None);
        for (c, v) in cells {
            if let Some(Some(slot)) = c.checked_sub(layout.first_col).and_then(|i| layout.slots.get(i as usize)) {
                self.row[*slot] = Some(v.clone());
            }
        }
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        for (builder, value) in self.cols.iter_mut().zip(&self.row) {
            let value = value.as_ref().filter(|v| **v != Cell::Error);
            match builder {
                ColBuilder::Int(b) => b.append_option(value.and_then(|v| match v {
                    Cell::Int(i) => Some(*i),
                    Cell::Number(f) => Some(*f as i64),
                    _ => None,
                })),
                ColBuilder::Float(b) => b.append_option(value.and_then(|v| match v {
                    Cell::Int(i) => Some(*i as f64),
                    Cell::Number(f) => Some(*f),
                    _ => None,
                })),
                ColBuilder::Bool(b) => b.append_option(value.and_then(|v| if let Cell::Bool(x) = v { Some(*x) } else { None })),
                ColBuilder::Date(b) => b.append_option(value.and_then(|v| match v {
                    Cell::Date(d) => Some((*d - epoch).num_days() as i32),
                    _ => None,
                })),
                ColBuilder::Timestamp(b) => b.append_option(value.and_then(|v| match v {
                    Cell::Date(d) => Some(d.and_time(NaiveTime::MIN).and_utc().timestamp_micros()),
                    Cell::DateTime(dt) => Some(dt.and_utc().timestamp_micros()),
                    _ => None,
                })),
                ColBuilder::Text(b) => b.append_option(value.map(cell_text)),
            }
        }
        self.len += 1;
    }

    fn finish(&mut self, schema: &Arc<Schema>) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|b| match b {
                ColBuilder::Int(b) => Arc::new(b.finish()) as ArrayRef,
                ColBuilder::Float(b) => Arc::new(b.finish()),
                ColBuilder::Bool(b) => Arc::new(b.finish()),
                ColBuilder::Date(b) => Arc::new(b.finish()),
                ColBuilder::Timestamp(b) => Arc::new(b.finish()),
                ColBuilder::Text(b) => Arc::new(b.finish()),
            })
            .collect();
        self.len = 0;
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| EngineError::Internal(format!("building a batch: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decides_column_types_and_letters() {
        let mut k = Kinds::default();
        k.add(&Cell::Number(1.0), true);
        k.add(&Cell::Int(2), true);
        assert_eq!(k.decide(), (ColType::Int, false));
        k.add(&Cell::Number(2.5), true);
        k.add(&Cell::Text("NA".into()), true);
        assert_eq!(k.decide(), (ColType::Float, false), "NA is a missing number");
        k.add(&Cell::Text("n/a".into()), false);
        assert_eq!(k.decide(), (ColType::Text, true));
        let mut na_only = Kinds::default();
        na_only.add(&Cell::Text("NA".into()), true);
        assert_eq!(na_only.decide(), (ColType::Text, false));
        let mut d = Kinds::default();
        d.add(&Cell::Date(NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()), true);
        d.add(&Cell::Error, true);
        assert_eq!(d.decide(), (ColType::Date, false));
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(column_letter(16383), "XFD");
    }
}
