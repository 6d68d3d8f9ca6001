//! The `import` suite: a generated vCard file of N cards (default 100,000) through
//! `trove_core::importers::import_file`, the function `trove import` and the app call,
//! against a baseline in the same run: the very records that import made, written as
//! Trove's own JSON (`[{"type","fields","tags"}]`) and imported through the same function
//! into another fresh vault.
//!
//! Each import runs in a child process (this binary, `import` with [`CHILD_ENV`] set)
//! that resets its peak-RSS counter after unlocking, so `*_peak_rss_mb` is the import's
//! own peak, not Argon2's.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use trove_core::importers::{self, Options};
use trove_core::{KdfParams, Passphrase, Vault};

use crate::common::{peak_rss_mb, round, thread_cpu_time, Args, Progress};

const PASS: &str = "correct horse battery staple";
/// Set (to a JSON object) in the child processes that measure one import.
const CHILD_ENV: &str = "TROVE_BENCH_IMPORT_CHILD";

/// Runs the suite, or one child measurement when [`CHILD_ENV`] is set.
pub fn run(args: &mut Args) -> anyhow::Result<Value> {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        args.finish()?;
        return run_child(&serde_json::from_str(&spec)?);
    }
    let n = args.records_or(100_000);
    args.finish()?;
    let work = args.workdir()?;
    let p = Progress::start();
    let pass = Passphrase::new(PASS.into());

    let vcf = work.path().join("cards.vcf");
    write_cards(&vcf, n)?;
    let vcf_bytes = std::fs::metadata(&vcf)?.len();
    p.say(format!("{n} cards generated, {vcf_bytes} bytes"));

    let vcard_vault = work.path().join("vcard");
    Vault::create_with(&vcard_vault, &pass, KdfParams::DEFAULT)?;
    let vc = child(json!({"vault": vcard_vault, "in": vcf}))?;
    p.say(format!("vCard import: {vc}"));
    ensure!(
        vc["new"].as_u64() == Some(n as u64),
        "the vCard import did not add every card: {vc}"
    );

    // Baseline input: the records the vCard import made, as Trove JSON (untimed).
    let json_path = work.path().join("records.json");
    {
        let vault = Vault::unlock(&vcard_vault, &pass)?;
        let records = vault.list(&Default::default())?;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&json_path)?);
        w.write_all(b"[\n")?;
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                w.write_all(b",\n")?;
            }
            let item = json!({"type": r.record_type, "fields": r.fields, "tags": r.tags});
            serde_json::to_writer(&mut w, &item)?;
        }
        w.write_all(b"\n]\n")?;
        w.flush()?;
    }
    let json_bytes = std::fs::metadata(&json_path)?.len();
    let json_vault = work.path().join("json");
    Vault::create_with(&json_vault, &pass, KdfParams::DEFAULT)?;
    let js = child(json!({"vault": json_vault, "in": json_path}))?;
    p.say(format!("JSON import (baseline): {js}"));
    ensure!(
        js["new"].as_u64() == Some(n as u64),
        "the JSON import did not add every record: {js}"
    );

    let secs = |v: &Value| v["secs"].as_f64().context("secs");
    let (vs, jss) = (secs(&vc)?, secs(&js)?);
    Ok(json!({
        "records": n,
        "vcard_bytes": vcf_bytes,
        "vcard_s": round(vs, 3),
        "vcard_cards_per_s": round(n as f64 / vs, 0),
        "vcard_peak_rss_mb": vc["peak_rss_mb"],
        "vcard_main_cpu_s": vc["main_thread_cpu_s"],
        "json_bytes": json_bytes,
        "json_s": round(jss, 3),
        "json_records_per_s": round(n as f64 / jss, 0),
        "json_peak_rss_mb": js["peak_rss_mb"],
        "json_main_cpu_s": js["main_thread_cpu_s"],
        "ratio": round(jss / vs, 3),
    }))
}

/// Writes `n` vCard 3.0 cards, each with a UID, name parts, an email, a phone, an
/// address, an organization and a note (the shape `scripts/interop-measure.sh` times).
fn write_cards(path: &Path, n: usize) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..n {
        write!(
            w,
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:gen-{i}\r\nFN:Person {i} Example\r\n\
             N:Example;Person {i};;;\r\nEMAIL;TYPE=work:person{i}@example.org\r\n\
             TEL;TYPE=cell:+49 170 {i:07}\r\nADR;TYPE=home:;;Street {i};Berlin;;10435;Germany\r\n\
             ORG:Company {}\r\nNOTE:generated card {i}\r\nEND:VCARD\r\n",
            i % 997
        )?;
    }
    w.flush()?;
    Ok(())
}

/// Runs this binary as `trove-bench import` with [`CHILD_ENV`] set to `spec`.
fn child(spec: Value) -> anyhow::Result<Value> {
    crate::common::run_child_process("import", CHILD_ENV, &spec)
}

/// One import in this (child) process: unlock, reset the peak counter, import, report.
fn run_child(spec: &Value) -> anyhow::Result<Value> {
    let get = |k: &str| crate::common::spec_path(spec, k);
    let vault = Vault::unlock(&get("vault")?, &Passphrase::new(PASS.into()))?;
    // Forget Argon2's 64 MiB peak: measure only the import.
    std::fs::write("/proc/self/clear_refs", "5").context("resetting VmHWM")?;
    let t = Instant::now();
    let cpu0 = thread_cpu_time();
    let r = importers::import_file(&vault, &get("in")?, &Options::default(), &mut |_| {})?;
    let secs = t.elapsed().as_secs_f64();
    let mut v = json!({
        "records": r.merge.records,
        "new": r.merge.new,
        "skipped": r.skipped,
        "problems": r.problems_total,
        "secs": round(secs, 3),
    });
    if let (Some(a), Some(b)) = (cpu0, thread_cpu_time()) {
        v["main_thread_cpu_s"] = json!(round((b - a).as_secs_f64(), 3));
    }
    v["peak_rss_mb"] = json!(peak_rss_mb()?);
    Ok(v)
}
