//! The filter window of a column: keep rows whose value contains, equals, starts with or
//! matches a text (case sensitive or not), lies in a range (numbers, dates, times), is or is
//! not empty, or is one of the column's most frequent values; also sort by it or hide it.

use std::collections::HashSet;

use egui::RichText;
use poll_promise::Promise;

use super::state::Command;
use super::tabs::{FilterDraft, FilterPopup, Tab};
use crate::engine::browse::{TableView, top_values};
use crate::engine::config::group_digits;
use crate::engine::view::{Filter, SortKey, TextMatch, View, is_range_type, type_in_words};
use crate::engine::workspace::ColumnInfo;

/// How many of a column's values the "one of" list offers at first; a search reads more.
const TOP_VALUES: usize = 500;

/// The window for source column `column`, starting from its current filter.
pub fn open_popup(view: &TableView, column: usize, at: egui::Pos2) -> FilterPopup {
    let info = view.columns().and_then(|c| c.get(column)).cloned();
    let name = info.as_ref().map(|c| c.name.clone()).unwrap_or_default();
    let name_for_popup = name.clone();
    let data_type = info.map(|c| c.data_type).unwrap_or_default();
    let current = view.view().filters.iter().find(|f| f.column == name).map(|f| FilterDraft::from_condition(&f.condition));
    let draft = current.unwrap_or(if is_range_type(&data_type) {
        FilterDraft::Range { min: String::new(), max: String::new() }
    } else {
        FilterDraft::Text { how: TextMatch::Contains, value: String::new(), case_sensitive: false }
    });
    // The pick list is read in the background whatever the mode, so it is ready when asked for.
    let workspace_view = view.view().clone();
    let workspace = view.workspace().clone();
    let top = Promise::spawn_thread("top-values", move || {
        let conn = workspace.connect()?;
        top_values(&conn, &workspace_view, &name, None, TOP_VALUES)
    });
    FilterPopup { column: name_for_popup, draft, top_values: Some(top), values: None, at, placed: false, value_search: String::new(), searched: None }
}

/// Which kind of condition the draft is, for the mode selector.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text(TextMatch),
    Range,
    OneOf,
    Empty,
    NotEmpty,
}

impl Mode {
    fn of(draft: &FilterDraft) -> Self {
        match draft {
            FilterDraft::Text { how, .. } => Self::Text(*how),
            FilterDraft::Range { .. } => Self::Range,
            FilterDraft::OneOf { .. } => Self::OneOf,
            FilterDraft::IsNull => Self::Empty,
            FilterDraft::IsNotNull => Self::NotEmpty,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Text(how) => how.label(),
            Self::Range => "is between",
            Self::OneOf => "is one of",
            Self::Empty => "is empty (NULL)",
            Self::NotEmpty => "is not empty",
        }
    }

    /// The draft switched to this mode, keeping what can be kept.
    fn draft(self, from: &FilterDraft) -> FilterDraft {
        let text = match from {
            FilterDraft::Text { value, .. } => value.clone(),
            _ => String::new(),
        };
        let case_sensitive = matches!(from, FilterDraft::Text { case_sensitive: true, .. });
        match self {
            Self::Text(how) => FilterDraft::Text { how, value: text, case_sensitive },
            Self::Range => FilterDraft::Range { min: String::new(), max: String::new() },
            Self::OneOf => FilterDraft::OneOf { picked: HashSet::new() },
            Self::Empty => FilterDraft::IsNull,
            Self::NotEmpty => FilterDraft::IsNotNull,
        }
    }
}

pub fn filter_popup_ui(ctx: &egui::Context, tab: &mut Tab, columns: &[ColumnInfo], commands: &mut Vec<Command>) {
    let (Some(popup), Some(view)) = (tab.filter_popup.as_mut(), tab.view.as_ref()) else { return };
    let Some(info) = columns.iter().find(|c| c.name == popup.column) else {
        tab.filter_popup = None;
        return;
    };
    let current: View = view.view().clone();
    let mut open = true;
    let mut close = false;
    // Escape closes the window; Enter applies what it holds.
    let (escape, enter) = ctx.input(|i| (i.key_pressed(egui::Key::Escape), i.key_pressed(egui::Key::Enter)));
    if escape {
        close = true;
    }
    let mut window = egui::Window::new(format!("Filter {}", info.name))
        .id(egui::Id::unique(("filter-window", popup.column.as_str())))
        .open(&mut open)
        .collapsible(false)
        .resizable(false);
    // Opened under its column every time, wherever it was dragged before.
    if !popup.placed {
        window = window.current_pos(popup.at);
        popup.placed = true;
    }
    let workspace = view.workspace().clone();
    window.show(ctx, |ui| {
            ui.horizontal(|ui| {
                if ui.button("Sort ⏶").clicked() {
                    commands.push(Command::SetView(View { sort: vec![SortKey::ascending(info.name.clone())], ..current.clone() }));
                    close = true;
                }
                if ui.button("Sort ⏷").clicked() {
                    commands.push(Command::SetView(View { sort: vec![SortKey { column: info.name.clone(), descending: true }], ..current.clone() }));
                    close = true;
                }
                if ui.button("Hide column").clicked() {
                    let shown: Vec<String> = view.visible_columns().iter().map(|&i| columns[i].name.clone()).filter(|n| *n != info.name).collect();
                    if !shown.is_empty() {
                        commands.push(Command::SetView(View { columns: Some(shown), ..current.clone() }));
                    }
                    close = true;
                }
            });
            ui.separator();
            ui.label(RichText::new(format!("Keep rows where {} ({})", info.name, type_in_words(&info.data_type))).strong());
            let mut modes = vec![Mode::Text(TextMatch::Contains), Mode::Text(TextMatch::Equals), Mode::Text(TextMatch::StartsWith), Mode::Text(TextMatch::Regex)];
            if is_range_type(&info.data_type) {
                modes.insert(0, Mode::Range);
            }
            modes.extend([Mode::OneOf, Mode::Empty, Mode::NotEmpty]);
            let mode = Mode::of(&popup.draft);
            egui::ComboBox::from_id_salt("filter-mode").selected_text(mode.label()).show_ui(ui, |ui| {
                for m in modes {
                    if ui.selectable_label(m == mode, m.label()).clicked() && m != mode {
                        popup.draft = m.draft(&popup.draft);
                    }
                }
            });
            let mut apply = enter;
            match &mut popup.draft {
                FilterDraft::Text { value, case_sensitive, how } => {
                    let hint = if *how == TextMatch::Regex { "regular expression, e.g. ^A.*z$" } else { "text" };
                    let response = ui.add(egui::TextEdit::singleline(value).hint_text(hint).desired_width(260.0));
                    response.request_focus();
                    apply |= response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    ui.checkbox(case_sensitive, "Match case");
                }
                FilterDraft::Range { min, max } => {
                    let example = if info.data_type.to_ascii_uppercase().starts_with("DATE") { "2024-01-31" } else { "number" };
                    ui.horizontal(|ui| {
                        ui.label("from");
                        let r = ui.add(egui::TextEdit::singleline(min).hint_text(example).desired_width(110.0));
                        apply |= r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                        ui.label("to");
                        let r = ui.add(egui::TextEdit::singleline(max).hint_text(example).desired_width(110.0));
                        apply |= r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    });
                    ui.weak("Both ends included; leave one empty for no limit");
                }
                FilterDraft::OneOf { picked } => match &popup.values {
                    None => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Reading the most frequent values…");
                        });
                    }
                    Some(Err(e)) => {
                        ui.colored_label(ui.visuals().error_fg_color, e);
                    }
                    Some(Ok(top)) => {
                        let search = ui.add(egui::TextEdit::singleline(&mut popup.value_search).hint_text("search values").desired_width(260.0));
                        let wanted = popup.value_search.trim().to_string();
                        // The list holds the most frequent values only: a search reads the
                        // matching ones from the whole column.
                        let is_cut = top.len() >= TOP_VALUES;
                        if is_cut && !wanted.is_empty() && popup.searched.as_ref().is_none_or(|(s, _)| *s != wanted) {
                            let (workspace, view, column, text) = (workspace.clone(), current.clone(), info.name.clone(), wanted.clone());
                            let promise = Promise::spawn_thread("search-values", move || {
                                let conn = workspace.connect()?;
                                top_values(&conn, &view, &column, Some(&text), TOP_VALUES)
                            });
                            popup.searched = Some((wanted.clone(), promise));
                        }
                        let searched = popup.searched.as_ref().filter(|(s, _)| is_cut && *s == wanted).and_then(|(_, p)| p.ready());
                        let values: Vec<&(Option<String>, u64)> = match searched {
                            Some(Ok(found)) => found.iter().collect(),
                            _ => {
                                let needle = wanted.to_lowercase();
                                top.iter().filter(|(v, _)| needle.is_empty() || v.as_deref().is_some_and(|v| v.to_lowercase().contains(&needle))).collect()
                            }
                        };
                        let _ = search;
                        ui.horizontal(|ui| {
                            if ui.small_button("All").clicked() {
                                picked.extend(values.iter().map(|(v, _)| v.clone()));
                            }
                            if ui.small_button("None").clicked() {
                                picked.clear();
                            }
                            if wanted.is_empty() {
                                let more = if is_cut { " (search to find others)" } else { "" };
                                ui.weak(format!("the {} most frequent values{more}", values.len()));
                            } else {
                                ui.weak(format!("{} values contain \"{wanted}\"", values.len()));
                            }
                        });
                        egui::ScrollArea::vertical().max_height(260.0).show(ui, |ui| {
                            for (value, count) in values {
                                let mut on = picked.contains(value);
                                let label = match value {
                                    Some(v) => RichText::new(format!("{v}  ({})", group_digits(*count))),
                                    None => RichText::new(format!("NULL  ({})", group_digits(*count))).italics(),
                                };
                                if ui.checkbox(&mut on, label).changed() {
                                    if on {
                                        picked.insert(value.clone());
                                    } else {
                                        picked.remove(value);
                                    }
                                }
                            }
                        });
                    }
                },
                FilterDraft::IsNull | FilterDraft::IsNotNull => {}
            }
            ui.separator();
            ui.horizontal(|ui| {
                let condition = popup.draft.to_condition();
                if ui.add_enabled(condition.is_some(), egui::Button::new("Apply")).clicked() {
                    apply = true;
                }
                let has_filter = current.filters.iter().any(|f| f.column == info.name);
                if ui.add_enabled(has_filter, egui::Button::new("Clear filter")).clicked() {
                    let mut next = current.clone();
                    next.filters.retain(|f| f.column != info.name);
                    commands.push(Command::SetView(next));
                    close = true;
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
                if apply {
                    if let Some(condition) = condition {
                        let mut next = current.clone();
                        next.filters.retain(|f| f.column != info.name);
                        next.filters.push(Filter { column: info.name.clone(), condition });
                        commands.push(Command::SetView(next));
                        close = true;
                    }
                }
            });
        });
    if close || !open {
        tab.filter_popup = None;
    }
}
