//! vCard 3.0 and 4.0 (RFC 2426, RFC 6350): unfolding, escapes, several cards per file.
//! FN/N/BDAY → identity, EMAIL/TEL → contact, ADR → address, ORG/TITLE → employment, NOTE → note.

use std::collections::BTreeMap;

use super::Parsed;
use crate::record::NewRecord;

/// One unfolded content line: where it started, its name, parameters and raw value.
struct Line {
    no: u64,
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

/// Unfolds lines (CRLF or LF; a line starting with a space or tab continues the one
/// before) and returns each logical line with the number of its first physical line.
fn unfold(text: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(cont) = raw.strip_prefix([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push_str(cont);
                continue;
            }
        }
        if !raw.is_empty() {
            out.push((i as u64 + 1, raw.to_string()));
        }
    }
    out
}

/// Splits `[group.]NAME[;PARAM=V[,V]...]:VALUE`; the colon may not be inside quotes.
fn split_line(no: u64, s: &str) -> Result<Line, String> {
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
    let name = parts.next().unwrap_or("");
    let name = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "{:?} is not a property name",
            name.chars().take(40).collect::<String>()
        ));
    }
    let params = parts
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), v.trim_matches('"').to_string()),
            // vCard 2.1 style bare parameter, e.g. `TEL;WORK:`
            None => ("TYPE".to_string(), p.to_string()),
        })
        .collect();
    Ok(Line {
        no,
        name,
        params,
        value: value.to_string(),
    })
}

/// Undoes vCard escapes: `\n`/`\N` newline, `\,` `\;` `\:` `\\`.
fn unescape(s: &str) -> String {
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

/// Splits a structured value on unescaped `;`, then unescapes each component.
fn components(s: &str) -> Vec<String> {
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
        } else if c == ';' {
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
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

/// The label from TYPE parameters: `work`, `home`, `mobile`..., ignoring technical ones.
fn label(params: &[(String, String)]) -> Option<String> {
    params
        .iter()
        .filter(|(k, _)| k == "TYPE")
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .find(|t| {
            !matches!(
                t.as_str(),
                "internet" | "pref" | "voice" | "x400" | "text" | ""
            )
        })
        .map(|t| if t == "cell" { "mobile".to_string() } else { t })
}

/// vCard BDAY forms: `1988-04-12`, `19880412`, `1988-04-12T…`; year-less dates are skipped.
fn bday(v: &str) -> Result<Option<String>, String> {
    let v = v.trim();
    let date = v.split('T').next().unwrap_or("");
    if date.starts_with("--") {
        return Ok(None);
    }
    let iso = if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..])
    } else {
        date.to_string()
    };
    if iso.len() == 10 && chrono::NaiveDate::parse_from_str(&iso, "%Y-%m-%d").is_ok() {
        Ok(Some(iso))
    } else {
        Err(format!("BDAY {v:?} is not a date"))
    }
}

/// Country names seen in address books → ISO codes; two-letter codes pass through.
fn country(v: &str) -> Result<String, String> {
    let t = v.trim();
    if t.len() == 2 && t.chars().all(|c| c.is_ascii_alphabetic()) {
        return Ok(t.to_ascii_uppercase());
    }
    let code = match t.to_lowercase().as_str() {
        "germany" | "deutschland" => "DE",
        "france" => "FR",
        "spain" | "españa" => "ES",
        "portugal" => "PT",
        "italy" | "italia" => "IT",
        "netherlands" | "nederland" | "the netherlands" => "NL",
        "austria" | "österreich" => "AT",
        "switzerland" | "schweiz" | "suisse" => "CH",
        "belgium" => "BE",
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
        _ => {
            return Err(format!(
                "ADR country {t:?} is not a two-letter country code"
            ))
        }
    };
    Ok(code.into())
}

fn record(ty: &str, fields: Vec<(&str, String)>) -> Option<NewRecord> {
    let fields: BTreeMap<String, String> = fields
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    if fields.is_empty() {
        return None;
    }
    Some(NewRecord {
        record_type: ty.into(),
        fields,
        tags: Vec::new(),
        source: "import:vcard".into(),
    })
}

/// Parses every card in `text`.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut card: Option<(u64, Vec<Line>)> = None;
    let mut cards = 0;
    for (no, raw) in unfold(text) {
        let line = match split_line(no, &raw) {
            Ok(l) => l,
            Err(e) => {
                out.problems.push((no, e));
                continue;
            }
        };
        let value_upper = line.value.trim().to_ascii_uppercase();
        match (line.name.as_str(), value_upper.as_str()) {
            ("BEGIN", "VCARD") => {
                if let Some((start, _)) = card.take() {
                    out.problems.push((start, "card has no END:VCARD".into()));
                }
                card = Some((no, Vec::new()));
            }
            ("END", "VCARD") => match card.take() {
                Some((start, lines)) => {
                    cards += 1;
                    convert(start, &lines, &mut out)
                }
                None => out
                    .problems
                    .push((no, "END:VCARD without BEGIN:VCARD".into())),
            },
            _ => match &mut card {
                Some((_, lines)) => lines.push(line),
                None => out
                    .problems
                    .push((no, format!("{} outside BEGIN:VCARD … END:VCARD", line.name))),
            },
        }
    }
    if let Some((start, _)) = card {
        out.problems.push((start, "card has no END:VCARD".into()));
    }
    if cards == 0 && out.problems.is_empty() {
        out.problems.push((1, "no BEGIN:VCARD found".into()));
    }
    out
}

fn convert(start: u64, lines: &[Line], out: &mut Parsed) {
    match lines.iter().find(|l| l.name == "VERSION") {
        Some(v) if matches!(v.value.trim(), "3.0" | "4.0") => {}
        Some(v) => {
            out.problems.push((
                v.no,
                format!(
                    "vCard version {:?} is not supported (3.0 and 4.0 are)",
                    v.value.trim()
                ),
            ));
            return;
        }
        None => {
            out.problems
                .push((start, "card has no VERSION (3.0 or 4.0)".into()));
            return;
        }
    }
    let (mut given, mut family, mut birth) = (String::new(), String::new(), None);
    let mut ident_line = start;
    let mut fn_name = None;
    let (mut employer, mut title, mut emp_line) = (String::new(), String::new(), start);
    for l in lines {
        match l.name.as_str() {
            "N" => {
                let c = components(&l.value);
                family = c.first().cloned().unwrap_or_default();
                given = c.get(1).cloned().unwrap_or_default();
                ident_line = l.no;
            }
            "FN" => fn_name = Some((l.no, unescape(&l.value).trim().to_string())),
            "BDAY" => match bday(&unescape(&l.value)) {
                Ok(d) => birth = d,
                Err(e) => out.problems.push((l.no, e)),
            },
            "EMAIL" => {
                let mut f = vec![("email", unescape(&l.value))];
                f.extend(label(&l.params).map(|t| ("label", t)));
                out.records.extend(record("contact", f).map(|r| (l.no, r)));
            }
            "TEL" => {
                let v = unescape(&l.value);
                let v = v.strip_prefix("tel:").unwrap_or(&v).to_string();
                let mut f = vec![("phone", v)];
                f.extend(label(&l.params).map(|t| ("label", t)));
                out.records.extend(record("contact", f).map(|r| (l.no, r)));
            }
            "ADR" => {
                let c = components(&l.value);
                let get = |i: usize| c.get(i).cloned().unwrap_or_default();
                let street = [get(1), get(2)]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut f = vec![
                    ("street", street),
                    ("city", get(3)),
                    ("region", get(4)),
                    ("postal_code", get(5)),
                ];
                let ctry = get(6);
                if !ctry.is_empty() {
                    match country(&ctry) {
                        Ok(code) => f.push(("country", code)),
                        Err(e) => {
                            out.problems.push((l.no, e));
                            continue;
                        }
                    }
                }
                f.extend(label(&l.params).map(|t| ("label", t)));
                out.records.extend(record("address", f).map(|r| (l.no, r)));
            }
            "ORG" => {
                employer = components(&l.value).into_iter().next().unwrap_or_default();
                emp_line = l.no;
            }
            "TITLE" => {
                title = unescape(&l.value);
                emp_line = emp_line.max(l.no);
            }
            "NOTE" => {
                let body = unescape(&l.value);
                let t = fn_name.as_ref().map(|(_, n)| format!("Note on {n}"));
                let mut f = vec![("body", body)];
                f.extend(t.map(|t| ("title", t)));
                out.records.extend(record("note", f).map(|r| (l.no, r)));
            }
            _ => {}
        }
    }
    if given.is_empty() && family.is_empty() {
        if let Some((no, name)) = &fn_name {
            ident_line = *no;
            match name.rsplit_once(' ') {
                Some((g, f)) => {
                    given = g.trim().into();
                    family = f.trim().into();
                }
                None => given = name.clone(),
            }
        }
    }
    let mut f = vec![("given_name", given), ("family_name", family)];
    f.extend(birth.map(|b| ("birth_date", b)));
    if let Some(r) = record("identity", f) {
        out.records.push((ident_line, r));
    }
    // A TITLE without ORG has no employer, which employment requires: not imported.
    if !employer.is_empty() {
        if let Some(r) = record("employment", vec![("employer", employer), ("title", title)]) {
            out.records.push((emp_line, r));
        }
    }
}
