//! Serving: the accept loop over plain TCP (loopback only) or TLS (rustls), with
//! per-connection timeouts and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::ShareState;

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// (Front ends say how to give a certificate: a flag, a setting.)
    #[error("refusing to listen on {0} without TLS: only loopback addresses (127.0.0.1, [::1]) may serve plain HTTP")]
    TlsRequired(SocketAddr),
    #[error("refusing the host name {0} without TLS: a name other than loopback is for clients on other machines, and they must reach the API over TLS")]
    HostNameNeedsTls(String),
    #[error("can't load the TLS certificate or key: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ServeError {
    /// A stable code, like trove-core's.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::TlsRequired(_) | ServeError::HostNameNeedsTls(_) => "tls_required",
            ServeError::Tls(_) => "tls",
            ServeError::Io(_) => "io",
        }
    }
}

/// Plain HTTP is only for loopback: any other address needs TLS.
pub fn check_bind(addr: &SocketAddr, tls: bool) -> Result<(), ServeError> {
    if tls || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(ServeError::TlsRequired(*addr))
    }
}

/// An extra accepted `Host` name (anything but our loopback names) is only for TLS.
pub fn check_host_name(host_name: Option<&str>, tls: bool) -> Result<(), ServeError> {
    match host_name {
        Some(name) if !tls => Err(ServeError::HostNameNeedsTls(
            name.chars().take(253).collect(),
        )),
        _ => Ok(()),
    }
}

/// A TLS acceptor from PEM files (certificate chain and private key), using rustls
/// with the ring provider and its safe default protocol versions.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| ServeError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "{}: no certificate found",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves the share API on `listener` until `shutdown` completes, then stops accepting
/// and waits (up to 10 s) for open requests to finish. A non-loopback listener needs
/// `tls`. The Host check uses the listener's port.
pub async fn serve(
    listener: TcpListener,
    state: ShareState,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let local = listener.local_addr()?;
    check_bind(&local, tls.is_some())?;
    check_host_name(state.config().host_name.as_deref(), tls.is_some())?;
    state.set_port(local.port());
    let app = crate::router(state);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .max_buf_size(64 * 1024);
        let watcher = graceful.watcher();
        match &tls {
            None => {
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                tokio::spawn(async move {
                    let _ = watcher.watch(conn).await;
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    let stream = match handshake.await {
                        Ok(Ok(s)) => s,
                        _ => return,
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(check_bind(&"127.0.0.1:7878".parse().unwrap(), false).is_ok());
        assert!(check_bind(&"[::1]:7878".parse().unwrap(), false).is_ok());
        let e = check_bind(&"0.0.0.0:7878".parse().unwrap(), false).unwrap_err();
        assert_eq!(e.code(), "tls_required");
        assert!(e.to_string().contains("without TLS"), "{e}");
        assert!(check_bind(&"192.168.1.5:7878".parse().unwrap(), false).is_err());
        assert!(check_bind(&"0.0.0.0:7878".parse().unwrap(), true).is_ok());
    }
}
