//! The trash and import batches: removing a record moves it out of the `records` table
//! into `trash` for [`TRASH_DAYS`] days (so no list, search, share or export path can
//! reach it), and an import remembers what it added so it can be undone as a batch.

use chrono::{Duration, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::record::{get_record, insert_record, Record};
use crate::vault::Vault;

/// How long a removed record stays restorable.
pub const TRASH_DAYS: i64 = 30;

/// A record in the trash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TrashedRecord {
    #[serde(flatten)]
    pub record: Record,
    /// When it was removed.
    pub trashed_at: String,
    /// When it is erased for good (unless restored first).
    pub erase_after: String,
}

/// What undoing an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UndoReport {
    pub batch: String,
    /// Records the import added, now moved to the trash.
    pub removed: Vec<String>,
    /// Records the import added that were changed since: kept.
    pub kept_changed: Vec<String>,
    /// Records the import added that were already removed.
    pub already_gone: Vec<String>,
}

fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Erases trashed records older than [`TRASH_DAYS`].
fn purge_expired(tx: &Transaction<'_>) -> Result<()> {
    let cutoff = stamp(Utc::now() - Duration::days(TRASH_DAYS));
    tx.prepare_cached("DELETE FROM trash WHERE trashed_at < ?1")?
        .execute([cutoff])?;
    Ok(())
}

/// Moves the record `id` to the trash inside `tx`; `NotFound` if it is not stored.
pub(crate) fn trash_in(tx: &Transaction<'_>, id: &str) -> Result<Record> {
    let r = get_record(tx, id)?.ok_or_else(|| Error::NotFound(id.to_string()))?;
    let rowid: i64 = tx.query_row("SELECT rowid FROM records WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    crate::record::unindex_record(tx, rowid)?;
    tx.execute("DELETE FROM records WHERE rowid = ?1", [rowid])?;
    tx.prepare_cached("INSERT OR REPLACE INTO trash (id, record, trashed_at) VALUES (?1, ?2, ?3)")?
        .execute(params![
            id,
            serde_json::to_string(&r).expect("record serializes"),
            crate::now_rfc3339()
        ])?;
    Ok(r)
}

fn trashed_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TrashedRecord> {
    let text: String = row.get(0)?;
    let record: Record = serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let trashed_at: String = row.get(1)?;
    let erase_after = chrono::DateTime::parse_from_rfc3339(&trashed_at)
        .map(|t| stamp(t.with_timezone(&Utc) + Duration::days(TRASH_DAYS)))
        .unwrap_or_else(|_| trashed_at.clone());
    Ok(TrashedRecord {
        record,
        trashed_at,
        erase_after,
    })
}

/// Remembers what one import added (ids with their `updated_at`), inside its
/// transaction; returns the batch id.
pub(crate) fn record_batch(
    tx: &Transaction<'_>,
    file: &str,
    format: &str,
    added: &[(String, String)],
) -> Result<String> {
    let id = crate::record::new_id();
    tx.prepare_cached(
        "INSERT INTO import_batches (id, created_at, file, format, added) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id,
        crate::now_rfc3339(),
        file,
        format,
        serde_json::to_string(added).expect("ids serialize")
    ])?;
    Ok(id)
}

impl Vault {
    /// Moves the record `id` to the trash: it is no longer listed, searched, shared or
    /// exported, and can be restored for [`TRASH_DAYS`] days.
    pub fn remove(&self, id: &str) -> Result<()> {
        self.write(|tx| {
            purge_expired(tx)?;
            trash_in(tx, id).map(|_| ())
        })
    }

    /// The records in the trash, most recently removed first (older than
    /// [`TRASH_DAYS`] are erased first).
    pub fn list_trash(&self) -> Result<Vec<TrashedRecord>> {
        self.write(|tx| {
            purge_expired(tx)?;
            let mut stmt = tx.prepare_cached(
                "SELECT record, trashed_at FROM trash ORDER BY trashed_at DESC, id DESC",
            )?;
            let rows = stmt.query_map([], trashed_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Puts a trashed record back, as it was. Refused (nothing changes) when a record
    /// with its id is stored again, e.g. imported since.
    pub fn restore(&self, id: &str) -> Result<Record> {
        self.write(|tx| {
            purge_expired(tx)?;
            let found: Option<TrashedRecord> = tx
                .prepare_cached("SELECT record, trashed_at FROM trash WHERE id = ?1")?
                .query_row([id], trashed_from_row)
                .optional()?;
            let Some(t) = found else {
                return Err(Error::InvalidInput(format!(
                    "there is no record {id} in the trash (see `trash list`; records are erased {TRASH_DAYS} days after removal)"
                )));
            };
            if get_record(tx, id)?.is_some() {
                return Err(Error::InvalidInput(format!(
                    "a record {id} is stored again (imported since?): the trashed copy stays in the trash; remove the stored one first to restore it"
                )));
            }
            insert_record(tx, &t.record)?;
            tx.execute("DELETE FROM trash WHERE id = ?1", [id])?;
            Ok(t.record)
        })
    }

    /// Erases every record in the trash for good; returns how many.
    pub fn empty_trash(&self) -> Result<u64> {
        self.write(|tx| Ok(tx.execute("DELETE FROM trash", [])? as u64))
    }

    /// Undoes the import `batch`: the records it added move to the trash, except those
    /// changed since (kept, and named in the report). An undone batch cannot be undone
    /// again.
    pub fn undo_import(&self, batch: &str) -> Result<UndoReport> {
        self.write(|tx| {
            let row: Option<(String, Option<String>)> = tx
                .query_row(
                    "SELECT added, undone_at FROM import_batches WHERE id = ?1",
                    [batch],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((added, undone)) = row else {
                return Err(Error::InvalidInput(format!(
                    "there is no import batch {batch:?}: use the batch id an import printed"
                )));
            };
            if let Some(at) = undone {
                return Err(Error::InvalidInput(format!(
                    "import batch {batch} was already undone at {at}; its records are in the trash (see `trash list`)"
                )));
            }
            let added: Vec<(String, String)> = serde_json::from_str(&added)
                .map_err(|e| Error::InvalidInput(format!("import batch {batch} is damaged: {e}")))?;
            let mut report = UndoReport {
                batch: batch.to_string(),
                ..Default::default()
            };
            purge_expired(tx)?;
            for (id, updated_at) in added {
                match get_record(tx, &id)? {
                    None => report.already_gone.push(id),
                    Some(r) if r.updated_at != updated_at => report.kept_changed.push(id),
                    Some(_) => {
                        trash_in(tx, &id)?;
                        report.removed.push(id);
                    }
                }
            }
            tx.execute(
                "UPDATE import_batches SET undone_at = ?2 WHERE id = ?1",
                params![batch, crate::now_rfc3339()],
            )?;
            Ok(report)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ListFilter, NewRecord, RecordChanges};
    use crate::vault::tests::new_vault;

    fn note(v: &Vault, title: &str) -> Record {
        v.add(NewRecord::new(
            "note",
            [("title".into(), title.into()), ("body".into(), "b".into())],
        ))
        .unwrap()
    }

    #[test]
    fn rm_moves_to_the_trash_out_of_list_and_search_and_restore_puts_it_back() {
        let (_d, v) = new_vault();
        let r = note(&v, "flatviewing");
        v.remove(&r.id).unwrap();
        assert!(v.list(&ListFilter::default()).unwrap().is_empty());
        assert!(v.search("flatviewing", 10).unwrap().is_empty());
        assert!(matches!(v.get(&r.id), Err(Error::NotFound(_))));
        let t = v.list_trash().unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].record, r);
        assert!(t[0].erase_after > t[0].trashed_at);
        assert_eq!(v.restore(&r.id).unwrap(), r);
        assert_eq!(v.get(&r.id).unwrap(), r, "restored exactly");
        assert_eq!(
            v.search("flatviewing", 10).unwrap().len(),
            1,
            "searchable again"
        );
        assert!(v.list_trash().unwrap().is_empty());
        let err = v.restore(&r.id).unwrap_err();
        assert!(err.to_string().contains("no record"), "{err}");
    }

    #[test]
    fn empty_trash_erases_and_old_entries_are_purged() {
        let (_d, v) = new_vault();
        let (a, b) = (note(&v, "a"), note(&v, "b"));
        v.remove(&a.id).unwrap();
        v.remove(&b.id).unwrap();
        v.conn()
            .execute(
                "UPDATE trash SET trashed_at = '2000-01-01T00:00:00.000Z' WHERE id = ?1",
                [&a.id],
            )
            .unwrap();
        let left = v.list_trash().unwrap();
        assert_eq!(left.len(), 1, "older than 30 days is erased");
        assert_eq!(left[0].record.id, b.id);
        assert_eq!(v.empty_trash().unwrap(), 1);
        assert!(v.list_trash().unwrap().is_empty());
        assert!(v.restore(&b.id).is_err());
    }

    #[test]
    fn undo_import_trashes_what_it_added_and_keeps_what_changed_since() {
        let (_d, v) = new_vault();
        let (a, b, c) = (note(&v, "a"), note(&v, "b"), note(&v, "c"));
        let batch = v
            .write(|tx| {
                record_batch(
                    tx,
                    "x.json",
                    "json",
                    &[a.clone(), b.clone(), c.clone()].map(|r| (r.id, r.updated_at)),
                )
            })
            .unwrap();
        v.edit(
            &b.id,
            &RecordChanges {
                set: [("body".to_string(), "edited".to_string())].into(),
                ..Default::default()
            },
        )
        .unwrap();
        v.remove(&c.id).unwrap();
        let u = v.undo_import(&batch).unwrap();
        assert_eq!(u.removed, vec![a.id.clone()]);
        assert_eq!(u.kept_changed, vec![b.id.clone()]);
        assert_eq!(u.already_gone, vec![c.id.clone()]);
        assert!(v.get(&b.id).is_ok());
        assert!(v.list_trash().unwrap().iter().any(|t| t.record.id == a.id));
        let again = v.undo_import(&batch).unwrap_err();
        assert!(again.to_string().contains("already undone"), "{again}");
        let unknown = v.undo_import("nope").unwrap_err();
        assert!(unknown.to_string().contains("no import batch"), "{unknown}");
    }
}
