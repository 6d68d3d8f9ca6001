//! Consent receipts shaped after the Kantara Consent Receipt Specification v1.1: one is
//! stored (append-only) when a grant is created and one when it is revoked.

use chrono::{DateTime, Utc};
use rusqlite::{params, Transaction};
use serde_json::{json, Value};

use crate::error::Result;
use crate::model::grant::{Grant, GrantStatus};
use crate::vault::Vault;

/// Record types whose data counts as sensitive personal information.
const SENSITIVE_TYPES: &[&str] = &["health", "document", "bank_account"];

/// What a receipt records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptEvent {
    /// Consent given: the grant was created.
    Created,
    /// Consent withdrawn: the grant was revoked.
    Revoked,
}

impl ReceiptEvent {
    fn as_str(self) -> &'static str {
        match self {
            ReceiptEvent::Created => "grant_created",
            ReceiptEvent::Revoked => "grant_revoked",
        }
    }
}

/// A pseudonymous, stable id for the person behind this vault (a keyed hash of the
/// vault id, so receipts from two vaults cannot be linked without the key).
fn principal_id(vault: &Vault) -> String {
    use hmac::{Hmac, Mac};
    let key = vault.derive_subkey("consent-principal");
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key[..]).expect("any key length");
    mac.update(vault.vault_id().as_bytes());
    format!("trove:{}", &hex::encode(mac.finalize().into_bytes())[..32])
}

fn termination(g: &Grant) -> String {
    let mut parts = Vec::new();
    if let Some(e) = &g.expires_at {
        parts.push(format!("expires at {e}"));
    }
    if let Some(m) = g.max_uses {
        let uses = if m == 1 { "use" } else { "uses" };
        parts.push(format!("ends after {m} {uses}"));
    }
    parts.push("ends when revoked by the person or given up by the organization".into());
    parts.join("; ")
}

/// Builds the receipt for `event` on grant `g`.
pub fn build(vault: &Vault, g: &Grant, event: ReceiptEvent, at: DateTime<Utc>) -> Value {
    let types = g.scope.types();
    let spi: Vec<&str> = types
        .iter()
        .map(String::as_str)
        .filter(|t| SENSITIVE_TYPES.contains(t))
        .collect();
    json!({
        "version": "KI-CR-v1.1.0",
        "jurisdiction": "EU",
        "consentTimestamp": at.timestamp(),
        "collectionMethod": "Trove grant (scoped share token issued by the person)",
        "consentReceiptID": crate::model::record::new_id(),
        "language": "en",
        "piiPrincipalId": principal_id(vault),
        "piiControllers": [{ "piiController": g.org, "onBehalf": false }],
        "services": [{
            "service": "Trove share API",
            "purposes": [{
                "purpose": g.purpose,
                "purposeCategory": ["as stated by the person"],
                "consentType": "EXPLICIT",
                "piiCategory": g.scope.items.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "primaryPurpose": true,
                "termination": termination(g),
                "thirdPartyDisclosure": false,
            }],
        }],
        "sensitive": !spi.is_empty(),
        "spiCat": spi,
        "trove": {
            "event": event.as_str(),
            "grantId": g.id,
            "onlyTag": g.scope.only_tag,
            "records": g.scope.records,
            "expiresAt": g.expires_at,
            "maxUses": g.max_uses,
            "status": if event == ReceiptEvent::Revoked { GrantStatus::Revoked } else { g.status },
        },
    })
}

/// Stores a receipt inside `tx` (the grant change's transaction).
pub(crate) fn store(
    vault: &Vault,
    tx: &Transaction<'_>,
    g: &Grant,
    event: ReceiptEvent,
    at: DateTime<Utc>,
) -> Result<()> {
    let r = build(vault, g, event, at);
    tx.prepare_cached(
        "INSERT INTO consent_receipts (id, grant_id, event, created_at, receipt) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        r["consentReceiptID"].as_str().unwrap_or_default(),
        g.id,
        event.as_str(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        r.to_string()
    ])?;
    Ok(())
}

impl Vault {
    /// A grant's consent receipts, oldest first, as JSON (Kantara CR v1.1 shape).
    pub fn grant_receipts(&self, grant_id: &str) -> Result<Vec<Value>> {
        self.get_grant(grant_id)?;
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT receipt FROM consent_receipts WHERE grant_id = ?1 ORDER BY rowid",
            )?;
            let rows = stmt.query_map([grant_id], |r| r.get::<_, String>(0))?;
            rows.map(|r| Ok(serde_json::from_str(&r?).unwrap_or(Value::Null)))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::grant::NewGrant;
    use crate::vault::tests::new_vault;

    #[test]
    fn a_single_use_reads_as_one_use() {
        let (_d, v) = new_vault();
        let (g, _t) = v
            .create_grant(&NewGrant {
                org: "Northwind".into(),
                purpose: "payroll".into(),
                scope: vec!["bank_account".into()],
                max_uses: Some(1),
                ..Default::default()
            })
            .unwrap();
        let r = v.grant_receipts(&g.id).unwrap();
        let term = r[0]["services"][0]["purposes"][0]["termination"]
            .as_str()
            .unwrap();
        assert!(term.starts_with("ends after 1 use;"), "{term}");
    }

    #[test]
    fn receipts_on_create_and_revoke() {
        let (_d, v) = new_vault();
        let (g, _t) = v
            .create_grant(&NewGrant {
                org: "Clinic Nord".into(),
                purpose: "treatment".into(),
                scope: vec!["health".into(), "identity.family_name".into()],
                max_uses: Some(3),
                expires: Some("7d".into()),
                ..Default::default()
            })
            .unwrap();
        let r = v.grant_receipts(&g.id).unwrap();
        assert_eq!(r.len(), 1);
        let c = &r[0];
        assert_eq!(c["version"], "KI-CR-v1.1.0");
        assert_eq!(c["piiControllers"][0]["piiController"], "Clinic Nord");
        assert_eq!(c["services"][0]["purposes"][0]["purpose"], "treatment");
        assert_eq!(
            c["services"][0]["purposes"][0]["piiCategory"],
            serde_json::json!(["health", "identity.family_name"])
        );
        assert_eq!(c["sensitive"], true);
        let term = c["services"][0]["purposes"][0]["termination"]
            .as_str()
            .unwrap();
        assert!(
            term.contains("3 uses") && term.contains("expires at"),
            "{term}"
        );
        assert!(c["piiPrincipalId"].as_str().unwrap().starts_with("trove:"));
        assert!(
            !c.to_string().contains(v.vault_id()),
            "principal is pseudonymous"
        );
        v.revoke_grant(&g.id).unwrap();
        let r = v.grant_receipts(&g.id).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1]["trove"]["event"], "grant_revoked");
        assert_eq!(r[0]["piiPrincipalId"], r[1]["piiPrincipalId"]);
        assert!(v.grant_receipts("nope").is_err());
    }
}
