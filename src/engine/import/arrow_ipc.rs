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
use duckdb::vtab::ArrowBatchRegistration;
use duckdb::vtab::arrow::ArrowVTab;

use crate::engine::error::{EngineError, Result};
use crate::engine::job::JobCtx;
use crate::engine::sql::quote_ident;

const ARROW_FUNCTION: &str = "dataforge_arrow";

pub fn is_arrow_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".arrow", ".arrows", ".feather", ".ipc", ".arrow_file", ".stream"].iter().any(|e| lower.ends_with(e))
}

/// True when the file starts with the Arrow IPC file magic.
pub fn has_file_magic(head: &[u8]) -> bool {
    head.starts_with(b"ARROW1")
}

/// True when the file starts like an IPC stream (continuation marker, then a length).
pub fn has_stream_magic(head: &[u8]) -> bool {
    head.len() >= 8 && head[..4] == [0xFF, 0xFF, 0xFF, 0xFF]
}

/// Makes the Arrow table function available on `conn` (once per connection).
pub fn register(conn: &Connection) -> Result<()> {
    match conn.register_table_function::<ArrowVTab>(ARROW_FUNCTION) {
        Ok(()) => Ok(()),
        Err(e) if e.to_string().contains("already exists") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates `table` shaped like `batch` (and holding its rows).
pub fn create_from_batch(conn: &Connection, table: &str, batch: RecordBatch) -> Result<()> {
    register(conn)?;
    let reg = ArrowBatchRegistration::new(batch);
    conn.execute(&format!("CREATE TABLE {} AS SELECT * FROM {ARROW_FUNCTION}(?)", quote_ident(table)), [&reg])?;
    Ok(())
}

/// Appends `batch` to `table`, column by column in order.
pub fn insert_batch(conn: &Connection, table: &str, batch: RecordBatch) -> Result<()> {
    register(conn)?;
    let reg = ArrowBatchRegistration::new(batch);
    conn.execute(&format!("INSERT INTO {} SELECT * FROM {ARROW_FUNCTION}(?)", quote_ident(table)), [&reg])?;
    Ok(())
}

fn bad(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidData {
        file: path.to_path_buf(),
        line: None,
        column: None,
        reason: format!("not a readable Arrow IPC file ({e})"),
    }
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

fn read_into(conn: &Connection, staging: &str, path: &Path, ctx: &JobCtx, limit: Option<u64>) -> Result<u64> {
    let mut file = BufReader::new(File::open(path).map_err(|e| EngineError::io(path, e))?);
    let mut head = [0u8; 8];
    let n = file.read(&mut head).map_err(|e| EngineError::io(path, e))?;
    file.rewind().map_err(|e| EngineError::io(path, e))?;
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    ctx.phase(format!("Reading {}", super::display_name(path)), Some(total));
    if has_file_magic(&head[..n]) {
        let reader = FileReader::try_new(file, None).map_err(|e| bad(path, e))?;
        let schema = reader.schema();
        load_batches(conn, staging, path, schema, reader.map(|b| b.map_err(|e| bad(path, e))), ctx, limit)
    } else {
        let reader = StreamReader::try_new(file, None).map_err(|e| bad(path, e))?;
        let schema = reader.schema();
        load_batches(conn, staging, path, schema, reader.map(|b| b.map_err(|e| bad(path, e))), ctx, limit)
    }
}

/// Arrow types DuckDB's Arrow scan cannot take, replaced by ones it can: dictionaries by
/// their values, NULL columns by text, 256-bit decimals by text, unions by text.
fn storable(dt: &DataType) -> Option<DataType> {
    match dt {
        DataType::Dictionary(_, value) => Some(storable(value).unwrap_or_else(|| value.as_ref().clone())),
        DataType::Null | DataType::Decimal256(_, _) | DataType::Union(_, _) => Some(DataType::Utf8),
        _ => None,
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
        let (column, dt) = match storable(field.data_type()) {
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

fn load_batches(
    conn: &Connection,
    staging: &str,
    path: &Path,
    schema: arrow::datatypes::SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
    ctx: &JobCtx,
    limit: Option<u64>,
) -> Result<u64> {
    let unsupported = |e: EngineError| match e {
        EngineError::Database(db) => EngineError::InvalidData {
            file: path.to_path_buf(),
            line: None,
            column: None,
            reason: format!("the Arrow data cannot be stored ({})", db.to_string().lines().next().unwrap_or_default()),
        },
        other => other,
    };
    create_from_batch(conn, staging, prepare(path, RecordBatch::new_empty(schema))?).map_err(unsupported)?;
    let mut rows = 0u64;
    for batch in batches {
        ctx.checkpoint()?;
        let mut batch = prepare(path, batch?)?;
        if let Some(limit) = limit {
            let room = limit.saturating_sub(rows) as usize;
            if room == 0 {
                break;
            }
            batch = batch.slice(0, batch.num_rows().min(room));
        }
        rows += batch.num_rows() as u64;
        insert_batch(conn, staging, batch).map_err(unsupported)?;
        ctx.progress(0, rows);
    }
    Ok(rows)
}
