//! Tensor bytes that are already in a file ([`FileView`]), copied into the
//! file being written without passing through a buffer of ours where the
//! system allows: `copy_file_range` on Linux (in the kernel, and a
//! reflink where the filesystem shares blocks); where it is refused, a
//! `write` from a read-only map of the source range (Unix); where that
//! cannot be mapped, and elsewhere, plain positioned reads into a bounded
//! buffer.

use std::format;
use std::fs::File;
use std::io;
use std::prelude::rust_2021::*;

use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};
use crate::view::View;

/// A tensor whose bytes are in a file: `len` bytes at `offset` of `file`,
/// where `len` is what the dtype and shape need.
///
/// Given to a [`Writer`](crate::Writer) like any other [`View`]. A writer
/// into a file ([`Writer::to_file`](crate::Writer::to_file),
/// [`Writer::sharded`](crate::Writer::sharded)) copies the bytes file to
/// file: on Linux with `copy_file_range` (the kernel copies, and on a
/// filesystem that shares blocks, such as Btrfs or XFS, the blocks may be
/// shared instead of copied); where the call is refused (another
/// filesystem on an older kernel, a filesystem without it), with writes
/// from a read-only map of the source range, 8 MiB at a time (Unix);
/// where the range cannot be mapped, and on other systems, with
/// positioned reads into a buffer of at most 8 MiB. The
/// other writers ([`Writer::to_vec`](crate::Writer::to_vec),
/// [`Writer::to_writer`](crate::Writer::to_writer)) read the bytes in the
/// same bounded pieces. The output is the same bytes as for a
/// [`TensorView`](crate::TensorView) of the same tensor.
///
/// The file must hold the range when it is written: a file shorter than
/// `offset + len` when the copy starts, or one that ends early while it is
/// copied, is [`ErrorKind::FileChanged`], and a file being written is then
/// not committed. On Unix the file's position is neither used nor moved
/// (reads are positioned, and `copy_file_range` is given the offset).
///
/// [`View::data`] reads the bytes into memory; it returns no bytes if the
/// read fails (the writers do not call it and report the error instead).
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-fileview-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// use std::fs::File;
/// use tensorsafe::{Dtype, FileView, SafeTensorsFile, Writer};
/// let raw = dir.join("raw.bin");
/// std::fs::write(&raw, [0u8, 0, 1, 2, 3, 4, 5, 6, 7])?;
/// let file = File::open(&raw)?;
/// // Eight bytes from offset 1.
/// let w = FileView::new(Dtype::U16, [4], &file, 1)?;
/// Writer::new().to_file([("w", w)], dir.join("model.safetensors"))?;
/// let st = SafeTensorsFile::open(dir.join("model.safetensors"))?;
/// assert_eq!(st.tensor("w")?.to_vec::<u16>()?, [0x100, 0x302, 0x504, 0x706]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileView<'f> {
    file: &'f File,
    offset: u64,
    dtype: Dtype,
    shape: Vec<usize>,
    len: usize,
}

impl<'f> FileView<'f> {
    /// The tensor of `dtype` and `shape` whose bytes start at `offset` in
    /// `file`. Fails if its byte length overflows (or does not fit in a
    /// `usize`), or if `offset` plus that length is past 2^64. The file
    /// is not read yet.
    pub fn new(
        dtype: Dtype,
        shape: impl AsRef<[usize]>,
        file: &'f File,
        offset: u64,
    ) -> Result<Self> {
        let shape = shape.as_ref().to_vec();
        let len = dtype.shape_byte_len(&shape)?;
        let len_usize = usize::try_from(len).map_err(|_| {
            Error::new(ErrorKind::Overflow).with_detail(format!("{len} bytes do not fit in memory"))
        })?;
        offset.checked_add(len).ok_or_else(|| {
            Error::new(ErrorKind::Overflow)
                .with_detail(format!("{len} bytes at offset {offset} end past 2^64"))
        })?;
        Ok(FileView {
            file,
            offset,
            dtype,
            shape,
            len: len_usize,
        })
    }

    /// The tensor `info` of the safetensors file `file`, whose header is
    /// `header`: its bytes where the header puts them.
    pub fn of(
        file: &'f File,
        header: &crate::Header,
        info: &crate::TensorInfo<'_>,
    ) -> Result<Self> {
        let offset = header
            .data_start()
            .checked_add(info.data_offsets().0)
            .ok_or_else(|| Error::new(ErrorKind::Overflow).with_tensor(info.name()))?;
        Self::new(info.dtype(), info.shape(), file, offset).map_err(|e| e.with_tensor(info.name()))
    }

    /// The file the bytes are in.
    pub fn file(&self) -> &'f File {
        self.file
    }

    /// Where the bytes start in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl View for FileView<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        let mut out = Vec::new();
        if out.try_reserve_exact(self.len).is_err() {
            return std::borrow::Cow::Owned(Vec::new());
        }
        let read = read_range(self.file, self.offset, self.len as u64, &mut |piece| {
            out.extend_from_slice(piece);
            Ok(())
        });
        match read {
            Ok(()) => std::borrow::Cow::Owned(out),
            Err(_) => std::borrow::Cow::Owned(Vec::new()),
        }
    }

    fn data_len(&self) -> usize {
        self.len
    }

    fn file_range(&self) -> Option<(&File, u64)> {
        Some((self.file, self.offset))
    }
}

/// Bytes read at a time where the bytes are read: the writers' progress
/// step.
pub(crate) const PIECE: u64 = super::CHUNK as u64;

/// The error for a source that ended at `at`, before `end`.
pub(crate) fn ended_early(at: u64, end: u64) -> Error {
    Error::new(ErrorKind::FileChanged).with_detail(format!(
        "the source file ended at byte {at}, within the bytes up to {end} to be copied"
    ))
}

/// Fails with [`ended_early`] unless `file` still reaches `end`: for a
/// copy that stopped or may have read past the source's end at `at`.
pub(crate) fn check_reaches(file: &File, end: u64) -> Result<()> {
    let now = file
        .metadata()
        .map_err(|e| Error::from(e).with_detail("reading the source file's length"))?
        .len();
    if now < end {
        return Err(ended_early(now, end));
    }
    Ok(())
}

/// Fails unless `file` holds `offset..offset + len` now.
pub(crate) fn check_holds(file: &File, offset: u64, len: u64) -> Result<()> {
    let end = offset
        .checked_add(len)
        .ok_or_else(|| Error::new(ErrorKind::Overflow).with_detail("source range past 2^64"))?;
    let now = file
        .metadata()
        .map_err(|e| Error::from(e).with_detail("reading the source file's length"))?
        .len();
    if now < end {
        return Err(Error::new(ErrorKind::FileChanged).with_detail(format!(
            "the source file has {now} bytes, the bytes to copy end at {end}"
        )));
    }
    Ok(())
}

/// Reads `offset..offset + len` of `file` in pieces of at most [`PIECE`]
/// bytes, giving each to `each`. A file that ends early is
/// [`ErrorKind::FileChanged`].
pub(crate) fn read_range(
    file: &File,
    offset: u64,
    len: u64,
    each: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    check_holds(file, offset, len)?;
    let end = offset + len; // checked by `check_holds`
                            // At most PIECE, so it fits in a usize.
    let mut buf = vec![0u8; len.min(PIECE) as usize];
    let mut at = offset;
    while at < end {
        let want = (end - at).min(PIECE) as usize;
        let piece = &mut buf[..want];
        let mut filled = 0;
        while filled < want {
            #[cfg(test)]
            if let Some(errno) = force::take_read_error() {
                let e = io::Error::from_raw_os_error(errno);
                return Err(Error::from(e).with_detail("reading the source file"));
            }
            match read_at(file, &mut piece[filled..], at + filled as u64) {
                Ok(0) => return Err(ended_early(at + filled as u64, end)),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from(e).with_detail("reading the source file")),
            }
        }
        each(piece)?;
        at += want as u64;
    }
    Ok(())
}

/// One positioned read (the file's position is not used, where the system
/// allows).
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, at)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, at)
    }
    #[cfg(not(any(unix, windows)))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(at))?;
        file.read(buf)
    }
}

/// How the bytes of a [`FileView`] get into a file being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// `copy_file_range` (Linux).
    CopyRange,
    /// `write` from a read-only map of the source range (Unix).
    Map,
    /// Positioned reads into a buffer, then writes.
    Read,
}

/// The method to try first: `copy_file_range` on Linux, a map on other
/// Unix systems, reads elsewhere.
pub(crate) fn first_method() -> Method {
    #[cfg(test)]
    if let Some(method) = force::method() {
        return method;
    }
    if cfg!(target_os = "linux") {
        Method::CopyRange
    } else {
        fallback(Method::CopyRange)
    }
}

/// The method after `method` has been refused.
pub(crate) fn fallback(method: Method) -> Method {
    match method {
        Method::CopyRange if cfg!(unix) => Method::Map,
        _ => Method::Read,
    }
}

/// Writes bytes at `offset` (at most `len`, at most [`PIECE`]) of `from`
/// to `to` at its position, from a read-only map of them: the kernel reads
/// the source's pages, no copy passes through memory of ours. `Ok(None)`:
/// the range cannot be mapped here (read it instead). `Ok(Some(n))`: `n`
/// bytes written, fewer than asked if a page of the range faulted
/// (`EFAULT`): the source ended within it, or the page cannot be read
/// (the caller tells which from the source's length).
#[cfg(unix)]
pub(crate) fn write_mapped(
    from: &File,
    offset: u64,
    len: u64,
    to: &File,
) -> io::Result<Option<u64>> {
    use std::os::unix::io::AsRawFd;
    // At most PIECE, so it fits in a usize.
    let len = len.min(PIECE) as usize;
    #[cfg(test)]
    if force::map_refused() {
        return Ok(None);
    }
    #[cfg(test)]
    if force::take_map_fault() {
        // As a `write` that faults on the first page.
        return Ok(Some(0));
    }
    // A raw map hands out no reference to its bytes: the file may change
    // while it is mapped without breaking a rule of this program.
    let map = match memmap2::MmapOptions::new()
        .offset(offset)
        .len(len)
        .map_raw_read_only(from)
    {
        Ok(map) if map.len() == len => map,
        _ => return Ok(None),
    };
    let mut done = 0;
    while done < len {
        // SAFETY: `map` is a live mapping of `len` bytes starting at
        // `map.as_ptr()`, so `done..len` of it lies inside; the bytes are
        // only read, by the kernel, and no reference to them is made here,
        // so a source changed meanwhile is no data race of ours; a page
        // past the source's end (a file truncated since) makes the call
        // fail with EFAULT or write less, as the kernel's own access
        // faults are caught, not signalled. `to`'s descriptor is borrowed
        // from a `File` that outlives the call.
        let n = unsafe { libc::write(to.as_raw_fd(), map.as_ptr().add(done).cast(), len - done) };
        if n > 0 {
            done += n as usize;
            continue;
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EFAULT) => break,
            _ => return Err(e),
        }
    }
    Ok(Some(done as u64))
}

#[cfg(not(unix))]
pub(crate) fn write_mapped(
    _from: &File,
    _offset: u64,
    _len: u64,
    _to: &File,
) -> io::Result<Option<u64>> {
    Ok(None)
}

/// What one `copy_file_range` call did.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // never `Bytes` there
pub(crate) enum Copied {
    /// This many bytes (0: nothing copied, either because the source
    /// ended or because the filesystem declines, as overlayfs, procfs and
    /// some FUSE filesystems do; the source's length tells which).
    Bytes(u64),
    /// The call cannot copy between these files here: fall back to the
    /// next method, a map of the source (Unix), then reads.
    Unsupported,
}

/// Copies at most `len` bytes at `offset` of `from` to `to` at its file
/// position (which moves on), in the kernel. Interrupted calls are
/// repeated.
///
/// The call is made as a raw system call: the C library's wrapper needs
/// glibc 2.27 and is missing from some C libraries (uClibc), while a
/// kernel without the call answers `ENOSYS`, which falls back.
#[cfg(target_os = "linux")]
pub(crate) fn copy_range(from: &File, offset: u64, to: &File, len: u64) -> io::Result<Copied> {
    use std::os::unix::io::AsRawFd;
    let invalid = || io::Error::from_raw_os_error(libc::EINVAL);
    // The kernel's loff_t: a signed 64-bit offset.
    let mut off_in = i64::try_from(offset).map_err(|_| invalid())?;
    // At most PIECE bytes a call: a usize, and the progress step.
    let len = len.min(PIECE) as usize;
    #[cfg(test)]
    match force::take_copy_answer() {
        Some(force::Answer::Errno(errno)) if unsupported(errno) => return Ok(Copied::Unsupported),
        Some(force::Answer::Errno(errno)) => return Err(io::Error::from_raw_os_error(errno)),
        Some(force::Answer::Zero) => return Ok(Copied::Bytes(0)),
        None => {}
    }
    loop {
        // SAFETY: the arguments are those of the kernel's
        // copy_file_range(int fd_in, loff_t *off_in, int fd_out,
        // loff_t *off_out, size_t len, unsigned int flags), each passed
        // as its C type: both descriptors are borrowed from `File`s that
        // outlive the call; `off_in` points to an `i64` (the kernel's
        // 64-bit loff_t) we own for the call, which the kernel reads and
        // advances; the output offset is null (the file position is
        // used); the length is at most 8 MiB and the flags 0. No other
        // memory of ours is read or written.
        let n: libc::c_long = unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                from.as_raw_fd(),
                &mut off_in as *mut i64,
                to.as_raw_fd(),
                std::ptr::null_mut::<i64>(),
                len,
                0 as libc::c_uint,
            )
        };
        if n >= 0 {
            // Never more than asked: a larger count is not believed.
            return match u64::try_from(n) {
                Ok(n) if n <= len as u64 => Ok(Copied::Bytes(n)),
                _ => Err(io::Error::other(format!(
                    "copy_file_range reported {n} bytes copied of {len} asked"
                ))),
            };
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(errno) if unsupported(errno) => return Ok(Copied::Unsupported),
            _ => return Err(e),
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn copy_range(_from: &File, _offset: u64, _to: &File, _len: u64) -> io::Result<Copied> {
    Ok(Copied::Unsupported)
}

/// The answers of a `copy_file_range` that cannot copy between these
/// files, as opposed to a failed read or write (the list Rust's standard
/// library falls back on): no such call (`ENOSYS`), or a seccomp filter
/// of a container runtime that refuses calls it does not know (`EPERM`);
/// files on different filesystems before Linux 5.3, or where the
/// filesystem refuses (`EXDEV`); a filesystem or file type without it
/// (`EOPNOTSUPP`, `EINVAL`); a range the kernel will not take in one call
/// (`EOVERFLOW`); a target opened for appending, or a file kind the call
/// does not take (`EBADF`). A descriptor that is really bad fails again
/// in the next method.
#[cfg(target_os = "linux")]
fn unsupported(errno: i32) -> bool {
    matches!(
        errno,
        libc::EXDEV
            | libc::ENOSYS
            | libc::EOPNOTSUPP
            | libc::EINVAL
            | libc::EPERM
            | libc::EOVERFLOW
            | libc::EBADF
    )
}

/// A seam for the unit tests: each copy method forced, and errors the
/// kernel gives only on some systems, injected into this thread's calls.
#[cfg(test)]
pub(crate) mod force {
    use std::cell::Cell;

    use super::Method;

    std::thread_local! {
        static METHOD: Cell<Option<Method>> = const { Cell::new(None) };
        static MAP_REFUSED: Cell<bool> = const { Cell::new(false) };
        static COPY_ANSWER: Cell<Option<Answer>> = const { Cell::new(None) };
        static COPY_CALLS: Cell<u32> = const { Cell::new(0) };
        static MAP_FAULT: Cell<bool> = const { Cell::new(false) };
        static READ_ERROR: Cell<Option<i32>> = const { Cell::new(None) };
    }

    /// The next mapped write on this thread faults (EFAULT) before its
    /// first byte, as on a page the kernel cannot read.
    pub(crate) fn fault_next_map() {
        MAP_FAULT.with(|f| f.set(true));
    }

    pub(super) fn take_map_fault() -> bool {
        MAP_FAULT.with(Cell::take)
    }

    /// The next positioned read of a source on this thread fails with
    /// `errno`.
    pub(crate) fn fail_next_read(errno: i32) {
        READ_ERROR.with(|e| e.set(Some(errno)));
    }

    pub(super) fn take_read_error() -> Option<i32> {
        READ_ERROR.with(Cell::take)
    }

    /// The method this thread's files start with, if forced.
    pub(crate) fn method() -> Option<Method> {
        METHOD.with(Cell::get)
    }

    pub(crate) fn set_method(method: Option<Method>) {
        METHOD.with(|m| m.set(method));
    }

    /// Whether this thread's maps are refused (as where a file cannot be
    /// mapped).
    pub(crate) fn map_refused() -> bool {
        MAP_REFUSED.with(Cell::get)
    }

    pub(crate) fn set_map_refused(on: bool) {
        MAP_REFUSED.with(|m| m.set(on));
    }

    /// What the next `copy_file_range` on this thread gives instead of
    /// being made.
    #[derive(Debug, Clone, Copy)]
    pub(crate) enum Answer {
        /// It fails with this errno.
        Errno(i32),
        /// It returns 0, copying nothing (as some filesystems do for a
        /// range that is there).
        Zero,
    }

    /// The next `copy_file_range` on this thread fails with `errno`.
    pub(crate) fn fail_next_copy(errno: i32) {
        COPY_ANSWER.with(|e| e.set(Some(Answer::Errno(errno))));
    }

    /// The next `copy_file_range` on this thread returns 0.
    pub(crate) fn zero_next_copy() {
        COPY_ANSWER.with(|e| e.set(Some(Answer::Zero)));
    }

    /// How many `copy_file_range` calls this thread has made.
    pub(crate) fn copy_calls() -> u32 {
        COPY_CALLS.with(Cell::get)
    }

    pub(super) fn take_copy_answer() -> Option<Answer> {
        COPY_CALLS.with(|c| c.set(c.get().saturating_add(1)));
        COPY_ANSWER.with(Cell::take)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::{Metadata, TensorView, Writer};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fresh directory for one test.
    fn fresh_dir(tag: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tensorsafe-copy-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Bytes that differ from place to place, so a piece copied from the
    /// wrong offset shows.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
            .collect()
    }

    /// How a test makes the writer copy: `copy_file_range`, a map or reads
    /// forced, or `copy_file_range` refused with an errno that means "not
    /// here" (then maps are used), and maps refused too (then reads).
    #[derive(Debug, Clone, Copy)]
    enum How {
        Copy,
        Map,
        Read,
        Refused(i32),
        RefusedUnmappable(i32),
    }

    const ALL: [How; 11] = [
        How::Copy,
        How::Map,
        How::Read,
        How::Refused(libc::EXDEV),
        How::Refused(libc::ENOSYS),
        How::Refused(libc::EOPNOTSUPP),
        How::Refused(libc::EINVAL),
        How::Refused(libc::EPERM),
        How::Refused(libc::EOVERFLOW),
        How::Refused(libc::EBADF),
        How::RefusedUnmappable(libc::EXDEV),
    ];

    fn arrange(how: How) {
        force::set_method(match how {
            How::Map => Some(Method::Map),
            How::Read => Some(Method::Read),
            _ => None,
        });
        force::set_map_refused(matches!(how, How::RefusedUnmappable(_)));
        if let How::Refused(errno) | How::RefusedUnmappable(errno) = how {
            force::fail_next_copy(errno);
        }
    }

    fn reset() {
        force::set_method(None);
        force::set_map_refused(false);
    }

    /// The method a file ends up with after a write arranged by `how`.
    fn expected(how: How) -> Method {
        match how {
            How::Copy => Method::CopyRange,
            How::Map | How::Refused(_) => Method::Map,
            How::Read | How::RefusedUnmappable(_) => Method::Read,
        }
    }

    /// Three source files (one with a tensor of more than one piece, one
    /// with an empty and an odd-sized tensor), as (file, offset, dtype,
    /// shape, bytes) per tensor.
    #[allow(clippy::type_complexity)]
    fn sources(dir: &Path) -> (Vec<File>, Vec<(usize, u64, Dtype, Vec<usize>, Vec<u8>)>) {
        let specs: [(usize, u64, Dtype, Vec<usize>); 6] = [
            (0, 3, Dtype::F32, vec![3, 5]),
            (0, 100, Dtype::U8, vec![PIECE as usize + 4097]),
            (1, 0, Dtype::BF16, vec![7]),
            (1, 14, Dtype::I64, vec![0, 4]),
            (2, 1, Dtype::U8, vec![4096]),
            (2, 5000, Dtype::F64, vec![2, 2, 2]),
        ];
        let mut contents = [
            pattern(PIECE as usize + 5000, 1),
            pattern(64, 2),
            pattern(6000, 3),
        ];
        let mut tensors = Vec::new();
        for (i, (file, offset, dtype, shape)) in specs.into_iter().enumerate() {
            let len = dtype.shape_byte_len(&shape).unwrap() as usize;
            let at = offset as usize;
            let bytes = pattern(len, 10 + i as u8);
            contents[file][at..at + len].copy_from_slice(&bytes);
            tensors.push((file, offset, dtype, shape, bytes));
        }
        let files = contents
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let path = dir.join(format!("source{i}"));
                fs::write(&path, bytes).unwrap();
                File::open(path).unwrap()
            })
            .collect();
        (files, tensors)
    }

    #[test]
    #[cfg_attr(miri, ignore)] // copy_file_range and maps
    fn file_fed_writes_give_the_bytes_of_memory_fed_writes() {
        let dir = fresh_dir("same");
        let (files, tensors) = sources(&dir);
        let names = ["a", "big", "c", "empty", "page", "z"];
        let mut metadata = Metadata::new();
        metadata.insert("format".into(), "pt".into());
        for alignment in [None, Some(1), Some(64), Some(4096), Some(1 << 20)] {
            let writer = || {
                let w = Writer::new().metadata(&metadata);
                match alignment {
                    Some(a) => w.alignment(a),
                    None => w,
                }
            };
            let in_memory: Vec<_> = tensors
                .iter()
                .zip(names)
                .map(|((_, _, dtype, shape, bytes), name)| {
                    (name, TensorView::new(*dtype, shape.clone(), bytes).unwrap())
                })
                .collect();
            let from_files = || -> Vec<_> {
                tensors
                    .iter()
                    .zip(names)
                    .map(|((file, offset, dtype, shape, _), name)| {
                        (
                            name,
                            FileView::new(*dtype, shape, &files[*file], *offset).unwrap(),
                        )
                    })
                    .collect()
            };
            let expected_bytes = writer().to_vec(in_memory.clone()).unwrap();
            // Into memory and into any writer: read in pieces.
            assert_eq!(writer().to_vec(from_files()).unwrap(), expected_bytes);
            let mut out = Vec::new();
            writer().to_writer(from_files(), &mut out).unwrap();
            assert_eq!(out, expected_bytes);
            // `data` reads the bytes too.
            for ((_, view), (_, mem)) in from_files().iter().zip(&in_memory) {
                assert_eq!(view.data(), mem.data());
            }
            // Into a file, each way.
            for how in ALL {
                let path = dir.join("out.safetensors");
                let mut reports = Vec::new();
                arrange(how);
                let calls = force::copy_calls();
                let file = writer()
                    .progress(|done, total| reports.push((done, total)))
                    .into_uncommitted(from_files(), &path)
                    .unwrap();
                reset();
                assert_eq!(file.method(), expected(how), "{how:?}");
                let made = force::copy_calls() - calls;
                match how {
                    How::Read | How::Map => assert_eq!(made, 0),
                    // The refused call, then none.
                    How::Refused(_) | How::RefusedUnmappable(_) => assert_eq!(made, 1),
                    // One call per piece: the big tensor takes two.
                    How::Copy => assert_eq!(made, 6),
                }
                file.commit().unwrap();
                assert_eq!(
                    fs::read(&path).unwrap(),
                    expected_bytes,
                    "{how:?} {alignment:?}"
                );
                // Every tensor reported, the big one twice, ending at the total.
                let total = expected_bytes.len() as u64
                    - crate::Header::parse(&expected_bytes).unwrap().data_start();
                assert_eq!(reports.len(), 7, "{how:?}");
                assert!(reports.windows(2).all(|w| w[0].0 <= w[1].0));
                assert_eq!(reports.last(), Some(&(total, total)));
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore)] // copy_file_range and maps
    fn file_fed_checkpoints_give_the_bytes_of_memory_fed_ones() {
        let dir = fresh_dir("sharded");
        let (files, tensors) = sources(&dir);
        let names = ["a", "big", "c", "empty", "page", "z"];
        for how in [How::Copy, How::Map, How::Read] {
            let memory = dir.join("memory");
            let file_fed = dir.join("files");
            let in_memory = tensors
                .iter()
                .zip(names)
                .map(|((_, _, d, s, b), n)| (n, TensorView::new(*d, s.clone(), b).unwrap()));
            let written = Writer::new()
                .alignment(64)
                .sharded(in_memory, &memory, 5000)
                .unwrap();
            arrange(how);
            let from_files = tensors
                .iter()
                .zip(names)
                .map(|((f, o, d, s, _), n)| (n, FileView::new(*d, s, &files[*f], *o).unwrap()));
            let again = Writer::new()
                .alignment(64)
                .sharded(from_files, &file_fed, 5000)
                .unwrap();
            reset();
            assert_eq!(written, again);
            assert!(written.len() > 2, "{written:?}");
            for name in written
                .iter()
                .map(String::as_str)
                .chain([crate::INDEX_FILE])
            {
                assert_eq!(
                    fs::read(memory.join(name)).unwrap(),
                    fs::read(file_fed.join(name)).unwrap(),
                    "{how:?} {name}"
                );
            }
            fs::remove_dir_all(&memory).unwrap();
            fs::remove_dir_all(&file_fed).unwrap();
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore)] // copy_file_range and maps
    fn a_source_that_shrinks_while_copied_is_refused_and_nothing_is_committed() {
        for how in [How::Copy, How::Map, How::Read] {
            let dir = fresh_dir("shrink");
            let source = dir.join("source");
            let len = 3 * PIECE as usize;
            fs::write(&source, pattern(len, 7)).unwrap();
            let target = dir.join("model.safetensors");
            fs::write(&target, b"old").unwrap();
            fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
            let file = File::open(&source).unwrap();
            let view = FileView::new(Dtype::U8, [len], &file, 0).unwrap();
            let truncate = source.clone();
            arrange(how);
            let err = Writer::new()
                .progress(move |done, _| {
                    if done == PIECE {
                        File::options()
                            .write(true)
                            .open(&truncate)
                            .unwrap()
                            .set_len(PIECE + 10)
                            .unwrap();
                    }
                })
                .to_file([("w", view)], &target)
                .unwrap_err();
            reset();
            assert_eq!(err.kind(), ErrorKind::FileChanged, "{how:?}: {err}");
            assert_eq!(err.tensor(), Some("w"));
            assert!(err.to_string().contains("ended at byte"), "{err}");
            assert_eq!(fs::read(&target).unwrap(), b"old");
            let mode = fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
            let mut entries: Vec<_> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            entries.sort();
            assert_eq!(entries, ["model.safetensors", "source"]);
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// A target holding "old", and a source of `len` bytes of a pattern
    /// in a fresh directory: (dir, source path, target path, bytes).
    fn old_target_and_source(tag: &str, len: usize) -> (PathBuf, PathBuf, PathBuf, Vec<u8>) {
        let dir = fresh_dir(tag);
        let source = dir.join("source");
        let bytes = pattern(len, 5);
        fs::write(&source, &bytes).unwrap();
        let target = dir.join("model.safetensors");
        fs::write(&target, b"old").unwrap();
        (dir, source, target, bytes)
    }

    /// What a memory-fed write of `bytes` as one U8 tensor "w" gives.
    fn written(bytes: &[u8]) -> Vec<u8> {
        crate::serialize(
            [(
                "w",
                TensorView::new(Dtype::U8, [bytes.len()], bytes).unwrap(),
            )],
            None,
        )
        .unwrap()
    }

    fn shorten(path: &Path, len: u64) {
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(len)
            .unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore)] // copy_file_range and maps
    fn copy_file_range_answering_0_for_a_range_that_is_there_falls_back() {
        let len = 2 * PIECE as usize + 300;
        // At the first call, and after a piece was copied.
        for at in [0, PIECE] {
            let (dir, source, target, bytes) = old_target_and_source("zero", len);
            let file = File::open(&source).unwrap();
            let view = FileView::new(Dtype::U8, [len], &file, 0).unwrap();
            if at == 0 {
                force::zero_next_copy();
            }
            let out = Writer::new()
                .progress(move |done, _| {
                    if at > 0 && done == at {
                        force::zero_next_copy();
                    }
                })
                .into_uncommitted([("w", view)], &target)
                .unwrap();
            assert_eq!(out.method(), Method::Map, "{at}");
            out.commit().unwrap();
            assert_eq!(fs::read(&target).unwrap(), written(&bytes), "{at}");
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // copy_file_range and maps
    fn copy_file_range_answering_0_for_a_source_that_shrank_is_refused() {
        let len = 2 * PIECE as usize + 300;
        let (dir, source, target, _) = old_target_and_source("zero-short", len);
        let file = File::open(&source).unwrap();
        let view = FileView::new(Dtype::U8, [len], &file, 0).unwrap();
        let truncate = source.clone();
        let err = Writer::new()
            .progress(move |done, _| {
                if done == PIECE {
                    shorten(&truncate, PIECE + 10);
                    force::zero_next_copy();
                }
            })
            .to_file([("w", view)], &target)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
        assert!(err.to_string().contains("ended at byte"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore)] // maps
    fn a_source_shrunk_within_the_last_mapped_page_is_refused() {
        // The second piece's page holds the new end: it reads as zeros
        // past it, and `write` copies them without an error.
        let len = PIECE as usize + 100;
        let (dir, source, target, _) = old_target_and_source("map-tail", len);
        let file = File::open(&source).unwrap();
        let view = FileView::new(Dtype::U8, [len], &file, 0).unwrap();
        let truncate = source.clone();
        arrange(How::Map);
        let err = Writer::new()
            .progress(move |done, _| {
                if done == PIECE {
                    shorten(&truncate, PIECE + 50);
                }
            })
            .to_file([("w", view)], &target)
            .unwrap_err();
        reset();
        assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
        assert!(err.to_string().contains("ended at byte"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore)] // maps
    fn a_mapped_write_that_faults_on_a_range_that_is_there_is_read_instead() {
        let len = 2 * PIECE as usize + 300;
        // At the first piece, and after one.
        for at in [0, PIECE] {
            let (dir, source, target, bytes) = old_target_and_source("map-fault", len);
            let file = File::open(&source).unwrap();
            let view = FileView::new(Dtype::U8, [len], &file, 0).unwrap();
            arrange(How::Map);
            if at == 0 {
                force::fault_next_map();
            }
            let out = Writer::new()
                .progress(move |done, _| {
                    if at > 0 && done == at {
                        force::fault_next_map();
                    }
                })
                .into_uncommitted([("w", view)], &target)
                .unwrap();
            reset();
            // Only that piece was read: the map goes on.
            assert_eq!(out.method(), Method::Map, "{at}");
            out.commit().unwrap();
            assert_eq!(fs::read(&target).unwrap(), written(&bytes), "{at}");
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // maps
    fn a_mapped_write_that_faults_gives_the_read_s_error() {
        let len = PIECE as usize + 300;
        let (dir, source, target, _) = old_target_and_source("map-eio", len);
        let file = File::open(&source).unwrap();
        let view = FileView::new(Dtype::U8, [len], &file, 0).unwrap();
        arrange(How::Map);
        force::fault_next_map();
        force::fail_next_read(libc::EIO);
        let err = Writer::new().to_file([("w", view)], &target).unwrap_err();
        reset();
        assert_eq!(
            err.io_error().and_then(io::Error::raw_os_error),
            Some(libc::EIO),
            "{err}"
        );
        assert_eq!(fs::read(&target).unwrap(), b"old");
        // A fault on a source that ended is still the source ending.
        let truncate = source.clone();
        arrange(How::Map);
        let err = Writer::new()
            .progress(move |done, _| {
                if done == PIECE {
                    shorten(&truncate, PIECE + 10);
                    force::fault_next_map();
                }
            })
            .to_file(
                [("w", FileView::new(Dtype::U8, [len], &file, 0).unwrap())],
                &target,
            )
            .unwrap_err();
        reset();
        assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_source_too_short_is_refused_before_anything_is_copied() {
        let dir = fresh_dir("short");
        let source = dir.join("source");
        fs::write(&source, [1u8; 10]).unwrap();
        let file = File::open(&source).unwrap();
        let view = FileView::new(Dtype::U8, [8], &file, 3).unwrap();
        let err = Writer::new().to_vec([("w", &view)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FileChanged);
        assert!(err.to_string().contains("has 10 bytes"), "{err}");
        let target = dir.join("out");
        let err = Writer::new().to_file([("w", &view)], &target).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FileChanged);
        assert!(!target.exists());
        // `data` gives no bytes, which the writers would refuse.
        assert!(view.data().is_empty());
        // Lengths and offsets past 2^64 are refused when made.
        assert!(FileView::new(Dtype::U8, [8], &file, u64::MAX - 3).is_err());
        assert!(FileView::new(Dtype::F64, [usize::MAX / 4], &file, 0).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_tensor_past_the_source_s_end_is_refused_by_every_writer() {
        let dir = fresh_dir("empty-past");
        let source = dir.join("source");
        fs::write(&source, [1u8; 10]).unwrap();
        let file = File::open(&source).unwrap();
        let target = dir.join("out");
        // At the end: nothing to read, and every writer takes it.
        let at_end = FileView::new(Dtype::U8, [0], &file, 10).unwrap();
        let expected = written(&[]);
        assert_eq!(Writer::new().to_vec([("w", &at_end)]).unwrap(), expected);
        let mut out = Vec::new();
        Writer::new().to_writer([("w", &at_end)], &mut out).unwrap();
        assert_eq!(out, expected);
        Writer::new().to_file([("w", &at_end)], &target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), expected);
        fs::remove_file(&target).unwrap();
        // Past it: no writer takes it.
        let past = FileView::new(Dtype::U8, [0], &file, 11).unwrap();
        let err = Writer::new().to_vec([("w", &past)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
        let err = Writer::new()
            .to_writer([("w", &past)], &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
        let err = Writer::new().to_file([("w", &past)], &target).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
        assert_eq!(err.tensor(), Some("w"));
        assert!(!target.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_copy_is_kept_and_the_old_file_stays() {
        let dir = fresh_dir("eio");
        let source = dir.join("source");
        fs::write(&source, pattern(1000, 1)).unwrap();
        let target = dir.join("model.safetensors");
        fs::write(&target, b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        let file = File::open(&source).unwrap();
        let view = FileView::new(Dtype::U8, [1000], &file, 0).unwrap();
        force::fail_next_copy(libc::EIO);
        let err = Writer::new().to_file([("w", &view)], &target).unwrap_err();
        assert_eq!(
            err.io_error().and_then(io::Error::raw_os_error),
            Some(libc::EIO)
        );
        assert!(err.to_string().contains("copying"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        let mode = fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore)] // copy_file_range and maps
    fn the_replaced_file_s_permissions_are_kept_each_way() {
        for how in ALL {
            let dir = fresh_dir("mode");
            let source = dir.join("source");
            let bytes = pattern(5000, 4);
            fs::write(&source, &bytes).unwrap();
            let target = dir.join("model.safetensors");
            fs::write(&target, b"old").unwrap();
            fs::set_permissions(&target, fs::Permissions::from_mode(0o604)).unwrap();
            let file = File::open(&source).unwrap();
            arrange(how);
            Writer::new()
                .to_file(
                    [("w", FileView::new(Dtype::U8, [5000], &file, 0).unwrap())],
                    &target,
                )
                .unwrap();
            reset();
            let mode = fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o604, "{how:?}");
            let expected_bytes = crate::serialize(
                [("w", TensorView::new(Dtype::U8, [5000], &bytes).unwrap())],
                None,
            )
            .unwrap();
            assert_eq!(fs::read(&target).unwrap(), expected_bytes);
            fs::remove_dir_all(&dir).unwrap();
        }
    }
}
