//! The "Remove duplicates" tab: choose keys and rules, review the duplicate groups (largest
//! first, each group's rows side by side with the cells that differ marked), leave groups
//! out, then apply: a new table or the table replaced, with the removed rows in a companion
//! table. Nothing changes before Apply.

use std::collections::HashSet;
use std::sync::Arc;

use egui_extras::{Column, TableBuilder};

use super::state::Command;
use crate::engine::cluster::{Cluster, ClusterJob, ClusterReport, MergeJob, MergeReport, Method, UndoMergeJob};
use crate::engine::config::group_digits;
use crate::engine::dedupe::{DedupeJob, DedupePreview, DedupeReport, DedupeSpec, DedupeTarget, FindDuplicatesJob, FoundDuplicates, GroupPage, GroupRowsJob, Keep, NullKeys, PreviewJob};
use crate::engine::job::{Job, JobHandle, JobWatch, Waker, spawn};
use crate::engine::workspace::Workspace;

/// Rows of a group read at a time.
const GROUP_PAGE_ROWS: u64 = 200;

/// The group being looked at: its rows so far and the job reading more.
struct GroupView {
    kept: u64,
    page: Option<GroupPage>,
    job: Option<JobHandle<GroupPage>>,
    error: Option<String>,
    /// Asked for the next rows.
    wants_more: bool,
}

pub struct DedupeState {
    pub table: String,
    pub columns: Vec<String>,
    pub keys: Vec<bool>,
    pub spec: DedupeSpec,
    /// The settings the shown review was made with; Apply uses exactly these.
    previewed: Option<DedupeSpec>,
    pub preview: Option<DedupePreview>,
    /// Groups, largest first: (the survivor's row number, size).
    pub groups: Vec<(u64, u64)>,
    pub excluded: HashSet<u64>,
    pub selected: Option<u64>,
    group: Option<GroupView>,
    pub replace: bool,
    pub confirm_replace: bool,
    pub new_name: String,
    pub wants_preview: bool,
    pub wants_apply: bool,
    pub wants_listing: bool,
    listing_job: Option<JobHandle<FoundDuplicates>>,
    preview_job: Option<JobHandle<(DedupePreview, Vec<(u64, u64)>)>>,
    apply_job: Option<JobHandle<DedupeReport>>,
    pub report: Option<DedupeReport>,
    /// A listing of the duplicates just written, to open once.
    pub listed: Option<String>,
    /// Tables to open and the catalog to refresh, once, after an apply.
    pub opened: bool,
    pub error: Option<String>,
    pub page: Page,
    pub values: ValuesState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Rows,
    Values,
}

/// The Values page: clusters of near-duplicate values in one text column.
pub struct ValuesState {
    pub text_columns: Vec<String>,
    pub column: String,
    /// The column the shown clusters and the last merge belong to.
    clustered_column: String,
    merged_column: String,
    pub method: Method,
    pub clusters: Vec<Cluster>,
    /// Clusters ticked for merging (all, at first).
    pub chosen: Vec<bool>,
    pub distinct: u64,
    pub wants_clusters: bool,
    pub wants_merge: bool,
    pub wants_undo: bool,
    cluster_job: Option<JobHandle<ClusterReport>>,
    merge_job: Option<JobHandle<MergeReport>>,
    undo_job: Option<JobHandle<u64>>,
    pub merged: Option<MergeReport>,
    pub message: Option<String>,
}

impl DedupeState {
    pub fn open(table: String, columns: Vec<(String, bool)>) -> Self {
        let text_columns: Vec<String> = columns.iter().filter(|(_, text)| *text).map(|(c, _)| c.clone()).collect();
        let columns: Vec<String> = columns.into_iter().map(|(c, _)| c).collect();
        Self {
            page: Page::Rows,
            values: ValuesState {
                column: text_columns.first().cloned().unwrap_or_default(),
                clustered_column: String::new(),
                merged_column: String::new(),
                text_columns,
                method: Method::Fingerprint,
                clusters: Vec::new(),
                chosen: Vec::new(),
                distinct: 0,
                wants_clusters: false,
                wants_merge: false,
                wants_undo: false,
                cluster_job: None,
                merge_job: None,
                undo_job: None,
                merged: None,
                message: None,
            },
            keys: vec![false; columns.len()],
            spec: DedupeSpec::new(table.clone()),
            previewed: None,
            new_name: format!("{table}_deduplicated"),
            table,
            columns,
            preview: None,
            groups: Vec::new(),
            excluded: HashSet::new(),
            selected: None,
            group: None,
            replace: false,
            confirm_replace: false,
            wants_preview: false,
            wants_apply: false,
            wants_listing: false,
            listing_job: None,
            preview_job: None,
            apply_job: None,
            report: None,
            listed: None,
            opened: true,
            error: None,
        }
    }

    pub fn title(&self) -> String {
        format!("Duplicates: {}", self.table)
    }

    fn spec(&self) -> DedupeSpec {
        let mut spec = self.spec.clone();
        spec.keys = self.columns.iter().zip(&self.keys).filter(|(_, on)| **on).map(|(c, _)| c.clone()).collect();
        spec
    }

    /// Starts the review; the job's watch goes to the jobs panel.
    pub fn start_preview(&mut self, workspace: Arc<Workspace>, wake: Waker) -> JobWatch {
        self.wants_preview = false;
        self.discard_preview(&workspace);
        self.error = None;
        self.report = None;
        self.previewed = Some(self.spec());
        let job = spawn(PreviewWithGroups(PreviewJob { workspace, spec: self.spec() }), wake);
        let watch = job.watch();
        self.preview_job = Some(job);
        watch
    }

    pub fn start_listing(&mut self, workspace: Arc<Workspace>, wake: Waker) -> JobWatch {
        self.wants_listing = false;
        self.error = None;
        let job = spawn(FindDuplicatesJob { workspace, spec: self.spec() }, wake);
        let watch = job.watch();
        self.listing_job = Some(job);
        watch
    }

    pub fn start_apply(&mut self, workspace: Arc<Workspace>, wake: Waker) -> JobWatch {
        self.wants_apply = false;
        self.error = None;
        // The default name is only a wish: a free name is made from it if it is taken.
        let name = Some(self.new_name.trim().to_string()).filter(|n| !n.is_empty() && *n != format!("{}_deduplicated", self.table));
        let target = if self.replace { DedupeTarget::Replace } else { DedupeTarget::NewTable(name) };
        let spec = self.previewed.clone().unwrap_or_else(|| self.spec());
        let job = spawn(DedupeJob { workspace, spec, excluded: self.excluded.iter().copied().collect(), target }, wake);
        let watch = job.watch();
        self.apply_job = Some(job);
        watch
    }

    pub fn poll(&mut self, workspace: &Arc<Workspace>, wake: &Waker) {
        if let Some(result) = self.preview_job.as_mut().and_then(|j| j.take_result()) {
            self.preview_job = None;
            match result {
                Ok((preview, groups)) => {
                    self.preview = Some(preview);
                    self.groups = groups;
                    self.excluded.clear();
                    self.selected = self.groups.first().map(|g| g.0);
                }
                Err(e) if !e.is_cancelled() => self.error = Some(e.to_string()),
                Err(_) => {}
            }
        }
        if let Some(result) = self.apply_job.as_mut().and_then(|j| j.take_result()) {
            self.apply_job = None;
            match result {
                Ok(report) => {
                    self.discard_preview(workspace);
                    self.report = Some(report);
                    self.opened = false;
                }
                Err(e) if !e.is_cancelled() => self.error = Some(e.to_string()),
                Err(_) => {}
            }
        }
        if let Some(result) = self.listing_job.as_mut().and_then(|j| j.take_result()) {
            self.listing_job = None;
            match result {
                Ok(found) => self.listed = Some(found.table),
                Err(e) if !e.is_cancelled() => self.error = Some(e.to_string()),
                Err(_) => {}
            }
        }
        // The group looked at is read a window at a time, by a job a new choice cancels.
        if let Some(kept) = self.selected.filter(|k| self.group.as_ref().is_none_or(|g| g.kept != *k)) {
            if let Some(old) = self.group.take().and_then(|g| g.job) {
                old.cancel();
            }
            self.group = Some(GroupView { kept, page: None, job: None, error: None, wants_more: true });
        }
        if let (Some(group), Some(preview)) = (self.group.as_mut(), self.preview.as_ref()) {
            if let Some(result) = group.job.as_mut().and_then(|j| j.take_result()) {
                group.job = None;
                match result {
                    Ok(page) => match group.page.as_mut() {
                        Some(so_far) => so_far.removed.extend(page.removed),
                        None => group.page = Some(page),
                    },
                    Err(e) if !e.is_cancelled() => group.error = Some(e.to_string()),
                    Err(_) => {}
                }
            }
            if std::mem::take(&mut group.wants_more) && group.job.is_none() {
                let offset = group.page.as_ref().map_or(0, |p| p.removed.len() as u64);
                let job = GroupRowsJob { workspace: workspace.clone(), preview: preview.clone(), kept_row: group.kept, offset, limit: GROUP_PAGE_ROWS };
                group.job = Some(spawn(job, wake.clone()));
            }
        }
    }

    /// Starts whatever the Values page asked for; the job's watch goes to the jobs panel.
    pub fn start_value_jobs(&mut self, workspace: &Arc<Workspace>, wake: &Waker) -> Option<JobWatch> {
        let v = &mut self.values;
        let table = self.table.clone();
        if std::mem::take(&mut v.wants_clusters) {
            v.message = None;
            v.clustered_column = v.column.clone();
            let column = v.column.clone();
            let job = spawn(ClusterJob { workspace: workspace.clone(), table, column, method: v.method }, wake.clone());
            let watch = job.watch();
            v.cluster_job = Some(job);
            return Some(watch);
        }
        if std::mem::take(&mut v.wants_merge) {
            let clusters: Vec<Cluster> = v.clusters.iter().zip(&v.chosen).filter(|(_, on)| **on).map(|(c, _)| c.clone()).collect();
            v.merged_column = v.clustered_column.clone();
            let job = spawn(MergeJob { workspace: workspace.clone(), table, column: v.clustered_column.clone(), clusters }, wake.clone());
            let watch = job.watch();
            v.merge_job = Some(job);
            return Some(watch);
        }
        if std::mem::take(&mut v.wants_undo) {
            let undo_table = v.merged.as_ref()?.undo_table.clone();
            let job = spawn(UndoMergeJob { workspace: workspace.clone(), table, column: v.merged_column.clone(), undo_table }, wake.clone());
            let watch = job.watch();
            v.undo_job = Some(job);
            return Some(watch);
        }
        None
    }

    /// True when a merge or its undo changed the table.
    pub fn poll_values(&mut self) -> bool {
        let v = &mut self.values;
        let mut changed = false;
        if let Some(result) = v.cluster_job.as_mut().and_then(|j| j.take_result()) {
            v.cluster_job = None;
            match result {
                Ok(report) => {
                    v.distinct = report.distinct_values;
                    v.chosen = vec![true; report.clusters.len()];
                    v.clusters = report.clusters;
                }
                Err(e) if !e.is_cancelled() => v.message = Some(e.to_string()),
                Err(_) => {}
            }
        }
        if let Some(result) = v.merge_job.as_mut().and_then(|j| j.take_result()) {
            v.merge_job = None;
            changed = true;
            match result {
                Ok(report) => {
                    v.message = Some(format!(
                        "Merged {} clusters: {} rows changed. Their old values are in {}.",
                        report.clusters,
                        group_digits(report.rows_changed),
                        report.undo_table
                    ));
                    v.merged = Some(report);
                    v.clusters.clear();
                    v.chosen.clear();
                    // The counts were of the values before the merge.
                    v.distinct = 0;
                }
                Err(e) => v.message = Some(e.to_string()),
            }
        }
        if let Some(result) = v.undo_job.as_mut().and_then(|j| j.take_result()) {
            v.undo_job = None;
            changed = true;
            v.clusters.clear();
            v.chosen.clear();
            v.distinct = 0;
            v.message = Some(match result {
                Ok(rows) => {
                    v.merged = None;
                    format!("Put back {} values; find clusters again to see the column as it is now", group_digits(rows))
                }
                Err(e) => e.to_string(),
            });
        }
        changed
    }

    pub fn is_running(&self) -> bool {
        self.preview_job.is_some()
            || self.apply_job.is_some()
            || self.listing_job.is_some()
            || self.values.cluster_job.is_some()
            || self.values.merge_job.is_some()
            || self.values.undo_job.is_some()
    }

    /// Cancels what runs and drops the review's scratch tables (the tab closes).
    pub fn close(&mut self, workspace: &Arc<Workspace>) {
        for watch in [self.preview_job.as_ref().map(|j| j.watch()), self.apply_job.as_ref().map(|j| j.watch()), self.listing_job.as_ref().map(|j| j.watch())].into_iter().flatten() {
            watch.cancel();
        }
        self.discard_preview(workspace);
    }

    fn discard_preview(&mut self, workspace: &Arc<Workspace>) {
        if let Some(preview) = self.preview.take() {
            if let Ok(conn) = workspace.connect() {
                preview.discard(&conn);
            }
        }
        self.groups.clear();
        if let Some(job) = self.group.take().and_then(|g| g.job) {
            job.cancel();
        }
        self.selected = None;
    }
}

/// The review and its groups, largest first, read by the same job.
struct PreviewWithGroups(PreviewJob);

impl Job for PreviewWithGroups {
    type Output = (DedupePreview, Vec<(u64, u64)>);

    fn title(&self) -> String {
        self.0.title()
    }

    fn run(self, ctx: &crate::engine::job::JobCtx) -> crate::engine::Result<Self::Output> {
        let workspace = self.0.workspace.clone();
        let preview = self.0.run(ctx)?;
        let conn = workspace.connect()?;
        match preview.groups_page(&conn, 0, MAX_LISTED_GROUPS) {
            Ok(groups) => Ok((preview, groups)),
            Err(e) => {
                preview.discard(&conn);
                Err(e)
            }
        }
    }
}

/// Groups listed for review (16 bytes each); the counts above the list cover every group.
const MAX_LISTED_GROUPS: u64 = 2_000_000;

pub fn dedupe_ui(ui: &mut egui::Ui, state: &mut DedupeState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.heading(format!("Duplicates in {}", state.table));
        ui.separator();
        ui.selectable_value(&mut state.page, Page::Rows, "Duplicate rows");
        ui.selectable_value(&mut state.page, Page::Values, "Similar values");
    });
    if state.page == Page::Values {
        values_ui(ui, state);
        return;
    }
    if !state.opened {
        if let Some(report) = &state.report {
            state.opened = true;
            commands.push(Command::OpenTable(report.removed_table.clone()));
            commands.push(Command::OpenTable(report.table.clone()));
        }
    }
    if let Some(table) = state.listed.take() {
        commands.push(Command::OpenTable(table));
    }
    let busy = state.is_running();
    ui.add_enabled_ui(!busy, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.label("Key columns (none: the whole row):");
            for (column, on) in state.columns.iter().zip(state.keys.iter_mut()) {
                ui.checkbox(on, column);
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("Compare text:");
            let n = &mut state.spec.normalize;
            ui.checkbox(&mut n.trim, "trim");
            ui.checkbox(&mut n.case, "ignore case");
            ui.checkbox(&mut n.space, "collapse spaces");
            ui.checkbox(&mut n.accents, "ignore accents");
            ui.checkbox(&mut n.empty_as_null, "empty = missing");
            ui.separator();
            ui.label("Missing keys:");
            ui.radio_value(&mut state.spec.nulls, NullKeys::Equal, "match each other");
            ui.radio_value(&mut state.spec.nulls, NullKeys::Distinct, "never duplicates");
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("Keep:");
            ui.radio_value(&mut state.spec.keep, Keep::First, "first");
            ui.radio_value(&mut state.spec.keep, Keep::Last, "last");
            ui.radio_value(&mut state.spec.keep, Keep::Complete, "most complete");
            ui.label("by");
            let shown = state.spec.order_by.clone().unwrap_or_else(|| "import order".into());
            egui::ComboBox::from_id_salt("dedupe-order").selected_text(shown).show_ui(ui, |ui| {
                ui.selectable_value(&mut state.spec.order_by, None, "import order");
                for c in &state.columns {
                    ui.selectable_value(&mut state.spec.order_by, Some(c.clone()), c);
                }
            });
            ui.checkbox(&mut state.spec.merge, "fill the kept row's empty cells from its group");
            ui.separator();
            if ui.button("Find duplicates").clicked() {
                state.wants_preview = true;
            }
            if ui.button("List them as a table").on_hover_text("Every row that has a duplicate, with its group and group size, in a new table; nothing else changes").clicked() {
                state.wants_listing = true;
            }
        });
    });
    if busy {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(if state.apply_job.is_some() { "Removing duplicates…" } else { "Grouping rows…" });
        });
    }
    if let Some(e) = &state.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if let Some(report) = &state.report {
        ui.label(format!(
            "Done: {} keeps {} of {} rows; the {} removed rows are in {} (with the row each group kept).",
            report.table,
            group_digits(report.rows_kept),
            group_digits(report.rows_before),
            group_digits(report.rows_removed),
            report.removed_table
        ));
    }
    let Some(preview) = &state.preview else { return };
    ui.separator();
    let excluded_rows: u64 = state.groups.iter().filter(|g| state.excluded.contains(&g.0)).map(|g| g.1 - 1).sum();
    ui.label(format!(
        "{} rows · {} duplicate groups · {} rows to remove{}",
        group_digits(preview.rows),
        group_digits(preview.groups),
        group_digits(preview.duplicates - excluded_rows),
        if state.excluded.is_empty() { String::new() } else { format!(" ({} groups left alone)", state.excluded.len()) }
    ));
    let changed = state.previewed.as_ref() != Some(&state.spec());
    if changed {
        ui.colored_label(ui.visuals().warn_fg_color, "The settings changed since this review: Find duplicates again to apply them.");
    }
    ui.add_enabled_ui(!busy && !changed && preview.duplicates > 0, |ui| {
        ui.horizontal(|ui| {
            ui.radio_value(&mut state.replace, false, "into a new table");
            ui.add_enabled(!state.replace, egui::TextEdit::singleline(&mut state.new_name).desired_width(180.0));
            ui.radio_value(&mut state.replace, true, format!("replace {}", state.table));
            if state.confirm_replace {
                ui.colored_label(ui.visuals().warn_fg_color, format!("Replace {}? Removed rows are kept in a companion table.", state.table));
                if ui.button("Replace").clicked() {
                    state.confirm_replace = false;
                    state.wants_apply = true;
                }
                if ui.button("Keep it").clicked() {
                    state.confirm_replace = false;
                }
            } else if ui.button("Apply").on_hover_text("Write the deduplicated rows and the removed rows; nothing changes before this").clicked() {
                if state.replace {
                    state.confirm_replace = true;
                } else {
                    state.wants_apply = true;
                }
            }
        });
    });
    ui.columns(2, |cols| {
        groups_list(&mut cols[0], state);
        group_detail(&mut cols[1], state);
    });
}

fn groups_list(ui: &mut egui::Ui, state: &mut DedupeState) {
    ui.label("Groups, largest first (untick to leave a group alone)");
    let row_height = ui.spacing().interact_size.y;
    egui::ScrollArea::vertical().id_salt("dedupe-groups").auto_shrink([false, false]).show_rows(ui, row_height, state.groups.len(), |ui, range| {
        for i in range {
            let (kept, size) = state.groups[i];
            ui.horizontal(|ui| {
                let mut included = !state.excluded.contains(&kept);
                if ui.checkbox(&mut included, "").on_hover_text("Remove this group's duplicates").changed() {
                    if included {
                        state.excluded.remove(&kept);
                    } else {
                        state.excluded.insert(kept);
                    }
                }
                let label = format!("{size} rows · keeps row {}", group_digits(kept));
                if ui.selectable_label(state.selected == Some(kept), label).clicked() {
                    state.selected = Some(kept);
                }
            });
        }
    });
}

fn group_detail(ui: &mut egui::Ui, state: &mut DedupeState) {
    let Some(group) = state.group.as_mut() else { return };
    if let Some(e) = &group.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
        return;
    }
    let Some(page) = &group.page else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Reading the group…");
        });
        return;
    };
    let shown = page.removed.len() as u64;
    // Wrapped: at 1280 px the line with its button would run past the window's edge.
    ui.horizontal_wrapped(|ui| {
        ui.label(format!(
            "Group kept at row {}: the first row stays, {} would go; marked cells differ from the first row",
            group_digits(group.kept),
            group_digits(page.total_removed)
        ));
        if shown < page.total_removed {
            ui.weak(format!("showing {} of them", group_digits(shown)));
            if group.job.is_some() {
                ui.spinner();
            } else if ui.button(format!("Show {} more", group_digits((page.total_removed - shown).min(GROUP_PAGE_ROWS)))).clicked() {
                group.wants_more = true;
            }
        }
    });
    let columns = &page.columns;
    let row_at = |i: usize| if i == 0 { &page.survivor } else { &page.removed[i - 1] };
    let differs = ui.visuals().warn_fg_color;
    egui::ScrollArea::horizontal().id_salt("dedupe-group").show(ui, |ui| {
        TableBuilder::new(ui)
            .striped(true)
            .column(Column::auto())
            .columns(Column::auto().at_least(60.0).clip(true), columns.len())
            .header(20.0, |mut header| {
                header.col(|ui| {
                    ui.strong("");
                });
                for c in columns {
                    header.col(|ui| {
                        ui.strong(c);
                    });
                }
            })
            .body(|body| {
                body.rows(20.0, page.removed.len() + 1, |mut row| {
                    let i = row.index();
                    let cells = row_at(i);
                    row.col(|ui| {
                        ui.label(if i == 0 { "keep" } else { "remove" });
                    });
                    for (c, cell) in cells.iter().enumerate() {
                        row.col(|ui| {
                            let text = cell.as_deref().unwrap_or("NULL");
                            if i > 0 && page.survivor.get(c) != Some(cell) {
                                ui.colored_label(differs, text);
                            } else {
                                ui.label(text);
                            }
                        });
                    }
                });
            });
    });
}

const METHODS: [(Method, &str); 8] = [
    (Method::Fingerprint, "fingerprint"),
    (Method::NGram(2), "2-gram fingerprint"),
    (Method::Metaphone, "Metaphone"),
    (Method::DoubleMetaphone, "Double Metaphone"),
    (Method::Soundex, "Soundex"),
    (Method::Cologne, "Cologne phonetic"),
    (Method::Levenshtein(2), "Levenshtein (≤ 2 edits)"),
    (Method::JaroWinkler(0.9), "Jaro-Winkler (≥ 0.9)"),
];

fn values_ui(ui: &mut egui::Ui, state: &mut DedupeState) {
    let busy = state.is_running();
    let v = &mut state.values;
    if v.text_columns.is_empty() {
        ui.label(format!("{} has no text column to cluster.", state.table));
        return;
    }
    ui.add_enabled_ui(!busy, |ui| {
        ui.horizontal(|ui| {
            ui.label("Column");
            egui::ComboBox::from_id_salt("cluster-column").selected_text(v.column.clone()).show_ui(ui, |ui| {
                for c in &v.text_columns {
                    ui.selectable_value(&mut v.column, c.clone(), c);
                }
            });
            ui.label("Method");
            let shown = METHODS.iter().find(|(m, _)| *m == v.method).map_or("", |(_, l)| l);
            egui::ComboBox::from_id_salt("cluster-method").selected_text(shown).show_ui(ui, |ui| {
                for (m, label) in METHODS {
                    ui.selectable_value(&mut v.method, m, label);
                }
            });
            if ui.button("Find clusters").clicked() {
                v.wants_clusters = true;
            }
            if v.merged.is_some() && ui.button("Undo the merge").clicked() {
                v.wants_undo = true;
            }
        });
    });
    if busy {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Working…");
        });
    }
    if let Some(m) = &v.message {
        ui.label(m);
    }
    if v.clusters.is_empty() {
        if v.distinct > 0 && v.cluster_job.is_none() {
            ui.label(format!("No clusters among {} distinct values.", group_digits(v.distinct)));
        }
        return;
    }
    let chosen = v.chosen.iter().filter(|c| **c).count();
    ui.horizontal(|ui| {
        ui.label(format!("{} clusters among {} distinct values of {}; {chosen} ticked to merge", v.clusters.len(), group_digits(v.distinct), v.clustered_column));
        if ui.add_enabled(!busy && chosen > 0, egui::Button::new("Merge ticked clusters")).on_hover_text("Each value becomes the cluster's chosen value; the old values are kept so the merge can be undone").clicked() {
            v.wants_merge = true;
        }
    });
    ui.label("Each cluster becomes the value picked on its left (the most frequent, unless you pick another).");
    // One line per cluster, laid out only while on screen: a column can have many thousands.
    const SHOWN_VALUES: usize = 6;
    let row_height = ui.spacing().interact_size.y + 4.0;
    egui::ScrollArea::both().id_salt("clusters").auto_shrink([false, false]).show_rows(ui, row_height, v.clusters.len(), |ui, range| {
        for i in range {
            let (Some(cluster), Some(on)) = (v.clusters.get_mut(i), v.chosen.get_mut(i)) else { continue };
            ui.push_id(i, |ui| {
                ui.horizontal(|ui| {
                    ui.checkbox(on, "");
                    ui.label(format!("{} rows:", group_digits(cluster.rows)));
                    for value in cluster.values.iter().take(SHOWN_VALUES) {
                        let label = format!("{:?} ×{}", value.value, group_digits(value.count));
                        if ui.radio(cluster.canonical == value.value, label).clicked() {
                            cluster.canonical = value.value.clone();
                        }
                    }
                    if cluster.values.len() > SHOWN_VALUES {
                        let more = cluster.values.len() - SHOWN_VALUES;
                        egui::ComboBox::from_id_salt("more").selected_text(format!("+{more} more")).show_ui(ui, |ui| {
                            for value in cluster.values.iter().skip(SHOWN_VALUES) {
                                let label = format!("{:?} ×{}", value.value, group_digits(value.count));
                                if ui.radio(cluster.canonical == value.value, label).clicked() {
                                    cluster.canonical = value.value.clone();
                                }
                            }
                        });
                    }
                });
            });
        }
    });
}
