//! Trove's typed errors. Each has a stable `code()` (for the UI and the CLI's exit codes)
//! and a `hint()` that tells the person what to do next.

use std::path::PathBuf;

/// Everything that can go wrong in trove-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("wrong recovery key")]
    WrongRecoveryKey,
    #[error("no passphrase given and no terminal to ask for one")]
    NoPassphrase,
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    #[error("no vault at {}", .0.display())]
    NoVault(PathBuf),
    #[error("a vault already exists at {}", .0.display())]
    VaultExists(PathBuf),
    #[error("the vault is locked")]
    Locked,
    #[error("the vault is damaged: {0}")]
    VaultDamaged(String),
    #[error("the key file is damaged: {0}")]
    KeyFileDamaged(String),
    #[error("this vault was made by a newer Trove ({0})")]
    UnsupportedVersion(String),
    #[error("no record with id {0}")]
    NotFound(String),
    #[error("unknown record type `{ty}` (known types: {known})")]
    UnknownType { ty: String, known: String },
    #[error("unknown field `{field}` for type `{ty}` (fields: {known})")]
    UnknownField {
        ty: String,
        field: String,
        known: String,
    },
    #[error("invalid {ty}.{field}: {reason}")]
    InvalidField {
        ty: String,
        field: String,
        reason: String,
    },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("can't use the keyring: {0}")]
    Keyring(String),
    #[error("this device does not remember the vault key")]
    NotRemembered,
    #[error("the vault is busy (another Trove process holds a write lock)")]
    Busy,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(String),
    #[error("no grant with id {0}")]
    GrantNotFound(String),
    #[error("the grant was revoked")]
    GrantRevoked,
    #[error("the grant has expired")]
    GrantExpired,
    #[error("the grant has used up its allowed uses")]
    GrantExhausted,
    #[error("the share token is not valid")]
    InvalidToken,
    #[error("the grant does not cover {0}")]
    InsufficientScope(String),
    #[error(
        "`{ty}` records cannot be granted: they hold data about other people, not yours to share"
    )]
    NotGrantable { ty: String },
    #[error("invalid expiry: {0}")]
    InvalidExpiry(String),
    #[error("could not write the access log, so nothing was disclosed: {0}")]
    LogWriteFailed(String),
    #[error("the access log does not verify: {0}")]
    LogTampered(String),
    #[error("the bundle's passphrase is wrong")]
    BundleWrongPassphrase,
    #[error("none of the given age identities can open this bundle")]
    BundleWrongIdentity,
    #[error("this bundle is encrypted with a passphrase, not to an age recipient")]
    BundleNeedsPassphrase,
    #[error("this bundle is encrypted to an age recipient; an identity is needed to open it")]
    BundleNeedsIdentity,
    #[error("the bundle's passphrase work factor is {log_n}; at most {max} is accepted")]
    BundleWorkFactor { log_n: u8, max: u8 },
    #[error("the bundle is damaged: {0}")]
    BundleDamaged(String),
    #[error("the bundle is not a Trove bundle: {0}")]
    BundleFormat(String),
    #[error("unsafe or unexpected bundle member: {0}")]
    BundleMember(String),
    #[error("bundle too large: {0}")]
    BundleTooLarge(String),
    #[error("bundle member {member} does not match the SHA-256 in its manifest")]
    BundleHashMismatch { member: String },
    #[error("{file} line {line}: {reason}")]
    BadLine {
        file: String,
        line: u64,
        reason: String,
    },
    #[error("{file}: {} malformed line(s): {}", .problems.len(), summarize_problems(.problems))]
    ImportMalformed {
        file: String,
        /// Every problem found, as (line number, reason).
        problems: Vec<(u64, String)>,
    },
}

fn summarize_problems(problems: &[(u64, String)]) -> String {
    let mut s = problems
        .iter()
        .take(5)
        .map(|(l, r)| format!("line {l}: {r}"))
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > 5 {
        s.push_str(&format!("; and {} more", problems.len() - 5));
    }
    s
}

/// Shorthand for results in trove-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A stable, machine-readable code; the UI and scripts switch on it, never on text.
    pub fn code(&self) -> &'static str {
        match self {
            Error::WrongPassphrase => "wrong_passphrase",
            Error::WrongRecoveryKey => "wrong_recovery_key",
            Error::NoPassphrase => "no_passphrase",
            Error::EmptyPassphrase => "empty_passphrase",
            Error::NoVault(_) => "no_vault",
            Error::VaultExists(_) => "vault_exists",
            Error::Locked => "locked",
            Error::VaultDamaged(_) => "vault_damaged",
            Error::KeyFileDamaged(_) => "key_file_damaged",
            Error::UnsupportedVersion(_) => "unsupported_version",
            Error::NotFound(_) => "not_found",
            Error::UnknownType { .. } => "unknown_type",
            Error::UnknownField { .. } => "unknown_field",
            Error::InvalidField { .. } => "invalid_field",
            Error::InvalidInput(_) => "invalid_input",
            Error::Keyring(_) => "keyring",
            Error::NotRemembered => "not_remembered",
            Error::Busy => "busy",
            Error::Io { .. } => "io",
            Error::Database(_) => "database",
            Error::GrantNotFound(_) => "grant_not_found",
            Error::GrantRevoked => "grant_revoked",
            Error::GrantExpired => "grant_expired",
            Error::GrantExhausted => "grant_exhausted",
            Error::InvalidToken => "invalid_token",
            Error::InsufficientScope(_) => "insufficient_scope",
            Error::NotGrantable { .. } => "not_grantable",
            Error::InvalidExpiry(_) => "invalid_expiry",
            Error::LogWriteFailed(_) => "log_write_failed",
            Error::LogTampered(_) => "log_tampered",
            Error::BundleWrongPassphrase => "bundle_wrong_passphrase",
            Error::BundleWrongIdentity => "bundle_wrong_identity",
            Error::BundleNeedsPassphrase => "bundle_needs_passphrase",
            Error::BundleNeedsIdentity => "bundle_needs_identity",
            Error::BundleWorkFactor { .. } => "bundle_work_factor",
            Error::BundleDamaged(_) => "bundle_damaged",
            Error::BundleFormat(_) => "bundle_format",
            Error::BundleMember(_) => "bundle_member",
            Error::BundleTooLarge(_) => "bundle_too_large",
            Error::BundleHashMismatch { .. } => "bundle_hash_mismatch",
            Error::BadLine { .. } => "bad_line",
            Error::ImportMalformed { .. } => "import_malformed",
        }
    }

    /// True for errors that mean "could not unlock" (the CLI exits with 3).
    pub fn is_unlock_failure(&self) -> bool {
        matches!(
            self,
            Error::WrongPassphrase
                | Error::WrongRecoveryKey
                | Error::NoPassphrase
                | Error::BundleWrongPassphrase
                | Error::BundleWrongIdentity
        )
    }

    /// What the person can do next, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::WrongPassphrase => "check the passphrase and try again; if it is lost, \
                run `trove recover` with the recovery key shown at `trove init`"
                .into(),
            Error::WrongRecoveryKey => {
                "the recovery key starts with AGE-SECRET-KEY-1; paste it exactly as shown at `trove init`".into()
            }
            Error::NoPassphrase => "pass --passphrase-file FILE or set TROVE_PASSPHRASE, \
                or run in a terminal to be asked"
                .into(),
            Error::EmptyPassphrase => "choose a non-empty passphrase".into(),
            Error::NoVault(_) => "create one with `trove init` (or `trove demo`), or point \
                --vault / TROVE_VAULT at an existing vault"
                .into(),
            Error::VaultExists(_) => {
                "use that vault, or choose another directory with --vault".into()
            }
            Error::Locked => "unlock the vault first".into(),
            Error::VaultDamaged(_) => "the encrypted database failed its integrity check; \
                restore the vault directory from a backup or import your last bundle \
                into a new vault"
                .into(),
            Error::KeyFileDamaged(_) => "restore trove.key from a backup of the vault directory".into(),
            Error::UnsupportedVersion(_) => "upgrade Trove to open this vault".into(),
            Error::NotFound(_) => "list records with `trove list`".into(),
            Error::InvalidField { .. } => "fix the value and try again; `trove types` lists each type's fields and formats".into(),
            Error::UnknownType { .. } | Error::UnknownField { .. } => {
                "see `trove types` for the record types and their fields".into()
            }
            Error::Keyring(_) => "the vault still opens with its passphrase".into(),
            Error::NotRemembered => "run `trove remember` to keep the key on this device".into(),
            Error::Busy => "wait for the other Trove process to finish and try again".into(),
            Error::GrantNotFound(_) => "list grants with `trove grant list`".into(),
            Error::GrantRevoked | Error::GrantExpired | Error::GrantExhausted => {
                "ask the person for a new grant (`trove grant create`)".into()
            }
            Error::InvalidToken => "check that the whole token was copied (it starts with trove_); \
                tokens of revoked, expired or used-up grants stop working"
                .into(),
            Error::InsufficientScope(_) => {
                "the grant's scope is shown by `trove grant show ID`; create a grant with a wider scope".into()
            }
            Error::InvalidExpiry(_) => {
                "use a duration like 30d, 12h or 45m, or a future date like 2026-12-31".into()
            }
            Error::LogWriteFailed(_) => "check free disk space and `trove log verify`; the request \
                can be retried"
                .into(),
            Error::LogTampered(_) => "the access log was altered outside Trove; restore the vault \
                from a backup to recover the original log"
                .into(),
            Error::BundleWrongPassphrase => "check the export passphrase \
                (TROVE_EXPORT_PASSPHRASE or the prompt); nothing was imported"
                .into(),
            Error::BundleWrongIdentity => "pass the age identity file whose public key the \
                bundle was exported to (--identity FILE); nothing was imported"
                .into(),
            Error::BundleNeedsPassphrase => "drop --identity and give the export passphrase \
                (TROVE_EXPORT_PASSPHRASE or the prompt)"
                .into(),
            Error::BundleNeedsIdentity => "pass the age identity file with --identity FILE".into(),
            Error::BundleWorkFactor { .. } => "Trove writes bundles with work factor 18; re-encrypt \
                this file with a lower scrypt work factor (e.g. `age -p`) if you trust it"
                .into(),
            Error::BundleDamaged(_) | Error::BundleHashMismatch { .. } => "the file was truncated \
                or altered after export; export it again from the source vault. Nothing was imported"
                .into(),
            Error::BundleFormat(_) => "pass a .trove file written by `trove export`, or choose \
                another --format (vcard, csv, json)"
                .into(),
            Error::BundleMember(_) | Error::BundleTooLarge(_) => "this file was not written by \
                `trove export` or was tampered with; nothing was imported"
                .into(),
            Error::BadLine { .. } | Error::ImportMalformed { .. } => "fix the named lines and import \
                again (use --dry-run to see every problem); nothing was imported"
                .into(),
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                    "free some disk space and try again (an export needs room for about \
                    twice the bundle while it runs)"
                        .into()
                }
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    "check that you may write there, or choose another place".into()
                }
                std::io::ErrorKind::NotFound => "check that the path exists".into(),
                _ => return None,
            },
            _ => return None,
        })
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            match f.code {
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                    return Error::VaultDamaged(
                        "a page of the database does not decrypt or does not verify".into(),
                    )
                }
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => return Error::Busy,
                _ => {}
            }
        }
        Error::Database(e.to_string())
    }
}

impl Error {
    /// An I/O error with the path or operation it concerns.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn io_errors_say_what_to_do_when_the_cause_is_known() {
        let hint = |kind: ErrorKind| Error::io("can't write x", kind.into()).hint();
        assert!(hint(ErrorKind::StorageFull).unwrap().contains("disk space"));
        assert!(hint(ErrorKind::PermissionDenied)
            .unwrap()
            .contains("another place"));
        assert!(hint(ErrorKind::NotFound).unwrap().contains("path exists"));
        assert_eq!(hint(ErrorKind::Interrupted), None);
        let e = Error::io("can't write x", ErrorKind::StorageFull.into());
        assert_eq!(e.code(), "io");
        assert!(e.to_string().starts_with("can't write x: "), "{e}");
    }
}
