//! Landing a finished load: the staging table becomes the user's table (renamed, or appended
//! by column name), together with its catalog entry and its rejects, in one transaction.
//! Before that, the load is checked against what the user expects of it.

use std::path::Path;

use duckdb::Connection;

use super::options::ExpectedColumn;
use crate::engine::error::{ChangedValue, EngineError, Result};
use crate::engine::kind::{ColumnKind, survives_cast_sql};
use crate::engine::sql::{SqlType, quote_ident};
use crate::engine::workspace::{register_in_catalog, table_columns};

pub(crate) fn rename_and_register(conn: &Connection, from: &str, to: &str, source: &str, rows: u64) -> Result<()> {
    conn.execute_batch(&format!("ALTER TABLE {} RENAME TO {}", quote_ident(from), quote_ident(to)))?;
    register_in_catalog(conn, to, source, Some(rows))
}

/// What an append may do to the table it goes into.
#[derive(Clone, Debug, Default)]
pub struct AppendRules {
    /// Add columns the table does not have yet (else they are an error).
    pub add_columns: bool,
    /// Change a column's type to one that also holds the new values, when a value would
    /// otherwise change (else that is an error naming it).
    pub widen: bool,
    /// Leave out rows the table already has, equal in these columns (every shared column
    /// when empty).
    pub skip_existing: Option<Vec<String>>,
}

/// Where appended rows come from, for messages: a file's name, and the column that names
/// each row's own file when several were loaded together.
#[derive(Clone, Debug)]
pub struct Origin {
    pub name: String,
    pub file_column: Option<String>,
}

impl Origin {
    pub fn file(path: &Path) -> Self {
        Self { name: crate::engine::error::display_name(path), file_column: None }
    }
}

/// What an append did besides adding rows.
#[derive(Clone, Debug, Default)]
pub struct Appended {
    /// Rows left out because the table had them.
    pub skipped: u64,
    /// Columns whose type was widened, in plain words.
    pub notices: Vec<String>,
}

/// Appends `from` to `into`, matching columns by name, under `rules`. A value that would not
/// be stored exactly (2.5 in a BIGINT column, a time of day in a DATE column) is an error
/// naming its row, column and value, unless `rules.widen` lets the column's type grow to
/// hold it. Run it inside the transaction that lands the rows.
pub fn append_by_name(conn: &Connection, into: &str, from: &str, origin: &Origin, rules: &AppendRules) -> Result<Appended> {
    let target = table_columns(conn, into)?;
    let incoming = table_columns(conn, from)?;
    let mut appended = Appended::default();
    for col in &incoming {
        match target.iter().find(|t| t.name.eq_ignore_ascii_case(&col.name)) {
            None if rules.add_columns => {
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
                // An ENUM (made by "Optimize types") grows to take the new values: nothing changes.
                if t.kind == ColumnKind::Enum && col.kind.is_text() {
                    extend_enum(conn, into, &t.name, &t.data_type, from, &col.name)?;
                    continue;
                }
                let target_type = SqlType::parse(&t.data_type)?;
                let Some(changed) = first_changed(conn, from, &col.name, &col.data_type, &target_type, origin)? else {
                    continue;
                };
                let wider = common_type(conn, &t.data_type, &col.data_type)?;
                let wider = match wider {
                    // The table's own values must fit the wider type too.
                    Some(w) if first_changed(conn, into, &t.name, &t.data_type, &w, &Origin { name: into.to_string(), file_column: None })?.is_none() => Some(w),
                    _ => None,
                };
                match wider {
                    Some(w) if rules.widen => {
                        conn.execute_batch(&format!(
                            "ALTER TABLE {} ALTER COLUMN {} SET DATA TYPE {w}",
                            quote_ident(into),
                            quote_ident(&t.name)
                        ))?;
                        appended.notices.push(format!(
                            "column \"{}\" of \"{into}\" was widened from {} to {w} to hold {} ({}{})",
                            t.name,
                            t.data_type,
                            changed.value,
                            changed.origin,
                            changed.row.map(|r| format!(", row {}", crate::engine::config::group_digits(r))).unwrap_or_default()
                        ));
                    }
                    wider => {
                        return Err(EngineError::ValueChanged(Box::new(ChangedValue {
                            table: Some(into.to_string()),
                            widen_to: wider.map(|w| w.to_string()),
                            ..changed
                        })));
                    }
                }
            }
            Some(_) => {}
        }
    }
    if let Some(keys) = &rules.skip_existing {
        appended.skipped = drop_existing(conn, into, from, keys)?;
    }
    conn.execute_batch(&format!("INSERT INTO {} BY NAME SELECT * FROM {}", quote_ident(into), quote_ident(from)))?;
    Ok(appended)
}

/// Gives the ENUM column `column` of `table` the values of `source.source_column` it lacks.
fn extend_enum(conn: &Connection, table: &str, column: &str, enum_type: &str, source: &str, source_column: &str) -> Result<()> {
    let ty = SqlType::parse(enum_type)?;
    let c = quote_ident(source_column);
    let mut stmt = conn.prepare(&format!(
        "SELECT DISTINCT CAST({c} AS VARCHAR) AS v FROM {} WHERE {c} IS NOT NULL AND TRY_CAST(CAST({c} AS VARCHAR) AS {ty}) IS NULL ORDER BY v",
        quote_ident(source)
    ))?;
    let new_values: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<duckdb::Result<_>>()?;
    if new_values.is_empty() {
        return Ok(());
    }
    let old_values: String = conn.query_row(&format!("SELECT to_json(enum_range(NULL::{ty}))::VARCHAR"), [], |r| r.get(0))?;
    let mut values: Vec<String> = serde_json::from_str(&old_values).map_err(|e| EngineError::Internal(format!("reading an ENUM's values: {e}")))?;
    values.extend(new_values);
    let list: Vec<String> = values.iter().map(|v| crate::engine::sql::quote_literal(v)).collect();
    conn.execute_batch(&format!(
        "ALTER TABLE {} ALTER COLUMN {} SET DATA TYPE ENUM({})",
        quote_ident(table),
        quote_ident(column),
        list.join(", ")
    ))?;
    Ok(())
}

/// The type DuckDB gives a column holding values of both types (BIGINT and DOUBLE → DOUBLE).
fn common_type(conn: &Connection, a: &str, b: &str) -> Result<Option<SqlType>> {
    let (a, b) = (SqlType::parse(a)?, SqlType::parse(b)?);
    let sql = format!("SELECT typeof(v) FROM (SELECT NULL::{a} AS v UNION ALL SELECT NULL::{b}) LIMIT 1");
    match conn.query_row(&sql, [], |r| r.get::<_, String>(0)) {
        Ok(t) => Ok(SqlType::parse(&t).ok()),
        Err(_) => Ok(None),
    }
}

/// The first value of `column` (of type `from_type`) in `table` that would not survive a
/// cast to `to` unchanged, with its row and what it would become.
pub fn first_changed(conn: &Connection, table: &str, column: &str, from_type: &str, to: &SqlType, origin: &Origin) -> Result<Option<ChangedValue>> {
    let c = quote_ident(column);
    let survives = survives_cast_sql(&c, from_type, to);
    let file = match &origin.file_column {
        Some(f) => format!("CAST({} AS VARCHAR)", quote_ident(f)),
        None => "CAST(NULL AS VARCHAR)".to_string(),
    };
    let sql = format!(
        "SELECT rowid + 1, CAST({c} AS VARCHAR), CAST(TRY_CAST({c} AS {to}) AS VARCHAR), {file} FROM {}
         WHERE {c} IS NOT NULL AND NOT coalesce({survives}, false) ORDER BY rowid LIMIT 1",
        quote_ident(table)
    );
    let found = conn.query_row(&sql, [], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, Option<String>>(3)?)));
    match found {
        Ok((row, value, becomes, file)) => Ok(Some(ChangedValue {
            origin: file.map_or_else(|| origin.name.clone(), |f| crate::engine::error::display_name(Path::new(&f))),
            // Rows of several files loaded together are numbered across them.
            row: origin.file_column.is_none().then_some(row.max(0) as u64),
            column: column.to_string(),
            value,
            becomes,
            data_type: to.to_string(),
            table: None,
            widen_to: None,
        })),
        Err(duckdb::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(EngineError::InvalidOption(format!(
            "\"{to}\" is not a usable type for column \"{column}\": {}",
            e.to_string().lines().next().unwrap_or_default()
        ))),
    }
}

/// Deletes the rows of `from` whose `keys` (every shared column when empty) equal those of a
/// row of `into`, NULL matching NULL, values compared in `into`'s types. Returns how many.
fn drop_existing(conn: &Connection, into: &str, from: &str, keys: &[String]) -> Result<u64> {
    let target = table_columns(conn, into)?;
    let incoming = table_columns(conn, from)?;
    let shared: Vec<(&str, &str, &str)> = if keys.is_empty() {
        incoming
            .iter()
            .filter_map(|c| {
                target
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(&c.name))
                    .map(|t| (c.name.as_str(), c.data_type.as_str(), t.data_type.as_str()))
            })
            .collect()
    } else {
        keys.iter()
            .map(|k| {
                let incoming = incoming.iter().find(|c| c.name.eq_ignore_ascii_case(k));
                let target = target.iter().find(|t| t.name.eq_ignore_ascii_case(k));
                match (incoming, target) {
                    (Some(c), Some(t)) => Ok((c.name.as_str(), c.data_type.as_str(), t.data_type.as_str())),
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
        .map(|(name, from_type, to_type)| {
            let c = quote_ident(name);
            let ty = SqlType::parse(to_type)?;
            // A value the table's type would change (2.5 in a BIGINT column) matches nothing:
            // the append then reports it, rather than skip it as "already there".
            let survives = survives_cast_sql(&format!("s.{c}"), from_type, &ty);
            Ok(format!("t.{c} IS NOT DISTINCT FROM TRY_CAST(s.{c} AS {ty}) AND (s.{c} IS NULL OR coalesce({survives}, false))"))
        })
        .collect::<Result<_>>()?;
    let removed = conn.execute(
        &format!("DELETE FROM {} AS s WHERE EXISTS (SELECT 1 FROM {} AS t WHERE {})", quote_ident(from), quote_ident(into), matches.join(" AND ")),
        [],
    )?;
    Ok(removed as u64)
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
