//! Paged reads of a [`View`](crate::engine::view::View) for the table view, off the UI thread.
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
//!
//! The parts: [`reader`] reads pages and prepares shaped views ([`Browser`], [`PrepareJob`],
//! [`CountJob`]); [`worker`] is the thread and the request protocol between a view and its
//! reader; [`table_view`] is the view's state as the window sees it.

mod reader;
mod table_view;
mod worker;

pub(crate) use reader::{drop_scratch, scratch_name};
pub use reader::{Browser, CountJob, PrepareJob, PreparedView, count_view, top_values};
pub use table_view::{Cell, TableView};
pub use worker::BrowseWorker;

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
