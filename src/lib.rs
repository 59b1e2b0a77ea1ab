//! dataforge: a desktop data workbench over an embedded DuckDB workspace.

pub mod cli;
pub mod engine;
pub mod ui;
