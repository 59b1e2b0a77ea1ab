//! Quality checks a person sets per column (as in Soda or Great Expectations): not null,
//! unique, between, matches a regex, in a set, a length range, or a SQL predicate. Each
//! check's failing rows are a [`View`], so they open in the table view and export like any.
//! Checks other than "not null" leave missing values alone.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result};
use super::job::{Job, JobCtx};
use super::sql::META_SCHEMA;
use super::view::{Condition, Filter, SourceShape, TextMatch, View, WhereExpr};
use super::workspace::{Workspace, WsConnection};

/// What a check asks of a column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    NotNull,
    Unique,
    /// Values between `min` and `max` (both included), in the column's type.
    Between { min: Option<String>, max: Option<String> },
    Matches { pattern: String },
    InSet { values: Vec<String> },
    Length { min: Option<u64>, max: Option<u64> },
    /// Rows where this SQL condition is not true fail.
    Sql { predicate: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Check {
    /// The column checked; `None` for a SQL predicate over the row.
    pub column: Option<String>,
    pub rule: Rule,
}

impl Check {
    pub fn describe(&self) -> String {
        let column = self.column.as_deref().unwrap_or("row");
        match &self.rule {
            Rule::NotNull => format!("{column} is not null"),
            Rule::Unique => format!("{column} is unique"),
            Rule::Between { min, max } => format!("{column} between {} and {}", min.as_deref().unwrap_or("-∞"), max.as_deref().unwrap_or("∞")),
            Rule::Matches { pattern } => format!("{column} matches /{pattern}/"),
            Rule::InSet { values } => {
                let shown: Vec<&str> = values.iter().take(5).map(String::as_str).collect();
                let more = if values.len() > 5 { format!(" +{}", values.len() - 5) } else { String::new() };
                format!("{column} in {{{}}}{more}", shown.join(", "))
            }
            Rule::Length { min, max } => format!("length of {column} between {} and {}", min.map_or("0".into(), |v| v.to_string()), max.map_or("∞".into(), |v| v.to_string())),
            Rule::Sql { predicate } => format!("{predicate}"),
        }
    }

    /// The rows of `view` that fail this check.
    pub fn failing_rows(&self, view: &View) -> Result<View> {
        let mut failing = view.clone();
        let column = || self.column.clone().ok_or_else(|| EngineError::InvalidOption(format!("the check \"{}\" names no column", self.describe())));
        let condition = match &self.rule {
            Rule::NotNull => Some(Condition::IsNull),
            Rule::Unique => Some(Condition::Repeated),
            Rule::Between { min, max } => Some(Condition::Not(Box::new(Condition::Range { min: min.clone(), max: max.clone() }))),
            Rule::Matches { pattern } => {
                Some(Condition::Not(Box::new(Condition::Text { how: TextMatch::Regex, value: pattern.clone(), case_sensitive: true })))
            }
            Rule::InSet { values } => Some(Condition::Not(Box::new(Condition::OneOf { values: values.clone(), include_null: false }))),
            Rule::Length { min, max } => Some(Condition::Not(Box::new(Condition::Length { min: *min, max: *max }))),
            Rule::Sql { predicate } => {
                let checked = WhereExpr::parse(predicate)?;
                let negated = WhereExpr::parse(&format!("NOT coalesce(({}), false)", checked.as_str()))?;
                failing.where_expr = Some(match failing.where_expr.take() {
                    Some(existing) => WhereExpr::parse(&format!("({}) AND ({})", existing.as_str(), negated.as_str()))?,
                    None => negated,
                });
                None
            }
        };
        if let Some(condition) = condition {
            failing.filters.push(Filter { column: column()?, condition });
        }
        Ok(failing)
    }
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: Check,
    pub description: String,
    pub passed: bool,
    pub failing: u64,
    pub failing_pct: f64,
    /// A few failing rows, each as (column, value) text, for reports.
    pub examples: Vec<Vec<(String, Option<String>)>>,
}

const EXAMPLES: u64 = 5;

/// Runs every check over a view's rows.
pub struct CheckJob {
    pub workspace: Arc<Workspace>,
    pub view: View,
    pub checks: Vec<Check>,
}

impl Job for CheckJob {
    type Output = Vec<CheckResult>;

    fn title(&self) -> String {
        format!("Check {} ({} checks)", self.view.source.title(), self.checks.len())
    }

    fn run(self, ctx: &JobCtx) -> Result<Vec<CheckResult>> {
        let conn = self.workspace.connect()?;
        // A SQL rule may come from a rules file someone sent: it runs under the file policy,
        // checked by DuckDB in a sandbox before the workspace runs it.
        let access = super::console::SqlAccess::of(&self.workspace);
        let mut shadow = None;
        for check in &self.checks {
            if let Rule::Sql { predicate } = &check.rule {
                let sql = format!("SELECT count(*) FROM {} WHERE NOT coalesce(({}), false)", self.view.source.sql(), WhereExpr::parse(predicate)?.as_str());
                super::console::check_access(&sql, &access)?;
                if let super::console::SqlAccess::Folders(folders) = &access {
                    let shadow = match &mut shadow {
                        Some(shadow) => shadow,
                        None => shadow.insert(super::policy::Shadow::new(folders)?),
                    };
                    shadow.vet(&conn, &sql).map_err(|e| EngineError::InvalidOption(format!("check \"{}\": {e}", check.describe())))?;
                }
            }
        }
        ctx.watch(&conn)?;
        let shape = SourceShape::of(&conn, &self.view.source)?;
        let compiled = self.view.compile(&shape)?;
        let total: i64 = conn.prepare(&compiled.select_columns("count(*)"))?.query_row(compiled.params(), |r| r.get(0))?;
        let mut results = Vec::new();
        for (i, check) in self.checks.iter().enumerate() {
            ctx.checkpoint()?;
            ctx.phase(format!("Check {} of {}: {}", i + 1, self.checks.len(), check.describe()), None);
            ctx.fraction(i as f64 / self.checks.len().max(1) as f64);
            results.push(run_check(&conn, &self.view, &shape, check, total as u64)?);
        }
        ctx.unwatch();
        ctx.record_output(total as u64, 0);
        Ok(results)
    }
}

fn run_check(conn: &WsConnection, view: &View, shape: &SourceShape, check: &Check, total: u64) -> Result<CheckResult> {
    if let Some(column) = &check.column
        && !shape.columns.iter().any(|c| &c.name == column)
    {
        return Err(EngineError::ColumnNotFound { table: view.source.title(), column: column.clone() });
    }
    let failing_view = check.failing_rows(view)?;
    failing_view.check_values(conn, shape)?;
    let compiled = failing_view.compile(shape)?;
    let failing: i64 = conn.prepare(&compiled.select_columns("count(*)"))?.query_row(compiled.params(), |r| r.get(0))?;
    let mut examples = Vec::new();
    if failing > 0 {
        let text_list: Vec<String> = compiled.columns.iter().map(|c| format!("CAST({} AS VARCHAR)", super::sql::quote_ident(&c.name))).collect();
        let sql = format!("{} LIMIT {EXAMPLES}", compiled.select_columns(&text_list.join(", ")));
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(compiled.params())?;
        while let Some(row) = rows.next()? {
            let mut example = Vec::new();
            for (i, c) in compiled.columns.iter().enumerate() {
                example.push((c.name.clone(), row.get::<_, Option<String>>(i)?));
            }
            examples.push(example);
        }
    }
    let failing = failing as u64;
    Ok(CheckResult {
        description: check.describe(),
        check: check.clone(),
        passed: failing == 0,
        failing,
        failing_pct: super::profile::pct(failing, total),
        examples,
    })
}

fn ensure(conn: &duckdb::Connection) -> Result<()> {
    conn.execute_batch(&format!("CREATE TABLE IF NOT EXISTS {META_SCHEMA}.checks (table_name VARCHAR PRIMARY KEY, checks VARCHAR NOT NULL)"))?;
    Ok(())
}

/// The checks saved with a table.
pub fn load(conn: &duckdb::Connection, table: &str) -> Result<Vec<Check>> {
    use duckdb::OptionalExt;
    ensure(conn)?;
    let text: Option<String> =
        conn.query_row(&format!("SELECT checks FROM {META_SCHEMA}.checks WHERE table_name = ?"), [table], |r| r.get(0)).optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default())
}

pub fn save(conn: &duckdb::Connection, table: &str, checks: &[Check]) -> Result<()> {
    ensure(conn)?;
    let text = serde_json::to_string(checks).map_err(|e| EngineError::Database(format!("storing checks: {e}")))?;
    conn.execute(&format!("INSERT OR REPLACE INTO {META_SCHEMA}.checks VALUES (?, ?)"), duckdb::params![table, text])?;
    Ok(())
}

/// Forgets the checks of a dropped table.
pub fn forget(conn: &duckdb::Connection, table: &str) -> Result<()> {
    ensure(conn)?;
    conn.execute(&format!("DELETE FROM {META_SCHEMA}.checks WHERE table_name = ?"), [table])?;
    Ok(())
}

/// One `[[check]]` of a rules file: a column and exactly one rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    column: Option<String>,
    not_null: Option<bool>,
    unique: Option<bool>,
    between: Option<[toml::Value; 2]>,
    min: Option<toml::Value>,
    max: Option<toml::Value>,
    matches: Option<String>,
    #[serde(rename = "in")]
    in_set: Option<Vec<toml::Value>>,
    length: Option<[u64; 2]>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    sql: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    check: Vec<RuleEntry>,
}

fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => other.to_string(),
    }
}

/// Reads a TOML rules file (the README shows its form).
///
/// # Failure
/// `InvalidOption` naming the file, the check's number and what is wrong with it.
pub fn parse_rules(path: &std::path::Path) -> Result<Vec<Check>> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
    parse_rules_text(&text).map_err(|reason| EngineError::InvalidOption(format!("{}: {reason}", path.display())))
}

pub fn parse_rules_text(text: &str) -> std::result::Result<Vec<Check>, String> {
    let file: RulesFile = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
    let mut checks = Vec::new();
    for (i, e) in file.check.into_iter().enumerate() {
        let at = |reason: &str| format!("check {}: {reason}", i + 1);
        let mut rules = Vec::new();
        if e.not_null == Some(true) {
            rules.push(Rule::NotNull);
        }
        if e.unique == Some(true) {
            rules.push(Rule::Unique);
        }
        if let Some([a, b]) = &e.between {
            rules.push(Rule::Between { min: Some(toml_text(a)), max: Some(toml_text(b)) });
        }
        if e.min.is_some() || e.max.is_some() {
            rules.push(Rule::Between { min: e.min.as_ref().map(toml_text), max: e.max.as_ref().map(toml_text) });
        }
        if let Some(p) = e.matches {
            rules.push(Rule::Matches { pattern: p });
        }
        if let Some(values) = e.in_set {
            rules.push(Rule::InSet { values: values.iter().map(toml_text).collect() });
        }
        if let Some([a, b]) = e.length {
            rules.push(Rule::Length { min: Some(a), max: Some(b) });
        }
        if e.min_length.is_some() || e.max_length.is_some() {
            rules.push(Rule::Length { min: e.min_length, max: e.max_length });
        }
        if let Some(sql) = e.sql {
            rules.push(Rule::Sql { predicate: sql });
        }
        match rules.len() {
            0 => return Err(at("no rule: give one of not_null, unique, between, min/max, matches, in, length, min_length/max_length, sql")),
            1 => {}
            _ => return Err(at("more than one rule; write each as its own [[check]]")),
        }
        let rule = rules.pop().expect("one rule");
        if e.column.is_none() && !matches!(rule, Rule::Sql { .. }) {
            return Err(at("needs a column"));
        }
        checks.push(Check { column: e.column, rule });
    }
    if checks.is_empty() {
        return Err("no [[check]] in the file".into());
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_files_read_every_rule_and_name_mistakes() {
        let checks = parse_rules_text(
            r#"
            [[check]]
            column = "email"
            not_null = true
            [[check]]
            column = "amount"
            between = [0, 10000.5]
            [[check]]
            column = "day"
            min = 2024-01-01
            [[check]]
            column = "country"
            in = ["DE", "FR"]
            [[check]]
            column = "email"
            matches = '^[^@]+@[^@]+$'
            [[check]]
            column = "name"
            length = [1, 60]
            [[check]]
            column = "id"
            unique = true
            [[check]]
            sql = "qty >= 0 OR amount = 0"
            "#,
        )
        .unwrap();
        assert_eq!(checks.len(), 8);
        assert_eq!(checks[1].rule, Rule::Between { min: Some("0".into()), max: Some("10000.5".into()) });
        assert_eq!(checks[2].rule, Rule::Between { min: Some("2024-01-01".into()), max: None });
        assert_eq!(checks[7].column, None);
        assert!(parse_rules_text("[[check]]\ncolumn = \"a\"\n").unwrap_err().contains("check 1: no rule"));
        assert!(parse_rules_text("[[check]]\ncolumn = \"a\"\nunique = true\nnot_null = true\n").unwrap_err().contains("more than one rule"));
        assert!(parse_rules_text("[[check]]\nunique = true\n").unwrap_err().contains("needs a column"));
        assert!(parse_rules_text("[[check]]\ncolumn = \"a\"\nnot_nul = true\n").unwrap_err().contains("not_nul"));
    }
}
