//! Paged reads of a [`View`] for the table view, off the UI thread.
//!
//! An unshaped view (no filter, search or sort) pages through its source by position. A
//! shaped view is prepared once by a [`PrepareJob`]: its rows, filtered and in order, are
//! written into a table of the workspace's in-memory scratch database, so any page of a
//! sorted 10M-row table is a range scan on `rowid` rather than a new sort. While that job
//! runs, the first pages come straight from the view's query (a top-N or a filtered scan
//! that stops early), so a new sort or filter shows in well under a second; a filtered
//! view's exact count comes from a [`CountJob`]. Both show progress and can be cancelled
//! like any job.
//!
//! [`TableView`] is the UI-agnostic state of one open view: a page LRU cache, the pages in
//! flight, its jobs, and a background [`BrowseWorker`] that answers requests through
//! bounded channels. The rows on screen stay until the first page of a new shape arrives.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use duckdb::Connection;
use lru::LruCache;

use super::error::{EngineError, Result};
use super::job::{Job, JobCtx, JobHandle, JobWatch, Waker, spawn};
use super::sql::{META_SCHEMA, SCRATCH_DB, quote_ident};
use super::view::{Source, SourceShape, View};
use super::workspace::{ColumnInfo, Workspace, WsConnection, is_view};

pub const PAGE_ROWS: u64 = 100;
const CACHE_PAGES: usize = 64;
/// Pages read straight from a shaped view's query while its copy is being prepared.
const DIRECT_PAGES: u64 = 10;

/// A block of rows; each cell is `None` for SQL NULL.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub first_row: u64,
    pub rows: Vec<Vec<Option<String>>>,
}

/// `dataforge_scratch.main."view_…"`: where a prepared view lives.
fn scratch_table(name: &str) -> String {
    format!("{SCRATCH_DB}.main.{}", quote_ident(name))
}

/// A name for a new scratch table, unique in this process.
pub(crate) fn scratch_name(kind: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{kind}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Writes the rows of `view` (every source column), in its order, into the scratch table
/// `name`; returns how many.
fn create_view_copy(conn: &Connection, view: &View, name: &str) -> Result<u64> {
    let shape = SourceShape::of(conn, &view.source)?;
    view.check_values(conn, &shape)?;
    let compiled = view.with_all_columns().compile(&shape)?;
    let rows = conn.execute(&format!("CREATE TABLE {} AS {}", scratch_table(name), compiled.select()), compiled.params())?;
    Ok(rows as u64)
}

pub(crate) fn drop_scratch(conn: &Connection, name: &str) {
    let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", scratch_table(name)));
}

/// Counts the rows of `source`; a linked file's count is kept in the catalog for next time.
fn count_source(conn: &Connection, source: &Source) -> Result<u64> {
    let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", source.sql()), [], |r| r.get(0))?;
    if let Source::Table(table) = source {
        if is_view(conn, table)? {
            let _ = conn.execute(&format!("UPDATE {META_SCHEMA}.tables SET rows = ? WHERE name = ?"), duckdb::params![rows, table]);
        }
    }
    Ok(rows.max(0) as u64)
}

/// Counts the rows of a view.
pub fn count_view(conn: &Connection, view: &View) -> Result<u64> {
    if !view.has_row_filter() {
        return count_source(conn, &view.source);
    }
    let shape = SourceShape::of(conn, &view.source)?;
    view.check_values(conn, &shape)?;
    let compiled = view.compile(&shape)?;
    let sql = format!("SELECT count(*) FROM {} {}", compiled.from, compiled.where_clause);
    let rows: i64 = conn.query_row(&sql, compiled.params(), |r| r.get(0))?;
    Ok(rows.max(0) as u64)
}

/// The most frequent values of `column` among the view's rows (its own filters on that
/// column left out, so a pick list offers what the other filters leave), most frequent
/// first, as text; `None` is NULL.
pub fn top_values(conn: &Connection, view: &View, column: &str, containing: Option<&str>, limit: usize) -> Result<Vec<(Option<String>, u64)>> {
    let mut others = view.with_all_columns();
    others.filters.retain(|f| f.column != column);
    // Values that contain a text, ignoring case: a search in the pick list.
    if let Some(text) = containing.filter(|t| !t.is_empty()) {
        others.filters.push(super::view::Filter {
            column: column.to_string(),
            condition: super::view::Condition::Text { how: super::view::TextMatch::Contains, value: text.to_string(), case_sensitive: false },
        });
    }
    others.sort.clear();
    let shape = SourceShape::of(conn, &others.source)?;
    others.check_values(conn, &shape)?;
    let compiled = others.compile(&shape)?;
    if !shape.columns.iter().any(|c| c.name == column) {
        return Err(EngineError::ColumnNotFound { table: view.source.title(), column: column.to_string() });
    }
    let name = quote_ident(column);
    let sql = format!(
        "SELECT CAST({name} AS VARCHAR) AS v, count(*) AS n FROM {} {} GROUP BY v ORDER BY n DESC, v NULLS FIRST LIMIT {limit}",
        compiled.from, compiled.where_clause
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(compiled.params(), |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}

/// A view's rows, written once in order into the scratch database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedView {
    pub name: String,
    pub rows: u64,
}

/// Prepares a shaped view for paging (see the module notes).
pub struct PrepareJob {
    workspace: Arc<Workspace>,
    view: View,
    rows: u64,
}

impl PrepareJob {
    pub fn new(workspace: Arc<Workspace>, view: View, rows_estimate: u64) -> Self {
        Self { workspace, view, rows: rows_estimate }
    }
}

/// "Sort flights by carrier, dep_delay (descending)", "Filter flights", ….
fn shape_title(view: &View) -> String {
    let keys: Vec<String> = view
        .sort
        .iter()
        .map(|k| if k.descending { format!("{} (descending)", k.column) } else { k.column.clone() })
        .collect();
    let title = view.source.title();
    match (view.has_row_filter(), keys.is_empty()) {
        (true, true) => format!("Filter {title}"),
        (true, false) => format!("Filter {title} and sort by {}", keys.join(", ")),
        (false, _) => format!("Sort {title} by {}", keys.join(", ")),
    }
}

impl Job for PrepareJob {
    type Output = PreparedView;

    fn title(&self) -> String {
        shape_title(&self.view)
    }

    fn run(self, ctx: &JobCtx) -> Result<PreparedView> {
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        ctx.phase(self.title(), None);
        if self.rows > 0 {
            ctx.expect_rows(self.rows);
        }
        let name = scratch_name("view");
        let rows = create_view_copy(&conn, &self.view, &name);
        if ctx.is_cancelled() {
            ctx.unwatch();
            drop_scratch(&conn, &name);
            return Err(EngineError::Cancelled);
        }
        let rows = rows?;
        ctx.record_output(rows, 0);
        Ok(PreparedView { name, rows })
    }
}

/// Counts the rows of a view (a linked file, or a filtered view).
pub struct CountJob {
    workspace: Arc<Workspace>,
    view: View,
    estimate: u64,
}

impl CountJob {
    pub fn new(workspace: Arc<Workspace>, view: View, estimate: u64) -> Self {
        Self { workspace, view, estimate }
    }
}

impl Job for CountJob {
    type Output = u64;

    fn title(&self) -> String {
        if self.view.has_row_filter() {
            format!("Count the rows of {} that match", self.view.source.title())
        } else {
            format!("Count the rows of {}", self.view.source.title())
        }
    }

    fn run(self, ctx: &JobCtx) -> Result<u64> {
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        ctx.phase(self.title(), None);
        if self.estimate > 0 {
            ctx.expect_rows(self.estimate);
        }
        let rows = count_view(&conn, &self.view)?;
        ctx.record_output(rows, 0);
        Ok(rows)
    }
}

/// Where a page is read from.
#[derive(Clone, Debug)]
enum PageSource {
    /// The source itself, in its own order.
    Source(Source),
    /// A prepared view.
    Copy(String),
    /// A shaped view's query (`LIMIT … OFFSET …`), for its first pages.
    Direct(View),
}

/// Reads pages of views by position.
pub struct Browser {
    conn: WsConnection,
    /// A prepared view made by [`Browser::fetch`] itself (tests, bench).
    own_copy: Option<(View, String)>,
    shape: Option<SourceFacts>,
}

/// What a page query needs to know about a source, looked up once.
struct SourceFacts {
    source: Source,
    shape: SourceShape,
    text_list: String,
    /// Row ids run 0..n without gaps (only appends so far), so position = rowid.
    has_dense_rowids: bool,
}

/// `CAST("a" AS VARCHAR), …` for `columns`.
fn text_select_list(columns: &[ColumnInfo]) -> String {
    if columns.is_empty() {
        return "NULL".to_string();
    }
    columns.iter().map(|c| format!("CAST({} AS VARCHAR)", quote_ident(&c.name))).collect::<Vec<_>>().join(", ")
}

impl Browser {
    pub fn new(workspace: &Workspace) -> Result<Self> {
        Ok(Self { conn: workspace.connect()?, own_copy: None, shape: None })
    }

    /// Columns and row count of a source; also forgets cached facts about it.
    pub fn describe(&mut self, source: &Source) -> Result<(Vec<ColumnInfo>, u64)> {
        let (columns, rows, is_exact) = self.describe_fast(source)?;
        if is_exact { Ok((columns, rows)) } else { Ok((columns, count_source(&self.conn, source)?)) }
    }

    /// Like [`Self::describe`], but a linked text file not yet counted gets an estimate
    /// (`false` in the third place) instead of a scan of the whole file.
    pub fn describe_fast(&mut self, source: &Source) -> Result<(Vec<ColumnInfo>, u64, bool)> {
        self.shape = None;
        let columns = SourceShape::of(&self.conn, source)?.columns;
        if let Source::Table(table) = source {
            if is_view(&self.conn, table)? {
                let (rows, origin): (Option<i64>, Option<String>) = self
                    .conn
                    .query_row(&format!("SELECT rows, source FROM {META_SCHEMA}.tables WHERE name = ?"), [table], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .unwrap_or((None, None));
                if let Some(rows) = rows {
                    return Ok((columns, rows.max(0) as u64, true));
                }
                let estimate = origin.and_then(|s| crate::engine::import::estimate_text_rows(std::path::Path::new(&s)));
                return Ok((columns, estimate.unwrap_or(0), false));
            }
        }
        let rows = count_source(&self.conn, source)?;
        Ok((columns, rows, true))
    }

    /// Rows `first_row .. first_row + count` of `view`, every source column, in the view's
    /// order. A shaped view is prepared first, on this thread.
    pub fn fetch(&mut self, view: &View, first_row: u64, count: u64) -> Result<Page> {
        if view.is_unshaped() {
            return self.read_page(&view.source, &PageSource::Source(view.source.clone()), first_row, count);
        }
        let rows_view = view.with_all_columns();
        let current = self.own_copy.as_ref().filter(|(v, _)| *v == rows_view).map(|(_, n)| n.clone());
        let name = match current {
            Some(name) => name,
            None => {
                self.drop_own_copy();
                let name = scratch_name("view");
                create_view_copy(&self.conn, &rows_view, &name)?;
                self.own_copy = Some((rows_view, name.clone()));
                name
            }
        };
        self.read_page(&view.source, &PageSource::Copy(name), first_row, count)
    }

    /// Rows of a shaped view read straight from its query (no copy).
    pub fn fetch_direct(&mut self, view: &View, first_row: u64, count: u64) -> Result<Page> {
        self.read_page(&view.source, &PageSource::Direct(view.with_all_columns()), first_row, count)
    }

    fn read_page(&mut self, source: &Source, from: &PageSource, first_row: u64, count: u64) -> Result<Page> {
        let facts = self.facts(source)?;
        let width = facts.shape.columns.len();
        let text_list = facts.text_list.clone();
        let has_rowid = facts.shape.has_rowid;
        let has_dense_rowids = facts.has_dense_rowids;
        let end = first_row + count;
        let (sql, params) = match from {
            // rowid of a table that only ever had rows appended is its position; for tables
            // with deletions fall back to OFFSET.
            PageSource::Source(source) if has_dense_rowids => (
                format!("SELECT {text_list} FROM {} WHERE rowid >= {first_row} AND rowid < {end} ORDER BY rowid", source.sql()),
                Vec::new(),
            ),
            PageSource::Source(source) => (format!("SELECT {text_list} FROM {} LIMIT {count} OFFSET {first_row}", source.sql()), Vec::new()),
            // A copy is written once, in order; a user column named rowid hides DuckDB's.
            PageSource::Copy(name) if has_rowid || !facts.shape.columns.iter().any(|c| c.name.eq_ignore_ascii_case("rowid")) => (
                format!("SELECT {text_list} FROM {} WHERE rowid >= {first_row} AND rowid < {end} ORDER BY rowid", scratch_table(name)),
                Vec::new(),
            ),
            PageSource::Copy(name) => (format!("SELECT {text_list} FROM {} LIMIT {count} OFFSET {first_row}", scratch_table(name)), Vec::new()),
            PageSource::Direct(view) => {
                let shape = facts.shape.clone();
                view.check_values(&self.conn, &shape)?;
                let compiled = view.compile(&shape)?;
                (format!("{} LIMIT {count} OFFSET {first_row}", compiled.select_columns(&text_list)), compiled.params)
            }
        };
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = Vec::with_capacity(count as usize);
        let mut result = stmt.query(duckdb::params_from_iter(&params))?;
        while let Some(row) = result.next()? {
            let mut cells = Vec::with_capacity(width.max(1));
            for i in 0..width {
                cells.push(row.get::<_, Option<String>>(i)?);
            }
            rows.push(cells);
        }
        Ok(Page { first_row, rows })
    }

    fn facts(&mut self, source: &Source) -> Result<&SourceFacts> {
        if self.shape.as_ref().is_none_or(|s| s.source != *source) {
            let shape = SourceShape::of(&self.conn, source)?;
            let has_dense_rowids = shape.has_rowid && {
                let (max_rowid, rows): (Option<i64>, i64) =
                    self.conn.query_row(&format!("SELECT max(rowid), count(*) FROM {}", source.sql()), [], |r| Ok((r.get(0)?, r.get(1)?)))?;
                max_rowid.is_none_or(|m| m + 1 == rows)
            };
            let text_list = text_select_list(&shape.columns);
            self.shape = Some(SourceFacts { source: source.clone(), shape, text_list, has_dense_rowids });
        }
        self.shape.as_ref().ok_or_else(|| EngineError::TableNotFound(source.title()))
    }

    /// Rows `rows` of a page source as tab-separated text with a header line, for the
    /// clipboard: columns `columns` (indices into the source's columns) in that order.
    fn copy_text(&mut self, source: &Source, from: &PageSource, rows: Range<u64>, columns: &[usize]) -> Result<String> {
        let page = self.read_page(source, from, rows.start, rows.end - rows.start)?;
        let facts = self.facts(source)?;
        let names: Vec<&str> = columns.iter().filter_map(|&i| facts.shape.columns.get(i)).map(|c| c.name.as_str()).collect();
        Ok(rows_as_tsv(&names, columns, &page.rows))
    }

    fn drop_own_copy(&mut self) {
        if let Some((_, name)) = self.own_copy.take() {
            drop_scratch(&self.conn, &name);
        }
    }

    pub fn interrupt_handle(&self) -> Arc<duckdb::InterruptHandle> {
        self.conn.interrupt_handle()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.drop_own_copy();
    }
}

/// Tab-separated text with a header line: tabs and line breaks inside a value become spaces,
/// NULL is an empty field.
pub fn rows_as_tsv(names: &[&str], columns: &[usize], rows: &[Vec<Option<String>>]) -> String {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let mut out = names.iter().map(|n| clean(n)).collect::<Vec<_>>().join("\t");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = columns.iter().map(|&i| row.get(i).cloned().flatten().map(|v| clean(&v)).unwrap_or_default()).collect();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

enum Request {
    Describe { generation: u64, source: Source },
    Fetch { generation: u64, source: Source, from: PageSource, page: u64 },
    Copy { id: u64, source: Source, from: PageSource, rows: Range<u64>, columns: Vec<usize> },
    /// A prepared view nobody reads any more.
    Drop(String),
}

enum Response {
    Described { generation: u64, result: Result<(Vec<ColumnInfo>, u64, bool)> },
    Fetched { generation: u64, page: u64, result: Result<Page> },
    Copied { id: u64, result: Result<String> },
}

/// The generations a worker still answers for: the one shown and the one asked for; and
/// the generation of the request it is running (0 when idle).
#[derive(Default)]
struct LiveGenerations {
    shown: AtomicU64,
    asked: AtomicU64,
    running: AtomicU64,
}

impl LiveGenerations {
    fn is_live(&self, generation: u64) -> bool {
        generation == self.shown.load(Ordering::Relaxed) || generation == self.asked.load(Ordering::Relaxed)
    }
}

/// A thread that owns a [`Browser`] and answers page requests.
pub struct BrowseWorker {
    tx: Sender<Request>,
    rx: Receiver<Response>,
    interrupt: Arc<std::sync::Mutex<Option<Arc<duckdb::InterruptHandle>>>>,
    live: Arc<LiveGenerations>,
}

impl BrowseWorker {
    /// Starts the worker; its connection is opened on the worker thread, so this never
    /// waits on the database. A failure to connect is reported as the answer to every request.
    pub fn start(workspace: Arc<Workspace>, wake: Waker) -> Result<Self> {
        // Unbounded: a first page or a Drop is never lost; prefetch bounds itself (MAX_PENDING).
        let (req_tx, req_rx) = std::sync::mpsc::channel::<Request>();
        let (resp_tx, resp_rx) = std::sync::mpsc::sync_channel::<Response>(256);
        let interrupt = Arc::new(std::sync::Mutex::new(None));
        let thread_interrupt = interrupt.clone();
        let live = Arc::new(LiveGenerations::default());
        let thread_live = live.clone();
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
                    // Newest first: during a fast scroll the last asked page is the visible one.
                    for req in batch.into_iter().rev() {
                        let generation = request_generation(&req);
                        if generation.is_some_and(|g| !thread_live.is_live(g)) {
                            continue;
                        }
                        thread_live.running.store(generation.unwrap_or(0), Ordering::SeqCst);
                        let answered = answer(&mut browser, req);
                        thread_live.running.store(0, Ordering::SeqCst);
                        let Some(resp) = answered else { continue };
                        if resp_tx.send(resp).is_err() {
                            return;
                        }
                        wake();
                    }
                }
            })
            .map_err(|e| EngineError::Internal(format!("could not start the browse thread: {e}")))?;
        Ok(Self { tx: req_tx, rx: resp_rx, interrupt, live })
    }

    /// Stops the page query the worker is running if nobody waits for it any more.
    fn interrupt_stale(&self) {
        let running = self.live.running.load(Ordering::SeqCst);
        if running != 0 && !self.live.is_live(running) {
            self.interrupt();
        }
    }

    /// Stops the query the worker is running.
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
        Request::Describe { generation, source } => Response::Described {
            generation,
            result: match browser {
                Ok(b) => b.describe_fast(&source),
                Err(e) => Err(unavailable(e)),
            },
        },
        Request::Fetch { generation, source, from, page } => Response::Fetched {
            generation,
            page,
            result: match browser {
                Ok(b) => b.read_page(&source, &from, page * PAGE_ROWS, PAGE_ROWS),
                Err(e) => Err(unavailable(e)),
            },
        },
        Request::Copy { id, source, from, rows, columns } => Response::Copied {
            id,
            result: match browser {
                Ok(b) => b.copy_text(&source, &from, rows, &columns),
                Err(e) => Err(unavailable(e)),
            },
        },
        Request::Drop(name) => {
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
        Request::Copy { .. } | Request::Drop(_) => None,
    }
}

/// What the view shows in one cell.
#[derive(Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    Loading,
    Null,
    Text(&'a str),
}

/// The rows shown, or asked for: a view's rows (columns aside) and how to read them.
#[derive(Clone, Debug)]
struct Shape {
    /// The view with every column: what decides the rows and their order.
    rows: View,
    generation: u64,
    /// The prepared copy, once made (shaped views only).
    copy: Option<String>,
    /// Exact row count, once known.
    total: Option<u64>,
}

impl Shape {
    fn page_source(&self) -> Option<PageSource> {
        if self.rows.is_unshaped() {
            Some(PageSource::Source(self.rows.source.clone()))
        } else {
            self.copy.clone().map(PageSource::Copy)
        }
    }
}

/// A copy of rows to the clipboard in progress.
struct CopyRequest {
    id: u64,
    result: Option<Result<String>>,
}

/// Most pages asked for and not yet answered; prefetch waits beyond this.
const MAX_PENDING: usize = 64;

/// State of one open view: schema, row count, cached pages, its shape and jobs.
pub struct TableView {
    pub source: Source,
    workspace: Arc<Workspace>,
    wake: Waker,
    /// The view as the user last set it (filters, sort, chosen columns).
    view: View,
    /// The rows on screen.
    shown: Shape,
    /// The rows asked for, while they differ from the ones shown.
    asked: Option<Shape>,
    /// Prepare jobs by the generation of their shape (the shown one, the asked one).
    prepare_jobs: Vec<(u64, JobHandle<PreparedView>)>,
    /// The shape whose prepare job starts when its first page arrives.
    awaiting_first: Option<u64>,
    /// Counts of filtered shapes, by generation.
    count_jobs: Vec<(u64, JobHandle<u64>)>,
    /// Prepare jobs cancelled after they may have finished: their copies are dropped on arrival.
    abandoned: Vec<JobHandle<PreparedView>>,
    /// Counting a linked file that has only an estimate.
    source_count_job: Option<JobHandle<u64>>,
    /// Jobs started since the front end last asked, for its jobs list.
    new_jobs: Vec<JobWatch>,
    columns: Option<Vec<ColumnInfo>>,
    /// Rows of the source (an estimate while `is_estimate`).
    source_rows: u64,
    cache: LruCache<u64, Arc<Page>>,
    /// Pages of the shown shape read before its copy existed, shown until the copy's own
    /// pages arrive (ties may be ordered differently without a row id).
    fallback: std::collections::HashMap<u64, Arc<Page>>,
    pending: HashSet<u64>,
    is_describe_sent: bool,
    is_estimate: bool,
    error: Option<String>,
    /// Why the last change of filters or sort did not happen (shown until the next one).
    view_error: Option<String>,
    copy_request: Option<CopyRequest>,
    worker: BrowseWorker,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

impl TableView {
    /// Opens a table of the workspace.
    pub fn open(workspace: Arc<Workspace>, table: impl Into<String>, wake: Waker) -> Result<Self> {
        Self::open_source(workspace, Source::Table(table.into()), wake)
    }

    pub fn open_source(workspace: Arc<Workspace>, source: Source, wake: Waker) -> Result<Self> {
        let worker = BrowseWorker::start(workspace.clone(), wake.clone())?;
        let view = View::of(source.clone());
        let mut table = Self {
            source,
            workspace,
            wake,
            shown: Shape { rows: view.clone(), generation: next_generation(), copy: None, total: None },
            view,
            asked: None,
            prepare_jobs: Vec::new(),
            awaiting_first: None,
            count_jobs: Vec::new(),
            abandoned: Vec::new(),
            source_count_job: None,
            new_jobs: Vec::new(),
            columns: None,
            source_rows: 0,
            cache: LruCache::new(NonZeroUsize::new(CACHE_PAGES).unwrap_or(NonZeroUsize::MIN)),
            fallback: std::collections::HashMap::new(),
            pending: HashSet::new(),
            is_describe_sent: false,
            is_estimate: false,
            error: None,
            view_error: None,
            copy_request: None,
            worker,
        };
        table.publish_generations();
        table.send_describe();
        Ok(table)
    }

    /// Forgets everything cached (and any prepared view) and reads the source again; the
    /// view's filters and sort are applied anew.
    pub fn reload(&mut self) {
        let wanted = std::mem::replace(&mut self.view, View::of(self.source.clone()));
        self.awaiting_first = None;
        if let Some(asked) = self.asked.take() {
            self.drop_copy(asked.copy);
        }
        let copy = self.shown.copy.take();
        self.drop_copy(copy);
        self.shown = Shape { rows: View::of(self.source.clone()), generation: next_generation(), copy: None, total: None };
        self.retire_stale_jobs();
        self.publish_generations();
        self.cache.clear();
        self.fallback.clear();
        self.pending.clear();
        self.error = None;
        self.columns = None;
        self.is_describe_sent = false;
        self.send_describe();
        self.view.columns = wanted.columns.clone();
        self.set_view(wanted);
    }

    fn publish_generations(&self) {
        self.worker.live.shown.store(self.shown.generation, Ordering::Relaxed);
        let asked = self.asked.as_ref().map_or(self.shown.generation, |a| a.generation);
        self.worker.live.asked.store(asked, Ordering::Relaxed);
    }

    fn is_live(&self, generation: u64) -> bool {
        generation == self.shown.generation || self.asked.as_ref().is_some_and(|a| a.generation == generation)
    }

    /// Cancels the jobs of shapes that are neither shown nor asked for.
    fn retire_stale_jobs(&mut self) {
        let (live, stale): (Vec<_>, Vec<_>) = std::mem::take(&mut self.prepare_jobs).into_iter().partition(|(g, _)| self.is_live(*g));
        self.prepare_jobs = live;
        for (_, job) in stale {
            job.cancel();
            self.abandoned.push(job);
        }
        let (live, stale): (Vec<_>, Vec<_>) = std::mem::take(&mut self.count_jobs).into_iter().partition(|(g, _)| self.is_live(*g));
        self.count_jobs = live;
        for (_, job) in stale {
            job.cancel();
        }
        if self.awaiting_first.is_some_and(|g| !self.is_live(g)) {
            self.awaiting_first = None;
        }
    }

    fn send_describe(&mut self) {
        if self.is_describe_sent || self.columns.is_some() || self.error.is_some() {
            return;
        }
        let req = Request::Describe { generation: self.shown.generation, source: self.source.clone() };
        self.is_describe_sent = self.worker.tx.send(req).is_ok();
    }

    /// Every column of the source, in source order.
    pub fn columns(&self) -> Option<&[ColumnInfo]> {
        self.columns.as_deref()
    }

    /// Indices (into [`Self::columns`]) of the columns shown, in the order shown.
    pub fn visible_columns(&self) -> Vec<usize> {
        let Some(columns) = &self.columns else { return Vec::new() };
        match &self.view.columns {
            None => (0..columns.len()).collect(),
            Some(chosen) => chosen.iter().filter_map(|name| columns.iter().position(|c| &c.name == name)).collect(),
        }
    }

    /// Rows in the view shown. While a filtered view is still being counted this is the
    /// number of rows read so far (see [`Self::is_counting`]).
    pub fn total_rows(&self) -> u64 {
        match self.shown.total {
            Some(total) => total,
            None if self.shown.rows.has_row_filter() => {
                self.cache.iter().chain(self.fallback.iter()).map(|(_, p)| p.first_row + p.rows.len() as u64).max().unwrap_or(0)
            }
            None => self.source_rows,
        }
    }

    pub fn workspace(&self) -> &Arc<Workspace> {
        &self.workspace
    }

    /// Rows of the source, filters aside (an estimate while a linked file is counted).
    pub fn source_rows(&self) -> u64 {
        self.source_rows
    }

    /// True while the rows shown are filtered.
    pub fn is_filtered(&self) -> bool {
        self.shown.rows.has_row_filter()
    }

    /// True while `total_rows` is an estimate (a linked file still being counted).
    pub fn is_row_count_estimate(&self) -> bool {
        self.is_estimate && !self.shown.rows.has_row_filter()
    }

    /// The view as last set.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// True while the rows on screen are of the view before the last change.
    pub fn is_showing_old_rows(&self) -> bool {
        self.asked.is_some()
    }

    /// True while a new shape is prepared; the rows shown are of the old one, or the first
    /// pages of the new one.
    pub fn is_preparing(&self) -> bool {
        self.asked.is_some() || self.awaiting_first.is_some() || self.prepare_jobs.iter().any(|(g, _)| *g == self.shown.generation)
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub fn view_error(&self) -> Option<&str> {
        self.view_error.as_deref()
    }

    pub fn is_loading(&self) -> bool {
        !self.pending.is_empty() || self.columns.is_none()
    }

    /// Jobs started since the last call (prepares, counts), for a jobs list.
    pub fn take_new_jobs(&mut self) -> Vec<JobWatch> {
        std::mem::take(&mut self.new_jobs)
    }

    /// Sets filters, search, sort and columns. Columns change at once; a new shape of rows
    /// shows when its first page is read, and pages deep into it once it is prepared.
    pub fn set_view(&mut self, view: View) {
        if view == self.view {
            return;
        }
        self.view_error = None;
        let rows = view.with_all_columns();
        self.view = view;
        let target = self.asked.as_ref().unwrap_or(&self.shown);
        if target.rows == rows {
            return;
        }
        if let Some(asked) = self.asked.take() {
            self.drop_copy(asked.copy);
        }
        if rows == self.shown.rows {
            // Back to the rows on screen: their own jobs carry on.
            self.retire_stale_jobs();
            self.publish_generations();
            return;
        }
        let generation = next_generation();
        let total = if rows.has_row_filter() || self.is_estimate { None } else { Some(self.source_rows) };
        self.asked = Some(Shape { rows: rows.clone(), generation, copy: None, total });
        self.retire_stale_jobs();
        self.publish_generations();
        // Its first page at once: from the source, or straight from the view's query.
        let from = if rows.is_unshaped() { PageSource::Source(self.source.clone()) } else { PageSource::Direct(rows.clone()) };
        let _ = self.worker.tx.send(Request::Fetch { generation, source: self.source.clone(), from, page: 0 });
        // The copy for deep pages is made once the first page is on screen, so the two do not
        // share the cores; a view of fewer rows than a page needs none.
        self.awaiting_first = (!rows.is_unshaped()).then_some(generation);
        // Stop a page query of a shape that is no longer wanted.
        self.worker.interrupt_stale();
    }

    /// Starts the jobs that prepare (and, for a sorted filter, count) the shape `generation`.
    fn start_prepare(&mut self, generation: u64, rows: View) {
        let job = PrepareJob::new(self.workspace.clone(), rows.clone(), self.source_rows);
        let handle = spawn(job, self.wake.clone());
        self.new_jobs.push(handle.watch());
        self.prepare_jobs.push((generation, handle));
        // A sort alone keeps the count; a filter on a big table is counted while the copy is
        // made (a count is a scan, a sort is more).
        if rows.has_row_filter() && !rows.sort.is_empty() {
            let job = CountJob::new(self.workspace.clone(), rows, self.source_rows);
            let handle = spawn(job, self.wake.clone());
            self.new_jobs.push(handle.watch());
            self.count_jobs.push((generation, handle));
        }
    }

    fn drop_copy(&self, name: Option<String>) {
        if let Some(name) = name {
            let _ = self.worker.tx.send(Request::Drop(name));
        }
    }

    /// Shows the asked shape from now on, with `first` as its first page if given.
    fn show_asked(&mut self, first: Option<Page>) {
        let Some(asked) = self.asked.take() else { return };
        let old = std::mem::replace(&mut self.shown, asked);
        self.drop_copy(old.copy);
        self.retire_stale_jobs();
        self.publish_generations();
        self.cache.clear();
        self.fallback.clear();
        self.pending.clear();
        self.error = None;
        if let Some(page) = first {
            self.cache.put(0, Arc::new(page));
        }
    }

    /// Gives up on the asked shape: the view goes back to the rows shown.
    fn abandon_asked(&mut self, why: Option<String>) {
        if let Some(asked) = self.asked.take() {
            self.drop_copy(asked.copy);
        }
        self.retire_stale_jobs();
        let columns = self.view.columns.clone();
        self.view = View { columns, ..self.shown.rows.clone() };
        self.view_error = why;
        self.publish_generations();
    }

    /// Applies answers from the worker and finished jobs. Returns true when something changed.
    pub fn poll(&mut self) -> bool {
        self.send_describe();
        let mut changed = self.poll_jobs();
        loop {
            match self.worker.rx.try_recv() {
                Ok(Response::Described { generation, result }) => {
                    self.is_describe_sent = false;
                    if generation != self.shown.generation {
                        // The shown shape changed meanwhile: ask again.
                        self.send_describe();
                        continue;
                    }
                    changed = true;
                    match result {
                        Ok((columns, rows, is_exact)) => {
                            self.columns = Some(columns);
                            self.source_rows = rows;
                            self.is_estimate = !is_exact;
                            for shape in std::iter::once(&mut self.shown).chain(self.asked.as_mut()) {
                                if !shape.rows.has_row_filter() && is_exact {
                                    shape.total = Some(rows);
                                }
                            }
                            if !is_exact && self.source_count_job.is_none() {
                                self.start_count();
                            }
                        }
                        Err(e) => self.error = Some(e.to_string()),
                    }
                }
                Ok(Response::Fetched { generation, page, result }) => {
                    let is_asked = self.asked.as_ref().is_some_and(|a| a.generation == generation);
                    if generation == self.shown.generation {
                        self.pending.remove(&page);
                        changed = true;
                        match result {
                            Ok(p) => {
                                self.fallback.remove(&page);
                                self.cache.put(page, Arc::new(p));
                            }
                            // An interrupted page is asked for again by the next prefetch.
                            Err(e) if e.is_cancelled() => {}
                            Err(e) => self.error = Some(e.to_string()),
                        }
                    } else if is_asked {
                        changed = true;
                        let awaiting = self.awaiting_first.take_if(|g| *g == generation).is_some();
                        let rows = self.asked.as_ref().map(|a| a.rows.clone());
                        match result {
                            // Fewer rows than a page: that is the whole view, nothing to prepare.
                            Ok(p) if p.rows.len() < PAGE_ROWS as usize => {
                                if let Some(asked) = self.asked.as_mut() {
                                    asked.total = Some(p.rows.len() as u64);
                                }
                                self.show_asked(Some(p));
                            }
                            Ok(p) => {
                                if let (true, Some(rows)) = (awaiting, rows) {
                                    self.start_prepare(generation, rows);
                                }
                                self.show_asked(Some(p));
                            }
                            Err(e) if e.is_cancelled() => {
                                if let (true, Some(rows)) = (awaiting, rows) {
                                    self.start_prepare(generation, rows);
                                }
                            }
                            Err(e) => self.abandon_asked(Some(e.to_string())),
                        }
                    }
                }
                Ok(Response::Copied { id, result }) => {
                    if let Some(request) = self.copy_request.as_mut().filter(|r| r.id == id) {
                        request.result = Some(result);
                        changed = true;
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
        for (generation, mut job) in std::mem::take(&mut self.prepare_jobs) {
            match job.take_result() {
                None => self.prepare_jobs.push((generation, job)),
                Some(Ok(prepared)) => {
                    changed = true;
                    self.prepared(generation, prepared);
                }
                Some(Err(e)) => {
                    changed = true;
                    let why = (!e.is_cancelled()).then(|| e.to_string());
                    if self.asked.as_ref().is_some_and(|a| a.generation == generation) {
                        self.abandon_asked(why);
                    } else if self.shown.generation == generation {
                        // Its first pages are on screen, the rest will never be: back to the
                        // source's rows.
                        let columns = self.view.columns.clone();
                        self.set_view(View { columns, ..View::of(self.source.clone()) });
                        self.view_error = why;
                    }
                }
            }
        }
        for (generation, mut job) in std::mem::take(&mut self.count_jobs) {
            match job.take_result() {
                None => self.count_jobs.push((generation, job)),
                Some(Ok(rows)) => {
                    if let Some(shape) = self.shape_mut(generation) {
                        shape.total.get_or_insert(rows);
                    }
                    changed = true;
                }
                Some(Err(_)) => changed = true,
            }
        }
        let mut still_running = Vec::new();
        for mut job in std::mem::take(&mut self.abandoned) {
            match job.take_result() {
                None => still_running.push(job),
                Some(Ok(prepared)) => {
                    let _ = self.worker.tx.send(Request::Drop(prepared.name));
                }
                Some(Err(_)) => {}
            }
        }
        self.abandoned = still_running;
        if let Some(mut job) = self.source_count_job.take() {
            match job.take_result() {
                None => self.source_count_job = Some(job),
                Some(Ok(rows)) => {
                    self.source_rows = rows;
                    self.is_estimate = false;
                    for shape in std::iter::once(&mut self.shown).chain(self.asked.as_mut()) {
                        if !shape.rows.has_row_filter() {
                            shape.total = Some(rows);
                        }
                    }
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

    /// A prepare job finished: its shape pages from the copy from now on.
    fn prepared(&mut self, generation: u64, prepared: PreparedView) {
        let is_shown = self.shown.generation == generation;
        let Some(shape) = self.shape_mut(generation) else {
            let _ = self.worker.tx.send(Request::Drop(prepared.name));
            return;
        };
        shape.copy = Some(prepared.name);
        shape.total = Some(prepared.rows);
        let generation_count = generation;
        self.count_jobs.retain(|(g, job)| {
            let keep = *g != generation_count;
            if !keep {
                job.cancel();
            }
            keep
        });
        if is_shown {
            // Pages read before the copy existed stay on screen until the copy's own pages
            // replace them: without a row id, ties may fall in another order in the copy.
            self.fallback = self.cache.iter().map(|(k, v)| (*k, v.clone())).collect();
            self.cache.clear();
            self.pending.clear();
            self.shown.generation = next_generation();
            self.publish_generations();
        } else if self.asked.as_ref().is_some_and(|a| a.generation == generation) {
            // Prepared before its first page was read (a small table): show it now.
            self.show_asked(None);
        }
    }

    /// The shape with this generation, shown or asked.
    fn shape_mut(&mut self, generation: u64) -> Option<&mut Shape> {
        if self.shown.generation == generation {
            Some(&mut self.shown)
        } else {
            self.asked.as_mut().filter(|a| a.generation == generation)
        }
    }

    /// True while the rows of the view shown are being counted.
    pub fn is_counting(&self) -> bool {
        self.source_count_job.is_some() || (self.shown.total.is_none() && self.shown.rows.has_row_filter())
    }

    /// Counts the rows of a linked file whose count was cancelled.
    pub fn count_rows(&mut self) {
        if self.source_count_job.is_none() && self.is_estimate {
            self.start_count();
        }
    }

    fn start_count(&mut self) {
        let job = CountJob::new(self.workspace.clone(), View::of(self.source.clone()), self.source_rows);
        let handle = spawn(job, self.wake.clone());
        self.new_jobs.push(handle.watch());
        self.source_count_job = Some(handle);
    }

    /// Where pages of the shown shape are read from now; `None` for pages that must wait
    /// for the prepared copy.
    fn page_source_for(&self, page: u64) -> Option<PageSource> {
        match self.shown.page_source() {
            Some(from) => Some(from),
            None if page < DIRECT_PAGES => Some(PageSource::Direct(self.shown.rows.clone())),
            None => None,
        }
    }

    /// Makes sure the pages covering `rows` (and one page either side) are cached or asked for.
    pub fn prefetch(&mut self, rows: Range<u64>) {
        if self.columns.is_none() || self.error.is_some() {
            return;
        }
        let total = self.total_rows().max(if self.shown.total.is_none() { rows.end } else { 0 });
        if total == 0 {
            return;
        }
        let first = rows.start.saturating_sub(PAGE_ROWS) / PAGE_ROWS;
        let last = (rows.end + PAGE_ROWS).min(total).saturating_sub(1) / PAGE_ROWS;
        for page in first..=last {
            if self.cache.get(&page).is_some() || self.pending.contains(&page) {
                continue;
            }
            if self.pending.len() >= MAX_PENDING {
                break;
            }
            let Some(from) = self.page_source_for(page) else { continue };
            let req = Request::Fetch { generation: self.shown.generation, source: self.source.clone(), from, page };
            if self.worker.tx.send(req).is_err() {
                break;
            }
            self.pending.insert(page);
        }
    }

    /// The cell at `row`, `col` (an index into [`Self::columns`]), from cache only.
    pub fn cell(&self, row: u64, col: usize) -> Cell<'_> {
        let page = row / PAGE_ROWS;
        let Some(p) = self.cache.peek(&page).or_else(|| self.fallback.get(&page)) else { return Cell::Loading };
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

    /// Rows `rows` of the view shown, columns `columns` (indices into [`Self::columns`]), as
    /// tab-separated text with a header: at once when cached, otherwise read in the
    /// background (see [`Self::take_copied`]).
    pub fn copy_rows(&mut self, rows: Range<u64>, columns: &[usize]) -> Option<String> {
        let all = self.columns.as_deref().unwrap_or_default();
        let names: Vec<&str> = columns.iter().filter_map(|&i| all.get(i)).map(|c| c.name.as_str()).collect();
        if self.has_rows(rows.clone()) {
            let cached: Vec<Vec<Option<String>>> = rows
                .clone()
                .map(|r| {
                    (0..all.len())
                        .map(|c| match self.cell(r, c) {
                            Cell::Text(t) => Some(t.to_string()),
                            _ => None,
                        })
                        .collect()
                })
                .collect();
            return Some(rows_as_tsv(&names, columns, &cached));
        }
        let from = self.shown.page_source().unwrap_or_else(|| PageSource::Direct(self.shown.rows.clone()));
        let id = next_generation();
        let req = Request::Copy { id, source: self.source.clone(), from, rows, columns: columns.to_vec() };
        if self.worker.tx.send(req).is_ok() {
            self.copy_request = Some(CopyRequest { id, result: None });
        }
        None
    }

    /// The text of a copy read in the background, once.
    pub fn take_copied(&mut self) -> Option<Result<String>> {
        if self.copy_request.as_ref().is_some_and(|r| r.result.is_some()) {
            return self.copy_request.take().and_then(|r| r.result);
        }
        None
    }

    /// True while rows for the clipboard are being read.
    pub fn is_copying(&self) -> bool {
        self.copy_request.is_some()
    }
}

impl Drop for TableView {
    fn drop(&mut self) {
        if let Some(job) = self.source_count_job.take() {
            job.cancel();
        }
        for (_, job) in self.count_jobs.drain(..) {
            job.cancel();
        }
        let mut unfinished = std::mem::take(&mut self.abandoned);
        unfinished.extend(self.prepare_jobs.drain(..).map(|(_, job)| job));
        for job in &unfinished {
            job.cancel();
        }
        let copy = self.shown.copy.take();
        self.drop_copy(copy);
        if let Some(asked) = self.asked.take() {
            self.drop_copy(asked.copy);
        }
        // A prepare that finished as it was cancelled still made a copy: drop it once known.
        if !unfinished.is_empty() {
            let workspace = self.workspace.clone();
            let _ = std::thread::Builder::new().name("view-cleanup".into()).spawn(move || {
                for job in unfinished {
                    if let Ok(prepared) = job.wait() {
                        if let Ok(conn) = workspace.connect() {
                            drop_scratch(&conn, &prepared.name);
                        }
                    }
                }
            });
        }
    }
}
