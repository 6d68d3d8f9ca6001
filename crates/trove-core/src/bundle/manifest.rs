//! The bundle manifest (`manifest.json`): format, creation time, counts, scope and the
//! size and SHA-256 of every other member. Parsing validates everything before use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::tar::{show_name, Member};
use crate::error::{Error, Result};
use crate::model::scope::Scope;

/// The format tag of this version of bundles.
pub const FORMAT: &str = "trove-bundle/1";
/// The largest manifest accepted.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// A bundle's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `trove-bundle/1`.
    pub format: String,
    /// When the bundle was written (RFC 3339 UTC).
    pub created_at: String,
    /// What wrote it, e.g. `trove 0.1.0`.
    pub generator: String,
    /// How many lines each member holds.
    pub counts: Counts,
    /// For a scoped export: the scope items (`TYPE` or `TYPE.FIELD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// For a scoped export limited to records carrying one tag: that tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_tag: Option<String>,
    /// Every other member: its size in bytes and SHA-256 (lowercase hex).
    #[serde(deserialize_with = "super::json::unique_map")]
    pub members: BTreeMap<String, MemberDigest>,
}

/// Line counts of the JSONL members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub records: u64,
    pub grants: u64,
    pub receipts: u64,
    pub log: u64,
}

impl Counts {
    /// The count for a JSONL member.
    pub fn get(&self, m: Member) -> u64 {
        match m {
            Member::Records => self.records,
            Member::Grants => self.grants,
            Member::Receipts => self.receipts,
            Member::Log => self.log,
            Member::Manifest => 0,
        }
    }

    /// Sets the count for a JSONL member.
    pub fn set(&mut self, m: Member, n: u64) {
        match m {
            Member::Records => self.records = n,
            Member::Grants => self.grants = n,
            Member::Receipts => self.receipts = n,
            Member::Log => self.log = n,
            Member::Manifest => {}
        }
    }
}

/// Size and hash of one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDigest {
    pub size: u64,
    pub sha256: String,
}

/// The manifest as written into a bundle: pretty JSON and a final newline.
pub fn manifest_json(m: &Manifest) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(m).expect("manifest serializes");
    bytes.push(b'\n');
    bytes
}

/// A manifest that passed every check, with its members resolved.
#[derive(Debug, Clone)]
pub struct ValidManifest {
    pub manifest: Manifest,
    pub members: BTreeMap<Member, ([u8; 32], u64)>,
    pub scope: Option<Scope>,
}

/// Parses and validates manifest bytes: JSON shape (depth-limited), format tag, time,
/// member names (allow-listed, not the manifest itself), hash syntax, scope items.
pub fn parse_manifest(bytes: &[u8]) -> Result<ValidManifest> {
    let bad = |why: String| Error::BundleFormat(format!("manifest.json: {why}"));
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(Error::BundleTooLarge(format!(
            "manifest.json is larger than {MAX_MANIFEST_BYTES} bytes"
        )));
    }
    super::check_json_depth(bytes, 6).map_err(|e| bad(e.to_string()))?;
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if m.format != FORMAT {
        return Err(Error::BundleFormat(format!(
            "manifest.json: format {:?} is not {FORMAT} (a newer Trove may read it)",
            m.format.chars().take(40).collect::<String>()
        )));
    }
    chrono::DateTime::parse_from_rfc3339(&m.created_at)
        .map_err(|_| bad("created_at is not an RFC 3339 time".into()))?;
    let mut members = BTreeMap::new();
    for (name, d) in &m.members {
        let member = Member::from_name(name)
            .filter(|m| *m != Member::Manifest)
            .ok_or_else(|| {
                bad(format!(
                    "lists an unknown member {}",
                    show_name(name.as_bytes())
                ))
            })?;
        let mut hash = [0u8; 32];
        if d.sha256.len() != 64
            || !d
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            || hex::decode_to_slice(&d.sha256, &mut hash).is_err()
        {
            return Err(bad(format!(
                "the SHA-256 of {name} is not 64 lowercase hex digits"
            )));
        }
        members.insert(member, (hash, d.size));
    }
    if !members.contains_key(&Member::Records) {
        return Err(bad("does not list records.jsonl".into()));
    }
    let scope = match (&m.scope, &m.only_tag) {
        (Some(items), tag) => {
            Some(Scope::parse(items, tag.as_deref()).map_err(|e| bad(format!("scope: {e}")))?)
        }
        (None, Some(_)) => return Err(bad("only_tag without a scope".into())),
        (None, None) => None,
    };
    Ok(ValidManifest {
        manifest: m,
        members,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            created_at: "2026-11-23T10:00:00.000Z".into(),
            generator: "trove 0.1.0".into(),
            counts: Counts::default(),
            scope: None,
            only_tag: None,
            members: [(
                "records.jsonl".to_string(),
                MemberDigest {
                    size: 0,
                    sha256: hex::encode([7u8; 32]),
                },
            )]
            .into(),
        }
    }

    #[test]
    fn valid_manifest_parses() {
        let bytes = serde_json::to_vec(&sample()).unwrap();
        let v = parse_manifest(&bytes).unwrap();
        assert_eq!(v.members[&Member::Records], ([7u8; 32], 0));
    }

    #[test]
    fn bad_manifests_are_named() {
        let mut m = sample();
        m.format = "trove-bundle/9".into();
        let e = parse_manifest(&serde_json::to_vec(&m).unwrap()).unwrap_err();
        assert!(e.to_string().contains("trove-bundle/9"), "{e}");
        let mut m = sample();
        m.members.insert(
            "../evil".into(),
            MemberDigest {
                size: 1,
                sha256: hex::encode([0u8; 32]),
            },
        );
        let e = parse_manifest(&serde_json::to_vec(&m).unwrap()).unwrap_err();
        assert!(e.to_string().contains("unknown member"), "{e}");
        let mut m = sample();
        m.members.get_mut("records.jsonl").unwrap().sha256 = "ABC".into();
        assert!(parse_manifest(&serde_json::to_vec(&m).unwrap()).is_err());
        let deep = format!("{}{}", "[".repeat(10000), "]".repeat(10000));
        let e = parse_manifest(deep.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("nested"), "{e}");
        assert!(parse_manifest(b"{\"format\":\"trove-bundle/1\",\"x\":1}").is_err());
    }
}
