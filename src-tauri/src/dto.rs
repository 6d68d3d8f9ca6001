//! The IPC payloads between the Rust shell and the UI that are the shell's own: requests,
//! answers only the app has, and the few shapes the screens need differently from the
//! core's (each says why). Records, grants, log rows, reports and the rest go over the
//! boundary as the trove-core types themselves. TypeScript types for both are generated
//! with ts-rs into `ui/src/bindings/` (see `bindings::export`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trove_core::bundle::{ExportSummary, KeptInBundle, Protection};
use trove_core::importers::{Format, ProblemKind, Unmapped};
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

/// Record counts for the sidebar.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Counts {
    pub total: u64,
    /// Records per type, for the types that have any.
    pub by_type: BTreeMap<String, u64>,
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
    pub state: RemoteState,
    /// The vault's endpoint id (64 hex characters): what organizations dial.
    pub endpoint_id: String,
    /// Its first 10 hex characters, for the screen.
    pub endpoint_short: String,
    /// The relay the endpoint is connected to, once online.
    pub home_relay: Option<String>,
    /// Why it could not start or stopped, in words.
    pub error: Option<String>,
}

/// Where the remote side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum RemoteState {
    /// Bound, not yet reachable through its relay.
    Connecting,
    Online,
    Failed,
}

/// The remote settings the settings screen reads and writes: the "Reachable from the
/// internet" switch and a self-hosted relay (none: the default public relays). Not
/// `trove_core::RemoteSettings`: the last server's presence is not the screen's to set.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct RemoteSettingsDto {
    pub enabled: bool,
    pub relay: Option<String>,
}

/// A grant as the sharing screen shows it: the grant with its staged copy, if any (a
/// separate row in the vault, joined here so the list needs one call).
#[derive(Debug, Clone, Serialize, TS)]
pub struct GrantDto {
    #[serde(flatten)]
    pub grant: trove_core::Grant,
    /// For a grant available while this computer is off: its staged copy.
    pub staging: Option<trove_core::StagingInfo>,
}

impl From<trove_core::Grant> for GrantDto {
    fn from(grant: trove_core::Grant) -> Self {
        GrantDto {
            grant,
            staging: None,
        }
    }
}

/// What the person asks for in the create-grant flow. Not `trove_core::NewGrant`: the
/// screen also asks for a staged copy (`offline`, `storage`) and never binds an org key.
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
    pub max_uses: Option<u64>,
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
            max_uses: n.max_uses,
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

/// What the export screen asks for. The passphrase travels as its own argument so this
/// struct never holds a secret.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct ExportRequestDto {
    /// The bundle to write (an absolute path, or `~/…`).
    pub path: String,
    /// Replace an existing file (the native save dialog already asked).
    pub overwrite: bool,
    pub protection: Protection,
    /// `age1…` recipients, for [`Protection::Recipients`].
    pub recipients: Vec<String>,
    /// `TYPE` or `TYPE.FIELD` items for an export for an organization; empty: everything.
    pub scope: Vec<String>,
    /// With a scope: only records carrying this tag.
    pub only_tag: Option<String>,
}

/// What an export wrote, and where (the core summary does not know the path).
#[derive(Debug, Clone, Serialize, TS)]
pub struct ExportSummaryDto {
    /// The file written.
    pub path: String,
    #[serde(flatten)]
    pub summary: ExportSummary,
}

/// What a file to import is, so the screen can ask for the right key or record type
/// (the path as resolved, and only what opens a bundle, not its scrypt work factor).
#[derive(Debug, Clone, Serialize, TS)]
pub struct ImportFileDto {
    pub path: String,
    /// Guessed from the name, then the first bytes.
    pub format: Format,
    /// For a bundle: what opens it.
    pub bundle_kind: Option<Protection>,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// What the import screen asks for. The bundle passphrase travels as its own argument.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct ImportRequestDto {
    /// The file to import (an absolute path, or `~/…`).
    pub path: String,
    /// None: detected from the file's name, then its first bytes.
    pub format: Option<Format>,
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

/// One problem of a vCard/CSV/JSON file, at its line. Not `importers::Problem`: a refused
/// file's problems (from `Error::ImportMalformed`) are listed the same way.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LineProblemDto {
    pub line: u64,
    /// The vCard property or CSV column, when the problem is about one.
    pub property: Option<String>,
    pub kind: LineProblemKind,
    pub reason: String,
    /// The value was copied into the person's notes.
    pub kept_in_notes: bool,
}

/// What a line problem cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LineProblemKind {
    /// A record not kept.
    Skipped,
    /// A value not kept (the rest of the record kept).
    ValueNotKept,
    /// The file was not imported.
    Refused,
}

/// What an import did, or (dry run) would do: counts, what was not kept, and each
/// problem. With `refused`, nothing was imported and `problems` says why. One flat
/// report with the path, for the report screen (the core splits the merge from the file).
#[derive(Debug, Clone, Serialize, TS)]
pub struct ImportReportDto {
    pub path: String,
    pub format: Format,
    pub dry_run: bool,
    /// Records read from the file.
    pub records: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub kept_in_bundle: Option<KeptInBundle>,
    pub bundle_created_at: Option<String>,
    /// The scope of a bundle exported for an organization.
    pub scope: Option<Vec<String>>,
    /// Records (cards, rows) that could not be kept.
    pub skipped: u64,
    /// Values that did not fit their field (their records were kept).
    pub values_not_kept: u64,
    /// Properties or columns with no field.
    pub unmapped: Vec<Unmapped>,
    /// All problems counted; `problems` holds the first 1,000, in line order.
    pub problems_total: u64,
    pub problems: Vec<LineProblemDto>,
    /// Nothing was imported: the file was refused (see `problems`).
    pub refused: bool,
    /// What this import changed, as one batch that "Undo import" takes back (none for a
    /// dry run or an import that changed nothing).
    pub batch: Option<String>,
    /// What the person should know about how the file was read (a bundle that was not
    /// encrypted, columns read without a prefix they all share); nothing was lost.
    pub warnings: Vec<String>,
}

impl ImportReportDto {
    /// The report for the file at `path`.
    pub fn new(path: &std::path::Path, full: trove_core::importers::Report) -> Self {
        let r = full.merge;
        let warnings = r.warnings.into_iter().map(|w| w.message).collect();
        ImportReportDto {
            warnings,
            path: path.display().to_string(),
            // The core names the format with `Format::name`, which parses back; only a
            // bundle's own report (never passed here unnamed) could say anything else.
            format: Format::parse(&r.format)
                .ok()
                .flatten()
                .unwrap_or(Format::Bundle),
            dry_run: r.dry_run,
            records: r.records,
            new: r.new,
            updated: r.updated,
            unchanged: r.unchanged,
            kept_in_bundle: r.kept_in_bundle,
            bundle_created_at: r.bundle_created_at,
            scope: r.scope,
            skipped: full.skipped,
            values_not_kept: full.values_not_kept,
            unmapped: full.unmapped,
            problems_total: full.problems_total,
            problems: full
                .problems
                .into_iter()
                .map(|p| LineProblemDto {
                    line: p.line,
                    property: p.property,
                    kind: match p.kind {
                        ProblemKind::Skipped => LineProblemKind::Skipped,
                        ProblemKind::ValueNotKept => LineProblemKind::ValueNotKept,
                    },
                    reason: p.reason,
                    kept_in_notes: p.kept_in_notes,
                })
                .collect(),
            refused: full.refused,
            batch: r.batch,
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

#[cfg(test)]
mod tests {
    use serde_json::{json, to_value};
    use trove_core::bundle::{Phase, Protection};
    use trove_core::importers::Format;
    use trove_core::{GrantStatus, LogKind, Route, Scope, StagingState};
    use trove_share::staging::StepName;

    use super::*;

    /// The UI switches on these strings (the unions in `ui/src/bindings/`); they are the
    /// strings the app sent before these fields were enums.
    #[test]
    fn enums_cross_as_the_strings_the_ui_switches_on() {
        let pairs = [
            (to_value(GrantStatus::Exhausted), "exhausted"),
            (to_value(LogKind::GrantRevoke), "grant_revoke"),
            (to_value(LogKind::RemoteKeyRotate), "remote_key_rotate"),
            (to_value(Route::Relayed), "relayed"),
            (to_value(StagingState::DeletionPending), "deletion_pending"),
            (to_value(Protection::Recipients), "recipients"),
            (to_value(Phase::Finishing), "finishing"),
            (to_value(Format::Vcard), "vcard"),
            (to_value(StepName::Delete), "delete"),
            (to_value(RemoteState::Connecting), "connecting"),
            (to_value(LineProblemKind::ValueNotKept), "value_not_kept"),
        ];
        for (value, expected) in pairs {
            assert_eq!(value.unwrap(), json!(expected));
        }
        let asked: ImportRequestDto = serde_json::from_value(json!({
            "path": "/tmp/a.vcf", "format": null, "record_type": null,
            "identity_path": null, "dry_run": true,
        }))
        .unwrap();
        assert_eq!(asked.format, None, "null: detect the format");
    }

    /// The sharing screen reads a grant flat, its scope as `TYPE.FIELD` strings (the
    /// binding says `ScopeItem = string` by hand: this is what holds it to the truth).
    #[test]
    fn a_grant_crosses_flat_with_its_scope_as_strings() {
        let grant = trove_core::Grant {
            id: "g1".into(),
            org: "Clinic".into(),
            purpose: "intake".into(),
            scope: Scope::parse(&["contact.email", "address"], Some("home")).unwrap(),
            created_at: "2026-12-01T10:00:00Z".into(),
            expires_at: None,
            max_uses: Some(3),
            uses: 1,
            revoked_at: None,
            org_key: None,
            status: GrantStatus::Active,
        };
        let v = to_value(GrantDto::from(grant)).unwrap();
        assert_eq!(v["scope"], json!(["contact.email", "address"]));
        assert_eq!(
            (&v["id"], &v["status"], &v["only_tag"], &v["max_uses"]),
            (&json!("g1"), &json!("active"), &json!("home"), &json!(3))
        );
        assert_eq!(v["staging"], json!(null));
        assert!(v.get("records").is_none(), "no record list: left out ({v})");
    }
}
