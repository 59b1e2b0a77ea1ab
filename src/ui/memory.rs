//! The memory graph: process RSS and DuckDB's buffer memory over the last two minutes, on a
//! scale that fits them (the limit is drawn when it is near, else named above the graph).

use std::ops::RangeInclusive;

use egui::{Color32, RichText};
use egui_plot::{GridInput, GridMark, HLine, HoverPosition, Line, LineStyle, Plot, PlotPoints, uniform_grid_spacer};

use super::state::AppState;
use crate::engine::config::format_bytes;
use crate::engine::monitor::MemorySample;

const MB: f64 = 1024.0 * 1024.0;
const WINDOW_SECS: f64 = 120.0;
const RSS_COLOR: Color32 = Color32::from_rgb(90, 160, 255);
const DUCKDB_COLOR: Color32 = Color32::from_rgb(240, 170, 60);
const LIMIT_COLOR: Color32 = Color32::from_rgb(220, 80, 80);

/// The y-axis top in MB: the data with headroom, rounded to a step so it does not jitter,
/// and whether the limit is near enough to be drawn.
pub fn y_top_mb(samples: &[MemorySample], limit_bytes: u64) -> (f64, bool) {
    let data_max = samples.iter().map(|s| s.rss_bytes.max(s.duckdb_bytes) as f64 / MB).fold(0.0, f64::max);
    let limit_mb = limit_bytes as f64 / MB;
    let mut top = (data_max * 1.25).max(64.0);
    let shows_limit = limit_mb <= top * 1.5;
    if shows_limit {
        top = top.max(limit_mb * 1.08);
    }
    let step = power_of_two_at_least(top / 4.0);
    ((top / step).ceil() * step, shows_limit)
}

fn power_of_two_at_least(x: f64) -> f64 {
    let mut step = 1.0;
    while step < x {
        step *= 2.0;
    }
    step
}

fn format_mb(mb: f64) -> String {
    if mb >= 1024.0 { format!("{:.1} GB", mb / 1024.0) } else { format!("{mb:.0} MB") }
}

/// Ticks at powers of two of MB (128 MB, 256 MB, 1 GB…), so the labels read as round sizes.
fn memory_grid(input: GridInput) -> Vec<GridMark> {
    let step = power_of_two_at_least(input.base_step_size * 4.0);
    let (low, high) = input.bounds;
    let mut value = (low / step).ceil() * step;
    let mut marks = Vec::new();
    while value <= high {
        marks.push(GridMark { value, step_size: step });
        value += step;
    }
    marks
}

/// Raises the memory warning when the newest sample shows pressure (once, with the job that
/// holds the most memory named), and lowers it when the pressure is gone.
fn watch_pressure(state: &mut AppState, newest: Option<MemorySample>) {
    let Some(sample) = newest else { return };
    let percent = state.workspace.settings().memory_warning_percent;
    match crate::engine::monitor::pressure(&sample, state.memory_limit_bytes(), percent) {
        Some(reason) if state.memory_warning.is_none() => {
            let holder = state
                .jobs
                .iter()
                .map(|j| j.snapshot())
                .filter(|s| !s.state.is_finished())
                .max_by_key(|s| s.metrics.peak_rss_bytes)
                .map(|s| format!(" while \"{}\" runs", s.title))
                .unwrap_or_default();
            let text = format!("Memory warning: {reason}{holder}. Cancel a job or raise the limit in Settings before the system runs out.");
            state.error(text.clone());
            state.memory_warning = Some((sample.at_secs, text));
        }
        Some(_) => {}
        None => state.memory_warning = None,
    }
}

pub fn memory_ui(ui: &mut egui::Ui, state: &mut AppState) {
    watch_pressure(state, state.memory.as_ref().and_then(|m| m.latest()));
    let mut samples = state.memory.as_ref().map(|m| m.samples()).unwrap_or_default();
    let newest_at = samples.last().map_or(0.0, |s| s.at_secs);
    samples.retain(|s| newest_at - s.at_secs <= WINDOW_SECS);
    let limit = state.memory_limit_bytes();
    let (top, shows_limit) = y_top_mb(&samples, limit);
    ui.horizontal(|ui| {
        ui.strong("Memory");
        if let Some(last) = samples.last() {
            ui.label(RichText::new(format!("— process {}", format_bytes(last.rss_bytes))).color(RSS_COLOR));
            ui.label(RichText::new(format!("— DuckDB {}", format_bytes(last.duckdb_bytes))).color(DUCKDB_COLOR));
            let limit_text = if shows_limit { format!("- - limit {}", format_bytes(limit)) } else { format!("limit {} (above the graph)", format_bytes(limit)) };
            ui.label(RichText::new(limit_text).color(LIMIT_COLOR));
            if state.memory_warning.is_some() {
                ui.label(RichText::new("warning raised (| on the graph)").color(LIMIT_COLOR).strong());
            }
        }
    });
    // Time runs from the newest sample, so the picture changes only when a sample arrives.
    let newest = samples.last().map_or(0.0, |s| s.at_secs);
    let first = samples.first().map_or(0.0, |s| s.at_secs);
    let ago = |s: &MemorySample| s.at_secs - newest;
    let rss: PlotPoints = samples.iter().map(|s| [ago(s), s.rss_bytes as f64 / MB]).collect();
    let duckdb: PlotPoints = samples.iter().map(|s| [ago(s), s.duckdb_bytes as f64 / MB]).collect();
    let left = -(newest - first).clamp(10.0, WINDOW_SECS);
    let warned_at = state.memory_warning.as_ref().map(|(at, _)| *at);
    Plot::new("memory")
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .allow_axis_zoom_drag(false)
        .x_grid_spacer(uniform_grid_spacer(|_| [10.0, 30.0, 60.0]))
        .x_axis_formatter(|m: GridMark, range: &RangeInclusive<f64>| {
            // A mark at the left edge would print over the memory axis's labels.
            if m.value - range.start() < (range.end() - range.start()) * 0.08 {
                String::new()
            } else if m.value.abs() < 0.5 {
                "now".into()
            } else {
                format!("{:.0} s ago", -m.value)
            }
        })
        .y_grid_spacer(memory_grid)
        .y_axis_formatter(|m: GridMark, _: &RangeInclusive<f64>| format_mb(m.value))
        .y_axis_min_width(56.0)
        .label_formatter(|position| match position {
            HoverPosition::NearDataPoint { plot_name, position, .. } => {
                Some(format!("{plot_name}: {} ({:.0} s ago)", format_mb(position.y), -position.x))
            }
            HoverPosition::Elsewhere { .. } => None,
        })
        .show(ui, |plot| {
            plot.set_plot_bounds_x(left..=0.0);
            plot.set_plot_bounds_y(0.0..=top);
            plot.line(Line::new("process", rss).color(RSS_COLOR).width(1.5));
            plot.line(Line::new("DuckDB", duckdb).color(DUCKDB_COLOR).width(1.5));
            if shows_limit {
                plot.hline(HLine::new("limit", limit as f64 / MB).color(LIMIT_COLOR).style(LineStyle::dashed_loose()));
            }
            if let Some(at) = warned_at {
                plot.vline(egui_plot::VLine::new("memory warning", at - newest).color(LIMIT_COLOR).width(1.5));
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rss_mb: u64) -> MemorySample {
        MemorySample { at_secs: 0.0, rss_bytes: rss_mb << 20, duckdb_bytes: 0, available_bytes: 0, total_bytes: 0 }
    }

    #[test]
    fn the_scale_follows_the_data_not_a_far_limit() {
        let limit = 11_800u64 << 20;
        let (top, shows_limit) = y_top_mb(&[sample(150), sample(180)], limit);
        assert!((180.0..=512.0).contains(&top), "{top}");
        assert!(!shows_limit);
        let (top, shows_limit) = y_top_mb(&[sample(3000)], 4096 << 20);
        assert!(shows_limit && top >= 4096.0, "{top}");
        assert_eq!(format_mb(512.0), "512 MB");
        assert_eq!(format_mb(3072.0), "3.0 GB");
    }
}
