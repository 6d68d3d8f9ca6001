//! The `remote` suite: audited `GET /v1/records` read live over iroh, directly and
//! through a relay on loopback, against the same requests over loopback HTTP in the same
//! run (the baseline), plus the time a cold `trove-org fetch` process takes to its
//! answer through the relay.
//!
//! The person's side is the real one: the vault's endpoint key, `trove_share::bind_endpoint`
//! and `trove_share::serve_remote` (what `trove serve --remote` runs), so key binding,
//! limits and the remote log columns are all measured. The organization's side is
//! `trove_client::Client` (what `trove-org` runs). Each phase runs `--streams` concurrent
//! readers (default 16) on one client: over iroh that is one QUIC connection with one
//! HTTP/1.1 stream per reader. Every answer's access-log row is committed before it is
//! sent; `log_rows_match` checks one row per request in every phase. Nothing leaves the
//! machine: the relay is started here on 127.0.0.1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use trove_client::testing::LocalRelay;
use trove_client::{Client, Method, NetworkPath, OrgKey, PathPolicy, RemoteOptions, ShareLink};
use trove_core::{NewGrant, Vault};
use trove_share::RemoteEndpoint as Endpoint;
use trove_share::{RelayChoice, ShareConfig, ShareState};
use trove_wire::link::LiveAddress;
use zeroize::Zeroizing;

use crate::common::{round, run_load, share_vault, Args, Latencies, Progress};

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
    // Built before anything is measured (a cargo build would load the machine).
    let org_bin = trove_org_binary(&p)?;

    let (vault, token) = share_vault(&work.path().join("vault"), other)?;
    // The first remote use binds a grant to the organization's key: the cold `trove-org`
    // processes (their own key) read with a grant of their own.
    let (_, cold_token) = vault.create_grant(&NewGrant {
        org: "Bench Bank".into(),
        purpose: "cold start".into(),
        scope: vec!["contact.email".into(), "contact.label".into()],
        ..Default::default()
    })?;
    let cold_token = cold_token.expose_secret().to_string();
    let secret = vault.endpoint_secret()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = || ShareConfig {
            max_failures: u32::MAX,
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

        // 2. Direct over iroh on loopback: no relay on either side.
        let server = Server::start(&secret, &vault, config(), None).await?;
        let key = OrgKey::generate();
        let options = RemoteOptions {
            path: PathPolicy::Direct,
            ..RemoteOptions::default()
        };
        let client = Arc::new(Client::remote(&server.link(&token), &key, options).await?);
        let direct = phase(&vault, client.clone(), streams, requests, &p, "iroh direct").await?;
        ensure!(
            client.network_path() == Some(NetworkPath::Direct),
            "the direct phase did not run on a direct path"
        );
        client.close().await;
        server.stop().await?;

        // 3. Through the local relay: the organization's side sends no UDP of its own.
        let server = Server::start(&secret, &vault, config(), Some(relay.url())).await?;
        let options = RemoteOptions {
            path: PathPolicy::Relay,
            ..RemoteOptions::default()
        };
        let client = Arc::new(Client::remote(&server.link(&token), &key, options).await?);
        let relayed = phase(&vault, client.clone(), streams, requests, &p, "iroh relayed").await?;
        ensure!(
            client.network_path() == Some(NetworkPath::Relayed),
            "the relayed phase did not run through the relay"
        );
        client.close().await;

        // 4. Cold `trove-org fetch` processes through the relay.
        let rows0 = vault.log_len()?;
        let first = cold_fetches(
            org_bin,
            &server.link(&cold_token),
            relay.url(),
            cold_runs,
            work.path(),
            &p,
        )
        .await?;
        let cold_rows_match = vault.log_len()? - rows0 == cold_runs as u64;
        server.stop().await?;

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
            "first_response_s": round(first.median, 3),
            "first_response_max_s": round(first.max, 3),
            "log_rows_match": http.rows_match && direct.rows_match && relayed.rows_match && cold_rows_match,
            "person_side": "trove_share::serve_remote (as trove serve --remote)",
            "load_average": load_average(),
        }))
    })
}

/// `/proc/loadavg`'s first three figures, for the record (the machine is shared).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
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
    run_load(streams.min(WARMUP), WARMUP, PHASE_LIMIT, |n| {
        reader(client.clone(), n)
    })
    .await
    .with_context(|| format!("{name}: warming up"))?;
    let rows0 = vault.log_len()?;
    let load = run_load(streams, total, PHASE_LIMIT, |n| reader(client.clone(), n))
        .await
        .with_context(|| format!("{name}: measuring"))?;
    let rows = vault.log_len()? - rows0;
    p.say(format!(
        "{name}: {:.0} req/s {}; {rows} log rows for {} requests",
        load.rate,
        load.lat.summary(),
        load.lat.len()
    ));
    Ok(PhaseResult {
        rate: load.rate,
        rows_match: rows == load.lat.len() as u64,
        lat: load.lat,
    })
}

async fn reader(client: Arc<Client>, n: usize) -> anyhow::Result<(Latencies, ())> {
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
    Ok((lat, ()))
}

/// The person's side over iroh, as `trove serve --remote` runs it: the vault's endpoint
/// key bound on loopback, served by `serve_remote`.
struct Server {
    endpoint: Endpoint,
    relay: Option<String>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), trove_share::ServeError>>,
}

impl Server {
    async fn start(
        secret: &trove_core::EndpointSecret,
        vault: &Vault,
        config: ShareConfig,
        relay: Option<&str>,
    ) -> anyhow::Result<Server> {
        let options = trove_share::RemoteOptions {
            relay: match relay {
                Some(u) => RelayChoice::Custom(u.to_string()),
                None => RelayChoice::Disabled,
            },
            bind_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            portmapper: false,
            limits: config.remote.clone(),
        };
        let endpoint = trove_share::bind_endpoint(secret, &options).await?;
        if relay.is_some() {
            tokio::time::timeout(Duration::from_secs(30), trove_share::wait_online(&endpoint))
                .await
                .context("the person's side never reached the local relay")?;
        }
        let state = ShareState::new(vault.try_clone()?, config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(trove_share::serve_remote(endpoint.clone(), state, async {
            let _ = stopped.await;
        }));
        Ok(Server {
            endpoint,
            relay: relay.map(str::to_string),
            stop,
            task,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }

    /// The link an organization gets: the relay, or (without one) the loopback address.
    fn link(&self, token: &str) -> ShareLink {
        let direct = match self.relay {
            Some(_) => vec![],
            None => self
                .endpoint
                .addr()
                .ip_addrs()
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

struct Cold {
    median: f64,
    max: f64,
}

/// Median (and slowest) wall time of `runs` cold `trove-org fetch` processes (fresh
/// process, its key already created, link on stdin) through the relay, from spawn to
/// exit with the records on stdout.
async fn cold_fetches(
    bin: PathBuf,
    link: &ShareLink,
    relay: &str,
    runs: usize,
    work: &std::path::Path,
    p: &Progress,
) -> anyhow::Result<Cold> {
    let config = work.join("org-config");
    let text = link.encode();
    let relay = relay.to_string();
    let cold = tokio::task::spawn_blocking(move || -> anyhow::Result<Cold> {
        let run = |args: &[&str]| -> anyhow::Result<(Duration, std::process::Output)> {
            use std::io::Write;
            let t = Instant::now();
            let mut child = Command::new(&bin)
                .args(args)
                .env("XDG_CONFIG_HOME", &config)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .with_context(|| format!("starting {}", bin.display()))?;
            child
                .stdin
                .take()
                .context("stdin")?
                .write_all(text.as_bytes())?;
            let out = child.wait_with_output()?;
            Ok((t.elapsed(), out))
        };
        let (_, id) = run(&["id"])?;
        ensure!(id.status.success(), "trove-org id failed");
        let mut times = Vec::new();
        for _ in 0..runs {
            let (d, out) = run(&["fetch", "-", "--relay", &relay, "--path", "relay"])?;
            ensure!(
                out.status.success(),
                "trove-org fetch failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout)?;
            ensure!(v["records"].as_array().map(Vec::len) == Some(10));
            times.push(d.as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        Ok(Cold {
            median: times[times.len() / 2],
            max: times[times.len() - 1],
        })
    })
    .await??;
    p.say(format!(
        "cold trove-org fetch through the relay: {:.3} s median, {:.3} s slowest of {runs}",
        cold.median, cold.max
    ));
    Ok(cold)
}

/// `trove-org` next to this benchmark's binary, built first with the same profile and
/// the same packages selected as the benchmark (so no dependency is built twice).
fn trove_org_binary(p: &Progress) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .context("the benchmark binary has no directory")?;
    let bin = dir.join("trove-org");
    let release = dir.file_name().is_some_and(|n| n == "release");
    p.say("building trove-org (cargo build -p trove-bench -p trove-client --bin trove-org)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "trove-bench",
        "-p",
        "trove-client",
        "--bin",
        "trove-org",
    ]);
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
