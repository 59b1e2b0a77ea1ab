//! One open view as the window sees it: a page cache, the pages in flight, its jobs.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::TryRecvError;

use lru::LruCache;

use crate::engine::error::Result;
use crate::engine::job::{JobHandle, JobWatch, Waker, spawn};
use crate::engine::view::{Source, View};
use crate::engine::workspace::{ColumnInfo, Workspace};
use super::reader::{CountJob, PageSource, PrepareJob, PreparedView, drop_scratch};
use super::worker::{BrowseWorker, Request, Response};
use super::{CACHE_PAGES, DIRECT_PAGES, PAGE_ROWS, Page, rows_as_tsv};

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
        self.forget_rows_of_old_shapes();
        self.columns = None;
        self.is_describe_sent = false;
        self.send_describe();
        self.view.columns = wanted.columns.clone();
        self.set_view(wanted);
    }

    fn publish_generations(&self) {
        let asked = self.asked.as_ref().map_or(self.shown.generation, |a| a.generation);
        self.worker.set_live(self.shown.generation, asked);
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
        self.is_describe_sent = self.worker.send(req);
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
        let _ = self.worker.send(Request::Fetch { generation, source: self.source.clone(), from, page: 0 });
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
            let _ = self.worker.send(Request::Drop(name));
        }
    }

    /// Shows the asked shape from now on, with `first` as its first page if given.
    fn show_asked(&mut self, first: Option<Page>) {
        let Some(asked) = self.asked.take() else { return };
        let old = std::mem::replace(&mut self.shown, asked);
        self.drop_copy(old.copy);
        self.forget_rows_of_old_shapes();
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

    /// A new shape is on screen: the old shapes' jobs stop and their pages go.
    fn forget_rows_of_old_shapes(&mut self) {
        self.retire_stale_jobs();
        self.publish_generations();
        self.cache.clear();
        self.fallback.clear();
        self.pending.clear();
        self.error = None;
    }

    /// Applies answers from the worker and finished jobs. Returns true when something changed.
    pub fn poll(&mut self) -> bool {
        self.send_describe();
        let mut changed = self.poll_jobs();
        loop {
            match self.worker.try_recv() {
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
                    let _ = self.worker.send(Request::Drop(prepared.name));
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
            let _ = self.worker.send(Request::Drop(prepared.name));
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
            if !self.worker.send(req) {
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
        if self.worker.send(req) {
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
