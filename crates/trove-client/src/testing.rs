//! For tests and benchmarks only (feature `local-relay`, also in `test-utils`): an iroh relay on loopback, so
//! that nothing ever contacts a public relay.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let relay = trove_client::testing::LocalRelay::spawn().await?;
//! // Serve with `trove serve --remote --relay <url>`, read with `trove-org … --relay <url>`.
//! println!("{}", relay.url());
//! # Ok(()) }
//! ```

use std::net::Ipv4Addr;

use iroh_relay::server::{RelayConfig, Server, ServerConfig};

/// A relay server on 127.0.0.1 speaking plain HTTP (WebSocket relaying, no QUIC address
/// discovery): clients accept `http://` relays only on loopback. Stops when dropped.
#[derive(Debug)]
pub struct LocalRelay {
    url: String,
    _server: Server,
}

impl LocalRelay {
    /// Starts the relay on a free port and returns once it accepts connections.
    pub async fn spawn() -> anyhow::Result<LocalRelay> {
        let mut config = ServerConfig::default();
        config.relay = Some(RelayConfig::new((Ipv4Addr::LOCALHOST, 0)));
        let server = Server::spawn(config).await?;
        let addr = server
            .http_addr()
            .ok_or_else(|| anyhow::anyhow!("the relay has no HTTP address"))?;
        Ok(LocalRelay {
            url: format!("http://{addr}"),
            _server: server,
        })
    }

    /// `http://127.0.0.1:PORT`, for `--relay` and [`crate::RemoteOptions::relays`].
    pub fn url(&self) -> &str {
        &self.url
    }
}
