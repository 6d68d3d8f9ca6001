//! No token and no field value ever reaches the access log, the tracing output or an
//! error body. Its own test binary: it installs a global TRACE subscriber that captures
//! everything every thread (the gate thread included) logs.

mod common;

use common::*;
use trove_share::ShareConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_field_values_stay_out_of_logs_traces_and_errors() {
    let cap = Capture::default();
    let writer = cap.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let f = fixture();
    let (g, t) = f.grant(new_grant(&["contact", "address", "identity.given_name"]));
    let (_, other) = f.grant(new_grant(&["note"]));
    let state = f.state(ShareConfig {
        max_failures: 5,
        ..ShareConfig::default()
    });
    let (addr, stop, server) = spawn_server(state).await;
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let tok = t.expose_secret().to_string();
    let mut typo = tok.clone();
    typo.pop();
    typo.push('0');
    // An in-scope record (a contact), so reading it by id discloses data.
    let some_id = f
        .records
        .iter()
        .find(|r| r.record_type == "contact")
        .unwrap()
        .id
        .clone();
    let mut error_bodies = Vec::new();
    let mut ok_bodies = 0;
    let calls: Vec<(&str, String, Option<String>)> = vec![
        ("GET", "/v1/grant".into(), Some(tok.clone())),
        ("GET", "/v1/records".into(), Some(tok.clone())),
        ("GET", format!("/v1/records/{some_id}"), Some(tok.clone())),
        ("GET", "/v1/records?type=health".into(), Some(tok.clone())),
        ("GET", "/v1/records/nope".into(), Some(tok.clone())),
        ("GET", "/v1/records".into(), Some(typo.clone())),
        ("GET", "/v1/records".into(), Some("trove_short".into())),
        ("GET", "/v1/records".into(), None),
        (
            "GET",
            "/v1/records".into(),
            Some(trove_core::ShareToken::generate().expose_secret().into()),
        ),
        ("GET", "/v1/records".into(), Some(typo.clone())),
        ("GET", "/v1/records".into(), Some(tok.clone())),
        ("POST", "/v1/records".into(), Some(tok.clone())),
        ("GET", "/v2/unknown".into(), Some(tok.clone())),
        (
            "POST",
            "/v1/revoke".into(),
            Some(other.expose_secret().into()),
        ),
        (
            "GET",
            "/v1/grant".into(),
            Some(other.expose_secret().into()),
        ),
    ];
    // L2: a token in the path, in every shape a client might send it; only a literal
    // lowercase `trove_` used to be masked.
    let body = tok["trove_".len()..].to_string();
    let mut calls = calls;
    for shape in [
        tok.clone(),
        format!("TROVE_{body}"),
        format!("trove%5F{body}"),
        format!("trove%5f{body}"),
        body.clone(),
    ] {
        calls.push(("GET", format!("/v1/records/{shape}"), Some(tok.clone())));
        calls.push(("GET", format!("/v1/{shape}"), None));
        calls.push((
            "GET",
            format!("/v1/records?type={shape}"),
            Some(tok.clone()),
        ));
        calls.push(("GET", format!("/v1/records?t={shape}"), None));
    }
    for (m, path, token) in calls {
        let mut rb = http.request(m.parse().unwrap(), format!("{base}{path}"));
        if let Some(t) = &token {
            rb = rb.bearer_auth(t);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        if status.is_success() {
            ok_bodies += 1;
        } else {
            error_bodies.push(body);
        }
    }
    // A token as the method.
    let r = http
        .request(
            reqwest::Method::from_bytes(format!("TROVE_{body}").as_bytes()).unwrap(),
            format!("{base}/v1/records"),
        )
        .send()
        .await
        .unwrap();
    error_bodies.push(r.text().await.unwrap());
    // A foreign Host, too.
    let r = http
        .get(format!("{base}/v1/records"))
        .header("host", "evil.example")
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    error_bodies.push(r.text().await.unwrap());
    f.vault.revoke_grant(&g.id).unwrap();
    let _ = stop.send(());
    server.await.unwrap();

    assert!(
        ok_bodies >= 4,
        "the run disclosed data: {ok_bodies} successes"
    );
    assert!(error_bodies.len() >= 8);
    let log = serde_json::to_string(&f.vault.log_entries(&Default::default()).unwrap()).unwrap();
    let traces = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    // The log as a bundle exports it (log.jsonl), read as raw bytes.
    let (bundle, _) = trove_core::bundle::export_to_writer(
        &f.vault,
        Vec::new(),
        &trove_core::bundle::ExportOptions {
            encryption: trove_core::bundle::Encryption::Plain,
            scope: None,
            replace: false,
        },
        &mut |_| {},
    )
    .unwrap();
    // The whole plain bundle (records, grants and log.jsonl), as text.
    let log_jsonl = String::from_utf8_lossy(&bundle).into_owned();
    assert!(
        log_jsonl.contains("(unknown path)"),
        "log.jsonl was exported"
    );
    assert!(traces.contains("share request"), "tracing was captured");
    let secrets = [
        tok.as_str(),
        typo.as_str(),
        other.expose_secret(),
        &tok[6..30],
        &tok[tok.len() - 20..],
    ];
    for s in secrets {
        assert!(
            !log_jsonl.contains(s),
            "a token leaked into the exported bundle (log.jsonl)"
        );
    }
    for (what, text) in [("access log", &log), ("tracing output", &traces)]
        .into_iter()
        .chain(error_bodies.iter().map(|b| ("error body", b)))
    {
        for s in secrets {
            assert!(!text.contains(s), "a token leaked into the {what}");
        }
        for v in f.field_values() {
            assert!(
                !text.contains(&v),
                "field value {v:?} leaked into the {what}"
            );
        }
    }
}
