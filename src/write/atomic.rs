//! Write-to-temporary-then-rename, so a reader never sees a partial file,
//! at the speed of a plain write + fsync.
//!
//! Three things make it as fast as a raw write on Linux: the bytes are
//! handed to the disk as they are written (`sync_file_range` every 64 MiB,
//! waiting for the previous window only), so the final `fsync` has little
//! left to do and the writer is never throttled for a mountain of dirty
//! pages; the file being replaced is released by a short-lived background
//! thread, so freeing its blocks is not part of the write; and the bytes go
//! to an unnamed file (`O_TMPFILE`) that gets a name only once complete and
//! synced, so a writer killed part-way leaves nothing behind.

use std::format;
use std::prelude::rust_2021::*;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};

/// Bytes between two writeback requests: large enough to keep a disk's
/// queue full (8 MiB windows measured slower here), small enough that
/// dirty pages stay bounded (two windows at most).
const WINDOW: u64 = 64 << 20;

/// A replaced file at least this large is released in the background.
const RELEASE_IN_BACKGROUND: u64 = 64 << 20;

/// Removes a named temporary file unless it was renamed into place.
struct TempName {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempName {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Where the bytes are being written.
enum Temp {
    /// A hidden file beside the target, removed if the write fails.
    Named(TempName),
    /// A file without a name (Linux `O_TMPFILE`): nothing to clean up.
    #[cfg(target_os = "linux")]
    Unnamed,
}

/// The directory a target lives in.
fn parent_dir(target: &Path) -> &Path {
    target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes something at a fresh hidden path beside `target`,
/// `.NAME.PID.N.tmp` (`make` fails with `AlreadyExists` when the path is
/// taken, and the next is tried).
fn at_free_name<T>(
    target: &Path,
    mut make: impl FnMut(&Path) -> io::Result<T>,
) -> Result<(T, TempName)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = parent_dir(target);
    let name = target.file_name().ok_or_else(|| {
        Error::new(ErrorKind::Io).with_detail(format!("{} names no file", target.display()))
    })?;
    loop {
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.{unique}.tmp", std::process::id()));
        let path = dir.join(temp_name);
        match make(&path) {
            Ok(made) => return Ok((made, TempName { path, armed: true })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let detail = format!("creating a temporary file in {}: {e}", dir.display());
                return Err(Error::from(e).with_detail(detail));
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod unnamed {
    //! Unnamed files: `open(dir, O_TMPFILE)`, named later with `linkat`.

    use std::ffi::CString;
    use std::format;
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    use std::path::Path;
    use std::string::String;

    /// The path through which an unnamed file can be linked.
    fn proc_path(file: &File) -> String {
        format!("/proc/self/fd/{}", file.as_raw_fd())
    }

    /// An unnamed file in `dir`, or `None` where the filesystem or kernel
    /// has none, or `/proc` (needed to name it) is not mounted.
    pub(super) fn create(dir: &Path) -> Option<File> {
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
            .ok()?;
        std::fs::metadata(proc_path(&file)).ok()?;
        Some(file)
    }

    /// Gives the unnamed `file` the name `to` (which must not exist).
    pub(super) fn link(file: &File, to: &Path) -> io::Result<()> {
        let from = CString::new(proc_path(file))?;
        let to = CString::new(to.as_os_str().as_bytes())?;
        // SAFETY: both arguments are NUL-terminated strings that outlive
        // the call; AT_FDCWD is a valid directory descriptor.
        let status = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if status == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Starts writeback of each window of bytes as it is written and waits for
/// the window before it, so dirty pages never pile up.
#[derive(Default)]
struct Writeback {
    /// Bytes handed to the file.
    written: u64,
    /// Writeback was requested for `..started`, and waited for `..waited`.
    started: u64,
    waited: u64,
}

impl Writeback {
    /// Called after `out` has accepted more bytes; flushes the buffer and
    /// requests writeback once a window is full.
    fn advance(&mut self, out: &mut BufWriter<File>, accepted: usize) -> io::Result<()> {
        self.written += accepted as u64;
        if cfg!(target_os = "linux") && self.written - self.started >= WINDOW {
            out.flush()?;
            self.request(out.get_ref());
        }
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn request(&mut self, file: &File) {
        use std::os::unix::io::AsRawFd;
        let range = |from: u64, to: u64| (from as libc::off64_t, (to - from) as libc::off64_t);
        let fd = file.as_raw_fd();
        // Only advice: failures (a filesystem without it) are ignored, and
        // `commit`'s fsync is what makes the bytes durable either way.
        let (offset, len) = range(self.started, self.written);
        // SAFETY: `fd` is an open descriptor owned by `file`.
        unsafe { libc::sync_file_range(fd, offset, len, libc::SYNC_FILE_RANGE_WRITE) };
        let (offset, len) = range(self.waited, self.started);
        if len > 0 {
            let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            // SAFETY: as above.
            unsafe { libc::sync_file_range(fd, offset, len, wait) };
        }
        self.waited = self.started;
        self.started = self.written;
    }

    #[cfg(not(target_os = "linux"))]
    fn request(&mut self, _file: &File) {}
}

/// A file that appears at its path only when [`AtomicFile::commit`] is called.
///
/// Bytes go to a temporary file in the target's directory: on Linux an
/// unnamed one (`O_TMPFILE`), so a process killed while writing leaves
/// nothing behind; elsewhere, or where the filesystem has no unnamed files,
/// a hidden `.NAME.PID.N.tmp` that is removed if the write fails. `commit`
/// syncs the file, names it, renames it over the target and syncs the
/// directory (Unix), so the target is either the old file or the whole new
/// one, even across a power cut. An existing file at the target is never
/// touched by a failed write.
///
/// For speed, writeback starts as bytes are written (Linux), and a large
/// file that is replaced has its storage released on a short-lived
/// background thread after `commit` returns.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-atomic-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// use std::io::Write;
/// use tensorsafe::AtomicFile;
/// let path = dir.join("notes.txt");
/// std::fs::write(&path, "old")?;
///
/// let mut file = AtomicFile::create(&path)?;
/// file.write_all(b"new")?;
/// assert_eq!(std::fs::read(&path)?, b"old"); // not yet
/// file.commit()?;
/// assert_eq!(std::fs::read(&path)?, b"new");
///
/// // Dropped without commit: the old file stays.
/// let mut file = AtomicFile::create(&path)?;
/// file.write_all(b"half a file")?;
/// drop(file);
/// assert_eq!(std::fs::read(&path)?, b"new");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AtomicFile {
    out: BufWriter<File>,
    temp: Temp,
    target: PathBuf,
    writeback: Writeback,
}

impl AtomicFile {
    /// Starts writing a file that will replace `target`.
    pub fn create(target: impl AsRef<Path>) -> Result<Self> {
        let target = target.as_ref();
        #[cfg(target_os = "linux")]
        let unnamed = unnamed::create(parent_dir(target));
        #[cfg(not(target_os = "linux"))]
        let unnamed: Option<File> = None;
        let (file, temp) = match unnamed {
            #[cfg(target_os = "linux")]
            Some(file) => (file, Temp::Unnamed),
            _ => {
                let create =
                    |path: &Path| OpenOptions::new().write(true).create_new(true).open(path);
                let (file, name) = at_free_name(target, create)?;
                (file, Temp::Named(name))
            }
        };
        Ok(AtomicFile {
            out: BufWriter::with_capacity(1 << 20, file),
            temp,
            target: target.to_owned(),
            writeback: Writeback::default(),
        })
    }

    /// Whether the bytes are going to a file without a name (Linux
    /// `O_TMPFILE`), which a crash cannot leave behind.
    pub fn is_unnamed(&self) -> bool {
        !matches!(self.temp, Temp::Named(_))
    }

    /// Makes the file durable and moves it into place.
    pub fn commit(self) -> Result<()> {
        let AtomicFile {
            out, temp, target, ..
        } = self;
        let file = out.into_inner().map_err(|e| Error::from(e.into_error()))?;
        file.sync_all()?;
        let mut name = match temp {
            Temp::Named(name) => name,
            #[cfg(target_os = "linux")]
            Temp::Unnamed => at_free_name(&target, |path| unnamed::link(&file, path))?.1,
        };
        drop(file);
        let replaced = open_replaced(&target);
        fs::rename(&name.path, &target)?;
        name.armed = false;
        #[cfg(unix)]
        File::open(parent_dir(&target))?.sync_all()?;
        release(replaced);
        Ok(())
    }
}

/// A handle on the large regular file about to be replaced at `target`, so
/// that its storage is freed when the handle is closed rather than inside
/// the rename.
fn open_replaced(target: &Path) -> Option<File> {
    // Only on Unix: elsewhere an open file cannot be renamed over.
    if !cfg!(unix) {
        return None;
    }
    let meta = fs::symlink_metadata(target).ok()?;
    if !meta.is_file() || meta.len() < RELEASE_IN_BACKGROUND {
        return None;
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        // Never block, should something other than a regular file have
        // appeared at the path since.
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(target).ok()?;
    file.metadata().ok()?.is_file().then_some(file)
}

/// Closes the replaced file on a background thread (at once, if no thread
/// can be started).
fn release(replaced: Option<File>) {
    if let Some(file) = replaced {
        let _ = std::thread::Builder::new()
            .name("tensorsafe-release".into())
            .spawn(move || drop(file));
    }
}

impl std::fmt::Debug for AtomicFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let temporary = match &self.temp {
            Temp::Named(name) => Some(&name.path),
            #[cfg(target_os = "linux")]
            Temp::Unnamed => None,
        };
        f.debug_struct("AtomicFile")
            .field("target", &self.target)
            .field("temporary", &temporary)
            .field("written", &self.writeback.written)
            .finish()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.writeback.advance(&mut self.out, n)?;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)?;
        self.writeback.advance(&mut self.out, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
