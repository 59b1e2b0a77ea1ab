//! What a column's figures say: its meaning, the narrowest type for it, and its alerts.

use super::*;
use crate::engine::kind::survives_cast_sql;
use crate::engine::sql::SqlType;

pub(super) fn meaning(p: &ColumnProfile, non_null: u64) -> Meaning {
    if non_null == 0 {
        return Meaning::Empty;
    }
    if p.distinct == 1 {
        return Meaning::Constant;
    }
    match p.kind {
        Kind::Integer if p.is_unique() && non_null > 1 => Meaning::Identifier,
        Kind::Integer => Meaning::Integer,
        Kind::Float => Meaning::Float,
        Kind::Boolean => Meaning::Boolean,
        Kind::Date | Kind::Timestamp | Kind::Time => Meaning::DateTime,
        Kind::Text => {
            let Some(t) = &p.text else { return Meaning::FreeText };
            let share = |n: u64| if t.sampled_values == 0 { 0.0 } else { n as f64 / t.sampled_values as f64 };
            let dates: u64 = t.date_formats.iter().map(|d| d.count).sum();
            if share(t.numeric_values) >= 0.99 {
                Meaning::NumberAsText
            } else if share(dates) >= 0.99 {
                Meaning::DateAsText
            } else if let Some(m) = pattern_meaning(p) {
                m
            } else if p.is_unique() && non_null > 50 {
                Meaning::Identifier
            } else if p.distinct <= 50 || (p.distinct as f64) < 0.05 * non_null as f64 {
                Meaning::Categorical
            } else {
                Meaning::FreeText
            }
        }
    }
}

/// Email, URL or phone when nearly all of the most common values look like one.
fn pattern_meaning(p: &ColumnProfile) -> Option<Meaning> {
    p.text.as_ref()?;
    let checks: [(Meaning, fn(&str) -> bool); 3] = [(Meaning::Email, looks_like_email), (Meaning::Url, looks_like_url), (Meaning::Phone, looks_like_phone)];
    let values: Vec<&str> = p.top_values.iter().filter_map(|v| v.value.as_deref()).collect();
    if values.is_empty() {
        return None;
    }
    checks.into_iter().find(|(_, f)| values.iter().filter(|v| f(v)).count() * 10 >= values.len() * 9).map(|(m, _)| m)
}

fn looks_like_email(v: &str) -> bool {
    let v = v.trim();
    match v.split_once('@') {
        Some((user, host)) => !user.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.') && !v.contains(char::is_whitespace),
        None => false,
    }
}

fn looks_like_url(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    (v.starts_with("http://") || v.starts_with("https://") || v.starts_with("www.")) && !v.contains(' ')
}

fn looks_like_phone(v: &str) -> bool {
    let v = v.trim();
    let digits = v.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits) && v.chars().all(|c| c.is_ascii_digit() || " +-()./".contains(c)) && (v.starts_with('+') || v.contains([' ', '-', '(', '.']))
}

/// Bytes a value of a DuckDB type takes uncompressed.
fn type_width(data_type: &str, mean_text: f64) -> f64 {
    match data_type {
        "BOOLEAN" | "TINYINT" | "UTINYINT" => 1.0,
        "SMALLINT" | "USMALLINT" => 2.0,
        "INTEGER" | "UINTEGER" | "DATE" | "FLOAT" => 4.0,
        "HUGEINT" | "UHUGEINT" | "UUID" | "INTERVAL" => 16.0,
        "VARCHAR" => 16.0 + if mean_text > 12.0 { mean_text } else { 0.0 },
        t if t.starts_with("ENUM") => 1.0,
        _ => 8.0,
    }
}

fn narrowest_integer(min: f64, max: f64) -> &'static str {
    if min >= i8::MIN as f64 && max <= i8::MAX as f64 {
        "TINYINT"
    } else if min >= i16::MIN as f64 && max <= i16::MAX as f64 {
        "SMALLINT"
    } else if min >= i32::MIN as f64 && max <= i32::MAX as f64 {
        "INTEGER"
    } else {
        "BIGINT"
    }
}

/// The narrowest type that holds every value of the column, when narrower than its own.
pub(super) fn suggestion(conn: &Connection, compiled: &CompiledView, p: &ColumnProfile, sorted: Option<stats::Sorted<'_>>) -> Result<Option<Suggestion>> {
    let non_null = p.count - p.nulls;
    if non_null == 0 {
        return Ok(None);
    }
    let current = p.storage_type.to_ascii_uppercase();
    let mean_text = p.text.as_ref().and_then(|t| t.length_mean).unwrap_or(0.0);
    let candidate: Option<(String, String)> = match p.kind {
        Kind::Integer => p.numeric.as_ref().and_then(|n| n.min.zip(n.max)).map(|(min, max)| {
            let why = if min == max { format!("every value is {}", min as i64) } else { format!("every value lies between {} and {}", min as i64, max as i64) };
            (narrowest_integer(min, max).to_string(), why)
        }),
        Kind::Float if !current.starts_with("DECIMAL") && p.nan == 0 && p.infinite == 0 => sorted.filter(|s| s.iter().all(|(v, _)| v.fract() == 0.0)).and_then(|_| {
            let n = p.numeric.as_ref()?;
            let (min, max) = (n.min?, n.max?);
            (min >= -9.0e15 && max <= 9.0e15 && !n.approximate).then(|| (narrowest_integer(min, max).to_string(), "every value is a whole number".to_string()))
        }),
        Kind::Text if current == "VARCHAR" => text_candidate(conn, compiled, p)?,
        _ => None,
    };
    Ok(candidate.and_then(|(data_type, reason)| {
        let (old, new) = (type_width(&current, mean_text), type_width(&data_type, mean_text));
        (data_type != current && new < old).then(|| Suggestion { saves_bytes: ((old - new) * non_null as f64) as u64, data_type, reason })
    }))
}

/// For text: a number, date, timestamp or boolean type when DuckDB casts every value, else an
/// ENUM for few distinct values.
fn text_candidate(conn: &Connection, compiled: &CompiledView, p: &ColumnProfile) -> Result<Option<(String, String)>> {
    let t = p.text.as_ref().expect("text stats");
    let non_null = p.count - p.nulls;
    let c = quote_ident(&p.name);
    // Every value must come back unchanged from the new type: 20-digit ids are not DOUBLEs,
    // timestamps with UTC offsets not TIMESTAMPs, "01234" is not the number 1234.
    let all_survive = |target: &str| -> Result<bool> {
        let survives = survives_cast_sql("v", "VARCHAR", &SqlType::parse(target)?);
        let sql = format!(
            "SELECT count(*) FROM ({}) WHERE v IS NOT NULL AND NOT coalesce({survives}, false)",
            compiled.select_columns(&format!("{c} AS v"))
        );
        let failed: i64 = conn.prepare(&sql)?.query_row(compiled.params(), |r| r.get(0))?;
        Ok(failed == 0)
    };
    if t.numeric_values == t.sampled_values && t.sampled_values > 0 {
        if all_survive("BIGINT")? {
            let sql = format!("SELECT min(TRY_CAST(v AS BIGINT)), max(TRY_CAST(v AS BIGINT)) FROM ({})", compiled.select_columns(&format!("{c} AS v")));
            let (min, max): (i64, i64) = conn.prepare(&sql)?.query_row(compiled.params(), |r| Ok((r.get(0)?, r.get(1)?)))?;
            return Ok(Some((narrowest_integer(min as f64, max as f64).to_string(), "every value is a whole number".into())));
        }
        for wide in ["UBIGINT", "HUGEINT"] {
            if all_survive(wide)? {
                return Ok(Some((wide.into(), "every value is a whole number".into())));
            }
        }
        if all_survive("DOUBLE")? {
            return Ok(Some(("DOUBLE".into(), "every value is a number of at most 15 digits".into())));
        }
    }
    let iso_dates = t.date_formats.iter().filter(|d| d.value.as_deref().is_some_and(|v| v.starts_with("9999-99-99"))).map(|d| d.count).sum::<u64>();
    if iso_dates == t.sampled_values && t.sampled_values > 0 {
        if t.length_max == Some(10) && all_survive("DATE")? {
            return Ok(Some(("DATE".into(), "every value is a date".into())));
        }
        if all_survive("TIMESTAMP")? {
            return Ok(Some(("TIMESTAMP".into(), "every value is a date and time".into())));
        }
        if all_survive("TIMESTAMPTZ")? {
            return Ok(Some(("TIMESTAMPTZ".into(), "every value is a date and time with a UTC offset".into())));
        }
    }
    if p.distinct <= 2 && p.top_values.iter().all(|v| v.value.as_deref().is_some_and(|v| ["true", "false"].contains(&v.to_ascii_lowercase().as_str()))) {
        return Ok(Some(("BOOLEAN".into(), "every value is true or false".into())));
    }
    if p.distinct <= 255 && non_null >= 4 * p.distinct && t.numeric_values < t.sampled_values {
        return Ok(Some(("ENUM".into(), format!("only {} distinct values", p.distinct))));
    }
    Ok(None)
}

pub(super) fn alerts(p: &ColumnProfile) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut add = |kind: AlertKind, message: String| out.push(Alert { kind, column: Some(p.name.clone()), message });
    let non_null = p.count - p.nulls;
    if p.count > 0 && non_null == 0 {
        add(AlertKind::Empty, "every value is missing".into());
        return out;
    }
    if p.distinct == 1 {
        add(AlertKind::Constant, format!("every value is {}", p.top_values.first().and_then(|v| v.value.clone()).unwrap_or_default()));
    }
    if p.null_pct() >= 20.0 {
        add(AlertKind::HighMissing, format!("{} missing ({:.1} %)", group(p.nulls), p.null_pct()));
    }
    if p.is_unique() && non_null > 1 {
        add(AlertKind::Unique, "every value is different".into());
    } else if p.kind == Kind::Text && p.distinct > 50 && p.distinct_pct() > 50.0 {
        add(AlertKind::HighCardinality, format!("{} distinct values ({:.1} %)", group(p.distinct), p.distinct_pct()));
    }
    if let Some(n) = &p.numeric {
        if p.kind.is_numeric() {
            if n.skewness.is_some_and(|s| s.abs() > 20.0) {
                add(AlertKind::Skewed, format!("highly skewed (skewness {:.1})", n.skewness.unwrap_or_default()));
            }
            if p.zeros as f64 >= 0.1 * non_null as f64 && p.distinct > 1 {
                add(AlertKind::ManyZeros, format!("{} zeros ({:.1} %)", group(p.zeros), pct(p.zeros, non_null)));
            }
            if let Some(o) = n.outliers.filter(|&o| o > 0) {
                let approx = if n.approximate { "about " } else { "" };
                add(AlertKind::Outliers, format!("{approx}{} values ({:.2} %) lie outside 1.5 IQR of the quartiles", group(o), pct(o, non_null)));
            }
            if !p.is_unique()
                && let Some(h) = &p.histogram
                && is_uniform(&h.counts)
            {
                add(AlertKind::Uniform, "values are spread evenly (uniform)".into());
            }
        }
    }
    if let Some(t) = &p.text {
        let numeric = pct(t.numeric_values, t.sampled_values);
        if (5.0..95.0).contains(&numeric) {
            add(AlertKind::MixedTypes, format!("{numeric:.0} % of the values are numbers, the rest text"));
        }
        if t.date_formats.len() > 1 {
            let formats: Vec<&str> = t.date_formats.iter().filter_map(|d| d.value.as_deref()).collect();
            add(AlertKind::InconsistentFormats, format!("dates written in {} ways: {}", formats.len(), formats.join(", ")));
        }
        let spaced = t.leading_whitespace.max(t.trailing_whitespace);
        if spaced > 0 {
            add(
                AlertKind::Whitespace,
                format!("{} values start and {} end with whitespace", group(t.leading_whitespace), group(t.trailing_whitespace)),
            );
        }
    }
    out
}

/// A chi-squared test of equal bin counts, as ydata-profiling's uniformity alert (p > 0.999).
fn is_uniform(counts: &[u64]) -> bool {
    let k = counts.len();
    let total: u64 = counts.iter().sum();
    if k < 3 || (total as f64) < 5.0 * k as f64 {
        return false;
    }
    let expected = total as f64 / k as f64;
    let chi2: f64 = counts.iter().map(|&o| (o as f64 - expected).powi(2) / expected).sum();
    let df = (k - 1) as f64;
    // Wilson–Hilferty: chi2/df to a standard normal.
    let z = ((chi2 / df).cbrt() - (1.0 - 2.0 / (9.0 * df))) / (2.0 / (9.0 * df)).sqrt();
    let p_value = 0.5 * erfc(z / std::f64::consts::SQRT_2);
    p_value > 0.999
}

/// Complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * (-z * z - 1.26551223
        + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
        .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_recognised() {
        assert!(looks_like_email("ann@example.com") && !looks_like_email("ann@"));
        assert!(looks_like_url("https://x.org/a") && !looks_like_url("x.org"));
        assert!(looks_like_phone("+49 30 1234567") && !looks_like_phone("2024"));
    }

    #[test]
    fn even_bins_are_uniform_and_a_peak_is_not() {
        assert!(is_uniform(&[1000, 1003, 998, 1001, 999, 1000, 1002, 997]));
        assert!(!is_uniform(&[10, 100, 1000, 5000, 1000, 100, 10, 1]));
        assert!((erfc(0.0) - 1.0).abs() < 1e-6 && (erfc(1.0) - 0.157_299_2).abs() < 1e-6);
    }
}
