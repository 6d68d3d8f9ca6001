//! Record types, read from the JSON Schemas in `assets/schemas/` (embedded at build
//! time), and validation of field values against them on every write.
//!
//! Trove interprets the subset of JSON Schema its schemas use: `type`, `properties`,
//! `required`, `minProperties`, `additionalProperties: false`, `title`, `description`,
//! `maxLength` and `format` (`email`, `date`, `partial-date`, `iban`, `bic`, `country`,
//! `phone`), plus `x-trove-*` hints for the UI. A schema using any other keyword fails the
//! schema test.
//!
//! A field with `x-trove-sensitive: true` is shown masked by the app until the person
//! reveals it (lists never show it in full); it is stored, shared and exported like any
//! other field.
//!
//! A field with `x-trove-list: true` holds several values in its one string, one per line,
//! each optionally labelled (`work: ana@example.org`); `format` then applies to each
//! value. This keeps every record a flat `{name: string}` map (projection, search and
//! bundles need nothing new) while a person can have three emails and two addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const SCHEMAS: &[(&str, &str)] = &[
    (
        "identity",
        include_str!("../../../assets/schemas/identity.json"),
    ),
    (
        "contact",
        include_str!("../../../assets/schemas/contact.json"),
    ),
    (
        "address",
        include_str!("../../../assets/schemas/address.json"),
    ),
    (
        "document",
        include_str!("../../../assets/schemas/document.json"),
    ),
    (
        "health",
        include_str!("../../../assets/schemas/health.json"),
    ),
    (
        "bank_account",
        include_str!("../../../assets/schemas/bank_account.json"),
    ),
    (
        "employment",
        include_str!("../../../assets/schemas/employment.json"),
    ),
    (
        "membership",
        include_str!("../../../assets/schemas/membership.json"),
    ),
    (
        "preference",
        include_str!("../../../assets/schemas/preference.json"),
    ),
    ("note", include_str!("../../../assets/schemas/note.json")),
    (
        "person",
        include_str!("../../../assets/schemas/person.json"),
    ),
];

/// A record type and its fields, in schema order.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RecordType {
    pub name: String,
    pub title: String,
    pub description: String,
    pub fields: Vec<FieldDef>,
    /// Fields that summarize a record in one line (lists, search results).
    pub summary: Vec<String>,
    /// The raw JSON Schema, for the UI's form generator.
    #[serde(skip)]
    pub schema: serde_json::Value,
}

/// One field of a record type.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldDef {
    pub name: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub format: Option<FieldFormat>,
    pub max_length: usize,
    pub required: bool,
    /// Absent for a one-line input.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub widget: Option<Widget>,
    /// Several values, one per line, each `[label: ]value` (see the module docs).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub list: bool,
    /// A value to keep out of sight until asked (an IBAN, a document number, a health
    /// value): the app masks it in lists and detail, with reveal and copy per field.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub sensitive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    #[serde(rename = "$schema")]
    _schema: String,
    #[serde(rename = "$id")]
    _id: String,
    title: String,
    description: String,
    #[serde(rename = "type")]
    ty: String,
    properties: indexmap_lite::OrderedProps,
    required: Vec<String>,
    #[serde(rename = "minProperties")]
    min_properties: u32,
    #[serde(rename = "additionalProperties")]
    additional_properties: bool,
    #[serde(rename = "x-trove-summary")]
    summary: Vec<String>,
}

/// What every value of a field must be (the schema's `format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum FieldFormat {
    /// `name@example.org`.
    Email,
    /// `YYYY-MM-DD`.
    Date,
    /// A date, or a day without its year (`--MM-DD`).
    PartialDate,
    /// An IBAN, kept upper case without spaces.
    Iban,
    /// A BIC (SWIFT code).
    Bic,
    /// An ISO 3166-1 alpha-2 country code.
    Country,
    /// A phone number.
    Phone,
}

impl FieldFormat {
    /// The schema's name for it: `email`, `partial-date`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            FieldFormat::Email => "email",
            FieldFormat::Date => "date",
            FieldFormat::PartialDate => "partial-date",
            FieldFormat::Iban => "iban",
            FieldFormat::Bic => "bic",
            FieldFormat::Country => "country",
            FieldFormat::Phone => "phone",
        }
    }
}

impl std::fmt::Display for FieldFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a field is edited (the schema's `x-trove-widget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Widget {
    /// Long text over several lines.
    Textarea,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    #[serde(rename = "type")]
    ty: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "maxLength")]
    max_length: usize,
    #[serde(default)]
    format: Option<FieldFormat>,
    #[serde(rename = "x-trove-widget", default)]
    widget: Option<Widget>,
    #[serde(rename = "x-trove-list", default)]
    list: bool,
    #[serde(rename = "x-trove-sensitive", default)]
    sensitive: bool,
}

/// serde_json's map sorts keys; the schema's property order is the form's field order.
mod indexmap_lite {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde::Deserialize;

    pub struct OrderedProps(pub Vec<(String, super::RawField)>);

    impl<'de> Deserialize<'de> for OrderedProps {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = OrderedProps;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a map of properties")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OrderedProps, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = m.next_entry()? {
                        out.push((k, v));
                    }
                    Ok(OrderedProps(out))
                }
            }
            d.deserialize_map(V)
        }
    }
}

fn parse(name: &str, text: &str) -> std::result::Result<RecordType, String> {
    let raw: RawSchema = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    if raw.ty != "object" || raw.additional_properties || raw.min_properties != 1 {
        return Err(format!(
            "{name}: must be a closed object schema with minProperties 1"
        ));
    }
    let mut fields = Vec::new();
    for (fname, f) in raw.properties.0 {
        if f.ty != "string" {
            return Err(format!("{name}.{fname}: only string fields are supported"));
        }
        if f.list && f.widget != Some(Widget::Textarea) {
            return Err(format!(
                "{name}.{fname}: a list field needs x-trove-widget textarea"
            ));
        }
        fields.push(FieldDef {
            required: raw.required.contains(&fname),
            name: fname,
            title: f.title,
            description: f.description,
            format: f.format,
            max_length: f.max_length,
            widget: f.widget,
            list: f.list,
            sensitive: f.sensitive,
        });
    }
    for r in raw.required.iter().chain(&raw.summary) {
        if !fields.iter().any(|f| &f.name == r) {
            return Err(format!("{name}: `{r}` is not a property"));
        }
    }
    Ok(RecordType {
        name: name.to_string(),
        title: raw.title,
        description: raw.description,
        fields,
        summary: raw.summary,
        schema: serde_json::from_str(text).expect("parsed above"),
    })
}

/// All built-in record types, in a fixed order.
pub fn record_types() -> &'static [RecordType] {
    static TYPES: OnceLock<Vec<RecordType>> = OnceLock::new();
    TYPES.get_or_init(|| {
        SCHEMAS
            .iter()
            .map(|(name, text)| {
                parse(name, text).unwrap_or_else(|e| panic!("embedded schema is invalid: {e}"))
            })
            .collect()
    })
}

/// The record type called `name`, or `Error::UnknownType`.
pub fn record_type(name: &str) -> Result<&'static RecordType> {
    record_types()
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::UnknownType {
            ty: name.to_string(),
            known: type_names(),
        })
}

fn type_names() -> String {
    record_types()
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl RecordType {
    /// The field called `name`, or `Error::UnknownField`.
    pub fn field(&self, name: &str) -> Result<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| Error::UnknownField {
                ty: self.name.clone(),
                field: name.to_string(),
                known: self
                    .fields
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Validates and normalizes a record's fields: unknown fields, values that break
    /// their format or length, missing required fields and empty records are errors
    /// naming the field. Empty values are dropped. IBAN/BIC/country are upper-cased and
    /// IBAN spaces removed.
    pub fn validate(&self, fields: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        self.validate_within(fields, &FieldSet::All)
    }

    /// Every problem [`RecordType::validate`] would find, one per field, in schema order
    /// (a form shows them all at once instead of the first): a value that breaks its
    /// format or length, or a missing required field. Unknown fields are left to
    /// `validate`.
    pub fn field_problems(&self, fields: &BTreeMap<String, String>) -> Vec<(String, String)> {
        self.fields
            .iter()
            .filter_map(|f| {
                let problem = match fields.get(&f.name).filter(|v| !v.is_empty()) {
                    Some(v) => f.normalize(v).err(),
                    None => f.required.then(|| "is required".to_string()),
                };
                problem.map(|p| (f.name.clone(), p))
            })
            .collect()
    }

    /// Like [`RecordType::validate`] for a record projected to `visible` (a scoped
    /// bundle): every field must be visible, and only visible required fields are
    /// required, because the others were withheld on purpose.
    pub fn validate_within(
        &self,
        fields: &BTreeMap<String, String>,
        visible: &FieldSet,
    ) -> Result<BTreeMap<String, String>> {
        if let Some(name) = fields.keys().find(|f| !visible.allows(f)) {
            self.field(name)?;
            return Err(Error::InvalidField {
                ty: self.name.clone(),
                field: name.clone(),
                reason: "is outside the bundle's scope".into(),
            });
        }
        let mut out = BTreeMap::new();
        for (name, value) in fields {
            let def = self.field(name)?;
            if value.is_empty() {
                continue;
            }
            let v = def.normalize(value).map_err(|reason| Error::InvalidField {
                ty: self.name.clone(),
                field: name.clone(),
                reason,
            })?;
            out.insert(name.clone(), v);
        }
        for f in self
            .fields
            .iter()
            .filter(|f| f.required && visible.allows(&f.name))
        {
            if !out.contains_key(&f.name) {
                return Err(Error::InvalidField {
                    ty: self.name.clone(),
                    field: f.name.clone(),
                    reason: "is required".into(),
                });
            }
        }
        if out.is_empty() {
            return Err(Error::InvalidInput(format!(
                "a {} record needs at least one field ({})",
                self.name,
                self.fields
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(out)
    }
}

impl FieldDef {
    pub(crate) fn normalize(&self, value: &str) -> std::result::Result<String, String> {
        let len = value.chars().count();
        if len > self.max_length {
            return Err(format!(
                "is {len} characters long; at most {} allowed",
                self.max_length
            ));
        }
        let multiline = self.widget == Some(Widget::Textarea);
        if value
            .chars()
            .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
        {
            return Err("contains control characters".into());
        }
        if self.list {
            return self.normalize_list(value);
        }
        self.normalize_one(value)
    }

    /// A list field: each non-empty line `[label: ]value`, the value in the field's
    /// format; lines trimmed, empty lines dropped.
    fn normalize_list(&self, value: &str) -> std::result::Result<String, String> {
        let mut out: Vec<String> = Vec::new();
        for (i, line) in value.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (label, v) = split_label(line);
            let v = self
                .normalize_one(v)
                .map_err(|e| format!("line {}: {e}", i + 1))?;
            out.push(match label {
                Some(l) => format!("{l}: {v}"),
                None => v,
            });
        }
        Ok(out.join("\n"))
    }

    pub(crate) fn normalize_one(&self, value: &str) -> std::result::Result<String, String> {
        match self.format {
            None => Ok(value.to_string()),
            Some(FieldFormat::Email) => check_email(value).map(|_| value.trim().to_string()),
            Some(FieldFormat::Date) => check_date(value).map(|_| value.to_string()),
            Some(FieldFormat::PartialDate) => {
                check_partial_date(value).map(|_| value.trim().to_string())
            }
            Some(FieldFormat::Iban) => normalize_iban(value),
            Some(FieldFormat::Bic) => normalize_bic(value),
            Some(FieldFormat::Country) => normalize_country(value),
            Some(FieldFormat::Phone) => check_phone(value).map(|_| value.trim().to_string()),
        }
    }
}

fn check_email(v: &str) -> std::result::Result<(), String> {
    let bad = || {
        Err(format!(
            "{v:?} is not an email address (expected name@example.org)"
        ))
    };
    let v = v.trim();
    let Some((local, domain)) = v.rsplit_once('@') else {
        return bad();
    };
    if local.is_empty()
        || local.len() > 64
        || local.contains('@')
        || v.chars().any(char::is_whitespace)
    {
        return bad();
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return bad();
    }
    Ok(())
}

fn check_date(v: &str) -> std::result::Result<(), String> {
    if v.len() == 10 && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok() {
        Ok(())
    } else {
        Err(format!("{v:?} is not a date (expected YYYY-MM-DD)"))
    }
}

/// The largest label a list value carries (`work`, `mobile`, `home fax`, ...).
pub const MAX_LABEL_CHARS: usize = 32;

/// Splits a list line into its label and value: the text before the first `: ` is a
/// label when it is 1–32 letters, spaces, `-` or `_`; otherwise the whole line is the
/// value (so `https://example.org` has no label).
pub fn split_label(line: &str) -> (Option<&str>, &str) {
    if let Some((l, v)) = line.split_once(": ") {
        let l = l.trim();
        if is_label(l) {
            return (Some(l), v.trim());
        }
    }
    (None, line.trim())
}

/// Whether `l` can be a list value's label.
pub fn is_label(l: &str) -> bool {
    !l.is_empty()
        && l.chars().count() <= MAX_LABEL_CHARS
        && l.chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '_')
}

/// `YYYY-MM-DD`, or `--MM-DD` for a date whose year is not known (vCard's year-less
/// birthday).
fn check_partial_date(v: &str) -> std::result::Result<(), String> {
    let v = v.trim();
    if let Some(md) = v.strip_prefix("--") {
        // 2000 is a leap year, so --02-29 is accepted.
        if md.len() == 5
            && chrono::NaiveDate::parse_from_str(&format!("2000-{md}"), "%Y-%m-%d").is_ok()
        {
            return Ok(());
        }
    } else if check_date(v).is_ok() {
        return Ok(());
    }
    Err(format!(
        "{v:?} is not a date (expected YYYY-MM-DD, or --MM-DD without a year)"
    ))
}

fn normalize_iban(v: &str) -> std::result::Result<String, String> {
    let s: String = v
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    let shape_ok = (15..=34).contains(&s.len())
        && s.is_ascii()
        && s[..2].chars().all(|c| c.is_ascii_uppercase())
        && s[2..4].chars().all(|c| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric());
    if !shape_ok {
        return Err(format!("{v:?} is not an IBAN (expected country code, check digits, account: DE89 3704 0044 0532 0130 00)"));
    }
    // ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1.
    let mut rem: u32 = 0;
    for c in s[4..].chars().chain(s[..4].chars()) {
        let d = c.to_digit(36).expect("alphanumeric");
        rem = if d >= 10 {
            (rem * 100 + d) % 97
        } else {
            (rem * 10 + d) % 97
        };
    }
    if rem != 1 {
        return Err(format!(
            "{v:?} is not a valid IBAN (check digits do not match; is a character mistyped?)"
        ));
    }
    Ok(s)
}

fn normalize_bic(v: &str) -> std::result::Result<String, String> {
    let s = v.trim().to_uppercase();
    let ok = (s.len() == 8 || s.len() == 11)
        && s.is_ascii()
        && s[..6].chars().all(|c| c.is_ascii_uppercase())
        && s[6..].chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(s)
    } else {
        Err(format!(
            "{v:?} is not a BIC (expected 8 or 11 characters, e.g. DEUTDEFF)"
        ))
    }
}

fn normalize_country(v: &str) -> std::result::Result<String, String> {
    let s = v.trim().to_uppercase();
    if s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(s)
    } else {
        Err(format!(
            "{v:?} is not a country code (expected two letters, e.g. DE)"
        ))
    }
}

fn check_phone(v: &str) -> std::result::Result<(), String> {
    let digits = v.chars().filter(char::is_ascii_digit).count();
    if digits >= 3
        && v.trim()
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not a phone number (digits, spaces, + - ( ) only)"
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Issue 15: a form showed the vault's first problem only; every field's is listed.
    #[test]
    fn field_problems_lists_every_bad_field_in_schema_order() {
        let c = record_type("contact").unwrap();
        let fields: BTreeMap<String, String> = [("email", "not-an-email"), ("phone", "call me")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let problems = c.field_problems(&fields);
        assert_eq!(
            problems.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
            ["email", "phone"],
            "{problems:?}"
        );
        for (field, reason) in &problems {
            let one: BTreeMap<String, String> = [(field.clone(), fields[field].clone())]
                .into_iter()
                .collect();
            let Err(Error::InvalidField { reason: alone, .. }) = c.validate(&one) else {
                panic!("{field} alone must fail validation");
            };
            assert_eq!(&alone, reason, "the same words as validate");
        }
        let bank = record_type("bank_account").unwrap();
        let only_bic: BTreeMap<String, String> = [("bic".to_string(), "no".to_string())]
            .into_iter()
            .collect();
        let both = bank.field_problems(&only_bic);
        assert_eq!(
            both.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
            ["iban", "bic"],
            "a missing required field and a bad one, together: {both:?}"
        );
        assert_eq!(both[0].1, "is required");
        let ok: BTreeMap<String, String> = [("email".to_string(), "ana@example.org".to_string())]
            .into_iter()
            .collect();
        assert_eq!(c.field_problems(&ok), Vec::new());
    }

    #[test]
    fn every_embedded_schema_parses_and_has_the_spec_fields() {
        let names: Vec<_> = record_types().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "identity",
                "contact",
                "address",
                "document",
                "health",
                "bank_account",
                "employment",
                "membership",
                "preference",
                "note",
                "person"
            ]
        );
        let addr: Vec<_> = record_type("address")
            .unwrap()
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            addr,
            [
                "street",
                "city",
                "postal_code",
                "region",
                "country",
                "label"
            ],
            "schema order kept"
        );
    }

    #[test]
    fn sensitive_fields_are_the_ones_a_glance_must_not_read() {
        let sensitive: Vec<String> = record_types()
            .iter()
            .flat_map(|t| {
                t.fields
                    .iter()
                    .filter(|f| f.sensitive)
                    .map(move |f| format!("{}.{}", t.name, f.name))
            })
            .collect();
        assert_eq!(
            sensitive,
            [
                "identity.birth_date",
                "document.number",
                "health.value",
                "health.notes",
                "bank_account.iban",
                "membership.member_id",
            ]
        );
        let json = serde_json::to_value(record_type("bank_account").unwrap()).unwrap();
        assert_eq!(json["fields"][2]["sensitive"], true, "{json}");
        assert!(json["fields"][0].get("sensitive").is_none());
    }

    #[test]
    fn schema_with_unsupported_keyword_is_rejected() {
        let text = SCHEMAS[0]
            .1
            .replace("\"minProperties\"", "\"pattern\": \"x\", \"minProperties\"");
        assert!(parse("identity", &text).is_err());
    }

    #[test]
    fn schema_with_an_unknown_format_or_widget_is_rejected() {
        let (name, text) = SCHEMAS
            .iter()
            .find(|(n, _)| *n == "person")
            .expect("a person schema");
        assert!(text.contains("\"format\": \"email\""), "{text}");
        let bad = text.replacen("\"format\": \"email\"", "\"format\": \"uri\"", 1);
        let e = parse(name, &bad).expect_err("unknown format refused");
        assert!(e.contains("uri"), "{e}");
        let bad = text.replacen("\"textarea\"", "\"richtext\"", 1);
        assert!(bad != *text, "person has a textarea field");
        assert!(parse(name, &bad).is_err());
    }

    #[test]
    fn a_format_is_named_as_in_the_schema_everywhere() {
        let formats: Vec<FieldFormat> = record_types()
            .iter()
            .flat_map(|t| t.fields.iter().filter_map(|f| f.format))
            .collect();
        assert!(formats.contains(&FieldFormat::PartialDate), "{formats:?}");
        for f in formats {
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str(), "{f:?}");
        }
    }

    #[test]
    fn formats_are_checked_and_named() {
        let c = record_type("contact").unwrap();
        for bad in ["not-an-email", "a@b", "a b@c.org", "@c.org", "a@-c.org"] {
            let e = c.validate(&fields(&[("email", bad)])).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidField { field, .. } if field == "email"),
                "{bad}: {e}"
            );
        }
        c.validate(&fields(&[("email", "ana.lopez+trove@example.org")]))
            .unwrap();
        let id = record_type("identity").unwrap();
        for bad in ["2024-02-30", "24-01-01", "yesterday", "2024-1-1"] {
            assert!(
                id.validate(&fields(&[("birth_date", bad)])).is_err(),
                "{bad}"
            );
        }
        let b = record_type("bank_account").unwrap();
        let ok = b
            .validate(&fields(&[("iban", "de89 3704 0044 0532 0130 00")]))
            .unwrap();
        assert_eq!(ok["iban"], "DE89370400440532013000", "IBAN normalized");
        let e = b
            .validate(&fields(&[("iban", "DE89370400440532013001")]))
            .unwrap_err();
        assert!(e.to_string().contains("check digits"), "{e}");
    }

    #[test]
    fn unknown_fields_required_fields_and_empty_records() {
        let n = record_type("note").unwrap();
        assert!(matches!(
            n.validate(&fields(&[("colour", "red")])),
            Err(Error::UnknownField { .. })
        ));
        assert!(matches!(
            n.validate(&fields(&[])),
            Err(Error::InvalidInput(_))
        ));
        let b = record_type("bank_account").unwrap();
        let e = b.validate(&fields(&[("bank", "GLS")])).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidField { field, .. } if field == "iban"),
            "{e}"
        );
        assert!(matches!(record_type("pet"), Err(Error::UnknownType { .. })));
    }

    #[test]
    fn list_fields_check_each_value_and_keep_labels() {
        let p = record_type("person").unwrap();
        let ok = p
            .validate(&fields(&[
                ("emails", "work: ana@example.org\n\n  ana@home.example  \n"),
                ("phones", "mobile: +49 170 5550 987"),
                ("urls", "https://example.org/ana"),
                ("birthday", "--04-12"),
            ]))
            .unwrap();
        assert_eq!(ok["emails"], "work: ana@example.org\nana@home.example");
        assert_eq!(ok["urls"], "https://example.org/ana", "no label in a URL");
        let e = p
            .validate(&fields(&[(
                "emails",
                "work: ana@example.org\nhome: not-an-email",
            )]))
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidField { field, reason, .. } if field == "emails" && reason.starts_with("line 2:")),
            "{e}"
        );
        for bad in ["--13-01", "1988-02-30", "circa 1800", "--4-12"] {
            assert!(p.validate(&fields(&[("birthday", bad)])).is_err(), "{bad}");
        }
        assert!(p.validate(&fields(&[("birthday", "--02-29")])).is_ok());
    }

    #[test]
    fn length_and_control_characters() {
        let c = record_type("contact").unwrap();
        assert!(c.validate(&fields(&[("label", &"x".repeat(65))])).is_err());
        assert!(c.validate(&fields(&[("label", "a\u{7}b")])).is_err());
        let n = record_type("note").unwrap();
        n.validate(&fields(&[("body", "line one\nline two")]))
            .expect("textarea keeps newlines");
    }
}
