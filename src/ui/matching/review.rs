//! The review of a run: the clusters listed, one cluster's rows side by side (tick to split,
//! pick the row a merge takes values from), and a pair's score as a waterfall.

use egui_extras::{Column, TableBuilder};

use super::MatchState;
use crate::engine::config::group_digits;
use crate::engine::linkage::PairExplained;
use crate::engine::linkage::labels::Split;

pub(super) fn clusters_list(ui: &mut egui::Ui, state: &mut MatchState) {
    let flagged = state.clusters.iter().filter(|c| c.weak_link.is_some()).count();
    ui.horizontal(|ui| {
        ui.label("Clusters, largest and least certain first");
        if flagged > 0 || state.flagged_only {
            ui.checkbox(&mut state.flagged_only, format!("only the {} that hang on one link", group_digits(flagged as u64)))
                .on_hover_text("Clusters held together by one doubtful link: two people may be joined through it");
        }
    });
    let shown: Vec<usize> = (0..state.clusters.len()).filter(|&i| !state.flagged_only || state.clusters[i].weak_link.is_some()).collect();
    let row_height = ui.spacing().interact_size.y;
    egui::ScrollArea::vertical().id_salt("match-clusters").auto_shrink([false, false]).show_rows(ui, row_height, shown.len(), |ui, range| {
        for &i in &shown[range] {
            let c = &state.clusters[i];
            let text = match c.weak_link {
                Some(link) => format!("Cluster {} · {} rows · hangs on one link {:.3} (flagged)", c.id + 1, c.size, link.probability),
                None => format!("Cluster {} · {} rows · weakest link {:.3}", c.id + 1, c.size, c.least),
            };
            if ui.selectable_label(state.selected == Some(c.id), text).clicked() {
                state.selected = Some(c.id);
            }
        }
    });
}

pub(super) fn cluster_detail(ui: &mut egui::Ui, state: &mut MatchState) {
    if state.detail.is_none() {
        if state.selected.is_some() {
            ui.spinner();
        }
        return;
    }
    egui::ScrollArea::vertical().id_salt("match-detail").auto_shrink([false, false]).show(ui, |ui| cluster_detail_inner(ui, state));
}

fn cluster_detail_inner(ui: &mut egui::Ui, state: &mut MatchState) {
    let Some((rows, pairs)) = &state.detail else {
        return;
    };
    let Some(id) = state.detail_for else { return };
    let busy = state.split_job.is_some();
    let summary = state.clusters.iter().find(|c| c.id == id).cloned();
    if let Some(link) = summary.as_ref().and_then(|c| c.weak_link) {
        let name = |node: u32| rows.nodes.iter().position(|&n| n == node).map_or_else(|| format!("row {}", node + 1), |i| rows.rows[i].0.clone());
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(ui.visuals().warn_fg_color, format!("Flagged: this cluster hangs on one link: {} – {} ({:.3}).", name(link.left), name(link.right), link.probability));
            if ui.add_enabled(!busy, egui::Button::new("Split there")).on_hover_text("The rows on either side of that link become clusters of their own").clicked() {
                state.wants_split = Some((id, Split::At(link)));
            }
        });
    }
    ui.label("Its rows (cells that differ from the first row are marked; tick rows to split them off; under \"merge from\", the row a merge takes values from)");
    let first = rows.rows.first().map(|r| r.1.clone()).unwrap_or_default();
    let (ticked, chosen) = (&mut state.ticked, &mut state.chosen);
    // Tall enough for the tick boxes, so every row is the same height.
    let row_height = ui.spacing().interact_size.y + 2.0;
    egui::ScrollArea::horizontal().id_salt("match-rows").show(ui, |ui| {
        // One line per row: a long cell widens its column rather than wrapping.
        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
        TableBuilder::new(ui)
            .id_salt("match-rows-table")
            .striped(true)
            .column(Column::auto())
            .column(Column::auto())
            .columns(Column::auto().at_least(60.0), rows.columns.len())
            .header(20.0, |mut header| {
                header.col(|ui| {
                    ui.strong("row");
                });
                header.col(|ui| {
                    ui.strong("merge from").on_hover_text("The row whose values a merge keeps for columns set to \"from the chosen row\"");
                });
                for c in &rows.columns {
                    header.col(|ui| {
                        ui.strong(c);
                    });
                }
            })
            .body(|mut body| {
                for ((label, cells), &node) in rows.rows.iter().zip(&rows.nodes) {
                    body.row(row_height, |mut row| {
                        row.col(|ui| {
                            let mut on = ticked.contains(&node);
                            if ui.checkbox(&mut on, label).changed() {
                                if on {
                                    ticked.insert(node);
                                } else {
                                    ticked.remove(&node);
                                }
                            }
                        });
                        row.col(|ui| {
                            let is_chosen = chosen.contains(&node);
                            if ui.radio(is_chosen, "").on_hover_text(format!("Merge takes {label}'s values for columns set to \"from the chosen row\"")).clicked() {
                                for other in &rows.nodes {
                                    chosen.remove(other);
                                }
                                if !is_chosen {
                                    chosen.insert(node);
                                }
                            }
                        });
                        for (i, cell) in cells.iter().enumerate() {
                            row.col(|ui| {
                                let text = cell.as_deref().unwrap_or("NULL");
                                if first.get(i) != Some(cell) {
                                    ui.colored_label(ui.visuals().warn_fg_color, text);
                                } else {
                                    ui.label(text);
                                }
                            });
                        }
                    });
                }
            });
    });
    let n = state.ticked.len();
    let can_split = n > 0 && n < rows.nodes.len() && !busy;
    if ui
        .add_enabled(can_split, egui::Button::new(format!("Split off the ticked rows ({n})")))
        .on_hover_text("They leave this cluster; the pairs across are labelled not the same, so later runs keep the split")
        .clicked()
    {
        state.wants_split = Some((id, Split::Rows(state.ticked.iter().copied().collect())));
    }
    ui.add_space(6.0);
    if pairs.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Why these two match:");
        egui::ComboBox::from_id_salt("match-pair")
            .selected_text(pairs.get(state.pair).map_or(String::new(), |p| format!("{} – {} ({:.3})", p.left, p.right, p.probability)))
            .show_ui(ui, |ui| {
                for (i, p) in pairs.iter().enumerate() {
                    ui.selectable_value(&mut state.pair, i, format!("{} – {} ({:.3})", p.left, p.right, p.probability));
                }
            });
    });
    if let Some(pair) = pairs.get(state.pair) {
        ui.horizontal(|ui| {
            ui.label("Label this pair:");
            if ui.button("Same person").on_hover_text("Kept with the table; later runs treat this pair as a match").clicked() {
                state.wants_label = Some((pair.left_node, pair.right_node, true));
            }
            if ui.button("Not the same").on_hover_text("Kept with the table; later runs never link this pair").clicked() {
                state.wants_label = Some((pair.left_node, pair.right_node, false));
            }
        });
        let prior = state.report.as_ref().and_then(|r| r.review.as_ref()).map_or(0.0, |r| r.prior_weight);
        waterfall(ui, pair, prior);
    }
}

/// The pair's weight built up bar by bar: the prior, then what each column added or took away.
fn waterfall(ui: &mut egui::Ui, pair: &PairExplained, prior: f64) {
    use egui_plot::{Bar, BarChart, Plot, PlotPoint, Text};
    let mut names = vec!["prior".to_string()];
    names.extend(pair.parts.iter().map(|p| p.column.clone()));
    names.push("match weight".into());
    // What each bar says beside it: the level the pair is at and what it added.
    let mut notes = vec![format!("prior: how rare a match is {prior:+.1}")];
    notes.extend(pair.parts.iter().map(|p| format!("{}: {} {:+.1}", p.column, p.level, p.weight)));
    notes.push(format!("match weight {:+.1} = probability {:.4}", pair.weight, pair.probability));
    let good = egui::Color32::from_rgb(60, 160, 90);
    let bad = egui::Color32::from_rgb(200, 70, 60);
    let mut bars = Vec::new();
    let mut ends = Vec::new();
    let mut running = 0.0;
    let steps = std::iter::once(prior).chain(pair.parts.iter().map(|p| p.weight));
    for (i, w) in steps.enumerate() {
        let y = -(i as f64);
        bars.push(Bar::new(y, w).base_offset(running).width(0.7).name(&notes[i]).fill(if w >= 0.0 { good } else { bad }));
        running += w;
        ends.push(f64::max(running, running - w));
    }
    let total_y = -((names.len() - 1) as f64);
    bars.push(Bar::new(total_y, running).width(0.7).name(&notes[notes.len() - 1]).fill(ui.visuals().selection.bg_fill));
    ends.push(running.max(0.0));
    ui.label(format!("match weight {:+.2}: the prior {prior:+.2} plus what each column added · probability {:.4}", pair.weight, pair.probability));
    let text_color = ui.visuals().text_color();
    Plot::new(("match-waterfall", &pair.left, &pair.right))
        .height(18.0 * names.len() as f32 + 30.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show_y(false)
        .include_x(ends.iter().copied().fold(0.0, f64::max) * 1.8)
        .show_axes([true, false])
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("weights", bars).horizontal());
            for (i, (note, end)) in notes.iter().zip(&ends).enumerate() {
                let at = PlotPoint::new(end + 0.5, -(i as f64));
                plot.text(Text::new(format!("note {i}"), at, egui::RichText::new(note).small().color(text_color)).anchor(egui::Align2::LEFT_CENTER));
            }
        });
}
