//! Passphrases, recovery and the keyring: wrong secrets exit 3 and change nothing;
//! changing the passphrase rewraps the key without re-encrypting the database.

use crate::support::{snapshot, stderr, TestVault, PW};

#[test]
fn wrong_passphrase_exits_3_says_how_to_recover_and_changes_no_byte() {
    let t = TestVault::new();
    t.ok(&["add", "contact", "email=ana@example.org"]);
    let before = snapshot(&t.vault);
    for args in [
        &["list"][..],
        &["add", "note", "title=x"],
        &["passwd"],
        &["remember"],
        &["status"],
    ] {
        let out = t
            .cmd(args)
            .env("TROVE_PASSPHRASE", "not it")
            .env("TROVE_NEW_PASSPHRASE", "n")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("wrong passphrase") && err.contains("trove recover"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        snapshot(&t.vault),
        before,
        "vault files changed after failed unlocks"
    );
}

#[test]
fn no_passphrase_and_no_terminal_exits_3() {
    let t = TestVault::new();
    let out = t
        .cmd(&["list"])
        .env_remove("TROVE_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("TROVE_PASSPHRASE"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn passphrase_file_is_read_first() {
    let t = TestVault::new();
    let f = t.home.path().join("pw.txt");
    std::fs::write(&f, format!("{PW}\n")).unwrap();
    let out = t
        .cmd(&["--passphrase-file", f.to_str().unwrap(), "list"])
        .env("TROVE_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let missing = t.run(&["--passphrase-file", "/nonexistent/pw", "list"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("/nonexistent/pw"));
}

#[test]
fn passwd_rewraps_the_key_and_leaves_the_database_bytes_alone() {
    let t = TestVault::new();
    t.ok(&["add", "note", "title=before passwd"]);
    let db = t.vault.join("trove.db");
    let db_before = std::fs::read(&db).unwrap();
    let key_before = std::fs::read(t.vault.join("trove.key")).unwrap();
    let out = t
        .cmd(&["passwd"])
        .env("TROVE_NEW_PASSPHRASE", "a brand new passphrase")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        db_before,
        "database was re-encrypted or rewritten"
    );
    assert_ne!(
        std::fs::read(t.vault.join("trove.key")).unwrap(),
        key_before,
        "key file rewrapped"
    );
    assert_eq!(
        t.run(&["list"]).status.code(),
        Some(3),
        "old passphrase must fail"
    );
    let out = t
        .cmd(&["list"])
        .env("TROVE_PASSPHRASE", "a brand new passphrase")
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("before passwd"));
}

#[test]
fn recover_with_the_recovery_key_sets_a_new_passphrase() {
    let t = TestVault::empty();
    let init = t.json(&["init"]);
    let key = init["recovery_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("AGE-SECRET-KEY-1"), "{key}");
    assert_eq!(init["vault"].as_str().unwrap(), t.vault.to_str().unwrap());
    t.ok(&["add", "note", "title=kept"]);

    let wrong = t
        .cmd(&["recover"])
        .env("TROVE_RECOVERY_KEY", "AGE-SECRET-KEY-1NOTREALLY")
        .env("TROVE_NEW_PASSPHRASE", "a strong new passphrase")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(3), "{}", stderr(&wrong));
    assert!(stderr(&wrong).contains("wrong recovery key"));

    let out = t
        .cmd(&["recover"])
        .env("TROVE_RECOVERY_KEY", format!("  {}\n", key.to_lowercase()))
        .env("TROVE_NEW_PASSPHRASE", "recovered pw")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        t.run(&["list"]).status.code(),
        Some(3),
        "old passphrase must fail"
    );
    let list = t
        .cmd(&["list"])
        .env("TROVE_PASSPHRASE", "recovered pw")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("kept"));
}

#[test]
fn weak_passphrases_are_refused_naming_the_rule_unless_allowed_deliberately() {
    let t = TestVault::empty();
    let out = t
        .cmd(&["init"])
        .env("TROVE_PASSPHRASE", "password1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("too weak") && err.contains("at least 10"),
        "{err}"
    );
    assert!(
        err.contains("--allow-weak-passphrase"),
        "the way out is named: {err}"
    );
    assert!(
        !err.contains("password1"),
        "the passphrase is never echoed: {err}"
    );
    assert!(!t.vault.join("trove.key").exists(), "no vault was created");

    let out = t
        .cmd(&["--json", "init"])
        .env("TROVE_PASSPHRASE", "Qwerty2024!")
        .output()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(body["error"]["code"], "weak_passphrase");

    let out = t
        .cmd(&["init", "--allow-weak-passphrase"])
        .env("TROVE_PASSPHRASE", "password1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // passwd and recover apply the same rule; the old passphrase keeps working.
    let key_before = std::fs::read(t.vault.join("trove.key")).unwrap();
    let out = t
        .cmd(&["passwd"])
        .env("TROVE_PASSPHRASE", "password1")
        .env("TROVE_NEW_PASSPHRASE", "aaaaaaaaaaaa")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("easy to guess"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(t.vault.join("trove.key")).unwrap(),
        key_before
    );
    let out = t
        .cmd(&["recover"])
        .env("TROVE_RECOVERY_KEY", "AGE-SECRET-KEY-1NOTREALLY")
        .env("TROVE_NEW_PASSPHRASE", "123456789012")
        .output()
        .unwrap();
    assert!(stderr(&out).contains("common"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(t.vault.join("trove.key")).unwrap(),
        key_before
    );
}

#[test]
fn init_never_overwrites_a_vault() {
    let t = TestVault::new();
    let before = snapshot(&t.vault);
    let out = t.run(&["init"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let out = t.run(&["demo"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(snapshot(&t.vault), before);
}

#[test]
fn remember_without_a_keyring_fails_clearly_and_changes_nothing() {
    let t = TestVault::new();
    let before = snapshot(&t.vault);
    let out = t.run(&["remember"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("can't use the keyring") && err.contains("still opens with its passphrase"),
        "{err}"
    );
    assert_eq!(snapshot(&t.vault), before);
}

#[test]
fn remembered_vault_falls_back_to_the_passphrase_when_the_keyring_is_gone() {
    let t = TestVault::new();
    // The vault was remembered on a session whose keyring is not reachable now.
    let path = t.vault.join("trove.key");
    let mut kf: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    kf["remembered"] = true.into();
    std::fs::write(&path, serde_json::to_vec(&kf).unwrap()).unwrap();

    let out = t
        .cmd(&["list"])
        .env_remove("TROVE_PASSPHRASE")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("can't use the keyring") && err.contains("falling back to the passphrase"),
        "{err}"
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "no terminal to ask: cannot unlock"
    );
    assert!(t.run(&["list"]).status.success(), "passphrase still works");
}

/// The passphrase slot's Argon2id parameters in the vault's key file.
fn kdf_params(t: &TestVault) -> serde_json::Value {
    let kf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.vault.join("trove.key")).unwrap()).unwrap();
    kf["passphrase"]["params"].clone()
}

/// `TROVE_INSECURE_FAST_KDF_FOR_TESTS` (set by every command here) gives a debug build's
/// vaults the 8 KiB test parameters, accepted only while it is set. A release build
/// ignores it: it calibrates, and refuses a key file with the test parameters as crafted.
/// (`cargo test --release -p trove-cli --test cli keys::` runs the release half.)
#[test]
fn the_insecure_fast_kdf_switch_takes_effect_only_in_debug_builds() {
    const SWITCH: &str = "TROVE_INSECURE_FAST_KDF_FOR_TESTS";
    let t = TestVault::new();
    let refused = |out: std::process::Output| {
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("8 KiB") && stderr(&out).contains("outside what Trove accepts"),
            "{}",
            stderr(&out)
        );
    };
    if cfg!(debug_assertions) {
        assert_eq!(
            kdf_params(&t),
            serde_json::json!({"m_cost_kib": 8, "t_cost": 1, "p_cost": 1})
        );
        t.ok(&["add", "note", "title=unlocked with the test parameters"]);
        refused(t.cmd(&["list"]).env_remove(SWITCH).output().unwrap());
    } else {
        let p = kdf_params(&t);
        assert!(
            p["m_cost_kib"].as_u64() >= Some(64 * 1024) && p["t_cost"].as_u64() >= Some(6),
            "a release build calibrates despite {SWITCH}: {p}"
        );
        let path = t.vault.join("trove.key");
        let mut kf: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        kf["passphrase"]["params"] = serde_json::json!({"m_cost_kib": 8, "t_cost": 1, "p_cost": 1});
        std::fs::write(&path, serde_json::to_vec(&kf).unwrap()).unwrap();
        refused(t.run(&["list"]));
    }
}
