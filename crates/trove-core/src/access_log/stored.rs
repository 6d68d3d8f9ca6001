//! The log's older stored forms and the migrations out of them. Since migration 10 the
//! log is stored as blocks (see `super::block`); this module moves the rows of the
//! table before it into blocks (`migrate_blocks`) and, for vaults older still, first
//! makes that table compact (`migrate_compact`, migration 9).
//!
//! In the table of version 9, a row kept each value in the smallest form that gives the
//! text it hashes back exactly; anything else (rows written by older versions in another
//! shape, ids that are not ULIDs) was kept as text, and SQLite's per-value types tell the
//! two apart on reading:
//!
//! | column       | compact (BLOB/INTEGER)                    | otherwise (TEXT)      |
//! |--------------|-------------------------------------------|-----------------------|
//! | `time`       | milliseconds since 1970 (INTEGER)         | the RFC 3339 string   |
//! | `grant_id`   | the ULID's 16 bytes                       | the id                |
//! | `record_ids` | the ULIDs' 16 bytes each, concatenated    | a JSON array          |
//! | `hash`       | the SHA-256's 32 bytes                    | 64 hex digits         |
//!
//! `prev_hash` is not stored at all: it is the hash of row `seq − 1` (seqs are 1, 2, 3…
//! without gaps in an intact log), read back with the row. Migration 9 rewrote every
//! older row this way in the migration's transaction; the values read back, `log verify`
//! and `log.jsonl` are unchanged (a test compares them across the migration).

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Transaction};

use super::block::{Hash, Id, Ids, Item, Row, Time};
use crate::error::{Error, Result};

// The version-9 columns hold the same compact forms a block does (see `super::block`).

/// Stores an id as its 16 bytes when it is a ULID in canonical form.
pub(super) fn id_value(id: &str) -> Value {
    match Id::new(id) {
        Id::Ulid(b) => Value::Blob(b.to_vec()),
        Id::Text(t) => Value::Text(t),
    }
}

/// Stores a list of ids as concatenated ULIDs when every one is a canonical ULID.
pub(super) fn ids_value(ids: &[String]) -> Value {
    match Ids::new(ids) {
        Ids::Ulids(b) => Value::Blob(b.concat()),
        Ids::Text(_) => Value::Text(serde_json::to_string(ids).expect("list serializes")),
    }
}

/// Stores a hash as its 32 bytes when it is 64 lowercase hex digits.
pub(super) fn hash_value(hash: &str) -> Value {
    match Hash::new(hash) {
        Hash::Sha256(b) => Value::Blob(b.to_vec()),
        Hash::Text(t) => Value::Text(t),
    }
}

/// Stores a time as milliseconds when it is in the form `crate::now_rfc3339` writes.
pub(super) fn time_value(time: &str) -> Value {
    match Time::new(time) {
        Time::Ms(ms) => Value::Integer(ms),
        Time::Text(t) => Value::Text(t),
    }
}

/// Why a stored value cannot be read back.
fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Blob,
        format!("a log row's {what} is not in a stored form").into(),
    )
}

fn text(v: ValueRef<'_>, what: &str) -> rusqlite::Result<String> {
    match v {
        ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|_| corrupt(what)),
        _ => Err(corrupt(what)),
    }
}

// The forms a version-9 column holds, read as block forms (text when stored as text).

fn v9_time(v: ValueRef<'_>) -> rusqlite::Result<Time> {
    match v {
        ValueRef::Integer(ms) => Ok(Time::Ms(ms)),
        v => text(v, "time").map(Time::Text),
    }
}

fn v9_id(v: ValueRef<'_>) -> rusqlite::Result<Id> {
    match v {
        ValueRef::Blob(b) => b.try_into().map(Id::Ulid).map_err(|_| corrupt("grant id")),
        v => text(v, "grant id").map(Id::Text),
    }
}

fn v9_ids(v: ValueRef<'_>) -> rusqlite::Result<Ids> {
    match v {
        ValueRef::Blob(b) if b.len() % 16 == 0 => Ok(Ids::Ulids(
            b.chunks(16)
                .map(|c| c.try_into().expect("16 bytes"))
                .collect(),
        )),
        v => serde_json::from_str(&text(v, "record ids")?)
            .map(Ids::Text)
            .map_err(|_| corrupt("record ids")),
    }
}

fn v9_hash(v: ValueRef<'_>) -> rusqlite::Result<Hash> {
    match v {
        ValueRef::Blob(b) => b.try_into().map(Hash::Sha256).map_err(|_| corrupt("hash")),
        v => text(v, "hash").map(Hash::Text),
    }
}

/// Migration 9's second half: copies every row of `access_log_text` (the table as it was,
/// renamed by the migration's SQL) into the compact `access_log`, then drops the old
/// table and gives the new one its indexes and append-only triggers.
pub(crate) fn migrate_compact(tx: &Transaction<'_>) -> Result<()> {
    {
        let mut read = tx.prepare(
            "SELECT seq, time, kind, grant_id, org, remote_addr, method, path, status, outcome, record_ids, fields, hash, org_key, route, count FROM access_log_text ORDER BY seq",
        )?;
        let mut write = tx.prepare(
            "INSERT INTO access_log (seq, time, kind, grant_id, org, remote_addr, method, path, status, outcome, record_ids, fields, hash, org_key, route, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?;
        let mut rows = read.query([])?;
        while let Some(r) = rows.next()? {
            let time: String = r.get(1)?;
            let grant_id: Option<String> = r.get(3)?;
            let ids: String = r.get(10)?;
            let hash: String = r.get(12)?;
            // A list that does not parse (an edited row) is kept as it was, so that
            // `log verify` still names that row.
            let ids = match serde_json::from_str::<Vec<String>>(&ids) {
                Ok(list) if serde_json::to_string(&list).ok().as_deref() == Some(&ids) => {
                    ids_value(&list)
                }
                _ => Value::Text(ids),
            };
            write.execute(params![
                r.get::<_, i64>(0)?,
                time_value(&time),
                r.get::<_, Value>(2)?,
                grant_id.as_deref().map(id_value),
                r.get::<_, Value>(4)?,
                r.get::<_, Value>(5)?,
                r.get::<_, Value>(6)?,
                r.get::<_, Value>(7)?,
                r.get::<_, Value>(8)?,
                r.get::<_, Value>(9)?,
                ids,
                r.get::<_, Value>(11)?,
                hash_value(&hash),
                r.get::<_, Value>(13)?,
                r.get::<_, Value>(14)?,
                r.get::<_, Value>(15)?,
            ])?;
        }
    }
    tx.execute_batch(
        "DROP TABLE access_log_text;
         CREATE INDEX access_log_by_org ON access_log(org, seq);
         CREATE INDEX access_log_by_grant ON access_log(grant_id, seq);
         CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
             BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
         CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
             BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;",
    )
    .map_err(Error::from)
}

/// Every column of a row of the version-9 table, in the order `log.jsonl` shows them,
/// with the hash of the row before it as `prev_hash`.
const V9_SELECT: &str = "SELECT seq, time, kind, grant_id, org, remote_addr, method, path, status, outcome, record_ids, fields, \
     coalesce((SELECT p.hash FROM access_log p WHERE p.seq = access_log.seq - 1), \
              CASE WHEN access_log.seq = 1 THEN zeroblob(32) ELSE '' END) AS prev_hash, \
     hash, org_key, route, count FROM access_log ORDER BY seq";

/// The most entries migration 10 puts in one block.
const MIGRATED_BLOCK: usize = 256;

/// Migration 10's second half: moves every row of the version-9 table, oldest first,
/// into blocks of consecutive seqs (a gap, which `log verify` reports, starts a new
/// block), then drops the table and makes the new ones append-only. A row that does not
/// decode (an edited one) is kept as its `log.jsonl` object, so that `log verify` still
/// names it and exports still show it.
pub(crate) fn migrate_blocks(tx: &Transaction<'_>) -> Result<()> {
    {
        let mut stmt = tx.prepare(V9_SELECT)?;
        let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let mut rows = stmt.query([])?;
        let mut pending: Vec<Item> = Vec::new();
        let (mut first, mut next) = (0i64, 0i64);
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            if !pending.is_empty() && (seq != next || pending.len() == MIGRATED_BLOCK) {
                super::write_block(tx, first, &pending)?;
                pending.clear();
            }
            if pending.is_empty() {
                first = seq;
            }
            next = seq + 1;
            pending.push(match v9_row(r) {
                Ok(row) => Item::Row(row),
                Err(_) => Item::Undecodable(v9_object(&names, r)?.to_string()),
            });
        }
        if !pending.is_empty() {
            super::write_block(tx, first, &pending)?;
        }
    }
    tx.execute_batch(
        "DROP TABLE access_log;
         CREATE TRIGGER access_log_block_no_update BEFORE UPDATE ON access_log_block
             BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
         CREATE TRIGGER access_log_block_no_delete BEFORE DELETE ON access_log_block
             BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
         CREATE TRIGGER access_log_key_no_update BEFORE UPDATE ON access_log_key
             BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
         CREATE TRIGGER access_log_key_no_delete BEFORE DELETE ON access_log_key
             BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;",
    )
    .map_err(Error::from)
}

/// A row of the version-9 table (selected by [`V9_SELECT`]) as a block row.
fn v9_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let fields: String = r.get(11)?;
    Ok(Row {
        time: v9_time(r.get_ref(1)?)?,
        hash: v9_hash(r.get_ref(13)?)?,
        kind: r.get(2)?,
        grant_id: match r.get_ref(3)? {
            ValueRef::Null => None,
            v => Some(v9_id(v)?),
        },
        org: r.get(4)?,
        remote_addr: r.get(5)?,
        method: r.get(6)?,
        path: r.get(7)?,
        status: r
            .get::<_, Option<i64>>(8)?
            .map(|s| u16::try_from(s).map_err(|_| corrupt("status")))
            .transpose()?,
        outcome: r.get(9)?,
        record_ids: v9_ids(r.get_ref(10)?)?,
        fields: serde_json::from_str(&fields).map_err(|_| corrupt("fields"))?,
        org_key: r.get(14)?,
        route: r.get(15)?,
        count: r.get::<_, Option<i64>>(16)?.map(|c| c.max(0) as u64),
    })
}

/// The value `log.jsonl` shows for a compactly stored column (the id, the hex hash, the
/// RFC 3339 time, the list of ids), or `None` for any other column or a value that does
/// not decode (written as it is stored).
fn jsonl_value(column: &str, v: ValueRef<'_>) -> Option<serde_json::Value> {
    let value = match column {
        "time" => v9_time(v).ok()?.text()?.into(),
        "grant_id" if v == ValueRef::Null => serde_json::Value::Null,
        "grant_id" => v9_id(v).ok()?.text().into(),
        "record_ids" => v9_ids(v).ok()?.text().into(),
        "hash" | "prev_hash" => v9_hash(v).ok()?.text().into(),
        _ => return None,
    };
    Some(value)
}

/// A row of the version-9 table as `log.jsonl` showed it.
fn v9_object(names: &[String], r: &rusqlite::Row<'_>) -> Result<serde_json::Value> {
    let mut obj = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let raw = r.get_ref(i)?;
        let v = jsonl_value(name, raw)
            .unwrap_or_else(|| value_json(raw, matches!(name.as_str(), "record_ids" | "fields")));
        obj.insert(name.clone(), v);
    }
    Ok(serde_json::Value::Object(obj))
}

/// A stored value as JSON: text as a string (parsed, when `json` says the column holds
/// JSON and it parses), a blob as hex, numbers and NULL as themselves.
pub(crate) fn value_json(v: ValueRef<'_>, json: bool) -> serde_json::Value {
    match v {
        ValueRef::Text(t) if json => serde_json::from_slice(t)
            .unwrap_or_else(|_| String::from_utf8_lossy(t).into_owned().into()),
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(n) => n.into(),
        ValueRef::Real(x) => serde_json::Number::from_f64(x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => hex::encode(b).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{chain_hash, verify_chain, LogEntry, LogKind, NewLogEntry};
    use super::*;
    use crate::access_log::testing::{read_of, ulid};
    use crate::access_log::{GENESIS_HASH, HEAD_KEY};
    use crate::bundle::tar::Member;
    use crate::remote::Route;

    /// Rows as version 8 wrote them: ULID ids, millisecond times, a remote row, a folded
    /// failure row, a row with ids that are not ULIDs and one with a time in another form.
    fn old_rows() -> Vec<(String, NewLogEntry)> {
        let share = read_of;
        vec![
            (
                "2026-11-23T10:00:00.000Z".into(),
                share(vec![ulid(2), ulid(3)]),
            ),
            (
                "2026-11-23T10:00:01.250Z".into(),
                NewLogEntry {
                    org_key: Some("ab".repeat(32)),
                    route: Some(Route::Relayed),
                    ..share(vec![ulid(4)])
                },
            ),
            (
                "2026-11-23T10:01:00.000Z".into(),
                NewLogEntry {
                    grant_id: None,
                    org: None,
                    status: Some(401),
                    outcome: "denied:no_token".into(),
                    count: Some(57),
                    ..share(vec![])
                },
            ),
            (
                "2026-11-23T10:02:00.000Z".into(),
                share(vec!["R1".into(), ulid(5)]),
            ),
            ("2026-11-23T11:02:00+01:00".into(), share(vec![ulid(6)])),
        ]
    }

    /// A version-8 database holding `old_rows`, and the entries they must read back as.
    fn version_8() -> (rusqlite::Connection, Vec<LogEntry>) {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in &crate::vault::MIGRATIONS[..8] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 8").unwrap();
        let mut prev = GENESIS_HASH.to_string();
        let mut want = Vec::new();
        for (i, (time, e)) in old_rows().into_iter().enumerate() {
            let seq = i as i64 + 1;
            let hash = chain_hash(&prev, seq, &time, &e);
            conn.execute(
                "INSERT INTO access_log (seq, time, kind, grant_id, org, remote_addr, method, path, status, outcome, record_ids, fields, prev_hash, hash, org_key, route, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    seq,
                    time,
                    e.kind.as_str(),
                    e.grant_id,
                    e.org,
                    e.remote_addr,
                    e.method,
                    e.path,
                    e.status,
                    e.outcome,
                    serde_json::to_string(&e.record_ids).unwrap(),
                    serde_json::to_string(&e.fields).unwrap(),
                    prev,
                    hash,
                    e.org_key,
                    e.route.map(Route::as_str),
                    e.count.map(|c| c as i64),
                ],
            )
            .unwrap();
            want.push(LogEntry {
                seq,
                time,
                kind: e.kind,
                grant_id: e.grant_id,
                org: e.org,
                remote_addr: e.remote_addr,
                method: e.method,
                path: e.path,
                status: e.status,
                outcome: e.outcome,
                record_ids: e.record_ids,
                fields: e.fields,
                org_key: e.org_key,
                route: e.route,
                count: e.count,
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![HEAD_KEY, format!("{}:{prev}", want.len())],
        )
        .unwrap();
        (conn, want)
    }

    fn read_all(conn: &rusqlite::Connection) -> Vec<LogEntry> {
        crate::access_log::testing::read_all(conn)
    }

    /// `log.jsonl` as the code of the database's version writes it: the table's rows
    /// before migration 10, the blocks' entries after.
    fn jsonl(conn: &rusqlite::Connection) -> Vec<String> {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)
                .unwrap();
        let mut out = Vec::new();
        let blocks: i64 = tx
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'access_log_block'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if blocks == 0 {
            let mut stmt = tx.prepare("SELECT * FROM access_log ORDER BY seq").unwrap();
            let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
            let mut rows = stmt.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                out.push(v9_object(&names, r).unwrap().to_string());
            }
            return out;
        }
        crate::bundle::log_hook::for_each_table_row(&tx, Member::Log, &mut |v| {
            out.push(v.to_string());
            Ok(())
        })
        .unwrap();
        out
    }

    fn sum(conn: &rusqlite::Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn migrations_9_and_10_keep_every_row_readable_verifiable_and_exported_the_same() {
        let (conn, want) = version_8();
        let jsonl_before = jsonl(&conn);
        let before = sum(
            &conn,
            "SELECT sum(length(time) + length(kind) + coalesce(length(grant_id), 0) + coalesce(length(org), 0) \
             + coalesce(length(remote_addr), 0) + coalesce(length(method), 0) + coalesce(length(path), 0) + 3 \
             + length(outcome) + length(record_ids) + length(fields) + length(prev_hash) + length(hash) \
             + coalesce(length(org_key), 0) + coalesce(length(route), 0) + 2) FROM access_log",
        );

        crate::open::migrate(&conn).unwrap();

        assert_eq!(read_all(&conn), want, "every value reads back as it was");
        let r = verify_chain(&conn).unwrap();
        assert!(r.ok && r.entries == 5, "{r:?}");
        assert_eq!(jsonl(&conn), jsonl_before, "log.jsonl is unchanged");
        assert!(
            jsonl_before[0].contains(&format!("\"prev_hash\":\"{GENESIS_HASH}\""))
                && jsonl_before[1].contains(&format!("\"prev_hash\":\"{}\"", want[0].hash)),
            "{}",
            jsonl_before[1]
        );
        let stored = |seq| crate::access_log::testing::stored_row(&conn, seq);
        assert!(matches!(
            stored(1),
            Row {
                time: Time::Ms(_),
                grant_id: Some(Id::Ulid(_)),
                record_ids: Ids::Ulids(_),
                hash: Hash::Sha256(_),
                ..
            }
        ));
        assert!(
            matches!(stored(4).record_ids, Ids::Text(_)),
            "ids that are not all ULIDs stay text"
        );
        assert!(
            matches!(stored(5).time, Time::Text(_)),
            "a time in another form stays as written"
        );
        let after = sum(&conn, "SELECT sum(length(entries)) FROM access_log_block");
        assert!(after * 2 < before, "{after} bytes stored, {before} before");
        let tables = sum(
            &conn,
            "SELECT count(*) FROM sqlite_master WHERE name IN ('access_log', 'access_log_text')",
        );
        assert_eq!(tables, 0, "the old tables are gone");
    }

    /// A row edited before the migration (its ids no longer a list) is kept as it was:
    /// `log verify` still names it and the export still shows it.
    #[test]
    fn a_row_that_does_not_decode_survives_the_migration() {
        let (conn, want) = version_8();
        conn.execute_batch(
            "DROP TRIGGER access_log_no_update;
             UPDATE access_log SET record_ids = 'not a list' WHERE seq = 3;",
        )
        .unwrap();
        let jsonl_before = jsonl(&conn);
        crate::open::migrate(&conn).unwrap();
        let r = verify_chain(&conn).unwrap();
        assert_eq!(r.first_bad_seq, Some(3), "{r:?}");
        assert!(r.problem.unwrap().contains("does not decode"));
        assert_eq!(jsonl(&conn), jsonl_before, "log.jsonl is unchanged");
        assert!(jsonl_before[2].contains("\"record_ids\":\"not a list\""));
        let v = crate::access_log::hash_at(&conn, 3).unwrap();
        assert_eq!(v.as_deref(), Some(want[2].hash.as_str()));
    }

    #[test]
    fn the_migrated_log_still_names_edited_rows_and_keeps_appending() {
        let (conn, _) = version_8();
        crate::open::migrate(&conn).unwrap();
        let tx =
            rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Immediate)
                .unwrap();
        let e = NewLogEntry {
            grant_id: Some(ulid(9)),
            record_ids: vec![ulid(7), ulid(8)],
            ..NewLogEntry::new(LogKind::Share)
        };
        super::super::append(&tx, e, None).unwrap();
        tx.commit().unwrap();
        let all = read_all(&conn);
        assert_eq!(all.len(), 6);
        assert_eq!(all[5].prev_hash, all[4].hash);
        assert_eq!(all[5].record_ids, vec![ulid(7), ulid(8)]);
        assert!(verify_chain(&conn).unwrap().ok);

        let tamper = |seq: i64, f: &dyn Fn(&mut Row)| {
            conn.execute_batch("SAVEPOINT t").unwrap();
            crate::access_log::testing::edit_row(&conn, seq, f);
            let r = verify_chain(&conn).unwrap();
            conn.execute_batch("ROLLBACK TO t; RELEASE t").unwrap();
            r.first_bad_seq
        };
        let other = ulid::Ulid::from_string(&ulid(11)).unwrap().to_bytes();
        assert_eq!(
            tamper(2, &|r| r.record_ids = Ids::Ulids(vec![other])),
            Some(2),
            "a changed record id"
        );
        assert_eq!(
            tamper(3, &|r| {
                if let Time::Ms(ms) = &mut r.time {
                    *ms += 1
                }
            }),
            Some(3),
            "a changed time"
        );
        assert_eq!(
            tamper(1, &|r| r.kind = "unknown".into()),
            Some(1),
            "a kind that does not decode"
        );
        conn.execute_batch("SAVEPOINT t").unwrap();
        crate::access_log::testing::tamper_sql(
            &conn,
            "DELETE FROM access_log_block WHERE first_seq = 6",
        );
        assert_eq!(
            verify_chain(&conn).unwrap().first_bad_seq,
            Some(6),
            "a removed block"
        );
        conn.execute_batch("ROLLBACK TO t; RELEASE t").unwrap();
    }
}
