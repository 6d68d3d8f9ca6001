//! The access log: one append-only, hash-chained row per share API request and per grant
//! change, export and import; verification of the chain and per-organization summaries.
//!
//! Each row's hash is SHA-256 over `"trove-log/1\n"`, the previous row's hash and a
//! canonical encoding of the row (a JSON array of its fields in a fixed order; rows of
//! remote requests append the organization's endpoint key and the route, so rows
//! written before those columns existed hash exactly as they always did). The
//! newest seq and hash are also kept in `meta` so that deleting the newest rows shows.
//! The log holds names and ids only: never tokens, never field values.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::grant::Grant;
use crate::model::peer::Route;
use crate::vault::Vault;

pub(crate) mod stored;

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HEAD_KEY: &str = "access_log_head";

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
/// memory, and records the new head in `meta` once at [`LogAppender::finish`]. The
/// transaction must be a write transaction (it holds the database's write lock, so no
/// other process can append meanwhile).
pub struct LogAppender<'a, 'conn> {
    tx: &'a Transaction<'conn>,
    head: Option<(i64, String)>,
    dirty: bool,
}

/// A chain position saved by [`LogAppender::mark`], to undo appends rolled back with a
/// savepoint.
#[derive(Debug, Clone)]
pub struct LogMark(Option<(i64, String)>);

impl<'a, 'conn> LogAppender<'a, 'conn> {
    /// Reads the chain head inside `tx`.
    pub fn begin(tx: &'a Transaction<'conn>) -> Result<Self> {
        let head = head(tx).map_err(log_err)?;
        Ok(LogAppender {
            tx,
            head,
            dirty: false,
        })
    }

    /// The current chain position.
    pub fn mark(&self) -> LogMark {
        LogMark(self.head.clone())
    }

    /// Goes back to `mark` after the rows appended since were rolled back.
    pub fn reset(&mut self, mark: LogMark) {
        self.head = mark.0;
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
        self.tx
            .prepare_cached(
                "INSERT INTO access_log (seq, time, kind, grant_id, org, remote_addr, method, path, status, outcome, record_ids, fields, hash, org_key, route, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                seq,
                stored::time_value(time),
                e.kind.as_str(),
                e.grant_id.as_deref().map(stored::id_value),
                e.org,
                e.remote_addr,
                e.method,
                e.path,
                e.status,
                e.outcome,
                stored::ids_value(&e.record_ids),
                serde_json::to_string(&e.fields).expect("list serializes"),
                stored::hash_value(&hash),
                e.org_key,
                e.route.map(Route::as_str),
                e.count.map(|c| c as i64),
            ])?;
        self.head = Some((seq, hash));
        self.dirty = true;
        Ok(seq)
    }

    /// Records the chain head in `meta` (once for all rows appended).
    pub fn finish(self) -> Result<()> {
        if let (true, Some((seq, hash))) = (self.dirty, &self.head) {
            self.tx
                .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                .and_then(|mut st| st.execute(params![HEAD_KEY, format!("{seq}:{hash}")]))
                .map_err(|e| log_err(e.into()))?;
        }
        Ok(())
    }
}

/// Every column of a row, in the table's order before migration 9 (which `log.jsonl`
/// keeps), with the hash of the row before it as its `prev_hash`: the genesis hash (32
/// zero bytes) for row 1, and nothing (`''`) for a row whose predecessor is gone, which
/// `log verify` names as a gap.
const SELECT: &str = "SELECT seq, time, kind, grant_id, org, remote_addr, method, path, status, outcome, record_ids, fields, \
     coalesce((SELECT p.hash FROM access_log p WHERE p.seq = access_log.seq - 1), \
              CASE WHEN access_log.seq = 1 THEN zeroblob(32) ELSE '' END) AS prev_hash, \
     hash, org_key, route, count FROM access_log";

/// [`SELECT`], oldest row first (verification and `log.jsonl`).
pub(crate) fn select_in_order() -> String {
    format!("{SELECT} ORDER BY seq")
}

/// The newest row's seq and hash, if any.
pub(crate) fn head(tx: &rusqlite::Connection) -> Result<Option<(i64, String)>> {
    let head = tx
        .prepare_cached("SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, stored::read_hash(r.get_ref(1)?)?)))
        .optional()?;
    Ok(head)
}

/// The hash of row `seq`, if there is one.
pub(crate) fn hash_at(tx: &rusqlite::Connection, seq: i64) -> Result<Option<String>> {
    let hash = tx
        .prepare_cached("SELECT hash FROM access_log WHERE seq = ?1")?
        .query_row([seq], |r| stored::read_hash(r.get_ref(0)?))
        .optional()?;
    Ok(hash)
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<LogEntry> {
    let bad = |i: usize, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e)
    };
    let seq: i64 = r.get(0)?;
    let kind: String = r.get(2)?;
    let fields: String = r.get(11)?;
    let prev_hash = stored::read_hash(r.get_ref(12)?)?;
    let route = match r.get::<_, Option<String>>(15)?.as_deref() {
        None => None,
        Some("direct") => Some(Route::Direct),
        Some("relayed") => Some(Route::Relayed),
        Some(other) => return Err(bad(15, format!("unknown route {other}").into())),
    };
    Ok(LogEntry {
        seq,
        time: stored::read_time(r.get_ref(1)?)?,
        kind: LogKind::parse(&kind).ok_or_else(|| bad(2, format!("unknown kind {kind}").into()))?,
        grant_id: stored::read_id(r.get_ref(3)?)?,
        org: r.get(4)?,
        remote_addr: r.get(5)?,
        method: r.get(6)?,
        path: r.get(7)?,
        status: r.get::<_, Option<i64>>(8)?.map(|s| s as u16),
        outcome: r.get(9)?,
        record_ids: stored::read_ids(r.get_ref(10)?)?,
        fields: serde_json::from_str(&fields).map_err(|e| bad(11, e.into()))?,
        org_key: r.get(14)?,
        route,
        count: r.get::<_, Option<i64>>(16)?.map(|c| c.max(0) as u64),
        prev_hash,
        hash: stored::read_hash(r.get_ref(13)?)?,
    })
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
                "SELECT DISTINCT org FROM access_log WHERE org IS NOT NULL ORDER BY org",
            )?;
            let orgs = stmt.query_map([], |r| r.get(0))?;
            Ok(orgs.collect::<rusqlite::Result<_>>()?)
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
            // Times are stored as integer milliseconds (see `stored::time_value`).
            let mut stmt = tx.prepare_cached(
                "SELECT time, org FROM access_log WHERE kind = ?1 AND org IS NOT NULL AND time >= ?2 AND time < ?3",
            )?;
            let mut rows = stmt.query(params![LogKind::Share.as_str(), first, last])?;
            while let Some(r) = rows.next()? {
                let t: i64 = r.get(0)?;
                let i = ms.partition_point(|&b| b <= t) - 1;
                *out[i].entry(r.get::<_, String>(1)?).or_insert(0) += 1;
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
        let limit = filter.limit.map(|l| l as i64).unwrap_or(-1);
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "{SELECT} WHERE (?1 IS NULL OR org = ?1) AND (?2 IS NULL OR grant_id = ?2) AND (?4 IS NULL OR seq < ?4) ORDER BY seq DESC LIMIT ?3"
            ))?;
            let grant_id = filter.grant_id.as_deref().map(stored::id_value);
            let mut rows = stmt.query(params![filter.org, grant_id, limit, filter.before])?;
            while let Some(r) = rows.next()? {
                f(from_row(r)?)?;
            }
            Ok(())
        })
    }

    /// The number of log rows.
    pub fn log_len(&self) -> Result<u64> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM access_log", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
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

/// Recomputes the hash chain on `conn` (see [`Vault::verify_log`]).
pub(crate) fn verify_chain(tx: &rusqlite::Connection) -> Result<VerifyReport> {
    let mut stmt = tx.prepare(&select_in_order())?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS_HASH.to_string();
    let mut expect_seq = 1i64;
    let mut n = 0u64;
    let bad = |n, seq, p: String| VerifyReport {
        entries: n,
        ok: false,
        first_bad_seq: Some(seq),
        problem: Some(p),
    };
    while let Some(r) = rows.next()? {
        n += 1;
        let seq: i64 = r.get(0)?;
        let e = match from_row(r) {
            Ok(e) => e,
            Err(_) => return Ok(bad(n, seq, format!("entry {seq} does not decode"))),
        };
        if seq != expect_seq {
            return Ok(bad(
                n,
                seq,
                format!(
                    "entry {seq} follows entry {}: entries are missing",
                    expect_seq - 1
                ),
            ));
        }
        if e.prev_hash != prev {
            return Ok(bad(
                n,
                seq,
                format!("entry {seq} does not link to the entry before it"),
            ));
        }
        let new = NewLogEntry {
            kind: e.kind,
            grant_id: e.grant_id.clone(),
            org: e.org.clone(),
            remote_addr: e.remote_addr.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            outcome: e.outcome.clone(),
            record_ids: e.record_ids.clone(),
            fields: e.fields.clone(),
            org_key: e.org_key.clone(),
            route: e.route,
            count: e.count,
        };
        if chain_hash(&prev, seq, &e.time, &new) != e.hash {
            return Ok(bad(
                n,
                seq,
                format!("entry {seq} was altered (its hash does not match)"),
            ));
        }
        prev = e.hash;
        expect_seq = seq + 1;
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

    /// Lets a test tamper like an attacker holding the key: drop the guards, edit.
    fn tamper(v: &Vault, sql: &str) {
        v.conn()
            .execute_batch(&format!(
                "DROP TRIGGER access_log_no_update; DROP TRIGGER access_log_no_delete; {sql}"
            ))
            .unwrap();
    }

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
        for sql in [
            "UPDATE access_log SET count = 1",
            "UPDATE access_log SET count = NULL",
        ] {
            v.conn().execute_batch("SAVEPOINT t").unwrap();
            tamper(&v, sql);
            assert_eq!(
                verify_chain(v.conn()).unwrap().first_bad_seq,
                Some(1),
                "{sql}"
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
        let tamper = |sql: &str| {
            conn.execute_batch(&format!(
                "DROP TRIGGER IF EXISTS access_log_no_update; SAVEPOINT t; {sql}"
            ))
            .unwrap();
            let r = verify_chain(&conn).unwrap();
            conn.execute_batch("ROLLBACK TO t; RELEASE t").unwrap();
            r.first_bad_seq
        };
        assert_eq!(
            tamper("UPDATE access_log SET route = 'direct' WHERE seq = 3"),
            Some(3),
            "the route is covered"
        );
        assert_eq!(
            tamper(&format!(
                "UPDATE access_log SET org_key = '{}' WHERE seq = 3",
                "cd".repeat(32)
            )),
            Some(3),
            "the organization key is covered"
        );
        assert_eq!(
            tamper("UPDATE access_log SET org_key = NULL, route = NULL WHERE seq = 3"),
            Some(3),
            "a remote row cannot pass for a local one"
        );
        assert_eq!(
            tamper(&format!(
                "UPDATE access_log SET org_key = '{key}', route = 'direct' WHERE seq = 1"
            )),
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
        let up = v
            .conn()
            .execute("UPDATE access_log SET org = 'x' WHERE seq = 2", []);
        assert!(up.is_err(), "update must be refused");
        let del = v.conn().execute("DELETE FROM access_log WHERE seq = 2", []);
        assert!(del.is_err(), "delete must be refused");
        assert!(v.verify_log().unwrap().ok);
    }

    #[test]
    fn verify_names_an_edited_entry() {
        let (_d, v) = filled();
        tamper(
            &v,
            "UPDATE access_log SET org = 'Someone else' WHERE seq = 3;",
        );
        let r = v.verify_log().unwrap();
        assert_eq!((r.ok, r.first_bad_seq), (false, Some(3)), "{r:?}");
    }

    #[test]
    fn verify_names_the_entry_after_a_deleted_one() {
        let (_d, v) = filled();
        tamper(&v, "DELETE FROM access_log WHERE seq = 2;");
        let r = v.verify_log().unwrap();
        assert_eq!((r.ok, r.first_bad_seq), (false, Some(3)), "{r:?}");
    }

    #[test]
    fn verify_catches_a_cut_off_tail() {
        let (_d, v) = filled();
        tamper(&v, "DELETE FROM access_log WHERE seq = 5;");
        let r = v.verify_log().unwrap();
        assert_eq!((r.ok, r.first_bad_seq), (false, Some(5)), "{r:?}");
    }

    #[test]
    fn verify_names_swapped_entries() {
        let (_d, v) = filled();
        // Swap the contents of rows 2 and 4 (their seq stays in place).
        tamper(
            &v,
            "UPDATE access_log SET seq = -2 WHERE seq = 2;
             UPDATE access_log SET seq = 2 WHERE seq = 4;
             UPDATE access_log SET seq = 4 WHERE seq = -2;",
        );
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
