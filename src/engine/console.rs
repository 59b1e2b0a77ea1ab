//! The SQL console: runs one statement as a job ([`RunSql`]), keeps a query's rows in the
//! scratch database so they page, filter, sort and export like a table, keeps a searchable
//! history per workspace, and saves a result as a table.
//!
//! File access. DuckDB's own switch (`enable_external_access = false` with
//! `allowed_directories`) is global to the database, cannot be turned back on, and would
//! stop the app's own imports and exports of files anywhere on disk. So the console checks
//! each statement before DuckDB sees it ([`check_access`]): every file it names (table
//! functions such as `read_csv`, `FROM 'file.csv'`, `COPY … TO`, `ATTACH`, `EXPORT
//! DATABASE`) must lie in a folder the user allowed; a path that is not written out as text,
//! extension loading, settings changes and `query()` are refused.

use std::path::{Component, PathBuf};
use std::sync::Arc;

use duckdb::Connection;
use serde::Serialize;

use super::browse::{drop_scratch, scratch_name};
use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::lexer::{self, Token, TokenKind};
use super::sql::{META_SCHEMA, SCRATCH_DB, quote_ident, validate_table_name};
use super::view::{Source, SourceShape};
use super::policy::Shadow;
use super::workspace::{ColumnInfo, Workspace, WsConnection};

/// Which files console SQL may touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlAccess {
    /// Anything (the CLI, run by the user in their own shell).
    Unrestricted,
    /// Only files inside these folders.
    Folders(Vec<PathBuf>),
}

impl SqlAccess {
    /// The window's policy: only the folders allowed in Settings.
    pub fn of(workspace: &Workspace) -> Self {
        Self::Folders(workspace.settings().sql_folders)
    }
}

/// First words of statements that return rows and can be kept as a result table.
const QUERY_WORDS: &[&str] = &["SELECT", "WITH", "FROM", "VALUES", "TABLE", "SUMMARIZE", "DESCRIBE", "SHOW", "PIVOT", "UNPIVOT"];

/// Table functions that read files, by the path in their first argument.
const FILE_FUNCTIONS: &[&str] = &[
    "read_csv", "read_csv_auto", "sniff_csv", "read_parquet", "parquet_scan", "parquet_metadata", "parquet_schema",
    "parquet_file_metadata", "parquet_kv_metadata", "parquet_bloom_probe", "read_json", "read_json_auto", "read_ndjson",
    "read_ndjson_auto", "read_json_objects", "read_json_objects_auto", "read_ndjson_objects", "read_text", "read_blob",
    "glob", "read_xlsx", "delta_scan", "iceberg_scan", "sqlite_scan", "read_duckdb",
];

/// Does this statement return rows we keep as a result?
pub fn returns_rows(sql: &str) -> bool {
    let tokens = lexer::meaningful(sql);
    match tokens.first() {
        Some(t) if t.is_symbol(sql, '(') => true,
        Some(t) if t.kind == TokenKind::Word => QUERY_WORDS.iter().any(|w| t.is_word(sql, w)),
        _ => false,
    }
}

fn refuse(why: impl Into<String>) -> EngineError {
    EngineError::InvalidOption(why.into())
}

/// Checks a statement against the file-access rule (see the module notes). This is a
/// check of what the statement names before DuckDB runs it, not a sandbox: it refuses what
/// it cannot place rather than guess.
///
/// # Failure
/// `InvalidOption` naming the file or the construct refused.
pub fn check_access(sql: &str, access: &SqlAccess) -> Result<()> {
    let tokens = lexer::meaningful(sql);
    if tokens.iter().any(|t| t.kind == TokenKind::Unterminated) {
        return Err(refuse("a quote or comment is not closed"));
    }
    // A name as written or quoted ("read_text", `read_text`).
    let name_of = |t: &Token| match t.kind {
        TokenKind::Word => Some(t.text(sql).to_ascii_lowercase()),
        TokenKind::QuotedName => t.unquoted(sql).map(|n| n.to_ascii_lowercase()),
        _ => None,
    };
    // The app's own table functions take memory addresses: never from typed SQL.
    if let Some(name) = tokens.iter().filter_map(name_of).find(|n| n.starts_with("dataforge_arrow") || n.starts_with("dataforge_read")) {
        return Err(refuse(format!("{name} is internal to dataforge and cannot be called from SQL")));
    }
    let SqlAccess::Folders(allowed) = access else { return Ok(()) };
    let upper = |i: usize| tokens.get(i).filter(|t| t.kind == TokenKind::Word).map(|t| t.text(sql).to_ascii_uppercase());
    let first = upper(0).unwrap_or_default();
    let settings_hint = "change settings in Settings, not from the console";
    match first.as_str() {
        "INSTALL" | "LOAD" | "FORCE" => return Err(refuse("extensions cannot be installed or loaded from the console")),
        "SET" | "RESET" => return Err(refuse(settings_hint)),
        "PRAGMA" if tokens.iter().any(|t| t.is_symbol(sql, '=')) => return Err(refuse(settings_hint)),
        "IMPORT" => return Err(refuse("IMPORT DATABASE runs SQL from files; it is not allowed from the console")),
        // The workspace and its scratch database must stay attached; DuckDB cannot refuse it.
        "DETACH" => return Err(refuse("databases cannot be detached from the console")),
        "CREATE" if tokens.iter().any(|t| t.is_word(sql, "SECRET")) => return Err(refuse("secrets cannot be created from the console")),
        _ => {}
    }
    if tokens.iter().filter_map(name_of).any(|n| n == super::sql::META_SCHEMA) {
        return Err(refuse("the workspace's own bookkeeping (dataforge_meta) cannot be used from the console"));
    }
    // ATTACH, COPY … TO/FROM, EXPORT DATABASE: the file must be one plain text literal.
    let literal_after = |i: usize, what: &str| -> Result<()> {
        match tokens.get(i) {
            Some(t) if t.kind == TokenKind::Text => match t.unquoted(sql) {
                Some(path) => check_path(&path, allowed),
                None => Err(refuse(format!("{what}: write the file as plain text, e.g. '/data/file.csv'"))),
            },
            _ => Err(refuse(format!("{what}: write the file as plain text, e.g. '/data/file.csv', so its folder can be checked"))),
        }
    };
    match first.as_str() {
        "ATTACH" => {
            let mut i = 1;
            while upper(i).is_some_and(|w| ["OR", "REPLACE", "DATABASE", "IF", "NOT", "EXISTS"].contains(&w.as_str())) {
                i += 1;
            }
            literal_after(i, "ATTACH")?;
        }
        "EXPORT" => {
            let at = tokens.iter().position(|t| t.kind == TokenKind::Text).unwrap_or(tokens.len());
            literal_after(at, "EXPORT DATABASE")?;
        }
        "COPY" => {
            let mut depth = 0i32;
            let mut seen = false;
            for (i, t) in tokens.iter().enumerate() {
                if t.is_symbol(sql, '(') {
                    depth += 1;
                } else if t.is_symbol(sql, ')') {
                    depth -= 1;
                } else if depth == 0 && (t.is_word(sql, "TO") || t.is_word(sql, "FROM")) {
                    literal_after(i + 1, "COPY")?;
                    seen = true;
                }
            }
            if tokens.get(1).is_some_and(|t| t.kind == TokenKind::Text) {
                literal_after(1, "COPY")?;
            }
            if !seen {
                return Err(refuse("COPY needs its file written out as text"));
            }
        }
        _ => {}
    }
    for (i, token) in tokens.iter().enumerate() {
        let prev = |back: usize| i.checked_sub(back).and_then(|j| tokens.get(j));
        let prev_word = |back: usize| prev(back).filter(|t| t.kind == TokenKind::Word).map(|t| t.text(sql).to_ascii_uppercase());
        let is_call = tokens.get(i + 1).is_some_and(|t| t.is_symbol(sql, '('));
        if is_call {
            if let Some(name) = name_of(token) {
                if name == "query" || name == "query_table" || name == "json_execute_serialized_sql" {
                    return Err(refuse(format!("{name}() runs SQL from text; write the statement itself")));
                }
                if FILE_FUNCTIONS.contains(&name.as_str()) {
                    check_function_paths(sql, &tokens, i + 1, &name, allowed)?;
                }
            }
        }
        // Where a table goes, a text or a quoted name that is a file is read as that file.
        let table_position = matches!(prev_word(1).as_deref(), Some("FROM" | "JOIN" | "PIVOT" | "UNPIVOT" | "DESCRIBE" | "SUMMARIZE" | "SHOW" | "TABLE"))
            || prev(1).is_some_and(|t| t.is_symbol(sql, ':') || t.is_symbol(sql, ',')) && in_from_clause(sql, &tokens, i);
        match token.kind {
            TokenKind::Text if table_position && !is_call => match token.unquoted(sql) {
                Some(path) => check_path(&path, allowed)?,
                None => return Err(refuse("write a file name as plain text, e.g. '/data/file.csv'")),
            },
            TokenKind::QuotedName if table_position && !is_call => {
                // DuckDB reads `FROM "data.csv"` as a file when no table has that name.
                let value = token.unquoted(sql).unwrap_or_default();
                let extension = value.rsplit('.').next().unwrap_or("");
                if value.contains(['/', '\\', '*']) || (value.contains('.') && super::formats::is_known_extension(extension)) {
                    check_path(&value, allowed)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// True when token `i` sits in a FROM clause (`FROM a JOIN b ON x, 'c.csv'`).
fn in_from_clause(sql: &str, tokens: &[Token], i: usize) -> bool {
    let mut depth = 0i32;
    for t in tokens[..i].iter().rev() {
        if t.is_symbol(sql, ')') {
            depth += 1;
        } else if t.is_symbol(sql, '(') {
            depth -= 1;
        } else if depth == 0 && t.kind == TokenKind::Word {
            let w = t.text(sql).to_ascii_uppercase();
            if w == "FROM" || w == "JOIN" {
                return true;
            }
            if ["SELECT", "WHERE", "GROUP", "ORDER", "HAVING", "SET", "VALUES", "QUALIFY", "WINDOW", "LIMIT", "RETURNING"].contains(&w.as_str()) {
                return false;
            }
        }
    }
    false
}

/// The paths of a file function call starting at the `(` token `open`: its first argument
/// must be text or a list of texts.
fn check_function_paths(sql: &str, tokens: &[Token], open: usize, name: &str, allowed: &[PathBuf]) -> Result<()> {
    let write_as_text = || refuse(format!("{name}(): write the file as text, e.g. {name}('data/file.csv'), so its folder can be checked"));
    let mut i = open + 1;
    let mut depth = 0;
    let mut paths = Vec::new();
    while let Some(t) = tokens.get(i) {
        match t.kind {
            TokenKind::Text if depth <= 1 => paths.push(t.unquoted(sql).ok_or_else(write_as_text)?),
            TokenKind::Symbol if t.is_symbol(sql, '[') => depth += 1,
            TokenKind::Symbol if t.is_symbol(sql, ']') => depth -= 1,
            TokenKind::Symbol if t.is_symbol(sql, ',') && depth == 0 => break,
            TokenKind::Symbol if t.is_symbol(sql, ',') => {}
            TokenKind::Symbol if t.is_symbol(sql, ')') && depth == 0 => break,
            _ => return Err(write_as_text()),
        }
        i += 1;
    }
    if paths.is_empty() {
        return Err(refuse(format!("{name}(): name the file as text")));
    }
    paths.iter().try_for_each(|p| check_path(p, allowed))
}

/// `~` expanded, made absolute against the working folder, and symlinks followed as far as
/// the path exists. `None` for a path with `..` in it.
fn resolve(path: &str) -> Option<PathBuf> {
    let expanded = match path.strip_prefix('~') {
        Some(rest) => directories::BaseDirs::new()?.home_dir().join(rest.trim_start_matches(['/', '\\'])),
        None => PathBuf::from(path),
    };
    if expanded.components().any(|c| c == Component::ParentDir) {
        return None;
    }
    let absolute = if expanded.is_absolute() { expanded } else { std::env::current_dir().ok()?.join(expanded) };
    let clean: PathBuf = absolute.components().filter(|c| *c != Component::CurDir).collect();
    // Follow symlinks as far as the path exists.
    let mut existing = clean.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(existing.file_name()?.to_os_string());
        if !existing.pop() {
            return None;
        }
    }
    let mut real = std::fs::canonicalize(&existing).ok()?;
    for part in rest.into_iter().rev() {
        real.push(part);
    }
    Some(real)
}

fn check_path(path: &str, allowed: &[PathBuf]) -> Result<()> {
    if path.contains("://") {
        return Err(refuse(format!("'{path}': only local files can be read")));
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return Err(refuse(format!("'{path}': a path with .. in it cannot be checked; write it without")));
    }
    // A glob is checked by the folder that holds its first wildcard.
    let fixed = match path.find(['*', '?', '[', '{']) {
        Some(at) => path[..at].rfind(['/', '\\']).map_or(".", |slash| &path[..slash.max(1)]),
        None => path,
    };
    let allowed_real: Vec<PathBuf> = allowed.iter().filter_map(|a| std::fs::canonicalize(a).ok()).collect();
    let is_inside = |p: &std::path::Path| allowed_real.iter().any(|a| p.starts_with(a));
    let inside = resolve(fixed).is_some_and(|p| is_inside(&p));
    // A glob inside an allowed folder can still reach out through a linked folder: every
    // file it matches must really be inside.
    if inside && fixed != path {
        if let Some(outside) = glob_matches(path).into_iter().find(|m| std::fs::canonicalize(m).map_or(true, |real| !is_inside(&real))) {
            return Err(refuse(format!("'{path}' matches {}, which is a link to a place outside the folders SQL may use", outside.display())));
        }
    }
    if inside {
        Ok(())
    } else if allowed.is_empty() {
        Err(refuse(format!(
            "'{path}': SQL cannot read or write files until you allow a folder for it in Settings (SQL file access); imports and exports work as usual"
        )))
    } else {
        let list: Vec<String> = allowed.iter().map(|p| p.display().to_string()).collect();
        Err(refuse(format!("'{path}' is outside the folders SQL may use ({}); allow its folder in Settings", list.join(", "))))
    }
}

/// Checks one statement against `access` without running it: the token check, then DuckDB
/// planning it in a sandbox ([`Shadow`]) on an empty copy of the workspace.
///
/// # Failure
/// `InvalidOption` naming what is refused; the statement's own error when it cannot be planned.
pub fn vet(workspace: &Workspace, sql: &str, access: &SqlAccess) -> Result<()> {
    check_access(sql, access)?;
    if let SqlAccess::Folders(folders) = access {
        let conn = workspace.connect()?;
        Shadow::new(folders)?.vet(&conn, sql)?;
    }
    Ok(())
}

/// The files a glob matches, as DuckDB expands it (links followed, as its readers follow
/// them).
fn glob_matches(pattern: &str) -> Vec<PathBuf> {
    let Ok(conn) = Connection::open_in_memory() else { return Vec::new() };
    let Ok(mut stmt) = conn.prepare("SELECT file FROM glob(?) LIMIT 100000") else { return Vec::new() };
    stmt.query_map([pattern], |r| r.get::<_, String>(0)).map(|rows| rows.filter_map(|r| r.ok()).map(PathBuf::from).collect()).unwrap_or_default()
}

/// A query's rows, kept in the scratch database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResultTable {
    pub name: String,
    pub sql: String,
    pub rows: u64,
}

impl ResultTable {
    pub fn source(&self) -> Source {
        Source::Result { name: self.name.clone(), sql: self.sql.clone() }
    }
}

/// What running a statement did.
#[derive(Clone, Debug, Serialize)]
pub struct SqlOutcome {
    /// Rows to show (a query, or what another statement returned).
    pub result: Option<ResultTable>,
    /// "1,234 rows", "OK", "3 rows changed".
    pub message: String,
    /// The statement may have created, changed or dropped tables.
    pub changes_tables: bool,
}

/// A console's own connection, kept from statement to statement so that transactions and
/// temporary tables carry over, and under the policy its shadow ([`Shadow`]).
#[derive(Default)]
pub struct ConsoleSession {
    conn: Option<WsConnection>,
    shadow: Option<Shadow>,
    /// Inside a transaction the user began (BEGIN … COMMIT/ROLLBACK).
    in_transaction: bool,
}

/// A console session shared between its tab and the statement running in it.
pub type SharedSession = Arc<std::sync::Mutex<ConsoleSession>>;

impl ConsoleSession {
    pub fn shared() -> SharedSession {
        Arc::default()
    }

    /// Lets go of the connection: an open transaction is rolled back and temporary tables
    /// are gone (before compaction, or when the tab closes).
    pub fn close(&mut self) {
        self.conn = None;
        self.shadow = None;
        self.in_transaction = false;
    }

    pub fn is_in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// True while the session holds temporary tables or a transaction a close would lose.
    pub fn has_state(&self) -> bool {
        self.conn.is_some()
    }
}

/// Runs one statement.
pub struct RunSql {
    workspace: Arc<Workspace>,
    /// Run in order on one connection (temporary tables and transactions carry over); the
    /// last one's outcome is the job's.
    statements: Vec<String>,
    access: SqlAccess,
    /// The console's session; a one-off connection when `None`.
    session: Option<SharedSession>,
}

fn trimmed(sql: &str) -> String {
    sql.trim().trim_end_matches(';').trim().to_string()
}

impl RunSql {
    pub fn new(workspace: Arc<Workspace>, sql: &str, access: SqlAccess) -> Self {
        Self { workspace, statements: vec![trimmed(sql)], access, session: None }
    }

    /// Every statement of `script`, in order.
    pub fn script(workspace: Arc<Workspace>, script: &str, access: SqlAccess) -> Self {
        let statements = lexer::statements(script).into_iter().map(|r| trimmed(&script[r])).collect();
        Self { workspace, statements, access, session: None }
    }

    /// Runs on a console's session (its connection, transaction and temporary tables).
    pub fn in_session(mut self, session: SharedSession) -> Self {
        self.session = Some(session);
        self
    }
}

impl Job for RunSql {
    type Output = SqlOutcome;

    fn title(&self) -> String {
        let last = self.statements.last().cloned().unwrap_or_default();
        format!("Run {}", Source::Query(last).title())
    }

    fn run(self, ctx: &JobCtx) -> Result<SqlOutcome> {
        if self.statements.is_empty() {
            return Err(refuse("no SQL statement to run"));
        }
        for sql in &self.statements {
            if lexer::statements(sql).len() != 1 {
                return Err(refuse("run one statement at a time"));
            }
            check_access(sql, &self.access)?;
        }
        let mut own = ConsoleSession::default();
        let mut shared = self.session.as_ref().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()));
        let session: &mut ConsoleSession = match shared.as_deref_mut() {
            Some(session) => session,
            None => &mut own,
        };
        if session.conn.is_none() {
            session.conn = Some(self.workspace.connect()?);
        }
        if let SqlAccess::Folders(folders) = &self.access {
            if session.shadow.as_ref().is_none_or(|s| s.folders() != folders.as_slice()) {
                session.shadow = Some(Shadow::new(folders)?);
            }
        }
        let conn = session.conn.as_ref().ok_or_else(|| EngineError::Internal("the console has no connection".into()))?;
        ctx.watch(conn)?;
        ctx.phase("Running", None);
        let last = self.statements.len() - 1;
        let mut changes_tables = false;
        for (i, sql) in self.statements.iter().enumerate() {
            let started = std::time::Instant::now();
            // DuckDB itself decides which files the statement may reach.
            let vetted = match session.shadow.as_mut() {
                Some(shadow) => shadow.vet(conn, sql),
                None => Ok(()),
            };
            let outcome = vetted.and_then(|()| self.execute(conn, sql, session.in_transaction, ctx));
            session.in_transaction = transaction_after(sql, session.in_transaction);
            if !ctx.is_cancelled() {
                record_history(&self.workspace, sql, outcome.is_ok(), started.elapsed().as_secs_f64());
            }
            let mut outcome = outcome?;
            if outcome.changes_tables {
                // An UPDATE keeps rows and columns: stored profiles are told instead.
                let _ = super::profile::store::mark_changed(conn, None);
            }
            changes_tables |= outcome.changes_tables;
            if i < last {
                if let Some(result) = outcome.result.take() {
                    drop_result(conn, &result);
                }
            } else {
                outcome.changes_tables = changes_tables;
                return Ok(outcome);
            }
        }
        Err(refuse("no SQL statement to run"))
    }
}

impl RunSql {
    fn execute(&self, conn: &Connection, sql: &str, in_transaction: bool, ctx: &JobCtx) -> Result<SqlOutcome> {
        if returns_rows(sql) {
            // Prepared as typed first: a mistake is reported where the user typed it.
            conn.prepare(sql).map_err(|e| located(e, sql, ""))?;
            let name = scratch_name("result");
            // On lines of its own, so a trailing `-- comment` cannot swallow the parenthesis.
            let made = if in_transaction {
                // Made inside the user's transaction the result would be invisible to the
                // grid (another connection) and undone by a ROLLBACK: its rows go over to a
                // table of its own.
                copy_result(&self.workspace, conn, sql, &name, ctx)
            } else {
                conn.execute(&format!("CREATE TABLE {SCRATCH_DB}.main.{} AS SELECT * FROM (\n{sql}\n)", quote_ident(&name)), []).map_err(EngineError::from)
            };
            if ctx.is_cancelled() {
                ctx.unwatch();
                drop_scratch(conn, &name);
                return Err(EngineError::Cancelled);
            }
            // Mistakes of syntax and names were found by the prepare above, in place; what
            // fails here fails while running (a bad cast), without a place of its own.
            let rows = made.map_err(|e| {
                let message = e.to_string();
                let (reason, _) = split_position(&message, "");
                EngineError::SqlError { line: 0, column: 0, message: reason }
            })? as u64;
            if in_transaction {
                ctx.record_output(rows, 0);
                return Ok(SqlOutcome {
                    result: Some(ResultTable { name, sql: sql.to_string(), rows }),
                    message: format!("{} (inside a transaction: COMMIT or ROLLBACK when done)", super::config::rows_text(rows)),
                    changes_tables: false,
                });
            }
            ctx.record_output(rows, 0);
            Ok(SqlOutcome {
                result: Some(ResultTable { name, sql: sql.to_string(), rows }),
                message: super::config::rows_text(rows),
                changes_tables: false,
            })
        } else {
            let _writing = self.workspace.writing();
            // Waits while another writer (a dedupe replacing the table) holds a table it writes.
            let written = written_tables(sql);
            let mut locks = Vec::new();
            for table in &written {
                locks.push(super::catalog::lock_table(&self.workspace, table, ctx)?);
            }
            ctx.phase("Running", None);
            let outcome = run_statement(&self.workspace, conn, sql).map_err(|e| if ctx.is_cancelled() { EngineError::Cancelled } else { e })?;
            // The catalog's row counts follow what the statement did.
            for table in &written {
                if super::workspace::table_exists(conn, table).unwrap_or(false) && !super::workspace::is_view(conn, table).unwrap_or(true) {
                    let _ = super::catalog::record_rows(conn, table);
                }
            }
            ctx.checkpoint()?;
            Ok(outcome)
        }
    }
}

/// Whether the session is inside a transaction after `sql` ran (or failed: a failed
/// statement leaves a transaction open, to be rolled back).
fn transaction_after(sql: &str, before: bool) -> bool {
    let tokens = lexer::meaningful(sql);
    let first = tokens.first().map(|t| t.text(sql).to_ascii_uppercase()).unwrap_or_default();
    match first.as_str() {
        "BEGIN" | "START" => true,
        "COMMIT" | "END" | "ROLLBACK" | "ABORT" => false,
        _ => before,
    }
}

/// A query run on `conn` (inside the user's transaction) copied batch by batch into the
/// scratch table `name`, through a connection of its own so the table outlives a ROLLBACK.
fn copy_result(workspace: &Workspace, conn: &Connection, sql: &str, name: &str, ctx: &JobCtx) -> Result<usize> {
    let mut describe = conn.prepare(&format!("DESCRIBE (\n{sql}\n)"))?;
    let columns: Vec<String> = describe
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .map(|c| {
            let (column, ty) = c?;
            Ok(format!("{} {}", quote_ident(&column), super::sql::SqlType::parse(&ty)?))
        })
        .collect::<Result<_>>()?;
    let target = workspace.connect()?;
    target.execute_batch(&format!("CREATE TABLE {SCRATCH_DB}.main.{} ({})", quote_ident(name), columns.join(", ")))?;
    let mut stmt = conn.prepare(sql)?;
    let mut rows = 0;
    let mut appender = target.appender_to_catalog_and_db(name, SCRATCH_DB, "main")?;
    for batch in stmt.stream_arrow([])? {
        ctx.checkpoint()?;
        let batch = batch?;
        rows += batch.num_rows();
        appender.append_record_batch(batch)?;
    }
    appender.flush()?;
    Ok(rows)
}

/// The workspace tables a statement writes, as far as its first words say: `INSERT INTO t`,
/// `UPDATE t`, `DELETE FROM t`, `ALTER TABLE t`, `DROP TABLE t`, `TRUNCATE t`, `CREATE OR
/// REPLACE TABLE t`, `COPY t FROM`. Names in other databases or schemas are left out.
pub fn written_tables(sql: &str) -> Vec<String> {
    let tokens = lexer::meaningful(sql);
    let word = |i: usize| tokens.get(i).filter(|t| t.kind == TokenKind::Word).map(|t| t.text(sql).to_ascii_uppercase());
    let skip = |mut i: usize, words: &[&str]| {
        while word(i).is_some_and(|w| words.contains(&w.as_str())) {
            i += 1;
        }
        i
    };
    // A name at token i (`t`, `"t"`, `main.t`), and the token after it.
    let name_at = |i: usize| -> Option<(String, usize)> {
        let part = |i: usize| {
            tokens.get(i).and_then(|t| match t.kind {
                TokenKind::Word => Some(t.text(sql).to_string()),
                TokenKind::QuotedName => t.unquoted(sql),
                _ => None,
            })
        };
        let mut parts = vec![part(i)?];
        let mut next = i + 1;
        while tokens.get(next).is_some_and(|t| t.is_symbol(sql, '.')) {
            parts.push(part(next + 1)?);
            next += 2;
        }
        let name = parts.pop()?;
        let in_main = match parts.as_slice() {
            [] => true,
            [schema] => schema.eq_ignore_ascii_case("main"),
            _ => false,
        };
        in_main.then_some((name, next))
    };
    let first = word(0).unwrap_or_default();
    let mut names = Vec::new();
    let mut at = match first.as_str() {
        "INSERT" => Some(skip(1, &["OR", "REPLACE", "IGNORE", "INTO"])),
        "UPDATE" => Some(1),
        "DELETE" => Some(skip(1, &["FROM"])),
        "TRUNCATE" => Some(skip(1, &["TABLE"])),
        "COPY" if tokens.iter().any(|t| t.is_word(sql, "FROM")) && !tokens.get(1).is_some_and(|t| t.is_symbol(sql, '(')) => Some(1),
        "ALTER" if word(1).as_deref() == Some("TABLE") => Some(skip(2, &["IF", "EXISTS"])),
        "DROP" if matches!(word(1).as_deref(), Some("TABLE" | "VIEW")) => Some(skip(2, &["IF", "EXISTS"])),
        "CREATE" if word(1).as_deref() == Some("OR") && tokens.iter().take(6).any(|t| t.is_word(sql, "TABLE")) => {
            let i = skip(1, &["OR", "REPLACE"]);
            if word(i).is_some_and(|w| w == "TEMP" || w == "TEMPORARY") { None } else { Some(skip(i, &["TABLE"])) }
        }
        _ => None,
    };
    while let Some(i) = at.take() {
        if let Some((name, next)) = name_at(i) {
            names.push(name);
            // DROP TABLE a, b
            if first == "DROP" && tokens.get(next).is_some_and(|t| t.is_symbol(sql, ',')) {
                at = Some(next + 1);
            }
        }
    }
    names
}

/// Runs a statement that is not a query; rows it returns (EXPLAIN, CALL, RETURNING) are kept
/// as text in a result table, every one of them, written as they come.
fn run_statement(workspace: &Workspace, conn: &Connection, sql: &str) -> Result<SqlOutcome> {
    let mut stmt = conn.prepare(sql).map_err(|e| located(e, sql, ""))?;
    let mut rows = stmt.query([]).map_err(|e| located(e, sql, ""))?;
    let names: Vec<String> = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    // The rows go to the scratch table through a connection of their own, so a statement
    // inside the user's transaction keeps them after a ROLLBACK.
    let other = workspace.connect()?;
    let name = scratch_name("result");
    let create = || {
        let columns: Vec<String> = names.iter().map(|n| format!("{} VARCHAR", quote_ident(n))).collect();
        other.execute_batch(&format!("CREATE TABLE {SCRATCH_DB}.main.{} ({})", quote_ident(&name), columns.join(", ")))
    };
    let mut first: Option<Vec<Option<String>>> = None;
    let mut count = 0u64;
    let mut appender: Option<duckdb::Appender<'_>> = None;
    while let Some(row) = rows.next()? {
        let cells: Vec<Option<String>> = (0..names.len()).map(|i| Ok(value_text(row.get::<_, duckdb::types::Value>(i)?))).collect::<Result<_>>()?;
        count += 1;
        if count == 1 {
            first = Some(cells);
            continue;
        }
        if appender.is_none() {
            create()?;
            let mut app = other.appender_to_catalog_and_db(&name, SCRATCH_DB, "main")?;
            if let Some(first) = &first {
                app.append_row(duckdb::appender_params_from_iter(first.iter()))?;
            }
            appender = Some(app);
        }
        if let Some(app) = appender.as_mut() {
            app.append_row(duckdb::appender_params_from_iter(cells.iter()))?;
        }
    }
    drop(rows);
    // INSERT, UPDATE and DELETE answer with one "Count" column.
    if names.len() == 1 && names[0] == "Count" && count == 1 {
        let changed: u64 = first.as_ref().and_then(|r| r[0].as_deref()).and_then(|v| v.parse().ok()).unwrap_or(0);
        return Ok(SqlOutcome { result: None, message: format!("{} changed", super::config::rows_text(changed)), changes_tables: true });
    }
    if names.is_empty() || count == 0 && names.len() == 1 && names[0] == "Success" {
        return Ok(SqlOutcome { result: None, message: "OK".into(), changes_tables: true });
    }
    match appender.as_mut() {
        Some(app) => app.flush()?,
        None => {
            // No row or one row: written now.
            create()?;
            if let Some(first) = &first {
                let mut app = other.appender_to_catalog_and_db(&name, SCRATCH_DB, "main")?;
                app.append_row(duckdb::appender_params_from_iter(first.iter()))?;
                app.flush()?;
            }
        }
    }
    drop(appender);
    Ok(SqlOutcome {
        result: Some(ResultTable { name, sql: sql.to_string(), rows: count }),
        message: super::config::rows_text(count),
        changes_tables: true,
    })
}

fn value_text(value: duckdb::types::Value) -> Option<String> {
    use duckdb::types::Value;
    Some(match value {
        Value::Null => return None,
        Value::Text(t) => t,
        Value::Boolean(b) => b.to_string(),
        Value::TinyInt(n) => n.to_string(),
        Value::SmallInt(n) => n.to_string(),
        Value::Int(n) => n.to_string(),
        Value::BigInt(n) => n.to_string(),
        Value::HugeInt(n) => n.to_string(),
        Value::UTinyInt(n) => n.to_string(),
        Value::USmallInt(n) => n.to_string(),
        Value::UInt(n) => n.to_string(),
        Value::UBigInt(n) => n.to_string(),
        Value::Float(n) => n.to_string(),
        Value::Double(n) => n.to_string(),
        Value::Decimal(n) => n.to_string(),
        other => format!("{other:?}"),
    })
}

/// DuckDB's message with the line and column of the fault in the statement as typed.
/// `prefix` is SQL put before the statement when it ran (on its first line).
fn located(err: duckdb::Error, sql: &str, prefix: &str) -> EngineError {
    let message = err.to_string();
    let ran = format!("{prefix}{sql}");
    let (reason, position) = split_position(&message, &ran);
    let (line, column) = match position {
        Some((1, column)) => match column.checked_sub(prefix.chars().count()) {
            Some(column) => (1, column + 1),
            None => (0, 0),
        },
        Some((line, column)) => (line, column + 1),
        // "syntax error at end of input": the end of the statement.
        None if reason.contains("end of input") => {
            let (line, column) = lexer::line_column(sql, sql.len());
            (line, column)
        }
        None => (0, 0),
    };
    // A caret past the end of the statement (e.g. a missing closing parenthesis) points at its end.
    let (line, column) = match sql.lines().nth(line.saturating_sub(1)) {
        Some(text) if line > 0 => (line, column.min(text.chars().count() + 1)),
        _ => (line, column),
    };
    EngineError::SqlError { line, column, message: reason }
}

/// DuckDB's error text without its `LINE n: …` excerpt, and the line (from 1) and character
/// offset (from 0) in that line of the fault, read from the excerpt's caret. A long line is
/// shown as a window (`...text...`): the window is found in `sql` to place the caret.
fn split_position(message: &str, sql: &str) -> (String, Option<(usize, usize)>) {
    let Some(at) = message.find("\nLINE ") else { return (message.trim().to_string(), None) };
    let text = message[..at].trim().to_string();
    let excerpt = &message[at + 1..];
    let mut lines = excerpt.lines();
    let (Some(code_line), Some(caret_line)) = (lines.next(), lines.next()) else { return (text, None) };
    let Some(colon) = code_line.find(": ") else { return (text, None) };
    let Some(caret) = caret_line.find('^').map(|c| caret_line[..c].chars().count()) else { return (text, None) };
    let Ok(line) = code_line["LINE ".len()..colon].trim().parse::<usize>() else { return (text, None) };
    let Some(in_excerpt) = caret.checked_sub(colon + 2) else { return (text, None) };
    let shown = &code_line[colon + 2..];
    let Some(windowed) = shown.strip_prefix("...") else { return (text, Some((line, in_excerpt))) };
    let window = windowed.strip_suffix("...").unwrap_or(windowed);
    // The window's place in the statement's line (the same line of the SQL that ran).
    let column = sql.lines().nth(line - 1).and_then(|l| l.find(window).map(|b| l[..b].chars().count())).zip(in_excerpt.checked_sub(3));
    (text, column.map(|(start, offset)| (line, start + offset)))
}

/// The history of statements run in this workspace, newest first, optionally only those
/// containing `search`.
pub fn history(workspace: &Workspace, search: &str, limit: usize) -> Result<Vec<HistoryEntry>> {
    let conn = workspace.connect()?;
    ensure_history_table(&conn)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT sql, CAST(ran_at AS VARCHAR), seconds, coalesce(ok, true) FROM {META_SCHEMA}.sql_history
         WHERE contains(lower(sql), lower(?)) ORDER BY id DESC LIMIT ?"
    ))?;
    let rows = stmt.query_map(duckdb::params![search, limit as i64], |r| {
        Ok(HistoryEntry { sql: r.get(0)?, ran_at: r.get(1)?, seconds: r.get(2)?, ok: r.get(3)? })
    })?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub sql: String,
    pub ran_at: String,
    pub seconds: f64,
    /// It ran without an error.
    pub ok: bool,
}

fn ensure_history_table(conn: &Connection) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE SEQUENCE IF NOT EXISTS {m}.sql_history_id;
         CREATE TABLE IF NOT EXISTS {m}.sql_history (id BIGINT DEFAULT nextval('{m}.sql_history_id'),
             ran_at TIMESTAMP DEFAULT current_timestamp, sql VARCHAR NOT NULL, ok BOOLEAN, seconds DOUBLE);",
        m = META_SCHEMA
    ))?;
    Ok(())
}

/// Keeps a statement in the history; the same statement run again moves to the top.
fn record_history(workspace: &Workspace, sql: &str, ok: bool, seconds: f64) {
    let Ok(conn) = workspace.connect() else { return };
    if ensure_history_table(&conn).is_err() {
        return;
    }
    let _ = conn.execute(&format!("DELETE FROM {META_SCHEMA}.sql_history WHERE sql = ?"), [sql]);
    let _ = conn.execute(&format!("INSERT INTO {META_SCHEMA}.sql_history (sql, ok, seconds) VALUES (?, ?, ?)"), duckdb::params![sql, ok, seconds]);
}


/// Hands every row of a result (at most `limit`) to `f` as text, a page at a time, so memory
/// follows the page and not the result. Returns the columns.
pub fn for_each_result_row(conn: &Connection, result: &ResultTable, limit: u64, mut f: impl FnMut(&[ColumnInfo], &[Option<String>]) -> Result<()>) -> Result<Vec<ColumnInfo>> {
    const PAGE_ROWS: u64 = 10_000;
    let shape = SourceShape::of(conn, &result.source())?;
    let list: Vec<String> = shape.columns.iter().map(|c| format!("CAST({} AS VARCHAR)", quote_ident(&c.name))).collect();
    let list = if list.is_empty() { "NULL".to_string() } else { list.join(", ") };
    let mut stmt = conn.prepare(&format!("SELECT rowid, {list} FROM {} WHERE rowid > ? ORDER BY rowid LIMIT ?", result.source().sql()))?;
    let (mut after, mut seen) = (-1i64, 0u64);
    while seen < limit {
        let page = PAGE_ROWS.min(limit - seen);
        let mut rows = stmt.query(duckdb::params![after, page as i64])?;
        let mut got = 0;
        while let Some(row) = rows.next()? {
            after = row.get(0)?;
            let cells = (1..=shape.columns.len()).map(|i| row.get::<_, Option<String>>(i)).collect::<duckdb::Result<Vec<_>>>()?;
            f(&shape.columns, &cells)?;
            got += 1;
        }
        seen += got;
        if got < page {
            break;
        }
    }
    Ok(shape.columns)
}

pub fn drop_result(conn: &Connection, result: &ResultTable) {
    drop_scratch(conn, &result.name);
}


/// Saves a result as a new table of the workspace, in one transaction.
pub struct SaveResultJob {
    pub workspace: Arc<Workspace>,
    pub result: ResultTable,
    pub table: String,
}

impl Job for SaveResultJob {
    type Output = String;

    fn title(&self) -> String {
        format!("Save the result as table {}", self.table)
    }

    fn run(self, ctx: &JobCtx) -> Result<String> {
        validate_table_name(&self.table)?;
        if self.workspace.has_table(&self.table)? {
            return Err(EngineError::Duplicate(self.table.clone()));
        }
        let _writing = self.workspace.writing();
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        ctx.phase(format!("Writing table {}", self.table), None);
        ctx.expect_rows(self.result.rows);
        conn.execute_batch("BEGIN TRANSACTION")?;
        let written = (|| -> Result<u64> {
            let rows = conn.execute(&format!("CREATE TABLE {} AS SELECT * FROM {} ORDER BY rowid", quote_ident(&self.table), self.result.source().sql()), [])?;
            conn.execute(
                &format!("INSERT OR REPLACE INTO {META_SCHEMA}.tables (name, source, rows) VALUES (?, ?, ?)"),
                duckdb::params![self.table, format!("SQL: {}", self.result.sql), rows as i64],
            )?;
            Ok(rows as u64)
        })();
        match written {
            Ok(rows) if !ctx.is_cancelled() => {
                conn.execute_batch("COMMIT")?;
                ctx.record_output(rows, 0);
                Ok(self.table)
            }
            other => {
                ctx.unwatch();
                let _ = conn.execute_batch("ROLLBACK");
                match other {
                    Err(e) if !ctx.is_cancelled() => Err(e),
                    _ => Err(EngineError::Cancelled),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_told_from_other_statements() {
        for q in ["SELECT 1", "  with x as (select 1) select * from x", "FROM t", "(SELECT 1)", "describe t", "SUMMARIZE t", "VALUES (1)"] {
            assert!(returns_rows(q), "{q}");
        }
        for s in ["CREATE TABLE x AS SELECT 1", "INSERT INTO t VALUES (1)", "-- c\nDROP TABLE t", "EXPLAIN SELECT 1"] {
            assert!(!returns_rows(s), "{s}");
        }
    }

    #[test]
    fn file_access_is_limited_to_allowed_folders() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("in.csv");
        std::fs::write(&inside, "a\n1\n").unwrap();
        let access = SqlAccess::Folders(vec![dir.path().to_path_buf()]);
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc", dir.path().join("etc_link")).unwrap();
        let inside = inside.display().to_string();
        for ok in [
            format!("SELECT * FROM read_csv('{inside}')"),
            format!("SELECT * FROM '{inside}'"),
            format!("COPY t TO '{}/out.parquet'", dir.path().display()),
            format!("SELECT * FROM read_csv(['{inside}', '{inside}'], header = true)"),
            format!("SELECT * FROM read_parquet('{}/*.parquet')", dir.path().display()),
            "SELECT 'a, b' FROM t WHERE x = '/etc/passwd'".to_string(),
            "CREATE TABLE y AS SELECT * FROM t".to_string(),
            format!("SELECT * FROM read_csv('{}/*.csv')", dir.path().display()),
            format!("ATTACH IF NOT EXISTS '{}/w.duckdb' AS w", dir.path().display()),
            "SELECT a, 'x/y' FROM t WHERE url LIKE '%/%'".to_string(),
        ] {
            check_access(&ok, &access).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "SELECT * FROM read_csv('/etc/passwd')".to_string(),
            format!("SELECT * FROM read_csv('{}/../x.csv')", dir.path().display()),
            "SELECT * FROM '/etc/hosts'".to_string(),
            "SELECT * FROM t, '/etc/hosts'".to_string(),
            "SELECT * FROM \"/etc/x.csv\"".to_string(),
            "COPY t TO '/tmp/elsewhere.csv'".to_string(),
            "SELECT * FROM read_text(concat('/etc/', 'passwd'))".to_string(),
            "SELECT * FROM query('SELECT 1')".to_string(),
            "ATTACH '/tmp/other.duckdb' AS o".to_string(),
            "EXPORT DATABASE '/tmp/dump'".to_string(),
            "SET enable_external_access = true".to_string(),
            "INSTALL httpfs".to_string(),
            "SELECT * FROM read_csv('https://example.com/x.csv')".to_string(),
            "SELECT * FROM dataforge_arrow(1, 2)".to_string(),
            // Found by review: quoted function names, backticks, nested comments, paths
            // as expressions, other table positions, escapes out of a glob.
            "SELECT * FROM \"read_text\"('/etc/passwd')".to_string(),
            "SELECT * FROM `read_text`('/etc/passwd')".to_string(),
            "SELECT `a'b` FROM read_text('/etc/passwd') --'".to_string(),
            "/* /* */ ' */ SELECT * FROM read_text('/etc/passwd') -- '".to_string(),
            "SELECT * FROM \"dataforge_arrow\"(1, 2)".to_string(),
            "ATTACH ('/tmp/' || 'x.db') AS x".to_string(),
            "ATTACH IF NOT EXISTS '/tmp/x.db'".to_string(),
            "ATTACH OR REPLACE '/tmp/x.db'".to_string(),
            "COPY t TO ('/tmp/' || 'x.csv') (FORMAT csv)".to_string(),
            "COPY t FROM \"/etc/passwd\" (DELIMITER ':')".to_string(),
            "COPY '/etc/hosts' TO '/tmp/o.csv'".to_string(),
            "SELECT * FROM s: '/etc/hosts'".to_string(),
            "PIVOT '/etc/hosts' ON a".to_string(),
            "DESCRIBE '/etc/hosts'".to_string(),
            "SELECT * FROM a JOIN b ON true, '/etc/hosts'".to_string(),
            "SELECT * FROM t, \"/etc/x.csv\"".to_string(),
            "SELECT * FROM E'/etc/hosts'".to_string(),
            format!("SELECT * FROM read_csv('{}*/x.csv')", dir.path().display()),
            format!("SELECT * FROM read_text('{}/x*/../../../etc/passwd')", dir.path().display()),
            "IMPORT DATABASE '/tmp/d'".to_string(),
            "INSERT OR REPLACE INTO \"dataforge_meta\".settings VALUES ('sql_folders', '[\"/\"]')".to_string(),
            "CREATE OR REPLACE PERSISTENT SECRET s (TYPE s3)".to_string(),
            "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))".to_string(),
            "DETACH dataforge_scratch".to_string(),
            "DETACH DATABASE IF EXISTS ws".to_string(),
            // A glob in an allowed folder reaching out through a linked folder.
            format!("SELECT * FROM read_text('{}/*/passwd')", dir.path().display()),
        ] {
            assert!(check_access(&bad, &access).is_err(), "{bad} was allowed");
        }
        assert!(check_access("SELECT * FROM read_csv('/etc/passwd')", &SqlAccess::Unrestricted).is_ok());
        let none = SqlAccess::Folders(Vec::new());
        assert!(check_access(&format!("SELECT * FROM read_csv('{inside}')"), &none).unwrap_err().to_string().contains("Settings"));
    }

    #[test]
    fn error_positions_come_from_the_caret() {
        let message = "Parser Error: syntax error at or near \"FORM\"\n\nLINE 1: SELECT * FORM t\n                 ^";
        assert_eq!(split_position(message, "SELECT * FORM t"), ("Parser Error: syntax error at or near \"FORM\"".to_string(), Some((1, 9))));
        // A long line is shown as a window around the fault.
        let long = format!("SELECT {}x AS delayFROM flights", "a, ".repeat(60));
        let code = "LINE 1: ...a, a, x AS delayFROM flights";
        let message = format!("Parser Error: syntax error at or near \"flights\"\n\n{code}\n{}^^^^^^^", " ".repeat(code.find("flights").unwrap()));
        let at = split_position(&message, &long).1.unwrap();
        assert_eq!(&long[at.1..at.1 + 7], "flights");
    }
}
