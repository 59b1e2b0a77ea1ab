//! A view: a source (a table, a file opened in place, a rejects table, a query result) plus
//! filters, a quick search, a sort of one or more keys and a chosen, ordered set of columns.
//! The table view pages through it, export writes it, and later features hand their rows
//! over as one. [`View::compile`] is the one place a view becomes SQL: names are quoted,
//! every value the user typed is a bound parameter (`$1`, `$2`, …), and the only SQL text a
//! user can add, a `--where` expression, is a [`WhereExpr`] that cannot be built unchecked.

use std::fmt;

use duckdb::Connection;
use duckdb::types::Value;
use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result};
use super::kind::ColumnKind;
use super::lexer::{self, TokenKind};
use super::sql::{SCRATCH_DB, SqlType, quote_ident};
use super::workspace::{ColumnInfo, is_view};

/// Where a view's rows come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// A table of the workspace, or a file opened in place, by name.
    Table(String),
    /// A query's result, kept in the scratch database under `name`.
    Result { name: String, sql: String },
    /// A query, run as part of whatever reads the view (the CLI's `sql --out`).
    Query(String),
}

impl Source {
    /// The source as SQL: `"name"` or `dataforge_scratch.main."name"`.
    pub fn sql(&self) -> String {
        match self {
            Self::Table(name) => quote_ident(name),
            Self::Result { name, .. } => format!("{SCRATCH_DB}.main.{}", quote_ident(name)),
            Self::Query(sql) => format!("({sql}) AS \"query\""),
        }
    }

    /// What a person calls it: the table's name or the query.
    pub fn title(&self) -> String {
        match self {
            Self::Table(name) => name.clone(),
            Self::Result { sql, .. } | Self::Query(sql) => {
                let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                if one_line.chars().count() > 60 {
                    format!("{}…", one_line.chars().take(59).collect::<String>())
                } else {
                    one_line
                }
            }
        }
    }

    pub fn table_name(&self) -> Option<&str> {
        match self {
            Self::Table(name) => Some(name),
            Self::Result { .. } | Self::Query(_) => None,
        }
    }
}

/// How a text filter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TextMatch {
    Contains,
    Equals,
    StartsWith,
    Regex,
}

impl TextMatch {
    pub const ALL: [Self; 4] = [Self::Contains, Self::Equals, Self::StartsWith, Self::Regex];

    pub fn label(self) -> &'static str {
        match self {
            Self::Contains => "contains",
            Self::Equals => "equals",
            Self::StartsWith => "starts with",
            Self::Regex => "matches regex",
        }
    }
}

/// What one filter keeps.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Condition {
    /// Compares the value as text (numbers and dates as DuckDB writes them).
    Text { how: TextMatch, value: String, case_sensitive: bool },
    /// Between `min` and `max`, both included, compared in the column's own type.
    Range { min: Option<String>, max: Option<String> },
    IsNull,
    IsNotNull,
    /// The value, as text, is one of these (or missing, with `include_null`).
    OneOf { values: Vec<String>, include_null: bool },
    /// The value as text has between `min` and `max` characters.
    Length { min: Option<u64>, max: Option<u64> },
    /// The value occurs in more than one row of the source.
    Repeated,
    /// A value that is present and does not meet the condition (a failed check).
    Not(Box<Condition>),
}

/// A condition on one column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filter {
    pub column: String,
    pub condition: Condition,
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let column = &self.column;
        match &self.condition {
            Condition::Text { how, value, case_sensitive } => {
                let case = if *case_sensitive { " (match case)" } else { "" };
                write!(f, "{column} {} \"{value}\"{case}", how.label())
            }
            Condition::Range { min: Some(min), max: Some(max) } => write!(f, "{min} ≤ {column} ≤ {max}"),
            Condition::Range { min: Some(min), max: None } => write!(f, "{column} ≥ {min}"),
            Condition::Range { min: None, max: Some(max) } => write!(f, "{column} ≤ {max}"),
            Condition::Range { min: None, max: None } => write!(f, "{column}: any value"),
            Condition::IsNull => write!(f, "{column} is empty"),
            Condition::IsNotNull => write!(f, "{column} is not empty"),
            Condition::OneOf { values, include_null } => {
                let mut shown: Vec<String> = values.iter().take(3).map(|v| format!("\"{v}\"")).collect();
                if *include_null {
                    shown.push("empty".into());
                }
                let more = values.len().saturating_sub(3);
                let more = if more > 0 { format!(" +{more}") } else { String::new() };
                write!(f, "{column} is one of {}{more}", shown.join(", "))
            }
            Condition::Length { min, max } => match (min, max) {
                (Some(a), Some(b)) => write!(f, "{a} ≤ length of {column} ≤ {b}"),
                (Some(a), None) => write!(f, "length of {column} ≥ {a}"),
                (None, Some(b)) => write!(f, "length of {column} ≤ {b}"),
                (None, None) => write!(f, "{column}: any length"),
            },
            Condition::Repeated => write!(f, "{column} is repeated"),
            Condition::Not(inner) => {
                let inner = Filter { column: column.clone(), condition: (**inner).clone() };
                write!(f, "not ({inner})")
            }
        }
    }
}

/// One key of a sort.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortKey {
    pub column: String,
    pub descending: bool,
}

impl SortKey {
    pub fn ascending(column: impl Into<String>) -> Self {
        Self { column: column.into(), descending: false }
    }

    /// Reads `COL` or `COL:desc` / `COL:asc` (the CLI's `--sort`).
    pub fn parse(text: &str) -> Result<Self> {
        let (column, direction) = match text.rsplit_once(':') {
            Some((c, d)) if ["asc", "desc"].contains(&d.to_ascii_lowercase().as_str()) => (c, Some(d)),
            _ => (text, None),
        };
        if column.is_empty() {
            return Err(EngineError::InvalidOption(format!("\"{text}\": name a column to sort by, e.g. price:desc")));
        }
        Ok(Self { column: column.to_string(), descending: direction.is_some_and(|d| d.eq_ignore_ascii_case("desc")) })
    }

    /// Reads a comma-separated list of keys.
    pub fn parse_list(text: &str) -> Result<Vec<Self>> {
        text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Self::parse).collect()
    }
}

/// One SQL expression typed by a person (the CLI's `--where`), checked to be exactly one
/// expression: no `;`, no comments, parentheses that never close more than they opened,
/// quotes closed. It is pasted inside `WHERE (…)`, so it cannot end the statement or the
/// clause; whether it means anything is DuckDB's to say.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct WhereExpr(String);

impl WhereExpr {
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let refuse = |why: &str| Err(EngineError::InvalidOption(format!("--where \"{text}\": {why}")));
        if text.is_empty() {
            return refuse("give one SQL condition, e.g. \"price > 10 AND city = 'Oslo'\"");
        }
        let mut depth = 0i32;
        for token in lexer::tokenize(text) {
            match token.kind {
                TokenKind::Comment => return refuse("comments are not allowed"),
                TokenKind::Unterminated => return refuse("a quote or comment is not closed"),
                TokenKind::Parameter => return refuse("parameters ($1, ?) are not allowed"),
                TokenKind::Symbol if token.is_symbol(text, ';') => {
                    return refuse("one condition only; a second statement is not allowed");
                }
                TokenKind::Symbol if token.is_symbol(text, '(') => depth += 1,
                TokenKind::Symbol if token.is_symbol(text, ')') => {
                    depth -= 1;
                    if depth < 0 {
                        return refuse("a ')' closes more than was opened");
                    }
                }
                _ => {}
            }
        }
        if depth != 0 {
            return refuse("a '(' is not closed");
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<WhereExpr> for String {
    fn from(w: WhereExpr) -> String {
        w.0
    }
}

/// A view of a source: what rows, in what order, with which columns.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct View {
    pub source: Source,
    pub filters: Vec<Filter>,
    /// Quick search: rows where any text column contains this (case-insensitive).
    pub search: Option<String>,
    #[serde(skip)]
    pub where_expr: Option<WhereExpr>,
    pub sort: Vec<SortKey>,
    /// Columns in the order shown; `None` shows all in table order.
    pub columns: Option<Vec<String>>,
}

/// What compiling needs to know about the source, looked up once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceShape {
    pub columns: Vec<ColumnInfo>,
    /// DuckDB's `rowid` can order the rows (a table without its own `rowid` column).
    pub has_rowid: bool,
}

impl SourceShape {
    pub fn of(conn: &Connection, source: &Source) -> Result<Self> {
        let (database, name) = match source {
            Source::Table(name) => (None, name.as_str()),
            Source::Result { name, .. } => (Some(SCRATCH_DB), name.as_str()),
            Source::Query(sql) => {
                let mut stmt = conn.prepare(&format!("DESCRIBE SELECT * FROM ({sql})"))?;
                let columns = stmt
                    .query_map([], |r| Ok(ColumnInfo::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                    .collect::<duckdb::Result<_>>()?;
                return Ok(Self { columns, has_rowid: false });
            }
        };
        let mut stmt = conn.prepare(
            "SELECT column_name, data_type FROM duckdb_columns()
             WHERE database_name = coalesce(?, current_database()) AND schema_name = 'main' AND table_name = ?
             ORDER BY column_index",
        )?;
        let columns: Vec<ColumnInfo> = stmt
            .query_map(duckdb::params![database, name], |r| Ok(ColumnInfo::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<duckdb::Result<_>>()?;
        if columns.is_empty() {
            return Err(EngineError::TableNotFound(name.to_string()));
        }
        let linked = matches!(source, Source::Table(_)) && is_view(conn, name)?;
        let has_rowid = !linked && !columns.iter().any(|c| c.name.eq_ignore_ascii_case("rowid"));
        Ok(Self { columns, has_rowid })
    }

    fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A view as SQL pieces, with the values to bind to `$1`, `$2`, ….
#[derive(Clone, Debug)]
pub struct CompiledView {
    pub from: String,
    /// The view's columns, quoted, in order.
    pub select_list: String,
    pub columns: Vec<ColumnInfo>,
    /// `WHERE …`, or empty.
    pub where_clause: String,
    /// `ORDER BY …`, or empty when the source order is kept.
    pub order_by: String,
    pub params: Vec<Value>,
}

impl CompiledView {
    /// `SELECT <columns> FROM <source> [WHERE …] [ORDER BY …]`.
    pub fn select(&self) -> String {
        self.select_columns(&self.select_list)
    }

    /// The same rows and order with another select list (e.g. `*`, or text casts).
    pub fn select_columns(&self, select_list: &str) -> String {
        let mut sql = format!("SELECT {select_list} FROM {}", self.from);
        for clause in [&self.where_clause, &self.order_by] {
            if !clause.is_empty() {
                sql.push(' ');
                sql.push_str(clause);
            }
        }
        sql
    }

    pub fn params(&self) -> duckdb::ParamsFromIter<&Vec<Value>> {
        duckdb::params_from_iter(&self.params)
    }
}

impl View {
    pub fn of(source: Source) -> Self {
        Self { source, filters: Vec::new(), search: None, where_expr: None, sort: Vec::new(), columns: None }
    }

    pub fn table(name: impl Into<String>) -> Self {
        Self::of(Source::Table(name.into()))
    }

    /// No filter, search or sort: the source's rows in the source's order.
    pub fn is_unshaped(&self) -> bool {
        !self.has_row_filter() && self.sort.is_empty()
    }

    pub fn has_row_filter(&self) -> bool {
        !self.filters.is_empty() || self.search.as_deref().is_some_and(|s| !s.is_empty()) || self.where_expr.is_some()
    }

    /// The same view with every column, for a table view that hides columns itself.
    pub fn with_all_columns(&self) -> Self {
        Self { columns: None, ..self.clone() }
    }

    /// Compiles the view against the source's shape.
    ///
    /// # Failure
    /// `ColumnNotFound` for a filter, sort or chosen column the source does not have,
    /// `InvalidOption` for a range on a type that cannot be compared.
    pub fn compile(&self, shape: &SourceShape) -> Result<CompiledView> {
        let missing = |column: &str| EngineError::ColumnNotFound { table: self.source.title(), column: column.to_string() };
        let columns: Vec<ColumnInfo> = match &self.columns {
            None => shape.columns.clone(),
            Some(chosen) => chosen.iter().map(|c| shape.column(c).cloned().ok_or_else(|| missing(c))).collect::<Result<_>>()?,
        };
        let select_list =
            if columns.is_empty() { "NULL".to_string() } else { columns.iter().map(|c| quote_ident(&c.name)).collect::<Vec<_>>().join(", ") };

        let mut params = Vec::new();
        let mut conditions = Vec::new();
        let mut repeated = Vec::new();
        for filter in &self.filters {
            let column = shape.column(&filter.column).ok_or_else(|| missing(&filter.column))?;
            if filter.condition == Condition::Repeated {
                repeated.push(column);
                continue;
            }
            conditions.push(condition_sql(column, &filter.condition, &self.source, &mut params)?);
        }
        if let Some(search) = self.search.as_deref().filter(|s| !s.is_empty()) {
            conditions.push(search_sql(&shape.columns, search, &mut params));
        }
        if let Some(expr) = &self.where_expr {
            conditions.push(format!("({})", expr.as_str()));
        }
        // A value repeats among the rows the other conditions keep: ids unique within the
        // filtered rows are not repeated because of rows the filter leaves out.
        let kept = conditions.clone();
        for column in repeated {
            let name = quote_ident(&column.name);
            let mut inner = kept.clone();
            inner.push(format!("{name} IS NOT NULL"));
            conditions.push(format!("{name} IN (SELECT {name} FROM {} WHERE {} GROUP BY ALL HAVING count(*) > 1)", self.source.sql(), inner.join(" AND ")));
        }
        let where_clause = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };

        let mut keys = Vec::new();
        for key in &self.sort {
            shape.column(&key.column).ok_or_else(|| missing(&key.column))?;
            let direction = if key.descending { "DESC" } else { "ASC" };
            keys.push(format!("{} {direction} NULLS LAST", quote_ident(&key.column)));
        }
        // rowid makes the order total, so a sort is the same every time and pages never overlap.
        if shape.has_rowid && !keys.is_empty() {
            keys.push("rowid".to_string());
        }
        let order_by = if keys.is_empty() { String::new() } else { format!("ORDER BY {}", keys.join(", ")) };
        Ok(CompiledView { from: self.source.sql(), select_list, columns, where_clause, order_by, params })
    }

    /// Checks the values a person typed before any rows are read: range bounds must be
    /// values of the column's type, regular expressions must compile.
    ///
    /// # Failure
    /// `InvalidOption` naming the column and the value.
    pub fn check_values(&self, conn: &Connection, shape: &SourceShape) -> Result<()> {
        for filter in &self.filters {
            let Some(column) = shape.column(&filter.column) else { continue };
            let condition = match &filter.condition {
                Condition::Not(inner) => inner.as_ref(),
                other => other,
            };
            match condition {
                Condition::Range { min, max } => {
                    let ty = SqlType::parse(&column.data_type)?;
                    for value in [min, max].into_iter().flatten() {
                        let ok: bool = conn.query_row(&format!("SELECT TRY_CAST($1 AS {ty}) IS NOT NULL"), [value], |r| r.get(0))?;
                        if !ok {
                            return Err(EngineError::InvalidOption(format!(
                                "\"{value}\" is not a {} value (column {})",
                                column.kind.in_words().unwrap_or(&column.data_type),
                                column.name
                            )));
                        }
                    }
                }
                Condition::Text { how: TextMatch::Regex, value, .. } => {
                    if let Err(e) = conn.query_row("SELECT regexp_matches('', $1)", [value], |r| r.get::<_, bool>(0)) {
                        let reason = EngineError::from(e).to_string();
                        return Err(EngineError::InvalidOption(format!(
                            "\"{value}\" is not a regular expression (column {}): {reason}",
                            column.name
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// `BIGINT` → "whole number", `DATE` → "date", … for messages.
pub fn type_in_words(data_type: &str) -> String {
    ColumnKind::of(data_type).in_words().map_or_else(|| data_type.to_string(), str::to_string)
}

/// Whether a column of this type holds text (VARCHAR or ENUM), searched by the quick search.
pub fn is_text_type(data_type: &str) -> bool {
    ColumnKind::of(data_type).is_text()
}

/// Whether a range filter fits the type (numbers, dates, times and intervals).
pub fn is_range_type(data_type: &str) -> bool {
    ColumnKind::of(data_type).has_range()
}

fn param(params: &mut Vec<Value>, value: &str) -> String {
    params.push(Value::Text(value.to_string()));
    format!("${}", params.len())
}

fn as_text(column: &ColumnInfo) -> String {
    if column.kind == ColumnKind::Text {
        quote_ident(&column.name)
    } else {
        format!("CAST({} AS VARCHAR)", quote_ident(&column.name))
    }
}

fn condition_sql(column: &ColumnInfo, condition: &Condition, source: &Source, params: &mut Vec<Value>) -> Result<String> {
    let name = quote_ident(&column.name);
    Ok(match condition {
        Condition::Length { min, max } => {
            let mut parts = vec![format!("{name} IS NOT NULL")];
            let len = format!("length({})", as_text(column));
            if let Some(min) = min {
                parts.push(format!("{len} >= {min}"));
            }
            if let Some(max) = max {
                parts.push(format!("{len} <= {max}"));
            }
            format!("({})", parts.join(" AND "))
        }
        Condition::Repeated => {
            format!("{name} IN (SELECT {name} FROM {} WHERE {name} IS NOT NULL GROUP BY ALL HAVING count(*) > 1)", source.sql())
        }
        Condition::Not(inner) => format!("({name} IS NOT NULL AND NOT coalesce({}, false))", condition_sql(column, inner, source, params)?),
        Condition::IsNull => format!("{name} IS NULL"),
        Condition::IsNotNull => format!("{name} IS NOT NULL"),
        Condition::Text { how, value, case_sensitive } => {
            let text = as_text(column);
            let p = param(params, value);
            let (text, p) = if *case_sensitive || *how == TextMatch::Regex { (text, p) } else { (format!("lower({text})"), format!("lower({p})")) };
            match how {
                TextMatch::Contains => format!("contains({text}, {p})"),
                TextMatch::Equals => format!("{text} = {p}"),
                TextMatch::StartsWith => format!("starts_with({text}, {p})"),
                TextMatch::Regex if *case_sensitive => format!("regexp_matches({text}, {p})"),
                TextMatch::Regex => format!("regexp_matches({text}, {p}, 'i')"),
            }
        }
        Condition::Range { min, max } => {
            let ty = SqlType::parse(&column.data_type)?;
            let mut parts = Vec::new();
            if let Some(min) = min {
                parts.push(format!("{name} >= CAST({} AS {ty})", param(params, min)));
            }
            if let Some(max) = max {
                parts.push(format!("{name} <= CAST({} AS {ty})", param(params, max)));
            }
            if parts.is_empty() { format!("{name} IS NOT NULL") } else { format!("({})", parts.join(" AND ")) }
        }
        Condition::OneOf { values, include_null } => {
            let mut parts = Vec::new();
            if !values.is_empty() {
                // Numbers and times compare as values ("1" is 1.00 in a DECIMAL), the rest as text.
                let typed = column.kind.has_range();
                match SqlType::parse(&column.data_type).ok().filter(|_| typed) {
                    Some(ty) => {
                        let list: Vec<String> = values.iter().map(|v| format!("TRY_CAST({} AS {ty})", param(params, v))).collect();
                        parts.push(format!("{name} IN ({})", list.join(", ")));
                    }
                    None => {
                        let list: Vec<String> = values.iter().map(|v| param(params, v)).collect();
                        parts.push(format!("{} IN ({})", as_text(column), list.join(", ")));
                    }
                }
            }
            if *include_null {
                parts.push(format!("{name} IS NULL"));
            }
            if parts.is_empty() { "false".to_string() } else { format!("({})", parts.join(" OR ")) }
        }
    })
}

/// Rows where any text column contains `needle`, ignoring case (every column, as text, when
/// the source has no text column).
fn search_sql(columns: &[ColumnInfo], needle: &str, params: &mut Vec<Value>) -> String {
    let p = param(params, &needle.to_lowercase());
    let text: Vec<&ColumnInfo> = columns.iter().filter(|c| c.kind.is_text()).collect();
    let searched = if text.is_empty() { columns.iter().collect() } else { text };
    let parts: Vec<String> = searched.iter().map(|c| format!("contains(lower({}), {p})", as_text(c))).collect();
    if parts.is_empty() { "false".to_string() } else { format!("({})", parts.join(" OR ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> SourceShape {
        SourceShape {
            columns: vec![
                ColumnInfo::new("city", "VARCHAR"),
                ColumnInfo::new("pop", "BIGINT"),
                ColumnInfo::new("we\"ird; name", "DATE"),
            ],
            has_rowid: true,
        }
    }

    #[test]
    fn compiles_with_bound_values_and_quoted_names() {
        let mut view = View::table("t\"x");
        view.filters.push(Filter {
            column: "city".into(),
            condition: Condition::Text { how: TextMatch::Contains, value: "'; DROP TABLE t; --".into(), case_sensitive: false },
        });
        view.filters.push(Filter { column: "we\"ird; name".into(), condition: Condition::Range { min: Some("2024-01-01".into()), max: None } });
        view.sort = vec![SortKey { column: "pop".into(), descending: true }];
        view.columns = Some(vec!["pop".into(), "city".into()]);
        let c = view.compile(&shape()).unwrap();
        assert_eq!(
            c.select(),
            "SELECT \"pop\", \"city\" FROM \"t\"\"x\" WHERE contains(lower(\"city\"), lower($1)) AND (\"we\"\"ird; name\" >= CAST($2 AS DATE)) ORDER BY \"pop\" DESC NULLS LAST, rowid"
        );
        assert_eq!(c.params, vec![Value::Text("'; DROP TABLE t; --".into()), Value::Text("2024-01-01".into())]);
        assert_eq!(c.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["pop", "city"]);
    }

    #[test]
    fn unknown_columns_are_named() {
        let mut view = View::table("t");
        view.sort = vec![SortKey::ascending("nope")];
        assert!(matches!(view.compile(&shape()), Err(EngineError::ColumnNotFound { column, .. }) if column == "nope"));
    }

    #[test]
    fn where_expressions_are_one_expression() {
        assert!(WhereExpr::parse("price > 10 AND city = 'a;b'").is_ok());
        assert!(WhereExpr::parse("(a = 1) OR (b IN (1, 2))").is_ok());
        for bad in ["1=1; DROP TABLE t", "1=1) UNION SELECT * FROM x WHERE (1=1", "a = 1 -- c", "a = 'open", "(a", "", "a = ?", "a /* x */ = 1"] {
            let err = WhereExpr::parse(bad).unwrap_err();
            assert!(err.is_usage(), "{bad}: {err}");
        }
    }

    #[test]
    fn sort_keys_parse() {
        assert_eq!(
            SortKey::parse_list("a, b:desc,c:ASC, time:12").unwrap(),
            vec![
                SortKey::ascending("a"),
                SortKey { column: "b".into(), descending: true },
                SortKey::ascending("c"),
                SortKey::ascending("time:12"),
            ]
        );
        assert!(SortKey::parse(":desc").is_err());
    }
}
