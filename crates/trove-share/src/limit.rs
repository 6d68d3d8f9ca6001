//! The failure limiter: after too many failed requests with one credential within a
//! window, that credential gets 429 with `Retry-After`.
//!
//! It counts per *credential*, not per address: a token that keeps failing is slowed
//! down, and so are requests with no token from one source (all of loopback is one
//! source; see `trove_core::share::source_class`), but a valid token is never refused
//! because someone else failed, even from the same machine. Requests already on their
//! way count too once a credential has failed: 300 concurrent requests with a failing
//! token get at most the limit through, not 300. (Guessing a token is hopeless either
//! way — 256 random bits — so the limiter's job is to bound the work and the log, which
//! folds repeated failures into one row a minute.)

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Credentials tracked at most; beyond this the idle entries are dropped.
const MAX_KEYS: usize = 10_000;

/// The key a request is limited under: its `Authorization` header (hashed, never kept
/// as text), or `anon:` and its source when it has none.
pub(crate) fn credential_key(authorization: Option<&[u8]>, source: &str) -> String {
    match authorization {
        Some(h) => format!("auth:{}", hex::encode(&Sha256::digest(h)[..16])),
        None => format!("anon:{source}"),
    }
}

#[derive(Default)]
struct Seen {
    failures: VecDeque<Instant>,
    in_flight: u32,
}

pub(crate) struct FailureLimiter {
    max: u32,
    window: Duration,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

/// A request let through; dropping it ends its in-flight count.
pub(crate) struct Admitted {
    key: String,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = seen.get_mut(&self.key) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }
}

impl FailureLimiter {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        FailureLimiter {
            max: max.max(1),
            window,
            seen: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Lets a request with credential `key` through, or `Err(seconds to wait)` when the
    /// credential is over its limit: its recent failures, plus (once it has failed) the
    /// requests with it still in flight, reach the limit.
    pub(crate) fn admit(&self, key: &str) -> Result<Admitted, u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_KEYS && !seen.contains_key(key) {
            let window = self.window;
            seen.retain(|_, s| {
                s.in_flight > 0 || s.failures.back().is_some_and(|t| now - *t < window)
            });
        }
        let s = seen.entry(key.to_string()).or_default();
        while s
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            s.failures.pop_front();
        }
        let failed = s.failures.len() as u32;
        if failed > 0 && failed.saturating_add(s.in_flight) >= self.max {
            let wait = match s.failures.front() {
                Some(oldest) if failed >= self.max => {
                    self.window.saturating_sub(now.duration_since(*oldest))
                }
                // Over the limit only with what is in flight: those end soon.
                _ => Duration::from_secs(1),
            };
            return Err(wait.as_secs().max(1));
        }
        s.in_flight += 1;
        Ok(Admitted {
            key: key.to_string(),
            seen: self.seen.clone(),
        })
    }

    /// Counts one failed request of an admitted credential.
    pub(crate) fn failed(&self, admitted: &Admitted) {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let s = seen.entry(admitted.key.clone()).or_default();
        s.failures.push_back(now);
        while s.failures.len() > self.max as usize {
            s.failures.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(l: &FailureLimiter, key: &str) {
        let a = l.admit(key).expect("admitted");
        l.failed(&a);
    }

    #[test]
    fn blocks_a_credential_after_max_failures_and_no_other() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            fail(&l, "anon:loopback");
        }
        let wait = l.admit("anon:loopback").err().expect("blocked after 3");
        assert!((1..=60).contains(&wait));
        assert!(
            l.admit("auth:valid").is_ok(),
            "another credential is unaffected"
        );
    }

    #[test]
    fn requests_in_flight_count_once_a_credential_has_failed() {
        let l = FailureLimiter::new(5, Duration::from_secs(60));
        fail(&l, "auth:bad");
        // A burst races the check: in flight, they count.
        let burst: Vec<_> = (0..300).filter_map(|_| l.admit("auth:bad").ok()).collect();
        assert_eq!(burst.len(), 4, "the limit, not the burst, decides");
        drop(burst);
        assert!(
            l.admit("auth:bad").is_ok(),
            "they end, and it may try again"
        );
        // A credential that never failed is never held back by its own concurrency.
        let many: Vec<_> = (0..300).filter_map(|_| l.admit("auth:good").ok()).collect();
        assert_eq!(many.len(), 300);
    }

    #[test]
    fn window_expiry_unblocks() {
        let l = FailureLimiter::new(1, Duration::ZERO);
        fail(&l, "a");
        assert!(l.admit("a").is_ok(), "a zero window forgets at once");
    }

    #[test]
    fn the_key_never_holds_the_credential_text() {
        let k = credential_key(Some(b"Bearer trove_secret"), "loopback");
        assert!(k.starts_with("auth:") && !k.contains("trove_"), "{k}");
        assert_eq!(
            k,
            credential_key(Some(b"Bearer trove_secret"), "10.0.0.0/24")
        );
        assert_eq!(credential_key(None, "loopback"), "anon:loopback");
    }
}
