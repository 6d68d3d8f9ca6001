//! `trove remember` / `forget` against a real Secret Service. Built only with the
//! `secret-service-tests` feature and run by scripts/keyring-test.sh, which starts a
//! private D-Bus session with an unlocked gnome-keyring in a temporary HOME.

#[path = "support.rs"]
mod support;

use support::{stderr, TestVault};

fn with_bus(t: &TestVault, args: &[&str]) -> std::process::Command {
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .expect("needs a session bus with a Secret Service: run scripts/keyring-test.sh");
    let mut c = t.cmd(args);
    c.env("DBUS_SESSION_BUS_ADDRESS", bus);
    c
}

#[test]
fn remember_then_forget_with_a_real_secret_service() {
    let t = TestVault::new();
    t.ok(&["add", "note", "title=kept in the vault"]);

    let out = with_bus(&t, &["remember"]).output().unwrap();
    assert!(out.status.success(), "remember: {}", stderr(&out));
    let status = with_bus(&t, &["--json", "status"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["remembered"], true);

    // No passphrase anywhere and no terminal: only the keyring can unlock it now.
    let out = with_bus(&t, &["list"])
        .env_remove("TROVE_PASSPHRASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "unlock from keyring: {}",
        stderr(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept in the vault"));

    let out = with_bus(&t, &["forget"])
        .env_remove("TROVE_PASSPHRASE")
        .output()
        .unwrap();
    assert!(out.status.success(), "forget: {}", stderr(&out));
    let out = with_bus(&t, &["list"])
        .env_remove("TROVE_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "forgotten key must not unlock: {}",
        stderr(&out)
    );

    // The entry is really gone from the Secret Service, not just flagged off.
    let again = with_bus(&t, &["remember"]).output().unwrap();
    assert!(again.status.success());
    let out = with_bus(&t, &["forget"]).output().unwrap();
    assert!(out.status.success());
    let search = std::process::Command::new("secret-tool")
        .args(["search", "--all", "service", "trove"])
        .output();
    if let Ok(s) = search {
        let listed =
            String::from_utf8_lossy(&s.stdout).to_string() + &String::from_utf8_lossy(&s.stderr);
        assert!(
            !listed.contains("vault-"),
            "keyring still holds a Trove key: {listed}"
        );
    }
}

#[test]
fn locked_keyring_is_a_clear_error_and_the_passphrase_still_works() {
    let t = TestVault::new();
    let out = with_bus(&t, &["remember"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Point the client at a bus with no Secret Service on it.
    let out = t
        .cmd(&["list"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .env_remove("TROVE_PASSPHRASE")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("can't use the keyring") && err.contains("falling back to the passphrase"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(t
        .cmd(&["list"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .output()
        .unwrap()
        .status
        .success());
    assert!(with_bus(&t, &["forget"]).output().unwrap().status.success());
}

/// `trove passwd` on a device that remembers the vault used to unlock from the keyring
/// and change the passphrase without anyone proving they knew it: whoever sat at the
/// computer could lock its owner out. The current passphrase is asked for regardless.
#[test]
fn passwd_needs_the_current_passphrase_even_when_remembered() {
    let t = TestVault::new();
    let out = with_bus(&t, &["remember"]).output().unwrap();
    assert!(out.status.success(), "remember: {}", stderr(&out));
    let out = with_bus(&t, &["passwd", "--allow-weak-passphrase"])
        .env_remove("TROVE_PASSPHRASE")
        .env("TROVE_NEW_PASSPHRASE", "taken over by someone else")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "passwd without the current passphrase must fail: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).to_lowercase().contains("passphrase"),
        "{}",
        stderr(&out)
    );
    // Nothing changed: the old passphrase still opens it, the intruder's does not.
    let out = with_bus(&t, &["forget"]).output().unwrap();
    assert!(out.status.success(), "forget: {}", stderr(&out));
    t.ok(&["list"]);
    let out = t
        .cmd(&["list"])
        .env("TROVE_PASSPHRASE", "taken over by someone else")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}
