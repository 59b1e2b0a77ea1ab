//! What a user can say about an import. Everything left `None` is detected.

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Parquet,
    Json,
    Excel,
    Arrow,
}

impl FileFormat {
    pub const ALL: [FileFormat; 5] = [Self::Csv, Self::Parquet, Self::Json, Self::Excel, Self::Arrow];

    pub fn label(self) -> &'static str {
        match self {
            Self::Csv => "CSV / delimited text",
            Self::Parquet => "Parquet",
            Self::Json => "JSON / NDJSON",
            Self::Excel => "Excel / ODS",
            Self::Arrow => "Arrow IPC",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "csv" | "tsv" | "text" | "txt" => Self::Csv,
            "parquet" => Self::Parquet,
            "json" | "ndjson" | "jsonl" => Self::Json,
            "excel" | "xlsx" | "xls" | "xlsb" | "xlsm" | "ods" => Self::Excel,
            "arrow" | "ipc" | "feather" => Self::Arrow,
            other => return Err(EngineError::Processing(format!("unknown format \"{other}\" (csv, parquet, json, excel, arrow)"))),
        })
    }
}

/// What happens to values or lines that do not fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop and keep nothing; the error names file, line, column, value and reason.
    #[default]
    Fail,
    /// Load the good rows; the bad lines go to a rejects table.
    Skip,
    /// A column whose values do not fit its type is kept as text.
    Text,
}

impl OnError {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            "text" => Ok(Self::Text),
            other => Err(EngineError::Processing(format!("unknown --on-error \"{other}\" (fail, skip, text)"))),
        }
    }
}

/// Dialect of delimited text; `None` means "detect".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CsvOptions {
    pub delimiter: Option<String>,
    pub quote: Option<String>,
    pub escape: Option<String>,
    pub header: Option<bool>,
    /// Lines to skip before the header (preamble).
    pub skip: Option<u64>,
    pub comment: Option<String>,
    /// Strings read as NULL (besides the empty field).
    pub nulls: Vec<String>,
    pub date_format: Option<String>,
    pub timestamp_format: Option<String>,
}

/// A column the import must produce: checked before anything lands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectedColumn {
    pub name: String,
    pub data_type: Option<String>,
    pub not_null: bool,
}

impl ExpectedColumn {
    /// `name`, `name:TYPE`, optionally ending in `!` for NOT NULL.
    pub fn parse_list(text: &str) -> Result<Vec<Self>> {
        split_top_level(text)
            .into_iter()
            .map(|item| {
                let (item, not_null) = match item.strip_suffix('!') {
                    Some(rest) => (rest.trim(), true),
                    None => (item, false),
                };
                let (name, data_type) = match item.split_once(':') {
                    Some((n, t)) => (n.trim(), Some(validate_type(t.trim())?)),
                    None => (item, None),
                };
                if name.is_empty() {
                    return Err(EngineError::Processing(format!("expected schema entry \"{item}\" has no column name")));
                }
                Ok(Self { name: name.to_string(), data_type, not_null })
            })
            .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// Reader to use; detected from the name and first bytes when `None`.
    pub format: Option<FileFormat>,
    pub csv: CsvOptions,
    /// Text encoding label (`windows-1252`, `shift_jis`, `utf-16le`…); detected when `None`.
    pub encoding: Option<String>,
    /// Excel sheet name; the first sheet when `None`.
    pub sheet: Option<String>,
    /// The derived table name gets the sheet's name (one table per sheet).
    pub name_by_sheet: bool,
    /// Column types the user fixes: (column, DuckDB type).
    pub types: Vec<(String, String)>,
    pub on_error: OnError,
    /// Target table; derived from the file name when `None`.
    pub table: Option<String>,
    /// Append to the existing `table` instead of creating it.
    pub append: bool,
    /// When appending, add columns the table does not have yet (else that is an error).
    pub add_columns: bool,
    /// Several files into one table get a `source_file` column unless this is false.
    pub source_column: bool,
    pub expect: Vec<ExpectedColumn>,
}

impl ImportOptions {
    pub fn new() -> Self {
        Self { source_column: true, ..Self::default() }
    }

    /// Parses `col=TYPE,col2=TYPE(…)`.
    pub fn parse_types(text: &str) -> Result<Vec<(String, String)>> {
        split_top_level(text)
            .into_iter()
            .map(|item| {
                let (name, ty) = item
                    .split_once('=')
                    .ok_or_else(|| EngineError::Processing(format!("--types entry \"{item}\" is not column=TYPE")))?;
                Ok((name.trim().to_string(), validate_type(ty.trim())?))
            })
            .collect()
    }
}

/// Splits on commas that are not inside parentheses (`DECIMAL(10,2)`).
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// A type name goes into SQL unquoted, so only type-name characters are allowed; DuckDB
/// itself then says whether the type exists.
pub fn validate_type(ty: &str) -> Result<String> {
    let ok = !ty.is_empty()
        && ty.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && ty.chars().all(|c| c.is_ascii_alphanumeric() || " _(),[]".contains(c));
    if ok {
        Ok(ty.to_ascii_uppercase())
    } else {
        Err(EngineError::Processing(format!("\"{ty}\" is not a column type (e.g. BIGINT, DOUBLE, DATE, VARCHAR, DECIMAL(10,2))")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types_and_expectations() {
        let types = ImportOptions::parse_types("a=bigint, b=DECIMAL(10,2),c = date").unwrap();
        assert_eq!(types, vec![("a".into(), "BIGINT".into()), ("b".into(), "DECIMAL(10,2)".into()), ("c".into(), "DATE".into())]);
        assert!(ImportOptions::parse_types("a=int; drop table x").is_err());
        assert!(ImportOptions::parse_types("a").is_err());
        let expect = ExpectedColumn::parse_list("id:BIGINT!,name").unwrap();
        assert_eq!(expect[0], ExpectedColumn { name: "id".into(), data_type: Some("BIGINT".into()), not_null: true });
        assert_eq!(expect[1], ExpectedColumn { name: "name".into(), data_type: None, not_null: false });
    }
}
