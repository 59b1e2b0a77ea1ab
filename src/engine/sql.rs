//! The only place SQL text is assembled from names. Identifiers are always double-quoted
//! with embedded quotes doubled; string literals (paths in `read_csv`/`COPY`, which DuckDB
//! does not accept as bound parameters) are single-quoted the same way.

use super::error::{EngineError, Result};

/// Prefix of staging tables; they never appear in the catalog and are swept at open.
pub const STAGING_PREFIX: &str = "__dataforge_staging_";
/// Schema that holds the workspace's own metadata.
pub const META_SCHEMA: &str = "dataforge_meta";
/// In-memory database, shared by the workspace's connections, for scratch tables.
pub const SCRATCH_DB: &str = "dataforge_scratch";

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A column type that is safe to write into SQL unquoted, as in `TRY_CAST(x AS {ty})`.
///
/// The only constructor, [`SqlType::parse`], accepts type syntax and nothing else: words,
/// numbers, double-quoted names (STRUCT fields), single-quoted values inside parentheses
/// (ENUM lists), commas, balanced parentheses and `[]` suffixes. With parentheses balanced, a type cannot close the expression around it, and
/// quotes, semicolons and comments are refused, so no front end, options file or catalog
/// text can smuggle a statement in. Whether the type exists is DuckDB's to say.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SqlType(String);

impl SqlType {
    /// # Failure
    /// `InvalidOption` when `text` is not type syntax.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let invalid = || {
            EngineError::InvalidOption(format!(
                "\"{text}\" is not a column type (e.g. BIGINT, DOUBLE, DATE, VARCHAR, DECIMAL(10,2))"
            ))
        };
        if text.is_empty() || text.len() > 1000 || !text.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(invalid());
        }
        let mut depth = 0i32;
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    // A quoted name: any text, with "" for a quote, up to the closing quote.
                    out.push('"');
                    loop {
                        match chars.next() {
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                out.push_str("\"\"");
                            }
                            Some('"') => break,
                            Some(ch) if !ch.is_control() => out.push(ch),
                            _ => return Err(invalid()),
                        }
                    }
                    out.push('"');
                }
                // A value of an ENUM's list: any text, with '' for a quote, inside parentheses.
                '\'' if depth > 0 => {
                    out.push('\'');
                    loop {
                        match chars.next() {
                            Some('\'') if chars.peek() == Some(&'\'') => {
                                chars.next();
                                out.push_str("''");
                            }
                            Some('\'') => break,
                            Some(ch) if !ch.is_control() => out.push(ch),
                            _ => return Err(invalid()),
                        }
                    }
                    out.push('\'');
                }
                '(' | '[' => {
                    depth += 1;
                    out.push(c);
                }
                ')' | ']' => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(invalid());
                    }
                    out.push(c);
                }
                // Type names read upper case; names inside STRUCT(…) keep their case.
                c if c.is_ascii_alphanumeric() || c == '_' || c == ',' || c == ' ' => {
                    out.push(if depth == 0 { c.to_ascii_uppercase() } else { c })
                }
                _ => return Err(invalid()),
            }
        }
        if depth != 0 {
            return Err(invalid());
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_text(&self) -> bool {
        self.0.eq_ignore_ascii_case("VARCHAR")
    }

    pub fn varchar() -> Self {
        Self("VARCHAR".into())
    }
}

impl std::fmt::Display for SqlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SqlType {
    type Error = EngineError;
    fn try_from(text: String) -> Result<Self> {
        Self::parse(&text)
    }
}

impl From<SqlType> for String {
    fn from(ty: SqlType) -> String {
        ty.0
    }
}

/// A suffix no other name made in this process or another has: `4242_17`.
pub fn unique_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!("{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Checks a table name chosen by a user. Any printable text up to 128 characters is
/// allowed (it is always quoted); names that collide with internal tables are not.
pub fn validate_table_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| {
        Err(EngineError::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.trim().is_empty() {
        return invalid("a table name cannot be empty");
    }
    if name.chars().count() > 128 {
        return invalid("a table name can have at most 128 characters");
    }
    if name.chars().any(char::is_control) {
        return invalid("a table name cannot contain control characters");
    }
    if name.starts_with(STAGING_PREFIX) {
        return invalid("this prefix is reserved");
    }
    Ok(())
}

/// Derives a friendly table name from a file name: `Flights 2013.csv.gz` → `flights_2013`.
pub fn table_name_from_path(path: &std::path::Path) -> String {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut stem = file.as_str();
    loop {
        match stem.rsplit_once('.') {
            Some((head, ext)) if !head.is_empty() && super::formats::is_known_extension(ext) => stem = head,
            _ => break,
        }
    }
    let mut name = String::with_capacity(stem.len());
    for ch in stem.chars() {
        if ch.is_alphanumeric() {
            name.extend(ch.to_lowercase());
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    let name = name.trim_matches('_').to_string();
    match name.chars().next() {
        None => "table".to_string(),
        Some(c) if c.is_ascii_digit() => format!("t_{name}"),
        Some(_) => name,
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn quotes_identifiers_and_literals() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn derives_table_names() {
        assert_eq!(table_name_from_path(Path::new("/x/Flights 2013.csv.gz")), "flights_2013");
        assert_eq!(table_name_from_path(Path::new("2024-sales.parquet")), "t_2024_sales");
        assert_eq!(table_name_from_path(Path::new("...csv")), "table");
        assert_eq!(table_name_from_path(Path::new("Müller.csv")), "müller");
    }

    #[test]
    fn sql_types_accept_type_syntax_only() {
        for (text, normal) in [
            ("bigint", "BIGINT"),
            (" DECIMAL(10, 2) ", "DECIMAL(10, 2)"),
            ("timestamp with time zone", "TIMESTAMP WITH TIME ZONE"),
            ("INTEGER[]", "INTEGER[]"),
            ("STRUCT(\"a \"\"b\"\"\" INTEGER, c VARCHAR)", "STRUCT(\"a \"\"b\"\"\" INTEGER, c VARCHAR)"),
            ("MAP(VARCHAR, DOUBLE)", "MAP(VARCHAR, DOUBLE)"),
            ("ENUM('a', 'it''s; DROP')", "ENUM('a', 'it''s; DROP')"),
        ] {
            assert_eq!(SqlType::parse(text).unwrap().as_str(), normal, "{text}");
        }
        for bad in [
            "INTEGER); DROP TABLE x; --",
            "INTEGER) FROM t UNION SELECT (1",
            "VARCHAR -- x",
            "'text'",
            "INTEGER(",
            "\"open",
            "",
            "1NT",
            "DOUBLE; SELECT 1",
            "ENUM('a'); DROP TABLE x; --')",
            "ENUM('open)",
        ] {
            let err = SqlType::parse(bad).unwrap_err();
            assert!(matches!(err, EngineError::InvalidOption(_)), "{bad}: {err:?}");
        }
        let from_json: std::result::Result<SqlType, _> = serde_json::from_str("\"INTEGER); DROP TABLE x; --\"");
        assert!(from_json.is_err(), "an options file cannot bypass the check");
    }

    #[test]
    fn rejects_bad_names() {
        assert!(validate_table_name("").is_err());
        assert!(validate_table_name("a\nb").is_err());
        assert!(validate_table_name("__dataforge_staging_x").is_err());
        assert!(validate_table_name("sales \"2024\"").is_ok());
    }
}
