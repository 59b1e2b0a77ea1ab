//! The headless front end: `dataforge <command>`. Arguments are parsed by clap, each
//! command runs the same engine jobs the GUI runs, and [`run`] maps every outcome to one
//! exit code: 0 ok, 1 error, 2 usage, 130 cancelled by Ctrl+C.

mod bench;
mod sweep;
pub use bench::generate_csv;
pub mod progress;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::engine::config::{EnvOverrides, default_workspace_path, format_bytes, group_digits, rows_text};
use crate::engine::export::ExportJob;
use crate::engine::sql::SortKey;
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
    /// Export a table to Parquet (zstd) or CSV, chosen by the file extension
    Export {
        table: String,
        #[arg(value_name = "OUT")]
        out: PathBuf,
        /// Write rows ordered by this column
        #[arg(long, value_name = "COLUMN")]
        sort: Option<String>,
        /// Sort descending
        #[arg(long, requires = "sort")]
        desc: bool,
    },
    /// Rewrite the workspace file without its free space (dropped tables, failed imports)
    Compact,
    /// Open the window and import these files
    Open {
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Time import, scan, sorted paging and export on a generated CSV
    Bench(bench::BenchArgs),
    /// Import every file of a list, one JSON line each (used by the corpus sweep)
    #[command(hide = true)]
    SweepWorker(sweep::SweepArgs),
}

pub fn workspace_path(args: &Args) -> anyhow::Result<PathBuf> {
    match &args.workspace {
        Some(p) => Ok(p.clone()),
        None => Ok(default_workspace_path()?),
    }
}

pub fn open_workspace(args: &Args) -> anyhow::Result<Arc<Workspace>> {
    let path = workspace_path(args)?;
    Ok(Arc::new(Workspace::open(&path, EnvOverrides::from_env()?)?))
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
        o.source_column = !self.no_source_column;
        o.expect = self.expect.as_deref().map(ExpectedColumn::parse_list).transpose()?.unwrap_or_default();
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
    let outcome = match &args.command {
        Some(Command::Import { files, table, options }) => import(&args, files, table.clone(), options),
        Some(Command::Link { files, table, options }) => link(&args, files, table.clone(), options),
        Some(Command::Tables) => tables(&args),
        Some(Command::Compact) => compact(&args),
        Some(Command::Export { table, out, sort, desc }) => export(&args, table, out, sort.clone(), *desc),
        Some(Command::SweepWorker(a)) => open_workspace(&args)
            .and_then(|ws| sweep::run(ws, a))
            .map(|()| Outcome { json: Value::Null, text: String::new(), code: EXIT_OK }),
        Some(Command::Bench(b)) => bench::run(b).map(|(json, text)| Outcome { json, text, code: EXIT_OK }),
        Some(Command::Open { .. }) | None => Err(anyhow::anyhow!("no command to run headless")),
    };
    match outcome {
        Ok(outcome) => {
            let printed = if json { format!("{}\n", outcome.json) } else { outcome.text };
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
                let _ = write_stdout(&format!("{value}\n"));
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
    let report = ws.compact(None)?;
    let text = format!(
        "compacted {}: {} → {} (freed {})\n",
        ws.path().display(),
        format_bytes(report.bytes_before),
        format_bytes(report.bytes_after),
        format_bytes(report.freed_bytes())
    );
    Ok(Outcome { json: json!({"ok": true, "command": "compact", "report": report}), text, code: EXIT_OK })
}

fn export(args: &Args, table: &str, out: &PathBuf, sort: Option<String>, desc: bool) -> anyhow::Result<Outcome> {
    let ws = open_workspace(args)?;
    let sort = sort.map(|column| SortKey { column, descending: desc });
    let (result, snap) = progress::wait(spawn(ExportJob::new(ws, table, sort, out), no_waker()));
    let report = result?;
    let text = format!(
        "exported table \"{}\" → {}: {}, {} in {:.2}s\n",
        report.table,
        report.path.display(),
        rows_text(report.rows),
        crate::engine::config::format_bytes(report.bytes),
        snap.metrics.duration_secs
    );
    Ok(Outcome {
        json: json!({"ok": true, "command": "export", "report": report, "metrics": metrics_json(&snap)}),
        text,
        code: EXIT_OK,
    })
}
