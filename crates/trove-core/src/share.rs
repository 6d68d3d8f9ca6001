//! The share API's decisions, independent of HTTP: authenticate a token, check the grant
//! (read inside the transaction, never cached), project records, count the use and write
//! the access-log row, all in one transaction, so that nothing leaves without its log row.
//!
//! [`ShareEngine::handle_batch`] is the group commit: several requests are decided in one
//! write transaction (a failing one rolled back alone) and committed with one fsync; the
//! caller sends no response before it returns. While another writer (an import) holds
//! the vault's write lock, a batch is decided on a read snapshot and logged in the side
//! [`journal`] instead, so that sharing never waits for an import.

mod fold;
pub mod journal;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, TransactionBehavior};

use crate::access_log::{LogAppender, LogFault, LogKind, NewLogEntry};
use crate::error::{Error, Result};
use crate::grant;
use crate::model::grant::{Grant, GrantStatus};
use crate::model::peer::RemotePeer;
use crate::model::scope::project;
use crate::record::{get_record, Record};
use crate::token::{ShareToken, TokenFormatError};
use crate::vault::{Vault, BUSY_TIMEOUT};

pub use fold::source_class;
use fold::{Fold, Folder};
use journal::{Journal, JournalRow, MERGE_PER_BATCH, SIDE_AFTER};

/// Who asked, and how (for the log; never the token or a header value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMeta {
    pub remote_addr: String,
    pub method: String,
    /// The request path with its query, cut to 512 characters.
    pub path: String,
    /// How the request reached the server.
    pub transport: Transport,
}

/// How a request reached the server. Grants bound to an organization key answer only
/// remote requests from that key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP on loopback, or HTTPS: the organization's key is not known.
    Http,
    /// A stream of an organization endpoint's remote connection: its key was
    /// authenticated by the connection's handshake.
    Remote(RemotePeer),
}

/// The credential a request carried.
#[derive(Debug)]
pub enum Credential {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a well-formed token, or its checksum fails: refused without a lookup.
    Malformed(TokenFormatError),
    /// A well-formed token.
    Token(ShareToken),
}

impl Credential {
    /// Reads an `Authorization` header value (`Bearer <token>`).
    pub fn from_authorization(header: Option<&str>) -> Credential {
        let Some(h) = header else {
            return Credential::Missing;
        };
        let mut parts = h.trim().splitn(2, ' ');
        let scheme = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or_default().trim();
        if !scheme.eq_ignore_ascii_case("bearer") || value.is_empty() {
            return Credential::Missing;
        }
        match ShareToken::parse(value.to_string()) {
            Ok(t) => Credential::Token(t),
            Err(e) => Credential::Malformed(e),
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareOp {
    /// `GET /v1/grant`.
    Grant,
    /// `GET /v1/records[?type=T]`.
    Records { record_type: Option<String> },
    /// `GET /v1/records/{id}`.
    Record { id: String },
    /// `POST /v1/revoke`.
    Revoke,
    /// Refused by the server before authentication (foreign Host, too many failures,
    /// malformed request): decided by the caller, logged here.
    Refused {
        status: u16,
        /// The `denied:<reason>` of the log row (lowercase and `_`).
        reason: &'static str,
        /// The RFC 6750 `error` code.
        error: &'static str,
        description: String,
    },
}

/// One share API request.
#[derive(Debug)]
pub struct ShareRequest {
    pub meta: RequestMeta,
    pub credential: Credential,
    pub op: ShareOp,
}

/// The body of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// This token's grant.
    Grant(Grant),
    /// In-scope records, projected, newest first. Shared: every request of one batch
    /// that asks the same grant for the same list gets the same list.
    Records(Arc<[Record]>),
    /// One record, projected.
    Record(Record),
    /// `POST /v1/revoke` done (whatever the token was).
    Revoked,
    /// An error: RFC 6750 `error` code and a description without any secret or value.
    Error {
        error: &'static str,
        description: String,
    },
}

/// The decision on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareReply {
    /// The HTTP status.
    pub status: u16,
    pub body: ReplyBody,
    /// True when the request presented a token that did not authenticate (the server
    /// counts these per remote address for its rate limit).
    pub auth_failed: bool,
}

impl ShareReply {
    fn error(status: u16, error: &'static str, description: impl Into<String>) -> ShareReply {
        ShareReply {
            status,
            body: ReplyBody::Error {
                error,
                description: description.into(),
            },
            auth_failed: false,
        }
    }

    /// The reply when the vault cannot be used (locked, busy, or the log write failed):
    /// `503` and no data.
    pub fn unavailable(description: impl Into<String>) -> ShareReply {
        ShareReply::error(503, "temporarily_unavailable", description)
    }

    /// The `WWW-Authenticate` header RFC 6750 asks for, if this reply needs one.
    pub fn www_authenticate(&self) -> Option<String> {
        match (&self.body, self.status) {
            (ReplyBody::Error { error, description }, 401 | 403) => {
                if *error == "invalid_request" && self.status == 401 {
                    Some("Bearer realm=\"trove\"".into())
                } else {
                    Some(format!(
                        "Bearer realm=\"trove\", error=\"{error}\", error_description=\"{}\"",
                        description.replace(['"', '\\'], "'")
                    ))
                }
            }
            _ => None,
        }
    }
}

/// Decides share API requests against a vault. Holds the token-hash key, never a grant.
pub struct ShareEngine {
    token_key: zeroize::Zeroizing<[u8; 32]>,
    fault: Option<Arc<dyn LogFault>>,
    audit: bool,
    /// Failures of the current minute waiting for their summary row (see [`fold`]).
    folder: Mutex<Folder>,
    /// The side journal, opened when first needed.
    journal: Mutex<Option<Journal>>,
    /// Whether the journal may hold rows the main log has not merged.
    journal_pending: AtomicBool,
    /// Whether the last batch found the write lock held: the next one then does not
    /// wait [`SIDE_AFTER`] for it again, only tries it.
    writer_seen: AtomicBool,
}

impl std::fmt::Debug for ShareEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareEngine")
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

impl ShareEngine {
    /// An engine for `vault` (and any other handle on the same vault).
    pub fn new(vault: &Vault) -> ShareEngine {
        ShareEngine {
            token_key: vault.token_key(),
            fault: None,
            audit: true,
            folder: Mutex::new(Folder::default()),
            journal: Mutex::new(None),
            journal_pending: AtomicBool::new(journal::exists(vault)),
            writer_seen: AtomicBool::new(false),
        }
    }

    /// The side journal, opened on first use.
    fn journal<'g>(
        &self,
        guard: &'g mut MutexGuard<'_, Option<Journal>>,
        vault: &Vault,
    ) -> Result<&'g mut Journal> {
        if guard.is_none() {
            **guard = Some(Journal::open(vault)?);
        }
        Ok(guard.as_mut().expect("opened above"))
    }

    fn lock_journal(&self) -> MutexGuard<'_, Option<Journal>> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_folder(&self) -> MutexGuard<'_, Folder> {
        self.folder.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new batch's memo, with a copy of the folded failures (kept if it commits), the
    /// uses waiting in the side journal, and whether it is a side batch.
    fn memo(&self, journal_uses: HashMap<String, u64>, side: bool) -> BatchMemo {
        BatchMemo {
            folder: self.lock_folder().clone(),
            journal_uses,
            side,
            ..BatchMemo::default()
        }
    }

    /// Injects a failure into the access-log write (tests).
    pub fn with_log_fault(mut self, fault: Arc<dyn LogFault>) -> ShareEngine {
        self.fault = Some(fault);
        self
    }

    /// Writes no access-log rows. Exists only so the `share` benchmark can measure what
    /// auditing costs: compiled only with the `bench` feature, which nothing that ships
    /// enables, so the CLI, the app and the server have no unaudited path at all.
    #[cfg(feature = "bench")]
    #[doc(hidden)]
    pub fn unaudited_for_benchmarks_only(mut self) -> ShareEngine {
        self.audit = false;
        self
    }

    /// Decides one request in its own transaction.
    pub fn handle(&self, vault: &Vault, req: ShareRequest) -> ShareReply {
        self.handle_batch(vault, vec![req])
            .pop()
            .expect("one reply per request")
    }

    /// Decides requests in one write transaction (one commit, one fsync); returns one
    /// reply per request, in order, after the commit. If the commit fails, every reply
    /// is `503` with no data. If another connection holds the write lock for longer
    /// than [`SIDE_AFTER`], the batch is decided on a read snapshot and its rows and
    /// uses are committed to the side [`journal`] instead (see [`Self::run_side`]).
    ///
    /// A request that fails (a database error, a log row that cannot be written) must
    /// roll back alone. The batch is first decided without savepoints; only if one of
    /// its requests fails is the whole transaction rolled back and the batch decided
    /// again with one savepoint per request, so that the failure stays with its own
    /// request. Nothing is committed or answered before that.
    pub fn handle_batch(&self, vault: &Vault, reqs: Vec<ShareRequest>) -> Vec<ShareReply> {
        let now = vault.clock().now();
        match self.run_batch(vault, &reqs, now, false) {
            Some(out) => out,
            None => self
                .run_batch(vault, &reqs, now, true)
                .expect("an isolated run decides every request"),
        }
    }

    /// One attempt at a batch. Without `isolate`, the first failing request abandons
    /// the attempt (`None`, the transaction rolled back); with it, each request runs
    /// in its own savepoint and a failure answers `503` for that request only.
    fn run_batch(
        &self,
        vault: &Vault,
        reqs: &[ShareRequest],
        now: DateTime<Utc>,
        isolate: bool,
    ) -> Option<Vec<ShareReply>> {
        let n = reqs.len();
        let all = |why: &str| Some((0..n).map(|_| ShareReply::unavailable(why)).collect());
        let conn = vault.conn();
        let seen = self.writer_seen.load(Ordering::Relaxed);
        let _ = conn.busy_timeout(if seen { Duration::ZERO } else { SIDE_AFTER });
        let begun = Transaction::new_unchecked(conn, TransactionBehavior::Immediate);
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
        self.writer_seen.store(begun.is_err(), Ordering::Relaxed);
        let tx = match begun.map_err(Error::from) {
            Ok(tx) => tx,
            Err(Error::Busy) => return Some(self.run_side(vault, reqs, now)),
            Err(e) => {
                tracing::warn!(error = %e, "share: cannot begin transaction");
                return all("the vault is busy; retry");
            }
        };
        let mut log = match LogAppender::begin(&tx) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(code = %e.code(), "share: cannot read the access log head");
                return all("the access log could not be written; retry");
            }
        };
        // What side batches left in the journal joins the log first, in this commit, at
        // most MERGE_PER_BATCH rows at a time; the uses of rows still waiting count.
        let mut journal = self.lock_journal();
        let mut held = None;
        let mut journal_uses = HashMap::new();
        if self.journal_pending.load(Ordering::Acquire) {
            let begun = self.journal(&mut journal, vault).and_then(|j| {
                j.begin()?;
                Ok(HeldJournal { j, done: false })
            });
            let merged = begun.and_then(|h| {
                let last = h.j.merge_into(&tx, &mut log, Some(MERGE_PER_BATCH))?;
                journal_uses = h.j.pending_uses(&tx)?;
                Ok((h, last))
            });
            match merged {
                Ok(m) => held = Some(m),
                Err(e) => {
                    tracing::error!(code = %e.code(), "share: cannot merge the side journal");
                    return all("the access log could not be written; retry");
                }
            }
        }
        // Read inside this transaction only: a second attempt starts afresh.
        let mut memo = self.memo(journal_uses, false);
        let secs = now.timestamp();
        if self.audit {
            for row in memo.folder.take_due(secs, false) {
                if log.append(&row, self.fault.as_deref()).is_err() {
                    return if isolate {
                        all("the access log could not be written; retry")
                    } else {
                        None
                    };
                }
            }
        }
        let mut out = Vec::with_capacity(n);
        for req in reqs {
            if isolate {
                out.push(self.one(vault, &tx, &mut log, &mut memo, req, now));
                continue;
            }
            let Ok((reply, entry)) = self.decide(vault, &tx, &mut memo, req, now) else {
                return None;
            };
            if self.audit
                && needs_row(&mut memo.folder, &entry, &req.meta, secs)
                && log.append(&entry, self.fault.as_deref()).is_err()
            {
                return None;
            }
            out.push(reply);
        }
        let committed = log.finish().and_then(|()| Ok(tx.commit()?));
        if let Err(e) = committed {
            tracing::warn!(error = %e, "share: commit failed; nothing disclosed");
            return all("the access log could not be written; retry");
        }
        *self.lock_folder() = memo.folder;
        if let Some((mut h, last)) = held {
            // The rows merged by the commit above leave the journal. A failure leaves
            // them for the next merge, which skips them.
            let cleared = last
                .map_or(Ok(()), |last| h.j.clear(last))
                .and_then(|()| h.j.end())
                .and_then(|()| h.j.is_empty());
            h.done = true;
            match cleared {
                Ok(empty) => self.journal_pending.store(!empty, Ordering::Release),
                Err(e) => tracing::warn!(code = %e.code(), "share: cannot clear the side journal"),
            }
        }
        Some(out)
    }

    /// A batch while another connection holds the write lock: decided on a read
    /// snapshot (the vault as it was before the writer's transaction), its log rows and
    /// uses committed to the side journal before any reply; if that fails, every reply
    /// is `503` and nothing is disclosed. A revocation, or a first remote use that would
    /// bind a grant to a key, changes the grant itself and answers `503` busy.
    fn run_side(
        &self,
        vault: &Vault,
        reqs: &[ShareRequest],
        now: DateTime<Utc>,
    ) -> Vec<ShareReply> {
        let all = |why: &str| reqs.iter().map(|_| ShareReply::unavailable(why)).collect();
        let mut guard = self.lock_journal();
        let j = match self.journal(&mut guard, vault) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(code = %e.code(), "share: cannot open the side journal");
                return all("the access log could not be written; retry");
            }
        };
        if let Err(e) = j.begin() {
            tracing::warn!(error = %e, "share: the side journal is busy");
            return all("the vault is busy; retry");
        }
        let decided = self.decide_side(vault, j, reqs, now);
        let (out, rows, folder) = match decided {
            Ok(d) => d,
            Err(e) => {
                j.rollback();
                tracing::warn!(
                    code = %e.code(),
                    "share: side batch failed; nothing disclosed"
                );
                return all("the access log could not be written; retry");
            }
        };
        if let Err(e) = j.commit(&rows) {
            tracing::error!(
                code = %e.code(),
                "share: side journal write failed; nothing disclosed"
            );
            return all("the access log could not be written; retry");
        }
        self.journal_pending.store(true, Ordering::Release);
        *self.lock_folder() = folder;
        out
    }

    /// Decides a side batch inside the journal's write lock: the replies, the journal
    /// rows to commit and the folded failures to keep if they commit.
    fn decide_side(
        &self,
        vault: &Vault,
        j: &mut Journal,
        reqs: &[ShareRequest],
        now: DateTime<Utc>,
    ) -> Result<(Vec<ShareReply>, Vec<JournalRow>, Folder)> {
        let tx = Transaction::new_unchecked(vault.conn(), TransactionBehavior::Deferred)?;
        let mut memo = self.memo(j.pending_uses(&tx)?, true);
        let time = crate::now_rfc3339();
        let mut rows = Vec::new();
        let mut keep = |entry: Option<NewLogEntry>, use_grant: Option<String>| {
            if let (Some(e), Some(f)) = (&entry, self.fault.as_deref()) {
                f.before_write(e)?;
            }
            rows.push(JournalRow {
                time: time.clone(),
                entry,
                use_grant,
            });
            Ok::<_, Error>(())
        };
        let secs = now.timestamp();
        if self.audit {
            for row in memo.folder.take_due(secs, false) {
                keep(Some(row), None)?;
            }
        }
        let mut out = Vec::with_capacity(reqs.len());
        for req in reqs {
            let (reply, entry) = self.decide(vault, &tx, &mut memo, req, now)?;
            let used = memo.used.take();
            let logged = self.audit && needs_row(&mut memo.folder, &entry, &req.meta, secs);
            if logged || used.is_some() {
                keep(logged.then_some(entry), used)?;
            }
            out.push(reply);
        }
        tx.rollback()?;
        Ok((out, rows, memo.folder))
    }

    /// Writes the rows that sum up folded failures: those whose minute is over, or every
    /// one with `all` (before the server stops or the vault locks). Servers call it now
    /// and then, so that a minute's summary does not wait for the next request.
    ///
    /// It also merges the side journal (unless a writer still holds the vault). While a
    /// writer holds it, the due rows wait, or with `all` go to the side journal.
    pub fn flush_failures(&self, vault: &Vault, all: bool) -> Result<usize> {
        self.merge_journal(vault);
        let mut guard = self.lock_folder();
        if !self.audit || !guard.has_pending() {
            return Ok(0);
        }
        let mut folder = guard.clone();
        let rows = folder.take_due(Utc::now().timestamp(), all);
        if rows.is_empty() {
            return Ok(0);
        }
        let conn = vault.conn();
        conn.busy_timeout(SIDE_AFTER)?;
        let written = vault.write(|tx| {
            let mut log = LogAppender::begin(tx)?;
            for row in &rows {
                log.append(row, self.fault.as_deref())?;
            }
            log.finish()
        });
        conn.busy_timeout(BUSY_TIMEOUT)?;
        match written {
            Ok(()) => {}
            Err(Error::Busy) if !all => return Ok(0),
            Err(Error::Busy) => self.journal_rows(vault, rows.clone())?,
            Err(e) => return Err(e),
        }
        *guard = folder;
        Ok(rows.len())
    }

    /// Commits log rows to the side journal (the vault's write lock being held).
    fn journal_rows(&self, vault: &Vault, rows: Vec<NewLogEntry>) -> Result<()> {
        if let Some(f) = self.fault.as_deref() {
            rows.iter().try_for_each(|r| f.before_write(r))?;
        }
        let time = crate::now_rfc3339();
        let rows: Vec<JournalRow> = rows
            .into_iter()
            .map(|e| JournalRow {
                time: time.clone(),
                entry: Some(e),
                use_grant: None,
            })
            .collect();
        let mut guard = self.lock_journal();
        let j = self.journal(&mut guard, vault)?;
        j.begin()?;
        j.commit(&rows)?;
        self.journal_pending.store(true, Ordering::Release);
        Ok(())
    }

    /// Merges the side journal into the log now, unless a writer holds the vault (its
    /// rows then wait for the next batch or call). Servers call it on their idle timer
    /// (through [`Self::flush_failures`]).
    pub fn merge_journal(&self, vault: &Vault) {
        if !self.journal_pending.load(Ordering::Acquire) {
            return;
        }
        let mut guard = self.lock_journal();
        let merged = self.journal(&mut guard, vault).and_then(|j| {
            journal::merge(vault, j, SIDE_AFTER)?;
            j.is_empty()
        });
        match merged {
            Ok(empty) => self.journal_pending.store(!empty, Ordering::Release),
            Err(Error::Busy) => {}
            Err(e) => tracing::warn!(code = %e.code(), "share: cannot merge the side journal"),
        }
    }

    fn one(
        &self,
        vault: &Vault,
        tx: &Transaction<'_>,
        log: &mut LogAppender<'_, '_>,
        memo: &mut BatchMemo,
        req: &ShareRequest,
        now: DateTime<Utc>,
    ) -> ShareReply {
        let mark = log.mark();
        if savepoint(tx, "SAVEPOINT share_req").is_err() {
            return ShareReply::unavailable("the vault is busy; retry");
        }
        let undo = || {
            let _ = tx.execute_batch("ROLLBACK TO share_req; RELEASE share_req");
        };
        let decided = self.decide(vault, tx, memo, req, now);
        let (reply, entry) = match decided {
            Ok(d) => d,
            Err(e) => {
                // Roll back whatever the decision did, then log the failure itself.
                undo();
                if tx.execute_batch("SAVEPOINT share_req").is_err() {
                    return ShareReply::unavailable("the vault is busy; retry");
                }
                tracing::warn!(code = %e.code(), "share: request failed");
                let mut entry = base_entry(&req.meta);
                entry.status = Some(503);
                entry.outcome = "denied:unavailable".into();
                (
                    ShareReply::unavailable("the vault could not answer; retry"),
                    entry,
                )
            }
        };
        if self.audit && needs_row(&mut memo.folder, &entry, &req.meta, now.timestamp()) {
            if let Err(e) = log.append(&entry, self.fault.as_deref()) {
                undo();
                log.reset(mark);
                tracing::error!(
                    code = %e.code(),
                    "share: access log write failed; nothing disclosed"
                );
                return ShareReply::unavailable("the access log could not be written; retry");
            }
        }
        if savepoint(tx, "RELEASE share_req").is_err() {
            undo();
            log.reset(mark);
            return ShareReply::unavailable("the vault is busy; retry");
        }
        reply
    }

    fn decide(
        &self,
        vault: &Vault,
        tx: &Transaction<'_>,
        memo: &mut BatchMemo,
        req: &ShareRequest,
        now: DateTime<Utc>,
    ) -> Result<(ShareReply, NewLogEntry)> {
        let mut entry = base_entry(&req.meta);
        let deny = |mut entry: NewLogEntry, reason: &str, reply: ShareReply| {
            entry.status = Some(reply.status);
            entry.outcome = format!("denied:{reason}");
            (reply, entry)
        };
        if let ShareOp::Refused {
            status,
            reason,
            error,
            description,
        } = &req.op
        {
            return Ok(deny(
                entry,
                reason,
                ShareReply::error(*status, error, description.clone()),
            ));
        }
        let revoke = req.op == ShareOp::Revoke;
        // RFC 7009: revocation answers 200 whatever the token; failures are not counted.
        let unauth = |entry, reason: &str, desc: &str| {
            let reply = if revoke {
                ShareReply {
                    status: 200,
                    body: ReplyBody::Revoked,
                    auth_failed: false,
                }
            } else {
                ShareReply {
                    auth_failed: reason != "missing_token",
                    ..ShareReply::error(
                        401,
                        if reason == "missing_token" {
                            "invalid_request"
                        } else {
                            "invalid_token"
                        },
                        desc,
                    )
                }
            };
            deny(entry, reason, reply)
        };
        let token = match &req.credential {
            Credential::Missing => {
                return Ok(unauth(entry, "missing_token", "a bearer token is required"))
            }
            Credential::Malformed(TokenFormatError::BadChecksum) => {
                return Ok(unauth(
                    entry,
                    "bad_checksum",
                    "the token's checksum does not match: it was mistyped or cut off",
                ))
            }
            Credential::Malformed(TokenFormatError::Malformed) => {
                return Ok(unauth(entry, "malformed_token", "the token is malformed"))
            }
            Credential::Token(t) => t,
        };
        let Some(mut g) =
            grant::find_by_token_cached(tx, &self.token_key, token, now, &mut memo.scopes)?
        else {
            return Ok(unauth(entry, "unknown_token", "the token is not valid"));
        };
        if let Some(n) = memo.journal_uses.get(&g.id) {
            // Uses waiting in the side journal count toward max_uses.
            g.uses += n;
            g.status = g.status_at(now);
        }
        entry.grant_id = Some(g.id.clone());
        entry.org = Some(g.org.clone());
        // Sender-constrained tokens: a bound grant answers only its organization's key.
        match (&req.meta.transport, g.org_key.as_deref()) {
            (Transport::Http, Some(_)) => {
                return Ok(unauth(
                    entry,
                    "key_bound",
                    "this grant is bound to an organization's key: use it over a remote connection from that key",
                ))
            }
            (Transport::Remote(p), Some(bound)) if bound != p.org_key.to_string() => {
                return Ok(unauth(
                    entry,
                    "wrong_key",
                    "this token is bound to another organization's key",
                ))
            }
            _ => {}
        }
        match g.status {
            GrantStatus::Active => {}
            GrantStatus::Revoked => return Ok(unauth(entry, "revoked", "the grant was revoked")),
            GrantStatus::Expired => return Ok(unauth(entry, "expired", "the grant has expired")),
            GrantStatus::Exhausted => {
                return Ok(unauth(
                    entry,
                    "exhausted",
                    "the grant has used up its allowed uses",
                ))
            }
        }
        let busy = |entry| {
            deny(
                entry,
                "busy",
                ShareReply::unavailable("the vault is busy; retry"),
            )
        };
        if let (Transport::Remote(p), None) = (&req.meta.transport, &g.org_key) {
            // The first remote use binds the grant to this organization's key.
            if memo.side {
                return Ok(busy(entry));
            }
            grant::bind_org_key(tx, &g.id, &p.org_key)?;
        }
        let ok = |mut entry: NewLogEntry, status: u16, body: ReplyBody| {
            entry.status = Some(status);
            (
                ShareReply {
                    status,
                    body,
                    auth_failed: false,
                },
                entry,
            )
        };
        match &req.op {
            ShareOp::Grant => Ok(ok(entry, 200, ReplyBody::Grant(g))),
            ShareOp::Revoke if memo.side => Ok(busy(entry)),
            ShareOp::Revoke => {
                grant::revoke_in(vault, tx, &g.id)?;
                entry.kind = LogKind::GrantRevoke;
                Ok(ok(entry, 200, ReplyBody::Revoked))
            }
            ShareOp::Records { record_type } => {
                match record_type {
                    Some(t) if g.scope.fields_for(t).is_none() => {
                        return Ok(deny(
                            entry,
                            "insufficient_scope",
                            ShareReply::error(
                                403,
                                "insufficient_scope",
                                format!("the grant does not cover the type {t:?}"),
                            ),
                        ))
                    }
                    _ => {}
                };
                let listing = memo.listing(tx, &g, record_type.as_deref())?;
                entry.record_ids = listing.record_ids.clone();
                entry.fields = listing.fields.clone();
                memo.count_use(tx, &g.id)?;
                Ok(ok(entry, 200, ReplyBody::Records(listing.records.clone())))
            }
            ShareOp::Record { id } => {
                let found = get_record(tx, id)?;
                let projected = found.as_ref().and_then(|r| project(r, &g.scope));
                match projected {
                    Some(r) => {
                        disclose(&mut entry, std::slice::from_ref(&r));
                        memo.count_use(tx, &g.id)?;
                        Ok(ok(entry, 200, ReplyBody::Record(r)))
                    }
                    None => {
                        // Absent and out of scope answer alike; only the log tells them apart.
                        let reason = if found.is_some() {
                            "out_of_scope"
                        } else {
                            "not_found"
                        };
                        Ok(deny(entry, reason, not_found()))
                    }
                }
            }
            ShareOp::Refused { .. } => unreachable!("handled above"),
        }
    }
}

/// WAL frames after which the gate's own connection checkpoints (SQLite's default is
/// 1,000). A checkpoint on the gate's connection stalls every request of the batch
/// behind it (it copies pages and waits for two fsyncs), so servers run
/// [`checkpoint_wal`] on another connection instead and this is only the backstop.
pub const GATE_AUTOCHECKPOINT_FRAMES: u32 = 10_000;

/// Prepares the connection that [`ShareEngine::handle_batch`] runs on: room for every
/// statement of the hot path in the prepared-statement cache, and a higher
/// auto-checkpoint threshold (see [`GATE_AUTOCHECKPOINT_FRAMES`]). Durability is
/// unchanged: `synchronous` stays `FULL`, every commit is fsync'd.
pub fn tune_gate_connection(vault: &Vault) -> Result<()> {
    let conn = vault.conn();
    conn.set_prepared_statement_cache_capacity(128);
    conn.pragma_update(None, "wal_autocheckpoint", GATE_AUTOCHECKPOINT_FRAMES)?;
    Ok(())
}

/// Copies committed WAL frames into the database without blocking the writer
/// (`PRAGMA wal_checkpoint(PASSIVE)`), on `vault`'s own connection. A server calls it
/// periodically from a thread other than the gate's, so that the gate never pays for
/// checkpoints. Returns the WAL's size and how many of its frames are checkpointed.
pub fn checkpoint_wal(vault: &Vault) -> Result<(i64, i64)> {
    Ok(vault
        .conn()
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })?)
}

/// One `GET /v1/records` answer: the projected records and what the log row names.
struct Listing {
    records: Arc<[Record]>,
    record_ids: Vec<String>,
    fields: Vec<String>,
}

/// What one batch has already read inside its transaction. Only record data lives
/// here, never a grant's status: the batch's write transaction holds the database's
/// write lock and the engine never writes records, so a second read in the same
/// transaction would return exactly the same rows. Dropped when the batch ends.
#[derive(Default)]
struct BatchMemo {
    /// Keyed by grant id (a grant's scope never changes) and the requested type.
    listings: HashMap<(String, Option<String>), Arc<Listing>>,
    /// Parsed scope texts (never a grant's status: that is read on every request).
    scopes: grant::ScopeCache,
    /// This attempt's copy of the engine's folded failures, kept if it commits.
    folder: Folder,
    /// Per grant, the uses in the side journal that `grants.uses` does not hold yet
    /// (in a side batch, also this batch's own).
    journal_uses: HashMap<String, u64>,
    /// A side batch (decided on a read snapshot): it writes nothing to the vault.
    side: bool,
    /// In a side batch, the grant whose use the request being decided counted.
    used: Option<String>,
}

/// The side journal's transaction during a main batch (held so that no side batch of
/// any process writes meanwhile); rolled back unless the batch committed.
struct HeldJournal<'j> {
    j: &'j mut Journal,
    done: bool,
}

impl Drop for HeldJournal<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.j.rollback();
        }
    }
}

impl BatchMemo {
    /// Counts a use of grant `id`: in `tx`, or in a side batch for the journal.
    fn count_use(&mut self, tx: &Transaction<'_>, id: &str) -> Result<()> {
        if !self.side {
            return grant::count_use(tx, id);
        }
        *self.journal_uses.entry(id.to_string()).or_default() += 1;
        self.used = Some(id.to_string());
        Ok(())
    }

    /// The projected records of `g`'s scope (of one type, or all its types).
    fn listing(
        &mut self,
        tx: &Transaction<'_>,
        g: &Grant,
        record_type: Option<&str>,
    ) -> Result<Arc<Listing>> {
        let key = (g.id.clone(), record_type.map(str::to_string));
        if let Some(l) = self.listings.get(&key) {
            return Ok(l.clone());
        }
        let types = match record_type {
            Some(t) => vec![t.to_string()],
            None => g.scope.types(),
        };
        let mut records = Vec::new();
        for t in types {
            let all = records_of_type(tx, &t, g.scope.only_tag.as_deref())?;
            records.extend(all.iter().filter_map(|r| project(r, &g.scope)));
        }
        records.sort_by(|a, b| b.id.cmp(&a.id));
        let mut entry = NewLogEntry::new(LogKind::Share);
        disclose(&mut entry, &records);
        let l = Arc::new(Listing {
            records: records.into(),
            record_ids: entry.record_ids,
            fields: entry.fields,
        });
        self.listings.insert(key, l.clone());
        Ok(l)
    }
}

/// Every record of one type (optionally carrying `tag`), through the `(type, rowid)`
/// index: the share API reads only the types in scope, never the whole table.
fn records_of_type(tx: &Transaction<'_>, ty: &str, tag: Option<&str>) -> Result<Vec<Record>> {
    use crate::record::{from_row, SELECT};
    let mut stmt = match tag {
        Some(_) => tx.prepare_cached(&format!(
            "{SELECT} WHERE type = ?1 AND rowid IN (SELECT rec FROM record_tags WHERE tag = ?2) ORDER BY rowid DESC"
        ))?,
        None => tx.prepare_cached(&format!("{SELECT} WHERE type = ?1 AND ?2 IS NULL ORDER BY rowid DESC"))?,
    };
    let rows = stmt.query_map(rusqlite::params![ty, tag], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether `entry` is written now: every disclosure is; a failure only when it is the
/// first of its source and reason this minute (the rest are counted, see [`fold`]).
fn needs_row(folder: &mut Folder, entry: &NewLogEntry, meta: &RequestMeta, secs: i64) -> bool {
    !fold::folds(entry) || folder.note(entry, &source_class(meta), secs) == Fold::Write
}

fn savepoint(tx: &Transaction<'_>, sql: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The one answer for a record that is absent or out of scope.
pub fn not_found() -> ShareReply {
    ShareReply::error(404, "not_found", "no such record")
}

fn base_entry(meta: &RequestMeta) -> NewLogEntry {
    let (org_key, route) = match meta.transport {
        Transport::Http => (None, None),
        Transport::Remote(p) => (Some(p.org_key.to_string()), Some(p.route)),
    };
    NewLogEntry {
        remote_addr: Some(meta.remote_addr.clone()),
        method: Some(loggable_method(&meta.method).into()),
        path: Some(loggable_path(&meta.path)),
        org_key,
        route,
        ..NewLogEntry::new(LogKind::Share)
    }
}

/// The form of a request method that may be logged: a standard method, or `(other)`
/// (a method is client text too, and may be anything).
pub fn loggable_method(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("(other)")
}

/// The form of a request path that may be logged: the route it matched, from a fixed
/// list, never the text the client sent. `/v1/records/{id}` keeps no id (which record
/// was disclosed is in the row's `record_ids`, only when one was); a query is kept only
/// when it is a valid `type=TYPE` on `/v1/records`; any other path is `(unknown path)`.
/// Clients put tokens in URLs, in any case and percent-encoding (`TROVE_…`,
/// `trove%5F…`, the bare body): none of that text can reach a log row, `log.jsonl` or a
/// trace, because nothing of the raw path is copied.
pub fn loggable_path(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let route = match path {
        "/healthz" | "/v1/grant" | "/v1/records" | "/v1/revoke" => path,
        p if p
            .strip_prefix("/v1/records/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/')) =>
        {
            "/v1/records/{id}"
        }
        _ => return "(unknown path)".into(),
    };
    let mut out = route.to_string();
    match query {
        None => {}
        Some(q)
            if route == "/v1/records"
                && q.strip_prefix("type=").is_some_and(|t| {
                    (1..=64).contains(&t.len())
                        && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                }) =>
        {
            out.push('?');
            out.push_str(q);
        }
        Some(_) => out.push_str("?(query omitted)"),
    }
    out
}

fn disclose(entry: &mut NewLogEntry, records: &[Record]) {
    let mut fields = BTreeSet::new();
    for r in records {
        entry.record_ids.push(r.id.clone());
        for f in r.fields.keys() {
            fields.insert(format!("{}.{}", r.record_type, f));
        }
    }
    entry.fields = fields.into_iter().collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::NewGrant;
    use crate::record::NewRecord;
    use crate::remote::{OrgKey, Route};
    use crate::vault::tests::new_vault;
    use proptest::prelude::*;

    fn meta(path: &str) -> RequestMeta {
        RequestMeta {
            remote_addr: "127.0.0.1".into(),
            method: "GET".into(),
            path: path.into(),
            transport: Transport::Http,
        }
    }

    fn remote(key: u8, route: Route) -> Transport {
        Transport::Remote(RemotePeer {
            org_key: OrgKey([key; 32]),
            route,
        })
    }

    fn req_via(token: &ShareToken, op: ShareOp, transport: Transport) -> ShareRequest {
        let mut r = req(token, op);
        r.meta.transport = transport;
        r
    }

    /// The first remote use binds the grant to the organization's key, in the same
    /// transaction as the read and its log row; afterwards another key and plain HTTP
    /// get 401 invalid_token, logged as denied:wrong_key / denied:key_bound, and no
    /// use is counted.
    #[test]
    fn a_grant_binds_to_the_first_remote_key_and_refuses_any_other() {
        let (_d, v, t, _) = setup(&["contact.email"], None);
        let e = ShareEngine::new(&v);
        let op = || ShareOp::Records { record_type: None };
        let r = e.handle(&v, req(&t, op()));
        assert_eq!(r.status, 200, "an unbound grant answers plain HTTP");
        assert_eq!(v.list_grants().unwrap()[0].org_key, None);
        let out: Vec<(u16, bool)> = e
            .handle_batch(
                &v,
                vec![
                    req_via(&t, op(), remote(1, Route::Relayed)),
                    req_via(&t, op(), remote(2, Route::Direct)),
                    req_via(&t, op(), remote(1, Route::Direct)),
                    req(&t, op()),
                    req_via(&t, ShareOp::Revoke, remote(2, Route::Direct)),
                ],
            )
            .iter()
            .map(|r| (r.status, r.auth_failed))
            .collect();
        assert_eq!(
            out,
            [
                (200, false),
                (401, true),
                (200, false),
                (401, true),
                (200, false)
            ],
            "bound by the first request of the batch; the second key is refused at once"
        );
        let g = &v.list_grants().unwrap()[0];
        assert_eq!(g.org_key.as_deref(), Some("01".repeat(32).as_str()));
        assert_eq!(g.uses, 3, "refused requests count no use");
        assert_eq!(
            g.status,
            GrantStatus::Active,
            "another key cannot revoke it"
        );
        let log = v.log_entries(&Default::default()).unwrap();
        let outcomes: Vec<(&str, Option<&str>, Option<Route>)> = log[..5]
            .iter()
            .rev()
            .map(|e| (e.outcome.as_str(), e.org_key.as_deref(), e.route))
            .collect();
        let (k1, k2) = ("01".repeat(32), "02".repeat(32));
        assert_eq!(
            outcomes,
            [
                ("allowed", Some(k1.as_str()), Some(Route::Relayed)),
                ("denied:wrong_key", Some(k2.as_str()), Some(Route::Direct)),
                ("allowed", Some(k1.as_str()), Some(Route::Direct)),
                ("denied:key_bound", None, None),
                ("denied:wrong_key", Some(k2.as_str()), Some(Route::Direct)),
            ]
        );
        assert!(v.verify_log().unwrap().ok);
        let refused = e.handle(&v, req_via(&t, op(), remote(2, Route::Relayed)));
        assert_eq!(
            (refused.status, &refused.body),
            (
                401,
                &ReplyBody::Error {
                    error: "invalid_token",
                    description: "this token is bound to another organization's key".into()
                }
            )
        );
    }

    #[test]
    fn a_grant_created_with_an_org_key_is_bound_from_the_start() {
        let (_d, v) = new_vault();
        let (g, t) = v
            .create_grant(&NewGrant {
                org: "Acme".into(),
                purpose: "test".into(),
                scope: vec!["note".into()],
                org_key: Some("07".repeat(32)),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(g.org_key, Some("07".repeat(32)));
        let e = ShareEngine::new(&v);
        assert_eq!(e.handle(&v, req(&t, ShareOp::Grant)).status, 401);
        assert_eq!(
            e.handle(&v, req_via(&t, ShareOp::Grant, remote(8, Route::Direct)))
                .status,
            401
        );
        assert_eq!(
            e.handle(&v, req_via(&t, ShareOp::Grant, remote(7, Route::Direct)))
                .status,
            200
        );
        let bad = v
            .create_grant(&NewGrant {
                org: "Acme".into(),
                purpose: "test".into(),
                scope: vec!["note".into()],
                org_key: Some("not a key".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(bad.code(), "invalid_org_key");
    }

    /// A request with `token` for `op`, on the method and path the server routes to it.
    fn req(token: &ShareToken, op: ShareOp) -> ShareRequest {
        let (method, path) = match &op {
            ShareOp::Records { .. } => ("GET", "/v1/records".to_string()),
            ShareOp::Record { id } => ("GET", format!("/v1/records/{id}")),
            ShareOp::Grant => ("GET", "/v1/grant".to_string()),
            ShareOp::Revoke => ("POST", "/v1/revoke".to_string()),
            ShareOp::Refused { .. } => ("GET", "/v1/test".to_string()),
        };
        ShareRequest {
            meta: RequestMeta {
                method: method.into(),
                ..meta(&path)
            },
            credential: Credential::from_authorization(Some(&format!(
                "Bearer {}",
                token.expose_secret()
            ))),
            op,
        }
    }

    fn setup(
        scope: &[&str],
        max_uses: Option<u64>,
    ) -> (tempfile::TempDir, Vault, ShareToken, Vec<Record>) {
        let (d, v) = new_vault();
        let mut recs = Vec::new();
        for n in crate::demo::demo_records().into_iter().take(20) {
            recs.push(v.add(n).unwrap());
        }
        let (_, t) = v
            .create_grant(&NewGrant {
                org: "Acme".into(),
                purpose: "test".into(),
                scope: scope.iter().map(|s| s.to_string()).collect(),
                max_uses,
                ..Default::default()
            })
            .unwrap();
        (d, v, t, recs)
    }

    #[test]
    fn records_are_projected_counted_and_logged() {
        let (_d, v, t, _) = setup(&["contact.email", "address.city"], None);
        let e = ShareEngine::new(&v);
        let before = v.log_len().unwrap();
        let r = e.handle(&v, req(&t, ShareOp::Records { record_type: None }));
        assert_eq!(r.status, 200);
        let ReplyBody::Records(rs) = &r.body else {
            panic!("{r:?}")
        };
        assert!(!rs.is_empty());
        for rec in rs.iter() {
            for f in rec.fields.keys() {
                let tf = format!("{}.{f}", rec.record_type);
                assert!(tf == "contact.email" || tf == "address.city", "{tf} leaked");
            }
        }
        assert_eq!(v.log_len().unwrap(), before + 1);
        let last = &v.log_entries(&Default::default()).unwrap()[0];
        assert_eq!(last.outcome, "allowed");
        assert_eq!(last.record_ids.len(), rs.len());
        assert_eq!(last.fields, ["address.city", "contact.email"]);
        assert_eq!(v.list_grants().unwrap()[0].uses, 1);
        let r = e.handle(
            &v,
            req(
                &t,
                ShareOp::Records {
                    record_type: Some("health".into()),
                },
            ),
        );
        assert_eq!(r.status, 403);
        assert_eq!(v.list_grants().unwrap()[0].uses, 1, "a 403 is not a use");
    }

    #[test]
    fn a_record_level_grant_discloses_only_its_records_and_a_deleted_one_drops_out() {
        let (_d, v) = new_vault();
        let addr = |city: &str| {
            v.add(crate::record::NewRecord::new(
                "address",
                [
                    ("street".into(), "Hauptstr. 1".into()),
                    ("city".into(), city.into()),
                ],
            ))
            .unwrap()
        };
        let (home, old, _other) = (addr("Berlin"), addr("Bonn"), addr("Köln"));
        let (g, t) = v
            .create_grant(&NewGrant {
                org: "Stadtwerke".into(),
                purpose: "contract".into(),
                scope: vec!["address.city".into()],
                records: vec![home.id.clone(), old.id.clone()],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(g.scope.records.as_ref().map(|r| r.len()), Some(2));
        assert_eq!(
            v.get_grant(&g.id).unwrap().scope,
            g.scope,
            "stored and read back"
        );
        let e = ShareEngine::new(&v);
        let r = e.handle(&v, req(&t, ShareOp::Records { record_type: None }));
        let ReplyBody::Records(rs) = &r.body else {
            panic!("{r:?}")
        };
        let mut ids: Vec<&str> = rs.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        let mut want = vec![home.id.as_str(), old.id.as_str()];
        want.sort();
        assert_eq!(ids, want, "only the chosen records");
        assert!(
            rs.iter().all(|r| r.fields.keys().eq(["city"])),
            "still projected"
        );
        let last = &v.log_entries(&Default::default()).unwrap()[0];
        assert_eq!(last.record_ids.len(), 2, "the log names the two records");
        let one = e.handle(
            &v,
            req(
                &t,
                ShareOp::Record {
                    id: _other.id.clone(),
                },
            ),
        );
        assert_eq!(one.status, 404, "a record of the type but not chosen");
        v.remove(&old.id).unwrap();
        let r = e.handle(&v, req(&t, ShareOp::Records { record_type: None }));
        let ReplyBody::Records(rs) = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!(rs.len(), 1, "a deleted record simply drops out");
        assert_eq!(rs[0].id, home.id);
        assert_eq!(v.grant_records_gone(&g).unwrap(), vec![old.id.clone()]);
    }

    #[test]
    fn a_record_level_grant_refuses_unknown_or_out_of_scope_records_and_writes_nothing() {
        let (_d, v) = new_vault();
        let note = v
            .add(crate::record::NewRecord::new(
                "note",
                [("title".into(), "t".into()), ("body".into(), "b".into())],
            ))
            .unwrap();
        let before = (v.list_grants().unwrap().len(), v.log_len().unwrap());
        for (records, says) in [
            (
                vec!["01J0000000000000000000000Z".to_string()],
                "there is no record",
            ),
            (vec![note.id.clone()], "outside the scope"),
            (vec!["bad id!".to_string()], "is not a record id"),
        ] {
            let err = v
                .create_grant(&NewGrant {
                    org: "Acme".into(),
                    purpose: "test".into(),
                    scope: vec!["address".into()],
                    records,
                    ..Default::default()
                })
                .unwrap_err();
            assert_eq!(err.code(), "invalid_input");
            assert!(err.to_string().contains(says), "{err}");
        }
        assert_eq!(
            (v.list_grants().unwrap().len(), v.log_len().unwrap()),
            before,
            "nothing written"
        );
    }

    #[test]
    fn a_trashed_record_is_never_disclosed_and_a_restored_one_is_again() {
        let (_d, v, t, recs) = setup(&["contact", "address"], None);
        let victim = recs
            .iter()
            .find(|r| r.record_type == "contact")
            .expect("demo has contacts");
        v.remove(&victim.id).unwrap();
        let e = ShareEngine::new(&v);
        let r = e.handle(&v, req(&t, ShareOp::Records { record_type: None }));
        let ReplyBody::Records(rs) = &r.body else {
            panic!("{r:?}")
        };
        assert!(!rs.is_empty());
        assert!(
            rs.iter().all(|r| r.id != victim.id),
            "trashed record listed"
        );
        let one = e.handle(
            &v,
            req(
                &t,
                ShareOp::Record {
                    id: victim.id.clone(),
                },
            ),
        );
        assert_eq!(
            one.status, 404,
            "a trashed record answers like an absent one"
        );
        let last = &v.log_entries(&Default::default()).unwrap()[0];
        assert!(!last.record_ids.contains(&victim.id));
        v.restore(&victim.id).unwrap();
        let one = e.handle(
            &v,
            req(
                &t,
                ShareOp::Record {
                    id: victim.id.clone(),
                },
            ),
        );
        assert_eq!(one.status, 200, "restored, it is shared again");
    }

    #[test]
    fn max_uses_then_401() {
        let (_d, v, t, _) = setup(&["contact"], Some(2));
        let e = ShareEngine::new(&v);
        let op = || ShareOp::Records { record_type: None };
        assert_eq!(e.handle(&v, req(&t, op())).status, 200);
        assert_eq!(
            e.handle(&v, req(&t, ShareOp::Grant)).status,
            200,
            "grant info is not a use"
        );
        assert_eq!(e.handle(&v, req(&t, op())).status, 200);
        let r = e.handle(&v, req(&t, op()));
        assert_eq!(r.status, 401);
        assert!(r.auth_failed);
        assert_eq!(
            v.log_entries(&Default::default()).unwrap()[0].outcome,
            "denied:exhausted"
        );
    }

    #[test]
    fn bad_checksum_is_refused_without_lookup() {
        let (_d, v, t, _) = setup(&["contact"], None);
        let e = ShareEngine::new(&v);
        let mut s = t.expose_secret().to_string();
        let last = s.pop().unwrap();
        s.push(if last == 'a' { 'b' } else { 'a' });
        let r = e.handle(
            &v,
            ShareRequest {
                meta: meta("/v1/records"),
                credential: Credential::from_authorization(Some(&format!("Bearer {s}"))),
                op: ShareOp::Records { record_type: None },
            },
        );
        assert_eq!(r.status, 401);
        let row = &v.log_entries(&Default::default()).unwrap()[0];
        assert_eq!(row.outcome, "denied:bad_checksum");
        assert_eq!(row.grant_id, None, "no grant was looked up");
    }

    /// Every log write fails, as on a full disk.
    struct Fail;
    impl LogFault for Fail {
        fn before_write(&self, _: &NewLogEntry) -> Result<()> {
            Err(Error::LogWriteFailed("disk full (injected)".into()))
        }
    }

    #[test]
    fn injected_log_failure_discloses_nothing_and_counts_nothing() {
        let (_d, v, t, _) = setup(&["contact"], None);
        let e = ShareEngine::new(&v).with_log_fault(Arc::new(Fail));
        let before = v.log_len().unwrap();
        let r = e.handle(&v, req(&t, ShareOp::Records { record_type: None }));
        assert_eq!(r.status, 503);
        assert!(matches!(r.body, ReplyBody::Error { .. }));
        assert_eq!(v.log_len().unwrap(), before);
        assert_eq!(
            v.list_grants().unwrap()[0].uses,
            0,
            "the use was rolled back"
        );
    }

    #[test]
    fn revoke_by_org_is_one_row_and_sticks() {
        let (_d, v, t, _) = setup(&["contact"], None);
        let e = ShareEngine::new(&v);
        let before = v.log_len().unwrap();
        let r = e.handle(&v, req(&t, ShareOp::Revoke));
        assert_eq!((r.status, &r.body), (200, &ReplyBody::Revoked));
        assert_eq!(v.log_len().unwrap(), before + 1);
        assert_eq!(
            v.log_entries(&Default::default()).unwrap()[0].kind,
            LogKind::GrantRevoke
        );
        assert_eq!(e.handle(&v, req(&t, ShareOp::Grant)).status, 401);
        assert_eq!(
            e.handle(&v, req(&t, ShareOp::Revoke)).status,
            200,
            "RFC 7009: always 200"
        );
        assert_eq!(
            v.grant_receipts(&v.list_grants().unwrap()[0].id)
                .unwrap()
                .len(),
            2
        );
    }

    fn arb_scope() -> impl Strategy<Value = Vec<String>> {
        let items: Vec<String> = crate::schema::record_types()
            .iter()
            .flat_map(|t| {
                std::iter::once(t.name.clone()).chain(
                    t.fields
                        .iter()
                        .map(move |f| format!("{}.{}", t.name, f.name)),
                )
            })
            .collect();
        proptest::sample::subsequence(items.clone(), 1..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// No field outside the scope ever appears, and no record that projects to
        /// nothing is returned.
        #[test]
        fn projection_never_leaks(scope in arb_scope(), seed in 0u64..1000, tag in proptest::option::of(prop_oneof![Just("work"), Just("health"), Just("personal")])) {
            let s = crate::grant::Scope::parse(&scope, tag).unwrap();
            for (i, n) in crate::demo::random_records(seed, 40).enumerate() {
                let mut tags = n.tags.clone();
                if i % 3 == 0 { tags.push("work".into()); }
                let r = Record {
                    id: format!("R{i:04}"),
                    record_type: n.record_type.clone(),
                    fields: n.fields.clone(),
                    tags,
                    source: n.source.clone(),
                    created_at: "2026-01-01T00:00:00Z".into(),
                    updated_at: "2026-01-01T00:00:00Z".into(),
                };
                match project(&r, &s) {
                    Some(p) => {
                        prop_assert_eq!(&p.id, &r.id);
                        prop_assert!(!p.fields.is_empty());
                        for (k, val) in &p.fields {
                            let fs = s.fields_for(&p.record_type);
                            prop_assert!(fs.is_some_and(|f| f.allows(k)), "{}.{} leaked", p.record_type, k);
                            prop_assert_eq!(Some(val), r.fields.get(k));
                        }
                        if let Some(t) = tag { prop_assert!(r.tags.iter().any(|x| x == t)); }
                        for t in &p.tags { prop_assert_eq!(Some(t.as_str()), tag); }
                    }
                    None => {
                        let visible = s.fields_for(&r.record_type).is_some_and(|f| r.fields.keys().any(|k| f.allows(k)))
                            && tag.is_none_or(|t| r.tags.iter().any(|x| x == t));
                        prop_assert!(!visible, "record {} hidden although in scope", r.id);
                    }
                }
            }
        }
    }

    /// Out-of-scope ids answer exactly like absent ones (status and body), through
    /// the engine, for random scopes.
    #[test]
    fn out_of_scope_id_answers_like_absent() {
        let (_d, v, t, recs) = setup(&["contact.email", "health.name"], None);
        let e = ShareEngine::new(&v);
        let absent = e.handle(
            &v,
            req(
                &t,
                ShareOp::Record {
                    id: "01JZZZZZZZZZZZZZZZZZZZZZZZ".into(),
                },
            ),
        );
        assert_eq!(absent, not_found());
        let g = &v.list_grants().unwrap()[0];
        let mut hidden = 0;
        for r in &recs {
            let got = e.handle(&v, req(&t, ShareOp::Record { id: r.id.clone() }));
            match project(r, &g.scope) {
                Some(p) => assert_eq!(got.body, ReplyBody::Record(p)),
                None => {
                    hidden += 1;
                    assert_eq!(got, absent, "out-of-scope {} differs from absent", r.id);
                }
            }
        }
        assert!(hidden > 5, "the fixture has out-of-scope records");
    }

    /// Each request of a batch gets exactly what it would get alone, although the batch
    /// reads and projects a grant's records once: two grants with different scopes,
    /// with and without a type filter, interleaved.
    #[test]
    fn a_batch_answers_each_request_as_if_alone() {
        let (_d, v, t1, _) = setup(&["contact.email", "address.city"], None);
        let (_, t2) = v
            .create_grant(&NewGrant {
                org: "Other".into(),
                purpose: "test".into(),
                scope: vec!["contact".into(), "note".into()],
                ..Default::default()
            })
            .unwrap();
        let e = ShareEngine::new(&v);
        let ops = || {
            [
                ShareOp::Records { record_type: None },
                ShareOp::Records {
                    record_type: Some("contact".into()),
                },
            ]
        };
        let mut alone = Vec::new();
        for t in [&t1, &t2] {
            for op in ops() {
                alone.push(e.handle(&v, req(t, op)));
            }
        }
        let before = v.log_len().unwrap();
        let mut reqs = Vec::new();
        for _ in 0..3 {
            for t in [&t1, &t2] {
                for op in ops() {
                    reqs.push(req(t, op));
                }
            }
        }
        let batched = e.handle_batch(&v, reqs);
        for (i, r) in batched.iter().enumerate() {
            assert_eq!(
                r,
                &alone[i % 4],
                "request {i} differs from its answer alone"
            );
        }
        assert_ne!(
            alone[0].body, alone[2].body,
            "the two grants see different data"
        );
        let log = v.log_entries(&Default::default()).unwrap();
        assert_eq!(v.log_len().unwrap(), before + 12);
        // Newest first: the last request of the batch was t2's contact-only listing.
        assert_eq!(
            log[0].fields,
            ["contact.email", "contact.label", "contact.phone"]
        );
        assert_eq!(log[3].fields, ["address.city", "contact.email"]);
        assert!(v.verify_log().unwrap().ok);
    }

    /// What a batch has read is forgotten when it ends: the next batch sees new records.
    #[test]
    fn the_next_batch_sees_records_added_meanwhile() {
        let (_d, v, t, _) = setup(&["note"], None);
        let e = ShareEngine::new(&v);
        let count = |r: &ShareReply| match &r.body {
            ReplyBody::Records(rs) => rs.len(),
            other => panic!("{other:?}"),
        };
        let op = || ShareOp::Records { record_type: None };
        let first = e.handle_batch(&v, vec![req(&t, op()), req(&t, op())]);
        v.add(NewRecord::new(
            "note",
            [("title".to_string(), "added between batches".to_string())],
        ))
        .unwrap();
        let second = e.handle_batch(&v, vec![req(&t, op())]);
        assert_eq!(count(&second[0]), count(&first[0]) + 1);
    }

    /// Grant state is read for every request, also inside one batch: a revocation or
    /// the last allowed use takes effect for the very next request of the same batch.
    #[test]
    fn revocation_and_max_uses_apply_within_a_batch() {
        let (_d, v, t, _) = setup(&["note"], Some(2));
        let e = ShareEngine::new(&v);
        let op = || ShareOp::Records { record_type: None };
        let out: Vec<u16> = e
            .handle_batch(&v, vec![req(&t, op()), req(&t, op()), req(&t, op())])
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(out, [200, 200, 401], "the third use is refused");
        let (_d, v, t, _) = setup(&["note"], None);
        let e = ShareEngine::new(&v);
        let out: Vec<u16> = e
            .handle_batch(
                &v,
                vec![req(&t, op()), req(&t, ShareOp::Revoke), req(&t, op())],
            )
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(out, [200, 200, 401], "refused right after the revocation");
    }

    /// The gate's connection tuning keeps every commit durable.
    #[test]
    fn gate_tuning_keeps_synchronous_full_and_checkpoints_run_beside_it() {
        let (_d, v, t, _) = setup(&["note"], None);
        tune_gate_connection(&v).unwrap();
        let sync: i64 = v
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let e = ShareEngine::new(&v);
        assert_eq!(
            e.handle(&v, req(&t, ShareOp::Records { record_type: None }))
                .status,
            200
        );
        let other = v.try_clone().unwrap();
        let (frames, done) = checkpoint_wal(&other).unwrap();
        assert!(frames > 0 && done == frames, "{done} of {frames} frames");
    }

    /// 5,000 failures from rotating loopback addresses, with unknown and missing tokens,
    /// interleaved with reads: every read is answered and logged on its own, the
    /// failures take a handful of rows, and the counts add up to every request.
    #[test]
    fn a_flood_of_failures_folds_into_a_few_rows_and_reads_are_unaffected() {
        let (_d, v, t, _) = setup(&["note"], None);
        let e = ShareEngine::new(&v);
        let before = v.log_len().unwrap();
        let stranger = ShareToken::generate();
        let mut reads = 0;
        for batch in 0..10 {
            let reqs: Vec<_> = (0..500)
                .map(|i| {
                    if i % 100 == 0 {
                        return req(&t, ShareOp::Records { record_type: None });
                    }
                    let mut r = if i % 2 == 0 {
                        req(&stranger, ShareOp::Records { record_type: None })
                    } else {
                        ShareRequest {
                            meta: meta("/v1/records"),
                            credential: Credential::Missing,
                            op: ShareOp::Records { record_type: None },
                        }
                    };
                    r.meta.remote_addr = format!("127.{}.{}.{}", batch, i / 250, i % 250);
                    r
                })
                .collect();
            for (i, reply) in e.handle_batch(&v, reqs).iter().enumerate() {
                if i % 100 == 0 {
                    assert_eq!(reply.status, 200);
                    reads += 1;
                } else {
                    assert_eq!(reply.status, 401);
                }
            }
        }
        e.flush_failures(&v, true).unwrap();
        let written = (v.log_len().unwrap() - before) as usize;
        let rows = v.log_entries(&Default::default()).unwrap();
        let new = &rows[..written];
        assert_eq!(new.iter().filter(|r| r.outcome == "allowed").count(), reads);
        // Two kinds of failure, each a first row and a summary (twice if a minute ends).
        assert!(written <= reads + 8, "{written} rows for 5,000 requests");
        let total: u64 = new.iter().map(|r| r.count.unwrap_or(1)).sum();
        assert_eq!(total, 5_000);
        assert!(v.verify_log().unwrap().ok);
    }

    #[test]
    fn batch_commits_every_row_once() {
        let (_d, v, t, _) = setup(&["note"], None);
        let e = ShareEngine::new(&v);
        let before = v.log_len().unwrap();
        let reqs: Vec<_> = (0..10)
            .map(|i| {
                if i % 2 == 0 {
                    req(&t, ShareOp::Records { record_type: None })
                } else {
                    ShareRequest {
                        meta: meta("/v1/grant"),
                        credential: Credential::Missing,
                        op: ShareOp::Grant,
                    }
                }
            })
            .collect();
        let out = e.handle_batch(&v, reqs);
        let statuses: Vec<u16> = out.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 401, 200, 401, 200, 401, 200, 401, 200, 401]);
        // Five reads, the first of the five identical failures; the other four are
        // counted into one row written when the minute ends (or the server stops).
        assert_eq!(v.log_len().unwrap(), before + 6);
        assert_eq!(e.flush_failures(&v, true).unwrap(), 1);
        let summary = &v.log_entries(&Default::default()).unwrap()[0];
        assert_eq!(
            (summary.outcome.as_str(), summary.count),
            ("denied:missing_token", Some(4))
        );
        assert_eq!(e.flush_failures(&v, true).unwrap(), 0, "written once");
        assert!(v.verify_log().unwrap().ok);
        let _ = NewRecord::new("note", []);
    }

    #[test]
    fn a_failed_row_in_a_batch_leaves_the_others_and_the_chain_intact() {
        struct FailOne;
        impl LogFault for FailOne {
            fn before_write(&self, e: &NewLogEntry) -> Result<()> {
                if e.path.as_deref() == Some("/v1/grant") {
                    Err(Error::LogWriteFailed("injected".into()))
                } else {
                    Ok(())
                }
            }
        }
        let (_d, v, t, _) = setup(&["note"], None);
        let e = ShareEngine::new(&v).with_log_fault(Arc::new(FailOne));
        let before = v.log_len().unwrap();
        let mut reqs = Vec::new();
        for path in ["/v1/records", "/v1/grant", "/v1/records"] {
            let mut r = req(&t, ShareOp::Records { record_type: None });
            r.meta.path = path.into();
            reqs.push(r);
        }
        let out: Vec<u16> = e.handle_batch(&v, reqs).iter().map(|r| r.status).collect();
        assert_eq!(out, [200, 503, 200]);
        assert_eq!(v.log_len().unwrap(), before + 2);
        assert_eq!(
            v.list_grants().unwrap()[0].uses,
            2,
            "the failed request's use rolled back"
        );
        let r = v.verify_log().unwrap();
        assert!(r.ok, "{r:?}");
    }

    /// The batch falls back to one savepoint per request whichever request fails, also
    /// the first and the last, and a later batch takes the fast path again.
    #[test]
    fn failures_at_either_end_of_a_batch_stay_with_their_request() {
        struct FailSome;
        impl LogFault for FailSome {
            fn before_write(&self, e: &NewLogEntry) -> Result<()> {
                match e.path.as_deref() {
                    Some("/v1/grant") => Err(Error::LogWriteFailed("injected".into())),
                    _ => Ok(()),
                }
            }
        }
        let (_d, v, t, _) = setup(&["note"], None);
        let e = ShareEngine::new(&v).with_log_fault(Arc::new(FailSome));
        let batch = |paths: &[&str]| -> Vec<u16> {
            let reqs = paths
                .iter()
                .map(|p| {
                    let mut r = req(&t, ShareOp::Records { record_type: None });
                    r.meta.path = p.to_string();
                    r
                })
                .collect();
            e.handle_batch(&v, reqs).iter().map(|r| r.status).collect()
        };
        let before = v.log_len().unwrap();
        assert_eq!(
            batch(&["/v1/grant", "/v1/records", "/v1/records", "/v1/grant"]),
            [503, 200, 200, 503]
        );
        assert_eq!(batch(&["/v1/records", "/v1/records"]), [200, 200]);
        assert_eq!(v.log_len().unwrap(), before + 4);
        assert_eq!(v.list_grants().unwrap()[0].uses, 4);
        let r = v.verify_log().unwrap();
        assert!(r.ok, "{r:?}");
    }

    #[test]
    fn logged_paths_never_keep_tokens_or_odd_queries() {
        let t = ShareToken::generate();
        let tok = t.expose_secret();
        assert_eq!(
            loggable_path("/v1/records?type=contact"),
            "/v1/records?type=contact"
        );
        assert_eq!(
            loggable_path(&format!("/v1/records?access_token={tok}")),
            "/v1/records?(query omitted)"
        );
        assert_eq!(
            loggable_path(&format!("/v1/records/{tok}/x")),
            "(unknown path)"
        );
        assert_eq!(loggable_path(&"a".repeat(2000)), "(unknown path)");
    }

    /// L2: only a literal lowercase `trove_` was masked; `TROVE_…`, `trove%5F…` and the
    /// bare body were logged verbatim. Now no text of the raw path is logged at all.
    #[test]
    fn token_shapes_in_a_path_never_reach_the_logged_path_l2() {
        let t = ShareToken::generate();
        let tok = t.expose_secret();
        let body = &tok[crate::token::TOKEN_PREFIX.len()..];
        let shapes = [
            tok.to_string(),
            format!("TROVE_{body}"),
            format!("Trove_{body}"),
            format!("trove%5F{body}"),
            format!("trove%5f{body}"),
            body.to_string(),
        ];
        for shape in &shapes {
            for path in [
                format!("/v1/records/{shape}"),
                format!("/v1/{shape}"),
                format!("/{shape}"),
                format!("/v1/records?type={shape}"),
                format!("/v1/records?access_token={shape}"),
                format!("/v1/records/{shape}?type=contact"),
                format!("/v1/grant/{shape}"),
            ] {
                let logged = loggable_path(&path);
                assert!(
                    !logged.contains(&body[..12]) && !logged.contains(&body[body.len() - 12..]),
                    "token text reached the log via {path:?}: {logged}"
                );
            }
        }
        assert_eq!(
            loggable_path(&format!("/v1/records/{body}")),
            "/v1/records/{id}"
        );
        assert_eq!(loggable_path("/v1/records/01JDX"), "/v1/records/{id}");
        assert_eq!(loggable_path("/v1/records/"), "(unknown path)");
        assert_eq!(loggable_method(&format!("TROVE_{body}")), "(other)");
        assert_eq!(loggable_method("GET"), "GET");
    }

    // ---- the side journal (issue 11, L3: an import blocked sharing) ----

    /// A second handle that holds the vault's write lock, as a running import does,
    /// until `release` (`ROLLBACK`: the import failed and left nothing).
    struct HeldWriteLock(Vault);

    impl HeldWriteLock {
        fn on(v: &Vault) -> HeldWriteLock {
            let w = v.try_clone().unwrap();
            w.conn().execute_batch("BEGIN IMMEDIATE").unwrap();
            HeldWriteLock(w)
        }

        fn release(self) {
            self.0.conn().execute_batch("ROLLBACK").unwrap();
        }
    }

    fn share_rows(v: &Vault) -> Vec<crate::access_log::LogEntry> {
        let mut rows = v.log_entries(&Default::default()).unwrap();
        rows.retain(|e| e.kind == LogKind::Share);
        rows.reverse();
        rows
    }

    /// Issue 11 (L3): while an import held the write lock, a share request waited for
    /// the busy timeout (10 s) and got 503. It is now answered at once from a read
    /// snapshot (the vault without the import's uncommitted records), logged and counted
    /// in the side journal, with max_uses enforced across the journal; the next batch
    /// that gets the write lock merges the journal into the chain, once.
    #[test]
    fn sharing_answers_while_an_import_holds_the_write_lock_l3() {
        let (_d, v, t, _) = setup(&["contact"], Some(4));
        let e = ShareEngine::new(&v);
        let all = || ShareOp::Records {
            record_type: Some("contact".into()),
        };
        let contacts = match e.handle(&v, req(&t, all())).body {
            ReplyBody::Records(r) => r.len(),
            other => panic!("{other:?}"),
        };
        let logged = v.log_len().unwrap();

        let import = HeldWriteLock::on(&v);
        // The import's first record, not committed yet.
        import
            .0
            .conn()
            .execute_batch(
                r#"INSERT INTO records (id, type, fields, tags, source, created_at, updated_at)
                   VALUES ('import-1', 'contact', '{"email":"new@example.org"}', '[]', 'import:csv',
                           '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')"#,
            )
            .unwrap();
        let started = std::time::Instant::now();
        let replies = e.handle_batch(&v, vec![req(&t, all()), req(&t, all())]);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "the batch waited for the writer"
        );
        for r in &replies {
            assert_eq!(r.status, 200, "{r:?}");
            match &r.body {
                ReplyBody::Records(r) => assert_eq!(r.len(), contacts, "an uncommitted record"),
                other => panic!("{other:?}"),
            }
        }
        let revoke = e.handle(&v, req(&t, ShareOp::Revoke));
        assert_eq!(revoke.status, 503, "a revocation waits for the writer");
        let fourth = e.handle(&v, req(&t, all()));
        assert_eq!(fourth.status, 200, "{fourth:?}");
        let exhausted = e.handle(&v, req(&t, all()));
        assert_eq!(exhausted.status, 401, "max_uses counts the journal's uses");
        assert_eq!(v.log_len().unwrap(), logged, "rows wait in the journal");
        import.release();

        // The next batch gets the write lock and merges the journal first.
        assert_eq!(e.handle(&v, req(&t, all())).status, 401);
        let rows = share_rows(&v);
        let outcomes: Vec<&str> = rows.iter().map(|r| r.outcome.as_str()).collect();
        assert_eq!(
            outcomes,
            [
                "allowed",
                "allowed",
                "allowed",
                "denied:busy",
                "allowed",
                "denied:exhausted",
            ],
            "the journal's rows, in order (the repeated denial is folded)"
        );
        assert!(
            rows.windows(2).all(|w| w[0].time <= w[1].time),
            "times kept"
        );
        assert_eq!(v.list_grants().unwrap()[0].uses, 4);
        assert!(v.verify_log().unwrap().ok);
        let len = v.log_len().unwrap();
        e.merge_journal(&v);
        assert_eq!(v.log_len().unwrap(), len, "merged once");
        assert!(Journal::open(&v).unwrap().is_empty().unwrap());
        assert!(
            v.list(&Default::default()).unwrap().iter().all(|r| r
                .fields
                .get("email")
                .map(String::as_str)
                != Some("new@example.org")),
            "the failed import left nothing"
        );
    }

    /// A journal found at open is merged then, and a crash between the main commit of
    /// a merge and the journal's clearing never merges a row twice.
    #[test]
    fn a_journal_left_by_a_crash_is_merged_once_at_open_l3() {
        let (d, v, t, _) = setup(&["contact"], None);
        let e = ShareEngine::new(&v);
        let one = |v: &Vault| {
            let import = HeldWriteLock::on(v);
            assert_eq!(e.handle(v, req(&t, ShareOp::Grant)).status, 200);
            import.release();
        };
        let logged = v.log_len().unwrap();
        one(&v);
        // Merged, then "crashed" before the journal was cleared.
        let mut j = Journal::open(&v).unwrap();
        v.write(|tx| {
            let mut log = LogAppender::begin(tx)?;
            j.merge_into(tx, &mut log, None)?.expect("a row to merge");
            log.finish()
        })
        .unwrap();
        assert!(!j.is_empty().unwrap());
        one(&v);
        drop((j, e, v));

        let v = Vault::unlock(&d.path().join("v"), &crate::Passphrase::new("pw".into())).unwrap();
        assert_eq!(
            v.log_len().unwrap(),
            logged + 2,
            "each row merged exactly once"
        );
        assert!(Journal::open(&v).unwrap().is_empty().unwrap());
        assert!(v.verify_log().unwrap().ok);
    }

    /// A side batch whose journal write fails answers 503, discloses nothing and
    /// counts nothing, as the main path does.
    #[test]
    fn a_failed_journal_write_discloses_nothing_and_counts_nothing_l3() {
        let (_d, v, t, _) = setup(&["contact"], Some(1));
        let e = ShareEngine::new(&v).with_log_fault(Arc::new(Fail));
        let before = v.log_len().unwrap();
        let import = HeldWriteLock::on(&v);
        let r = e.handle(&v, req(&t, ShareOp::Records { record_type: None }));
        assert_eq!(r.status, 503);
        assert!(matches!(r.body, ReplyBody::Error { .. }));
        import.release();
        let clean = ShareEngine::new(&v);
        clean.merge_journal(&v);
        assert_eq!(v.log_len().unwrap(), before);
        assert_eq!(v.list_grants().unwrap()[0].uses, 0, "nothing counted");
        let r = clean.handle(&v, req(&t, ShareOp::Records { record_type: None }));
        assert_eq!(r.status, 200, "the one use is still there");
    }

    /// A batch merges at most MERGE_PER_BATCH journal rows; the uses of the rows still
    /// waiting count toward max_uses meanwhile, and the rest merge at later batches.
    #[test]
    fn a_long_journal_merges_in_steps_and_max_uses_holds_meanwhile_l3() {
        let waiting = journal::MERGE_PER_BATCH as u64 + 100;
        let (_d, v, t, _) = setup(&["contact"], Some(waiting + 1));
        let e = ShareEngine::new(&v);
        let use_once = || req(&t, ShareOp::Records { record_type: None });
        let import = HeldWriteLock::on(&v);
        let replies = e.handle_batch(&v, (0..waiting).map(|_| use_once()).collect());
        assert!(replies.iter().all(|r| r.status == 200));
        import.release();

        let replies = e.handle_batch(&v, vec![use_once(), use_once()]);
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 401], "the 100 uses still waiting count");
        assert_eq!(
            v.list_grants().unwrap()[0].uses,
            journal::MERGE_PER_BATCH as u64 + 1,
            "one step merged"
        );
        assert!(!Journal::open(&v).unwrap().is_empty().unwrap());
        assert_eq!(e.handle(&v, use_once()).status, 401);
        assert!(Journal::open(&v).unwrap().is_empty().unwrap());
        assert_eq!(v.list_grants().unwrap()[0].uses, waiting + 1);
        assert_eq!(share_rows(&v).len() as u64, waiting + 2);
        assert!(v.verify_log().unwrap().ok);
    }
}
