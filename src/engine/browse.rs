//! Paged reads for the table view, off the UI thread.
//!
//! [`Browser`] fetches pages of rows as text by row position. Unsorted pages read the table
//! in insertion order; a sort is materialized once into a temporary table in that order, so
//! any page of a sorted 10M-row table is a range scan on `rowid` rather than a new sort.
//!
//! [`TableView`] is the UI-agnostic state of one open table: a page LRU cache, the pages in
//! flight, and a background [`BrowseWorker`] that answers requests through bounded channels.
//! Results from an older sort (a stale generation) are dropped on arrival.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};

use duckdb::Connection;
use lru::LruCache;

use super::error::{EngineError, Result};
use super::export::SortKey;
use super::job::Waker;
use super::sql::{META_SCHEMA, quote_ident};
use super::workspace::{ColumnInfo, Workspace, is_view, table_columns};

pub const PAGE_ROWS: u64 = 100;
const CACHE_PAGES: usize = 64;

/// A block of rows; each cell is `None` for SQL NULL.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub first_row: u64,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Reads pages of a table by position, in table order or a sort order.
pub struct Browser {
    conn: Connection,
    sorted: Option<SortedCopy>,
    shape: Option<TableShape>,
}

/// What a page query needs to know about a table, looked up once per table.
struct TableShape {
    table: String,
    select_list: String,
    columns: Vec<ColumnInfo>,
    /// False when a user column named `rowid` hides DuckDB's row id.
    is_rowid_usable: bool,
    /// Row ids run 0..n without gaps (only appends so far), so position = rowid.
    has_dense_rowids: bool,
    /// A view over a file in place: no row ids at all.
    is_linked: bool,
}

struct SortedCopy {
    table: String,
    key: SortKey,
    name: String,
}

impl Browser {
    pub fn new(workspace: &Workspace) -> Result<Self> {
        Ok(Self {
            conn: workspace.connect()?,
            sorted: None,
            shape: None,
        })
    }

    /// Columns and row count of `table`; also forgets cached facts about it.
    pub fn describe(&mut self, table: &str) -> Result<(Vec<ColumnInfo>, u64)> {
        let (columns, rows, is_exact) = self.describe_fast(table)?;
        // Only a linked file is ever estimated.
        if is_exact { Ok((columns, rows)) } else { Ok((columns, self.count(table, true)?)) }
    }

    /// Like [`Self::describe`], but a linked text file not yet counted gets an estimate
    /// (`false` in the third place) instead of a scan of the whole file.
    pub fn describe_fast(&mut self, table: &str) -> Result<(Vec<ColumnInfo>, u64, bool)> {
        self.shape = None;
        if self.sorted.as_ref().is_some_and(|s| s.table == table) {
            self.drop_sorted();
        }
        let columns = table_columns(&self.conn, table)?;
        let is_linked = is_view(&self.conn, table)?;
        if is_linked {
            let (rows, source): (Option<i64>, Option<String>) = self
                .conn
                .query_row(&format!("SELECT rows, source FROM {META_SCHEMA}.tables WHERE name = ?"), [table], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap_or((None, None));
            if let Some(rows) = rows {
                return Ok((columns, rows.max(0) as u64, true));
            }
            let estimate = source.and_then(|s| crate::engine::import::estimate_text_rows(std::path::Path::new(&s)));
            if let Some(rows) = estimate {
                return Ok((columns, rows, false));
            }
        }
        let rows = self.count(table, is_linked)?;
        Ok((columns, rows, true))
    }

    /// Counts the rows; a linked file's count is kept for next time.
    fn count(&mut self, table: &str, is_linked: bool) -> Result<u64> {
        let rows: i64 = self.conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(table)), [], |r| r.get(0))?;
        if is_linked {
            let _ = self.conn.execute(&format!("UPDATE {META_SCHEMA}.tables SET rows = ? WHERE name = ?"), duckdb::params![rows, table]);
        }
        Ok(rows.max(0) as u64)
    }

    /// Rows `first_row .. first_row + count` of `table` in `sort` order (table order if none).
    pub fn fetch(&mut self, table: &str, sort: Option<&SortKey>, first_row: u64, count: u64) -> Result<Page> {
        let shape = self.shape(table)?;
        let (columns, select_list, is_rowid_usable, has_dense_rowids, is_linked) =
            (shape.columns.clone(), shape.select_list.clone(), shape.is_rowid_usable, shape.has_dense_rowids, shape.is_linked);
        let source = match sort {
            Some(key) => {
                if !columns.iter().any(|c| c.name == key.column) {
                    return Err(EngineError::ColumnNotFound {
                        table: table.to_string(),
                        column: key.column.clone(),
                    });
                }
                // A view has no rowid to break ties with; its copy does.
                quote_ident(&self.sorted_copy(table, key, is_rowid_usable && !is_linked)?)
            }
            None => quote_ident(table),
        };
        // rowid of a table that only ever had rows appended is its position; the sorted copy
        // is written once in order. For tables with deletions fall back to OFFSET.
        let by_rowid = if sort.is_some() { is_rowid_usable } else { has_dense_rowids };
        let sql = if by_rowid {
            format!(
                "SELECT {select_list} FROM {source} WHERE rowid >= {first_row} AND rowid < {} ORDER BY rowid",
                first_row + count
            )
        } else {
            format!("SELECT {select_list} FROM {source} LIMIT {count} OFFSET {first_row}")
        };
        let mut stmt = self.conn.prepare(&sql)?;
        let width = columns.len().max(1);
        let mut rows = Vec::with_capacity(count as usize);
        let mut result = stmt.query([])?;
        while let Some(row) = result.next()? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..columns.len() {
                cells.push(row.get::<_, Option<String>>(i)?);
            }
            rows.push(cells);
        }
        Ok(Page { first_row, rows })
    }

    fn shape(&mut self, table: &str) -> Result<&TableShape> {
        if self.shape.as_ref().is_none_or(|s| s.table != table) {
            let columns = table_columns(&self.conn, table)?;
            let select_list = columns
                .iter()
                .map(|c| format!("CAST({} AS VARCHAR)", quote_ident(&c.name)))
                .collect::<Vec<_>>()
                .join(", ");
            let is_rowid_usable = !columns.iter().any(|c| c.name.eq_ignore_ascii_case("rowid"));
            let is_linked = is_view(&self.conn, table)?;
            let has_dense_rowids = is_rowid_usable && !is_linked && {
                let (max_rowid, rows): (Option<i64>, i64) = self.conn.query_row(
                    &format!("SELECT max(rowid), count(*) FROM {}", quote_ident(table)),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                max_rowid.is_none_or(|m| m + 1 == rows)
            };
            self.shape = Some(TableShape {
                table: table.to_string(),
                select_list: if select_list.is_empty() { "NULL".to_string() } else { select_list },
                columns,
                is_rowid_usable,
                has_dense_rowids,
                is_linked,
            });
        }
        self.shape.as_ref().ok_or_else(|| EngineError::TableNotFound(table.to_string()))
    }

    fn sorted_copy(&mut self, table: &str, key: &SortKey, is_rowid_usable: bool) -> Result<String> {
        if let Some(s) = &self.sorted {
            if s.table == table && &s.key == key {
                return Ok(s.name.clone());
            }
        }
        self.drop_sorted();
        let name = format!("__dataforge_sorted_{}", std::process::id());
        self.conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE {} AS SELECT * FROM {} {}",
            quote_ident(&name),
            quote_ident(table),
            SortKey::order_by(Some(key), is_rowid_usable)
        ))?;
        self.sorted = Some(SortedCopy {
            table: table.to_string(),
            key: key.clone(),
            name: name.clone(),
        });
        Ok(name)
    }

    fn drop_sorted(&mut self) {
        if let Some(s) = self.sorted.take() {
            let _ = self.conn.execute_batch(&format!("DROP TABLE IF EXISTS temp.{}", quote_ident(&s.name)));
        }
    }

    pub fn interrupt_handle(&self) -> Arc<duckdb::InterruptHandle> {
        self.conn.interrupt_handle()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.drop_sorted();
    }
}

enum Request {
    Describe { generation: u64, table: String },
    Fetch { generation: u64, table: String, sort: Option<SortKey>, page: u64 },
}

enum Response {
    Described { generation: u64, result: Result<(Vec<ColumnInfo>, u64, bool)> },
    /// The exact row count, after a described estimate.
    Counted { generation: u64, result: Result<u64> },
    Fetched { generation: u64, page: u64, result: Result<Page> },
}

/// A thread that owns a [`Browser`] and answers page requests.
pub struct BrowseWorker {
    tx: SyncSender<Request>,
    rx: Receiver<Response>,
    interrupt: Arc<std::sync::Mutex<Option<Arc<duckdb::InterruptHandle>>>>,
}

impl BrowseWorker {
    /// Starts the worker; its connection is opened on the worker thread, so this never
    /// waits on the database. A failure to connect is reported as the answer to every request.
    pub fn start(workspace: Arc<Workspace>, wake: Waker) -> Result<Self> {
        let (req_tx, req_rx) = std::sync::mpsc::sync_channel::<Request>(64);
        let (resp_tx, resp_rx) = std::sync::mpsc::sync_channel::<Response>(256);
        let interrupt = Arc::new(std::sync::Mutex::new(None));
        let thread_interrupt = interrupt.clone();
        std::thread::Builder::new()
            .name("browse".into())
            .spawn(move || {
                let mut browser = Browser::new(&workspace).map_err(|e| e.to_string());
                if let (Ok(b), Ok(mut slot)) = (&browser, thread_interrupt.lock()) {
                    *slot = Some(b.interrupt_handle());
                }
                drop(workspace);
                while let Ok(first) = req_rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(req_rx.try_iter());
                    let latest = batch.iter().map(request_generation).max().unwrap_or(0);
                    // Newest first: during a fast scroll the last asked page is the visible one.
                    for req in batch.into_iter().rev().filter(|r| request_generation(r) == latest) {
                        let recount = match &req {
                            Request::Describe { generation, table } => Some((*generation, table.clone())),
                            Request::Fetch { .. } => None,
                        };
                        let resp = answer(&mut browser, req);
                        let is_estimate = matches!(&resp, Response::Described { result: Ok((_, _, false)), .. });
                        if resp_tx.send(resp).is_err() {
                            return;
                        }
                        wake();
                        if let (true, Some((generation, table)), Ok(b)) = (is_estimate, recount, browser.as_mut()) {
                            let result = b.count(&table, true);
                            if resp_tx.send(Response::Counted { generation, result }).is_err() {
                                return;
                            }
                            wake();
                        }
                    }
                }
            })
            .map_err(|e| EngineError::Processing(format!("could not start the browse thread: {e}")))?;
        Ok(Self {
            tx: req_tx,
            rx: resp_rx,
            interrupt,
        })
    }

    /// Stops the query the worker is running (a sort nobody waits for any more).
    fn interrupt(&self) {
        if let Ok(slot) = self.interrupt.lock() {
            if let Some(handle) = slot.as_ref() {
                handle.interrupt();
            }
        }
    }
}

impl Drop for BrowseWorker {
    fn drop(&mut self) {
        self.interrupt();
    }
}

fn answer(browser: &mut std::result::Result<Browser, String>, req: Request) -> Response {
    let unavailable = |e: &String| EngineError::Processing(format!("cannot read the table: {e}"));
    match req {
        Request::Describe { generation, table } => Response::Described {
            generation,
            result: match browser {
                Ok(b) => b.describe_fast(&table),
                Err(e) => Err(unavailable(e)),
            },
        },
        Request::Fetch { generation, table, sort, page } => Response::Fetched {
            generation,
            page,
            result: match browser {
                Ok(b) => b.fetch(&table, sort.as_ref(), page * PAGE_ROWS, PAGE_ROWS),
                Err(e) => Err(unavailable(e)),
            },
        },
    }
}

fn request_generation(r: &Request) -> u64 {
    match r {
        Request::Describe { generation, .. } | Request::Fetch { generation, .. } => *generation,
    }
}

/// What the view shows in one cell.
#[derive(Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    Loading,
    Null,
    Text(&'a str),
}

/// State of one open table: schema, row count, cached pages, the current sort.
pub struct TableView {
    pub table: String,
    sort: Option<SortKey>,
    generation: u64,
    columns: Option<Vec<ColumnInfo>>,
    total_rows: u64,
    cache: LruCache<u64, Arc<Page>>,
    pending: HashSet<u64>,
    is_describe_sent: bool,
    /// `total_rows` is an estimate until the worker has counted (linked text files).
    is_estimate: bool,
    error: Option<String>,
    worker: BrowseWorker,
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl TableView {
    pub fn open(worker: BrowseWorker, table: impl Into<String>) -> Self {
        let mut view = Self {
            table: table.into(),
            sort: None,
            generation: 0,
            columns: None,
            total_rows: 0,
            cache: LruCache::new(NonZeroUsize::new(CACHE_PAGES).unwrap_or(NonZeroUsize::MIN)),
            pending: HashSet::new(),
            is_describe_sent: false,
            is_estimate: false,
            error: None,
            worker,
        };
        view.reload();
        view
    }

    /// Forgets everything cached and asks for the schema and row count again.
    pub fn reload(&mut self) {
        self.generation = next_generation();
        self.cache.clear();
        self.pending.clear();
        self.error = None;
        self.columns = None;
        self.is_describe_sent = false;
        self.send_describe();
    }

    fn send_describe(&mut self) {
        if self.is_describe_sent || self.columns.is_some() || self.error.is_some() {
            return;
        }
        let req = Request::Describe {
            generation: self.generation,
            table: self.table.clone(),
        };
        self.is_describe_sent = self.worker.tx.try_send(req).is_ok();
    }

    pub fn columns(&self) -> Option<&[ColumnInfo]> {
        self.columns.as_deref()
    }

    pub fn total_rows(&self) -> u64 {
        self.total_rows
    }

    /// True while `total_rows` is an estimate (a linked file still being counted).
    pub fn is_row_count_estimate(&self) -> bool {
        self.is_estimate
    }

    pub fn sort(&self) -> Option<&SortKey> {
        self.sort.as_ref()
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub fn is_loading(&self) -> bool {
        !self.pending.is_empty() || self.columns.is_none()
    }

    pub fn set_sort(&mut self, sort: Option<SortKey>) {
        if self.sort == sort {
            return;
        }
        self.sort = sort;
        self.generation = next_generation();
        self.pending.clear();
        self.cache.clear();
        self.error = None;
        self.worker.interrupt();
    }

    /// Applies answers from the worker. Returns true when something changed.
    pub fn poll(&mut self) -> bool {
        self.send_describe();
        let mut changed = false;
        loop {
            match self.worker.rx.try_recv() {
                Ok(Response::Described { generation, result }) => {
                    if generation != self.generation {
                        continue;
                    }
                    self.is_describe_sent = false;
                    changed = true;
                    match result {
                        Ok((columns, rows, is_exact)) => {
                            self.columns = Some(columns);
                            self.total_rows = rows;
                            self.is_estimate = !is_exact;
                        }
                        Err(e) => self.error = Some(e.to_string()),
                    }
                }
                Ok(Response::Counted { generation, result }) => {
                    if generation != self.generation {
                        continue;
                    }
                    changed = true;
                    self.is_estimate = false;
                    match result {
                        Ok(rows) => self.total_rows = rows,
                        Err(e) => self.error = Some(e.to_string()),
                    }
                }
                Ok(Response::Fetched { generation, .. }) if generation != self.generation => {}
                Ok(Response::Fetched { generation, page, result }) => {
                    if generation != self.generation {
                        continue;
                    }
                    self.pending.remove(&page);
                    changed = true;
                    match result {
                        Ok(p) => {
                            self.cache.put(page, Arc::new(p));
                        }
                        Err(e) => self.error = Some(e.to_string()),
                    }
                }
                Err(TryRecvError::Empty) => return changed,
                Err(TryRecvError::Disconnected) => {
                    let stopped = "the table reader stopped unexpectedly; reopen the table".to_string();
                    changed |= self.error.as_ref() != Some(&stopped);
                    self.error = Some(stopped);
                    return changed;
                }
            }
        }
    }

    /// Makes sure the pages covering `rows` (and one page either side) are cached or asked for.
    pub fn prefetch(&mut self, rows: Range<u64>) {
        if self.columns.is_none() || self.error.is_some() || self.total_rows == 0 {
            return;
        }
        let first = rows.start.saturating_sub(PAGE_ROWS) / PAGE_ROWS;
        let last = (rows.end + PAGE_ROWS).min(self.total_rows).saturating_sub(1) / PAGE_ROWS;
        for page in first..=last {
            if self.cache.get(&page).is_some() || self.pending.contains(&page) {
                continue;
            }
            let req = Request::Fetch {
                generation: self.generation,
                table: self.table.clone(),
                sort: self.sort.clone(),
                page,
            };
            match self.worker.tx.try_send(req) {
                Ok(()) => {
                    self.pending.insert(page);
                }
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => break,
            }
        }
    }

    /// The cell at `row`, `col`, from cache only.
    pub fn cell(&self, row: u64, col: usize) -> Cell<'_> {
        let page = row / PAGE_ROWS;
        let Some(p) = self.cache.peek(&page) else { return Cell::Loading };
        let Some(cells) = p.rows.get((row - p.first_row) as usize) else { return Cell::Loading };
        match cells.get(col) {
            Some(Some(text)) => Cell::Text(text),
            Some(None) => Cell::Null,
            None => Cell::Loading,
        }
    }

    /// Whether every row in `rows` is cached (for tests and the loading indicator).
    pub fn has_rows(&self, rows: Range<u64>) -> bool {
        if rows.is_empty() {
            return true;
        }
        let first = rows.start / PAGE_ROWS;
        let last = (rows.end - 1) / PAGE_ROWS;
        (first..=last).all(|p| self.cache.peek(&p).is_some())
    }
}
