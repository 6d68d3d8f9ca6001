//! The JSON shapes of Trove's share API, shared by the server (trove-share) and the
//! organization-side client (trove-client), and the share link format ([`link`]). No I/O.
//!
//! ```
//! let body = r#"{"error":"invalid_token","error_description":"the grant was revoked"}"#;
//! let e: trove_wire::ErrorBody = serde_json::from_str(body).unwrap();
//! assert_eq!(e.error, "invalid_token");
//! ```
#![forbid(unsafe_code)]

pub mod link;
pub mod staged;

use std::collections::BTreeMap;

/// The ALPN of the share API over iroh. Each bidirectional QUIC stream on such a
/// connection carries one HTTP/1.1 connection (one or more requests in turn), answered
/// by the very same router as on loopback.
pub const SHARE_ALPN: &[u8] = b"trove/share/1";

/// The `Host` header a client sends over iroh (there is no DNS name; the endpoint id
/// already authenticated the server).
pub const REMOTE_HOST: &str = "trove.invalid";

use serde::{Deserialize, Serialize};

/// A record as the share API discloses it: fields projected to the grant's scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /v1/records` answers `{"records": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    pub records: Vec<Record>,
}

/// `GET /v1/grant`: the grant behind the presented token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantInfo {
    pub id: String,
    pub org: String,
    pub purpose: String,
    /// `TYPE` or `TYPE.FIELD` items.
    pub scope: Vec<String>,
    #[serde(default)]
    pub only_tag: Option<String>,
    pub expires_at: Option<String>,
    pub uses: u64,
    pub max_uses: Option<u64>,
    /// `active` (a token of any other status gets 401).
    pub status: String,
}

/// `POST /v1/revoke` answers `{"revoked": true}` whatever the token (RFC 7009).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: bool,
}

/// Every error body (RFC 6750 style).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `invalid_token`, `invalid_request`, `insufficient_scope`, `not_found`,
    /// `rate_limited`, `temporarily_unavailable`, ...
    pub error: String,
    pub error_description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_uses_type_key() {
        let r = Record {
            id: "1".into(),
            record_type: "contact".into(),
            fields: [("email".to_string(), "a@b.example".to_string())].into(),
            tags: vec![],
            source: "manual".into(),
            created_at: "t".into(),
            updated_at: "t".into(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["type"], "contact");
        assert_eq!(serde_json::from_value::<Record>(v).unwrap(), r);
    }
}
