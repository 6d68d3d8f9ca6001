use super::*;
use crate::vault::tests::new_vault;
use crate::ListFilter;

const VCF: &str = "BEGIN:VCARD\r\n\
VERSION:4.0\r\n\
FN:Ana López\r\n\
N:López;Ana;;;\r\n\
BDAY:19880412\r\n\
EMAIL;TYPE=work:a.lopez@northwind.exa\r\n mple\r\n\
TEL;TYPE=cell:+49 170 5550 987\r\n\
ADR;TYPE=home:;;Kastanienallee 12;Berlin;Berlin;10435;Germany\r\n\
ORG:Northwind Traders;Analytics\r\n\
TITLE:Data analyst\r\n\
NOTE:likes oat milk\\, not soy\\nsecond line\r\n\
END:VCARD\r\n\
BEGIN:VCARD\n\
VERSION:3.0\n\
FN:Ben Schmidt\n\
EMAIL;type=INTERNET;type=HOME:ben@example.org\n\
END:VCARD\n";

fn by_type(recs: &[Record], ty: &str) -> Vec<Record> {
    recs.iter()
        .filter(|r| r.record_type == ty)
        .cloned()
        .collect()
}

#[test]
fn vcard_maps_properties_to_records() {
    let parsed = parse(Format::Vcard, VCF.as_bytes(), None).unwrap();
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let recs = to_records(Format::Vcard, parsed, "a.vcf").unwrap();
    let ids = by_type(&recs, "identity");
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0].fields["given_name"], "Ana");
    assert_eq!(ids[0].fields["family_name"], "López");
    assert_eq!(ids[0].fields["birth_date"], "1988-04-12");
    assert_eq!(
        ids[1].fields["given_name"], "Ben",
        "FN split when N is missing"
    );
    let contacts = by_type(&recs, "contact");
    assert_eq!(
        contacts[0].fields["email"], "a.lopez@northwind.example",
        "unfolded"
    );
    assert_eq!(contacts[0].fields["label"], "work");
    assert_eq!(contacts[1].fields["label"], "mobile");
    assert_eq!(
        contacts[2].fields["label"], "home",
        "3.0 repeated TYPE params"
    );
    let addr = &by_type(&recs, "address")[0];
    assert_eq!(addr.fields["street"], "Kastanienallee 12");
    assert_eq!(addr.fields["country"], "DE");
    assert_eq!(addr.fields["postal_code"], "10435");
    let job = &by_type(&recs, "employment")[0];
    assert_eq!(
        (
            job.fields["employer"].as_str(),
            job.fields["title"].as_str()
        ),
        ("Northwind Traders", "Data analyst")
    );
    let note = &by_type(&recs, "note")[0];
    assert_eq!(
        note.fields["body"], "likes oat milk, not soy\nsecond line",
        "escapes"
    );
    assert!(recs.iter().all(|r| r.source == "import:vcard"));
}

#[test]
fn reimporting_the_same_file_creates_no_duplicates() {
    let (_d, v) = new_vault();
    let r1 = import_file(&v, Format::Vcard, VCF.as_bytes(), None, "a.vcf", false).unwrap();
    assert!(r1.new >= 8, "{r1:?}");
    let n = v.count_records().unwrap();
    let r2 = import_file(&v, Format::Vcard, VCF.as_bytes(), None, "a.vcf", false).unwrap();
    assert_eq!((r2.new, r2.unchanged), (0, r1.new));
    assert_eq!(v.count_records().unwrap(), n);
}

#[test]
fn vcard_problems_are_all_reported_with_line_numbers() {
    let bad = "BEGIN:VCARD\nVERSION:4.0\nBDAY:yesterday\nEMAIL:not-an-email\nno colon here\nEND:VCARD\nBEGIN:VCARD\nVERSION:2.1\nEND:VCARD\n";
    let (_d, v) = new_vault();
    let e = import_file(&v, Format::Vcard, bad.as_bytes(), None, "bad.vcf", true).unwrap_err();
    let Error::ImportMalformed { problems, .. } = &e else {
        panic!("{e}")
    };
    let lines: Vec<u64> = problems.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [3, 4, 5, 8], "{problems:?}");
    assert!(problems[1].1.contains("email"), "{problems:?}");
    assert_eq!(e.code(), "import_malformed");
    assert_eq!(v.count_records().unwrap(), 0);
}

#[test]
fn csv_with_bom_quotes_and_newlines() {
    let text = "\u{feff}title,body,tags\r\n\"Groceries, weekly\",\"oat milk\r\n\"\"the good one\"\"\",home food\r\nplain,,\r\n";
    let parsed = parse(Format::Csv, text.as_bytes(), Some("note")).unwrap();
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let recs = to_records(Format::Csv, parsed, "n.csv").unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].fields["title"], "Groceries, weekly");
    assert_eq!(recs[0].fields["body"], "oat milk\r\n\"the good one\"");
    assert_eq!(recs[0].tags, ["home", "food"]);
    assert_eq!(recs[1].fields.len(), 1);
    assert_eq!(recs[0].source, "import:csv");
}

#[test]
fn csv_reports_unknown_columns_and_bad_rows() {
    let text = "email,fax\na@b.org,1\n";
    let p = parse(Format::Csv, text.as_bytes(), Some("contact")).unwrap();
    assert!(p.problems[0].1.contains("\"fax\""), "{:?}", p.problems);
    let text = "email,label\na@b.org,work\nnope,home\nx@y.org\n\"open,quote\n";
    let (_d, v) = new_vault();
    let e = import_file(
        &v,
        Format::Csv,
        text.as_bytes(),
        Some("contact"),
        "c.csv",
        true,
    )
    .unwrap_err();
    let Error::ImportMalformed { problems, .. } = e else {
        panic!()
    };
    let lines: Vec<u64> = problems.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [3, 4, 5], "{problems:?}");
    assert!(parse(Format::Csv, b"a", None).is_err(), "--type required");
}

#[test]
fn json_array_import_and_item_lines() {
    let text = r#"[
  {"type": "note", "fields": {"title": "a"}, "tags": ["x"]},
  {"type": "pet", "fields": {"name": "Rex"}},
  {"type": "contact",
   "fields": {"email": "bad"}}
]"#;
    let (_d, v) = new_vault();
    let e = import_file(&v, Format::Json, text.as_bytes(), None, "r.json", true).unwrap_err();
    let Error::ImportMalformed { problems, .. } = e else {
        panic!()
    };
    let lines: Vec<u64> = problems.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [3, 4], "{problems:?}");
    let good = r#"[{"type": "note", "fields": {"title": "a"}, "tags": ["x"]}]"#;
    let r = import_file(&v, Format::Json, good.as_bytes(), None, "r.json", false).unwrap();
    assert_eq!(r.new, 1);
    let rec = &v.list(&ListFilter::default()).unwrap()[0];
    assert_eq!(
        (rec.source.as_str(), rec.tags.clone()),
        ("import:json", vec!["x".to_string()])
    );
    let r = import_file(&v, Format::Json, good.as_bytes(), None, "r.json", false).unwrap();
    assert_eq!((r.new, r.unchanged), (0, 1));
}

#[test]
fn content_ids_are_stable_uuids() {
    let f: BTreeMap<String, String> = [("title".to_string(), "a".to_string())].into();
    let a = content_id("note", &f);
    assert_eq!(a, content_id("note", &f));
    assert_ne!(a, content_id("preference", &f));
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "8", "version 8");
}

#[test]
fn format_detection() {
    use std::path::Path;
    assert_eq!(Format::detect(Path::new("x.vcf"), b""), Format::Vcard);
    assert_eq!(
        Format::detect(Path::new("x"), b"\xEF\xBB\xBFBEGIN:VCARD"),
        Format::Vcard
    );
    assert_eq!(Format::detect(Path::new("x"), b"  [{}]"), Format::Json);
    assert_eq!(
        Format::detect(Path::new("x"), b"age-encryption.org/v1\n"),
        Format::Bundle
    );
    assert_eq!(
        Format::detect(Path::new("x"), b"email,label\n"),
        Format::Csv
    );
}
