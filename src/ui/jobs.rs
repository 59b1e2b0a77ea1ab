//! The jobs panel: every import and export with live progress, figures and a Cancel button.

use egui::{ProgressBar, RichText};

use super::state::{AppState, Command};
use crate::engine::config::format_bytes;
use crate::engine::job::{JobSnapshot, JobState};

pub fn jobs_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let mut commands = Vec::new();
    ui.horizontal(|ui| {
        ui.strong("Jobs");
        if state.jobs.iter().any(|j| j.snapshot().state.is_finished()) && ui.small_button("Clear finished").clicked() {
            commands.push(Command::ClearFinishedJobs);
        }
    });
    if state.jobs.is_empty() {
        ui.weak("No jobs running. Drop CSV, Excel, JSON, Parquet or Arrow files on the window, or press Ctrl+O");
    }
    egui::ScrollArea::vertical().auto_shrink([false, true]).show(ui, |ui| {
        for job in state.jobs.iter().rev() {
            let snap = job.snapshot();
            job_ui(ui, &snap, &mut commands);
            ui.separator();
        }
    });
    state.pending_commands(commands);
}

fn job_ui(ui: &mut egui::Ui, snap: &JobSnapshot, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.label(RichText::new(&snap.title).strong());
        let color = match snap.state {
            JobState::Failed => ui.visuals().error_fg_color,
            JobState::Cancelled => ui.visuals().warn_fg_color,
            _ => ui.visuals().text_color(),
        };
        let label = if snap.is_cancelling { "Cancelling…" } else { snap.state.label() };
        ui.colored_label(color, label);
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if snap.state.is_finished() {
                if super::named(ui.small_button("×"), &format!("Dismiss {}", snap.title)).on_hover_text("Dismiss").clicked() {
                    commands.push(Command::DismissJob(snap.id));
                }
            } else if ui.add_enabled(!snap.is_cancelling, egui::Button::new("Cancel")).clicked() {
                commands.push(Command::CancelJob(snap.id));
            }
        });
    });
    if !snap.state.is_finished() {
        // DuckDB cannot estimate every query: no estimate (or none past zero) is shown as
        // work going on, not as 0 %.
        let known = snap.progress.fraction.filter(|f| *f > 0.0);
        let text = match known {
            Some(f) => format!("{:.0}%", f * 100.0),
            None => snap.progress.phase.clone(),
        };
        ui.add(ProgressBar::new(known.unwrap_or(0.0) as f32).text(text).animate(known.is_none()));
    }
    ui.label(RichText::new(figures(snap)).small());
    if let Some(err) = &snap.error {
        if snap.state == JobState::Failed {
            ui.colored_label(ui.visuals().error_fg_color, err);
        }
    }
}

/// "Reading flights.csv · 120 MB of 300 MB · 1,200,000 rows · 400,000 rows/s · 40 MB/s · 3.0 s · ETA 4 s"
pub fn figures(snap: &JobSnapshot) -> String {
    let p = &snap.progress;
    let m = &snap.metrics;
    let mut parts = Vec::new();
    if !snap.state.is_finished() && !p.phase.is_empty() {
        parts.push(p.phase.clone());
    }
    let bytes = if snap.state.is_finished() { m.bytes } else { p.bytes_done };
    match (p.bytes_total, snap.state.is_finished()) {
        (Some(total), false) => parts.push(format!("{} of {}", format_bytes(bytes), format_bytes(total))),
        _ if bytes > 0 => parts.push(format_bytes(bytes)),
        _ => {}
    }
    if m.rows > 0 {
        let approx = if p.rows_total_estimate.is_some() && !snap.state.is_finished() { "≈ " } else { "" };
        parts.push(format!("{approx}{} rows", crate::engine::config::group_digits(m.rows)));
        parts.push(format!("{} rows/s", crate::engine::config::group_digits(m.rows_per_sec as u64)));
    }
    if m.mb_per_sec > 0.0 {
        parts.push(format!("{:.1} MB/s", m.mb_per_sec));
    }
    parts.push(format!("{:.1} s", snap.elapsed.as_secs_f64()));
    if let Some(eta) = snap.eta() {
        parts.push(format!("ETA {:.0} s", eta.as_secs_f64().ceil()));
    }
    if m.peak_rss_bytes > 0 {
        parts.push(format!("peak memory {}", format_bytes(m.peak_rss_bytes)));
    }
    parts.join(" · ")
}
