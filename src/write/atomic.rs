//! Write-to-temporary-then-rename, so a reader never sees a partial file.

use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};

/// Removes the temporary file unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates a fresh temporary file beside `target`.
fn create_temp(target: &Path) -> Result<(File, TempFile)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target.file_name().ok_or_else(|| {
        Error::new(ErrorKind::Io).with_detail(format!("{} names no file", target.display()))
    })?;
    loop {
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.{unique}.tmp", std::process::id()));
        let path = dir.join(temp_name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, TempFile { path, armed: true })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let detail = format!("creating a temporary file in {}: {e}", dir.display());
                return Err(Error::from(e).with_detail(detail));
            }
        }
    }
}

/// A file that appears at its path only when [`AtomicFile::commit`] is called.
///
/// Bytes go to a temporary file in the target's directory. `commit` flushes
/// and syncs it, renames it over the target, and on Unix syncs the
/// directory. Dropping it uncommitted removes the temporary file, so an
/// existing file at the target is never touched by a failed write.
pub struct AtomicFile {
    out: BufWriter<File>,
    temp: TempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing a file that will replace `target`.
    pub fn create(target: impl AsRef<Path>) -> Result<Self> {
        let target = target.as_ref();
        let (file, temp) = create_temp(target)?;
        Ok(AtomicFile {
            out: BufWriter::with_capacity(1 << 20, file),
            temp,
            target: target.to_owned(),
        })
    }

    /// Makes the file durable and moves it into place.
    pub fn commit(self) -> Result<()> {
        let AtomicFile {
            out,
            mut temp,
            target,
        } = self;
        let file = out.into_inner().map_err(|e| Error::from(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp.path, &target)?;
        temp.armed = false;
        #[cfg(unix)]
        {
            let dir = target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for AtomicFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicFile")
            .field("target", &self.target)
            .field("temporary", &self.temp.path)
            .finish()
    }
}

impl std::io::Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
