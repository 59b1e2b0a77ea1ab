//! Statistics of one column computed by Polars, chunk by chunk, with states that merge: a
//! column larger than memory is profiled one chunk at a time and the merged figures equal
//! those of the whole column.

use polars::prelude::*;

use crate::engine::error::{EngineError, Result};

pub(super) fn polars_error(e: PolarsError) -> EngineError {
    EngineError::Database(format!("Polars: {e}"))
}

/// Distinct values kept while merging chunks; past this a column's value counts are dropped
/// and its distinct count and top values are asked of DuckDB instead.
pub const MAX_MERGED_DISTINCT: usize = 4_000_000;
/// Values kept (spread over the column) for approximate quantiles and text shapes.
pub const SAMPLE_VALUES: usize = 100_000;

/// Count, mean and central moments of the finite values, merged with Pébay's formulas.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub n: f64,
    pub mean: f64,
    pub m2: f64,
    pub m3: f64,
    pub m4: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
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
        (self.min, self.max) = (min, max);
        (self.sum, self.zeros, self.negatives, self.nan, self.infinite) = counts;
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

fn scalar(df: &DataFrame, name: &str) -> Result<Option<f64>> {
    let column = df.column(name).map_err(polars_error)?.cast(&DataType::Float64).map_err(polars_error)?;
    Ok(column.f64().map_err(polars_error)?.get(0))
}

/// The moments of a numeric chunk (Int64 or Float64), NaN and infinities counted apart.
pub fn moments(values: &Series) -> Result<Moments> {
    let v = || col("v").cast(DataType::Float64);
    let finite = || v().filter(v().is_finite());
    let d = || finite() - finite().mean();
    let out = values
        .clone()
        .with_name("v".into())
        .into_frame()
        .lazy()
        .select([
            finite().count().alias("n"),
            finite().mean().alias("mean"),
            (d() * d()).sum().alias("m2"),
            (d() * d() * d()).sum().alias("m3"),
            (d() * d() * d() * d()).sum().alias("m4"),
            finite().min().alias("min"),
            finite().max().alias("max"),
            finite().sum().alias("sum"),
            v().eq(lit(0.0)).sum().alias("zeros"),
            v().lt(lit(0.0)).sum().alias("negatives"),
            v().is_nan().sum().alias("nan"),
            (v().is_not_nan().and(v().is_finite().not())).sum().alias("infinite"),
        ])
        .collect()
        .map_err(polars_error)?;
    let get = |name| scalar(&out, name).map(|v| v.unwrap_or(0.0));
    let n = get("n")?;
    Ok(Moments {
        n,
        mean: if n > 0.0 { get("mean")? } else { 0.0 },
        m2: get("m2")?,
        m3: get("m3")?,
        m4: get("m4")?,
        min: scalar(&out, "min")?.filter(|_| n > 0.0),
        max: scalar(&out, "max")?.filter(|_| n > 0.0),
        sum: get("sum")?,
        zeros: get("zeros")? as u64,
        negatives: get("negatives")? as u64,
        nan: get("nan")? as u64,
        infinite: get("infinite")? as u64,
    })
}

/// Non-null values of a chunk with how often each occurs: columns `v` and `n` (UInt64).
pub fn value_counts(values: &Series) -> Result<DataFrame> {
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

/// Adds a chunk's value counts to the counts so far.
pub fn merge_counts(a: DataFrame, b: DataFrame) -> Result<DataFrame> {
    if a.height() == 0 {
        return Ok(b);
    }
    concat([a.lazy(), b.lazy()], UnionArgs::default())
        .map_err(polars_error)?
        .group_by([col("v")])
        .agg([col("n").sum()])
        .collect()
        .map_err(polars_error)
}

/// The `k` most frequent values, ties by value.
pub fn top(counts: &DataFrame, k: usize) -> Result<DataFrame> {
    counts
        .clone()
        .lazy()
        .sort(["n", "v"], SortMultipleOptions::default().with_order_descending_multi([true, false]).with_nulls_last(true))
        .limit(k as IdxSize)
        .collect()
        .map_err(polars_error)
}

/// Numeric value counts as (value, count) pairs sorted by value, NaN left out.
pub fn sorted_numeric(counts: &DataFrame) -> Result<Vec<(f64, u64)>> {
    let sorted = counts
        .clone()
        .lazy()
        .select([col("v").cast(DataType::Float64), col("n")])
        .filter(col("v").is_not_nan())
        .sort(["v"], SortMultipleOptions::default())
        .collect()
        .map_err(polars_error)?;
    let v = sorted.column("v").map_err(polars_error)?.f64().map_err(polars_error)?.clone();
    let n = sorted.column("n").map_err(polars_error)?.u64().map_err(polars_error)?.clone();
    Ok(v.into_no_null_iter().zip(n.into_no_null_iter()).collect())
}

/// Every `step`-th non-null value of a chunk, at most `max` of them.
pub fn spread_sample(values: &Series, max: usize) -> Result<Series> {
    let non_null = values.drop_nulls();
    if non_null.len() <= max {
        return Ok(non_null);
    }
    let step = non_null.len().div_ceil(max);
    let idx: Vec<IdxSize> = (0..non_null.len()).step_by(step).map(|i| i as IdxSize).collect();
    non_null.take_slice(&idx).map_err(polars_error)
}

/// Linear-interpolated quantile of sorted (value, count) pairs, as DuckDB's `quantile_cont`.
pub fn weighted_quantile(sorted: &[(f64, u64)], q: f64) -> Option<f64> {
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let h = (total - 1) as f64 * q;
    let (lo, hi) = (h.floor() as u64, h.ceil() as u64);
    let (vlo, vhi) = (value_at(sorted, lo)?, value_at(sorted, hi)?);
    // Equal ends (also two infinities) need no interpolation.
    if vlo == vhi || h == lo as f64 || vlo.is_infinite() {
        return Some(vlo);
    }
    if vhi.is_infinite() {
        return Some(vhi);
    }
    Some(vlo + (vhi - vlo) * (h - lo as f64))
}

fn value_at(sorted: &[(f64, u64)], index: u64) -> Option<f64> {
    let mut seen = 0;
    for &(v, n) in sorted {
        seen += n;
        if index < seen {
            return Some(v);
        }
    }
    None
}

/// Median absolute deviation from the median, as DuckDB's `mad`.
pub fn mad(sorted: &[(f64, u64)], median: f64) -> Option<f64> {
    let mut deviations: Vec<(f64, u64)> = sorted.iter().map(|&(v, n)| ((v - median).abs(), n)).collect();
    deviations.sort_by(|a, b| a.0.total_cmp(&b.0));
    weighted_quantile(&deviations, 0.5)
}

/// Equal-width bins between the smallest and largest value (one per integer when the values
/// are whole numbers spanning fewer integers than bins).
pub fn histogram(sorted: &[(f64, u64)], bins: usize) -> Option<(Vec<f64>, Vec<u64>)> {
    let finite: Vec<(f64, u64)> = sorted.iter().copied().filter(|(v, _)| v.is_finite()).collect();
    let (min, max) = (finite.first()?.0, finite.last()?.0);
    let whole = finite.iter().all(|(v, _)| v.fract() == 0.0);
    let span = max - min;
    let (bins, width) = if whole && span < bins as f64 {
        (span as usize + 1, 1.0)
    } else if span == 0.0 {
        (1, 1.0)
    } else {
        (bins, span / bins as f64)
    };
    let start = if whole && width == 1.0 { min - 0.5 } else { min };
    let edges: Vec<f64> = (0..=bins).map(|i| start + width * i as f64).collect();
    let mut counts = vec![0u64; bins];
    for (v, n) in finite {
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

impl TextTally {
    /// Tallies a chunk's distinct text values, each weighted by its count.
    pub fn of_counts(counts: &DataFrame) -> Result<Self> {
        let v = counts.column("v").map_err(polars_error)?.str().map_err(polars_error)?.clone();
        let n = counts.column("n").map_err(polars_error)?.u64().map_err(polars_error)?.clone();
        let mut t = Self::default();
        for (value, count) in v.iter().zip(n.into_no_null_iter()) {
            let Some(value) = value else { continue };
            let len = value.chars().count() as u64;
            t.values += count;
            t.len_sum += len * count;
            t.len_min = Some(t.len_min.map_or(len, |m| m.min(len)));
            t.len_max = Some(t.len_max.map_or(len, |m| m.max(len)));
            let (mut letters, mut digits, mut spaces, mut punctuation, mut non_ascii) = (false, false, false, false, false);
            for c in value.chars() {
                letters |= c.is_alphabetic();
                digits |= c.is_numeric();
                spaces |= c.is_whitespace();
                punctuation |= c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace() && !c.is_ascii());
                non_ascii |= !c.is_ascii();
            }
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
        Ok(t)
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
        let (edges, counts) = histogram(&[(0.0, 3), (2.0, 1), (4.0, 2)], 20).unwrap();
        assert_eq!(counts, vec![3, 0, 1, 0, 2]);
        assert_eq!(edges.len(), 6);
        let (_, counts) = histogram(&[(0.5, 1), (1.0, 1), (10.25, 5)], 4).unwrap();
        assert_eq!(counts.iter().sum::<u64>(), 7);
        assert_eq!(counts[3], 5);
    }

    #[test]
    fn shapes_read_like_the_values() {
        assert_eq!(shape("Ann Smith 2024"), "Aaa Aaaaa 9999");
        assert_eq!(shape("2024-01-31"), "9999-99-99");
        assert_eq!(shape("ü@x.de"), "a@a.aa");
    }
}
