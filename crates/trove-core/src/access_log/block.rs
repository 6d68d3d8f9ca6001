//! How the log is stored since migration 10: one row per commit, a *block*, holding the
//! entries that commit appended.
//!
//! A share batch appends tens of entries in one commit, and one table row per entry made
//! each commit write some twenty database pages (the table's and two indexes' rightmost
//! leaves and their parents), each encrypted, authenticated and written twice (WAL, then
//! checkpoint): that was most of what the audit cost a request. A block is one row, and
//! the entries of one batch are alike (same organization, grant, path and usually the
//! same records and fields), so each entry stores only what differs from the entry
//! before it in the block, plus its time and its own hash: about fifty bytes.
//!
//! `access_log_block` holds `(first_seq, last_seq, min_time, max_time, entries)`; the
//! entries of a block have consecutive seqs. `access_log_key` indexes blocks by the
//! organizations and grants their entries name, for paging one organization's or
//! grant's entries, in *runs*: consecutive blocks that name the same organizations and
//! grants (a share server's commits, one after another) are indexed once, at the run's
//! first block, which also gets a row with [`RUN_KEY`]. A block belongs to the run of
//! the nearest marked block at or before it; its run ends where the next run starts.
//! So a commit that continues a run writes no index page at all. What each entry hashes (its canonical text, see `super::canonical`)
//! and how it reads back are unchanged; so are `log verify` and `log.jsonl`.
//!
//! The blob: one format byte, then in postcard (varints, length-prefixed strings) the
//! number of items and the items. An item is an entry or, for a row migrated from the
//! table of version 9 that did not decode (an edited row), that row's `log.jsonl`
//! object, kept so that `log verify` still names it and the export still shows it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{LogKind, NewLogEntry};
use crate::model::peer::Route;

/// The first byte of every block.
const FORMAT: u8 = 1;

/// An id: a ULID's 16 bytes when the id is one in canonical form, else its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Id {
    Ulid([u8; 16]),
    Text(String),
}

impl Id {
    pub(crate) fn new(id: &str) -> Id {
        match ulid_bytes(id) {
            Some(b) => Id::Ulid(b),
            None => Id::Text(id.to_string()),
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Id::Ulid(b) => ulid::Ulid::from_bytes(*b).to_string(),
            Id::Text(t) => t.clone(),
        }
    }
}

/// The 16 bytes of `id` when it is a ULID in canonical form (the text they give back).
fn ulid_bytes(id: &str) -> Option<[u8; 16]> {
    let u = ulid::Ulid::from_string(id).ok()?;
    let mut buf = [0; ulid::ULID_LEN];
    (u.array_to_str(&mut buf) == id).then(|| u.to_bytes())
}

/// A list of ids: 16 bytes each when every one is a canonical ULID, else their text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Ids {
    Ulids(Vec<[u8; 16]>),
    Text(Vec<String>),
}

impl Ids {
    pub(crate) fn new(ids: &[String]) -> Ids {
        let mut packed = Vec::with_capacity(ids.len());
        for id in ids {
            match ulid_bytes(id) {
                Some(b) => packed.push(b),
                None => return Ids::Text(ids.to_vec()),
            }
        }
        Ids::Ulids(packed)
    }

    pub(crate) fn text(&self) -> Vec<String> {
        match self {
            Ids::Ulids(b) => b
                .iter()
                .map(|b| ulid::Ulid::from_bytes(*b).to_string())
                .collect(),
            Ids::Text(t) => t.clone(),
        }
    }
}

/// A time: milliseconds since 1970 when the text is in the form `crate::now_rfc3339`
/// writes, else the text. (Inside a blob, `Ms` counts from the entry before.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Time {
    Ms(i64),
    Text(String),
}

impl Time {
    pub(crate) fn new(time: &str) -> Time {
        let ms = chrono::DateTime::parse_from_rfc3339(time)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
            .filter(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) == time)
            .map(|t| t.timestamp_millis());
        match ms {
            Some(ms) => Time::Ms(ms),
            None => Time::Text(time.to_string()),
        }
    }

    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Time::Ms(ms) => chrono::DateTime::from_timestamp_millis(*ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            Time::Text(t) => Some(t.clone()),
        }
    }
}

/// A hash: the SHA-256's 32 bytes when it is 64 lowercase hex digits, else the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Hash {
    Sha256([u8; 32]),
    Text(String),
}

impl Hash {
    pub(crate) fn new(hash: &str) -> Hash {
        let lower = hash
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
        match hex::decode(hash).ok().and_then(|b| b.try_into().ok()) {
            Some(b) if lower => Hash::Sha256(b),
            _ => Hash::Text(hash.to_string()),
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Hash::Sha256(b) => hex::encode(b),
            Hash::Text(t) => t.clone(),
        }
    }
}

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) time: Time,
    pub(crate) hash: Hash,
    pub(crate) kind: String,
    pub(crate) grant_id: Option<Id>,
    pub(crate) org: Option<String>,
    pub(crate) remote_addr: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) status: Option<u16>,
    pub(crate) outcome: String,
    pub(crate) record_ids: Ids,
    pub(crate) fields: Vec<String>,
    pub(crate) org_key: Option<String>,
    pub(crate) route: Option<String>,
    pub(crate) count: Option<u64>,
}

/// An entry read back: its time and hash as text, and what it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) time: String,
    pub(crate) ms: Option<i64>,
    pub(crate) e: NewLogEntry,
    pub(crate) hash: String,
}

impl Row {
    pub(crate) fn new(time: &str, e: &NewLogEntry, hash: &str) -> Row {
        Row {
            time: Time::new(time),
            hash: Hash::new(hash),
            kind: e.kind.as_str().to_string(),
            grant_id: e.grant_id.as_deref().map(Id::new),
            org: e.org.clone(),
            remote_addr: e.remote_addr.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            outcome: e.outcome.clone(),
            record_ids: Ids::new(&e.record_ids),
            fields: e.fields.clone(),
            org_key: e.org_key.clone(),
            route: e.route.map(|r| r.as_str().to_string()),
            count: e.count,
        }
    }

    /// The entry, or why it cannot be one (a kind or route this version does not know).
    pub(crate) fn entry(&self) -> Result<Entry, String> {
        let kind = LogKind::parse(&self.kind).ok_or_else(|| format!("kind {:?}", self.kind))?;
        let route = match self.route.as_deref() {
            None => None,
            Some("direct") => Some(Route::Direct),
            Some("relayed") => Some(Route::Relayed),
            Some(other) => return Err(format!("route {other:?}")),
        };
        Ok(Entry {
            time: self.time.text().ok_or("time out of range")?,
            ms: match self.time {
                Time::Ms(ms) => Some(ms),
                Time::Text(_) => None,
            },
            e: NewLogEntry {
                kind,
                grant_id: self.grant_id.as_ref().map(Id::text),
                org: self.org.clone(),
                remote_addr: self.remote_addr.clone(),
                method: self.method.clone(),
                path: self.path.clone(),
                status: self.status,
                outcome: self.outcome.clone(),
                record_ids: self.record_ids.text(),
                fields: self.fields.clone(),
                org_key: self.org_key.clone(),
                route,
                count: self.count,
            },
            hash: self.hash.text(),
        })
    }
}

/// One item of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every item is a row; boxing would allocate once more per entry"
)]
pub(crate) enum Item {
    Row(Row),
    /// A migrated row that does not decode, as its `log.jsonl` object.
    Undecodable(String),
}

impl Item {
    /// The stored hash, as the next entry's `prev_hash` (`None` when it cannot be read).
    pub(crate) fn hash(&self) -> Option<String> {
        match self {
            Item::Row(r) => Some(r.hash.text()),
            Item::Undecodable(json) => serde_json::from_str::<serde_json::Value>(json)
                .ok()?
                .get("hash")?
                .as_str()
                .map(str::to_string),
        }
    }
}

// The wire forms: what an entry stores is each value that differs from the entry
// before it in the block (`None`: the same), with its time counted from that entry's.
// `Out` borrows (for writing), `In` owns (for reading); the field order is the format.

#[derive(Serialize)]
enum ItemOut<'a> {
    Entry(DeltaOut<'a>),
    Undecodable(&'a str),
}

#[derive(Deserialize)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every item is an entry, read once"
)]
enum ItemIn {
    Entry(DeltaIn),
    Undecodable(String),
}

#[derive(Serialize)]
struct DeltaOut<'a> {
    time: Time,
    hash: &'a Hash,
    kind: Option<&'a String>,
    grant_id: Option<&'a Option<Id>>,
    org: Option<&'a Option<String>>,
    remote_addr: Option<&'a Option<String>>,
    method: Option<&'a Option<String>>,
    path: Option<&'a Option<String>>,
    status: Option<&'a Option<u16>>,
    outcome: Option<&'a String>,
    record_ids: Option<&'a Ids>,
    fields: Option<&'a Vec<String>>,
    org_key: Option<&'a Option<String>>,
    route: Option<&'a Option<String>>,
    count: Option<&'a Option<u64>>,
}

#[derive(Deserialize)]
struct DeltaIn {
    time: Time,
    hash: Hash,
    kind: Option<String>,
    grant_id: Option<Option<Id>>,
    org: Option<Option<String>>,
    remote_addr: Option<Option<String>>,
    method: Option<Option<String>>,
    path: Option<Option<String>>,
    status: Option<Option<u16>>,
    outcome: Option<String>,
    record_ids: Option<Ids>,
    fields: Option<Vec<String>>,
    org_key: Option<Option<String>>,
    route: Option<Option<String>>,
    count: Option<Option<u64>>,
}

/// `v` unless the entry before had the same value.
fn changed<'a, T: PartialEq>(v: &'a T, before: Option<&T>) -> Option<&'a T> {
    (before != Some(v)).then_some(v)
}

/// A block ready to insert.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub(crate) bytes: Vec<u8>,
    /// The earliest and latest millisecond time of its entries (`None` if none has one).
    pub(crate) min_ms: Option<i64>,
    pub(crate) max_ms: Option<i64>,
    /// Its `access_log_key` keys: every organization and grant its entries name.
    pub(crate) keys: BTreeSet<Vec<u8>>,
}

/// The `access_log_key` key of an organization.
pub(crate) fn org_key(org: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + org.len());
    k.push(b'o');
    k.extend_from_slice(org.as_bytes());
    k
}

/// The `access_log_key` key of a grant.
pub(crate) fn grant_key(id: &str) -> Vec<u8> {
    id_key(&Id::new(id))
}

fn id_key(id: &Id) -> Vec<u8> {
    match id {
        Id::Ulid(b) => [&[b'g'][..], b].concat(),
        Id::Text(t) => [b"h", t.as_bytes()].concat(),
    }
}

/// The key of the row that marks a block as the start of a run (see [`keys_digest`]).
pub(crate) const RUN_KEY: &[u8] = b"\0";

/// A short digest of a block's keys: a block whose digest is that of the run before it
/// continues the run (and gets no key rows).
pub(crate) fn keys_digest(keys: &BTreeSet<Vec<u8>>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for k in keys {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k);
    }
    hex::encode(&h.finalize()[..16])
}

/// The first key that is not an organization's (see [`org_key`]).
pub(crate) const ORG_KEYS_END: &[u8] = b"p";

/// Encodes `items` as one block.
pub(crate) fn encode(items: &[Item]) -> Encoded {
    let mut bytes = vec![FORMAT];
    put(&mut bytes, &(items.len() as u64));
    let (mut min_ms, mut max_ms) = (None::<i64>, None::<i64>);
    let mut keys = BTreeSet::new();
    let mut before: Option<&Row> = None;
    let mut before_ms = 0i64;
    for item in items {
        let r = match item {
            Item::Row(r) => r,
            Item::Undecodable(json) => {
                put(&mut bytes, &ItemOut::Undecodable(json));
                continue;
            }
        };
        let time = match r.time {
            Time::Ms(ms) => {
                min_ms = Some(min_ms.map_or(ms, |m| m.min(ms)));
                max_ms = Some(max_ms.map_or(ms, |m| m.max(ms)));
                let delta = ms.wrapping_sub(before_ms);
                before_ms = ms;
                Time::Ms(delta)
            }
            Time::Text(ref t) => Time::Text(t.clone()),
        };
        if let Some(org) = &r.org {
            keys.insert(org_key(org));
        }
        if let Some(id) = &r.grant_id {
            keys.insert(id_key(id));
        }
        let b = before;
        let d = DeltaOut {
            time,
            hash: &r.hash,
            kind: changed(&r.kind, b.map(|b| &b.kind)),
            grant_id: changed(&r.grant_id, b.map(|b| &b.grant_id)),
            org: changed(&r.org, b.map(|b| &b.org)),
            remote_addr: changed(&r.remote_addr, b.map(|b| &b.remote_addr)),
            method: changed(&r.method, b.map(|b| &b.method)),
            path: changed(&r.path, b.map(|b| &b.path)),
            status: changed(&r.status, b.map(|b| &b.status)),
            outcome: changed(&r.outcome, b.map(|b| &b.outcome)),
            record_ids: changed(&r.record_ids, b.map(|b| &b.record_ids)),
            fields: changed(&r.fields, b.map(|b| &b.fields)),
            org_key: changed(&r.org_key, b.map(|b| &b.org_key)),
            route: changed(&r.route, b.map(|b| &b.route)),
            count: changed(&r.count, b.map(|b| &b.count)),
        };
        put(&mut bytes, &ItemOut::Entry(d));
        before = Some(r);
    }
    Encoded {
        bytes,
        min_ms,
        max_ms,
        keys,
    }
}

fn put<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    let buf = std::mem::take(out);
    *out = postcard::to_extend(v, buf).expect("a Vec grows as needed");
}

/// Decodes a block, or says why it does not decode.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Item>, String> {
    let Some((&FORMAT, rest)) = bytes.split_first() else {
        return Err("a log block in an unknown format".into());
    };
    let bad = |_| "a log block that does not decode".to_string();
    let (n, mut rest) = postcard::take_from_bytes::<u64>(rest).map_err(bad)?;
    // Each item takes at least two bytes: a length beyond that is not a block.
    if n > rest.len() as u64 {
        return Err(bad(postcard::Error::DeserializeUnexpectedEnd));
    }
    let mut items = Vec::with_capacity(n as usize);
    let mut before: Option<Row> = None;
    let mut before_ms = 0i64;
    for _ in 0..n {
        let (item, next) = postcard::take_from_bytes::<ItemIn>(rest).map_err(bad)?;
        rest = next;
        let d = match item {
            ItemIn::Undecodable(json) => {
                items.push(Item::Undecodable(json));
                continue;
            }
            ItemIn::Entry(d) => d,
        };
        let time = match d.time {
            Time::Ms(delta) => {
                before_ms = before_ms.wrapping_add(delta);
                Time::Ms(before_ms)
            }
            t => t,
        };
        let b = before.as_ref();
        let missing = || "a log block whose first entry is incomplete".to_string();
        macro_rules! take {
            ($f:ident) => {
                match d.$f {
                    Some(v) => v,
                    None => b.ok_or_else(missing)?.$f.clone(),
                }
            };
        }
        let row = Row {
            time,
            hash: d.hash,
            kind: take!(kind),
            grant_id: take!(grant_id),
            org: take!(org),
            remote_addr: take!(remote_addr),
            method: take!(method),
            path: take!(path),
            status: take!(status),
            outcome: take!(outcome),
            record_ids: take!(record_ids),
            fields: take!(fields),
            org_key: take!(org_key),
            route: take!(route),
            count: take!(count),
        };
        before = Some(row.clone());
        items.push(Item::Row(row));
    }
    if !rest.is_empty() {
        return Err("a log block with bytes after its entries".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_log::testing::{read_of, ulid};

    fn share(i: u8) -> NewLogEntry {
        NewLogEntry {
            count: (i % 7 == 3).then_some(u64::from(i)),
            ..read_of((0..10).map(|n| ulid(n + 10)).collect())
        }
    }

    fn row(i: u8, time: &str, e: &NewLogEntry) -> Item {
        Item::Row(Row::new(time, e, &format!("{i:02x}").repeat(32)))
    }

    #[test]
    fn every_form_round_trips_and_alike_entries_are_small() {
        let mut items: Vec<Item> = (0..64)
            .map(|i| {
                row(
                    i,
                    &format!("2026-11-23T10:00:{:02}.{:03}Z", i / 2, i),
                    &share(i),
                )
            })
            .collect();
        let odd = NewLogEntry {
            grant_id: Some("not a ulid".into()),
            record_ids: vec!["R1".into(), ulid(5)],
            org: None,
            org_key: Some("ab".repeat(32)),
            route: Some(Route::Relayed),
            ..NewLogEntry::new(LogKind::GrantRevoke)
        };
        items.push(row(70, "2026-11-23T11:02:00+01:00", &odd));
        items.push(Item::Undecodable(r#"{"seq":66,"hash":"x"}"#.into()));
        items.push(Item::Row(Row::new(
            "1969-12-31T23:59:59.999Z",
            &share(1),
            "ABC",
        )));
        let enc = encode(&items);
        assert_eq!(decode(&enc.bytes).unwrap(), items);
        // 64 alike entries: the first in full (ten record ids: ~200 bytes), then their
        // time, their hash and a byte per unchanged value, about 50 bytes each (a row
        // of the table before was about 300).
        let alike = encode(&items[..64]).bytes.len();
        assert!(alike < 300 + 63 * 51, "{alike} bytes");
        assert_eq!(enc.min_ms, Some(-1));
        assert_eq!(
            enc.keys,
            BTreeSet::from([
                org_key("Stadtwerke Berlin"),
                grant_key(&ulid(1)),
                grant_key("not a ulid")
            ])
        );
        let Item::Row(r) = &items[64] else { panic!() };
        let e = r.entry().unwrap();
        assert_eq!((e.time.as_str(), e.ms), ("2026-11-23T11:02:00+01:00", None));
        assert_eq!(e.e, odd);
    }

    #[test]
    fn damaged_blocks_do_not_decode() {
        let enc = encode(&[row(1, "2026-11-23T10:00:00.000Z", &share(1))]);
        for bad in [
            &[][..],
            &[2, 1][..],
            &enc.bytes[..enc.bytes.len() - 1],
            &[enc.bytes.as_slice(), &[0]].concat(),
            &[1, 0xff, 0xff, 0xff, 0xff, 0x0f][..],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        // A first entry that leans on an entry before it.
        let mut first = vec![FORMAT];
        put(&mut first, &1u64);
        put(
            &mut first,
            &ItemOut::Entry(DeltaOut {
                time: Time::Ms(0),
                hash: &Hash::Text("h".into()),
                kind: None,
                grant_id: None,
                org: None,
                remote_addr: None,
                method: None,
                path: None,
                status: None,
                outcome: None,
                record_ids: None,
                fields: None,
                org_key: None,
                route: None,
                count: None,
            }),
        );
        assert!(decode(&first).unwrap_err().contains("incomplete"));
    }
}
