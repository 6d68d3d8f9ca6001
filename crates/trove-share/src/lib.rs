//! Trove's share API server: axum on tokio over trove-core. The handlers are thin: they
//! turn an HTTP request into a [`trove_core::ShareRequest`], let the gate decide it
//! (grant check, projection, use count and access-log row in one transaction), and turn
//! the [`trove_core::ShareReply`] into JSON. The same router answers on loopback
//! ([`serve`]) and over iroh ([`serve_remote`], see the `remote` module).
//!
//! ```no_run
//! # async fn run(vault: trove_core::Vault) -> Result<(), trove_share::ServeError> {
//! let state = trove_share::ShareState::new(vault, trove_share::ShareConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! trove_share::serve(listener, state, None, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
#![forbid(unsafe_code)]

mod gate;
mod http;
mod limit;
mod remote;
mod server;
pub mod staging;

pub use http::router;
/// The iroh endpoint [`bind_endpoint`] makes and [`serve_remote`] serves.
pub use iroh::Endpoint as RemoteEndpoint;
pub use remote::{
    bind_endpoint, endpoint_id, endpoint_id_text, relay_urls, serve_remote, share_link,
    vault_live_address, vault_share_link, wait_online, RelayChoice, RemoteCounts, RemoteError,
    RemoteLimits, RemoteOptions,
};
pub use server::{check_bind, check_host_name, serve, tls_acceptor, ServeError};

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use trove_core::{ShareEngine, Vault};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ShareConfig {
    /// The port answered for in the Host check (set by [`serve`] from its listener).
    pub port: u16,
    /// Another accepted `Host` (e.g. `trove.example:7878`), for TLS on a LAN name.
    pub host_name: Option<String>,
    /// Requests with a larger body are refused with 413.
    pub max_body_bytes: usize,
    /// Failed requests per credential (a token, or no token from one source) within
    /// `failure_window` before 429.
    pub max_failures: u32,
    /// The window of the failure count (and the longest `Retry-After`).
    pub failure_window: Duration,
    /// The most requests committed in one transaction.
    pub batch_max: usize,
    /// Bounds of the remote (iroh) side.
    pub remote: RemoteLimits,
}

impl Default for ShareConfig {
    fn default() -> Self {
        ShareConfig {
            port: 7878,
            host_name: None,
            max_body_bytes: 16 * 1024,
            max_failures: 20,
            failure_window: Duration::from_secs(60),
            batch_max: 256,
            remote: RemoteLimits::default(),
        }
    }
}

/// The server's shared state: the gate (vault connection), config and rate limiter.
#[derive(Clone)]
pub struct ShareState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ShareConfig,
    port: AtomicU16,
    gate: gate::Gate,
    limiter: limit::FailureLimiter,
    remote: Arc<remote::RemoteStats>,
}

impl ShareState {
    /// Serves `vault` (the server takes this handle; open others with
    /// [`Vault::try_clone`]).
    pub fn new(vault: Vault, config: ShareConfig) -> ShareState {
        let engine = ShareEngine::new(&vault);
        Self::with_engine(vault, engine, config)
    }

    /// Serves `vault` with a configured engine (tests inject log failures this way).
    pub fn with_engine(vault: Vault, engine: ShareEngine, config: ShareConfig) -> ShareState {
        Self::build(Some((vault, engine)), config)
    }

    /// A server whose vault is locked: every API call answers 503 until
    /// [`ShareState::unlock`].
    pub fn locked(config: ShareConfig) -> ShareState {
        Self::build(None, config)
    }

    fn build(open: Option<(Vault, ShareEngine)>, config: ShareConfig) -> ShareState {
        ShareState {
            inner: Arc::new(Inner {
                port: AtomicU16::new(config.port),
                gate: gate::Gate::start(open, config.batch_max),
                limiter: limit::FailureLimiter::new(config.max_failures, config.failure_window),
                remote: Arc::default(),
                config,
            }),
        }
    }

    /// Locks: the server drops its vault handle (closing the database, zeroizing the
    /// key) and answers 503 until unlocked.
    pub fn lock(&self) {
        self.inner.gate.lock();
    }

    /// Unlocks with `vault`.
    pub fn unlock(&self, vault: Vault) {
        let engine = ShareEngine::new(&vault);
        self.inner.gate.unlock(vault, engine);
    }

    /// Writes the rows that sum up repeated failures folded so far (they are otherwise
    /// written when their minute ends, when the vault locks, or when the server stops),
    /// and merges the side journal into the log unless a writer holds the vault; returns
    /// once they are committed. For a shutdown that must not lose a count, and for tests.
    pub async fn flush_failure_rows(&self) {
        self.inner.gate.flush_failures().await;
    }

    /// How many write transactions (batches) the server has committed and how many
    /// requests they decided, since it started: their ratio is the mean batch size.
    pub fn batch_counts(&self) -> (u64, u64) {
        self.inner.gate.counts()
    }

    /// Connections and streams of the remote side (see [`serve_remote`]).
    pub fn remote_counts(&self) -> RemoteCounts {
        self.inner.remote.counts()
    }

    /// The configuration.
    pub fn config(&self) -> &ShareConfig {
        &self.inner.config
    }

    pub(crate) fn port(&self) -> u16 {
        self.inner.port.load(Ordering::Relaxed)
    }

    pub(crate) fn set_port(&self, port: u16) {
        self.inner.port.store(port, Ordering::Relaxed);
    }
}
