//! How two values of a column are compared: each kind of column has its levels, from
//! "exactly equal" down to "different", written as DuckDB SQL over values prepared once per
//! row (trimmed, folded as dedupe folds them, dates parsed).

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};
use super::distance::EDITS_FUNCTION;
use crate::engine::fold::FOLD_FUNCTION;

/// What a column holds, as far as comparing two records goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareKind {
    /// A given name or surname: Damerau-Levenshtein and Jaro-Winkler.
    Name,
    /// A date (of birth): typos, day and month transposed, distance in days.
    Date,
    Postcode,
    /// Equal, equal user name, similar.
    Email,
    /// The last nine digits.
    Phone,
    /// Relative difference.
    Number,
    /// An identifier that several rows may share (a social security number): equal or one typo.
    Code,
    /// Free or short text (a street, a town): edit distance and Jaro-Winkler.
    Text,
    /// Equal or not (a state, a gender).
    Exact,
}

pub const KINDS: &[CompareKind] = &[
    CompareKind::Name,
    CompareKind::Date,
    CompareKind::Postcode,
    CompareKind::Email,
    CompareKind::Phone,
    CompareKind::Number,
    CompareKind::Code,
    CompareKind::Text,
    CompareKind::Exact,
];

impl CompareKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Date => "date",
            Self::Postcode => "postcode",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Number => "number",
            Self::Code => "code",
            Self::Text => "text",
            Self::Exact => "exact",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        let wanted = text.trim().to_ascii_lowercase();
        KINDS.iter().copied().find(|k| k.name() == wanted).ok_or_else(|| {
            let names: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
            EngineError::InvalidOption(format!("unknown comparison {text:?}; use one of {}", names.join(", ")))
        })
    }

    /// Strong enough to block on alone: most different people differ in it.
    pub fn identifies_people(self) -> bool {
        matches!(self, Self::Name | Self::Date | Self::Postcode | Self::Email | Self::Phone | Self::Code)
    }

    /// The levels' names, by code: 0 is "different", the last is "exact".
    pub fn level_labels(self) -> Vec<&'static str> {
        let mut labels = vec!["different"];
        labels.extend(match self {
            Self::Name => vec!["Jaro-Winkler ≥ 0.8", "Jaro-Winkler ≥ 0.9", "one edit (Damerau-Levenshtein ≤ 1)"],
            Self::Date => vec!["within 10 years", "within a year", "one typo or day and month transposed"],
            Self::Postcode => vec!["same district", "one edit"],
            Self::Email => vec!["Jaro-Winkler ≥ 0.88", "same user name"],
            Self::Phone => vec!["one edit"],
            Self::Number => vec!["within 10 %", "within 1 %"],
            Self::Code => vec!["one edit"],
            Self::Text => vec!["Jaro-Winkler ≥ 0.9", "two edits", "one edit"],
            Self::Exact => vec![],
        });
        labels.push("exact");
        labels
    }

    pub fn levels(self) -> usize {
        self.level_labels().len()
    }

    /// The prepared value and a second form of it, as SQL over the raw column `raw`.
    pub fn prepare_sql(self, raw: &str) -> (String, String) {
        let text = format!("CAST({raw} AS VARCHAR)");
        let norm = format!("nullif(trim({FOLD_FUNCTION}({text})), '')");
        let digits = format!("nullif(regexp_replace({text}, '[^0-9]', '', 'g'), '')");
        match self {
            Self::Date => {
                // Digits of the date as written (a typo stays visible), and the date itself.
                let parsed = format!(
                    "coalesce(TRY_CAST({text} AS DATE), CAST(TRY_CAST({text} AS TIMESTAMP) AS DATE), \
                     CAST(try_strptime({digits}, '%Y%m%d') AS DATE), CAST(try_strptime({text}, '%d/%m/%Y') AS DATE))"
                );
                (format!("coalesce(strftime({parsed}, '%Y%m%d'), {digits})"), parsed)
            }
            Self::Postcode => (norm.clone(), format!("replace({norm}, ' ', '')")),
            Self::Email => (norm.clone(), format!("split_part({norm}, '@', 1)")),
            Self::Phone => (format!("right({digits}, 9)"), "NULL".into()),
            Self::Number => (format!("TRY_CAST({raw} AS DOUBLE)"), "NULL".into()),
            _ => (norm, "NULL".into()),
        }
    }

    /// The SQL of the key a blocking rule joins on, from the prepared columns `a` and `a2`.
    pub fn block_key(self, a: &str, a2: &str) -> String {
        match self {
            Self::Postcode => a2.to_string(),
            _ => a.to_string(),
        }
    }

    /// The level code of a pair as SQL: `a`, `b` the two prepared values, `a2`, `b2` their
    /// second forms. -1 when either is missing.
    pub fn level_sql(self, a: &str, b: &str, a2: &str, b2: &str) -> String {
        let conditions: Vec<String> = match self {
            Self::Name => vec![
                format!("{a} = {b}"),
                format!("{EDITS_FUNCTION}({a}, {b}) <= 1"),
                format!("jaro_winkler_similarity({a}, {b}) >= 0.9"),
                format!("jaro_winkler_similarity({a}, {b}) >= 0.8"),
            ],
            Self::Date => vec![
                format!("{a} = {b}"),
                format!(
                    "{EDITS_FUNCTION}({a}, {b}) <= 1 OR (year({a2}) = year({b2}) AND month({a2}) = day({b2}) AND day({a2}) = month({b2}))"
                ),
                format!("abs(date_diff('day', {a2}, {b2})) <= 366"),
                format!("abs(date_diff('day', {a2}, {b2})) <= 3653"),
            ],
            Self::Postcode => vec![
                format!("{a2} = {b2}"),
                format!("{EDITS_FUNCTION}({a2}, {b2}) <= 1"),
                format!(
                    "CASE WHEN contains({a}, ' ') AND contains({b}, ' ') THEN split_part({a}, ' ', 1) = split_part({b}, ' ', 1) ELSE left({a2}, 3) = left({b2}, 3) END"
                ),
            ],
            Self::Email => vec![format!("{a} = {b}"), format!("{a2} = {b2}"), format!("jaro_winkler_similarity({a}, {b}) >= 0.88")],
            Self::Phone | Self::Code => vec![format!("{a} = {b}"), format!("{EDITS_FUNCTION}({a}, {b}) <= 1")],
            Self::Number => vec![
                format!("{a} = {b}"),
                format!("abs({a} - {b}) <= 0.01 * greatest(abs({a}), abs({b}))"),
                format!("abs({a} - {b}) <= 0.1 * greatest(abs({a}), abs({b}))"),
            ],
            Self::Text => vec![
                format!("{a} = {b}"),
                format!("{EDITS_FUNCTION}({a}, {b}) <= 1"),
                format!("{EDITS_FUNCTION}({a}, {b}) <= 2"),
                format!("jaro_winkler_similarity({a}, {b}) >= 0.9"),
            ],
            Self::Exact => vec![format!("{a} = {b}")],
        };
        let top = conditions.len();
        let mut sql = format!("CAST(CASE WHEN {a} IS NULL OR {b} IS NULL THEN -1");
        for (i, condition) in conditions.iter().enumerate() {
            sql.push_str(&format!(" WHEN {condition} THEN {}", top - i));
        }
        sql.push_str(" ELSE 0 END AS TINYINT)");
        sql
    }
}

/// One column compared one way.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Comparison {
    pub column: String,
    pub kind: CompareKind,
}

impl Comparison {
    /// `COL:KIND`, as the command line writes it.
    pub fn parse(text: &str) -> Result<Self> {
        let (column, kind) = text
            .rsplit_once(':')
            .ok_or_else(|| EngineError::InvalidOption(format!("--compare takes COLUMN:KIND (for example surname:name); got {text:?}")))?;
        Ok(Self { column: column.trim().to_string(), kind: CompareKind::parse(kind)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels_of(kind: CompareKind, pairs: &[(&str, &str)]) -> Vec<i8> {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        super::super::distance::register(&conn).unwrap();
        crate::engine::fold::register(&conn).unwrap();
        pairs
            .iter()
            .map(|(x, y)| {
                let (a, a2) = kind.prepare_sql("x");
                let (b, b2) = kind.prepare_sql("y");
                let sql = format!(
                    "SELECT {} FROM (SELECT {a} AS a, {a2} AS a2, {b} AS b, {b2} AS b2 FROM (SELECT ?::VARCHAR AS x, ?::VARCHAR AS y))",
                    kind.level_sql("a", "b", "a2", "b2")
                );
                conn.query_row(&sql, [x, y], |r| r.get::<_, i8>(0)).unwrap()
            })
            .collect()
    }

    #[test]
    fn names_dates_and_postcodes_fall_into_their_levels() {
        let name = CompareKind::Name;
        assert_eq!(levels_of(name, &[("Smith", " smith"), ("Smyth", "Smith"), ("Jonathan", "Jonathon"), ("Jon", "John"), ("Ann", "Zoe"), ("", "x")]), vec![4, 3, 3, 3, 0, -1]);
        assert_eq!(levels_of(name, &[("Müller", "Mueller"), ("Katherine", "Kathryn")]), vec![3, 2]);
        let date = CompareKind::Date;
        assert_eq!(
            levels_of(date, &[("19840312", "1984-03-12"), ("19840312", "19841203"), ("19840312", "19840313"), ("19840312", "19840601"), ("19840312", "19900101"), ("19840312", "20200101")]),
            vec![4, 3, 3, 2, 1, 0]
        );
        assert_eq!(levels_of(CompareKind::Postcode, &[("LS6 3QR", "ls63qr"), ("LS6 3QR", "LS6 3QP"), ("LS6 3QR", "LS6 1AA"), ("2031", "2038"), ("2031", "3000")]), vec![3, 2, 1, 2, 0]);
        assert_eq!(levels_of(CompareKind::Email, &[("a.b@x.com", "A.B@x.com"), ("a.b@x.com", "a.b@y.org"), ("jsmith@x.com", "jsmyth@x.com")]), vec![3, 2, 1]);
        assert_eq!(levels_of(CompareKind::Phone, &[("+44 7700 900123", "07700900123"), ("07700900123", "07700900124")]), vec![2, 1]);
    }

    #[test]
    fn kinds_parse_by_name_and_say_what_they_take() {
        assert_eq!(Comparison::parse("surname:name").unwrap(), Comparison { column: "surname".into(), kind: CompareKind::Name });
        assert_eq!(Comparison::parse("a:b:date").unwrap().column, "a:b");
        let err = Comparison::parse("surname:nmae").unwrap_err().to_string();
        assert!(err.contains("unknown comparison \"nmae\"") && err.contains("name, date"), "{err}");
        assert!(Comparison::parse("surname").is_err());
        for kind in KINDS {
            assert_eq!(kind.levels(), kind.level_labels().len());
            let labels = kind.level_labels();
            assert_eq!((labels[0], labels[labels.len() - 1]), ("different", "exact"));
        }
    }
}
