//! vCard 2.1, 3.0 and 4.0 (RFC 2426, RFC 6350) into address-book entries: folded lines,
//! quoted-printable soft breaks and `CHARSET`, base64 continuation lines, grouped
//! properties (`item1.EMAIL` with `item1.X-ABLabel`), escapes, several cards per file.
//! jCard (RFC 7095) arrives here too, as the same properties (see `jcard.rs`).

use std::collections::HashMap;

use super::person::{clean_label, label_of, set, AddressParts, Entry, Item};
use super::report::Problems;
use super::text::decode_charset;
use crate::model::record::validate_tag;

/// One property of a card: where it is, its group, upper-cased name, parameters
/// (upper-cased names) and its value split into components (structured properties) or
/// values (`CATEGORIES`, `NICKNAME`), already unescaped and decoded.
#[derive(Debug, Clone)]
pub struct Prop {
    pub line: u64,
    pub group: Option<String>,
    pub name: String,
    pub params: Vec<(String, String)>,
    pub comps: Vec<String>,
    /// Binary content (base64): nothing Trove keeps.
    pub binary: bool,
}

impl Prop {
    /// The TYPE values (`TYPE=work,voice`, repeated TYPE, 2.1 bare `;WORK`).
    fn types(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|(k, _)| k == "TYPE")
            .flat_map(|(_, v)| v.split(','))
    }

    fn value(&self) -> String {
        self.comps.join(", ")
    }

    fn comp(&self, i: usize) -> &str {
        self.comps.get(i).map(String::as_str).unwrap_or("")
    }
}

/// Unfolds `text` into logical lines (number of the first physical line, content):
/// a line starting with a space or tab continues the one before (RFC 6350 3.2); a
/// quoted-printable value ending in `=` continues on the next line (vCard 2.1); a line
/// without `:` after a base64 value continues it (vCard 2.1 writes them unindented).
fn unfold(text: &str, mut each: impl FnMut(u64, &str, bool)) {
    let mut cur = String::new();
    let mut cur_no = 0u64;
    let mut qp = false;
    let mut b64 = false;
    // Past MAX_LINE_BYTES a logical line is no longer kept (a photo, or a hostile file):
    // its first MiB still names the property.
    let mut overlong = false;
    let push = |cur: &mut String, overlong: &mut bool, s: &str| {
        if cur.len() + s.len() > MAX_LINE_BYTES {
            *overlong = true;
        } else {
            cur.push_str(s);
        }
    };
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let no = i as u64 + 1;
        if !cur.is_empty() {
            if qp && cur.ends_with('=') && !overlong {
                cur.pop();
                push(&mut cur, &mut overlong, raw);
                continue;
            }
            if let Some(cont) = raw.strip_prefix([' ', '\t']) {
                push(&mut cur, &mut overlong, cont);
                continue;
            }
            if b64 && !raw.is_empty() && !raw.contains(':') {
                push(&mut cur, &mut overlong, raw.trim());
                continue;
            }
            each(cur_no, &cur, overlong);
            cur.clear();
            overlong = false;
        }
        if raw.trim().is_empty() {
            continue;
        }
        push(&mut cur, &mut overlong, raw);
        if overlong {
            // Even its start is too long: keep the start so the property is named.
            let mut end = MAX_LINE_BYTES.min(raw.len());
            while !raw.is_char_boundary(end) {
                end -= 1;
            }
            cur.push_str(&raw[..end]);
        }
        cur_no = no;
        let head: Vec<u8> = raw
            .bytes()
            .take_while(|b| *b != b':')
            .take(512)
            .map(|b| b.to_ascii_uppercase())
            .collect();
        let has = |w: &[u8]| head.windows(w.len()).any(|x| x == w);
        qp = has(b"QUOTED-PRINTABLE");
        b64 = has(b"BASE64") || has(b"ENCODING=B");
    }
    if !cur.is_empty() {
        each(cur_no, &cur, overlong);
    }
}

/// The longest logical line (a property with its folded continuations) kept.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Undoes vCard escapes: `\n`/`\N` newline, `\,` `\;` `\:` `\\`.
pub fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// Splits on unescaped `sep`, then unescapes each part.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            out.push(unescape(&cur));
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if esc {
        cur.push('\\');
    }
    out.push(unescape(&cur));
    out
}

/// Decodes quoted-printable (`=XX`; a malformed escape stays as written).
fn quoted_printable(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

const STRUCTURED: &[&str] = &["N", "ADR", "ORG", "GENDER"];
const LISTS: &[&str] = &["CATEGORIES", "NICKNAME"];

/// Parses one logical line `[group.]NAME[;PARAM=V[,V]...]:VALUE`.
pub fn parse_line(no: u64, s: &str) -> Result<Prop, String> {
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon.ok_or_else(|| "no `:` between property name and value".to_string())?;
    let (head, value) = (&s[..colon], &s[colon + 1..]);
    let mut parts = head.split(';');
    let full = parts.next().unwrap_or("");
    let (group, name) = match full.rsplit_once('.') {
        Some((g, n)) => (Some(g.to_string()), n),
        None => (None, full),
    };
    let name = name.trim().to_ascii_uppercase();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{:?} is not a property name",
            name.chars().take(40).collect::<String>()
        ));
    }
    let params: Vec<(String, String)> = parts
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (
                k.trim().to_ascii_uppercase(),
                v.trim().trim_matches('"').to_string(),
            ),
            None => {
                let v = p.trim().to_string();
                match v.to_ascii_uppercase().as_str() {
                    "QUOTED-PRINTABLE" | "BASE64" | "B" | "8BIT" | "7BIT" => {
                        ("ENCODING".to_string(), v)
                    }
                    _ => ("TYPE".to_string(), v),
                }
            }
        })
        .collect();
    let encoding = params
        .iter()
        .find(|(k, _)| k == "ENCODING")
        .map(|(_, v)| v.to_ascii_uppercase());
    let charset = params
        .iter()
        .find(|(k, _)| k == "CHARSET")
        .map(|(_, v)| v.as_str());
    let binary = matches!(encoding.as_deref(), Some("B" | "BASE64"))
        || params
            .iter()
            .any(|(k, v)| k == "VALUE" && v.eq_ignore_ascii_case("binary"));
    let value: String = if binary {
        String::new()
    } else if encoding.as_deref() == Some("QUOTED-PRINTABLE") {
        decode_charset(&quoted_printable(value), charset)
    } else {
        value.to_string()
    };
    let comps = if STRUCTURED.contains(&name.as_str()) {
        split_unescaped(&value, ';')
    } else if LISTS.contains(&name.as_str()) {
        split_unescaped(&value, ',')
    } else {
        vec![unescape(&value)]
    };
    Ok(Prop {
        line: no,
        group,
        name,
        params,
        comps: comps.into_iter().map(|c| c.trim().to_string()).collect(),
        binary,
    })
}

/// Properties that describe the card rather than the person: nothing to keep.
const STRUCTURAL: &[&str] = &[
    "BEGIN",
    "END",
    "VERSION",
    "PRODID",
    "REV",
    "UID",
    "KIND",
    "SOURCE",
    "NAME",
    "PROFILE",
    "CLIENTPIDMAP",
    "X-ABLABEL",
    "X-ABUID",
    "X-ABSHOWAS",
    "X-ABADR",
    "LABEL",
    "SORT-STRING",
    "X-MS-OL-DEFAULT-POSTAL-ADDRESS",
    "X-MS-CARDPICTURE",
];

/// Properties with meaning but no field: kept verbatim in the notes.
const TO_NOTES: &[&str] = &[
    "ROLE",
    "ANNIVERSARY",
    "X-ANNIVERSARY",
    "X-MS-ANNIVERSARY",
    "X-EVOLUTION-ANNIVERSARY",
    "GENDER",
    "X-GENDER",
    "RELATED",
    "X-SPOUSE",
    "X-MS-SPOUSE",
    "X-EVOLUTION-SPOUSE",
    "X-ASSISTANT",
    "X-EVOLUTION-ASSISTANT",
    "X-MANAGER",
    "X-EVOLUTION-MANAGER",
    "TZ",
    "GEO",
    "LANG",
    "MAILER",
    "EXPERTISE",
    "HOBBY",
    "INTEREST",
    "ORG-DIRECTORY",
    "X-MAIDENNAME",
    "X-PHONETIC-FIRST-NAME",
    "X-PHONETIC-LAST-NAME",
    "CLASS",
    "X-ABRELATEDNAMES",
    "X-ABDATE",
    "X-KADDRESSBOOK-X-SPOUSENAME",
    "X-KADDRESSBOOK-X-ANNIVERSARY",
    "X-KADDRESSBOOK-X-PROFESSION",
    "X-KADDRESSBOOK-X-OFFICE",
    "X-KADDRESSBOOK-X-MANAGERSNAME",
    "X-KADDRESSBOOK-X-ASSISTANTSNAME",
    "X-KADDRESSBOOK-X-IMADDRESS",
    "X-MOZILLA-HTML",
];

/// Messaging and social properties: kept as labelled lines of `urls`.
fn messaging_label(name: &str) -> Option<String> {
    let n = name.strip_prefix("X-").unwrap_or(name);
    let n = n.strip_prefix("KADDRESSBOOK-").unwrap_or(n);
    match n {
        "IMPP" | "SOCIALPROFILE" => Some(String::new()),
        "AIM" | "ICQ" | "JABBER" | "MSN" | "YAHOO" | "SKYPE" | "SKYPE-USERNAME" | "GOOGLE-TALK"
        | "GTALK" | "GADUGADU" | "QQ" | "TWITTER" | "GROUPWISE" | "SIP" | "MATRIX" | "XMPP" => {
            Some(n.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// Reads every card in `text`, handing each entry to `each` as soon as its `END:VCARD`
/// is read (nothing is collected).
pub fn parse(text: &str, problems: &mut Problems, each: &mut dyn FnMut(Entry, &mut Problems)) {
    let mut card: Option<(u64, Vec<Prop>)> = None;
    let mut nested = 0u32;
    let mut cards = 0u64;
    let mut outside_reported = false;
    unfold(text, |no, raw, overlong| {
        let p = match parse_line(no, raw) {
            Ok(p) => p,
            Err(e) => {
                match &card {
                    Some(_) => problems.not_kept(no, "?", format!("line not kept: {e}"), false),
                    None if !outside_reported => {
                        outside_reported = true;
                        problems.skipped(
                            no,
                            None,
                            format!("text outside BEGIN:VCARD … END:VCARD: {e}"),
                        );
                    }
                    None => {}
                }
                return;
            }
        };
        if overlong && !p.binary {
            problems.not_kept(
                no,
                &p.name,
                format!("the value is longer than {MAX_LINE_BYTES} bytes: not kept"),
                false,
            );
            return;
        }
        let v = p.value();
        let is_begin = p.name == "BEGIN" && v.trim().eq_ignore_ascii_case("VCARD");
        let is_end = p.name == "END" && v.trim().eq_ignore_ascii_case("VCARD");
        match &mut card {
            Some(_) if nested > 0 => {
                if is_begin {
                    nested += 1;
                } else if is_end {
                    nested -= 1;
                }
            }
            Some((_, props)) if is_begin => {
                // A card inside a card (vCard 2.1 AGENT): not kept, reported.
                nested = 1;
                props.push(Prop {
                    name: "AGENT".into(),
                    comps: Vec::new(),
                    binary: true,
                    ..p
                });
            }
            Some(_) if is_end => {
                let (start, props) = card.take().expect("a card is open");
                cards += 1;
                if let Some(e) = entry(start, props, problems) {
                    each(e, problems);
                }
            }
            Some((_, props)) => props.push(p),
            None if is_begin => card = Some((no, Vec::new())),
            None if is_end => problems.skipped(no, None, "END:VCARD without BEGIN:VCARD"),
            None if !outside_reported => {
                outside_reported = true;
                problems.skipped(
                    no,
                    Some(&p.name),
                    format!("{} outside BEGIN:VCARD … END:VCARD", p.name),
                );
            }
            None => {}
        }
    });
    if let Some((start, props)) = card {
        // The last card never ended (a truncated file): keep what it has, and say so.
        problems.not_kept(
            start,
            "END",
            "the card has no END:VCARD (is the file cut off?)",
            false,
        );
        if let Some(e) = entry(start, props, problems) {
            each(e, problems);
        }
        cards += 1;
    }
    if cards == 0 && problems.total() == 0 {
        problems.skipped(1, None, "no BEGIN:VCARD found");
    }
}

/// Turns one card's properties into an entry (labels of grouped properties applied).
pub fn entry(start: u64, props: Vec<Prop>, problems: &mut Problems) -> Option<Entry> {
    let group_labels: HashMap<String, String> = props
        .iter()
        .filter(|p| p.name == "X-ABLABEL")
        .filter_map(|p| Some((p.group.clone()?, p.value())))
        .collect();
    let label = |p: &Prop| {
        p.group
            .as_ref()
            .and_then(|g| group_labels.get(g))
            .and_then(|l| clean_label(l))
            .or_else(|| label_of(p.types()))
    };
    let mut e = Entry {
        line: start,
        ..Default::default()
    };
    if let Some(v) = props.iter().find(|p| p.name == "VERSION") {
        let ver = v.value();
        if !matches!(ver.trim(), "2.1" | "3.0" | "4.0") {
            problems.not_kept(
                v.line,
                "VERSION",
                format!("vCard version {ver:?} is not 2.1, 3.0 or 4.0; read as 4.0"),
                false,
            );
        }
    }
    let has_adr = props.iter().any(|p| p.name == "ADR");
    for p in &props {
        let name = p.name.as_str();
        let item = |value: String| Item {
            line: p.line,
            property: p.name.clone(),
            label: label(p),
            value,
        };
        if p.binary {
            problems.unmapped(p.line, name);
            continue;
        }
        match name {
            "FN" => set(&mut e.full_name, &mut e.extra, p.line, name, &p.value()),
            "N" => {
                let x = &mut e.extra;
                set(
                    &mut e.family_name,
                    x,
                    p.line,
                    "N",
                    &p.comp(0).replace(',', " "),
                );
                set(
                    &mut e.given_name,
                    x,
                    p.line,
                    "N",
                    &p.comp(1).replace(',', " "),
                );
                set(
                    &mut e.middle_name,
                    x,
                    p.line,
                    "N",
                    &p.comp(2).replace(',', " "),
                );
                set(&mut e.prefix, x, p.line, "N", &p.comp(3).replace(',', " "));
                set(&mut e.suffix, x, p.line, "N", &p.comp(4).replace(',', " "));
            }
            "NICKNAME" => set(
                &mut e.nickname,
                &mut e.extra,
                p.line,
                name,
                &p.comps.join(", "),
            ),
            "ORG" => {
                set(&mut e.organization, &mut e.extra, p.line, name, p.comp(0));
                let dept: Vec<&str> = p
                    .comps
                    .iter()
                    .skip(1)
                    .map(String::as_str)
                    .filter(|s| !s.is_empty())
                    .collect();
                set(
                    &mut e.department,
                    &mut e.extra,
                    p.line,
                    name,
                    &dept.join(", "),
                );
            }
            "TITLE" => set(&mut e.title, &mut e.extra, p.line, name, &p.value()),
            "BDAY" | "X-BIRTHDAY" => set(&mut e.birthday, &mut e.extra, p.line, name, &p.value()),
            "EMAIL" => e.emails.push(item(p.value())),
            "TEL" => {
                let v = p.value();
                let v = v.strip_prefix("tel:").unwrap_or(&v).to_string();
                e.phones.push(item(v));
            }
            "ADR" => {
                let parts = AddressParts {
                    po_box: p.comp(0).into(),
                    extended: p.comp(1).into(),
                    street: p.comp(2).into(),
                    city: p.comp(3).into(),
                    region: p.comp(4).into(),
                    postal_code: p.comp(5).into(),
                    country: p.comp(6).into(),
                };
                if !parts.is_empty() {
                    e.addresses.push((item(String::new()), parts));
                }
            }
            "LABEL" if !has_adr => {
                let parts = AddressParts {
                    street: p.value(),
                    ..Default::default()
                };
                if !parts.is_empty() {
                    e.addresses.push((item(String::new()), parts));
                }
            }
            "URL" => e.urls.push(item(p.value())),
            "NOTE" => e.notes.push(p.value()),
            "UID" => {
                let v = p.value();
                if !v.trim().is_empty() && v.len() <= 1000 {
                    e.uid = Some(v.trim().to_string());
                }
            }
            "CATEGORIES" => {
                for c in &p.comps {
                    let t = c.trim().replace(' ', "-");
                    if t.is_empty() {
                        continue;
                    }
                    if validate_tag(&t).is_ok() {
                        if !e.tags.contains(&t) {
                            e.tags.push(t);
                        }
                    } else {
                        e.extra.push(format!("CATEGORIES: {c}"));
                        problems.not_kept(
                            p.line,
                            name,
                            format!(
                                "category {c:?} is not a tag (1-64 letters, digits or - _ . : /)"
                            ),
                            true,
                        );
                    }
                }
            }
            _ if STRUCTURAL.contains(&name) => {}
            _ if TO_NOTES.contains(&name) => {
                let v = p.value();
                if !v.trim().is_empty() {
                    e.extra.push(format!("{name}: {v}"));
                }
            }
            _ => match messaging_label(name) {
                Some(l) => {
                    let mut it = item(p.value());
                    if !l.is_empty() {
                        it.label = Some(l);
                    }
                    e.urls.push(it);
                }
                None => problems.unmapped(p.line, name),
            },
        }
    }
    Some(e)
}
