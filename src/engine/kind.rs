//! What a column holds, decided once from DuckDB's type name ([`ColumnKind`]), and the one
//! test of whether a value survives a change of type ([`survives_cast_sql`]).
//!
//! Every feature that treats columns by type (search, filters, dedupe normalisation,
//! clustering, profiles, appends, type changes) asks the kind instead of matching type names,
//! so an ENUM is text everywhere and `INTEGER[]` is a list everywhere.
//!
//! A cast that succeeds has not necessarily kept the value: DuckDB rounds `2.5` to a BIGINT
//! `3` (or `2` from a DOUBLE), keeps only the date of a timestamp and drops a UTC offset from
//! text read as TIMESTAMP. So anything that changes a value's type proves that the value
//! comes back: for typed values by casting back, for text by comparing with what the text
//! says (digits, fraction, time of day, offset).

use serde::{Deserialize, Serialize};

use super::sql::SqlType;

/// Resolution of a time or timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ColumnKind {
    Boolean,
    Integer { bits: u8, signed: bool },
    Float { bits: u8 },
    Decimal { precision: u8, scale: u8 },
    /// VARCHAR and its aliases (and JSON, stored as text).
    Text,
    /// Text from a fixed list of values.
    Enum,
    Blob,
    Date,
    Time { tz: bool },
    Timestamp { unit: TimeUnit, tz: bool },
    Interval,
    Uuid,
    /// LIST, ARRAY, STRUCT, MAP, UNION.
    Nested,
    /// BIT, BIGNUM, VARIANT and types of extensions.
    Other,
}

impl ColumnKind {
    /// The kind of a DuckDB type name as `duckdb_columns()` or `DESCRIBE` print it (aliases
    /// such as TEXT or INT8 are understood too).
    pub fn of(data_type: &str) -> Self {
        let t = data_type.trim().to_ascii_uppercase();
        if t.ends_with(']') {
            return Self::Nested;
        }
        let base = t.split('(').next().unwrap_or("").trim();
        match base {
            "BOOLEAN" | "BOOL" | "LOGICAL" => Self::Boolean,
            "TINYINT" | "INT1" => Self::Integer { bits: 8, signed: true },
            "SMALLINT" | "INT2" | "SHORT" => Self::Integer { bits: 16, signed: true },
            "INTEGER" | "INT" | "INT4" | "SIGNED" => Self::Integer { bits: 32, signed: true },
            "BIGINT" | "INT8" | "LONG" => Self::Integer { bits: 64, signed: true },
            "HUGEINT" | "INT128" => Self::Integer { bits: 128, signed: true },
            "UTINYINT" | "UINT8" => Self::Integer { bits: 8, signed: false },
            "USMALLINT" | "UINT16" => Self::Integer { bits: 16, signed: false },
            "UINTEGER" | "UINT32" => Self::Integer { bits: 32, signed: false },
            "UBIGINT" | "UINT64" => Self::Integer { bits: 64, signed: false },
            "UHUGEINT" | "UINT128" => Self::Integer { bits: 128, signed: false },
            "FLOAT" | "FLOAT4" | "REAL" => Self::Float { bits: 32 },
            "DOUBLE" | "FLOAT8" => Self::Float { bits: 64 },
            "DECIMAL" | "NUMERIC" => {
                let (precision, scale) = decimal_digits(&t).unwrap_or((18, 3));
                Self::Decimal { precision, scale }
            }
            "VARCHAR" | "TEXT" | "STRING" | "CHAR" | "BPCHAR" | "NVARCHAR" | "JSON" => Self::Text,
            "ENUM" => Self::Enum,
            "BLOB" | "BYTEA" | "BINARY" | "VARBINARY" => Self::Blob,
            "DATE" => Self::Date,
            "TIME" | "TIME_NS" => Self::Time { tz: false },
            "TIMETZ" | "TIME WITH TIME ZONE" => Self::Time { tz: true },
            "TIMESTAMP" | "DATETIME" | "TIMESTAMP_US" => Self::Timestamp { unit: TimeUnit::Micros, tz: false },
            "TIMESTAMP_S" => Self::Timestamp { unit: TimeUnit::Seconds, tz: false },
            "TIMESTAMP_MS" => Self::Timestamp { unit: TimeUnit::Millis, tz: false },
            "TIMESTAMP_NS" => Self::Timestamp { unit: TimeUnit::Nanos, tz: false },
            "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => Self::Timestamp { unit: TimeUnit::Micros, tz: true },
            "INTERVAL" => Self::Interval,
            "UUID" => Self::Uuid,
            "LIST" | "STRUCT" | "MAP" | "UNION" | "ARRAY" => Self::Nested,
            _ => Self::Other,
        }
    }

    /// Text a user reads and types: searched, normalised by dedupe, clustered.
    pub fn is_text(self) -> bool {
        matches!(self, Self::Text | Self::Enum)
    }

    pub fn is_integer(self) -> bool {
        matches!(self, Self::Integer { .. })
    }

    /// Numbers: integers, floats and decimals.
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Integer { .. } | Self::Float { .. } | Self::Decimal { .. })
    }

    /// Dates, times and timestamps.
    pub fn is_temporal(self) -> bool {
        matches!(self, Self::Date | Self::Time { .. } | Self::Timestamp { .. })
    }

    /// Values with an order a range filter can use (numbers, dates, times, intervals).
    pub fn has_range(self) -> bool {
        self.is_numeric() || self.is_temporal() || self == Self::Interval
    }

    /// "whole number", "date (YYYY-MM-DD)", … for messages; `None` where the type name says it best.
    pub fn in_words(self) -> Option<&'static str> {
        Some(match self {
            Self::Integer { .. } => "whole number",
            Self::Float { .. } | Self::Decimal { .. } => "number",
            Self::Date => "date (YYYY-MM-DD)",
            Self::Time { .. } => "time (HH:MM:SS)",
            Self::Timestamp { .. } => "timestamp (YYYY-MM-DD HH:MM:SS)",
            Self::Boolean => "true/false",
            Self::Text => "text",
            _ => return None,
        })
    }
}

/// `DECIMAL(p,s)` → (p, s).
fn decimal_digits(upper: &str) -> Option<(u8, u8)> {
    let inner = upper.split_once('(')?.1.strip_suffix(')')?;
    let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// SQL that is true when the value `expr` (of type `from`, not NULL) becomes a value of type
/// `to` that means the same: the cast succeeds and nothing is rounded, cut or dropped. NULL or
/// false otherwise, so callers test `NOT coalesce(…, false)`.
///
/// Typed values must come back unchanged when cast back (`2.5 → 2 → 2.0` fails; a timestamp
/// becomes a date only at midnight). Text must say exactly what the new value holds: a whole
/// number written as such (no fraction, no leading zeros), no more digits than a float keeps,
/// no more decimals than a DECIMAL's scale, no time of day for a date, no UTC offset or zone
/// for a timestamp without time zone, no sub-unit digits a timestamp would cut.
pub fn survives_cast_sql(expr: &str, from: &str, to: &SqlType) -> String {
    let from_kind = ColumnKind::of(from);
    let to_kind = ColumnKind::of(to.as_str());
    let cast = format!("TRY_CAST({expr} AS {to})");
    if to_kind == ColumnKind::Text {
        // DuckDB prints every value so that it reads back the same.
        return format!("({cast} IS NOT NULL)");
    }
    if from_kind.is_text() {
        let text = if from_kind == ColumnKind::Text { expr.to_string() } else { format!("CAST({expr} AS VARCHAR)") };
        return text_survives_sql(&text, to, to_kind);
    }
    match SqlType::parse(from) {
        Ok(from_type) if from_kind != ColumnKind::Other => format!("(TRY_CAST({cast} AS {from_type}) IS NOT DISTINCT FROM {expr})"),
        // A type with no safe name here: its text must come back.
        _ => format!("(CAST({cast} AS VARCHAR) IS NOT DISTINCT FROM CAST({expr} AS VARCHAR))"),
    }
}

/// [`survives_cast_sql`] for a text value `x`.
fn text_survives_sql(x: &str, to: &SqlType, kind: ColumnKind) -> String {
    let cast = format!("TRY_CAST({x} AS {to})");
    let trimmed = format!("trim({x})");
    let rule = match kind {
        // Whole numbers as written: `2.5`, `1e3`, `007`, `+5` or `0x1F` would not read back.
        ColumnKind::Integer { .. } => format!("CAST({cast} AS VARCHAR) = {trimmed}"),
        ColumnKind::Float { bits } => {
            // Significant digits of the mantissa: a double keeps 15, a float 6. Leading zeros
            // ("01234", a code) would not come back either.
            let keeps = if bits == 32 { 6 } else { 15 };
            format!(
                "length(trim(regexp_replace(regexp_extract(lower({trimmed}), '^[^e]*'), '[^0-9]', '', 'g'), '0')) <= {keeps} \
                 AND NOT regexp_matches({trimmed}, '^[+-]?0[0-9]')"
            )
        }
        ColumnKind::Decimal { scale, .. } => format!(
            "NOT regexp_matches({trimmed}, '^[+-]?0[0-9]') AND CASE WHEN contains(lower({x}), 'e') THEN CAST({cast} AS DOUBLE) = TRY_CAST({x} AS DOUBLE) \
             ELSE length(rtrim(regexp_extract({trimmed}, '\\.([0-9]*)', 1), '0')) <= {scale} END"
        ),
        ColumnKind::Date => format!(
            "(TRY_CAST({x} AS TIMESTAMP) IS NULL OR (TRY_CAST({x} AS TIMESTAMP) = CAST({cast} AS TIMESTAMP) AND {}))",
            no_offset_sql(x)
        ),
        ColumnKind::Timestamp { tz: false, .. } => {
            // Sub-unit digits: compare with the text read to the nanosecond, where it can be.
            let exact = format!("coalesce(CAST({cast} AS TIMESTAMP_NS) = TRY_CAST({x} AS TIMESTAMP_NS), true)");
            format!("{exact} AND {}", no_offset_sql(x))
        }
        // With a time zone: the offset is taken in; a timestamp keeps microseconds.
        ColumnKind::Timestamp { tz: true, .. } => format!("NOT regexp_matches({trimmed}, '\\.[0-9]{{7,}}')"),
        ColumnKind::Boolean | ColumnKind::Time { .. } | ColumnKind::Interval => "true".to_string(),
        ColumnKind::Enum | ColumnKind::Uuid | ColumnKind::Blob | ColumnKind::Nested | ColumnKind::Other | ColumnKind::Text => {
            format!("lower(CAST({cast} AS VARCHAR)) = lower({trimmed})")
        }
    };
    format!("({cast} IS NOT NULL AND ({rule}))")
}

/// True when a text timestamp carries no UTC offset or zone that a TIMESTAMP would drop:
/// read with its offset and without, it is the same time.
fn no_offset_sql(x: &str) -> String {
    format!("CAST(TRY_CAST({x} AS TIMESTAMPTZ) AS TIMESTAMP) IS NOT DISTINCT FROM TRY_CAST({x} AS TIMESTAMP)")
}

/// Start of the error [`strict_cast_sql`] raises, then `{tag}:{text}`.
pub const CHANGED_MARK: &str = "dataforge-value-changes:";

/// Whether reading text as `ty` can change what the text says, so that a read must check
/// it: DuckDB's casts (and its CSV reader) round `2.5` into whole-number and DECIMAL
/// columns, keep only the date of a date and time, and drop a UTC offset or nanoseconds
/// from a TIMESTAMP. `formatted`: dates and timestamps are parsed with an explicit format,
/// which must match the whole text anyway.
pub fn text_cast_can_change(ty: &SqlType, formatted: bool) -> bool {
    match ColumnKind::of(ty.as_str()) {
        ColumnKind::Integer { .. } | ColumnKind::Decimal { .. } => true,
        ColumnKind::Date | ColumnKind::Timestamp { tz: false, .. } => !formatted,
        _ => false,
    }
}

/// `CAST(text AS ty)` that raises `{CHANGED_MARK}{tag}:{text}` instead of storing a value
/// that differs from what the text says (see [`text_cast_can_change`]). A cheap test picks
/// the values worth checking (`2.5` has a point, a time of day a colon), so plain values
/// cost a few byte searches.
pub fn strict_cast_sql(text: &str, ty: &SqlType, tag: usize) -> String {
    let x = text;
    let suspect = match ColumnKind::of(ty.as_str()) {
        // A fraction, or a negative exponent (`15e-1`): a minus after the first character.
        ColumnKind::Integer { .. } | ColumnKind::Decimal { .. } => format!("contains({x}, '.') OR {x} LIKE '%_-%'"),
        ColumnKind::Date => format!("contains({x}, ':')"),
        // Longer than `YYYY-MM-DD HH:MM:SS` and then: longer than microseconds, an offset or
        // zone after the time, or more than the seconds without a fraction.
        ColumnKind::Timestamp { tz: false, .. } => format!(
            "length({x}) > 16 AND (length({x}) > 26 OR contains({x}, '+') OR contains({x}, 'Z') OR contains({x}, 'z') \
             OR {x} LIKE '%-__:__' OR {x} LIKE '%-__' OR {x} LIKE '%-____' OR (length({x}) > 19 AND NOT contains({x}, '.')))"
        ),
        _ => return format!("CAST({x} AS {ty})"),
    };
    let survives = text_survives_sql(x, ty, ColumnKind::of(ty.as_str()));
    // Branch by branch: DuckDB tests a WHEN only on the rows no earlier WHEN took, so the
    // costly test runs on the few suspect values. Text that is no value of the type at all
    // goes to the plain cast, which fails with DuckDB's own message.
    format!(
        "CASE WHEN NOT ({suspect}) THEN CAST({x} AS {ty}) \
         WHEN TRY_CAST({x} AS {ty}) IS NULL OR coalesce({survives}, false) THEN CAST({x} AS {ty}) \
         ELSE error('{CHANGED_MARK}{tag}:' || {x}) END"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_duckdb_type_names() {
        assert_eq!(ColumnKind::of("BIGINT"), ColumnKind::Integer { bits: 64, signed: true });
        assert_eq!(ColumnKind::of("UHUGEINT"), ColumnKind::Integer { bits: 128, signed: false });
        assert_eq!(ColumnKind::of("DECIMAL(38,10)"), ColumnKind::Decimal { precision: 38, scale: 10 });
        assert_eq!(ColumnKind::of("ENUM('a', 'b')"), ColumnKind::Enum);
        assert!(ColumnKind::of("ENUM('a')").is_text());
        assert_eq!(ColumnKind::of("INTEGER[]"), ColumnKind::Nested);
        assert_eq!(ColumnKind::of("INTEGER[3]"), ColumnKind::Nested);
        assert_eq!(ColumnKind::of("STRUCT(a INTEGER)"), ColumnKind::Nested);
        assert_eq!(ColumnKind::of("TIMESTAMP WITH TIME ZONE"), ColumnKind::Timestamp { unit: TimeUnit::Micros, tz: true });
        assert_eq!(ColumnKind::of("TIMESTAMP_NS"), ColumnKind::Timestamp { unit: TimeUnit::Nanos, tz: false });
        assert_eq!(ColumnKind::of("text"), ColumnKind::Text);
        assert!(!ColumnKind::of("INTEGER[]").has_range());
        assert!(ColumnKind::of("INTERVAL").has_range());
    }
}
