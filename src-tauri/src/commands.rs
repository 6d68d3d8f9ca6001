//! The IPC commands the UI calls. Each is State + arguments → one call → errors mapped to
//! `{code, message, hint, field}`. No logic lives here.

use tauri::State;
use trove_core::{Passphrase, RecoveryKey};

use crate::dto::{
    ApiError, Counts, CreatedGrant, CreatedVault, GrantDto, LogEntryDto, NewGrantDto, NewRecordDto,
    OrgSummaryDto, Receipts, RecordChangesDto, RecordDto, RecordTypeDto, SharingStatus,
    UnlockOutcome, VaultStatus, VerifyReportDto,
};
use crate::state::AppState;

type Res<T> = Result<T, ApiError>;

/// Is there a vault, is it unlocked, is it remembered.
#[tauri::command]
pub fn vault_status(state: State<'_, AppState>) -> VaultStatus {
    state.status()
}

/// Creates the vault; returns the recovery key to show once.
#[tauri::command]
pub fn create_vault(state: State<'_, AppState>, passphrase: String) -> Res<CreatedVault> {
    state
        .create(&Passphrase::new(passphrase))
        .map_err(Into::into)
}

/// Creates the demo vault with sample data.
#[tauri::command]
pub fn create_demo_vault(state: State<'_, AppState>) -> Res<()> {
    state.create_demo().map_err(Into::into)
}

/// Unlocks with the passphrase, optionally remembering this device.
#[tauri::command]
pub fn unlock(
    state: State<'_, AppState>,
    passphrase: String,
    remember: bool,
) -> Res<UnlockOutcome> {
    state
        .unlock(&Passphrase::new(passphrase), remember)
        .map_err(Into::into)
}

/// Unlocks with the key remembered in the OS keyring.
#[tauri::command]
pub fn unlock_remembered(state: State<'_, AppState>) -> Res<()> {
    state.unlock_remembered().map_err(Into::into)
}

/// Sets a new passphrase with the recovery key.
#[tauri::command]
pub fn recover(
    state: State<'_, AppState>,
    recovery_key: String,
    new_passphrase: String,
) -> Res<()> {
    state
        .recover(
            &RecoveryKey::new(recovery_key),
            &Passphrase::new(new_passphrase),
        )
        .map_err(Into::into)
}

/// Locks the vault (closes it and zeroizes the key).
#[tauri::command]
pub fn lock(state: State<'_, AppState>) {
    state.lock()
}

/// Changes the passphrase (the current one is checked first).
#[tauri::command]
pub fn change_passphrase(state: State<'_, AppState>, current: String, new: String) -> Res<()> {
    state
        .change_passphrase(&Passphrase::new(current), &Passphrase::new(new))
        .map_err(Into::into)
}

/// Keeps the vault key in the OS keyring.
#[tauri::command]
pub fn remember_device(state: State<'_, AppState>) -> Res<()> {
    state.remember().map_err(Into::into)
}

/// Removes the vault key from the OS keyring.
#[tauri::command]
pub fn forget_device(state: State<'_, AppState>) -> Res<()> {
    state.forget().map_err(Into::into)
}

/// The record types and their fields.
#[tauri::command]
pub fn record_types() -> Vec<RecordTypeDto> {
    crate::state::record_types()
}

/// Record counts per type.
#[tauri::command]
pub fn record_counts(state: State<'_, AppState>) -> Res<Counts> {
    state.counts().map_err(Into::into)
}

/// Records of a type (or all), optionally with a tag, newest first.
#[tauri::command]
pub fn list_records(
    state: State<'_, AppState>,
    record_type: Option<String>,
    tag: Option<String>,
) -> Res<Vec<RecordDto>> {
    state.list(record_type, tag).map_err(Into::into)
}

/// Full-text search over every field and tag.
#[tauri::command]
pub fn search_records(state: State<'_, AppState>, query: String) -> Res<Vec<RecordDto>> {
    state.search(&query).map_err(Into::into)
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
        .with_vault(|v| v.add(record.into()))
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
        .with_vault(|v| v.edit(&id, &changes.into()))
        .map(Into::into)
        .map_err(Into::into)
}

/// Deletes a record.
#[tauri::command]
pub fn remove_record(state: State<'_, AppState>, id: String) -> Res<()> {
    state.with_vault(|v| v.remove(&id)).map_err(Into::into)
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

/// Every grant with its status and uses.
#[tauri::command]
pub fn list_grants(state: State<'_, AppState>) -> Res<Vec<GrantDto>> {
    state.grants().map_err(Into::into)
}

/// Creates a grant; the token is returned once.
#[tauri::command]
pub fn create_grant(state: State<'_, AppState>, grant: NewGrantDto) -> Res<CreatedGrant> {
    state.create_grant(grant).map_err(Into::into)
}

/// Revokes a grant.
#[tauri::command]
pub fn revoke_grant(state: State<'_, AppState>, id: String) -> Res<GrantDto> {
    state.revoke_grant(&id).map_err(Into::into)
}

/// A grant's consent receipts.
#[tauri::command]
pub fn grant_receipts(state: State<'_, AppState>, id: String) -> Res<Receipts> {
    state.receipts(&id).map_err(Into::into)
}

/// Access-log rows, newest first.
#[tauri::command]
pub fn access_log(
    state: State<'_, AppState>,
    org: Option<String>,
    limit: Option<u32>,
) -> Res<Vec<LogEntryDto>> {
    state.log(org, limit).map_err(Into::into)
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
