//! Delimited text through DuckDB's `read_csv`.
//!
//! A file is sniffed once ([`prepare`]): DuckDB's sniffer proposes the layout and column
//! types, the lines themselves are checked when it proposes a single column (a delimiter it
//! missed, or fields split by spaces), and "NA"-style missing values are recognised in number
//! and date columns. The read then uses exactly that layout (`auto_detect = false`), so the
//! preview, the import and a file opened in place agree. When the read meets a line the
//! sample did not foresee, [`load`] retries with the fallback the failure calls for and says
//! so in a notice; bad lines go to a rejects table with `--on-error skip`.

use std::path::{Path, PathBuf};

use duckdb::Connection;

use super::options::{ImportOptions, OnError};
use super::rejects::{count_rejects, drop_temp, rejects_names};
use super::sniff::{self, Dialect, LineSplit};
use super::whitespace;
use crate::engine::config::group_digits;
use crate::engine::error::{ChangedValue, DuckMessage, EngineError, Result, duckdb_message::MessageKind};
use crate::engine::job::JobCtx;
use crate::engine::kind::{ColumnKind, strict_cast_sql, text_cast_can_change};
use crate::engine::sql::{SqlType, quote_ident, quote_literal};

/// DuckDB's default sniffer sample, in rows.
const SNIFF_SAMPLE_ROWS: u64 = 20_480;
/// Guards against a loop over a very wide file where each retry finds one more column.
const MAX_TEXT_FALLBACKS: usize = 64;
/// Text read as a missing value in number and date columns unless the user turns it off.
pub const NA_TOKENS: [&str; 6] = ["NA", "N/A", "NULL", "null", "NaN", "nan"];
/// Bytes of the file's start the layout checks read.
const HEAD_BYTES: usize = 1 << 20;

/// What a retry changes.
#[derive(Clone, Debug, Default)]
pub struct Attempt {
    /// Sniff over the whole file instead of the first rows.
    pub sample_all: bool,
    /// `strict_mode=false`: tolerate mixed line endings and stray quotes.
    pub lenient: bool,
    /// Sniff past lines with another number of fields (a few ragged lines in the sample).
    pub tolerant: bool,
    /// Columns read as VARCHAR after a value did not fit.
    pub text_columns: Vec<String>,
    /// Columns read in another type than the sniffer's, after a value needed it
    /// (nanoseconds: TIMESTAMP_NS).
    pub type_overrides: Vec<(String, SqlType)>,
    /// A delimiter found in the lines after the sniffer saw one column.
    pub delimiter: Option<String>,
    /// Read the NA tokens as missing values (they were seen in the file).
    pub na_tokens: bool,
    /// NA tokens are missing values in text columns too (after bad lines had to be skipped).
    pub na_everywhere: bool,
}

/// A file ready to be read: what to read and in which layout.
pub struct Prepared {
    /// The file DuckDB reads: the original, or a CSV rewrite of whitespace-separated text.
    pub path: PathBuf,
    pub attempt: Attempt,
    pub dialect: Dialect,
    /// Keeps a rewritten file until the read is done.
    _rewritten: Option<tempfile::TempPath>,
}

/// How much of a whitespace-separated file [`prepare`] may rewrite as CSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewrite {
    Whole,
    /// The first bytes only (previews).
    Start(u64),
    /// None: the file must be readable where it is (opened in place).
    Refuse,
}

/// Sniffs `path` (UTF-8 text; `source` is the file the user named) and settles how to read
/// it.
///
/// # Failure
/// A located error when no layout fits the lines, or the file is wider than dataforge reads.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    conn: &Connection,
    path: &Path,
    source: &Path,
    opts: &ImportOptions,
    temp_dir: &Path,
    rewrite: Rewrite,
    ctx: &JobCtx,
    notices: &mut Vec<String>,
) -> Result<Prepared> {
    let sniff_path = first_file(conn, path)?;
    let head = super::encoding::sample(&sniff_path, HEAD_BYTES).unwrap_or_default();
    sniff::check_width(source, &head)?;
    let head = String::from_utf8_lossy(&head);
    let mut attempt = Attempt::default();
    let mut dialect = sniff_with_fallbacks(conn, path, source, opts, &mut attempt, notices)?;
    let mut rewritten = None;
    let mut read_path = path.to_path_buf();
    if dialect.columns.len() == 1 && opts.csv.delimiter.is_none() {
        let skip = usize::try_from(dialect.skip).unwrap_or(0);
        let comment = dialect.comment.chars().next();
        match sniff::split_lines(&head, skip, comment) {
            LineSplit::Delimiter { delimiter, fields } if delimiter.to_string() != dialect.delimiter => {
                // Only a layout with the fields the lines show is taken: some lines may have
                // other counts (often why the sniffer gave up), which the read then names.
                let mut retry = Attempt { delimiter: Some(delimiter.to_string()), ..attempt.clone() };
                let mut retry_notices = Vec::new();
                match sniff_expecting(conn, path, source, opts, &mut retry, Some(fields), &mut retry_notices) {
                    Ok(found) => {
                        notices.push(format!(
                            "the first rows looked like one column, but the lines split on {} into {fields} fields; they were read that way",
                            delimiter_name(delimiter)
                        ));
                        notices.extend(retry_notices);
                        attempt = retry;
                        dialect = found;
                    }
                    Err(e) if e.is_cancelled() => return Err(e),
                    Err(_) => notices.push(format!(
                        "loaded as one column: the lines split on {} into {fields} fields, but no layout reads them that way; choose the delimiter and quote yourself",
                        delimiter_name(delimiter)
                    )),
                }
            }
            LineSplit::Delimiter { delimiter, fields } => notices.push(format!(
                "loaded as one column although the lines split on {} into {fields} fields; check the quote character",
                delimiter_name(delimiter)
            )),
            LineSplit::Whitespace { .. } if rewrite == Rewrite::Refuse => {
                return Err(EngineError::Unsupported(format!(
                    "{}: its fields are separated by spaces, which is read through a converted copy; import it instead of opening it in place",
                    super::display_name(source)
                )));
            }
            LineSplit::Whitespace { fields, row_names } => {
                let max_bytes = match rewrite {
                    Rewrite::Start(bytes) => Some(bytes),
                    _ => None,
                };
                let na_is_null = opts.csv.nulls.is_empty() && opts.csv.na_as_null;
                let row_names = row_names && opts.csv.header != Some(false);
                let converted = whitespace::convert(path, temp_dir, skip, row_names, na_is_null, max_bytes, ctx)?;
                read_path = converted.to_path_buf();
                let mut retry = Attempt { delimiter: Some(",".into()), ..Attempt::default() };
                // The rewrite quotes with `"`, whatever the original used.
                let csv_opts = ImportOptions { csv: super::options::CsvOptions { quote: None, escape: None, ..opts.csv.clone() }, ..opts.clone() };
                dialect = sniff_with_fallbacks(conn, &read_path, source, &csv_opts, &mut retry, notices)?;
                attempt = retry;
                notices.push(format!("fields are separated by spaces, not by a delimiter (as R's write.table writes them); read as {fields} columns"));
                if row_names {
                    notices.push(format!(
                        "the header names one column fewer than the rows hold (R's row names); the first column is named \"{}\"",
                        whitespace::ROW_NAMES
                    ));
                }
                rewritten = Some(converted);
            }
            LineSplit::Ragged { delimiter } => notices.push(format!(
                "loaded as one column: many lines contain {}, but not the same number of times; if the file has columns, choose its delimiter",
                delimiter_name(delimiter)
            )),
            _ => {}
        }
    }
    if opts.csv.nulls.is_empty() && opts.csv.na_as_null && !attempt.na_tokens && has_na_fields(&head, &dialect) {
        attempt.na_tokens = true;
        dialect = sniff_with_fallbacks(conn, &read_path, source, opts, &mut attempt, &mut Vec::new())?;
    }
    Ok(Prepared { path: read_path, attempt, dialect, _rewritten: rewritten })
}

/// The common case in one sniff and one read: a file with several columns, no "NA"-style
/// values to keep apart and no bad lines to reject, whose layout DuckDB's sniffer finds at
/// once ([`prepare`] tries fallbacks). `None` (with nothing left behind) when the file
/// needs the full treatment.
///
/// The layout is the one [`prepare`] would find: the same sniffer with the same options.
pub fn plain_load(conn: &Connection, target: &str, path: &Path, source: &Path, opts: &ImportOptions) -> Result<Option<u64>> {
    if opts.on_error == OnError::Skip || path.to_string_lossy().contains(['*', '?', '[']) {
        return Ok(None);
    }
    let head = super::encoding::sample(path, HEAD_BYTES).unwrap_or_default();
    sniff::check_width(source, &head)?;
    let head = String::from_utf8_lossy(&head);
    let may_hold_na = opts.csv.nulls.is_empty() && opts.csv.na_as_null && [',', ';', '\t', '|'].iter().any(|d| {
        head.lines().any(|line| line.split(*d).any(|f| NA_TOKENS.contains(&f.trim().trim_matches('"'))))
    });
    if may_hold_na {
        return Ok(None);
    }
    let mut args = vec![quote_literal(&path.to_string_lossy())];
    args.extend(user_args(opts, &Attempt::default()));
    let Ok(dialect) = sniff::sniff_dialect(conn, &args.join(", ")) else {
        return Ok(None);
    };
    // The layout is fixed from here: the read does not sniff again. Columns whose cast
    // could change a value (a decimal in a whole-number column past the sniffer's sample)
    // are read as text and cast strictly.
    let Ok(select) = select_sql(path, opts, &Attempt::default(), &dialect, None) else {
        return Ok(None);
    };
    tracing::debug!("plain load: {select}");
    let created = create(conn, target, &select);
    let columns = created.as_ref().ok().map(|_| crate::engine::workspace::table_columns(conn, target).map(|c| c.len()));
    match (created, columns) {
        (Ok(rows), Some(Ok(n))) if n > 1 => Ok(Some(rows)),
        (Err(e), _) if DuckMessage::new(&e.to_string()).kind() == MessageKind::Interrupted => Err(EngineError::Cancelled),
        _ => {
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(target)));
            Ok(None)
        }
    }
}

/// The file DuckDB sniffs for `path`: the path itself, or the first file a glob matches.
fn first_file(conn: &Connection, path: &Path) -> Result<PathBuf> {
    let text = path.to_string_lossy();
    if !text.contains(['*', '?', '[']) || path.exists() {
        return Ok(path.to_path_buf());
    }
    let first: Option<String> = conn
        .query_row("SELECT file FROM glob(?) ORDER BY file LIMIT 1", [text.as_ref()], |r| r.get(0))
        .map_err(|e| DuckMessage::new(&e.to_string()).into_read_error(path))?;
    first.map(PathBuf::from).ok_or_else(|| EngineError::invalid_file(path, "no file matches the pattern"))
}

fn delimiter_name(d: char) -> String {
    match d {
        '\t' => "tabs".into(),
        ',' => "commas".into(),
        ';' => "semicolons".into(),
        '|' => "\"|\"".into(),
        other => format!("\"{other}\""),
    }
}

/// True when a field in the file's start is one of the NA tokens.
fn has_na_fields(head: &str, dialect: &Dialect) -> bool {
    let delimiter = dialect.delimiter.chars().next().unwrap_or(',');
    head.lines().any(|line| line.split(delimiter).any(|f| NA_TOKENS.contains(&f.trim().trim_matches('"'))))
}

/// Sniffs with the user's options and `attempt`; when no layout fits, tries lenient quoting,
/// then tolerating ragged lines in the sample (which the read then reports or rejects).
fn sniff_with_fallbacks(
    conn: &Connection,
    path: &Path,
    source: &Path,
    opts: &ImportOptions,
    attempt: &mut Attempt,
    notices: &mut Vec<String>,
) -> Result<Dialect> {
    sniff_expecting(conn, path, source, opts, attempt, None, notices)
}

/// [`sniff_with_fallbacks`], taking only a layout with `columns` columns when that is known
/// from the lines themselves.
fn sniff_expecting(
    conn: &Connection,
    path: &Path,
    source: &Path,
    opts: &ImportOptions,
    attempt: &mut Attempt,
    columns: Option<usize>,
    notices: &mut Vec<String>,
) -> Result<Dialect> {
    let fits = |d: &Dialect| columns.is_none_or(|n| d.columns.len() == n);
    let first_error = match sniff(conn, path, opts, attempt)? {
        Ok(d) if fits(&d) => return Ok(d),
        Ok(d) => format!("the layout found has {} columns, the lines {}", d.columns.len(), columns.unwrap_or(0)),
        Err(text) => text,
    };
    let message = DuckMessage::new(&first_error);
    if columns.is_none() && !matches!(message.kind(), MessageKind::NoDialect | MessageKind::InvalidState) {
        return Err(located_error(path, source, &message, &Dialect::default()));
    }
    for (lenient, tolerant) in [(true, attempt.tolerant), (attempt.lenient, true), (true, true)] {
        if (lenient, tolerant) == (attempt.lenient, attempt.tolerant) {
            continue;
        }
        let retry = Attempt { lenient, tolerant, ..attempt.clone() };
        if let Ok(d) = sniff(conn, path, opts, &retry)?.map_err(|_| ()).and_then(|d| if fits(&d) { Ok(d) } else { Err(()) }) {
            if lenient && !attempt.lenient {
                notices.push("the file does not follow the CSV standard strictly (mixed line endings or stray quotes); it was read in lenient mode".into());
            }
            *attempt = retry;
            return Ok(d);
        }
    }
    // The user chose the layout: read it their way, every column as text, and let the read
    // name any line that does not fit.
    if columns.is_none() && is_dialect_fixed(opts, attempt) && opts.csv.header.is_some() {
        if let Some(d) = chosen_layout(path, opts, attempt) {
            notices.push("the column types could not be detected with the chosen layout; every column was read as text".into());
            return Ok(d);
        }
    }
    Err(message.into_read_error(source))
}

/// The layout the user set by hand, with text columns named from the first line.
fn chosen_layout(path: &Path, opts: &ImportOptions, attempt: &Attempt) -> Option<Dialect> {
    let c = &opts.csv;
    let delimiter = c.delimiter.clone().or_else(|| attempt.delimiter.clone())?;
    let quote = c.quote.clone()?;
    let has_header = c.header?;
    let skip = c.skip.unwrap_or(0);
    let head = super::encoding::sample(path, HEAD_BYTES).ok()?;
    let head = String::from_utf8_lossy(&head);
    let first = head.lines().nth(usize::try_from(skip).ok()?)?;
    let fields = split_fields(first, delimiter.chars().next()?, quote.chars().next());
    let columns = fields
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let name = if has_header && !name.trim().is_empty() { name.trim().to_string() } else { format!("column{i}") };
            (name, "VARCHAR".to_string())
        })
        .collect();
    Some(Dialect {
        delimiter,
        quote: quote.clone(),
        escape: c.escape.clone().unwrap_or(quote),
        newline: String::new(),
        skip,
        header: has_header,
        comment: c.comment.clone().unwrap_or_default(),
        columns,
        ..Dialect::default()
    })
}

/// The fields of `line` split on `delimiter`, quotes removed.
fn split_fields(line: &str, delimiter: char, quote: Option<char>) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut is_quoted = false;
    for ch in line.chars() {
        match ch {
            c if Some(c) == quote => is_quoted = !is_quoted,
            c if c == delimiter && !is_quoted => fields.push(String::new()),
            c => fields.last_mut().map_or((), |f| f.push(c)),
        }
    }
    fields
}

/// The layout DuckDB's sniffer finds for `path` with these options; the inner error is
/// DuckDB's message when no layout fits.
pub fn sniff(conn: &Connection, path: &Path, opts: &ImportOptions, attempt: &Attempt) -> Result<std::result::Result<Dialect, String>> {
    let sniff_path = first_file(conn, path)?;
    let mut args = vec![quote_literal(&sniff_path.to_string_lossy())];
    args.extend(user_args(opts, attempt));
    if attempt.sample_all {
        args.push("sample_size = -1".into());
    }
    if attempt.tolerant || opts.on_error == OnError::Skip {
        args.push("ignore_errors = true".into());
    }
    Ok(sniff::sniff_dialect(conn, &args.join(", ")))
}

/// Options the user set, and those an attempt adds, as `read_csv` arguments.
fn user_args(opts: &ImportOptions, attempt: &Attempt) -> Vec<String> {
    let mut args = Vec::new();
    let c = &opts.csv;
    if let Some(d) = c.delimiter.as_ref().or(attempt.delimiter.as_ref()) {
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
    if let Some(nulls) = null_strings(opts, attempt) {
        let list: Vec<String> = nulls.iter().map(|n| quote_literal(n)).collect();
        args.push(format!("nullstr = [{}]", list.join(", ")));
    }
    if let Some(f) = &c.date_format {
        args.push(format!("dateformat = {}", quote_literal(f)));
    }
    if let Some(f) = &c.timestamp_format {
        args.push(format!("timestampformat = {}", quote_literal(f)));
    }
    let types = column_types(opts, attempt);
    if !types.is_empty() {
        let entries: Vec<String> = types.iter().map(|(n, t)| format!("{}: {}", quote_literal(n), quote_literal(t.as_str()))).collect();
        args.push(format!("types = {{{}}}", entries.join(", ")));
    }
    if attempt.lenient {
        args.push("strict_mode = false".into());
    }
    args
}

/// The user's column types, with the columns an attempt keeps as text.
fn column_types(opts: &ImportOptions, attempt: &Attempt) -> Vec<(String, SqlType)> {
    let mut types: Vec<(String, SqlType)> = opts.types.iter().filter(|(name, _)| !attempt.text_columns.contains(name)).cloned().collect();
    types.extend(attempt.type_overrides.iter().filter(|(name, _)| !attempt.text_columns.contains(name)).cloned());
    types.extend(attempt.text_columns.iter().map(|c| (c.clone(), SqlType::varchar())));
    types
}

/// The columns of `dialect` with the types the read gives them (the user's, then those an
/// attempt changed).
fn read_columns(path: &Path, opts: &ImportOptions, attempt: &Attempt, dialect: &Dialect) -> Result<Vec<(String, String)>> {
    let mut columns = dialect.columns.clone();
    for (name, ty) in column_types(opts, attempt) {
        match columns.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            Some(slot) => slot.1 = ty.to_string(),
            None => {
                return Err(EngineError::ColumnNotFound { table: super::display_name(path), column: name });
            }
        }
    }
    Ok(columns)
}

/// The type of a column the read must check value by value (see [`text_cast_can_change`]):
/// read as text, then cast strictly.
fn checked_type(ty: &str, date_format: &str, timestamp_format: &str) -> Option<SqlType> {
    let ty = SqlType::parse(ty).ok()?;
    let formatted = match ColumnKind::of(ty.as_str()) {
        ColumnKind::Date => !date_format.is_empty(),
        ColumnKind::Timestamp { .. } => !timestamp_format.is_empty(),
        _ => false,
    };
    text_cast_can_change(&ty, formatted).then_some(ty)
}

/// The strings read as NULL: the user's, else the NA tokens when they apply, else DuckDB's
/// default (the empty field).
fn null_strings(opts: &ImportOptions, attempt: &Attempt) -> Option<Vec<String>> {
    let mut nulls: Vec<String> = if !opts.csv.nulls.is_empty() {
        opts.csv.nulls.clone()
    } else if opts.csv.na_as_null && attempt.na_tokens {
        NA_TOKENS.iter().map(|t| t.to_string()).collect()
    } else {
        return None;
    };
    if !nulls.iter().any(String::is_empty) {
        nulls.push(String::new());
    }
    Some(nulls)
}

/// How NA tokens reach the table when text columns must keep them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NaReading {
    /// Text columns keep NA tokens: every column is read as text and the others are cast
    /// after NA tokens became NULL (DuckDB's `nullstr` applies to every column).
    KeepInText,
    /// NA tokens are NULL in every column; the scanner casts and locates bad values.
    Everywhere,
}

/// True when NA tokens are read as missing and some column is text, which must keep them.
fn protects_text(opts: &ImportOptions, attempt: &Attempt, columns: &[(String, String)]) -> bool {
    opts.csv.nulls.is_empty() && opts.csv.na_as_null && attempt.na_tokens && columns.iter().any(|(_, ty)| is_text_type(ty))
}

/// VARCHAR and its aliases.
fn is_text_type(ty: &str) -> bool {
    ColumnKind::of(ty) == ColumnKind::Text
}

/// `value` (text) as `ty`, the way the CSV scanner would have read it, with NA tokens NULL.
///
/// Nested `nullif`, not `IN (…)`: DuckDB plans an IN list as a join, and a join in a
/// `CREATE TABLE AS` loses the file's row order (seen on nycflights13).
/// `CAST(text AS ty)` that refuses to change a value (see [`strict_cast_sql`]), plain
/// forms read first.
fn checked_cast_sql(text: &str, ty: &SqlType, tag: usize) -> String {
    super::plain_text::plain_first_sql(text, ty, strict_cast_sql(text, ty, tag))
}

fn cast_expr(value: &str, ty: &str, date_format: &str, timestamp_format: &str, tag: Option<usize>) -> String {
    let text = NA_TOKENS.iter().fold(value.to_string(), |inner, token| format!("nullif({inner}, {})", quote_literal(token)));
    let upper = ty.to_ascii_uppercase();
    if upper == "DATE" && !date_format.is_empty() {
        format!("CAST(strptime({text}, {}) AS DATE)", quote_literal(date_format))
    } else if upper.starts_with("TIMESTAMP") && !timestamp_format.is_empty() {
        format!("CAST(strptime({text}, {}) AS {ty})", quote_literal(timestamp_format))
    } else {
        match (tag, checked_type(ty, date_format, timestamp_format)) {
            (Some(tag), Some(checked)) => checked_cast_sql(&text, &checked, tag),
            _ => format!("CAST({text} AS {ty})"),
        }
    }
}

/// `SELECT … FROM read_csv(…)` reading `path` in `dialect`'s layout with the user's options.
pub fn select_sql(path: &Path, opts: &ImportOptions, attempt: &Attempt, dialect: &Dialect, rejects: Option<(&str, &str)>) -> Result<String> {
    let na = if attempt.na_everywhere { NaReading::Everywhere } else { NaReading::KeepInText };
    // A read that rejects bad lines needs DuckDB's reader to cast every column; the values
    // it changed are found afterwards ([`first_changed_by_reader`]).
    let checking = if rejects.is_some() { Checking::Scanner } else { Checking::Strict };
    select_sql_reading(path, opts, attempt, dialect, rejects, na, checking)
}

/// Whether a read checks that each value means what its text says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checking {
    /// Columns whose cast can round or cut ([`checked_type`]) are read as text and cast
    /// strictly, naming the first value that would change.
    Strict,
    /// DuckDB's reader casts every column itself: only used to locate a bad value's line.
    Scanner,
}

fn select_sql_reading(
    path: &Path,
    opts: &ImportOptions,
    attempt: &Attempt,
    dialect: &Dialect,
    rejects: Option<(&str, &str)>,
    na: NaReading,
    checking: Checking,
) -> Result<String> {
    let columns = read_columns(path, opts, attempt, dialect)?;
    let mut args = layout_args(path, dialect);
    let (date_format, timestamp_format) = formats(opts, dialect);
    let keep_in_text = na == NaReading::KeepInText && protects_text(opts, attempt, &columns);
    let select = if keep_in_text {
        let entries: Vec<String> = columns.iter().map(|(n, _)| format!("{}: 'VARCHAR'", quote_literal(n))).collect();
        args.push(format!("columns = {{{}}}", entries.join(", ")));
        let list: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (n, ty))| {
                let name = quote_ident(n);
                if ty.eq_ignore_ascii_case("VARCHAR") {
                    name.clone()
                } else if is_text_type(ty) {
                    format!("CAST({name} AS {ty}) AS {name}")
                } else {
                    let tag = (checking == Checking::Strict).then_some(i);
                    format!("{} AS {name}", cast_expr(&name, ty, date_format, timestamp_format, tag))
                }
            })
            .collect();
        list.join(", ")
    } else {
        if !date_format.is_empty() {
            args.push(format!("dateformat = {}", quote_literal(date_format)));
        }
        if !timestamp_format.is_empty() {
            args.push(format!("timestampformat = {}", quote_literal(timestamp_format)));
        }
        let checked: Vec<Option<SqlType>> = columns
            .iter()
            .map(|(_, ty)| if checking == Checking::Strict { checked_type(ty, date_format, timestamp_format) } else { None })
            .collect();
        let entries: Vec<String> = columns
            .iter()
            .zip(&checked)
            .map(|((n, t), check)| format!("{}: {}", quote_literal(n), quote_literal(if check.is_some() { "VARCHAR" } else { t })))
            .collect();
        args.push(format!("columns = {{{}}}", entries.join(", ")));
        if let Some(nulls) = null_strings(opts, attempt) {
            let list: Vec<String> = nulls.iter().map(|n| quote_literal(n)).collect();
            args.push(format!("nullstr = [{}]", list.join(", ")));
        }
        if checked.iter().all(Option::is_none) {
            "*".to_string()
        } else {
            let list: Vec<String> = columns
                .iter()
                .zip(&checked)
                .enumerate()
                .map(|(i, ((n, _), check))| {
                    let name = quote_ident(n);
                    match check {
                        Some(ty) => format!("{} AS {name}", checked_cast_sql(&name, ty, i)),
                        None => name,
                    }
                })
                .collect();
            list.join(", ")
        }
    };
    if attempt.lenient {
        args.push("strict_mode = false".into());
    }
    if let Some((table, scan)) = rejects {
        args.push(format!("store_rejects = true, rejects_table = {}, rejects_scan = {}", quote_literal(table), quote_literal(scan)));
    }
    Ok(format!("SELECT {select} FROM read_csv({})", args.join(", ")))
}

/// The reader arguments that fix `dialect`'s layout for `path`.
fn layout_args(path: &Path, dialect: &Dialect) -> Vec<String> {
    let mut args = vec![
        quote_literal(&path.to_string_lossy()),
        "auto_detect = false".into(),
        format!("delim = {}", quote_literal(&dialect.delimiter)),
        format!("quote = {}", quote_literal(&dialect.quote)),
        format!("escape = {}", quote_literal(&dialect.escape)),
        format!("skip = {}", dialect.skip),
        format!("header = {}", dialect.header),
        format!("comment = {}", quote_literal(&dialect.comment)),
    ];
    if ["\\n", "\\r\\n", "\\r"].contains(&dialect.newline.as_str()) {
        args.push(format!("new_line = {}", quote_literal(&dialect.newline)));
    }
    args
}

/// The date and timestamp formats the read parses with (the user's, else the sniffer's).
fn formats<'a>(opts: &'a ImportOptions, dialect: &'a Dialect) -> (&'a str, &'a str) {
    let c = &opts.csv;
    (c.date_format.as_deref().unwrap_or(&dialect.date_format), c.timestamp_format.as_deref().unwrap_or(&dialect.timestamp_format))
}

/// `path` read in `dialect`'s layout with every column as text (lines that do not fit are
/// skipped), for checks that need the values as written.
fn text_read(path: &Path, opts: &ImportOptions, attempt: &Attempt, dialect: &Dialect) -> Result<String> {
    let columns = read_columns(path, opts, attempt, dialect)?;
    let mut args = layout_args(path, dialect);
    let entries: Vec<String> = columns.iter().map(|(n, _)| format!("{}: 'VARCHAR'", quote_literal(n))).collect();
    args.push(format!("columns = {{{}}}", entries.join(", ")));
    if let Some(nulls) = null_strings(opts, attempt) {
        let list: Vec<String> = nulls.iter().map(|n| quote_literal(n)).collect();
        args.push(format!("nullstr = [{}]", list.join(", ")));
    }
    args.push("ignore_errors = true".into());
    if attempt.lenient {
        args.push("strict_mode = false".into());
    }
    Ok(format!("read_csv({})", args.join(", ")))
}

/// After a read in which DuckDB's reader cast every column (one that rejects bad lines):
/// the first value that the cast changed (2.5 rounded into a BIGINT column), as the column's
/// index and the text. One more pass over the file, reading only the checked columns.
fn first_changed_by_reader(conn: &Connection, path: &Path, opts: &ImportOptions, attempt: &Attempt, dialect: &Dialect) -> Result<Option<(usize, String)>> {
    let columns = read_columns(path, opts, attempt, dialect)?;
    let (date_format, timestamp_format) = formats(opts, dialect);
    let (mut tags, mut values) = (Vec::new(), Vec::new());
    for (i, (name, ty)) in columns.iter().enumerate() {
        if let Some(ty) = checked_type(ty, date_format, timestamp_format) {
            let c = quote_ident(name);
            let survives = crate::engine::kind::survives_cast_sql(&c, "VARCHAR", &ty);
            let changes = format!("{c} IS NOT NULL AND TRY_CAST({c} AS {ty}) IS NOT NULL AND NOT coalesce({survives}, false)");
            tags.push(format!("WHEN {changes} THEN {i}"));
            values.push(format!("WHEN {changes} THEN {c}"));
        }
    }
    if tags.is_empty() {
        return Ok(None);
    }
    let sql = format!(
        "SELECT tag, v FROM (SELECT CASE {} END AS tag, CASE {} END AS v FROM {}) WHERE tag IS NOT NULL LIMIT 1",
        tags.join(" "),
        values.join(" "),
        text_read(path, opts, attempt, dialect)?
    );
    match conn.query_row(&sql, [], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))) {
        Ok((tag, value)) => Ok(Some((tag.max(0) as usize, value))),
        Err(duckdb::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) if DuckMessage::new(&e.to_string()).kind() == MessageKind::Interrupted => Err(EngineError::Cancelled),
        Err(e) => Err(EngineError::from(e)),
    }
}

/// The 1-based row of the first value of `column` that reading it as `ty` would change.
fn locate_changed(conn: &Connection, path: &Path, opts: &ImportOptions, attempt: &Attempt, dialect: &Dialect, column: &str, ty: &SqlType) -> Option<u64> {
    let table = format!("__dataforge_locate_{}", std::process::id());
    let c = quote_ident(column);
    let created = conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE {} AS SELECT {c} FROM {}",
        quote_ident(&table),
        text_read(path, opts, attempt, dialect).ok()?
    ));
    let survives = crate::engine::kind::survives_cast_sql(&c, "VARCHAR", ty);
    let row = created.ok().and_then(|()| {
        conn.query_row(
            &format!("SELECT rowid + 1 FROM {} WHERE {c} IS NOT NULL AND NOT coalesce({survives}, false) ORDER BY rowid LIMIT 1", quote_ident(&table)),
            [],
            |r| r.get::<_, i64>(0),
        )
        .ok()
    });
    let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(&table)));
    row.map(|r| r.max(0) as u64)
}

/// What `value` becomes as `ty`, as text; `None` when it is not a `ty`.
fn stored_as(conn: &Connection, value: &str, ty: &SqlType) -> Option<String> {
    conn.query_row(&format!("SELECT CAST(TRY_CAST(? AS {ty}) AS VARCHAR)"), [value], |r| r.get::<_, Option<String>>(0)).ok().flatten()
}

/// True when `value` (text) reads as `ty` without change.
fn survives_as(conn: &Connection, value: &str, ty: &SqlType) -> bool {
    let survives = crate::engine::kind::survives_cast_sql("$1::VARCHAR", "VARCHAR", ty);
    conn.query_row(&format!("SELECT coalesce({survives}, false)"), [value], |r| r.get::<_, bool>(0)).unwrap_or(false)
}

/// A finished CSV load.
pub struct Loaded {
    pub rows: u64,
    /// Rejected lines: the temporary rejects and scans tables of this connection, and the
    /// number of lines.
    pub rejects: Option<(String, String, u64)>,
}

/// Loads the prepared file into `staging`, retrying with the fallbacks the error calls for;
/// every fallback taken is described in `notices`.
#[allow(clippy::too_many_arguments)]
pub fn load(
    conn: &Connection,
    staging: &str,
    prepared: &Prepared,
    source: &Path,
    opts: &ImportOptions,
    ctx: &JobCtx,
    notices: &mut Vec<String>,
) -> Result<Loaded> {
    let path = prepared.path.as_path();
    let mut attempt = prepared.attempt.clone();
    let mut dialect = prepared.dialect.clone();
    let skip = opts.on_error == OnError::Skip;
    let mut tries = 0;
    // A column whose guessed type a value broke; after the full scan it may be text.
    let mut widened: Option<(String, String)> = None;
    // When fallbacks fail too, the first located error says most.
    let mut first_error: Option<EngineError> = None;
    loop {
        tries += 1;
        ctx.checkpoint()?;
        if tries > 1 {
            dialect = sniff_with_fallbacks(conn, path, source, opts, &mut attempt, notices)?;
        }
        let rejects = skip.then(|| rejects_names(staging, tries));
        let sql = select_sql(path, opts, &attempt, &dialect, rejects.as_ref().map(|(t, s)| (t.as_str(), s.as_str())))?;
        let created = create(conn, staging, &sql);
        // A read that cast every column itself may have changed values (2.5 into BIGINT).
        let changed_by_reader = match (&created, &rejects) {
            (Ok(_), Some(_)) => first_changed_by_reader(conn, path, opts, &attempt, &dialect)?,
            _ => None,
        };
        let err = match (created, changed_by_reader) {
            (Ok(_), Some((tag, value))) => format!("{}{tag}:{value}", crate::engine::kind::CHANGED_MARK),
            (Ok(rows), None) => {
                if let Some((column, why)) = widened.take().filter(|(c, _)| !attempt.text_columns.contains(c)) {
                    if dialect.columns.iter().any(|(n, t)| *n == column && t == "VARCHAR") {
                        notices.push(format!("column \"{column}\" was kept as text: {why}"));
                    }
                }
                let Some((table, scans)) = rejects else {
                    return Ok(Loaded { rows, rejects: None });
                };
                let count = count_rejects(conn, &table)?;
                // Rejects may only mean the sniffer's sample misled it: one retry over the whole file.
                if count > 0 && !attempt.sample_all && !attempt.tolerant && !is_dialect_fixed(opts, &attempt) {
                    if let Some(better) = retry_whole_file(conn, staging, path, source, opts, &attempt, tries, count, notices)? {
                        drop_temp(conn, &table);
                        drop_temp(conn, &scans);
                        return Ok(better);
                    }
                }
                if count == 0 {
                    drop_temp(conn, &table);
                    drop_temp(conn, &scans);
                    return Ok(Loaded { rows, rejects: None });
                }
                return Ok(Loaded { rows, rejects: Some((table, scans, count)) });
            }
            (Err(err), _) => err.to_string(),
        };
        if let Some((table, scans)) = &rejects {
            drop_temp(conn, table);
            drop_temp(conn, scans);
        }
        let mut text = err;
        if let MessageKind::ValueChanges { tag, value } = DuckMessage::new(&text).kind() {
            let columns = read_columns(path, opts, &attempt, &dialect)?;
            let Some((column, ty)) = columns.get(tag).cloned() else {
                return Err(EngineError::Internal(format!("a strict read named column {tag} of {}", columns.len())));
            };
            let ty = SqlType::parse(&ty)?;
            let user_typed = opts.types.iter().any(|(n, _)| n.eq_ignore_ascii_case(&column));
            let becomes = stored_as(conn, &value, &ty);
            let why = match &becomes {
                Some(b) => format!("\"{value}\" would be stored as {b} as {ty}"),
                None => format!("\"{value}\" is not a valid {ty}"),
            };
            let nanos = SqlType::parse("TIMESTAMP_NS")?;
            let is_timestamp = matches!(ColumnKind::of(ty.as_str()), ColumnKind::Timestamp { tz: false, unit } if unit != crate::engine::kind::TimeUnit::Nanos);
            if !user_typed && is_timestamp && survives_as(conn, &value, &nanos) && !attempt.type_overrides.iter().any(|(n, _)| *n == column) {
                attempt.type_overrides.push((column.clone(), nanos));
                notices.push(format!("column \"{column}\" holds fractions of a microsecond (\"{value}\"); it was read as TIMESTAMP_NS to keep them"));
                continue;
            }
            if !user_typed && !attempt.sample_all {
                attempt.sample_all = true;
                notices.push(format!(
                    "a later value of column \"{column}\" did not fit the type guessed from the first {} rows ({why}); the whole file was scanned to detect it",
                    group_digits(SNIFF_SAMPLE_ROWS)
                ));
                widened = Some((column.clone(), why));
                continue;
            }
            let may_fall_back = !user_typed || opts.on_error == OnError::Text;
            if may_fall_back && !attempt.text_columns.contains(&column) && attempt.text_columns.len() < MAX_TEXT_FALLBACKS {
                attempt.text_columns.push(column.clone());
                notices.push(format!("column \"{column}\" was kept as text: {why}"));
                continue;
            }
            let row = locate_changed(conn, path, opts, &attempt, &dialect, &column, &ty);
            return Err(EngineError::ValueChanged(Box::new(ChangedValue {
                origin: super::display_name(source),
                row,
                column,
                value,
                becomes,
                data_type: ty.to_string(),
                table: None,
                widen_to: None,
            })));
        }
        // With text columns keeping NA tokens, or columns read as text to be cast strictly,
        // the cast comes after the scan, where a bad value has no line: the scan that casts
        // by itself names it.
        let keeps_na = !attempt.na_everywhere && protects_text(opts, &attempt, &dialect.columns);
        let checks = !skip && {
            let (date_format, timestamp_format) = formats(opts, &dialect);
            read_columns(path, opts, &attempt, &dialect)?.iter().any(|(_, ty)| checked_type(ty, date_format, timestamp_format).is_some())
        };
        if (keeps_na || checks) && DuckMessage::new(&text).line().is_none() && DuckMessage::new(&text).kind() != MessageKind::Interrupted {
            if skip {
                attempt.na_everywhere = true;
                notices.push("NA, N/A, NULL… were read as missing values in text columns too, so that lines with bad values could be skipped".into());
                continue;
            }
            let locate = format!("{staging}_locate");
            let sql = select_sql_reading(path, opts, &attempt, &dialect, None, NaReading::Everywhere, Checking::Scanner)?;
            let located = create(conn, &locate, &sql);
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(&locate)));
            if let Err(e) = located {
                text = e.to_string();
            }
        }
        let message = DuckMessage::new(&text);
        let located = located_error(path, source, &message, &dialect);
        if located.is_cancelled() || !matches!(located, EngineError::InvalidData { .. }) {
            return Err(located);
        }
        let (line, column) = match &located {
            EngineError::InvalidData { line, column, .. } => (*line, column.clone()),
            _ => (None, None),
        };
        let at_line = line.map(|l| format!(" at line {}", group_digits(l))).unwrap_or_default();
        let kind = message.kind();
        if !attempt.lenient && matches!(kind, MessageKind::InvalidState | MessageKind::UnterminatedQuote) {
            attempt.lenient = true;
            notices.push(format!(
                "the file does not follow the CSV standard strictly (mixed line endings or stray quotes{at_line}); it was read in lenient mode"
            ));
            remember(&mut first_error, located);
            continue;
        }
        let conversion = message.conversion();
        if let Some((value, _)) = conversion {
            if NA_TOKENS.contains(&value) && opts.csv.nulls.is_empty() && opts.csv.na_as_null && !attempt.na_tokens {
                attempt.na_tokens = true;
                continue;
            }
        }
        let user_typed = column.as_ref().is_some_and(|c| opts.types.iter().any(|(n, _)| n.eq_ignore_ascii_case(c)));
        // The sniffer guessed what failed: a column type, or the layout from its sample.
        let guessed = if conversion.is_some() { !user_typed } else { !is_dialect_fixed(opts, &attempt) && !attempt.tolerant };
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

/// A reader failure on `source` (read from `path`), located; a ragged line says how many
/// fields it has, a line too long which line it is (DuckDB numbers it wrongly).
fn located_error(path: &Path, source: &Path, message: &DuckMessage<'_>, dialect: &Dialect) -> EngineError {
    let err = message.into_read_error(source);
    match (err, message.kind()) {
        (EngineError::InvalidData { file, column, reason, line }, MessageKind::LineTooLong { limit, .. }) => {
            EngineError::InvalidData { file, column, reason, line: first_long_line(path, limit).or(line) }
        }
        (EngineError::InvalidData { file, line, column, .. }, MessageKind::ColumnCount { expected, found }) if found > expected => {
            let delimiter = dialect.delimiter.chars().next().unwrap_or(',');
            let counted = message.original_line(1 << 20).map(|raw| sniff::delimited_fields(&raw, delimiter, dialect.quote.chars().next()));
            let reason = match counted {
                Some(fields) if fields > expected as usize => format!("expected {expected} columns but the line has {fields}"),
                _ => format!("expected {expected} columns but the line has more"),
            };
            EngineError::InvalidData { file, line, column, reason }
        }
        (err, _) => err,
    }
}

/// The number of the first line of `path` longer than `limit` bytes.
fn first_long_line(path: &Path, limit: u64) -> Option<u64> {
    use std::io::BufRead as _;
    let reader = super::encoding::open_decompressed(path, std::sync::Arc::default()).ok()?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
    let (mut line, mut len) = (1u64, 0u64);
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            return (len > limit).then_some(line);
        }
        for &b in buf {
            if b == b'\n' {
                if len > limit {
                    return Some(line);
                }
                line += 1;
                len = 0;
            } else {
                len += 1;
            }
        }
        let n = buf.len();
        reader.consume(n);
    }
}

/// After rejects from a sampled layout: the same load with the whole file sniffed, kept when
/// it rejects fewer lines.
#[allow(clippy::too_many_arguments)]
fn retry_whole_file(
    conn: &Connection,
    staging: &str,
    path: &Path,
    source: &Path,
    opts: &ImportOptions,
    attempt: &Attempt,
    tries: usize,
    count: u64,
    notices: &mut Vec<String>,
) -> Result<Option<Loaded>> {
    let alt = format!("{staging}_alt");
    let mut wide = Attempt { sample_all: true, ..attempt.clone() };
    let names = rejects_names(&alt, tries + 1);
    let outcome = (|| {
        let dialect = sniff_with_fallbacks(conn, path, source, opts, &mut wide, &mut Vec::new())?;
        let sql = select_sql(path, opts, &wide, &dialect, Some((&names.0, &names.1)))?;
        let rows = create(conn, &alt, &sql).map_err(|e| DuckMessage::new(&e.to_string()).into_read_error(source))?;
        Ok::<_, EngineError>((rows, count_rejects(conn, &names.0)?))
    })();
    match outcome {
        Ok((alt_rows, alt_count)) if alt_count < count => {
            conn.execute_batch(&format!("DROP TABLE {s}; ALTER TABLE {a} RENAME TO {s}", s = quote_ident(staging), a = quote_ident(&alt)))?;
            notices.push(format!(
                "{} lines did not fit the layout guessed from the first {} rows; scanning the whole file to detect it left {} rejected",
                group_digits(count),
                group_digits(SNIFF_SAMPLE_ROWS),
                group_digits(alt_count)
            ));
            let rejects = if alt_count > 0 {
                Some((names.0, names.1, alt_count))
            } else {
                drop_temp(conn, &names.0);
                drop_temp(conn, &names.1);
                None
            };
            Ok(Some(Loaded { rows: alt_rows, rejects }))
        }
        other => {
            drop_temp(conn, &names.0);
            drop_temp(conn, &names.1);
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(&alt)));
            match other {
                Err(e) if e.is_cancelled() => Err(e),
                _ => Ok(None),
            }
        }
    }
}

/// Keeps the first error that names a line.
fn remember(first: &mut Option<EngineError>, err: EngineError) {
    if first.is_none() && matches!(err, EngineError::InvalidData { line: Some(_), .. }) {
        *first = Some(err);
    }
}

/// (Re)creates `target` from `select`; returns the rows read.
fn create(conn: &Connection, target: &str, select: &str) -> duckdb::Result<u64> {
    let rows = conn.execute(&format!("CREATE OR REPLACE TABLE {} AS {select}", quote_ident(target)), [])?;
    Ok(rows as u64)
}

/// True when the user fixed delimiter and quote, so a bigger sample cannot change the layout.
fn is_dialect_fixed(opts: &ImportOptions, attempt: &Attempt) -> bool {
    (opts.csv.delimiter.is_some() || attempt.delimiter.is_some()) && opts.csv.quote.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_quoted_reader_calls() {
        let mut opts = ImportOptions::new();
        opts.csv.delimiter = Some(";".into());
        opts.csv.nulls = vec!["n/a".into(), "it's".into()];
        opts.types = vec![("a'b".into(), SqlType::parse("BIGINT").unwrap())];
        let attempt = Attempt { sample_all: true, text_columns: vec!["c".into()], ..Attempt::default() };
        let dialect = Dialect {
            delimiter: ";".into(),
            quote: "\"".into(),
            escape: "\"".into(),
            newline: "\\n".into(),
            header: true,
            columns: vec![("a'b".into(), "VARCHAR".into()), ("c".into(), "DOUBLE".into())],
            ..Dialect::default()
        };
        let sql = select_sql(Path::new("/x/o'k.csv"), &opts, &attempt, &dialect, None).unwrap();
        // A whole-number column is read as text, plain numbers first, and cast strictly,
        // naming a value it would round.
        assert!(sql.starts_with("SELECT coalesce(dataforge_plain_bigint(\"a'b\"), CASE WHEN NOT (contains(\"a'b\", '.')"), "{sql}");
        assert!(sql.contains("ELSE error('dataforge-value-changes:0:' || \"a'b\") END) AS \"a'b\", \"c\" FROM read_csv("), "{sql}");
        assert!(
            sql.ends_with("FROM read_csv('/x/o''k.csv', auto_detect = false, delim = ';', quote = '\"', escape = '\"', skip = 0, header = true, comment = '', new_line = '\\n', columns = {'a''b': 'VARCHAR', 'c': 'VARCHAR'}, nullstr = ['n/a', 'it''s', ''])"),
            "{sql}"
        );
        // A read that rejects bad lines lets the reader cast (and checks the values after).
        let sql = select_sql(Path::new("/x/o'k.csv"), &opts, &attempt, &dialect, Some(("r", "s"))).unwrap();
        assert!(sql.starts_with("SELECT * FROM read_csv(") && sql.contains("columns = {'a''b': 'BIGINT', 'c': 'VARCHAR'}"), "{sql}");
        assert_eq!(user_args(&opts, &attempt), ["delim = ';'", "nullstr = ['n/a', 'it''s', '']", "types = {'a''b': 'BIGINT', 'c': 'VARCHAR'}"]);
    }

    #[test]
    fn na_tokens_stay_text_in_text_columns() {
        let opts = ImportOptions::new();
        let attempt = Attempt { na_tokens: true, ..Attempt::default() };
        let dialect = Dialect {
            delimiter: ",".into(),
            columns: vec![("n".into(), "BIGINT".into()), ("country".into(), "VARCHAR".into())],
            ..Dialect::default()
        };
        let sql = select_sql(Path::new("a.csv"), &opts, &attempt, &dialect, None).unwrap();
        assert!(sql.starts_with("SELECT coalesce(dataforge_plain_bigint(nullif(nullif(nullif(nullif(nullif(nullif(\"n\", 'NA')"), "{sql}");
        assert!(sql.contains("CASE WHEN NOT (contains(nullif(nullif(nullif(nullif(nullif(nullif(\"n\", 'NA')"), "{sql}");
        assert!(sql.contains("THEN CAST(nullif(nullif(nullif(nullif(nullif(nullif(\"n\", 'NA'), 'N/A'), 'NULL'), 'null'), 'NaN'), 'nan') AS BIGINT)"), "{sql}");
        assert!(sql.contains(" END) AS \"n\", \"country\" FROM read_csv("), "{sql}");
        assert!(sql.contains("columns = {'n': 'VARCHAR', 'country': 'VARCHAR'}"), "{sql}");
        assert!(!sql.contains("nullstr"), "{sql}");
        let everywhere = Attempt { na_everywhere: true, ..attempt.clone() };
        let sql = select_sql(Path::new("a.csv"), &opts, &everywhere, &dialect, None).unwrap();
        assert!(sql.contains("END) AS \"n\", \"country\" FROM read_csv(") && sql.contains("columns = {'n': 'VARCHAR', 'country': 'VARCHAR'}"), "{sql}");
        assert!(sql.contains("nullstr = ['NA', 'N/A', 'NULL', 'null', 'NaN', 'nan', '']"), "{sql}");
        let typed = ImportOptions { types: vec![("nope".into(), SqlType::varchar())], ..ImportOptions::new() };
        assert!(matches!(select_sql(Path::new("a.csv"), &typed, &attempt, &dialect, None), Err(EngineError::ColumnNotFound { .. })));
    }}
