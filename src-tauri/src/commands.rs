//! The IPC commands the UI calls. Each is State + arguments → one call → errors mapped to
//! `{code, message, hint, field}`. No logic lives here.

use std::collections::BTreeMap;

use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State};
use trove_core::{passphrase_policy, Passphrase, RecoveryKey, StorageSecret};

use crate::dto::{
    ApiError, Counts, CreatedGrant, CreatedVault, ExportRequestDto, ExportSummaryDto, GrantDto,
    ImportFileDto, ImportReportDto, ImportRequestDto, LogPageDto, NewGrantDto, NewRecordDto,
    NewStorageDto, OrgSummaryDto, ProgressDto, Receipts, RecordChangesDto, RecordDto,
    RecordTypeDto, RemoteSettingsDto, SharingStatus, StorageDto, StorageTestDto, TrashedRecordDto,
    UndoReportDto, UnlockOutcome, VaultStatus, VerifyReportDto,
};
use crate::state::AppState;
use crate::transfer::{self, Throttle};

type Res<T> = Result<T, ApiError>;

/// Is there a vault, is it unlocked, is it remembered.
#[tauri::command]
pub fn vault_status(state: State<'_, AppState>) -> VaultStatus {
    state.status()
}

/// Runs `f` on a blocking thread, so key derivation, keyring calls and long bundle work
/// never hold up the UI (Tauri runs plain commands on the main thread).
async fn background<T: Send + 'static>(f: impl FnOnce() -> Res<T> + Send + 'static) -> Res<T> {
    tauri::async_runtime::spawn_blocking(f).await.map_err(|e| {
        ApiError::shell(
            "internal",
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
pub fn lock(state: State<'_, AppState>) {
    state.lock()
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
pub fn record_types() -> Vec<RecordTypeDto> {
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
pub fn record_counts(state: State<'_, AppState>) -> Res<Counts> {
    state.counts().map_err(Into::into)
}

/// A page of records of a type (or all), optionally with a tag, newest first: at most
/// `limit` (all when `None`), after the record `after` (the last of the page before).
#[tauri::command]
pub fn list_records(
    state: State<'_, AppState>,
    record_type: Option<String>,
    tag: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
) -> Res<Vec<RecordDto>> {
    state
        .list(record_type, tag, after, limit)
        .map_err(Into::into)
}

/// Full-text search over every field and tag.
#[tauri::command]
pub fn search_records(state: State<'_, AppState>, query: String) -> Res<Vec<RecordDto>> {
    state.search(&query).map_err(Into::into)
}

/// How many records an earlier vCard import had put in the owner's types and the
/// vault's migration moved to `person`, once: the first call after that migration says
/// how many, every later call `None` (the CLI prints the same notice).
#[tauri::command]
pub fn take_migration_notice(state: State<'_, AppState>) -> Res<Option<u64>> {
    state
        .with_vault(trove_core::importers::take_person_migration_notice)
        .map_err(Into::into)
}

/// One record.
#[tauri::command]
pub fn get_record(state: State<'_, AppState>, id: String) -> Res<RecordDto> {
    state
        .with_vault(|v| v.get(&id))
        .map(Into::into)
        .map_err(Into::into)
}

/// Adds a record (validated against its schema).
#[tauri::command]
pub fn add_record(state: State<'_, AppState>, record: NewRecordDto) -> Res<RecordDto> {
    state
        .with_vault_changing(|v| v.add(record.into()))
        .map(Into::into)
        .map_err(Into::into)
}

/// Edits a record (validated against its schema).
#[tauri::command]
pub fn edit_record(
    state: State<'_, AppState>,
    id: String,
    changes: RecordChangesDto,
) -> Res<RecordDto> {
    state
        .with_vault_changing(|v| v.edit(&id, &changes.into()))
        .map(Into::into)
        .map_err(Into::into)
}

/// Moves a record to the trash (restorable for 30 days).
#[tauri::command]
pub fn remove_record(state: State<'_, AppState>, id: String) -> Res<()> {
    state
        .with_vault_changing(|v| v.remove(&id))
        .map_err(Into::into)
}

/// The records in the trash, most recently removed first.
#[tauri::command]
pub fn list_trash(state: State<'_, AppState>) -> Res<Vec<TrashedRecordDto>> {
    state
        .with_vault(|v| v.list_trash())
        .map(|t| t.into_iter().map(Into::into).collect())
        .map_err(Into::into)
}

/// Puts a trashed record back.
#[tauri::command]
pub fn restore_record(state: State<'_, AppState>, id: String) -> Res<RecordDto> {
    state
        .with_vault_changing(|v| v.restore(&id))
        .map(Into::into)
        .map_err(Into::into)
}

/// Erases every record in the trash for good; returns how many.
#[tauri::command]
pub fn empty_trash(state: State<'_, AppState>) -> Res<u32> {
    state
        .with_vault(|v| v.empty_trash())
        .map(|n| n.min(u32::MAX as u64) as u32)
        .map_err(Into::into)
}

/// Undoes one import: what it added goes to the trash, records changed since stay.
#[tauri::command]
pub fn undo_import(state: State<'_, AppState>, batch: String) -> Res<UndoReportDto> {
    state
        .with_vault_changing(|v| v.undo_import(&batch))
        .map(Into::into)
        .map_err(Into::into)
}

/// Whether the share server runs, and where.
#[tauri::command]
pub fn sharing_status(state: State<'_, AppState>) -> SharingStatus {
    state.sharing_status()
}

/// Starts the share server on `listen` (e.g. `127.0.0.1:7878`).
#[tauri::command]
pub fn start_sharing(state: State<'_, AppState>, listen: String) -> Res<SharingStatus> {
    state.start_sharing(&listen)
}

/// Stops the share server.
#[tauri::command]
pub fn stop_sharing(state: State<'_, AppState>) {
    state.stop_sharing()
}

/// The "Reachable from the internet" switch and the relay.
#[tauri::command]
pub fn remote_settings(state: State<'_, AppState>) -> Res<RemoteSettingsDto> {
    state.remote_settings().map_err(Into::into)
}

/// Changes the remote settings and applies them to the running server.
#[tauri::command]
pub fn set_remote(state: State<'_, AppState>, settings: RemoteSettingsDto) -> Res<SharingStatus> {
    state.set_remote(settings)
}

/// Turns the desktop notification on an organization's read on or off.
#[tauri::command]
pub fn set_notifications(state: State<'_, AppState>, on: bool) {
    state.set_notifications(on)
}

/// Every grant with its status, uses and staged copy.
#[tauri::command]
pub fn list_grants(state: State<'_, AppState>) -> Res<Vec<GrantDto>> {
    state.grants().map_err(Into::into)
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
pub fn list_storage(state: State<'_, AppState>) -> Res<Vec<StorageDto>> {
    state.storage().map_err(Into::into)
}

/// Adds a storage target. `secret` stays in a secret type from here on and is kept
/// only inside the vault.
#[tauri::command]
pub fn add_storage(
    state: State<'_, AppState>,
    target: NewStorageDto,
    secret: String,
) -> Res<StorageDto> {
    let secret = StorageSecret::new(secret);
    state.add_storage(target, secret).map_err(Into::into)
}

/// Removes a storage target.
#[tauri::command]
pub fn remove_storage(state: State<'_, AppState>, name: String) -> Res<StorageDto> {
    state.remove_storage(&name).map_err(Into::into)
}

/// Tests a storage target: write, read back, delete a probe object.
#[tauri::command]
pub async fn test_storage(app: AppHandle, name: String) -> Res<StorageTestDto> {
    blocking(app, move |s| s.test_storage(&name).map_err(Into::into)).await
}

/// A grant's consent receipts.
#[tauri::command]
pub fn grant_receipts(state: State<'_, AppState>, id: String) -> Res<Receipts> {
    state.receipts(&id).map_err(Into::into)
}

/// A page of access-log rows, newest first: at most `limit`, older than `before` (the
/// page before's `older`), optionally of one organization.
#[tauri::command]
pub fn access_log(
    state: State<'_, AppState>,
    org: Option<String>,
    before: Option<u32>,
    limit: Option<u32>,
) -> Res<LogPageDto> {
    state.log(org, before, limit).map_err(Into::into)
}

/// Every organization the access log names.
#[tauri::command]
pub fn access_log_orgs(state: State<'_, AppState>) -> Res<Vec<String>> {
    state.log_orgs().map_err(Into::into)
}

/// Share API requests per organization in each interval between consecutive `bounds`
/// (the chart's local days).
#[tauri::command]
pub fn access_share_counts(
    state: State<'_, AppState>,
    bounds: Vec<String>,
) -> Res<Vec<BTreeMap<String, u32>>> {
    state.share_counts(&bounds).map_err(Into::into)
}

/// The number of access-log rows.
#[tauri::command]
pub fn access_log_len(state: State<'_, AppState>) -> Res<u32> {
    state.log_len().map_err(Into::into)
}

/// What each organization has seen.
#[tauri::command]
pub fn access_summary(state: State<'_, AppState>) -> Res<Vec<OrgSummaryDto>> {
    state.log_summary().map_err(Into::into)
}

/// Re-checks the access log's hash chain.
#[tauri::command]
pub fn verify_access_log(state: State<'_, AppState>) -> Res<VerifyReportDto> {
    state.verify_log().map_err(Into::into)
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
    on_progress: Channel<ProgressDto>,
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
    on_progress: Channel<ProgressDto>,
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
