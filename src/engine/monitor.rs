//! The memory graph's data: process RSS and DuckDB's buffer memory, sampled on a thread of
//! its own with its own connection. Samples are kept for ten minutes; the window is woken
//! only when a figure it shows changes, so an idle window stays idle.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::format_bytes;
use super::job::Waker;
use super::job::memory::process_rss_bytes;
use super::workspace::{WsConnection, duckdb_memory_bytes};

/// One reading of the memory graph.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemorySample {
    /// Seconds since the monitor started.
    pub at_secs: f64,
    pub rss_bytes: u64,
    pub duckdb_bytes: u64,
    /// The machine's memory still available to programs, and all of it.
    pub available_bytes: u64,
    pub total_bytes: u64,
}

/// What is wrong with memory, in words, or `None`: the process past `percent` of its
/// `limit`, or the machine with less than a tenth of its memory available.
pub fn pressure(sample: &MemorySample, limit: u64, percent: u8) -> Option<String> {
    let threshold = limit / 100 * u64::from(percent);
    if sample.rss_bytes > threshold {
        return Some(format!(
            "the process uses {}, more than {percent} % of its memory limit of {}",
            format_bytes(sample.rss_bytes),
            format_bytes(limit)
        ));
    }
    if sample.total_bytes > 0 && sample.available_bytes < sample.total_bytes / 10 {
        return Some(format!(
            "the machine has only {} of {} memory left",
            format_bytes(sample.available_bytes),
            format_bytes(sample.total_bytes)
        ));
    }
    None
}

pub struct MemoryMonitor {
    samples: Arc<Mutex<VecDeque<MemorySample>>>,
    is_stopped: Arc<AtomicBool>,
    thread: Option<std::thread::Thread>,
}

const BUSY_INTERVAL: Duration = Duration::from_millis(250);
/// Sampling slows down to this while nothing changes.
const QUIET_INTERVAL: Duration = Duration::from_secs(1);
const KEEP: Duration = Duration::from_secs(600);

impl MemoryMonitor {
    pub fn start(conn: WsConnection, wake: Waker) -> Self {
        let samples = Arc::new(Mutex::new(VecDeque::new()));
        let is_stopped = Arc::new(AtomicBool::new(false));
        let (thread_samples, thread_stopped) = (samples.clone(), is_stopped.clone());
        let started = Instant::now();
        let spawned = std::thread::Builder::new().name("memory-monitor".into()).spawn(move || {
            let mut shown = String::new();
            let mut interval = BUSY_INTERVAL;
            let mut system = sysinfo::System::new();
            while !thread_stopped.load(Ordering::Relaxed) {
                system.refresh_memory();
                let sample = MemorySample {
                    at_secs: started.elapsed().as_secs_f64(),
                    rss_bytes: process_rss_bytes(),
                    duckdb_bytes: duckdb_memory_bytes(&conn).unwrap_or(0),
                    available_bytes: system.available_memory(),
                    total_bytes: system.total_memory(),
                };
                if let Ok(mut s) = thread_samples.lock() {
                    while s.front().is_some_and(|f: &MemorySample| sample.at_secs - f.at_secs > KEEP.as_secs_f64()) {
                        s.pop_front();
                    }
                    s.push_back(sample);
                }
                let figures = format!("{} {}", format_bytes(sample.rss_bytes), format_bytes(sample.duckdb_bytes));
                if figures != shown {
                    shown = figures;
                    interval = BUSY_INTERVAL;
                    wake();
                } else {
                    interval = (interval * 2).min(QUIET_INTERVAL);
                }
                std::thread::park_timeout(interval);
            }
        });
        let thread = spawned.ok().map(|h| h.thread().clone());
        Self { samples, is_stopped, thread }
    }

    pub fn samples(&self) -> Vec<MemorySample> {
        self.samples.lock().map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    pub fn latest(&self) -> Option<MemorySample> {
        self.samples.lock().ok().and_then(|s| s.back().copied())
    }
}

impl Drop for MemoryMonitor {
    fn drop(&mut self) {
        self.is_stopped.store(true, Ordering::Relaxed);
        if let Some(t) = &self.thread {
            t.unpark();
        }
    }
}
