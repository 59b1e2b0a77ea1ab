//! Profiles kept in the workspace, one per table, shown again at once when the table is
//! reopened and marked stale when the table changed since.

use duckdb::OptionalExt;

use super::{Profile, fingerprint};
use crate::engine::error::{EngineError, Result};
use crate::engine::sql::META_SCHEMA;
use crate::engine::view::{Source, SourceShape};
use duckdb::Connection;

fn ensure(conn: &Connection) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {META_SCHEMA}.profiles (
             table_name VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL, changed BOOLEAN NOT NULL DEFAULT false,
             created VARCHAR NOT NULL, report VARCHAR NOT NULL)"
    ))?;
    Ok(())
}

pub fn save(conn: &Connection, table: &str, profile: &Profile) -> Result<()> {
    ensure(conn)?;
    let report = serde_json::to_string(profile).map_err(|e| EngineError::Database(format!("storing the profile: {e}")))?;
    conn.execute(
        &format!("INSERT OR REPLACE INTO {META_SCHEMA}.profiles (table_name, fingerprint, changed, created, report) VALUES (?, ?, false, ?, ?)"),
        duckdb::params![table, profile.fingerprint, profile.created, report],
    )?;
    Ok(())
}

/// A stored profile and whether the table changed since it was made.
pub struct Stored {
    pub profile: Profile,
    pub stale: bool,
}

pub fn load(conn: &Connection, table: &str) -> Result<Option<Stored>> {
    ensure(conn)?;
    let row: Option<(String, bool, String)> = conn
        .query_row(&format!("SELECT fingerprint, changed, report FROM {META_SCHEMA}.profiles WHERE table_name = ?"), [table], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((stored_fingerprint, changed, report)) = row else { return Ok(None) };
    let Ok(profile) = serde_json::from_str::<Profile>(&report) else {
        // Written by another version of the report: profile again.
        return Ok(None);
    };
    let shape = match SourceShape::of(conn, &Source::Table(table.to_string())) {
        Ok(shape) => shape,
        Err(EngineError::TableNotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", crate::engine::sql::quote_ident(table)), [], |r| r.get(0))?;
    let stale = changed || fingerprint(rows as u64, &shape.columns) != stored_fingerprint;
    Ok(Some(Stored { profile, stale }))
}

/// Marks stored profiles stale after a change the fingerprint may not see (an UPDATE from the
/// SQL console): of one table, or of all when `None`.
pub fn mark_changed(conn: &Connection, table: Option<&str>) -> Result<()> {
    ensure(conn)?;
    match table {
        Some(t) => conn.execute(&format!("UPDATE {META_SCHEMA}.profiles SET changed = true WHERE table_name = ?"), [t])?,
        None => conn.execute(&format!("UPDATE {META_SCHEMA}.profiles SET changed = true"), [])?,
    };
    Ok(())
}

/// Forgets a dropped table's profile.
pub fn forget(conn: &Connection, table: &str) -> Result<()> {
    ensure(conn)?;
    conn.execute(&format!("DELETE FROM {META_SCHEMA}.profiles WHERE table_name = ?"), [table])?;
    Ok(())
}
