//! "Reachable from the internet": the in-app share server's remote side. It serves the
//! very same [`ShareState`] (router, gate, limits, access log) over iroh with
//! trove-share's `bind_endpoint` / `serve_remote`, next to the loopback server, and
//! keeps what the settings screen shows (endpoint id, online or not, the error).

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use trove_core::EndpointSecret;
use trove_share::{RemoteOptions, ShareState};

use crate::dto::{RemoteState, RemoteStatusDto};

/// Where the remote side is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Connecting,
    Online(String),
    Failed(String),
}

/// The running remote side of a share server. Dropping it stops it (open requests
/// finish, then the endpoint closes).
pub struct RemoteSide {
    endpoint_id: String,
    phase: Arc<Mutex<Phase>>,
    stop: watch::Sender<bool>,
}

impl RemoteSide {
    /// Binds the vault's endpoint (`secret`) with `options` and serves `state` over it on
    /// the Tauri async runtime. Returns at once: binding and reaching the relay happen in
    /// the background, and [`RemoteSide::status`] says how far they got.
    pub fn start(secret: EndpointSecret, options: RemoteOptions, state: ShareState) -> RemoteSide {
        let endpoint_id = trove_core::OrgKey(trove_share::endpoint_id(&secret)).to_string();
        let phase = Arc::new(Mutex::new(Phase::Connecting));
        let (stop, stopped) = watch::channel(false);
        let task_phase = phase.clone();
        tauri::async_runtime::spawn(async move {
            let set = |p: Phase| *task_phase.lock().unwrap_or_else(|e| e.into_inner()) = p;
            let endpoint = match trove_share::bind_endpoint(&secret, &options).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(code = %e.code(), "remote endpoint could not start");
                    set(Phase::Failed(e.to_string()));
                    return;
                }
            };
            drop(secret);
            let until_stopped = |mut rx: watch::Receiver<bool>| async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            let serve =
                trove_share::serve_remote(endpoint.clone(), state, until_stopped(stopped.clone()));
            let announce = async {
                let mut rx = stopped.clone();
                tokio::select! {
                    home = trove_share::wait_online(&endpoint) => set(Phase::Online(home)),
                    _ = rx.wait_for(|s| *s) => {}
                }
            };
            let (served, ()) = tokio::join!(serve, announce);
            if let Err(e) = served {
                tracing::warn!(error = %e, "remote side stopped");
                set(Phase::Failed(format!("the remote side stopped: {e}")));
            }
        });
        RemoteSide {
            endpoint_id,
            phase,
            stop,
        }
    }

    /// What the settings screen shows.
    pub fn status(&self) -> RemoteStatusDto {
        let phase = self.phase.lock().unwrap_or_else(|e| e.into_inner()).clone();
        status_of(&self.endpoint_id, &phase)
    }
}

impl Drop for RemoteSide {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn status_of(endpoint_id: &str, phase: &Phase) -> RemoteStatusDto {
    let (state, home_relay, error) = match phase {
        Phase::Connecting => (RemoteState::Connecting, None, None),
        Phase::Online(home) => (RemoteState::Online, Some(home.clone()), None),
        Phase::Failed(e) => (RemoteState::Failed, None, Some(e.clone())),
    };
    RemoteStatusDto {
        state,
        endpoint_id: endpoint_id.to_string(),
        endpoint_short: trove_core::remote::short_key(endpoint_id).to_string(),
        home_relay,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_the_short_id_and_the_error_in_words() {
        let id = "ab".repeat(32);
        let s = status_of(&id, &Phase::Connecting);
        assert_eq!(
            (s.state, s.endpoint_short.as_str()),
            (RemoteState::Connecting, "ababababab")
        );
        let s = status_of(&id, &Phase::Online("http://127.0.0.1:1/".into()));
        assert_eq!(s.home_relay.as_deref(), Some("http://127.0.0.1:1/"));
        let s = status_of(
            &id,
            &Phase::Failed("can't open the remote endpoint: x".into()),
        );
        assert_eq!(s.state, RemoteState::Failed);
        assert!(s.error.unwrap().starts_with("can't open"));
    }
}
