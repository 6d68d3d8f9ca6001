//! Importing files people have: Trove bundles, vCard 2.1/3.0/4.0, jCard, contacts CSV
//! (Google, Outlook, Thunderbird, ...), CSV of one record type, and JSON records. One
//! entry point, [`import_file`], for the CLI and the app alike.
//!
//! Address books hold other people: vCard, jCard and contacts CSV become `person` records
//! (never the owner's `identity`/`contact`/`address`), unless [`Options::as_me`] says the
//! one card is the owner's own. A value that does not fit its field is reported and the
//! rest of the record is kept; a record that cannot be kept is skipped and reported;
//! [`Options::strict`] refuses the whole file instead. Everything merges in one
//! transaction, and re-importing updates what an earlier import made (by vCard UID, else
//! by name and first email) without overwriting fields edited by hand since.

pub mod csv;
pub mod jcard;
pub mod json;
pub mod person;
pub mod report;
pub mod text;
pub mod vcard;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;
use std::path::Path;

use rusqlite::{OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use report::{Change, Problem, ProblemKind, Problems, Report, Unmapped, MAX_PROBLEMS};

use crate::access_log::{append, LogKind, NewLogEntry};
use crate::bundle::target::MergeTarget;
use crate::bundle::{self, BundleKey, BundleKind, ImportOptions, Progress};
use crate::error::{Error, Result};
use crate::record::{validate_tag, DerivedColumns, NewRecord, Record};
use crate::schema::record_type;
use crate::secret::Passphrase;
use crate::trash::BatchWriter;
use crate::vault::Vault;
use person::Entry;

/// The largest vCard/CSV/JSON file read (they are read whole).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// The formats `trove import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Format {
    Bundle,
    Vcard,
    Csv,
    Json,
}

impl Format {
    /// Parses `auto|bundle|vcard|csv|json`; `auto` is `None`.
    pub fn parse(s: &str) -> Result<Option<Format>> {
        Ok(Some(match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => return Ok(None),
            "bundle" | "trove" => Format::Bundle,
            "vcard" | "vcf" => Format::Vcard,
            "csv" => Format::Csv,
            "json" | "jcard" => Format::Json,
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown format {other:?} (auto, bundle, vcard, csv, json)"
                )))
            }
        }))
    }

    /// Guesses the format from the file name, then from its first bytes.
    pub fn detect(path: &Path, head: &[u8]) -> Format {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("trove" | "tar" | "age") => return Format::Bundle,
            Some("vcf" | "vcard") => return Format::Vcard,
            Some("csv" | "tsv") => return Format::Csv,
            Some("json" | "jcard") => return Format::Json,
            _ => {}
        }
        if head.starts_with(b"age-encryption.org/")
            || (head.len() >= 265 && &head[257..262] == b"ustar")
        {
            return Format::Bundle;
        }
        // Decode the head so UTF-16 and a BOM are seen through.
        let t = text::decode(head.to_vec()).text;
        let t = t.trim_start_matches('\u{feff}').trim_start();
        if t.get(..11)
            .is_some_and(|b| b.eq_ignore_ascii_case("BEGIN:VCARD"))
        {
            Format::Vcard
        } else if t.starts_with('[') || t.starts_with('{') {
            Format::Json
        } else {
            Format::Csv
        }
    }

    /// The `source` records imported in this format get.
    pub fn source(self) -> &'static str {
        match self {
            Format::Bundle => "import:bundle",
            Format::Vcard => "import:vcard",
            Format::Csv => "import:csv",
            Format::Json => "import:json",
        }
    }

    /// `bundle`, `vcard`, `csv` or `json`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Bundle => "bundle",
            Format::Vcard => "vcard",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// What a file to import is: its format, size and, for a bundle, what opens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    pub format: Format,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_kind: Option<BundleKind>,
}

fn read_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(format!("can't read {}", path.display()), e)
}

/// Looks at a file: its format (`format`, or detected from its name and first bytes)
/// and, for a bundle, whether a passphrase or an identity opens it.
pub fn open(path: &Path, format: Option<Format>) -> Result<FileInfo> {
    let file = std::fs::File::open(path).map_err(read_err(path))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let format = match format {
        Some(f) => f,
        None => {
            let mut head = Vec::new();
            file.take(512)
                .read_to_end(&mut head)
                .map_err(read_err(path))?;
            Format::detect(path, &head)
        }
    };
    let bundle_kind = if format == Format::Bundle {
        Some(bundle::inspect(
            std::fs::File::open(path).map_err(read_err(path))?,
        )?)
    } else {
        None
    };
    Ok(FileInfo {
        format,
        bytes,
        bundle_kind,
    })
}

/// What opens an encrypted bundle.
pub enum BundleSecret<'a> {
    None,
    Passphrase(&'a Passphrase),
    /// An age identity file (for a bundle encrypted to a recipient).
    IdentityFile(&'a Path),
}

/// How to import a file. Front ends fill it from their flags or form and call
/// [`import_file`]; nothing else decides.
pub struct Options<'a> {
    /// `None`: detected (see [`Format::detect`]).
    pub format: Option<Format>,
    /// CSV: the record type of the rows (their columns are its fields). vCard/JSON: only
    /// records of this type.
    pub record_type: Option<String>,
    /// CSV: `(column, field)` pairs naming what a column holds.
    pub map: Vec<(String, String)>,
    /// The file holds one card, the owner's own: import it as identity, contact,
    /// address, employment and note records instead of a `person`.
    pub as_me: bool,
    /// Refuse the whole file at the first problem of any kind (nothing written).
    pub strict: bool,
    /// Read and check everything, report what would change, write nothing.
    pub dry_run: bool,
    pub secret: BundleSecret<'a>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            format: None,
            record_type: None,
            map: Vec::new(),
            as_me: false,
            strict: false,
            dry_run: false,
            secret: BundleSecret::None,
        }
    }
}

/// Parses `COLUMN=field` items of `--map`.
pub fn parse_map<S: AsRef<str>>(items: &[S]) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|s| {
            let s = s.as_ref();
            match s.rsplit_once('=') {
                Some((c, f)) if !c.trim().is_empty() && !f.trim().is_empty() => {
                    Ok((c.trim().to_string(), f.trim().to_string()))
                }
                _ => Err(Error::InvalidInput(format!(
                    "column map {s:?}: expected COLUMN=field, e.g. \"E-mail\"=emails"
                ))),
            }
        })
        .collect()
}

/// The deterministic id of an imported record: UUIDv8 from SHA-256(type, fields).
pub fn content_id(record_type: &str, fields: &BTreeMap<String, String>) -> String {
    id_from(
        record_type,
        &serde_json::to_vec(fields).expect("map serializes"),
    )
}

/// The id of a record made from an entry with a stable key (vCard UID, name and email):
/// the same key gives the same id, so a newer export updates the record.
pub fn key_id(record_type: &str, key: &str) -> String {
    let mut b = b"key\0".to_vec();
    b.extend_from_slice(key.as_bytes());
    id_from(record_type, &b)
}

fn id_from(record_type: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"trove import id\0");
    h.update(record_type.as_bytes());
    h.update(b"\0");
    h.update(body);
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// Reads a whole file of at most [`MAX_FILE_BYTES`].
pub fn read_capped(r: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("can't read {what}"), e))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::BundleTooLarge(format!(
            "{what} is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(buf)
}

/// A record read from a file, with the key that identifies it across imports.
pub struct Parsed {
    pub line: u64,
    pub record: NewRecord,
    pub key: Option<String>,
}

/// What a reader hands on: an address-book entry, or a record of a named type.
// Moved once per record; boxing the entry would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
enum Emit {
    Entry(Entry),
    Record(Parsed),
}

/// The stable key of a person: the vCard UID, else the name and first email.
fn person_key(e: &Entry) -> Option<String> {
    if let Some(uid) = &e.uid {
        return Some(format!("uid:{uid}"));
    }
    let name = e.full_name.as_ref().map(|s| s.value.clone()).or_else(|| {
        let parts: Vec<&str> = [&e.given_name, &e.family_name]
            .into_iter()
            .flatten()
            .map(|s| s.value.as_str())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })?;
    let email = e
        .emails
        .first()
        .map(|i| i.value.trim().to_lowercase())
        .unwrap_or_default();
    Some(format!("name:{}\0{email}", name.trim().to_lowercase()))
}

/// Reads `bytes` as `format` (not a bundle) and hands each record to `each`. Errors are
/// for the whole file (an unknown CSV layout, `--as-me` with several cards); everything
/// else is counted in `problems`. Returns the text encoding read.
pub fn parse(
    format: Format,
    bytes: Vec<u8>,
    opts: &Options<'_>,
    problems: &mut Problems,
    each: &mut dyn FnMut(Parsed, &mut Problems),
) -> Result<&'static str> {
    let decoded = text::decode(bytes);
    let text = decoded.text.trim_start_matches('\u{feff}');
    let source = format.source();
    if let Some(t) = &opts.record_type {
        record_type(t)?;
    }
    if opts.as_me && (opts.record_type.is_some() || !opts.map.is_empty() && format != Format::Csv) {
        return Err(Error::InvalidInput("importing a card as your own records (as me) reads one card or contacts row; it does not combine with a record type".into()));
    }
    let wanted = |ty: &str| opts.record_type.as_deref().is_none_or(|t| t == ty);
    // Entries of an address book: to `person`, or (as-me) to the owner's records.
    let mut entries = 0u64;
    let mut first_as_me: Option<Entry> = None;
    let mut emit = |item: Emit, problems: &mut Problems| match item {
        Emit::Record(p) => {
            if wanted(&p.record.record_type) {
                each(p, problems)
            }
        }
        Emit::Entry(e) => {
            entries += 1;
            if opts.as_me {
                if entries == 1 {
                    first_as_me = Some(e);
                }
                return;
            }
            if !wanted("person") {
                return;
            }
            let key = person_key(&e);
            if let Some(r) = person::to_person(&e, source, problems) {
                each(
                    Parsed {
                        line: e.line,
                        record: r,
                        key,
                    },
                    problems,
                );
            }
        }
    };
    match format {
        Format::Vcard => vcard::parse(text, problems, &mut |e, p| emit(Emit::Entry(e), p)),
        Format::Csv => {
            let typed = opts.record_type.as_deref().filter(|t| *t != "person");
            csv::parse(text, typed, &opts.map, problems, &mut |row, p| match row {
                csv::Row::Entry(e) => emit(Emit::Entry(e), p),
                csv::Row::Typed(r) => emit(
                    Emit::Record(Parsed {
                        line: r.line,
                        record: NewRecord {
                            record_type: typed.unwrap_or_default().to_string(),
                            fields: r.fields,
                            tags: r.tags,
                            source: source.into(),
                        },
                        key: None,
                    }),
                    p,
                ),
            })?;
        }
        Format::Json => {
            bundle::check_json_depth(text.as_bytes(), 16)?;
            let mut elements = json::Elements::new(text).ok_or_else(|| {
                Error::InvalidInput(
                    "expected a JSON array: of {type, fields, tags} records, or jCard".into(),
                )
            })?;
            // Each element is parsed alone (a file is never one tree in memory). A jCard
            // file is one card, ["vcard", [...]], or an array of such cards.
            if let Some((line, first)) = elements.next() {
                if first.trim() == "\"vcard\"" {
                    let props = elements.next();
                    if let Some(props) = props.and_then(|(l, t)| json::element(l, t, problems)) {
                        let card = serde_json::Value::Array(vec!["vcard".into(), props]);
                        jcard::parse_card(line, &card, problems, &mut |e, p| {
                            emit(Emit::Entry(e), p)
                        });
                    }
                } else {
                    for (line, t) in std::iter::once((line, first)).chain(elements) {
                        let Some(v) = json::element(line, t, problems) else {
                            continue;
                        };
                        if jcard::is_jcard(&v) {
                            jcard::parse_card(line, &v, problems, &mut |e, p| {
                                emit(Emit::Entry(e), p)
                            });
                        } else {
                            json::item(line, v, problems, &mut |line, r, p| {
                                emit(
                                    Emit::Record(Parsed {
                                        line,
                                        record: r,
                                        key: None,
                                    }),
                                    p,
                                )
                            });
                        }
                    }
                }
            }
        }
        Format::Bundle => {
            return Err(Error::InvalidInput(
                "bundles are imported with bundle::import_bundle".into(),
            ))
        }
    }
    if opts.as_me {
        if entries > 1 {
            return Err(Error::InvalidInput(format!(
                "only one card can be imported as your own records (as me); this file has {entries} (import them as people you know instead: they become `person` records)"
            )));
        }
        if let Some(e) = first_as_me {
            for r in person::to_me(&e, source, problems) {
                each(
                    Parsed {
                        line: e.line,
                        record: r,
                        key: None,
                    },
                    problems,
                );
            }
        }
    }
    Ok(decoded.encoding)
}

/// Checks a parsed record against its type, keeping what fits: a field that does not fit
/// is dropped and reported, a record left with nothing (or without a required field) is
/// skipped and reported.
pub fn keep_what_fits(
    p: &Parsed,
    problems: &mut Problems,
) -> Option<(BTreeMap<String, String>, Vec<String>)> {
    let ty = match record_type(&p.record.record_type) {
        Ok(t) => t,
        Err(e) => {
            problems.skipped(p.line, None, e.to_string());
            return None;
        }
    };
    let mut fields = p.record.fields.clone();
    loop {
        match ty.validate(&fields) {
            Ok(f) => {
                fields = f;
                break;
            }
            Err(Error::UnknownField { field, .. }) => {
                fields.remove(&field);
                problems.unmapped(p.line, &field);
            }
            Err(Error::InvalidField { field, reason, .. }) if fields.contains_key(&field) => {
                fields.remove(&field);
                problems.not_kept(
                    p.line,
                    &field,
                    format!("{}.{field} {reason}", ty.name),
                    false,
                );
            }
            Err(e) => {
                problems.skipped(p.line, None, format!("{} record not kept: {e}", ty.name));
                return None;
            }
        }
    }
    let mut tags: Vec<String> = Vec::new();
    for t in &p.record.tags {
        match validate_tag(t) {
            Ok(()) if !tags.contains(t) => tags.push(t.clone()),
            Ok(()) => {}
            Err(e) => problems.not_kept(p.line, "tags", e.to_string(), false),
        }
    }
    Some((fields, tags))
}

/// Merges records into the vault inside one transaction (or, dry, into an overlay).
struct Merger<'t, 'c> {
    tx: &'t Transaction<'c>,
    target: MergeTarget<'t>,
    now: String,
    seen: HashSet<String>,
    fields: BTreeSet<String>,
    report: Report,
    /// What this import changes, for `import undo` (none for a dry run).
    batch: Option<BatchWriter>,
}

impl<'t, 'c> Merger<'t, 'c> {
    fn add(&mut self, p: Parsed, problems: &mut Problems) -> Result<()> {
        let Some((fields, tags)) = keep_what_fits(&p, problems) else {
            return Ok(());
        };
        let ty = p.record.record_type;
        let mut id = match &p.key {
            Some(k) => key_id(&ty, k),
            None => content_id(&ty, &fields),
        };
        if !self.seen.insert(id.clone()) && p.key.is_some() {
            // Two entries with the same key in one file (namesakes): the second is its own.
            id = content_id(&ty, &fields);
            self.seen.insert(id.clone());
        }
        let rec = Record {
            id,
            record_type: ty,
            fields,
            tags,
            source: p.record.source,
            created_at: self.now.clone(),
            updated_at: self.now.clone(),
        };
        for f in rec.fields.keys() {
            if !self.fields.contains(&format!("{}.{f}", rec.record_type)) {
                self.fields.insert(format!("{}.{f}", rec.record_type));
            }
        }
        self.report.merge.records += 1;
        if self
            .target
            .insert_if_new(self.tx, &rec, &DerivedColumns::of(&rec))?
        {
            self.report.merge.new += 1;
            if let Some(b) = &mut self.batch {
                b.added(self.tx, &rec)?;
            }
            self.set_origin(&rec)?;
            return Ok(());
        }
        let existing = self.target.get(self.tx, &rec.id)?.ok_or_else(|| {
            Error::Database(format!("record {} neither inserted nor found", rec.id))
        })?;
        let origin_text = self.target.origin(self.tx, &rec.id)?;
        let origin: Option<BTreeMap<String, String>> = origin_text
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let mut merged = existing.clone();
        let (mut changed, mut kept) = (Vec::new(), Vec::new());
        for (f, v) in &rec.fields {
            let cur = existing.fields.get(f);
            if cur == Some(v) {
                continue;
            }
            let edited = origin.as_ref().is_some_and(|o| o.get(f) != cur);
            if edited {
                kept.push(f.clone());
            } else {
                merged.fields.insert(f.clone(), v.clone());
                changed.push(f.clone());
            }
        }
        for t in &rec.tags {
            if !merged.tags.contains(t) {
                merged.tags.push(t.clone());
                changed.push("tags".into());
            }
        }
        changed.dedup();
        self.set_origin(&rec)?;
        if changed.is_empty() {
            self.report.merge.unchanged += 1;
        } else {
            merged.updated_at = self.now.clone();
            let merged = crate::record::validate_record(&merged)?;
            self.target
                .replace(self.tx, &merged, &DerivedColumns::of(&merged))?;
            if let Some(b) = &mut self.batch {
                b.updated(
                    self.tx,
                    &existing,
                    Some(origin_text.as_deref()),
                    &merged.updated_at,
                )?;
            }
            self.report.merge.updated += 1;
        }
        if (!changed.is_empty() || !kept.is_empty()) && self.report.changes.len() < MAX_PROBLEMS {
            self.report.changes.push(Change {
                id: rec.id,
                changed,
                kept_edited: kept,
            });
        }
        Ok(())
    }

    /// Remembers the fields an import gave a record, to tell later edits by hand.
    fn set_origin(&mut self, r: &Record) -> Result<()> {
        let fields = serde_json::to_string(&r.fields).expect("map serializes");
        self.target.set_origin(self.tx, &r.id, fields)
    }
}

/// Imports the file at `path` as `opts` says: a bundle (its key from `opts.secret`), or a
/// vCard, jCard, CSV or JSON file. One transaction; a dry run or a strict refusal writes
/// nothing. Errors are for the whole file; everything record-level is in the report.
pub fn import_file(
    vault: &Vault,
    path: &Path,
    opts: &Options<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report> {
    let info = open(path, opts.format)?;
    let file = path.display().to_string();
    if info.format == Format::Bundle {
        if opts.as_me || opts.record_type.is_some() || !opts.map.is_empty() {
            return Err(Error::InvalidInput(
                "a record type, a column map and importing as your own records are for vCard, CSV and JSON files, not bundles".into(),
            ));
        }
        let identities;
        let key = match (info.bundle_kind.as_ref().expect("bundle"), &opts.secret) {
            (BundleKind::Plain, _) => BundleKey::None,
            (BundleKind::Recipients, BundleSecret::IdentityFile(p)) => {
                identities = bundle::read_identity_file(p)?;
                BundleKey::Identities(&identities)
            }
            (BundleKind::Recipients, _) => return Err(Error::BundleNeedsIdentity),
            (BundleKind::Passphrase { .. }, BundleSecret::Passphrase(p)) if !p.is_empty() => {
                BundleKey::Passphrase(p)
            }
            (BundleKind::Passphrase { .. }, _) => return Err(Error::BundleNeedsPassphrase),
        };
        let bopts = ImportOptions {
            dry_run: opts.dry_run,
            input_bytes: Some(info.bytes),
            ..Default::default()
        };
        let input = std::io::BufReader::with_capacity(
            256 << 10,
            std::fs::File::open(path).map_err(read_err(path))?,
        );
        let merge = bundle::import_bundle(vault, input, key, &bopts, progress)?;
        return Ok(Report {
            file,
            merge,
            ..Default::default()
        });
    }
    let bytes = read_capped(std::fs::File::open(path).map_err(read_err(path))?, &file)?;
    progress(Progress {
        phase: crate::bundle::Phase::Reading,
        done: bytes.len() as u64,
        total: Some(info.bytes),
    });
    import_bytes(vault, info.format, bytes, &file, opts)
}

/// [`import_file`] for a vCard, CSV or JSON file already read.
pub fn import_bytes(
    vault: &Vault,
    format: Format,
    bytes: Vec<u8>,
    file: &str,
    opts: &Options<'_>,
) -> Result<Report> {
    // A dry run reads a snapshot and merges into an overlay: no write lock, no writes.
    let tx = bundle::target::begin(vault, opts.dry_run)?;
    let mut problems = Problems::default();
    let (fields, mut report, encoding, batch) = {
        let mut m = Merger {
            target: MergeTarget::new(&tx, opts.dry_run)?,
            tx: &tx,
            now: crate::now_rfc3339(),
            seen: HashSet::new(),
            fields: BTreeSet::new(),
            batch: (!opts.dry_run).then(BatchWriter::new),
            report: Report {
                file: file.to_string(),
                merge: bundle::ImportReport {
                    format: format.name().into(),
                    dry_run: opts.dry_run,
                    ..Default::default()
                },
                ..Default::default()
            },
        };
        let mut failed: Option<Error> = None;
        let encoding = parse(format, bytes, opts, &mut problems, &mut |p, problems| {
            if failed.is_none() {
                if let Err(e) = m.add(p, problems) {
                    failed = Some(e);
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        (m.fields, m.report, encoding, m.batch)
    };
    report.encoding = Some(encoding.into());
    let has_unmapped = problems.unmapped_list().next().is_some();
    let nothing = report.merge.records == 0;
    if (opts.strict && (problems.total() > 0 || has_unmapped)) || nothing {
        let mut list: Vec<(u64, String)> = problems
            .list()
            .iter()
            .map(|p| {
                let what = match p.kind {
                    ProblemKind::Skipped => "record not kept",
                    ProblemKind::ValueNotKept => "value not kept",
                };
                match &p.property {
                    Some(prop) => (p.line, format!("{prop}: {} ({what})", p.reason)),
                    None => (p.line, format!("{} ({what})", p.reason)),
                }
            })
            .collect();
        let more = problems.total().saturating_sub(list.len() as u64);
        list.extend(
            problems
                .unmapped_list()
                .take(MAX_PROBLEMS)
                .map(|(name, n, line)| (line, format!("{name}: no field takes it ({n} times)"))),
        );
        list.sort_by_key(|(l, _)| *l);
        if nothing && list.is_empty() {
            list.push((1, "the file has no records".into()));
        }
        if more > 0 {
            list.push((0, format!("and {more} more problems")));
        }
        return Err(Error::ImportMalformed {
            file: file.to_string(),
            problems: list,
        });
    }
    problems.into_report(&mut report);
    if opts.dry_run {
        tx.rollback()?;
        return Ok(report);
    }
    let mut e = NewLogEntry::new(LogKind::Import);
    e.path = Some(format!("import:{}", format.name()));
    e.fields = fields.into_iter().collect();
    append(&tx, e, None)?;
    if let Some(b) = batch {
        report.merge.batch = b.finish(&tx, file, format.name())?;
    }
    tx.commit()?;
    crate::share::journal::merge_if_any(vault);
    Ok(report)
}

/// How many records the migration to `person` moved, once: the first call after the
/// vault was migrated returns the count and forgets it, so it is reported one time.
pub fn take_person_migration_notice(vault: &Vault) -> Result<Option<u64>> {
    let pending: bool = vault.read(|tx| {
        Ok(tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'import:person-migration')",
            [],
            |r| r.get(0),
        )?)
    })?;
    if !pending {
        return Ok(None);
    }
    vault.write(|tx| {
        let n: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'import:person-migration'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if n.is_some() {
            tx.execute("DELETE FROM meta WHERE key = 'import:person-migration'", [])?;
        }
        Ok(n.and_then(|n| n.parse().ok()))
    })
}

#[cfg(test)]
mod tests;
