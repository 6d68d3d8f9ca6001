//! Atomic file writes: a temp file in the same directory, fsync, rename, fsync the
//! directory. A crash leaves either the old file or the new one, never a half-written one.
//!
//! The temp file comes from `tempfile`: a random name opened with `O_CREAT|O_EXCL` and
//! mode 0600, so another local user can neither pre-create it (and read what is
//! written), nor redirect it through a symlink (an existing name, a link included, makes
//! the open fail and a fresh name is drawn).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written next to its final path; `commit` renames it into place.
/// Dropped without `commit`, the temp file is removed.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts writing `dest` (mode 0600 on Unix).
    pub fn create(dest: &Path) -> Result<Self> {
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .ok_or_else(|| Error::InvalidInput(format!("{} is not a file path", dest.display())))?;
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o600));
        }
        let tmp = builder.tempfile_in(dir).map_err(|e| {
            Error::io(
                format!("can't write a temporary file in {}", dir.display()),
                e,
            )
        })?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The directory the file is written in.
    pub fn dir(&self) -> &Path {
        self.tmp.path().parent().unwrap_or(Path::new("."))
    }

    /// The open temp file.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// fsyncs the data, renames it over `dest` (a symlink there is replaced, never
    /// followed), then fsyncs the directory.
    pub fn commit(self) -> Result<()> {
        self.put_in_place(true)
    }

    /// [`commit`](Self::commit), but only if nothing is at `dest`: the check and the
    /// rename are one step (a link, no rename over), so a file that appears at `dest`
    /// meanwhile is never replaced; then [`Error::FileExists`] and the temp file is removed.
    pub fn commit_new(self) -> Result<()> {
        self.put_in_place(false)
    }

    fn put_in_place(self, replace: bool) -> Result<()> {
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("can't sync {}", self.tmp.path().display()), e))?;
        let placed = if replace {
            self.tmp.persist(&self.dest)
        } else {
            self.tmp.persist_noclobber(&self.dest)
        };
        placed.map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists if !replace => Error::FileExists(self.dest.clone()),
            _ => Error::io(format!("can't write {}", self.dest.display()), e.error),
        })?;
        sync_dir(self.dest.parent().unwrap_or(Path::new(".")))?;
        Ok(())
    }
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.file()
        .write_all(bytes)
        .map_err(|e| Error::io(format!("can't write {}", dest.display()), e))?;
    f.commit()
}

/// fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(d)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(format!("can't sync {}", d.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// M5: the temp name was `.NAME.tmpPID`, opened without O_EXCL: another local user
    /// who created that name first (mode 0666) got the data, and a symlink there sent
    /// it elsewhere. Now the name is random, the open exclusive and the mode 0600.
    #[cfg(unix)]
    #[test]
    fn a_planted_temp_file_or_symlink_never_receives_the_data_m5() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("export.trove");
        let elsewhere = dir.path().join("elsewhere");
        let planted = dir
            .path()
            .join(format!(".export.trove.tmp{}", std::process::id()));
        std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
        let umask_free = {
            use std::os::unix::fs::PermissionsExt;
            let q = dir.path().join(".export.trove.tmp");
            fs::write(&q, b"").unwrap();
            fs::set_permissions(&q, fs::Permissions::from_mode(0o666)).unwrap();
            q
        };
        write_atomic(&p, b"secret export").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"secret export");
        assert!(!elsewhere.exists(), "the write followed a planted symlink");
        assert_eq!(
            fs::read(&umask_free).unwrap(),
            b"",
            "a planted file got the data"
        );
        assert_eq!(mode(&p), 0o600);
        // A symlink at the destination is replaced, not followed.
        let target = dir.path().join("target");
        fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(!fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(mode(&link), 0o600);
    }

    #[test]
    fn write_atomic_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.json");
        write_atomic(&p, b"first version, longer").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "temp files left behind: {names:?}");
    }

    #[test]
    fn commit_new_never_replaces_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("backup.trove");
        let mut f = AtomicFile::create(&p).unwrap();
        f.file().write_all(b"first").unwrap();
        f.commit_new().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"first");

        // The file appears after the write started (another program, a second export).
        let mut f = AtomicFile::create(&p).unwrap();
        f.file().write_all(b"second").unwrap();
        let err = f.commit_new().unwrap_err();
        assert!(matches!(&err, Error::FileExists(q) if q == &p), "{err:?}");
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the temp file was left behind"
        );

        // A dangling symlink is something there too: neither followed nor replaced.
        #[cfg(unix)]
        {
            let link = dir.path().join("link.trove");
            std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
            let mut f = AtomicFile::create(&link).unwrap();
            f.file().write_all(b"x").unwrap();
            assert!(matches!(f.commit_new(), Err(Error::FileExists(_))));
            assert!(!dir.path().join("nowhere").exists());
            assert!(fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
        }
    }

    #[test]
    fn dropped_uncommitted_file_leaves_destination_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.json");
        write_atomic(&p, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.file().write_all(b"half").unwrap();
        }
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
