//! Shared fixtures for the share API tests: a temp vault with demo records, grants, a
//! running server on 127.0.0.1:0 and a oneshot helper.
#![allow(dead_code)]

pub mod remote;

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use tower::ServiceExt;
use trove_core::{KdfParams, NewGrant, Passphrase, Record, ShareToken, Vault};
use trove_share::{ShareConfig, ShareState};

pub const FAST: KdfParams = KdfParams {
    m_cost_kib: KdfParams::MIN_M_COST_KIB,
    t_cost: 1,
    p_cost: 1,
};

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub vault: Vault,
    pub records: Vec<Record>,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    let (vault, _) = Vault::create_with(&path, &Passphrase::new("pw".into()), FAST).unwrap();
    let mut records = Vec::new();
    for n in trove_core::demo::demo_records() {
        records.push(vault.add(n).unwrap());
    }
    Fixture {
        _dir: dir,
        path,
        vault,
        records,
    }
}

pub fn new_grant(scope: &[&str]) -> NewGrant {
    NewGrant {
        org: "Acme Bank".into(),
        purpose: "account opening".into(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

impl Fixture {
    pub fn grant(&self, g: NewGrant) -> (trove_core::Grant, ShareToken) {
        self.vault.create_grant(&g).unwrap()
    }

    pub fn state(&self, config: ShareConfig) -> ShareState {
        ShareState::new(self.vault.try_clone().unwrap(), config)
    }

    /// Values (long enough not to occur by chance) of every stored field.
    pub fn field_values(&self) -> Vec<String> {
        self.records
            .iter()
            .flat_map(|r| r.fields.values().cloned())
            .filter(|v| v.len() >= 7 && v.chars().any(|c| c.is_alphabetic()))
            .collect()
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request through the router (no network), as if from 127.0.0.1.
pub async fn call(
    state: &ShareState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    host: &str,
) -> Answer {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    send(state, b.body(Body::empty()).unwrap()).await
}

/// Any request through the router (no network), as if from 127.0.0.1.
pub async fn send(state: &ShareState, mut req: Request<Body>) -> Answer {
    req.extensions_mut().insert(ConnectInfo(
        "127.0.0.1:50000".parse::<SocketAddr>().unwrap(),
    ));
    let resp = trove_share::router(state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// The Host the router accepts with the default config.
pub const HOST: &str = "127.0.0.1:7878";

/// A real server on 127.0.0.1:0; returns its address and a shutdown handle.
pub async fn spawn_server(
    state: ShareState,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = tokio::spawn(async move {
        trove_share::serve(listener, state, None, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (addr, tx, h)
}

/// How many requests the log accounts for with `outcome`: a row stands for one request,
/// or for `count` when it sums up repeated failures.
pub fn requests_logged(f: &Fixture, outcome: &str) -> u64 {
    f.vault
        .log_entries(&Default::default())
        .unwrap()
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.count.unwrap_or(1))
        .sum()
}

/// Everything a test's global tracing subscriber writes, to search for secrets.
#[derive(Clone, Default)]
pub struct Capture(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
