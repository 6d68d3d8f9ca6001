//! What a grant is: an organization's scoped, time- and use-limited read access for a
//! purpose ([`Grant`]), its status at a given time, and the checks a new one passes
//! ([`NewGrant::validate`], [`parse_expiry`]). Pure: no storage; the time is passed in.

use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::peer::OrgKey;
use crate::model::scope::Scope;

/// Record types no grant may include: `person` (other people's data).
pub const NOT_GRANTABLE: &[&str] = &["person"];

/// A grant's status, computed from its row and the current time on every read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum GrantStatus {
    Active,
    Expired,
    Revoked,
    Exhausted,
}

impl GrantStatus {
    /// `active`, `expired`, `revoked` or `exhausted`.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Active => "active",
            GrantStatus::Expired => "expired",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Exhausted => "exhausted",
        }
    }
}

impl fmt::Display for GrantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored grant. The token is not part of it: only its keyed hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Grant {
    pub id: String,
    pub org: String,
    pub purpose: String,
    #[serde(flatten)]
    pub scope: Scope,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub max_uses: Option<u64>,
    pub uses: u64,
    pub revoked_at: Option<String>,
    /// The organization endpoint key this grant is bound to (64 hex characters): set at
    /// creation, or by the first remote request. Requests from any other key, and over
    /// plain HTTP, are refused.
    #[serde(default)]
    pub org_key: Option<String>,
    /// Computed when the grant was read; never stored.
    pub status: GrantStatus,
}

impl Grant {
    /// The status at `now`: revoked, then expired, then exhausted, else active.
    pub fn status_at(&self, now: DateTime<Utc>) -> GrantStatus {
        if self.revoked_at.is_some() {
            return GrantStatus::Revoked;
        }
        if let Some(exp) = &self.expires_at {
            // A stored time that does not parse is treated as already expired.
            let expired = DateTime::parse_from_rfc3339(exp)
                .map(|e| e.with_timezone(&Utc) <= now)
                .unwrap_or(true);
            if expired {
                return GrantStatus::Expired;
            }
        }
        if let Some(max) = self.max_uses {
            if self.uses >= max {
                return GrantStatus::Exhausted;
            }
        }
        GrantStatus::Active
    }
}

/// What a person asks for when creating a grant (validated by [`NewGrant::validate`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewGrant {
    pub org: String,
    pub purpose: String,
    pub scope: Vec<String>,
    #[serde(default)]
    pub only_tag: Option<String>,
    /// `30d`, `12h`, `45m`, an RFC 3339 date (`2026-12-31`) or date-time.
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub max_uses: Option<u64>,
    /// Only these records (ids); empty for every record of the scope's types.
    #[serde(default)]
    pub records: Vec<String>,
    /// Bind the grant to this organization endpoint key (64 hex characters) now,
    /// rather than to the first key that uses it remotely.
    #[serde(default)]
    pub org_key: Option<String>,
}

/// A [`NewGrant`] that passed validation.
#[derive(Debug, Clone)]
pub struct ValidGrant {
    pub org: String,
    pub purpose: String,
    pub scope: Scope,
    pub expires_at: Option<String>,
    pub max_uses: Option<u64>,
    pub org_key: Option<OrgKey>,
}

fn clean_text(what: &str, s: &str, max: usize) -> Result<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::InvalidInput(format!("{what} is required")));
    }
    if t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "{what} must be one line of at most {max} characters"
        )));
    }
    Ok(t.to_string())
}

impl NewGrant {
    /// Parses and checks everything relative to `now`.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<ValidGrant> {
        let org = clean_text("the organization", &self.org, 200)?;
        let purpose = clean_text("the purpose", &self.purpose, 500)?;
        let scope =
            Scope::parse(&self.scope, self.only_tag.as_deref())?.with_records(&self.records)?;
        // An address book is other people's data: no grant may name it (a scope on the
        // owner's types never reaches it either, since scopes name types exactly).
        if let Some(ty) = scope
            .types()
            .into_iter()
            .find(|t| NOT_GRANTABLE.contains(&t.as_str()))
        {
            return Err(Error::NotGrantable { ty });
        }
        let expires_at = match &self.expires {
            Some(e) => Some(parse_expiry(e, now)?),
            None => None,
        };
        if self.max_uses == Some(0) {
            return Err(Error::InvalidInput(
                "the number of allowed uses must be at least 1".into(),
            ));
        }
        let org_key = self.org_key.as_deref().map(OrgKey::parse).transpose()?;
        Ok(ValidGrant {
            org,
            purpose,
            scope,
            expires_at: expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            max_uses: self.max_uses,
            org_key,
        })
    }
}

/// Parses an expiry: a duration from `now` (`30d`, `12h`, `45m`, `2w`), an RFC 3339
/// date-time, or a date (`2026-12-31`: the grant ends when that day ends, UTC). The
/// result must lie in the future.
pub fn parse_expiry(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let s = s.trim();
    let bad = || {
        Error::InvalidExpiry(format!(
            "{s:?} is not a duration like 30d, 12h, 45m or an RFC 3339 date like 2026-12-31"
        ))
    };
    let at = if let Some(unit) = s.chars().last().filter(|c| "wdhm".contains(*c)) {
        let n: i64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
        if n <= 0 || n > 100 * 366 {
            return Err(bad());
        }
        let d = match unit {
            'w' => Duration::weeks(n),
            'd' => Duration::days(n),
            'h' => Duration::hours(n),
            _ => Duration::minutes(n),
        };
        now + d
    } else if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let next = d.succ_opt().ok_or_else(bad)?;
        next.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc()
    } else {
        return Err(bad());
    };
    if at <= now {
        return Err(Error::InvalidExpiry(format!("{s} is in the past")));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn expiry_durations_and_dates() {
        let n = now();
        assert_eq!(parse_expiry("30d", n).unwrap(), n + Duration::days(30));
        assert_eq!(parse_expiry("12h", n).unwrap(), n + Duration::hours(12));
        assert_eq!(
            parse_expiry("2026-12-31", n).unwrap().to_rfc3339(),
            "2027-01-01T00:00:00+00:00",
            "a date lasts through that day"
        );
        assert_eq!(
            parse_expiry("2026-12-01T08:00:00+01:00", n)
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T07:00:00+00:00"
        );
        for bad in [
            "",
            "0d",
            "-3d",
            "30x",
            "d",
            "yesterday",
            "2020-01-01",
            "2026-13-01",
        ] {
            assert!(
                matches!(parse_expiry(bad, n), Err(Error::InvalidExpiry(_))),
                "{bad:?} accepted"
            );
        }
    }

    fn g_at(revoked: bool, expires: Option<&str>, max: Option<u64>, uses: u64) -> Grant {
        Grant {
            id: "g".into(),
            org: "o".into(),
            purpose: "p".into(),
            scope: Scope::parse(&["contact"], None).unwrap(),
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at: expires.map(str::to_string),
            max_uses: max,
            uses,
            revoked_at: revoked.then(|| "2026-02-01T00:00:00Z".into()),
            org_key: None,
            status: GrantStatus::Active,
        }
    }

    #[test]
    fn status_is_computed_revoked_first() {
        let n = now();
        assert_eq!(g_at(false, None, None, 9).status_at(n), GrantStatus::Active);
        assert_eq!(
            g_at(false, Some("2026-11-23T10:00:00Z"), None, 0).status_at(n),
            GrantStatus::Expired,
            "expiry instant is exclusive"
        );
        assert_eq!(
            g_at(false, Some("2026-11-23T10:00:01Z"), Some(2), 1).status_at(n),
            GrantStatus::Active
        );
        assert_eq!(
            g_at(false, None, Some(2), 2).status_at(n),
            GrantStatus::Exhausted
        );
        assert_eq!(
            g_at(true, Some("2000-01-01T00:00:00Z"), Some(1), 5).status_at(n),
            GrantStatus::Revoked
        );
    }
}
