//! What to do next, worded for the app: its screens, buttons and fields, never a CLI
//! command or flag. trove-core's own hint names no front end; it is the fallback here.

use trove_core::{Error, StorageFailure};

/// The next step for `e`, naming the app's screens and controls where that helps.
pub fn hint(e: &Error) -> Option<String> {
    app_hint(e).map(Into::into).or_else(|| e.hint())
}

fn app_hint(e: &Error) -> Option<&'static str> {
    Some(match e {
        Error::WrongPassphrase => {
            "check the passphrase and try again; if it is lost, choose “Use your recovery key” \
             on the unlock screen"
        }
        Error::NoPassphrase | Error::EmptyPassphrase => "type a passphrase",
        Error::WeakPassphrase(_) => {
            "four or more unrelated words are easy to remember and hard to guess; to keep this \
             one anyway, tick “Use it anyway”"
        }
        Error::FileExists(_) => {
            "choose another name, or confirm that it should be replaced; nothing was written"
        }
        Error::NotFound(_) => {
            "it may have been deleted: the Trash (under Records) keeps deleted records"
        }
        Error::NotRemembered => {
            "unlock with your passphrase and tick “Remember this device” to keep the key on \
             this computer again"
        }
        Error::GrantNotFound(_) => "it may have been deleted; the Sharing screen lists your grants",
        Error::InsufficientScope(_) => {
            "the Sharing screen shows each grant's scope; create a grant with a wider scope"
        }
        Error::LogWriteFailed(_) => {
            "check free disk space, then “Verify integrity” on the Access log screen; the \
             request can be retried"
        }
        Error::RolledBack(_) => {
            "an older copy of the vault may have been put back (grants revoked since could be \
             active again); restore the newer copy, or, if you restored a backup on purpose, \
             choose “I restored this backup on purpose”"
        }
        Error::BundleWrongPassphrase => {
            "check the bundle passphrase on the Import tab; nothing was imported"
        }
        Error::BundleWrongIdentity => {
            "choose the age identity file (AGE-SECRET-KEY-1…) whose public key the bundle was \
             exported to; nothing was imported"
        }
        Error::BundleNeedsPassphrase => {
            "this bundle needs its passphrase, not an age identity file: type the bundle \
             passphrase"
        }
        Error::BundleNeedsIdentity => {
            "choose the age identity file (AGE-SECRET-KEY-1…) whose public key the bundle was \
             exported to"
        }
        Error::BundleFormat(_) => {
            "choose a .trove bundle Trove exported, or pick the file's format under Format on \
             the Import tab"
        }
        Error::BadLine { .. } | Error::ImportMalformed { .. } => {
            "fix the named lines and import again (Preview lists every problem); nothing was \
             imported"
        }
        Error::CsvColumns {
            record_type: Some(_),
            ..
        } => "name the file's columns after the record type's fields",
        Error::CsvColumns { .. } => {
            "choose the record type of the rows on the Import tab, or name the columns after \
             person fields (full_name, emails, phones, ...)"
        }
        Error::StorageNotFound(_) => "Settings → Storage lists your storage targets",
        Error::StorageExists(_) => {
            "choose another name, or remove the old target under Settings → Storage"
        }
        Error::StorageInUse { .. } => {
            "revoke those grants first on the Sharing screen: their staged copies are deleted, \
             then the target can be removed"
        }
        Error::NoStorage => "add your S3-compatible storage under Settings → Storage",
        Error::StorageAmbiguous(_) => {
            "choose the storage under “Available while this computer is off”"
        }
        Error::OfflineNotAllowed(_) => {
            "untick “Available while this computer is off” to share live only, or change the \
             grant (no use limit; a scope that matches records)"
        }
        Error::Storage {
            failure: StorageFailure::Unexpected,
            ..
        } => "try again later; “Test connection” under Settings → Storage checks the target",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::dto::ApiError;
    use trove_core::Error;

    fn names_cli(t: &str) -> bool {
        t.contains("`trove ") || t.contains(" --") || t.contains("(--") || t.starts_with("--")
    }

    fn assert_app_worded(api: &ApiError) {
        for t in std::iter::once(&api.message).chain(api.hint.as_ref()) {
            assert!(
                !names_cli(t),
                "{}: the app shows a CLI command or flag: {t}",
                api.code.as_str()
            );
        }
    }

    #[test]
    fn no_error_the_app_shows_names_a_cli_command_or_flag() {
        for e in Error::examples() {
            assert_app_worded(&ApiError::from(e));
        }
        let addr = "0.0.0.0:7878".parse().unwrap();
        assert_app_worded(&ApiError::from(trove_share::ServeError::TlsRequired(addr)));
        assert_app_worded(&ApiError::from(trove_share::RemoteError::Relay(
            "ftp://x".into(),
        )));
    }

    #[test]
    fn the_app_names_its_own_screens_where_the_cli_names_a_flag() {
        let hint = |e: Error| ApiError::from(e).hint.expect("a hint");
        assert!(hint(Error::BundleNeedsIdentity).contains("age identity file"));
        assert!(hint(Error::NoStorage).contains("Settings → Storage"));
        assert!(hint(Error::OfflineNotAllowed("x".into()))
            .contains("“Available while this computer is off”"));
        assert!(hint(Error::WrongPassphrase).contains("“Use your recovery key”"));
        assert!(hint(Error::RolledBack("x".into())).contains("“I restored this backup on purpose”"));
        // Advice that fits every front end comes from the core unchanged.
        assert_eq!(Some(hint(Error::Busy)), Error::Busy.hint());
    }

    #[test]
    fn api_error_codes_serialize_as_the_strings_the_ui_switches_on() {
        let json = |e: ApiError| serde_json::to_value(&e).unwrap()["code"].clone();
        assert_eq!(json(ApiError::from(Error::Locked)), "locked");
        let addr = "0.0.0.0:7878".parse().unwrap();
        let tls = ApiError::from(trove_share::ServeError::TlsRequired(addr));
        assert_eq!(tls.code.as_str(), "tls_required");
        assert_eq!(json(tls), "tls_required");
        for code in crate::dto::AppErrorCode::ALL {
            let e = ApiError::shell(*code, "m".into(), None, None);
            assert_eq!(json(e.clone()), e.code.as_str());
        }
    }
}
