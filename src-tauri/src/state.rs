//! The app's state: which vault directory it uses, the unlocked vault (if any) and the
//! key store for "remember this device". Every operation here is one trove-core call.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use trove_core::{
    Error, KdfParams, KeyStore, ListFilter, LogFilter, LogPage, OrgSummary, Passphrase, Record,
    RecordType, RecoveryKey, Result, StorageInfo, Vault, VerifyReport,
};
use trove_share::staging::TestReport;

use trove_core::anchor::AnchorStore;
use trove_core::bundle::Progress;

use crate::dto::{
    ApiError, Counts, CreatedGrant, CreatedVault, ExportRequestDto, ExportSummaryDto, GrantDto,
    ImportReportDto, ImportRequestDto, NewGrantDto, NewStorageDto, Receipts, RemoteSettingsDto,
    SharingStatus, UnlockOutcome, VaultStatus,
};
use crate::notify::{self, Notice};
use crate::sharing::{self, Sharing};
use crate::transfer;

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
    /// Show a desktop notification when an organization reads.
    notify: AtomicBool,
    /// How long the access log was, and its newest row, when the read watcher last looked.
    log_cursor: Mutex<Option<(u64, i64)>>,
    /// The remote side's home relay as last recorded in the vault (`None`: not online).
    presence: Mutex<Option<String>>,
    /// Where this computer keeps the newest log head it saw of each vault (rollback
    /// check at unlock); `None` in tests that do not ask for it.
    anchors: Option<AnchorStore>,
    /// Records changed since staged copies were last brought up to date: the watcher
    /// re-publishes at its next poll (seconds) instead of at its minute.
    staging_due: AtomicBool,
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
            notify: AtomicBool::new(true),
            log_cursor: Mutex::new(None),
            presence: Mutex::new(None),
            anchors: None,
            staging_due: AtomicBool::new(false),
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

    /// [`Self::with_vault`] for a change to records (add, edit, remove, restore, undo an
    /// import): when it succeeds, staged copies are due for the watcher's next poll, so a
    /// removed record leaves the person's storage within seconds, not a minute.
    pub fn with_vault_changing<T>(&self, f: impl FnOnce(&Vault) -> Result<T>) -> Result<T> {
        let out = self.with_vault(f)?;
        self.staging_due.store(true, Ordering::Release);
        Ok(out)
    }

    /// Whether records changed since the last call (see [`Self::with_vault_changing`]).
    pub fn take_staging_due(&self) -> bool {
        self.staging_due.swap(false, Ordering::AcqRel)
    }

    fn sharing(&self) -> MutexGuard<'_, Option<Sharing>> {
        self.sharing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self, vault: Vault) {
        if let Some(s) = self.sharing().as_ref() {
            match vault.try_clone() {
                Ok(handle) => s.unlock(handle),
                Err(e) => tracing::warn!(code = %e.code(), "share server stays locked"),
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

    /// Checks every unlock against the rollback anchors in `store` (the app passes the
    /// config dir's; see `trove_core::anchor`).
    pub fn with_anchors(mut self, store: Option<AnchorStore>) -> Self {
        self.anchors = store;
        self
    }

    /// Refuses a vault older than the one last opened on this computer, unless
    /// `accept_restore` (the person restored a backup on purpose); then keeps the anchor
    /// moving with this handle.
    fn anchored(&self, mut vault: Vault, accept_restore: bool) -> Result<Vault> {
        if let Some(store) = &self.anchors {
            vault.hold_anchor(store.clone(), accept_restore)?;
        }
        Ok(vault)
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
        let vault = self.anchored(vault, false)?;
        self.open(vault);
        Ok(CreatedVault {
            recovery_key: recovery.expose_secret().to_string(),
        })
    }

    /// Creates the demo vault (passphrase [`DEMO_PASSPHRASE`]) filled with sample records.
    pub fn create_demo(&self) -> Result<()> {
        let pass = Passphrase::new(DEMO_PASSPHRASE.into());
        let demo = trove_core::demo::create(&self.dir, &pass, self.kdf)?;
        self.mark_demo();
        self.open(demo.vault);
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
    pub fn unlock(
        &self,
        passphrase: &Passphrase,
        remember: bool,
        accept_restore: bool,
    ) -> Result<UnlockOutcome> {
        let vault = self.anchored(Vault::unlock(&self.dir, passphrase)?, accept_restore)?;
        let keyring_error = if remember {
            vault.remember(self.keystore.as_ref()).err().map(Into::into)
        } else {
            None
        };
        self.open(vault);
        Ok(UnlockOutcome { keyring_error })
    }

    /// Unlocks with the key this device remembers.
    pub fn unlock_remembered(&self, accept_restore: bool) -> Result<()> {
        let vault = self.anchored(
            Vault::unlock_remembered(&self.dir, self.keystore.as_ref())?,
            accept_restore,
        )?;
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

    /// Starts the share server on `listen` (stopping one that runs), and its remote
    /// side too when the vault's "Reachable from the internet" setting is on.
    pub fn start_sharing(&self, listen: &str) -> Result<SharingStatus, ApiError> {
        let mut slot = self.sharing();
        *slot = None;
        let handle = match self.slot().as_ref() {
            Some(v) => Some(v.try_clone()?),
            None => None,
        };
        let mut s = Sharing::start(listen, handle)?;
        self.apply_remote(&mut s)?;
        let status = s.status();
        *slot = Some(s);
        Ok(status)
    }

    /// Starts or stops `sharing`'s remote side as the vault's remote settings say (the
    /// endpoint key and the relay come from the vault, as for `trove serve --remote`).
    fn apply_remote(&self, sharing: &mut Sharing) -> Result<(), ApiError> {
        let wanted = self.with_vault(|v| {
            let settings = v.remote_settings()?;
            if !settings.enabled {
                return Ok(None);
            }
            Ok(Some((settings, v.endpoint_secret()?)))
        })?;
        match wanted {
            None => sharing.stop_remote(),
            Some((settings, secret)) => {
                let options = trove_share::RemoteOptions::from_settings(&settings)?;
                sharing.start_remote(secret, options);
            }
        }
        Ok(())
    }

    /// The "Reachable from the internet" switch and the relay, as kept in the vault.
    pub fn remote_settings(&self) -> Result<RemoteSettingsDto> {
        self.with_vault(|v| {
            let s = v.remote_settings()?;
            Ok(RemoteSettingsDto {
                enabled: s.enabled,
                relay: s.relay,
            })
        })
    }

    /// Changes the remote settings (a blank relay: the default public relays) and starts,
    /// restarts or stops the running server's remote side to match.
    pub fn set_remote(&self, new: RemoteSettingsDto) -> Result<SharingStatus, ApiError> {
        let relay = new
            .relay
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        self.with_vault(|v| {
            v.set_remote_relay(relay)?;
            v.set_remote_enabled(new.enabled)
        })
        .map_err(|e| ApiError::from(e).at("relay"))?;
        if let Some(s) = self.sharing().as_mut() {
            self.apply_remote(s)?;
        }
        Ok(self.sharing_status())
    }

    /// Turns read notifications on or off.
    pub fn set_notifications(&self, on: bool) {
        self.notify.store(on, Ordering::Relaxed);
    }

    /// Whether the vault is open.
    pub fn is_unlocked(&self) -> bool {
        self.slot().is_some()
    }

    /// Reads logged since the last call, grouped into notifications (see
    /// [`notify::group_reads`]); none while notifications are off or the vault is locked.
    /// The first call only notes where the log ends: reads from before are not news. Cheap
    /// when nothing happened (one count; rows are fetched only when the log grew).
    pub fn new_read_notices(&self, notified: &mut BTreeSet<(i64, String)>) -> Vec<Notice> {
        let mut cursor = self.log_cursor.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = self.with_vault(|v| {
            let len = v.log_len()?;
            let (seen_len, after) = match *cursor {
                Some(c) if c.0 == len => return Ok(Vec::new()),
                Some(c) => c,
                None => (0, i64::MAX),
            };
            let filter = LogFilter {
                org: None,
                grant_id: None,
                limit: Some(len.saturating_sub(seen_len).clamp(1, 500) as usize),
                before: None,
            };
            let rows = v.log_entries(&filter)?;
            let newest = rows.iter().map(|e| e.seq).max().unwrap_or(0);
            *cursor = Some((len, newest.max(if after == i64::MAX { 0 } else { after })));
            Ok(rows
                .into_iter()
                .filter(|e| e.seq > after)
                .collect::<Vec<_>>())
        });
        match fresh {
            Ok(rows) if self.notify.load(Ordering::Relaxed) => notify::group_reads(&rows, notified),
            _ => Vec::new(),
        }
    }

    /// Records in the vault when the remote side came online or stopped (what `trove
    /// remote status` shows as the last report), once per change.
    pub fn note_remote_presence(&self) {
        let online = self
            .sharing()
            .as_ref()
            .and_then(|s| s.status().remote)
            .filter(|r| r.state == crate::dto::RemoteState::Online)
            .and_then(|r| r.home_relay);
        let mut noted = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        if *noted == online {
            return;
        }
        match self.with_vault(|v| v.record_remote_presence(online.as_deref())) {
            Ok(()) => *noted = online,
            Err(e) => tracing::debug!(code = %e.code(), "remote presence not recorded yet"),
        }
    }

    /// Re-publishes and deletes staged copies that are due, on a handle of its own (the
    /// storage may be slow; the app's vault stays free). Failures are kept on the grant
    /// and retried next time.
    pub fn sync_staging(&self) {
        let Ok(handle) = self.handle() else { return };
        if !matches!(handle.has_staged_copies(), Ok(true)) {
            return;
        }
        match trove_share::staging::block_on(trove_share::staging::sync(&handle)) {
            Ok(r) => {
                for f in &r.failures {
                    tracing::warn!(code = f.code, grant = %f.grant_id, "staging: retried later");
                }
            }
            Err(e) => tracing::warn!(code = %e.code(), "staging: could not run"),
        }
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

    /// Every grant, newest first, with its staged copy if it has one.
    pub fn grants(&self) -> Result<Vec<GrantDto>> {
        self.with_vault(|v| {
            let mut staged: std::collections::HashMap<String, trove_core::StagingInfo> = v
                .list_staging()?
                .into_iter()
                .map(|s| (s.grant_id.clone(), s))
                .collect();
            Ok(v.list_grants()?
                .into_iter()
                .map(|g| {
                    let staging = staged.remove(&g.id);
                    GrantDto { grant: g, staging }
                })
                .collect())
        })
    }

    /// Creates a grant; the token and the share link are returned once. With `offline`,
    /// the grant's copy is uploaded to the person's storage first (trove-share's
    /// `create_offline_grant`, as `trove grant create --offline`), on a handle of its own.
    /// The link names this vault's endpoint: for a staged grant only while the remote
    /// side runs, so that an organization is not sent to an address that never answers.
    pub fn create_grant(&self, new: NewGrantDto) -> Result<CreatedGrant, ApiError> {
        let (offline, storage) = (new.offline, new.storage.clone());
        let grant: trove_core::NewGrant = new.into();
        let (grant, token, link) = if offline {
            let remote_on = self.sharing().as_ref().is_some_and(Sharing::remote_running);
            let v = self.handle()?;
            let req = trove_core::OfflineGrant {
                grant,
                storage: storage.filter(|s| !s.trim().is_empty()),
                to: None,
            };
            let mut made = trove_share::staging::block_on(
                trove_share::staging::create_offline_grant(&v, &req),
            )??;
            let live = remote_on
                .then(|| trove_share::vault_live_address(&v))
                .transpose()?
                .flatten();
            let link = made.link(live).encode();
            let token = made.token().expose_secret().to_string();
            let dto = GrantDto {
                grant: made.grant.clone(),
                staging: Some(made.staging.clone()),
            };
            (dto, token, link)
        } else {
            self.with_vault(|v| {
                let (g, token) = v.create_grant(&grant)?;
                let link = trove_share::vault_share_link(v, &token)?;
                Ok((g.into(), token.expose_secret().to_string(), link))
            })?
        };
        Ok(CreatedGrant {
            grant,
            token,
            qr_svg: crate::link::qr_svg(&link),
            link: link.to_string(),
        })
    }

    /// Revokes a grant; a staged copy is deleted at once (or shows "deletion pending"
    /// until storage answers).
    pub fn revoke_grant(&self, id: &str) -> Result<GrantDto> {
        self.with_vault(|v| v.revoke_grant(id))?;
        self.sync_staging();
        self.grants()?
            .into_iter()
            .find(|g| g.grant.id == id)
            .ok_or_else(|| Error::GrantNotFound(id.to_string()))
    }

    /// Every storage target, without secrets.
    pub fn storage(&self) -> Result<Vec<StorageInfo>> {
        self.with_vault(Vault::list_storage)
    }

    /// Adds a storage target; `secret` is kept only inside the vault.
    pub fn add_storage(
        &self,
        new: NewStorageDto,
        secret: trove_core::StorageSecret,
    ) -> Result<StorageInfo> {
        let target = trove_core::NewStorageTarget {
            name: new.name,
            endpoint: new.endpoint,
            bucket: new.bucket,
            region: new.region.filter(|r| !r.trim().is_empty()),
            prefix: new.prefix.filter(|p| !p.trim().is_empty()),
            access_key_id: new.access_key_id,
            secret,
        };
        self.with_vault(|v| v.add_storage(&target))
    }

    /// Removes a storage target (refused while it holds a staged copy).
    pub fn remove_storage(&self, name: &str) -> Result<StorageInfo> {
        self.with_vault(|v| v.remove_storage(name))
    }

    /// Writes, reads back and deletes a probe object; says which step failed and why.
    pub fn test_storage(&self, name: &str) -> Result<TestReport> {
        let target = self.with_vault(|v| v.storage_target(name))?;
        let report = trove_share::staging::block_on(trove_share::staging::test_storage(&target))??;
        Ok(report)
    }

    /// A grant's consent receipts.
    pub fn receipts(&self, id: &str) -> Result<Receipts> {
        self.with_vault(|v| {
            Ok(Receipts {
                receipts: v.grant_receipts(id)?,
            })
        })
    }

    /// A page of access-log rows, newest first (see [`Vault::log_page`]).
    pub fn log(
        &self,
        org: Option<String>,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<LogPage> {
        let filter = LogFilter {
            org,
            grant_id: None,
            limit: limit.map(|l| l as usize),
            before,
        };
        self.with_vault(|v| v.log_page(&filter))
    }

    /// Every organization the access log names.
    pub fn log_orgs(&self) -> Result<Vec<String>> {
        self.with_vault(Vault::log_orgs)
    }

    /// Share API requests per organization between consecutive `bounds` (see
    /// [`Vault::log_share_counts`]).
    pub fn share_counts(&self, bounds: &[String]) -> Result<Vec<BTreeMap<String, u64>>> {
        self.with_vault(|v| v.log_share_counts(bounds))
    }

    /// The number of access-log rows (the UI polls it to update live).
    pub fn log_len(&self) -> Result<u64> {
        self.with_vault(Vault::log_len)
    }

    /// Per organization: what it has seen.
    pub fn log_summary(&self) -> Result<Vec<OrgSummary>> {
        self.with_vault(|v| v.log_summary(None))
    }

    /// Recomputes the access log's hash chain.
    pub fn verify_log(&self) -> Result<VerifyReport> {
        self.with_vault(Vault::verify_log)
    }

    /// Changes the passphrase; the vault checks the current one.
    pub fn change_passphrase(&self, current: &Passphrase, new: &Passphrase) -> Result<()> {
        self.with_vault(|v| v.change_passphrase(current, new))
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
                total: by_type.values().sum(),
                by_type: by_type.into_iter().collect(),
            })
        })
    }

    /// Records of one type (or all), newest first.
    pub fn list(
        &self,
        record_type: Option<String>,
        tag: Option<String>,
        after: Option<String>,
        limit: Option<u32>,
    ) -> Result<Vec<Record>> {
        let filter = ListFilter {
            record_type,
            tag,
            limit: limit.map(|l| l as usize),
            after,
        };
        self.with_vault(|v| v.list(&filter))
    }

    /// A second handle on the unlocked vault, for long work that must not hold the
    /// app's vault lock (export, import).
    pub fn handle(&self) -> Result<Vault> {
        self.with_vault(Vault::try_clone)
    }

    /// Writes a bundle (see [`transfer::export`]) on a handle of its own.
    pub fn export(
        &self,
        req: &ExportRequestDto,
        passphrase: Option<&Passphrase>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ExportSummaryDto, ApiError> {
        transfer::export(&self.handle()?, req, passphrase, progress)
    }

    /// Imports or previews a file (see [`transfer::import`]) on a handle of its own.
    pub fn import(
        &self,
        req: &ImportRequestDto,
        passphrase: Option<&Passphrase>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ImportReportDto, ApiError> {
        let report = transfer::import(&self.handle()?, req, passphrase, progress)?;
        if !report.dry_run && !report.refused {
            self.staging_due.store(true, Ordering::Release);
        }
        Ok(report)
    }

    /// Full-text search, best match first.
    pub fn search(&self, query: &str) -> Result<Vec<Record>> {
        self.with_vault(|v| v.search(query, SEARCH_LIMIT))
    }
}

/// Every record type with its fields.
pub fn record_types() -> &'static [RecordType] {
    trove_core::record_types()
}

/// Every field problem of a record of `record_type` with `fields`, as `(field, reason)` in
/// schema order (see [`trove_core::schema::RecordType::field_problems`]).
pub fn record_field_problems(
    record_type: &str,
    fields: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>> {
    Ok(trove_core::schema::record_type(record_type)?.field_problems(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::{NewGrantDto, NewStorageDto};
    use trove_core::bundle::{Phase, Protection};
    use trove_core::importers::Format;
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

    /// The review's rollback (M4) in the app: an older copy of the vault put back is
    /// refused at unlock with the way to accept it, and accepting opens it.
    #[test]
    fn an_older_vault_is_refused_at_unlock_until_accepted() {
        let (t, s) = state(MemoryKeyStore::default());
        let s = s.with_anchors(Some(AnchorStore::at(t.path().join("anchors"))));
        s.create(&pw("correct horse")).unwrap();
        s.lock();
        let old = t.path().join("old");
        std::fs::create_dir_all(&old).unwrap();
        let vault_dir = t.path().join("vault");
        let files = |from: &Path, to: &Path| {
            for e in std::fs::read_dir(from).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        };
        files(&vault_dir, &old);
        s.unlock(&pw("correct horse"), false, false).unwrap();
        s.with_vault(|v| v.log_event(trove_core::NewLogEntry::new(trove_core::LogKind::Export)))
            .unwrap();
        s.lock();
        for e in std::fs::read_dir(&vault_dir).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        files(&old, &vault_dir);
        let err = s.unlock(&pw("correct horse"), false, false).unwrap_err();
        assert_eq!(err.code(), "vault_rolled_back");
        assert!(!s.status().unlocked, "nothing is opened");
        s.unlock(&pw("correct horse"), false, true).unwrap();
        assert!(s.status().unlocked);
        s.lock();
        s.unlock(&pw("correct horse"), false, false).unwrap();
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
            s.unlock(&pw("wrong"), false, false).unwrap_err().code(),
            "wrong_passphrase"
        );
        s.unlock(&pw("correct horse"), false, false).unwrap();
        assert_eq!(s.list(None, None, None, None).unwrap()[0].id, id);
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
        s.unlock(&pw(DEMO_PASSPHRASE), false, false).unwrap();
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
        let out = s.unlock(&pw("pw"), true, false).unwrap();
        assert!(out.keyring_error.is_none());
        assert!(s.status().remembered);
        s.lock();
        s.unlock_remembered(false).unwrap();
        assert!(s.status().unlocked);
        s.forget().unwrap();
        s.lock();
        assert_eq!(
            s.unlock_remembered(false).unwrap_err().code(),
            "not_remembered"
        );
    }

    #[test]
    fn unavailable_keyring_still_unlocks_and_says_why() {
        let (_t, s) = state(MemoryKeyStore::unavailable());
        s.create(&pw("pw")).unwrap();
        s.lock();
        let out = s.unlock(&pw("pw"), true, false).unwrap();
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
        assert!(s.unlock(&pw("old"), false, false).is_err());
        s.unlock(&pw("new"), false, false).unwrap();
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
        s.unlock(&pw("fresh"), false, false).unwrap();
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

    fn export_req(path: &Path, protection: Protection) -> ExportRequestDto {
        ExportRequestDto {
            path: path.display().to_string(),
            overwrite: false,
            protection,
            recipients: vec![],
            scope: vec![],
            only_tag: None,
        }
    }

    fn import_req(path: &Path, dry_run: bool) -> ImportRequestDto {
        ImportRequestDto {
            path: path.display().to_string(),
            format: None,
            record_type: None,
            identity_path: None,
            dry_run,
            map: Vec::new(),
            as_me: false,
            strict: false,
        }
    }

    fn filled(t: &tempfile::TempDir) -> AppState {
        let s = AppState::new(
            t.path().join("vault"),
            FAST,
            Box::new(MemoryKeyStore::default()),
        )
        .with_demo_marker(t.path().join("config/demo"));
        s.create(&pw("pw")).unwrap();
        s.with_vault(|v| {
            let mut c = NewRecord::new(
                "contact",
                [
                    ("email".into(), "ana@example.org".into()),
                    ("phone".into(), "+49 30 1234567".into()),
                ],
            );
            c.tags = vec!["family".into()];
            v.add(c)?;
            v.add(NewRecord::new("note", [("title".into(), "hi".into())]))
        })
        .unwrap();
        s
    }

    #[test]
    fn export_with_a_passphrase_then_preview_and_import_into_another_vault() {
        let t = tempfile::tempdir().unwrap();
        let s = filled(&t);
        let file = t.path().join("all.trove");
        let mut phases = Vec::new();
        let sum = s
            .export(
                &export_req(&file, Protection::Passphrase),
                Some(&pw("bundle pass")),
                &mut |p| phases.push(p.phase),
            )
            .unwrap();
        assert_eq!(
            (sum.summary.records, sum.summary.encryption),
            (2, Protection::Passphrase)
        );
        assert_eq!(sum.summary.bytes, std::fs::metadata(&file).unwrap().len());
        assert!(
            phases.contains(&Phase::Writing),
            "progress reported: {phases:?}"
        );
        assert!(std::fs::read(&file)
            .unwrap()
            .starts_with(b"age-encryption.org/"));
        let again = s
            .export(
                &export_req(&file, Protection::Passphrase),
                Some(&pw("x")),
                &mut |_| {},
            )
            .unwrap_err();
        assert_eq!(
            (again.code.as_str(), again.field.as_deref()),
            ("file_exists", Some("path"))
        );

        let t2 = tempfile::tempdir().unwrap();
        let other = AppState::new(
            t2.path().join("vault"),
            FAST,
            Box::new(MemoryKeyStore::default()),
        );
        other.create(&pw("pw2")).unwrap();
        let kind = transfer::inspect(&file.display().to_string()).unwrap();
        assert_eq!(
            (kind.format, kind.bundle_kind),
            (Format::Bundle, Some(Protection::Passphrase))
        );
        let wrong = other
            .import(&import_req(&file, true), Some(&pw("nope")), &mut |_| {})
            .unwrap_err();
        assert_eq!(
            (wrong.code.as_str(), wrong.field.as_deref()),
            ("bundle_wrong_passphrase", Some("passphrase"))
        );
        let none = other
            .import(&import_req(&file, true), None, &mut |_| {})
            .unwrap_err();
        assert_eq!(none.code, "bundle_needs_passphrase");
        // The same error the CLI words with `drop --identity`, in the app's words.
        let hint = none.hint.as_deref().unwrap_or_default();
        assert!(
            hint.contains("type the bundle passphrase") && !hint.contains("--"),
            "{hint}"
        );
        let preview = other
            .import(
                &import_req(&file, true),
                Some(&pw("bundle pass")),
                &mut |_| {},
            )
            .unwrap();
        assert!(preview.dry_run && preview.problems.is_empty());
        assert_eq!((preview.records, preview.new), (2, 2));
        assert!(
            preview.kept_in_bundle.is_some(),
            "grants/receipts/log stay in the bundle"
        );
        assert_eq!(other.counts().unwrap().total, 0, "a preview writes nothing");
        let done = other
            .import(
                &import_req(&file, false),
                Some(&pw("bundle pass")),
                &mut |_| {},
            )
            .unwrap();
        assert_eq!((done.new, done.dry_run), (2, false));
        assert_eq!(other.counts().unwrap().total, 2);
    }

    #[test]
    fn scoped_export_to_a_recipient_discloses_only_the_scope() {
        let t = tempfile::tempdir().unwrap();
        let s = filled(&t);
        let mut req = export_req(&t.path().join("org.trove"), Protection::Recipients);
        req.recipients = vec!["age1notarecipient".into()];
        req.scope = vec!["contact.email".into()];
        let err = s.export(&req, None, &mut |_| {}).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.field.as_deref()),
            ("invalid_input", Some("recipients"))
        );
        assert!(
            !t.path().join("org.trove").exists(),
            "nothing written on a bad recipient"
        );

        let identity = age::x25519::Identity::generate();
        req.recipients = vec![format!("  {}  ", identity.to_public()), String::new()];
        let sum = s.export(&req, None, &mut |_| {}).unwrap();
        let sum = sum.summary;
        assert_eq!(sum.disclosed, vec!["contact.email".to_string()]);
        assert_eq!(sum.scope, Some(vec!["contact.email".to_string()]));
        assert_eq!((sum.records, sum.grants, sum.log), (1, 0, 0));

        let t2 = tempfile::tempdir().unwrap();
        let other = AppState::new(
            t2.path().join("vault"),
            FAST,
            Box::new(MemoryKeyStore::default()),
        );
        other.create(&pw("pw2")).unwrap();
        let mut imp = import_req(&t.path().join("org.trove"), true);
        assert_eq!(
            other
                .import(&imp, None, &mut |_| {})
                .unwrap_err()
                .field
                .as_deref(),
            Some("identity")
        );
        let key_file = t.path().join("key.txt");
        use age::secrecy::ExposeSecret;
        std::fs::write(
            &key_file,
            format!("{}\n", identity.to_string().expose_secret()),
        )
        .unwrap();
        imp.identity_path = Some(key_file.display().to_string());
        let preview = other.import(&imp, None, &mut |_| {}).unwrap();
        assert_eq!(preview.scope, Some(vec!["contact.email".to_string()]));
        assert_eq!(preview.new, 1);
        let rec = &other.list(None, None, None, None).unwrap();
        assert!(rec.is_empty(), "dry run");
    }

    #[test]
    fn changing_records_makes_staged_copies_due_once_and_reading_does_not() {
        let t = tempfile::tempdir().unwrap();
        let s = filled(&t);
        assert!(!s.take_staging_due(), "nothing changed yet");
        s.search("ana").unwrap();
        assert!(!s.take_staging_due(), "a read changes nothing");
        let id = s
            .with_vault(|v| Ok(v.list(&Default::default())?[0].id.clone()))
            .unwrap();
        s.with_vault_changing(|v| v.remove(&id)).unwrap();
        assert!(s.take_staging_due(), "a removal is due for re-publishing");
        assert!(!s.take_staging_due(), "once");
        assert!(s
            .with_vault_changing(|v| v.remove("no-such-record"))
            .is_err());
        assert!(!s.take_staging_due(), "a failed change is not due");
    }

    #[test]
    fn a_csv_read_without_its_column_prefix_says_so_in_the_preview() {
        let t = tempfile::tempdir().unwrap();
        let s = filled(&t);
        let csv = t.path().join("renamed.csv");
        std::fs::write(&csv, "XFirst Name,XLast Name\nAna,Lima\n").unwrap();
        let preview = s
            .import(&import_req(&csv, true), None, &mut |_| {})
            .unwrap();
        assert_eq!((preview.new, preview.refused), (1, false), "{preview:?}");
        assert_eq!(preview.warnings.len(), 1, "{preview:?}");
        assert!(
            preview.warnings[0].contains("\"XFirst Name\" as \"First Name\""),
            "{:?}",
            preview.warnings
        );
    }

    #[test]
    fn vcard_import_previews_then_commits_and_reports_every_bad_line() {
        let t = tempfile::tempdir().unwrap();
        let s = filled(&t);
        let vcf = t.path().join("people.vcf");
        std::fs::write(
            &vcf,
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bo Berg\r\nEMAIL:bo@example.org\r\nEND:VCARD\r\n",
        )
        .unwrap();
        let kind = transfer::inspect(&vcf.display().to_string()).unwrap();
        assert_eq!((kind.format, kind.bundle_kind), (Format::Vcard, None));
        let before = s.counts().unwrap().total;
        let preview = s
            .import(&import_req(&vcf, true), None, &mut |_| {})
            .unwrap();
        assert!(
            preview.new >= 1 && preview.problems.is_empty(),
            "{preview:?}"
        );
        assert_eq!(s.counts().unwrap().total, before);
        let done = s
            .import(&import_req(&vcf, false), None, &mut |_| {})
            .unwrap();
        assert_eq!(s.counts().unwrap().total, before + done.new);
        assert_eq!(s.search("bo@example.org").unwrap().len(), 1);
        let twice = s
            .import(&import_req(&vcf, false), None, &mut |_| {})
            .unwrap();
        assert_eq!(
            (twice.new, twice.unchanged),
            (0, done.new),
            "importing twice adds nothing"
        );

        let csv = t.path().join("notes.csv");
        std::fs::write(&csv, "title,bogus\nok,1\n").unwrap();
        let mut req = import_req(&csv, true);
        req.record_type = Some("note".into());
        let kept = s.import(&req, None, &mut |_| {}).unwrap();
        assert_eq!(
            (kept.new, kept.unmapped.len(), kept.refused),
            (1, 1, false),
            "the row is kept and the unknown column reported: {kept:?}"
        );
        assert_eq!(kept.unmapped[0].property, "bogus");
        req.strict = true;
        let bad = s.import(&req, None, &mut |_| {}).unwrap();
        assert!(
            bad.refused && !bad.problems.is_empty(),
            "strict refuses: {bad:?}"
        );
        assert!(bad
            .problems
            .iter()
            .all(|p| p.kind == crate::dto::LineProblemKind::Refused));
        assert_eq!(bad.new, 0);
    }

    #[test]
    fn paths_must_be_absolute_and_exports_need_the_vault_unlocked() {
        let t = tempfile::tempdir().unwrap();
        let s = filled(&t);
        let mut req = export_req(Path::new("relative.trove"), Protection::Plain);
        assert_eq!(
            s.export(&req, None, &mut |_| {}).unwrap_err().code,
            "invalid_path"
        );
        req.path = "  ".into();
        assert_eq!(
            s.export(&req, None, &mut |_| {})
                .unwrap_err()
                .field
                .as_deref(),
            Some("path")
        );
        req.path = t.path().join("x.trove").display().to_string();
        req.protection = Protection::Passphrase;
        let e = s.export(&req, Some(&pw("")), &mut |_| {}).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("empty_passphrase", Some("passphrase"))
        );
        s.lock();
        assert_eq!(
            s.export(&req, Some(&pw("p")), &mut |_| {})
                .unwrap_err()
                .code,
            "locked"
        );
    }

    #[test]
    fn storage_targets_and_offline_grants_follow_the_core_rules() {
        let t = tempfile::tempdir().unwrap();
        let s = filled(&t);
        let offline = |max_uses: Option<u64>, storage: Option<&str>| NewGrantDto {
            org: "Clinic".into(),
            purpose: "intake".into(),
            scope: vec!["contact.email".into()],
            only_tag: None,
            records: Vec::new(),
            expires: Some("3d".into()),
            max_uses,
            offline: true,
            storage: storage.map(Into::into),
        };
        assert_eq!(
            s.create_grant(offline(None, None)).unwrap_err().code,
            "no_storage",
            "an offline grant needs storage first"
        );
        let new = |name: &str, endpoint: &str| NewStorageDto {
            name: name.into(),
            endpoint: endpoint.into(),
            bucket: "trove-test".into(),
            access_key_id: "AKIDTEST".into(),
            region: Some(" ".into()),
            prefix: Some("ana".into()),
        };
        let secret = || trove_core::StorageSecret::new("s3cr3t-value\n".into());
        let err = s
            .add_storage(new("home", "http://s3.example.org"), secret())
            .unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert!(err.to_string().contains("https://"), "{err}");
        let added = s
            .add_storage(new("home", "http://127.0.0.1:9"), secret())
            .unwrap();
        assert_eq!(
            (added.region.as_str(), added.prefix.as_str()),
            ("us-east-1", "ana/")
        );
        let listed = format!("{:?}", s.storage().unwrap());
        assert!(
            listed.contains("home") && !listed.contains("s3cr3t"),
            "{listed}"
        );
        assert_eq!(
            s.create_grant(offline(Some(3), None)).unwrap_err().code,
            "offline_not_allowed",
            "storage cannot count reads"
        );
        let unreachable = s.create_grant(offline(None, Some("home"))).unwrap_err();
        assert!(
            unreachable.code.as_str().starts_with("storage_"),
            "{unreachable:?}"
        );
        assert!(!unreachable.message.contains("s3cr3t"));
        assert!(
            s.grants().unwrap().iter().all(|g| g.grant.org != "Clinic"),
            "nothing half-made"
        );
        let report = s.test_storage("home").unwrap();
        assert!(!report.ok && !report.steps[0].ok);
        assert_eq!(report.steps[0].step, trove_share::staging::StepName::Write);
        assert_eq!(report.steps[0].code, Some("storage_connection"));
        s.remove_storage("home").unwrap();
        assert!(s.storage().unwrap().is_empty());
    }

    #[test]
    fn progress_is_throttled_to_whole_percents() {
        let mut sent = Vec::new();
        {
            let mut t = transfer::Throttle::new(|p| sent.push(p));
            for done in 0..=1000 {
                t.report(Progress {
                    phase: Phase::Writing,
                    done,
                    total: Some(1000),
                });
            }
            t.report(Progress {
                phase: Phase::Reading,
                done: 5,
                total: None,
            });
        }
        assert_eq!(sent.len(), 102, "0..=100 percent, then the new phase");
        assert_eq!(sent.last().unwrap().phase, Phase::Reading);
    }
}
