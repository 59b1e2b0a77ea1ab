//! Exports a [`View`] to Parquet (codecs, row groups, hive partitions), CSV/TSV (delimiter,
//! quote, header, NULL text, line ending, encoding, gzip/zstd), JSON, NDJSON, Arrow IPC file
//! and stream, and Excel. The rows written are exactly the view's rows, in its order, with
//! its columns.
//!
//! Every export writes a hidden `.partial` file (or folder, for a partitioned export) beside
//! the target, named after this process; only a complete output is renamed onto the target,
//! so a failed or cancelled export never leaves a partial or clobbered file, and one killed
//! mid-way is removed by a later run. An existing target is replaced only when asked
//! (`overwrite`). A file gets the permissions a new file gets, or keeps those of the file it
//! replaces.

mod arrow_ipc;
mod text;
mod xlsx;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::error::{EngineError, Result, display_name};
use super::job::{Job, JobCtx};
use super::scratch::{self, PartialMarker};
use super::sql::{quote_ident, quote_literal};
use super::view::{CompiledView, SourceShape, View};
use super::workspace::{Workspace, WsConnection};

pub use text::{LineEnding, TextEncoding};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    Parquet,
    Csv,
    Tsv,
    Json,
    Ndjson,
    Arrow,
    ArrowStream,
    Xlsx,
}

impl ExportFormat {
    pub const ALL: [Self; 8] = [Self::Parquet, Self::Csv, Self::Tsv, Self::Json, Self::Ndjson, Self::Arrow, Self::ArrowStream, Self::Xlsx];

    /// Reads a format name as the CLI's `--format` takes it.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => Self::Parquet,
            "csv" => Self::Csv,
            "tsv" | "tab" => Self::Tsv,
            "json" => Self::Json,
            "ndjson" | "jsonl" | "jsonlines" => Self::Ndjson,
            "arrow" | "ipc" | "feather" | "arrow-file" => Self::Arrow,
            "arrow-stream" | "arrows" | "ipc-stream" => Self::ArrowStream,
            "xlsx" | "excel" => Self::Xlsx,
            _ => {
                return Err(EngineError::InvalidOption(format!(
                    "\"{name}\" is not an export format; choose parquet, csv, tsv, json, ndjson, arrow, arrow-stream or xlsx"
                )));
            }
        })
    }

    /// The format and compression a file name asks for: `out.csv.gz` → CSV, gzip.
    pub fn from_path(path: &Path) -> Result<(Self, Option<Codec>)> {
        let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let (stem, codec) = match name.rsplit_once('.') {
            Some((stem, "gz")) => (stem.to_string(), Some(Codec::Gzip)),
            Some((stem, "zst")) => (stem.to_string(), Some(Codec::Zstd)),
            _ => (name.clone(), None),
        };
        let ext = stem.rsplit_once('.').map(|(_, e)| e.to_string()).unwrap_or_default();
        let format = match ext.as_str() {
            "parquet" | "pq" => Self::Parquet,
            "csv" => Self::Csv,
            "tsv" | "tab" => Self::Tsv,
            "json" => Self::Json,
            "ndjson" | "jsonl" => Self::Ndjson,
            "arrow" | "feather" | "ipc" => Self::Arrow,
            "arrows" => Self::ArrowStream,
            "xlsx" => Self::Xlsx,
            _ => {
                return Err(EngineError::InvalidOption(format!(
                    "{}: cannot tell the format from the name; end it in .parquet, .csv, .tsv, .json, .ndjson, .arrow, .arrows or .xlsx, or give --format",
                    display_name(path)
                )));
            }
        };
        Ok((format, codec))
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Arrow => "arrow",
            Self::ArrowStream => "arrows",
            Self::Xlsx => "xlsx",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Parquet => "Parquet",
            Self::Csv => "CSV",
            Self::Tsv => "TSV",
            Self::Json => "JSON (one array)",
            Self::Ndjson => "NDJSON (one object per line)",
            Self::Arrow => "Arrow IPC file",
            Self::ArrowStream => "Arrow IPC stream",
            Self::Xlsx => "Excel workbook",
        }
    }

    /// Compression codecs the format can use.
    pub fn codecs(self) -> &'static [Codec] {
        match self {
            Self::Parquet => &[Codec::Zstd, Codec::Snappy, Codec::Gzip, Codec::Lz4, Codec::Brotli, Codec::None],
            Self::Csv | Self::Tsv | Self::Json | Self::Ndjson => &[Codec::None, Codec::Gzip, Codec::Zstd],
            Self::Arrow | Self::ArrowStream => &[Codec::None, Codec::Zstd, Codec::Lz4],
            Self::Xlsx => &[Codec::None],
        }
    }

    pub fn is_text(self) -> bool {
        matches!(self, Self::Csv | Self::Tsv)
    }
}

/// A compression codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    None,
    Zstd,
    Snappy,
    Gzip,
    Lz4,
    Brotli,
}

impl Codec {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "none" | "uncompressed" | "off" => Self::None,
            "zstd" | "zst" => Self::Zstd,
            "snappy" => Self::Snappy,
            "gzip" | "gz" => Self::Gzip,
            "lz4" | "lz4_raw" => Self::Lz4,
            "brotli" => Self::Brotli,
            _ => {
                return Err(EngineError::InvalidOption(format!(
                    "\"{name}\" is not a compression; choose zstd, snappy, gzip, lz4, brotli or none"
                )));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Zstd => "zstd",
            Self::Snappy => "snappy",
            Self::Gzip => "gzip",
            Self::Lz4 => "lz4",
            Self::Brotli => "brotli",
        }
    }
}

/// Folders by calendar period of a date or timestamp column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Year,
    Month,
    Day,
}

impl Period {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "year" => Self::Year,
            "month" => Self::Month,
            "day" => Self::Day,
            _ => return Err(EngineError::InvalidOption(format!("\"{name}\" is not a period; choose year, month or day"))),
        })
    }

    /// The folder levels: `year=…/month=…/day=…`.
    fn parts(self) -> &'static [&'static str] {
        match self {
            Self::Year => &["year"],
            Self::Month => &["year", "month"],
            Self::Day => &["year", "month", "day"],
        }
    }
}

/// How a Parquet export is split into hive-style folders.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub enum Partitioning {
    #[default]
    None,
    /// `col=value/…` folders, one level per column.
    Columns(Vec<String>),
    /// `year=…/month=…` folders from a date or timestamp column.
    Period { column: String, period: Period },
}

impl Partitioning {
    /// Reads the CLI's `--partition-by-period COL:month`.
    pub fn parse_period(text: &str) -> Result<Self> {
        let (column, period) = text
            .rsplit_once(':')
            .ok_or_else(|| EngineError::InvalidOption(format!("\"{text}\": give COLUMN:year, COLUMN:month or COLUMN:day")))?;
        Ok(Self::Period { column: column.to_string(), period: Period::parse(period)? })
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }
}

/// Options of a CSV or TSV file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CsvWriteOptions {
    /// Default: `,` for CSV, a tab for TSV.
    pub delimiter: Option<char>,
    pub quote: char,
    pub header: bool,
    /// Written for NULL; empty by default.
    pub null_text: String,
    pub line_ending: LineEnding,
    pub encoding: TextEncoding,
}

impl Default for CsvWriteOptions {
    fn default() -> Self {
        Self { delimiter: None, quote: '"', header: true, null_text: String::new(), line_ending: LineEnding::Lf, encoding: TextEncoding::Utf8 }
    }
}

/// Everything an export can be asked to do besides which rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ExportOptions {
    /// Default: from the file name.
    pub format: Option<ExportFormat>,
    /// Default: zstd for Parquet, from the name (`.gz`, `.zst`) or none for the others.
    pub compression: Option<Codec>,
    /// Compression level (Parquet zstd: 1–22).
    pub level: Option<i32>,
    /// Rows per Parquet row group (default 122,880; DuckDB rounds up to a multiple of 2,048).
    pub row_group_size: Option<u64>,
    pub partitioning: Partitioning,
    /// Target size of each file of a partitioned Parquet export.
    pub file_size_bytes: Option<u64>,
    pub csv: CsvWriteOptions,
    /// Replace an existing file or folder.
    pub overwrite: bool,
}

/// The path that means "standard output".
pub const STDOUT: &str = "-";

#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    /// The table or query exported.
    pub source: String,
    pub path: PathBuf,
    pub format: ExportFormat,
    pub compression: Codec,
    pub rows: u64,
    pub bytes: u64,
    /// Files written (more than one for a partitioned export).
    pub files: u64,
    /// Worksheets written (Excel).
    pub sheets: u64,
    /// How values the format cannot carry were written.
    pub notes: Vec<String>,
}

pub struct ExportJob {
    workspace: Arc<Workspace>,
    view: View,
    path: PathBuf,
    options: ExportOptions,
}

impl ExportJob {
    pub fn new(workspace: Arc<Workspace>, view: View, path: impl Into<PathBuf>, options: ExportOptions) -> Self {
        Self { workspace, view, path: path.into(), options }
    }
}

/// Removes a file or folder when dropped, unless it was renamed away.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// The settled choices of one export.
struct Plan {
    format: ExportFormat,
    codec: Codec,
    to_stdout: bool,
}

impl ExportJob {
    fn plan(&self) -> Result<Plan> {
        let o = &self.options;
        let to_stdout = self.path.as_os_str() == STDOUT;
        let (format, named_codec) = match (o.format, to_stdout) {
            (Some(f), true) => (f, None),
            (Some(f), false) => (f, ExportFormat::from_path(&self.path).ok().and_then(|(_, c)| c)),
            (None, true) => return Err(EngineError::InvalidOption("give --format when writing to standard output".into())),
            (None, false) if !o.partitioning.is_none() && self.path.extension().is_none() => (ExportFormat::Parquet, None),
            (None, false) => ExportFormat::from_path(&self.path)?,
        };
        let codec = o.compression.or(named_codec).unwrap_or(if format == ExportFormat::Parquet { Codec::Zstd } else { Codec::None });
        let usage = |m: String| Err(EngineError::InvalidOption(m));
        if !format.codecs().contains(&codec) {
            let allowed: Vec<&str> = format.codecs().iter().map(|c| c.name()).collect();
            return usage(format!("{} files cannot use {} compression; choose {}", format.label(), codec.name(), allowed.join(", ")));
        }
        if let Some(level) = o.level {
            if format != ExportFormat::Parquet || codec != Codec::Zstd {
                return usage("--level sets the zstd level of a Parquet export".into());
            }
            if !(1..=22).contains(&level) {
                return usage(format!("zstd level {level} is out of range; choose 1 to 22"));
            }
        }
        if format != ExportFormat::Parquet && (o.row_group_size.is_some() || !o.partitioning.is_none() || o.file_size_bytes.is_some()) {
            return usage("row groups, partitions and file sizes are Parquet options".into());
        }
        if o.row_group_size == Some(0) {
            return usage("a row group holds at least one row".into());
        }
        if o.file_size_bytes.is_some() && o.partitioning.is_none() {
            return usage("a target file size splits a partitioned export; add --partition-by".into());
        }
        if to_stdout && format != ExportFormat::ArrowStream {
            return usage(format!("only an Arrow stream can be written to standard output, not {}", format.label()));
        }
        if to_stdout && !o.partitioning.is_none() {
            return usage("a partitioned export writes a folder, not standard output".into());
        }
        if !format.is_text() && self.options.csv != CsvWriteOptions::default() {
            return usage("delimiter, quote, header, NULL text, line ending and encoding are CSV/TSV options".into());
        }
        if format.is_text() {
            text::check_options(&o.csv)?;
        }
        Ok(Plan { format, codec, to_stdout })
    }
}

impl Job for ExportJob {
    type Output = ExportReport;

    fn title(&self) -> String {
        let target = if self.path.as_os_str() == STDOUT { "standard output".to_string() } else { display_name(&self.path) };
        format!("Export {} to {target}", self.view.source.title())
    }

    fn run(self, ctx: &JobCtx) -> Result<ExportReport> {
        let plan = self.plan()?;
        let conn = self.workspace.connect()?;
        let shape = SourceShape::of(&conn, &self.view.source)?;
        self.view.check_values(&conn, &shape)?;
        let compiled = self.view.compile(&shape)?;
        check_partition_columns(&self.options.partitioning, &compiled, &self.view)?;
        if !self.view.has_row_filter() {
            if let Some(rows) = cheap_count(&conn, &self.view) {
                ctx.expect_rows(rows);
            }
        }
        if plan.to_stdout {
            ctx.watch(&conn)?;
            ctx.phase("Writing to standard output", None);
            let mut out = std::io::stdout().lock();
            let written = arrow_ipc::write(&conn, &compiled, &mut out, plan.format, plan.codec, ctx);
            let written = written.map_err(|e| if ctx.is_cancelled() { EngineError::Cancelled } else { e })?;
            return Ok(ExportReport {
                source: self.view.source.title(),
                path: self.path,
                format: plan.format,
                compression: plan.codec,
                rows: written.rows,
                bytes: written.bytes,
                files: 1,
                sheets: 0,
                notes: Vec::new(),
            });
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(EngineError::io(&dir, std::io::Error::new(std::io::ErrorKind::NotFound, "folder does not exist")));
        }
        if self.path.symlink_metadata().is_ok() {
            if !self.options.overwrite {
                return Err(EngineError::OutputExists(self.path.clone()));
            }
            check_kind_matches(!self.options.partitioning.is_none(), &self.path)?;
        }
        scratch::sweep_partials(&dir);
        let partial = scratch::partial_path(&self.path);
        let temp_dir = self.workspace.settings().temp_dir;
        let _marker = PartialMarker::new(&temp_dir, &partial);
        let _cleanup = RemoveOnDrop(partial.clone());

        ctx.watch(&conn)?;
        ctx.phase(format!("Writing {}", display_name(&self.path)), None);
        let written = match plan.format {
            ExportFormat::Arrow | ExportFormat::ArrowStream => {
                let file = std::fs::File::create(&partial).map_err(|e| EngineError::io(&self.path, e))?;
                let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
                arrow_ipc::write(&conn, &compiled, &mut out, plan.format, plan.codec, ctx)
                    .and_then(|w| finish(out, &self.path).map(|()| w))
            }
            ExportFormat::Xlsx => xlsx::write(&conn, &compiled, self.view.source.table_name().unwrap_or("Query"), &partial, &temp_dir, ctx),
            ExportFormat::Csv | ExportFormat::Tsv if self.options.csv.encoding.needs_transcoding() => {
                text::write_transcoded(&conn, &compiled, &partial, &temp_dir, plan.format, plan.codec, &self.options.csv, ctx)
            }
            _ => copy_with_duckdb(&conn, &compiled, &partial, &plan, &self.options).map(|rows| Written { rows, ..Written::default() }),
        };
        let written = written.map_err(|e| match e.with_path_shown_as(&partial, &self.path) {
            _ if ctx.is_cancelled() => EngineError::Cancelled,
            EngineError::Database(text) => EngineError::Database(format!("{}: {text}", display_name(&self.path))),
            other => other,
        })?;
        ctx.checkpoint()?;
        let (bytes, files) = output_size(&partial);
        // A replaced file keeps its mode.
        if let Ok(existing) = std::fs::metadata(&self.path) {
            if existing.is_file() && partial.is_file() {
                std::fs::set_permissions(&partial, existing.permissions()).map_err(|e| EngineError::io(&self.path, e))?;
            }
        }
        put_in_place(&partial, &self.path, self.options.overwrite)?;
        ctx.record_output(written.rows, bytes);
        Ok(ExportReport {
            source: self.view.source.title(),
            path: self.path,
            format: plan.format,
            compression: plan.codec,
            rows: written.rows,
            bytes,
            files,
            sheets: written.sheets,
            notes: written.notes,
        })
    }
}

/// What a writer produced.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub rows: u64,
    pub bytes: u64,
    pub sheets: u64,
    pub notes: Vec<String>,
}

fn finish<W: std::io::Write>(mut out: W, shown: &Path) -> Result<()> {
    out.flush().map_err(|e| EngineError::io(shown, e))
}

/// Rows of an unfiltered view when counting them costs nothing (a table's count).
fn cheap_count(conn: &WsConnection, view: &View) -> Option<u64> {
    let table = view.source.table_name()?;
    if super::workspace::is_view(conn, table).ok()? {
        return None;
    }
    let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(table)), [], |r| r.get(0)).ok()?;
    Some(rows.max(0) as u64)
}

fn check_partition_columns(partitioning: &Partitioning, compiled: &CompiledView, view: &View) -> Result<()> {
    let has = |c: &str| compiled.columns.iter().any(|col| col.name == c);
    let missing = |c: &str| EngineError::ColumnNotFound { table: view.source.title(), column: c.to_string() };
    match partitioning {
        Partitioning::None => Ok(()),
        Partitioning::Columns(columns) => {
            if columns.is_empty() {
                return Err(EngineError::InvalidOption("name at least one column to partition by".into()));
            }
            if columns.len() == compiled.columns.len() && columns.iter().all(|c| has(c)) {
                return Err(EngineError::InvalidOption("partitioning by every column leaves no column to write".into()));
            }
            columns.iter().find(|c| !has(c)).map_or(Ok(()), |c| Err(missing(c)))
        }
        Partitioning::Period { column, .. } => {
            let info = compiled.columns.iter().find(|c| &c.name == column).ok_or_else(|| missing(column))?;
            let ty = info.data_type.to_ascii_uppercase();
            if ty == "DATE" || ty.starts_with("TIMESTAMP") {
                Ok(())
            } else {
                Err(EngineError::InvalidOption(format!("\"{column}\" is {}, not a date or timestamp; it cannot be split by period", info.data_type)))
            }
        }
    }
}

/// Parquet, JSON, NDJSON and UTF-8 CSV/TSV: DuckDB's own writers via `COPY`.
fn copy_with_duckdb(conn: &WsConnection, compiled: &CompiledView, partial: &Path, plan: &Plan, o: &ExportOptions) -> Result<u64> {
    // The target is already our own temporary file (or folder): no second one from DuckDB.
    let mut options = if o.partitioning.is_none() { vec!["USE_TMP_FILE false".to_string()] } else { Vec::new() };
    let list = select_list_for(plan.format, compiled);
    let mut select = compiled.select_columns(&list);
    match plan.format {
        ExportFormat::Parquet => {
            options.push("FORMAT parquet".into());
            options.push(format!("COMPRESSION {}", if plan.codec == Codec::None { "uncompressed" } else { plan.codec.name() }));
            if let Some(level) = o.level {
                options.push(format!("COMPRESSION_LEVEL {level}"));
            }
            // A file is closed only between row groups: for a target size, groups small
            // enough to land near it (about 400 bytes a row as a rough upper bound).
            let rows_per_group = o.row_group_size.or_else(|| o.file_size_bytes.map(|bytes| (bytes / 400).clamp(2048, 122_880)));
            if let Some(rows) = rows_per_group {
                options.push(format!("ROW_GROUP_SIZE {rows}"));
            }
            match &o.partitioning {
                Partitioning::None => {}
                Partitioning::Columns(columns) => {
                    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
                    options.push(format!("PARTITION_BY ({})", list.join(", ")));
                }
                Partitioning::Period { column, period } => {
                    let mut extra = Vec::new();
                    let mut names = Vec::new();
                    for part in period.parts() {
                        // A column of the view may already be called `year`: then `col_year`.
                        let name = if compiled.columns.iter().any(|c| c.name.eq_ignore_ascii_case(part)) {
                            format!("{column}_{part}")
                        } else {
                            (*part).to_string()
                        };
                        extra.push(format!("{part}({}) AS {}", quote_ident(column), quote_ident(&name)));
                        names.push(quote_ident(&name));
                    }
                    select = compiled.select_columns(&format!("{list}, {}", extra.join(", ")));
                    options.push(format!("PARTITION_BY ({})", names.join(", ")));
                }
            }
            if let Some(bytes) = o.file_size_bytes {
                options.push(format!("FILE_SIZE_BYTES {bytes}"));
            }
            if !o.partitioning.is_none() {
                options.push("FILENAME_PATTERN 'part_{i}'".into());
            }
        }
        ExportFormat::Json => options.extend(["FORMAT json".to_string(), "ARRAY true".to_string()]),
        ExportFormat::Ndjson => options.push("FORMAT json".into()),
        ExportFormat::Csv | ExportFormat::Tsv => options.extend(text::duckdb_options(plan.format, &o.csv)),
        ExportFormat::Arrow | ExportFormat::ArrowStream | ExportFormat::Xlsx => {
            return Err(EngineError::Internal(format!("{} is not written by COPY", plan.format.label())));
        }
    }
    if plan.format != ExportFormat::Parquet {
        options.push(format!("COMPRESSION {}", match plan.codec {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            _ => "none",
        }));
    }
    let sql = format!("COPY ({select}) TO {} ({})", quote_literal(&partial.to_string_lossy()), options.join(", "));
    let rows = conn.execute(&sql, compiled.params())?;
    Ok(rows as u64)
}

/// The view's columns as the format needs them written:
/// - Parquet has no 128-bit integers: HUGEINT is written as DECIMAL(38,0), exact (a value of
///   39 digits stops the export with DuckDB's cast error rather than being rounded);
/// - JSON has no NaN or infinity: those doubles are written as null.
fn select_list_for(format: ExportFormat, compiled: &CompiledView) -> String {
    let list: Vec<String> = compiled
        .columns
        .iter()
        .map(|c| {
            let name = quote_ident(&c.name);
            let ty = c.data_type.to_ascii_uppercase();
            match format {
                ExportFormat::Parquet if ty == "HUGEINT" || ty == "UHUGEINT" => format!("CAST({name} AS DECIMAL(38,0)) AS {name}"),
                ExportFormat::Json | ExportFormat::Ndjson if ty == "DOUBLE" || ty == "FLOAT" => {
                    format!("CASE WHEN isfinite({name}) THEN {name} END AS {name}")
                }
                _ => name,
            }
        })
        .collect();
    if list.is_empty() { compiled.select_list.clone() } else { list.join(", ") }
}

/// Bytes and files under `path` (a file, or a folder of a partitioned export).
fn output_size(path: &Path) -> (u64, u64) {
    if path.is_file() {
        return (std::fs::metadata(path).map_or(0, |m| m.len()), 1);
    }
    let (files, bytes) = scratch::files_under(path, |_| true);
    (bytes, files as u64)
}

/// A file replaces only a file, a folder (a partitioned export) only a folder.
fn check_kind_matches(writes_folder: bool, target: &Path) -> Result<()> {
    match target.symlink_metadata() {
        Ok(meta) if meta.is_dir() && !writes_folder => Err(EngineError::InvalidOption(format!(
            "{} is a folder; name a file to export to (only a partitioned export writes a folder)",
            target.display()
        ))),
        Ok(meta) if !meta.is_dir() && writes_folder => Err(EngineError::InvalidOption(format!(
            "{} is a file; a partitioned export writes a folder: choose another name",
            target.display()
        ))),
        _ => Ok(()),
    }
}

/// Writes a small file (a report) beside `target` and renames it into place.
pub fn write_file_atomically(target: &Path, bytes: &[u8]) -> Result<()> {
    let partial = scratch::partial_path(target);
    let _cleanup = RemoveOnDrop(partial.clone());
    std::fs::write(&partial, bytes).map_err(|e| EngineError::io(target, e))?;
    put_in_place(&partial, target, true)
}

/// Renames the finished `partial` onto `target`. A file replaces a file in one rename; a
/// folder replacing a folder (or a file) first moves the old one aside, then removes it.
fn put_in_place(partial: &Path, target: &Path, overwrite: bool) -> Result<()> {
    let exists = target.symlink_metadata().is_ok();
    if exists && !overwrite {
        return Err(EngineError::OutputExists(target.to_path_buf()));
    }
    check_kind_matches(partial.is_dir(), target)?;
    if !exists || partial.is_file() {
        return std::fs::rename(partial, target).map_err(|e| EngineError::io(target, e));
    }
    let old = scratch::partial_path(target);
    std::fs::rename(target, &old).map_err(|e| EngineError::io(target, e))?;
    if let Err(e) = std::fs::rename(partial, target) {
        let _ = std::fs::rename(&old, target);
        return Err(EngineError::io(target, e));
    }
    let _ = if old.is_dir() { std::fs::remove_dir_all(&old) } else { std::fs::remove_file(&old) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_codecs_come_from_names() {
        let f = |p: &str| ExportFormat::from_path(Path::new(p)).unwrap();
        assert_eq!(f("a.parquet"), (ExportFormat::Parquet, None));
        assert_eq!(f("a.CSV.gz"), (ExportFormat::Csv, Some(Codec::Gzip)));
        assert_eq!(f("x/a.tsv.zst"), (ExportFormat::Tsv, Some(Codec::Zstd)));
        assert_eq!(f("a.jsonl"), (ExportFormat::Ndjson, None));
        assert_eq!(f("a.arrows"), (ExportFormat::ArrowStream, None));
        assert_eq!(f("a.xlsx"), (ExportFormat::Xlsx, None));
        assert!(ExportFormat::from_path(Path::new("a.txt")).unwrap_err().is_usage());
        for format in ExportFormat::ALL {
            assert_eq!(ExportFormat::parse(format.extension()).unwrap(), format);
        }
    }

    #[test]
    fn periods_parse() {
        assert_eq!(
            Partitioning::parse_period("ts:Month").unwrap(),
            Partitioning::Period { column: "ts".into(), period: Period::Month }
        );
        assert!(Partitioning::parse_period("ts").is_err());
        assert!(Partitioning::parse_period("ts:week").is_err());
    }
}
