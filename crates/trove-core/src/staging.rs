//! Staged grants: the rules behind "available while this computer is off". Owns the
//! vault's Ed25519 signing key, the person's S3-compatible storage targets (their secret
//! keys live only in the encrypted database), building a staged package (the grant's
//! projection as a scoped bundle, age-encrypted, with a signed manifest), and each staged
//! grant's state and log rows. No network I/O: trove-share moves the bytes.
//!
//! The lifecycle, as trove-share drives it:
//! 1. [`Vault::prepare_offline_grant`] validates and builds version 1 (nothing written);
//!    the objects are uploaded; [`Vault::commit_offline_grant`] then commits the grant,
//!    its staging row and both log rows in one transaction.
//! 2. [`Vault::staging_work`] says what is due: deletions (revoked, expired, reach
//!    ended, superseded versions) and grants to re-stage (in-scope records changed, or a
//!    failed attempt to retry). [`Vault::prepare_restage`] builds the next version,
//!    [`Vault::commit_restage`] records it, [`Vault::staging_deleted`] records
//!    deletions, [`Vault::staging_failed`] records why an attempt failed.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::access_log::{self, LogKind, NewLogEntry};
use crate::bundle::tar::Member;
use crate::bundle::{Encryption, ExportOptions};
pub use crate::error::StorageFailure;
use crate::error::{Error, Result};
use crate::model::grant::{Grant, GrantStatus, NewGrant, ValidGrant};
use crate::model::scope::Scope;
use crate::token::ShareToken;
use crate::vault::Vault;

pub use trove_wire::staged::{StagedBundle, StagedManifest, STAGED_FORMAT};

/// The longest a presigned download URL may live (S3's own limit, 604,800 s). Some
/// S3-compatible servers accept longer ones; Trove never asks for them.
pub const MAX_URL_LIFETIME: Duration = Duration::days(7);

/// Where the vault keeps its signing key (in `meta`, inside the encrypted database).
const SIGNING_KEY_META: &str = "staging_signing_key";
/// The folder under a storage target's prefix that holds staged copies.
pub const STAGED_DIR: &str = "trove-staged";

/// The vault's Ed25519 signing key: signs staged manifests. Kept in the encrypted
/// database; not `Clone`, not `Serialize`; `Debug` prints `***`; zeroized on drop.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// The public key (what share links carry to check manifests).
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// Signs `msg` (Ed25519, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(msg).to_bytes()
    }
}

/// The secret access key of a storage target. Not `Clone`, not `Serialize`; `Debug`
/// prints `***`; zeroized on drop.
pub struct StorageSecret(Zeroizing<String>);

impl StorageSecret {
    /// Wraps a secret key; a trailing newline (from a pipe) is not part of it.
    pub fn new(mut s: String) -> StorageSecret {
        while s.ends_with('\n') || s.ends_with('\r') {
            s.pop();
        }
        StorageSecret(Zeroizing::new(s))
    }

    /// The key, for request signing only.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StorageSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageSecret(***)")
    }
}

/// A storage target as the person describes it (validated by [`Vault::add_storage`]).
#[derive(Debug)]
pub struct NewStorageTarget {
    pub name: String,
    /// `https://…` (plain `http://` only for a server on this computer).
    pub endpoint: String,
    pub bucket: String,
    /// Default `us-east-1` (R2 uses `auto`).
    pub region: Option<String>,
    /// A folder inside the bucket, e.g. `trove/`.
    pub prefix: Option<String>,
    pub access_key_id: String,
    pub secret: StorageSecret,
}

/// A storage target without its secret: what lists and logs may show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StorageInfo {
    pub name: String,
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// Empty, or a folder ending in `/`.
    pub prefix: String,
    pub access_key_id: String,
    pub created_at: String,
}

impl StorageInfo {
    /// Where an object lies, for logs and messages: `s3://bucket/prefix/key`.
    pub fn location(&self, object: &str) -> String {
        format!("s3://{}/{}{}", self.bucket, self.prefix, object)
    }
}

/// A storage target with its secret, for trove-share's requests. Not `Clone`.
#[derive(Debug)]
pub struct StorageTarget {
    pub info: StorageInfo,
    pub secret: StorageSecret,
}

fn invalid(what: &str, why: &str) -> Error {
    Error::InvalidInput(format!("{what} {why}"))
}

impl NewStorageTarget {
    /// Parses and checks every part; the result is what gets stored.
    pub fn validate(&self) -> Result<StorageInfo> {
        let name = self.name.trim();
        let name_ok = (1..=32).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !name_ok {
            return Err(invalid(
                &format!("storage name {:?}", short(name)),
                "must be 1 to 32 lower-case letters, digits, - or _",
            ));
        }
        let endpoint = validate_endpoint(self.endpoint.trim())?;
        let bucket = self.bucket.trim();
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err(invalid(
                &format!("bucket {:?}", short(bucket)),
                "is not an S3 bucket name (3 to 63 lower-case letters, digits, - and .)",
            ));
        }
        let region = self.region.as_deref().unwrap_or("us-east-1").trim();
        if region.is_empty()
            || region.len() > 32
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid(
                &format!("region {:?}", short(region)),
                "is not a region name like us-east-1, eu-central-1 or auto",
            ));
        }
        let prefix = validate_prefix(self.prefix.as_deref().unwrap_or(""))?;
        let key_id = self.access_key_id.trim();
        if key_id.is_empty() || key_id.len() > 128 || !key_id.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(invalid(
                "the access key id",
                "must be 1 to 128 printable characters without spaces",
            ));
        }
        let secret = self.secret.expose_secret();
        if secret.is_empty() || secret.len() > 256 || secret.chars().any(char::is_control) {
            // Never echo the secret, not even a part of it.
            return Err(invalid(
                "the secret key",
                "must be 1 to 256 characters on one line (from TROVE_STORAGE_SECRET or the prompt)",
            ));
        }
        Ok(StorageInfo {
            name: name.to_string(),
            endpoint,
            bucket: bucket.to_string(),
            region: region.to_string(),
            prefix,
            access_key_id: key_id.to_string(),
            created_at: crate::now_rfc3339(),
        })
    }
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

/// `https://host[:port][/path]`, or `http://` for a loopback host only. The result has no
/// trailing `/`.
fn validate_endpoint(e: &str) -> Result<String> {
    let bad = |why: &str| invalid(&format!("endpoint {:?}", short(e)), why);
    let (scheme, rest) = e
        .split_once("://")
        .ok_or_else(|| bad("must be a URL like https://s3.example.com"))?;
    let host_port = rest.split('/').next().unwrap_or("");
    if host_port.is_empty()
        || rest.contains(['?', '#', '@', ' '])
        || rest.chars().any(|c| c.is_control())
    {
        return Err(bad(
            "must be a URL like https://s3.example.com (no user, query or spaces)",
        ));
    }
    let host = if let Some(h) = host_port.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    match scheme {
        "https" => {}
        "http" if matches!(host, "127.0.0.1" | "localhost" | "::1") => {}
        "http" => {
            return Err(bad(
                "uses plain http to another computer: use https:// (plain http only for a server on this computer)",
            ))
        }
        _ => return Err(bad("must start with https://")),
    }
    Ok(e.trim_end_matches('/').to_string())
}

/// Empty, or `a/b/` made of letters, digits, `-`, `_`, `.` and `/` (no `..`, no `//`).
fn validate_prefix(p: &str) -> Result<String> {
    let p = p.trim().trim_start_matches('/');
    if p.is_empty() {
        return Ok(String::new());
    }
    let ok = p.len() <= 200
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !p.contains("//")
        && !p.split('/').any(|s| s == ".." || s == ".");
    if !ok {
        return Err(invalid(
            &format!("prefix {:?}", short(p)),
            "must be a folder path like trove/ (letters, digits, - _ . and /)",
        ));
    }
    Ok(if p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    })
}

/// A staged copy's state as the person sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum StagingState {
    /// The current version is on storage.
    Staged,
    /// In-scope records changed; a new version is being published.
    Updating,
    /// The grant ended (or the link's URLs expired); the objects are still to be
    /// deleted (storage was unreachable, or this computer was off).
    DeletionPending,
    /// The last attempt to publish failed (see the reason); the previous version, if
    /// any, stays until the next attempt succeeds.
    Failed,
    /// The grant ended and every object was deleted.
    Deleted,
    /// The link's download URLs expired (7 days at most) while the grant lives on; every
    /// object was deleted. The grant still works live.
    Ended,
}

impl StagingState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StagingState::Staged => "staged",
            StagingState::Updating => "updating",
            StagingState::DeletionPending => "deletion_pending",
            StagingState::Failed => "failed",
            StagingState::Deleted => "deleted",
            StagingState::Ended => "ended",
        }
    }

    fn parse(s: &str) -> Result<StagingState> {
        [
            StagingState::Staged,
            StagingState::Updating,
            StagingState::DeletionPending,
            StagingState::Failed,
            StagingState::Deleted,
            StagingState::Ended,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| Error::VaultDamaged(format!("unknown staging state {:?}", short(s))))
    }

    /// True once every object is gone for good.
    pub fn is_final(self) -> bool {
        matches!(self, StagingState::Deleted | StagingState::Ended)
    }
}

impl fmt::Display for StagingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().replace('_', " "))
    }
}

/// A staged grant's state, for `grant show`, the app and scripts. Never holds a key or a
/// URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StagingInfo {
    pub grant_id: String,
    /// The storage target's name.
    pub storage: String,
    pub state: StagingState,
    /// Why the last attempt failed or a deletion is pending.
    pub reason: Option<String>,
    pub version: u64,
    pub records: u64,
    /// When the link's download URLs stop working.
    pub available_until: String,
    /// When the current version was published.
    pub staged_at: String,
    /// Whether the bundle key travels in the link (else the bundle is encrypted to the
    /// organization's own age recipient).
    pub key_in_link: bool,
    /// The age recipient the bundle is encrypted to.
    pub recipient: String,
    /// Always `your storage`: reads of a staged copy are not counted or logged here.
    pub enforced_by: &'static str,
    /// Where the objects lie (`s3://bucket/prefix/…`), while they exist.
    pub objects: Vec<String>,
}

/// What the person asks for with `grant create --offline`.
#[derive(Debug, Clone, Default)]
pub struct OfflineGrant {
    pub grant: NewGrant,
    /// The storage target; may be left out when exactly one is configured.
    pub storage: Option<String>,
    /// The organization's own age recipient (`age1…`); otherwise a fresh key per grant
    /// travels in the link.
    pub to: Option<String>,
}

/// What a brand-new offline grant carries until it is committed.
struct NewParts {
    valid: ValidGrant,
    token: ShareToken,
    bundle_key: Option<Zeroizing<String>>,
    key_in_link: bool,
    link_id: String,
}

/// One version of a staged grant, built and ready to upload: the encrypted bundle, the
/// manifest to sign once the bundle's URL is known, where both go. `Debug` shows names
/// and counts only.
pub struct Publication {
    pub grant_id: String,
    pub version: u64,
    pub storage: StorageTarget,
    /// Object keys, relative to the target's prefix.
    pub manifest_object: String,
    pub bundle_object: String,
    /// The age-encrypted scoped bundle.
    pub bundle: Vec<u8>,
    pub available_until: DateTime<Utc>,
    /// The bundle object this version replaces (deleted once this one is in place).
    pub previous_bundle: Option<String>,
    manifest: StagedManifest,
    record_ids: Vec<String>,
    disclosed: Vec<String>,
    projection: String,
    recipient: String,
    new: Option<NewParts>,
}

impl fmt::Debug for Publication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publication")
            .field("grant_id", &self.grant_id)
            .field("version", &self.version)
            .field("storage", &self.storage.info.name)
            .field("bundle_bytes", &self.bundle.len())
            .field("records", &self.record_ids.len())
            .finish_non_exhaustive()
    }
}

impl Publication {
    /// How long the download URLs made now may live: until `available_until`, at most
    /// [`MAX_URL_LIFETIME`]. An error once the copy's time is over.
    pub fn url_lifetime(&self, now: DateTime<Utc>) -> Result<std::time::Duration> {
        url_lifetime(self.available_until, now)
    }

    /// The signed manifest object for this version, whose bundle lies at `bundle_url`.
    pub fn signed_manifest(&self, key: &SigningKey, bundle_url: &str) -> Vec<u8> {
        use base64::Engine;
        let mut m = self.manifest.clone();
        m.bundle.url = bundle_url.to_string();
        let payload = serde_json::to_vec(&m).expect("manifest serializes");
        let mut msg = trove_wire::staged::SIGNING_CONTEXT.to_vec();
        msg.extend_from_slice(&payload);
        let b64 = base64::engine::general_purpose::STANDARD;
        let signed = trove_wire::staged::SignedManifest {
            format: STAGED_FORMAT.into(),
            payload: b64.encode(&payload),
            signature: b64.encode(key.sign(&msg)),
        };
        serde_json::to_vec(&signed).expect("signed manifest serializes")
    }

    /// The share token of a new offline grant (shown once, in the link).
    pub fn token(&self) -> Option<&ShareToken> {
        self.new.as_ref().map(|n| &n.token)
    }

    /// The bundle's age identity (`AGE-SECRET-KEY-1…`) of a new grant whose key travels
    /// in the link. Taken once: the vault never keeps it.
    pub fn take_bundle_key(&mut self) -> Option<Zeroizing<String>> {
        self.new.as_mut().and_then(|n| n.bundle_key.take())
    }

    /// The token and bundle key of a new offline grant, once it is committed (both are
    /// shown once, in the link, and never kept).
    pub fn into_new_grant(self) -> Option<(ShareToken, Option<Zeroizing<String>>)> {
        self.new.map(|n| (n.token, n.bundle_key))
    }

    /// How many records this version holds.
    pub fn records(&self) -> u64 {
        self.record_ids.len() as u64
    }
}

/// [`Publication::url_lifetime`] for any copy.
pub fn url_lifetime(
    available_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<std::time::Duration> {
    let left = (available_until - now).min(MAX_URL_LIFETIME);
    if left <= Duration::zero() {
        return Err(Error::InvalidInput(
            "the staged copy's time is over (its grant expired or its link is more than 7 days old)"
                .into(),
        ));
    }
    left.to_std()
        .map_err(|_| Error::InvalidInput("the staged copy's time is over".into()))
}

/// A deletion that is due: objects of one staged grant on one target.
#[derive(Debug)]
pub struct Deletion {
    pub grant_id: String,
    pub storage: StorageTarget,
    /// Object keys relative to the target's prefix.
    pub objects: Vec<String>,
    /// The state once they are all gone; `None` when only superseded versions go.
    pub then: Option<StagingState>,
}

/// What staging has to do now.
#[derive(Debug, Default)]
pub struct StagingWork {
    pub deletions: Vec<Deletion>,
    /// Grants to re-stage (in-scope records changed, or a failed attempt to retry).
    pub restage: Vec<String>,
}

struct Row {
    grant_id: String,
    storage: String,
    recipient: String,
    key_in_link: bool,
    manifest_object: String,
    bundle_object: String,
    version: u64,
    state: StagingState,
    reason: Option<String>,
    projection: String,
    records: u64,
    available_until: String,
    staged_at: String,
    stale: Vec<String>,
}

const ROW_SELECT: &str = "SELECT grant_id, storage, recipient, key_in_link, manifest_object, bundle_object, version, state, reason, projection, records, available_until, staged_at, stale_objects FROM staged_grants";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Row, String)> {
    let stale: String = r.get(13)?;
    let state: String = r.get(7)?;
    Ok((
        Row {
            grant_id: r.get(0)?,
            storage: r.get(1)?,
            recipient: r.get(2)?,
            key_in_link: r.get::<_, i64>(3)? != 0,
            manifest_object: r.get(4)?,
            bundle_object: r.get(5)?,
            version: r.get::<_, i64>(6)? as u64,
            state: StagingState::Staged,
            reason: r.get(8)?,
            projection: r.get(9)?,
            records: r.get::<_, i64>(10)? as u64,
            available_until: r.get(11)?,
            staged_at: r.get(12)?,
            stale: serde_json::from_str(&stale).unwrap_or_default(),
        },
        state,
    ))
}

fn rows(tx: &rusqlite::Connection, grant: Option<&str>) -> Result<Vec<Row>> {
    let mut stmt = tx.prepare_cached(&format!(
        "{ROW_SELECT} WHERE (?1 IS NULL OR grant_id = ?1) ORDER BY rowid"
    ))?;
    let raw = stmt
        .query_map([grant], read_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raw.into_iter()
        .map(|(mut row, state)| {
            row.state = StagingState::parse(&state)?;
            Ok(row)
        })
        .collect()
}

fn parse_time(s: &str) -> DateTime<Utc> {
    // A stored time that does not parse counts as over (fail closed).
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Row {
    /// The state shown: a live copy of a grant that ended (or whose URLs expired) is a
    /// pending deletion, whatever was stored.
    fn effective_state(&self, grant: &Grant, now: DateTime<Utc>) -> StagingState {
        if self.state.is_final() {
            return self.state;
        }
        if grant.status != GrantStatus::Active || parse_time(&self.available_until) <= now {
            return StagingState::DeletionPending;
        }
        self.state
    }

    fn live_objects(&self) -> Vec<String> {
        if self.state.is_final() {
            return Vec::new();
        }
        let mut v = vec![self.manifest_object.clone(), self.bundle_object.clone()];
        v.extend(self.stale.iter().cloned());
        v
    }
}

/// A fresh random name part: 128 bits, lowercase hex.
fn random_name() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn staging_entry(
    g: &Grant,
    method: &str,
    path: String,
    record_ids: Vec<String>,
    fields: Vec<String>,
) -> NewLogEntry {
    NewLogEntry {
        method: Some(method.into()),
        path: Some(path),
        record_ids,
        fields,
        ..NewLogEntry::grant_change(LogKind::Staging, g)
    }
}

impl Vault {
    /// The vault's signing key, made on first use and kept in the encrypted database.
    pub fn signing_key(&self) -> Result<SigningKey> {
        let read = |tx: &rusqlite::Connection| -> Result<Option<Zeroizing<String>>> {
            Ok(tx
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([SIGNING_KEY_META], |r| r.get::<_, String>(0))
                .optional()?
                .map(Zeroizing::new))
        };
        let stored = match self.read(|tx| read(tx))? {
            Some(s) => s,
            None => self.write(|tx| {
                if let Some(s) = read(tx)? {
                    return Ok(s);
                }
                let mut seed = Zeroizing::new([0u8; 32]);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed[..]);
                let hex = Zeroizing::new(hex::encode(&seed[..]));
                tx.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2)")?
                    .execute(params![SIGNING_KEY_META, hex.as_str()])?;
                Ok(hex)
            })?,
        };
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(stored.as_bytes(), &mut seed[..])
            .map_err(|_| Error::VaultDamaged("the signing key does not read back".into()))?;
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Adds a storage target. Refuses a name in use; checks the parts, not the
    /// connection (that is `storage test`).
    pub fn add_storage(&self, new: &NewStorageTarget) -> Result<StorageInfo> {
        let info = new.validate()?;
        self.write(|tx| {
            let exists: bool = tx
                .prepare_cached("SELECT 1 FROM storage_targets WHERE name = ?1")?
                .exists([&info.name])?;
            if exists {
                return Err(Error::StorageExists(info.name.clone()));
            }
            tx.prepare_cached(
                "INSERT INTO storage_targets (name, endpoint, bucket, region, prefix, access_key_id, secret_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                info.name,
                info.endpoint,
                info.bucket,
                info.region,
                info.prefix,
                info.access_key_id,
                new.secret.expose_secret(),
                info.created_at,
            ])?;
            Ok(())
        })?;
        tracing::info!(storage = %info.name, "storage target added");
        Ok(info)
    }

    /// Every storage target, by name, without secrets.
    pub fn list_storage(&self) -> Result<Vec<StorageInfo>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT name, endpoint, bucket, region, prefix, access_key_id, created_at FROM storage_targets ORDER BY name",
            )?;
            let rows = stmt.query_map([], storage_info_from)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// One storage target with its secret, for trove-share.
    pub fn storage_target(&self, name: &str) -> Result<StorageTarget> {
        self.read(|tx| storage_target_in(tx, name))
    }

    /// Removes a storage target. Refused while it holds a staged copy that is not yet
    /// deleted (revoke those grants first; their objects are deleted then).
    pub fn remove_storage(&self, name: &str) -> Result<StorageInfo> {
        self.write(|tx| {
            let target = storage_target_in(tx, name)?;
            let mut busy = Vec::new();
            for row in rows(tx, None)?.into_iter().filter(|r| r.storage == name) {
                if !row.state.is_final() {
                    busy.push(row.grant_id);
                }
            }
            if !busy.is_empty() {
                return Err(Error::StorageInUse {
                    name: name.to_string(),
                    grants: busy,
                });
            }
            tx.prepare_cached("DELETE FROM storage_targets WHERE name = ?1")?
                .execute([name])?;
            Ok(target.info)
        })
    }

    /// Validates an offline grant and builds its first version. Writes nothing: the
    /// grant exists only once [`Vault::commit_offline_grant`] ran after the upload.
    pub fn prepare_offline_grant(&self, req: &OfflineGrant) -> Result<Publication> {
        let now = self.clock().now();
        let valid = req.grant.validate(now)?;
        if valid.max_uses.is_some() {
            return Err(Error::OfflineNotAllowed(
                "an offline grant cannot have a use limit: storage cannot count reads".into(),
            ));
        }
        let storage = self.read(|tx| match &req.storage {
            Some(name) => storage_target_in(tx, name),
            None => {
                let names: Vec<String> = tx
                    .prepare_cached("SELECT name FROM storage_targets ORDER BY name")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                match names.as_slice() {
                    [one] => storage_target_in(tx, one),
                    [] => Err(Error::NoStorage),
                    _ => Err(Error::StorageAmbiguous(names.clone())),
                }
            }
        })?;
        let (recipient, bundle_key) = match &req.to {
            Some(to) => (crate::bundle::parse_recipient(to)?, None),
            None => {
                let id = age::x25519::Identity::generate();
                let key = {
                    use age::secrecy::ExposeSecret;
                    Zeroizing::new(id.to_string().expose_secret().to_string())
                };
                (id.to_public(), Some(key))
            }
        };
        let expires = valid.expires_at.as_deref().map(parse_time);
        let reach = now + MAX_URL_LIFETIME;
        let available_until = match expires {
            Some(e) if e < reach => e,
            _ => reach,
        };
        let token = ShareToken::generate();
        let link_id = trove_wire::staged::link_id(token.expose_secret());
        let grant_id = crate::model::record::new_id();
        let dir = format!("{STAGED_DIR}/{}", random_name());
        let mut p = self.build_version(
            &grant_id,
            1,
            &valid.org,
            &valid.purpose,
            &valid.scope,
            valid.expires_at.clone(),
            available_until,
            &link_id,
            recipient,
            storage,
            format!("{dir}/manifest.json"),
            &dir,
            None,
        )?;
        if p.record_ids.is_empty() {
            return Err(Error::OfflineNotAllowed(
                "the scope matches no records, so there is nothing to stage".into(),
            ));
        }
        p.new = Some(NewParts {
            valid,
            token,
            key_in_link: bundle_key.is_some(),
            bundle_key,
            link_id,
        });
        Ok(p)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_version(
        &self,
        grant_id: &str,
        version: u64,
        org: &str,
        purpose: &str,
        scope: &Scope,
        expires_at: Option<String>,
        available_until: DateTime<Utc>,
        link_id: &str,
        recipient: age::x25519::Recipient,
        storage: StorageTarget,
        manifest_object: String,
        dir: &str,
        previous_bundle: Option<String>,
    ) -> Result<Publication> {
        let recipient_text = recipient.to_string();
        let opts = ExportOptions {
            encryption: Encryption::Recipients(vec![recipient]),
            scope: Some(scope.clone()),
            replace: false,
        };
        // One pass: the bundle, and the ids and digest of its records (the digest of
        // `records.jsonl`, which is what `projection_digest` computes later to compare).
        let mut record_ids = Vec::new();
        let (bundle, manifest, disclosed, _) = crate::bundle::export_unlogged(
            self,
            Vec::new(),
            &opts,
            &mut |_| {},
            &std::env::temp_dir(),
            &mut |line| {
                record_ids.push(crate::bundle::projected_id(line)?);
                Ok(())
            },
        )?;
        let projection = manifest
            .members
            .get(Member::Records.name())
            .map(|m| m.sha256.clone())
            .ok_or_else(|| Error::Database("a staged bundle without records.jsonl".into()))?;
        let digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bundle))
        };
        let staged = StagedManifest {
            format: STAGED_FORMAT.into(),
            grant_id: grant_id.to_string(),
            version,
            org: org.to_string(),
            purpose: purpose.to_string(),
            scope: scope.item_strings(),
            only_tag: scope.only_tag.clone(),
            expires_at,
            available_until: fmt_time(available_until),
            created_at: crate::now_rfc3339(),
            link_id: link_id.to_string(),
            recipient: recipient_text.clone(),
            bundle: StagedBundle {
                size: bundle.len() as u64,
                sha256: digest,
                records: manifest.counts.records,
                url: String::new(),
            },
        };
        Ok(Publication {
            grant_id: grant_id.to_string(),
            version,
            storage,
            manifest_object,
            bundle_object: format!("{dir}/bundle-v{version}-{}.age", random_name()),
            bundle,
            available_until,
            previous_bundle,
            manifest: staged,
            record_ids,
            disclosed: disclosed.into_iter().collect(),
            projection,
            recipient: recipient_text,
            new: None,
        })
    }

    /// Commits a new offline grant once its objects are on storage: the grant, its
    /// consent receipt, its staging row and both log rows (created; published), in one
    /// transaction.
    pub fn commit_offline_grant(&self, p: &Publication) -> Result<Grant> {
        let new = p.new.as_ref().ok_or_else(|| {
            Error::InvalidInput("this publication is not a new offline grant".into())
        })?;
        let now = self.clock().now();
        let g = self.write(|tx| {
            let g = self.insert_grant(tx, &new.valid, &p.grant_id, &new.token, now)?;
            tx.prepare_cached(
                "INSERT INTO staged_grants (grant_id, storage, recipient, key_in_link, link_id, manifest_object, bundle_object, version, state, reason, projection, records, available_until, staged_at, stale_objects) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'staged', NULL, ?9, ?10, ?11, ?12, '[]')",
            )?
            .execute(params![
                p.grant_id,
                p.storage.info.name,
                p.recipient,
                new.key_in_link,
                new.link_id,
                p.manifest_object,
                p.bundle_object,
                p.version as i64,
                p.projection,
                p.records() as i64,
                fmt_time(p.available_until),
                fmt_time(now),
            ])?;
            self.log_publication(tx, &g, p, "publish")?;
            Ok(g)
        })?;
        tracing::info!(grant = %g.id, storage = %p.storage.info.name, "offline grant staged");
        Ok(g)
    }

    fn log_publication(
        &self,
        tx: &Transaction<'_>,
        g: &Grant,
        p: &Publication,
        method: &str,
    ) -> Result<()> {
        let path = format!(
            "storage {}: {} v{}",
            p.storage.info.name,
            p.storage.info.location(&p.bundle_object),
            p.version
        );
        access_log::append(
            tx,
            staging_entry(g, method, path, p.record_ids.clone(), p.disclosed.clone()),
            None,
        )?;
        Ok(())
    }

    /// What staging has to do now: due deletions and grants to re-stage. Re-staging is
    /// due when the grant is active, its copy still reachable, and either the last
    /// attempt failed or the in-scope records differ from the published version.
    pub fn staging_work(&self) -> Result<StagingWork> {
        let now = self.clock().now();
        let mut work = StagingWork::default();
        let all = self.read(|tx| {
            let mut out = Vec::new();
            for row in rows(tx, None)? {
                if row.state.is_final() {
                    continue;
                }
                let g = crate::grant::get_grant(tx, &row.grant_id, now)?;
                let storage = storage_target_in(tx, &row.storage)?;
                out.push((row, g, storage));
            }
            Ok(out)
        })?;
        for (row, g, storage) in all {
            match row.effective_state(&g, now) {
                StagingState::DeletionPending => {
                    let then = if g.status == GrantStatus::Active {
                        StagingState::Ended
                    } else {
                        StagingState::Deleted
                    };
                    work.deletions.push(Deletion {
                        grant_id: row.grant_id.clone(),
                        storage,
                        objects: row.live_objects(),
                        then: Some(then),
                    });
                }
                state => {
                    if !row.stale.is_empty() {
                        work.deletions.push(Deletion {
                            grant_id: row.grant_id.clone(),
                            storage,
                            objects: row.stale.clone(),
                            then: None,
                        });
                    }
                    let changed = matches!(state, StagingState::Failed | StagingState::Updating)
                        || crate::bundle::projection_digest(self, &g.scope)?.1 != row.projection;
                    if changed {
                        work.restage.push(row.grant_id.clone());
                    }
                }
            }
        }
        Ok(work)
    }

    /// True when staging may have something to do (a staged copy that is not deleted
    /// yet): a cheap check before [`Vault::staging_work`].
    pub fn has_staged_copies(&self) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT 1 FROM staged_grants WHERE state NOT IN ('deleted', 'ended') LIMIT 1",
            )?
            .exists([])?)
    }

    /// Builds the next version of a staged grant whose in-scope records changed (or
    /// whose last attempt failed), and marks it `updating`. `None` when there is nothing
    /// to re-stage (the grant ended, or nothing changed).
    pub fn prepare_restage(&self, grant_id: &str) -> Result<Option<Publication>> {
        let now = self.clock().now();
        let found = self.read(|tx| {
            let Some(row) = rows(tx, Some(grant_id))?.pop() else {
                return Ok(None);
            };
            let g = crate::grant::get_grant(tx, grant_id, now)?;
            let storage = storage_target_in(tx, &row.storage)?;
            let link_id: String = tx
                .prepare_cached("SELECT link_id FROM staged_grants WHERE grant_id = ?1")?
                .query_row([grant_id], |r| r.get(0))?;
            Ok(Some((row, g, storage, link_id)))
        })?;
        let Some((row, g, storage, link_id)) = found else {
            return Ok(None);
        };
        let state = row.effective_state(&g, now);
        if !matches!(
            state,
            StagingState::Staged | StagingState::Updating | StagingState::Failed
        ) {
            return Ok(None);
        }
        let projection = crate::bundle::projection_digest(self, &g.scope)?.1;
        if state == StagingState::Staged && projection == row.projection {
            return Ok(None);
        }
        self.set_state(grant_id, StagingState::Updating, None)?;
        let recipient = crate::bundle::parse_recipient(&row.recipient)?;
        let dir = row
            .manifest_object
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_else(|| STAGED_DIR.to_string());
        let p = self.build_version(
            &g.id,
            row.version + 1,
            &g.org,
            &g.purpose,
            &g.scope,
            g.expires_at.clone(),
            parse_time(&row.available_until),
            &link_id,
            recipient,
            storage,
            row.manifest_object.clone(),
            &dir,
            Some(row.bundle_object.clone()),
        )?;
        Ok(Some(p))
    }

    /// Records a re-published version (the new bundle and manifest are on storage): the
    /// superseded bundle is queued for deletion, and one log row says what went where.
    pub fn commit_restage(&self, p: &Publication) -> Result<()> {
        let now = self.clock().now();
        self.write(|tx| {
            let row = rows(tx, Some(&p.grant_id))?
                .pop()
                .ok_or_else(|| Error::GrantNotFound(p.grant_id.clone()))?;
            let mut stale = row.stale.clone();
            if let Some(prev) = &p.previous_bundle {
                if !stale.contains(prev) {
                    stale.push(prev.clone());
                }
            }
            tx.prepare_cached(
                "UPDATE staged_grants SET bundle_object = ?2, version = ?3, state = 'staged', reason = NULL, projection = ?4, records = ?5, staged_at = ?6, stale_objects = ?7 WHERE grant_id = ?1",
            )?
            .execute(params![
                p.grant_id,
                p.bundle_object,
                p.version as i64,
                p.projection,
                p.records() as i64,
                fmt_time(now),
                serde_json::to_string(&stale).expect("list serializes"),
            ])?;
            let g = crate::grant::get_grant(tx, &p.grant_id, now)?;
            self.log_publication(tx, &g, p, "republish")
        })?;
        tracing::info!(grant = %p.grant_id, version = p.version, "staged copy re-published");
        Ok(())
    }

    /// Records that an attempt to publish failed (the reason is shown by `grant show`).
    /// The previous version stays in place; the next sync tries again.
    pub fn staging_failed(&self, grant_id: &str, reason: &str) -> Result<()> {
        self.set_state(grant_id, StagingState::Failed, Some(reason))
    }

    fn set_state(&self, grant_id: &str, state: StagingState, reason: Option<&str>) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE staged_grants SET state = ?2, reason = ?3 WHERE grant_id = ?1 AND state NOT IN ('deleted', 'ended')",
            )?
            .execute(params![grant_id, state.as_str(), reason])?;
            Ok(())
        })
    }

    /// Records the outcome of a [`Deletion`]: `deleted` are the objects now gone (a
    /// missing object counts as gone); with `error`, the rest stay due and the reason
    /// is kept. When everything is gone, the copy reaches its final state with one log
    /// row.
    pub fn staging_deleted(
        &self,
        d: &Deletion,
        deleted: &[String],
        error: Option<&str>,
    ) -> Result<()> {
        let now = self.clock().now();
        self.write(|tx| {
            let Some(row) = rows(tx, Some(&d.grant_id))?.pop() else {
                return Ok(());
            };
            let stale: Vec<String> = row
                .stale
                .iter()
                .filter(|o| !deleted.contains(o))
                .cloned()
                .collect();
            let all_gone = d.objects.iter().all(|o| deleted.contains(o));
            let g = crate::grant::get_grant(tx, &d.grant_id, now)?;
            let (state, reason) = match (d.then, all_gone) {
                (Some(final_state), true) => (final_state, None),
                (Some(_), false) => (
                    StagingState::DeletionPending,
                    Some(error.unwrap_or("not every object could be deleted").to_string()),
                ),
                (None, _) => (row.state, row.reason.clone()),
            };
            tx.prepare_cached(
                "UPDATE staged_grants SET state = ?2, reason = ?3, stale_objects = ?4 WHERE grant_id = ?1",
            )?
            .execute(params![
                d.grant_id,
                state.as_str(),
                reason,
                serde_json::to_string(&stale).expect("list serializes"),
            ])?;
            if !deleted.is_empty() {
                let what: Vec<String> = deleted
                    .iter()
                    .map(|o| d.storage.info.location(o))
                    .collect();
                let path = format!("storage {}: {}", d.storage.info.name, what.join(" "));
                let mut e = staging_entry(&g, "delete", path, Vec::new(), Vec::new());
                if state == StagingState::DeletionPending {
                    e.outcome = "denied:storage_unreachable".into();
                }
                access_log::append(tx, e, None)?;
            }
            Ok(())
        })
    }

    /// The staged copy of one grant, if it has one.
    pub fn staging_info(&self, grant_id: &str) -> Result<Option<StagingInfo>> {
        Ok(self
            .list_staging()?
            .into_iter()
            .find(|s| s.grant_id == grant_id))
    }

    /// Every staged copy, oldest first.
    pub fn list_staging(&self) -> Result<Vec<StagingInfo>> {
        let now = self.clock().now();
        self.read(|tx| {
            let mut out = Vec::new();
            for row in rows(tx, None)? {
                let g = crate::grant::get_grant(tx, &row.grant_id, now)?;
                let bucket: Option<(String, String)> = tx
                    .prepare_cached("SELECT bucket, prefix FROM storage_targets WHERE name = ?1")?
                    .query_row([&row.storage], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let objects = match &bucket {
                    Some((b, p)) => row
                        .live_objects()
                        .iter()
                        .map(|o| format!("s3://{b}/{p}{o}"))
                        .collect(),
                    None => Vec::new(),
                };
                out.push(StagingInfo {
                    state: row.effective_state(&g, now),
                    grant_id: row.grant_id,
                    storage: row.storage,
                    reason: row.reason,
                    version: row.version,
                    records: row.records,
                    available_until: row.available_until,
                    staged_at: row.staged_at,
                    key_in_link: row.key_in_link,
                    recipient: row.recipient,
                    enforced_by: "your storage",
                    objects,
                });
            }
            Ok(out)
        })
    }
}

/// A storage target's public part from a row starting `name, endpoint, bucket, region,
/// prefix, access_key_id, created_at`.
fn storage_info_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<StorageInfo> {
    Ok(StorageInfo {
        name: r.get(0)?,
        endpoint: r.get(1)?,
        bucket: r.get(2)?,
        region: r.get(3)?,
        prefix: r.get(4)?,
        access_key_id: r.get(5)?,
        created_at: r.get(6)?,
    })
}

fn storage_target_in(tx: &rusqlite::Connection, name: &str) -> Result<StorageTarget> {
    tx.prepare_cached(
        "SELECT name, endpoint, bucket, region, prefix, access_key_id, created_at, secret_key FROM storage_targets WHERE name = ?1",
    )?
    .query_row([name], |r| {
        Ok(StorageTarget {
            info: storage_info_from(r)?,
            secret: StorageSecret(Zeroizing::new(r.get(7)?)),
        })
    })
    .optional()?
    .ok_or_else(|| Error::StorageNotFound(name.to_string()))
}

#[cfg(test)]
mod tests;
