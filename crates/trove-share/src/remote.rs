//! The share API over iroh: the same router, gate, limits and log as loopback, reached
//! by organizations anywhere through QUIC connections dialed by the vault's endpoint key
//! (hole punching, or relays that forward encrypted packets). Each bidirectional stream
//! of a [`SHARE_ALPN`] connection carries one HTTP/1.1 connection.
//!
//! ```no_run
//! # async fn run(vault: trove_core::Vault) -> Result<(), Box<dyn std::error::Error>> {
//! use trove_share::{bind_endpoint, serve_remote, RemoteOptions, ShareConfig, ShareState};
//! let secret = vault.endpoint_secret()?;
//! let options = RemoteOptions::from_settings(&vault.remote_settings()?)?;
//! let endpoint = bind_endpoint(&secret, &options).await?;
//! let state = ShareState::new(vault, ShareConfig::default());
//! serve_remote(endpoint, state, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming as Body;
use hyper_util::rt::{TokioIo, TokioTimer};
use iroh::endpoint::{presets, Connection, QuicTransportConfig, VarInt};
use iroh::{Endpoint, RelayMode, RelayUrl, SecretKey, TransportAddr};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;
use trove_core::{EndpointSecret, OrgKey, RemotePeer, RemoteSettings, Route, ShareToken, Vault};
use trove_wire::link::{LiveAddress, ShareLink};
use trove_wire::SHARE_ALPN;
use zeroize::Zeroizing;

use crate::http::RemoteOrigin;
use crate::{ServeError, ShareState};

/// Bounds on what one organization (or anyone dialing the endpoint) can hold open.
#[derive(Debug, Clone)]
pub struct RemoteLimits {
    /// Connections served at once; more are refused at the handshake.
    pub max_connections: usize,
    /// Connections one endpoint key may hold at once.
    pub max_connections_per_peer: usize,
    /// Streams (HTTP connections) one connection may have open at once: the QUIC limit
    /// the peer is told, so a client opening 1,000 streams waits for earlier ones.
    pub max_streams_per_connection: u32,
    /// Time to complete the QUIC handshake.
    pub handshake_timeout: Duration,
    /// Time for a stream to send a complete request head (also between requests).
    pub header_read_timeout: Duration,
    /// A connection with no open stream for this long is closed.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Most headers in one request.
    pub max_headers: usize,
}

impl Default for RemoteLimits {
    fn default() -> Self {
        RemoteLimits {
            max_connections: 64,
            max_connections_per_peer: 4,
            max_streams_per_connection: 32,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

/// Which relays the endpoint uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayChoice {
    /// n0's public relays, and n0's address lookup so organizations find the home relay.
    Default,
    /// One self-hosted `iroh-relay` (`https://…`, or `http://` on loopback), and no
    /// public address lookup.
    Custom(String),
    /// No relay: reachable only by direct addresses (tests, same network).
    Disabled,
}

/// How to bind the vault's endpoint.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    pub relay: RelayChoice,
    /// Bind only this address (e.g. `127.0.0.1:0` in tests); all interfaces otherwise.
    pub bind_addr: Option<SocketAddr>,
    /// Ask the home router for a port mapping (UPnP, PCP, NAT-PMP).
    pub portmapper: bool,
    /// The QUIC-level bounds (streams per connection, idle timeout); the same values as
    /// the server's [`crate::ShareConfig::remote`].
    pub limits: RemoteLimits,
}

impl RemoteOptions {
    /// The options the vault's remote settings ask for (its relay, or the default ones).
    pub fn from_settings(s: &RemoteSettings) -> Result<RemoteOptions, RemoteError> {
        let relay = match &s.relay {
            Some(url) => RelayChoice::Custom(
                trove_core::remote::validate_relay_url(url)
                    .map_err(|_| RemoteError::Relay(url.clone()))?,
            ),
            None => RelayChoice::Default,
        };
        // A relay on this computer (tests, demos) can only bring peers from this
        // computer: then the endpoint stays on loopback and asks no router for a port.
        let local = matches!(&relay, RelayChoice::Custom(u) if is_loopback_url(u));
        Ok(RemoteOptions {
            relay,
            bind_addr: local.then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            portmapper: !local,
            limits: RemoteLimits::default(),
        })
    }
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "::1" | "localhost"
    )
}

/// Why the remote endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "invalid relay URL {0:?}: it must be https://HOST[:PORT] (or http:// on this computer)"
    )]
    Relay(String),
    #[error("can't open the remote endpoint: {0}")]
    Bind(String),
    #[error("invalid bind address: {0}")]
    BindAddr(String),
}

impl RemoteError {
    /// A stable code, like trove-core's.
    pub fn code(&self) -> &'static str {
        match self {
            RemoteError::Relay(_) => "invalid_relay_url",
            RemoteError::Bind(_) => "remote_bind",
            RemoteError::BindAddr(_) => "remote_bind_addr",
        }
    }
}

/// The endpoint id (public key) of a vault's endpoint secret.
pub fn endpoint_id(secret: &EndpointSecret) -> [u8; 32] {
    *SecretKey::from_bytes(secret.expose_secret())
        .public()
        .as_bytes()
}

/// The relay URLs a share link names for `choice`: the self-hosted one, or every
/// default public relay (the organization's side finds the home relay among them).
pub fn relay_urls(choice: &RelayChoice) -> Vec<String> {
    match choice {
        RelayChoice::Custom(u) => vec![u.clone()],
        RelayChoice::Default => RelayMode::Default
            .relay_map()
            .urls::<Vec<RelayUrl>>()
            .iter()
            .map(ToString::to_string)
            .collect(),
        RelayChoice::Disabled => Vec::new(),
    }
}

/// The share link for `token`: the token, the endpoint id and the relays. Shown once
/// (it holds the token); zeroized when dropped.
pub fn share_link(
    token: &ShareToken,
    endpoint_id: [u8; 32],
    relays: Vec<String>,
) -> Zeroizing<String> {
    ShareLink {
        token: Zeroizing::new(token.expose_secret().to_string()),
        live: Some(LiveAddress {
            endpoint_id,
            relays,
            direct: Vec::new(),
        }),
        staged: None,
    }
    .encode()
}

/// The share link for `token` of `vault`: its endpoint id (the key is made on first
/// use) and the relays of its remote settings.
pub fn vault_share_link(
    vault: &Vault,
    token: &ShareToken,
) -> trove_core::Result<Zeroizing<String>> {
    let id = endpoint_id(&vault.endpoint_secret()?);
    Ok(share_link(token, id, vault_relays(vault)?))
}

/// Where `vault` answers live, for a link that also has another path (a staged copy):
/// its endpoint id and relays if it has an endpoint key (remote sharing was set up),
/// `None` without making one.
pub fn vault_live_address(vault: &Vault) -> trove_core::Result<Option<LiveAddress>> {
    let Some(secret) = vault.existing_endpoint_secret()? else {
        return Ok(None);
    };
    Ok(Some(LiveAddress {
        endpoint_id: endpoint_id(&secret),
        relays: vault_relays(vault)?,
        direct: Vec::new(),
    }))
}

fn vault_relays(vault: &Vault) -> trove_core::Result<Vec<String>> {
    let relay = match vault.remote_settings()?.relay {
        Some(u) => RelayChoice::Custom(u),
        None => RelayChoice::Default,
    };
    Ok(relay_urls(&relay))
}

fn transport_config(l: &RemoteLimits) -> QuicTransportConfig {
    let mut b = QuicTransportConfig::builder()
        .max_concurrent_bidi_streams(VarInt::from_u32(l.max_streams_per_connection))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        // Requests are small: a stream may send 64 KiB unacknowledged, a connection 1 MiB.
        .stream_receive_window(VarInt::from_u32(64 * 1024))
        .receive_window(VarInt::from_u32(1024 * 1024));
    if let Ok(t) = Duration::from_secs(30).try_into() {
        b = b.max_idle_timeout(Some(t));
    }
    b.build()
}

/// Binds the vault's endpoint with `secret` (the key organizations dial) and answers
/// only the share ALPN. It is not reachable through a relay until [`wait_online`]
/// returns.
pub async fn bind_endpoint(
    secret: &EndpointSecret,
    options: &RemoteOptions,
) -> Result<Endpoint, RemoteError> {
    let key = SecretKey::from_bytes(secret.expose_secret());
    let mut b = match &options.relay {
        RelayChoice::Default => Endpoint::builder(presets::N0),
        RelayChoice::Custom(url) => {
            let checked = trove_core::remote::validate_relay_url(url)
                .map_err(|_| RemoteError::Relay(url.clone()))?;
            let url: RelayUrl = checked
                .parse()
                .map_err(|_| RemoteError::Relay(url.clone()))?;
            Endpoint::builder(presets::Minimal).relay_mode(RelayMode::custom([url]))
        }
        RelayChoice::Disabled => {
            Endpoint::builder(presets::Minimal).relay_mode(RelayMode::Disabled)
        }
    };
    b = b
        .secret_key(key)
        .alpns(vec![SHARE_ALPN.to_vec()])
        .transport_config(transport_config(&options.limits));
    if !options.portmapper {
        b = b.portmapper_config(iroh::endpoint::PortmapperConfig::Disabled);
    }
    if let Some(addr) = options.bind_addr {
        b = b
            .clear_ip_transports()
            .bind_addr(addr)
            .map_err(|e| RemoteError::BindAddr(e.to_string()))?;
    }
    b.bind().await.map_err(|e| RemoteError::Bind(e.to_string()))
}

/// Waits until the endpoint is connected to its home relay (reachable from anywhere)
/// and returns that relay's URL. Never returns without a relay: wrap it in a timeout.
pub async fn wait_online(endpoint: &Endpoint) -> String {
    endpoint.online().await;
    endpoint
        .addr()
        .relay_urls()
        .next()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The endpoint id as 64 hex characters (what organizations dial, and what
/// `remote endpoint ID` prints).
pub fn endpoint_id_text(endpoint: &Endpoint) -> String {
    endpoint.id().to_string()
}

/// Counts of the remote side, for tests and diagnostics.
#[derive(Debug, Default)]
pub(crate) struct RemoteStats {
    connections: AtomicUsize,
    streams: AtomicUsize,
    peak_streams: AtomicUsize,
    refused_connections: AtomicUsize,
    per_peer: Mutex<HashMap<[u8; 32], usize>>,
}

/// A snapshot of [`ShareState::remote_counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoteCounts {
    /// Connections open now.
    pub connections: usize,
    /// Streams (HTTP connections) open now, over all connections.
    pub streams: usize,
    /// The most streams open at once since the server started.
    pub peak_streams: usize,
    /// Connections refused (too many at once, or per endpoint key, or a wrong ALPN).
    pub refused_connections: usize,
}

impl RemoteStats {
    pub(crate) fn counts(&self) -> RemoteCounts {
        RemoteCounts {
            connections: self.connections.load(Ordering::Relaxed),
            streams: self.streams.load(Ordering::Relaxed),
            peak_streams: self.peak_streams.load(Ordering::Relaxed),
            refused_connections: self.refused_connections.load(Ordering::Relaxed),
        }
    }

    fn refused(&self) {
        self.refused_connections.fetch_add(1, Ordering::Relaxed);
    }
}

/// Held while a stream is served.
struct StreamGuard(Arc<RemoteStats>);

impl StreamGuard {
    fn new(stats: &Arc<RemoteStats>) -> StreamGuard {
        let now = stats.streams.fetch_add(1, Ordering::Relaxed) + 1;
        stats.peak_streams.fetch_max(now, Ordering::Relaxed);
        StreamGuard(stats.clone())
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Held while a connection is served: its slot in the global and per-key limits.
struct ConnGuard {
    stats: Arc<RemoteStats>,
    peer: [u8; 32],
    _permit: OwnedSemaphorePermit,
}

impl ConnGuard {
    fn new(
        stats: &Arc<RemoteStats>,
        peer: [u8; 32],
        per_peer: usize,
        permit: OwnedSemaphorePermit,
    ) -> Option<ConnGuard> {
        let mut m = stats.per_peer.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(peer).or_default();
        if *n >= per_peer {
            return None;
        }
        *n += 1;
        stats.connections.fetch_add(1, Ordering::Relaxed);
        Some(ConnGuard {
            stats: stats.clone(),
            peer,
            _permit: permit,
        })
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.stats.connections.fetch_sub(1, Ordering::Relaxed);
        let mut m = self
            .stats
            .per_peer
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.peer);
            }
        }
    }
}

/// Serves the share API over `endpoint` until `shutdown` completes, then stops
/// accepting, lets open requests finish (up to 10 s) and closes the endpoint. Every
/// request goes through the same router, gate, failure limiter and access log as
/// [`crate::serve`]; its log row names the organization's endpoint key and the route.
pub async fn serve_remote(
    endpoint: Endpoint,
    state: ShareState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    endpoint.set_alpns(vec![SHARE_ALPN.to_vec()]);
    let limits = state.config().remote.clone();
    let stats = state.inner.remote.clone();
    let app = crate::router(state);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break, // the endpoint was closed
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            _ = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            stats.refused();
            incoming.refuse();
            continue;
        };
        let ctx = ConnCtx {
            app: app.clone(),
            limits: limits.clone(),
            stats: stats.clone(),
            stop: stop_rx.clone(),
        };
        conns.spawn(async move {
            let accepting = match incoming.accept() {
                Ok(a) => a,
                Err(_) => return,
            };
            let conn = match tokio::time::timeout(ctx.limits.handshake_timeout, accepting).await {
                Ok(Ok(c)) => c,
                _ => return,
            };
            if conn.alpn() != SHARE_ALPN {
                ctx.stats.refused();
                conn.close(VarInt::from_u32(1), b"unknown protocol");
                return;
            }
            let peer = *conn.remote_id().as_bytes();
            let Some(guard) = ConnGuard::new(
                &ctx.stats,
                peer,
                ctx.limits.max_connections_per_peer,
                permit,
            ) else {
                ctx.stats.refused();
                conn.close(VarInt::from_u32(2), b"too many connections");
                return;
            };
            serve_connection(conn, ctx).await;
            drop(guard);
        });
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
    }
    endpoint.close().await;
    Ok(())
}

struct ConnCtx {
    app: Router,
    limits: RemoteLimits,
    stats: Arc<RemoteStats>,
    stop: watch::Receiver<bool>,
}

/// Accepts the streams of one connection, each an HTTP/1.1 connection, until the peer
/// closes it, it stays idle too long, or the server stops.
async fn serve_connection(conn: Connection, mut ctx: ConnCtx) {
    let mut streams = JoinSet::new();
    loop {
        if *ctx.stop.borrow() {
            break;
        }
        let idle = streams.is_empty();
        tokio::select! {
            s = conn.accept_bi() => match s {
                Ok((send, recv)) => {
                    let guard = StreamGuard::new(&ctx.stats);
                    streams.spawn(serve_stream(
                        tokio::io::join(recv, send),
                        conn.clone(),
                        ctx.app.clone(),
                        ctx.limits.clone(),
                        ctx.stop.clone(),
                        guard,
                    ));
                }
                Err(_) => break,
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            _ = tokio::time::sleep(ctx.limits.idle_timeout), if idle => {
                conn.close(VarInt::from_u32(0), b"idle");
                break;
            }
            r = ctx.stop.changed() => if r.is_err() { break },
        }
    }
    while streams.join_next().await.is_some() {}
    conn.close(VarInt::from_u32(0), b"done");
}

/// The route of `conn`'s packets now, and what the log shows as the remote address.
fn route_of(conn: &Connection) -> (Route, String) {
    let paths = conn.paths();
    let chosen = paths
        .iter()
        .find(|p| p.is_selected())
        .or_else(|| paths.iter().find(|p| p.is_ip()))
        .map(|p| p.remote_addr().clone());
    match chosen {
        Some(TransportAddr::Ip(a)) => (Route::Direct, a.ip().to_string()),
        Some(TransportAddr::Relay(url)) => {
            let mut s = url.to_string();
            s.truncate(200);
            (Route::Relayed, s)
        }
        _ => (Route::Relayed, "relay".into()),
    }
}

async fn serve_stream<IO>(
    io: IO,
    conn: Connection,
    app: Router,
    limits: RemoteLimits,
    mut stop: watch::Receiver<bool>,
    _guard: StreamGuard,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let org_key = OrgKey(*conn.remote_id().as_bytes());
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Body>| {
        let (route, addr) = route_of(&conn);
        req.extensions_mut().insert(RemoteOrigin {
            peer: RemotePeer { org_key, route },
            addr,
        });
        app.clone().oneshot(req.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    let http = builder.serve_connection(TokioIo::new(io), svc);
    let mut http = std::pin::pin!(http);
    tokio::select! {
        _ = http.as_mut() => return,
        _ = stop.wait_for(|s| *s) => {}
    }
    http.as_mut().graceful_shutdown();
    let _ = http.await;
}
