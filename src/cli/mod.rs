//! The headless front end: `dataforge <command>`. Arguments are parsed by clap, each
//! command runs the same engine jobs the GUI runs, and [`run`] maps every outcome to one
//! exit code: 0 ok, 1 error, 2 usage, 130 cancelled by Ctrl+C.

mod bench;
mod bench_compare;
mod bench_match;
mod dedupe;
mod matching;
mod package_files;
mod sweep;
pub use bench::generate_csv;
pub mod progress;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::engine::config::{EnvOverrides, default_workspace_path, format_bytes, group_digits, rows_text};
use crate::engine::console::{RunSql, SqlAccess};
use crate::engine::export::{Codec, ExportFormat, ExportJob, ExportOptions, LineEnding, Partitioning, STDOUT, TextEncoding};
use crate::engine::view::{SortKey, Source, View, WhereExpr};
use crate::engine::import::linked::LinkJob;
use crate::engine::import::{CsvOptions, ExpectedColumn, FileFormat, ImportJob, ImportOptions, OnError, split_archives};
use crate::engine::job::{JobSnapshot, no_waker, spawn};
use crate::engine::{EngineError, Workspace};

pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CANCELLED: i32 = 130;

#[derive(Parser, Debug)]
#[command(name = "dataforge", version, about = "A desktop data workbench over an embedded DuckDB workspace.\nWith no command, opens the window.")]
pub struct Args {
    /// Workspace file (default: the OS data directory)
    #[arg(long, global = true, env = "DATAFORGE_WORKSPACE", value_name = "PATH")]
    pub workspace: Option<PathBuf>,

    /// Print the result and job metrics as one JSON object on stdout
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Import files, each into a new table
    Import {
        /// Files, globs ('logs/*.csv'), Parquet folders, or zip archives (`a.zip/member.csv` for one member)
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Table name (one file, or with --union; default: derived from the file name)
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
        #[command(flatten)]
        options: ImportArgs,
    },
    /// Open files in place (Parquet, CSV, JSON): browse, sort and export them without importing
    Link {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Name (one file only; default: derived from the file name)
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
        #[command(flatten)]
        options: ImportArgs,
    },
    /// List the workspace's tables
    Tables,
    /// Export a table (filtered, sorted, chosen columns) to Parquet, CSV, TSV, JSON, NDJSON,
    /// Arrow IPC or Excel; the format follows the file name unless --format is given
    Export {
        table: String,
        /// Output file; a folder for a partitioned export; '-' for standard output (arrow-stream)
        #[arg(value_name = "OUT")]
        out: PathBuf,
        #[command(flatten)]
        shape: ViewArgs,
        #[command(flatten)]
        options: ExportArgs,
    },
    /// Run SQL on the workspace: prints the last statement's rows as a table (or JSON rows
    /// with --json), or exports them with --out
    Sql {
        /// One or more statements separated by ';'
        sql: String,
        /// Write the result of the last statement to this file instead of printing it
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print at most this many rows (default: all)
        #[arg(long, value_name = "N")]
        max_rows: Option<u64>,
        /// Apply the window's file policy: only the folders allowed in Settings (SQL file
        /// access), checked by DuckDB itself; without it SQL reaches what your shell does
        #[arg(long)]
        sandbox: bool,
        #[command(flatten)]
        options: ExportArgs,
    },
    /// Profile a table: every column's statistics, distributions, alerts and suggested types
    /// (stored in the workspace; --json prints the whole report)
    Profile {
        table: String,
        /// Only these columns
        #[arg(long, value_name = "A,B,...")]
        columns: Option<String>,
        /// Only rows where this SQL condition holds
        #[arg(long = "where", value_name = "EXPR")]
        where_expr: Option<String>,
        /// Also write the report as one self-contained HTML file
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
        /// Replace the HTML file if it exists
        #[arg(long)]
        force: bool,
    },
    /// Run quality checks on a table: from a TOML rules file, or those saved with the table
    /// in the window; exits 1 when a check fails
    Check {
        table: String,
        /// The rules file ([[check]] entries; see the README)
        #[arg(long, value_name = "rules.toml")]
        rules: Option<PathBuf>,
        /// Only rows where this SQL condition holds
        #[arg(long = "where", value_name = "EXPR")]
        where_expr: Option<String>,
    },
    /// Remove duplicate rows by key columns (the whole row by default). Removed rows are
    /// always kept in a companion table `<table>_removed`; --dry-run changes nothing
    Dedupe {
        table: String,
        #[command(flatten)]
        options: dedupe::DedupeArgs,
    },
    /// Find near-duplicate values of a text column ("New York", "new york ", "NEW-YORK") and,
    /// with --apply, merge each cluster into its most frequent value (old values are kept in an
    /// undo table)
    Cluster {
        table: String,
        #[arg(long, value_name = "COL")]
        column: String,
        /// fingerprint, ngram, metaphone, double-metaphone, soundex, cologne, levenshtein or jaro-winkler
        #[arg(long, default_value = "fingerprint")]
        method: String,
        /// levenshtein: the largest edit distance (default 2; never more than a quarter of the length)
        #[arg(long, value_name = "N")]
        radius: Option<usize>,
        /// jaro-winkler: the least similarity, 0 to 1 (default 0.9)
        #[arg(long, value_name = "X")]
        threshold: Option<f64>,
        /// Merge every cluster into its most frequent value
        #[arg(long, conflicts_with = "undo")]
        apply: bool,
        /// Put back the values a merge changed, from its undo table
        #[arg(long, value_name = "UNDO_TABLE")]
        undo: Option<String>,
    },
    /// Find rows that are the same person (or thing) written differently, across several
    /// columns: set up from the columns, trained without labels, clustered; --into writes the
    /// rows with their cluster and the scored pairs
    Match {
        table: String,
        #[command(flatten)]
        options: matching::MatchArgs,
    },
    /// Rewrite the workspace file without its free space (dropped tables, failed imports)
    Compact,
    /// Open the window and import these files
    Open {
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Time import, scan, sorted paging, export and profiling on a generated CSV
    Bench(bench::BenchArgs),
    /// Import every file of a list, one JSON line each (used by the corpus sweep)
    #[command(hide = true)]
    SweepWorker(sweep::SweepArgs),
    /// Write what the installers ship beside the binary: man page, completions, desktop
    /// entry, metainfo and icons (used by dist/build.sh)
    #[command(hide = true)]
    PackageFiles(package_files::PackageFilesArgs),
}

pub fn workspace_path(args: &Args) -> anyhow::Result<PathBuf> {
    match &args.workspace {
        Some(p) => Ok(p.clone()),
        None => Ok(default_workspace_path()?),
    }
}

pub fn open_workspace(args: &Args) -> anyhow::Result<Arc<Workspace>> {
    let path = workspace_path(args)?;
    let ws = Arc::new(crate::engine::catalog::open_workspace(&path, EnvOverrides::from_env()?)?);
    let settings = ws.settings();
    progress::watch_memory(settings.memory_limit_bytes, settings.memory_warning_percent);
    Ok(ws)
}

/// How to read the files; everything not given is detected.
#[derive(clap::Args, Debug, Default)]
pub struct ImportArgs {
    /// Reader: csv, parquet, json, excel, arrow (default: from the name and first bytes)
    #[arg(long, value_name = "FORMAT", help_heading = "Reading")]
    pub format: Option<String>,
    /// Field delimiter, e.g. ',' ';' '|' '\t'
    #[arg(long, value_name = "CHAR", help_heading = "Reading")]
    pub delimiter: Option<String>,
    /// Quote character ('' for none)
    #[arg(long, value_name = "CHAR", help_heading = "Reading")]
    pub quote: Option<String>,
    /// Escape character
    #[arg(long, value_name = "CHAR", help_heading = "Reading")]
    pub escape: Option<String>,
    /// The first line (after --skip) holds column names
    #[arg(long, overrides_with = "no_header", help_heading = "Reading")]
    pub header: bool,
    /// The first line is data; columns are named column0, column1…
    #[arg(long, help_heading = "Reading")]
    pub no_header: bool,
    /// Lines (or sheet rows) to skip before the header
    #[arg(long, value_name = "N", help_heading = "Reading")]
    pub skip: Option<u64>,
    /// Lines starting with this are comments
    #[arg(long, value_name = "CHAR", help_heading = "Reading")]
    pub comment: Option<String>,
    /// A value read as NULL in every column (repeatable; replaces the NA defaults)
    #[arg(long = "null", value_name = "TEXT", help_heading = "Reading")]
    pub nulls: Vec<String>,
    /// Keep NA, N/A, NULL, null, NaN and nan as text (by default they are missing values in
    /// number and date columns)
    #[arg(long, help_heading = "Reading")]
    pub keep_na: bool,
    /// Date format, e.g. %d/%m/%Y
    #[arg(long, value_name = "FORMAT", help_heading = "Reading")]
    pub date_format: Option<String>,
    /// Timestamp format, e.g. '%d/%m/%Y %H:%M'
    #[arg(long, value_name = "FORMAT", help_heading = "Reading")]
    pub timestamp_format: Option<String>,
    /// Text encoding: utf-8, utf-16le, windows-1252, latin1, shift_jis… (default: detected)
    #[arg(long, value_name = "LABEL", help_heading = "Reading")]
    pub encoding: Option<String>,
    /// Excel sheet (default: the first)
    #[arg(long, value_name = "NAME", help_heading = "Reading", conflicts_with = "all_sheets")]
    pub sheet: Option<String>,
    /// Every sheet of each workbook, one table per sheet (named file_sheet)
    #[arg(long, help_heading = "Reading")]
    pub all_sheets: bool,
    /// Column types: col=TYPE,col2=TYPE
    #[arg(long, value_name = "COL=TYPE,...", help_heading = "Reading")]
    pub types: Option<String>,
    /// Bad lines or values: fail (keep nothing), skip (to a rejects table), text (keep the column as text)
    #[arg(long, value_name = "MODE", default_value = "fail", help_heading = "Reading")]
    pub on_error: String,
    /// Append to the existing table named by --table (columns matched by name)
    #[arg(long, requires = "table", help_heading = "Target")]
    pub append: bool,
    /// With --append: add columns the table does not have yet
    #[arg(long, requires = "append", help_heading = "Target")]
    pub add_columns: bool,
    /// With --append: when a value would not be stored exactly (2.5 in a whole-number column), widen the column's type to hold it instead of stopping
    #[arg(long, requires = "append", help_heading = "Target")]
    pub widen: bool,
    /// With --append: leave out rows the table already has (equal in --keys, else in every column)
    #[arg(long, requires = "append", help_heading = "Target")]
    pub skip_existing: bool,
    /// With --skip-existing: the columns that identify a row
    #[arg(long, value_name = "A,B,...", requires = "skip_existing", help_heading = "Target")]
    pub keys: Option<String>,
    /// Several files into one table, columns unioned by name, with a source_file column
    #[arg(long, help_heading = "Target")]
    pub union: bool,
    /// With --union: leave out the source_file column
    #[arg(long, requires = "union", help_heading = "Target")]
    pub no_source_column: bool,
    /// Schema the result must have before it lands: name[:TYPE][!],... (! = no empty values)
    #[arg(long, value_name = "SCHEMA", help_heading = "Target")]
    pub expect: Option<String>,
}

impl ImportArgs {
    pub fn to_options(&self, table: Option<String>) -> anyhow::Result<ImportOptions> {
        let unescape = |s: &String| if s == "\\t" || s == "tab" { "\t".to_string() } else { s.clone() };
        let mut o = ImportOptions::new();
        o.format = self.format.as_deref().map(FileFormat::parse).transpose()?;
        o.csv = CsvOptions {
            delimiter: self.delimiter.as_ref().map(unescape),
            quote: self.quote.clone(),
            escape: self.escape.clone(),
            header: if self.no_header { Some(false) } else if self.header { Some(true) } else { None },
            skip: self.skip,
            comment: self.comment.clone(),
            nulls: self.nulls.clone(),
            na_as_null: !self.keep_na,
            date_format: self.date_format.clone(),
            timestamp_format: self.timestamp_format.clone(),
        };
        if let Some(label) = &self.encoding {
            crate::engine::import::encoding::encoding_for_label(label)?;
        }
        o.encoding = self.encoding.clone();
        o.sheet = self.sheet.clone();
        o.types = self.types.as_deref().map(ImportOptions::parse_types).transpose()?.unwrap_or_default();
        o.on_error = OnError::parse(&self.on_error)?;
        o.table = table;
        o.append = self.append;
        o.add_columns = self.add_columns;
        o.widen = self.widen;
        o.skip_existing = self.skip_existing.then(|| self.keys.as_deref().map(split_list).unwrap_or_default());
        o.source_column = !self.no_source_column;
        o.expect = self.expect.as_deref().map(ExpectedColumn::parse_list).transpose()?.unwrap_or_default();
        Ok(o)
    }
}

/// Which rows of a table to export, in what order, with which columns.
#[derive(clap::Args, Debug, Default)]
pub struct ViewArgs {
    /// Only rows where this SQL condition holds, e.g. "price > 10 AND city = 'Oslo'"
    #[arg(long = "where", value_name = "EXPR", help_heading = "Rows")]
    pub where_expr: Option<String>,
    /// Columns to write, in this order (default: all)
    #[arg(long, value_name = "A,B,...", help_heading = "Rows")]
    pub columns: Option<String>,
    /// Order of the rows: COL[:desc],... (default: table order)
    #[arg(long, value_name = "COL[:desc],...", help_heading = "Rows")]
    pub sort: Option<String>,
}

impl ViewArgs {
    pub fn to_view(&self, source: Source) -> anyhow::Result<View> {
        let mut view = View::of(source);
        view.where_expr = self.where_expr.as_deref().map(WhereExpr::parse).transpose()?;
        view.columns = self.columns.as_deref().map(split_list);
        view.sort = self.sort.as_deref().map(SortKey::parse_list).transpose()?.unwrap_or_default();
        Ok(view)
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// How to write the file.
#[derive(clap::Args, Debug, Default)]
pub struct ExportArgs {
    /// parquet, csv, tsv, json, ndjson, arrow, arrow-stream or xlsx (default: from the file name)
    #[arg(long, value_name = "FORMAT", help_heading = "Output")]
    pub format: Option<String>,
    /// Parquet: zstd (default), snappy, gzip, lz4, brotli, none; CSV/TSV/JSON: gzip, zstd, none
    /// (default: from a .gz or .zst name); Arrow: zstd, lz4, none
    #[arg(long, value_name = "CODEC", help_heading = "Output")]
    pub compression: Option<String>,
    /// Compression level (Parquet zstd, 1-22)
    #[arg(long, value_name = "N", help_heading = "Output")]
    pub level: Option<i32>,
    /// Rows per Parquet row group (rounded up to a multiple of 2,048)
    #[arg(long, value_name = "N", help_heading = "Output")]
    pub row_group_size: Option<u64>,
    /// Parquet in hive-style folders by these columns (OUT is a folder)
    #[arg(long, value_name = "COL,...", conflicts_with = "partition_by_period", help_heading = "Output")]
    pub partition_by: Option<String>,
    /// Parquet in year=/month=/day= folders of a date or timestamp column (OUT is a folder)
    #[arg(long, value_name = "COL:year|month|day", help_heading = "Output")]
    pub partition_by_period: Option<String>,
    /// Target size of each file of a partitioned export, e.g. 256MB
    #[arg(long, value_name = "SIZE", help_heading = "Output")]
    pub file_size: Option<String>,
    /// CSV/TSV field delimiter (default ',' for CSV, tab for TSV)
    #[arg(long, value_name = "CHAR", help_heading = "Output")]
    pub delimiter: Option<String>,
    /// CSV/TSV quote character (default '"')
    #[arg(long, value_name = "CHAR", help_heading = "Output")]
    pub quote: Option<String>,
    /// CSV/TSV without a header line
    #[arg(long, help_heading = "Output")]
    pub no_header: bool,
    /// CSV/TSV text written for NULL (default: nothing)
    #[arg(long, value_name = "TEXT", help_heading = "Output")]
    pub null_text: Option<String>,
    /// CSV/TSV line ending: lf (default) or crlf
    #[arg(long, value_name = "lf|crlf", help_heading = "Output")]
    pub line_ending: Option<String>,
    /// CSV/TSV encoding: utf-8 (default), utf-8-bom (for Excel), utf-16le, windows-1252
    #[arg(long, value_name = "ENCODING", help_heading = "Output")]
    pub encoding: Option<String>,
    /// Replace the output if it exists
    #[arg(long, help_heading = "Output")]
    pub force: bool,
}

fn one_char(flag: &str, text: &str) -> anyhow::Result<char> {
    let text = if text == "\\t" || text.eq_ignore_ascii_case("tab") { "\t" } else { text };
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(EngineError::InvalidOption(format!("{flag} takes one character, not \"{text}\"")).into()),
    }
}

impl ExportArgs {
    pub fn to_options(&self) -> anyhow::Result<ExportOptions> {
        let mut o = ExportOptions {
            format: self.format.as_deref().map(ExportFormat::parse).transpose()?,
            compression: self.compression.as_deref().map(Codec::parse).transpose()?,
            level: self.level,
            row_group_size: self.row_group_size,
            overwrite: self.force,
            ..ExportOptions::default()
        };
        if let Some(columns) = &self.partition_by {
            o.partitioning = Partitioning::Columns(split_list(columns));
        }
        if let Some(period) = &self.partition_by_period {
            o.partitioning = Partitioning::parse_period(period)?;
        }
        if let Some(size) = &self.file_size {
            o.file_size_bytes = Some(crate::engine::config::parse_size(size).map_err(|e| EngineError::InvalidOption(format!("--file-size: {e}")))?);
        }
        if let Some(d) = &self.delimiter {
            o.csv.delimiter = Some(one_char("--delimiter", d)?);
        }
        if let Some(q) = &self.quote {
            o.csv.quote = one_char("--quote", q)?;
        }
        o.csv.header = !self.no_header;
        if let Some(n) = &self.null_text {
            o.csv.null_text = n.clone();
        }
        if let Some(l) = &self.line_ending {
            o.csv.line_ending = LineEnding::parse(l)?;
        }
        if let Some(e) = &self.encoding {
            o.csv.encoding = TextEncoding::parse(e)?;
        }
        Ok(o)
    }
}

/// What a command produced: its JSON result, the same for people, and the exit code.
struct Outcome {
    json: Value,
    text: String,
    code: i32,
}

/// Runs a CLI command and returns the process exit code.
pub fn run(args: Args) -> i32 {
    progress::install_ctrlc_handler();
    let json = args.json;
    JSON_OUTPUT.store(json, std::sync::atomic::Ordering::Relaxed);
    let outcome = match &args.command {
        Some(Command::Import { files, table, options }) => import(&args, files, table.clone(), options),
        Some(Command::Link { files, table, options }) => link(&args, files, table.clone(), options),
        Some(Command::Tables) => tables(&args),
        Some(Command::Compact) => compact(&args),
        Some(Command::Export { table, out, shape, options }) => export(&args, table, out, shape, options),
        Some(Command::Sql { sql: text, out, max_rows, sandbox, options }) => sql(&args, text, out.as_deref(), *max_rows, *sandbox, options),
        Some(Command::Dedupe { table, options }) => dedupe::dedupe(&args, table, options),
        Some(Command::Match { table, options }) => matching::run(&args, table, options),
        Some(Command::Cluster { table, column, method, radius, threshold, apply, undo }) => {
            dedupe::cluster(&args, table, column, method, *radius, *threshold, *apply, undo.as_deref())
        }
        Some(Command::Check { table, rules, where_expr }) => check(&args, table, rules.as_deref(), where_expr.as_deref()),
        Some(Command::Profile { table, columns, where_expr, html, force }) => profile(&args, table, columns.as_deref(), where_expr.as_deref(), html.as_deref(), *force),
        Some(Command::SweepWorker(a)) => open_workspace(&args)
            .and_then(|ws| sweep::run(ws, a))
            .map(|()| Outcome { json: Value::Null, text: String::new(), code: EXIT_OK }),
        Some(Command::Bench(b)) => bench::run(b).map(|(json, text)| Outcome { json, text, code: EXIT_OK }),
        Some(Command::PackageFiles(p)) => package_files::run(p).map(|text| Outcome { json: Value::Null, text, code: EXIT_OK }),
        Some(Command::Open { .. }) | None => Err(anyhow::anyhow!("no command to run headless")),
    };
    match outcome {
        Ok(outcome) if STREAM_ON_STDOUT.load(std::sync::atomic::Ordering::Relaxed) => {
            // Standard output carried the data: the report must not be mixed into it.
            if json {
                eprintln!("{}", outcome.json);
            }
            outcome.code
        }
        Ok(outcome) => {
            // A null report: the command wrote its JSON itself, as it streamed.
            let printed = if json && outcome.json.is_null() { String::new() } else if json { format!("{}\n", outcome.json) } else { outcome.text };
            match write_stdout(&printed) {
                // Like other Unix tools, a closed pipe (`| head`) is not an error.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("dataforge: writing the result: {e}");
                    EXIT_ERROR
                }
                _ => outcome.code,
            }
        }
        Err(err) => {
            let engine = err.downcast_ref::<EngineError>();
            let cancelled = engine.is_some_and(EngineError::is_cancelled);
            let usage = engine.is_some_and(EngineError::is_usage);
            eprintln!("dataforge: {err:#}");
            if json {
                let kind = err.downcast_ref::<EngineError>().map_or("error", EngineError::kind);
                let value = json!({"ok": false, "error": {"kind": kind, "message": format!("{err:#}")}});
                if STREAM_ON_STDOUT.load(std::sync::atomic::Ordering::Relaxed) {
                    eprintln!("{value}");
                } else {
                    let _ = write_stdout(&format!("{value}\n"));
                }
            }
            if cancelled {
                EXIT_CANCELLED
            } else if usage {
                EXIT_USAGE
            } else {
                EXIT_ERROR
            }
        }
    }
}

fn write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

fn metrics_json(snap: &JobSnapshot) -> Value {
    serde_json::to_value(&snap.metrics).unwrap_or(Value::Null)
}

fn import(args: &Args, files: &[PathBuf], table: Option<String>, import_args: &ImportArgs) -> anyhow::Result<Outcome> {
    let options = import_args.to_options(table.clone())?;
    // One table per file unless --union or --append; a zip's members count as files.
    let batches: Vec<Vec<PathBuf>> = if import_args.union || options.append {
        vec![files.to_vec()]
    } else {
        split_archives(files)?.into_iter().map(|f| vec![f]).collect()
    };
    // --all-sheets: each workbook once per sheet.
    let mut jobs: Vec<(Vec<PathBuf>, ImportOptions)> = Vec::new();
    for batch in batches {
        let sheets = match batch.as_slice() {
            [one] if import_args.all_sheets && FileFormat::detect(one).ok() == Some(FileFormat::Excel) => {
                crate::engine::import::excel::worksheet_names(one)?
            }
            _ => Vec::new(),
        };
        if sheets.is_empty() {
            jobs.push((batch, options.clone()));
            continue;
        }
        for sheet in sheets {
            let per_sheet = ImportOptions { sheet: Some(sheet), name_by_sheet: true, ..options.clone() };
            jobs.push((batch.clone(), per_sheet));
        }
    }
    if table.is_some() && jobs.len() > 1 && !options.append {
        anyhow::bail!("--table names one table; import one file at a time when naming it, or use --union");
    }
    let ws = open_workspace(args)?;
    let mut done = PerFile::default();
    for (batch, options) in jobs {
        if progress::is_interrupted() {
            return Err(EngineError::Cancelled.into());
        }
        let mut shown = batch.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ");
        if options.name_by_sheet {
            shown.push_str(&format!(" [{}]", options.sheet.clone().unwrap_or_default()));
        }
        let job = ImportJob::with_options(ws.clone(), batch.clone(), options);
        let (result, snap) = progress::wait(spawn(job, no_waker()));
        match result {
            Ok(report) => {
                let verb = if report.appended { "appended" } else { "imported" };
                let mut text = format!(
                    "{verb} {shown} → table \"{}\": {} × {} columns in {:.2}s\n",
                    report.table,
                    rows_text(report.rows),
                    report.columns,
                    snap.metrics.duration_secs
                );
                for notice in &report.notices {
                    text.push_str(&format!("  note: {notice}\n"));
                }
                if let Some(rejects) = &report.rejects {
                    text.push_str(&format!("  {} lines rejected → table \"{}\"\n", group_digits(rejects.rows), rejects.table));
                }
                done.succeeded(&shown, &report, &snap, text);
            }
            // With --all-sheets an empty sheet is nothing to import, not a failure.
            Err(EngineError::EmptySheet { .. }) if import_args.all_sheets => {
                done.text.push_str(&format!("skipped {shown}: the sheet is empty\n"));
            }
            Err(err) => done.failed(&shown, err, &snap)?,
        }
    }
    Ok(done.outcome("import", "imports"))
}

fn link(args: &Args, files: &[PathBuf], table: Option<String>, import_args: &ImportArgs) -> anyhow::Result<Outcome> {
    if table.is_some() && files.len() > 1 {
        anyhow::bail!("--table names one file; link one file at a time when naming it");
    }
    let options = import_args.to_options(table)?;
    let ws = open_workspace(args)?;
    let mut done = PerFile::default();
    for file in files {
        if progress::is_interrupted() {
            return Err(EngineError::Cancelled.into());
        }
        let shown = file.display().to_string();
        let (result, snap) = progress::wait(spawn(LinkJob::new(ws.clone(), file, options.clone()), no_waker()));
        match result {
            Ok(report) => {
                let mut text = format!(
                    "opened {shown} in place → \"{}\": {} × {} columns in {:.2}s\n",
                    report.table,
                    report.rows.map_or_else(|| "rows not yet counted".to_string(), rows_text),
                    report.columns,
                    snap.metrics.duration_secs
                );
                for notice in &report.notices {
                    text.push_str(&format!("  note: {notice}\n"));
                }
                done.succeeded(&shown, &report, &snap, text);
            }
            Err(err) => done.failed(&shown, err, &snap)?,
        }
    }
    Ok(done.outcome("link", "links"))
}

/// What a command that runs one job per file collects: a JSON entry and text per file.
#[derive(Default)]
struct PerFile {
    results: Vec<Value>,
    text: String,
    failures: usize,
}

impl PerFile {
    fn succeeded(&mut self, file: &str, report: &impl serde::Serialize, snap: &JobSnapshot, text: String) {
        self.text.push_str(&text);
        self.results.push(json!({"ok": true, "file": file, "report": report, "metrics": metrics_json(snap)}));
    }

    /// Records a failed file; a cancel ends the whole command.
    fn failed(&mut self, file: &str, err: EngineError, snap: &JobSnapshot) -> anyhow::Result<()> {
        if err.is_cancelled() {
            return Err(err.into());
        }
        self.failures += 1;
        eprintln!("dataforge: {err}");
        self.results.push(json!({"ok": false, "file": file, "error": {"kind": err.kind(), "message": err.to_string()}, "metrics": metrics_json(snap)}));
        Ok(())
    }

    fn outcome(self, command: &str, key: &str) -> Outcome {
        let ok = self.failures == 0;
        Outcome {
            json: json!({"ok": ok, "command": command, key: self.results}),
            text: self.text,
            code: if ok { EXIT_OK } else { EXIT_ERROR },
        }
    }
}

fn tables(args: &Args) -> anyhow::Result<Outcome> {
    let ws = open_workspace(args)?;
    let tables = ws.tables()?;
    let mut text = String::new();
    if tables.is_empty() {
        text.push_str(&format!("no tables in {}\n", ws.path().display()));
    } else {
        let width = tables.iter().map(|t| t.name.chars().count()).max().unwrap_or(4).max(4);
        text.push_str(&format!("{:<width$}  {:>12}  {:>7}\n", "name", "rows", "columns"));
        for t in &tables {
            text.push_str(&format!("{:<width$}  {:>12}  {:>7}\n", t.name, group_digits(t.rows), t.columns));
        }
    }
    Ok(Outcome {
        json: json!({"ok": true, "command": "tables", "workspace": ws.path(), "tables": tables}),
        text,
        code: EXIT_OK,
    })
}

fn compact(args: &Args) -> anyhow::Result<Outcome> {
    let ws = open_workspace(args)?;
    let report = ws.compact(&mut |_| Ok(()))?;
    let text = format!(
        "compacted {}: {} → {} (freed {})\n",
        ws.path().display(),
        format_bytes(report.bytes_before),
        format_bytes(report.bytes_after),
        format_bytes(report.freed_bytes())
    );
    Ok(Outcome { json: json!({"ok": true, "command": "compact", "report": report}), text, code: EXIT_OK })
}

fn export(args: &Args, table: &str, out: &Path, shape: &ViewArgs, export_args: &ExportArgs) -> anyhow::Result<Outcome> {
    let view = shape.to_view(Source::Table(table.to_string()))?;
    let options = export_args.to_options()?;
    let ws = open_workspace(args)?;
    export_view(&ws, view, out, options, "export")
}

fn export_view(ws: &Arc<Workspace>, view: View, out: &Path, options: ExportOptions, command: &str) -> anyhow::Result<Outcome> {
    if out.as_os_str() == STDOUT {
        STREAM_ON_STDOUT.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let (result, snap) = progress::wait(spawn(ExportJob::new(ws.clone(), view, out, options), no_waker()));
    let report = result?;
    let mut text = format!(
        "exported {} → {}: {}, {}{} in {:.2}s\n",
        report.source,
        report.path.display(),
        rows_text(report.rows),
        format_bytes(report.bytes),
        if report.files > 1 { format!(" in {} files", group_digits(report.files)) } else { String::new() },
        snap.metrics.duration_secs
    );
    for note in &report.notes {
        text.push_str(&format!("  note: {note}\n"));
    }
    // The stream itself went to stdout: the summary goes to stderr.
    if report.path.as_os_str() == STDOUT {
        if !args_json_requested() {
            eprint!("{text}");
        }
        text.clear();
    }
    Ok(Outcome {
        json: json!({"ok": true, "command": command, "report": report, "metrics": metrics_json(&snap)}),
        text,
        code: EXIT_OK,
    })
}

fn profile(args: &Args, table: &str, columns: Option<&str>, where_expr: Option<&str>, html: Option<&Path>, force: bool) -> anyhow::Result<Outcome> {
    use crate::engine::profile::{ProfileJob, ProfileOptions, report};
    if let Some(out) = html.filter(|p| p.exists() && !force) {
        return Err(EngineError::OutputExists(out.to_path_buf()).into());
    }
    let ws = open_workspace(args)?;
    let mut view = View::table(table);
    view.where_expr = where_expr.map(WhereExpr::parse).transpose()?;
    let options = ProfileOptions { columns: columns.map(split_list), ..Default::default() };
    let (result, snap) = progress::wait(spawn(ProfileJob { workspace: ws, view, options, on_column: None }, no_waker()));
    let profile = result?;
    let mut text = report::to_text(&profile);
    if let Some(out) = html {
        crate::engine::export::write_file_atomically(out, report::to_html(&profile).as_bytes())?;
        text.push_str(&format!("report written to {}\n", out.display()));
    }
    Ok(Outcome { json: json!({"ok": true, "command": "profile", "profile": profile, "metrics": metrics_json(&snap)}), text, code: EXIT_OK })
}

fn check(args: &Args, table: &str, rules: Option<&Path>, where_expr: Option<&str>) -> anyhow::Result<Outcome> {
    use crate::engine::checks::{self, CheckJob};
    let ws = open_workspace(args)?;
    let list = match rules {
        Some(path) => checks::parse_rules(path)?,
        None => checks::load(&*ws.connect()?, table)?,
    };
    if list.is_empty() {
        return Err(EngineError::InvalidOption(format!("{table} has no saved checks; give a rules file with --rules")).into());
    }
    let mut view = View::table(table);
    view.where_expr = where_expr.map(WhereExpr::parse).transpose()?;
    let (result, snap) = progress::wait(spawn(CheckJob { workspace: ws, view, checks: list }, no_waker()));
    let results = result?;
    let failed = results.iter().filter(|r| !r.passed).count();
    let mut text = String::new();
    for r in &results {
        if r.passed {
            text.push_str(&format!("pass  {}\n", r.description));
        } else {
            text.push_str(&format!("FAIL  {}: {} rows ({:.2} %)\n", r.description, group_digits(r.failing), r.failing_pct));
            for example in &r.examples {
                let cells: Vec<String> = example.iter().map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("NULL"))).collect();
                text.push_str(&format!("        {}\n", cells.join(", ")));
            }
        }
    }
    text.push_str(&format!("{} of {} checks passed\n", results.len() - failed, results.len()));
    Ok(Outcome {
        json: json!({"ok": failed == 0, "command": "check", "table": table, "checks": results, "failed": failed, "metrics": metrics_json(&snap)}),
        text,
        code: if failed == 0 { EXIT_OK } else { EXIT_ERROR },
    })
}

/// Set when an export writes its data to standard output: reports then go to stderr.
static STREAM_ON_STDOUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set once `--json` is parsed, for messages that must not mix with a stream on stdout.
static JSON_OUTPUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn args_json_requested() -> bool {
    JSON_OUTPUT.load(std::sync::atomic::Ordering::Relaxed)
}

fn sql(args: &Args, text: &str, out: Option<&Path>, max_rows: Option<u64>, sandbox: bool, export_args: &ExportArgs) -> anyhow::Result<Outcome> {
    let ws = open_workspace(args)?;
    let access = if sandbox { SqlAccess::of(&ws) } else { SqlAccess::Unrestricted };
    let statements = crate::engine::lexer::statements(text);
    let Some(last) = statements.last() else {
        return Err(EngineError::InvalidOption("no SQL statement to run".into()).into());
    };
    let last_sql = &text[last.clone()];
    if let Some(out) = out {
        if !crate::engine::console::returns_rows(last_sql) {
            return Err(EngineError::InvalidOption("--out writes the rows of a query; the last statement is not one".into()).into());
        }
        // One query is exported as it runs; after other statements (temporary tables, …) its
        // rows are kept first, on the same connection, then exported.
        if statements.len() == 1 {
            crate::engine::console::vet(&ws, last_sql, &access)?;
            return export_view(&ws, View::of(Source::Query(last_sql.to_string())), out, export_args.to_options()?, "sql");
        }
        let (result, _) = progress::wait(spawn(RunSql::script(ws.clone(), text, access), no_waker()));
        let result = result?.result.ok_or_else(|| EngineError::Internal("the query kept no rows".into()))?;
        let exported = export_view(&ws, View::of(result.source()), out, export_args.to_options()?, "sql");
        crate::engine::console::drop_result(&*ws.connect()?, &result);
        return exported;
    }
    let run = RunSql::script(ws.clone(), text, access);
    let (result, snap) = progress::wait(spawn(run, no_waker()));
    let outcome = result?;
    let Some(result) = &outcome.result else {
        return Ok(Outcome {
            json: json!({"ok": true, "command": "sql", "message": outcome.message, "rows": [], "row_count": null, "metrics": metrics_json(&snap)}),
            text: format!("{}\n", outcome.message),
            code: EXIT_OK,
        });
    };
    // The rows go out as they are read: a result larger than memory prints like a small one.
    let conn = ws.connect()?;
    let limit = max_rows.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let printed = if args.json {
        print_rows_json(&conn, result, limit, &mut out, &json!({"ok": true, "command": "sql", "message": outcome.message, "row_count": result.rows, "metrics": metrics_json(&snap)}))
    } else {
        print_rows_text(&conn, result, limit, &mut out)
    };
    crate::engine::console::drop_result(&conn, result);
    let shown = match printed {
        Ok(shown) => shown,
        // Like other Unix tools, a closed pipe (`| head`) is not an error.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => return Ok(Outcome { json: Value::Null, text: String::new(), code: EXIT_OK }),
        Err(e) => return Err(e),
    };
    let footer = if args.json {
        String::new()
    } else if result.rows > shown {
        format!("({} of {} shown)\n", group_digits(shown), rows_text(result.rows))
    } else {
        format!("({})\n", rows_text(result.rows))
    };
    Ok(Outcome { json: Value::Null, text: footer, code: EXIT_OK })
}

/// Rows of a result as an aligned table: widths from the first rows, then every row streamed.
fn print_rows_text(conn: &duckdb::Connection, result: &crate::engine::console::ResultTable, limit: u64, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
    const MEASURED_ROWS: usize = 1000;
    let mut first: Vec<Vec<Option<String>>> = Vec::new();
    let mut columns = Vec::new();
    let mut widths: Option<Vec<usize>> = None;
    let mut shown = 0u64;
    let write_row = |widths: &[usize], columns: &[crate::engine::workspace::ColumnInfo], row: &[Option<String>], out: &mut dyn std::io::Write| -> std::io::Result<()> {
        let cells: Vec<String> = row.iter().map(|v| v.as_deref().map_or_else(|| "NULL".to_string(), |s| s.replace(['\n', '\r', '\t'], " "))).collect();
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .zip(columns)
            .map(|((v, &w), c)| {
                let v = if v.chars().count() > w { format!("{}…", v.chars().take(w.saturating_sub(1)).collect::<String>()) } else { v.clone() };
                if c.kind.is_numeric() { format!("{v:>w$}") } else { format!("{v:<w$}") }
            })
            .collect();
        writeln!(out, "{}", parts.join("  ").trim_end())
    };
    let cols = crate::engine::console::for_each_result_row(conn, result, limit, |cols, row| {
        shown += 1;
        match &mut widths {
            Some(w) => {
                // A wider value further down widens its column from there on rather than being cut.
                widen(w, row);
                write_row(w, cols, row, out).map_err(|e| crate::engine::EngineError::Io { path: "stdout".into(), source: e })
            }
            None => {
                first.push(row.to_vec());
                if first.len() == MEASURED_ROWS {
                    columns = cols.to_vec();
                    let w = measure(cols, &first);
                    write_header(&w, cols, out).and_then(|()| first.drain(..).try_for_each(|r| write_row(&w, cols, &r, out))).map_err(|e| crate::engine::EngineError::Io { path: "stdout".into(), source: e })?;
                    widths = Some(w);
                }
                Ok(())
            }
        }
    })?;
    if widths.is_none() {
        let w = measure(&cols, &first);
        write_header(&w, &cols, out)?;
        for r in &first {
            write_row(&w, &cols, r, out)?;
        }
    }
    let _ = columns;
    out.flush()?;
    Ok(shown)
}

const MAX_WIDTH: usize = 60;

/// Column widths that fit the names and `rows`, at most 60 characters.
fn measure(columns: &[crate::engine::workspace::ColumnInfo], rows: &[Vec<Option<String>>]) -> Vec<usize> {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.name.chars().count().min(MAX_WIDTH)).collect();
    for row in rows {
        widen(&mut widths, row);
    }
    widths
}

/// Widens `widths` to fit `row`, up to 60 characters.
fn widen(widths: &mut [usize], row: &[Option<String>]) {
    for (w, cell) in widths.iter_mut().zip(row) {
        *w = (*w).max(cell.as_deref().map_or(4, |s| s.chars().count()).min(MAX_WIDTH));
    }
}

fn write_header(widths: &[usize], columns: &[crate::engine::workspace::ColumnInfo], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let names: Vec<String> = columns
        .iter()
        .zip(widths)
        .map(|(c, &w)| {
            let name = if c.name.chars().count() > w { format!("{}…", c.name.chars().take(w.saturating_sub(1)).collect::<String>()) } else { c.name.clone() };
            format!("{name:<w$}")
        })
        .collect();
    writeln!(out, "{}", names.join("  ").trim_end())?;
    let rules: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
    writeln!(out, "{}", rules.join("  "))
}

/// Rows of a result inside the command's JSON report, written as they are read.
fn print_rows_json(conn: &duckdb::Connection, result: &crate::engine::console::ResultTable, limit: u64, out: &mut impl std::io::Write, report: &Value) -> anyhow::Result<u64> {
    let mut head = report.to_string();
    head.pop();
    write!(out, "{head},\"rows\":[")?;
    let mut shown = 0u64;
    crate::engine::console::for_each_result_row(conn, result, limit, |cols, row| {
        let object: serde_json::Map<String, Value> = cols.iter().zip(row).map(|(c, v)| (c.name.clone(), v.clone().map_or(Value::Null, Value::String))).collect();
        let sep = if shown == 0 { "" } else { "," };
        shown += 1;
        write!(out, "{sep}{}", Value::Object(object)).map_err(|e| crate::engine::EngineError::Io { path: "stdout".into(), source: e })
    })?;
    writeln!(out, "]}}")?;
    out.flush()?;
    Ok(shown)
}
