use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use super::tar::{padding, BLOCK};
use super::*;
use crate::grant::Scope;
use crate::record::{insert_record, Record};
use crate::secret::Passphrase;
use crate::vault::tests::new_vault;
use crate::vault::Vault;

/// Makes `v` stamp what it writes from now on one second later than anything before
/// (instead of sleeping for a later millisecond).
fn later_clock(v: &mut Vault) {
    let now = chrono::Utc::now() + chrono::Duration::seconds(1);
    v.set_clock(crate::Clock::fixed(now));
}
use crate::ListFilter;

/// Every record in the vault, by id.
fn snapshot(v: &Vault) -> BTreeMap<String, Record> {
    v.list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect()
}

fn filled(n: usize, seed: u64) -> (tempfile::TempDir, Vault) {
    let (d, v) = new_vault();
    v.add_batch(crate::demo::random_records(seed, n)).unwrap();
    (d, v)
}

fn export_bytes(v: &Vault, enc: Encryption<'_>, scope: Option<Scope>) -> Vec<u8> {
    let opts = ExportOptions {
        encryption: enc,
        scope,
        replace: false,
    };
    export_to_writer(v, Vec::new(), &opts, &mut |_| {})
        .unwrap()
        .0
}

fn plain(v: &Vault) -> Vec<u8> {
    export_bytes(v, Encryption::Plain, None)
}

fn import_plain(v: &Vault, bytes: &[u8]) -> Result<ImportReport> {
    import_bundle_bytes(v, bytes, BundleKey::None, &ImportOptions::default())
}

fn keypair() -> (age::x25519::Identity, age::x25519::Recipient) {
    let id = age::x25519::Identity::generate();
    let r = id.to_public();
    (id, r)
}

fn ids(id: age::x25519::Identity) -> Vec<Box<dyn age::Identity + Send + Sync>> {
    vec![Box::new(id)]
}

/// Asserts that importing `bytes` fails with `code`, with a message containing `needle`,
/// and leaves a non-empty target vault record-for-record unchanged.
fn assert_rejected(bytes: &[u8], key: BundleKey<'_>, code: &str, needle: &str) {
    assert_rejected_with(bytes, key, ImportOptions::default(), code, needle)
}

fn assert_rejected_with(
    bytes: &[u8],
    key: BundleKey<'_>,
    opts: ImportOptions,
    code: &str,
    needle: &str,
) {
    let (d, target) = filled(5, 99);
    let before = snapshot(&target);
    let files_before = list_tree(d.path());
    let e = import_bundle_bytes(&target, bytes, key, &opts)
        .expect_err("hostile bundle must be rejected");
    assert_eq!(e.code(), code, "wrong error for {needle:?}: {e}");
    assert!(
        e.to_string().contains(needle),
        "error should name the problem ({needle:?}): {e}"
    );
    assert!(e.hint().is_some(), "{code} needs a hint");
    assert_eq!(
        snapshot(&target),
        before,
        "vault changed by a rejected import"
    );
    assert_eq!(list_tree(d.path()), files_before, "files written by import");
}

fn list_tree(p: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.extend(
                list_tree(&e.path())
                    .into_iter()
                    .map(|n| format!("{name}/{n}")),
            );
        } else if !name.ends_with("-wal") && !name.ends_with("-shm") {
            out.push(name);
        }
    }
    out.sort();
    out
}

// ---- building tars by hand, including hostile ones ----

/// A tar header with any name bytes, type flag and declared size.
fn raw_header(name: &[u8], kind: u8, size: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    h[100..107].copy_from_slice(b"0000600");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn push_member(out: &mut Vec<u8>, name: &[u8], kind: u8, data: &[u8]) {
    out.extend_from_slice(&raw_header(name, kind, data.len() as u64));
    out.extend_from_slice(data);
    out.resize(out.len() + padding(data.len() as u64), 0);
}

fn manifest_for(members: &[(&str, &[u8])], counts: manifest::Counts) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let m = manifest::Manifest {
        format: manifest::FORMAT.into(),
        created_at: "2026-11-23T10:00:00.000Z".into(),
        generator: "test".into(),
        counts,
        scope: None,
        only_tag: None,
        members: members
            .iter()
            .map(|(n, d)| {
                (
                    n.to_string(),
                    manifest::MemberDigest {
                        size: d.len() as u64,
                        sha256: hex::encode(Sha256::digest(d)),
                    },
                )
            })
            .collect(),
    };
    serde_json::to_vec(&m).unwrap()
}

fn records_jsonl(rs: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rs {
        serde_json::to_writer(&mut out, r).unwrap();
        out.push(b'\n');
    }
    out
}

fn sample_records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            id: format!("01JDTEST{i:018}"),
            record_type: "note".into(),
            fields: [("title".to_string(), format!("note {i}"))].into(),
            tags: vec!["t".into()],
            source: "manual".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
        })
        .collect()
}

/// A consistent plain bundle holding `records` plus `extra` raw members after it.
fn tar_with(records: &[u8], lines: u64, extra: &[(&[u8], u8, &[u8])]) -> Vec<u8> {
    let counts = manifest::Counts {
        records: lines,
        ..Default::default()
    };
    let man = manifest_for(&[("records.jsonl", records)], counts);
    let mut out = Vec::new();
    push_member(&mut out, b"manifest.json", b'0', &man);
    push_member(&mut out, b"records.jsonl", b'0', records);
    for (name, kind, data) in extra {
        push_member(&mut out, name, *kind, data);
    }
    out.extend_from_slice(&[0u8; 2 * BLOCK]);
    out
}

// ---- export ----

#[test]
fn plain_export_round_trips_exactly_and_second_import_changes_nothing() {
    let (_d, src) = filled(300, 1);
    let bytes = plain(&src);
    let (_d2, dst) = new_vault();
    let r1 = import_plain(&dst, &bytes).unwrap();
    assert_eq!(
        (r1.records, r1.new, r1.updated, r1.unchanged),
        (300, 300, 0, 0)
    );
    assert_eq!(
        snapshot(&dst),
        snapshot(&src),
        "ids, times, fields, tags kept"
    );
    let r2 = import_plain(&dst, &bytes).unwrap();
    assert_eq!((r2.new, r2.updated, r2.unchanged), (0, 0, 300));
    assert_eq!(snapshot(&dst), snapshot(&src));
    assert_eq!(
        dst.search("example", 1000).unwrap().len(),
        src.search("example", 1000).unwrap().len(),
        "imported records are searchable"
    );
}

#[test]
fn manifest_is_first_and_lists_every_other_member() {
    let (_d, src) = filled(20, 2);
    let bytes = plain(&src);
    let names = tar_names(&bytes);
    assert_eq!(
        names,
        [
            "manifest.json",
            "records.jsonl",
            "grants.jsonl",
            "receipts.jsonl",
            "log.jsonl"
        ]
    );
    let man = member(&bytes, "manifest.json");
    let v = parse_manifest(&man).unwrap();
    assert_eq!(v.manifest.counts.records, 20);
    assert_eq!(v.manifest.format, "trove-bundle/1");
    for name in &names[1..] {
        use sha2::{Digest, Sha256};
        let d = &v.manifest.members[name];
        let data = member(&bytes, name);
        assert_eq!(d.size, data.len() as u64);
        assert_eq!(d.sha256, hex::encode(Sha256::digest(&data)), "{name}");
    }
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + BLOCK <= bytes.len() {
        let h: &[u8; BLOCK] = bytes[off..off + BLOCK].try_into().unwrap();
        match tar::parse_header(h).unwrap() {
            tar::Block::End => break,
            tar::Block::Header(hd) => {
                out.push(String::from_utf8(hd.name).unwrap());
                off += BLOCK + hd.size as usize + padding(hd.size);
            }
        }
    }
    out
}

fn member(bytes: &[u8], name: &str) -> Vec<u8> {
    let mut off = 0;
    loop {
        let h: &[u8; BLOCK] = bytes[off..off + BLOCK].try_into().unwrap();
        let tar::Block::Header(hd) = tar::parse_header(h).unwrap() else {
            panic!("{name} not found")
        };
        let start = off + BLOCK;
        if hd.name == name.as_bytes() {
            return bytes[start..start + hd.size as usize].to_vec();
        }
        off = start + hd.size as usize + padding(hd.size);
    }
}

/// A full export writes each record line from the stored columns; it must be byte for
/// byte what serializing the record writes, for every escape serde_json knows.
#[test]
fn full_export_lines_are_byte_identical_to_the_serializer() {
    let tricky = [
        "plain",
        "quote \" and backslash \\ and slash /",
        "controls \u{0}\u{1}\u{8}\u{9}\u{a}\u{c}\u{d}\u{1f} and del \u{7f}",
        "line sep \u{2028} para sep \u{2029} bom \u{feff}",
        "é e\u{301} ß ﬁ 中文 العربية",
        "astral 😀 𝄞 \u{10ffff}",
        "</script><!-- & ' `",
        "",
    ];
    let (_d, v) = new_vault();
    let mut want = Vec::new();
    v.write(|tx| {
        for (i, t) in tricky.iter().enumerate() {
            // insert_record stores what it is given: every column gets tricky text.
            let r = Record {
                id: format!("id-{i}-{t}"),
                record_type: format!("type {t}"),
                fields: BTreeMap::from([
                    (format!("key {t}"), t.to_string()),
                    ("b".to_string(), format!("{t}{t}")),
                    (String::new(), t.to_string()),
                ]),
                tags: vec![t.to_string(), format!("tag\\{t}")],
                source: format!("src {t}"),
                created_at: format!("2026-01-01T00:00:00.000Z{t}"),
                updated_at: t.to_string(),
            };
            insert_record(tx, &r)?;
            want.extend(serde_json::to_vec(&r).unwrap());
            want.push(b'\n');
        }
        Ok(())
    })
    .unwrap();
    let got = member(&plain(&v), "records.jsonl");
    assert_eq!(
        String::from_utf8(got).unwrap(),
        String::from_utf8(want).unwrap(),
        "records.jsonl must match serde_json's serialization of each record"
    );
}

/// Stored `fields`/`tags` are copied into the bundle as they are, so the hashing pass
/// checks their shape: a damaged row fails the export instead of writing a bad line.
#[test]
fn full_export_refuses_stored_fields_or_tags_of_the_wrong_shape() {
    for (column, value) in [
        ("fields", "not json"),
        ("fields", r#"{"title":1}"#),
        ("fields", r#"["title"]"#),
        ("fields", r#"{"title":"x"} trailing"#),
        ("tags", r#"[1]"#),
        ("tags", r#"{"a":"b"}"#),
    ] {
        let (_d, v) = filled(3, 9);
        v.write(|tx| {
            tx.execute(
                &format!("UPDATE records SET {column} = ?1 WHERE rowid = 2"),
                [value],
            )?;
            Ok(())
        })
        .unwrap();
        let opts = ExportOptions {
            encryption: Encryption::Plain,
            scope: None,
            replace: false,
        };
        let err = export_to_writer(&v, Vec::new(), &opts, &mut |_| {}).unwrap_err();
        assert_eq!(err.code(), "vault_damaged", "{column} = {value}: {err}");
        assert!(err.to_string().contains(column), "{err}");
    }
}

#[test]
fn export_to_file_is_atomic_and_leaves_no_temp_file() {
    let (_d, src) = filled(10, 3);
    let out_dir = tempfile::tempdir().unwrap();
    let dest = out_dir.path().join("out.trove");
    std::fs::write(&dest, b"old").unwrap();
    let (_id, rcp) = keypair();
    let opts = ExportOptions {
        encryption: Encryption::Recipients(vec![rcp]),
        scope: None,
        replace: true,
    };
    let mut seen = Vec::new();
    let s = export(&src, &dest, &opts, &mut |p| seen.push(p)).unwrap();
    assert_eq!(s.records, 10);
    assert_eq!(s.bytes, std::fs::metadata(&dest).unwrap().len());
    assert!(std::fs::read(&dest)
        .unwrap()
        .starts_with(b"age-encryption.org/v1\n"));
    // Progress: the members copied into the bundle, in bytes, up to all of them.
    let last = seen.last().expect("progress reported");
    assert_eq!(last.phase, super::Phase::Finishing);
    assert_eq!(Some(last.done), last.total);
    assert!(last.done > 0);
    // Only the bundle is left: neither the temp file nor the members' spill.
    let left: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["out.trove"]);
    // An export that fails (empty passphrase) leaves the old file alone.
    let empty = Passphrase::new(String::new());
    let bad = ExportOptions {
        encryption: Encryption::Passphrase(&empty),
        scope: None,
        replace: true,
    };
    assert!(export(&src, &dest, &bad, &mut |_| {}).is_err());
    assert!(std::fs::read(&dest)
        .unwrap()
        .starts_with(b"age-encryption.org/v1\n"));
}

#[test]
fn export_replaces_an_existing_file_only_when_asked() {
    let (_d, src) = filled(3, 3);
    let out_dir = tempfile::tempdir().unwrap();
    let dest = out_dir.path().join("backup.trove");
    std::fs::write(&dest, b"an older bundle").unwrap();
    let exports = |v: &Vault| {
        v.log_entries(&Default::default())
            .unwrap()
            .iter()
            .filter(|e| e.kind == crate::access_log::LogKind::Export)
            .count()
    };
    let mut opts = ExportOptions {
        encryption: Encryption::Plain,
        scope: None,
        replace: false,
    };
    let err = export(&src, &dest, &opts, &mut |_| {}).unwrap_err();
    assert!(
        matches!(&err, Error::FileExists(p) if p == &dest),
        "{err:?}"
    );
    assert_eq!(err.code(), crate::ErrorCode::FileExists);
    assert_eq!(std::fs::read(&dest).unwrap(), b"an older bundle");
    assert_eq!(exports(&src), 0, "a refused export is not logged");
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 1);

    opts.replace = true;
    let summary = export(&src, &dest, &opts, &mut |_| {}).unwrap();
    assert_eq!(summary.records, 3);
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), summary.bytes);
    assert_eq!(exports(&src), 1);
}

#[test]
fn export_names_the_temporary_directory_it_cannot_write() {
    let (d, src) = filled(3, 3);
    let missing = d.path().join("no such dir");
    let opts = ExportOptions {
        encryption: Encryption::Plain,
        scope: None,
        replace: false,
    };
    let err =
        super::export::export_via(&src, Vec::new(), &opts, &mut |_| {}, &missing).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("temporary file") && msg.contains("no such dir"),
        "{msg}"
    );
    // Nothing was logged for an export that did not happen.
    let entries = src.log_entries(&Default::default()).unwrap();
    assert!(!entries
        .iter()
        .any(|e| e.kind == crate::access_log::LogKind::Export));
}

#[test]
fn passphrase_bundle_uses_work_factor_18_and_round_trips() {
    let (_d, src) = filled(30, 4);
    let pw = Passphrase::new("correct horse battery".into());
    let bytes = export_bytes(&src, Encryption::Passphrase(&pw), None);
    assert_eq!(
        inspect(&bytes[..]).unwrap(),
        BundleKind::Passphrase { work_factor: 18 }
    );
    let (_d2, dst) = new_vault();
    let r = import_bundle_bytes(
        &dst,
        &bytes,
        BundleKey::Passphrase(&pw),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(r.new, 30);
    assert_eq!(snapshot(&dst), snapshot(&src));
    let wrong = Passphrase::new("wrong horse".into());
    assert_rejected(
        &bytes,
        BundleKey::Passphrase(&wrong),
        "bundle_wrong_passphrase",
        "passphrase",
    );
    let (id, _) = keypair();
    let ids = ids(id);
    assert_rejected(
        &bytes,
        BundleKey::Identities(&ids),
        "bundle_needs_passphrase",
        "passphrase",
    );
}

#[test]
fn recipient_bundle_needs_the_right_identity() {
    let (_d, src) = filled(10, 5);
    let (id1, r1) = keypair();
    let (id2, r2) = keypair();
    let bytes = export_bytes(&src, Encryption::Recipients(vec![r1, r2]), None);
    assert_eq!(inspect(&bytes[..]).unwrap(), BundleKind::Recipients);
    for id in [id1, id2] {
        let (_d2, dst) = new_vault();
        let ids = ids(id);
        import_bundle_bytes(
            &dst,
            &bytes,
            BundleKey::Identities(&ids),
            &ImportOptions::default(),
        )
        .expect("every recipient can open it");
        assert_eq!(snapshot(&dst), snapshot(&src));
    }
    let (other, _) = keypair();
    let other = ids(other);
    assert_rejected(
        &bytes,
        BundleKey::Identities(&other),
        "bundle_wrong_identity",
        "identities",
    );
    let pw = Passphrase::new("pw".into());
    assert_rejected(
        &bytes,
        BundleKey::Passphrase(&pw),
        "bundle_needs_identity",
        "identity",
    );
    assert_rejected(&bytes, BundleKey::None, "bundle_needs_identity", "identity");
}

#[test]
fn scrypt_work_factor_30_is_refused_before_deriving() {
    let (_d, src) = filled(3, 6);
    let pw = Passphrase::new("pw".into());
    let bytes = export_bytes(&src, Encryption::Passphrase(&pw), None);
    let text = bytes.clone();
    let pos = text.windows(10).position(|w| w == b"-> scrypt ").unwrap();
    let eol = pos + text[pos..].iter().position(|&b| b == b'\n').unwrap();
    assert_eq!(&text[eol - 3..eol], b" 18");
    let mut hostile = text[..eol - 2].to_vec();
    hostile.extend_from_slice(b"30");
    hostile.extend_from_slice(&text[eol..]);
    // Deriving at work factor 30 would need 1 GiB x 2^12 of work: this returns at once.
    assert_rejected(
        &hostile,
        BundleKey::Passphrase(&pw),
        "bundle_work_factor",
        "30",
    );
    assert_eq!(
        inspect(&hostile[..]).unwrap_err().code(),
        "bundle_work_factor"
    );
}

#[test]
fn dry_run_reports_the_same_and_writes_nothing() {
    let (_d, src) = filled(40, 7);
    let bytes = plain(&src);
    let (_d2, dst) = filled(5, 8);
    let before = snapshot(&dst);
    let opts = ImportOptions {
        dry_run: true,
        ..Default::default()
    };
    let dry = import_bundle_bytes(&dst, &bytes, BundleKey::None, &opts).unwrap();
    assert!(dry.dry_run);
    assert_eq!(snapshot(&dst), before, "dry run wrote records");
    let real = import_plain(&dst, &bytes).unwrap();
    assert_eq!(
        (dry.new, dry.updated, dry.unchanged),
        (real.new, real.updated, real.unchanged)
    );
    assert_eq!(real.new, 40);
}

#[test]
fn newer_records_update_older_ones_and_older_never_overwrite() {
    let (_d, mut src) = filled(5, 9);
    let old_bundle = plain(&src);
    let (_d2, dst) = new_vault();
    import_plain(&dst, &old_bundle).unwrap();
    let victim = src.list(&ListFilter::default()).unwrap()[0].clone();
    let mut changes = crate::RecordChanges::default();
    changes.add_tags.push("edited".into());
    later_clock(&mut src); // a distinct, later stamp
    let edited = src.edit(&victim.id, &changes).unwrap();
    let new_bundle = plain(&src);
    let r = import_plain(&dst, &new_bundle).unwrap();
    assert_eq!((r.new, r.updated, r.unchanged), (0, 1, 4));
    assert_eq!(dst.get(&victim.id).unwrap(), edited);
    let r = import_plain(&dst, &old_bundle).unwrap();
    assert_eq!(
        (r.new, r.updated, r.unchanged),
        (0, 0, 5),
        "older copy is ignored"
    );
    assert_eq!(dst.get(&victim.id).unwrap(), edited);
}

#[test]
fn scoped_export_projects_fields_and_omits_grants_and_log() {
    let (_d, src) = new_vault();
    src.add_batch(crate::demo::demo_records()).unwrap();
    let scope = Scope::parse(&["contact.email", "address"], None).unwrap();
    let bytes = export_bytes(&src, Encryption::Plain, Some(scope));
    assert_eq!(tar_names(&bytes), ["manifest.json", "records.jsonl"]);
    let man = parse_manifest(&member(&bytes, "manifest.json")).unwrap();
    assert_eq!(
        man.manifest.scope.as_deref(),
        Some(&["contact.email".to_string(), "address".to_string()][..])
    );
    let recs = member(&bytes, "records.jsonl");
    let recs: Vec<Record> = recs
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert!(!recs.is_empty());
    for r in &recs {
        // Tags can be sensitive ("clinic"): a scoped export discloses none, like the API.
        assert!(r.tags.is_empty(), "{} leaked tags {:?}", r.id, r.tags);
        assert_eq!(
            Some(r),
            crate::grant::project(&src.get(&r.id).unwrap(), &man.scope.clone().unwrap()).as_ref()
        );
        match r.record_type.as_str() {
            "contact" => assert_eq!(r.fields.keys().collect::<Vec<_>>(), ["email"]),
            "address" => assert_eq!(r.fields, src.get(&r.id).unwrap().fields),
            other => panic!("out-of-scope type {other} exported"),
        }
    }
    let (_d2, dst) = new_vault();
    let rep = import_plain(&dst, &bytes).unwrap();
    assert_eq!(rep.new as usize, recs.len());
    assert_eq!(rep.scope.unwrap(), ["contact.email", "address"]);
}

#[test]
fn scoped_export_with_only_tag_keeps_just_that_tag() {
    let (_d, src) = new_vault();
    src.add_batch(crate::demo::demo_records()).unwrap();
    let scope = Scope::parse(&["health"], Some("clinic")).unwrap();
    let bytes = export_bytes(&src, Encryption::Plain, Some(scope));
    let man = parse_manifest(&member(&bytes, "manifest.json")).unwrap();
    assert_eq!(man.manifest.only_tag.as_deref(), Some("clinic"));
    let recs: Vec<Record> = member(&bytes, "records.jsonl")
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let tagged = src
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .filter(|r| r.record_type == "health" && r.tags.iter().any(|t| t == "clinic"))
        .count();
    assert!(tagged > 0);
    assert_eq!(recs.len(), tagged);
    assert!(recs.iter().all(|r| r.tags == ["clinic"]));
    let (_d2, dst) = new_vault();
    assert_eq!(import_plain(&dst, &bytes).unwrap().new as usize, tagged);
}

#[test]
fn scoped_export_without_a_required_field_still_imports() {
    let (_d, src) = new_vault();
    src.add_batch(crate::demo::demo_records()).unwrap();
    // bank_account requires `bank`; the organization was only granted the IBAN.
    let scope = Scope::parse(&["bank_account.iban"], None).unwrap();
    let bytes = export_bytes(&src, Encryption::Plain, Some(scope));
    let accounts = src
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .filter(|r| r.record_type == "bank_account")
        .count();
    assert!(accounts > 0);
    let (_d2, dst) = new_vault();
    let rep = import_plain(&dst, &bytes).unwrap();
    assert_eq!(rep.new as usize, accounts);
    for got in dst.list(&ListFilter::default()).unwrap() {
        assert_eq!(got.fields.keys().collect::<Vec<_>>(), ["iban"]);
    }
}

#[test]
fn scoped_bundle_holding_more_than_its_scope_is_rejected() {
    let scoped = |records: &[Record], tag: Option<&str>| {
        let data = records_jsonl(records);
        let counts = manifest::Counts {
            records: records.len() as u64,
            ..Default::default()
        };
        let mut man: manifest::Manifest =
            serde_json::from_slice(&manifest_for(&[("records.jsonl", &data)], counts)).unwrap();
        man.scope = Some(vec!["note.title".into()]);
        man.only_tag = tag.map(str::to_string);
        let mut out = Vec::new();
        push_member(
            &mut out,
            b"manifest.json",
            b'0',
            &serde_json::to_vec(&man).unwrap(),
        );
        push_member(&mut out, b"records.jsonl", b'0', &data);
        out.extend_from_slice(&[0u8; 2 * BLOCK]);
        out
    };
    let mut ok = sample_records(1);
    ok[0].tags.clear();
    let (_d, v) = new_vault();
    assert_eq!(import_plain(&v, &scoped(&ok, None)).unwrap().new, 1);
    let mut extra_field = sample_records(1);
    extra_field[0].tags.clear();
    extra_field[0]
        .fields
        .insert("body".into(), "withheld".into());
    let mut other_type = ok.clone();
    other_type[0].record_type = "contact".into();
    other_type[0].fields = [("email".to_string(), "a@b.org".to_string())].into();
    let tagged = sample_records(1); // tag "t", but the scope has no tag
    let cases: [(&[Record], Option<&str>, &str); 4] = [
        (&extra_field, None, "outside the bundle's scope"),
        (&other_type, None, "outside the bundle's scope"),
        (&tagged, None, "tags do not match"),
        (&ok, Some("t"), "tags do not match"),
    ];
    for (recs, tag, needle) in cases {
        let (_d, v) = new_vault();
        let err = import_plain(&v, &scoped(recs, tag)).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        assert!(v.list(&ListFilter::default()).unwrap().is_empty());
    }
}

// ---- hostile input ----

#[test]
fn truncation_at_any_offset_is_damage_and_changes_nothing() {
    let (_d, src) = filled(400, 10);
    let (id, rcp) = keypair();
    let bytes = export_bytes(&src, Encryption::Recipients(vec![rcp]), None);
    assert!(bytes.len() > 70_000, "spans more than one age chunk");
    let ids = ids(id);
    let header_end = bytes.windows(4).position(|w| w == b"\n---").unwrap();
    for cut in [
        0,
        5,
        header_end,
        header_end + 60,
        header_end + 200,
        bytes.len() / 2,
        65_536 + 16 + header_end + 100,
        bytes.len() - 17,
        bytes.len() - 1,
    ] {
        let (d, target) = filled(3, 11);
        let before = snapshot(&target);
        let e = import_bundle_bytes(
            &target,
            &bytes[..cut],
            BundleKey::Identities(&ids),
            &ImportOptions::default(),
        )
        .expect_err("truncated bundle accepted");
        assert!(
            matches!(e.code().as_str(), "bundle_damaged" | "bundle_format"),
            "cut at {cut}: {e}"
        );
        assert_eq!(snapshot(&target), before, "cut at {cut}");
        drop(d);
    }
    let p = plain(&src);
    for cut in [100, 512, 1500, p.len() / 2, p.len() - 1024 - 1] {
        assert_rejected(&p[..cut], BundleKey::None, "bundle_damaged", "truncated");
    }
}

#[test]
fn bit_flips_anywhere_are_detected() {
    let (_d, src) = filled(400, 12);
    let (id, rcp) = keypair();
    let bytes = export_bytes(&src, Encryption::Recipients(vec![rcp]), None);
    let ids = ids(id);
    let header_end = bytes.windows(4).position(|w| w == b"\n---").unwrap();
    for off in [
        30,
        header_end + 10,
        header_end + 70,
        header_end + 5000,
        bytes.len() / 2,
        bytes.len() - 5,
    ] {
        let mut b = bytes.clone();
        b[off] ^= 0x10;
        let (_d2, target) = filled(3, 13);
        let before = snapshot(&target);
        let e = import_bundle_bytes(
            &target,
            &b,
            BundleKey::Identities(&ids),
            &ImportOptions::default(),
        )
        .expect_err("flipped bundle accepted");
        assert!(
            matches!(
                e.code().as_str(),
                "bundle_damaged" | "bundle_wrong_identity" | "bundle_format"
            ),
            "flip at {off}: {e}"
        );
        assert_eq!(snapshot(&target), before, "flip at {off}");
    }
}

#[test]
fn path_tricks_in_member_names_are_rejected_by_name() {
    let recs = records_jsonl(&sample_records(2));
    let long = "a".repeat(300);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"../x".to_vec(), "climbs out"),
        (b"a/../../x".to_vec(), "climbs out"),
        (b"/abs".to_vec(), "absolute"),
        (b"C:\\x".to_vec(), "absolute"),
        (b"..\\x".to_vec(), "climbs out"),
        (b"..././x".to_vec(), "directory"),
        (b"log.jsonl\0../../x".to_vec(), "NUL"),
        ("．．/x".as_bytes().to_vec(), "directory"),
        (long.as_bytes()[..100].to_vec(), "not a bundle member"),
    ];
    for (name, why) in cases {
        let t = tar_with(&recs, 2, &[(&name, b'0', b"{}\n")]);
        assert_rejected(&t, BundleKey::None, "bundle_member", why);
    }
    // A 300-character name needs a GNU long-name (or pax) header: refused as such.
    let mut t = Vec::new();
    let man = manifest_for(
        &[("records.jsonl", &recs)],
        manifest::Counts {
            records: 2,
            ..Default::default()
        },
    );
    push_member(&mut t, b"manifest.json", b'0', &man);
    push_member(&mut t, b"././@LongLink", b'L', long.as_bytes());
    push_member(&mut t, b"aaaa", b'0', b"");
    t.extend_from_slice(&[0u8; 1024]);
    assert_rejected(&t, BundleKey::None, "bundle_member", "GNU long name");
}

#[test]
fn links_fifos_devices_and_directories_are_rejected() {
    let recs = records_jsonl(&sample_records(1));
    for (kind, what) in [
        (b'2', "symbolic link"),
        (b'1', "hard link"),
        (b'6', "FIFO"),
        (b'5', "directory"),
        (b'3', "character device"),
        (b'x', "pax"),
    ] {
        let t = tar_with(&recs, 1, &[(b"grants.jsonl", kind, b"")]);
        assert_rejected(&t, BundleKey::None, "bundle_member", what);
    }
}

#[test]
fn duplicate_unknown_and_unlisted_members_are_rejected() {
    let recs = records_jsonl(&sample_records(1));
    let t = tar_with(&recs, 1, &[(b"records.jsonl", b'0', &recs)]);
    assert_rejected(&t, BundleKey::None, "bundle_member", "twice");
    let t = tar_with(&recs, 1, &[(b"secrets.txt", b'0', b"x")]);
    assert_rejected(&t, BundleKey::None, "bundle_member", "not a bundle member");
    let t = tar_with(&recs, 1, &[(b"log.jsonl", b'0', b"")]);
    assert_rejected(
        &t,
        BundleKey::None,
        "bundle_member",
        "not listed in the manifest",
    );
    // Manifest not first.
    let mut t = Vec::new();
    push_member(&mut t, b"records.jsonl", b'0', &recs);
    t.extend_from_slice(&[0u8; 1024]);
    assert_rejected(&t, BundleKey::None, "bundle_format", "first member");
}

#[test]
fn manifest_hash_mismatch_is_named() {
    let recs = records_jsonl(&sample_records(3));
    let mut t = tar_with(&recs, 3, &[]);
    let pos = t.windows(6).position(|w| w == b"note 1").unwrap();
    t[pos + 5] = b'7';
    assert_rejected(&t, BundleKey::None, "bundle_hash_mismatch", "records.jsonl");
}

#[test]
fn oversized_and_lying_members_are_rejected() {
    let (_d, src) = filled(50, 14);
    let bytes = plain(&src);
    let opts = ImportOptions {
        limits: ImportLimits {
            max_member_bytes: 1000,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_rejected_with(
        &bytes,
        BundleKey::None,
        opts,
        "bundle_too_large",
        "records.jsonl",
    );
    let opts = ImportOptions {
        limits: ImportLimits {
            max_total_bytes: 4000,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_rejected_with(
        &bytes,
        BundleKey::None,
        opts,
        "bundle_too_large",
        "more than 4000 bytes",
    );
    let opts = ImportOptions {
        limits: ImportLimits {
            max_line_bytes: 100,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_rejected_with(&bytes, BundleKey::None, opts, "bundle_too_large", "line 1");

    // A member whose header declares less than it holds: the manifest agrees with the
    // header (one line), the second line then sits where the next header should be.
    let two = sample_records(2);
    let first = records_jsonl(&two[..1]);
    let all = records_jsonl(&two);
    let man = manifest_for(
        &[("records.jsonl", &first)],
        manifest::Counts {
            records: 1,
            ..Default::default()
        },
    );
    let mut t = Vec::new();
    push_member(&mut t, b"manifest.json", b'0', &man);
    t.extend_from_slice(&raw_header(b"records.jsonl", b'0', first.len() as u64));
    t.extend_from_slice(&all);
    t.resize(t.len() + padding(all.len() as u64), 0);
    t.extend_from_slice(&[0u8; 1024]);
    assert_rejected(
        &t,
        BundleKey::None,
        "bundle_damaged",
        "more data than its tar header declares",
    );
    // ... and when the hidden data spills past the padding, the next header is garbage.
    let mut big = sample_records(2);
    big[1].fields.insert("body".into(), "x".repeat(2000));
    let all = records_jsonl(&big);
    let mut t = Vec::new();
    push_member(&mut t, b"manifest.json", b'0', &man);
    t.extend_from_slice(&raw_header(b"records.jsonl", b'0', first.len() as u64));
    t.extend_from_slice(&all);
    t.resize(t.len() + padding(all.len() as u64), 0);
    t.extend_from_slice(&[0u8; 1024]);
    assert_rejected(&t, BundleKey::None, "bundle_damaged", "");

    // A header that declares more than the manifest says.
    let mut t = Vec::new();
    let man = manifest_for(
        &[("records.jsonl", &first)],
        manifest::Counts {
            records: 1,
            ..Default::default()
        },
    );
    push_member(&mut t, b"manifest.json", b'0', &man);
    push_member(&mut t, b"records.jsonl", b'0', &all);
    t.extend_from_slice(&[0u8; 1024]);
    assert_rejected(&t, BundleKey::None, "bundle_damaged", "in the manifest");
}

#[test]
fn a_hundred_thousand_members_are_refused_early() {
    let recs = records_jsonl(&sample_records(1));
    let mut t = tar_with(&recs, 1, &[]);
    t.truncate(t.len() - 1024);
    for i in 0..100_000u32 {
        t.extend_from_slice(&raw_header(format!("m{i}").as_bytes(), b'0', 0));
    }
    t.extend_from_slice(&[0u8; 1024]);
    assert_rejected(&t, BundleKey::None, "bundle_member", "not a bundle member");
    let opts = ImportOptions {
        limits: ImportLimits {
            max_members: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let t = tar_with(&recs, 1, &[(b"grants.jsonl", b'0', b"")]);
    assert_rejected_with(
        &t,
        BundleKey::None,
        opts,
        "bundle_too_large",
        "more than 2 members",
    );
}

/// Records are validated on a second thread, batches ahead of the merge: the error
/// reported must still be the first one in line order, whatever the batch boundaries.
/// Merging runs on this thread while another reads ahead: a database error part-way
/// through must stop the reader (not hang it), be the error reported, and change nothing.
#[test]
fn a_failing_merge_stops_the_reader_and_leaves_the_vault_unchanged() {
    let r = sample_records(2000);
    let t = tar_with(&records_jsonl(&r), 2000, &[]);
    let (_d, target) = filled(5, 99);
    let before = snapshot(&target);
    target
        .conn()
        .execute_batch(&format!(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON records WHEN NEW.id = '{}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
            r[700].id
        ))
        .unwrap();
    let e = import_bundle_bytes(&target, &t, BundleKey::None, &ImportOptions::default())
        .expect_err("the merge fails");
    assert!(e.to_string().contains("refused by the test"), "{e}");
    target
        .conn()
        .execute_batch("DROP TRIGGER temp.refuse")
        .unwrap();
    assert_eq!(
        snapshot(&target),
        before,
        "vault changed by a failed import"
    );
    // The same bundle imports once the database accepts it.
    let ok = import_bundle_bytes(&target, &t, BundleKey::None, &ImportOptions::default()).unwrap();
    assert_eq!((ok.records, ok.new), (2000, 2000));
}

#[test]
fn the_first_bad_line_is_reported_across_validation_batches() {
    for bad in [1usize, 255, 256, 257, 600, 1000] {
        let mut r = sample_records(1000);
        r[bad - 1].record_type = "pet".into();
        let t = tar_with(&records_jsonl(&r), 1000, &[]);
        assert_rejected(
            &t,
            BundleKey::None,
            "bad_line",
            &format!("line {bad}: unknown record type `pet`"),
        );
    }
    // A bad line before an over-long one: the bad line is named, as one by one would.
    let mut r = sample_records(700);
    r[9].record_type = "pet".into();
    r[600].fields.insert("title".into(), "x".repeat(3000));
    let t = tar_with(&records_jsonl(&r), 700, &[]);
    let mut opts = ImportOptions::default();
    opts.limits.max_line_bytes = 2000;
    assert_rejected_with(
        &t,
        BundleKey::None,
        opts,
        "bad_line",
        "line 10: unknown record type",
    );
    // The over-long line alone is named by its number.
    r[9].record_type = "note".into();
    let t = tar_with(&records_jsonl(&r), 700, &[]);
    assert_rejected_with(
        &t,
        BundleKey::None,
        opts,
        "bundle_too_large",
        "line 601 is longer than 2000 bytes",
    );
}

#[test]
fn bad_lines_are_named_with_their_line_number() {
    let mut recs = records_jsonl(&sample_records(2));
    let deep = format!("{}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    recs.extend_from_slice(deep.as_bytes());
    let t = tar_with(&recs, 3, &[]);
    assert_rejected(
        &t,
        BundleKey::None,
        "bad_line",
        "records.jsonl line 3: JSON nested deeper",
    );

    let mut r = sample_records(2);
    r[1].record_type = "pet".into();
    let t = tar_with(&records_jsonl(&r), 2, &[]);
    assert_rejected(
        &t,
        BundleKey::None,
        "bad_line",
        "line 2: unknown record type `pet`",
    );

    let mut r = sample_records(1);
    r[0].fields.insert("colour".into(), "red".into());
    let t = tar_with(&records_jsonl(&r), 1, &[]);
    assert_rejected(&t, BundleKey::None, "bad_line", "unknown field `colour`");

    let t = tar_with(b"{\"id\":\"x\",\"extra\":1}\n", 1, &[]);
    assert_rejected(&t, BundleKey::None, "bad_line", "line 1");

    let mut r = sample_records(1);
    r[0].id = "../../etc".into();
    let t = tar_with(&records_jsonl(&r), 1, &[]);
    assert_rejected(&t, BundleKey::None, "bad_line", "malformed");

    // Count in the manifest must match the lines.
    let t = tar_with(&records_jsonl(&sample_records(2)), 5, &[]);
    assert_rejected(
        &t,
        BundleKey::None,
        "bundle_damaged",
        "holds 2 lines but the manifest says 5",
    );
}

#[test]
fn garbage_after_the_archive_and_non_bundles_are_rejected() {
    let (_d, src) = filled(3, 15);
    let mut b = plain(&src);
    b.extend_from_slice(b"trailing junk");
    assert_rejected(&b, BundleKey::None, "bundle_damaged", "after the end");
    assert_rejected(b"", BundleKey::None, "bundle_damaged", "empty");
    assert_rejected(
        b"BEGIN:VCARD\r\n",
        BundleKey::None,
        "bundle_damaged",
        "too short",
    );
    let vcf = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ana\r\nEND:VCARD\r\n".repeat(20);
    assert_rejected(vcf.as_bytes(), BundleKey::None, "bundle_format", "neither");
    assert_rejected(
        b"-----BEGIN AGE ENCRYPTED FILE-----\nabc\n",
        BundleKey::None,
        "bundle_format",
        "armored",
    );
}

// ---- interoperability with the reference age CLI ----

fn age_cli() -> &'static str {
    assert!(
        Command::new("age").arg("--version").output().is_ok(),
        "the reference `age` CLI is needed (scripts/install-deps.sh test installs it)"
    );
    "age"
}

fn sh(cmd: &str, dir: &Path) -> std::process::Output {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn age_cli_opens_our_recipient_bundle_and_hashes_match() {
    use age::secrecy::ExposeSecret;
    age_cli();
    let (d, src) = filled(200, 16);
    let (id, rcp) = keypair();
    std::fs::write(d.path().join("key.txt"), id.to_string().expose_secret()).unwrap();
    let dest = d.path().join("b.trove");
    let opts = ExportOptions {
        encryption: Encryption::Recipients(vec![rcp]),
        scope: None,
        replace: false,
    };
    export(&src, &dest, &opts, &mut |_| {}).unwrap();
    std::fs::create_dir(d.path().join("x")).unwrap();
    sh("age -d -i key.txt b.trove | tar x -C x", d.path());
    let man = parse_manifest(&std::fs::read(d.path().join("x/manifest.json")).unwrap()).unwrap();
    assert_eq!(man.manifest.counts.records, 200);
    for (name, digest) in &man.manifest.members {
        let out = sh(&format!("sha256sum x/{name}"), d.path());
        let hex = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            hex.split_whitespace().next().unwrap(),
            digest.sha256,
            "{name}"
        );
    }
    let lines = std::fs::read_to_string(d.path().join("x/records.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 200);
}

#[test]
fn bundle_repacked_with_tar_and_age_cli_imports() {
    use age::secrecy::ExposeSecret;
    age_cli();
    let (d, src) = filled(120, 17);
    let (id, rcp) = keypair();
    std::fs::write(d.path().join("key.txt"), id.to_string().expose_secret()).unwrap();
    let bytes = export_bytes(&src, Encryption::Recipients(vec![rcp.clone()]), None);
    std::fs::write(d.path().join("b.trove"), &bytes).unwrap();
    std::fs::create_dir(d.path().join("x")).unwrap();
    sh("age -d -i key.txt b.trove | tar x -C x", d.path());
    sh(
        &format!(
            "tar cf - -C x manifest.json records.jsonl grants.jsonl receipts.jsonl log.jsonl \
             | age -r {rcp} -o repacked.trove"
        ),
        d.path(),
    );
    let repacked = std::fs::read(d.path().join("repacked.trove")).unwrap();
    let (_d2, dst) = new_vault();
    let ids = ids(id);
    let r = import_bundle(
        &dst,
        &repacked[..],
        BundleKey::Identities(&ids),
        &ImportOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.new, 120);
    assert_eq!(snapshot(&dst), snapshot(&src));
    // The identity file reader accepts what age-keygen writes.
    sh("age-keygen -o gen.txt 2>/dev/null", d.path());
    assert_eq!(
        read_identity_file(&d.path().join("gen.txt")).unwrap().len(),
        1
    );
}

#[test]
fn plain_bundle_lists_with_tar_cli() {
    let (d, src) = filled(5, 18);
    let dest = d.path().join("p.trove");
    let opts = ExportOptions {
        encryption: Encryption::Plain,
        scope: None,
        replace: false,
    };
    export(&src, &dest, &opts, &mut |_| {}).unwrap();
    let out = sh("tar tf p.trove", d.path());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "manifest.json\nrecords.jsonl\ngrants.jsonl\nreceipts.jsonl\nlog.jsonl\n"
    );
}

// ---- round trip ----

mod roundtrip {
    use super::*;
    use crate::schema::{record_types, FieldDef, FieldFormat, Widget};
    use proptest::prelude::*;
    use rand::SeedableRng;

    /// Text of 1..`max` characters: any non-control character, with accents, combining
    /// marks, emoji, right-to-left and zero-width characters, quotes and backslashes
    /// made likely; line breaks and tabs too where the field is multi-line.
    fn text(max: usize, multiline: bool) -> BoxedStrategy<String> {
        let special = prop_oneof![
            Just('é'),
            Just('😀'),
            Just('\u{301}'),
            Just('\u{5d0}'),
            Just('\u{200d}'),
            Just('"'),
            Just('\\'),
            Just(' '),
        ];
        let ch = if multiline {
            prop_oneof![
                6 => any::<char>().prop_filter("no control chars", |c| !c.is_control()),
                2 => special,
                1 => prop_oneof![Just('\n'), Just('\t'), Just('\r')],
            ]
            .boxed()
        } else {
            prop_oneof![
                6 => any::<char>().prop_filter("no control chars", |c| !c.is_control()),
                2 => special,
            ]
            .boxed()
        };
        proptest::collection::vec(ch, 1..max.max(2))
            .prop_map(|v| v.into_iter().collect())
            .boxed()
    }

    /// One value in `format`, valid but not always normalized (spaces, lower case), so
    /// the round trip also shows normalization is stable.
    fn formatted(format: FieldFormat) -> BoxedStrategy<String> {
        match format {
            FieldFormat::Email => prop_oneof![
                "[a-z0-9._+-]{1,12}@[a-z0-9]{1,10}\\.[a-z]{2,6}",
                Just("zoë@exämple.org".to_string()),
                Just(" ana@example.org ".to_string()),
            ]
            .boxed(),
            FieldFormat::Date => (1900i32..2100, 1u32..=12, 1u32..=28)
                .prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}"))
                .boxed(),
            FieldFormat::PartialDate => prop_oneof![
                formatted(FieldFormat::Date),
                (1u32..=12, 1u32..=28).prop_map(|(m, d)| format!("--{m:02}-{d:02}")),
                Just("--02-29".to_string()),
            ]
            .boxed(),
            FieldFormat::Iban => (
                any::<u64>(),
                proptest::sample::select(&["DE", "FR", "NL", "GB"][..]),
                any::<bool>(),
            )
                .prop_map(|(seed, country, spaced)| {
                    let iban =
                        crate::demo::iban(&mut rand::rngs::StdRng::seed_from_u64(seed), country);
                    if spaced {
                        // As printed on a card: groups of four, lower case.
                        let chars: Vec<char> = iban.to_lowercase().chars().collect();
                        chars
                            .chunks(4)
                            .map(|c| c.iter().collect::<String>())
                            .collect::<Vec<_>>()
                            .join(" ")
                    } else {
                        iban
                    }
                })
                .boxed(),
            FieldFormat::Bic => "[A-Za-z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?".boxed(),
            FieldFormat::Country => "[A-Za-z]{2}".boxed(),
            FieldFormat::Phone => "\\+?[0-9]{2,4}[ -]?\\(?[0-9]{1,4}\\)?[ .-]?[0-9]{3,8}".boxed(),
        }
    }

    /// A value for field `f`: text within its length, or its format; a list field gets
    /// one to three lines, each optionally labelled.
    fn value(f: &FieldDef) -> BoxedStrategy<String> {
        let one = match f.format {
            Some(fmt) => formatted(fmt),
            None if f.list => text(f.max_length.min(40), false),
            None => text(f.max_length.min(120), f.widget == Some(Widget::Textarea)),
        };
        if !f.list {
            return one;
        }
        let line =
            (proptest::option::of("[a-z]{1,8}( [a-z]{1,6})?"), one).prop_map(|(label, v)| {
                match label {
                    Some(l) => format!("{l}: {v}"),
                    None => v,
                }
            });
        proptest::collection::vec(line, 1..4)
            .prop_map(|lines| lines.join("\n"))
            .boxed()
    }

    /// The fields of a record of a random type: every required field, about half of
    /// the others (sensitive ones included: they travel like any other field).
    fn typed_fields() -> impl Strategy<Value = (String, BTreeMap<String, String>)> {
        (0..record_types().len()).prop_flat_map(|i| {
            let ty = &record_types()[i];
            let fields: Vec<BoxedStrategy<Option<(String, String)>>> = ty
                .fields
                .iter()
                .map(|f| {
                    let name = f.name.clone();
                    let v = value(f);
                    if f.required {
                        v.prop_map(move |v| Some((name.clone(), v))).boxed()
                    } else {
                        proptest::option::of(v)
                            .prop_map(move |v| v.map(|v| (name.clone(), v)))
                            .boxed()
                    }
                })
                .collect();
            fields.prop_map(move |f| (ty.name.clone(), f.into_iter().flatten().collect()))
        })
    }

    fn tag() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9_:/.-]{1,20}",
            proptest::sample::select(&["köln", "日本", "família", "работа", "a/b:c"][..])
                .prop_map(String::from),
        ]
    }

    /// A valid record, as the vault stores it (normalized by `validate_record`).
    fn record() -> impl Strategy<Value = Record> {
        (
            typed_fields(),
            proptest::collection::vec(tag(), 0..5),
            prop_oneof![
                Just("manual".to_string()),
                Just("import:vcard".to_string()),
                "[a-z]{1,10}:[a-z0-9._-]{1,20}",
            ],
            // Up to 2026 plus 11 days: times more than a day ahead are refused.
            0u64..1_767_000_000_000,
            0u64..1_000_000_000,
        )
            .prop_filter_map(
                "a valid record (at least one field)",
                |((ty, fields), tags, source, created, delta)| {
                    let t = |ms: u64| {
                        chrono::DateTime::from_timestamp_millis(ms as i64)
                            .unwrap()
                            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    };
                    let r = Record {
                        id: crate::record::new_id(),
                        record_type: ty,
                        fields,
                        tags,
                        source,
                        created_at: t(created),
                        updated_at: t(created + delta),
                    };
                    crate::record::validate_record(&r).ok()
                },
            )
    }

    /// Stores `recs`, trashes those marked in `trashed`, exports (to an X25519 recipient
    /// when `encrypted`) and imports into a new vault twice.
    fn round_trip(
        recs: &[Record],
        trashed: &[bool],
        encrypted: bool,
    ) -> std::result::Result<(), TestCaseError> {
        let (_d, src) = new_vault();
        src.write(|tx| {
            for r in recs {
                insert_record(tx, r)?;
            }
            Ok(())
        })
        .unwrap();
        let (gone, kept): (Vec<(&Record, &bool)>, Vec<_>) =
            recs.iter().zip(trashed).partition(|(_, t)| **t);
        let gone: Vec<&Record> = gone.into_iter().map(|(r, _)| r).collect();
        let kept: Vec<&Record> = kept.into_iter().map(|(r, _)| r).collect();
        for r in &gone {
            src.remove(&r.id).unwrap();
        }
        let plain_bytes = plain(&src);
        let mut lines = Vec::new();
        for r in &kept {
            serde_json::to_writer(&mut lines, r).unwrap();
            lines.push(b'\n');
        }
        prop_assert_eq!(
            member(&plain_bytes, "records.jsonl"),
            lines,
            "lines are what the serializer writes, trashed records left out"
        );
        let all = String::from_utf8_lossy(&plain_bytes).into_owned();
        for r in &gone {
            prop_assert!(!all.contains(&r.id), "trashed {} is in the bundle", r.id);
        }

        let (id, rcp) = keypair();
        let identities = ids(id);
        let key = || {
            if encrypted {
                BundleKey::Identities(&identities)
            } else {
                BundleKey::None
            }
        };
        let bytes = if encrypted {
            export_bytes(&src, Encryption::Recipients(vec![rcp]), None)
        } else {
            plain_bytes
        };
        let (_d2, dst) = new_vault();
        let rep = import_bundle_bytes(&dst, &bytes, key(), &ImportOptions::default()).unwrap();
        prop_assert_eq!(
            (rep.records, rep.new),
            (kept.len() as u64, kept.len() as u64)
        );
        let want: BTreeMap<String, Record> =
            kept.iter().map(|r| (r.id.clone(), (*r).clone())).collect();
        prop_assert_eq!(snapshot(&dst), want.clone());
        prop_assert!(
            dst.list_trash().unwrap().is_empty(),
            "nothing lands in the trash"
        );

        let again = import_bundle_bytes(&dst, &bytes, key(), &ImportOptions::default()).unwrap();
        prop_assert_eq!(
            (again.new, again.updated, again.unchanged),
            (0, 0, kept.len() as u64),
            "a second import changes nothing"
        );
        prop_assert_eq!(snapshot(&dst), want);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// Every stored record of every type comes back field for field (unicode, list
        /// and sensitive fields, tags, source, times), trashed records stay out of the
        /// bundle, an encrypted bundle carries the same, and a second import changes
        /// nothing.
        #[test]
        fn export_then_import_reproduces_every_record_and_only_those(
            recs in proptest::collection::vec(record(), 0..30),
            trashed in proptest::collection::vec(any::<bool>(), 30),
            encrypted in any::<bool>(),
        ) {
            round_trip(&recs, &trashed, encrypted)?;
        }
    }
}

// ---- grants, receipts and the access log ----

#[test]
fn exports_and_imports_are_logged_without_values_and_grants_travel_without_token_hashes() {
    use crate::access_log::{LogFilter, LogKind};
    let (_d, src) = filled(20, 19);
    let (g, token) = src
        .create_grant(&crate::grant::NewGrant {
            org: "Clinic".into(),
            purpose: "checkup".into(),
            scope: vec!["health".into()],
            only_tag: None,
            expires: None,
            max_uses: None,
            records: Vec::new(),
            org_key: None,
        })
        .unwrap();
    let before_log = src.log_len().unwrap();
    let bytes = plain(&src);
    let entries = src.log_entries(&LogFilter::default()).unwrap();
    assert_eq!(src.log_len().unwrap(), before_log + 1, "one export entry");
    let e = &entries[0];
    assert_eq!(e.kind, LogKind::Export);
    assert_eq!(e.org.as_deref(), Some("plain"));
    assert!(e.fields.iter().all(|f| f.contains('.')), "{:?}", e.fields);
    src.verify_log().unwrap();

    let grants = String::from_utf8(member(&bytes, "grants.jsonl")).unwrap();
    assert_eq!(grants.lines().count(), 1);
    let gj: serde_json::Value = serde_json::from_str(grants.lines().next().unwrap()).unwrap();
    assert_eq!(gj["id"], g.id.as_str());
    assert!(
        gj.get("token_hash").is_none(),
        "token material stays out: {gj}"
    );
    assert_eq!(
        gj["scope"],
        serde_json::json!(["health"]),
        "JSON columns stay JSON"
    );
    let all = String::from_utf8_lossy(&bytes).into_owned();
    assert!(!all.contains(token.expose_secret()), "token in bundle");
    let log = String::from_utf8(member(&bytes, "log.jsonl")).unwrap();
    assert_eq!(log.lines().count() as u64, before_log);
    let man = parse_manifest(&member(&bytes, "manifest.json"))
        .unwrap()
        .manifest;
    assert_eq!((man.counts.grants, man.counts.log), (1, before_log));

    let (_d2, dst) = new_vault();
    let dry = import_bundle_bytes(
        &dst,
        &bytes,
        BundleKey::None,
        &ImportOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(dst.log_len().unwrap(), 0, "a dry run logs nothing");
    assert_eq!(dry.kept_in_bundle.as_ref().unwrap().grants, 1);
    import_plain(&dst, &bytes).unwrap();
    let entries = dst.log_entries(&LogFilter::default()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].kind, LogKind::Import);
    assert!(!entries[0].fields.is_empty());
    dst.verify_log().unwrap();
    assert_eq!(
        dst.list_grants().unwrap().len(),
        0,
        "grants stay in the bundle"
    );
}

#[test]
fn scoped_export_log_names_recipient_and_fields() {
    use crate::access_log::LogFilter;
    let (_d, src) = new_vault();
    src.add_batch(crate::demo::demo_records()).unwrap();
    let (_id, rcp) = keypair();
    let scope = Scope::parse(&["contact.email", "identity.given_name"], None).unwrap();
    export_bytes(&src, Encryption::Recipients(vec![rcp.clone()]), Some(scope));
    let e = &src.log_entries(&LogFilter::default()).unwrap()[0];
    assert_eq!(e.org.as_deref(), Some(rcp.to_string().as_str()));
    assert_eq!(e.fields, ["contact.email", "identity.given_name"]);
    assert!(e.path.as_deref().unwrap().contains("scoped"));
}

// ---- hardening (issue 11) ----

/// A plain bundle whose manifest declares `scope` (and `tag`), holding `records`.
fn scoped_tar(records: &[Record], scope: &[&str], tag: Option<&str>) -> Vec<u8> {
    let data = records_jsonl(records);
    let counts = manifest::Counts {
        records: records.len() as u64,
        ..Default::default()
    };
    let mut man: manifest::Manifest =
        serde_json::from_slice(&manifest_for(&[("records.jsonl", &data)], counts)).unwrap();
    man.scope = Some(scope.iter().map(|s| s.to_string()).collect());
    man.only_tag = tag.map(str::to_string);
    let mut out = Vec::new();
    push_member(
        &mut out,
        b"manifest.json",
        b'0',
        &serde_json::to_vec(&man).unwrap(),
    );
    push_member(&mut out, b"records.jsonl", b'0', &data);
    out.extend_from_slice(&[0u8; 2 * BLOCK]);
    out
}

/// A vault holding one full contact (email, phone, label, two tags, a source).
fn vault_with_full_contact() -> (tempfile::TempDir, Vault, Record) {
    let (d, v) = new_vault();
    let mut new = crate::NewRecord::new(
        "contact",
        [
            ("email".to_string(), "ana@example.org".to_string()),
            ("phone".to_string(), "+49 30 1234567".to_string()),
            ("label".to_string(), "home".to_string()),
        ],
    );
    new.tags = vec!["family".into(), "emergency".into()];
    new.source = "import:vcard".into();
    let r = v.add(new).unwrap();
    (d, v, r)
}

fn rfc3339_in(hours: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::hours(hours))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[test]
fn scoped_bundle_never_removes_fields_tags_or_provenance_m2() {
    let (_d, v, stored) = vault_with_full_contact();
    // An organization's scoped bundle: the same id, only the email, newer.
    let projected = Record {
        id: stored.id.clone(),
        record_type: "contact".into(),
        fields: [("email".to_string(), "ana@new.example".to_string())].into(),
        tags: vec![],
        source: "manual".into(),
        created_at: "2020-01-01T00:00:00.000Z".into(),
        updated_at: rfc3339_in(1),
    };
    let rep = import_plain(
        &v,
        &scoped_tar(std::slice::from_ref(&projected), &["contact.email"], None),
    )
    .expect("a scoped bundle within the clock horizon imports");
    assert_eq!((rep.new, rep.updated, rep.unchanged), (0, 1, 0));
    let got = v.get(&stored.id).unwrap();
    assert_eq!(
        got.fields["email"], "ana@new.example",
        "the in-scope field updates"
    );
    assert_eq!(
        got.fields["phone"], stored.fields["phone"],
        "phone was removed"
    );
    assert_eq!(
        got.fields["label"], stored.fields["label"],
        "label was removed"
    );
    assert_eq!(got.tags, stored.tags, "tags outside the scope were removed");
    assert_eq!(got.source, stored.source, "provenance was replaced");
    assert_eq!(got.created_at, stored.created_at, "created_at was replaced");
    assert_eq!(got.updated_at, projected.updated_at);
    // The same bundle again changes nothing.
    let again = import_plain(
        &v,
        &scoped_tar(std::slice::from_ref(&projected), &["contact.email"], None),
    )
    .unwrap();
    assert_eq!((again.updated, again.unchanged), (0, 1));
    // A scoped bundle with a tag adds it and keeps the others.
    let mut tagged = projected.clone();
    tagged.tags = vec!["clinic".into()];
    tagged.updated_at = rfc3339_in(2);
    import_plain(&v, &scoped_tar(&[tagged], &["contact"], Some("clinic"))).unwrap();
    let got = v.get(&stored.id).unwrap();
    assert_eq!(got.tags, ["family", "emergency", "clinic"]);
    assert_eq!(got.fields.len(), 3);
    // A scoped bundle calling the record another type is refused, by line.
    let mut other = projected;
    other.record_type = "note".into();
    other.fields = [("title".to_string(), "x".to_string())].into();
    other.updated_at = rfc3339_in(3);
    let before = snapshot(&v);
    let e = import_plain(&v, &scoped_tar(&[other], &["note.title"], None)).unwrap_err();
    assert_eq!(e.code(), "bad_line", "{e}");
    assert!(
        e.to_string().contains("line 1") && e.to_string().contains("a contact in the vault"),
        "{e}"
    );
    assert_eq!(snapshot(&v), before);
}

#[test]
fn record_times_more_than_a_day_ahead_are_refused_by_record_and_line_m2() {
    let (_d, v, stored) = vault_with_full_contact();
    let before = snapshot(&v);
    let pinned = Record {
        id: stored.id.clone(),
        record_type: "contact".into(),
        fields: [("email".to_string(), "x@evil.example".to_string())].into(),
        tags: vec![],
        source: "manual".into(),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "9999-12-31T00:00:00.000Z".into(),
    };
    let mut first = sample_records(1);
    first[0].tags.clear();
    first[0].record_type = "contact".into();
    first[0].fields = [("email".to_string(), "ok@example.org".to_string())].into();
    let bundle = scoped_tar(
        &[first[0].clone(), pinned.clone()],
        &["contact.email"],
        None,
    );
    let e = import_plain(&v, &bundle).unwrap_err();
    assert_eq!(e.code(), "bad_line", "{e}");
    let msg = e.to_string();
    assert!(msg.contains("line 2"), "names the line: {msg}");
    assert!(msg.contains(&stored.id), "names the record: {msg}");
    assert!(
        msg.contains("updated_at 9999-12-31"),
        "names the time: {msg}"
    );
    assert_eq!(snapshot(&v), before, "nothing imported");
    // A full bundle too, and created_at too.
    let mut full = sample_records(1);
    full[0].created_at = rfc3339_in(25 + 24);
    let e = import_plain(&v, &tar_with(&records_jsonl(&full), 1, &[])).unwrap_err();
    assert!(e.to_string().contains("created_at"), "{e}");
    assert_eq!(snapshot(&v), before);
    // A few hours ahead (clocks differ) is fine.
    let mut near = sample_records(1);
    near[0].updated_at = rfc3339_in(20);
    assert_eq!(
        import_plain(&v, &tar_with(&records_jsonl(&near), 1, &[]))
            .unwrap()
            .new,
        1
    );
}

#[test]
fn a_real_backup_restores_a_record_pinned_in_the_future_m2() {
    let (_d, v, stored) = vault_with_full_contact();
    let backup = plain(&v);
    // What a crafted bundle left in vaults before times were checked: the projection,
    // pinned at 9999.
    let pinned = Record {
        fields: [("email".to_string(), "x@evil.example".to_string())].into(),
        tags: vec![],
        source: "manual".into(),
        updated_at: "9999-12-31T00:00:00.000Z".into(),
        ..stored.clone()
    };
    v.write(|tx| {
        crate::record::replace_record(tx, &pinned, &crate::record::DerivedColumns::of(&pinned))
    })
    .unwrap();
    assert_eq!(v.get(&stored.id).unwrap(), pinned);
    let rep = import_plain(&v, &backup).unwrap();
    assert_eq!((rep.updated, rep.unchanged), (1, 0), "the backup must win");
    assert_eq!(v.get(&stored.id).unwrap(), stored, "restored exactly");
}

#[test]
fn dry_run_shows_field_level_changes_of_updated_records() {
    let (_d, mut src, stored) = vault_with_full_contact();
    let (_d2, dst) = new_vault();
    import_plain(&dst, &plain(&src)).unwrap();
    later_clock(&mut src); // a later stamp
    let changes = crate::RecordChanges {
        set: [
            ("email".to_string(), "ana@moved.example".to_string()),
            ("label".to_string(), String::new()),
        ]
        .into(),
        add_tags: vec!["work".into()],
        remove_tags: vec!["family".into()],
    };
    let edited = src.edit(&stored.id, &changes).unwrap();
    let bundle = plain(&src);
    let before = snapshot(&dst);
    let opts = ImportOptions {
        dry_run: true,
        ..Default::default()
    };
    let rep = import_bundle_bytes(&dst, &bundle, BundleKey::None, &opts).unwrap();
    assert_eq!(snapshot(&dst), before, "a dry run writes nothing");
    assert_eq!(rep.updated, 1);
    assert_eq!(rep.changes.len(), 1, "{:?}", rep.changes);
    let c = &rep.changes[0];
    assert_eq!(c.id, stored.id);
    let f = |name: &str| c.fields.iter().find(|f| f.name == name).cloned();
    assert_eq!(
        f("email").map(|f| (f.before, f.after)),
        Some((
            Some("ana@example.org".to_string()),
            Some("ana@moved.example".to_string())
        ))
    );
    assert_eq!(
        f("label").map(|f| (f.before, f.after)),
        Some((Some("home".to_string()), None))
    );
    assert!(f("phone").is_none(), "unchanged fields are not listed");
    assert_eq!(c.tags_added, ["work"]);
    assert_eq!(c.tags_removed, ["family"]);
    assert!(c
        .properties
        .iter()
        .any(|p| p.name == "updated_at" && p.after.as_deref() == Some(&edited.updated_at)));
    let json = serde_json::to_value(&rep).unwrap();
    assert_eq!(json["changes"][0]["fields"][0]["name"], "email");
    // A real import details nothing and applies it.
    let rep = import_plain(&dst, &bundle).unwrap();
    assert!(rep.changes.is_empty());
    assert_eq!(dst.get(&stored.id).unwrap(), edited);
}

#[test]
fn duplicate_keys_in_bundle_json_are_refused() {
    // records.jsonl: a field given twice.
    let line = br#"{"id":"01JDTEST000000000000000000","type":"note","fields":{"title":"seen by one parser","title":"seen by another"},"tags":[],"source":"manual","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z"}
"#;
    let t = tar_with(line, 1, &[]);
    assert_rejected(&t, BundleKey::None, "bad_line", "duplicate key \"title\"");
    // A top-level key twice.
    let line = br#"{"id":"01JDTEST000000000000000000","id":"01JDTEST000000000000000001","type":"note","fields":{"title":"a"},"tags":[],"source":"manual","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z"}
"#;
    let t = tar_with(line, 1, &[]);
    assert_rejected(&t, BundleKey::None, "bad_line", "duplicate field `id`");
    // manifest.json: a member listed twice (the second hash would win silently).
    let recs = records_jsonl(&sample_records(1));
    let man = String::from_utf8(manifest_for(
        &[("records.jsonl", &recs)],
        manifest::Counts {
            records: 1,
            ..Default::default()
        },
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&man).unwrap();
    let digest = v["members"]["records.jsonl"].to_string();
    let dup = man.replacen(
        "\"records.jsonl\":",
        &format!("\"records.jsonl\":{digest},\"records.jsonl\":"),
        1,
    );
    let mut t = Vec::new();
    push_member(&mut t, b"manifest.json", b'0', dup.as_bytes());
    push_member(&mut t, b"records.jsonl", b'0', &recs);
    t.extend_from_slice(&[0u8; 2 * BLOCK]);
    assert_rejected(
        &t,
        BundleKey::None,
        "bundle_format",
        "duplicate key \"records.jsonl\"",
    );
    // A grants line with a key twice.
    let grants = b"{\"id\":\"g1\",\"id\":\"g2\"}\n";
    let man = manifest_for(
        &[("records.jsonl", &recs), ("grants.jsonl", grants)],
        manifest::Counts {
            records: 1,
            grants: 1,
            ..Default::default()
        },
    );
    let mut t = Vec::new();
    push_member(&mut t, b"manifest.json", b'0', &man);
    push_member(&mut t, b"records.jsonl", b'0', &recs);
    push_member(&mut t, b"grants.jsonl", b'0', grants);
    t.extend_from_slice(&[0u8; 2 * BLOCK]);
    assert_rejected(
        &t,
        BundleKey::None,
        "bad_line",
        "grants.jsonl line 1: duplicate key \"id\"",
    );
}

#[test]
fn importing_a_plain_bundle_warns_and_an_encrypted_one_does_not() {
    let (_d, src) = filled(3, 5);
    let (_d2, dst) = new_vault();
    let rep = import_plain(&dst, &plain(&src)).unwrap();
    assert_eq!(
        rep.warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
        ["plain_bundle"]
    );
    assert!(rep.warnings[0].message.contains("not encrypted"));
    let (id, rcp) = keypair();
    let enc = export_bytes(&src, Encryption::Recipients(vec![rcp]), None);
    let ids = ids(id);
    let rep = import_bundle_bytes(
        &dst,
        &enc,
        BundleKey::Identities(&ids),
        &ImportOptions::default(),
    )
    .unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
}

#[test]
fn a_trashed_record_is_in_no_export_full_or_scoped() {
    let (_d, v) = filled(10, 7);
    let victim = v.list(&Default::default()).unwrap()[0].clone();
    v.remove(&victim.id).unwrap();
    let full = member(&plain(&v), "records.jsonl");
    let scope = Scope::parse(&[victim.record_type.as_str()], None).unwrap();
    let scoped = member(
        &export_bytes(&v, Encryption::Plain, Some(scope)),
        "records.jsonl",
    );
    for (what, recs) in [("full", full), ("scoped", scoped)] {
        let text = String::from_utf8(recs).unwrap();
        assert!(
            !text.contains(&victim.id),
            "{what} export holds a trashed record"
        );
    }
}

/// Issue 11 (L3): a dry-run bundle import took the write lock for the whole stream. It
/// now runs while another connection holds it, and reports what the import then does,
/// including a record met twice in one bundle (the second copy merges against the
/// first, which the dry run never wrote).
#[test]
fn a_dry_run_bundle_import_takes_no_write_lock_l3() {
    let (_d, v) = new_vault();
    let recs = sample_records(3);
    v.write(|tx| insert_record(tx, &recs[0])).unwrap();
    let later = |r: &Record, t: &str, title: &str| Record {
        updated_at: t.into(),
        fields: [("title".to_string(), title.to_string())].into(),
        ..r.clone()
    };
    let lines = [
        later(&recs[0], "2026-02-01T00:00:00.000Z", "updated"),
        recs[1].clone(),
        later(&recs[1], "2026-03-01T00:00:00.000Z", "twice"),
        recs[2].clone(),
    ];
    let bytes = tar_with(&records_jsonl(&lines), lines.len() as u64, &[]);
    let before = snapshot(&v);

    let writer = v.try_clone().unwrap();
    writer.conn().execute_batch("BEGIN IMMEDIATE").unwrap();
    v.conn()
        .busy_timeout(std::time::Duration::from_millis(50))
        .unwrap();
    let opts = ImportOptions {
        dry_run: true,
        ..Default::default()
    };
    let dry = import_bundle_bytes(&v, &bytes, BundleKey::None, &opts)
        .expect("a dry run must not need the write lock");
    writer.conn().execute_batch("ROLLBACK").unwrap();
    assert_eq!(snapshot(&v), before, "the dry run wrote records");
    let changed: Vec<&str> = dry.changes.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(changed, [&recs[0].id, &recs[1].id]);

    let real = import_plain(&v, &bytes).unwrap();
    assert_eq!(
        (dry.new, dry.updated, dry.unchanged),
        (real.new, real.updated, real.unchanged)
    );
    assert_eq!((real.new, real.updated, real.unchanged), (2, 2, 0));
    assert_eq!(v.get(&recs[1].id).unwrap().fields["title"], "twice");
}

// ---- undo ----

/// Stored earlier versions (of records imports updated), across all batches.
fn kept_earlier_versions(v: &Vault) -> i64 {
    v.conn()
        .query_row(
            "SELECT count(*) FROM import_batch_records WHERE before IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn undoing_a_bundle_import_trashes_what_it_added_and_restores_what_it_updated() {
    let (_d, mut src) = filled(6, 21);
    let old_bundle = plain(&src);
    let (_d2, mut dst) = new_vault();
    let dry = import_bundle_bytes(
        &dst,
        &old_bundle,
        BundleKey::None,
        &ImportOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(dry.batch, None, "a dry run records no batch");
    let first = import_plain(&dst, &old_bundle).unwrap();
    let b1 = first
        .batch
        .expect("an import that added records has a batch");
    let before_second = snapshot(&dst);
    let (u1, u2) = {
        let all = src.list(&ListFilter::default()).unwrap();
        (all[0].id.clone(), all[1].id.clone())
    };
    later_clock(&mut src);
    let mut retitle = crate::RecordChanges::default();
    retitle.add_tags.push("zebrafinch".into());
    src.edit(&u1, &retitle).unwrap();
    src.edit(&u2, &retitle).unwrap();
    let added = src
        .add(crate::NewRecord::new(
            "note",
            [("title".into(), "from the bundle".into())],
        ))
        .unwrap();
    let second = import_plain(&dst, &plain(&src)).unwrap();
    assert_eq!((second.new, second.updated, second.unchanged), (1, 2, 4));
    let b2 = second.batch.expect("batch");
    assert_ne!(b1, b2);
    assert_eq!(kept_earlier_versions(&dst), 2);
    // u2 is changed by hand after the import: the undo keeps it.
    dst.set_clock(crate::Clock::fixed(
        chrono::Utc::now() + chrono::Duration::seconds(5),
    ));
    let mut note = crate::RecordChanges::default();
    note.add_tags.push("mine".into());
    let mine = dst.edit(&u2, &note).unwrap();

    let u = dst.undo_import(&b2).unwrap();
    assert_eq!(u.removed, vec![added.id.clone()]);
    assert_eq!(u.restored, vec![u1.clone()]);
    assert_eq!(u.kept_changed, vec![u2.clone()]);
    assert!(u.already_gone.is_empty() && u.kept_no_earlier.is_empty());
    assert_eq!(
        dst.get(&u1).unwrap(),
        before_second[&u1],
        "exactly as before"
    );
    assert_eq!(dst.get(&u2).unwrap(), mine);
    assert!(matches!(dst.get(&added.id), Err(Error::NotFound(_))));
    assert!(dst
        .list_trash()
        .unwrap()
        .iter()
        .any(|t| t.record.id == added.id));
    let hits: Vec<String> = dst
        .search("zebrafinch", 10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        hits,
        vec![u2.clone()],
        "the restored version is what is indexed"
    );
    assert_eq!(
        kept_earlier_versions(&dst),
        0,
        "an undone batch keeps no versions"
    );
    let again = dst.undo_import(&b2).unwrap_err();
    assert!(again.to_string().contains("already undone"), "{again}");

    // The first import's records are as it left them again (u1 restored): all go,
    // but u2, changed since.
    let u = dst.undo_import(&b1).unwrap();
    assert_eq!(u.removed.len(), 5);
    assert!(u.removed.contains(&u1));
    assert_eq!(u.kept_changed, vec![u2.clone()]);
    assert_eq!(dst.list(&ListFilter::default()).unwrap(), vec![mine]);
}

#[test]
fn earlier_versions_go_with_the_trash_and_after_thirty_days() {
    let (_d, mut src) = filled(3, 22);
    let older = plain(&src);
    let ids: Vec<String> = snapshot(&src).into_keys().collect();
    later_clock(&mut src);
    let mut tag = crate::RecordChanges::default();
    tag.add_tags.push("newer".into());
    for id in &ids {
        src.edit(id, &tag).unwrap();
    }
    let newer = plain(&src);
    for age_out in [false, true] {
        let (_d2, dst) = new_vault();
        import_plain(&dst, &older).unwrap();
        let b = import_plain(&dst, &newer).unwrap().batch.unwrap();
        assert_eq!(kept_earlier_versions(&dst), 3);
        if age_out {
            dst.conn()
                .execute(
                    "UPDATE import_batches SET created_at = '2000-01-01T00:00:00.000Z' WHERE id = ?1",
                    [&b],
                )
                .unwrap();
            dst.list_trash().unwrap(); // purges what is older than the trash keeps
            assert_eq!(kept_earlier_versions(&dst), 0, "erased after 30 days");
        } else {
            dst.empty_trash().unwrap();
            assert_eq!(kept_earlier_versions(&dst), 0, "empty trash erases them");
        }
        let u = dst.undo_import(&b).unwrap();
        assert_eq!(u.kept_no_earlier, ids, "kept as imported, and named");
        assert!(u.restored.is_empty() && u.removed.is_empty());
        assert_eq!(snapshot(&dst), snapshot(&src));
    }
}

#[test]
fn a_record_added_then_updated_by_one_bundle_is_removed_by_the_undo() {
    let mut rs = sample_records(2);
    let mut newer = rs[0].clone();
    newer.updated_at = "2026-02-01T00:00:00.000Z".into();
    newer.fields.insert("title".into(), "second copy".into());
    rs.push(newer);
    let bytes = tar_with(&records_jsonl(&rs), 3, &[]);
    let (_d, dst) = new_vault();
    let r = import_plain(&dst, &bytes).unwrap();
    assert_eq!((r.new, r.updated), (2, 1));
    let u = dst.undo_import(&r.batch.unwrap()).unwrap();
    assert_eq!(u.removed, vec![rs[0].id.clone(), rs[1].id.clone()]);
    assert!(u.restored.is_empty());
    assert!(snapshot(&dst).is_empty());
}

#[test]
fn an_import_that_changes_nothing_records_no_batch() {
    let (_d, src) = filled(3, 24);
    let bytes = plain(&src);
    let (_d2, dst) = new_vault();
    import_plain(&dst, &bytes).unwrap();
    assert_eq!(import_plain(&dst, &bytes).unwrap().batch, None);
    let batches: i64 = dst
        .conn()
        .query_row("SELECT count(*) FROM import_batches", [], |r| r.get(0))
        .unwrap();
    assert_eq!(batches, 1);
}
