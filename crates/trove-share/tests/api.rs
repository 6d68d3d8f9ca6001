//! The share API over HTTP: authentication, scope, revocation, the log row per request,
//! fail-closed logging, Host checks, TLS.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use trove_core::{Error, LogFault, NewLogEntry, ShareEngine};
use trove_share::{ShareConfig, ShareState};

#[tokio::test]
async fn healthz_needs_no_token_and_sends_no_cors() {
    let f = fixture();
    let s = f.state(ShareConfig::default());
    let a = call(&s, "GET", "/healthz", None, HOST).await;
    assert_eq!((a.status.as_u16(), a.body.as_str()), (200, "ok"));
    let a = call(&s, "GET", "/v1/grant", None, HOST).await;
    assert_eq!(a.status, 401);
    assert!(
        a.headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control")),
        "no CORS headers: {:?}",
        a.headers
    );
    assert_eq!(a.headers["www-authenticate"], "Bearer realm=\"trove\"");
}

#[tokio::test]
async fn grant_and_records_are_projected_to_the_scope() {
    let f = fixture();
    let (g, t) = f.grant(new_grant(&["contact.email", "address.city"]));
    let s = f.state(ShareConfig::default());
    let a = call(&s, "GET", "/v1/grant", Some(t.expose_secret()), HOST).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let gi: trove_wire::GrantInfo = serde_json::from_str(&a.body).unwrap();
    assert_eq!(gi.id, g.id);
    assert_eq!(gi.scope, ["contact.email", "address.city"]);
    let a = call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST).await;
    assert_eq!(a.status, 200);
    let rs: trove_wire::Records = serde_json::from_str(&a.body).unwrap();
    assert!(rs.records.len() >= 3);
    for r in &rs.records {
        for k in r.fields.keys() {
            let tf = format!("{}.{k}", r.record_type);
            assert!(
                ["contact.email", "address.city"].contains(&tf.as_str()),
                "{tf} leaked"
            );
        }
        assert!(r.tags.is_empty());
    }
    let a = call(
        &s,
        "GET",
        "/v1/records?type=address",
        Some(t.expose_secret()),
        HOST,
    )
    .await;
    let rs: trove_wire::Records = serde_json::from_str(&a.body).unwrap();
    assert!(rs.records.iter().all(|r| r.record_type == "address"));
    let a = call(
        &s,
        "GET",
        "/v1/records?type=health",
        Some(t.expose_secret()),
        HOST,
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(a.json()["error"], "insufficient_scope");
    assert!(a.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"insufficient_scope\""));
    let a = call(
        &s,
        "GET",
        "/v1/records?colour=red",
        Some(t.expose_secret()),
        HOST,
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"], "invalid_request");
}

#[tokio::test]
async fn out_of_scope_id_answers_exactly_like_absent() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["contact.email"]));
    let s = f.state(ShareConfig::default());
    let absent = call(
        &s,
        "GET",
        "/v1/records/01JZZZZZZZZZZZZZZZZZZZZZZZ",
        Some(t.expose_secret()),
        HOST,
    )
    .await;
    assert_eq!(absent.status, 404);
    let health = f
        .records
        .iter()
        .find(|r| r.record_type == "health")
        .unwrap();
    let hidden = call(
        &s,
        "GET",
        &format!("/v1/records/{}", health.id),
        Some(t.expose_secret()),
        HOST,
    )
    .await;
    assert_eq!(hidden.status, absent.status);
    assert_eq!(hidden.body, absent.body);
    let mut h1 = hidden.headers.clone();
    let mut h2 = absent.headers.clone();
    h1.remove("date");
    h2.remove("date");
    assert_eq!(h1, h2, "headers differ between out-of-scope and absent");
    let email = f
        .records
        .iter()
        .find(|r| r.record_type == "contact" && r.fields.contains_key("email"))
        .unwrap();
    let ok = call(
        &s,
        "GET",
        &format!("/v1/records/{}", email.id),
        Some(t.expose_secret()),
        HOST,
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["fields"]["email"], email.fields["email"]);
    assert!(ok.json()["fields"].get("label").is_none());
}

#[tokio::test]
async fn revoked_token_is_refused_on_the_very_next_request() {
    let f = fixture();
    let (g, t) = f.grant(new_grant(&["contact"]));
    let s = f.state(ShareConfig::default());
    assert_eq!(
        call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST)
            .await
            .status,
        200
    );
    // Another handle (its own connection), as the CLI or the app would revoke.
    let other =
        trove_core::Vault::unlock(&f.path, &trove_core::Passphrase::new("pw".into())).unwrap();
    other.revoke_grant(&g.id).unwrap();
    let a = call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"], "invalid_token");
    assert!(a.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
}

#[tokio::test]
async fn expired_grant_is_refused() {
    let mut f = fixture();
    let clock = trove_core::Clock::fixed(f.vault.clock().now());
    f.vault.set_clock(clock.clone());
    let mut n = new_grant(&["contact"]);
    n.expires = Some("1h".into());
    let (_g, t) = f.grant(n);
    let s = f.state(ShareConfig::default());
    assert_eq!(
        call(&s, "GET", "/v1/grant", Some(t.expose_secret()), HOST)
            .await
            .status,
        200
    );
    // Time passes: the server's handle reads the same (test) clock.
    clock.advance(chrono::Duration::hours(1));
    let a = call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"], "invalid_token");
    assert_eq!(
        f.vault.log_entries(&Default::default()).unwrap()[0].outcome,
        "denied:expired"
    );
}

#[tokio::test]
async fn the_call_after_the_last_use_is_refused() {
    let f = fixture();
    let mut n = new_grant(&["note"]);
    n.max_uses = Some(3);
    let (_, t) = f.grant(n);
    let s = f.state(ShareConfig::default());
    for i in 0..3 {
        let a = call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST).await;
        assert_eq!(a.status, 200, "use {i}");
    }
    let a = call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST).await;
    assert_eq!(a.status, 401);
    assert_eq!(f.vault.list_grants().unwrap()[0].uses, 3);
}

/// Issue 11 (L3): while an import held the vault's write lock, the API waited 10 s and
/// answered 503. Now it answers at once from the vault as it was before the import, the
/// use counted (max_uses holds) and every row reaching the main log once the writer is
/// done.
#[tokio::test]
async fn the_api_answers_while_an_import_holds_the_vault() {
    let f = fixture();
    let mut n = new_grant(&["note"]);
    n.max_uses = Some(2);
    let (_, t) = f.grant(n);
    let s = f.state(ShareConfig::default());
    let rows = f.vault.log_len().unwrap();
    let import = f.vault.try_clone().unwrap();
    import.conn().execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    for i in 0..2 {
        let a = call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST).await;
        assert_eq!(a.status, 200, "use {i}: {}", a.body);
    }
    let a = call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST).await;
    assert_eq!(a.status, 401, "max_uses holds while the import runs");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    import.conn().execute_batch("ROLLBACK").unwrap();
    s.flush_failure_rows().await; // also merges the side journal
    assert_eq!(f.vault.log_len().unwrap(), rows + 3);
    assert_eq!(f.vault.list_grants().unwrap()[0].uses, 2);
    assert!(f.vault.verify_log().unwrap().ok);
}

#[tokio::test]
async fn mistyped_token_is_refused_without_a_lookup() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["note"]));
    let s = f.state(ShareConfig::default());
    let mut typo = t.expose_secret().to_string();
    let c = typo.remove(10);
    typo.insert(10, if c == 'x' { 'y' } else { 'x' });
    let a = call(&s, "GET", "/v1/records", Some(&typo), HOST).await;
    assert_eq!(a.status, 401);
    assert!(a.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("checksum"));
    let row = &f.vault.log_entries(&Default::default()).unwrap()[0];
    assert_eq!(row.outcome, "denied:bad_checksum");
    assert_eq!(row.grant_id, None, "refused before any grant lookup");
}

#[tokio::test]
async fn foreign_host_is_refused_and_logged() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["contact"]));
    let s = f.state(ShareConfig::default());
    for host in [
        "evil.example",
        "evil.example:7878",
        "127.0.0.1:9999",
        "localhost.evil.example:7878",
    ] {
        let a = call(&s, "GET", "/v1/records", Some(t.expose_secret()), host).await;
        assert_eq!(a.status, 421, "{host} accepted");
        assert!(!a.body.contains("records"), "{}", a.body);
    }
    assert_eq!(
        call(
            &s,
            "GET",
            "/v1/records",
            Some(t.expose_secret()),
            "localhost:7878"
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            &s,
            "GET",
            "/v1/records",
            Some(t.expose_secret()),
            "[::1]:7878"
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(&s, "GET", "/healthz", None, "evil.example")
            .await
            .status,
        421
    );
    let named = f.state(ShareConfig {
        host_name: Some("trove.example".into()),
        ..ShareConfig::default()
    });
    assert_eq!(
        call(
            &named,
            "GET",
            "/v1/grant",
            Some(t.expose_secret()),
            "trove.example:7878"
        )
        .await
        .status,
        200
    );
    s.flush_failure_rows().await;
    assert_eq!(requests_logged(&f, "denied:foreign_host"), 5);
}

#[tokio::test]
async fn locked_vault_answers_503() {
    let s = ShareState::locked(ShareConfig::default());
    let a = call(&s, "GET", "/v1/records", Some("trove_x"), HOST).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.json()["error"], "temporarily_unavailable");
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["note"]));
    s.unlock(f.vault.try_clone().unwrap());
    assert_eq!(
        call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST)
            .await
            .status,
        200
    );
    s.lock();
    assert_eq!(
        call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST)
            .await
            .status,
        503
    );
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let f = fixture();
    let s = f.state(ShareConfig::default());
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/revoke")
        .header("host", HOST)
        .header("content-length", (1 << 20).to_string())
        .body(axum::body::Body::from(vec![b'x'; 1 << 20]))
        .unwrap();
    use tower::ServiceExt;
    let resp = trove_share::router(s).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 413);
}

struct FailShareRows;
impl LogFault for FailShareRows {
    fn before_write(&self, e: &NewLogEntry) -> trove_core::Result<()> {
        if e.path
            .as_deref()
            .is_some_and(|p| p.starts_with("/v1/records"))
        {
            Err(Error::LogWriteFailed("disk full (injected)".into()))
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn log_write_failure_answers_503_with_no_data() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["contact", "address", "note"]));
    let engine = ShareEngine::new(&f.vault).with_log_fault(Arc::new(FailShareRows));
    let s = ShareState::with_engine(f.vault.try_clone().unwrap(), engine, ShareConfig::default());
    let before = f.vault.log_len().unwrap();
    let a = call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.json()["error"], "temporarily_unavailable");
    for v in f.field_values() {
        assert!(!a.body.contains(&v), "503 body carries data: {}", a.body);
    }
    let one = &f
        .records
        .iter()
        .find(|r| r.record_type == "note")
        .unwrap()
        .id;
    let a = call(
        &s,
        "GET",
        &format!("/v1/records/{one}"),
        Some(t.expose_secret()),
        HOST,
    )
    .await;
    assert_eq!(a.status, 503);
    assert!(!a.body.contains("fields"));
    assert_eq!(
        f.vault.log_len().unwrap(),
        before,
        "nothing logged, nothing disclosed"
    );
    assert_eq!(f.vault.list_grants().unwrap()[0].uses, 0, "no use counted");
    assert_eq!(
        call(&s, "GET", "/v1/grant", Some(t.expose_secret()), HOST)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_holds_under_32_concurrent_readers() {
    let f = fixture();
    let (g, t) = f.grant(new_grant(&["contact"]));
    let token = Arc::new(t.expose_secret().to_string());
    let s = f.state(ShareConfig {
        max_failures: 1_000_000,
        ..ShareConfig::default()
    });
    let (addr, stop, server) = spawn_server(s).await;
    let revoked = Arc::new(AtomicBool::new(false));
    let ok_before = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (token, revoked, ok_before) = (token.clone(), revoked.clone(), ok_before.clone());
        tasks.push(tokio::spawn(async move {
            let c = trove_client::Client::new(&format!("http://{addr}"), &token).unwrap();
            let mut after = 0;
            let mut bad = Vec::new();
            for _ in 0..5000 {
                // Sampled before sending: this request starts after revoke returned.
                let started_after = revoked.load(Ordering::SeqCst);
                let r = c.records(None).await;
                if started_after {
                    after += 1;
                    match r {
                        Err(trove_client::ClientError::Unauthorized(_)) => {}
                        other => bad.push(format!("{other:?}")),
                    }
                    if after == 5 {
                        break;
                    }
                } else if r.is_ok() {
                    ok_before.fetch_add(1, Ordering::SeqCst);
                }
            }
            (after, bad)
        }));
    }
    // Let readers get going, then revoke from another connection.
    while ok_before.load(Ordering::SeqCst) < 64 {
        tokio::task::yield_now().await;
    }
    let path = f.path.clone();
    let id = g.id.clone();
    tokio::task::spawn_blocking(move || {
        let v =
            trove_core::Vault::unlock(&path, &trove_core::Passphrase::new("pw".into())).unwrap();
        v.revoke_grant(&id).unwrap();
    })
    .await
    .unwrap();
    revoked.store(true, Ordering::SeqCst);
    for t in tasks {
        let (after, bad) = t.await.unwrap();
        assert_eq!(after, 5, "every reader made requests after the revoke");
        assert!(
            bad.is_empty(),
            "answers other than 401 after revoke: {bad:?}"
        );
    }
    let _ = stop.send(());
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bounded_mixed_load_accounts_for_every_request_in_the_log() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["contact", "address.city"]));
    let s = f.state(ShareConfig {
        max_failures: 10,
        ..ShareConfig::default()
    });
    let (addr, stop, server) = spawn_server(s.clone()).await;
    let before = f.vault.log_len().unwrap();
    let base = format!("http://{addr}");
    let some_id = f.records[0].id.clone();
    let http = reqwest::Client::new();
    let token = t.expose_secret().to_string();
    // Phase 1: authorized traffic (200, 403, 404) from 16 concurrent tasks.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (http, base, token, some_id) =
            (http.clone(), base.clone(), token.clone(), some_id.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for j in 0..12 {
                let url = match (i + j) % 4 {
                    0 | 1 => format!("{base}/v1/records"),
                    2 => format!("{base}/v1/records?type=health"),
                    _ => format!("{base}/v1/records/{some_id}X"),
                };
                let r = http.get(url).bearer_auth(&token).send().await.unwrap();
                statuses.push(r.status().as_u16());
            }
            statuses
        }));
    }
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for t in tasks {
        for s in t.await.unwrap() {
            *counts.entry(s).or_default() += 1;
        }
    }
    // Phase 2: unknown tokens until the limiter answers 429.
    let stranger = trove_core::ShareToken::generate();
    for _ in 0..15 {
        let r = http
            .get(format!("{base}/v1/records"))
            .bearer_auth(stranger.expose_secret())
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
        *counts.entry(r.status().as_u16()).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    for s in [200, 401, 403, 404, 429] {
        assert!(
            counts.get(&s).copied().unwrap_or(0) > 0,
            "no {s} in {counts:?}"
        );
    }
    assert_eq!(counts[&401], 10, "{counts:?}");
    s.flush_failure_rows().await;
    let _ = stop.send(());
    server.await.unwrap();
    // Every request is accounted for: a read has its own row; repeated failures from
    // one source fold into the first one's row and a row that counts the rest.
    let rows = f.vault.log_entries(&Default::default()).unwrap();
    let new = &rows[..(f.vault.log_len().unwrap() - before) as usize];
    let accounted: u64 = new.iter().map(|e| e.count.unwrap_or(1)).sum();
    assert_eq!(
        accounted, total as u64,
        "every request counted ({counts:?})"
    );
    assert!(
        new.len() < total,
        "repeated failures were folded: {} rows",
        new.len()
    );
    let report = f.vault.verify_log().unwrap();
    assert!(report.ok, "{report:?}");
}

/// The review's log flood (M3): a local process without a valid token cannot get a
/// valid token refused, cannot race or rotate past the limiter, and cannot grow the log
/// by more than a few rows however many requests it sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_local_flood_neither_refuses_a_valid_token_nor_floods_the_log() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["contact"]));
    let s = f.state(ShareConfig {
        max_failures: 20,
        ..ShareConfig::default()
    });
    let (addr, stop, server) = spawn_server(s.clone()).await;
    let before = f.vault.log_len().unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    // No token, unknown paths, wrong methods: the anonymous source (all of loopback)
    // reaches its limit and gets 429...
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for i in 0..200 {
        let r = match i % 3 {
            0 => http.get(format!("{base}/v1/records")).send(),
            1 => http.get(format!("{base}/nope/{i}")).send(),
            _ => http.delete(format!("{base}/v1/grant")).send(),
        };
        *statuses
            .entry(r.await.unwrap().status().as_u16())
            .or_default() += 1;
    }
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 150,
        "{statuses:?}"
    );
    // ...while the organization's valid token, from the same address, is answered.
    let ok = http
        .get(format!("{base}/v1/records"))
        .bearer_auth(t.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.status(),
        200,
        "a valid token is never refused for others' failures"
    );
    // One bad token fails once, then 300 concurrent requests race the limiter: the
    // ones in flight count, so at most the limit gets through to a 401.
    let stranger = trove_core::ShareToken::generate();
    let first = http
        .get(format!("{base}/v1/records"))
        .bearer_auth(stranger.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 401);
    let race: Vec<_> = (0..300)
        .map(|_| {
            let req = http
                .get(format!("{base}/v1/records"))
                .bearer_auth(stranger.expose_secret())
                .send();
            tokio::spawn(async move { req.await.unwrap().status().as_u16() })
        })
        .collect();
    let mut raced: BTreeMap<u16, usize> = BTreeMap::new();
    for h in race {
        *raced.entry(h.await.unwrap()).or_default() += 1;
    }
    assert!(
        raced.get(&401).copied().unwrap_or(0) < 20,
        "the race got past the limit: {raced:?}"
    );
    s.flush_failure_rows().await;
    let _ = stop.send(());
    server.await.unwrap();
    let written = f.vault.log_len().unwrap() - before;
    let rows = f.vault.log_entries(&Default::default()).unwrap();
    let accounted: u64 = rows[..written as usize]
        .iter()
        .map(|e| e.count.unwrap_or(1))
        .sum();
    assert_eq!(accounted, 200 + 1 + 1 + 300, "every request is counted");
    assert!(written <= 20, "{written} rows for 502 requests");
    assert!(f.vault.verify_log().unwrap().ok);
}

#[tokio::test]
async fn non_loopback_without_tls_is_refused() {
    let f = fixture();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = trove_share::serve(listener, f.state(ShareConfig::default()), None, async {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "tls_required");
    assert!(err.to_string().contains("without TLS"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_serves_the_api() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["contact.email"]));
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cp, kp) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cp, cert.cert.pem()).unwrap();
    std::fs::write(&kp, cert.key_pair.serialize_pem()).unwrap();
    let acceptor = trove_share::tls_acceptor(&cp, &kp).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = f.state(ShareConfig::default());
    let server = tokio::spawn(async move {
        trove_share::serve(listener, state, Some(acceptor), async {
            let _ = rx.await;
        })
        .await
        .unwrap()
    });
    let c = trove_client::Client::builder(&format!("https://localhost:{port}"), t.expose_secret())
        .unwrap()
        .add_root_certificate_pem(cert.cert.pem().as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let g = c.grant().await.unwrap();
    assert_eq!(g.scope, ["contact.email"]);
    let rs = c.records(None).await.unwrap();
    assert!(!rs.is_empty());
    assert!(matches!(
        c.records(Some("health")).await,
        Err(trove_client::ClientError::InsufficientScope(_))
    ));
    let plain =
        trove_client::Client::new(&format!("https://localhost:{port}"), t.expose_secret()).unwrap();
    assert!(
        matches!(
            plain.grant().await,
            Err(trove_client::ClientError::Transport(_))
        ),
        "an untrusted certificate is refused"
    );
    c.revoke().await.unwrap();
    assert!(matches!(
        c.grant().await,
        Err(trove_client::ClientError::Unauthorized(_))
    ));
    let _ = tx.send(());
    server.await.unwrap();
}

// ---- hardening (issue 11, item 8) ----

fn get_with(uri: &str, token: &str) -> axum::http::request::Builder {
    axum::http::Request::builder()
        .method("GET")
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
}

#[tokio::test]
async fn two_host_headers_are_a_bad_request() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["contact"]));
    let s = f.state(ShareConfig::default());
    for second in ["evil.example", HOST] {
        let req = get_with("/v1/records", t.expose_secret())
            .header("host", HOST)
            .header("host", second)
            .body(axum::body::Body::empty())
            .unwrap();
        let a = send(&s, req).await;
        assert_eq!(a.status, 400, "Host {HOST} + {second} accepted");
        assert!(!a.body.contains("records"), "{}", a.body);
    }
    assert_eq!(f.vault.list_grants().unwrap()[0].uses, 0, "no use counted");
    s.flush_failure_rows().await;
    let rows = f.vault.log_entries(&Default::default()).unwrap();
    assert!(rows.iter().all(|r| r.record_ids.is_empty()));
    assert_eq!(requests_logged(&f, "denied:duplicate_host"), 2);
}

#[tokio::test]
async fn an_absolute_form_request_naming_another_host_is_refused() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["contact"]));
    let s = f.state(ShareConfig::default());
    // HTTP/1.1: the authority of an absolute-form target overrides Host.
    for uri in [
        "http://evil.example/v1/records",
        "http://evil.example:7878/v1/records",
        "http://127.0.0.1:9999/v1/records",
    ] {
        let req = get_with(uri, t.expose_secret())
            .header("host", HOST)
            .body(axum::body::Body::empty())
            .unwrap();
        let a = send(&s, req).await;
        assert_eq!(a.status, 421, "{uri} accepted");
    }
    let req = get_with("http://127.0.0.1:7878/v1/records", t.expose_secret())
        .header("host", HOST)
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        send(&s, req).await.status,
        200,
        "an absolute form naming us"
    );
    assert_eq!(f.vault.list_grants().unwrap()[0].uses, 1);
}

/// A body with no declared length, sent in chunks (like `Transfer-Encoding: chunked`).
struct Chunked {
    left: usize,
}

impl hyper::body::Body for Chunked {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(axum::body::Bytes::from(
            vec![b'x'; 4096],
        )))))
    }
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_with_413() {
    let f = fixture();
    let (_, t) = f.grant(new_grant(&["contact"]));
    let s = f.state(ShareConfig::default());
    let post = |chunks: usize| {
        axum::http::Request::builder()
            .method("POST")
            .uri("/v1/revoke")
            .header("host", HOST)
            .header("authorization", format!("Bearer {}", t.expose_secret()))
            .body(axum::body::Body::new(Chunked { left: chunks }))
            .unwrap()
    };
    // 5 × 4 KiB > the 16 KiB default: refused, and the grant is not revoked.
    assert_eq!(send(&s, post(5)).await.status, 413);
    assert_eq!(
        f.vault.list_grants().unwrap()[0].status.to_string(),
        "active"
    );
    // Within the limit, the same request works.
    assert_eq!(send(&s, post(2)).await.status, 200);
    assert_eq!(
        f.vault.list_grants().unwrap()[0].status.to_string(),
        "revoked"
    );
}

#[tokio::test]
async fn head_neither_discloses_nor_counts_a_use() {
    let f = fixture();
    let mut n = new_grant(&["contact"]);
    n.max_uses = Some(1);
    let (_, t) = f.grant(n);
    let s = f.state(ShareConfig::default());
    let before = f.vault.log_entries(&Default::default()).unwrap().len();
    for path in ["/v1/records", "/v1/grant"] {
        let req = axum::http::Request::builder()
            .method("HEAD")
            .uri(path)
            .header("host", HOST)
            .header("authorization", format!("Bearer {}", t.expose_secret()))
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(send(&s, req).await.status, 405, "HEAD {path}");
    }
    assert_eq!(
        f.vault.list_grants().unwrap()[0].uses,
        0,
        "HEAD counted a use"
    );
    let rows = f.vault.log_entries(&Default::default()).unwrap();
    assert_eq!(rows.len(), before + 2);
    assert!(
        rows.iter().all(|r| r.record_ids.is_empty()),
        "HEAD disclosed"
    );
    // The one allowed use is still there for a GET.
    assert_eq!(
        call(&s, "GET", "/v1/records", Some(t.expose_secret()), HOST)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_host_name_without_tls_is_refused_at_start() {
    let f = fixture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let state = f.state(ShareConfig {
        host_name: Some("trove.example".into()),
        ..ShareConfig::default()
    });
    let err = trove_share::serve(listener, state, None, async {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "tls_required");
    assert!(
        err.to_string()
            .contains("host name trove.example without TLS"),
        "{err}"
    );
}
