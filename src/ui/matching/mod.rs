//! The "Match records" tab: the proposed set-up (how each column is compared, the blocking
//! rules and how many pairs each gives) to accept or edit, a run that finds clusters of rows
//! that are the same person, the clusters largest and least certain first with their rows
//! side by side, and each pair's score explained column by column. Nothing changes until the
//! result is written to new tables.

mod jobs;
mod review;

use std::sync::Arc;

use self::jobs::{DetailJob, RunWithClusters, SplitAndList, ThresholdJob};
use self::review::{cluster_detail, clusters_list};
use super::state::Command;
use crate::engine::config::group_digits;
use crate::engine::job::{JobHandle, JobWatch, Waker, spawn};
use crate::engine::linkage::apply::{ApplySpec, ApplyTarget, Survivor, UndoApplyJob};
use crate::engine::linkage::compare::{CompareKind, Comparison, KINDS};
use crate::engine::linkage::labels::{Split, SplitJob};
use crate::engine::linkage::{
    ClusterRows, ClusterSummary, DEFAULT_MAX_PAIRS, MatchJob, MatchReport, MatchSetup, MatchSpec, PairExplained, SetupJob, SplitOutcome, ThresholdCounts,
};
use crate::engine::workspace::Workspace;

/// Clusters listed for review; the counts above the list cover them all.
const LISTED_CLUSTERS: u64 = 100_000;

/// One column of the set-up: compared (and how) or not, and why it was proposed so.
pub struct SetupRow {
    pub column: String,
    pub kind: Option<CompareKind>,
    pub reason: String,
    /// Its exact matches weigh by how common the value is.
    pub tf: bool,
}

pub struct MatchState {
    pub table: String,
    pub rows: Vec<SetupRow>,
    /// Blocking rules and the pairs each gives on its own (`None` until counted).
    pub rules: Vec<(Vec<String>, Option<u64>)>,
    /// Columns ticked for a new rule.
    pub new_rule: Vec<bool>,
    pub threshold: f64,
    pub max_pairs: u64,
    pub setup: Option<MatchSetup>,
    pub wants_setup: bool,
    pub wants_run: bool,
    pub wants_write: bool,
    setup_job: Option<JobHandle<MatchSetup>>,
    run_job: Option<JobHandle<(MatchReport, Vec<ClusterSummary>)>>,
    write_job: Option<JobHandle<MatchReport>>,
    detail_job: Option<JobHandle<(ClusterRows, Vec<PairExplained>)>>,
    pub report: Option<MatchReport>,
    /// The set-up the shown result was found with; writing uses exactly this.
    ran_with: Option<MatchSpec>,
    pub clusters: Vec<ClusterSummary>,
    pub selected: Option<u32>,
    pub detail: Option<(ClusterRows, Vec<PairExplained>)>,
    /// The cluster the shown (or coming) detail is of.
    detail_for: Option<u32>,
    pub pair: usize,
    pub into_name: String,
    pub written: Option<MatchReport>,
    /// How each column's value is chosen when clusters are merged.
    pub survivors: Vec<(String, Survivor)>,
    /// Merge into the table itself (after asking) rather than a new table.
    pub replace: bool,
    pub confirm_replace: bool,
    pub merged_name: String,
    pub wants_merge: bool,
    /// The table and the companion a merge replaced it from, for Undo.
    pub undo: Option<(String, String)>,
    pub wants_undo: bool,
    undo_job: Option<JobHandle<u64>>,
    pub message: Option<String>,
    /// A pair to label: its two rows and whether they are one.
    pub wants_label: Option<(u32, u32, bool)>,
    label_job: Option<JobHandle<()>>,
    /// Rows of the shown cluster ticked to split off.
    pub ticked: std::collections::BTreeSet<u32>,
    /// A cluster to split, and where.
    pub wants_split: Option<(u32, Split)>,
    split_job: Option<JobHandle<(SplitOutcome, Vec<ClusterSummary>)>>,
    /// The row chosen in each cluster for the columns merged "from the chosen row".
    pub chosen: std::collections::BTreeSet<u32>,
    /// List only the clusters that hang on one doubtful link.
    pub flagged_only: bool,
    /// Another threshold to see what it would give, and what it gives.
    pub try_threshold: f64,
    pub at_threshold: Option<ThresholdCounts>,
    threshold_job: Option<JobHandle<ThresholdCounts>>,
    /// Fold the set-up away on the next frame.
    fold_setup: bool,
    /// Open the set-up on the first frame, whatever a tab of the same table left folded.
    unfold_setup: bool,
    pub opened: bool,
    pub error: Option<String>,
}

impl MatchState {
    pub fn open(table: String) -> Self {
        Self {
            into_name: format!("{table}_matches"),
            table,
            rows: Vec::new(),
            rules: Vec::new(),
            new_rule: Vec::new(),
            threshold: 0.5,
            max_pairs: DEFAULT_MAX_PAIRS,
            setup: None,
            wants_setup: true,
            wants_run: false,
            wants_write: false,
            setup_job: None,
            run_job: None,
            write_job: None,
            detail_job: None,
            report: None,
            ran_with: None,
            clusters: Vec::new(),
            selected: None,
            detail: None,
            detail_for: None,
            pair: 0,
            written: None,
            survivors: Vec::new(),
            replace: false,
            confirm_replace: false,
            merged_name: String::new(),
            wants_merge: false,
            undo: None,
            wants_undo: false,
            undo_job: None,
            message: None,
            wants_label: None,
            label_job: None,
            ticked: Default::default(),
            wants_split: None,
            split_job: None,
            chosen: Default::default(),
            flagged_only: false,
            try_threshold: 0.5,
            at_threshold: None,
            threshold_job: None,
            fold_setup: false,
            unfold_setup: true,
            opened: true,
            error: None,
        }
    }

    pub fn title(&self) -> String {
        format!("Match: {}", self.table)
    }

    /// The spec of the set-up as shown: the automatic one until it is known.
    fn spec(&self) -> MatchSpec {
        let mut spec = MatchSpec::new(self.table.clone());
        if self.setup.is_some() {
            spec.comparisons = self.rows.iter().filter_map(|r| r.kind.map(|kind| Comparison { column: r.column.clone(), kind })).collect();
            spec.blocking = self.rules.iter().map(|(columns, _)| columns.clone()).collect();
            spec.term_frequencies = Some(self.rows.iter().filter(|r| r.kind.is_some() && r.tf).map(|r| r.column.clone()).collect());
        }
        spec.threshold = self.threshold;
        spec.max_pairs = self.max_pairs;
        spec
    }

    pub fn is_running(&self) -> bool {
        self.setup_job.is_some() || self.run_job.is_some() || self.write_job.is_some() || self.undo_job.is_some() || self.split_job.is_some()
    }

    /// Starts what was asked for; the job's watch goes to the jobs panel.
    pub fn start_jobs(&mut self, workspace: &Arc<Workspace>, wake: &Waker) -> Option<JobWatch> {
        if std::mem::take(&mut self.wants_setup) {
            self.error = None;
            let job = spawn(SetupJob { workspace: workspace.clone(), spec: self.spec() }, wake.clone());
            let watch = job.watch();
            self.setup_job = Some(job);
            return Some(watch);
        }
        if std::mem::take(&mut self.wants_run) {
            self.error = None;
            self.discard_review(workspace);
            let mut spec = self.spec();
            spec.review = true;
            self.ran_with = Some(spec.clone());
            let job = spawn(RunWithClusters(MatchJob { workspace: workspace.clone(), spec }), wake.clone());
            let watch = job.watch();
            self.run_job = Some(job);
            return Some(watch);
        }
        let merge = std::mem::take(&mut self.wants_merge);
        if std::mem::take(&mut self.wants_write) || merge {
            self.error = None;
            self.message = None;
            let mut spec = self.ran_with.clone().unwrap_or_else(|| self.spec());
            spec.review = false;
            spec.into = Some(self.into_name.trim().to_string());
            if merge {
                let name = Some(self.merged_name.trim().to_string()).filter(|n| !n.is_empty());
                let target = if self.replace { ApplyTarget::Replace } else { ApplyTarget::NewTable(name) };
                let chosen_rows = self.chosen.iter().map(|&n| u64::from(n)).collect();
                spec.apply = Some(ApplySpec { survivors: self.survivors.clone(), target, chosen_rows });
            }
            let job = spawn(MatchJob { workspace: workspace.clone(), spec }, wake.clone());
            let watch = job.watch();
            self.write_job = Some(job);
            return Some(watch);
        }
        if let Some((left, right, is_match)) = self.wants_label.take() {
            let review = self.report.as_ref()?.review.clone()?;
            let job = spawn(crate::engine::linkage::labels::LabelJob { workspace: workspace.clone(), review, left, right, is_match }, wake.clone());
            let watch = job.watch();
            self.label_job = Some(job);
            return Some(watch);
        }
        if let Some((cluster, how)) = self.wants_split.take() {
            let review = self.report.as_ref()?.review.clone()?;
            let job = spawn(SplitAndList(SplitJob { workspace: workspace.clone(), review, cluster, how }), wake.clone());
            let watch = job.watch();
            self.split_job = Some(job);
            return Some(watch);
        }
        if std::mem::take(&mut self.wants_undo) {
            let (table, companion) = self.undo.clone()?;
            self.error = None;
            let job = spawn(UndoApplyJob { workspace: workspace.clone(), table, companion }, wake.clone());
            let watch = job.watch();
            self.undo_job = Some(job);
            return Some(watch);
        }
        None
    }

    /// Takes finished jobs' results. True when tables were written.
    pub fn poll(&mut self, workspace: &Arc<Workspace>, wake: &Waker) -> bool {
        if let Some(result) = self.setup_job.as_mut().and_then(|j| j.take_result()) {
            self.setup_job = None;
            match result {
                Ok(setup) => self.take_setup(setup),
                Err(e) if !e.is_cancelled() => self.error = Some(e.to_string()),
                Err(_) => {}
            }
        }
        if let Some(result) = self.run_job.as_mut().and_then(|j| j.take_result()) {
            self.run_job = None;
            match result {
                Ok((report, clusters)) => {
                    self.fold_setup = !clusters.is_empty();
                    self.try_threshold = report.threshold;
                    self.at_threshold = None;
                    self.selected = clusters.first().map(|c| c.id);
                    self.clusters = clusters;
                    self.report = Some(report);
                }
                Err(e) if !e.is_cancelled() => self.error = Some(e.to_string()),
                Err(_) => {}
            }
        }
        let mut written = false;
        if let Some(result) = self.write_job.as_mut().and_then(|j| j.take_result()) {
            self.write_job = None;
            match result {
                Ok(report) => {
                    if let (Some((merged, rows)), Some(into)) = (&report.merged, &report.into) {
                        self.message = Some(format!("Merged: {} rows in {merged}; every original row is in {into} with its cluster.", group_digits(*rows)));
                        self.undo = (merged == &self.table).then(|| (self.table.clone(), into.clone()));
                        if self.undo.is_some() {
                            // The clusters were of the rows the merge replaced.
                            self.discard_review(workspace);
                        }
                    }
                    // The next write needs a free name too.
                    if report.into.as_deref() == Some(self.into_name.trim()) {
                        self.into_name = next_name(&self.into_name);
                    }
                    if report.merged.as_ref().is_some_and(|(m, _)| m.as_str() == self.merged_name.trim()) {
                        self.merged_name = next_name(&self.merged_name);
                    }
                    self.written = Some(report);
                    self.opened = false;
                    written = true;
                }
                Err(e) if !e.is_cancelled() => self.error = Some(e.to_string()),
                Err(_) => {}
            }
        }
        if let Some(result) = self.undo_job.as_mut().and_then(|j| j.take_result()) {
            self.undo_job = None;
            written = true;
            match result {
                Ok(rows) => {
                    self.undo = None;
                    self.message = Some(format!("{} is back as it was: {} rows. Find matches again to review it.", self.table, group_digits(rows)));
                }
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        if let Some(result) = self.detail_job.as_mut().and_then(|j| j.take_result()) {
            self.detail_job = None;
            match result {
                Ok(detail) => {
                    self.pair = 0;
                    self.detail = Some(detail);
                }
                Err(e) if !e.is_cancelled() => self.error = Some(e.to_string()),
                Err(_) => {}
            }
        }
        if let Some(result) = self.label_job.as_mut().and_then(|j| j.take_result()) {
            self.label_job = None;
            match result {
                Ok(()) => self.message = Some("Labelled. Labels are kept with the table and take the place of the pair's score: Find matches again to use it.".into()),
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        if let Some(result) = self.split_job.as_mut().and_then(|j| j.take_result()) {
            self.split_job = None;
            match result {
                Ok((outcome, clusters)) => {
                    self.message = Some(split_message(&outcome));
                    self.clusters = clusters;
                    self.selected = outcome.clusters.first().copied().or_else(|| self.clusters.first().map(|c| c.id));
                    self.detail_for = None;
                    // The counts of every threshold changed with the pairs labelled apart.
                    self.at_threshold = None;
                }
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        if let Some(result) = self.threshold_job.as_mut().and_then(|j| j.take_result()) {
            self.threshold_job = None;
            if let Ok(counts) = result {
                self.at_threshold = Some(counts);
            }
        }
        // What another threshold gives, counted by a job a new value cancels.
        if let Some(review) = self.report.as_ref().and_then(|r| r.review.clone()) {
            let asked = self.try_threshold;
            let counted = self.at_threshold.map(|c| c.threshold);
            let running = self.threshold_job.is_some();
            if counted != Some(asked) && !running {
                self.threshold_job = Some(spawn(ThresholdJob { workspace: workspace.clone(), review, threshold: asked }, wake.clone()));
            }
        }
        // The cluster looked at is read by a job a new choice cancels.
        if let (Some(id), Some(review)) = (self.selected, self.report.as_ref().and_then(|r| r.review.clone())) {
            if self.detail_for != Some(id) {
                if let Some(old) = self.detail_job.take() {
                    old.cancel();
                }
                self.detail_for = Some(id);
                self.detail = None;
                self.ticked.clear();
                self.detail_job = Some(spawn(DetailJob { workspace: workspace.clone(), review, id }, wake.clone()));
            }
        }
        written
    }

    fn take_setup(&mut self, setup: MatchSetup) {
        let first = self.setup.is_none();
        if first {
            let mut rows: Vec<SetupRow> = setup
                .comparisons
                .iter()
                .zip(&setup.reasons)
                .map(|(c, reason)| SetupRow {
                    column: c.column.clone(),
                    kind: Some(c.kind),
                    reason: reason.clone().unwrap_or_default(),
                    tf: setup.term_frequencies.contains(&c.column),
                })
                .collect();
            rows.extend(setup.left_out.iter().map(|p| SetupRow { column: p.column.clone(), kind: None, reason: p.reason.clone(), tf: false }));
            self.rows = rows;
            self.new_rule = vec![false; self.rows.len()];
            self.survivors = self.rows.iter().map(|r| (r.column.clone(), Survivor::MostFrequent)).collect();
            self.merged_name = format!("{}_merged", self.table);
        }
        self.rules = setup.rules.iter().map(|r| (r.columns.clone(), Some(r.pairs))).collect();
        self.setup = Some(setup);
    }

    /// Cancels what runs and drops the review's tables (the tab closes).
    pub fn close(&mut self, workspace: &Arc<Workspace>) {
        for watch in [
            self.setup_job.as_ref().map(|j| j.watch()),
            self.run_job.as_ref().map(|j| j.watch()),
            self.write_job.as_ref().map(|j| j.watch()),
            self.undo_job.as_ref().map(|j| j.watch()),
        ]
        .into_iter()
        .flatten()
        {
            watch.cancel();
        }
        self.discard_review(workspace);
    }

    fn discard_review(&mut self, workspace: &Arc<Workspace>) {
        if let Some(review) = self.report.take().and_then(|r| r.review) {
            if let Ok(conn) = workspace.connect() {
                review.discard(&conn);
            }
        }
        self.clusters.clear();
        self.selected = None;
        self.detail = None;
        self.detail_for = None;
    }
}

/// `name_2` after `name`, `name_3` after `name_2`.
fn next_name(name: &str) -> String {
    let name = name.trim();
    match name.rsplit_once('_').and_then(|(base, n)| n.parse::<u32>().ok().map(|n| (base, n))) {
        Some((base, n)) => format!("{base}_{}", n + 1),
        None => format!("{name}_2"),
    }
}

fn split_message(outcome: &SplitOutcome) -> String {
    let parts: Vec<String> = outcome.clusters.iter().map(|id| (id + 1).to_string()).collect();
    let into = match (parts.len(), outcome.alone) {
        (0, n) => format!("Split: its {n} rows stand alone now."),
        (1, n) => format!("Split into cluster {} and {n} row{} on {}.", parts[0], if n == 1 { "" } else { "s" }, if n == 1 { "its own" } else { "their own" }),
        (_, 0) => format!("Split into clusters {}.", parts.join(", ")),
        (_, n) => format!("Split into clusters {} and {n} row{} on {}.", parts.join(", "), if n == 1 { "" } else { "s" }, if n == 1 { "its own" } else { "their own" }),
    };
    let labelled = match outcome.labelled {
        1 => "The pair across the split is labelled not the same".to_string(),
        n => format!("The {} pairs across the split are labelled not the same", group_digits(n)),
    };
    format!("{into} {labelled}, so later runs keep it.")
}


pub fn match_ui(ui: &mut egui::Ui, state: &mut MatchState, commands: &mut Vec<Command>) {
    ui.heading(format!("Match records of {}", state.table));
    if !state.opened {
        if let Some(written) = &state.written {
            state.opened = true;
            // The merged rows, or else the rows with their cluster.
            if let Some(shown) = written.merged.as_ref().map(|(m, _)| m).or(written.into.as_ref()) {
                commands.push(Command::OpenTable(shown.clone()));
            }
        }
    }
    let busy = state.is_running();
    if let Some(e) = &state.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if state.setup.is_none() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Looking at the columns and counting the pairs of each blocking rule…");
        });
        return;
    }
    // The set-up folds away once there are clusters to look at.
    let fold = std::mem::take(&mut state.fold_setup);
    let unfold = std::mem::take(&mut state.unfold_setup);
    let setup_height = ui.available_height() * 0.5;
    let open = if fold { Some(false) } else { unfold.then_some(true) };
    egui::CollapsingHeader::new("Set-up: comparisons and blocking rules").id_salt("match-setup-header").default_open(true).open(open).show(ui, |ui| {
        ui.add_enabled_ui(!busy, |ui| setup_ui(ui, state, setup_height));
    });
    ui.separator();
    results_ui(ui, state, busy);
}

fn setup_ui(ui: &mut egui::Ui, state: &mut MatchState, height: f32) {
    let mut changed = false;
    ui.columns(2, |cols| {
        comparisons_ui(&mut cols[0], state, height, &mut changed);
        rules_ui(&mut cols[1], state, &mut changed);
    });
}

fn comparisons_ui(ui: &mut egui::Ui, state: &mut MatchState, height: f32, changed: &mut bool) {
    ui.label("How each column is compared (proposed from its name, its profile, type and values; change any):");
    egui::ScrollArea::vertical().id_salt("match-columns").max_height(height).auto_shrink([false, true]).show(ui, |ui| comparisons_grid(ui, state, changed));
}

fn comparisons_grid(ui: &mut egui::Ui, state: &mut MatchState, changed: &mut bool) {
    egui::Grid::new("match-setup").striped(true).show(ui, |ui| {
        ui.strong("column");
        ui.strong("compared as");
        ui.strong("exact matches").on_hover_text("Weighed by rarity: an exact match on a common value (Smith) adds less to the score than one on a rare value");
        ui.strong("why");
        ui.end_row();
        for row in state.rows.iter_mut() {
            ui.label(&row.column);
            let shown = row.kind.map_or("not compared", |k| k.name());
            egui::ComboBox::from_id_salt(("match-kind", &row.column)).selected_text(shown).show_ui(ui, |ui| {
                *changed |= ui.selectable_value(&mut row.kind, None, "not compared").changed();
                for kind in KINDS {
                    *changed |= ui.selectable_value(&mut row.kind, Some(*kind), kind.name()).changed();
                }
            });
            ui.add_enabled_ui(row.kind.is_some(), |ui| {
                *changed |= ui
                    .checkbox(&mut row.tf, "weighed by rarity")
                    .on_hover_text("An exact match on a common value (Smith) adds less to the score than one on a rare value")
                    .changed();
            });
            ui.weak(&row.reason);
            ui.end_row();
        }
    });
}

/// The blocking rules, the limits and Find matches; a change in the set-up (`changed`, or
/// here) counts the pairs again.
fn rules_ui(ui: &mut egui::Ui, state: &mut MatchState, changed: &mut bool) {
    let mut changed = *changed;
    ui.label("Blocking rules: only pairs equal in all of a rule's columns are compared.");
    let mut remove = None;
    for (i, (columns, pairs)) in state.rules.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.label(columns.join(" + "));
            ui.weak(pairs.map_or("counting…".to_string(), |p| format!("{} pairs", group_digits(p))));
            if ui.small_button("Remove").clicked() {
                remove = Some(i);
            }
        });
    }
    if let Some(i) = remove {
        state.rules.remove(i);
        changed = true;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("New rule:");
        for (row, on) in state.rows.iter().zip(state.new_rule.iter_mut()) {
            if row.kind.is_some() {
                ui.checkbox(on, &row.column);
            }
        }
        let picked: Vec<String> = state.rows.iter().zip(&state.new_rule).filter(|(r, on)| **on && r.kind.is_some()).map(|(r, _)| r.column.clone()).collect();
        if ui.add_enabled(!picked.is_empty(), egui::Button::new("Add rule")).clicked() {
            state.rules.push((picked, None));
            state.new_rule.iter_mut().for_each(|on| *on = false);
            changed = true;
        }
    });
    // Rules name compared columns only.
    let compared: Vec<&str> = state.rows.iter().filter(|r| r.kind.is_some()).map(|r| r.column.as_str()).collect();
    let before = state.rules.len();
    state.rules.retain(|(columns, _)| columns.iter().all(|c| compared.contains(&c.as_str())));
    changed |= state.rules.len() != before;
    if changed {
        state.rules.iter_mut().for_each(|r| r.1 = None);
        state.wants_setup = true;
    }
    let total: u64 = state.rules.iter().filter_map(|r| r.1).sum();
    ui.horizontal(|ui| {
        ui.label(format!("At most {} candidate pairs (limit", group_digits(total)));
        ui.add(
            egui::DragValue::new(&mut state.max_pairs)
                .speed(100_000.0)
                .range(1_000..=u64::MAX)
                .custom_formatter(|v, _| group_digits(v as u64))
                .custom_parser(|text| text.replace([',', ' ', '_'], "").parse::<f64>().ok()),
        );
        ui.label(")");
    });
    ui.horizontal(|ui| {
        ui.label("Match when the probability is at least");
        ui.add(egui::Slider::new(&mut state.threshold, 0.05..=0.99).fixed_decimals(2));
        let ready = !state.rules.is_empty() && state.rules.iter().all(|r| r.1.is_some()) && compared.len() >= 2;
        if ui.add_enabled(ready, egui::Button::new("Find matches")).on_hover_text("Train the model, score the candidate pairs and form clusters; nothing changes").clicked() {
            state.wants_run = true;
        }
    });
}

fn results_ui(ui: &mut egui::Ui, state: &mut MatchState, busy: bool) {
    if busy {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(if state.write_job.is_some() {
                "Writing the result tables…"
            } else if state.run_job.is_some() {
                "Finding matches…"
            } else {
                "Counting pairs…"
            });
        });
    }
    if let Some(written) = &state.written {
        if let (Some(into), Some(pairs)) = (&written.into, &written.pairs_table) {
            ui.label(format!("Written: every row with its _cluster in {into}, the scored pairs in {pairs}."));
        }
    }
    if let Some(m) = &state.message {
        ui.label(m);
    }
    if state.undo.is_some() && ui.add_enabled(!busy, egui::Button::new("Undo merge")).on_hover_text("Put the table back as it was, from the table of its original rows").clicked() {
        state.wants_undo = true;
    }
    let Some(report) = &state.report else { return };
    ui.horizontal_wrapped(|ui| {
        ui.label(report.summary());
        if ui.add_enabled(!busy, egui::Button::new("Find matches again")).on_hover_text("With the set-up above and the labels given so far").clicked() {
            state.wants_run = true;
        }
    });
    egui::CollapsingHeader::new("The model: what each level of each comparison weighs").id_salt("match-model").show(ui, |ui| model_ui(ui, report));
    ui.horizontal(|ui| {
        ui.label("Another threshold would give:");
        ui.add(egui::Slider::new(&mut state.try_threshold, 0.01..=0.99).fixed_decimals(2));
        match state.at_threshold.filter(|c| c.threshold == state.try_threshold) {
            Some(c) => ui.label(format!("{} pairs, {} clusters of {} rows", group_digits(c.pairs), group_digits(c.clusters), group_digits(c.rows))),
            None => ui.spinner(),
        };
        if (state.try_threshold - report.threshold).abs() > 1e-9 && ui.button("Use it").on_hover_text("Find matches again at this threshold").clicked() {
            state.threshold = state.try_threshold;
            state.wants_run = true;
        }
    });
    ui.add_enabled_ui(!busy, |ui| {
        ui.horizontal(|ui| {
            ui.label("Write the rows with their cluster to");
            ui.add(egui::TextEdit::singleline(&mut state.into_name).desired_width(200.0));
            if ui.button("Write result tables").on_hover_text("A new table of every row with its cluster and probability, and one of the scored pairs").clicked() {
                state.wants_write = true;
            }
        });
        egui::CollapsingHeader::new("Merge each cluster into one row…").id_salt("match-merge").show(ui, |ui| merge_ui(ui, state));
    });
    ui.columns(2, |cols| {
        clusters_list(&mut cols[0], state);
        cluster_detail(&mut cols[1], state);
    });
}

/// Each comparison's levels with m (how often matches land there), u (how often
/// non-matches do) and the weight log2(m/u) a pair at that level gets.
fn model_ui(ui: &mut egui::Ui, report: &MatchReport) {
    ui.label(format!(
        "Prior: about one pair in {} matches (λ = {:.2e}), weight {:+.2}. m was trained without labels on each blocking rule's pairs; u from {} random pairs.",
        group_digits((1.0 / report.prior).round() as u64),
        report.prior,
        crate::engine::linkage::model::prior_weight(report.prior),
        group_digits(report.random_pairs)
    ));
    let good = egui::Color32::from_rgb(60, 160, 90);
    let bad = egui::Color32::from_rgb(200, 70, 60);
    egui::Grid::new("match-model-grid").striped(true).show(ui, |ui| {
        for heading in ["column", "level", "m", "u", "weight"] {
            ui.strong(heading);
        }
        ui.end_row();
        for c in &report.comparisons {
            for (k, level) in c.levels.iter().enumerate().rev() {
                if k + 1 == c.levels.len() {
                    let note = match (c.trained_sessions, c.term_frequencies) {
                        (0, _) => format!("{} ({}; m not trained: every rule uses it)", c.column, c.kind.name()),
                        (_, true) => format!("{} ({}; exact weighs by how common the value is)", c.column, c.kind.name()),
                        _ => format!("{} ({})", c.column, c.kind.name()),
                    };
                    ui.label(note);
                } else {
                    ui.label("");
                }
                ui.label(&level.label);
                ui.label(format!("{:.4}", level.m));
                ui.label(format!("{:.5}", level.u));
                ui.colored_label(if level.weight >= 0.0 { good } else { bad }, format!("{:+.2}", level.weight));
                ui.end_row();
            }
        }
    });
}

/// Survivorship per column, where the merged rows go, and Merge.
fn merge_ui(ui: &mut egui::Ui, state: &mut MatchState) {
    let columns: Vec<String> = state.survivors.iter().map(|(c, _)| c.clone()).collect();
    ui.label("Each column of a merged row comes from:");
    if state.survivors.iter().any(|(_, s)| *s == Survivor::Chosen) {
        ui.label(format!(
            "\"From the chosen row\": the row picked under \"merge from\" in its cluster ({} chosen so far); a cluster with none takes its most complete row.",
            group_digits(state.chosen.len() as u64)
        ));
    }
    // Several columns a row, so a wide table's columns do not push the clusters off the window.
    let per_row = ((ui.available_width() / 300.0) as usize).max(1);
    egui::Grid::new("match-survivors").show(ui, |ui| {
        for (i, (column, survivor)) in state.survivors.iter_mut().enumerate() {
            ui.label(format!("{column}:"));
            egui::ComboBox::from_id_salt(("match-survivor", column.as_str())).selected_text(survivor.label()).show_ui(ui, |ui| {
                for choice in [Survivor::MostFrequent, Survivor::MostComplete, Survivor::Longest, Survivor::First, Survivor::Chosen] {
                    let label = choice.label();
                    ui.selectable_value(survivor, choice, label);
                }
                for by in &columns {
                    let choice = Survivor::NewestBy(by.clone());
                    let label = choice.label();
                    ui.selectable_value(survivor, choice, label);
                }
            });
            if (i + 1) % per_row == 0 {
                ui.end_row();
            }
        }
    });
    ui.horizontal(|ui| {
        ui.radio_value(&mut state.replace, false, "into a new table");
        ui.add_enabled(!state.replace, egui::TextEdit::singleline(&mut state.merged_name).desired_width(180.0));
        ui.radio_value(&mut state.replace, true, format!("replace {}", state.table));
        if state.confirm_replace {
            ui.colored_label(ui.visuals().warn_fg_color, format!("Replace {}? Every original row stays in {} and Undo puts them back.", state.table, state.into_name));
            if ui.button("Replace").clicked() {
                state.confirm_replace = false;
                state.wants_merge = true;
            }
            if ui.button("Keep it").clicked() {
                state.confirm_replace = false;
            }
        } else if ui.button("Merge clusters").on_hover_text("One row per cluster, each column chosen as set above; the original rows are written beside it").clicked() {
            if state.replace {
                state.confirm_replace = true;
            } else {
                state.wants_merge = true;
            }
        }
    });
}
