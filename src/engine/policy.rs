//! What SQL that did not come from the user's own shell may touch on disk, enforced by
//! DuckDB itself.
//!
//! DuckDB can refuse every file outside some folders (`allowed_directories` with
//! `enable_external_access = false`), and SQL cannot undo that; but the switch belongs to a
//! whole database instance, and the workspace's instance must read any file the user imports
//! and write any file they export. So the workspace keeps its instance as it is, and a
//! statement under the policy is first checked by a second, sandboxed instance (the
//! [`Shadow`]): it holds an empty copy of everything the statement's connection sees (tables,
//! views, schemas, attached databases, macros, enum types, sequences) and plans the statement
//! there with `EXPLAIN`, which binds every table function, nested query (`query()`,
//! `json_execute_serialized_sql`) and `COPY` target, paths built at run time included. Only a
//! statement the shadow could plan runs in the workspace. Statements `EXPLAIN` cannot take run
//! in the shadow itself (an `ATTACH` is let go at once). The token check of the console
//! ([`crate::engine::console::check_access`]) stays in front as a second line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use duckdb::{Config, Connection};

use super::error::{EngineError, Result};
use super::lexer;
use super::sql::{quote_ident, quote_literal};

/// A sandboxed DuckDB instance that plans statements before the workspace runs them.
pub struct Shadow {
    conn: Connection,
    folders: Vec<PathBuf>,
    /// Its own spill folder: the workspace's temp folder is not one SQL may touch.
    _temp: tempfile::TempDir,
    /// What the copy was made from, to make it again only when that changed.
    synced: String,
}

/// The longest a statement may run in the shadow (only statements `EXPLAIN` cannot plan run
/// there, and on empty tables).
const SHADOW_TIMEOUT: Duration = Duration::from_secs(5);

impl Shadow {
    /// A shadow allowing files inside `folders` only (none when empty).
    ///
    /// # Failure
    /// When DuckDB cannot start an in-memory instance or refuses the folders.
    pub fn new(folders: &[PathBuf]) -> Result<Self> {
        let temp = tempfile::Builder::new().prefix("dataforge-shadow-").tempdir().map_err(|e| EngineError::io(std::env::temp_dir(), e))?;
        let conn = open_sandbox(folders, temp.path())?;
        Ok(Self { conn, folders: folders.to_vec(), _temp: temp, synced: String::new() })
    }

    /// The folders it allows.
    pub fn folders(&self) -> &[PathBuf] {
        &self.folders
    }

    /// Plans `sql` (one statement) in the shadow, on an empty copy of what `conn` sees.
    ///
    /// # Failure
    /// `InvalidOption` when DuckDB refuses a file outside the allowed folders or a setting;
    /// the statement's own error when the shadow cannot plan it (it would fail the same way in
    /// the workspace).
    pub fn vet(&mut self, conn: &Connection, sql: &str) -> Result<()> {
        self.sync(conn)?;
        let first = lexer::meaningful(sql).first().map(|t| t.text(sql).to_ascii_uppercase()).unwrap_or_default();
        let outcome = match first.as_str() {
            // Not plannable with EXPLAIN: run in the shadow, on empty tables.
            "ATTACH" | "CREATE" | "DROP" | "ALTER" | "PREPARE" | "USE" | "BEGIN" | "COMMIT" | "ROLLBACK" | "ABORT" | "START" | "END"
            | "CHECKPOINT" | "VACUUM" | "ANALYZE" | "COMMENT" => match self.conn.execute_batch(&format!("EXPLAIN {sql}")) {
                Err(e) if e.to_string().contains("Parser Error") => self.run_bounded(sql),
                other => other.map_err(EngineError::from),
            },
            _ => self.conn.execute_batch(&format!("EXPLAIN {sql}")).map_err(EngineError::from),
        };
        // The shadow never keeps a file open that the workspace may open next.
        self.detach_extra();
        match outcome {
            Ok(()) => Ok(()),
            Err(e) => match refusal(&e, &self.folders) {
                Some(refused) => Err(refused),
                // Not a refusal: the statement's own mistake, which the workspace then meets
                // when it prepares the statement and reports in place, without running it. A
                // statement the workspace can prepare but the shadow could not plan is not run.
                None => match conn.prepare(sql) {
                    Err(_) => Ok(()),
                    Ok(_) => Err(EngineError::InvalidOption(format!("the statement could not be checked for file access, so it was not run ({e})"))),
                },
            },
        }
    }

    fn run_bounded(&self, sql: &str) -> Result<()> {
        let interrupt = self.conn.interrupt_handle();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let guard = std::thread::Builder::new()
            .name("shadow-timeout".into())
            .spawn(move || {
                if wait.recv_timeout(SHADOW_TIMEOUT).is_err() {
                    interrupt.interrupt();
                }
            })
            .map_err(|e| EngineError::Internal(format!("starting a thread: {e}")))?;
        let outcome = self.conn.execute_batch(sql);
        let _ = done.send(());
        let _ = guard.join();
        match outcome {
            // Too slow to finish on empty tables: nothing it does touches files that planning
            // did not see, so the workspace may run it.
            Err(e) if e.to_string().contains("Interrupted") => Ok(()),
            other => other.map_err(EngineError::from),
        }
    }

    /// Databases the statement attached in the shadow are detached again.
    fn detach_extra(&mut self) {
        let attached: Vec<String> = self
            .conn
            .prepare("SELECT database_name FROM duckdb_databases() WHERE NOT internal AND path IS NOT NULL AND path <> ''")
            .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default();
        for name in attached {
            let _ = self.conn.execute_batch(&format!("DETACH DATABASE IF EXISTS {}", quote_ident(&name)));
            // What the workspace sees changed (or will): copy it again next time.
            self.synced.clear();
        }
    }

    /// Makes the shadow hold an empty copy of what `conn` sees, when that changed.
    fn sync(&mut self, conn: &Connection) -> Result<()> {
        let catalog = Catalog::read(conn)?;
        let signature = format!("{catalog:?}");
        if signature == self.synced {
            return Ok(());
        }
        // A fresh instance: nothing the last statements made in the shadow lingers.
        self.conn = open_sandbox(&self.folders, self._temp.path())?;
        catalog.build(&self.conn)?;
        self.synced = signature;
        Ok(())
    }
}

/// A sandboxed in-memory instance: no file outside `folders`, no extension, no setting.
fn open_sandbox(folders: &[PathBuf], temp: &Path) -> Result<Connection> {
    let config = Config::default()
        .enable_autoload_extension(false)?
        .with("autoinstall_known_extensions", "false")?
        .with("allow_community_extensions", "false")?
        .threads(1)?
        .max_memory("256MB")?
        .with("temp_directory", temp.to_string_lossy())?;
    let conn = Connection::open_in_memory_with_flags(config)?;
    // DuckDB resolves links before it compares paths, so the folders are given resolved.
    let allowed: Vec<String> = folders.iter().filter_map(|f| std::fs::canonicalize(f).ok()).map(|f| quote_literal(&f.to_string_lossy())).collect();
    conn.execute_batch(&format!(
        "SET allowed_directories = [{}]; SET enable_external_access = false; SET lock_configuration = true;",
        allowed.join(", ")
    ))?;
    Ok(conn)
}

/// A refusal of the shadow's policy in plain words; `None` for other errors.
fn refusal(err: &EngineError, folders: &[PathBuf]) -> Option<EngineError> {
    let text = err.to_string();
    let path = text.split("Cannot access ").nth(1).and_then(|rest| rest.split('"').nth(1)).map(str::to_string);
    let is_refusal = text.contains("Permission Error")
        || text.contains("disabled by configuration")
        || text.contains("configuration has been locked")
        || text.contains("enable_external_access")
        || text.contains("Cannot change allowed");
    if !is_refusal {
        return None;
    }
    let folders_text = if folders.is_empty() {
        "SQL cannot read or write files until you allow a folder for it in Settings (SQL file access); imports and exports work as usual".to_string()
    } else {
        let list: Vec<String> = folders.iter().map(|p| p.display().to_string()).collect();
        format!("it is outside the folders SQL may use ({}); allow its folder in Settings", list.join(", "))
    };
    Some(EngineError::InvalidOption(match path {
        Some(path) => format!("'{path}': {folders_text}"),
        None if text.contains("configuration") => "settings cannot be changed from SQL; change them in Settings".to_string(),
        None => format!("the statement reaches a file: {folders_text}"),
    }))
}

/// Everything a connection sees that a statement can name, read from DuckDB's catalog.
#[derive(Debug, Default)]
struct Catalog {
    database: String,
    schema: String,
    /// Attached databases other than the current one and DuckDB's own.
    databases: Vec<String>,
    /// (database, schema) pairs of user schemas.
    schemas: Vec<(String, String)>,
    /// (database, schema, table, [(column, type)]), views included (as tables).
    tables: Vec<(String, String, String, Vec<(String, String)>)>,
    /// (database, schema, name, parameters, definition, is_table_macro).
    macros: Vec<(String, String, String, Vec<String>, String, bool)>,
    /// (schema, name, values) of ENUM types.
    enums: Vec<(String, String, Vec<String>)>,
    /// (database, schema, name).
    sequences: Vec<(String, String, String)>,
}

impl Catalog {
    fn read(conn: &Connection) -> Result<Self> {
        let mut c = Catalog::default();
        (c.database, c.schema) = conn.query_row("SELECT current_database(), current_schema()", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut stmt = conn.prepare("SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1")?;
        c.databases = stmt.query_map([], |r| r.get(0))?.collect::<duckdb::Result<Vec<String>>>()?;
        c.databases.retain(|d| d != &c.database);
        let mut stmt = conn.prepare("SELECT database_name, schema_name FROM duckdb_schemas() WHERE NOT internal ORDER BY 1, 2")?;
        c.schemas = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<duckdb::Result<_>>()?;
        let mut stmt = conn.prepare(
            "SELECT database_name, schema_name, table_name, column_name, data_type FROM duckdb_columns()
             WHERE database_name <> 'system' ORDER BY database_name, schema_name, table_name, column_index",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?)))?;
        for row in rows {
            let (db, schema, table, column, ty) = row?;
            match c.tables.last_mut() {
                Some(last) if last.0 == db && last.1 == schema && last.2 == table => last.3.push((column, ty)),
                _ => c.tables.push((db, schema, table, vec![(column, ty)])),
            }
        }
        let mut stmt = conn.prepare(
            "SELECT database_name, schema_name, function_name, to_json(parameters)::VARCHAR, macro_definition, function_type = 'table_macro'
             FROM duckdb_functions() WHERE NOT internal AND function_type IN ('macro', 'table_macro') AND macro_definition IS NOT NULL ORDER BY 1, 2, 3",
        )?;
        let json_list = |text: String| serde_json::from_str::<Vec<String>>(&text).unwrap_or_default();
        c.macros = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, json_list(r.get(3)?), r.get(4)?, r.get(5)?)))?
            .collect::<duckdb::Result<_>>()?;
        let mut stmt = conn.prepare("SELECT schema_name, type_name FROM duckdb_types() WHERE NOT internal AND logical_type = 'ENUM' ORDER BY 1, 2")?;
        let enums: Vec<(String, String)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<duckdb::Result<_>>()?;
        for (schema, name) in enums {
            let values: Vec<String> = conn
                .query_row(&format!("SELECT to_json(enum_range(NULL::{}.{}))::VARCHAR", quote_ident(&schema), quote_ident(&name)), [], |r| r.get::<_, String>(0))
                .map(json_list)
                .unwrap_or_default();
            c.enums.push((schema, name, values));
        }
        let mut stmt = conn.prepare("SELECT database_name, schema_name, sequence_name FROM duckdb_sequences() ORDER BY 1, 2, 3")?;
        c.sequences = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<duckdb::Result<_>>()?;
        Ok(c)
    }

    /// Makes the same names, empty, in the shadow.
    fn build(&self, shadow: &Connection) -> Result<()> {
        let db = |name: &str| if name == "temp" { "temp".to_string() } else { quote_ident(name) };
        for name in std::iter::once(&self.database).chain(&self.databases) {
            if name != "memory" && name != "temp" {
                shadow.execute_batch(&format!("ATTACH ':memory:' AS {}", quote_ident(name)))?;
            }
        }
        for (database, schema) in &self.schemas {
            if database != "temp" {
                shadow.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {}.{}", db(database), quote_ident(schema)))?;
            }
        }
        for (schema, name, values) in &self.enums {
            let list: Vec<String> = values.iter().map(|v| quote_literal(v)).collect();
            let _ = shadow.execute_batch(&format!("CREATE TYPE {}.{} AS ENUM ({})", quote_ident(schema), quote_ident(name), list.join(", ")));
        }
        for (database, schema, table, columns) in &self.tables {
            let list: Vec<String> = columns.iter().map(|(n, t)| format!("{} {t}", quote_ident(n))).collect();
            let made = if database == "temp" {
                format!("CREATE TEMP TABLE {} ({})", quote_ident(table), list.join(", "))
            } else {
                format!("CREATE TABLE {}.{}.{} ({})", db(database), quote_ident(schema), quote_ident(table), list.join(", "))
            };
            // A type the shadow cannot name (from an extension) is read as text.
            if shadow.execute_batch(&made).is_err() {
                let text: Vec<String> = columns.iter().map(|(n, _)| format!("{} VARCHAR", quote_ident(n))).collect();
                let made = made.replace(&list.join(", "), &text.join(", "));
                shadow.execute_batch(&made)?;
            }
        }
        for (database, schema, name) in &self.sequences {
            let _ = shadow.execute_batch(&format!("CREATE SEQUENCE {}.{}.{}", db(database), quote_ident(schema), quote_ident(name)));
        }
        for (database, schema, name, parameters, definition, is_table) in &self.macros {
            let parameters: Vec<String> = parameters.iter().map(|p| quote_ident(p)).collect();
            let body = if *is_table { format!("TABLE {definition}") } else { definition.clone() };
            let _ = shadow.execute_batch(&format!("CREATE MACRO {}.{}.{}({}) AS {body}", db(database), quote_ident(schema), quote_ident(name), parameters.join(", ")));
        }
        shadow.execute_batch(&format!("USE {}.{}", db(&self.database), quote_ident(&self.schema)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shadow_refuses_what_duckdb_refuses() {
        let allowed = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let inside_file = allowed.path().join("a.csv");
        std::fs::write(&inside_file, "x\n1\n").unwrap();
        let outside_file = outside.path().join("b.csv");
        std::fs::write(&outside_file, "x\n1\n").unwrap();
        let workspace = Connection::open_in_memory().unwrap();
        workspace.execute_batch("CREATE TABLE t (a INTEGER, b VARCHAR); CREATE MACRO reads(p) AS TABLE SELECT * FROM read_text(p)").unwrap();
        let mut shadow = Shadow::new(&[allowed.path().to_path_buf()]).unwrap();
        let o = outside_file.display();
        let i = inside_file.display();
        for refused in [
            format!("SELECT * FROM read_text('{o}')"),
            format!("SELECT * FROM read_csv('{o}')"),
            format!("SELECT * FROM '{o}'"),
            format!("SELECT * FROM glob('{}/*')", outside.path().display()),
            format!("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_text(''{o}'')'))"),
            format!("SELECT * FROM query('SELECT * FROM read_text(''{o}'')')"),
            format!("SELECT * FROM read_text('{}' || '/b.csv')", outside.path().display()),
            format!("COPY t TO '{o}'"),
            format!("COPY t FROM '{o}'"),
            format!("COPY (SELECT 1) TO ('{}' || '/c.csv')", outside.path().display()),
            format!("INSERT INTO t SELECT 1, content FROM read_text('{o}')"),
            format!("CREATE TABLE u AS SELECT * FROM read_text('{o}')"),
            format!("SELECT * FROM reads('{o}')"),
            format!("ATTACH '{}/x.duckdb' AS x", outside.path().display()),
        ] {
            let err = shadow.vet(&workspace, &refused).expect_err(&refused);
            assert!(matches!(err, EngineError::InvalidOption(_)), "{refused}: {err}");
        }
        assert!(!outside.path().join("x.duckdb").exists() && !outside.path().join("c.csv").exists(), "nothing was written outside");
        for allowed_sql in [
            "SELECT a, count(*) FROM t GROUP BY a".to_string(),
            format!("SELECT * FROM read_csv('{i}')"),
            format!("COPY t TO '{}/out.csv'", allowed.path().display()),
            "UPDATE t SET a = 1 WHERE b = 'x'".to_string(),
            "CREATE TEMP TABLE scratch AS SELECT * FROM t".to_string(),
        ] {
            shadow.vet(&workspace, &allowed_sql).unwrap_or_else(|e| panic!("{allowed_sql}: {e}"));
        }
        // A mistake is left to the workspace, which meets it as it prepares the statement.
        shadow.vet(&workspace, "SELECT nope FROM t").unwrap();
        assert!(workspace.prepare("SELECT nope FROM t").is_err());
    }
}
