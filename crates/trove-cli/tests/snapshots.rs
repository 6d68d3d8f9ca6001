//! CLI snapshot tests: the exact text of `--help` and of a typical session lives in
//! tests/cmd/*.trycmd, reviewed like code (`TRYCMD=overwrite` regenerates them).

#[test]
fn cli_snapshots() {
    let home = tempfile::tempdir().unwrap();
    trycmd::TestCases::new()
        .env("TROVE_PASSPHRASE", "snapshot passphrase")
        .env("TROVE_VAULT", home.path().join("vault").to_str().unwrap())
        .env("HOME", home.path().to_str().unwrap())
        .case("tests/cmd/*.trycmd");
}
