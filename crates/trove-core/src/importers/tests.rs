//! Importers: one fixture per case class met in real exports (written here, not copied),
//! the leak (an address book never becomes the owner's records, and no grant or scoped
//! export reaches it), keeping what can be kept, updates, and bounds on hostile input.

use super::*;
use crate::bundle::{export_to_writer, import_bundle_bytes, Encryption, ExportOptions};
use crate::grant::NewGrant;
use crate::share::{Credential, ReplyBody, RequestMeta, ShareEngine, ShareOp, ShareRequest};
use crate::vault::tests::new_vault;
use crate::{ListFilter, Scope};

/// Parses without a vault: every record kept and the problems.
fn read(format: Format, bytes: &[u8], opts: &Options<'_>) -> Result<(Vec<Parsed>, Problems)> {
    let mut problems = Problems::default();
    let mut out = Vec::new();
    parse(format, bytes.to_vec(), opts, &mut problems, &mut |p, _| {
        out.push(p)
    })?;
    Ok((out, problems))
}

fn people(format: Format, bytes: &[u8]) -> (Vec<BTreeMap<String, String>>, Problems) {
    let (recs, problems) = read(format, bytes, &Options::default()).unwrap();
    for r in &recs {
        assert_eq!(r.record.record_type, "person", "{:?}", r.record);
    }
    (
        recs.into_iter().map(|r| r.record.fields).collect(),
        problems,
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn import(v: &Vault, path: &Path, opts: &Options<'_>) -> Result<Report> {
    import_file(v, path, opts, &mut |_| {})
}

fn all(v: &Vault) -> Vec<Record> {
    v.list(&ListFilter::default()).unwrap()
}

const VCF: &str = "BEGIN:VCARD\r\n\
VERSION:4.0\r\n\
UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n\
FN:Dr. Ana María López Jr.\r\n\
N:López;Ana;María;Dr.;Jr.\r\n\
NICKNAME:Anita\r\n\
BDAY:--0412\r\n\
EMAIL;TYPE=work:a.lopez@northwind.exa\r\n mple\r\n\
EMAIL;TYPE=home,pref:ana@example.org\r\n\
TEL;TYPE=cell:+49 170 5550 987\r\n\
TEL;VALUE=uri;TYPE=work:tel:+1-555-555-5555;ext=5555\r\n\
ADR;TYPE=home:;;Kastanienallee 12\\nHinterhaus;Berlin;;10435;Germany\r\n\
ORG:Northwind Traders;Analytics;Europe\r\n\
TITLE:Data analyst\r\n\
URL:https://example.org/ana\r\n\
CATEGORIES:friends,book club\r\n\
NOTE:likes oat milk\\, not soy\\nsecond line\r\n\
X-FAVOURITE-COLOUR:green\r\n\
PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQ\r\n\
END:VCARD\r\n\
BEGIN:VCARD\n\
VERSION:3.0\n\
FN:Ben Schmidt\n\
EMAIL;type=INTERNET;type=HOME:ben@example.org\n\
BDAY;VALUE=text:circa 1800\n\
END:VCARD\n";

#[test]
fn vcard_cards_become_person_records_with_every_part_kept() {
    let (p, problems) = people(Format::Vcard, VCF.as_bytes());
    assert_eq!(p.len(), 2);
    let ana = &p[0];
    assert_eq!(ana["full_name"], "Dr. Ana María López Jr.");
    assert_eq!(
        (
            ana["prefix"].as_str(),
            ana["given_name"].as_str(),
            ana["middle_name"].as_str()
        ),
        ("Dr.", "Ana", "María")
    );
    assert_eq!(
        (ana["family_name"].as_str(), ana["suffix"].as_str()),
        ("López", "Jr.")
    );
    assert_eq!(ana["nickname"], "Anita");
    assert_eq!(ana["birthday"], "--04-12", "a year-less birthday is kept");
    assert_eq!(
        ana["emails"], "work: a.lopez@northwind.example\nhome: ana@example.org",
        "unfolded, labelled, pref ignored"
    );
    assert_eq!(ana["phones"], "mobile: +49 170 5550 987");
    assert_eq!(
        ana["addresses"],
        "home: Kastanienallee 12, Hinterhaus, Berlin, 10435, Germany"
    );
    assert_eq!(
        (ana["organization"].as_str(), ana["department"].as_str()),
        ("Northwind Traders", "Analytics, Europe")
    );
    assert_eq!(ana["title"], "Data analyst");
    assert_eq!(ana["urls"], "https://example.org/ana");
    assert!(
        ana["notes"].starts_with("likes oat milk, not soy\nsecond line"),
        "{}",
        ana["notes"]
    );
    // The phone with an extension does not fit `phones`: reported and kept in the notes.
    assert!(
        ana["notes"].contains("TEL: +1-555-555-5555;ext=5555"),
        "{}",
        ana["notes"]
    );
    let tel = problems
        .list()
        .iter()
        .find(|p| p.property.as_deref() == Some("TEL"))
        .expect("TEL reported");
    assert_eq!(
        (tel.line, tel.kind, tel.kept_in_notes),
        (12, ProblemKind::ValueNotKept, true)
    );
    // The second card: its text birthday is reported, the rest kept.
    assert_eq!(p[1]["emails"], "home: ben@example.org");
    assert!(p[1]["notes"].contains("BDAY: circa 1800"));
    let bday = problems
        .list()
        .iter()
        .find(|p| p.property.as_deref() == Some("BDAY"))
        .unwrap();
    assert_eq!(bday.line, 26);
    // Properties with no field are listed, never dropped silently.
    let mut r = Report::default();
    problems.into_report(&mut r);
    let names: Vec<&str> = r.unmapped.iter().map(|u| u.property.as_str()).collect();
    assert_eq!(names, ["PHOTO", "X-FAVOURITE-COLOUR"]);
    assert_eq!(r.values_not_kept, 2);
}

#[test]
fn vcard_2_1_quoted_printable_charset_and_base64_continuations() {
    let card = b"BEGIN:VCARD\r\n\
VERSION:2.1\r\n\
N;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:M=FCller;J=FCrgen\r\n\
FN;CHARSET=UTF-8;QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BC=\r\n\
ller\r\n\
TEL;WORK;VOICE:+49 30 1234567\r\n\
ADR;HOME;ENCODING=QUOTED-PRINTABLE:;;Hauptstra=C3=9Fe 1=0D=0AHof;Berlin;;10115;DE\r\n\
PHOTO;ENCODING=BASE64;TYPE=JPEG:\r\n\
/9j/4AAQSkZJRgABAQEASABIAAD\r\n\
AAQSkZJRgABAQEASABIAAD/9j/4\r\n\
\r\n\
EMAIL;INTERNET;HOME:juergen@example.org\r\n\
END:VCARD\r\n";
    let (p, problems) = people(Format::Vcard, card);
    assert_eq!(p.len(), 1, "{:?}", problems.list());
    assert_eq!(
        (p[0]["family_name"].as_str(), p[0]["given_name"].as_str()),
        ("Müller", "Jürgen")
    );
    assert_eq!(p[0]["full_name"], "Jürgen Müller", "soft line break joined");
    assert_eq!(p[0]["phones"], "work: +49 30 1234567", "2.1 bare TYPE");
    assert_eq!(
        p[0]["addresses"],
        "home: Hauptstraße 1, Hof, Berlin, 10115, DE"
    );
    assert_eq!(
        p[0]["emails"], "home: juergen@example.org",
        "base64 lines did not swallow EMAIL"
    );
    assert_eq!(problems.total(), 0, "{:?}", problems.list());
}

#[test]
fn grouped_properties_take_their_apple_label() {
    let card = "BEGIN:VCARD\nVERSION:3.0\nFN:Cleo\nitem1.EMAIL;type=INTERNET:cleo@example.org\nitem1.X-ABLabel:_$!<Other>!$_\nitem2.URL:https://cleo.example\nitem2.X-ABLabel:blog\nitem3.TEL:+33 1 23 45 67 89\nitem3.X-ABLabel:_$!<HomeFAX>!$_\nEND:VCARD\n";
    let (p, problems) = people(Format::Vcard, card.as_bytes());
    assert_eq!(p[0]["emails"], "cleo@example.org", "Other is no label");
    assert_eq!(p[0]["urls"], "blog: https://cleo.example");
    assert_eq!(p[0]["phones"], "homefax: +33 1 23 45 67 89");
    assert_eq!(problems.total(), 0);
}

#[test]
fn jcard_is_read_like_vcard() {
    let j = r#"["vcard",[["version",{},"text","4.0"],["fn",{},"text","Simon Perreault"],["n",{},"text",["Perreault","Simon","","",["ing. jr","M.Sc."]]],["bday",{},"date-and-or-time","--02-03"],["tel",{"type":["work","voice"]},"uri","tel:+1-418-656-9254"],["email",{"type":"work"},"text","simon.perreault@viagenie.ca"],["adr",{"type":"work"},"text",["","Suite D2-630","2875 Laurier","Quebec","QC","G1V 2M2","Canada"]],["categories",{},"text","work","test"]]]"#;
    let (p, problems) = people(Format::Json, j.as_bytes());
    assert_eq!(p.len(), 1, "{:?}", problems.list());
    assert_eq!(p[0]["full_name"], "Simon Perreault");
    assert_eq!(p[0]["suffix"], "ing. jr,M.Sc.".replace(',', " "));
    assert_eq!(p[0]["birthday"], "--02-03");
    assert_eq!(p[0]["phones"], "work: +1-418-656-9254");
    assert_eq!(
        p[0]["addresses"],
        "work: Suite D2-630, 2875 Laurier, Quebec, QC, G1V 2M2, Canada"
    );
}

#[test]
fn utf16_and_windows_1252_files_are_decoded() {
    let mut le = vec![0xFF, 0xFE];
    le.extend(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë Brontë\r\nEND:VCARD\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    let (p, _) = people(Format::Vcard, &le);
    assert_eq!(p[0]["full_name"], "Zoë Brontë");
    let (p, _) = people(
        Format::Csv,
        b"First Name,Last Name,E-mail Address\r\nJos\xe9,M\xfcller,jose@example.org\r\n",
    );
    assert_eq!(
        (p[0]["given_name"].as_str(), p[0]["family_name"].as_str()),
        ("José", "Müller")
    );
}

#[test]
fn google_outlook_and_thunderbird_csv_headers_are_recognized() {
    let google = "Name,Given Name,Family Name,Birthday,Notes,Group Membership,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Address 1 - Type,Address 1 - Street,Address 1 - City,Address 1 - Country,Organization 1 - Name\n\
Ana López,Ana,López,1988-04-12,\"line one\nline two\",* myContacts ::: Book club,* Home,ana@example.org ::: ana2@example.org,Mobile,+49 170 5550 987,Home,Kastanienallee 12,Berlin,Germany,Northwind\n";
    let (p, problems) = people(Format::Csv, google.as_bytes());
    assert_eq!(problems.total(), 0, "{:?}", problems.list());
    assert_eq!(
        p[0]["emails"],
        "home: ana@example.org\nhome: ana2@example.org"
    );
    assert_eq!(p[0]["phones"], "mobile: +49 170 5550 987");
    assert_eq!(
        p[0]["addresses"],
        "home: Kastanienallee 12, Berlin, Germany"
    );
    assert_eq!(p[0]["birthday"], "1988-04-12");
    assert_eq!(p[0]["notes"], "line one\nline two");
    let (recs, _) = read(Format::Csv, google.as_bytes(), &Options::default()).unwrap();
    assert_eq!(recs[0].record.tags, ["Book-club"]);

    let outlook = "Title,First Name,Last Name,Company,Business Street,Business City,Business Postal Code,Business Country/Region,Business Phone,Mobile Phone,E-mail Address,Sensitivity,Spouse\n\
Dr.,Bo,Berg,Acme,1 Main St,Springfield,12345,U.S.A.,+1 555 0100,+1 555 0199,bo@example.org,Normal,Kim\n";
    let (p, problems) = people(Format::Csv, outlook.as_bytes());
    assert_eq!(p[0]["prefix"], "Dr.");
    assert_eq!(
        p[0]["addresses"], "work: 1 Main St, Springfield, 12345, U.S.A.",
        "U.S.A. kept as written"
    );
    assert_eq!(p[0]["phones"], "work: +1 555 0100\nmobile: +1 555 0199");
    assert!(
        p[0]["notes"].contains("Spouse: Kim"),
        "a column with no field is kept in notes"
    );
    let mut r = Report::default();
    problems.into_report(&mut r);
    assert_eq!(
        r.unmapped
            .iter()
            .map(|u| u.property.as_str())
            .collect::<Vec<_>>(),
        ["Spouse"],
        "Sensitivity=Normal is Outlook's placeholder"
    );

    // Thunderbird, German headers, semicolons; year, month and day in three columns.
    let tb = "Vorname;Nachname;Primäre E-Mail-Adresse;Privat: Adresse;Privat: Ort;Geburtsjahr;Geburtsmonat;Geburtstag\nMax;Mustermann;max@example.org;Privatstr. 88;Dresden;1972;1;31\n";
    let (p, _) = people(Format::Csv, tb.as_bytes());
    assert_eq!(p[0]["birthday"], "1972-01-31");
    assert_eq!(p[0]["addresses"], "home: Privatstr. 88, Dresden");
    let tabs = "First Name\tLast Name\tE-mail Address\nAna\tLópez\tana@example.org\n";
    assert_eq!(
        people(Format::Csv, tabs.as_bytes()).0[0]["emails"],
        "ana@example.org"
    );
}

#[test]
fn csv_rows_wider_than_the_header_and_unknown_layouts() {
    let wide = "First Name,E-mail Address\nAna,ana@example.org,surplus\nBen,ben@example.org\n";
    let (p, problems) = people(Format::Csv, wide.as_bytes());
    assert_eq!(p.len(), 2);
    assert!(p[0]["notes"].contains("column 3: surplus"));
    let w = &problems.list()[0];
    assert_eq!((w.line, w.kind), (2, ProblemKind::ValueNotKept));
    let e = read(
        Format::Csv,
        b"City,Population\nBerlin,3600000\n",
        &Options::default(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(
            e,
            Error::CsvColumns {
                record_type: None,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.hint()
            .unwrap()
            .contains("map them to person fields (COLUMN=field)"),
        "{e}"
    );
    // --map names what a column holds.
    let opts = Options {
        map: parse_map(&["City=full_name", "Population=notes"]).unwrap(),
        ..Default::default()
    };
    let (recs, _) = read(Format::Csv, b"City,Population\nBerlin,3600000\n", &opts).unwrap();
    assert_eq!(recs[0].record.fields["full_name"], "Berlin");
    assert!(parse_map(&["nope"]).is_err());
    // --type T: columns are T's fields, an unknown one reported.
    let opts = Options {
        record_type: Some("note".into()),
        ..Default::default()
    };
    let (recs, problems) = read(Format::Csv, b"title,colour\na,b\n", &opts).unwrap();
    assert_eq!(recs[0].record.record_type, "note");
    assert_eq!(problems.unmapped_list().next(), Some(("colour", 1, 2)));
}

/// Regression (real test files of a contacts library): every column renamed with a
/// prefix (`XFirst Name`, `XVorname`). Refused, since Trove never guesses, but the error
/// names the `--map` for each column that looks like a known one, and those maps import.
/// A person's prefix, given, family name and nickname ("" for one not set).
fn name_parts(f: &BTreeMap<String, String>) -> [&str; 4] {
    ["prefix", "given_name", "family_name", "nickname"].map(|k| f.get(k).map_or("", String::as_str))
}

#[test]
fn columns_that_all_carry_one_prefix_are_read_without_it_and_said_so() {
    let file = "XTitle,XFirst Name,XLast Name,XE-mail Address,XSpitzname,Car Phone\n\
                Dr.,Ana,Lima,ana@example.org,Anni,+49 30 1234567\n";
    let (recs, problems) = read(Format::Csv, file.as_bytes(), &Options::default()).unwrap();
    let f = &recs[0].record.fields;
    assert_eq!(name_parts(f), ["Dr.", "Ana", "Lima", "Anni"]);
    assert!(f["emails"].contains("ana@example.org"), "{f:?}");
    assert!(f["phones"].contains("+49 30 1234567"), "{f:?}");
    let w = &problems.warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].message.contains("starts with \"X\"")
            && w[0].message.contains("\"XTitle\" as \"Title\"")
            && w[0]
                .message
                .contains("map the columns to fields (COLUMN=field)"),
        "{}",
        w[0].message
    );

    // Not applied: one unknown column without the prefix (`Zip`), a prefix that makes only
    // one column known, or one that makes no name, email or phone column known.
    for header in [
        "XFirst Name,XLast Name,Zip",
        "XFirst Name,XColour",
        "XTitle,XCompany,XDepartment",
    ] {
        let file = format!("{header}\nA,B,C\n");
        let e = read(Format::Csv, file.as_bytes(), &Options::default());
        assert!(e.is_err(), "{header} is refused");
    }
    // Neither with --map or --type: the person's own naming wins.
    let opts = Options {
        map: parse_map(&["XFirst Name=given_name"]).unwrap(),
        ..Default::default()
    };
    let (recs, problems) = read(Format::Csv, b"XFirst Name,XLast Name\nAna,Lima\n", &opts).unwrap();
    assert!(problems.warnings.is_empty());
    assert!(!recs[0].record.fields.contains_key("family_name"));
}

#[test]
fn renamed_contacts_columns_are_refused_with_the_maps_to_use() {
    let file =
        "XTitle,XFirst Name,XLast Name,XE-mail Display Name,XManager's Name,XSpitzname,Zip\n\
                Dr.,Ana,Lima,Ana L.,Ben Boss,Anni,10435\n";
    let e = read(Format::Csv, file.as_bytes(), &Options::default())
        .err()
        .unwrap();
    let Error::CsvColumns { suggested, .. } = &e else {
        panic!("refused as unknown columns: {e}")
    };
    for (c, f) in [
        ("XTitle", "prefix"),
        ("XFirst Name", "given_name"),
        ("XLast Name", "family_name"),
        ("XSpitzname", "nickname"),
    ] {
        assert!(
            suggested.contains(&(c.to_string(), f.to_string())),
            "suggests {c}={f}: {suggested:?}"
        );
        assert!(e.hint().unwrap().contains(&format!("\"{c}={f}\"")), "{e}");
    }
    // Not suggested: a bookkeeping column, a name after a long prefix, a column that
    // is no known name at all.
    for c in ["XE-mail Display Name", "XManager's Name", "Zip"] {
        assert!(
            !suggested.iter().any(|(x, _)| x == c),
            "does not suggest {c}: {suggested:?}"
        );
    }
    let maps: Vec<String> = suggested.iter().map(|(c, f)| format!("{c}={f}")).collect();
    let opts = Options {
        map: parse_map(&maps).unwrap(),
        ..Default::default()
    };
    let (recs, _) = read(Format::Csv, file.as_bytes(), &opts).unwrap();
    let f = &recs[0].record.fields;
    assert_eq!(name_parts(f), ["Dr.", "Ana", "Lima", "Anni"]);
    // A headerless table of numbers gets the plain advice and no suggestion.
    let e = read(Format::Csv, b"1,,3\n4,5,6\n", &Options::default())
        .err()
        .unwrap();
    let hint = e.hint().unwrap();
    assert!(
        matches!(&e, Error::CsvColumns { suggested, .. } if suggested.is_empty())
            && hint.contains("map them to person fields (COLUMN=field)")
            && !hint.contains("look like"),
        "{e}: {hint}"
    );
}

/// Regression (real fixtures of vCard parsers): a card with nothing but a PHOTO is not an
/// address-book entry; the file is refused, naming the card's line and the PHOTO.
#[test]
fn a_card_with_only_a_photo_is_refused_with_its_line() {
    let (d, v) = new_vault();
    let f = write(
        d.path(),
        "photo.vcf",
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nPHOTO;ENCODING=BASE64;JPEG:\r\n /9j/4AAQ\r\n\r\nEND:VCARD\r\n",
    );
    let e = import(&v, &f, &Options::default()).unwrap_err().to_string();
    assert!(e.contains("line 1") && e.contains("PHOTO"), "{e}");
    assert!(v.list(&ListFilter::default()).unwrap().is_empty());
}

#[test]
fn import_keeps_what_fits_and_strict_refuses_the_whole_file() {
    let (d, v) = new_vault();
    let f = write(d.path(), "a.vcf", VCF.as_bytes());
    let e = import(
        &v,
        &f,
        &Options {
            strict: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::ImportMalformed { problems, .. } if problems.iter().any(|(l, r)| *l == 12 && r.starts_with("TEL"))),
        "{e}"
    );
    assert!(all(&v).is_empty(), "strict: nothing written");
    let r = import(&v, &f, &Options::default()).unwrap();
    assert_eq!(
        (r.merge.records, r.merge.new, r.skipped, r.values_not_kept),
        (2, 2, 0, 2)
    );
    assert_eq!(r.unmapped.len(), 2);
    let recs = all(&v);
    assert!(recs
        .iter()
        .all(|r| r.record_type == "person" && r.source == "import:vcard"));
    assert_eq!(
        v.search("Kastanienallee", 10).unwrap().len(),
        1,
        "list values are searchable"
    );
    assert_eq!(v.search("a.lopez@northwind.example", 10).unwrap().len(), 1);
    let json = serde_json::to_value(&r).unwrap();
    for k in [
        "new",
        "skipped",
        "values_not_kept",
        "unmapped",
        "problems",
        "problems_total",
    ] {
        assert!(json.get(k).is_some(), "--json has {k}: {json}");
    }
    // A file with nothing to keep is refused with its reasons.
    let bad = write(
        d.path(),
        "b.vcf",
        b"BEGIN:VCARD\nVERSION:3.0\nX-ONLY:1\nEND:VCARD\n",
    );
    assert!(matches!(
        import(&v, &bad, &Options::default()),
        Err(Error::ImportMalformed { .. })
    ));
}

#[test]
fn as_me_imports_one_card_as_the_owners_records() {
    let (d, v) = new_vault();
    let one = "BEGIN:VCARD\nVERSION:3.0\nN:López;Ana;;;\nBDAY:1988-04-12\nEMAIL;TYPE=work:ana@example.org\nADR;TYPE=home:;;Kastanienallee 12;Berlin;;10435;U.S.A.\nORG:Northwind\nEND:VCARD\n";
    let f = write(d.path(), "me.vcf", one.as_bytes());
    let r = import(
        &v,
        &f,
        &Options {
            as_me: true,
            ..Default::default()
        },
    )
    .unwrap();
    let types: BTreeSet<String> = all(&v).into_iter().map(|r| r.record_type).collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["address", "contact", "employment", "identity"]
    );
    let addr = &v
        .list(&ListFilter {
            record_type: Some("address".into()),
            ..Default::default()
        })
        .unwrap()[0];
    assert_eq!(addr.fields["country"], "US", "U.S.A. understood");
    assert_eq!(r.values_not_kept, 0);
    let two = write(d.path(), "two.vcf", VCF.as_bytes());
    let e = import(
        &v,
        &two,
        &Options {
            as_me: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("this file has 2"), "{e}");
}

#[test]
fn no_scope_on_the_owners_types_reaches_a_person() {
    let (d, v) = new_vault();
    v.add(NewRecord::new(
        "identity",
        [("given_name".into(), "Owner".into())],
    ))
    .unwrap();
    v.add(NewRecord::new(
        "contact",
        [("email".into(), "owner@example.org".into())],
    ))
    .unwrap();
    let f = write(d.path(), "book.vcf", VCF.as_bytes());
    import(&v, &f, &Options::default()).unwrap();
    // The share engine: a grant on every owner type sees the owner only.
    let owner_types: Vec<String> = crate::record_types()
        .iter()
        .map(|t| t.name.clone())
        .filter(|t| t != "person")
        .collect();
    let (_, token) = v
        .create_grant(&NewGrant {
            org: "Acme".into(),
            purpose: "test".into(),
            scope: owner_types.clone(),
            ..Default::default()
        })
        .unwrap();
    let reply = ShareEngine::new(&v).handle(
        &v,
        ShareRequest {
            meta: RequestMeta {
                remote_addr: "127.0.0.1".into(),
                method: "GET".into(),
                path: "/v1/records".into(),
                transport: crate::share::Transport::Http,
            },
            credential: Credential::from_authorization(Some(&format!(
                "Bearer {}",
                token.expose_secret()
            ))),
            op: ShareOp::Records { record_type: None },
        },
    );
    let ReplyBody::Records(rs) = &reply.body else {
        panic!("{reply:?}")
    };
    assert_eq!(rs.len(), 2, "owner's two records only");
    assert!(rs.iter().all(|r| r.record_type != "person"));
    let asked = ShareEngine::new(&v).handle(
        &v,
        ShareRequest {
            meta: RequestMeta {
                remote_addr: "127.0.0.1".into(),
                method: "GET".into(),
                path: "/v1/records?type=person".into(),
                transport: crate::share::Transport::Http,
            },
            credential: Credential::from_authorization(Some(&format!(
                "Bearer {}",
                token.expose_secret()
            ))),
            op: ShareOp::Records {
                record_type: Some("person".into()),
            },
        },
    );
    assert_ne!(asked.status, 200, "asking for person by name is refused");
    // A grant cannot name person at all.
    for scope in [
        vec!["person".to_string()],
        vec!["identity".into(), "person.emails".into()],
    ] {
        let e = v
            .create_grant(&NewGrant {
                org: "Acme".into(),
                purpose: "test".into(),
                scope,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.code(), "not_grantable");
    }
    // A scoped export of the owner's types carries no person.
    let scope = Scope::parse(&owner_types, None).unwrap();
    let (bytes, _) = export_to_writer(
        &v,
        Vec::new(),
        &ExportOptions {
            encryption: Encryption::Plain,
            scope: Some(scope),
            replace: false,
        },
        &mut |_| {},
    )
    .unwrap();
    let (_d2, other) = new_vault();
    import_bundle_bytes(
        &other,
        &bytes,
        crate::bundle::BundleKey::None,
        &Default::default(),
    )
    .unwrap();
    let got = all(&other);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.record_type != "person"));
}

/// A vault holding one imported card (UID abc-1) whose title the owner then fixed by
/// hand; the file it came from and the record's id.
fn imported_then_edited_by_hand() -> (tempfile::TempDir, Vault, std::path::PathBuf, String) {
    let (d, v) = new_vault();
    let old = "BEGIN:VCARD\nVERSION:4.0\nUID:abc-1\nFN:Ana López\nTEL:+49 170 1\nTITLE:Analyst\nEND:VCARD\n";
    let f = write(d.path(), "a.vcf", old.as_bytes());
    import(&v, &f, &Options::default()).unwrap();
    let id = all(&v)[0].id.clone();
    let mut ch = crate::RecordChanges::default();
    ch.set.insert("title".into(), "Senior analyst".into());
    v.edit(&id, &ch).unwrap();
    (d, v, f, id)
}

#[test]
fn reimport_updates_by_uid_and_keeps_fields_edited_by_hand() {
    let (_d, v, f, id) = imported_then_edited_by_hand();
    let edited = v.get(&id).unwrap();
    let newer = "BEGIN:VCARD\nVERSION:4.0\nUID:abc-1\nFN:Ana López\nTEL:+49 170 2\nTITLE:Lead\nORG:Northwind\nEND:VCARD\n";
    std::fs::write(&f, newer).unwrap();
    let r = import(&v, &f, &Options::default()).unwrap();
    assert_eq!(
        (r.merge.new, r.merge.updated),
        (0, 1),
        "updated, not duplicated"
    );
    assert_eq!(r.changes[0].changed, ["organization", "phones"]);
    assert_eq!(r.changes[0].kept_edited, ["title"]);
    let rec = v.get(&id).unwrap();
    assert_eq!(rec.fields["phones"], "+49 170 2");
    assert_eq!(
        rec.fields["title"], "Senior analyst",
        "the hand edit survives"
    );
    assert_eq!(all(&v).len(), 1);
    let again = import(&v, &f, &Options::default()).unwrap();
    assert_eq!(
        (again.merge.new, again.merge.updated, again.merge.unchanged),
        (0, 0, 1)
    );
    assert_eq!(again.merge.batch, None, "nothing changed: no batch");
    // Undoing the update puts the record back as edited, and the import that follows
    // updates it again, keeping the hand edit as before.
    let u = v.undo_import(r.merge.batch.as_ref().unwrap()).unwrap();
    assert_eq!(u.restored, vec![id.clone()]);
    assert_eq!(v.get(&id).unwrap(), edited);
    let redo = import(&v, &f, &Options::default()).unwrap();
    assert_eq!(redo.changes, r.changes, "the same update as the first time");
}

#[test]
fn hostile_input_is_bounded_and_counted() {
    // A MiB of quotes (once took GBs with --json), and 5,000 broken lines.
    let quotes = vec![b'"'; 1 << 20];
    let _ = read(Format::Csv, &quotes, &Options::default());
    let mut junk = String::from("BEGIN:VCARD\nVERSION:3.0\nFN:X\n");
    for i in 0..5000 {
        junk.push_str(&format!("EMAIL:not-an-email-{i}\n"));
    }
    junk.push_str("END:VCARD\n");
    let (recs, problems) = read(Format::Vcard, junk.as_bytes(), &Options::default()).unwrap();
    assert_eq!(recs.len(), 1);
    // 5,000 emails not kept, and the notes that keep them verbatim cut at their limit.
    assert_eq!(problems.total(), 5001);
    assert_eq!(problems.list().len(), MAX_PROBLEMS);
    let (d, v) = new_vault();
    let f = write(d.path(), "j.vcf", junk.as_bytes());
    let r = import(&v, &f, &Options::default()).unwrap();
    assert_eq!((r.problems_total, r.problems.len()), (5001, MAX_PROBLEMS));
}

#[test]
fn json_records_keep_what_fits() {
    let j = r#"[{"type":"preference","fields":{"key":"lang","value":"es"}},
 {"type":"contact","fields":{"email":"bad","label":"x"}},
 {"type":"pet","fields":{"name":"Rex"}}]"#;
    let (d, v) = new_vault();
    let f = write(d.path(), "r.json", j.as_bytes());
    let r = import(&v, &f, &Options::default()).unwrap();
    assert_eq!((r.merge.new, r.skipped, r.values_not_kept), (2, 1, 1));
    assert!(r
        .problems
        .iter()
        .any(|p| p.line == 2 && p.property.as_deref() == Some("email")));
    assert!(r
        .problems
        .iter()
        .any(|p| p.line == 3 && p.kind == ProblemKind::Skipped));
}

#[test]
fn bundles_need_their_own_key_and_options() {
    let (d, v) = new_vault();
    let (bytes, _) = export_to_writer(
        &v,
        Vec::new(),
        &ExportOptions {
            encryption: Encryption::Passphrase(&Passphrase::new("pw".into())),
            scope: None,
            replace: false,
        },
        &mut |_| {},
    )
    .unwrap();
    let f = write(d.path(), "x.trove", &bytes);
    let idf = write(
        d.path(),
        "key.txt",
        b"AGE-SECRET-KEY-1AJ4PQMW55Y6E3CLLJ5KCPRAQTC3TLVLEL0949MU32YA3WX38ED6Q08JW6L\n",
    );
    let e = import(
        &v,
        &f,
        &Options {
            secret: BundleSecret::IdentityFile(&idf),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e.code(),
        "bundle_needs_passphrase",
        "an identity does not open a passphrase bundle"
    );
    assert_eq!(
        import(&v, &f, &Options::default()).unwrap_err().code(),
        "bundle_needs_passphrase"
    );
    let pw = Passphrase::new("pw".into());
    assert_eq!(
        import(
            &v,
            &f,
            &Options {
                as_me: true,
                secret: BundleSecret::Passphrase(&pw),
                ..Default::default()
            }
        )
        .unwrap_err()
        .code(),
        "invalid_input"
    );
    let r = import(
        &v,
        &f,
        &Options {
            secret: BundleSecret::Passphrase(&pw),
            dry_run: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.merge.format, "bundle");
    assert_eq!(open(&f, None).unwrap().format, Format::Bundle);
}

#[test]
fn migration_moves_old_vcard_imports_to_person_once() {
    let (d, v) = new_vault();
    let old = |ty: &str, fields: &[(&str, &str)]| NewRecord {
        record_type: ty.into(),
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tags: vec![],
        source: "import:vcard".into(),
    };
    v.add(old(
        "identity",
        &[
            ("given_name", "Ana"),
            ("family_name", "López"),
            ("birth_date", "1988-04-12"),
        ],
    ))
    .unwrap();
    v.add(old(
        "contact",
        &[("email", "ana@example.org"), ("label", "work")],
    ))
    .unwrap();
    v.add(old(
        "address",
        &[
            ("street", "Kastanienallee 12"),
            ("city", "Berlin"),
            ("country", "DE"),
            ("label", "home"),
        ],
    ))
    .unwrap();
    v.add(old(
        "employment",
        &[("employer", "Northwind"), ("title", "Analyst")],
    ))
    .unwrap();
    v.add(old(
        "note",
        &[("title", "Note on Ana López"), ("body", "likes oat milk")],
    ))
    .unwrap();
    v.add(NewRecord::new(
        "contact",
        [("email".into(), "me@example.org".into())],
    ))
    .unwrap();
    // Back to the schema before this migration (and the later ones), as an older
    // Trove left it.
    const IMPORT_MIGRATION: usize = 5;
    assert_eq!(
        v.log_len().unwrap(),
        0,
        "an empty log goes back as an empty table"
    );
    let first = crate::vault::MIGRATIONS
        .iter()
        .find(|m| m.contains("CREATE TABLE access_log ("))
        .unwrap();
    let old_log = &first[first.find("CREATE TABLE access_log (").unwrap()
        ..first.find("CREATE TABLE consent_receipts").unwrap()];
    v.conn()
        .execute_batch(&format!(
            "DROP TRIGGER import_origin_forget; DROP TABLE import_origin; DROP TABLE access_log_block; DROP TABLE access_log_key; \
             {old_log} ALTER TABLE access_log ADD COLUMN org_key TEXT; ALTER TABLE access_log ADD COLUMN route TEXT; \
             ALTER TABLE grants DROP COLUMN records; DROP TABLE trash; DROP TABLE import_batches; DROP TABLE import_batch_records; PRAGMA user_version = {};",
            IMPORT_MIGRATION - 1
        ))
        .unwrap();
    let dir = v.dir().to_path_buf();
    drop(v);
    let v = Vault::unlock(&dir, &Passphrase::new("pw".into())).unwrap();
    let recs = all(&v);
    let person: Vec<&Record> = recs.iter().filter(|r| r.record_type == "person").collect();
    assert_eq!(person.len(), 5);
    assert_eq!(
        recs.iter().filter(|r| r.record_type == "contact").count(),
        1,
        "the owner's own contact stays"
    );
    let by = |f: &str| {
        person
            .iter()
            .find(|r| r.fields.contains_key(f))
            .unwrap()
            .fields
            .clone()
    };
    assert_eq!(by("birthday")["full_name"], "Ana López");
    assert_eq!(by("emails")["emails"], "work: ana@example.org");
    assert_eq!(
        by("addresses")["addresses"],
        "home: Kastanienallee 12, Berlin, DE"
    );
    assert_eq!(by("organization")["title"], "Analyst");
    assert_eq!(by("notes")["full_name"], "Ana López");
    for r in &person {
        crate::record::validate_record(r).expect("every moved record is a valid person");
    }
    assert_eq!(
        v.search("Kastanienallee", 10).unwrap()[0].record_type,
        "person",
        "re-indexed"
    );
    assert_eq!(take_person_migration_notice(&v).unwrap(), Some(5));
    assert_eq!(
        take_person_migration_notice(&v).unwrap(),
        None,
        "reported once"
    );
    drop(d);
}

/// The report of an import as JSON, without what tells a dry run from a real one.
fn comparable(r: &Report) -> serde_json::Value {
    let mut j = serde_json::to_value(r).unwrap();
    let o = j.as_object_mut().unwrap();
    o.remove("dry_run");
    o.remove("batch");
    j
}

/// Issue 11 (L3): a dry run took the write lock (`BEGIN IMMEDIATE`) for the whole file,
/// so it waited for (and then blocked) every writer. It now reads a snapshot while
/// another connection holds the write lock, and reports exactly what the import then
/// does: updates, fields kept because they were edited by hand, and records met twice
/// in one file.
#[test]
fn a_dry_run_takes_no_write_lock_and_reports_what_the_import_does_l3() {
    let (_d, v, f, _) = imported_then_edited_by_hand();
    let card = |uid: &str, tel: &str| {
        format!(
            "BEGIN:VCARD\nVERSION:4.0\nUID:{uid}\nFN:Ana López\nTEL:{tel}\nTITLE:Lead\nEND:VCARD\n"
        )
    };
    // An update, a namesake of it twice (new, then unchanged against its first copy),
    // and a new card.
    let newer = [
        card("abc-1", "+49 170 2"),
        card("abc-1", "+49 170 3"),
        card("abc-1", "+49 170 3"),
        card("abc-2", "+49 170 4"),
    ]
    .concat();
    std::fs::write(&f, newer).unwrap();

    let writer = v.try_clone().unwrap();
    writer.conn().execute_batch("BEGIN IMMEDIATE").unwrap();
    // Today's code would wait here for the whole busy timeout, then fail.
    v.conn()
        .busy_timeout(std::time::Duration::from_millis(50))
        .unwrap();
    let dry = import(
        &v,
        &f,
        &Options {
            dry_run: true,
            ..Default::default()
        },
    )
    .expect("a dry run must not need the write lock");
    writer.conn().execute_batch("ROLLBACK").unwrap();
    assert!(dry.merge.dry_run);
    let logged = v.log_entries(&Default::default()).unwrap().len();
    let real = import(&v, &f, &Options::default()).unwrap();
    assert_eq!(
        (real.merge.new, real.merge.updated, real.merge.unchanged),
        (2, 1, 1),
        "{real:?}"
    );
    assert_eq!(real.changes[0].kept_edited, ["title"]);
    assert_eq!(
        comparable(&dry),
        comparable(&real),
        "the dry run reported otherwise"
    );
    assert_eq!(
        v.log_entries(&Default::default()).unwrap().len(),
        logged + 1,
        "only the real import is logged"
    );
}
