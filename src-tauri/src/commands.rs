//! The IPC commands the UI calls. Each is State + arguments → one call → errors mapped to
//! `{code, message, hint, field}`. No logic lives here. Every command that waits for
//! anything (the vault's lock, the share server, the keyring, the disk) is an `async fn`
//! whose work runs on a blocking thread ([`blocking`]): Tauri runs a plain `fn` command on
//! the main thread, where a wait would freeze the window (a test keeps it so).

use std::collections::BTreeMap;

use tauri::ipc::Channel;
use tauri::{AppHandle, Manager};
use trove_core::bundle::Progress;
use trove_core::{
    passphrase_policy, LogPage, NewRecord, OrgSummary, Passphrase, Record, RecordChanges,
    RecordType, RecoveryKey, StorageInfo, StorageSecret, TrashedRecord, UndoReport, VerifyReport,
};
use trove_share::staging::TestReport;

use crate::dto::{
    ApiError, AppErrorCode, Counts, CreatedGrant, CreatedVault, ExportRequestDto, ExportSummaryDto,
    GrantDto, ImportFileDto, ImportReportDto, ImportRequestDto, NewGrantDto, NewStorageDto,
    Receipts, RemoteSettingsDto, SharingStatus, UnlockOutcome, VaultStatus,
};
use crate::state::AppState;
use crate::transfer::{self, Throttle};

type Res<T> = Result<T, ApiError>;

/// Is there a vault, is it unlocked, is it remembered.
#[tauri::command]
pub async fn vault_status(app: AppHandle) -> Res<VaultStatus> {
    blocking(app, move |state| Ok(state.status())).await
}

/// Runs `f` on a blocking thread, so key derivation, keyring calls and long bundle work
/// never hold up the UI (Tauri runs plain commands on the main thread).
async fn background<T: Send + 'static>(f: impl FnOnce() -> Res<T> + Send + 'static) -> Res<T> {
    tauri::async_runtime::spawn_blocking(f).await.map_err(|e| {
        ApiError::shell(
            AppErrorCode::Internal,
            format!("background work failed: {e}"),
            None,
            None,
        )
    })?
}

/// [`background`] with the app's state.
async fn blocking<T: Send + 'static>(
    app: AppHandle,
    f: impl FnOnce(&AppState) -> Res<T> + Send + 'static,
) -> Res<T> {
    background(move || f(&app.state::<AppState>())).await
}

/// Creates the vault; returns the recovery key to show once. A weak passphrase is refused
/// unless the person ticked the override (`allow_weak`).
#[tauri::command]
pub async fn create_vault(
    app: AppHandle,
    passphrase: String,
    allow_weak: bool,
) -> Res<CreatedVault> {
    let passphrase = Passphrase::new(passphrase);
    passphrase_policy::check_new(&passphrase, allow_weak)?;
    blocking(app, move |s| s.create(&passphrase).map_err(Into::into)).await
}

/// Creates the demo vault with sample data.
#[tauri::command]
pub async fn create_demo_vault(app: AppHandle) -> Res<()> {
    blocking(app, |s| s.create_demo().map_err(Into::into)).await
}

/// Unlocks with the passphrase, optionally remembering this device. `accept_restore`:
/// the person confirmed that an older vault is a backup they restored on purpose.
#[tauri::command]
pub async fn unlock(
    app: AppHandle,
    passphrase: String,
    remember: bool,
    accept_restore: bool,
) -> Res<UnlockOutcome> {
    let passphrase = Passphrase::new(passphrase);
    blocking(app, move |s| {
        s.unlock(&passphrase, remember, accept_restore)
            .map_err(Into::into)
    })
    .await
}

/// Unlocks with the key remembered in the OS keyring (see [`unlock`] for
/// `accept_restore`).
#[tauri::command]
pub async fn unlock_remembered(app: AppHandle, accept_restore: bool) -> Res<()> {
    blocking(app, move |s| {
        s.unlock_remembered(accept_restore).map_err(Into::into)
    })
    .await
}

/// Sets a new passphrase with the recovery key.
#[tauri::command]
pub async fn recover(
    app: AppHandle,
    recovery_key: String,
    new_passphrase: String,
    allow_weak: bool,
) -> Res<()> {
    let (key, new) = (
        RecoveryKey::new(recovery_key),
        Passphrase::new(new_passphrase),
    );
    passphrase_policy::check_new(&new, allow_weak)?;
    blocking(app, move |s| s.recover(&key, &new).map_err(Into::into)).await
}

/// Saves the recovery kit (the grouped key, the vault, the date, how to use it) to a
/// file the person chose, readable only by them.
#[tauri::command]
pub async fn save_recovery_kit(app: AppHandle, path: String, recovery_key: String) -> Res<()> {
    let key = RecoveryKey::new(recovery_key);
    let path = transfer::resolve_path(&path)?;
    blocking(app, move |s| {
        let info = trove_core::Vault::info(s.dir())?;
        trove_core::recovery_kit::write(&path, &key, &info).map_err(Into::into)
    })
    .await
}

/// Locks the vault (closes it and zeroizes the key).
#[tauri::command]
pub async fn lock(app: AppHandle) -> Res<()> {
    blocking(app, move |state| {
        state.lock();
        Ok(())
    })
    .await
}

/// Changes the passphrase (the current one is checked first).
#[tauri::command]
pub async fn change_passphrase(
    app: AppHandle,
    current: String,
    new: String,
    allow_weak: bool,
) -> Res<()> {
    let (current, new) = (Passphrase::new(current), Passphrase::new(new));
    passphrase_policy::check_new(&new, allow_weak)?;
    blocking(app, move |s| {
        s.change_passphrase(&current, &new).map_err(Into::into)
    })
    .await
}

/// Keeps the vault key in the OS keyring.
#[tauri::command]
pub async fn remember_device(app: AppHandle) -> Res<()> {
    blocking(app, |s| s.remember().map_err(Into::into)).await
}

/// Removes the vault key from the OS keyring.
#[tauri::command]
pub async fn forget_device(app: AppHandle) -> Res<()> {
    blocking(app, |s| s.forget().map_err(Into::into)).await
}

/// The record types and their fields.
#[tauri::command]
pub fn record_types() -> &'static [RecordType] {
    crate::state::record_types()
}

/// Every field problem a record would have (a form shows them all at once).
#[tauri::command]
pub fn check_record_fields(
    record_type: String,
    fields: BTreeMap<String, String>,
) -> Res<Vec<(String, String)>> {
    crate::state::record_field_problems(&record_type, &fields).map_err(Into::into)
}

/// Record counts per type.
#[tauri::command]
pub async fn record_counts(app: AppHandle) -> Res<Counts> {
    blocking(app, move |state| state.counts().map_err(Into::into)).await
}

/// A page of records of a type (or all), optionally with a tag, newest first: at most
/// `limit` (all when `None`), after the record `after` (the last of the page before).
#[tauri::command]
pub async fn list_records(
    app: AppHandle,
    record_type: Option<String>,
    tag: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
) -> Res<Vec<Record>> {
    blocking(app, move |state| {
        state
            .list(record_type, tag, after, limit)
            .map_err(Into::into)
    })
    .await
}

/// Full-text search over every field and tag.
#[tauri::command]
pub async fn search_records(app: AppHandle, query: String) -> Res<Vec<Record>> {
    blocking(app, move |state| state.search(&query).map_err(Into::into)).await
}

/// How many records an earlier vCard import had put in the owner's types and the
/// vault's migration moved to `person`, once: the first call after that migration says
/// how many, every later call `None` (the CLI prints the same notice).
#[tauri::command]
pub async fn take_migration_notice(app: AppHandle) -> Res<Option<u64>> {
    blocking(app, move |state| {
        state
            .with_vault(trove_core::importers::take_person_migration_notice)
            .map_err(Into::into)
    })
    .await
}

/// One record.
#[tauri::command]
pub async fn get_record(app: AppHandle, id: String) -> Res<Record> {
    blocking(app, move |state| {
        state.with_vault(|v| v.get(&id)).map_err(Into::into)
    })
    .await
}

/// Adds a record (validated against its schema).
#[tauri::command]
pub async fn add_record(app: AppHandle, record: NewRecord) -> Res<Record> {
    blocking(app, move |state| {
        state
            .with_vault_changing(|v| v.add(record))
            .map_err(Into::into)
    })
    .await
}

/// Edits a record (validated against its schema).
#[tauri::command]
pub async fn edit_record(app: AppHandle, id: String, changes: RecordChanges) -> Res<Record> {
    blocking(app, move |state| {
        state
            .with_vault_changing(|v| v.edit(&id, &changes))
            .map_err(Into::into)
    })
    .await
}

/// Moves a record to the trash (restorable for 30 days).
#[tauri::command]
pub async fn remove_record(app: AppHandle, id: String) -> Res<()> {
    blocking(app, move |state| {
        state
            .with_vault_changing(|v| v.remove(&id))
            .map_err(Into::into)
    })
    .await
}

/// The records in the trash, most recently removed first.
#[tauri::command]
pub async fn list_trash(app: AppHandle) -> Res<Vec<TrashedRecord>> {
    blocking(app, move |state| {
        state.with_vault(|v| v.list_trash()).map_err(Into::into)
    })
    .await
}

/// Puts a trashed record back.
#[tauri::command]
pub async fn restore_record(app: AppHandle, id: String) -> Res<Record> {
    blocking(app, move |state| {
        state
            .with_vault_changing(|v| v.restore(&id))
            .map_err(Into::into)
    })
    .await
}

/// Erases every record in the trash for good; returns how many.
#[tauri::command]
pub async fn empty_trash(app: AppHandle) -> Res<u64> {
    blocking(app, move |state| {
        state.with_vault(|v| v.empty_trash()).map_err(Into::into)
    })
    .await
}

/// Undoes one import: what it added goes to the trash, records changed since stay.
#[tauri::command]
pub async fn undo_import(app: AppHandle, batch: String) -> Res<UndoReport> {
    blocking(app, move |state| {
        state
            .with_vault_changing(|v| v.undo_import(&batch))
            .map_err(Into::into)
    })
    .await
}

/// Whether the share server runs, and where.
#[tauri::command]
pub async fn sharing_status(app: AppHandle) -> Res<SharingStatus> {
    blocking(app, move |state| Ok(state.sharing_status())).await
}

/// Starts the share server on `listen` (e.g. `127.0.0.1:7878`).
#[tauri::command]
pub async fn start_sharing(app: AppHandle, listen: String) -> Res<SharingStatus> {
    blocking(app, move |state| state.start_sharing(&listen)).await
}

/// Stops the share server.
#[tauri::command]
pub async fn stop_sharing(app: AppHandle) -> Res<()> {
    blocking(app, move |state| {
        state.stop_sharing();
        Ok(())
    })
    .await
}

/// The "Reachable from the internet" switch and the relay.
#[tauri::command]
pub async fn remote_settings(app: AppHandle) -> Res<RemoteSettingsDto> {
    blocking(app, move |state| {
        state.remote_settings().map_err(Into::into)
    })
    .await
}

/// Changes the remote settings and applies them to the running server.
#[tauri::command]
pub async fn set_remote(app: AppHandle, settings: RemoteSettingsDto) -> Res<SharingStatus> {
    blocking(app, move |state| state.set_remote(settings)).await
}

/// Turns the desktop notification on an organization's read on or off.
#[tauri::command]
pub async fn set_notifications(app: AppHandle, on: bool) -> Res<()> {
    blocking(app, move |state| {
        state.set_notifications(on);
        Ok(())
    })
    .await
}

/// Every grant with its status, uses and staged copy.
#[tauri::command]
pub async fn list_grants(app: AppHandle) -> Res<Vec<GrantDto>> {
    blocking(app, move |state| state.grants().map_err(Into::into)).await
}

/// Creates a grant; the token and the share link are returned once.
#[tauri::command]
pub async fn create_grant(app: AppHandle, grant: NewGrantDto) -> Res<CreatedGrant> {
    blocking(app, move |s| s.create_grant(grant)).await
}

/// Revokes a grant (and deletes its staged copy).
#[tauri::command]
pub async fn revoke_grant(app: AppHandle, id: String) -> Res<GrantDto> {
    blocking(app, move |s| s.revoke_grant(&id).map_err(Into::into)).await
}

/// Storage targets for grants available while this computer is off.
#[tauri::command]
pub async fn list_storage(app: AppHandle) -> Res<Vec<StorageInfo>> {
    blocking(app, move |state| state.storage().map_err(Into::into)).await
}

/// Adds a storage target. `secret` stays in a secret type from here on and is kept
/// only inside the vault.
#[tauri::command]
pub async fn add_storage(
    app: AppHandle,
    target: NewStorageDto,
    secret: String,
) -> Res<StorageInfo> {
    blocking(app, move |state| {
        let secret = StorageSecret::new(secret);
        state.add_storage(target, secret).map_err(Into::into)
    })
    .await
}

/// Removes a storage target.
#[tauri::command]
pub async fn remove_storage(app: AppHandle, name: String) -> Res<StorageInfo> {
    blocking(app, move |state| {
        state.remove_storage(&name).map_err(Into::into)
    })
    .await
}

/// Tests a storage target: write, read back, delete a probe object.
#[tauri::command]
pub async fn test_storage(app: AppHandle, name: String) -> Res<TestReport> {
    blocking(app, move |s| s.test_storage(&name).map_err(Into::into)).await
}

/// A grant's consent receipts.
#[tauri::command]
pub async fn grant_receipts(app: AppHandle, id: String) -> Res<Receipts> {
    blocking(app, move |state| state.receipts(&id).map_err(Into::into)).await
}

/// A page of access-log rows, newest first: at most `limit`, older than `before` (the
/// page before's `older`), optionally of one organization.
#[tauri::command]
pub async fn access_log(
    app: AppHandle,
    org: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
) -> Res<LogPage> {
    blocking(app, move |state| {
        state.log(org, before, limit).map_err(Into::into)
    })
    .await
}

/// Every organization the access log names.
#[tauri::command]
pub async fn access_log_orgs(app: AppHandle) -> Res<Vec<String>> {
    blocking(app, move |state| state.log_orgs().map_err(Into::into)).await
}

/// Share API requests per organization in each interval between consecutive `bounds`
/// (the chart's local days).
#[tauri::command]
pub async fn access_share_counts(
    app: AppHandle,
    bounds: Vec<String>,
) -> Res<Vec<BTreeMap<String, u64>>> {
    blocking(app, move |state| {
        state.share_counts(&bounds).map_err(Into::into)
    })
    .await
}

/// The number of access-log rows.
#[tauri::command]
pub async fn access_log_len(app: AppHandle) -> Res<u64> {
    blocking(app, move |state| state.log_len().map_err(Into::into)).await
}

/// What each organization has seen.
#[tauri::command]
pub async fn access_summary(app: AppHandle) -> Res<Vec<OrgSummary>> {
    blocking(app, move |state| state.log_summary().map_err(Into::into)).await
}

/// Re-checks the access log's hash chain.
#[tauri::command]
pub async fn verify_access_log(app: AppHandle) -> Res<VerifyReport> {
    blocking(app, move |state| state.verify_log().map_err(Into::into)).await
}

/// What a file to import is (format; for a bundle, what opens it).
#[tauri::command]
pub async fn inspect_import(path: String) -> Res<ImportFileDto> {
    background(move || transfer::inspect(&path)).await
}

/// Writes a bundle; progress goes to `on_progress`. `passphrase` is for passphrase
/// bundles only and stays in a secret type from here on.
#[tauri::command]
pub async fn export_bundle(
    app: AppHandle,
    request: ExportRequestDto,
    passphrase: Option<String>,
    on_progress: Channel<Progress>,
) -> Res<ExportSummaryDto> {
    let passphrase = passphrase.map(Passphrase::new);
    blocking(app, move |s| {
        // A closed window cannot take progress any more; the work goes on regardless.
        let mut t = Throttle::new(|p| {
            let _ = on_progress.send(p);
        });
        s.export(&request, passphrase.as_ref(), &mut |p| t.report(p))
    })
    .await
}

/// Imports a file, or (with `dry_run`) says what importing it would do; progress goes to
/// `on_progress`.
#[tauri::command]
pub async fn import_file(
    app: AppHandle,
    request: ImportRequestDto,
    passphrase: Option<String>,
    on_progress: Channel<Progress>,
) -> Res<ImportReportDto> {
    let passphrase = passphrase.map(Passphrase::new);
    blocking(app, move |s| {
        let mut t = Throttle::new(|p| {
            let _ = on_progress.send(p);
        });
        s.import(&request, passphrase.as_ref(), &mut |p| t.report(p))
    })
    .await
}

#[cfg(test)]
mod tests {
    /// Commands that may run on the main thread: pure functions of their arguments
    /// (schemas), which never wait for the vault's or the share server's lock, the
    /// keyring, the disk or the network.
    const ON_MAIN_THREAD: &[&str] = &["record_types", "check_record_fields"];

    /// Tauri runs a plain `fn` command on the main thread, where any wait freezes the
    /// window: everything else must be an `async fn` that hands its work to `blocking`.
    #[test]
    fn only_cheap_commands_run_on_the_main_thread() {
        let src = include_str!("commands.rs");
        let mut on_main = Vec::new();
        let mut rest = src;
        while let Some(i) = rest.find("#[tauri::command]\npub fn ") {
            rest = &rest[i + "#[tauri::command]\npub fn ".len()..];
            let name = &rest[..rest.find('(').expect("a command has arguments")];
            on_main.push(name.to_string());
        }
        let unexpected: Vec<_> = on_main
            .iter()
            .filter(|n| !ON_MAIN_THREAD.contains(&n.as_str()))
            .collect();
        assert!(
            unexpected.is_empty(),
            "commands that would block the window: {unexpected:?}"
        );
        assert_eq!(on_main.len(), ON_MAIN_THREAD.len(), "{on_main:?}");
    }
}
