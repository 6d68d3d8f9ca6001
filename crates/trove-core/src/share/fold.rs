//! Folding repeated failures: a refused share request still gets a log row, but the
//! same failure from the same source within one minute does not get another. The first
//! one is written as it happens; the ones after it are counted, and when the minute is
//! over one more row (a copy of the first, with `count`) says how many there were. So
//! a client that sends 100,000 bad requests a minute writes two rows, not 100,000.
//!
//! A source is what an attacker cannot cheaply multiply: all of loopback is one source
//! (rotating `127.x.y.z` does not help), an IPv4 client is its /24, an IPv6 one its /64,
//! a remote organization its endpoint key. Keys are bounded per minute: past
//! [`MAX_SOURCES`], every further failure folds into one "many sources" row, so the log
//! grows by at most a few hundred rows a minute whatever arrives.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::access_log::{LogKind, NewLogEntry};

use super::{RequestMeta, Transport};

/// The length of a folding window, in seconds.
pub(crate) const WINDOW_SECS: i64 = 60;

/// Distinct (source, failure) pairs kept per window; failures beyond fold into one row.
pub(crate) const MAX_SOURCES: usize = 64;

/// The outcome of the row that sums up failures from more sources than [`MAX_SOURCES`].
pub(crate) const MANY_SOURCES: &str = "denied:many_sources";

/// Whether a share row is a failure that folds (every refusal; never a disclosure).
pub(crate) fn folds(e: &NewLogEntry) -> bool {
    e.kind == LogKind::Share && e.outcome.starts_with("denied:")
}

/// The source a request is counted under, for folding and for the failure limiter:
/// what an attacker cannot cheaply multiply (see the module docs).
pub fn source_class(meta: &RequestMeta) -> String {
    if let Transport::Remote(p) = meta.transport {
        return format!("key:{}", p.org_key);
    }
    match meta.remote_addr.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => "loopback".into(),
        Ok(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) if v4.is_loopback() => "loopback".into(),
            Some(v4) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => meta.remote_addr.clone(),
    }
}

/// What to do with a failure's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    /// The first of its kind this minute: write it now.
    Write,
    /// Counted into the row that will sum up this minute.
    Counted,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    source: String,
    outcome: String,
    grant_id: Option<String>,
    method: Option<String>,
    path: Option<String>,
}

#[derive(Debug, Clone)]
struct Pending {
    window: i64,
    /// The row written for the first failure (the summary copies it).
    first: NewLogEntry,
    /// Failures counted after the first.
    more: u64,
}

impl Pending {
    fn summary(self) -> Option<NewLogEntry> {
        (self.more > 0).then_some(NewLogEntry {
            count: Some(self.more),
            ..self.first
        })
    }
}

/// The failures of the current minute, per source and reason. Cloned for each batch and
/// put back only when the batch commits, so a rolled-back batch counts nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Folder {
    pending: HashMap<Key, Pending>,
    many: Option<Pending>,
    /// Summaries of windows that ended while a newer failure of the same key arrived.
    due: Vec<NewLogEntry>,
}

impl Folder {
    /// Notes the failure whose row is `e`, from `source`, at `now` (seconds).
    pub(crate) fn note(&mut self, e: &NewLogEntry, source: &str, now: i64) -> Fold {
        let window = now.div_euclid(WINDOW_SECS);
        let key = Key {
            source: source.to_string(),
            outcome: e.outcome.clone(),
            grant_id: e.grant_id.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
        };
        if let Some(p) = self.pending.get_mut(&key) {
            if p.window == window {
                p.more += 1;
                return Fold::Counted;
            }
            let old = std::mem::replace(p, Pending::new(window, e.clone()));
            self.due.extend(old.summary());
            return Fold::Write;
        }
        if self.pending.len() < MAX_SOURCES {
            self.pending.insert(key, Pending::new(window, e.clone()));
            return Fold::Write;
        }
        match &mut self.many {
            Some(p) if p.window == window => {
                p.more += 1;
                Fold::Counted
            }
            slot => {
                if let Some(old) = slot.take() {
                    self.due.extend(old.summary());
                }
                *slot = Some(Pending::new(window, many_sources_row(e)));
                Fold::Write
            }
        }
    }

    /// Takes the summary rows of windows that are over at `now` (every one with `all`).
    pub(crate) fn take_due(&mut self, now: i64, all: bool) -> Vec<NewLogEntry> {
        let window = now.div_euclid(WINDOW_SECS);
        let over = |p: &Pending| all || p.window < window;
        let mut out = std::mem::take(&mut self.due);
        let ended: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, p)| over(p))
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            out.extend(self.pending.remove(&k).and_then(Pending::summary));
        }
        if self.many.as_ref().is_some_and(over) {
            out.extend(self.many.take().and_then(Pending::summary));
        }
        out
    }

    /// Whether any failure is still waiting for its summary row.
    pub(crate) fn has_pending(&self) -> bool {
        !self.due.is_empty()
            || self.pending.values().any(|p| p.more > 0)
            || self.many.as_ref().is_some_and(|p| p.more > 0)
    }
}

impl Pending {
    fn new(window: i64, first: NewLogEntry) -> Pending {
        Pending {
            window,
            first,
            more: 0,
        }
    }
}

/// The row that stands for failures from more sources than [`MAX_SOURCES`] in a minute:
/// no source, grant or path of its own (they differ), only that they happened.
fn many_sources_row(e: &NewLogEntry) -> NewLogEntry {
    NewLogEntry {
        remote_addr: Some("(many sources)".into()),
        outcome: MANY_SOURCES.into(),
        status: e.status,
        ..NewLogEntry::new(LogKind::Share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::{OrgKey, RemotePeer, Route};

    fn failure(addr: &str, reason: &str) -> NewLogEntry {
        NewLogEntry {
            remote_addr: Some(addr.into()),
            method: Some("GET".into()),
            path: Some("/v1/records".into()),
            status: Some(401),
            outcome: format!("denied:{reason}"),
            ..NewLogEntry::new(LogKind::Share)
        }
    }

    fn meta(addr: &str) -> RequestMeta {
        RequestMeta {
            remote_addr: addr.into(),
            method: "GET".into(),
            path: "/v1/records".into(),
            transport: Transport::Http,
        }
    }

    #[test]
    fn sources_are_what_an_attacker_cannot_cheaply_multiply() {
        for a in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.2"] {
            assert_eq!(source_class(&meta(a)), "loopback", "{a}");
        }
        assert_eq!(source_class(&meta("203.0.113.9")), "203.0.113.0/24");
        assert_eq!(source_class(&meta("203.0.113.200")), "203.0.113.0/24");
        assert_eq!(
            source_class(&meta("2001:db8:1:2:3:4:5:6")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(source_class(&meta("unknown")), "unknown");
        let key = OrgKey([7; 32]);
        let remote = RequestMeta {
            transport: Transport::Remote(RemotePeer {
                org_key: key,
                route: Route::Relayed,
            }),
            ..meta("https://relay.example/")
        };
        assert_eq!(source_class(&remote), format!("key:{key}"));
    }

    #[test]
    fn the_first_failure_is_written_and_the_rest_of_the_minute_is_one_row() {
        let mut f = Folder::default();
        let e = failure("127.0.0.1", "unknown_token");
        assert_eq!(f.note(&e, "loopback", 120), Fold::Write);
        for t in 121..=179 {
            assert_eq!(f.note(&e, "loopback", t), Fold::Counted);
        }
        assert!(f.take_due(179, false).is_empty(), "the minute is not over");
        let rows = f.take_due(180, false);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].count, Some(59));
        assert_eq!(rows[0].outcome, "denied:unknown_token");
        assert!(!f.has_pending());
        // The next minute starts afresh.
        assert_eq!(f.note(&e, "loopback", 181), Fold::Write);
        assert!(
            f.take_due(300, false).is_empty(),
            "one failure needs no summary"
        );
    }

    #[test]
    fn a_new_minute_for_the_same_key_keeps_the_old_summary() {
        let mut f = Folder::default();
        let e = failure("127.0.0.1", "missing_token");
        f.note(&e, "loopback", 0);
        f.note(&e, "loopback", 1);
        f.note(&e, "loopback", 2);
        assert_eq!(f.note(&e, "loopback", 60), Fold::Write);
        f.note(&e, "loopback", 61);
        let rows = f.take_due(61, false);
        assert_eq!(rows.iter().map(|r| r.count).collect::<Vec<_>>(), [Some(2)]);
        let rows = f.take_due(61, true);
        assert_eq!(rows.iter().map(|r| r.count).collect::<Vec<_>>(), [Some(1)]);
    }

    #[test]
    fn reasons_and_sources_fold_apart_and_too_many_sources_fold_together() {
        let mut f = Folder::default();
        assert_eq!(f.note(&failure("a", "unknown_token"), "a", 0), Fold::Write);
        assert_eq!(f.note(&failure("a", "missing_token"), "a", 0), Fold::Write);
        assert_eq!(f.note(&failure("b", "unknown_token"), "b", 0), Fold::Write);
        let mut written = 3;
        for i in 0..1_000 {
            let src = format!("s{i}");
            if f.note(&failure(&src, "unknown_token"), &src, 1) == Fold::Write {
                written += 1;
            }
        }
        assert_eq!(
            written,
            MAX_SOURCES + 1,
            "one row per kept source, then one"
        );
        let rows = f.take_due(60, false);
        let many: Vec<_> = rows.iter().filter(|r| r.outcome == MANY_SOURCES).collect();
        assert_eq!(many.len(), 1);
        assert_eq!(
            many[0].count,
            Some((1_000 - (MAX_SOURCES - 3) - 1) as u64),
            "every failure past the kept sources is counted once"
        );
        assert_eq!(many[0].remote_addr.as_deref(), Some("(many sources)"));
    }
}
