//! The recovery kit: the recovery key with what a person needs to use it years later
//! (which vault, when it was made, how to recover), as a text file to keep or print.
//! The key is grouped for reading aloud and typing from paper; recovery ignores spaces.

use std::path::Path;

use zeroize::Zeroizing;

use crate::error::Result;
use crate::secret::RecoveryKey;
use crate::vault::VaultInfo;

/// Characters per group when the key is shown for reading.
pub const GROUP: usize = 4;

/// The key in groups of [`GROUP`] after its `AGE-SECRET-KEY-1` prefix, for reading.
pub fn grouped(key: &RecoveryKey) -> Zeroizing<String> {
    let text = key.expose_secret();
    let (prefix, body) = text.split_at(text.find('1').map_or(0, |i| i + 1));
    let mut out = Zeroizing::new(String::with_capacity(text.len() * 2));
    out.push_str(prefix);
    for (i, c) in body.chars().enumerate() {
        if i % GROUP == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The kit's text: the grouped key, the vault it opens, the date, and how to use it.
pub fn text(key: &RecoveryKey, vault: &VaultInfo, today: &str) -> Zeroizing<String> {
    let mut t = Zeroizing::new(String::new());
    t.push_str("TROVE RECOVERY KIT\n\n");
    t.push_str("This key opens your Trove vault if you forget its passphrase.\n");
    t.push_str("Keep it somewhere safe and away from the computer: anyone who has it and a\n");
    t.push_str("copy of the vault can read everything in it.\n\n");
    t.push_str("Recovery key:\n\n    ");
    t.push_str(&grouped(key));
    t.push_str("\n\n");
    t.push_str(&format!("Vault:      {}\n", vault.path.display()));
    t.push_str(&format!("Vault id:   {}\n", vault.vault_id));
    t.push_str(&format!("Created:    {}\n", vault.created_at));
    t.push_str(&format!("Kit saved:  {today}\n\n"));
    t.push_str("To use it: in the Trove app, choose \"Use your recovery key\" on the unlock\n");
    t.push_str("screen; or run `trove recover` and type the key when asked (spaces are\n");
    t.push_str("ignored). You then choose a new passphrase; this key keeps working.\n");
    t
}

/// Writes the kit to `path` atomically, readable only by this user (mode 0600).
pub fn write(path: &Path, key: &RecoveryKey, vault: &VaultInfo) -> Result<()> {
    let today = crate::now_rfc3339();
    crate::fsutil::write_atomic(path, text(key, vault, &today[..10]).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> VaultInfo {
        VaultInfo {
            path: "/home/ana/.local/share/trove/vault".into(),
            vault_id: "01JVAULTID".into(),
            created_at: "2026-12-02T10:00:00.000Z".into(),
            remembered: false,
            kdf: crate::KdfParams::DEFAULT,
        }
    }

    #[test]
    fn the_grouped_key_reads_back_as_the_same_key() {
        let key = RecoveryKey::from_identity(&age::x25519::Identity::generate());
        let g = grouped(&key);
        assert!(g.starts_with("AGE-SECRET-KEY-1 "), "{}", g.as_str());
        assert!(
            g.split(' ').skip(1).all(|grp| grp.len() <= GROUP),
            "groups of {GROUP}"
        );
        let typed = RecoveryKey::new(g.to_lowercase());
        assert_eq!(typed.expose_secret(), key.expose_secret());
    }

    #[test]
    fn the_kit_names_the_vault_and_how_to_use_the_key() {
        let key = RecoveryKey::from_identity(&age::x25519::Identity::generate());
        let t = text(&key, &info(), "2026-12-02");
        for want in [
            grouped(&key).as_str(),
            "01JVAULTID",
            "/home/ana/.local/share/trove/vault",
            "2026-12-02",
            "trove recover",
        ] {
            assert!(t.contains(want), "kit lacks {want:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_kit_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trove-recovery-kit.txt");
        let key = RecoveryKey::from_identity(&age::x25519::Identity::generate());
        write(&path, &key, &info()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains(grouped(&key).as_str()));
    }
}
