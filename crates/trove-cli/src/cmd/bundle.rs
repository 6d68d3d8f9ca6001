//! Bundle commands: `trove export` and `trove import` (bundles, vCard, CSV, JSON). Thin:
//! arguments and secrets here, everything else in trove_core::bundle and ::importers.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use trove_core::bundle::{
    self, BundleKey, BundleKind, Encryption, ExportOptions, ImportOptions, Progress,
};
use trove_core::grant::Scope;
use trove_core::importers::{self, Format};
use trove_core::{Error, Passphrase, Result};

use crate::ctx::{self, Ctx};
use crate::{outln, output};

/// The environment variable holding a bundle's passphrase.
const EXPORT_PASSPHRASE: &str = "TROVE_EXPORT_PASSPHRASE";

#[derive(Args)]
pub struct ExportArgs {
    /// The bundle to write (e.g. trove-2026-11-23.trove); written atomically
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Encrypt to this age recipient (age1…) instead of a passphrase (repeatable)
    #[arg(long = "to", value_name = "RECIPIENT", conflicts_with = "plain")]
    to: Vec<String>,
    /// Write the bare tar, unencrypted (only on explicit request)
    #[arg(long)]
    plain: bool,
    /// Only this TYPE or TYPE.FIELD, fields projected; no grants or log (repeatable)
    #[arg(long = "scope", value_name = "S")]
    scope: Vec<String>,
    /// With --scope: only records carrying this tag (the bundle keeps just that tag)
    #[arg(long = "only-tag", value_name = "TAG", requires = "scope")]
    only_tag: Option<String>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// A .trove bundle, a .vcf, a .csv or a .json file
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The file's format
    #[arg(
        long,
        value_name = "auto|bundle|vcard|csv|json",
        default_value = "auto"
    )]
    format: String,
    /// The record type of a CSV file's rows (its columns are that type's fields)
    #[arg(long = "type", value_name = "T")]
    record_type: Option<String>,
    /// An age identity file for a bundle encrypted to a recipient
    #[arg(long, value_name = "AGE_KEY_FILE")]
    identity: Option<PathBuf>,
    /// Read and check everything, report what would change, write nothing
    #[arg(long)]
    dry_run: bool,
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
fn progress_bar(len: Option<u64>) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(indicatif::ProgressBar::new(len.unwrap_or(0)))
}

/// The bar's look for a count of bytes or of records.
fn bar_style(bytes: bool) -> Option<indicatif::ProgressStyle> {
    let template = if bytes {
        "{msg:>9} [{bar:30}] {bytes}/{total_bytes} ({eta})"
    } else {
        "{msg:>9} [{bar:30}] {pos}/{len} records ({eta})"
    };
    indicatif::ProgressStyle::with_template(template)
        .ok()
        .map(|s| s.progress_chars("=> "))
}

/// Moves the bar; its units follow the phase (an export counts records, then bytes).
fn on_progress(pb: &Option<indicatif::ProgressBar>) -> impl FnMut(Progress) + '_ {
    let mut phase = "";
    move |p: Progress| {
        if let Some(pb) = pb {
            if p.phase != phase {
                phase = p.phase;
                if let Some(style) = bar_style(p.in_bytes()) {
                    pb.set_style(style);
                }
                pb.set_message(p.phase);
                pb.reset_eta();
            }
            if let Some(t) = p.total {
                pb.set_length(t);
            }
            pb.set_position(p.done);
        }
    }
}

pub fn export(ctx: &Ctx, a: ExportArgs) -> Result<()> {
    let scope = if a.scope.is_empty() {
        None
    } else {
        Some(Scope::parse(&a.scope, a.only_tag.as_deref())?)
    };
    let recipients =
        a.to.iter()
            .map(|r| bundle::parse_recipient(r))
            .collect::<Result<Vec<_>>>()?;
    let vault = ctx.unlock()?;
    let pass: Passphrase;
    let encryption = if a.plain {
        Encryption::Plain
    } else if !recipients.is_empty() {
        Encryption::Recipients(recipients)
    } else {
        pass = ctx::env_or_prompt_new(EXPORT_PASSPHRASE, "Bundle passphrase: ")?;
        Encryption::Passphrase(&pass)
    };
    let opts = ExportOptions { encryption, scope };
    let pb = progress_bar(None);
    let summary = bundle::export(&vault, &a.file, &opts, &mut on_progress(&pb))?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    if ctx.json {
        let mut v = serde_json::to_value(&summary).expect("summary serializes");
        v["file"] = json!(a.file);
        output::json(&v);
    } else {
        outln!(
            "exported {} records to {} ({}, {} bytes)",
            summary.records,
            a.file.display(),
            summary.encryption,
            summary.bytes
        );
        if a.plain {
            eprintln!(
                "note: {} is not encrypted; anyone who gets it can read it",
                a.file.display()
            );
        }
    }
    Ok(())
}

pub fn import(ctx: &Ctx, a: ImportArgs) -> Result<()> {
    let read_err = |e| Error::io(format!("can't read {}", a.file.display()), e);
    let mut head = Vec::new();
    {
        use std::io::Read;
        std::fs::File::open(&a.file)
            .map_err(read_err)?
            .take(512)
            .read_to_end(&mut head)
            .map_err(read_err)?;
    }
    let format = match Format::parse(&a.format)? {
        Some(f) => f,
        None => Format::detect(&a.file, &head),
    };
    let file_name = a.file.display().to_string();
    let report = if format == Format::Bundle {
        let open = || std::fs::File::open(&a.file).map_err(read_err);
        let kind = bundle::inspect(open()?)?;
        let identities;
        let pass;
        let key = match (&kind, &a.identity) {
            (BundleKind::Plain, _) => BundleKey::None,
            (BundleKind::Recipients, Some(path)) => {
                identities = bundle::read_identity_file(path)?;
                BundleKey::Identities(&identities)
            }
            (BundleKind::Recipients, None) => return Err(Error::BundleNeedsIdentity),
            (BundleKind::Passphrase { .. }, Some(_)) => return Err(Error::BundleNeedsPassphrase),
            (BundleKind::Passphrase { .. }, None) => {
                pass = match std::env::var(EXPORT_PASSPHRASE) {
                    Ok(p) => Passphrase::new(p),
                    Err(_) => ctx::prompt("Bundle passphrase: ")?,
                };
                BundleKey::Passphrase(&pass)
            }
        };
        let vault = ctx.unlock()?;
        let size = std::fs::metadata(&a.file).map(|m| m.len()).ok();
        let opts = ImportOptions {
            dry_run: a.dry_run,
            input_bytes: size,
            ..Default::default()
        };
        let pb = progress_bar(size);
        let input = std::io::BufReader::with_capacity(256 << 10, open()?);
        let r = bundle::import_bundle(&vault, input, key, &opts, &mut on_progress(&pb));
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let r = r?;
        crate::ctx::sync_staging(&vault);
        r
    } else {
        let bytes =
            importers::read_capped(std::fs::File::open(&a.file).map_err(read_err)?, &file_name)?;
        let vault = ctx.unlock()?;
        match importers::import_file(
            &vault,
            format,
            &bytes,
            a.record_type.as_deref(),
            &file_name,
            a.dry_run,
        ) {
            Ok(r) => {
                crate::ctx::sync_staging(&vault);
                r
            }
            Err(Error::ImportMalformed { file, problems }) => {
                // Every problem, not just the first few in the error message.
                if ctx.json {
                    let list: Vec<_> = problems
                        .iter()
                        .map(|(l, r)| json!({"line": l, "reason": r}))
                        .collect();
                    output::json(&json!({ "file": file, "problems": list }));
                } else {
                    for (l, r) in &problems {
                        eprintln!("{}:{l}: {}", output::safe(&file), output::safe(r));
                    }
                }
                return Err(Error::ImportMalformed { file, problems });
            }
            Err(e) => return Err(e),
        }
    };
    if ctx.json {
        output::json(&report);
    } else {
        let verb = if report.dry_run {
            "would import"
        } else {
            "imported"
        };
        outln!(
            "{verb} {} records from {} ({}): {} new, {} updated, {} unchanged",
            report.records,
            output::safe(&file_name),
            report.format,
            report.new,
            report.updated,
            report.unchanged
        );
        print_changes(&report);
        for w in &report.warnings {
            eprintln!("warning: {}", w.message);
        }
        if let Some(k) = &report.kept_in_bundle {
            if k.grants + k.receipts + k.log > 0 {
                eprintln!(
                    "note: the bundle's {} grants, {} receipts and {} log entries were verified and stay in the bundle",
                    k.grants, k.receipts, k.log
                );
            }
        }
    }
    Ok(())
}

/// A dry run's field-level changes, one block per updated record.
fn print_changes(report: &bundle::ImportReport) {
    let show = |v: &Option<String>| match v {
        Some(v) => format!("\"{}\"", output::safe(v)),
        None => "(none)".into(),
    };
    for c in &report.changes {
        outln!(
            "  ~ {} ({})",
            output::safe(&c.id),
            output::safe(&c.record_type)
        );
        for f in c.fields.iter().chain(&c.properties) {
            outln!(
                "      {}: {} -> {}",
                output::safe(&f.name),
                show(&f.before),
                show(&f.after)
            );
        }
        for t in &c.tags_added {
            outln!("      tag added: {}", output::safe(t));
        }
        for t in &c.tags_removed {
            outln!("      tag removed: {}", output::safe(t));
        }
    }
    if report.changes_not_shown > 0 {
        outln!(
            "  … and {} more updated records (not detailed)",
            report.changes_not_shown
        );
    }
}
