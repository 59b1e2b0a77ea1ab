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
    let result = loop {
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
