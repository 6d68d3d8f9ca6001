//! JSON import: an array of `{"type", "fields", "tags"}` objects. Each item's problems are
//! reported at the line where the item starts.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Parsed;
use crate::bundle::check_json_depth;
use crate::record::NewRecord;

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "type")]
    record_type: String,
    fields: BTreeMap<String, String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// The line on which each top-level array element starts.
fn item_lines(text: &str) -> Vec<u64> {
    let (mut depth, mut in_str, mut esc, mut line) = (0usize, false, false, 1u64);
    let mut out = Vec::new();
    let mut expecting = false;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_str {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if depth == 1 && expecting && !c.is_whitespace() && c != ']' {
            out.push(line);
            expecting = false;
        }
        match c {
            '"' => in_str = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    expecting = true;
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    out
}

/// Parses a JSON array of records.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    if let Err(e) = check_json_depth(text.as_bytes(), 16) {
        out.problems.push((1, e.to_string()));
        return out;
    }
    let items: Vec<serde_json::Value> = match serde_json::from_str(text) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(_) => {
            out.problems.push((
                1,
                "expected a JSON array of {type, fields, tags} objects".into(),
            ));
            return out;
        }
        Err(e) => {
            out.problems.push((e.line() as u64, e.to_string()));
            return out;
        }
    };
    let lines = item_lines(text);
    for (i, v) in items.into_iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(1);
        match serde_json::from_value::<Item>(v) {
            Ok(it) => out.records.push((
                line,
                NewRecord {
                    record_type: it.record_type,
                    fields: it.fields,
                    tags: it.tags,
                    source: "import:json".into(),
                },
            )),
            Err(e) => out.problems.push((line, format!("item {}: {e}", i + 1))),
        }
    }
    out
}
