//! Reading a grant's records from a share link by whichever path answers: live over
//! iroh first (when the link has a live address), then the staged copy on the person's
//! storage (when it has one). What `trove-org fetch` runs.
//!
//! The staged copy is used only when the live path could not answer at all (the
//! person's Trove is unreachable, locked, or the network failed): a live refusal
//! (revoked, expired, out of scope…) is the person's computer deciding, and is final.

use trove_wire::link::ShareLink;
use trove_wire::Record;

use crate::staged::{fetch_staged, StagedError, StagedOptions};
use crate::{Client, ClientError, NetworkPath, OrgKey, RemoteOptions};

/// Which path answered a [`fetch_records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// The person's Trove, live (decided, counted and logged there).
    Live { path: Option<NetworkPath> },
    /// The staged copy on the person's storage (verified; reads are not counted).
    Staged {
        version: u64,
        /// When this version was published (RFC 3339).
        published: String,
        /// Until when the copy is available (RFC 3339).
        available_until: String,
    },
}

impl Answered {
    /// `live` or `staged`, for programs.
    pub fn code(&self) -> &'static str {
        match self {
            Answered::Live { .. } => "live",
            Answered::Staged { .. } => "staged",
        }
    }
}

impl std::fmt::Display for Answered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answered::Live { path: Some(p) } => write!(f, "live ({p})"),
            Answered::Live { path: None } => f.write_str("live"),
            Answered::Staged {
                version,
                published,
                available_until,
            } => write!(
                f,
                "the staged copy (version {version}, published {published}, available until {available_until}; reads from storage are not counted)"
            ),
        }
    }
}

/// The records and the path that answered.
#[derive(Debug)]
pub struct Fetched {
    pub records: Vec<Record>,
    pub answered: Answered,
    /// Why the live path did not answer, when the staged copy did.
    pub live_failure: Option<ClientError>,
}

/// Why [`fetch_records`] got nothing. Nothing was returned.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The live path refused or failed, and there was no staged copy to fall back to
    /// (or the refusal was final).
    #[error(transparent)]
    Live(ClientError),
    /// The staged copy was refused; `live` says why the live path was not used.
    #[error("{staged}{}", live.as_ref().map(|e| format!(" (the live path did not answer first: {e})")).unwrap_or_default())]
    Staged {
        staged: StagedError,
        live: Option<ClientError>,
    },
    /// The grant does not cover the record type asked for (checked against the signed
    /// scope of the staged copy).
    #[error("insufficient scope: the grant does not cover records of type {0}")]
    NotInScope(String),
}

impl FetchError {
    /// A stable code for programs (the failing path's own code).
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Live(e) => e.code(),
            FetchError::Staged { staged, .. } => staged.code(),
            FetchError::NotInScope(_) => "insufficient_scope",
        }
    }
}

/// Whether a live failure leaves the staged copy as the way to read: the person's Trove
/// gave no decision (not reachable, locked, transport broken).
fn live_gave_no_answer(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Unreachable(_) | ClientError::Unavailable(_) | ClientError::Transport(_)
    )
}

/// Reads the link's records (all, or those of `record_type`): live first when the link
/// has a live address, then its staged copy when it has one and the live path gave no
/// answer. The staged copy is verified completely (signature, link, time, version,
/// every hash, scope) before anything is returned.
pub async fn fetch_records(
    link: &ShareLink,
    key: &OrgKey,
    record_type: Option<&str>,
    live: RemoteOptions,
    staged: StagedOptions<'_>,
) -> Result<Fetched, FetchError> {
    let mut live_failure = None;
    if link.live.is_some() {
        let attempt = async {
            let client = Client::remote(link, key, live).await?;
            let records = client.records(record_type).await;
            let path = client.network_path();
            client.close().await;
            records.map(|r| (r, path))
        };
        match attempt.await {
            Ok((records, path)) => {
                return Ok(Fetched {
                    records,
                    answered: Answered::Live { path },
                    live_failure: None,
                })
            }
            Err(e) if link.staged.is_some() && live_gave_no_answer(&e) => live_failure = Some(e),
            Err(e) => return Err(FetchError::Live(e)),
        }
    }
    if let Some(t) = record_type {
        crate::check_type_name(t).map_err(FetchError::Live)?;
    }
    let copy = match fetch_staged(link, staged).await {
        Ok(c) => c,
        Err(staged) => {
            return Err(FetchError::Staged {
                staged,
                live: live_failure,
            })
        }
    };
    let mut records = copy.records.records;
    if let Some(t) = record_type {
        let covered = copy.scope.iter().any(|s| s.split('.').next() == Some(t));
        if !covered {
            return Err(FetchError::NotInScope(t.to_string()));
        }
        records.retain(|r| r.record_type == t);
    }
    Ok(Fetched {
        records,
        answered: Answered::Staged {
            version: copy.version,
            published: copy.created_at,
            available_until: copy.available_until,
        },
        live_failure,
    })
}
