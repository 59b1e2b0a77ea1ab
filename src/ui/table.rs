//! The table view: a virtualized grid over [`TableView`]'s page cache.
//!
//! egui_table places rows at f32 offsets, which drift past a few million rows, so the grid
//! shows a window of at most [`WINDOW_ROWS`] rows starting at `window_base`; the window
//! re-centres as the viewport nears its edge, and the row slider above the grid jumps
//! anywhere in the full u64 range. Columns open as wide as their header and first rows need
//! (egui_table would otherwise measure them before any row has arrived), keep the widths the
//! user drags them to per table, and a last empty column takes the free width.

use std::ops::Range;

use egui::{Align, Id, Key, Modifiers, RichText, Sense, TextStyle};
use egui_table::{CellInfo, Column, HeaderCellInfo, HeaderRow, PrefetchInfo, Table, TableDelegate, TableState};

use super::state::Command;
use super::tabs::{Selection, Tab};
use crate::engine::config::group_digits;
use crate::engine::browse::{Cell, PAGE_ROWS, TableView};
use crate::engine::view::{SortKey, View};
use crate::engine::workspace::ColumnInfo;

pub const WINDOW_ROWS: u64 = 500_000;
const ROW_HEIGHT: f32 = 20.0;
const MIN_WIDTH: f32 = 48.0;
const MAX_INITIAL_WIDTH: f32 = 360.0;
/// Characters of a value measured for a column's initial width.
const MEASURED_CHARS: usize = 60;
/// Bumped when stored widths must be forgotten (0.1 stored 40 px for every column).
const WIDTHS_VERSION: u32 = 2;

#[derive(Default)]
pub struct GridState {
    pub window_base: u64,
    /// Absolute first visible row, as of the last frame.
    pub first_visible: u64,
    /// Rows on screen, as of the last frame.
    pub visible_rows: u64,
    /// The first row egui_table reported on screen (partly hidden, after a jump).
    reported_start: u64,
    /// Widths this view set itself; a column whose width differs was resized by the user.
    auto_widths: egui::IdMap<f32>,
    /// Absolute row to bring to the top on the next frame.
    pub scroll_to: Option<u64>,
    /// A jump in flight: the table scrolls a frame or two after it is asked to, and until
    /// the target is on screen the window must not re-centre on stale rows.
    jump: Option<(u64, u8)>,
    /// The leftmost column on screen (after the row numbers), as of the last frame.
    first_column: usize,
}

/// The grid of a tab's view, with its header bar (row count, sort, search, columns,
/// export), filter chips and filter windows.
pub fn table_ui(ui: &mut egui::Ui, tab: &mut Tab, commands: &mut Vec<Command>) {
    let Some(view) = tab.view.as_mut() else {
        return;
    };
    header_bar_ui(ui, view, &mut tab.grid, &mut tab.search, &mut tab.focus_search, commands);
    chips_ui(ui, view, &mut tab.search, commands);

    if let Some(err) = view.error() {
        ui.colored_label(ui.visuals().error_fg_color, err);
        return;
    }
    let Some(all_columns) = view.columns().map(<[ColumnInfo]>::to_vec) else {
        loading_ui(ui);
        return;
    };
    let shown = view.visible_columns();
    let columns: Vec<ColumnInfo> = shown.iter().map(|&i| all_columns[i].clone()).collect();
    let total = view.total_rows();
    let grid = &mut tab.grid;

    handle_keys(ui, grid, total);
    copy_selection(ui, view, &tab.selection, &shown, &mut tab.is_copying);
    if let Some(target) = grid.scroll_to {
        if target < grid.window_base || target >= grid.window_base + WINDOW_ROWS {
            grid.window_base = centred_base(target, total);
        }
    }
    let window_rows = total.saturating_sub(grid.window_base).min(WINDOW_ROWS);
    let widths_key = view.source.title();
    let mut clicked = Clicked::default();

    // Each table keeps its own scroll position and column widths.
    ui.push_id(("grid", WIDTHS_VERSION, widths_key.as_str()), |ui| {
        let number_width = text_width(ui, &group_digits(total.max(1)), TextStyle::Body) + 16.0;
        let mut table_columns: Vec<Column> = std::iter::once(Column::new(number_width.max(40.0)).resizable(false).id(Id::unique("row-number")))
            .chain(columns.iter().map(|c| Column::new(120.0).range(MIN_WIDTH..=2000.0).resizable(true).id(Id::unique(("col", c.name.as_str())))))
            .collect();
        let id = Table::new().id_salt("grid").get_id(ui);
        // Which widths this view set itself outlives the session, like the widths do.
        let auto_id = id.with("auto-widths");
        if grid.auto_widths.is_empty() {
            grid.auto_widths = ui.ctx().data_mut(|d| d.get_persisted::<egui::IdMap<f32>>(auto_id)).unwrap_or_default();
        }
        let mut is_seeded = false;
        let mut stored = match TableState::load(ui.ctx(), id) {
            Some(stored) => stored,
            None => {
                // The first rows decide the columns' widths; until they are here there is nothing to show.
                let first_page = 0..total.min(PAGE_ROWS);
                if !view.has_rows(first_page.clone()) {
                    view.prefetch(first_page);
                    loading_ui(ui);
                    return;
                }
                is_seeded = true;
                TableState { parent_width: Some(ui.available_width()), ..TableState::default() }
            }
        };
        // Columns not sized yet (new, or shown again) open as wide as their header and first
        // rows; columns the user has not resized grow to fit wider values as they scroll into
        // view (a sort brings other values), never shrink, so they do not jump about.
        let on_screen = grid.first_visible..(grid.first_visible + grid.visible_rows.max(1)).min(total);
        let measured = if is_seeded { 0..total.min(PAGE_ROWS) } else { on_screen };
        let wanted = seed_widths(ui, view, &shown, &all_columns, &table_columns, measured);
        let mut grew = false;
        for (key, width) in wanted.col_widths.iter() {
            let current = stored.col_widths.get(key).copied();
            let is_auto = current.is_none() || grid.auto_widths.get(key).copied() == current;
            if is_auto && current.is_none_or(|c| *width > c) {
                stored.col_widths.insert(*key, *width);
                grid.auto_widths.insert(*key, *width);
                grew = true;
            }
        }
        if grew || is_seeded {
            stored.clone().store(ui.ctx(), id);
            let auto = grid.auto_widths.clone();
            ui.ctx().data_mut(|d| d.insert_persisted(auto_id, auto));
        }
        let used: f32 = table_columns
            .iter()
            .enumerate()
            .map(|(i, c)| if c.resizable { stored.col_widths.get(&c.id_for(i)).copied().unwrap_or(c.current) } else { c.current })
            .sum();
        let free = ui.available_width() - ui.spacing().scroll.allocated_width() - used;
        table_columns.push(Column::new(free.max(0.0).floor()).range(0.0..=f32::INFINITY).resizable(false).id(Id::unique("filler")));

        let mut table = Table::new()
            .id_salt("grid")
            .num_rows(window_rows)
            .columns(table_columns)
            .num_sticky_cols(1)
            .headers([HeaderRow::new(40.0)]);
        // The table reports this frame's visible rows from before a jump takes effect.
        if let Some(target) = grid.scroll_to.take() {
            table = table.scroll_to_row(target - grid.window_base, Some(Align::Min));
            // A jump to a row aligns both ways: name the column in view, or the columns would
            // slide under the row numbers by their width at every new sort or filter.
            if grid.first_column >= 1 {
                table = table.scroll_to_column(grid.first_column, Some(Align::Min));
            }
            grid.jump = Some((target, 10));
        }
        let filtered: Vec<bool> = shown.iter().map(|&i| view.view().filters.iter().any(|f| f.column == all_columns[i].name)).collect();
        let mut delegate = Grid { view, shown: &shown, filtered, base: grid.window_base, visible: 0..0, first_column: None, clicked: &mut clicked, selection: tab.selection };
        // Jumps land at once: an animated scroll would pass the window's edge on its way and
        // re-centre the window away from the target.
        ui.style_mut().scroll_animation = egui::style::ScrollAnimation::none();
        table.show(ui, &mut delegate);

        let visible = delegate.visible.clone();
        if let Some(first) = delegate.first_column {
            grid.first_column = first;
        }
        grid.visible_rows = visible.end.saturating_sub(visible.start);
        if let Some((target, frames_left)) = grid.jump {
            let arrived = visible.contains(&target) || visible.end >= total;
            grid.jump = (!arrived && frames_left > 0).then(|| (target, frames_left - 1));
            if grid.jump.is_some() {
                ui.ctx().request_repaint();
                return;
            }
            // A row scrolled to the top leaves a sliver of the row before it in view; the
            // row asked for is the top one.
            grid.first_visible = if arrived && visible.contains(&target) { target } else { visible.start };
            grid.reported_start = visible.start;
        } else if visible.start != grid.reported_start {
            grid.first_visible = visible.start;
            grid.reported_start = visible.start;
        }
        if let Some(base) = recentred_base(grid.window_base, window_rows, total, &visible) {
            grid.window_base = base;
            grid.scroll_to = Some(visible.start);
            ui.ctx().request_repaint();
        }
    });

    let Some(view) = tab.view.as_mut() else { return };
    if let Some((col, add)) = clicked.sort {
        if let Some(&source_col) = shown.get(col) {
            let name = all_columns[source_col].name.clone();
            commands.push(Command::SetView(View { sort: next_sort(&view.view().sort, &name, add), ..view.view().clone() }));
        }
    }
    if let Some((col, at)) = clicked.filter {
        if let Some(&source_col) = shown.get(col) {
            tab.filter_popup = Some(super::filters::open_popup(view, source_col, at));
        }
    }
    if let Some((row, col, extend)) = clicked.cell {
        let columns = shown.len().saturating_sub(1);
        tab.selection = Some(match (tab.selection, extend, col) {
            (Some(sel), true, Some(col)) => Selection { anchor: sel.anchor, cursor: (row, col) },
            (Some(sel), true, None) => Selection { anchor: (sel.anchor.0, 0), cursor: (row, columns) },
            (_, _, Some(col)) => Selection { anchor: (row, col), cursor: (row, col) },
            (_, _, None) => Selection { anchor: (row, 0), cursor: (row, columns) },
        });
    }
    super::filters::filter_popup_ui(ui.ctx(), tab, &all_columns, commands);
}

/// What was clicked in the grid this frame.
#[derive(Default)]
struct Clicked {
    /// A header (shown column), with Shift held.
    sort: Option<(usize, bool)>,
    /// A header's filter button, and where it is.
    filter: Option<(usize, egui::Pos2)>,
    /// A cell: row, shown column (`None` for the row number), Shift held.
    cell: Option<(u64, Option<usize>, bool)>,
}

/// Finished background work of a tab: a filter window's values.
pub fn poll_tab(tab: &mut Tab) {
    if let Some(popup) = &mut tab.filter_popup {
        if let Some(p) = popup.top_values.take() {
            match p.try_take() {
                Ok(result) => popup.values = Some(result.map_err(|e| e.to_string())),
                Err(p) => popup.top_values = Some(p),
            }
        }
    }
}

/// Ctrl+C copies the selected cells (with a header line) as tab-separated text. Rows that
/// are not cached are read in the background and copied when they arrive.
fn copy_selection(ui: &egui::Ui, view: &mut TableView, selection: &Option<Selection>, shown: &[usize], is_copying: &mut bool) {
    if *is_copying {
        match view.take_copied() {
            Some(Ok(text)) => {
                ui.ctx().copy_text(text);
                *is_copying = false;
            }
            Some(Err(_)) => *is_copying = false,
            None => {}
        }
    }
    let Some(sel) = selection else { return };
    if ui.memory(|m| m.focused()).is_some() {
        return;
    }
    let copy = ui.input(|i| i.events.iter().any(|e| matches!(e, egui::Event::Copy)));
    if !copy {
        return;
    }
    let columns: Vec<usize> = sel.columns().filter_map(|c| shown.get(c).copied()).collect();
    let rows = *sel.rows().start()..sel.rows().end() + 1;
    match view.copy_rows(rows, &columns) {
        Some(text) => ui.ctx().copy_text(text),
        None => *is_copying = true,
    }
}

fn loading_ui(ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label("Loading…");
    });
}

fn header_bar_ui(ui: &mut egui::Ui, view: &mut TableView, grid: &mut GridState, search: &mut String, focus_search: &mut bool, commands: &mut Vec<Command>) {
    // Two rows, so nothing overlaps at any width: what the view is, then what to do with it.
    ui.horizontal_wrapped(|ui| {
        // A query's text is in the editor above its result.
        ui.heading(view.source.table_name().unwrap_or("Result"));
        if view.columns().is_some() {
            let rows = group_digits(view.total_rows());
            let of = if view.is_filtered() { format!(" of {}", group_digits(view.source_rows())) } else { String::new() };
            match (view.is_row_count_estimate(), view.is_counting()) {
                (false, false) => ui.label(format!("{rows}{of} rows")),
                (false, true) => ui.label(format!("{rows}+{of} rows (counting…)")),
                (true, true) => ui.label(format!("about {rows} rows (counting…)")),
                (true, false) => ui.label(format!("about {rows} rows")),
            };
            if view.is_row_count_estimate() && !view.is_counting() && ui.small_button("Count rows").clicked() {
                view.count_rows();
            }
        }
        let keys = &view.view().sort;
        if !keys.is_empty() {
            let shown: Vec<String> = keys.iter().map(|k| format!("{} {}", k.column, if k.descending { "⏷" } else { "⏶" })).collect();
            // The button stays where it is while the sort runs and when it lands.
            ui.label(format!("Sorted by {}", shown.join(", ")));
            if ui.small_button("Clear sort").clicked() {
                commands.push(Command::SetView(View { sort: Vec::new(), ..view.view().clone() }));
            }
            if view.is_preparing() {
                ui.spinner();
                ui.label("sorting…");
            }
        } else if view.is_preparing() {
            ui.spinner();
            ui.label("Filtering…");
        }
        if let Some(e) = view.view_error() {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        if view.is_loading() && !view.is_preparing() {
            ui.spinner();
        }
    });
    ui.horizontal(|ui| {
        let search_id = ui.scope_id().with("search");
        if ui.input_mut(|i| i.consume_shortcut(&egui::KeyboardShortcut::new(Modifiers::COMMAND, Key::F))) {
            *focus_search = true;
        }
        let response = ui.add(egui::TextEdit::singleline(search).id(search_id).hint_text("Search text (Ctrl+F)").desired_width(180.0));
        if std::mem::take(focus_search) {
            response.request_focus();
        }
        let entered = response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
        if entered {
            let wanted = Some(search.trim().to_string()).filter(|s| !s.is_empty());
            if wanted != view.view().search {
                commands.push(Command::SetView(View { search: wanted, ..view.view().clone() }));
            }
        }
        columns_menu_ui(ui, view, commands);
        if ui.button("Export…").on_hover_text("Export the rows shown: filters, sort and columns as they are").clicked() {
            commands.push(Command::ShowExportDialog(view.view().clone()));
        }
        if let Some(table) = view.source.table_name() {
            if ui.button("Profile").on_hover_text("Statistics, distributions, alerts and quality checks of every column").clicked() {
                commands.push(Command::ProfileTable(table.to_string()));
            }
            if ui.button("Duplicates…").on_hover_text("Find and remove duplicate rows, reviewing the groups first").clicked() {
                commands.push(Command::DedupeTable(table.to_string()));
            }
            if ui.button("Match…").on_hover_text("Find rows that are the same person written differently, across several columns").clicked() {
                commands.push(Command::MatchTable(table.to_string()));
            }
        }
        let total = view.total_rows();
        if total > 1 {
            ui.with_layout(egui::Layout::right_to_left(Align::Center), |ui| {
                // Type a row number and press Enter to go there.
                let mut row = grid.first_visible.min(total - 1) + 1;
                let go = egui::DragValue::new(&mut row).range(1..=total).speed(0.0).prefix("row ");
                let response = ui.add(go).on_hover_text("Type a row number and press Enter to jump to it");
                if response.changed() {
                    grid.scroll_to = Some(row - 1);
                }
                let mut slider_row = grid.first_visible.min(total - 1) + 1;
                let slider = egui::Slider::new(&mut slider_row, 1..=total).show_value(false).clamping(egui::SliderClamping::Always);
                if ui.add(slider).changed() {
                    grid.scroll_to = Some(slider_row - 1);
                }
            });
        }
    });
}

/// Show, hide and reorder columns.
fn columns_menu_ui(ui: &mut egui::Ui, view: &TableView, commands: &mut Vec<Command>) {
    let Some(all) = view.columns() else { return };
    let names: Vec<String> = all.iter().map(|c| c.name.clone()).collect();
    let shown: Vec<String> = view.visible_columns().iter().map(|&i| names[i].clone()).collect();
    let hidden = names.len() - shown.len();
    let label = if hidden > 0 { format!("Columns ({hidden} hidden)") } else { "Columns".to_string() };
    // Stays open while columns are ticked, until a click outside it.
    let config = egui::containers::menu::MenuConfig::new().close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside);
    egui::containers::menu::MenuButton::new(label).config(config).ui(ui, |ui| {
        let mut order = shown.clone();
        let mut changed = false;
        egui::ScrollArea::vertical().max_height(400.0).show(ui, |ui| {
            for (i, name) in shown.iter().enumerate() {
                ui.horizontal(|ui| {
                    let mut on = true;
                    if ui.checkbox(&mut on, name).changed() && shown.len() > 1 {
                        order.retain(|n| n != name);
                        changed = true;
                    }
                    if super::named(ui.add_enabled(i > 0, egui::Button::new("⏶").small()), "Move left").on_hover_text("Move left").clicked() {
                        order.swap(i, i - 1);
                        changed = true;
                    }
                    if super::named(ui.add_enabled(i + 1 < shown.len(), egui::Button::new("⏷").small()), "Move right").on_hover_text("Move right").clicked() {
                        order.swap(i, i + 1);
                        changed = true;
                    }
                });
            }
            for name in names.iter().filter(|n| !shown.contains(n)) {
                let mut on = false;
                if ui.checkbox(&mut on, RichText::new(name).weak()).changed() {
                    order.push(name.clone());
                    changed = true;
                }
            }
        });
        ui.separator();
        if ui.add_enabled(hidden > 0 || shown != names, egui::Button::new("Show all in table order")).clicked() {
            order = names.clone();
            changed = true;
        }
        if changed {
            let columns = if order == names { None } else { Some(order) };
            commands.push(Command::SetView(View { columns, ..view.view().clone() }));
        }
    });
}

/// The active filters (and search) as chips; clicking one removes it.
fn chips_ui(ui: &mut egui::Ui, view: &TableView, search_text: &mut String, commands: &mut Vec<Command>) {
    let current = view.view();
    if current.filters.is_empty() && current.search.is_none() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.weak("Filters:");
        for (i, filter) in current.filters.iter().enumerate() {
            if ui.button(format!("{filter}  ✖")).on_hover_text("Remove this filter").clicked() {
                let mut next = current.clone();
                next.filters.remove(i);
                commands.push(Command::SetView(next));
            }
        }
        if let Some(search) = &current.search {
            if ui.button(format!("text contains \"{search}\"  ✖")).on_hover_text("Remove the search").clicked() {
                search_text.clear();
                commands.push(Command::SetView(View { search: None, ..current.clone() }));
            }
        }
        if current.filters.len() + usize::from(current.search.is_some()) > 1 && ui.small_button("Clear all").clicked() {
            search_text.clear();
            commands.push(Command::SetView(View { filters: Vec::new(), search: None, ..current.clone() }));
        }
    });
}

fn text_width(ui: &egui::Ui, text: &str, style: TextStyle) -> f32 {
    let font = style.resolve(ui.style());
    ui.painter().layout_no_wrap(text.to_string(), font, egui::Color32::WHITE).size().x
}

/// Widths for the shown columns: each as wide as its header (name and type, with room for
/// the sort arrow and filter button) or its widest cached value among `rows`.
fn seed_widths(ui: &egui::Ui, view: &TableView, shown: &[usize], all: &[ColumnInfo], table_columns: &[Column], rows: Range<u64>) -> TableState {
    let mut state = TableState { parent_width: Some(ui.available_width()), ..TableState::default() };
    for (i, &source) in shown.iter().enumerate() {
        let info = &all[source];
        let header = text_width(ui, &format!("{} ⏷2", info.name), TextStyle::Body).max(text_width(ui, &format!("{} {FILTER_ICON}", info.data_type), TextStyle::Small) + 12.0);
        let content = rows
            .clone()
            .map(|r| match view.cell(r, source) {
                Cell::Text(t) => text_width(ui, &t.chars().take(MEASURED_CHARS).collect::<String>(), TextStyle::Body),
                Cell::Null => text_width(ui, "NULL", TextStyle::Small),
                Cell::Loading => 0.0,
            })
            .fold(0.0, f32::max);
        let width = (header.max(content) + 16.0).clamp(MIN_WIDTH, MAX_INITIAL_WIDTH).ceil();
        state.col_widths.insert(table_columns[i + 1].id_for(i + 1), width);
    }
    state
}

/// A new window start when the viewport is within a tenth of the window's edge and there
/// are rows beyond that edge; `None` while the viewport is comfortably inside.
pub fn recentred_base(window_base: u64, window_rows: u64, total: u64, visible: &Range<u64>) -> Option<u64> {
    if visible.is_empty() {
        return None;
    }
    let margin = WINDOW_ROWS / 10;
    let near_top = window_base > 0 && visible.start < window_base + margin;
    let near_bottom = window_base + window_rows < total && visible.end + margin > window_base + window_rows;
    (near_top || near_bottom).then(|| centred_base(visible.start, total))
}

/// A window start that puts `row` mid-window, but keeps the window full at the table's end.
fn centred_base(row: u64, total: u64) -> u64 {
    row.saturating_sub(WINDOW_ROWS / 2).min(total.saturating_sub(WINDOW_ROWS))
}

/// Keys that move through the rows: arrows one row, Page Up/Down a screen, Home/End (or
/// Ctrl+Home/End) the ends. Only while no text field has the keyboard.
fn handle_keys(ui: &egui::Ui, grid: &mut GridState, total: u64) {
    // Keys scroll the rows unless text is being typed (a header clicked keeps no claim on them).
    if total == 0 || ui.ctx().egui_wants_keyboard_input() {
        return;
    }
    let last = total - 1;
    let page = grid.visible_rows.saturating_sub(1).max(1);
    let target = ui.input_mut(|i| {
        let mut pressed = |key| i.consume_key(Modifiers::NONE, key) || i.consume_key(Modifiers::COMMAND, key);
        if pressed(Key::Home) {
            Some(0)
        } else if pressed(Key::End) {
            Some(last)
        } else if i.consume_key(Modifiers::NONE, Key::PageDown) {
            Some((grid.first_visible + page).min(last))
        } else if i.consume_key(Modifiers::NONE, Key::PageUp) {
            Some(grid.first_visible.saturating_sub(page))
        } else if i.consume_key(Modifiers::NONE, Key::ArrowDown) {
            Some((grid.first_visible + 1).min(last))
        } else if i.consume_key(Modifiers::NONE, Key::ArrowUp) {
            Some(grid.first_visible.saturating_sub(1))
        } else {
            None
        }
    });
    if let Some(row) = target {
        grid.scroll_to = Some(row);
    }
}

/// A header click sorts by that column alone, cycling ascending, descending, unsorted;
/// with Shift (`add`) it adds the column as a further key, or cycles it in place.
pub fn next_sort(current: &[SortKey], column: &str, add: bool) -> Vec<SortKey> {
    let position = current.iter().position(|k| k.column == column);
    let cycled = |k: &SortKey| if k.descending { None } else { Some(SortKey { column: column.into(), descending: true }) };
    match (add, position) {
        (false, Some(i)) if current.len() == 1 => cycled(&current[i]).into_iter().collect(),
        (false, _) => vec![SortKey::ascending(column)],
        (true, None) => current.iter().cloned().chain(std::iter::once(SortKey::ascending(column))).collect(),
        (true, Some(i)) => {
            let mut keys = current.to_vec();
            match cycled(&current[i]) {
                Some(k) => keys[i] = k,
                None => {
                    keys.remove(i);
                }
            }
            keys
        }
    }
}

struct Grid<'a> {
    view: &'a mut TableView,
    /// Source column of each shown column.
    shown: &'a [usize],
    /// Shown columns with a filter.
    filtered: Vec<bool>,
    base: u64,
    visible: Range<u64>,
    /// The leftmost scrolling column drawn this frame.
    first_column: Option<usize>,
    clicked: &'a mut Clicked,
    selection: Option<Selection>,
}

/// A label that is cut with "…" to its cell, except while egui_table measures the column.
fn cell_label(ui: &mut egui::Ui, text: impl Into<egui::WidgetText>) -> egui::Response {
    // Not selectable as text: a click on a value selects its cell.
    let label = egui::Label::new(text).selectable(false);
    ui.add(if ui.is_sizing_pass() { label.extend() } else { label.truncate() })
}

/// Shift held for this click (by the click's own modifiers, so a click replayed in a
/// test counts too).
fn is_shift_click(ui: &egui::Ui) -> bool {
    ui.input(|i| i.modifiers.shift || i.events.iter().any(|e| matches!(e, egui::Event::PointerButton { modifiers, .. } if modifiers.shift)))
}

/// The filter button in a column header.
pub const FILTER_ICON: &str = "☰";

impl TableDelegate for Grid<'_> {
    fn prepare(&mut self, info: &PrefetchInfo) {
        self.visible = self.base + info.visible_rows.start..self.base + info.visible_rows.end;
        self.view.prefetch(self.visible.clone());
    }

    fn header_cell_ui(&mut self, ui: &mut egui::Ui, cell: &HeaderCellInfo) {
        let col = cell.col_range.start;
        if col > self.shown.len() {
            return;
        }
        egui::Frame::NONE.inner_margin(egui::Margin::symmetric(4, 2)).show(ui, |ui| {
            if col == 0 {
                ui.weak("#");
                return;
            }
            let Some(info) = self.view.columns().and_then(|c| c.get(self.shown[col - 1])).cloned() else { return };
            let keys = &self.view.view().sort;
            let arrow = match keys.iter().position(|k| k.column == info.name) {
                Some(i) => {
                    let dir = if keys[i].descending { "⏷" } else { "⏶" };
                    if keys.len() > 1 { format!(" {dir}{}", i + 1) } else { format!(" {dir}") }
                }
                None => String::new(),
            };
            let name = format!("{}{arrow}", info.name);
            ui.vertical(|ui| {
                let response = cell_label(ui, RichText::new(name).strong()).interact(Sense::click()).on_hover_text("Click to sort; Shift+click to add a sort key");
                if response.clicked() {
                    self.clicked.sort = Some((col - 1, is_shift_click(ui)));
                    response.surrender_focus();
                }
                ui.horizontal(|ui| {
                    let is_filtered = self.filtered.get(col - 1).copied().unwrap_or(false);
                    let icon = if is_filtered { RichText::new(FILTER_ICON).strong().color(ui.visuals().selection.stroke.color) } else { RichText::new(FILTER_ICON).color(ui.visuals().weak_text_color()) };
                    let button = ui.add(egui::Button::new(icon).frame(false).small()).on_hover_text(format!("Filter, sort or hide {}", info.name));
                    if button.clicked() {
                        self.clicked.filter = Some((col - 1, button.rect.left_bottom()));
                    }
                    cell_label(ui, RichText::new(&info.data_type).small().weak());
                });
            });
        });
    }

    fn row_ui(&mut self, ui: &mut egui::Ui, row_nr: u64) {
        if (self.base + row_nr) % 2 == 1 {
            ui.painter().rect_filled(ui.max_rect(), 0.0, ui.visuals().faint_bg_color);
        }
    }

    fn cell_ui(&mut self, ui: &mut egui::Ui, cell: &CellInfo) {
        if cell.col_nr > self.shown.len() {
            return;
        }
        let row = self.base + cell.row_nr;
        if cell.col_nr >= 1 {
            self.first_column = Some(self.first_column.map_or(cell.col_nr, |c| c.min(cell.col_nr)));
        }
        let shown_col = cell.col_nr.checked_sub(1);
        let is_selected = self.selection.is_some_and(|s| match shown_col {
            Some(c) => s.contains(row, c),
            None => s.rows().contains(&row),
        });
        if is_selected && shown_col.is_some() {
            ui.painter().rect_filled(ui.max_rect(), 0.0, ui.visuals().selection.bg_fill.gamma_multiply(0.5));
        }
        let response = ui.interact(ui.max_rect(), ui.scope_id().with(("cell", row, cell.col_nr)), Sense::click());
        if response.clicked() {
            self.clicked.cell = Some((row, shown_col, is_shift_click(ui)));
        }
        egui::Frame::NONE.inner_margin(egui::Margin::symmetric(4, 0)).show(ui, |ui| {
            let Some(c) = shown_col else {
                let number = RichText::new(group_digits(row + 1));
                ui.label(if is_selected { number.strong() } else { number.weak() });
                return;
            };
            match self.view.cell(row, self.shown[c]) {
                Cell::Loading => {
                    ui.weak("…");
                }
                Cell::Null => {
                    cell_label(ui, RichText::new("NULL").italics().color(ui.visuals().weak_text_color()).small());
                }
                Cell::Text(text) => {
                    cell_label(ui, text);
                }
            }
        });
    }

    fn default_row_height(&self) -> f32 {
        ROW_HEIGHT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_cycles() {
        let asc = next_sort(&[], "a", false);
        assert_eq!(asc, vec![SortKey::ascending("a")]);
        let desc = next_sort(&asc, "a", false);
        assert!(desc[0].descending);
        assert!(next_sort(&desc, "a", false).is_empty());
        assert_eq!(next_sort(&desc, "b", false), vec![SortKey::ascending("b")]);
        // Shift adds keys, cycles a key in place and drops it after descending.
        let two = next_sort(&asc, "b", true);
        assert_eq!(two, vec![SortKey::ascending("a"), SortKey::ascending("b")]);
        let flipped = next_sort(&two, "a", true);
        assert_eq!(flipped, vec![SortKey { column: "a".into(), descending: true }, SortKey::ascending("b")]);
        assert_eq!(next_sort(&flipped, "a", true), vec![SortKey::ascending("b")]);
    }

    #[test]
    fn the_window_recentres_only_near_its_edges() {
        let total = 100_000_000;
        assert_eq!(recentred_base(0, WINDOW_ROWS, total, &(1000..1040)), None, "top of the table");
        assert_eq!(recentred_base(0, WINDOW_ROWS, total, &(250_000..250_040)), None, "middle of the window");
        assert_eq!(recentred_base(0, WINDOW_ROWS, total, &(460_000..460_040)), Some(210_000), "near the bottom edge");
        assert_eq!(recentred_base(1_000_000, WINDOW_ROWS, total, &(1_010_000..1_010_040)), Some(760_000));
        let last_base = total - WINDOW_ROWS;
        assert_eq!(recentred_base(last_base, WINDOW_ROWS, total, &(total - 40..total)), None, "end of the table");
    }

    #[test]
    fn groups_digits() {
        assert_eq!(group_digits(336776), "336,776");
        assert_eq!(group_digits(12), "12");
        assert_eq!(group_digits(1000000), "1,000,000");
    }
}
