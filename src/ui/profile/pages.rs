//! The profile's correlations, missing-values and types pages.

use egui::{Color32, RichText, Sense, Stroke, vec2};

use super::*;

pub(super) fn correlations_ui(ui: &mut egui::Ui, state: &mut ProfileState) {
    let Some(corr) = state.profile.as_ref().and_then(|p| p.correlations.clone()) else {
        ui.label("Correlations need two or more numeric columns (and a finished profile).");
        return;
    };
    ui.horizontal(|ui| {
        ui.selectable_value(&mut state.spearman, false, "Pearson");
        ui.selectable_value(&mut state.spearman, true, "Spearman");
        if state.spearman && state.profile.as_ref().is_some_and(|p| corr.spearman_rows < p.rows) {
            ui.weak(format!("ranks of a sample of {} rows", group_digits(corr.spearman_rows)));
        }
    });
    legend_ui(ui);
    let values = if state.spearman { &corr.spearman } else { &corr.pearson };
    let n = corr.columns.len();
    let cell = 28.0_f32.min(600.0 / n.max(1) as f32).max(10.0);
    let label_w = 150.0;
    egui::ScrollArea::both().show(ui, |ui| {
        let (rect, response) = ui.allocate_exact_size(vec2(label_w + cell * n as f32, label_w + cell * n as f32), Sense::hover());
        let painter = ui.painter_at(rect);
        let text_color = ui.visuals().text_color();
        let font = egui::FontId::proportional(11.0);
        for (i, name) in corr.columns.iter().enumerate() {
            let short: String = name.chars().take(22).collect();
            painter.text(egui::pos2(rect.left() + label_w - 4.0, rect.top() + label_w + cell * (i as f32 + 0.5)), egui::Align2::RIGHT_CENTER, &short, font.clone(), text_color);
            let pos = egui::pos2(rect.left() + label_w + cell * (i as f32 + 0.5), rect.top() + label_w - 4.0);
            painter.add(egui::epaint::TextShape::new(pos, painter.layout_no_wrap(short, font.clone(), text_color), text_color).with_angle(-std::f32::consts::FRAC_PI_2));
        }
        for i in 0..n {
            for j in 0..n {
                let r = values[i * n + j];
                let color = match r {
                    Some(r) if r >= 0.0 => Color32::from_rgb((255.0 * (1.0 - r)) as u8, (255.0 * (1.0 - r)) as u8, 255),
                    Some(r) => Color32::from_rgb(255, (255.0 * (1.0 + r)) as u8, (255.0 * (1.0 + r)) as u8),
                    None => Color32::GRAY,
                };
                let cell_rect = egui::Rect::from_min_size(egui::pos2(rect.left() + label_w + cell * j as f32, rect.top() + label_w + cell * i as f32), vec2(cell - 1.0, cell - 1.0));
                painter.rect_filled(cell_rect, 0.0, color);
                // The value in the cell when it fits, in a color that reads on it.
                if cell >= 24.0 {
                    if let Some(r) = r {
                        let ink = if r.abs() > 0.6 { Color32::WHITE } else { Color32::BLACK };
                        painter.text(cell_rect.center(), egui::Align2::CENTER_CENTER, format!("{r:.2}").trim_start_matches('0').replace("-0.", "-."), egui::FontId::proportional(9.0), ink);
                    }
                }
            }
        }
        if let Some(pos) = response.hover_pos() {
            let (x, y) = ((pos.x - rect.left() - label_w) / cell, (pos.y - rect.top() - label_w) / cell);
            if x >= 0.0 && y >= 0.0 && (x as usize) < n && (y as usize) < n {
                let (i, j) = (y as usize, x as usize);
                let r = values[i * n + j].map_or("undefined".to_string(), |r| format!("{r:.3}"));
                response.on_hover_text(format!("{} × {}: r = {r}", corr.columns[i], corr.columns[j]));
            }
        }
    });
}

/// The heatmap's scale: -1 (red) through 0 (white) to +1 (blue).
fn legend_ui(ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.label("-1");
        let (rect, _) = ui.allocate_exact_size(vec2(200.0, 12.0), Sense::hover());
        let steps = 50;
        for k in 0..steps {
            let r = -1.0 + 2.0 * (k as f32 + 0.5) / steps as f32;
            let color = if r >= 0.0 {
                Color32::from_rgb((255.0 * (1.0 - r)) as u8, (255.0 * (1.0 - r)) as u8, 255)
            } else {
                Color32::from_rgb(255, (255.0 * (1.0 + r)) as u8, (255.0 * (1.0 + r)) as u8)
            };
            let w = rect.width() / steps as f32;
            ui.painter().rect_filled(egui::Rect::from_min_size(egui::pos2(rect.left() + w * k as f32, rect.top()), vec2(w + 0.5, rect.height())), 0.0, color);
        }
        ui.label("+1");
        ui.weak("red: one falls as the other rises · blue: they rise together · white: no linear relation");
    });
}

pub(super) fn missing_ui(ui: &mut egui::Ui, state: &mut ProfileState) {
    let columns = state.columns();
    if columns.is_empty() {
        return;
    }
    ui.label("Each row is a column; the stronger the color, the more of its values are missing there, from the first rows (left) to the last (right).");
    let label_w = 180.0;
    let row_h = 16.0;
    let width = (ui.available_width() - label_w - 80.0).max(200.0);
    egui::ScrollArea::vertical().show_rows(ui, row_h, columns.len(), |ui, range| {
        for c in &columns[range] {
            ui.horizontal(|ui| {
                ui.add_sized(vec2(label_w, row_h), egui::Label::new(RichText::new(&c.name).small()).truncate());
                let (rect, response) = ui.allocate_exact_size(vec2(width, row_h - 2.0), Sense::hover());
                let segments = c.missing_by_segment.len().max(1);
                let w = rect.width() / segments as f32;
                // From the background (nothing missing) to the error color (all missing), in
                // either theme; the square root lets a few percent show.
                let (empty, full) = (ui.visuals().extreme_bg_color, ui.visuals().error_fg_color);
                for (i, &share) in c.missing_by_segment.iter().enumerate() {
                    let color = empty.lerp_to_gamma(full, share.clamp(0.0, 1.0).sqrt());
                    ui.painter().rect_filled(egui::Rect::from_min_size(egui::pos2(rect.left() + w * i as f32, rect.top()), vec2(w + 0.5, rect.height())), 0.0, color);
                }
                ui.painter().rect_stroke(rect, 0.0, Stroke::new(0.5, ui.visuals().weak_text_color()), egui::StrokeKind::Inside);
                response.on_hover_text(format!("{}: {} missing ({:.2} %)", c.name, group_digits(c.nulls), c.null_pct()));
                ui.label(format!("{:.1} %", c.null_pct()));
            });
        }
    });
}

/// Suggested types, chosen with checkboxes, applied to a new table or in place.
pub(super) fn types_ui(ui: &mut egui::Ui, state: &mut ProfileState, commands: &mut Vec<Command>) {
    use crate::engine::profile::optimize::{OptimizeTarget, TypeChange};
    let Some(profile) = state.profile.as_ref().filter(|_| state.job.is_none()) else {
        ui.label("Suggestions appear when the profile is complete.");
        return;
    };
    if state.stale {
        ui.colored_label(ui.visuals().warn_fg_color, "The table changed since this profile: its suggestions may not hold for the rows now. Profile again to see new ones.");
        return;
    }
    let suggested: Vec<&ColumnProfile> = profile.column_profiles.iter().filter(|c| c.suggested.is_some()).collect();
    if suggested.is_empty() {
        ui.label("Every column already has the narrowest type that holds its values.");
        return;
    }
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        ui.label("Each suggestion is the narrowest type that holds every value of the column exactly; it is checked again on every row when applied.");
        egui::Grid::new("types").striped(true).num_columns(5).show(ui, |ui| {
            ui.strong("");
            ui.strong("Column");
            ui.strong("Now");
            ui.strong("Suggested");
            ui.strong("Uncompressed size saved");
            ui.end_row();
            for c in &suggested {
                let s = c.suggested.as_ref().expect("suggested");
                let mut chosen = !state.types_left_out.contains(&c.name);
                if ui.checkbox(&mut chosen, "").changed() {
                    if chosen {
                        state.types_left_out.remove(&c.name);
                    } else {
                        state.types_left_out.insert(c.name.clone());
                    }
                }
                ui.label(&c.name);
                ui.label(&c.storage_type);
                ui.label(&s.data_type).on_hover_text(&s.reason);
                ui.label(crate::engine::config::format_bytes(s.saves_bytes));
                ui.end_row();
            }
        });
        let changes: Vec<TypeChange> = suggested
            .iter()
            .filter(|c| !state.types_left_out.contains(&c.name))
            .map(|c| TypeChange { column: c.name.clone(), data_type: c.suggested.as_ref().map(|s| s.data_type.clone()).unwrap_or_default() })
            .collect();
        let saves: u64 = suggested.iter().filter(|c| !state.types_left_out.contains(&c.name)).filter_map(|c| c.suggested.as_ref()).map(|s| s.saves_bytes).sum();
        ui.label(format!(
            "{} columns chosen: their values take about {} less before compression (the file shrinks less: DuckDB already compresses stored columns)",
            changes.len(),
            crate::engine::config::format_bytes(saves)
        ));
        ui.add_enabled_ui(!changes.is_empty(), |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.add(egui::TextEdit::singleline(&mut state.optimize_name).desired_width(220.0));
                if ui.button("Create new table").clicked() {
                    commands.push(Command::OptimizeTypes { table: state.table.clone(), changes: changes.clone(), target: OptimizeTarget::NewTable(state.optimize_name.trim().to_string()) });
                }
                if ui.button("Replace table…").clicked() {
                    state.confirm_replace = true;
                }
            });
            if state.confirm_replace {
                ui.horizontal_wrapped(|ui| {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("Rewrite {} with the new types? Its rows stay the same.", state.table));
                    if ui.button("Replace").clicked() {
                        commands.push(Command::OptimizeTypes { table: state.table.clone(), changes: changes.clone(), target: OptimizeTarget::Replace });
                        state.confirm_replace = false;
                    }
                    if ui.button("Keep it").clicked() {
                        state.confirm_replace = false;
                    }
                });
            }
        });
    });
}

