//! The signed manifest of a staged grant: what the person's Trove places next to the
//! encrypted bundle on their own S3-compatible storage, and what the organization checks
//! before it trusts a byte of the bundle. Shapes only; signing is in trove-core and
//! checking in trove-client.
//!
//! The object on storage is a [`SignedManifest`]: the [`StagedManifest`] as JSON, in
//! base64 (`payload`), and an Ed25519 signature (`signature`, base64) over
//! [`SIGNING_CONTEXT`] followed by the payload bytes, made with the vault's signing key
//! whose public half is in the share link. A reader verifies the signature over the exact
//! payload bytes first and only then parses them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format tag of the signed manifest and of its payload.
pub const STAGED_FORMAT: &str = "trove-staged/1";
/// Prefixed to the payload before signing, so a signature made for anything else by the
/// same key can never pass as a staged manifest's.
pub const SIGNING_CONTEXT: &[u8] = b"trove-staged/1 manifest\0";
/// The largest signed manifest a reader accepts.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// The object stored at the manifest URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedManifest {
    /// Always [`STAGED_FORMAT`].
    pub format: String,
    /// The [`StagedManifest`] JSON, standard base64.
    pub payload: String,
    /// Ed25519 over `SIGNING_CONTEXT || payload bytes`, standard base64.
    pub signature: String,
}

/// What the person's Trove vouches for about one version of a staged grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagedManifest {
    /// Always [`STAGED_FORMAT`].
    pub format: String,
    /// The grant's id.
    pub grant_id: String,
    /// Starts at 1 and grows by one with each re-publication (records changed); a reader
    /// that saw version N refuses anything older.
    pub version: u64,
    pub org: String,
    pub purpose: String,
    /// `TYPE` or `TYPE.FIELD` items.
    pub scope: Vec<String>,
    #[serde(default)]
    pub only_tag: Option<String>,
    /// When the grant ends (RFC 3339 UTC), if it does.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// When the download URLs stop working: the grant's expiry, or 7 days after the link
    /// was made, whichever is first. A reader refuses the copy after it.
    pub available_until: String,
    /// When this version was published.
    pub created_at: String,
    /// [`link_id`] of the link this copy belongs to: ties the manifest to one grant's
    /// link, so storage cannot swap in another grant's copy.
    pub link_id: String,
    /// The age recipient (`age1…`) the bundle is encrypted to.
    pub recipient: String,
    /// The encrypted bundle.
    pub bundle: StagedBundle,
}

/// The encrypted bundle of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagedBundle {
    /// Size of the encrypted object in bytes.
    pub size: u64,
    /// SHA-256 (lowercase hex) of the encrypted object.
    pub sha256: String,
    /// How many records it holds.
    pub records: u64,
    /// Presigned download URL of this version's bundle. After a re-publication the
    /// link's own bundle URL names a deleted object; this one is current.
    pub url: String,
}

/// The id a staged manifest carries for the link with share token `token`: SHA-256 of a
/// fixed label and the token, lowercase hex. One-way: it does not reveal the token.
pub fn link_id(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"trove-staged/1 link\0");
    h.update(token.as_bytes());
    let d = h.finalize();
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_id_is_stable_hex_and_differs_per_token() {
        let a = link_id("trove_a");
        assert_eq!(a.len(), 64);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(a, link_id("trove_a"));
        assert_ne!(a, link_id("trove_b"));
        assert!(!a.contains("trove_a"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let s = r#"{"format":"trove-staged/1","payload":"","signature":"","extra":1}"#;
        assert!(serde_json::from_str::<SignedManifest>(s).is_err());
    }
}
