//! Sharing commands: grant create/list/show/revoke, serve (the share API), and the
//! access log (entries, per-organization summary, verify).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use trove_core::{Error, Grant, LogEntry, LogFilter, NewGrant, Result};

use crate::ctx::Ctx;
use crate::{outln, output};

#[derive(Subcommand)]
pub enum GrantCmd {
    /// Give an organization read access to a scope; prints the share link once
    Create(Box<CreateArgs>),
    /// List grants with their status and uses, newest first
    List,
    /// Show one grant (with --receipt: its consent receipts)
    Show(ShowArgs),
    /// Revoke a grant: its token stops working on the very next request
    Revoke(GrantId),
}

#[derive(Args)]
pub struct CreateArgs {
    /// The organization that receives access
    #[arg(long, value_name = "ORG")]
    org: String,
    /// Why it gets access (free text, required)
    #[arg(long, value_name = "TEXT")]
    purpose: String,
    /// TYPE (all fields) or TYPE.FIELD (repeatable)
    #[arg(long, value_name = "S", required = true)]
    scope: Vec<String>,
    /// When access ends: 30d, 12h, 45m, or an RFC 3339 date (2026-12-31) or date-time
    #[arg(long, value_name = "E")]
    expires: Option<String>,
    /// How many data-returning requests are allowed
    #[arg(long, value_name = "N")]
    max_uses: Option<u64>,
    /// Only records carrying this tag
    #[arg(long, value_name = "T")]
    only_tag: Option<String>,
    /// Only this record (repeatable; its type must be in the scope); without it the
    /// grant covers every record of the scope's types
    #[arg(long = "record", value_name = "ID")]
    records: Vec<String>,
    /// Also available while this computer is off: an encrypted, signed copy on your own
    /// storage (reads are not counted; at most 7 days; no --max-uses)
    #[arg(long, conflicts_with = "max_uses")]
    offline: bool,
    /// The storage target for --offline (needed when there are several)
    #[arg(long, value_name = "NAME", requires = "offline")]
    storage: Option<String>,
    /// Encrypt the offline copy to the organization's own age key (age1…) instead of a
    /// key carried in the link
    #[arg(long, value_name = "RECIPIENT", requires = "offline")]
    to: Option<String>,
    /// Bind the grant to this organization endpoint key (64 hex characters, from
    /// `trove-org id`); otherwise it binds to the first key that uses it remotely
    #[arg(long, value_name = "KEY")]
    org_key: Option<String>,
}

#[derive(Args)]
pub struct GrantId {
    /// The grant id
    id: String,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The grant id
    id: String,
    /// Also print the grant's consent receipts (Kantara CR v1.1 JSON)
    #[arg(long)]
    receipt: bool,
}

pub fn grant(ctx: &Ctx, cmd: GrantCmd) -> Result<()> {
    match cmd {
        GrantCmd::Create(a) => create(ctx, *a),
        GrantCmd::List => list(ctx),
        GrantCmd::Show(a) => show(ctx, a),
        GrantCmd::Revoke(a) => revoke(ctx, a),
    }
}

fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let vault = ctx.unlock()?;
    let new = NewGrant {
        org: a.org,
        purpose: a.purpose,
        scope: a.scope,
        only_tag: a.only_tag,
        expires: a.expires,
        max_uses: a.max_uses,
        records: a.records,
        org_key: a.org_key,
    };
    if a.offline {
        return create_offline(ctx, &vault, new, a.storage, a.to);
    }
    let (g, token) = vault.create_grant(&new)?;
    let link = trove_share::vault_share_link(&vault, &token)?;
    if ctx.json {
        let mut v = serde_json::to_value(&g).expect("grant serializes");
        if let Some(o) = v.as_object_mut() {
            o.insert("token".into(), json!(token.expose_secret()));
            o.insert("link".into(), json!(link.as_str()));
        }
        output::json(&v);
    } else {
        outln!("grant: {}", g.id);
        outln!("token: {}", token.expose_secret());
        outln!("link:  {}", link.as_str());
        eprintln!(
            "The token and the link are shown only this once. Give the link to {} over a \
             channel you trust (it reaches this vault while `trove serve --remote` runs); \
             `trove grant revoke {}` ends access.",
            output::safe(&g.org),
            g.id
        );
    }
    Ok(())
}

fn create_offline(
    ctx: &Ctx,
    vault: &trove_core::Vault,
    grant: NewGrant,
    storage: Option<String>,
    to: Option<String>,
) -> Result<()> {
    let req = trove_core::OfflineGrant { grant, storage, to };
    let mut made =
        trove_share::staging::block_on(trove_share::staging::create_offline_grant(vault, &req))??;
    // One link for both paths: where this vault answers live (when remote sharing was
    // set up), and the staged copy.
    let live = trove_share::vault_live_address(vault)?;
    let link = made.link(live).encode();
    let g = &made.grant;
    if ctx.json {
        let mut v = serde_json::to_value(g).expect("grant serializes");
        if let Some(o) = v.as_object_mut() {
            o.insert("token".into(), json!(made.token().expose_secret()));
            o.insert("link".into(), json!(link.as_str()));
            o.insert("staging".into(), json!(made.staging));
        }
        output::json(&v);
    } else {
        outln!("grant: {}", g.id);
        outln!("link:  {}", link.as_str());
        eprintln!(
            "The link is shown only this once. Give it to {} over a channel you trust. \
             An encrypted copy is on storage {} until {}: reads from there are not counted \
             (enforced by your storage). `trove grant revoke {}` deletes it.",
            g.org, made.staging.storage, made.staging.available_until, g.id
        );
    }
    Ok(())
}

fn uses(g: &Grant) -> String {
    match g.max_uses {
        Some(m) => format!("{}/{m}", g.uses),
        None => g.uses.to_string(),
    }
}

fn scope_text(g: &Grant) -> String {
    let items: Vec<String> = g.scope.items.iter().map(ToString::to_string).collect();
    let mut s = items.join(", ");
    if let Some(t) = &g.scope.only_tag {
        s.push_str(&format!(" [tag {t}]"));
    }
    if let Some(r) = &g.scope.records {
        s.push_str(&format!(" [{} chosen record(s)]", r.len()));
    }
    output::safe(&s).into_owned()
}

fn list(ctx: &Ctx) -> Result<()> {
    let grants = ctx.unlock()?.list_grants()?;
    if ctx.json {
        output::json(&json!({ "grants": grants }));
        return Ok(());
    }
    if grants.is_empty() {
        eprintln!("no grants; create one with `trove grant create`");
        return Ok(());
    }
    for g in &grants {
        outln!(
            "{}  {:<9}  {:<24}  uses {:<6}  {}",
            g.id,
            g.status.as_str(),
            output::safe(&g.org),
            uses(g),
            scope_text(g)
        );
    }
    Ok(())
}

fn grant_text(g: &Grant) {
    outln!("id:         {}", output::safe(&g.id));
    outln!("org:        {}", output::safe(&g.org));
    outln!("purpose:    {}", output::safe(&g.purpose));
    outln!("scope:      {}", scope_text(g));
    outln!("status:     {}", g.status);
    outln!("uses:       {}", uses(g));
    outln!("created:    {}", g.created_at);
    outln!("expires:    {}", g.expires_at.as_deref().unwrap_or("never"));
    if let Some(k) = &g.org_key {
        outln!("org key:    {k}");
    }
    if let Some(r) = &g.revoked_at {
        outln!("revoked:    {r}");
    }
}

fn staging_text(s: &trove_core::StagingInfo) {
    outln!(
        "reach:      available from your storage until {} — reads are not counted (enforced by your storage)",
        s.available_until
    );
    outln!(
        "staging:    {} (version {}, {} records) on storage {}",
        s.state,
        s.version,
        s.records,
        s.storage
    );
    if let Some(r) = &s.reason {
        outln!("            {r}");
    }
}

fn show(ctx: &Ctx, a: ShowArgs) -> Result<()> {
    let vault = ctx.unlock()?;
    let g = vault.get_grant(&a.id)?;
    let staging = vault.staging_info(&a.id)?;
    let gone = vault.grant_records_gone(&g)?;
    let receipts = if a.receipt {
        Some(vault.grant_receipts(&a.id)?)
    } else {
        None
    };
    if ctx.json {
        let mut v = serde_json::to_value(&g).expect("grant serializes");
        if let Some(o) = v.as_object_mut() {
            let by = if staging.is_some() {
                "your storage"
            } else {
                "this computer"
            };
            o.insert("enforced_by".into(), json!(by));
            o.insert("staging".into(), json!(staging));
            if g.scope.records.is_some() {
                o.insert("records_gone".into(), json!(gone));
            }
            if let Some(r) = receipts {
                o.insert("receipts".into(), json!(r));
            }
        }
        output::json(&v);
    } else {
        grant_text(&g);
        if let Some(ids) = &g.scope.records {
            for (i, id) in ids.iter().enumerate() {
                let label = if i == 0 { "records:" } else { "" };
                let note = if gone.contains(id) {
                    "  (deleted since: no longer shared)"
                } else {
                    ""
                };
                outln!("{label:<11} {}{note}", output::safe(id));
            }
        }
        match &staging {
            Some(s) => staging_text(s),
            None => outln!("reach:      enforced by this computer"),
        }
        if let Some(r) = receipts {
            outln!("");
            outln!("consent receipts:");
            output::json(&r);
        }
    }
    Ok(())
}

fn revoke(ctx: &Ctx, a: GrantId) -> Result<()> {
    let vault = ctx.unlock()?;
    let g = vault.revoke_grant(&a.id)?;
    // A staged copy goes at once (or stays "deletion pending" until storage answers).
    crate::ctx::sync_staging(&vault);
    let staging = vault.staging_info(&g.id)?;
    if ctx.json {
        let mut v = serde_json::to_value(&g).expect("grant serializes");
        if let Some(o) = v.as_object_mut() {
            o.insert("staging".into(), json!(staging));
        }
        output::json(&v);
    } else {
        outln!(
            "Revoked grant {} ({}): its token no longer works.",
            g.id,
            output::safe(&g.org)
        );
        if let Some(s) = staging {
            if s.state.is_final() {
                outln!("Its staged copy was deleted from storage {}.", s.storage);
            } else {
                outln!(
                    "Its staged copy on storage {} is not deleted yet ({}); Trove retries at the next command.",
                    s.storage,
                    s.reason.as_deref().unwrap_or("storage did not answer")
                );
            }
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct ServeArgs {
    /// The address to listen on (127.0.0.1:0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// TLS certificate chain (PEM); needed to listen on a non-loopback address
    #[arg(long, value_name = "F", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, value_name = "F", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Another Host name to answer for (besides 127.0.0.1, localhost and [::1])
    #[arg(long, value_name = "NAME")]
    host_name: Option<String>,
    /// Also answer organizations over the internet (iroh: dialed by this vault's
    /// endpoint key, through relays that only forward encrypted packets)
    #[arg(long)]
    remote: bool,
    /// With --remote: use this self-hosted iroh relay (https://…) from now on, or
    /// `default` for the public relays; remembered in the vault and named in new links
    #[arg(long, value_name = "URL", requires = "remote")]
    relay: Option<String>,
}

fn serve_error(e: trove_share::ServeError) -> Error {
    use trove_share::ServeError as E;
    const TLS: &str = "pass --tls-cert FILE --tls-key FILE";
    match e {
        E::Io(io) => Error::io("the share server failed", io),
        E::TlsRequired(_) => Error::InvalidInput(format!("{e}; {TLS}")),
        E::HostNameNeedsTls(_) => Error::InvalidInput(format!("--host-name: {e}; {TLS}")),
        E::Tls(_) => Error::InvalidInput(e.to_string()),
    }
}

pub fn serve(ctx: &Ctx, a: ServeArgs) -> Result<()> {
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(trove_share::tls_acceptor(c, k).map_err(serve_error)?),
        _ => None,
    };
    // Refuse before asking for a passphrase.
    trove_share::check_bind(&a.listen, tls.is_some()).map_err(serve_error)?;
    trove_share::check_host_name(a.host_name.as_deref(), tls.is_some()).map_err(serve_error)?;
    let relay = match a.relay.as_deref() {
        None => None,
        Some("default") => Some(None),
        Some(url) => Some(Some(trove_core::remote::validate_relay_url(url)?)),
    };
    let vault = ctx.unlock()?;
    let remote = match a.remote {
        false => None,
        true => Some(crate::cmd::remote::prepare(&vault, relay)?),
    };
    // Staged copies: re-published when records change, deleted when grants end, checked
    // every minute while serving (on a thread with its own vault handle).
    let (stop_sync, stopped) = std::sync::mpsc::channel::<()>();
    let sync_vault = vault.try_clone()?;
    let sync = std::thread::spawn(move || {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(STAGING_INTERVAL)
        {
            crate::ctx::sync_staging(&sync_vault);
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("can't start the server runtime", e))?;
    let served = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| Error::io(format!("can't listen on {}", a.listen), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("can't read the listening address", e))?;
        let state = trove_share::ShareState::new(
            vault,
            trove_share::ShareConfig {
                port: local.port(),
                host_name: a.host_name,
                ..Default::default()
            },
        );
        let scheme = if tls.is_some() { "https" } else { "http" };
        outln!("listening on {scheme}://{local}");
        let Some(remote) = remote else {
            return trove_share::serve(listener, state, tls, shutdown_signal())
                .await
                .map_err(serve_error);
        };
        // One shutdown signal for both sides of the same server.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let endpoint = remote.bind().await?;
        let local_side = trove_share::serve(listener, state.clone(), tls, stopped(stop_rx.clone()));
        let remote_side =
            trove_share::serve_remote(endpoint.clone(), state, stopped(stop_rx.clone()));
        let announce = remote.announce(&endpoint, stop_rx.clone());
        let signal = async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        };
        let (l, r, (), ()) = tokio::join!(local_side, remote_side, announce, signal);
        remote.stopped();
        l.and(r).map_err(serve_error)
    });
    drop(stop_sync);
    let _ = sync.join();
    served
}

/// How often `trove serve` checks staged copies.
const STAGING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("shutting down");
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LogArgs {
    #[command(subcommand)]
    cmd: Option<LogCmd>,
    /// Only entries of this organization
    #[arg(long, value_name = "ORG")]
    org: Option<String>,
    /// Only entries of this grant
    #[arg(long = "grant", value_name = "ID")]
    grant_id: Option<String>,
    /// At most N entries (newest first)
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Only entries older than entry SEQ (the next page: pass the last seq shown)
    #[arg(long, value_name = "SEQ")]
    before: Option<i64>,
    /// Per organization: what it has seen (types, fields, records) and when
    #[arg(long)]
    summary: bool,
}

#[derive(Subcommand)]
pub enum LogCmd {
    /// Recompute the hash chain and name the first entry that does not match
    Verify,
    /// Accept this vault although it is older than the one last opened on this computer
    /// (you restored a backup on purpose); the newer copy's later entries are given up
    AcceptRestore,
}

/// Whether `command` is `trove log accept-restore` (the one way to open an older vault).
pub fn accepts_restore(command: &crate::Command) -> bool {
    matches!(
        command,
        crate::Command::Log(LogArgs {
            cmd: Some(LogCmd::AcceptRestore),
            ..
        })
    )
}

pub fn log(ctx: &Ctx, a: LogArgs) -> Result<()> {
    let vault = ctx.unlock()?;
    if let Some(LogCmd::AcceptRestore) = a.cmd {
        let head = vault.log_head()?.map(|h| h.seq).unwrap_or(0);
        if ctx.json {
            output::json(&json!({ "accepted": true, "log_entries": head }));
        } else {
            outln!(
                "this computer now takes this vault (access log up to entry {head}) as the newest"
            );
        }
        return Ok(());
    }
    if let Some(LogCmd::Verify) = a.cmd {
        let r = vault.verify_log()?;
        if ctx.json {
            output::json(&r);
        } else if r.ok {
            outln!("ok: {} entries, hash chain intact", r.entries);
        }
        if !r.ok {
            return Err(Error::LogTampered(
                r.problem
                    .unwrap_or_else(|| "the chain does not verify".into()),
            ));
        }
        return Ok(());
    }
    if a.summary {
        let s = vault.log_summary(a.org.as_deref())?;
        if ctx.json {
            output::json(&json!({ "summary": s }));
        } else if s.is_empty() {
            eprintln!("no organization has made a request yet");
        } else {
            for o in &s {
                outln!("{}", output::safe(&o.org));
                outln!(
                    "  requests: {} ({} allowed)   records seen: {}",
                    o.requests,
                    o.allowed,
                    o.records
                );
                outln!(
                    "  first: {}   last: {}",
                    o.first_access.as_deref().unwrap_or("-"),
                    o.last_access.as_deref().unwrap_or("-")
                );
                let fields: Vec<&str> = o.fields.iter().map(String::as_str).collect();
                outln!(
                    "  fields: {}",
                    if fields.is_empty() {
                        "none".to_string()
                    } else {
                        output::safe(&fields.join(", ")).into_owned()
                    }
                );
            }
        }
        return Ok(());
    }
    // Streamed row by row: memory stays flat however long the log is.
    let filter = LogFilter {
        org: a.org,
        grant_id: a.grant_id,
        limit: a.limit,
        before: a.before,
    };
    let mut out = std::io::stdout().lock();
    let mut n = 0u64;
    if ctx.json {
        write_out(&mut out, b"{\"entries\":[")?;
    }
    vault.for_each_log_entry(&filter, |e| {
        let line = if ctx.json {
            let sep = if n == 0 { "" } else { "," };
            format!(
                "{sep}{}",
                serde_json::to_string(&e).expect("a log entry serializes")
            )
        } else {
            format!("{}\n", output::safe(&entry_line(&e)))
        };
        n += 1;
        write_out(&mut out, line.as_bytes())
    })?;
    if ctx.json {
        write_out(&mut out, b"]}\n")?;
    } else if n == 0 {
        eprintln!("the access log is empty");
    }
    Ok(())
}

fn write_out(out: &mut impl std::io::Write, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes)
        .map_err(|e| Error::io("write the log to standard output", e))
}

fn entry_line(e: &LogEntry) -> String {
    let mut s = format!(
        "{:>5}  {}  {:<12}  {:<22}",
        e.seq,
        e.time,
        e.kind.as_str(),
        e.org.as_deref().unwrap_or("-")
    );
    if let (Some(m), Some(p)) = (&e.method, &e.path) {
        s.push_str(&format!(
            "  {m} {p} {}",
            e.status.map(|x| x.to_string()).unwrap_or_default()
        ));
    }
    s.push_str(&format!("  {}", e.outcome));
    if let Some(n) = e.count {
        s.push_str(&format!("  ×{n} more within that minute"));
    }
    if let Some(k) = &e.org_key {
        s.push_str(&format!(
            "  remote key {} {}",
            trove_core::remote::short_key(k),
            e.route.map(|r| r.as_str()).unwrap_or("")
        ));
    }
    if !e.record_ids.is_empty() {
        s.push_str(&format!(
            "  {} record(s): {}",
            e.record_ids.len(),
            e.fields.join(", ")
        ));
    }
    s
}
