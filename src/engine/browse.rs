//! Paged reads for the table view, off the UI thread.
//!
//! [`Browser`] fetches pages of rows as text by row position. Unsorted pages read the table
//! in insertion order. A sort is materialized once, by a [`SortJob`], into a table of the
//! workspace's in-memory scratch database in that order, so any page of a sorted 10M-row
//! table is a range scan on `rowid` rather than a new sort; the sort shows progress and can
//! be cancelled like any job. Counting a file opened in place is a [`CountJob`].
//!
//! [`TableView`] is the UI-agnostic state of one open table: a page LRU cache, the pages in
//! flight, its sort and count jobs, and a background [`BrowseWorker`] that answers requests
//! through bounded channels. Results for an older order (a stale generation) are dropped on
//! arrival; the old rows stay on screen until the new order is ready.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};

use duckdb::Connection;
use lru::LruCache;

use super::error::{EngineError, Result};
use super::job::{Job, JobCtx, JobHandle, JobWatch, Waker, spawn};
use super::sql::{META_SCHEMA, SCRATCH_DB, SortKey, quote_ident};
use super::workspace::{ColumnInfo, Workspace, WsConnection, is_view, table_columns};

pub const PAGE_ROWS: u64 = 100;
const CACHE_PAGES: usize = 64;

/// A block of rows; each cell is `None` for SQL NULL.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub first_row: u64,
    pub rows: Vec<Vec<Option<String>>>,
}

/// `dataforge_scratch.main."sorted_…"`: where a sorted copy lives.
fn scratch_table(name: &str) -> String {
    format!("{SCRATCH_DB}.main.{}", quote_ident(name))
}

/// A name for a new sorted copy, unique in this process.
fn sorted_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("sorted_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Writes `table` in `key`'s order into the scratch table `name`; returns its rows.
fn create_sorted_copy(conn: &Connection, table: &str, key: &SortKey, name: &str) -> Result<u64> {
    let columns = table_columns(conn, table)?;
    if !columns.iter().any(|c| c.name == key.column) {
        return Err(EngineError::ColumnNotFound { table: table.to_string(), column: key.column.clone() });
    }
    // A view has no rowid to break ties with; the copy is written once, so its order holds.
    let rowid_usable = !columns.iter().any(|c| c.name.eq_ignore_ascii_case("rowid")) && !is_view(conn, table)?;
    let rows = conn.execute(
        &format!(
            "CREATE TABLE {} AS SELECT * FROM {} {}",
            scratch_table(name),
            quote_ident(table),
            SortKey::order_by(Some(key), rowid_usable)
        ),
        [],
    )?;
    Ok(rows as u64)
}

fn drop_scratch(conn: &Connection, name: &str) {
    let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", scratch_table(name)));
}

/// Counts the rows of `table`; a linked file's count is kept in the catalog for next time.
fn count_rows(conn: &Connection, table: &str) -> Result<u64> {
    let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(table)), [], |r| r.get(0))?;
    if is_view(conn, table)? {
        let _ = conn.execute(&format!("UPDATE {META_SCHEMA}.tables SET rows = ? WHERE name = ?"), duckdb::params![rows, table]);
    }
    Ok(rows.max(0) as u64)
}

/// Sorts a table into a scratch copy for the table view; returns the copy's name.
pub struct SortJob {
    workspace: Arc<Workspace>,
    table: String,
    key: SortKey,
    rows: u64,
}

impl Job for SortJob {
    type Output = String;

    fn title(&self) -> String {
        let dir = if self.key.descending { "descending" } else { "ascending" };
        format!("Sort {} by {} ({dir})", self.table, self.key.column)
    }

    fn run(self, ctx: &JobCtx) -> Result<String> {
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        ctx.phase(format!("Sorting {}", self.table), None);
        if self.rows > 0 {
            ctx.expect_rows(self.rows);
        }
        let name = sorted_name();
        let rows = create_sorted_copy(&conn, &self.table, &self.key, &name)?;
        if ctx.is_cancelled() {
            ctx.unwatch();
            drop_scratch(&conn, &name);
            return Err(EngineError::Cancelled);
        }
        ctx.record_output(rows, 0);
        Ok(name)
    }
}

/// Counts the rows of a file opened in place.
pub struct CountJob {
    workspace: Arc<Workspace>,
    table: String,
    estimate: u64,
}

impl Job for CountJob {
    type Output = u64;

    fn title(&self) -> String {
        format!("Count the rows of {}", self.table)
    }

    fn run(self, ctx: &JobCtx) -> Result<u64> {
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        ctx.phase(format!("Counting {}", self.table), None);
        ctx.expect_rows(self.estimate);
        let rows = count_rows(&conn, &self.table)?;
        ctx.record_output(rows, 0);
        Ok(rows)
    }
}

/// Reads pages of a table by position, in table order or from a sorted copy.
pub struct Browser {
    conn: WsConnection,
    /// A sorted copy made by [`Browser::fetch`] itself (tests, bench).
    sorted: Option<(String, SortKey, String)>,
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
}

impl Browser {
    pub fn new(workspace: &Workspace) -> Result<Self> {
        Ok(Self { conn: workspace.connect()?, sorted: None, shape: None })
    }

    /// Columns and row count of `table`; also forgets cached facts about it.
    pub fn describe(&mut self, table: &str) -> Result<(Vec<ColumnInfo>, u64)> {
        let (columns, rows, is_exact) = self.describe_fast(table)?;
        // Only a linked file is ever estimated.
        if is_exact { Ok((columns, rows)) } else { Ok((columns, count_rows(&self.conn, table)?)) }
    }

    /// Like [`Self::describe`], but a linked text file not yet counted gets an estimate
    /// (`false` in the third place) instead of a scan of the whole file.
    pub fn describe_fast(&mut self, table: &str) -> Result<(Vec<ColumnInfo>, u64, bool)> {
        self.shape = None;
        let columns = table_columns(&self.conn, table)?;
        if is_view(&self.conn, table)? {
            let (rows, source): (Option<i64>, Option<String>) = self
                .conn
                .query_row(&format!("SELECT rows, source FROM {META_SCHEMA}.tables WHERE name = ?"), [table], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap_or((None, None));
            if let Some(rows) = rows {
                return Ok((columns, rows.max(0) as u64, true));
            }
            // Counted later by a job; without an estimate the count starts from nothing.
            let estimate = source.and_then(|s| crate::engine::import::estimate_text_rows(std::path::Path::new(&s)));
            return Ok((columns, estimate.unwrap_or(0), false));
        }
        let rows = count_rows(&self.conn, table)?;
        Ok((columns, rows, true))
    }

    /// Rows `first_row .. first_row + count` of `table` in `sort` order (table order if none).
    /// A new sort is materialized first, on this thread.
    pub fn fetch(&mut self, table: &str, sort: Option<&SortKey>, first_row: u64, count: u64) -> Result<Page> {
        let sorted = match sort {
            None => None,
            Some(key) => {
                let current = self.sorted.as_ref().filter(|(t, k, _)| t == table && k == key).map(|(_, _, n)| n.clone());
                Some(match current {
                    Some(name) => name,
                    None => {
                        self.drop_own_sorted();
                        let name = sorted_name();
                        create_sorted_copy(&self.conn, table, key, &name)?;
                        self.sorted = Some((table.to_string(), key.clone(), name.clone()));
                        name
                    }
                })
            }
        };
        self.fetch_page(table, sorted.as_deref(), first_row, count)
    }

    /// Rows of `table`, or of its sorted copy `sorted` (made by a [`SortJob`]).
    pub fn fetch_page(&mut self, table: &str, sorted: Option<&str>, first_row: u64, count: u64) -> Result<Page> {
        let shape = self.shape(table)?;
        let (width, select_list, is_rowid_usable, has_dense_rowids) =
            (shape.columns.len(), shape.select_list.clone(), shape.is_rowid_usable, shape.has_dense_rowids);
        let source = sorted.map_or_else(|| quote_ident(table), scratch_table);
        // rowid of a table that only ever had rows appended is its position; the sorted copy
        // is written once in order. For tables with deletions fall back to OFFSET.
        let by_rowid = if sorted.is_some() { is_rowid_usable } else { has_dense_rowids };
        let sql = if by_rowid {
            format!(
                "SELECT {select_list} FROM {source} WHERE rowid >= {first_row} AND rowid < {} ORDER BY rowid",
                first_row + count
            )
        } else {
            format!("SELECT {select_list} FROM {source} LIMIT {count} OFFSET {first_row}")
        };
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = Vec::with_capacity(count as usize);
        let mut result = stmt.query([])?;
        while let Some(row) = result.next()? {
            let mut cells = Vec::with_capacity(width.max(1));
            for i in 0..width {
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
            });
        }
        self.shape.as_ref().ok_or_else(|| EngineError::TableNotFound(table.to_string()))
    }

    fn drop_own_sorted(&mut self) {
        if let Some((_, _, name)) = self.sorted.take() {
            drop_scratch(&self.conn, &name);
        }
    }

    pub fn interrupt_handle(&self) -> Arc<duckdb::InterruptHandle> {
        self.conn.interrupt_handle()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.drop_own_sorted();
    }
}

enum Request {
    Describe { generation: u64, table: String },
    Fetch { generation: u64, table: String, sorted: Option<String>, page: u64 },
    /// A sorted copy nobody reads any more.
    DropSorted(String),
}

enum Response {
    Described { generation: u64, result: Result<(Vec<ColumnInfo>, u64, bool)> },
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
                    let latest = batch.iter().filter_map(request_generation).max().unwrap_or(0);
                    // Newest first: during a fast scroll the last asked page is the visible one.
                    for req in batch.into_iter().rev() {
                        if request_generation(&req).is_some_and(|g| g != latest) {
                            continue;
                        }
                        let Some(resp) = answer(&mut browser, req) else { continue };
                        if resp_tx.send(resp).is_err() {
                            return;
                        }
                        wake();
                    }
                }
            })
            .map_err(|e| EngineError::Internal(format!("could not start the browse thread: {e}")))?;
        Ok(Self { tx: req_tx, rx: resp_rx, interrupt })
    }

    /// Stops the query the worker is running (a page nobody waits for any more).
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

fn answer(browser: &mut std::result::Result<Browser, String>, req: Request) -> Option<Response> {
    let unavailable = |e: &String| EngineError::Database(format!("cannot read the table: {e}"));
    Some(match req {
        Request::Describe { generation, table } => Response::Described {
            generation,
            result: match browser {
                Ok(b) => b.describe_fast(&table),
                Err(e) => Err(unavailable(e)),
            },
        },
        Request::Fetch { generation, table, sorted, page } => Response::Fetched {
            generation,
            page,
            result: match browser {
                Ok(b) => b.fetch_page(&table, sorted.as_deref(), page * PAGE_ROWS, PAGE_ROWS),
                Err(e) => Err(unavailable(e)),
            },
        },
        Request::DropSorted(name) => {
            if let Ok(b) = browser {
                drop_scratch(&b.conn, &name);
            }
            return None;
        }
    })
}

fn request_generation(r: &Request) -> Option<u64> {
    match r {
        Request::Describe { generation, .. } | Request::Fetch { generation, .. } => Some(*generation),
        Request::DropSorted(_) => None,
    }
}

/// What the view shows in one cell.
#[derive(Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    Loading,
    Null,
    Text(&'a str),
}

/// A sorted copy ready to page through.
struct SortedCopy {
    key: SortKey,
    name: String,
}

/// State of one open table: schema, row count, cached pages, the current sort.
pub struct TableView {
    pub table: String,
    workspace: Arc<Workspace>,
    wake: Waker,
    /// The order the user asked for.
    sort: Option<SortKey>,
    /// The order of the cached rows (lags `sort` while a sort job runs).
    shown_sort: Option<SortKey>,
    sorted: Option<SortedCopy>,
    sort_job: Option<(SortKey, JobHandle<String>)>,
    /// Sort jobs cancelled after they may have finished: their copies are dropped on arrival.
    abandoned: Vec<JobHandle<String>>,
    count_job: Option<JobHandle<u64>>,
    /// Jobs started since the front end last asked, for its jobs list.
    new_jobs: Vec<JobWatch>,
    generation: u64,
    columns: Option<Vec<ColumnInfo>>,
    total_rows: u64,
    cache: LruCache<u64, Arc<Page>>,
    pending: HashSet<u64>,
    is_describe_sent: bool,
    /// `total_rows` is an estimate until the file is counted (linked text files).
    is_estimate: bool,
    error: Option<String>,
    /// Why the last sort did not happen (shown until the next sort).
    sort_error: Option<String>,
    worker: BrowseWorker,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

impl TableView {
    pub fn open(workspace: Arc<Workspace>, table: impl Into<String>, wake: Waker) -> Result<Self> {
        let worker = BrowseWorker::start(workspace.clone(), wake.clone())?;
        let mut view = Self {
            table: table.into(),
            workspace,
            wake,
            sort: None,
            shown_sort: None,
            sorted: None,
            sort_job: None,
            abandoned: Vec::new(),
            count_job: None,
            new_jobs: Vec::new(),
            generation: 0,
            columns: None,
            total_rows: 0,
            cache: LruCache::new(NonZeroUsize::new(CACHE_PAGES).unwrap_or(NonZeroUsize::MIN)),
            pending: HashSet::new(),
            is_describe_sent: false,
            is_estimate: false,
            error: None,
            sort_error: None,
            worker,
        };
        view.reload();
        Ok(view)
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
        let req = Request::Describe { generation: self.generation, table: self.table.clone() };
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

    /// The order the user asked for.
    pub fn sort(&self) -> Option<&SortKey> {
        self.sort.as_ref()
    }

    /// True while a sort job prepares the asked order; the rows shown are in the old one.
    pub fn is_sorting(&self) -> bool {
        self.sort_job.is_some()
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub fn sort_error(&self) -> Option<&str> {
        self.sort_error.as_deref()
    }

    pub fn is_loading(&self) -> bool {
        !self.pending.is_empty() || self.columns.is_none()
    }

    /// Jobs started since the last call (sorts, counts), for a jobs list.
    pub fn take_new_jobs(&mut self) -> Vec<JobWatch> {
        std::mem::take(&mut self.new_jobs)
    }

    /// Asks for another order. The rows stay in the old order until a sort job has made the
    /// new one; going back to an order already made is immediate.
    pub fn set_sort(&mut self, sort: Option<SortKey>) {
        if self.sort == sort {
            return;
        }
        self.sort = sort.clone();
        self.sort_error = None;
        if let Some((_, job)) = self.sort_job.take() {
            job.cancel();
            self.abandoned.push(job);
        }
        match sort {
            None => {
                self.drop_sorted();
                self.show_order(None);
            }
            Some(key) if self.sorted.as_ref().is_some_and(|s| s.key == key) => self.show_order(Some(key)),
            Some(key) => {
                let job = SortJob { workspace: self.workspace.clone(), table: self.table.clone(), key: key.clone(), rows: self.total_rows };
                let handle = spawn(job, self.wake.clone());
                self.new_jobs.push(handle.watch());
                self.sort_job = Some((key, handle));
            }
        }
    }

    /// Switches the cached rows to `order`, which is ready.
    fn show_order(&mut self, order: Option<SortKey>) {
        self.shown_sort = order;
        self.generation = next_generation();
        self.pending.clear();
        self.cache.clear();
        self.error = None;
        self.worker.interrupt();
    }

    fn drop_sorted(&mut self) {
        if let Some(s) = self.sorted.take() {
            let _ = self.worker.tx.try_send(Request::DropSorted(s.name));
        }
    }

    /// Applies answers from the worker and finished jobs. Returns true when something changed.
    pub fn poll(&mut self) -> bool {
        self.send_describe();
        let mut changed = self.poll_jobs();
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
                            if !is_exact && self.count_job.is_none() {
                                self.start_count();
                            }
                        }
                        Err(e) => self.error = Some(e.to_string()),
                    }
                }
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

    fn poll_jobs(&mut self) -> bool {
        let mut changed = false;
        if let Some((key, mut job)) = self.sort_job.take() {
            match job.take_result() {
                None => self.sort_job = Some((key, job)),
                Some(Ok(name)) => {
                    self.drop_sorted();
                    self.sorted = Some(SortedCopy { key: key.clone(), name });
                    self.show_order(Some(key));
                    changed = true;
                }
                Some(Err(e)) => {
                    if !e.is_cancelled() {
                        self.sort_error = Some(format!("Could not sort by {}: {e}", key.column));
                    }
                    self.sort = self.shown_sort.clone();
                    changed = true;
                }
            }
        }
        let mut still_running = Vec::new();
        for mut job in std::mem::take(&mut self.abandoned) {
            match job.take_result() {
                None => still_running.push(job),
                Some(Ok(name)) => {
                    let _ = self.worker.tx.try_send(Request::DropSorted(name));
                }
                Some(Err(_)) => {}
            }
        }
        self.abandoned = still_running;
        if let Some(mut job) = self.count_job.take() {
            match job.take_result() {
                None => self.count_job = Some(job),
                Some(Ok(rows)) => {
                    self.total_rows = rows;
                    self.is_estimate = false;
                    changed = true;
                }
                // A cancelled count leaves the estimate, marked as such.
                Some(Err(e)) if e.is_cancelled() => changed = true,
                Some(Err(e)) => {
                    self.error = Some(e.to_string());
                    changed = true;
                }
            }
        }
        changed
    }

    /// True while a count of a linked file runs.
    pub fn is_counting(&self) -> bool {
        self.count_job.is_some()
    }

    /// Counts the rows of a linked file whose count was cancelled.
    pub fn count_rows(&mut self) {
        if self.count_job.is_none() && self.is_estimate {
            self.start_count();
        }
    }

    fn start_count(&mut self) {
        let job = CountJob { workspace: self.workspace.clone(), table: self.table.clone(), estimate: self.total_rows };
        let handle = spawn(job, self.wake.clone());
        self.new_jobs.push(handle.watch());
        self.count_job = Some(handle);
    }

    /// Makes sure the pages covering `rows` (and one page either side) are cached or asked for.
    pub fn prefetch(&mut self, rows: Range<u64>) {
        if self.columns.is_none() || self.error.is_some() || self.total_rows == 0 {
            return;
        }
        let first = rows.start.saturating_sub(PAGE_ROWS) / PAGE_ROWS;
        let last = (rows.end + PAGE_ROWS).min(self.total_rows).saturating_sub(1) / PAGE_ROWS;
        let sorted = self.shown_sort.as_ref().and(self.sorted.as_ref()).map(|s| s.name.clone());
        for page in first..=last {
            if self.cache.get(&page).is_some() || self.pending.contains(&page) {
                continue;
            }
            let req = Request::Fetch { generation: self.generation, table: self.table.clone(), sorted: sorted.clone(), page };
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

impl Drop for TableView {
    fn drop(&mut self) {
        if let Some(job) = self.count_job.take() {
            job.cancel();
        }
        let mut unfinished = std::mem::take(&mut self.abandoned);
        unfinished.extend(self.sort_job.take().map(|(_, job)| job));
        for job in &unfinished {
            job.cancel();
        }
        self.drop_sorted();
        // A sort that finished as it was cancelled still made a copy: drop it once it is known.
        if !unfinished.is_empty() {
            let workspace = self.workspace.clone();
            let _ = std::thread::Builder::new().name("sort-cleanup".into()).spawn(move || {
                for job in unfinished {
                    if let Ok(name) = job.wait() {
                        if let Ok(conn) = workspace.connect() {
                            drop_scratch(&conn, &name);
                        }
                    }
                }
            });
        }
    }
}
