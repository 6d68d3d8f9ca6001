//! The organization-side client of Trove's share API: read what a person granted, with
//! typed errors for every refusal. Depends on the wire types only, not on trove-core.
//!
//! ```no_run
//! # async fn run() -> Result<(), trove_client::ClientError> {
//! let c = trove_client::Client::new("http://127.0.0.1:7878", "trove_…")?;
//! let grant = c.grant().await?;
//! for r in c.records(Some("contact")).await? {
//!     println!("{} {:?}", r.id, r.fields);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod staged;

pub use staged::{fetch_staged, StagedError, StagedFetch, StagedOptions, VersionMemory};

use std::fmt;
use std::time::Duration;

use reqwest::{header, Method, StatusCode};
pub use trove_wire::{ErrorBody, GrantInfo, Record};

/// What went wrong talking to a Trove share API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// 401: the token is unknown, revoked, expired or used up.
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
    /// 503: the person's vault is locked or cannot log the access right now.
    #[error("unavailable: {0}")]
    Unavailable(String),
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
    /// The base URL or token is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A bearer token, kept out of Debug output.
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A client for one token on one server.
#[derive(Debug)]
pub struct Client {
    base: String,
    token: Token,
    http: reqwest::Client,
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
            token: Token(token.trim().to_string()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .https_only(base.starts_with("https://")),
        })
    }

    /// `GET /v1/grant`: this token's grant.
    pub async fn grant(&self) -> Result<GrantInfo, ClientError> {
        self.call(Method::GET, "/v1/grant").await
    }

    /// `GET /v1/records[?type=T]`: the in-scope records, projected.
    pub async fn records(&self, record_type: Option<&str>) -> Result<Vec<Record>, ClientError> {
        let path = match record_type {
            Some(t) => format!("/v1/records?type={t}"),
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

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, ClientError> {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token.0))
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        if status.is_success() {
            return resp
                .json::<T>()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()));
        }
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body: Option<ErrorBody> = resp.json().await.ok();
        let (error, description) = body
            .map(|b| (b.error, b.error_description))
            .unwrap_or_else(|| (String::new(), String::new()));
        Err(match status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized(description),
            StatusCode::FORBIDDEN => ClientError::InsufficientScope(description),
            StatusCode::NOT_FOUND => ClientError::NotFound,
            StatusCode::TOO_MANY_REQUESTS => ClientError::RateLimited { retry_after },
            StatusCode::SERVICE_UNAVAILABLE => ClientError::Unavailable(description),
            s => ClientError::Http {
                status: s.as_u16(),
                error,
                description,
            },
        })
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    base: String,
    token: Token,
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

    /// The client.
    pub fn build(self) -> Result<Client, ClientError> {
        Ok(Client {
            base: self.base,
            token: self.token,
            http: self
                .http
                .build()
                .map_err(|e| ClientError::Config(e.to_string()))?,
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
        assert!(Client::new("ftp://x", "t").is_err());
    }
}
