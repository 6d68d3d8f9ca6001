//! Realistic sample data: the demo vault's records and the benchmarks' workload. The
//! generator is seeded, so the same seed always gives the same records.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::record::NewRecord;

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
}
