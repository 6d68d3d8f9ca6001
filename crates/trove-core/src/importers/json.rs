//! JSON import: an array of `{"type", "fields", "tags"}` objects (Trove's own records).
//! Each item's problems are reported at the line where the item starts.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::report::Problems;
use crate::record::NewRecord;

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "type")]
    record_type: String,
    fields: BTreeMap<String, Value>,
    #[serde(default)]
    tags: Vec<String>,
}

/// The line on which each top-level array element starts.
pub fn item_lines(text: &str) -> Vec<u64> {
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

/// Reads the items of a parsed JSON array; `text` gives their line numbers.
pub fn parse(
    doc: Value,
    text: &str,
    problems: &mut Problems,
    each: &mut dyn FnMut(u64, NewRecord, &mut Problems),
) {
    let items = match doc {
        Value::Array(a) => a,
        _ => {
            problems.skipped(
                1,
                None,
                "expected a JSON array of {type, fields, tags} objects, or jCard",
            );
            return;
        }
    };
    let lines = item_lines(text);
    for (i, v) in items.into_iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(1);
        match serde_json::from_value::<Item>(v) {
            Ok(it) => {
                let mut fields = BTreeMap::new();
                for (k, v) in it.fields {
                    match v {
                        Value::String(s) => {
                            fields.insert(k, s);
                        }
                        Value::Number(n) => {
                            fields.insert(k, n.to_string());
                        }
                        Value::Bool(b) => {
                            fields.insert(k, b.to_string());
                        }
                        Value::Null => {}
                        _ => problems.not_kept(line, &k, "is not a string", false),
                    }
                }
                each(
                    line,
                    NewRecord {
                        record_type: it.record_type,
                        fields,
                        tags: it.tags,
                        source: "import:json".into(),
                    },
                    problems,
                )
            }
            Err(e) => problems.skipped(
                line,
                None,
                format!(
                    "item {}: {e} (expected {{\"type\", \"fields\", \"tags\"}})",
                    i + 1
                ),
            ),
        }
    }
}
