//! `AppState`: the one state every panel reads. Panels never touch the engine directly;
//! they push a [`Command`], and [`AppState::apply_commands`] carries it out after the frame
//! is laid out. Anything that talks to DuckDB runs on a worker thread (a job, the browse
//! worker, or a one-shot `poll_promise`), so no frame waits on the database.

use std::path::PathBuf;
use std::sync::Arc;

use poll_promise::Promise;

use crate::engine::browse::{BrowseWorker, TableView};
use crate::engine::config::Settings;
use crate::engine::export::{ExportJob, ExportReport, SortKey};
use crate::engine::import::linked::{LinkJob, LinkReport};
use crate::engine::import::{ImportJob, ImportOptions, ImportReport};
use crate::ui::import_dialog::ImportDraft;
use crate::engine::job::memory::MemoryMonitor;
use crate::engine::job::{JobHandle, JobSnapshot, JobState, Waker, spawn};
use crate::engine::workspace::TableInfo;
use crate::engine::{Result, Workspace};

pub enum UiJob {
    Import(JobHandle<ImportReport>),
    Link(JobHandle<LinkReport>),
    Export(JobHandle<ExportReport>),
}

impl UiJob {
    pub fn snapshot(&self) -> JobSnapshot {
        match self {
            Self::Import(h) => h.snapshot(),
            Self::Link(h) => h.snapshot(),
            Self::Export(h) => h.snapshot(),
        }
    }

    pub fn id(&self) -> u64 {
        match self {
            Self::Import(h) => h.id(),
            Self::Link(h) => h.id(),
            Self::Export(h) => h.id(),
        }
    }

    pub fn cancel(&self) {
        match self {
            Self::Import(h) => h.cancel(),
            Self::Link(h) => h.cancel(),
            Self::Export(h) => h.cancel(),
        }
    }
}

/// A message shown to the user until dismissed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub is_error: bool,
    pub text: String,
}

#[derive(Clone, Debug)]
pub enum Command {
    /// Opens the import window for these files.
    ImportFiles(Vec<PathBuf>),
    /// Starts an import job (from the import window).
    RunImport { paths: Vec<PathBuf>, options: ImportOptions },
    /// Opens a file in place, as a view (from the import window).
    RunLink { path: PathBuf, options: ImportOptions },
    OpenTable(String),
    SetSort(Option<SortKey>),
    Export { table: String, sort: Option<SortKey>, path: PathBuf },
    CancelJob(u64),
    DismissJob(u64),
    ClearFinishedJobs,
    DropTable(String),
    ShowOpenDialog,
    ShowExportDialog(String),
    ShowSettings,
    /// Ask before deleting; `DropTable` does it.
    ConfirmDropTable(String),
    SaveSettings(Settings),
    DismissNotice(usize),
}

/// The export window's fields.
pub struct ExportDraft {
    pub table: String,
    pub path: String,
    pub use_sort: bool,
    pub browse: Option<Promise<Option<PathBuf>>>,
}

/// The settings window's fields, as typed.
pub struct SettingsDraft {
    pub threads: usize,
    pub memory_limit: String,
    pub temp_dir: String,
}

pub struct AppState {
    pub workspace: Arc<Workspace>,
    pub tables: Vec<TableInfo>,
    pub selected: Option<String>,
    pub view: Option<TableView>,
    pub jobs: Vec<UiJob>,
    pub memory: MemoryMonitor,
    pub notices: Vec<Notice>,
    pub export: Option<ExportDraft>,
    pub import: Option<ImportDraft>,
    pub settings: Option<SettingsDraft>,
    pub is_hovering_files: bool,
    /// A table the user asked to delete, awaiting confirmation.
    pub confirm_drop: Option<String>,
    pub frame_ms: std::collections::VecDeque<f32>,
    /// Row window and jump state of the table view.
    pub grid: crate::ui::table::GridState,
    /// Table to reopen once the catalog has loaded (from the last session).
    pub restore_selection: Option<String>,
    commands: Vec<Command>,
    catalog: Option<Promise<Result<Vec<TableInfo>>>>,
    open_dialog: Option<Promise<Option<Vec<PathBuf>>>>,
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
            selected: None,
            view: None,
            jobs: Vec::new(),
            memory,
            notices: Vec::new(),
            export: None,
            import: None,
            settings: None,
            is_hovering_files: false,
            confirm_drop: None,
            frame_ms: std::collections::VecDeque::new(),
            grid: Default::default(),
            restore_selection: None,
            commands: Vec::new(),
            catalog: None,
            open_dialog: None,
            background: Vec::new(),
            wake,
        };
        state.refresh_catalog();
        Ok(state)
    }

    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.notices.push(Notice { is_error: true, text: text.into() });
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.notices.push(Notice { is_error: false, text: text.into() });
    }

    pub fn is_catalog_loading(&self) -> bool {
        self.catalog.is_some()
    }

    pub fn has_running_jobs(&self) -> bool {
        self.jobs.iter().any(|j| !j.snapshot().state.is_finished())
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
        if let Some(p) = self.catalog.take() {
            match p.try_take() {
                Ok(Ok(tables)) => {
                    self.tables = tables;
                    if let Some(name) = self.restore_selection.take() {
                        if self.selected.is_none() && self.tables.iter().any(|t| t.name == name) {
                            self.open_table(name);
                        }
                    }
                    if let Some(sel) = &self.selected {
                        if !self.tables.iter().any(|t| &t.name == sel) {
                            self.selected = None;
                            self.view = None;
                        }
                    }
                }
                Ok(Err(e)) => self.error(format!("Could not list tables: {e}")),
                Err(p) => self.catalog = Some(p),
            }
        }
        let mut finished_imports = Vec::new();
        let mut catalog_changed = false;
        let mut messages = Vec::new();
        for job in &mut self.jobs {
            match job {
                UiJob::Import(h) => match h.take_result() {
                    Some(Ok(report)) => {
                        catalog_changed = true;
                        finished_imports.push(report.table.clone());
                        let mut text = format!(
                            "{} {} rows into {}",
                            if report.appended { "Appended" } else { "Imported" },
                            report.rows,
                            report.table
                        );
                        for n in &report.notices {
                            text.push_str(&format!("\n• {n}"));
                        }
                        if let Some(r) = &report.rejects {
                            text.push_str(&format!("\n• {} lines were rejected: see table {}", r.rows, r.table));
                        }
                        if !report.notices.is_empty() || report.rejects.is_some() {
                            messages.push(Notice { is_error: false, text });
                        }
                    }
                    Some(Err(e)) if !e.is_cancelled() => messages.push(Notice { is_error: true, text: e.to_string() }),
                    _ => {}
                },
                UiJob::Link(h) => match h.take_result() {
                    Some(Ok(report)) => {
                        catalog_changed = true;
                        finished_imports.push(report.table.clone());
                    }
                    Some(Err(e)) if !e.is_cancelled() => messages.push(Notice { is_error: true, text: e.to_string() }),
                    _ => {}
                },
                UiJob::Export(h) => match h.take_result() {
                    Some(Ok(report)) => messages.push(Notice {
                        is_error: false,
                        text: format!("Exported {} rows to {}", report.rows, report.path.display()),
                    }),
                    Some(Err(e)) if !e.is_cancelled() => messages.push(Notice { is_error: true, text: e.to_string() }),
                    _ => {}
                },
            }
        }
        self.notices.extend(messages);
        if catalog_changed {
            self.refresh_catalog();
        }
        // Show what was just imported, unless the user is already looking at something.
        if let Some(table) = finished_imports.pop() {
            if self.selected.is_none() {
                self.open_table(table);
            }
        }
        if let Some(view) = &mut self.view {
            let was_estimate = view.is_row_count_estimate();
            view.poll();
            // A linked file just counted: the catalog shows its rows.
            if was_estimate && !view.is_row_count_estimate() {
                self.refresh_catalog();
            }
        }
        if let Some(draft) = &mut self.import {
            draft.poll(&self.wake);
        }
        if let Some(p) = self.open_dialog.take() {
            match p.try_take() {
                Ok(Some(paths)) => self.push(Command::ImportFiles(paths)),
                Ok(None) => {}
                Err(p) => self.open_dialog = Some(p),
            }
        }
        let mut still_running = Vec::new();
        let mut finished_any = false;
        for p in std::mem::take(&mut self.background) {
            match p.try_take() {
                Ok(Ok(msg)) => {
                    finished_any = true;
                    self.info(msg);
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
            Command::ImportFiles(paths) => {
                if !paths.is_empty() {
                    self.import = Some(ImportDraft::new(paths, self.workspace.settings().temp_dir));
                }
            }
            Command::RunLink { path, options } => {
                let job = LinkJob::new(self.workspace.clone(), path, options);
                self.jobs.push(UiJob::Link(spawn(job, self.wake.clone())));
            }
            Command::RunImport { paths, options } => {
                let job = ImportJob::with_options(self.workspace.clone(), paths, options);
                self.jobs.push(UiJob::Import(spawn(job, self.wake.clone())));
            }
            Command::OpenTable(name) => self.open_table(name),
            Command::SetSort(sort) => {
                if let Some(view) = &mut self.view {
                    view.set_sort(sort);
                }
            }
            Command::Export { table, sort, path } => {
                let job = ExportJob::new(self.workspace.clone(), table, sort, path);
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
                if self.selected.as_deref() == Some(&name) {
                    self.selected = None;
                    self.view = None;
                }
                let ws = self.workspace.clone();
                self.in_background("drop-table", move || {
                    ws.drop_table(&name)?;
                    Ok(format!("Deleted table {name}"))
                });
            }
            Command::ShowOpenDialog => {
                if self.open_dialog.is_none() {
                    let wake = self.wake.clone();
                    self.open_dialog = Some(Promise::spawn_thread("open-dialog", move || {
                        let picked = rfd::FileDialog::new()
                            .set_title("Import files")
                            .add_filter(
                                "Data files",
                                &[
                                    "csv", "tsv", "txt", "psv", "gz", "zst", "zip", "parquet", "json", "jsonl", "ndjson", "xlsx", "xlsm",
                                    "xlsb", "xls", "ods", "arrow", "arrows", "feather", "ipc",
                                ],
                            )
                            .add_filter("All files", &["*"])
                            .pick_files();
                        wake();
                        picked
                    }));
                }
            }
            Command::ShowExportDialog(table) => {
                let dir = directories::UserDirs::new()
                    .and_then(|u| u.document_dir().map(|d| d.to_path_buf()).or_else(|| Some(u.home_dir().to_path_buf())))
                    .or_else(|| std::env::current_dir().ok())
                    .unwrap_or_default();
                self.export = Some(ExportDraft {
                    path: dir.join(format!("{table}.parquet")).to_string_lossy().into_owned(),
                    table,
                    use_sort: true,
                    browse: None,
                });
            }
            Command::ShowSettings => {
                let s = self.workspace.settings();
                self.settings = Some(SettingsDraft {
                    threads: s.threads,
                    memory_limit: crate::engine::config::format_bytes(s.memory_limit_bytes),
                    temp_dir: s.temp_dir.to_string_lossy().into_owned(),
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
            Command::DismissNotice(i) => {
                if i < self.notices.len() {
                    self.notices.remove(i);
                }
            }
        }
    }

    fn open_table(&mut self, name: String) {
        match BrowseWorker::start(self.workspace.clone(), self.wake.clone()) {
            Ok(worker) => {
                self.view = Some(TableView::open(worker, name.clone()));
                self.selected = Some(name);
                self.grid = Default::default();
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    /// The current memory limit, for the graph's limit line.
    pub fn memory_limit_bytes(&self) -> u64 {
        self.workspace.settings().memory_limit_bytes
    }

    pub fn running_state_of(&self, id: u64) -> Option<JobState> {
        self.jobs.iter().find(|j| j.id() == id).map(|j| j.snapshot().state)
    }
}

impl AppState {
    /// Queues commands a panel collected while it borrowed parts of the state.
    pub fn pending_commands(&mut self, commands: Vec<Command>) {
        self.commands.extend(commands);
    }
}
