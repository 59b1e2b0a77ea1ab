//! Turns reader failures into located, plain-language errors.

use std::path::Path;

use super::display_name;
use crate::engine::error::EngineError;

/// Turns a DuckDB reader failure into a located, plain-language error.
pub fn read_error(path: &Path, err: duckdb::Error) -> EngineError {
    let text = err.to_string();
    if text.contains("INTERRUPT") || text.contains("Interrupted") {
        return EngineError::Cancelled;
    }
    let line = after(&text, "Line: ").and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
    let column = after(&text, "column \"")
        .and_then(|s| s.split('"').next())
        .or_else(|| after(&text, "Column ").and_then(|s| s.split_whitespace().next()))
        .map(str::to_string);
    let reason = summarize(&text);
    if line.is_some() || column.is_some() || is_data_error(&text) {
        EngineError::InvalidData {
            file: path.to_path_buf(),
            line,
            column,
            reason,
        }
    } else {
        EngineError::Processing(format!("{}: {reason}", display_name(path)))
    }
}

fn after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    text.find(marker).map(|i| &text[i + marker.len()..])
}

fn is_data_error(text: &str) -> bool {
    ["Conversion Error", "Invalid Input Error", "Parser Error", "CSV Error", "Invalid Error", "Malformed"]
        .iter()
        .any(|m| text.contains(m))
}

/// DuckDB's reader errors carry a header, the raw line and pages of hints; keep the sentence
/// that says what is wrong, in our words where we recognise it.
pub fn summarize(text: &str) -> String {
    let guessed = text.contains("auto-detected") || text.contains("sniff");
    if let Some((value, data_type)) = conversion_failure(text) {
        let mut reason = format!("\"{value}\" is not a valid {data_type}");
        if guessed {
            reason.push_str(" (the column type was guessed from the first rows of the file)");
        }
        return reason;
    }
    if let Some(rest) = after(text, "Expected Number of Columns: ") {
        let mut numbers = rest.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty());
        let parsed = (numbers.next().and_then(|n| n.parse::<u64>().ok()), numbers.next().and_then(|n| n.parse::<u64>().ok()));
        // DuckDB stops counting at the first extra field, so "found" is exact only when short.
        match parsed {
            (Some(expected), Some(found)) if found > expected => {
                return format!("expected {expected} columns but the line has more");
            }
            (Some(expected), Some(found)) => return format!("expected {expected} columns but the line has {found}"),
            _ => {}
        }
    }
    if text.contains("not possible to automatically detect the CSV parsing dialect") {
        return "the layout (delimiter, quoting, header) could not be detected, because lines disagree on their number of fields; choose the delimiter and quote yourself".into();
    }
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let pick = lines
        .iter()
        .find(|l| {
            l.starts_with("Expected Number of Columns")
                || l.starts_with("Value with unterminated quote")
                || l.contains("Invalid unicode")
        })
        .or_else(|| lines.first())
        .copied()
        .unwrap_or("unknown error");
    let pick = pick.strip_prefix("Invalid Input Error: ").unwrap_or(pick);
    pick.trim_end_matches('.').to_string()
}

/// `Could not convert string "n/a" to 'BIGINT'` → (`n/a`, `BIGINT`).
pub fn conversion_failure(text: &str) -> Option<(&str, &str)> {
    let rest = after(text, "Could not convert string \"")?;
    let (value, rest) = rest.split_once("\" to '")?;
    let (data_type, _) = rest.split_once('\'')?;
    Some((value, data_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_conversion_errors() {
        let text = "Conversion Error: CSV Error on Line: 3\nOriginal Line: 1,abc\nError when converting column \"b\". Could not convert string \"abc\" to 'BIGINT'\n\nColumn b is being converted as type BIGINT\nThis type was auto-detected from the CSV file.";
        assert_eq!(
            summarize(text),
            "\"abc\" is not a valid BIGINT (the column type was guessed from the first rows of the file)"
        );
        assert_eq!(
            summarize("Invalid Input Error: Expected Number of Columns: 2 Found: 4\nmore"),
            "expected 2 columns but the line has more"
        );
    }
}
