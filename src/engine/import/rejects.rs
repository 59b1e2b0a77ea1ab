//! Lines a CSV load rejected (`--on-error skip`): DuckDB's `store_rejects` tables hold one
//! error per bad field; here they become one row per rejected line, with the reason in plain
//! words, for the `<table>_rejects` table and for the import window's preview.

use std::path::Path;

use duckdb::Connection;

use crate::engine::error::Result;
use crate::engine::sql::{quote_ident, quote_literal};

/// Names of the temporary rejects and scans tables of one attempt.
pub(super) fn rejects_names(staging: &str, attempt: usize) -> (String, String) {
    (format!("{staging}_rejects_{attempt}"), format!("{staging}_scans_{attempt}"))
}

/// Lines a load rejected: DuckDB records one error per bad field, a line is counted once.
pub(super) fn count_rejects(conn: &Connection, table: &str) -> Result<u64> {
    let count: i64 = conn.query_row(&format!("SELECT count(*) FROM (SELECT DISTINCT scan_id, file_id, line FROM temp.{})", quote_ident(table)), [], |r| r.get(0))?;
    Ok(count.max(0) as u64)
}

pub(super) fn drop_temp(conn: &Connection, table: &str) {
    let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS temp.{}", quote_ident(table)));
}

/// One row per rejected line (DuckDB records one per bad field): the file, the line, the
/// first bad column, the raw line and the reason in plain words.
fn rejected_lines_sql((table, scans): (&str, &str), file: &str) -> String {
    format!(
        "SELECT {file} AS file, e.line, arg_min(e.column_name, e.column_idx) AS \"column\",
             arg_min(e.error_type::VARCHAR, e.column_idx) AS error, any_value(e.csv_line) AS raw_line,
             regexp_replace(regexp_replace(arg_max(e.error_message, e.column_idx),
                 'Expected Number of Columns: (\\d+) Found: (\\d+).*', 'expected \\1 columns but the line has \\2'),
                 '.*Could not convert string \"(.*)\" to ''(.*)''.*', '\"\\1\" is not a valid \\2') AS reason
         FROM temp.{} e LEFT JOIN temp.{} s USING (scan_id, file_id)
         GROUP BY e.scan_id, e.file_id, {file}, e.line ORDER BY e.scan_id, e.file_id, e.line",
        quote_ident(table),
        quote_ident(scans)
    )
}

/// Rejected lines among the first `rows` data rows of a preview read: (line, reason).
pub fn early_rejects(conn: &Connection, tables: (&str, &str), first_lines: u64) -> Result<Vec<(u64, String)>> {
    let sql = format!("SELECT line, reason FROM ({}) WHERE line <= ? ORDER BY line LIMIT 5", rejected_lines_sql(tables, "''"));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([first_lines as i64], |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get::<_, String>(1)?)))?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}

/// Adds the lines a load rejected to `target` (created when missing).
pub fn save_rejects(conn: &Connection, (table, scans): (&str, &str), target: &str, source: &Path, is_pattern: bool) -> Result<()> {
    // A glob's rows name the file each line came from; otherwise the file the user named
    // (the reader may have read a converted copy).
    let file = if is_pattern { "s.file_path".to_string() } else { quote_literal(&source.to_string_lossy()) };
    let select = rejected_lines_sql((table, scans), &file);
    let exists = crate::engine::workspace::table_exists(conn, target)?;
    if exists {
        conn.execute_batch(&format!("INSERT INTO {} {select}", quote_ident(target)))?;
    } else {
        conn.execute_batch(&format!("CREATE TABLE {} AS {select}", quote_ident(target)))?;
    }
    drop_temp(conn, table);
    drop_temp(conn, scans);
    Ok(())
}

