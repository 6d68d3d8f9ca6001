//! The person's `trove` and the organization's `trove-org`, both as real processes:
//! `trove serve --remote` through a relay this test starts on loopback, staged copies on
//! an s3s-fs server in this process, and `trove-org fetch` choosing the path that answers.
//!
//! `trove-org` is another package's binary: it is taken from the same target directory
//! as `trove` (`cargo test --workspace` builds it; with `-p trove-cli` alone, build it
//! first with `cargo build -p trove-client --bin trove-org`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use trove_wire::link::ShareLink;

use crate::remote::{relay, serve_remote};
use crate::staged::{add_storage, s3, staged_objects as objects, SK};
use crate::support::*;

fn org_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_trove")).with_file_name("trove-org");
    assert!(
        bin.is_file(),
        "{} is missing: build it (cargo test --workspace, or cargo build -p trove-client --bin trove-org)",
        bin.display()
    );
    bin
}

/// `trove-org ARGS` with its own config dir; the link goes in on stdin (`-`).
fn org(config: &Path, link: &str, args: &[&str]) -> Output {
    let mut child = Command::new(org_bin())
        .args(args)
        .env_clear()
        .env("XDG_CONFIG_HOME", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(link.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn records(o: &Output) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    v["records"].as_array().unwrap().clone()
}

/// A failed `trove-org fetch`: exit 1, the reason on stderr, nothing on stdout, no file,
/// no token.
fn refused(o: &Output, out: &Path, token: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!out.exists(), "{} was written: {err}", out.display());
    assert!(!err.contains(token), "the token is on stderr");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn bundle_file(root: &Path) -> PathBuf {
    let bundles: Vec<PathBuf> = objects(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".age"))
        .collect();
    assert_eq!(bundles.len(), 1, "{bundles:?}");
    bundles[0].clone()
}

#[test]
fn trove_org_fetch_reads_live_while_serving_then_the_verified_staged_copy() {
    let relay = relay();
    let s = s3();
    let root = s.root.path();
    let t = TestVault::new();
    let org_dir = tempfile::tempdir().unwrap();
    let cfg = org_dir.path().join("config");
    assert!(add_storage(&t, &s, "home", SK).status.success());
    let id = t.ok(&["add", "contact", "email=ana@example.org", "phone=+49 30 1"]);
    let id = id.trim().to_string();
    t.ok(&["add", "contact", "email=bo@example.org"]);
    t.ok(&["add", "note", "body=not shared"]);

    let (server, _) = serve_remote(&t, &relay.url);
    let g = t.json(&[
        "grant",
        "create",
        "--org",
        "Acme Bank",
        "--purpose",
        "KYC",
        "--scope",
        "contact.email",
        "--offline",
        "--expires",
        "30d",
    ]);
    let gid = g["id"].as_str().unwrap().to_string();
    let token = g["token"].as_str().unwrap().to_string();
    let text = g["link"].as_str().unwrap().to_string();
    let link = ShareLink::parse(&text).unwrap();
    let live = link
        .live
        .as_ref()
        .expect("the offline link names the live endpoint too");
    assert_eq!(live.relays, std::slice::from_ref(&relay.url));
    assert!(link.staged.is_some());

    // 1. The person's Trove is up: it answers, and logs the read.
    // Reads from the organization: the rows naming its endpoint key.
    let reads = |t: &TestVault| {
        t.json(&["log", "--grant", &gid])["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["org_key"].is_string())
            .count()
    };
    let o = org(&cfg, &text, &["fetch", "-", "--timeout", "20s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("answered by live"), "{}", stderr(&o));
    let got = records(&o);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r["fields"].get("phone").is_none()));
    assert_eq!(reads(&t), 1, "the live read is in the access log");

    // 2. Stopped: the staged copy answers, verified, and the file is written.
    drop(server);
    let out = org_dir.path().join("records.json");
    let started = Instant::now();
    let o = org(
        &cfg,
        &text,
        &[
            "fetch",
            "-",
            "--timeout",
            "2s",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(20));
    let err = stderr(&o);
    assert!(
        err.contains("answered by the staged copy (version 1"),
        "{err}"
    );
    assert!(err.contains("not reachable right now"), "{err}");
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        file["records"].as_array().unwrap(),
        &got,
        "the same records either way"
    );
    assert_eq!(reads(&t), 1, "storage reads are not in the log");
    std::fs::remove_file(&out).unwrap();
    let fetch_into = |text: &str, out: &Path| {
        org(
            &cfg,
            text,
            &[
                "fetch",
                "-",
                "--timeout",
                "1s",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };

    // 3. A tampered bundle: refused, nothing written.
    let bundle = bundle_file(root);
    let original = std::fs::read(&bundle).unwrap();
    let mut bad = original.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    std::fs::write(&bundle, &bad).unwrap();
    let err = refused(&fetch_into(&text, &out), &out, &token);
    assert!(err.contains("does not match its signed SHA-256"), "{err}");
    std::fs::write(&bundle, &original).unwrap();

    // 4. A link whose signing key is not the vault's: refused.
    let mut forged = ShareLink::parse(&text).unwrap();
    forged.staged.as_mut().unwrap().signer = [7; 32];
    let err = refused(&fetch_into(&forged.encode(), &out), &out, &token);
    assert!(err.contains("signature does not match"), "{err}");

    // 5. Storage serving an older version after a newer one was seen: refused.
    let v1: Vec<(PathBuf, Vec<u8>)> = objects(root)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let edit = t.run(&["edit", &id, "email=ana@new.example"]);
    assert!(
        stderr(&edit).contains("re-published (version 2)"),
        "{}",
        stderr(&edit)
    );
    let o = org(&cfg, &text, &["fetch", "-", "--timeout", "1s"]);
    assert!(stderr(&o).contains("(version 2"), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ana@new.example"));
    for (p, b) in &v1 {
        std::fs::write(p, b).unwrap();
    }
    let err = refused(&fetch_into(&text, &out), &out, &token);
    assert!(err.contains("older than version 2"), "{err}");
    assert!(err.contains("replayed"), "{err}");

    // 6. Revoked: the copy is deleted, and the organization is told so.
    t.ok(&["grant", "revoke", &gid]);
    let err = refused(&fetch_into(&text, &out), &out, &token);
    assert!(err.contains("the staged copy is gone"), "{err}");
    assert!(err.contains("ask the person for a new link"), "{err}");
}

#[test]
fn trove_org_against_trove_serve_remote_reads_is_refused_after_revoke_and_gives_up_when_stopped() {
    let relay = relay();
    let t = TestVault::new();
    let org_dir = tempfile::tempdir().unwrap();
    let cfg = org_dir.path().join("config");
    t.ok(&["add", "contact", "email=ana@example.org"]);
    let (server, _) = serve_remote(&t, &relay.url);
    let grant = |scope: &str| {
        t.json(&[
            "grant",
            "create",
            "--org",
            "Acme",
            "--purpose",
            "KYC",
            "--scope",
            scope,
        ])
    };
    let (a, b) = (grant("contact"), grant("contact.email"));
    let link_a = a["link"].as_str().unwrap();
    let link_b = b["link"].as_str().unwrap();
    assert!(ShareLink::parse(link_a).unwrap().staged.is_none());

    let o = org(&cfg, link_a, &["fetch", "-", "--timeout", "20s", "-v"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(records(&o)[0]["fields"]["email"], "ana@example.org");
    assert!(stderr(&o).contains("answered by live"), "{}", stderr(&o));

    // Revoked while serving: the next read is refused in words.
    t.ok(&["grant", "revoke", a["id"].as_str().unwrap()]);
    let out = org_dir.path().join("never.json");
    let o = org(
        &cfg,
        link_a,
        &[
            "fetch",
            "-",
            "--timeout",
            "20s",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let err = refused(&o, &out, a["token"].as_str().unwrap());
    assert!(err.contains("unauthorized"), "{err}");
    assert!(err.contains("revoked"), "{err}");

    // Killed: unreachable, said in words, within the timeout.
    drop(server);
    let started = Instant::now();
    let o = org(&cfg, link_b, &["fetch", "-", "--timeout", "2s"]);
    let err = refused(&o, &out, b["token"].as_str().unwrap());
    assert!(
        err.contains("this person's Trove is not reachable right now; try later"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "gave up after {:?}",
        started.elapsed()
    );
}
