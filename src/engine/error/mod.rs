//! The engine's error taxonomy. Every failure a user can meet maps to one variant whose
//! message reads as a plain sentence naming the file, line and column where they are known.
//! DuckDB's own messages are read in one place ([`duckdb_message`]) and turned into these
//! variants there, so no other module matches on DuckDB's wording.

pub mod duckdb_message;

use std::path::{Path, PathBuf};

pub use self::duckdb_message::DuckMessage;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("table \"{0}\" does not exist")]
    TableNotFound(String),

    #[error("column \"{column}\" does not exist in table \"{table}\"")]
    ColumnNotFound { table: String, column: String },

    /// Bad input data, located as precisely as it can be.
    #[error("{}", located(file, *line, column.as_deref(), reason))]
    InvalidData {
        file: PathBuf,
        line: Option<u64>,
        column: Option<String>,
        reason: String,
    },

    /// Text that is not valid in the encoding it is read as.
    #[error("{}", located(file, *line, None, &format!("the text is not valid {encoding}; choose its encoding")))]
    InvalidEncoding { file: PathBuf, line: Option<u64>, encoding: String },

    /// A value that a change of type would round, cut or drop.
    #[error("{0}")]
    ValueChanged(Box<ChangedValue>),

    /// A reader failed on a file for a reason that is not bad data at a known place.
    #[error("{}: {reason}", display_name(file))]
    ReadFailed { file: PathBuf, reason: String },

    /// A workbook sheet without cells.
    #[error("{}: sheet \"{sheet}\" is empty; there is nothing to import", display_name(file))]
    EmptySheet { file: PathBuf, sheet: String },

    #[error("a table named \"{0}\" already exists")]
    Duplicate(String),

    /// An export target that is there already, not to be replaced without asking.
    #[error("{} already exists; choose another name or replace it (--force)", .0.display())]
    OutputExists(PathBuf),

    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    /// A value the user typed (an option, a setting, a column type) that cannot be used.
    #[error("{0}")]
    InvalidOption(String),

    /// What was read does not fit the table it is meant for.
    #[error("{0}")]
    SchemaMismatch(String),

    /// Something the engine does not do with this kind of object.
    #[error("{0}")]
    Unsupported(String),

    #[error("the workspace {} is open in another dataforge window or command; close it first", .0.display())]
    WorkspaceLocked(PathBuf),

    #[error("cannot open the workspace {}: {reason}", path.display())]
    WorkspaceUnavailable { path: PathBuf, reason: String },

    /// Work that needs the workspace to itself while other work runs.
    #[error("{0}")]
    Busy(String),

    #[error("no space left on device writing {}", .0.display())]
    DiskFull(PathBuf),

    #[error("out of memory: {0}; lower the worker threads or raise the memory limit in Settings")]
    OutOfMemory(String),

    #[error("{0}")]
    Database(String),

    /// DuckDB refused a statement typed in the SQL console, at this line and column of it
    /// (0 when unknown).
    #[error("{}", sql_located(*line, *column, message))]
    SqlError { line: usize, column: usize, message: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A bug: a panic, a broken invariant, an unexpected DuckDB internal error.
    #[error("internal error: {0}")]
    Internal(String),

    #[error("cancelled")]
    Cancelled,
}

impl From<duckdb::Error> for EngineError {
    fn from(err: duckdb::Error) -> Self {
        DuckMessage::new(&err.to_string()).into_error()
    }
}

impl EngineError {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        let path = path.as_ref().to_path_buf();
        if source.raw_os_error() == Some(28) || source.kind() == std::io::ErrorKind::StorageFull {
            return Self::DiskFull(path);
        }
        Self::Io { path, source }
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
            Self::InvalidEncoding { .. } => "invalid_encoding",
            Self::ValueChanged(_) => "value_changed",
            Self::ReadFailed { .. } => "read_failed",
            Self::EmptySheet { .. } => "empty_sheet",
            Self::Duplicate(_) => "duplicate",
            Self::InvalidName { .. } => "invalid_name",
            Self::OutputExists(_) => "output_exists",
            Self::InvalidOption(_) => "invalid_option",
            Self::SchemaMismatch(_) => "schema_mismatch",
            Self::Unsupported(_) => "unsupported",
            Self::WorkspaceLocked(_) => "workspace_locked",
            Self::WorkspaceUnavailable { .. } => "workspace_unavailable",
            Self::Busy(_) => "busy",
            Self::DiskFull(_) => "disk_full",
            Self::OutOfMemory(_) => "out_of_memory",
            Self::Database(_) => "database",
            Self::SqlError { .. } => "sql",
            Self::Io { .. } => "io",
            Self::Internal(_) => "internal",
            Self::Cancelled => "cancelled",
        }
    }

    /// True for mistakes in what the user asked for (the CLI exits with 2, as for usage).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::InvalidOption(_) | Self::InvalidName { .. })
    }

    /// The same error with a temporary path replaced by the path the user knows.
    pub fn with_path_shown_as(self, temp: &Path, shown: &Path) -> Self {
        match self {
            Self::DiskFull(p) if p == temp => Self::DiskFull(shown.to_path_buf()),
            Self::Io { path, source } if path == temp => Self::Io { path: shown.to_path_buf(), source },
            Self::Database(text) => {
                Self::Database(text.replace(&*temp.to_string_lossy(), &shown.to_string_lossy()))
            }
            other => other,
        }
    }
}

/// Where a value that would change sits, what it would become, and what would keep it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChangedValue {
    /// The file (or table) the value comes from.
    pub origin: String,
    /// 1-based row of the value in its file or table.
    pub row: Option<u64>,
    pub column: String,
    pub value: String,
    /// What it would be stored as; `None` when it cannot be stored at all.
    pub becomes: Option<String>,
    /// The type it would be stored as.
    pub data_type: String,
    /// The table it is going into, when there is one already.
    pub table: Option<String>,
    /// A type that holds both the column's values and this one, when there is one.
    pub widen_to: Option<String>,
}

impl std::fmt::Display for ChangedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if let Some(row) = self.row {
            write!(f, "row {}, ", crate::engine::config::group_digits(row))?;
        }
        write!(f, "column \"{}\": \"{}\"", self.column, self.value)?;
        let into = match &self.table {
            Some(table) => format!("in \"{table}\", whose column is {}", self.data_type),
            None => format!("as {}", self.data_type),
        };
        match &self.becomes {
            Some(becomes) => write!(f, " would be stored as {becomes} {into}")?,
            None => write!(f, " cannot be stored {into}")?,
        }
        match &self.widen_to {
            Some(wider) => write!(f, "; widen \"{}\" to {wider} to keep it (--widen)", self.column),
            None => Ok(()),
        }
    }
}

pub fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn sql_located(line: usize, column: usize, message: &str) -> String {
    if line == 0 { message.to_string() } else { format!("line {line}, column {column}: {message}") }
}

fn located(file: &Path, line: Option<u64>, column: Option<&str>, reason: &str) -> String {
    let mut msg = display_name(file);
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
