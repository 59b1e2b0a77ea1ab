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
