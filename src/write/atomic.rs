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

/// Runs `fill` on a buffered writer into a temporary file beside `target`,
/// then makes it durable and renames it over `target`.
pub(crate) fn write(
    target: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let (file, mut temp) = create_temp(target)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    fill(&mut out)?;
    let file = out.into_inner().map_err(|e| Error::from(e.into_error()))?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp.path, target)?;
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
