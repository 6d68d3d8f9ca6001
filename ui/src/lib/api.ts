// Typed calls to the Rust shell. Every failure becomes an ApiError with a stable `code`;
// screens switch on codes, never on message text.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ApiError } from "../bindings/ApiError";
import type { Counts } from "../bindings/Counts";
import type { CreatedVault } from "../bindings/CreatedVault";
import type { NewRecordDto } from "../bindings/NewRecordDto";
import type { RecordChangesDto } from "../bindings/RecordChangesDto";
import type { RecordDto } from "../bindings/RecordDto";
import type { RecordTypeDto } from "../bindings/RecordTypeDto";
import type { UnlockOutcome } from "../bindings/UnlockOutcome";
import type { VaultStatus } from "../bindings/VaultStatus";
import type { CreatedGrant } from "../bindings/CreatedGrant";
import type { GrantDto } from "../bindings/GrantDto";
import type { LogEntryDto } from "../bindings/LogEntryDto";
import type { LogPageDto } from "../bindings/LogPageDto";
import type { NewGrantDto } from "../bindings/NewGrantDto";
import type { OrgSummaryDto } from "../bindings/OrgSummaryDto";
import type { Receipts } from "../bindings/Receipts";
import type { SharingStatus } from "../bindings/SharingStatus";
import type { VerifyReportDto } from "../bindings/VerifyReportDto";
import type { ExportRequestDto } from "../bindings/ExportRequestDto";
import type { ExportSummaryDto } from "../bindings/ExportSummaryDto";
import type { ImportFileDto } from "../bindings/ImportFileDto";
import type { ImportReportDto } from "../bindings/ImportReportDto";
import type { ImportRequestDto } from "../bindings/ImportRequestDto";
import type { ProgressDto } from "../bindings/ProgressDto";
import type { ProtectionDto } from "../bindings/ProtectionDto";
import type { RemoteSettingsDto } from "../bindings/RemoteSettingsDto";
import type { RemoteStatusDto } from "../bindings/RemoteStatusDto";
import type { NewStorageDto } from "../bindings/NewStorageDto";
import type { StorageDto } from "../bindings/StorageDto";
import type { StorageTestDto } from "../bindings/StorageTestDto";
import type { StagingDto } from "../bindings/StagingDto";
import type { TrashedRecordDto } from "../bindings/TrashedRecordDto";
import type { UndoReportDto } from "../bindings/UndoReportDto";

export type {
  ApiError,
  Counts,
  CreatedGrant,
  GrantDto,
  LogEntryDto,
  LogPageDto,
  NewGrantDto,
  OrgSummaryDto,
  RecordDto,
  RecordTypeDto,
  SharingStatus,
  VaultStatus,
  VerifyReportDto,
  ExportRequestDto,
  ExportSummaryDto,
  ImportFileDto,
  ImportReportDto,
  ImportRequestDto,
  ProgressDto,
  ProtectionDto,
  RemoteSettingsDto,
  RemoteStatusDto,
  NewStorageDto,
  StorageDto,
  StorageTestDto,
  StagingDto,
  TrashedRecordDto,
  UndoReportDto,
};

/** A channel that hands every progress report of a long command to `onProgress`. */
function progressChannel(onProgress: (p: ProgressDto) => void): Channel<ProgressDto> {
  const ch = new Channel<ProgressDto>();
  ch.onmessage = onProgress;
  return ch;
}

/** True when `e` has the shape of an error from the shell. */
export function isApiError(e: unknown): e is ApiError {
  return typeof e === "object" && e !== null && typeof (e as ApiError).code === "string";
}

/** Turns anything thrown by `invoke` into an ApiError. */
export function toApiError(e: unknown): ApiError {
  if (isApiError(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  return { code: "internal", message, hint: null, field: null };
}

/** What the app does when a call finds the vault locked (App.svelte: the unlock screen). */
let lockedHandler: (() => void) | null = null;

/**
 * Sets the one place that handles a locked vault: every call that fails with `locked` runs
 * `handler` (and still rejects, so the screen stops what it was doing). Returns a function
 * that removes it.
 */
export function onVaultLocked(handler: () => void): () => void {
  lockedHandler = handler;
  return () => {
    if (lockedHandler === handler) lockedHandler = null;
  };
}

/**
 * The error a screen shows for a failed call, or null when there is nothing to show: the
 * vault was locked, which {@link onVaultLocked}'s handler has already dealt with.
 */
export function shownError(e: unknown): ApiError | null {
  const err = toApiError(e);
  return err.code === "locked" ? null : err;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    const err = toApiError(e);
    if (err.code === "locked") lockedHandler?.();
    throw err;
  }
}

export const api = {
  status: () => call<VaultStatus>("vault_status"),
  createVault: (passphrase: string, allowWeak = false) =>
    call<CreatedVault>("create_vault", { passphrase, allowWeak }),
  createDemoVault: () => call<void>("create_demo_vault"),
  saveRecoveryKit: (path: string, recoveryKey: string) =>
    call<void>("save_recovery_kit", { path, recoveryKey }),
  unlock: (passphrase: string, remember: boolean, acceptRestore = false) =>
    call<UnlockOutcome>("unlock", { passphrase, remember, acceptRestore }),
  unlockRemembered: (acceptRestore = false) =>
    call<void>("unlock_remembered", { acceptRestore }),
  recover: (recoveryKey: string, newPassphrase: string, allowWeak = false) =>
    call<void>("recover", { recoveryKey, newPassphrase, allowWeak }),
  lock: () => call<void>("lock"),
  takeMigrationNotice: () => call<number | null>("take_migration_notice"),
  changePassphrase: (current: string, next: string, allowWeak = false) =>
    call<void>("change_passphrase", { current, new: next, allowWeak }),
  rememberDevice: () => call<void>("remember_device"),
  forgetDevice: () => call<void>("forget_device"),
  recordTypes: () => call<RecordTypeDto[]>("record_types"),
  counts: () => call<Counts>("record_counts"),
  /** Every field problem the vault would find in a record, as [field, reason] pairs. */
  checkRecordFields: (recordType: string, fields: Record<string, string>) =>
    call<[string, string][]>("check_record_fields", { recordType, fields }),
  /** Records newest first: at most `limit` (all when null), after the record `after`. */
  listRecords: (recordType: string | null, after: string | null = null, limit: number | null = null) =>
    call<RecordDto[]>("list_records", { recordType, tag: null, after, limit }),
  searchRecords: (query: string) => call<RecordDto[]>("search_records", { query }),
  getRecord: (id: string) => call<RecordDto>("get_record", { id }),
  addRecord: (record: NewRecordDto) => call<RecordDto>("add_record", { record }),
  editRecord: (id: string, changes: RecordChangesDto) =>
    call<RecordDto>("edit_record", { id, changes }),
  removeRecord: (id: string) => call<void>("remove_record", { id }),
  listTrash: () => call<TrashedRecordDto[]>("list_trash"),
  restoreRecord: (id: string) => call<RecordDto>("restore_record", { id }),
  emptyTrash: () => call<number>("empty_trash"),
  undoImport: (batch: string) => call<UndoReportDto>("undo_import", { batch }),
  sharingStatus: () => call<SharingStatus>("sharing_status"),
  startSharing: (listen: string) => call<SharingStatus>("start_sharing", { listen }),
  stopSharing: () => call<void>("stop_sharing"),
  remoteSettings: () => call<RemoteSettingsDto>("remote_settings"),
  setRemote: (settings: RemoteSettingsDto) => call<SharingStatus>("set_remote", { settings }),
  setNotifications: (on: boolean) => call<void>("set_notifications", { on }),
  listStorage: () => call<StorageDto[]>("list_storage"),
  addStorage: (target: NewStorageDto, secret: string) => call<StorageDto>("add_storage", { target, secret }),
  removeStorage: (name: string) => call<StorageDto>("remove_storage", { name }),
  testStorage: (name: string) => call<StorageTestDto>("test_storage", { name }),
  listGrants: () => call<GrantDto[]>("list_grants"),
  createGrant: (grant: NewGrantDto) => call<CreatedGrant>("create_grant", { grant }),
  revokeGrant: (id: string) => call<GrantDto>("revoke_grant", { id }),
  grantReceipts: (id: string) => call<Receipts>("grant_receipts", { id }),
  /** A page of the access log, newest first: at most `limit` rows older than `before`. */
  accessLog: (org: string | null, before: number | null, limit: number) =>
    call<LogPageDto>("access_log", { org, before, limit }),
  accessLogOrgs: () => call<string[]>("access_log_orgs"),
  /** Share requests per organization between consecutive `bounds` (RFC 3339 times). */
  accessShareCounts: (bounds: string[]) => call<Record<string, number>[]>("access_share_counts", { bounds }),
  accessLogLen: () => call<number>("access_log_len"),
  accessSummary: () => call<OrgSummaryDto[]>("access_summary"),
  verifyAccessLog: () => call<VerifyReportDto>("verify_access_log"),
  inspectImport: (path: string) => call<ImportFileDto>("inspect_import", { path }),
  exportBundle: (request: ExportRequestDto, passphrase: string | null, onProgress: (p: ProgressDto) => void) =>
    call<ExportSummaryDto>("export_bundle", { request, passphrase, onProgress: progressChannel(onProgress) }),
  importFile: (request: ImportRequestDto, passphrase: string | null, onProgress: (p: ProgressDto) => void) =>
    call<ImportReportDto>("import_file", { request, passphrase, onProgress: progressChannel(onProgress) }),
};
