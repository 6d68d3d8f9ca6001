//! The vault's endpoint secret and the share token never reach the tracing output
//! (iroh's included, at TRACE), the access log or an error body during a remote
//! session. Its own test binary: it installs a global TRACE subscriber.

mod common;

use common::remote::*;
use common::*;
use trove_share::{RelayChoice, ShareConfig};

/// Every way the 32 secret bytes could be written out.
fn spellings(secret: &[u8; 32]) -> Vec<String> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        hex.clone(),
        hex.to_uppercase(),
        hex[..24].to_string(),
        format!("{secret:?}"),
        format!("{:?}", &secret[..12]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_secret_and_tokens_stay_out_of_traces_logs_and_errors() {
    let cap = Capture::default();
    let writer = cap.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let relay = local_relay().await;
    let f = fixture();
    f.vault.set_remote_relay(Some(&relay.url)).unwrap();
    let (_, t) = f.grant(new_grant(&["contact"]));
    let secret = f.vault.endpoint_secret().unwrap();
    let raw = *secret.expose_secret();
    let link = trove_share::vault_share_link(&f.vault, &t).unwrap();
    let server = serve(
        &secret,
        options(RelayChoice::Custom(relay.url.clone())),
        f.state(ShareConfig::default()),
    )
    .await;
    let owner = org_endpoint(Dial::RelayOnly, Some(&relay.url)).await;
    let thief = org_endpoint(Dial::RelayOnly, Some(&relay.url)).await;
    let c1 = connect(&owner, &server.addr, Dial::RelayOnly).await;
    let c2 = connect(&thief, &server.addr, Dial::RelayOnly).await;
    let tok = t.expose_secret();
    let mut bodies = Vec::new();
    for (conn, token) in [
        (&c1, Some(tok.to_string())),
        (&c2, Some(tok.to_string())),
        (&c1, Some("trove_malformed".to_string())),
        (&c1, None),
    ] {
        let a = get(conn, "/v1/records", token.as_deref()).await;
        bodies.push(a.body);
    }
    let rotated = f.vault.rotate_endpoint_secret().unwrap();
    let raw2 = *rotated.expose_secret();
    server.stop().await;

    let log = serde_json::to_string(&f.vault.log_entries(&Default::default()).unwrap()).unwrap();
    assert!(log.contains("denied:wrong_key") && log.contains("remote_key_rotate"));
    let traces = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(traces.contains("share request"), "tracing was captured");
    let debug = format!("{secret:?} {rotated:?}");
    for (what, text) in [
        ("access log", &log),
        ("tracing output", &traces),
        ("Debug output", &debug),
    ]
    .into_iter()
    .chain(bodies.iter().map(|b| ("a response body", b)))
    {
        for s in spellings(&raw).iter().chain(&spellings(&raw2)) {
            assert!(
                !text.contains(s.as_str()),
                "the endpoint secret leaked into {what}"
            );
        }
        assert!(!text.contains(tok), "the token leaked into {what}");
        assert!(!text.contains(link.as_str()), "the link leaked into {what}");
    }
}
