//! The organization-side client of Trove's share API: read what a person granted, with
//! typed errors for every refusal. Depends on the wire types only, not on trove-core.
//!
//! A share link with a staged copy (readable while the person's computer is off) is
//! read with [`fetch_records`]: live first, then the verified staged copy
//! ([`fetch_staged`]).
//!
//! Two transports behind one typed API ([`Client::grant`], [`Client::records`],
//! [`Client::record`], [`Client::revoke`]):
//! - **HTTP(S)** to a share API the organization can reach directly
//!   (`http://127.0.0.1:7878` on the person's own computer): [`Client::new`].
//! - **Live over iroh** from a share link (`TROVE1-…`): QUIC dialled by the person's
//!   endpoint id, directly or through a relay, authenticated with the organization's own
//!   endpoint key ([`OrgKey`]): [`Client::remote`]. When the person's Trove is offline,
//!   asleep or locked, the error says so ([`ClientError::Unreachable`],
//!   [`ClientError::Unavailable`]) after at most the configured timeouts.
//!
//! ```no_run
//! use trove_client::{Client, OrgKey, RemoteOptions, ShareLink};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The organization's stable key: create it once, keep it secret (grants may be bound to it).
//! let (key, _created) = OrgKey::load_or_create("/etc/acme/trove-org/endpoint.key".as_ref())?;
//! // The link the person gave us (it holds the token: read it from a file, not argv).
//! let text = std::fs::read_to_string("/etc/acme/trove-org/link.txt")?;
//! let link = ShareLink::parse(&text)?;
//! let client = Client::remote(&link, &key, RemoteOptions::default()).await?;
//! let grant = client.grant().await?;
//! println!("{} granted {:?} for {:?}", grant.org, grant.scope, grant.purpose);
//! for r in client.records(Some("contact")).await? {
//!     println!("{} {:?}", r.id, r.fields);
//! }
//! client.close().await;
//! # Ok(()) }
//! ```
//!
//! Loopback HTTP works the same way:
//!
//! ```no_run
//! # async fn run() -> Result<(), trove_client::ClientError> {
//! let c = trove_client::Client::new("http://127.0.0.1:7878", "trove_…")?;
//! for r in c.records(None).await? {
//!     println!("{} {:?}", r.id, r.fields);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod fetch;
mod key;
mod remote;
mod response;
pub mod staged;
#[cfg(any(feature = "local-relay", feature = "local-s3"))]
pub mod testing;

pub use fetch::{fetch_records, Answered, FetchError, Fetched};
pub use staged::{fetch_staged, StagedError, StagedFetch, StagedOptions, VersionMemory};

use std::fmt;
use std::time::Duration;

use hyper::header::{self, HeaderValue};
pub use hyper::{HeaderMap, Method, StatusCode};
use zeroize::Zeroizing;

pub use key::{KeyError, OrgKey};
pub use remote::{NetworkPath, PathPolicy, RemoteOptions};
pub use response::RawResponse;
pub use trove_wire::link::{LinkError, ShareLink};
pub use trove_wire::{ErrorBody, GrantInfo, Record};

/// The largest answer read by default (a grant's whole projection is one answer).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How [`ClientError::Unreachable`] and [`ClientError::Unavailable`] begin: the person's
/// Trove is offline, asleep, locked, or the network between is down.
pub const UNREACHABLE_LEAD: &str = "this person's Trove is not reachable right now; try later";

/// What went wrong talking to a Trove share API. [`ClientError::code`] gives a stable
/// code for programs; the message says what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// 401: the token is unknown, revoked, expired or used up (or bound to another
    /// organization key).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: the grant does not cover what was asked.
    #[error("insufficient scope: {0}")]
    InsufficientScope(String),
    /// 404: no such record (or not in scope: the server does not say which).
    #[error("not found")]
    NotFound,
    /// 429: too many failed attempts; retry after this many seconds.
    #[error("rate limited; retry after {retry_after:?} s")]
    RateLimited { retry_after: Option<u64> },
    /// 503: the person's Trove answered but cannot share now (its vault is locked, or it
    /// cannot log the access).
    #[error("{UNREACHABLE_LEAD} (it says: {0})")]
    Unavailable(String),
    /// The person's Trove did not answer: offline, asleep, not sharing remotely, or the
    /// network between is down. Nothing was read.
    #[error("{UNREACHABLE_LEAD} ({0})")]
    Unreachable(String),
    /// The answer is larger than the configured limit; it was not read.
    #[error("the answer is larger than the {limit}-byte limit; raise the limit or ask for less (e.g. one record type)")]
    TooLarge { limit: usize },
    /// The link has only a staged copy: it cannot be read live.
    #[error("this share link has only a staged copy (for reading while the person's computer is off), so it cannot be read live: fetch its records (`trove-org fetch`, or trove_client::fetch_records), or ask the person for a live link")]
    StagedOnly,
    /// Any other HTTP status.
    #[error("HTTP {status}: {error}: {description}")]
    Http {
        status: u16,
        error: String,
        description: String,
    },
    /// Connecting, TLS or decoding failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The base URL, link, token or an option is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// A stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Unauthorized(_) => "unauthorized",
            ClientError::InsufficientScope(_) => "insufficient_scope",
            ClientError::NotFound => "not_found",
            ClientError::RateLimited { .. } => "rate_limited",
            ClientError::Unavailable(_) => "unavailable",
            ClientError::Unreachable(_) => "unreachable",
            ClientError::TooLarge { .. } => "response_too_large",
            ClientError::StagedOnly => "staged_only",
            ClientError::Http { .. } => "http",
            ClientError::Transport(_) => "transport",
            ClientError::Config(_) => "config",
        }
    }
}

/// A bearer token: no `Clone`, Debug prints `***`, zeroized on drop.
struct Token(Zeroizing<String>);

impl Token {
    fn new(token: &str) -> Result<Token, ClientError> {
        let t = token.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClientError::Config(
                "the token is empty or has characters a share token cannot have: copy it again"
                    .into(),
            ));
        }
        Ok(Token(Zeroizing::new(t.to_string())))
    }

    /// `Bearer …`, marked sensitive (hyper and reqwest keep it out of Debug output).
    fn header(&self) -> HeaderValue {
        let text = Zeroizing::new(format!("Bearer {}", self.0.as_str()));
        let mut v = HeaderValue::from_str(&text).expect("checked: visible ASCII");
        v.set_sensitive(true);
        v
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A client for one token on one server (HTTP) or one person's Trove (iroh).
#[derive(Debug)]
pub struct Client {
    token: Token,
    max_response_bytes: usize,
    transport: Transport,
}

#[derive(Debug)]
// One per client, never moved around: boxing the remote side would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Transport {
    Http { base: String, http: reqwest::Client },
    Remote(remote::Remote),
}

impl Client {
    /// A client for `base` (`http://127.0.0.1:7878` or `https://…`) with `token`.
    pub fn new(base: &str, token: &str) -> Result<Client, ClientError> {
        Self::builder(base, token)?.build()
    }

    /// A builder, e.g. to trust an extra root certificate.
    pub fn builder(base: &str, token: &str) -> Result<ClientBuilder, ClientError> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "{base:?} must start with http:// or https://"
            )));
        }
        Ok(ClientBuilder {
            base: base.trim_end_matches('/').to_string(),
            token: Token::new(token)?,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .https_only(base.starts_with("https://")),
        })
    }

    /// A client that reads the person's Trove live over iroh, as the link says, with the
    /// organization's endpoint key. Binds a local endpoint; the person's Trove is dialled
    /// on the first request (within `options.connect_timeout`).
    ///
    /// A link with only a staged copy gives [`ClientError::StagedOnly`].
    pub async fn remote(
        link: &ShareLink,
        key: &OrgKey,
        options: RemoteOptions,
    ) -> Result<Client, ClientError> {
        let Some(live) = &link.live else {
            return Err(ClientError::StagedOnly);
        };
        let token = Token::new(&link.token)?;
        let max_response_bytes = options.max_response_bytes;
        let remote = remote::Remote::bind(live, key, options).await?;
        Ok(Client {
            token,
            max_response_bytes,
            transport: Transport::Remote(remote),
        })
    }

    /// `GET /v1/grant`: this token's grant.
    pub async fn grant(&self) -> Result<GrantInfo, ClientError> {
        self.call(Method::GET, "/v1/grant").await
    }

    /// `GET /v1/records[?type=T]`: the in-scope records, projected.
    pub async fn records(&self, record_type: Option<&str>) -> Result<Vec<Record>, ClientError> {
        let path = match record_type {
            Some(t) => {
                check_type_name(t)?;
                format!("/v1/records?type={t}")
            }
            None => "/v1/records".to_string(),
        };
        let r: trove_wire::Records = self.call(Method::GET, &path).await?;
        Ok(r.records)
    }

    /// `GET /v1/records/{id}`: one record, projected.
    pub async fn record(&self, id: &str) -> Result<Record, ClientError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ClientError::NotFound);
        }
        self.call(Method::GET, &format!("/v1/records/{id}")).await
    }

    /// `POST /v1/revoke`: gives the grant up. Succeeds whatever the token's state.
    pub async fn revoke(&self) -> Result<(), ClientError> {
        let _: trove_wire::Revoked = self.call(Method::POST, "/v1/revoke").await?;
        Ok(())
    }

    /// Sends one share API request (`GET` or `POST`, a path like `/v1/records?type=T`)
    /// with this client's token and returns the answer undecoded, whatever its status:
    /// what a proxy forwards. Fails only when no answer came ([`ClientError::Unreachable`],
    /// [`ClientError::Transport`]), it was too large, or the request is malformed.
    pub async fn send(&self, method: Method, path: &str) -> Result<RawResponse, ClientError> {
        if method != Method::GET && method != Method::POST {
            return Err(ClientError::Config(format!(
                "the share API answers GET and POST, not {method}"
            )));
        }
        if !path.starts_with('/') || path.parse::<hyper::Uri>().is_err() {
            return Err(ClientError::Config(format!(
                "{path:?} is not a request path (like /v1/records)"
            )));
        }
        match &self.transport {
            Transport::Http { base, http } => {
                let resp = http
                    .request(method, format!("{base}{path}"))
                    .header(header::AUTHORIZATION, self.token.header())
                    .send()
                    .await
                    .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
                response::read_reqwest(resp, self.max_response_bytes).await
            }
            Transport::Remote(r) => r.send(&self.token, method, path).await,
        }
    }

    /// Over iroh: whether the current connection to the person's Trove runs directly or
    /// through a relay (`None` before the first request, after the connection was lost,
    /// and over HTTP).
    pub fn network_path(&self) -> Option<NetworkPath> {
        match &self.transport {
            Transport::Remote(r) => r.network_path(),
            Transport::Http { .. } => None,
        }
    }

    /// Over iroh: the person's endpoint id this client dials (lowercase hex).
    pub fn peer_endpoint_id(&self) -> Option<String> {
        match &self.transport {
            Transport::Remote(r) => Some(r.peer_id()),
            Transport::Http { .. } => None,
        }
    }

    /// Closes the network endpoint cleanly (over iroh; nothing to do over HTTP). Later
    /// requests fail.
    pub async fn close(&self) {
        if let Transport::Remote(r) = &self.transport {
            r.close().await;
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, ClientError> {
        response::decode(self.send(method, path).await?)
    }
}

/// Record type names are lowercase letters and `_` (the server refuses anything else).
fn check_type_name(t: &str) -> Result<(), ClientError> {
    if (1..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        Ok(())
    } else {
        Err(ClientError::Config(format!(
            "{t:?} is not a record type name (lowercase letters and _, like contact)"
        )))
    }
}

/// Builds an HTTP(S) [`Client`].
pub struct ClientBuilder {
    base: String,
    token: Token,
    max_response_bytes: usize,
    http: reqwest::ClientBuilder,
}

impl ClientBuilder {
    /// Trusts an extra root certificate (PEM), e.g. the person's self-signed one.
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Result<Self, ClientError> {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| ClientError::Config(format!("certificate: {e}")))?;
        self.http = self.http.add_root_certificate(cert);
        Ok(self)
    }

    /// The largest answer to read (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The time limit of each request (default 30 s).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.http = self.http.timeout(limit);
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client, ClientError> {
        Ok(Client {
            token: self.token,
            max_response_bytes: self.max_response_bytes,
            transport: Transport::Http {
                base: self.base,
                http: self
                    .http
                    .build()
                    .map_err(|e| ClientError::Config(e.to_string()))?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let c = Client::new("http://127.0.0.1:1", "trove_secretsecret").unwrap();
        assert!(!format!("{c:?}").contains("secretsecret"));
        assert!(!format!("{:?}", c.token.header()).contains("secretsecret"));
        assert!(Client::new("ftp://x", "t").is_err());
    }

    #[test]
    fn unusable_tokens_are_refused_before_sending() {
        for t in ["", "  ", "trove_a b", "trove_\u{e9}", "trove_\u{7}x"] {
            let e = Client::new("http://127.0.0.1:1", t).unwrap_err();
            assert_eq!(e.code(), "config", "{t:?}");
        }
    }

    #[tokio::test]
    async fn malformed_requests_are_refused_locally() {
        let c = Client::new("http://127.0.0.1:1", "trove_x").unwrap();
        let e = c.records(Some("contact&x=1")).await.unwrap_err();
        assert_eq!(e.code(), "config");
        assert!(e.to_string().contains("record type"), "{e}");
        assert_eq!(
            c.send(Method::PUT, "/v1/grant").await.unwrap_err().code(),
            "config"
        );
        assert_eq!(
            c.send(Method::GET, "v1/grant").await.unwrap_err().code(),
            "config"
        );
        assert!(matches!(c.record("../x").await, Err(ClientError::NotFound)));
    }

    #[test]
    fn unreachable_and_unavailable_say_so_in_words() {
        let e = ClientError::Unreachable("no answer within 15 s".into());
        assert!(e
            .to_string()
            .starts_with("this person's Trove is not reachable right now; try later"));
        let e = ClientError::Unavailable("the vault is locked".into());
        assert!(e.to_string().contains("not reachable right now"), "{e}");
        assert!(e.to_string().contains("the vault is locked"), "{e}");
        assert_eq!(ClientError::StagedOnly.code(), "staged_only");
    }
}
