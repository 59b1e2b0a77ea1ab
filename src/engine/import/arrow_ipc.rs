//! Arrow IPC files (`ARROW1` magic, a.k.a. Feather v2) and streams, read batch by batch with
//! the arrow crate and handed to DuckDB as Arrow batches.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use arrow::ipc::reader::{FileReader, StreamReader};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use duckdb::Connection;

use super::batches::{create_from_batch, insert_batch};
use crate::engine::error::{EngineError, Result};
use crate::engine::job::JobCtx;
use crate::engine::sql::quote_ident;

/// True when the file starts with the Arrow IPC file magic.
pub fn has_file_magic(head: &[u8]) -> bool {
    head.starts_with(b"ARROW1")
}

/// True when the file starts like an IPC stream (continuation marker, then a length).
pub fn has_stream_magic(head: &[u8]) -> bool {
    head.len() >= 8 && head[..4] == [0xFF, 0xFF, 0xFF, 0xFF]
}

/// True when the file starts with a well-formed IPC message (with or without the
/// continuation marker of newer writers).
pub fn looks_like_stream(path: &Path) -> bool {
    let Ok(mut file) = File::open(path) else { return false };
    let mut word = [0u8; 4];
    if file.read_exact(&mut word).is_err() {
        return false;
    }
    if word == [0xFF; 4] && file.read_exact(&mut word).is_err() {
        return false;
    }
    let len = i32::from_le_bytes(word);
    if !(8..=(16 << 20)).contains(&len) {
        return false;
    }
    let mut meta = vec![0u8; len as usize];
    file.read_exact(&mut meta).is_ok() && arrow::ipc::root_as_message(&meta).is_ok()
}

fn bad(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::invalid_file(path, format!("not a readable Arrow IPC file ({e})"))
}

/// Loads every batch of an IPC file or stream into a new `staging` table; returns the rows.
pub fn load(conn: &Connection, staging: &str, path: &Path, ctx: &JobCtx) -> Result<u64> {
    load_limited(conn, staging, path, ctx, None)
}

pub fn load_limited(conn: &Connection, staging: &str, path: &Path, ctx: &JobCtx, limit: Option<u64>) -> Result<u64> {
    // The arrow reader panics on some corrupt files instead of returning an error.
    let run = std::panic::AssertUnwindSafe(|| read_into(conn, staging, path, ctx, limit));
    std::panic::catch_unwind(run).unwrap_or_else(|_| Err(bad(path, "corrupt data")))
}

/// Walks the IPC message framing (continuation marker, length, flatbuffer, body) from
/// `start`, verifying each message and its metadata version. The arrow reader is lenient
/// about truncation and unknown versions; a file that is not well framed is an error.
/// Returns the rows the record batches declare.
fn check_framing(path: &Path, start: u64, end: u64) -> Result<u64> {
    let mut file = BufReader::new(File::open(path).map_err(|e| EngineError::io(path, e))?);
    file.seek(std::io::SeekFrom::Start(start)).map_err(|e| EngineError::io(path, e))?;
    let mut pos = start;
    let mut word = [0u8; 4];
    let mut messages = 0u64;
    let mut rows = 0u64;
    loop {
        if pos + 4 > end {
            return Err(bad(path, "the data ends in the middle of a message (truncated file)"));
        }
        file.read_exact(&mut word).map_err(|e| EngineError::io(path, e))?;
        pos += 4;
        let mut len = i32::from_le_bytes(word);
        if len == -1 {
            if pos + 4 > end {
                return Err(bad(path, "the data ends in the middle of a message (truncated file)"));
            }
            file.read_exact(&mut word).map_err(|e| EngineError::io(path, e))?;
            pos += 4;
            len = i32::from_le_bytes(word);
        }
        if len == 0 {
            break;
        }
        if len < 0 {
            return Err(bad(path, "negative message length"));
        }
        if pos + len as u64 > end {
            return Err(bad(path, "a message is longer than the file (truncated file)"));
        }
        let mut meta = vec![0u8; len as usize];
        file.read_exact(&mut meta).map_err(|e| EngineError::io(path, e))?;
        pos += len as u64;
        let (batch_rows, body) = verify_message(path, &meta)?;
        rows += batch_rows;
        if body < 0 || pos + body as u64 > end {
            return Err(bad(path, "a message body is longer than the file (truncated file)"));
        }
        file.seek_relative(body).map_err(|e| EngineError::io(path, e))?;
        pos += body as u64;
        messages += 1;
        if pos == end {
            break;
        }
    }
    if messages == 0 {
        return Err(bad(path, "no schema message"));
    }
    Ok(rows)
}

/// Rows of an IPC file or stream, from its message headers alone.
pub fn count_rows(path: &Path) -> Result<u64> {
    Ok(check(path)?.1)
}

/// Checks an IPC file (through its footer) or stream (through its framing): whether it is the
/// file format, and the rows its record batches declare.
fn check(path: &Path) -> Result<(bool, u64)> {
    let total = std::fs::metadata(path).map_err(|e| EngineError::io(path, e))?.len();
    let mut head = [0u8; 8];
    let n = File::open(path).and_then(|mut f| f.read(&mut head)).map_err(|e| EngineError::io(path, e))?;
    if has_file_magic(&head[..n]) { Ok((true, check_blocks(path, total)?)) } else { Ok((false, check_framing(path, 0, total)?)) }
}

/// Checks an IPC file through its footer, as readers use it: every block lies inside the
/// file and holds a well-formed message. Returns the rows the record batches declare.
fn check_blocks(path: &Path, total: u64) -> Result<u64> {
    use arrow::ipc::root_as_footer;
    let footer_start = file_stream_end(path, total)?;
    let mut file = File::open(path).map_err(|e| EngineError::io(path, e))?;
    let mut footer = vec![0u8; (total - 10 - footer_start) as usize];
    file.seek(std::io::SeekFrom::Start(footer_start)).map_err(|e| EngineError::io(path, e))?;
    file.read_exact(&mut footer).map_err(|e| EngineError::io(path, e))?;
    let footer = root_as_footer(&footer).map_err(|e| bad(path, format!("invalid footer: {e}")))?;
    if footer.schema().is_none() {
        return Err(bad(path, "the footer has no schema"));
    }
    let mut rows = 0u64;
    let blocks = footer.dictionaries().into_iter().flatten().chain(footer.recordBatches().into_iter().flatten());
    for block in blocks {
        let (offset, meta_len, body) = (block.offset(), block.metaDataLength(), block.bodyLength());
        let fits = offset >= 8 && meta_len >= 8 && body >= 0 && (offset as u64).saturating_add(meta_len as u64).saturating_add(body as u64) <= footer_start;
        if !fits {
            return Err(bad(path, "a block lies outside the file (truncated or corrupt file)"));
        }
        let mut meta = vec![0u8; meta_len as usize];
        file.seek(std::io::SeekFrom::Start(offset as u64)).map_err(|e| EngineError::io(path, e))?;
        file.read_exact(&mut meta).map_err(|e| EngineError::io(path, e))?;
        let skip = if meta[..4] == [0xFF; 4] { 8 } else { 4 };
        let len = i32::from_le_bytes([meta[skip - 4], meta[skip - 3], meta[skip - 2], meta[skip - 1]]);
        if len < 0 || skip + len as usize > meta.len() {
            return Err(bad(path, "a message is longer than its block"));
        }
        rows += verify_message(path, &meta[skip..skip + len as usize])?.0;
    }
    Ok(rows)
}

/// Verifies one message's flatbuffer and metadata version; returns the rows a record batch
/// declares (0 for other messages) and the length of the body that follows.
fn verify_message(path: &Path, meta: &[u8]) -> Result<(u64, i64)> {
    use arrow::ipc::{MetadataVersion, root_as_message};
    let message = root_as_message(meta).map_err(|e| bad(path, format!("invalid message metadata: {e}")))?;
    let version = message.version();
    if version < MetadataVersion::V4 || version > MetadataVersion::V5 {
        return Err(bad(path, format!("unsupported metadata version {}", version.0)));
    }
    let rows = match message.header_as_record_batch() {
        Some(batch) => u64::try_from(batch.length()).map_err(|_| bad(path, "negative row count"))?,
        None => 0,
    };
    Ok((rows, message.bodyLength()))
}

/// Where the message stream inside an IPC file ends: the footer's start.
fn file_stream_end(path: &Path, len: u64) -> Result<u64> {
    let mut file = File::open(path).map_err(|e| EngineError::io(path, e))?;
    if len < 18 {
        return Err(bad(path, "too short for an Arrow file"));
    }
    file.seek(std::io::SeekFrom::Start(len - 10)).map_err(|e| EngineError::io(path, e))?;
    let mut tail = [0u8; 10];
    file.read_exact(&mut tail).map_err(|e| EngineError::io(path, e))?;
    if &tail[4..] != b"ARROW1" {
        return Err(bad(path, "the file has no Arrow footer (truncated file)"));
    }
    let footer = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let end = (len - 10).checked_sub(u64::try_from(footer).map_err(|_| bad(path, "negative footer length"))?);
    end.filter(|e| *e >= 8).ok_or_else(|| bad(path, "the footer is longer than the file"))
}

fn read_into(conn: &Connection, staging: &str, path: &Path, ctx: &JobCtx, limit: Option<u64>) -> Result<u64> {
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    ctx.phase(format!("Reading {}", crate::engine::error::display_name(path)), Some(total));
    let (schema, batches) = open_batches(path)?;
    load_batches(conn, staging, path, schema, batches, ctx, limit)
}

/// Arrow types DuckDB's Arrow scan cannot take, replaced by ones it can: dictionaries by
/// their values, NULL columns by text, 256-bit decimals by text, unions by text.
fn storable(dt: &DataType) -> Option<DataType> {
    let inner = |f: &arrow::datatypes::FieldRef| storable(f.data_type()).map(|t| Arc::new(Field::new(f.name(), t, true)));
    match dt {
        DataType::Dictionary(_, value) => Some(storable(value).unwrap_or_else(|| value.as_ref().clone())),
        DataType::Null | DataType::Decimal256(_, _) | DataType::Union(_, _) => Some(DataType::Utf8),
        DataType::List(f) => inner(f).map(DataType::List),
        DataType::ListView(f) | DataType::LargeListView(f) => Some(DataType::List(inner(f).unwrap_or_else(|| f.clone()))),
        DataType::RunEndEncoded(_, values) => Some(storable(values.data_type()).unwrap_or_else(|| values.data_type().clone())),
        DataType::LargeList(f) => inner(f).map(DataType::LargeList),
        DataType::Struct(fields) if fields.iter().any(|f| storable(f.data_type()).is_some()) => Some(DataType::Struct(
            fields.iter().map(|f| inner(f).unwrap_or_else(|| f.clone())).collect(),
        )),
        _ => None,
    }
}

/// Decimals whose values exceed their declared precision (the format does not forbid it)
/// are widened to the widest precision DuckDB has.
fn widen_decimal(column: &arrow::array::ArrayRef) -> Option<DataType> {
    let DataType::Decimal128(precision, scale) = column.data_type() else { return None };
    let array = column.as_any().downcast_ref::<arrow::array::Decimal128Array>()?;
    if array.validate_decimal_precision(*precision).is_ok() {
        None
    } else if array.validate_decimal_precision(38).is_ok() {
        Some(DataType::Decimal128(38, *scale))
    } else {
        Some(DataType::Utf8)
    }
}

/// Makes a batch storable: validated in full (corrupt files must not reach DuckDB), unique
/// column names, and types DuckDB accepts.
fn prepare(path: &Path, batch: RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    let mut taken = std::collections::HashSet::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        column.to_data().validate_full().map_err(|e| bad(path, e))?;
        let (column, dt) = match storable(field.data_type()).or_else(|| widen_decimal(column)) {
            Some(to) => {
                let cast = arrow::compute::cast(column, &to).or_else(|_| arrow::compute::cast(column, &DataType::Utf8));
                let cast = cast.map_err(|e| bad(path, format!("column \"{}\": {e}", field.name())))?;
                let dt = cast.data_type().clone();
                (cast, dt)
            }
            None => (column.clone(), field.data_type().clone()),
        };
        let mut name = field.name().clone();
        let mut n = 2;
        while !taken.insert(name.to_lowercase()) {
            name = format!("{}_{n}", field.name());
            n += 1;
        }
        fields.push(Field::new(name, dt, true));
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| bad(path, e))
}

fn empty_name(conn: &Connection, table: &str, index: usize) -> Result<String> {
    let columns = crate::engine::workspace::table_columns(conn, table)?;
    columns.get(index).map(|c| c.name.clone()).ok_or_else(|| EngineError::Internal(format!("column {index} of {table} is missing")))
}

fn load_batches(
    conn: &Connection,
    staging: &str,
    path: &Path,
    schema: arrow::datatypes::SchemaRef,
    batches: BatchIter,
    ctx: &JobCtx,
    limit: Option<u64>,
) -> Result<u64> {
    let unsupported = |e: EngineError| match e {
        EngineError::Database(db) => EngineError::invalid_file(path, format!("the Arrow data cannot be stored ({})", db.to_string().lines().next().unwrap_or_default())),
        other => other,
    };
    let empty = prepare(path, RecordBatch::new_empty(schema))?;
    let intervals: Vec<usize> = (0..empty.num_columns()).filter(|&i| is_interval(empty.column(i).data_type())).collect();
    let empty = intervals_as_text(path, empty, &intervals)?;
    let mut types: Vec<DataType> = empty.schema().fields().iter().map(|f| f.data_type().clone()).collect();
    create_from_batch(conn, staging, empty).map_err(unsupported)?;
    let mut rows = 0u64;
    for batch in batches {
        ctx.checkpoint()?;
        let mut batch = intervals_as_text(path, prepare(path, batch?)?, &intervals)?;
        if let Some(limit) = limit {
            let room = limit.saturating_sub(rows) as usize;
            if room == 0 {
                break;
            }
            batch = batch.slice(0, batch.num_rows().min(room));
        }
        rows += batch.num_rows() as u64;
        // A batch may need a wider column than the schema declared (see `widen_decimal`);
        // later narrower batches are cast up to it.
        let rank = |t: &DataType| match t {
            DataType::Utf8 => 2,
            DataType::Decimal128(38, _) => 1,
            _ => 0,
        };
        let mut columns = batch.columns().to_vec();
        let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        for i in 0..columns.len() {
            let have = types[i].clone();
            if *columns[i].data_type() != have && rank(columns[i].data_type()) <= rank(&have) {
                columns[i] = arrow::compute::cast(&columns[i], &have).map_err(|e| bad(path, e))?;
                fields[i] = Field::new(fields[i].name(), have, true);
            }
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| bad(path, e))?;
        for (i, field) in batch.schema().fields().iter().enumerate() {
            if types.get(i) == Some(field.data_type()) {
                continue;
            }
            let wider = match field.data_type() {
                DataType::Decimal128(p, s) => format!("DECIMAL({p},{s})"),
                DataType::Utf8 => "VARCHAR".into(),
                other => return Err(bad(path, format!("column \"{}\" changes type to {other}", field.name()))),
            };
            let column = quote_ident(&empty_name(conn, staging, i)?);
            conn.execute_batch(&format!("ALTER TABLE {} ALTER COLUMN {column} SET DATA TYPE {wider}", quote_ident(staging)))?;
            types[i] = field.data_type().clone();
        }
        insert_batch(conn, staging, batch).map_err(unsupported)?;
        ctx.progress(0, rows);
    }
    for &i in &intervals {
        let column = quote_ident(&empty_name(conn, staging, i)?);
        conn.execute_batch(&format!(
            "ALTER TABLE {} ALTER COLUMN {column} SET DATA TYPE INTERVAL USING CAST({column} AS INTERVAL)",
            quote_ident(staging)
        ))?;
    }
    Ok(rows)
}

fn is_interval(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Interval(_) | DataType::Duration(_))
}

/// Interval columns as text DuckDB casts back exactly (`14 months 3 days 5 microseconds`):
/// duckdb-rs hands intervals over without their missing values.
fn intervals_as_text(path: &Path, batch: RecordBatch, intervals: &[usize]) -> Result<RecordBatch> {
    use arrow::array::{Array as _, AsArray as _, StringArray};
    use arrow::datatypes::{IntervalMonthDayNanoType, IntervalUnit};
    if intervals.is_empty() {
        return Ok(batch);
    }
    let mut columns = batch.columns().to_vec();
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    for &i in intervals {
        let mdn = arrow::compute::cast(&columns[i], &DataType::Interval(IntervalUnit::MonthDayNano)).map_err(|e| bad(path, e))?;
        let values = mdn.as_primitive::<IntervalMonthDayNanoType>();
        let text: StringArray = (0..values.len())
            .map(|r| {
                values.is_valid(r).then(|| {
                    let v = values.value(r);
                    format!("{} months {} days {} microseconds", v.months, v.days, v.nanoseconds / 1000)
                })
            })
            .collect();
        columns[i] = Arc::new(text);
        fields[i] = Field::new(fields[i].name(), DataType::Utf8, true);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| bad(path, e))
}

/// `dataforge_read_arrow(path)`: a table function that streams an Arrow IPC file or stream
/// into DuckDB batch by batch, so an Arrow file can be opened in place as a view.
pub const READ_ARROW_FUNCTION: &str = "dataforge_read_arrow";

pub struct ArrowFileVTab;

pub struct ArrowFileBind {
    path: std::path::PathBuf,
    schema: arrow::datatypes::SchemaRef,
}

type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

pub struct ArrowFileScan {
    state: std::sync::Mutex<(Option<BatchIter>, Option<RecordBatch>, usize)>,
    vector_size: usize,
}

/// Opens `path` (IPC file or stream), checked as the importer checks it.
fn open_batches(path: &Path) -> Result<(arrow::datatypes::SchemaRef, BatchIter)> {
    let (is_file, _) = check(path)?;
    let file = BufReader::new(File::open(path).map_err(|e| EngineError::io(path, e))?);
    let owned = path.to_path_buf();
    if is_file {
        let reader = FileReader::try_new(file, None).map_err(|e| bad(path, e))?;
        Ok((reader.schema(), Box::new(reader.map(move |b| b.map_err(|e| bad(&owned, e))))))
    } else {
        let reader = StreamReader::try_new(file, None).map_err(|e| bad(path, e))?;
        Ok((reader.schema(), Box::new(reader.map(move |b| b.map_err(|e| bad(&owned, e))))))
    }
}

/// A batch made storable and cast to the bound column types.
fn conform(path: &Path, batch: RecordBatch, schema: &arrow::datatypes::SchemaRef) -> Result<RecordBatch> {
    let batch = prepare(path, batch)?;
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c.clone()) } else { arrow::compute::cast(c, f.data_type()).map_err(|e| bad(path, e)) })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| bad(path, e))
}

/// duckdb-rs converts interval columns without their validity: a missing interval would
/// arrive as a made-up value. Marks those rows missing again.
fn restore_interval_nulls(batch: &RecordBatch, output: &mut duckdb::core::DataChunkHandle) {
    use arrow::array::Array as _;
    for (i, column) in batch.columns().iter().enumerate() {
        if matches!(column.data_type(), arrow::datatypes::DataType::Interval(_) | arrow::datatypes::DataType::Duration(_)) && column.null_count() > 0 {
            let mut vector = output.flat_vector(i);
            for row in (0..column.len()).filter(|&r| column.is_null(r)) {
                vector.set_null(row);
            }
        }
    }
}

impl duckdb::vtab::VTab for ArrowFileVTab {
    type BindData = ArrowFileBind;
    type InitData = ArrowFileScan;

    fn bind(bind: &duckdb::vtab::BindInfo) -> std::result::Result<Self::BindData, Box<dyn std::error::Error>> {
        let path = std::path::PathBuf::from(bind.get_parameter(0).to_string());
        let (schema, _) = open_batches(&path)?;
        let schema = prepare(&path, RecordBatch::new_empty(schema))?.schema();
        for field in schema.fields() {
            bind.add_result_column(field.name(), duckdb::vtab::to_duckdb_logical_type_for_field(field)?);
        }
        Ok(ArrowFileBind { path, schema })
    }

    fn init(_: &duckdb::vtab::InitInfo) -> std::result::Result<Self::InitData, Box<dyn std::error::Error>> {
        let vector_size = unsafe { duckdb::ffi::duckdb_vector_size() } as usize;
        Ok(ArrowFileScan { state: std::sync::Mutex::new((None, None, 0)), vector_size: vector_size.max(1) })
    }

    fn func(
        func: &duckdb::vtab::TableFunctionInfo<Self>,
        output: &mut duckdb::core::DataChunkHandle,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let bind = func.get_bind_data();
        let scan = func.get_init_data();
        let mut state = scan.state.lock().map_err(|_| "the Arrow scan was poisoned")?;
        if state.0.is_none() {
            state.0 = Some(open_batches(&bind.path)?.1);
        }
        loop {
            if let Some(batch) = &state.1 {
                if state.2 < batch.num_rows() {
                    let len = scan.vector_size.min(batch.num_rows() - state.2);
                    let slice = batch.slice(state.2, len);
                    state.2 += len;
                    duckdb::vtab::record_batch_to_duckdb_data_chunk(&slice, output)?;
                    restore_interval_nulls(&slice, output);
                    return Ok(());
                }
            }
            let next = state.0.as_mut().and_then(|it| it.next());
            match next {
                Some(batch) => {
                    let batch = conform(&bind.path, batch?, &bind.schema)?;
                    *state = (state.0.take(), Some(batch), 0);
                }
                None => {
                    output.set_len(0);
                    return Ok(());
                }
            }
        }
    }

    fn parameters() -> Option<Vec<duckdb::core::LogicalTypeHandle>> {
        Some(vec![duckdb::core::LogicalTypeHandle::from(duckdb::core::LogicalTypeId::Varchar)])
    }
}

/// Registers `dataforge_read_arrow` on `conn`'s database; registering twice is harmless.
pub fn register(conn: &Connection) -> Result<()> {
    super::batches::ignore_existing(conn.register_table_function::<ArrowFileVTab>(READ_ARROW_FUNCTION))
}
