//! Scratch files: converted text and extracted archive members in the workspace's temp folder,
//! and the `.partial` files exports write beside their targets. Each name carries the id of
//! the process that made it, so a later run can tell leftovers of a killed process from files
//! in use and remove them. An export also leaves a marker in the temp folder naming its
//! partial file, because the target's folder is not known when a workspace opens.

use std::path::{Path, PathBuf};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

const TAG: &str = "dataforge-";
const MARKER_KIND: &str = "export";

/// Prefix of a scratch file or folder: `dataforge-utf8-4242-`.
pub fn prefix(kind: &str) -> String {
    format!("{TAG}{kind}-{}-", std::process::id())
}

/// The process id in a scratch name made by [`prefix`] or [`partial_path`].
fn owner(name: &str) -> Option<u32> {
    let rest = &name[name.rfind(TAG)? + TAG.len()..];
    let mut parts = rest.split('-');
    let _kind = parts.next()?;
    parts.next()?.parse().ok()
}

fn is_alive(pid: u32, system: &mut System) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let pid = Pid::from_u32(pid);
    system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, ProcessRefreshKind::nothing());
    system.process(pid).is_some()
}

fn remove(path: &Path) {
    let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
}

/// Removes what killed processes left in the temp folder `dir`: scratch files, and the
/// partial exports their markers name. Returns how many were removed.
pub fn sweep(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut system = System::new();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(TAG) {
            continue;
        }
        let Some(pid) = owner(&name) else { continue };
        if is_alive(pid, &mut system) {
            continue;
        }
        let path = entry.path();
        if name.starts_with(&format!("{TAG}{MARKER_KIND}-")) {
            if let Ok(partial) = std::fs::read_to_string(&path) {
                let partial = PathBuf::from(partial.trim());
                if partial.file_name().is_some_and(|n| n.to_string_lossy().contains(TAG)) {
                    remove(&partial);
                }
            }
        }
        remove(&path);
        removed += 1;
    }
    removed
}

/// Removes partial exports of killed processes from `dir`, a folder exports write into.
pub fn sweep_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut system = System::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".partial") && owner(&name).is_some_and(|pid| !is_alive(pid, &mut system)) {
            remove(&entry.path());
        }
    }
}

/// How many files under `dir` (at any depth) `keep` accepts, and their bytes.
pub fn files_under(dir: &Path, keep: impl Fn(&Path) -> bool) -> (usize, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p) {
                files += 1;
                bytes += entry.metadata().map_or(0, |m| m.len());
            }
        }
    }
    (files, bytes)
}

/// A new scratch file of `kind` in the temp folder `dir` (made if missing), removed when the
/// returned path is dropped.
pub fn file(dir: &Path, kind: &str, suffix: &str) -> crate::engine::Result<tempfile::NamedTempFile> {
    use crate::engine::EngineError;
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    tempfile::Builder::new().prefix(&prefix(kind)).suffix(suffix).tempfile_in(dir).map_err(|e| EngineError::io(dir, e))
}

/// A temporary output beside `target`: hidden, naming this process, unique in its folder.
pub fn partial_path(target: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}{n}{nanos:x}.partial", prefix("out")))
}

/// Notes in the temp folder `dir` that `partial` is being written, so a later run removes it
/// if this process dies; the note goes when the marker is dropped.
pub struct PartialMarker {
    path: Option<PathBuf>,
}

impl PartialMarker {
    pub fn new(dir: &Path, partial: &Path) -> Self {
        let written = std::fs::create_dir_all(dir).ok().and_then(|()| {
            let file = tempfile::Builder::new().prefix(&prefix(MARKER_KIND)).suffix(".marker").tempfile_in(dir).ok()?;
            std::fs::write(file.path(), partial.to_string_lossy().as_bytes()).ok()?;
            file.into_temp_path().keep().ok()
        });
        Self { path: written }
    }
}

impl Drop for PartialMarker {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process id that is not running (the highest pid Linux can hand out, plus one).
    const DEAD: u32 = 4_194_305;

    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(owner(&format!("{}abc.csv", prefix("utf8"))), Some(std::process::id()));
        let partial = partial_path(Path::new("/x/out.parquet"));
        let name = partial.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".out.parquet.dataforge-out-") && name.ends_with(".partial"), "{name}");
        assert_eq!(owner(&name), Some(std::process::id()));
    }

    #[test]
    fn sweeping_removes_only_what_dead_processes_left() {
        let temp = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let dead_partial = out.path().join(format!(".t.csv.dataforge-out-{DEAD}-1.partial"));
        std::fs::write(&dead_partial, "x").unwrap();
        std::fs::write(temp.path().join(format!("dataforge-export-{DEAD}-a.marker")), dead_partial.to_string_lossy().as_bytes()).unwrap();
        std::fs::write(temp.path().join(format!("dataforge-utf8-{DEAD}-b.csv")), "x").unwrap();
        let live = temp.path().join(format!("{}c.csv", prefix("utf8")));
        std::fs::write(&live, "x").unwrap();
        let unrelated = temp.path().join("notes.txt");
        std::fs::write(&unrelated, "x").unwrap();
        assert_eq!(sweep(temp.path()), 2);
        assert!(!dead_partial.exists());
        assert!(live.exists() && unrelated.exists());

        let dead_beside = out.path().join(format!(".u.csv.dataforge-out-{DEAD}-2.partial"));
        std::fs::write(&dead_beside, "x").unwrap();
        let live_beside = partial_path(&out.path().join("v.csv"));
        std::fs::write(&live_beside, "x").unwrap();
        sweep_partials(out.path());
        assert!(!dead_beside.exists());
        assert!(live_beside.exists());
    }
}
