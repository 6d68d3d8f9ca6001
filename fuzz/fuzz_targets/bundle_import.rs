//! Bundle import from bytes (plain tar, or age to a fixed identity), as a dry run and
//! for real into an empty vault: any input is imported or rejected with a typed error,
//! never a panic; the dry run writes nothing and predicts the real import (same outcome,
//! same counts, same error code); a rejected import leaves the vault empty, an accepted
//! one holds exactly the records it reported as new.
//!
//! Seeds: crates/trove-core/tests/fuzz_seeds.rs writes valid bundles (plain, age,
//! scoped, empty) made by Trove's exporter; scripts/fuzz-smoke.sh runs it first.
#![no_main]
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use trove_core::bundle::{import_bundle_bytes, BundleKey, ImportOptions};
use trove_core::keyfile::KeyFile;
use trove_core::{KdfParams, Passphrase, RecoveryKey, Vault};

/// The identity age bundles are decrypted with (the seeds are encrypted to it; a test
/// key, not a secret).
const IDENTITY: &str = "AGE-SECRET-KEY-1AJ4PQMW55Y6E3CLLJ5KCPRAQTC3TLVLEL0949MU32YA3WX38ED6Q08JW6L";

struct Fixture {
    dir: tempfile::TempDir,
    /// An empty vault's files, copied to start afresh after an accepted import.
    template: PathBuf,
    recovery: RecoveryKey,
    vault: Vault,
    /// How many fresh vaults were made (names each copy).
    copies: u64,
    ids: Vec<Box<dyn age::Identity + Send + Sync>>,
}

/// A fresh copy `n` of the empty template vault, opened with the recovery key (an X25519
/// unwrap: no Argon2id per copy).
fn fresh(dir: &Path, template: &Path, recovery: &RecoveryKey, n: u64) -> Vault {
    let dir = dir.join(format!("v{n}"));
    std::fs::create_dir(&dir).unwrap();
    for f in std::fs::read_dir(template).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    let key = KeyFile::read(&dir.join("trove.key"))
        .unwrap()
        .unwrap_with_recovery(recovery)
        .unwrap();
    Vault::open_with_key(&dir, key).unwrap()
}

impl Fixture {
    /// Replaces the vault with a fresh empty one and removes the old one's files.
    fn reset(&mut self) {
        self.copies += 1;
        let new = fresh(self.dir.path(), &self.template, &self.recovery, self.copies);
        let old = std::mem::replace(&mut self.vault, new);
        let old_dir = old.dir().to_path_buf();
        drop(old);
        let _ = std::fs::remove_dir_all(old_dir);
    }
}

fn fixture() -> &'static Mutex<Fixture> {
    static F: OnceLock<Mutex<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let params = KdfParams {
            m_cost_kib: KdfParams::MIN_M_COST_KIB,
            t_cost: 1,
            p_cost: 1,
        };
        // The template stays closed and empty; imports go to copies of it.
        let template = dir.path().join("template");
        let (vault, recovery) =
            Vault::create_with(&template, &Passphrase::new("pw".into()), params).unwrap();
        drop(vault);
        let id: age::x25519::Identity = IDENTITY.parse().unwrap();
        Mutex::new(Fixture {
            vault: fresh(dir.path(), &template, &recovery, 0),
            dir,
            template,
            recovery,
            copies: 0,
            ids: vec![Box::new(id)],
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let mut f = fixture().lock().unwrap();
    let key = || {
        if data.first().is_some_and(|b| b & 1 == 1) {
            BundleKey::Identities(&f.ids)
        } else {
            BundleKey::None
        }
    };
    let dry_opts = ImportOptions {
        dry_run: true,
        ..Default::default()
    };
    let dry = import_bundle_bytes(&f.vault, data, key(), &dry_opts);
    assert_eq!(f.vault.count_records().unwrap(), 0, "dry run must not write");
    assert_eq!(f.vault.log_len().unwrap(), 0, "dry run must not log");

    let real = import_bundle_bytes(&f.vault, data, key(), &ImportOptions::default());
    match (&dry, &real) {
        (Ok(d), Ok(r)) => {
            assert_eq!(
                (d.records, d.new, d.updated, d.unchanged),
                (r.records, r.new, r.updated, r.unchanged),
                "the dry run predicts the import"
            );
            assert_eq!(f.vault.count_records().unwrap(), r.new, "stored what it reported");
        }
        (Err(d), Err(r)) => {
            assert_eq!(d.code(), r.code(), "the dry run fails as the import does: {d} / {r}");
            assert_eq!(f.vault.count_records().unwrap(), 0, "a rejected import wrote");
            assert_eq!(f.vault.log_len().unwrap(), 0, "a rejected import logged");
        }
        (d, r) => panic!("the dry run ({d:?}) and the import ({r:?}) disagree"),
    }
    if real.is_ok() {
        f.reset();
    }
});
