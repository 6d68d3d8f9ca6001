//! The `bundle` suite: export and import of a large vault as an age-encrypted bundle,
//! against a baseline pipeline in the same run, with peak memory measured per process.
//!
//! Export and import each run in a child process (this binary, `bundle --child ...`) that
//! resets its peak-RSS counter after unlocking (`/proc/self/clear_refs`), so
//! `*_peak_rss_mb` is the VmHWM of the export or import itself, not of Argon2 or setup.
//! Export peak RSS is measured at 100k and at the full size to show it does not grow.
//!
//! Baseline: the same records (read back from the vault, untimed) dumped to JSONL with
//! the same serializer, then `tar` and the `age` CLI with a recipient, as one timed
//! pipeline: what a careful person would do by hand with standard tools.

use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use trove_core::bundle::{self, BundleKey, Encryption, ExportOptions, ImportOptions};
use trove_core::demo::random_records;
use trove_core::{KdfParams, Passphrase, Vault};

use crate::common::{peak_rss_mb, round, thread_cpu_time, Args, Progress};

const PASS: &str = "correct horse battery staple";
/// Set (to a JSON object) in the child processes that measure one export or import.
const CHILD_ENV: &str = "TROVE_BENCH_BUNDLE_CHILD";

/// Runs the suite, or one child measurement when called with `--child`.
pub fn run(args: &mut Args) -> anyhow::Result<Value> {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        args.finish()?;
        return run_child(&serde_json::from_str(&spec)?);
    }
    let n = args.records_or(1_000_000);
    let small = args.take_usize("small", 100_000)?.min(n);
    let chunk = args.take_usize("chunk", 10_000)?;
    let seed = args.take_usize("seed", 2026)? as u64;
    args.finish()?;
    let work = args.workdir()?;
    let p = Progress::start();
    p.say(format!(
        "bundle suite: {n} records, in {}",
        work.path().display()
    ));
    ensure!(
        Command::new("age").arg("--version").output().is_ok(),
        "the `age` CLI is needed for the baseline (scripts/install-deps.sh test)"
    );

    let key = work.path().join("key.txt");
    let out = Command::new("age-keygen").arg("-o").arg(&key).output()?;
    ensure!(out.status.success(), "age-keygen failed");
    let rcp = String::from_utf8(
        Command::new("age-keygen")
            .arg("-y")
            .arg(&key)
            .output()?
            .stdout,
    )?
    .trim()
    .to_string();

    let vault_dir = work.path().join("vault");
    let pass = Passphrase::new(PASS.into());
    let (vault, _) = Vault::create_with(&vault_dir, &pass, KdfParams::DEFAULT)?;
    let mut records = random_records(seed, n);
    let mut added = 0;
    let mut fill = |vault: &Vault, upto: usize| -> anyhow::Result<()> {
        while added < upto {
            let k = chunk.min(upto - added);
            vault.add_batch(records.by_ref().take(k))?;
            added += k;
        }
        Ok(())
    };
    fill(&vault, small)?;
    p.say(format!(
        "{small} records added; exporting them in a child process"
    ));
    let small_out = work.path().join("small.trove");
    let small_run =
        child(json!({"what": "export", "vault": vault_dir, "out": small_out, "to": rcp}))?;
    p.say(format!("export of {small}: {small_run}"));
    std::fs::remove_file(&small_out)?;

    fill(&vault, n)?;
    p.say(format!("{n} records added; exporting"));
    let bundle_path = work.path().join("all.trove");
    let exp = child(json!({"what": "export", "vault": vault_dir, "out": bundle_path, "to": rcp}))?;
    let export_s = exp["secs"].as_f64().context("secs")?;
    let bytes = std::fs::metadata(&bundle_path)?.len();
    p.say(format!("export of {n}: {exp}"));

    // Baseline: the same records, same serializer, tar + age CLI.
    let all = vault.list(&Default::default())?;
    drop(vault);
    let base_dir = work.path().join("baseline");
    std::fs::create_dir(&base_dir)?;
    let t = Instant::now();
    {
        use std::io::Write;
        let f = std::fs::File::create(base_dir.join("records.jsonl"))?;
        let mut w = std::io::BufWriter::with_capacity(256 << 10, f);
        for r in all.iter().rev() {
            serde_json::to_writer(&mut w, r)?;
            w.write_all(b"\n")?;
        }
        w.into_inner()?.sync_all()?;
    }
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; tar cf - -C {} records.jsonl | age -r {rcp} -o {} && sync -f {}",
            base_dir.display(),
            base_dir.join("out.age").display(),
            base_dir.join("out.age").display()
        ))
        .status()?;
    ensure!(status.success(), "baseline pipeline failed");
    let baseline_s = t.elapsed().as_secs_f64();
    drop(all);
    p.say(format!(
        "baseline (JSONL + tar + age CLI): {baseline_s:.2}s"
    ));

    let dst = work.path().join("imported");
    Vault::create_with(&dst, &pass, KdfParams::DEFAULT)?;
    let imp = child(json!({"what": "import", "vault": dst, "in": bundle_path, "identity": key}))?;
    let import_s = imp["secs"].as_f64().context("secs")?;
    p.say(format!("import of {n}: {imp}"));
    ensure!(
        imp["new"].as_u64() == Some(n as u64),
        "import did not add every record"
    );

    Ok(json!({
        "records": n,
        "bundle_bytes": bytes,
        "export_s": round(export_s, 3),
        "baseline_s": round(baseline_s, 3),
        "ratio": round(baseline_s / export_s, 3),
        "export_mb_per_s": round(bytes as f64 / 1e6 / export_s, 1),
        "export_peak_rss_mb": exp["peak_rss_mb"],
        "export_peak_rss_mb_small": small_run["peak_rss_mb"],
        "small_records": small,
        "import_s": round(import_s, 3),
        "import_rec_per_s": round(n as f64 / import_s, 0),
        "import_peak_rss_mb": imp["peak_rss_mb"],
        "export_main_cpu_s": exp["main_thread_cpu_s"],
        "import_main_cpu_s": imp["main_thread_cpu_s"],
        "import_rec_per_main_cpu_s": imp["main_thread_cpu_s"]
            .as_f64()
            .map(|c| round(n as f64 / c, 0)),
    }))
}

/// Runs this binary as `trove-bench bundle` with [`CHILD_ENV`] set to `spec`.
fn child(spec: Value) -> anyhow::Result<Value> {
    crate::common::run_child_process("bundle", CHILD_ENV, &spec)
}

/// One measurement in this (child) process: unlock, reset the peak counter, run, report.
fn run_child(spec: &Value) -> anyhow::Result<Value> {
    let get = |k: &str| crate::common::spec_path(spec, k);
    let pass = Passphrase::new(PASS.into());
    let vault = Vault::unlock(&get("vault")?, &pass)?;
    // Forget Argon2's 64 MiB peak: measure only what follows.
    std::fs::write("/proc/self/clear_refs", "5").context("resetting VmHWM")?;
    let t = Instant::now();
    let cpu0 = thread_cpu_time();
    let result = match spec["what"].as_str() {
        Some("export") => {
            let rcp = bundle::parse_recipient(spec["to"].as_str().context("to")?)?;
            let opts = ExportOptions {
                encryption: Encryption::Recipients(vec![rcp]),
                scope: None,
                replace: true,
            };
            let s = bundle::export(&vault, &get("out")?, &opts, &mut |_| {})?;
            json!({ "records": s.records, "bytes": s.bytes })
        }
        Some("import") => {
            let ids = bundle::read_identity_file(&get("identity")?)?;
            let f = std::io::BufReader::with_capacity(256 << 10, std::fs::File::open(get("in")?)?);
            let r = bundle::import_bundle(
                &vault,
                f,
                BundleKey::Identities(&ids),
                &ImportOptions::default(),
                &mut |_| {},
            )?;
            json!({ "records": r.records, "new": r.new })
        }
        other => anyhow::bail!("unknown child {other:?}"),
    };
    let secs = t.elapsed().as_secs_f64();
    let mut v = result;
    v["secs"] = json!(round(secs, 3));
    // The thread that reads the vault (export) or writes it (import): the one that sets
    // the pace, and what it costs with a core to itself.
    if let (Some(a), Some(b)) = (cpu0, thread_cpu_time()) {
        v["main_thread_cpu_s"] = json!(round((b - a).as_secs_f64(), 3));
    }
    v["peak_rss_mb"] = json!(peak_rss_mb()?);
    Ok(v)
}
