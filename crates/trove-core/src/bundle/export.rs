//! Export: one streaming read of the vault into an encrypted temporary file while hashing,
//! then a tar with the manifest first, age encryption (passphrase at work factor 18, or
//! recipients), atomic file.

use std::collections::BTreeSet;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::Transaction;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::log_hook::FieldNames;
use super::manifest::{Counts, Manifest, MemberDigest, FORMAT};
use super::tar::{self, Member};
use super::{Phase, Progress, Protection, SCRYPT_WORK_FACTOR};
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::model::record::Record;
use crate::model::scope::{project, Scope};
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
        f.write_str(self.protection().as_str())
    }
}

impl Encryption<'_> {
    /// How a bundle written with it is protected.
    pub fn protection(&self) -> Protection {
        match self {
            Encryption::Passphrase(_) => Protection::Passphrase,
            Encryption::Recipients(_) => Protection::Recipients,
            Encryption::Plain => Protection::Plain,
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
    /// What [`export`] does when something is already at the destination: `false`
    /// refuses with [`Error::FileExists`] before any work, and again when the finished
    /// bundle is put in place (so a file that appeared meanwhile is kept); `true`
    /// replaces it. [`export_to_writer`] writes no file and ignores it.
    pub replace: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExportSummary {
    pub records: u64,
    pub grants: u64,
    pub receipts: u64,
    pub log: u64,
    /// Bytes written (the file's size).
    pub bytes: u64,
    pub encryption: Protection,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
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

/// [`Error::FileExists`] when something (a file, a directory, a link) is at `dest` and
/// `replace` is false: [`export`]'s own first check, for a front end to call before it
/// asks for passphrases. [`export`] checks again when it puts the bundle in place.
pub fn check_destination(dest: &Path, replace: bool) -> Result<()> {
    if !replace && std::fs::symlink_metadata(dest).is_ok() {
        return Err(Error::FileExists(dest.to_path_buf()));
    }
    Ok(())
}

/// Exports the vault to `dest` atomically (temp file in the same directory, fsync,
/// rename, fsync the directory). A failed export leaves no file behind, and what was at
/// `dest` stays unless [`ExportOptions::replace`] says to replace it.
pub fn export(
    vault: &Vault,
    dest: &Path,
    opts: &ExportOptions<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ExportSummary> {
    check_destination(dest, opts.replace)?;
    let mut file = AtomicFile::create(dest)?;
    let spill_dir = file.dir().to_path_buf();
    let (_, summary) = {
        let w = BufWriter::with_capacity(256 << 10, file.file());
        let (mut w, s) = export_via(vault, w, opts, progress, &spill_dir)?;
        w.flush()
            .map_err(|e| Error::io(format!("can't write {}", dest.display()), e))?;
        ((), s)
    };
    if opts.replace {
        file.commit()?;
    } else {
        file.commit_new()?;
    }
    Ok(summary)
}

/// Exports the vault as a bundle into `out` and returns it (flushed by age, not synced).
/// `out` is written from a second thread, hence `Send`. The members wait, encrypted, in
/// an anonymous file in the system's temporary directory until the manifest is written.
pub fn export_to_writer<W: Write + Send>(
    vault: &Vault,
    out: W,
    opts: &ExportOptions<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(W, ExportSummary)> {
    export_via(vault, out, opts, progress, &std::env::temp_dir())
}

/// [`export_to_writer`], with the members' temporary file (a [`Spill`]) in `spill_dir`.
pub(super) fn export_via<W: Write + Send>(
    vault: &Vault,
    out: W,
    opts: &ExportOptions<'_>,
    progress: &mut dyn FnMut(Progress),
    spill_dir: &Path,
) -> Result<(W, ExportSummary)> {
    let (out, manifest, disclosed, bytes) =
        export_unlogged(vault, out, opts, progress, spill_dir, &mut |_| Ok(()))?;
    super::log_hook::log_export(vault, &opts.encryption, &manifest, &disclosed)?;
    let summary = ExportSummary {
        records: manifest.counts.records,
        grants: manifest.counts.grants,
        receipts: manifest.counts.receipts,
        log: manifest.counts.log,
        bytes,
        encryption: opts.encryption.protection(),
        scope: manifest.scope.clone(),
        disclosed: disclosed.into_iter().collect(),
    };
    Ok((out, summary))
}

/// A bundle written into `out` with no access-log row: the bundle's manifest, the
/// `type.field` names it discloses and its size. Only for callers that log what they
/// do with the bundle themselves, in their own words (a staged grant's publication).
pub(crate) fn export_unlogged<W: Write + Send>(
    vault: &Vault,
    out: W,
    opts: &ExportOptions<'_>,
    progress: &mut dyn FnMut(Progress),
    spill_dir: &Path,
    records: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<(W, Manifest, BTreeSet<String>, u64)> {
    let io_err = |e: std::io::Error| Error::io("can't write the bundle", e);
    let mut counter = CountingWriter { inner: out, n: 0 };
    let (manifest, disclosed) = match &opts.encryption {
        Encryption::Plain => with_scan_cache(vault, || {
            vault.read(|tx| write_bundle(tx, &mut counter, opts, progress, spill_dir, records))
        })?,
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
            let r = with_scan_cache(vault, || {
                vault.read(|tx| write_bundle(tx, &mut sw, opts, progress, spill_dir, records))
            })?;
            sw.finish().map_err(io_err)?;
            r
        }
    };
    Ok((counter.inner, manifest, disclosed, counter.n))
}

/// The ids of the records `scope` lets through and the SHA-256 (hex) of their projected
/// lines: exactly the `records.jsonl` a scoped bundle of `scope` would hold now, read
/// in one snapshot through the same projection, without writing a bundle. Staged grants
/// compare it with what they published to see whether in-scope records changed.
pub(crate) fn projection_digest(vault: &Vault, scope: &Scope) -> Result<(Vec<String>, String)> {
    vault.read(|tx| {
        let mut h = Sha256::new();
        let mut ids = Vec::new();
        for_each_line(tx, Member::Records, Some(scope), None, &mut |line| {
            h.update(line);
            ids.push(projected_id(line)?);
            Ok(())
        })?;
        Ok((ids, hex::encode(h.finalize())))
    })
}

/// The id of a projected record's line (its first key).
pub(crate) fn projected_id(line: &[u8]) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    let r: IdOnly = serde_json::from_slice(line)
        .map_err(|_| Error::VaultDamaged("a projected record does not read back".into()))?;
    Ok(r.id)
}

/// The page cache (KiB) an export runs with. Export reads every page once per pass in
/// rowid order, so cached pages are never read again before they are evicted (a vault
/// larger than the cache) and a large cache would only make the export's memory grow
/// with the vault up to the connection's normal cache size.
const EXPORT_CACHE_KIB: i64 = 2 * 1024;

/// Runs `f` with the connection's page cache at [`EXPORT_CACHE_KIB`], then restores it.
fn with_scan_cache<T>(vault: &Vault, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let conn = vault.conn();
    let before: i64 = conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{EXPORT_CACHE_KIB}"))?;
    let out = f();
    let restored = conn.execute_batch(&format!("PRAGMA cache_size = {before}"));
    let out = out?;
    restored?;
    Ok(out)
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
    out: &mut (dyn Write + Send),
    opts: &ExportOptions<'_>,
    progress: &mut dyn FnMut(Progress),
    spill_dir: &Path,
    records: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<(Manifest, BTreeSet<String>)> {
    std::thread::scope(|s| write_bundle_in(s, tx, out, opts, progress, spill_dir, records))
}

/// [`write_bundle`]: the vault is read once, on this thread (SQLite stays here), and each
/// member's lines go to a thread of `s` that hashes them and encrypts them into a
/// [`Spill`]. With every size and hash known, the manifest is written first, then the
/// members are copied from the spill, decrypted here and encrypted into `out` there.
/// `records` sees each line of `records.jsonl` as it is written.
fn write_bundle_in<'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    tx: &Transaction<'_>,
    out: &'scope mut (dyn Write + Send),
    opts: &ExportOptions<'_>,
    progress: &mut dyn FnMut(Progress),
    spill_dir: &Path,
    records: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<(Manifest, BTreeSet<String>)> {
    let io_err = |e: std::io::Error| Error::io("can't write the bundle", e);
    let scope = opts.scope.as_ref();
    let total: u64 =
        tx.query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))? as u64;
    let mut counts = Counts::default();
    let mut members = std::collections::BTreeMap::new();
    let mut disclosed = FieldNames::default();
    let mut sizes = Vec::new();
    let mut sink = HashWriter::new(Spill::create(spill_dir)?);
    for &m in members_for(scope) {
        let mut w = Offload::new(s, sink);
        let mut n = 0u64;
        let read = for_each_line(tx, m, scope, Some(&mut disclosed), &mut |line| {
            w.write_all(line).map_err(io_err)?;
            n += 1;
            if m == Member::Records {
                records(line)?;
            }
            if m == Member::Records && n % 4096 == 0 {
                progress(Progress {
                    phase: Phase::Writing,
                    done: n,
                    total: Some(total),
                });
            }
            Ok(())
        });
        sink = w.finish_after(read)?;
        if m == Member::Records {
            // Every record was read (a scoped export writes only some of them).
            progress(Progress {
                phase: Phase::Writing,
                done: total,
                total: Some(total),
            });
        }
        let (size, digest) = sink.take_digest();
        counts.set(m, n);
        members.insert(
            m.name().to_string(),
            MemberDigest {
                size,
                sha256: hex::encode(digest),
            },
        );
        sizes.push((m, size));
    }
    let mut spilled = sink.inner.read_back()?;
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
    let spilled_bytes = sizes.iter().map(|&(_, size)| size).sum();
    let mut w = Offload::new(s, out);
    let written = write_members(&mut w, &mut spilled, &mbytes, &sizes, mtime, &mut |done| {
        progress(Progress {
            phase: Phase::Finishing,
            done,
            total: Some(spilled_bytes),
        })
    });
    w.finish_after(written)?;
    Ok((manifest, disclosed.into_set()))
}

/// The bundle: the manifest, then each member's bytes copied from the spill, which must
/// hold exactly the sizes the manifest names. Reports the member bytes copied so far.
fn write_members(
    out: &mut dyn Write,
    spilled: &mut dyn Read,
    mbytes: &[u8],
    sizes: &[(Member, u64)],
    mtime: u64,
    copied: &mut dyn FnMut(u64),
) -> Result<()> {
    let io_err = |e: std::io::Error| Error::io("can't write the bundle", e);
    let short = || Error::io(SPILL_READ, std::io::ErrorKind::UnexpectedEof.into());
    out.write_all(&tar::file_header(
        Member::Manifest.name(),
        mbytes.len() as u64,
        mtime,
    ))
    .map_err(io_err)?;
    out.write_all(mbytes).map_err(io_err)?;
    tar::write_padding(out, mbytes.len() as u64).map_err(io_err)?;
    let mut buf = vec![0u8; OFFLOAD_CHUNK];
    let mut done = 0u64;
    for &(m, size) in sizes {
        out.write_all(&tar::file_header(m.name(), size, mtime))
            .map_err(io_err)?;
        let mut left = size;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let got = spilled
                .read(&mut buf[..want])
                .map_err(|e| Error::io(SPILL_READ, e))?;
            if got == 0 {
                return Err(short());
            }
            out.write_all(&buf[..got]).map_err(io_err)?;
            left -= got as u64;
            done += got as u64;
            copied(done);
        }
        tar::write_padding(out, size).map_err(io_err)?;
    }
    if spilled
        .read(&mut buf[..1])
        .map_err(|e| Error::io(SPILL_READ, e))?
        != 0
    {
        return Err(Error::io(
            SPILL_READ,
            std::io::Error::other("it holds more than the export wrote"),
        ));
    }
    tar::write_end(out).map_err(io_err)?;
    Ok(())
}

const SPILL_WRITE: &str = "can't write the export's temporary file";
const SPILL_READ: &str = "can't read back the export's temporary file";

/// Where an export keeps its members between reading the vault and writing the bundle:
/// an anonymous temporary file (unlinked from the start, so nothing is left behind, even
/// after a crash) holding them age-encrypted to a key that exists only in this process's
/// memory. Plaintext never touches the disk, and what is read back is authenticated.
struct Spill {
    key: age::x25519::Identity,
    writer: age::stream::StreamWriter<BufWriter<std::fs::File>>,
}

impl Spill {
    fn create(dir: &Path) -> Result<Spill> {
        let at = |e: std::io::Error| Error::io(format!("{SPILL_WRITE} in {}", dir.display()), e);
        Spill::new(tempfile::tempfile_in(dir).map_err(at)?).map_err(at)
    }

    /// A spill into `file`, which must be empty.
    fn new(file: std::fs::File) -> std::io::Result<Spill> {
        let key = age::x25519::Identity::generate();
        let to = key.to_public();
        let writer = age::Encryptor::with_recipients(std::iter::once(&to as &dyn age::Recipient))
            .expect("one recipient")
            .wrap_output(BufWriter::with_capacity(OFFLOAD_CHUNK, file))?;
        Ok(Spill { key, writer })
    }

    /// Finishes writing and returns a reader of what was written, from the start.
    fn read_back(self) -> Result<impl Read> {
        let io_err = |e: std::io::Error| Error::io(SPILL_WRITE, e);
        let mut file = self
            .writer
            .finish()
            .map_err(io_err)?
            .into_inner()
            .map_err(|e| io_err(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let read_err = |e: age::DecryptError| Error::io(SPILL_READ, std::io::Error::other(e));
        age::Decryptor::new_buffered(BufReader::with_capacity(OFFLOAD_CHUNK, file))
            .map_err(read_err)?
            .decrypt(std::iter::once(&self.key as &dyn age::Identity))
            .map_err(read_err)
    }
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Counts and hashes what is written through it into `inner`.
struct HashWriter<W> {
    inner: W,
    size: u64,
    hasher: Sha256,
}

impl<W> HashWriter<W> {
    fn new(inner: W) -> Self {
        HashWriter {
            inner,
            size: 0,
            hasher: Sha256::new(),
        }
    }

    /// The size and SHA-256 of what went through since the last call.
    fn take_digest(&mut self) -> (u64, [u8; 32]) {
        let size = std::mem::take(&mut self.size);
        (size, std::mem::take(&mut self.hasher).finalize().into())
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Bytes collected per hand-over to the [`Offload`] thread.
const OFFLOAD_CHUNK: usize = 256 << 10;

/// A writer that hands its bytes, in large chunks, to a thread that writes them into `W`,
/// so hashing or encrypting overlaps with reading the database. Chunk buffers are reused.
struct Offload<'scope, W> {
    buf: Vec<u8>,
    to_thread: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: std::thread::ScopedJoinHandle<'scope, std::io::Result<W>>,
}

impl<'scope, W: Write + Send + 'scope> Offload<'scope, W> {
    fn new(s: &'scope std::thread::Scope<'scope, '_>, mut inner: W) -> Self {
        let (to_thread, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (give_back, spare) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let thread = s.spawn(move || {
            for mut chunk in chunks {
                inner.write_all(&chunk)?;
                chunk.clear();
                let _ = give_back.try_send(chunk);
            }
            inner.flush()?;
            Ok(inner)
        });
        Offload {
            buf: Vec::with_capacity(OFFLOAD_CHUNK),
            to_thread: Some(to_thread),
            spare,
            thread,
        }
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(OFFLOAD_CHUNK));
        let chunk = std::mem::replace(&mut self.buf, next);
        match &self.to_thread {
            Some(t) if t.send(chunk).is_ok() => Ok(()),
            // The thread ended early: its own error comes out of `finish_after`.
            _ => Err(std::io::Error::other("the writer thread stopped")),
        }
    }

    /// Hands over what is left, waits for the thread and returns its writer. A writer
    /// error wins over `result` (an error of the producer that the writer may have
    /// caused by stopping); otherwise `result`'s error.
    fn finish_after(mut self, result: Result<()>) -> Result<W> {
        let handed = if result.is_ok() && !self.buf.is_empty() {
            self.hand_over()
        } else {
            Ok(())
        };
        drop(self.to_thread.take());
        let inner = self
            .thread
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let io_err = |e: std::io::Error| Error::io("can't write the bundle", e);
        let inner = inner.map_err(io_err)?;
        handed.map_err(io_err)?;
        result?;
        Ok(inner)
    }
}

impl<'scope, W: Write + Send + 'scope> Write for Offload<'scope, W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= OFFLOAD_CHUNK {
            self.hand_over()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Receives each line of a member.
type LineSink<'a> = dyn FnMut(&[u8]) -> Result<()> + 'a;

/// Calls `f` with each line (JSON + `\n`) of member `m`, streaming from the database.
/// With `disclosed`, also adds the `type.field` name of every field a line shows.
fn for_each_line(
    tx: &Transaction<'_>,
    m: Member,
    scope: Option<&Scope>,
    mut disclosed: Option<&mut FieldNames>,
    f: &mut LineSink<'_>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(1024);
    match m {
        Member::Records => {
            // The columns of `record::from_row`: a scoped export maps rows with it, a full
            // one copies them as stored (`write_stored_line`).
            let mut stmt = tx.prepare(&format!("{} ORDER BY rowid", crate::record::SELECT))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                buf.clear();
                match scope {
                    // A full export writes each line straight from the stored columns.
                    None => write_stored_line(&mut buf, row, disclosed.as_deref_mut())?,
                    Some(s) => {
                        let Some(rec) = project(&record_from_row(row)?, s) else {
                            continue;
                        };
                        serde_json::to_writer(&mut buf, &rec).expect("record serializes");
                        buf.push(b'\n');
                        if let Some(d) = disclosed.as_deref_mut() {
                            d.note_record(&rec);
                        }
                    }
                }
                f(&buf)?;
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
                f(&buf)
            })?;
        }
        Member::Manifest => {}
    }
    Ok(())
}

/// Appends the bundle line of the stored record in `row` (`id, type, fields, tags, source,
/// created_at, updated_at`) to `buf`, byte for byte what serializing its [`Record`] writes.
///
/// `fields` and `tags` are stored as the compact JSON `serde_json` writes for a
/// `BTreeMap<String, String>` and a `Vec<String>`, which is exactly how a serialized
/// `Record` shows them, so they are copied as they are. With `disclosed` (the hashing
/// pass) both are first checked to be JSON of that shape, and the field names noted; the
/// writing pass copies the same snapshot's bytes, which the manifest's hashes then pin.
fn write_stored_line(
    buf: &mut Vec<u8>,
    row: &rusqlite::Row<'_>,
    disclosed: Option<&mut FieldNames>,
) -> Result<()> {
    let bytes = |i: usize| -> Result<&[u8]> {
        match row.get_ref(i)? {
            ValueRef::Text(t) => Ok(t),
            _ => Err(damaged_row(row, "a column")),
        }
    };
    let text = |i: usize| -> Result<&str> {
        std::str::from_utf8(bytes(i)?).map_err(|_| damaged_row(row, "text"))
    };
    let (id, record_type, fields, tags) = (text(0)?, text(1)?, bytes(2)?, bytes(3)?);
    if let Some(d) = disclosed {
        // Parsing checks UTF-8 as well; the writing pass copies the bytes unchecked.
        check_stored_fields(fields, &mut |k| d.note(record_type, k))
            .map_err(|_| damaged_row(row, "fields"))?;
        serde_json::from_slice::<Vec<Str<'_>>>(tags).map_err(|_| damaged_row(row, "tags"))?;
    }
    buf.extend_from_slice(b"{\"id\":");
    json_str(buf, id);
    buf.extend_from_slice(b",\"type\":");
    json_str(buf, record_type);
    buf.extend_from_slice(b",\"fields\":");
    buf.extend_from_slice(fields);
    buf.extend_from_slice(b",\"tags\":");
    buf.extend_from_slice(tags);
    buf.extend_from_slice(b",\"source\":");
    json_str(buf, text(4)?);
    buf.extend_from_slice(b",\"created_at\":");
    json_str(buf, text(5)?);
    buf.extend_from_slice(b",\"updated_at\":");
    json_str(buf, text(6)?);
    buf.extend_from_slice(b"}\n");
    Ok(())
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` escapes it.
fn json_str(buf: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *buf, s).expect("a string serializes");
}

/// A string, borrowed when it has no escapes; anything else is an error.
struct Str<'a>(std::borrow::Cow<'a, str>);
impl<'de> serde::Deserialize<'de> for Str<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> std::result::Result<Str<'de>, E> {
                Ok(Str(s.into()))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<Str<'de>, E> {
                Ok(Str(s.to_string().into()))
            }
        }
        d.deserialize_str(V)
    }
}

/// Checks that `json` is an object of strings, calling `key` with each name.
fn check_stored_fields(json: &[u8], key: &mut dyn FnMut(&str)) -> serde_json::Result<()> {
    use serde::de::{DeserializeSeed, MapAccess, Visitor};

    struct Fields<'k>(&'k mut dyn FnMut(&str));
    impl<'de> DeserializeSeed<'de> for Fields<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(
            self,
            d: D,
        ) -> std::result::Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Fields<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of strings")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            while let Some(k) = map.next_key::<Str<'de>>()? {
                map.next_value::<Str<'de>>()?;
                (self.0)(&k.0);
            }
            Ok(())
        }
    }

    let mut de = serde_json::Deserializer::from_slice(json);
    Fields(key).deserialize(&mut de)?;
    de.end()
}

fn damaged_row(row: &rusqlite::Row<'_>, what: &str) -> Error {
    let id = row
        .get_ref(0)
        .ok()
        .and_then(|v| v.as_str().ok())
        .unwrap_or("?")
        .chars()
        .take(64)
        .collect::<String>();
    Error::VaultDamaged(format!("record {id}: {what} is not valid"))
}

/// [`crate::record::from_row`], with stored JSON that does not parse reported as a
/// damaged vault naming the record.
fn record_from_row(row: &rusqlite::Row<'_>) -> Result<Record> {
    crate::record::from_row(row).map_err(|e| match e {
        rusqlite::Error::FromSqlConversionFailure(i @ (2 | 3), ..) => {
            let id: String = row.get(0).unwrap_or_default();
            let what = if i == 2 { "fields" } else { "tags" };
            Error::VaultDamaged(format!("record {id}: {what} is not valid JSON"))
        }
        e => e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spill_holds_only_ciphertext_and_reads_back_what_was_written() {
        let named = tempfile::NamedTempFile::new().unwrap();
        let mut spill = Spill::new(named.reopen().unwrap()).unwrap();
        let line = b"{\"id\":\"r1\",\"fields\":{\"iban\":\"DE89370400440532013000\"}}\n";
        for _ in 0..10_000 {
            spill.write_all(line).unwrap();
        }
        let mut back = Vec::new();
        spill.read_back().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, line.repeat(10_000));
        let raw = std::fs::read(named.path()).unwrap();
        assert!(raw.starts_with(b"age-encryption.org/v1\n"));
        assert!(raw.len() > back.len(), "the whole stream went to the file");
        assert!(
            !raw.windows(10).any(|w| w == b"DE89370400"),
            "plaintext on disk"
        );
    }

    #[test]
    fn members_are_copied_only_at_exactly_the_sizes_the_manifest_names() {
        let data = b"{\"a\":1}\n{\"b\":2}\n";
        let copy = |spilled: &[u8]| {
            let mut out = Vec::new();
            let sizes = [(Member::Records, data.len() as u64)];
            let r = write_members(&mut out, &mut &spilled[..], b"{}", &sizes, 0, &mut |_| {});
            (r, out)
        };
        let (ok, out) = copy(data);
        ok.unwrap();
        assert!(out.windows(data.len()).any(|w| w == data));
        for bad in [&data[..data.len() - 1], &[data.as_slice(), b"x"].concat()] {
            let err = copy(bad).0.unwrap_err();
            assert!(err.to_string().contains("temporary file"), "{err}");
        }
    }
}
