//! The typed client over real iroh, in-process and on loopback only: a relay started by
//! the test, a stand-in for the person's Trove (tests/common), the organization's key.

mod common;

use std::time::{Duration, Instant};

use common::{MockTrove, Reach, LIMITED, LOCKED, TOKEN};
use trove_client::testing::LocalRelay;
use trove_client::{Client, ClientError, NetworkPath, OrgKey, PathPolicy, RemoteOptions};

fn quick() -> RemoteOptions {
    RemoteOptions {
        max_response_bytes: 4096,
        ..RemoteOptions::default()
    }
    .timeout(Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_api_through_a_local_relay() {
    let relay = LocalRelay::spawn().await.unwrap();
    let trove = MockTrove::start(Some(relay.url()), Reach::RelayOnly).await;
    let key = OrgKey::generate();
    let c = Client::remote(&trove.link(TOKEN), &key, quick())
        .await
        .unwrap();

    assert_eq!(c.grant().await.unwrap(), common::grant_info());
    assert_eq!(
        c.network_path(),
        Some(NetworkPath::Relayed),
        "the person's side has no UDP of its own: only the relay can carry this"
    );
    assert_eq!(c.records(None).await.unwrap(), [common::record_r1()]);
    assert_eq!(
        c.records(Some("contact")).await.unwrap(),
        [common::record_r1()]
    );
    assert_eq!(c.record("01JRECORD1").await.unwrap(), common::record_r1());
    assert!(matches!(
        c.record("01JOTHER").await,
        Err(ClientError::NotFound)
    ));
    match c.records(Some("health")).await {
        Err(ClientError::InsufficientScope(d)) => assert!(d.contains("health"), "{d}"),
        other => panic!("expected 403 insufficient_scope, got {other:?}"),
    }
    c.revoke().await.unwrap();
    match c.grant().await {
        Err(ClientError::Unauthorized(d)) => assert!(d.contains("revoked"), "{d}"),
        other => panic!("a revoked grant is refused, got {other:?}"),
    }

    // Every request went over one connection, as this organization's key, with the
    // remote Host and the link's token.
    {
        let seen = trove.seen.lock().unwrap();
        assert_eq!(seen.peers, [key.endpoint_id()], "one connection, our key");
        assert_eq!(seen.requests.len(), 8);
        for (_, path, host, auth) in &seen.requests {
            assert_eq!(host, "trove.invalid", "{path}");
            assert_eq!(auth, &format!("Bearer {TOKEN}"), "{path}");
        }
    }
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_api_over_a_direct_path() {
    let trove = MockTrove::start(None, Reach::DirectOnly).await;
    let key = OrgKey::generate();
    let options = RemoteOptions {
        path: PathPolicy::Direct,
        ..quick()
    };
    let c = Client::remote(&trove.link(TOKEN), &key, options)
        .await
        .unwrap();
    assert_eq!(c.records(None).await.unwrap(), [common::record_r1()]);
    assert_eq!(c.network_path(), Some(NetworkPath::Direct));
    assert_eq!(trove.peers(), [key.endpoint_id()]);
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_map_to_their_errors() {
    let trove = MockTrove::start(None, Reach::DirectOnly).await;
    let key = OrgKey::generate();
    let locked = Client::remote(&trove.link(LOCKED), &key, quick())
        .await
        .unwrap();
    match locked.grant().await {
        Err(e @ ClientError::Unavailable(_)) => {
            assert_eq!(e.code(), "unavailable");
            let msg = e.to_string();
            assert!(msg.contains("not reachable right now; try later"), "{msg}");
            assert!(msg.contains("the vault is locked"), "{msg}");
        }
        other => panic!("503 means locked, got {other:?}"),
    }
    let limited = Client::remote(&trove.link(LIMITED), &key, quick())
        .await
        .unwrap();
    assert!(matches!(
        limited.records(None).await,
        Err(ClientError::RateLimited {
            retry_after: Some(7)
        })
    ));
    let unknown = Client::remote(&trove.link("trove_nosuchtoken"), &key, quick())
        .await
        .unwrap();
    assert!(matches!(
        unknown.grant().await,
        Err(ClientError::Unauthorized(_))
    ));
    // Answers over the limit are not read.
    let c = Client::remote(&trove.link(TOKEN), &key, quick())
        .await
        .unwrap();
    match c.records(Some("huge")).await {
        Err(e @ ClientError::TooLarge { limit: 4096 }) => {
            assert_eq!(e.code(), "response_too_large")
        }
        other => panic!("expected too large, got {other:?}"),
    }
    // The client is still usable afterwards.
    assert_eq!(c.records(None).await.unwrap().len(), 1);
    for c in [locked, limited, unknown, c] {
        c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_trove_is_unreachable_within_the_timeout() {
    let relay = LocalRelay::spawn().await.unwrap();
    let key = OrgKey::generate();
    for link in [
        common::offline_link(Some(relay.url())),
        common::offline_link(None),
    ] {
        let options = RemoteOptions::default().timeout(Duration::from_millis(400));
        let c = Client::remote(&link, &key, options).await.unwrap();
        let t = Instant::now();
        let e = c.grant().await.unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(e.code(), "unreachable", "{e}");
        assert!(
            e.to_string()
                .starts_with("this person's Trove is not reachable right now; try later"),
            "{e}"
        );
        c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_request_times_out_and_a_dropped_connection_is_redialled() {
    let trove = MockTrove::start(None, Reach::DirectOnly).await;
    let key = OrgKey::generate();
    let options = RemoteOptions {
        request_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(20),
        ..quick()
    };
    let c = Client::remote(&trove.link(TOKEN), &key, options)
        .await
        .unwrap();
    let e = c.records(Some("hang")).await.unwrap_err();
    assert_eq!(e.code(), "unreachable", "{e}");
    assert!(e.to_string().contains("no answer within 300 ms"), "{e}");
    // Still fine afterwards.
    assert_eq!(c.records(None).await.unwrap().len(), 1);

    // The person's Trove drops the connection mid-request: an error, never a hang…
    let e = c.records(Some("die")).await.unwrap_err();
    assert_eq!(e.code(), "unreachable", "{e}");
    // …and the next request dials again.
    assert_eq!(c.records(None).await.unwrap().len(), 1);
    assert_eq!(
        trove.peers(),
        [key.endpoint_id(), key.endpoint_id()],
        "a second connection"
    );
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_connection() {
    let trove = MockTrove::start(None, Reach::DirectOnly).await;
    let key = OrgKey::generate();
    let c = std::sync::Arc::new(
        Client::remote(&trove.link(TOKEN), &key, quick())
            .await
            .unwrap(),
    );
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.records(None).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().len(), 1);
    }
    assert_eq!(
        trove.peers().len(),
        1,
        "one dial for 16 concurrent requests"
    );
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_only_links_cannot_be_read_live() {
    let link = trove_client::ShareLink {
        token: zeroize::Zeroizing::new(TOKEN.into()),
        live: None,
        staged: Some(trove_wire::link::StagedCopy {
            bundle_url: "https://s3.example.org/b/x".into(),
            manifest_url: None,
            bundle_key: None,
            signer: [9; 32],
        }),
    };
    let e = Client::remote(&link, &OrgKey::generate(), quick())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "staged_only");
    assert!(e.to_string().contains("cannot be read live"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_never_shows_the_token_or_the_key() {
    let trove = MockTrove::start(None, Reach::DirectOnly).await;
    let key = OrgKey::generate();
    let c = Client::remote(&trove.link(TOKEN), &key, quick())
        .await
        .unwrap();
    c.grant().await.unwrap();
    let d = format!("{c:?} {key:?} {:?}", trove.link(TOKEN));
    assert!(!d.contains(TOKEN), "{d}");
    assert!(!d.contains(&TOKEN[6..20]), "{d}");
    c.close().await;
}
