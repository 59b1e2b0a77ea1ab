//! Delimited text through DuckDB's `read_csv`, with the fallbacks for files whose first
//! rows mislead the sniffer, and rejects for `--on-error skip`.

use std::path::{Path, PathBuf};

use duckdb::Connection;

use super::errors::{conversion_failure, read_error};
use super::options::{ImportOptions, OnError};
pub use crate::engine::config::group_digits;
use crate::engine::error::{EngineError, Result};
use crate::engine::job::JobCtx;
use crate::engine::sql::{quote_ident, quote_literal};
use crate::engine::workspace::table_columns;

/// DuckDB's default sniffer sample, in rows.
const SNIFF_SAMPLE_ROWS: u64 = 20_480;
/// Guards against a loop over a very wide file where each retry finds one more column.
const MAX_TEXT_FALLBACKS: usize = 64;

/// What a retry changes.
#[derive(Clone, Debug, Default)]
pub struct Attempt {
    /// Sniff over the whole file instead of the first rows.
    pub sample_all: bool,
    /// `strict_mode=false`: tolerate mixed line endings and stray quotes.
    pub lenient: bool,
    /// Columns read as VARCHAR after a value did not fit.
    pub text_columns: Vec<String>,
}

/// The `read_csv(...)` call for `paths` with the user's options and this attempt's fallbacks.
pub fn reader_sql(paths: &[PathBuf], opts: &ImportOptions, attempt: &Attempt, rejects: Option<(&str, &str)>) -> String {
    format!("read_csv({})", reader_args(paths, opts, attempt, rejects))
}

/// The arguments `read_csv` and `sniff_csv` share.
fn reader_args(paths: &[PathBuf], opts: &ImportOptions, attempt: &Attempt, rejects: Option<(&str, &str)>) -> String {
    let mut args = vec![paths_literal(paths)];
    let c = &opts.csv;
    if let Some(d) = &c.delimiter {
        args.push(format!("delim = {}", quote_literal(d)));
    }
    if let Some(q) = &c.quote {
        args.push(format!("quote = {}", quote_literal(q)));
    }
    if let Some(e) = &c.escape {
        args.push(format!("escape = {}", quote_literal(e)));
    }
    if let Some(h) = c.header {
        args.push(format!("header = {h}"));
    }
    if let Some(s) = c.skip {
        args.push(format!("skip = {s}"));
    }
    if let Some(comment) = &c.comment {
        args.push(format!("comment = {}", quote_literal(comment)));
    }
    if !c.nulls.is_empty() {
        let mut nulls: Vec<String> = c.nulls.iter().map(|n| quote_literal(n)).collect();
        if !c.nulls.iter().any(String::is_empty) {
            nulls.push("''".into());
        }
        args.push(format!("nullstr = [{}]", nulls.join(", ")));
    }
    if let Some(f) = &c.date_format {
        args.push(format!("dateformat = {}", quote_literal(f)));
    }
    if let Some(f) = &c.timestamp_format {
        args.push(format!("timestampformat = {}", quote_literal(f)));
    }
    let mut types: Vec<(String, String)> = opts
        .types
        .iter()
        .filter(|(name, _)| !attempt.text_columns.contains(name))
        .cloned()
        .collect();
    types.extend(attempt.text_columns.iter().map(|c| (c.clone(), "VARCHAR".to_string())));
    if !types.is_empty() {
        let entries: Vec<String> = types.iter().map(|(n, t)| format!("{}: {}", quote_literal(n), quote_literal(t))).collect();
        args.push(format!("types = {{{}}}", entries.join(", ")));
    }
    if attempt.sample_all {
        args.push("sample_size = -1".into());
    }
    if attempt.lenient {
        args.push("strict_mode = false".into());
    }
    if paths.len() > 1 {
        args.push("union_by_name = true".into());
    }
    if let Some((table, scan)) = rejects {
        args.push(format!("store_rejects = true, rejects_table = {}, rejects_scan = {}", quote_literal(table), quote_literal(scan)));
    }
    args.join(", ")
}

pub fn paths_literal(paths: &[PathBuf]) -> String {
    if paths.len() == 1 {
        quote_literal(&paths[0].to_string_lossy())
    } else {
        let list: Vec<String> = paths.iter().map(|p| quote_literal(&p.to_string_lossy())).collect();
        format!("[{}]", list.join(", "))
    }
}

/// A finished CSV load.
pub struct Loaded {
    pub rows: u64,
    /// Rejected lines, in a temporary table of this connection.
    pub rejects: Option<(String, u64)>,
}

/// Loads `paths` into `staging`, retrying with the fallbacks the error calls for; every
/// fallback taken is described in `notices`.
pub fn load(
    conn: &Connection,
    staging: &str,
    paths: &[PathBuf],
    source: &Path,
    opts: &ImportOptions,
    ctx: &JobCtx,
    notices: &mut Vec<String>,
) -> Result<Loaded> {
    let mut attempt = Attempt::default();
    let skip = opts.on_error == OnError::Skip;
    let mut tries = 0;
    // A column whose guessed type a value broke; after the full scan it may be text.
    let mut widened: Option<(String, String)> = None;
    // When fallbacks fail too, the first located error says most.
    let mut first_error: Option<EngineError> = None;
    loop {
        tries += 1;
        ctx.checkpoint()?;
        let rejects = skip.then(|| rejects_names(staging, tries));
        let err = match create(conn, staging, paths, opts, &attempt, rejects.as_ref()) {
            Ok(rows) => {
                if let Some((column, why)) = widened.take().filter(|(c, _)| !attempt.text_columns.contains(c)) {
                    let is_text = table_columns(conn, staging)?
                        .iter()
                        .any(|c| c.name == column && c.data_type == "VARCHAR");
                    if is_text {
                        notices.push(format!("column \"{column}\" was kept as text: {why}"));
                    }
                }
                let Some((table, scans)) = rejects else {
                    return Ok(Loaded { rows, rejects: None });
                };
                let count = count_rejects(conn, &table, &scans)?;
                // Rejects may only mean the sniffer's sample misled it: one retry over the whole file.
                if count > 0 && !attempt.sample_all && !dialect_fixed(opts) {
                    let alt = format!("{staging}_alt");
                    let wide = Attempt { sample_all: true, ..attempt.clone() };
                    let retried = load_with_rejects_once(conn, &alt, paths, opts, &wide, tries + 1);
                    match retried {
                        Ok((alt_rows, alt_rejects, alt_count)) if alt_count < count => {
                            conn.execute_batch(&format!(
                                "DROP TABLE {s}; ALTER TABLE {a} RENAME TO {s}",
                                s = quote_ident(staging),
                                a = quote_ident(&alt)
                            ))?;
                            drop_temp(conn, &table);
                            notices.push(format!(
                                "{} lines did not fit the layout guessed from the first {} rows; scanning the whole file to detect it left {} rejected",
                                group_digits(count),
                                group_digits(SNIFF_SAMPLE_ROWS),
                                group_digits(alt_count)
                            ));
                            let rejects = if alt_count > 0 { Some((alt_rejects, alt_count)) } else {
                                drop_temp(conn, &alt_rejects);
                                None
                            };
                            return Ok(Loaded { rows: alt_rows, rejects });
                        }
                        Ok((_, alt_rejects, _)) => drop_temp(conn, &alt_rejects),
                        Err(e) if e.is_cancelled() => {
                            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(&alt)));
                            return Err(e);
                        }
                        Err(_) => {}
                    }
                    let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(&alt)));
                }
                if count == 0 {
                    drop_temp(conn, &table);
                    return Ok(Loaded { rows, rejects: None });
                }
                return Ok(Loaded { rows, rejects: Some((table, count)) });
            }
            Err(err) => err,
        };
        if let Some((table, scans)) = &rejects {
            drop_temp(conn, table);
            drop_temp(conn, scans);
        }
        let text = err.to_string();
        let located = read_error(source, err);
        if located.is_cancelled() {
            return Err(located);
        }
        let (line, column) = match &located {
            EngineError::InvalidData { line, column, .. } => (*line, column.clone()),
            _ => (None, None),
        };
        let at_line = line.map(|l| format!(" at line {}", group_digits(l))).unwrap_or_default();
        if !attempt.lenient && (text.contains("invalid state") || text.contains("Error when sniffing file")) {
            attempt.lenient = true;
            notices.push(format!(
                "the file does not follow the CSV standard strictly (mixed line endings or stray quotes{at_line}); it was read in lenient mode"
            ));
            remember(&mut first_error, located);
            continue;
        }
        let conversion = conversion_failure(&text);
        let user_typed = column.as_ref().is_some_and(|c| opts.types.iter().any(|(n, _)| n == c));
        let guessed = if conversion.is_some() {
            !user_typed && text.contains("auto-detected")
        } else {
            text.contains("Auto-Detected") && !dialect_fixed(opts)
        };
        if guessed && !attempt.sample_all && !skip {
            attempt.sample_all = true;
            let culprit = line.map_or_else(|| "a later line".to_string(), |l| format!("line {}", group_digits(l)));
            notices.push(format!(
                "{culprit} did not fit the layout guessed from the first {} rows; the whole file was scanned to detect it",
                group_digits(SNIFF_SAMPLE_ROWS)
            ));
            if let (Some(column), Some((value, data_type))) = (&column, conversion) {
                widened = Some((column.clone(), format!("\"{value}\"{at_line} is not a valid {data_type}")));
            }
            remember(&mut first_error, located);
            continue;
        }
        if let (Some(column), Some((value, data_type))) = (&column, conversion) {
            let may_fall_back = if user_typed { opts.on_error == OnError::Text } else { !skip };
            if may_fall_back && !attempt.text_columns.contains(column) && attempt.text_columns.len() < MAX_TEXT_FALLBACKS {
                attempt.text_columns.push(column.clone());
                notices.push(format!("column \"{column}\" was kept as text: \"{value}\"{at_line} is not a valid {data_type}"));
                remember(&mut first_error, located);
                continue;
            }
        }
        return Err(match first_error {
            Some(first) if line.is_none() => first,
            _ => located,
        });
    }
}

/// Keeps the first error that names a line.
fn remember(first: &mut Option<EngineError>, err: EngineError) {
    if first.is_none() && matches!(err, EngineError::InvalidData { line: Some(_), .. }) {
        *first = Some(err);
    }
}

/// Names of the temporary rejects and scans tables of one attempt.
fn rejects_names(staging: &str, attempt: usize) -> (String, String) {
    (format!("{staging}_rejects_{attempt}"), format!("{staging}_scans_{attempt}"))
}

/// (Re)creates `target` from the file; returns the rows read.
fn create(
    conn: &Connection,
    target: &str,
    paths: &[PathBuf],
    opts: &ImportOptions,
    attempt: &Attempt,
    rejects: Option<&(String, String)>,
) -> duckdb::Result<u64> {
    let reader = reader_sql(paths, opts, attempt, rejects.map(|(t, s)| (t.as_str(), s.as_str())));
    let rows = conn.execute(&format!("CREATE OR REPLACE TABLE {} AS SELECT * FROM {reader}", quote_ident(target)), [])?;
    Ok(rows as u64)
}

/// Drops the scans table of a load and counts its rejected lines.
fn count_rejects(conn: &Connection, table: &str, scans: &str) -> Result<u64> {
    drop_temp(conn, scans);
    let count: i64 = conn.query_row(&format!("SELECT count(*) FROM temp.{}", quote_ident(table)), [], |r| r.get(0))?;
    Ok(count.max(0) as u64)
}

/// One load with rejects kept: (rows, rejects table, rejected lines).
fn load_with_rejects_once(
    conn: &Connection,
    target: &str,
    paths: &[PathBuf],
    opts: &ImportOptions,
    attempt: &Attempt,
    n: usize,
) -> Result<(u64, String, u64)> {
    let names = rejects_names(target, n);
    let rows = create(conn, target, paths, opts, attempt, Some(&names)).map_err(|e| read_error(&paths[0], e))?;
    let count = count_rejects(conn, &names.0, &names.1)?;
    Ok((rows, names.0, count))
}

fn drop_temp(conn: &Connection, table: &str) {
    let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS temp.{}", quote_ident(table)));
}

/// True when the user fixed delimiter and quote, so a bigger sample cannot change the layout.
fn dialect_fixed(opts: &ImportOptions) -> bool {
    opts.csv.delimiter.is_some() && opts.csv.quote.is_some()
}

/// Copies the temporary rejects of a load into `target` as a plain table.
pub fn save_rejects(conn: &Connection, temp_table: &str, target: &str, source: &Path) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE {} AS SELECT {} AS file, line, column_name AS \"column\", error_type::VARCHAR AS error,
             csv_line AS raw_line, error_message AS reason
         FROM temp.{} ORDER BY line, column_idx",
        quote_ident(target),
        quote_literal(&source.to_string_lossy()),
        quote_ident(temp_table)
    ))?;
    drop_temp(conn, temp_table);
    Ok(())
}

/// The dialect DuckDB's sniffer settles on, for the preview dialog.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Dialect {
    pub delimiter: String,
    pub quote: String,
    pub escape: String,
    pub newline: String,
    pub skip: u64,
    pub header: bool,
    pub comment: String,
    pub date_format: String,
    pub timestamp_format: String,
    pub columns: Vec<(String, String)>,
}

pub fn sniff(conn: &Connection, path: &Path, opts: &ImportOptions, attempt: &Attempt) -> Result<Dialect> {
    let args = reader_args(&[path.to_path_buf()], opts, attempt, None);
    let sql = format!(
        "SELECT Delimiter, Quote, Escape, NewLineDelimiter, SkipRows, HasHeader, Comment,
                coalesce(DateFormat, ''), coalesce(TimestampFormat, ''),
                to_json(Columns)::VARCHAR
         FROM sniff_csv({args})"
    );
    let row = conn.query_row(&sql, [], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, bool>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
            r.get::<_, String>(9)?,
        ))
    });
    let row = row.map_err(|e| read_error(path, e))?;
    let columns: Vec<serde_json::Value> = serde_json::from_str(&row.9).unwrap_or_default();
    let columns = columns
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or_default().to_string(), c["type"].as_str().unwrap_or_default().to_string()))
        .collect();
    let empty = |s: String| if s == "(empty)" { String::new() } else { s };
    Ok(Dialect {
        delimiter: row.0,
        quote: empty(row.1),
        escape: empty(row.2),
        newline: row.3,
        skip: row.4.max(0) as u64,
        header: row.5,
        comment: empty(row.6),
        date_format: row.7,
        timestamp_format: row.8,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_quoted_reader_calls() {
        let mut opts = ImportOptions::new();
        opts.csv.delimiter = Some(";".into());
        opts.csv.nulls = vec!["n/a".into(), "it's".into()];
        opts.types = vec![("a'b".into(), "BIGINT".into())];
        let attempt = Attempt { sample_all: true, lenient: false, text_columns: vec!["c".into()] };
        let sql = reader_sql(&[PathBuf::from("/x/o'k.csv")], &opts, &attempt, None);
        assert_eq!(
            sql,
            "read_csv('/x/o''k.csv', delim = ';', nullstr = ['n/a', 'it''s', ''], types = {'a''b': 'BIGINT', 'c': 'VARCHAR'}, sample_size = -1)"
        );
        assert_eq!(group_digits(1_234_567), "1,234,567");
        assert_eq!(group_digits(999), "999");
    }
}
