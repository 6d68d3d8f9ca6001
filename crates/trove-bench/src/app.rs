//! The `app` suite: the shipped desktop app's binary size, cold start to the unlock screen
//! painted, and idle memory (whole process tree) with a large vault unlocked in the real UI.
//!
//! Everything runs hermetically: a private Xvfb display and a private session bus started
//! by the suite, and fresh HOME/XDG dirs under the work directory for every launch. The
//! real display, session bus, keyring and data dir are never used (the environment of the
//! app is cleared and rebuilt).
//!
//! - `binary_mb`: the app built with `cargo build --profile PROFILE -p trove-desktop
//!   --features tauri/custom-protocol` (what `tauri build` ships), after `npm run build`
//!   in ui/ (the binary embeds ui/dist).
//! - `start_to_paint_s`: spawn of the binary → the line `trove-bench: painted unlock` on
//!   its stdout. The UI asks the shell to print it two animation frames after the unlock
//!   screen mounted, and the shell prints it only with `TROVE_BENCH_PAINT=1`
//!   (src-tauri/src/bench.rs, ui/src/lib/bench.ts).
//! - `idle_rss_mb`: WebKitWebDriver launches the app; the suite types the passphrase into
//!   the unlock screen and clicks Unlock, waits for the record list with all records
//!   counted, waits two frames, then lets the app sit idle for `--settle` seconds and sums
//!   VmRSS over the app process and every process below it (WebKitWebProcess,
//!   WebKitNetworkProcess, ...).

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use trove_core::demo::random_records;
use trove_core::{KdfParams, Passphrase, Vault};

use crate::common::{percentile, round, Args, Progress};
use crate::procs::{self, kib_to_mb, ProcMem};
use crate::webdriver::WebDriver;

const PASS: &str = "correct horse battery staple";
/// Must match `trove_desktop::bench::PAINT_ENV` (src-tauri/src/bench.rs).
const PAINT_ENV: &str = "TROVE_BENCH_PAINT";
/// Must match `trove_desktop::bench::PAINTED_PREFIX`.
const PAINTED_PREFIX: &str = "trove-bench: painted ";

/// The targets from the product brief: (figure, at most).
pub const TARGETS: [(&str, f64); 3] = [
    ("start_to_paint_s", 1.0),
    ("idle_rss_mb", 150.0),
    ("binary_mb", 20.0),
];

/// Runs the suite.
pub fn run(args: &mut Args) -> anyhow::Result<Value> {
    let n = args.records_or(10_000);
    let launches = args.take_usize("launches", 7)?;
    let idle_runs = args.take_usize("idle-runs", 3)?;
    let settle_s = args.take_usize("settle", 5)?;
    let profile = args
        .take_string("profile")
        .unwrap_or_else(|| "release".into());
    let given_app = args.take_string("app").map(PathBuf::from);
    let timeout = Duration::from_secs(args.take_usize("timeout", 90)? as u64);
    let app_env = parse_app_env(args.take_string("app-env").as_deref().unwrap_or(""))?;
    args.finish()?;
    let work = args.workdir()?;
    let p = Progress::start();
    let load_before = load_average();

    let app = match given_app {
        Some(a) => {
            ensure!(a.is_file(), "--app {} is not a file", a.display());
            a
        }
        None => build_app(&profile, &p)?,
    };
    let binary_bytes = std::fs::metadata(&app)?.len();
    let stripped_bytes = stripped_size(&app, work.path());
    p.say(format!(
        "app binary {} is {:.1} MB",
        app.display(),
        binary_bytes as f64 / 1e6
    ));

    let vault_dir = work.path().join("vault");
    p.say(format!(
        "creating a vault with {n} records (Argon2id KdfParams::DEFAULT)"
    ));
    let (vault, _) = Vault::create_with(
        &vault_dir,
        &Passphrase::new(PASS.into()),
        KdfParams::DEFAULT,
    )?;
    let mut records = random_records(2026, n);
    let mut added = 0;
    while added < n {
        let k = 10_000.min(n - added);
        vault.add_batch(records.by_ref().take(k))?;
        added += k;
    }
    drop(vault);

    let display = Xvfb::start()?;
    let bus = SessionBus::start(work.path())?;
    p.say(format!(
        "Xvfb on {}, private session bus at {}",
        display.display, bus.address
    ));
    let env = |name: &str| -> anyhow::Result<Vec<(String, OsString)>> {
        let mut env = hermetic_env(
            &work.path().join(name),
            &display.display,
            &bus.address,
            &vault_dir,
        )?;
        env.extend(app_env.iter().map(|(k, v)| (k.clone(), v.into())));
        Ok(env)
    };

    let mut paints = Vec::new();
    let mut unlock_screen_rss = Vec::new();
    let mut unlock_screen_pss = Vec::new();
    for i in 0..launches {
        let (t, tree) = launch_to_paint(&app, env(&format!("launch-{i}"))?, timeout)?;
        let (rss, pss) = procs::totals(&tree);
        p.say(format!(
            "launch {}/{launches}: unlock screen painted after {:.3} s ({} processes, {:.1} MB RSS)",
            i + 1,
            t.as_secs_f64(),
            tree.len(),
            kib_to_mb(rss)
        ));
        paints.push(t.as_secs_f64());
        unlock_screen_rss.push(kib_to_mb(rss));
        unlock_screen_pss.push(kib_to_mb(pss));
    }

    let mut idles = Vec::new();
    for i in 0..idle_runs {
        let s = idle_run(
            &app,
            env(&format!("idle-{i}"))?,
            n,
            Duration::from_secs(settle_s as u64),
            timeout,
            &p,
        )?;
        p.say(format!(
            "idle run {}/{idle_runs}: unlocked in {:.2} s; after {settle_s} s idle: app {:.1} MB, tree {:.1} MB RSS / {:.1} MB PSS in {} processes",
            i + 1,
            s.unlock_to_list_s,
            s.main_rss_mb(),
            s.tree_rss_mb(),
            s.tree_pss_mb(),
            s.tree.len()
        ));
        idles.push(s);
    }
    drop(bus);
    drop(display);

    Ok(summarize(&Measured {
        records: n,
        profile,
        binary_bytes,
        stripped_bytes,
        app_env,
        paints,
        unlock_screen_rss,
        unlock_screen_pss,
        idles,
        settle_s,
        load_before,
        load_after: load_average(),
    }))
}

/// Everything the suite measured, for [`summarize`].
pub struct Measured {
    /// Records in the vault.
    pub records: usize,
    /// The cargo profile the app was built with.
    pub profile: String,
    /// Size of the app binary.
    pub binary_bytes: u64,
    /// Its size after `strip` (symbols removed), when `strip` is available.
    pub stripped_bytes: Option<u64>,
    /// Extra environment given to the app (`--app-env`).
    pub app_env: Vec<(String, String)>,
    /// Seconds from spawn to painted, per launch, in launch order.
    pub paints: Vec<f64>,
    /// Tree RSS (MB) on the painted unlock screen, per launch.
    pub unlock_screen_rss: Vec<f64>,
    /// Tree PSS (MB) on the painted unlock screen, per launch.
    pub unlock_screen_pss: Vec<f64>,
    /// One per idle run.
    pub idles: Vec<IdleSample>,
    /// The idle period before the sample.
    pub settle_s: usize,
    /// 1/5/15-minute load averages before and after.
    pub load_before: Option<[f64; 3]>,
    /// See `load_before`.
    pub load_after: Option<[f64; 3]>,
}

/// The memory of the unlocked, idle app in one run.
pub struct IdleSample {
    /// Unlock click → the record list shows all records.
    pub unlock_to_list_s: f64,
    /// The app process and its descendants after the settle period, app first.
    pub tree: Vec<ProcMem>,
    /// The largest tree RSS (KiB) seen once a second during the settle period.
    pub settle_peak_rss_kib: u64,
    /// After the memory sample, per query of [`SEARCHES`]: the query set in the search
    /// box → its matches listed and painted (includes the UI's 120 ms typing pause).
    pub search_s: Vec<f64>,
    /// After the searches, per click on "Show 200 more": click → the longer list painted.
    pub show_more_s: Vec<f64>,
}

impl IdleSample {
    fn main_rss_mb(&self) -> f64 {
        kib_to_mb(self.tree.first().map_or(0, |p| p.rss_kib))
    }
    fn tree_rss_mb(&self) -> f64 {
        kib_to_mb(procs::totals(&self.tree).0)
    }
    fn tree_pss_mb(&self) -> f64 {
        kib_to_mb(procs::totals(&self.tree).1)
    }
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// The suite's JSON: medians (nearest rank), min/max, per-run values, targets.
pub fn summarize(m: &Measured) -> Value {
    let binary_mb = round(m.binary_bytes as f64 / 1e6, 2);
    let tree: Vec<f64> = m.idles.iter().map(IdleSample::tree_rss_mb).collect();
    let idle_rss_mb = median(&tree);
    // The run whose tree RSS is the median one: its breakdown is reported.
    let mid = m.idles.iter().find(|s| s.tree_rss_mb() == idle_rss_mb);
    let pick = |f: fn(&IdleSample) -> f64| median(&m.idles.iter().map(f).collect::<Vec<_>>());
    let start_to_paint_s = round(median(&m.paints), 3);
    let figures = [
        ("start_to_paint_s", start_to_paint_s),
        ("idle_rss_mb", idle_rss_mb),
        ("binary_mb", binary_mb),
    ];
    let targets_met: serde_json::Map<String, Value> = TARGETS
        .iter()
        .zip(figures)
        .map(|((name, limit), (_, v))| ((*name).to_string(), json!(v <= *limit)))
        .collect();
    json!({
        "records": m.records,
        "profile": m.profile,
        "binary_bytes": m.binary_bytes,
        "binary_mb": binary_mb,
        "binary_stripped_mb": m.stripped_bytes.map(|b| round(b as f64 / 1e6, 2)),
        "app_env": m.app_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "start_to_paint_s": start_to_paint_s,
        "start_to_paint_min_s": round(min(&m.paints), 3),
        "start_to_paint_max_s": round(max(&m.paints), 3),
        "start_to_paint_first_s": m.paints.first().map(|v| round(*v, 3)),
        "start_to_paint_all_s": m.paints.iter().map(|v| round(*v, 3)).collect::<Vec<_>>(),
        "launches": m.paints.len(),
        "unlock_screen_rss_mb": median(&m.unlock_screen_rss),
        "unlock_screen_pss_mb": median(&m.unlock_screen_pss),
        "idle_rss_mb": idle_rss_mb,
        "idle_rss_min_mb": min(&tree),
        "idle_rss_max_mb": max(&tree),
        "idle_rss_all_mb": tree,
        "idle_main_rss_mb": pick(IdleSample::main_rss_mb),
        "idle_tree_pss_mb": pick(IdleSample::tree_pss_mb),
        "idle_tree_anon_mb": pick(|s| kib_to_mb(s.tree.iter().filter_map(|p| p.anon_kib).sum())),
        "idle_settle_peak_rss_mb": pick(|s| kib_to_mb(s.settle_peak_rss_kib)),
        "idle_processes": mid.map(|s| s.tree.iter().map(|p| json!({
            "name": p.name,
            "rss_mb": kib_to_mb(p.rss_kib),
            "pss_mb": p.pss_kib.map(kib_to_mb),
            "anon_mb": p.anon_kib.map(kib_to_mb),
        })).collect::<Vec<_>>()),
        "unlock_to_list_s": round(pick(|s| s.unlock_to_list_s), 3),
        "search_s": round(median(&m.idles.iter().flat_map(|s| s.search_s.iter().copied()).collect::<Vec<_>>()), 3),
        "show_more_s": round(median(&m.idles.iter().flat_map(|s| s.show_more_s.iter().copied()).collect::<Vec<_>>()), 3),
        "idle_runs": m.idles.len(),
        "settle_s": m.settle_s,
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "load_before": m.load_before,
        "load_after": m.load_after,
        "targets": TARGETS.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "targets_met": targets_met,
    })
}

/// `K=V,K=V` (empty: none) as environment pairs; only `WEBKIT_*`, `GDK_*`, `GSK_*`,
/// `LIBGL_*`, `MESA_*` and `GALLIUM_*` names, the rendering knobs worth comparing, and `MALLOC_*`,
/// `JSC_*` and `GLIBC_TUNABLES`, the memory ones (glibc's allocator, JavaScriptCore).
pub fn parse_app_env(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    const PREFIXES: [&str; 9] = [
        "WEBKIT_",
        "GDK_",
        "GSK_",
        "LIBGL_",
        "MESA_",
        "GALLIUM_",
        "MALLOC_",
        "JSC_",
        "GLIBC_TUNABLES",
    ];
    text.split(',')
        .filter(|kv| !kv.trim().is_empty())
        .map(|kv| {
            let (k, v) = kv
                .trim()
                .split_once('=')
                .with_context(|| format!("--app-env wants NAME=VALUE, got {kv:?}"))?;
            ensure!(
                PREFIXES.iter().any(|p| k.starts_with(p)),
                "--app-env {k}: only {} variables",
                PREFIXES.join(", ")
            );
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// The size of a stripped copy of `app` (made in `work`, then deleted).
fn stripped_size(app: &Path, work: &Path) -> Option<u64> {
    let out = work.join("stripped-app");
    let ok = Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(app)
        .status()
        .ok()?
        .success();
    let size = std::fs::metadata(&out).ok().map(|m| m.len());
    let _ = std::fs::remove_file(&out);
    ok.then_some(size).flatten()
}

/// The 1/5/15-minute load averages from /proc/loadavg.
fn load_average() -> Option<[f64; 3]> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|s| s.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The repository root (this crate lives in crates/trove-bench).
fn repo_root() -> anyhow::Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .context("finding the repository root")
}

/// Where cargo puts a profile's output: `dev` → debug, anything else its own name.
pub fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        p => p,
    }
}

/// Builds the UI, then the app with `profile` and tauri's `custom-protocol` feature (as
/// `tauri build` does); returns the binary. Both steps are no-ops when up to date.
fn build_app(profile: &str, p: &Progress) -> anyhow::Result<PathBuf> {
    let root = repo_root()?;
    let ui = root.join("ui");
    if !ui.join("node_modules").is_dir() {
        p.say("npm install in ui/");
        run_ok(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund"])
                .current_dir(&ui),
        )?;
    }
    // Rebuilding ui/dist when nothing changed would make cargo relink the app every run.
    if ui_is_stale(&ui) {
        p.say("building the UI (npm run build in ui/)");
        run_ok(
            Command::new("npm")
                .args(["run", "build", "--silent"])
                .current_dir(&ui),
        )?;
    }
    p.say(format!(
        "building the app: cargo build --profile {profile} -p trove-desktop --features tauri/custom-protocol"
    ));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_ok(
        Command::new(cargo)
            .args(["build", "--profile", profile, "-p", "trove-desktop"])
            .args(["--features", "tauri/custom-protocol"])
            .current_dir(&root),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_relative() {
        root.join(target)
    } else {
        target
    };
    Ok(target.join(profile_dir(profile)).join("trove-desktop"))
}

/// Is ui/dist missing or older than any source of it (src/, index.html, package.json,
/// vite.config.ts)?
pub fn ui_is_stale(ui: &Path) -> bool {
    fn newest(path: &Path) -> Option<std::time::SystemTime> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_dir() {
            return meta.modified().ok();
        }
        std::fs::read_dir(path)
            .ok()?
            .flatten()
            .filter_map(|e| newest(&e.path()))
            .max()
    }
    let Some(built) = std::fs::metadata(ui.join("dist/index.html"))
        .and_then(|m| m.modified())
        .ok()
    else {
        return true;
    };
    ["src", "index.html", "package.json", "vite.config.ts"]
        .iter()
        .filter_map(|s| newest(&ui.join(s)))
        .any(|t| t > built)
}

fn run_ok(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {cmd:?}"))?;
    ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok(())
}

/// A child process stopped (SIGKILL) and reaped on drop.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the first line a child writes to its stdout (`what` names it in errors).
fn first_line(child: &mut Child, what: &str) -> anyhow::Result<String> {
    let out = child.stdout.take().context("stdout not piped")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    let line = line.trim().to_string();
    ensure!(!line.is_empty(), "{what} did not start");
    Ok(line)
}

/// A private X server: `Xvfb -displayfd` picks a free display and prints its number.
struct Xvfb {
    _proc: Guarded,
    display: String,
}

impl Xvfb {
    fn start() -> anyhow::Result<Xvfb> {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb (scripts/install-deps.sh test installs it)")?;
        let n = first_line(&mut child, "Xvfb");
        let proc = Guarded(child);
        Ok(Xvfb {
            display: format!(":{}", n?),
            _proc: proc,
        })
    }
}

/// A private D-Bus session bus, so the app never reaches the real one (or its keyring).
struct SessionBus {
    _proc: Guarded,
    address: String,
}

impl SessionBus {
    fn start(work: &Path) -> anyhow::Result<SessionBus> {
        let home = work.join("bus-home");
        std::fs::create_dir_all(&home)?;
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dbus-daemon")?;
        let address = first_line(&mut child, "dbus-daemon");
        let proc = Guarded(child);
        Ok(SessionBus {
            address: address?,
            _proc: proc,
        })
    }
}

/// The whole environment of an app launch: fresh HOME and XDG dirs under `dir`, the
/// private display and bus, the vault, and PATH/LANG. Nothing else is inherited.
fn hermetic_env(
    dir: &Path,
    display: &str,
    bus: &str,
    vault: &Path,
) -> anyhow::Result<Vec<(String, OsString)>> {
    let sub = |name: &str| -> anyhow::Result<OsString> {
        let d = dir.join(name);
        std::fs::create_dir_all(&d)?;
        Ok(d.into_os_string())
    };
    let rt = sub("rt")?;
    std::fs::set_permissions(&rt, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let mut env = vec![
        ("HOME".to_string(), sub("home")?),
        ("XDG_DATA_HOME".into(), sub("data")?),
        ("XDG_CONFIG_HOME".into(), sub("config")?),
        ("XDG_CACHE_HOME".into(), sub("cache")?),
        ("XDG_RUNTIME_DIR".into(), rt),
        ("NO_AT_BRIDGE".into(), "1".into()),
        ("GDK_BACKEND".into(), "x11".into()),
        ("DISPLAY".into(), display.into()),
        ("DBUS_SESSION_BUS_ADDRESS".into(), bus.into()),
        ("TROVE_VAULT".into(), vault.as_os_str().to_owned()),
    ];
    for keep in ["PATH", "LANG"] {
        if let Some(v) = std::env::var_os(keep) {
            env.push((keep.into(), v));
        }
    }
    Ok(env)
}

/// Kills `child` and waits until every process that was below it has gone too, so the
/// next launch starts on a quiet machine. Leftovers after 10 s get SIGKILL.
fn stop_tree(child: &mut Child) {
    let below: Vec<u32> = procs::descendants(child.id(), &procs::parent_map())
        .into_iter()
        .skip(1)
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let start = Instant::now();
    while below.iter().any(|&pid| procs::alive(pid)) {
        if start.elapsed() > Duration::from_secs(10) {
            for &pid in below.iter().filter(|&&pid| procs::alive(pid)) {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One cold launch: spawn → the painted line. Returns the time and the process tree's
/// memory on the painted unlock screen.
fn launch_to_paint(
    app: &Path,
    env: Vec<(String, OsString)>,
    timeout: Duration,
) -> anyhow::Result<(Duration, Vec<ProcMem>)> {
    let mut cmd = Command::new(app);
    cmd.env_clear()
        .envs(env)
        .env(PAINT_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", app.display()))?;
    let out = child.stdout.take().context("stdout not piped")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(screen) = line.strip_prefix(PAINTED_PREFIX) {
                let _ = tx.send((Instant::now(), screen.to_string()));
            }
        }
    });
    let result = rx.recv_timeout(timeout);
    let tree = procs::tree_mem(child.id());
    stop_tree(&mut child);
    let (at, screen) = result.map_err(|_| {
        anyhow::anyhow!("the app did not report a painted screen within {timeout:?}")
    })?;
    ensure!(
        screen == "unlock",
        "the app painted {screen:?}, not the unlock screen"
    );
    Ok((at - start, tree))
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Unlocks the app through its UI (WebKitWebDriver), lets it idle, measures its memory.
fn idle_run(
    app: &Path,
    env: Vec<(String, OsString)>,
    records: usize,
    settle: Duration,
    timeout: Duration,
    p: &Progress,
) -> anyhow::Result<IdleSample> {
    let port = free_port()?;
    let mut driver = Command::new("WebKitWebDriver")
        .arg(format!("--port={port}"))
        .env_clear()
        .envs(env)
        // Tauri allows WebDriver automation of its webview only with this (as tauri-driver).
        .env("TAURI_WEBVIEW_AUTOMATION", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting WebKitWebDriver (Debian package webkit2gtk-driver)")?;
    let result = (|| {
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                bail!("WebKitWebDriver did not listen on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let caps = json!({"webkitgtk:browserOptions": {"binary": app, "args": []}});
        let wd = WebDriver::start(&format!("http://127.0.0.1:{port}"), caps)?;
        let sample = unlock_and_idle(&wd, app, driver.id(), records, settle, timeout, p);
        let quit = wd.quit();
        let sample = sample?;
        quit?;
        Ok(sample)
    })();
    stop_tree(&mut driver);
    result
}

fn unlock_and_idle(
    wd: &WebDriver,
    app: &Path,
    driver_pid: u32,
    records: usize,
    settle: Duration,
    timeout: Duration,
    p: &Progress,
) -> anyhow::Result<IdleSample> {
    let app_pid = wd.wait_until(timeout, "the app process", || {
        Ok(procs::children_running(driver_pid, app).first().copied())
    })?;
    let pass = wd.wait_for("#unlock-pass", timeout)?;
    wd.send_keys(&pass, PASS)?;
    let submit = wd.wait_for("#unlock-submit", timeout)?;
    let start = Instant::now();
    wd.click(&submit)?;
    let probe = "const c = document.querySelector('button.type .count');\
                 return [c ? c.textContent.trim() : '', document.querySelectorAll('#record-list li').length];";
    let shown = wd.wait_until(timeout, "the record list with every record counted", || {
        let v = wd.execute(probe, json!([]))?;
        let total = v[0]
            .as_str()
            .unwrap_or("")
            .replace([',', '.', ' ', '\u{a0}'], "");
        let items = v[1].as_u64().unwrap_or(0);
        Ok((total == records.to_string() && items > 0).then_some(items))
    })?;
    wd.two_frames()?;
    let unlock_to_list_s = start.elapsed().as_secs_f64();
    p.say(format!(
        "unlocked through the UI: {records} records counted, {shown} in the list; idling {} s",
        settle.as_secs()
    ));
    // The settle period: a fixed idle time, sampled once a second for the peak.
    let mut peak = 0;
    let settle_start = Instant::now();
    let mut tree = procs::tree_mem(app_pid);
    while settle_start.elapsed() < settle {
        std::thread::sleep(
            Duration::from_secs(1).min(settle.saturating_sub(settle_start.elapsed())),
        );
        tree = procs::tree_mem(app_pid);
        peak = peak.max(procs::totals(&tree).0);
    }
    ensure!(
        tree.first()
            .is_some_and(|t| t.pid == app_pid && t.rss_kib > 0),
        "the app exited while idle"
    );
    // The UI's own work, timed after the memory sample so that it does not change it.
    let search_s = SEARCHES
        .iter()
        .map(|q| {
            ui_step(wd, SEARCH_STEP, "")?;
            ui_step(wd, SEARCH_STEP, q)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    ui_step(wd, SEARCH_STEP, "")?;
    let show_more_s = (0..SHOW_MORE_CLICKS)
        .map(|_| ui_step(wd, SHOW_MORE_STEP, ""))
        .collect::<anyhow::Result<Vec<_>>>()?;
    p.say(format!(
        "search as you type: {:?} s; show 200 more: {:?} s",
        search_s.iter().map(|v| round(*v, 3)).collect::<Vec<_>>(),
        show_more_s.iter().map(|v| round(*v, 3)).collect::<Vec<_>>()
    ));
    Ok(IdleSample {
        unlock_to_list_s,
        tree,
        settle_peak_rss_kib: peak,
        search_s,
        show_more_s,
    })
}

/// Queries of the random records, each matching hundreds of them.
const SEARCHES: [&str; 4] = ["work", "personal", "example", "family"];
/// How many times "Show 200 more" is clicked.
const SHOW_MORE_CLICKS: usize = 3;

/// In the page: sets the search box to `arguments[0]` as typing does, then waits until
/// the list answers that query (its live region counts the matches; empty for no query)
/// and two frames are painted; returns the milliseconds that took, or an error text.
/// Each query follows an empty one, so the count seen is always the new query's.
const SEARCH_STEP: &str = "
const [q, done] = [arguments[0], arguments[arguments.length - 1]];
const box = document.querySelector('#search');
const live = document.querySelector('section.list [aria-live]');
if (!box || !live) return done('no search box or live region');
const before = live.textContent;
const t0 = performance.now();
box.value = q;
box.dispatchEvent(new Event('input', { bubbles: true }));
const answered = () => q
  ? /match/.test(live.textContent)
  : live.textContent === '' && document.querySelectorAll('#record-list li').length > 0;
const poll = () => {
  if (performance.now() - t0 > 20000) return done('no answer after 20 s (was: ' + before + ')');
  if (answered()) requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
  else requestAnimationFrame(poll);
};
requestAnimationFrame(poll);
";

/// In the page: clicks "Show 200 more" and waits until the list is longer and painted.
const SHOW_MORE_STEP: &str = "
const done = arguments[arguments.length - 1];
const more = document.querySelector('#record-list-more');
if (!more) return done('no Show more button');
const n = document.querySelectorAll('#record-list li').length;
const t0 = performance.now();
more.click();
const poll = () => {
  if (performance.now() - t0 > 20000) return done('the list did not grow after 20 s');
  if (document.querySelectorAll('#record-list li').length > n)
    requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
  else requestAnimationFrame(poll);
};
requestAnimationFrame(poll);
";

/// Runs one timed step in the page; its time in seconds.
fn ui_step(wd: &WebDriver, script: &str, arg: &str) -> anyhow::Result<f64> {
    let v = wd.execute_async(script, json!([arg]))?;
    match v.as_f64() {
        Some(ms) => Ok(ms / 1000.0),
        None => bail!("timing the UI ({arg:?}): {v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rss: &[u64]) -> IdleSample {
        IdleSample {
            unlock_to_list_s: 0.5,
            tree: rss
                .iter()
                .enumerate()
                .map(|(i, &r)| ProcMem {
                    pid: i as u32 + 100,
                    name: format!("p{i}"),
                    rss_kib: r,
                    pss_kib: Some(r / 2),
                    anon_kib: Some(r / 4),
                })
                .collect(),
            settle_peak_rss_kib: rss.iter().sum::<u64>() + 1000,
            search_s: vec![0.2, 0.3],
            show_more_s: vec![0.1],
        }
    }

    #[test]
    fn summary_has_the_required_figures_and_judges_the_targets() {
        let mut m = Measured {
            records: 10_000,
            profile: "release".into(),
            binary_bytes: 19_500_000,
            stripped_bytes: Some(15_000_000),
            app_env: vec![("WEBKIT_DISABLE_DMABUF_RENDERER".into(), "1".into())],
            paints: vec![1.4, 0.8, 0.7, 0.9, 0.75],
            unlock_screen_rss: vec![90.0, 95.0, 92.0],
            unlock_screen_pss: vec![50.0, 55.0, 52.0],
            idles: vec![
                sample(&[100_000, 60_000]),
                sample(&[100_000, 80_000]),
                sample(&[100_000, 70_000]),
            ],
            settle_s: 5,
            load_before: Some([1.0, 2.0, 3.0]),
            load_after: None,
        };
        m.idles[2].search_s = vec![0.9];
        let v = summarize(&m);
        assert_eq!(v["search_s"], 0.3, "median of every run's searches");
        assert_eq!(v["show_more_s"], 0.1);
        for key in ["start_to_paint_s", "idle_rss_mb", "binary_mb"] {
            assert!(v[key].is_number(), "{key} must be a number in {v}");
        }
        assert_eq!(v["binary_mb"], 19.5);
        assert_eq!(v["binary_stripped_mb"], 15.0);
        assert_eq!(v["app_env"][0], "WEBKIT_DISABLE_DMABUF_RENDERER=1");
        assert_eq!(v["start_to_paint_s"], 0.8, "median of the launches");
        assert_eq!(v["start_to_paint_min_s"], 0.7);
        assert_eq!(v["start_to_paint_max_s"], 1.4);
        assert_eq!(v["start_to_paint_first_s"], 1.4);
        // Trees of 160,000 / 180,000 / 170,000 KiB: the median is the whole-tree 170,000.
        assert_eq!(v["idle_rss_mb"], kib_to_mb(170_000));
        assert_eq!(v["idle_main_rss_mb"], kib_to_mb(100_000));
        assert_eq!(v["idle_tree_pss_mb"], kib_to_mb(85_000));
        assert_eq!(
            v["idle_processes"][1]["rss_mb"],
            kib_to_mb(70_000),
            "the median run's breakdown"
        );
        assert_eq!(v["targets_met"]["start_to_paint_s"], true);
        assert_eq!(v["targets_met"]["binary_mb"], true);
        assert_eq!(v["targets_met"]["idle_rss_mb"], false, "174 MB > 150 MB");
        assert_eq!(v["load_before"][2], 3.0);
        assert_eq!(v["unlock_screen_rss_mb"], 92.0);
        assert_eq!(v["unlock_screen_pss_mb"], 52.0);
    }

    #[test]
    fn app_env_takes_rendering_and_memory_knobs_only() {
        assert_eq!(parse_app_env("").unwrap(), vec![]);
        assert_eq!(
            parse_app_env("MALLOC_ARENA_MAX=2").unwrap(),
            vec![("MALLOC_ARENA_MAX".to_string(), "2".to_string())]
        );
        assert_eq!(
            parse_app_env("WEBKIT_DISABLE_DMABUF_RENDERER=1, GDK_SCALE=2").unwrap(),
            vec![
                (
                    "WEBKIT_DISABLE_DMABUF_RENDERER".to_string(),
                    "1".to_string()
                ),
                ("GDK_SCALE".to_string(), "2".to_string())
            ]
        );
        assert!(
            parse_app_env("HOME=/root").is_err(),
            "no way around the hermetic env"
        );
        assert!(parse_app_env("WEBKIT_X").is_err());
    }

    #[test]
    fn the_ui_is_rebuilt_only_when_a_source_is_newer_than_dist() {
        let ui = tempfile::tempdir().unwrap();
        let set = |rel: &str, secs: u64| {
            let path = ui.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let f = std::fs::File::create(&path).unwrap();
            f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
                .unwrap();
        };
        set("src/lib/a.ts", 100);
        set("index.html", 100);
        assert!(ui_is_stale(ui.path()), "no dist yet");
        set("dist/index.html", 200);
        assert!(!ui_is_stale(ui.path()), "dist is newer than every source");
        set("src/components/deep/B.svelte", 300);
        assert!(ui_is_stale(ui.path()), "a nested source changed");
    }

    #[test]
    fn loadavg_and_profile_dirs() {
        assert_eq!(
            parse_loadavg("6.95 5.71 3.79 9/157 23001\n"),
            Some([6.95, 5.71, 3.79])
        );
        assert_eq!(parse_loadavg("6.95 x"), None);
        assert_eq!(profile_dir("dev"), "debug");
        assert_eq!(profile_dir("release"), "release");
        assert_eq!(profile_dir("dist"), "dist");
    }

    #[test]
    fn the_app_environment_is_rebuilt_not_inherited() {
        let dir = tempfile::tempdir().unwrap();
        let env = hermetic_env(dir.path(), ":42", "unix:path=/x", Path::new("/v")).unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("DISPLAY"), Some(":42".into()));
        assert_eq!(get("DBUS_SESSION_BUS_ADDRESS"), Some("unix:path=/x".into()));
        assert_eq!(get("TROVE_VAULT"), Some("/v".into()));
        for k in [
            "HOME",
            "XDG_DATA_HOME",
            "XDG_CONFIG_HOME",
            "XDG_CACHE_HOME",
            "XDG_RUNTIME_DIR",
        ] {
            let v = PathBuf::from(get(k).unwrap_or_else(|| panic!("{k} is set")));
            assert!(
                v.starts_with(dir.path()) && v.is_dir(),
                "{k} is a fresh dir in the work dir"
            );
        }
        let rt = std::fs::metadata(dir.path().join("rt")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&rt.permissions()) & 0o777,
            0o700
        );
        assert!(get("WAYLAND_DISPLAY").is_none() && get("TROVE_BENCH_PAINT").is_none());
    }
}
