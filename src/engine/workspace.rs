//! The workspace: one DuckDB file holding the user's tables plus a small `dataforge_meta`
//! schema (settings, where each table came from). Every job gets its own connection from
//! [`Workspace::connect`]; the workspace's own connection only answers catalog questions.
//!
//! It is a leaf: connection, catalog, settings and the writer locks of tables. It knows no
//! feature; what features need at each opening of the database (table functions) they
//! hand in as [`OnOpen`], and per-table cleanup lives in [`crate::engine::catalog`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use duckdb::{Config, Connection, params};
use serde::Serialize;

use super::config::{EnvOverrides, Settings};
use super::error::{EngineError, Result};
use super::kind::ColumnKind;
use super::sql::{META_SCHEMA, SCRATCH_DB, STAGING_PREFIX, quote_ident, quote_literal};

/// Runs on the first connection each time the database opens (at open and after
/// compaction): the layer above registers its table functions here.
pub type OnOpen = Arc<dyn Fn(&Connection) -> Result<()> + Send + Sync>;

/// Which tables a writer holds, by lower-case name, and what holds them.
#[derive(Default)]
struct TableLocks {
    held: Mutex<HashMap<String, String>>,
    freed: Condvar,
}

/// The writer lock of one table, held while it lives.
pub struct TableLock {
    locks: Arc<TableLocks>,
    key: String,
}

impl Drop for TableLock {
    fn drop(&mut self) {
        self.locks.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
        self.locks.freed.notify_all();
    }
}

pub struct Workspace {
    path: PathBuf,
    conn: Mutex<Connection>,
    settings: Mutex<Settings>,
    overrides: EnvOverrides,
    /// Serializes the short name-check-and-rename step of imports.
    land_lock: Mutex<()>,
    /// One clone per connection handed out; compaction waits until only this one is left.
    handed_out: Arc<()>,
    /// Set when the file could not be reopened after compaction: nothing may use the stand-in.
    is_closed: std::sync::atomic::AtomicBool,
    /// Imports running now.
    writers: Arc<std::sync::atomic::AtomicUsize>,
    table_locks: Arc<TableLocks>,
    on_open: OnOpen,
}

/// Counts an import as running while it lives.
pub struct Writing(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Writing {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A connection to the workspace, for one job or worker thread.
pub struct WsConnection {
    conn: Connection,
    _handed_out: Arc<()>,
}

impl std::ops::Deref for WsConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableInfo {
    pub name: String,
    pub rows: u64,
    pub columns: u64,
    /// Bytes the table takes in the workspace file, when measured at import.
    pub bytes: Option<u64>,
    pub source: Option<String>,
    /// A view over a file left in place (opened, not imported).
    pub is_linked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
    /// What the column holds, decided once from its type.
    pub kind: ColumnKind,
}

impl ColumnInfo {
    pub fn new(name: impl Into<String>, data_type: impl Into<String>) -> Self {
        let data_type = data_type.into();
        Self { name: name.into(), kind: ColumnKind::of(&data_type), data_type }
    }
}

/// What compacting the workspace file did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl CompactReport {
    pub fn freed_bytes(&self) -> u64 {
        self.bytes_before.saturating_sub(self.bytes_after)
    }
}

/// Bytes before the first block of a DuckDB file: the main header and two database headers.
const FILE_HEADER_BYTES: u64 = 3 * 4096;

impl Workspace {
    /// Opens (or creates) the workspace file at `path`.
    ///
    /// # Failure
    /// Fails when the file is not a DuckDB database, is locked by another process, or its
    /// directory cannot be created.
    pub fn open(path: impl AsRef<Path>, overrides: EnvOverrides, on_open: OnOpen) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
        }
        let mut settings = Settings::defaults_for(&path);
        overrides.apply(&mut settings);
        settings.validate()?;
        let conn = open_file(&path, &settings)?;
        let ws = Self {
            path,
            conn: Mutex::new(conn),
            settings: Mutex::new(settings),
            overrides,
            land_lock: Mutex::new(()),
            handed_out: Arc::new(()),
            is_closed: std::sync::atomic::AtomicBool::new(false),
            writers: Arc::default(),
            table_locks: Arc::default(),
            on_open,
        };
        ws.prepare()?;
        Ok(ws)
    }

    /// An in-memory workspace, for probes and tests.
    pub fn open_in_memory(on_open: OnOpen) -> Result<Self> {
        let settings = Settings::defaults_for(&std::env::temp_dir().join("dataforge-memory"));
        let conn = Connection::open_in_memory_with_flags(base_config(&settings)?)?;
        let ws = Self {
            path: PathBuf::from(":memory:"),
            conn: Mutex::new(conn),
            settings: Mutex::new(settings),
            overrides: EnvOverrides::default(),
            land_lock: Mutex::new(()),
            handed_out: Arc::new(()),
            is_closed: std::sync::atomic::AtomicBool::new(false),
            writers: Arc::default(),
            table_locks: Arc::default(),
            on_open,
        };
        ws.prepare()?;
        Ok(ws)
    }

    fn prepare(&self) -> Result<()> {
        let conn = self.lock();
        (self.on_open)(&conn)?;
        // Sorted copies for the table view live in memory (spilling to the temp folder), shared
        // by every connection, never in the workspace file.
        conn.execute_batch(&format!("ATTACH IF NOT EXISTS ':memory:' AS {SCRATCH_DB}"))?;
        conn.execute_batch(&format!(
            "CREATE SCHEMA IF NOT EXISTS {m};
             CREATE TABLE IF NOT EXISTS {m}.settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
             CREATE TABLE IF NOT EXISTS {m}.tables (name VARCHAR PRIMARY KEY, source VARCHAR,
                 imported_at TIMESTAMP DEFAULT current_timestamp, rows BIGINT, bytes BIGINT);",
            m = META_SCHEMA
        ))?;
        // Staging tables left by a crash between load and rename are never user data.
        let leftovers: Vec<String> = {
            let mut stmt = conn.prepare(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()
                 AND schema_name = 'main' AND starts_with(table_name, ?)",
            )?;
            stmt.query_map([STAGING_PREFIX], |r| r.get(0))?.collect::<duckdb::Result<_>>()?
        };
        for name in leftovers {
            conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(&name)))?;
        }
        if self.path != Path::new(":memory:") {
            trim_unused_tail(&conn, &self.path);
            remove_compaction_leftovers(&self.path);
        }
        let stored: Vec<(String, String)> = {
            let mut stmt = conn.prepare(&format!("SELECT key, value FROM {META_SCHEMA}.settings"))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<duckdb::Result<_>>()?
        };
        drop(conn);
        let mut settings = self.settings();
        for (key, value) in stored {
            match key.as_str() {
                "threads" => settings.threads = value.parse().unwrap_or(settings.threads),
                "memory_limit_bytes" => {
                    settings.memory_limit_bytes = value.parse().unwrap_or(settings.memory_limit_bytes)
                }
                "temp_dir" => settings.temp_dir = PathBuf::from(value),
                "sql_folders" => settings.sql_folders = serde_json::from_str(&value).unwrap_or_default(),
                "memory_warning_percent" => settings.memory_warning_percent = value.parse().unwrap_or(settings.memory_warning_percent),
                _ => {}
            }
        }
        self.overrides.apply(&mut settings);
        // Scratch files of a process that was killed.
        crate::engine::scratch::sweep(&settings.temp_dir);
        if settings.validate().is_ok() {
            self.apply_settings(&settings)?;
        }
        Ok(())
    }

    /// Rewrites the workspace file without its free space (dropped tables, failed imports).
    /// Every other connection must be closed first: jobs finished, table views closed.
    ///
    /// # Failure
    /// `Busy` when other connections stay open; a failed copy leaves the file as it was.
    /// `watch` is told the connection that copies (to interrupt it), then `None` when done.
    pub fn compact(&self, watch: &mut dyn FnMut(Option<&Connection>) -> Result<()>) -> Result<CompactReport> {
        if self.path == Path::new(":memory:") {
            return Err(EngineError::Unsupported("an in-memory workspace has no file to compact".into()));
        }
        // Wait for the others to close their connections without holding the catalog's.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut conn = loop {
            if Arc::strong_count(&self.handed_out) == 1 {
                let conn = self.lock();
                if Arc::strong_count(&self.handed_out) == 1 {
                    break conn;
                }
            }
            if std::time::Instant::now() > deadline {
                return Err(EngineError::Busy("the workspace is in use; wait for running jobs to finish and close open tables, then compact".into()));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        watch(Some(&conn))?;
        conn.execute_batch("CHECKPOINT")?;
        let bytes_before = file_bytes(&self.path);
        let with_suffix = |path: &Path, suffix: &str| {
            let mut text = path.as_os_str().to_owned();
            text.push(suffix);
            PathBuf::from(text)
        };
        let copy = with_suffix(&self.path, &format!(".compact-{}", std::process::id()));
        let copy_wal = with_suffix(&copy, ".wal");
        let _ = std::fs::remove_file(&copy);
        let _ = std::fs::remove_file(&copy_wal);
        let main: String = conn.query_row("SELECT current_database()", [], |r| r.get(0))?;
        let copied = conn.execute_batch(&format!(
            "ATTACH {} AS __dataforge_compact; COPY FROM DATABASE {} TO __dataforge_compact;
             CHECKPOINT __dataforge_compact; DETACH __dataforge_compact;",
            quote_literal(&copy.to_string_lossy()),
            quote_ident(&main)
        ));
        let _ = watch(None);
        // Everything must be in the copy's file itself: its log is not carried over.
        let copied = copied.map_err(EngineError::from).and_then(|()| {
            if copy_wal.exists() {
                Err(EngineError::Internal("the compacted copy kept a write-ahead log".into()))
            } else {
                Ok(())
            }
        });
        if let Err(e) = copied {
            let _ = conn.execute_batch("DETACH DATABASE IF EXISTS __dataforge_compact");
            let _ = std::fs::remove_file(&copy);
            let _ = std::fs::remove_file(&copy_wal);
            return Err(e);
        }
        // Closing the last connection closes the database and frees the file.
        *conn = Connection::open_in_memory()?;
        let _ = std::fs::remove_file(with_suffix(&self.path, ".wal"));
        let renamed = std::fs::rename(&copy, &self.path).map_err(|e| EngineError::io(&self.path, e));
        // Another process may grab the file between close and reopen; try for a while.
        let mut reopened = open_file(&self.path, &self.settings());
        for _ in 0..20 {
            if !matches!(reopened, Err(EngineError::WorkspaceLocked(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            reopened = open_file(&self.path, &self.settings());
        }
        match reopened {
            Ok(file) => *conn = file,
            Err(e) => {
                self.is_closed.store(true, std::sync::atomic::Ordering::SeqCst);
                return Err(EngineError::WorkspaceUnavailable {
                    path: self.path.clone(),
                    reason: format!("it was compacted but could not be opened again ({e}); restart dataforge"),
                });
            }
        }
        drop(conn);
        renamed?;
        self.prepare()?;
        Ok(CompactReport { bytes_before, bytes_after: file_bytes(&self.path) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Held while an import picks its final name and renames into it, so two imports of
    /// `data.csv` from different folders become `data` and `data_2`.
    pub(crate) fn land_lock(&self) -> MutexGuard<'_, ()> {
        self.land_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection to this workspace, for one job or worker thread.
    pub fn connect(&self) -> Result<WsConnection> {
        self.check_open()?;
        Ok(WsConnection { conn: self.lock().try_clone()?, _handed_out: self.handed_out.clone() })
    }

    /// Marks an import as running until the returned guard is dropped.
    pub fn writing(&self) -> Writing {
        self.writers.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Writing(self.writers.clone())
    }

    /// Imports running now.
    pub fn writers(&self) -> usize {
        self.writers.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Bytes of the workspace file on disk (0 for an in-memory workspace).
    pub fn file_bytes(&self) -> u64 {
        file_bytes(&self.path)
    }

    pub fn settings(&self) -> Settings {
        self.settings.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn env_overrides(&self) -> &EnvOverrides {
        &self.overrides
    }

    /// Validates, applies and stores new settings. Values pinned by the environment win.
    pub fn update_settings(&self, mut settings: Settings) -> Result<()> {
        self.overrides.apply(&mut settings);
        settings.validate()?;
        self.apply_settings(&settings)?;
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!("INSERT OR REPLACE INTO {META_SCHEMA}.settings VALUES (?, ?)"))?;
        stmt.execute(params!["threads", settings.threads.to_string()])?;
        stmt.execute(params!["memory_limit_bytes", settings.memory_limit_bytes.to_string()])?;
        stmt.execute(params!["temp_dir", settings.temp_dir.to_string_lossy().into_owned()])?;
        let folders = serde_json::to_string(&settings.sql_folders).map_err(|e| EngineError::Internal(e.to_string()))?;
        stmt.execute(params!["sql_folders", folders])?;
        stmt.execute(params!["memory_warning_percent", settings.memory_warning_percent.to_string()])?;
        Ok(())
    }

    fn apply_settings(&self, settings: &Settings) -> Result<()> {
        self.lock().execute_batch(&format!(
            "SET threads = {}; SET memory_limit = '{}B'; SET temp_directory = {};",
            settings.threads,
            settings.memory_limit_bytes,
            quote_literal(&settings.temp_dir.to_string_lossy())
        ))?;
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings.clone();
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.is_closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EngineError::WorkspaceUnavailable { path: self.path.clone(), reason: "it could not be opened again after compaction; restart dataforge".into() });
        }
        Ok(())
    }

    /// User tables and linked files, sorted by name.
    pub fn tables(&self) -> Result<Vec<TableInfo>> {
        self.check_open()?;
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT t.table_name, coalesce(m.rows, t.estimated_size), t.column_count, m.bytes, m.source, false
             FROM duckdb_tables() t LEFT JOIN {META_SCHEMA}.tables m ON m.name = t.table_name
             WHERE t.database_name = current_database() AND t.schema_name = 'main'
               AND NOT t.temporary AND NOT starts_with(t.table_name, ?)
             UNION ALL
             SELECT v.view_name, coalesce(m.rows, 0), v.column_count, NULL, m.source, true
             FROM duckdb_views() v LEFT JOIN {META_SCHEMA}.tables m ON m.name = v.view_name
             WHERE v.database_name = current_database() AND v.schema_name = 'main'
               AND NOT v.temporary AND NOT v.internal
             ORDER BY 1"
        ))?;
        let rows = stmt.query_map([STAGING_PREFIX], |r| {
            Ok(TableInfo {
                name: r.get(0)?,
                rows: r.get::<_, i64>(1)?.max(0) as u64,
                columns: r.get::<_, i64>(2)?.max(0) as u64,
                bytes: r.get::<_, Option<i64>>(3)?.map(|b| b.max(0) as u64),
                source: r.get(4)?,
                is_linked: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<duckdb::Result<_>>()?)
    }

    pub fn table(&self, name: &str) -> Result<TableInfo> {
        self.tables()?
            .into_iter()
            .find(|t| t.name.to_lowercase() == name.to_lowercase())
            .ok_or_else(|| EngineError::TableNotFound(name.to_string()))
    }

    pub fn has_table(&self, name: &str) -> Result<bool> {
        table_exists(&self.lock(), name)
    }

    pub fn columns(&self, table: &str) -> Result<Vec<ColumnInfo>> {
        table_columns(&self.lock(), table)
    }

    /// `base`, or `base_2`, `base_3`… — the first name not taken.
    pub fn unique_table_name(&self, base: &str) -> Result<String> {
        let taken: Vec<String> = self.tables()?.into_iter().map(|t| t.name.to_lowercase()).collect();
        unique_name(base, |n| Ok(taken.contains(&n.to_lowercase())))
    }

    pub fn drop_table(&self, name: &str) -> Result<()> {
        let conn = self.lock();
        if !table_exists(&conn, name)? {
            return Err(EngineError::TableNotFound(name.to_string()));
        }
        let kind = if is_view(&conn, name)? { "VIEW" } else { "TABLE" };
        in_transaction(&conn, || {
            conn.execute_batch(&format!("DROP {kind} {}", quote_ident(name)))?;
            conn.execute(&format!("DELETE FROM {META_SCHEMA}.tables WHERE name = ?"), [name])?;
            Ok(())
        })?;
        Ok(())
    }

    /// Takes the writer lock of `table` for `holder` (a job's title), or says who holds it.
    /// Writers of one table (append, merge, replace, type change, console statements) take
    /// it, so none works from a copy another one is changing.
    pub fn try_lock_table(&self, table: &str, holder: &str) -> std::result::Result<TableLock, String> {
        let key = table.to_lowercase();
        let mut held = self.table_locks.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.get(&key) {
            Some(other) => Err(other.clone()),
            None => {
                held.insert(key.clone(), holder.to_string());
                Ok(TableLock { locks: self.table_locks.clone(), key })
            }
        }
    }

    /// Waits until some table lock is released, or `timeout` passes.
    pub fn wait_for_table_locks(&self, timeout: Duration) {
        let held = self.table_locks.held.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.table_locks.freed.wait_timeout(held, timeout);
    }

    /// DuckDB's own view of the memory it holds (buffer manager), in bytes.
    pub fn duckdb_memory_bytes(&self) -> Result<u64> {
        duckdb_memory_bytes(&self.lock())
    }

    /// Writes the WAL into the database file.
    pub fn checkpoint(&self) -> Result<()> {
        Ok(self.lock().execute_batch("CHECKPOINT")?)
    }
}

fn base_config(settings: &Settings) -> Result<Config> {
    Ok(Config::default()
        .enable_autoload_extension(false)?
        .with("autoinstall_known_extensions", "false")?
        .with("allow_community_extensions", "false")?
        .threads(settings.threads as i64)?
        .max_memory(&format!("{}B", settings.memory_limit_bytes))?
        .with("temp_directory", settings.temp_dir.to_string_lossy())?
        // DuckDB's asynchronous file writes can hang a failing COPY (a full disk) while it
        // drains them; writes made on the query's own threads fail cleanly.
        .with("async_threads", "0")?)
}

fn open_file(path: &Path, settings: &Settings) -> Result<Connection> {
    Connection::open_with_flags(path, base_config(settings)?).map_err(|err| match EngineError::from(err) {
        EngineError::WorkspaceLocked(_) => EngineError::WorkspaceLocked(path.to_path_buf()),
        EngineError::Database(text) => EngineError::WorkspaceUnavailable { path: path.to_path_buf(), reason: text },
        other => other,
    })
}

fn file_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// A write that failed for want of disk space leaves blocks past the end DuckDB accounts for
/// (its headers and `total_blocks` blocks); nothing refers to them once the database is
/// reopened, so the file is cut back to give the space to the disk again.
fn trim_unused_tail(conn: &Connection, path: &Path) {
    let sizes: duckdb::Result<(i64, i64)> =
        conn.query_row("SELECT block_size, total_blocks FROM pragma_database_size() WHERE database_name = current_database()", [], |r| Ok((r.get(0)?, r.get(1)?)));
    let Ok((block_size, total_blocks)) = sizes else { return };
    let used = FILE_HEADER_BYTES + (block_size.max(0) as u64) * (total_blocks.max(0) as u64);
    let len = file_bytes(path);
    // Only whole blocks past the end: anything less would mean the layout is not what we think.
    if block_size > 0 && len >= used + block_size as u64 {
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(path) {
            if file.set_len(used).is_ok() {
                tracing::info!("gave back {} bytes a failed write left at the end of {}", len - used, path.display());
            }
        }
    }
}

/// Copies a compaction was writing when its process died (`ws.duckdb.compact-4242` and its
/// log). The workspace is open here, so no other process is compacting it.
fn remove_compaction_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!("{}.compact-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else { continue };
        let pid = rest.split('.').next().unwrap_or("");
        if !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()) && pid != std::process::id().to_string() {
            if std::fs::remove_file(entry.path()).is_ok() {
                tracing::info!("removed {file}, left by a compaction that did not finish");
            }
        }
    }
}

/// `base`, or `base_2`, `base_3`… — the first name `is_taken` says is free.
pub(crate) fn unique_name(base: &str, mut is_taken: impl FnMut(&str) -> Result<bool>) -> Result<String> {
    if !is_taken(base)? {
        return Ok(base.to_string());
    }
    for n in 2..10_000 {
        let name = format!("{base}_{n}");
        if !is_taken(&name)? {
            return Ok(name);
        }
    }
    Err(EngineError::Duplicate(base.to_string()))
}

/// Runs `work` in one transaction: committed when it succeeds, rolled back when it fails.
pub(crate) fn in_transaction<T>(conn: &Connection, work: impl FnOnce() -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    let outcome = work().and_then(|value| {
        conn.execute_batch("COMMIT")?;
        Ok(value)
    });
    if outcome.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}

/// The name a new table or linked file gets: `wanted`, which must be free, else a free name
/// made from `base`.
pub(crate) fn new_table_name(conn: &Connection, wanted: Option<&str>, base: &str) -> Result<String> {
    match wanted {
        Some(name) if table_exists(conn, name)? => Err(EngineError::Duplicate(name.to_string())),
        Some(name) => Ok(name.to_string()),
        None => unique_name(base, |n| table_exists(conn, n)),
    }
}

/// Records `name` in the catalog with where it came from, replacing any stale entry.
pub(crate) fn register_in_catalog(conn: &Connection, name: &str, source: &str, rows: Option<u64>) -> Result<()> {
    conn.execute(&format!("DELETE FROM {META_SCHEMA}.tables WHERE name = ?"), [name])?;
    conn.execute(
        &format!("INSERT INTO {META_SCHEMA}.tables (name, source, rows) VALUES (?, ?, ?)"),
        duckdb::params![name, source, rows.map(|r| r as i64)],
    )?;
    Ok(())
}

/// True when a table or linked file (view) of that name exists.
pub(crate) fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()
                 AND schema_name = 'main' AND lower(table_name) = lower(?))
              + (SELECT count(*) FROM duckdb_views() WHERE database_name = current_database()
                 AND schema_name = 'main' AND NOT internal AND lower(view_name) = lower(?))",
        [name, name],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// True when `name` is a linked file (a view), not a table.
pub(crate) fn is_view(conn: &Connection, name: &str) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM duckdb_views() WHERE database_name = current_database()
         AND schema_name = 'main' AND NOT internal AND lower(view_name) = lower(?)",
        [name],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

pub(crate) fn table_columns(conn: &Connection, table: &str) -> Result<Vec<ColumnInfo>> {
    let mut stmt = conn.prepare(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database()
         AND schema_name = 'main' AND lower(table_name) = lower(?) ORDER BY column_index",
    )?;
    let cols: Vec<ColumnInfo> = stmt
        .query_map([table], |r| {
            Ok(ColumnInfo::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<duckdb::Result<_>>()?;
    if cols.is_empty() && !table_exists(conn, table)? {
        return Err(EngineError::TableNotFound(table.to_string()));
    }
    Ok(cols)
}

pub(crate) fn duckdb_memory_bytes(conn: &Connection) -> Result<u64> {
    let bytes: Option<i64> =
        conn.query_row("SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()", [], |r| r.get(0))?;
    Ok(bytes.unwrap_or(0).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_skip_taken_ones() {
        let taken = ["a", "a_2"];
        assert_eq!(unique_name("a", |n| Ok(taken.contains(&n))).unwrap(), "a_3");
        assert_eq!(unique_name("b", |n| Ok(taken.contains(&n))).unwrap(), "b");
        let failing = unique_name("a", |_| Err(EngineError::Cancelled));
        assert!(matches!(failing, Err(EngineError::Cancelled)));
    }

    #[test]
    fn opening_removes_copies_left_by_a_compaction_that_died() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ws.duckdb");
        drop(Workspace::open(&path, EnvOverrides::default(), Arc::new(|_| Ok(()))).unwrap());
        let dead = dir.path().join("ws.duckdb.compact-4242");
        let dead_wal = dir.path().join("ws.duckdb.compact-4242.wal");
        let ours = dir.path().join(format!("ws.duckdb.compact-{}", std::process::id()));
        let other_workspace = dir.path().join("other.duckdb.compact-4242");
        let users_file = dir.path().join("ws.duckdb.compact-notes.txt");
        for f in [&dead, &dead_wal, &ours, &other_workspace, &users_file] {
            std::fs::write(f, b"x").unwrap();
        }
        let ws = Workspace::open(&path, EnvOverrides::default(), Arc::new(|_| Ok(()))).unwrap();
        assert!(!dead.exists() && !dead_wal.exists(), "a dead process's copy and its WAL are removed");
        assert!(ours.exists(), "this process's own copy is not touched");
        assert!(other_workspace.exists() && users_file.exists(), "only this workspace's compaction copies are removed");
        drop(ws);
    }

    #[test]
    fn settings_persist_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ws.duckdb");
        {
            let ws = Workspace::open(&path, EnvOverrides::default(), Arc::new(|_| Ok(()))).unwrap();
            let mut s = ws.settings();
            s.threads = 1;
            s.memory_limit_bytes = 300 << 20;
            ws.update_settings(s).unwrap();
        }
        let ws = Workspace::open(&path, EnvOverrides::default(), Arc::new(|_| Ok(()))).unwrap();
        assert_eq!(ws.settings().threads, 1);
        assert_eq!(ws.settings().memory_limit_bytes, 300 << 20);
        let limit: String = ws.lock().query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0)).unwrap();
        assert_eq!(limit, "300.0 MiB");
    }
}
