//! Staged grants on the person's own S3-compatible storage: the network half. trove-core
//! decides what to publish, re-publish and delete; this module moves the bytes with
//! opendal's S3 service (reqwest on rustls with ring), presigns download URLs (never
//! longer than 7 days), and tells storage failures apart (DNS, connection, TLS,
//! credentials, missing bucket, clock skew).
//!
//! Objects are uploaded with `If-None-Match: *`, so an existing object is never
//! overwritten — except the manifest of a re-published grant, which is the one object
//! replaced on purpose (the link points at it; it points at the current bundle).
//!
//! ```no_run
//! # async fn run(vault: &trove_core::Vault) -> trove_core::Result<()> {
//! let req = trove_core::OfflineGrant::default();
//! let mut made = trove_share::staging::create_offline_grant(vault, &req).await?;
//! println!("{}", made.link(None).encode().as_str());
//! let report = trove_share::staging::sync(vault).await;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use opendal::{ErrorKind, HttpTransporter, OperationContext, Operator};
use serde::Serialize;
use trove_core::staging::{Deletion, StagingInfo, MAX_URL_LIFETIME};
use trove_core::{
    Error, Grant, OfflineGrant, Result, ShareToken, StorageFailure, StorageInfo, StorageTarget,
    Vault,
};
use trove_wire::link::{LiveAddress, ShareLink, StagedCopy};
use zeroize::Zeroizing;

/// How long one request to storage may take before it counts as unreachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One storage target, ready for requests.
pub struct Storage {
    op: Operator,
    info: StorageInfo,
    /// Kept only to scrub it from error messages, should a server echo it.
    secret: Zeroizing<String>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("name", &self.info.name)
            .finish_non_exhaustive()
    }
}

fn install_ring() {
    // reqwest (under opendal) is built without a TLS provider: use ring, like the rest
    // of Trove. Installing twice is harmless (the first one stays).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Storage {
    /// An S3 client for `target` (no request is made yet).
    pub fn new(target: &StorageTarget) -> Result<Storage> {
        install_ring();
        let info = target.info.clone();
        let builder = opendal::services::S3::default()
            .endpoint(&info.endpoint)
            .bucket(&info.bucket)
            .region(&info.region)
            .root(&format!("/{}", info.prefix))
            .access_key_id(&info.access_key_id)
            .secret_access_key(target.secret.expose_secret())
            .disable_config_load()
            .disable_ec2_metadata();
        let op = Operator::new(builder)
            .map_err(|e| storage_error(&info, "set up", &e, target.secret.expose_secret()))?;
        let client = reqwest_storage::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| Error::Storage {
                failure: StorageFailure::Tls,
                message: format!("can't set up the storage client: {e}"),
            })?;
        let transport = opendal_http_transport_reqwest::ReqwestTransport::new(client);
        let op = op.with_context(
            OperationContext::new().with_http_transport(HttpTransporter::new(transport)),
        );
        Ok(Storage {
            op,
            info,
            secret: Zeroizing::new(target.secret.expose_secret().to_string()),
        })
    }

    /// The target's description (no secret).
    pub fn info(&self) -> &StorageInfo {
        &self.info
    }

    fn err(&self, step: &str, e: &opendal::Error) -> Error {
        storage_error(&self.info, step, e, &self.secret)
    }

    /// Uploads a new object; fails with [`StorageFailure::Exists`] rather than overwrite
    /// (`If-None-Match: *`).
    pub async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.op
            .write_with(key, bytes)
            .if_not_exists(true)
            .await
            .map(|_| ())
            .map_err(|e| self.err("upload", &e))
    }

    /// Uploads an object, replacing what is there (only a re-published manifest).
    pub async fn put_replace(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.op
            .write(key, bytes)
            .await
            .map(|_| ())
            .map_err(|e| self.err("upload", &e))
    }

    /// A presigned GET URL for `key`, valid for `lifetime` (at most 7 days: longer is
    /// refused here, whatever the storage would accept).
    pub async fn presign_get(&self, key: &str, lifetime: Duration) -> Result<String> {
        let max = MAX_URL_LIFETIME.to_std().expect("positive");
        if lifetime > max || lifetime.is_zero() {
            return Err(Error::InvalidInput(format!(
                "a download URL must live between 1 second and 7 days, not {} s",
                lifetime.as_secs()
            )));
        }
        let req = self
            .op
            .presign_read(key, lifetime)
            .await
            .map_err(|e| self.err("presign", &e))?;
        Ok(req.uri().to_string())
    }

    /// Deletes an object; one that is already gone counts as deleted.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.op.delete(key).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("delete", &e)),
        }
    }

    /// Reads an object (the connection test).
    pub async fn read(&self, key: &str) -> Result<Vec<u8>> {
        self.op
            .read(key)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| self.err("read", &e))
    }
}

/// Turns an opendal error into a core error that says what failed and why, without the
/// secret or any URL's query string.
fn storage_error(info: &StorageInfo, step: &str, e: &opendal::Error, secret: &str) -> Error {
    let mut text = format!("{e:?}");
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        text.push_str(&format!(" / {s}"));
        src = s.source();
    }
    let lower = text.to_lowercase();
    let name = &info.name;
    let (failure, what) = if lower.contains("requesttimetooskewed")
        || lower.contains("time too skewed")
        || lower.contains("timetooskewed")
    {
        (
            StorageFailure::ClockSkew,
            format!("storage {name} says this computer's clock is off"),
        )
    } else if lower.contains("nosuchbucket") || lower.contains("no such bucket") {
        (
            StorageFailure::BucketMissing,
            format!("bucket {} does not exist at {}", info.bucket, info.endpoint),
        )
    } else if lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
        || lower.contains("invalidtoken")
        || lower.contains("expiredtoken")
    {
        (
            StorageFailure::Credentials,
            format!(
                "storage {name} refused the credentials (access key id {})",
                info.access_key_id
            ),
        )
    } else if e.kind() == ErrorKind::PermissionDenied {
        (
            StorageFailure::Denied,
            format!(
                "storage {name} refused to {step} in bucket {} (access denied)",
                info.bucket
            ),
        )
    } else if e.kind() == ErrorKind::ConditionNotMatch {
        (
            StorageFailure::Exists,
            format!("an object with that name already exists on storage {name}"),
        )
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
        || lower.contains("no such host")
    {
        (
            StorageFailure::Dns,
            format!(
                "can't find the host of {} (DNS lookup failed)",
                info.endpoint
            ),
        )
    } else if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("invalid peer")
    {
        (
            StorageFailure::Tls,
            format!("the secure (TLS) connection to {} failed", info.endpoint),
        )
    } else if lower.contains("connection refused")
        || lower.contains("tcp connect")
        || lower.contains("connect error")
        || lower.contains("error sending request")
        || lower.contains("timed out")
        || lower.contains("timeout")
        || lower.contains("unreachable")
        || lower.contains("connection reset")
    {
        (
            StorageFailure::Connection,
            format!("can't reach storage {name} at {}", info.endpoint),
        )
    } else {
        let first = e.to_string();
        let first = first.lines().next().unwrap_or("").chars().take(200);
        (
            StorageFailure::Unexpected,
            format!(
                "storage {name} answered unexpectedly: {}",
                scrub(&first.collect::<String>(), secret)
            ),
        )
    };
    Error::Storage {
        failure,
        message: format!("can't {step}: {what}"),
    }
}

/// Removes a secret and any URL query string (presigned signatures) from a message.
fn scrub(msg: &str, secret: &str) -> String {
    let mut out = if secret.is_empty() {
        msg.to_string()
    } else {
        msg.replace(secret, "***")
    };
    while let Some(q) = out.find('?') {
        let end = out[q..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == ',')
            .map(|e| q + e)
            .unwrap_or(out.len());
        out.replace_range(q..end, "");
    }
    out
}

/// A step of a connection test, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum StepName {
    Write,
    Read,
    Delete,
}

impl std::fmt::Display for StepName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            StepName::Write => "write",
            StepName::Read => "read",
            StepName::Delete => "delete",
        })
    }
}

/// One step of a connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TestStep {
    pub step: StepName,
    pub ok: bool,
    /// The failure's code (`storage_credentials`, ...), when it failed.
    pub code: Option<&'static str>,
    pub message: Option<String>,
    pub hint: Option<&'static str>,
}

/// The outcome of [`test_storage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TestReport {
    pub storage: String,
    pub ok: bool,
    pub steps: Vec<TestStep>,
}

impl TestReport {
    /// The first failure as an error (for exit codes), if any.
    pub fn first_error(&self) -> Option<Error> {
        self.steps.iter().find(|s| !s.ok).map(|s| Error::Storage {
            failure: failure_of(s.code.unwrap_or("")),
            message: s.message.clone().unwrap_or_default(),
        })
    }
}

fn failure_of(code: &str) -> StorageFailure {
    StorageFailure::ALL
        .iter()
        .copied()
        .find(|f| f.code() == code)
        .unwrap_or(StorageFailure::Unexpected)
}

/// Writes, reads back and deletes a small probe object under the target's prefix, and
/// says which step failed and why.
pub async fn test_storage(target: &StorageTarget) -> Result<TestReport> {
    let st = Storage::new(target)?;
    let key = format!("{}/probe-{}", trove_core::staging::STAGED_DIR, random_hex());
    let probe = format!("trove storage test {}", Utc::now().to_rfc3339()).into_bytes();
    let mut steps = Vec::new();
    let step = |name: StepName, r: Result<()>| match r {
        Ok(()) => TestStep {
            step: name,
            ok: true,
            code: None,
            message: None,
            hint: None,
        },
        Err(e) => TestStep {
            step: name,
            ok: false,
            code: Some(e.code().as_str()),
            hint: match &e {
                Error::Storage { failure, .. } => Some(failure.hint()),
                _ => None,
            },
            message: Some(e.to_string()),
        },
    };
    let wrote = st.put_new(&key, probe.clone()).await;
    let wrote_ok = wrote.is_ok();
    steps.push(step(StepName::Write, wrote));
    if wrote_ok {
        let read = match st.read(&key).await {
            Ok(b) if b == probe => Ok(()),
            Ok(_) => Err(Error::Storage {
                failure: StorageFailure::Unexpected,
                message: format!(
                    "can't read: storage {} returned other bytes than were written",
                    st.info.name
                ),
            }),
            Err(e) => Err(e),
        };
        steps.push(step(StepName::Read, read));
        steps.push(step(StepName::Delete, st.delete(&key).await));
    }
    Ok(TestReport {
        storage: st.info.name.clone(),
        ok: steps.iter().all(|s| s.ok) && steps.len() == 3,
        steps,
    })
}

fn random_hex() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A new offline grant: what `grant create --offline` shows once.
pub struct OfflineShare {
    pub grant: Grant,
    token: ShareToken,
    staged: Option<StagedCopy>,
    /// The staged copy's state (no keys, no URLs).
    pub staging: StagingInfo,
}

impl std::fmt::Debug for OfflineShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineShare")
            .field("grant", &self.grant.id)
            .finish_non_exhaustive()
    }
}

impl OfflineShare {
    /// The share token (shown once).
    pub fn token(&self) -> &ShareToken {
        &self.token
    }

    /// The share link, with the staged copy and, when the grant is also served live,
    /// the live address. Taken once: the staged part (URLs, bundle key) is not kept.
    pub fn link(&mut self, live: Option<LiveAddress>) -> ShareLink {
        share_link(&self.token, live, self.staged.take())
    }
}

/// The share link of a grant: its token, where it answers live (if it does) and its
/// staged copy (if it has one). The one place links are assembled, for live and staged
/// grants alike.
pub fn share_link(
    token: &ShareToken,
    live: Option<LiveAddress>,
    staged: Option<StagedCopy>,
) -> ShareLink {
    ShareLink {
        token: Zeroizing::new(token.expose_secret().to_string()),
        live,
        staged,
    }
}

/// Creates an offline grant: builds version 1, uploads the bundle and the signed
/// manifest, and only then commits the grant (with its staging row and log rows). Any
/// failure before the commit leaves the vault unchanged and deletes what was uploaded.
pub async fn create_offline_grant(vault: &Vault, req: &OfflineGrant) -> Result<OfflineShare> {
    let p = vault.prepare_offline_grant(req)?;
    let st = Storage::new(&p.storage)?;
    let signer = vault.signing_key()?;
    let lifetime = p.url_lifetime(Utc::now())?;
    let bundle_url = st.presign_get(&p.bundle_object, lifetime).await?;
    let manifest = p.signed_manifest(&signer, &bundle_url);
    st.put_new(&p.bundle_object, p.bundle.clone()).await?;
    let undo = |keys: Vec<String>| {
        let st = &st;
        async move {
            for k in keys {
                if let Err(e) = st.delete(&k).await {
                    tracing::warn!(code = %e.code(), "staging: could not remove an upload");
                }
            }
        }
    };
    if let Err(e) = st.put_new(&p.manifest_object, manifest).await {
        undo(vec![p.bundle_object.clone()]).await;
        return Err(e);
    }
    let both = vec![p.bundle_object.clone(), p.manifest_object.clone()];
    let manifest_url = match st.presign_get(&p.manifest_object, lifetime).await {
        Ok(u) => u,
        Err(e) => {
            undo(both).await;
            return Err(e);
        }
    };
    let grant = match vault.commit_offline_grant(&p) {
        Ok(g) => g,
        Err(e) => {
            undo(both).await;
            return Err(e);
        }
    };
    let staging = vault
        .staging_info(&grant.id)?
        .ok_or_else(|| Error::GrantNotFound(grant.id.clone()))?;
    let (token, bundle_key) = p.into_new_grant().expect("a new grant's publication");
    Ok(OfflineShare {
        grant,
        token,
        staged: Some(StagedCopy {
            bundle_url,
            manifest_url: Some(manifest_url),
            bundle_key,
            signer: signer.public(),
        }),
        staging,
    })
}

/// What one [`sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Grants re-published, with their new version.
    pub republished: Vec<(String, u64)>,
    /// Grants whose copy is now gone for good.
    pub deleted: Vec<String>,
    /// Grants whose work failed this time (kept as due; retried on the next sync).
    pub failures: Vec<SyncFailure>,
}

/// One grant's failed staging work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncFailure {
    pub grant_id: String,
    pub code: &'static str,
    pub message: String,
}

impl SyncReport {
    /// True when nothing happened and nothing failed.
    pub fn is_empty(&self) -> bool {
        self.republished.is_empty() && self.deleted.is_empty() && self.failures.is_empty()
    }
}

/// Does whatever staging work is due: deletes the objects of revoked and expired grants
/// (and of copies whose link expired, and superseded versions), and re-publishes grants
/// whose in-scope records changed or whose last attempt failed. Failures are recorded
/// on the grant (`grant show`) and retried on the next call. Cheap when there are no
/// staged copies.
pub async fn sync(vault: &Vault) -> SyncReport {
    let mut report = SyncReport::default();
    let fail = |report: &mut SyncReport, grant_id: &str, e: &Error| {
        report.failures.push(SyncFailure {
            grant_id: grant_id.to_string(),
            code: e.code().as_str(),
            message: e.to_string(),
        });
    };
    match vault.has_staged_copies() {
        Ok(true) => {}
        Ok(false) => return report,
        Err(e) => {
            fail(&mut report, "", &e);
            return report;
        }
    }
    let work = match vault.staging_work() {
        Ok(w) => w,
        Err(e) => {
            fail(&mut report, "", &e);
            return report;
        }
    };
    for d in &work.deletions {
        match delete_objects(vault, d).await {
            Ok(true) => report.deleted.push(d.grant_id.clone()),
            Ok(false) => {}
            Err(e) => fail(&mut report, &d.grant_id, &e),
        }
    }
    for id in &work.restage {
        match restage(vault, id).await {
            Ok(Some(v)) => report.republished.push((id.clone(), v)),
            Ok(None) => {}
            Err(e) => {
                let _ = vault.staging_failed(id, &e.to_string());
                fail(&mut report, id, &e);
            }
        }
    }
    report
}

/// Deletes a due deletion's objects; `Ok(true)` when the copy reached its final state.
async fn delete_objects(vault: &Vault, d: &Deletion) -> Result<bool> {
    let st = Storage::new(&d.storage)?;
    let mut deleted = Vec::new();
    let mut error = None;
    for o in &d.objects {
        match st.delete(o).await {
            Ok(()) => deleted.push(o.clone()),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    vault.staging_deleted(
        d,
        &deleted,
        error.as_ref().map(|e| e.to_string()).as_deref(),
    )?;
    match error {
        Some(e) => Err(e),
        None => Ok(d.then.is_some()),
    }
}

/// Publishes the next version of one grant, then deletes the version it replaces.
async fn restage(vault: &Vault, grant_id: &str) -> Result<Option<u64>> {
    let Some(p) = vault.prepare_restage(grant_id)? else {
        return Ok(None);
    };
    let st = Storage::new(&p.storage)?;
    let lifetime = p.url_lifetime(Utc::now())?;
    let bundle_url = st.presign_get(&p.bundle_object, lifetime).await?;
    st.put_new(&p.bundle_object, p.bundle.clone()).await?;
    let manifest = p.signed_manifest(&vault.signing_key()?, &bundle_url);
    if let Err(e) = st.put_replace(&p.manifest_object, manifest).await {
        let _ = st.delete(&p.bundle_object).await;
        return Err(e);
    }
    vault.commit_restage(&p)?;
    if let Some(prev) = &p.previous_bundle {
        let d = Deletion {
            grant_id: p.grant_id.clone(),
            storage: vault.storage_target(&p.storage.info.name)?,
            objects: vec![prev.clone()],
            then: None,
        };
        // A failure here leaves the old version queued; the next sync deletes it.
        if let Err(e) = delete_objects(vault, &d).await {
            tracing::warn!(code = %e.code(), grant = %p.grant_id, "staging: old version not deleted yet");
        }
    }
    Ok(Some(p.version))
}

/// Runs a staging future to completion on a small runtime of its own, for callers that
/// are not async (the CLI).
pub fn block_on<F: Future>(f: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("can't start the storage client", e))?;
    Ok(rt.block_on(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_secrets_and_query_strings() {
        let s = scrub(
            "GET http://h/b/k?X-Amz-Signature=abc&x=1 failed: key SeCrEt rejected",
            "SeCrEt",
        );
        assert_eq!(s, "GET http://h/b/k failed: key *** rejected");
    }
}
