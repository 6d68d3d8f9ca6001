//! The rollback anchor: how Trove notices a vault older than the one last opened on
//! this computer.
//!
//! Copying an old copy of the vault directory back needs no key, and an old copy is a
//! consistent vault: its hash chain verifies, and in it a revoked grant is active again
//! and later log rows never happened. So the newest log head this computer has seen
//! (sequence number and hash) is kept *outside* the vault directory, in a small file in
//! the config dir, authenticated with a key derived from the vault's data key (so it
//! cannot be forged or moved to another vault). On every unlock the vault's log must
//! still contain that row with that hash: a shorter log, or a different row at that
//! place, is a rollback (or a fork), and Trove says so before serving anything.
//! Restoring a backup is legitimate: accepting it records the restored head.
//!
//! What it cannot detect: a rollback of both the vault and the anchor file (the same
//! local user can copy both back), a rollback on a computer that never opened the newer
//! vault, and the anchor file deleted (the next unlock then starts a new anchor and says
//! so). It detects, without the key, the copy-back attack the review found.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::vault::Vault;

const ANCHOR_SUBKEY: &str = "rollback-anchor";
const FORMAT: u32 = 1;

/// Where anchors are kept: one file per vault id.
#[derive(Debug, Clone)]
pub struct AnchorStore {
    dir: PathBuf,
}

/// A log position: the newest row's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead {
    pub seq: i64,
    pub hash: String,
}

#[derive(Serialize, Deserialize)]
struct AnchorFile {
    format: u32,
    vault_id: String,
    seq: i64,
    hash: String,
    seen_at: String,
    mac: String,
}

/// What the vault's log says against the anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorCheck {
    /// No anchor for this vault on this computer yet (first unlock here, or it was
    /// deleted): the current head becomes the anchor.
    New,
    /// The vault holds the anchored row, unchanged: it is as new as, or newer than,
    /// what this computer saw last.
    Current,
    /// The vault's log ends before the anchored row: an older copy.
    Older {
        anchored: LogHead,
        anchored_at: String,
        vault: Option<LogHead>,
    },
    /// The vault has a row at the anchored place, but another one: a copy that went
    /// another way (an older copy that was used since).
    Diverged {
        anchored: LogHead,
        anchored_at: String,
    },
    /// The anchor file does not verify with this vault's key.
    Untrusted(String),
}

impl AnchorCheck {
    /// Whether the vault may be used without the person accepting it.
    pub fn is_ok(&self) -> bool {
        matches!(self, AnchorCheck::New | AnchorCheck::Current)
    }

    /// The error to show when it may not (`None` when it may).
    pub fn to_error(&self) -> Option<Error> {
        let why = match self {
            AnchorCheck::New | AnchorCheck::Current => return None,
            AnchorCheck::Older {
                anchored,
                anchored_at,
                vault,
            } => format!(
                "its access log ends at entry {}, but entry {} was seen in it on this computer ({anchored_at})",
                vault.as_ref().map(|h| h.seq).unwrap_or(0),
                anchored.seq
            ),
            AnchorCheck::Diverged {
                anchored,
                anchored_at,
            } => format!(
                "its access log entry {} is not the one seen on this computer ({anchored_at}): it is a copy that went another way",
                anchored.seq
            ),
            AnchorCheck::Untrusted(why) => format!("the record of what this computer saw {why}"),
        };
        Some(Error::RolledBack(why))
    }
}

impl AnchorStore {
    /// Anchors under `dir` (one file per vault).
    pub fn at(dir: impl Into<PathBuf>) -> AnchorStore {
        AnchorStore { dir: dir.into() }
    }

    /// The default place: `$XDG_CONFIG_HOME/trove/anchors` (the platform config dir
    /// elsewhere); `None` when the platform has none.
    pub fn default_location() -> Option<AnchorStore> {
        dirs::config_dir().map(|d| AnchorStore::at(d.join("trove").join("anchors")))
    }

    fn path(&self, vault_id: &str) -> Result<PathBuf> {
        if vault_id.is_empty()
            || !vault_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Error::InvalidInput(format!(
                "vault id {vault_id:?} cannot name an anchor file"
            )));
        }
        Ok(self.dir.join(format!("{vault_id}.json")))
    }

    fn read(&self, vault_id: &str) -> Result<Option<AnchorFile>> {
        let path = self.path(vault_id)?;
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, 4096), &mut bytes)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        Ok(serde_json::from_slice(&bytes).ok())
    }
}

fn mac(key: &[u8; 32], vault_id: &str, head: &LogHead, seen_at: &str) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    m.update(
        format!(
            "trove-anchor/{FORMAT}\n{vault_id}\n{}\n{}\n{seen_at}",
            head.seq, head.hash
        )
        .as_bytes(),
    );
    hex::encode(m.finalize().into_bytes())
}

impl Vault {
    /// The newest log row's position, `None` for an empty log.
    pub fn log_head(&self) -> Result<Option<LogHead>> {
        Ok(crate::access_log::head(self.conn())?.map(|(seq, hash)| LogHead { seq, hash }))
    }

    /// Compares this vault with the anchor this computer keeps for it.
    pub fn check_anchor(&self, store: &AnchorStore) -> Result<AnchorCheck> {
        let Some(a) = store.read(self.vault_id())? else {
            return Ok(match store.path(self.vault_id()).map(|p| p.exists()) {
                Ok(true) => AnchorCheck::Untrusted("cannot be read".into()),
                _ => AnchorCheck::New,
            });
        };
        let anchored = LogHead {
            seq: a.seq,
            hash: a.hash.clone(),
        };
        let key = self.derive_subkey(ANCHOR_SUBKEY);
        let want = mac(&key, self.vault_id(), &anchored, &a.seen_at);
        let same = a.format == FORMAT
            && a.vault_id == self.vault_id()
            && constant_time_eq(want.as_bytes(), a.mac.as_bytes());
        if !same {
            return Ok(AnchorCheck::Untrusted(
                "was not made with this vault's key".into(),
            ));
        }
        if anchored.seq == 0 {
            return Ok(AnchorCheck::Current);
        }
        let at = crate::access_log::hash_at(self.conn(), anchored.seq)?;
        Ok(match at {
            Some(h) if h == anchored.hash => AnchorCheck::Current,
            Some(_) => AnchorCheck::Diverged {
                anchored,
                anchored_at: a.seen_at,
            },
            None => AnchorCheck::Older {
                anchored,
                anchored_at: a.seen_at,
                vault: self.log_head()?,
            },
        })
    }

    /// Records this vault's current log head as the newest this computer has seen (after
    /// a good check, when closing, or to accept a restored backup).
    pub fn record_anchor(&self, store: &AnchorStore) -> Result<()> {
        let head = self.log_head()?.unwrap_or(LogHead {
            seq: 0,
            hash: crate::access_log::GENESIS_HASH.into(),
        });
        let seen_at = crate::now_rfc3339();
        let key = self.derive_subkey(ANCHOR_SUBKEY);
        let file = AnchorFile {
            format: FORMAT,
            vault_id: self.vault_id().to_string(),
            mac: mac(&key, self.vault_id(), &head, &seen_at),
            seq: head.seq,
            hash: head.hash,
            seen_at,
        };
        std::fs::create_dir_all(&store.dir)
            .map_err(|e| Error::io(format!("create {}", store.dir.display()), e))?;
        let bytes = serde_json::to_vec_pretty(&file).expect("anchor serializes");
        crate::fsutil::write_atomic(&store.path(self.vault_id())?, &bytes)
    }

    /// What every unlock does before anything is read or served: [`Vault::enforce_anchor`],
    /// then keeps `store` up to date from this handle (the log head is recorded again
    /// when the handle closes: after a command's writes, when the app locks or a server
    /// stops).
    pub fn hold_anchor(&mut self, store: AnchorStore, accept: bool) -> Result<AnchorCheck> {
        let check = self.enforce_anchor(&store, accept)?;
        self.on_close = Some(Box::new(move |v: &Vault| {
            if let Err(e) = v.record_anchor(&store) {
                tracing::warn!(code = %e.code(), "cannot record the vault's rollback anchor");
            }
        }));
        Ok(check)
    }

    /// Checks the anchor and, when the vault is as new as what this computer saw, moves
    /// it to the current head. An older or diverged vault is refused with
    /// [`Error::RolledBack`] (nothing is changed); `accept` records it instead.
    pub fn enforce_anchor(&self, store: &AnchorStore, accept: bool) -> Result<AnchorCheck> {
        let check = self.check_anchor(store)?;
        if let (Some(e), false) = (check.to_error(), accept) {
            return Err(e);
        }
        self.record_anchor(store)?;
        Ok(check)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The anchor file for `vault_id` under `dir` (for tests and diagnostics).
pub fn anchor_path(dir: &Path, vault_id: &str) -> Result<PathBuf> {
    AnchorStore::at(dir).path(vault_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_log::{LogKind, NewLogEntry};
    use crate::vault::tests::new_vault;

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if !e.file_type().unwrap().is_file() {
                continue;
            }
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }

    fn event(v: &Vault) {
        v.log_event(NewLogEntry::new(LogKind::Export)).unwrap();
    }

    #[test]
    fn a_copied_back_older_vault_is_noticed_and_can_be_accepted() {
        let (d, v) = new_vault();
        let anchors = tempfile::tempdir().unwrap();
        let store = AnchorStore::at(anchors.path());
        assert_eq!(v.enforce_anchor(&store, false).unwrap(), AnchorCheck::New);
        event(&v);
        let dir = v.dir().to_path_buf();
        let reopen = || Vault::unlock(&dir, &crate::Passphrase::new("pw".into())).unwrap();
        drop(v);
        // The attacker's old copy, taken now.
        let old = tempfile::tempdir().unwrap();
        copy_dir(&dir, old.path());
        let v = reopen();
        event(&v);
        event(&v);
        assert_eq!(
            v.enforce_anchor(&store, false).unwrap(),
            AnchorCheck::Current
        );
        drop(v);
        // Copy the old vault back over the newer one.
        copy_dir(old.path(), &dir);
        for extra in ["trove.db-wal", "trove.db-shm"] {
            if !old.path().join(extra).exists() {
                let _ = std::fs::remove_file(dir.join(extra));
            }
        }
        let v = reopen();
        assert!(
            v.verify_log().unwrap().ok,
            "an old copy verifies on its own"
        );
        let check = v.check_anchor(&store).unwrap();
        assert!(matches!(check, AnchorCheck::Older { .. }), "{check:?}");
        let err = v.enforce_anchor(&store, false).unwrap_err();
        assert_eq!(err.code(), "vault_rolled_back");
        assert!(err.to_string().contains("ends at entry"), "{err}");
        // Refusing changed nothing: still older.
        assert!(!v.check_anchor(&store).unwrap().is_ok());
        // Using the old copy makes it diverge.
        event(&v);
        event(&v);
        assert!(matches!(
            v.check_anchor(&store).unwrap(),
            AnchorCheck::Diverged { .. }
        ));
        // Accepting it (a restored backup) records it.
        v.enforce_anchor(&store, true).unwrap();
        assert_eq!(v.check_anchor(&store).unwrap(), AnchorCheck::Current);
        drop(d);
    }

    #[test]
    fn a_forged_or_foreign_anchor_is_not_trusted() {
        let (_d, v) = new_vault();
        let (_d2, other) = new_vault();
        let anchors = tempfile::tempdir().unwrap();
        let store = AnchorStore::at(anchors.path());
        event(&v);
        v.record_anchor(&store).unwrap();
        let path = anchor_path(anchors.path(), v.vault_id()).unwrap();
        // Lowering the anchored seq without the key breaks its MAC.
        let text = std::fs::read_to_string(&path).unwrap();
        let forged = text.replace("\"seq\": 1", "\"seq\": 0");
        assert_ne!(forged, text);
        std::fs::write(&path, forged).unwrap();
        assert!(matches!(
            v.check_anchor(&store).unwrap(),
            AnchorCheck::Untrusted(_)
        ));
        // Another vault's anchor, renamed to this vault's id, does not verify either.
        other.record_anchor(&store).unwrap();
        std::fs::copy(
            anchor_path(anchors.path(), other.vault_id()).unwrap(),
            &path,
        )
        .unwrap();
        assert!(matches!(
            v.check_anchor(&store).unwrap(),
            AnchorCheck::Untrusted(_)
        ));
        std::fs::write(&path, b"not json").unwrap();
        assert!(!v.check_anchor(&store).unwrap().is_ok());
    }
}
