//! What to do next, worded for the command line: the commands and flags a CLI user
//! types. trove-core's own hint names no front end; it is the fallback here.

use trove_core::Error;

/// The next step for `e`, naming the CLI's commands and flags where that helps.
pub fn hint(e: &Error) -> Option<String> {
    if let Error::CsvColumns {
        record_type: None,
        suggested,
        ..
    } = e
    {
        let mut h = String::from(
            "map them with --map COLUMN=field (person fields), or name the record type of \
             the rows with --type T",
        );
        if !suggested.is_empty() {
            h.push_str("; some columns look like known ones with other names, if they are: ");
            let maps: Vec<String> = suggested
                .iter()
                .map(|(c, f)| format!("--map \"{c}={f}\""))
                .collect();
            h.push_str(&maps.join(" "));
        }
        return Some(h);
    }
    cli_hint(e).map(Into::into).or_else(|| e.hint())
}

fn cli_hint(e: &Error) -> Option<&'static str> {
    Some(match e {
        Error::WrongPassphrase => {
            "check the passphrase and try again; if it is lost, run `trove recover` with \
             the recovery key shown at `trove init`"
        }
        Error::WrongRecoveryKey => {
            "the recovery key starts with AGE-SECRET-KEY-1; paste it exactly as shown at \
             `trove init`"
        }
        Error::NoPassphrase => {
            "pass --passphrase-file FILE or set TROVE_PASSPHRASE, or run in a terminal to be asked"
        }
        Error::EmptyPassphrase => "choose a non-empty passphrase",
        Error::WeakPassphrase(_) => {
            "four or more unrelated words are easy to remember and hard to guess; to keep \
             this one anyway, repeat the command with --allow-weak-passphrase"
        }
        Error::NoVault(_) => {
            "create one with `trove init` (or `trove demo`), or point --vault / TROVE_VAULT \
             at an existing vault"
        }
        Error::VaultExists(_) => "use that vault, or choose another directory with --vault",
        Error::FileExists(_) => {
            "choose another file name, or add --force to replace it; nothing was written"
        }
        Error::NotFound(_) => "list records with `trove list`",
        Error::InvalidField { .. } => {
            "fix the value and try again; `trove types` lists each type's fields and formats"
        }
        Error::UnknownType { .. } | Error::UnknownField { .. } => {
            "see `trove types` for the record types and their fields"
        }
        Error::NotRemembered => "run `trove remember` to keep the key on this device",
        Error::GrantNotFound(_) => "list grants with `trove grant list`",
        Error::GrantRevoked | Error::GrantExpired | Error::GrantExhausted => {
            "ask the person for a new grant (`trove grant create`)"
        }
        Error::InsufficientScope(_) => {
            "the grant's scope is shown by `trove grant show ID`; create a grant with a wider scope"
        }
        Error::LogWriteFailed(_) => {
            "check free disk space and `trove log verify`; the request can be retried"
        }
        Error::RolledBack(_) => {
            "an older copy of the vault may have been put back (grants revoked since could be \
             active again); restore the newer copy, or if you restored a backup on purpose, \
             accept it with `trove log accept-restore` (or the app's prompt)"
        }
        Error::BundleWrongPassphrase => {
            "check the export passphrase (TROVE_EXPORT_PASSPHRASE or the prompt); nothing was \
             imported"
        }
        Error::BundleWrongIdentity => {
            "pass the age identity file whose public key the bundle was exported to \
             (--identity FILE); nothing was imported"
        }
        Error::BundleNeedsPassphrase => {
            "drop --identity and give the export passphrase (TROVE_EXPORT_PASSPHRASE or the \
             prompt)"
        }
        Error::BundleNeedsIdentity => "pass the age identity file with --identity FILE",
        Error::BundleFormat(_) => {
            "pass a .trove file written by `trove export`, or choose another --format (vcard, \
             csv, json)"
        }
        Error::BundleMember(_) | Error::BundleTooLarge(_) => {
            "this file was not written by `trove export` or was tampered with; nothing was \
             imported"
        }
        Error::BadLine { .. } | Error::ImportMalformed { .. } => {
            "fix the named lines and import again (use --dry-run to see every problem); \
             nothing was imported"
        }
        Error::CsvColumns { .. } => "name them with --map COLUMN=field",
        Error::StorageNotFound(_) => "list storage targets with `trove storage list`",
        Error::StorageExists(_) => {
            "choose another name, or remove the old target with `trove storage rm NAME`"
        }
        Error::StorageInUse { .. } => {
            "revoke those grants first (`trove grant revoke ID`): their staged copies are \
             deleted, then the target can be removed"
        }
        Error::NoStorage => {
            "add your S3-compatible storage with `trove storage add NAME --endpoint URL \
             --bucket B --access-key-id ID`"
        }
        Error::StorageAmbiguous(_) => "pass --storage NAME",
        Error::OfflineNotAllowed(_) => {
            "drop --offline to share live only, or change the grant (no --max-uses; a scope \
             that matches records)"
        }
        Error::Storage {
            failure: trove_core::StorageFailure::Unexpected,
            ..
        } => "try again later; `trove storage test NAME` checks the target",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::hint;
    use trove_core::Error;

    fn of(e: &Error) -> String {
        hint(e).unwrap_or_else(|| panic!("{} has no CLI hint", e.code()))
    }

    #[test]
    fn cli_hints_name_the_flag_or_command_to_use() {
        assert!(of(&Error::NoPassphrase).contains("--passphrase-file FILE"));
        assert!(of(&Error::BundleNeedsIdentity).contains("--identity FILE"));
        assert!(of(&Error::BundleNeedsPassphrase).starts_with("drop --identity"));
        assert!(of(&Error::WrongPassphrase).contains("`trove recover`"));
        assert!(of(&Error::GrantNotFound("g".into())).contains("`trove grant list`"));
        assert!(
            of(&Error::StorageAmbiguous(vec!["a".into(), "b".into()])).contains("--storage NAME")
        );
        assert!(of(&Error::OfflineNotAllowed("x".into())).contains("--max-uses"));
        assert!(of(&Error::BundleFormat("x".into())).contains("--format"));
        assert!(of(&Error::NoVault("/x".into())).contains("--vault"));
        let csv = Error::CsvColumns {
            columns: vec!["XFirst Name".into(), "XTitle".into()],
            record_type: None,
            fields: Vec::new(),
            suggested: vec![
                ("XFirst Name".into(), "given_name".into()),
                ("XTitle".into(), "prefix".into()),
            ],
        };
        assert!(
            of(&csv)
                .ends_with("if they are: --map \"XFirst Name=given_name\" --map \"XTitle=prefix\""),
            "{}",
            of(&csv)
        );
        let unexpected = Error::Storage {
            failure: trove_core::StorageFailure::Unexpected,
            message: "storage nas answered 500".into(),
        };
        assert!(of(&unexpected).contains("`trove storage test NAME`"));
    }

    #[test]
    fn neutral_advice_comes_from_the_core() {
        let e = Error::io("can't write x", std::io::ErrorKind::StorageFull.into());
        assert_eq!(hint(&e), e.hint());
        assert_eq!(hint(&Error::Busy), Error::Busy.hint());
    }
}
