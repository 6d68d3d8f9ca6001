//! Durability: `kill -9` at random points during a loop of single `trove add`s never
//! loses an add that printed its id, and never leaves a vault that fails its checks.
//!
//! The vault has the 8 KiB test KDF parameters (`TROVE_INSECURE_FAST_KDF_FOR_TESTS`,
//! debug builds only), so an add's unlock costs microseconds and the kills land where
//! durability is decided: opening, writing and committing. The test counts the kills
//! that landed after the unlock (the child had the database open) and requires most of
//! them to. It checks the vault through `trove` itself: this process could not open a
//! vault with the test parameters (it does not set that variable).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestVault;

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

    /// A fraction in [0, 1).
    fn fraction(&mut self) -> f64 {
        (self.next() % 1000) as f64 / 1000.0
    }
}

/// Whether process `pid` has `path` open (Linux: /proc/PID/fd). `trove` opens the
/// database only after the passphrase unwrapped the data key, so an open database
/// means the unlock is over.
fn has_open(pid: u32, path: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|p| p == path))
}

/// A running `trove add` and what was seen of it.
struct Add {
    child: Child,
    started: Instant,
    /// When the child was first seen with the database open.
    opened: Option<Instant>,
}

impl Add {
    fn spawn(t: &TestVault, title: &str) -> Add {
        let child = t
            .cmd(&[
                "add",
                "note",
                &format!("title={title}"),
                "body=written while being killed",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Add {
            child,
            started: Instant::now(),
            opened: None,
        }
    }

    /// Watches the child until `until` says stop or it exits; true if it exited.
    fn watch(&mut self, db: &Path, mut until: impl FnMut(&Add) -> bool) -> bool {
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            if self.opened.is_none() && has_open(self.child.id(), db) {
                self.opened = Some(Instant::now());
            }
            if until(self) {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Waits for the exit; returns stdout.
    fn finish(mut self) -> String {
        self.child.wait().unwrap();
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn kill_9_during_adds_loses_no_acknowledged_record() {
    let t = TestVault::new();
    let db = t.vault.join("trove.db").canonicalize().unwrap();

    // Three warm-up adds time the two parts of an add: until the database is open
    // (process start and unlock) and the rest (open, insert, commit, exit).
    let (mut unlocks, mut rests) = (vec![], vec![]);
    for w in 0..3 {
        let mut add = Add::spawn(&t, &format!("warm-up {w}"));
        add.watch(&db, |_| false);
        let end = Instant::now();
        let opened = add.opened.expect("a finished add had its database open");
        unlocks.push(opened - add.started);
        rests.push(end - opened);
        assert_eq!(add.finish().trim().len(), 26, "a warm-up add prints its id");
    }
    let (unlock, rest) = (median(unlocks), median(rests));

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let mut acknowledged = BTreeMap::new();
    let (mut killed, mut after_unlock) = (0, 0);
    // Keep going until 20 kills have landed, 15 of them after the unlock (an add that
    // finished first is not a kill), bounded so a machine where adds always win the
    // race still ends the test.
    let mut i = 0;
    while (killed < 20 || after_unlock < 15) && i < 200 {
        i += 1;
        let mut add = Add::spawn(&t, &format!("crash test {i}"));
        // Three kills in four aim at a random point after the unlock; the fourth at a
        // random point of the whole add, its start and unlock included.
        let exited = if rng.next() % 4 != 0 {
            let delay = rest.mul_f64(rng.fraction());
            add.watch(&db, |a| a.opened.is_some_and(|o| o.elapsed() >= delay))
        } else {
            let delay = (unlock + rest).mul_f64(rng.fraction());
            add.watch(&db, |a| a.started.elapsed() >= delay)
        };
        if !exited {
            add.child.kill().unwrap(); // SIGKILL
            killed += 1;
            if add.opened.is_some() {
                after_unlock += 1;
            }
        }
        let out = add.finish();
        // An add is acknowledged once its whole id line was printed.
        if let Some(line) = out
            .lines()
            .next()
            .filter(|l| l.len() == 26 && out.ends_with('\n'))
        {
            acknowledged.insert(line.to_string(), i);
        }
    }
    assert!(
        killed >= 20 && after_unlock >= 15,
        "{killed} kills landed, {after_unlock} after the unlock (seed {seed}); the test \
         needs at least 20, 15 after the unlock (start and unlock {unlock:?}, rest of an \
         add {rest:?})"
    );

    let status = t.json(&["status", "--check"]);
    assert_eq!(
        status["integrity"], "ok",
        "integrity after crashes (seed {seed})"
    );
    let listed = t.json(&["list"]);
    let stored: BTreeMap<&str, &str> = listed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["fields"]["title"].as_str().unwrap(),
            )
        })
        .collect();
    for (id, i) in &acknowledged {
        let title = stored
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged add {i} ({id}) lost (seed {seed})"));
        assert_eq!(*title, format!("crash test {i}"), "seed {seed}");
    }
    // Kills between the commit and the printed id: stored but never acknowledged.
    let after_commit = stored.len() - 3 - acknowledged.len();
    // Every stored record is complete and indexed: search finds exactly the stored ones.
    let found = t.json(&["search", "crash test", "--limit", "1000"]);
    assert_eq!(
        found["records"].as_array().unwrap().len(),
        stored.len() - 3,
        "index matches table (seed {seed})"
    );
    eprintln!(
        "seed {seed}: {killed} kills in {i} adds, {after_unlock} after the unlock, \
         {after_commit} after the commit; {} acknowledged, {} stored; start and unlock \
         {unlock:?}, rest of an add {rest:?}",
        acknowledged.len(),
        stored.len()
    );
}
