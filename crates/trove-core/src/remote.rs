//! Reaching organizations beyond this computer: the vault's endpoint key (the identity
//! organizations dial, kept encrypted in the vault), the remote settings (relay, on/off,
//! last reachability), and the organization keys that remote requests and grants name.
//!
//! Core stores and returns raw bytes; it knows nothing of the network library that turns
//! the 32-byte secret into an Ed25519 endpoint key (trove-share does).

use std::fmt;

use rand::RngCore;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::access_log::{self, LogKind, NewLogEntry};
use crate::error::{Error, Result};
pub use crate::model::peer::{short_key, OrgKey, RemotePeer, Route};
use crate::vault::Vault;

const SECRET_KEY: &str = "remote_endpoint_secret";
const RELAY_KEY: &str = "remote_relay";
const ENABLED_KEY: &str = "remote_enabled";
const PRESENCE_KEY: &str = "remote_presence";

/// The longest relay URL accepted.
const MAX_RELAY_URL: usize = 512;

/// The secret half of the vault's endpoint key: 32 random bytes (an Ed25519 seed).
/// Organizations dial its public half. Not `Clone`, not `Serialize`; `Debug` prints
/// `***`; zeroized on drop.
pub struct EndpointSecret(Box<[u8; 32]>);

impl EndpointSecret {
    fn generate() -> EndpointSecret {
        let mut k = Box::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut k[..]);
        EndpointSecret(k)
    }

    fn from_hex(s: &str) -> Option<EndpointSecret> {
        let mut k = Box::new([0u8; 32]);
        match hex::decode_to_slice(s.trim(), &mut k[..]) {
            Ok(()) => Some(EndpointSecret(k)),
            Err(_) => {
                k.zeroize();
                None
            }
        }
    }

    fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(&self.0[..]))
    }

    /// The raw secret bytes, to build the network key from. Do not copy them anywhere
    /// that outlives this value.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for EndpointSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EndpointSecret(***)")
    }
}

/// The relay a vault's endpoint uses. `None` in [`RemoteSettings::relay`] means the
/// default public relays.
///
/// A relay URL is `https://HOST[:PORT][/PATH]`; plain `http://` only for a relay on this
/// computer (127.0.0.1, [::1] or localhost), e.g. one started for tests.
pub fn validate_relay_url(url: &str) -> Result<String> {
    let u = url.trim();
    let bad = |why: &str| Error::InvalidRelayUrl(format!("{u:?}: {why}"));
    if u.is_empty() || u.len() > MAX_RELAY_URL {
        return Err(bad("a relay URL has 1 to 512 characters"));
    }
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("a URL has no spaces or control characters"));
    }
    let (scheme, rest) = u
        .split_once("://")
        .ok_or_else(|| bad("it must start with https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("it needs a host name (and no user name)"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => (h, Some(p.strip_prefix(':').unwrap_or(p))),
            None => return Err(bad("an IPv6 host needs its closing ]")),
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(bad("it needs a host name"));
    }
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err(bad("the port must be a number from 1 to 65535"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http"
            if matches!(
                host.to_ascii_lowercase().as_str(),
                "127.0.0.1" | "::1" | "localhost"
            ) => {}
        "http" => {
            return Err(bad(
                "plain http:// is only allowed for a relay on this computer; use https://",
            ))
        }
        _ => return Err(bad("it must start with https://")),
    }
    Ok(u.to_string())
}

/// Whether the vault's endpoint was last seen reachable, as reported by the server
/// that ran it (a record, not a live check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemotePresence {
    /// `online` (a server reported its relay connection) or `offline` (it stopped).
    pub state: String,
    /// When the state was reported (RFC 3339).
    pub since: String,
    /// The relay the server was connected to, when online.
    #[serde(default)]
    pub home_relay: Option<String>,
}

/// The remote settings kept in the vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSettings {
    /// The desktop app's "Reachable from the internet" switch (off by default).
    pub enabled: bool,
    /// A self-hosted relay; `None` for the default public relays.
    pub relay: Option<String>,
    /// What the last server that ran the endpoint reported.
    pub presence: Option<RemotePresence>,
}

fn meta_get(tx: &rusqlite::Connection, key: &str) -> Result<Option<Zeroizing<String>>> {
    Ok(tx
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get::<_, String>(0))
        .optional()?
        .map(Zeroizing::new))
}

fn meta_set(tx: &Transaction<'_>, key: &str, value: &str) -> Result<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute(params![key, value])?;
    Ok(())
}

fn meta_delete(tx: &Transaction<'_>, key: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM meta WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

fn read_secret(tx: &rusqlite::Connection) -> Result<Option<EndpointSecret>> {
    match meta_get(tx, SECRET_KEY)? {
        None => Ok(None),
        Some(h) => EndpointSecret::from_hex(&h).map(Some).ok_or_else(|| {
            Error::VaultDamaged("the stored remote endpoint key is malformed".into())
        }),
    }
}

impl Vault {
    /// The vault's endpoint secret, made (and stored, encrypted with the vault) the first
    /// time it is needed. The same key across restarts keeps share links working.
    pub fn endpoint_secret(&self) -> Result<EndpointSecret> {
        if let Some(s) = self.read(|tx| read_secret(tx))? {
            return Ok(s);
        }
        self.write(|tx| {
            // Re-read under the write lock: another process may have made it meanwhile.
            if let Some(s) = read_secret(tx)? {
                return Ok(s);
            }
            let s = EndpointSecret::generate();
            meta_set(tx, SECRET_KEY, &s.to_hex())?;
            Ok(s)
        })
    }

    /// The endpoint secret if the vault has one (remote sharing was set up), without
    /// making one.
    pub fn existing_endpoint_secret(&self) -> Result<Option<EndpointSecret>> {
        self.read(|tx| read_secret(tx))
    }

    /// Replaces the endpoint secret with a new one: every share link made so far stops
    /// reaching this vault (a running server keeps the old key until it restarts).
    /// Writes one access-log row. Returns the new secret.
    pub fn rotate_endpoint_secret(&self) -> Result<EndpointSecret> {
        let s = self.write(|tx| {
            let s = EndpointSecret::generate();
            meta_set(tx, SECRET_KEY, &s.to_hex())?;
            meta_delete(tx, PRESENCE_KEY)?;
            access_log::append(tx, NewLogEntry::new(LogKind::RemoteKeyRotate), None)?;
            Ok(s)
        })?;
        tracing::info!("remote endpoint key rotated");
        Ok(s)
    }

    /// The remote settings (off and the default relays until changed).
    pub fn remote_settings(&self) -> Result<RemoteSettings> {
        self.read(|tx| {
            let enabled = meta_get(tx, ENABLED_KEY)?.is_some_and(|v| v.as_str() == "1");
            let relay = meta_get(tx, RELAY_KEY)?.map(|v| v.to_string());
            let presence = meta_get(tx, PRESENCE_KEY)?
                .and_then(|v| serde_json::from_str::<RemotePresence>(&v).ok());
            Ok(RemoteSettings {
                enabled,
                relay,
                presence,
            })
        })
    }

    /// Turns the "reachable from the internet" setting on or off.
    pub fn set_remote_enabled(&self, on: bool) -> Result<()> {
        self.write(|tx| meta_set(tx, ENABLED_KEY, if on { "1" } else { "0" }))
    }

    /// Chooses a self-hosted relay (validated by [`validate_relay_url`]), or the default
    /// public relays with `None`. Links made afterwards name it.
    pub fn set_remote_relay(&self, relay: Option<&str>) -> Result<Option<String>> {
        let relay = relay.map(validate_relay_url).transpose()?;
        self.write(|tx| match &relay {
            Some(r) => meta_set(tx, RELAY_KEY, r),
            None => meta_delete(tx, RELAY_KEY),
        })?;
        Ok(relay)
    }

    /// Records what a server running the endpoint reports: reachable through
    /// `home_relay` (`Some`), or stopped (`None`).
    pub fn record_remote_presence(&self, home_relay: Option<&str>) -> Result<()> {
        let p = RemotePresence {
            state: if home_relay.is_some() {
                "online"
            } else {
                "offline"
            }
            .into(),
            since: crate::now_rfc3339(),
            home_relay: home_relay.map(str::to_string),
        };
        let v = serde_json::to_string(&p).expect("presence serializes");
        self.write(|tx| meta_set(tx, PRESENCE_KEY, &v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::tests::new_vault;

    #[test]
    fn the_endpoint_secret_is_stable_and_rotates_with_a_log_row() {
        let (_d, v) = new_vault();
        let a = *v.endpoint_secret().unwrap().expose_secret();
        assert_eq!(
            *v.try_clone()
                .unwrap()
                .endpoint_secret()
                .unwrap()
                .expose_secret(),
            a,
            "stable across handles"
        );
        let before = v.log_len().unwrap();
        let b = *v.rotate_endpoint_secret().unwrap().expose_secret();
        assert_ne!(a, b);
        assert_eq!(*v.endpoint_secret().unwrap().expose_secret(), b);
        let log = v.log_entries(&Default::default()).unwrap();
        assert_eq!(v.log_len().unwrap(), before + 1);
        assert_eq!(log[0].kind, LogKind::RemoteKeyRotate);
        let row = serde_json::to_string(&log[0]).unwrap();
        for k in [hex::encode(a), hex::encode(b)] {
            assert!(!row.contains(&k), "the secret is not in the log row");
        }
        assert!(v.verify_log().unwrap().ok);
    }

    #[test]
    fn the_secret_is_stored_encrypted_and_never_printed() {
        let (d, v) = new_vault();
        let s = v.endpoint_secret().unwrap();
        let hexed = hex::encode(s.expose_secret());
        assert_eq!(format!("{s:?}"), "EndpointSecret(***)");
        drop(v);
        for f in ["trove.db", "trove.db-wal"] {
            let p = d.path().join("v").join(f);
            if let Ok(bytes) = std::fs::read(&p) {
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(&hexed), "{f} holds the key in the clear");
                assert!(
                    !bytes.windows(32).any(|w| w == s.expose_secret()),
                    "{f} holds the raw key"
                );
            }
        }
    }

    #[test]
    fn settings_default_off_and_round_trip() {
        let (_d, v) = new_vault();
        let s = v.remote_settings().unwrap();
        assert_eq!((s.enabled, s.relay, s.presence), (false, None, None));
        v.set_remote_enabled(true).unwrap();
        v.set_remote_relay(Some(" https://relay.example.org "))
            .unwrap();
        v.record_remote_presence(Some("https://relay.example.org/"))
            .unwrap();
        let s = v.remote_settings().unwrap();
        assert!(s.enabled);
        assert_eq!(s.relay.as_deref(), Some("https://relay.example.org"));
        assert_eq!(s.presence.unwrap().state, "online");
        v.set_remote_relay(None).unwrap();
        v.record_remote_presence(None).unwrap();
        let s = v.remote_settings().unwrap();
        assert_eq!(s.relay, None);
        assert_eq!(s.presence.unwrap().state, "offline");
    }

    #[test]
    fn relay_urls_are_https_or_loopback_http() {
        for ok in [
            "https://relay.example.org",
            "https://relay.example.org:8443/",
            "http://127.0.0.1:3340",
            "http://[::1]:3340/",
            "http://localhost:80",
        ] {
            assert!(validate_relay_url(ok).is_ok(), "{ok} refused");
        }
        for bad in [
            "",
            "relay.example.org",
            "http://relay.example.org",
            "http://192.168.1.2:3340",
            "ftp://relay.example.org",
            "https://",
            "https://user@relay.example.org",
            "https://relay example.org",
            "https://relay.example.org:0",
            "https://relay.example.org:99999",
        ] {
            let e = validate_relay_url(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_relay_url", "{bad}");
        }
    }

    #[test]
    fn org_keys_are_64_hex_characters() {
        let k = OrgKey::parse(&"Ab".repeat(32)).unwrap();
        assert_eq!(k.to_string(), "ab".repeat(32));
        assert_eq!(k.short(), "ababababab");
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33)] {
            assert_eq!(OrgKey::parse(bad).unwrap_err().code(), "invalid_org_key");
        }
    }
}
