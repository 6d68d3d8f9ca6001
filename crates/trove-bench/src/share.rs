//! The `share` suite: bounded load on the share API over loopback. 64 keep-alive
//! connections send `GET /v1/records` (10 projected records per answer, each answer's
//! access-log row committed and fsync'd before it is sent), against two baselines in the
//! same run: `GET /healthz` (the HTTP ceiling: no vault, no log) and the same endpoint
//! with auditing switched off (what the log costs).
//!
//! The load generator is a minimal HTTP/1.1 client on raw tokio sockets in the same
//! process, so client and server share the machine's cores: the figures are a floor.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trove_core::ShareEngine;
use trove_share::{ShareConfig, ShareState};

use crate::common::{
    percentile, round, run_load, share_vault, thread_cpu_time, Args, Latencies, Progress,
};

/// The longest any phase may run before the suite gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(180);

/// Runs the suite; see the module docs and docs/benchmarks.md.
pub fn run(args: &mut Args) -> anyhow::Result<Value> {
    let conns = args.take_usize("connections", 64)?;
    let requests = args.take_usize("requests", 30_000)?;
    let threads = args.take_usize("threads", 2)?;
    let rounds = args.take_usize("rounds", 4)?;
    let other = args.records_or(1_000);
    args.finish()?;
    let work = args.workdir()?;
    let p = Progress::start();
    p.say(format!(
        "share suite: {conns} connections, {requests} requests per phase, {threads} runtime threads"
    ));

    let (vault, token) = share_vault(&work.path().join("vault"), other)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;

    // 0. The gate alone: decisions in batches of `conns`, no HTTP, audited and not.
    let audited_engine = ShareEngine::new(&vault);
    let gate_rate = gate_alone(&vault, audited_engine, &token, conns, requests, true)?;
    let engine = ShareEngine::new(&vault).unaudited_for_benchmarks_only();
    let gate_off = gate_alone(&vault, engine, &token, conns, requests, false)?;
    p.say(format!(
        "gate alone (batches of {conns}): audited {:.0} decisions/s wall, {:.0} per CPU second; audit off {:.0} wall, {:.0} per CPU second",
        gate_rate.0, gate_rate.1, gate_off.0, gate_off.1
    ));

    let config = || ShareConfig {
        max_failures: u32::MAX,
        ..ShareConfig::default()
    };

    // 1. Ceiling: /healthz, no vault work at all.
    let state = ShareState::new(vault.try_clone()?, config());
    let ceiling = rt.block_on(phase(state, conns, requests, "/healthz", None, &p))?;
    p.say(format!(
        "healthz: {:.0} req/s {}; {:.0} µs CPU per request (process)",
        ceiling.rate,
        ceiling.lat.summary(),
        ceiling.cpu_us
    ));

    // `GET /v1/records` on a new server, audited or not: the phase and the log rows it
    // wrote, warm-up requests included.
    let records = |audit: bool| -> anyhow::Result<(PhaseResult, u64)> {
        let before = vault.log_len()?;
        let mut engine = ShareEngine::new(&vault);
        if !audit {
            engine = engine.unaudited_for_benchmarks_only();
        }
        let state = ShareState::with_engine(vault.try_clone()?, engine, config());
        let r = rt.block_on(phase(
            state,
            conns,
            requests,
            "/v1/records",
            Some(&token),
            &p,
        ))?;
        Ok((r, vault.log_len()? - before))
    };

    // 2. The real thing: audited reads.
    let (audited, wrote) = records(true)?;
    let rows = wrote - audited.warmup as u64;
    p.say(format!(
        "records (audited): {:.0} req/s {}; {rows} log rows for {} requests; {:.1} requests per batch; µs CPU per request: {:.0} process, {:.1} gate",
        audited.rate,
        audited.lat.summary(),
        audited.lat.len(),
        audited.mean_batch,
        audited.cpu_us,
        audited.gate_cpu_us
    ));
    // Reading the log the run wrote (both gate-alone phases' and this one's rows).
    let t = Instant::now();
    let check = vault.verify_log()?;
    let verify_ms = t.elapsed().as_secs_f64() * 1e3;
    ensure!(
        check.ok,
        "the access log does not verify after the run: {check:?}"
    );
    let t = Instant::now();
    let summary = vault.log_summary(None)?;
    let summary_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let page = vault.log_page(&trove_core::LogFilter {
        org: summary.first().map(|s| s.org.clone()),
        limit: Some(50),
        before: vault.log_len()?.checked_sub(1_000).map(|s| s as i64),
        ..Default::default()
    })?;
    let page_ms = t.elapsed().as_secs_f64() * 1e3;
    ensure!(
        page.entries.len() == 50,
        "a page of one organization's rows"
    );
    p.say(format!(
        "reading {} log rows: verify {verify_ms:.0} ms, summary {summary_ms:.0} ms, one page of 50 {page_ms:.1} ms",
        check.entries
    ));

    // 3. Baseline: the same endpoint with auditing off.
    let (unaudited, wrote) = records(false)?;
    p.say(format!(
        "records (audit off): {:.0} req/s {}; {:.1} requests per batch; µs CPU per request: {:.0} process, {:.1} gate",
        unaudited.rate,
        unaudited.lat.summary(),
        unaudited.mean_batch,
        unaudited.cpu_us,
        unaudited.gate_cpu_us
    ));
    ensure!(wrote == 0, "audit-off phase wrote log rows");

    // 4. More pairs of the two, the unaudited one first in every other pair: the
    // machine's load drifts between phases seconds apart, and a pair measured back to
    // back (in both orders) cancels most of that drift. `audit_cost` is the median pair.
    let mut pairs = vec![Pair::of(&audited, &unaudited)];
    for round in 0..rounds {
        let run = |audit: bool| -> anyhow::Result<PhaseResult> {
            let (r, wrote) = records(audit)?;
            let want = if audit {
                (r.warmup + r.lat.len()) as u64
            } else {
                0
            };
            ensure!(
                wrote == want,
                "pair {round}: {wrote} log rows written, {want} expected"
            );
            Ok(r)
        };
        let (a, u) = if round % 2 == 0 {
            let u = run(false)?;
            (run(true)?, u)
        } else {
            let a = run(true)?;
            (a, run(false)?)
        };
        let pair = Pair::of(&a, &u);
        p.say(format!(
            "pair {}: audited {:.0} req/s, off {:.0} req/s, audit cost {:.3}; µs CPU per request {:.1} / {:.1}",
            round + 2,
            a.rate,
            u.rate,
            pair.cost,
            a.cpu_us,
            u.cpu_us
        ));
        pairs.push(pair);
    }
    let costs: Vec<f64> = pairs.iter().map(|p| p.cost).collect();
    let cpu_costs: Vec<f64> = pairs.iter().map(|p| p.cpu_cost).collect();

    Ok(json!({
        "connections": conns,
        "requests": audited.lat.len(),
        "records_per_response": audited.records,
        "req_per_s": round(audited.rate, 0),
        "p50_ms": round(audited.lat.p(50.0), 3),
        "p99_ms": round(audited.lat.p(99.0), 3),
        "ceiling_req_per_s": round(ceiling.rate, 0),
        "ratio": round(audited.rate / ceiling.rate, 3),
        "audit_off_req_per_s": round(unaudited.rate, 0),
        "audit_off_p99_ms": round(unaudited.lat.p(99.0), 3),
        "audit_cost": round(percentile(&costs, 50.0), 3),
        "audit_cost_pairs": costs.iter().map(|c| round(*c, 3)).collect::<Vec<_>>(),
        "audit_cpu_cost": round(percentile(&cpu_costs, 50.0), 3),
        "log_rows_match": rows == audited.lat.len() as u64,
        "mean_batch": round(audited.mean_batch, 1),
        "cpu_us_per_req": round(audited.cpu_us, 1),
        "gate_cpu_us_per_req": round(audited.gate_cpu_us, 1),
        "ceiling_cpu_us_per_req": round(ceiling.cpu_us, 1),
        "audit_off_cpu_us_per_req": round(unaudited.cpu_us, 1),
        "gate_only_req_per_s": round(gate_rate.0, 0),
        "gate_only_req_per_cpu_s": round(gate_rate.1, 0),
        "gate_only_audit_off_req_per_s": round(gate_off.0, 0),
        "gate_only_audit_off_req_per_cpu_s": round(gate_off.1, 0),
        "gate_only_audit_cost": round(1.0 - gate_rate.0 / gate_off.0, 3),
        "log_entries": check.entries,
        "log_verify_ms": round(verify_ms, 1),
        "log_summary_ms": round(summary_ms, 1),
        "log_page_ms": round(page_ms, 2),
    }))
}

/// Decides `requests` reads in batches of `conns` on this thread with `engine`, no HTTP:
/// (decisions per second of wall time, per second of this thread's CPU). Checks that
/// each decision wrote one log row when `audited`, and none otherwise.
fn gate_alone(
    vault: &trove_core::Vault,
    engine: ShareEngine,
    token: &str,
    conns: usize,
    requests: usize,
    audited: bool,
) -> anyhow::Result<(f64, f64)> {
    let v = vault.try_clone()?;
    let rows0 = vault.log_len()?;
    let n_batches = (requests / conns).max(1);
    let t = Instant::now();
    let cpu0 = thread_cpu_time();
    for _ in 0..n_batches {
        let reqs = (0..conns)
            .map(|_| trove_core::ShareRequest {
                meta: trove_core::RequestMeta {
                    remote_addr: "127.0.0.1".into(),
                    method: "GET".into(),
                    path: "/v1/records".into(),
                    transport: trove_core::Transport::Http,
                },
                credential: trove_core::Credential::from_authorization(Some(&format!(
                    "Bearer {token}"
                ))),
                op: trove_core::ShareOp::Records { record_type: None },
            })
            .collect();
        let out = engine.handle_batch(&v, reqs);
        ensure!(out.iter().all(|r| r.status == 200), "gate answered non-200");
    }
    let logged = vault.log_len()? - rows0;
    let n = (n_batches * conns) as f64;
    ensure!(
        logged == if audited { n as u64 } else { 0 },
        "the gate wrote {logged} log rows for {n} decisions (audited: {audited})"
    );
    let rate = n / t.elapsed().as_secs_f64();
    let per_cpu = match (cpu0, thread_cpu_time()) {
        (Some(a), Some(b)) if b > a => n / (b - a).as_secs_f64(),
        _ => 0.0,
    };
    Ok((rate, per_cpu))
}

/// An audited phase and an unaudited one measured back to back.
struct Pair {
    /// `1 − audited / unaudited` requests per second.
    cost: f64,
    /// `1 − unaudited / audited` CPU time per request (the share of the audited
    /// request's CPU that the audit takes).
    cpu_cost: f64,
}

impl Pair {
    fn of(audited: &PhaseResult, unaudited: &PhaseResult) -> Pair {
        Pair {
            cost: 1.0 - audited.rate / unaudited.rate,
            cpu_cost: 1.0 - unaudited.cpu_us / audited.cpu_us,
        }
    }
}

struct PhaseResult {
    /// Requests sent before the measurement (also logged).
    warmup: usize,
    rate: f64,
    lat: Latencies,
    records: usize,
    /// Requests per committed batch (0 when the path never reaches the gate).
    mean_batch: f64,
    /// CPU time of the whole process (server and load generator) per request, µs.
    cpu_us: f64,
    /// CPU time of the server's gate thread per request, µs.
    gate_cpu_us: f64,
}

/// User + system CPU time of this process so far (all threads, also those that ended),
/// from `/proc/self/stat` (clock ticks of 10 ms; phases run for seconds).
fn process_cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of every live gate thread (`trove-share-gat…`), from their schedstat.
fn gate_cpu_time() -> Option<Duration> {
    let mut ns = 0u64;
    for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.starts_with("trove-share-gat") {
            let st = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            ns += st
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(Duration::from_nanos(ns))
}

/// Serves `state` on 127.0.0.1:0 and sends `total` requests for `path` over `conns`
/// keep-alive connections; every answer must be 200.
async fn phase(
    state: ShareState,
    conns: usize,
    total: usize,
    path: &str,
    token: Option<&str>,
    p: &Progress,
) -> anyhow::Result<PhaseResult> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counts = state.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(trove_share::serve(listener, state, None, async {
        let _ = stopped.await;
    }));
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", addr.port());
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    let req: Arc<[u8]> = Arc::from(req.into_bytes());
    // Warm up (connections, caches) outside the measurement.
    const WARMUP: usize = 50;
    one_connection(addr, req.clone(), WARMUP).await?;
    p.say(format!("  {path}: warm; measuring"));
    let (b0, r0) = counts.batch_counts();
    let (cpu0, gate0) = (process_cpu_time(), gate_cpu_time());
    let load = run_load(conns, total, PHASE_LIMIT, |n| {
        one_connection(addr, req.clone(), n)
    })
    .await?;
    let records = load.outputs.first().map_or(0, |b| count_records(b));
    let (b1, r1) = counts.batch_counts();
    let (cpu1, gate1) = (process_cpu_time(), gate_cpu_time());
    let n = load.lat.len().max(1) as f64;
    let per_req_us = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) if b >= a => (b - a).as_secs_f64() * 1e6 / n,
        _ => 0.0,
    };
    let _ = stop.send(());
    server.await??;
    Ok(PhaseResult {
        warmup: WARMUP,
        rate: load.rate,
        lat: load.lat,
        records,
        cpu_us: per_req_us(cpu0, cpu1),
        gate_cpu_us: per_req_us(gate0, gate1),
        mean_batch: if b1 > b0 {
            (r1 - r0) as f64 / (b1 - b0) as f64
        } else {
            0.0
        },
    })
}

fn count_records(body: &[u8]) -> usize {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["records"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Sends `n` requests one after another on one connection; returns the latencies and
/// the last body.
pub(crate) async fn one_connection(
    addr: SocketAddr,
    req: Arc<[u8]>,
    n: usize,
) -> anyhow::Result<(Latencies, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut lat = Latencies::default();
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut body = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        s.write_all(&req).await?;
        body = read_response(&mut s, &mut buf).await?;
        lat.push(t.elapsed());
    }
    Ok((lat, body))
}

/// Reads one HTTP/1.1 response with a Content-Length; fails unless it is a 200.
pub(crate) async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if s.read_buf(buf).await? == 0 {
            bail!("connection closed mid-response");
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])?;
    let status = head.get(9..12).unwrap_or("").to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .context("response without Content-Length")?;
    while buf.len() < head_end + len {
        if s.read_buf(buf).await? == 0 {
            bail!("connection closed mid-body");
        }
    }
    let body = buf[head_end..head_end + len].to_vec();
    ensure!(
        status == "200",
        "answer {status}: {}",
        String::from_utf8_lossy(&body)
    );
    buf.drain(..head_end + len);
    Ok(body)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
