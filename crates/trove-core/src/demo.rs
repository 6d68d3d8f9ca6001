//! Realistic sample data: the demo vault (records, grants and access-log history, made
//! by [`create`] for `trove demo` and the app alike) and the benchmarks' workload. The
//! generator is seeded, so the same seed always gives the same records.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::Result;
use crate::keyfile::KdfParams;
use crate::model::grant::NewGrant;
use crate::model::record::NewRecord;
use crate::secret::{Passphrase, RecoveryKey};
use crate::share::{Credential, RequestMeta, ShareEngine, ShareOp, ShareRequest, Transport};
use crate::token::ShareToken;
use crate::vault::Vault;

/// The demo vault [`create`] made, open, with its recovery key (to be shown once).
pub struct DemoVault {
    pub vault: Vault,
    pub recovery_key: RecoveryKey,
    /// How many sample records it holds.
    pub records: usize,
    pub sharing: DemoSharing,
}

/// Creates a new vault at `dir` and fills it with the demo: [`demo_records`], then
/// [`seed_demo`]'s grants and access-log history. Fails like [`Vault::create_with`]
/// when a vault is already there.
pub fn create(dir: &Path, passphrase: &Passphrase, kdf: KdfParams) -> Result<DemoVault> {
    let (vault, recovery_key) = Vault::create_with(dir, passphrase, kdf)?;
    let records = vault.add_batch(demo_records())?.len();
    let sharing = seed_demo(&vault)?;
    Ok(DemoVault {
        vault,
        recovery_key,
        records,
        sharing,
    })
}

const GIVEN: &[&str] = &[
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Katarzyna",
    "Liam",
    "Maya",
    "Nils",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sami",
    "Tomás",
    "Ulla",
    "Vera",
    "Wen",
    "Yusuf",
    "Zoë",
];
const FAMILY: &[&str] = &[
    "López",
    "Schmidt",
    "Okafor",
    "Nguyen",
    "Rossi",
    "Kowalski",
    "Dubois",
    "Andersson",
    "Yilmaz",
    "Tanaka",
    "García",
    "Müller",
    "Novak",
    "Silva",
    "Jensen",
    "O'Brien",
    "Horvat",
    "Fischer",
    "Moreau",
    "Costa",
];
const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Berlin", "DE", "Berlin", "Kastanienallee"),
    ("Hamburg", "DE", "Hamburg", "Mönckebergstraße"),
    ("Paris", "FR", "Île-de-France", "Rue de la Paix"),
    ("Lyon", "FR", "Auvergne-Rhône-Alpes", "Avenue Victor Hugo"),
    ("Madrid", "ES", "Madrid", "Calle Mayor"),
    ("Lisbon", "PT", "Lisboa", "Rua Augusta"),
    ("Amsterdam", "NL", "Noord-Holland", "Keizersgracht"),
    ("Vienna", "AT", "Wien", "Mariahilfer Straße"),
    ("Copenhagen", "DK", "Hovedstaden", "Nørrebrogade"),
    ("Milan", "IT", "Lombardia", "Via Roma"),
    ("Warsaw", "PL", "Mazowieckie", "Ulica Długa"),
    ("Dublin", "IE", "Leinster", "Grafton Street"),
];
const EMPLOYERS: &[&str] = &[
    "Northwind Traders",
    "Contoso Health",
    "Fabrikam Energy",
    "Tailspin Logistics",
    "Wide World Importers",
    "Adatum Research",
    "Litware Software",
    "Proseware Media",
    "Fourth Coffee",
    "City of Lyon",
];
const TITLES: &[&str] = &[
    "Nurse",
    "Software engineer",
    "Accountant",
    "Teacher",
    "Data analyst",
    "Project manager",
    "Architect",
    "Pharmacist",
    "Translator",
    "Electrician",
];
const BANKS: &[(&str, &str, &str)] = &[
    ("GLS Bank", "DE", "GENODEM1GLS"),
    ("BNP Paribas", "FR", "BNPAFRPP"),
    ("ING", "NL", "INGBNL2A"),
    ("Erste Bank", "AT", "GIBAATWW"),
    ("Santander", "ES", "BSCHESMM"),
    ("Danske Bank", "DK", "DABADKKK"),
];
const HEALTH: &[(&str, &str, &str, &str)] = &[
    ("allergy", "Penicillin", "", ""),
    ("allergy", "Peanuts", "", ""),
    ("measurement", "Blood pressure", "118/76", "mmHg"),
    ("measurement", "Weight", "68", "kg"),
    ("measurement", "Resting heart rate", "61", "bpm"),
    ("vaccination", "Tetanus", "booster", ""),
    ("vaccination", "Influenza 2025/26", "dose 1", ""),
    ("condition", "Asthma", "mild", ""),
    ("medication", "Salbutamol", "100", "µg"),
    ("blood_type", "Blood type", "A+", ""),
];
const MEMBERS: &[&str] = &[
    "Public library",
    "Climbing club Nordwand",
    "Car sharing Flinkster",
    "Health insurance TK",
    "Museum pass",
    "Rail card BahnCard 50",
    "Food co-op",
    "Trade union ver.di",
];
const PREFS: &[(&str, &str)] = &[
    ("language", "de, en"),
    ("diet", "vegetarian"),
    ("contact_hours", "weekdays 9-17"),
    ("newsletter", "no"),
    ("accessibility", "large print"),
    ("pronouns", "she/her"),
];
const NOTE_WORDS: &[&str] = &[
    "appointment",
    "renew",
    "passport",
    "call",
    "insurance",
    "landlord",
    "deposit",
    "receipt",
    "tax",
    "return",
    "doctor",
    "pharmacy",
    "contract",
    "notice",
    "meter",
    "reading",
    "bank",
    "transfer",
    "school",
    "enrolment",
    "warranty",
    "repair",
    "holiday",
    "booking",
    "reminder",
    "friday",
    "march",
    "documents",
    "signed",
    "copy",
];
const DOCS: &[&str] = &[
    "passport",
    "id_card",
    "driving_licence",
    "residence_permit",
    "health_insurance_card",
];

fn pick<'a, T>(rng: &mut StdRng, xs: &'a [T]) -> &'a T {
    &xs[rng.gen_range(0..xs.len())]
}

fn date(rng: &mut StdRng, from: i32, to: i32) -> String {
    format!(
        "{}-{:02}-{:02}",
        rng.gen_range(from..=to),
        rng.gen_range(1..=12),
        rng.gen_range(1..=28)
    )
}

/// A valid IBAN for `country` with a random account part.
pub fn iban(rng: &mut StdRng, country: &str) -> String {
    let bban: String = (0..18)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    let mut rem: u32 = 0;
    for c in bban.chars().chain(country.chars()).chain("00".chars()) {
        let d = c.to_digit(36).expect("alphanumeric");
        rem = if d >= 10 {
            (rem * 100 + d) % 97
        } else {
            (rem * 10 + d) % 97
        };
    }
    format!("{country}{:02}{bban}", 98 - rem)
}

fn rec(ty: &str, fields: &[(&str, String)], tags: &[&str]) -> NewRecord {
    NewRecord {
        record_type: ty.to_string(),
        fields: fields
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        source: "demo".to_string(),
    }
}

/// One random realistic record of a random type (about 300 bytes as stored).
pub fn random_record(rng: &mut StdRng) -> NewRecord {
    let given = pick(rng, GIVEN);
    let family = pick(rng, FAMILY);
    let (city, country, region, street) = *pick(rng, CITIES);
    match rng.gen_range(0..10) {
        0 => rec(
            "identity",
            &[
                ("given_name", given.to_string()),
                ("family_name", family.to_string()),
                ("birth_date", date(rng, 1950, 2006)),
                ("nationality", country.to_string()),
            ],
            &["personal"],
        ),
        1 => {
            let mail = format!(
                "{}.{}{}@example.org",
                given.to_lowercase(),
                rng.gen_range(1..999),
                if rng.gen_bool(0.5) { "" } else { ".work" }
            );
            let mail: String = mail.chars().filter(|c| c.is_ascii()).collect();
            rec(
                "contact",
                &[
                    ("email", mail),
                    (
                        "phone",
                        format!(
                            "+{} {} {}",
                            rng.gen_range(30..50),
                            rng.gen_range(100..999),
                            rng.gen_range(100000..9999999)
                        ),
                    ),
                    ("label", pick(rng, &["home", "work", "mobile"]).to_string()),
                ],
                &[*pick(rng, &["family", "work", "friends"])],
            )
        }
        2 => rec(
            "address",
            &[
                ("street", format!("{street} {}", rng.gen_range(1..200))),
                ("city", city.to_string()),
                ("postal_code", format!("{}", rng.gen_range(10000..99999))),
                ("region", region.to_string()),
                ("country", country.to_string()),
                ("label", pick(rng, &["home", "work", "holiday"]).to_string()),
            ],
            &["personal"],
        ),
        3 => rec(
            "document",
            &[
                ("kind", pick(rng, DOCS).to_string()),
                (
                    "number",
                    format!(
                        "{}{:08}",
                        pick(rng, &["C", "L", "T", "X"]),
                        rng.gen_range(0..99_999_999)
                    ),
                ),
                ("issuer", format!("City of {city}")),
                ("country", country.to_string()),
                ("issued_on", date(rng, 2015, 2024)),
                ("expires_on", date(rng, 2026, 2035)),
            ],
            &["official"],
        ),
        4 => {
            let (cat, name, value, unit) = *pick(rng, HEALTH);
            rec(
                "health",
                &[
                    ("category", cat.to_string()),
                    ("name", name.to_string()),
                    ("value", value.to_string()),
                    ("unit", unit.to_string()),
                    ("date", date(rng, 2018, 2026)),
                    (
                        "notes",
                        format!("Recorded at the {} practice in {city}.", family),
                    ),
                ],
                &["health"],
            )
        }
        5 => {
            let (bank, bc, bic) = *pick(rng, BANKS);
            let iban = iban(rng, bc);
            rec(
                "bank_account",
                &[
                    ("bank", bank.to_string()),
                    ("holder", format!("{given} {family}")),
                    ("iban", iban),
                    ("bic", bic.to_string()),
                ],
                &["finance"],
            )
        }
        6 => rec(
            "employment",
            &[
                ("employer", pick(rng, EMPLOYERS).to_string()),
                ("title", pick(rng, TITLES).to_string()),
                ("start_date", date(rng, 2005, 2020)),
                (
                    "end_date",
                    if rng.gen_bool(0.5) {
                        date(rng, 2021, 2025)
                    } else {
                        String::new()
                    },
                ),
            ],
            &["work"],
        ),
        7 => rec(
            "membership",
            &[
                ("organization", pick(rng, MEMBERS).to_string()),
                ("member_id", format!("M-{}", rng.gen_range(100000..999999))),
                ("since", date(rng, 2010, 2025)),
            ],
            &["membership"],
        ),
        8 => {
            let (k, v) = *pick(rng, PREFS);
            rec(
                "preference",
                &[("key", k.to_string()), ("value", v.to_string())],
                &["preferences"],
            )
        }
        _ => {
            let n = rng.gen_range(12..30);
            let body: Vec<&str> = (0..n).map(|_| *pick(rng, NOTE_WORDS)).collect();
            rec(
                "note",
                &[
                    (
                        "title",
                        format!("{} {}", pick(rng, NOTE_WORDS), pick(rng, NOTE_WORDS)),
                    ),
                    ("body", body.join(" ")),
                ],
                &["notes"],
            )
        }
    }
}

/// `n` random records from `seed`.
pub fn random_records(seed: u64, n: usize) -> impl Iterator<Item = NewRecord> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(move |_| random_record(&mut rng))
}

/// The demo vault's records: one person's data, hand-shaped so every screen has
/// something meaningful to show. Filler records come first, so the hand-shaped ones
/// are the newest and list at the top.
pub fn demo_records() -> Vec<NewRecord> {
    let s = |v: &str| v.to_string();
    let mut rng = StdRng::seed_from_u64(7);
    let mut out: Vec<NewRecord> = (0..20).map(|_| random_record(&mut rng)).collect();
    out.extend([
        rec("identity", &[("given_name", s("Ana")), ("family_name", s("López")), ("birth_date", s("1988-04-12")), ("nationality", s("ES"))], &["personal"]),
        rec("contact", &[("email", s("ana.lopez@example.org")), ("label", s("personal"))], &["personal"]),
        rec("contact", &[("email", s("a.lopez@northwind.example")), ("phone", s("+49 30 5550 1234")), ("label", s("work"))], &["work"]),
        rec("contact", &[("phone", s("+49 170 5550 987")), ("label", s("mobile"))], &["personal"]),
        rec("address", &[("street", s("Kastanienallee 12")), ("city", s("Berlin")), ("postal_code", s("10435")), ("region", s("Berlin")), ("country", s("DE")), ("label", s("home"))], &["personal", "home"]),
        rec("address", &[("street", s("Calle Mayor 5")), ("city", s("Madrid")), ("postal_code", s("28013")), ("country", s("ES")), ("label", s("parents"))], &["family"]),
        rec("document", &[("kind", s("passport")), ("number", s("PAB123456")), ("issuer", s("Ministerio del Interior")), ("country", s("ES")), ("issued_on", s("2021-06-01")), ("expires_on", s("2031-05-31"))], &["official"]),
        rec("document", &[("kind", s("residence_permit")), ("number", s("Y0034567")), ("issuer", s("Landesamt für Einwanderung Berlin")), ("country", s("DE")), ("issued_on", s("2022-02-14")), ("expires_on", s("2027-02-13"))], &["official"]),
        rec("health", &[("category", s("allergy")), ("name", s("Penicillin")), ("notes", s("Rash and swelling, diagnosed 2015."))], &["health", "clinic"]),
        rec("health", &[("category", s("blood_type")), ("name", s("Blood type")), ("value", s("A+"))], &["health", "clinic"]),
        rec("health", &[("category", s("vaccination")), ("name", s("Tetanus")), ("value", s("booster")), ("date", s("2023-09-18"))], &["health", "clinic"]),
        rec("health", &[("category", s("measurement")), ("name", s("Blood pressure")), ("value", s("118/76")), ("unit", s("mmHg")), ("date", s("2026-10-02"))], &["health"]),
        rec("bank_account", &[("bank", s("GLS Bank")), ("holder", s("Ana López")), ("iban", s("DE89370400440532013000")), ("bic", s("GENODEM1GLS"))], &["finance", "rent"]),
        rec("employment", &[("employer", s("Northwind Traders")), ("title", s("Data analyst")), ("start_date", s("2019-03-01"))], &["work"]),
        rec("employment", &[("employer", s("Contoso Health")), ("title", s("Research assistant")), ("start_date", s("2014-09-01")), ("end_date", s("2019-02-28"))], &["work"]),
        rec("membership", &[("organization", s("Techniker Krankenkasse")), ("member_id", s("T123456789")), ("since", s("2019-03-01"))], &["health", "insurance"]),
        rec("membership", &[("organization", s("Stadtbibliothek Pankow")), ("member_id", s("LIB-88213")), ("since", s("2020-01-15"))], &[]),
        rec("preference", &[("key", s("language")), ("value", s("es, de, en"))], &["preferences"]),
        rec("preference", &[("key", s("contact_hours")), ("value", s("weekdays after 17:00"))], &["preferences"]),
        rec("note", &[("title", s("Flat viewing checklist")), ("body", s("Bring passport copy, last three payslips, SCHUFA report.\nAsk about heating costs and the deposit account."))], &["home"]),
    ]);
    out
}

/// What [`seed_demo`] added.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DemoSharing {
    pub grants: usize,
    pub log_entries: u64,
}

/// Fills a (demo) vault with sample grants and the access-log history of a few share
/// API requests, all through the same core functions the server and the CLI use. The
/// tokens are dropped: nobody can use these grants.
pub fn seed_demo(vault: &Vault) -> Result<DemoSharing> {
    let before = vault.log_len()?;
    let g = |org: &str,
             purpose: &str,
             scope: &[&str],
             tag: Option<&str>,
             exp: Option<&str>,
             max: Option<u64>| NewGrant {
        org: org.into(),
        purpose: purpose.into(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        only_tag: tag.map(str::to_string),
        expires: exp.map(str::to_string),
        max_uses: max,
        records: Vec::new(),
        org_key: None,
    };
    let grants = [
        g(
            "GLS Bank",
            "opening a savings account",
            &["identity", "address", "contact.email"],
            None,
            Some("30d"),
            None,
        ),
        g(
            "Praxis Dr. Weber",
            "first appointment: medical history",
            &[
                "health",
                "identity.given_name",
                "identity.family_name",
                "identity.birth_date",
            ],
            Some("clinic"),
            Some("7d"),
            Some(5),
        ),
        g(
            "Hausverwaltung Mitte",
            "flat application",
            &[
                "identity",
                "employment.employer",
                "employment.title",
                "bank_account.iban",
            ],
            None,
            Some("14d"),
            None,
        ),
        g(
            "Northwind Traders HR",
            "payroll setup",
            &["bank_account", "address"],
            None,
            None,
            Some(1),
        ),
    ];
    let engine = ShareEngine::new(vault);
    let mut tokens = Vec::new();
    for n in &grants {
        tokens.push(vault.create_grant(n)?);
    }
    let get = |t: &ShareToken, path: &str, op: ShareOp| ShareRequest {
        meta: RequestMeta {
            remote_addr: "127.0.0.1".into(),
            method: if op == ShareOp::Revoke { "POST" } else { "GET" }.into(),
            path: path.into(),
            transport: Transport::Http,
        },
        credential: Credential::Token(
            ShareToken::parse(t.expose_secret().to_string()).expect("fresh token parses"),
        ),
        op,
    };
    let all = |t: Option<&str>| ShareOp::Records {
        record_type: t.map(str::to_string),
    };
    let mut reqs = Vec::new();
    let (bank, clinic, landlord, employer) =
        (&tokens[0].1, &tokens[1].1, &tokens[2].1, &tokens[3].1);
    reqs.push(get(bank, "/v1/grant", ShareOp::Grant));
    reqs.push(get(bank, "/v1/records", all(None)));
    reqs.push(get(bank, "/v1/records?type=health", all(Some("health"))));
    reqs.push(get(clinic, "/v1/records?type=health", all(Some("health"))));
    reqs.push(get(
        clinic,
        "/v1/records?type=identity",
        all(Some("identity")),
    ));
    reqs.push(get(landlord, "/v1/records", all(None)));
    reqs.push(get(
        employer,
        "/v1/records?type=bank_account",
        all(Some("bank_account")),
    ));
    reqs.push(get(employer, "/v1/records", all(None)));
    reqs.push(ShareRequest {
        meta: RequestMeta {
            remote_addr: "127.0.0.1".into(),
            method: "GET".into(),
            path: "/v1/records".into(),
            transport: Transport::Http,
        },
        credential: Credential::from_authorization(Some("Bearer trove_not-a-real-token")),
        op: all(None),
    });
    for r in reqs {
        engine.handle(vault, r);
    }
    vault.revoke_grant(&tokens[2].0.id)?;
    Ok(DemoSharing {
        grants: grants.len(),
        log_entries: vault.log_len()? - before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::record_type;

    #[test]
    fn every_generated_record_is_valid_and_seed_is_deterministic() {
        for r in demo_records().into_iter().chain(random_records(1, 2000)) {
            record_type(&r.record_type)
                .unwrap()
                .validate(&r.fields)
                .unwrap_or_else(|e| panic!("{r:?}: {e}"));
        }
        let a: Vec<_> = random_records(42, 50).collect();
        let b: Vec<_> = random_records(42, 50).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn random_records_are_about_300_bytes() {
        let n = 5000;
        let total: usize = random_records(3, n)
            .map(|r| serde_json::to_string(&r).unwrap().len())
            .sum();
        let avg = total / n;
        assert!((150..=450).contains(&avg), "average record is {avg} bytes");
    }

    #[test]
    fn demo_sharing_has_every_status_and_outcome() {
        let (_d, v) = crate::vault::tests::new_vault();
        v.add_batch(crate::demo::demo_records()).unwrap();
        let d = seed_demo(&v).unwrap();
        assert_eq!(d.grants, 4);
        let statuses: std::collections::BTreeSet<_> =
            v.list_grants().unwrap().iter().map(|g| g.status).collect();
        assert!(
            statuses.contains(&crate::model::grant::GrantStatus::Revoked)
                && statuses.contains(&crate::model::grant::GrantStatus::Exhausted)
                && statuses.contains(&crate::model::grant::GrantStatus::Active),
            "{statuses:?}"
        );
        let log = v.log_entries(&Default::default()).unwrap();
        assert_eq!(log.len() as u64, v.log_len().unwrap());
        for o in [
            "allowed",
            "denied:insufficient_scope",
            "denied:exhausted",
            "denied:malformed_token",
        ] {
            assert!(log.iter().any(|e| e.outcome == o), "no {o}");
        }
        assert!(log
            .iter()
            .any(|e| e.outcome == "allowed" && !e.record_ids.is_empty()));
        assert!(v.verify_log().unwrap().ok);
    }

    #[test]
    fn create_fills_a_new_vault_and_refuses_an_existing_one() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("vault");
        let pass = Passphrase::new("demo pass".into());
        let demo = create(&dir, &pass, crate::vault::tests::FAST).unwrap();
        assert_eq!(demo.records, demo_records().len());
        assert_eq!(
            demo.vault.count_by_type().unwrap().values().sum::<u64>(),
            demo.records as u64
        );
        let (grants, _) = demo.vault.count_grants().unwrap();
        assert_eq!(grants as usize, demo.sharing.grants);
        assert_eq!(demo.vault.log_len().unwrap(), demo.sharing.log_entries);
        assert!(demo
            .recovery_key
            .expose_secret()
            .starts_with("AGE-SECRET-KEY-1"));
        drop(demo);
        let again = create(&dir, &pass, crate::vault::tests::FAST)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(again.code(), crate::ErrorCode::VaultExists);
    }
}
