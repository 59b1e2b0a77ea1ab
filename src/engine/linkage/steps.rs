//! The steps of a run, each DuckDB SQL over the prepared rows: blocking, comparing pairs,
//! u from random pairs, the prior, scoring, labels, clusters and the result tables.

use duckdb::Connection;

use super::compare::Comparison;
use super::model::Pattern;
use super::{MatchSpec, PAIRS_TABLE_FLOOR, RANDOM_PAIRS, SPLIT_BELOW, Sides, cluster, labels};
use crate::engine::dedupe::unused_name;
use crate::engine::error::Result;
use crate::engine::sql::{quote_ident, quote_literal};
use crate::engine::workspace::{ColumnInfo, new_table_name, register_in_catalog};

/// Column names of the prepared values of comparison `i`.
pub(super) fn prepared(i: usize) -> (String, String) {
    (format!("c{i}"), format!("c{i}x"))
}

/// Creates `target`: each row's number `_row` (0-based, in table order), its rowid and its
/// prepared values. Returns the row count.
pub(super) fn prepare(conn: &Connection, table: &str, comparisons: &[Comparison], target: &str) -> Result<u64> {
    let mut select = vec!["CAST(row_number() OVER (ORDER BY rowid) - 1 AS UINTEGER) AS _row".to_string(), "rowid AS _rowid".to_string()];
    for (i, c) in comparisons.iter().enumerate() {
        let (main, second) = c.kind.prepare_sql(&quote_ident(&c.column));
        let (a, a2) = prepared(i);
        select.push(format!("{main} AS {a}"));
        select.push(format!("{second} AS {a2}"));
    }
    conn.execute_batch(&format!("CREATE OR REPLACE TEMP TABLE {target} AS SELECT {} FROM {}", select.join(", "), quote_ident(table)))?;
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {target}"), [], |r| r.get(0))?;
    Ok(n as u64)
}

/// The key expressions of a rule over the prepared table aliased `side`.
pub(super) fn rule_keys(comparisons: &[Comparison], rule: &[usize], side: &str) -> Vec<String> {
    rule.iter()
        .map(|&i| {
            let (a, a2) = prepared(i);
            comparisons[i].kind.block_key(&format!("{side}.{a}"), &format!("{side}.{a2}"))
        })
        .collect()
}

/// A rule as a join condition between `l` and `r` (NULL keys never join).
pub(super) fn rule_condition(comparisons: &[Comparison], rule: &[usize]) -> String {
    let l = rule_keys(comparisons, rule, "l");
    let r = rule_keys(comparisons, rule, "r");
    l.iter().zip(&r).map(|(a, b)| format!("{a} = {b}")).collect::<Vec<_>>().join(" AND ")
}

/// Pairs a rule gives on its own, counted from the sizes of its key groups.
pub(super) fn count_rule_pairs(conn: &Connection, sides: &Sides, comparisons: &[Comparison], rule: &[usize]) -> Result<u64> {
    let grouped = |table: &str| {
        let keys = rule_keys(comparisons, rule, "t");
        let named: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("{k} AS k{i}")).collect();
        let present: Vec<String> = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect();
        format!("SELECT {}, count(*) AS n FROM {table} AS t WHERE {} GROUP BY ALL", named.join(", "), present.join(" AND "))
    };
    let sql = if sides.is_link() {
        let on: Vec<String> = (0..rule.len()).map(|i| format!("a.k{i} = b.k{i}")).collect();
        format!("SELECT coalesce(sum(a.n * b.n), 0)::DOUBLE FROM ({}) AS a JOIN ({}) AS b ON {}", grouped("__match_a"), grouped("__match_b"), on.join(" AND "))
    } else {
        format!("SELECT coalesce(sum(n * (n - 1) / 2), 0)::DOUBLE FROM ({})", grouped("__match_a"))
    };
    let pairs: f64 = conn.query_row(&sql, [], |r| r.get(0))?;
    Ok(pairs as u64)
}

/// Proposes blocking rules: each column that tells people apart, alone when its pairs stay
/// under the budget, else with the partner that gives the most pairs under it.
pub(super) fn propose_rules(conn: &Connection, sides: &Sides, comparisons: &[Comparison]) -> Result<Vec<Vec<usize>>> {
    let rows = sides.n_a.max(sides.n_b);
    let budget = (rows.saturating_mul(10)).max(100_000);
    let strong: Vec<usize> = (0..comparisons.len()).filter(|&i| comparisons[i].kind.identifies_people()).collect();
    let mut rules: Vec<Vec<usize>> = Vec::new();
    let mut too_coarse = Vec::new();
    for &i in &strong {
        if count_rule_pairs(conn, sides, comparisons, &[i])? <= budget {
            rules.push(vec![i]);
        } else {
            too_coarse.push(i);
        }
    }
    for &i in &too_coarse {
        let mut best: Option<(u64, usize)> = None;
        for j in 0..comparisons.len() {
            if j == i {
                continue;
            }
            let pairs = count_rule_pairs(conn, sides, comparisons, &[i, j])?;
            if pairs <= budget && best.is_none_or(|(b, _)| pairs > b) {
                best = Some((pairs, j));
            }
        }
        if let Some((_, j)) = best {
            let mut rule = vec![i, j];
            rule.sort_unstable();
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
    }
    Ok(rules)
}

/// The level codes of comparison `i` for the pair `l`, `r`.
pub(super) fn level_sql(comparisons: &[Comparison], i: usize) -> String {
    let (a, a2) = prepared(i);
    comparisons[i].kind.level_sql(&format!("l.{a}"), &format!("r.{a}"), &format!("l.{a2}"), &format!("r.{a2}"))
}

/// Creates `__match_pairs`: each distinct candidate pair once, its level codes `g0…` and a
/// `mask` of the rules it satisfies. Returns the pair count.
pub(super) fn create_pairs(conn: &Connection, sides: &Sides, comparisons: &[Comparison], rules: &[Vec<usize>]) -> Result<u64> {
    let right = sides.right();
    let order = sides.pair_order();
    let mut parts = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let mut condition = format!("{} AND {order}", rule_condition(comparisons, rule));
        for earlier in &rules[..i] {
            condition.push_str(&format!(" AND NOT coalesce({}, false)", rule_condition(comparisons, earlier)));
        }
        parts.push(format!("SELECT l._row AS l, r._row AS r FROM __match_a AS l JOIN {right} AS r ON {condition}"));
    }
    let levels: Vec<String> = (0..comparisons.len()).map(|i| format!("{} AS g{i}", level_sql(comparisons, i))).collect();
    let mask: Vec<String> =
        rules.iter().enumerate().map(|(i, rule)| format!("CASE WHEN {} THEN {} ELSE 0 END", rule_condition(comparisons, rule), 1u64 << i)).collect();
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE __match_pairs AS
         SELECT p.l, p.r, {}, CAST({} AS UBIGINT) AS mask
         FROM ({}) AS p JOIN __match_a AS l ON l._row = p.l JOIN {right} AS r ON r._row = p.r",
        levels.join(", "),
        mask.join(" + "),
        parts.join(" UNION ALL ")
    ))?;
    let n: i64 = conn.query_row("SELECT count(*) FROM __match_pairs", [], |r| r.get(0))?;
    Ok(n as u64)
}

/// u of every level: how often random pairs (almost all non-matches) land there.
pub(super) fn estimate_u(conn: &Connection, sides: &Sides, comparisons: &[Comparison]) -> Result<(Vec<Vec<f64>>, u64)> {
    let wanted = RANDOM_PAIRS.min((sides.all_pairs() as u64).saturating_mul(4)).max(1);
    let right = sides.right();
    let different = if sides.is_link() { "TRUE" } else { "s.a <> s.b" };
    let levels: Vec<String> = (0..comparisons.len()).map(|i| format!("{} AS g{i}", level_sql(comparisons, i))).collect();
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE __match_random AS
         SELECT {} FROM (SELECT CAST(hash(i, 17) % {na} AS UINTEGER) AS a, CAST(hash(i, 29) % {nb} AS UINTEGER) AS b FROM range({wanted}) AS t(i)) AS s
         JOIN __match_a AS l ON l._row = s.a JOIN {right} AS r ON r._row = s.b WHERE {different}",
        levels.join(", "),
        na = sides.n_a.max(1),
        nb = sides.n_b.max(1),
    ))?;
    let drawn: i64 = conn.query_row("SELECT count(*) FROM __match_random", [], |r| r.get(0))?;
    let mut u = Vec::new();
    for (i, c) in comparisons.iter().enumerate() {
        let n = c.kind.levels();
        let mut counts = vec![0f64; n];
        let mut stmt = conn.prepare(&format!("SELECT g{i}, count(*) FROM __match_random WHERE g{i} >= 0 GROUP BY 1"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let level: i8 = row.get(0)?;
            counts[level as usize] = row.get::<_, i64>(1)? as f64;
        }
        let total: f64 = counts.iter().sum();
        // A level no random pair reached is rarer than one in the pairs drawn.
        let floor = 0.5 / total.max(1.0);
        u.push(if total == 0.0 { vec![1.0 / n as f64; n] } else { counts.iter().map(|&k| (k / total).max(floor)).collect() });
    }
    Ok((u, drawn as u64))
}

/// The distinct level patterns of the candidate pairs where `filter` holds, with counts.
pub(super) fn patterns(conn: &Connection, comparisons: usize, filter: &str) -> Result<Vec<Pattern>> {
    let g: Vec<String> = (0..comparisons).map(|i| format!("g{i}")).collect();
    let mut stmt = conn.prepare(&format!("SELECT {g}, count(*) FROM __match_pairs WHERE {filter} GROUP BY {g}", g = g.join(", ")))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let levels = (0..comparisons).map(|i| row.get::<_, i8>(i)).collect::<duckdb::Result<Vec<i8>>>()?;
        out.push(Pattern { levels, count: row.get::<_, i64>(comparisons)? as f64 });
    }
    Ok(out)
}

/// λ from deterministic rules: pairs that agree exactly on a rule's columns and on enough
/// others that random agreement is negligible are matches; the share of all matches they
/// catch is the product of those comparisons' exact-level m. The median over the rules.
pub(super) fn estimate_prior(conn: &Connection, sides: &Sides, rules: &[Vec<usize>], comparisons: &[Comparison], m: &[Vec<f64>], u: &[Vec<f64>]) -> Result<f64> {
    let all = sides.all_pairs().max(1.0);
    let exact = |c: usize| comparisons[c].kind.levels() - 1;
    let mut by_u: Vec<usize> = (0..comparisons.len()).collect();
    by_u.sort_by(|&a, &b| u[a][exact(a)].total_cmp(&u[b][exact(b)]));
    let mut estimates = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let mut chosen = rule.clone();
        let mut rest = by_u.iter().filter(|c| !rule.contains(c));
        loop {
            let agree: Vec<String> = chosen.iter().map(|&c| format!("g{c} = {}", exact(c))).collect();
            let caught: i64 = conn.query_row(&format!("SELECT count(*) FROM __match_pairs WHERE mask & {} <> 0 AND {}", 1u64 << i, agree.join(" AND ")), [], |r| r.get(0))?;
            let by_chance = all * chosen.iter().map(|&c| u[c][exact(c)]).product::<f64>();
            if by_chance <= 0.01 * caught as f64 {
                let recall: f64 = chosen.iter().map(|&c| m[c][exact(c)]).product();
                if caught > 0 && recall > 0.0 {
                    estimates.push((caught as f64 - by_chance) / recall);
                }
                break;
            }
            match rest.next() {
                Some(&next) => chosen.push(next),
                None => break,
            }
        }
    }
    estimates.sort_by(f64::total_cmp);
    let matches = match estimates.len() {
        0 => all.sqrt(),
        n => estimates[n / 2],
    };
    // Fewer than two rows: no pair, and the prior says nothing.
    Ok((matches / all).clamp((1.0 / all).min(0.5), 0.5))
}

/// SQL of a pair's weight for comparison `i` from its level code.
pub(super) fn weight_sql(i: usize, weights: &[f64]) -> String {
    let mut sql = format!("CASE g{i}");
    for (k, w) in weights.iter().enumerate() {
        sql.push_str(&format!(" WHEN {k} THEN {w:?}"));
    }
    sql.push_str(" ELSE 0.0 END");
    sql
}

/// Pairs the user labelled take 1 (match) or 0 (not a match) as their probability; a pair
/// labelled a match that no rule blocked is added. Returns the labels used.
pub(super) fn apply_labels(conn: &Connection, sides: &Sides, spec: &MatchSpec, comparisons: &[Comparison], weights: &[Vec<f64>], prior_weight: f64) -> Result<u64> {
    let used = labels::load(conn, &spec.table, spec.link.as_deref(), sides.right())?;
    if used == 0 {
        return Ok(0);
    }
    let levels: Vec<String> = (0..comparisons.len()).map(|i| format!("{} AS g{i}", level_sql(comparisons, i))).collect();
    let sum: Vec<String> = (0..comparisons.len()).map(|i| weight_sql(i, &weights[i])).collect();
    conn.execute_batch(&format!(
        "UPDATE __match_pairs SET p = CASE WHEN x.is_match THEN 1.0 ELSE 0.0 END FROM __match_labels AS x WHERE __match_pairs.l = x.l AND __match_pairs.r = x.r;
         INSERT INTO __match_pairs BY NAME
         SELECT l, r, {g}, CAST(0 AS UBIGINT) AS mask, {prior_weight:?} + {sum} AS weight, 1.0 AS p FROM (
           SELECT x.l AS l, x.r AS r, {levels} FROM __match_labels AS x JOIN __match_a AS l ON l._row = x.l JOIN {right} AS r ON r._row = x.r
           WHERE x.is_match AND NOT EXISTS (SELECT 1 FROM __match_pairs AS p WHERE p.l = x.l AND p.r = x.r));",
        g = (0..comparisons.len()).map(|i| format!("g{i}")).collect::<Vec<_>>().join(", "),
        sum = sum.join(" + "),
        levels = levels.join(", "),
        right = sides.right(),
    ))?;
    Ok(used)
}

/// Creates `__match_tf{i}` for each comparison weighed by how common its values are: each
/// prepared value and its share of the rows that have one (both tables' rows when linking).
pub(super) fn term_frequencies(conn: &Connection, sides: &Sides, tf: &[bool]) -> Result<()> {
    for i in (0..tf.len()).filter(|&i| tf[i]) {
        let (a, _) = prepared(i);
        let rows = if sides.is_link() { format!("SELECT {a} FROM __match_a UNION ALL SELECT {a} FROM __match_b") } else { format!("SELECT {a} FROM __match_a") };
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE __match_tf{i} AS SELECT {a} AS v, count(*) / sum(count(*)) OVER () AS tf FROM ({rows}) WHERE {a} IS NOT NULL GROUP BY 1"
        ))?;
    }
    Ok(())
}

/// SQL of what comparison `i` adds to a pair's weight: its level's weight and, for an exact
/// match weighed by how common the value is, the pair's `t{i}`.
pub(super) fn part_sql(i: usize, weights: &[f64], tf: &[bool]) -> String {
    if tf[i] { format!("({} + coalesce(CAST(t{i} AS DOUBLE), 0.0))", weight_sql(i, weights)) } else { weight_sql(i, weights) }
}

/// Adds `weight` and `p` (the match probability) to every candidate pair; an exact match on
/// a comparison weighed by how common the value is adds `t{i}` = log2(u of exact / the
/// value's share): less for a common name, more for a rare one.
pub(super) fn score(conn: &Connection, comparisons: &[Comparison], weights: &[Vec<f64>], prior_weight: f64, tf: &[bool], u: &[Vec<f64>]) -> Result<()> {
    let sum: Vec<String> = (0..comparisons.len()).map(|i| part_sql(i, &weights[i], tf)).collect();
    let mut adjust = Vec::new();
    let mut joins = Vec::new();
    for i in (0..comparisons.len()).filter(|&i| tf[i]) {
        let exact = comparisons[i].kind.levels() - 1;
        let (a, _) = prepared(i);
        adjust.push(format!("CAST(CASE WHEN p.g{i} = {exact} THEN log2({:?} / f{i}.tf) END AS FLOAT) AS t{i}", u[i][exact]));
        joins.push(format!("LEFT JOIN __match_tf{i} AS f{i} ON f{i}.v = x.{a}"));
    }
    let source = if adjust.is_empty() {
        "__match_pairs".to_string()
    } else {
        format!("(SELECT p.*, {} FROM __match_pairs AS p JOIN __match_a AS x ON x._row = p.l {})", adjust.join(", "), joins.join(" "))
    };
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE __match_pairs AS
         SELECT *, 1.0 / (1.0 + pow(2.0, -weight)) AS p FROM (SELECT *, {prior_weight:?} + {} AS weight FROM {source})",
        sum.join(" + ")
    ))?;
    Ok(())
}

pub(super) struct Clustered {
    pub(super) edges: u64,
    pub(super) clusters: u64,
    pub(super) rows_in_clusters: u64,
    pub(super) largest: u64,
    pub(super) split: u64,
}

/// Clusters of the pairs at or above `threshold`, split where one doubtful link held them;
/// each clustered row's cluster and best probability go to `__match_clusters` (node,
/// cluster, p). Rows of the linked table are
/// numbered after the first table's.
pub(super) fn form_clusters(conn: &Connection, sides: &Sides, threshold: f64) -> Result<Clustered> {
    let offset = if sides.is_link() { sides.n_a as u32 } else { 0 };
    let nodes = (sides.n_a + if sides.is_link() { sides.n_b } else { 0 }) as usize;
    let edges = read_edges(conn, "SELECT l, r, p FROM __match_pairs WHERE p >= ?", threshold, offset)?;
    let formed = cluster::form(nodes, &edges, SPLIT_BELOW);
    conn.execute_batch("CREATE OR REPLACE TEMP TABLE __match_clusters (node UINTEGER, cluster UINTEGER, p DOUBLE)")?;
    {
        let mut app = conn.appender("__match_clusters")?;
        for (&node, &p) in &formed.best {
            app.append_row(duckdb::params![node, formed.ids[node as usize], p])?;
        }
        app.flush()?;
    }
    Ok(Clustered {
        edges: edges.len() as u64,
        clusters: formed.sizes.len() as u64,
        rows_in_clusters: formed.best.len() as u64,
        largest: formed.sizes.values().copied().max().unwrap_or(0),
        split: formed.split,
    })
}

/// The links (l, r + `offset`, p) that `sql`, given the threshold, selects.
pub(super) fn read_edges(conn: &Connection, sql: &str, threshold: f64, offset: u32) -> Result<Vec<(u32, u32, f64)>> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([threshold])?;
    let mut edges = Vec::new();
    while let Some(row) = rows.next()? {
        edges.push((row.get::<_, u32>(0)?, row.get::<_, u32>(1)? + offset, row.get::<_, f64>(2)?));
    }
    Ok(edges)
}

/// Writes `into` (every input row with `_cluster` and `_match_probability`; when linking,
/// both tables' rows with `_source` and `_row`) and `<into>_pairs`.
pub(super) fn write_result(
    conn: &Connection,
    sides: &Sides,
    comparisons: &[Comparison],
    weights: &[Vec<f64>],
    tf: &[bool],
    into: &str,
    columns_a: &[ColumnInfo],
    columns_b: Option<&[ColumnInfo]>,
) -> Result<(String, String)> {
    let name = new_table_name(conn, Some(into), into)?;
    let pairs_name = new_table_name(conn, None, &format!("{into}_pairs"))?;
    let mut all_columns = columns_a.to_vec();
    all_columns.extend(columns_b.unwrap_or_default().iter().cloned());
    let cluster_col = quote_ident(&unused_name(&all_columns, "_cluster"));
    let prob_col = quote_ident(&unused_name(&all_columns, "_match_probability"));
    let side = |table: &str, prepared_table: &str, offset: u64| {
        format!(
            "SELECT t.*, coalesce(c.cluster, p._row + {offset}) + 1 AS {cluster_col}, c.p AS {prob_col}, p._row AS __row
             FROM {} AS t JOIN {prepared_table} AS p ON p._rowid = t.rowid LEFT JOIN __match_clusters AS c ON c.node = p._row + {offset}",
            quote_ident(table)
        )
    };
    let select = match &sides.b {
        None => format!("SELECT * EXCLUDE (__row) FROM ({}) ORDER BY __row", side(&sides.a, "__match_a", 0)),
        Some(b) => {
            let source_col = quote_ident(&unused_name(&all_columns, "_source"));
            let row_col = quote_ident(&unused_name(&all_columns, "_row"));
            format!(
                "SELECT {} AS {source_col}, __row + 1 AS {row_col}, * EXCLUDE (__row) FROM ({}) UNION ALL BY NAME
                 SELECT {} AS {source_col}, __row + 1 AS {row_col}, * EXCLUDE (__row) FROM ({}) ORDER BY 1 DESC, 2",
                quote_literal(&sides.a),
                side(&sides.a, "__match_a", 0),
                quote_literal(b),
                side(b, "__match_b", sides.n_a)
            )
        }
    };
    conn.execute_batch(&format!("CREATE TABLE {} AS {select}", quote_ident(&name)))?;
    let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(&name)), [], |r| r.get(0))?;
    let what = match &sides.b {
        Some(b) => format!("rows of {} and {b} with their match cluster", sides.a),
        None => format!("rows of {} with their match cluster", sides.a),
    };
    register_in_catalog(conn, &name, &what, Some(rows as u64))?;
    let mut cells = vec!["l + 1 AS row_l".to_string(), "r + 1 AS row_r".to_string(), "p AS match_probability".into(), "weight AS match_weight".into()];
    for (i, c) in comparisons.iter().enumerate() {
        cells.push(format!("g{i} AS {}", quote_ident(&format!("{}_level", c.column))));
        cells.push(format!("{} AS {}", part_sql(i, &weights[i], tf), quote_ident(&format!("{}_weight", c.column))));
    }
    conn.execute_batch(&format!(
        "CREATE TABLE {} AS SELECT {} FROM __match_pairs WHERE p >= {PAIRS_TABLE_FLOOR} ORDER BY p DESC, l, r",
        quote_ident(&pairs_name),
        cells.join(", ")
    ))?;
    let pairs: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", quote_ident(&pairs_name)), [], |r| r.get(0))?;
    register_in_catalog(conn, &pairs_name, &format!("candidate pairs of {into} with their match probability"), Some(pairs as u64))?;
    Ok((name, pairs_name))
}
