//! Profiles: every column's statistics, distributions, alerts and suggested types, computed
//! by Polars over Arrow batches that DuckDB streams one column at a time (bounded memory).
//!
//! A column is read in chunks of at most [`ProfileOptions::chunk_bytes`]; each chunk's
//! statistics are computed by Polars and merged: moments (Pébay's formulas), sorted value runs
//! of numbers and dates (Polars sorts each chunk; runs merge in one pass), value counts and
//! text tallies. Quantiles, MAD, outliers and histograms come from the merged runs, so they
//! are exact; only a numeric column with more than [`stats::MAX_MERGED_RUNS`] distinct values
//! takes them from a spread sample, marked approximate. Distinct counts and top values are
//! always exact: values too many to merge are counted again in hash partitions.

mod assess;
mod bridge;
mod correlate;
mod model;
pub mod optimize;
pub mod report;
pub mod stats;
pub mod store;

pub use model::*;

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef};
use polars::prelude::{ChunkFilter, DataFrame, DataType as PlType, Series};

use self::stats::{Moments, TextTally, polars_error};
use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::sql::quote_ident;
use super::view::{CompiledView, SourceShape, View};
use duckdb::Connection;

use super::kind::{ColumnKind, TimeUnit};
use super::workspace::{ColumnInfo, Workspace, WsConnection};

/// The shape of the JSON report; bumped when a field changes meaning.
pub const REPORT_FORMAT: u32 = 1;
const QUANTILES: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
const TOP_VALUES: usize = 10;
const HISTOGRAM_BINS: usize = 30;
const MISSING_SEGMENTS: usize = 100;
/// Numeric columns compared pairwise for correlations, at most.
const MAX_CORRELATED: usize = 40;
/// Tables up to this many rows profile two columns at a time.
const PARALLEL_ROWS: u64 = 2_000_000;
/// Rows ranked for Spearman's correlation; larger tables use a sample of this many.
const SPEARMAN_ROWS: u64 = 250_000;

#[derive(Clone, Debug)]
pub struct ProfileOptions {
    /// Only these columns (all when `None`).
    pub columns: Option<Vec<String>>,
    /// Arrow bytes of one column read before its statistics are computed and merged.
    pub chunk_bytes: usize,
    /// Distinct text values merged across chunks before they are counted in partitions.
    pub max_merged_distinct: usize,
    /// Distinct numbers merged across chunks before quantiles come from a sample.
    pub max_merged_runs: usize,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        Self { columns: None, chunk_bytes: 64 << 20, max_merged_distinct: stats::MAX_MERGED_DISTINCT, max_merged_runs: stats::MAX_MERGED_RUNS }
    }
}

/// Profiles a view (a table, or the rows a filter leaves) and stores the result with it.
pub struct ProfileJob {
    pub workspace: Arc<Workspace>,
    pub view: View,
    pub options: ProfileOptions,
    /// Each column's profile as soon as it is computed (the window shows them as they come).
    pub on_column: Option<Box<dyn Fn(&ColumnProfile) + Send + Sync>>,
}

impl Job for ProfileJob {
    type Output = Profile;

    fn title(&self) -> String {
        format!("Profile {}", self.view.source.title())
    }

    fn run(self, ctx: &JobCtx) -> Result<Profile> {
        let conn = self.workspace.connect()?;
        let mut profile = profile_view(&conn, &self.view, &self.options, ctx, self.on_column.as_deref())?;
        if let Some(table) = self.view.source.table_name().filter(|_| !self.view.has_row_filter()) {
            profile.table_bytes = self.workspace.table(table).ok().and_then(|t| t.bytes);
            // Kept only with a table that is still there: one dropped meanwhile takes none.
            if self.options.columns.is_none() {
                ctx.transaction(&conn, || {
                    if crate::engine::workspace::table_exists(&conn, table)? {
                        store::save(&conn, table, &profile)?;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(profile)
    }
}

/// The profile of `view`'s rows (its sort is ignored; its column choice is kept).
pub fn profile_view(
    conn: &WsConnection,
    view: &View,
    options: &ProfileOptions,
    ctx: &JobCtx,
    on_column: Option<&(dyn Fn(&ColumnProfile) + Send + Sync)>,
) -> Result<Profile> {
    let started = Instant::now();
    let shape = SourceShape::of(conn, &view.source)?;
    let mut unsorted = view.clone();
    unsorted.sort.clear();
    if let Some(wanted) = &options.columns {
        for name in wanted {
            if !shape.columns.iter().any(|c| &c.name == name) {
                return Err(EngineError::InvalidOption(format!("{} has no column named {name:?}", view.source.title())));
            }
        }
        unsorted.columns = Some(wanted.clone());
    }
    let compiled = unsorted.compile(&shape)?;
    unsorted.check_values(conn, &shape)?;
    ctx.phase("Counting rows", None);
    ctx.watch(conn)?;
    let rows: i64 = conn.prepare(&compiled.select_columns("count(*)"))?.query_row(compiled.params(), |r| r.get(0))?;
    let rows = rows as u64;
    ctx.expect_rows(rows);
    let columns = compiled.columns.clone();
    let steps = columns.len() as f64 + 2.0;
    let mut column_profiles = Vec::with_capacity(columns.len());
    // Small tables: two columns at a time (each on its own connection); their statistics are
    // quick, so waiting on DuckDB and Polars in turn would leave a core idle. Larger tables
    // go one column at a time, which bounds memory to one column's chunks.
    let workers = if rows <= PARALLEL_ROWS && columns.len() > 1 { 2 } else { 1 };
    // Tasks: each column, then duplicate rows, then correlations.
    let n = columns.len();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::<(usize, ColumnProfile)>::new());
    let duplicates = std::sync::Mutex::new(0u64);
    let correlated = std::sync::Mutex::new(None);
    // Two workers start with the two table-wide scans, the longest tasks, so neither is
    // left to run alone at the end; one worker shows columns first.
    let task = |k: usize| match k {
        k if k >= n + 2 => usize::MAX,
        k if workers == 2 => (k + n) % (n + 2),
        k => k,
    };
    let work = |conn: &Connection| -> Result<()> {
        loop {
            let i = task(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            ctx.checkpoint()?;
            let task_started = Instant::now();
            if i == n {
                ctx.phase("Duplicate rows", None);
                let found = if rows < 2 { 0 } else { duplicate_rows(conn, &compiled, rows)? };
                *duplicates.lock().unwrap_or_else(|e| e.into_inner()) = found;
                tracing::debug!("profile: duplicate rows in {:?}", task_started.elapsed());
                continue;
            }
            if i == n + 1 {
                ctx.phase("Correlations", None);
                let found = correlate::correlations(conn, &compiled, &columns, rows, options, ctx)?;
                *correlated.lock().unwrap_or_else(|e| e.into_inner()) = found;
                tracing::debug!("profile: correlations in {:?}", task_started.elapsed());
                continue;
            }
            let Some(column) = columns.get(i) else { return Ok(()) };
            ctx.phase(format!("Column {} of {}: {}", i + 1, n, column.name), None);
            let profile = profile_column(conn, &compiled, column, rows, options, ctx)?;
            tracing::debug!("profile: column {:?} in {:?}", column.name, task_started.elapsed());
            if let Some(f) = on_column {
                f(&profile);
            }
            let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
            done.push((i, profile));
            ctx.fraction(done.len() as f64 / steps);
        }
    };
    if workers == 1 {
        work(conn)?;
    } else {
        let second = conn.try_clone()?;
        std::thread::scope(|scope| {
            let helper = scope.spawn(move || work(&second));
            let mine = work(conn);
            let theirs = helper.join().unwrap_or_else(|_| Err(EngineError::Internal("a profiling thread failed".into())));
            mine.and(theirs)
        })?;
    }
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    column_profiles.extend(done.into_iter().map(|(_, p)| p));
    let duplicate_rows = duplicates.into_inner().unwrap_or_else(|e| e.into_inner());
    let correlations = correlated.into_inner().unwrap_or_else(|e| e.into_inner());
    ctx.unwatch();
    let mut alerts = Vec::new();
    if duplicate_rows > 0 {
        alerts.push(Alert {
            kind: AlertKind::DuplicateRows,
            column: None,
            message: format!("{} rows ({:.1} %) repeat an earlier row exactly", group(duplicate_rows), pct(duplicate_rows, rows)),
        });
    }
    if let Some(c) = &correlations {
        let n = c.columns.len();
        for i in 0..n {
            for j in i + 1..n {
                if let Some(r) = c.pearson[i * n + j].filter(|r| r.abs() >= 0.9) {
                    alerts.push(Alert {
                        kind: AlertKind::HighCorrelation,
                        column: None,
                        message: format!("{} and {} are highly correlated (Pearson r = {r:.3})", c.columns[i], c.columns[j]),
                    });
                }
            }
        }
    }
    ctx.record_output(rows, 0);
    Ok(Profile {
        format: REPORT_FORMAT,
        source: view.source.title(),
        filtered: view.has_row_filter().then(|| view.filters.iter().map(|f| f.to_string()).chain(view.search.iter().map(|s| format!("search {s:?}"))).collect::<Vec<_>>().join(", ")),
        created: now_text(conn)?,
        rows,
        columns: columns.len(),
        table_bytes: None,
        duplicate_rows,
        missing_cells: column_profiles.iter().map(|c| c.nulls).sum(),
        column_profiles,
        correlations,
        alerts,
        fingerprint: fingerprint(rows, &shape.columns),
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn now_text(conn: &WsConnection) -> Result<String> {
    Ok(conn.query_row("SELECT strftime(now()::TIMESTAMP, '%Y-%m-%d %H:%M:%S')", [], |r| r.get(0))?)
}

pub fn group(n: u64) -> String {
    super::config::group_digits(n)
}

/// Rows hashed in one pass of [`duplicate_rows`]: DuckDB's hash table of that many rows
/// stays near 300 MB.
const DUPLICATE_PASS_ROWS: u64 = 4_000_000;

/// Rows that repeat an earlier row exactly, counted by DuckDB (hash aggregate, spills).
fn duplicate_rows(conn: &Connection, compiled: &CompiledView, rows: u64) -> Result<u64> {
    // Rows are grouped by a 64-bit hash first (small keys, little memory); only rows whose hash
    // repeats are then grouped by their values, so the count is exact. A large table is taken
    // in passes by hash, which bounds the hash table's size.
    let columns = &compiled.select_list;
    let hash = format!("hash({columns})");
    let passes = rows.div_ceil(DUPLICATE_PASS_ROWS).max(1);
    let mut total = 0;
    for pass in 0..passes {
        let rows = compiled.select_columns(&format!("{columns}, {hash} AS \"__dataforge_hash\""));
        let hashes = compiled.select_columns(&format!("{hash} AS h"));
        let sql = format!(
            "SELECT CAST(coalesce(sum(n - 1), 0) AS BIGINT) FROM (
                 SELECT count(*) AS n FROM ({rows}) AS v
                 WHERE \"__dataforge_hash\" % {passes} = {pass}
                   AND \"__dataforge_hash\" IN (SELECT h FROM ({hashes}) WHERE h % {passes} = {pass} GROUP BY h HAVING count(*) > 1)
                 GROUP BY {columns} HAVING count(*) > 1)"
        );
        let n: i64 = conn.prepare(&sql)?.query_row(compiled.params(), |r| r.get(0))?;
        total += n as u64;
    }
    Ok(total)
}

/// Reads one column of the view as Arrow batches, handing Polars a Series per chunk.
fn for_each_chunk(conn: &Connection, compiled: &CompiledView, expr: &str, chunk_bytes: usize, ctx: &JobCtx, mut f: impl FnMut(Series) -> Result<()>) -> Result<()> {
    let sql = compiled.select_columns(&format!("{expr} AS v"));
    let mut stmt = conn.prepare(&sql)?;
    let stream = stmt.stream_arrow(compiled.params())?;
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let (mut bytes, mut rows) = (0, 0);
    for batch in stream {
        ctx.checkpoint()?;
        let batch = batch?;
        let array = batch.column(0).clone();
        bytes += array.get_array_memory_size();
        rows += array.len();
        arrays.push(array);
        // Polars holds text as 16-byte views: rows count as much as bytes.
        if bytes >= chunk_bytes || rows * 16 >= chunk_bytes {
            f(bridge::series("v", &std::mem::take(&mut arrays))?)?;
            (bytes, rows) = (0, 0);
        }
    }
    if !arrays.is_empty() {
        f(bridge::series("v", &arrays)?)?;
    }
    Ok(())
}

/// What the chunks of a column add up to.
#[derive(Default)]
struct ColumnState {
    rows: u64,
    nulls: u64,
    moments: Moments,
    /// Value counts of text and boolean columns.
    counts: Option<DataFrame>,
    /// Sorted value runs of numeric and temporal columns.
    runs: Option<stats::Runs>,
    /// Too many distinct values to merge across chunks.
    dropped: bool,
    text: TextTally,
    sample: Vec<Series>,
    missing: Vec<u64>,
    chunks: usize,
    /// What numbers are measured from, so moments of values far from zero stay exact.
    pivot: Option<stats::Pivot>,
}

fn profile_column(conn: &Connection, compiled: &CompiledView, column: &ColumnInfo, rows: u64, options: &ProfileOptions, ctx: &JobCtx) -> Result<ColumnProfile> {
    let started = Instant::now();
    let kind = Kind::from_column(column.kind);
    let numeric = kind.is_numeric() || kind.is_temporal();
    let divisor = key_divisor(column.kind);
    let segments = MISSING_SEGMENTS.min(rows.max(1) as usize);
    let segment_rows = rows.div_ceil(segments as u64).max(1);
    let mut st = ColumnState { missing: vec![0; segments], ..Default::default() };
    for_each_chunk(conn, compiled, &select_expr(column), options.chunk_bytes, ctx, |s| {
        let s = s.rechunk();
        let offset = st.rows;
        st.rows += s.len() as u64;
        st.nulls += s.null_count() as u64;
        st.chunks += 1;
        if s.null_count() > 0 {
            for (i, valid) in s.is_not_null().iter().enumerate() {
                if valid == Some(false) {
                    let segment = ((offset + i as u64) / segment_rows) as usize;
                    st.missing[segment.min(segments - 1)] += 1;
                }
            }
        }
        // Each chunk gives its share of the sample, so no part of the column weighs more.
        let share = (stats::SAMPLE_VALUES as u64 * s.len() as u64).div_ceil(rows.max(1)).max(1) as usize;
        st.sample.push(stats::spread_sample(&s, share)?);
        if numeric {
            if st.pivot.is_none() {
                st.pivot = stats::Pivot::of(&s, kind.is_temporal())?;
            }
            let pivot = st.pivot.unwrap_or(stats::Pivot::Int(0));
            st.moments.merge(&stats::moments(&s, pivot, divisor, kind.is_temporal())?);
            if !st.dropped {
                let runs = stats::Runs::of_chunk(&s, divisor)?;
                let merged = match st.runs.take() {
                    Some(so_far) => so_far.merge(runs),
                    None => runs,
                };
                st.dropped = too_many(merged.len(), options.max_merged_runs, st.rows, rows);
                st.runs = (!st.dropped).then_some(merged);
            }
        } else if st.dropped {
            // Distinct values are counted later, in partitions: only the text tally is needed.
            if kind == Kind::Text {
                st.text.merge(&TextTally::of_series(&s)?);
            }
        } else {
            let counts = stats::value_counts(&s)?;
            if kind == Kind::Text {
                st.text.merge(&TextTally::of_counts(&counts)?);
            }
            {
                let merged = match st.counts.take() {
                    Some(so_far) => stats::merge_counts(so_far, counts)?,
                    None => counts,
                };
                st.dropped = too_many(merged.height(), options.max_merged_distinct, st.rows, rows);
                st.counts = (!st.dropped).then_some(merged);
            }
        }
        ctx.progress(0, st.rows);
        Ok(())
    })?;
    let sample = thin_sample(std::mem::take(&mut st.sample))?;
    let non_null = st.rows - st.nulls;
    let sample_runs;
    let sorted = match (&st.runs, numeric) {
        (Some(runs), true) => Some(stats::Sorted::of(runs)),
        (None, true) => {
            sample_runs = if sample.is_empty() { stats::Runs::default() } else { stats::Runs::of_chunk(&sample, divisor)? };
            Some(stats::Sorted::of(&sample_runs))
        }
        _ => None,
    };
    // Moments were measured from the pivot: put them back where the values are.
    let moments = st.moments.shifted(st.pivot.map_or(0.0, |p| p.value(divisor)));
    let (distinct, top_values) = match (&st.counts, &st.runs) {
        (_, Some(runs)) => {
            let sorted = stats::Sorted::of(runs);
            let text = |i: usize| match sorted.key(i) {
                Some(key) => key_text(kind, column.kind, key),
                None => numeric_text(kind, sorted.value(i)),
            };
            let mut top: Vec<ValueCount> = stats::top_sorted(&runs.counts, TOP_VALUES).into_iter().map(|i| ValueCount { value: Some(text(i)), count: runs.counts[i] }).collect();
            // NaN sorts last, as DuckDB orders it.
            if st.moments.nan > 0 {
                let at = top.iter().position(|v| v.count < st.moments.nan).unwrap_or(top.len());
                top.insert(at, ValueCount { value: Some("NaN".into()), count: st.moments.nan });
                top.truncate(TOP_VALUES);
            }
            (runs.len() as u64 + u64::from(st.moments.nan > 0), top)
        }
        (Some(counts), _) => (counts.height() as u64, top_values(&stats::top(counts, TOP_VALUES)?, kind, column.kind)?),
        _ if non_null == 0 => (0, Vec::new()),
        _ => partitioned_distinct_and_top(conn, compiled, kind, column, options, ctx)?,
    };
    let approximate = st.dropped;
    let mut profile = ColumnProfile {
        name: column.name.clone(),
        storage_type: column.data_type.clone(),
        kind,
        meaning: Meaning::Empty,
        count: st.rows,
        nulls: st.nulls,
        distinct,
        empty_strings: st.text.empty,
        // Zero and negative mean nothing for dates and times (they would count from 1970).
        zeros: if kind.is_temporal() { 0 } else { st.moments.zeros },
        negatives: if kind.is_temporal() { 0 } else { st.moments.negatives },
        nan: st.moments.nan,
        infinite: st.moments.infinite,
        numeric: None,
        text: None,
        temporal: None,
        histogram: None,
        top_values,
        suggested: None,
        alerts: Vec::new(),
        missing_by_segment: st.missing.iter().enumerate().map(|(i, &n)| n as f32 / segment_len(i, segment_rows, rows) as f32).collect(),
        seconds: 0.0,
    };
    if let Some(sorted) = sorted {
        let numeric = numeric_stats(&moments, sorted, approximate);
        profile.histogram = if kind.is_temporal() { None } else { stats::histogram(sorted, HISTOGRAM_BINS).map(|(edges, counts)| Histogram { edges, counts }) };
        if approximate && !kind.is_temporal() {
            // The sample gave the quantiles; the bars are counted over every value.
            profile.histogram = exact_histogram(conn, compiled, column, &moments, options, ctx)?;
        }
        if kind.is_temporal() {
            let mut temporal = temporal_stats(kind, column.kind, &numeric, sorted);
            if approximate {
                let scale = st.moments.n / sorted.total().max(1) as f64;
                temporal.by_period.iter_mut().for_each(|p| p.count = (p.count as f64 * scale).round() as u64);
            }
            profile.temporal = Some(temporal);
            profile.histogram = profile.temporal.as_ref().map(|t| Histogram {
                edges: (0..=t.by_period.len()).map(|i| i as f64).collect(),
                counts: t.by_period.iter().map(|v| v.count).collect(),
            });
        }
        profile.numeric = Some(numeric);
    }
    if kind == Kind::Text {
        profile.text = Some(text_stats(&st.text, st.counts.as_ref(), &sample)?);
    }
    if kind == Kind::Boolean {
        profile.histogram = None;
    }
    profile.meaning = assess::meaning(&profile, non_null);
    profile.suggested = assess::suggestion(conn, compiled, &profile, sorted)?;
    profile.alerts = assess::alerts(&profile);
    profile.seconds = started.elapsed().as_secs_f64();
    Ok(profile)
}

/// Whether merged distinct values will pass `cap` once every row is read (`distinct` of the
/// first `read` rows, projected to `total`). A column read in one chunk is never dropped.
fn too_many(distinct: usize, cap: usize, read: u64, total: u64) -> bool {
    read < total && distinct as f64 * total as f64 / read.max(1) as f64 > cap as f64
}

/// Histogram bars of every finite value in a second pass, the bins set by the exact min and max.
fn exact_histogram(conn: &Connection, compiled: &CompiledView, column: &ColumnInfo, m: &Moments, options: &ProfileOptions, ctx: &JobCtx) -> Result<Option<Histogram>> {
    let (Some(min), Some(max)) = (m.finite_min, m.finite_max) else { return Ok(None) };
    let bins = if max > min { HISTOGRAM_BINS } else { 1 };
    let width = if max > min { (max - min) / bins as f64 } else { 1.0 };
    let mut counts = vec![0u64; bins];
    let divisor = key_divisor(column.kind);
    for_each_chunk(conn, compiled, &select_expr(column), options.chunk_bytes, ctx, |s| {
        let floats = s.cast(&PlType::Float64).map_err(polars_error)?;
        let floats = if divisor == 1.0 { floats } else { floats / divisor };
        let floats = floats.f64().map_err(polars_error)?;
        let finite = floats.filter(&floats.is_finite()).map_err(polars_error)?;
        let bin = ((&finite - min) / width).rechunk().into_owned();
        for b in bin.cont_slice().map_err(polars_error)? {
            counts[(b.floor().max(0.0) as usize).min(bins - 1)] += 1;
        }
        Ok(())
    })?;
    Ok(Some(Histogram { edges: (0..=bins).map(|i| min + width * i as f64).collect(), counts }))
}

fn segment_len(i: usize, segment_rows: u64, rows: u64) -> u64 {
    let start = i as u64 * segment_rows;
    rows.saturating_sub(start).min(segment_rows).max(1)
}

/// At most [`stats::SAMPLE_VALUES`] values, spread over all chunks.
fn thin_sample(parts: Vec<Series>) -> Result<Series> {
    let mut iter = parts.into_iter();
    let Some(mut all) = iter.next() else {
        return Ok(Series::new_empty("v".into(), &PlType::Null));
    };
    for part in iter {
        all.append(&part).map_err(polars_error)?;
    }
    stats::spread_sample(&all, stats::SAMPLE_VALUES)
}

/// How a column's values are read for Polars, in the column's own terms: integers as 64- or
/// 128-bit integers (never as doubles, which would merge 20-digit identifiers), decimals as
/// DECIMAL (unscaled 128-bit integers), floats as DOUBLE, dates and times as microseconds
/// (nanoseconds for TIMESTAMP_NS) with ±infinity at the ends of BIGINT, the rest as text.
fn select_expr(column: &ColumnInfo) -> String {
    let c = quote_ident(&column.name);
    match column.kind {
        ColumnKind::Integer { bits: 128, .. } => format!("CAST({c} AS HUGEINT)"),
        ColumnKind::Integer { bits: 64, signed: false } => format!("CAST({c} AS UBIGINT)"),
        ColumnKind::Integer { .. } => format!("CAST({c} AS BIGINT)"),
        ColumnKind::Decimal { .. } | ColumnKind::Boolean => c,
        ColumnKind::Float { .. } => format!("CAST({c} AS DOUBLE)"),
        ColumnKind::Date | ColumnKind::Timestamp { .. } => {
            let epoch = if matches!(column.kind, ColumnKind::Timestamp { unit: TimeUnit::Nanos, .. }) { "epoch_ns" } else { "epoch_us" };
            format!("CASE WHEN {c} = 'infinity' THEN {} WHEN {c} = '-infinity' THEN {} ELSE {epoch}({c}) END", i64::MAX, i64::MIN)
        }
        ColumnKind::Time { .. } => format!("epoch_us({c})"),
        _ => format!("CAST({c} AS VARCHAR)"),
    }
}

/// What a key read by [`select_expr`] is divided by to read as a number: 10^scale for a
/// DECIMAL, 1000 for nanoseconds (which read as microseconds).
fn key_divisor(kind: ColumnKind) -> f64 {
    match kind {
        ColumnKind::Decimal { scale, .. } => 10f64.powi(i32::from(scale)),
        ColumnKind::Timestamp { unit: TimeUnit::Nanos, .. } => 1000.0,
        _ => 1.0,
    }
}

/// An exact key as DuckDB writes the value: an integer, a DECIMAL with its scale, a date or
/// time (to the nanosecond), or infinity.
fn key_text(kind: Kind, column_kind: ColumnKind, key: i128) -> String {
    if kind.is_temporal() && (key == i128::from(i64::MAX) || key == i128::from(i64::MIN)) {
        return if key > 0 { "infinity".into() } else { "-infinity".into() };
    }
    match column_kind {
        ColumnKind::Decimal { scale, .. } if scale > 0 => {
            let digits = key.unsigned_abs().to_string();
            let scale = usize::from(scale);
            let digits = format!("{digits:0>width$}", width = scale + 1);
            let (whole, fraction) = digits.split_at(digits.len() - scale);
            format!("{}{whole}.{fraction}", if key < 0 { "-" } else { "" })
        }
        ColumnKind::Timestamp { unit: TimeUnit::Nanos, .. } => {
            let nanos = key as i64;
            chrono::DateTime::from_timestamp_nanos(nanos)
                .format(if nanos % 1_000_000_000 == 0 { "%Y-%m-%d %H:%M:%S" } else { "%Y-%m-%d %H:%M:%S%.9f" })
                .to_string()
        }
        ColumnKind::Timestamp { tz: true, .. } => format!("{}+00", format_temporal(kind, key as f64)),
        _ if kind.is_temporal() => format_temporal(kind, key as f64),
        _ => key.to_string(),
    }
}

/// A number (or temporal value held as microseconds) as text.
fn numeric_text(kind: Kind, v: f64) -> String {
    match kind {
        _ if kind.is_temporal() => format_temporal(kind, v),
        Kind::Integer if v.is_finite() => format!("{}", v as i64),
        _ if v.is_nan() => "NaN".into(),
        _ if v.is_infinite() => if v > 0.0 { "inf".into() } else { "-inf".into() },
        _ => format!("{v:?}"),
    }
}

fn top_values(top: &DataFrame, kind: Kind, column_kind: ColumnKind) -> Result<Vec<ValueCount>> {
    let v = top.column("v").map_err(polars_error)?.as_materialized_series().clone();
    let n = top.column("n").map_err(polars_error)?.u64().map_err(polars_error)?.clone();
    let texts = display_values(&v, kind, column_kind)?;
    Ok(texts.into_iter().zip(n.into_no_null_iter()).map(|(value, count)| ValueCount { value, count }).collect())
}

/// Values as a person reads them, as DuckDB writes them: exact keys (integers, decimals,
/// dates and times) through [`key_text`], the rest as text.
fn display_values(v: &Series, kind: Kind, column_kind: ColumnKind) -> Result<Vec<Option<String>>> {
    match v.dtype() {
        PlType::Int64 => {
            let keys = v.i64().map_err(polars_error)?;
            Ok(keys.iter().map(|k| k.map(|k| key_text(kind, column_kind, i128::from(k)))).collect())
        }
        PlType::Int128 => {
            let keys = v.i128().map_err(polars_error)?;
            Ok(keys.iter().map(|k| k.map(|k| key_text(kind, column_kind, k))).collect())
        }
        _ => {
            let text = v.cast(&PlType::String).map_err(polars_error)?;
            Ok(text.str().map_err(polars_error)?.iter().map(|s| s.map(str::to_string)).collect())
        }
    }
}

/// Distinct values one pass of [`partitioned_distinct_and_top`] aims to hold.
const PARTITION_DISTINCT: f64 = 2_500_000.0;

/// Distinct count and top values of a column with too many values to merge at once: the
/// values are split by hash into parts small enough for memory (DuckDB filters each part as
/// it scans), each part counted by Polars. Parts share no value, so the sums are exact.
fn partitioned_distinct_and_top(conn: &Connection, compiled: &CompiledView, kind: Kind, column: &ColumnInfo, options: &ProfileOptions, ctx: &JobCtx) -> Result<(u64, Vec<ValueCount>)> {
    let expr = select_expr(column);
    let values = compiled.select_columns(&format!("{expr} AS v"));
    let estimate: i64 = conn.prepare(&format!("SELECT approx_count_distinct(v) FROM ({values})"))?.query_row(compiled.params(), |r| r.get(0))?;
    let per_part = PARTITION_DISTINCT.min(options.max_merged_distinct as f64);
    let parts = ((estimate as f64 * 1.2 / per_part).ceil() as u64).max(1);
    let mut distinct = 0u64;
    let mut candidates: Option<DataFrame> = None;
    for part in 0..parts {
        ctx.checkpoint()?;
        let part_sql = CompiledView {
            from: format!("({values}) AS \"part\""),
            select_list: "v".into(),
            columns: Vec::new(),
            where_clause: format!("WHERE v IS NOT NULL AND hash(v) % {parts} = {part}"),
            order_by: String::new(),
            params: compiled.params.clone(),
        };
        let mut counts: Option<DataFrame> = None;
        for_each_chunk(conn, &part_sql, "v", options.chunk_bytes, ctx, |s| {
            let chunk = stats::value_counts(&s)?;
            counts = Some(match counts.take() {
                Some(so_far) => stats::merge_counts(so_far, chunk)?,
                None => chunk,
            });
            Ok(())
        })?;
        if let Some(counts) = counts {
            distinct += counts.height() as u64;
            let top = stats::detached(stats::top(&counts, TOP_VALUES)?)?;
            candidates = Some(match candidates.take() {
                Some(so_far) => so_far.vstack(&top).map_err(polars_error)?,
                None => top,
            });
        }
    }
    let top = match candidates {
        Some(c) => top_values(&stats::top(&c, TOP_VALUES)?, kind, column.kind)?,
        None => Vec::new(),
    };
    Ok((distinct, top))
}

fn numeric_stats(m: &Moments, sorted: stats::Sorted<'_>, approximate: bool) -> NumericStats {
    let quantiles: Vec<Quantile> =
        QUANTILES.iter().zip(sorted.quantiles(&QUANTILES)).filter_map(|(&p, value)| value.map(|value| Quantile { p, value })).collect();
    let q = |p: f64| quantiles.iter().find(|q| q.p == p).map(|q| q.value);
    let iqr = q(0.75).zip(q(0.25)).map(|(a, b)| a - b);
    let outliers = q(0.25).zip(iqr).map(|(q1, iqr)| {
        let (lo, hi) = (q1 - 1.5 * iqr, q(0.75).unwrap_or(q1) + 1.5 * iqr);
        let seen: u64 = sorted.iter().filter(|(v, _)| *v < lo || *v > hi).map(|(_, n)| n).sum();
        if approximate {
            // Scale a sample's count to the column.
            (seen as f64 * m.n / sorted.total().max(1) as f64).round() as u64
        } else {
            seen
        }
    });
    let variance = m.variance();
    NumericStats {
        min: m.min,
        max: m.max,
        mean: (m.n > 0.0).then_some(m.mean),
        std: variance.map(f64::sqrt),
        variance,
        sum: m.sum,
        skewness: m.skewness(),
        kurtosis: m.kurtosis(),
        mad: q(0.5).and_then(|median| sorted.mad(median)),
        quantiles,
        iqr,
        outliers,
        approximate,
    }
}

pub fn format_temporal(kind: Kind, micros: f64) -> String {
    let micros = micros.round() as i64;
    match kind {
        Kind::Date => chrono::DateTime::from_timestamp_micros(micros).map(|t| t.format("%Y-%m-%d").to_string()),
        Kind::Time => {
            let secs = micros.div_euclid(1_000_000);
            let frac = micros.rem_euclid(1_000_000);
            Some(if frac == 0 {
                format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
            } else {
                format!("{:02}:{:02}:{:02}.{frac:06}", secs / 3600, secs / 60 % 60, secs % 60)
            })
        }
        _ => chrono::DateTime::from_timestamp_micros(micros).map(|t| {
            if micros % 1_000_000 == 0 { t.format("%Y-%m-%d %H:%M:%S").to_string() } else { t.format("%Y-%m-%d %H:%M:%S%.6f").to_string() }
        }),
    }
    .unwrap_or_else(|| micros.to_string())
}

fn duration_words(micros: f64) -> String {
    let secs = micros / 1e6;
    let days = secs / 86_400.0;
    if days >= 2.0 {
        format!("{} days", days.round() as u64)
    } else if secs >= 3600.0 {
        format!("{} h {} min", (secs / 3600.0) as u64, (secs % 3600.0 / 60.0) as u64)
    } else if secs >= 60.0 {
        format!("{} min {} s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!("{secs:.3} s")
    }
}

fn temporal_stats(kind: Kind, column_kind: ColumnKind, numeric: &NumericStats, sorted: stats::Sorted<'_>) -> TemporalStats {
    use chrono::Datelike;
    let span_days = numeric.max.zip(numeric.min).map_or(0.0, |(a, b)| (a - b) / 86_400e6);
    let period = match kind {
        Kind::Time => "hour",
        _ if span_days <= 62.0 => "day",
        _ if span_days <= 366.0 * 6.0 => "month",
        _ => "year",
    };
    let mut by_period: Vec<ValueCount> = Vec::new();
    // Values are sorted: a period's label is made once, when the period changes.
    let (mut period_start, mut period_end) = (f64::NAN, f64::NAN);
    for (v, n) in sorted.iter() {
        if v >= period_start && v < period_end {
            if let Some(last) = by_period.last_mut() {
                last.count += n;
            }
            continue;
        }
        let (label, start, end) = match kind {
            Kind::Time => {
                let hour = (v / 3_600e6).floor();
                (format!("{:02}:00", hour as i64), hour * 3_600e6, (hour + 1.0) * 3_600e6)
            }
            _ => {
                let Some(t) = chrono::DateTime::from_timestamp_micros(v as i64) else { continue };
                let day = t.date_naive();
                let (first, next, label) = match period {
                    "day" => (day, day.succ_opt(), day.format("%Y-%m-%d").to_string()),
                    "month" => {
                        let first = day.with_day(1).unwrap_or(day);
                        (first, first.checked_add_months(chrono::Months::new(1)), format!("{}-{:02}", t.year(), t.month()))
                    }
                    _ => {
                        let first = chrono::NaiveDate::from_ymd_opt(t.year(), 1, 1).unwrap_or(day);
                        (first, chrono::NaiveDate::from_ymd_opt(t.year() + 1, 1, 1), t.year().to_string())
                    }
                };
                let micros = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map_or(f64::NAN, |t| t.and_utc().timestamp_micros() as f64);
                (label, micros(first), next.map_or(f64::INFINITY, micros))
            }
        };
        (period_start, period_end) = (start, end);
        by_period.push(ValueCount { value: Some(label), count: n });
    }
    let longest_gap = (1..sorted.len()).max_by(|&a, &b| (sorted.value(a) - sorted.value(a - 1)).total_cmp(&(sorted.value(b) - sorted.value(b - 1)))).map(|i| {
        let (from, to) = (sorted.value(i - 1), sorted.value(i));
        Gap { from: format_temporal(kind, from), to: format_temporal(kind, to), length: duration_words(to - from) }
    });
    // The ends as written exactly (nanoseconds, infinity) where the keys are exact.
    let end = |i: usize, fallback: Option<f64>| match sorted.key(i) {
        Some(key) if !numeric.approximate => Some(key_text(kind, column_kind, key)),
        _ => fallback.map(|m| format_temporal(kind, m)),
    };
    TemporalStats {
        min: if sorted.len() > 0 { end(0, numeric.min) } else { None },
        max: if sorted.len() > 0 { end(sorted.len() - 1, numeric.max) } else { None },
        period: period.to_string(),
        by_period,
        longest_gap,
    }
}

/// Shapes a date is commonly written in.
const DATE_SHAPES: [&str; 6] = ["9999-99-99", "99/99/9999", "9/99/9999", "99.99.9999", "9999/99/99", "99-99-9999"];

/// Text statistics; shapes and number detection read every value when the column has few
/// distinct values (each weighted by its count), else a spread sample.
fn text_stats(t: &TextTally, counts: Option<&DataFrame>, sample: &Series) -> Result<TextStats> {
    let mut shapes: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut numeric = 0;
    let mut sampled = 0;
    let mut add = |v: &str, n: u64| {
        sampled += n;
        *shapes.entry(stats::shape(v)).or_default() += n;
        if v.trim().parse::<f64>().is_ok() {
            numeric += n;
        }
    };
    match counts.filter(|c| c.height() <= stats::SAMPLE_VALUES) {
        Some(counts) => {
            let v = counts.column("v").map_err(polars_error)?.str().map_err(polars_error)?;
            let n = counts.column("n").map_err(polars_error)?.u64().map_err(polars_error)?;
            for (v, n) in v.iter().zip(n.iter()) {
                if let (Some(v), Some(n)) = (v, n) {
                    add(v, n);
                }
            }
        }
        None => {
            if let Ok(values) = sample.str() {
                for v in values.iter().flatten() {
                    add(v, 1);
                }
            }
        }
    }
    let mut shapes: Vec<ValueCount> = shapes.into_iter().map(|(s, count)| ValueCount { value: Some(s), count }).collect();
    shapes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    let date_formats = shapes
        .iter()
        .filter(|s| s.value.as_deref().is_some_and(|v| DATE_SHAPES.iter().any(|d| v.starts_with(d) && (v.len() == d.len() || v[d.len()..].starts_with([' ', 'T'])))))
        .cloned()
        .collect();
    shapes.truncate(TOP_VALUES);
    Ok(TextStats {
        length_min: t.len_min,
        length_mean: (t.values > 0).then(|| t.len_sum as f64 / t.values as f64),
        length_max: t.len_max,
        with_letters: t.with_letters,
        with_digits: t.with_digits,
        with_spaces: t.with_spaces,
        with_punctuation: t.with_punctuation,
        with_non_ascii: t.with_non_ascii,
        leading_whitespace: t.leading_space,
        trailing_whitespace: t.trailing_space,
        shapes,
        sampled_values: sampled,
        numeric_values: numeric,
        date_formats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_read_as_polars_can_take_them() {
        assert_eq!(Kind::of("INTEGER"), Kind::Integer);
        assert_eq!(Kind::of("DECIMAL(38,10)"), Kind::Float);
        assert_eq!(Kind::of("HUGEINT"), Kind::Integer);
        assert_eq!(Kind::of("UBIGINT"), Kind::Integer);
        assert_eq!(Kind::of("TIMESTAMP WITH TIME ZONE"), Kind::Timestamp);
        assert_eq!(Kind::of("STRUCT(a INTEGER)"), Kind::Text);
        assert_eq!(Kind::of("INTEGER[]"), Kind::Text);
    }

    #[test]
    fn temporal_values_read_as_dates_and_times() {
        assert_eq!(format_temporal(Kind::Date, 1_704_153_600_000_000.0), "2024-01-02");
        assert_eq!(format_temporal(Kind::Time, 3_600_000_000.0), "01:00:00");
        assert_eq!(format_temporal(Kind::Timestamp, 1_704_067_200_123_457.0), "2024-01-01 00:00:00.123457");
        let ns = ColumnKind::Timestamp { unit: TimeUnit::Nanos, tz: false };
        assert_eq!(key_text(Kind::Timestamp, ns, 1_704_067_200_000_000_001), "2024-01-01 00:00:00.000000001");
        assert_eq!(key_text(Kind::Timestamp, ns, i128::from(i64::MAX)), "infinity");
        let dec = ColumnKind::Decimal { precision: 38, scale: 10 };
        assert_eq!(key_text(Kind::Float, dec, -15), "-0.0000000015");
        assert_eq!(key_text(Kind::Float, dec, 12_345_000_000_000), "1234.5000000000");
        assert_eq!(key_text(Kind::Integer, ColumnKind::Integer { bits: 128, signed: true }, i128::MAX), "170141183460469231731687303715884105727");
    }
}
