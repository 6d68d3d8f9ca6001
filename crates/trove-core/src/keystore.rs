//! "Remember this device": keeping the data key in the OS keyring (Secret Service on
//! Linux). Every failure becomes `Error::Keyring` with a clear reason, and callers fall
//! back to the passphrase. There is no file fallback.

use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::DataKey;

/// The keyring service name under which Trove stores data keys.
pub const KEYRING_SERVICE: &str = "trove";

/// Where a remembered data key lives. The OS keyring in the product; an in-memory store
/// in tests so that no test touches the person's real keyring.
pub trait KeyStore: Send + Sync {
    /// Stores the key for the vault `vault_id`, replacing any earlier one.
    fn store(&self, vault_id: &str, key: &DataKey) -> Result<()>;
    /// Loads the key, or `Error::NotRemembered` when there is none.
    fn load(&self, vault_id: &str) -> Result<DataKey>;
    /// Deletes the key; deleting a missing key is not an error.
    fn delete(&self, vault_id: &str) -> Result<()>;
}

/// The OS keyring through keyring-core (Secret Service over D-Bus on Linux).
#[derive(Debug, Default)]
pub struct OsKeyring;

impl OsKeyring {
    fn entry(vault_id: &str) -> Result<keyring_core::Entry> {
        use keyring_core::api::CredentialStoreApi;
        let store = zbus_secret_service_keyring_store::Store::new().map_err(keyring_error)?;
        store
            .build(KEYRING_SERVICE, &format!("vault-{vault_id}"), None)
            .map_err(keyring_error)
    }
}

impl KeyStore for OsKeyring {
    fn store(&self, vault_id: &str, key: &DataKey) -> Result<()> {
        let hex = Zeroizing::new(hex::encode(key.expose_secret()));
        Self::entry(vault_id)?
            .set_secret(hex.as_bytes())
            .map_err(keyring_error)
    }

    fn load(&self, vault_id: &str) -> Result<DataKey> {
        let secret = Zeroizing::new(Self::entry(vault_id)?.get_secret().map_err(|e| match e {
            keyring_core::Error::NoEntry => Error::NotRemembered,
            e => keyring_error(e),
        })?);
        let mut bytes = Zeroizing::new(
            hex::decode(&*secret)
                .map_err(|_| Error::Keyring("the stored key is malformed".into()))?,
        );
        DataKey::from_bytes(&mut bytes)
            .ok_or_else(|| Error::Keyring("the stored key is malformed".into()))
    }

    fn delete(&self, vault_id: &str) -> Result<()> {
        match Self::entry(vault_id)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    }
}

/// Turns keyring-core's errors into one clear sentence each.
fn keyring_error(e: keyring_core::Error) -> Error {
    use keyring_core::Error as K;
    let text = e.to_string();
    let reason = match &e {
        K::NoStorageAccess(_) => "the keyring is locked or access was refused".to_string(),
        K::NoEntry => "no key is stored for this vault".to_string(),
        _ if text.contains("ServiceUnknown") || text.contains("org.freedesktop.secrets") => {
            "no Secret Service is running (install and unlock gnome-keyring or KeePassXC)"
                .to_string()
        }
        _ if text.contains("dbus")
            || text.contains("D-Bus")
            || text.contains("DBUS")
            || text.contains("address") =>
        {
            "no D-Bus session is reachable".to_string()
        }
        _ if text.to_lowercase().contains("locked") || text.contains("Prompt") => {
            "the keyring is locked".to_string()
        }
        _ => text,
    };
    Error::Keyring(reason)
}

/// An in-process key store for tests and for the desktop app's test mode. It forgets
/// everything when dropped and never writes to disk.
#[derive(Default)]
pub struct MemoryKeyStore {
    keys: Mutex<Vec<(String, DataKey)>>,
    /// When set, every call fails like an unreachable keyring.
    pub unavailable: bool,
}

impl MemoryKeyStore {
    /// A store that answers every call with a keyring error.
    pub fn unavailable() -> Self {
        MemoryKeyStore {
            keys: Mutex::default(),
            unavailable: true,
        }
    }

    fn check(&self) -> Result<()> {
        if self.unavailable {
            Err(Error::Keyring("no Secret Service is running".into()))
        } else {
            Ok(())
        }
    }
}

impl KeyStore for MemoryKeyStore {
    fn store(&self, vault_id: &str, key: &DataKey) -> Result<()> {
        self.check()?;
        let mut keys = self.keys.lock().expect("key store lock");
        keys.retain(|(id, _)| id != vault_id);
        keys.push((vault_id.to_string(), key.duplicate()));
        Ok(())
    }

    fn load(&self, vault_id: &str) -> Result<DataKey> {
        self.check()?;
        let keys = self.keys.lock().expect("key store lock");
        keys.iter()
            .find(|(id, _)| id == vault_id)
            .map(|(_, k)| k.duplicate())
            .ok_or(Error::NotRemembered)
    }

    fn delete(&self, vault_id: &str) -> Result<()> {
        self.check()?;
        self.keys
            .lock()
            .expect("key store lock")
            .retain(|(id, _)| id != vault_id);
        Ok(())
    }
}
