//! Where bundles meet grants, receipts and the access log: dumping their tables into the
//! bundle's JSONL members, and the access-log entries for exports and imports.

use std::collections::BTreeSet;

use rusqlite::types::ValueRef;
use rusqlite::Transaction;

use super::export::Encryption;
use super::manifest::Manifest;
use super::tar::Member;
use crate::access_log::{append, LogKind, NewLogEntry};
use crate::error::Result;
use crate::vault::Vault;

/// The table behind each JSONL member other than records.
fn table_for(m: Member) -> Option<&'static str> {
    match m {
        Member::Grants => Some("grants"),
        Member::Receipts => Some("consent_receipts"),
        Member::Log => Some("access_log"),
        _ => None,
    }
}

/// Columns never written into a bundle: a grant's token hash is token material, and it
/// is keyed to this vault anyway.
const SKIPPED_COLUMNS: &[&str] = &["token_hash"];
/// Text columns that hold JSON (lists, receipts): written as JSON, not as strings.
const JSON_COLUMNS: &[&str] = &["scope", "record_ids", "fields", "receipt"];

/// Calls `f` with every row of the member's table as a JSON object (column → value), in
/// rowid order. A table that does not exist (yet) yields nothing.
pub(crate) fn for_each_table_row(
    tx: &Transaction<'_>,
    m: Member,
    f: &mut dyn FnMut(&serde_json::Value) -> Result<()>,
) -> Result<()> {
    let Some(table) = table_for(m) else {
        return Ok(());
    };
    let exists: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )?;
    if exists == 0 {
        return Ok(());
    }
    let sql = match m {
        // The log's columns as they read (the table stores some compactly).
        Member::Log => crate::access_log::select_in_order(),
        _ => format!("SELECT * FROM {table} ORDER BY rowid"),
    };
    let mut stmt = tx.prepare(&sql)?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let mut obj = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            if SKIPPED_COLUMNS.contains(&name.as_str()) {
                continue;
            }
            let raw = row.get_ref(i)?;
            let stored = match m {
                Member::Log => crate::access_log::stored::jsonl_value(name, raw),
                _ => None,
            };
            let v = match raw {
                _ if stored.is_some() => stored.expect("checked"),
                ValueRef::Text(t) if JSON_COLUMNS.contains(&name.as_str()) => {
                    serde_json::from_slice(t)
                        .unwrap_or_else(|_| String::from_utf8_lossy(t).into_owned().into())
                }
                ValueRef::Null => serde_json::Value::Null,
                ValueRef::Integer(n) => n.into(),
                ValueRef::Real(x) => serde_json::Number::from_f64(x)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                ValueRef::Blob(b) => hex::encode(b).into(),
            };
            obj.insert(name.clone(), v);
        }
        f(&serde_json::Value::Object(obj))?;
    }
    Ok(())
}

/// Appends the access-log entry for an export: `org` names who can open it (the age
/// recipients, or `passphrase` / `plain`), `path` says whether it was scoped, `fields`
/// lists the `type.field` names disclosed. Never values. The caller commits the bundle
/// file only after this succeeded (fail closed).
pub(super) fn log_export(
    vault: &Vault,
    enc: &Encryption<'_>,
    manifest: &Manifest,
    disclosed: &BTreeSet<String>,
) -> Result<()> {
    let mut e = NewLogEntry::new(LogKind::Export);
    e.org = Some(enc.recipient_names().join(" "));
    e.path = Some(match &manifest.scope {
        Some(items) => format!("bundle:scoped {}", items.join(",")),
        None => "bundle:full".into(),
    });
    e.fields = disclosed.iter().cloned().collect();
    vault.log_event(e)?;
    Ok(())
}

/// Appends the access-log entry for an import inside the import's own transaction (a
/// dry run rolls it back with everything else).
pub(super) fn log_import(
    tx: &Transaction<'_>,
    format: &str,
    fields: &BTreeSet<String>,
) -> Result<()> {
    let mut e = NewLogEntry::new(LogKind::Import);
    e.path = Some(format!("import:{format}"));
    e.fields = fields.iter().cloned().collect();
    append(tx, e, None)?;
    Ok(())
}

/// The `type.field` names a bundle discloses or an import brings in, grouped by type so
/// that noting a name seen before allocates nothing (there are few types and fields).
#[derive(Debug, Default)]
pub(super) struct FieldNames {
    by_type: Vec<(String, Vec<String>)>,
}

impl FieldNames {
    /// Notes `record_type.field`.
    pub(super) fn note(&mut self, record_type: &str, field: &str) {
        let i = match self.by_type.iter().position(|(t, _)| t == record_type) {
            Some(i) => i,
            None => {
                self.by_type.push((record_type.to_string(), Vec::new()));
                self.by_type.len() - 1
            }
        };
        let fields = &mut self.by_type[i].1;
        if !fields.iter().any(|f| f == field) {
            fields.push(field.to_string());
        }
    }

    /// Notes every field of `r`.
    pub(super) fn note_record(&mut self, r: &crate::model::record::Record) {
        for f in r.fields.keys() {
            self.note(&r.record_type, f);
        }
    }

    /// The names as `type.field`, sorted.
    pub(super) fn into_set(self) -> BTreeSet<String> {
        self.by_type
            .into_iter()
            .flat_map(|(t, fs)| fs.into_iter().map(move |f| format!("{t}.{f}")))
            .collect()
    }
}
