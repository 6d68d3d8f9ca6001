//! Records through the CLI: validation names the field and writes nothing; search
//! finds any field's words, best match first; JSON shapes match PRODUCT.md.

use crate::support::{stderr, TestVault};

#[test]
fn invalid_input_exits_1_names_the_field_and_writes_nothing() {
    let t = TestVault::new();
    t.ok(&["add", "contact", "email=ok@example.org"]);
    let cases: &[(&[&str], &str)] = &[
        (&["add", "pet", "name=Rex"], "unknown record type `pet`"),
        (&["add", "contact", "colour=red"], "unknown field `colour`"),
        (&["add", "contact", "email=not-an-email"], "contact.email"),
        (
            &["add", "identity", "birth_date=1990-02-30"],
            "identity.birth_date",
        ),
        (
            &["add", "bank_account", "iban=DE89370400440532013001"],
            "bank_account.iban",
        ),
        (
            &["add", "bank_account", "bank=GLS"],
            "bank_account.iban: is required",
        ),
        (&["add", "note", "title=a", "title=b"], "given twice"),
        (&["add", "note", "title=x", "--tag", "has space"], "tag"),
    ];
    for (args, needle) in cases {
        let out = t.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{args:?}: expected {needle:?} in {}",
            stderr(&out)
        );
    }
    let usage = t.run(&["add", "note", "no-equals-sign"]);
    assert_eq!(
        usage.status.code(),
        Some(2),
        "malformed FIELD=VALUE is a usage error"
    );
    assert_eq!(t.count(), 1, "nothing written by failed adds");
}

#[test]
fn edit_and_rm_report_missing_ids_and_validate() {
    let t = TestVault::new();
    let id = t
        .ok(&["add", "contact", "email=ana@example.org", "--tag", "work"])
        .trim()
        .to_string();
    let bad = t.run(&["edit", &id, "email=nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("contact.email"));
    let r = t.json(&[
        "edit",
        &id,
        "phone=+34 600 000 000",
        "--untag",
        "work",
        "--tag",
        "home",
    ]);
    assert_eq!(r["fields"]["phone"], "+34 600 000 000");
    assert_eq!(r["fields"]["email"], "ana@example.org");
    assert_eq!(r["tags"], serde_json::json!(["home"]));
    let missing = t.run(&["rm", "01NOTANIDATALL0000000000000"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no record with id"));
    t.ok(&["rm", &id]);
    assert_eq!(t.run(&["get", &id]).status.code(), Some(1));
}

#[test]
fn search_finds_any_field_best_match_first() {
    let t = TestVault::new();
    let weak = t
        .ok(&[
            "add",
            "note",
            "title=shopping",
            "body=remember the lighthouse keeper's birthday and other chores for the week",
        ])
        .trim()
        .to_string();
    let strong = t
        .ok(&[
            "add",
            "note",
            "title=lighthouse",
            "body=lighthouse tour tickets",
        ])
        .trim()
        .to_string();
    let addr = t
        .ok(&[
            "add",
            "address",
            "street=Kastanienallee 12",
            "city=Berlin",
            "country=de",
        ])
        .trim()
        .to_string();
    let iban = t
        .ok(&[
            "add",
            "bank_account",
            "bank=GLS Gemeinschaftsbank",
            "iban=DE89 3704 0044 0532 0130 00",
        ])
        .trim()
        .to_string();
    let ids = |q: &[&str]| -> Vec<String> {
        let mut args = vec!["search"];
        args.extend_from_slice(q);
        t.json(&args)["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&["lighthouse"]), [strong, weak], "best match first");
    assert_eq!(ids(&["kastanienallee"]), std::slice::from_ref(&addr));
    assert_eq!(ids(&["berlin"]), [addr]);
    assert_eq!(ids(&["gemeinschaftsbank"]), std::slice::from_ref(&iban));
    assert_eq!(
        ids(&["DE89370400440532013000"]),
        [iban],
        "normalized IBAN is searchable"
    );
    assert!(ids(&["nothing-matches-this"]).is_empty());
}

#[test]
fn json_shapes_follow_the_contract() {
    let t = TestVault::new();
    let r = t.json(&["add", "contact", "email=ana@example.org", "--tag", "work"]);
    for key in [
        "id",
        "type",
        "fields",
        "tags",
        "source",
        "created_at",
        "updated_at",
    ] {
        assert!(r.get(key).is_some(), "record has {key}: {r}");
    }
    assert_eq!(r["source"], "manual");
    assert!(
        r["created_at"].as_str().unwrap().ends_with('Z'),
        "UTC times"
    );
    let got = t.json(&["get", r["id"].as_str().unwrap()]);
    assert_eq!(got, r);
    let list = t.json(&["list", "--type", "contact"]);
    assert_eq!(list["records"][0], r);
    let status = t.json(&["status"]);
    assert_eq!(status["records"], 1);
    assert_eq!(status["remembered"], false);
    assert_eq!(status["grants"], 0);
    let types = t.json(&["types"]);
    assert_eq!(types["types"].as_array().unwrap().len(), 11);
    let bad = t.run(&["--json", "get", "nope"]);
    let err: serde_json::Value = serde_json::from_str(stderr(&bad).trim()).unwrap();
    assert_eq!(err["error"]["code"], "not_found");
}

#[test]
fn missing_vault_is_explained() {
    let t = TestVault::empty();
    let out = t.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no vault at") && stderr(&out).contains("trove init"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rm_moves_to_the_trash_which_lists_restores_and_empties() {
    let t = TestVault::new();
    let id = t
        .ok(&["add", "note", "title=flat viewing"])
        .trim()
        .to_string();
    let out = t.ok(&["rm", &id]);
    assert!(out.contains("moved") && out.contains("trash"), "{out}");
    assert_eq!(t.json(&["list"])["records"].as_array().unwrap().len(), 0);
    assert_eq!(
        t.json(&["search", "viewing"])["records"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "a trashed record is not found"
    );
    let trash = t.json(&["trash", "list"]);
    assert_eq!(trash["trash"][0]["id"], id.as_str());
    assert!(trash["trash"][0]["erase_after"].is_string());
    let restored = t.json(&["trash", "restore", &id]);
    assert_eq!(restored["fields"]["title"], "flat viewing");
    assert_eq!(t.json(&["get", &id])["id"], id.as_str());
    let again = t.run(&["trash", "restore", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("no record"), "{}", stderr(&again));
    t.ok(&["rm", &id]);
    assert_eq!(t.json(&["trash", "empty"])["erased"], 1);
    assert_eq!(
        t.json(&["trash", "list"])["trash"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(t.run(&["trash", "restore", &id]).status.code(), Some(1));
}

#[test]
fn import_undo_removes_the_batch_and_keeps_records_changed_since() {
    let t = TestVault::new();
    let before = t.ok(&["add", "note", "title=mine"]).trim().to_string();
    let f = t.home.path().join("r.json");
    std::fs::write(
        &f,
        r#"[{"type":"preference","fields":{"key":"lang","value":"es"}},
            {"type":"preference","fields":{"key":"tz","value":"Europe/Berlin"}}]"#,
    )
    .unwrap();
    let r = t.json(&["import", f.to_str().unwrap()]);
    let batch = r["batch"]
        .as_str()
        .expect("import --json gives the batch")
        .to_string();
    let ids: Vec<String> = t.json(&["list", "--type", "preference"])["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    t.ok(&["edit", &ids[0], "value=changed"]);
    let u = t.json(&["import", "undo", &batch]);
    assert_eq!(u["removed"], serde_json::json!([ids[1]]));
    assert_eq!(u["kept_changed"], serde_json::json!([ids[0]]));
    let left: Vec<String> = t.json(&["list"])["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert!(left.contains(&before) && left.contains(&ids[0]) && !left.contains(&ids[1]));
    let again = t.run(&["import", "undo", &batch]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already undone"),
        "{}",
        stderr(&again)
    );
    let unknown = t.run(&["import", "undo", "01NOPE"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no import batch"),
        "{}",
        stderr(&unknown)
    );
    assert!(
        t.json(&["import", f.to_str().unwrap(), "--dry-run"])["batch"].is_null(),
        "a dry run has no batch"
    );
}
