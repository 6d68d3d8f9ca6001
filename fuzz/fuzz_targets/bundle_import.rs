//! Bundle import from bytes (plain tar, or age to a fixed identity): any input is imported
//! or rejected with a typed error, never a panic; a rejected import leaves the vault as it was.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trove_core::bundle::{import_bundle_bytes, BundleKey, ImportOptions};
use trove_core::{KdfParams, Passphrase, Vault};

struct Fixture {
    _dir: tempfile::TempDir,
    vault: Vault,
    ids: Vec<Box<dyn age::Identity + Send + Sync>>,
}

struct Shared(std::sync::Mutex<Fixture>);

fn fixture() -> &'static Shared {
    static F: OnceLock<Shared> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let params = KdfParams {
            m_cost_kib: KdfParams::MIN_M_COST_KIB,
            t_cost: 1,
            p_cost: 1,
        };
        let (vault, _) =
            Vault::create_with(&dir.path().join("v"), &Passphrase::new("pw".into()), params).unwrap();
        let id: age::x25519::Identity =
            "AGE-SECRET-KEY-1AJ4PQMW55Y6E3CLLJ5KCPRAQTC3TLVLEL0949MU32YA3WX38ED6Q08JW6L"
                .parse()
                .unwrap();
        Shared(std::sync::Mutex::new(Fixture {
            _dir: dir,
            vault,
            ids: vec![Box::new(id)],
        }))
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture().0.lock().unwrap();
    let key = if data.first().is_some_and(|b| b & 1 == 1) {
        BundleKey::Identities(&f.ids)
    } else {
        BundleKey::None
    };
    let opts = ImportOptions {
        dry_run: true,
        ..Default::default()
    };
    let _ = import_bundle_bytes(&f.vault, data, key, &opts);
    assert_eq!(f.vault.count_records().unwrap(), 0, "dry run must not write");
});
