//! The engine's error taxonomy. Every failure a user can meet maps to one variant whose
//! message reads as a plain sentence naming the file, line and column where they are known.

use std::path::{Path, PathBuf};

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("table \"{0}\" does not exist")]
    TableNotFound(String),

    #[error("column \"{column}\" does not exist in table \"{table}\"")]
    ColumnNotFound { table: String, column: String },

    #[error("{}", invalid_data_message(file, *line, column.as_deref(), reason))]
    InvalidData {
        file: PathBuf,
        line: Option<u64>,
        column: Option<String>,
        reason: String,
    },

    #[error("a table named \"{0}\" already exists")]
    Duplicate(String),

    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    #[error("{0}")]
    Processing(String),

    #[error("{}", database_message(.0))]
    Database(#[from] duckdb::Error),

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cancelled")]
    Cancelled,
}

impl EngineError {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Bad input not tied to a line or column.
    pub fn invalid_file(file: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        Self::InvalidData {
            file: file.as_ref().to_path_buf(),
            line: None,
            column: None,
            reason: reason.into(),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    /// Short machine-readable kind, used in `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TableNotFound(_) => "table_not_found",
            Self::ColumnNotFound { .. } => "column_not_found",
            Self::InvalidData { .. } => "invalid_data",
            Self::Duplicate(_) => "duplicate",
            Self::InvalidName { .. } => "invalid_name",
            Self::Processing(_) => "processing",
            Self::Database(_) => "database",
            Self::Io { .. } => "io",
            Self::Cancelled => "cancelled",
        }
    }
}

fn invalid_data_message(file: &Path, line: Option<u64>, column: Option<&str>, reason: &str) -> String {
    let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut msg = name;
    match (line, column) {
        (Some(line), Some(column)) => msg.push_str(&format!(": line {line}, column \"{column}\"")),
        (Some(line), None) => msg.push_str(&format!(": line {line}")),
        (None, Some(column)) => msg.push_str(&format!(": column \"{column}\"")),
        (None, None) => {}
    }
    msg.push_str(": ");
    msg.push_str(reason);
    msg
}

/// DuckDB messages start with an error class ("Conversion Error: …"); keep the text, drop
/// the duplicated "Error: " noise of nested wrappers.
fn database_message(err: &duckdb::Error) -> String {
    let text = err.to_string();
    text.trim().to_string()
}
