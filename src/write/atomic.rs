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
//! synced, so a writer killed while writing leaves nothing behind (one
//! killed between naming the file and renaming it leaves the hidden name).

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
        temp_name.push(short(name));
        temp_name.push(format!(".{}.{unique}.tmp", std::process::id()));
        let path = dir.join(temp_name);
        match make(&path) {
            Ok(made) => return Ok((made, TempName { path, armed: true })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let detail = format!("creating a temporary file in {}", dir.display());
                return Err(Error::from(e).with_detail(detail));
            }
        }
    }
}

/// At most the first 200 bytes of a file name (on Unix; elsewhere 100
/// characters), so the temporary name beside a long one stays within the
/// 255 bytes filesystems allow.
fn short(name: &std::ffi::OsStr) -> std::ffi::OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = name.as_bytes();
        std::ffi::OsStr::from_bytes(&bytes[..bytes.len().min(200)]).to_owned()
    }
    #[cfg(not(unix))]
    {
        name.to_string_lossy()
            .chars()
            .take(100)
            .collect::<String>()
            .into()
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

    /// An unnamed file in `dir` made with `mode` (less the umask), or `None` where the filesystem or kernel
    /// has none, or `/proc` (needed to name it) is not mounted.
    pub(super) fn create(dir: &Path, mode: u32) -> Option<File> {
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .mode(mode)
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
struct Writeback {
    /// Bytes handed to the file.
    written: u64,
    /// Writeback was requested for `..started`, and waited for `..waited`.
    started: u64,
    waited: u64,
    /// Bytes between two requests.
    window: u64,
    /// Off where there is no `sync_file_range` (other systems, or a
    /// filesystem or kernel that answers "not supported").
    on: bool,
}

impl Writeback {
    fn new() -> Self {
        Writeback {
            written: 0,
            started: 0,
            waited: 0,
            window: WINDOW,
            on: cfg!(target_os = "linux"),
        }
    }

    /// Called after `out` has accepted more bytes; flushes the buffer and
    /// requests writeback once a window is full.
    fn advance(&mut self, out: &mut BufWriter<File>, accepted: usize) -> io::Result<()> {
        self.written = u64::try_from(accepted)
            .ok()
            .and_then(|n| self.written.checked_add(n))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
        if self.on && self.written.saturating_sub(self.started) >= self.window {
            out.flush()?;
            self.request(out.get_ref())?;
        }
        Ok(())
    }

    /// Requests writeback of the bytes written since the last request, and
    /// waits for the window before. The wait is where the kernel reports a
    /// writeback error (EIO, ENOSPC) *once* for this open file: the final
    /// `fsync` would not see it again, so it is returned here and the
    /// caller keeps it.
    #[cfg(target_os = "linux")]
    fn request(&mut self, file: &File) -> io::Result<()> {
        use std::os::unix::io::AsRawFd;
        let fd = file.as_raw_fd();
        let result = sync_range(fd, self.started, self.written, libc::SYNC_FILE_RANGE_WRITE)
            .and_then(|()| {
                if self.waited >= self.started {
                    return Ok(());
                }
                let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER;
                sync_range(fd, self.waited, self.started, wait)
            });
        match result {
            Ok(()) => {
                self.waited = self.started;
                self.started = self.written;
                Ok(())
            }
            // Only the windows are lost: `commit`'s fsync still makes the
            // bytes durable and reports every error.
            Err(e) if unsupported(&e) => {
                self.on = false;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn request(&mut self, _file: &File) -> io::Result<()> {
        Ok(())
    }
}

/// The answers of a `sync_file_range` that cannot work here (no such call,
/// a filesystem without it, not a file), as opposed to a failed writeback.
#[cfg(target_os = "linux")]
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EINVAL | libc::ESPIPE | libc::EOPNOTSUPP)
    )
}

/// `sync_file_range(fd, from, to - from, flags)`. A range that does not fit
/// the call's types is `EINVAL` (it turns the windows off).
#[cfg(target_os = "linux")]
fn sync_range(fd: libc::c_int, from: u64, to: u64, flags: libc::c_uint) -> io::Result<()> {
    let invalid = || io::Error::from_raw_os_error(libc::EINVAL);
    let offset = libc::off64_t::try_from(from).map_err(|_| invalid())?;
    let len = to
        .checked_sub(from)
        .and_then(|len| libc::off64_t::try_from(len).ok())
        .ok_or_else(invalid)?;
    #[cfg(test)]
    if let Some(errno) = fault::take(flags) {
        return Err(io::Error::from_raw_os_error(errno));
    }
    // SAFETY: `fd` is an open descriptor (borrowed from a `File` that
    // outlives the call); the call reads no memory of ours.
    let status = unsafe { libc::sync_file_range(fd, offset, len, flags) };
    if status == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A seam for the unit tests: errors the kernel gives only on failing
/// hardware, injected into this thread's `sync_file_range` calls.
#[cfg(all(test, target_os = "linux"))]
pub(crate) mod fault {
    use std::cell::Cell;

    std::thread_local! {
        static NEXT: Cell<Option<(libc::c_uint, i32)>> = const { Cell::new(None) };
        static CALLS: Cell<u32> = const { Cell::new(0) };
        static NAMED_ONLY: Cell<bool> = const { Cell::new(false) };
        static DIR_SYNC: Cell<Option<(u32, i32)>> = const { Cell::new(None) };
    }

    /// The next directory sync in `commit` fails with `errno`.
    pub(super) fn fail_dir_sync(errno: i32) {
        fail_dir_sync_after(0, errno);
    }

    /// The directory sync after the next `skip` ones fails with `errno`.
    pub(crate) fn fail_dir_sync_after(skip: u32, errno: i32) {
        DIR_SYNC.with(|next| next.set(Some((skip, errno))));
    }

    pub(super) fn dir_sync() -> std::io::Result<()> {
        match DIR_SYNC.with(Cell::take) {
            Some((0, errno)) => Err(std::io::Error::from_raw_os_error(errno)),
            Some((skip, errno)) => {
                DIR_SYNC.with(|next| next.set(Some((skip - 1, errno))));
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Whether files made on this thread must be named ones (the fallback
    /// where there is no `O_TMPFILE`).
    pub(super) fn named_only() -> bool {
        NAMED_ONLY.with(Cell::get)
    }

    pub(super) fn set_named_only(on: bool) {
        NAMED_ONLY.with(|named| named.set(on));
    }

    /// The next call whose flags include all of `flags` fails with `errno`.
    pub(super) fn fail_next(flags: libc::c_uint, errno: i32) {
        NEXT.with(|next| next.set(Some((flags, errno))));
    }

    /// How many calls this thread has made.
    pub(super) fn calls() -> u32 {
        CALLS.with(Cell::get)
    }

    pub(super) fn take(flags: libc::c_uint) -> Option<i32> {
        CALLS.with(|calls| calls.set(calls.get().saturating_add(1)));
        NEXT.with(|next| match next.get() {
            Some((when, errno)) if flags & when == when => {
                next.set(None);
                Some(errno)
            }
            _ => None,
        })
    }
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
/// # Errors are kept
///
/// Once a write, a flush or a writeback fails, the file is spoiled: every
/// later write returns the same error, and so does `commit`, which then
/// renames nothing (the temporary file goes away with the value). A caller
/// that ignores a failed write, or retries it, cannot commit a file with
/// bytes missing or doubled. Writeback errors the kernel reports only once
/// (since Linux 4.14 a failed writeback is told to the first caller that
/// waits for it, and the final `fsync` of the same file then succeeds) are
/// caught where the writer waits for a window, and kept the same way.
///
/// # Permissions and owner
///
/// The new file gets the permission bits (read, write and execute for
/// owner, group and others) of the file it replaces, and its owner and
/// group where the process may set them (root may; others may keep their
/// own files' group). A private `0600` checkpoint stays private. A new file
/// gets what [`File::create`] would give it: `0666` less the umask (or the
/// directory's default ACL). While being written the temporary file is
/// `0600` when it replaces a file, so a hidden named file shows nothing the
/// old one did not. Set-user-ID, set-group-ID and sticky bits are not
/// carried over. Other hard links to the old file keep the old bytes.
///
/// # Symbolic links
///
/// A target that is a symbolic link is written through, as editors do and
/// as [`File::create`] would: the links (a chain of them) are followed to
/// the file they name, that file is replaced atomically in its own
/// directory, and every link stays as it was. The kernel follows them
/// (Linux: an `O_PATH` open), so its protections hold: with
/// `fs.protected_symlinks`, a link another user planted in a shared
/// sticky directory such as `/tmp` is refused, not followed. A link that
/// names no file is refused (create the file, or remove the link). In a
/// Hugging Face cache, where `snapshots/REV/NAME` links to
/// `blobs/HASH`, the blob is replaced: every snapshot that shares it sees
/// the new file, and the blob's name no longer is the hash of its bytes. To
/// replace a link itself with a file, remove it first.
///
/// An existing target that is not a regular file (a directory, a device,
/// a pipe) is refused by [`AtomicFile::create`].
///
/// # What `commit` guarantees
///
/// When `commit` returns `Ok`, the new file is complete, synced to disk
/// and in place under the target's name, and the directory that holds it
/// is synced (Unix), so the new file is what a reader finds, even after a
/// power cut.
///
/// When `commit` returns an error from any step before the rename
/// (writing, syncing the file, setting its permissions, naming it), the
/// target was not touched and nothing is left beside it.
///
/// When the rename succeeded but syncing the directory afterwards failed
/// (or the directory could not be opened to sync it), `commit` returns
/// that error, and: the target already names the new file, complete and
/// synced, which every reader now sees; the old file is no longer in the
/// directory; but the rename itself may not be on disk, so after a power
/// cut or a crash of the system the target may be the old file again
/// (whole) or the new one (whole), never a mix. Writing the same file
/// again, or syncing the directory, settles it.
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
    /// The path given.
    target: PathBuf,
    /// The file replaced: `target` with symbolic links followed.
    dest: PathBuf,
    writeback: Writeback,
    /// What was at `dest` when writing began, if anything: whose
    /// permissions the new file takes should it be gone by `commit`.
    #[cfg(unix)]
    replacing: Option<fs::Metadata>,
    /// The first error met: every later write and `commit` return it.
    failed: Option<io::Error>,
    /// How bytes from another file are copied in: `copy_file_range` until
    /// it is refused, then writes from a map until a range cannot be
    /// mapped, then reads.
    method: super::copy::Method,
}

impl AtomicFile {
    /// Starts writing a file that will replace `target` (or, if `target`
    /// is a symbolic link, the file it leads to).
    ///
    /// Fails if the temporary file cannot be created in the directory, if
    /// the links lead nowhere (a loop), or if the file there is not a
    /// regular file. Errors name `target`.
    pub fn create(target: impl AsRef<Path>) -> Result<Self> {
        let target = target.as_ref();
        Self::create_at(target).map_err(|e| e.in_file(target))
    }

    fn create_at(target: &Path) -> Result<Self> {
        let dest = follow_links(target)
            .map_err(|e| Error::from(e).with_detail("following the symbolic link"))?;
        // Where the links lead, for errors about the file there.
        let via = |e: Error| {
            if dest == target {
                e
            } else {
                e.with_detail(format!("the link leads to {}", dest.display()))
            }
        };
        let replacing = match fs::metadata(&dest) {
            Ok(meta) if meta.is_file() => Some(meta),
            Ok(_) => {
                let refused = io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file, so not replaced",
                );
                return Err(via(Error::from(refused)));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(via(Error::from(e))),
        };
        // A file that replaces another is private until it has the other's
        // permissions; a new one gets the usual default (the kernel
        // applies the umask to 0666, as for `File::create`).
        let mode = if replacing.is_some() { 0o600 } else { 0o666 };
        #[cfg(not(unix))]
        let _ = (mode, replacing.as_ref());
        let (file, temp) = match create_unnamed(parent_dir(&dest), mode) {
            #[cfg(target_os = "linux")]
            Some(file) => (file, Temp::Unnamed),
            _ => {
                let create = |path: &Path| {
                    let mut options = OpenOptions::new();
                    options.write(true).create_new(true);
                    #[cfg(unix)]
                    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
                    options.open(path)
                };
                let (file, name) = at_free_name(&dest, create)?;
                (file, Temp::Named(name))
            }
        };
        Ok(AtomicFile {
            out: BufWriter::with_capacity(1 << 20, file),
            temp,
            target: target.to_owned(),
            dest,
            writeback: Writeback::new(),
            #[cfg(unix)]
            replacing,
            failed: None,
            method: super::copy::first_method(),
        })
    }

    /// Whether the bytes are going to a file without a name (Linux
    /// `O_TMPFILE`), which a crash cannot leave behind.
    pub fn is_unnamed(&self) -> bool {
        !matches!(self.temp, Temp::Named(_))
    }

    /// Makes the file durable and moves it into place: see "What `commit`
    /// guarantees" above. Errors name the target and say which step
    /// failed; after an earlier failed write, that write's error is
    /// returned and nothing is renamed.
    pub fn commit(self) -> Result<()> {
        self.commit_placing(&mut false)
    }

    /// [`AtomicFile::commit`], setting `placed` once the new file has taken
    /// its name: a failure after that (syncing the directory) leaves it in
    /// place, which a caller undoing a set of files must know.
    pub(crate) fn commit_placing(self, placed: &mut bool) -> Result<()> {
        let target = self.target.clone();
        self.commit_at(placed).map_err(|e| e.in_file(&target))
    }

    fn commit_at(self, placed: &mut bool) -> Result<()> {
        let AtomicFile {
            out,
            temp,
            dest,
            failed,
            #[cfg(unix)]
            replacing,
            ..
        } = self;
        if let Some(e) = failed {
            // The buffer may hold bytes after a gap: drop them unwritten.
            drop(out.into_parts());
            return Err(Error::from(e).with_detail("writing failed earlier; nothing was committed"));
        }
        let step = |what: &'static str| move |e: io::Error| Error::from(e).with_detail(what);
        let file = out
            .into_inner()
            .map_err(|e| Error::from(e.into_error()).with_detail("writing"))?;
        #[cfg(unix)]
        take_permissions(&file, &dest, replacing.as_ref())
            .map_err(step("giving the new file the permissions of the old"))?;
        file.sync_all().map_err(step("syncing the new file"))?;
        let mut name = match temp {
            Temp::Named(name) => name,
            #[cfg(target_os = "linux")]
            Temp::Unnamed => at_free_name(&dest, |path| unnamed::link(&file, path))?.1,
        };
        drop(file);
        let replaced = open_replaced(&dest);
        fs::rename(&name.path, &dest).map_err(|e| {
            let detail = format!("renaming {} into place", name.path.display());
            Error::from(e).with_detail(detail)
        })?;
        name.armed = false;
        *placed = true;
        #[cfg(unix)]
        {
            let dir = parent_dir(&dest);
            let synced = File::open(dir).and_then(|d| d.sync_all());
            #[cfg(all(test, target_os = "linux"))]
            let synced = synced.and_then(|()| fault::dir_sync());
            synced.map_err(|e| {
                let detail = format!(
                    "syncing the directory {} after the rename (the new file is in place, \
                     but may not survive a power cut)",
                    dir.display()
                );
                Error::from(e).with_detail(detail)
            })?;
        }
        release(replaced);
        Ok(())
    }

    /// Writes out what is buffered and frees the buffer, for a file that
    /// waits for its commit while others are written (the shards of a
    /// checkpoint are all written before any is put in place).
    pub(crate) fn seal(&mut self) -> Result<()> {
        self.flush()
            .map_err(|e| Error::from(e).with_detail("writing"))?;
        // Synced now, so that what is left for `commit` is naming the file:
        // a disk that fails does so before any file of the set is in place.
        let synced = self.out.get_ref().sync_all();
        self.keep(synced)
            .map_err(|e| Error::from(e).with_detail("syncing the new file"))?;
        // The same open file, behind a buffer of no size; the old handle
        // (its buffer now empty) is closed.
        let file = self.out.get_ref().try_clone()?;
        self.out = BufWriter::with_capacity(0, file);
        Ok(())
    }

    /// Appends `len` bytes at `offset` of `from` (which must hold them),
    /// calling `done` with the bytes copied so far after each piece of at
    /// most 8 MiB: with `copy_file_range` where it works (Linux), else
    /// with writes from a read-only map of the range (Unix), else with
    /// positioned reads. Writeback windows are requested as for
    /// written bytes. A source that is or becomes too short is
    /// [`ErrorKind::FileChanged`]; any error is kept, as a failed write is.
    pub(crate) fn copy_from(
        &mut self,
        from: &File,
        offset: u64,
        len: u64,
        done: &mut dyn FnMut(u64),
    ) -> Result<()> {
        self.check()
            .map_err(|e| Error::from(e).with_detail("writing"))?;
        let result = self.copy_unkept(from, offset, len, done);
        if let Err(e) = &result {
            if self.failed.is_none() {
                self.failed = Some(match e.io_error() {
                    Some(io) => super::replay(io),
                    None => io::Error::other(e.to_string()),
                });
            }
        }
        result
    }

    fn copy_unkept(
        &mut self,
        from: &File,
        offset: u64,
        len: u64,
        done: &mut dyn FnMut(u64),
    ) -> Result<()> {
        use super::copy::{self, Copied, Method};
        // Checked for an empty range too, as the writers that read do: an
        // offset past the source's end is refused however many bytes.
        copy::check_holds(from, offset, len)?;
        if len == 0 {
            return Ok(());
        }
        // Checked by `check_holds`.
        let end = offset + len;
        let writing = |e: io::Error| Error::from(e).with_detail("writing");
        // The copy goes to the file's position: after every byte written.
        self.out.flush().map_err(writing)?;
        let mut at = offset;
        while at < end {
            if self.method == Method::Map {
                match copy::write_mapped(from, at, end - at, self.out.get_ref()) {
                    Ok(Some(n)) => {
                        let asked = (end - at).min(copy::PIECE);
                        let piece_end = at + asked;
                        let n = n.min(asked);
                        at += n;
                        self.writeback
                            .advance(&mut self.out, n as usize)
                            .map_err(writing)?;
                        // The page holding a new end of the source reads
                        // as zeros past it, and `write` takes them without
                        // complaint: the source must still reach the
                        // piece's end for the piece to be its bytes.
                        copy::check_reaches(from, piece_end)?;
                        if n < asked {
                            // A fault (EFAULT) on a range that is there:
                            // an I/O error on a page, not an end. The rest
                            // of the piece is read instead, which gives
                            // the real error, or the bytes.
                            let (out, writeback) = (&mut self.out, &mut self.writeback);
                            copy::read_range(from, at, piece_end - at, &mut |piece| {
                                out.write_all(piece)
                                    .and_then(|()| writeback.advance(out, piece.len()))
                                    .map_err(writing)
                            })?;
                            // The next map writes at the file's position.
                            self.out.flush().map_err(writing)?;
                            at = piece_end;
                        }
                        done(at - offset);
                    }
                    Ok(None) => self.method = copy::fallback(Method::Map),
                    Err(e) => return Err(writing(e)),
                }
                continue;
            }
            if self.method == Method::Read {
                let (out, writeback) = (&mut self.out, &mut self.writeback);
                let start = at - offset;
                let mut so_far = 0;
                return copy::read_range(from, at, end - at, &mut |piece| {
                    out.write_all(piece)
                        .and_then(|()| writeback.advance(out, piece.len()))
                        .map_err(writing)?;
                    so_far += piece.len() as u64;
                    done(start + so_far);
                    Ok(())
                });
            }
            match copy::copy_range(from, at, self.out.get_ref(), end - at) {
                Ok(Copied::Bytes(0)) => {
                    // Some filesystems (overlayfs, procfs, some FUSE ones)
                    // answer 0 for a range that is there: if the source
                    // still holds it, the call is of no use here, and the
                    // next method copies the rest.
                    copy::check_reaches(from, end)?;
                    self.method = copy::fallback(Method::CopyRange);
                }
                Ok(Copied::Bytes(n)) => {
                    // At most the piece asked for, which is at most 8 MiB.
                    let n = n.min(end - at);
                    at += n;
                    self.writeback
                        .advance(&mut self.out, n as usize)
                        .map_err(writing)?;
                    done(at - offset);
                }
                Ok(Copied::Unsupported) => self.method = copy::fallback(Method::CopyRange),
                Err(e) => {
                    return Err(Error::from(e).with_detail("copying from the source file"));
                }
            }
        }
        Ok(())
    }

    /// How bytes from another file go in now (for tests).
    #[cfg(test)]
    pub(crate) fn method(&self) -> super::copy::Method {
        self.method
    }

    /// Refuses bytes after an error.
    fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some(e) => Err(super::replay(e)),
            None => Ok(()),
        }
    }

    /// Keeps the first error (an interrupted call, which wrote nothing, is
    /// not one).
    fn keep<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            if e.kind() != io::ErrorKind::Interrupted && self.failed.is_none() {
                self.failed = Some(super::replay(e));
            }
        }
        result
    }
}

/// The file at `path`, with symbolic links followed: the path itself if it
/// is no link (or names nothing yet).
///
/// The kernel follows the links (an `O_PATH` open, then the path it found),
/// so its protections apply: with `fs.protected_symlinks`, a link planted
/// by another user in a shared sticky directory such as `/tmp` is not
/// followed, and a process running as root cannot be steered into
/// replacing a file elsewhere. A link that leads nowhere is refused.
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {}
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => return Ok(path.to_owned()),
    }
    let resolved = resolve(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            let to = fs::read_link(path)
                .map(|to| to.display().to_string())
                .unwrap_or_default();
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("a symbolic link to {to}, which names no file: create that file or remove the link"),
            )
        } else {
            e
        }
    })?;
    Ok(resolved)
}

/// Where the kernel's path walk leads `path` (links followed).
#[cfg(target_os = "linux")]
fn resolve(path: &Path) -> io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    // O_PATH opens without reading (a pipe does not block) and follows
    // links under the kernel's rules.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)?;
    // The path the kernel reports must still lead to the file it opened:
    // not if the file was removed or replaced meanwhile (" (deleted)"), or
    // if it lies in another mount namespace.
    use std::os::unix::fs::MetadataExt;
    let opened = file.metadata()?;
    let same = |found: &Path| {
        fs::metadata(found).is_ok_and(|m| (m.dev(), m.ino()) == (opened.dev(), opened.ino()))
    };
    let found = fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .ok()
        .filter(|found| same(found));
    match found {
        Some(found) => Ok(found),
        // Without /proc (or where it named another file), the C library's
        // realpath, held to the same check.
        None => {
            let found = fs::canonicalize(path)?;
            if same(&found) {
                Ok(found)
            } else {
                Err(io::Error::other(
                    "the file the link names changed while it was followed",
                ))
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn resolve(path: &Path) -> io::Result<PathBuf> {
    fs::canonicalize(path)
}

/// An unnamed file in `dir` where there can be one.
fn create_unnamed(dir: &Path, mode: u32) -> Option<File> {
    #[cfg(all(test, target_os = "linux"))]
    if fault::named_only() {
        return None;
    }
    #[cfg(target_os = "linux")]
    return unnamed::create(dir, mode);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (dir, mode);
        None
    }
}

/// Gives `file` the permission bits, owner and group of the regular file
/// now at `dest` (or, if there is none any more, of the one there when
/// writing began). Changing owner or group is skipped where it is not
/// permitted (`EPERM`, or `EINVAL` for an owner this system cannot name).
#[cfg(unix)]
fn take_permissions(file: &File, dest: &Path, earlier: Option<&fs::Metadata>) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // Not following links: should a link have been put at `dest` since
    // writing began, it is not what is replaced.
    let now = fs::symlink_metadata(dest)
        .ok()
        .filter(fs::Metadata::is_file);
    let Some(old) = now.as_ref().or(earlier) else {
        return Ok(());
    };
    let mine = file.metadata()?;
    if (mine.uid(), mine.gid()) != (old.uid(), old.gid()) {
        let refused = |e: &io::Error| {
            e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EINVAL)
        };
        match std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid())) {
            // An owner may still give a file any group they belong to.
            Err(e) if refused(&e) => match std::os::unix::fs::fchown(file, None, Some(old.gid())) {
                Err(e) if refused(&e) => {}
                other => other?,
            },
            other => other?,
        }
    }
    let mode = old.mode() & 0o777;
    if file.metadata()?.mode() & 0o7777 != mode {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    Ok(())
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
            .field("replaces", &self.dest)
            .field("temporary", &temporary)
            .field("written", &self.writeback.written)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        let result = self.out.write(buf).and_then(|n| {
            self.writeback.advance(&mut self.out, n)?;
            Ok(n)
        });
        self.keep(result)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.check()?;
        let result = self
            .out
            .write_all(buf)
            .and_then(|()| self.writeback.advance(&mut self.out, buf.len()));
        self.keep(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        let result = self.out.flush();
        self.keep(result)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh directory holding `model` with `old` in it, mode 0600.
    fn setup(tag: &str, old: &[u8]) -> (PathBuf, PathBuf) {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tensorsafe-unit-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model");
        fs::write(&path, old).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        (dir, path)
    }

    /// A commit that failed with EIO: the error names `path` and `says`
    /// why; `path` holds `contents` with the mode [`setup`] gave the old
    /// file, alone in `dir`, which is then removed.
    fn assert_commit_failed(err: &Error, says: &str, dir: &Path, path: &Path, contents: &[u8]) {
        assert_eq!(
            err.io_error().and_then(io::Error::raw_os_error),
            Some(libc::EIO)
        );
        assert_eq!(err.path(), Some(path));
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(fs::read(path).unwrap(), contents);
        let mode = fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(entries(dir), ["model"]);
        fs::remove_dir_all(dir).unwrap();
    }

    fn entries(dir: &Path) -> Vec<std::ffi::OsString> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    }

    /// Writes three small windows into a file over `path`, the wait for the
    /// first failing as a lost page would make it fail.
    fn write_with_lost_writeback(path: &Path) -> (AtomicFile, io::Error) {
        let mut file = AtomicFile::create(path).unwrap();
        file.writeback.window = 4096;
        let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        fault::fail_next(wait, libc::EIO);
        let before = fault::calls();
        // First window: writeback requested, nothing to wait for yet.
        file.write_all(&[1; 4096]).unwrap();
        assert!(fault::calls() > before, "no writeback was requested");
        // Second window: waiting for the first reports the error.
        let err = file.write_all(&[2; 4096]).unwrap_err();
        (file, err)
    }

    #[test]
    fn a_writeback_error_is_kept_and_nothing_is_committed() {
        for named in [false, true] {
            fault::set_named_only(named);
            let (dir, path) = setup("writeback", b"old");
            let (mut file, err) = write_with_lost_writeback(&path);
            // Named when asked for; unnamed otherwise, where the
            // filesystem has unnamed files (Miri, for one, has none).
            if named {
                assert!(!file.is_unnamed());
            }
            assert_eq!(err.raw_os_error(), Some(libc::EIO));
            // Every later write returns it, even one that would fit in the
            // buffer, and so does flush.
            let again = file.write_all(b"x").unwrap_err();
            assert_eq!(again.raw_os_error(), Some(libc::EIO));
            assert_eq!(
                file.write(b"x").unwrap_err().raw_os_error(),
                Some(libc::EIO)
            );
            assert_eq!(file.flush().unwrap_err().raw_os_error(), Some(libc::EIO));
            let err = file.commit().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Io);
            assert_commit_failed(&err, "writing failed", &dir, &path, b"old");
        }
        fault::set_named_only(false);
    }

    #[test]
    fn an_error_ignored_by_the_caller_still_stops_commit() {
        let (dir, path) = setup("ignored", b"old");
        let (file, _ignored) = write_with_lost_writeback(&path);
        // The fsync that commit makes would succeed: only the kept error
        // stands between these bytes and the target.
        file.out.get_ref().sync_all().unwrap();
        assert!(file.commit().is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(&dir), ["model"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unsupported_writeback_turns_the_windows_off_and_nothing_else() {
        for errno in [libc::ENOSYS, libc::EINVAL, libc::ESPIPE, libc::EOPNOTSUPP] {
            let (dir, path) = setup("unsupported", b"old");
            let mut file = AtomicFile::create(&path).unwrap();
            file.writeback.window = 4096;
            fault::fail_next(libc::SYNC_FILE_RANGE_WRITE, errno);
            file.write_all(&[1; 4096]).unwrap();
            assert!(!file.writeback.on);
            let calls = fault::calls();
            file.write_all(&[2; 3 * 4096]).unwrap();
            assert_eq!(fault::calls(), calls, "windows still requested");
            file.commit().unwrap();
            let mut expected = vec![1; 4096];
            expected.extend([2; 3 * 4096]);
            assert_eq!(fs::read(&path).unwrap(), expected);
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn other_writeback_errors_from_the_first_request_are_kept_too() {
        let (dir, path) = setup("enospc", b"old");
        let mut file = AtomicFile::create(&path).unwrap();
        file.writeback.window = 4096;
        fault::fail_next(libc::SYNC_FILE_RANGE_WRITE, libc::ENOSPC);
        let err = file.write_all(&[1; 4096]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert!(file.commit().is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(&dir), ["model"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_directory_sync_is_reported_with_the_new_file_in_place() {
        for named in [false, true] {
            fault::set_named_only(named);
            let (dir, path) = setup("dirsync", b"old");
            let mut file = AtomicFile::create(&path).unwrap();
            file.write_all(b"new").unwrap();
            fault::fail_dir_sync(libc::EIO);
            let err = file.commit().unwrap_err();
            // As documented: renamed, complete, with the old file's mode,
            // and nothing beside it.
            assert_commit_failed(&err, "the new file is in place", &dir, &path, b"new");
        }
        fault::set_named_only(false);
    }

    #[test]
    fn a_named_temporary_file_is_private_then_takes_the_old_mode() {
        fault::set_named_only(true);
        let (dir, path) = setup("named", b"old");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        assert!(!file.is_unnamed());
        let Temp::Named(name) = &file.temp else {
            unreachable!()
        };
        let while_writing = fs::metadata(&name.path).unwrap().permissions().mode();
        assert_eq!(while_writing & 0o777, 0o600);
        file.write_all(b"new").unwrap();
        file.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(entries(&dir), ["model"]);
        fault::set_named_only(false);
        fs::remove_dir_all(&dir).unwrap();
    }
}
