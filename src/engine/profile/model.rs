//! What a profile holds: the report's types (its JSON shape) and how columns are read.

use serde::{Deserialize, Serialize};

use crate::engine::kind::ColumnKind;
use crate::engine::workspace::ColumnInfo;

/// How a column is handed to Polars.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Integer,
    Float,
    Boolean,
    Date,
    Timestamp,
    Time,
    Text,
}

impl Kind {
    pub fn of(data_type: &str) -> Self {
        Self::from_column(ColumnKind::of(data_type))
    }

    pub fn from_column(kind: ColumnKind) -> Self {
        match kind {
            ColumnKind::Integer { .. } => Self::Integer,
            ColumnKind::Float { .. } | ColumnKind::Decimal { .. } => Self::Float,
            ColumnKind::Boolean => Self::Boolean,
            ColumnKind::Date => Self::Date,
            ColumnKind::Time { .. } => Self::Time,
            ColumnKind::Timestamp { .. } => Self::Timestamp,
            _ => Self::Text,
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Integer | Self::Float)
    }

    pub(super) fn is_temporal(self) -> bool {
        matches!(self, Self::Date | Self::Timestamp | Self::Time)
    }
}

/// What the values seem to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    Empty,
    Constant,
    Integer,
    Float,
    Boolean,
    DateTime,
    Categorical,
    FreeText,
    Identifier,
    Email,
    Url,
    Phone,
    NumberAsText,
    DateAsText,
}

impl Meaning {
    pub fn label(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Constant => "constant",
            Self::Integer => "integer",
            Self::Float => "decimal number",
            Self::Boolean => "boolean",
            Self::DateTime => "date/time",
            Self::Categorical => "categorical",
            Self::FreeText => "free text",
            Self::Identifier => "identifier",
            Self::Email => "email",
            Self::Url => "URL",
            Self::Phone => "phone number",
            Self::NumberAsText => "number stored as text",
            Self::DateAsText => "date stored as text",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Empty,
    Constant,
    HighMissing,
    HighCardinality,
    Unique,
    Uniform,
    Skewed,
    ManyZeros,
    MixedTypes,
    Outliers,
    InconsistentFormats,
    Whitespace,
    DuplicateRows,
    HighCorrelation,
}

impl AlertKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Constant => "constant",
            Self::HighMissing => "missing",
            Self::HighCardinality => "high cardinality",
            Self::Unique => "unique",
            Self::Uniform => "uniform",
            Self::Skewed => "skewed",
            Self::ManyZeros => "zeros",
            Self::MixedTypes => "mixed types",
            Self::Outliers => "outliers",
            Self::InconsistentFormats => "formats",
            Self::Whitespace => "whitespace",
            Self::DuplicateRows => "duplicates",
            Self::HighCorrelation => "correlated",
        }
    }

    /// Whether the alert points at something likely wrong (red) or just notable (amber/blue).
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            Self::Empty | Self::HighMissing | Self::MixedTypes | Self::InconsistentFormats | Self::Whitespace | Self::DuplicateRows
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// The column it is about; `None` for the table.
    pub column: Option<String>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueCount {
    /// The value as text (dates and times formatted), `None` for NULL.
    pub value: Option<String>,
    pub count: u64,
}

/// JSON has no infinities: they are written as the strings "inf" and "-inf" (NaN as "NaN").
mod float_text {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(f64),
        Text(String),
    }

    fn to_text(v: f64) -> &'static str {
        if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "inf"
        } else {
            "-inf"
        }
    }

    fn from_either(e: Either) -> f64 {
        match e {
            Either::Number(v) => v,
            Either::Text(t) => match t.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => f64::NAN,
            },
        }
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() { s.serialize_f64(*v) } else { s.serialize_str(to_text(*v)) }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Either::deserialize(d).map(from_either)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Option::<Either>::deserialize(d).map(|e| e.map(from_either))
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    pub p: f64,
    #[serde(with = "float_text")]
    pub value: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    #[serde(with = "float_text::option")]
    pub min: Option<f64>,
    #[serde(with = "float_text::option")]
    pub max: Option<f64>,
    #[serde(with = "float_text::option")]
    pub mean: Option<f64>,
    #[serde(with = "float_text::option")]
    pub std: Option<f64>,
    #[serde(with = "float_text::option")]
    pub variance: Option<f64>,
    #[serde(with = "float_text")]
    pub sum: f64,
    #[serde(with = "float_text::option")]
    pub skewness: Option<f64>,
    #[serde(with = "float_text::option")]
    pub kurtosis: Option<f64>,
    pub quantiles: Vec<Quantile>,
    #[serde(with = "float_text::option")]
    pub iqr: Option<f64>,
    #[serde(with = "float_text::option")]
    pub mad: Option<f64>,
    /// Values outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR].
    pub outliers: Option<u64>,
    /// Quantiles, IQR, MAD and outliers come from a sample of the column.
    pub approximate: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextStats {
    pub length_min: Option<u64>,
    pub length_mean: Option<f64>,
    pub length_max: Option<u64>,
    pub with_letters: u64,
    pub with_digits: u64,
    pub with_spaces: u64,
    pub with_punctuation: u64,
    pub with_non_ascii: u64,
    pub leading_whitespace: u64,
    pub trailing_whitespace: u64,
    /// Most common shapes (`Aaaa 9999`) with their counts.
    pub shapes: Vec<ValueCount>,
    /// Values read for shapes and type detection: all of them when the column has few
    /// distinct values, else a spread sample.
    pub sampled_values: u64,
    /// Values that read as numbers, of those.
    pub numeric_values: u64,
    /// Date formats seen (`9999-99-99`, `99/99/9999`, …) with their counts in the sample.
    pub date_formats: Vec<ValueCount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub from: String,
    pub to: String,
    /// "17 days", "3 h 20 min".
    pub length: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemporalStats {
    pub min: Option<String>,
    pub max: Option<String>,
    /// "day", "month" or "year" (or "hour" for times of day).
    pub period: String,
    pub by_period: Vec<ValueCount>,
    pub longest_gap: Option<Gap>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin edges: `counts.len() + 1` of them.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The DuckDB type to store the column as.
    pub data_type: String,
    /// Estimated bytes saved in memory and on disk (before compression).
    pub saves_bytes: u64,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    /// The DuckDB type.
    pub storage_type: String,
    pub kind: Kind,
    pub meaning: Meaning,
    pub count: u64,
    pub nulls: u64,
    pub distinct: u64,
    pub empty_strings: u64,
    pub zeros: u64,
    pub negatives: u64,
    pub nan: u64,
    pub infinite: u64,
    pub numeric: Option<NumericStats>,
    pub text: Option<TextStats>,
    pub temporal: Option<TemporalStats>,
    pub histogram: Option<Histogram>,
    pub top_values: Vec<ValueCount>,
    pub suggested: Option<Suggestion>,
    pub alerts: Vec<Alert>,
    /// Null share of each of up to 100 equal row segments, in row order (missing-values matrix).
    pub missing_by_segment: Vec<f32>,
    /// Seconds spent on this column.
    pub seconds: f64,
}

impl ColumnProfile {
    pub fn null_pct(&self) -> f64 {
        pct(self.nulls, self.count)
    }

    pub fn distinct_pct(&self) -> f64 {
        pct(self.distinct, self.count - self.nulls)
    }

    /// Share of rows whose value occurs once only, of the non-null rows.
    pub fn is_unique(&self) -> bool {
        self.count > self.nulls && self.distinct == self.count - self.nulls
    }
}

pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlations {
    pub columns: Vec<String>,
    /// Row-major, `columns.len()` squared; `None` where undefined (a constant column).
    pub pearson: Vec<Option<f64>>,
    pub spearman: Vec<Option<f64>>,
    /// Rows ranked for Spearman; fewer than the table's rows when sampled.
    pub spearman_rows: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub format: u32,
    /// The table (or what the view reads) profiled.
    pub source: String,
    /// The view's filter in words when only some rows were profiled.
    pub filtered: Option<String>,
    pub created: String,
    pub rows: u64,
    pub columns: usize,
    /// Bytes the table takes in the workspace (DuckDB's estimate), when it is a table.
    pub table_bytes: Option<u64>,
    pub duplicate_rows: u64,
    pub missing_cells: u64,
    pub column_profiles: Vec<ColumnProfile>,
    pub correlations: Option<Correlations>,
    /// Table-level alerts (duplicate rows, correlations).
    pub alerts: Vec<Alert>,
    /// Rows and column types when profiled: a change marks the stored profile stale.
    pub fingerprint: String,
    pub seconds: f64,
}

impl Profile {
    pub fn missing_pct(&self) -> f64 {
        pct(self.missing_cells, self.rows * self.columns as u64)
    }

    pub fn all_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().chain(self.column_profiles.iter().flat_map(|c| c.alerts.iter()))
    }

    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.column_profiles.iter().find(|c| c.name == name)
    }
}

/// A column's identity for staleness: rows and every column's name and type.
pub fn fingerprint(rows: u64, columns: &[ColumnInfo]) -> String {
    let mut out = rows.to_string();
    for c in columns {
        out.push('|');
        out.push_str(&c.name);
        out.push(':');
        out.push_str(&c.data_type);
    }
    out
}

