//! The IPC payloads between the Rust shell and the UI. TypeScript types for them are
//! generated with ts-rs into `ui/src/bindings/` (see `bindings::export`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use crate::api_error::{ApiError, ApiErrorCode, AppErrorCode};

/// What the first screen needs to know: is there a vault, is it open, is it remembered.
#[derive(Debug, Clone, Serialize, TS)]
pub struct VaultStatus {
    /// The vault directory (TROVE_VAULT or the platform default).
    pub path: String,
    pub exists: bool,
    pub unlocked: bool,
    /// This device keeps the vault key in the OS keyring.
    pub remembered: bool,
    /// The passphrase of the demo vault, shown on the first-run screen.
    pub demo_passphrase: String,
    /// This vault is the demo vault the app created (the unlock screen shows its passphrase).
    pub is_demo: bool,
}

/// The answer to creating a vault: the recovery key, to be shown exactly once.
#[derive(Debug, Serialize, TS)]
pub struct CreatedVault {
    pub recovery_key: String,
}

/// The answer to unlocking: the vault is open; if "remember this device" was asked for
/// and the keyring could not be used, `keyring_error` says why (the vault is open anyway).
#[derive(Debug, Serialize, TS)]
pub struct UnlockOutcome {
    pub keyring_error: Option<ApiError>,
}

/// A stored record (mirrors `trove_core::Record`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct RecordDto {
    pub id: String,
    #[serde(rename = "type")]
    #[ts(rename = "type")]
    pub record_type: String,
    pub fields: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<trove_core::Record> for RecordDto {
    fn from(r: trove_core::Record) -> Self {
        RecordDto {
            id: r.id,
            record_type: r.record_type,
            fields: r.fields,
            tags: r.tags,
            source: r.source,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A record the person is adding.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct NewRecordDto {
    #[serde(rename = "type")]
    #[ts(rename = "type")]
    pub record_type: String,
    pub fields: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

impl From<NewRecordDto> for trove_core::NewRecord {
    fn from(n: NewRecordDto) -> Self {
        let mut r = trove_core::NewRecord::new(&n.record_type, n.fields);
        r.tags = n.tags;
        r
    }
}

/// Changes to a record: fields to set (an empty value unsets), tags to add and remove.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct RecordChangesDto {
    pub set: BTreeMap<String, String>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl From<RecordChangesDto> for trove_core::RecordChanges {
    fn from(c: RecordChangesDto) -> Self {
        trove_core::RecordChanges {
            set: c.set,
            add_tags: c.add_tags,
            remove_tags: c.remove_tags,
        }
    }
}

/// A record type and its fields in schema order, for the sidebar and the generated forms.
#[derive(Debug, Clone, Serialize, TS)]
pub struct RecordTypeDto {
    pub name: String,
    pub title: String,
    pub description: String,
    pub fields: Vec<FieldDto>,
    /// Fields that summarize a record in one line.
    pub summary: Vec<String>,
}

/// One field of a record type.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FieldDto {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    /// `email`, `date`, `iban`, `bic`, `country`, `phone`, or none.
    pub format: Option<String>,
    pub max_length: u32,
    pub required: bool,
    /// `textarea` for long text, none for a one-line input.
    pub widget: Option<String>,
    /// Masked until revealed (lists never show it in full).
    pub sensitive: bool,
}

impl From<&trove_core::RecordType> for RecordTypeDto {
    fn from(t: &trove_core::RecordType) -> Self {
        RecordTypeDto {
            name: t.name.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            fields: t
                .fields
                .iter()
                .map(|f| FieldDto {
                    name: f.name.clone(),
                    title: f.title.clone(),
                    description: f.description.clone(),
                    format: f.format.clone(),
                    max_length: u32::try_from(f.max_length).unwrap_or(u32::MAX),
                    required: f.required,
                    widget: f.widget.clone(),
                    sensitive: f.sensitive,
                })
                .collect(),
            summary: t.summary.clone(),
        }
    }
}

/// Record counts for the sidebar.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Counts {
    pub total: u32,
    /// Records per type, for the types that have any.
    pub by_type: BTreeMap<String, u32>,
}

/// Whether the share server runs inside the app, and where.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SharingStatus {
    pub running: bool,
    /// The address it listens on, e.g. `127.0.0.1:7878`.
    pub address: Option<String>,
    /// The base URL organizations use, e.g. `http://127.0.0.1:7878`.
    pub url: Option<String>,
    /// The same server over iroh ("Reachable from the internet"), when it runs.
    pub remote: Option<RemoteStatusDto>,
}

/// The remote (iroh) side of the in-app server. Never holds the endpoint secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct RemoteStatusDto {
    /// `connecting` (bound, not yet reachable through its relay), `online` or `failed`.
    pub state: String,
    /// The vault's endpoint id (64 hex characters): what organizations dial.
    pub endpoint_id: String,
    /// Its first 10 hex characters, for the screen.
    pub endpoint_short: String,
    /// The relay the endpoint is connected to, once online.
    pub home_relay: Option<String>,
    /// Why it could not start or stopped, in words.
    pub error: Option<String>,
}

/// The remote settings kept in the vault: the "Reachable from the internet" switch and
/// a self-hosted relay (none: the default public relays).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct RemoteSettingsDto {
    pub enabled: bool,
    pub relay: Option<String>,
}

/// A grant as the sharing screen shows it (mirrors `trove_core::Grant`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct GrantDto {
    pub id: String,
    pub org: String,
    pub purpose: String,
    /// `TYPE` or `TYPE.FIELD` items.
    pub scope: Vec<String>,
    pub only_tag: Option<String>,
    /// The records the grant is limited to (ids), or none for every record of its types.
    pub records: Option<Vec<String>>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub revoked_at: Option<String>,
    /// `active`, `expired`, `revoked` or `exhausted`.
    pub status: String,
    /// The organization key the grant is bound to (64 hex characters), if any.
    pub org_key: Option<String>,
    /// For a grant available while this computer is off: its staged copy.
    pub staging: Option<StagingDto>,
}

/// A staged copy's state (mirrors `trove_core::StagingInfo`; never a key or a URL).
#[derive(Debug, Clone, Serialize, TS)]
pub struct StagingDto {
    /// The storage target's name.
    pub storage: String,
    /// `staged`, `updating`, `deletion_pending`, `failed`, `deleted` or `ended`.
    pub state: String,
    /// Why the last attempt failed or a deletion is pending.
    pub reason: Option<String>,
    pub version: u64,
    pub records: u64,
    /// When the link's download URLs stop working.
    pub available_until: String,
    pub staged_at: String,
    /// The bundle key travels in the link (else: the organization's own age key).
    pub key_in_link: bool,
}

impl From<trove_core::StagingInfo> for StagingDto {
    fn from(s: trove_core::StagingInfo) -> Self {
        StagingDto {
            storage: s.storage,
            state: s.state.as_str().to_string(),
            reason: s.reason,
            version: s.version,
            records: s.records,
            available_until: s.available_until,
            staged_at: s.staged_at,
            key_in_link: s.key_in_link,
        }
    }
}

impl From<trove_core::Grant> for GrantDto {
    fn from(g: trove_core::Grant) -> Self {
        GrantDto {
            scope: g.scope.items.iter().map(ToString::to_string).collect(),
            only_tag: g.scope.only_tag.clone(),
            records: g.scope.records.map(|r| r.into_iter().collect()),
            id: g.id,
            org: g.org,
            purpose: g.purpose,
            created_at: g.created_at,
            expires_at: g.expires_at,
            max_uses: g.max_uses.map(|n| n.min(u32::MAX as u64) as u32),
            uses: g.uses.min(u32::MAX as u64) as u32,
            revoked_at: g.revoked_at,
            status: g.status.as_str().to_string(),
            org_key: g.org_key,
            staging: None,
        }
    }
}

/// What the person asks for in the create-grant flow.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct NewGrantDto {
    pub org: String,
    pub purpose: String,
    /// `TYPE` or `TYPE.FIELD` items.
    pub scope: Vec<String>,
    pub only_tag: Option<String>,
    /// Only these records (ids); empty for every record of the scope's types.
    #[serde(default)]
    pub records: Vec<String>,
    /// `30d`, `12h`, or an RFC 3339 date; none for no expiry.
    pub expires: Option<String>,
    pub max_uses: Option<u32>,
    /// "Available while this computer is off": also place an encrypted copy on the
    /// person's storage (refused with a use limit, or a scope with no records).
    #[serde(default)]
    pub offline: bool,
    /// The storage target for `offline` (may be left out when there is exactly one).
    #[serde(default)]
    pub storage: Option<String>,
}

impl From<NewGrantDto> for trove_core::NewGrant {
    fn from(n: NewGrantDto) -> Self {
        trove_core::NewGrant {
            org: n.org,
            purpose: n.purpose,
            scope: n.scope,
            only_tag: n.only_tag.filter(|t| !t.trim().is_empty()),
            expires: n.expires.filter(|e| !e.trim().is_empty()),
            max_uses: n.max_uses.map(u64::from),
            records: n.records,
            org_key: None,
        }
    }
}

/// A new grant with its token and share link, which the UI shows once.
#[derive(Debug, Serialize, TS)]
pub struct CreatedGrant {
    pub grant: GrantDto,
    pub token: String,
    /// The share link (`TROVE1-…`): the token, where this vault answers live, and for a
    /// staged grant where its copy lies and the key that opens it.
    pub link: String,
    /// The link as a QR code (an SVG document), when it fits in one.
    pub qr_svg: Option<String>,
}

/// A grant's consent receipts (JSON documents, shown as they are).
#[derive(Debug, Serialize, TS)]
pub struct Receipts {
    #[ts(type = "Array<unknown>")]
    pub receipts: Vec<serde_json::Value>,
}

/// One access-log row (mirrors `trove_core::LogEntry`; never holds values or tokens).
#[derive(Debug, Clone, Serialize, TS)]
pub struct LogEntryDto {
    pub seq: u32,
    pub time: String,
    /// `share`, `grant_create`, `grant_revoke`, `export` or `import`.
    pub kind: String,
    pub grant_id: Option<String>,
    pub org: Option<String>,
    pub remote_addr: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    /// `allowed` or `denied:<reason>`.
    pub outcome: String,
    pub record_ids: Vec<String>,
    /// `type.field` names disclosed.
    pub fields: Vec<String>,
    /// A remote request: the organization's endpoint key (64 hex characters).
    pub org_key: Option<String>,
    /// A remote request: `direct` or `relayed`.
    pub route: Option<String>,
    /// A row that sums up repeated failures: how many requests it stands for.
    pub count: Option<u32>,
    pub hash: String,
}

impl From<trove_core::LogEntry> for LogEntryDto {
    fn from(e: trove_core::LogEntry) -> Self {
        LogEntryDto {
            seq: e.seq.clamp(0, u32::MAX as i64) as u32,
            time: e.time,
            kind: e.kind.as_str().to_string(),
            grant_id: e.grant_id,
            org: e.org,
            remote_addr: e.remote_addr,
            method: e.method,
            path: e.path,
            status: e.status,
            outcome: e.outcome,
            record_ids: e.record_ids,
            fields: e.fields,
            org_key: e.org_key,
            route: e.route.map(|r| r.as_str().to_string()),
            count: e.count.map(|c| c.min(u32::MAX as u64) as u32),
            hash: e.hash,
        }
    }
}

/// One page of access-log rows (mirrors `trove_core::LogPage`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct LogPageDto {
    /// Newest first.
    pub entries: Vec<LogEntryDto>,
    /// Where the next (older) page starts (its `before`); `null` when these are the oldest.
    pub older: Option<u32>,
}

impl From<trove_core::LogPage> for LogPageDto {
    fn from(p: trove_core::LogPage) -> Self {
        LogPageDto {
            entries: p.entries.into_iter().map(Into::into).collect(),
            older: p.older.map(|s| s.clamp(0, u32::MAX as i64) as u32),
        }
    }
}

/// What one organization has seen.
#[derive(Debug, Clone, Serialize, TS)]
pub struct OrgSummaryDto {
    pub org: String,
    pub requests: u32,
    pub allowed: u32,
    pub types: Vec<String>,
    pub fields: Vec<String>,
    pub records: u32,
    pub first_access: Option<String>,
    pub last_access: Option<String>,
}

impl From<trove_core::OrgSummary> for OrgSummaryDto {
    fn from(s: trove_core::OrgSummary) -> Self {
        let n = |v: u64| v.min(u32::MAX as u64) as u32;
        OrgSummaryDto {
            requests: n(s.requests),
            allowed: n(s.allowed),
            records: n(s.records),
            org: s.org,
            types: s.types.into_iter().collect(),
            fields: s.fields.into_iter().collect(),
            first_access: s.first_access,
            last_access: s.last_access,
        }
    }
}

/// The result of re-checking the access log's hash chain.
#[derive(Debug, Clone, Serialize, TS)]
pub struct VerifyReportDto {
    pub entries: u32,
    pub ok: bool,
    pub first_bad_seq: Option<u32>,
    pub problem: Option<String>,
}

impl From<trove_core::VerifyReport> for VerifyReportDto {
    fn from(r: trove_core::VerifyReport) -> Self {
        VerifyReportDto {
            entries: r.entries.min(u32::MAX as u64) as u32,
            ok: r.ok,
            first_bad_seq: r.first_bad_seq.map(|s| s.clamp(0, u32::MAX as i64) as u32),
            problem: r.problem,
        }
    }
}

/// How an export is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ProtectionDto {
    /// age with an export passphrase (sent next to the request, never inside it).
    Passphrase,
    /// age to one or more `age1…` recipients.
    Recipients,
    /// The bare tar, unencrypted.
    Plain,
}

/// What the export screen asks for. The passphrase travels as its own argument so this
/// struct never holds a secret.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct ExportRequestDto {
    /// The bundle to write (an absolute path, or `~/…`).
    pub path: String,
    /// Replace an existing file (the native save dialog already asked).
    pub overwrite: bool,
    pub protection: ProtectionDto,
    /// `age1…` recipients, for [`ProtectionDto::Recipients`].
    pub recipients: Vec<String>,
    /// `TYPE` or `TYPE.FIELD` items for an export for an organization; empty: everything.
    pub scope: Vec<String>,
    /// With a scope: only records carrying this tag.
    pub only_tag: Option<String>,
}

/// Where a long export or import is (mirrors `trove_core::bundle::Progress`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct ProgressDto {
    /// `writing` (export, in records), `finishing` (export) or `reading` (import), in bytes.
    pub phase: String,
    pub done: u64,
    pub total: Option<u64>,
}

impl From<trove_core::bundle::Progress> for ProgressDto {
    fn from(p: trove_core::bundle::Progress) -> Self {
        ProgressDto {
            phase: p.phase.to_string(),
            done: p.done,
            total: p.total,
        }
    }
}

/// What an export wrote (mirrors `trove_core::bundle::ExportSummary`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct ExportSummaryDto {
    /// The file written.
    pub path: String,
    pub records: u64,
    pub grants: u64,
    pub receipts: u64,
    pub log: u64,
    /// The file's size.
    pub bytes: u64,
    /// `passphrase`, `recipients` or `plain`.
    pub encryption: String,
    /// The scope of an export for an organization.
    pub scope: Option<Vec<String>>,
    /// The `type.field` names the bundle discloses.
    pub disclosed: Vec<String>,
}

impl ExportSummaryDto {
    /// The summary of the export written to `path`.
    pub fn new(path: &std::path::Path, s: trove_core::bundle::ExportSummary) -> Self {
        ExportSummaryDto {
            path: path.display().to_string(),
            records: s.records,
            grants: s.grants,
            receipts: s.receipts,
            log: s.log,
            bytes: s.bytes,
            encryption: s.encryption.to_string(),
            scope: s.scope,
            disclosed: s.disclosed,
        }
    }
}

/// What a file to import is, so the screen can ask for the right key or record type.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ImportFileDto {
    pub path: String,
    /// `bundle`, `vcard`, `csv` or `json` (guessed from the name, then the first bytes).
    pub format: String,
    /// For a bundle: `passphrase`, `recipients` or `plain`.
    pub bundle_kind: Option<String>,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// What the import screen asks for. The bundle passphrase travels as its own argument.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct ImportRequestDto {
    /// The file to import (an absolute path, or `~/…`).
    pub path: String,
    /// `auto`, `bundle`, `vcard`, `csv` or `json`.
    pub format: String,
    /// The record type of a CSV file's rows (and a filter for vCard/JSON).
    pub record_type: Option<String>,
    /// An age identity file, for a bundle encrypted to a recipient.
    pub identity_path: Option<String>,
    /// Check everything and report what would change; write nothing.
    pub dry_run: bool,
    /// CSV: `COLUMN=field` items naming what a column holds.
    #[serde(default)]
    pub map: Vec<String>,
    /// The file is the owner's own card (identity/contact/address, not a person).
    #[serde(default)]
    pub as_me: bool,
    /// Refuse the whole file if anything in it cannot be kept.
    #[serde(default)]
    pub strict: bool,
}

/// One problem of a vCard/CSV/JSON file, at its line.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LineProblemDto {
    pub line: u64,
    /// The vCard property or CSV column, when the problem is about one.
    pub property: Option<String>,
    /// `skipped` (a record not kept), `value_not_kept` (the rest of the record kept) or
    /// `refused` (the file was not imported).
    pub kind: String,
    pub reason: String,
    /// The value was copied into the person's notes.
    pub kept_in_notes: bool,
}

/// A property or column no field takes.
#[derive(Debug, Clone, Serialize, TS)]
pub struct UnmappedDto {
    pub property: String,
    pub count: u64,
    pub first_line: u64,
}

/// Grants, receipts and log lines a bundle holds; they are verified and stay in the bundle.
#[derive(Debug, Clone, Serialize, TS)]
pub struct KeptInBundleDto {
    pub grants: u64,
    pub receipts: u64,
    pub log: u64,
}

/// What an import did, or (dry run) would do: counts, what was not kept, and each
/// problem. With `refused`, nothing was imported and `problems` says why.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ImportReportDto {
    pub path: String,
    /// `bundle`, `vcard`, `csv` or `json`.
    pub format: String,
    pub dry_run: bool,
    /// Records read from the file.
    pub records: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub kept_in_bundle: Option<KeptInBundleDto>,
    pub bundle_created_at: Option<String>,
    /// The scope of a bundle exported for an organization.
    pub scope: Option<Vec<String>>,
    /// Records (cards, rows) that could not be kept.
    pub skipped: u64,
    /// Values that did not fit their field (their records were kept).
    pub values_not_kept: u64,
    /// Properties or columns with no field.
    pub unmapped: Vec<UnmappedDto>,
    /// All problems counted; `problems` holds the first 1,000, in line order.
    pub problems_total: u64,
    pub problems: Vec<LineProblemDto>,
    /// Nothing was imported: the file was refused (see `problems`).
    pub refused: bool,
    /// What this import added, as one batch that "Undo import" removes (none for a dry
    /// run, a bundle, or an import that added nothing).
    pub batch: Option<String>,
    /// What the person should know about how the file was read (a bundle that was not
    /// encrypted, columns read without a prefix they all share); nothing was lost.
    pub warnings: Vec<String>,
}

/// A record in the trash (mirrors `trove_core::TrashedRecord`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct TrashedRecordDto {
    pub record: RecordDto,
    pub trashed_at: String,
    /// When it is erased for good unless restored.
    pub erase_after: String,
}

impl From<trove_core::TrashedRecord> for TrashedRecordDto {
    fn from(t: trove_core::TrashedRecord) -> Self {
        TrashedRecordDto {
            record: t.record.into(),
            trashed_at: t.trashed_at,
            erase_after: t.erase_after,
        }
    }
}

/// What "Undo import" did (mirrors `trove_core::UndoReport`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct UndoReportDto {
    pub batch: String,
    /// Moved to the trash.
    pub removed: Vec<String>,
    /// Changed since the import: kept.
    pub kept_changed: Vec<String>,
    /// Already removed before the undo.
    pub already_gone: Vec<String>,
}

impl From<trove_core::UndoReport> for UndoReportDto {
    fn from(u: trove_core::UndoReport) -> Self {
        UndoReportDto {
            batch: u.batch,
            removed: u.removed,
            kept_changed: u.kept_changed,
            already_gone: u.already_gone,
        }
    }
}

impl ImportReportDto {
    /// The report for the file at `path`.
    pub fn new(path: &std::path::Path, full: trove_core::importers::Report) -> Self {
        let r = full.merge;
        let warnings = r.warnings.into_iter().map(|w| w.message).collect();
        ImportReportDto {
            warnings,
            path: path.display().to_string(),
            format: r.format,
            dry_run: r.dry_run,
            records: r.records,
            new: r.new,
            updated: r.updated,
            unchanged: r.unchanged,
            kept_in_bundle: r.kept_in_bundle.map(|k| KeptInBundleDto {
                grants: k.grants,
                receipts: k.receipts,
                log: k.log,
            }),
            bundle_created_at: r.bundle_created_at,
            scope: r.scope,
            skipped: full.skipped,
            values_not_kept: full.values_not_kept,
            unmapped: full
                .unmapped
                .into_iter()
                .map(|u| UnmappedDto {
                    property: u.property,
                    count: u.count,
                    first_line: u.first_line,
                })
                .collect(),
            problems_total: full.problems_total,
            problems: full
                .problems
                .into_iter()
                .map(|p| LineProblemDto {
                    line: p.line,
                    property: p.property,
                    kind: match p.kind {
                        trove_core::importers::ProblemKind::Skipped => "skipped",
                        trove_core::importers::ProblemKind::ValueNotKept => "value_not_kept",
                    }
                    .into(),
                    reason: p.reason,
                    kept_in_notes: p.kept_in_notes,
                })
                .collect(),
            refused: full.refused,
            batch: full.batch,
        }
    }
}

/// A storage target as the settings screen adds it. The secret key travels as its own
/// argument, so this struct never holds a secret.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct NewStorageDto {
    pub name: String,
    pub endpoint: String,
    pub bucket: String,
    pub access_key_id: String,
    pub region: Option<String>,
    pub prefix: Option<String>,
}

/// A storage target without its secret (mirrors `trove_core::StorageInfo`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct StorageDto {
    pub name: String,
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub prefix: String,
    pub access_key_id: String,
    pub created_at: String,
}

impl From<trove_core::StorageInfo> for StorageDto {
    fn from(s: trove_core::StorageInfo) -> Self {
        StorageDto {
            name: s.name,
            endpoint: s.endpoint,
            bucket: s.bucket,
            region: s.region,
            prefix: s.prefix,
            access_key_id: s.access_key_id,
            created_at: s.created_at,
        }
    }
}

/// One step of a storage connection test.
#[derive(Debug, Clone, Serialize, TS)]
pub struct StorageStepDto {
    /// `write`, `read` or `delete`.
    pub step: String,
    pub ok: bool,
    pub code: Option<String>,
    /// What failed, in words (never the secret).
    pub message: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

/// The outcome of "Test connection".
#[derive(Debug, Clone, Serialize, TS)]
pub struct StorageTestDto {
    pub storage: String,
    pub ok: bool,
    pub steps: Vec<StorageStepDto>,
}

impl From<trove_share::staging::TestReport> for StorageTestDto {
    fn from(r: trove_share::staging::TestReport) -> Self {
        StorageTestDto {
            storage: r.storage,
            ok: r.ok,
            steps: r
                .steps
                .into_iter()
                .map(|s| StorageStepDto {
                    step: s.step.to_string(),
                    ok: s.ok,
                    code: s.code.map(Into::into),
                    message: s.message,
                    hint: s.hint.map(Into::into),
                })
                .collect(),
        }
    }
}
