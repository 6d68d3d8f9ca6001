//! Portable bundles (`.trove`): a tar of `manifest.json`, `records.jsonl`, `grants.jsonl`,
//! `receipts.jsonl` and `log.jsonl`, wrapped in age. Owns export (streaming, atomic) and import.
//!
//! A bundle opens with standard tools: `age -d bundle.trove | tar x`. Export streams
//! records from the database twice inside one read snapshot: the first pass computes each
//! member's size and SHA-256 so `manifest.json` can come first in the tar, the second
//! writes the data. Nothing is buffered whole and no plaintext touches the disk. Import
//! reads tar entries one by one, allow-lists names, caps sizes on bytes actually read,
//! checks every hash and commits one transaction only after the stream ended cleanly.

mod export;
mod import;
pub(crate) mod json;
pub(crate) mod log_hook;
pub mod manifest;
pub mod tar;
pub(crate) mod target;

pub use export::{
    check_destination, export, export_to_writer, parse_recipient, Encryption, ExportOptions,
    ExportSummary,
};
pub(crate) use export::{export_unlogged, projected_id, projection_digest};
pub use import::{
    import_bundle, import_bundle_bytes, inspect, merge_records, read_identity_file, BundleKey,
    BundleKind, ImportLimits, ImportOptions, ImportReport, ImportWarning, KeptInBundle, MergeMode,
    Merged, RecordChange, ValueChange, MAX_FUTURE_SKEW_HOURS, MAX_REPORTED_CHANGES,
};
pub use manifest::{manifest_json, parse_manifest, Manifest};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The scrypt work factor (log2 N) Trove writes passphrase bundles with.
pub const SCRYPT_WORK_FACTOR: u8 = 18;
/// The largest scrypt work factor import accepts (checked before deriving anything).
pub const MAX_SCRYPT_WORK_FACTOR: u8 = 20;

/// Where a long export or import is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Progress {
    pub phase: Phase,
    /// Units done so far: records, or bytes when [`Progress::in_bytes`].
    pub done: u64,
    /// Units in total, when known.
    pub total: Option<u64>,
}

impl Progress {
    /// Whether `done` and `total` count bytes (otherwise records).
    pub fn in_bytes(&self) -> bool {
        matches!(self.phase, Phase::Reading | Phase::Finishing)
    }
}

/// What a long export or import is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Phase {
    /// Export: records read from the vault and written out encrypted (in records).
    Writing,
    /// Export: the bundle assembled (in bytes).
    Finishing,
    /// Import: the file read (in bytes).
    Reading,
}

impl Phase {
    /// `writing`, `finishing` or `reading`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Writing => "writing",
            Phase::Finishing => "finishing",
            Phase::Reading => "reading",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a bundle is protected: what an export writes and what opening one takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Protection {
    /// age with a passphrase.
    Passphrase,
    /// age to one or more `age1…` recipients.
    Recipients,
    /// The bare tar, unencrypted.
    Plain,
}

impl Protection {
    /// `passphrase`, `recipients` or `plain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protection::Passphrase => "passphrase",
            Protection::Recipients => "recipients",
            Protection::Plain => "plain",
        }
    }
}

impl std::fmt::Display for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rejects JSON nested deeper than `max` arrays/objects, before any parser recurses.
pub fn check_json_depth(bytes: &[u8], max: usize) -> Result<()> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &b in bytes {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(Error::InvalidInput(format!(
                        "JSON nested deeper than {max} levels"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
