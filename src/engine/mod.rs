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
