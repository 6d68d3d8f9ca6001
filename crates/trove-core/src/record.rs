//! Stored records: adding, reading, listing, editing and counting them, and keeping
//! their tag rows and full-text index in step. What a record is and how it is validated
//! is in [`crate::model::record`] (re-exported here); ranked search is [`crate::search`].

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::record::{clean_tags, prepare_new};
pub use crate::model::record::{
    new_id, overlay_partial, validate_record, validate_tag, NewRecord, Record, RecordChanges,
};
pub use crate::model::scope::validate_projected_record;
use crate::schema::record_type;
use crate::vault::Vault;

/// Which records `list` returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListFilter {
    #[serde(default)]
    pub record_type: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    /// At most this many, newest first; `None` for all.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only records listed after the record with this id (the next page after a page
    /// ending there). An id that is not in the vault (deleted meanwhile) is
    /// [`Error::NotFound`]: start again from the first page.
    #[serde(default)]
    pub after: Option<String>,
}

/// The columns of a stored record, in the order [`from_row`] reads them. Every read of
/// whole records (lists, search, the share API, scoped export) selects these.
pub(crate) const SELECT: &str =
    "SELECT id, type, fields, tags, source, created_at, updated_at FROM records";

/// The one mapping from a stored row ([`SELECT`]'s columns) to a [`Record`]. Stored
/// `fields` or `tags` that are not the JSON they should be fail as a conversion error of
/// that column (index 2 or 3).
pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Record> {
    let fields: String = row.get(2)?;
    let tags: String = row.get(3)?;
    let bad = |i: usize| {
        move |e: serde_json::Error| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        }
    };
    Ok(Record {
        id: row.get(0)?,
        record_type: row.get(1)?,
        fields: serde_json::from_str(&fields).map_err(bad(2))?,
        tags: serde_json::from_str(&tags).map_err(bad(3))?,
        source: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

/// The columns a stored record derives from its content: `fields` and `tags` as JSON,
/// and the full-text body. Building them touches no database, so a bulk import builds
/// them on the thread that validates while another one writes.
pub struct DerivedColumns {
    fields: String,
    tags: String,
    /// What the full-text index holds: every field value and tag, one per line.
    fts_body: String,
}

impl DerivedColumns {
    pub fn of(r: &Record) -> Self {
        let values = || {
            r.fields
                .values()
                .map(String::as_str)
                .chain(r.tags.iter().map(String::as_str))
        };
        let mut fts_body = String::with_capacity(values().map(|v| v.len() + 1).sum());
        for v in values() {
            fts_body.push_str(v);
            fts_body.push('\n');
        }
        DerivedColumns {
            fields: serde_json::to_string(&r.fields).expect("map serializes"),
            tags: serde_json::to_string(&r.tags).expect("list serializes"),
            fts_body,
        }
    }
}

/// Inserts a complete, already validated record with a new id inside `tx`.
pub fn insert_record(tx: &Transaction<'_>, r: &Record) -> Result<()> {
    RecordInserter::new(tx)?.insert(r)
}

/// Inserts validated records in one transaction, with its statements prepared once
/// (batches and imports: no statement-cache round trip per row).
pub struct RecordInserter<'c> {
    conn: &'c rusqlite::Connection,
    insert: rusqlite::Statement<'c>,
    tag: rusqlite::Statement<'c>,
    fts: rusqlite::Statement<'c>,
}

impl<'c> RecordInserter<'c> {
    pub fn new(tx: &'c Transaction<'_>) -> Result<Self> {
        Ok(RecordInserter {
            conn: tx,
            // No RETURNING: it would need a statement journal, and every statement that
            // opens one makes FTS5 flush its pending terms (a savepoint on the virtual table).
            insert: tx.prepare(
                "INSERT INTO records (id, type, fields, tags, source, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            )?,
            tag: tx.prepare(INSERT_TAG)?,
            fts: tx.prepare(INSERT_FTS)?,
        })
    }

    /// Inserts `r` (with `cols` built from it) unless a record with its id exists:
    /// `Ok(false)` then, and nothing changed. One index lookup for a new id.
    pub fn insert_if_new(&mut self, r: &Record, cols: &DerivedColumns) -> Result<bool> {
        let inserted = self.insert.execute(stored_columns(r, cols))?;
        if inserted == 0 {
            return Ok(false);
        }
        let rowid = self.conn.last_insert_rowid();
        index_with(&mut self.tag, &mut self.fts, rowid, r, cols)?;
        Ok(true)
    }

    /// Inserts `r`, whose id must be new.
    pub fn insert(&mut self, r: &Record) -> Result<()> {
        if self.insert_if_new(r, &DerivedColumns::of(r))? {
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "a record with id {} already exists",
                r.id
            )))
        }
    }
}

const INSERT_TAG: &str = "INSERT OR IGNORE INTO record_tags (tag, rec) VALUES (?1, ?2)";
const INSERT_FTS: &str = "INSERT INTO records_fts (rowid, body) VALUES (?1, ?2)";

/// The values of a stored record's columns, in the order `id, type, fields, tags, source,
/// created_at, updated_at` (`?1`–`?7` of the insert and the update).
fn stored_columns<'a>(r: &'a Record, cols: &'a DerivedColumns) -> [&'a dyn rusqlite::ToSql; 7] {
    [
        &r.id,
        &r.record_type,
        &cols.fields,
        &cols.tags,
        &r.source,
        &r.created_at,
        &r.updated_at,
    ]
}

fn index_record(tx: &Transaction<'_>, rowid: i64, r: &Record, cols: &DerivedColumns) -> Result<()> {
    let mut tag = tx.prepare_cached(INSERT_TAG)?;
    let mut fts = tx.prepare_cached(INSERT_FTS)?;
    index_with(&mut tag, &mut fts, rowid, r, cols)
}

/// Adds the tag rows and the full-text row of the record stored at `rowid`, with the
/// [`INSERT_TAG`] and [`INSERT_FTS`] statements.
fn index_with(
    tag: &mut rusqlite::Statement<'_>,
    fts: &mut rusqlite::Statement<'_>,
    rowid: i64,
    r: &Record,
    cols: &DerivedColumns,
) -> Result<()> {
    for t in &r.tags {
        tag.execute(params![t, rowid])?;
    }
    fts.execute(params![rowid, cols.fts_body])?;
    Ok(())
}

pub(crate) fn unindex_record(tx: &Transaction<'_>, rowid: i64) -> Result<()> {
    tx.prepare_cached("DELETE FROM record_tags WHERE rec = ?1")?
        .execute([rowid])?;
    tx.prepare_cached("DELETE FROM records_fts WHERE rowid = ?1")?
        .execute([rowid])?;
    Ok(())
}

/// Replaces a stored record (same id) with `r` inside `tx`: fields, tags, source and
/// times all come from `r`.
pub fn replace_record(tx: &Transaction<'_>, r: &Record, cols: &DerivedColumns) -> Result<()> {
    let rowid: i64 = tx
        .query_row("SELECT rowid FROM records WHERE id = ?1", [&r.id], |row| {
            row.get(0)
        })
        .optional()?
        .ok_or_else(|| Error::NotFound(r.id.clone()))?;
    unindex_record(tx, rowid)?;
    // ?1 is the id, unchanged: the row was found by it.
    tx.prepare_cached(
        "UPDATE records SET type = ?2, fields = ?3, tags = ?4, source = ?5, created_at = ?6, updated_at = ?7 WHERE rowid = ?8 AND id = ?1",
    )?
    .execute(rusqlite::params_from_iter(
        stored_columns(r, cols).into_iter().chain([&rowid as &dyn rusqlite::ToSql]),
    ))?;
    index_record(tx, rowid, r, cols)
}

/// [`Vault::add_batch`] on any connection with the vault schema.
pub(crate) fn add_batch_on(
    conn: &rusqlite::Connection,
    news: impl IntoIterator<Item = NewRecord>,
) -> Result<Vec<String>> {
    let now = crate::now_rfc3339();
    let records = news
        .into_iter()
        .map(|n| prepare_new(n, &now))
        .collect::<Result<Vec<_>>>()?;
    crate::vault::in_transaction(conn, rusqlite::TransactionBehavior::Immediate, |tx| {
        let mut ins = RecordInserter::new(tx)?;
        for r in &records {
            ins.insert(r)?;
        }
        Ok(())
    })?;
    Ok(records.into_iter().map(|r| r.id).collect())
}

/// Reads one record inside any transaction or connection.
pub fn get_record(conn: &rusqlite::Connection, id: &str) -> Result<Option<Record>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

impl Vault {
    /// Validates and stores a new record; returns it with its id and times.
    pub fn add(&self, new: NewRecord) -> Result<Record> {
        let r = prepare_new(new, &self.clock().now_rfc3339())?;
        self.write(|tx| insert_record(tx, &r))?;
        Ok(r)
    }

    /// The batch path: validates every record first, then stores all of them in one
    /// transaction (all or nothing). Returns the stored records' ids in order.
    pub fn add_batch(&self, news: impl IntoIterator<Item = NewRecord>) -> Result<Vec<String>> {
        add_batch_on(self.conn(), news)
    }

    /// One record by id.
    pub fn get(&self, id: &str) -> Result<Record> {
        get_record(self.conn(), id)?.ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// Records matching `filter`, newest first.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<Record>> {
        if let Some(t) = &filter.record_type {
            record_type(t)?;
        }
        let limit = filter.limit.map(|l| l as i64).unwrap_or(-1);
        // The page cursor: the rowid of the last record of the page before (newest first).
        let before = match &filter.after {
            Some(id) => self
                .conn()
                .prepare_cached("SELECT rowid FROM records WHERE id = ?1")?
                .query_row([id], |r| r.get::<_, i64>(0))
                .optional()?
                .ok_or_else(|| Error::NotFound(id.clone()))?,
            None => i64::MAX,
        };
        let sql = match &filter.tag {
            Some(_) => format!(
                "{SELECT} WHERE (?1 IS NULL OR type = ?1) AND rowid IN (SELECT rec FROM record_tags WHERE tag = ?2) AND rowid < ?4 ORDER BY rowid DESC LIMIT ?3"
            ),
            None => format!("{SELECT} WHERE (?1 IS NULL OR type = ?1) AND ?2 IS NULL AND rowid < ?4 ORDER BY rowid DESC LIMIT ?3"),
        };
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![filter.record_type, filter.tag, limit, before],
            from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Applies `changes` to the record `id`; the result is validated like a new record.
    pub fn edit(&self, id: &str, changes: &RecordChanges) -> Result<Record> {
        self.write(|tx| {
            let mut r = get_record(tx, id)?.ok_or_else(|| Error::NotFound(id.to_string()))?;
            let ty = record_type(&r.record_type)?;
            let mut fields = r.fields.clone();
            for (k, v) in &changes.set {
                ty.field(k)?;
                if v.is_empty() {
                    fields.remove(k);
                } else {
                    fields.insert(k.clone(), v.clone());
                }
            }
            r.fields = ty.validate(&fields)?;
            let mut tags = r.tags.clone();
            tags.extend(changes.add_tags.iter().cloned());
            tags.retain(|t| !changes.remove_tags.contains(t));
            r.tags = clean_tags(&tags)?;
            r.updated_at = self.clock().now_rfc3339();
            replace_record(tx, &r, &DerivedColumns::of(&r))?;
            Ok(r)
        })
    }

    /// The number of records of each type that has any.
    pub fn count_by_type(&self) -> Result<BTreeMap<String, u64>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT type, count(*) FROM records GROUP BY type")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The number of records.
    pub fn count_records(&self) -> Result<u64> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))?
            as u64)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::vault::tests::new_vault;

    /// A new record of type `ty` with these fields.
    pub(crate) fn rec(ty: &str, pairs: &[(&str, &str)]) -> NewRecord {
        NewRecord::new(
            ty,
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn inserting_an_existing_id_is_refused_and_changes_nothing() {
        let (_d, v) = new_vault();
        let first = v
            .add(rec("contact", &[("email", "ana@example.org")]))
            .unwrap();
        let mut again = first.clone();
        again
            .fields
            .insert("email".into(), "someone@else.example".into());
        let e = v.write(|tx| insert_record(tx, &again)).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(v.get(&first.id).unwrap(), first);
        assert_eq!(
            v.search("someone", 10).unwrap().len(),
            0,
            "not indexed either"
        );
    }

    #[test]
    fn add_get_edit_remove() {
        let (_d, v) = new_vault();
        let mut n = rec(
            "contact",
            &[("email", "ana@example.org"), ("label", "work")],
        );
        n.tags = vec!["work".into(), "work".into()];
        let r = v.add(n).unwrap();
        assert_eq!(r.tags, ["work"], "duplicate tags collapse");
        assert_eq!(v.get(&r.id).unwrap(), r);
        let changes = RecordChanges {
            set: [
                ("phone".to_string(), "+49 30 1234567".to_string()),
                ("label".to_string(), String::new()),
            ]
            .into(),
            add_tags: vec!["family".into()],
            remove_tags: vec!["work".into()],
        };
        let e = v.edit(&r.id, &changes).unwrap();
        assert_eq!(e.fields.get("label"), None, "empty value unsets");
        assert_eq!(e.fields["phone"], "+49 30 1234567");
        assert_eq!(e.tags, ["family"]);
        assert!(e.updated_at >= r.updated_at && e.created_at == r.created_at);
        assert_eq!(
            v.list(&ListFilter {
                tag: Some("family".into()),
                ..Default::default()
            })
            .unwrap()
            .len(),
            1
        );
        assert_eq!(
            v.list(&ListFilter {
                tag: Some("work".into()),
                ..Default::default()
            })
            .unwrap()
            .len(),
            0
        );
        v.remove(&r.id).unwrap();
        assert!(matches!(v.get(&r.id), Err(Error::NotFound(_))));
        assert!(matches!(v.remove(&r.id), Err(Error::NotFound(_))));
        assert!(
            v.search("example", 10).unwrap().is_empty(),
            "removed record left the index"
        );
    }

    /// The record list pages with a cursor: each page starts after the last record of the
    /// one before, so pages never overlap or skip a record, even when records are added
    /// between pages (they are newer, so they do not shift the older pages).
    #[test]
    fn list_pages_with_a_cursor_newest_first() {
        let (_d, v) = new_vault();
        let ids: Vec<String> = (0..7)
            .map(|i| {
                let ty = if i % 2 == 0 { "note" } else { "contact" };
                let pair = if ty == "note" {
                    ("title", "n")
                } else {
                    ("email", "a@example.org")
                };
                v.add(rec(ty, &[pair])).unwrap().id
            })
            .collect();
        let page = |after: Option<&String>, ty: Option<&str>| {
            v.list(&ListFilter {
                record_type: ty.map(str::to_string),
                limit: Some(3),
                after: after.cloned(),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
        };
        let first = page(None, None);
        assert_eq!(first, [&ids[6][..], &ids[5], &ids[4]]);
        v.add(rec("note", &[("title", "newer")])).unwrap();
        let second = page(first.last(), None);
        assert_eq!(
            second,
            [&ids[3][..], &ids[2], &ids[1]],
            "a newer record does not shift the next page"
        );
        assert_eq!(page(second.last(), None), [&ids[0][..]]);
        assert_eq!(page(Some(&ids[0]), None), Vec::<String>::new());
        let notes = page(None, Some("note"));
        assert_eq!(
            page(notes.last(), Some("note")).len(),
            2,
            "the cursor keeps the type filter: 5 notes, 3 + 2"
        );
        v.remove(&ids[4]).unwrap();
        assert!(
            matches!(
                v.list(&ListFilter {
                    after: Some(ids[4].clone()),
                    ..Default::default()
                }),
                Err(Error::NotFound(_))
            ),
            "a cursor on a deleted record is an error, not an empty page"
        );
    }

    #[test]
    fn invalid_edit_changes_nothing() {
        let (_d, v) = new_vault();
        let r = v
            .add(rec("contact", &[("email", "ana@example.org")]))
            .unwrap();
        let bad = RecordChanges {
            set: [("email".to_string(), "nope".to_string())].into(),
            ..Default::default()
        };
        assert!(matches!(
            v.edit(&r.id, &bad),
            Err(Error::InvalidField { .. })
        ));
        assert_eq!(v.get(&r.id).unwrap(), r);
    }

    #[test]
    fn batch_is_all_or_nothing() {
        let (_d, v) = new_vault();
        let good = rec("note", &[("title", "a")]);
        let bad = rec("note", &[("colour", "red")]);
        assert!(v.add_batch(vec![good.clone(), bad]).is_err());
        assert_eq!(v.count_records().unwrap(), 0);
        assert_eq!(v.add_batch(vec![good.clone(), good]).unwrap().len(), 2);
        assert_eq!(v.count_by_type().unwrap()["note"], 2);
    }
}
