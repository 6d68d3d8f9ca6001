//! Handing freed heap back to the operating system. glibc keeps memory a big answer
//! freed (10,000 records listed, serialized and sent to the page) inside its arenas,
//! where it still counts as the app's memory; `malloc_trim` returns the free pages.
//! The read watcher calls [`release_free_heap`] at each poll (docs/benchmarks.md, `app`:
//! about 10 MB less anonymous memory in the idle app with 10,000 records).
#![allow(unsafe_code)]

/// Returns the allocator's free pages to the operating system; true if any were
/// returned. A no-op (false) where the allocator is not glibc's.
pub fn release_free_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointers and only walks glibc's own arenas, each
        // under its lock; it may be called from any thread at any time.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// This process's anonymous resident memory, in KiB.
    fn rss_anon_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn freed_small_allocations_go_back_to_the_system() {
        // 64 MiB in 1 KiB pieces (below the mmap threshold: they live in the heap, as a
        // serialized record list does), all written, then all freed but the last one,
        // which keeps the heap's top in use so glibc cannot shrink it on its own.
        let mut pieces: Vec<Vec<u8>> = (0..64 * 1024).map(|i| vec![i as u8; 1024]).collect();
        let keep = pieces.pop();
        let full = rss_anon_kib();
        drop(pieces);
        let freed = rss_anon_kib();
        let start = std::time::Instant::now();
        assert!(release_free_heap(), "free pages were returned");
        let took = start.elapsed();
        let trimmed = rss_anon_kib();
        let again = std::time::Instant::now();
        release_free_heap();
        let idle = again.elapsed();
        drop(keep);
        assert!(
            trimmed + 32 * 1024 < freed,
            "anonymous memory: {full} KiB full, {freed} KiB freed, {trimmed} KiB trimmed"
        );
        eprintln!(
            "{full} KiB full, {freed} KiB freed, {trimmed} KiB after {took:?}; \
             a second call with nothing to return took {idle:?}"
        );
    }
}
