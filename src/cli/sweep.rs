//! `dataforge sweep-worker`: imports each file of a list in turn and prints one JSON line per
//! file, so a supervising process (the corpus sweep test) can enforce time and memory limits
//! from outside and restart the worker after anything that kills it.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::engine::import::ImportJob;
use crate::engine::job::{no_waker, spawn};
use crate::engine::{EngineError, Workspace};

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// File with one path per line
    #[arg(long, value_name = "FILE")]
    pub list: PathBuf,
    /// Seconds before an import is cancelled
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

pub fn run(ws: std::sync::Arc<Workspace>, args: &SweepArgs) -> anyhow::Result<()> {
    let list = std::fs::File::open(&args.list)?;
    let mut out = std::io::stdout().lock();
    for line in std::io::BufReader::new(list).lines() {
        let path = PathBuf::from(line?);
        writeln!(out, "{}", json!({"start": path}))?;
        out.flush()?;
        let mut handle = spawn(ImportJob::new(ws.clone(), &path, Some("sweep".into())), no_waker());
        let canceller = handle.watch();
        let deadline = std::time::Instant::now() + Duration::from_secs(args.timeout);
        let result = loop {
            if let Some(result) = handle.take_result() {
                break result;
            }
            if std::time::Instant::now() > deadline {
                canceller.cancel();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let line = match &result {
            Ok(r) => json!({"file": path, "ok": true, "rows": r.rows, "columns": r.columns, "notices": r.notices}),
            Err(EngineError::Cancelled) => json!({"file": path, "ok": false, "kind": "timeout", "message": "cancelled after the time limit"}),
            Err(e) => json!({"file": path, "ok": false, "kind": e.kind(), "message": e.to_string()}),
        };
        writeln!(out, "{line}")?;
        out.flush()?;
        for table in ["sweep", "sweep_rejects"] {
            let _ = crate::engine::catalog::drop_table(&ws, table);
        }
    }
    Ok(())
}
