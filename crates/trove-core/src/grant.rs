//! Stored grants: creating one (with its consent receipt and log row), reading them with
//! their status at the vault's clock, finding one by token, counting uses, revoking.
//! What a grant and a scope are is in [`crate::model`]; they are re-exported here.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::access_log::{self, LogKind, NewLogEntry};
use crate::error::{Error, Result};
pub use crate::model::grant::{
    parse_expiry, Grant, GrantStatus, NewGrant, ValidGrant, NOT_GRANTABLE,
};
use crate::model::peer::OrgKey;
pub use crate::model::scope::{project, FieldSet, Scope, ScopeItem};
use crate::token::ShareToken;
use crate::vault::Vault;

/// The label of the subkey that keys the share tokens' stored hash.
pub const TOKEN_SUBKEY: &str = "share-token";

const SELECT: &str = "SELECT id, org, purpose, scope, only_tag, created_at, expires_at, max_uses, uses, revoked_at, org_key, records FROM grants";

fn from_row(row: &Row<'_>, now: DateTime<Utc>) -> rusqlite::Result<Grant> {
    from_row_with(row, now, &mut ScopeCache::default())
}

/// Parsed scopes by their stored text: the share API's batch parses (and validates
/// against the schemas) each grant's scope once instead of once per request. Holds no
/// grant state, only what a scope text means, which never changes.
#[derive(Debug, Default)]
pub(crate) struct ScopeCache(std::collections::HashMap<String, Vec<ScopeItem>>);

fn from_row_with(
    row: &Row<'_>,
    now: DateTime<Utc>,
    scopes: &mut ScopeCache,
) -> rusqlite::Result<Grant> {
    let scope = row.get_ref(3)?.as_str()?;
    let items = match scopes.0.get(scope) {
        Some(items) => items.clone(),
        None => {
            let items: Vec<ScopeItem> = serde_json::from_str(scope).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?;
            scopes.0.insert(scope.to_string(), items.clone());
            items
        }
    };
    let mut g = Grant {
        id: row.get(0)?,
        org: row.get(1)?,
        purpose: row.get(2)?,
        scope: Scope {
            items,
            only_tag: row.get(4)?,
            records: match row.get_ref(11)?.as_str_or_null()? {
                None => None,
                Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        11,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?),
            },
        },
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        max_uses: row.get::<_, Option<i64>>(7)?.map(|n| n as u64),
        uses: row.get::<_, i64>(8)? as u64,
        revoked_at: row.get(9)?,
        org_key: row.get(10)?,
        status: GrantStatus::Active,
    };
    g.status = g.status_at(now);
    Ok(g)
}

/// Reads one grant by id inside a transaction (status computed at `now`).
pub fn get_grant(tx: &rusqlite::Connection, id: &str, now: DateTime<Utc>) -> Result<Grant> {
    tx.prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], |r| from_row(r, now))
        .optional()?
        .ok_or_else(|| Error::GrantNotFound(id.to_string()))
}

/// Finds the grant whose stored token hash matches `token`, inside a transaction.
/// The lookup is by hash; the match is then confirmed in constant time.
pub fn find_by_token(
    tx: &rusqlite::Connection,
    key: &[u8; 32],
    token: &ShareToken,
    now: DateTime<Utc>,
) -> Result<Option<Grant>> {
    find_by_token_cached(tx, key, token, now, &mut ScopeCache::default())
}

/// [`find_by_token`] with a [`ScopeCache`]. The grant row (status, uses, expiry,
/// revocation) is read from the database on every call.
pub(crate) fn find_by_token_cached(
    tx: &rusqlite::Connection,
    key: &[u8; 32],
    token: &ShareToken,
    now: DateTime<Utc>,
    scopes: &mut ScopeCache,
) -> Result<Option<Grant>> {
    let hash = token.keyed_hash(key);
    let mut stmt = tx.prepare_cached(
        "SELECT id, org, purpose, scope, only_tag, created_at, expires_at, max_uses, uses, revoked_at, org_key, records, token_hash FROM grants WHERE token_hash = ?1",
    )?;
    let found = stmt
        .query_row([&hash[..]], |r| {
            let same = constant_time_eq(r.get_ref(12)?.as_blob()?, &hash);
            Ok((from_row_with(r, now, scopes)?, same))
        })
        .optional()?;
    Ok(found.and_then(|(g, same)| same.then_some(g)))
}

/// Checks a grant's record list: every id names a stored record of a type in scope
/// (carrying the scope's tag, if any), so a typo never silently shares nothing.
fn check_grant_records(tx: &Transaction<'_>, scope: &Scope, ids: &BTreeSet<String>) -> Result<()> {
    for id in ids {
        let Some(r) = crate::record::get_record(tx, id)? else {
            return Err(Error::InvalidInput(format!(
                "there is no record {id}: the grant can only name stored records (see `list`)"
            )));
        };
        if scope.fields_for(&r.record_type).is_none() {
            return Err(Error::InvalidInput(format!(
                "record {id} is a {} record, outside the scope ({}): add that type to the scope or leave the record out",
                r.record_type,
                scope.item_strings().join(", ")
            )));
        }
        if let Some(tag) = &scope.only_tag {
            if !r.tags.contains(tag) {
                return Err(Error::InvalidInput(format!(
                    "record {id} does not carry the tag {tag:?} the grant is limited to"
                )));
            }
        }
    }
    Ok(())
}

/// Compares two byte strings without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts one use of a grant inside the transaction of the read it pays for.
pub fn count_use(tx: &Transaction<'_>, id: &str) -> Result<()> {
    tx.prepare_cached("UPDATE grants SET uses = uses + 1 WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Binds a grant to `key` if it is bound to none yet, inside the transaction of the
/// request that uses it first.
pub(crate) fn bind_org_key(tx: &Transaction<'_>, id: &str, key: &OrgKey) -> Result<()> {
    tx.prepare_cached("UPDATE grants SET org_key = ?2 WHERE id = ?1 AND org_key IS NULL")?
        .execute(params![id, key.to_string()])?;
    Ok(())
}

/// Marks a grant revoked (if it is not already) and stores the consent receipt, inside
/// `tx`; the caller appends the log entry in the same transaction. Returns the grant as
/// it is afterwards and whether this call revoked it.
pub(crate) fn revoke_in(vault: &Vault, tx: &Transaction<'_>, id: &str) -> Result<(Grant, bool)> {
    let now = vault.clock().now();
    let g = get_grant(tx, id, now)?;
    if g.revoked_at.is_some() {
        return Ok((g, false));
    }
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tx.prepare_cached("UPDATE grants SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
        .execute(params![id, at])?;
    let g = get_grant(tx, id, now)?;
    crate::receipt::store(vault, tx, &g, crate::receipt::ReceiptEvent::Revoked, now)?;
    Ok((g, true))
}

impl Vault {
    /// The 256-bit key of the share tokens' stored hash.
    pub fn token_key(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.derive_subkey(TOKEN_SUBKEY)
    }

    /// Creates a grant and returns it with its token, which is shown once and never
    /// stored. Writes the consent receipt and the access-log entry in the same
    /// transaction.
    pub fn create_grant(&self, new: &NewGrant) -> Result<(Grant, ShareToken)> {
        let now = self.clock().now();
        let v = new.validate(now)?;
        let token = ShareToken::generate();
        let id = crate::record::new_id();
        let grant = self.write(|tx| self.insert_grant(tx, &v, &id, &token, now))?;
        tracing::info!(grant = %grant.id, org = %grant.org, "grant created");
        Ok((grant, token))
    }

    /// Inserts a validated grant with its id and token inside `tx`, with its consent
    /// receipt and access-log entry: what [`Vault::create_grant`] commits, for callers
    /// that must commit more in the same transaction (staged grants).
    pub(crate) fn insert_grant(
        &self,
        tx: &Transaction<'_>,
        v: &ValidGrant,
        id: &str,
        token: &ShareToken,
        now: DateTime<Utc>,
    ) -> Result<Grant> {
        if let Some(ids) = &v.scope.records {
            check_grant_records(tx, &v.scope, ids)?;
        }
        let hash = token.keyed_hash(&self.token_key());
        let created = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        {
            tx.prepare_cached(
                "INSERT INTO grants (id, org, purpose, scope, only_tag, created_at, expires_at, max_uses, uses, revoked_at, token_hash, org_key, records) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, NULL, ?9, ?10, ?11)",
            )?
            .execute(params![
                id,
                v.org,
                v.purpose,
                serde_json::to_string(&v.scope.items).expect("scope serializes"),
                v.scope.only_tag,
                created,
                v.expires_at,
                v.max_uses.map(|n| n as i64),
                &hash[..],
                v.org_key.map(|k| k.to_string()),
                v.scope
                    .records
                    .as_ref()
                    .map(|r| serde_json::to_string(r).expect("ids serialize")),
            ])?;
            let g = get_grant(tx, id, now)?;
            crate::receipt::store(self, tx, &g, crate::receipt::ReceiptEvent::Created, now)?;
            access_log::append(
                tx,
                NewLogEntry {
                    fields: g.scope.items.iter().map(ToString::to_string).collect(),
                    ..NewLogEntry::grant_change(LogKind::GrantCreate, &g)
                },
                None,
            )?;
            Ok(g)
        }
    }

    /// Every grant, newest first, with its status as of now.
    pub fn list_grants(&self) -> Result<Vec<Grant>> {
        let now = self.clock().now();
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!("{SELECT} ORDER BY rowid DESC"))?;
            let rows = stmt.query_map([], |r| from_row(r, now))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// One grant by id, with its status as of now.
    pub fn get_grant(&self, id: &str) -> Result<Grant> {
        self.read(|tx| get_grant(tx, id, self.clock().now()))
    }

    /// Revokes a grant: the very next request with its token is refused, from any
    /// process. Revoking a revoked grant changes nothing.
    pub fn revoke_grant(&self, id: &str) -> Result<Grant> {
        let g = self.write(|tx| {
            let (g, changed) = revoke_in(self, tx, id)?;
            if changed {
                access_log::append(
                    tx,
                    NewLogEntry::grant_change(LogKind::GrantRevoke, &g),
                    None,
                )?;
            }
            Ok(g)
        })?;
        tracing::info!(grant = %g.id, "grant revoked");
        Ok(g)
    }

    /// The records a record-level grant names that are no longer stored (deleted since:
    /// they simply drop out of what it shares). Empty for a grant on whole types.
    pub fn grant_records_gone(&self, g: &Grant) -> Result<Vec<String>> {
        let Some(ids) = &g.scope.records else {
            return Ok(Vec::new());
        };
        self.read(|tx| {
            let mut gone = Vec::new();
            for id in ids {
                if crate::record::get_record(tx, id)?.is_none() {
                    gone.push(id.clone());
                }
            }
            Ok(gone)
        })
    }

    /// The number of grants and of active grants.
    pub fn count_grants(&self) -> Result<(u64, u64)> {
        let all = self.list_grants()?;
        let active = all
            .iter()
            .filter(|g| g.status == GrantStatus::Active)
            .count();
        Ok((all.len() as u64, active as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::tests::new_vault;

    pub(crate) fn grant(scope: &[&str]) -> NewGrant {
        NewGrant {
            org: "Acme Bank".into(),
            purpose: "account opening".into(),
            scope: scope.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn create_list_revoke_round_trip() {
        let (_d, v) = new_vault();
        let mut n = grant(&["contact.email", "address"]);
        n.expires = Some("30d".into());
        n.max_uses = Some(5);
        let (g, token) = v.create_grant(&n).unwrap();
        assert_eq!(g.status, GrantStatus::Active);
        assert_eq!(g.uses, 0);
        let found = v
            .read(|tx| find_by_token(tx, &v.token_key(), &token, Utc::now()))
            .unwrap()
            .expect("token finds its grant");
        assert_eq!(found.id, g.id);
        let other = ShareToken::generate();
        assert!(v
            .read(|tx| find_by_token(tx, &v.token_key(), &other, Utc::now()))
            .unwrap()
            .is_none());
        let stored: Vec<u8> = v
            .conn()
            .query_row("SELECT token_hash FROM grants", [], |r| r.get(0))
            .unwrap();
        assert_ne!(
            stored,
            token.expose_secret().as_bytes(),
            "only a hash is stored"
        );
        assert_eq!(v.list_grants().unwrap().len(), 1);
        let r = v.revoke_grant(&g.id).unwrap();
        assert_eq!(r.status, GrantStatus::Revoked);
        assert_eq!(v.get_grant(&g.id).unwrap().status, GrantStatus::Revoked);
        let again = v.revoke_grant(&g.id).unwrap();
        assert_eq!(
            again.revoked_at, r.revoked_at,
            "revoking twice changes nothing"
        );
        assert!(matches!(v.get_grant("nope"), Err(Error::GrantNotFound(_))));
        assert!(matches!(
            v.create_grant(&grant(&["nope"])),
            Err(Error::UnknownType { .. })
        ));
        assert!(matches!(
            v.create_grant(&NewGrant {
                purpose: String::new(),
                ..grant(&["contact"])
            }),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn a_grant_expires_when_the_vault_clock_passes_its_expiry() {
        let (_d, mut v) = new_vault();
        let clock = crate::Clock::fixed("2026-11-23T10:00:00Z".parse().unwrap());
        v.set_clock(clock.clone());
        let mut n = grant(&["contact"]);
        n.expires = Some("1h".into());
        let (g, token) = v.create_grant(&n).unwrap();
        assert_eq!(g.expires_at.as_deref(), Some("2026-11-23T11:00:00.000Z"));
        assert_eq!(g.created_at, "2026-11-23T10:00:00.000Z");
        clock.advance(chrono::Duration::minutes(59));
        assert_eq!(v.get_grant(&g.id).unwrap().status, GrantStatus::Active);
        clock.advance(chrono::Duration::minutes(1));
        assert_eq!(
            v.get_grant(&g.id).unwrap().status,
            GrantStatus::Expired,
            "the expiry instant is exclusive"
        );
        let found = v
            .read(|tx| find_by_token(tx, &v.token_key(), &token, v.clock().now()))
            .unwrap()
            .unwrap();
        assert_eq!(found.status, GrantStatus::Expired);
        assert_eq!(v.count_grants().unwrap(), (1, 0));
    }
}
