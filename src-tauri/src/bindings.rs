//! TypeScript types of the IPC payloads, generated with ts-rs into `ui/src/bindings/`.
//! `UPDATE_BINDINGS=1 cargo test -p trove-desktop bindings` rewrites them; the test fails when they are stale.

use std::path::Path;

use ts_rs::{Config, ExportError, TS};

use crate::dto::{
    ApiError, Counts, CreatedGrant, CreatedVault, ExportRequestDto, ExportSummaryDto, GrantDto,
    ImportFileDto, ImportReportDto, ImportRequestDto, NewGrantDto, NewStorageDto, Receipts,
    RemoteSettingsDto, SharingStatus, UnlockOutcome, VaultStatus,
};

/// Writes every IPC type (and the types they use) as `<Name>.ts` into `dir`: the shell's
/// own (`crate::dto`) and the trove-core and trove-share types the commands send as they
/// are (their `ts` feature derives the TypeScript).
pub fn export(dir: &Path) -> Result<(), ExportError> {
    let cfg = Config::new().with_out_dir(dir).with_large_int("number");
    // The shell's own requests and answers.
    ApiError::export_all(&cfg)?;
    VaultStatus::export_all(&cfg)?;
    CreatedVault::export_all(&cfg)?;
    UnlockOutcome::export_all(&cfg)?;
    Counts::export_all(&cfg)?;
    SharingStatus::export_all(&cfg)?;
    GrantDto::export_all(&cfg)?;
    NewGrantDto::export_all(&cfg)?;
    CreatedGrant::export_all(&cfg)?;
    Receipts::export_all(&cfg)?;
    ExportRequestDto::export_all(&cfg)?;
    ExportSummaryDto::export_all(&cfg)?;
    ImportFileDto::export_all(&cfg)?;
    ImportRequestDto::export_all(&cfg)?;
    ImportReportDto::export_all(&cfg)?;
    RemoteSettingsDto::export_all(&cfg)?;
    NewStorageDto::export_all(&cfg)?;
    // The core's types, sent as they are.
    trove_core::Record::export_all(&cfg)?;
    trove_core::NewRecord::export_all(&cfg)?;
    trove_core::RecordChanges::export_all(&cfg)?;
    trove_core::RecordType::export_all(&cfg)?;
    trove_core::TrashedRecord::export_all(&cfg)?;
    trove_core::UndoReport::export_all(&cfg)?;
    trove_core::LogPage::export_all(&cfg)?;
    trove_core::OrgSummary::export_all(&cfg)?;
    trove_core::VerifyReport::export_all(&cfg)?;
    trove_core::StorageInfo::export_all(&cfg)?;
    trove_core::bundle::Progress::export_all(&cfg)?;
    trove_share::staging::TestReport::export_all(&cfg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn read_dir(dir: &std::path::Path) -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|x| x == "ts"))
                    .map(|p| {
                        let name = p.file_name().unwrap().to_string_lossy().into_owned();
                        (name, std::fs::read_to_string(&p).unwrap())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn committed_bindings_match_the_rust_types() {
        let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            for name in read_dir(&committed).keys() {
                std::fs::remove_file(committed.join(name)).unwrap();
            }
            super::export(&committed).unwrap();
        }
        let tmp = tempfile::tempdir().unwrap();
        super::export(tmp.path()).unwrap();
        let fresh = read_dir(tmp.path());
        assert!(
            fresh.contains_key("ApiError.ts"),
            "export wrote nothing: {fresh:?}"
        );
        assert_eq!(
            read_dir(&committed),
            fresh,
            "ui/src/bindings is stale: run `UPDATE_BINDINGS=1 cargo test -p trove-desktop bindings` and commit"
        );
    }
}
