//! `trove-org proxy`: the plain HTTP share API on the organization's loopback, each
//! request forwarded to the person's Trove over iroh with the link's token. Answers are
//! passed through as they came (status, JSON body, `WWW-Authenticate`, `Retry-After`);
//! when the person's Trove cannot be reached the proxy answers `503` with
//! `{"error": "unreachable"}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use trove_client::{Client, ClientError, ErrorBody};

/// Headers of the person's answer passed on to the organization's caller.
const PASSED_HEADERS: [header::HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::WWW_AUTHENTICATE,
    header::RETRY_AFTER,
    header::X_CONTENT_TYPE_OPTIONS,
];

/// The proxy adds the grant's token to every request: it serves only this computer.
pub fn check_listen(addr: SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!(
            "refusing to listen on {addr}: the proxy adds the grant's token to every request, so it serves only this computer; listen on 127.0.0.1:PORT or [::1]:PORT"
        );
    }
    Ok(())
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn run(client: Client, listen: SocketAddr, verbose: bool) -> anyhow::Result<()> {
    check_listen(listen)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("can't listen on {listen}"))?;
    let local = listener.local_addr()?;
    let client = Arc::new(client);
    println!("listening on http://{local}");
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("trove-org: accept failed: {e}");
                    // Out of file descriptors and the like: let some connections end.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let svc = hyper::service::service_fn(move |req| {
            let client = client.clone();
            async move { Ok::<_, std::convert::Infallible>(forward(&client, local, req, verbose).await) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
    client.close().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn forward(
    client: &Client,
    local: SocketAddr,
    req: Request<Incoming>,
    verbose: bool,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let resp = if !host_is_ours(req.headers(), local) {
        // DNS-rebinding defence, as on the person's own share server.
        error(
            StatusCode::MISDIRECTED_REQUEST,
            "invalid_request",
            "this proxy does not answer for that Host",
        )
    } else if method != Method::GET && method != Method::POST {
        error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "method not allowed on this endpoint",
        )
    } else {
        // The caller's own Authorization (if any) is not forwarded: the link's token is.
        match client.send(method.clone(), &path).await {
            Ok(raw) => {
                let mut r = Response::new(Full::new(raw.body));
                *r.status_mut() = raw.status;
                for name in PASSED_HEADERS {
                    if let Some(v) = raw.headers.get(&name) {
                        r.headers_mut().insert(name, v.clone());
                    }
                }
                r
            }
            Err(e) => from_error(&e),
        }
    };
    let mut resp = resp;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if verbose {
        eprintln!(
            "trove-org: {method} {path} -> {} ({} ms)",
            resp.status().as_u16(),
            started.elapsed().as_millis()
        );
    }
    resp
}

/// The answer when no answer came from the person's Trove.
fn from_error(e: &ClientError) -> Response<Full<Bytes>> {
    match e {
        ClientError::Unreachable(_) => {
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unreachable",
                &e.to_string(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            r
        }
        ClientError::Config(_) => error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()),
        _ => error(StatusCode::BAD_GATEWAY, "bad_gateway", &e.to_string()),
    }
}

fn error(status: StatusCode, error: &str, description: &str) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&ErrorBody {
        error: error.into(),
        error_description: description.into(),
    })
    .expect("error bodies serialize");
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `Host` must name this proxy's own loopback address and port.
fn host_is_ours(headers: &hyper::HeaderMap, local: SocketAddr) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let port = local.port();
    [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ]
    .contains(&host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback() {
        assert!(check_listen("127.0.0.1:0".parse().unwrap()).is_ok());
        assert!(check_listen("[::1]:7879".parse().unwrap()).is_ok());
        let e = check_listen("0.0.0.0:7879".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("refusing"), "{e}");
        assert!(check_listen("192.168.1.2:7879".parse().unwrap()).is_err());
    }

    #[test]
    fn host_must_be_this_proxy() {
        let local: SocketAddr = "127.0.0.1:7879".parse().unwrap();
        let h = |v: &str| {
            let mut m = hyper::HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(v).unwrap());
            host_is_ours(&m, local)
        };
        assert!(h("127.0.0.1:7879"));
        assert!(h("LOCALHOST:7879"));
        assert!(!h("evil.example:7879"));
        assert!(!h("127.0.0.1:80"));
        assert!(!host_is_ours(&hyper::HeaderMap::new(), local));
    }
}
