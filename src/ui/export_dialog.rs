//! The export window: which rows (the view shown, or the whole table), the format and its
//! options, where to; it asks before replacing a file or folder.

use std::path::{Path, PathBuf};

use egui::RichText;
use poll_promise::Promise;

use super::state::{AppState, Command};
use crate::engine::Result;
use crate::engine::export::{Codec, CsvWriteOptions, ExportFormat, ExportOptions, LineEnding, Partitioning, Period, TextEncoding};
use crate::engine::view::View;
use crate::engine::workspace::ColumnInfo;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PartitionMode {
    None,
    Columns,
    Period,
}

/// The export window's fields.
pub struct ExportDraft {
    pub view: View,
    pub columns: Option<Vec<ColumnInfo>>,
    pub columns_load: Option<Promise<Result<Vec<ColumnInfo>>>>,
    pub path: String,
    /// Export the source as it is, without the view's filters, sort and column choice.
    pub whole_table: bool,
    pub format: ExportFormat,
    pub codec: Codec,
    pub level: i32,
    pub row_group_size: String,
    pub partition: PartitionMode,
    pub partition_columns: Vec<String>,
    pub period_column: String,
    pub period: Period,
    pub file_size: String,
    pub csv: CsvWriteOptions,
    pub delimiter: String,
    /// The target exists: asked whether to replace it.
    pub confirm_replace: bool,
    pub problem: Option<String>,
}

impl ExportDraft {
    pub fn new(view: View, dir: &Path, columns: Option<Vec<ColumnInfo>>, columns_load: Option<Promise<Result<Vec<ColumnInfo>>>>) -> Self {
        let stem = view.source.table_name().unwrap_or("query").to_string();
        Self {
            path: dir.join(format!("{stem}.parquet")).to_string_lossy().into_owned(),
            view,
            columns,
            columns_load,
            whole_table: false,
            format: ExportFormat::Parquet,
            codec: Codec::Zstd,
            level: 0,
            row_group_size: String::new(),
            partition: PartitionMode::None,
            partition_columns: Vec::new(),
            period_column: String::new(),
            period: Period::Month,
            file_size: String::new(),
            csv: CsvWriteOptions::default(),
            delimiter: ",".into(),
            confirm_replace: false,
            problem: None,
        }
    }

    pub fn table(&self) -> String {
        self.view.source.table_name().unwrap_or("query").to_string()
    }

    /// The rows to export.
    pub fn rows(&self) -> View {
        if self.whole_table { View::of(self.view.source.clone()) } else { self.view.clone() }
    }

    /// Sets the format and gives the path its extension (a folder for partitions).
    fn set_format(&mut self, format: ExportFormat) {
        self.format = format;
        // Each format starts from its usual compression (zstd for Parquet, none for others).
        self.codec = format.codecs()[0];
        if format != ExportFormat::Parquet {
            self.partition = PartitionMode::None;
        }
        if format == ExportFormat::Tsv && self.delimiter == "," {
            self.delimiter = "\t".into();
        } else if format == ExportFormat::Csv && self.delimiter == "\t" {
            self.delimiter = ",".into();
        }
        self.fix_extension();
    }

    fn fix_extension(&mut self) {
        let path = PathBuf::from(self.path.trim());
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { return };
        let mut stem = name.as_str();
        for ext in [".gz", ".zst"] {
            stem = stem.strip_suffix(ext).unwrap_or(stem);
        }
        let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
        let new_name = if self.partition != PartitionMode::None {
            stem.to_string()
        } else {
            let suffix = match self.codec {
                Codec::Gzip if !matches!(self.format, ExportFormat::Parquet) => ".gz",
                Codec::Zstd if matches!(self.format, ExportFormat::Csv | ExportFormat::Tsv | ExportFormat::Json | ExportFormat::Ndjson) => ".zst",
                _ => "",
            };
            format!("{stem}.{}{suffix}", self.format.extension())
        };
        self.path = path.with_file_name(new_name).to_string_lossy().into_owned();
    }

    /// A path typed (or chosen) with another extension picks that format and compression.
    fn follow_path(&mut self) {
        if self.partition != PartitionMode::None {
            return;
        }
        if let Ok((format, codec)) = ExportFormat::from_path(Path::new(self.path.trim())) {
            if format != self.format {
                self.format = format;
                self.codec = codec.unwrap_or(format.codecs()[0]);
            } else if let Some(codec) = codec {
                self.codec = codec;
            } else if matches!(self.codec, Codec::Gzip | Codec::Zstd) && matches!(format, ExportFormat::Csv | ExportFormat::Tsv | ExportFormat::Json | ExportFormat::Ndjson) {
                self.codec = Codec::None;
            }
        }
    }

    /// The options as the engine takes them, or what is wrong with them.
    pub fn options(&self) -> std::result::Result<ExportOptions, String> {
        let mut o = ExportOptions { format: Some(self.format), compression: Some(self.codec), overwrite: self.confirm_replace, ..Default::default() };
        if self.format == ExportFormat::Parquet {
            if self.level > 0 && self.codec == Codec::Zstd {
                o.level = Some(self.level);
            }
            let rows = self.row_group_size.trim().replace([',', '_', ' '], "");
            if !rows.is_empty() {
                o.row_group_size = Some(rows.parse().map_err(|_| format!("\"{}\" is not a number of rows", self.row_group_size))?);
            }
            match self.partition {
                PartitionMode::None => {}
                PartitionMode::Columns if self.partition_columns.is_empty() => return Err("choose the columns to partition by".into()),
                PartitionMode::Columns => o.partitioning = Partitioning::Columns(self.partition_columns.clone()),
                PartitionMode::Period if self.period_column.is_empty() => return Err("choose a date or timestamp column".into()),
                PartitionMode::Period => o.partitioning = Partitioning::Period { column: self.period_column.clone(), period: self.period },
            }
            if self.partition != PartitionMode::None && !self.file_size.trim().is_empty() {
                o.file_size_bytes = Some(crate::engine::config::parse_size(&self.file_size)?);
            }
        }
        if self.format.is_text() {
            let mut csv = self.csv.clone();
            let delimiter = if self.delimiter == "\\t" { "\t".to_string() } else { self.delimiter.clone() };
            let mut chars = delimiter.chars();
            csv.delimiter = match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => return Err("the delimiter is one character".into()),
            };
            o.csv = csv;
        }
        Ok(o)
    }
}

fn format_combo(ui: &mut egui::Ui, draft: &mut ExportDraft) {
    egui::ComboBox::from_id_salt("export-format").selected_text(draft.format.label()).width(220.0).show_ui(ui, |ui| {
        for format in ExportFormat::ALL {
            if ui.selectable_label(draft.format == format, format.label()).clicked() && draft.format != format {
                draft.set_format(format);
            }
        }
    });
}

fn codec_combo(ui: &mut egui::Ui, draft: &mut ExportDraft) {
    let codecs = draft.format.codecs();
    if codecs.len() < 2 {
        return;
    }
    ui.label("Compression");
    let before = draft.codec;
    egui::ComboBox::from_id_salt("export-codec").selected_text(draft.codec.name()).show_ui(ui, |ui| {
        for &codec in codecs {
            ui.selectable_value(&mut draft.codec, codec, codec.name());
        }
    });
    if before != draft.codec {
        draft.fix_extension();
    }
    ui.end_row();
}

fn parquet_options(ui: &mut egui::Ui, draft: &mut ExportDraft) {
    if draft.codec == Codec::Zstd {
        ui.label("Level");
        ui.horizontal(|ui| {
            ui.add(egui::DragValue::new(&mut draft.level).range(0..=22));
            ui.weak(if draft.level == 0 { "default (3)" } else { "1 fastest … 22 smallest" });
        });
        ui.end_row();
    }
    ui.label("Rows per row group");
    ui.add(egui::TextEdit::singleline(&mut draft.row_group_size).hint_text("122,880").desired_width(120.0));
    ui.end_row();
    ui.label("Partitions");
    let before = draft.partition;
    ui.horizontal(|ui| {
        ui.selectable_value(&mut draft.partition, PartitionMode::None, "One file");
        ui.selectable_value(&mut draft.partition, PartitionMode::Columns, "Folders by columns");
        ui.selectable_value(&mut draft.partition, PartitionMode::Period, "Folders by period");
    });
    if before != draft.partition {
        draft.fix_extension();
    }
    ui.end_row();
    let columns = draft.columns.clone().unwrap_or_default();
    match draft.partition {
        PartitionMode::None => {}
        PartitionMode::Columns => {
            ui.label("By");
            egui::ScrollArea::vertical().max_height(120.0).id_salt("partition-columns").show(ui, |ui| {
                for c in &columns {
                    let mut on = draft.partition_columns.contains(&c.name);
                    if ui.checkbox(&mut on, &c.name).changed() {
                        if on {
                            draft.partition_columns.push(c.name.clone());
                        } else {
                            draft.partition_columns.retain(|n| n != &c.name);
                        }
                    }
                }
            });
            ui.end_row();
        }
        PartitionMode::Period => {
            ui.label("By");
            ui.horizontal(|ui| {
                let dated: Vec<&ColumnInfo> = columns.iter().filter(|c| c.data_type == "DATE" || c.data_type.starts_with("TIMESTAMP")).collect();
                let shown = if draft.period_column.is_empty() { "choose a column".to_string() } else { draft.period_column.clone() };
                egui::ComboBox::from_id_salt("period-column").selected_text(shown).show_ui(ui, |ui| {
                    for c in dated {
                        ui.selectable_value(&mut draft.period_column, c.name.clone(), &c.name);
                    }
                });
                for (period, label) in [(Period::Year, "year"), (Period::Month, "month"), (Period::Day, "day")] {
                    ui.selectable_value(&mut draft.period, period, label);
                }
            });
            ui.end_row();
        }
    }
    if draft.partition != PartitionMode::None {
        ui.label("Target file size");
        ui.add(egui::TextEdit::singleline(&mut draft.file_size).hint_text("e.g. 256MB").desired_width(120.0));
        ui.end_row();
    }
}

fn text_options(ui: &mut egui::Ui, draft: &mut ExportDraft) {
    ui.label("Delimiter");
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut draft.delimiter).desired_width(30.0));
        for (label, value) in [(",", ","), (";", ";"), ("tab", "\t"), ("|", "|")] {
            if ui.small_button(label).clicked() {
                draft.delimiter = value.to_string();
            }
        }
    });
    ui.end_row();
    ui.label("Quote");
    let mut quote = draft.csv.quote.to_string();
    if ui.add(egui::TextEdit::singleline(&mut quote).desired_width(30.0)).changed() {
        if let Some(c) = quote.chars().last() {
            draft.csv.quote = c;
        }
    }
    ui.end_row();
    ui.label("Header line");
    ui.checkbox(&mut draft.csv.header, "column names first");
    ui.end_row();
    ui.label("NULL written as");
    ui.add(egui::TextEdit::singleline(&mut draft.csv.null_text).hint_text("(nothing)").desired_width(80.0));
    ui.end_row();
    ui.label("Line ending");
    ui.horizontal(|ui| {
        ui.selectable_value(&mut draft.csv.line_ending, LineEnding::Lf, "LF (Linux, macOS)");
        ui.selectable_value(&mut draft.csv.line_ending, LineEnding::CrLf, "CRLF (Windows)");
    });
    ui.end_row();
    ui.label("Encoding");
    egui::ComboBox::from_id_salt("export-encoding").selected_text(draft.csv.encoding.label()).show_ui(ui, |ui| {
        for encoding in TextEncoding::ALL {
            ui.selectable_value(&mut draft.csv.encoding, encoding, encoding.label());
        }
    });
    ui.end_row();
}

/// A line about which rows go out.
fn rows_summary(view: &View) -> String {
    let mut parts = Vec::new();
    if !view.filters.is_empty() {
        parts.push(if view.filters.len() == 1 { "1 filter".to_string() } else { format!("{} filters", view.filters.len()) });
    }
    if let Some(s) = &view.search {
        parts.push(format!("text contains \"{s}\""));
    }
    if !view.sort.is_empty() {
        let keys: Vec<String> = view.sort.iter().map(|k| if k.descending { format!("{} ⏷", k.column) } else { format!("{} ⏶", k.column) }).collect();
        parts.push(format!("sorted by {}", keys.join(", ")));
    }
    if let Some(columns) = &view.columns {
        parts.push(format!("{} chosen columns", columns.len()));
    }
    if parts.is_empty() { "every row and column, in table order".to_string() } else { parts.join(" · ") }
}

pub fn export_ui(ctx: &egui::Context, state: &mut AppState) {
    let Some(draft) = state.export.as_mut() else { return };
    if let Some(p) = draft.columns_load.take() {
        match p.try_take() {
            Ok(Ok(columns)) => draft.columns = Some(columns),
            Ok(Err(e)) => draft.problem = Some(e.to_string()),
            Err(p) => draft.columns_load = Some(p),
        }
    }
    draft.follow_path();
    let mut commands = Vec::new();
    let mut is_open = true;
    let mut close = false;
    egui::Window::new(format!("Export {}", draft.view.source.title()))
        .open(&mut is_open)
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            let shaped = !draft.view.is_unshaped() || draft.view.columns.is_some();
            ui.label(RichText::new(format!("Rows: {}", rows_summary(&draft.rows()))).strong());
            if shaped {
                ui.checkbox(&mut draft.whole_table, "Whole table instead (without the filters, sort and column choice)");
            }
            ui.add_space(4.0);
            egui::Grid::new("export-grid").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
                ui.label("Format");
                format_combo(ui, draft);
                ui.end_row();
                ui.label(if draft.partition == PartitionMode::None { "Save to" } else { "Folder" });
                ui.horizontal(|ui| {
                    if ui.add(egui::TextEdit::singleline(&mut draft.path).desired_width(380.0)).changed() {
                        draft.confirm_replace = false;
                    }
                    if ui.button("Browse…").clicked() {
                        commands.push(Command::BrowseExportTarget);
                    }
                });
                ui.end_row();
                codec_combo(ui, draft);
                match draft.format {
                    ExportFormat::Parquet => parquet_options(ui, draft),
                    ExportFormat::Csv | ExportFormat::Tsv => text_options(ui, draft),
                    ExportFormat::Xlsx => {
                        ui.label("");
                        ui.weak("Typed cells, bold frozen header, autofilter; past 1,048,576 rows the rows continue on further sheets");
                        ui.end_row();
                    }
                    _ => {}
                }
            });
            let options = draft.options();
            if let Err(e) = &options {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            if let Some(p) = &draft.problem {
                ui.colored_label(ui.visuals().error_fg_color, p);
            }
            ui.add_space(6.0);
            let path = PathBuf::from(draft.path.trim());
            let exists = !draft.path.trim().is_empty() && path.symlink_metadata().is_ok();
            if exists && draft.confirm_replace {
                ui.colored_label(ui.visuals().warn_fg_color, format!("{} exists and will be replaced", path.display()));
            }
            ui.horizontal(|ui| {
                let label = if exists { if draft.confirm_replace { "Replace" } else { "Export…" } } else { "Export" };
                if ui.add_enabled(!draft.path.trim().is_empty() && options.is_ok(), egui::Button::new(label)).clicked() {
                    if exists && !draft.confirm_replace {
                        draft.confirm_replace = true;
                    } else if let Ok(options) = options {
                        commands.push(Command::Export { view: draft.rows(), path: path.clone(), options });
                    }
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
        });
    if close || !is_open {
        state.export = None;
    }
    state.pending_commands(commands);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_follows_the_format() {
        let mut d = ExportDraft::new(View::table("sales"), Path::new("/out"), None, None);
        assert_eq!(d.path, "/out/sales.parquet");
        d.set_format(ExportFormat::Csv);
        assert_eq!(d.path, "/out/sales.csv");
        d.codec = Codec::Gzip;
        d.fix_extension();
        assert_eq!(d.path, "/out/sales.csv.gz");
        d.set_format(ExportFormat::Xlsx);
        assert_eq!((d.path.as_str(), d.codec), ("/out/sales.xlsx", Codec::None));
        d.path = "/out/typed.tsv.gz".into();
        d.follow_path();
        assert_eq!((d.format, d.codec), (ExportFormat::Tsv, Codec::Gzip));
        d.set_format(ExportFormat::Parquet);
        d.partition = PartitionMode::Columns;
        d.fix_extension();
        assert_eq!(d.path, "/out/typed");
        assert!(d.options().is_err(), "no partition column yet");
        d.partition_columns.push("region".into());
        assert_eq!(d.options().unwrap().partitioning, Partitioning::Columns(vec!["region".into()]));
    }
}
