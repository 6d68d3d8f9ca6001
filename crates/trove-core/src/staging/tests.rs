//! Staged grants without a network: signing key, storage targets, building and committing
//! versions, the state machine and its log rows.

use std::io::Read;

use super::*;
use crate::grant::project;
use crate::record::{ListFilter, NewRecord, RecordChanges};
use crate::vault::tests::new_vault;

const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

fn target(name: &str) -> NewStorageTarget {
    NewStorageTarget {
        name: name.into(),
        endpoint: "https://s3.example.org".into(),
        bucket: "my-trove".into(),
        region: None,
        prefix: Some("people/ana".into()),
        access_key_id: "AKIDEXAMPLE".into(),
        secret: StorageSecret::new(format!("{SECRET}\n")),
    }
}

fn offline(scope: &[&str]) -> OfflineGrant {
    OfflineGrant {
        grant: NewGrant {
            org: "Acme Bank".into(),
            purpose: "account opening".into(),
            scope: scope.iter().map(|s| s.to_string()).collect(),
            expires: Some("30d".into()),
            ..Default::default()
        },
        storage: None,
        to: None,
    }
}

fn vault_with_records() -> (tempfile::TempDir, Vault) {
    let (d, v) = new_vault();
    for n in crate::demo::demo_records() {
        v.add(n).unwrap();
    }
    v.add_storage(&target("home")).unwrap();
    (d, v)
}

fn decrypt(bundle: &[u8], key: &str) -> Vec<u8> {
    let id: age::x25519::Identity = key.parse().unwrap();
    let mut out = Vec::new();
    age::Decryptor::new(bundle)
        .unwrap()
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn the_signing_key_is_made_once_kept_in_the_vault_and_never_shown() {
    let (dir, v) = new_vault();
    let k1 = v.signing_key().unwrap();
    let k2 = v.signing_key().unwrap();
    assert_eq!(k1.public(), k2.public(), "one key per vault");
    let path = dir.path().join("v");
    drop(v);
    let v = Vault::unlock(&path, &crate::Passphrase::new("pw".into())).unwrap();
    assert_eq!(
        v.signing_key().unwrap().public(),
        k1.public(),
        "survives a reopen"
    );
    assert_eq!(format!("{k1:?}"), "SigningKey(***)");
    let msg = b"hello";
    let sig = k1.sign(msg);
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&k1.public()).unwrap();
    vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
        .expect("a valid Ed25519 signature");
}

#[test]
fn storage_targets_are_validated_listed_without_secrets_and_removed() {
    let (_d, v) = new_vault();
    let info = v.add_storage(&target("home")).unwrap();
    assert_eq!(info.prefix, "people/ana/", "a prefix is a folder");
    assert_eq!(info.region, "us-east-1");
    assert!(matches!(
        v.add_storage(&target("home")),
        Err(Error::StorageExists(_))
    ));
    let listed = serde_json::to_string(&v.list_storage().unwrap()).unwrap();
    assert!(!listed.contains(SECRET), "no secret in a listing: {listed}");
    let t = v.storage_target("home").unwrap();
    assert_eq!(
        t.secret.expose_secret(),
        SECRET,
        "newline from a pipe dropped"
    );
    assert!(!format!("{t:?}").contains(SECRET));
    let bad = |f: &dyn Fn(&mut NewStorageTarget)| {
        let mut t = target("other");
        f(&mut t);
        let e = v.add_storage(&t).unwrap_err();
        assert!(!e.to_string().contains(SECRET), "{e}");
        e
    };
    for e in [
        bad(&|t| t.name = "Bad Name".into()),
        bad(&|t| t.endpoint = "http://s3.example.org".into()),
        bad(&|t| t.endpoint = "ftp://x".into()),
        bad(&|t| t.endpoint = "https://user:pw@s3.example.org".into()),
        bad(&|t| t.bucket = "UPPER".into()),
        bad(&|t| t.prefix = Some("../up".into())),
        bad(&|t| t.region = Some("us east".into())),
        bad(&|t| t.access_key_id = "has space".into()),
        bad(&|t| t.secret = StorageSecret::new(String::new())),
    ] {
        assert_eq!(e.code(), "invalid_input", "{e}");
    }
    let mut local = target("local");
    local.endpoint = "http://127.0.0.1:9000/".into();
    assert_eq!(
        v.add_storage(&local).unwrap().endpoint,
        "http://127.0.0.1:9000"
    );
    v.remove_storage("local").unwrap();
    assert!(matches!(
        v.remove_storage("local"),
        Err(Error::StorageNotFound(_))
    ));
    assert_eq!(v.list_storage().unwrap().len(), 1);
}

#[test]
fn offline_grants_refuse_use_limits_empty_scopes_and_missing_storage() {
    let (_d, v) = new_vault();
    v.add(NewRecord::new(
        "contact",
        [("email".to_string(), "ana@example.org".to_string())],
    ))
    .unwrap();
    assert!(matches!(
        v.prepare_offline_grant(&offline(&["contact"])),
        Err(Error::NoStorage)
    ));
    v.add_storage(&target("home")).unwrap();
    let mut limited = offline(&["contact"]);
    limited.grant.max_uses = Some(3);
    let e = v.prepare_offline_grant(&limited).unwrap_err();
    assert_eq!(e.code(), "offline_not_allowed");
    assert!(e.to_string().contains("cannot count"), "{e}");
    let e = v.prepare_offline_grant(&offline(&["health"])).unwrap_err();
    assert_eq!(e.code(), "offline_not_allowed");
    assert!(e.to_string().contains("no records"), "{e}");
    let mut unknown = offline(&["contact"]);
    unknown.storage = Some("nope".into());
    assert!(matches!(
        v.prepare_offline_grant(&unknown),
        Err(Error::StorageNotFound(_))
    ));
    v.add_storage(&target("work")).unwrap();
    assert!(matches!(
        v.prepare_offline_grant(&offline(&["contact"])),
        Err(Error::StorageAmbiguous(_))
    ));
    assert!(v.list_grants().unwrap().is_empty(), "nothing was written");
}

#[test]
fn a_staged_version_holds_exactly_the_projection_encrypted_and_signed() {
    let (_d, v) = vault_with_records();
    let mut p = v
        .prepare_offline_grant(&offline(&["contact.email", "address.city"]))
        .unwrap();
    assert!(
        v.list_grants().unwrap().is_empty(),
        "prepare writes nothing"
    );
    let key = p.take_bundle_key().expect("a per-grant key");
    let plain = decrypt(&p.bundle, &key);
    let g = p.new.as_ref().unwrap();
    let scope = g.valid.scope.clone();
    let expected: Vec<_> = v
        .list(&ListFilter::default())
        .unwrap()
        .iter()
        .filter_map(|r| project(r, &scope))
        .collect();
    assert_eq!(p.records(), expected.len() as u64);
    for r in &expected {
        let line = serde_json::to_string(r).unwrap();
        assert!(
            plain.windows(line.len()).any(|w| w == line.as_bytes()),
            "projected record {} missing",
            r.id
        );
    }
    for r in v.list(&ListFilter::default()).unwrap() {
        if let Some(phone) = r.fields.get("phone") {
            assert!(
                !plain.windows(phone.len()).any(|w| w == phone.as_bytes()),
                "an out-of-scope field was staged"
            );
        }
    }
    // The manifest: signed over the context and payload, naming this version's bundle.
    let sk = v.signing_key().unwrap();
    let signed: trove_wire::staged::SignedManifest =
        serde_json::from_slice(&p.signed_manifest(&sk, "https://x.example/b?sig")).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(&signed.payload).unwrap();
    let sig: [u8; 64] = b64.decode(&signed.signature).unwrap().try_into().unwrap();
    let mut msg = trove_wire::staged::SIGNING_CONTEXT.to_vec();
    msg.extend_from_slice(&payload);
    ed25519_dalek::VerifyingKey::from_bytes(&sk.public())
        .unwrap()
        .verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
        .expect("the manifest verifies with the vault's public key");
    let m: StagedManifest = serde_json::from_slice(&payload).unwrap();
    assert_eq!(m.version, 1);
    assert_eq!(m.bundle.url, "https://x.example/b?sig");
    assert_eq!(m.bundle.size, p.bundle.len() as u64);
    assert_eq!(m.scope, ["contact.email", "address.city"]);
    assert_eq!(
        m.link_id,
        trove_wire::staged::link_id(p.token().unwrap().expose_secret())
    );
    let lifetime = p.url_lifetime(Utc::now()).unwrap();
    assert!(
        lifetime <= std::time::Duration::from_secs(7 * 86_400),
        "7-day cap"
    );
    assert!(lifetime > std::time::Duration::from_secs(6 * 86_400));
}

#[test]
fn url_lifetimes_are_capped_at_seven_days_and_end_with_the_copy() {
    let now = Utc::now();
    assert_eq!(
        url_lifetime(now + Duration::days(30), now).unwrap(),
        std::time::Duration::from_secs(604_800)
    );
    assert_eq!(
        url_lifetime(now + Duration::hours(2), now).unwrap(),
        std::time::Duration::from_secs(7200)
    );
    assert!(url_lifetime(now, now).is_err());
    assert!(url_lifetime(now - Duration::seconds(1), now).is_err());
}

#[test]
fn short_grants_end_their_copy_with_the_grant() {
    let (_d, v) = vault_with_records();
    let mut req = offline(&["contact"]);
    req.grant.expires = Some("2h".into());
    let p = v.prepare_offline_grant(&req).unwrap();
    let left = p.available_until - Utc::now();
    assert!(left <= Duration::hours(2) && left > Duration::minutes(119));
}

#[test]
fn commit_restage_and_delete_walk_the_states_with_one_log_row_each() {
    let (_d, v) = vault_with_records();
    let p = v.prepare_offline_grant(&offline(&["contact"])).unwrap();
    let g = v.commit_offline_grant(&p).unwrap();
    assert_eq!(g.id, p.grant_id);
    let info = v.staging_info(&g.id).unwrap().unwrap();
    assert_eq!(info.state, StagingState::Staged);
    assert_eq!(info.version, 1);
    assert_eq!(info.enforced_by, "your storage");
    assert!(info.key_in_link);
    assert!(info
        .objects
        .iter()
        .all(|o| o.starts_with("s3://my-trove/people/ana/trove-staged/")));
    let log = v
        .log_entries(&crate::LogFilter {
            grant_id: Some(g.id.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(log.len(), 2, "created + published");
    assert_eq!(log[0].kind, LogKind::Staging);
    assert_eq!(log[0].method.as_deref(), Some("publish"));
    assert_eq!(log[0].record_ids.len() as u64, p.records());
    assert!(log[0].fields.iter().all(|f| f.starts_with("contact.")));
    assert!(
        !log[0].path.as_ref().unwrap().contains('?'),
        "no URL in the log"
    );

    // Nothing changed: nothing to do.
    let w = v.staging_work().unwrap();
    assert!(w.restage.is_empty() && w.deletions.is_empty(), "{w:?}");
    assert!(v.prepare_restage(&g.id).unwrap().is_none());

    // An in-scope edit: a new version, the old bundle queued for deletion.
    let contact = v
        .list(&ListFilter {
            record_type: Some("contact".into()),
            ..Default::default()
        })
        .unwrap()
        .remove(0);
    v.edit(
        &contact.id,
        &RecordChanges {
            set: [("email".to_string(), "new@example.org".to_string())].into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        v.staging_work().unwrap().restage,
        std::slice::from_ref(&g.id)
    );
    let p2 = v.prepare_restage(&g.id).unwrap().expect("a new version");
    assert_eq!(p2.version, 2);
    assert_eq!(
        p2.manifest_object, p.manifest_object,
        "the link's manifest stays"
    );
    assert_ne!(
        p2.bundle_object, p.bundle_object,
        "bundles are never overwritten"
    );
    assert_eq!(
        v.staging_info(&g.id).unwrap().unwrap().state,
        StagingState::Updating
    );
    v.commit_restage(&p2).unwrap();
    let w = v.staging_work().unwrap();
    assert!(w.restage.is_empty());
    assert_eq!(w.deletions.len(), 1);
    assert_eq!(
        w.deletions[0].objects,
        std::slice::from_ref(&p.bundle_object)
    );
    assert_eq!(w.deletions[0].then, None);
    v.staging_deleted(&w.deletions[0], &w.deletions[0].objects, None)
        .unwrap();
    assert!(v.staging_work().unwrap().deletions.is_empty());

    // A failed attempt is kept with its reason and retried.
    v.staging_failed(&g.id, "storage unreachable").unwrap();
    let info = v.staging_info(&g.id).unwrap().unwrap();
    assert_eq!(info.state, StagingState::Failed);
    assert_eq!(info.reason.as_deref(), Some("storage unreachable"));
    assert_eq!(
        v.staging_work().unwrap().restage,
        std::slice::from_ref(&g.id)
    );
    let p3 = v.prepare_restage(&g.id).unwrap().unwrap();
    v.commit_restage(&p3).unwrap();
    let w = v.staging_work().unwrap();
    v.staging_deleted(&w.deletions[0], &w.deletions[0].objects, None)
        .unwrap();

    // Revoked: everything is due; storage down keeps it pending; then deleted.
    assert!(matches!(
        v.remove_storage("home"),
        Err(Error::StorageInUse { .. })
    ));
    v.revoke_grant(&g.id).unwrap();
    let info = v.staging_info(&g.id).unwrap().unwrap();
    assert_eq!(info.state, StagingState::DeletionPending);
    let w = v.staging_work().unwrap();
    assert!(w.restage.is_empty(), "a revoked grant is never re-staged");
    let d = &w.deletions[0];
    assert_eq!(d.then, Some(StagingState::Deleted));
    assert_eq!(d.objects.len(), 2, "manifest and current bundle");
    v.staging_deleted(d, &[], Some("connection refused"))
        .unwrap();
    let info = v.staging_info(&g.id).unwrap().unwrap();
    assert_eq!(info.state, StagingState::DeletionPending);
    assert_eq!(info.reason.as_deref(), Some("connection refused"));
    v.staging_deleted(d, &d.objects, None).unwrap();
    let info = v.staging_info(&g.id).unwrap().unwrap();
    assert_eq!(info.state, StagingState::Deleted);
    assert!(info.objects.is_empty());
    assert!(!v.has_staged_copies().unwrap());
    assert!(v.staging_work().unwrap().deletions.is_empty());
    v.remove_storage("home").expect("nothing left on it");
    let kinds: Vec<_> = v
        .log_entries(&crate::LogFilter {
            grant_id: Some(g.id.clone()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == LogKind::Staging)
        .map(|e| e.method.unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "delete",
            "delete",
            "republish",
            "delete",
            "republish",
            "publish"
        ],
        "newest first"
    );
    assert!(v.verify_log().unwrap().ok);
}

#[test]
fn a_copy_sent_to_the_organizations_recipient_keeps_no_key_in_the_link() {
    let (_d, v) = vault_with_records();
    let org = age::x25519::Identity::generate();
    let mut req = offline(&["contact"]);
    req.to = Some(org.to_public().to_string());
    let mut p = v.prepare_offline_grant(&req).unwrap();
    assert!(p.take_bundle_key().is_none());
    use age::secrecy::ExposeSecret;
    let plain = decrypt(&p.bundle, org.to_string().expose_secret());
    assert!(plain.starts_with(b"manifest.json"));
    let g = v.commit_offline_grant(&p).unwrap();
    assert!(!v.staging_info(&g.id).unwrap().unwrap().key_in_link);
    let mut bad = offline(&["contact"]);
    bad.to = Some("age1nope".into());
    assert_eq!(
        v.prepare_offline_grant(&bad).unwrap_err().code(),
        "invalid_input"
    );
}
