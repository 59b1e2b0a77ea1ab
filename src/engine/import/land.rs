//! Landing a finished load: the staging table becomes the user's table (renamed, or appended
//! by column name), together with its catalog entry and its rejects, in one transaction.
//! Before that, the load is checked against what the user expects of it.

use std::path::Path;

use duckdb::Connection;

use super::options::ExpectedColumn;
use crate::engine::error::{EngineError, Result};
use crate::engine::sql::{META_SCHEMA, SqlType, quote_ident};
use crate::engine::workspace::{register_in_catalog, table_columns};

pub(crate) fn rename_and_register(conn: &Connection, from: &str, to: &str, source: &str, rows: u64) -> Result<()> {
    conn.execute_batch(&format!("ALTER TABLE {} RENAME TO {}", quote_ident(from), quote_ident(to)))?;
    register_in_catalog(conn, to, source, Some(rows))
}

/// Appends `from` to `into`, matching columns by name. Columns `into` lacks are added when
/// `add_columns`, else they are an error; values that do not fit a column's type are an error
/// naming the column and the value.
pub fn append_by_name(conn: &Connection, into: &str, from: &str, add_columns: bool) -> Result<()> {
    let target = table_columns(conn, into)?;
    let incoming = table_columns(conn, from)?;
    for col in &incoming {
        match target.iter().find(|t| t.name.eq_ignore_ascii_case(&col.name)) {
            None if add_columns => {
                let ty = SqlType::parse(&col.data_type)?;
                conn.execute_batch(&format!("ALTER TABLE {} ADD COLUMN {} {ty}", quote_ident(into), quote_ident(&col.name)))?
            }
            None => {
                return Err(EngineError::SchemaMismatch(format!(
                    "column \"{}\" is not in table \"{into}\"; allow adding new columns to append it",
                    col.name
                )));
            }
            Some(t) if t.data_type != col.data_type => {
                if let Some(value) = first_uncastable(conn, from, &col.name, &SqlType::parse(&t.data_type)?)? {
                    return Err(EngineError::SchemaMismatch(format!(
                        "column \"{}\": \"{value}\" cannot be stored in table \"{into}\", whose column is {}",
                        col.name, t.data_type
                    )));
                }
            }
            Some(_) => {}
        }
    }
    conn.execute_batch(&format!("INSERT INTO {} BY NAME SELECT * FROM {}", quote_ident(into), quote_ident(from)))?;
    Ok(())
}

/// Deletes the rows of `from` whose `keys` (every shared column when empty) equal those of a
/// row of `into`, NULL matching NULL, values compared in `into`'s types. Returns how many.
pub(crate) fn drop_existing(conn: &Connection, into: &str, from: &str, keys: &[String]) -> Result<u64> {
    let target = table_columns(conn, into)?;
    let incoming = table_columns(conn, from)?;
    let shared: Vec<(&str, &str)> = if keys.is_empty() {
        incoming
            .iter()
            .filter_map(|c| target.iter().find(|t| t.name.eq_ignore_ascii_case(&c.name)).map(|t| (c.name.as_str(), t.data_type.as_str())))
            .collect()
    } else {
        keys.iter()
            .map(|k| {
                let incoming = incoming.iter().find(|c| c.name.eq_ignore_ascii_case(k));
                let target = target.iter().find(|t| t.name.eq_ignore_ascii_case(k));
                match (incoming, target) {
                    (Some(c), Some(t)) => Ok((c.name.as_str(), t.data_type.as_str())),
                    (None, _) => Err(EngineError::ColumnNotFound { table: "the file".into(), column: k.clone() }),
                    (_, None) => Err(EngineError::ColumnNotFound { table: into.to_string(), column: k.clone() }),
                }
            })
            .collect::<Result<_>>()?
    };
    if shared.is_empty() {
        return Ok(0);
    }
    let matches: Vec<String> = shared
        .iter()
        .map(|(name, ty)| {
            let c = quote_ident(name);
            let ty = SqlType::parse(ty)?;
            // A value that does not fit the table's type matches nothing (the append then
            // reports it), rather than matching NULL.
            Ok(format!("t.{c} IS NOT DISTINCT FROM TRY_CAST(s.{c} AS {ty}) AND (s.{c} IS NULL OR TRY_CAST(s.{c} AS {ty}) IS NOT NULL)"))
        })
        .collect::<Result<_>>()?;
    let removed = conn.execute(
        &format!("DELETE FROM {} AS s WHERE EXISTS (SELECT 1 FROM {} AS t WHERE {})", quote_ident(from), quote_ident(into), matches.join(" AND ")),
        [],
    )?;
    Ok(removed as u64)
}

/// The total rows of `table`, recorded in the catalog after an append.
pub(crate) fn record_rows(conn: &Connection, table: &str) -> Result<u64> {
    let total: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(table)), [], |r| r.get(0))?;
    conn.execute(&format!("UPDATE {META_SCHEMA}.tables SET rows = ? WHERE lower(name) = lower(?)"), duckdb::params![total, table])?;
    Ok(total.max(0) as u64)
}

/// The first non-null value of `column` that does not cast to `ty`.
pub(crate) fn first_uncastable(conn: &Connection, table: &str, column: &str, ty: &SqlType) -> Result<Option<String>> {
    let col = quote_ident(column);
    let sql = format!("SELECT {col}::VARCHAR FROM {} WHERE {col} IS NOT NULL AND TRY_CAST({col} AS {ty}) IS NULL LIMIT 1", quote_ident(table));
    match conn.query_row(&sql, [], |r| r.get::<_, String>(0)) {
        Ok(v) => Ok(Some(v)),
        Err(duckdb::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(EngineError::InvalidOption(format!(
            "\"{ty}\" is not a usable type for column \"{column}\": {}",
            e.to_string().lines().next().unwrap_or_default()
        ))),
    }
}

/// Checks the loaded columns against the user's expected schema.
pub(crate) fn validate_expected(conn: &Connection, staging: &str, expect: &[ExpectedColumn], file: &Path) -> Result<()> {
    if expect.is_empty() {
        return Ok(());
    }
    let columns = table_columns(conn, staging)?;
    let fail = |column: &str, reason: String| EngineError::InvalidData { file: file.to_path_buf(), line: None, column: Some(column.to_string()), reason };
    for e in expect {
        let Some(col) = columns.iter().find(|c| c.name.eq_ignore_ascii_case(&e.name)) else {
            let have: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            return Err(fail(&e.name, format!("the expected column is missing (the file has: {})", have.join(", "))));
        };
        if let Some(ty) = &e.data_type {
            if !same_type(&col.data_type, ty.as_str()) {
                return Err(fail(&col.name, format!("expected type {ty}, the file has {}", col.data_type)));
            }
        }
        if e.not_null {
            let nulls: i64 = conn.query_row(
                &format!("SELECT count(*) FROM {} WHERE {} IS NULL", quote_ident(staging), quote_ident(&col.name)),
                [],
                |r| r.get(0),
            )?;
            if nulls > 0 {
                return Err(fail(&col.name, format!("{nulls} rows have no value, but the schema requires one")));
            }
        }
    }
    Ok(())
}

fn same_type(actual: &str, expected: &str) -> bool {
    let norm = |t: &str| match t.trim().to_ascii_uppercase().as_str() {
        "INT" | "INT4" | "INTEGER" => "INTEGER".to_string(),
        "INT8" | "LONG" | "BIGINT" => "BIGINT".to_string(),
        "FLOAT8" | "DOUBLE" => "DOUBLE".to_string(),
        "TEXT" | "STRING" | "VARCHAR" => "VARCHAR".to_string(),
        "BOOL" | "BOOLEAN" => "BOOLEAN".to_string(),
        "DATETIME" | "TIMESTAMP" => "TIMESTAMP".to_string(),
        other => other.replace(' ', ""),
    };
    norm(actual) == norm(expected)
}
