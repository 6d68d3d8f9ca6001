//! `trove-org`: the organization's side of Trove's share links. Its own endpoint key,
//! reading a grant live from the person's Trove over iroh, and a loopback proxy that
//! serves the plain HTTP share API to the organization's own systems.
//!
//! Exit codes: 0 ok, 1 error (the reason on stderr), 2 usage.

mod proxy;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use trove_client::{
    fetch_records, Client, OrgKey, PathPolicy, RemoteOptions, ShareLink, StagedOptions,
    VersionMemory,
};
use zeroize::Zeroizing;

const LINK_HELP: &str = "The share link (TROVE1-…), or - to read it from stdin, or @FILE to read it from a file. Prefer - or @FILE: the link holds the grant's token, and command lines end up in shell history and process lists";

#[derive(Parser)]
#[command(
    name = "trove-org",
    version,
    about = "Read what a person shares with your organization through Trove",
    long_about = "Read what a person shares with your organization through Trove.\n\n\
The person gives you a share link (TROVE1-…). trove-org reaches their Trove live over iroh \
(QUIC dialled by their endpoint id: directly, or through a relay that only forwards \
encrypted packets) and reads with the link's token, as your organization's endpoint key. \
Every read is decided, counted and logged on the person's computer.\n\n\
Your key lives in $XDG_CONFIG_HOME/trove-org/ (or ~/.config/trove-org/); back it up: \
grants may be bound to it.",
    after_help = "Exit codes: 0 ok, 1 error (the reason on stderr), 2 usage."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print this organization's endpoint id (created on first use); give it to a person
    /// who wants to bind a grant to your organization.
    Id,
    /// Print the grant behind a link (organization, purpose, scope, expiry, uses) as JSON.
    Grant {
        #[arg(value_name = "LINK", help = LINK_HELP)]
        link: String,
        #[command(flatten)]
        net: Net,
    },
    /// Fetch the granted records: {"records": [...]} as JSON on stdout, or into a file.
    /// Live first; when the person's Trove does not answer and the link has a staged
    /// copy, from that copy (verified before anything is written). Says on stderr which
    /// path answered.
    Fetch {
        #[arg(value_name = "LINK", help = LINK_HELP)]
        link: String,
        /// Only records of this type (e.g. contact).
        #[arg(long = "type", value_name = "TYPE")]
        record_type: Option<String>,
        /// Write the JSON to FILE (created atomically, readable only by you) instead of
        /// stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        net: Net,
    },
    /// Serve the plain HTTP share API on this computer's loopback, forwarding each
    /// request to the person's Trove with the link's token (GET /v1/grant,
    /// GET /v1/records[?type=T], GET /v1/records/ID, POST /v1/revoke, GET /healthz).
    Proxy {
        #[arg(value_name = "LINK", help = LINK_HELP)]
        link: String,
        /// Where to listen: a loopback address such as 127.0.0.1:7879 (port 0 picks a
        /// free one; the address is printed once ready).
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
        #[command(flatten)]
        net: Net,
    },
}

#[derive(Args)]
struct Net {
    /// Use this relay instead of the ones in the link (a self-hosted iroh-relay,
    /// https://…; plain http:// only for a relay on this computer).
    #[arg(long, value_name = "URL")]
    relay: Option<String>,
    /// Give up connecting, and waiting for each answer, after this long (e.g. 10s,
    /// 500ms, 2m). Default: 15s to connect, 30s per answer.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Which network path to use.
    #[arg(long, value_enum, default_value_t = PathArg::Any)]
    path: PathArg,
    /// Say on stderr how the person's Trove was reached (direct or relayed).
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum PathArg {
    /// Direct when possible, else through a relay.
    Any,
    /// Only the link's direct addresses.
    Direct,
    /// Only through a relay.
    Relay,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trove-org: can't start: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trove-org: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Id => {
            let (key, created) = load_key()?;
            if created {
                eprintln!(
                    "trove-org: created a new endpoint key in {} (back it up: grants may be bound to it)",
                    key_path()?.display()
                );
            }
            println!("{}", key.endpoint_id());
            Ok(())
        }
        Cmd::Grant { link, net } => {
            let client = connect(&link, &net).await?;
            let grant = client.grant().await;
            report_path(&client, &net);
            client.close().await;
            println!("{}", serde_json::to_string_pretty(&grant?)?);
            Ok(())
        }
        Cmd::Fetch {
            link,
            record_type,
            out,
            net,
        } => fetch(&link, record_type.as_deref(), out.as_deref(), &net).await,
        Cmd::Proxy { link, listen, net } => {
            proxy::check_listen(listen)?;
            let client = connect(&link, &net).await?;
            proxy::run(client, listen, net.verbose).await
        }
    }
}

/// The key file: `$XDG_CONFIG_HOME/trove-org/endpoint.key`, or under `~/.config`.
fn key_path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => match std::env::var_os("HOME").map(PathBuf::from) {
            Some(h) if h.is_absolute() => h.join(".config"),
            _ => bail!("can't tell where to keep the organization's key: set XDG_CONFIG_HOME or HOME to an absolute directory"),
        },
    };
    Ok(base.join("trove-org").join("endpoint.key"))
}

fn load_key() -> anyhow::Result<(OrgKey, bool)> {
    Ok(OrgKey::load_or_create(&key_path()?)?)
}

/// The link's text from the argument, stdin (`-`) or a file (`@FILE`).
fn read_link(arg: &str) -> anyhow::Result<ShareLink> {
    /// Far above any link (they are at most a few KiB).
    const MAX: u64 = 64 * 1024;
    let text: Zeroizing<String> = if arg == "-" {
        let mut s = Zeroizing::new(String::new());
        std::io::stdin()
            .take(MAX)
            .read_to_string(&mut s)
            .context("can't read the link from stdin")?;
        s
    } else if let Some(file) = arg.strip_prefix('@') {
        let mut s = Zeroizing::new(String::new());
        std::fs::File::open(file)
            .and_then(|f| f.take(MAX).read_to_string(&mut s))
            .with_context(|| format!("can't read the link from {file}"))?;
        s
    } else {
        Zeroizing::new(arg.to_string())
    };
    // The link's own errors name the problem; none of them repeats the text.
    ShareLink::parse(&text).map_err(|e| anyhow!(e))
}

/// The organization's key, saying so on stderr when it was just made.
fn key_announced() -> anyhow::Result<OrgKey> {
    let (key, created) = load_key()?;
    if created {
        eprintln!(
            "trove-org: created this organization's endpoint key ({}) in {}",
            key.endpoint_id(),
            key_path()?.display()
        );
    }
    Ok(key)
}

/// How to reach the person's Trove live. With a staged copy to fall back to, the wait
/// to connect is shorter by default ([`CONNECT_BEFORE_STAGED`]).
fn remote_options(net: &Net, staged_fallback: bool) -> RemoteOptions {
    let mut options = RemoteOptions {
        relays: net.relay.clone().map(|r| vec![r]),
        path: match net.path {
            PathArg::Any => PathPolicy::Any,
            PathArg::Direct => PathPolicy::Direct,
            PathArg::Relay => PathPolicy::Relay,
        },
        ..RemoteOptions::default()
    };
    match net.timeout {
        Some(t) => options = options.timeout(t),
        None if staged_fallback => options.connect_timeout = CONNECT_BEFORE_STAGED,
        None => {}
    }
    options
}

/// The default wait to connect live when the link also has a staged copy.
const CONNECT_BEFORE_STAGED: Duration = Duration::from_secs(5);

async fn connect(link: &str, net: &Net) -> anyhow::Result<Client> {
    let link = read_link(link)?;
    let key = key_announced()?;
    let client = Client::remote(&link, &key, remote_options(net, false)).await?;
    if net.verbose {
        eprintln!(
            "trove-org: as {} dialling {}",
            key.endpoint_id(),
            client.peer_endpoint_id().unwrap_or_default()
        );
    }
    Ok(client)
}

/// `fetch`: live first, then the staged copy (verified before anything is written);
/// says on stderr which path answered.
async fn fetch(
    link: &str,
    record_type: Option<&str>,
    out: Option<&Path>,
    net: &Net,
) -> anyhow::Result<()> {
    let link = read_link(link)?;
    let key = key_announced()?;
    let live = remote_options(net, link.staged.is_some());
    let mut memory = match &link.staged {
        Some(_) => Some(VersionMemory::open(&versions_path()?)?),
        None => None,
    };
    let staged = StagedOptions {
        memory: memory.as_mut(),
        timeout: net.timeout.unwrap_or(StagedOptions::default().timeout),
        ..StagedOptions::default()
    };
    let fetched = fetch_records(&link, &key, record_type, live, staged).await?;
    if let Some(e) = &fetched.live_failure {
        eprintln!("trove-org: the live path did not answer ({e})");
    }
    eprintln!("trove-org: answered by {}", fetched.answered);
    let n = fetched.records.len();
    let mut json = serde_json::to_string_pretty(&trove_wire::Records {
        records: fetched.records,
    })?;
    json.push('\n');
    match out {
        None => print!("{json}"),
        Some(path) => {
            write_atomically(path, json.as_bytes())?;
            eprintln!("trove-org: wrote {n} records to {}", path.display());
        }
    }
    Ok(())
}

/// The highest staged version seen per grant: `staged-versions.json` next to the key,
/// so that storage serving an older copy later is noticed.
fn versions_path() -> anyhow::Result<PathBuf> {
    Ok(key_path()?.with_file_name("staged-versions.json"))
}

fn report_path(client: &Client, net: &Net) {
    if net.verbose {
        if let Some(p) = client.network_path() {
            eprintln!("trove-org: reached the person's Trove ({p})");
        }
    }
}

/// `10s`, `500ms`, `2m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 10s, 500ms, 2m)"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("{s:?} is not a duration (like 10s, 500ms, 2m)")),
    };
    if d.is_zero() {
        return Err("the timeout must be longer than zero".into());
    }
    Ok(d)
}

/// Writes `data` to `path` via a private temporary file in the same directory and a
/// rename: readers see the old file or the whole new one, never a part.
fn write_atomically(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("{} is not a file name", path.display()))?,
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("can't write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
