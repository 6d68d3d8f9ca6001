//! Trove's typed errors. Each has a stable `code()` (for the UI and the CLI's exit codes)
//! and a `hint()` that tells the person what to do next.

use std::path::PathBuf;

use serde::Serialize;

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
    #[error("that passphrase is too weak: {0}")]
    WeakPassphrase(Weakness),
    #[error("no vault at {}", .0.display())]
    NoVault(PathBuf),
    #[error("a vault already exists at {}", .0.display())]
    VaultExists(PathBuf),
    #[error("{} already holds other files; a new vault needs a new or empty directory", .0.display())]
    VaultDirNotEmpty(PathBuf),
    #[error("can't make {} private: {reason}", .path.display())]
    VaultPermissions { path: PathBuf, reason: String },
    #[error("the vault is locked")]
    Locked,
    #[error("this vault is older than the one last opened on this computer: {0}")]
    RolledBack(String),
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
    #[error("invalid organization key: {0}")]
    InvalidOrgKey(String),
    #[error("invalid relay URL: {0}")]
    InvalidRelayUrl(String),
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
    #[error("no storage target named {0:?}")]
    StorageNotFound(String),
    #[error("a storage target named {0:?} already exists")]
    StorageExists(String),
    #[error("storage target {name:?} still holds the staged copy of grant(s) {}", .grants.join(", "))]
    StorageInUse { name: String, grants: Vec<String> },
    #[error("no storage target is set up for offline grants")]
    NoStorage,
    #[error("several storage targets exist ({}): say which one", .0.join(", "))]
    StorageAmbiguous(Vec<String>),
    #[error("this grant cannot be offline: {0}")]
    OfflineNotAllowed(String),
    /// Talking to a storage target failed; `failure` says why, `message` names the
    /// target and the step (never a secret or a URL's signature).
    #[error("{message}")]
    Storage {
        failure: StorageFailure,
        message: String,
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
            Error::WeakPassphrase(_) => "weak_passphrase",
            Error::NoVault(_) => "no_vault",
            Error::VaultExists(_) => "vault_exists",
            Error::VaultDirNotEmpty(_) => "vault_dir_not_empty",
            Error::VaultPermissions { .. } => "vault_permissions",
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
            Error::InvalidOrgKey(_) => "invalid_org_key",
            Error::InvalidRelayUrl(_) => "invalid_relay_url",
            Error::LogWriteFailed(_) => "log_write_failed",
            Error::LogTampered(_) => "log_tampered",
            Error::RolledBack(_) => "vault_rolled_back",
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
            Error::StorageNotFound(_) => "storage_not_found",
            Error::StorageExists(_) => "storage_exists",
            Error::StorageInUse { .. } => "storage_in_use",
            Error::NoStorage => "no_storage",
            Error::StorageAmbiguous(_) => "storage_ambiguous",
            Error::OfflineNotAllowed(_) => "offline_not_allowed",
            Error::Storage { failure, .. } => failure.code(),
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
            Error::WeakPassphrase(_) => "four or more unrelated words are easy to remember and \
                hard to guess; a weak one can be kept only by choosing it deliberately"
                .into(),
            Error::NoVault(_) => "create one with `trove init` (or `trove demo`), or point \
                --vault / TROVE_VAULT at an existing vault"
                .into(),
            Error::VaultExists(_) => {
                "use that vault, or choose another directory with --vault".into()
            }
            Error::VaultDirNotEmpty(_) => "choose a directory that does not exist yet (or is \
                empty): the vault directory is made private to you (mode 0700), which must \
                never happen to a directory others use"
                .into(),
            Error::VaultPermissions { .. } => "the vault's files must be readable by you \
                alone; run Trove as the user who owns the vault directory, or fix its owner"
                .into(),
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
            Error::InvalidOrgKey(_) => "ask the organization for its endpoint key (its software \
                prints it; 64 hexadecimal characters) and paste it whole"
                .into(),
            Error::InvalidRelayUrl(_) => "give the URL of an iroh relay, e.g. \
                https://relay.example.org (plain http:// only for a relay on this computer)"
                .into(),
            Error::LogWriteFailed(_) => "check free disk space and `trove log verify`; the request \
                can be retried"
                .into(),
            Error::RolledBack(_) => "an older copy of the vault may have been put back (grants revoked since could be active again); restore the newer copy, or if you restored a backup on purpose, accept it with `trove log accept-restore` (or the app's prompt)"
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
            Error::StorageNotFound(_) => "list storage targets with `trove storage list`".into(),
            Error::StorageExists(_) => {
                "choose another name, or remove the old target with `trove storage rm NAME`".into()
            }
            Error::StorageInUse { .. } => "revoke those grants first (`trove grant revoke ID`): \
                their staged copies are deleted, then the target can be removed"
                .into(),
            Error::NoStorage => "add your S3-compatible storage with `trove storage add NAME \
                --endpoint URL --bucket B --access-key-id ID`"
                .into(),
            Error::StorageAmbiguous(_) => "pass --storage NAME".into(),
            Error::OfflineNotAllowed(_) => "drop --offline to share live only, or change the \
                grant (no --max-uses; a scope that matches records)"
                .into(),
            Error::Storage { failure, .. } => failure.hint().into(),
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

/// Which rule a weak passphrase breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Weakness {
    /// Fewer than [`MIN_CHARS`](crate::passphrase_policy::MIN_CHARS) characters.
    TooShort { chars: usize, min: usize },
    /// Contains a very common password (`password`, `123456`, ...).
    Common,
    /// Long enough, but its estimated entropy is below [`MIN_BITS`](crate::passphrase_policy::MIN_BITS).
    Guessable { bits: u32, min: u32 },
}

impl std::fmt::Display for Weakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Weakness::TooShort { chars, min } => {
                write!(f, "it has {chars} characters; at least {min} are needed")
            }
            Weakness::Common => f.write_str("it contains a very common password"),
            Weakness::Guessable { bits, min } => write!(
                f,
                "it is easy to guess (about {bits} bits; at least {min} are needed): \
                 repeats, sequences or too few kinds of characters"
            ),
        }
    }
}

/// Why a request to a storage target failed, as far as it can be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageFailure {
    /// The endpoint's host name does not resolve.
    Dns,
    /// No connection (refused, unreachable, timed out).
    Connection,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The access key id or secret key was refused.
    Credentials,
    /// The bucket does not exist.
    BucketMissing,
    /// The storage says this computer's clock is off.
    ClockSkew,
    /// The key is valid but may not do this.
    Denied,
    /// An object that must be new exists already.
    Exists,
    /// Anything else the storage answered.
    Unexpected,
}

impl StorageFailure {
    /// A stable code.
    pub fn code(self) -> &'static str {
        match self {
            StorageFailure::Dns => "storage_dns",
            StorageFailure::Connection => "storage_connection",
            StorageFailure::Tls => "storage_tls",
            StorageFailure::Credentials => "storage_credentials",
            StorageFailure::BucketMissing => "storage_bucket_missing",
            StorageFailure::ClockSkew => "storage_clock_skew",
            StorageFailure::Denied => "storage_denied",
            StorageFailure::Exists => "storage_exists_object",
            StorageFailure::Unexpected => "storage_unexpected",
        }
    }

    /// What the person can do about it.
    pub fn hint(self) -> &'static str {
        match self {
            StorageFailure::Dns => "check the endpoint's host name and this computer's network",
            StorageFailure::Connection => {
                "check that the endpoint is reachable from this computer (URL, port, network)"
            }
            StorageFailure::Tls => {
                "check that the endpoint URL is right and its certificate is valid"
            }
            StorageFailure::Credentials => {
                "check the access key id and secret key; to change them, remove the target \
                 and add it again"
            }
            StorageFailure::BucketMissing => "create the bucket first, or fix the bucket name",
            StorageFailure::ClockSkew => "set this computer's clock right, then try again",
            StorageFailure::Denied => {
                "give the key permission to write, read and delete objects under the prefix"
            }
            StorageFailure::Exists => "try again: Trove picks a new random name",
            StorageFailure::Unexpected => {
                "try again later; `trove storage test NAME` checks the target"
            }
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
