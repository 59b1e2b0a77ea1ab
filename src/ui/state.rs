//! `AppState`: the one state every panel reads. Panels never touch the engine directly;
//! they push a [`Command`], and [`AppState::apply_commands`] carries it out after the frame
//! is laid out. Anything that talks to DuckDB runs on a worker thread (a job, the browse
//! worker, or a one-shot `poll_promise`), so no frame waits on the database.

use std::path::PathBuf;
use std::sync::Arc;

use poll_promise::Promise;

use super::file_dialog::{FileDialogs, Picked};
use crate::engine::browse::TableView;
use crate::engine::console::{RunSql, SaveResultJob, SqlOutcome};
use crate::engine::config::{Settings, format_bytes, group_digits, rows_text};
use crate::engine::export::{ExportJob, ExportOptions, ExportReport};
use crate::engine::import::linked::{LinkJob, LinkReport};
use crate::engine::import::{ImportJob, ImportOptions, ImportReport};
use crate::engine::job::{JobHandle, JobSnapshot, JobState, JobWatch, Waker, spawn};
use crate::engine::monitor::MemoryMonitor;
use crate::engine::view::View;
use crate::engine::catalog::CompactJob;
use crate::engine::workspace::{CompactReport, TableInfo};
use crate::engine::{EngineError, Result, Workspace};
use crate::ui::console::ConsoleState;
use crate::ui::export_dialog::ExportDraft;
use crate::ui::import_dialog::ImportDraft;
use crate::ui::table::GridState;
use crate::ui::tabs::{Tab, TabKind};

pub enum UiJob {
    /// An import, with what it was asked to do (to run it again, e.g. widening columns).
    Import(JobHandle<ImportReport>, Box<(Vec<PathBuf>, ImportOptions)>),
    Link(JobHandle<LinkReport>),
    Export(JobHandle<ExportReport>),
    Compact(JobHandle<CompactReport>),
    SaveResult(JobHandle<String>),
    Optimize(JobHandle<crate::engine::profile::optimize::OptimizeReport>),
    /// A job whose result its owner takes (a table view's sort or count, a console's query).
    Watched(JobWatch),
}

impl UiJob {
    pub fn snapshot(&self) -> JobSnapshot {
        match self {
            Self::Import(h, _) => h.snapshot(),
            Self::Link(h) => h.snapshot(),
            Self::Export(h) => h.snapshot(),
            Self::Compact(h) => h.snapshot(),
            Self::SaveResult(h) => h.snapshot(),
            Self::Optimize(h) => h.snapshot(),
            Self::Watched(w) => w.snapshot(),
        }
    }

    pub fn id(&self) -> u64 {
        match self {
            Self::Import(h, _) => h.id(),
            Self::Link(h) => h.id(),
            Self::Export(h) => h.id(),
            Self::Compact(h) => h.id(),
            Self::SaveResult(h) => h.id(),
            Self::Optimize(h) => h.id(),
            Self::Watched(w) => w.id(),
        }
    }

    pub fn cancel(&self) {
        match self {
            Self::Import(h, _) => h.cancel(),
            Self::Link(h) => h.cancel(),
            Self::Export(h) => h.cancel(),
            Self::Compact(h) => h.cancel(),
            Self::SaveResult(h) => h.cancel(),
            Self::Optimize(h) => h.cancel(),
            Self::Watched(w) => w.cancel(),
        }
    }
}

/// A message shown to the user until dismissed.
#[derive(Clone, Debug)]
pub struct Notice {
    pub is_error: bool,
    pub text: String,
    /// A button that acts on the message ("Widen qty to DOUBLE and append").
    pub action: Option<(String, Command)>,
    pub created: std::time::Instant,
}

/// How long a finished view job (sort, count, query) stays in the jobs list.
const WATCHED_JOB_LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a message that needs nothing from the user stays.
pub const NOTICE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10);

impl Notice {
    pub fn error(text: impl Into<String>) -> Self {
        Self { is_error: true, text: text.into(), action: None, created: std::time::Instant::now() }
    }

    pub fn info(text: impl Into<String>) -> Self {
        Self { is_error: false, text: text.into(), action: None, created: std::time::Instant::now() }
    }

    /// Errors and messages with a button stay until dismissed; others go after a while.
    pub fn expires_in(&self) -> Option<std::time::Duration> {
        (!self.is_error && self.action.is_none()).then(|| NOTICE_LIFETIME.saturating_sub(self.created.elapsed()))
    }
}

#[derive(Clone, Debug)]
pub enum Command {
    /// Opens the import window for these files.
    ImportFiles(Vec<PathBuf>),
    /// Imports the sample data shipped with the program as the table `penguins`.
    OpenSampleData,
    /// Starts an import job (from the import window).
    RunImport { paths: Vec<PathBuf>, options: ImportOptions, keep: Vec<Arc<tempfile::TempDir>> },
    /// Opens a file in place, as a view (from the import window).
    RunLink { path: PathBuf, options: ImportOptions },
    /// Opens a table in a tab, or shows its tab.
    OpenTable(String),
    OpenConsole,
    /// Shows the profile of a table in its own tab (the stored one, or a new one).
    ProfileTable(String),
    /// Opens the "Remove duplicates" tab of a table.
    DedupeTable(String),
    /// Opens the Match records tab of a table.
    MatchTable(String),
    /// Rewrites a table with narrower column types.
    OptimizeTypes { table: String, changes: Vec<crate::engine::profile::optimize::TypeChange>, target: crate::engine::profile::optimize::OptimizeTarget },
    SelectTab(usize),
    CloseTab(usize),
    /// Sets the filters, sort and columns of the current tab.
    SetView(View),
    /// Opens a table and narrows its rows by one more filter (replacing one on the same
    /// column), keeping the rest of its view.
    FilterTable { table: String, filter: crate::engine::view::Filter },
    /// Runs a statement in the current console tab.
    RunSql(String),
    LoadSqlHistory,
    SaveResult { result: crate::engine::console::ResultTable, table: String },
    Export { view: View, path: PathBuf, options: ExportOptions },
    CancelJob(u64),
    DismissJob(u64),
    ClearFinishedJobs,
    DropTable(String),
    ShowOpenDialog,
    ShowExportDialog(View),
    /// Opens a file chooser for the export window's target.
    BrowseExportTarget,
    ShowSettings,
    /// Ask before deleting; `DropTable` does it.
    ConfirmDropTable(String),
    SaveSettings(Settings),
    CompactWorkspace,
    DismissNotice(usize),
    DismissAllNotices,
}

/// The settings window's fields, as typed.
pub struct SettingsDraft {
    pub threads: usize,
    pub memory_limit: String,
    pub temp_dir: String,
    /// Folders SQL may read and write, one per line.
    pub sql_folders: String,
    pub memory_warning_percent: u8,
}

pub struct AppState {
    pub workspace: Arc<Workspace>,
    pub tables: Vec<TableInfo>,
    pub tabs: Vec<Tab>,
    pub active: usize,
    pub jobs: Vec<UiJob>,
    /// `None` while the workspace is being compacted (it needs every connection closed).
    pub memory: Option<MemoryMonitor>,
    pub notices: Vec<Notice>,
    pub export: Option<ExportDraft>,
    pub import: Option<ImportDraft>,
    pub settings: Option<SettingsDraft>,
    pub dialogs: FileDialogs,
    pub is_hovering_files: bool,
    /// A table the user asked to delete, awaiting confirmation.
    pub confirm_drop: Option<String>,
    /// The window was asked to close while jobs run: asking whether to quit.
    pub confirm_quit: bool,
    /// The user chose to quit although jobs were running.
    pub quit_confirmed: bool,
    /// The F1 list of keyboard shortcuts is open.
    pub show_shortcuts: bool,
    /// Files imported or opened lately and workspaces used lately, newest first.
    pub recent_files: Vec<PathBuf>,
    pub recent_workspaces: Vec<PathBuf>,
    /// Light, dark or as the system says; and the text size (1.0 as designed).
    pub theme: egui::ThemePreference,
    pub text_scale: f32,
    /// When (the memory monitor's seconds) the memory warning was raised, and what it said;
    /// `None` while memory is fine.
    pub memory_warning: Option<(f64, String)>,
    pub show_about: bool,
    /// When each finished view job was first seen done (it leaves the list a little later).
    watched_done_at: std::collections::HashMap<u64, std::time::Instant>,
    /// Table to show once the catalog has loaded (from the last session, or after compaction).
    pub restore_selection: Option<String>,
    /// Tables to reopen in tabs once the catalog has loaded.
    pub restore_tables: Vec<String>,
    next_console: u64,
    empty_grid: GridState,
    /// Queries of closed consoles, still finishing.
    orphan_queries: Vec<JobHandle<SqlOutcome>>,
    /// Folders the file choosers start in (remembered across sessions).
    pub last_import_dir: Option<PathBuf>,
    pub last_export_dir: Option<PathBuf>,
    /// Copies of pipes that imports read, removed when the window closes.
    spools: Vec<Arc<tempfile::TempDir>>,
    commands: Vec<Command>,
    catalog: Option<Promise<Result<Vec<TableInfo>>>>,
    /// Short one-shot engine calls (drop a table, save settings): a message when done.
    background: Vec<Promise<Result<String>>>,
    wake: Waker,
}

impl AppState {
    pub fn new(workspace: Arc<Workspace>, wake: Waker) -> Result<Self> {
        let memory = MemoryMonitor::start(workspace.connect()?, wake.clone());
        let mut state = Self {
            workspace,
            tables: Vec::new(),
            tabs: Vec::new(),
            active: 0,
            jobs: Vec::new(),
            memory: Some(memory),
            notices: Vec::new(),
            export: None,
            import: None,
            settings: None,
            dialogs: FileDialogs::new(wake.clone()),
            is_hovering_files: false,
            confirm_drop: None,
            confirm_quit: false,
            quit_confirmed: false,
            show_shortcuts: false,
            recent_files: Vec::new(),
            recent_workspaces: Vec::new(),
            theme: egui::ThemePreference::System,
            text_scale: 1.0,
            memory_warning: None,
            show_about: false,
            watched_done_at: Default::default(),
            restore_selection: None,
            restore_tables: Vec::new(),
            next_console: 1,
            empty_grid: GridState::default(),
            orphan_queries: Vec::new(),
            last_import_dir: None,
            last_export_dir: None,
            spools: Vec::new(),
            commands: Vec::new(),
            catalog: None,
            background: Vec::new(),
            wake,
        };
        state.refresh_catalog();
        Ok(state)
    }

    pub fn active_tab(&self) -> Option<&Tab> {
        self.tabs.get(self.active)
    }

    pub fn active_tab_mut(&mut self) -> Option<&mut Tab> {
        self.tabs.get_mut(self.active)
    }

    /// The table view of the current tab.
    pub fn view(&self) -> Option<&TableView> {
        self.active_tab().and_then(|t| t.view.as_ref())
    }

    pub fn view_mut(&mut self) -> Option<&mut TableView> {
        self.active_tab_mut().and_then(|t| t.view.as_mut())
    }

    /// Row window and jump state of the current tab's grid.
    pub fn grid(&self) -> &GridState {
        self.active_tab().map_or(&self.empty_grid, |t| &t.grid)
    }

    /// The table shown in the current tab.
    pub fn selected(&self) -> Option<&str> {
        self.active_tab().and_then(Tab::table)
    }

    /// Tables open in tabs, in tab order.
    pub fn open_tables(&self) -> Vec<String> {
        self.tabs.iter().filter_map(|t| t.table().map(str::to_string)).collect()
    }

    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.notices.push(Notice::error(text.into()));
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.notices.push(Notice::info(text.into()));
    }

    pub fn is_catalog_loading(&self) -> bool {
        self.catalog.is_some()
    }

    /// Cancels every running job (the window is closing).
    pub fn cancel_all_jobs(&mut self) {
        for job in &self.jobs {
            job.cancel();
        }
    }

    /// Finished view jobs still shown, to be taken off the list in a moment.
    pub fn has_lingering_jobs(&self) -> bool {
        !self.watched_done_at.is_empty()
    }

    /// Titles of the jobs that are running now.
    pub fn running_job_titles(&self) -> Vec<String> {
        self.jobs.iter().map(UiJob::snapshot).filter(|s| !s.state.is_finished()).map(|s| s.title).collect()
    }

    pub fn has_running_jobs(&self) -> bool {
        self.jobs.iter().any(|j| !j.snapshot().state.is_finished())
            || self.tabs.iter().any(|t| matches!(&t.kind, TabKind::Profile(p) if p.is_loading()))
    }

    fn refresh_catalog(&mut self) {
        let ws = self.workspace.clone();
        let wake = self.wake.clone();
        self.catalog = Some(Promise::spawn_thread("catalog", move || {
            let tables = ws.tables();
            wake();
            tables
        }));
    }

    /// Collects finished work from jobs and workers; runs before every frame.
    pub fn poll(&mut self) {
        // A view's sort or count, a console's query, a profile: their owners show the result,
        // so a few seconds after they are done they leave the jobs list (failures and cancels
        // stay to be read).
        let now = std::time::Instant::now();
        let done_at = &mut self.watched_done_at;
        self.jobs.retain(|j| {
            if !matches!(j, UiJob::Watched(_)) || j.snapshot().state != crate::engine::job::JobState::Done {
                return true;
            }
            let at = *done_at.entry(j.id()).or_insert(now);
            now.duration_since(at) < WATCHED_JOB_LINGER
        });
        done_at.retain(|id, _| self.jobs.iter().any(|j| j.id() == *id));
        if let Some(p) = self.catalog.take() {
            match p.try_take() {
                Ok(Ok(tables)) => {
                    self.tables = tables;
                    for name in std::mem::take(&mut self.restore_tables) {
                        if self.tables.iter().any(|t| t.name == name) && !self.open_tables().contains(&name) {
                            self.open_tab(name);
                        }
                    }
                    if let Some(name) = self.restore_selection.take() {
                        if self.tables.iter().any(|t| t.name == name) {
                            self.open_table(name);
                        }
                    }
                    // Tabs of tables that are gone close (their profiles and reviews cancel).
                    let gone: Vec<usize> = (0..self.tabs.len())
                        .filter(|&i| self.tabs[i].subject().is_some_and(|name| !self.tables.iter().any(|t| t.name.eq_ignore_ascii_case(name))))
                        .collect();
                    for i in gone.into_iter().rev() {
                        self.close_tab(i);
                    }
                }
                Ok(Err(e)) => self.error(format!("Could not list tables: {e}")),
                Err(p) => self.catalog = Some(p),
            }
        }
        let mut finished_imports = Vec::new();
        let mut catalog_changed = false;
        let mut messages = Vec::new();
        let mut compacted = false;
        // The workspace file or its write-ahead log.
        let workspace_file = self.workspace.path().to_string_lossy().into_owned();
        for job in &mut self.jobs {
            match job {
                UiJob::Import(h, request) => match h.take_result() {
                    Some(Ok(report)) => {
                        catalog_changed = true;
                        finished_imports.push(report.table.clone());
                        if !report.notices.is_empty() || report.rejects.is_some() {
                            messages.push(Notice::info(import_message(&report)));
                        }
                    }
                    Some(Err(EngineError::DiskFull(path))) if path.to_string_lossy().starts_with(&*workspace_file) => messages.push(Notice::error(format!(
                        "No space left on device writing {}: nothing was imported. Free some space, then File → Settings… → Compact workspace gives back what failed imports took (it needs free space about the size of the data)",
                        path.display()
                    ))),
                    Some(Err(EngineError::ValueChanged(changed))) => {
                        let mut notice = Notice::error(changed.to_string());
                        if let (Some(wider), false) = (&changed.widen_to, request.1.widen) {
                            let (paths, mut options) = (request.0.clone(), request.1.clone());
                            options.widen = true;
                            notice.text = notice.text.replace(" (--widen)", "");
                            notice.action = Some((
                                format!("Widen {} to {wider} and append", changed.column),
                                Command::RunImport { paths, options, keep: Vec::new() },
                            ));
                        }
                        messages.push(notice);
                    }
                    Some(Err(e)) if !e.is_cancelled() => messages.push(Notice::error(e.to_string())),
                    _ => {}
                },
                UiJob::Link(h) => match h.take_result() {
                    Some(Ok(report)) => {
                        catalog_changed = true;
                        finished_imports.push(report.table.clone());
                        if !report.notices.is_empty() {
                            let mut text = format!("Opened {} in place", report.table);
                            for n in &report.notices {
                                text.push_str(&format!("\n• {n}"));
                            }
                            messages.push(Notice::info(text));
                        }
                    }
                    Some(Err(e)) if !e.is_cancelled() => messages.push(Notice::error(e.to_string())),
                    _ => {}
                },
                UiJob::Export(h) => match h.take_result() {
                    Some(Ok(report)) => {
                        let mut text = format!("Exported {} to {}", rows_text(report.rows), report.path.display());
                        if report.files > 1 {
                            text.push_str(&format!(" ({} files)", group_digits(report.files)));
                        }
                        for note in &report.notes {
                            text.push_str(&format!("\n• {note}"));
                        }
                        messages.push(Notice::info(text));
                    }
                    Some(Err(e)) if !e.is_cancelled() => messages.push(Notice::error(e.to_string())),
                    _ => {}
                },
                UiJob::Compact(h) => match h.take_result() {
                    Some(result) => {
                        compacted = true;
                        catalog_changed = true;
                        messages.push(match result {
                            Ok(r) => Notice::info(format!(
                                "Compacted the workspace from {} to {}: {} freed",
                                format_bytes(r.bytes_before),
                                format_bytes(r.bytes_after),
                                format_bytes(r.freed_bytes())
                            )),
                            Err(e) => Notice::error(format!("Could not compact the workspace: {e}")),
                        });
                    }
                    None => {}
                },
                UiJob::SaveResult(h) => match h.take_result() {
                    Some(Ok(table)) => {
                        catalog_changed = true;
                        messages.push(Notice::info(format!("Saved the result as table {table}")));
                    }
                    Some(Err(e)) if !e.is_cancelled() => messages.push(Notice::error(e.to_string())),
                    _ => {}
                },
                UiJob::Optimize(h) => match h.take_result() {
                    Some(Ok(report)) => {
                        catalog_changed = true;
                        messages.push(Notice::info(format!(
                            "{} now holds {} rows with {} narrower column types",
                            report.table,
                            group_digits(report.rows),
                            report.changed_columns
                        )));
                    }
                    Some(Err(e)) if !e.is_cancelled() => messages.push(Notice::error(e.to_string())),
                    _ => {}
                },
                UiJob::Watched(_) => {}
            }
        }
        self.notices.extend(messages);
        if compacted {
            match self.workspace.connect() {
                Ok(conn) => self.memory = Some(MemoryMonitor::start(conn, self.wake.clone())),
                Err(e) => self.error(e.to_string()),
            }
            // Tables shown before come back as they were.
            for tab in &mut self.tabs {
                if let Some(saved) = tab.suspended.take() {
                    match TableView::open_source(self.workspace.clone(), saved.source.clone(), self.wake.clone()) {
                        Ok(mut view) => {
                            view.set_view(saved);
                            tab.grid.scroll_to = Some(tab.grid.first_visible);
                            self.jobs.extend(view.take_new_jobs().into_iter().map(UiJob::Watched));
                            tab.view = Some(view);
                        }
                        Err(e) => self.notices.push(Notice::error(e.to_string())),
                    }
                }
            }
        }
        if catalog_changed {
            self.refresh_catalog();
        }
        // Show what was just imported, unless the user is already looking at something.
        if let Some(table) = finished_imports.pop() {
            if self.tabs.is_empty() {
                self.open_table(table);
            }
        }
        let mut counted = false;
        let mut tables_changed = false;
        let mut save_checks = Vec::new();
        for tab in &mut self.tabs {
            if let Some(view) = &mut tab.view {
                let was_estimate = view.is_row_count_estimate();
                view.poll();
                self.jobs.extend(view.take_new_jobs().into_iter().map(UiJob::Watched));
                // A linked file just counted: the catalog shows its rows.
                counted |= was_estimate && !view.is_row_count_estimate();
            }
            super::table::poll_tab(tab);
            if let TabKind::Profile(profile) = &mut tab.kind {
                profile.poll();
                if profile.wants_profile && profile.job.is_none() {
                    self.jobs.push(UiJob::Watched(profile.start_profile(self.workspace.clone(), self.wake.clone())));
                }
                if profile.wants_checks && profile.check_job.is_none() {
                    if let Some(watch) = profile.start_checks(self.workspace.clone(), self.wake.clone()) {
                        self.jobs.push(UiJob::Watched(watch));
                    }
                }
                if std::mem::take(&mut profile.checks_changed) {
                    let (workspace, table, checks) = (self.workspace.clone(), profile.table.clone(), profile.checks.clone());
                    save_checks.push((workspace, table, checks));
                }
            }
            if let TabKind::Dedupe(dedupe) = &mut tab.kind {
                let had_report = dedupe.report.is_some();
                dedupe.poll(&self.workspace, &self.wake);
                tables_changed |= (!had_report && dedupe.report.is_some()) || dedupe.listed.is_some();
                tables_changed |= dedupe.poll_values();
                if let Some(watch) = dedupe.start_value_jobs(&self.workspace, &self.wake) {
                    self.jobs.push(UiJob::Watched(watch));
                }
                if dedupe.wants_listing {
                    self.jobs.push(UiJob::Watched(dedupe.start_listing(self.workspace.clone(), self.wake.clone())));
                }
                if dedupe.wants_preview {
                    self.jobs.push(UiJob::Watched(dedupe.start_preview(self.workspace.clone(), self.wake.clone())));
                }
                if dedupe.wants_apply {
                    self.jobs.push(UiJob::Watched(dedupe.start_apply(self.workspace.clone(), self.wake.clone())));
                }
            }
            if let TabKind::Match(m) = &mut tab.kind {
                tables_changed |= m.poll(&self.workspace, &self.wake);
                if let Some(watch) = m.start_jobs(&self.workspace, &self.wake) {
                    self.jobs.push(UiJob::Watched(watch));
                }
            }
            if let TabKind::Console(console) = &mut tab.kind {
                if let Some(outcome) = poll_console(console) {
                    tables_changed |= outcome.changes_tables;
                    if let Some(result) = outcome.result {
                        let old = tab.view.take();
                        drop(old);
                        tab.grid = GridState::default();
                        tab.selection = None;
                        tab.filter_popup = None;
                        match TableView::open_source(self.workspace.clone(), result.source(), self.wake.clone()) {
                            Ok(view) => tab.view = Some(view),
                            Err(e) => console.error = Some(e.to_string()),
                        }
                        if let Some(previous) = console.result.replace(result) {
                            drop_result_later(&self.workspace, previous);
                        }
                    }
                }
            }
        }
        for (workspace, table, checks) in save_checks {
            self.in_background("Save checks", move || {
                crate::engine::checks::save(&*workspace.connect()?, &table, &checks)?;
                Ok(String::new())
            });
        }
        for mut job in std::mem::take(&mut self.orphan_queries) {
            match job.take_result() {
                None => self.orphan_queries.push(job),
                Some(Ok(SqlOutcome { result: Some(result), .. })) => drop_result_later(&self.workspace, result),
                Some(_) => {}
            }
        }
        if counted {
            self.refresh_catalog();
        }
        if tables_changed {
            self.refresh_catalog();
            for tab in &mut self.tabs {
                if tab.table().is_some() {
                    if let Some(view) = &mut tab.view {
                        view.reload();
                    }
                }
            }
        }
        if let Some(draft) = &mut self.import {
            draft.poll(&self.wake);
        }
        let mut still_running = Vec::new();
        let mut finished_any = false;
        for p in std::mem::take(&mut self.background) {
            match p.try_take() {
                Ok(Ok(msg)) => {
                    finished_any = true;
                    if !msg.is_empty() {
                        self.info(msg);
                    }
                }
                Ok(Err(e)) => {
                    finished_any = true;
                    self.error(e.to_string());
                }
                Err(p) => still_running.push(p),
            }
        }
        self.background = still_running;
        if finished_any {
            self.refresh_catalog();
        }
    }

    /// Shows the file choosers and acts on a choice.
    pub fn file_dialogs_ui(&mut self, ctx: &egui::Context) {
        match self.dialogs.ui(ctx) {
            Some(Picked::Import(paths)) => {
                self.last_import_dir = paths.first().and_then(|p| p.parent()).map(PathBuf::from);
                self.push(Command::ImportFiles(paths));
            }
            Some(Picked::Export(path)) => {
                if let Some(draft) = &mut self.export {
                    draft.path = path.to_string_lossy().into_owned();
                }
            }
            None => {}
        }
    }

    fn in_background(&mut self, name: &str, work: impl FnOnce() -> Result<String> + Send + 'static) {
        let wake = self.wake.clone();
        self.background.push(Promise::spawn_thread(name, move || {
            let outcome = work();
            wake();
            outcome
        }));
    }

    pub fn apply_commands(&mut self) {
        for command in std::mem::take(&mut self.commands) {
            self.apply(command);
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::OpenSampleData => match sample_data() {
                Ok((dir, path)) => {
                    let options = ImportOptions { table: Some("penguins".into()), ..ImportOptions::default() };
                    self.push(Command::RunImport { paths: vec![path], options, keep: vec![Arc::new(dir)] });
                }
                Err(e) => self.error(format!("Could not write the sample data to a temporary folder: {e}")),
            },
            Command::ImportFiles(paths) => {
                if !paths.is_empty() {
                    self.import = Some(ImportDraft::new(paths, self.workspace.settings().temp_dir));
                }
            }
            Command::RunLink { path, options } => {
                remember_recent(&mut self.recent_files, &path);
                let job = LinkJob::new(self.workspace.clone(), path, options);
                self.jobs.push(UiJob::Link(spawn(job, self.wake.clone())));
            }
            Command::RunImport { paths, options, keep } => {
                let spooled: Vec<PathBuf> = keep.iter().map(|d| d.path().to_path_buf()).collect();
                for path in paths.iter().filter(|p| !spooled.iter().any(|d| p.starts_with(d))) {
                    remember_recent(&mut self.recent_files, path);
                }
                self.spools.extend(keep);
                let request = Box::new((paths.clone(), options.clone()));
                let job = ImportJob::with_options(self.workspace.clone(), paths, options);
                self.jobs.push(UiJob::Import(spawn(job, self.wake.clone()), request));
            }
            Command::OpenTable(name) => self.open_table(name),
            Command::OpenConsole => {
                let console = ConsoleState::new(self.next_console);
                self.next_console += 1;
                self.tabs.push(Tab::new(TabKind::Console(Box::new(console)), None));
                self.active = self.tabs.len() - 1;
            }
            Command::ProfileTable(name) => {
                match self.tabs.iter().position(|t| t.profile().is_some_and(|p| p.table == name)) {
                    Some(i) => self.active = i,
                    None => {
                        let dir = self.last_export_dir.clone().filter(|d| d.is_dir()).unwrap_or_else(home_dir);
                        let profile = crate::ui::profile::ProfileState::open(&self.workspace, name, dir);
                        self.tabs.push(Tab::new(TabKind::Profile(Box::new(profile)), None));
                        self.active = self.tabs.len() - 1;
                    }
                }
            }
            Command::DedupeTable(name) => match self.tabs.iter().position(|t| matches!(&t.kind, TabKind::Dedupe(d) if d.table == name)) {
                Some(i) => self.active = i,
                None => match self.workspace.connect().and_then(|conn| crate::engine::workspace::table_columns(&conn, &name)) {
                    Ok(columns) => {
                        let columns = columns.into_iter().map(|c| (c.name, c.kind.is_text())).collect();
                        self.tabs.push(Tab::new(TabKind::Dedupe(Box::new(crate::ui::dedupe::DedupeState::open(name, columns))), None));
                        self.active = self.tabs.len() - 1;
                    }
                    Err(e) => self.error(e.to_string()),
                },
            },
            Command::MatchTable(name) => match self.tabs.iter().position(|t| matches!(&t.kind, TabKind::Match(m) if m.table == name)) {
                Some(i) => self.active = i,
                None => {
                    self.tabs.push(Tab::new(TabKind::Match(Box::new(crate::ui::matching::MatchState::open(name))), None));
                    self.active = self.tabs.len() - 1;
                }
            },
            Command::OptimizeTypes { table, changes, target } => {
                let job = crate::engine::profile::optimize::OptimizeJob { workspace: self.workspace.clone(), table, changes, target };
                self.jobs.push(UiJob::Optimize(spawn(job, self.wake.clone())));
            }
            Command::SelectTab(i) => {
                if i < self.tabs.len() {
                    self.active = i;
                }
            }
            Command::CloseTab(i) => self.close_tab(i),
            Command::SetView(shape) => {
                // The tab showing that source (the current one first).
                let active = self.active;
                let target = std::iter::once(active)
                    .chain(0..self.tabs.len())
                    .find(|&i| self.tabs.get(i).and_then(|t| t.view.as_ref()).is_some_and(|v| v.source == shape.source));
                if let Some(tab) = target.and_then(|i| self.tabs.get_mut(i)) {
                    if let Some(view) = tab.view.as_mut() {
                        // Cells picked in the old rows or columns mean nothing in the new ones.
                        if view.view().with_all_columns() != shape.with_all_columns() || view.view().columns != shape.columns {
                            tab.selection = None;
                        }
                        // Other rows (a new filter, search or sort) start at the top.
                        let old = view.view();
                        if old.filters != shape.filters || old.search != shape.search || old.sort != shape.sort || old.where_expr != shape.where_expr {
                            tab.grid.scroll_to = Some(0);
                        }
                        view.set_view(shape);
                        let jobs = view.take_new_jobs();
                        self.jobs.extend(jobs.into_iter().map(UiJob::Watched));
                    }
                }
            }
            Command::FilterTable { table, filter } => {
                self.open_table(table.clone());
                let current = self.tabs.iter().find(|t| t.table() == Some(table.as_str())).and_then(|t| t.view.as_ref()).map(|v| v.view().clone());
                if let Some(mut view) = current {
                    let replaced = view.filters.iter().any(|f| f.column == filter.column);
                    let kept = view.filters.iter().filter(|f| f.column != filter.column).count();
                    view.filters.retain(|f| f.column != filter.column);
                    let text = filter.to_string();
                    view.filters.push(filter);
                    self.apply(Command::SetView(view));
                    let others = match (kept, replaced) {
                        (0, false) => String::new(),
                        (0, true) => " (in place of the filter it had on that column)".to_string(),
                        (n, _) => format!(" (its {} other filter{} stay)", n, if n == 1 { "" } else { "s" }),
                    };
                    self.info(format!("{table}: showing rows where {text}{others}"));
                }
            }
            Command::RunSql(sql) => {
                let access = crate::engine::console::SqlAccess::of(&self.workspace);
                let workspace = self.workspace.clone();
                let wake = self.wake.clone();
                if let Some(console) = self.active_tab_mut().and_then(Tab::console_mut) {
                    if console.running.is_none() {
                        console.error = None;
                        console.message = None;
                        let handle = spawn(RunSql::new(workspace, &sql, access).in_session(console.session.clone()), wake);
                        let watch = handle.watch();
                        console.running = Some((sql, handle));
                        self.jobs.push(UiJob::Watched(watch));
                    }
                }
            }
            Command::LoadSqlHistory => {
                let workspace = self.workspace.clone();
                let wake = self.wake.clone();
                if let Some(console) = self.active_tab_mut().and_then(Tab::console_mut) {
                    let search = console.history_search.clone();
                    console.history_load = Some(Promise::spawn_thread("sql-history", move || {
                        let entries = crate::engine::console::history(&workspace, &search, 200);
                        wake();
                        entries
                    }));
                }
            }
            Command::SaveResult { result, table } => {
                let job = SaveResultJob { workspace: self.workspace.clone(), result, table };
                self.jobs.push(UiJob::SaveResult(spawn(job, self.wake.clone())));
            }
            Command::Export { view, path, options } => {
                self.last_export_dir = path.parent().filter(|d| !d.as_os_str().is_empty()).map(PathBuf::from);
                let job = ExportJob::new(self.workspace.clone(), view, path, options);
                self.jobs.push(UiJob::Export(spawn(job, self.wake.clone())));
                self.export = None;
            }
            Command::CancelJob(id) => {
                if let Some(job) = self.jobs.iter().find(|j| j.id() == id) {
                    job.cancel();
                }
            }
            Command::DismissJob(id) => self.jobs.retain(|j| j.id() != id || !j.snapshot().state.is_finished()),
            Command::ClearFinishedJobs => self.jobs.retain(|j| !j.snapshot().state.is_finished()),
            Command::ConfirmDropTable(name) => self.confirm_drop = Some(name),
            Command::DropTable(name) => {
                self.confirm_drop = None;
                if let Some(i) = self.tabs.iter().position(|t| t.table() == Some(name.as_str())) {
                    self.close_tab(i);
                }
                let ws = self.workspace.clone();
                self.in_background("drop-table", move || {
                    crate::engine::catalog::drop_table(&ws, &name)?;
                    Ok(format!("Deleted table {name}"))
                });
            }
            Command::ShowOpenDialog => {
                let dir = self.last_import_dir.clone().unwrap_or_else(home_dir);
                self.dialogs.open_import(&dir);
            }
            Command::BrowseExportTarget => {
                if let Some(draft) = &self.export {
                    let path = PathBuf::from(draft.path.trim());
                    let dir = path.parent().filter(|d| d.is_dir()).map(PathBuf::from).unwrap_or_else(home_dir);
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| format!("{}.parquet", draft.table()));
                    self.dialogs.open_export(&dir, &name);
                }
            }
            Command::ShowExportDialog(view) => {
                let dir = self.last_export_dir.clone().filter(|d| d.is_dir()).unwrap_or_else(home_dir);
                // The columns, for partitioning: from an open tab, else read in the background.
                let open = self.tabs.iter().filter_map(|t| t.view.as_ref()).find(|v| v.source == view.source).and_then(|v| v.columns().map(<[_]>::to_vec));
                let load = match (&open, view.source.table_name()) {
                    (None, Some(table)) => {
                        let ws = self.workspace.clone();
                        let table = table.to_string();
                        let wake = self.wake.clone();
                        Some(Promise::spawn_thread("export-columns", move || {
                            let columns = ws.columns(&table);
                            wake();
                            columns
                        }))
                    }
                    _ => None,
                };
                self.export = Some(ExportDraft::new(view, &dir, open, load));
            }
            Command::ShowSettings => {
                let s = self.workspace.settings();
                self.settings = Some(SettingsDraft {
                    threads: s.threads,
                    memory_limit: format_bytes(s.memory_limit_bytes),
                    temp_dir: s.temp_dir.to_string_lossy().into_owned(),
                    sql_folders: s.sql_folders.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>().join("\n"),
                    memory_warning_percent: s.memory_warning_percent,
                });
            }
            Command::SaveSettings(settings) => {
                let ws = self.workspace.clone();
                self.settings = None;
                self.in_background("settings", move || {
                    ws.update_settings(settings)?;
                    Ok("Settings saved".to_string())
                });
            }
            Command::CompactWorkspace => {
                if self.has_running_jobs() {
                    self.error("Wait for the running jobs to finish, or cancel them, then compact the workspace");
                    return;
                }
                self.settings = None;
                // Compacting rewrites the file: every other connection must be closed (and the
                // scratch database with query results goes with them). Tabs stay open: a
                // table's view comes back with its filters, sort and place; a console keeps
                // its text (its temporary tables and open transaction end, and it says so).
                for tab in &mut self.tabs {
                    if let Some(view) = tab.view.take() {
                        tab.suspended = Some(view.view().clone());
                    }
                    tab.filter_popup = None;
                    if let Some(console) = tab.console_mut() {
                        let had_state = console.session.lock().map(|mut s| {
                            let had = s.has_state();
                            s.close();
                            had
                        });
                        console.result = None;
                        if had_state.unwrap_or(false) {
                            console.message = Some("The workspace was compacted: this console's temporary tables and open transaction ended; run the query again to see its rows".into());
                        }
                    }
                    if let Some(dedupe) = tab.dedupe_mut() {
                        dedupe.close(&self.workspace);
                    }
                    if let Some(m) = tab.match_mut() {
                        m.close(&self.workspace);
                    }
                }
                self.memory = None;
                let job = CompactJob { workspace: self.workspace.clone() };
                self.jobs.push(UiJob::Compact(spawn(job, self.wake.clone())));
            }
            Command::DismissNotice(i) => {
                if i < self.notices.len() {
                    self.notices.remove(i);
                }
            }
            Command::DismissAllNotices => self.notices.clear(),
        }
    }

    /// Shows the tab of table `name`, opening one if needed.
    fn open_table(&mut self, name: String) {
        match self.tabs.iter().position(|t| t.table() == Some(name.as_str())) {
            Some(i) => self.active = i,
            None => self.open_tab(name),
        }
    }

    fn open_tab(&mut self, name: String) {
        match TableView::open(self.workspace.clone(), name.clone(), self.wake.clone()) {
            Ok(view) => {
                self.tabs.push(Tab::new(TabKind::Table(name), Some(view)));
                self.active = self.tabs.len() - 1;
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    fn close_tab(&mut self, i: usize) {
        if i >= self.tabs.len() {
            return;
        }
        let mut tab = self.tabs.remove(i);
        if let Some(dedupe) = tab.dedupe_mut() {
            dedupe.close(&self.workspace);
        }
        if let Some(m) = tab.match_mut() {
            m.close(&self.workspace);
        }
        if let Some(profile) = tab.profile() {
            for job in [profile.job.as_ref().map(|j| j.watch()), profile.check_job.as_ref().map(|j| j.watch())].into_iter().flatten() {
                job.cancel();
            }
        }
        if let Some(console) = tab.console_mut() {
            // A query that finishes as it is cancelled still kept its rows: dropped on arrival.
            if let Some((_, job)) = console.running.take() {
                job.cancel();
                self.orphan_queries.push(job);
            }
            if let Some(result) = console.result.take() {
                drop_result_later(&self.workspace, result);
            }
        }
        if self.active > i || self.active >= self.tabs.len() {
            self.active = self.active.saturating_sub(1);
        }
    }

    /// The current memory limit, for the graph's limit line.
    pub fn memory_limit_bytes(&self) -> u64 {
        self.workspace.settings().memory_limit_bytes
    }

    pub fn running_state_of(&self, id: u64) -> Option<JobState> {
        self.jobs.iter().find(|j| j.id() == id).map(|j| j.snapshot().state)
    }

    /// Queues commands a panel collected while it borrowed parts of the state.
    pub fn pending_commands(&mut self, commands: Vec<Command>) {
        self.commands.extend(commands);
    }
}

/// What a finished import says beyond its row count: what was decided, what was rejected.
fn import_message(report: &ImportReport) -> String {
    let mut text = format!(
        "{} {} into {}",
        if report.appended { "Appended" } else { "Imported" },
        rows_text(report.rows),
        report.table
    );
    for n in &report.notices {
        text.push_str(&format!("\n• {n}"));
    }
    if let Some(r) = &report.rejects {
        let lines = if r.rows == 1 { "1 line was".to_string() } else { format!("{} lines were", group_digits(r.rows)) };
        text.push_str(&format!("\n• {lines} rejected: see table {}", r.table));
    }
    text
}

/// Takes a finished console query: its result or error lands in `console`.
fn poll_console(console: &mut ConsoleState) -> Option<SqlOutcome> {
    if let Some(p) = console.history_load.take() {
        match p.try_take() {
            Ok(Ok(entries)) => console.history = entries,
            Ok(Err(e)) => console.error = Some(format!("Could not read the history: {e}")),
            Err(p) => console.history_load = Some(p),
        }
    }
    let (sql, mut job) = console.running.take()?;
    match job.take_result() {
        None => {
            console.running = Some((sql, job));
            None
        }
        Some(Ok(outcome)) => {
            let seconds = job.snapshot().metrics.duration_secs;
            console.message = Some(format!("{} in {seconds:.2}s", outcome.message));
            if console.show_history {
                console.history.insert(0, crate::engine::console::HistoryEntry { sql, ran_at: "now".into(), seconds, ok: true });
            }
            Some(outcome)
        }
        Some(Err(EngineError::Cancelled)) => {
            console.message = Some("Cancelled".into());
            None
        }
        Some(Err(e)) => {
            console.error = Some(e.to_string());
            // The place is said in the editor's lines, and the cursor goes there.
            if let EngineError::SqlError { line, column, message } = &e {
                if *line > 0 {
                    if let Some(at) = crate::ui::console::error_place_in(&console.text, &sql, *line, *column) {
                        let byte = console.text.char_indices().nth(at).map_or(console.text.len(), |(b, _)| b);
                        let (line, column) = crate::engine::lexer::line_column(&console.text, byte);
                        console.error = Some(format!("line {line}, column {column}: {message}"));
                        console.jump_to = Some(at);
                    }
                }
            }
            None
        }
    }
}

/// Drops a query result nobody shows any more, off the UI thread.
fn drop_result_later(workspace: &Arc<Workspace>, result: crate::engine::console::ResultTable) {
    let workspace = workspace.clone();
    let _ = std::thread::Builder::new().name("drop-result".into()).spawn(move || {
        if let Ok(conn) = workspace.connect() {
            crate::engine::console::drop_result(&conn, &result);
        }
    });
}

fn home_dir() -> PathBuf {
    directories::UserDirs::new()
        .map(|u| u.home_dir().to_path_buf())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
}

/// The sample data shipped inside the program, written to a temporary folder to import.
fn sample_data() -> std::io::Result<(tempfile::TempDir, PathBuf)> {
    const PENGUINS: &[u8] = include_bytes!("../../assets/sample/penguins.csv");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("penguins.csv");
    std::fs::write(&path, PENGUINS)?;
    Ok((dir, path))
}

/// Recent lists keep this many.
pub const RECENT: usize = 10;

/// Puts `path` first in a recent list (once), keeping [`RECENT`].
pub fn remember_recent(list: &mut Vec<PathBuf>, path: &std::path::Path) {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    list.retain(|p| *p != path);
    list.insert(0, path);
    list.truncate(RECENT);
}
