//! The vault: a directory holding the SQLCipher database (`trove.db`) and the key file
//! (`trove.key`). Owns the handle (its connection, key check, pragmas, transactions and
//! clock), the schema's migrations, locking, passphrase change and remember/forget.
//! Creating, unlocking and recovering a vault (which also migrate it and merge the share
//! journal) are in [`crate::open`], above the stores.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::keyfile::{KdfParams, KeyFile};
use crate::keystore::KeyStore;
use crate::secret::{DataKey, Passphrase};

/// The database file inside a vault directory.
pub const DB_FILE: &str = "trove.db";
/// The key file inside a vault directory.
pub const KEY_FILE: &str = "trove.key";
/// The share decisions' side journal inside a vault directory (see
/// `crate::share::journal`).
pub const JOURNAL_FILE: &str = "journal.db";

/// Schema migrations, applied in order; `PRAGMA user_version` is the number applied.
/// Append only: never edit a migration that has shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: records, their tags and the full-text index.
    r#"
    CREATE TABLE records (
        rowid      INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        type       TEXT NOT NULL,
        fields     TEXT NOT NULL,
        tags       TEXT NOT NULL,
        source     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX records_by_type ON records(type, rowid);
    CREATE TABLE record_tags (
        tag TEXT NOT NULL,
        rec INTEGER NOT NULL REFERENCES records(rowid) ON DELETE CASCADE,
        PRIMARY KEY (tag, rec)
    ) WITHOUT ROWID;
    CREATE INDEX record_tags_by_rec ON record_tags(rec);
    CREATE VIRTUAL TABLE records_fts USING fts5(
        body, content='', contentless_delete=1,
        tokenize='unicode61 remove_diacritics 2'
    );
    INSERT INTO records_fts(records_fts, rank) VALUES ('hashsize', 8388608);
    INSERT INTO records_fts(records_fts, rank) VALUES ('automerge', 8);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    "#,
    // 2: grants, the hash-chained access log and consent receipts (append-only).
    r#"
    CREATE TABLE grants (
        rowid      INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        org        TEXT NOT NULL,
        purpose    TEXT NOT NULL,
        scope      TEXT NOT NULL,
        only_tag   TEXT,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        max_uses   INTEGER,
        uses       INTEGER NOT NULL DEFAULT 0,
        revoked_at TEXT,
        token_hash BLOB NOT NULL UNIQUE
    );
    CREATE TABLE access_log (
        seq         INTEGER PRIMARY KEY,
        time        TEXT NOT NULL,
        kind        TEXT NOT NULL,
        grant_id    TEXT,
        org         TEXT,
        remote_addr TEXT,
        method      TEXT,
        path        TEXT,
        status      INTEGER,
        outcome     TEXT NOT NULL,
        record_ids  TEXT NOT NULL,
        fields      TEXT NOT NULL,
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL
    );
    CREATE INDEX access_log_by_org ON access_log(org, seq);
    CREATE INDEX access_log_by_grant ON access_log(grant_id, seq);
    CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
        BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
    CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
        BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
    CREATE TABLE consent_receipts (
        rowid      INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        grant_id   TEXT NOT NULL,
        event      TEXT NOT NULL,
        created_at TEXT NOT NULL,
        receipt    TEXT NOT NULL
    );
    CREATE INDEX consent_receipts_by_grant ON consent_receipts(grant_id, rowid);
    CREATE TRIGGER consent_receipts_no_update BEFORE UPDATE ON consent_receipts
        BEGIN SELECT RAISE(ABORT, 'consent receipts are append-only'); END;
    CREATE TRIGGER consent_receipts_no_delete BEFORE DELETE ON consent_receipts
        BEGIN SELECT RAISE(ABORT, 'consent receipts are append-only'); END;
    "#,
    // 3: the person's S3-compatible storage targets (the secret key lives only
    // here, inside the encrypted database) and the staged copy of each offline grant.
    r#"
    CREATE TABLE storage_targets (
        name          TEXT PRIMARY KEY,
        endpoint      TEXT NOT NULL,
        bucket        TEXT NOT NULL,
        region        TEXT NOT NULL,
        prefix        TEXT NOT NULL,
        access_key_id TEXT NOT NULL,
        secret_key    TEXT NOT NULL,
        created_at    TEXT NOT NULL
    );
    CREATE TABLE staged_grants (
        grant_id        TEXT PRIMARY KEY REFERENCES grants(id),
        storage         TEXT NOT NULL,
        recipient       TEXT NOT NULL,
        key_in_link     INTEGER NOT NULL,
        link_id         TEXT NOT NULL,
        manifest_object TEXT NOT NULL,
        bundle_object   TEXT NOT NULL,
        version         INTEGER NOT NULL,
        state           TEXT NOT NULL,
        reason          TEXT,
        projection      TEXT NOT NULL,
        records         INTEGER NOT NULL,
        available_until TEXT NOT NULL,
        staged_at       TEXT NOT NULL,
        stale_objects   TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX staged_grants_by_storage ON staged_grants(storage);
    "#,
    // 4: remote sharing. Log rows of remote requests name the organization's
    // endpoint key and the route (direct or relayed); a grant can be bound to one
    // organization key. Rows written before keep NULL here and hash as before.
    r#"
    ALTER TABLE access_log ADD COLUMN org_key TEXT;
    ALTER TABLE access_log ADD COLUMN route TEXT;
    ALTER TABLE grants ADD COLUMN org_key TEXT;
    "#,
    // 5: what each import last gave a record (so a newer export updates what an
    // import made without overwriting fields edited by hand since), and address-book
    // records that earlier vCard imports stored as the owner's own identity/contact/
    // address/employment/note moved to `person` (one person per old record: the old
    // imports kept no link between a card's records, and guessing could merge two people).
    // The count is left in meta for the next unlock to report once.
    r#"
    CREATE TABLE import_origin (id TEXT PRIMARY KEY, fields TEXT NOT NULL) WITHOUT ROWID;
    CREATE TRIGGER import_origin_forget AFTER DELETE ON records
        BEGIN DELETE FROM import_origin WHERE id = old.id; END;
    CREATE TEMP TABLE moved AS SELECT rowid AS r FROM records
        WHERE source = 'import:vcard'
          AND type IN ('identity', 'contact', 'address', 'employment', 'note');
    INSERT INTO meta (key, value)
        SELECT 'import:person-migration', n FROM (SELECT count(*) AS n FROM moved) WHERE n > 0;
    DELETE FROM records_fts WHERE rowid IN (SELECT r FROM moved);
    UPDATE records SET fields = CASE type
        WHEN 'identity' THEN json_patch('{}', json_object(
            'full_name', nullif(trim(coalesce(fields ->> 'given_name', '') || ' ' || coalesce(fields ->> 'family_name', '')), ''),
            'given_name', fields ->> 'given_name',
            'family_name', fields ->> 'family_name',
            'birthday', fields ->> 'birth_date'))
        WHEN 'contact' THEN json_patch('{}', json_object(
            'emails', CASE WHEN fields ->> 'label' IS NOT NULL AND length(fields ->> 'label') <= 32
                              AND (fields ->> 'label') NOT GLOB '*[^A-Za-z _-]*'
                         THEN (fields ->> 'label') || ': ' || (fields ->> 'email')
                         ELSE fields ->> 'email' END,
            'phones', CASE WHEN fields ->> 'label' IS NOT NULL AND length(fields ->> 'label') <= 32
                              AND (fields ->> 'label') NOT GLOB '*[^A-Za-z _-]*'
                         THEN (fields ->> 'label') || ': ' || (fields ->> 'phone')
                         ELSE fields ->> 'phone' END))
        WHEN 'address' THEN json_object('addresses',
            CASE WHEN fields ->> 'label' IS NOT NULL AND length(fields ->> 'label') <= 32
                      AND (fields ->> 'label') NOT GLOB '*[^A-Za-z _-]*'
                 THEN (fields ->> 'label') || ': ' ELSE 'address: ' END
            || trim(coalesce(replace(fields ->> 'street', char(10), ', ') || ', ', '')
                 || coalesce(fields ->> 'city' || ', ', '')
                 || coalesce(fields ->> 'region' || ', ', '')
                 || coalesce(fields ->> 'postal_code' || ', ', '')
                 || coalesce(fields ->> 'country', ''), ', '))
        WHEN 'employment' THEN json_patch('{}', json_object(
            'organization', fields ->> 'employer',
            'title', fields ->> 'title'))
        ELSE json_patch('{}', json_object(
            'full_name', CASE WHEN fields ->> 'title' LIKE 'Note on %'
                              THEN substr(fields ->> 'title', 9) END,
            'notes', fields ->> 'body'))
        END,
        type = 'person'
        WHERE rowid IN (SELECT r FROM moved);
    INSERT INTO records_fts (rowid, body)
        SELECT rowid,
            (SELECT group_concat(value, char(10)) FROM json_each(records.fields)) || char(10)
            || coalesce((SELECT group_concat(value, char(10)) || char(10) FROM json_each(records.tags)), '')
        FROM records WHERE rowid IN (SELECT r FROM moved);
    DROP TABLE moved;
    "#,
    // 6: a row may sum up repeated failed requests (one row per source and reason per
    // minute, with how many it stands for). Rows without a count hash as before.
    r#"
    ALTER TABLE access_log ADD COLUMN count INTEGER;
    "#,
    // 7: a grant may name the records it covers (a JSON array of ids); NULL covers
    // every record of its types, as before.
    r#"
    ALTER TABLE grants ADD COLUMN records TEXT;
    "#,
    // 8: the trash (a removed record, as JSON, out of `records` so that no list, search,
    // share or export path reaches it; erased after 30 days) and what each import added
    // (ids with their `updated_at`, so an undo keeps records changed since).
    r#"
    CREATE TABLE trash (
        id         TEXT PRIMARY KEY,
        record     TEXT NOT NULL,
        trashed_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE import_batches (
        id         TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        file       TEXT NOT NULL,
        format     TEXT NOT NULL,
        added      TEXT NOT NULL,
        undone_at  TEXT
    ) WITHOUT ROWID;
    "#,
    // 9: the access log stored compactly (ids, hashes and times in binary when they
    // round-trip, no stored prev_hash; see `access_log::stored`). The old rows are copied
    // over by `access_log::stored::migrate_compact`, which also recreates the indexes and
    // the append-only triggers; what they hash and how they read is unchanged.
    r#"
    DROP INDEX access_log_by_org;
    DROP INDEX access_log_by_grant;
    ALTER TABLE access_log RENAME TO access_log_text;
    CREATE TABLE access_log (
        seq         INTEGER PRIMARY KEY,
        time        NOT NULL,
        kind        TEXT NOT NULL,
        grant_id,
        org         TEXT,
        remote_addr TEXT,
        method      TEXT,
        path        TEXT,
        status      INTEGER,
        outcome     TEXT NOT NULL,
        record_ids  NOT NULL,
        fields      TEXT NOT NULL,
        hash        NOT NULL,
        org_key     TEXT,
        route       TEXT,
        count       INTEGER
    );
    "#,
    // 10: the access log stored as one row per commit, a block of entries, indexed by
    // the organizations and grants they name (see `access_log::block`). The rows of the
    // table above are moved over by `access_log::stored::migrate_blocks`, which then
    // drops it and makes the new tables append-only; what they hash and how they read
    // is unchanged.
    r#"
    CREATE TABLE access_log_block (
        first_seq INTEGER PRIMARY KEY,
        last_seq  INTEGER NOT NULL,
        min_time  INTEGER,
        max_time  INTEGER,
        entries   BLOB NOT NULL
    );
    CREATE TABLE access_log_key (
        key   BLOB NOT NULL,
        block INTEGER NOT NULL,
        PRIMARY KEY (key, block)
    ) WITHOUT ROWID;
    "#,
    // 11: what each import changed, a row per record (written as the import goes, so a
    // large bundle needs no list in memory): the `updated_at` it left, whether it added
    // the record, and, for one it updated, the earlier version (JSON, kept for
    // `trash::TRASH_DAYS` days) that an undo puts back, with the earlier `import_origin`
    // fields when a vCard/CSV/JSON import replaced them. Rows of batches already undone
    // are not kept.
    r#"
    CREATE TABLE import_batch_records (
        batch      TEXT NOT NULL,
        id         TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        was_new    INTEGER NOT NULL,
        before     TEXT,
        before_origin TEXT,
        PRIMARY KEY (batch, id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO import_batch_records (batch, id, updated_at, was_new)
        SELECT b.id, json_extract(e.value, '$[0]'), json_extract(e.value, '$[1]'), 1
        FROM import_batches b, json_each(b.added) e
        WHERE b.undone_at IS NULL;
    ALTER TABLE import_batches DROP COLUMN added;
    "#,
    // 12: `access_log_key` indexes runs of blocks: a block whose organizations and
    // grants are those of the block before it gets no key rows of its own (see
    // `access_log::block`), so a share commit writes no index page. Every block written
    // so far has its own key rows: each starts a run, marked with the run key x'00'.
    r#"
    INSERT OR IGNORE INTO access_log_key (key, block) SELECT x'00', first_seq FROM access_log_block;
    "#,
];

/// An unlocked vault. Dropping it (or calling [`Vault::lock`]) closes the database and
/// zeroizes the data key.
pub struct Vault {
    dir: PathBuf,
    conn: Connection,
    key: DataKey,
    vault_id: String,
    /// Where "now" comes from for grants and share decisions (see [`crate::clock`]).
    clock: Clock,
    /// What to do when this handle closes: record the log head as the rollback anchor
    /// (set by [`crate::anchor`]'s `hold_anchor`).
    pub(crate) on_close: Option<OnClose>,
}

/// Work a vault handle does as it closes, given the still open handle.
pub(crate) type OnClose = Box<dyn FnOnce(&Vault) + Send>;

impl Drop for Vault {
    fn drop(&mut self) {
        if let Some(f) = self.on_close.take() {
            f(self);
        }
    }
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Facts about a vault that need no unlocking.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VaultInfo {
    pub path: PathBuf,
    pub vault_id: String,
    pub created_at: String,
    pub remembered: bool,
    pub kdf: KdfParams,
}

impl Vault {
    /// The handle over an opened, migrated connection (see [`crate::open`]).
    pub(crate) fn from_parts(
        dir: &Path,
        conn: Connection,
        key: DataKey,
        vault_id: String,
    ) -> Vault {
        Vault {
            dir: dir.to_path_buf(),
            conn,
            key,
            vault_id,
            clock: Clock::system(),
            on_close: None,
        }
    }

    /// The data key (to rewrap it under a new passphrase).
    pub(crate) fn data_key(&self) -> &DataKey {
        &self.key
    }

    /// The clock grants and share decisions read the time from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Makes this handle (and the handles cloned from it afterwards) read the time from
    /// `clock` (tests only: a fixed clock they move).
    #[cfg(any(test, feature = "test-clock"))]
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Reads the key file only: path, id, remembered flag, KDF parameters.
    pub fn info(dir: &Path) -> Result<VaultInfo> {
        let kf = read_keyfile(dir)?;
        Ok(VaultInfo {
            path: dir.to_path_buf(),
            vault_id: kf.vault_id.clone(),
            created_at: kf.created_at.clone(),
            remembered: kf.remembered,
            kdf: kf.kdf_params(),
        })
    }

    /// A second handle on the same vault with its own database connection (for server
    /// workers and background work). Holds its own copy of the key.
    pub fn try_clone(&self) -> Result<Vault> {
        let key = self.key.duplicate();
        let conn = open_connection(&self.dir.join(DB_FILE), &key)?;
        Ok(Vault {
            dir: self.dir.clone(),
            conn,
            key,
            vault_id: self.vault_id.clone(),
            clock: self.clock.clone(),
            on_close: None,
        })
    }

    /// Changes the passphrase: rewraps the data key under the new one, with Argon2id
    /// parameters calibrated on this machine (and in the current key-file format). The
    /// database is not re-encrypted; the old passphrase stops working at once.
    ///
    /// `current` must open the key file, however this vault was unlocked: a vault opened
    /// from the OS keyring, or left unlocked at an unattended computer, does not let
    /// whoever sits there lock its owner out ([`Error::WrongPassphrase`] otherwise).
    /// Whether `new` is strong enough is the caller's check
    /// ([`crate::passphrase_policy::check_new`]), which has a deliberate override.
    pub fn change_passphrase(&self, current: &Passphrase, new: &Passphrase) -> Result<()> {
        if new.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        let path = self.dir.join(KEY_FILE);
        let mut kf = KeyFile::read(&path)?;
        let opened = kf.unwrap_with_passphrase(current)?;
        if opened.expose_secret() != self.key.expose_secret() {
            // The key file was replaced under this open vault by another vault's.
            return Err(Error::KeyFileDamaged(
                "the key file no longer belongs to the open vault".into(),
            ));
        }
        kf.rewrap_passphrase(&self.key, new, KdfParams::for_new_key())?;
        kf.write(&path)
    }

    /// Keeps the data key in `store` so this device opens the vault without a passphrase.
    pub fn remember(&self, store: &dyn KeyStore) -> Result<()> {
        let path = self.dir.join(KEY_FILE);
        let mut kf = KeyFile::read(&path)?;
        store.store(&self.vault_id, &self.key)?;
        kf.remembered = true;
        kf.write(&path)
    }

    /// Drops the remembered key from `store`; needs no unlocking.
    pub fn forget(dir: &Path, store: &dyn KeyStore) -> Result<()> {
        let path = dir.join(KEY_FILE);
        let mut kf = read_keyfile(dir)?;
        store.delete(&kf.vault_id)?;
        if kf.remembered {
            kf.remembered = false;
            kf.write(&path)?;
        }
        Ok(())
    }

    /// Closes the database and zeroizes the key.
    pub fn lock(self) {
        drop(self);
    }

    /// The vault directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This vault's random id.
    pub fn vault_id(&self) -> &str {
        &self.vault_id
    }

    /// The open database connection.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A 256-bit key derived from the data key for one purpose (`label`), e.g. the key
    /// of the share tokens' keyed hash. HMAC-SHA256(data key, "trove subkey " + label).
    pub fn derive_subkey(&self, label: &str) -> zeroize::Zeroizing<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .expect("any key length");
        mac.update(b"trove subkey ");
        mac.update(label.as_bytes());
        zeroize::Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// Runs `f` in an immediate (write) transaction; commits if it returns `Ok`.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        in_transaction(&self.conn, TransactionBehavior::Immediate, f)
    }

    /// Runs `f` in a read transaction: one consistent snapshot for several queries.
    pub fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        in_transaction(&self.conn, TransactionBehavior::Deferred, f)
    }

    /// Checks every page's HMAC (`PRAGMA cipher_integrity_check`) and SQLite's own
    /// structure check. Reads the whole database.
    pub fn check_integrity(&self) -> Result<()> {
        let mut stmt = self.conn.prepare("PRAGMA cipher_integrity_check")?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if let Some(p) = problems.first() {
            return Err(Error::VaultDamaged(p.clone()));
        }
        let ok: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if ok != "ok" {
            return Err(Error::VaultDamaged(ok));
        }
        Ok(())
    }
}

pub(crate) fn read_keyfile(dir: &Path) -> Result<KeyFile> {
    let path = dir.join(KEY_FILE);
    if !path.exists() {
        return Err(Error::NoVault(dir.to_path_buf()));
    }
    KeyFile::read(&path)
}

/// Creates the vault directory, private (0700). An existing directory is used only when
/// it is empty (then made 0700); one that holds anything is refused and left exactly as
/// it was: `TROVE_VAULT=/tmp trove init` must never lock everyone else out of `/tmp`.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::VaultDirNotEmpty(dir.to_path_buf()));
            }
            set_mode(dir, 0o700)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)
                .map_err(|e| Error::io(format!("can't create {}", dir.display()), e))?;
            // The mode given to mkdir is cut by the umask; 0700 is the floor we want.
            set_mode(dir, 0o700)
        }
        Err(e) => Err(Error::io(format!("can't use {}", dir.display()), e)),
    }
}

/// The names a vault directory holds: the key file, the database, the share side
/// journal and SQLite's side files, and the hidden temp files of atomic writes.
fn is_vault_file(name: &std::ffi::OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    matches!(
        name,
        KEY_FILE | DB_FILE | "trove.db-wal" | "trove.db-shm" | "trove.db-journal"
    ) || name
        .strip_prefix(JOURNAL_FILE)
        .is_some_and(|rest| matches!(rest, "" | "-wal" | "-shm" | "-journal"))
        || (name.starts_with(".trove.key.") && name.ends_with(".tmp"))
}

/// Makes an opened vault private again if something loosened it: every vault file
/// 0600, and the directory 0700 when it holds nothing but vault files (a directory that
/// also holds other files is left as it is; the files themselves are what keep the data
/// private). A mode that cannot be tightened (the files belong to someone else) is an
/// error, before anything is read.
pub(crate) fn tighten_vault(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("can't read {}", dir.display()), e))?;
        let mut only_vault_files = true;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("can't read {}", dir.display()), e))?;
            if !is_vault_file(&entry.file_name()) {
                only_vault_files = false;
                continue;
            }
            let meta = entry
                .metadata()
                .map_err(|e| Error::io(format!("can't read {}", entry.path().display()), e))?;
            if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                set_mode(&entry.path(), 0o600)?;
            }
        }
        let mode = std::fs::metadata(dir)
            .map_err(|e| Error::io(format!("can't read {}", dir.display()), e))?
            .permissions()
            .mode();
        if only_vault_files && mode & 0o077 != 0 {
            set_mode(dir, 0o700)?;
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Sets a Unix mode (no-op elsewhere); failing names the path and why.
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
            Error::VaultPermissions {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Creates the (empty) database file with mode 0600 before SQLite opens it, so that it
/// and the WAL and shared-memory files SQLite derives from it (they copy its mode) are
/// never readable by others, whatever the umask.
pub(crate) fn create_db_file(path: &Path) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(format!("can't create {}", path.display()), e)),
    }
}

/// Opens one SQLCipher connection: key first, then the key check, then the pragmas.
pub(crate) fn open_connection(path: &Path, key: &DataKey) -> Result<Connection> {
    let conn = open_file(path)?;
    let mut pragma = zeroize::Zeroizing::new(String::from("PRAGMA key = \""));
    pragma.push_str(&key.sqlcipher_pragma());
    pragma.push_str("\";");
    conn.execute_batch(&pragma)?;
    drop(pragma);
    // The key was already authenticated by the key file's AEAD tag, so a database that
    // does not open with it is damaged, not locked with another key.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| match Error::from(e) {
        Error::Database(m) => Error::VaultDamaged(m),
        other => other,
    })?;
    configure(&conn)?;
    Ok(conn)
}

/// Opens the database file, without a key yet, with SQLCipher's own logging silenced.
pub(crate) fn open_file(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        Error::io(
            format!("can't open {}", path.display()),
            std::io::Error::other(e),
        )
    })?;
    // SQLCipher logs to stderr by default; the CLI's stderr is for the person.
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
    Ok(conn)
}

/// The page cache of one connection, in KiB. SQLCipher decrypts (and checks the HMAC
/// of) every page it reads into the cache, so a cache that holds the hot index pages
/// keeps lookups and search off the decryption path. Memory is only used as pages are
/// actually read.
const CACHE_KIB: i64 = 64 * 1024;

/// The pragmas every connection runs with, once it can read the database.
pub(crate) fn configure(conn: &Connection) -> Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Database(format!(
            "could not switch to WAL (got {mode})"
        )));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -{CACHE_KIB};"
    ))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(())
}

/// How long a connection waits for another one's write lock before it gives up (busy).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `f` in a transaction of `behavior` on `conn`; commits if it returns `Ok`.
pub(crate) fn in_transaction<T>(
    conn: &Connection,
    behavior: TransactionBehavior,
    f: impl FnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let tx = Transaction::new_unchecked(conn, behavior)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keystore::MemoryKeyStore;

    pub(crate) const FAST: KdfParams = KdfParams {
        m_cost_kib: KdfParams::MIN_M_COST_KIB,
        t_cost: 1,
        p_cost: 1,
    };

    pub(crate) fn new_vault() -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let (v, _) =
            Vault::create_with(&dir.path().join("v"), &Passphrase::new("pw".into()), FAST).unwrap();
        (dir, v)
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    fn chmod(p: &Path, m: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    /// L5: the database, its WAL and shared-memory files were created with the umask's
    /// mode (0644): readable by every local user. All vault files are 0600, the
    /// directory 0700, and a vault opened looser is tightened.
    #[cfg(unix)]
    #[test]
    fn vault_files_are_private_and_tightened_when_opened_looser_l5() {
        let (dir, v) = new_vault();
        let vd = dir.path().join("v");
        v.add(crate::NewRecord::new(
            "note",
            [("title".into(), "x".into())],
        ))
        .unwrap();
        let files = ["trove.key", "trove.db", "trove.db-wal", "trove.db-shm"];
        assert_eq!(mode(&vd), 0o700);
        for f in files {
            assert_eq!(mode(&vd.join(f)), 0o600, "{f} is readable by others");
        }
        // Loosened while closed (SQLite removes the WAL and shm files on close; an
        // extra handle keeps them).
        let keep = v.try_clone().unwrap();
        drop(v);
        chmod(&vd, 0o755);
        for f in files {
            chmod(&vd.join(f), 0o644);
        }
        let v = Vault::unlock(&vd, &Passphrase::new("pw".into())).unwrap();
        v.count_records().unwrap();
        assert_eq!(mode(&vd), 0o700, "the directory was not tightened");
        for f in files {
            assert_eq!(mode(&vd.join(f)), 0o600, "{f} was not tightened");
        }
        drop(keep);
        // A directory that also holds other files keeps its mode; the vault files are
        // still tightened.
        drop(v);
        std::fs::write(vd.join("notes.txt"), b"mine").unwrap();
        chmod(&vd, 0o755);
        chmod(&vd.join("trove.key"), 0o644);
        Vault::unlock(&vd, &Passphrase::new("pw".into())).unwrap();
        assert_eq!(mode(&vd), 0o755);
        assert_eq!(mode(&vd.join("trove.key")), 0o600);
    }

    /// `TROVE_VAULT=/tmp trove init` made /tmp 0700. A directory holding anything is
    /// refused and left exactly as it was; an empty one is used and made private.
    #[cfg(unix)]
    #[test]
    fn create_never_changes_the_mode_of_a_non_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared-tmp");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join("someone-elses-file"), b"x").unwrap();
        chmod(&shared, 0o1777);
        let e = Vault::create_with(&shared, &Passphrase::new("pw".into()), FAST).unwrap_err();
        assert_eq!(e.code(), "vault_dir_not_empty", "{e}");
        assert!(e.hint().is_some());
        assert_eq!(mode(&shared), 0o1777, "the shared directory's mode changed");
        assert!(!shared.join(KEY_FILE).exists() && !shared.join(DB_FILE).exists());
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        chmod(&empty, 0o755);
        Vault::create_with(&empty, &Passphrase::new("pw".into()), FAST).unwrap();
        assert_eq!(mode(&empty), 0o700);
    }

    #[test]
    fn create_refuses_an_existing_vault() {
        let (dir, v) = new_vault();
        drop(v);
        let err = Vault::create_with(
            &dir.path().join("v"),
            &Passphrase::new("other".into()),
            FAST,
        )
        .unwrap_err();
        assert!(matches!(err, Error::VaultExists(_)), "{err}");
        Vault::unlock(&dir.path().join("v"), &Passphrase::new("pw".into()))
            .expect("original passphrase still opens it");
    }

    #[test]
    fn unlock_checks_passphrase_and_missing_vault() {
        let (dir, v) = new_vault();
        drop(v);
        let p = dir.path().join("v");
        assert!(matches!(
            Vault::unlock(&p, &Passphrase::new("nope".into())),
            Err(Error::WrongPassphrase)
        ));
        assert!(matches!(
            Vault::unlock(&dir.path().join("none"), &Passphrase::new("pw".into())),
            Err(Error::NoVault(_))
        ));
        let v = Vault::unlock(&p, &Passphrase::new("pw".into())).unwrap();
        let mode: String = v
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = v
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        let temp: i64 = v
            .conn()
            .query_row("PRAGMA temp_store", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            (mode.as_str(), sync, temp),
            ("wal", 2, 2),
            "WAL, synchronous=FULL, temp_store=MEMORY"
        );
    }

    #[test]
    fn remember_and_forget_use_the_key_store() {
        let (dir, v) = new_vault();
        let p = dir.path().join("v");
        let store = MemoryKeyStore::default();
        assert!(matches!(
            Vault::unlock_remembered(&p, &store),
            Err(Error::NotRemembered)
        ));
        v.remember(&store).unwrap();
        drop(v);
        assert!(Vault::info(&p).unwrap().remembered);
        Vault::unlock_remembered(&p, &store).expect("remembered key opens the vault");
        Vault::forget(&p, &store).unwrap();
        assert!(!Vault::info(&p).unwrap().remembered);
        assert!(matches!(
            Vault::unlock_remembered(&p, &store),
            Err(Error::NotRemembered)
        ));
    }

    #[test]
    fn unreachable_keyring_is_a_keyring_error_and_changes_nothing() {
        let (dir, v) = new_vault();
        let p = dir.path().join("v");
        let before = std::fs::read(p.join(KEY_FILE)).unwrap();
        let err = v.remember(&MemoryKeyStore::unavailable()).unwrap_err();
        assert_eq!(err.code(), "keyring");
        assert_eq!(std::fs::read(p.join(KEY_FILE)).unwrap(), before);
    }

    #[test]
    fn recover_sets_a_new_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v");
        let (v, rk) = Vault::create_with(&p, &Passphrase::new("forgotten".into()), FAST).unwrap();
        drop(v);
        Vault::recover(&p, &rk, &Passphrase::new("fresh".into())).unwrap();
        assert!(matches!(
            Vault::unlock(&p, &Passphrase::new("forgotten".into())),
            Err(Error::WrongPassphrase)
        ));
        Vault::unlock(&p, &Passphrase::new("fresh".into())).unwrap();
    }

    /// The rule "a new passphrase needs the current one" lives here, not in a front end:
    /// a vault opened from the keyring (nobody typed anything) cannot have its passphrase
    /// changed by whoever sits at the computer, and a failed attempt changes nothing.
    #[test]
    fn changing_the_passphrase_needs_the_current_one_even_when_remembered() {
        let (dir, v) = new_vault();
        let p = dir.path().join("v");
        let store = MemoryKeyStore::default();
        v.remember(&store).unwrap();
        drop(v);
        let v = Vault::unlock_remembered(&p, &store).unwrap();
        let before = std::fs::read(p.join(KEY_FILE)).unwrap();
        let pw = |s: &str| Passphrase::new(s.into());
        for (current, new, code) in [
            ("guess", "taken over", "wrong_passphrase"),
            ("", "taken over", "wrong_passphrase"),
            ("pw", "", "empty_passphrase"),
        ] {
            let err = v.change_passphrase(&pw(current), &pw(new)).unwrap_err();
            assert_eq!(err.code(), code, "{current:?} → {new:?}");
            assert_eq!(std::fs::read(p.join(KEY_FILE)).unwrap(), before);
        }
        v.change_passphrase(&pw("pw"), &pw("next one")).unwrap();
        drop(v);
        assert!(matches!(
            Vault::unlock(&p, &pw("pw")),
            Err(Error::WrongPassphrase)
        ));
        Vault::unlock(&p, &pw("next one")).unwrap();
    }

    #[test]
    fn half_created_vault_opens() {
        // A crash after the key file was written but before the database existed.
        let (dir, v) = new_vault();
        drop(v);
        let p = dir.path().join("v");
        for f in ["trove.db", "trove.db-wal", "trove.db-shm"] {
            let _ = std::fs::remove_file(p.join(f));
        }
        Vault::unlock(&p, &Passphrase::new("pw".into()))
            .expect("database is recreated and migrated");
    }

    #[test]
    fn full_text_index_is_tuned_for_batch_inserts() {
        let (_dir, v) = new_vault();
        let config = |k: &str| -> i64 {
            v.conn()
                .query_row("SELECT v FROM records_fts_config WHERE k = ?1", [k], |r| {
                    r.get(0)
                })
                .unwrap()
        };
        assert_eq!(
            config("hashsize"),
            8 << 20,
            "one flush per 10k-record batch"
        );
        assert_eq!(config("automerge"), 8, "fewer merge passes");
        let cache: i64 = v
            .conn()
            .query_row("PRAGMA cache_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(cache, -CACHE_KIB);
    }
}
