//! JSON documents and JSON Lines through DuckDB's `read_json`, after a strict streaming
//! parse: DuckDB accepts some malformed input (trailing commas, NaN, concatenated values),
//! which would load silently; the strict pass makes those a located error first.

use std::path::Path;
use std::sync::Arc;

use duckdb::Connection;

use super::encoding;
use crate::engine::error::{DuckMessage, EngineError, Result, duckdb_message::MessageKind};
use crate::engine::job::JobCtx;
use crate::engine::sql::{quote_ident, quote_literal};

/// Loads a JSON file into a new `target` table; returns its rows. Objects that repeat a key
/// are kept whole, as JSON text, with a notice.
pub(crate) fn load(conn: &Connection, target: &str, path: &Path, read_path: &Path, is_pattern: bool, ctx: &JobCtx, notices: &mut Vec<String>) -> Result<u64> {
    if !is_pattern {
        validate(path, ctx)?;
    }
    let reader = super::table_reader(super::FileFormat::Json, read_path, is_pattern);
    match conn.execute(&format!("CREATE TABLE {} AS SELECT * FROM {reader}", quote_ident(target)), []) {
        Ok(rows) => Ok(rows as u64),
        Err(e) => {
            let text = e.to_string();
            let message = DuckMessage::new(&text);
            if message.kind() != MessageKind::DuplicateKey {
                return Err(message.into_read_error(path));
            }
            notices.push("some objects repeat a key, so each record was kept whole as JSON text".into());
            let objects = format!("read_json_objects({}) AS t(json)", quote_literal(&read_path.to_string_lossy()));
            let rows = conn
                .execute(&format!("CREATE OR REPLACE TABLE {} AS SELECT json FROM {objects}", quote_ident(target)), [])
                .map_err(|e| DuckMessage::new(&e.to_string()).into_read_error(path))?;
            Ok(rows as u64)
        }
    }
}

/// A streaming pass through a strict parser: the first problem, located.
fn validate(path: &Path, ctx: &JobCtx) -> Result<()> {
    let reader = encoding::open_decompressed(path, Arc::default())?;
    let mut values = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 20, reader)).into_iter::<JsonKind>();
    let mut count = 0u64;
    let mut first = None;
    for value in values.by_ref() {
        if count % 65_536 == 0 {
            ctx.checkpoint()?;
        }
        let fail = |line: usize, reason: String| EngineError::InvalidData { file: path.to_path_buf(), line: Some(line as u64), column: None, reason };
        match (&value, first) {
            // Several values make JSON Lines, whose records are objects.
            (Ok(kind), Some(_)) if *kind != JsonKind::Object || first != Some(JsonKind::Object) => {
                return Err(fail(count as usize + 1, "not valid JSON: more than one value, and not one object per line (JSON Lines)".into()));
            }
            (Ok(kind), None) => first = Some(*kind),
            _ => {}
        }
        if let Err(e) = value {
            let reason = e.to_string();
            let reason = reason.split(" at line ").next().unwrap_or(&reason).to_string();
            return Err(EngineError::InvalidData {
                file: path.to_path_buf(),
                line: Some(e.line() as u64),
                column: None,
                reason: format!("not valid JSON: {reason} (character {})", e.column()),
            });
        }
        count += 1;
    }
    if count == 0 {
        return Err(EngineError::invalid_file(path, "the file holds no JSON value"));
    }
    Ok(())
}

/// What a JSON value is, read without keeping it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonKind {
    Object,
    Array,
    Scalar,
}

impl<'de> serde::Deserialize<'de> for JsonKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonKind;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<JsonKind, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonKind::Object)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<JsonKind, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonKind::Array)
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
            fn visit_unit<E>(self) -> std::result::Result<JsonKind, E> {
                Ok(JsonKind::Scalar)
            }
        }
        d.deserialize_any(Visitor)
    }
}

