//! Share tokens: generation (`trove_` + 256 random bits in base62 + a CRC32 checksum),
//! offline checksum validation, and the keyed hash that is all the vault ever stores.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// Every share token starts with this (secret scanners look for it).
pub const TOKEN_PREFIX: &str = "trove_";
/// Base62 characters that carry the 256 random bits (62^43 > 2^256).
const BODY_LEN: usize = 43;
/// Base62 characters of the CRC32 checksum (62^6 > 2^32).
const CHECK_LEN: usize = 6;
/// The length of every well-formed token.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + BODY_LEN + CHECK_LEN;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A share token. Shown to the person once at grant creation; afterwards only its keyed
/// hash exists. Not `Clone`, not `Serialize`; `Debug` prints `ShareToken(***)`; zeroized
/// on drop.
pub struct ShareToken(Zeroizing<String>);

/// Why a presented token was rejected before any database lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormatError {
    /// Not `trove_` + 49 base62 characters.
    Malformed,
    /// Well-formed but the checksum does not match (a typo or a truncated copy).
    BadChecksum,
}

impl ShareToken {
    /// A fresh token from the OS RNG.
    pub fn generate() -> ShareToken {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut bytes[..]);
        let mut s = Zeroizing::new(String::with_capacity(TOKEN_LEN));
        s.push_str(TOKEN_PREFIX);
        base62_fixed(&bytes[..], BODY_LEN, &mut s);
        let crc = crc32fast::hash(&s.as_bytes()[TOKEN_PREFIX.len()..]);
        base62_fixed(&crc.to_be_bytes(), CHECK_LEN, &mut s);
        ShareToken(s)
    }

    /// Checks a presented token's shape and checksum without touching the vault. The
    /// input is moved in and zeroized either way.
    pub fn parse(input: String) -> Result<ShareToken, TokenFormatError> {
        let s = Zeroizing::new(input);
        let t = s.trim();
        if t.len() != TOKEN_LEN
            || !t.starts_with(TOKEN_PREFIX)
            || !t.as_bytes()[TOKEN_PREFIX.len()..]
                .iter()
                .all(u8::is_ascii_alphanumeric)
        {
            return Err(TokenFormatError::Malformed);
        }
        let body = &t[TOKEN_PREFIX.len()..TOKEN_LEN - CHECK_LEN];
        let mut want = String::with_capacity(CHECK_LEN);
        base62_fixed(
            &crc32fast::hash(body.as_bytes()).to_be_bytes(),
            CHECK_LEN,
            &mut want,
        );
        // The checksum is not secret (it is derived from the token and only catches
        // typos), so an ordinary comparison is fine here.
        if want.as_bytes() != &t.as_bytes()[TOKEN_LEN - CHECK_LEN..] {
            return Err(TokenFormatError::BadChecksum);
        }
        Ok(ShareToken(Zeroizing::new(t.to_string())))
    }

    /// The token text, to show the person once or to send in an `Authorization` header.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// HMAC-SHA256 of the token under `key` (the vault's `share-token` subkey): the
    /// only form in which a token is stored.
    pub fn keyed_hash(&self, key: &[u8; 32]) -> [u8; 32] {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(self.0.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Constant-time check that `stored` is this token's keyed hash under `key`.
    pub fn matches(&self, key: &[u8; 32], stored: &[u8]) -> bool {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(self.0.as_bytes());
        mac.verify_slice(stored).is_ok()
    }
}

impl fmt::Debug for ShareToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShareToken(***)")
    }
}

/// Writes `bytes` (a big-endian number) as exactly `len` base62 digits.
fn base62_fixed(bytes: &[u8], len: usize, out: &mut String) {
    let mut num: Zeroizing<Vec<u8>> = Zeroizing::new(bytes.to_vec());
    let mut digits = Zeroizing::new(vec![0u8; len]);
    for d in digits.iter_mut().rev() {
        let mut rem: u32 = 0;
        for b in num.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 62) as u8;
            rem = cur % 62;
        }
        *d = ALPHABET[rem as usize];
    }
    debug_assert!(num.iter().all(|b| *b == 0), "value fits in {len} digits");
    for d in digits.iter() {
        out.push(*d as char);
    }
    num.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = ShareToken::generate();
        let b = ShareToken::generate();
        assert_eq!(a.expose_secret().len(), TOKEN_LEN);
        assert!(a.expose_secret().starts_with("trove_"));
        assert_ne!(a.expose_secret(), b.expose_secret());
        let again = ShareToken::parse(a.expose_secret().to_string()).unwrap();
        assert_eq!(again.expose_secret(), a.expose_secret());
    }

    #[test]
    fn every_single_character_typo_is_caught_by_the_checksum() {
        let t = ShareToken::generate();
        let s = t.expose_secret().to_string();
        for i in TOKEN_PREFIX.len()..s.len() {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(b).unwrap();
            assert_eq!(
                ShareToken::parse(typo).unwrap_err(),
                TokenFormatError::BadChecksum,
                "typo at {i} accepted"
            );
        }
        assert_eq!(
            ShareToken::parse(s[..s.len() - 1].to_string()).unwrap_err(),
            TokenFormatError::Malformed
        );
        assert_eq!(
            ShareToken::parse("Bearer nonsense".into()).unwrap_err(),
            TokenFormatError::Malformed
        );
    }

    #[test]
    fn base62_is_big_endian_and_fixed_width() {
        let mut s = String::new();
        base62_fixed(&[0, 0, 0, 61], 3, &mut s);
        assert_eq!(s, "00z");
        s.clear();
        base62_fixed(&[0, 0, 0, 62], 3, &mut s);
        assert_eq!(s, "010");
        s.clear();
        base62_fixed(&[0xff; 32], BODY_LEN, &mut s);
        assert_eq!(s.len(), BODY_LEN);
    }

    #[test]
    fn keyed_hash_depends_on_key_and_matches_in_constant_time() {
        let t = ShareToken::generate();
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let h = t.keyed_hash(&k1);
        assert_ne!(h, t.keyed_hash(&k2));
        assert!(t.matches(&k1, &h));
        assert!(!t.matches(&k2, &h));
        assert_eq!(format!("{t:?}"), "ShareToken(***)");
    }
}
