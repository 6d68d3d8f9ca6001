//! Sharing end to end: `trove serve` as a real process, trove-client reading from it,
//! while other `trove` processes create and revoke grants on the same vault.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use crate::support::*;

/// A running `trove serve`; killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(t: &TestVault) -> Server {
    let mut child = t
        .cmd(&["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"), "a real port was picked: {base}");
    Server { child, base }
}

fn create(t: &TestVault, args: &[&str]) -> (String, String) {
    let mut a = vec!["grant", "create", "--org", "Acme Bank", "--purpose", "KYC"];
    a.extend_from_slice(args);
    let v = t.json(&a);
    (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    )
}

#[test]
fn serve_reads_while_other_processes_create_and_revoke_grants() {
    let t = TestVault::new();
    t.ok(&[
        "add",
        "contact",
        "email=ana@example.org",
        "phone=+49 30 1234567",
    ]);
    t.ok(&["add", "note", "title=secret plans"]);
    let (id, token) = create(&t, &["--scope", "contact.email"]);
    let server = serve(&t);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = trove_client::Client::new(&server.base, &token).unwrap();
    rt.block_on(async {
        let rs = client.records(None).await.unwrap();
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].fields["email"], "ana@example.org");
        assert!(
            !rs[0].fields.contains_key("phone"),
            "phone is outside the scope"
        );
        assert!(matches!(
            client.records(Some("note")).await,
            Err(trove_client::ClientError::InsufficientScope(_))
        ));
        assert_eq!(client.grant().await.unwrap().id, id);
    });

    // A grant created by another process works at once.
    let (id2, token2) = create(&t, &["--scope", "note", "--max-uses", "1"]);
    let client2 = trove_client::Client::new(&server.base, &token2).unwrap();
    rt.block_on(async {
        assert_eq!(
            client2.records(None).await.unwrap()[0].fields["title"],
            "secret plans"
        );
        assert!(
            matches!(
                client2.records(None).await,
                Err(trove_client::ClientError::Unauthorized(_))
            ),
            "the call after the last use is refused"
        );
    });

    // Revoked by another process: the very next request is refused.
    let out = t.ok(&["grant", "revoke", &id]);
    assert!(out.contains("Revoked"), "{out}");
    rt.block_on(async {
        assert!(matches!(
            client.records(None).await,
            Err(trove_client::ClientError::Unauthorized(_))
        ));
    });

    let grants = t.json(&["grant", "list"]);
    let statuses: Vec<(&str, &str)> = grants["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_str().unwrap(), g["status"].as_str().unwrap()))
        .collect();
    assert!(statuses.contains(&(id.as_str(), "revoked")), "{statuses:?}");
    assert!(
        statuses.contains(&(id2.as_str(), "exhausted")),
        "{statuses:?}"
    );

    drop(server);
    let log = t.json(&["log"]);
    let entries = log["entries"].as_array().unwrap();
    // 2 creates, 3 + 2 + 1 API requests, 1 revoke.
    assert_eq!(entries.len(), 9, "{log:#}");
    assert_eq!(entries[0]["outcome"], "denied:revoked", "newest first");
    assert_eq!(entries[1]["kind"], "grant_revoke");
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&token) && !text.contains("ana@example.org"));
    let limited = t.json(&["log", "--grant", &id, "--limit", "2"]);
    assert_eq!(limited["entries"].as_array().unwrap().len(), 2);
    let v = t.json(&["log", "verify"]);
    assert_eq!(v["ok"], true);
    let summary = t.json(&["log", "--summary"]);
    assert_eq!(summary["summary"][0]["org"], "Acme Bank");
    assert_eq!(summary["summary"][0]["records"], 2);
}

#[test]
fn grant_create_prints_id_and_token_and_validates_scope() {
    let t = TestVault::new();
    let out = t.ok(&[
        "grant",
        "create",
        "--org",
        "Clinic",
        "--purpose",
        "care",
        "--scope",
        "health",
        "--expires",
        "30d",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("grant: ") && lines[1].starts_with("token: trove_"),
        "{out}"
    );
    let id = lines[0].trim_start_matches("grant: ");
    let show = t.ok(&["grant", "show", id]);
    assert!(
        show.contains("status:     active") && show.contains("scope:      health"),
        "{show}"
    );
    assert!(!show.contains("trove_"), "the token is never shown again");
    let r = t.json(&["grant", "show", id, "--receipt"]);
    assert_eq!(r["receipts"][0]["version"], "KI-CR-v1.1.0");
    let bad = t.run(&[
        "grant",
        "create",
        "--org",
        "X",
        "--purpose",
        "p",
        "--scope",
        "contact.fax",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("unknown field `fax`"),
        "{}",
        stderr(&bad)
    );
    let bad = t.run(&[
        "grant",
        "create",
        "--org",
        "X",
        "--purpose",
        "p",
        "--scope",
        "note",
        "--expires",
        "soon",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("invalid expiry"), "{}", stderr(&bad));
}

#[test]
fn serve_refuses_non_loopback_without_tls() {
    let t = TestVault::new();
    let out = t.run(&["serve", "--listen", "0.0.0.0:7878"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("without TLS"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pass --tls-cert FILE --tls-key FILE"),
        "the CLI names its flags: {}",
        stderr(&out)
    );
}

#[test]
fn log_verify_names_a_tampered_entry() {
    let t = TestVault::openable_here();
    create(&t, &["--scope", "note"]);
    create(&t, &["--scope", "contact"]);
    assert_eq!(t.json(&["log", "verify"])["entries"], 2);
    // Tamper the way an attacker with the key would: through SQLite directly.
    let v = trove_core::Vault::unlock(&t.vault, &trove_core::Passphrase::new(PW.into())).unwrap();
    // Entry 1's block names the organization in plain bytes: rename it, same length.
    v.conn()
        .execute_batch(
            "DROP TRIGGER access_log_block_no_update;
             UPDATE access_log_block
                SET entries = CAST(replace(CAST(entries AS TEXT), 'Acme Bank', 'Acme Bond') AS BLOB)
              WHERE first_seq = 1;",
        )
        .unwrap();
    drop(v);
    let out = t.run(&["log", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("entry 1 was altered"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn demo_has_grants_and_a_verified_log() {
    let t = TestVault::empty();
    t.ok(&["demo"]);
    let g = t.json(&["grant", "list"]);
    assert_eq!(g["grants"].as_array().unwrap().len(), 4);
    let log = t.json(&["log"]);
    assert!(log["entries"].as_array().unwrap().len() >= 10);
    assert_eq!(t.json(&["log", "verify"])["ok"], true);
}

#[test]
fn grant_create_record_limits_the_grant_and_show_names_deleted_records() {
    let t = TestVault::new();
    let add = |city: &str| t.ok(&["add", "address", &format!("city={city}"), "street=Main 1"]);
    let (home, old, other) = (add("Berlin"), add("Bonn"), add("Köln"));
    let (home, old, other) = (home.trim(), old.trim(), other.trim());
    let g = t.json(&[
        "grant",
        "create",
        "--org",
        "Stadtwerke",
        "--purpose",
        "contract",
        "--scope",
        "address.city",
        "--record",
        home,
        "--record",
        old,
    ]);
    let id = g["id"].as_str().unwrap();
    let mut chosen: Vec<&str> = g["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    chosen.sort();
    let mut want = vec![home, old];
    want.sort();
    assert_eq!(chosen, want, "grant create --json names the chosen records");
    t.ok(&["rm", old]);
    let shown = t.ok(&["grant", "show", id]);
    assert!(shown.contains("2 chosen record(s)"), "{shown}");
    assert!(
        shown.contains(&format!("{old}  (deleted since")),
        "a deleted record is named: {shown}"
    );
    assert!(!shown.contains(other), "{shown}");
    let j = t.json(&["grant", "show", id]);
    assert_eq!(j["records_gone"], serde_json::json!([old]));

    // A record outside the scope is refused, naming it, and no grant is written.
    let before = t.json(&["grant", "list"])["grants"]
        .as_array()
        .unwrap()
        .len();
    let note = t.ok(&["add", "note", "title=plans"]);
    let out = t.run(&[
        "grant",
        "create",
        "--org",
        "X",
        "--purpose",
        "p",
        "--scope",
        "address",
        "--record",
        note.trim(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(note.trim()) && err.contains("outside the scope"),
        "{err}"
    );
    assert_eq!(
        t.json(&["grant", "list"])["grants"]
            .as_array()
            .unwrap()
            .len(),
        before
    );
}
