//! The desktop window (eframe with the glow renderer): small panels over one [`AppState`].

pub mod app;
pub mod catalog;
pub mod console;
pub mod dedupe;
pub mod matching;
pub mod dialogs;
pub mod export_dialog;
pub mod file_dialog;
pub mod filters;
pub mod import_dialog;
pub mod jobs;
pub mod memory;
pub mod profile;
pub mod shortcuts;
pub mod state;
pub mod table;
pub mod tabs;

use std::path::PathBuf;
use std::sync::Arc;

pub use app::DataforgeApp;
pub use state::{AppState, Command};

use crate::engine::Workspace;

static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Call first thing in `main`, so the first-frame time counts from process start.
pub fn mark_process_start() {
    PROCESS_START.get_or_init(std::time::Instant::now);
}

pub(crate) fn process_start() -> std::time::Instant {
    *PROCESS_START.get_or_init(std::time::Instant::now)
}

const ICON_PNG: &[u8] = include_bytes!("../../assets/icon.png");

pub fn icon() -> Option<egui::IconData> {
    let image = image::load_from_memory_with_format(ICON_PNG, image::ImageFormat::Png).ok()?.into_rgba8();
    let (width, height) = image.dimensions();
    Some(egui::IconData {
        rgba: image.into_raw(),
        width,
        height,
    })
}

/// Opens the main window over `workspace`, importing `files` at once.
pub fn run(workspace: Arc<Workspace>, files: Vec<PathBuf>) -> anyhow::Result<()> {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("dataforge")
        .with_app_id("dataforge")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([640.0, 400.0])
        .with_drag_and_drop(true);
    if let Some(icon) = icon() {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "dataforge",
        options,
        Box::new(move |cc| Ok(Box::new(DataforgeApp::new(cc, workspace, files)?))),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

/// An icon button's response named in words, for screen readers and for finding it by
/// label: "Close penguins" rather than "✖".
pub fn named(response: egui::Response, name: &str) -> egui::Response {
    let enabled = response.enabled();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, enabled, name));
    response
}
