// Typed calls to the Rust shell. Every failure becomes an ApiError with a stable `code`;
// screens switch on codes, never on message text.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ApiError } from "../bindings/ApiError";
import type { Counts } from "../bindings/Counts";
import type { CreatedVault } from "../bindings/CreatedVault";
import type { NewRecord } from "../bindings/NewRecord";
import type { RecordChanges } from "../bindings/RecordChanges";
import type { StoredRecord } from "../bindings/StoredRecord";
import type { RecordType } from "../bindings/RecordType";
import type { UnlockOutcome } from "../bindings/UnlockOutcome";
import type { VaultStatus } from "../bindings/VaultStatus";
import type { CreatedGrant } from "../bindings/CreatedGrant";
import type { GrantDto } from "../bindings/GrantDto";
import type { LogEntry } from "../bindings/LogEntry";
import type { LogPage } from "../bindings/LogPage";
import type { NewGrantDto } from "../bindings/NewGrantDto";
import type { OrgSummary } from "../bindings/OrgSummary";
import type { Receipts } from "../bindings/Receipts";
import type { SharingStatus } from "../bindings/SharingStatus";
import type { VerifyReport } from "../bindings/VerifyReport";
import type { ExportRequestDto } from "../bindings/ExportRequestDto";
import type { ExportSummaryDto } from "../bindings/ExportSummaryDto";
import type { Format } from "../bindings/Format";
import type { ImportFileDto } from "../bindings/ImportFileDto";
import type { ImportReportDto } from "../bindings/ImportReportDto";
import type { ImportRequestDto } from "../bindings/ImportRequestDto";
import type { Progress } from "../bindings/Progress";
import type { Protection } from "../bindings/Protection";
import type { RemoteSettingsDto } from "../bindings/RemoteSettingsDto";
import type { RemoteStatusDto } from "../bindings/RemoteStatusDto";
import type { NewStorageDto } from "../bindings/NewStorageDto";
import type { StorageInfo } from "../bindings/StorageInfo";
import type { TestReport } from "../bindings/TestReport";
import type { StagingInfo } from "../bindings/StagingInfo";
import type { TrashedRecord } from "../bindings/TrashedRecord";
import type { UndoReport } from "../bindings/UndoReport";

export type {
  ApiError,
  Counts,
  CreatedGrant,
  GrantDto,
  LogEntry,
  LogPage,
  NewGrantDto,
  OrgSummary,
  StoredRecord,
  RecordType,
  SharingStatus,
  VaultStatus,
  VerifyReport,
  ExportRequestDto,
  ExportSummaryDto,
  Format,
  ImportFileDto,
  ImportReportDto,
  ImportRequestDto,
  Progress,
  Protection,
  RemoteSettingsDto,
  RemoteStatusDto,
  NewStorageDto,
  StorageInfo,
  TestReport,
  StagingInfo,
  TrashedRecord,
  UndoReport,
};

/** A channel that hands every progress report of a long command to `onProgress`. */
function progressChannel(onProgress: (p: Progress) => void): Channel<Progress> {
  const ch = new Channel<Progress>();
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
  recordTypes: () => call<RecordType[]>("record_types"),
  counts: () => call<Counts>("record_counts"),
  /** Every field problem the vault would find in a record, as [field, reason] pairs. */
  checkRecordFields: (recordType: string, fields: Record<string, string>) =>
    call<[string, string][]>("check_record_fields", { recordType, fields }),
  /** Records newest first: at most `limit` (all when null), after the record `after`. */
  listRecords: (recordType: string | null, after: string | null = null, limit: number | null = null) =>
    call<StoredRecord[]>("list_records", { recordType, tag: null, after, limit }),
  searchRecords: (query: string) => call<StoredRecord[]>("search_records", { query }),
  getRecord: (id: string) => call<StoredRecord>("get_record", { id }),
  addRecord: (record: NewRecord) => call<StoredRecord>("add_record", { record }),
  editRecord: (id: string, changes: RecordChanges) =>
    call<StoredRecord>("edit_record", { id, changes }),
  removeRecord: (id: string) => call<void>("remove_record", { id }),
  listTrash: () => call<TrashedRecord[]>("list_trash"),
  restoreRecord: (id: string) => call<StoredRecord>("restore_record", { id }),
  emptyTrash: () => call<number>("empty_trash"),
  undoImport: (batch: string) => call<UndoReport>("undo_import", { batch }),
  sharingStatus: () => call<SharingStatus>("sharing_status"),
  startSharing: (listen: string) => call<SharingStatus>("start_sharing", { listen }),
  stopSharing: () => call<void>("stop_sharing"),
  remoteSettings: () => call<RemoteSettingsDto>("remote_settings"),
  setRemote: (settings: RemoteSettingsDto) => call<SharingStatus>("set_remote", { settings }),
  setNotifications: (on: boolean) => call<void>("set_notifications", { on }),
  listStorage: () => call<StorageInfo[]>("list_storage"),
  addStorage: (target: NewStorageDto, secret: string) => call<StorageInfo>("add_storage", { target, secret }),
  removeStorage: (name: string) => call<StorageInfo>("remove_storage", { name }),
  testStorage: (name: string) => call<TestReport>("test_storage", { name }),
  listGrants: () => call<GrantDto[]>("list_grants"),
  createGrant: (grant: NewGrantDto) => call<CreatedGrant>("create_grant", { grant }),
  revokeGrant: (id: string) => call<GrantDto>("revoke_grant", { id }),
  grantReceipts: (id: string) => call<Receipts>("grant_receipts", { id }),
  /** A page of the access log, newest first: at most `limit` rows older than `before`. */
  accessLog: (org: string | null, before: number | null, limit: number) =>
    call<LogPage>("access_log", { org, before, limit }),
  accessLogOrgs: () => call<string[]>("access_log_orgs"),
  /** Share requests per organization between consecutive `bounds` (RFC 3339 times). */
  accessShareCounts: (bounds: string[]) => call<Record<string, number>[]>("access_share_counts", { bounds }),
  accessLogLen: () => call<number>("access_log_len"),
  accessSummary: () => call<OrgSummary[]>("access_summary"),
  verifyAccessLog: () => call<VerifyReport>("verify_access_log"),
  inspectImport: (path: string) => call<ImportFileDto>("inspect_import", { path }),
  exportBundle: (request: ExportRequestDto, passphrase: string | null, onProgress: (p: Progress) => void) =>
    call<ExportSummaryDto>("export_bundle", { request, passphrase, onProgress: progressChannel(onProgress) }),
  importFile: (request: ImportRequestDto, passphrase: string | null, onProgress: (p: Progress) => void) =>
    call<ImportReportDto>("import_file", { request, passphrase, onProgress: progressChannel(onProgress) }),
};
