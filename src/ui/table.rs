//! The table view: a virtualized grid over [`TableView`]'s page cache.
//!
//! egui_table places rows at f32 offsets, which drift past a few million rows, so the grid
//! shows a window of at most [`WINDOW_ROWS`] rows starting at `window_base`; the window
//! re-centres as the viewport nears its edge, and the row slider above the grid jumps
//! anywhere in the full u64 range.

use std::ops::Range;

use egui::{Align, RichText, Sense};
use egui_table::{CellInfo, Column, HeaderCellInfo, HeaderRow, PrefetchInfo, Table, TableDelegate};

use super::state::{AppState, Command};
use crate::engine::browse::{Cell, TableView};
use crate::engine::export::SortKey;

pub const WINDOW_ROWS: u64 = 500_000;
const ROW_HEIGHT: f32 = 20.0;

#[derive(Default)]
pub struct GridState {
    pub window_base: u64,
    /// Absolute first visible row, as of the last frame.
    pub first_visible: u64,
    /// Absolute row to bring to the top on the next frame.
    pub scroll_to: Option<u64>,
    /// A jump in flight: the table scrolls a frame or two after it is asked to, and until
    /// the target is on screen the window must not re-centre on stale rows.
    jump: Option<(u64, u8)>,
}

pub fn table_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let Some(view) = state.view.as_mut() else {
        return;
    };
    let mut commands = Vec::new();
    let grid = &mut state.grid;

    ui.horizontal(|ui| {
        ui.heading(&view.table);
        if view.columns().is_some() {
            if view.is_row_count_estimate() {
                ui.label(format!("about {} rows (counting…)", group_digits(view.total_rows())));
            } else {
                ui.label(format!("{} rows", group_digits(view.total_rows())));
            }
        }
        if let Some(sort) = view.sort() {
            let arrow = if sort.descending { "⏷" } else { "⏶" };
            ui.label(format!("Sorted by {} {arrow}", sort.column));
            if ui.small_button("Clear sort").clicked() {
                commands.push(Command::SetSort(None));
            }
        }
        if view.is_loading() {
            ui.spinner();
        }
        ui.with_layout(egui::Layout::right_to_left(Align::Center), |ui| {
            if ui.button("Export…").clicked() {
                commands.push(Command::ShowExportDialog(view.table.clone()));
            }
            let total = view.total_rows();
            if total > 1 {
                let mut row = grid.first_visible.min(total - 1) + 1;
                let slider = egui::Slider::new(&mut row, 1..=total).text("row").clamping(egui::SliderClamping::Always);
                if ui.add(slider).changed() {
                    grid.scroll_to = Some(row - 1);
                }
            }
        });
    });

    if let Some(err) = view.error() {
        ui.colored_label(ui.visuals().error_fg_color, err);
        state.pending_commands(commands);
        return;
    }
    let Some(columns) = view.columns() else {
        ui.label("Loading…");
        state.pending_commands(commands);
        return;
    };
    let column_count = columns.len();
    let total = view.total_rows();

    handle_keys(ui, grid, total);
    if let Some(target) = grid.scroll_to {
        if target < grid.window_base || target >= grid.window_base + WINDOW_ROWS {
            grid.window_base = centred_base(target, total);
        }
    }
    let window_rows = total.saturating_sub(grid.window_base).min(WINDOW_ROWS);

    let mut table = Table::new()
        .id_salt(("grid", view.table.as_str()))
        .num_rows(window_rows)
        .columns(
            std::iter::once(Column::new(72.0).resizable(false))
                .chain((0..column_count).map(|_| Column::new(140.0).range(40.0..=600.0).resizable(true)))
                .collect::<Vec<_>>(),
        )
        .num_sticky_cols(1)
        .headers([HeaderRow::new(38.0)]);
    // The table reports this frame's visible rows from before a jump takes effect.
    if let Some(target) = grid.scroll_to.take() {
        table = table.scroll_to_row(target - grid.window_base, Some(Align::Min));
        grid.jump = Some((target, 10));
    }
    let mut delegate = Grid {
        view,
        base: grid.window_base,
        visible: 0..0,
        sort_clicked: None,
    };
    // Jumps land at once: an animated scroll would pass the window's edge on its way and
    // re-centre the window away from the target.
    ui.style_mut().scroll_animation = egui::style::ScrollAnimation::none();
    table.show(ui, &mut delegate);

    let visible = delegate.visible.clone();
    if let Some(col) = delegate.sort_clicked {
        if let Some(name) = delegate.view.columns().and_then(|c| c.get(col)).map(|c| c.name.clone()) {
            commands.push(Command::SetSort(next_sort(delegate.view.sort(), &name)));
        }
    }
    if let Some((target, frames_left)) = grid.jump {
        let arrived = visible.contains(&target) || visible.end >= total;
        grid.jump = (!arrived && frames_left > 0).then(|| (target, frames_left - 1));
        if grid.jump.is_some() {
            ui.ctx().request_repaint();
            state.pending_commands(commands);
            return;
        }
    }
    grid.first_visible = visible.start;
    if let Some(base) = recentred_base(grid.window_base, window_rows, total, &visible) {
        grid.window_base = base;
        grid.scroll_to = Some(visible.start);
        ui.ctx().request_repaint();
    }
    state.pending_commands(commands);
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

fn handle_keys(ui: &egui::Ui, grid: &mut GridState, total: u64) {
    use egui::{Key, Modifiers};
    let (home, end) = ui.input_mut(|i| {
        (
            i.consume_key(Modifiers::COMMAND, Key::Home),
            i.consume_key(Modifiers::COMMAND, Key::End),
        )
    });
    if home {
        grid.scroll_to = Some(0);
    }
    if end && total > 0 {
        grid.scroll_to = Some(total - 1);
    }
}

/// Header clicks cycle a column through ascending, descending, unsorted.
pub fn next_sort(current: Option<&SortKey>, column: &str) -> Option<SortKey> {
    match current {
        Some(k) if k.column == column && !k.descending => Some(SortKey { column: column.into(), descending: true }),
        Some(k) if k.column == column => None,
        _ => Some(SortKey { column: column.into(), descending: false }),
    }
}

pub use crate::engine::config::group_digits;

struct Grid<'a> {
    view: &'a mut TableView,
    base: u64,
    visible: Range<u64>,
    sort_clicked: Option<usize>,
}

impl TableDelegate for Grid<'_> {
    fn prepare(&mut self, info: &PrefetchInfo) {
        self.visible = self.base + info.visible_rows.start..self.base + info.visible_rows.end;
        self.view.prefetch(self.visible.clone());
    }

    fn header_cell_ui(&mut self, ui: &mut egui::Ui, cell: &HeaderCellInfo) {
        let col = cell.col_range.start;
        egui::Frame::NONE.inner_margin(egui::Margin::symmetric(4, 2)).show(ui, |ui| {
            if col == 0 {
                ui.weak("#");
                return;
            }
            let Some(info) = self.view.columns().and_then(|c| c.get(col - 1)) else { return };
            let arrow = match self.view.sort() {
                Some(k) if k.column == info.name => if k.descending { " ⏷" } else { " ⏶" },
                _ => "",
            };
            let name = format!("{}{arrow}", info.name);
            let data_type = info.data_type.clone();
            ui.vertical(|ui| {
                let response = ui
                    .add(egui::Label::new(RichText::new(name).strong()).sense(Sense::click()).truncate())
                    .on_hover_text("Click to sort");
                ui.label(RichText::new(data_type).small().weak());
                if response.clicked() {
                    self.sort_clicked = Some(col - 1);
                }
            });
        });
    }

    fn row_ui(&mut self, ui: &mut egui::Ui, row_nr: u64) {
        if (self.base + row_nr) % 2 == 1 {
            ui.painter().rect_filled(ui.max_rect(), 0.0, ui.visuals().faint_bg_color);
        }
    }

    fn cell_ui(&mut self, ui: &mut egui::Ui, cell: &CellInfo) {
        let row = self.base + cell.row_nr;
        egui::Frame::NONE.inner_margin(egui::Margin::symmetric(4, 0)).show(ui, |ui| {
            if cell.col_nr == 0 {
                ui.weak(group_digits(row + 1));
                return;
            }
            match self.view.cell(row, cell.col_nr - 1) {
                Cell::Loading => {
                    ui.weak("…");
                }
                Cell::Null => {
                    ui.label(RichText::new("NULL").italics().color(ui.visuals().weak_text_color()).small());
                }
                Cell::Text(text) => {
                    ui.add(egui::Label::new(text).truncate());
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
        let asc = next_sort(None, "a");
        assert_eq!(asc, Some(SortKey { column: "a".into(), descending: false }));
        let desc = next_sort(asc.as_ref(), "a");
        assert!(desc.as_ref().is_some_and(|k| k.descending));
        assert_eq!(next_sort(desc.as_ref(), "a"), None);
        assert_eq!(next_sort(desc.as_ref(), "b").map(|k| k.column), Some("b".to_string()));
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
