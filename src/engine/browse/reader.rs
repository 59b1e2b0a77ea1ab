//! Pages of a view read from its source or from its prepared copy, and the jobs that
//! prepare and count shaped views.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::Connection;

use crate::engine::error::{EngineError, Result};
use crate::engine::job::{Job, JobCtx};
use crate::engine::sql::{META_SCHEMA, SCRATCH_DB, quote_ident};
use crate::engine::view::{Source, SourceShape, View};
use crate::engine::workspace::{ColumnInfo, Workspace, WsConnection, is_view};
use super::{Page, rows_as_tsv};

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
        others.filters.push(crate::engine::view::Filter {
            column: column.to_string(),
            condition: crate::engine::view::Condition::Text { how: crate::engine::view::TextMatch::Contains, value: text.to_string(), case_sensitive: false },
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
pub(super) enum PageSource {
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

    pub(super) fn read_page(&mut self, source: &Source, from: &PageSource, first_row: u64, count: u64) -> Result<Page> {
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
    pub(super) fn copy_text(&mut self, source: &Source, from: &PageSource, rows: Range<u64>, columns: &[usize]) -> Result<String> {
        let page = self.read_page(source, from, rows.start, rows.end - rows.start)?;
        let facts = self.facts(source)?;
        let names: Vec<&str> = columns.iter().filter_map(|&i| facts.shape.columns.get(i)).map(|c| c.name.as_str()).collect();
        Ok(rows_as_tsv(&names, columns, &page.rows))
    }

    /// Drops a prepared view nobody reads any more.
    pub(super) fn drop_prepared(&self, name: &str) {
        drop_scratch(&self.conn, name);
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
