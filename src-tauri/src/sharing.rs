//! The share server inside the app process: the same trove-share code as `trove serve`,
//! started and stopped from the settings screen. While the app is locked it answers 503.

use std::net::SocketAddr;

use tokio::sync::oneshot;
use trove_core::{EndpointSecret, Error, Vault};
use trove_share::{RemoteOptions, ShareConfig, ShareState};

use crate::dto::{ApiError, SharingStatus};
use crate::remote::RemoteSide;

/// A running share server: on loopback, and (when "Reachable from the internet" is on)
/// the same server over iroh.
pub struct Sharing {
    state: ShareState,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    remote: Option<RemoteSide>,
}

impl Sharing {
    /// Binds `listen` (loopback only: other addresses need TLS, which `trove serve`
    /// offers) and serves the share API on the Tauri async runtime. `vault` is the
    /// server's own handle, or `None` to start locked.
    pub fn start(listen: &str, vault: Option<Vault>) -> Result<Sharing, ApiError> {
        let addr: SocketAddr = listen.trim().parse().map_err(|_| {
            Error::InvalidInput(format!("{listen:?} is not an address like 127.0.0.1:7878"))
        })?;
        trove_share::check_bind(&addr, false)?;
        let listener = bind(addr)
            .map_err(|e| ApiError::from(Error::io(format!("can't listen on {addr}"), e)))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| ApiError::from(Error::io("can't set up the listener", e)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ApiError::from(Error::io("can't read the listen address", e)))?;
        let config = ShareConfig {
            port: addr.port(),
            ..ShareConfig::default()
        };
        let state = match vault {
            Some(v) => ShareState::new(v, config),
            None => ShareState::locked(config),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let served = state.clone();
        tauri::async_runtime::spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "share server could not start");
                    return;
                }
            };
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = trove_share::serve(listener, served, None, shutdown).await {
                tracing::warn!(error = %e, "share server stopped");
            }
        });
        Ok(Sharing {
            state,
            addr,
            stop: Some(stop),
            remote: None,
        })
    }

    /// Also serves this server over iroh with the vault's endpoint key (replacing a
    /// remote side that runs).
    pub fn start_remote(&mut self, secret: EndpointSecret, options: RemoteOptions) {
        self.remote = None;
        self.remote = Some(RemoteSide::start(secret, options, self.state.clone()));
    }

    /// Stops serving over iroh; the loopback server goes on.
    pub fn stop_remote(&mut self) {
        self.remote = None;
    }

    /// Whether the remote side runs.
    pub fn remote_running(&self) -> bool {
        self.remote.is_some()
    }

    /// What the settings screen shows.
    pub fn status(&self) -> SharingStatus {
        SharingStatus {
            running: true,
            address: Some(self.addr.to_string()),
            url: Some(format!("http://{}", self.addr)),
            remote: self.remote.as_ref().map(RemoteSide::status),
        }
    }

    /// The app locked: the server drops its vault handle and answers 503.
    pub fn lock(&self) {
        self.state.lock();
    }

    /// The app unlocked: the server gets its own handle on the vault again.
    pub fn unlock(&self, vault: Vault) {
        self.state.unlock(vault);
    }
}

impl Drop for Sharing {
    fn drop(&mut self) {
        self.remote = None;
        self.state.lock();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `addr`. A server that was just stopped may hold the port for a moment while
/// it finishes open requests, so "address in use" is retried for up to two seconds.
fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let mut tries = 0;
    loop {
        match std::net::TcpListener::bind(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 40 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

/// The status when no server runs.
pub fn stopped() -> SharingStatus {
    SharingStatus {
        running: false,
        address: None,
        url: None,
        remote: None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use trove_core::{KdfParams, MemoryKeyStore, NewRecord, Passphrase};

    use crate::dto::{NewGrantDto, RemoteSettingsDto};
    use crate::state::AppState;
    use trove_core::LogKind;

    /// One plain HTTP/1.1 request; returns the status code and body.
    fn get(url: &str, path: &str, token: &str) -> (u16, String) {
        let addr = url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out[9..12].parse().unwrap();
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    /// An unlocked vault (passphrase `pw`) holding one contact with an email and a phone.
    fn vault_with_a_contact() -> (tempfile::TempDir, AppState) {
        let t = tempfile::tempdir().unwrap();
        let fast = KdfParams {
            m_cost_kib: KdfParams::MIN_M_COST_KIB,
            t_cost: 1,
            p_cost: 1,
        };
        let s = AppState::new(
            t.path().join("v"),
            fast,
            Box::new(MemoryKeyStore::default()),
        );
        s.create(&Passphrase::new("pw".into())).unwrap();
        s.with_vault(|v| {
            v.add(NewRecord::new(
                "contact",
                [
                    ("email".into(), "ana@example.org".into()),
                    ("phone".into(), "+49 30 1234567".into()),
                ],
            ))
        })
        .unwrap();
        (t, s)
    }

    /// GLS Bank may read contact emails.
    fn email_grant(expires: Option<&str>) -> NewGrantDto {
        NewGrantDto {
            org: "GLS Bank".into(),
            purpose: "account".into(),
            scope: vec!["contact.email".into()],
            only_tag: None,
            records: Vec::new(),
            expires: expires.map(Into::into),
            max_uses: None,
            offline: false,
            storage: None,
        }
    }

    #[test]
    fn in_app_server_follows_lock_unlock_and_revocation() {
        let (_t, s) = vault_with_a_contact();
        let created = s.create_grant(email_grant(Some("30d"))).unwrap();
        assert!(created.token.starts_with("trove_"));
        assert!(created.link.starts_with("TROVE1-"), "{}", created.link);
        assert!(created
            .qr_svg
            .as_deref()
            .is_some_and(|q| q.contains("<svg")));

        assert_eq!(
            s.start_sharing("0.0.0.0:0").unwrap_err().code,
            "tls_required",
            "plain HTTP only on loopback"
        );
        let url = s.start_sharing("127.0.0.1:0").unwrap().url.unwrap();
        let (code, body) = get(&url, "/v1/records", &created.token);
        assert_eq!(code, 200, "{body}");
        assert!(
            body.contains("ana@example.org") && !body.contains("1234567"),
            "{body}"
        );

        s.lock();
        assert_eq!(
            get(&url, "/v1/records", &created.token).0,
            503,
            "locked app: 503"
        );
        s.unlock(&Passphrase::new("pw".into()), false, false)
            .unwrap();
        assert_eq!(get(&url, "/v1/records", &created.token).0, 200);

        let log = s.log(Some("GLS Bank".into()), None, None).unwrap();
        assert!(log
            .entries
            .iter()
            .any(|e| e.kind == LogKind::Share && e.fields == ["contact.email"]));
        assert!(s.verify_log().unwrap().ok);

        s.revoke_grant(&created.grant.grant.id).unwrap();
        assert_eq!(
            get(&url, "/v1/records", &created.token).0,
            401,
            "revoked at once"
        );
        s.stop_sharing();
        assert!(!s.sharing_status().running);
    }

    /// Polls `f` every 50 ms until it returns `Some`, for at most `secs` seconds.
    fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                std::time::Instant::now() < end,
                "timed out waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn reachable_from_the_internet_serves_the_same_grants_and_log_over_iroh() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let relay = rt
            .block_on(trove_client::testing::LocalRelay::spawn())
            .unwrap();
        let (_t, s) = vault_with_a_contact();
        assert!(!s.remote_settings().unwrap().enabled, "off by default");
        let bad = s
            .set_remote(RemoteSettingsDto {
                enabled: true,
                relay: Some("http://relay.example.org".into()),
            })
            .unwrap_err();
        assert_eq!(
            (bad.code.as_str(), bad.field.as_deref()),
            ("invalid_relay_url", Some("relay"))
        );

        s.start_sharing("127.0.0.1:0").unwrap();
        assert!(
            s.sharing_status().remote.is_none(),
            "loopback only until switched on"
        );
        s.set_remote(RemoteSettingsDto {
            enabled: true,
            relay: Some(relay.url().into()),
        })
        .unwrap();
        let online = wait_for(30, "the remote side to reach the relay", || {
            s.sharing_status()
                .remote
                .filter(|r| r.state == crate::dto::RemoteState::Online)
        });
        assert_eq!(online.endpoint_short, &online.endpoint_id[..10]);
        assert!(s.remote_settings().unwrap().enabled, "kept in the vault");
        let presence = || s.with_vault(|v| v.remote_settings()).unwrap().presence;
        assert!(
            presence().is_none(),
            "nothing recorded before the watcher looks"
        );
        s.note_remote_presence();
        let p = presence().expect("the app reports reachability like `trove serve`");
        assert_eq!(
            (p.state.as_str(), p.home_relay),
            ("online", online.home_relay.clone())
        );

        let created = s.create_grant(email_grant(None)).unwrap();
        let link = trove_client::ShareLink::parse(&created.link).unwrap();
        let live = link.live.as_ref().expect("the link names the endpoint");
        assert_eq!(
            trove_core::OrgKey(live.endpoint_id).to_string(),
            online.endpoint_id
        );
        assert_eq!(live.relays, [relay.url().to_string()]);

        let mut notified = std::collections::BTreeSet::new();
        assert!(
            s.new_read_notices(&mut notified).is_empty(),
            "older rows are not news"
        );
        let org = trove_client::OrgKey::generate();
        let options = || trove_client::RemoteOptions {
            connect_timeout: std::time::Duration::from_secs(10),
            relays: Some(vec![relay.url().to_string()]),
            ..Default::default()
        };
        let records = rt
            .block_on(async {
                let c = trove_client::Client::remote(&link, &org, options()).await?;
                let r = c.records(None).await;
                c.close().await;
                r
            })
            .unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].fields.keys().collect::<Vec<_>>(), ["email"]);

        let row = s
            .log(Some("GLS Bank".into()), None, None)
            .unwrap()
            .entries
            .into_iter()
            .find(|e| e.kind == LogKind::Share)
            .expect("the remote read is logged like a loopback one");
        assert_eq!(row.org_key.as_deref(), Some(org.endpoint_id().as_str()));
        assert!(row.route.is_some(), "{row:?}");
        let notices = s.new_read_notices(&mut notified);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].remote && notices[0].org == "GLS Bank");
        assert!(s.new_read_notices(&mut notified).is_empty(), "shown once");

        s.set_remote(RemoteSettingsDto {
            enabled: false,
            relay: Some(relay.url().into()),
        })
        .unwrap();
        assert!(s.sharing_status().remote.is_none(), "switched off");
        s.note_remote_presence();
        assert_eq!(presence().unwrap().state, "offline");
        assert!(s.sharing_status().running, "the loopback server goes on");
        s.stop_sharing();
    }
}
