//! Faults: a killed export, a full disk, a locked workspace, file permissions, compaction.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dataforge::engine::config::EnvOverrides;
use dataforge::engine::export::{ExportJob, ExportOptions};
use dataforge::engine::view::View;
use dataforge::engine::job::{no_waker, spawn};
use dataforge::engine::EngineError;

use crate::common::{TestWorkspace, generated_csv, shared};

fn dataforge(ws: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataforge"));
    cmd.arg("--workspace").arg(ws);
    cmd
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect()
}

#[test]
fn exports_get_the_permissions_of_a_new_file_or_keep_the_old_ones() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let out = tempfile::tempdir().unwrap();
    // What any program's new file gets under this process's umask.
    let reference = out.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let fresh = out.path().join("fresh.csv");
    spawn(ExportJob::new(t.ws.clone(), View::table("penguins"), &fresh, ExportOptions::default()), no_waker()).wait().unwrap();
    assert_eq!(mode(&fresh), mode(&reference), "a new export");
    assert_ne!(mode(&fresh), 0o600);

    let kept = out.path().join("kept.parquet");
    std::fs::write(&kept, b"old").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
    spawn(ExportJob::new(t.ws.clone(), View::table("penguins"), &kept, ExportOptions { overwrite: true, ..Default::default() }), no_waker()).wait().unwrap();
    assert_eq!(mode(&kept), 0o640, "a replaced file keeps its mode");
    assert!(std::fs::metadata(&kept).unwrap().len() > 1000);
}

#[test]
fn a_killed_export_leaves_a_partial_that_the_next_run_removes() {
    let t = TestWorkspace::new();
    t.import(generated_csv(3_000_000), Some("big")).unwrap();
    let ws_path = t.path();
    drop(t.ws);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("big.csv");
    let mut child = dataforge(&ws_path).args(["export", "big"]).arg(&target).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Kill it once DuckDB has written something.
    loop {
        let written = partials(out.path())
            .iter()
            .any(|p| std::fs::metadata(out.path().join(p)).is_ok_and(|m| m.len() > 1 << 20));
        if written {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the export ended before it could be killed");
        assert!(Instant::now() < deadline, "the export never started writing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = partials(out.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(".big.csv.dataforge-out-"), "{left:?}");
    assert!(!target.exists());

    // Opening the workspace again removes it, through the marker in the temp folder.
    let ws = dataforge::engine::catalog::open_workspace(&ws_path, EnvOverrides::default()).unwrap();
    assert!(partials(out.path()).is_empty(), "{:?}", partials(out.path()));
    drop(ws);
}

/// A small tmpfs of `size`, mounted for one test (the tests run as root, as CI does).
struct TinyDisk {
    dir: tempfile::TempDir,
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1)).is_some_and(|euid| euid == "0")
}

impl TinyDisk {
    /// `None` (with a message) when not root: mounting needs it.
    fn new(size: &str) -> Option<Self> {
        if !is_root() {
            eprintln!("skipped: the disk-full test mounts a tmpfs, which needs root (CI runs as root)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir.path()).status().unwrap();
        assert!(status.success(), "mounting a tmpfs for the disk-full test failed");
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_is_said_in_plain_words_and_the_space_comes_back() {
    let Some(disk) = TinyDisk::new("3M") else { return };
    // Export: the message names the user's file, and no partial is left.
    let t = TestWorkspace::new();
    t.import(generated_csv(200_000), Some("gen")).unwrap();
    let target = disk.path().join("gen.csv");
    let err = spawn(ExportJob::new(t.ws.clone(), View::table("gen"), &target, ExportOptions::default()), no_waker()).wait().unwrap_err();
    assert_eq!(err.to_string(), format!("no space left on device writing {}", target.display()));
    assert!(matches!(err, EngineError::DiskFull(_)));
    assert!(std::fs::read_dir(disk.path()).unwrap().next().is_none(), "nothing left on the disk");
    // The workbook is written by our own code, not DuckDB's: the same words, nothing left.
    let target = disk.path().join("gen.xlsx");
    let err = spawn(ExportJob::new(t.ws.clone(), View::table("gen"), &target, ExportOptions::default()), no_waker()).wait().unwrap_err();
    assert_eq!(err.to_string(), format!("no space left on device writing {}", target.display()));
    assert!(std::fs::read_dir(disk.path()).unwrap().next().is_none(), "nothing left on the disk");

    // Import into a workspace on the full disk: it fails, and the space it grabbed is given back.
    let ws_path = disk.path().join("ws.duckdb");
    let overrides = EnvOverrides { temp_dir: Some(disk.path().join("tmp")), ..EnvOverrides::default() };
    let ws = std::sync::Arc::new(dataforge::engine::catalog::open_workspace(&ws_path, overrides.clone()).unwrap());
    ws.checkpoint().unwrap();
    let before = std::fs::metadata(&ws_path).unwrap().len();
    let job = dataforge::engine::import::ImportJob::new(ws.clone(), generated_csv(200_000), Some("gen".into()));
    let err = spawn(job, no_waker()).wait().unwrap_err();
    assert!(matches!(err, EngineError::DiskFull(_)), "{err:?}");
    let grabbed = std::fs::metadata(&ws_path).unwrap().len();
    assert!(grabbed > before, "the failed import grew the file ({before} → {grabbed})");
    drop(ws);
    let ws = dataforge::engine::catalog::open_workspace(&ws_path, overrides).unwrap();
    assert!(std::fs::metadata(&ws_path).unwrap().len() < grabbed, "reopening gave the space back");
    assert!(ws.tables().unwrap().is_empty());
    let small = crate::common::write_file(disk.path(), "small.csv", "a,b\n1,2\n");
    let ws = std::sync::Arc::new(ws);
    let r = spawn(dataforge::engine::import::ImportJob::new(ws.clone(), &small, None), no_waker()).wait().unwrap();
    assert_eq!(r.rows, 1, "the next small import fits");
}

#[test]
fn compacting_gives_back_the_space_of_dropped_tables() {
    let t = TestWorkspace::new();
    t.import(generated_csv(200_000), Some("big")).unwrap();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let link = dataforge::engine::import::linked::LinkJob::new(t.ws.clone(), shared().join("realdata/nycflights13/airlines.csv"), Default::default());
    spawn(link, no_waker()).wait().unwrap();
    dataforge::engine::catalog::drop_table(&t.ws, "big").unwrap();
    t.ws.checkpoint().unwrap();
    let report = t.ws.compact(&mut |_| Ok(())).unwrap();
    assert!(report.bytes_after < report.bytes_before / 2, "{report:?}");
    assert_eq!(std::fs::metadata(t.path()).unwrap().len(), report.bytes_after);
    let names: Vec<String> = t.ws.tables().unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["airlines", "penguins"]);
    assert_eq!(t.scalar("SELECT count(*) FROM penguins"), "344");
    assert_eq!(t.scalar("SELECT count(*) FROM airlines"), "16");

    // Not while something else holds a connection.
    let held = t.ws.connect().unwrap();
    let err = t.ws.compact(&mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, EngineError::Busy(_)), "{err:?}");
    drop(held);

    // The same from the command line.
    let path: PathBuf = t.path();
    drop(t.ws);
    let out = dataforge(&path).args(["compact", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["command"], "compact");
    assert!(v["report"]["bytes_after"].as_u64().unwrap() > 0);
}

#[test]
fn the_workspace_file_is_its_headers_and_blocks() {
    // Trimming a file after a failed write relies on this layout; a DuckDB upgrade that
    // changes it must fail here first.
    let t = TestWorkspace::new();
    t.import(generated_csv(50_000), Some("gen")).unwrap();
    t.ws.checkpoint().unwrap();
    let (block_size, blocks): (i64, i64) = t
        .ws
        .connect()
        .unwrap()
        .query_row("SELECT block_size, total_blocks FROM pragma_database_size() WHERE database_name = current_database()", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(std::fs::metadata(t.path()).unwrap().len(), 3 * 4096 + (block_size * blocks) as u64);
}

#[test]
fn errors_have_kinds_and_usage_errors_exit_with_2() {
    let t = TestWorkspace::new();
    let path = t.path();
    // Another process holds the workspace: a plain message, exit 1.
    let out = dataforge(&path).arg("tables").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is open in another dataforge window or command"), "{stderr}");
    drop(t.ws);
    let csv = shared().join("realdata/palmerpenguins/penguins.csv");
    for bad in [vec!["--types", "species=INTEGER); DROP TABLE x; --"], vec!["--on-error", "maybe"], vec!["--encoding", "klingon"]] {
        let out = dataforge(&path).arg("import").arg(&csv).args(&bad).arg("--json").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["error"]["kind"], "invalid_option", "{bad:?}");
    }
}
