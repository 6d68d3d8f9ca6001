//! Grants: one organization's scoped, time- and use-limited read access for a purpose,
//! their computed status, expiry parsing, and the pure scope projection of a record.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use crate::access_log::{self, LogKind, NewLogEntry};
use crate::error::{Error, Result};
use crate::record::{validate_tag, Record};
use crate::remote::OrgKey;
use crate::schema::record_type;
use crate::token::ShareToken;
use crate::vault::Vault;

/// Record types no grant may include: `person` (other people's data).
pub const NOT_GRANTABLE: &[&str] = &["person"];

/// The label of the subkey that keys the share tokens' stored hash.
pub const TOKEN_SUBKEY: &str = "share-token";

/// One scope item: a whole type (`contact`) or one field of it (`contact.email`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeItem {
    /// The record type.
    pub record_type: String,
    /// The field, or `None` for every field of the type.
    pub field: Option<String>,
}

impl ScopeItem {
    /// Parses and validates `TYPE` or `TYPE.FIELD` against the record-type schemas.
    pub fn parse(s: &str) -> Result<ScopeItem> {
        let s = s.trim();
        let (ty, field) = match s.split_once('.') {
            Some((t, f)) => (t, Some(f)),
            None => (s, None),
        };
        let def = record_type(ty)?;
        if let Some(f) = field {
            def.field(f)?;
        }
        Ok(ScopeItem {
            record_type: def.name.clone(),
            field: field.map(str::to_string),
        })
    }
}

impl fmt::Display for ScopeItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}.{}", self.record_type, field),
            None => f.write_str(&self.record_type),
        }
    }
}

impl Serialize for ScopeItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScopeItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ScopeItem::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What a grant may see: scope items plus an optional tag every record must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// `TYPE` or `TYPE.FIELD` items; a whole type absorbs its single fields.
    #[serde(rename = "scope")]
    pub items: Vec<ScopeItem>,
    /// Only records carrying this tag are in scope.
    #[serde(default)]
    pub only_tag: Option<String>,
    /// Only these records (by id) are in scope; `None` for every record of the types.
    /// A record deleted later simply drops out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<BTreeSet<String>>,
}

/// Which fields of one type a scope lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSet {
    /// Every field of the type.
    All,
    /// Only these fields.
    Only(BTreeSet<String>),
}

impl FieldSet {
    /// True when `field` passes.
    pub fn allows(&self, field: &str) -> bool {
        match self {
            FieldSet::All => true,
            FieldSet::Only(s) => s.contains(field),
        }
    }
}

impl Scope {
    /// Parses and validates scope items (at least one) and the optional tag; duplicates
    /// collapse and `TYPE` absorbs `TYPE.FIELD`.
    pub fn parse<S: AsRef<str>>(items: &[S], only_tag: Option<&str>) -> Result<Scope> {
        if items.is_empty() {
            return Err(Error::InvalidInput(
                "a scope needs at least one item: --scope TYPE or TYPE.FIELD".into(),
            ));
        }
        let mut parsed: Vec<ScopeItem> = Vec::new();
        for s in items {
            let it = ScopeItem::parse(s.as_ref())?;
            if !parsed.contains(&it) {
                parsed.push(it);
            }
        }
        let whole: BTreeSet<String> = parsed
            .iter()
            .filter(|i| i.field.is_none())
            .map(|i| i.record_type.clone())
            .collect();
        parsed.retain(|i| i.field.is_none() || !whole.contains(&i.record_type));
        if let Some(t) = only_tag {
            validate_tag(t)?;
        }
        Ok(Scope {
            items: parsed,
            only_tag: only_tag.map(str::to_string),
            records: None,
        })
    }

    /// Limits the scope to these record ids (`--record ID`); an empty list keeps every
    /// record of the scope's types. Ids are checked against the vault when the grant is
    /// stored (they must exist and be of a type in scope).
    pub fn with_records<S: AsRef<str>>(mut self, ids: &[S]) -> Result<Scope> {
        if ids.is_empty() {
            return Ok(self);
        }
        let mut set = BTreeSet::new();
        for id in ids {
            let id = id.as_ref().trim();
            if id.is_empty()
                || id.len() > 64
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(Error::InvalidInput(format!(
                    "{id:?} is not a record id (see `list` for the ids)"
                )));
            }
            set.insert(id.to_string());
        }
        self.records = Some(set);
        Ok(self)
    }

    /// True when the record with this id may be in scope (no record list, or listed).
    pub fn allows_record(&self, id: &str) -> bool {
        self.records.as_ref().is_none_or(|r| r.contains(id))
    }

    /// The fields of `record_type` this scope lets through, or `None` if the type is
    /// outside it.
    pub fn fields_for(&self, record_type: &str) -> Option<FieldSet> {
        let mut only = BTreeSet::new();
        for it in self.items.iter().filter(|i| i.record_type == record_type) {
            match &it.field {
                None => return Some(FieldSet::All),
                Some(f) => {
                    only.insert(f.clone());
                }
            }
        }
        (!only.is_empty()).then_some(FieldSet::Only(only))
    }

    /// The items as `TYPE` / `TYPE.FIELD` strings, in scope order.
    pub fn item_strings(&self) -> Vec<String> {
        self.items.iter().map(ScopeItem::to_string).collect()
    }

    /// The record types this scope touches, in scope order, without duplicates.
    pub fn types(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for it in &self.items {
            if !out.contains(&it.record_type) {
                out.push(it.record_type.clone());
            }
        }
        out
    }
}

/// Projects `record` onto `scope`: `None` when the record is outside it (type not in
/// scope, not one of the scope's records, tag missing, or none of its in-scope fields set); otherwise the record with
/// only in-scope fields, tags reduced to the scope's tag, id/type/source/times kept.
/// Pure: the share API and scoped export both use it.
pub fn project(record: &Record, scope: &Scope) -> Option<Record> {
    let fields = scope.fields_for(&record.record_type)?;
    if !scope.allows_record(&record.id) {
        return None;
    }
    if let Some(tag) = &scope.only_tag {
        if !record.tags.contains(tag) {
            return None;
        }
    }
    let kept: std::collections::BTreeMap<String, String> = record
        .fields
        .iter()
        .filter(|(k, _)| fields.allows(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if kept.is_empty() {
        return None;
    }
    Some(Record {
        id: record.id.clone(),
        record_type: record.record_type.clone(),
        fields: kept,
        tags: scope.only_tag.iter().cloned().collect(),
        source: record.source.clone(),
        created_at: record.created_at.clone(),
        updated_at: record.updated_at.clone(),
    })
}

/// A grant's status, computed from its row and the current time on every read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
        let org = clean_text("the organization (--org)", &self.org, 200)?;
        let purpose = clean_text("the purpose (--purpose)", &self.purpose, 500)?;
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
            return Err(Error::InvalidInput("--max-uses must be at least 1".into()));
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
    let now = Utc::now();
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
        let now = Utc::now();
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
        let now = Utc::now();
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!("{SELECT} ORDER BY rowid DESC"))?;
            let rows = stmt.query_map([], |r| from_row(r, now))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// One grant by id, with its status as of now.
    pub fn get_grant(&self, id: &str) -> Result<Grant> {
        self.read(|tx| get_grant(tx, id, Utc::now()))
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
    use std::collections::BTreeMap;

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    pub(crate) fn grant(scope: &[&str]) -> NewGrant {
        NewGrant {
            org: "Acme Bank".into(),
            purpose: "account opening".into(),
            scope: scope.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn scope_items_are_validated_against_the_schemas() {
        assert!(matches!(
            Scope::parse(&["contakt"], None),
            Err(Error::UnknownType { .. })
        ));
        assert!(matches!(
            Scope::parse(&["contact.fax"], None),
            Err(Error::UnknownField { .. })
        ));
        assert!(Scope::parse::<&str>(&[], None).is_err());
        assert!(Scope::parse(&["contact"], Some("bad tag!")).is_err());
        let s = Scope::parse(
            &["contact.email", "address", "address.city", "contact.email"],
            Some("work"),
        )
        .unwrap();
        let shown: Vec<String> = s.items.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["contact.email", "address"], "dedupe and absorb");
        assert_eq!(s.fields_for("address"), Some(FieldSet::All));
        assert!(s.fields_for("contact").unwrap().allows("email"));
        assert!(!s.fields_for("contact").unwrap().allows("phone"));
        assert_eq!(s.fields_for("health"), None);
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

    fn record(ty: &str, fields: &[(&str, &str)], tags: &[&str]) -> Record {
        Record {
            id: "01J0000000000000000000000A".into(),
            record_type: ty.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            source: "manual".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn projection_keeps_only_scoped_fields_and_tagged_records() {
        let r = record(
            "contact",
            &[("email", "a@b.example"), ("phone", "+1 555")],
            &["work", "secret-tag"],
        );
        let s = Scope::parse(&["contact.email"], None).unwrap();
        let p = project(&r, &s).unwrap();
        assert_eq!(p.fields.keys().collect::<Vec<_>>(), ["email"]);
        assert!(p.tags.is_empty(), "tags are not disclosed");
        let s = Scope::parse(&["contact"], Some("work")).unwrap();
        assert_eq!(project(&r, &s).unwrap().fields.len(), 2);
        assert_eq!(project(&r, &s).unwrap().tags, ["work"]);
        let s = Scope::parse(&["contact"], Some("home")).unwrap();
        assert_eq!(project(&r, &s), None, "tag missing");
        let s = Scope::parse(&["contact.label"], None).unwrap();
        assert_eq!(project(&r, &s), None, "no scoped field set");
        let s = Scope::parse(&["address"], None).unwrap();
        assert_eq!(project(&r, &s), None, "type outside scope");
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
}
