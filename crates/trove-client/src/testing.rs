//! For tests and benchmarks only: an iroh relay on loopback (feature `local-relay`, also
//! in `test-utils`), so that nothing ever contacts a public relay, and an S3 server on
//! loopback (feature `local-s3`) for staged copies.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let relay = trove_client::testing::LocalRelay::spawn().await?;
//! // Serve with `trove serve --remote --relay <url>`, read with `trove-org … --relay <url>`.
//! println!("{}", relay.url());
//! # Ok(()) }
//! ```

#[cfg(feature = "local-relay")]
use iroh_relay::server::{RelayConfig, Server, ServerConfig};

/// A relay server on 127.0.0.1 speaking plain HTTP (WebSocket relaying, no QUIC address
/// discovery): clients accept `http://` relays only on loopback. Stops when dropped.
#[cfg(feature = "local-relay")]
#[derive(Debug)]
pub struct LocalRelay {
    url: String,
    _server: Server,
}

#[cfg(feature = "local-relay")]
impl LocalRelay {
    /// Starts the relay on a free port and returns once it accepts connections.
    pub async fn spawn() -> anyhow::Result<LocalRelay> {
        let mut config = ServerConfig::default();
        config.relay = Some(RelayConfig::new((std::net::Ipv4Addr::LOCALHOST, 0)));
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

/// An S3 server on 127.0.0.1 (s3s-fs: one directory per bucket under its root, one file
/// per object), checking SigV4 against one access key. [`LocalS3::stop`] closes the
/// listener and every open connection, so the storage is really unreachable until it is
/// started again (on the same port, to test a comeback). Stops when dropped.
#[cfg(feature = "local-s3")]
#[derive(Debug)]
pub struct LocalS3 {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[cfg(feature = "local-s3")]
impl LocalS3 {
    /// Serves the buckets under `root` on 127.0.0.1:`port` (0: any free port), accepting
    /// requests signed with `access_key` / `secret_key` only.
    pub async fn start(
        root: &std::path::Path,
        port: u16,
        access_key: &str,
        secret_key: &str,
    ) -> anyhow::Result<LocalS3> {
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| anyhow::anyhow!("s3s-fs on {}: {e:?}", root.display()))?;
        let mut b = s3s::service::S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(access_key, secret_key));
        let svc = b.build();
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    r = listener.accept() => {
                        let Ok((sock, _)) = r else { continue };
                        let svc = svc.clone();
                        conns.spawn(async move {
                            let io = hyper_util::rt::TokioIo::new(sock);
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, svc)
                                .await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                    _ = &mut rx => break,
                }
            }
            conns.abort_all();
        });
        Ok(LocalS3 {
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, the endpoint of a storage target.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops listening and closes every connection; returns once they are closed.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

#[cfg(feature = "local-s3")]
impl Drop for LocalS3 {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
