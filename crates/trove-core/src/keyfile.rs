//! The vault's key file (`trove.key`): the data key wrapped by the passphrase
//! (Argon2id → XChaCha20-Poly1305) and by the recovery key (age X25519).
//!
//! Format 2 binds the Argon2id parameters into the wrapped key's associated data, so
//! they are authenticated with it; format 1 files (no parameters in the associated data)
//! still open and become format 2 at the next passphrase change. Parameters outside
//! tight bounds are refused before anything is derived: the worst file Trove accepts
//! unlocks in seconds (docs/benchmarks.md), and a crafted one is named as such, not as a
//! wrong passphrase.

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

/// The key file's format tag, written by this version.
pub const KEYFILE_FORMAT: &str = "trove-key/2";
/// The previous format (KDF parameters not in the associated data); still read.
pub const KEYFILE_FORMAT_V1: &str = "trove-key/1";

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
    /// The largest accepted memory cost: 256 MiB.
    pub const MAX_M_COST_KIB: u32 = 256 * 1024;
    /// The most accepted passes.
    pub const MAX_T_COST: u32 = 20;
    /// The most accepted lanes (the derivation runs them on one thread).
    pub const MAX_P_COST: u32 = 4;

    /// The floor of new parameters: 64 MiB, 6 passes (~0.25–0.45 s on the build
    /// machines). New vaults and passphrase changes use [`KdfParams::for_new_key`],
    /// which calibrates upwards from here.
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost_kib: 64 * 1024,
        t_cost: 6,
        p_cost: 1,
    };

    /// What a derivation for a new key should cost on this machine.
    pub const CALIBRATION_TARGET: std::time::Duration = std::time::Duration::from_millis(500);

    /// The parameters of test vaults: 8 KiB, one pass, one lane (microseconds), written
    /// and accepted only under [`insecure_fast_kdf_for_tests`].
    pub const INSECURE_FOR_TESTS: KdfParams = KdfParams {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };

    /// The parameters for a new passphrase slot (`init`, passphrase change, recovery):
    /// [`KdfParams::calibrate`] to [`KdfParams::CALIBRATION_TARGET`], or
    /// [`KdfParams::INSECURE_FOR_TESTS`] under [`insecure_fast_kdf_for_tests`].
    pub fn for_new_key() -> KdfParams {
        if insecure_fast_kdf_for_tests() {
            return Self::INSECURE_FOR_TESTS;
        }
        Self::calibrate(Self::CALIBRATION_TARGET).params
    }

    /// Finds the passes for one derivation to take at least `target` here: memory fixed
    /// at 64 MiB and one lane; times one and two passes, estimates, then raises the
    /// passes until a derivation takes `target` (never below [`KdfParams::DEFAULT`],
    /// never above [`KdfParams::MAX_T_COST`]).
    pub fn calibrate(target: std::time::Duration) -> Calibration {
        let time = |t_cost: u32| {
            let p = KdfParams {
                t_cost,
                ..Self::DEFAULT
            };
            let start = std::time::Instant::now();
            let _ = derive_kek(&Passphrase::new("calibration".into()), &[0u8; 16], p);
            start.elapsed()
        };
        let one = time(1);
        let two = time(2);
        let per_pass = two
            .saturating_sub(one)
            .max(std::time::Duration::from_millis(1));
        let fixed = one.saturating_sub(per_pass);
        let est = (target.saturating_sub(fixed).as_secs_f64() / per_pass.as_secs_f64()).ceil();
        let mut t_cost = (est as u32).clamp(Self::DEFAULT.t_cost, Self::MAX_T_COST);
        let mut took = time(t_cost);
        while took < target && t_cost < Self::MAX_T_COST {
            t_cost += 1;
            took = time(t_cost);
        }
        Calibration {
            params: KdfParams {
                t_cost,
                ..Self::DEFAULT
            },
            took,
            one_pass: one,
        }
    }

    fn validate(&self) -> Result<()> {
        // Caps stop a crafted key file from making unlock take minutes or all memory.
        let min_m_cost_kib = if insecure_fast_kdf_for_tests() {
            Self::INSECURE_FOR_TESTS.m_cost_kib
        } else {
            Self::MIN_M_COST_KIB
        };
        let ok = (min_m_cost_kib..=Self::MAX_M_COST_KIB).contains(&self.m_cost_kib)
            && (1..=Self::MAX_T_COST).contains(&self.t_cost)
            && (1..=Self::MAX_P_COST).contains(&self.p_cost);
        if ok {
            Ok(())
        } else {
            Err(Error::KeyFileDamaged(format!(
                "damaged or crafted: its key derivation parameters (memory {} KiB, {} passes, \
                 {} lanes) are outside what Trove accepts ({}–{} KiB, 1–{} passes, 1–{} \
                 lanes); nothing was derived",
                self.m_cost_kib,
                self.t_cost,
                self.p_cost,
                Self::MIN_M_COST_KIB,
                Self::MAX_M_COST_KIB,
                Self::MAX_T_COST,
                Self::MAX_P_COST
            )))
        }
    }
}

/// Debug builds only: true when `TROVE_INSECURE_FAST_KDF_FOR_TESTS` is set. Test suites
/// set it so that `trove init` writes [`KdfParams::INSECURE_FOR_TESTS`] and every unlock
/// of such a vault costs microseconds instead of an Argon2id pass over 64 MiB (the CLI
/// crash test then kills adds in their commits, not in their unlock). A release build
/// compiles this to `false`: it never reads the variable, never writes weak parameters
/// and refuses a key file that has them.
pub fn insecure_fast_kdf_for_tests() -> bool {
    #[cfg(debug_assertions)]
    {
        std::env::var_os("TROVE_INSECURE_FAST_KDF_FOR_TESTS").is_some()
    }
    #[cfg(not(debug_assertions))]
    {
        false
    }
}

/// What [`KdfParams::calibrate`] chose and measured.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    pub params: KdfParams,
    /// One derivation with `params`.
    pub took: std::time::Duration,
    /// One derivation with one pass.
    pub one_pass: std::time::Duration,
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
        let passphrase = wrap_with_passphrase(key, passphrase, params, &vault_id, KEYFILE_FORMAT)?;
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
        if kf.format != KEYFILE_FORMAT && kf.format != KEYFILE_FORMAT_V1 {
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

    /// The format tag of this file (`trove-key/1` until its passphrase slot is rewrapped).
    pub fn format(&self) -> &str {
        &self.format
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
                        aad: aad(&self.format, &self.vault_id, slot.params).as_bytes(),
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

    /// Rewraps the data key under a new passphrase (fresh salt and nonce), in the current
    /// format (a format 1 file is upgraded here). The database is not touched: changing
    /// the passphrase is instant apart from the KDF.
    pub fn rewrap_passphrase(
        &mut self,
        key: &DataKey,
        new: &Passphrase,
        params: KdfParams,
    ) -> Result<()> {
        self.passphrase = wrap_with_passphrase(key, new, params, &self.vault_id, KEYFILE_FORMAT)?;
        self.format = KEYFILE_FORMAT.into();
        Ok(())
    }
}

/// The associated data of the passphrase slot: format 2 authenticates the KDF and its
/// parameters along with the vault id; format 1 had only the id.
fn aad(format: &str, vault_id: &str, p: KdfParams) -> String {
    if format == KEYFILE_FORMAT_V1 {
        format!("{KEYFILE_FORMAT_V1} passphrase {vault_id}")
    } else {
        format!(
            "{format} passphrase {vault_id} argon2id m={} t={} p={}",
            p.m_cost_kib, p.t_cost, p.p_cost
        )
    }
}

fn wrap_with_passphrase(
    key: &DataKey,
    passphrase: &Passphrase,
    params: KdfParams,
    vault_id: &str,
    format: &str,
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
                aad: aad(format, vault_id, params).as_bytes(),
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

    /// L4: parameters inside the old bounds (up to 4 GiB, 64 passes) made one unlock
    /// take minutes and gigabytes, and the failure read "wrong passphrase". Now the
    /// bounds are tight and a file outside them is named damaged or crafted, before
    /// anything is derived.
    #[test]
    fn kdf_parameters_beyond_the_bounds_are_refused_as_crafted_l4() {
        let key = DataKey::generate();
        let (kf, _) = KeyFile::new(&key, &Passphrase::new("pw".into()), FAST).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trove.key");
        for (field, value) in [
            ("m_cost_kib", 1024 * 1024),
            ("m_cost_kib", KdfParams::MAX_M_COST_KIB + 1),
            ("t_cost", 64),
            ("t_cost", KdfParams::MAX_T_COST + 1),
            ("p_cost", 16),
        ] {
            let mut v: serde_json::Value = serde_json::to_value(&kf).unwrap();
            v["passphrase"]["params"][field] = value.into();
            std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
            let start = std::time::Instant::now();
            let e = KeyFile::read(&p)
                .err()
                .unwrap_or_else(|| panic!("{field} = {value} was accepted"));
            assert!(start.elapsed() < std::time::Duration::from_secs(1));
            assert_eq!(e.code(), "key_file_damaged", "{e}");
            assert!(e.to_string().contains("damaged or crafted"), "{e}");
        }
        // The largest accepted file is still read.
        let mut v: serde_json::Value = serde_json::to_value(&kf).unwrap();
        v["passphrase"]["params"] = serde_json::json!({
            "m_cost_kib": KdfParams::MAX_M_COST_KIB,
            "t_cost": KdfParams::MAX_T_COST,
            "p_cost": KdfParams::MAX_P_COST,
        });
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(KeyFile::read(&p).is_ok());
    }

    /// Format 2 authenticates the KDF parameters: the wrapped key opens only with the
    /// associated data that names them.
    #[test]
    fn format_2_binds_the_kdf_parameters_into_the_associated_data() {
        let key = DataKey::generate();
        let pw = Passphrase::new("pw".into());
        let (kf, _) = KeyFile::new(&key, &pw, FAST).unwrap();
        assert_eq!(kf.format(), KEYFILE_FORMAT);
        let slot = &kf.passphrase;
        let kek = derive_kek(&pw, &decode(&slot.salt).unwrap(), slot.params).unwrap();
        let cipher = XChaCha20Poly1305::new((&*kek).into());
        let open = |aad: String| {
            cipher
                .decrypt(
                    XNonce::from_slice(&decode(&slot.nonce).unwrap()),
                    Payload {
                        msg: &decode(&slot.wrapped_key).unwrap(),
                        aad: aad.as_bytes(),
                    },
                )
                .is_ok()
        };
        assert!(open(aad(KEYFILE_FORMAT, &kf.vault_id, FAST)));
        assert!(!open(aad(KEYFILE_FORMAT_V1, &kf.vault_id, FAST)));
        let other = KdfParams { t_cost: 2, ..FAST };
        assert!(!open(aad(KEYFILE_FORMAT, &kf.vault_id, other)));
    }

    #[test]
    fn format_1_files_still_open_and_upgrade_at_the_next_passphrase_change() {
        let key = DataKey::generate();
        let pw = Passphrase::new("old".into());
        let (mut kf, rk) = KeyFile::new(&key, &pw, FAST).unwrap();
        kf.passphrase =
            wrap_with_passphrase(&key, &pw, FAST, &kf.vault_id, KEYFILE_FORMAT_V1).unwrap();
        kf.format = KEYFILE_FORMAT_V1.into();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trove.key");
        kf.write(&p).unwrap();
        let mut kf = KeyFile::read(&p).unwrap();
        assert_eq!(kf.format(), KEYFILE_FORMAT_V1);
        let got = kf.unwrap_with_passphrase(&pw).unwrap();
        assert_eq!(got.expose_secret(), key.expose_secret());
        kf.rewrap_passphrase(&got, &Passphrase::new("new".into()), FAST)
            .unwrap();
        kf.write(&p).unwrap();
        let kf = KeyFile::read(&p).unwrap();
        assert_eq!(kf.format(), KEYFILE_FORMAT, "upgraded at the change");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["format"], KEYFILE_FORMAT);
        assert_eq!(
            kf.unwrap_with_passphrase(&Passphrase::new("new".into()))
                .unwrap()
                .expose_secret(),
            key.expose_secret()
        );
        assert!(kf.unwrap_with_recovery(&rk).is_ok());
    }

    #[test]
    fn calibration_reaches_its_target_within_the_bounds() {
        let target = std::time::Duration::from_millis(200);
        let c = KdfParams::calibrate(target);
        eprintln!(
            "calibration to {target:?}: {:?} took {:?} (one pass {:?})",
            c.params, c.took, c.one_pass
        );
        c.params.validate().unwrap();
        assert_eq!(c.params.m_cost_kib, KdfParams::DEFAULT.m_cost_kib);
        assert!(c.params.t_cost >= KdfParams::DEFAULT.t_cost);
        assert!(c.took >= target || c.params.t_cost == KdfParams::MAX_T_COST);
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
