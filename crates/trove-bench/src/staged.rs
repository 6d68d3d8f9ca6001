//! The `staged` suite: publishing a grant's staged copy (`trove grant create --offline`:
//! projection, bundle, age encryption, signed manifest, presigning, two uploads, the
//! grant's commit) and fetching + verifying it the way `trove-org fetch` does, against an
//! S3 server in this process on loopback (s3s-fs, with SigV4 authentication).
//!
//! The baseline, in the same run on the same vault and storage: what `trove export
//! --scope … --to age1…` does (the same scoped projection into an age-encrypted bundle
//! file, through `trove_core::bundle::export`) plus a plain upload of that file through
//! the same storage client. Rounds alternate between the two so background load hits
//! both alike; medians are reported.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use trove_client::testing::LocalS3;
use trove_client::{fetch_staged, StagedOptions};
use trove_core::bundle::{self, Encryption, ExportOptions};
use trove_core::{NewGrant, NewRecord, NewStorageTarget, OfflineGrant, Scope, StorageSecret};
use trove_share::staging::{self, Storage};

use crate::common::{round, Args, Progress};

const AK: &str = "AKIDTROVEBENCH";
const SK: &str = "TroveBenchSecret-only-on-loopback";
const BUCKET: &str = "trove-bench";
const SCOPE: [&str; 2] = ["contact.email", "contact.phone"];

/// Runs the suite; see the module docs and docs/benchmarks.md.
pub fn run(args: &mut Args) -> anyhow::Result<Value> {
    let records = args.records_or(10_000);
    let other = args.take_usize("other", 5_000)?;
    let rounds = args.take_usize("rounds", 5)?;
    let threads = args.take_usize("threads", 2)?;
    args.finish()?;
    let work = args.workdir()?;
    let p = Progress::start();
    p.say(format!(
        "staged suite: grants of {records} records (among {other} others), {rounds} rounds"
    ));

    let (vault, _) = trove_core::Vault::create(
        &work.path().join("vault"),
        &trove_core::Passphrase::new("correct horse battery staple".into()),
    )
    .context("creating the vault")?;
    vault.add_batch((0..records).map(|i| {
        NewRecord::new(
            "contact",
            [
                ("email".to_string(), format!("person{i}@example.org")),
                ("phone".to_string(), format!("+49 30 {i:07}")),
                ("label".to_string(), "private".to_string()),
            ],
        )
    }))?;
    vault.add_batch(
        trove_core::demo::random_records(11, other).filter(|r| r.record_type != "contact"),
    )?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let s3_root = work.path().join("s3");
    std::fs::create_dir_all(s3_root.join(BUCKET))?;
    let s3 = rt.block_on(LocalS3::start(&s3_root, 0, AK, SK))?;
    p.say(format!("s3s-fs on {}", s3.endpoint()));
    vault.add_storage(&NewStorageTarget {
        name: "bench".into(),
        endpoint: s3.endpoint(),
        bucket: BUCKET.into(),
        region: None,
        prefix: Some("bench".into()),
        access_key_id: AK.into(),
        secret: StorageSecret::new(SK.into()),
    })?;
    let storage = Storage::new(&vault.storage_target("bench")?)?;
    let recipient = age::x25519::Identity::generate().to_public();
    let scope = Scope::parse(&SCOPE, None)?;

    let (mut stage, mut fetch, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    let mut export_bytes = 0u64;
    for round_no in 0..rounds {
        // The baseline: `trove export --scope … --to …`, then a plain upload.
        let b = {
            let t = Instant::now();
            let file = work.path().join(format!("export-{round_no}.age"));
            let opts = ExportOptions {
                encryption: Encryption::Recipients(vec![recipient.clone()]),
                scope: Some(scope.clone()),
                replace: true,
            };
            let summary = bundle::export(&vault, &file, &opts, &mut |_| {})?;
            ensure!(summary.records == records as u64, "export: {summary:?}");
            export_bytes = summary.bytes;
            let bytes = std::fs::read(&file)?;
            rt.block_on(storage.put_new(&format!("baseline/{round_no}.age"), bytes))?;
            std::fs::remove_file(&file)?;
            t.elapsed()
        };
        // Staging a grant of the same scope.
        let t = Instant::now();
        let mut made = rt.block_on(staging::create_offline_grant(
            &vault,
            &OfflineGrant {
                grant: NewGrant {
                    org: "Bench Bank".into(),
                    purpose: "staged load".into(),
                    scope: SCOPE.iter().map(|s| s.to_string()).collect(),
                    expires: Some("30d".into()),
                    ..Default::default()
                },
                storage: Some("bench".into()),
                to: None,
            },
        ))?;
        let s = t.elapsed();
        ensure!(made.staging.records == records as u64);
        let link = trove_client::ShareLink::parse(&made.link(None).encode())?;
        // Fetching and verifying it, as `trove-org fetch` does when the person is away.
        let t = Instant::now();
        let got = rt.block_on(fetch_staged(&link, StagedOptions::default()))?;
        let f = t.elapsed();
        ensure!(
            got.records.records.len() == records,
            "fetched {} records",
            got.records.records.len()
        );
        ensure!(got
            .records
            .records
            .iter()
            .all(|r| r.fields.len() == 2 && !r.fields.contains_key("label")));
        p.say(format!(
            "round {}: export+upload {:.3} s, stage {:.3} s, fetch+verify {:.3} s",
            round_no + 1,
            b.as_secs_f64(),
            s.as_secs_f64(),
            f.as_secs_f64()
        ));
        baseline.push(b);
        stage.push(s);
        fetch.push(f);
    }
    let med = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let (b, s, f) = (med(&mut baseline), med(&mut stage), med(&mut fetch));
    let check = vault.verify_log()?;
    ensure!(check.ok, "the access log does not verify: {check:?}");
    Ok(json!({
        "records": records,
        "other_records": other,
        "rounds": rounds,
        "export_bytes": export_bytes,
        "baseline_s": round(b, 3),
        "stage_s": round(s, 3),
        "fetch_verify_s": round(f, 3),
        "baseline_rec_per_s": round(records as f64 / b, 0),
        "stage_rec_per_s": round(records as f64 / s, 0),
        "fetch_verify_rec_per_s": round(records as f64 / f, 0),
        "stage_ratio": round(b / s, 3),
        "load_average": crate::remote::load_average(),
    }))
}
