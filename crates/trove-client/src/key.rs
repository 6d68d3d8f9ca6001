//! The organization's endpoint key: an Ed25519 key that identifies the organization to
//! the person's Trove (grants may be bound to it). Created once, kept in one file.
//!
//! File: a comment line, then the 32-byte secret in lowercase hex. Written atomically
//! (a private temporary file, then linked into place, never over an existing key), mode
//! 0600 in a 0700 directory; a key file others can read is refused.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// The organization's secret endpoint key. No `Clone`, no `Serialize`; Debug shows only
/// the public endpoint id; the secret is zeroized on drop.
pub struct OrgKey(iroh::SecretKey);

/// Why the key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("can't use the key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the key file {path} is damaged (expected a line of 64 hex digits). Restore it from a backup; only if there is none, move it away to create a new key (grants bound to the old key will then refuse this organization)")]
    Damaged { path: PathBuf },
    #[error(
        "the key file {path} can be read by other users (mode {mode:o}): run chmod 600 {path}"
    )]
    TooOpen { path: PathBuf, mode: u32 },
}

impl KeyError {
    /// A stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Io { .. } => "key_io",
            KeyError::Damaged { .. } => "key_damaged",
            KeyError::TooOpen { .. } => "key_too_open",
        }
    }
}

const HEADER: &str =
    "# trove-org endpoint key: keep it secret and back it up (grants may be bound to it)\n";

impl OrgKey {
    /// A new random key.
    pub fn generate() -> OrgKey {
        OrgKey(iroh::SecretKey::generate())
    }

    /// The public endpoint id (64 lowercase hex digits): what the person binds a grant
    /// to (`trove grant create --org-key`) and what their access log shows.
    pub fn endpoint_id(&self) -> String {
        self.0.public().to_string()
    }

    /// Reads the key at `path`.
    pub fn load(path: &Path) -> Result<OrgKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let mode = std::fs::metadata(path).map_err(io)?.mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::TooOpen {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let damaged = || KeyError::Damaged {
            path: path.to_path_buf(),
        };
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let hex = lines.next().ok_or_else(damaged)?;
        if lines.next().is_some() || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(damaged());
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| damaged())?;
        }
        Ok(OrgKey(iroh::SecretKey::from_bytes(&bytes)))
    }

    /// Reads the key at `path`, or creates one there if there is none (`true`: created).
    /// Two processes racing to create it end up with the same key.
    pub fn load_or_create(path: &Path) -> Result<(OrgKey, bool), KeyError> {
        match Self::load(path) {
            Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => return other.map(|k| (k, false)),
        }
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        create_private_dir(dir).map_err(io)?;
        let key = OrgKey::generate();
        let mut text = Zeroizing::new(String::from(HEADER));
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in Zeroizing::new(key.0.to_bytes()).iter() {
            text.push(HEX[usize::from(b >> 4)] as char);
            text.push(HEX[usize::from(b & 15)] as char);
        }
        text.push('\n');
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("key"),
            std::process::id()
        ));
        let written = write_private(&tmp, text.as_bytes());
        // A hard link never replaces an existing file: whoever links first wins.
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(dir);
                Ok((key, true))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Self::load(path).map(|k| (k, false))
            }
            Err(e) => Err(io(e)),
        }
    }

    pub(crate) fn secret(&self) -> &iroh::SecretKey {
        &self.0
    }
}

impl fmt::Debug for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgKey(endpoint id {}, secret ***)", self.endpoint_id())
    }
}

/// Creates `dir` (and parents) with mode 0700 where it is created.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Writes a new file readable only by its owner and syncs it.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg/trove-org/endpoint.key");
        let (a, created) = OrgKey::load_or_create(&path).unwrap();
        assert!(created);
        let (b, created) = OrgKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(a.endpoint_id(), b.endpoint_id());
        assert_eq!(a.endpoint_id().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["endpoint.key"], "no temporary file is left");
    }

    #[test]
    fn damaged_or_readable_key_files_are_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("endpoint.key");
        write_private(&path, b"# comment\nnot hex\n").unwrap();
        let e = OrgKey::load_or_create(&path).unwrap_err();
        assert_eq!(e.code(), "key_damaged");
        assert!(e.to_string().contains("move it away"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# comment\nnot hex\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::remove_file(&path).unwrap();
            OrgKey::load_or_create(&path).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = OrgKey::load(&path).unwrap_err();
            assert_eq!(e.code(), "key_too_open");
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
    }

    #[test]
    fn debug_shows_only_the_public_id() {
        let k = OrgKey::generate();
        let secret: String = k.0.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let d = format!("{k:?}");
        assert!(d.contains(&k.endpoint_id()));
        assert!(!d.contains(&secret));
    }
}
