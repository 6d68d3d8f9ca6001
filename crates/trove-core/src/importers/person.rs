//! One address-book entry as the vCard, jCard and CSV readers see it, and its two
//! destinations: a `person` record (someone you know: the default), or, with `--as-me`,
//! the owner's own `identity`/`contact`/`address`/`employment`/`note` records.
//!
//! Every value is checked against its field as it is placed. A value that does not fit
//! is reported with its line and property, and copied verbatim into the person's notes
//! when it is text that is safe to keep there; the rest of the entry is kept.

use std::collections::BTreeMap;

use super::report::Problems;
use crate::model::record::NewRecord;
use crate::schema::{is_label, record_type, split_label, FieldDef};

/// One value of a multi-valued property, where it came from and its label.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub line: u64,
    pub property: String,
    pub label: Option<String>,
    pub value: String,
}

/// The parts of a postal address, as vCard's ADR and the CSV address columns give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressParts {
    pub po_box: String,
    pub extended: String,
    pub street: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

impl AddressParts {
    /// One line: the non-empty parts joined by `, ` (line breaks inside a part too).
    pub fn one_line(&self) -> String {
        [
            &self.po_box,
            &self.extended,
            &self.street,
            &self.city,
            &self.region,
            &self.postal_code,
            &self.country,
        ]
        .into_iter()
        .flat_map(|p| p.split(['\n', '\r']))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
    }

    pub fn is_empty(&self) -> bool {
        self.one_line().is_empty()
    }
}

/// A single-valued field with where it came from.
#[derive(Debug, Clone, Default)]
pub struct Single {
    pub line: u64,
    pub property: String,
    pub value: String,
}

/// An address-book entry being read.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The line the entry starts on.
    pub line: u64,
    /// A stable identifier from the source (vCard UID).
    pub uid: Option<String>,
    pub full_name: Option<Single>,
    pub prefix: Option<Single>,
    pub given_name: Option<Single>,
    pub middle_name: Option<Single>,
    pub family_name: Option<Single>,
    pub suffix: Option<Single>,
    pub nickname: Option<Single>,
    pub organization: Option<Single>,
    pub department: Option<Single>,
    pub title: Option<Single>,
    pub birthday: Option<Single>,
    pub emails: Vec<Item>,
    pub phones: Vec<Item>,
    pub addresses: Vec<(Item, AddressParts)>,
    pub urls: Vec<Item>,
    /// Free text (NOTE, a notes column), in order.
    pub notes: Vec<String>,
    /// Text kept verbatim as `PROPERTY: value` lines in the notes (ROLE, anniversaries,
    /// values that did not fit their field).
    pub extra: Vec<String>,
    pub tags: Vec<String>,
}

/// Sets a single-valued slot unless it is set already (the first value wins; a second one
/// is appended to the notes).
pub fn set(
    slot: &mut Option<Single>,
    extra: &mut Vec<String>,
    line: u64,
    property: &str,
    value: &str,
) {
    let value = value.trim();
    if value.is_empty() {
        return;
    }
    match slot {
        Some(s) if s.value != value => extra.push(format!("{property}: {value}")),
        Some(_) => {}
        None => {
            *slot = Some(Single {
                line,
                property: property.to_string(),
                value: value.to_string(),
            })
        }
    }
}

/// Turns a source label (`WORK`, `cell`, `_$!<HomePage>!$_`, `E-mail 1 - Type` values like
/// `* Home`) into a list label, or `None` when nothing usable is left.
pub fn clean_label(raw: &str) -> Option<String> {
    let l = raw
        .trim()
        .trim_start_matches("_$!<")
        .trim_end_matches(">!$_")
        .trim_start_matches('*')
        .trim()
        .to_lowercase();
    let l = match l.as_str() {
        "cell" | "cellular" | "handy" | "mobil" | "mobile phone" => "mobile".to_string(),
        "internet" | "pref" | "voice" | "x400" | "text" | "" | "other" => return None,
        _ => l,
    };
    is_label(&l).then_some(l)
}

/// Labels from vCard TYPE values, ignoring technical ones (`pref`, `internet`, `voice`).
pub fn label_of<'a>(types: impl IntoIterator<Item = &'a str>) -> Option<String> {
    types.into_iter().find_map(clean_label)
}

fn field(ty: &str, name: &str) -> &'static FieldDef {
    record_type(ty)
        .expect("built-in type")
        .fields
        .iter()
        .find(|f| f.name == name)
        .expect("built-in field")
}

/// Normalizes a value birthday-style: `19880412` → `1988-04-12`, `--0412` → `--04-12`,
/// a date-time keeps its date.
pub fn normalize_birthday(v: &str) -> String {
    let v = v.trim();
    let date = v.split('T').next().unwrap_or(v);
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if date.len() == 8 && digits(date) {
        format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..])
    } else if let Some(md) = date.strip_prefix("--") {
        if md.len() == 4 && digits(md) {
            format!("--{}-{}", &md[..2], &md[2..])
        } else {
            date.to_string()
        }
    } else {
        date.to_string()
    }
}

/// Builds the fields of a `person` record.
struct PersonFields<'p> {
    fields: BTreeMap<String, String>,
    notes_extra: Vec<String>,
    problems: &'p mut Problems,
}

impl PersonFields<'_> {
    fn single(&mut self, name: &str, s: &Option<Single>) {
        let Some(s) = s else { return };
        match field("person", name).normalize(&s.value) {
            Ok(v) => {
                self.fields.insert(name.to_string(), v);
            }
            Err(reason) => {
                self.not_kept(s.line, &s.property, &s.value, &format!("{name} {reason}"))
            }
        }
    }

    /// Reports a value that did not fit and keeps it in the notes when it is safe text.
    fn not_kept(&mut self, line: u64, property: &str, value: &str, reason: &str) {
        let safe = value.chars().count() <= 2000
            && !value
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t');
        if safe {
            self.notes_extra
                .push(format!("{property}: {}", value.replace('\n', " / ")));
        }
        self.problems.not_kept(line, property, reason, safe);
    }

    fn list(&mut self, name: &str, items: &[Item]) {
        if items.is_empty() {
            return;
        }
        let def = field("person", name);
        let mut lines: Vec<String> = Vec::new();
        let mut len = 0usize;
        for it in items {
            let value = it.value.trim();
            if value.is_empty() {
                continue;
            }
            let checked = if value.contains(['\n', '\r']) {
                Err("has a line break inside one value".to_string())
            } else if value.chars().any(char::is_control) {
                Err("contains control characters".to_string())
            } else {
                def.normalize_one(value)
            };
            match checked {
                Ok(v) => {
                    let label = it.label.as_deref().filter(|l| is_label(l));
                    // A value that would read back as `label: rest` needs a label of its own.
                    let label = match (label, split_label(&v).0) {
                        (None, Some(_)) => Some("other"),
                        (l, _) => l,
                    };
                    let line = match label {
                        Some(l) => format!("{l}: {v}"),
                        None => v,
                    };
                    if lines.contains(&line) {
                        continue;
                    }
                    let n = line.chars().count() + 1;
                    if len + n > def.max_length {
                        self.not_kept(
                            it.line,
                            &it.property,
                            value,
                            &format!("{name} is full ({} characters at most)", def.max_length),
                        );
                        continue;
                    }
                    len += n;
                    lines.push(line);
                }
                Err(reason) => {
                    self.not_kept(it.line, &it.property, value, &format!("{name}: {reason}"))
                }
            }
        }
        if !lines.is_empty() {
            self.fields.insert(name.to_string(), lines.join("\n"));
        }
    }
}

/// The `person` record of an entry, or `None` (reported as skipped) when nothing of it
/// could be kept.
pub fn to_person(e: &Entry, source: &str, problems: &mut Problems) -> Option<NewRecord> {
    let mut p = PersonFields {
        fields: BTreeMap::new(),
        notes_extra: Vec::new(),
        problems,
    };
    let mut full_name = e.full_name.clone();
    if full_name.is_none() {
        let parts: Vec<&str> = [
            &e.prefix,
            &e.given_name,
            &e.middle_name,
            &e.family_name,
            &e.suffix,
        ]
        .into_iter()
        .flatten()
        .map(|s| s.value.as_str())
        .collect();
        if !parts.is_empty() {
            full_name = Some(Single {
                line: e.line,
                property: "N".into(),
                value: parts.join(" "),
            });
        }
    }
    p.single("full_name", &full_name);
    for (name, s) in [
        ("prefix", &e.prefix),
        ("given_name", &e.given_name),
        ("middle_name", &e.middle_name),
        ("family_name", &e.family_name),
        ("suffix", &e.suffix),
        ("nickname", &e.nickname),
        ("organization", &e.organization),
        ("department", &e.department),
        ("title", &e.title),
    ] {
        p.single(name, s);
    }
    if let Some(b) = &e.birthday {
        let norm = normalize_birthday(&b.value);
        match field("person", "birthday").normalize(&norm) {
            Ok(v) => {
                p.fields.insert("birthday".into(), v);
            }
            Err(reason) => p.not_kept(b.line, &b.property, &b.value, &format!("birthday {reason}")),
        }
    }
    p.list("emails", &e.emails);
    p.list("phones", &e.phones);
    let addrs: Vec<Item> = e
        .addresses
        .iter()
        .map(|(it, parts)| Item {
            value: parts.one_line(),
            ..it.clone()
        })
        .collect();
    p.list("addresses", &addrs);
    p.list("urls", &e.urls);
    let mut notes: Vec<String> = e
        .notes
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let extra: Vec<String> = e.extra.iter().chain(&p.notes_extra).cloned().collect();
    if !extra.is_empty() {
        notes.push(extra.join("\n"));
    }
    if !notes.is_empty() {
        let text: String = notes
            .join("\n\n")
            .chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .collect();
        let max = field("person", "notes").max_length;
        let text = if text.chars().count() > max {
            p.problems.not_kept(
                e.line,
                "NOTE",
                format!("notes longer than {max} characters were cut"),
                false,
            );
            text.chars().take(max).collect()
        } else {
            text
        };
        p.fields.insert("notes".into(), text);
    }
    let fields = p.fields;
    if fields.is_empty() {
        problems.skipped(
            e.line,
            None,
            "the entry has no name, email, phone, address or note that could be kept",
        );
        return None;
    }
    Some(NewRecord {
        record_type: "person".into(),
        fields,
        tags: e.tags.clone(),
        source: source.into(),
    })
}

/// Country names seen in address books → ISO codes; two-letter codes pass through.
pub fn country_code(v: &str) -> Option<String> {
    let t = v.trim().trim_end_matches('.');
    if t.len() == 2 && t.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some(t.to_ascii_uppercase());
    }
    let code = match t.to_lowercase().replace('.', "").as_str() {
        "germany" | "deutschland" => "DE",
        "france" => "FR",
        "spain" | "españa" => "ES",
        "portugal" => "PT",
        "italy" | "italia" => "IT",
        "netherlands" | "nederland" | "the netherlands" => "NL",
        "austria" | "österreich" => "AT",
        "switzerland" | "schweiz" | "suisse" => "CH",
        "belgium" | "belgië" | "belgique" => "BE",
        "denmark" | "danmark" => "DK",
        "sweden" | "sverige" => "SE",
        "norway" | "norge" => "NO",
        "finland" | "suomi" => "FI",
        "poland" | "polska" => "PL",
        "ireland" => "IE",
        "united kingdom" | "uk" | "great britain" | "england" => "GB",
        "united states" | "usa" | "united states of america" | "us" => "US",
        "canada" => "CA",
        "japan" => "JP",
        "australia" => "AU",
        _ => return None,
    };
    Some(code.into())
}

/// The owner's own records from one entry (`--as-me`): identity, one contact per email
/// and phone, one address per address, employment, and the notes. A value that does not
/// fit is reported; such values are kept together in one `note` record.
pub fn to_me(e: &Entry, source: &str, problems: &mut Problems) -> Vec<NewRecord> {
    let mut out = Vec::new();
    let mut not_kept: Vec<String> = e.extra.clone();
    let rec = |ty: &str, fields: Vec<(&str, String)>| NewRecord {
        record_type: ty.into(),
        fields: fields
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect(),
        tags: e.tags.clone(),
        source: source.into(),
    };
    // Checks one value against `ty.name`; reports it and remembers it when it does not fit.
    fn check(
        problems: &mut Problems,
        not_kept: &mut Vec<String>,
        (ty, name): (&str, &str),
        line: u64,
        property: &str,
        v: &str,
    ) -> Option<String> {
        match field(ty, name).normalize(v.trim()) {
            Ok(v) => Some(v),
            Err(reason) => {
                problems.not_kept(line, property, format!("{ty}.{name} {reason}"), true);
                not_kept.push(format!("{property}: {}", v.replace('\n', " / ")));
                None
            }
        }
    }
    let join = |a: &Option<Single>, b: &Option<Single>| {
        [a, b]
            .into_iter()
            .flatten()
            .map(|s| s.value.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut id = Vec::new();
    let given = join(&e.given_name, &e.middle_name);
    let (mut given, mut family) = (
        given,
        e.family_name
            .as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_default(),
    );
    if given.is_empty() && family.is_empty() {
        if let Some(f) = &e.full_name {
            match f.value.rsplit_once(' ') {
                Some((g, fam)) => {
                    given = g.trim().into();
                    family = fam.trim().into();
                }
                None => given = f.value.clone(),
            }
        }
    }
    if !given.is_empty() {
        id.extend(
            check(
                problems,
                &mut not_kept,
                ("identity", "given_name"),
                e.line,
                "N",
                &given,
            )
            .map(|v| ("given_name", v)),
        );
    }
    if !family.is_empty() {
        id.extend(
            check(
                problems,
                &mut not_kept,
                ("identity", "family_name"),
                e.line,
                "N",
                &family,
            )
            .map(|v| ("family_name", v)),
        );
    }
    if let Some(b) = &e.birthday {
        let norm = normalize_birthday(&b.value);
        id.extend(
            check(
                problems,
                &mut not_kept,
                ("identity", "birth_date"),
                b.line,
                &b.property,
                &norm,
            )
            .map(|v| ("birth_date", v)),
        );
    }
    if !id.is_empty() {
        out.push(rec("identity", id));
    }
    for (items, name) in [(&e.emails, "email"), (&e.phones, "phone")] {
        for it in items {
            if let Some(v) = check(
                problems,
                &mut not_kept,
                ("contact", name),
                it.line,
                &it.property,
                &it.value,
            ) {
                let mut f = vec![(name, v)];
                f.extend(it.label.clone().map(|l| ("label", l)));
                out.push(rec("contact", f));
            }
        }
    }
    for (it, a) in &e.addresses {
        let street = [&a.po_box, &a.extended, &a.street]
            .into_iter()
            .flat_map(|s| s.split(['\n', '\r']))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        let mut f = Vec::new();
        for (name, v) in [
            ("street", street),
            ("city", a.city.clone()),
            ("region", a.region.clone()),
            ("postal_code", a.postal_code.clone()),
        ] {
            if !v.trim().is_empty() {
                f.extend(
                    check(
                        problems,
                        &mut not_kept,
                        ("address", name),
                        it.line,
                        &it.property,
                        &v,
                    )
                    .map(|v| (name, v)),
                );
            }
        }
        if !a.country.trim().is_empty() {
            match country_code(&a.country) {
                Some(c) => f.push(("country", c)),
                None => {
                    problems.not_kept(it.line, &it.property, format!("address.country {:?} is not a known country (use a two-letter code such as DE)", a.country), true);
                    not_kept.push(format!("{} country: {}", it.property, a.country));
                }
            }
        }
        f.extend(it.label.clone().map(|l| ("label", l)));
        if f.iter().any(|(k, _)| *k != "label") {
            out.push(rec("address", f));
        }
    }
    if let Some(org) = &e.organization {
        let mut f = Vec::new();
        f.extend(
            check(
                problems,
                &mut not_kept,
                ("employment", "employer"),
                org.line,
                &org.property,
                &org.value,
            )
            .map(|v| ("employer", v)),
        );
        if let Some(t) = &e.title {
            f.extend(
                check(
                    problems,
                    &mut not_kept,
                    ("employment", "title"),
                    t.line,
                    &t.property,
                    &t.value,
                )
                .map(|v| ("title", v)),
            );
        }
        if !f.is_empty() {
            out.push(rec("employment", f));
        }
    }
    for n in &e.notes {
        if !n.trim().is_empty() {
            out.push(rec(
                "note",
                vec![("title", "Note".into()), ("body", n.clone())],
            ));
        }
    }
    if !not_kept.is_empty() {
        out.push(rec(
            "note",
            vec![
                ("title", "Not imported into fields".into()),
                ("body", not_kept.join("\n")),
            ],
        ));
    }
    if out.is_empty() {
        problems.skipped(e.line, None, "the card has nothing that could be kept");
    }
    out
}
