//! A stand-in for the person's Trove serving remotely: an iroh endpoint that accepts the
//! share ALPN and answers each stream's HTTP/1.1 like the share API (a tiny axum router
//! with the real API's shapes and RFC 6750 errors), on loopback only.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use iroh::endpoint::{presets, PortmapperConfig};
use iroh::{Endpoint, RelayMode, RelayUrl};
use tokio::sync::Notify;
use trove_client::ShareLink;
use trove_wire::link::LiveAddress;
use trove_wire::{GrantInfo, Record, Records, REMOTE_HOST, SHARE_ALPN};
use zeroize::Zeroizing;

/// The token the mock accepts.
pub const TOKEN: &str = "trove_7fQkW2xNpL9vR3mT8yB4cH6jD1sZ5gA0eU2iO7wK3nX9qVtaBcDeF";
/// A token whose vault is "locked" (503).
pub const LOCKED: &str = "trove_LockedLockedLockedLockedLockedLockedLockedLockedLock";
/// A token that is rate limited (429, Retry-After: 7).
pub const LIMITED: &str = "trove_LimitedLimitedLimitedLimitedLimitedLimitedLimitedLim";

/// How the mock Trove may be reached.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reach {
    /// Only through the relay: no UDP of its own.
    RelayOnly,
    /// Only directly on 127.0.0.1: no relay.
    DirectOnly,
}

#[derive(Default)]
pub struct Seen {
    /// The endpoint id of every connection accepted, in order.
    pub peers: Vec<String>,
    /// Every request: (method, path and query, Host, Authorization).
    pub requests: Vec<(String, String, String, String)>,
}

#[derive(Clone)]
struct AppState {
    seen: Arc<Mutex<Seen>>,
    revoked: Arc<Mutex<bool>>,
    /// Notified when a handler wants the whole connection dropped mid-request.
    kill: Arc<Notify>,
}

pub struct MockTrove {
    pub endpoint: Endpoint,
    pub seen: Arc<Mutex<Seen>>,
    relay: Option<String>,
    reach: Reach,
}

impl MockTrove {
    pub async fn start(relay: Option<&str>, reach: Reach) -> MockTrove {
        let mut b = Endpoint::builder(presets::Minimal)
            .alpns(vec![SHARE_ALPN.to_vec()])
            .portmapper_config(PortmapperConfig::Disabled);
        match (reach, relay) {
            (Reach::RelayOnly, Some(r)) => {
                let url: RelayUrl = r.parse().unwrap();
                b = b.relay_mode(RelayMode::custom([url])).clear_ip_transports();
            }
            (Reach::RelayOnly, None) => panic!("a relay-only mock needs a relay"),
            (Reach::DirectOnly, _) => {
                b = b
                    .relay_mode(RelayMode::Disabled)
                    .clear_ip_transports()
                    .bind_addr((Ipv4Addr::LOCALHOST, 0))
                    .unwrap();
            }
        }
        let endpoint = b.bind().await.unwrap();
        if reach == Reach::RelayOnly {
            tokio::time::timeout(Duration::from_secs(20), endpoint.online())
                .await
                .expect("the mock Trove reaches the local relay");
        }
        let state = AppState {
            seen: Arc::default(),
            revoked: Arc::default(),
            kill: Arc::new(Notify::new()),
        };
        let seen = state.seen.clone();
        tokio::spawn(accept_loop(endpoint.clone(), state));
        MockTrove {
            endpoint,
            seen,
            relay: relay.map(str::to_string),
            reach,
        }
    }

    /// A share link to this mock with `token`: the relay and/or the loopback address.
    pub fn link(&self, token: &str) -> ShareLink {
        let direct = match self.reach {
            Reach::DirectOnly => self
                .endpoint
                .bound_sockets()
                .into_iter()
                .filter(SocketAddr::is_ipv4)
                .map(|a| SocketAddr::from((Ipv4Addr::LOCALHOST, a.port())).to_string())
                .collect(),
            Reach::RelayOnly => vec![],
        };
        let relays = match self.reach {
            Reach::RelayOnly => self.relay.iter().cloned().collect(),
            Reach::DirectOnly => vec![],
        };
        ShareLink {
            token: Zeroizing::new(token.to_string()),
            live: Some(LiveAddress {
                endpoint_id: *self.endpoint.id().as_bytes(),
                relays,
                direct,
            }),
            staged: None,
        }
    }

    pub fn peers(&self) -> Vec<String> {
        self.seen.lock().unwrap().peers.clone()
    }

    pub async fn stop(&self) {
        self.endpoint.close().await;
    }
}

/// A link to an endpoint nobody runs (the person's computer is off).
pub fn offline_link(relay: Option<&str>) -> ShareLink {
    let key = iroh::SecretKey::generate();
    ShareLink {
        token: Zeroizing::new(TOKEN.to_string()),
        live: Some(LiveAddress {
            endpoint_id: *key.public().as_bytes(),
            relays: relay.iter().map(|r| r.to_string()).collect(),
            // A loopback port nobody listens on (bound, then released).
            direct: if relay.is_none() {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                vec![s.local_addr().unwrap().to_string()]
            } else {
                vec![]
            },
        }),
        staged: None,
    }
}

async fn accept_loop(endpoint: Endpoint, state: AppState) {
    while let Some(incoming) = endpoint.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            state
                .seen
                .lock()
                .unwrap()
                .peers
                .push(conn.remote_id().to_string());
            let app = router(state.clone());
            loop {
                let stream = tokio::select! {
                    s = conn.accept_bi() => s,
                    _ = state.kill.notified() => {
                        conn.close(1u8.into(), b"killed");
                        return;
                    }
                };
                let Ok((send, recv)) = stream else { return };
                let svc = TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tokio::io::join(recv, send)), svc)
                        .await;
                });
            }
        });
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/grant", get(grant))
        .route("/v1/records", get(records))
        .route("/v1/records/{id}", get(record))
        .route("/v1/revoke", post(revoke))
        .with_state(state)
}

fn error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
                .parse()
                .unwrap(),
        );
    }
    r
}

/// The checks every call makes, in the real server's order.
#[allow(clippy::result_large_err)] // a test server: the refusal is the answer itself
fn check(s: &AppState, method: &str, path: &str, h: &HeaderMap) -> Result<(), Response> {
    let get = |k| {
        h.get(k)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (host, auth) = (get(header::HOST), get(header::AUTHORIZATION));
    s.seen
        .lock()
        .unwrap()
        .requests
        .push((method.into(), path.into(), host.clone(), auth.clone()));
    if host != REMOTE_HOST {
        return Err(error(
            StatusCode::MISDIRECTED_REQUEST,
            "invalid_request",
            "this server does not answer for that Host",
        ));
    }
    match auth.strip_prefix("Bearer ") {
        Some(LOCKED) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the vault is locked",
        )),
        Some(LIMITED) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed attempts; retry later",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, "7".parse().unwrap());
            Err(r)
        }
        Some(TOKEN) if !*s.revoked.lock().unwrap() => Ok(()),
        Some(TOKEN) => Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the grant was revoked",
        )),
        _ => Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "unknown token",
        )),
    }
}

pub fn grant_info() -> GrantInfo {
    GrantInfo {
        id: "01JGRANT".into(),
        org: "Acme Bank".into(),
        purpose: "mortgage application".into(),
        scope: vec!["contact.email".into()],
        only_tag: None,
        expires_at: None,
        uses: 1,
        max_uses: Some(10),
        status: "active".into(),
    }
}

pub fn record_r1() -> Record {
    Record {
        id: "01JRECORD1".into(),
        record_type: "contact".into(),
        fields: [("email".to_string(), "ada@example.org".to_string())].into(),
        tags: vec![],
        source: "manual".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
    }
}

async fn grant(State(s): State<AppState>, h: HeaderMap) -> Response {
    match check(&s, "GET", "/v1/grant", &h) {
        Err(r) => r,
        Ok(()) => Json(grant_info()).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct TypeQuery {
    #[serde(rename = "type")]
    record_type: Option<String>,
}

async fn records(State(s): State<AppState>, q: Query<TypeQuery>, h: HeaderMap) -> Response {
    let path = match &q.record_type {
        Some(t) => format!("/v1/records?type={t}"),
        None => "/v1/records".into(),
    };
    if let Err(r) = check(&s, "GET", &path, &h) {
        return r;
    }
    match q.record_type.as_deref() {
        None | Some("contact") => Json(Records {
            records: vec![record_r1()],
        })
        .into_response(),
        Some("health") => error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "this grant does not cover health",
        ),
        // Larger than any test's response limit (which they set to 4 KiB).
        Some("huge") => {
            let mut r = record_r1();
            r.fields.insert("note".into(), "x".repeat(64 * 1024));
            Json(Records { records: vec![r] }).into_response()
        }
        // Never answers: the person's Trove hangs.
        Some("hang") => std::future::pending().await,
        // The person's Trove goes away mid-request.
        Some("die") => {
            s.kill.notify_waiters();
            std::future::pending().await
        }
        Some(_) => Json(Records { records: vec![] }).into_response(),
    }
}

async fn record(State(s): State<AppState>, Path(id): Path<String>, h: HeaderMap) -> Response {
    if let Err(r) = check(&s, "GET", &format!("/v1/records/{id}"), &h) {
        return r;
    }
    if id == "01JRECORD1" {
        Json(record_r1()).into_response()
    } else {
        error(StatusCode::NOT_FOUND, "not_found", "no such record")
    }
}

async fn revoke(State(s): State<AppState>, h: HeaderMap) -> Response {
    match check(&s, "POST", "/v1/revoke", &h) {
        Ok(()) | Err(_) => {
            *s.revoked.lock().unwrap() = true;
            Json(serde_json::json!({"revoked": true})).into_response()
        }
    }
}
