//! Import: detect the container (age, tar), check the age header before deriving any
//! key, read tar members one by one under caps, verify hashes, merge in one transaction.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;

use rusqlite::Transaction;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::log_hook::FieldNames;
use super::manifest::{parse_manifest, ValidManifest, MAX_MANIFEST_BYTES};
use super::tar::{self, check_member_name, parse_header, read_block, show_name, Block, Member};
use super::target::MergeTarget;
use super::{check_json_depth, Progress, MAX_SCRYPT_WORK_FACTOR};
use crate::error::{Error, Result};
use crate::model::record::{later, overlay_partial, validate_record, Record};
use crate::model::scope::validate_projected_record;
use crate::model::scope::Scope;
use crate::record::DerivedColumns;
use crate::secret::Passphrase;
use crate::trash::BatchWriter;
use crate::vault::Vault;

/// What opens a bundle.
pub enum BundleKey<'a> {
    /// A passphrase bundle's passphrase.
    Passphrase(&'a Passphrase),
    /// age identities (from `--identity FILE`) for a recipient bundle.
    Identities(&'a [Box<dyn age::Identity + Send + Sync>]),
    /// No key: only a plain (unencrypted) bundle opens.
    None,
}

/// Caps on what an import reads; every one is counted on bytes actually read.
#[derive(Debug, Clone, Copy)]
pub struct ImportLimits {
    /// All decrypted bytes together.
    pub max_total_bytes: u64,
    /// One member's bytes.
    pub max_member_bytes: u64,
    /// Tar members (headers) in the archive.
    pub max_members: u32,
    /// One JSONL line.
    pub max_line_bytes: usize,
    /// Zero padding accepted after the end-of-archive marker.
    pub max_trailing_bytes: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_total_bytes: 16 << 30,
            max_member_bytes: 8 << 30,
            max_members: 16,
            max_line_bytes: 1 << 20,
            max_trailing_bytes: 1 << 20,
        }
    }
}

/// How to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Read and verify everything, report what would change, write nothing.
    pub dry_run: bool,
    pub limits: ImportLimits,
    /// The input's size, when known, for progress.
    pub input_bytes: Option<u64>,
}

/// What an import did (or, under `--dry-run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// `bundle`, `vcard`, `csv` or `json`.
    pub format: String,
    pub dry_run: bool,
    /// Records read from the input.
    pub records: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// The batch that undoes this import (`import undo BATCH`); none for a dry run or an
    /// import that changed nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// Lines of grants/receipts/log the bundle holds; they stay in the bundle (grant
    /// tokens and the log's hash chain belong to the vault that wrote them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_in_bundle: Option<KeptInBundle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// Under `--dry-run`: what would change in each updated record, field by field (the
    /// first [`MAX_REPORTED_CHANGES`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<RecordChange>,
    /// Updated records beyond the first [`MAX_REPORTED_CHANGES`], not detailed.
    #[serde(skip_serializing_if = "is_zero")]
    pub changes_not_shown: u64,
    /// Things the person should know, e.g. that the bundle was not encrypted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ImportWarning>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Updated records a dry run details at most (the counts stay exact).
pub const MAX_REPORTED_CHANGES: usize = 1000;

/// How one stored record would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordChange {
    pub id: String,
    #[serde(rename = "type")]
    pub record_type: String,
    /// Fields that change, in name order.
    pub fields: Vec<ValueChange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags_removed: Vec<String>,
    /// `type`, `source`, `created_at` and `updated_at`, when they change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<ValueChange>,
}

/// One value before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueChange {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl RecordChange {
    /// What turns `before` into `after` (same id).
    pub fn between(before: &Record, after: &Record) -> RecordChange {
        let keys: BTreeSet<&String> = before.fields.keys().chain(after.fields.keys()).collect();
        let fields = keys
            .into_iter()
            .filter(|k| before.fields.get(*k) != after.fields.get(*k))
            .map(|k| ValueChange {
                name: k.clone(),
                before: before.fields.get(k).cloned(),
                after: after.fields.get(k).cloned(),
            })
            .collect();
        let props = [
            ("type", &before.record_type, &after.record_type),
            ("source", &before.source, &after.source),
            ("created_at", &before.created_at, &after.created_at),
            ("updated_at", &before.updated_at, &after.updated_at),
        ];
        RecordChange {
            id: after.id.clone(),
            record_type: after.record_type.clone(),
            fields,
            tags_added: after
                .tags
                .iter()
                .filter(|t| !before.tags.contains(t))
                .cloned()
                .collect(),
            tags_removed: before
                .tags
                .iter()
                .filter(|t| !after.tags.contains(t))
                .cloned()
                .collect(),
            properties: props
                .into_iter()
                .filter(|(_, b, a)| b != a)
                .map(|(n, b, a)| ValueChange {
                    name: n.into(),
                    before: Some(b.clone()),
                    after: Some(a.clone()),
                })
                .collect(),
        }
    }
}

/// A warning in an import report: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportWarning {
    pub code: &'static str,
    pub message: String,
}

/// Line counts of the bundle members that are verified but not merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeptInBundle {
    pub grants: u64,
    pub receipts: u64,
    pub log: u64,
}

/// How records merge into the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// By id: new → insert, newer `updated_at` → replace, otherwise unchanged (full
    /// bundles: each record is the whole record).
    ByUpdatedAt,
    /// By id: new → insert, newer `updated_at` → the record's fields and tags laid over
    /// the stored ones, nothing removed (scoped bundles: each record is a projection).
    PartialByUpdatedAt,
    /// By id: new → insert, otherwise unchanged (ids derived from content: importers).
    InsertOnly,
}

/// What kind of file a bundle is, from its first bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BundleKind {
    /// age with a passphrase; `work_factor` is scrypt's log2 N.
    Passphrase { work_factor: u8 },
    /// age to X25519 recipients.
    Recipients,
    /// A bare tar.
    Plain,
}

impl BundleKind {
    /// How the bundle is protected (what opens it).
    pub fn protection(&self) -> super::Protection {
        match self {
            BundleKind::Passphrase { .. } => super::Protection::Passphrase,
            BundleKind::Recipients => super::Protection::Recipients,
            BundleKind::Plain => super::Protection::Plain,
        }
    }
}

/// Reads an age identity file (`AGE-SECRET-KEY-1…` lines, `#` comments).
pub fn read_identity_file(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    let f = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("can't read {}", path.display()), e))?;
    let bad = |why: String| {
        Error::InvalidInput(format!(
            "{} is not an age identity file: {why}",
            path.display()
        ))
    };
    let ids = age::IdentityFile::from_buffer(BufReader::new(f))
        .map_err(|e| bad(e.to_string()))?
        .into_identities()
        .map_err(|e| bad(e.to_string()))?;
    if ids.is_empty() {
        return Err(bad("it holds no identity".into()));
    }
    Ok(ids)
}

const AGE_MAGIC: &[u8] = b"age-encryption.org/";
const ARMOR_MAGIC: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
const MAX_AGE_HEADER: usize = 64 << 10;

/// Tells what a bundle is from its beginning (reads at most the age header).
pub fn inspect(input: impl Read) -> Result<BundleKind> {
    let mut r = BufReader::new(input);
    let prefix = read_prefix(&mut r)?;
    match sniff(&prefix)? {
        Sniffed::Tar => Ok(BundleKind::Plain),
        Sniffed::Age => {
            let mut r = BufReader::new(Cursor::new(prefix).chain(r));
            let (_, info) = read_age_header(&mut r)?;
            Ok(match info.scrypt_work_factor {
                Some(w) => BundleKind::Passphrase { work_factor: w },
                None => BundleKind::Recipients,
            })
        }
    }
}

enum Sniffed {
    Age,
    Tar,
}

fn read_prefix(r: &mut impl Read) -> Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(tar::BLOCK);
    r.take(tar::BLOCK as u64)
        .read_to_end(&mut prefix)
        .map_err(|e| Error::io("can't read the bundle", e))?;
    Ok(prefix)
}

fn sniff(prefix: &[u8]) -> Result<Sniffed> {
    if prefix.is_empty() {
        return Err(Error::BundleDamaged("the file is empty".into()));
    }
    if prefix.starts_with(AGE_MAGIC) {
        return Ok(Sniffed::Age);
    }
    if prefix.starts_with(ARMOR_MAGIC) {
        return Err(Error::BundleFormat(
            "it is ASCII-armored age; decrypt it with `age -d` and import the tar, \
             or encrypt it again with age, without ASCII armor"
                .into(),
        ));
    }
    match <&[u8; tar::BLOCK]>::try_from(prefix) {
        Ok(block) => {
            if matches!(parse_header(block), Ok(Block::Header(_))) {
                return Ok(Sniffed::Tar);
            }
        }
        Err(_) => {
            return Err(Error::BundleDamaged(format!(
                "truncated: {} bytes is too short for a bundle",
                prefix.len()
            )))
        }
    }
    Err(Error::BundleFormat(
        "it is neither an age-encrypted bundle nor a tar archive".into(),
    ))
}

struct AgeHeaderInfo {
    scrypt_work_factor: Option<u8>,
}

/// Reads the age header's text lines (up to the `---` MAC line) and inspects its
/// stanzas, so a hostile scrypt work factor is refused before anything is derived.
fn read_age_header(r: &mut impl BufRead) -> Result<(Vec<u8>, AgeHeaderInfo)> {
    let mut header = Vec::new();
    let mut scrypt = None;
    let mut stanzas = 0;
    loop {
        let start = header.len();
        let n = r
            .take((MAX_AGE_HEADER - start) as u64 + 1)
            .read_until(b'\n', &mut header)
            .map_err(|e| tar::stream_error(e, "the age header"))?;
        if header.len() > MAX_AGE_HEADER {
            return Err(Error::BundleTooLarge(format!(
                "the age header is longer than {MAX_AGE_HEADER} bytes"
            )));
        }
        if n == 0 || header.last() != Some(&b'\n') {
            return Err(Error::BundleDamaged("truncated: the age header".into()));
        }
        let line = &header[start..header.len() - 1];
        if line.starts_with(b"---") {
            break;
        }
        if let Some(args) = line.strip_prefix(b"-> ") {
            stanzas += 1;
            let args: Vec<&[u8]> = args.split(|&b| b == b' ').collect();
            if args[0] == b"scrypt" {
                let wf = args
                    .get(2)
                    .and_then(|w| std::str::from_utf8(w).ok())
                    .filter(|w| {
                        !w.is_empty() && w.len() <= 2 && w.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|w| w.parse::<u8>().ok())
                    .ok_or_else(|| {
                        Error::BundleDamaged("the age header's scrypt stanza is malformed".into())
                    })?;
                if wf > MAX_SCRYPT_WORK_FACTOR {
                    return Err(Error::BundleWorkFactor {
                        log_n: wf,
                        max: MAX_SCRYPT_WORK_FACTOR,
                    });
                }
                scrypt = Some(wf);
            }
        }
    }
    if stanzas == 0 {
        return Err(Error::BundleDamaged(
            "the age header has no recipient stanza".into(),
        ));
    }
    Ok((
        header,
        AgeHeaderInfo {
            scrypt_work_factor: scrypt,
        },
    ))
}

/// A reader that fails once more than `cap` bytes have been read through it.
struct CappedReader<R> {
    inner: R,
    read: u64,
    cap: u64,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(io::Error::other(Error::BundleTooLarge(format!(
                "the bundle holds more than {} bytes",
                self.cap
            ))));
        }
        Ok(n)
    }
}

fn map_decrypt_error(e: age::DecryptError, passphrase: bool) -> Error {
    use age::DecryptError as D;
    match e {
        D::DecryptionFailed | D::KeyDecryptionFailed | D::NoMatchingKeys if passphrase => {
            Error::BundleWrongPassphrase
        }
        D::DecryptionFailed | D::KeyDecryptionFailed | D::NoMatchingKeys => {
            Error::BundleWrongIdentity
        }
        D::ExcessiveWork { required, .. } => Error::BundleWorkFactor {
            log_n: required,
            max: MAX_SCRYPT_WORK_FACTOR,
        },
        D::InvalidMac => {
            Error::BundleDamaged("the age header was altered (its MAC does not verify)".into())
        }
        D::InvalidHeader => Error::BundleDamaged("the age header is malformed".into()),
        D::UnknownFormat => Error::BundleFormat("it uses an unknown age version".into()),
        D::Io(e) => tar::stream_error(e, "the age header"),
        other => Error::BundleDamaged(format!("it does not decrypt: {other}")),
    }
}

/// Imports a bundle from `input`: decrypts with `key`, verifies everything, then merges
/// all records in one transaction. On any error the vault is unchanged.
pub fn import_bundle(
    vault: &Vault,
    input: impl Read + Send,
    key: BundleKey<'_>,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport> {
    let mut r = BufReader::with_capacity(64 << 10, input);
    let prefix = read_prefix(&mut r)?;
    let kind = sniff(&prefix)?;
    let r = Cursor::new(prefix).chain(r);
    let plain = matches!(kind, Sniffed::Tar);
    let plaintext: Box<dyn Read + Send + '_> = match kind {
        Sniffed::Tar => Box::new(r),
        Sniffed::Age => {
            let mut r = BufReader::with_capacity(64 << 10, r);
            let (header, info) = read_age_header(&mut r)?;
            let is_scrypt = info.scrypt_work_factor.is_some();
            let dec = age::Decryptor::new_buffered(Cursor::new(header).chain(r))
                .map_err(|e| map_decrypt_error(e, is_scrypt))?;
            match (key, is_scrypt) {
                (BundleKey::Passphrase(p), true) => {
                    let mut id = age::scrypt::Identity::new(age::secrecy::SecretString::from(
                        p.expose_secret().to_owned(),
                    ));
                    id.set_max_work_factor(MAX_SCRYPT_WORK_FACTOR);
                    Box::new(
                        dec.decrypt(std::iter::once(&id as &dyn age::Identity))
                            .map_err(|e| map_decrypt_error(e, true))?,
                    )
                }
                (BundleKey::Identities(ids), false) => Box::new(
                    dec.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
                        .map_err(|e| map_decrypt_error(e, false))?,
                ),
                (_, true) => return Err(Error::BundleNeedsPassphrase),
                (_, false) => return Err(Error::BundleNeedsIdentity),
            }
        }
    };
    let capped = CappedReader {
        inner: plaintext,
        read: 0,
        cap: opts.limits.max_total_bytes,
    };
    let mut report = import_tar(vault, capped, opts, progress)?;
    if plain {
        report.warnings.push(ImportWarning {
            code: "plain_bundle",
            message: "the bundle was not encrypted: anyone who had the file could read or \
                      alter it; delete it once imported"
                .into(),
        });
    }
    Ok(report)
}

/// [`import_bundle`] from bytes in memory (tests, fuzzing, the desktop app's drop zone).
pub fn import_bundle_bytes(
    vault: &Vault,
    bytes: &[u8],
    key: BundleKey<'_>,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    import_bundle(vault, bytes, key, opts, &mut |_| {})
}

fn import_tar(
    vault: &Vault,
    mut r: impl Read + Send,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport> {
    let tx = super::target::begin(vault, opts.dry_run)?;
    let (mut report, fields, batch) = std::thread::scope(|s| {
        let (to_merge, from_reader) = std::sync::mpsc::sync_channel::<FromReader>(2);
        // Merged batches go back to be freed there, off the merging thread.
        let (give_back, merged) = std::sync::mpsc::sync_channel::<RecordBatch>(4);
        let reader = s.spawn(move || {
            let mut out = ToMerger {
                to_merge,
                merged,
                fields: FieldNames::default(),
            };
            let report = read_tar(&mut r, opts, &mut out)?;
            Ok::<_, Error>((report, out.fields))
        });
        let mut counts = MergeCounts {
            detail_changes: opts.dry_run,
            batch: (!opts.dry_run).then(BatchWriter::new),
            ..Default::default()
        };
        let target = MergeTarget::new(&tx, opts.dry_run);
        let merging = target.and_then(|mut target| {
            merge_batches(
                &tx,
                &mut target,
                from_reader,
                &give_back,
                &mut counts,
                &mut |done| {
                    progress(Progress {
                        phase: crate::bundle::Phase::Reading,
                        done,
                        total: opts.input_bytes,
                    })
                },
            )
        });
        // On a merge error the channel closes and the reader stops at its next batch.
        let read = reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        merging?;
        let (mut report, fields) = read?;
        report.new = counts.new;
        report.updated = counts.updated;
        report.unchanged = counts.unchanged;
        report.changes = counts.changes;
        report.changes_not_shown = counts.changes_not_shown;
        Ok::<_, Error>((report, fields, counts.batch))
    })?;
    if opts.dry_run {
        // A dry run wrote nothing, not even its log row: end the read snapshot.
        tx.rollback()?;
    } else {
        super::log_hook::log_import(&tx, "bundle", &fields.into_set())?;
        if let Some(b) = batch {
            let created = report.bundle_created_at.as_deref().unwrap_or("?");
            report.batch = b.finish(&tx, &format!("bundle of {created}"), "bundle")?;
        }
        tx.commit()?;
        crate::share::journal::merge_if_any(vault);
    }
    Ok(report)
}

/// Validated records, each with its line number and the columns it will be stored
/// with, in line order.
type RecordBatch = Vec<(u64, Record, DerivedColumns)>;

/// What the reading thread hands to the merging one.
enum FromReader {
    /// Records and how they merge (partially, for a scoped bundle).
    Records(RecordBatch, MergeMode),
    /// Bytes of the bundle read so far, for progress.
    Read(u64),
}

/// The reading thread's end of the channels to the merging thread.
struct ToMerger {
    to_merge: std::sync::mpsc::SyncSender<FromReader>,
    merged: std::sync::mpsc::Receiver<RecordBatch>,
    /// The `type.field` names of every record handed over.
    fields: FieldNames,
}

impl ToMerger {
    fn send(&mut self, msg: FromReader) -> Result<()> {
        // Free what was merged here, not on the merging thread.
        while self.merged.try_recv().is_ok() {}
        self.to_merge
            .send(msg)
            .map_err(|_| Error::Database("the import stopped merging".into()))
    }
}

#[derive(Default)]
struct MergeCounts {
    new: u64,
    updated: u64,
    unchanged: u64,
    /// Whether to detail the updates (dry runs).
    detail_changes: bool,
    changes: Vec<RecordChange>,
    changes_not_shown: u64,
    /// What the import changes, for an undo (none for a dry run).
    batch: Option<BatchWriter>,
}

/// Merges the batches the reading thread sends, in order, until it hangs up. Only SQLite
/// work happens here (the records arrive validated, their columns built).
fn merge_batches(
    tx: &Transaction<'_>,
    target: &mut MergeTarget<'_>,
    from_reader: std::sync::mpsc::Receiver<FromReader>,
    give_back: &std::sync::mpsc::SyncSender<RecordBatch>,
    counts: &mut MergeCounts,
    on_read: &mut dyn FnMut(u64),
) -> Result<()> {
    for msg in from_reader {
        match msg {
            FromReader::Records(batch, mode) => {
                for (line, rec, cols) in &batch {
                    let mut change = None;
                    let detail = counts.detail_changes.then_some(&mut change);
                    match merge_one(tx, target, rec, cols, mode, detail, counts.batch.as_mut())
                        .map_err(|e| at_line(e, *line))?
                    {
                        Merged::New => counts.new += 1,
                        Merged::Updated => counts.updated += 1,
                        Merged::Unchanged => counts.unchanged += 1,
                    }
                    if let Some(c) = change {
                        if counts.changes.len() < MAX_REPORTED_CHANGES {
                            counts.changes.push(c);
                        } else {
                            counts.changes_not_shown += 1;
                        }
                    }
                }
                let _ = give_back.try_send(batch);
            }
            FromReader::Read(n) => on_read(n),
        }
    }
    Ok(())
}

/// Reads and verifies the whole archive, handing validated records to `out` as it goes.
/// The report it returns has everything but the merge counts.
fn read_tar(r: &mut dyn Read, opts: &ImportOptions, out: &mut ToMerger) -> Result<ImportReport> {
    let limits = &opts.limits;
    let mut block = [0u8; tar::BLOCK];
    read_block(r, &mut block)?;
    let first = match parse_header(&block)? {
        Block::End => return Err(Error::BundleFormat("the archive is empty".into())),
        Block::Header(h) => h,
    };
    let first_member = check_member_name(&first.name)?;
    if first_member != Member::Manifest {
        return Err(Error::BundleFormat(format!(
            "manifest.json must be the first member; found {}",
            first_member.name()
        )));
    }
    check_regular(&first)?;
    if first.size > MAX_MANIFEST_BYTES {
        return Err(Error::BundleTooLarge(format!(
            "manifest.json declares {} bytes; at most {MAX_MANIFEST_BYTES} allowed",
            first.size
        )));
    }
    let mut mbytes = vec![0u8; first.size as usize];
    tar::read_full(r, &mut mbytes, "inside manifest.json")?;
    skip_padding(r, first.size, "manifest.json")?;
    let ValidManifest {
        manifest,
        members: expected,
        scope,
    } = parse_manifest(&mbytes)?;

    let mut report = ImportReport {
        format: "bundle".into(),
        dry_run: opts.dry_run,
        bundle_created_at: Some(manifest.created_at.clone()),
        scope: scope.as_ref().map(Scope::item_strings),
        ..Default::default()
    };
    let mut kept = KeptInBundle::default();
    let mut seen = BTreeSet::from([Member::Manifest]);
    let mut headers = 1u32;
    let mut bytes_done = tar::BLOCK as u64 * 2 + first.size;
    loop {
        read_block(r, &mut block)?;
        let h = match parse_header(&block)? {
            Block::End => break,
            Block::Header(h) => h,
        };
        headers += 1;
        if headers > limits.max_members {
            return Err(Error::BundleTooLarge(format!(
                "the archive holds more than {} members",
                limits.max_members
            )));
        }
        check_regular(&h)?;
        let m = check_member_name(&h.name)?;
        let name = m.name();
        if !seen.insert(m) {
            return Err(Error::BundleMember(format!("{name} appears twice")));
        }
        let Some(&(hash, size)) = expected.get(&m) else {
            return Err(Error::BundleMember(format!(
                "{name} is not listed in the manifest"
            )));
        };
        if h.size > limits.max_member_bytes {
            return Err(Error::BundleTooLarge(format!(
                "{name} declares {} bytes; at most {} allowed",
                h.size, limits.max_member_bytes
            )));
        }
        if h.size != size {
            return Err(Error::BundleDamaged(format!(
                "{name} is {} bytes in the tar but {size} bytes in the manifest",
                h.size
            )));
        }
        let mut member = MemberReader {
            inner: &mut *r,
            remaining: h.size,
            hasher: Sha256::new(),
        };
        let lines = {
            let mut lr = BufReader::with_capacity(64 << 10, &mut member);
            match m {
                Member::Records => read_records(&mut lr, limits, scope.as_ref(), bytes_done, out)?,
                _ => count_json_lines(&mut lr, name, limits)?,
            }
        };
        if m == Member::Records {
            report.records = lines;
        }
        // Everything the header declared must have been consumed as lines.
        if member.remaining != 0 {
            return Err(Error::BundleDamaged(format!("{name} ends early")));
        }
        let got: [u8; 32] = member.hasher.finalize().into();
        if got != hash {
            return Err(Error::BundleHashMismatch {
                member: name.to_string(),
            });
        }
        skip_padding(r, h.size, name)?;
        bytes_done += tar::BLOCK as u64 + h.size;
        let want = manifest.counts.get(m);
        if lines != want {
            return Err(Error::BundleDamaged(format!(
                "{name} holds {lines} lines but the manifest says {want}"
            )));
        }
        match m {
            Member::Grants => kept.grants = lines,
            Member::Receipts => kept.receipts = lines,
            Member::Log => kept.log = lines,
            _ => {}
        }
    }
    if let Some(missing) = expected.keys().find(|m| !seen.contains(m)) {
        return Err(Error::BundleDamaged(format!(
            "{} is listed in the manifest but missing",
            missing.name()
        )));
    }
    drain_trailer(r, limits.max_trailing_bytes)?;
    if seen.len() > 2 {
        report.kept_in_bundle = Some(kept);
    }
    Ok(report)
}

fn check_regular(h: &tar::Header) -> Result<()> {
    if h.is_regular() {
        return Ok(());
    }
    Err(Error::BundleMember(format!(
        "{} is a {}; only regular files are allowed",
        show_name(&h.name),
        h.kind_name()
    )))
}

/// Reads the zero padding after a member; anything else there is data the header hides.
fn skip_padding(r: &mut dyn Read, size: u64, name: &str) -> Result<()> {
    let mut pad = [0u8; tar::BLOCK];
    let n = tar::padding(size);
    tar::read_full(r, &mut pad[..n], &format!("in the padding after {name}"))?;
    if pad[..n].iter().any(|&b| b != 0) {
        return Err(Error::BundleDamaged(format!(
            "{name} holds more data than its tar header declares"
        )));
    }
    Ok(())
}

/// The message of an error, without the `invalid input:` prefix, for a line report.
fn reason(e: Error) -> String {
    match e {
        Error::InvalidInput(m) => m,
        e => e.to_string(),
    }
}

/// After the end-of-archive block: the second zero block and tar's record padding are
/// accepted (zeros only, capped); reading to EOF lets age authenticate the last chunk.
fn drain_trailer(r: &mut dyn Read, cap: u64) -> Result<()> {
    let mut buf = [0u8; 8192];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(tar::stream_error(e, "after the end of the archive")),
        };
        total += n as u64;
        if total > cap || buf[..n].iter().any(|&b| b != 0) {
            return Err(Error::BundleDamaged(
                "there is data after the end of the archive".into(),
            ));
        }
    }
}

/// Reads exactly one member's bytes, hashing them.
struct MemberReader<'a> {
    inner: &'a mut dyn Read,
    remaining: u64,
    hasher: Sha256,
}

impl Read for MemberReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the member's data ends early",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Reads the next line (without `\n`) into `buf`; `Ok(false)` at the end.
fn next_line(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    name: &str,
    line: u64,
    max: usize,
) -> Result<bool> {
    buf.clear();
    let n = r
        .take(max as u64 + 1)
        .read_until(b'\n', buf)
        .map_err(|e| tar::stream_error(e, &format!("inside {name}")))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if n > max {
        return Err(Error::BundleTooLarge(format!(
            "{name} line {line} is longer than {max} bytes"
        )));
    }
    Ok(true)
}

/// The wire form of a record line: exactly the record's keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRecord {
    id: String,
    #[serde(rename = "type")]
    record_type: String,
    #[serde(deserialize_with = "super::json::unique_map")]
    fields: std::collections::BTreeMap<String, String>,
    tags: Vec<String>,
    source: String,
    created_at: String,
    updated_at: String,
}

/// Records handed to the merging thread at a time.
const BATCH_LINES: usize = 256;

fn bad_record_line(line: u64, reason: String) -> Error {
    Error::BadLine {
        file: "records.jsonl".into(),
        line,
        reason,
    }
}

/// Record times further ahead of this computer's clock are refused: a record "updated"
/// in the far future would win every later merge, pinning it against real backups.
pub const MAX_FUTURE_SKEW_HOURS: i64 = 24;

/// The latest record time accepted now.
fn time_horizon() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::TimeDelta::hours(MAX_FUTURE_SKEW_HOURS)
}

/// True when RFC 3339 time `t` is after `horizon`.
fn beyond(t: &str, horizon: &chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(t).is_ok_and(|t| t > *horizon)
}

/// A merge error on a record line, named with its line.
fn at_line(e: Error, line: u64) -> Error {
    match e {
        Error::InvalidInput(reason) => bad_record_line(line, reason),
        e => e,
    }
}

/// Parses and validates one record line: the wire form exactly, then the record against
/// its schema (or, for a scoped bundle, against the manifest's scope), then its times
/// (none more than a day ahead of `horizon`'s now).
fn validate_line(
    bytes: &[u8],
    line: u64,
    scope: Option<&Scope>,
    horizon: &chrono::DateTime<chrono::Utc>,
) -> Result<Record> {
    if bytes.is_empty() {
        return Err(bad_record_line(line, "empty line".into()));
    }
    check_json_depth(bytes, 3).map_err(|e| bad_record_line(line, reason(e)))?;
    let w: WireRecord =
        serde_json::from_slice(bytes).map_err(|e| bad_record_line(line, e.to_string()))?;
    let rec = Record {
        id: w.id,
        record_type: w.record_type,
        fields: w.fields,
        tags: w.tags,
        source: w.source,
        created_at: w.created_at,
        updated_at: w.updated_at,
    };
    let rec = match scope {
        None => validate_record(&rec),
        Some(s) => validate_projected_record(&rec, s),
    }
    .map_err(|e| bad_record_line(line, reason(e)))?;
    for (name, t) in [
        ("created_at", &rec.created_at),
        ("updated_at", &rec.updated_at),
    ] {
        if beyond(t, horizon) {
            return Err(bad_record_line(
                line,
                format!(
                    "record {}: {name} {t} is more than {MAX_FUTURE_SKEW_HOURS} hours in the \
                     future",
                    rec.id
                ),
            ));
        }
    }
    Ok(rec)
}

/// Reads and validates `records.jsonl`, handing the records to the merging thread a batch
/// at a time, in line order; stops at the first bad line, so the merging thread has seen
/// exactly the records before it. `offset` is where the member starts in the archive.
fn read_records(
    r: &mut dyn BufRead,
    limits: &ImportLimits,
    scope: Option<&Scope>,
    offset: u64,
    out: &mut ToMerger,
) -> Result<u64> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut bytes = 0u64;
    let mut batch = Vec::with_capacity(BATCH_LINES);
    let mode = match scope {
        None => MergeMode::ByUpdatedAt,
        Some(_) => MergeMode::PartialByUpdatedAt,
    };
    let horizon = time_horizon();
    while next_line(
        r,
        &mut buf,
        "records.jsonl",
        line + 1,
        limits.max_line_bytes,
    )? {
        line += 1;
        bytes += buf.len() as u64 + 1;
        let rec = validate_line(&buf, line, scope, &horizon)?;
        out.fields.note_record(&rec);
        let cols = DerivedColumns::of(&rec);
        batch.push((line, rec, cols));
        if batch.len() == BATCH_LINES {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_LINES));
            out.send(FromReader::Records(full, mode))?;
            if line % 4096 == 0 {
                out.send(FromReader::Read(offset + bytes))?;
            }
        }
    }
    if !batch.is_empty() {
        out.send(FromReader::Records(batch, mode))?;
    }
    out.send(FromReader::Read(offset + bytes))?;
    Ok(line)
}

fn count_json_lines(r: &mut dyn BufRead, name: &str, limits: &ImportLimits) -> Result<u64> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    while next_line(r, &mut buf, name, line + 1, limits.max_line_bytes)? {
        line += 1;
        let bad = |reason: String| Error::BadLine {
            file: name.into(),
            line,
            reason,
        };
        check_json_depth(&buf, 8).map_err(|e| bad(reason(e)))?;
        super::json::check_object_unique_keys(&buf).map_err(bad)?;
    }
    Ok(line)
}

/// What merging one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merged {
    New,
    Updated,
    Unchanged,
}

/// Merges one validated record (with `cols` built from it) into `target` by id, with
/// `detail` the field-level change of an update, noting what changed in `batch`.
///
/// A stored `updated_at` more than a day ahead of the clock (left by a bundle before
/// such times were refused) does not protect the record: any other valid copy wins, so
/// a real backup restores a record a crafted bundle pinned.
fn merge_one(
    tx: &Transaction<'_>,
    target: &mut MergeTarget<'_>,
    rec: &Record,
    cols: &DerivedColumns,
    mode: MergeMode,
    detail: Option<&mut Option<RecordChange>>,
    batch: Option<&mut BatchWriter>,
) -> Result<Merged> {
    if target.insert_if_new(tx, rec, cols)? {
        if let Some(b) = batch {
            b.added(tx, rec)?;
        }
        return Ok(Merged::New);
    }
    let Some(existing) = target.get(tx, &rec.id)? else {
        return Err(Error::Database(format!(
            "record {} neither inserted nor found",
            rec.id
        )));
    };
    if existing == *rec || mode == MergeMode::InsertOnly {
        return Ok(Merged::Unchanged);
    }
    let newer = later(&rec.updated_at, &existing.updated_at)
        || beyond(&existing.updated_at, &time_horizon());
    if !newer {
        return Ok(Merged::Unchanged);
    }
    let merged;
    let (after, after_cols) = match mode {
        MergeMode::PartialByUpdatedAt => {
            if existing.record_type != rec.record_type {
                return Err(Error::InvalidInput(format!(
                    "record {} is a {} in the vault but a {} in this scoped bundle; \
                     nothing was imported",
                    rec.id, existing.record_type, rec.record_type
                )));
            }
            let over = overlay_partial(&existing, rec);
            if over == existing {
                return Ok(Merged::Unchanged);
            }
            let c = DerivedColumns::of(&over);
            merged = (over, c);
            (&merged.0, &merged.1)
        }
        _ => (rec, cols),
    };
    target.replace(tx, after, after_cols)?;
    if let Some(b) = batch {
        b.updated(tx, &existing, None, &after.updated_at)?;
    }
    if let Some(d) = detail {
        *d = Some(RecordChange::between(&existing, after));
    }
    Ok(Merged::Updated)
}

/// Merges already validated records in one transaction (or, with `dry_run`, reports
/// what would change and rolls back). Used by the vCard/CSV/JSON importers.
pub fn merge_records(
    vault: &Vault,
    records: impl IntoIterator<Item = Record>,
    mode: MergeMode,
    dry_run: bool,
    format: &str,
) -> Result<ImportReport> {
    let tx = super::target::begin(vault, dry_run)?;
    let mut report = ImportReport {
        format: format.into(),
        dry_run,
        ..Default::default()
    };
    let mut fields = FieldNames::default();
    let mut target = MergeTarget::new(&tx, dry_run)?;
    for r in records {
        report.records += 1;
        fields.note_record(&r);
        match merge_one(
            &tx,
            &mut target,
            &r,
            &DerivedColumns::of(&r),
            mode,
            None,
            None,
        )? {
            Merged::New => report.new += 1,
            Merged::Updated => report.updated += 1,
            Merged::Unchanged => report.unchanged += 1,
        }
    }
    drop(target);
    if dry_run {
        tx.rollback()?;
    } else {
        super::log_hook::log_import(&tx, format, &fields.into_set())?;
        tx.commit()?;
        crate::share::journal::merge_if_any(vault);
    }
    Ok(report)
}
