//! The engine: everything dataforge does to data, without a window. The GUI and the CLI
//! are two thin front ends over these modules.

pub mod browse;
pub mod catalog;
pub mod checks;
pub mod cluster;
pub mod config;
pub mod dedupe;
pub mod console;
pub mod error;
pub mod export;
pub mod fold;
pub mod formats;
pub mod import;
pub mod job;
pub mod kind;
pub mod linkage;
pub mod lexer;
pub mod profile;
pub mod monitor;
pub mod policy;
pub mod scratch;
pub mod sql;
pub mod udf;
pub mod view;
pub mod workspace;

pub use error::{EngineError, Result};
pub use workspace::Workspace;

/// The versions of this program and of the engines built into it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Versions {
    pub dataforge: &'static str,
    pub duckdb: String,
    pub polars: &'static str,
}

impl Versions {
    pub fn of_this_build() -> Self {
        // SAFETY: DuckDB returns a pointer to a static, NUL-terminated string.
        let duckdb = unsafe { std::ffi::CStr::from_ptr(duckdb::ffi::duckdb_library_version()) }.to_string_lossy().into_owned();
        Self { dataforge: env!("CARGO_PKG_VERSION"), duckdb, polars: polars::VERSION }
    }

    /// "dataforge 0.1.0 (DuckDB v1.2.0, Polars 0.55.2)".
    pub fn line(&self) -> String {
        format!("dataforge {} (DuckDB {}, Polars {})", self.dataforge, self.duckdb, self.polars)
    }
}

