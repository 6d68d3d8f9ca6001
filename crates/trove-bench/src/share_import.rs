//! The `share-during-import` suite (issue 11 item 6, L3): the share API's latency while a
//! large import holds the vault's write lock, against the same load without the import
//! in the same run, and the import's time with and without that load.
//!
//! The input is N generated records (default 1,000,000; no `contact` records, so the
//! shared listing stays 10 records) exported as a plain bundle, imported with
//! `importers::import_file` (what `trove import` calls) on its own connection in a
//! thread of this process. The share load is the `share` suite's client: keep-alive
//! connections sending `GET /v1/records` to the real server over loopback; every answer
//! must be 200. While the import runs, the server decides on a read snapshot and logs to
//! the side journal; afterwards every request must have exactly one row in the main log,
//! and the chain must verify.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use trove_core::bundle::{self, Encryption, ExportOptions};
use trove_core::importers::{self, Options};
use trove_core::{KdfParams, Passphrase, ShareEngine, Vault};
use trove_share::{ShareConfig, ShareState};

use crate::common::{round, run_load, share_vault, Args, Latencies, Progress};
use crate::share::{one_connection, read_response};

/// Runs the suite; see the module docs and docs/benchmarks.md.
pub fn run(args: &mut Args) -> anyhow::Result<Value> {
    let n = args.records_or(1_000_000);
    let conns = args.take_usize("connections", 16)?;
    let requests = args.take_usize("requests", 20_000)?;
    let threads = args.take_usize("threads", 2)?;
    args.finish()?;
    let work = args.workdir()?;
    let p = Progress::start();
    p.say(format!(
        "share-during-import: {n} records imported, {conns} connections"
    ));

    // The input: n records as a plain bundle (untimed).
    let bundle_path = work.path().join("input.trove");
    {
        let pass = Passphrase::new("correct horse battery staple".into());
        let (src, _) = Vault::create_with(&work.path().join("source"), &pass, KdfParams::DEFAULT)?;
        let mut records = trove_core::demo::random_records(2026, usize::MAX)
            .filter(|r| r.record_type != "contact");
        let mut added = 0;
        while added < n {
            let k = 10_000.min(n - added);
            src.add_batch(records.by_ref().take(k))?;
            added += k;
        }
        let opts = ExportOptions {
            encryption: Encryption::Plain,
            scope: None,
            replace: true,
        };
        bundle::export(&src, &bundle_path, &opts, &mut |_| {})?;
    }
    // The disk is shared: keep only what the next steps read.
    std::fs::remove_dir_all(work.path().join("source"))?;
    p.say(format!(
        "bundle of {n} records: {} bytes",
        std::fs::metadata(&bundle_path)?.len()
    ));
    let import = |vault: Vault| {
        let path = bundle_path.clone();
        std::thread::spawn(move || -> anyhow::Result<(f64, u64)> {
            let t = Instant::now();
            let r = importers::import_file(&vault, &path, &Options::default(), &mut |_| {})?;
            Ok((t.elapsed().as_secs_f64(), r.merge.new))
        })
    };

    // 1. The import alone, into a vault like the shared one.
    let (alone, _) = share_vault(&work.path().join("alone"), 1_000)?;
    let (alone_s, new) = import(alone).join().expect("import thread")?;
    ensure!(new == n as u64, "the import alone added {new} of {n}");
    std::fs::remove_dir_all(work.path().join("alone"))?;
    p.say(format!("import alone: {alone_s:.1} s"));

    // 2. Sharing alone, then sharing while the same import runs, on one server.
    let (vault, token) = share_vault(&work.path().join("vault"), 1_000)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let config = ShareConfig {
        max_failures: u32::MAX,
        ..ShareConfig::default()
    };
    let state = ShareState::new(vault.try_clone()?, config);
    let (addr, stop, server) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(trove_share::serve(listener, state, None, async {
            let _ = stopped.await;
        }));
        anyhow::Ok((addr, stop, server))
    })?;
    let req: Arc<[u8]> = Arc::from(
        format!(
            "GET /v1/records HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\n\r\n",
            addr.port()
        )
        .into_bytes(),
    );
    rt.block_on(one_connection(addr, req.clone(), 50))?;
    let quiet = rt.block_on(run_load(conns, requests, Duration::from_secs(300), |k| {
        one_connection(addr, req.clone(), k)
    }))?;
    p.say(format!("sharing alone: {}", quiet.lat.summary()));

    let rows_before = vault.log_len()?;
    let done = Arc::new(AtomicBool::new(false));
    let importing = import(vault.try_clone()?);
    let flag = done.clone();
    let waiter = std::thread::spawn(move || {
        let r = importing.join().expect("import thread");
        flag.store(true, Ordering::Release);
        r
    });
    let busy = rt.block_on(run_load(conns, conns, Duration::from_secs(1800), |_| {
        until(addr, req.clone(), done.clone())
    }))?;
    let (shared_s, new) = waiter.join().expect("waiter")?;
    ensure!(
        new == n as u64,
        "the import during sharing added {new} of {n}"
    );
    p.say(format!(
        "import during sharing: {shared_s:.1} s; sharing meanwhile: {} ({} requests)",
        busy.lat.summary(),
        busy.lat.len()
    ));
    let _ = stop.send(());
    rt.block_on(server)??;

    // Every request of the import phase is in the main log once, plus the import's row.
    ShareEngine::new(&vault).merge_journal(&vault);
    let rows = vault.log_len()? - rows_before;
    ensure!(
        rows == busy.lat.len() as u64 + 1,
        "{rows} log rows for {} requests and one import",
        busy.lat.len()
    );
    let check = vault.verify_log()?;
    ensure!(check.ok, "the access log does not verify: {check:?}");

    Ok(json!({
        "records": n,
        "connections": conns,
        "quiet_requests": quiet.lat.len(),
        "quiet_p50_ms": round(quiet.lat.p(50.0), 3),
        "quiet_p99_ms": round(quiet.lat.p(99.0), 3),
        "quiet_req_per_s": round(quiet.rate, 0),
        "during_requests": busy.lat.len(),
        "during_p50_ms": round(busy.lat.p(50.0), 3),
        "during_p99_ms": round(busy.lat.p(99.0), 3),
        "during_max_ms": round(busy.lat.max(), 3),
        "during_req_per_s": round(busy.rate, 0),
        "p99_ratio": round(busy.lat.p(99.0) / quiet.lat.p(99.0), 2),
        "import_alone_s": round(alone_s, 3),
        "import_during_sharing_s": round(shared_s, 3),
        "import_ratio": round(shared_s / alone_s, 3),
        "log_rows_match": true,
    }))
}

/// Sends requests one after another on one connection until `done`; returns the
/// latencies of those sent before it.
async fn until(
    addr: SocketAddr,
    req: Arc<[u8]>,
    done: Arc<AtomicBool>,
) -> anyhow::Result<(Latencies, ())> {
    let mut s = TcpStream::connect(addr).await.context("connecting")?;
    s.set_nodelay(true)?;
    let mut lat = Latencies::default();
    let mut buf = Vec::with_capacity(16 * 1024);
    while !done.load(Ordering::Acquire) {
        let t = Instant::now();
        s.write_all(&req).await?;
        read_response(&mut s, &mut buf).await?;
        lat.push(t.elapsed());
    }
    Ok((lat, ()))
}
