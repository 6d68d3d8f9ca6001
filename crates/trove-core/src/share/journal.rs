//! The side journal (`journal.db`): where share batches keep their access-log rows and
//! use counts while another writer (an import) holds the vault's write lock, until they
//! are merged into the main, hash-chained log.
//!
//! A batch that cannot get the write lock within [`SIDE_AFTER`] is decided on a read
//! snapshot of the vault (the state before the writer's open transaction, which is all
//! or nothing), and its rows are committed to the journal (synchronous=FULL) before any
//! reply leaves; if that commit fails, nothing is disclosed. The journal is a SQLCipher
//! database keyed with a subkey of the data key. A grant's uses are its `grants.uses`
//! plus its uses in journal rows not yet merged, so `max_uses` holds throughout.
//!
//! Merging appends the journal's rows to the main log (each keeps the time its request
//! was answered, and gets the next seq and hash of the main chain), adds their uses to
//! `grants.uses`, and records in the main `meta` which journal rows are merged, all in
//! one main transaction; only then are those rows deleted from the journal. A crash
//! between the two commits leaves rows the next merge skips, so nothing is merged twice.
//! Merges happen at the next batch that gets the write lock, on the share server's idle
//! timer, when the vault is opened and after an import commits.

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::access_log::{check_outcome, LogAppender, NewLogEntry};
use crate::error::{Error, Result};
use crate::secret::DataKey;
use crate::vault::{create_db_file, open_connection, Vault, BUSY_TIMEOUT};

pub use crate::vault::JOURNAL_FILE;
/// How long a share batch waits for the write lock before it decides on a read
/// snapshot and writes to the journal instead.
pub const SIDE_AFTER: Duration = Duration::from_millis(30);
/// The most journal rows a share batch merges (the rest wait for the next batches, their
/// uses counted), so that no batch pays for a whole import's worth of requests at once.
pub const MERGE_PER_BATCH: usize = 1_000;

const SUBKEY: &str = "side journal";
/// The main `meta` key holding `<journal generation>:<last merged journal row id>`.
const MERGED_KEY: &str = "side_journal_merged";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    entry TEXT,
    use_grant TEXT
);
INSERT OR IGNORE INTO journal_meta (key, value) VALUES ('generation', lower(hex(randomblob(16))));
";

/// One decided request (or folded-failure summary) waiting to join the main log.
#[derive(Debug)]
pub(crate) struct JournalRow {
    pub(crate) time: String,
    /// The log row; `None` when the engine writes no rows (benchmarks) but a use counted.
    pub(crate) entry: Option<NewLogEntry>,
    /// The grant whose use this request counted.
    pub(crate) use_grant: Option<String>,
}

/// An open journal, and the uses per grant of its rows not yet merged.
pub(crate) struct Journal {
    conn: Connection,
    /// Random per journal file: a journal created anew never matches an old merge mark.
    generation: String,
    /// Uses per grant in rows with `counted_after < id <= seen`.
    uses: HashMap<String, u64>,
    counted_after: Option<i64>,
    seen: i64,
}

impl Journal {
    /// Opens `vault`'s journal, creating it (0600) if there is none.
    pub(crate) fn open(vault: &Vault) -> Result<Journal> {
        let path = vault.dir().join(JOURNAL_FILE);
        create_db_file(&path)?;
        let mut sub = vault.derive_subkey(SUBKEY);
        let key = DataKey::from_bytes(&mut sub[..]).expect("a subkey is 32 bytes");
        let conn = open_connection(&path, &key)?;
        conn.execute_batch(SCHEMA)?;
        let generation = conn.query_row(
            "SELECT value FROM journal_meta WHERE key = 'generation'",
            [],
            |r| r.get(0),
        )?;
        Ok(Journal {
            conn,
            generation,
            uses: HashMap::new(),
            counted_after: None,
            seen: 0,
        })
    }

    /// Takes the journal's write lock: one batch (of any process) writes at a time, and
    /// the uses it reads stay true until it commits.
    pub(crate) fn begin(&self) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    /// Ends a batch begun with [`Journal::begin`] without writing.
    pub(crate) fn rollback(&self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// Commits what was done since [`Journal::begin`] (a [`Journal::clear`]).
    pub(crate) fn end(&self) -> Result<()> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    /// The uses per grant of the rows the main log (as `tx` sees it) has not merged.
    /// Inside [`Journal::begin`].
    pub(crate) fn pending_uses(&mut self, tx: &Transaction<'_>) -> Result<HashMap<String, u64>> {
        let after = merged_after(tx, &self.generation)?;
        if self.counted_after != Some(after) {
            self.uses.clear();
            self.counted_after = Some(after);
            self.seen = after;
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT id, use_grant FROM journal WHERE id > ?1 ORDER BY id")?;
        let mut rows = st.query([self.seen])?;
        while let Some(r) = rows.next()? {
            self.seen = r.get(0)?;
            if let Some(g) = r.get::<_, Option<String>>(1)? {
                *self.uses.entry(g).or_default() += 1;
            }
        }
        Ok(self.uses.clone())
    }

    /// Writes `rows` and commits (fsync'd) the batch begun with [`Journal::begin`]. On
    /// an error nothing is written and the caller must disclose nothing.
    pub(crate) fn commit(&mut self, rows: &[JournalRow]) -> Result<()> {
        let written = (|| {
            let mut st = self.conn.prepare_cached(
                "INSERT INTO journal (time, entry, use_grant) VALUES (?1, ?2, ?3)",
            )?;
            for row in rows {
                if let Some(e) = &row.entry {
                    check_outcome(&e.outcome)?;
                }
                let entry = row
                    .entry
                    .as_ref()
                    .map(|e| serde_json::to_string(e).expect("a log row serializes"));
                st.execute(params![row.time, entry, row.use_grant])?;
            }
            self.conn.execute_batch("COMMIT")?;
            Ok::<_, Error>(())
        })();
        if let Err(e) = written {
            self.rollback();
            self.counted_after = None;
            return Err(Error::LogWriteFailed(format!(
                "the side journal could not be written: {e}"
            )));
        }
        Ok(())
    }

    /// Appends the journal rows not yet merged (the first `limit` of them) to the main
    /// log through `log`, adds their uses to `grants.uses` and records how far the
    /// journal is merged, inside `tx` (which holds the vault's write lock). Returns the
    /// last row merged or already merged (to clear with [`Journal::clear`] once `tx`
    /// committed), or `None` if the journal is empty.
    pub(crate) fn merge_into(
        &mut self,
        tx: &Transaction<'_>,
        log: &mut LogAppender<'_, '_>,
        limit: Option<usize>,
    ) -> Result<Option<i64>> {
        let after = merged_after(tx, &self.generation)?;
        let cache_valid = self.counted_after == Some(after);
        let mut st = self.conn.prepare_cached(
            "SELECT id, time, entry, use_grant FROM journal WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let limit = limit.map_or(-1, |l| l as i64);
        // Rows up to `after` were merged before a crash kept them from being cleared.
        let mut last: Option<i64> =
            self.conn
                .query_row("SELECT max(id) FROM journal WHERE id <= ?1", [after], |r| {
                    r.get(0)
                })?;
        let mut rows = st.query(params![after, limit])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            last = Some(id);
            let time: String = r.get(1)?;
            if let Some(json) = r.get::<_, Option<String>>(2)? {
                let e: NewLogEntry = serde_json::from_str(&json).map_err(|e| {
                    Error::LogWriteFailed(format!("side journal row {id} does not decode: {e}"))
                })?;
                log.append_at(&e, &time)?;
            }
            if let Some(g) = r.get::<_, Option<String>>(3)? {
                crate::grant::count_use(tx, &g)?;
                // Now in `grants.uses`: no longer pending.
                if let Some(n) = self
                    .uses
                    .get_mut(&g)
                    .filter(|_| cache_valid && id <= self.seen)
                {
                    *n -= 1;
                }
            }
        }
        if let Some(last) = last.filter(|l| *l > after) {
            tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute(params![MERGED_KEY, format!("{}:{last}", self.generation)])?;
            if cache_valid {
                // The counts now start after the new mark (as `tx` sees it).
                self.counted_after = Some(last);
                self.seen = self.seen.max(last);
            }
        }
        Ok(last)
    }

    /// Deletes the rows up to `last`, merged by a committed main transaction.
    pub(crate) fn clear(&mut self, last: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM journal WHERE id <= ?1")?
            .execute([last])?;
        Ok(())
    }

    /// Whether rows are left (merged or not).
    pub(crate) fn is_empty(&self) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM journal LIMIT 1", [], |_| Ok(()))
            .optional()?
            .is_none())
    }
}

/// The last journal row the main log (as `tx` sees it) has merged, for a journal of
/// `generation`; 0 for any other journal.
fn merged_after(tx: &Transaction<'_>, generation: &str) -> Result<i64> {
    let mark: Option<String> = tx
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([MERGED_KEY], |r| r.get(0))
        .optional()?;
    Ok(mark
        .as_deref()
        .and_then(|m| m.split_once(':'))
        .filter(|(g, _)| *g == generation)
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0))
}

/// Whether `vault` has a journal file.
pub(crate) fn exists(vault: &Vault) -> bool {
    vault.dir().join(JOURNAL_FILE).exists()
}

/// Merges `journal` into `vault`'s log in one transaction, waiting at most `wait` for
/// the write lock. Returns whether there was anything to merge; `Err(Busy)` if a
/// writer held the lock.
pub(crate) fn merge(vault: &Vault, journal: &mut Journal, wait: Duration) -> Result<bool> {
    if journal.is_empty()? {
        return Ok(false);
    }
    let conn = vault.conn();
    conn.busy_timeout(wait)?;
    let begun = Transaction::new_unchecked(conn, TransactionBehavior::Immediate);
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let tx = begun?;
    let mut log = LogAppender::begin(&tx)?;
    let Some(last) = journal.merge_into(&tx, &mut log, None)? else {
        return Ok(false);
    };
    log.finish()?;
    tx.commit()?;
    journal.clear(last)?;
    Ok(true)
}

/// Merges the journal, if there is one, unless a writer holds the vault. At vault
/// open and after an import commits: a failure is logged, never fatal (the rows wait
/// for the next merge).
pub(crate) fn merge_if_any(vault: &Vault) {
    if !exists(vault) {
        return;
    }
    let merged = Journal::open(vault).and_then(|mut j| merge(vault, &mut j, SIDE_AFTER));
    match merged {
        Ok(_) | Err(Error::Busy) => {}
        Err(e) => tracing::warn!(
            code = %e.code(),
            "the side journal could not be merged into the access log; it is kept"
        ),
    }
}
