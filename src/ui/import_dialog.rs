//! The import window: what the importer detected in the dropped files, the first rows as
//! they would load, and every option, editable; the preview follows each change.

use std::path::PathBuf;

use egui::{Color32, RichText};

use super::state::{AppState, Command};
use crate::engine::import::preview::{Preview, PreviewJob};
use crate::engine::import::{ExpectedColumn, FileFormat, ImportOptions, OnError};
use crate::engine::job::{JobHandle, Waker, spawn};
use crate::engine::sql::SqlType;

const PREVIEW_ROWS: usize = 50;

/// How several files land.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManyFiles {
    OneTablePerFile,
    OneTable,
}

pub struct ImportDraft {
    pub paths: Vec<PathBuf>,
    pub options: ImportOptions,
    pub many: ManyFiles,
    pub append: bool,
    /// Appending skips rows the table already has.
    pub skip_existing: bool,
    /// Their key columns, comma-separated (empty: every shared column).
    pub skip_keys: String,
    // Text fields as typed; parsed into `options` on each change.
    pub table: String,
    pub delimiter: String,
    pub quote: String,
    pub skip: String,
    pub nulls: String,
    pub encoding: String,
    pub types: Vec<(String, String)>,
    /// Why a typed column type cannot be used.
    pub type_error: Option<String>,
    /// Which of the files the preview shows.
    pub previewed: usize,
    /// Scratch folders holding copies of pipes, kept until the imports read them.
    pub spools: Vec<std::sync::Arc<tempfile::TempDir>>,
    /// Every sheet of the workbook, one table each.
    pub all_sheets: bool,
    /// Expected schema as typed: `name[:TYPE][!], ...`.
    pub expect: String,
    pub expect_error: Option<String>,
    pub preview: Option<Result<Preview, String>>,
    running: Option<JobHandle<Preview>>,
    is_dirty: bool,
    temp_dir: PathBuf,
}

impl ImportDraft {
    /// Closes the dialog: a preview still reading stops.
    pub fn cancel(self) {
        if let Some(h) = self.running {
            h.cancel();
        }
    }

    pub fn new(paths: Vec<PathBuf>, temp_dir: PathBuf) -> Self {
        Self {
            paths,
            options: ImportOptions::new(),
            many: ManyFiles::OneTablePerFile,
            append: false,
            skip_existing: false,
            skip_keys: String::new(),
            table: String::new(),
            delimiter: String::new(),
            quote: String::new(),
            skip: String::new(),
            nulls: String::new(),
            encoding: String::new(),
            types: Vec::new(),
            type_error: None,
            previewed: 0,
            spools: Vec::new(),
            all_sheets: false,
            expect: String::new(),
            expect_error: None,
            preview: None,
            running: None,
            is_dirty: true,
            temp_dir,
        }
    }

    pub fn is_previewing(&self) -> bool {
        self.running.is_some()
    }

    /// Starts a new preview when options changed; collects a finished one.
    pub fn poll(&mut self, wake: &Waker) {
        if let Some(mut h) = self.running.take() {
            match h.take_result() {
                Some(Ok(p)) => {
                    // A pipe was copied while previewing: the import reads the copy.
                    if let Some((copy, dir)) = &p.spooled {
                        if let Some(slot) = self.paths.get_mut(self.previewed) {
                            *slot = copy.clone();
                        }
                        self.spools.push(dir.clone());
                    }
                    self.preview = Some(Ok(p));
                }
                Some(Err(e)) if e.is_cancelled() => {}
                Some(Err(e)) => self.preview = Some(Err(e.to_string())),
                None => self.running = Some(h),
            }
        }
        if self.is_dirty {
            self.is_dirty = false;
            if let Some(h) = self.running.take() {
                h.cancel();
            }
            let job = PreviewJob {
                path: self.paths[self.previewed.min(self.paths.len() - 1)].clone(),
                options: self.options.clone(),
                rows: PREVIEW_ROWS,
                temp_dir: self.temp_dir.clone(),
            };
            self.running = Some(spawn(job, wake.clone()));
        }
    }

    /// Previews the `index`-th of the files.
    pub fn preview_file(&mut self, index: usize) {
        if index != self.previewed && index < self.paths.len() {
            self.previewed = index;
            self.changed();
        }
    }

    /// Fixes a column's type, as typing it under the column's name does.
    pub fn set_type(&mut self, column: &str, ty: &str) {
        match self.types.iter_mut().find(|(c, _)| c == column) {
            Some(slot) => slot.1 = ty.to_string(),
            None => self.types.push((column.to_string(), ty.to_string())),
        }
        self.changed();
    }

    fn changed(&mut self) {
        let text = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let o = &mut self.options;
        o.csv.delimiter = text(&self.delimiter.replace("\\t", "\t"));
        o.csv.quote = text(&self.quote);
        o.csv.skip = self.skip.trim().parse().ok();
        o.csv.nulls = self.nulls.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        o.encoding = text(self.encoding.trim());
        let mut types = Vec::new();
        self.type_error = None;
        for (column, typed) in self.types.iter().filter(|(_, t)| !t.trim().is_empty()) {
            match SqlType::parse(typed) {
                Ok(ty) => types.push((column.clone(), ty)),
                Err(e) => self.type_error = Some(format!("column \"{column}\": {e}")),
            }
        }
        o.types = types;
        self.is_dirty = true;
    }

    /// The jobs "Import" starts, or why the options cannot be used.
    fn commands(&self) -> Result<Vec<Command>, String> {
        let mut options = self.options.clone();
        options.table = Some(self.table.trim().to_string()).filter(|t| !t.is_empty());
        options.append = self.append && options.table.is_some();
        options.skip_existing = (options.append && self.skip_existing)
            .then(|| self.skip_keys.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect());
        options.expect = ExpectedColumn::parse_list(&self.expect).map_err(|e| e.to_string())?;
        if let Some(e) = &self.type_error {
            return Err(e.clone());
        }
        let sheets = self.preview.as_ref().and_then(|p| p.as_ref().ok()).map(|p| p.sheets.clone()).unwrap_or_default();
        if self.all_sheets && self.paths.len() == 1 && !sheets.is_empty() {
            options.table = None;
            return Ok(sheets
                .into_iter()
                .map(|sheet| {
                    let options = ImportOptions { sheet: Some(sheet), name_by_sheet: true, ..options.clone() };
                    Command::RunImport { paths: self.paths.clone(), options, keep: self.spools.clone() }
                })
                .collect());
        }
        if self.paths.len() > 1 && self.many == ManyFiles::OneTablePerFile {
            options.table = None;
            Ok(self.paths.iter().map(|p| Command::RunImport { paths: vec![p.clone()], options: options.clone(), keep: self.spools.clone() }).collect())
        } else {
            Ok(vec![Command::RunImport { paths: self.paths.clone(), options, keep: self.spools.clone() }])
        }
    }
}

pub fn import_ui(ctx: &egui::Context, state: &mut AppState) {
    let tables: Vec<String> = state.tables.iter().map(|t| t.name.clone()).collect();
    let Some(draft) = state.import.as_mut() else { return };
    let mut commands = Vec::new();
    let mut is_open = true;
    let mut close = false;
    let title = match draft.paths.as_slice() {
        [one] => format!("Import {}", crate::engine::import::display_name(one)),
        many => format!("Import {} files", many.len()),
    };
    egui::Window::new(title)
        .open(&mut is_open)
        .collapsible(false)
        .fixed_size([920.0, 640.0])
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            let mut changed = false;
            let detected = draft.preview.as_ref().and_then(|p| p.as_ref().ok()).cloned();
            egui::Grid::new("import-options").num_columns(4).spacing([12.0, 6.0]).show(ui, |ui| {
                ui.label("Format");
                let shown = draft.options.format.or(detected.as_ref().and_then(|p| p.format));
                egui::ComboBox::from_id_salt("format")
                    .selected_text(match draft.options.format {
                        Some(f) => f.label().to_string(),
                        None => format!("Detect ({})", shown.map_or("…", |f| f.label())),
                    })
                    .width(200.0)
                    .show_ui(ui, |ui| {
                        changed |= ui.selectable_value(&mut draft.options.format, None, "Detect").changed();
                        for f in FileFormat::ALL {
                            changed |= ui.selectable_value(&mut draft.options.format, Some(f), f.label()).changed();
                        }
                    });
                if shown.is_none_or(|f| f == FileFormat::Csv) {
                    ui.label("Encoding");
                    let hint = detected.as_ref().and_then(|p| p.encoding.clone()).unwrap_or_else(|| "detect".into());
                    changed |= ui.add(egui::TextEdit::singleline(&mut draft.encoding).hint_text(hint).desired_width(140.0)).changed();
                }
                ui.end_row();

                let detected_dialect = detected.as_ref().and_then(|p| p.dialect.clone());
                let dialect = detected_dialect.clone().unwrap_or_default();
                let is_text = shown.is_none_or(|f| f == FileFormat::Csv);
                if is_text {
                    ui.label("Delimiter");
                    let hint = if dialect.delimiter == "\t" { "\\t".to_string() } else { dialect.delimiter.clone() };
                    ui.horizontal(|ui| {
                        changed |= ui.add(egui::TextEdit::singleline(&mut draft.delimiter).hint_text(hint).desired_width(40.0)).changed();
                        for (label, value) in [(",", ","), (";", ";"), ("tab", "\\t"), ("|", "|")] {
                            if ui.small_button(label).clicked() {
                                draft.delimiter = value.to_string();
                                changed = true;
                            }
                        }
                    });
                    ui.label("Quote");
                    let hint = if dialect.quote.is_empty() { "none".to_string() } else { dialect.quote.clone() };
                    changed |= ui.add(egui::TextEdit::singleline(&mut draft.quote).hint_text(hint).desired_width(60.0)).changed();
                    ui.end_row();

                    ui.label("Header row");
                    egui::ComboBox::from_id_salt("header")
                        .selected_text(match draft.options.csv.header {
                            None => match &detected_dialect {
                                Some(d) => format!("Detect ({})", if d.header { "yes" } else { "no" }),
                                None => "Detect (…)".to_string(),
                            },
                            Some(true) => "Yes".into(),
                            Some(false) => "No".into(),
                        })
                        .show_ui(ui, |ui| {
                            changed |= ui.selectable_value(&mut draft.options.csv.header, None, "Detect").changed();
                            changed |= ui.selectable_value(&mut draft.options.csv.header, Some(true), "Yes").changed();
                            changed |= ui.selectable_value(&mut draft.options.csv.header, Some(false), "No").changed();
                        });
                    ui.label("Skip lines");
                    changed |= ui.add(egui::TextEdit::singleline(&mut draft.skip).hint_text(dialect.skip.to_string()).desired_width(60.0)).changed();
                    ui.end_row();

                    ui.label("Missing values");
                    ui.vertical(|ui| {
                        changed |= ui
                            .checkbox(&mut draft.options.csv.na_as_null, "NA, N/A, NULL, NaN… in number and date columns")
                            .on_hover_text("Read NA, N/A, NULL, null, NaN and nan as missing values in columns of numbers and dates; text columns keep them as text")
                            .changed();
                        changed |= ui
                            .add(egui::TextEdit::singleline(&mut draft.nulls).hint_text("or list them: e.g. -, ?, none").desired_width(200.0))
                            .on_hover_text("Values read as missing in every column (instead of the NA list above)")
                            .changed();
                    });
                    ui.label("Date / time format");
                    ui.horizontal(|ui| {
                        let mut date = draft.options.csv.date_format.clone().unwrap_or_default();
                        let mut ts = draft.options.csv.timestamp_format.clone().unwrap_or_default();
                        let hint_d = if dialect.date_format.is_empty() { "detect".to_string() } else { dialect.date_format.clone() };
                        let hint_t = if dialect.timestamp_format.is_empty() { "detect".to_string() } else { dialect.timestamp_format.clone() };
                        if ui.add(egui::TextEdit::singleline(&mut date).hint_text(hint_d).desired_width(90.0)).changed() {
                            draft.options.csv.date_format = Some(date).filter(|s| !s.is_empty());
                            changed = true;
                        }
                        if ui.add(egui::TextEdit::singleline(&mut ts).hint_text(hint_t).desired_width(130.0)).changed() {
                            draft.options.csv.timestamp_format = Some(ts).filter(|s| !s.is_empty());
                            changed = true;
                        }
                    });
                    ui.end_row();
                }
                if let Some(p) = detected.as_ref().filter(|p| !p.sheets.is_empty()) {
                    ui.label("Sheet");
                    let current = draft.options.sheet.clone().or(p.sheet.clone()).unwrap_or_default();
                    egui::ComboBox::from_id_salt("sheet").selected_text(current).show_ui(ui, |ui| {
                        for s in &p.sheets {
                            changed |= ui.selectable_value(&mut draft.options.sheet, Some(s.clone()), s).changed();
                        }
                    });
                    ui.horizontal(|ui| {
                        ui.label("Skip rows");
                        changed |= ui.add(egui::TextEdit::singleline(&mut draft.skip).hint_text("0").desired_width(60.0)).changed();
                    });
                    if p.sheets.len() > 1 && draft.paths.len() == 1 {
                        ui.checkbox(&mut draft.all_sheets, format!("All {} sheets, one table each", p.sheets.len()));
                    }
                    ui.end_row();
                }

                if is_text {
                    ui.label("Bad lines");
                    ui.horizontal(|ui| {
                        changed |= ui.radio_value(&mut draft.options.on_error, OnError::Fail, "Stop").on_hover_text("Keep nothing and say where").changed();
                        changed |= ui.radio_value(&mut draft.options.on_error, OnError::Skip, "Skip to a rejects table").changed();
                        changed |= ui.radio_value(&mut draft.options.on_error, OnError::Text, "Keep column as text").changed();
                    });
                    ui.end_row();
                }

                ui.label("Into");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut draft.append, false, "New table");
                    ui.radio_value(&mut draft.append, true, "Append to");
                    if draft.append {
                        egui::ComboBox::from_id_salt("append-to")
                            .selected_text(if draft.table.is_empty() { "choose a table" } else { draft.table.as_str() })
                            .show_ui(ui, |ui| {
                                for t in &tables {
                                    ui.selectable_value(&mut draft.table, t.clone(), t);
                                }
                            });
                        ui.checkbox(&mut draft.options.add_columns, "add new columns");
                        ui.checkbox(&mut draft.options.widen, "widen columns")
                            .on_hover_text("When a value would not be stored exactly (2.5 in a whole-number column), change the column's type to one that holds it instead of stopping");
                        ui.checkbox(&mut draft.skip_existing, "skip rows already there")
                            .on_hover_text("Leave out rows the table already has: equal in the key columns, or in every column when none are given");
                        if draft.skip_existing {
                            ui.add(egui::TextEdit::singleline(&mut draft.skip_keys).hint_text("key columns: id, day").desired_width(140.0));
                        }
                    } else {
                        ui.add(egui::TextEdit::singleline(&mut draft.table).hint_text("name (from the file)").desired_width(180.0));
                    }
                });
                ui.end_row();
                ui.label("Expected schema");
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut draft.expect).hint_text("optional: id:BIGINT!, name, day:DATE").desired_width(320.0))
                        .on_hover_text("Columns the result must have, checked before anything lands; ! = no empty values");
                    if let Some(e) = &draft.expect_error {
                        ui.colored_label(Color32::from_rgb(220, 80, 80), e);
                    }
                });
                ui.end_row();
                if draft.paths.len() > 1 {
                    ui.label("Files");
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut draft.many, ManyFiles::OneTablePerFile, "One table per file");
                        ui.radio_value(&mut draft.many, ManyFiles::OneTable, "One table (columns by name, with source_file)");
                    });
                    ui.end_row();
                }
            });
            ui.separator();
            preview_ui(ui, draft, &mut changed);
            if changed {
                draft.changed();
            }
            ui.separator();
            ui.horizontal(|ui| {
                let can_import = !draft.append || !draft.table.trim().is_empty();
                // Enter imports, as the default button of a dialog does (not while typing).
                let enter = can_import && !ui.ctx().egui_wants_keyboard_input() && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Enter));
                let import = ui.add_enabled(can_import, egui::Button::new(RichText::new("Import").strong())).on_hover_text("Enter");
                if import.clicked() || enter {
                    match draft.commands() {
                        Ok(jobs) => {
                            commands.extend(jobs);
                            close = true;
                        }
                        Err(e) => draft.expect_error = Some(e),
                    }
                }
                let format = draft.options.format.or(detected.as_ref().and_then(|p| p.format));
                let can_link = draft.paths.len() == 1
                    && !draft.append
                    && matches!(format, Some(FileFormat::Parquet | FileFormat::Csv | FileFormat::Json | FileFormat::Arrow))
                    && detected.as_ref().is_some_and(|p| p.zip_members.is_empty());
                let link = ui
                    .add_enabled(can_link, egui::Button::new("Open in place"))
                    .on_hover_text("Browse, sort and export the file where it is, without copying it into the workspace");
                if link.clicked() {
                    let mut options = draft.options.clone();
                    options.table = Some(draft.table.trim().to_string()).filter(|t| !t.is_empty());
                    commands.push(Command::RunLink { path: draft.paths[0].clone(), options });
                    close = true;
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
                if draft.is_previewing() {
                    ui.spinner();
                    ui.label("reading the first rows…");
                }
            });
        });
    if close || !is_open {
        if let Some(d) = state.import.take() {
            d.cancel();
        }
    }
    state.pending_commands(commands);
}

fn preview_ui(ui: &mut egui::Ui, draft: &mut ImportDraft, changed: &mut bool) {
    if draft.paths.len() > 1 {
        ui.horizontal(|ui| {
            ui.label("Previewing");
            let names: Vec<String> = draft.paths.iter().map(|p| crate::engine::import::display_name(p)).collect();
            let mut chosen = draft.previewed.min(names.len() - 1);
            egui::ComboBox::from_id_salt("previewed-file").selected_text(&names[chosen]).show_ui(ui, |ui| {
                for (i, name) in names.iter().enumerate() {
                    ui.selectable_value(&mut chosen, i, name);
                }
            });
            ui.weak(format!("(one of {} files)", names.len()));
            draft.preview_file(chosen);
        });
    }
    let preview = match &draft.preview {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Reading the first rows…");
            });
            return;
        }
        Some(Err(e)) => {
            ui.colored_label(Color32::from_rgb(220, 80, 80), format!("Preview failed: {e}"));
            return;
        }
        Some(Ok(p)) => p.clone(),
    };
    for n in &preview.notices {
        ui.label(RichText::new(format!("• {n}")).italics());
    }
    if let Some(e) = &draft.type_error {
        ui.colored_label(Color32::from_rgb(220, 80, 80), e);
    }
    if !preview.zip_members.is_empty() {
        ui.label(format!("Archive members: {} (previewing the first)", preview.zip_members.join(", ")));
    }
    if draft.types.len() != preview.columns.len() || draft.types.iter().zip(&preview.columns).any(|(a, b)| a.0 != b.0) {
        let old = std::mem::take(&mut draft.types);
        draft.types = preview
            .columns
            .iter()
            .map(|(name, _)| (name.clone(), old.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()).unwrap_or_default()))
            .collect();
    }
    ui.label(format!("First {} rows as they will load:", preview.rows.len()));
    // The window keeps its size: the preview takes what is left above the buttons.
    let height = (ui.available_height() - 44.0).max(120.0);
    egui::ScrollArea::both().max_height(height).auto_shrink([false, false]).show(ui, |ui| {
        egui::Grid::new("import-preview").striped(true).min_col_width(60.0).show(ui, |ui| {
            for (i, (name, ty)) in preview.columns.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.label(RichText::new(name).strong());
                    let slot = &mut draft.types[i].1;
                    // Wide enough for the type's whole name (TIMESTAMP WITH TIME ZONE).
                    let font = egui::TextStyle::Body.resolve(ui.style());
                    let needed = (ui.painter().layout_no_wrap(ty.to_string(), font, Color32::WHITE).size().x + 16.0).max(110.0);
                    // The grid gives a cell last frame's column width: claim the width first,
                    // or the box stays as narrow as the column's name.
                    ui.set_min_width(needed);
                    let edit = egui::TextEdit::singleline(slot).hint_text(ty.as_str()).desired_width(needed);
                    *changed |= ui.add(edit).on_hover_text("Column type: leave empty to keep the detected one").lost_focus();
                });
            }
            ui.end_row();
            for row in &preview.rows {
                for cell in row {
                    match cell {
                        Some(v) => ui.label(truncate(v)),
                        None => ui.label(RichText::new("NULL").weak()),
                    };
                }
                ui.end_row();
            }
        });
    });
}

fn truncate(text: &str) -> String {
    let mut out: String = text.chars().take(60).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.replace('\n', "⏎")
}
