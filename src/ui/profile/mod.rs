//! The profile tab of a table: an overview of every column (sortable, with distribution
//! sparklines and alert badges), a column's details with its chart and top values (a click
//! opens the rows behind them), correlations, missing values, and quality checks whose
//! failing rows are one click away. Results appear column by column while the job runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use egui::{Color32, RichText, Sense, vec2};
use egui_extras::{Column, TableBuilder};
use egui_plot::{Bar, BarChart, Plot};

mod checks_page;
mod pages;

use super::state::Command;
use crate::engine::EngineError;
use crate::engine::checks::{self, Check, CheckJob, CheckResult, Rule};
use crate::engine::config::group_digits;
use crate::engine::job::{JobHandle, JobWatch, Waker, spawn};
use crate::engine::profile::report::{min_max, number};
use crate::engine::profile::{ColumnProfile, Kind, Profile, ProfileJob, ProfileOptions, store};
use crate::engine::view::{Condition, Filter, View};
use crate::engine::workspace::Workspace;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Overview,
    Column,
    Correlations,
    Missing,
    Types,
    Checks,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    Position,
    Name,
    Type,
    Meaning,
    Missing,
    Distinct,
    Alerts,
}

/// The rule being written in the checks page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckDraft {
    pub column: String,
    pub rule: usize,
    pub first: String,
    pub second: String,
}


pub struct ProfileState {
    pub table: String,
    pub profile: Option<Profile>,
    /// Columns computed so far by the running job.
    pub arrived: Vec<ColumnProfile>,
    pub stale: bool,
    pub job: Option<JobHandle<Profile>>,
    arriving: Option<Receiver<ColumnProfile>>,
    pub page: Page,
    pub sort: (SortBy, bool),
    /// The column shown on the column page, by name (arrival order is not column order).
    pub selected: String,
    pub spearman: bool,
    pub error: Option<String>,
    pub message: Option<String>,
    pub checks: Vec<Check>,
    pub check_results: Vec<CheckResult>,
    pub check_job: Option<JobHandle<Vec<CheckResult>>>,
    pub draft: CheckDraft,
    pub report_path: String,
    /// Set by the page; the app starts the job (it holds the workspace and the waker).
    pub wants_profile: bool,
    pub wants_checks: bool,
    pub checks_changed: bool,
    fresh_results: bool,
    /// Suggested types left out of "Optimize types".
    pub types_left_out: std::collections::HashSet<String>,
    pub optimize_name: String,
    pub confirm_replace: bool,
    /// A report file that exists, waiting for "Replace it?" (and whether it is the JSON).
    pub confirm_report: Option<(PathBuf, bool)>,
    /// The stored profile and checks, read off the window's thread (counting a linked file's
    /// rows to see whether it changed can take a while).
    loading: Option<poll_promise::Promise<crate::engine::Result<(Option<store::Stored>, Vec<Check>)>>>,
}

impl ProfileState {
    /// The stored profile of `table` when there is one; otherwise a profile is asked for.
    pub fn open(workspace: &Workspace, table: String, report_dir: PathBuf) -> Self {
        let mut state = Self {
            report_path: report_dir.join(format!("{table}-profile.html")).to_string_lossy().into_owned(),
            draft: CheckDraft { column: String::new(), rule: 0, first: String::new(), second: String::new() },
            table,
            profile: None,
            arrived: Vec::new(),
            stale: false,
            job: None,
            arriving: None,
            page: Page::Overview,
            sort: (SortBy::Position, false),
            selected: String::new(),
            spearman: false,
            error: None,
            message: None,
            checks: Vec::new(),
            check_results: Vec::new(),
            check_job: None,
            wants_profile: false,
            wants_checks: false,
            checks_changed: false,
            fresh_results: false,
            types_left_out: Default::default(),
            optimize_name: String::new(),
            confirm_replace: false,
            confirm_report: None,
            loading: None,
        };
        state.optimize_name = format!("{}_optimized", state.table);
        let (conn, table) = (workspace.connect(), state.table.clone());
        state.loading = Some(poll_promise::Promise::spawn_thread("profile-load", move || {
            let conn = conn?;
            Ok((store::load(&conn, &table)?, checks::load(&conn, &table)?))
        }));
        state
    }

    /// True while the stored profile is being read.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    pub fn title(&self) -> String {
        format!("Profile: {}", self.table)
    }

    pub fn is_running(&self) -> bool {
        self.job.is_some() || self.check_job.is_some()
    }

    /// Starts profiling the table; the job's watch goes to the jobs panel.
    pub fn start_profile(&mut self, workspace: Arc<Workspace>, wake: Waker) -> JobWatch {
        let (tx, rx) = channel();
        let wake_on_column = wake.clone();
        let on_column: Box<dyn Fn(&ColumnProfile) + Send + Sync> = Box::new(move |c| {
            let _ = tx.send(c.clone());
            wake_on_column();
        });
        let job = ProfileJob { workspace, view: View::table(self.table.clone()), options: ProfileOptions::default(), on_column: Some(on_column) };
        let handle = spawn(job, wake);
        let watch = handle.watch();
        self.arrived.clear();
        self.arriving = Some(rx);
        self.job = Some(handle);
        self.error = None;
        self.wants_profile = false;
        watch
    }

    pub fn start_checks(&mut self, workspace: Arc<Workspace>, wake: Waker) -> Option<JobWatch> {
        self.wants_checks = false;
        if self.checks.is_empty() {
            return None;
        }
        let handle = spawn(CheckJob { workspace, view: View::table(self.table.clone()), checks: self.checks.clone() }, wake);
        let watch = handle.watch();
        self.check_job = Some(handle);
        Some(watch)
    }

    /// Takes columns as they arrive and the finished job's result.
    pub fn poll(&mut self) {
        if let Some(loading) = self.loading.take() {
            match loading.try_take() {
                Ok(Ok((stored, saved_checks))) => {
                    self.checks = saved_checks;
                    match stored {
                        Some(stored) => {
                            self.stale = stored.stale;
                            self.profile = Some(stored.profile);
                        }
                        None => self.wants_profile = true,
                    }
                }
                Ok(Err(e)) => self.error = Some(e.to_string()),
                Err(pending) => self.loading = Some(pending),
            }
        }
        if let Some(rx) = &self.arriving {
            self.arrived.extend(rx.try_iter());
        }
        if let Some(job) = &mut self.job {
            match job.take_result() {
                None => {}
                Some(result) => {
                    self.job = None;
                    self.arriving = None;
                    match result {
                        Ok(profile) => {
                            self.profile = Some(profile);
                            self.stale = false;
                            self.arrived.clear();
                        }
                        Err(EngineError::Cancelled) => self.message = Some("Profiling cancelled".into()),
                        Err(e) => self.error = Some(e.to_string()),
                    }
                }
            }
        }
        if let Some(job) = &mut self.check_job {
            if let Some(result) = job.take_result() {
                self.check_job = None;
                match result {
                    Ok(results) => {
                        self.check_results = results;
                        // The grid of results settles its column widths on a second frame.
                        self.fresh_results = true;
                    }
                    Err(EngineError::Cancelled) => {}
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
        }
    }

    /// The columns to show: the finished profile's, or those computed so far.
    fn columns(&self) -> &[ColumnProfile] {
        if self.job.is_some() || self.profile.is_none() { &self.arrived } else { &self.profile.as_ref().map(|p| p.column_profiles.as_slice()).unwrap_or(&[]) }
    }
}

fn alert_color(ui: &egui::Ui, warning: bool) -> (Color32, Color32) {
    let dark = ui.visuals().dark_mode;
    match (warning, dark) {
        (true, false) => (Color32::from_rgb(253, 226, 225), Color32::from_rgb(155, 28, 28)),
        (true, true) => (Color32::from_rgb(110, 30, 30), Color32::from_rgb(255, 200, 200)),
        (false, false) => (Color32::from_rgb(227, 236, 250), Color32::from_rgb(30, 66, 159)),
        (false, true) => (Color32::from_rgb(30, 50, 95), Color32::from_rgb(200, 220, 255)),
    }
}

fn badges(ui: &mut egui::Ui, c: &ColumnProfile) {
    for a in &c.alerts {
        let (fill, text) = alert_color(ui, a.kind.is_warning());
        egui::Frame::new().fill(fill).corner_radius(6.0).inner_margin(egui::Margin::symmetric(5, 0)).show(ui, |ui| {
            ui.label(RichText::new(a.kind.label()).color(text).small());
        })
        .response
        .on_hover_text(&a.message);
    }
}

/// A small bar chart painted in place: the histogram, or the top values' counts.
fn sparkline(ui: &mut egui::Ui, c: &ColumnProfile, size: egui::Vec2) {
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    let counts: Vec<u64> = match &c.histogram {
        Some(h) => h.counts.clone(),
        None => c.top_values.iter().map(|v| v.count).collect(),
    };
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f32;
    let w = rect.width() / counts.len().max(1) as f32;
    let color = ui.visuals().selection.bg_fill;
    for (i, &n) in counts.iter().enumerate() {
        let h = (n as f32 / max * rect.height()).max(if n > 0 { 1.0 } else { 0.0 });
        let bar = egui::Rect::from_min_size(egui::pos2(rect.left() + i as f32 * w, rect.bottom() - h), vec2((w - 1.0).max(1.0), h));
        ui.painter().rect_filled(bar, 0.0, color);
    }
    response.on_hover_text(if c.histogram.is_some() { "Distribution of the values" } else { "Counts of the most frequent values" });
}

pub fn profile_ui(ui: &mut egui::Ui, state: &mut ProfileState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.heading(format!("Profile of {}", state.table));
        if let Some(p) = state.profile.as_ref().filter(|_| state.job.is_none()) {
            ui.label(format!(
                "{} rows · {} columns · {} duplicate rows · {:.1} % cells missing · made {} in {:.1} s",
                group_digits(p.rows),
                p.columns,
                group_digits(p.duplicate_rows),
                p.missing_pct(),
                p.created,
                p.seconds
            ));
        }
        if state.stale && state.job.is_none() {
            ui.colored_label(ui.visuals().warn_fg_color, "stale: the table changed since");
        }
    });
    ui.horizontal(|ui| {
        for (page, label) in [(Page::Overview, "Overview"), (Page::Column, "Column"), (Page::Correlations, "Correlations"), (Page::Missing, "Missing values"), (Page::Types, "Types"), (Page::Checks, "Checks")] {
            ui.selectable_value(&mut state.page, page, label);
        }
        ui.separator();
        if state.job.is_some() {
            ui.spinner();
            ui.label(format!("Profiling… {} columns so far", state.arrived.len()));
            if ui.button("Cancel").clicked() {
                if let Some(job) = &state.job {
                    job.cancel();
                }
            }
        } else if ui.button("Profile again").on_hover_text("Compute every statistic anew").clicked() {
            state.wants_profile = true;
        }
        if ui.button("Open table").clicked() {
            commands.push(Command::OpenTable(state.table.clone()));
        }
    });
    if let Some(e) = &state.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if let Some(m) = &state.message {
        ui.label(m);
    }
    ui.separator();
    match state.page {
        Page::Overview => overview_ui(ui, state),
        Page::Column => column_ui(ui, state, commands),
        Page::Correlations => pages::correlations_ui(ui, state),
        Page::Missing => pages::missing_ui(ui, state),
        Page::Types => pages::types_ui(ui, state, commands),
        Page::Checks => checks_page::checks_ui(ui, state, commands),
    }
}

fn overview_ui(ui: &mut egui::Ui, state: &mut ProfileState) {
    report_bar_ui(ui, state);
    let columns = state.columns();
    if columns.is_empty() {
        ui.label(if state.job.is_some() { "The first column is being profiled…" } else { "No profile yet." });
        return;
    }
    let mut order: Vec<usize> = (0..columns.len()).collect();
    let (by, descending) = state.sort;
    order.sort_by(|&a, &b| {
        let (x, y) = (&columns[a], &columns[b]);
        let o = match by {
            SortBy::Position => a.cmp(&b),
            SortBy::Name => x.name.to_lowercase().cmp(&y.name.to_lowercase()),
            SortBy::Type => x.storage_type.cmp(&y.storage_type),
            SortBy::Meaning => x.meaning.label().cmp(y.meaning.label()),
            SortBy::Missing => x.nulls.cmp(&y.nulls),
            SortBy::Distinct => x.distinct.cmp(&y.distinct),
            SortBy::Alerts => x.alerts.len().cmp(&y.alerts.len()),
        };
        if descending { o.reverse() } else { o }
    });
    let mut clicked_sort = None;
    let mut open_column = None;
    let header = |ui: &mut egui::Ui, label: &str, key: SortBy, clicked: &mut Option<SortBy>| {
        let arrow = if by == key { if descending { " ⏷" } else { " ⏶" } } else { "" };
        if ui.button(RichText::new(format!("{label}{arrow}")).strong()).on_hover_text("Sort by this").clicked() {
            *clicked = Some(key);
        }
    };
    TableBuilder::new(ui)
        .striped(true)
        .resizable(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::initial(150.0).clip(true))
        .column(Column::initial(90.0).clip(true))
        .column(Column::initial(110.0).clip(true))
        .column(Column::initial(70.0))
        .column(Column::initial(90.0))
        .column(Column::initial(120.0).clip(true))
        .column(Column::initial(120.0).clip(true))
        .column(Column::initial(130.0))
        .column(Column::remainder().at_least(120.0).clip(true))
        .header(24.0, |mut row| {
            row.col(|ui| header(ui, "Column", SortBy::Name, &mut clicked_sort));
            row.col(|ui| header(ui, "Type", SortBy::Type, &mut clicked_sort));
            row.col(|ui| header(ui, "Meaning", SortBy::Meaning, &mut clicked_sort));
            row.col(|ui| header(ui, "Missing", SortBy::Missing, &mut clicked_sort));
            row.col(|ui| header(ui, "Distinct", SortBy::Distinct, &mut clicked_sort));
            row.col(|ui| {
                ui.strong("Min");
            });
            row.col(|ui| {
                ui.strong("Max");
            });
            row.col(|ui| {
                ui.strong("Distribution");
            });
            row.col(|ui| header(ui, "Alerts", SortBy::Alerts, &mut clicked_sort));
        })
        .body(|body| {
            body.rows(24.0, order.len(), |mut row| {
                let i = order[row.index()];
                let c = &columns[i];
                let (min, max) = min_max(c);
                row.col(|ui| {
                    if ui.link(&c.name).on_hover_text("Show this column's details").clicked() {
                        open_column = Some(i);
                    }
                });
                row.col(|ui| {
                    ui.label(&c.storage_type);
                });
                row.col(|ui| {
                    ui.label(c.meaning.label());
                });
                row.col(|ui| {
                    ui.label(format!("{:.1} %", c.null_pct()));
                });
                row.col(|ui| {
                    ui.label(group_digits(c.distinct));
                });
                row.col(|ui| {
                    ui.label(min);
                });
                row.col(|ui| {
                    ui.label(max);
                });
                row.col(|ui| sparkline(ui, c, vec2(120.0, 18.0)));
                row.col(|ui| {
                    ui.horizontal(|ui| badges(ui, c));
                });
            });
        });
    if clicked_sort.is_some() || open_column.is_some() {
        ui.ctx().request_repaint();
    }
    if let Some(key) = clicked_sort {
        // Names, types and meanings start A to Z; counts start with the most.
        let text = matches!(key, SortBy::Name | SortBy::Type | SortBy::Meaning);
        state.sort = if state.sort.0 == key { (key, !state.sort.1) } else { (key, !text) };
    }
    if let Some(i) = open_column {
        state.selected = state.columns()[i].name.clone();
        state.page = Page::Column;
    }
}

/// Where the report is saved, and the buttons that save it.
fn report_bar_ui(ui: &mut egui::Ui, state: &mut ProfileState) {
    if state.profile.is_none() || state.job.is_some() {
        return;
    }
    let save = ui.horizontal(|ui| {
        ui.label("Report file");
        ui.add(egui::TextEdit::singleline(&mut state.report_path).desired_width(360.0));
        let path = PathBuf::from(state.report_path.trim());
        let html = ui.button("Save HTML").on_hover_text("One self-contained page: charts inline, nothing from the network").clicked();
        let json = ui.button("Save JSON").clicked();
        let mut save = None;
        if html || json {
            let path = if json { path.with_extension("json") } else { path.with_extension("html") };
            // A file there already is replaced only when the user says so, as Export asks.
            if path.exists() {
                state.confirm_report = Some((path, json));
            } else {
                save = Some((path, json));
            }
        }
        save
    });
    let mut save = save.inner;
    // On a line of its own: beside a long path the answers would fall off the window.
    if let Some((path, json)) = state.confirm_report.clone() {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(ui.visuals().warn_fg_color, format!("{} exists. Replace it?", path.display()));
            if ui.button("Replace").clicked() {
                save = Some((path, json));
                state.confirm_report = None;
            }
            if ui.button("Keep it").clicked() {
                state.confirm_report = None;
            }
        });
    }
    if let (Some((path, json)), Some(profile)) = (save, state.profile.as_ref()) {
        let text = if json { crate::engine::profile::report::to_json(profile) } else { Ok(crate::engine::profile::report::to_html(profile)) };
        state.message = Some(match text.and_then(|t| crate::engine::export::write_file_atomically(&path, t.as_bytes())) {
            Ok(()) => format!("Report saved to {}", path.display()),
            Err(e) => format!("Could not save the report: {e}"),
        });
    }
}

/// The rows of the table behind a value of column `c` (what a click on it opens).
fn value_filter(c: &ColumnProfile, value: Option<&str>) -> Condition {
    match value {
        None => Condition::IsNull,
        // Numbers and times compare in the column's own type (DECIMAL writes "1.50" for 1.5).
        Some(v) if c.kind.is_numeric() || matches!(c.kind, Kind::Date | Kind::Timestamp | Kind::Time) => {
            let v = if c.storage_type.to_ascii_uppercase().contains("TIME ZONE") && !v.ends_with("+00") { format!("{v}+00") } else { v.to_string() };
            Condition::Range { min: Some(v.clone()), max: Some(v) }
        }
        Some(v) => Condition::OneOf { values: vec![v.to_string()], include_null: false },
    }
}

/// The rows behind histogram bar `i`.
fn bar_filter(c: &ColumnProfile, i: usize) -> Option<Condition> {
    let h = c.histogram.as_ref()?;
    if let Some(t) = &c.temporal {
        let label = t.by_period.get(i)?.value.clone()?;
        let (start, end) = period_bounds(&t.period, &label)?;
        let (min, max) = match c.kind {
            Kind::Date => (start, end),
            Kind::Time => (start, end),
            _ if c.storage_type.to_ascii_uppercase().contains("TIME ZONE") => (format!("{start} 00:00:00+00"), format!("{end} 23:59:59.999999+00")),
            _ => (format!("{start} 00:00:00"), format!("{end} 23:59:59.999999")),
        };
        return Some(Condition::Range { min: Some(min), max: Some(max) });
    }
    let (lo, hi) = (h.edges[i], h.edges[i + 1]);
    let last = i + 1 == h.counts.len();
    Some(match c.kind {
        Kind::Integer => {
            let min = lo.ceil() as i64;
            let max = if last { hi.floor() as i64 } else { hi.ceil() as i64 - 1 };
            Condition::Range { min: Some(min.to_string()), max: Some(max.to_string()) }
        }
        _ => Condition::Range { min: Some(format!("{lo:?}")), max: Some(format!("{hi:?}")) },
    })
}

/// First and last day (or time) of a period label: `2024-03-05`, `2024-03`, `2024`, `13:00`.
fn period_bounds(period: &str, label: &str) -> Option<(String, String)> {
    use chrono::{Datelike, NaiveDate};
    match period {
        "day" => Some((label.to_string(), label.to_string())),
        "month" => {
            let first = NaiveDate::parse_from_str(&format!("{label}-01"), "%Y-%m-%d").ok()?;
            let last = first.checked_add_months(chrono::Months::new(1))?.pred_opt()?;
            Some((first.to_string(), last.to_string()))
        }
        "year" => {
            let year: i32 = label.parse().ok()?;
            let first = NaiveDate::from_ymd_opt(year, 1, 1)?;
            Some((first.to_string(), NaiveDate::from_ymd_opt(year, 12, 31).map(|d| d.to_string()).unwrap_or_default())).filter(|_| first.year() == year)
        }
        "hour" => {
            let hour = label.get(..2)?;
            Some((format!("{hour}:00:00"), format!("{hour}:59:59.999999")))
        }
        _ => None,
    }
}

/// Opens the table with its rows narrowed to `condition` on `column`; the view's other
/// filters, sort and columns stay, and a message says what was added.
fn open_rows(table: &str, column: &str, condition: Condition, commands: &mut Vec<Command>) {
    filter_rows(table, column, condition, commands);
}

fn filter_rows(table: &str, column: &str, condition: Condition, commands: &mut Vec<Command>) {
    commands.push(Command::FilterTable { table: table.to_string(), filter: Filter { column: column.to_string(), condition } });
}

/// A bar's values as a person reads them: whole numbers for whole-number columns, a period
/// for dates and times, else the bar's edges.
fn bar_label(c: &ColumnProfile, i: usize) -> String {
    let Some(h) = &c.histogram else { return String::new() };
    if let Some(t) = &c.temporal {
        return t.by_period.get(i).and_then(|v| v.value.clone()).unwrap_or_default();
    }
    match bar_filter(c, i) {
        Some(Condition::Range { min: Some(min), max: Some(max) }) if c.kind == Kind::Integer => {
            if min == max { min } else { format!("{min} – {max}") }
        }
        _ => format!("{} – {}", number(h.edges[i]), number(h.edges[i + 1])),
    }
}

fn column_ui(ui: &mut egui::Ui, state: &mut ProfileState, commands: &mut Vec<Command>) {
    let table = state.table.clone();
    let columns = state.columns();
    if columns.is_empty() {
        ui.label("No columns profiled yet.");
        return;
    }
    let mut selected = columns.iter().position(|c| c.name == state.selected).unwrap_or(0);
    egui::ComboBox::from_label("Column").selected_text(&columns[selected].name).height(400.0).show_ui(ui, |ui| {
        for (i, c) in columns.iter().enumerate() {
            ui.selectable_value(&mut selected, i, &c.name);
        }
    });
    let c = columns[selected].clone();
    state.selected = c.name.clone();
    ui.horizontal(|ui| {
        ui.heading(&c.name);
        ui.label(format!("{} · {}", c.storage_type, c.meaning.label()));
        badges(ui, &c);
    });
    egui::ScrollArea::vertical().id_salt("column-detail").show(ui, |ui| {
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.set_width(340.0);
                // Long figures (a suggested type and why) wrap, so the chart keeps its room.
                egui::Grid::new("column-stats").striped(true).num_columns(2).max_col_width(230.0).show(ui, |ui| {
                    for (k, v) in crate::engine::profile::report::column_figures(&c) {
                        ui.label(k);
                        ui.add(egui::Label::new(v).wrap());
                        ui.end_row();
                    }
                });
                for a in &c.alerts {
                    let (_, text) = alert_color(ui, a.kind.is_warning());
                    ui.label(RichText::new(format!("{}: {}", a.kind.label(), a.message)).color(text));
                }
            });
            ui.vertical(|ui| {
                if let Some(h) = &c.histogram {
                    let names: Vec<String> = (0..h.counts.len()).map(|i| bar_label(&c, i)).collect();
                    let bars: Vec<Bar> = h.counts.iter().enumerate().map(|(i, &n)| Bar::new(i as f64, n as f64).width(0.9).name(&names[i])).collect();
                    ui.label("Click a bar to filter the table to its rows");
                    let ui_color = ui.visuals().selection.bg_fill;
                    // Bars are at 0, 1, 2…: the axis names the bar under each mark.
                    let axis_names = names.clone();
                    let response = Plot::new(("histogram", &c.name))
                        .height(240.0)
                        .width(ui.available_width().clamp(240.0, 560.0))
                        .allow_drag(false)
                        .allow_zoom(false)
                        .allow_scroll(false)
                        .show_axes([true, true])
                        .x_axis_formatter(move |mark, _| {
                            let i = mark.value.round();
                            if (mark.value - i).abs() > 1e-6 || i < 0.0 {
                                return String::new();
                            }
                            axis_names.get(i as usize).map(|n| n.split(" – ").next().unwrap_or(n).to_string()).unwrap_or_default()
                        })
                        .show(ui, |plot| {
                            plot.set_plot_bounds_x(-0.6..=h.counts.len() as f64 - 0.4);
                            plot.bar_chart(BarChart::new("count", bars).color(ui_color).element_formatter(Box::new(|bar, _| format!("{}\n{}", bar.name, group_digits(bar.value as u64)))));
                            plot.pointer_coordinate()
                        });
                    if response.response.clicked() {
                        if let Some(at) = response.inner {
                            let i = at.x.round();
                            if i >= 0.0 && (i as usize) < h.counts.len() {
                                if let Some(condition) = bar_filter(&c, i as usize) {
                                    filter_rows(&table, &c.name, condition, commands);
                                }
                            }
                        }
                    }
                }
                ui.add_space(8.0);
                ui.strong("Most frequent values (click to open their rows)");
                egui::Grid::new("top-values").striped(true).num_columns(2).show(ui, |ui| {
                    for v in &c.top_values {
                        let shown = v.value.as_deref().unwrap_or("NULL");
                        if ui.link(shown).clicked() {
                            open_rows(&table, &c.name, value_filter(&c, v.value.as_deref()), commands);
                        }
                        ui.label(group_digits(v.count));
                        ui.end_row();
                    }
                    if c.nulls > 0 {
                        if ui.link(RichText::new("(missing)").italics()).clicked() {
                            open_rows(&table, &c.name, Condition::IsNull, commands);
                        }
                        ui.label(group_digits(c.nulls));
                        ui.end_row();
                    }
                });
                if let Some(t) = c.text.as_ref().filter(|t| !t.shapes.is_empty()) {
                    ui.add_space(8.0);
                    let sampled = if t.sampled_values < c.count - c.nulls { " sampled" } else { "" };
                    ui.strong(format!("Shapes (of {}{sampled} values)", group_digits(t.sampled_values)));
                    egui::Grid::new("shapes").striped(true).num_columns(2).show(ui, |ui| {
                        for s in &t.shapes {
                            ui.monospace(s.value.as_deref().unwrap_or(""));
                            ui.label(group_digits(s.count));
                            ui.end_row();
                        }
                    });
                }
            });
        });
    });
}
