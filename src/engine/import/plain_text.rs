//! Scalar functions that read the plainest text forms of a whole number (`-123`) and a
//! timestamp (`2024-01-31 23:59:59.123456`) in one pass, and give NULL for anything else.
//! A CSV column is read as `coalesce(plain(x), strict cast)`, so the values that need the
//! strict cast's checks (a fraction, an exponent, an offset, nanoseconds) still get them,
//! and the millions of plain values cost one parse instead of a cast and a string test.

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;
use duckdb::Connection;

use crate::engine::error::Result;
use crate::engine::kind::ColumnKind;
use crate::engine::sql::SqlType;

const BIGINT_FUNCTION: &str = "dataforge_plain_bigint";
const TIMESTAMP_FUNCTION: &str = "dataforge_plain_timestamp";

pub fn register(conn: &Connection) -> Result<()> {
    conn.register_scalar_function::<PlainBigint>(BIGINT_FUNCTION)?;
    conn.register_scalar_function::<PlainTimestamp>(TIMESTAMP_FUNCTION)?;
    Ok(())
}

/// `checked` (an SQL cast of `text` to `ty`) with the plain forms read first, when `ty`
/// has a plain reader.
pub fn plain_first_sql(text: &str, ty: &SqlType, checked: String) -> String {
    let function = match ColumnKind::of(ty.as_str()) {
        ColumnKind::Integer { bits: 64, signed: true } => BIGINT_FUNCTION,
        ColumnKind::Timestamp { unit: crate::engine::kind::TimeUnit::Micros, tz: false } => TIMESTAMP_FUNCTION,
        _ => return checked,
    };
    format!("coalesce({function}({text}), {checked})")
}

/// `-?[0-9]{1,18}`: never out of range, and exactly what DuckDB's cast makes of it.
fn plain_bigint(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + i64::from(digit);
    }
    Some(if negative { -value } else { value })
}

/// `YYYY-MM-DD HH:MM:SS` (or `T` between) with up to six fraction digits, year 1 to 9999:
/// microseconds since 1970, as DuckDB's TIMESTAMP stores them.
fn plain_timestamp(text: &[u8]) -> Option<i64> {
    if !(19..=26).contains(&text.len()) || text.len() == 20 {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        text[range].iter().try_fold(0i64, |acc, &b| {
            let digit = b.wrapping_sub(b'0');
            (digit <= 9).then_some(acc * 10 + i64::from(digit))
        })
    };
    if text[4] != b'-' || text[7] != b'-' || !matches!(text[10], b' ' | b'T') || text[13] != b':' || text[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut micros = 0;
    if text.len() > 19 {
        if text[19] != b'.' {
            return None;
        }
        let fraction = &text[20..];
        micros = number(20..text.len())? * 10i64.pow(6 - fraction.len() as u32);
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1_000_000 + micros)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Runs `parse` over the VARCHAR column of `input` into the 64-bit `output`; NULL where the
/// text is NULL or not plain.
fn map_text(input: &mut DataChunkHandle, output: &mut dyn WritableVector, parse: fn(&[u8]) -> Option<i64>) {
    let rows = input.len();
    let mut out = output.flat_vector();
    // SAFETY: the only signature registered takes one VARCHAR, and the texts are used here only.
    let texts = unsafe { crate::engine::udf::texts(input, 0) };
    // SAFETY: the output is a BIGINT/TIMESTAMP vector of at least `rows` values.
    let values = unsafe { out.as_mut_slice_with_len::<i64>(rows) };
    let mut not_plain = Vec::new();
    for (row, (value, text)) in values.iter_mut().zip(&texts).enumerate() {
        match text.and_then(parse) {
            Some(v) => *value = v,
            None => not_plain.push(row),
        }
    }
    for row in not_plain {
        out.set_null(row);
    }
}

struct PlainBigint;

impl VScalar for PlainBigint {
    type State = ();

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> std::result::Result<(), Box<dyn std::error::Error>> {
        map_text(input, output, plain_bigint);
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)], LogicalTypeHandle::from(LogicalTypeId::Bigint))]
    }
}

struct PlainTimestamp;

impl VScalar for PlainTimestamp {
    type State = ();

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> std::result::Result<(), Box<dyn std::error::Error>> {
        map_text(input, output, plain_timestamp);
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)], LogicalTypeHandle::from(LogicalTypeId::Timestamp))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every plain form agrees with DuckDB's own cast; every other form is left to it.
    #[test]
    fn plain_forms_read_as_duckdb_casts_them() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let ints = ["0", "-0", "7", "007", "-123", "999999999999999999", "-999999999999999999", "1234567890123456789", "2.5", "1e3", "+5", " 5", "", "-", "12a"];
        for text in ints {
            let (plain, cast): (Option<i64>, Option<i64>) = conn
                .query_row(&format!("SELECT {BIGINT_FUNCTION}(?), TRY_CAST(? AS BIGINT)"), [text, text], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            assert!(plain.is_none() || plain == cast, "{text:?}: {plain:?} vs {cast:?}");
            assert_eq!(plain.is_some(), plain_bigint(text.as_bytes()).is_some(), "{text:?}");
        }
        assert_eq!(plain_bigint(b"1234567890123456789"), None);
        let stamps = [
            "1970-01-01 00:00:00",
            "2024-02-29 23:59:59",
            "2024-02-29T12:00:00.5",
            "2023-12-31 23:59:59.999999",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.123",
            "1900-02-28 01:02:03.000001",
            "1600-03-01 00:00:00",
            "2023-02-29 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 10:00:00.1234567",
            "2024-01-01 10:00:00Z",
            "2024-01-01 10:00:00+05:00",
            "2024-01-01 10:00:00.",
            "0000-01-01 00:00:00",
            "2024-1-01 10:00:00",
        ];
        for text in stamps {
            let (plain, cast): (Option<i64>, Option<i64>) = conn
                .query_row(&format!("SELECT epoch_us({TIMESTAMP_FUNCTION}(?)), epoch_us(TRY_CAST(? AS TIMESTAMP))"), [text, text], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            assert!(plain.is_none() || plain == cast, "{text:?}: {plain:?} vs {cast:?}");
        }
        let plain: Vec<bool> = stamps.iter().map(|t| plain_timestamp(t.as_bytes()).is_some()).collect();
        assert_eq!(plain, [true, true, true, true, true, true, true, true, false, false, false, false, false, false, false, false]);
        let nulls: (Option<i64>, Option<i64>) = conn.query_row(&format!("SELECT {BIGINT_FUNCTION}(NULL), epoch_us({TIMESTAMP_FUNCTION}(NULL))"), [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!(nulls, (None, None));
    }

    /// Across vectors, NULLs and non-plain rows: every row as DuckDB casts it.
    #[test]
    fn a_column_of_mixed_text_reads_row_by_row() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let differing: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM (SELECT CASE WHEN i % 7 = 0 THEN NULL WHEN i % 5 = 0 THEN CAST(i AS VARCHAR) || '.0' ELSE CAST(i - 5000 AS VARCHAR) END AS x FROM range(10000) t(i)) \
                     WHERE coalesce({BIGINT_FUNCTION}(x), CAST(x AS BIGINT)) IS DISTINCT FROM CAST(x AS BIGINT)"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(differing, 0);
    }
}
