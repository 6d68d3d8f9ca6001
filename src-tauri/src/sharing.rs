//! The share server inside the app process: the same trove-share code as `trove serve`,
//! started and stopped from the settings screen. While the app is locked it answers 503.

use std::net::SocketAddr;

use tokio::sync::oneshot;
use trove_core::{Error, Vault};
use trove_share::{ShareConfig, ShareState};

use crate::dto::{ApiError, SharingStatus};

/// A running share server.
pub struct Sharing {
    state: ShareState,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
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
        })
    }

    /// What the settings screen shows.
    pub fn status(&self) -> SharingStatus {
        SharingStatus {
            running: true,
            address: Some(self.addr.to_string()),
            url: Some(format!("http://{}", self.addr)),
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
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use trove_core::{KdfParams, MemoryKeyStore, NewRecord, Passphrase};

    use crate::dto::NewGrantDto;
    use crate::state::AppState;

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

    #[test]
    fn in_app_server_follows_lock_unlock_and_revocation() {
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
        let created = s
            .create_grant(NewGrantDto {
                org: "GLS Bank".into(),
                purpose: "account".into(),
                scope: vec!["contact.email".into()],
                only_tag: None,
                expires: Some("30d".into()),
                max_uses: None,
            })
            .unwrap();
        assert!(created.token.starts_with("trove_"));

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
        s.unlock(&Passphrase::new("pw".into()), false).unwrap();
        assert_eq!(get(&url, "/v1/records", &created.token).0, 200);

        let log = s.log(Some("GLS Bank".into()), None).unwrap();
        assert!(log
            .iter()
            .any(|e| e.kind == "share" && e.fields == ["contact.email"]));
        assert!(s.verify_log().unwrap().ok);

        s.revoke_grant(&created.grant.id).unwrap();
        assert_eq!(
            get(&url, "/v1/records", &created.token).0,
            401,
            "revoked at once"
        );
        s.stop_sharing();
        assert!(!s.sharing_status().running);
    }
}
