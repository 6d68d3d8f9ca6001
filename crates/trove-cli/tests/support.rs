//! Test helpers: a temporary vault and a `trove` command pointed at it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use trove_core::{KdfParams, Passphrase, Vault};

pub const PW: &str = "correct horse battery staple";

/// A temporary HOME with a vault path inside it (not created until `init`).
pub struct TestVault {
    pub home: tempfile::TempDir,
    pub vault: PathBuf,
}

impl TestVault {
    /// A place for a vault; nothing created yet.
    pub fn empty() -> Self {
        let home = tempfile::tempdir().unwrap();
        let vault = home.path().join("vault");
        TestVault { home, vault }
    }

    /// An initialized vault with passphrase [`PW`].
    pub fn new() -> Self {
        let t = Self::empty();
        t.ok(&["init"]);
        t
    }

    /// An initialized vault with passphrase [`PW`] that this test process can open too
    /// (`Vault::unlock`). [`TestVault::new`]'s `trove init` writes the 8 KiB test KDF
    /// parameters, which only a process with `TROVE_INSECURE_FAST_KDF_FOR_TESTS` set
    /// accepts; this one is created here with the weakest parameters every build
    /// accepts (64 MiB, one pass).
    pub fn openable_here() -> Self {
        let t = Self::empty();
        let params = KdfParams {
            m_cost_kib: KdfParams::MIN_M_COST_KIB,
            t_cost: 1,
            p_cost: 1,
        };
        Vault::create_with(&t.vault, &Passphrase::new(PW.into()), params).unwrap();
        t
    }

    /// `trove` with this vault, the passphrase in TROVE_PASSPHRASE, a private HOME and
    /// no session bus (so the OS keyring is never reached).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trove"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("TROVE_VAULT", &self.vault)
            .env("TROVE_PASSPHRASE", PW)
            // Debug builds only: 8 KiB test KDF parameters, no calibration (tests stay
            // fast; see trove_core::keyfile::insecure_fast_kdf_for_tests).
            .env("TROVE_INSECURE_FAST_KDF_FOR_TESTS", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs `trove args` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs `trove args`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "trove {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    /// Number of records, read through the CLI.
    pub fn count(&self) -> usize {
        self.json(&["list"])["records"].as_array().unwrap().len()
    }
}

/// Every file of a directory (recursively) with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(snapshot(&p));
        } else {
            out.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    out
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
