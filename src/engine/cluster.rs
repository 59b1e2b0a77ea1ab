//! Clustering near-duplicate values of a text column, as OpenRefine does: key collision
//! (fingerprint, n-gram fingerprint, phonetic keys) and nearest neighbour (Levenshtein,
//! Jaro-Winkler) with blocking. Merging a cluster rewrites its values to one canonical value
//! in one transaction and keeps every old value in an undo table.
//!
//! Keys follow OpenRefine's keyers and their tests: values are folded by [`fold`] (the one
//! definition of "ignore case and accents", shared with dedupe's SQL), then fingerprints drop
//! Unicode punctuation, controls, modifier letters and modifier symbols, and split words at
//! any Unicode whitespace. Phonetic encoders read the whole folded value, as OpenRefine hands
//! whole cells to commons-codec.
//!
//! Nearest neighbours are not compared pair by pair. A value of `len` characters is cut into
//! `e + 1` pieces, `e` being the most edits the method accepts at that length (len / 3 at
//! most for Levenshtein). A value within `e` edits keeps one piece intact, a few places from
//! where it was (pigeonhole), so only values holding a piece near its place are compared
//! (Pass-Join, Li et al., PVLDB 2011). Piece size thus follows value length: one edit in the
//! middle of a 6–9 character value still leaves a piece in common. For Levenshtein no pair is
//! missed unless its intact piece is held by more than `MAX_BLOCK` values; for Jaro-Winkler `e`
//! is an estimate.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use duckdb::Connection;
use rphonetic::{Cologne, DoubleMetaphone, Encoder, Metaphone, Soundex};
use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result};
use super::fold::fold;
use super::job::{Job, JobCtx};
use super::sql::quote_ident;
use super::view::is_text_type;
use super::workspace::{Workspace, new_table_name, register_in_catalog, table_columns};

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

/// OpenRefine's fingerprint: the value folded, punctuation and the like removed, its distinct
/// words sorted and joined by one space.
pub fn fingerprint(value: &str) -> String {
    let cleaned: String = fold(value).chars().filter(|&c| !is_key_noise(c)).collect();
    let mut words: Vec<&str> = cleaned.split_whitespace().collect();
    words.sort_unstable();
    words.dedup();
    words.join(" ")
}

/// OpenRefine's n-gram fingerprint: the distinct sorted character n-grams of the folded value
/// without whitespace, controls and punctuation. A value shorter than `n` has none (the key is
/// empty and never clusters).
pub fn ngram_fingerprint(value: &str, n: usize) -> String {
    let n = n.max(1);
    let chars: Vec<char> = fold(value).chars().filter(|&c| !is_key_noise(c) && !c.is_whitespace() && !c.is_control()).collect();
    if chars.len() < n {
        return String::new();
    }
    let mut grams: Vec<String> = chars.windows(n).map(|w| w.iter().collect()).collect();
    grams.sort_unstable();
    grams.dedup();
    grams.concat()
}

/// What keys leave out, as OpenRefine's keyers do: Unicode punctuation, controls other than
/// whitespace, modifier letters and modifier symbols (ʼ, ˆ, `, ^). Also format characters
/// (soft hyphen, zero-width space, byte order mark), which OpenRefine keeps: they are invisible.
/// Other symbols ($, +, <, ©) stay, as in OpenRefine.
fn is_key_noise(c: char) -> bool {
    (c.is_control() && !c.is_whitespace())
        || KEY_NOISE
            .binary_search_by(|&(first, last)| {
                if last < c {
                    Ordering::Less
                } else if first > c {
                    Ordering::Greater
                } else {
                    Ordering::Equal
                }
            })
            .is_ok()
}

/// The phonetic key of a whole value, as OpenRefine's keyers give whole cells to
/// commons-codec: folded first, so that ß reads as SS and é as E, then the encoder's own rules
/// (Soundex skips what is not a letter; the others read it as a break). A value without an
/// ASCII letter has no key.
fn phonetic(value: &str, ascii_only: bool, encode: impl Fn(&str) -> String) -> String {
    let folded = fold(value);
    if !folded.bytes().any(|b| b.is_ascii_alphabetic()) {
        return String::new();
    }
    // Soundex and Metaphone index tables by letter and panic on other characters (ø was one
    // before folding); Cologne skips them itself and reads them as breaks, as commons-codec does.
    let text: String = if ascii_only { folded.chars().filter(char::is_ascii).collect() } else { folded };
    encode(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A Cologne code as commons-codec 1.22 gives it, which OpenRefine uses: a code is not
/// repeated across a vowel or an H (CODEC-317: "hoffmann" is 036, not 0366). rphonetic 3
/// still repeats it, and the codes it writes otherwise are the same.
fn without_repeats(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for c in code.chars() {
        if !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

/// The key a value collides on, for the key-collision methods.
fn key_fn(method: Method) -> Option<Box<dyn Fn(&str) -> String + Send + Sync>> {
    Some(match method {
        Method::Fingerprint => Box::new(fingerprint),
        Method::NGram(n) => Box::new(move |v| ngram_fingerprint(v, n)),
        Method::Metaphone => {
            let m = Metaphone::default();
            Box::new(move |v| phonetic(v, true, |w| m.encode(w)))
        }
        Method::DoubleMetaphone => {
            let m = DoubleMetaphone::default();
            Box::new(move |v| phonetic(v, true, |w| m.encode(w)))
        }
        Method::Soundex => {
            let m = Soundex::default();
            Box::new(move |v| phonetic(v, true, |w| m.encode(w)))
        }
        Method::Cologne => Box::new(|v| phonetic(v, false, |w| without_repeats(&Cologne.encode(w)))),
        Method::Levenshtein(_) | Method::JaroWinkler(_) => return None,
    })
}

/// A piece that more values than this share, at the same place and length, says little about
/// any two of them; its values are not compared through it. A pair whose only intact piece is
/// that common is missed.
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

/// A value as nearest-neighbour methods compare it: folded and trimmed, as text and as
/// characters.
struct Folded {
    text: String,
    chars: Vec<char>,
}

impl Folded {
    fn new(value: &str) -> Self {
        let text = fold(value.trim());
        let chars = text.chars().collect();
        Self { text, chars }
    }
}

/// Whether two values are near duplicates by `method`.
fn is_close(method: Method, x: &Folded, y: &Folded) -> bool {
    if x.text == y.text {
        return true;
    }
    let (x_len, y_len) = (x.chars.len(), y.chars.len());
    match method {
        Method::Levenshtein(radius) => {
            let limit = radius.min(x_len.max(y_len) / 4);
            limit > 0 && within_edits(&x.chars, &y.chars, limit)
        }
        Method::JaroWinkler(threshold) => x_len.min(y_len) >= 4 && jaro_winkler(&x.chars, &y.chars) >= threshold,
        _ => false,
    }
}

/// `strsim::jaro_winkler` on characters decoded once, with the same arithmetic and so the same
/// value (strsim decodes and rescans the second string for every character of the first).
fn jaro_winkler(a: &[char], b: &[char]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let range = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut a_matched = vec![false; a.len()];
    let mut b_matched = vec![false; b.len()];
    let mut matches = 0_usize;
    for (i, x) in a.iter().enumerate() {
        for j in i.saturating_sub(range)..b.len().min(i + range + 1) {
            if !b_matched[j] && b[j] == *x {
                a_matched[i] = true;
                b_matched[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let a_in_order = a.iter().zip(&a_matched).filter(|(_, m)| **m);
    let b_in_order = b.iter().zip(&b_matched).filter(|(_, m)| **m);
    let transpositions = a_in_order.zip(b_in_order).filter(|((x, _), (y, _))| x != y).count() / 2;
    let m = matches as f64;
    let jaro = (m / a.len() as f64 + m / b.len() as f64 + (matches - transpositions) as f64 / m) / 3.0;
    if jaro > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
        jaro + 0.1 * prefix as f64 * (1.0 - jaro)
    } else {
        jaro
    }
}

/// Whether `a` and `b` are at most `k` insertions, deletions and substitutions apart. Only
/// cells within `k` of the diagonal are computed, and it stops once a row exceeds `k`: most
/// pairs blocking proposes differ early.
fn within_edits(a: &[char], b: &[char], k: usize) -> bool {
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if b.len() - a.len() > k {
        return false;
    }
    let same_start = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[same_start..], &b[same_start..]);
    let same_end = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[..a.len() - same_end], &b[..b.len() - same_end]);
    let n = b.len();
    let over = k + 1;
    // Row i holds the distances from a[..i] to b[..j]; cells outside the band read as `over`.
    let mut prev: Vec<usize> = (0..=n).map(|j| if j <= k { j } else { over }).collect();
    let mut cur = vec![over; n + 1];
    for i in 1..=a.len() {
        let (first, last) = (i.saturating_sub(k), (i + k).min(n));
        if first > 0 {
            cur[first - 1] = over;
        }
        let mut row_min = over;
        for j in first..=last {
            let d = if j == 0 {
                i
            } else {
                let substitute = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
                substitute.min(prev[j] + 1).min(cur[j - 1] + 1)
            }
            .min(over);
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > k {
            return false;
        }
        if last < n {
            cur[last + 1] = over;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[n] <= k
}

/// The most edits `method` accepts between a value of `len` characters and a value at least
/// as long; blocking cuts a value into one piece more than this.
fn edits_allowed(method: Method, len: usize) -> usize {
    match method {
        // `is_close` allows min(radius, longest / 4) edits, and the longest is at most `len`
        // plus those edits: never more than len / 3.
        Method::Levenshtein(radius) => radius.min(len / 3),
        // Not an edit distance. Jaro-Winkler t leaves room for about 2.5·(1 − t)·len
        // substitutions behind a common 4-character prefix; pairs that need more are missed.
        Method::JaroWinkler(threshold) => {
            let substitutions = (2.5 * (1.0 - threshold) * len as f64 + 1e-9).floor();
            (substitutions as usize).max(1).min(len.saturating_sub(1))
        }
        _ => 0,
    }
}

/// `len` characters cut into `count` pieces as even as they can be, shorter ones first, as
/// (start, size). `count` is between 1 and `len`.
fn pieces(len: usize, count: usize) -> impl Iterator<Item = (usize, usize)> {
    let short = len / count;
    let first_long = count - len % count;
    (0..count).map(move |i| (i * short + i.saturating_sub(first_long), if i < first_long { short } else { short + 1 }))
}

fn nearest_neighbours(values: &[ValueCount], method: Method, ctx: Option<&JobCtx>) -> Result<Vec<Vec<usize>>> {
    let folded: Vec<Folded> = values.iter().map(|v| Folded::new(&v.value)).collect();
    // (length, piece number, piece) → the values cut so.
    let mut index: HashMap<(usize, usize, &[char]), Vec<usize>> = HashMap::new();
    for (i, f) in folded.iter().enumerate() {
        let c = &f.chars;
        if c.is_empty() {
            continue;
        }
        for (piece, (start, size)) in pieces(c.len(), edits_allowed(method, c.len()) + 1).enumerate() {
            index.entry((c.len(), piece, &c[start..start + size])).or_default().push(i);
        }
    }
    let mut parent: Vec<usize> = (0..values.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut compared_with = vec![usize::MAX; values.len()];
    // Each value looks for the values no longer than itself whose pieces it holds.
    for (i, f) in folded.iter().enumerate() {
        if i % 4096 == 0 {
            if let Some(ctx) = ctx {
                ctx.checkpoint()?;
                ctx.fraction(i as f64 / values.len().max(1) as f64);
            }
        }
        let r = &f.chars;
        let len = r.len();
        for shorter in len.saturating_sub(edits_allowed(method, len)).max(1)..=len {
            let edits = edits_allowed(method, shorter);
            let longer_by = len - shorter;
            if longer_by > edits {
                continue;
            }
            for (piece, (start, size)) in pieces(shorter, edits + 1).enumerate() {
                // Where piece `piece` can sit in this value if it is the piece that the edits
                // leave intact and that the proof of Pass-Join's multi-match-aware selection
                // picks: moved by at most `piece` from its place, and by at most `edits - piece`
                // from where the length difference puts it.
                let first = start.saturating_sub(piece).max((start + longer_by).saturating_sub(edits - piece));
                let last = (start + piece).min(start + longer_by + edits - piece).min(len - size);
                for at in first..=last {
                    let Some(holders) = index.get(&(shorter, piece, &r[at..at + size])) else { continue };
                    if holders.len() > MAX_BLOCK {
                        continue;
                    }
                    for &j in holders {
                        // Values of equal length find each other twice; the later one compares.
                        if j == i || (shorter == len && j > i) || compared_with[j] == i {
                            continue;
                        }
                        compared_with[j] = i;
                        let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                        if ri != rj && is_close(method, f, &folded[j]) {
                            parent[ri.max(rj)] = ri.min(rj);
                        }
                    }
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
/// Distinct values a column may have to be clustered (about 200 MB with their pieces).
pub const MAX_CLUSTERED_VALUES: u64 = 2_000_000;

fn distinct_values(conn: &Connection, table: &str, column: &str) -> Result<Vec<ValueCount>> {
    text_column(conn, table, column)?;
    let c = quote_ident(column);
    let mut stmt = conn.prepare(&format!("SELECT CAST({c} AS VARCHAR), count(*) FROM {} WHERE {c} IS NOT NULL GROUP BY {c}", quote_ident(table)))?;
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
        // Every distinct value (and its pieces, for blocking) is held in memory: a column with
        // more than a cap of them is refused, saying what to do instead.
        text_column(&conn, &self.table, &self.column)?;
        let c = quote_ident(&self.column);
        let distinct: i64 = conn.query_row(&format!("SELECT count(DISTINCT {c}) FROM {}", quote_ident(&self.table)), [], |r| r.get(0))?;
        if distinct as u64 > MAX_CLUSTERED_VALUES {
            ctx.unwatch();
            return Err(EngineError::Unsupported(format!(
                "\"{}\" has {} distinct values; clustering compares at most {} (each is held in memory). Filter the rows into a smaller table first, or remove exact duplicates by key",
                self.column,
                super::config::group_digits(distinct as u64),
                super::config::group_digits(MAX_CLUSTERED_VALUES)
            )));
        }
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
        let _lock = super::catalog::lock_table(&self.workspace, &self.table, ctx)?;
        ctx.watch(&conn)?;
        let outcome = ctx.transaction(&conn, || {
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
        let _lock = super::catalog::lock_table(&self.workspace, &self.table, ctx)?;
        // Rows are found again by their row number, which a table rebuilt since (a dedupe
        // or type change replacing it, a new import under its name) gave out anew.
        let replaced: bool = conn
            .query_row(
                &format!(
                    "SELECT coalesce(t.imported_at > u.imported_at, false) FROM {m}.tables AS t, {m}.tables AS u WHERE lower(t.name) = lower(?) AND u.name = ?",
                    m = super::sql::META_SCHEMA
                ),
                [&self.table, &self.undo_table],
                |r| r.get(0),
            )
            .or_else(|e| if matches!(e, duckdb::Error::QueryReturnedNoRows) { Ok(false) } else { Err(e) })?;
        if replaced {
            return Err(EngineError::Unsupported(format!(
                "\"{}\" was rebuilt after this merge (a dedupe or type change replaced it), so its rows are numbered anew and the merge cannot be undone row by row; the values before the merge are kept in \"{}\"",
                self.table, self.undo_table
            )));
        }
        let (t, c, u) = (quote_ident(&self.table), quote_ident(&self.column), quote_ident(&self.undo_table));
        let rows = ctx.transaction(&conn, || {
            let rows = conn.execute(&format!("UPDATE {t} SET {c} = u.old FROM {u} AS u WHERE {t}.rowid = u.row AND {t}.{c} IS NOT DISTINCT FROM u.new"), [])? as u64;
            conn.execute_batch(&format!("DROP TABLE {u}; DELETE FROM {}.tables WHERE name = {};", super::sql::META_SCHEMA, super::sql::quote_literal(&self.undo_table)))?;
            Ok(rows)
        })?;
        let _ = super::profile::store::mark_changed(&conn, Some(&self.table));
        ctx.record_output(rows, 0);
        Ok(rows)
    }
}

/// Unicode punctuation, modifier letters, modifier symbols and format characters (general
/// categories P*, Lm, Sk and Cf of Unicode 16), as merged ranges, sorted.
const KEY_NOISE: &[(char, char)] = &[
    ('\u{21}', '\u{23}'), ('\u{25}', '\u{2A}'), ('\u{2C}', '\u{2F}'), ('\u{3A}', '\u{3B}'), ('\u{3F}', '\u{40}'), ('\u{5B}', '\u{60}'),
    ('\u{7B}', '\u{7B}'), ('\u{7D}', '\u{7D}'), ('\u{A1}', '\u{A1}'), ('\u{A7}', '\u{A8}'), ('\u{AB}', '\u{AB}'), ('\u{AD}', '\u{AD}'),
    ('\u{AF}', '\u{AF}'), ('\u{B4}', '\u{B4}'), ('\u{B6}', '\u{B8}'), ('\u{BB}', '\u{BB}'), ('\u{BF}', '\u{BF}'), ('\u{2B0}', '\u{2FF}'),
    ('\u{374}', '\u{375}'), ('\u{37A}', '\u{37A}'), ('\u{37E}', '\u{37E}'), ('\u{384}', '\u{385}'), ('\u{387}', '\u{387}'), ('\u{559}', '\u{55F}'),
    ('\u{589}', '\u{58A}'), ('\u{5BE}', '\u{5BE}'), ('\u{5C0}', '\u{5C0}'), ('\u{5C3}', '\u{5C3}'), ('\u{5C6}', '\u{5C6}'), ('\u{5F3}', '\u{5F4}'),
    ('\u{600}', '\u{605}'), ('\u{609}', '\u{60A}'), ('\u{60C}', '\u{60D}'), ('\u{61B}', '\u{61F}'), ('\u{640}', '\u{640}'), ('\u{66A}', '\u{66D}'),
    ('\u{6D4}', '\u{6D4}'), ('\u{6DD}', '\u{6DD}'), ('\u{6E5}', '\u{6E6}'), ('\u{700}', '\u{70D}'), ('\u{70F}', '\u{70F}'), ('\u{7F4}', '\u{7F5}'),
    ('\u{7F7}', '\u{7FA}'), ('\u{81A}', '\u{81A}'), ('\u{824}', '\u{824}'), ('\u{828}', '\u{828}'), ('\u{830}', '\u{83E}'), ('\u{85E}', '\u{85E}'),
    ('\u{888}', '\u{888}'), ('\u{890}', '\u{891}'), ('\u{8C9}', '\u{8C9}'), ('\u{8E2}', '\u{8E2}'), ('\u{964}', '\u{965}'), ('\u{970}', '\u{971}'),
    ('\u{9FD}', '\u{9FD}'), ('\u{A76}', '\u{A76}'), ('\u{AF0}', '\u{AF0}'), ('\u{C77}', '\u{C77}'), ('\u{C84}', '\u{C84}'), ('\u{DF4}', '\u{DF4}'),
    ('\u{E46}', '\u{E46}'), ('\u{E4F}', '\u{E4F}'), ('\u{E5A}', '\u{E5B}'), ('\u{EC6}', '\u{EC6}'), ('\u{F04}', '\u{F12}'), ('\u{F14}', '\u{F14}'),
    ('\u{F3A}', '\u{F3D}'), ('\u{F85}', '\u{F85}'), ('\u{FD0}', '\u{FD4}'), ('\u{FD9}', '\u{FDA}'), ('\u{104A}', '\u{104F}'), ('\u{10FB}', '\u{10FC}'),
    ('\u{1360}', '\u{1368}'), ('\u{1400}', '\u{1400}'), ('\u{166E}', '\u{166E}'), ('\u{169B}', '\u{169C}'), ('\u{16EB}', '\u{16ED}'), ('\u{1735}', '\u{1736}'),
    ('\u{17D4}', '\u{17DA}'), ('\u{1800}', '\u{180A}'), ('\u{180E}', '\u{180E}'), ('\u{1843}', '\u{1843}'), ('\u{1944}', '\u{1945}'), ('\u{1A1E}', '\u{1A1F}'),
    ('\u{1AA0}', '\u{1AAD}'), ('\u{1B4E}', '\u{1B4F}'), ('\u{1B5A}', '\u{1B60}'), ('\u{1B7D}', '\u{1B7F}'), ('\u{1BFC}', '\u{1BFF}'), ('\u{1C3B}', '\u{1C3F}'),
    ('\u{1C78}', '\u{1C7F}'), ('\u{1CC0}', '\u{1CC7}'), ('\u{1CD3}', '\u{1CD3}'), ('\u{1D2C}', '\u{1D6A}'), ('\u{1D78}', '\u{1D78}'), ('\u{1D9B}', '\u{1DBF}'),
    ('\u{1FBD}', '\u{1FBD}'), ('\u{1FBF}', '\u{1FC1}'), ('\u{1FCD}', '\u{1FCF}'), ('\u{1FDD}', '\u{1FDF}'), ('\u{1FED}', '\u{1FEF}'), ('\u{1FFD}', '\u{1FFE}'),
    ('\u{200B}', '\u{2027}'), ('\u{202A}', '\u{202E}'), ('\u{2030}', '\u{2043}'), ('\u{2045}', '\u{2051}'), ('\u{2053}', '\u{205E}'), ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'), ('\u{2071}', '\u{2071}'), ('\u{207D}', '\u{207F}'), ('\u{208D}', '\u{208E}'), ('\u{2090}', '\u{209C}'), ('\u{2308}', '\u{230B}'),
    ('\u{2329}', '\u{232A}'), ('\u{2768}', '\u{2775}'), ('\u{27C5}', '\u{27C6}'), ('\u{27E6}', '\u{27EF}'), ('\u{2983}', '\u{2998}'), ('\u{29D8}', '\u{29DB}'),
    ('\u{29FC}', '\u{29FD}'), ('\u{2C7C}', '\u{2C7D}'), ('\u{2CF9}', '\u{2CFC}'), ('\u{2CFE}', '\u{2CFF}'), ('\u{2D6F}', '\u{2D70}'), ('\u{2E00}', '\u{2E4F}'),
    ('\u{2E52}', '\u{2E5D}'), ('\u{3001}', '\u{3003}'), ('\u{3005}', '\u{3005}'), ('\u{3008}', '\u{3011}'), ('\u{3014}', '\u{301F}'), ('\u{3030}', '\u{3035}'),
    ('\u{303B}', '\u{303B}'), ('\u{303D}', '\u{303D}'), ('\u{309B}', '\u{309E}'), ('\u{30A0}', '\u{30A0}'), ('\u{30FB}', '\u{30FE}'), ('\u{A015}', '\u{A015}'),
    ('\u{A4F8}', '\u{A4FF}'), ('\u{A60C}', '\u{A60F}'), ('\u{A673}', '\u{A673}'), ('\u{A67E}', '\u{A67F}'), ('\u{A69C}', '\u{A69D}'), ('\u{A6F2}', '\u{A6F7}'),
    ('\u{A700}', '\u{A721}'), ('\u{A770}', '\u{A770}'), ('\u{A788}', '\u{A78A}'), ('\u{A7F2}', '\u{A7F4}'), ('\u{A7F8}', '\u{A7F9}'), ('\u{A874}', '\u{A877}'),
    ('\u{A8CE}', '\u{A8CF}'), ('\u{A8F8}', '\u{A8FA}'), ('\u{A8FC}', '\u{A8FC}'), ('\u{A92E}', '\u{A92F}'), ('\u{A95F}', '\u{A95F}'), ('\u{A9C1}', '\u{A9CD}'),
    ('\u{A9CF}', '\u{A9CF}'), ('\u{A9DE}', '\u{A9DF}'), ('\u{A9E6}', '\u{A9E6}'), ('\u{AA5C}', '\u{AA5F}'), ('\u{AA70}', '\u{AA70}'), ('\u{AADD}', '\u{AADF}'),
    ('\u{AAF0}', '\u{AAF1}'), ('\u{AAF3}', '\u{AAF4}'), ('\u{AB5B}', '\u{AB5F}'), ('\u{AB69}', '\u{AB6B}'), ('\u{ABEB}', '\u{ABEB}'), ('\u{FBB2}', '\u{FBC2}'),
    ('\u{FD3E}', '\u{FD3F}'), ('\u{FE10}', '\u{FE19}'), ('\u{FE30}', '\u{FE52}'), ('\u{FE54}', '\u{FE61}'), ('\u{FE63}', '\u{FE63}'), ('\u{FE68}', '\u{FE68}'),
    ('\u{FE6A}', '\u{FE6B}'), ('\u{FEFF}', '\u{FEFF}'), ('\u{FF01}', '\u{FF03}'), ('\u{FF05}', '\u{FF0A}'), ('\u{FF0C}', '\u{FF0F}'), ('\u{FF1A}', '\u{FF1B}'),
    ('\u{FF1F}', '\u{FF20}'), ('\u{FF3B}', '\u{FF40}'), ('\u{FF5B}', '\u{FF5B}'), ('\u{FF5D}', '\u{FF5D}'), ('\u{FF5F}', '\u{FF65}'), ('\u{FF70}', '\u{FF70}'),
    ('\u{FF9E}', '\u{FF9F}'), ('\u{FFE3}', '\u{FFE3}'), ('\u{FFF9}', '\u{FFFB}'), ('\u{10100}', '\u{10102}'), ('\u{1039F}', '\u{1039F}'), ('\u{103D0}', '\u{103D0}'),
    ('\u{1056F}', '\u{1056F}'), ('\u{10780}', '\u{10785}'), ('\u{10787}', '\u{107B0}'), ('\u{107B2}', '\u{107BA}'), ('\u{10857}', '\u{10857}'), ('\u{1091F}', '\u{1091F}'),
    ('\u{1093F}', '\u{1093F}'), ('\u{10A50}', '\u{10A58}'), ('\u{10A7F}', '\u{10A7F}'), ('\u{10AF0}', '\u{10AF6}'), ('\u{10B39}', '\u{10B3F}'), ('\u{10B99}', '\u{10B9C}'),
    ('\u{10D4E}', '\u{10D4E}'), ('\u{10D6E}', '\u{10D6F}'), ('\u{10EAD}', '\u{10EAD}'), ('\u{10F55}', '\u{10F59}'), ('\u{10F86}', '\u{10F89}'), ('\u{11047}', '\u{1104D}'),
    ('\u{110BB}', '\u{110C1}'), ('\u{110CD}', '\u{110CD}'), ('\u{11140}', '\u{11143}'), ('\u{11174}', '\u{11175}'), ('\u{111C5}', '\u{111C8}'), ('\u{111CD}', '\u{111CD}'),
    ('\u{111DB}', '\u{111DB}'), ('\u{111DD}', '\u{111DF}'), ('\u{11238}', '\u{1123D}'), ('\u{112A9}', '\u{112A9}'), ('\u{113D4}', '\u{113D5}'), ('\u{113D7}', '\u{113D8}'),
    ('\u{1144B}', '\u{1144F}'), ('\u{1145A}', '\u{1145B}'), ('\u{1145D}', '\u{1145D}'), ('\u{114C6}', '\u{114C6}'), ('\u{115C1}', '\u{115D7}'), ('\u{11641}', '\u{11643}'),
    ('\u{11660}', '\u{1166C}'), ('\u{116B9}', '\u{116B9}'), ('\u{1173C}', '\u{1173E}'), ('\u{1183B}', '\u{1183B}'), ('\u{11944}', '\u{11946}'), ('\u{119E2}', '\u{119E2}'),
    ('\u{11A3F}', '\u{11A46}'), ('\u{11A9A}', '\u{11A9C}'), ('\u{11A9E}', '\u{11AA2}'), ('\u{11B00}', '\u{11B09}'), ('\u{11BE1}', '\u{11BE1}'), ('\u{11C41}', '\u{11C45}'),
    ('\u{11C70}', '\u{11C71}'), ('\u{11EF7}', '\u{11EF8}'), ('\u{11F43}', '\u{11F4F}'), ('\u{11FFF}', '\u{11FFF}'), ('\u{12470}', '\u{12474}'), ('\u{12FF1}', '\u{12FF2}'),
    ('\u{13430}', '\u{1343F}'), ('\u{16A6E}', '\u{16A6F}'), ('\u{16AF5}', '\u{16AF5}'), ('\u{16B37}', '\u{16B3B}'), ('\u{16B40}', '\u{16B44}'), ('\u{16D40}', '\u{16D42}'),
    ('\u{16D6B}', '\u{16D6F}'), ('\u{16E97}', '\u{16E9A}'), ('\u{16F93}', '\u{16F9F}'), ('\u{16FE0}', '\u{16FE3}'), ('\u{1AFF0}', '\u{1AFF3}'), ('\u{1AFF5}', '\u{1AFFB}'),
    ('\u{1AFFD}', '\u{1AFFE}'), ('\u{1BC9F}', '\u{1BCA3}'), ('\u{1D173}', '\u{1D17A}'), ('\u{1DA87}', '\u{1DA8B}'), ('\u{1E030}', '\u{1E06D}'), ('\u{1E137}', '\u{1E13D}'),
    ('\u{1E4EB}', '\u{1E4EB}'), ('\u{1E5FF}', '\u{1E5FF}'), ('\u{1E94B}', '\u{1E94B}'), ('\u{1E95E}', '\u{1E95F}'), ('\u{1F3FB}', '\u{1F3FF}'), ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// OpenRefine's `FingerprintKeyerTests.testStrings`: every group, in its order.
    const FINGERPRINT_GROUPS: [(&str, &str); 45] = [
        ("the multi multi word test", "multi test the word"),
        (" école ÉCole ecoLe ", "ecole"),
        ("a b c d", "a b c d"),
        (" d c b a ", "a b c d"),
        ("\tABC \t DEF ", "abc def"),
        ("bbb\taaa", "aaa bbb"),
        ("æø", "aeoe"),
        ("©ß", "css"),
        ("ÐðÞþǷƿ", "ddththww"),
        ("ﬀﬁﬂﬃﬅﬆ", "fffiflffistst"),
        ("ÀÁÂÃÄÅàáâãäåĀāĂăĄą", "aaaaaaaaaaaaaaaaaa"),
        ("ÇçĆćĈĉĊċČč", "cccccccccc"),
        ("ÐðĎďĐđ", "dddddd"),
        ("ÈÉÊËèéêëĒēĔĕĖėĘęĚě", "eeeeeeeeeeeeeeeeee"),
        ("ĜĝĞğĠġĢģ", "gggggggg"),
        ("Ĥĥ", "hh"),
        ("Ħħ", "hh"),
        ("ÌÍÎÏìíîïĨĩĪīĬĭĮįİ", "iiiiiiiiiiiiiiiii"),
        ("ı", "i"),
        ("Ĵĵ", "jj"),
        ("Ķķ", "kk"),
        ("ĸ", "k"),
        ("ĹĺĻļĽľŁł", "llllllll"),
        ("Ŀŀ", "ll"),
        ("ÑñŃńŅņŇň", "nnnnnnnn"),
        ("ŉ", "n"),
        ("Ŋŋ", "nn"),
        ("ÒÓÔÕÖòóôõöŌōŎŏŐő", "oooooooooooooooo"),
        ("Øø", "oeoe"),
        ("ŔŕŖŗŘř", "rrrrrr"),
        ("ŚśŜŝŞşŠšſ", "sssssssss"),
        ("ŢţŤťŦŧ", "tttttt"),
        ("ÙÚÛÜùúûüŨũŪūŬŭŮůŰűŲų", "uuuuuuuuuuuuuuuuuuuu"),
        ("Ŵŵ", "ww"),
        ("ÝýÿŶŷŸ", "yyyyyy"),
        ("ŹźŻżŽž", "zzzzzz"),
        ("a\t\nb\u{B}c\u{C}d\re\u{85}f\u{A0}g\u{1680}h\u{2000}i\u{2001}j\u{2002}k\u{2003}l\u{2004}m\u{2005}n\u{2006}o\u{2007}p\u{2008}q\u{2009}r\u{200A}s\u{2028}t\u{2029}u\u{202F}v\u{205F}w\u{3000}z", "a b c d e f g h i j k l m n o p q r s t u v w z"),
        ("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ", "aaaaaaaeceeeeiiiidnooooooeuuuuythssaaaaaaaeceeeeiiiidnooooooeuuuuythy"),
        ("ĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĲĳĴĵĶķĸĹĺĻļĽľĿŀŁłŃńŅņŇňŉŊŋŌōŎŏŐőŒœŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſ", "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiijijjjkkkllllllllllnnnnnnnnnoooooooeoerrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs"),
        ("ḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗ", "aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmmmmmmnnnnnnnnoooooooopppp"),
        ("ṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕ", "rrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwwwwwwwwxxxxyyzzzzzz"),
        ("ẖẗẘẙẚẛẜẝẞẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệ", "htwyasssssaaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeeeeeeeee"),
        ("", ""),
        ("", ""),
        ("", ""),
    ];

    /// OpenRefine's `NGramFingerprintKeyerTest`: its table at n = 2, then its cases at 1 and 3.
    const NGRAM_GROUPS: [(&str, usize, &str); 11] = [
        ("abcdefg", 2, "abbccddeeffg"),
        ("gfedcba", 2, "bacbdcedfegf"),
        ("a b c d e f g", 2, "abbccddeeffg"),
        (" a,b.c d\te!f?g ", 2, "abbccddeeffg"),
        ("écÉCec", 2, "ceec"),
        ("a\t\nb\u{B}c\u{C}d\re\u{85}f\u{A0}g\u{1680}h\u{2000}i\u{2001}j\u{2002}k\u{2003}l\u{2004}m\u{2005}n\u{2006}o\u{2007}p\u{2008}q\u{2009}r\u{200A}s\u{2028}t\u{2029}u\u{202F}v\u{205F}w\u{3000}z", 2, "abbccddeeffgghhiijjkkllmmnnooppqqrrssttuuvvwwz"),
        ("", 2, ""),
        ("", 2, ""),
        ("hello", 1, "ehlo"),
        ("he!llo,. world", 1, "dehlorw"),
        ("\u{1}a, !b-c_d\u{A0}d\tz\u{3}", 3, "abcbcdcddddz"),
    ];

    fn key(method: Method, value: &str) -> String {
        key_fn(method).map(|k| k(value)).unwrap_or_default()
    }

    fn values(list: &[&str]) -> Vec<ValueCount> {
        list.iter().map(|v| ValueCount { value: v.to_string(), count: 1 }).collect()
    }

    /// Each cluster as its sorted values, the clusters sorted.
    fn grouped(found: &[Cluster]) -> Vec<Vec<String>> {
        let mut groups: Vec<Vec<String>> = found
            .iter()
            .map(|c| {
                let mut v: Vec<String> = c.values.iter().map(|v| v.value.clone()).collect();
                v.sort();
                v
            })
            .collect();
        groups.sort();
        groups
    }

    #[test]
    fn fingerprints_match_openrefine() {
        let differ: Vec<String> = FINGERPRINT_GROUPS
            .iter()
            .filter(|(value, want)| fingerprint(value) != *want)
            .map(|(value, want)| format!("{value:?}: {:?}, OpenRefine {want:?}", fingerprint(value)))
            .collect();
        assert!(differ.is_empty(), "{} of {} groups differ:\n{}", differ.len(), FINGERPRINT_GROUPS.len(), differ.join("\n"));
    }

    #[test]
    fn ngram_fingerprints_match_openrefine() {
        let differ: Vec<String> = NGRAM_GROUPS
            .iter()
            .filter(|(value, n, want)| ngram_fingerprint(value, *n) != *want)
            .map(|(value, n, want)| format!("{value:?} at {n}: {:?}, OpenRefine {want:?}", ngram_fingerprint(value, *n)))
            .collect();
        assert!(differ.is_empty(), "{} of {} groups differ:\n{}", differ.len(), NGRAM_GROUPS.len(), differ.join("\n"));
    }

    #[test]
    fn whitespace_punctuation_and_letters_fold_as_the_issue_asks() {
        for (a, b) in [
            ("bar\tfoo", "foo bar"),
            ("bar\u{85}foo", "foo bar"),
            ("bar\u{2028}foo", "foo bar"),
            ("bar\u{A0}foo", "foo bar"),
            ("Straße", "Strasse"),
            ("Łódź", "Lodz"),
            ("„Zitat“ – ja", "zitat ja"),
            ("«Ærø»", "AEROE"),
            ("ﬁnal ｆｉｎａｌ", "final"),
            ("co\u{AD}operation", "cooperation"),
        ] {
            assert_eq!(fingerprint(a), fingerprint(b), "{a:?} / {b:?}");
        }
        // Symbols other than modifiers stay, as in OpenRefine.
        assert_eq!(fingerprint("a+b $5"), "$5 a+b");
        assert_eq!(ngram_fingerprint("Straße", 2), ngram_fingerprint("STRASSE", 2));
    }

    /// commons-codec's `ColognePhoneticTest` cases, through the key (so through folding).
    #[test]
    fn cologne_matches_commons_codec() {
        for (value, want) in [
            ("Aabjoe", "01"),
            ("Aaclan", "0856"),
            ("Aychlmajr", "04567"),
            ("a", "0"),
            ("\u{E4}", "0"),
            ("\u{F6}", "0"),
            ("\u{FC}", "0"),
            ("\u{DF}", "8"),
            ("h", ""),
            ("ph", "3"),
            ("x", "48"),
            ("cx", "48"),
            ("acl", "085"),
            ("{mn}", "6"),
            ("m\u{DC}ller", "657"),
            ("m\u{FC}ller", "657"),
            ("schmidt", "862"),
            ("sch\u{C4}fer", "837"),
            ("sch\u{E4}fer", "837"),
            ("m\u{F6}nchengladbach", "64645214"),
            ("Breschnew", "17863"),
            ("Wikipedia", "3412"),
            ("deutsch", "28"),
            ("Xanthippe", "48621"),
            ("Celsius", "858"),
            ("shch", "84"),
            ("xch", "484"),
            ("heithabu", "021"),
            ("hoffmann", "036"),
            ("Eberhard", "0172"),
            ("Eberhardt", "0172"),
            ("bergisch-gladbach", "174845214"),
            ("M\u{FC}ller-L\u{FC}denscheidt", "65752682"),
        ] {
            assert_eq!(key(Method::Cologne, value), want, "{value:?}");
        }
        for (want, variants) in [
            ("28282", vec!["Test test", "Testtest", "Test-test", "TesT#Test", "TesT?test"]),
            ("65", vec!["mella", "milah", "moulla", "mellah", "muehle", "mule"]),
            ("67", vec!["Meier", "Maier", "Mair", "Meyer", "Meyr", "Mejer", "Major"]),
        ] {
            for value in variants {
                assert_eq!(key(Method::Cologne, value), want, "{value:?}");
            }
        }
        for (a, b) in [("Muller", "M\u{FC}ller"), ("Meyer", "Mayr"), ("Haus", "house"), ("ganz", "Gans"), ("ganz", "G\u{E4}nse"), ("Miyagi", "Miyako")] {
            assert_eq!(key(Method::Cologne, a), key(Method::Cologne, b), "{a:?} / {b:?}");
        }
    }

    /// commons-codec's `SoundexTest` cases that concern letters and separators.
    #[test]
    fn soundex_matches_commons_codec() {
        for (value, want) in [
            ("testing", "T235"),
            ("Ashcraft", "A261"),
            ("Tymczak", "T522"),
            ("Pfister", "P236"),
            ("HOL>MES", "H452"),
            (" \t\n\r Washington \t\n\r ", "W252"),
            ("O'Brien", "O165"),
            ("OBrie'n", "O165"),
            ("KING-SMITH", "K525"),
            ("K-INGSMITH", "K525"),
            ("BOOTH-DAVIS", "B312"),
            // commons-codec refuses these; folded, they read as their base letters.
            ("\u{E9}", "E000"),
            ("\u{F6}", "O000"),
        ] {
            assert_eq!(key(Method::Soundex, value), want, "{value:?}");
        }
    }

    #[test]
    fn phonetic_keys_read_sharp_s_as_ss() {
        assert_eq!(key(Method::Soundex, "Strau\u{DF}"), "S362");
        assert_eq!(key(Method::Cologne, "Strau\u{DF}"), "8278");
        for method in [Method::Metaphone, Method::DoubleMetaphone, Method::Soundex, Method::Cologne] {
            for (spelling, plain) in [("Strau\u{DF}", "Strauss"), ("STRAU\u{1E9E}", "Strauss"), ("Stra\u{DF}e", "STRASSE"), ("G\u{E4}u\u{DF}chen", "Gausschen")] {
                assert!(!key(method, plain).is_empty(), "{method:?} {plain:?}");
                assert_eq!(key(method, spelling), key(method, plain), "{method:?} {spelling:?}");
            }
            assert_eq!(key(method, "東京"), "", "{method:?}");
        }
    }

    #[test]
    fn one_edit_in_the_middle_of_a_short_value_shares_a_block() {
        for method in [Method::Levenshtein(1), Method::Levenshtein(2), Method::JaroWinkler(0.9)] {
            for (a, b) in [("NewYork", "New York"), ("Makeba", "Makela")] {
                let found = clusters(&values(&[a, b]), method, None).expect("clusters");
                let mut want = vec![a.to_string(), b.to_string()];
                want.sort();
                assert_eq!(grouped(&found), [want], "{method:?}");
            }
            for word in ["abcdef", "abcdefg", "abcdefgh", "abcdefghi"] {
                let mid = word.len() / 2;
                let substituted = format!("{}x{}", &word[..mid], &word[mid + 1..]);
                let inserted = format!("{}x{}", &word[..mid], &word[mid..]);
                let deleted = format!("{}{}", &word[..mid], &word[mid + 1..]);
                for other in [substituted, inserted, deleted] {
                    let found = clusters(&values(&[word, other.as_str()]), method, None).expect("clusters");
                    assert_eq!(found.len(), 1, "{method:?}: {word} / {other}");
                }
            }
        }
    }

    /// Every pair `is_close` accepts, compared one by one: what blocking must find.
    fn all_pairs(values: &[ValueCount], method: Method) -> Vec<Vec<String>> {
        let folded: Vec<Folded> = values.iter().map(|v| Folded::new(&v.value)).collect();
        let mut group: Vec<usize> = (0..values.len()).collect();
        for i in 0..values.len() {
            for j in 0..i {
                let (gi, gj) = (group[i], group[j]);
                if gi != gj && is_close(method, &folded[i], &folded[j]) {
                    let (keep, gone) = (gi.min(gj), gi.max(gj));
                    group.iter_mut().filter(|g| **g == gone).for_each(|g| *g = keep);
                }
            }
        }
        let mut by_group: HashMap<usize, Vec<String>> = HashMap::new();
        for (i, g) in group.into_iter().enumerate() {
            by_group.entry(g).or_default().push(values[i].value.clone());
        }
        let mut groups: Vec<Vec<String>> = by_group.into_values().filter(|g| g.len() > 1).collect();
        groups.iter_mut().for_each(|g| g.sort());
        groups.sort();
        groups
    }

    #[test]
    fn blocking_finds_every_pair_levenshtein_accepts() {
        let mut spellings: BTreeSet<String> = BTreeSet::new();
        for word in ["makeba", "lodz", "kowalski", "amsterdam", "new york", "strasse", "barcelona", "abcdefghijkl", "Müller", "Ærøskøbing"] {
            let chars: Vec<char> = word.chars().collect();
            let with = |at: usize, skip: usize, put: &str| -> String {
                chars[..at].iter().collect::<String>() + put + &chars[(at + skip).min(chars.len())..].iter().collect::<String>()
            };
            spellings.insert(word.to_string());
            for at in 0..chars.len() {
                spellings.insert(with(at, 1, "x"));
                spellings.insert(with(at, 1, ""));
                spellings.insert(with(at, 0, "y"));
                if at + 2 < chars.len() {
                    let mut twice = chars.clone();
                    twice[at] = 'x';
                    twice[at + 2] = 'z';
                    spellings.insert(twice.into_iter().collect());
                }
            }
        }
        let list: Vec<&str> = spellings.iter().map(String::as_str).collect();
        let values = values(&list);
        for method in [Method::Levenshtein(1), Method::Levenshtein(2), Method::Levenshtein(3)] {
            let found = clusters(&values, method, None).expect("clusters");
            assert_eq!(grouped(&found), all_pairs(&values, method), "{method:?}");
        }
    }

    #[test]
    fn jaro_winkler_agrees_with_strsim() {
        let words = ["", "a", "ab", "ba", "martha", "marhta", "dwayne", "duane", "dixon", "dicksonx", "makeba", "makela", "new york", "nwe york", "york new", "straße", "strasse", "abcd", "abcdefgh"];
        for x in words {
            for y in words {
                let (a, b): (Vec<char>, Vec<char>) = (x.chars().collect(), y.chars().collect());
                assert_eq!(jaro_winkler(&a, &b).to_bits(), strsim::jaro_winkler(x, y).to_bits(), "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn within_edits_agrees_with_levenshtein() {
        let words = ["", "a", "ab", "ba", "abc", "acb", "kitten", "sitting", "sittin", "makeba", "makela", "newyork", "new york", "abcdefgh", "hgfedcba", "aaaa", "aaab", "baaa", "strasse", "straße"];
        for x in words {
            for y in words {
                let (a, b): (Vec<char>, Vec<char>) = (x.chars().collect(), y.chars().collect());
                let distance = strsim::levenshtein(x, y);
                for k in 0..5 {
                    assert_eq!(within_edits(&a, &b, k), distance <= k, "{x:?} {y:?} within {k}");
                }
            }
        }
    }
}
