//! The headless front end: `dataforge <command>`. Arguments are parsed by clap, each
//! command runs the same engine jobs the GUI runs, and [`run`] maps every outcome to one
//! exit code: 0 ok, 1 error, 2 usage, 130 cancelled by Ctrl+C.

mod bench;
pub use bench::generate_csv;
pub mod progress;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::engine::config::{EnvOverrides, default_workspace_path};
use crate::engine::export::{ExportJob, SortKey};
use crate::engine::import::ImportJob;
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
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Table name (only with a single file; default: derived from the file name)
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
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
    /// Open the window and import these files
    Open {
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Time import, scan, sorted paging and export on a generated CSV
    Bench(bench::BenchArgs),
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
        Some(Command::Import { files, table }) => import(&args, files, table.clone()),
        Some(Command::Tables) => tables(&args),
        Some(Command::Export { table, out, sort, desc }) => export(&args, table, out, sort.clone(), *desc),
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
            let cancelled = err.downcast_ref::<EngineError>().is_some_and(EngineError::is_cancelled);
            eprintln!("dataforge: {err:#}");
            if json {
                let kind = err.downcast_ref::<EngineError>().map_or("error", EngineError::kind);
                let value = json!({"ok": false, "error": {"kind": kind, "message": format!("{err:#}")}});
                let _ = write_stdout(&format!("{value}\n"));
            }
            if cancelled { EXIT_CANCELLED } else { EXIT_ERROR }
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

fn import(args: &Args, files: &[PathBuf], table: Option<String>) -> anyhow::Result<Outcome> {
    if table.is_some() && files.len() > 1 {
        anyhow::bail!("--table names one table; import one file at a time when naming it");
    }
    let ws = open_workspace(args)?;
    let mut results = Vec::new();
    let mut text = String::new();
    let mut failed = 0;
    for file in files {
        if progress::is_interrupted() {
            return Err(EngineError::Cancelled.into());
        }
        let (result, snap) = progress::wait(spawn(ImportJob::new(ws.clone(), file, table.clone()), no_waker()));
        match result {
            Ok(report) => {
                text.push_str(&format!(
                    "imported {} → table \"{}\": {} rows × {} columns in {:.2}s\n",
                    file.display(),
                    report.table,
                    report.rows,
                    report.columns,
                    snap.metrics.duration_secs
                ));
                results.push(json!({"ok": true, "file": file, "report": report, "metrics": metrics_json(&snap)}));
            }
            Err(EngineError::Cancelled) => return Err(EngineError::Cancelled.into()),
            Err(err) => {
                failed += 1;
                eprintln!("dataforge: {err}");
                results.push(json!({"ok": false, "file": file, "error": {"kind": err.kind(), "message": err.to_string()}, "metrics": metrics_json(&snap)}));
            }
        }
    }
    Ok(Outcome {
        json: json!({"ok": failed == 0, "command": "import", "imports": results}),
        text,
        code: if failed == 0 { EXIT_OK } else { EXIT_ERROR },
    })
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
            text.push_str(&format!("{:<width$}  {:>12}  {:>7}\n", t.name, t.rows, t.columns));
        }
    }
    Ok(Outcome {
        json: json!({"ok": true, "command": "tables", "workspace": ws.path(), "tables": tables}),
        text,
        code: EXIT_OK,
    })
}

fn export(args: &Args, table: &str, out: &PathBuf, sort: Option<String>, desc: bool) -> anyhow::Result<Outcome> {
    let ws = open_workspace(args)?;
    let sort = sort.map(|column| SortKey { column, descending: desc });
    let (result, snap) = progress::wait(spawn(ExportJob::new(ws, table, sort, out), no_waker()));
    let report = result?;
    let text = format!(
        "exported table \"{}\" → {}: {} rows, {} in {:.2}s\n",
        report.table,
        report.path.display(),
        report.rows,
        crate::engine::config::format_bytes(report.bytes),
        snap.metrics.duration_secs
    );
    Ok(Outcome {
        json: json!({"ok": true, "command": "export", "report": report, "metrics": metrics_json(&snap)}),
        text,
        code: EXIT_OK,
    })
}
