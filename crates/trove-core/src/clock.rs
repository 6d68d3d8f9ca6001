//! The time Trove decides by: a grant's status and expiry, the share decision, the
//! staged copies' lifetimes. A [`Vault`](crate::vault::Vault) carries a [`Clock`] that
//! reads the system clock; tests (and only tests: the `test-clock` feature) give it a
//! fixed time they move by hand, so expiry is tested without sleeping or rewriting
//! stored times.

use chrono::{DateTime, Utc};

/// Where "now" comes from. Cloning shares the time: a clone of a vault, or a server
/// worker's handle, sees a test clock move.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// A test's time in milliseconds since the epoch; `None` reads the system clock.
    #[cfg(any(test, feature = "test-clock"))]
    fixed: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
}

impl Clock {
    /// The system clock (what every shipped path uses).
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        #[cfg(any(test, feature = "test-clock"))]
        if let Some(ms) = &self.fixed {
            let ms = ms.load(std::sync::atomic::Ordering::SeqCst);
            return DateTime::from_timestamp_millis(ms).expect("a test time in range");
        }
        Utc::now()
    }

    /// The current time as RFC 3339 UTC with milliseconds, the format of every stored time.
    pub fn now_rfc3339(&self) -> String {
        rfc3339(self.now())
    }

    /// A clock that stands at `at` until [`Clock::advance`] moves it (tests only).
    #[cfg(any(test, feature = "test-clock"))]
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock {
            fixed: Some(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
                at.timestamp_millis(),
            ))),
        }
    }

    /// Moves a fixed clock (and every clone of it) forward by `by` (tests only).
    ///
    /// # Panics
    /// On the system clock, which no test can move.
    #[cfg(any(test, feature = "test-clock"))]
    pub fn advance(&self, by: chrono::Duration) {
        let ms = self
            .fixed
            .as_ref()
            .expect("only a fixed clock can be moved");
        ms.fetch_add(by.num_milliseconds(), std::sync::atomic::Ordering::SeqCst);
    }
}

/// `t` as RFC 3339 UTC with milliseconds, the format of every stored time.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The system's current time as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stands_still_until_moved_and_clones_move_with_it() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Clock::fixed(at);
        let twin = c.clone();
        assert_eq!(c.now(), at);
        c.advance(chrono::Duration::hours(2));
        assert_eq!(twin.now_rfc3339(), "2026-03-01T14:00:00.000Z");
    }

    #[test]
    fn the_system_clock_reads_the_time() {
        let before = Utc::now();
        let now = Clock::system().now();
        assert!(now >= before && now <= Utc::now());
    }
}
