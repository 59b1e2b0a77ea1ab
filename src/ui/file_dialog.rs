//! Picking files: the desktop's own dialog (a portal or zenity, through rfd) when there is
//! one, else a built-in chooser (egui_file), so a new user on a minimal desktop can always
//! pick a file. Whether the desktop has a dialog is asked once, off the UI thread, at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use egui_file::{FileDialog, State};
use poll_promise::Promise;

use crate::engine::formats;
use crate::engine::job::Waker;

/// What the chosen file is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    Import,
    Export,
}

/// A choice the user made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Picked {
    Import(Vec<PathBuf>),
    Export(PathBuf),
}

const UNKNOWN: u8 = 0;
const NATIVE: u8 = 1;
const BUILT_IN: u8 = 2;

pub struct FileDialogs {
    /// Whether the desktop has a file dialog: UNKNOWN until the probe answers.
    native: Arc<AtomicU8>,
    running: Option<(Purpose, Promise<Option<Vec<PathBuf>>>)>,
    built_in: Option<(Purpose, FileDialog)>,
    /// Where the last chooser started, for a built-in one that takes over.
    last_dir: Option<PathBuf>,
    wake: Waker,
}

impl FileDialogs {
    /// Starts the probe; `DATAFORGE_FILE_DIALOG=builtin` (or `native`) skips it.
    pub fn new(wake: Waker) -> Self {
        let forced = match std::env::var("DATAFORGE_FILE_DIALOG").as_deref() {
            Ok("builtin") => Some(BUILT_IN),
            Ok("native") => Some(NATIVE),
            _ => None,
        };
        let native = Arc::new(AtomicU8::new(forced.unwrap_or(UNKNOWN)));
        if forced.is_none() {
            let answer = native.clone();
            let _ = std::thread::Builder::new().name("file-dialog-probe".into()).spawn(move || {
                answer.store(if has_native_dialog() { NATIVE } else { BUILT_IN }, Ordering::Relaxed);
            });
        }
        Self { native, running: None, built_in: None, last_dir: None, wake }
    }

    /// Uses the built-in chooser from now on.
    pub fn use_built_in(&mut self) {
        self.native.store(BUILT_IN, Ordering::Relaxed);
    }

    pub fn is_open(&self) -> bool {
        self.running.is_some() || self.built_in.is_some()
    }

    /// Opens a chooser for files to import, starting in `dir`.
    pub fn open_import(&mut self, dir: &Path) {
        if self.is_open() {
            return;
        }
        self.last_dir = Some(dir.to_path_buf());
        if self.native.load(Ordering::Relaxed) == BUILT_IN {
            self.open_built_in(Purpose::Import, dir, None);
            return;
        }
        let (wake, dir) = (self.wake.clone(), dir.to_path_buf());
        let extensions = formats::all_extensions();
        self.running = Some((
            Purpose::Import,
            Promise::spawn_thread("open-dialog", move || {
                let picked = rfd::FileDialog::new()
                    .set_title("Import files")
                    .set_directory(dir)
                    .add_filter("Data files", &extensions)
                    .add_filter("All files", &["*"])
                    .pick_files();
                wake();
                picked
            }),
        ));
    }

    /// Opens a chooser for the file to export to, starting in `dir` with `file_name`.
    pub fn open_export(&mut self, dir: &Path, file_name: &str) {
        if self.is_open() {
            return;
        }
        // Unlike pick_files, a failed save dialog cannot be told from a cancelled one, so the
        // native dialog is used only once the desktop is known to have one.
        if self.native.load(Ordering::Relaxed) != NATIVE {
            self.open_built_in(Purpose::Export, dir, Some(file_name));
            return;
        }
        let (wake, dir, name) = (self.wake.clone(), dir.to_path_buf(), file_name.to_string());
        self.running = Some((
            Purpose::Export,
            Promise::spawn_thread("save-dialog", move || {
                let picked = rfd::FileDialog::new()
                    .set_title("Export table")
                    .set_directory(dir)
                    .set_file_name(name)
                    .add_filter("Parquet", &["parquet"])
                    .add_filter("CSV", &["csv"])
                    .save_file();
                wake();
                picked.map(|p| vec![p])
            }),
        ));
    }

    fn open_built_in(&mut self, purpose: Purpose, dir: &Path, file_name: Option<&str>) {
        let start = if dir.is_dir() { dir.to_path_buf() } else { std::env::current_dir().unwrap_or_default() };
        let mut dialog = match (&purpose, file_name) {
            (Purpose::Import, _) => FileDialog::open_file()
                .title("Import files")
                .multi_select(true)
                .show_files_filter(Box::new(|p: &Path| is_data_file(p))),
            (Purpose::Export, name) => FileDialog::save_file()
                .title("Export table")
                .default_filename(name.unwrap_or_default().to_string())
                .filename_filter(Box::new(|name: &str| {
                    let lower = name.to_ascii_lowercase();
                    lower.ends_with(".parquet") || lower.ends_with(".csv")
                })),
        }
        .id(egui::Id::unique("built-in-file-dialog"))
        .initial_path(start)
        .default_size([720.0, 480.0]);
        dialog.open();
        self.built_in = Some((purpose, dialog));
    }

    /// Draws the built-in chooser and collects a finished choice.
    pub fn ui(&mut self, ctx: &egui::Context) -> Option<Picked> {
        if let Some((purpose, promise)) = self.running.take() {
            match promise.try_take() {
                Err(p) => self.running = Some((purpose, p)),
                // rfd's pick_files answers `None` (not an empty list, which is a cancel) when
                // neither a portal nor zenity could show a dialog; the probe agreeing matters
                // while it has not answered yet.
                Ok(None) if purpose == Purpose::Import && self.native.load(Ordering::Relaxed) != NATIVE => {
                    self.use_built_in();
                    let dir = self.last_dir.clone().unwrap_or_default();
                    self.open_built_in(Purpose::Import, &dir, None);
                }
                Ok(None) => {}
                Ok(Some(paths)) if paths.is_empty() => {}
                Ok(Some(paths)) => {
                    self.native.store(NATIVE, Ordering::Relaxed);
                    return Some(match purpose {
                        Purpose::Import => Picked::Import(paths),
                        Purpose::Export => Picked::Export(paths.into_iter().next()?),
                    });
                }
            }
        }
        let (purpose, dialog) = self.built_in.as_mut()?;
        let state = dialog.show(ctx).state();
        let picked = match state {
            State::Open => return None,
            State::Selected => match purpose {
                Purpose::Import => {
                    let mut files: Vec<PathBuf> = dialog.selection().into_iter().filter(|p| p.is_file()).map(Path::to_path_buf).collect();
                    if files.is_empty() {
                        files.extend(dialog.path().filter(|p| p.is_file()).map(Path::to_path_buf));
                    }
                    (!files.is_empty()).then_some(Picked::Import(files))
                }
                Purpose::Export => dialog.path().map(|p| Picked::Export(p.to_path_buf())),
            },
            State::Cancelled | State::Closed => None,
        };
        self.built_in = None;
        picked
    }
}

/// Files the import chooser lists: every extension dataforge reads.
fn is_data_file(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    name.rsplit_once('.').is_some_and(|(_, ext)| formats::is_known_extension(ext))
}

/// True when rfd can show a dialog: zenity is installed, or the session bus has a
/// file-chooser portal.
fn has_native_dialog() -> bool {
    #[cfg(target_os = "linux")]
    {
        zenity_on_path() || portal_file_chooser()
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

#[cfg(target_os = "linux")]
fn zenity_on_path() -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| std::fs::metadata(d.join("zenity")).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
    })
}

#[cfg(target_os = "linux")]
fn portal_file_chooser() -> bool {
    let Ok(conn) = zbus::blocking::Connection::session() else { return false };
    conn.call_method(
        Some("org.freedesktop.portal.Desktop"),
        "/org/freedesktop/portal/desktop",
        Some("org.freedesktop.DBus.Properties"),
        "Get",
        &("org.freedesktop.portal.FileChooser", "version"),
    )
    .is_ok()
}
