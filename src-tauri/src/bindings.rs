//! TypeScript types of the IPC payloads, generated with ts-rs into `ui/src/bindings/`.
//! `UPDATE_BINDINGS=1 cargo test -p trove-desktop bindings` rewrites them; the test fails when they are stale.

use std::path::Path;

use ts_rs::{Config, ExportError, TS};

use crate::dto::{
    ApiError, Counts, CreatedGrant, CreatedVault, ExportRequestDto, ExportSummaryDto, GrantDto,
    ImportFileDto, ImportReportDto, ImportRequestDto, LogEntryDto, LogPageDto, NewGrantDto,
    NewRecordDto, NewStorageDto, OrgSummaryDto, ProgressDto, Receipts, RecordChangesDto, RecordDto,
    RecordTypeDto, RemoteSettingsDto, SharingStatus, StorageDto, StorageTestDto, TrashedRecordDto,
    UndoReportDto, UnlockOutcome, VaultStatus, VerifyReportDto,
};

/// Writes every IPC type (and the types they use) as `<Name>.ts` into `dir`.
pub fn export(dir: &Path) -> Result<(), ExportError> {
    let cfg = Config::new().with_out_dir(dir).with_large_int("number");
    ApiError::export_all(&cfg)?;
    VaultStatus::export_all(&cfg)?;
    CreatedVault::export_all(&cfg)?;
    UnlockOutcome::export_all(&cfg)?;
    RecordDto::export_all(&cfg)?;
    NewRecordDto::export_all(&cfg)?;
    RecordChangesDto::export_all(&cfg)?;
    RecordTypeDto::export_all(&cfg)?;
    Counts::export_all(&cfg)?;
    SharingStatus::export_all(&cfg)?;
    GrantDto::export_all(&cfg)?;
    NewGrantDto::export_all(&cfg)?;
    CreatedGrant::export_all(&cfg)?;
    Receipts::export_all(&cfg)?;
    LogEntryDto::export_all(&cfg)?;
    LogPageDto::export_all(&cfg)?;
    OrgSummaryDto::export_all(&cfg)?;
    VerifyReportDto::export_all(&cfg)?;
    ExportRequestDto::export_all(&cfg)?;
    ExportSummaryDto::export_all(&cfg)?;
    ProgressDto::export_all(&cfg)?;
    ImportFileDto::export_all(&cfg)?;
    ImportRequestDto::export_all(&cfg)?;
    ImportReportDto::export_all(&cfg)?;
    TrashedRecordDto::export_all(&cfg)?;
    UndoReportDto::export_all(&cfg)?;
    RemoteSettingsDto::export_all(&cfg)?;
    NewStorageDto::export_all(&cfg)?;
    StorageDto::export_all(&cfg)?;
    StorageTestDto::export_all(&cfg)?;
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
