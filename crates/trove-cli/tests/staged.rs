//! `trove storage …` and `trove grant create --offline` end to end: the real CLI against a
//! real S3 server (s3s-fs, in this test process, on loopback), and the organization's
//! client fetching what the CLI staged.

use std::process::Output;

use trove_client::testing::LocalS3;
use trove_client::{fetch_staged, StagedError, StagedOptions};
use trove_wire::link::ShareLink;

use crate::support::*;

const AK: &str = "AKIDCLITEST";
pub(crate) const SK: &str = "CliTestSecret-0a1b2c3d4e5f-QWERTY";
const BUCKET: &str = "trove-cli";

/// trove-client's s3s-fs server on 127.0.0.1:0, on a runtime of its own; stops when
/// dropped.
pub(crate) struct S3 {
    pub(crate) rt: tokio::runtime::Runtime,
    server: LocalS3,
    /// s3s-fs keeps one file per object under `root/BUCKET/`.
    pub(crate) root: tempfile::TempDir,
}

pub(crate) fn s3() -> S3 {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(LocalS3::start(root.path(), 0, AK, SK)).unwrap();
    S3 { rt, server, root }
}

fn with_secret(t: &TestVault, secret: &str, args: &[&str]) -> Output {
    t.cmd(args)
        .env("TROVE_STORAGE_SECRET", secret)
        .output()
        .unwrap()
}

/// Every staged object file under `root` (s3s-fs keeps one file per object), sorted.
pub(crate) fn staged_objects(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root.join(BUCKET), &mut out);
    out.retain(|p| p.to_string_lossy().contains("trove-staged"));
    out.sort();
    out
}

pub(crate) fn add_storage(t: &TestVault, s: &S3, name: &str, secret: &str) -> Output {
    with_secret(
        t,
        secret,
        &[
            "storage",
            "add",
            name,
            "--endpoint",
            &s.server.endpoint(),
            "--bucket",
            BUCKET,
            "--access-key-id",
            AK,
            "--prefix",
            "ana",
        ],
    )
}

fn all_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn storage_targets_are_added_listed_tested_and_removed_without_showing_the_secret() {
    let t = TestVault::new();
    let s = s3();
    let out = add_storage(&t, &s, "home", SK);
    assert!(out.status.success(), "{}", all_text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("s3://trove-cli/ana/"));
    let mut outputs = vec![out];

    let list = t.json(&["storage", "list"]);
    assert_eq!(list["storage"][0]["name"], "home");
    assert_eq!(list["storage"][0]["prefix"], "ana/");
    assert!(!list.to_string().contains(SK));

    let test = t.run(&["storage", "test", "home"]);
    assert!(test.status.success(), "{}", all_text(&test));
    assert!(String::from_utf8_lossy(&test.stdout).contains("storage home works"));
    outputs.push(test);

    assert!(add_storage(&t, &s, "bad", "wrong-secret").status.success());
    let bad = t.run(&["storage", "test", "bad"]);
    assert_eq!(bad.status.code(), Some(1));
    let text = all_text(&bad);
    assert!(
        text.contains("FAILED") && text.contains("refused the credentials"),
        "{text}"
    );
    assert!(text.contains("hint: check the access key id"), "{text}");
    let bad_json = t.run(&["--json", "storage", "test", "bad"]);
    assert_eq!(bad_json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&bad_json.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["steps"][0]["code"], "storage_credentials");
    outputs.push(bad);
    outputs.push(bad_json);

    // No secret given and no terminal to ask: a clear error, nothing added.
    let none = t.run(&[
        "storage",
        "add",
        "x",
        "--endpoint",
        &s.server.endpoint(),
        "--bucket",
        BUCKET,
        "--access-key-id",
        AK,
    ]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr(&none).contains("TROVE_STORAGE_SECRET"),
        "{}",
        stderr(&none)
    );
    let dup = add_storage(&t, &s, "home", SK);
    assert_eq!(dup.status.code(), Some(1));
    assert!(stderr(&dup).contains("already exists"));
    let http = with_secret(
        &t,
        SK,
        &[
            "storage",
            "add",
            "lan",
            "--endpoint",
            "http://192.168.1.20:9000",
            "--bucket",
            BUCKET,
            "--access-key-id",
            AK,
        ],
    );
    assert_eq!(http.status.code(), Some(1));
    assert!(stderr(&http).contains("use https://"), "{}", stderr(&http));

    assert!(t
        .ok(&["storage", "rm", "bad"])
        .contains("removed storage bad"));
    assert_eq!(
        t.json(&["storage", "list"])["storage"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let gone = t.run(&["storage", "test", "bad"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(stderr(&gone).contains("no storage target named"));
    for o in &outputs {
        assert!(!all_text(o).contains(SK), "secret shown: {}", all_text(o));
        assert!(!all_text(o).contains("wrong-secret"));
    }
}

#[test]
fn an_offline_grant_prints_its_link_once_restages_on_edit_and_is_deleted_on_revoke() {
    let t = TestVault::new();
    let s = s3();
    assert!(add_storage(&t, &s, "home", SK).status.success());
    let id = t.ok(&[
        "add",
        "contact",
        "email=ana@example.org",
        "phone=+49 30 1234567",
    ]);
    let id = id.trim();
    let base = ["grant", "create", "--org", "Acme Bank", "--purpose", "KYC"];
    let args = |extra: &[&'static str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        a
    };

    // Refusals: a use limit (storage cannot count), a scope with no records.
    let limited = t.run(&args(&[
        "--scope",
        "contact",
        "--offline",
        "--max-uses",
        "3",
    ]));
    assert_eq!(limited.status.code(), Some(2), "{}", stderr(&limited));
    let empty = t.run(&args(&["--scope", "health", "--offline"]));
    assert_eq!(empty.status.code(), Some(1));
    assert!(stderr(&empty).contains("no records"), "{}", stderr(&empty));
    let unknown = t.run(&args(&[
        "--scope",
        "contact",
        "--offline",
        "--storage",
        "nope",
    ]));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(t.json(&["grant", "list"])["grants"]
        .as_array()
        .unwrap()
        .is_empty());

    // Text output: the grant id and the link, once.
    let text = t.run(&args(&[
        "--scope",
        "contact.email",
        "--offline",
        "--expires",
        "30d",
    ]));
    assert!(text.status.success(), "{}", stderr(&text));
    let out = String::from_utf8(text.stdout.clone()).unwrap();
    assert!(out.starts_with("grant: "), "{out}");
    let link_line = out.lines().find(|l| l.starts_with("link:")).unwrap();
    ShareLink::parse(link_line.trim_start_matches("link:").trim()).unwrap();
    assert!(
        stderr(&text).contains("enforced by your storage"),
        "{}",
        stderr(&text)
    );

    let v = t.json(&args(&[
        "--scope",
        "contact.email",
        "--offline",
        "--expires",
        "30d",
    ]));
    let gid = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["staging"]["state"], "staged");
    let link = ShareLink::parse(v["link"].as_str().unwrap()).unwrap();
    assert!(v["link"].as_str().unwrap().starts_with("TROVE1-"));
    assert!(link.staged.is_some());
    assert_eq!(link.token.as_str(), v["token"].as_str().unwrap());
    let fetch = |l: &ShareLink| s.rt.block_on(fetch_staged(l, StagedOptions::default()));
    let got = fetch(&link).unwrap();
    assert_eq!(got.records.records.len(), 1);
    assert_eq!(got.records.records[0].fields["email"], "ana@example.org");
    assert!(!got.records.records[0].fields.contains_key("phone"));

    let show = t.json(&["grant", "show", &gid]);
    assert_eq!(show["enforced_by"], "your storage");
    assert_eq!(show["staging"]["version"], 1);
    let show_text = t.ok(&["grant", "show", &gid]);
    assert!(
        show_text.contains("available from your storage until"),
        "{show_text}"
    );
    assert!(show_text.contains("staged (version 1"), "{show_text}");
    let live = t.json(&args(&["--scope", "contact"]));
    let live_show = t.ok(&["grant", "show", live["id"].as_str().unwrap()]);
    assert!(
        live_show.contains("enforced by this computer"),
        "{live_show}"
    );

    // An in-scope edit through the CLI re-stages at once.
    let edit = t.run(&["edit", id, "email=ana@new.example"]);
    assert!(edit.status.success());
    assert!(
        stderr(&edit).contains(&format!("grant {gid} re-published (version 2)")),
        "{}",
        stderr(&edit)
    );
    let got = fetch(&link).unwrap();
    assert_eq!(got.version, 2);
    assert_eq!(got.records.records[0].fields["email"], "ana@new.example");

    // Revoke deletes it; the organization's next download is refused.
    let revoke = t.ok(&["grant", "revoke", &gid]);
    assert!(
        revoke.contains("staged copy was deleted from storage home"),
        "{revoke}"
    );
    let e = fetch(&link).unwrap_err();
    assert!(matches!(e, StagedError::Gone { .. }), "{e:?}");
    assert_eq!(
        t.json(&["grant", "show", &gid])["staging"]["state"],
        "deleted"
    );
    let log = t.json(&["log", "--grant", &gid]);
    let methods: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "staging")
        .map(|e| e["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["delete", "delete", "republish", "publish"]);
    assert!(!log.to_string().contains("X-Amz-Signature"));
    assert!(!log.to_string().contains(SK));
}
