//! Process memory readings (resident set size) for job metrics and the memory graph.

use std::sync::Mutex;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

struct Probe {
    system: System,
    pid: Option<Pid>,
}

static PROBE: Mutex<Option<Probe>> = Mutex::new(None);

/// Resident set size of this process in bytes, or 0 when the OS does not say.
pub fn process_rss_bytes() -> u64 {
    let Ok(mut guard) = PROBE.lock() else { return 0 };
    let probe = guard.get_or_insert_with(|| Probe {
        system: System::new(),
        pid: sysinfo::get_current_pid().ok(),
    });
    let Some(pid) = probe.pid else { return 0 };
    probe.system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing().with_memory().without_tasks(),
    );
    probe.system.process(pid).map_or(0, |p| p.memory())
}

/// Physical memory of this machine in bytes, or 0 when unknown.
pub fn total_memory_bytes() -> u64 {
    let mut system = System::new();
    system.refresh_memory();
    system.total_memory()
}

/// One reading of the memory graph.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemorySample {
    /// Seconds since the monitor started.
    pub at_secs: f64,
    pub rss_bytes: u64,
    pub duckdb_bytes: u64,
}

/// Samples process RSS and DuckDB's buffer memory four times a second on its own thread
/// and connection, keeping the last ten minutes.
pub struct MemoryMonitor {
    samples: std::sync::Arc<Mutex<std::collections::VecDeque<MemorySample>>>,
    is_stopped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

const SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
const MAX_SAMPLES: usize = 4 * 600;

impl MemoryMonitor {
    pub fn start(conn: duckdb::Connection, wake: super::Waker) -> Self {
        let samples = std::sync::Arc::new(Mutex::new(std::collections::VecDeque::with_capacity(MAX_SAMPLES)));
        let is_stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (thread_samples, thread_stopped) = (samples.clone(), is_stopped.clone());
        let started = std::time::Instant::now();
        let _ = std::thread::Builder::new().name("memory-monitor".into()).spawn(move || {
            while !thread_stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let sample = MemorySample {
                    at_secs: started.elapsed().as_secs_f64(),
                    rss_bytes: process_rss_bytes(),
                    duckdb_bytes: crate::engine::workspace::duckdb_memory_bytes(&conn).unwrap_or(0),
                };
                if let Ok(mut s) = thread_samples.lock() {
                    if s.len() == MAX_SAMPLES {
                        s.pop_front();
                    }
                    s.push_back(sample);
                }
                wake();
                std::thread::sleep(SAMPLE_INTERVAL);
            }
        });
        Self { samples, is_stopped }
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
        self.is_stopped.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
