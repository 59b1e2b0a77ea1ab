//! The window's keyboard shortcuts: one list, read by the key handling and by the F1 window
//! that shows them, and the About window.

use egui::{Key, KeyboardShortcut, Modifiers};

use super::state::{AppState, Command};

/// Every shortcut and what it does, as F1 lists them.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Ctrl+O", "Import files"),
    ("Ctrl+E", "Export the view shown"),
    ("Ctrl+F", "Search the table shown"),
    ("Ctrl+Enter", "Run the SQL console's statements"),
    ("Ctrl+T", "New SQL console"),
    ("Ctrl+W", "Close the tab"),
    ("Ctrl+Tab / Ctrl+Shift+Tab", "Next / previous tab"),
    ("Home / End, Page Up / Page Down, Up / Down", "Move through the rows of a table"),
    ("Esc", "Close the dialog"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit"),
];

/// Takes the window-wide shortcuts from this frame's input and queues what they ask.
pub fn handle(ctx: &egui::Context, state: &mut AppState) {
    let shortcut = |modifiers, key| KeyboardShortcut::new(modifiers, key);
    let dialog_open = dialog_open(state);
    let (open, console, export, close, next, previous, help, escape) = ctx.input_mut(|i| {
        (
            i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::O)),
            i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::T)),
            i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::E)),
            i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::W)),
            i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::Tab)),
            i.consume_shortcut(&shortcut(Modifiers::COMMAND | Modifiers::SHIFT, Key::Tab)),
            i.consume_key(Modifiers::NONE, Key::F1),
            // Esc belongs to a filter box or a menu unless a dialog is open.
            dialog_open && i.consume_key(Modifiers::NONE, Key::Escape),
        )
    });
    if open {
        state.push(Command::ShowOpenDialog);
    }
    if console {
        state.push(Command::OpenConsole);
    }
    if export {
        if let Some(view) = state.view().map(|v| v.view().clone()) {
            state.push(Command::ShowExportDialog(view));
        }
    }
    let tabs = state.tabs.len();
    if close && tabs > 0 {
        state.push(Command::CloseTab(state.active));
    }
    if tabs > 1 && next {
        state.push(Command::SelectTab((state.active + 1) % tabs));
    } else if tabs > 1 && previous {
        state.push(Command::SelectTab((state.active + tabs - 1) % tabs));
    }
    if help {
        state.show_shortcuts = !state.show_shortcuts;
    }
    if escape {
        close_top_dialog(state);
    }
}

fn dialog_open(state: &AppState) -> bool {
    state.confirm_quit || state.confirm_drop.is_some() || state.import.is_some() || state.export.is_some() || state.settings.is_some() || state.show_shortcuts || state.show_about
}

/// Esc: the dialog in front closes as its Cancel would.
fn close_top_dialog(state: &mut AppState) {
    if state.confirm_quit {
        state.confirm_quit = false;
    } else if state.confirm_drop.is_some() {
        state.confirm_drop = None;
    } else if let Some(draft) = state.import.take() {
        draft.cancel();
    } else if state.export.is_some() {
        state.export = None;
    } else if state.settings.is_some() {
        state.settings = None;
    } else if state.show_shortcuts {
        state.show_shortcuts = false;
    } else {
        state.show_about = false;
    }
}

/// F1's list of every shortcut.
pub fn shortcuts_ui(ctx: &egui::Context, state: &mut AppState) {
    if !state.show_shortcuts {
        return;
    }
    let mut open = true;
    egui::Window::new("Keyboard shortcuts").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
        egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
            for (keys, what) in SHORTCUTS {
                ui.strong(*keys);
                ui.label(*what);
                ui.end_row();
            }
        });
    });
    state.show_shortcuts &= open;
}

/// Help → About: the versions of this program and of the engines built into it.
pub fn about_ui(ctx: &egui::Context, state: &mut AppState) {
    if !state.show_about {
        return;
    }
    let versions = crate::engine::Versions::of_this_build();
    let mut open = true;
    egui::Window::new("About dataforge").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
        ui.heading(format!("dataforge {}", versions.dataforge));
        ui.label("A desktop data workbench over an embedded DuckDB workspace.");
        ui.add_space(6.0);
        egui::Grid::new("about-versions").show(ui, |ui| {
            ui.label("DuckDB");
            ui.label(&versions.duckdb);
            ui.end_row();
            ui.label("Polars");
            ui.label(versions.polars);
            ui.end_row();
            ui.label("Workspace");
            ui.label(state.workspace.path().display().to_string());
            ui.end_row();
        });
    });
    state.show_about &= open;
}
