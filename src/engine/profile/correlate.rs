//! Correlations between numeric columns.

use polars::prelude::{ChunkFilter, DataType as PlType, Float64Chunked, IntoLazy, IntoSeries, col};
use polars_compute::moment::{PearsonState, pearson_corr};

use super::*;
use crate::engine::kind::ColumnKind;

/// Pearson (exact, merged across chunks of rows) and Spearman (ranks of up to
/// [`SPEARMAN_ROWS`] rows, a DuckDB Bernoulli sample of about as many beyond) between numeric columns.
pub(super) fn correlations(conn: &Connection, compiled: &CompiledView, all: &[ColumnInfo], rows: u64, options: &ProfileOptions, ctx: &JobCtx) -> Result<Option<Correlations>> {
    let columns: Vec<&ColumnInfo> = all.iter().filter(|c| Kind::from_column(c.kind).is_numeric()).take(MAX_CORRELATED).collect();
    if columns.len() < 2 || rows < 3 {
        return Ok(None);
    }
    let n = columns.len();
    let select: Vec<String> = centred(conn, compiled, &columns)?.into_iter().enumerate().map(|(i, expr)| format!("{expr} AS c{i}")).collect();
    // Pairwise co-moments over complete pairs, merged chunk by chunk.
    let mut pairs = vec![PearsonState::default(); n * n];
    let mut batches: Vec<arrow::record_batch::RecordBatch> = Vec::new();
    let mut bytes = 0;
    let mut flush = |batches: &mut Vec<arrow::record_batch::RecordBatch>| -> Result<()> {
        if batches.is_empty() {
            return Ok(());
        }
        let chunk = float_columns(batches, n)?;
        batches.clear();
        for (i, j, state) in pair_states(&chunk) {
            pairs[i * n + j].combine(&state);
        }
        Ok(())
    };
    let mut stmt = conn.prepare(&compiled.select_columns(&select.join(", ")))?;
    for batch in stmt.stream_arrow(compiled.params())? {
        ctx.checkpoint()?;
        let batch = batch?;
        bytes += batch.get_array_memory_size();
        batches.push(batch);
        if bytes >= options.chunk_bytes {
            flush(&mut batches)?;
            bytes = 0;
        }
    }
    flush(&mut batches)?;
    let pearson = symmetric(n, |i, j| pearson_of(&pairs[i * n + j]));
    // Spearman: Pearson of average ranks, over all rows or a reservoir sample of them.
    ctx.checkpoint()?;
    let mut sql = format!("SELECT * FROM ({})", compiled.select_columns(&select.join(", ")));
    if rows > SPEARMAN_ROWS {
        let percent = SPEARMAN_ROWS as f64 * 100.0 / rows as f64;
        sql.push_str(&format!(" USING SAMPLE bernoulli({percent:.6} PERCENT) REPEATABLE (42)"));
    }
    let mut stmt = conn.prepare(&sql)?;
    let batches: Vec<arrow::record_batch::RecordBatch> = stmt.stream_arrow(compiled.params())?.collect::<std::result::Result<_, _>>()?;
    let sample = float_columns(&batches, n)?;
    drop(batches);
    let spearman_rows = sample.first().map_or(0, |c| c.len() as u64);
    let ranked_all = rank_columns(&sample, None)?;
    let complete: Vec<bool> = sample.iter().map(|c| c.null_count() == 0 && c.is_finite().all()).collect();
    let ranked_pairs = pair_states(&ranked_all);
    let mut spearman = vec![None; n * n];
    for (i, j, state) in ranked_pairs {
        let r = if complete[i] && complete[j] {
            pearson_of(&state)
        } else {
            // Rank again over the rows where both are present.
            let both = sample[i].is_finite() & sample[j].is_finite();
            let pair = [sample[i].filter(&both).map_err(polars_error)?, sample[j].filter(&both).map_err(polars_error)?];
            let ranked = rank_columns(&pair, None)?;
            pair_states(&ranked).first().and_then(|(_, _, state)| pearson_of(state))
        };
        spearman[i * n + j] = r;
        spearman[j * n + i] = r;
    }
    for i in 0..n {
        spearman[i * n + i] = Some(1.0);
    }
    Ok(Some(Correlations { columns: columns.iter().map(|c| c.name.clone()).collect(), pearson, spearman, spearman_rows }))
}

/// Each numeric column as doubles measured from its smallest value, subtracted in the
/// column's own type (or HUGEINT when its span needs it): correlations do not move with an
/// offset, and 20-digit integers or timestamps far from zero keep their differences (ranks
/// their ties) that doubles of the values would lose. One scan finds every pivot.
fn centred(conn: &Connection, compiled: &CompiledView, columns: &[&ColumnInfo]) -> Result<Vec<String>> {
    let (mut ends, mut probes) = (Vec::new(), Vec::new());
    for (i, column) in columns.iter().enumerate() {
        let c = quote_ident(&column.name);
        match column.kind {
            ColumnKind::Integer { .. } | ColumnKind::Decimal { .. } => {
                ends.extend([format!("min({c}) AS lo{i}"), format!("max({c}) AS hi{i}")]);
                probes.extend([
                    format!("CAST(lo{i} AS VARCHAR)"),
                    format!("TRY(hi{i} - lo{i}) IS NOT NULL"),
                    format!("TRY(CAST(hi{i} AS HUGEINT) - CAST(lo{i} AS HUGEINT)) IS NOT NULL"),
                ]);
            }
            ColumnKind::Float { .. } => {
                ends.push(format!("min(CAST({c} AS DOUBLE)) FILTER (WHERE isfinite({c})) AS lo{i}"));
                probes.extend([format!("CAST(lo{i} AS VARCHAR)"), "true".into(), "false".into()]);
            }
            _ => probes.extend(["NULL::VARCHAR".into(), "false".into(), "false".into()]),
        }
    }
    if ends.is_empty() {
        ends.push("0 AS nothing".into());
    }
    let sql = format!("SELECT {} FROM ({})", probes.join(", "), compiled.select_columns(&ends.join(", ")));
    let probed: Vec<(Option<String>, bool, bool)> = conn.prepare(&sql)?.query_row(compiled.params(), |r| {
        (0..columns.len())
            .map(|i| Ok((r.get(3 * i)?, r.get::<_, Option<bool>>(3 * i + 1)?.unwrap_or(false), r.get::<_, Option<bool>>(3 * i + 2)?.unwrap_or(false))))
            .collect()
    })?;
    Ok(columns
        .iter()
        .zip(probed)
        .map(|(column, (pivot, own, huge))| {
            let c = quote_ident(&column.name);
            let plain = format!("CAST({c} AS DOUBLE)");
            let Some(p) = pivot.map(|p| crate::engine::sql::quote_literal(&p)) else { return plain };
            match column.kind {
                ColumnKind::Float { .. } => format!("CAST({c} AS DOUBLE) - CAST({p} AS DOUBLE)"),
                _ if own => format!("CAST({c} - CAST({p} AS {}) AS DOUBLE)", column.data_type),
                ColumnKind::Integer { .. } if huge => format!("CAST(CAST({c} AS HUGEINT) - CAST({p} AS HUGEINT) AS DOUBLE)"),
                _ => plain,
            }
        })
        .collect())
}

fn symmetric(n: usize, f: impl Fn(usize, usize) -> Option<f64>) -> Vec<Option<f64>> {
    let mut out = vec![None; n * n];
    for i in 0..n {
        out[i * n + i] = Some(1.0);
        for j in i + 1..n {
            let r = f(i, j);
            out[i * n + j] = r;
            out[j * n + i] = r;
        }
    }
    out
}

/// The batches' first `n` columns (all DOUBLE) as Polars arrays, one chunk each.
fn float_columns(batches: &[arrow::record_batch::RecordBatch], n: usize) -> Result<Vec<Float64Chunked>> {
    (0..n)
        .map(|i| {
            let series = bridge::series("v", &batches.iter().map(|b| b.column(i).clone()).collect::<Vec<_>>())?;
            Ok(series.f64().map_err(polars_error)?.rechunk().into_owned())
        })
        .collect()
}

/// Average ranks (ties share their mean rank), by Polars; missing values stay missing.
fn rank_columns(columns: &[Float64Chunked], _: Option<()>) -> Result<Vec<Float64Chunked>> {
    use polars::prelude::{RankMethod, RankOptions};
    columns
        .iter()
        .map(|c| {
            let ranked = c.clone().into_series().into_frame().lazy().select([col("v").rank(RankOptions { method: RankMethod::Average, descending: false }, None)]).collect().map_err(polars_error)?;
            let ranked = ranked.column("v").map_err(polars_error)?.cast(&PlType::Float64).map_err(polars_error)?;
            Ok(ranked.f64().map_err(polars_error)?.rechunk().into_owned())
        })
        .collect()
}

/// Pearson states of every pair (i < j) of a chunk's columns, each one pass of Polars' kernel
/// over the rows where both values are finite.
fn pair_states(columns: &[Float64Chunked]) -> Vec<(usize, usize, PearsonState)> {
    // NaN and infinities count as missing, as in the column statistics.
    let cleaned: Vec<std::borrow::Cow<'_, Float64Chunked>> = columns
        .iter()
        .map(|c| {
            if c.is_finite().all() {
                std::borrow::Cow::Borrowed(c)
            } else {
                std::borrow::Cow::Owned(c.iter().map(|v| v.filter(|x| x.is_finite())).collect::<Float64Chunked>())
            }
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..cleaned.len() {
        for j in i + 1..cleaned.len() {
            let mut state = PearsonState::default();
            for (a, b) in cleaned[i].downcast_iter().zip(cleaned[j].downcast_iter()) {
                state.combine(&pearson_corr(a, b));
            }
            out.push((i, j, state));
        }
    }
    out
}

fn pearson_of(state: &PearsonState) -> Option<f64> {
    (state.weight() > 1.0).then(|| state.finalize()).filter(|r| r.is_finite()).map(|r| r.clamp(-1.0, 1.0))
}
