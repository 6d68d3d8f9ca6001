//! The `trove-org` binary as an organization runs it: a temporary config dir, links on
//! the command line, stdin or in a file, the stand-in Trove (tests/common) on loopback.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use common::{MockTrove, Reach, TOKEN};
use trove_client::testing::LocalRelay;

const BIN: &str = env!("CARGO_BIN_EXE_trove-org");

/// `trove-org ARGS` with its config under `config`, optional stdin; waits in a blocking
/// thread so the in-process Trove keeps serving.
async fn org(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args(&args)
            .env("XDG_CONFIG_HOME", &config)
            .env_remove("HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit code and stderr, checking that the token never shows.
fn failed(out: &Output) -> (i32, String) {
    let err = text(&out.stderr);
    assert!(!err.contains(TOKEN), "the token leaked on stderr: {err}");
    assert!(
        !text(&out.stdout).contains(TOKEN),
        "the token leaked on stdout"
    );
    (out.status.code().unwrap(), err)
}

#[tokio::test]
async fn id_is_created_once_privately_and_stays_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let first = org(dir.path(), &["id"], None).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let id = text(&first.stdout).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert!(
        text(&first.stderr).contains("created"),
        "says it made a key"
    );
    let second = org(dir.path(), &["id"], None).await;
    assert_eq!(text(&second.stdout).trim(), id, "stable across runs");
    assert!(text(&second.stderr).is_empty());

    use std::os::unix::fs::MetadataExt;
    let key = dir.path().join("trove-org/endpoint.key");
    assert_eq!(std::fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(key.parent().unwrap()).unwrap().mode() & 0o777,
        0o700
    );
    // The secret is in the file, never in the output.
    let secret = std::fs::read_to_string(&key).unwrap();
    let secret = secret.lines().last().unwrap();
    assert_ne!(secret, id);
    assert!(!text(&first.stdout).contains(secret));
    assert!(!text(&first.stderr).contains(secret));

    // A damaged key is reported, never silently replaced.
    std::fs::write(&key, "garbage\n").unwrap();
    let out = org(dir.path(), &["id"], None).await;
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("damaged"), "{err}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "garbage\n");
}

#[tokio::test]
async fn bad_links_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = {
        let mut l = common::offline_link(None);
        l.token = zeroize::Zeroizing::new(TOKEN.into());
        l.encode().to_string()
    };
    let truncated = &good[..good.len() - 5];
    let mut typo = good.clone().into_bytes();
    let i = good.len() / 2;
    typo[i] = if typo[i] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    for (link, says) in [
        ("hello", "not a Trove share link"),
        (TOKEN, "not a Trove share link"),
        (truncated, "copy"),
        (typo.as_str(), "damaged"),
        ("TROVE2-AAAA", "version"),
    ] {
        for cmd in ["grant", "fetch"] {
            let out = org(dir.path(), &[cmd, link], None).await;
            let (code, err) = failed(&out);
            assert_eq!(code, 1, "{cmd} {link}: {err}");
            assert!(err.contains(says), "{cmd} {link}: {err}");
            assert!(out.stdout.is_empty());
        }
    }
    // From stdin and from a file too.
    let out = org(dir.path(), &["grant", "-"], Some("garbage\n")).await;
    assert!(failed(&out).1.contains("not a Trove share link"));
    let file = dir.path().join("link.txt");
    std::fs::write(&file, truncated).unwrap();
    let out = org(
        dir.path(),
        &["fetch", &format!("@{}", file.display())],
        None,
    )
    .await;
    assert_eq!(failed(&out).0, 1);
    let out = org(dir.path(), &["fetch", "@/nonexistent/link.txt"], None).await;
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/link.txt"), "{err}");
    // Usage errors exit 2.
    assert_eq!(
        org(dir.path(), &["fetch"], None).await.status.code(),
        Some(2)
    );
    assert_eq!(
        org(dir.path(), &["bogus"], None).await.status.code(),
        Some(2)
    );
    let out = org(dir.path(), &["fetch", &good, "--timeout", "soon"], None).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn help_covers_everything_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = org(dir.path(), &["--help"], None).await;
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in ["id", "grant", "fetch", "proxy"] {
        assert!(help.contains(cmd), "{help}");
    }
    for cmd in ["grant", "fetch", "proxy"] {
        let out = org(dir.path(), &[cmd, "--help"], None).await;
        assert!(out.status.success());
        let help = text(&out.stdout);
        for flag in ["--relay", "--timeout", "@FILE", "stdin"] {
            assert!(help.contains(flag), "{cmd} --help lacks {flag}: {help}");
        }
        assert!(!help.contains("trove_"), "{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_and_fetch_through_a_local_relay() {
    let relay = LocalRelay::spawn().await.unwrap();
    let trove = MockTrove::start(Some(relay.url()), Reach::RelayOnly).await;
    let dir = tempfile::tempdir().unwrap();
    let link = trove.link(TOKEN).encode().to_string();

    // The link from stdin; the relay from the link itself.
    let out = org(dir.path(), &["grant", "-", "--verbose"], Some(&link)).await;
    let (code, err) = failed(&out);
    assert_eq!(code, 0, "{err}");
    let grant: trove_client::GrantInfo = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(grant, common::grant_info());
    assert!(err.contains("relayed"), "{err}");

    // The link from a file, the relay given explicitly.
    let file = dir.path().join("link.txt");
    std::fs::write(&file, format!("{link}\n")).unwrap();
    let at = format!("@{}", file.display());
    let out = org(
        dir.path(),
        &["fetch", &at, "--relay", relay.url(), "--type", "contact"],
        None,
    )
    .await;
    assert_eq!(failed(&out).0, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records"][0]["fields"]["email"], "ada@example.org");

    // Into a file: atomically, privately, nothing on stdout.
    let dest = dir.path().join("out.json");
    let out = org(
        dir.path(),
        &["fetch", &at, "--out", dest.to_str().unwrap()],
        None,
    )
    .await;
    assert_eq!(failed(&out).0, 0);
    assert!(out.stdout.is_empty());
    let written: trove_wire::Records =
        serde_json::from_str(&std::fs::read_to_string(&dest).unwrap()).unwrap();
    assert_eq!(written.records, [common::record_r1()]);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&dest).unwrap().mode() & 0o777, 0o600);

    // A refusal exits 1 with the server's reason.
    let out = org(dir.path(), &["fetch", &at, "--type", "health"], None).await;
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("insufficient scope"), "{err}");

    // Every connection was made with the same organization key, the one `id` prints.
    let id = text(&org(dir.path(), &["id"], None).await.stdout);
    assert!(trove.peers().iter().all(|p| p == id.trim()), "{id}");
    assert_eq!(trove.peers().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_trove_is_reported_in_words() {
    let relay = LocalRelay::spawn().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let link = common::offline_link(Some(relay.url())).encode().to_string();
    let out = org(dir.path(), &["grant", &link, "--timeout", "500ms"], None).await;
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(
        err.contains("this person's Trove is not reachable right now; try later"),
        "{err}"
    );
}

#[tokio::test]
async fn staged_only_links_are_fetched_from_storage_and_not_read_live() {
    let dir = tempfile::tempdir().unwrap();
    let link = trove_client::ShareLink {
        token: zeroize::Zeroizing::new(TOKEN.into()),
        live: None,
        staged: Some(trove_wire::link::StagedCopy {
            bundle_url: "https://s3.example.org/b/x".into(),
            manifest_url: None,
            bundle_key: None,
            signer: [9; 32],
        }),
    };
    // fetch goes to the staged copy (this one names no manifest: refused before any
    // download); grant has no staged path.
    let out = org(dir.path(), &["fetch", &link.encode()], None).await;
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("carries no manifest URL"), "{err}");
    let out = org(dir.path(), &["grant", &link.encode()], None).await;
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("cannot be read live"), "{err}");
}

/// A running `trove-org proxy`, killed on drop.
struct Proxy {
    child: Child,
    base: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn proxy(config: &Path, link: &str, extra: &[&str]) -> Proxy {
    let mut cmd = Command::new(BIN);
    cmd.args(["proxy", "-", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("XDG_CONFIG_HOME", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(link.as_bytes())
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Ready when it says so.
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Proxy { child, base }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_serves_plain_http_and_passes_refusals_through() {
    let trove = MockTrove::start(None, Reach::DirectOnly).await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &trove.link(TOKEN).encode(), &[]).await;

    // The organization's systems use plain HTTP, with any token or none.
    let c = trove_client::Client::new(&p.base, "trove_anything").unwrap();
    assert_eq!(c.grant().await.unwrap(), common::grant_info());
    assert_eq!(c.records(Some("contact")).await.unwrap().len(), 1);
    assert!(matches!(
        c.records(Some("health")).await,
        Err(trove_client::ClientError::InsufficientScope(_))
    ));
    assert!(matches!(
        c.record("01JNOPE").await,
        Err(trove_client::ClientError::NotFound)
    ));
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/v1/records", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // A foreign Host (DNS rebinding) and other methods are refused by the proxy itself.
    let r = http
        .get(format!("{}/v1/records", p.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    let r = http
        .delete(format!("{}/v1/grant", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // The link's token went out, never the caller's.
    {
        let seen = trove.seen.lock().unwrap();
        assert!(seen.requests.iter().all(
            |(_, _, host, auth)| host == "trove.invalid" && auth == &format!("Bearer {TOKEN}")
        ));
    }
    // Revocation passes through too.
    c.revoke().await.unwrap();
    let r = http
        .get(format!("{}/v1/grant", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_says_when_the_trove_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let link = common::offline_link(None).encode().to_string();
    let p = proxy(dir.path(), &link, &["--timeout", "300ms"]).await;
    let r = reqwest::get(format!("{}/v1/records", p.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "30");
    let body: trove_client::ErrorBody = r.json().await.unwrap();
    assert_eq!(body.error, "unreachable");
    // The typed client over the proxy gives the same error as over iroh.
    let c = trove_client::Client::new(&p.base, "trove_x").unwrap();
    let e = c.grant().await.unwrap_err();
    assert_eq!(e.code(), "unreachable", "{e}");
    assert!(e.to_string().contains("not reachable right now"), "{e}");
}

#[tokio::test]
async fn proxy_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let link = common::offline_link(None).encode().to_string();
    let out = org(dir.path(), &["proxy", &link, "--listen", "0.0.0.0:0"], None).await;
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("refusing to listen on 0.0.0.0:0"), "{err}");
}
