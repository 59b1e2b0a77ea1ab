//! The catalog: the workspace's tables with rows, columns and size.

use egui::RichText;

use super::state::{AppState, Command};
use crate::engine::config::{format_bytes, group_digits};

pub fn catalog_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let mut commands = Vec::new();
    ui.horizontal(|ui| {
        ui.heading("Tables");
        if state.is_catalog_loading() {
            ui.spinner();
        }
    });
    ui.horizontal(|ui| {
        if ui.button("Import files…").on_hover_text("Ctrl+O").clicked() {
            commands.push(Command::ShowOpenDialog);
        }
        if ui.button("SQL console").on_hover_text("Query the workspace's tables with SQL (Ctrl+T)").clicked() {
            commands.push(Command::OpenConsole);
        }
    });
    ui.separator();
    if state.tables.is_empty() && !state.is_catalog_loading() {
        ui.weak("No tables yet");
    }
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        for table in &state.tables {
            let is_selected = state.selected() == Some(table.name.as_str());
            let response = ui.selectable_label(is_selected, RichText::new(&table.name).strong());
            let size = if table.is_linked {
                " · file in place".to_string()
            } else {
                table.bytes.map(|b| format!(" · {}", format_bytes(b))).unwrap_or_default()
            };
            // A linked text file is counted when first opened.
            let rows = if table.is_linked && table.rows == 0 { "rows not counted yet".to_string() } else { format!("{} rows", group_digits(table.rows)) };
            ui.label(
                RichText::new(format!("{rows} · {} columns{size}", table.columns))
                    .small()
                    .weak(),
            );
            if let Some(source) = &table.source {
                let verb = if table.is_linked { "Opened in place from" } else { "Imported from" };
                response.clone().on_hover_text(format!("{verb} {source}"));
            }
            if response.clicked() {
                commands.push(Command::OpenTable(table.name.clone()));
            }
            response.context_menu(|ui| {
                if ui.button("Profile").clicked() {
                    commands.push(Command::ProfileTable(table.name.clone()));
                }
                if ui.button("Remove duplicates…").clicked() {
                    commands.push(Command::DedupeTable(table.name.clone()));
                }
                if ui.button("Match records…").clicked() {
                    commands.push(Command::MatchTable(table.name.clone()));
                }
                if ui.button("Export…").clicked() {
                    commands.push(Command::ShowExportDialog(crate::engine::view::View::table(table.name.clone())));
                }
                let delete = if table.is_linked { "Close (the file stays)…" } else { "Delete table…" };
                if ui.button(delete).clicked() {
                    commands.push(Command::ConfirmDropTable(table.name.clone()));
                }
            });
            ui.add_space(4.0);
        }
    });
    state.pending_commands(commands);
}
