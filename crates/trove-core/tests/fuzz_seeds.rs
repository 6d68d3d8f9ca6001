//! Seed inputs for the fuzz targets in fuzz/fuzz_targets, made by Trove's own code (its
//! exporter, schemas and demo data) so they stay valid as the formats change, and checked
//! here: every bundle imports into a fresh vault, every manifest parses, every CSV and
//! vCard file reads without a problem, every member name passes.
//!
//! scripts/fuzz-smoke.sh runs this test with `TROVE_FUZZ_SEEDS_DIR=fuzz/corpus`, which
//! writes each seed to `<dir>/<target>/seed-<name>`; without the variable they go to a
//! temporary directory that is removed afterwards.

use std::collections::BTreeMap;
use std::path::PathBuf;

use trove_core::bundle::tar::{self, Block, BLOCK};
use trove_core::bundle::{
    export_to_writer, import_bundle_bytes, parse_manifest, BundleKey, Encryption, ExportOptions,
    ImportOptions,
};
use trove_core::importers::{parse, Format, Options, Problems};
use trove_core::{demo, record_type, KdfParams, NewRecord, Passphrase, Scope, Vault};

/// The identity the bundle_import target decrypts with (fuzz/fuzz_targets/bundle_import.rs;
/// a test key, not a secret).
const FUZZ_IDENTITY: &str =
    "AGE-SECRET-KEY-1AJ4PQMW55Y6E3CLLJ5KCPRAQTC3TLVLEL0949MU32YA3WX38ED6Q08JW6L";

/// The largest input the smoke run gives a target (`-max_len` in scripts/fuzz-smoke.sh).
const MAX_LEN: usize = 65536;

const FAST: KdfParams = KdfParams {
    m_cost_kib: KdfParams::MIN_M_COST_KIB,
    t_cost: 1,
    p_cost: 1,
};

fn new_vault(dir: &tempfile::TempDir, name: &str) -> Vault {
    Vault::create_with(&dir.path().join(name), &Passphrase::new("pw".into()), FAST)
        .unwrap()
        .0
}

/// One seed: the target it is for, its name, its bytes, and what it must give.
struct Seed {
    target: &'static str,
    name: String,
    bytes: Vec<u8>,
    /// Records it holds (bundles, CSV, vCard).
    records: u64,
}

fn export(v: &Vault, encryption: Encryption<'_>, scope: Option<Scope>) -> Vec<u8> {
    let opts = ExportOptions {
        encryption,
        scope,
        replace: false,
    };
    export_to_writer(v, Vec::new(), &opts, &mut |_| {})
        .unwrap()
        .0
}

/// The members of a plain bundle, by name, in order.
fn members(bundle: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let mut off = 0;
    while let Block::Header(h) =
        tar::parse_header(bundle[off..off + BLOCK].try_into().unwrap()).unwrap()
    {
        let start = off + BLOCK;
        let end = start + h.size as usize;
        out.push((
            String::from_utf8(h.name).unwrap(),
            bundle[start..end].to_vec(),
        ));
        off = end + tar::padding(h.size);
    }
    out
}

fn bundles(dir: &tempfile::TempDir) -> Vec<Seed> {
    let v = new_vault(dir, "source");
    let records: Vec<NewRecord> = demo::random_records(11, 14).collect();
    let n = records.len() as u64;
    v.add_batch(records).unwrap();
    // Grants, receipts and access-log lines, so every member has content.
    trove_core::seed_demo(&v).unwrap();
    let recipient = FUZZ_IDENTITY
        .parse::<age::x25519::Identity>()
        .unwrap()
        .to_public();
    let scoped = Scope::parse(&["contact", "note.title"], None).unwrap();
    let in_scope = v
        .list(&Default::default())
        .unwrap()
        .iter()
        .filter(|r| r.record_type == "contact" || r.record_type == "note")
        .count() as u64;
    let empty = new_vault(dir, "empty");
    vec![
        Seed {
            target: "bundle_import",
            name: "plain".into(),
            bytes: export(&v, Encryption::Plain, None),
            records: n,
        },
        Seed {
            target: "bundle_import",
            name: "age-x25519".into(),
            bytes: export(&v, Encryption::Recipients(vec![recipient]), None),
            records: n,
        },
        Seed {
            target: "bundle_import",
            name: "scoped".into(),
            bytes: export(&v, Encryption::Plain, Some(scoped)),
            records: in_scope,
        },
        Seed {
            target: "bundle_import",
            name: "empty".into(),
            bytes: export(&empty, Encryption::Plain, None),
            records: 0,
        },
    ]
}

/// A CSV file from rows of cells (quoted where needed, by the csv crate).
fn csv(delimiter: u8, rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(vec![]);
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.into_inner().unwrap()
}

/// People from the demo data: given and family name, birth date, email, phone.
fn people() -> Vec<[String; 5]> {
    let recs: Vec<NewRecord> = demo::random_records(12, 120).collect();
    let of = |ty: &str| {
        recs.iter()
            .filter(|r| r.record_type == ty)
            .map(|r| &r.fields)
            .cloned()
            .collect::<Vec<BTreeMap<String, String>>>()
    };
    let f = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned().unwrap_or_default();
    of("identity")
        .iter()
        .zip(of("contact"))
        .take(6)
        .map(|(id, c)| {
            [
                f(id, "given_name"),
                f(id, "family_name"),
                f(id, "birth_date"),
                f(&c, "email"),
                f(&c, "phone"),
            ]
        })
        .collect()
}

/// Contacts exports in two of the layouts the CSV reader knows, and rows of `contact`
/// records with the schema's field names as the header (`--type contact`).
fn csvs() -> Vec<Seed> {
    let people = people();
    let n = people.len() as u64;
    let with_header = |header: &[&str], d: u8| {
        let mut rows = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
        rows.extend(people.iter().map(|p| p.to_vec()));
        csv(d, &rows)
    };
    let contact = record_type("contact").unwrap();
    let header: Vec<String> = contact.fields.iter().map(|f| f.name.clone()).collect();
    let mut rows = vec![header.clone()];
    let contacts: Vec<NewRecord> = demo::random_records(13, 80)
        .filter(|r| r.record_type == "contact")
        .take(6)
        .collect();
    rows.extend(contacts.iter().map(|r| {
        header
            .iter()
            .map(|h| r.fields.get(h).cloned().unwrap_or_default())
            .collect()
    }));
    vec![
        Seed {
            target: "csv",
            name: "contacts-english".into(),
            bytes: with_header(
                &[
                    "Given Name",
                    "Family Name",
                    "Birthday",
                    "E-mail Address",
                    "Business Phone",
                ],
                b',',
            ),
            records: n,
        },
        Seed {
            target: "csv",
            name: "contacts-german".into(),
            bytes: with_header(
                &[
                    "Vorname",
                    "Nachname",
                    "Geburtstag",
                    "E-Mail-Adresse",
                    "Telefon (geschäftlich)",
                ],
                b';',
            ),
            records: n,
        },
        Seed {
            target: "csv",
            name: "type-contact".into(),
            bytes: csv(b',', &rows),
            records: contacts.len() as u64,
        },
    ]
}

/// vCard 3.0 and 4.0 address books of the same people.
fn vcards() -> Vec<Seed> {
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace(',', "\\,")
            .replace(';', "\\;")
    };
    let people = people();
    let book = |version: &str| {
        let mut out = String::new();
        for [given, family, birth, email, phone] in &people {
            let (g, f) = (esc(given), esc(family));
            out += &format!(
                "BEGIN:VCARD\r\nVERSION:{version}\r\nFN:{g} {f}\r\nN:{f};{g};;;\r\n\
                 BDAY:{birth}\r\nEMAIL;TYPE=work:{}\r\nTEL;TYPE=cell:{}\r\n\
                 NOTE:met in Berlin\\, 2024\r\nEND:VCARD\r\n",
                esc(email),
                esc(phone)
            );
        }
        out.into_bytes()
    };
    let n = people.len() as u64;
    vec![
        Seed {
            target: "vcard",
            name: "v3".into(),
            bytes: book("3.0"),
            records: n,
        },
        Seed {
            target: "vcard",
            name: "v4".into(),
            bytes: book("4.0"),
            records: n,
        },
    ]
}

/// Checks that `seed` is what its target treats as valid input.
fn check(seed: &Seed, dir: &tempfile::TempDir) {
    let what = format!("{}/{}", seed.target, seed.name);
    assert!(
        seed.bytes.len() <= MAX_LEN,
        "{what} is {} bytes, more than the smoke run's -max_len {MAX_LEN}",
        seed.bytes.len()
    );
    match seed.target {
        "bundle_import" => {
            // The key as the target chooses it: the first byte's low bit.
            let identity: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(
                FUZZ_IDENTITY.parse::<age::x25519::Identity>().unwrap(),
            )];
            let key = if seed.bytes.first().is_some_and(|b| b & 1 == 1) {
                BundleKey::Identities(&identity)
            } else {
                BundleKey::None
            };
            let v = new_vault(dir, &format!("check-{}", seed.name));
            let rep = import_bundle_bytes(&v, &seed.bytes, key, &ImportOptions::default())
                .unwrap_or_else(|e| panic!("{what} does not import: {e}"));
            assert_eq!(
                (rep.records, rep.new),
                (seed.records, seed.records),
                "{what}"
            );
            assert_eq!(v.count_records().unwrap(), seed.records, "{what}");
        }
        "manifest" => {
            parse_manifest(&seed.bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        "member_name" => {
            tar::check_member_name(&seed.bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        "csv" | "vcard" => {
            let (format, ty) = match (seed.target, seed.name.as_str()) {
                ("vcard", _) => (Format::Vcard, None),
                (_, "type-contact") => (Format::Csv, Some("contact".to_string())),
                _ => (Format::Csv, None),
            };
            let opts = Options {
                record_type: ty,
                ..Default::default()
            };
            let mut problems = Problems::default();
            let mut records = 0;
            parse(
                format,
                seed.bytes.clone(),
                &opts,
                &mut problems,
                &mut |_, _| records += 1,
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(problems.list().is_empty(), "{what}: {:?}", problems.list());
            assert_eq!(records, seed.records, "{what}");
        }
        other => panic!("no check for target {other}"),
    }
}

#[test]
fn fuzz_seeds_are_valid_inputs_made_by_trove() {
    let work = tempfile::tempdir().unwrap();
    let mut seeds = bundles(&work);
    let plain = members(&seeds[0].bytes);
    let scoped = members(&seeds[2].bytes);
    assert_eq!(
        plain.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        tar::MEMBERS
    );
    for (name, body) in &plain {
        assert!(!body.is_empty(), "the full bundle's {name} has content");
    }
    seeds.push(Seed {
        target: "manifest",
        name: "full".into(),
        bytes: plain[0].1.clone(),
        records: 0,
    });
    seeds.push(Seed {
        target: "manifest",
        name: "scoped".into(),
        bytes: scoped[0].1.clone(),
        records: 0,
    });
    for (name, _) in &plain {
        seeds.push(Seed {
            target: "member_name",
            name: name.split('.').next().unwrap().into(),
            bytes: name.clone().into_bytes(),
            records: 0,
        });
    }
    seeds.extend(csvs());
    seeds.extend(vcards());

    for s in &seeds {
        check(s, &work);
    }
    let out: PathBuf = match std::env::var_os("TROVE_FUZZ_SEEDS_DIR") {
        Some(d) => d.into(),
        None => work.path().join("corpus"),
    };
    for s in &seeds {
        let d = out.join(s.target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("seed-{}", s.name)), &s.bytes).unwrap();
    }
    let targets: std::collections::BTreeSet<_> = seeds.iter().map(|s| s.target).collect();
    eprintln!("{} seeds for {targets:?} in {}", seeds.len(), out.display());
}
