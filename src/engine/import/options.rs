//! What a user can say about an import. Everything left `None` is detected.

use serde::{Deserialize, Serialize};

pub use crate::engine::formats::FileFormat;
use crate::engine::error::{EngineError, Result};
use crate::engine::sql::SqlType;

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
            other => Err(EngineError::InvalidOption(format!("unknown --on-error \"{other}\" (fail, skip, text)"))),
        }
    }
}

fn yes() -> bool {
    true
}

/// Dialect of delimited text; `None` means "detect".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CsvOptions {
    pub delimiter: Option<String>,
    pub quote: Option<String>,
    pub escape: Option<String>,
    pub header: Option<bool>,
    /// Lines to skip before the header (preamble).
    pub skip: Option<u64>,
    pub comment: Option<String>,
    /// Strings read as NULL in every column (besides the empty field); when set, they replace
    /// the NA tokens.
    pub nulls: Vec<String>,
    /// "NA", "N/A", "NULL", "null", "nan"… read as NULL in number and date columns.
    #[serde(default = "yes")]
    pub na_as_null: bool,
    pub date_format: Option<String>,
    pub timestamp_format: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: None,
            quote: None,
            escape: None,
            header: None,
            skip: None,
            comment: None,
            nulls: Vec::new(),
            na_as_null: true,
            date_format: None,
            timestamp_format: None,
        }
    }
}

/// A column the import must produce: checked before anything lands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectedColumn {
    pub name: String,
    pub data_type: Option<SqlType>,
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
                    Some((n, t)) => (n.trim(), Some(SqlType::parse(t)?)),
                    None => (item, None),
                };
                if name.is_empty() {
                    return Err(EngineError::InvalidOption(format!("expected schema entry \"{item}\" has no column name")));
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
    /// Column types the user fixes.
    pub types: Vec<(String, SqlType)>,
    pub on_error: OnError,
    /// Target table; derived from the file name when `None`.
    pub table: Option<String>,
    /// Append to the existing `table` instead of creating it.
    pub append: bool,
    /// When appending, add columns the table does not have yet (else that is an error).
    pub add_columns: bool,
    /// When appending, let a column's type grow to hold values it would otherwise change
    /// (2.5 into a BIGINT column makes it DOUBLE); else such a value is an error.
    #[serde(default)]
    pub widen: bool,
    /// When appending, leave out rows the table already has: rows with equal values in these
    /// columns (`Some(empty)`: in every column the file and the table share).
    pub skip_existing: Option<Vec<String>>,
    /// Several files into one table get a `source_file` column unless this is false.
    pub source_column: bool,
    pub expect: Vec<ExpectedColumn>,
}

impl ImportOptions {
    pub fn new() -> Self {
        Self { source_column: true, ..Self::default() }
    }

    /// Parses `col=TYPE,col2=TYPE(…)`.
    pub fn parse_types(text: &str) -> Result<Vec<(String, SqlType)>> {
        split_top_level(text)
            .into_iter()
            .map(|item| {
                let (name, ty) = item
                    .split_once('=')
                    .ok_or_else(|| EngineError::InvalidOption(format!("--types entry \"{item}\" is not column=TYPE")))?;
                Ok((name.trim().to_string(), SqlType::parse(ty)?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types_and_expectations() {
        let types = ImportOptions::parse_types("a=bigint, b=DECIMAL(10,2),c = date").unwrap();
        let names: Vec<(&str, &str)> = types.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        assert_eq!(names, vec![("a", "BIGINT"), ("b", "DECIMAL(10,2)"), ("c", "DATE")]);
        assert!(ImportOptions::parse_types("a=int; drop table x").is_err());
        assert!(ImportOptions::parse_types("a").is_err());
        let expect = ExpectedColumn::parse_list("id:BIGINT!,name").unwrap();
        assert_eq!(expect[0], ExpectedColumn { name: "id".into(), data_type: Some(SqlType::parse("BIGINT").unwrap()), not_null: true });
        assert_eq!(expect[1], ExpectedColumn { name: "name".into(), data_type: None, not_null: false });
    }

    #[test]
    fn an_options_file_cannot_smuggle_sql_in_a_type() {
        let text = r#"{"format":null,"csv":{"delimiter":null,"quote":null,"escape":null,"header":null,"skip":null,"comment":null,"nulls":[],"date_format":null,"timestamp_format":null},
            "encoding":null,"sheet":null,"name_by_sheet":false,"types":[["a","INTEGER); DROP TABLE x; --"]],"on_error":"fail","table":null,
            "append":false,"add_columns":false,"source_column":true,"expect":[]}"#;
        let parsed: std::result::Result<ImportOptions, _> = serde_json::from_str(text);
        assert!(parsed.is_err());
        let ok = text.replace("INTEGER); DROP TABLE x; --", "INTEGER");
        let parsed: ImportOptions = serde_json::from_str(&ok).unwrap();
        assert!(parsed.csv.na_as_null, "NA tokens are missing values unless turned off");
    }
}
