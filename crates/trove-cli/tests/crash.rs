//! Durability: `kill -9` at random points during a loop of single `trove add`s never
//! loses an add that printed its id, and never leaves a vault that fails its checks.

use std::io::Read;
use std::process::Stdio;
use std::time::Instant;

use crate::support::{TestVault, PW};
use trove_core::{Passphrase, Vault};

/// A small deterministic generator, so a failing run can be replayed from its seed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn kill_9_during_adds_loses_no_acknowledged_record() {
    let t = TestVault::new();
    // How long one add takes here (mostly the Argon2id unlock), to spread kills over it.
    let start = Instant::now();
    t.ok(&["add", "note", "title=warm-up"]);
    let one_add = start.elapsed();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let mut acknowledged = vec![];
    let mut killed = 0;
    // Keep going until 20 kills have landed (an add that finished first is not a kill),
    // bounded so a machine where adds always win the race still ends the test.
    let mut i = 0;
    while killed < 20 && i < 120 {
        i += 1;
        let mut child = t
            .cmd(&[
                "add",
                "note",
                &format!("title=crash test {i}"),
                "body=written while being killed",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill somewhere between the start and the usual end of an add.
        let delay = one_add.mul_f64((rng.next() % 1000) as f64 / 1000.0);
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::yield_now();
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        // An add is acknowledged once its whole id line was printed.
        if let Some(line) = out
            .lines()
            .next()
            .filter(|l| l.len() == 26 && out.ends_with('\n'))
        {
            acknowledged.push((i, line.to_string()));
        }
    }
    assert!(
        killed >= 20,
        "only {killed} kills landed (seed {seed}); the test must kill at least 20 adds"
    );

    let v = Vault::unlock(&t.vault, &Passphrase::new(PW.into()))
        .unwrap_or_else(|e| panic!("vault opens after crashes (seed {seed}): {e}"));
    v.check_integrity()
        .unwrap_or_else(|e| panic!("integrity after crashes (seed {seed}): {e}"));
    for (i, id) in &acknowledged {
        let r = v
            .get(id)
            .unwrap_or_else(|e| panic!("acknowledged add {i} ({id}) lost (seed {seed}): {e}"));
        assert_eq!(r.fields["title"], format!("crash test {i}"));
    }
    // Every stored record is complete and indexed: search finds exactly the stored ones.
    let stored = v.list(&Default::default()).unwrap().len();
    assert_eq!(
        v.search("crash test", 1000).unwrap().len(),
        stored - 1,
        "index matches table (seed {seed})"
    );
    eprintln!(
        "seed {seed}: {killed} kills, {} acknowledged, {stored} stored, one add {one_add:?}",
        acknowledged.len()
    );
}
