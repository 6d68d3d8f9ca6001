//! The share API over iroh, with real endpoints in this process and a relay on
//! loopback: the same answers, limits and log rows as loopback HTTP, plus the
//! organization's key and route in every row, key-bound grants, revocation under load,
//! a locked vault, and the bounds on streams, idle peers and request heads.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::remote::*;
use common::*;
use trove_core::{LogFilter, Route};
use trove_share::{RelayChoice, RemoteLimits, ShareConfig, ShareState};
use trove_wire::link::ShareLink;

const GUARD: Duration = Duration::from_secs(60);

fn log(f: &Fixture) -> Vec<trove_core::LogEntry> {
    f.vault.log_entries(&LogFilter::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_through_the_relay_is_answered_and_logged_with_the_org_key_and_route() {
    let relay = local_relay().await;
    let f = fixture();
    f.vault.set_remote_relay(Some(&relay.url)).unwrap();
    let (g, t) = f.grant(new_grant(&["contact.email"]));
    let secret = f.vault.endpoint_secret().unwrap();

    // The link names the vault's endpoint and its relay, and carries the token.
    let link = trove_share::vault_share_link(&f.vault, &t).unwrap();
    let parsed = ShareLink::parse(&link).unwrap();
    assert_eq!(parsed.token.as_str(), t.expose_secret());
    let live = parsed.live.expect("a live address");
    assert_eq!(live.endpoint_id, trove_share::endpoint_id(&secret));
    assert_eq!(live.relays, std::slice::from_ref(&relay.url));

    let server = serve(
        &secret,
        options(RelayChoice::Custom(relay.url.clone())),
        f.state(ShareConfig::default()),
    )
    .await;
    assert_eq!(*server.addr.id.as_bytes(), live.endpoint_id);
    let org = org_endpoint(Dial::RelayOnly, Some(&relay.url)).await;
    let conn = connect(&org, &server.addr, Dial::RelayOnly).await;
    let before = f.vault.log_len().unwrap();
    let a = get(&conn, "/v1/records", Some(t.expose_secret())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rs: trove_wire::Records = serde_json::from_str(&a.body).unwrap();
    assert!(!rs.records.is_empty());
    assert!(rs
        .records
        .iter()
        .all(|r| r.fields.keys().all(|k| k == "email")));
    // Two requests on one stream (HTTP/1.1 keep-alive), then the grant over a new one.
    let a = get(&conn, "/v1/grant", Some(t.expose_secret())).await;
    assert_eq!(a.json()["id"], g.id.as_str());
    assert_eq!(f.vault.log_len().unwrap(), before + 2);
    let row = &log(&f)[1];
    assert_eq!(row.outcome, "allowed");
    assert_eq!(row.org_key.as_deref(), Some(org.id().to_string().as_str()));
    assert_eq!(row.route, Some(Route::Relayed));
    assert_eq!(
        row.remote_addr.as_deref(),
        Some(format!("{}/", relay.url).as_str())
    );
    assert_eq!(row.path.as_deref(), Some("/v1/records"));
    assert!(!row.record_ids.is_empty());
    assert_eq!(
        f.vault.get_grant(&g.id).unwrap().org_key,
        Some(org.id().to_string()),
        "the first remote use bound the grant to the organization's key"
    );
    // The Host names no DNS name over iroh; a loopback name is refused there.
    let a = request_with_host(&conn, "127.0.0.1:7878", t.expose_secret()).await;
    assert_eq!(a.status, 421);
    assert!(f.vault.verify_log().unwrap().ok);
    conn.close(0u32.into(), b"done");
    server.stop().await;
}

/// One request with an explicit Host header.
async fn request_with_host(
    conn: &iroh::endpoint::Connection,
    host: &str,
    token: &str,
) -> RemoteAnswer {
    let (send, recv) = conn.open_bi().await.unwrap();
    let io = hyper_util::rt::TokioIo::new(tokio::io::join(recv, send));
    let (mut sender, http) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(http);
    let resp = sender
        .send_request(
            hyper::Request::get("/v1/grant")
                .header("host", host)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), 1 << 20)
        .await
        .unwrap();
    RemoteAnswer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_connection_is_answered_and_logged_as_direct() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["address.city"]));
    let secret = f.vault.endpoint_secret().unwrap();
    let server = serve(
        &secret,
        options(RelayChoice::Disabled),
        f.state(ShareConfig::default()),
    )
    .await;
    let org = org_endpoint(Dial::Direct, None).await;
    let conn = connect(&org, &server.addr, Dial::Direct).await;
    let a = get(&conn, "/v1/records?type=address", Some(t.expose_secret())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let row = &log(&f)[0];
    assert_eq!(
        (row.route, row.org_key.clone(), row.remote_addr.as_deref()),
        (
            Some(Route::Direct),
            Some(org.id().to_string()),
            Some("127.0.0.1")
        )
    );
    assert_eq!(row.path.as_deref(), Some("/v1/records?type=address"));
    server.stop().await;
}

/// A grant bound to one organization's key (on first remote use, or at creation)
/// answers no other key (401 invalid_token, logged denied:wrong_key) and not over
/// loopback HTTP (denied:key_bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_bound_grant_refuses_another_key_and_plain_http() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["note"]));
    let secret = f.vault.endpoint_secret().unwrap();
    let state = f.state(ShareConfig::default());
    let server = serve(&secret, options(RelayChoice::Disabled), state.clone()).await;
    let first = org_endpoint(Dial::Direct, None).await;
    let thief = org_endpoint(Dial::Direct, None).await;
    let c1 = connect(&first, &server.addr, Dial::Direct).await;
    let c2 = connect(&thief, &server.addr, Dial::Direct).await;
    assert_eq!(
        get(&c1, "/v1/grant", Some(t.expose_secret())).await.status,
        200
    );
    let a = get(&c2, "/v1/records", Some(t.expose_secret())).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.json()["error"], "invalid_token");
    let row = &log(&f)[0];
    assert_eq!(row.outcome, "denied:wrong_key");
    assert_eq!(
        row.org_key.as_deref(),
        Some(thief.id().to_string().as_str())
    );
    assert!(row.record_ids.is_empty());
    // The same token over loopback HTTP, through the same server state.
    let a = call(&state, "GET", "/v1/records", Some(t.expose_secret()), HOST).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"], "invalid_token");
    let row = &log(&f)[0];
    assert_eq!(
        (row.outcome.as_str(), row.org_key.as_deref()),
        ("denied:key_bound", None)
    );
    // The rightful organization still reads.
    assert_eq!(
        get(&c1, "/v1/records", Some(t.expose_secret()))
            .await
            .status,
        200
    );

    // Bound at creation: even the first remote use from another key is refused.
    let mut n = new_grant(&["note"]);
    n.org_key = Some(first.id().to_string());
    let (g2, t2) = f.grant(n);
    assert_eq!(
        get(&c2, "/v1/grant", Some(t2.expose_secret())).await.status,
        401
    );
    assert_eq!(
        get(&c1, "/v1/grant", Some(t2.expose_secret())).await.status,
        200
    );
    assert_eq!(
        f.vault.get_grant(&g2.id).unwrap().org_key,
        Some(first.id().to_string())
    );
    assert!(f.vault.verify_log().unwrap().ok);
    server.stop().await;
}

/// The person revokes while 64 remote streams read in a loop: every request sent
/// after the revocation returned is refused, on every stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_takes_effect_on_the_very_next_remote_request_while_64_streams_read() {
    let f = fixture();
    let (g, t) = f.grant(new_grant(&["contact.email"]));
    let secret = f.vault.endpoint_secret().unwrap();
    // Room for 64 streams on one connection, and for every reader's refused request
    // without the failure limiter (counted per endpoint key) stepping in.
    let config = ShareConfig {
        remote: RemoteLimits {
            max_streams_per_connection: 64,
            ..Default::default()
        },
        max_failures: 1000,
        ..Default::default()
    };
    let mut opts = options(RelayChoice::Disabled);
    opts.limits = config.remote.clone();
    let server = serve(&secret, opts, f.state(config)).await;
    let org = org_endpoint(Dial::Direct, None).await;
    let conn = connect(&org, &server.addr, Dial::Direct).await;
    let revoked = Arc::new(AtomicBool::new(false));
    let ok_before = Arc::new(AtomicUsize::new(0));
    let refused_after = Arc::new(AtomicUsize::new(0));
    let (started_tx, mut started_rx) = tokio::sync::mpsc::channel::<()>(64);
    let mut readers = Vec::new();
    for _ in 0..64 {
        let (conn, tok) = (conn.clone(), t.expose_secret().to_string());
        let (revoked, ok_before, refused_after) =
            (revoked.clone(), ok_before.clone(), refused_after.clone());
        let started = started_tx.clone();
        readers.push(tokio::spawn(async move {
            // One stream per reader, many requests on it (keep-alive).
            let (send, recv) = conn.open_bi().await.unwrap();
            let io = hyper_util::rt::TokioIo::new(tokio::io::join(recv, send));
            let (mut sender, http) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(http);
            let mut first = true;
            loop {
                let sent_after_revocation = revoked.load(Ordering::SeqCst);
                let resp = sender
                    .send_request(
                        hyper::Request::get("/v1/records")
                            .header("host", trove_wire::REMOTE_HOST)
                            .header("authorization", format!("Bearer {tok}"))
                            .body(axum::body::Body::empty())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let _ = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), 1 << 24)
                    .await
                    .unwrap();
                if first {
                    first = false;
                    let _ = started.send(()).await;
                }
                if sent_after_revocation {
                    assert_eq!(
                        status, 401,
                        "a request sent after the revocation was answered"
                    );
                    refused_after.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                if status == 200 {
                    ok_before.fetch_add(1, Ordering::SeqCst);
                } else {
                    assert_eq!(status, 401);
                }
            }
        }));
    }
    drop(started_tx);
    for _ in 0..64 {
        started_rx.recv().await.expect("every reader got an answer");
    }
    // The person revokes from another process's handle while all 64 are reading.
    let other =
        trove_core::Vault::unlock(&f.path, &trove_core::Passphrase::new("pw".into())).unwrap();
    other.revoke_grant(&g.id).unwrap();
    revoked.store(true, Ordering::SeqCst);
    for r in readers {
        tokio::time::timeout(GUARD, r).await.unwrap().unwrap();
    }
    assert_eq!(refused_after.load(Ordering::SeqCst), 64);
    assert!(ok_before.load(Ordering::SeqCst) >= 64);
    let a = get(&conn, "/v1/records", Some(t.expose_secret())).await;
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert!(f.vault.verify_log().unwrap().ok);
    assert_eq!(
        f.vault.get_grant(&g.id).unwrap().uses as usize,
        ok_before.load(Ordering::SeqCst),
        "each allowed answer counted once, nothing after the revocation"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_vault_answers_503_over_iroh() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["note"]));
    let secret = f.vault.endpoint_secret().unwrap();
    let state = ShareState::locked(ShareConfig::default());
    let server = serve(&secret, options(RelayChoice::Disabled), state.clone()).await;
    let org = org_endpoint(Dial::Direct, None).await;
    let conn = connect(&org, &server.addr, Dial::Direct).await;
    let before = f.vault.log_len().unwrap();
    let a = get(&conn, "/v1/records", Some(t.expose_secret())).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.json()["error"], "temporarily_unavailable");
    assert_eq!(
        f.vault.log_len().unwrap(),
        before,
        "a locked vault writes nothing"
    );
    state.unlock(f.vault.try_clone().unwrap());
    assert_eq!(
        get(&conn, "/v1/records", Some(t.expose_secret()))
            .await
            .status,
        200
    );
    state.lock();
    assert_eq!(
        get(&conn, "/v1/records", Some(t.expose_secret()))
            .await
            .status,
        503
    );
    server.stop().await;
}

/// A client that opens 1,000 streams at once gets at most 32 served at a time (the
/// QUIC stream limit); the rest wait their turn and every one is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_opening_1000_streams_is_bounded() {
    let f = fixture();
    let secret = f.vault.endpoint_secret().unwrap();
    let state = f.state(ShareConfig::default());
    let server = serve(&secret, options(RelayChoice::Disabled), state.clone()).await;
    let org = org_endpoint(Dial::Direct, None).await;
    let conn = connect(&org, &server.addr, Dial::Direct).await;
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            request(&conn, "GET", "/healthz", None).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let a = tokio::time::timeout(GUARD, t)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((a.status, a.body.as_str()), (200, "ok"));
        ok += 1;
    }
    assert_eq!(ok, 1000);
    let c = state.remote_counts();
    assert!(
        (1..=32).contains(&c.peak_streams),
        "at most 32 streams served at once, saw {}",
        c.peak_streams
    );
    server.stop().await;
}

/// A stream that starts a request and never finishes its head is closed by the
/// header timeout (short here), without a log row; a connection with no stream is
/// closed when idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_streams_and_idle_connections_are_closed_by_timeouts() {
    let f = fixture();
    let secret = f.vault.endpoint_secret().unwrap();
    let limits = RemoteLimits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let state = f.state(ShareConfig {
        remote: limits.clone(),
        ..Default::default()
    });
    let mut opts = options(RelayChoice::Disabled);
    opts.limits = limits;
    let server = serve(&secret, opts, state.clone()).await;
    let org = org_endpoint(Dial::Direct, None).await;
    let conn = connect(&org, &server.addr, Dial::Direct).await;
    let before = f.vault.log_len().unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"GET /v1/records HTTP/1.1\r\nHost: trove.invalid\r\n")
        .await
        .unwrap();
    // Wait for the server to end the stream (an empty read or a reset), not a sleep.
    let ended = tokio::time::timeout(GUARD, recv.read_to_end(64 * 1024)).await;
    let got = ended.expect("the server closed the silent stream");
    if let Ok(bytes) = &got {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "no answer but a timeout: {text}"
        );
    }
    assert_eq!(f.vault.log_len().unwrap(), before, "nothing was decided");
    drop(send);
    // With no stream left, the connection is closed for idleness.
    let why = tokio::time::timeout(GUARD, conn.closed()).await.unwrap();
    assert!(
        why.to_string().contains("idle") || format!("{why:?}").contains("idle"),
        "{why:?}"
    );
    server.stop().await;
}

/// Request heads over the limit (bytes or header count) get 431 and no log row; the
/// connection keeps serving other streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_are_refused() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["note"]));
    let secret = f.vault.endpoint_secret().unwrap();
    let server = serve(
        &secret,
        options(RelayChoice::Disabled),
        f.state(ShareConfig::default()),
    )
    .await;
    let org = org_endpoint(Dial::Direct, None).await;
    let conn = connect(&org, &server.addr, Dial::Direct).await;
    let before = f.vault.log_len().unwrap();
    let big = format!(
        "GET /v1/records HTTP/1.1\r\nHost: trove.invalid\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let many = format!(
        "GET /v1/records HTTP/1.1\r\nHost: trove.invalid\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-H{i}: 1\r\n"))
            .collect::<String>()
    );
    for head in [big, many] {
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        // The server may stop reading before all of it arrives; its answer still comes.
        let _ = send.write_all(head.as_bytes()).await;
        let _ = send.finish();
        let answer = tokio::time::timeout(GUARD, recv.read_to_end(64 * 1024))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    }
    assert_eq!(f.vault.log_len().unwrap(), before);
    assert_eq!(
        get(&conn, "/v1/grant", Some(t.expose_secret()))
            .await
            .status,
        200
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_alpn_is_refused() {
    let f = fixture();
    let secret = f.vault.endpoint_secret().unwrap();
    let server = serve(
        &secret,
        options(RelayChoice::Disabled),
        f.state(ShareConfig::default()),
    )
    .await;
    let org = org_endpoint(Dial::Direct, None).await;
    let r = tokio::time::timeout(
        GUARD,
        org.connect(dial_addr(&server.addr, Dial::Direct), b"not-trove/1"),
    )
    .await
    .unwrap();
    assert!(r.is_err(), "a connection with another ALPN must fail");
    // The share ALPN still works.
    let conn = connect(&org, &server.addr, Dial::Direct).await;
    assert_eq!(get(&conn, "/healthz", None).await.status, 200);
    server.stop().await;
}

/// Beyond the per-key limit, a further connection from the same organization is
/// closed at once; the limit frees up when one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_key_are_bounded() {
    let f = fixture();
    let secret = f.vault.endpoint_secret().unwrap();
    let limits = RemoteLimits {
        max_connections_per_peer: 2,
        ..Default::default()
    };
    let state = f.state(ShareConfig {
        remote: limits.clone(),
        ..Default::default()
    });
    let mut opts = options(RelayChoice::Disabled);
    opts.limits = limits;
    let server = serve(&secret, opts, state.clone()).await;
    let org = org_endpoint(Dial::Direct, None).await;
    let a = connect(&org, &server.addr, Dial::Direct).await;
    let b = connect(&org, &server.addr, Dial::Direct).await;
    assert_eq!(get(&a, "/healthz", None).await.status, 200);
    assert_eq!(get(&b, "/healthz", None).await.status, 200);
    let c = connect(&org, &server.addr, Dial::Direct).await;
    let why = tokio::time::timeout(GUARD, c.closed()).await.unwrap();
    assert!(
        format!("{why:?}").contains("too many connections"),
        "{why:?}"
    );
    assert_eq!(state.remote_counts().refused_connections, 1);
    assert_eq!(
        get(&a, "/healthz", None).await.status,
        200,
        "the others keep working"
    );
    server.stop().await;
}
