//! Storage targets for offline grants: `trove storage add | list | test | rm`. The secret
//! key comes from `TROVE_STORAGE_SECRET` or a prompt and is kept only in the vault.

use clap::{Args, Subcommand};
use serde_json::json;
use trove_core::{Error, NewStorageTarget, Result, StorageSecret};

use crate::ctx::{self, Ctx};
use crate::{outln, output};

#[derive(Subcommand)]
pub enum StorageCmd {
    /// Add an S3-compatible storage target (secret key from TROVE_STORAGE_SECRET or a prompt)
    Add(AddArgs),
    /// List storage targets (never their secret keys)
    List,
    /// Write, read back and delete a probe object; says which step failed and why
    Test(NameArg),
    /// Remove a storage target (refused while it holds a staged copy)
    Rm(NameArg),
}

#[derive(Args)]
pub struct AddArgs {
    /// A short name for this target (lower-case letters, digits, - and _)
    name: String,
    /// The S3 endpoint, e.g. https://s3.eu-central-1.amazonaws.com or https://ACCOUNT.r2.cloudflarestorage.com
    #[arg(long, value_name = "URL")]
    endpoint: String,
    /// The bucket (it must exist)
    #[arg(long, value_name = "B")]
    bucket: String,
    /// The access key id (the secret key is read from TROVE_STORAGE_SECRET or asked)
    #[arg(long, value_name = "ID")]
    access_key_id: String,
    /// The region [default: us-east-1; R2 uses auto]
    #[arg(long, value_name = "R")]
    region: Option<String>,
    /// A folder inside the bucket for Trove's objects, e.g. trove/
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
}

#[derive(Args)]
pub struct NameArg {
    /// The storage target's name
    name: String,
}

pub fn storage(ctx: &Ctx, cmd: StorageCmd) -> Result<()> {
    match cmd {
        StorageCmd::Add(a) => add(ctx, a),
        StorageCmd::List => list(ctx),
        StorageCmd::Test(a) => test(ctx, a),
        StorageCmd::Rm(a) => rm(ctx, a),
    }
}

/// The secret key: `TROVE_STORAGE_SECRET`, else asked on a terminal.
fn secret() -> Result<StorageSecret> {
    if let Ok(s) = std::env::var("TROVE_STORAGE_SECRET") {
        return Ok(StorageSecret::new(s));
    }
    if !ctx::interactive() {
        return Err(Error::InvalidInput(
            "no secret key: set TROVE_STORAGE_SECRET or run in a terminal to be asked".into(),
        ));
    }
    let p = ctx::prompt("Secret access key: ")?;
    Ok(StorageSecret::new(p.expose_secret().to_string()))
}

fn add(ctx: &Ctx, a: AddArgs) -> Result<()> {
    let secret = secret()?;
    let info = ctx.unlock()?.add_storage(&NewStorageTarget {
        name: a.name,
        endpoint: a.endpoint,
        bucket: a.bucket,
        region: a.region,
        prefix: a.prefix,
        access_key_id: a.access_key_id,
        secret,
    })?;
    if ctx.json {
        output::json(&info);
    } else {
        outln!(
            "added storage {}: {} at {}",
            info.name,
            info.location(""),
            info.endpoint
        );
        eprintln!(
            "The secret key is kept only in the encrypted vault. Check the connection with \
             `trove storage test {}`.",
            info.name
        );
    }
    Ok(())
}

fn list(ctx: &Ctx) -> Result<()> {
    let targets = ctx.unlock()?.list_storage()?;
    if ctx.json {
        output::json(&json!({ "storage": targets }));
        return Ok(());
    }
    if targets.is_empty() {
        eprintln!("no storage targets; add one with `trove storage add NAME --endpoint URL --bucket B --access-key-id ID`");
    }
    for t in &targets {
        outln!(
            "{:<16}  {:<40}  {}  (key id {}, region {})",
            t.name,
            t.location(""),
            t.endpoint,
            t.access_key_id,
            t.region
        );
    }
    Ok(())
}

fn test(ctx: &Ctx, a: NameArg) -> Result<()> {
    let target = ctx.unlock()?.storage_target(&a.name)?;
    let report = trove_share::staging::block_on(trove_share::staging::test_storage(&target))??;
    if ctx.json {
        output::json(&report);
    } else {
        for s in &report.steps {
            match &s.message {
                None => outln!("{:<6}  ok", s.step),
                Some(m) => outln!("{:<6}  FAILED: {m}", s.step),
            }
        }
        if report.ok {
            outln!(
                "storage {} works: Trove can write, read and delete objects there",
                report.storage
            );
        }
    }
    match report.first_error() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn rm(ctx: &Ctx, a: NameArg) -> Result<()> {
    let info = ctx.unlock()?.remove_storage(&a.name)?;
    if ctx.json {
        output::json(&json!({ "removed": info.name }));
    } else {
        outln!(
            "removed storage {} (its objects, if any, were already deleted)",
            info.name
        );
    }
    Ok(())
}
