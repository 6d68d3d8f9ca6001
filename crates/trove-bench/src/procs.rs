//! Memory of a process and of its whole process tree, read from Linux's /proc: RSS
//! (`VmRSS`) and PSS (`Pss` in `smaps_rollup`) per process, and their sums over the tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The memory of one process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcMem {
    /// Its process id.
    pub pid: u32,
    /// Its name (`comm`, at most 15 bytes).
    pub name: String,
    /// Resident set size in KiB (`VmRSS`): counts shared pages in full in every process.
    pub rss_kib: u64,
    /// Proportional set size in KiB (`Pss`): shared pages divided among their sharers, so
    /// the sum over processes does not count a shared library twice. `None` when unreadable.
    pub pss_kib: Option<u64>,
    /// Anonymous resident memory in KiB (`RssAnon`: heap, stacks; no shared libraries).
    pub anon_kib: Option<u64>,
}

/// The parent pid from the text of `/proc/PID/stat`. The name field may contain spaces
/// and parentheses, so parsing starts after the LAST `)`: then the state, then the ppid.
pub fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The value in KiB of `key` (e.g. `VmRSS`, `Pss`) from `/proc/PID/status` or
/// `/proc/PID/smaps_rollup` text, where lines read `Key:   1234 kB`.
pub fn parse_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k.trim() != key {
            return None;
        }
        let mut parts = v.split_whitespace();
        let n = parts.next()?.parse().ok()?;
        (parts.next() == Some("kB")).then_some(n)
    })
}

/// `root` and every process below it, given each process's parent: breadth-first, root
/// first. A `root` that is not in `parents` yields just `[root]`.
pub fn descendants(root: u32, parents: &BTreeMap<u32, u32>) -> Vec<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&pid, &ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids.iter().copied().filter(|k| *k != root));
        }
        i += 1;
    }
    out
}

/// Every live process and its parent (processes that exit while being read are skipped).
pub fn parent_map() -> BTreeMap<u32, u32> {
    let mut map = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return map;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .as_deref()
            .and_then(parse_ppid)
        {
            map.insert(pid, ppid);
        }
    }
    map
}

/// The memory of process `pid`, or `None` when it is gone.
pub fn proc_mem(pid: u32) -> Option<ProcMem> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let name = status
        .lines()
        .find_map(|l| l.strip_prefix("Name:"))
        .unwrap_or("")
        .trim()
        .to_string();
    let pss_kib = std::fs::read_to_string(dir.join("smaps_rollup"))
        .ok()
        .and_then(|t| parse_kib(&t, "Pss"));
    Some(ProcMem {
        pid,
        name,
        // Kernel threads and zombies have no VmRSS line: they hold no user memory.
        rss_kib: parse_kib(&status, "VmRSS").unwrap_or(0),
        pss_kib,
        anon_kib: parse_kib(&status, "RssAnon"),
    })
}

/// The memory of `root` and of every process below it, root first.
pub fn tree_mem(root: u32) -> Vec<ProcMem> {
    descendants(root, &parent_map())
        .into_iter()
        .filter_map(proc_mem)
        .collect()
}

/// Sums over a tree: (RSS KiB, PSS KiB). PSS counts a process without a readable PSS as
/// its RSS, which can only overstate.
pub fn totals(tree: &[ProcMem]) -> (u64, u64) {
    tree.iter().fold((0, 0), |(rss, pss), p| {
        (rss + p.rss_kib, pss + p.pss_kib.unwrap_or(p.rss_kib))
    })
}

/// The children of `parent` whose executable is `exe`.
pub fn children_running(parent: u32, exe: &Path) -> Vec<u32> {
    let want = std::fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
    parent_map()
        .into_iter()
        .filter(|&(pid, ppid)| {
            ppid == parent
                && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == want)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// Is process `pid` still there (and not a zombie)?
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace().next().map(|st| st != "Z")
        })
        .unwrap_or(false)
}

/// KiB to megabytes (10^6 bytes), rounded to 0.1.
pub fn kib_to_mb(kib: u64) -> f64 {
    crate::common::round(kib as f64 * 1024.0 / 1e6, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_is_read_after_the_last_parenthesis() {
        let plain = "1234 (WebKitWebProces) S 1200 1234 1200 0 -1 4194560 ...";
        assert_eq!(parse_ppid(plain), Some(1200));
        let tricky = "77 (a) b) (c) R 42 77 77 0 -1";
        assert_eq!(parse_ppid(tricky), Some(42), "a name with ') ' in it");
        assert_eq!(parse_ppid("garbage"), None);
        assert_eq!(parse_ppid("5 (x)"), None);
    }

    #[test]
    fn kib_values_come_from_their_own_line() {
        let status =
            "Name:\ttrove-desktop\nVmHWM:\t  99000 kB\nVmRSS:\t   81234 kB\nRssAnon:\t 5 kB\n";
        assert_eq!(parse_kib(status, "VmRSS"), Some(81_234));
        assert_eq!(parse_kib(status, "VmHWM"), Some(99_000));
        assert_eq!(parse_kib(status, "VmSwap"), None);
        let rollup = "55d0-7ffd ---p 00000000 00:00 0  [rollup]\nRss:  9000 kB\nPss:  4321 kB\nPss_Anon:  100 kB\n";
        assert_eq!(parse_kib(rollup, "Pss"), Some(4_321), "not Pss_Anon");
        assert_eq!(parse_kib("Pss: many kB", "Pss"), None);
        assert_eq!(parse_kib("Pss: 12 pages", "Pss"), None, "unit must be kB");
    }

    #[test]
    fn descendants_walk_the_whole_tree_and_nothing_else() {
        // 1 ─ 10 (app) ─┬─ 11 (web) ── 13 (helper)
        //               └─ 12 (network)
        // 1 ─ 20 (another program) ── 21
        let parents: BTreeMap<u32, u32> =
            [(10, 1), (11, 10), (12, 10), (13, 11), (20, 1), (21, 20)]
                .into_iter()
                .collect();
        assert_eq!(descendants(10, &parents), vec![10, 11, 12, 13]);
        assert_eq!(descendants(12, &parents), vec![12]);
        assert_eq!(
            descendants(99, &parents),
            vec![99],
            "an unknown root is itself"
        );
    }

    #[test]
    fn totals_sum_rss_and_fall_back_to_rss_without_pss() {
        let p = |pid, rss_kib, pss_kib| ProcMem {
            pid,
            name: String::new(),
            rss_kib,
            pss_kib,
            anon_kib: None,
        };
        let tree = [p(1, 1000, Some(600)), p(2, 500, Some(200)), p(3, 300, None)];
        assert_eq!(totals(&tree), (1800, 1100));
        assert_eq!(totals(&[]), (0, 0));
        assert_eq!(kib_to_mb(100_000), 102.4);
    }

    #[test]
    fn this_process_is_measured() {
        let me = std::process::id();
        let mem = proc_mem(me).expect("this process is alive");
        assert!(mem.rss_kib > 0, "a running test has resident memory");
        assert!(alive(me));
        let tree = tree_mem(me);
        assert_eq!(tree[0].pid, me, "the root comes first");
        assert_eq!(
            parse_ppid(&std::fs::read_to_string("/proc/self/stat").unwrap()),
            Some(std::os::unix::process::parent_id())
        );
    }
}
