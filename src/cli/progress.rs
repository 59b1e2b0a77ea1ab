//! Waits for a job in the terminal: a progress bar on stderr when it is a terminal, Ctrl+C
//! turned into a clean cancel.

use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::config::format_bytes;
use crate::engine::job::{JobWatch, JobHandle, JobSnapshot};
use crate::engine::Result;

/// The job Ctrl+C should cancel, and whether Ctrl+C was pressed.
struct Interrupts {
    current: Mutex<Option<JobWatch>>,
    is_interrupted: std::sync::atomic::AtomicBool,
}

static INTERRUPTS: OnceLock<Arc<Interrupts>> = OnceLock::new();

/// The workspace's memory limit and warning share, for the warning jobs print.
static MEMORY_WATCH: OnceLock<(u64, u8)> = OnceLock::new();

pub fn watch_memory(limit_bytes: u64, percent: u8) {
    let _ = MEMORY_WATCH.set((limit_bytes, percent));
}

/// Samples memory while a job runs and says once, on stderr, when it is under pressure.
struct MemoryWatch {
    system: sysinfo::System,
    last: std::time::Instant,
    warned: bool,
}

impl MemoryWatch {
    fn new() -> Self {
        // The first look comes at once.
        let last = std::time::Instant::now().checked_sub(Duration::from_secs(1)).unwrap_or_else(std::time::Instant::now);
        Self { system: sysinfo::System::new(), last, warned: false }
    }

    fn check(&mut self, title: &str) -> Option<String> {
        let &(limit, percent) = MEMORY_WATCH.get()?;
        if self.warned || self.last.elapsed() < Duration::from_millis(500) {
            return None;
        }
        self.last = std::time::Instant::now();
        self.system.refresh_memory();
        let sample = crate::engine::monitor::MemorySample {
            at_secs: 0.0,
            rss_bytes: crate::engine::job::memory::process_rss_bytes(),
            duckdb_bytes: 0,
            available_bytes: self.system.available_memory(),
            total_bytes: self.system.total_memory(),
        };
        let reason = crate::engine::monitor::pressure(&sample, limit, percent)?;
        self.warned = true;
        Some(format!("dataforge: memory warning: {reason} while \"{title}\" runs; Ctrl+C cancels it"))
    }
}

fn interrupts() -> &'static Arc<Interrupts> {
    INTERRUPTS.get_or_init(|| {
        let state = Arc::new(Interrupts {
            current: Mutex::new(None),
            is_interrupted: std::sync::atomic::AtomicBool::new(false),
        });
        let handler_state = state.clone();
        let _ = ctrlc::set_handler(move || {
            handler_state.is_interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
            if let Ok(current) = handler_state.current.lock() {
                if let Some(c) = current.as_ref() {
                    c.cancel();
                }
            }
        });
        state
    })
}

/// Installs the Ctrl+C handler; call before any work starts so no signal is missed.
pub fn install_ctrlc_handler() {
    interrupts();
}

pub fn is_interrupted() -> bool {
    interrupts().is_interrupted.load(std::sync::atomic::Ordering::SeqCst)
}

/// Runs `handle` to completion, drawing progress; returns its result and final snapshot.
pub fn wait<T>(mut handle: JobHandle<T>) -> (Result<T>, JobSnapshot) {
    let state = interrupts();
    if let Ok(mut current) = state.current.lock() {
        *current = Some(handle.watch());
    }
    if is_interrupted() {
        handle.cancel();
    }
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(handle.title().to_string());
    let mut memory = MemoryWatch::new();
    let result = loop {
        if let Some(warning) = memory.check(&handle.title()) {
            bar.suspend(|| eprintln!("{warning}"));
        }
        let snap = handle.snapshot();
        if let Some(f) = snap.progress.fraction {
            bar.set_position((f * 1000.0) as u64);
        }
        bar.set_message(status_line(&snap));
        if let Some(result) = handle.take_result_within(Duration::from_millis(100)) {
            break result;
        }
    };
    bar.finish_and_clear();
    if let Ok(mut current) = state.current.lock() {
        *current = None;
    }
    (result, handle.snapshot())
}

pub fn status_line(snap: &JobSnapshot) -> String {
    let p = &snap.progress;
    let mut parts = vec![p.phase.clone()];
    if p.bytes_done > 0 {
        match p.bytes_total {
            Some(total) => parts.push(format!("{} of {}", format_bytes(p.bytes_done), format_bytes(total))),
            None => parts.push(format_bytes(p.bytes_done)),
        }
    }
    if p.rows_done > 0 {
        let approx = if p.rows_total_estimate.is_some() { "≈ " } else { "" };
        parts.push(format!("{approx}{} rows", p.rows_done));
    }
    if snap.metrics.mb_per_sec > 0.0 {
        parts.push(format!("{:.1} MB/s", snap.metrics.mb_per_sec));
    }
    if let Some(eta) = snap.eta() {
        parts.push(format!("ETA {}s", eta.as_secs()));
    }
    parts.retain(|s| !s.is_empty());
    parts.join(" · ")
}
