//! Bundles through the CLI: export with a recipient, a passphrase or --plain; import
//! with --identity, TROVE_EXPORT_PASSPHRASE, --dry-run and --json; other formats.

use std::process::Command;

use crate::support::{stderr, TestVault};

fn keypair(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let key = dir.join("key.txt");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen (scripts/install-deps.sh test installs age)");
    assert!(out.status.success());
    let r = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    (key, String::from_utf8(r.stdout).unwrap().trim().to_string())
}

#[test]
fn export_to_recipient_then_import_elsewhere_twice() {
    let src = TestVault::new();
    src.ok(&["add", "note", "title=Flat viewing", "--tag", "home"]);
    src.ok(&["add", "contact", "email=ana@example.org"]);
    let (key, rcp) = keypair(src.home.path());
    let file = src.home.path().join("all.trove");
    let f = file.to_str().unwrap();
    let out = src.json(&["export", f, "--to", &rcp]);
    assert_eq!(out["records"], 2);
    assert_eq!(out["encryption"], "recipients");

    let dst = TestVault::new();
    let k = key.to_str().unwrap();
    let dry = dst.json(&["import", f, "--identity", k, "--dry-run"]);
    assert_eq!(
        (dry["new"].as_u64(), dry["dry_run"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(dst.count(), 0, "dry run wrote nothing");
    let first = dst.json(&["import", f, "--identity", k]);
    assert_eq!(first["new"], 2);
    let again = dst.json(&["import", f, "--identity", k]);
    assert_eq!(
        (again["new"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(
        src.json(&["list"]),
        dst.json(&["list"]),
        "records identical, ids and times"
    );

    let out = dst.run(&["import", f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("hint: pass the age identity file with --identity FILE"),
        "the CLI's hint names its flag: {}",
        stderr(&out)
    );
}

#[test]
fn export_keeps_an_existing_file_unless_forced() {
    let v = TestVault::new();
    v.ok(&["add", "note", "title=first"]);
    let file = v.home.path().join("backup.trove");
    let f = file.to_str().unwrap();
    v.ok(&["export", f, "--plain"]);
    let before = std::fs::read(&file).unwrap();
    v.ok(&["add", "note", "title=second"]);

    // Refused before the export passphrase is asked for: none is given here (and
    // there is no terminal), yet the error is about the file.
    let out = v.run(&["export", f]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("already exists"), "{err}");
    assert!(
        err.contains("--force"),
        "the CLI's hint names its flag: {err}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file was changed"
    );
    let out = v.cmd(&["export", f, "--plain", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap_or_default();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["error"]["code"], "file_exists", "{}", stderr(&out));

    // A directory there is refused the same way, not written into.
    let dir = v.home.path().join("a-dir.trove");
    std::fs::create_dir(&dir).unwrap();
    let out = v.run(&["export", dir.to_str().unwrap(), "--plain"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    let out = v.json(&["export", f, "--plain", "--force"]);
    assert_eq!(out["records"], 2);
    assert_ne!(std::fs::read(&file).unwrap(), before, "--force replaced it");
}

#[test]
fn passphrase_bundle_reads_trove_export_passphrase_and_wrong_one_exits_3() {
    let src = TestVault::new();
    src.ok(&["add", "note", "title=x"]);
    let file = src.home.path().join("p.trove");
    let f = file.to_str().unwrap();
    let out = src
        .cmd(&["export", f])
        .env("TROVE_EXPORT_PASSPHRASE", "s3cret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // --force gets past the existing file; the failed export leaves it as it was (the
    // imports below open it).
    let out = src.run(&["export", f, "--force"]);
    assert_eq!(out.status.code(), Some(1), "no passphrase and no terminal");
    assert!(
        stderr(&out).contains("TROVE_EXPORT_PASSPHRASE"),
        "{}",
        stderr(&out)
    );

    let dst = TestVault::new();
    let out = dst
        .cmd(&["import", f])
        .env("TROVE_EXPORT_PASSPHRASE", "nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("passphrase is wrong"),
        "{}",
        stderr(&out)
    );
    assert_eq!(dst.count(), 0);
    let out = dst
        .cmd(&["import", f])
        .env("TROVE_EXPORT_PASSPHRASE", "s3cret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(dst.count(), 1);
}

#[test]
fn plain_scoped_export_and_tampered_import() {
    let src = TestVault::new();
    src.ok(&[
        "add",
        "contact",
        "email=ana@example.org",
        "phone=+49 30 1234",
    ]);
    src.ok(&["add", "note", "title=secret"]);
    let file = src.home.path().join("s.trove");
    let f = file.to_str().unwrap();
    let out = src.json(&["export", f, "--plain", "--scope", "contact.email"]);
    assert_eq!(out["records"], 1);
    assert_eq!(out["disclosed"], serde_json::json!(["contact.email"]));
    let listing = Command::new("tar").arg("tf").arg(&file).output().unwrap();
    assert_eq!(
        String::from_utf8(listing.stdout).unwrap(),
        "manifest.json\nrecords.jsonl\n"
    );
    let out = src.run(&["export", f, "--plain", "--to", "age1x"]);
    assert_eq!(out.status.code(), Some(2), "--plain conflicts with --to");

    let dst = TestVault::new();
    let r = dst.json(&["import", f]);
    assert_eq!(r["new"], 1);
    let recs = dst.json(&["list"]);
    assert_eq!(
        recs["records"][0]["fields"],
        serde_json::json!({"email": "ana@example.org"})
    );

    let mut bytes = std::fs::read(&file).unwrap();
    let pos = bytes.windows(3).position(|w| w == b"ana").unwrap();
    bytes[pos] = b'b';
    std::fs::write(&file, &bytes).unwrap();
    let other = TestVault::new();
    let out = other.run(&["--json", "import", f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("bundle_hash_mismatch"),
        "{}",
        stderr(&out)
    );
    assert_eq!(other.count(), 0);
}

#[test]
fn vcard_csv_and_json_files_import_without_duplicates() {
    let t = TestVault::new();
    let dir = t.home.path();
    std::fs::write(
        dir.join("a.vcf"),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:López;Ana;;;\r\nEMAIL;TYPE=work:ana@example.org\r\nEND:VCARD\r\n",
    )
    .unwrap();
    std::fs::write(dir.join("n.csv"), "title,body\nshopping,\"milk, bread\"\n").unwrap();
    std::fs::write(
        dir.join("r.json"),
        r#"[{"type":"preference","fields":{"key":"lang","value":"es"}}]"#,
    )
    .unwrap();
    for (file, extra, new) in [
        ("a.vcf", None, 1),
        ("n.csv", Some("note"), 1),
        ("r.json", None, 1),
    ] {
        let p = dir.join(file);
        let mut args = vec!["import", p.to_str().unwrap()];
        if let Some(t) = extra {
            args.extend(["--type", t]);
        }
        assert_eq!(t.json(&args)["new"], new, "{file}");
        assert_eq!(t.json(&args)["new"], 0, "{file} twice");
    }
    let recs = t.json(&["list"]);
    let sources: std::collections::BTreeSet<_> = recs["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sources.into_iter().collect::<Vec<_>>(),
        ["import:csv", "import:json", "import:vcard"]
    );
    std::fs::write(dir.join("bad.csv"), "title,colour\na,b\n").unwrap();
    let p = dir.join("bad.csv");
    let out = t.run(&["import", p.to_str().unwrap(), "--type", "note", "--dry-run"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the row is kept: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("bad.csv:2: colour has no field (1 times; not imported)"),
        "the column is reported: {}",
        stderr(&out)
    );
    let out = t.run(&["import", p.to_str().unwrap(), "--type", "note", "--strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("bad.csv:2: colour: no field takes it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_address_book_never_becomes_the_owners_records() {
    let t = TestVault::new();
    let book = t.home.path().join("book.vcf");
    std::fs::write(
        &book,
        "BEGIN:VCARD\nVERSION:2.1\nN:Berg;Bo\nTEL;WORK:+46 8 123 456\nTEL;HOME:+46 8 1;ext=2\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nFN:Cleo\nEMAIL:cleo@example.org\nEND:VCARD\n",
    )
    .unwrap();
    let r = t.json(&["import", book.to_str().unwrap()]);
    assert_eq!(
        (r["new"].as_u64(), r["values_not_kept"].as_u64()),
        (Some(2), Some(1)),
        "{r}"
    );
    assert_eq!(r["problems"][0]["property"], "TEL");
    assert_eq!(r["problems"][0]["line"], 5);
    let recs = t.json(&["list"]);
    let types: Vec<&str> = recs["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["person", "person"]);
    let out = t.run(&[
        "grant",
        "create",
        "--org",
        "Acme",
        "--purpose",
        "x",
        "--scope",
        "person",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot be granted"),
        "{}",
        stderr(&out)
    );
    // Your own card, with --as-me.
    let me = t.home.path().join("me.vcf");
    std::fs::write(
        &me,
        "BEGIN:VCARD\nVERSION:3.0\nN:López;Ana;;;\nEMAIL:ana@example.org\nEND:VCARD\n",
    )
    .unwrap();
    let r = t.json(&["import", me.to_str().unwrap(), "--as-me"]);
    assert_eq!(r["new"], 2);
    let out = t.run(&["import", book.to_str().unwrap(), "--as-me"]);
    assert_eq!(out.status.code(), Some(1), "two cards are not one owner");
}

#[test]
fn a_bundle_import_prints_its_batch_and_undo_takes_it_back() {
    let src = TestVault::new();
    let kept = src.ok(&["add", "note", "title=first"]).trim().to_string();
    let file = src.home.path().join("b.trove");
    let f = file.to_str().unwrap();
    src.ok(&["export", f, "--plain"]);
    let dst = TestVault::new();
    let first = dst.json(&["import", f]);
    assert!(first["batch"].is_string(), "{first}");
    let original = dst.json(&["get", &kept]);

    src.ok(&["edit", &kept, "title=second"]);
    let added = src.ok(&["add", "note", "title=new"]).trim().to_string();
    let file = src.home.path().join("b2.trove");
    let f = file.to_str().unwrap();
    src.ok(&["export", f, "--plain"]);
    let dry = dst.json(&["import", f, "--dry-run"]);
    assert!(dry["batch"].is_null(), "a dry run records no batch: {dry}");
    let out = dst.ok(&["import", f]);
    let batch = out
        .lines()
        .find_map(|l| l.strip_prefix("batch "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("the import names its batch: {out}"))
        .to_string();
    assert!(out.contains(&format!("trove import undo {batch}")), "{out}");
    assert_eq!(dst.json(&["get", &kept])["fields"]["title"], "second");

    let undone = dst.ok(&["import", "undo", &batch]);
    assert!(
        undone.contains("1 records moved to the trash, 1 put back as they were before it"),
        "{undone}"
    );
    assert_eq!(
        dst.json(&["get", &kept]),
        original,
        "the earlier version, exactly"
    );
    assert_eq!(dst.count(), 1);
    let trash = dst.json(&["trash", "list"]);
    assert_eq!(trash["trash"][0]["id"], added.as_str());
    let again = dst.run(&["import", "undo", &batch]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already undone"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_csv_with_renamed_columns_is_refused_with_the_map_flags_to_copy() {
    let t = TestVault::new();
    let f = t.home.path().join("renamed.csv");
    std::fs::write(
        &f,
        "XTitle,XFirst Name,XSpitzname,Zip\nDr.,Ana,Anni,10435\n",
    )
    .unwrap();
    let out = t.run(&["import", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("are not a contacts export Trove knows"),
        "{err}"
    );
    assert!(
        err.contains("hint: map them with --map COLUMN=field (person fields), or name the record type of the rows with --type T")
            && err.contains(r#"--map "XFirst Name=given_name""#),
        "the CLI words the core's suggestions as flags to copy: {err}"
    );
    let json = t.run(&["--json", "import", f.to_str().unwrap()]);
    assert!(
        stderr(&json).contains(r#""code":"invalid_input""#),
        "the code stays invalid_input: {}",
        stderr(&json)
    );
}
