//! Live reads over iroh: dial the person's endpoint id (from the share link) with the
//! organization's key, then speak the share API's HTTP/1.1 over QUIC streams.
//!
//! One QUIC connection per client, dialled on the first request and again after it is
//! lost. Each bidirectional stream carries one HTTP/1.1 connection; idle ones are kept
//! for the next request. Every step is bounded by a timeout and a size limit.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use iroh::endpoint::{presets, Connection, PortmapperConfig};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayMode, RelayUrl};
use trove_wire::link::LiveAddress;
use trove_wire::{REMOTE_HOST, SHARE_ALPN};

use crate::response::{push_capped, RawResponse};
use crate::{ClientError, OrgKey, Token, DEFAULT_MAX_RESPONSE_BYTES};

/// Idle HTTP/1.1 streams kept for reuse.
const MAX_IDLE_STREAMS: usize = 32;
/// The longest response head (status line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Which network paths a remote client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathPolicy {
    /// Whatever works: the relay first, a direct path as soon as hole punching finds one.
    #[default]
    Any,
    /// Only the link's direct addresses; never a relay.
    Direct,
    /// Only through a relay; never a direct path (this side sends no UDP of its own).
    Relay,
}

/// The path a connection currently takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkPath {
    /// Straight between the two computers (UDP, possibly after hole punching).
    Direct,
    /// Through a relay, which forwards encrypted packets and sees only endpoint ids.
    Relayed,
}

impl fmt::Display for NetworkPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkPath::Direct => "direct",
            NetworkPath::Relayed => "relayed",
        })
    }
}

/// How a remote client connects and how long it waits.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// The longest wait for the person's Trove to accept a connection (default 15 s).
    pub connect_timeout: Duration,
    /// The longest wait for each answer, once connected (default 30 s).
    pub request_timeout: Duration,
    /// Relay URLs to use instead of the link's (a self-hosted relay, or one on loopback
    /// in tests). `https://…`; plain `http://` only for a relay on this computer.
    pub relays: Option<Vec<String>>,
    /// Which paths to use (default: any).
    pub path: PathPolicy,
    /// The largest answer read (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub max_response_bytes: usize,
    /// INSECURE, tests only (feature `test-utils`): accept any certificate from relays
    /// (e.g. iroh's test relay with its self-signed one). The share API itself stays
    /// authenticated by the endpoint id either way.
    #[cfg(feature = "test-utils")]
    pub insecure_skip_relay_cert_verify: bool,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            connect_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            relays: None,
            path: PathPolicy::Any,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            #[cfg(feature = "test-utils")]
            insecure_skip_relay_cert_verify: false,
        }
    }
}

impl RemoteOptions {
    /// Sets both timeouts (connecting, and each answer).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self.request_timeout = limit;
        self
    }
}

type Sender = SendRequest<Empty<Bytes>>;

/// The iroh side of a [`crate::Client`].
pub(crate) struct Remote {
    endpoint: Endpoint,
    peer: EndpointAddr,
    /// The current connection, if any (checked without waiting).
    current: Mutex<Option<Connection>>,
    /// Held while dialling, so concurrent requests share one attempt.
    dialing: tokio::sync::Mutex<()>,
    idle: Mutex<Vec<Sender>>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("org", &self.endpoint.id().fmt_short().to_string())
            .field("peer", &self.peer)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// Why a request could not be sent: before anything went out (safe to retry on a new
/// connection), or after.
enum Failure {
    BeforeSending(ClientError),
    After(ClientError),
}

impl Remote {
    pub(crate) async fn bind(
        live: &LiveAddress,
        key: &OrgKey,
        o: RemoteOptions,
    ) -> Result<Remote, ClientError> {
        let id = EndpointId::from_bytes(&live.endpoint_id).map_err(|_| {
            ClientError::Config(
                "the link's endpoint id is not a valid key: ask the person for a new link".into(),
            )
        })?;
        let relays = match &o.relays {
            Some(r) => r,
            None => &live.relays,
        }
        .iter()
        .map(|r| parse_relay(r))
        .collect::<Result<Vec<_>, _>>()?;
        let direct = live
            .direct
            .iter()
            .map(|d| {
                d.parse::<SocketAddr>().map_err(|_| {
                    ClientError::Config(format!(
                        "the link's direct address {d:?} is not IP:PORT: ask the person for a new link"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (relays, direct) = match o.path {
            PathPolicy::Any => (relays, direct),
            PathPolicy::Direct => (Vec::new(), direct),
            PathPolicy::Relay => (relays, Vec::new()),
        };
        if relays.is_empty() && direct.is_empty() {
            return Err(ClientError::Config(match o.path {
                PathPolicy::Relay => "a relayed connection needs a relay, and this link names none: give one (--relay URL)".into(),
                PathPolicy::Direct => "a direct connection needs an address, and this link has none: allow relays".into(),
                PathPolicy::Any => "this link names neither a relay nor an address to reach the person's Trove: give a relay (--relay URL) or ask for a new link".into(),
            }));
        }
        // No address lookup (no DNS or pkarr queries about the person): the link says
        // where to go. No port mapping: the organization only dials out.
        let mut b = Endpoint::builder(presets::Minimal)
            .secret_key(key.secret().clone())
            .portmapper_config(PortmapperConfig::Disabled);
        b = if relays.is_empty() {
            b.relay_mode(RelayMode::Disabled)
        } else {
            b.relay_mode(RelayMode::custom(relays.iter().cloned()))
        };
        if o.path == PathPolicy::Relay {
            b = b.clear_ip_transports();
        }
        #[cfg(feature = "test-utils")]
        if o.insecure_skip_relay_cert_verify {
            b = b.ca_tls_config(iroh::tls::CaTlsConfig::insecure_skip_verify());
        }
        let endpoint = b.bind().await.map_err(|e| {
            ClientError::Transport(format!("could not start the network endpoint: {e}"))
        })?;
        let mut peer = EndpointAddr::new(id);
        for r in relays {
            peer = peer.with_relay_url(r);
        }
        for d in direct {
            peer = peer.with_ip_addr(d);
        }
        Ok(Remote {
            endpoint,
            peer,
            current: Mutex::new(None),
            dialing: tokio::sync::Mutex::new(()),
            idle: Mutex::new(Vec::new()),
            connect_timeout: o.connect_timeout,
            request_timeout: o.request_timeout,
            max_response_bytes: o.max_response_bytes,
        })
    }

    pub(crate) fn peer_id(&self) -> String {
        self.peer.id.to_string()
    }

    pub(crate) async fn close(&self) {
        self.idle.lock().expect("idle streams").clear();
        if let Some(c) = self.current.lock().expect("connection").take() {
            c.close(0u8.into(), b"bye");
        }
        self.endpoint.close().await;
    }

    pub(crate) fn network_path(&self) -> Option<NetworkPath> {
        let c = self.live_connection()?;
        let paths = c.paths();
        let selected = paths.iter().find(|p| p.is_selected())?;
        Some(if selected.is_relay() {
            NetworkPath::Relayed
        } else {
            NetworkPath::Direct
        })
    }

    /// Sends one request; retries once on a new connection when the old one turned out
    /// to be gone before the request went out (never after: a sent read counts a use).
    pub(crate) async fn send(
        &self,
        token: &Token,
        method: Method,
        path: &str,
    ) -> Result<RawResponse, ClientError> {
        let (conn, fresh) = self.connection().await?;
        let first = self.attempt(&conn, token, method.clone(), path).await;
        match first {
            Ok(r) => Ok(r),
            Err(Failure::After(e)) => Err(e),
            Err(Failure::BeforeSending(e)) if fresh => Err(e),
            Err(Failure::BeforeSending(_)) => {
                let (conn, _) = self.connection().await?;
                match self.attempt(&conn, token, method, path).await {
                    Ok(r) => Ok(r),
                    Err(Failure::After(e) | Failure::BeforeSending(e)) => Err(e),
                }
            }
        }
    }

    async fn attempt(
        &self,
        conn: &Connection,
        token: &Token,
        method: Method,
        path: &str,
    ) -> Result<RawResponse, Failure> {
        let waited = tokio::time::timeout(self.request_timeout, async {
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, HeaderValue::from_static(REMOTE_HOST))
                .header(header::AUTHORIZATION, token.header())
                .body(Empty::<Bytes>::new())
                .map_err(|e| Failure::BeforeSending(ClientError::Config(e.to_string())))?;
            // An idle stream first; if it turns out closed before the request went out,
            // a new one.
            loop {
                let (mut sender, pooled) = match self.take_idle().await {
                    Some(s) => (s, true),
                    None => (self.open_stream(conn).await?, false),
                };
                match sender.try_send_request(req).await {
                    Ok(resp) => {
                        let raw = self.read(conn, resp).await.map_err(Failure::After)?;
                        self.put_idle(sender);
                        return Ok(raw);
                    }
                    Err(mut e) => match e.take_message() {
                        Some(r) if pooled => req = r,
                        Some(_) => return Err(Failure::BeforeSending(self.lost(conn, e.error()))),
                        None => return Err(Failure::After(self.lost(conn, e.error()))),
                    },
                }
            }
        })
        .await;
        waited.unwrap_or_else(|_| {
            Err(Failure::After(ClientError::Unreachable(format!(
                "no answer within {}",
                human(self.request_timeout)
            ))))
        })
    }

    async fn read(
        &self,
        conn: &Connection,
        resp: hyper::Response<hyper::body::Incoming>,
    ) -> Result<RawResponse, ClientError> {
        let limit = self.max_response_bytes;
        let (parts, mut body) = resp.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ClientError::TooLarge { limit });
        }
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.lost(conn, &e))?;
            if let Ok(data) = frame.into_data() {
                push_capped(&mut buf, &data, limit)?;
            }
        }
        Ok(RawResponse {
            status: parts.status,
            headers: parts.headers,
            body: buf.freeze(),
        })
    }

    /// The current connection, or a new one (`true`: just dialled).
    async fn connection(&self) -> Result<(Connection, bool), ClientError> {
        if let Some(c) = self.live_connection() {
            return Ok((c, false));
        }
        let _dialing = self.dialing.lock().await;
        if let Some(c) = self.live_connection() {
            return Ok((c, false));
        }
        let dial = self.endpoint.connect(self.peer.clone(), SHARE_ALPN);
        let conn = match tokio::time::timeout(self.connect_timeout, dial).await {
            Err(_) => {
                return Err(ClientError::Unreachable(format!(
                    "no answer within {}",
                    human(self.connect_timeout)
                )))
            }
            Ok(Err(e)) => return Err(ClientError::Unreachable(format!("could not connect: {e}"))),
            Ok(Ok(c)) => c,
        };
        *self.current.lock().expect("connection") = Some(conn.clone());
        Ok((conn, true))
    }

    fn live_connection(&self) -> Option<Connection> {
        self.current
            .lock()
            .expect("connection")
            .as_ref()
            .filter(|c| c.close_reason().is_none())
            .cloned()
    }

    async fn open_stream(&self, conn: &Connection) -> Result<Sender, Failure> {
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| Failure::BeforeSending(self.lost(conn, &e)))?;
        let io = TokioIo::new(tokio::io::join(recv, send));
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_HEAD_BYTES)
            .handshake(io)
            .await
            .map_err(|e| Failure::BeforeSending(ClientError::Transport(e.to_string())))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn take_idle(&self) -> Option<Sender> {
        loop {
            let mut s = self.idle.lock().expect("idle streams").pop()?;
            if !s.is_closed() && s.ready().await.is_ok() {
                return Some(s);
            }
        }
    }

    fn put_idle(&self, s: Sender) {
        let mut idle = self.idle.lock().expect("idle streams");
        if !s.is_closed() && idle.len() < MAX_IDLE_STREAMS {
            idle.push(s);
        }
    }

    /// The error for a failed stream: the connection is gone (forget it: the next
    /// request dials again), or something else broke.
    fn lost(&self, conn: &Connection, e: &dyn std::error::Error) -> ClientError {
        if let Some(reason) = conn.close_reason() {
            let mut current = self.current.lock().expect("connection");
            if current
                .as_ref()
                .is_some_and(|c| c.stable_id() == conn.stable_id())
            {
                *current = None;
            }
            self.idle.lock().expect("idle streams").clear();
            ClientError::Unreachable(format!("the connection was lost: {reason}"))
        } else {
            ClientError::Transport(format!("the share API stream failed: {e}"))
        }
    }
}

/// A relay URL from a link or `--relay`: https, or plain http on loopback (tests).
pub(crate) fn parse_relay(s: &str) -> Result<RelayUrl, ClientError> {
    let url: RelayUrl = s.parse().map_err(|_| {
        ClientError::Config(format!(
            "{s:?} is not a relay URL (like https://relay.example.org)"
        ))
    })?;
    let loopback = url
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .is_some_and(|h| h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(ClientError::Config(format!(
            "the relay {s} uses plain http on another computer: relays must use https (plain http only for a relay on this computer)"
        ))),
        other => Err(ClientError::Config(format!(
            "the relay {s} has scheme {other:?}: relay URLs start with https://"
        ))),
    }
}

/// `15 s`, `500 ms`.
pub(crate) fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls_must_be_https_unless_on_loopback() {
        assert!(parse_relay("https://relay.example.org./").is_ok());
        assert!(parse_relay("http://127.0.0.1:3340").is_ok());
        assert!(parse_relay("http://[::1]:3340").is_ok());
        assert!(parse_relay("http://localhost:3340").is_ok());
        let e = parse_relay("http://relay.example.org").unwrap_err();
        assert!(e.to_string().contains("must use https"), "{e}");
        assert!(parse_relay("ftp://relay.example.org").is_err());
        assert!(parse_relay("not a url").is_err());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(15)), "15 s");
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
    }

    #[tokio::test]
    async fn a_link_without_any_route_is_refused_before_binding() {
        let key = OrgKey::generate();
        let live = LiveAddress {
            endpoint_id: *OrgKey::generate().secret().public().as_bytes(),
            relays: vec![],
            direct: vec![],
        };
        let e = Remote::bind(&live, &key, RemoteOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "config");
        let live = LiveAddress {
            direct: vec!["192.0.2.1:4".into()],
            ..live
        };
        let o = RemoteOptions {
            path: PathPolicy::Relay,
            ..Default::default()
        };
        let e = Remote::bind(&live, &key, o).await.unwrap_err();
        assert!(e.to_string().contains("needs a relay"), "{e}");
        let live = LiveAddress {
            direct: vec!["nowhere".into()],
            ..live
        };
        let e = Remote::bind(&live, &key, RemoteOptions::default())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("\"nowhere\""), "{e}");
    }
}
