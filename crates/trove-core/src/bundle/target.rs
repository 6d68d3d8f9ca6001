//! Where an import merges: the vault itself (inside the import's write transaction), or,
//! for a dry run, an in-memory overlay on a read snapshot that writes nothing at all.
//!
//! A dry run takes no write lock, so it runs while another import, a share batch or the
//! CLI writes. It reports what the real import would: the overlay holds every record the
//! run would have inserted or replaced and every import origin it would have set, so a
//! record met twice in one file merges against its first copy exactly as it would in
//! the vault. The overlay grows with the records that would change (a dry run of a
//! 1,000,000-record bundle into an empty vault holds them all in memory).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};

use crate::error::Result;
use crate::record::{get_record, replace_record, DerivedColumns, Record, RecordInserter};
use crate::vault::Vault;

/// Begins the transaction an import runs in: `IMMEDIATE` (the write lock, so the import
/// never fails halfway on a busy upgrade) for a real one, a read snapshot for a dry run.
pub(crate) fn begin(vault: &Vault, dry_run: bool) -> Result<Transaction<'_>> {
    let behavior = if dry_run {
        TransactionBehavior::Deferred
    } else {
        TransactionBehavior::Immediate
    };
    Ok(Transaction::new_unchecked(vault.conn(), behavior)?)
}

/// The records and origins a dry run would have written.
#[derive(Default)]
pub(crate) struct Overlay {
    records: HashMap<String, Record>,
    origins: HashMap<String, String>,
}

/// The vault (through `tx`) or a dry run's overlay on it.
pub(crate) enum MergeTarget<'t> {
    Vault(RecordInserter<'t>),
    Dry(Overlay),
}

impl<'t> MergeTarget<'t> {
    /// The target of an import in `tx`: the vault, or an overlay when `dry_run`.
    pub(crate) fn new(tx: &'t Transaction<'_>, dry_run: bool) -> Result<Self> {
        Ok(if dry_run {
            MergeTarget::Dry(Overlay::default())
        } else {
            MergeTarget::Vault(RecordInserter::new(tx)?)
        })
    }

    /// Inserts `r` unless a record with its id exists (`Ok(false)`, nothing changed).
    pub(crate) fn insert_if_new(
        &mut self,
        tx: &Transaction<'_>,
        r: &Record,
        cols: &DerivedColumns,
    ) -> Result<bool> {
        match self {
            MergeTarget::Vault(ins) => ins.insert_if_new(r, cols),
            MergeTarget::Dry(o) => {
                if o.records.contains_key(&r.id) || stored(tx, &r.id)? {
                    return Ok(false);
                }
                o.records.insert(r.id.clone(), r.clone());
                Ok(true)
            }
        }
    }

    /// The record with `id` as the import sees it so far.
    pub(crate) fn get(&self, tx: &Transaction<'_>, id: &str) -> Result<Option<Record>> {
        match self {
            MergeTarget::Dry(o) if o.records.contains_key(id) => Ok(o.records.get(id).cloned()),
            _ => get_record(tx, id),
        }
    }

    /// Replaces the stored record with `r`'s id by `r`.
    pub(crate) fn replace(
        &mut self,
        tx: &Transaction<'_>,
        r: &Record,
        cols: &DerivedColumns,
    ) -> Result<()> {
        match self {
            MergeTarget::Vault(_) => replace_record(tx, r, cols),
            MergeTarget::Dry(o) => {
                o.records.insert(r.id.clone(), r.clone());
                Ok(())
            }
        }
    }

    /// The fields (as stored JSON) an earlier import gave the record `id`.
    pub(crate) fn origin(&self, tx: &Transaction<'_>, id: &str) -> Result<Option<String>> {
        if let MergeTarget::Dry(o) = self {
            if let Some(f) = o.origins.get(id) {
                return Ok(Some(f.clone()));
            }
        }
        Ok(tx
            .prepare_cached("SELECT fields FROM import_origin WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, String>(0))
            .optional()?)
    }

    /// Remembers the fields (as JSON) this import gives the record `id`.
    pub(crate) fn set_origin(
        &mut self,
        tx: &Transaction<'_>,
        id: &str,
        fields: String,
    ) -> Result<()> {
        match self {
            MergeTarget::Vault(_) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO import_origin (id, fields) VALUES (?1, ?2)",
                )?
                .execute(rusqlite::params![id, fields])?;
            }
            MergeTarget::Dry(o) => {
                o.origins.insert(id.to_string(), fields);
            }
        }
        Ok(())
    }
}

fn stored(tx: &Transaction<'_>, id: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM records WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}
