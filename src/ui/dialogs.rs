//! Small windows: export, settings, notices, and the drop-files overlay.

use std::path::PathBuf;

use egui::{Align2, Color32, RichText};

use super::state::{AppState, Command};
use crate::engine::config::{Settings, format_bytes, parse_size};

/// A fixed-size window in the middle of the screen with a close button.
fn dialog_window(title: impl Into<egui::WidgetText>, is_open: &mut bool) -> egui::Window<'_> {
    egui::Window::new(title)
        .open(is_open)
        .collapsible(false)
        .resizable(false)
        .anchor(Align2::CENTER_CENTER, [0.0, 0.0])
}

pub fn settings_ui(ctx: &egui::Context, state: &mut AppState) {
    let overrides = state.workspace.env_overrides().clone();
    let current = state.workspace.settings();
    let file_bytes = state.workspace.file_bytes();
    // How the window looks applies at once and is kept with the window, not the workspace.
    let (mut state_theme, mut text_scale) = (state.theme, state.text_scale);
    let Some(draft) = state.settings.as_mut() else { return };
    let mut is_open = true;
    let mut compact = false;
    let mut save = None;
    let mut close = false;
    let mut problem = None;
    dialog_window("Settings", &mut is_open)
        .show(ctx, |ui| {
            egui::Grid::new("settings-grid").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
                ui.label("Worker threads");
                ui.add_enabled(overrides.threads.is_none(), egui::DragValue::new(&mut draft.threads).range(1..=1024));
                ui.end_row();
                ui.label("Memory limit");
                ui.add_enabled(
                    overrides.memory_limit_bytes.is_none(),
                    egui::TextEdit::singleline(&mut draft.memory_limit).hint_text("4 GB"),
                );
                ui.end_row();
                ui.label("Theme");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut state_theme, egui::ThemePreference::System, "Follow the system");
                    ui.selectable_value(&mut state_theme, egui::ThemePreference::Light, "Light");
                    ui.selectable_value(&mut state_theme, egui::ThemePreference::Dark, "Dark");
                });
                ui.end_row();
                ui.label("Text size");
                ui.add(egui::Slider::new(&mut text_scale, 0.8..=1.6).fixed_decimals(1).suffix("×"));
                ui.end_row();
                ui.label("Memory warning");
                ui.horizontal(|ui| {
                    ui.add(egui::DragValue::new(&mut draft.memory_warning_percent).range(1..=100).suffix(" %"));
                    ui.label("of the memory limit, or when the machine runs low");
                });
                ui.end_row();
                ui.label("Spill folder");
                ui.add_enabled(overrides.temp_dir.is_none(), egui::TextEdit::singleline(&mut draft.temp_dir));
                ui.end_row();
                ui.label("SQL file access").on_hover_text(
                    "Folders whose files SQL in the console may read (read_csv, FROM 'file.parquet') and write (COPY … TO). Imports and exports work everywhere regardless.",
                );
                ui.add(egui::TextEdit::multiline(&mut draft.sql_folders).desired_rows(2).hint_text("no folder: SQL cannot touch files\n/home/me/data").desired_width(300.0));
                ui.end_row();
            });
            if overrides != Default::default() {
                ui.weak("Greyed-out values are set by DATAFORGE_* environment variables");
            }
            let parsed = parse_size(&draft.memory_limit);
            if let Err(e) = &parsed {
                problem = Some(e.clone());
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            if let Some(missing) = draft.sql_folders.lines().map(str::trim).find(|l| !l.is_empty() && !std::path::Path::new(l).is_dir()) {
                let e = format!("{missing} is not a folder");
                ui.colored_label(ui.visuals().error_fg_color, &e);
                problem = Some(e);
            }
            ui.separator();
            ui.horizontal(|ui| {
                ui.label(format!("Workspace file {}", format_bytes(file_bytes)));
                if ui.button("Compact workspace").on_hover_text("Rewrite the file without the space of deleted tables and failed imports").clicked() {
                    compact = true;
                }
            });
            ui.separator();
            ui.horizontal(|ui| {
                if ui.add_enabled(problem.is_none(), egui::Button::new("Save")).clicked() {
                    if let Ok(memory_limit_bytes) = parsed {
                        save = Some(Settings {
                            threads: draft.threads,
                            memory_limit_bytes,
                            temp_dir: PathBuf::from(draft.temp_dir.trim()),
                            sql_folders: draft.sql_folders.lines().map(str::trim).filter(|l| !l.is_empty()).map(PathBuf::from).collect(),
                            memory_warning_percent: draft.memory_warning_percent,
                        });
                    }
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
        });
    state.theme = state_theme;
    state.text_scale = text_scale;
    if let Some(s) = save {
        if s != current {
            state.push(Command::SaveSettings(s));
        }
        close = true;
    }
    if compact {
        state.push(Command::CompactWorkspace);
    }
    if close || !is_open {
        state.settings = None;
    }
}

/// Notices float over the bottom-right corner of the central area, newest last, so they
/// never push the table down; older ones fold into a count.
pub fn notices_ui(ui: &mut egui::Ui, state: &mut AppState) {
    const SHOWN: usize = 3;
    state.notices.retain(|n| n.expires_in().is_none_or(|left| !left.is_zero()));
    if state.notices.is_empty() {
        return;
    }
    if let Some(next) = state.notices.iter().filter_map(|n| n.expires_in()).min() {
        ui.ctx().request_repaint_after(next);
    }
    let rect = ui.max_rect();
    let mut commands = Vec::new();
    egui::Area::new(egui::Id::unique("notices"))
        .order(egui::Order::Foreground)
        .pivot(Align2::RIGHT_BOTTOM)
        .fixed_pos(rect.right_bottom() - egui::vec2(8.0, 8.0))
        .show(ui.ctx(), |ui| {
            ui.set_max_width(520.0_f32.min(rect.width() - 16.0));
            let first_shown = state.notices.len().saturating_sub(SHOWN);
            if first_shown > 0 || state.notices.len() > 1 {
                ui.horizontal(|ui| {
                    if first_shown > 0 {
                        ui.weak(format!("{first_shown} earlier messages"));
                    }
                    if ui.small_button("Dismiss all").clicked() {
                        commands.push(Command::DismissAllNotices);
                    }
                });
            }
            for (i, notice) in state.notices.iter().enumerate().skip(first_shown) {
                let (stroke, text) = if notice.is_error {
                    (ui.visuals().error_fg_color, ui.visuals().error_fg_color)
                } else {
                    (ui.visuals().selection.bg_fill, ui.visuals().text_color())
                };
                egui::Frame::popup(ui.style()).stroke(egui::Stroke::new(1.0, stroke)).inner_margin(8).show(ui, |ui| {
                    ui.horizontal_top(|ui| {
                        if super::named(ui.small_button("×"), "Dismiss the message").on_hover_text("Dismiss").clicked() {
                            commands.push(Command::DismissNotice(i));
                        }
                        ui.vertical(|ui| {
                            ui.add(egui::Label::new(RichText::new(&notice.text).color(text)).wrap());
                            if let Some((label, command)) = &notice.action {
                                if ui.button(label).clicked() {
                                    commands.push(command.clone());
                                    commands.push(Command::DismissNotice(i));
                                }
                            }
                        });
                    });
                });
            }
        });
    state.pending_commands(commands);
}

pub fn drop_overlay_ui(ctx: &egui::Context, state: &AppState) {
    if !state.is_hovering_files {
        return;
    }
    let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("drop-overlay")));
    let rect = ctx.content_rect();
    painter.rect_filled(rect, 0.0, Color32::from_black_alpha(160));
    painter.text(
        rect.center(),
        Align2::CENTER_CENTER,
        "Drop files to import",
        egui::FontId::proportional(28.0),
        Color32::WHITE,
    );
}

pub fn welcome_ui(ui: &mut egui::Ui, state: &mut AppState) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.3);
        ui.heading("Drop CSV, Excel, JSON, Parquet or Arrow files here");
        ui.label(RichText::new("or").weak());
        if ui.button("Import files…").clicked() {
            state.push(Command::ShowOpenDialog);
        }
        if state.tables.is_empty() && !state.is_catalog_loading() {
            ui.add_space(12.0);
            ui.label(RichText::new("Files are imported into this workspace, one table each; nothing changes the files themselves.").weak());
            if ui.button("Open sample data").on_hover_text("344 penguins measured on three Antarctic islands (public domain), as a table to try everything on").clicked() {
                state.push(Command::OpenSampleData);
            }
        }
    });
}

/// Asks before the window closes while jobs run: quitting cancels them.
pub fn confirm_quit_ui(ctx: &egui::Context, state: &mut AppState) {
    if !state.confirm_quit {
        return;
    }
    let running = state.running_job_titles();
    if running.is_empty() {
        state.confirm_quit = false;
        state.quit_confirmed = true;
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        return;
    }
    let mut is_open = true;
    let mut answer = None;
    dialog_window("Quit dataforge", &mut is_open).show(ctx, |ui| {
        ui.label(if running.len() == 1 { "This job is still running:".to_string() } else { format!("{} jobs are still running:", running.len()) });
        for title in running.iter().take(5) {
            ui.label(format!("• {title}"));
        }
        ui.label("Quitting cancels them; what they were doing is not kept, and nothing else changes.");
        ui.horizontal(|ui| {
            if ui.button("Quit").clicked() {
                answer = Some(true);
            }
            if ui.button("Keep working").clicked() {
                answer = Some(false);
            }
        });
    });
    match answer {
        Some(true) => {
            state.cancel_all_jobs();
            state.confirm_quit = false;
            state.quit_confirmed = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        Some(false) => state.confirm_quit = false,
        None if !is_open => state.confirm_quit = false,
        None => {}
    }
}

pub fn confirm_drop_ui(ctx: &egui::Context, state: &mut AppState) {
    let Some(name) = state.confirm_drop.clone() else { return };
    let mut is_open = true;
    let mut answer = None;
    dialog_window("Delete table", &mut is_open)
        .show(ctx, |ui| {
            ui.label(format!("Delete the table {name} from this workspace? This cannot be undone"));
            ui.horizontal(|ui| {
                if ui.button("Delete").clicked() {
                    answer = Some(true);
                }
                if ui.button("Keep").clicked() {
                    answer = Some(false);
                }
            });
        });
    match answer {
        Some(true) => state.push(Command::DropTable(name)),
        Some(false) => state.confirm_drop = None,
        None if !is_open => state.confirm_drop = None,
        None => {}
    }
}
