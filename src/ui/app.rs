//! The eframe app: drains jobs in `logic`, lays out the panels in `ui`, then applies the
//! commands the panels queued.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use egui::{Key, KeyboardShortcut, Modifiers};

use super::state::{AppState, Command};
use super::{catalog, dialogs, import_dialog, jobs, memory, table};
use crate::engine::Workspace;

const SELECTED_KEY: &str = "selected_table";
const FRAME_HISTORY: usize = 600;

pub struct DataforgeApp {
    pub state: AppState,
    started: Instant,
    frame_started: Option<Instant>,
    is_first_frame: bool,
}

impl DataforgeApp {
    pub fn new(cc: &eframe::CreationContext<'_>, workspace: Arc<Workspace>, files: Vec<PathBuf>) -> anyhow::Result<Self> {
        let ctx = cc.egui_ctx.clone();
        let mut state = AppState::new(workspace, Arc::new(move || ctx.request_repaint()))?;
        if let Some(storage) = cc.storage {
            state.restore_selection = eframe::get_value(storage, SELECTED_KEY);
        }
        if !files.is_empty() {
            state.push(Command::ImportFiles(files));
        }
        Ok(Self {
            state,
            started: super::process_start(),
            frame_started: None,
            is_first_frame: true,
        })
    }

    /// Frame time percentile over recent frames, in milliseconds (UI work only).
    pub fn frame_ms_percentile(&self, p: f32) -> Option<f32> {
        let mut v: Vec<f32> = self.state.frame_ms.iter().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f32::total_cmp);
        v.get(((v.len() - 1) as f32 * p).round() as usize).copied()
    }
}

impl eframe::App for DataforgeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.frame_started = Some(Instant::now());
        let (dropped, hovering, open, quit) = ctx.input_mut(|i| {
            let dropped: Vec<PathBuf> = i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect();
            let open = i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::O));
            let quit = i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Q));
            (dropped, !i.raw.hovered_files.is_empty(), open, quit)
        });
        if quit {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.state.is_hovering_files = hovering;
        if !dropped.is_empty() {
            self.state.push(Command::ImportFiles(dropped));
        }
        if open {
            self.state.push(Command::ShowOpenDialog);
        }
        self.state.poll();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        egui::Panel::top("menu").show(ui, |ui| menu_ui(ui, &mut self.state));
        egui::Panel::bottom("status").show(ui, |ui| status_ui(ui, self));
        egui::Panel::bottom("activity")
            .resizable(true)
            .default_size(220.0)
            .show(ui, |ui| {
                ui.columns(2, |cols| {
                    jobs::jobs_ui(&mut cols[0], &mut self.state);
                    memory::memory_ui(&mut cols[1], &mut self.state);
                });
            });
        egui::Panel::left("catalog")
            .resizable(true)
            .default_size(240.0)
            .show(ui, |ui| catalog::catalog_ui(ui, &mut self.state));
        egui::CentralPanel::default_margins().show(ui, |ui| {
            dialogs::notices_ui(ui, &mut self.state);
            if self.state.view.is_some() {
                table::table_ui(ui, &mut self.state);
            } else {
                dialogs::welcome_ui(ui, &mut self.state);
            }
        });
        import_dialog::import_ui(&ctx, &mut self.state);
        dialogs::export_ui(&ctx, &mut self.state);
        dialogs::settings_ui(&ctx, &mut self.state);
        dialogs::confirm_drop_ui(&ctx, &mut self.state);
        dialogs::drop_overlay_ui(&ctx, &self.state);
        self.state.apply_commands();

        if self.state.has_running_jobs() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        if let Some(started) = self.frame_started.take() {
            let ms = started.elapsed().as_secs_f32() * 1000.0;
            if self.state.frame_ms.len() == FRAME_HISTORY {
                self.state.frame_ms.pop_front();
            }
            self.state.frame_ms.push_back(ms);
        }
        if self.is_first_frame {
            self.is_first_frame = false;
            tracing::info!("first frame {:.0} ms after start", self.started.elapsed().as_secs_f64() * 1000.0);
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // Running jobs clean up (staging tables, partial files) only if they get to finish.
        for job in &self.state.jobs {
            job.cancel();
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while self.state.has_running_jobs() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if let (Some(p50), Some(p99), Some(max)) =
            (self.frame_ms_percentile(0.5), self.frame_ms_percentile(0.99), self.frame_ms_percentile(1.0))
        {
            tracing::info!("UI frame time over the last {} frames: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms", self.state.frame_ms.len());
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SELECTED_KEY, &self.state.selected);
    }
}

fn menu_ui(ui: &mut egui::Ui, state: &mut AppState) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.add(egui::Button::new("Import files…").shortcut_text("Ctrl+O")).clicked() {
                state.push(Command::ShowOpenDialog);
            }
            let selected = state.selected.clone();
            if ui.add_enabled(selected.is_some(), egui::Button::new("Export table…")).clicked() {
                if let Some(table) = selected {
                    state.push(Command::ShowExportDialog(table));
                }
            }
            ui.separator();
            if ui.button("Settings…").clicked() {
                state.push(Command::ShowSettings);
            }
            ui.separator();
            if ui.add(egui::Button::new("Quit").shortcut_text("Ctrl+Q")).clicked() {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
    });
}

fn status_ui(ui: &mut egui::Ui, app: &DataforgeApp) {
    ui.horizontal(|ui| {
        ui.weak(format!("Workspace {}", app.state.workspace.path().display()));
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if let Some(p99) = app.frame_ms_percentile(0.99) {
                ui.weak(format!("frame p99 {p99:.1} ms"));
            }
        });
    });
}
