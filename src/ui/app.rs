//! The eframe app: drains jobs in `logic`, lays out the panels in `ui`, then applies the
//! commands the panels queued. The window repaints when a job, a page, the memory monitor or
//! the user has something new, and not otherwise: an idle window uses no CPU.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use egui::{Key, KeyboardShortcut, Modifiers};

use super::state::{AppState, Command};
use super::{catalog, console, dialogs, export_dialog, import_dialog, jobs, memory, shortcuts, table};
use crate::engine::Workspace;
use crate::engine::config::{format_bytes, group_digits};

const SELECTED_KEY: &str = "selected_table";
const IMPORT_DIR_KEY: &str = "last_import_dir";
const EXPORT_DIR_KEY: &str = "last_export_dir";
const OPEN_TABLES_KEY: &str = "open_tables";
const RECENT_FILES_KEY: &str = "recent_files";
const RECENT_WORKSPACES_KEY: &str = "recent_workspaces";
const THEME_KEY: &str = "theme";
const TEXT_SCALE_KEY: &str = "text_scale";

pub struct DataforgeApp {
    pub state: AppState,
    started: Instant,
    is_first_frame: bool,
    /// A job that ran this long and ends while the window is in the background asks the
    /// desktop for attention.
    pub attention_after: std::time::Duration,
    /// Times the desktop was asked for attention.
    pub attention_requests: u64,
    finished_seen: std::collections::HashSet<u64>,
}

/// A stored text value; empty and missing read as `None`.
fn stored_text(storage: &dyn eframe::Storage, key: &str) -> Option<String> {
    eframe::get_value::<String>(storage, key).filter(|v| !v.is_empty())
}

impl DataforgeApp {
    pub fn new(cc: &eframe::CreationContext<'_>, workspace: Arc<Workspace>, files: Vec<PathBuf>) -> anyhow::Result<Self> {
        let ctx = cc.egui_ctx.clone();
        let mut state = AppState::new(workspace, Arc::new(move || ctx.request_repaint()))?;
        if let Some(storage) = cc.storage {
            recall(storage, &mut state);
        }
        let workspace_path = state.workspace.path().to_path_buf();
        super::state::remember_recent(&mut state.recent_workspaces, &workspace_path);
        if !files.is_empty() {
            state.push(Command::ImportFiles(files));
        }
        Ok(Self {
            state,
            started: super::process_start(),
            is_first_frame: true,
            attention_after: std::time::Duration::from_secs(10),
            attention_requests: 0,
            finished_seen: Default::default(),
        })
    }
}

impl eframe::App for DataforgeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let (dropped, hovering, quit) = ctx.input_mut(|i| {
            let dropped: Vec<PathBuf> = i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect();
            let quit = i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Q));
            (dropped, !i.raw.hovered_files.is_empty(), quit)
        });
        shortcuts::handle(ctx, &mut self.state);
        if quit {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        // Closing while jobs run asks first: quitting would cancel them.
        if ctx.input(|i| i.viewport().close_requested()) && !self.state.quit_confirmed && self.state.has_running_jobs() {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.state.confirm_quit = true;
        }
        self.state.is_hovering_files = hovering;
        if !dropped.is_empty() {
            self.state.push(Command::ImportFiles(dropped));
        }
        self.state.poll();
        self.ask_attention_for_finished_jobs(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if ctx.options(|o| o.theme_preference) != self.state.theme {
            ctx.set_theme(self.state.theme);
        }
        if (ctx.zoom_factor() - self.state.text_scale).abs() > f32::EPSILON {
            ctx.set_zoom_factor(self.state.text_scale);
        }
        egui::Panel::top("menu").show(ui, |ui| menu_ui(ui, &mut self.state));
        egui::Panel::bottom("status").show(ui, |ui| status_ui(ui, &self.state));
        egui::Panel::bottom("activity")
            .resizable(true)
            .default_size(140.0)
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
            if self.state.tabs.is_empty() {
                dialogs::welcome_ui(ui, &mut self.state);
            } else {
                tabs_ui(ui, &mut self.state);
            }
            dialogs::notices_ui(ui, &mut self.state);
        });
        import_dialog::import_ui(&ctx, &mut self.state);
        export_dialog::export_ui(&ctx, &mut self.state);
        dialogs::settings_ui(&ctx, &mut self.state);
        dialogs::confirm_drop_ui(&ctx, &mut self.state);
        dialogs::confirm_quit_ui(&ctx, &mut self.state);
        shortcuts::shortcuts_ui(&ctx, &mut self.state);
        shortcuts::about_ui(&ctx, &mut self.state);
        self.state.file_dialogs_ui(&ctx);
        dialogs::drop_overlay_ui(&ctx, &self.state);
        self.state.apply_commands();

        if self.state.has_running_jobs() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        } else if self.state.has_lingering_jobs() {
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
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
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        remember(storage, &self.state);
    }
}

impl DataforgeApp {
    /// A long job that ended while the window was in the background: the desktop is asked to
    /// draw the user's attention to it (a blinking task bar entry).
    fn ask_attention_for_finished_jobs(&mut self, ctx: &egui::Context) {
        let focused = ctx.input(|i| i.viewport().focused).unwrap_or(true);
        let mut ask = false;
        for job in &self.state.jobs {
            let snapshot = job.snapshot();
            if snapshot.state.is_finished() && self.finished_seen.insert(snapshot.id) {
                ask |= !focused && snapshot.state != crate::engine::job::JobState::Cancelled && snapshot.elapsed >= self.attention_after;
            }
        }
        if ask {
            ctx.send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(egui::UserAttentionType::Informational));
            self.attention_requests += 1;
        }
    }
}

/// What the next session starts with: the open table and the folders used last.
pub fn remember(storage: &mut dyn eframe::Storage, state: &AppState) {
    let paths = |list: &[PathBuf]| list.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>();
    eframe::set_value(storage, RECENT_FILES_KEY, &paths(&state.recent_files));
    eframe::set_value(storage, RECENT_WORKSPACES_KEY, &paths(&state.recent_workspaces));
    let theme = match state.theme {
        egui::ThemePreference::Light => "light",
        egui::ThemePreference::Dark => "dark",
        egui::ThemePreference::System => "system",
    };
    eframe::set_value(storage, THEME_KEY, &theme.to_string());
    eframe::set_value(storage, TEXT_SCALE_KEY, &state.text_scale);
    let text = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let selected = state.selected().map(str::to_string).or_else(|| state.restore_selection.clone()).unwrap_or_default();
    eframe::set_value(storage, SELECTED_KEY, &selected);
    let open = if state.tabs.is_empty() { state.restore_tables.clone() } else { state.open_tables() };
    eframe::set_value(storage, OPEN_TABLES_KEY, &open);
    eframe::set_value(storage, IMPORT_DIR_KEY, &text(&state.last_import_dir));
    eframe::set_value(storage, EXPORT_DIR_KEY, &text(&state.last_export_dir));
}

pub fn recall(storage: &dyn eframe::Storage, state: &mut AppState) {
    let paths = |key: &str| eframe::get_value::<Vec<String>>(storage, key).unwrap_or_default().into_iter().map(PathBuf::from).collect::<Vec<_>>();
    state.recent_files = paths(RECENT_FILES_KEY);
    state.recent_workspaces = paths(RECENT_WORKSPACES_KEY);
    state.theme = match stored_text(storage, THEME_KEY).as_deref() {
        Some("light") => egui::ThemePreference::Light,
        Some("dark") => egui::ThemePreference::Dark,
        _ => egui::ThemePreference::System,
    };
    state.text_scale = eframe::get_value::<f32>(storage, TEXT_SCALE_KEY).filter(|s| (0.5..=2.0).contains(s)).unwrap_or(1.0);
    state.restore_selection = stored_text(storage, SELECTED_KEY);
    state.restore_tables = eframe::get_value::<Vec<String>>(storage, OPEN_TABLES_KEY).unwrap_or_default();
    state.last_import_dir = stored_text(storage, IMPORT_DIR_KEY).map(PathBuf::from);
    state.last_export_dir = stored_text(storage, EXPORT_DIR_KEY).map(PathBuf::from);
}

fn menu_ui(ui: &mut egui::Ui, state: &mut AppState) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.add(egui::Button::new("Import files…").shortcut_text("Ctrl+O")).clicked() {
                state.push(Command::ShowOpenDialog);
            }
            let shown = state.view().map(|v| v.view().clone());
            if ui.add_enabled(shown.is_some(), egui::Button::new("Export view…").shortcut_text("Ctrl+E")).clicked() {
                if let Some(view) = shown {
                    state.push(Command::ShowExportDialog(view));
                }
            }
            if ui.add(egui::Button::new("SQL console").shortcut_text("Ctrl+T")).clicked() {
                state.push(Command::OpenConsole);
            }
            ui.add_enabled_ui(!state.recent_files.is_empty(), |ui| {
                ui.menu_button("Recent files", |ui| {
                    for path in state.recent_files.clone() {
                        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
                        if ui.button(name).on_hover_text(path.display().to_string()).clicked() {
                            state.push(Command::ImportFiles(vec![path]));
                        }
                    }
                });
            });
            let current = state.workspace.path().to_path_buf();
            let others: Vec<PathBuf> = state.recent_workspaces.iter().filter(|p| **p != current).cloned().collect();
            ui.add_enabled_ui(!others.is_empty(), |ui| {
                ui.menu_button("Recent workspaces", |ui| {
                    for path in others {
                        if ui.button(path.display().to_string()).on_hover_text("Opens it in a new window").clicked() {
                            open_workspace_window(state, &path);
                        }
                    }
                });
            });
            ui.separator();
            if ui.button("Settings…").clicked() {
                state.push(Command::ShowSettings);
            }
            ui.separator();
            if ui.add(egui::Button::new("Quit").shortcut_text("Ctrl+Q")).clicked() {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
        ui.menu_button("Help", |ui| {
            if ui.add(egui::Button::new("Keyboard shortcuts").shortcut_text("F1")).clicked() {
                state.show_shortcuts = true;
            }
            if ui.button("About dataforge").clicked() {
                state.show_about = true;
            }
        });
    });
}

/// The tab strip and the current tab: a table's grid, or a console and its result.
fn tabs_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let mut commands = Vec::new();
    ui.horizontal_wrapped(|ui| {
        for (i, tab) in state.tabs.iter().enumerate() {
            let is_active = i == state.active;
            let busy = tab.console().is_some_and(|c| c.is_running())
                || tab.profile().is_some_and(|p| p.is_running())
                || tab.view.as_ref().is_some_and(|v| v.is_preparing());
            let title = if busy { format!("{} …", tab.title()) } else { tab.title() };
            let close_name = format!("Close {title}");
            let text = if tab.console().is_some() { egui::RichText::new(title).italics() } else { egui::RichText::new(title) };
            let response = ui.selectable_label(is_active, text);
            if response.clicked() {
                commands.push(Command::SelectTab(i));
            }
            if response.middle_clicked() || super::named(ui.small_button("✖"), &close_name).on_hover_text("Close this tab").clicked() {
                commands.push(Command::CloseTab(i));
            }
            ui.add_space(6.0);
        }
        if ui.small_button("+ SQL").on_hover_text("Open a SQL console (Ctrl+T)").clicked() {
            commands.push(Command::OpenConsole);
        }
    });
    ui.separator();
    let active = state.active;
    if let Some(tab) = state.tabs.get_mut(active) {
        // Keyed by what the tab shows, so its scroll position survives closing other tabs.
        ui.push_id(("tab", tab.console().is_some(), tab.title()), |ui| {
            if let Some(profile) = tab.profile_mut() {
                super::profile::profile_ui(ui, profile, &mut commands);
                return;
            }
            if let Some(dedupe) = tab.dedupe_mut() {
                super::dedupe::dedupe_ui(ui, dedupe, &mut commands);
                return;
            }
            if let Some(m) = tab.match_mut() {
                super::matching::match_ui(ui, m, &mut commands);
                return;
            }
            if tab.console().is_some() {
                console::console_ui(ui, tab, &mut commands);
            }
            table::table_ui(ui, tab, &mut commands);
        });
    }
    state.pending_commands(commands);
}

fn status_ui(ui: &mut egui::Ui, state: &AppState) {
    ui.horizontal(|ui| {
        ui.weak(format!("Workspace {}", state.workspace.path().display()));
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let rows: u64 = state.tables.iter().map(|t| t.rows).sum();
            let tables = match state.tables.len() {
                1 => "1 table".to_string(),
                n => format!("{n} tables"),
            };
            ui.weak(format!("{tables} · {} rows · file {}", group_digits(rows), format_bytes(state.workspace.file_bytes())));
        });
    });
}

/// Another workspace opens in a window of its own (a second dataforge process), so what
/// runs here goes on undisturbed.
fn open_workspace_window(state: &mut AppState, path: &std::path::Path) {
    let started = std::env::current_exe().and_then(|exe| std::process::Command::new(exe).arg("--workspace").arg(path).spawn());
    if let Err(e) = started {
        state.error(format!("Could not open {}: {e}", path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Memory(std::collections::HashMap<String, String>);

    impl eframe::Storage for Memory {
        fn get_string(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn set_string(&mut self, key: &str, value: String) {
            self.0.insert(key.to_string(), value);
        }
        fn remove_string(&mut self, key: &str) {
            self.0.remove(key);
        }
        fn flush(&mut self) {}
    }

    #[test]
    fn the_open_table_and_folders_come_back_after_a_restart() {
        let ws = Arc::new(crate::engine::catalog::open_in_memory().unwrap());
        let mut state = AppState::new(ws.clone(), Arc::new(|| {})).unwrap();
        state.restore_selection = Some("flights".into());
        state.last_export_dir = Some(PathBuf::from("/data/out"));
        let mut storage = Memory::default();
        remember(&mut storage, &state);
        let mut next = AppState::new(ws, Arc::new(|| {})).unwrap();
        recall(&storage, &mut next);
        assert_eq!(next.restore_selection.as_deref(), Some("flights"));
        assert_eq!(next.last_export_dir, Some(PathBuf::from("/data/out")));
        assert_eq!(next.last_import_dir, None);
    }

    #[test]
    fn recent_lists_the_theme_and_the_text_size_come_back_after_a_restart() {
        let ws = Arc::new(crate::engine::catalog::open_in_memory().unwrap());
        let mut state = AppState::new(ws.clone(), Arc::new(|| {})).unwrap();
        for name in ["a.csv", "b.csv", "a.csv"] {
            super::super::state::remember_recent(&mut state.recent_files, std::path::Path::new(name));
        }
        assert_eq!(state.recent_files, vec![PathBuf::from("a.csv"), PathBuf::from("b.csv")], "newest first, once each");
        state.recent_workspaces = vec![PathBuf::from("/data/w.duckdb")];
        state.theme = egui::ThemePreference::Light;
        state.text_scale = 1.25;
        let mut storage = Memory::default();
        remember(&mut storage, &state);
        let mut next = AppState::new(ws, Arc::new(|| {})).unwrap();
        recall(&storage, &mut next);
        assert_eq!((next.recent_files, next.recent_workspaces), (state.recent_files, state.recent_workspaces));
        assert_eq!((next.theme, next.text_scale), (egui::ThemePreference::Light, 1.25));
    }
}
