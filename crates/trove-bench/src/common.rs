//! What every suite shares: command-line options, the work directory, latency
//! percentiles, timestamped progress on stderr and the JSON last line on stdout.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A mistake on the command line: reported with the usage text, exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The parsed command line: the suite, the common options and the suite's own
/// `--name value` options (which the suite takes with [`Args::take_usize`] and friends).
#[derive(Debug, Default)]
pub struct Args {
    /// The suite to run.
    pub suite: String,
    /// `--records N`: overrides the suite's default workload size.
    pub records: Option<usize>,
    /// `--dir DIR`: work there instead of in a temporary directory.
    pub dir: Option<PathBuf>,
    /// `--keep`: do not delete the work directory.
    pub keep: bool,
    /// `--help` / `-h`.
    pub help: bool,
    options: BTreeMap<String, String>,
}

impl Args {
    /// Parses everything after the program name.
    pub fn parse(raw: impl IntoIterator<Item = String>) -> Result<Args, UsageError> {
        let mut args = Args::default();
        let mut it = raw.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-h" | "--help" => args.help = true,
                "--keep" => args.keep = true,
                flag if flag.starts_with("--") => {
                    let (name, value) = match flag[2..].split_once('=') {
                        Some((n, v)) => (n.to_string(), v.to_string()),
                        None => {
                            let v = it
                                .next()
                                .ok_or_else(|| UsageError(format!("{flag} needs a value")))?;
                            (flag[2..].to_string(), v)
                        }
                    };
                    match name.as_str() {
                        "records" => args.records = Some(parse_count(&name, &value)?),
                        "dir" => args.dir = Some(PathBuf::from(value)),
                        _ => {
                            args.options.insert(name, value);
                        }
                    }
                }
                _ if args.suite.is_empty() => args.suite = a,
                _ => return Err(UsageError(format!("unexpected argument {a:?}"))),
            }
        }
        if args.suite.is_empty() && !args.help {
            return Err(UsageError("which suite?".into()));
        }
        Ok(args)
    }

    /// `--records`, or the suite's default.
    pub fn records_or(&self, default: usize) -> usize {
        self.records.unwrap_or(default)
    }

    /// Takes the suite option `--name N` (a positive count), or `default`.
    pub fn take_usize(&mut self, name: &str, default: usize) -> Result<usize, UsageError> {
        match self.options.remove(name) {
            Some(v) => parse_count(name, &v),
            None => Ok(default),
        }
    }

    /// Takes the suite option `--name VALUE` as text, if given.
    pub fn take_string(&mut self, name: &str) -> Option<String> {
        self.options.remove(name)
    }

    /// Fails on any option the suite did not take.
    pub fn finish(&self) -> Result<(), UsageError> {
        match self.options.keys().next() {
            Some(k) => Err(UsageError(format!(
                "suite {} has no option --{k}",
                self.suite
            ))),
            None => Ok(()),
        }
    }

    /// The work directory: `--dir` (created; must not exist yet) or a fresh temporary
    /// directory. Removed on drop unless `--keep`.
    pub fn workdir(&self) -> anyhow::Result<WorkDir> {
        let (path, temp) = match &self.dir {
            Some(d) => {
                anyhow::ensure!(!d.exists(), "--dir {} already exists", d.display());
                std::fs::create_dir_all(d)?;
                (d.clone(), None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix(&format!("trove-bench-{}-", self.suite))
                    .tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        Ok(WorkDir {
            path,
            temp,
            keep: self.keep,
        })
    }
}

fn parse_count(name: &str, v: &str) -> Result<usize, UsageError> {
    let v = v.replace('_', "");
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(UsageError(format!(
            "--{name} wants a positive number, got {v:?}"
        ))),
    }
}

/// A suite's work directory; see [`Args::workdir`].
pub struct WorkDir {
    path: PathBuf,
    temp: Option<tempfile::TempDir>,
    keep: bool,
}

impl WorkDir {
    /// Where the suite may create files.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            if let Some(t) = self.temp.take() {
                let _ = t.keep();
            }
            eprintln!("trove-bench: kept {}", self.path.display());
        } else if self.temp.is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Human-readable progress on stderr, each line stamped with the wall-clock time and the
/// time since the suite started.
pub struct Progress {
    start: Instant,
}

impl Progress {
    /// Starts the clock.
    pub fn start() -> Self {
        Progress {
            start: Instant::now(),
        }
    }

    /// Prints one progress line.
    pub fn say(&self, msg: impl std::fmt::Display) {
        let now = trove_core::now_rfc3339();
        eprintln!(
            "[{} +{:7.1}s] {msg}",
            &now[11..23],
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Peak resident memory of this process, in MB (VmHWM; reset it with
/// `/proc/self/clear_refs` to measure one step).
pub fn peak_rss_mb() -> anyhow::Result<f64> {
    use anyhow::Context;
    let s = std::fs::read_to_string("/proc/self/status")?;
    let line = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM")?;
    let kb: f64 = line.split_whitespace().nth(1).context("VmHWM")?.parse()?;
    Ok(round(kb / 1024.0, 1))
}

/// The CPU time this thread has run so far (Linux: `/proc/thread-self/schedstat`), or
/// `None` where that is not available. On a shared machine the wall-clock time includes
/// waiting for a core; this is what the work itself cost.
pub fn thread_cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// A set of measured durations and their percentiles.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    ms: Vec<f64>,
}

impl Latencies {
    /// Adds one measurement.
    pub fn push(&mut self, d: Duration) {
        self.ms.push(d.as_secs_f64() * 1e3);
    }

    /// Adds every measurement of `other`.
    pub fn extend(&mut self, other: &Latencies) {
        self.ms.extend_from_slice(&other.ms);
    }

    /// The number of measurements.
    pub fn len(&self) -> usize {
        self.ms.len()
    }

    /// The `p`-th percentile (0–100) in milliseconds; see [`percentile`].
    pub fn p(&self, p: f64) -> f64 {
        percentile(&self.ms, p)
    }

    /// The largest measurement in milliseconds (0 when empty).
    pub fn max(&self) -> f64 {
        self.ms.iter().copied().fold(0.0, f64::max)
    }

    /// A one-line summary for progress output.
    pub fn summary(&self) -> String {
        format!(
            "n={} p50={:.3}ms p99={:.3}ms max={:.3}ms",
            self.len(),
            self.p(50.0),
            self.p(99.0),
            self.max()
        )
    }
}

/// The `p`-th percentile (0–100) of `values` by the nearest-rank method: the smallest
/// value with at least p% of all values at or below it. 0 for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// A new vault in `dir` holding 10 in-scope contacts among `other` random records (mostly
/// of other types), and the token of a grant of `contact.email` and `contact.label`: each
/// `GET /v1/records` answers the same 10 projected records. The `share` and `remote`
/// suites read it.
pub fn share_vault(dir: &Path, other: usize) -> anyhow::Result<(trove_core::Vault, String)> {
    use anyhow::Context;
    use trove_core::{NewGrant, NewRecord, Passphrase, Vault};
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
        purpose: "load test".into(),
        scope: vec!["contact.email".into(), "contact.label".into()],
        ..Default::default()
    })?;
    Ok((vault, token.expose_secret().to_string()))
}

/// What [`run_load`] measured.
pub struct Load<T> {
    /// Every operation's latency.
    pub lat: Latencies,
    /// Operations per second, wall clock, from the first start to the last end.
    pub rate: f64,
    /// What each worker returned besides its latencies.
    pub outputs: Vec<T>,
}

/// Bounded concurrent load: `workers` tokio tasks share `total` operations (as evenly as
/// possible); `worker(n)` runs `n` of them one after another and returns their latencies.
/// Fails if any worker fails, or if the whole load takes longer than `limit`.
pub async fn run_load<T, F, Fut>(
    workers: usize,
    total: usize,
    limit: Duration,
    worker: F,
) -> anyhow::Result<Load<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Latencies, T)>> + Send + 'static,
{
    use anyhow::Context;
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|i| tokio::spawn(worker(total / workers + usize::from(i < total % workers))))
        .collect();
    let mut lat = Latencies::default();
    let mut outputs = Vec::with_capacity(workers);
    let deadline = tokio::time::Instant::now() + limit;
    for t in tasks {
        let (l, out) = tokio::time::timeout_at(deadline, t)
            .await
            .with_context(|| format!("the load took longer than {limit:?}"))???;
        lat.extend(&l);
        outputs.push(out);
    }
    let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
    Ok(Load { lat, rate, outputs })
}

/// Rounds for the JSON output (milliseconds to microseconds, rates to whole numbers).
pub fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Prints `json` as one line: the last line a suite writes to stdout.
pub fn print_json_last_line(json: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{json}");
    let _ = out.flush();
}

/// Runs this binary as `trove-bench SUITE` with `env` set to `spec` (a child measurement,
/// so that its memory peak is its own) and parses the last line it prints.
pub fn run_child_process(
    suite: &str,
    env: &str,
    spec: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg(suite)
        .env(env, spec.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(out.status.success(), "child {spec} failed");
    let text = String::from_utf8(out.stdout)?;
    let last = text.lines().last().context("child printed nothing")?;
    Ok(serde_json::from_str(last)?)
}

/// The path under `key` of a child measurement's spec.
pub fn spec_path(spec: &serde_json::Value, key: &str) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    Ok(PathBuf::from(
        spec[key]
            .as_str()
            .with_context(|| format!("child spec needs {key}"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0, "unsorted input");
        assert_eq!(percentile(&[], 99.0), 0.0);
    }

    #[test]
    fn args_take_common_and_suite_options() {
        let raw = [
            "vault",
            "--records",
            "100_000",
            "--chunk=500",
            "--keep",
            "--app",
            "/x",
        ];
        let mut a = Args::parse(raw.iter().map(|s| s.to_string())).unwrap();
        assert_eq!(
            (a.suite.as_str(), a.records, a.keep),
            ("vault", Some(100_000), true)
        );
        assert_eq!(a.take_usize("chunk", 10).unwrap(), 500);
        assert_eq!(a.take_usize("queries", 7).unwrap(), 7);
        assert_eq!(a.take_string("profile"), None);
        assert_eq!(a.take_string("app").as_deref(), Some("/x"));
        a.finish().expect("every option was taken");
        let mut b = Args::parse(["vault", "--bogus", "1"].map(String::from)).unwrap();
        assert!(b.finish().is_err(), "unknown option is refused");
        assert!(b.take_usize("bogus", 1).is_ok());
        assert!(Args::parse(["vault", "--records", "0"].map(String::from)).is_err());
        assert!(Args::parse(["--records", "5"].map(String::from)).is_err());
    }
}
