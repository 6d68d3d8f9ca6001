//! Where bundles meet grants, receipts and the access log: dumping their tables into the
//! bundle's JSONL members, and the access-log entries for exports and imports.

use std::collections::BTreeSet;

use rusqlite::Transaction;

use super::export::Encryption;
use super::manifest::Manifest;
use super::tar::Member;
use crate::access_log::stored::value_json;
use crate::access_log::{append, LogKind, NewLogEntry};
use crate::error::Result;
use crate::vault::Vault;

/// The table behind each JSONL member other than records and the log.
fn table_for(m: Member) -> Option<&'static str> {
    match m {
        Member::Grants => Some("grants"),
        Member::Receipts => Some("consent_receipts"),
        _ => None,
    }
}

/// Columns never written into a bundle: a grant's token hash is token material, and it
/// is keyed to this vault anyway.
const SKIPPED_COLUMNS: &[&str] = &["token_hash"];
/// Text columns that hold JSON (lists, receipts): written as JSON, not as strings.
const JSON_COLUMNS: &[&str] = &["scope", "record_ids", "fields", "receipt"];

/// Calls `f` with every row of the member's table as a JSON object (column → value), in
/// rowid order; for the log, every entry (see `access_log::for_each_jsonl`). A table
/// that does not exist (yet) yields nothing.
pub(crate) fn for_each_table_row(
    tx: &Transaction<'_>,
    m: Member,
    f: &mut dyn FnMut(&serde_json::Value) -> Result<()>,
) -> Result<()> {
    if m == Member::Log {
        return crate::access_log::for_each_jsonl(tx, f);
    }
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
    let mut stmt = tx.prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        f(&row_object(&names, row)?)?;
    }
    Ok(())
}

/// A table row as a JSON object (column → value).
fn row_object(names: &[String], row: &rusqlite::Row<'_>) -> Result<serde_json::Value> {
    let mut obj = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        if SKIPPED_COLUMNS.contains(&name.as_str()) {
            continue;
        }
        let json = JSON_COLUMNS.contains(&name.as_str());
        obj.insert(name.clone(), value_json(row.get_ref(i)?, json));
    }
    Ok(serde_json::Value::Object(obj))
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
