//! The IPC payloads between the Rust shell and the UI. TypeScript types for them are
//! generated with ts-rs into `ui/src/bindings/` (see `bindings::export`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// An error as the UI sees it: it switches on `code` (stable, from
/// `trove_core::Error::code()`), shows `message` and `hint`, and puts the error next to
/// `field` when the error is about one field of a form.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
    pub field: Option<String>,
}

impl From<trove_core::Error> for ApiError {
    fn from(e: trove_core::Error) -> Self {
        use trove_core::Error as E;
        let field = match &e {
            E::InvalidField { field, .. } | E::UnknownField { field, .. } => Some(field.clone()),
            _ => None,
        };
        ApiError {
            code: e.code().to_string(),
            message: e.to_string(),
            hint: e.hint(),
            field,
        }
    }
}

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
