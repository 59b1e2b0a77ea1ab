//! Clustering near-duplicate values of a text column, as OpenRefine does: key collision
//! (fingerprint, n-gram fingerprint, phonetic keys) and nearest neighbour (Levenshtein,
//! Jaro-Winkler) with blocking. Merging a cluster rewrites its values to one canonical value
//! in one transaction and keeps every old value in an undo table.

use std::collections::HashMap;
use std::sync::Arc;

use duckdb::Connection;
use rphonetic::{Cologne, DoubleMetaphone, Encoder, Metaphone, Soundex};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::sql::quote_ident;
use super::view::is_text_type;
use super::workspace::{Workspace, in_transaction, new_table_name, register_in_catalog, table_columns};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Method {
    Fingerprint,
    /// Character n-grams of the value without spaces or punctuation.
    NGram(usize),
    Metaphone,
    DoubleMetaphone,
    Soundex,
    /// Kölner Phonetik, for German names.
    Cologne,
    /// Values within this edit distance (and a quarter of their length) of each other.
    Levenshtein(usize),
    /// Values at least this similar (0–1).
    JaroWinkler(f64),
}

impl Method {
    pub const NAMES: [&'static str; 8] = ["fingerprint", "ngram", "metaphone", "double-metaphone", "soundex", "cologne", "levenshtein", "jaro-winkler"];

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "fingerprint" => Self::Fingerprint,
            "ngram" | "n-gram" => Self::NGram(2),
            "metaphone" => Self::Metaphone,
            "double-metaphone" | "doublemetaphone" => Self::DoubleMetaphone,
            "soundex" => Self::Soundex,
            "cologne" => Self::Cologne,
            "levenshtein" => Self::Levenshtein(2),
            "jaro-winkler" | "jarowinkler" => Self::JaroWinkler(0.9),
            other => return Err(EngineError::InvalidOption(format!("unknown clustering method {other:?}; use one of {}", Self::NAMES.join(", ")))),
        })
    }

    pub fn label(&self) -> String {
        match self {
            Self::Fingerprint => "fingerprint".into(),
            Self::NGram(n) => format!("{n}-gram fingerprint"),
            Self::Metaphone => "Metaphone".into(),
            Self::DoubleMetaphone => "Double Metaphone".into(),
            Self::Soundex => "Soundex".into(),
            Self::Cologne => "Cologne phonetic".into(),
            Self::Levenshtein(r) => format!("Levenshtein distance ≤ {r}"),
            Self::JaroWinkler(t) => format!("Jaro-Winkler similarity ≥ {t}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// Values that look like one value written several ways, most frequent first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub values: Vec<ValueCount>,
    /// What the values become on merge; the most frequent value unless the user picks another.
    pub canonical: String,
    pub rows: u64,
}

/// OpenRefine's fingerprint: trimmed, lower case, accents and punctuation removed, the
/// distinct words sorted.
pub fn fingerprint(value: &str) -> String {
    let folded = fold(value);
    let cleaned: String = folded.chars().filter(|c| !c.is_ascii_punctuation() && !c.is_control()).collect();
    let mut words: Vec<&str> = cleaned.split_whitespace().collect();
    words.sort_unstable();
    words.dedup();
    words.join(" ")
}

/// The distinct sorted character n-grams of the value without spaces and punctuation.
pub fn ngram_fingerprint(value: &str, n: usize) -> String {
    let chars: Vec<char> = fold(value).chars().filter(|c| c.is_alphanumeric()).collect();
    if chars.len() <= n {
        return chars.into_iter().collect();
    }
    let mut grams: Vec<String> = chars.windows(n).map(|w| w.iter().collect()).collect();
    grams.sort_unstable();
    grams.dedup();
    grams.concat()
}

/// Lower case without accents, trimmed.
fn fold(value: &str) -> String {
    value.trim().nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// The words of a value (punctuation separates words), each encoded, joined by spaces. The
/// encoders know the Latin alphabet only: other letters (ø, ł, Cyrillic…) are left out.
fn phonetic(value: &str, encode: impl Fn(&str) -> String) -> String {
    let folded = fold(value);
    folded
        .split(|c: char| !c.is_alphanumeric())
        .map(|w| w.chars().filter(char::is_ascii_alphabetic).collect::<String>())
        .filter(|w| !w.is_empty())
        .map(|w| encode(&w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The key a value collides on, for the key-collision methods.
fn key_fn(method: Method) -> Option<Box<dyn Fn(&str) -> String + Send + Sync>> {
    Some(match method {
        Method::Fingerprint => Box::new(fingerprint),
        Method::NGram(n) => Box::new(move |v| ngram_fingerprint(v, n)),
        Method::Metaphone => {
            let m = Metaphone::default();
            Box::new(move |v| phonetic(v, |w| m.encode(w)))
        }
        Method::DoubleMetaphone => {
            let m = DoubleMetaphone::default();
            Box::new(move |v| phonetic(v, |w| m.encode(w)))
        }
        Method::Soundex => {
            let m = Soundex::default();
            Box::new(move |v| phonetic(v, |w| m.encode(w)))
        }
        Method::Cologne => Box::new(|v| phonetic(v, |w| Cologne.encode(w))),
        Method::Levenshtein(_) | Method::JaroWinkler(_) => return None,
    })
}

/// Values longer than this share a block when they share one of their substrings of this many
/// characters (punctuation read as a space); shorter values block on themselves.
const BLOCK_CHARS: usize = 5;
/// A substring that this many values share says little about any two of them; such blocks
/// are skipped (near duplicates share rarer substrings too).
const MAX_BLOCK: usize = 500;

/// Clusters of `values` (distinct values with their counts), largest first.
pub fn clusters(values: &[ValueCount], method: Method, ctx: Option<&JobCtx>) -> Result<Vec<Cluster>> {
    let groups: Vec<Vec<usize>> = match key_fn(method) {
        Some(key) => {
            let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, v) in values.iter().enumerate() {
                if i % 65_536 == 0 {
                    if let Some(ctx) = ctx {
                        ctx.checkpoint()?;
                        ctx.fraction(i as f64 / values.len().max(1) as f64);
                    }
                }
                let k = key(&v.value);
                if !k.is_empty() {
                    by_key.entry(k).or_default().push(i);
                }
            }
            by_key.into_values().filter(|g| g.len() > 1).collect()
        }
        None => nearest_neighbours(values, method, ctx)?,
    };
    let mut out: Vec<Cluster> = groups
        .into_iter()
        .map(|members| {
            let mut members: Vec<ValueCount> = members.into_iter().map(|i| values[i].clone()).collect();
            members.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            Cluster { canonical: members[0].value.clone(), rows: members.iter().map(|v| v.count).sum(), values: members }
        })
        .collect();
    out.sort_by(|a, b| b.values.len().cmp(&a.values.len()).then(b.rows.cmp(&a.rows)).then_with(|| a.canonical.cmp(&b.canonical)));
    Ok(out)
}

fn nearest_neighbours(values: &[ValueCount], method: Method, ctx: Option<&JobCtx>) -> Result<Vec<Vec<usize>>> {
    let folded: Vec<Vec<char>> = values.iter().map(|v| fold(&v.value).chars().collect()).collect();
    let mut blocks: HashMap<String, Vec<usize>> = HashMap::new();
    let spaced: Vec<Vec<char>> = folded
        .iter()
        .map(|chars| {
            let text: String = chars.iter().map(|&c| if c.is_alphanumeric() { c } else { ' ' }).collect();
            text.split_whitespace().collect::<Vec<_>>().join(" ").chars().collect()
        })
        .collect();
    for (i, chars) in spaced.iter().enumerate() {
        if chars.len() <= BLOCK_CHARS {
            blocks.entry(chars.iter().collect()).or_default().push(i);
            continue;
        }
        let mut seen: Vec<String> = chars.windows(BLOCK_CHARS).map(|w| w.iter().collect()).collect();
        seen.sort_unstable();
        seen.dedup();
        for gram in seen {
            blocks.entry(gram).or_default().push(i);
        }
    }
    // Short values are compared with every value of similar length too, through their prefix.
    for (i, chars) in spaced.iter().enumerate().filter(|(_, c)| c.len() <= BLOCK_CHARS && c.len() >= 3) {
        blocks.entry(format!("\u{1}{}", chars.iter().take(2).collect::<String>())).or_default().push(i);
    }
    let texts: Vec<String> = folded.iter().map(|c| c.iter().collect()).collect();
    let close = |a: usize, b: usize| -> bool {
        let (x, y) = (&texts[a], &texts[b]);
        if x == y {
            return true;
        }
        match method {
            Method::Levenshtein(radius) => {
                let longest = folded[a].len().max(folded[b].len());
                let limit = radius.min(longest / 4);
                folded[a].len().abs_diff(folded[b].len()) <= limit && limit > 0 && strsim::levenshtein(x, y) <= limit
            }
            Method::JaroWinkler(threshold) => folded[a].len().min(folded[b].len()) >= 4 && strsim::jaro_winkler(x, y) >= threshold,
            _ => false,
        }
    };
    let mut parent: Vec<usize> = (0..values.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let total = blocks.len().max(1);
    for (done, members) in blocks.into_values().enumerate() {
        if done % 4096 == 0 {
            if let Some(ctx) = ctx {
                ctx.checkpoint()?;
                ctx.fraction(done as f64 / total as f64);
            }
        }
        if members.len() < 2 || members.len() > MAX_BLOCK {
            continue;
        }
        for (n, &a) in members.iter().enumerate() {
            for &b in &members[n + 1..] {
                let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                if ra != rb && close(a, b) {
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..values.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    Ok(groups.into_values().filter(|g| g.len() > 1).collect())
}

/// The distinct non-null values of a text column with their counts.
fn distinct_values(conn: &Connection, table: &str, column: &str) -> Result<Vec<ValueCount>> {
    text_column(conn, table, column)?;
    let c = quote_ident(column);
    let mut stmt = conn.prepare(&format!("SELECT {c}, count(*) FROM {} WHERE {c} IS NOT NULL GROUP BY {c}", quote_ident(table)))?;
    let rows = stmt.query_map([], |r| Ok(ValueCount { value: r.get(0)?, count: r.get::<_, i64>(1)? as u64 }))?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}

fn text_column(conn: &Connection, table: &str, column: &str) -> Result<()> {
    let columns = table_columns(conn, table)?;
    if columns.is_empty() {
        return Err(EngineError::TableNotFound(table.to_string()));
    }
    match columns.iter().find(|c| c.name == column) {
        None => Err(EngineError::ColumnNotFound { table: table.to_string(), column: column.to_string() }),
        Some(c) if !is_text_type(&c.data_type) => Err(EngineError::InvalidOption(format!("{column} holds {}, not text; only text values are clustered", c.data_type))),
        // Merges remember rows by DuckDB's rowid, which a column of that name would hide.
        Some(_) if columns.iter().any(|c| c.name.eq_ignore_ascii_case("rowid")) => {
            Err(EngineError::InvalidOption(format!("{table} has a column named rowid; rename it to merge values")))
        }
        Some(_) => Ok(()),
    }
}

/// Finds the clusters of one text column.
pub struct ClusterJob {
    pub workspace: Arc<Workspace>,
    pub table: String,
    pub column: String,
    pub method: Method,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterReport {
    pub distinct_values: u64,
    pub clusters: Vec<Cluster>,
}

impl Job for ClusterJob {
    type Output = ClusterReport;

    fn title(&self) -> String {
        format!("Cluster {}.{} by {}", self.table, self.column, self.method.label())
    }

    fn run(self, ctx: &JobCtx) -> Result<ClusterReport> {
        let conn = self.workspace.connect()?;
        ctx.watch(&conn)?;
        ctx.phase("Counting distinct values", None);
        let values = distinct_values(&conn, &self.table, &self.column);
        ctx.unwatch();
        let values = values?;
        ctx.phase(format!("Comparing {} values", values.len()), None);
        let found = clusters(&values, self.method, Some(ctx))?;
        ctx.record_output(values.len() as u64, 0);
        Ok(ClusterReport { distinct_values: values.len() as u64, clusters: found })
    }
}

/// Merges clusters: every value of a cluster becomes its canonical value. The rows changed
/// and their old values go to an undo table first, in the same transaction.
pub struct MergeJob {
    pub workspace: Arc<Workspace>,
    pub table: String,
    pub column: String,
    pub clusters: Vec<Cluster>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    pub rows_changed: u64,
    pub clusters: usize,
    /// Holds `row` (the rowid), `old` and `new` of every changed cell; undo with [`UndoMergeJob`].
    pub undo_table: String,
}

impl Job for MergeJob {
    type Output = MergeReport;

    fn title(&self) -> String {
        format!("Merge {} clusters of {}.{}", self.clusters.len(), self.table, self.column)
    }

    fn run(self, ctx: &JobCtx) -> Result<MergeReport> {
        let _writing = self.workspace.writing();
        let conn = self.workspace.connect()?;
        text_column(&conn, &self.table, &self.column)?;
        let (t, c) = (quote_ident(&self.table), quote_ident(&self.column));
        ctx.watch(&conn)?;
        let outcome = in_transaction(&conn, || {
            conn.execute_batch("CREATE OR REPLACE TEMP TABLE __dataforge_merge (old VARCHAR, new VARCHAR)")?;
            {
                let mut app = conn.appender("__dataforge_merge")?;
                for cluster in &self.clusters {
                    for v in cluster.values.iter().filter(|v| v.value != cluster.canonical) {
                        app.append_row(duckdb::params![v.value, cluster.canonical])?;
                    }
                }
                app.flush()?;
            }
            let undo = new_table_name(&conn, None, &format!("{}_{}_merged", self.table, self.column))?;
            let rows = conn.execute(
                &format!("CREATE TABLE {} AS SELECT t.rowid AS row, t.{c} AS old, m.new FROM {t} AS t JOIN __dataforge_merge AS m ON t.{c} = m.old ORDER BY t.rowid", quote_ident(&undo)),
                [],
            )? as u64;
            register_in_catalog(&conn, &undo, &format!("values of {}.{} before a merge (undo)", self.table, self.column), Some(rows))?;
            conn.execute_batch(&format!("UPDATE {t} SET {c} = m.new FROM __dataforge_merge AS m WHERE {t}.{c} = m.old; DROP TABLE __dataforge_merge;"))?;
            Ok(MergeReport { rows_changed: rows, clusters: self.clusters.len(), undo_table: undo })
        });
        ctx.unwatch();
        let report = outcome?;
        let _ = super::profile::store::mark_changed(&conn, Some(&self.table));
        ctx.record_output(report.rows_changed, 0);
        Ok(report)
    }
}

/// Puts back the values a merge changed, and drops its undo table.
pub struct UndoMergeJob {
    pub workspace: Arc<Workspace>,
    pub table: String,
    pub column: String,
    pub undo_table: String,
}

impl Job for UndoMergeJob {
    type Output = u64;

    fn title(&self) -> String {
        format!("Undo the merge of {}.{}", self.table, self.column)
    }

    fn run(self, ctx: &JobCtx) -> Result<u64> {
        let _writing = self.workspace.writing();
        let conn = self.workspace.connect()?;
        text_column(&conn, &self.table, &self.column)?;
        let undo_columns: Vec<String> = table_columns(&conn, &self.undo_table)?.into_iter().map(|c| c.name).collect();
        if undo_columns != ["row", "old", "new"] {
            return Err(EngineError::InvalidOption(format!("{} is not the undo table of a merge", self.undo_table)));
        }
        let (t, c, u) = (quote_ident(&self.table), quote_ident(&self.column), quote_ident(&self.undo_table));
        let rows = in_transaction(&conn, || {
            let rows = conn.execute(&format!("UPDATE {t} SET {c} = u.old FROM {u} AS u WHERE {t}.rowid = u.row AND {t}.{c} IS NOT DISTINCT FROM u.new"), [])? as u64;
            conn.execute_batch(&format!("DROP TABLE {u}; DELETE FROM {}.tables WHERE name = {};", super::sql::META_SCHEMA, super::sql::quote_literal(&self.undo_table)))?;
            Ok(rows)
        })?;
        let _ = super::profile::store::mark_changed(&conn, Some(&self.table));
        ctx.record_output(rows, 0);
        Ok(rows)
    }
}
