//! The `vault` suite: batch insert, get-by-id and ranked search in the encrypted vault
//! against an unencrypted database with the same schema and statements, then unlock and
//! remembered-key open times.
//!
//! Baseline: `rusqlite`'s `bundled-sqlcipher` replaces plain SQLite for the whole build,
//! so the baseline is the same SQLCipher library with no `PRAGMA key` (which is plain
//! SQLite), driven through trove-core's own code path
//! ([`trove_core::bench::UnencryptedBenchBaseline`]).

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use trove_core::bench::UnencryptedBenchBaseline;
use trove_core::demo::random_records;
use trove_core::vault::DB_FILE;
use trove_core::{MemoryKeyStore, NewRecord, Passphrase, Record, Vault};

use crate::common::{round, thread_cpu_time, Args, Latencies, Progress};

/// Common words: each matches thousands to hundreds of thousands of the generated records.
const COMMON: &[&str] = &[
    "personal",
    "berlin",
    "passport",
    "insurance",
    "work",
    "tax return",
    "berlin passport",
    "schmidt",
];
/// What a person types on the way to a word (the last word is also a prefix).
const PREFIXES: &[&str] = &["ber", "schmi", "appoint", "nor"];
/// A word no record holds.
const NONE: &[&str] = &["zzyzxqv"];

/// A search query and, for a rare one, the index of the record it must find.
type Query = (String, Option<usize>);

/// Runs the suite; see the module docs and docs/benchmarks.md.
pub fn run(args: &mut Args) -> anyhow::Result<Value> {
    let n = args.records_or(1_000_000);
    let chunk = args.take_usize("chunk", 10_000)?;
    let gets = args.take_usize("gets", 10_000)?;
    let rounds = args.take_usize("search-rounds", 20)?;
    let rare_n = args.take_usize("rare-queries", 20)?;
    let seed = args.take_usize("seed", 2026)? as u64;
    args.finish()?;
    let work = args.workdir()?;
    let p = Progress::start();
    p.say(format!(
        "vault suite: {n} records in transactions of {chunk}, in {}",
        work.path().display()
    ));

    let vault_dir = work.path().join("vault");
    let pass = Passphrase::new("correct horse battery staple".into());
    let (vault, _recovery) = Vault::create(&vault_dir, &pass).context("creating the vault")?;
    let plain_path = work.path().join("baseline-plaintext.db");
    let plain = UnencryptedBenchBaseline::create_unencrypted_for_benchmark(&plain_path)
        .context("creating the plaintext baseline")?;

    // Insert: the same records, chunk by chunk, into both; which one goes first
    // alternates so that background load and warm caches hit both alike.
    let mut gen = random_records(seed, n);
    let (mut t_trove, mut t_plain) = (Duration::ZERO, Duration::ZERO);
    let (mut cpu_trove, mut cpu_plain) = (Duration::ZERO, Duration::ZERO);
    let cpu = || thread_cpu_time().unwrap_or_default();
    let mut trove_ids: Vec<String> = Vec::with_capacity(n);
    let mut plain_ids: Vec<String> = Vec::with_capacity(n);
    let mut done = 0usize;
    let mut last_report = Instant::now();
    for i in 0.. {
        if done >= n {
            break;
        }
        // Generating and copying the records is not timed: only the batch path is.
        let mut for_trove: Option<Vec<NewRecord>> =
            Some(gen.by_ref().take(chunk.min(n - done)).collect());
        let mut for_plain = for_trove.clone();
        let len = for_trove.as_ref().map_or(0, Vec::len);
        let mut trove_step = || -> anyhow::Result<()> {
            let batch = for_trove.take().unwrap_or_default();
            let (t, c) = (Instant::now(), cpu());
            let ids = vault.add_batch(batch)?;
            t_trove += t.elapsed();
            cpu_trove += cpu().saturating_sub(c);
            trove_ids.extend(ids);
            Ok(())
        };
        let mut plain_step = || -> anyhow::Result<()> {
            let batch = for_plain.take().unwrap_or_default();
            let (t, c) = (Instant::now(), cpu());
            let ids = plain.add_batch(batch)?;
            t_plain += t.elapsed();
            cpu_plain += cpu().saturating_sub(c);
            plain_ids.extend(ids);
            Ok(())
        };
        if i % 2 == 0 {
            trove_step()?;
            plain_step()?;
        } else {
            plain_step()?;
            trove_step()?;
        }
        done += len;
        if last_report.elapsed() > Duration::from_secs(15) || done == n {
            last_report = Instant::now();
            p.say(format!(
                "inserted {done}/{n}: trove {:.0} rec/s ({:.0}/s of CPU), plain {:.0} rec/s ({:.0}/s of CPU)",
                done as f64 / t_trove.as_secs_f64(),
                done as f64 / cpu_trove.as_secs_f64(),
                done as f64 / t_plain.as_secs_f64(),
                done as f64 / cpu_plain.as_secs_f64()
            ));
        }
    }
    let trove_rate = n as f64 / t_trove.as_secs_f64();
    let plain_rate = n as f64 / t_plain.as_secs_f64();
    let trove_cpu_rate = n as f64 / cpu_trove.as_secs_f64();
    let plain_cpu_rate = n as f64 / cpu_plain.as_secs_f64();

    // The files: the baseline must be plain SQLite, the vault must not be.
    for c in [vault.conn(), plain.conn()] {
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    let vault_db = vault_dir.join(DB_FILE);
    let head = |path: &std::path::Path| -> anyhow::Result<Vec<u8>> {
        let mut b = std::fs::read(path)?;
        b.truncate(16);
        Ok(b)
    };
    ensure!(
        head(&plain_path)? == b"SQLite format 3\0",
        "the baseline is not a plain SQLite file"
    );
    ensure!(
        !head(&vault_db)?.starts_with(b"SQLite format"),
        "the vault file is not encrypted"
    );
    let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let (trove_bytes, plain_bytes) = (size(&vault_db), size(&plain_path));
    p.say(format!(
        "files: vault {:.0} MiB (encrypted), baseline {:.0} MiB (starts with \"SQLite format 3\")",
        trove_bytes as f64 / 1048576.0,
        plain_bytes as f64 / 1048576.0
    ));

    // Get by id: random ids, the same positions in both.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37);
    let (mut get_trove, mut get_plain) = (Latencies::default(), Latencies::default());

    for k in 0..gets {
        let i = rng.gen_range(0..n);
        let mut one = |trove: bool| -> anyhow::Result<()> {
            let t = Instant::now();
            let r = if trove {
                vault.get(&trove_ids[i])?
            } else {
                plain.get(&plain_ids[i])?
            };
            let d = t.elapsed();
            if trove {
                ensure!(r.id == trove_ids[i], "get returned another record");
                get_trove.push(d);
            } else {
                ensure!(r.id == plain_ids[i], "get returned another record");
                get_plain.push(d);
            }
            Ok(())
        };
        one(k % 2 == 0)?;
        one(k % 2 != 0)?;
    }
    p.say(format!("get trove: {}", get_trove.summary()));
    p.say(format!("get plain: {}", get_plain.summary()));

    // Ranked search: common words, typing prefixes, rare words and a word with no match.
    let mut rare: Vec<(String, usize)> = Vec::new();
    while rare.len() < rare_n {
        let i = rng.gen_range(0..n);
        if let Some(q) = rare_query(&plain.get(&plain_ids[i])?) {
            rare.push((q, i));
        }
    }
    let mut matches = serde_json::Map::new();
    for q in COMMON {
        matches.insert(q.to_string(), count_matches(plain.conn(), q)?.into());
    }
    p.say(format!("common queries and their matches: {matches:?}"));
    let classes: Vec<(&str, Vec<Query>)> = vec![
        (
            "common",
            COMMON.iter().map(|q| (q.to_string(), None)).collect(),
        ),
        (
            "prefix",
            PREFIXES.iter().map(|q| (q.to_string(), None)).collect(),
        ),
        (
            "rare",
            rare.iter().map(|(q, i)| (q.clone(), Some(*i))).collect(),
        ),
        ("none", NONE.iter().map(|q| (q.to_string(), None)).collect()),
    ];
    let limit = 20;
    let mut by_class: Vec<(&str, Latencies, Latencies)> = classes
        .iter()
        .map(|(c, _)| (*c, Latencies::default(), Latencies::default()))
        .collect();
    let mut rare_missed = 0usize;

    for round_no in 0..rounds {
        for (ci, (_, queries)) in classes.iter().enumerate() {
            for (qi, (q, want)) in queries.iter().enumerate() {
                for trove in [(round_no + qi) % 2 == 0, (round_no + qi) % 2 != 0] {
                    let t = Instant::now();
                    let hits = if trove {
                        vault.search(q, limit)?
                    } else {
                        plain.search(q, limit)?
                    };
                    let d = t.elapsed();
                    let (_, lt, lp) = &mut by_class[ci];
                    if trove {
                        lt.push(d);
                        if let Some(i) = want {
                            if round_no == 0 && !hits.iter().any(|h| h.id == trove_ids[*i]) {
                                rare_missed += 1;
                            }
                        }
                    } else {
                        lp.push(d);
                    }
                }
            }
        }
    }
    let (mut search_trove, mut search_plain) = (Latencies::default(), Latencies::default());
    let mut per_class = serde_json::Map::new();
    for (c, lt, lp) in &by_class {
        p.say(format!("search {c:>6} trove: {}", lt.summary()));
        p.say(format!("search {c:>6} plain: {}", lp.summary()));
        search_trove.extend(lt);
        search_plain.extend(lp);
        per_class.insert(
            c.to_string(),
            json!({
                "p50_ms": round(lt.p(50.0), 3), "p99_ms": round(lt.p(99.0), 3),
                "min_ms": round(lt.p(0.0), 3), "max_ms": round(lt.max(), 3),
                "plain_p50_ms": round(lp.p(50.0), 3), "plain_p99_ms": round(lp.p(99.0), 3),
            }),
        );
    }
    p.say(format!("search all trove: {}", search_trove.summary()));
    p.say(format!("search all plain: {}", search_plain.summary()));
    ensure!(
        rare_missed == 0,
        "{rare_missed} rare queries did not find their record"
    );
    drop(vault);
    drop(plain);

    // Unlock with the passphrase (Argon2id as calibrated at create) and remembered-key opens.
    let mut unlock = Latencies::default();
    for _ in 0..3 {
        let t = Instant::now();
        let v = Vault::unlock(&vault_dir, &pass)?;
        unlock.push(t.elapsed());
        drop(v);
    }
    p.say(format!("unlock: {}", unlock.summary()));
    let store = MemoryKeyStore::default();
    Vault::unlock(&vault_dir, &pass)?.remember(&store)?;
    let mut open = Latencies::default();
    for _ in 0..20 {
        let t = Instant::now();
        let v = Vault::unlock_remembered(&vault_dir, &store)?;
        open.push(t.elapsed());
        drop(v);
    }
    p.say(format!("remembered open: {}", open.summary()));

    // What `Vault::create` calibrated on this machine.
    let kdf = Vault::info(&vault_dir)?.kdf;
    let get_p99 = get_trove.p(99.0);
    let search_p99 = search_trove.p(99.0);
    let unlock_s = unlock.p(50.0) / 1e3;
    let open_ms = open.p(50.0);
    Ok(json!({
        "records": n,
        "chunk": chunk,
        "trove_rec_per_s": round(trove_rate, 0),
        "plain_rec_per_s": round(plain_rate, 0),
        "ratio": round(trove_rate / plain_rate, 3),
        "trove_rec_per_cpu_s": round(trove_cpu_rate, 0),
        "plain_rec_per_cpu_s": round(plain_cpu_rate, 0),
        "cpu_ratio": round(trove_cpu_rate / plain_cpu_rate, 3),
        "get_p50_ms": round(get_trove.p(50.0), 3),
        "get_p99_ms": round(get_p99, 3),
        "plain_get_p50_ms": round(get_plain.p(50.0), 3),
        "plain_get_p99_ms": round(get_plain.p(99.0), 3),
        "search_p50_ms": round(search_trove.p(50.0), 3),
        "search_p99_ms": round(search_p99, 3),
        "plain_search_p50_ms": round(search_plain.p(50.0), 3),
        "plain_search_p99_ms": round(search_plain.p(99.0), 3),
        "search_limit": limit,
        "search_candidates": trove_core::search::SEARCH_CANDIDATES,
        "search_by_class": per_class,
        "common_query_matches": matches,
        "unlock_s": round(unlock_s, 3),
        "unlock_max_s": round(unlock.max() / 1e3, 3),
        "remembered_open_ms": round(open_ms, 3),
        "remembered_open_max_ms": round(open.max(), 3),
        "kdf": {"m_cost_kib": kdf.m_cost_kib, "t_cost": kdf.t_cost, "p_cost": kdf.p_cost},
        "trove_db_bytes": trove_bytes,
        "plain_db_bytes": plain_bytes,
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "targets_met": {
            "insert_80k_per_s": trove_rate >= 80_000.0,
            "ratio_0_8": trove_rate / plain_rate >= 0.8,
            "get_p99_1ms": get_p99 <= 1.0,
            "search_p99_10ms": search_p99 <= 10.0,
            "unlock_0_3_to_1_5_s": (0.3..=1.5).contains(&unlock_s),
            "remembered_open_30ms": open_ms <= 30.0,
        },
    }))
}

/// A query for a value that (almost) only this record holds, or `None` for types whose
/// values are all common.
fn rare_query(r: &Record) -> Option<String> {
    let field = match r.record_type.as_str() {
        "document" => "number",
        "bank_account" => "iban",
        "membership" => "member_id",
        "address" => "postal_code",
        "contact" => "phone",
        _ => return None,
    };
    let v = r.fields.get(field)?;
    // The phone's last group of digits; the whole value otherwise.
    Some(v.rsplit(' ').next().unwrap_or(v).to_string())
}

/// How many records contain every word of `q` (untimed, for the report).
fn count_matches(conn: &rusqlite::Connection, q: &str) -> anyhow::Result<u64> {
    let m: Vec<String> = q.split_whitespace().map(|w| format!("\"{w}\"")).collect();
    Ok(conn.query_row(
        "SELECT count(*) FROM records_fts WHERE records_fts MATCH ?1",
        [m.join(" ")],
        |r| r.get::<_, i64>(0),
    )? as u64)
}
