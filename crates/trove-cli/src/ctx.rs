//! What every command needs: the vault directory, the output mode, and the passphrase
//! chain (`--passphrase-file`, `TROVE_PASSPHRASE`, the OS keyring if remembered, a prompt).

use std::io::IsTerminal;
use std::path::PathBuf;

use trove_core::anchor::AnchorStore;
use trove_core::{Error, OsKeyring, Passphrase, Result, Vault};

/// The resolved global options.
pub struct Ctx {
    pub vault_dir: PathBuf,
    pub json: bool,
    passphrase_file: Option<PathBuf>,
    /// `trove log accept-restore`: take an older vault (a restored backup) as it is.
    pub accept_restore: bool,
}

impl Ctx {
    pub fn new(
        vault: Option<PathBuf>,
        json: bool,
        passphrase_file: Option<PathBuf>,
    ) -> Result<Ctx> {
        let vault_dir = match vault {
            Some(v) => v,
            None => trove_core::paths::default_vault_dir().ok_or_else(|| {
                Error::InvalidInput("this system has no data directory; pass --vault DIR".into())
            })?,
        };
        Ok(Ctx {
            vault_dir,
            json,
            passphrase_file,
            accept_restore: false,
        })
    }

    /// Unlocks the vault (see [`Ctx::unlock_only`]), then does the staging work that is
    /// due (deleting the copies of ended grants, re-publishing changed ones): retried at
    /// every command until done.
    pub fn unlock(&self) -> Result<Vault> {
        let vault = self.unlock_only()?;
        // Said once, after the upgrade that moved an old import's address book.
        if let Ok(Some(n)) = trove_core::importers::take_person_migration_notice(&vault) {
            eprintln!(
                "note: {n} records that an earlier vCard import had stored as your own (identity, contact, address, employment, note) were moved to `person` records: they describe people you know, and no grant can reach them"
            );
        }
        sync_staging(&vault);
        Ok(vault)
    }

    /// Unlocks the vault: `--passphrase-file`, `TROVE_PASSPHRASE`, the OS keyring when
    /// this device remembers the vault, then a prompt on a terminal.
    pub fn unlock_only(&self) -> Result<Vault> {
        self.anchored(self.unlock_unchecked()?)
    }

    /// Unlocks the vault with `passphrase` only (never the OS keyring), with the same
    /// rollback check as [`Ctx::unlock_only`].
    pub fn unlock_with(&self, passphrase: &Passphrase) -> Result<Vault> {
        self.anchored(Vault::unlock(&self.vault_dir, passphrase)?)
    }

    /// The current passphrase, for commands that must prove it even on a device that
    /// remembers the vault: `--passphrase-file`, `TROVE_PASSPHRASE`, or a prompt.
    pub fn current_passphrase(&self) -> Result<Passphrase> {
        Vault::info(&self.vault_dir)?;
        match self.given_passphrase()? {
            Some(p) => Ok(p),
            None => prompt("Current passphrase: "),
        }
    }

    fn anchored(&self, mut vault: Vault) -> Result<Vault> {
        // Before anything is read or served: is this the newest vault this computer saw?
        if let Some(store) = AnchorStore::default_location() {
            let check = vault.hold_anchor(store, self.accept_restore)?;
            if self.accept_restore && !check.is_ok() {
                eprintln!("accepted: this computer now takes this vault as the newest");
            }
        }
        Ok(vault)
    }

    fn unlock_unchecked(&self) -> Result<Vault> {
        if let Some(p) = self.given_passphrase()? {
            return Vault::unlock(&self.vault_dir, &p);
        }
        // Reading the key file first also turns "no vault here" into a clear error
        // before anyone is asked for a passphrase.
        let info = Vault::info(&self.vault_dir)?;
        if info.remembered {
            match Vault::unlock_remembered(&self.vault_dir, &OsKeyring) {
                Ok(v) => return Ok(v),
                Err(e @ (Error::Keyring(_) | Error::NotRemembered)) => {
                    eprintln!("note: {e}; falling back to the passphrase");
                }
                Err(e) => return Err(e),
            }
        }
        let p = prompt("Passphrase: ")?;
        Vault::unlock(&self.vault_dir, &p)
    }

    /// The passphrase for a new vault: file, environment, or asked twice on a terminal.
    pub fn new_vault_passphrase(&self) -> Result<Passphrase> {
        match self.given_passphrase()? {
            Some(p) => Ok(p),
            None => prompt_new("New passphrase: "),
        }
    }

    fn given_passphrase(&self) -> Result<Option<Passphrase>> {
        if let Some(f) = &self.passphrase_file {
            return read_passphrase_file(f).map(Some);
        }
        Ok(std::env::var("TROVE_PASSPHRASE").ok().map(Passphrase::new))
    }
}

/// The largest `--passphrase-file` read: a passphrase is a line, not a file's worth.
pub const MAX_PASSPHRASE_FILE_BYTES: u64 = 4096;

/// The first line of a passphrase file, read with a cap (a device or a huge file given
/// by mistake is refused, not read into memory).
fn read_passphrase_file(f: &std::path::Path) -> Result<Passphrase> {
    use std::io::Read;
    let err = |e| Error::io(format!("can't read passphrase file {}", f.display()), e);
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    std::fs::File::open(f)
        .map_err(err)?
        .take(MAX_PASSPHRASE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > MAX_PASSPHRASE_FILE_BYTES {
        return Err(Error::InvalidInput(format!(
            "passphrase file {} is larger than {MAX_PASSPHRASE_FILE_BYTES} bytes; it should \
             hold the passphrase on its first line",
            f.display()
        )));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::InvalidInput(format!("passphrase file {} is not UTF-8 text", f.display()))
    })?;
    Ok(Passphrase::new(
        text.lines().next().unwrap_or("").to_string(),
    ))
}

/// True when a person can be asked: a terminal on stdin and stderr.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks for a secret on the terminal, or fails with `NoPassphrase` without one.
pub fn prompt(label: &str) -> Result<Passphrase> {
    if !interactive() {
        return Err(Error::NoPassphrase);
    }
    rpassword::prompt_password(label)
        .map(Passphrase::new)
        .map_err(|e| Error::io("can't read the passphrase from the terminal", e))
}

/// Asks for a new passphrase twice; reads `TROVE_NEW_PASSPHRASE` first when set by the
/// caller via [`env_or_prompt_new`].
pub fn prompt_new(label: &str) -> Result<Passphrase> {
    let first = prompt(label)?;
    let again = prompt("Repeat it: ")?;
    if first.expose_secret() != again.expose_secret() {
        return Err(Error::InvalidInput(
            "the two passphrases differ; nothing was changed".into(),
        ));
    }
    Ok(first)
}

/// A new secret from the environment variable `var`, else asked twice on a terminal.
pub fn env_or_prompt_new(var: &str, label: &str) -> Result<Passphrase> {
    match std::env::var(var) {
        Ok(v) => Ok(Passphrase::new(v)),
        Err(_) if interactive() => prompt_new(label),
        Err(_) => Err(Error::InvalidInput(format!(
            "no new passphrase: set {var} or run in a terminal to be asked"
        ))),
    }
}

/// Does the staging work that is due for `vault` and says on stderr what happened. A
/// vault without staged copies costs one query. Failures stay due (the grant shows them)
/// and never fail the command.
pub fn sync_staging(vault: &Vault) {
    if !matches!(vault.has_staged_copies(), Ok(true)) {
        return;
    }
    let report = match trove_share::staging::block_on(trove_share::staging::sync(vault)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("note: staging: {e}");
            return;
        }
    };
    for (id, v) in &report.republished {
        eprintln!("staged copy of grant {id} re-published (version {v})");
    }
    for id in &report.deleted {
        eprintln!("staged copy of grant {id} deleted from storage");
    }
    for f in &report.failures {
        eprintln!(
            "note: staged copy of grant {}: {}; Trove retries at the next command (`trove grant show {}`)",
            f.grant_id, f.message, f.grant_id
        );
    }
}
