//! One answer of the share API, whatever carried it (HTTP or an iroh stream), and its
//! single mapping to typed results and [`ClientError`]s.

use bytes::{Bytes, BytesMut};
use hyper::header;
use hyper::{HeaderMap, StatusCode};
use trove_wire::ErrorBody;

use crate::ClientError;

/// An answer as it came: status, headers and the whole body (at most the client's
/// response limit).
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    /// `Retry-After` in seconds, if the answer has one.
    pub fn retry_after(&self) -> Option<u64> {
        self.headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }
}

/// The typed value of a success, or the error the status and body mean.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(r: RawResponse) -> Result<T, ClientError> {
    if r.status.is_success() {
        return serde_json::from_slice(&r.body).map_err(|e| {
            ClientError::Transport(format!(
                "the answer is not what the share API sends ({e}): is this a Trove share API?"
            ))
        });
    }
    let retry_after = r.retry_after();
    let (error, description) = serde_json::from_slice::<ErrorBody>(&r.body)
        .map(|b| (b.error, b.error_description))
        .unwrap_or_default();
    Err(match r.status {
        StatusCode::UNAUTHORIZED => ClientError::Unauthorized(description),
        StatusCode::FORBIDDEN => ClientError::InsufficientScope(description),
        StatusCode::NOT_FOUND => ClientError::NotFound,
        StatusCode::TOO_MANY_REQUESTS => ClientError::RateLimited { retry_after },
        // `trove-org proxy` says so when it cannot reach the person's Trove.
        StatusCode::SERVICE_UNAVAILABLE if error == UNREACHABLE => {
            // The proxy's description is our own message: keep only its reason.
            let reason = description
                .strip_prefix(crate::UNREACHABLE_LEAD)
                .and_then(|r| r.strip_prefix(" ("))
                .and_then(|r| r.strip_suffix(')'))
                .map(str::to_string);
            ClientError::Unreachable(reason.unwrap_or(description))
        }
        StatusCode::SERVICE_UNAVAILABLE => ClientError::Unavailable(description),
        s => ClientError::Http {
            status: s.as_u16(),
            error,
            description,
        },
    })
}

/// The `error` of a 503 that means "no answer from the person's Trove" (sent by a
/// proxy; the person's own server says `temporarily_unavailable`).
pub const UNREACHABLE: &str = "unreachable";

/// Reads a reqwest answer, refusing bodies over `limit` bytes.
pub(crate) async fn read_reqwest(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<RawResponse, ClientError> {
    let status = resp.status();
    let headers = resp.headers().clone();
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ClientError::TooLarge { limit });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ClientError::Transport(e.without_url().to_string()))?
    {
        push_capped(&mut body, &chunk, limit)?;
    }
    Ok(RawResponse {
        status,
        headers,
        body: body.freeze(),
    })
}

/// Appends `chunk` unless the body would grow past `limit`.
pub(crate) fn push_capped(
    body: &mut BytesMut,
    chunk: &[u8],
    limit: usize,
) -> Result<(), ClientError> {
    if body.len() + chunk.len() > limit {
        return Err(ClientError::TooLarge { limit });
    }
    body.extend_from_slice(chunk);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn raw(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    fn err(status: u16, error: &str, description: &str) -> RawResponse {
        raw(
            status,
            &serde_json::json!({"error": error, "error_description": description}).to_string(),
        )
    }

    #[test]
    fn every_status_maps_to_its_error() {
        let d = |r| decode::<trove_wire::Revoked>(r).unwrap_err();
        assert!(
            matches!(d(err(401, "invalid_token", "revoked")), ClientError::Unauthorized(s) if s == "revoked")
        );
        assert!(matches!(
            d(err(403, "insufficient_scope", "no")),
            ClientError::InsufficientScope(_)
        ));
        assert!(matches!(
            d(err(404, "not_found", "")),
            ClientError::NotFound
        ));
        let mut limited = err(429, "rate_limited", "later");
        limited
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert!(matches!(
            d(limited),
            ClientError::RateLimited {
                retry_after: Some(7)
            }
        ));
        assert!(
            matches!(d(err(503, "temporarily_unavailable", "the vault is locked")), ClientError::Unavailable(s) if s == "the vault is locked")
        );
        assert!(matches!(
            d(err(503, UNREACHABLE, "gone")),
            ClientError::Unreachable(_)
        ));
        let relayed = ClientError::Unreachable("no answer within 2 s".into()).to_string();
        match d(err(503, UNREACHABLE, &relayed)) {
            e @ ClientError::Unreachable(_) => assert_eq!(e.to_string(), relayed),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(d(err(400, "invalid_request", "bad")), ClientError::Http { status: 400, error, .. } if error == "invalid_request")
        );
        // A body that is not an error body still maps by status.
        assert!(matches!(
            d(raw(502, "<html>")),
            ClientError::Http { status: 502, .. }
        ));
    }

    #[test]
    fn success_decodes_or_says_what_is_wrong() {
        let ok: trove_wire::Revoked = decode(raw(200, r#"{"revoked":true}"#)).unwrap();
        assert!(ok.revoked);
        let e = decode::<trove_wire::Revoked>(raw(200, "<html>")).unwrap_err();
        assert_eq!(e.code(), "transport");
        assert!(e.to_string().contains("share API"), "{e}");
    }

    #[test]
    fn bodies_are_capped() {
        let mut b = BytesMut::new();
        push_capped(&mut b, &[0; 10], 16).unwrap();
        assert!(matches!(
            push_capped(&mut b, &[0; 7], 16),
            Err(ClientError::TooLarge { limit: 16 })
        ));
        assert_eq!(b.len(), 10);
    }
}
