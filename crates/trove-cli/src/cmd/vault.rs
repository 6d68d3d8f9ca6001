//! Vault commands: init, status, passwd, recover, remember, forget, demo.

use serde_json::json;
use trove_core::{demo, Error, KdfParams, OsKeyring, Passphrase, RecoveryKey, Result, Vault};

use crate::ctx::{env_or_prompt_new, interactive, Ctx};
use crate::{outln, output};

fn print_recovery_key(ctx: &Ctx, vault: &Vault, key: &RecoveryKey, extra: serde_json::Value) {
    if ctx.json {
        let mut v = json!({ "vault": vault.dir(), "recovery_key": key.expose_secret() });
        if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
            obj.extend(more.clone());
        }
        output::json(&v);
    } else {
        outln!("Created a vault at {}.", vault.dir().display());
        outln!("");
        outln!("Recovery key (shown only this once; store it somewhere safe, apart from");
        outln!("this computer. It is the only way back in if you forget the passphrase):");
        outln!("");
        outln!("    {}", key.expose_secret());
    }
}

/// The strength rule for a new passphrase, and the deliberate way around it.
#[derive(clap::Args)]
pub struct NewPassphraseArgs {
    /// Keep a passphrase that fails the strength rule (at least 10 characters, not
    /// common, not easily guessed). A weak passphrase makes a stolen vault easier to open.
    #[arg(long)]
    allow_weak_passphrase: bool,
}

impl NewPassphraseArgs {
    fn check(&self, pass: &Passphrase) -> Result<()> {
        trove_core::passphrase_policy::check_new(pass, self.allow_weak_passphrase)
    }
}

pub fn init(ctx: &Ctx, a: NewPassphraseArgs) -> Result<()> {
    let pass = ctx.new_vault_passphrase()?;
    a.check(&pass)?;
    let (vault, key) = Vault::create(&ctx.vault_dir, &pass)?;
    print_recovery_key(ctx, &vault, &key, json!({}));
    Ok(())
}

pub fn demo(ctx: &Ctx) -> Result<()> {
    let pass = ctx.new_vault_passphrase()?;
    let d = demo::create(&ctx.vault_dir, &pass, KdfParams::for_new_key())?;
    let (records, sharing) = (d.records, &d.sharing);
    print_recovery_key(
        ctx,
        &d.vault,
        &d.recovery_key,
        json!({ "records": records, "grants": sharing.grants, "log_entries": sharing.log_entries }),
    );
    if !ctx.json {
        outln!("");
        outln!(
            "Added {records} sample records, {} grants and {} access-log entries. Try `trove list`,",
            sharing.grants,
            sharing.log_entries
        );
        outln!("`trove search berlin`, `trove grant list` or `trove log --summary`.");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Also verify every page of the database (reads the whole vault)
    #[arg(long)]
    check: bool,
}

pub fn status(ctx: &Ctx, a: StatusArgs) -> Result<()> {
    let vault = ctx.unlock()?;
    if a.check {
        vault.check_integrity()?;
    }
    let info = Vault::info(vault.dir())?;
    let by_type = vault.count_by_type()?;
    let total: u64 = by_type.values().sum();
    let (grants, active_grants) = vault.count_grants()?;
    if ctx.json {
        output::json(&json!({
            "vault": info.path,
            "vault_id": info.vault_id,
            "created_at": info.created_at,
            "records": total,
            "records_by_type": by_type,
            "grants": grants,
            "active_grants": active_grants,
            "remembered": info.remembered,
            "integrity": if a.check { "ok" } else { "not checked" },
        }));
    } else {
        outln!("vault:      {}", info.path.display());
        outln!("created:    {}", info.created_at);
        outln!("records:    {total}");
        for (t, n) in &by_type {
            outln!("  {t:<14}{n}");
        }
        outln!("grants:     {grants} ({active_grants} active)");
        outln!(
            "remembered: {}",
            if info.remembered {
                "yes (OS keyring)"
            } else {
                "no"
            }
        );
    }
    Ok(())
}

pub fn passwd(ctx: &Ctx, a: NewPassphraseArgs) -> Result<()> {
    // The current passphrase is needed even when this device remembers the vault.
    let current = ctx.current_passphrase()?;
    let vault = ctx.unlock_with(&current)?;
    let new = env_or_prompt_new("TROVE_NEW_PASSPHRASE", "New passphrase: ")?;
    a.check(&new)?;
    vault.change_passphrase(&current, &new)?;
    done(
        ctx,
        "Passphrase changed. The old one no longer opens the vault.",
    )
}

pub fn recover(ctx: &Ctx, a: NewPassphraseArgs) -> Result<()> {
    Vault::info(&ctx.vault_dir)?;
    let key = match std::env::var("TROVE_RECOVERY_KEY") {
        Ok(k) => RecoveryKey::new(k),
        Err(_) if interactive() => RecoveryKey::new(
            crate::ctx::prompt("Recovery key: ")?
                .expose_secret()
                .to_string(),
        ),
        Err(_) => return Err(Error::NoPassphrase),
    };
    let new = env_or_prompt_new("TROVE_NEW_PASSPHRASE", "New passphrase: ")?;
    a.check(&new)?;
    Vault::recover(&ctx.vault_dir, &key, &new)?;
    done(
        ctx,
        "New passphrase set with the recovery key. Keep the recovery key: it still works.",
    )
}

pub fn remember(ctx: &Ctx) -> Result<()> {
    let vault = ctx.unlock()?;
    vault.remember(&OsKeyring)?;
    done(
        ctx,
        "This device now remembers the vault key (in the OS keyring). `trove forget` undoes it.",
    )
}

pub fn forget(ctx: &Ctx) -> Result<()> {
    Vault::forget(&ctx.vault_dir, &OsKeyring)?;
    done(
        ctx,
        "The vault key is no longer kept on this device; the passphrase is needed again.",
    )
}

fn done(ctx: &Ctx, message: &str) -> Result<()> {
    if ctx.json {
        output::json(&json!({ "ok": true, "message": message }));
    } else {
        outln!("{message}");
    }
    Ok(())
}
