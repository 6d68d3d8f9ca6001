//! Trove's core: the encrypted vault, its keys, typed records and search, grants and the
//! access log, and portable bundles. No UI, server or CLI code lives here: the desktop
//! app, `trove serve` and the `trove` CLI are thin shells over these functions.
//!
//! ```no_run
//! use trove_core::{NewRecord, Passphrase, Vault};
//! let dir = std::path::Path::new("/tmp/my-vault");
//! let (vault, recovery) = Vault::create(dir, &Passphrase::new("correct horse".into()))?;
//! println!("keep this safe: {}", recovery.expose_secret());
//! let rec = vault.add(NewRecord::new("contact", [("email".into(), "ana@example.org".into())]))?;
//! assert_eq!(vault.search("ana", 10)?[0].id, rec.id);
//! # Ok::<(), trove_core::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod access_log;
pub mod anchor;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
pub mod bundle;
pub mod clock;
pub mod demo;
pub mod error;
pub mod fsutil;
pub mod grant;
pub mod importers;
pub mod keyfile;
pub mod keystore;
pub mod model;
pub mod open;
pub mod passphrase_policy;
pub mod paths;
pub mod receipt;
pub mod record;
pub mod recovery_kit;
pub mod remote;
pub mod schema;
pub mod search;
pub mod secret;
pub mod share;
pub mod staging;
pub mod token;
pub mod trash;
pub mod vault;

pub use access_log::{
    LogEntry, LogFault, LogFilter, LogKind, LogPage, NewLogEntry, OrgSummary, VerifyReport,
};
pub use clock::{now_rfc3339, Clock};
pub use demo::seed_demo;
pub use error::{Error, ErrorCode, Result, StorageFailure};
pub use keyfile::KdfParams;
pub use keystore::{KeyStore, MemoryKeyStore, OsKeyring};
pub use model::grant::{Grant, GrantStatus, NewGrant};
pub use model::peer::{OrgKey, RemotePeer, Route};
pub use model::record::{NewRecord, Record, RecordChanges};
pub use model::scope::{project, Scope, ScopeItem};
pub use record::ListFilter;
pub use remote::{EndpointSecret, RemoteSettings};
pub use schema::{record_type, record_types, FieldDef, FieldFormat, RecordType, Widget};
pub use secret::{DataKey, Passphrase, RecoveryKey};
pub use share::{
    Credential, ReplyBody, RequestMeta, ShareEngine, ShareOp, ShareReply, ShareRequest, Transport,
};
pub use staging::{
    NewStorageTarget, OfflineGrant, Publication, SigningKey, StagingInfo, StagingState,
    StorageInfo, StorageSecret, StorageTarget,
};
pub use token::ShareToken;
pub use trash::{TrashedRecord, UndoReport, TRASH_DAYS};
pub use vault::{Vault, VaultInfo};
