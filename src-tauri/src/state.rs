//! The app's state: which vault directory it uses, the unlocked vault (if any) and the
//! key store for "remember this device". Every operation here is one trove-core call.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use trove_core::{
    Error, KdfParams, KeyStore, ListFilter, LogFilter, Passphrase, RecoveryKey, Result, Vault,
};

use crate::dto::{
    ApiError, Counts, CreatedGrant, CreatedVault, GrantDto, LogEntryDto, NewGrantDto,
    OrgSummaryDto, Receipts, RecordDto, RecordTypeDto, SharingStatus, UnlockOutcome, VaultStatus,
    VerifyReportDto,
};
use crate::sharing::{self, Sharing};

/// The passphrase of the demo vault. It is printed on the first-run screen: the demo
/// vault holds sample data only.
pub const DEMO_PASSPHRASE: &str = "trove demo";

/// How many search hits the records screen shows.
const SEARCH_LIMIT: usize = 200;

/// The desktop app's state, shared by every command.
pub struct AppState {
    dir: PathBuf,
    /// A file outside the vault naming the demo vault this app created, so the unlock
    /// screen can show the demo passphrase (nothing personal is in it).
    demo_marker: Option<PathBuf>,
    kdf: KdfParams,
    keystore: Box<dyn KeyStore>,
    /// `None` while locked. Locking drops the vault: it closes the database and
    /// zeroizes the data key.
    vault: Mutex<Option<Vault>>,
    /// The share server, when sharing is on. It holds its own vault handle while the
    /// app is unlocked and none while it is locked.
    sharing: Mutex<Option<Sharing>>,
}

impl AppState {
    /// State for the vault in `dir`; new vaults and passphrases use `kdf`.
    pub fn new(dir: PathBuf, kdf: KdfParams, keystore: Box<dyn KeyStore>) -> Self {
        AppState {
            demo_marker: dirs::config_dir().map(|d| d.join("trove").join("desktop-demo-vault")),
            dir,
            kdf,
            keystore,
            vault: Mutex::new(None),
            sharing: Mutex::new(None),
        }
    }

    /// The vault directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn slot(&self) -> MutexGuard<'_, Option<Vault>> {
        // A panic while holding the lock leaves a vault that is still valid.
        self.vault.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the unlocked vault, or fails with `Error::Locked`.
    pub fn with_vault<T>(&self, f: impl FnOnce(&Vault) -> Result<T>) -> Result<T> {
        match self.slot().as_ref() {
            Some(v) => f(v),
            None => Err(Error::Locked),
        }
    }

    fn sharing(&self) -> MutexGuard<'_, Option<Sharing>> {
        self.sharing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self, vault: Vault) {
        if let Some(s) = self.sharing().as_ref() {
            match vault.try_clone() {
                Ok(handle) => s.unlock(handle),
                Err(e) => tracing::warn!(code = e.code(), "share server stays locked"),
            }
        }
        *self.slot() = Some(vault);
    }

    /// Whether a vault exists, is unlocked and is remembered on this device.
    pub fn status(&self) -> VaultStatus {
        let info = Vault::info(&self.dir).ok();
        VaultStatus {
            path: self.dir.display().to_string(),
            exists: info.is_some(),
            unlocked: self.slot().is_some(),
            remembered: info.as_ref().is_some_and(|i| i.remembered),
            demo_passphrase: DEMO_PASSPHRASE.to_string(),
            is_demo: info.is_some() && self.is_demo(),
        }
    }

    /// Uses `path` instead of the config dir for the demo marker (tests).
    pub fn with_demo_marker(mut self, path: PathBuf) -> Self {
        self.demo_marker = Some(path);
        self
    }

    fn is_demo(&self) -> bool {
        self.demo_marker
            .as_ref()
            .and_then(|m| std::fs::read_to_string(m).ok())
            .is_some_and(|p| Path::new(p.trim_end_matches('\n')) == self.dir)
    }

    fn mark_demo(&self) {
        if let Some(m) = &self.demo_marker {
            let ok = m
                .parent()
                .is_some_and(|p| std::fs::create_dir_all(p).is_ok())
                && std::fs::write(m, format!("{}\n", self.dir.display())).is_ok();
            if !ok {
                tracing::warn!(
                    "could not note the demo vault; its unlock screen will not show the passphrase"
                );
            }
        }
    }

    /// Creates the vault and leaves it unlocked; returns the recovery key to show once.
    pub fn create(&self, passphrase: &Passphrase) -> Result<CreatedVault> {
        let (vault, recovery) = Vault::create_with(&self.dir, passphrase, self.kdf)?;
        self.open(vault);
        Ok(CreatedVault {
            recovery_key: recovery.expose_secret().to_string(),
        })
    }

    /// Creates the demo vault (passphrase [`DEMO_PASSPHRASE`]) filled with sample records.
    pub fn create_demo(&self) -> Result<()> {
        let (vault, _recovery) = Vault::create_with(
            &self.dir,
            &Passphrase::new(DEMO_PASSPHRASE.into()),
            self.kdf,
        )?;
        vault.add_batch(trove_core::demo::demo_records())?;
        trove_core::seed_demo(&vault)?;
        self.mark_demo();
        self.open(vault);
        Ok(())
    }

    /// Creates the demo vault when there is no vault yet (and leaves it locked); returns
    /// whether it did.
    pub fn create_demo_if_missing(&self) -> Result<bool> {
        if Vault::info(&self.dir).is_ok() {
            return Ok(false);
        }
        self.create_demo()?;
        self.lock();
        Ok(true)
    }

    /// Unlocks with the passphrase; when `remember` is set, also keeps the key in the
    /// key store. A keyring failure does not undo the unlock: it is reported instead.
    pub fn unlock(&self, passphrase: &Passphrase, remember: bool) -> Result<UnlockOutcome> {
        let vault = Vault::unlock(&self.dir, passphrase)?;
        let keyring_error = if remember {
            vault.remember(self.keystore.as_ref()).err().map(Into::into)
        } else {
            None
        };
        self.open(vault);
        Ok(UnlockOutcome { keyring_error })
    }

    /// Unlocks with the key this device remembers.
    pub fn unlock_remembered(&self) -> Result<()> {
        let vault = Vault::unlock_remembered(&self.dir, self.keystore.as_ref())?;
        self.open(vault);
        Ok(())
    }

    /// Sets a new passphrase with the recovery key and leaves the vault unlocked.
    pub fn recover(&self, recovery: &RecoveryKey, new: &Passphrase) -> Result<()> {
        if new.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        let vault = Vault::recover(&self.dir, recovery, new)?;
        self.open(vault);
        Ok(())
    }

    /// Locks: closes the database and zeroizes the key. Locking twice is fine.
    pub fn lock(&self) {
        if let Some(s) = self.sharing().as_ref() {
            s.lock();
        }
        if let Some(v) = self.slot().take() {
            v.lock();
        }
    }

    /// Starts the share server on `listen` (stopping one that runs).
    pub fn start_sharing(&self, listen: &str) -> Result<SharingStatus, ApiError> {
        let mut slot = self.sharing();
        *slot = None;
        let handle = match self.slot().as_ref() {
            Some(v) => Some(v.try_clone()?),
            None => None,
        };
        let s = Sharing::start(listen, handle)?;
        let status = s.status();
        *slot = Some(s);
        Ok(status)
    }

    /// Stops the share server.
    pub fn stop_sharing(&self) {
        *self.sharing() = None;
    }

    /// Whether the share server runs, and where.
    pub fn sharing_status(&self) -> SharingStatus {
        self.sharing()
            .as_ref()
            .map_or_else(sharing::stopped, Sharing::status)
    }

    /// Every grant, newest first.
    pub fn grants(&self) -> Result<Vec<GrantDto>> {
        self.with_vault(|v| Ok(v.list_grants()?.into_iter().map(Into::into).collect()))
    }

    /// Creates a grant; the token is returned once.
    pub fn create_grant(&self, new: NewGrantDto) -> Result<CreatedGrant> {
        self.with_vault(|v| {
            let (grant, token) = v.create_grant(&new.into())?;
            Ok(CreatedGrant {
                grant: grant.into(),
                token: token.expose_secret().to_string(),
            })
        })
    }

    /// Revokes a grant.
    pub fn revoke_grant(&self, id: &str) -> Result<GrantDto> {
        self.with_vault(|v| v.revoke_grant(id).map(Into::into))
    }

    /// A grant's consent receipts.
    pub fn receipts(&self, id: &str) -> Result<Receipts> {
        self.with_vault(|v| {
            Ok(Receipts {
                receipts: v.grant_receipts(id)?,
            })
        })
    }

    /// Access-log rows, newest first, optionally for one organization.
    pub fn log(&self, org: Option<String>, limit: Option<u32>) -> Result<Vec<LogEntryDto>> {
        let filter = LogFilter {
            org,
            grant_id: None,
            limit: limit.map(|l| l as usize),
        };
        self.with_vault(|v| {
            Ok(v.log_entries(&filter)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// The number of access-log rows (the UI polls it to update live).
    pub fn log_len(&self) -> Result<u32> {
        self.with_vault(|v| Ok(v.log_len()?.min(u32::MAX as u64) as u32))
    }

    /// Per organization: what it has seen.
    pub fn log_summary(&self) -> Result<Vec<OrgSummaryDto>> {
        self.with_vault(|v| Ok(v.log_summary(None)?.into_iter().map(Into::into).collect()))
    }

    /// Recomputes the access log's hash chain.
    pub fn verify_log(&self) -> Result<VerifyReportDto> {
        self.with_vault(|v| v.verify_log().map(Into::into))
    }

    /// Changes the passphrase after checking the current one.
    pub fn change_passphrase(&self, current: &Passphrase, new: &Passphrase) -> Result<()> {
        if new.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        // Someone at an unlocked, unattended computer must not be able to change it.
        Vault::unlock(&self.dir, current)?.lock();
        self.with_vault(|v| v.change_passphrase(new))
    }

    /// Keeps the vault key in the OS keyring.
    pub fn remember(&self) -> Result<()> {
        self.with_vault(|v| v.remember(self.keystore.as_ref()))
    }

    /// Drops the vault key from the OS keyring.
    pub fn forget(&self) -> Result<()> {
        Vault::forget(&self.dir, self.keystore.as_ref())
    }

    /// Record counts, in total and per type.
    pub fn counts(&self) -> Result<Counts> {
        self.with_vault(|v| {
            let by_type = v.count_by_type()?;
            Ok(Counts {
                total: by_type.values().map(|n| *n as u32).sum(),
                by_type: by_type.into_iter().map(|(k, n)| (k, n as u32)).collect(),
            })
        })
    }

    /// Records of one type (or all), newest first.
    pub fn list(&self, record_type: Option<String>, tag: Option<String>) -> Result<Vec<RecordDto>> {
        let filter = ListFilter {
            record_type,
            tag,
            limit: None,
        };
        self.with_vault(|v| Ok(v.list(&filter)?.into_iter().map(Into::into).collect()))
    }

    /// Full-text search, best match first.
    pub fn search(&self, query: &str) -> Result<Vec<RecordDto>> {
        self.with_vault(|v| {
            Ok(v.search(query, SEARCH_LIMIT)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }
}

/// Every record type with its fields.
pub fn record_types() -> Vec<RecordTypeDto> {
    trove_core::record_types().iter().map(Into::into).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_core::{MemoryKeyStore, NewRecord};

    const FAST: KdfParams = KdfParams {
        m_cost_kib: KdfParams::MIN_M_COST_KIB,
        t_cost: 1,
        p_cost: 1,
    };

    fn state(keystore: MemoryKeyStore) -> (tempfile::TempDir, AppState) {
        let t = tempfile::tempdir().unwrap();
        let s = AppState::new(t.path().join("vault"), FAST, Box::new(keystore))
            .with_demo_marker(t.path().join("config/demo"));
        (t, s)
    }

    fn pw(s: &str) -> Passphrase {
        Passphrase::new(s.into())
    }

    #[test]
    fn create_lock_unlock_round_trip() {
        let (_t, s) = state(MemoryKeyStore::default());
        assert!(!s.status().exists);
        let created = s.create(&pw("correct horse")).unwrap();
        assert!(!s.status().is_demo);
        assert!(created.recovery_key.starts_with("AGE-SECRET-KEY-1"));
        let st = s.status();
        assert!(st.exists && st.unlocked && !st.remembered);
        let id = s
            .with_vault(|v| v.add(NewRecord::new("note", [("title".into(), "hi".into())])))
            .unwrap()
            .id;
        s.lock();
        assert!(!s.status().unlocked, "lock drops the vault");
        assert_eq!(s.counts().unwrap_err().code(), "locked");
        assert_eq!(
            s.unlock(&pw("wrong"), false).unwrap_err().code(),
            "wrong_passphrase"
        );
        s.unlock(&pw("correct horse"), false).unwrap();
        assert_eq!(s.list(None, None).unwrap()[0].id, id);
        assert_eq!(s.counts().unwrap().by_type["note"], 1);
    }

    #[test]
    fn demo_vault_opens_with_the_documented_passphrase() {
        let (_t, s) = state(MemoryKeyStore::default());
        s.create_demo().unwrap();
        assert!(
            s.status().is_demo,
            "the unlock screen can show the demo passphrase"
        );
        let total = s.counts().unwrap().total;
        assert_eq!(total as usize, trove_core::demo::demo_records().len());
        s.lock();
        s.unlock(&pw(DEMO_PASSPHRASE), false).unwrap();
        assert_eq!(s.search("Kastanienallee").unwrap().len(), 1);
        assert_eq!(
            s.create_demo().unwrap_err().code(),
            "vault_exists",
            "the demo never overwrites a vault"
        );
        assert!(!s.create_demo_if_missing().unwrap(), "existing vault kept");
    }

    #[test]
    fn create_demo_if_missing_creates_once_and_leaves_it_locked() {
        let (_t, s) = state(MemoryKeyStore::default());
        assert!(s.create_demo_if_missing().unwrap());
        assert!(!s.status().unlocked && s.status().exists);
        assert!(!s.create_demo_if_missing().unwrap());
    }

    #[test]
    fn remember_then_unlock_without_passphrase_then_forget() {
        let (_t, s) = state(MemoryKeyStore::default());
        s.create(&pw("pw")).unwrap();
        s.lock();
        let out = s.unlock(&pw("pw"), true).unwrap();
        assert!(out.keyring_error.is_none());
        assert!(s.status().remembered);
        s.lock();
        s.unlock_remembered().unwrap();
        assert!(s.status().unlocked);
        s.forget().unwrap();
        s.lock();
        assert_eq!(s.unlock_remembered().unwrap_err().code(), "not_remembered");
    }

    #[test]
    fn unavailable_keyring_still_unlocks_and_says_why() {
        let (_t, s) = state(MemoryKeyStore::unavailable());
        s.create(&pw("pw")).unwrap();
        s.lock();
        let out = s.unlock(&pw("pw"), true).unwrap();
        let err = out.keyring_error.expect("keyring failure reported");
        assert_eq!(err.code, "keyring");
        assert!(
            err.message.starts_with("can't use the keyring"),
            "{}",
            err.message
        );
        assert!(s.status().unlocked && !s.status().remembered);
    }

    #[test]
    fn change_passphrase_needs_the_current_one() {
        let (_t, s) = state(MemoryKeyStore::default());
        s.create(&pw("old")).unwrap();
        assert_eq!(
            s.change_passphrase(&pw("nope"), &pw("new"))
                .unwrap_err()
                .code(),
            "wrong_passphrase"
        );
        s.change_passphrase(&pw("old"), &pw("new")).unwrap();
        s.lock();
        assert!(s.unlock(&pw("old"), false).is_err());
        s.unlock(&pw("new"), false).unwrap();
    }

    #[test]
    fn recovery_key_sets_a_new_passphrase() {
        let (_t, s) = state(MemoryKeyStore::default());
        let key = s.create(&pw("forgotten")).unwrap().recovery_key;
        s.lock();
        assert_eq!(
            s.recover(&RecoveryKey::new("AGE-SECRET-KEY-1XYZ".into()), &pw("n"))
                .unwrap_err()
                .code(),
            "wrong_recovery_key"
        );
        s.recover(&RecoveryKey::new(format!("  {key}\n")), &pw("fresh"))
            .unwrap();
        assert!(s.status().unlocked);
        s.lock();
        s.unlock(&pw("fresh"), false).unwrap();
    }

    #[test]
    fn invalid_field_error_names_the_field_for_the_form() {
        let (_t, s) = state(MemoryKeyStore::default());
        s.create(&pw("pw")).unwrap();
        let err: crate::dto::ApiError = s
            .with_vault(|v| v.add(NewRecord::new("contact", [("email".into(), "nope".into())])))
            .unwrap_err()
            .into();
        assert_eq!(err.code, "invalid_field");
        assert_eq!(err.field.as_deref(), Some("email"));
    }
}
