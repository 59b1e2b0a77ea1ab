//! Statistics of one column computed by Polars, chunk by chunk, with states that merge: a
//! column larger than memory is profiled one chunk at a time and the merged figures equal
//! those of the whole column.

use polars::prelude::*;

use crate::engine::error::{EngineError, Result};

pub(super) fn polars_error(e: PolarsError) -> EngineError {
    EngineError::Database(format!("Polars: {e}"))
}

/// Distinct text values kept while merging chunks (about 100 MB); past this a column's
/// distinct count and top values are counted again in hash partitions.
pub const MAX_MERGED_DISTINCT: usize = 2_000_000;
/// Distinct numbers kept while merging chunks (24 bytes each); past this quantiles come from
/// a sample.
pub const MAX_MERGED_RUNS: usize = 12_000_000;
/// Values kept (spread over the column) for approximate quantiles and text shapes.
pub const SAMPLE_VALUES: usize = 100_000;

/// Count, mean and central moments of the finite values, merged with Pébay's formulas
/// (Chan's, for the second moment). Each chunk measures its values from the same pivot
/// ([`Pivot`]), so values far from zero (timestamps, 20-digit integers) keep their spread:
/// the moments are of `value - pivot`, until [`Moments::shifted`] puts the pivot back.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub n: f64,
    pub mean: f64,
    pub m2: f64,
    pub m3: f64,
    pub m4: f64,
    /// The smallest and largest values, ±infinity included (as DuckDB's `min` and `max`).
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The smallest and largest finite values.
    pub finite_min: Option<f64>,
    pub finite_max: Option<f64>,
    pub sum: f64,
    pub zeros: u64,
    pub negatives: u64,
    pub nan: u64,
    pub infinite: u64,
}

impl Moments {
    pub fn merge(&mut self, b: &Moments) {
        let a = *self;
        let n = a.n + b.n;
        let (min, max) = (opt_fold(a.min, b.min, f64::min), opt_fold(a.max, b.max, f64::max));
        let (finite_min, finite_max) = (opt_fold(a.finite_min, b.finite_min, f64::min), opt_fold(a.finite_max, b.finite_max, f64::max));
        let counts = (a.sum + b.sum, a.zeros + b.zeros, a.negatives + b.negatives, a.nan + b.nan, a.infinite + b.infinite);
        if b.n == 0.0 || a.n == 0.0 {
            *self = if a.n == 0.0 { *b } else { a };
        } else {
            let d = b.mean - a.mean;
            let (na, nb) = (a.n, b.n);
            self.n = n;
            self.mean = a.mean + d * nb / n;
            self.m2 = a.m2 + b.m2 + d * d * na * nb / n;
            self.m3 = a.m3 + b.m3 + d.powi(3) * na * nb * (na - nb) / (n * n) + 3.0 * d * (na * b.m2 - nb * a.m2) / n;
            self.m4 = a.m4
                + b.m4
                + d.powi(4) * na * nb * (na * na - na * nb + nb * nb) / n.powi(3)
                + 6.0 * d * d * (na * na * b.m2 + nb * nb * a.m2) / (n * n)
                + 4.0 * d * (na * b.m3 - nb * a.m3) / n;
        }
        (self.min, self.max, self.finite_min, self.finite_max) = (min, max, finite_min, finite_max);
        (self.sum, self.zeros, self.negatives, self.nan, self.infinite) = counts;
    }

    /// The moments of the values themselves, from those measured from a pivot of `value`.
    pub fn shifted(&self, value: f64) -> Moments {
        if value == 0.0 {
            return *self;
        }
        Moments {
            mean: self.mean + value,
            min: self.min.map(|m| m + value),
            max: self.max.map(|m| m + value),
            finite_min: self.finite_min.map(|m| m + value),
            finite_max: self.finite_max.map(|m| m + value),
            sum: self.sum + value * self.n,
            ..*self
        }
    }

    /// Sample variance (n - 1), as DuckDB's `var_samp`.
    pub fn variance(&self) -> Option<f64> {
        (self.n > 1.0).then(|| self.m2 / (self.n - 1.0))
    }

    /// Bias-corrected skewness, as DuckDB's `skewness`.
    pub fn skewness(&self) -> Option<f64> {
        let n = self.n;
        if n < 3.0 || self.m2 == 0.0 {
            return None;
        }
        let g1 = (self.m3 / n) / (self.m2 / n).powf(1.5);
        Some((n * (n - 1.0)).sqrt() / (n - 2.0) * g1)
    }

    /// Bias-corrected excess kurtosis, as DuckDB's `kurtosis`.
    pub fn kurtosis(&self) -> Option<f64> {
        let n = self.n;
        if n < 4.0 || self.m2 == 0.0 {
            return None;
        }
        let g2 = n * self.m4 / (self.m2 * self.m2) - 3.0;
        Some((n - 1.0) * ((n + 1.0) * g2 + 6.0) / ((n - 2.0) * (n - 3.0)))
    }
}

fn opt_fold(a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// The value a column's moments are measured from: its first finite value, in the column's
/// own type (exact for integers of any width).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pivot {
    Int(i128),
    Float(f64),
}

impl Pivot {
    /// The first finite value of a chunk; temporal keys at the ends of BIGINT are ±infinity.
    pub fn of(values: &Series, temporal: bool) -> Result<Option<Self>> {
        Ok(match values.dtype() {
            DataType::Float64 | DataType::Float32 => {
                let floats = values.cast(&DataType::Float64).map_err(polars_error)?;
                floats.f64().map_err(polars_error)?.iter().flatten().find(|v| v.is_finite()).map(Pivot::Float)
            }
            DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt32 | DataType::UInt16 | DataType::UInt8 => {
                let ints = values.cast(&DataType::Int64).map_err(polars_error)?;
                let infinite = |v: i64| temporal && (v == i64::MAX || v == i64::MIN);
                ints.i64().map_err(polars_error)?.iter().flatten().find(|v| !infinite(*v)).map(|v| Pivot::Int(v.into()))
            }
            _ => {
                let wide = values.cast(&DataType::Int128).map_err(polars_error)?;
                let infinite = |v: i128| temporal && (v == i128::from(i64::MAX) || v == i128::from(i64::MIN));
                wide.i128().map_err(polars_error)?.iter().flatten().find(|v| !infinite(*v)).map(Pivot::Int)
            }
        })
    }

    /// The pivot as a number, keys divided by `divisor`.
    pub fn value(self, divisor: f64) -> f64 {
        match self {
            Pivot::Int(v) => v as f64 / divisor,
            Pivot::Float(v) => v,
        }
    }
}

/// Counts an integer chunk's zeros and negatives into `m` and, for `temporal` keys, its
/// ±infinity (the ends of BIGINT), which it leaves out: `(keys, +inf, -inf)`.
macro_rules! integer_keys {
    ($keys:expr, $m:expr, $temporal:expr, $count:expr) => {{
        let keys = $keys;
        $m.zeros = $count(keys.equal(0));
        $m.negatives = $count(keys.lt(0));
        let (pos, neg) = if $temporal { ($count(keys.equal(i64::MAX)), $count(keys.equal(i64::MIN))) } else { (0, 0) };
        let keys = if pos + neg > 0 {
            std::borrow::Cow::Owned(keys.filter(&(keys.not_equal(i64::MAX) & keys.not_equal(i64::MIN))).map_err(polars_error)?)
        } else {
            std::borrow::Cow::Borrowed(keys)
        };
        (keys, pos, neg)
    }};
}

/// The moments of a numeric chunk (Int64, UInt64, Int128 keys divided by `divisor`, or
/// floats), measured from `pivot`; NaN and infinities counted apart (for `temporal` keys,
/// the ends of BIGINT are ±infinity). Each statistic is one pass of a Polars kernel.
pub fn moments(values: &Series, pivot: Pivot, divisor: f64, temporal: bool) -> Result<Moments> {
    let count = |mask: BooleanChunked| mask.sum().unwrap_or(0) as u64;
    let mut m = Moments::default();
    let (finite, pos_inf, neg_inf) = match values.dtype() {
        DataType::Float64 | DataType::Float32 => {
            let floats = values.cast(&DataType::Float64).map_err(polars_error)?;
            let all = floats.f64().map_err(polars_error)?;
            m.nan = count(all.is_nan());
            m.zeros = count(all.equal(0.0));
            m.negatives = count(all.lt(0.0));
            let (pos, neg) = (count(all.equal(f64::INFINITY)), count(all.equal(f64::NEG_INFINITY)));
            let finite = all.filter(&all.is_finite()).map_err(polars_error)?;
            let from = match pivot {
                Pivot::Float(p) => p,
                Pivot::Int(p) => p as f64,
            };
            (if from == 0.0 { finite } else { &finite - from }, pos, neg)
        }
        // 64-bit keys measured from a 64-bit pivot: the differences fit in 64 bits, and the
        // column needs no 128-bit copy.
        DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt32 | DataType::UInt16 | DataType::UInt8
            if narrow_centred(values, pivot)? =>
        {
            let ints = values.cast(&DataType::Int64).map_err(polars_error)?;
            let keys = ints.i64().map_err(polars_error)?;
            let (keys, pos, neg) = integer_keys!(keys, m, temporal, count);
            let from = match pivot {
                Pivot::Int(p) => p as i64,
                Pivot::Float(p) => p as i64,
            };
            let centred = if from == 0 { keys.as_ref().clone() } else { keys.as_ref() - from };
            let centred = centred.into_series().cast(&DataType::Float64).map_err(polars_error)?.f64().map_err(polars_error)?.clone();
            (if divisor == 1.0 { centred } else { &centred / divisor }, pos, neg)
        }
        _ => {
            let wide = values.cast(&DataType::Int128).map_err(polars_error)?;
            let keys = wide.i128().map_err(polars_error)?;
            let (keys, pos, neg) = integer_keys!(keys, m, temporal, count);
            let from = match pivot {
                Pivot::Int(p) => p,
                Pivot::Float(p) => p as i128,
            };
            // The difference is exact in 128 bits; only then does it become a double. Values
            // spanning more than 128 bits (both ends of HUGEINT) are far enough apart for doubles.
            let fits = |v: Option<i128>| v.is_none_or(|v| v.checked_sub(from).is_some());
            let centred = if fits(keys.min()) && fits(keys.max()) {
                (keys.as_ref() - from).into_series().cast(&DataType::Float64).map_err(polars_error)?
            } else {
                let floats = keys.as_ref().clone().into_series().cast(&DataType::Float64).map_err(polars_error)?;
                (floats - from as f64).into_series()
            };
            let centred = centred.f64().map_err(polars_error)?.clone();
            (if divisor == 1.0 { centred } else { &centred / divisor }, pos, neg)
        }
    };
    m.infinite = pos_inf + neg_inf;
    let n = (finite.len() - finite.null_count()) as f64;
    m.n = n;
    if n > 0.0 {
        m.mean = finite.mean().unwrap_or(0.0);
        m.finite_min = finite.min();
        m.finite_max = finite.max();
        m.sum = finite.sum().unwrap_or(0.0);
        // Central sums from the population variance and the biased skewness and kurtosis.
        let variance = finite.var(0).unwrap_or(0.0);
        m.m2 = variance * n;
        if variance > 0.0 {
            let series = finite.clone().into_series();
            let g1 = series.skew(true).map_err(polars_error)?.filter(|g| g.is_finite()).unwrap_or(0.0);
            let g2 = series.kurtosis(false, true).map_err(polars_error)?.filter(|g| g.is_finite()).unwrap_or(0.0);
            m.m3 = g1 * variance.powf(1.5) * n;
            m.m4 = g2 * variance * variance * n;
        }
    }
    m.min = if neg_inf > 0 { Some(f64::NEG_INFINITY) } else { m.finite_min };
    m.max = if pos_inf > 0 { Some(f64::INFINITY) } else { m.finite_max };
    if m.min.is_none() && pos_inf > 0 {
        m.min = Some(f64::INFINITY);
    }
    if m.max.is_none() && neg_inf > 0 {
        m.max = Some(f64::NEG_INFINITY);
    }
    Ok(m)
}

/// Whether every finite key of a chunk of at most 64-bit integers minus `pivot` fits in 64
/// bits (the ends of BIGINT, ±infinity for temporal keys, are set aside either way).
fn narrow_centred(values: &Series, pivot: Pivot) -> Result<bool> {
    let from = match pivot {
        Pivot::Int(p) => i64::try_from(p).ok(),
        Pivot::Float(_) => None,
    };
    let Some(from) = from else { return Ok(false) };
    let ints = values.cast(&DataType::Int64).map_err(polars_error)?;
    let keys = ints.i64().map_err(polars_error)?;
    let finite = |v: i64| v != i64::MAX && v != i64::MIN;
    let fits = |v: Option<i64>| v.is_none_or(|v| !finite(v) || v.checked_sub(from).is_some());
    // With an end of BIGINT present the extremes do not tell; the wide path decides then.
    let (min, max) = (keys.min(), keys.max());
    Ok(min.is_none_or(finite) && max.is_none_or(finite) && fits(min) && fits(max))
}

/// Non-null values of a chunk with how often each occurs: columns `v` and `n` (UInt64).
pub fn value_counts(values: &Series) -> Result<DataFrame> {
    if let Ok(text) = values.str() {
        return text_value_counts(text);
    }
    values
        .clone()
        .with_name("v".into())
        .into_frame()
        .lazy()
        .filter(col("v").is_not_null())
        .group_by([col("v")])
        .agg([len().cast(DataType::UInt64).alias("n")])
        .collect()
        .map_err(polars_error)
}

/// Text counted in one hash map: a group-by would gather every row index of every value,
/// a million small lists for a column of distinct values.
fn text_value_counts(text: &StringChunked) -> Result<DataFrame> {
    // Sized by how many distinct values the first few thousand hold, so a column of distinct
    // values does not grow (and copy) the map twenty times.
    let probe: PlHashSet<&str> = text.iter().flatten().take(4096).collect();
    let probed = text.len().min(4096).max(1);
    let expected = (text.len() as f64 * probe.len() as f64 / probed as f64) as usize;
    let mut counts: PlHashMap<&str, u64> = PlHashMap::with_capacity_and_hasher(expected, Default::default());
    for value in text.iter().flatten() {
        *counts.entry(value).or_insert(0) += 1;
    }
    counts_frame(counts)
}

fn counts_frame(counts: PlHashMap<&str, u64>) -> Result<DataFrame> {
    let (values, n): (Vec<&str>, Vec<u64>) = counts.into_iter().unzip();
    DataFrame::new_infer_height(vec![StringChunked::from_slice("v".into(), &values).into_column(), UInt64Chunked::from_vec("n".into(), n).into_column()])
        .map_err(polars_error)
}

/// Adds a chunk's value counts to the counts so far.
pub fn merge_counts(a: DataFrame, b: DataFrame) -> Result<DataFrame> {
    if a.height() == 0 {
        return Ok(b);
    }
    let text = |df: &DataFrame| -> Option<(StringChunked, UInt64Chunked)> {
        Some((df.column("v").ok()?.str().ok()?.clone(), df.column("n").ok()?.u64().ok()?.clone()))
    };
    if let (Some((av, an)), Some((bv, bn))) = (text(&a), text(&b)) {
        let mut counts: PlHashMap<&str, u64> = PlHashMap::with_capacity_and_hasher(av.len() + bv.len(), Default::default());
        for (value, n) in av.iter().zip(an.iter()).chain(bv.iter().zip(bn.iter())) {
            if let (Some(value), Some(n)) = (value, n) {
                *counts.entry(value).or_insert(0) += n;
            }
        }
        return counts_frame(counts);
    }
    concat([a.lazy(), b.lazy()], UnionArgs::default())
        .map_err(polars_error)?
        .group_by([col("v")])
        .agg([col("n").sum()])
        .collect()
        .map_err(polars_error)
}

/// The `k` most frequent values, ties by value. Only counts at or above the k-th largest
/// are sorted.
pub fn top(counts: &DataFrame, k: usize) -> Result<DataFrame> {
    let n = counts.column("n").map_err(polars_error)?.u64().map_err(polars_error)?;
    let mut all: Vec<u64> = n.no_null_iter().collect();
    let threshold = if all.len() > k {
        let (_, kth, _) = all.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
        *kth
    } else {
        0
    };
    drop(all);
    let above = counts.filter(&n.gt(threshold)).map_err(polars_error)?;
    let mut tied = counts.filter(&n.equal(threshold)).map_err(polars_error)?;
    // Many values may share the k-th count (most of an identifier-like column occurs once):
    // only the first of them by value are needed, picked without sorting them all.
    let wanted = k.saturating_sub(above.height());
    if tied.height() > wanted && wanted > 0 {
        if let Ok(text) = tied.column("v").map_err(polars_error)?.str() {
            let mut values: Vec<(&str, IdxSize)> = text.iter().enumerate().filter_map(|(i, v)| Some((v?, i as IdxSize))).collect();
            values.select_nth_unstable_by(wanted - 1, |a, b| a.0.cmp(b.0));
            let first: Vec<IdxSize> = values[..wanted].iter().map(|(_, i)| *i).collect();
            tied = tied.take(&IdxCa::from_vec("i".into(), first)).map_err(polars_error)?;
        }
    }
    above
        .vstack(&tied)
        .map_err(polars_error)?
        .lazy()
        .sort(["n", "v"], SortMultipleOptions::default().with_order_descending_multi([true, false]).with_nulls_last(true))
        .limit(k as IdxSize)
        .collect()
        .map_err(polars_error)
}

/// A few rows of counts with their text copied out of the buffers they share with a larger
/// frame, so that frame's memory can go.
pub fn detached(mut counts: DataFrame) -> Result<DataFrame> {
    let v = counts.column("v").map_err(polars_error)?.as_materialized_series().clone();
    counts.with_column(detached_text(v).into()).map_err(polars_error)?;
    Ok(counts)
}

/// The `k` largest counts of value-sorted runs, ties by value: indices into `counts`.
pub fn top_sorted(counts: &[u64], k: usize) -> Vec<usize> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // A min-heap on (count, -index): the weakest of the best k on top.
    let mut heap: BinaryHeap<Reverse<(u64, Reverse<usize>)>> = BinaryHeap::with_capacity(k + 1);
    for (i, &n) in counts.iter().enumerate() {
        // Runs come in index order, so a count no larger than the weakest kept one loses.
        if heap.len() == k && heap.peek().is_some_and(|Reverse((weakest, _))| n <= *weakest) {
            continue;
        }
        heap.push(Reverse((n, Reverse(i))));
        if heap.len() > k {
            heap.pop();
        }
    }
    let mut best: Vec<(u64, usize)> = heap.into_iter().map(|Reverse((n, Reverse(i)))| (n, i)).collect();
    best.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    best.into_iter().map(|(_, i)| i).collect()
}

/// Every `step`-th non-null value of a chunk, at most `max` of them.
pub fn spread_sample(values: &Series, max: usize) -> Result<Series> {
    let non_null = values.drop_nulls();
    if non_null.len() <= max {
        return Ok(non_null);
    }
    let step = non_null.len().div_ceil(max);
    let idx: Vec<IdxSize> = (0..non_null.len()).step_by(step).map(|i| i as IdxSize).collect();
    Ok(detached_text(non_null.take_slice(&idx).map_err(polars_error)?))
}

/// Text taken from a larger array still points into its buffers: a copy lets that memory go.
fn detached_text(values: Series) -> Series {
    match values.str() {
        Ok(text) => text.iter().collect::<StringChunked>().with_name(values.name().clone()).into_series(),
        Err(_) => values,
    }
}

/// A numeric column's distinct values in ascending order with their counts (borrowed from
/// [`Runs`], never copied: a column can have tens of millions of them).
#[derive(Clone, Copy)]
pub struct Sorted<'a> {
    /// Exact 64-bit keys (integer and temporal columns), else `wide`, else `values`.
    pub ints: Option<&'a [i64]>,
    /// Exact 128-bit keys (HUGEINT, UBIGINT, DECIMAL unscaled).
    pub wide: Option<&'a [i128]>,
    pub values: &'a [f64],
    pub counts: &'a [u64],
    /// What a key is divided by to read as a number (see [`Runs::divisor`]).
    pub divisor: f64,
}

impl<'a> Sorted<'a> {
    pub fn of(runs: &'a Runs) -> Self {
        let divisor = if runs.divisor > 0.0 { runs.divisor } else { 1.0 };
        Self { ints: runs.ints.as_deref(), wide: runs.wide.as_deref(), values: &runs.values, counts: &runs.counts, divisor }
    }

    pub fn len(self) -> usize {
        self.counts.len()
    }

    pub fn value(self, i: usize) -> f64 {
        match (self.ints, self.wide) {
            (Some(ints), _) if self.divisor == 1.0 => ints[i] as f64,
            (Some(ints), _) => ints[i] as f64 / self.divisor,
            (_, Some(wide)) if self.divisor == 1.0 => wide[i] as f64,
            (_, Some(wide)) => wide[i] as f64 / self.divisor,
            _ => self.values[i],
        }
    }

    /// The exact key of run `i` when the column has exact keys.
    pub fn key(self, i: usize) -> Option<i128> {
        match (self.ints, self.wide) {
            (Some(ints), _) => Some(i128::from(ints[i])),
            (_, Some(wide)) => Some(wide[i]),
            _ => None,
        }
    }

    pub fn iter(self) -> impl Iterator<Item = (f64, u64)> + 'a {
        (0..self.len()).map(move |i| (self.value(i), self.counts[i]))
    }

    pub fn total(self) -> u64 {
        self.counts.iter().sum()
    }

    /// Linear-interpolated quantiles, as DuckDB's `quantile_cont`, in one pass.
    pub fn quantiles(self, qs: &[f64]) -> Vec<Option<f64>> {
        let total = self.total();
        if total == 0 {
            return vec![None; qs.len()];
        }
        let mut wanted: Vec<u64> = qs.iter().flat_map(|q| {
            let h = (total - 1) as f64 * q;
            [h.floor() as u64, h.ceil() as u64]
        }).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let found = values_at(self.iter(), &wanted);
        qs.iter()
            .map(|q| {
                let h = (total - 1) as f64 * q;
                let at = |i: u64| wanted.binary_search(&i).ok().and_then(|k| found[k]);
                interpolate(at(h.floor() as u64)?, at(h.ceil() as u64)?, h - h.floor())
            })
            .collect()
    }

    /// Median absolute deviation from the median, as DuckDB's `mad`: the deviations fall below
    /// the median and rise above it, so walking both sides outwards visits them in order.
    pub fn mad(self, median: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.value(mid) < median { lo = mid + 1 } else { hi = mid }
        }
        let (mut below, mut above) = (lo, lo);
        let walk = std::iter::from_fn(|| {
            let left = (below > 0).then(|| median - self.value(below - 1));
            let right = (above < self.len()).then(|| self.value(above) - median);
            match (left, right) {
                (Some(l), Some(r)) if l <= r => {
                    below -= 1;
                    Some((l, self.counts[below]))
                }
                (_, Some(r)) => {
                    above += 1;
                    Some((r, self.counts[above - 1]))
                }
                (Some(l), None) => {
                    below -= 1;
                    Some((l, self.counts[below]))
                }
                (None, None) => None,
            }
        });
        let h = (total - 1) as f64 * 0.5;
        let found = values_at(walk, &[h.floor() as u64, h.ceil() as u64]);
        interpolate(found[0]?, found.get(1).copied().flatten().or(found[0])?, h - h.floor())
    }
}

/// The values at sorted, distinct positions of a (value, count) sequence.
fn values_at(pairs: impl Iterator<Item = (f64, u64)>, positions: &[u64]) -> Vec<Option<f64>> {
    let mut found = vec![None; positions.len()];
    let (mut seen, mut k) = (0u64, 0);
    for (v, n) in pairs {
        seen += n;
        while k < positions.len() && positions[k] < seen {
            found[k] = Some(v);
            k += 1;
        }
        if k == positions.len() {
            break;
        }
    }
    found
}

fn interpolate(lo: f64, hi: f64, fraction: f64) -> Option<f64> {
    // Equal ends (also two infinities) need no interpolation.
    if lo == hi || fraction == 0.0 || lo.is_infinite() {
        return Some(lo);
    }
    if hi.is_infinite() {
        return Some(hi);
    }
    Some(lo + (hi - lo) * fraction)
}

/// Equal-width bins between the smallest and largest finite value (one per integer when the
/// values are whole numbers spanning fewer integers than bins).
pub fn histogram(sorted: Sorted<'_>, bins: usize) -> Option<(Vec<f64>, Vec<u64>)> {
    let finite = || sorted.iter().filter(|(v, _)| v.is_finite());
    let min = finite().next()?.0;
    let max = finite().last()?.0;
    let whole = finite().all(|(v, _)| v.fract() == 0.0);
    let span = max - min;
    // One bar per whole number while they fit, centred on it; else equal widths from min
    // to max, the last bar holding the maximum.
    let per_integer = whole && span < bins as f64;
    let (bins, width) = if per_integer {
        (span as usize + 1, 1.0)
    } else if span == 0.0 {
        (1, 1.0)
    } else {
        (bins, span / bins as f64)
    };
    let start = if per_integer { min - 0.5 } else { min };
    let edges: Vec<f64> = (0..=bins).map(|i| start + width * i as f64).collect();
    let mut counts = vec![0u64; bins];
    for (v, n) in finite() {
        let i = (((v - start) / width).floor() as usize).min(bins - 1);
        counts[i] += n;
    }
    Some((edges, counts))
}

/// What the characters of text values look like: counts of values, merged across chunks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextTally {
    pub values: u64,
    pub len_min: Option<u64>,
    pub len_max: Option<u64>,
    pub len_sum: u64,
    pub empty: u64,
    pub with_letters: u64,
    pub with_digits: u64,
    pub with_spaces: u64,
    pub with_punctuation: u64,
    pub with_non_ascii: u64,
    pub leading_space: u64,
    pub trailing_space: u64,
}

const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const SPACE: u8 = 4;
const PUNCTUATION: u8 = 8;
const NON_ASCII: u8 = 16;

/// The class of each byte, so a value's classes are one pass over its bytes.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c >= 0x80 {
            NON_ASCII
        } else if c.is_ascii_alphabetic() {
            LETTER
        } else if c.is_ascii_digit() {
            DIGIT
        } else if c.is_ascii_whitespace() {
            SPACE
        } else if c.is_ascii_punctuation() {
            PUNCTUATION
        } else {
            0
        };
        b += 1;
    }
    table
};

impl TextTally {
    /// Tallies a chunk's distinct text values, each weighted by its count.
    pub fn of_counts(counts: &DataFrame) -> Result<Self> {
        let v = counts.column("v").map_err(polars_error)?.str().map_err(polars_error)?;
        let n = counts.column("n").map_err(polars_error)?.u64().map_err(polars_error)?;
        Ok(Self::in_halves(v, n))
    }

    /// Tallies a chunk's text values one by one (when most are distinct anyway).
    pub fn of_series(values: &Series) -> Result<Self> {
        let v = values.str().map_err(polars_error)?;
        Ok(Self::in_halves(v, &UInt64Chunked::full("n".into(), 1, v.len())))
    }

    /// Both halves of the values at once, on two threads.
    fn in_halves(v: &StringChunked, n: &UInt64Chunked) -> Self {
        let half = v.len() / 2;
        let rest = v.len() - half;
        let (mut first, second) = std::thread::scope(|scope| {
            let a = scope.spawn(|| Self::of_values(&v.slice(0, half), &n.slice(0, half)));
            let b = Self::of_values(&v.slice(half as i64, rest), &n.slice(half as i64, rest));
            (a.join().expect("text tally"), b)
        });
        first.merge(&second);
        first
    }

    fn of_values(v: &StringChunked, n: &UInt64Chunked) -> Self {
        let mut t = Self::default();
        for (value, count) in v.iter().zip(n.iter()) {
            let (Some(value), Some(count)) = (value, count) else { continue };
            let classes = value.bytes().fold(0u8, |seen, b| seen | BYTE_CLASS[b as usize]);
            let (len, letters, digits, spaces, punctuation, non_ascii) = if classes & NON_ASCII == 0 {
                let has = |class: u8| classes & class != 0;
                (value.len() as u64, has(LETTER), has(DIGIT), has(SPACE), has(PUNCTUATION), false)
            } else {
                let (mut letters, mut digits, mut spaces, mut punctuation) = (false, false, false, false);
                for c in value.chars() {
                    letters |= c.is_alphabetic();
                    digits |= c.is_numeric();
                    spaces |= c.is_whitespace();
                    punctuation |= c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace() && !c.is_ascii());
                }
                (value.chars().count() as u64, letters, digits, spaces, punctuation, true)
            };
            t.values += count;
            t.len_sum += len * count;
            t.len_min = Some(t.len_min.map_or(len, |m| m.min(len)));
            t.len_max = Some(t.len_max.map_or(len, |m| m.max(len)));
            let add = |flag: bool, to: &mut u64| *to += if flag { count } else { 0 };
            add(value.is_empty(), &mut t.empty);
            add(letters, &mut t.with_letters);
            add(digits, &mut t.with_digits);
            add(spaces, &mut t.with_spaces);
            add(punctuation, &mut t.with_punctuation);
            add(non_ascii, &mut t.with_non_ascii);
            add(value.starts_with(char::is_whitespace), &mut t.leading_space);
            add(value.ends_with(char::is_whitespace), &mut t.trailing_space);
        }
        t
    }

    pub fn merge(&mut self, b: &TextTally) {
        self.values += b.values;
        self.len_min = opt_fold(self.len_min.map(|v| v as f64), b.len_min.map(|v| v as f64), f64::min).map(|v| v as u64);
        self.len_max = opt_fold(self.len_max.map(|v| v as f64), b.len_max.map(|v| v as f64), f64::max).map(|v| v as u64);
        self.len_sum += b.len_sum;
        self.empty += b.empty;
        self.with_letters += b.with_letters;
        self.with_digits += b.with_digits;
        self.with_spaces += b.with_spaces;
        self.with_punctuation += b.with_punctuation;
        self.with_non_ascii += b.with_non_ascii;
        self.leading_space += b.leading_space;
        self.trailing_space += b.trailing_space;
    }
}

/// A value's shape: letters as `A`/`a`, digits as `9`, other characters kept; runs longer than
/// four are cut to four, so `Ann Smith 2024` reads `Aaa Aaaaa 9999`.
pub fn shape(value: &str) -> String {
    let mut out = String::new();
    let (mut last, mut run) = ('\0', 0);
    for c in value.chars().take(64) {
        let s = if c.is_uppercase() {
            'A'
        } else if c.is_alphabetic() {
            'a'
        } else if c.is_numeric() {
            '9'
        } else {
            c
        };
        run = if s == last { run + 1 } else { 1 };
        last = s;
        if run <= 4 {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linear-interpolated quantile of sorted (value, count) pairs (tests and small inputs).
    fn weighted_quantile(sorted: &[(f64, u64)], q: f64) -> Option<f64> {
        let (values, counts): (Vec<f64>, Vec<u64>) = sorted.iter().copied().unzip();
        Sorted { ints: None, wide: None, values: &values, counts: &counts, divisor: 1.0 }.quantiles(&[q])[0]
    }

    /// Median absolute deviation of sorted (value, count) pairs (tests and small inputs).
    fn mad(sorted: &[(f64, u64)], median: f64) -> Option<f64> {
        let (values, counts): (Vec<f64>, Vec<u64>) = sorted.iter().copied().unzip();
        Sorted { ints: None, wide: None, values: &values, counts: &counts, divisor: 1.0 }.mad(median)
    }

    fn naive(values: &[f64]) -> Moments {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let m = |k: i32| values.iter().map(|v| (v - mean).powi(k)).sum::<f64>();
        Moments { n, mean, m2: m(2), m3: m(3), m4: m(4), ..Default::default() }
    }

    #[test]
    fn merged_moments_equal_the_whole() {
        let values: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1013) as f64 * 0.37 - 50.0).collect();
        let whole = naive(&values);
        let mut merged = Moments::default();
        for chunk in values.chunks(137) {
            merged.merge(&naive(chunk));
        }
        for (a, b) in [(merged.mean, whole.mean), (merged.m2, whole.m2), (merged.m3, whole.m3), (merged.m4, whole.m4)] {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn moments_keep_the_spread_of_values_far_from_zero() {
        // Microseconds of a timestamp: 201 values 1 µs apart, read in chunks.
        let base = 1_700_000_000_000_000i64;
        let values: Vec<i64> = (0..=200).map(|i| base + i).collect();
        let pivot = Pivot::of(&Series::new("v".into(), &values), true).unwrap().unwrap();
        let mut m = Moments::default();
        for chunk in values.chunks(50) {
            m.merge(&moments(&Series::new("v".into(), chunk), pivot, 1.0, true).unwrap());
        }
        let m = m.shifted(pivot.value(1.0));
        let exact_var = (0..=200).map(|i| (f64::from(i) - 100.0).powi(2)).sum::<f64>() / 200.0;
        assert!((m.variance().unwrap() - exact_var).abs() < 1e-9, "{:?} vs {exact_var}", m.variance());
        assert_eq!(m.mean, (base + 100) as f64);
        // 128-bit integers near the top of their range, one apart.
        let wide = Series::new("v".into(), &[i128::MAX, i128::MAX - 1, i128::MAX - 2]);
        let pivot = Pivot::of(&wide, false).unwrap().unwrap();
        let m = moments(&wide, pivot, 1.0, false).unwrap();
        assert_eq!(m.variance(), Some(1.0));
        // Infinities are the ends, not part of the mean.
        let f = Series::new("v".into(), &[Some(1.0f64), Some(f64::INFINITY), Some(3.0), None]);
        let m = moments(&f, Pivot::Float(1.0), 1.0, false).unwrap().shifted(1.0);
        assert_eq!((m.min, m.max, m.finite_max, m.mean, m.infinite), (Some(1.0), Some(f64::INFINITY), Some(3.0), 2.0, 1));
    }

    #[test]
    fn the_most_frequent_come_first_ties_by_value() {
        let counts = [2, 5, 2, 5, 1];
        assert_eq!(top_sorted(&counts, 3), vec![1, 3, 0]);
        assert_eq!(top_sorted(&counts, 10), vec![1, 3, 0, 2, 4]);
        assert_eq!(mad(&[(1.0, 1), (2.0, 1), (3.0, 1), (4.0, 1), (8.0, 1)], 3.0), Some(1.0));
        assert_eq!(mad(&[(-5.0, 2), (0.0, 1), (1.0, 3)], 0.5), Some(0.5));
    }

    #[test]
    fn quantiles_interpolate_like_duckdb() {
        let sorted = [(1.0, 1), (2.0, 1), (3.0, 1), (4.0, 1), (8.0, 1)];
        assert_eq!(weighted_quantile(&sorted, 0.5), Some(3.0));
        assert_eq!(weighted_quantile(&sorted, 0.25), Some(2.0));
        assert_eq!(weighted_quantile(&[(1.0, 2), (2.0, 2)], 0.5), Some(1.5));
        assert_eq!(mad(&sorted, 3.0), Some(1.0));
        assert_eq!(weighted_quantile(&[], 0.5), None);
    }

    #[test]
    fn histograms_cover_every_value() {
        let (edges, counts) = histogram(Sorted { ints: None, wide: None, values: &[0.0, 2.0, 4.0], counts: &[3, 1, 2], divisor: 1.0 }, 20).unwrap();
        assert_eq!(counts, vec![3, 0, 1, 0, 2]);
        assert_eq!(edges.len(), 6);
        let (_, counts) = histogram(Sorted { ints: None, wide: None, values: &[f64::NEG_INFINITY, 0.5, 1.0, 10.25], counts: &[9, 1, 1, 5], divisor: 1.0 }, 4).unwrap();
        assert_eq!(counts.iter().sum::<u64>(), 7);
        assert_eq!(counts[3], 5);
        // Whole numbers spanning exactly as many as there are bars: the maximum has its own
        // count in the last bar, not in the one before (1..=31 in 30 bars).
        let values: Vec<f64> = (1..=31).map(f64::from).collect();
        let ones = vec![1u64; 31];
        let (edges, counts) = histogram(Sorted { ints: None, wide: None, values: &values, counts: &ones, divisor: 1.0 }, 30).unwrap();
        assert_eq!((edges[0], edges[30]), (1.0, 31.0));
        assert_eq!(counts.iter().sum::<u64>(), 31);
        assert_eq!((counts[28], counts[29]), (1, 2), "[29, 30) and [30, 31]");
    }

    #[test]
    fn shapes_read_like_the_values() {
        assert_eq!(shape("Ann Smith 2024"), "Aaa Aaaaa 9999");
        assert_eq!(shape("2024-01-31"), "9999-99-99");
        assert_eq!(shape("ü@x.de"), "a@a.aa");
    }
}

/// A numeric column's distinct values in order with their counts (NaN left out): what Polars'
/// sort of a chunk gives after run-length counting, merged across chunks in one pass. Values
/// are kept in the column's own terms: 64-bit integers (and temporal values) as `ints`,
/// 128-bit integers, UBIGINT and DECIMAL (unscaled) as `wide`, floats as `values` (with
/// -0.0 counted as 0.0, as DuckDB compares them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Runs {
    pub ints: Option<Vec<i64>>,
    pub wide: Option<Vec<i128>>,
    /// Values of float columns (empty when `ints` or `wide` holds them).
    pub values: Vec<f64>,
    pub counts: Vec<u64>,
    /// What a key is divided by to read as a number: 10^scale for DECIMAL, 1000 for
    /// nanoseconds (read as microseconds); 1 otherwise.
    pub divisor: f64,
}

/// Counts the runs of equal values in a sorted slice.
fn runs_of<T: PartialEq + Copy>(sorted: &[T], keys: &mut Vec<T>, counts: &mut Vec<u64>) {
    for v in sorted {
        if keys.last() == Some(v) {
            if let Some(n) = counts.last_mut() {
                *n += 1;
            }
        } else {
            keys.push(*v);
            counts.push(1);
        }
    }
}

impl Runs {
    /// Sorts a chunk (Int64, UInt64, Int128 or a float type) with Polars and counts each
    /// value's run; `divisor` as in [`Runs::divisor`].
    pub fn of_chunk(values: &Series, divisor: f64) -> Result<Self> {
        let mut runs = Self { divisor, ..Self::default() };
        match values.dtype() {
            DataType::Int64 => {
                let sorted = values.i64().map_err(polars_error)?.drop_nulls().sort(false).rechunk().into_owned();
                let mut ints = Vec::new();
                runs_of(sorted.cont_slice().map_err(polars_error)?, &mut ints, &mut runs.counts);
                runs.ints = Some(ints);
            }
            DataType::UInt64 | DataType::Int128 => {
                let wide = values.cast(&DataType::Int128).map_err(polars_error)?;
                let sorted = wide.i128().map_err(polars_error)?.drop_nulls().sort(false).rechunk().into_owned();
                let mut keys = Vec::new();
                runs_of(sorted.cont_slice().map_err(polars_error)?, &mut keys, &mut runs.counts);
                runs.wide = Some(keys);
            }
            _ => {
                let floats = values.cast(&DataType::Float64).map_err(polars_error)?;
                let floats = floats.f64().map_err(polars_error)?;
                let sorted = floats.filter(&floats.is_not_nan()).map_err(polars_error)?.drop_nulls().sort(false).rechunk().into_owned();
                // -0.0 and 0.0 are one value (their sort order is arbitrary): count them as 0.0.
                let folded: Vec<f64> = sorted.cont_slice().map_err(polars_error)?.iter().map(|v| if *v == 0.0 { 0.0 } else { *v }).collect();
                runs_of(&folded, &mut runs.values, &mut runs.counts);
            }
        }
        Ok(runs)
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Both chunks' runs in one order, equal values counted together.
    pub fn merge(self, other: Self) -> Self {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        let mut out = Self {
            ints: self.ints.as_ref().map(|_| Vec::new()),
            wide: self.wide.as_ref().map(|_| Vec::new()),
            divisor: self.divisor,
            ..Default::default()
        };
        let (mut i, mut j) = (0, 0);
        let order = |a: &Self, i: usize, b: &Self, j: usize| match (&a.ints, &b.ints, &a.wide, &b.wide) {
            (Some(x), Some(y), _, _) => x[i].cmp(&y[j]),
            (_, _, Some(x), Some(y)) => x[i].cmp(&y[j]),
            _ => a.values[i].total_cmp(&b.values[j]),
        };
        while i < self.len() || j < other.len() {
            let take = match (i < self.len(), j < other.len()) {
                (true, true) => order(&self, i, &other, j),
                (true, false) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let (source, k, count) = match take {
                std::cmp::Ordering::Less => {
                    i += 1;
                    (&self, i - 1, self.counts[i - 1])
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    (&other, j - 1, other.counts[j - 1])
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    (&self, i - 1, self.counts[i - 1] + other.counts[j - 1])
                }
            };
            match (out.ints.as_mut(), source.ints.as_ref(), out.wide.as_mut(), source.wide.as_ref()) {
                (Some(ints), Some(from), _, _) => ints.push(from[k]),
                (_, _, Some(wide), Some(from)) => wide.push(from[k]),
                _ => out.values.push(source.values[k]),
            }
            out.counts.push(count);
        }
        out
    }
}

#[cfg(test)]
mod run_tests {
    use super::*;

    #[test]
    fn runs_of_chunks_merge_into_the_runs_of_the_whole() {
        let a = Series::new("v".into(), &[Some(3i64), None, Some(1), Some(3), Some(i64::MAX)]);
        let b = Series::new("v".into(), &[Some(2i64), Some(3), Some(i64::MAX - 1)]);
        let whole = Series::new("v".into(), &[Some(3i64), None, Some(1), Some(3), Some(i64::MAX), Some(2), Some(3), Some(i64::MAX - 1)]);
        let merged = Runs::of_chunk(&a, 1.0).unwrap().merge(Runs::of_chunk(&b, 1.0).unwrap());
        assert_eq!(merged, Runs::of_chunk(&whole, 1.0).unwrap());
        assert_eq!(merged.ints.as_deref(), Some(&[1, 2, 3, i64::MAX - 1, i64::MAX][..]));
        assert_eq!(merged.counts, vec![1, 1, 3, 1, 1]);
        let f = Series::new("v".into(), &[Some(f64::NAN), Some(0.5), Some(f64::NEG_INFINITY), Some(0.5), None]);
        let runs = Runs::of_chunk(&f, 1.0).unwrap();
        assert_eq!((runs.values, runs.counts), (vec![f64::NEG_INFINITY, 0.5], vec![1, 2]));
        // -0.0 and 0.0 are one value, within a chunk and across chunks.
        let z = Series::new("v".into(), &[Some(-0.0f64), Some(0.0)]);
        let z2 = Series::new("v".into(), &[Some(0.0f64), Some(-0.0)]);
        let merged = Runs::of_chunk(&z, 1.0).unwrap().merge(Runs::of_chunk(&z2, 1.0).unwrap());
        assert_eq!((merged.values.len(), merged.counts.clone()), (1, vec![4]));
        // 128-bit keys stay apart where doubles would not.
        let big = Series::new("v".into(), &[Some(i128::MAX), Some(i128::MAX - 1), Some(i128::MAX)]);
        let runs = Runs::of_chunk(&big, 1.0).unwrap();
        assert_eq!((runs.wide.as_deref(), runs.counts), (Some(&[i128::MAX - 1, i128::MAX][..]), vec![1, 2]));
    }
}
