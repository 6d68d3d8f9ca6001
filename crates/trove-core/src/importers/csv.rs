//! CSV (RFC 4180, read with the `csv` crate; comma, semicolon or tab detected from the
//! header): contacts exports from Google, Outlook, Thunderbird and Windows Live Mail
//! (English and German headers) become address-book entries; with `--type T` the header
//! names fields of T. `--map COLUMN=field` names what a column holds in any layout.

use std::collections::{BTreeMap, HashMap};

use super::person::{clean_label, normalize_birthday, AddressParts, Entry, Item, Single};
use super::report::Problems;
use crate::error::{Error, Result};
use crate::model::record::validate_tag;
use crate::schema::{record_type, RecordType};

/// The longest cell read (the longest field, a note's body, holds 100,000 characters).
pub const MAX_VALUE_BYTES: usize = 400_000;

/// The field separator: the one of `,` `;` TAB that occurs most in the header line
/// (outside quotes); `,` when none does.
pub fn delimiter(text: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in text.chars().take(64 << 10) {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => break,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        [b',', b';', b'\t'][best]
    }
}

/// Which part of an address a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Street,
    Extended,
    PoBox,
    City,
    Region,
    Postal,
    Country,
    Formatted,
}

/// What a column of a contacts export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Full,
    Prefix,
    Given,
    Middle,
    Family,
    Suffix,
    Nickname,
    Org,
    Dept,
    Title,
    Birthday,
    BirthYear,
    BirthMonth,
    BirthDay,
    Notes,
    Tags,
    Email {
        slot: String,
        label: Option<&'static str>,
    },
    EmailLabel {
        slot: String,
    },
    Phone {
        slot: String,
        label: Option<&'static str>,
    },
    PhoneLabel {
        slot: String,
    },
    Url {
        slot: String,
        label: Option<&'static str>,
    },
    UrlLabel {
        slot: String,
    },
    Addr {
        slot: String,
        label: Option<&'static str>,
        part: Part,
    },
    AddrLabel {
        slot: String,
    },
    /// Bookkeeping columns of the exporting program (`Sensitivity`, `E-mail Type`).
    Ignore,
}

fn norm(h: &str) -> String {
    h.trim_start_matches('\u{feff}')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `e-mail 2 - value` → (`e-mail`, 2, `value`) for Google's numbered columns.
fn numbered(h: &str) -> Option<(&str, &str, &str)> {
    let (left, what) = h.split_once(" - ")?;
    let (kind, n) = left.rsplit_once(' ')?;
    n.chars()
        .all(|c| c.is_ascii_digit())
        .then_some((kind, n, what))
}

const ADDRESS_KINDS: &[(&str, Option<&str>)] = &[
    ("business", Some("work")),
    ("work", Some("work")),
    ("home", Some("home")),
    ("other", None),
    ("privat:", Some("home")),
    ("dienstlich:", Some("work")),
];

fn address_part(rest: &str) -> Option<Part> {
    Some(match rest {
        "street" | "address" | "adresse" | "straße" => Part::Street,
        "street 2" | "street 3" | "address2" | "address 2" | "adresse 2" => Part::Extended,
        "address po box" | "po box" => Part::PoBox,
        "city" | "ort" => Part::City,
        "state" | "bundesland" => Part::Region,
        "postal code" | "zipcode" | "zip" | "zip code" | "plz" | "postleitzahl" => Part::Postal,
        "country/region" | "country" | "land" | "land/region" => Part::Country,
        _ => return None,
    })
}

/// The role of a contacts-export column, from its (normalized) header.
fn role(h: &str) -> Option<Role> {
    let s = |x: &str| x.to_string();
    Some(match h {
        "name" | "display name" | "anzeigename" | "full name" | "full_name" => Role::Full,
        "title" | "name prefix" | "prefix" | "anrede" => Role::Prefix,
        "first name" | "given name" | "given_name" | "vorname" | "prénom" | "prenom" => {
            Role::Given
        }
        "middle name" | "additional name" | "middle_name" | "2. vorname" | "weitere vornamen" => {
            Role::Middle
        }
        "last name" | "family name" | "surname" | "family_name" | "nachname" | "nom" => {
            Role::Family
        }
        "suffix" | "name suffix" | "namenszusatz" => Role::Suffix,
        "nickname" | "spitzname" | "short name" => Role::Nickname,
        "company" | "organization" | "organisation" | "organization name" | "firma" => Role::Org,
        "department" | "abteilung" | "organization department" => Role::Dept,
        "job title" | "arbeitstitel" | "position" | "organization title" => Role::Title,
        "birthday" | "geburtstag" => Role::Birthday,
        "birth year" | "geburtsjahr" => Role::BirthYear,
        "birth month" | "geburtsmonat" => Role::BirthMonth,
        "birth day" => Role::BirthDay,
        "notes" | "notizen" | "note" => Role::Notes,
        "group membership" | "labels" | "categories" | "kategorien" => Role::Tags,
        "e-mail address"
        | "e-mail"
        | "email"
        | "email address"
        | "primary email"
        | "primäre e-mail-adresse"
        | "e-mail-adresse"
        | "emails" => Role::Email {
            slot: s("e1"),
            label: None,
        },
        "e-mail 2 address" | "secondary email" | "sekundäre e-mail-adresse" => Role::Email {
            slot: s("e2"),
            label: None,
        },
        "e-mail 3 address" => Role::Email {
            slot: s("e3"),
            label: None,
        },
        "e-mail type"
        | "e-mail 2 type"
        | "e-mail 3 type"
        | "e-mail display name"
        | "e-mail 2 display name"
        | "e-mail 3 display name"
        | "sensitivity"
        | "priority"
        | "private"
        | "internet free busy"
        | "photo"
        | "initials"
        | "yomi name"
        | "given yomi"
        | "surname yomi"
        | "company yomi"
        | "given name yomi"
        | "additional name yomi"
        | "family name yomi"
        | "file as" => Role::Ignore,
        "business phone"
        | "business phone 2"
        | "work phone"
        | "tel. dienstlich"
        | "telefon (geschäftlich)" => Role::Phone {
            slot: s(h),
            label: Some("work"),
        },
        "home phone" | "home phone 2" | "tel. privat" | "telefon (privat)" => Role::Phone {
            slot: s(h),
            label: Some("home"),
        },
        "mobile phone" | "mobile number" | "mobil-tel.-nr." | "mobiltelefon" => Role::Phone {
            slot: s(h),
            label: Some("mobile"),
        },
        "business fax" | "fax (geschäftlich)" => Role::Phone {
            slot: s(h),
            label: Some("work fax"),
        },
        "home fax" | "fax (privat)" | "fax number" | "fax-nummer" | "other fax" => Role::Phone {
            slot: s(h),
            label: Some("fax"),
        },
        "pager" | "pager number" | "pager-nummer" => Role::Phone {
            slot: s(h),
            label: Some("pager"),
        },
        "car phone" => Role::Phone {
            slot: s(h),
            label: Some("car"),
        },
        "company main phone" => Role::Phone {
            slot: s(h),
            label: Some("company"),
        },
        "assistant's phone" => Role::Phone {
            slot: s(h),
            label: Some("assistant"),
        },
        "primary phone" | "other phone" | "phones" => Role::Phone {
            slot: s(h),
            label: None,
        },
        "callback" => Role::Phone {
            slot: s(h),
            label: Some("callback"),
        },
        "radio phone" => Role::Phone {
            slot: s(h),
            label: Some("radio"),
        },
        "isdn" => Role::Phone {
            slot: s(h),
            label: Some("isdn"),
        },
        "tty/tdd phone" => Role::Phone {
            slot: s(h),
            label: Some("tty"),
        },
        "telex" => Role::Phone {
            slot: s(h),
            label: Some("telex"),
        },
        "web page" | "web page 1" | "webseite 1" | "personal web page" | "webseite (privat)"
        | "urls" => Role::Url {
            slot: s(h),
            label: None,
        },
        "web page 2" | "webseite 2" | "webseite (geschäftlich)" => Role::Url {
            slot: s(h),
            label: Some("work"),
        },
        "screen name" | "messenger-name" | "imaddress" | "im address" => Role::Url {
            slot: s(h),
            label: Some("im"),
        },
        "addresses" => Role::Addr {
            slot: s(h),
            label: None,
            part: Part::Formatted,
        },
        _ => return numbered_role(h).or_else(|| address_role(h)),
    })
}

fn numbered_role(h: &str) -> Option<Role> {
    let (kind, n, what) = numbered(h)?;
    let slot = format!("{kind}{n}");
    let is_label = matches!(what, "type" | "label");
    Some(match (kind, what) {
        ("e-mail", "value") => Role::Email { slot, label: None },
        ("e-mail", _) if is_label => Role::EmailLabel { slot },
        ("phone", "value") => Role::Phone { slot, label: None },
        ("phone", _) if is_label => Role::PhoneLabel { slot },
        ("website", "value") => Role::Url { slot, label: None },
        ("website", _) if is_label => Role::UrlLabel { slot },
        ("im", "value") => Role::Url {
            slot,
            label: Some("im"),
        },
        ("im", _) if is_label || what == "service" => Role::UrlLabel { slot },
        ("address", _) if is_label => Role::AddrLabel { slot },
        ("address", part) => {
            let part = match part {
                "formatted" => Part::Formatted,
                "street" => Part::Street,
                "extended address" => Part::Extended,
                "po box" => Part::PoBox,
                "city" => Part::City,
                "region" => Part::Region,
                "postal code" => Part::Postal,
                "country" => Part::Country,
                _ => return None,
            };
            Role::Addr {
                slot,
                label: None,
                part,
            }
        }
        ("organization", "name") => Role::Org,
        ("organization", "title") => Role::Title,
        ("organization", "department") => Role::Dept,
        _ => return None,
    })
}

fn address_role(h: &str) -> Option<Role> {
    for (kind, label) in ADDRESS_KINDS {
        if let Some(rest) = h.strip_prefix(kind) {
            let part = address_part(rest.trim())?;
            return Some(Role::Addr {
                slot: (*kind).into(),
                label: *label,
                part,
            });
        }
    }
    // Windows Live Mail: `Straße (privat)`, `Ort (geschäftlich)`.
    for (suffix, label) in [(" (privat)", "home"), (" (geschäftlich)", "work")] {
        if let Some(rest) = h.strip_suffix(suffix) {
            let part = address_part(rest.trim())?;
            return Some(Role::Addr {
                slot: suffix.into(),
                label: Some(label),
                part,
            });
        }
    }
    None
}

/// `--map` targets: a `person` field name → the role of a column mapped to it.
fn mapped_role(field: &str, col: usize) -> Result<Role> {
    let slot = format!("map{col}");
    Ok(match field {
        "full_name" => Role::Full,
        "prefix" => Role::Prefix,
        "given_name" => Role::Given,
        "middle_name" => Role::Middle,
        "family_name" => Role::Family,
        "suffix" => Role::Suffix,
        "nickname" => Role::Nickname,
        "organization" => Role::Org,
        "department" => Role::Dept,
        "title" => Role::Title,
        "birthday" => Role::Birthday,
        "notes" => Role::Notes,
        "tags" => Role::Tags,
        "emails" => Role::Email { slot, label: None },
        "phones" => Role::Phone { slot, label: None },
        "urls" => Role::Url { slot, label: None },
        "addresses" => Role::Addr { slot, label: None, part: Part::Formatted },
        "ignore" => Role::Ignore,
        other => {
            return Err(Error::InvalidInput(format!(
                "column map: {other:?} is not a field of person (full_name, prefix, given_name, middle_name, family_name, suffix, nickname, organization, department, title, birthday, emails, phones, addresses, urls, notes, tags, or ignore)"
            )))
        }
    })
}

/// The `person` field a column of this role could be mapped to with `--map`, for the
/// roles that one column fills alone.
fn map_target(r: &Role) -> Option<&'static str> {
    Some(match r {
        Role::Full => "full_name",
        Role::Prefix => "prefix",
        Role::Given => "given_name",
        Role::Middle => "middle_name",
        Role::Family => "family_name",
        Role::Suffix => "suffix",
        Role::Nickname => "nickname",
        Role::Org => "organization",
        Role::Dept => "department",
        Role::Title => "title",
        Role::Birthday => "birthday",
        Role::Notes => "notes",
        Role::Tags => "tags",
        Role::Email { .. } => "emails",
        Role::Phone { .. } => "phones",
        Role::Url { .. } => "urls",
        _ => return None,
    })
}

/// For a header Trove does not recognize: the columns whose name is a known column name
/// after a prefix of 1-3 characters (`XFirst Name`, `My Notes`), with the `--map` field
/// each would take. Only
/// suggested, never applied: the person importing says whether that is what they hold.
fn suggested_maps(header: &[String]) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for h in header {
        let n = norm(h);
        let column = h.trim().trim_start_matches('\u{feff}');
        if column.contains('"') || role(&n).is_some() {
            continue;
        }
        // A known name after a short prefix of at most 3 characters; the longest one
        // (`xlast name` is `last name`, never `name`).
        let found = n
            .char_indices()
            .skip(1)
            .take(3)
            .map(|(i, _)| n[i..].trim_start())
            .filter(|rest| rest.chars().count() >= 4)
            .find_map(role)
            .as_ref()
            .and_then(map_target);
        if let Some(field) = found {
            out.push((column.to_string(), field));
        }
        if out.len() == 40 {
            break;
        }
    }
    out
}

/// When every column Trove does not know carries the same prefix of 1-3 characters and,
/// without it, at least two are known names including a name, email or phone column
/// (`XFirst Name`, `XLast Name`, `XE-mail Address`): the prefix and the header without it.
/// One prefix shared by all such columns is a renamed export, not a guess per column;
/// anything less is only suggested (see [`suggested_maps`]).
fn common_prefix(header: &[String]) -> Option<(String, Vec<String>)> {
    let unknown: Vec<&str> = header
        .iter()
        .map(|h| h.trim())
        .filter(|h| !h.is_empty() && role(&norm(h)).is_none())
        .collect();
    let first = unknown.first()?;
    let known_after = |prefix: &str| -> Vec<Role> {
        unknown
            .iter()
            .filter_map(|h| role(&norm(h.strip_prefix(prefix)?)))
            .collect()
    };
    // Of the prefixes (1-3 characters) all of them share, the one that makes the most
    // columns known (`X`, not `XF`, for `XFirst Name` and `XFamily Name`).
    let (prefix, roles) = first
        .char_indices()
        .skip(1)
        .map(|(end, _)| &first[..end])
        .take(3)
        .take_while(|p| unknown.iter().all(|h| h.starts_with(p)))
        .map(|p| (p, known_after(p)))
        .max_by_key(|(p, roles)| (roles.len(), std::cmp::Reverse(p.len())))?;
    let named = roles.iter().any(|r| {
        matches!(
            r,
            Role::Full | Role::Given | Role::Family | Role::Email { .. } | Role::Phone { .. }
        )
    });
    if roles.len() < 2 || !named {
        return None;
    }
    let stripped = header
        .iter()
        .map(|h| match h.trim().strip_prefix(prefix) {
            Some(rest) if role(&norm(h)).is_none() => rest.trim_start().to_string(),
            _ => h.clone(),
        })
        .collect();
    Some((prefix.to_string(), stripped))
}

/// What the columns of a file hold.
enum Layout {
    /// An address book: each row is an entry.
    Contacts(Vec<Option<Role>>),
    /// `--type T`: each column is a field of T (or `tags`).
    Typed(&'static RecordType, Vec<Option<String>>),
}

/// Chooses the layout from the header, `--type` and `--map` (`COLUMN=field`).
fn layout(
    header: &[String],
    record_type_name: Option<&str>,
    map: &[(String, String)],
) -> Result<Layout> {
    let mapped = |i: usize, h: &str| {
        map.iter()
            .find(|(c, _)| c.trim() == h.trim() || norm(c) == norm(h))
            .map(|(_, f)| (i, f.trim()))
    };
    for (c, _) in map {
        if !header
            .iter()
            .any(|h| h.trim() == c.trim() || norm(h) == norm(c))
        {
            return Err(Error::InvalidInput(format!(
                "column map: the file has no column {c:?} (columns: {})",
                header
                    .iter()
                    .take(40)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    match record_type_name {
        Some(t) if t != "person" => {
            let ty = record_type(t)?;
            let mut cols = Vec::new();
            for (i, h) in header.iter().enumerate() {
                let name = match mapped(i, h) {
                    Some((_, f)) => f.to_string(),
                    None => h.trim().trim_start_matches('\u{feff}').to_string(),
                };
                cols.push((name == "tags" || ty.field(&name).is_ok()).then_some(name));
            }
            if cols.iter().all(Option::is_none) {
                return Err(Error::CsvColumns {
                    columns: header.to_vec(),
                    record_type: Some(t.to_string()),
                    fields: ty.fields.iter().map(|f| f.name.clone()).collect(),
                    suggested: Vec::new(),
                });
            }
            Ok(Layout::Typed(ty, cols))
        }
        _ => {
            let has_year = header
                .iter()
                .any(|h| matches!(norm(h).as_str(), "birth year" | "geburtsjahr"));
            let mut roles = Vec::new();
            for (i, h) in header.iter().enumerate() {
                let r = match mapped(i, h) {
                    Some((i, f)) => Some(mapped_role(f, i)?),
                    None => match role(&norm(h)) {
                        Some(Role::Birthday) if has_year && norm(h) == "geburtstag" => {
                            Some(Role::BirthDay)
                        }
                        r => r,
                    },
                };
                roles.push(r);
            }
            let useful = roles.iter().flatten().any(|r| {
                matches!(
                    r,
                    Role::Full
                        | Role::Given
                        | Role::Family
                        | Role::Email { .. }
                        | Role::Org
                        | Role::Phone { .. }
                        | Role::Nickname
                )
            });
            if !useful {
                return Err(Error::CsvColumns {
                    columns: header.to_vec(),
                    record_type: None,
                    fields: Vec::new(),
                    suggested: suggested_maps(header)
                        .into_iter()
                        .map(|(c, f)| (c, f.to_string()))
                        .collect(),
                });
            }
            Ok(Layout::Contacts(roles))
        }
    }
}

/// A row of a `--type T` file: its fields and tags, before checking.
pub struct TypedRow {
    pub line: u64,
    pub fields: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

/// What reading the rows hands on.
// Each row is built and moved once; boxing the entry would only add an allocation per row.
#[allow(clippy::large_enum_variant)]
pub enum Row {
    Entry(Entry),
    Typed(TypedRow),
}

/// Reads `text` row by row (never collecting the rows), handing each to `each`.
pub fn parse(
    text: &str,
    record_type_name: Option<&str>,
    map: &[(String, String)],
    problems: &mut Problems,
    each: &mut dyn FnMut(Row, &mut Problems),
) -> Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rec = csv::StringRecord::new();
    let read = |rdr: &mut csv::Reader<&[u8]>, rec: &mut csv::StringRecord| {
        rdr.read_record(rec)
            .map_err(|e| Error::InvalidInput(format!("the file is not CSV: {e}")))
    };
    // The header: the first row that is not empty.
    loop {
        if !read(&mut rdr, &mut rec)? {
            problems.skipped(1, None, "the file is empty (a header row is needed)");
            return Ok(());
        }
        if rec.iter().any(|f| !f.trim().is_empty()) {
            break;
        }
    }
    let header_line = rec.position().map(|p| p.line()).unwrap_or(1);
    let header: Vec<String> = rec
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    for (i, h) in header.iter().enumerate() {
        if header[..i].iter().any(|o| norm(o) == norm(h)) && !h.trim().is_empty() {
            problems.not_kept(
                header_line,
                h,
                format!(
                    "column {} {h:?} appears twice; the first one is read",
                    i + 1
                ),
                false,
            );
        }
    }
    let header = match (record_type_name, map.is_empty(), common_prefix(&header)) {
        (None | Some("person"), true, Some((prefix, stripped))) => {
            let (was, now) = header
                .iter()
                .zip(&stripped)
                .find(|(h, s)| h != s)
                .map(|(h, s)| (h.trim(), s.as_str()))
                .unwrap_or_default();
            problems.warnings.push(crate::bundle::ImportWarning {
                code: "columns_prefixed",
                message: format!(
                    "every column Trove does not know starts with {prefix:?}; they were read without it ({was:?} as {now:?}); if that is wrong, map the columns to fields (COLUMN=field)"
                ),
            });
            stripped
        }
        _ => header,
    };
    let layout = layout(&header, record_type_name, map)?;
    while read(&mut rdr, &mut rec)? {
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let extra: Vec<(usize, &str)> = rec
            .iter()
            .enumerate()
            .skip(header.len())
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        match &layout {
            Layout::Typed(ty, cols) => {
                let mut fields = BTreeMap::new();
                let mut tags = Vec::new();
                for (i, v) in rec.iter().enumerate().take(cols.len()) {
                    if v.len() > MAX_VALUE_BYTES {
                        problems.not_kept(
                            line,
                            header[i].trim(),
                            format!(
                                "the value is {} bytes long, longer than any field: not kept",
                                v.len()
                            ),
                            false,
                        );
                        continue;
                    }
                    match &cols[i] {
                        Some(c) if c == "tags" => tags.extend(
                            v.split([' ', ';'])
                                .filter(|s| !s.is_empty())
                                .map(String::from),
                        ),
                        Some(c) if !v.is_empty() && !fields.contains_key(c) => {
                            fields.insert(c.clone(), v.to_string());
                        }
                        Some(_) => {}
                        None if !v.trim().is_empty() => problems.unmapped(line, header[i].trim()),
                        None => {}
                    }
                }
                if !extra.is_empty() {
                    problems.not_kept(line, "(row)", format!("the row has {} fields; the header has {}: the {} extra value(s) were not kept", rec.len(), header.len(), extra.len()), false);
                }
                let _ = ty;
                each(Row::Typed(TypedRow { line, fields, tags }), problems);
            }
            Layout::Contacts(roles) => {
                let mut e = contact_row(line, &header, roles, &rec, problems);
                if !extra.is_empty() {
                    for (i, v) in &extra {
                        e.extra.push(format!("column {}: {}", i + 1, v));
                    }
                    problems.not_kept(line, "(row)", format!("the row has {} fields; the header has {}: the extra values were kept in notes", rec.len(), header.len()), true);
                }
                each(Row::Entry(e), problems);
            }
        }
    }
    Ok(())
}

/// Google joins several values of one column with ` ::: `.
fn values(v: &str) -> impl Iterator<Item = &str> {
    v.split(" ::: ").map(str::trim).filter(|s| !s.is_empty())
}

/// Values Outlook writes into columns nobody filled.
fn is_placeholder(v: &str) -> bool {
    matches!(
        v.trim(),
        "Normal" | "Unspecified" | "False" | "0/0/00" | "0.0.00" | "00.00.00"
    )
}

fn contact_row(
    line: u64,
    header: &[String],
    roles: &[Option<Role>],
    rec: &csv::StringRecord,
    problems: &mut Problems,
) -> Entry {
    let mut e = Entry {
        line,
        ..Default::default()
    };
    let mut emails: Vec<(String, Option<String>, String)> = Vec::new();
    let mut phones: Vec<(String, Option<String>, String)> = Vec::new();
    let mut urls: Vec<(String, Option<String>, String)> = Vec::new();
    let mut addrs: Vec<(String, Option<String>, AddressParts, String)> = Vec::new();
    let mut labels: HashMap<(u8, String), String> = HashMap::new();
    let (mut year, mut month, mut day) = (String::new(), String::new(), String::new());
    for (i, v) in rec.iter().enumerate().take(roles.len()) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let h = header[i].trim();
        if v.len() > MAX_VALUE_BYTES {
            problems.not_kept(
                line,
                h,
                format!(
                    "the value is {} bytes long, longer than any field: not kept",
                    v.len()
                ),
                false,
            );
            continue;
        }
        let one = |slot: &mut Option<Single>, extra: &mut Vec<String>| {
            super::person::set(slot, extra, line, h, v)
        };
        match &roles[i] {
            None => {
                if !is_placeholder(v) {
                    e.extra.push(format!("{h}: {v}"));
                    problems.unmapped(line, h);
                }
            }
            Some(Role::Ignore) => {}
            Some(Role::Full) => one(&mut e.full_name, &mut e.extra),
            Some(Role::Prefix) => one(&mut e.prefix, &mut e.extra),
            Some(Role::Given) => one(&mut e.given_name, &mut e.extra),
            Some(Role::Middle) => one(&mut e.middle_name, &mut e.extra),
            Some(Role::Family) => one(&mut e.family_name, &mut e.extra),
            Some(Role::Suffix) => one(&mut e.suffix, &mut e.extra),
            Some(Role::Nickname) => one(&mut e.nickname, &mut e.extra),
            Some(Role::Org) => one(&mut e.organization, &mut e.extra),
            Some(Role::Dept) => one(&mut e.department, &mut e.extra),
            Some(Role::Title) => one(&mut e.title, &mut e.extra),
            Some(Role::Birthday) if !is_placeholder(v) => one(&mut e.birthday, &mut e.extra),
            Some(Role::Birthday) => {}
            Some(Role::BirthYear) => year = v.to_string(),
            Some(Role::BirthMonth) => month = v.to_string(),
            Some(Role::BirthDay) => day = v.to_string(),
            Some(Role::Notes) => e.notes.push(v.to_string()),
            Some(Role::Tags) => {
                for t in values(v) {
                    let t = t.trim_start_matches('*').trim();
                    if t.is_empty() || t.eq_ignore_ascii_case("mycontacts") {
                        continue;
                    }
                    let tag = t.replace(' ', "-");
                    if validate_tag(&tag).is_ok() {
                        if !e.tags.contains(&tag) {
                            e.tags.push(tag);
                        }
                    } else {
                        e.extra.push(format!("{h}: {t}"));
                        problems.not_kept(
                            line,
                            h,
                            format!("{t:?} is not a tag (1-64 letters, digits or - _ . : /)"),
                            true,
                        );
                    }
                }
            }
            Some(Role::Email { slot, label }) => emails
                .extend(values(v).map(|x| (slot.clone(), label.map(String::from), x.to_string()))),
            Some(Role::Phone { slot, label }) => phones
                .extend(values(v).map(|x| (slot.clone(), label.map(String::from), x.to_string()))),
            Some(Role::Url { slot, label }) => urls
                .extend(values(v).map(|x| (slot.clone(), label.map(String::from), x.to_string()))),
            Some(Role::EmailLabel { slot }) => {
                labels.insert((0, slot.clone()), v.to_string());
            }
            Some(Role::PhoneLabel { slot }) => {
                labels.insert((1, slot.clone()), v.to_string());
            }
            Some(Role::UrlLabel { slot }) => {
                labels.insert((2, slot.clone()), v.to_string());
            }
            Some(Role::AddrLabel { slot }) => {
                labels.insert((3, slot.clone()), v.to_string());
            }
            Some(Role::Addr { slot, label, part }) => {
                let i = match addrs.iter().position(|(s, ..)| s == slot) {
                    Some(i) => i,
                    None => {
                        addrs.push((
                            slot.clone(),
                            label.map(String::from),
                            AddressParts::default(),
                            String::new(),
                        ));
                        addrs.len() - 1
                    }
                };
                let (_, _, a, formatted) = &mut addrs[i];
                let add = |s: &mut String| {
                    if !s.is_empty() {
                        s.push_str(", ");
                    }
                    s.push_str(v);
                };
                match part {
                    Part::Street => add(&mut a.street),
                    Part::Extended => add(&mut a.extended),
                    Part::PoBox => add(&mut a.po_box),
                    Part::City => add(&mut a.city),
                    Part::Region => add(&mut a.region),
                    Part::Postal => add(&mut a.postal_code),
                    Part::Country => add(&mut a.country),
                    Part::Formatted => add(formatted),
                }
            }
        }
    }
    if !(year.is_empty() && month.is_empty() && day.is_empty()) {
        let pad = |s: &str| {
            if s.len() == 1 {
                format!("0{s}")
            } else {
                s.to_string()
            }
        };
        let b = if year.is_empty() {
            format!("--{}-{}", pad(&month), pad(&day))
        } else {
            format!("{year}-{}-{}", pad(&month), pad(&day))
        };
        super::person::set(&mut e.birthday, &mut e.extra, line, "birthday", &b);
    }
    if let Some(b) = &mut e.birthday {
        b.value = normalize_birthday(&b.value);
    }
    let label_for = |kind: u8, slot: &str, fixed: Option<String>| {
        fixed.or_else(|| {
            labels
                .get(&(kind, slot.to_string()))
                .and_then(|l| values(l).find_map(clean_label))
        })
    };
    let item = |property: String, label: Option<String>, value: String| Item {
        line,
        property,
        label,
        value,
    };
    for (slot, fixed, v) in emails {
        e.emails
            .push(item("email".into(), label_for(0, &slot, fixed), v));
    }
    for (slot, fixed, v) in phones {
        e.phones
            .push(item("phone".into(), label_for(1, &slot, fixed), v));
    }
    for (slot, fixed, v) in urls {
        e.urls
            .push(item("url".into(), label_for(2, &slot, fixed), v));
    }
    for (slot, fixed, mut parts, formatted) in addrs {
        if parts.is_empty() {
            parts.street = formatted;
        }
        if !parts.is_empty() {
            e.addresses.push((
                item("address".into(), label_for(3, &slot, fixed), String::new()),
                parts,
            ));
        }
    }
    e
}
