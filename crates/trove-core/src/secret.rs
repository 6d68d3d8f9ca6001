//! Secret values: the passphrase, the vault's data key, the recovery key and share tokens.
//! None of them is `Clone` or `Serialize`; `Debug` prints `***`; memory is zeroized on drop.

use std::fmt;

use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// A passphrase typed by the person. Never logged, never stored.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase. Trailing newlines (from a file or a pipe) are not part of it.
    pub fn new(mut s: String) -> Self {
        while s.ends_with('\n') || s.ends_with('\r') {
            s.pop();
        }
        Passphrase(Zeroizing::new(s))
    }

    /// The passphrase bytes, for the KDF only.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// True when the passphrase is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(***)")
    }
}

/// The random 256-bit key that opens the SQLCipher database.
pub struct DataKey(Box<[u8; 32]>);

impl DataKey {
    /// A fresh random key from the OS RNG.
    pub fn generate() -> Self {
        let mut k = Box::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut k[..]);
        DataKey(k)
    }

    /// Takes a key from bytes; the input is zeroized.
    pub fn from_bytes(bytes: &mut [u8]) -> Option<Self> {
        if bytes.len() != 32 {
            bytes.zeroize();
            return None;
        }
        let mut k = Box::new([0u8; 32]);
        k.copy_from_slice(bytes);
        bytes.zeroize();
        Some(DataKey(k))
    }

    /// The raw key bytes. Handle with care: do not copy them anywhere that outlives this.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// A second handle to the same key, for another connection of the same process.
    /// Deliberately not `Clone`, so copies are visible at the call site.
    pub fn duplicate(&self) -> Self {
        DataKey(Box::new(*self.0))
    }

    /// The SQLCipher `PRAGMA key` value, `x'<hex>'`, in zeroizing memory.
    pub(crate) fn sqlcipher_pragma(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(67));
        s.push_str("x'");
        for b in self.0.iter() {
            use std::fmt::Write;
            let _ = write!(s, "{b:02x}");
        }
        s.push('\'');
        s
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(***)")
    }
}

/// The recovery key shown once at `init`: an age X25519 identity (`AGE-SECRET-KEY-1…`).
pub struct RecoveryKey(Zeroizing<String>);

impl RecoveryKey {
    pub(crate) fn from_identity(identity: &age::x25519::Identity) -> Self {
        use age::secrecy::ExposeSecret;
        RecoveryKey(Zeroizing::new(
            identity.to_string().expose_secret().to_string(),
        ))
    }

    /// Parses a recovery key typed or pasted by the person: letter case and every space
    /// or line break are ignored (the kit shows the key in groups; mail wraps it).
    pub fn new(s: String) -> Self {
        let s = Zeroizing::new(s);
        RecoveryKey(Zeroizing::new(
            s.chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_uppercase)
                .collect(),
        ))
    }

    /// The key text, to show the person once.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secret_material() {
        let p = Passphrase::new("hunter2-correct-horse".into());
        let k = DataKey::generate();
        let hex = hex::encode(k.expose_secret());
        let shown = format!("{p:?} {k:?}");
        assert!(!shown.contains("hunter2"), "passphrase leaked: {shown}");
        assert!(!shown.contains(&hex[..16]), "data key leaked: {shown}");
        assert_eq!(shown, "Passphrase(***) DataKey(***)");
    }

    #[test]
    fn passphrase_from_file_loses_trailing_newline_only() {
        assert_eq!(Passphrase::new(" pw \n".into()).expose_secret(), " pw ");
        assert_eq!(Passphrase::new("pw\r\n".into()).expose_secret(), "pw");
    }

    #[test]
    fn sqlcipher_pragma_is_raw_hex_key() {
        let mut bytes = [0xabu8; 32];
        let k = DataKey::from_bytes(&mut bytes).unwrap();
        assert_eq!(bytes, [0u8; 32], "input bytes must be zeroized");
        let p = k.sqlcipher_pragma();
        assert_eq!(p.len(), 67);
        assert!(p.starts_with("x'abab") && p.ends_with("ab'"));
    }
}
