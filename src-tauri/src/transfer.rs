//! Export and import for the app: the same trove_core::bundle and ::importers calls as
//! `trove export` / `trove import`, with the screen's choices turned into their options.
//!
//! These functions take a vault handle of their own (`Vault::try_clone`), so a long export
//! or import does not hold the app's vault lock and the other screens stay usable.

use std::path::PathBuf;

use trove_core::bundle::{self, Encryption, ExportOptions, Phase, Progress, Protection};
use trove_core::importers::{self, BundleSecret, Format};
use trove_core::{Error, Passphrase, Scope, Vault};

use crate::dto::{
    ApiError, AppErrorCode, ExportRequestDto, ExportSummaryDto, ImportFileDto, ImportReportDto,
    ImportRequestDto, LineProblemDto, LineProblemKind,
};

type Res<T> = Result<T, ApiError>;

/// Turns what was typed into the path field into an absolute path (`~/` is the home dir).
pub fn resolve_path(typed: &str) -> Res<PathBuf> {
    let typed = typed.trim();
    let bad = |m: &str| ApiError::shell(AppErrorCode::InvalidPath, m.into(), None, Some("path"));
    if typed.is_empty() {
        return Err(bad("Choose a file, or type its full path."));
    }
    let path = match typed.strip_prefix("~/") {
        Some(rest) => dirs::home_dir()
            .ok_or_else(|| bad("There is no home directory to expand ~ in."))?
            .join(rest),
        None => PathBuf::from(typed),
    };
    if !path.is_absolute() {
        return Err(bad(
            "Type the full path, starting with / (or ~/ for your home).",
        ));
    }
    Ok(path)
}

/// Sends progress to the UI at most about once per percent (and on every phase change).
pub struct Throttle<F: FnMut(Progress)> {
    send: F,
    last: Option<(Phase, u64)>,
}

impl<F: FnMut(Progress)> Throttle<F> {
    /// Progress reports go to `send`.
    pub fn new(send: F) -> Self {
        Throttle { send, last: None }
    }

    /// Reports `p` when it is worth a repaint.
    pub fn report(&mut self, p: Progress) {
        // Percent of a known total; otherwise steps of 1,000 units.
        let step = match p.total {
            Some(t) if t > 0 => p.done.min(t) * 100 / t,
            _ => p.done / 1000,
        };
        if self.last != Some((p.phase, step)) {
            self.last = Some((p.phase, step));
            (self.send)(p);
        }
    }
}

/// Writes a bundle as the export screen asked. `passphrase` is needed for
/// [`Protection::Passphrase`] only.
pub fn export(
    vault: &Vault,
    req: &ExportRequestDto,
    passphrase: Option<&Passphrase>,
    progress: &mut dyn FnMut(Progress),
) -> Res<ExportSummaryDto> {
    let path = resolve_path(&req.path)?;
    let scope = if req.scope.is_empty() {
        None
    } else {
        let tag = req
            .only_tag
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        Some(Scope::parse(&req.scope, tag).map_err(|e| ApiError::from(e).at("scope"))?)
    };
    let encryption = match req.protection {
        Protection::Plain => Encryption::Plain,
        Protection::Passphrase => match passphrase {
            Some(p) if !p.is_empty() => Encryption::Passphrase(p),
            _ => return Err(ApiError::from(Error::EmptyPassphrase).at("passphrase")),
        },
        Protection::Recipients => {
            let listed: Vec<&String> = req
                .recipients
                .iter()
                .filter(|r| !r.trim().is_empty())
                .collect();
            if listed.is_empty() {
                return Err(
                    ApiError::from(Error::InvalidInput("no age recipient given".into()))
                        .at("recipients"),
                );
            }
            let parsed = listed
                .into_iter()
                .map(|r| bundle::parse_recipient(r))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::from(e).at("recipients"))?;
            Encryption::Recipients(parsed)
        }
    };
    let opts = ExportOptions {
        encryption,
        scope,
        replace: req.overwrite,
    };
    let summary =
        bundle::export(vault, &path, &opts, progress).map_err(|e| ApiError::from(e).at("path"))?;
    Ok(ExportSummaryDto {
        path: path.display().to_string(),
        summary,
    })
}

/// What a file to import is: its format and, for a bundle, what opens it.
pub fn inspect(typed: &str) -> Res<ImportFileDto> {
    let path = resolve_path(typed)?;
    let info = importers::open(&path, None).map_err(|e| ApiError::from(e).at("path"))?;
    Ok(ImportFileDto {
        bytes: info.bytes,
        path: path.display().to_string(),
        format: info.format,
        bundle_kind: info.bundle_kind.map(|k| k.protection()),
    })
}

/// Imports (or, with `dry_run`, previews) a file as the import screen asked: the same
/// `importers::import_file` as `trove import`. A refused vCard/CSV/JSON file comes back
/// as a report with `refused` and its problems.
pub fn import(
    vault: &Vault,
    req: &ImportRequestDto,
    passphrase: Option<&Passphrase>,
    progress: &mut dyn FnMut(Progress),
) -> Res<ImportReportDto> {
    let path = resolve_path(&req.path)?;
    let format = req.format;
    let identity = match req
        .identity_path
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    {
        Some(id) => Some(resolve_path(id).map_err(|e| ApiError {
            field: Some("identity".into()),
            ..e
        })?),
        None => None,
    };
    let secret = match (&identity, passphrase) {
        (Some(id), _) => BundleSecret::IdentityFile(id),
        (None, Some(p)) => BundleSecret::Passphrase(p),
        (None, None) => BundleSecret::None,
    };
    let opts = importers::Options {
        format,
        record_type: req.record_type.clone().filter(|t| !t.trim().is_empty()),
        map: importers::parse_map(&req.map).map_err(|e| ApiError::from(e).at("map"))?,
        as_me: req.as_me,
        strict: req.strict,
        dry_run: req.dry_run,
        secret,
    };
    match importers::import_file(vault, &path, &opts, progress) {
        Ok(r) => Ok(ImportReportDto::new(&path, r)),
        Err(Error::ImportMalformed { problems, .. }) => {
            let mut r = ImportReportDto::new(
                &path,
                importers::Report {
                    merge: bundle::ImportReport {
                        format: format.unwrap_or(Format::Csv).name().into(),
                        dry_run: req.dry_run,
                        ..Default::default()
                    },
                    refused: true,
                    ..Default::default()
                },
            );
            r.problems_total = problems.len() as u64;
            r.problems = problems
                .into_iter()
                .map(|(line, reason)| LineProblemDto {
                    line,
                    property: None,
                    kind: LineProblemKind::Refused,
                    reason,
                    kept_in_notes: false,
                })
                .collect();
            Ok(r)
        }
        Err(e) => {
            let field = match e {
                Error::UnknownType { .. } => Some("record_type"),
                Error::BundleWrongPassphrase
                | Error::BundleWorkFactor { .. }
                | Error::BundleNeedsPassphrase => Some("passphrase"),
                Error::BundleWrongIdentity | Error::BundleNeedsIdentity => Some("identity"),
                Error::Io { .. } => Some("path"),
                _ => None,
            };
            let api = ApiError::from(e);
            Err(match field {
                Some(f) => api.at(f),
                None => api,
            })
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_paths_are_absolute_or_start_at_home() {
        assert_eq!(
            resolve_path(" /tmp/a.trove ").unwrap(),
            PathBuf::from("/tmp/a.trove")
        );
        if let Some(home) = dirs::home_dir() {
            assert_eq!(resolve_path("~/b.trove").unwrap(), home.join("b.trove"));
        }
        for bad in ["", "  ", "b.trove", "./b.trove", "~b.trove"] {
            let e = resolve_path(bad).unwrap_err();
            assert_eq!(
                (e.code.as_str(), e.field.as_deref()),
                ("invalid_path", Some("path")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn inspect_names_the_format_and_a_missing_file() {
        let t = tempfile::tempdir().unwrap();
        let csv = t.path().join("rows.txt");
        std::fs::write(&csv, "title,body\nhi,there\n").unwrap();
        let f = inspect(&csv.display().to_string()).unwrap();
        assert_eq!((f.format, f.bundle_kind, f.bytes), (Format::Csv, None, 20));
        let json = t.path().join("r.json");
        std::fs::write(&json, "[]").unwrap();
        assert_eq!(
            inspect(&json.display().to_string()).unwrap().format,
            Format::Json
        );
        let e = inspect(&t.path().join("nope.vcf").display().to_string()).unwrap_err();
        assert_eq!((e.code.as_str(), e.field.as_deref()), ("io", Some("path")));
    }
}
