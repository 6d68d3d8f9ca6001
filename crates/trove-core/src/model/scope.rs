//! What a grant may see: scope items (`TYPE`, `TYPE.FIELD`), an optional tag and an
//! optional list of records, and [`project`], the one filter between a record and an
//! organization. Pure: no storage.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::record::{check_record, validate_tag, Record};
use crate::schema::record_type;
pub use crate::schema::FieldSet;

/// One scope item: a whole type (`contact`) or one field of it (`contact.email`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

impl Scope {
    /// Parses and validates scope items (at least one) and the optional tag; duplicates
    /// collapse and `TYPE` absorbs `TYPE.FIELD`.
    pub fn parse<S: AsRef<str>>(items: &[S], only_tag: Option<&str>) -> Result<Scope> {
        if items.is_empty() {
            return Err(Error::InvalidInput(
                "a scope needs at least one item: a record type (TYPE) or one of its fields (TYPE.FIELD)".into(),
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

/// Checks a record from a scoped bundle against the scope it was exported with: its type
/// and every field in scope, tags exactly as projection leaves them (none, or the scope's
/// tag), and only the required fields the scope lets through required.
pub fn validate_projected_record(r: &Record, scope: &Scope) -> Result<Record> {
    let Some(visible) = scope.fields_for(&r.record_type) else {
        record_type(&r.record_type)?;
        return Err(Error::InvalidInput(format!(
            "a {} record is outside the bundle's scope",
            r.record_type
        )));
    };
    if !scope.allows_record(&r.id) {
        return Err(Error::InvalidInput(format!(
            "record {} is not one of the bundle's chosen records",
            r.id
        )));
    }
    let tags_ok = match &scope.only_tag {
        None => r.tags.is_empty(),
        Some(t) => r.tags.len() == 1 && &r.tags[0] == t,
    };
    if !tags_ok {
        return Err(Error::InvalidInput(format!(
            "record {}: its tags do not match the bundle's scope",
            r.id
        )));
    }
    check_record(r, &visible)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

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
}
