//! Remote (iroh) fixtures: a relay on loopback over plain HTTP, the vault's endpoint
//! served by `serve_remote`, and a minimal organization-side client (an iroh endpoint,
//! `open_bi`, an HTTP/1.1 handshake, one request). Loopback only: no public relay, no
//! address lookup, no port mapping.

use std::net::SocketAddr;

use hyper_util::rt::TokioIo;
use iroh::endpoint::{presets, Connection, PortmapperConfig};
use iroh::{Endpoint, EndpointAddr, RelayMode, RelayUrl, TransportAddr};
use trove_share::{RelayChoice, RemoteOptions, ShareState};
use trove_wire::{REMOTE_HOST, SHARE_ALPN};

/// An iroh relay on 127.0.0.1 over plain HTTP (no TLS, no QUIC address discovery): the
/// organization side's own test relay, so both sides' tests run the same one.
pub struct LocalRelay {
    _relay: trove_client::testing::LocalRelay,
    pub url: String,
}

pub async fn local_relay() -> LocalRelay {
    let relay = trove_client::testing::LocalRelay::spawn().await.unwrap();
    LocalRelay {
        url: relay.url().to_string(),
        _relay: relay,
    }
}

/// Options for the vault's endpoint in tests: loopback only, no port mapping.
pub fn options(relay: RelayChoice) -> RemoteOptions {
    RemoteOptions {
        relay,
        bind_addr: Some("127.0.0.1:0".parse().unwrap()),
        portmapper: false,
        limits: Default::default(),
    }
}

/// A running remote server: its endpoint's address and a way to stop it.
pub struct RemoteServer {
    pub addr: EndpointAddr,
    pub endpoint: Endpoint,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RemoteServer {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}

/// Binds the vault's endpoint with `secret` and serves `state` on it. With a relay,
/// waits until the endpoint is connected to it; the address it returns names the relay
/// and the endpoint's loopback socket.
pub async fn serve(
    secret: &trove_core::EndpointSecret,
    options: RemoteOptions,
    state: ShareState,
) -> RemoteServer {
    let endpoint = trove_share::bind_endpoint(secret, &options).await.unwrap();
    if !matches!(options.relay, RelayChoice::Disabled) {
        let home = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            trove_share::wait_online(&endpoint),
        )
        .await
        .expect("the endpoint reaches the local relay");
        assert!(home.starts_with("http://127.0.0.1:"), "{home}");
    }
    let addr = endpoint.addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let ep = endpoint.clone();
    let task = tokio::spawn(async move {
        trove_share::serve_remote(ep, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    RemoteServer {
        addr,
        endpoint,
        stop: Some(tx),
        task: Some(task),
    }
}

/// How the organization's endpoint may reach the server.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dial {
    /// Only through the relay: the organization's endpoint has no IP sockets.
    RelayOnly,
    /// Only directly, on loopback, without any relay.
    Direct,
}

/// An organization's endpoint.
pub async fn org_endpoint(dial: Dial, relay: Option<&str>) -> Endpoint {
    let mut b = Endpoint::builder(presets::Minimal)
        .portmapper_config(PortmapperConfig::Disabled)
        .clear_ip_transports();
    b = match relay {
        Some(u) => b.relay_mode(RelayMode::custom([u.parse::<RelayUrl>().unwrap()])),
        None => b.relay_mode(RelayMode::Disabled),
    };
    if dial == Dial::Direct {
        b = b.bind_addr("127.0.0.1:0").unwrap();
    }
    b.bind().await.unwrap()
}

/// What the server's endpoint address looks like to an organization dialing one way.
pub fn dial_addr(server: &EndpointAddr, dial: Dial) -> EndpointAddr {
    match dial {
        Dial::RelayOnly => EndpointAddr::from_parts(
            server.id,
            server.relay_urls().cloned().map(TransportAddr::Relay),
        ),
        Dial::Direct => {
            let ips: Vec<SocketAddr> = server.ip_addrs().cloned().collect();
            assert!(!ips.is_empty(), "the server has a direct address");
            EndpointAddr::from_parts(server.id, ips.into_iter().map(TransportAddr::Ip))
        }
    }
}

pub async fn connect(org: &Endpoint, server: &EndpointAddr, dial: Dial) -> Connection {
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        org.connect(dial_addr(server, dial), SHARE_ALPN),
    )
    .await
    .expect("connects in time")
    .expect("connects")
}

/// One answer over iroh.
#[derive(Debug)]
pub struct RemoteAnswer {
    pub status: u16,
    pub body: String,
}

impl RemoteAnswer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request on a new stream of `conn` (one HTTP/1.1 connection per stream).
pub async fn request(
    conn: &Connection,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Result<RemoteAnswer, String> {
    let (send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    let io = TokioIo::new(tokio::io::join(recv, send));
    let (mut sender, http) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(http);
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", REMOTE_HOST);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = sender
        .send_request(b.body(axum::body::Body::empty()).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), 1 << 24)
        .await
        .map_err(|e| e.to_string())?;
    drop(sender);
    let _ = driver.await;
    Ok(RemoteAnswer {
        status,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    })
}

/// [`request`] that must succeed at the HTTP level.
pub async fn get(conn: &Connection, path: &str, token: Option<&str>) -> RemoteAnswer {
    request(conn, "GET", path, token).await.unwrap()
}
