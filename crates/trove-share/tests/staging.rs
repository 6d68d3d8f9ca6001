//! Staged grants against a real S3 implementation: s3s-fs, in this process, on a
//! loopback port, with SigV4 authentication. Nothing is mocked: Trove uploads, presigns
//! and deletes through opendal, and the organization's client downloads through the
//! presigned URLs and verifies.

mod common;

use std::path::{Path, PathBuf};

use common::{call, fixture, new_grant, Fixture, HOST};
use trove_client::testing::LocalS3;
use trove_client::{fetch_staged, StagedError, StagedOptions, VersionMemory};
use trove_core::staging::StagingState;
use trove_core::{
    ListFilter, LogFilter, LogKind, NewStorageTarget, OfflineGrant, RecordChanges, StorageSecret,
};
use trove_share::staging::{self, Storage};
use trove_share::ShareConfig;
use trove_wire::link::ShareLink;

const AK: &str = "AKIDTROVETEST0001";
const SK: &str = "TroveTestSecret-9f8e7d6c5b4a3210ZYX";
const BUCKET: &str = "trove-test";

/// An s3s-fs server on 127.0.0.1 (trove-client's `LocalS3`). Stopping it closes the
/// listener and every open connection, so the storage is really unreachable until it
/// starts again.
struct S3 {
    server: LocalS3,
    root: PathBuf,
}

impl S3 {
    async fn start(root: &Path, port: u16) -> S3 {
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        S3 {
            server: LocalS3::start(root, port, AK, SK).await.unwrap(),
            root: root.to_path_buf(),
        }
    }

    async fn stop(&mut self) {
        self.server.stop().await;
    }

    fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Every object file under the bucket (s3s-fs keeps one file per object).
    fn objects(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root.join(BUCKET), &mut out);
        out.retain(|p| p.to_string_lossy().contains("trove-staged"));
        out.sort();
        out
    }
}

fn target(name: &str, endpoint: &str, secret: &str) -> NewStorageTarget {
    NewStorageTarget {
        name: name.into(),
        endpoint: endpoint.into(),
        bucket: BUCKET.into(),
        region: None,
        prefix: Some("ana".into()),
        access_key_id: AK.into(),
        secret: StorageSecret::new(secret.into()),
    }
}

fn offline(scope: &[&str]) -> OfflineGrant {
    OfflineGrant {
        grant: trove_core::NewGrant {
            expires: Some("30d".into()),
            ..new_grant(scope)
        },
        storage: Some("home".into()),
        to: None,
    }
}

struct Setup {
    f: Fixture,
    s3: S3,
    _s3_dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3::start(dir.path(), 0).await;
    f.vault
        .add_storage(&target("home", &s3.endpoint(), SK))
        .unwrap();
    Setup {
        f,
        s3,
        _s3_dir: dir,
    }
}

/// The link as the organization receives it: encoded, then parsed again.
fn as_received(link: ShareLink) -> ShareLink {
    ShareLink::parse(&link.encode()).unwrap()
}

async fn fetch(link: &ShareLink) -> Result<trove_client::StagedFetch, StagedError> {
    fetch_staged(link, StagedOptions::default()).await
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

#[tokio::test]
async fn the_staged_copy_is_exactly_what_the_live_api_returns_and_storage_sees_no_plaintext() {
    let s = setup().await;
    let mut made =
        staging::create_offline_grant(&s.f.vault, &offline(&["contact.email", "address"]))
            .await
            .unwrap();
    let token = made.token().expose_secret().to_string();
    let link = as_received(made.link(None));
    assert!(link.live.is_none());
    let got = fetch(&link).await.expect("a verified copy");
    assert_eq!(got.version, 1);
    assert_eq!(got.grant_id, made.grant.id);
    assert_eq!(got.scope, ["contact.email", "address"]);

    // The very grant, asked live through the share API router.
    let state = s.f.state(ShareConfig::default());
    let live = call(&state, "GET", "/v1/records", Some(&token), HOST).await;
    assert_eq!(live.status, 200);
    let live: trove_wire::Records = serde_json::from_str(&live.body).unwrap();
    assert!(!live.records.is_empty());
    assert_eq!(got.records, live, "staged copy == live answer, same order");

    // And the one projection function, record by record.
    let scope = &made.grant.scope;
    let projected: Vec<serde_json::Value> =
        s.f.vault
            .list(&ListFilter::default())
            .unwrap()
            .iter()
            .filter_map(|r| trove_core::project(r, scope))
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
    let mut staged: Vec<serde_json::Value> = got
        .records
        .records
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    let key = |v: &serde_json::Value| v["id"].as_str().unwrap().to_string();
    let mut projected = projected;
    projected.sort_by_key(key);
    staged.sort_by_key(key);
    assert_eq!(staged, projected);

    // Storage holds two objects and neither shows a single value.
    let objects = s.s3.objects();
    assert_eq!(objects.len(), 2, "{objects:?}");
    for o in &objects {
        let bytes = std::fs::read(o).unwrap();
        for v in s.f.field_values() {
            assert!(
                !bytes.windows(v.len()).any(|w| w == v.as_bytes()),
                "plaintext {v:?} on storage"
            );
        }
    }
    // The log names the publication, where and which fields; never a URL's signature.
    let log =
        s.f.vault
            .log_entries(&LogFilter {
                grant_id: Some(made.grant.id.clone()),
                ..Default::default()
            })
            .unwrap();
    let publish = log.iter().find(|e| e.kind == LogKind::Staging).unwrap();
    assert_eq!(publish.method.as_deref(), Some("publish"));
    assert!(publish
        .path
        .as_ref()
        .unwrap()
        .contains("s3://trove-test/ana/trove-staged/"));
    assert!(publish
        .fields
        .iter()
        .all(|f| f == "contact.email" || f.starts_with("address.")));
    let all = serde_json::to_string(&log).unwrap();
    assert!(!all.contains("X-Amz-Signature") && !all.contains(&token));
}

#[tokio::test]
async fn revoking_deletes_the_copy_and_the_next_download_is_refused() {
    let s = setup().await;
    let mut made = staging::create_offline_grant(&s.f.vault, &offline(&["contact"]))
        .await
        .unwrap();
    let link = as_received(made.link(None));
    fetch(&link).await.unwrap();
    s.f.vault.revoke_grant(&made.grant.id).unwrap();
    assert_eq!(
        s.f.vault
            .staging_info(&made.grant.id)
            .unwrap()
            .unwrap()
            .state,
        StagingState::DeletionPending,
        "revoked, not yet deleted"
    );
    let report = staging::sync(&s.f.vault).await;
    assert_eq!(report.deleted, [made.grant.id.clone()], "{report:?}");
    assert!(s.s3.objects().is_empty(), "both objects deleted");
    let e = fetch(&link).await.unwrap_err();
    assert!(
        matches!(e, StagedError::Gone { status: 403 | 404 }),
        "{e:?}"
    );
    assert!(e.to_string().contains("revoked"), "{e}");
    let info = s.f.vault.staging_info(&made.grant.id).unwrap().unwrap();
    assert_eq!(info.state, StagingState::Deleted);
    assert!(
        staging::sync(&s.f.vault).await.is_empty(),
        "nothing left to do"
    );
}

#[tokio::test]
async fn an_edit_in_scope_republishes_a_new_version_and_deletes_the_old_one() {
    let s = setup().await;
    let mut made = staging::create_offline_grant(&s.f.vault, &offline(&["contact.email"]))
        .await
        .unwrap();
    let link = as_received(made.link(None));
    let dir = tempfile::tempdir().unwrap();
    let mut memory = VersionMemory::open(&dir.path().join("seen.json")).unwrap();
    let v1 = fetch_staged(
        &link,
        StagedOptions {
            memory: Some(&mut memory),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let manifest_file =
        s.s3.objects()
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with("manifest.json"))
            .unwrap();
    let v1_manifest = std::fs::read(&manifest_file).unwrap();

    // A change outside the scope changes nothing on storage. (An edit of an out-of-scope
    // field of an in-scope record does re-stage: its projected `updated_at` changes, as
    // it does in the live answer.)
    s.f.vault
        .add(trove_core::NewRecord::new(
            "note",
            [("title".to_string(), "not shared".to_string())],
        ))
        .unwrap();
    assert!(staging::sync(&s.f.vault).await.is_empty());
    let note =
        s.f.records
            .iter()
            .find(|r| r.record_type == "contact" && r.fields.contains_key("email"))
            .unwrap();

    s.f.vault
        .edit(
            &note.id,
            &RecordChanges {
                set: [("email".to_string(), "moved@example.org".to_string())].into(),
                ..Default::default()
            },
        )
        .unwrap();
    let report = staging::sync(&s.f.vault).await;
    assert_eq!(
        report.republished,
        [(made.grant.id.clone(), 2)],
        "{report:?}"
    );
    assert_eq!(s.s3.objects().len(), 2, "the old bundle was deleted");
    let v2 = fetch_staged(
        &link,
        StagedOptions {
            memory: Some(&mut memory),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(v2.version, 2);
    assert_ne!(v1.records, v2.records);
    assert!(v2
        .records
        .records
        .iter()
        .any(|r| r.fields.get("email").map(String::as_str) == Some("moved@example.org")));
    assert_eq!(memory.seen(&made.grant.id), Some(2));

    // Storage serving the old (validly signed) manifest again is caught.
    std::fs::write(&manifest_file, &v1_manifest).unwrap();
    let e = fetch_staged(
        &link,
        StagedOptions {
            memory: Some(&mut memory),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, StagedError::Replayed { seen: 2, got: 1 }),
        "{e:?}"
    );
    let kinds: Vec<String> =
        s.f.vault
            .log_entries(&LogFilter {
                grant_id: Some(made.grant.id.clone()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == LogKind::Staging)
            .map(|e| e.method.unwrap())
            .collect();
    assert_eq!(kinds, ["delete", "republish", "publish"]);
}

#[tokio::test]
async fn tampered_swapped_or_wrong_key_copies_are_refused() {
    let s = setup().await;
    let mut made = staging::create_offline_grant(&s.f.vault, &offline(&["contact"]))
        .await
        .unwrap();
    let text = made.link(None).encode();
    let files = s.s3.objects();
    let bundle = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".age"))
        .unwrap();
    let manifest = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with("manifest.json"))
        .unwrap();
    let original_bundle = std::fs::read(bundle).unwrap();
    let original_manifest = std::fs::read(manifest).unwrap();

    // One flipped bit in the bundle, anywhere.
    for at in [0, original_bundle.len() / 2, original_bundle.len() - 1] {
        let mut b = original_bundle.clone();
        b[at] ^= 0x01;
        std::fs::write(bundle, &b).unwrap();
        let e = fetch(&ShareLink::parse(&text).unwrap()).await.unwrap_err();
        assert!(matches!(e, StagedError::HashMismatch), "bit {at}: {e:?}");
    }
    std::fs::write(bundle, &original_bundle).unwrap();

    // A manifest whose payload was edited (its signature kept).
    let mut env: serde_json::Value = serde_json::from_slice(&original_manifest).unwrap();
    let payload = data_encoding::BASE64
        .decode(env["payload"].as_str().unwrap().as_bytes())
        .unwrap();
    let edited = String::from_utf8(payload)
        .unwrap()
        .replace("\"version\":1", "\"version\":7");
    env["payload"] = data_encoding::BASE64.encode(edited.as_bytes()).into();
    std::fs::write(manifest, serde_json::to_vec(&env).unwrap()).unwrap();
    let e = fetch(&ShareLink::parse(&text).unwrap()).await.unwrap_err();
    assert!(matches!(e, StagedError::BadSignature), "{e:?}");
    std::fs::write(manifest, &original_manifest).unwrap();

    // The right copy with a link whose signing key is another one.
    let mut wrong_signer = ShareLink::parse(&text).unwrap();
    wrong_signer.staged.as_mut().unwrap().signer[0] ^= 1;
    let e = fetch(&wrong_signer).await.unwrap_err();
    assert!(matches!(e, StagedError::BadSignature), "{e:?}");

    // The right copy with another bundle key.
    let mut wrong_key = ShareLink::parse(&text).unwrap();
    {
        use age::secrecy::ExposeSecret;
        let other = age::x25519::Identity::generate();
        wrong_key.staged.as_mut().unwrap().bundle_key = Some(zeroize::Zeroizing::new(
            other.to_string().expose_secret().to_string(),
        ));
    }
    let e = fetch(&wrong_key).await.unwrap_err();
    assert!(matches!(e, StagedError::WrongKey { .. }), "{e:?}");

    // Another grant's copy offered under this link (storage swapping objects).
    let mut other = staging::create_offline_grant(&s.f.vault, &offline(&["contact"]))
        .await
        .unwrap();
    let mut swapped = other.link(None);
    swapped.token = ShareLink::parse(&text).unwrap().token;
    let e = fetch(&swapped).await.unwrap_err();
    assert!(matches!(e, StagedError::WrongLink), "{e:?}");

    // Untouched, it still verifies.
    fetch(&ShareLink::parse(&text).unwrap()).await.unwrap();
}

/// A SigV4 presigned GET made by hand, dated `age_secs` ago and valid `expires` seconds:
/// the only way to hold an already-expired URL without waiting.
fn presign_at(endpoint: &str, key: &str, age_secs: i64, expires: u64) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let at = chrono::Utc::now() - chrono::Duration::seconds(age_secs);
    let date = at.format("%Y%m%dT%H%M%SZ").to_string();
    let day = at.format("%Y%m%d").to_string();
    let host = endpoint.trim_start_matches("http://");
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let cred = format!("{AK}/{scope}").replace('/', "%2F");
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
    );
    let path = format!("/{BUCKET}/{key}");
    let canonical = format!("GET\n{path}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mac = |k: &[u8], m: &str| {
        let mut h = Hmac::<Sha256>::new_from_slice(k).unwrap();
        h.update(m.as_bytes());
        h.finalize().into_bytes().to_vec()
    };
    let k = mac(format!("AWS4{SK}").as_bytes(), &day);
    let k = mac(&k, "us-east-1");
    let k = mac(&k, "s3");
    let k = mac(&k, "aws4_request");
    let sig = hex::encode(mac(&k, &to_sign));
    format!("{endpoint}{path}?{query}&X-Amz-Signature={sig}")
}

#[tokio::test]
async fn presigned_urls_expire_and_never_live_beyond_seven_days() {
    let s = setup().await;
    let mut made = staging::create_offline_grant(&s.f.vault, &offline(&["contact"]))
        .await
        .unwrap();
    let link = made.link(None);
    let staged = link.staged.as_ref().unwrap();
    for url in [&staged.bundle_url, staged.manifest_url.as_ref().unwrap()] {
        let expires: u64 = query_param(url, "X-Amz-Expires").unwrap().parse().unwrap();
        assert!(
            (6 * 86_400..=604_800).contains(&expires),
            "a 30-day grant's URLs last 7 days at most: {expires}"
        );
    }
    // Trove refuses to presign beyond 7 days (s3s-fs itself would accept 8).
    let st = Storage::new(&s.f.vault.storage_target("home").unwrap()).unwrap();
    let key = "trove-staged/cap-probe";
    let e = st
        .presign_get(key, std::time::Duration::from_secs(8 * 86_400))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert!(e.to_string().contains("7 days"), "{e}");
    st.presign_get(key, std::time::Duration::from_secs(604_800))
        .await
        .unwrap();

    // The hand-made URL is valid while fresh and refused once expired.
    let manifest_key =
        s.f.vault
            .staging_info(&made.grant.id)
            .unwrap()
            .unwrap()
            .objects[0]
            .trim_start_matches(&format!("s3://{BUCKET}/"))
            .to_string();
    let http = reqwest::Client::new();
    let fresh = presign_at(&s.s3.endpoint(), &manifest_key, 0, 60);
    assert_eq!(http.get(&fresh).send().await.unwrap().status(), 200);
    let expired = presign_at(&s.s3.endpoint(), &manifest_key, 7200, 3600);
    assert_eq!(http.get(&expired).send().await.unwrap().status(), 403);
    let mut old = ShareLink::parse(&link.encode()).unwrap();
    old.staged.as_mut().unwrap().manifest_url = Some(expired);
    let e = fetch(&old).await.unwrap_err();
    assert!(matches!(e, StagedError::Gone { status: 403 }), "{e:?}");

    // A manifest past its time is refused even if storage still serves it.
    let bytes = http
        .get(staged.manifest_url.as_ref().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let later = chrono::Utc::now() + chrono::Duration::days(8);
    let e = trove_client::staged::verify_manifest(&bytes, &staged.signer, &link.token, later)
        .unwrap_err();
    assert!(matches!(e, StagedError::Expired { .. }), "{e:?}");
}

#[tokio::test]
async fn bad_credentials_and_unreachable_storage_are_clear_and_the_grant_stays_live() {
    let mut s = setup().await;
    s.f.vault
        .add_storage(&target("wrong", &s.s3.endpoint(), "not-the-secret"))
        .unwrap();
    let report = staging::test_storage(&s.f.vault.storage_target("wrong").unwrap())
        .await
        .unwrap();
    assert!(!report.ok);
    assert_eq!(
        report.steps[0].code,
        Some("storage_credentials"),
        "{report:?}"
    );
    let ok = staging::test_storage(&s.f.vault.storage_target("home").unwrap())
        .await
        .unwrap();
    assert!(ok.ok, "{ok:?}");
    assert_eq!(ok.steps.len(), 3);
    assert!(s.s3.objects().is_empty(), "the probe was deleted");

    let mut req = offline(&["contact"]);
    req.storage = Some("wrong".into());
    let e = staging::create_offline_grant(&s.f.vault, &req)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "storage_credentials", "{e}");
    assert!(e.to_string().contains("wrong"), "names the target: {e}");
    assert!(
        s.f.vault.list_grants().unwrap().is_empty(),
        "vault unchanged"
    );

    // A grant staged while storage was up...
    let mut made = staging::create_offline_grant(&s.f.vault, &offline(&["contact"]))
        .await
        .unwrap();
    let token = made.token().expose_secret().to_string();
    let _link = made.link(None);
    let port = s.s3.server.addr().port();
    s.s3.stop().await;

    // ...whose storage is now unreachable: creating fails clearly, changes nothing.
    let before = s.f.vault.list_grants().unwrap().len();
    let e = staging::create_offline_grant(&s.f.vault, &offline(&["contact"]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "storage_connection", "{e}");
    assert_eq!(s.f.vault.list_grants().unwrap().len(), before);
    let report = staging::test_storage(&s.f.vault.storage_target("home").unwrap())
        .await
        .unwrap();
    assert_eq!(report.steps[0].code, Some("storage_connection"));

    // An edit cannot be re-staged: the grant says so and still answers live.
    let c =
        s.f.records
            .iter()
            .find(|r| r.record_type == "contact")
            .unwrap();
    s.f.vault
        .edit(
            &c.id,
            &RecordChanges {
                set: [("label".to_string(), "changed".to_string())].into(),
                ..Default::default()
            },
        )
        .unwrap();
    let report = staging::sync(&s.f.vault).await;
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert_eq!(report.failures[0].code, "storage_connection");
    let info = s.f.vault.staging_info(&made.grant.id).unwrap().unwrap();
    assert_eq!(info.state, StagingState::Failed);
    assert!(info.reason.unwrap().contains("can't reach storage home"));
    let state = s.f.state(ShareConfig::default());
    let live = call(&state, "GET", "/v1/records", Some(&token), HOST).await;
    assert_eq!(live.status, 200, "the grant still works live");

    // Revoked while storage is down: deletion pending, retried until done.
    s.f.vault.revoke_grant(&made.grant.id).unwrap();
    let report = staging::sync(&s.f.vault).await;
    assert_eq!(report.failures.len(), 1);
    let info = s.f.vault.staging_info(&made.grant.id).unwrap().unwrap();
    assert_eq!(info.state, StagingState::DeletionPending);
    assert!(info.reason.is_some());
    let mut back = S3::start(&s.s3.root, port).await;
    let report = staging::sync(&s.f.vault).await;
    assert_eq!(report.deleted, [made.grant.id.clone()], "{report:?}");
    assert!(back.objects().is_empty());
    back.stop().await;

    // The secret key never shows: not in errors, reports, listings, state or the log.
    let mut shown = vec![
        e.to_string(),
        serde_json::to_string(&report).unwrap(),
        serde_json::to_string(&s.f.vault.list_storage().unwrap()).unwrap(),
        serde_json::to_string(&s.f.vault.list_staging().unwrap()).unwrap(),
        serde_json::to_string(&s.f.vault.log_entries(&LogFilter::default()).unwrap()).unwrap(),
        format!("{:?}", s.f.vault.storage_target("home").unwrap()),
    ];
    shown.extend(
        staging::test_storage(&s.f.vault.storage_target("wrong").unwrap())
            .await
            .unwrap()
            .steps
            .iter()
            .filter_map(|st| st.message.clone()),
    );
    for text in shown {
        assert!(!text.contains(SK), "secret shown: {text}");
        assert!(!text.contains("not-the-secret"), "secret shown: {text}");
    }
}
