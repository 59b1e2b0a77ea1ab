//! The layer above the workspace: it opens the workspace with what the features need at
//! each opening of the database (table functions), owns per-table metadata and cleanup (a
//! dropped table forgets its profile and checks), the one routine that replaces a table in
//! place, writer locks as jobs wait for them, and compaction as a job. The workspace below
//! it knows none of this.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use duckdb::Connection;

use super::config::EnvOverrides;
use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::sql::{META_SCHEMA, STAGING_PREFIX, quote_ident, unique_suffix};
use super::workspace::{CompactReport, OnOpen, TableLock, Workspace, register_in_catalog};

fn on_open() -> OnOpen {
    // Imports hand Arrow batches over through these; linked Arrow files read through them.
    Arc::new(|conn: &Connection| {
        super::import::register_table_functions(conn)?;
        super::fold::register(conn)?;
        // Record matching's bounded edit distance.
        super::linkage::distance::register(conn)
    })
}

/// Opens (or creates) the workspace file at `path`, ready for every feature.
///
/// # Failure
/// As [`Workspace::open`]: not a DuckDB database, locked by another process, or its folder
/// cannot be made.
pub fn open_workspace(path: impl AsRef<Path>, overrides: EnvOverrides) -> Result<Workspace> {
    Workspace::open(path, overrides, on_open())
}

/// An in-memory workspace, for probes and tests.
pub fn open_in_memory() -> Result<Workspace> {
    Workspace::open_in_memory(on_open())
}

/// Drops a table or linked file with everything kept about it (its profile and checks), so a
/// table imported later under the same name starts afresh.
pub fn drop_table(workspace: &Workspace, name: &str) -> Result<()> {
    let _lock = workspace.try_lock_table(name, "Drop").map_err(|holder| busy(name, &holder))?;
    workspace.drop_table(name)?;
    let conn = workspace.connect()?;
    let _ = super::profile::store::forget(&conn, name);
    let _ = super::checks::forget(&conn, name);
    Ok(())
}

fn busy(table: &str, holder: &str) -> EngineError {
    EngineError::Busy(format!("\"{table}\" is being changed by {holder}; try again when it has finished"))
}

/// Takes the writer lock of `table` for the job `ctx` runs, waiting (with a message, and
/// cancellable) while another writer holds it.
pub fn lock_table(workspace: &Workspace, table: &str, ctx: &JobCtx) -> Result<TableLock> {
    let mut told = false;
    loop {
        match workspace.try_lock_table(table, ctx.title()) {
            Ok(lock) => return Ok(lock),
            Err(holder) => {
                if !told {
                    ctx.phase(format!("Waiting for \"{holder}\" to finish with {table}"), None);
                    told = true;
                }
                ctx.checkpoint()?;
                workspace.wait_for_table_locks(Duration::from_millis(100));
            }
        }
    }
}

/// Takes the writer lock of `table` now, or fails saying who holds it (for work that must
/// not wait, such as a statement typed in the console).
pub fn try_lock_table(workspace: &Workspace, table: &str, holder: &str) -> Result<TableLock> {
    workspace.try_lock_table(table, holder).map_err(|other| busy(table, &other))
}

/// Replaces `table` by the rows of `select`, inside the caller's transaction: the rows go to
/// a staging table, the table is dropped and the staging table renamed into its place. The
/// catalog keeps where the table came from, with the new row count and time (a merge's undo
/// refuses to run on a table replaced after it). Hold the table's writer lock from before
/// `select` first reads it, so no other write is lost. Returns the rows written.
pub fn replace_table(conn: &Connection, table: &str, select: &str) -> Result<u64> {
    let staging = format!("{STAGING_PREFIX}replace_{}", unique_suffix());
    let rows = conn.execute(&format!("CREATE TABLE {} AS {select}", quote_ident(&staging)), [])? as u64;
    let source: Option<String> = conn
        .query_row(&format!("SELECT source FROM {META_SCHEMA}.tables WHERE lower(name) = lower(?)"), [table], |r| r.get(0))
        .ok()
        .flatten();
    conn.execute_batch(&format!("DROP TABLE {t}; ALTER TABLE {} RENAME TO {t};", quote_ident(&staging), t = quote_ident(table)))?;
    register_in_catalog(conn, table, source.as_deref().unwrap_or(""), Some(rows))?;
    Ok(rows)
}

/// Counts the rows of `table` and records them in the catalog (after an append, or a
/// statement that changed it).
pub fn record_rows(conn: &Connection, table: &str) -> Result<u64> {
    let total: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(table)), [], |r| r.get(0))?;
    conn.execute(&format!("UPDATE {META_SCHEMA}.tables SET rows = ? WHERE lower(name) = lower(?)"), duckdb::params![total, table])?;
    Ok(total.max(0) as u64)
}

/// Compacts the workspace file (see [`Workspace::compact`]).
pub struct CompactJob {
    pub workspace: Arc<Workspace>,
}

impl Job for CompactJob {
    type Output = CompactReport;

    fn title(&self) -> String {
        "Compact the workspace".into()
    }

    fn run(self, ctx: &JobCtx) -> Result<CompactReport> {
        ctx.phase("Copying the tables to a new file", None);
        let report = self.workspace.compact(&mut |conn| {
            match conn {
                Some(conn) => ctx.watch(conn)?,
                None => ctx.unwatch(),
            }
            Ok(())
        })?;
        ctx.record_output(0, report.bytes_before);
        Ok(report)
    }
}
