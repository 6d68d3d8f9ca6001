//! Atomic file writes: temp file in the same directory, fsync, rename, fsync the directory.
//! A crash leaves either the old file or the new one, never a half-written one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written next to its final path; `commit` renames it into place.
/// Dropped without `commit`, the temp file is removed.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
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
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = dir.join(tmp_name);
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(&tmp)
            .map_err(|e| Error::io(format!("can't write {}", tmp.display()), e))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(file),
        })
    }

    /// The directory the file is written in.
    pub fn dir(&self) -> &Path {
        self.tmp.parent().unwrap_or(Path::new("."))
    }

    /// The open temp file.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file present until commit")
    }

    /// fsyncs the data, renames it over `dest`, then fsyncs the directory.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("file present until commit");
        file.sync_all()
            .map_err(|e| Error::io(format!("can't sync {}", self.tmp.display()), e))?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)
            .map_err(|e| Error::io(format!("can't write {}", self.dest.display()), e))?;
        sync_dir(self.dest.parent().unwrap_or(Path::new(".")))?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
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
