//! NOT WIRED YET (not compiled on this branch): to enable, add `mod remote;` in main.rs,
//! `Some(remote::run)` in SUITES, and to Cargo.toml: hyper, hyper-util, iroh, trove-wire,
//! zeroize (workspace) and `trove-client = { workspace = true, features = ["test-utils"] }`.
//!
//! The `remote` suite: audited `GET /v1/records` read live over iroh, directly and
//! through a relay on loopback, against the same requests over loopback HTTP in the same
//! run (the baseline), plus the time a cold `trove-org fetch` process takes to its
//! first answer through the relay.
//!
//! Each phase runs `--streams` concurrent readers (default 16) on one client: over iroh
//! that is one QUIC connection with one HTTP/1.1 stream per reader. Every answer's
//! access-log row is committed before it is sent; `log_rows_match` checks one row per
//! request.
//!
//! The person's side over iroh is [`serve_over_iroh`], a small adapter that serves the
//! very same `trove_share::router` on each accepted stream (Host `trove.invalid`).
//! When trove-share's own remote serving (`trove serve --remote`) is merged, replace
//! the adapter with it: then key binding and the remote log columns are measured too.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use iroh::endpoint::{presets, PortmapperConfig};
use iroh::{Endpoint, RelayMode};
use serde_json::{json, Value};
use trove_client::testing::LocalRelay;
use trove_client::{Client, Method, NetworkPath, OrgKey, PathPolicy, RemoteOptions, ShareLink};
use trove_core::{NewGrant, NewRecord, Passphrase, Vault};
use trove_share::{ShareConfig, ShareState};
use trove_wire::link::LiveAddress;
use zeroize::Zeroizing;

use crate::common::{round, Args, Latencies, Progress};

/// The longest any phase may run before the suite gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

/// Runs the suite; see the module docs and docs/benchmarks.md.
pub fn run(args: &mut Args) -> anyhow::Result<Value> {
    let streams = args.take_usize("streams", 16)?;
    let requests = args.take_usize("requests", 4_000)?;
    let threads = args.take_usize("threads", 2)?;
    let cold_runs = args.take_usize("cold-runs", 5)?;
    let other = args.records_or(1_000);
    args.finish()?;
    let work = args.workdir()?;
    let p = Progress::start();
    p.say(format!(
        "remote suite: {streams} concurrent streams, {requests} requests per phase, {threads} runtime threads"
    ));

    let (vault, token) = bench_vault(&work.path().join("vault"), other)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = || ShareConfig {
            max_failures: u32::MAX,
            // Requests over iroh carry `Host: trove.invalid`.
            host_name: Some(trove_wire::REMOTE_HOST.into()),
            ..ShareConfig::default()
        };
        let relay = LocalRelay::spawn().await?;
        p.say(format!("local relay on {}", relay.url()));

        // 1. Baseline: loopback HTTP.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = ShareState::new(vault.try_clone()?, config());
        let http_server = tokio::spawn(trove_share::serve(listener, state, None, async {
            let _ = stopped.await;
        }));
        let client = Arc::new(Client::new(&base, &token)?);
        let http = phase(&vault, client, streams, requests, &p, "loopback HTTP").await?;
        let _ = stop_http.send(());
        http_server.await??;

        // 2. Direct over iroh on loopback.
        let server = serve_over_iroh(ShareState::new(vault.try_clone()?, config()), None).await?;
        let link = server.link(&token);
        let key = OrgKey::generate();
        let options = RemoteOptions {
            path: PathPolicy::Direct,
            ..RemoteOptions::default()
        };
        let client = Arc::new(Client::remote(&link, &key, options).await?);
        let direct = phase(&vault, client.clone(), streams, requests, &p, "iroh direct").await?;
        ensure!(
            client.network_path() == Some(NetworkPath::Direct),
            "the direct phase did not run on a direct path"
        );
        client.close().await;
        server.endpoint.close().await;

        // 3. Through the local relay (the person's side has no UDP of its own).
        let server = serve_over_iroh(
            ShareState::new(vault.try_clone()?, config()),
            Some(relay.url()),
        )
        .await?;
        let link = server.link(&token);
        let options = RemoteOptions {
            path: PathPolicy::Relay,
            ..RemoteOptions::default()
        };
        let client = Arc::new(Client::remote(&link, &key, options).await?);
        let relayed = phase(&vault, client.clone(), streams, requests, &p, "iroh relayed").await?;
        ensure!(
            client.network_path() == Some(NetworkPath::Relayed),
            "the relayed phase did not run through the relay"
        );
        client.close().await;

        // 4. A cold `trove-org fetch` process through the relay, to its first answer.
        let first = cold_fetches(&server.link(&token), relay.url(), cold_runs, work.path(), &p)
            .await?;
        server.endpoint.close().await;

        let check = vault.verify_log()?;
        ensure!(check.ok, "the access log does not verify after the run: {check:?}");
        let ratio = |x: &PhaseResult| round(x.rate / http.rate, 3);
        Ok(json!({
            "streams": streams,
            "requests": requests,
            "records_per_response": 10,
            "http_req_per_s": round(http.rate, 0),
            "http_p50_ms": round(http.lat.p(50.0), 3),
            "http_p99_ms": round(http.lat.p(99.0), 3),
            "direct_req_per_s": round(direct.rate, 0),
            "direct_p50_ms": round(direct.lat.p(50.0), 3),
            "direct_p99_ms": round(direct.lat.p(99.0), 3),
            "relay_req_per_s": round(relayed.rate, 0),
            "relay_p50_ms": round(relayed.lat.p(50.0), 3),
            "direct_ratio": ratio(&direct),
            "relay_ratio": ratio(&relayed),
            "p99_ms": round(relayed.lat.p(99.0), 3),
            "first_response_s": round(first, 3),
            "log_rows_match": http.rows_match && direct.rows_match && relayed.rows_match,
            "person_side": "adapter: trove_share::router over iroh streams (not yet trove serve --remote)",
        }))
    })
}

/// A vault with 10 in-scope contacts among `other` random records, and a grant's token.
fn bench_vault(dir: &std::path::Path, other: usize) -> anyhow::Result<(Vault, String)> {
    let (vault, _) = Vault::create(dir, &Passphrase::new("correct horse battery staple".into()))
        .context("creating the vault")?;
    let in_scope = (0..10).map(|i| {
        NewRecord::new(
            "contact",
            [
                ("email".to_string(), format!("person{i}@example.org")),
                ("phone".to_string(), format!("+49 30 555 {i:04}")),
                ("label".to_string(), "work".to_string()),
            ],
        )
    });
    vault.add_batch(in_scope)?;
    vault.add_batch(
        trove_core::demo::random_records(7, other).filter(|r| r.record_type != "contact"),
    )?;
    let (_, token) = vault.create_grant(&NewGrant {
        org: "Bench Bank".into(),
        purpose: "remote load test".into(),
        scope: vec!["contact.email".into(), "contact.label".into()],
        ..Default::default()
    })?;
    Ok((vault, token.expose_secret().to_string()))
}

struct PhaseResult {
    rate: f64,
    lat: Latencies,
    rows_match: bool,
}

/// `streams` readers share `client` and send `total` audited reads between them; every
/// answer must be a 200 with the 10 records, and each must have its log row.
async fn phase(
    vault: &Vault,
    client: Arc<Client>,
    streams: usize,
    total: usize,
    p: &Progress,
    name: &str,
) -> anyhow::Result<PhaseResult> {
    // Warm up (connection, streams, caches) outside the measurement.
    const WARMUP: usize = 32;
    let warm: Vec<_> = (0..streams.min(WARMUP))
        .map(|_| tokio::spawn(reader(client.clone(), WARMUP / streams.min(WARMUP))))
        .collect();
    for t in warm {
        t.await??;
    }
    let rows0 = vault.log_len()?;
    let start = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|i| {
            let n = total / streams + usize::from(i < total % streams);
            tokio::spawn(reader(client.clone(), n))
        })
        .collect();
    let mut lat = Latencies::default();
    for t in tasks {
        let l = tokio::time::timeout(PHASE_LIMIT, t)
            .await
            .context("phase took too long")???;
        lat.extend(&l);
    }
    let elapsed = start.elapsed();
    let rows = vault.log_len()? - rows0;
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    p.say(format!(
        "{name}: {rate:.0} req/s {}; {rows} log rows for {} requests",
        lat.summary(),
        lat.len()
    ));
    Ok(PhaseResult {
        rate,
        rows_match: rows == lat.len() as u64,
        lat,
    })
}

async fn reader(client: Arc<Client>, n: usize) -> anyhow::Result<Latencies> {
    let mut lat = Latencies::default();
    for _ in 0..n {
        let t = Instant::now();
        let r = client.send(Method::GET, "/v1/records").await?;
        lat.push(t.elapsed());
        ensure!(
            r.status == 200,
            "answer {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let v: Value = serde_json::from_slice(&r.body)?;
        ensure!(v["records"].as_array().map(Vec::len) == Some(10));
    }
    Ok(lat)
}

/// The person's side over iroh, until trove-share serves remotely itself: an endpoint
/// accepting the share ALPN whose every stream is served by `trove_share::router`.
struct IrohServer {
    endpoint: Endpoint,
    relay: Option<String>,
}

async fn serve_over_iroh(state: ShareState, relay: Option<&str>) -> anyhow::Result<IrohServer> {
    let mut b = Endpoint::builder(presets::Minimal)
        .alpns(vec![trove_wire::SHARE_ALPN.to_vec()])
        .portmapper_config(PortmapperConfig::Disabled);
    b = match relay {
        Some(url) => b
            .relay_mode(RelayMode::custom([url.parse()?]))
            .clear_ip_transports(),
        None => b
            .relay_mode(RelayMode::Disabled)
            .clear_ip_transports()
            .bind_addr((std::net::Ipv4Addr::LOCALHOST, 0))?,
    };
    let endpoint = b.bind().await?;
    if relay.is_some() {
        tokio::time::timeout(Duration::from_secs(30), endpoint.online())
            .await
            .context("the person's side never reached the local relay")?;
    }
    let app = trove_share::router(state);
    let ep = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((send, recv)) = conn.accept_bi().await {
                    let svc = TowerToHyperService::new(app.clone());
                    tokio::spawn(async move {
                        let io = TokioIo::new(tokio::io::join(recv, send));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, svc)
                            .await;
                    });
                }
            });
        }
    });
    Ok(IrohServer {
        endpoint,
        relay: relay.map(str::to_string),
    })
}

impl IrohServer {
    fn link(&self, token: &str) -> ShareLink {
        let direct = match self.relay {
            Some(_) => vec![],
            None => self
                .endpoint
                .bound_sockets()
                .into_iter()
                .filter(|a| a.is_ipv4())
                .map(|a| format!("127.0.0.1:{}", a.port()))
                .collect(),
        };
        ShareLink {
            token: Zeroizing::new(token.to_string()),
            live: Some(LiveAddress {
                endpoint_id: *self.endpoint.id().as_bytes(),
                relays: self.relay.iter().cloned().collect(),
                direct,
            }),
            staged: None,
        }
    }
}

/// Median wall time of `runs` cold `trove-org fetch` processes (fresh process, key
/// already created, link on stdin) through the relay, spawn to exit with the records.
async fn cold_fetches(
    link: &ShareLink,
    relay: &str,
    runs: usize,
    work: &std::path::Path,
    p: &Progress,
) -> anyhow::Result<f64> {
    let bin = trove_org_binary(p)?;
    let config = work.join("org-config");
    let text = link.encode().to_string();
    let relay = relay.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let run = |args: &[&str]| -> anyhow::Result<(Duration, std::process::Output)> {
            use std::io::Write;
            let t = Instant::now();
            let mut child = Command::new(&bin)
                .args(args)
                .env("XDG_CONFIG_HOME", &config)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()?;
            child
                .stdin
                .take()
                .context("stdin")?
                .write_all(text.as_bytes())?;
            let out = child.wait_with_output()?;
            Ok((t.elapsed(), out))
        };
        run(&["id"])?;
        let mut times = Vec::new();
        for _ in 0..runs.max(1) {
            let (d, out) = run(&["fetch", "-", "--relay", &relay, "--path", "relay"])?;
            ensure!(
                out.status.success(),
                "trove-org fetch failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            times.push(d.as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    })
    .await?
    .map(|s| {
        p.say(format!(
            "cold trove-org fetch through the relay: {s:.3} s (median)"
        ));
        s
    })
}

/// `trove-org` next to this benchmark's binary, built first (same profile, same
/// features as the benchmark's trove-client, so nothing is compiled twice).
fn trove_org_binary(p: &Progress) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .context("the benchmark binary has no directory")?;
    let bin = dir.join("trove-org");
    let release = dir.file_name().is_some_and(|n| n == "release");
    p.say("building trove-org (cargo build -p trove-client --bin trove-org)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "trove-client", "--bin", "trove-org"])
        .args(["--features", "trove-client/test-utils"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .context("running cargo to build trove-org")?;
    ensure!(status.success(), "building trove-org failed");
    ensure!(bin.is_file(), "{} was not built", bin.display());
    Ok(bin)
}
