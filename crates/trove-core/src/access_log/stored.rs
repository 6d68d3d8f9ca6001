//! How a log row is stored: compactly, without changing what it hashes or how it reads.
//!
//! The chain hash covers a row's canonical text (see `super::canonical`), not its storage,
//! so the table may keep each value in the smallest form that gives that text back
//! exactly. Every compact form is chosen only when it round-trips; anything else (rows
//! written by older versions in another shape, ids that are not ULIDs) is kept as text,
//! and SQLite's per-value types tell the two apart on reading:
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

use crate::error::{Error, Result};

/// Stores an id as its 16 bytes when it is a ULID in canonical form.
pub(super) fn id_value(id: &str) -> Value {
    match ulid_bytes(id) {
        Some(b) => Value::Blob(b.to_vec()),
        None => Value::Text(id.to_string()),
    }
}

fn ulid_bytes(id: &str) -> Option<[u8; 16]> {
    let u = ulid::Ulid::from_string(id).ok()?;
    (u.to_string() == id).then(|| u.to_bytes())
}

/// Stores a list of ids as concatenated ULIDs when every one is a canonical ULID.
pub(super) fn ids_value(ids: &[String]) -> Value {
    let mut packed = Vec::with_capacity(ids.len() * 16);
    for id in ids {
        match ulid_bytes(id) {
            Some(b) => packed.extend_from_slice(&b),
            None => return Value::Text(serde_json::to_string(ids).expect("list serializes")),
        }
    }
    Value::Blob(packed)
}

/// Stores a hash as its 32 bytes when it is 64 lowercase hex digits.
pub(super) fn hash_value(hash: &str) -> Value {
    let lower = hash
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    match hex::decode(hash) {
        Ok(b) if lower && b.len() == 32 => Value::Blob(b),
        _ => Value::Text(hash.to_string()),
    }
}

/// Stores a time as milliseconds when it is in the form `crate::now_rfc3339` writes.
pub(super) fn time_value(time: &str) -> Value {
    let ms = chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
        .filter(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) == time)
        .map(|t| t.timestamp_millis());
    match ms {
        Some(ms) => Value::Integer(ms),
        None => Value::Text(time.to_string()),
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

fn ulid_text(b: &[u8], what: &str) -> rusqlite::Result<String> {
    let b: [u8; 16] = b.try_into().map_err(|_| corrupt(what))?;
    Ok(ulid::Ulid::from_bytes(b).to_string())
}

pub(super) fn read_id(v: ValueRef<'_>) -> rusqlite::Result<Option<String>> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(b) => ulid_text(b, "grant id").map(Some),
        v => text(v, "grant id").map(Some),
    }
}

pub(super) fn read_ids(v: ValueRef<'_>) -> rusqlite::Result<Vec<String>> {
    match v {
        ValueRef::Blob(b) if b.len() % 16 == 0 => {
            b.chunks(16).map(|c| ulid_text(c, "record ids")).collect()
        }
        v => serde_json::from_str(&text(v, "record ids")?).map_err(|_| corrupt("record ids")),
    }
}

pub(super) fn read_hash(v: ValueRef<'_>) -> rusqlite::Result<String> {
    match v {
        ValueRef::Blob(b) if b.len() == 32 => Ok(hex::encode(b)),
        v => text(v, "hash"),
    }
}

pub(super) fn read_time(v: ValueRef<'_>) -> rusqlite::Result<String> {
    match v {
        ValueRef::Integer(ms) => chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .ok_or_else(|| corrupt("time")),
        v => text(v, "time"),
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

/// The value `log.jsonl` shows for a compactly stored column (the id, the hex hash, the
/// RFC 3339 time, the list of ids), or `None` for any other column or a value that does
/// not decode (written as it is stored).
pub(crate) fn jsonl_value(column: &str, v: ValueRef<'_>) -> Option<serde_json::Value> {
    let value = match column {
        "time" => read_time(v).ok()?.into(),
        "grant_id" => read_id(v).ok()?.into(),
        "record_ids" => read_ids(v).ok()?.into(),
        "hash" | "prev_hash" => read_hash(v).ok()?.into(),
        _ => return None,
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::super::{chain_hash, select_in_order, verify_chain, LogEntry, LogKind, NewLogEntry};
    use super::*;
    use crate::access_log::{from_row, GENESIS_HASH, HEAD_KEY};
    use crate::bundle::tar::Member;
    use crate::remote::Route;

    fn ulid(n: u8) -> String {
        ulid::Ulid::from_bytes([n; 16]).to_string()
    }

    /// Rows as version 8 wrote them: ULID ids, millisecond times, a remote row, a folded
    /// failure row, a row with ids that are not ULIDs and one with a time in another form.
    fn old_rows() -> Vec<(String, NewLogEntry)> {
        let share = |ids: Vec<String>| NewLogEntry {
            grant_id: Some(ulid(1)),
            org: Some("Stadtwerke Berlin".into()),
            remote_addr: Some("127.0.0.1".into()),
            method: Some("GET".into()),
            path: Some("/v1/records".into()),
            status: Some(200),
            record_ids: ids,
            fields: vec!["address.street".into(), "address.city".into()],
            ..NewLogEntry::new(LogKind::Share)
        };
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
        let mut stmt = conn.prepare(&select_in_order()).unwrap();
        let rows = stmt.query_map([], from_row).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn jsonl(conn: &rusqlite::Connection) -> Vec<String> {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)
                .unwrap();
        let mut out = Vec::new();
        crate::bundle::log_hook::for_each_table_row(&tx, Member::Log, &mut |v| {
            out.push(v.to_string());
            Ok(())
        })
        .unwrap();
        out
    }

    fn stored_types(conn: &rusqlite::Connection, seq: i64) -> (String, String, String, String) {
        conn.query_row(
            "SELECT typeof(time), typeof(grant_id), typeof(record_ids), typeof(hash) FROM access_log WHERE seq = ?1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    }

    #[test]
    fn migration_9_keeps_every_row_readable_verifiable_and_exported_the_same() {
        let (conn, want) = version_8();
        let jsonl_before = jsonl(&conn);
        // The columns stored differently, and the stored prev_hash before.
        let columns =
            "length(time) + coalesce(length(grant_id), 0) + length(record_ids) + length(hash)";
        let bytes = |c: &rusqlite::Connection, sum: &str| -> i64 {
            c.query_row(&format!("SELECT sum({sum}) FROM access_log"), [], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let before = bytes(&conn, &format!("{columns} + length(prev_hash)"));

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
        let blob = |s: &str| s.to_string();
        assert_eq!(
            stored_types(&conn, 1),
            (blob("integer"), blob("blob"), blob("blob"), blob("blob"))
        );
        assert_eq!(
            stored_types(&conn, 4).2,
            "text",
            "ids that are not all ULIDs stay a JSON list"
        );
        assert_eq!(
            stored_types(&conn, 5).0,
            "text",
            "a time in another form stays as written"
        );
        let after = bytes(&conn, columns);
        assert!(after * 2 < before, "{after} bytes stored, {before} before");
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
        assert_eq!(stored_types(&conn, 6).2, "blob");
        assert!(verify_chain(&conn).unwrap().ok);

        conn.execute_batch("DROP TRIGGER access_log_no_update; DROP TRIGGER access_log_no_delete")
            .unwrap();
        let tamper = |sql: &str| {
            conn.execute_batch(&format!("SAVEPOINT t; {sql}")).unwrap();
            let r = verify_chain(&conn).unwrap();
            conn.execute_batch("ROLLBACK TO t; RELEASE t").unwrap();
            r.first_bad_seq
        };
        let other = ulid(11);
        let other_bytes = ulid::Ulid::from_string(&other).unwrap().to_bytes();
        assert_eq!(
            tamper(&format!(
                "UPDATE access_log SET record_ids = x'{}' WHERE seq = 2",
                hex::encode(other_bytes)
            )),
            Some(2),
            "a changed record id"
        );
        assert_eq!(
            tamper("UPDATE access_log SET time = time + 1 WHERE seq = 3"),
            Some(3),
            "a changed time"
        );
        assert_eq!(
            tamper("UPDATE access_log SET record_ids = x'0102' WHERE seq = 1"),
            Some(1),
            "ids that do not decode"
        );
        assert_eq!(
            tamper("DELETE FROM access_log WHERE seq = 4"),
            Some(5),
            "a removed row"
        );
    }
}
