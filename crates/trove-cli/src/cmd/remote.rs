//! Remote sharing: `trove remote status | rotate`, and the remote side of `trove serve
//! --remote` (binding the vault's endpoint, announcing it once reachable).

use clap::Subcommand;
use serde_json::json;
use trove_core::{EndpointSecret, Error, Result, Vault};
use trove_share::{RemoteError, RemoteOptions};

use crate::ctx::Ctx;
use crate::{outln, output};

#[derive(Subcommand)]
pub enum RemoteCmd {
    /// The vault's endpoint id, its relay, and whether a server last reported it reachable
    Status,
    /// Make a new endpoint key: every share link made so far stops reaching this vault
    Rotate,
}

pub fn remote(ctx: &Ctx, cmd: RemoteCmd) -> Result<()> {
    match cmd {
        RemoteCmd::Status => status(ctx),
        RemoteCmd::Rotate => rotate(ctx),
    }
}

fn status(ctx: &Ctx) -> Result<()> {
    let vault = ctx.unlock()?;
    let id = hex(trove_share::endpoint_id(&vault.endpoint_secret()?));
    let s = vault.remote_settings()?;
    let options = RemoteOptions::from_settings(&s).map_err(remote_error)?;
    let relays = trove_share::relay_urls(&options.relay);
    if ctx.json {
        output::json(&json!({
            "endpoint_id": id,
            "relay": s.relay,
            "relays": relays,
            "enabled": s.enabled,
            "presence": s.presence,
        }));
        return Ok(());
    }
    outln!("endpoint id:  {id}");
    match &s.relay {
        Some(r) => outln!("relay:        {r} (self-hosted)"),
        None => outln!(
            "relay:        the default public relays ({})",
            relays.join(", ")
        ),
    }
    outln!(
        "app switch:   {} (\"Reachable from the internet\")",
        if s.enabled { "on" } else { "off" }
    );
    match &s.presence {
        Some(p) if p.state == "online" => outln!(
            "last report:  reachable via {} since {}",
            p.home_relay.as_deref().unwrap_or("a relay"),
            p.since
        ),
        Some(p) => outln!("last report:  not served since {}", p.since),
        None => outln!("last report:  never served remotely (run `trove serve --remote`)"),
    }
    Ok(())
}

fn rotate(ctx: &Ctx) -> Result<()> {
    let vault = ctx.unlock()?;
    let id = hex(trove_share::endpoint_id(&vault.rotate_endpoint_secret()?));
    if ctx.json {
        output::json(&json!({ "endpoint_id": id }));
    } else {
        outln!("endpoint id:  {id}");
        eprintln!(
            "Links made before no longer reach this vault; create new grants to share again. \
             A running `trove serve --remote` keeps the old key until it restarts."
        );
    }
    Ok(())
}

fn hex(b: [u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn remote_error(e: RemoteError) -> Error {
    match e {
        RemoteError::Relay(u) => Error::InvalidRelayUrl(u),
        other => Error::io(
            "can't open the remote endpoint",
            std::io::Error::other(other.to_string()),
        ),
    }
}

/// What `serve --remote` needs, read from the vault before it is handed to the server.
pub struct Prepared {
    secret: EndpointSecret,
    options: RemoteOptions,
    presence: Vault,
}

/// Applies `--relay` (`Some(None)`: back to the default relays) and reads the key and
/// the relay the endpoint will use.
pub fn prepare(vault: &Vault, relay: Option<Option<String>>) -> Result<Prepared> {
    if let Some(r) = relay {
        vault.set_remote_relay(r.as_deref())?;
    }
    let options = RemoteOptions::from_settings(&vault.remote_settings()?).map_err(remote_error)?;
    Ok(Prepared {
        secret: vault.endpoint_secret()?,
        options,
        presence: vault.try_clone()?,
    })
}

impl Prepared {
    pub async fn bind(&self) -> Result<trove_share::RemoteEndpoint> {
        trove_share::bind_endpoint(&self.secret, &self.options)
            .await
            .map_err(remote_error)
    }

    /// Prints `remote endpoint ID` once the endpoint is connected to its relay (and
    /// notes on stderr while it is not), and records that in the vault; gives up when
    /// the server stops.
    pub async fn announce(
        &self,
        endpoint: &trove_share::RemoteEndpoint,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let online = trove_share::wait_online(endpoint);
        let mut online = std::pin::pin!(online);
        let mut warned = false;
        loop {
            tokio::select! {
                home = &mut online => {
                    outln!("remote endpoint {}", trove_share::endpoint_id_text(endpoint));
                    if let Err(e) = self.presence.record_remote_presence(Some(&home)) {
                        tracing::warn!(code = %e.code(), "can't record the remote presence");
                    }
                    return;
                }
                _ = tokio::time::sleep(std::time::Duration::from_secs(15)), if !warned => {
                    warned = true;
                    eprintln!(
                        "the relay cannot be reached yet; organizations can connect once it \
                         is (still trying)"
                    );
                }
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Records that the endpoint no longer answers.
    pub fn stopped(&self) {
        if let Err(e) = self.presence.record_remote_presence(None) {
            tracing::warn!(code = %e.code(), "can't record the remote presence");
        }
    }
}
