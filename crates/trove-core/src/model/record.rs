//! What a record is: its types ([`Record`], [`NewRecord`], [`RecordChanges`]), ids, and
//! the validation every write and every import goes through. Pure: no storage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::{record_type, FieldSet};

/// A stored record, as every API and file format shows it. (TypeScript calls it
/// `StoredRecord`: `Record` is a built-in type there.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "StoredRecord"))]
pub struct Record {
    pub id: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub fields: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A record to be added: the vault assigns id and times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NewRecord {
    #[serde(rename = "type")]
    pub record_type: String,
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub tags: Vec<String>,
    /// Where the record came from; `manual` when left out.
    #[serde(default = "manual")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub source: String,
}

fn manual() -> String {
    "manual".into()
}

impl NewRecord {
    /// A manual record of `record_type` with `fields`.
    pub fn new(record_type: &str, fields: impl IntoIterator<Item = (String, String)>) -> Self {
        NewRecord {
            record_type: record_type.into(),
            fields: fields.into_iter().collect(),
            tags: Vec::new(),
            source: manual(),
        }
    }
}

/// Changes to a record: fields to set (an empty value unsets), tags to add and remove.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RecordChanges {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
}

/// A new record id: a ULID (time-ordered, 26 characters).
pub fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

/// Checks a tag: 1–64 characters of letters, digits and `- _ . : /`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.chars().count() <= 64
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.:/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "tag {tag:?} must be 1-64 letters, digits or - _ . : /"
        )))
    }
}

pub(crate) fn validate_source(source: &str) -> Result<()> {
    if source.is_empty()
        || source.len() > 64
        || source.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::InvalidInput(format!(
            "source {source:?} must be a short word like manual or import:vcard"
        )));
    }
    Ok(())
}

pub(crate) fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        validate_tag(t)?;
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Checks a complete record (e.g. from a bundle): id, type, fields, tags, source, times.
pub fn validate_record(r: &Record) -> Result<Record> {
    check_record(r, &FieldSet::All)
}

pub(crate) fn check_record(r: &Record, visible: &FieldSet) -> Result<Record> {
    if r.id.is_empty()
        || r.id.len() > 64
        || !r.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::InvalidInput(format!(
            "record id {:?} is malformed",
            r.id
        )));
    }
    let fields = record_type(&r.record_type)?.validate_within(&r.fields, visible)?;
    validate_source(&r.source)?;
    for t in [&r.created_at, &r.updated_at] {
        chrono::DateTime::parse_from_rfc3339(t).map_err(|_| {
            Error::InvalidInput(format!("record {}: time {t:?} is not RFC 3339", r.id))
        })?;
    }
    Ok(Record {
        id: r.id.clone(),
        record_type: r.record_type.clone(),
        fields,
        tags: clean_tags(&r.tags)?,
        source: r.source.clone(),
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
    })
}

/// A record from a scoped (partial) bundle laid over the stored one: the bundle's fields
/// set or overwrite, its tags are added, and nothing it does not carry is removed (type,
/// source and `created_at` stay the stored ones; `updated_at` becomes the later of the
/// two). Pure; the caller checks the types match.
pub fn overlay_partial(stored: &Record, partial: &Record) -> Record {
    let mut out = stored.clone();
    for (k, v) in &partial.fields {
        out.fields.insert(k.clone(), v.clone());
    }
    for t in &partial.tags {
        if !out.tags.contains(t) {
            out.tags.push(t.clone());
        }
    }
    if later(&partial.updated_at, &stored.updated_at) {
        out.updated_at = partial.updated_at.clone();
    }
    out
}

/// True when RFC 3339 time `a` is after `b` (false when either does not parse).
pub(crate) fn later(a: &str, b: &str) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

/// A new record made from `new` at `now`: validated, with a new id.
pub(crate) fn prepare_new(new: NewRecord, now: &str) -> Result<Record> {
    let ty = record_type(&new.record_type)?;
    validate_source(&new.source)?;
    Ok(Record {
        id: new_id(),
        record_type: ty.name.clone(),
        fields: ty.validate(&new.fields)?,
        tags: clean_tags(&new.tags)?,
        source: new.source,
        created_at: now.to_string(),
        updated_at: now.to_string(),
    })
}
