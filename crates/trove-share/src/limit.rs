//! The failed-authentication limiter: after too many failed token checks from one
//! remote address within a window, that address gets 429 with `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most; beyond this the oldest entries are dropped.
const MAX_ADDRS: usize = 10_000;

pub(crate) struct FailureLimiter {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureLimiter {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        FailureLimiter {
            max: max.max(1),
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when `addr` is over its limit now.
    pub(crate) fn blocked(&self, addr: &str) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let q = seen.get_mut(addr)?;
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.max as usize {
            let oldest = *q.front().expect("non-empty");
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            Some(wait.as_secs().max(1))
        } else {
            None
        }
    }

    /// Counts one failed authentication from `addr`.
    pub(crate) fn failed(&self, addr: &str) {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ADDRS && !seen.contains_key(addr) {
            let window = self.window;
            seen.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
            if seen.len() >= MAX_ADDRS {
                seen.clear();
            }
        }
        let q = seen.entry(addr.to_string()).or_default();
        q.push_back(now);
        while q.len() > self.max as usize {
            q.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_per_address() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(l.blocked("10.0.0.1"), None);
            l.failed("10.0.0.1");
        }
        let wait = l.blocked("10.0.0.1").expect("blocked after 3");
        assert!((1..=60).contains(&wait));
        assert_eq!(l.blocked("10.0.0.2"), None, "other addresses unaffected");
    }

    #[test]
    fn window_expiry_unblocks() {
        let l = FailureLimiter::new(1, Duration::ZERO);
        l.failed("a");
        assert_eq!(l.blocked("a"), None, "a zero window forgets at once");
    }
}
