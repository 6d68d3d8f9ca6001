//! Bundle commands: `trove export` and `trove import` (bundles, vCard, CSV, JSON). Thin:
//! arguments and secrets here, everything else in trove_core::bundle and ::importers.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use trove_core::bundle::{self, BundleKind, Encryption, ExportOptions, Progress};
use trove_core::importers::{self, BundleSecret, Format};
use trove_core::Scope;
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
    /// Replace FILE if it already exists (without it, an existing FILE is kept and
    /// nothing is written)
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ImportArgs {
    #[command(subcommand)]
    undo: Option<ImportCmd>,
    /// A .trove bundle, a .vcf (vCard 2.1-4.0), a .csv or a .json (records or jCard) file
    #[arg(value_name = "FILE", required = true)]
    file: Option<PathBuf>,
    /// The file's format
    #[arg(
        long,
        value_name = "auto|bundle|vcard|csv|json",
        default_value = "auto"
    )]
    format: String,
    /// CSV: the record type of the rows (its columns are that type's fields); vCard/JSON:
    /// only records of this type
    #[arg(long = "type", value_name = "T")]
    record_type: Option<String>,
    /// CSV: what a column holds, as a person field (or of --type T) (repeatable)
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    map: Vec<String>,
    /// The file is your own card: import it as your identity, contact and address
    /// records instead of a person you know
    #[arg(long)]
    as_me: bool,
    /// Refuse the whole file if any value or record cannot be kept
    #[arg(long)]
    strict: bool,
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
    let mut phase = None;
    move |p: Progress| {
        if let Some(pb) = pb {
            if phase != Some(p.phase) {
                phase = Some(p.phase);
                if let Some(style) = bar_style(p.in_bytes()) {
                    pb.set_style(style);
                }
                pb.set_message(p.phase.as_str());
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
    bundle::check_destination(&a.file, a.force)?;
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
    let opts = ExportOptions {
        encryption,
        scope,
        replace: a.force,
    };
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

#[derive(clap::Subcommand)]
pub enum ImportCmd {
    /// Take back one import: what it added goes to the trash, what it updated gets its
    /// earlier version back (records changed since are kept and named)
    Undo {
        /// The batch id the import printed (`"batch"` in `import --json`)
        #[arg(value_name = "BATCH")]
        batch: String,
    },
}

fn undo(ctx: &Ctx, batch: &str) -> Result<()> {
    let vault = ctx.unlock()?;
    let u = vault.undo_import(batch)?;
    crate::ctx::sync_staging(&vault);
    if ctx.json {
        output::json(&u);
        return Ok(());
    }
    outln!(
        "undid import {}: {} records moved to the trash, {} put back as they were before it",
        output::safe(&u.batch),
        u.removed.len(),
        u.restored.len()
    );
    for id in &u.kept_changed {
        outln!("kept {id}: changed since the import");
    }
    for id in &u.kept_no_earlier {
        outln!(
            "kept {id} as imported: its earlier version is no longer kept (erased with the trash or after {} days)",
            trove_core::TRASH_DAYS
        );
    }
    if !u.already_gone.is_empty() {
        outln!("{} records were already removed", u.already_gone.len());
    }
    if !u.removed.is_empty() {
        eprintln!("`trove trash list` shows them; `trove trash restore ID` brings one back.");
    }
    Ok(())
}

pub fn import(ctx: &Ctx, a: ImportArgs) -> Result<()> {
    if let Some(ImportCmd::Undo { batch }) = &a.undo {
        return undo(ctx, batch);
    }
    let Some(file) = a.file.clone() else {
        return Err(Error::InvalidInput(
            "name the file to import: trove import FILE".into(),
        ));
    };
    let file_path = file;
    let info = importers::open(&file_path, Format::parse(&a.format)?)?;
    let pass: Passphrase;
    let secret = match (&info.bundle_kind, &a.identity) {
        (_, Some(id)) => BundleSecret::IdentityFile(id),
        (Some(BundleKind::Passphrase { .. }), None) => {
            pass = match std::env::var(EXPORT_PASSPHRASE) {
                Ok(p) => Passphrase::new(p),
                Err(_) => ctx::prompt("Bundle passphrase: ")?,
            };
            BundleSecret::Passphrase(&pass)
        }
        _ => BundleSecret::None,
    };
    let opts = importers::Options {
        format: Some(info.format),
        record_type: a.record_type.clone(),
        map: importers::parse_map(&a.map)?,
        as_me: a.as_me,
        strict: a.strict,
        dry_run: a.dry_run,
        secret,
    };
    let vault = ctx.unlock()?;
    let pb = progress_bar(Some(info.bytes));
    let r = importers::import_file(&vault, &file_path, &opts, &mut on_progress(&pb));
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let report = match r {
        Ok(r) => {
            crate::ctx::sync_staging(&vault);
            r
        }
        Err(Error::ImportMalformed { file, problems }) => {
            // Every problem kept (at most 1,000), not just the first few in the message.
            if ctx.json {
                let list: Vec<_> = problems
                    .iter()
                    .map(|(l, r)| json!({"line": l, "reason": r}))
                    .collect();
                output::json(&json!({ "file": file, "refused": true, "problems": list }));
            } else {
                for (l, r) in &problems {
                    eprintln!("{}:{l}: {}", output::safe(&file), output::safe(r));
                }
            }
            return Err(Error::ImportMalformed { file, problems });
        }
        Err(e) => return Err(e),
    };
    if ctx.json {
        output::json(&report);
        return Ok(());
    }
    print_report(&report);
    Ok(())
}

/// The report as text: totals on stdout, every kept problem on stderr.
fn print_report(r: &importers::Report) {
    let m = &r.merge;
    let verb = if m.dry_run {
        "would import"
    } else {
        "imported"
    };
    outln!(
        "{verb} {} records from {} ({}): {} new, {} updated, {} unchanged",
        m.records,
        output::safe(&r.file),
        m.format,
        m.new,
        m.updated,
        m.unchanged
    );
    if r.skipped + r.values_not_kept > 0 || !r.unmapped.is_empty() {
        outln!(
            "{} skipped, {} values not kept, {} properties with no field",
            r.skipped,
            r.values_not_kept,
            r.unmapped.len()
        );
    }
    print_changes(m);
    if let Some(b) = &m.batch {
        outln!("batch {b} (undo with `trove import undo {b}`)");
    }
    for w in &m.warnings {
        eprintln!("warning: {}", w.message);
    }
    for c in &r.changes {
        if !c.kept_edited.is_empty() {
            eprintln!(
                "{}: kept your edits of {} (the file has other values)",
                c.id,
                c.kept_edited.join(", ")
            );
        }
    }
    for p in &r.problems {
        let what = match p.kind {
            importers::ProblemKind::Skipped => "skipped",
            importers::ProblemKind::ValueNotKept if p.kept_in_notes => "kept in notes",
            importers::ProblemKind::ValueNotKept => "not kept",
        };
        match &p.property {
            Some(prop) => eprintln!(
                "{}:{}: {}: {} ({what})",
                output::safe(&r.file),
                p.line,
                output::safe(prop),
                output::safe(&p.reason)
            ),
            None => eprintln!(
                "{}:{}: {} ({what})",
                output::safe(&r.file),
                p.line,
                output::safe(&p.reason)
            ),
        }
    }
    if r.problems_total > r.problems.len() as u64 {
        eprintln!(
            "… and {} more problems (the first {} are shown)",
            r.problems_total - r.problems.len() as u64,
            r.problems.len()
        );
    }
    for u in &r.unmapped {
        eprintln!(
            "{}:{}: {} has no field ({} times; not imported)",
            output::safe(&r.file),
            u.first_line,
            output::safe(&u.property),
            u.count
        );
    }
    if let Some(k) = &m.kept_in_bundle {
        if k.grants + k.receipts + k.log > 0 {
            eprintln!(
                "note: the bundle's {} grants, {} receipts and {} log entries were verified and stay in the bundle",
                k.grants, k.receipts, k.log
            );
        }
    }
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
