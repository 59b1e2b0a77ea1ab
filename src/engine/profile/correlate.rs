//! Correlations between numeric columns.

use polars::prelude::{ChunkAgg, ChunkFilter, DataType as PlType, Float64Chunked, IntoLazy, IntoSeries, col};

use super::*;

/// Pearson (exact, merged across chunks of rows) and Spearman (ranks of up to
/// [`SPEARMAN_ROWS`] rows, a DuckDB Bernoulli sample of about as many beyond) between numeric columns.
pub(super) fn correlations(conn: &Connection, compiled: &CompiledView, all: &[ColumnInfo], rows: u64, options: &ProfileOptions, ctx: &JobCtx) -> Result<Option<Correlations>> {
    let columns: Vec<&ColumnInfo> = all.iter().filter(|c| Kind::of(&c.data_type).is_numeric()).take(MAX_CORRELATED).collect();
    if columns.len() < 2 || rows < 3 {
        return Ok(None);
    }
    let n = columns.len();
    let select: Vec<String> = columns.iter().enumerate().map(|(i, c)| format!("CAST({} AS DOUBLE) AS c{i}", quote_ident(&c.name))).collect();
    // Pairwise co-moments over complete pairs, merged chunk by chunk.
    let mut pairs = vec![CoMoments::default(); n * n];
    let mut batches: Vec<arrow::record_batch::RecordBatch> = Vec::new();
    let mut bytes = 0;
    let mut flush = |batches: &mut Vec<arrow::record_batch::RecordBatch>| -> Result<()> {
        if batches.is_empty() {
            return Ok(());
        }
        let chunk = float_columns(batches, n)?;
        batches.clear();
        for (i, j, co) in CoMoments::of_all(&chunk)? {
            pairs[i * n + j].merge(&co);
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
    let pearson = symmetric(n, |i, j| pairs[i * n + j].pearson());
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
    let ranked_pairs = CoMoments::of_all(&ranked_all)?;
    let mut spearman = vec![None; n * n];
    for (i, j, co) in ranked_pairs {
        let r = if complete[i] && complete[j] {
            co.pearson()
        } else {
            // Rank again over the rows where both are present.
            let both = sample[i].is_finite() & sample[j].is_finite();
            let pair = [sample[i].filter(&both).map_err(polars_error)?, sample[j].filter(&both).map_err(polars_error)?];
            let ranked = rank_columns(&pair, None)?;
            CoMoments::of_all(&ranked)?.first().and_then(|(_, _, co)| co.pearson())
        };
        spearman[i * n + j] = r;
        spearman[j * n + i] = r;
    }
    for i in 0..n {
        spearman[i * n + i] = Some(1.0);
    }
    Ok(Some(Correlations { columns: columns.iter().map(|c| c.name.clone()).collect(), pearson, spearman, spearman_rows }))
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

/// Count, means, co-moment and second moments of a pair over rows where both are finite.
#[derive(Clone, Copy, Debug, Default)]
struct CoMoments {
    n: f64,
    mean_a: f64,
    mean_b: f64,
    c: f64,
    m2a: f64,
    m2b: f64,
}

impl CoMoments {
    /// Every pair (i < j) of a chunk's columns, by Polars array arithmetic: deviations of a
    /// column are computed once when it has no missing or infinite value.
    fn of_all(columns: &[Float64Chunked]) -> Result<Vec<(usize, usize, Self)>> {
        let complete: Vec<bool> = columns.iter().map(|c| c.null_count() == 0 && c.is_finite().all()).collect();
        let deviations: Vec<Option<(Float64Chunked, f64)>> = columns
            .iter()
            .zip(&complete)
            .map(|(c, &ok)| {
                ok.then(|| {
                    let d = c - c.mean().unwrap_or(0.0);
                    let m2 = (&d * &d).sum().unwrap_or(0.0);
                    (d, m2)
                })
            })
            .collect();
        let mut out = Vec::new();
        for i in 0..columns.len() {
            for j in i + 1..columns.len() {
                let co = match (&deviations[i], &deviations[j]) {
                    (Some((da, m2a)), Some((db, m2b))) => Self {
                        n: columns[i].len() as f64,
                        mean_a: columns[i].mean().unwrap_or(0.0),
                        mean_b: columns[j].mean().unwrap_or(0.0),
                        c: (da * db).sum().unwrap_or(0.0),
                        m2a: *m2a,
                        m2b: *m2b,
                    },
                    _ => {
                        let both = columns[i].is_finite() & columns[j].is_finite();
                        let a = columns[i].filter(&both).map_err(polars_error)?;
                        let b = columns[j].filter(&both).map_err(polars_error)?;
                        let (mean_a, mean_b) = (a.mean().unwrap_or(0.0), b.mean().unwrap_or(0.0));
                        let (da, db) = (&a - mean_a, &b - mean_b);
                        Self {
                            n: a.len() as f64,
                            mean_a,
                            mean_b,
                            c: (&da * &db).sum().unwrap_or(0.0),
                            m2a: (&da * &da).sum().unwrap_or(0.0),
                            m2b: (&db * &db).sum().unwrap_or(0.0),
                        }
                    }
                };
                out.push((i, j, co));
            }
        }
        Ok(out)
    }

    fn merge(&mut self, o: &Self) {
        if o.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *o;
            return;
        }
        let n = self.n + o.n;
        let (da, db) = (o.mean_a - self.mean_a, o.mean_b - self.mean_b);
        let f = self.n * o.n / n;
        self.c += o.c + da * db * f;
        self.m2a += o.m2a + da * da * f;
        self.m2b += o.m2b + db * db * f;
        self.mean_a += da * o.n / n;
        self.mean_b += db * o.n / n;
        self.n = n;
    }

    fn pearson(&self) -> Option<f64> {
        let d = (self.m2a * self.m2b).sqrt();
        (self.n > 1.0 && d > 0.0).then(|| (self.c / d).clamp(-1.0, 1.0))
    }
}
