//! The vault's key file (`trove.key`): the data key wrapped by the passphrase
//! (Argon2id → XChaCha20-Poly1305) and by the recovery key (age X25519).

use std::io::{Read, Write};
use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::secret::{DataKey, Passphrase, RecoveryKey};

/// The key file's format tag; a different tag is refused.
pub const KEYFILE_FORMAT: &str = "trove-key/1";

/// Argon2id parameters, stored in the key file so they can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB (at least 64 MiB).
    pub m_cost_kib: u32,
    /// Passes over memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// The minimum accepted memory cost: 64 MiB.
    pub const MIN_M_COST_KIB: u32 = 64 * 1024;

    /// Parameters for new vaults and passphrase changes: 64 MiB, 6 passes, ~0.4 s on an
    /// idle 2-core EPYC, up to ~1.1 s when it is busy (docs/benchmarks.md). Four passes
    /// took 0.26 s idle: below the 0.3 s floor.
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost_kib: 64 * 1024,
        t_cost: 6,
        p_cost: 1,
    };

    fn validate(&self) -> Result<()> {
        // Upper caps stop a crafted key file from making unlock take hours or all memory.
        let ok = (Self::MIN_M_COST_KIB..=4 * 1024 * 1024).contains(&self.m_cost_kib)
            && (1..=64).contains(&self.t_cost)
            && (1..=16).contains(&self.p_cost);
        if ok {
            Ok(())
        } else {
            Err(Error::KeyFileDamaged(format!(
                "unacceptable key derivation parameters {self:?}"
            )))
        }
    }
}

#[derive(Serialize, Deserialize)]
struct PassphraseSlot {
    kdf: String,
    params: KdfParams,
    salt: String,
    nonce: String,
    wrapped_key: String,
}

#[derive(Serialize, Deserialize)]
struct RecoverySlot {
    /// The age recipient (`age1…`) the data key is encrypted to.
    recipient: String,
    /// The age ciphertext of the data key, base64.
    wrapped_key: String,
}

/// The parsed key file. Holds only wrapped keys; nothing in it opens the vault alone.
#[derive(Serialize, Deserialize)]
pub struct KeyFile {
    format: String,
    /// A random id of this vault (names its keyring entry; not secret).
    pub vault_id: String,
    /// When the vault was created.
    pub created_at: String,
    /// True when the data key is kept in the OS keyring (`trove remember`).
    #[serde(default)]
    pub remembered: bool,
    passphrase: PassphraseSlot,
    recovery: RecoverySlot,
}

impl KeyFile {
    /// A new key file for `key`, wrapped by `passphrase` and by a fresh recovery key.
    pub fn new(
        key: &DataKey,
        passphrase: &Passphrase,
        params: KdfParams,
    ) -> Result<(Self, RecoveryKey)> {
        let vault_id = ulid::Ulid::new().to_string();
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let recovery = RecoverySlot {
            recipient: recipient.to_string(),
            wrapped_key: B64.encode(age_wrap(key, &recipient)?),
        };
        let passphrase = wrap_with_passphrase(key, passphrase, params, &vault_id)?;
        Ok((
            KeyFile {
                format: KEYFILE_FORMAT.into(),
                vault_id,
                created_at: crate::now_rfc3339(),
                remembered: false,
                passphrase,
                recovery,
            },
            RecoveryKey::from_identity(&identity),
        ))
    }

    /// Reads and checks the key file at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::io(format!("can't read {}", path.display()), e))?;
        let kf: KeyFile = serde_json::from_slice(&bytes).map_err(|e| {
            Error::KeyFileDamaged(format!("{} is not a Trove key file ({e})", path.display()))
        })?;
        if kf.format != KEYFILE_FORMAT {
            return Err(Error::UnsupportedVersion(format!(
                "key file format {:?}",
                kf.format
            )));
        }
        if kf.passphrase.kdf != "argon2id" {
            return Err(Error::UnsupportedVersion(format!(
                "key derivation {:?}",
                kf.passphrase.kdf
            )));
        }
        kf.passphrase.params.validate()?;
        Ok(kf)
    }

    /// Writes the key file atomically (temp, fsync, rename, fsync dir).
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("key file serializes");
        write_atomic(path, &json)
    }

    /// The Argon2id parameters of the passphrase slot.
    pub fn kdf_params(&self) -> KdfParams {
        self.passphrase.params
    }

    /// Unwraps the data key with the passphrase. A wrong passphrase fails the AEAD tag.
    pub fn unwrap_with_passphrase(&self, passphrase: &Passphrase) -> Result<DataKey> {
        let slot = &self.passphrase;
        let salt = decode(&slot.salt)?;
        let nonce = decode(&slot.nonce)?;
        let ct = decode(&slot.wrapped_key)?;
        if nonce.len() != 24 {
            return Err(Error::KeyFileDamaged("bad nonce length".into()));
        }
        let kek = derive_kek(passphrase, &salt, slot.params)?;
        let cipher = XChaCha20Poly1305::new((&*kek).into());
        let mut plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &ct,
                        aad: self.aad().as_bytes(),
                    },
                )
                .map_err(|_| Error::WrongPassphrase)?,
        );
        DataKey::from_bytes(&mut plain)
            .ok_or_else(|| Error::KeyFileDamaged("wrapped key has the wrong length".into()))
    }

    /// Unwraps the data key with the recovery key.
    pub fn unwrap_with_recovery(&self, recovery: &RecoveryKey) -> Result<DataKey> {
        let identity: age::x25519::Identity = recovery
            .expose_secret()
            .parse()
            .map_err(|_| Error::WrongRecoveryKey)?;
        if identity.to_public().to_string() != self.recovery.recipient {
            return Err(Error::WrongRecoveryKey);
        }
        let ct = decode(&self.recovery.wrapped_key)?;
        let decryptor = age::Decryptor::new_buffered(&ct[..])
            .map_err(|e| Error::KeyFileDamaged(format!("recovery slot: {e}")))?;
        let mut reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|_| Error::WrongRecoveryKey)?;
        let mut plain = Zeroizing::new(Vec::with_capacity(32));
        reader
            .read_to_end(&mut plain)
            .map_err(|e| Error::KeyFileDamaged(format!("recovery slot: {e}")))?;
        DataKey::from_bytes(&mut plain)
            .ok_or_else(|| Error::KeyFileDamaged("wrapped key has the wrong length".into()))
    }

    /// Rewraps the data key under a new passphrase (fresh salt and nonce). The database is
    /// not touched: changing the passphrase is instant apart from the KDF.
    pub fn rewrap_passphrase(
        &mut self,
        key: &DataKey,
        new: &Passphrase,
        params: KdfParams,
    ) -> Result<()> {
        self.passphrase = wrap_with_passphrase(key, new, params, &self.vault_id)?;
        Ok(())
    }

    fn aad(&self) -> String {
        aad(&self.vault_id)
    }
}

fn aad(vault_id: &str) -> String {
    format!("{KEYFILE_FORMAT} passphrase {vault_id}")
}

fn wrap_with_passphrase(
    key: &DataKey,
    passphrase: &Passphrase,
    params: KdfParams,
    vault_id: &str,
) -> Result<PassphraseSlot> {
    if passphrase.is_empty() {
        return Err(Error::EmptyPassphrase);
    }
    params.validate()?;
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let kek = derive_kek(passphrase, &salt, params)?;
    let cipher = XChaCha20Poly1305::new((&*kek).into());
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: key.expose_secret(),
                aad: aad(vault_id).as_bytes(),
            },
        )
        .map_err(|_| Error::InvalidInput("key wrapping failed".into()))?;
    Ok(PassphraseSlot {
        kdf: "argon2id".into(),
        params,
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        wrapped_key: B64.encode(ct),
    })
}

fn derive_kek(passphrase: &Passphrase, salt: &[u8], p: KdfParams) -> Result<Zeroizing<[u8; 32]>> {
    let params = Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(32))
        .map_err(|e| Error::KeyFileDamaged(format!("key derivation parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.expose_secret().as_bytes(), salt, &mut out[..])
        .map_err(|e| Error::KeyFileDamaged(format!("key derivation: {e}")))?;
    Ok(out)
}

fn age_wrap(key: &DataKey, recipient: &age::x25519::Recipient) -> Result<Vec<u8>> {
    let enc = age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
        .map_err(|e| Error::InvalidInput(format!("recovery slot: {e}")))?;
    let mut out = Vec::new();
    let mut w = enc
        .wrap_output(&mut out)
        .map_err(|e| Error::io("recovery slot", e))?;
    w.write_all(key.expose_secret())
        .map_err(|e| Error::io("recovery slot", e))?;
    w.finish().map_err(|e| Error::io("recovery slot", e))?;
    Ok(out)
}

fn decode(s: &str) -> Result<Vec<u8>> {
    B64.decode(s)
        .map_err(|_| Error::KeyFileDamaged("bad base64".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests use the minimum memory cost with one pass; the format is the same.
    const FAST: KdfParams = KdfParams {
        m_cost_kib: KdfParams::MIN_M_COST_KIB,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn passphrase_and_recovery_unwrap_the_same_key() {
        let key = DataKey::generate();
        let (kf, rk) = KeyFile::new(&key, &Passphrase::new("pw one".into()), FAST).unwrap();
        let a = kf
            .unwrap_with_passphrase(&Passphrase::new("pw one".into()))
            .unwrap();
        let b = kf.unwrap_with_recovery(&rk).unwrap();
        assert_eq!(a.expose_secret(), key.expose_secret());
        assert_eq!(b.expose_secret(), key.expose_secret());
        assert!(rk.expose_secret().starts_with("AGE-SECRET-KEY-1"));
    }

    #[test]
    fn wrong_secrets_are_told_apart() {
        let key = DataKey::generate();
        let (kf, _) = KeyFile::new(&key, &Passphrase::new("right".into()), FAST).unwrap();
        assert!(matches!(
            kf.unwrap_with_passphrase(&Passphrase::new("wrong".into())),
            Err(Error::WrongPassphrase)
        ));
        let other = RecoveryKey::from_identity(&age::x25519::Identity::generate());
        assert!(matches!(
            kf.unwrap_with_recovery(&other),
            Err(Error::WrongRecoveryKey)
        ));
        assert!(matches!(
            kf.unwrap_with_recovery(&RecoveryKey::new("nonsense".into())),
            Err(Error::WrongRecoveryKey)
        ));
    }

    #[test]
    fn rewrap_changes_passphrase_not_key() {
        let key = DataKey::generate();
        let (mut kf, _) = KeyFile::new(&key, &Passphrase::new("old".into()), FAST).unwrap();
        kf.rewrap_passphrase(&key, &Passphrase::new("new".into()), FAST)
            .unwrap();
        assert!(matches!(
            kf.unwrap_with_passphrase(&Passphrase::new("old".into())),
            Err(Error::WrongPassphrase)
        ));
        assert_eq!(
            kf.unwrap_with_passphrase(&Passphrase::new("new".into()))
                .unwrap()
                .expose_secret(),
            key.expose_secret()
        );
    }

    #[test]
    fn crafted_kdf_parameters_are_refused_before_deriving() {
        let key = DataKey::generate();
        let (kf, _) = KeyFile::new(&key, &Passphrase::new("pw".into()), FAST).unwrap();
        let mut v: serde_json::Value = serde_json::to_value(&kf).unwrap();
        v["passphrase"]["params"]["m_cost_kib"] = 1024.into();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trove.key");
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(matches!(KeyFile::read(&p), Err(Error::KeyFileDamaged(_))));
    }

    #[test]
    fn empty_passphrase_is_refused() {
        let key = DataKey::generate();
        assert!(matches!(
            KeyFile::new(&key, &Passphrase::new(String::new()), FAST),
            Err(Error::EmptyPassphrase)
        ));
    }
}
