use std::path::{Path, PathBuf};
use std::sync::Arc;

use dataforge::engine::browse::Browser;
use dataforge::engine::config::EnvOverrides;
use dataforge::engine::import::{ImportJob, ImportOptions, ImportReport};
use dataforge::engine::job::{no_waker, spawn};
use dataforge::engine::{Result, Workspace};

pub fn shared() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(dir.is_dir(), "tests read ../shared beside the checkout; {} is missing", dir.display());
    dir
}

pub struct TestWorkspace {
    pub dir: tempfile::TempDir,
    pub ws: Arc<Workspace>,
}

impl TestWorkspace {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ws = dataforge::engine::catalog::open_workspace(dir.path().join("ws.duckdb"), EnvOverrides::default()).expect("open workspace");
        Self { dir, ws: Arc::new(ws) }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("ws.duckdb")
    }

    pub fn import(&self, file: impl AsRef<Path>, table: Option<&str>) -> Result<ImportReport> {
        spawn(
            ImportJob::new(self.ws.clone(), file.as_ref(), table.map(str::to_string)),
            no_waker(),
        )
        .wait()
    }

    /// Every row of `table` as text, in table order.
    pub fn rows(&self, table: &str) -> Vec<Vec<Option<String>>> {
        let mut browser = Browser::new(&self.ws).expect("browser");
        let (_, total) = browser.describe(&dataforge::engine::view::Source::Table(table.to_string())).expect("describe");
        browser.fetch(&dataforge::engine::view::View::table(table), 0, total).expect("fetch").rows
    }

    /// Names of every table in the workspace's main schema, staging tables included.
    pub fn all_table_names(&self) -> Vec<String> {
        let conn = self.ws.connect().expect("connect");
        let mut stmt = conn
            .prepare("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' ORDER BY 1")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0)).expect("query").map(|r| r.expect("row")).collect()
    }
}

/// A CSV of `rows` generated rows (the bench data), kept in cargo's test scratch folder
/// and reused by later runs (the generator is deterministic).
pub fn generated_csv(rows: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("gen-{rows}.csv"));
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let partial = dir.join(format!("gen-{rows}.{}.partial", std::process::id()));
        dataforge::cli::generate_csv(rows, &partial).expect("generate csv");
        std::fs::rename(&partial, &path).expect("rename");
    }
    path
}

pub fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

impl TestWorkspace {
    pub fn import_with(&self, files: &[PathBuf], options: ImportOptions) -> Result<ImportReport> {
        spawn(ImportJob::with_options(self.ws.clone(), files.to_vec(), options), no_waker()).wait()
    }

    /// (column, type) pairs of `table`.
    pub fn types(&self, table: &str) -> Vec<(String, String)> {
        self.ws.columns(table).expect("columns").into_iter().map(|c| (c.name, c.data_type)).collect()
    }

    pub fn scalar(&self, sql: &str) -> String {
        let conn = self.ws.connect().expect("connect");
        conn.query_row(&format!("SELECT ({sql})::VARCHAR"), [], |r| r.get::<_, Option<String>>(0))
            .expect("query")
            .unwrap_or_default()
    }
}
