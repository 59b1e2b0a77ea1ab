//! `dataforge_edits(a, b)`: the edit distance between two texts where a swap of two neighbouring
//! letters is one edit (restricted Damerau-Levenshtein), counted only up to 3. Comparisons
//! ask "one edit?" and "two edits?", so the distance is computed in a band two cells wide
//! around the diagonal and stops once every cell is past 2: a few dozen steps per pair,
//! where DuckDB's full `damerau_levenshtein` costs over a microsecond.

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;
use duckdb::Connection;

use crate::engine::error::Result;

pub const EDITS_FUNCTION: &str = "dataforge_edits";

/// The largest distance told apart; anything further is this.
pub const FAR: u8 = 3;

pub fn register(conn: &Connection) -> Result<()> {
    conn.register_scalar_function::<Edits>(EDITS_FUNCTION)?;
    Ok(())
}

/// Restricted Damerau-Levenshtein distance of `a` and `b`, or [`FAR`] when it is more than 2.
pub fn edits<T: PartialEq + Copy>(a: &[T], b: &[T]) -> u8 {
    const K: usize = (FAR - 1) as usize;
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > K {
        return FAR;
    }
    if n == 0 || m == 0 {
        return n.max(m) as u8;
    }
    let far = FAR as usize;
    // Three rows of the table: two back (for a swap), one back, and this one.
    let mut two_back = vec![far; m + 1];
    let mut one_back: Vec<usize> = (0..=m).map(|j| j.min(far)).collect();
    let mut row = vec![far; m + 1];
    for i in 1..=n {
        row.fill(far);
        row[0] = i.min(far);
        let (from, to) = (i.saturating_sub(K).max(1), (i + K).min(m));
        let mut best = row[0];
        for j in from..=to {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (one_back[j - 1] + cost).min(one_back[j] + 1).min(row[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two_back[j - 2] + 1);
            }
            row[j] = d.min(far);
            best = best.min(row[j]);
        }
        if best >= far {
            return FAR;
        }
        std::mem::swap(&mut two_back, &mut one_back);
        std::mem::swap(&mut one_back, &mut row);
    }
    one_back[m].min(far) as u8
}

fn edits_of_text(a: &[u8], b: &[u8]) -> u8 {
    if a.is_ascii() && b.is_ascii() {
        return edits(a, b);
    }
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    edits(&a, &b)
}

struct Edits;

impl VScalar for Edits {
    type State = ();

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let rows = input.len();
        let mut out = output.flat_vector();
        // SAFETY: the only signature registered takes two VARCHARs, and the texts are used here only.
        let (a, b) = unsafe { (crate::engine::udf::texts(input, 0), crate::engine::udf::texts(input, 1)) };
        // SAFETY: the output is a UTINYINT vector of at least `rows` values.
        let values = unsafe { out.as_mut_slice_with_len::<u8>(rows) };
        let mut missing = Vec::new();
        for (row, value) in values.iter_mut().enumerate() {
            match (a[row], b[row]) {
                (Some(a), Some(b)) => *value = edits_of_text(a, b),
                _ => missing.push(row),
            }
        }
        for row in missing {
            out.set_null(row);
        }
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        let text = || LogicalTypeHandle::from(LogicalTypeId::Varchar);
        vec![ScalarFunctionSignature::exact(vec![text(), text()], LogicalTypeHandle::from(LogicalTypeId::UTinyint))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_edits_agree_with_the_full_distance_up_to_two() {
        let words = ["", "a", "ab", "ba", "abc", "acb", "smith", "smyth", "smiht", "smithe", "mith", "jonathan", "jonathon", "jon", "john", "ca", "abc", "müller", "mueller", "mülelr", "12345", "21345", "13245", "54321"];
        for a in words {
            for b in words {
                let full = strsim::osa_distance(a, b);
                let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                let bounded = edits(&ac, &bc);
                assert_eq!(bounded, full.min(3) as u8, "{a:?} {b:?}");
                assert_eq!(edits_of_text(a.as_bytes(), b.as_bytes()), bounded, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn the_function_reads_every_row_and_keeps_nulls() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let wrong: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM (SELECT md5(CAST(i AS VARCHAR)) AS a, CASE WHEN i % 3 = 0 THEN NULL ELSE left(md5(CAST(i AS VARCHAR)), 30) || CAST(i % 10 AS VARCHAR) END AS b FROM range(5000) t(i))
                     WHERE {EDITS_FUNCTION}(a, b) IS DISTINCT FROM CASE WHEN b IS NULL THEN NULL ELSE least(damerau_levenshtein(a, b), 3) END"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(wrong, 0);
    }
}
