//! CSV (RFC 4180) with a header row naming the fields of one record type: quoted fields
//! with `""` escapes and embedded newlines, CRLF or LF, an optional `tags` column.

use std::collections::BTreeMap;

use super::Parsed;
use crate::error::Result;
use crate::record::NewRecord;
use crate::schema::record_type;

/// One row: the line it starts on and its fields.
#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub fields: Vec<String>,
}

/// Splits CSV text into rows; an unterminated quote is a problem at the line it opened.
/// Blank lines are skipped.
pub fn rows(text: &str) -> (Vec<Row>, Vec<(u64, String)>) {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1u64;
    loop {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted_open: Option<u64> = None;
        let mut was_quoted = false;
        let mut row_done = false;
        let mut any = false;
        while let Some(c) = chars.next() {
            any = true;
            if let Some(open) = quoted_open {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => {
                        quoted_open = None;
                        let _ = open;
                    }
                    '\n' => {
                        line += 1;
                        field.push('\n');
                    }
                    c => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.is_empty() && !was_quoted => {
                    quoted_open = Some(line);
                    was_quoted = true;
                }
                '"' => {
                    problems.push((line, "a quote inside an unquoted field (quote the whole field and double the quote)".to_string()));
                    field.push('"');
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    row_done = true;
                    break;
                }
                c if was_quoted => {
                    problems.push((line, format!("text {c:?} after a closing quote")));
                    field.push(c);
                }
                c => field.push(c),
            }
        }
        if let Some(open) = quoted_open {
            problems.push((open, "a quoted field is never closed".into()));
            break;
        }
        if !any {
            break;
        }
        fields.push(field);
        if !(fields.len() == 1 && fields[0].is_empty() && !was_quoted) {
            rows.push(Row {
                line: start,
                fields,
            });
        }
        if !row_done {
            break;
        }
    }
    (rows, problems)
}

/// Parses CSV whose header names fields of `ty` (and optionally `tags`, separated by
/// spaces or `;`). Unknown columns are an error naming them.
pub fn parse(text: &str, ty: &str) -> Result<Parsed> {
    let t = record_type(ty)?;
    let (rows, mut problems) = rows(text);
    let mut out = Parsed::default();
    let mut it = rows.into_iter();
    let Some(header) = it.next() else {
        out.problems
            .push((1, "the file is empty (a header row is needed)".into()));
        return Ok(out);
    };
    let cols: Vec<String> = header.fields.iter().map(|c| c.trim().to_string()).collect();
    for (i, c) in cols.iter().enumerate() {
        if c != "tags" && t.field(c).is_err() {
            problems.push((
                header.line,
                format!(
                    "column {} {c:?} is not a field of {ty} (fields: {})",
                    i + 1,
                    t.fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if cols[..i].contains(c) {
            problems.push((header.line, format!("column {c:?} appears twice")));
        }
    }
    for row in it {
        if row.fields.len() != cols.len() {
            problems.push((
                row.line,
                format!(
                    "has {} fields; the header has {}",
                    row.fields.len(),
                    cols.len()
                ),
            ));
            continue;
        }
        let mut fields = BTreeMap::new();
        let mut tags = Vec::new();
        for (c, v) in cols.iter().zip(row.fields) {
            if c == "tags" {
                tags.extend(
                    v.split([' ', ';'])
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                );
            } else if !v.is_empty() {
                fields.insert(c.clone(), v);
            }
        }
        out.records.push((
            row.line,
            NewRecord {
                record_type: t.name.clone(),
                fields,
                tags,
                source: "import:csv".into(),
            },
        ));
    }
    out.problems = problems;
    Ok(out)
}
