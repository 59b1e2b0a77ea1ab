//! The only place SQL text is assembled from names. Identifiers are always double-quoted
//! with embedded quotes doubled; string literals (paths in `read_csv`/`COPY`, which DuckDB
//! does not accept as bound parameters) are single-quoted the same way.

use super::error::{EngineError, Result};

/// Prefix of staging tables; they never appear in the catalog and are swept at open.
pub const STAGING_PREFIX: &str = "__dataforge_staging_";
/// Schema that holds the workspace's own metadata.
pub const META_SCHEMA: &str = "dataforge_meta";

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
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
            Some((head, ext)) if !head.is_empty() && is_known_extension(ext) => stem = head,
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

fn is_known_extension(ext: &str) -> bool {
    matches!(
        ext.to_ascii_lowercase().as_str(),
        "csv" | "tsv" | "txt" | "psv" | "tab" | "dat" | "gz" | "zst" | "zip" | "parquet" | "pq" | "json" | "jsonl" | "ndjson"
            | "geojson" | "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" | "arrow" | "arrows" | "arrow_file" | "feather" | "ipc"
    )
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
    fn rejects_bad_names() {
        assert!(validate_table_name("").is_err());
        assert!(validate_table_name("a\nb").is_err());
        assert!(validate_table_name("__dataforge_staging_x").is_err());
        assert!(validate_table_name("sales \"2024\"").is_ok());
    }
}
