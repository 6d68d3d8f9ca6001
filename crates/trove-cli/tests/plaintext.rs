//! Nothing in the vault directory is plaintext: not the database, its -wal and -shm,
//! nor the key file.

use crate::support::{snapshot, TestVault, PW};
use trove_core::{NewRecord, Passphrase, Vault};

const MARKER: &str = "MARKER-a9f3c2e17b-plaintext-canary";

fn assert_no_plaintext(t: &TestVault, when: &str) {
    let files = snapshot(&t.vault);
    assert!(
        files.keys().any(|p| p.ends_with("trove.db")),
        "{when}: database exists"
    );
    for (path, bytes) in &files {
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "{when}: marker found in plaintext in {}",
            path.display()
        );
        assert!(
            !bytes.starts_with(b"SQLite format 3"),
            "{when}: {} is a plain SQLite file",
            path.display()
        );
    }
}

#[test]
fn marker_record_is_absent_from_every_vault_file() {
    let t = TestVault::openable_here();
    t.ok(&[
        "add",
        "note",
        &format!("title={MARKER}"),
        &format!("body={MARKER} {MARKER}"),
        "--tag",
        "canary",
    ]);
    assert_no_plaintext(&t, "after the CLI exited");

    // With a connection open the -wal and -shm files exist and hold recent pages.
    let v = Vault::unlock(&t.vault, &Passphrase::new(PW.into())).unwrap();
    for i in 0..50 {
        v.add(NewRecord::new(
            "note",
            [("title".into(), format!("{MARKER} {i}"))],
        ))
        .unwrap();
    }
    let names: Vec<_> = snapshot(&t.vault)
        .keys()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("-wal")),
        "WAL present while open: {names:?}"
    );
    assert_no_plaintext(&t, "while a connection is open");
    assert_eq!(
        v.search(MARKER, 100).unwrap().len(),
        51,
        "the data is really there"
    );
}
