//! Issue 11 (hardening), the parts a person sees: escaped terminal output, import dry
//! runs with field-level changes, the plain-bundle warning, `init` in a used directory,
//! the passphrase-file cap and `--host-name` without TLS.

use std::os::unix::fs::PermissionsExt;

use crate::support::{stderr, TestVault, PW};

#[test]
fn control_and_bidi_characters_in_values_are_escaped_on_the_terminal() {
    let t = TestVault::new();
    // A note whose body carries a carriage return (multi-line fields allow `\r`), and
    // whose title carries a right-to-left override.
    let id = t
        .ok(&[
            "add",
            "note",
            "title=invoice\u{202e}fdp.exe",
            "body=paid 100\rREFUND 999",
        ])
        .trim()
        .to_string();
    for args in [
        vec!["get", id.as_str()],
        vec!["list"],
        vec!["search", "invoice"],
    ] {
        let out = t.ok(&args);
        for bad in ['\r', '\u{1b}', '\u{202e}'] {
            assert!(
                !out.contains(bad),
                "`trove {args:?}` printed {bad:?} raw: {out:?}"
            );
        }
        assert!(out.contains("\\u{202e}"), "`trove {args:?}`: {out:?}");
    }
    let shown = t.ok(&["get", &id]);
    assert!(shown.contains("paid 100\\u{d}REFUND 999"), "{shown}");
    // --json keeps the exact value (JSON escapes it).
    let j = t.json(&["get", &id]);
    assert_eq!(j["fields"]["body"], "paid 100\rREFUND 999");
}

#[test]
fn import_dry_run_prints_field_level_changes_and_json_carries_them() {
    let src = TestVault::new();
    let id = src
        .ok(&[
            "add",
            "contact",
            "email=ana@example.org",
            "phone=+49 30 1234567",
        ])
        .trim()
        .to_string();
    let first = src.home.path().join("first.trove");
    src.ok(&["export", "--plain", first.to_str().unwrap()]);
    let dst = TestVault::new();
    dst.ok(&["import", first.to_str().unwrap()]);
    std::thread::sleep(std::time::Duration::from_millis(5)); // a later updated_at
    src.ok(&[
        "edit",
        &id,
        "email=ana@moved.example",
        "phone=",
        "--tag",
        "work",
    ]);
    let second = src.home.path().join("second.trove");
    src.ok(&["export", "--plain", second.to_str().unwrap()]);
    let before = dst.json(&["get", &id]);
    let out = dst.ok(&["import", "--dry-run", second.to_str().unwrap()]);
    assert!(out.contains("1 updated"), "{out}");
    assert!(out.contains(&format!("~ {id} (contact)")), "{out}");
    assert!(
        out.contains("email: \"ana@example.org\" -> \"ana@moved.example\""),
        "{out}"
    );
    assert!(out.contains("phone: \"+49 30 1234567\" -> (none)"), "{out}");
    assert!(out.contains("tag added: work"), "{out}");
    let j = dst.json(&["import", "--dry-run", second.to_str().unwrap()]);
    assert_eq!(j["changes"][0]["id"], id.as_str());
    assert_eq!(j["changes"][0]["fields"][0]["name"], "email");
    assert_eq!(j["changes"][0]["fields"][0]["after"], "ana@moved.example");
    assert_eq!(j["changes"][0]["fields"][1]["name"], "phone");
    assert!(j["changes"][0]["fields"][1]["after"].is_null());
    assert_eq!(dst.json(&["get", &id]), before, "a dry run wrote");
}

#[test]
fn importing_a_plain_bundle_warns() {
    let src = TestVault::new();
    src.ok(&["add", "note", "title=x"]);
    let file = src.home.path().join("plain.trove");
    src.ok(&["export", "--plain", file.to_str().unwrap()]);
    let dst = TestVault::new();
    let out = dst.run(&["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: the bundle was not encrypted"),
        "{}",
        stderr(&out)
    );
    let j = dst.json(&["import", file.to_str().unwrap()]);
    assert_eq!(j["warnings"][0]["code"], "plain_bundle");
}

#[test]
fn init_refuses_a_directory_that_holds_files_and_leaves_its_mode() {
    // Like `TROVE_VAULT=/tmp trove init`, on a private stand-in for /tmp.
    let t = TestVault::empty();
    let shared = t.home.path().join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("someone-elses.sock"), b"").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = t
        .cmd(&["init"])
        .env("TROVE_VAULT", &shared)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already holds other files"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o1777, "init changed the mode of a shared directory");
    assert!(!shared.join("trove.key").exists());
    // A new directory works and is private.
    t.ok(&["init"]);
    let mode = std::fs::metadata(&t.vault).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let mode = std::fs::metadata(t.vault.join("trove.db"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn passphrase_file_is_read_with_a_size_cap() {
    let t = TestVault::new();
    let big = t.home.path().join("big.txt");
    std::fs::write(&big, format!("{PW}\n{}", "x".repeat(8192))).unwrap();
    let out = t
        .cmd(&["--passphrase-file", big.to_str().unwrap(), "list"])
        .env_remove("TROVE_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("larger than 4096 bytes"),
        "{}",
        stderr(&out)
    );
    let ok = t.home.path().join("pw.txt");
    std::fs::write(&ok, format!("{PW}\n")).unwrap();
    let out = t
        .cmd(&["--passphrase-file", ok.to_str().unwrap(), "list"])
        .env_remove("TROVE_PASSPHRASE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn serve_with_a_host_name_but_no_tls_is_refused_before_asking_anything() {
    let t = TestVault::new();
    let out = t
        .cmd(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--host-name",
            "trove.example",
        ])
        .env_remove("TROVE_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--host-name"), "{}", stderr(&out));
    assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));
}

fn copy_files(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The review's rollback (M4): an older copy of the vault directory put back (no key
/// needed) un-revoked a grant and `log verify` said ok. Now every command refuses it,
/// naming what happened and the way to accept a deliberate restore.
#[test]
fn an_older_vault_copied_back_is_refused_until_the_restore_is_accepted() {
    let t = TestVault::new();
    let created = t.json(&[
        "grant",
        "create",
        "--org",
        "Acme",
        "--purpose",
        "kyc",
        "--scope",
        "contact",
    ]);
    let id = created["id"].as_str().unwrap().to_string();
    let old = tempfile::tempdir().unwrap();
    copy_files(&t.vault, old.path());
    t.ok(&["grant", "revoke", &id]);
    assert_eq!(t.json(&["grant", "show", &id])["status"], "revoked");
    // Put the old copy back (the revocation never happened in it).
    for f in std::fs::read_dir(&t.vault).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    copy_files(old.path(), &t.vault);
    for args in [
        vec!["grant", "list"],
        vec!["log"],
        vec!["log", "verify"],
        vec!["serve", "--listen", "127.0.0.1:0"],
    ] {
        let out = t.run(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "trove {args:?} ran on an older vault"
        );
        let err = stderr(&out);
        assert!(
            err.contains("older than the one last opened on this computer")
                && err.contains("trove log accept-restore"),
            "trove {args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "nothing is read out: {args:?}");
    }
    // A deliberate restore is accepted once; then the vault opens as it is.
    let accepted = t.json(&["log", "accept-restore"]);
    assert_eq!(accepted["accepted"], true);
    assert_eq!(t.json(&["grant", "show", &id])["status"], "active");
    t.ok(&["log", "verify"]);
}

/// `trove log` pages with `--limit` and `--before`, and shows a folded row's count.
#[test]
fn the_log_pages_by_seq() {
    let t = TestVault::new();
    for i in 0..5 {
        t.ok(&["add", "note", &format!("title=n{i}")]);
        t.ok(&[
            "export",
            "--plain",
            t.home.path().join(format!("e{i}.trove")).to_str().unwrap(),
        ]);
    }
    let all = t.json(&["log"])["entries"].as_array().unwrap().clone();
    assert!(all.len() >= 5);
    let first = t.json(&["log", "--limit", "2"])["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(first, all[..2]);
    let last_seq = first[1]["seq"].as_i64().unwrap().to_string();
    let next = t.json(&["log", "--limit", "2", "--before", &last_seq])["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(next, all[2..4]);
}
