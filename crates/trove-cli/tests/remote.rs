//! Remote sharing from the command line: `trove serve --remote` against a relay this
//! test starts on loopback, `trove remote status | rotate`, share links and
//! `--org-key`. The endpoint secret never appears in any output.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use crate::support::*;

/// trove-client's relay on 127.0.0.1 over plain HTTP, running on its own runtime.
pub(crate) struct Relay {
    _relay: trove_client::testing::LocalRelay,
    _rt: tokio::runtime::Runtime,
    pub(crate) url: String,
}

pub(crate) fn relay() -> Relay {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let relay = rt
        .block_on(trove_client::testing::LocalRelay::spawn())
        .unwrap();
    Relay {
        url: relay.url().to_string(),
        _relay: relay,
        _rt: rt,
    }
}

pub(crate) struct Serving(pub(crate) Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `trove serve --remote --relay URL` on loopback, returned once it says its endpoint is
/// online (its second line), with the endpoint id it printed.
pub(crate) fn serve_remote(t: &TestVault, relay: &str) -> (Serving, String) {
    let mut child = Serving(
        t.cmd(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--remote",
            "--relay",
            relay,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("listening on http://127.0.0.1:"),
        "{line:?}"
    );
    line.clear();
    out.read_line(&mut line).unwrap();
    let id = line
        .trim()
        .strip_prefix("remote endpoint ")
        .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
        .to_string();
    // Keep reading, so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, id)
}

#[test]
fn serve_remote_announces_its_endpoint_and_links_name_it() {
    let relay = relay();
    let t = TestVault::openable_here();
    let (child, id) = serve_remote(&t, &relay.url);
    assert_eq!(id.len(), 64, "{id}");

    let status = t.json(&["remote", "status"]);
    assert_eq!(status["endpoint_id"], id.as_str());
    assert_eq!(status["relay"], relay.url.as_str());
    assert_eq!(status["relays"][0], relay.url.as_str());
    assert_eq!(status["enabled"], false, "the app's switch is separate");
    assert_eq!(status["presence"]["state"], "online");
    let text = t.ok(&["remote", "status"]);
    assert!(text.contains(&format!("endpoint id:  {id}")), "{text}");
    assert!(
        text.contains("(self-hosted)") && text.contains("reachable via"),
        "{text}"
    );

    // A grant's link carries the token, the endpoint id and the relay.
    let g = t.json(&[
        "grant",
        "create",
        "--org",
        "Acme",
        "--purpose",
        "KYC",
        "--scope",
        "contact",
    ]);
    let link = trove_wire::link::ShareLink::parse(g["link"].as_str().unwrap()).unwrap();
    assert_eq!(link.token.as_str(), g["token"].as_str().unwrap());
    let live = link.live.unwrap();
    let hex: String = live
        .endpoint_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, id);
    assert_eq!(live.relays, std::slice::from_ref(&relay.url));
    let plain = t.ok(&[
        "grant",
        "create",
        "--org",
        "Acme",
        "--purpose",
        "KYC",
        "--scope",
        "note",
    ]);
    let lines: Vec<&str> = plain.lines().collect();
    assert!(lines[2].starts_with("link:  TROVE1-"), "{plain}");

    // Bound at creation; a malformed key is refused.
    let key = "ab".repeat(32);
    let bound = t.json(&[
        "grant",
        "create",
        "--org",
        "Acme",
        "--purpose",
        "KYC",
        "--scope",
        "note",
        "--org-key",
        &key,
    ]);
    assert_eq!(bound["org_key"], key.as_str());
    let shown = t.ok(&["grant", "show", bound["id"].as_str().unwrap()]);
    assert!(shown.contains(&format!("org key:    {key}")), "{shown}");
    let bad = t.run(&[
        "grant",
        "create",
        "--org",
        "Acme",
        "--purpose",
        "KYC",
        "--scope",
        "note",
        "--org-key",
        "not-a-key",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("invalid organization key"),
        "{}",
        stderr(&bad)
    );

    // Rotation: a new id, one log row; the running server keeps its key.
    let rotated = t.json(&["remote", "rotate"]);
    let new_id = rotated["endpoint_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    assert_eq!(
        t.json(&["remote", "status"])["endpoint_id"],
        new_id.as_str()
    );
    let log = t.ok(&["log"]);
    assert!(
        log.lines().next().unwrap().contains("remote_key_rotate"),
        "{log}"
    );
    drop(child);

    // The secret (now the rotated one) is in no output.
    let v = trove_core::Vault::unlock(&t.vault, &trove_core::Passphrase::new(PW.into())).unwrap();
    let secret: String = v
        .endpoint_secret()
        .unwrap()
        .expose_secret()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    drop(v);
    for args in [
        &["--json", "remote", "status"][..],
        &["remote", "status"],
        &["--json", "log"],
        &["log"],
        &["--json", "grant", "list"],
    ] {
        let o = t.ok(args);
        assert!(
            !o.contains(&secret),
            "the endpoint secret is in `trove {args:?}`"
        );
        assert!(!o.contains(&secret.to_uppercase()));
    }
}

#[test]
fn serve_remote_refuses_a_bad_relay_before_unlocking() {
    let t = TestVault::new();
    for (relay, why) in [
        (
            "http://192.0.2.7:3340",
            "only allowed for a relay on this computer",
        ),
        ("relay.example.org", "must start with https://"),
    ] {
        let mut c = t.cmd(&["serve", "--remote", "--relay", relay]);
        c.env_remove("TROVE_PASSPHRASE");
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("invalid relay URL"), "{}", stderr(&o));
        assert!(stderr(&o).contains(why), "{}", stderr(&o));
    }
    let o = t.run(&["serve", "--relay", "https://relay.example.org"]);
    assert_eq!(o.status.code(), Some(2), "--relay needs --remote");
}
