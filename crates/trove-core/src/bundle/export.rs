//! Export: two streaming passes over one read snapshot (hash, then write), a tar with the
//! manifest first, age encryption (passphrase at work factor 18, or recipients), atomic file.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::Path;

use rusqlite::Transaction;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::manifest::{Counts, Manifest, MemberDigest, FORMAT};
use super::tar::{self, Member};
use super::{Progress, SCRYPT_WORK_FACTOR};
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::grant::{project, Scope};
use crate::record::Record;
use crate::secret::Passphrase;
use crate::vault::Vault;

/// How the bundle is protected.
pub enum Encryption<'a> {
    /// age with a passphrase (scrypt, work factor 18).
    Passphrase(&'a Passphrase),
    /// age to one or more X25519 recipients (`age1…`).
    Recipients(Vec<age::x25519::Recipient>),
    /// The bare tar, unencrypted: only on explicit request (`--plain`).
    Plain,
}

impl std::fmt::Debug for Encryption<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Encryption<'_> {
    fn label(&self) -> &'static str {
        match self {
            Encryption::Passphrase(_) => "passphrase",
            Encryption::Recipients(_) => "recipients",
            Encryption::Plain => "plain",
        }
    }

    /// Who can open the bundle, for the access log: the recipients, or a word.
    pub fn recipient_names(&self) -> Vec<String> {
        match self {
            Encryption::Passphrase(_) => vec!["passphrase".into()],
            Encryption::Recipients(rs) => rs.iter().map(|r| r.to_string()).collect(),
            Encryption::Plain => vec!["plain".into()],
        }
    }
}

/// What to export and how.
#[derive(Debug)]
pub struct ExportOptions<'a> {
    pub encryption: Encryption<'a>,
    /// Only in-scope records with projected fields; no grants, receipts or log.
    pub scope: Option<Scope>,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub records: u64,
    pub grants: u64,
    pub receipts: u64,
    pub log: u64,
    /// Bytes written (the file's size).
    pub bytes: u64,
    /// `passphrase`, `recipients` or `plain`.
    pub encryption: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// The `type.field` names the bundle discloses.
    pub disclosed: Vec<String>,
}

/// Parses an age recipient (`age1…`); anything else is an error naming it.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient> {
    s.trim().parse().map_err(|_| {
        Error::InvalidInput(format!(
            "{:?} is not an age recipient (expected age1… from `age-keygen -y`)",
            s.chars().take(80).collect::<String>()
        ))
    })
}

/// Exports the vault to `dest` atomically (temp file in the same directory, fsync,
/// rename, fsync the directory). A failed export leaves no file behind.
pub fn export(
    vault: &Vault,
    dest: &Path,
    opts: &ExportOptions<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ExportSummary> {
    let mut file = AtomicFile::create(dest)?;
    let (_, summary) = {
        let w = BufWriter::with_capacity(256 << 10, file.file());
        let (mut w, s) = export_to_writer(vault, w, opts, progress)?;
        w.flush()
            .map_err(|e| Error::io(format!("can't write {}", dest.display()), e))?;
        ((), s)
    };
    file.commit()?;
    Ok(summary)
}

/// Exports the vault as a bundle into `out` and returns it (flushed by age, not synced).
pub fn export_to_writer<W: Write>(
    vault: &Vault,
    out: W,
    opts: &ExportOptions<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(W, ExportSummary)> {
    let io_err = |e: std::io::Error| Error::io("can't write the bundle", e);
    let mut counter = CountingWriter { inner: out, n: 0 };
    let (manifest, disclosed) = match &opts.encryption {
        Encryption::Plain => vault.read(|tx| write_bundle(tx, &mut counter, opts, progress))?,
        enc => {
            let encryptor = match enc {
                Encryption::Passphrase(p) => {
                    if p.is_empty() {
                        return Err(Error::EmptyPassphrase);
                    }
                    let mut r = age::scrypt::Recipient::new(age::secrecy::SecretString::from(
                        p.expose_secret().to_owned(),
                    ));
                    r.set_work_factor(SCRYPT_WORK_FACTOR);
                    age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
                }
                Encryption::Recipients(rs) => {
                    if rs.is_empty() {
                        return Err(Error::InvalidInput("no age recipient given".into()));
                    }
                    age::Encryptor::with_recipients(rs.iter().map(|r| r as &dyn age::Recipient))
                }
                Encryption::Plain => unreachable!("handled above"),
            }
            .map_err(|e| Error::InvalidInput(format!("can't encrypt: {e}")))?;
            let mut sw = encryptor.wrap_output(&mut counter).map_err(io_err)?;
            let r = vault.read(|tx| write_bundle(tx, &mut sw, opts, progress))?;
            sw.finish().map_err(io_err)?;
            r
        }
    };
    super::log_hook::log_export(vault, &opts.encryption, &manifest, &disclosed)?;
    let summary = ExportSummary {
        records: manifest.counts.records,
        grants: manifest.counts.grants,
        receipts: manifest.counts.receipts,
        log: manifest.counts.log,
        bytes: counter.n,
        encryption: opts.encryption.label(),
        scope: manifest.scope.clone(),
        disclosed: disclosed.into_iter().collect(),
    };
    Ok((counter.inner, summary))
}

struct CountingWriter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The JSONL members in tar order, for a full or a scoped export.
fn members_for(scope: Option<&Scope>) -> &'static [Member] {
    if scope.is_some() {
        &[Member::Records]
    } else {
        &[
            Member::Records,
            Member::Grants,
            Member::Receipts,
            Member::Log,
        ]
    }
}

fn write_bundle(
    tx: &Transaction<'_>,
    out: &mut dyn Write,
    opts: &ExportOptions<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Manifest, BTreeSet<String>)> {
    let io_err = |e: std::io::Error| Error::io("can't write the bundle", e);
    let scope = opts.scope.as_ref();
    let total: u64 =
        tx.query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))? as u64;
    let mut counts = Counts::default();
    let mut members = std::collections::BTreeMap::new();
    let mut disclosed = BTreeSet::new();
    let mut digests = Vec::new();
    let mut name_buf = String::new();
    // Pass 1: sizes and hashes, so the manifest can be the first member.
    for &m in members_for(scope) {
        let mut h = Sha256::new();
        let (mut size, mut n) = (0u64, 0u64);
        for_each_line(tx, m, scope, &mut |line, rec| {
            h.update(line);
            size += line.len() as u64;
            n += 1;
            if let Some(r) = rec {
                super::log_hook::note_fields(&mut disclosed, r, &mut name_buf);
            }
            if m == Member::Records && n % 4096 == 0 {
                progress(Progress {
                    phase: "hashing",
                    done: n,
                    total: Some(total),
                });
            }
            Ok(())
        })?;
        let digest: [u8; 32] = h.finalize().into();
        counts.set(m, n);
        members.insert(
            m.name().to_string(),
            MemberDigest {
                size,
                sha256: hex::encode(digest),
            },
        );
        digests.push((m, size, digest));
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        created_at: crate::now_rfc3339(),
        generator: concat!("trove ", env!("CARGO_PKG_VERSION")).into(),
        counts,
        scope: scope.map(Scope::item_strings),
        only_tag: scope.and_then(|s| s.only_tag.clone()),
        members,
    };
    let mtime = chrono::Utc::now().timestamp().max(0) as u64;
    let mbytes = super::manifest::manifest_json(&manifest);
    out.write_all(&tar::file_header(
        Member::Manifest.name(),
        mbytes.len() as u64,
        mtime,
    ))
    .map_err(io_err)?;
    out.write_all(&mbytes).map_err(io_err)?;
    tar::write_padding(out, mbytes.len() as u64).map_err(io_err)?;
    // Pass 2: the data, re-hashed; the read snapshot makes it identical to pass 1.
    for (m, size, digest) in digests {
        out.write_all(&tar::file_header(m.name(), size, mtime))
            .map_err(io_err)?;
        let mut h = Sha256::new();
        let (mut written, mut n) = (0u64, 0u64);
        for_each_line(tx, m, scope, &mut |line, _| {
            written += line.len() as u64;
            if written > size {
                return Err(Error::Database("the vault changed during export".into()));
            }
            h.update(line);
            out.write_all(line).map_err(io_err)?;
            n += 1;
            if m == Member::Records && n % 4096 == 0 {
                progress(Progress {
                    phase: "writing",
                    done: n,
                    total: Some(total),
                });
            }
            Ok(())
        })?;
        if written != size || <[u8; 32]>::from(h.finalize()) != digest {
            return Err(Error::Database("the vault changed during export".into()));
        }
        tar::write_padding(out, size).map_err(io_err)?;
    }
    tar::write_end(out).map_err(io_err)?;
    progress(Progress {
        phase: "writing",
        done: total,
        total: Some(total),
    });
    Ok((manifest, disclosed))
}

/// Receives each line of a member and, for records, the record it shows.
type LineSink<'a> = dyn FnMut(&[u8], Option<&Record>) -> Result<()> + 'a;

/// Calls `f` with each line (JSON + `\n`) of member `m`, streaming from the database.
fn for_each_line(
    tx: &Transaction<'_>,
    m: Member,
    scope: Option<&Scope>,
    f: &mut LineSink<'_>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(1024);
    match m {
        Member::Records => {
            let mut stmt = tx.prepare(
                "SELECT id, type, fields, tags, source, created_at, updated_at FROM records ORDER BY rowid",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let rec = record_from_row(row)?;
                let rec = match scope {
                    Some(s) => match project(&rec, s) {
                        Some(p) => p,
                        None => continue,
                    },
                    None => rec,
                };
                buf.clear();
                serde_json::to_writer(&mut buf, &rec).expect("record serializes");
                buf.push(b'\n');
                f(&buf, Some(&rec))?;
            }
        }
        Member::Grants | Member::Receipts | Member::Log => {
            if scope.is_some() {
                return Ok(());
            }
            super::log_hook::for_each_table_row(tx, m, &mut |obj| {
                buf.clear();
                serde_json::to_writer(&mut buf, obj).expect("JSON value serializes");
                buf.push(b'\n');
                f(&buf, None)
            })?;
        }
        Member::Manifest => {}
    }
    Ok(())
}

fn record_from_row(row: &rusqlite::Row<'_>) -> Result<Record> {
    let fields: String = row.get(2)?;
    let tags: String = row.get(3)?;
    let id: String = row.get(0)?;
    let damaged =
        |what: &str| Error::VaultDamaged(format!("record {id}: {what} is not valid JSON"));
    Ok(Record {
        fields: serde_json::from_str(&fields).map_err(|_| damaged("fields"))?,
        tags: serde_json::from_str(&tags).map_err(|_| damaged("tags"))?,
        record_type: row.get(1)?,
        source: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        id,
    })
}
