//! Arrow record batches handed to DuckDB in memory: the Excel and Arrow IPC readers build
//! batches and store them through a table function registered once per database.

use arrow::record_batch::RecordBatch;
use duckdb::Connection;
use duckdb::vtab::ArrowBatchRegistration;
use duckdb::vtab::arrow::ArrowVTab;

use crate::engine::error::{DuckMessage, Result, duckdb_message::MessageKind};
use crate::engine::sql::quote_ident;

const ARROW_FUNCTION: &str = "dataforge_arrow";

/// Creates `table` shaped like `batch` (and holding its rows).
pub fn create_from_batch(conn: &Connection, table: &str, batch: RecordBatch) -> Result<()> {
    let reg = ArrowBatchRegistration::new(batch);
    conn.execute(&format!("CREATE TABLE {} AS SELECT * FROM {ARROW_FUNCTION}(?)", quote_ident(table)), [&reg])?;
    Ok(())
}

/// Appends `batch` to `table`, column by column in order.
pub fn insert_batch(conn: &Connection, table: &str, batch: RecordBatch) -> Result<()> {
    let reg = ArrowBatchRegistration::new(batch);
    conn.execute(&format!("INSERT INTO {} SELECT * FROM {ARROW_FUNCTION}(?)", quote_ident(table)), [&reg])?;
    Ok(())
}

/// Registers the batch function on `conn`'s database; registering twice is harmless.
pub fn register(conn: &Connection) -> Result<()> {
    ignore_existing(conn.register_table_function::<ArrowVTab>(ARROW_FUNCTION))
}

/// A registration that failed only because the function exists is fine.
pub(crate) fn ignore_existing(outcome: duckdb::Result<()>) -> Result<()> {
    match outcome {
        Err(e) if DuckMessage::new(&e.to_string()).kind() != MessageKind::AlreadyExists => Err(e.into()),
        _ => Ok(()),
    }
}
