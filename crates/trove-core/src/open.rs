//! Opening a vault: creating one, unlocking it (passphrase, remembered key, recovery
//! key), bringing its schema up to date (including the access log's compaction) and
//! merging the share decisions left in the side journal. It sits above every store,
//! because opening touches them all; the handle itself is [`crate::vault`].

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
use crate::keyfile::{KdfParams, KeyFile};
use crate::keystore::KeyStore;
use crate::secret::{DataKey, Passphrase, RecoveryKey};
use crate::vault::{
    create_db_file, create_private_dir, open_connection, read_keyfile, tighten_vault, Vault,
    DB_FILE, KEY_FILE, MIGRATIONS,
};

impl Vault {
    /// Creates a vault in `dir` (which may exist but must not hold a vault) and returns it
    /// unlocked, with the recovery key to show the person once.
    /// The passphrase slot's Argon2id parameters are calibrated on this machine
    /// ([`KdfParams::for_new_key`]).
    pub fn create(dir: &Path, passphrase: &Passphrase) -> Result<(Vault, RecoveryKey)> {
        if dir.join(KEY_FILE).exists() || dir.join(DB_FILE).exists() {
            return Err(Error::VaultExists(dir.to_path_buf()));
        }
        Self::create_with(dir, passphrase, KdfParams::for_new_key())
    }

    /// [`Vault::create`] with explicit KDF parameters.
    pub fn create_with(
        dir: &Path,
        passphrase: &Passphrase,
        params: KdfParams,
    ) -> Result<(Vault, RecoveryKey)> {
        if dir.join(KEY_FILE).exists() || dir.join(DB_FILE).exists() {
            return Err(Error::VaultExists(dir.to_path_buf()));
        }
        if passphrase.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        create_private_dir(dir)?;
        let key = DataKey::generate();
        let (keyfile, recovery) = KeyFile::new(&key, passphrase, params)?;
        // The key file goes first: a crash before the database exists leaves a vault
        // that opens (the database is created and migrated on first open).
        keyfile.write(&dir.join(KEY_FILE))?;
        let vault = Self::open_with_key(dir, key)?;
        Ok((vault, recovery))
    }

    /// Unlocks with the passphrase.
    pub fn unlock(dir: &Path, passphrase: &Passphrase) -> Result<Vault> {
        let key = read_keyfile(dir)?.unwrap_with_passphrase(passphrase)?;
        Self::open_with_key(dir, key)
    }

    /// Unlocks with the key remembered in `store` (`trove remember`).
    pub fn unlock_remembered(dir: &Path, store: &dyn KeyStore) -> Result<Vault> {
        let kf = read_keyfile(dir)?;
        if !kf.remembered {
            return Err(Error::NotRemembered);
        }
        let key = store.load(&kf.vault_id)?;
        Self::open_with_key(dir, key)
    }

    /// Sets a new passphrase using the recovery key, and returns the vault unlocked.
    pub fn recover(dir: &Path, recovery: &RecoveryKey, new: &Passphrase) -> Result<Vault> {
        let path = dir.join(KEY_FILE);
        let mut kf = read_keyfile(dir)?;
        let key = kf.unwrap_with_recovery(recovery)?;
        // Open first: a recovery key for a damaged database should not rewrap anything.
        let vault = Self::open_with_key(dir, key)?;
        kf.rewrap_passphrase(vault.data_key(), new, KdfParams::for_new_key())?;
        kf.write(&path)?;
        Ok(vault)
    }

    /// Opens the database with the raw data key.
    pub fn open_with_key(dir: &Path, key: DataKey) -> Result<Vault> {
        let kf = read_keyfile(dir)?;
        tighten_vault(dir)?;
        create_db_file(&dir.join(DB_FILE))?;
        let conn = open_connection(&dir.join(DB_FILE), &key)?;
        migrate(&conn)?;
        let vault = Vault::from_parts(dir, conn, key, kf.vault_id);
        // Share decisions a crash or a busy vault left in the side journal join the log
        // now, unless a writer holds the vault (they join later; see share::journal).
        crate::share::journal::merge_if_any(&vault);
        Ok(vault)
    }
}

/// The schema version whose SQL is followed by [`crate::access_log::stored::migrate_compact`].
const COMPACT_LOG_VERSION: usize = 9;
/// The schema version whose SQL is followed by [`crate::access_log::stored::migrate_blocks`].
const BLOCK_LOG_VERSION: usize = 10;

pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(Error::UnsupportedVersion(format!(
            "database schema {current}"
        )));
    }
    if current == MIGRATIONS.len() {
        return Ok(());
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let current: usize = tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)?;
        if i + 1 == COMPACT_LOG_VERSION {
            crate::access_log::stored::migrate_compact(&tx)?;
        }
        if i + 1 == BLOCK_LOG_VERSION {
            crate::access_log::stored::migrate_blocks(&tx)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(())
}
