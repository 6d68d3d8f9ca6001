//! jCard (RFC 7095): `["vcard", [[name, {params}, type, value...], ...]]`, or an array of
//! those, read as the same properties as a text vCard.

use serde_json::Value;

use super::person::Entry;
use super::report::Problems;
use super::vcard::{entry, Prop};

/// Whether `v` looks like jCard: `["vcard", [...]]` or an array of those.
pub fn is_jcard(v: &Value) -> bool {
    match v {
        Value::Array(a) => match a.first() {
            Some(Value::String(s)) => s.eq_ignore_ascii_case("vcard"),
            Some(first @ Value::Array(_)) => is_jcard(first),
            _ => false,
        },
        _ => false,
    }
}

/// Text of a jCard value: strings as they are, numbers and booleans printed, arrays
/// (multiple values of one component) joined with `,`.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(text)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(","),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Reads one card, `["vcard", [properties]]`, that starts on `no`.
pub fn parse_card(
    no: u64,
    card: &Value,
    problems: &mut Problems,
    each: &mut dyn FnMut(Entry, &mut Problems),
) {
    let props = match card {
        Value::Array(a)
            if a.len() == 2
                && a[0]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case("vcard")) =>
        {
            match &a[1] {
                Value::Array(p) => p,
                _ => {
                    problems.skipped(no, None, "the card's properties are not an array");
                    return;
                }
            }
        }
        _ => {
            problems.skipped(no, None, "the card is not [\"vcard\", [properties]]");
            return;
        }
    };
    let mut out = Vec::new();
    for p in props {
        let Some(a) = p.as_array().filter(|a| a.len() >= 4) else {
            problems.not_kept(
                no,
                "?",
                "a property is not [name, params, type, value]",
                false,
            );
            continue;
        };
        let Some(name) = a[0].as_str() else {
            problems.not_kept(no, "?", "a property name is not a string", false);
            continue;
        };
        let mut params = Vec::new();
        let mut group = None;
        if let Some(obj) = a[1].as_object() {
            for (k, v) in obj {
                let k = k.to_ascii_uppercase();
                if k == "GROUP" {
                    group = Some(text(v));
                } else {
                    params.push((k, text(v)));
                }
            }
        }
        let vtype = a[2].as_str().unwrap_or("text");
        let values = &a[3..];
        let comps: Vec<String> = if values.len() == 1 {
            match &values[0] {
                Value::Array(c) => c.iter().map(text).collect(),
                v => vec![text(v)],
            }
        } else {
            values.iter().map(text).collect()
        };
        let name = name.to_ascii_uppercase();
        let comps = if name == "CATEGORIES" || name == "NICKNAME" {
            comps
                .iter()
                .flat_map(|c| c.split(','))
                .map(|c| c.trim().to_string())
                .collect()
        } else {
            comps.into_iter().map(|c| c.trim().to_string()).collect()
        };
        out.push(Prop {
            line: no,
            group,
            binary: vtype == "binary",
            name,
            params,
            comps,
        });
    }
    if let Some(e) = entry(no, out, problems) {
        each(e, problems);
    }
}
