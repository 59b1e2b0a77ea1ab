//! Integration tests on real files from ../shared: engine, CLI binary and UI in one binary.

mod cli;
mod dedupe;
mod common;
mod engine;
mod exports;
mod faults;
mod formats;
mod linkage;
mod loads;
mod paging;
mod profile;
mod sweep;
mod trust;
mod ui;
mod views;
mod window;
