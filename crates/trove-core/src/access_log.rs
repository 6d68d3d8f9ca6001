//! The access log: one append-only, hash-chained entry per share API request and per
//! grant change, export and import; verification of the chain and per-organization
//! summaries. The entries one commit appends are stored together, one block per commit
//! (see [`block`]); readers see entries.
//!
//! Each row's hash is SHA-256 over `"trove-log/1\n"`, the previous row's hash and a
//! canonical encoding of the row (a JSON array of its fields in a fixed order; rows of
//! remote requests append the organization's endpoint key and the route, so rows
//! written before those columns existed hash exactly as they always did). The
//! newest seq and hash are also kept in `meta` so that deleting the newest rows shows.
//! The log holds names and ids only: never tokens, never field values.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::grant::Grant;
use crate::model::peer::Route;
use crate::vault::Vault;

mod block;
pub(crate) mod stored;

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HEAD_KEY: &str = "access_log_head";
/// `meta` key of the current run of blocks (see [`block`]): `FIRST:DIGEST`.
const RUN_META_KEY: &str = "access_log_run";

/// What a log row describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// A share API request (allowed or denied).
    Share,
    /// A grant was created.
    GrantCreate,
    /// A grant was revoked (by the person, or given up by the organization).
    GrantRevoke,
    /// An export.
    Export,
    /// An import.
    Import,
    /// A staged grant's copy was published, re-published or deleted on the person's
    /// storage (`method` says which; `path` names the storage and object, never a URL).
    Staging,
    /// The vault's remote endpoint key was replaced (links made before stop working).
    RemoteKeyRotate,
}

impl LogKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Share => "share",
            LogKind::GrantCreate => "grant_create",
            LogKind::GrantRevoke => "grant_revoke",
            LogKind::Export => "export",
            LogKind::Import => "import",
            LogKind::Staging => "staging",
            LogKind::RemoteKeyRotate => "remote_key_rotate",
        }
    }

    fn parse(s: &str) -> Option<LogKind> {
        [
            LogKind::Share,
            LogKind::GrantCreate,
            LogKind::GrantRevoke,
            LogKind::Export,
            LogKind::Import,
            LogKind::Staging,
            LogKind::RemoteKeyRotate,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A row to append; the log assigns seq, time and hashes. (Serialized only into the
/// encrypted side journal, see [`crate::share::journal`].)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLogEntry {
    pub kind: LogKind,
    pub grant_id: Option<String>,
    pub org: Option<String>,
    pub remote_addr: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    /// `allowed` or `denied:<reason>`.
    pub outcome: String,
    /// Ids of the records disclosed.
    pub record_ids: Vec<String>,
    /// `type.field` names disclosed (or, for a grant change, the scope items).
    pub fields: Vec<String>,
    /// For a remote request: the organization's endpoint key (64 hex characters).
    pub org_key: Option<String>,
    /// For a remote request: how its packets travelled.
    pub route: Option<Route>,
    /// How many requests this row stands for when it sums up repeated failures (see
    /// `crate::share`'s failure folding); `None` for a row that is one event.
    pub count: Option<u64>,
}

impl NewLogEntry {
    /// An entry of `kind` with outcome `allowed` and nothing else set.
    pub fn new(kind: LogKind) -> NewLogEntry {
        NewLogEntry {
            kind,
            grant_id: None,
            org: None,
            remote_addr: None,
            method: None,
            path: None,
            status: None,
            outcome: "allowed".into(),
            record_ids: Vec::new(),
            fields: Vec::new(),
            org_key: None,
            route: None,
            count: None,
        }
    }

    /// A grant change (create or revoke) by the person.
    pub fn grant_change(kind: LogKind, g: &Grant) -> NewLogEntry {
        NewLogEntry {
            grant_id: Some(g.id.clone()),
            org: Some(g.org.clone()),
            ..NewLogEntry::new(kind)
        }
    }
}

/// A stored log row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LogEntry {
    pub seq: i64,
    pub time: String,
    pub kind: LogKind,
    pub grant_id: Option<String>,
    pub org: Option<String>,
    pub remote_addr: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub outcome: String,
    pub record_ids: Vec<String>,
    pub fields: Vec<String>,
    /// For a remote request: the organization's endpoint key (64 hex characters).
    #[serde(default)]
    pub org_key: Option<String>,
    /// For a remote request: `direct` or `relayed`.
    #[serde(default)]
    pub route: Option<Route>,
    /// For a row that sums up repeated failures: how many requests it stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    pub prev_hash: String,
    pub hash: String,
}

/// A test seam on the log write: called right before a row is inserted; an error makes
/// the write fail (and with it the transaction of the read it describes). Production
/// passes `None`; tests inject failures to prove that nothing leaves without a log row.
pub trait LogFault: Send + Sync {
    /// Return an error to make this write fail.
    fn before_write(&self, entry: &NewLogEntry) -> Result<()>;
}

/// The canonical bytes a row's hash covers: a JSON array of the row's fields in a fixed
/// order (serde_json writes strings, numbers and nulls one way only). A row with an
/// organization key or a route (a remote request) has both appended, making a longer
/// array; a row that sums up repeated failures appends those two and its count, a longer
/// one still. Any other row is encoded exactly as before those fields existed, so old
/// rows still verify and no kind can pass for another.
fn canonical(seq: i64, time: &str, e: &NewLogEntry) -> Vec<u8> {
    let row = (
        seq,
        time,
        e.kind.as_str(),
        &e.grant_id,
        &e.org,
        &e.remote_addr,
        &e.method,
        &e.path,
        e.status,
        &e.outcome,
        &e.record_ids,
        &e.fields,
    );
    let mut out = serde_json::to_vec(&row).expect("plain values serialize");
    if e.org_key.is_none() && e.route.is_none() && e.count.is_none() {
        return out;
    }
    // The longer array: the same bytes up to the closing `]`, then the extra fields.
    out.pop();
    let mut push = |v: &dyn erased::Json| {
        out.push(b',');
        v.write(&mut out);
    };
    push(&e.org_key);
    push(&e.route.map(Route::as_str));
    if let Some(count) = e.count {
        push(&count);
    }
    out.push(b']');
    out
}

mod erased {
    /// A value written as compact JSON (serde's `Serialize` is not object safe).
    pub(super) trait Json {
        fn write(&self, out: &mut Vec<u8>);
    }

    impl<T: serde::Serialize> Json for T {
        fn write(&self, out: &mut Vec<u8>) {
            serde_json::to_writer(out, self).expect("plain values serialize");
        }
    }
}

fn chain_hash(prev: &str, seq: i64, time: &str, e: &NewLogEntry) -> String {
    let mut h = Sha256::new();
    h.update(b"trove-log/1\n");
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical(seq, time, e));
    hex::encode(h.finalize())
}

pub(crate) fn check_outcome(o: &str) -> Result<()> {
    let ok = o == "allowed"
        || o.strip_prefix("denied:").is_some_and(|r| {
            !r.is_empty() && r.len() <= 64 && r.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "log outcome {o:?} must be allowed or denied:<reason>"
        )))
    }
}

/// Appends one row inside `tx` (the transaction of the action it describes). Any error
/// is [`Error::LogWriteFailed`]: the caller must roll back and disclose nothing.
pub fn append(tx: &Transaction<'_>, e: NewLogEntry, fault: Option<&dyn LogFault>) -> Result<i64> {
    let mut a = LogAppender::begin(tx)?;
    let seq = a.append(&e, fault)?;
    a.finish()?;
    Ok(seq)
}

fn log_err(err: Error) -> Error {
    match err {
        Error::LogWriteFailed(m) => Error::LogWriteFailed(m),
        other => Error::LogWriteFailed(other.to_string()),
    }
}

/// Appends several rows in one transaction: reads the chain head once, keeps it in
/// memory, and at [`LogAppender::finish`] writes the rows as one block (see
/// [`block`]) and records the new head in `meta`. The transaction must be a write
/// transaction (it holds the database's write lock, so no other process can append
/// meanwhile), and nothing is written unless `finish` succeeds.
pub struct LogAppender<'a, 'conn> {
    tx: &'a Transaction<'conn>,
    head: Option<(i64, String)>,
    /// The rows appended and not yet written.
    pending: Vec<block::Item>,
}

/// A chain position saved by [`LogAppender::mark`], to undo appends rolled back with a
/// savepoint.
#[derive(Debug, Clone)]
pub struct LogMark(Option<(i64, String)>, usize);

impl<'a, 'conn> LogAppender<'a, 'conn> {
    /// Reads the chain head inside `tx`.
    pub fn begin(tx: &'a Transaction<'conn>) -> Result<Self> {
        let head = head(tx).map_err(log_err)?;
        Ok(LogAppender {
            tx,
            head,
            pending: Vec::new(),
        })
    }

    /// The current chain position.
    pub fn mark(&self) -> LogMark {
        LogMark(self.head.clone(), self.pending.len())
    }

    /// Goes back to `mark`, forgetting the rows appended since.
    pub fn reset(&mut self, mark: LogMark) {
        self.head = mark.0;
        self.pending.truncate(mark.1);
    }

    /// Appends one row. Any error is [`Error::LogWriteFailed`].
    pub fn append(&mut self, e: &NewLogEntry, fault: Option<&dyn LogFault>) -> Result<i64> {
        self.append_inner(e, fault, &crate::now_rfc3339())
            .map_err(log_err)
    }

    /// Appends one row of an event that happened at `time` (a row merged from the side
    /// journal keeps the time its request was answered). Any error is
    /// [`Error::LogWriteFailed`].
    pub(crate) fn append_at(&mut self, e: &NewLogEntry, time: &str) -> Result<i64> {
        self.append_inner(e, None, time).map_err(log_err)
    }

    fn append_inner(
        &mut self,
        e: &NewLogEntry,
        fault: Option<&dyn LogFault>,
        time: &str,
    ) -> Result<i64> {
        check_outcome(&e.outcome)?;
        if let Some(f) = fault {
            f.before_write(e)?;
        }
        let (seq, prev) = match &self.head {
            Some((s, h)) => (s + 1, h.as_str()),
            None => (1, GENESIS_HASH),
        };
        let hash = chain_hash(prev, seq, time, e);
        self.pending
            .push(block::Item::Row(block::Row::new(time, e, &hash)));
        self.head = Some((seq, hash));
        Ok(seq)
    }

    /// Writes the rows appended as one block and records the chain head in `meta`.
    pub fn finish(self) -> Result<()> {
        let (Some((last, hash)), false) = (&self.head, self.pending.is_empty()) else {
            return Ok(());
        };
        let first = last - self.pending.len() as i64 + 1;
        write_block(self.tx, first, &self.pending)
            .and_then(|()| record_head(self.tx, *last, hash))
            .map_err(log_err)
    }
}

/// Records the chain head in `meta`.
fn record_head(tx: &rusqlite::Connection, last: i64, hash: &str) -> Result<()> {
    set_meta(tx, HEAD_KEY, &format!("{last}:{hash}"))
}

/// Sets a `meta` value. An `UPDATE` in place changes only the table's page; `INSERT OR
/// REPLACE` deletes and re-inserts the row, which also rewrites the key's index page:
/// one more encrypted page in every commit's WAL.
fn set_meta(tx: &rusqlite::Connection, key: &str, value: &str) -> Result<()> {
    let updated = tx
        .prepare_cached("UPDATE meta SET value = ?2 WHERE key = ?1")?
        .execute(params![key, value])?;
    if updated == 0 {
        tx.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2)")?
            .execute(params![key, value])?;
    }
    Ok(())
}

/// The digest of the keys of the newest run of blocks, when `meta` records it for the
/// newest run marker (anything else, e.g. blocks marked by a migration, starts a run).
fn current_run(tx: &rusqlite::Connection) -> Result<Option<String>> {
    let newest: Option<i64> = tx
        .prepare_cached(
            "SELECT block FROM access_log_key WHERE key = ?1 ORDER BY block DESC LIMIT 1",
        )?
        .query_row([block::RUN_KEY], |r| r.get(0))
        .optional()?;
    let recorded: Option<String> = tx
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([RUN_META_KEY], |r| r.get(0))
        .optional()?;
    Ok(match (newest, recorded) {
        (Some(n), Some(v)) => v
            .split_once(':')
            .filter(|(first, _)| first.parse() == Ok(n))
            .map(|(_, digest)| digest.to_string()),
        _ => None,
    })
}

/// Inserts `items` as the block of entries `first..`; when its keys are not those of
/// the run before it, it starts a run: its keys and the run marker are indexed.
fn write_block(tx: &rusqlite::Connection, first: i64, items: &[block::Item]) -> Result<()> {
    let enc = block::encode(items);
    tx.prepare_cached(
        "INSERT INTO access_log_block (first_seq, last_seq, min_time, max_time, entries) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        first,
        first + items.len() as i64 - 1,
        enc.min_ms,
        enc.max_ms,
        enc.bytes
    ])?;
    let digest = block::keys_digest(&enc.keys);
    if current_run(tx)?.as_deref() == Some(digest.as_str()) {
        return Ok(());
    }
    let mut key = tx.prepare_cached("INSERT INTO access_log_key (key, block) VALUES (?1, ?2)")?;
    key.execute(params![block::RUN_KEY, first])?;
    for k in &enc.keys {
        key.execute(params![k, first])?;
    }
    set_meta(tx, RUN_META_KEY, &format!("{first}:{digest}"))
}

/// A block as read: its first seq and its items, or why it does not decode.
struct StoredBlock {
    first: i64,
    items: std::result::Result<Vec<block::Item>, String>,
}

impl StoredBlock {
    /// Reads `first_seq` and `entries` from columns 0 and `col`.
    fn read(r: &Row<'_>, col: usize) -> rusqlite::Result<StoredBlock> {
        let items = match r.get_ref(col)? {
            rusqlite::types::ValueRef::Blob(b) => block::decode(b),
            _ => Err("a log block that is not a blob".into()),
        };
        Ok(StoredBlock {
            first: r.get(0)?,
            items,
        })
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<StoredBlock> {
        Self::read(r, 1)
    }

    /// The items, or [`Error::LogTampered`] naming the block's first entry.
    fn items(&self) -> Result<&[block::Item]> {
        self.items.as_deref().map_err(|why| {
            Error::LogTampered(format!("entry {} does not decode ({why})", self.first))
        })
    }
}

/// The block holding `seq` (or, when none does, the nearest before it), decoded.
fn block_at(conn: &rusqlite::Connection, seq: i64) -> Result<Option<StoredBlock>> {
    Ok(conn
        .prepare_cached(
            "SELECT first_seq, entries FROM access_log_block WHERE first_seq <= ?1 ORDER BY first_seq DESC LIMIT 1",
        )?
        .query_row([seq], StoredBlock::from_row)
        .optional()?)
}

/// The newest row's seq and hash, if any. The head recorded in `meta` with the newest
/// block (in the same transaction) saves decoding that block when it names the same
/// seq; an altered one only makes the next entries fail `log verify`.
pub(crate) fn head(conn: &rusqlite::Connection) -> Result<Option<(i64, String)>> {
    let recorded = conn
        .prepare_cached(
            "SELECT b.last_seq, m.value FROM access_log_block b, meta m \
             WHERE m.key = ?1 ORDER BY b.first_seq DESC LIMIT 1",
        )?
        .query_row([HEAD_KEY], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    if let Some((last, value)) = recorded {
        if let Some((seq, hash)) = value.split_once(':') {
            if seq.parse() == Ok(last) {
                return Ok(Some((last, hash.to_string())));
            }
        }
    }
    let Some(b) = block_at(conn, i64::MAX)? else {
        return Ok(None);
    };
    let items = b.items()?;
    let seq = b.first + items.len() as i64 - 1;
    match items.last().and_then(block::Item::hash) {
        Some(hash) => Ok(Some((seq, hash))),
        None => Err(Error::LogTampered(format!("entry {seq} does not decode"))),
    }
}

/// The hash of row `seq`, if there is one.
pub(crate) fn hash_at(conn: &rusqlite::Connection, seq: i64) -> Result<Option<String>> {
    let Some(b) = block_at(conn, seq)? else {
        return Ok(None);
    };
    Ok(usize::try_from(seq - b.first)
        .ok()
        .and_then(|i| b.items().ok()?.get(i)?.hash()))
}

/// The `prev_hash` of entry `seq` whose predecessor's item is `before` when it is in the
/// same block: the genesis hash for entry 1, and nothing (`''`) for an entry whose
/// predecessor is gone, which `log verify` names as a gap.
fn prev_hash(seq: i64, before: Option<&block::Item>) -> String {
    match before {
        _ if seq == 1 => GENESIS_HASH.to_string(),
        Some(item) => item.hash().unwrap_or_default(),
        None => String::new(),
    }
}

/// Reads blocks oldest first, handing each entry with its seq and the item before it
/// (`None` when that is not the entry `seq - 1`).
fn each_in_order(
    conn: &rusqlite::Connection,
    mut f: impl FnMut(
        i64,
        std::result::Result<&block::Item, String>,
        Option<&block::Item>,
    ) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let mut stmt =
        conn.prepare("SELECT first_seq, entries FROM access_log_block ORDER BY first_seq")?;
    let mut rows = stmt.query([])?;
    // The last item of the block before, and the seq after it.
    let mut last: Option<(i64, block::Item)> = None;
    while let Some(r) = rows.next()? {
        let b = StoredBlock::from_row(r)?;
        let items = match &b.items {
            Ok(items) => items,
            Err(why) => {
                let _ = f(b.first, Err(why.clone()), None)?;
                return Ok(());
            }
        };
        for (i, item) in items.iter().enumerate() {
            let seq = b.first + i as i64;
            let before = match i {
                0 => last
                    .as_ref()
                    .filter(|(next, _)| *next == seq)
                    .map(|(_, it)| it),
                _ => Some(&items[i - 1]),
            };
            if f(seq, Ok(item), before)?.is_break() {
                return Ok(());
            }
        }
        if let Some(item) = items.last() {
            last = Some((b.first + items.len() as i64, item.clone()));
        }
    }
    Ok(())
}

/// The stored entry `item` as a [`LogEntry`], or [`Error::LogTampered`].
fn to_entry(seq: i64, item: &block::Item, before: Option<&block::Item>) -> Result<LogEntry> {
    let undecodable =
        |why: &str| Error::LogTampered(format!("entry {seq} does not decode ({why})"));
    let block::Item::Row(row) = item else {
        return Err(undecodable("an edited row"));
    };
    let e = row.entry().map_err(|why| undecodable(&why))?;
    Ok(LogEntry {
        seq,
        time: e.time,
        kind: e.e.kind,
        grant_id: e.e.grant_id,
        org: e.e.org,
        remote_addr: e.e.remote_addr,
        method: e.e.method,
        path: e.e.path,
        status: e.e.status,
        outcome: e.e.outcome,
        record_ids: e.e.record_ids,
        fields: e.e.fields,
        org_key: e.e.org_key,
        route: e.e.route,
        count: e.e.count,
        prev_hash: prev_hash(seq, before),
        hash: e.hash,
    })
}

/// Calls `f` with every entry as its `log.jsonl` object, oldest first: the columns of
/// the table before migration 9, in its order, with `prev_hash`.
pub(crate) fn for_each_jsonl(
    conn: &rusqlite::Connection,
    f: &mut dyn FnMut(&serde_json::Value) -> Result<()>,
) -> Result<()> {
    each_in_order(conn, |seq, item, before| {
        let obj = match item {
            Err(why) => serde_json::json!({ "seq": seq, "undecodable": why }),
            Ok(block::Item::Undecodable(json)) => serde_json::from_str(json)
                .unwrap_or_else(|_| serde_json::Value::String(json.clone())),
            Ok(item) => match to_entry(seq, item, before) {
                Ok(e) => jsonl_object(e),
                Err(why) => serde_json::json!({ "seq": seq, "undecodable": why.to_string() }),
            },
        };
        f(&obj)?;
        Ok(ControlFlow::Continue(()))
    })
}

fn jsonl_object(e: LogEntry) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        o.insert(k.to_string(), v);
    };
    put("seq", e.seq.into());
    put("time", e.time.into());
    put("kind", e.kind.as_str().into());
    put("grant_id", e.grant_id.into());
    put("org", e.org.into());
    put("remote_addr", e.remote_addr.into());
    put("method", e.method.into());
    put("path", e.path.into());
    put("status", e.status.into());
    put("outcome", e.outcome.into());
    put("record_ids", e.record_ids.into());
    put("fields", e.fields.into());
    put("prev_hash", e.prev_hash.into());
    put("hash", e.hash.into());
    put("org_key", e.org_key.into());
    put("route", e.route.map(Route::as_str).into());
    put("count", e.count.into());
    serde_json::Value::Object(o)
}

/// Which log rows to read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogFilter {
    pub org: Option<String>,
    pub grant_id: Option<String>,
    /// At most this many (newest first); `None` for all.
    pub limit: Option<usize>,
    /// Only rows older than this seq (the next page after a page ending there).
    #[serde(default)]
    pub before: Option<i64>,
}

/// One page of log rows (see [`Vault::log_page`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LogPage {
    /// Newest first.
    pub entries: Vec<LogEntry>,
    /// The `before` of the next (older) page; `None` when these are the oldest rows.
    pub older: Option<i64>,
}

/// The result of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VerifyReport {
    /// Rows checked.
    pub entries: u64,
    /// True when every row links and hashes correctly.
    pub ok: bool,
    /// The first entry that does not match.
    pub first_bad_seq: Option<i64>,
    /// What is wrong with it.
    pub problem: Option<String>,
}

/// What one organization has seen through the share API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OrgSummary {
    pub org: String,
    /// Requests made (allowed and denied).
    pub requests: u64,
    /// Requests that disclosed data.
    pub allowed: u64,
    pub types: BTreeSet<String>,
    pub fields: BTreeSet<String>,
    /// Distinct records disclosed.
    pub records: u64,
    pub first_access: Option<String>,
    pub last_access: Option<String>,
}

impl Vault {
    /// Appends a row in its own transaction (for export/import and other actions that
    /// are not themselves a database transaction).
    pub fn log_event(&self, e: NewLogEntry) -> Result<i64> {
        self.write(|tx| append(tx, e, None))
    }

    /// Log rows matching `filter`, newest first.
    pub fn log_entries(&self, filter: &LogFilter) -> Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        self.for_each_log_entry(filter, |e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// One page of the rows matching `filter`, newest first: `filter.limit` rows at most
    /// (all when `None`), older than `filter.before`; [`LogPage::older`] is the `before`
    /// of the next page, or `None` when no older row matches.
    pub fn log_page(&self, filter: &LogFilter) -> Result<LogPage> {
        let mut probe = filter.clone();
        probe.limit = filter.limit.map(|l| l.saturating_add(1));
        let mut entries = self.log_entries(&probe)?;
        let more = filter.limit.is_some_and(|l| entries.len() > l);
        if more {
            entries.pop();
        }
        let older = if more {
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(LogPage { entries, older })
    }

    /// Every organization the log names, in alphabetical order.
    pub fn log_orgs(&self) -> Result<Vec<String>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT DISTINCT key FROM access_log_key WHERE key >= ?1 AND key < ?2 ORDER BY key",
            )?;
            let keys = stmt.query_map(params![block::org_key(""), block::ORG_KEYS_END], |r| {
                r.get::<_, Vec<u8>>(0)
            })?;
            let mut orgs = Vec::new();
            for k in keys {
                if let Ok(org) = String::from_utf8(k?[1..].to_vec()) {
                    orgs.push(org);
                }
            }
            Ok(orgs)
        })
    }

    /// Share API requests per organization in each interval between consecutive
    /// `bounds` (RFC 3339 times, ascending; `bounds[i] <= time < bounds[i + 1]`): the
    /// caller chooses the intervals, e.g. the local days of a chart.
    pub fn log_share_counts(&self, bounds: &[String]) -> Result<Vec<BTreeMap<String, u64>>> {
        let ms = bounds
            .iter()
            .map(|b| {
                chrono::DateTime::parse_from_rfc3339(b)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| Error::InvalidInput(format!("{b:?} is not an RFC 3339 time")))
            })
            .collect::<Result<Vec<i64>>>()?;
        if ms.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::InvalidInput(
                "the interval bounds must be in ascending order".into(),
            ));
        }
        let mut out = vec![BTreeMap::new(); ms.len().saturating_sub(1)];
        let (Some(&first), Some(&last)) = (ms.first(), ms.last()) else {
            return Ok(out);
        };
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT first_seq, entries FROM access_log_block WHERE max_time >= ?1 AND min_time < ?2",
            )?;
            let mut rows = stmt.query(params![first, last])?;
            while let Some(r) = rows.next()? {
                let b = StoredBlock::from_row(r)?;
                for item in b.items()? {
                    let block::Item::Row(row) = item else {
                        continue;
                    };
                    let (block::Time::Ms(t), Some(org)) = (&row.time, &row.org) else {
                        continue;
                    };
                    if row.kind == LogKind::Share.as_str() && (first..last).contains(t) {
                        let i = ms.partition_point(|b| b <= t) - 1;
                        *out[i].entry(org.clone()).or_insert(0) += 1;
                    }
                }
            }
            Ok(out)
        })
    }

    /// Calls `f` with each row matching `filter`, newest first, one at a time: memory
    /// stays flat however long the log is (`trove log` and the summary read this way).
    pub fn for_each_log_entry(
        &self,
        filter: &LogFilter,
        mut f: impl FnMut(LogEntry) -> Result<()>,
    ) -> Result<()> {
        let mut left = filter.limit.unwrap_or(usize::MAX);
        if left == 0 {
            return Ok(());
        }
        let before = filter.before.unwrap_or(i64::MAX);
        // The most selective key: the grant's, else the organization's, else none.
        let key = match (&filter.grant_id, &filter.org) {
            (Some(g), _) => Some(block::grant_key(g)),
            (None, Some(o)) => Some(block::org_key(o)),
            (None, None) => None,
        };
        let wanted = |e: &LogEntry| {
            filter
                .org
                .as_ref()
                .is_none_or(|o| e.org.as_ref() == Some(o))
                && filter
                    .grant_id
                    .as_ref()
                    .is_none_or(|g| e.grant_id.as_ref() == Some(g))
        };
        self.read(|tx| {
            // The block before the one being read, when it was decoded for the first
            // entry's `prev_hash` (the next block read, when nothing is filtered).
            let mut older: Option<StoredBlock> = None;
            // Reads the blocks `from <= first_seq < to`, newest first; `Break` once
            // `limit` entries were given to `f`.
            let mut blocks = |from: i64, to: i64| -> Result<ControlFlow<()>> {
                let mut stmt = tx.prepare_cached(
                    "SELECT first_seq, entries FROM access_log_block WHERE first_seq >= ?1 AND first_seq < ?2 ORDER BY first_seq DESC",
                )?;
                let mut rows = stmt.query(params![from, to])?;
                while let Some(r) = rows.next()? {
                    let first: i64 = r.get(0)?;
                    let b = match older.take() {
                        Some(b) if b.first == first => b,
                        _ => StoredBlock::from_row(r)?,
                    };
                    let items = b.items()?;
                    for (i, item) in items.iter().enumerate().rev() {
                        let seq = b.first + i as i64;
                        if seq >= before {
                            continue;
                        }
                        let e = if i > 0 {
                            to_entry(seq, item, Some(&items[i - 1]))?
                        } else {
                            older = block_at(tx, seq - 1)?;
                            let last = older.as_ref().and_then(|o| {
                                let items = o.items.as_ref().ok()?;
                                (o.first + items.len() as i64 == seq).then(|| items.last())?
                            });
                            to_entry(seq, item, last)?
                        };
                        if !wanted(&e) {
                            continue;
                        }
                        f(e)?;
                        left -= 1;
                        if left == 0 {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                }
                Ok(ControlFlow::Continue(()))
            };
            let Some(key) = key else {
                // Every block; whether `limit` cut it short makes no difference here.
                let _ = blocks(i64::MIN, before)?;
                return Ok(());
            };
            // The runs that name the key (see `block`), newest first: each from its
            // first block to the start of the next run.
            let mut starts = tx.prepare_cached(
                "SELECT block FROM access_log_key WHERE key = ?1 AND block < ?2 ORDER BY block DESC",
            )?;
            let mut next_run = tx.prepare_cached(
                "SELECT block FROM access_log_key WHERE key = ?1 AND block > ?2 ORDER BY block LIMIT 1",
            )?;
            let mut runs = starts.query(params![key, before])?;
            while let Some(r) = runs.next()? {
                let from: i64 = r.get(0)?;
                let end: Option<i64> = next_run
                    .query_row(params![block::RUN_KEY, from], |r| r.get(0))
                    .optional()?;
                let to = end.map_or(before, |e| e.min(before));
                if blocks(from, to)?.is_break() {
                    break;
                }
            }
            Ok(())
        })
    }

    /// The number of log rows.
    pub fn log_len(&self) -> Result<u64> {
        Ok(self.conn().query_row(
            "SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM access_log_block",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Recomputes the hash chain from the first row and names the first entry that does
    /// not match (an edited field, a deleted or reordered row, a cut-off tail).
    pub fn verify_log(&self) -> Result<VerifyReport> {
        self.read(|tx| verify_chain(tx))
    }

    /// Per organization: what its share API requests disclosed, and when.
    pub fn log_summary(&self, org: Option<&str>) -> Result<Vec<OrgSummary>> {
        let mut by_org: BTreeMap<String, (OrgSummary, BTreeSet<String>)> = BTreeMap::new();
        let filter = LogFilter {
            org: org.map(str::to_string),
            ..Default::default()
        };
        // Newest first: the first row seen is the last access.
        self.for_each_log_entry(&filter, |e| {
            let Some(o) = e.org.clone().filter(|_| e.kind == LogKind::Share) else {
                return Ok(());
            };
            let (s, ids) = by_org.entry(o.clone()).or_insert_with(|| {
                (
                    OrgSummary {
                        org: o,
                        requests: 0,
                        allowed: 0,
                        types: BTreeSet::new(),
                        fields: BTreeSet::new(),
                        records: 0,
                        first_access: None,
                        last_access: Some(e.time.clone()),
                    },
                    BTreeSet::new(),
                )
            });
            // A row that sums up repeated failures stands for `count` requests.
            s.requests += e.count.unwrap_or(1);
            s.first_access = Some(e.time.clone());
            if e.outcome == "allowed" {
                s.allowed += 1;
            }
            for f in &e.fields {
                if let Some((t, _)) = f.split_once('.') {
                    s.types.insert(t.to_string());
                }
                s.fields.insert(f.clone());
            }
            ids.extend(e.record_ids);
            Ok(())
        })?;
        Ok(by_org
            .into_values()
            .map(|(mut s, ids)| {
                s.records = ids.len() as u64;
                s
            })
            .collect())
    }
}

/// Recomputes the hash chain on `conn` (see [`Vault::verify_log`]), and checks that each
/// block's bounds, times and keys (what finds its entries) match its entries.
pub(crate) fn verify_chain(tx: &rusqlite::Connection) -> Result<VerifyReport> {
    let mut prev = GENESIS_HASH.to_string();
    let mut expect_seq = 1i64;
    let mut n = 0u64;
    let mut failed = None;
    each_in_order(tx, |seq, item, _| {
        n += 1;
        let entry = match item {
            Ok(block::Item::Row(row)) => row.entry().ok(),
            _ => None,
        };
        let problem = match entry {
            None => Some(format!("entry {seq} does not decode")),
            Some(_) if seq != expect_seq => Some(format!(
                "entry {seq} follows entry {}: entries are missing",
                expect_seq - 1
            )),
            Some(en) if chain_hash(&prev, seq, &en.time, &en.e) == en.hash => {
                prev = en.hash;
                expect_seq = seq + 1;
                None
            }
            Some(_) => Some(format!("entry {seq} was altered (its hash does not match)")),
        };
        Ok(match problem {
            Some(p) => {
                failed = Some((seq, p));
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        })
    })?;
    let bad = |n, seq, p: String| VerifyReport {
        entries: n,
        ok: false,
        first_bad_seq: Some(seq),
        problem: Some(p),
    };
    if let Some((seq, p)) = failed {
        return Ok(bad(n, seq, p));
    }
    if let Some((seq, p)) = check_blocks(tx)? {
        return Ok(bad(n, seq, p));
    }
    let head: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [HEAD_KEY], |r| {
            r.get(0)
        })
        .optional()?;
    let last = expect_seq - 1;
    let want = (last > 0).then(|| format!("{last}:{prev}"));
    if head != want {
        let head_seq = head
            .as_deref()
            .and_then(|h| h.split(':').next())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        return Ok(bad(
            n,
            last + 1,
            format!(
                "the log ends at entry {last} but its recorded head is entry {head_seq}: entries are missing at the end"
            ),
        ));
    }
    Ok(VerifyReport {
        entries: n,
        ok: true,
        first_bad_seq: None,
        problem: None,
    })
}

/// The first block whose bounds, times or keys (what finds its entries) do not match
/// its entries, as its first seq and the problem.
fn check_blocks(tx: &rusqlite::Connection) -> Result<Option<(i64, String)>> {
    let mut stmt = tx.prepare(
        "SELECT first_seq, last_seq, min_time, max_time, entries FROM access_log_block ORDER BY first_seq",
    )?;
    let mut has_key = tx.prepare("SELECT 1 FROM access_log_key WHERE key = ?1 AND block = ?2")?;
    let mut rows = stmt.query([])?;
    // The keys of the run the blocks belong to (see `block`): a block either starts a
    // run, with its keys indexed, or names exactly the keys of the run before it.
    let mut run: Option<std::collections::BTreeSet<Vec<u8>>> = None;
    while let Some(r) = rows.next()? {
        let first: i64 = r.get(0)?;
        // The chain check has read every block: they decode.
        let b = StoredBlock::read(r, 4)?;
        let items = b.items()?;
        let enc = block::encode(items);
        let mut fits = r.get::<_, i64>(1)? == first + items.len() as i64 - 1
            && r.get::<_, Option<i64>>(2)? == enc.min_ms
            && r.get::<_, Option<i64>>(3)? == enc.max_ms;
        if has_key.exists(params![block::RUN_KEY, first])? {
            for k in &enc.keys {
                fits = fits && has_key.exists(params![k, first])?;
            }
            run = Some(enc.keys);
        } else {
            fits = fits && run.as_ref() == Some(&enc.keys);
        }
        if !fits {
            let last = first + items.len() as i64 - 1;
            return Ok(Some((
                first,
                format!(
                    "the index of entries {first} to {last} does not match them (it was altered)"
                ),
            )));
        }
    }
    Ok(None)
}

/// What tests use to read the stored log and to tamper with it like an attacker holding
/// the key.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The ULID whose 16 bytes are all `n`.
    pub(crate) fn ulid(n: u8) -> String {
        ulid::Ulid::from_bytes([n; 16]).to_string()
    }

    /// A share API read of `ids` (street and city) by Stadtwerke Berlin, grant `ulid(1)`.
    pub(crate) fn read_of(ids: Vec<String>) -> NewLogEntry {
        NewLogEntry {
            grant_id: Some(ulid(1)),
            org: Some("Stadtwerke Berlin".into()),
            remote_addr: Some("127.0.0.1".into()),
            method: Some("GET".into()),
            path: Some("/v1/records".into()),
            status: Some(200),
            record_ids: ids,
            fields: vec!["address.street".into(), "address.city".into()],
            ..NewLogEntry::new(LogKind::Share)
        }
    }

    /// Every entry, oldest first.
    pub(crate) fn read_all(conn: &rusqlite::Connection) -> Vec<LogEntry> {
        let mut out = Vec::new();
        each_in_order(conn, |seq, item, before| {
            out.push(to_entry(seq, item.unwrap(), before)?);
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
        out
    }

    /// The stored form of entry `seq`.
    pub(crate) fn stored_row(conn: &rusqlite::Connection, seq: i64) -> block::Row {
        let b = block_at(conn, seq).unwrap().unwrap();
        match &b.items().unwrap()[(seq - b.first) as usize] {
            block::Item::Row(r) => r.clone(),
            other => panic!("entry {seq} is {other:?}"),
        }
    }

    /// Drops the guards and rewrites entry `seq` with `f` (its block's other columns and
    /// keys stay as they were).
    pub(crate) fn edit_entry(
        conn: &rusqlite::Connection,
        seq: i64,
        f: impl FnOnce(&mut block::Item),
    ) {
        let b = block_at(conn, seq).unwrap().unwrap();
        let mut items = b.items().unwrap().to_vec();
        f(&mut items[(seq - b.first) as usize]);
        conn.execute_batch("DROP TRIGGER IF EXISTS access_log_block_no_update")
            .unwrap();
        conn.execute(
            "UPDATE access_log_block SET entries = ?1 WHERE first_seq = ?2",
            params![block::encode(&items).bytes, b.first],
        )
        .unwrap();
    }

    /// Rewrites the stored entry `seq` with `f`.
    pub(crate) fn edit_row(conn: &rusqlite::Connection, seq: i64, f: impl FnOnce(&mut block::Row)) {
        edit_entry(conn, seq, |item| match item {
            block::Item::Row(r) => f(r),
            other => panic!("entry {seq} is {other:?}"),
        })
    }

    /// Drops the guards and runs `sql` (on `access_log_block` and `access_log_key`).
    pub(crate) fn tamper_sql(conn: &rusqlite::Connection, sql: &str) {
        conn.execute_batch(&format!(
            "DROP TRIGGER IF EXISTS access_log_block_no_update; DROP TRIGGER IF EXISTS access_log_block_no_delete;
             DROP TRIGGER IF EXISTS access_log_key_no_update; DROP TRIGGER IF EXISTS access_log_key_no_delete; {sql}"
        ))
        .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::tests::new_vault;

    fn share_row(org: &str, ids: &[&str], fields: &[&str]) -> NewLogEntry {
        NewLogEntry {
            org: Some(org.into()),
            grant_id: Some("G1".into()),
            remote_addr: Some("127.0.0.1".into()),
            method: Some("GET".into()),
            path: Some("/v1/records".into()),
            status: Some(200),
            record_ids: ids.iter().map(|s| s.to_string()).collect(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
            ..NewLogEntry::new(LogKind::Share)
        }
    }

    fn filled() -> (tempfile::TempDir, Vault) {
        let (d, v) = new_vault();
        for i in 0..5 {
            v.log_event(share_row(
                if i % 2 == 0 { "Acme" } else { "Clinic" },
                &[&format!("R{i}")],
                &["contact.email"],
            ))
            .unwrap();
        }
        (d, v)
    }

    use testing::{edit_row, tamper_sql};

    #[test]
    fn canonical_encoding_is_a_fixed_json_array() {
        let e = share_row("Acme \"quoted\"", &["R1"], &["contact.email"]);
        assert_eq!(
            String::from_utf8(canonical(7, "2026-11-23T10:00:00.000Z", &e)).unwrap(),
            r#"[7,"2026-11-23T10:00:00.000Z","share","G1","Acme \"quoted\"","127.0.0.1","GET","/v1/records",200,"allowed",["R1"],["contact.email"]]"#
        );
    }

    /// A row that sums up folded failures carries its count in the hash: changing it, or
    /// dropping it (to pass for a single request), breaks the chain.
    #[test]
    fn a_summary_rows_count_is_covered_by_the_chain() {
        let (_d, v) = new_vault();
        let mut e = share_row("Acme", &[], &[]);
        e.outcome = "denied:unknown_token".into();
        e.count = Some(41);
        v.log_event(e.clone()).unwrap();
        assert!(String::from_utf8(canonical(1, "t", &e))
            .unwrap()
            .ends_with(",null,null,41]"));
        let row = &v.log_entries(&LogFilter::default()).unwrap()[0];
        assert_eq!(row.count, Some(41));
        assert!(v.verify_log().unwrap().ok);
        for count in [Some(1), None] {
            v.conn().execute_batch("SAVEPOINT t").unwrap();
            edit_row(v.conn(), 1, |r| r.count = count);
            assert_eq!(
                verify_chain(v.conn()).unwrap().first_bad_seq,
                Some(1),
                "{count:?}"
            );
            v.conn().execute_batch("ROLLBACK TO t; RELEASE t").unwrap();
        }
    }

    fn remote_row(org: &str, key: &str, route: Route) -> NewLogEntry {
        NewLogEntry {
            org_key: Some(key.into()),
            route: Some(route),
            ..share_row(org, &["R7"], &["contact.email"])
        }
    }

    /// A vault whose log was written before the remote columns existed: its rows (with
    /// the hashes the old code wrote, computed independently) still verify after the
    /// migration, new remote rows chain onto them, and both kinds detect tampering.
    #[test]
    fn rows_from_before_the_remote_columns_still_verify_and_remote_rows_are_covered() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in &crate::vault::MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 2").unwrap();
        let h1 = "3a235391cdef0b28c677e06fc9bf0c9ed0f2e467e4af8e5eba6fbbe1317bbb52";
        let h2 = "549acb043ff4a3a65355fcd3f0d22733afc369b2ac21d033ac82adb48c7ec295";
        conn.execute_batch(&format!(
            "INSERT INTO access_log (seq, time, kind, grant_id, org, remote_addr, method, path, status, outcome, record_ids, fields, prev_hash, hash) VALUES
             (1, '2026-11-23T10:00:00.000Z', 'share', 'G1', 'Acme', '127.0.0.1', 'GET', '/v1/records', 200, 'allowed', '[\"R1\"]', '[\"contact.email\"]', '{GENESIS_HASH}', '{h1}'),
             (2, '2026-11-23T10:01:00.000Z', 'grant_revoke', 'G1', 'Acme', NULL, NULL, NULL, NULL, 'allowed', '[]', '[]', '{h1}', '{h2}');
             INSERT INTO meta (key, value) VALUES ('{HEAD_KEY}', '2:{h2}');"
        ))
        .unwrap();
        crate::open::migrate(&conn).unwrap();
        let r = verify_chain(&conn).unwrap();
        assert!(
            r.ok && r.entries == 2,
            "old rows verify after the migration: {r:?}"
        );
        let key = "ab".repeat(32);
        let tx =
            rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Immediate)
                .unwrap();
        append(&tx, remote_row("Acme", &key, Route::Relayed), None).unwrap();
        append(&tx, share_row("Acme", &[], &[]), None).unwrap();
        tx.commit().unwrap();
        let r = verify_chain(&conn).unwrap();
        assert!(r.ok && r.entries == 4, "{r:?}");
        let tamper = |seq: i64, f: &dyn Fn(&mut block::Row)| {
            conn.execute_batch("SAVEPOINT t").unwrap();
            edit_row(&conn, seq, f);
            let r = verify_chain(&conn).unwrap();
            conn.execute_batch("ROLLBACK TO t; RELEASE t").unwrap();
            r.first_bad_seq
        };
        assert_eq!(
            tamper(3, &|r| r.route = Some("direct".into())),
            Some(3),
            "the route is covered"
        );
        assert_eq!(
            tamper(3, &|r| r.org_key = Some("cd".repeat(32))),
            Some(3),
            "the organization key is covered"
        );
        assert_eq!(
            tamper(3, &|r| (r.org_key, r.route) = (None, None)),
            Some(3),
            "a remote row cannot pass for a local one"
        );
        assert_eq!(
            tamper(1, &|r| {
                (r.org_key, r.route) = (Some(key.clone()), Some("direct".into()))
            }),
            Some(1),
            "an old row cannot be made remote"
        );
        assert_eq!(verify_chain(&conn).unwrap().first_bad_seq, None);
    }

    #[test]
    fn remote_rows_read_back_with_their_key_and_route() {
        let (_d, v) = new_vault();
        let key = "ef".repeat(32);
        v.log_event(remote_row("Acme", &key, Route::Direct))
            .unwrap();
        let e = &v.log_entries(&LogFilter::default()).unwrap()[0];
        assert_eq!(
            (e.org_key.as_deref(), e.route),
            (Some(key.as_str()), Some(Route::Direct))
        );
        let j = serde_json::to_value(e).unwrap();
        assert_eq!(
            (j["org_key"].as_str(), j["route"].as_str()),
            (Some(key.as_str()), Some("direct"))
        );
        assert!(v.verify_log().unwrap().ok);
    }

    #[test]
    fn untouched_log_verifies() {
        let (_d, v) = filled();
        let r = v.verify_log().unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.entries, 5);
        let e = v.log_entries(&LogFilter::default()).unwrap();
        assert_eq!(e[0].seq, 5, "newest first");
        assert_eq!(e[4].prev_hash, GENESIS_HASH);
        assert_eq!(e[3].prev_hash, e[4].hash);
    }

    #[test]
    fn rows_cannot_be_updated_or_deleted() {
        let (_d, v) = filled();
        for sql in [
            "UPDATE access_log_block SET entries = x'00' WHERE first_seq = 2",
            "UPDATE access_log_block SET first_seq = 9 WHERE first_seq = 2",
            "DELETE FROM access_log_block WHERE first_seq = 2",
            "UPDATE access_log_key SET block = 3 WHERE block = 2",
            "DELETE FROM access_log_key WHERE block = 2",
        ] {
            assert!(v.conn().execute(sql, []).is_err(), "{sql} must be refused");
        }
        assert!(v.verify_log().unwrap().ok);
    }

    #[test]
    fn verify_names_an_edited_entry() {
        let (_d, v) = filled();
        edit_row(v.conn(), 3, |r| r.org = Some("Someone else".into()));
        let r = v.verify_log().unwrap();
        assert_eq!((r.ok, r.first_bad_seq), (false, Some(3)), "{r:?}");
    }

    #[test]
    fn verify_names_the_entry_after_a_deleted_one() {
        let (_d, v) = filled();
        tamper_sql(
            v.conn(),
            "DELETE FROM access_log_block WHERE first_seq = 2;",
        );
        let r = v.verify_log().unwrap();
        assert_eq!((r.ok, r.first_bad_seq), (false, Some(3)), "{r:?}");
    }

    #[test]
    fn verify_catches_a_cut_off_tail() {
        let (_d, v) = filled();
        tamper_sql(
            v.conn(),
            "DELETE FROM access_log_block WHERE first_seq = 5;",
        );
        let r = v.verify_log().unwrap();
        assert_eq!((r.ok, r.first_bad_seq), (false, Some(5)), "{r:?}");
    }

    #[test]
    fn verify_names_swapped_entries() {
        let (_d, v) = filled();
        // Swap the contents of rows 2 and 4 (their seq stays in place).
        let (two, four) = (
            testing::stored_row(v.conn(), 2),
            testing::stored_row(v.conn(), 4),
        );
        edit_row(v.conn(), 2, |r| *r = four);
        edit_row(v.conn(), 4, |r| *r = two);
        let r = v.verify_log().unwrap();
        assert_eq!((r.ok, r.first_bad_seq), (false, Some(2)), "{r:?}");
    }

    #[test]
    fn failed_log_write_rolls_back_the_whole_transaction() {
        struct Fail;
        impl LogFault for Fail {
            fn before_write(&self, _: &NewLogEntry) -> Result<()> {
                Err(Error::LogWriteFailed("injected".into()))
            }
        }
        let (_d, v) = filled();
        let err = v
            .write(|tx| {
                tx.execute("INSERT INTO meta (key, value) VALUES ('probe', '1')", [])?;
                append(tx, share_row("Acme", &[], &[]), Some(&Fail))
            })
            .unwrap_err();
        assert_eq!(err.code(), "log_write_failed");
        let probe: Option<String> = v
            .conn()
            .query_row("SELECT value FROM meta WHERE key = 'probe'", [], |r| {
                r.get(0)
            })
            .optional()
            .unwrap();
        assert_eq!(probe, None, "the described action was rolled back");
        assert_eq!(v.log_len().unwrap(), 5);
        assert!(append_outcome_rejects_free_text(&v));
    }

    fn append_outcome_rejects_free_text(v: &Vault) -> bool {
        let mut e = share_row("Acme", &[], &[]);
        e.outcome = "denied:has value ana@example.org".into();
        v.log_event(e).is_err()
    }

    /// Regression (issue 14): the app read the newest 2,000 rows and filtered them by
    /// organization, so an organization's older rows were never shown. Pages are now
    /// filtered in the vault and walk back to its oldest row.
    /// Appends `orgs` (one row each, grant `G<org>`) in one commit: one block.
    fn batch(v: &Vault, orgs: &[&str]) {
        v.write(|tx| {
            let mut log = LogAppender::begin(tx)?;
            for (i, org) in orgs.iter().enumerate() {
                let mut e = share_row(org, &[&format!("B{i}")], &["contact.email"]);
                e.grant_id = Some(format!("G{org}"));
                log.append(&e, None)?;
            }
            log.finish()
        })
        .unwrap();
    }

    fn key_rows(v: &Vault) -> i64 {
        v.conn()
            .query_row("SELECT count(*) FROM access_log_key", [], |r| r.get(0))
            .unwrap()
    }

    /// Commits that name the organizations and grants of the commit before them write
    /// no index rows (one encrypted page fewer each); reading by organization or grant,
    /// page by page, still finds every entry, across runs and their ends.
    #[test]
    fn commits_that_continue_a_run_write_no_index_rows() {
        let (_d, v) = filled();
        batch(&v, &["Acme"]); // 6: starts a run (marker, org, grant)
        let after_first = key_rows(&v);
        for _ in 0..5 {
            batch(&v, &["Acme"]); // 7..=11
        }
        assert_eq!(
            key_rows(&v),
            after_first,
            "a continued run adds no key rows"
        );
        batch(&v, &["Bank"]); // 12: a new run
        assert_eq!(key_rows(&v), after_first + 3);
        batch(&v, &["Bank", "Acme"]); // 13, 14: other keys, a new run
        batch(&v, &["Acme"]); // 15: Acme again, a new run
        batch(&v, &["Acme"]); // 16: continues it
        assert_eq!(key_rows(&v), after_first + 3 + 5 + 3);
        assert!(v.verify_log().unwrap().ok);

        let seqs = |filter: LogFilter| -> Vec<i64> {
            v.log_entries(&filter)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        let org = |o: &str, before: Option<i64>, limit: Option<usize>| LogFilter {
            org: Some(o.into()),
            before,
            limit,
            ..Default::default()
        };
        let acme: Vec<i64> = [16, 15, 14, 11, 10, 9, 8, 7, 6]
            .into_iter()
            .chain(seqs(org("Acme", Some(6), None)))
            .collect();
        assert_eq!(seqs(org("Acme", None, None)), acme);
        assert_eq!(seqs(org("Bank", None, None)), [13, 12]);
        assert_eq!(
            seqs(LogFilter {
                grant_id: Some("GAcme".into()),
                ..Default::default()
            }),
            [16, 15, 14, 11, 10, 9, 8, 7, 6]
        );
        // Pages that start inside a run and end inside another.
        assert_eq!(seqs(org("Acme", Some(10), Some(3))), [9, 8, 7]);
        assert_eq!(seqs(org("Acme", Some(16), Some(3))), [15, 14, 11]);
        assert_eq!(seqs(org("Bank", Some(13), None)), [12]);
        assert_eq!(v.log_orgs().unwrap()[..2], ["Acme", "Bank"]);

        // The runs are checked: a block indexed under keys it does not name, or a run
        // marker removed where the keys change, is named by `log verify`.
        for (what, sql, bad) in [
            (
                "marker removed where the keys change",
                format!(
                    "DELETE FROM access_log_key WHERE key = x'{}' AND block = 12",
                    hex::encode(block::RUN_KEY)
                ),
                12,
            ),
            (
                "a run split without its keys",
                format!(
                    "INSERT INTO access_log_key (key, block) VALUES (x'{}', 9)",
                    hex::encode(block::RUN_KEY)
                ),
                9,
            ),
        ] {
            v.conn().execute_batch("SAVEPOINT t").unwrap();
            tamper_sql(v.conn(), &sql);
            let r = verify_chain(v.conn()).unwrap();
            assert_eq!((r.ok, r.first_bad_seq), (false, Some(bad)), "{what}: {r:?}");
            v.conn().execute_batch("ROLLBACK TO t; RELEASE t").unwrap();
        }
        assert!(v.verify_log().unwrap().ok);
    }

    /// One commit's rows are one stored block; reading by organization, by grant, page
    /// by page and across block boundaries gives what one row per entry gave.
    #[test]
    fn a_commits_rows_are_one_block_and_read_back_by_org_grant_and_page() {
        let (_d, v) = filled();
        batch(&v, &["Acme", "Clinic", "Acme", "Bank", "Acme"]); // 6..=10
        batch(&v, &["Clinic", "Clinic"]); // 11, 12
        let blocks: i64 = v
            .conn()
            .query_row("SELECT count(*) FROM access_log_block", [], |r| r.get(0))
            .unwrap();
        assert_eq!(blocks, 5 + 2);
        assert_eq!(v.log_len().unwrap(), 12);
        assert!(v.verify_log().unwrap().ok);

        let all = v.log_entries(&LogFilter::default()).unwrap();
        assert_eq!(
            all.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=12).rev().collect::<Vec<_>>()
        );
        for w in all.windows(2) {
            assert_eq!(
                w[0].prev_hash, w[1].hash,
                "entry {} links across blocks",
                w[0].seq
            );
        }
        assert_eq!(all.last().unwrap().prev_hash, GENESIS_HASH);

        let seqs = |filter: LogFilter| -> Vec<i64> {
            v.log_entries(&filter)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        let org = |o: &str| LogFilter {
            org: Some(o.into()),
            ..Default::default()
        };
        assert_eq!(seqs(org("Acme")), [10, 8, 6, 5, 3, 1]);
        assert_eq!(seqs(org("Clinic")), [12, 11, 7, 4, 2]);
        assert_eq!(seqs(org("Nobody")), Vec::<i64>::new());
        assert_eq!(
            seqs(LogFilter {
                grant_id: Some("GBank".into()),
                ..Default::default()
            }),
            [9]
        );
        assert_eq!(
            seqs(LogFilter {
                org: Some("Acme".into()),
                grant_id: Some("G1".into()),
                ..Default::default()
            }),
            [5, 3, 1],
            "both filters apply"
        );
        assert_eq!(
            seqs(LogFilter {
                before: Some(9),
                limit: Some(3),
                ..org("Acme")
            }),
            [8, 6, 5],
            "a page that starts inside a block"
        );
        assert_eq!(v.log_orgs().unwrap(), ["Acme", "Bank", "Clinic"]);
        let page = v
            .log_page(&LogFilter {
                limit: Some(2),
                before: Some(7),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            (
                page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
                page.older
            ),
            (vec![6, 5], Some(5))
        );
        assert_eq!(page.entries[0].prev_hash, page.entries[1].hash);
    }

    /// Rows appended after a mark and then reset (a request rolled back by its
    /// savepoint) are not written; the chain goes on from the mark.
    #[test]
    fn rows_reset_to_a_mark_are_not_written() {
        let (_d, v) = filled();
        v.write(|tx| {
            let mut log = LogAppender::begin(tx)?;
            log.append(&share_row("Acme", &[], &[]), None)?;
            let mark = log.mark();
            log.append(&share_row("Dropped", &[], &[]), None)?;
            log.reset(mark);
            assert_eq!(log.append(&share_row("Clinic", &[], &[]), None)?, 7);
            log.finish()
        })
        .unwrap();
        let orgs: Vec<_> = v
            .log_entries(&LogFilter::default())
            .unwrap()
            .into_iter()
            .filter_map(|e| e.org)
            .take(2)
            .collect();
        assert_eq!(orgs, ["Clinic", "Acme"]);
        assert!(v.verify_log().unwrap().ok);
        assert_eq!(v.log_orgs().unwrap(), ["Acme", "Clinic"]);
    }

    /// What finds a block's entries (its bounds, times and keys) is checked too: a
    /// block hidden from one organization's pages, or a shortened block, is named.
    #[test]
    fn verify_names_a_block_whose_index_was_altered() {
        let (_d, v) = filled();
        batch(&v, &["Acme", "Bank"]);
        let g = block::grant_key("GBank");
        for (what, sql) in [
            (
                "a key removed",
                format!(
                    "DELETE FROM access_log_key WHERE key = x'{}'",
                    hex::encode(&g)
                ),
            ),
            (
                "bounds",
                "UPDATE access_log_block SET last_seq = 6 WHERE first_seq = 6".into(),
            ),
            (
                "times",
                "UPDATE access_log_block SET max_time = max_time + 1 WHERE first_seq = 6".into(),
            ),
        ] {
            v.conn().execute_batch("SAVEPOINT t").unwrap();
            tamper_sql(v.conn(), &sql);
            let r = verify_chain(v.conn()).unwrap();
            assert_eq!((r.ok, r.first_bad_seq), (false, Some(6)), "{what}: {r:?}");
            v.conn().execute_batch("ROLLBACK TO t; RELEASE t").unwrap();
        }
        assert!(v.verify_log().unwrap().ok);
    }

    #[test]
    fn pages_of_one_organization_reach_its_oldest_row() {
        let (_d, v) = filled();
        for i in 0..4 {
            v.log_event(share_row("Acme", &[&format!("N{i}")], &["contact.email"]))
                .unwrap();
        }
        // Acme: seq 1, 3, 5 (filled) and 6..=9.
        let mut filter = LogFilter {
            org: Some("Acme".into()),
            limit: Some(3),
            ..Default::default()
        };
        let mut pages = Vec::new();
        loop {
            let page = v.log_page(&filter).unwrap();
            pages.push(page.entries.iter().map(|e| e.seq).collect::<Vec<_>>());
            match page.older {
                Some(seq) => filter.before = Some(seq),
                None => break,
            }
        }
        assert_eq!(pages, [vec![9, 8, 7], vec![6, 5, 3], vec![1]]);
        filter.before = Some(3);
        filter.limit = Some(1);
        assert_eq!(
            v.log_page(&filter).unwrap().older,
            None,
            "a page that ends on the oldest row says so"
        );
        assert_eq!(v.log_orgs().unwrap(), ["Acme", "Clinic"]);
    }

    #[test]
    fn share_counts_fall_into_the_callers_intervals() {
        let (_d, v) = new_vault();
        let mut grant = NewLogEntry::new(LogKind::GrantCreate);
        grant.org = Some("Acme".into());
        let rows = [
            (share_row("Acme", &[], &[]), "2026-11-23T09:59:59.999Z"),
            (share_row("Acme", &[], &[]), "2026-11-23T10:00:00.000Z"),
            (share_row("Clinic", &[], &[]), "2026-11-23T23:59:59.999Z"),
            (grant, "2026-11-24T01:00:00.000Z"),
            (share_row("Acme", &[], &[]), "2026-11-24T01:00:00.000Z"),
            (share_row("Acme", &[], &[]), "2026-11-25T00:00:00.000Z"),
        ];
        v.write(|tx| {
            let mut a = LogAppender::begin(tx)?;
            for (e, time) in &rows {
                a.append_at(e, time)?;
            }
            a.finish()
        })
        .unwrap();
        let day = |d: &str| format!("2026-11-{d}T00:00:00+01:00");
        // Local days in UTC+1: the 23rd runs from 22nd 23:00Z to 23rd 23:00Z.
        let counts = v
            .log_share_counts(&[day("23"), day("24"), day("25")])
            .unwrap();
        let as_vec =
            |m: &BTreeMap<String, u64>| m.iter().map(|(k, n)| (k.clone(), *n)).collect::<Vec<_>>();
        assert_eq!(
            as_vec(&counts[0]),
            [("Acme".to_string(), 2)],
            "the start is inclusive"
        );
        assert_eq!(
            as_vec(&counts[1]),
            [("Acme".to_string(), 1), ("Clinic".to_string(), 1)],
            "23:59:59.999Z is the 24th in UTC+1; the grant change is not a read"
        );
        assert_eq!(
            counts.len(),
            2,
            "the end is exclusive: the 25th's read is outside"
        );
        assert_eq!(v.log_share_counts(&[]).unwrap(), Vec::new());
        let e = v
            .log_share_counts(&["yesterday".into(), day("25")])
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"yesterday\" is not an RFC 3339 time"),
            "{e}"
        );
        assert!(v.log_share_counts(&[day("25"), day("23")]).is_err());
    }

    #[test]
    fn summary_per_org() {
        let (_d, v) = filled();
        v.log_event(share_row("Acme", &["R0", "R9"], &["address.city"]))
            .unwrap();
        let s = v.log_summary(None).unwrap();
        assert_eq!(s.len(), 2);
        let acme = &s[0];
        assert_eq!(acme.org, "Acme");
        assert_eq!(acme.requests, 4);
        assert_eq!(acme.records, 4, "R0 R2 R4 R9");
        assert_eq!(
            acme.types.iter().collect::<Vec<_>>(),
            ["address", "contact"]
        );
        assert!(acme.first_access <= acme.last_access);
        assert_eq!(v.log_summary(Some("Clinic")).unwrap()[0].requests, 2);
    }
}
