//! Export scopes (`TYPE` or `TYPE.FIELD`, the same syntax as grants): parsing against the
//! schemas, and projecting a record to the fields a scope discloses.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::record::Record;
use crate::schema::record_type;

/// A validated scope: for each type, either all fields or a set of fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    types: BTreeMap<String, Option<BTreeSet<String>>>,
}

impl Scope {
    /// Parses scope items; unknown types and fields are errors naming them.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Scope> {
        if items.is_empty() {
            return Err(Error::InvalidInput(
                "a scope needs at least one item".into(),
            ));
        }
        let mut types: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
        for item in items {
            let item = item.as_ref().trim();
            match item.split_once('.') {
                None => {
                    let ty = record_type(item)?;
                    types.insert(ty.name.clone(), None);
                }
                Some((t, f)) => {
                    let ty = record_type(t)?;
                    ty.field(f)?;
                    // A whole type already in scope stays whole.
                    if let Some(fields) = types
                        .entry(ty.name.clone())
                        .or_insert_with(|| Some(BTreeSet::new()))
                    {
                        fields.insert(f.to_string());
                    }
                }
            }
        }
        Ok(Scope { types })
    }

    /// The scope as items, normalized (whole types as `TYPE`, fields as `TYPE.FIELD`).
    pub fn items(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (t, f) in &self.types {
            match f {
                None => out.push(t.clone()),
                Some(fields) => out.extend(fields.iter().map(|f| format!("{t}.{f}"))),
            }
        }
        out
    }

    /// The types the scope touches.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }

    /// The record as the scope shows it, or `None` when nothing of it is in scope.
    pub fn project(&self, r: &Record) -> Option<Record> {
        let fields = match self.types.get(&r.record_type)? {
            None => r.fields.clone(),
            Some(allowed) => r
                .fields
                .iter()
                .filter(|(k, _)| allowed.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        if fields.is_empty() {
            return None;
        }
        Some(Record {
            fields,
            ..r.clone()
        })
    }

    /// The `type.field` names a projected record discloses.
    pub fn disclosed(r: &Record) -> impl Iterator<Item = String> + '_ {
        r.fields
            .keys()
            .map(move |f| format!("{}.{f}", r.record_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ty: &str, f: &[(&str, &str)]) -> Record {
        Record {
            id: "01J".into(),
            record_type: ty.into(),
            fields: f
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tags: vec![],
            source: "manual".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn projection_keeps_only_scoped_fields() {
        let s = Scope::parse(&["contact.email", "address"]).unwrap();
        let c = rec("contact", &[("email", "a@b.org"), ("phone", "123")]);
        let p = s.project(&c).unwrap();
        assert_eq!(p.fields.keys().collect::<Vec<_>>(), ["email"]);
        assert!(s.project(&rec("contact", &[("phone", "123")])).is_none());
        assert!(s.project(&rec("note", &[("title", "x")])).is_none());
        let a = rec("address", &[("city", "Paris"), ("country", "FR")]);
        assert_eq!(s.project(&a).unwrap(), a);
        assert_eq!(s.items(), ["address", "contact.email"]);
    }

    #[test]
    fn unknown_types_and_fields_are_refused() {
        assert!(matches!(
            Scope::parse(&["pet"]),
            Err(Error::UnknownType { .. })
        ));
        assert!(matches!(
            Scope::parse(&["contact.fax"]),
            Err(Error::UnknownField { .. })
        ));
        assert!(Scope::parse::<&str>(&[]).is_err());
    }
}
