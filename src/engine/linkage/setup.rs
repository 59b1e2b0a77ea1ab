//! The automatic set-up: what each column holds (from its name, its stored profile's meaning
//! when the table was profiled since it last changed, its type and its values), how to compare
//! it, and which blocking rules keep the candidate pairs few enough.

use duckdb::Connection;
use serde::Serialize;

use super::compare::{CompareKind, Comparison};
use crate::engine::error::Result;
use crate::engine::kind::ColumnKind;
use crate::engine::profile::{ColumnProfile, Meaning};
use crate::engine::sql::quote_ident;
use crate::engine::workspace::ColumnInfo;

/// A column's proposed comparison, or why it is left out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Proposal {
    pub column: String,
    pub kind: Option<CompareKind>,
    pub reason: String,
}

fn words(name: &str) -> Vec<String> {
    // `firstName`, `first_name` and `FIRST NAME` alike.
    let mut spaced = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_uppercase() && previous_lower {
            spaced.push(' ');
        }
        previous_lower = c.is_lowercase();
        spaced.push(c);
    }
    spaced.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// What the name of a column says it holds.
fn kind_by_name(name: &str) -> Option<CompareKind> {
    let w = words(name);
    let has = |list: &[&str]| w.iter().any(|x| list.contains(&x.as_str()));
    let joined = w.join("");
    if has(&["email", "mail"]) || joined.contains("email") {
        Some(CompareKind::Email)
    } else if has(&["phone", "tel", "telephone", "mobile", "cell", "fax"]) || joined.contains("phone") {
        Some(CompareKind::Phone)
    } else if has(&["dob", "birth", "birthday", "born", "birthdate"]) || joined.contains("dateofbirth") {
        Some(CompareKind::Date)
    } else if has(&["postcode", "zip", "zipcode", "postal", "postalcode", "plz"]) || joined.contains("postcode") {
        Some(CompareKind::Postcode)
    } else if has(&["first", "given", "forename", "fname", "firstname", "givenname", "surname", "last", "lname", "lastname", "family", "name", "middle", "forenames"]) {
        Some(CompareKind::Name)
    } else if has(&["city", "town", "suburb", "locality", "village", "address", "street", "road", "addr"]) || joined.starts_with("address") {
        Some(CompareKind::Text)
    } else if has(&["state", "country", "gender", "sex", "region", "province", "county", "title"]) {
        Some(CompareKind::Exact)
    } else if has(&["id", "ssn", "sec", "nhs", "passport", "code", "number", "no", "num"]) {
        Some(CompareKind::Code)
    } else if has(&["date"]) {
        Some(CompareKind::Date)
    } else {
        None
    }
}

/// Name words of a column that numbers or names rows.
fn names_a_row(name: &str) -> bool {
    let w = words(name);
    w.iter().any(|x| ["id", "key", "uuid", "guid", "row", "index", "rownum", "recid", "pk"].contains(&x.as_str())) || w.join("") == "recid"
}

/// Figures of one column's values that decide how to compare it.
struct Facts {
    count: i64,
    distinct: i64,
    emails: f64,
    dates: f64,
    phones: f64,
    mean_length: f64,
}

fn facts(conn: &Connection, table: &str, column: &str) -> Result<Facts> {
    let c = quote_ident(column);
    let t = quote_ident(table);
    let text = format!("nullif(trim(CAST({c} AS VARCHAR)), '')");
    let date = format!("coalesce(TRY_CAST({text} AS DATE), try_strptime({text}, ['%d/%m/%Y', '%m/%d/%Y', '%d.%m.%Y']))");
    let sql = format!(
        "SELECT count({text}), count(DISTINCT {text}),
                coalesce(avg(CASE WHEN regexp_full_match({text}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+') THEN 1.0 ELSE 0.0 END), 0),
                coalesce(avg(CASE WHEN {date} IS NOT NULL THEN 1.0 ELSE 0.0 END), 0),
                coalesce(avg(CASE WHEN regexp_full_match({text}, '[+]?[0-9 ()./-]{{7,20}}') AND length(regexp_replace({text}, '[^0-9]', '', 'g')) BETWEEN 7 AND 15 THEN 1.0 ELSE 0.0 END), 0),
                coalesce(avg(length({text})), 0)
         FROM (SELECT {c} FROM {t} USING SAMPLE 20000 ROWS)"
    );
    Ok(conn.query_row(&sql, [], |r| Ok(Facts { count: r.get(0)?, distinct: r.get(1)?, emails: r.get(2)?, dates: r.get(3)?, phones: r.get(4)?, mean_length: r.get(5)? }))?)
}

/// The share of `table`'s distinct values of `column` that `other` has too.
fn shared_share(conn: &Connection, table: &str, other: &str, column: &str) -> Result<f64> {
    let c = quote_ident(column);
    let sql = format!(
        "SELECT count(*) FILTER (WHERE b.v IS NOT NULL) / greatest(count(*), 1) FROM (SELECT DISTINCT CAST({c} AS VARCHAR) AS v FROM {}) AS a
         LEFT JOIN (SELECT DISTINCT CAST({c} AS VARCHAR) AS v FROM {}) AS b ON a.v = b.v",
        quote_ident(table),
        quote_ident(other)
    );
    Ok(conn.query_row(&sql, [], |r| r.get(0))?)
}

/// Proposes a comparison for every column (or says why it is left out): `excluded` columns
/// and columns that number or name rows are left out.
pub fn propose(conn: &Connection, table: &str, other: Option<&str>, columns: &[ColumnInfo], excluded: &[String]) -> Result<Vec<Proposal>> {
    // The table's profile, when it describes the rows as they are.
    let profile: Vec<ColumnProfile> = match crate::engine::profile::store::load(conn, table) {
        Ok(Some(stored)) if !stored.stale && stored.profile.filtered.is_none() => stored.profile.column_profiles,
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for column in columns {
        let profiled = profile.iter().find(|p| p.name == column.name);
        let leave = |reason: &str| Proposal { column: column.name.clone(), kind: None, reason: reason.to_string() };
        if excluded.iter().any(|e| e.eq_ignore_ascii_case(&column.name)) {
            out.push(leave("left out as asked"));
            continue;
        }
        if matches!(column.kind, ColumnKind::Nested | ColumnKind::Blob | ColumnKind::Other | ColumnKind::Interval) {
            out.push(leave("lists, structs and blobs are not compared"));
            continue;
        }
        let f = facts(conn, table, &column.name)?;
        if f.count == 0 {
            out.push(leave("empty in the rows looked at"));
            continue;
        }
        let unique = match profiled {
            Some(p) => p.is_unique() && p.count - p.nulls >= 20,
            None => f.distinct as f64 >= 0.999 * f.count as f64 && f.count >= 20,
        };
        let by_name = kind_by_name(&column.name);
        // A row number or record key differs in every row; when linking, a key both tables
        // share (each person once in each) is the best evidence there is.
        let identifier = profiled.is_some_and(|p| p.meaning == Meaning::Identifier);
        let row_key = unique && (names_a_row(&column.name) || identifier || (matches!(column.kind, ColumnKind::Integer { .. }) && by_name.is_none()));
        if row_key && other.map_or(Ok(true), |o| shared_share(conn, table, o, &column.name).map(|s| s < 0.1))? {
            out.push(leave("identifies a row (every value differs)"));
            continue;
        }
        if f.distinct <= 1 {
            out.push(leave("one value in every row"));
            continue;
        }
        let (kind, reason) = match (by_name, profiled.and_then(kind_by_meaning)) {
            (Some(kind), _) => (kind, "its name"),
            (None, Some(kind)) => (kind, "its profile"),
            (None, None) => match column.kind {
                ColumnKind::Date | ColumnKind::Timestamp { .. } => (CompareKind::Date, "its type"),
                ColumnKind::Integer { .. } | ColumnKind::Decimal { .. } | ColumnKind::Float { .. } => (CompareKind::Number, "its type"),
                ColumnKind::Boolean => (CompareKind::Exact, "its type"),
                _ if f.emails >= 0.8 => (CompareKind::Email, "its values"),
                _ if f.dates >= 0.9 => (CompareKind::Date, "its values"),
                _ if f.phones >= 0.9 => (CompareKind::Phone, "its values"),
                _ if f.distinct <= 30 => (CompareKind::Exact, "few distinct values"),
                _ => (CompareKind::Text, "its values"),
            },
        };
        let _ = f.mean_length;
        out.push(Proposal { column: column.name.clone(), kind: Some(kind), reason: format!("{} by {reason}", kind.name()) });
    }
    Ok(out)
}

/// How to compare a text column by what its profile says it holds; other types go by type.
fn kind_by_meaning(p: &ColumnProfile) -> Option<CompareKind> {
    match p.meaning {
        Meaning::Email => Some(CompareKind::Email),
        Meaning::Phone => Some(CompareKind::Phone),
        Meaning::DateAsText => Some(CompareKind::Date),
        Meaning::NumberAsText => Some(CompareKind::Code),
        Meaning::Url => Some(CompareKind::Exact),
        Meaning::Categorical if p.distinct <= 30 => Some(CompareKind::Exact),
        Meaning::Categorical | Meaning::FreeText => Some(CompareKind::Text),
        _ => None,
    }
}

/// The comparisons of the proposals that have one.
pub fn comparisons(proposals: &[Proposal]) -> Vec<Comparison> {
    proposals.iter().filter_map(|p| p.kind.map(|kind| Comparison { column: p.column.clone(), kind })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_say_what_they_hold() {
        let cases = [
            ("given_name", Some(CompareKind::Name)),
            ("Surname", Some(CompareKind::Name)),
            ("firstName", Some(CompareKind::Name)),
            ("date_of_birth", Some(CompareKind::Date)),
            ("dob", Some(CompareKind::Date)),
            ("postcode", Some(CompareKind::Postcode)),
            ("ZIP", Some(CompareKind::Postcode)),
            ("email", Some(CompareKind::Email)),
            ("e-mail", Some(CompareKind::Email)),
            ("phone", Some(CompareKind::Phone)),
            ("address_1", Some(CompareKind::Text)),
            ("suburb", Some(CompareKind::Text)),
            ("state", Some(CompareKind::Exact)),
            ("soc_sec_id", Some(CompareKind::Code)),
            ("street_number", Some(CompareKind::Text)),
            ("amount", None),
        ];
        for (name, kind) in cases {
            assert_eq!(kind_by_name(name), kind, "{name}");
        }
        assert!(names_a_row("rec_id") && names_a_row("id") && names_a_row("RowId") && !names_a_row("surname"));
    }
}
