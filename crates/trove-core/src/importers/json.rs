//! JSON import: an array of `{"type", "fields", "tags"}` objects (Trove's own records).
//! Each item's problems are reported at the line where the item starts.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::report::Problems;
use crate::model::record::NewRecord;

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "type")]
    record_type: String,
    fields: BTreeMap<String, Value>,
    #[serde(default)]
    tags: Vec<String>,
}

/// The largest single element of a JSON file parsed (a record, or a jCard card): parsing
/// builds a tree several times the text's size, so each element is parsed alone and
/// capped.
pub const MAX_ELEMENT_BYTES: usize = 4 << 20;

/// The elements of a top-level JSON array, as text slices with the line each starts on,
/// found without parsing them (so a file is never one big tree in memory).
pub struct Elements<'a> {
    text: &'a str,
    pos: usize,
    line: u64,
    done: bool,
}

impl<'a> Elements<'a> {
    /// `None` when `text` is not an array.
    pub fn new(text: &'a str) -> Option<Self> {
        let mut e = Elements {
            text,
            pos: 0,
            line: 1,
            done: false,
        };
        e.skip_ws();
        if text.as_bytes().get(e.pos) != Some(&b'[') {
            return None;
        }
        e.pos += 1;
        Some(e)
    }

    fn skip_ws(&mut self) {
        let b = self.text.as_bytes();
        while let Some(c) = b.get(self.pos) {
            match c {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = (u64, &'a str);

    fn next(&mut self) -> Option<(u64, &'a str)> {
        if self.done {
            return None;
        }
        self.skip_ws();
        let b = self.text.as_bytes();
        if matches!(b.get(self.pos), None | Some(b']')) {
            self.done = true;
            return None;
        }
        let (start, line) = (self.pos, self.line);
        let (mut depth, mut in_str, mut esc) = (0usize, false, false);
        while let Some(&c) = b.get(self.pos) {
            if c == b'\n' {
                self.line += 1;
            }
            if in_str {
                if esc {
                    esc = false;
                } else if c == b'\\' {
                    esc = true;
                } else if c == b'"' {
                    in_str = false;
                }
            } else {
                match c {
                    b'"' => in_str = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' if depth > 0 => depth -= 1,
                    b',' | b']' if depth == 0 => break,
                    _ => {}
                }
            }
            self.pos += 1;
        }
        let item = self.text[start..self.pos].trim_end();
        match b.get(self.pos) {
            Some(b',') => self.pos += 1,
            _ => self.done = true,
        }
        Some((line, item))
    }
}

/// Parses one element of at most [`MAX_ELEMENT_BYTES`].
pub fn element(line: u64, text: &str, problems: &mut Problems) -> Option<Value> {
    if text.len() > MAX_ELEMENT_BYTES {
        problems.skipped(
            line,
            None,
            format!(
                "an item of {} bytes is larger than {MAX_ELEMENT_BYTES}: not read",
                text.len()
            ),
        );
        return None;
    }
    match serde_json::from_str(text) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.skipped(line + e.line() as u64 - 1, None, format!("not JSON: {e}"));
            None
        }
    }
}

/// One `{type, fields, tags}` item.
pub fn item(
    line: u64,
    v: Value,
    problems: &mut Problems,
    each: &mut dyn FnMut(u64, NewRecord, &mut Problems),
) {
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
            format!("{e} (expected {{\"type\", \"fields\", \"tags\"}})"),
        ),
    }
}
