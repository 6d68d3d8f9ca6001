//! Importers for other formats: vCard 3.0/4.0, CSV with a header row, and JSON arrays of
//! `{type, fields, tags}`. Each reports every malformed line by number; ids come from content.
//!
//! A record imported from a file gets a deterministic id: a UUID (version 8, RFC 9562)
//! built from the SHA-256 of its type and normalized fields, so importing the same file
//! again finds the records already there and creates no duplicates.

pub mod csv;
pub mod json;
pub mod vcard;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bundle::{merge_records, ImportReport, MergeMode};
use crate::error::{Error, Result};
use crate::record::{validate_record, validate_tag, NewRecord, Record};
use crate::schema::record_type;
use crate::vault::Vault;

/// The largest vCard/CSV/JSON file read (they are read whole).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// The formats `trove import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Bundle,
    Vcard,
    Csv,
    Json,
}

impl Format {
    /// Parses `auto|bundle|vcard|csv|json`; `auto` is `None`.
    pub fn parse(s: &str) -> Result<Option<Format>> {
        Ok(Some(match s.to_ascii_lowercase().as_str() {
            "auto" => return Ok(None),
            "bundle" | "trove" => Format::Bundle,
            "vcard" | "vcf" => Format::Vcard,
            "csv" => Format::Csv,
            "json" => Format::Json,
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown format {other:?} (auto, bundle, vcard, csv, json)"
                )))
            }
        }))
    }

    /// Guesses the format from the file name, then from its first bytes.
    pub fn detect(path: &Path, head: &[u8]) -> Format {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("trove" | "tar" | "age") => return Format::Bundle,
            Some("vcf" | "vcard") => return Format::Vcard,
            Some("csv") => return Format::Csv,
            Some("json") => return Format::Json,
            _ => {}
        }
        let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        let trimmed: &[u8] = {
            let start = text
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(text.len());
            &text[start..]
        };
        if head.starts_with(b"age-encryption.org/")
            || (head.len() >= 265 && &head[257..262] == b"ustar")
        {
            Format::Bundle
        } else if trimmed.len() >= 11 && trimmed[..11].eq_ignore_ascii_case(b"BEGIN:VCARD") {
            Format::Vcard
        } else if trimmed.starts_with(b"[") {
            Format::Json
        } else {
            Format::Csv
        }
    }

    /// The `source` records imported in this format get.
    pub fn source(self) -> &'static str {
        match self {
            Format::Bundle => "import:bundle",
            Format::Vcard => "import:vcard",
            Format::Csv => "import:csv",
            Format::Json => "import:json",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Bundle => "bundle",
            Format::Vcard => "vcard",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// What a parser found: records with the line they start on, and every problem.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<(u64, NewRecord)>,
    pub problems: Vec<(u64, String)>,
}

/// The deterministic id of an imported record: UUIDv8 from SHA-256(type, fields).
pub fn content_id(record_type: &str, fields: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(b"trove import id\0");
    h.update(record_type.as_bytes());
    h.update(b"\0");
    h.update(serde_json::to_vec(fields).expect("map serializes"));
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// Reads a whole file of at most [`MAX_FILE_BYTES`].
pub fn read_capped(mut r: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    (&mut r)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("can't read {what}"), e))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::BundleTooLarge(format!(
            "{what} is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(buf)
}

/// Parses `bytes` in `format` (not `Bundle`) into validated records; every problem is
/// collected with its line number.
pub fn parse(format: Format, bytes: &[u8], record_type: Option<&str>) -> Result<Parsed> {
    let text =
        std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).map_err(|e| {
            Error::InvalidInput(format!(
                "the file is not UTF-8 (at byte {})",
                e.valid_up_to()
            ))
        })?;
    let mut parsed = match format {
        Format::Vcard => vcard::parse(text),
        Format::Csv => {
            let ty = record_type.ok_or_else(|| {
                Error::InvalidInput(
                    "CSV needs --type TYPE (the columns are that type's fields)".into(),
                )
            })?;
            csv::parse(text, ty)?
        }
        Format::Json => json::parse(text),
        Format::Bundle => {
            return Err(Error::InvalidInput(
                "bundles are imported with bundle::import_bundle".into(),
            ))
        }
    };
    if let (Some(t), Format::Vcard | Format::Json) = (record_type, format) {
        record_type_check(t)?;
        parsed.records.retain(|(_, r)| r.record_type == t);
    }
    Ok(parsed)
}

fn record_type_check(t: &str) -> Result<()> {
    record_type(t).map(|_| ())
}

/// Turns parsed records into complete, validated records with content ids.
pub fn to_records(format: Format, parsed: Parsed, file: &str) -> Result<Vec<Record>> {
    let mut problems = parsed.problems;
    let now = crate::now_rfc3339();
    let mut out = Vec::new();
    for (line, n) in parsed.records {
        let r = (|| {
            let ty = record_type(&n.record_type)?;
            let fields = ty.validate(&n.fields)?;
            let mut tags: Vec<String> = Vec::new();
            for t in &n.tags {
                validate_tag(t)?;
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            validate_record(&Record {
                id: content_id(&ty.name, &fields),
                record_type: ty.name.clone(),
                fields,
                tags,
                source: format.source().into(),
                created_at: now.clone(),
                updated_at: now.clone(),
            })
        })();
        match r {
            Ok(r) => out.push(r),
            Err(Error::InvalidInput(m)) => problems.push((line, m)),
            Err(e) => problems.push((line, e.to_string())),
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|(l, _)| *l);
        return Err(Error::ImportMalformed {
            file: file.into(),
            problems,
        });
    }
    Ok(out)
}

/// Imports a vCard, CSV or JSON file's bytes into the vault in one transaction. Records
/// already present (same content id) are left unchanged; `dry_run` writes nothing.
pub fn import_file(
    vault: &Vault,
    format: Format,
    bytes: &[u8],
    record_type: Option<&str>,
    file: &str,
    dry_run: bool,
) -> Result<ImportReport> {
    let parsed = parse(format, bytes, record_type)?;
    let records = to_records(format, parsed, file)?;
    merge_records(
        vault,
        records,
        MergeMode::InsertOnly,
        dry_run,
        format.name(),
    )
}

#[cfg(test)]
mod tests;
