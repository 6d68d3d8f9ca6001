//! Printing: records and tables as text, one JSON value with `--json`, and errors as
//! "error: … / hint: …" on stderr with the exit codes of PRODUCT.md.

use std::process::ExitCode;

use serde::Serialize;
use trove_core::{record_type, Error, ErrorCode, Record};

/// `println!` for command output: a closed stdout (`trove list | head`) ends the
/// program quietly instead of panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::write_line(format_args!($($arg)*)) };
}

/// Writes one line to stdout; exits with 0 when the reader has gone away.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: can't write output: {e}");
        std::process::exit(1);
    }
}

/// A value from the vault, a bundle or an organization, made safe to print on a
/// terminal: control characters (C0 such as `\r` and ESC, DEL, C1) and the Unicode
/// bidirectional controls (and the line/paragraph separators) are written as `\u{..}`
/// escapes, so no stored text can move the cursor, rewrite a line or reorder what is shown. Every
/// field value the CLI prints as text goes through here; `--json` output is escaped by
/// JSON itself.
pub fn safe(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Prints one JSON value on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("output serializes")
    );
}

/// A record's fields in schema order.
fn ordered_fields(r: &Record) -> Vec<(&str, &str)> {
    match record_type(&r.record_type) {
        Ok(t) => t
            .fields
            .iter()
            .filter_map(|f| r.fields.get(&f.name).map(|v| (f.name.as_str(), v.as_str())))
            .collect(),
        Err(_) => r
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
    }
}

/// One record, field by field.
pub fn record(r: &Record) {
    let fields = ordered_fields(r);
    let width = fields
        .iter()
        .map(|(k, _)| k.len())
        .chain([7])
        .max()
        .unwrap_or(7)
        + 1;
    outln!("{:width$} {}", "id:", safe(&r.id));
    outln!("{:width$} {}", "type:", safe(&r.record_type));
    for (k, v) in fields {
        // Multi-line values (notes) keep their lines; each line is escaped.
        let mut lines = v.split('\n');
        outln!(
            "{:width$} {}",
            format!("{}:", safe(k)),
            safe(lines.next().unwrap_or(""))
        );
        for more in lines {
            outln!("{:width$} {}", "", safe(more));
        }
    }
    if !r.tags.is_empty() {
        outln!("{:width$} {}", "tags:", safe(&r.tags.join(", ")));
    }
    outln!("{:width$} {}", "source:", safe(&r.source));
    outln!("{:width$} {}", "created:", safe(&r.created_at));
    outln!("{:width$} {}", "updated:", safe(&r.updated_at));
}

/// One line per record: id, type, summary, tags.
pub fn record_lines(records: &[Record]) {
    if records.is_empty() {
        eprintln!("no records");
        return;
    }
    for r in records {
        outln!(
            "{}  {:<12}  {}",
            safe(&r.id),
            safe(&r.record_type),
            summary(r)
        );
    }
}

/// A short one-line summary of a record from its type's summary fields, escaped for
/// the terminal ([`safe`]).
pub fn summary(r: &Record) -> String {
    let fields: Vec<&str> = match record_type(&r.record_type) {
        Ok(t) => t
            .summary
            .iter()
            .filter_map(|f| r.fields.get(f).map(String::as_str))
            .collect(),
        Err(_) => r.fields.values().map(String::as_str).collect(),
    };
    let mut s = fields.join(" · ").replace('\n', " ");
    if s.chars().count() > 70 {
        s = s.chars().take(69).collect::<String>() + "…";
    }
    if !r.tags.is_empty() {
        s.push_str(&format!("  [{}]", r.tags.join(", ")));
    }
    safe(&s).into_owned()
}

#[derive(Serialize)]
struct JsonError {
    code: ErrorCode,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

/// Prints an error (and what to do next) and returns the exit code: 3 when the vault
/// could not be unlocked, 1 otherwise.
pub fn report_error(as_json: bool, e: &Error) -> ExitCode {
    let hint = crate::hint::hint(e);
    if as_json {
        let body = serde_json::json!({ "error": JsonError { code: e.code(), message: e.to_string(), hint } });
        eprintln!("{body}");
    } else {
        // Messages can quote input (a bad line of an imported file): escaped too.
        eprintln!("error: {}", safe(&e.to_string()));
        if let Some(h) = hint {
            eprintln!("hint: {}", safe(&h));
        }
    }
    if e.is_unlock_failure() {
        ExitCode::from(3)
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(safe("Ana Müller · 😀"), "Ana Müller · 😀");
        assert_eq!(safe("paid\rREFUND"), "paid\\u{d}REFUND");
        assert_eq!(safe("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(safe("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(safe("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(safe("tab\there"), "tab\\u{9}here");
        assert_eq!(safe("\u{85}\u{7f}"), "\\u{85}\\u{7f}");
    }
}
