//! Exact deduplication by key columns: the groups of rows whose (normalised) keys are equal,
//! one survivor per group, reviewed before anything changes, and every removed row kept in a
//! companion table. DuckDB does the work (one window pass over the keys, then one ordered
//! copy), so it spills to the temp folder when the table is larger than the memory limit.

use std::sync::Arc;

use duckdb::Connection;
use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::sql::{SCRATCH_DB, quote_ident, unique_suffix, validate_table_name};
use super::fold::{Fold, fold_sql_as};
use super::kind::ColumnKind;
use super::view::{CompiledView, SourceShape, View};
use super::workspace::{ColumnInfo, Workspace, new_table_name, register_in_catalog};

/// Columns the companion table of removed rows adds.
pub const KEPT_ROW_COLUMN: &str = "_kept_row";
pub const GROUP_SIZE_COLUMN: &str = "_group_size";

/// How text keys are made comparable; other types are compared as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Normalize {
    pub trim: bool,
    pub case: bool,
    /// Runs of inner whitespace count as one space.
    pub space: bool,
    pub accents: bool,
    /// Empty text counts as NULL.
    pub empty_as_null: bool,
}

impl Normalize {
    pub const NAMES: [&'static str; 5] = ["trim", "case", "space", "accents", "empty"];

    /// `trim,case,space,accents,empty`, any of them.
    pub fn parse(list: &str) -> Result<Self> {
        let mut n = Self::default();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word.to_ascii_lowercase().as_str() {
                "trim" => n.trim = true,
                "case" => n.case = true,
                "space" => n.space = true,
                "accents" => n.accents = true,
                "empty" => n.empty_as_null = true,
                other => {
                    return Err(EngineError::InvalidOption(format!(
                        "unknown normalisation {other:?}; use any of {}",
                        Self::NAMES.join(", ")
                    )));
                }
            }
        }
        Ok(n)
    }

    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// `expr` (text) normalised, as SQL.
    fn apply(&self, mut expr: String) -> String {
        // The one "ignore case and accents" of dedupe and clustering (ß = ss, Ł = L, ﬁ = fi).
        if let Some(fold) = Fold::from_flags(self.case, self.accents) {
            expr = fold_sql_as(&expr, fold);
        }
        if self.space {
            expr = format!("regexp_replace({expr}, '\\s+', ' ', 'g')");
        }
        if self.trim {
            expr = format!("regexp_replace({expr}, '^\\s+|\\s+$', '', 'g')");
        }
        if self.empty_as_null {
            expr = format!("nullif({expr}, '')");
        }
        expr
    }
}

/// Whether rows whose key has a NULL can be duplicates of each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NullKeys {
    /// NULL equals NULL, as in SQL's `GROUP BY` and `DISTINCT` (the default).
    #[default]
    Equal,
    /// A row with a NULL in its key is never a duplicate.
    Distinct,
}

/// Which row of a group survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Keep {
    /// The first by the order column (or import order).
    #[default]
    First,
    Last,
    /// The one with the fewest NULL cells; ties go to the first.
    Complete,
}

impl Keep {
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "first" => Ok(Self::First),
            "last" => Ok(Self::Last),
            "complete" => Ok(Self::Complete),
            other => Err(EngineError::InvalidOption(format!("unknown --keep {other:?}; use first, last or complete"))),
        }
    }
}

/// What makes rows duplicates and which one stays.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DedupeSpec {
    /// A table, optionally filtered: duplicates are looked for among the view's rows only.
    pub view: View,
    /// Key columns; empty means the whole row.
    pub keys: Vec<String>,
    pub normalize: Normalize,
    pub nulls: NullKeys,
    pub keep: Keep,
    /// Orders each group for `keep`; `None` is import order.
    pub order_by: Option<String>,
    /// Fill the survivor's NULL cells from the other rows of its group, in group order.
    pub merge: bool,
}

impl DedupeSpec {
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            view: View::table(table),
            keys: Vec::new(),
            normalize: Normalize::default(),
            nulls: NullKeys::default(),
            keep: Keep::default(),
            order_by: None,
            merge: false,
        }
    }

    pub fn table(&self) -> Result<&str> {
        self.view
            .source
            .table_name()
            .ok_or_else(|| EngineError::InvalidOption("duplicates are removed from a table; save this result as a table first".into()))
    }
}

/// The spec checked against the table, as SQL pieces.
struct Plan {
    table: String,
    columns: Vec<ColumnInfo>,
    view: CompiledView,
    /// `PARTITION BY …` terms.
    partition: Vec<String>,
    /// The order within a group, best first.
    order: String,
}

fn plan(conn: &Connection, spec: &DedupeSpec) -> Result<Plan> {
    let table = spec.table()?.to_string();
    let shape = SourceShape::of(conn, &spec.view.source)?;
    if !shape.has_rowid {
        return Err(EngineError::InvalidOption(format!("{table} is a file opened in place; import it to remove duplicates")));
    }
    let mut unsorted = spec.view.with_all_columns();
    unsorted.sort.clear();
    let view = unsorted.compile(&shape)?;
    unsorted.check_values(conn, &shape)?;
    let column = |name: &str| {
        shape
            .columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| EngineError::ColumnNotFound { table: table.clone(), column: name.to_string() })
    };
    let keys: Vec<&ColumnInfo> = if spec.keys.is_empty() { shape.columns.iter().collect() } else { spec.keys.iter().map(|k| column(k)).collect::<Result<_>>()? };
    let mut partition: Vec<String> = keys
        .iter()
        .map(|c| {
            let name = quote_ident(&c.name);
            match c.kind {
                ColumnKind::Text if !spec.normalize.is_none() => spec.normalize.apply(name),
                ColumnKind::Enum if !spec.normalize.is_none() => spec.normalize.apply(format!("CAST({name} AS VARCHAR)")),
                _ => name,
            }
        })
        .collect();
    if spec.nulls == NullKeys::Distinct {
        let any_null = partition.iter().map(|k| format!("({k}) IS NULL")).collect::<Vec<_>>().join(" OR ");
        partition.push(format!("CASE WHEN {any_null} THEN rowid END"));
    }
    let by = match &spec.order_by {
        Some(name) => Some(quote_ident(&column(name)?.name)),
        None => None,
    };
    let forward = match &by {
        Some(c) => format!("{c} ASC NULLS LAST, rowid ASC"),
        None => "rowid ASC".to_string(),
    };
    let order = match spec.keep {
        Keep::First => forward,
        Keep::Last => match &by {
            Some(c) => format!("{c} DESC NULLS LAST, rowid DESC"),
            None => "rowid DESC".to_string(),
        },
        Keep::Complete => {
            let nulls = shape.columns.iter().map(|c| format!("CAST({} IS NULL AS INTEGER)", quote_ident(&c.name))).collect::<Vec<_>>().join(" + ");
            format!("({nulls}) ASC, {forward}")
        }
    };
    Ok(Plan { table, columns: shape.columns, view, partition, order })
}

/// Creates `marks`, one row per row to remove: its rowid `r`, its place `rk` in its group (2…)
/// and the rowid `kept` of the row that survives. With `whole_groups`, survivors are marked
/// too (`rk` 1) and `n` holds each group's size. `marks` is a scratch table's full name, or a
/// bare name for a temporary table.
fn create_marks(conn: &Connection, p: &Plan, marks: &str, whole_groups: bool) -> Result<()> {
    let w = format!("PARTITION BY {}", p.partition.join(", "));
    let o = &p.order;
    let mut select = format!(
        "rowid AS r, row_number() OVER (w ORDER BY {o}) AS rk,
         first_value(rowid) OVER (w ORDER BY {o} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS kept"
    );
    if whole_groups {
        select.push_str(", count(*) OVER (w) AS n");
    }
    // The window again, not its alias: QUALIFY would read a column of the same name first.
    let keep = if whole_groups { "count(*) OVER (w) > 1".to_string() } else { format!("row_number() OVER (w ORDER BY {o}) > 1") };
    let kind = if marks.contains('.') { "TABLE" } else { "TEMP TABLE" };
    let sql = format!("CREATE {kind} {marks} AS {} WINDOW w AS ({w}) QUALIFY {keep}", p.view.select_columns(&select));
    conn.prepare(&sql)?.execute(p.view.params())?;
    Ok(())
}

/// What a dedupe would do, and the groups to review.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DedupePreview {
    pub spec_table: String,
    /// Rows looked at (the view's rows).
    pub rows: u64,
    /// Groups of two or more rows.
    pub groups: u64,
    /// Rows that would be removed.
    pub duplicates: u64,
    /// The review's table in the scratch database: one row per row of a group.
    #[serde(skip)]
    pub marks: String,
}

impl DedupePreview {
    /// Groups, largest first, from `offset`: (the survivor's row number, the group's size).
    pub fn groups_page(&self, conn: &Connection, offset: u64, limit: u64) -> Result<Vec<(u64, u64)>> {
        let mut stmt = conn.prepare(&format!("SELECT kept + 1, n FROM {} LIMIT ? OFFSET ?", self.table_sql("groups")))?;
        let rows = stmt.query_map(duckdb::params![limit as i64, offset as i64], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<duckdb::Result<_>>()?)
    }

    /// A window of the group whose survivor is row `kept_row`: the survivor, then `limit`
    /// of the rows it would remove from the `offset`-th on, in the order the keep rule ranks
    /// them, as text cells. Memory and time follow the window, not the group.
    pub fn group_rows(&self, conn: &Connection, kept_row: u64, offset: u64, limit: u64) -> Result<GroupPage> {
        let kept = kept_row as i64 - 1;
        let columns = super::workspace::table_columns(conn, &self.spec_table)?;
        let cells: Vec<String> = columns.iter().map(|c| format!("CAST(t.{} AS VARCHAR)", quote_ident(&c.name))).collect();
        let n = columns.len();
        let read = |r: &duckdb::Row<'_>| (0..n).map(|i| r.get::<_, Option<String>>(i)).collect::<duckdb::Result<Vec<_>>>();
        let table = quote_ident(&self.spec_table);
        let survivor = conn.query_row(&format!("SELECT {} FROM {table} AS t WHERE t.rowid = ?", cells.join(", ")), [kept], |r| read(r))?;
        let removed: i64 = conn.query_row(&format!("SELECT count(*) FROM {} WHERE kept = ?", self.table_sql("marks")), [kept], |r| r.get(0))?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM {} AS m JOIN {table} AS t ON t.rowid = m.r WHERE m.kept = ? ORDER BY m.rk LIMIT ? OFFSET ?",
            cells.join(", "),
            self.table_sql("marks")
        ))?;
        let others = stmt.query_map(duckdb::params![kept, limit as i64, offset as i64], |r| read(r))?.collect::<duckdb::Result<Vec<_>>>()?;
        Ok(GroupPage { columns: columns.into_iter().map(|c| c.name).collect(), survivor, removed: others, offset, total_removed: removed.max(0) as u64 })
    }

    fn table_sql(&self, part: &str) -> String {
        format!("{SCRATCH_DB}.main.{}", quote_ident(&format!("{}_{part}", self.marks)))
    }

    /// Drops the review's tables.
    pub fn discard(&self, conn: &Connection) {
        let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};", self.table_sql("marks"), self.table_sql("groups")));
    }
}

/// A window of one duplicate group ([`DedupePreview::group_rows`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupPage {
    pub columns: Vec<String>,
    /// The row the group keeps.
    pub survivor: Vec<Option<String>>,
    /// Rows it would remove, from `offset` on.
    pub removed: Vec<Vec<Option<String>>>,
    pub offset: u64,
    /// How many rows the group would remove in all.
    pub total_removed: u64,
}

/// Reads a window of one group off the window's thread, as a job that can be cancelled.
pub struct GroupRowsJob {
    pub workspace: Arc<Workspace>,
    pub preview: DedupePreview,
    pub kept_row: u64,
    pub offset: u64,
    pub limit: u64,
}

impl Job for GroupRowsJob {
    type Output = GroupPage;

    fn title(&self) -> String {
        format!("Read the group kept at row {}", super::config::group_digits(self.kept_row))
    }

    fn run(self, ctx: &JobCtx) -> Result<GroupPage> {
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        let page = self.preview.group_rows(&conn, self.kept_row, self.offset, self.limit);
        ctx.unwatch();
        page
    }
}

/// Finds the duplicate groups without changing anything.
pub struct PreviewJob {
    pub workspace: Arc<Workspace>,
    pub spec: DedupeSpec,
}

impl Job for PreviewJob {
    type Output = DedupePreview;

    fn title(&self) -> String {
        format!("Find duplicates in {}", self.spec.view.source.title())
    }

    fn run(self, ctx: &JobCtx) -> Result<DedupePreview> {
        let conn = self.workspace.connect()?;
        let p = plan(&conn, &self.spec)?;
        let name = format!("dedupe_review_{}", unique_suffix());
        let preview = DedupePreview { spec_table: p.table.clone(), rows: 0, groups: 0, duplicates: 0, marks: name };
        let (marks, groups) = (preview.table_sql("marks"), preview.table_sql("groups"));
        ctx.watch(&conn)?;
        ctx.phase("Grouping rows by key", None);
        let outcome = (|| {
            create_marks(&conn, &p, &marks, false)?;
            conn.execute_batch(&format!("CREATE TABLE {groups} AS SELECT kept, count(*) + 1 AS n FROM {marks} GROUP BY kept ORDER BY n DESC, kept"))?;
            let rows: i64 = conn.prepare(&p.view.select_columns("count(*)"))?.query_row(p.view.params(), |r| r.get(0))?;
            let (groups, duplicates): (i64, i64) = conn.query_row(&format!("SELECT count(*), coalesce(sum(n - 1), 0)::BIGINT FROM {groups}"), [], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok::<_, EngineError>((rows as u64, groups as u64, duplicates as u64))
        })();
        ctx.unwatch();
        match outcome {
            Ok((rows, groups, duplicates)) => {
                ctx.record_output(rows, 0);
                Ok(DedupePreview { rows, groups, duplicates, ..preview })
            }
            Err(e) => {
                preview.discard(&conn);
                Err(e)
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DedupeTarget {
    NewTable(Option<String>),
    /// Replaces the table (the window asks first; the CLI needs `--replace`).
    Replace,
}

/// What applying a dedupe did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DedupeReport {
    /// The deduplicated table.
    pub table: String,
    /// The companion table of removed rows.
    pub removed_table: String,
    pub rows_before: u64,
    pub rows_kept: u64,
    pub rows_removed: u64,
    pub groups: u64,
    pub excluded_groups: usize,
}

/// Removes the duplicates: writes the deduplicated table (new, or in place of the old one)
/// and the removed rows, in one transaction.
pub struct DedupeJob {
    pub workspace: Arc<Workspace>,
    pub spec: DedupeSpec,
    /// Groups left alone, by their survivor's row number.
    pub excluded: Vec<u64>,
    pub target: DedupeTarget,
}

impl Job for DedupeJob {
    type Output = DedupeReport;

    fn title(&self) -> String {
        format!("Remove duplicates from {}", self.spec.view.source.title())
    }

    fn run(self, ctx: &JobCtx) -> Result<DedupeReport> {
        let _writing = self.workspace.writing();
        let conn = self.workspace.connect()?;
        let p = plan(&conn, &self.spec)?;
        if let DedupeTarget::NewTable(Some(name)) = &self.target {
            validate_table_name(name)?;
        }
        // Replacing the table: no other write may land between reading it and replacing it.
        let _lock = match self.target {
            DedupeTarget::Replace => Some(super::catalog::lock_table(&self.workspace, &p.table, ctx)?),
            DedupeTarget::NewTable(_) => None,
        };
        ctx.watch(&conn)?;
        let outcome = ctx.transaction(&conn, || apply(&conn, &p, &self, ctx));
        ctx.unwatch();
        let report = outcome?;
        if self.target == DedupeTarget::Replace {
            let _ = super::profile::store::mark_changed(&conn, Some(&report.table));
        }
        ctx.record_output(report.rows_kept, 0);
        Ok(report)
    }
}

fn apply(conn: &Connection, p: &Plan, job: &DedupeJob, ctx: &JobCtx) -> Result<DedupeReport> {
    let t = quote_ident(&p.table);
    let marks = "__dataforge_dedupe_marks";
    ctx.phase("Grouping rows by key", None);
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {marks}"))?;
    create_marks(conn, p, marks, false)?;
    let excluded: Vec<String> = job.excluded.iter().map(|k| (k.saturating_sub(1)).to_string()).collect();
    let live = if excluded.is_empty() { "TRUE".to_string() } else { format!("m.kept NOT IN ({})", excluded.join(", ")) };
    let (groups, removed): (i64, i64) = conn.query_row(&format!("SELECT count(DISTINCT kept), count(*) FROM {marks} AS m WHERE {live}"), [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let rows_before: i64 = conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?;
    ctx.expect_rows(rows_before as u64);
    let extra = |base: &str| quote_ident(&unused_name(&p.columns, base));
    ctx.phase("Writing the removed rows", None);
    let removed_table = new_table_name(conn, None, &format!("{}_removed", p.table))?;
    conn.execute_batch(&format!(
        "CREATE TABLE {} AS SELECT t.*, m.kept + 1 AS {}, m.n AS {} FROM {t} AS t
         JOIN (SELECT r, kept, count(*) OVER (PARTITION BY kept) + 1 AS n FROM {marks} AS m WHERE {live}) AS m ON t.rowid = m.r ORDER BY t.rowid",
        quote_ident(&removed_table),
        extra(KEPT_ROW_COLUMN),
        extra(GROUP_SIZE_COLUMN)
    ))?;
    register_in_catalog(conn, &removed_table, &format!("rows removed from {} as duplicates", p.table), Some(removed as u64))?;
    ctx.phase("Writing the deduplicated table", None);
    let select = if job.spec.merge {
        let fill: Vec<String> = p
            .columns
            .iter()
            .map(|c| {
                let c = quote_ident(&c.name);
                format!("first(t.{c} ORDER BY m.rk) FILTER (WHERE t.{c} IS NOT NULL) AS {c}")
            })
            .collect();
        let cells: Vec<String> = p.columns.iter().map(|c| quote_ident(&c.name)).map(|c| format!("coalesce(t.{c}, f.{c}) AS {c}")).collect();
        format!(
            "WITH f AS (SELECT m.kept AS __kept, {} FROM {t} AS t JOIN {marks} AS m ON t.rowid = m.r WHERE {live} GROUP BY m.kept)
             SELECT {} FROM {t} AS t LEFT JOIN f ON t.rowid = f.__kept
             WHERE t.rowid NOT IN (SELECT r FROM {marks} AS m WHERE {live}) ORDER BY t.rowid",
            fill.join(", "),
            cells.join(", ")
        )
    } else {
        format!("SELECT t.* FROM {t} AS t WHERE t.rowid NOT IN (SELECT r FROM {marks} AS m WHERE {live}) ORDER BY t.rowid")
    };
    let kept = rows_before - removed;
    let table = match &job.target {
        DedupeTarget::NewTable(wanted) => {
            let name = new_table_name(conn, wanted.as_deref(), &format!("{}_deduplicated", p.table))?;
            conn.execute_batch(&format!("CREATE TABLE {} AS {select}", quote_ident(&name)))?;
            register_in_catalog(conn, &name, &format!("{} without duplicates", p.table), Some(kept as u64))?;
            name
        }
        DedupeTarget::Replace => {
            super::catalog::replace_table(conn, &p.table, &select)?;
            p.table.clone()
        }
    };
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {marks}"))?;
    if ctx.is_cancelled() {
        return Err(EngineError::Cancelled);
    }
    Ok(DedupeReport {
        table,
        removed_table,
        rows_before: rows_before as u64,
        rows_kept: kept as u64,
        rows_removed: removed as u64,
        groups: groups as u64,
        excluded_groups: job.excluded.len(),
    })
}

/// "Find duplicates": a new table of every row that has a duplicate, with its group (the
/// survivor's row number) and the group's size, largest groups first, to filter, sort and
/// export like any table. Nothing else changes.
pub struct FindDuplicatesJob {
    pub workspace: Arc<Workspace>,
    pub spec: DedupeSpec,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FoundDuplicates {
    pub table: String,
    pub rows: u64,
}

impl Job for FindDuplicatesJob {
    type Output = FoundDuplicates;

    fn title(&self) -> String {
        format!("List the duplicates in {}", self.spec.view.source.title())
    }

    fn run(self, ctx: &JobCtx) -> Result<FoundDuplicates> {
        let _writing = self.workspace.writing();
        let conn = self.workspace.connect()?;
        let p = plan(&conn, &self.spec)?;
        let marks = format!("__dataforge_find_{}", unique_suffix());
        ctx.watch(&conn)?;
        ctx.phase("Grouping rows by key", None);
        let t = quote_ident(&p.table);
        let outcome = ctx.transaction(&conn, || {
            create_marks(&conn, &p, &marks, true)?;
            let name = new_table_name(&conn, None, &format!("{}_duplicates", p.table))?;
            let group = quote_ident(&unused_name(&p.columns, "_group"));
            let size = quote_ident(&unused_name(&p.columns, GROUP_SIZE_COLUMN));
            let rows = conn.execute(
                &format!(
                    "CREATE TABLE {} AS SELECT t.*, m.kept + 1 AS {group}, m.n AS {size} FROM {t} AS t JOIN {marks} AS m ON t.rowid = m.r
                     ORDER BY m.n DESC, m.kept, m.rk",
                    quote_ident(&name)
                ),
                [],
            )? as u64;
            conn.execute_batch(&format!("DROP TABLE {marks}"))?;
            register_in_catalog(&conn, &name, &format!("rows of {} that have a duplicate", p.table), Some(rows))?;
            Ok(FoundDuplicates { table: name, rows })
        });
        ctx.unwatch();
        let found = outcome?;
        ctx.record_output(found.rows, 0);
        Ok(found)
    }
}

pub(crate) fn unused_name(columns: &[ColumnInfo], base: &str) -> String {
    let mut name = base.to_string();
    while columns.iter().any(|c| c.name.eq_ignore_ascii_case(&name)) {
        name.insert(0, '_');
    }
    name
}
