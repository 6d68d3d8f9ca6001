//! Who is on the other end of a remote request: an endpoint key ([`OrgKey`]) and the
//! route its packets took. Pure values; the vault's own remote settings are in
//! [`crate::remote`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An endpoint's public key (an organization's, or the vault's own endpoint id): 32
/// bytes, written as 64 lowercase hexadecimal characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgKey(pub [u8; 32]);

impl OrgKey {
    /// Parses 64 hexadecimal characters (either case; surrounding space ignored).
    pub fn parse(s: &str) -> Result<OrgKey> {
        let t = s.trim();
        let mut k = [0u8; 32];
        if t.len() != 64 || hex::decode_to_slice(t, &mut k).is_err() {
            return Err(Error::InvalidOrgKey(format!(
                "{:?} is not an endpoint key (64 hexadecimal characters)",
                t.chars().take(80).collect::<String>()
            )));
        }
        Ok(OrgKey(k))
    }

    /// The first 10 hexadecimal characters, for lists and the UI.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..5])
    }
}

impl fmt::Display for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgKey({})", self.short())
    }
}

/// The short form (first 10 hex characters) of a stored key text.
pub fn short_key(full: &str) -> &str {
    full.get(..10).unwrap_or(full)
}

/// How a remote request's packets travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Route {
    /// Straight between the two computers (after hole punching, or on the same network).
    Direct,
    /// Through a relay, which forwards encrypted packets it cannot read.
    Relayed,
}

impl Route {
    /// `direct` or `relayed`, as stored in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::Relayed => "relayed",
        }
    }
}

/// Who sent a remote request: the organization's endpoint key (authenticated by the
/// connection's handshake) and the route its packets took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemotePeer {
    pub org_key: OrgKey,
    pub route: Route,
}
