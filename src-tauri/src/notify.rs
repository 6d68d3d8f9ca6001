//! Desktop notifications when an organization reads: new allowed share-API rows of the
//! access log, grouped per organization and minute ([`group_reads`], pure), shown through
//! the Tauri notification plugin by a background watcher that also keeps staged copies
//! up to date and hands freed heap back to the system ([`spawn_watcher`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tauri::{AppHandle, Manager};
use trove_core::{LogEntry, LogKind};

use crate::state::AppState;

/// One notification: what one organization read during one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub org: String,
    /// Minutes since the Unix epoch (UTC).
    pub minute: i64,
    /// Allowed requests in this group.
    pub reads: usize,
    /// Distinct records disclosed.
    pub records: usize,
    /// `type.field` names disclosed, sorted.
    pub fields: Vec<String>,
    /// Some request came over the internet (iroh).
    pub remote: bool,
}

impl Notice {
    /// The notification's title.
    pub fn title(&self) -> String {
        format!("{} read your data", self.org)
    }

    /// The notification's body: how much, what, and how (never a value).
    pub fn body(&self) -> String {
        let records = match self.records {
            1 => "1 record".to_string(),
            n => format!("{n} records"),
        };
        let what = if self.fields.is_empty() {
            "nothing".to_string()
        } else {
            self.fields.join(", ")
        };
        let times = match self.reads {
            1 => String::new(),
            n => format!(" in {n} requests"),
        };
        let how = if self.remote {
            " over the internet"
        } else {
            " on this computer"
        };
        format!("{records}{times}{how}: {what}")
    }
}

/// Groups the allowed reads among `entries` (any order) per organization and minute, one
/// [`Notice`] per group, oldest first. Groups in `notified` were shown before and are left
/// out, so reads that arrive in several polls within one minute make one notification;
/// new groups are added to it (and groups older than the newest minute seen minus two are
/// forgotten, so it stays small).
pub fn group_reads(entries: &[LogEntry], notified: &mut BTreeSet<(i64, String)>) -> Vec<Notice> {
    let mut groups: BTreeMap<(i64, String), (Notice, BTreeSet<String>)> = BTreeMap::new();
    for e in entries {
        if e.kind != LogKind::Share || e.outcome != "allowed" {
            continue;
        }
        let (Some(org), Some(minute)) = (e.org.as_ref(), minute_of(&e.time)) else {
            continue;
        };
        let key = (minute, org.clone());
        if notified.contains(&key) {
            continue;
        }
        let (n, ids) = groups.entry(key).or_insert_with(|| {
            (
                Notice {
                    org: org.clone(),
                    minute,
                    reads: 0,
                    records: 0,
                    fields: Vec::new(),
                    remote: false,
                },
                BTreeSet::new(),
            )
        });
        n.reads += 1;
        n.remote |= e.org_key.is_some();
        ids.extend(e.record_ids.iter().cloned());
        for f in &e.fields {
            if !n.fields.contains(f) {
                n.fields.push(f.clone());
            }
        }
    }
    let newest = groups
        .keys()
        .map(|(m, _)| *m)
        .chain(notified.iter().map(|(m, _)| *m))
        .max();
    if let Some(newest) = newest {
        notified.retain(|(m, _)| *m >= newest - 2);
    }
    groups
        .into_iter()
        .map(|(key, (mut n, ids))| {
            notified.insert(key);
            n.records = ids.len();
            n.fields.sort();
            n
        })
        .collect()
}

fn minute_of(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp().div_euclid(60))
}

/// How often the watcher looks for new reads.
const POLL: Duration = Duration::from_secs(2);
/// How often it re-publishes and deletes staged copies that are due (at its next poll
/// instead when records were changed in the app: [`AppState::with_vault_changing`]).
const STAGING_EVERY: Duration = Duration::from_secs(60);

/// Starts the background watcher: every two seconds, new reads become notifications
/// (when they are on) and the remote side's reachability is recorded in the vault when
/// it changed; every minute, staged copies that are due are re-published or deleted.
/// Does nothing while the vault is locked.
pub fn spawn_watcher(app: AppHandle) {
    let spawned = std::thread::Builder::new()
        .name("trove-watcher".into())
        .spawn(move || {
            let mut notified = BTreeSet::new();
            let mut last_sync: Option<Instant> = None;
            loop {
                std::thread::sleep(POLL);
                let state = app.state::<AppState>();
                for n in state.new_read_notices(&mut notified) {
                    show(&app, &n);
                }
                state.note_remote_presence();
                // Heap a big answer (the record list) freed goes back to the system.
                crate::memory::release_free_heap();
                let due = state.take_staging_due();
                if (due || last_sync.is_none_or(|t| t.elapsed() >= STAGING_EVERY))
                    && state.is_unlocked()
                {
                    last_sync = Some(Instant::now());
                    state.sync_staging();
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no read notifications: the watcher could not start");
    }
}

fn show(app: &AppHandle, n: &Notice) {
    use tauri_plugin_notification::NotificationExt;
    if let Err(e) = app
        .notification()
        .builder()
        .title(n.title())
        .body(n.body())
        .show()
    {
        tracing::warn!(error = %e, "could not show a notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(seq: i64, time: &str, org: &str, ids: &[&str], fields: &[&str]) -> LogEntry {
        LogEntry {
            seq,
            time: time.into(),
            kind: LogKind::Share,
            grant_id: Some("g".into()),
            org: Some(org.into()),
            remote_addr: None,
            method: Some("GET".into()),
            path: Some("/v1/records".into()),
            status: Some(200),
            outcome: "allowed".into(),
            record_ids: ids.iter().map(|s| s.to_string()).collect(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
            org_key: None,
            route: None,
            count: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn reads_are_grouped_per_organization_and_minute() {
        let mut seen = BTreeSet::new();
        let mut remote = read(
            3,
            "2026-12-02T10:00:40Z",
            "GLS Bank",
            &["r2"],
            &["address.city"],
        );
        remote.org_key = Some("ab".repeat(32));
        let entries = vec![
            read(
                1,
                "2026-12-02T10:00:01Z",
                "GLS Bank",
                &["r1"],
                &["contact.email"],
            ),
            read(
                2,
                "2026-12-02T10:00:30Z",
                "Clinic",
                &["r9"],
                &["health.name"],
            ),
            remote,
            read(
                4,
                "2026-12-02T10:01:00Z",
                "GLS Bank",
                &["r1"],
                &["contact.email"],
            ),
        ];
        let n = group_reads(&entries, &mut seen);
        assert_eq!(
            n.len(),
            3,
            "GLS Bank twice (two minutes), the clinic once: {n:?}"
        );
        let first = n
            .iter()
            .find(|x| x.org == "GLS Bank" && x.reads == 2)
            .unwrap();
        assert_eq!((first.records, first.remote), (2, true));
        assert_eq!(first.fields, ["address.city", "contact.email"]);
        assert_eq!(first.title(), "GLS Bank read your data");
        assert_eq!(
            first.body(),
            "2 records in 2 requests over the internet: address.city, contact.email"
        );
        assert_eq!(
            n.iter().find(|x| x.org == "Clinic").unwrap().body(),
            "1 record on this computer: health.name"
        );
    }

    #[test]
    fn a_group_already_shown_is_not_shown_again_in_the_same_minute() {
        let mut seen = BTreeSet::new();
        let a = read(
            1,
            "2026-12-02T10:00:01Z",
            "GLS Bank",
            &["r1"],
            &["contact.email"],
        );
        assert_eq!(group_reads(&[a], &mut seen).len(), 1);
        let b = read(
            2,
            "2026-12-02T10:00:50Z",
            "GLS Bank",
            &["r1"],
            &["contact.email"],
        );
        assert!(
            group_reads(&[b], &mut seen).is_empty(),
            "same org, same minute"
        );
        let c = read(
            3,
            "2026-12-02T10:01:05Z",
            "GLS Bank",
            &["r1"],
            &["contact.email"],
        );
        assert_eq!(group_reads(&[c], &mut seen).len(), 1, "a new minute");
        let d = read(
            4,
            "2026-12-02T10:09:00Z",
            "GLS Bank",
            &["r1"],
            &["contact.email"],
        );
        group_reads(&[d], &mut seen);
        assert_eq!(seen.len(), 1, "old minutes are forgotten: {seen:?}");
    }

    #[test]
    fn refusals_and_other_rows_make_no_notification() {
        let mut seen = BTreeSet::new();
        let mut denied = read(1, "2026-12-02T10:00:01Z", "GLS Bank", &[], &[]);
        denied.outcome = "denied:revoked".into();
        let mut grant = read(2, "2026-12-02T10:00:02Z", "GLS Bank", &[], &[]);
        grant.kind = LogKind::GrantCreate;
        let bad_time = read(3, "yesterday", "GLS Bank", &["r"], &["note.title"]);
        assert!(group_reads(&[denied, grant, bad_time], &mut seen).is_empty());
    }
}
