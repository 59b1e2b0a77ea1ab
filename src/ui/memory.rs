//! The memory graph: process RSS and DuckDB's buffer memory over time, with the configured
//! memory limit as a line.

use egui_plot::{HLine, Legend, Line, Plot, PlotPoints};

use super::state::AppState;
use crate::engine::config::format_bytes;

const MB: f64 = 1024.0 * 1024.0;

pub fn memory_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let samples = state.memory.samples();
    let limit = state.memory_limit_bytes();
    ui.horizontal(|ui| {
        ui.strong("Memory");
        if let Some(last) = samples.last() {
            ui.label(format!(
                "process {} · DuckDB {} · limit {}",
                format_bytes(last.rss_bytes),
                format_bytes(last.duckdb_bytes),
                format_bytes(limit)
            ));
        }
    });
    let rss: PlotPoints = samples.iter().map(|s| [s.at_secs, s.rss_bytes as f64 / MB]).collect();
    let duckdb: PlotPoints = samples.iter().map(|s| [s.at_secs, s.duckdb_bytes as f64 / MB]).collect();
    let newest = samples.last().map_or(0.0, |s| s.at_secs);
    Plot::new("memory")
        .legend(Legend::default())
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .include_y(0.0)
        .include_x(newest - 120.0)
        .include_x(newest)
        .y_axis_label("MB")
        .x_axis_label("seconds")
        .show(ui, |plot| {
            plot.line(Line::new("process (RSS)", rss));
            plot.line(Line::new("DuckDB", duckdb));
            plot.hline(HLine::new("memory limit", limit as f64 / MB));
        });
}
