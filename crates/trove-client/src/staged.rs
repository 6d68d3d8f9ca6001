//! Fetching a staged copy: the organization's path to a grant while the person's computer
//! is off. Downloads the signed manifest and the encrypted bundle through the link's
//! presigned URLs and trusts nothing until everything checked out:
//!
//! 1. the manifest's Ed25519 signature, with the signing key carried in the link;
//! 2. that it belongs to this link (its `link_id` is derived from the link's token), is
//!    not past its `available_until`, and is not older than a version seen before;
//! 3. the bundle's size and SHA-256 against the signed manifest;
//! 4. age decryption to the end of the stream (authenticated), with the link's key or
//!    the organization's own identity, which must match the signed recipient;
//! 5. the tar, entry by entry with size caps, only `manifest.json` then `records.jsonl`,
//!    each member's hash against the bundle manifest, the scope against the signed one,
//!    and every record against that scope.
//!
//! Only then are the records returned (the same [`Records`] the live API answers).
//! Nothing is written anywhere except, when asked, the version memory.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trove_wire::link::ShareLink;
use trove_wire::staged::{
    link_id, SignedManifest, StagedManifest, MAX_MANIFEST_BYTES, SIGNING_CONTEXT, STAGED_FORMAT,
};
use trove_wire::{Record, Records};

/// The largest encrypted bundle fetched by default (256 MiB).
pub const DEFAULT_MAX_BUNDLE_BYTES: u64 = 256 << 20;

/// Why a staged copy was refused. Nothing was returned or written.
#[derive(Debug, thiserror::Error)]
pub enum StagedError {
    #[error("this link has no staged copy (it is live only)")]
    NoStagedCopy,
    #[error("the staged copy is gone (HTTP {status}): the grant was revoked or has expired, or the link's download URLs expired (they last at most 7 days); ask the person for a new link")]
    Gone { status: u16 },
    #[error("can't download the staged copy: {0}")]
    Transport(String),
    #[error("the staged copy is too large: {0}")]
    TooLarge(String),
    #[error("the staged manifest is malformed: {0}")]
    BadManifest(String),
    #[error("the staged manifest's signature does not match the link's signing key: the copy was altered, or it is not from the person who gave the link")]
    BadSignature,
    #[error("the staged copy belongs to another link than this one")]
    WrongLink,
    #[error("the staged copy ended at {until}: ask the person for a new link")]
    Expired { until: String },
    #[error("the staged copy is version {got}, older than version {seen} already seen: storage served an old copy (replayed); try again later")]
    Replayed { seen: u64, got: u64 },
    #[error(
        "the staged bundle does not match its signed SHA-256: it was altered or damaged on storage"
    )]
    HashMismatch,
    #[error("the bundle is encrypted to {recipient}; the given key does not open it")]
    WrongKey { recipient: String },
    #[error(
        "the bundle is encrypted to the organization's own key {recipient}: pass its age identity"
    )]
    NeedsIdentity { recipient: String },
    #[error("the staged bundle is not valid: {0}")]
    BadBundle(String),
    #[error("can't remember the version seen: {0}")]
    Memory(String),
}

impl StagedError {
    /// A stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            StagedError::NoStagedCopy => "staged_none",
            StagedError::Gone { .. } => "staged_gone",
            StagedError::Transport(_) => "staged_transport",
            StagedError::TooLarge(_) => "staged_too_large",
            StagedError::BadManifest(_) => "staged_bad_manifest",
            StagedError::BadSignature => "staged_bad_signature",
            StagedError::WrongLink => "staged_wrong_link",
            StagedError::Expired { .. } => "staged_expired",
            StagedError::Replayed { .. } => "staged_replayed",
            StagedError::HashMismatch => "staged_hash_mismatch",
            StagedError::WrongKey { .. } => "staged_wrong_key",
            StagedError::NeedsIdentity { .. } => "staged_needs_identity",
            StagedError::BadBundle(_) => "staged_bad_bundle",
            StagedError::Memory(_) => "staged_memory",
        }
    }
}

/// Remembers the highest version seen per grant, so an older copy served later is
/// refused. A small JSON file, written atomically (temp file, rename).
#[derive(Debug)]
pub struct VersionMemory {
    path: PathBuf,
    seen: BTreeMap<String, u64>,
}

impl VersionMemory {
    /// Opens (or starts) the memory kept in `path`.
    pub fn open(path: &Path) -> Result<VersionMemory, StagedError> {
        let seen = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| StagedError::Memory(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(StagedError::Memory(format!("{}: {e}", path.display()))),
        };
        Ok(VersionMemory {
            path: path.to_path_buf(),
            seen,
        })
    }

    /// The highest version seen for `grant_id`.
    pub fn seen(&self, grant_id: &str) -> Option<u64> {
        self.seen.get(grant_id).copied()
    }

    fn record(&mut self, grant_id: &str, version: u64) -> Result<(), StagedError> {
        if self.seen(grant_id).is_some_and(|v| v >= version) {
            return Ok(());
        }
        self.seen.insert(grant_id.to_string(), version);
        let err = |e: std::io::Error| StagedError::Memory(format!("{}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec(&self.seen).expect("map serializes"),
        )
        .map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)
    }
}

/// How to fetch.
pub struct StagedOptions<'a> {
    /// The organization's age identity, for bundles encrypted to its own recipient
    /// (the link then carries no bundle key).
    pub identity: Option<&'a age::x25519::Identity>,
    /// Where the highest version seen per grant is kept; without it, only expiry
    /// protects against an old copy.
    pub memory: Option<&'a mut VersionMemory>,
    /// The largest encrypted bundle accepted.
    pub max_bundle_bytes: u64,
    /// Per download.
    pub timeout: Duration,
}

impl Default for StagedOptions<'_> {
    fn default() -> Self {
        StagedOptions {
            identity: None,
            memory: None,
            max_bundle_bytes: DEFAULT_MAX_BUNDLE_BYTES,
            timeout: Duration::from_secs(60),
        }
    }
}

/// A verified staged copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StagedFetch {
    /// The in-scope records, exactly as the live `GET /v1/records` would list them.
    pub records: Records,
    pub grant_id: String,
    pub version: u64,
    pub org: String,
    pub purpose: String,
    pub scope: Vec<String>,
    pub only_tag: Option<String>,
    pub expires_at: Option<String>,
    pub available_until: String,
    /// When this version was published.
    pub created_at: String,
}

/// Downloads and verifies the staged copy a link points to (see the module docs).
pub async fn fetch_staged(
    link: &ShareLink,
    opts: StagedOptions<'_>,
) -> Result<StagedFetch, StagedError> {
    let staged = link.staged.as_ref().ok_or(StagedError::NoStagedCopy)?;
    let manifest_url = staged
        .manifest_url
        .as_deref()
        .ok_or_else(|| StagedError::BadManifest("the link carries no manifest URL".into()))?;
    let http = reqwest::Client::builder()
        .timeout(opts.timeout)
        .build()
        .map_err(|e| StagedError::Transport(e.to_string()))?;
    let signed = download(&http, manifest_url, MAX_MANIFEST_BYTES as u64, "manifest").await?;
    let m = verify_manifest(&signed, &staged.signer, &link.token, Utc::now())?;
    if let Some(seen) = opts.memory.as_ref().and_then(|mem| mem.seen(&m.grant_id)) {
        if m.version < seen {
            return Err(StagedError::Replayed {
                seen,
                got: m.version,
            });
        }
    }
    if m.bundle.size > opts.max_bundle_bytes {
        return Err(StagedError::TooLarge(format!(
            "the bundle is {} bytes; at most {} are accepted",
            m.bundle.size, opts.max_bundle_bytes
        )));
    }
    let bundle_url = if m.bundle.url.is_empty() {
        staged.bundle_url.as_str()
    } else {
        m.bundle.url.as_str()
    };
    let bundle = download(&http, bundle_url, m.bundle.size, "bundle").await?;
    let key = match (&staged.bundle_key, opts.identity) {
        (Some(k), _) => {
            Some(
                k.parse::<age::x25519::Identity>()
                    .map_err(|_| StagedError::WrongKey {
                        recipient: m.recipient.clone(),
                    })?,
            )
        }
        (None, _) => None,
    };
    let identity = match (&key, opts.identity) {
        (Some(k), _) => k,
        (None, Some(i)) => i,
        (None, None) => {
            return Err(StagedError::NeedsIdentity {
                recipient: m.recipient.clone(),
            })
        }
    };
    let records = open_bundle(&bundle, &m, identity)?;
    if let Some(mem) = opts.memory {
        mem.record(&m.grant_id, m.version)?;
    }
    Ok(StagedFetch {
        records: Records { records },
        grant_id: m.grant_id,
        version: m.version,
        org: m.org,
        purpose: m.purpose,
        scope: m.scope,
        only_tag: m.only_tag,
        expires_at: m.expires_at,
        available_until: m.available_until,
        created_at: m.created_at,
    })
}

/// GETs `url`, refusing more than `max` bytes (counted as they arrive).
async fn download(
    http: &reqwest::Client,
    url: &str,
    max: u64,
    what: &str,
) -> Result<Vec<u8>, StagedError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(StagedError::BadManifest(format!(
            "the {what} URL is not an http(s) URL"
        )));
    }
    let mut resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| StagedError::Transport(format!("{what}: {}", e.without_url())))?;
    let status = resp.status().as_u16();
    if matches!(status, 403 | 404 | 410) {
        return Err(StagedError::Gone { status });
    }
    if !resp.status().is_success() {
        return Err(StagedError::Transport(format!(
            "{what}: storage answered HTTP {status}"
        )));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| StagedError::Transport(format!("{what}: {}", e.without_url())))?
    {
        if out.len() as u64 + chunk.len() as u64 > max {
            return Err(StagedError::TooLarge(format!(
                "the {what} is larger than the {max} bytes it should be"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Checks a signed manifest: signature first (over the exact payload bytes), then the
/// payload's shape, that it belongs to the link with `token`, and its time.
pub fn verify_manifest(
    signed: &[u8],
    signer: &[u8; 32],
    token: &str,
    now: DateTime<Utc>,
) -> Result<StagedManifest, StagedError> {
    if signed.len() > MAX_MANIFEST_BYTES {
        return Err(StagedError::TooLarge("the manifest".into()));
    }
    let env: SignedManifest =
        serde_json::from_slice(signed).map_err(|e| StagedError::BadManifest(e.to_string()))?;
    if env.format != STAGED_FORMAT {
        return Err(StagedError::BadManifest(format!(
            "format {:?} is not {STAGED_FORMAT}",
            env.format.chars().take(40).collect::<String>()
        )));
    }
    let b64 = data_encoding::BASE64;
    let payload = b64
        .decode(env.payload.as_bytes())
        .map_err(|_| StagedError::BadManifest("the payload is not base64".into()))?;
    let sig: [u8; 64] = b64
        .decode(env.signature.as_bytes())
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(StagedError::BadSignature)?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(signer).map_err(|_| StagedError::BadSignature)?;
    let mut msg = SIGNING_CONTEXT.to_vec();
    msg.extend_from_slice(&payload);
    key.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| StagedError::BadSignature)?;
    let m: StagedManifest =
        serde_json::from_slice(&payload).map_err(|e| StagedError::BadManifest(e.to_string()))?;
    if m.format != STAGED_FORMAT {
        return Err(StagedError::BadManifest("unknown payload format".into()));
    }
    if m.link_id != link_id(token) {
        return Err(StagedError::WrongLink);
    }
    let until = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| StagedError::BadManifest(format!("{s:?} is not an RFC 3339 time")))
    };
    for t in std::iter::once(&m.available_until).chain(m.expires_at.iter()) {
        if until(t)? <= now {
            return Err(StagedError::Expired { until: t.clone() });
        }
    }
    if m.bundle.sha256.len() != 64 || !m.bundle.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(StagedError::BadManifest(
            "the bundle hash is not SHA-256 hex".into(),
        ));
    }
    Ok(m)
}

/// The bundle manifest inside the tar (trove-bundle/1).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleManifest {
    format: String,
    #[allow(dead_code)]
    created_at: String,
    #[allow(dead_code)]
    generator: String,
    counts: Counts,
    #[serde(default)]
    scope: Option<Vec<String>>,
    #[serde(default)]
    only_tag: Option<String>,
    members: BTreeMap<String, Member>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Counts {
    records: u64,
    grants: u64,
    receipts: u64,
    log: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Member {
    size: u64,
    sha256: String,
}

const BLOCK: usize = 512;
/// The bundle manifest is small; anything larger is refused before parsing.
const MAX_BUNDLE_MANIFEST: u64 = 1 << 20;

/// Checks the encrypted bundle against the signed manifest, decrypts it completely, and
/// reads its two members with every check. Returns the records only if all passed.
pub fn open_bundle(
    bundle: &[u8],
    m: &StagedManifest,
    identity: &age::x25519::Identity,
) -> Result<Vec<Record>, StagedError> {
    if bundle.len() as u64 != m.bundle.size {
        return Err(StagedError::HashMismatch);
    }
    let digest = hex(&Sha256::digest(bundle));
    if digest != m.bundle.sha256.to_ascii_lowercase() {
        return Err(StagedError::HashMismatch);
    }
    if identity.to_public().to_string() != m.recipient {
        return Err(StagedError::WrongKey {
            recipient: m.recipient.clone(),
        });
    }
    let dec = age::Decryptor::new(bundle)
        .map_err(|e| StagedError::BadBundle(format!("not an age file: {e}")))?;
    let mut reader = dec
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|_| StagedError::WrongKey {
            recipient: m.recipient.clone(),
        })?;
    // Reading to the end authenticates every chunk; the plaintext is never larger than
    // the ciphertext.
    let mut plain = Vec::with_capacity(bundle.len());
    reader
        .by_ref()
        .take(m.bundle.size + 1)
        .read_to_end(&mut plain)
        .map_err(|e| StagedError::BadBundle(format!("decryption failed: {e}")))?;
    read_tar(&plain, m)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn bad(s: impl Into<String>) -> StagedError {
    StagedError::BadBundle(s.into())
}

/// One tar header: (name, size). Only plain files with short names; the checksum must
/// match.
fn header(h: &[u8]) -> Result<(String, u64), StagedError> {
    let octal = |b: &[u8], what: &str| -> Result<u64, StagedError> {
        let s: String = b
            .iter()
            .take_while(|&&c| c != 0 && c != b' ')
            .map(|&c| c as char)
            .collect();
        u64::from_str_radix(s.trim(), 8)
            .map_err(|_| bad(format!("a tar header's {what} is not a number")))
    };
    let stored = octal(&h[148..156], "checksum")?;
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                b' ' as u64
            } else {
                b as u64
            }
        })
        .sum();
    if sum != stored {
        return Err(bad("a tar header's checksum does not match"));
    }
    if !matches!(h[156], b'0' | 0) {
        return Err(bad("the tar holds something other than plain files"));
    }
    if h[124] & 0x80 != 0 {
        return Err(StagedError::TooLarge("a member of the bundle".into()));
    }
    if h[345..500].iter().any(|&b| b != 0) {
        return Err(bad("a member name has a path prefix"));
    }
    let name_bytes: Vec<u8> = h[..100].iter().take_while(|&&c| c != 0).copied().collect();
    let name = String::from_utf8(name_bytes).map_err(|_| bad("a member name is not UTF-8"))?;
    Ok((name, octal(&h[124..136], "size")?))
}

/// Reads `manifest.json` then `records.jsonl`, nothing else, each hash checked.
fn read_tar(tar: &[u8], m: &StagedManifest) -> Result<Vec<Record>, StagedError> {
    let mut pos = 0usize;
    let mut members: Vec<(String, &[u8])> = Vec::new();
    loop {
        let h = tar
            .get(pos..pos + BLOCK)
            .ok_or_else(|| bad("the tar ends early"))?;
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let (name, size) = header(h)?;
        let expected = match members.len() {
            0 => "manifest.json",
            1 => "records.jsonl",
            _ => return Err(bad(format!("unexpected extra member {name:?}"))),
        };
        if name != expected {
            return Err(bad(format!(
                "member {:?} where {expected} was expected",
                name.chars().take(80).collect::<String>()
            )));
        }
        if expected == "manifest.json" && size > MAX_BUNDLE_MANIFEST {
            return Err(StagedError::TooLarge("the bundle manifest".into()));
        }
        pos += BLOCK;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| pos.checked_add(s))
            .filter(|&e| e <= tar.len())
            .ok_or_else(|| bad(format!("member {name} is cut off")))?;
        members.push((name, &tar[pos..end]));
        pos = end + (BLOCK - (size as usize % BLOCK)) % BLOCK;
    }
    let [(_, mbytes), (_, records)] = members.as_slice() else {
        return Err(bad("the bundle lacks its manifest or its records"));
    };
    let bm: BundleManifest =
        serde_json::from_slice(mbytes).map_err(|e| bad(format!("manifest.json: {e}")))?;
    if bm.format != "trove-bundle/1" {
        return Err(bad("manifest.json: not a trove-bundle/1 manifest"));
    }
    if bm.scope.as_ref() != Some(&m.scope) || bm.only_tag != m.only_tag {
        return Err(bad("the bundle's scope is not the signed scope"));
    }
    if bm.counts.records != m.bundle.records
        || bm.counts.grants + bm.counts.receipts + bm.counts.log != 0
    {
        return Err(bad("the bundle's counts are not the signed counts"));
    }
    if bm.members.len() != 1 {
        return Err(bad("the bundle manifest names members other than records"));
    }
    let d = bm
        .members
        .get("records.jsonl")
        .ok_or_else(|| bad("the bundle manifest does not name records.jsonl"))?;
    if d.size != records.len() as u64 || hex(&Sha256::digest(records)) != d.sha256 {
        return Err(StagedError::HashMismatch);
    }
    let allowed = Allowed::new(&m.scope);
    let mut out = Vec::with_capacity(bm.counts.records as usize);
    for (i, line) in records.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let r: Record = serde_json::from_slice(line)
            .map_err(|e| bad(format!("records.jsonl line {}: {e}", i + 1)))?;
        if !allowed.permits(&r) {
            return Err(bad(format!(
                "records.jsonl line {}: a record outside the signed scope",
                i + 1
            )));
        }
        if let Some(t) = &m.only_tag {
            if !r.tags.contains(t) {
                return Err(bad(format!(
                    "records.jsonl line {}: a record without the scope's tag",
                    i + 1
                )));
            }
        }
        out.push(r);
    }
    if out.len() as u64 != bm.counts.records {
        return Err(bad(
            "records.jsonl holds another number of records than signed",
        ));
    }
    // The live API lists newest first (by id); so does the staged path.
    out.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(out)
}

/// The types and fields a scope lets through.
struct Allowed(BTreeMap<String, Option<Vec<String>>>);

impl Allowed {
    fn new(scope: &[String]) -> Allowed {
        let mut map: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
        for item in scope {
            match item.split_once('.') {
                None => {
                    map.insert(item.clone(), None);
                }
                Some((t, f)) => {
                    let e = map.entry(t.to_string()).or_insert_with(|| Some(Vec::new()));
                    if let Some(fields) = e {
                        fields.push(f.to_string());
                    }
                }
            }
        }
        Allowed(map)
    }

    fn permits(&self, r: &Record) -> bool {
        match self.0.get(&r.record_type) {
            None => false,
            Some(None) => true,
            Some(Some(fields)) => r.fields.keys().all(|k| fields.contains(k)),
        }
    }
}
