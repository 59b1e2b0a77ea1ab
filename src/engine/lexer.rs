//! A small SQL tokenizer for DuckDB's dialect: enough to split a script into statements,
//! find the statement under the cursor, colour an editor, check that a `--where` text is one
//! expression, and see which files a console statement names. DuckDB itself parses and runs
//! the SQL; nothing here rewrites it.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or a plain name.
    Word,
    /// `"a name"`.
    QuotedName,
    /// `'text'`, `E'text'`, `$$text$$`, `$tag$text$tag$`.
    Text,
    Number,
    /// `-- …` or `/* … */`.
    Comment,
    /// `?`, `$1`, `$name`.
    Parameter,
    Space,
    /// Any other character: operators, parentheses, commas, `;`.
    Symbol,
    /// A quote or comment that runs to the end of the text.
    Unterminated,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Range<usize>,
}

impl Token {
    pub fn text<'a>(&self, sql: &'a str) -> &'a str {
        &sql[self.span.clone()]
    }

    pub fn is_symbol(&self, sql: &str, symbol: char) -> bool {
        self.kind == TokenKind::Symbol && self.text(sql).starts_with(symbol) && self.span.len() == symbol.len_utf8()
    }

    pub fn is_word(&self, sql: &str, word: &str) -> bool {
        self.kind == TokenKind::Word && self.text(sql).eq_ignore_ascii_case(word)
    }

    /// The value of a string literal, or the name of a quoted name, unescaped.
    pub fn unquoted(&self, sql: &str) -> Option<String> {
        let text = self.text(sql);
        match self.kind {
            TokenKind::QuotedName if text.starts_with('`') => Some(text[1..text.len() - 1].replace("``", "`")),
            TokenKind::QuotedName => Some(text[1..text.len() - 1].replace("\"\"", "\"")),
            TokenKind::Text if text.starts_with('$') => {
                let tag_end = text[1..].find('$')? + 2;
                Some(text[tag_end..text.len() - tag_end].to_string())
            }
            TokenKind::Text if text.starts_with(['e', 'E']) => None,
            TokenKind::Text => Some(text[1..text.len() - 1].replace("''", "'")),
            _ => None,
        }
    }
}

/// Splits `sql` into tokens that cover it entirely, in order.
pub fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let (kind, end) = next_token(sql, at);
        debug_assert!(end > start);
        at = end.max(start + 1);
        // Never split a UTF-8 character.
        while !sql.is_char_boundary(at) {
            at += 1;
        }
        tokens.push(Token { kind, span: start..at });
    }
    tokens
}

fn next_token(sql: &str, at: usize) -> (TokenKind, usize) {
    let bytes = sql.as_bytes();
    let rest = &sql[at..];
    let c = rest.chars().next().unwrap_or(' ');
    match c {
        c if c.is_whitespace() => (TokenKind::Space, at + rest.find(|ch: char| !ch.is_whitespace()).unwrap_or(rest.len())),
        '-' if rest.starts_with("--") => (TokenKind::Comment, at + rest.find('\n').unwrap_or(rest.len())),
        '/' if rest.starts_with("/*") => block_comment(sql, at),
        '\'' => quoted(sql, at, b'\'', TokenKind::Text),
        '"' => quoted(sql, at, b'"', TokenKind::QuotedName),
        '`' => quoted(sql, at, b'`', TokenKind::QuotedName),
        'e' | 'E' if rest[1..].starts_with('\'') => {
            // E'…' allows backslash escapes.
            let mut i = at + 2;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                    b'\'' => return (TokenKind::Text, i + 1),
                    _ => i += 1,
                }
            }
            (TokenKind::Unterminated, sql.len())
        }
        '$' => dollar(sql, at),
        '?' => (TokenKind::Parameter, at + 1),
        c if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) => {
            let mut i = at;
            let mut seen_exp = false;
            while i < bytes.len() {
                let b = bytes[i];
                if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' {
                    seen_exp |= b == b'e' || b == b'E';
                    i += 1;
                } else if (b == b'+' || b == b'-') && seen_exp && matches!(bytes[i - 1], b'e' | b'E') {
                    i += 1;
                } else {
                    break;
                }
            }
            (TokenKind::Number, i)
        }
        c if c.is_alphabetic() || c == '_' => {
            let len = rest.find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$')).unwrap_or(rest.len());
            (TokenKind::Word, at + len)
        }
        c => (TokenKind::Symbol, at + c.len_utf8()),
    }
}

/// `/* … */`, nested as DuckDB nests them.
fn block_comment(sql: &str, at: usize) -> (TokenKind, usize) {
    let bytes = sql.as_bytes();
    let mut depth = 0usize;
    let mut i = at;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return (TokenKind::Comment, i);
                }
            }
            _ => i += 1,
        }
    }
    (TokenKind::Unterminated, sql.len())
}

fn quoted(sql: &str, at: usize, quote: u8, kind: TokenKind) -> (TokenKind, usize) {
    let bytes = sql.as_bytes();
    let mut i = at + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return (kind, i + 1);
        }
        i += 1;
    }
    (TokenKind::Unterminated, sql.len())
}

/// `$1`, `$name` (parameters) or `$tag$ … $tag$` (a string).
fn dollar(sql: &str, at: usize) -> (TokenKind, usize) {
    let rest = &sql[at + 1..];
    let tag_len = rest.find(|ch: char| !(ch.is_alphanumeric() || ch == '_')).unwrap_or(rest.len());
    let tag = &rest[..tag_len];
    if rest[tag_len..].starts_with('$') && !tag.starts_with(|c: char| c.is_ascii_digit()) {
        let opener = &sql[at..at + tag_len + 2];
        let body = at + opener.len();
        return match sql[body..].find(opener) {
            Some(end) => (TokenKind::Text, body + end + opener.len()),
            None => (TokenKind::Unterminated, sql.len()),
        };
    }
    if tag_len > 0 { (TokenKind::Parameter, at + 1 + tag_len) } else { (TokenKind::Symbol, at + 1) }
}

/// Byte ranges of the statements in `sql` (split at `;` outside quotes and comments), each
/// trimmed of surrounding space; empty statements are left out.
pub fn statements(sql: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let tokens = tokenize(sql);
    for token in &tokens {
        if token.is_symbol(sql, ';') {
            push_trimmed(sql, start..token.span.start, &mut out);
            start = token.span.end;
        }
    }
    push_trimmed(sql, start..sql.len(), &mut out);
    out
}

fn push_trimmed(sql: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let tokens = tokenize(&sql[range.clone()]);
    let meaningful: Vec<&Token> = tokens.iter().filter(|t| !matches!(t.kind, TokenKind::Space | TokenKind::Comment)).collect();
    if let (Some(first), Some(last)) = (meaningful.first(), meaningful.last()) {
        out.push(range.start + first.span.start..range.start + last.span.end);
    }
}

/// The statement the cursor (a byte offset) is in or just after.
pub fn statement_at(sql: &str, cursor: usize) -> Option<Range<usize>> {
    let all = statements(sql);
    all.iter()
        .find(|r| r.start <= cursor && cursor <= r.end)
        .or_else(|| all.iter().rev().find(|r| r.end <= cursor))
        .or(all.first())
        .cloned()
}

/// Words and symbols of `sql` only (no space or comments).
pub fn meaningful(sql: &str) -> Vec<Token> {
    tokenize(sql).into_iter().filter(|t| !matches!(t.kind, TokenKind::Space | TokenKind::Comment)).collect()
}

/// Line and column (both from 1, column in characters) of byte offset `at`.
pub fn line_column(sql: &str, at: usize) -> (usize, usize) {
    let before = &sql[..at.min(sql.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Keywords coloured in the editor.
pub const KEYWORDS: &[&str] = &[
    "ALL", "ALTER", "AND", "ANY", "AS", "ASC", "ATTACH", "BETWEEN", "BY", "CALL", "CASE", "CAST", "CHECKPOINT", "COLUMN",
    "COPY", "CREATE", "CROSS", "CURRENT_DATE", "CURRENT_TIMESTAMP", "DELETE", "DESC", "DESCRIBE", "DETACH", "DISTINCT",
    "DROP", "ELSE", "END", "EXCEPT", "EXCLUDE", "EXISTS", "EXPLAIN", "FALSE", "FILTER", "FROM", "FULL", "GROUP", "HAVING",
    "ILIKE", "IN", "INNER", "INSERT", "INTERSECT", "INTERVAL", "INTO", "IS", "JOIN", "LEFT", "LIKE", "LIMIT", "MACRO",
    "NATURAL", "NOT", "NULL", "NULLS", "OFFSET", "ON", "OR", "ORDER", "OUTER", "OVER", "PARTITION", "PIVOT", "PRAGMA",
    "QUALIFY", "RECURSIVE", "RENAME", "REPLACE", "RETURNING", "RIGHT", "SELECT", "SET", "SHOW", "SUMMARIZE", "TABLE",
    "THEN", "TO", "TRUE", "UNION", "UNPIVOT", "UPDATE", "USING", "VALUES", "VIEW", "WHEN", "WHERE", "WINDOW", "WITH",
];

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.binary_search_by(|k| k.cmp(&word.to_ascii_uppercase().as_str())).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(TokenKind, &str)> {
        tokenize(sql).into_iter().map(|t| (t.kind, &sql[t.span])).collect()
    }

    #[test]
    fn tokens_cover_the_text() {
        for sql in ["SELECT 'a;b', \"x\"\"y\" -- c;\nFROM t; /* ; */ $$;$$ $1 ? 1.5e-3 é", "'open", "/* open", "$tag$ x"] {
            let tokens = tokenize(sql);
            let joined: String = tokens.iter().map(|t| t.text(sql)).collect();
            assert_eq!(joined, sql);
        }
        // DuckDB nests block comments and quotes names with backticks too.
        assert_eq!(kinds("/* a /* b */ ' */ x"), vec![(TokenKind::Comment, "/* a /* b */ ' */"), (TokenKind::Space, " "), (TokenKind::Word, "x")]);
        assert_eq!(kinds("`a'b` c")[0], (TokenKind::QuotedName, "`a'b`"));
        let k = kinds("a 'b''c' \"d\" 1e+5 $1 $x$y$x$ -- z");
        assert!(k.contains(&(TokenKind::Text, "'b''c'")));
        assert!(k.contains(&(TokenKind::QuotedName, "\"d\"")));
        assert!(k.contains(&(TokenKind::Number, "1e+5")));
        assert!(k.contains(&(TokenKind::Parameter, "$1")));
        assert!(k.contains(&(TokenKind::Text, "$x$y$x$")));
        assert!(k.contains(&(TokenKind::Comment, "-- z")));
    }

    #[test]
    fn splits_statements_outside_quotes_and_comments() {
        let sql = "SELECT ';' AS a; -- one; two\nSELECT 2 /* ; */;\n\n  ;SELECT $$;$$";
        let parts: Vec<&str> = statements(sql).into_iter().map(|r| &sql[r]).collect();
        assert_eq!(parts, ["SELECT ';' AS a", "SELECT 2", "SELECT $$;$$"]);
        let at = sql.find("2 /*").unwrap();
        assert_eq!(&sql[statement_at(sql, at).unwrap()], "SELECT 2");
        // After the last statement's semicolon: that statement.
        let one = "SELECT 1;  ";
        assert_eq!(&one[statement_at(one, 10).unwrap()], "SELECT 1");
    }

    #[test]
    fn unquotes_names_and_text() {
        let sql = "'it''s' \"a\"\"b\" $$x'y$$";
        let values: Vec<Option<String>> = meaningful(sql).iter().map(|t| t.unquoted(sql)).collect();
        assert_eq!(values, [Some("it's".to_string()), Some("a\"b".to_string()), Some("x'y".to_string())]);
        assert_eq!(line_column("ab\ncdé f", 8), (2, 5));
    }

    #[test]
    fn keywords_are_sorted_for_lookup() {
        assert!(KEYWORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_keyword("select") && !is_keyword("flights"));
    }
}
