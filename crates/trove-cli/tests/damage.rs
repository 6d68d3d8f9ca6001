//! A damaged database is reported as "vault damaged" with what to do next, never as a
//! panic or a raw SQLite error.

use crate::support::{stderr, TestVault};

fn flip(path: &std::path::Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn flipped_byte_anywhere_in_the_database_is_reported_as_damage() {
    let probe = TestVault::new();
    probe.ok(&["add", "note", "title=x"]);
    let size = std::fs::metadata(probe.vault.join("trove.db"))
        .unwrap()
        .len() as usize;
    assert!(
        size >= 4096 * 4,
        "database has several pages ({size} bytes)"
    );
    // Page 1 (the header page), a page in the middle, the last page.
    for offset in [100, size / 2 + 17, size - 200] {
        let t = TestVault::empty();
        t.ok(&["demo"]);
        let db = t.vault.join("trove.db");
        let size = std::fs::metadata(&db).unwrap().len() as usize;
        flip(&db, offset.min(size - 1));
        let out = t.run(&["status", "--check"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "offset {offset}: {err}");
        assert!(
            err.contains("vault is damaged") && err.contains("backup"),
            "offset {offset}: {err}"
        );
        assert!(!err.contains("panicked"), "offset {offset}: {err}");
    }
}

#[test]
fn damaged_header_page_fails_every_command_cleanly() {
    let t = TestVault::empty();
    t.ok(&["demo"]);
    flip(&t.vault.join("trove.db"), 2000);
    for args in [
        &["list"][..],
        &["search", "berlin"],
        &["add", "note", "title=x"],
    ] {
        let out = t.run(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("vault is damaged") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn damaged_key_file_is_named() {
    let t = TestVault::new();
    std::fs::write(t.vault.join("trove.key"), b"{ not json").unwrap();
    let out = t.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("key file is damaged"),
        "{}",
        stderr(&out)
    );
}
