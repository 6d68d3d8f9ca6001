//! Trove's typed errors. Each has a stable [`ErrorCode`] (for the UI and scripts), its
//! data in the variant's fields, and text that says what went wrong without naming any
//! front end's commands, flags or screens: the CLI and the app word the next step.

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
    #[error("{} already exists", .0.display())]
    FileExists(PathBuf),
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
    /// A CSV header Trove cannot read: not a contacts export it knows, or (with a record
    /// type) none of that type's fields. `suggested` pairs a column with the `person`
    /// field it looks like under another name (never applied on its own).
    #[error("{}", csv_columns_message(.columns, .record_type.as_deref(), .fields))]
    CsvColumns {
        columns: Vec<String>,
        record_type: Option<String>,
        /// The record type's fields, when there is one.
        fields: Vec<String>,
        /// (column, person field) for columns that look like known ones.
        suggested: Vec<(String, String)>,
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

fn csv_columns_message(columns: &[String], record_type: Option<&str>, fields: &[String]) -> String {
    match record_type {
        Some(t) => format!(
            "none of the columns is a field of {t} (fields: {})",
            fields.join(", ")
        ),
        None => format!(
            "the columns ({}) are not a contacts export Trove knows (Google, Outlook, \
             Thunderbird, Windows Live Mail)",
            columns
                .iter()
                .take(12)
                .map(|h| format!("{:?}", h.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Shorthand for results in trove-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal,)*) => {
        /// The stable, machine-readable code of an [`Error`]: the UI and scripts switch on
        /// it, never on text. Serialized as the snake_case string [`ErrorCode::as_str`]
        /// returns (`wrong_passphrase`, `grant_expired`, ...); those strings never change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as its stable string (the same as its serde form).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    WrongPassphrase = "wrong_passphrase",
    WrongRecoveryKey = "wrong_recovery_key",
    NoPassphrase = "no_passphrase",
    EmptyPassphrase = "empty_passphrase",
    WeakPassphrase = "weak_passphrase",
    NoVault = "no_vault",
    VaultExists = "vault_exists",
    VaultDirNotEmpty = "vault_dir_not_empty",
    VaultPermissions = "vault_permissions",
    Locked = "locked",
    VaultDamaged = "vault_damaged",
    KeyFileDamaged = "key_file_damaged",
    UnsupportedVersion = "unsupported_version",
    NotFound = "not_found",
    UnknownType = "unknown_type",
    UnknownField = "unknown_field",
    InvalidField = "invalid_field",
    InvalidInput = "invalid_input",
    FileExists = "file_exists",
    Keyring = "keyring",
    NotRemembered = "not_remembered",
    Busy = "busy",
    Io = "io",
    Database = "database",
    GrantNotFound = "grant_not_found",
    GrantRevoked = "grant_revoked",
    GrantExpired = "grant_expired",
    GrantExhausted = "grant_exhausted",
    InvalidToken = "invalid_token",
    InsufficientScope = "insufficient_scope",
    NotGrantable = "not_grantable",
    InvalidExpiry = "invalid_expiry",
    InvalidOrgKey = "invalid_org_key",
    InvalidRelayUrl = "invalid_relay_url",
    LogWriteFailed = "log_write_failed",
    LogTampered = "log_tampered",
    VaultRolledBack = "vault_rolled_back",
    BundleWrongPassphrase = "bundle_wrong_passphrase",
    BundleWrongIdentity = "bundle_wrong_identity",
    BundleNeedsPassphrase = "bundle_needs_passphrase",
    BundleNeedsIdentity = "bundle_needs_identity",
    BundleWorkFactor = "bundle_work_factor",
    BundleDamaged = "bundle_damaged",
    BundleFormat = "bundle_format",
    BundleMember = "bundle_member",
    BundleTooLarge = "bundle_too_large",
    BundleHashMismatch = "bundle_hash_mismatch",
    BadLine = "bad_line",
    ImportMalformed = "import_malformed",
    StorageNotFound = "storage_not_found",
    StorageExists = "storage_exists",
    StorageInUse = "storage_in_use",
    NoStorage = "no_storage",
    StorageAmbiguous = "storage_ambiguous",
    OfflineNotAllowed = "offline_not_allowed",
    /// [`StorageFailure::Dns`].
    StorageDns = "storage_dns",
    /// [`StorageFailure::Connection`].
    StorageConnection = "storage_connection",
    /// [`StorageFailure::Tls`].
    StorageTls = "storage_tls",
    /// [`StorageFailure::Credentials`].
    StorageCredentials = "storage_credentials",
    /// [`StorageFailure::BucketMissing`].
    StorageBucketMissing = "storage_bucket_missing",
    /// [`StorageFailure::ClockSkew`].
    StorageClockSkew = "storage_clock_skew",
    /// [`StorageFailure::Denied`].
    StorageDenied = "storage_denied",
    /// [`StorageFailure::Exists`].
    StorageExistsObject = "storage_exists_object",
    /// [`StorageFailure::Unexpected`].
    StorageUnexpected = "storage_unexpected",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Error {
    /// A stable, machine-readable code; the UI and scripts switch on it, never on text.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Error::WrongPassphrase => C::WrongPassphrase,
            Error::WrongRecoveryKey => C::WrongRecoveryKey,
            Error::NoPassphrase => C::NoPassphrase,
            Error::EmptyPassphrase => C::EmptyPassphrase,
            Error::WeakPassphrase(_) => C::WeakPassphrase,
            Error::NoVault(_) => C::NoVault,
            Error::VaultExists(_) => C::VaultExists,
            Error::VaultDirNotEmpty(_) => C::VaultDirNotEmpty,
            Error::VaultPermissions { .. } => C::VaultPermissions,
            Error::Locked => C::Locked,
            Error::VaultDamaged(_) => C::VaultDamaged,
            Error::KeyFileDamaged(_) => C::KeyFileDamaged,
            Error::UnsupportedVersion(_) => C::UnsupportedVersion,
            Error::NotFound(_) => C::NotFound,
            Error::UnknownType { .. } => C::UnknownType,
            Error::UnknownField { .. } => C::UnknownField,
            Error::InvalidField { .. } => C::InvalidField,
            Error::InvalidInput(_) => C::InvalidInput,
            Error::FileExists(_) => C::FileExists,
            Error::Keyring(_) => C::Keyring,
            Error::NotRemembered => C::NotRemembered,
            Error::Busy => C::Busy,
            Error::Io { .. } => C::Io,
            Error::Database(_) => C::Database,
            Error::GrantNotFound(_) => C::GrantNotFound,
            Error::GrantRevoked => C::GrantRevoked,
            Error::GrantExpired => C::GrantExpired,
            Error::GrantExhausted => C::GrantExhausted,
            Error::InvalidToken => C::InvalidToken,
            Error::InsufficientScope(_) => C::InsufficientScope,
            Error::NotGrantable { .. } => C::NotGrantable,
            Error::InvalidExpiry(_) => C::InvalidExpiry,
            Error::InvalidOrgKey(_) => C::InvalidOrgKey,
            Error::InvalidRelayUrl(_) => C::InvalidRelayUrl,
            Error::LogWriteFailed(_) => C::LogWriteFailed,
            Error::LogTampered(_) => C::LogTampered,
            Error::RolledBack(_) => C::VaultRolledBack,
            Error::BundleWrongPassphrase => C::BundleWrongPassphrase,
            Error::BundleWrongIdentity => C::BundleWrongIdentity,
            Error::BundleNeedsPassphrase => C::BundleNeedsPassphrase,
            Error::BundleNeedsIdentity => C::BundleNeedsIdentity,
            Error::BundleWorkFactor { .. } => C::BundleWorkFactor,
            Error::BundleDamaged(_) => C::BundleDamaged,
            Error::BundleFormat(_) => C::BundleFormat,
            Error::BundleMember(_) => C::BundleMember,
            Error::BundleTooLarge(_) => C::BundleTooLarge,
            Error::BundleHashMismatch { .. } => C::BundleHashMismatch,
            Error::BadLine { .. } => C::BadLine,
            Error::ImportMalformed { .. } => C::ImportMalformed,
            Error::CsvColumns { .. } => C::InvalidInput,
            Error::StorageNotFound(_) => C::StorageNotFound,
            Error::StorageExists(_) => C::StorageExists,
            Error::StorageInUse { .. } => C::StorageInUse,
            Error::NoStorage => C::NoStorage,
            Error::StorageAmbiguous(_) => C::StorageAmbiguous,
            Error::OfflineNotAllowed(_) => C::OfflineNotAllowed,
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

    /// What the person can do next, in words that fit every front end: it names no
    /// command, flag, button or screen. Each front end words the step its own users take
    /// where that matters (the CLI's `hint`, the app's `ApiError`), and falls back to
    /// this; `None` when only a front end can say something useful.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::WrongPassphrase => "check the passphrase and try again; if it is lost, \
                recover the vault with the recovery key shown when it was created"
                .into(),
            Error::WrongRecoveryKey => "the recovery key starts with AGE-SECRET-KEY-1; paste it \
                exactly as shown when the vault was created"
                .into(),
            Error::NoPassphrase | Error::EmptyPassphrase => {
                "give the vault's passphrase (it cannot be empty)".into()
            }
            Error::WeakPassphrase(_) => "four or more unrelated words are easy to remember and \
                hard to guess; a weak one can be kept only by choosing it deliberately"
                .into(),
            Error::NoVault(_) => "create a vault there, or open an existing one".into(),
            Error::VaultExists(_) => "use that vault, or choose another directory".into(),
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
            Error::InvalidField { .. } => "fix the value and try again".into(),
            Error::FileExists(_) => "choose another name, or say that the file should be \
                replaced; nothing was written"
                .into(),
            Error::Keyring(_) => "the vault still opens with its passphrase".into(),
            Error::NotRemembered => "unlock with the passphrase; this device can then \
                remember the key again"
                .into(),
            Error::Busy => "wait for the other Trove process to finish and try again".into(),
            Error::GrantRevoked | Error::GrantExpired | Error::GrantExhausted => {
                "ask the person for a new grant".into()
            }
            Error::InvalidToken => "check that the whole token was copied (it starts with trove_); \
                tokens of revoked, expired or used-up grants stop working"
                .into(),
            Error::InsufficientScope(_) => "ask for (or create) a grant with a wider scope".into(),
            Error::InvalidExpiry(_) => {
                "use a duration like 30d, 12h or 45m, or a future date like 2026-12-31".into()
            }
            Error::InvalidOrgKey(_) => "ask the organization for its endpoint key (its software \
                prints it; 64 hexadecimal characters) and paste it whole"
                .into(),
            Error::InvalidRelayUrl(_) => "give the URL of an iroh relay, e.g. \
                https://relay.example.org (plain http:// only for a relay on this computer)"
                .into(),
            Error::LogWriteFailed(_) => "check free disk space and verify the access log; the \
                request can be retried"
                .into(),
            Error::RolledBack(_) => "an older copy of the vault may have been put back (grants \
                revoked since could be active again); restore the newer copy, or accept this \
                one if you restored a backup on purpose"
                .into(),
            Error::LogTampered(_) => "the access log was altered outside Trove; restore the vault \
                from a backup to recover the original log"
                .into(),
            Error::BundleWrongPassphrase => {
                "check the bundle's export passphrase; nothing was imported".into()
            }
            Error::BundleWrongIdentity => "use the age identity whose public key the bundle was \
                exported to; nothing was imported"
                .into(),
            Error::BundleNeedsPassphrase => {
                "give the bundle's export passphrase instead of an age identity".into()
            }
            Error::BundleNeedsIdentity => {
                "give the age identity whose public key the bundle was exported to".into()
            }
            Error::BundleWorkFactor { .. } => "Trove writes bundles with work factor 18; re-encrypt \
                this file with a lower scrypt work factor (e.g. `age -p`) if you trust it"
                .into(),
            Error::BundleDamaged(_) | Error::BundleHashMismatch { .. } => "the file was truncated \
                or altered after export; export it again from the source vault. Nothing was imported"
                .into(),
            Error::BundleFormat(_) => "choose a bundle Trove exported, or another format \
                (vCard, CSV, JSON)"
                .into(),
            Error::BundleMember(_) | Error::BundleTooLarge(_) => "this file was not written by \
                Trove's export or was tampered with; nothing was imported"
                .into(),
            Error::BadLine { .. } | Error::ImportMalformed { .. } => {
                "fix the named lines and import again; nothing was imported".into()
            }
            Error::CsvColumns {
                record_type: Some(_),
                ..
            } => "map columns to fields (COLUMN=field)".into(),
            Error::CsvColumns { suggested, .. } => {
                let mut h = String::from(
                    "map them to person fields (COLUMN=field), or name the record type of the rows",
                );
                if !suggested.is_empty() {
                    h.push_str("; some columns look like known ones with other names, if they are, map them: ");
                    h.push_str(
                        &suggested
                            .iter()
                            .map(|(c, f)| format!("\"{c}={f}\""))
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                }
                h
            }
            Error::StorageExists(_) => {
                "choose another name, or remove the old storage target first".into()
            }
            Error::StorageInUse { .. } => "revoke those grants first: their staged copies are \
                deleted, then the target can be removed"
                .into(),
            Error::NoStorage => "add your S3-compatible storage first".into(),
            Error::StorageAmbiguous(_) => "say which storage target the grant goes to".into(),
            Error::OfflineNotAllowed(_) => "share it live only, or change the grant (no use \
                limit; a scope that matches records)"
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

impl Error {
    /// One instance of every variant (and of every storage failure), with realistic data:
    /// for tests of how each front end words errors (no `trove` command in the app, ...).
    #[doc(hidden)]
    pub fn examples() -> Vec<Error> {
        let s = |t: &str| t.to_string();
        let mut all = vec![
            Error::WrongPassphrase,
            Error::WrongRecoveryKey,
            Error::NoPassphrase,
            Error::EmptyPassphrase,
            Error::WeakPassphrase(Weakness::TooShort { chars: 4, min: 12 }),
            Error::NoVault("/home/ana/.local/share/trove".into()),
            Error::VaultExists("/home/ana/.local/share/trove".into()),
            Error::FileExists("/home/ana/backup.trove".into()),
            Error::VaultDirNotEmpty("/tmp".into()),
            Error::VaultPermissions {
                path: "/home/ana/trove".into(),
                reason: s("owned by another user"),
            },
            Error::Locked,
            Error::RolledBack(s("the log head is 12 entries behind")),
            Error::VaultDamaged(s("a page does not decrypt")),
            Error::KeyFileDamaged(s("bad checksum")),
            Error::UnsupportedVersion(s("key file version 9")),
            Error::NotFound(s("01J0000000000000000000000")),
            Error::UnknownType {
                ty: s("pet"),
                known: s("contact, identity"),
            },
            Error::UnknownField {
                ty: s("contact"),
                field: s("fax"),
                known: s("email, phone"),
            },
            Error::InvalidField {
                ty: s("contact"),
                field: s("email"),
                reason: s("not an email address"),
            },
            Error::InvalidInput(s("the number of allowed uses must be at least 1")),
            Error::Keyring(s("no Secret Service")),
            Error::NotRemembered,
            Error::Busy,
            Error::io("can't read x", std::io::ErrorKind::NotFound.into()),
            Error::Database(s("disk I/O error")),
            Error::GrantNotFound(s("g_1")),
            Error::GrantRevoked,
            Error::GrantExpired,
            Error::GrantExhausted,
            Error::InvalidToken,
            Error::InsufficientScope(s("contact.phone")),
            Error::NotGrantable { ty: s("person") },
            Error::InvalidExpiry(s("yesterday")),
            Error::InvalidOrgKey(s("not hexadecimal")),
            Error::InvalidRelayUrl(s("ftp://x")),
            Error::LogWriteFailed(s("disk full")),
            Error::LogTampered(s("entry 4")),
            Error::BundleWrongPassphrase,
            Error::BundleWrongIdentity,
            Error::BundleNeedsPassphrase,
            Error::BundleNeedsIdentity,
            Error::BundleWorkFactor { log_n: 30, max: 20 },
            Error::BundleDamaged(s("truncated")),
            Error::BundleFormat(s("no manifest")),
            Error::BundleMember(s("../etc/passwd")),
            Error::BundleTooLarge(s("over 4 GiB")),
            Error::BundleHashMismatch {
                member: s("records.jsonl"),
            },
            Error::BadLine {
                file: s("records.jsonl"),
                line: 3,
                reason: s("not JSON"),
            },
            Error::StorageNotFound(s("nas")),
            Error::StorageExists(s("nas")),
            Error::StorageInUse {
                name: s("nas"),
                grants: vec![s("g_1")],
            },
            Error::NoStorage,
            Error::StorageAmbiguous(vec![s("nas"), s("b2")]),
            Error::OfflineNotAllowed(s("it has a use limit")),
            Error::ImportMalformed {
                file: s("contacts.csv"),
                problems: vec![(2, s("no name"))],
            },
            Error::CsvColumns {
                columns: vec![s("XFirst Name"), s("Zip")],
                record_type: None,
                fields: Vec::new(),
                suggested: vec![(s("XFirst Name"), s("given_name"))],
            },
        ];
        all.extend(StorageFailure::ALL.iter().map(|&failure| Error::Storage {
            failure,
            message: format!("can't write: storage nas answered {}", failure.code()),
        }));
        all
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
    /// Every failure, in declaration order.
    pub const ALL: &'static [StorageFailure] = &[
        StorageFailure::Dns,
        StorageFailure::Connection,
        StorageFailure::Tls,
        StorageFailure::Credentials,
        StorageFailure::BucketMissing,
        StorageFailure::ClockSkew,
        StorageFailure::Denied,
        StorageFailure::Exists,
        StorageFailure::Unexpected,
    ];

    /// A stable code.
    pub fn code(self) -> ErrorCode {
        match self {
            StorageFailure::Dns => ErrorCode::StorageDns,
            StorageFailure::Connection => ErrorCode::StorageConnection,
            StorageFailure::Tls => ErrorCode::StorageTls,
            StorageFailure::Credentials => ErrorCode::StorageCredentials,
            StorageFailure::BucketMissing => ErrorCode::StorageBucketMissing,
            StorageFailure::ClockSkew => ErrorCode::StorageClockSkew,
            StorageFailure::Denied => ErrorCode::StorageDenied,
            StorageFailure::Exists => ErrorCode::StorageExistsObject,
            StorageFailure::Unexpected => ErrorCode::StorageUnexpected,
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
                "try again later, then test the storage target's connection again"
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

    #[test]
    fn every_code_has_an_instance_and_serializes_as_its_string() {
        let codes: Vec<ErrorCode> = Error::examples().iter().map(Error::code).collect();
        for code in ErrorCode::ALL {
            assert!(
                codes.contains(code),
                "no instance of {code} in Error::examples()"
            );
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().into()),
            );
        }
    }

    #[test]
    fn core_text_names_no_front_end_command_or_flag() {
        for e in Error::examples() {
            let texts = [Some(e.to_string()), e.hint()];
            for t in texts.iter().flatten() {
                assert!(
                    !t.contains("`trove ") && !t.contains(" --") && !t.contains("(--"),
                    "{}: core text names a CLI command or flag: {t}",
                    e.code()
                );
            }
        }
    }
}
