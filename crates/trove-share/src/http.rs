//! HTTP in and out: the router, the Host check, the rate limit, and the mapping between
//! requests/replies and trove-core's share types. No decisions about data live here.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use trove_core::{
    Credential, RemotePeer, ReplyBody, RequestMeta, ShareOp, ShareReply, ShareRequest, Transport,
};

use crate::gate::GateError;
use crate::ShareState;

/// The share API's routes over `state`; call it with tower's `oneshot` in tests, or
/// serve it with [`crate::serve`].
pub fn router(state: ShareState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/grant", get(grant))
        .route("/v1/records", get(records))
        .route("/v1/records/{id}", get(record))
        .route("/v1/revoke", post(revoke))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

async fn healthz(State(s): State<ShareState>, req: Request) -> Response {
    if host_allowed(&s, &req) {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ok",
        )
            .into_response();
    }
    dispatch(s, req, |_| ShareOp::Grant).await
}

async fn grant(State(s): State<ShareState>, req: Request) -> Response {
    dispatch(s, req, |_| ShareOp::Grant).await
}

async fn records(State(s): State<ShareState>, req: Request) -> Response {
    dispatch(s, req, |req| match parse_type_query(req.uri().query()) {
        Ok(record_type) => ShareOp::Records { record_type },
        Err(description) => ShareOp::Refused {
            status: 400,
            reason: "bad_request",
            error: "invalid_request",
            description,
        },
    })
    .await
}

async fn record(State(s): State<ShareState>, req: Request) -> Response {
    dispatch(s, req, |req| {
        let id = req
            .uri()
            .path()
            .strip_prefix("/v1/records/")
            .unwrap_or_default()
            .to_string();
        ShareOp::Record { id }
    })
    .await
}

async fn revoke(State(s): State<ShareState>, req: Request) -> Response {
    dispatch(s, req, |_| ShareOp::Revoke).await
}

async fn unknown_route(State(s): State<ShareState>, req: Request) -> Response {
    dispatch(s, req, |_| ShareOp::Refused {
        status: 404,
        reason: "unknown_path",
        error: "not_found",
        description: "no such endpoint".into(),
    })
    .await
}

async fn wrong_method(State(s): State<ShareState>, req: Request) -> Response {
    dispatch(s, req, |_| ShareOp::Refused {
        status: 405,
        reason: "method_not_allowed",
        error: "invalid_request",
        description: "method not allowed on this endpoint".into(),
    })
    .await
}

/// `?type=T` or nothing; anything else is a malformed request.
fn parse_type_query(q: Option<&str>) -> Result<Option<String>, String> {
    let Some(q) = q.filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    let mut ty = None;
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("type", v))
                if ty.is_none()
                    && (1..=64).contains(&v.len())
                    && v.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                ty = Some(v.to_string())
            }
            _ => return Err("the only query parameter is type=TYPE (once)".into()),
        }
    }
    Ok(ty)
}

/// Set by [`crate::serve_remote`] on each request of a remote (iroh) stream: who sent
/// it (the organization's endpoint key, authenticated by the connection) and how.
#[derive(Debug, Clone)]
pub(crate) struct RemoteOrigin {
    pub(crate) peer: RemotePeer,
    /// What the log shows as the remote address: the peer's IP on a direct path, the
    /// relay's URL on a relayed one.
    pub(crate) addr: String,
}

fn remote_of(req: &Request) -> String {
    if let Some(o) = req.extensions().get::<RemoteOrigin>() {
        return o.addr.clone();
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// DNS-rebinding defence: only our own loopback names (with our port) or the
/// configured name are accepted as `Host`, and as the authority of an absolute-form
/// request target (`GET http://host/...`), which HTTP/1.1 says overrides `Host`: both
/// must name us. More than one `Host` header is never accepted.
fn host_allowed(s: &ShareState, req: &Request) -> bool {
    let (headers, uri) = (req.headers(), req.uri());
    let remote = req.extensions().get::<RemoteOrigin>().is_some();
    let mut hosts = headers.get_all(header::HOST).iter();
    let header_host = hosts.next();
    if hosts.next().is_some() {
        return false;
    }
    let header_host = match header_host.map(|h| h.to_str()) {
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => return false,
        None => None,
    };
    let authority = uri.authority().map(|a| a.as_str());
    if header_host.is_none() && authority.is_none() {
        return false;
    }
    header_host
        .into_iter()
        .chain(authority)
        .all(|h| names_us(s, h, remote))
}

/// Whether one `Host` value (or request-target authority) names this server.
fn names_us(s: &ShareState, host: &str, remote: bool) -> bool {
    let host = host.to_ascii_lowercase();
    // Over iroh the endpoint key already authenticated the server; clients name it
    // `trove.invalid`, which no browser can be rebound to.
    if remote {
        return host == trove_wire::REMOTE_HOST;
    }
    let port = s.port();
    let ours = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    if ours.contains(&host) {
        return true;
    }
    match &s.config().host_name {
        Some(name) => {
            let name = name.to_ascii_lowercase();
            host == name || host == format!("{name}:{port}")
        }
        None => false,
    }
}

/// Why a request's body was refused.
enum BodyProblem {
    TooLarge,
    Unreadable,
}

/// Reads (and drops) the request body, refusing one over `max` bytes whether its
/// length was declared (`Content-Length`) or not (chunked): the API takes no body that
/// matters, but a large one must not be accepted.
async fn drain_body(headers: &HeaderMap, body: Body, max: usize) -> Result<(), BodyProblem> {
    use axum::body::HttpBody;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyProblem::TooLarge);
    }
    let mut body = body;
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|_| BodyProblem::Unreadable)?;
        if let Some(data) = frame.data_ref() {
            seen = seen.saturating_add(data.len());
            if seen > max {
                return Err(BodyProblem::TooLarge);
            }
        }
    }
    Ok(())
}

async fn dispatch(s: ShareState, req: Request, op: impl FnOnce(&Request) -> ShareOp) -> Response {
    let remote = remote_of(&req);
    let transport = match req.extensions().get::<RemoteOrigin>() {
        Some(o) => Transport::Remote(o.peer),
        None => Transport::Http,
    };
    let (parts, body) = req.into_parts();
    let body = drain_body(&parts.headers, body, s.config().max_body_bytes).await;
    let req = Request::from_parts(parts, Body::empty());
    let path = match req.uri().path_and_query() {
        Some(pq) => pq.as_str().to_string(),
        None => req.uri().path().to_string(),
    };
    let meta = RequestMeta {
        remote_addr: remote.clone(),
        method: req.method().as_str().to_string(),
        path,
        transport,
    };
    let authorization = req.headers().get(header::AUTHORIZATION);
    let anonymous = authorization.is_none();
    let limit_key = crate::limit::credential_key(
        authorization.map(|h| h.as_bytes()),
        &trove_core::share::source_class(&meta),
    );
    let mut retry_after = None;
    let mut admitted = None;
    let op = if req.headers().get_all(header::HOST).iter().count() > 1 {
        ShareOp::Refused {
            status: 400,
            reason: "duplicate_host",
            error: "invalid_request",
            description: "more than one Host header".into(),
        }
    } else if !host_allowed(&s, &req) {
        ShareOp::Refused {
            status: 421,
            reason: "foreign_host",
            error: "invalid_request",
            description: "this server does not answer for that Host".into(),
        }
    } else if let Err(p) = body {
        match p {
            BodyProblem::TooLarge => ShareOp::Refused {
                status: 413,
                reason: "body_too_large",
                error: "invalid_request",
                description: format!(
                    "the request body is larger than {} bytes",
                    s.config().max_body_bytes
                ),
            },
            BodyProblem::Unreadable => ShareOp::Refused {
                status: 400,
                reason: "bad_request",
                error: "invalid_request",
                description: "the request body could not be read".into(),
            },
        }
    } else if req.method() == axum::http::Method::HEAD {
        // A HEAD would run the GET (disclosing, counting a use) only to drop the body.
        ShareOp::Refused {
            status: 405,
            reason: "method_not_allowed",
            error: "invalid_request",
            description: "HEAD is not supported; use GET".into(),
        }
    } else {
        match s.inner.limiter.admit(&limit_key) {
            Ok(a) => {
                admitted = Some(a);
                op(&req)
            }
            Err(wait) => {
                retry_after = Some(wait);
                ShareOp::Refused {
                    status: 429,
                    reason: "rate_limited",
                    error: "rate_limited",
                    description: "too many failed attempts with this credential; retry later"
                        .into(),
                }
            }
        }
    };
    let credential = match op {
        // Refused requests are not authenticated: their token is never looked at.
        ShareOp::Refused { .. } => Credential::Missing,
        _ => Credential::from_authorization(
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok()),
        ),
    };
    let method = trove_core::share::loggable_method(&meta.method);
    let logged_path = trove_core::share::loggable_path(&meta.path);
    drop(req);
    let reply = s
        .inner
        .gate
        .decide(ShareRequest {
            meta,
            credential,
            op,
        })
        .await;
    let (reply, body) = match reply {
        Ok(d) => (d.reply, d.body),
        Err(GateError::Locked) => (ShareReply::unavailable("the vault is locked"), None),
        Err(GateError::Closed) => (ShareReply::unavailable("the server is shutting down"), None),
    };
    // A failing token counts against itself; without a token, any refusal counts
    // against the source (so a valid token never pays for someone else's failures).
    if let Some(a) = &admitted {
        if reply.auth_failed || (anonymous && reply.status >= 400) {
            s.inner.limiter.failed(a);
        }
    }
    drop(admitted);
    tracing::info!(
        target: "trove_share::access",
        %method,
        path = %logged_path,
        status = reply.status,
        remote = %remote,
        "share request"
    );
    to_response(reply, body.as_deref(), retry_after)
}

fn json_response(status: u16, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).expect("wire types serialize");
    json_bytes_response(status, Bytes::from(body))
}

fn json_bytes_response(status: u16, body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The HTTP response for `reply`; `shared` is where the batch's replies carrying the
/// same record list keep that list's JSON, written once.
fn to_response(
    reply: ShareReply,
    shared: Option<&OnceLock<Bytes>>,
    retry_after: Option<u64>,
) -> Response {
    let www = reply.www_authenticate();
    let mut r = match reply.body {
        ReplyBody::Grant(g) => json_response(
            reply.status,
            &trove_wire::GrantInfo {
                id: g.id,
                org: g.org,
                purpose: g.purpose,
                scope: g.scope.items.iter().map(ToString::to_string).collect(),
                only_tag: g.scope.only_tag,
                expires_at: g.expires_at,
                uses: g.uses,
                max_uses: g.max_uses,
                status: g.status.to_string(),
            },
        ),
        ReplyBody::Records(rs) => {
            let write = || {
                Bytes::from(
                    serde_json::to_vec(&RecordsOut { records: &rs }).expect("records serialize"),
                )
            };
            let body = match shared {
                Some(cell) => cell.get_or_init(write).clone(),
                None => write(),
            };
            json_bytes_response(reply.status, body)
        }
        ReplyBody::Record(r) => json_response(reply.status, &wire_record(r)),
        ReplyBody::Revoked => json_response(reply.status, &trove_wire::Revoked { revoked: true }),
        ReplyBody::Error { error, description } => json_response(
            reply.status,
            &trove_wire::ErrorBody {
                error: error.to_string(),
                error_description: description,
            },
        ),
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(w) = www.and_then(|w| HeaderValue::from_str(&w).ok()) {
        h.insert(header::WWW_AUTHENTICATE, w);
    }
    if let Some(secs) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// `{"records": [...]}` written straight from the shared list: the same JSON as
/// [`trove_wire::Records`] (core and wire records have the same fields, in the same
/// order, under the same names; a test checks it).
#[derive(serde::Serialize)]
struct RecordsOut<'a> {
    records: &'a [trove_core::Record],
}

fn wire_record(r: trove_core::Record) -> trove_wire::Record {
    trove_wire::Record {
        id: r.id,
        record_type: r.record_type,
        fields: r.fields,
        tags: r.tags,
        source: r.source,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_written_exactly_as_the_wire_type() {
        let r = trove_core::Record {
            id: "01J".into(),
            record_type: "contact".into(),
            fields: [("email".to_string(), "a\"b@example.org".to_string())].into(),
            tags: vec!["work".into()],
            source: "manual".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-02T00:00:00Z".into(),
        };
        let ours = serde_json::to_string(&RecordsOut {
            records: std::slice::from_ref(&r),
        })
        .unwrap();
        let wire = serde_json::to_string(&trove_wire::Records {
            records: vec![wire_record(r)],
        })
        .unwrap();
        assert_eq!(ours, wire);
    }

    #[test]
    fn type_query_is_strict() {
        assert_eq!(parse_type_query(None), Ok(None));
        assert_eq!(
            parse_type_query(Some("type=contact")),
            Ok(Some("contact".into()))
        );
        assert!(parse_type_query(Some("type=contact&type=note")).is_err());
        assert!(parse_type_query(Some("kind=contact")).is_err());
        assert!(parse_type_query(Some("type=%27")).is_err());
    }
}
