//! Getting a file's bytes into memory at the machine's limit: the header
//! first (a bad file costs 8 + N bytes of reading), then the data section
//! with positioned reads split across threads, into memory that is never
//! zero-filled by us (an anonymous map the kernel hands out zeroed and
//! lazily, with transparent huge pages requested on Linux) or into buffers
//! the caller owns.

use std::format;
use std::prelude::rust_2021::*;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, TensorInfo};
use crate::limits::ParseOptions;
use crate::read::SafeTensorsFile;

/// Reads are split into pieces of at most this many bytes, so that threads
/// share the work of one large tensor.
const PIECE: usize = 8 << 20;

/// How files are loaded: parsing options, threads, huge pages.
///
/// # Progress
///
/// Every load that takes a `progress` callback (`FnMut(done, total)`:
/// [`load_into`], [`Checkpoint::load`](crate::Checkpoint::load),
/// [`Checkpoint::load_into`](crate::Checkpoint::load_into), and the remote
/// loads) counts the same thing: tensor bytes. For a whole file or
/// checkpoint, `total` is the sum of the headers' data lengths (a valid
/// checkpoint's `metadata.total_size`); for a load into your buffers, the
/// bytes of the tensors you chose. Headers, and the bytes between chosen
/// tensors that a remote load fetches to save a request, are not counted.
/// The first call, before any tensor byte is read, is `(0, total)` (a load
/// of no tensor bytes makes that one call only); `done` never goes down
/// and ends equal to `total` when the load succeeds. The callback runs under a lock, one call at a time, while the
/// readers wait to report: keep it cheap (update a counter or a progress
/// bar). If it panics, it is not called again, the readers stop, and the
/// panic reaches the caller; a failed read stops the other readers too.
///
/// ```
/// use tensorsafe::LoadOptions;
/// let mut options = LoadOptions::default();
/// options.threads = 4;            // 0 (the default): one per available core
/// options.huge_pages = false;     // Linux only: ask for transparent huge pages
/// options.direct = true;          // Linux only: caller-buffer loads bypass the page cache
/// options.parse.limits.max_tensors = 100_000;
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// How the header is parsed.
    pub parse: ParseOptions,
    /// Threads reading the data section; 0 means
    /// [`std::thread::available_parallelism`].
    pub threads: usize,
    /// On Linux, ask for transparent huge pages for the owned buffer
    /// (`madvise(MADV_HUGEPAGE)`) of [`SafeTensorsFile::open`] and
    /// [`Checkpoint::load`](crate::Checkpoint::load): far fewer page faults
    /// when the kernel has huge pages to give. Default: on.
    ///
    /// The readers fault the memory in ahead of each read, 2 MiB at a time
    /// (`MADV_POPULATE_WRITE`, Linux 5.14 and later), and time it. Huge
    /// pages can be granted slowly: in a virtual machine whose host takes
    /// back free memory (free page reporting hands it whole 2 MiB blocks,
    /// exactly what huge pages are made of), each one must be faulted in
    /// again on the host, and can cost ten times the small pages it
    /// replaces. Once two whole huge pages of a buffer in a row took longer
    /// than 2 ms of CPU time each to fault in (slower than 1 GB/s, where
    /// small pages fault at 2-4 GB/s), the rest of that buffer gets small
    /// pages (`MADV_NOHUGEPAGE`) for as long as it lives: where huge pages
    /// are slow, the advice costs a few of them. On older kernels (and
    /// where pages are not 4 KiB) the memory is faulted by the reads
    /// themselves, without this check. Off means no advice at all: under
    /// the THP mode `always` the kernel still gives huge pages.
    pub huge_pages: bool,
    /// On Linux, read with `O_DIRECT`, bypassing the page cache, so a model
    /// nearly as large as memory is not held twice (once in the page cache,
    /// once in your buffers): meant for [`load_into`] and
    /// [`Checkpoint::load_into`] on a cold file. Any buffer, offset and
    /// length works: reads are aligned inside, through a small bounce
    /// buffer per thread. Where the filesystem refuses `O_DIRECT` (tmpfs,
    /// some network filesystems), reads go through the page cache as usual.
    /// Elsewhere it is ignored. Default: off.
    ///
    /// [`Checkpoint::load_into`]: crate::Checkpoint::load_into
    pub direct: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            parse: ParseOptions::default(),
            threads: 0,
            huge_pages: true,
            direct: false,
        }
    }
}

impl From<ParseOptions> for LoadOptions {
    fn from(parse: ParseOptions) -> Self {
        LoadOptions {
            parse,
            ..LoadOptions::default()
        }
    }
}

impl LoadOptions {
    /// The number of threads to use.
    pub(crate) fn thread_count(&self) -> usize {
        // Without positioned reads, clones of a handle share one cursor, so
        // reads from several threads would race.
        if cfg!(not(any(unix, windows))) {
            return 1;
        }
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// Fills `buf` from `file` at `offset`. A file that ends first has changed
/// since its header was checked against its length.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> Result<()> {
    match read_exact_at(file, buf, offset) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ended_early(offset, buf)),
        Err(e) => Err(e.into()),
    }
}

/// A read of `buf` at `offset` found the file shorter: it has changed
/// since its header was checked against its length.
fn ended_early(offset: u64, buf: &[u8]) -> Error {
    Error::new(ErrorKind::FileChanged).with_detail(format!(
        "ended before byte {}",
        offset.saturating_add(buf.len() as u64)
    ))
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file.try_clone()?;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// A file opened for loading: its path and handle, its identity (and
/// length) when opened, and its header, read (exactly 8 + N bytes) and checked against
/// that length before any tensor byte is read.
pub(crate) struct Opened {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    /// The same file opened with `O_DIRECT`, when asked for and allowed.
    direct: Option<File>,
    /// Which file it is, and when it was last written, when opened.
    pub(crate) identity: Identity,
    pub(crate) header: Header,
}

/// Which file a handle is, and when it was last written: on unix the inode
/// and the modification time, elsewhere the modification time; with the
/// length. A file renamed over the path, or written in place since, has
/// another one (unless the filesystem keeps coarser times than the writes
/// are apart). The device and the status-change time are left out: they
/// change without the file changing (a remount; `chmod`, a hard link, an
/// extended attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    #[cfg(unix)]
    id: (u64, i64, i64),
    #[cfg(not(unix))]
    modified: Option<std::time::SystemTime>,
    len: u64,
}

impl Identity {
    /// The identity of the file `meta` describes.
    pub(crate) fn of(meta: &std::fs::Metadata) -> Identity {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = meta;
            Identity {
                id: (m.ino(), m.mtime(), m.mtime_nsec()),
                len: m.len(),
            }
        }
        #[cfg(not(unix))]
        Identity {
            modified: meta.modified().ok(),
            len: meta.len(),
        }
    }

    /// [`ErrorKind::FileChanged`] unless `now` is the same file, unchanged.
    pub(crate) fn check(&self, now: &Identity, when: &str) -> Result<()> {
        if self == now {
            return Ok(());
        }
        let detail = if self.len == now.len {
            format!("replaced or written since {when}")
        } else {
            format!("{} bytes when {when}, {} now", self.len, now.len)
        };
        Err(Error::new(ErrorKind::FileChanged).with_detail(detail))
    }
}

impl Opened {
    pub(crate) fn new(path: &Path, options: &LoadOptions) -> Result<Opened> {
        Self::open(path, options, |_, len, header| {
            let header = header?;
            header.check_file_len(len)?;
            Ok(header)
        })
    }

    /// The file at `path` opened again, which must be as it was when `was`
    /// was read from it (with identity `id`): the same file, unchanged,
    /// with the same length and header, or else [`ErrorKind::FileChanged`]
    /// naming the file.
    pub(crate) fn again(
        path: &Path,
        options: &LoadOptions,
        was: &Header,
        id: &Identity,
    ) -> Result<Opened> {
        Self::open(path, options, |now, len, header| {
            check_same(was, len, None)?;
            id.check(now, "its header was read")?;
            let header =
                header.map_err(|e| changed_header().with_detail(format!("its header now: {e}")))?;
            check_same(was, len, Some(&header))?;
            Ok(header)
        })
    }

    /// The file at `path`, its header read and then `check`ed (with the
    /// file's length); errors name the file.
    fn open(
        path: &Path,
        options: &LoadOptions,
        check: impl FnOnce(&Identity, u64, Result<Header>) -> Result<Header>,
    ) -> Result<Opened> {
        let open = || -> Result<Opened> {
            let file = File::open(path)?;
            let identity = Identity::of(&file.metadata()?);
            let len = identity.len;
            let header = check(
                &identity,
                len,
                Header::read_from_with(&file, &options.parse),
            )?;
            let direct = if options.direct {
                direct::open(path, &file)
            } else {
                None
            };
            Ok(Opened {
                path: path.to_owned(),
                file,
                direct,
                identity,
                header,
            })
        };
        open().map_err(|e| e.in_file(path))
    }

    /// File offset of a tensor's first byte.
    pub(crate) fn offset_of(&self, info: &TensorInfo<'_>) -> u64 {
        self.header.file_range(info).start
    }

    /// Asks `dest`, in file order, for each tensor's destination and adds
    /// a piece for every buffer given (which must be the tensor's length).
    pub(crate) fn ask_destinations<'o, 'b: 'o>(
        &'o self,
        dest: &mut impl FnMut(TensorInfo<'_>) -> Option<&'b mut [u8]>,
        pieces: &mut Vec<Piece<'o>>,
    ) -> Result<()> {
        each_destination(&self.header, dest, |info, buf| {
            pieces.push(Piece {
                from: self,
                offset: self.offset_of(&info),
                buf,
                counted: true,
                watch: None,
            })
        })
        .map_err(|e| e.in_file(&self.path))
    }

    /// Checks, after loading, that the file is unchanged: the same length
    /// and identity (not written in place since it was opened).
    pub(crate) fn check_unchanged(&self) -> Result<()> {
        let check = || -> Result<()> {
            let now = Identity::of(&self.file.metadata()?);
            self.identity.check(&now, "it was opened")
        };
        check().map_err(|e| e.in_file(&self.path))
    }
}

/// A file of `len` bytes (whose header is now `now`, when read) is still
/// the one whose header was `was`; otherwise [`ErrorKind::FileChanged`].
pub(crate) fn check_same(was: &Header, len: u64, now: Option<&Header>) -> Result<()> {
    if len != was.file_len() {
        return Err(Error::new(ErrorKind::FileChanged).with_detail(format!(
            "{} bytes when its header was read, {len} now",
            was.file_len()
        )));
    }
    match now {
        Some(now) if !now.same_as(was) => Err(changed_header()
            .with_detail("its header is not the one read when the checkpoint was opened")),
        _ => Ok(()),
    }
}

/// A file whose header changed since it was first read.
fn changed_header() -> Error {
    Error::new(ErrorKind::FileChanged)
}

/// One read: these bytes of this file into this buffer; `counted` if they
/// are tensor bytes (progress counts those only, not headers); `watch`, the
/// huge-page watch of the memory the buffer is in, if any.
pub(crate) struct Piece<'b> {
    pub(crate) from: &'b Opened,
    pub(crate) offset: u64,
    pub(crate) buf: &'b mut [u8],
    pub(crate) counted: bool,
    pub(crate) watch: Option<&'b HugeWatch>,
}

impl Piece<'_> {
    /// Reads the piece, through `bounce` when the file is read directly.
    fn read(self, bounce: &mut Option<memmap2::MmapMut>) -> Result<()> {
        if let Some(watch) = self.watch {
            watch.fault_in(self.buf);
        }
        // Without a bounce buffer (no memory for one), through the page cache.
        let result = match (&self.from.direct, bounce) {
            (Some(direct), Some(bounce)) => direct::read_at(direct, self.buf, self.offset, bounce),
            _ => read_at(&self.from.file, self.buf, self.offset),
        };
        result.map_err(|e| e.in_file(&self.from.path))
    }
}

/// A progress callback: told the bytes done so far and in all.
pub(crate) type ProgressFn<'a> = dyn FnMut(u64, u64) + Send + 'a;

/// A progress callback that threads (or concurrent requests) share: calls
/// are serialised (made under a lock, one at a time), so the callback may
/// be a plain `FnMut`, and the bytes done it is told never go down. It is
/// also the work's stop flag: once a callback panicked (poisoning the
/// lock) or a worker failed ([`Progress::stop`]), the callback is not
/// called again and [`Progress::stopped`] tells the other workers to stop.
pub(crate) struct Progress<'a> {
    /// The bytes done so far, and the callback.
    state: Mutex<(u64, &'a mut ProgressFn<'a>)>,
    total: u64,
    stop: AtomicBool,
}

impl<'a> Progress<'a> {
    /// `callback`, for work of `total` bytes, told `(0, total)` at once
    /// (so even work of no bytes is reported, exactly once).
    pub(crate) fn new(callback: &'a mut ProgressFn<'a>, total: u64) -> Self {
        callback(0, total);
        Progress {
            state: Mutex::new((0, callback)),
            total,
            stop: AtomicBool::new(false),
        }
    }

    /// `n` more bytes are done: tells the callback the bytes done so far
    /// and in all, unless the work is stopping or `n` is 0 (nothing new).
    pub(crate) fn add(&self, n: u64) {
        if n == 0 {
            return;
        }
        // A callback that panicked poisoned the lock: call it no more.
        let Ok(mut state) = self.state.lock() else {
            self.stop();
            return;
        };
        if self.stopped() {
            return;
        }
        state.0 = state.0.saturating_add(n);
        let done = state.0;
        (state.1)(done, self.total);
    }

    /// Asks every worker to stop (one failed).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the work is stopping: a worker failed or the callback
    /// panicked.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.state.is_poisoned()
    }
}

/// Reads every piece on up to `options.threads` threads, which take the
/// next piece in order as they finish one (so a thread that is slowed down
/// does not hold up the others). `progress` is told the bytes read so far
/// and in all as pieces finish. Pieces may come from several files.
pub(crate) fn read_pieces(
    pieces: Vec<Piece<'_>>,
    options: &LoadOptions,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<()> {
    let small = cut(pieces);
    let total: u64 = small
        .iter()
        .filter(|p| p.counted)
        .map(|p| p.buf.len() as u64)
        .sum();
    let direct = small.iter().any(|p| p.from.direct.is_some());
    let threads = if total < 2 * PIECE as u64 {
        1
    } else {
        options.thread_count().clamp(1, small.len())
    };
    let queue = Mutex::new(small.into_iter());
    // No reader panics while holding the lock, so a poisoned queue is as
    // good as any.
    let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).next();
    let progress = Progress::new(progress, total);
    let work = || -> Result<()> {
        let mut bounce = if direct { direct::bounce() } else { None };
        // Another reader failed, or the callback panicked: stop too.
        while let Some(piece) = next().filter(|_| !progress.stopped()) {
            let (len, counted) = (piece.buf.len() as u64, piece.counted);
            if let Err(e) = piece.read(&mut bounce) {
                progress.stop();
                return Err(e);
            }
            if counted {
                progress.add(len);
            }
        }
        Ok(())
    };
    if threads == 1 {
        return work();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        first_panic_then_error(handles.into_iter().map(|h| h.join()).collect())
    })
}

/// Every thread's outcome (all joined): the first panic raised again with
/// its own payload, else the first error.
fn first_panic_then_error(outcomes: Vec<std::thread::Result<Result<()>>>) -> Result<()> {
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Ok(Ok(())) => {}
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// `pieces` cut so that none is longer than [`PIECE`]: every thread has a
/// share of one large tensor.
fn cut(pieces: Vec<Piece<'_>>) -> Vec<Piece<'_>> {
    let mut small = Vec::with_capacity(pieces.len());
    for Piece {
        from,
        offset,
        buf,
        counted,
        watch,
    } in pieces
    {
        let mut at = offset;
        for chunk in buf.chunks_mut(PIECE) {
            let len = chunk.len() as u64;
            small.push(Piece {
                from,
                offset: at,
                buf: chunk,
                counted,
                watch,
            });
            at += len;
        }
    }
    small
}

/// A whole file's worth of fresh memory, to fill and then wrap as an owned
/// [`SafeTensorsFile`]: an anonymous map (page aligned, so tensors are as
/// aligned in memory as in the file; zero-filled lazily by the kernel, so
/// nothing is written twice), with transparent huge pages requested on
/// Linux when asked for. Local and remote loads both fill these.
pub(crate) struct Blank {
    map: memmap2::MmapMut,
    header: Header,
    /// Watches the huge pages asked for, if any.
    watch: Option<HugeWatch>,
}

impl Blank {
    /// Memory for the file `header` describes (its length was checked
    /// against the header).
    pub(crate) fn new(header: Header, options: &LoadOptions) -> Result<Blank> {
        let len = crate::checked::memory_len(header.file_len())?;
        let map = memmap2::MmapMut::map_anon(len)?;
        #[cfg(target_os = "linux")]
        let watch = (options.huge_pages && len >= HUGE)
            // Only advice: a kernel without huge pages to give ignores it.
            .then(|| map.advise(memmap2::Advice::HugePage).ok())
            .flatten()
            .map(|()| HugeWatch::new(&map, SLOW_HUGE_PAGE));
        #[cfg(not(target_os = "linux"))]
        let watch = {
            let _ = options;
            None
        };
        Ok(Blank { map, header, watch })
    }

    /// The memory to fill: the header's (8 + N bytes) and the data
    /// section's, with the watch of its huge pages for the readers to
    /// fault them in through (see [`LoadOptions::huge_pages`]).
    pub(crate) fn split(&mut self) -> (&mut [u8], &mut [u8], Option<&HugeWatch>) {
        // The map is the header's file length, which starts with 8 + N.
        let start = usize::try_from(self.header.data_start()).map_or(0, |s| s.min(self.map.len()));
        let (head, data) = self.map.split_at_mut(start);
        (head, data, self.watch.as_ref())
    }

    /// The filled memory as a file.
    pub(crate) fn into_file(self) -> SafeTensorsFile {
        SafeTensorsFile::owned(self.map, self.header)
    }
}

/// The size of a transparent huge page (x86-64, and arm64 with 4 KiB
/// pages); faulting in is done and timed in steps of this size.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const HUGE: usize = 2 << 20;

/// A huge page that takes longer than this to fault in (the faulting
/// thread's CPU time; slower than 1 GB/s) is slow: small pages do better
/// (2-4 GB/s).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const SLOW_HUGE_PAGE: std::time::Duration = std::time::Duration::from_millis(2);

/// Once this many of a buffer's huge pages in a row were slow, the rest
/// of it gets small pages. A slow huge page here costs about 4 ms, ten
/// times what a fast one saves against small pages (0.2-0.4 ms against
/// 0.5-0.9 ms), and once they come slow they stay slow (the fast ones are
/// the blocks freed moments ago, which the allocator hands out first); one
/// alone may be a fluke.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const SLOW_HUGE_PAGES: usize = 2;

/// The huge pages of one buffer, faulted in by the readers ahead of their
/// reads and timed, until [`SLOW_HUGE_PAGES`] in a row were slow: then the
/// rest of the buffer is advised to use small pages. See
/// [`LoadOptions::huge_pages`].
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct HugeWatch {
    /// The buffer's address and length.
    start: usize,
    len: usize,
    /// How long a slow huge page takes.
    slow_after: std::time::Duration,
    /// Slow steps in a row, latest last (across the readers).
    streak: std::sync::atomic::AtomicUsize,
    /// Set once the buffer was switched to small pages, or faulting in
    /// ahead is not supported: nothing more to do.
    done: AtomicBool,
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
impl HugeWatch {
    fn new(map: &memmap2::MmapMut, slow_after: std::time::Duration) -> HugeWatch {
        HugeWatch {
            start: map.as_ptr() as usize,
            len: map.len(),
            slow_after,
            streak: std::sync::atomic::AtomicUsize::new(0),
            done: AtomicBool::new(false),
        }
    }

    /// Whether the rest of the buffer was switched to small pages.
    #[cfg(test)]
    fn switched(&self) -> bool {
        self.done.load(Ordering::Relaxed) && self.streak.load(Ordering::Relaxed) >= SLOW_HUGE_PAGES
    }

    /// Faults in the memory of `buf` (part of the watched buffer), one
    /// huge-page-aligned step at a time, timing each; after too many slow
    /// ones, advises small pages for the rest of the buffer. Only ever
    /// advice: a failure leaves the reads to fault the memory in.
    fn fault_in(&self, buf: &[u8]) {
        #[cfg(target_os = "linux")]
        {
            let page = 4096;
            let end = (buf.as_ptr() as usize + buf.len()).min(self.start + self.len);
            let mut at = (buf.as_ptr() as usize).max(self.start) / page * page;
            while at < end && !self.done.load(Ordering::Relaxed) {
                // Steps end at huge-page boundaries (or at `end`).
                let step_end = at.checked_add(HUGE - at % HUGE).map_or(end, |e| e.min(end));
                let began = thread_cpu_time();
                // SAFETY: [at, step_end) lies in the watched map (page
                // aligned, clamped to it), which outlives every piece read
                // into it; populating memory does not change its contents.
                let r = unsafe {
                    libc::madvise(at as *mut libc::c_void, step_end - at, MADV_POPULATE_WRITE)
                };
                if r != 0 {
                    // EINVAL: a kernel before 5.14. Else out of memory or
                    // the like: the reads will say.
                    self.done.store(true, Ordering::Relaxed);
                    return;
                }
                // Only a whole, aligned huge page counts: a partial step (at
                // the ends of a piece, which other pieces share) may have
                // been faulted in by another reader already, and says
                // nothing either way. Without a clock, nothing counts.
                let whole = step_end - at == HUGE && at % HUGE == 0;
                let took = thread_cpu_time()
                    .zip(began)
                    .map(|(now, then)| now.saturating_sub(then))
                    .filter(|_| whole);
                let streak = match took {
                    Some(took) if took > self.slow_after => {
                        self.streak.fetch_add(1, Ordering::Relaxed) + 1
                    }
                    Some(_) => {
                        self.streak.store(0, Ordering::Relaxed);
                        0
                    }
                    None => 0,
                };
                if streak >= SLOW_HUGE_PAGES && !self.done.swap(true, Ordering::Relaxed) {
                    // SAFETY: the whole watched map, as above; advice only.
                    unsafe {
                        libc::madvise(
                            self.start as *mut libc::c_void,
                            self.len,
                            libc::MADV_NOHUGEPAGE,
                        );
                    }
                }
                at = step_end;
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = buf;
    }
}

/// The CPU time of the calling thread: what a fault costs, without the
/// time the thread waited for a core (on a busy machine, a wall clock
/// would blame the huge pages for the other processes).
/// `None` if the clock cannot be read.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Option<std::time::Duration> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return None;
    }
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u32::try_from(t.tv_nsec).ok()?;
    Some(std::time::Duration::new(secs, nanos))
}

/// `madvise` advice to fault pages in writable (Linux 5.14); not in every
/// `libc` target's constants.
#[cfg(target_os = "linux")]
const MADV_POPULATE_WRITE: libc::c_int = 23;

/// Every opened file read whole into memory of its own, with positioned
/// reads shared by [`LoadOptions::threads`] threads across files; each
/// file must still have its length afterwards. `progress` is told the
/// bytes read so far and in all.
pub(crate) fn read_files(
    opened: &[Opened],
    options: &LoadOptions,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Vec<SafeTensorsFile>> {
    let mut blanks = opened
        .iter()
        .map(|o| Blank::new(o.header.clone(), options).map_err(|e| e.in_file(&o.path)))
        .collect::<Result<Vec<_>>>()?;
    let mut pieces = Vec::with_capacity(2 * opened.len());
    for (from, blank) in opened.iter().zip(blanks.iter_mut()) {
        // The header (8 + N bytes), then the data section: progress counts
        // the latter's bytes.
        let (head, data, watch) = blank.split();
        pieces.push(Piece {
            from,
            offset: 0,
            buf: head,
            counted: false,
            watch,
        });
        pieces.push(Piece {
            from,
            offset: from.header.data_start(),
            buf: data,
            counted: true,
            watch,
        });
    }
    read_pieces(pieces, options, progress)?;
    for o in opened {
        o.check_unchanged()?;
    }
    Ok(blanks.into_iter().map(Blank::into_file).collect())
}

/// The file `opened`, read whole into memory of its own.
pub(crate) fn read_file(opened: Opened, options: &LoadOptions) -> Result<SafeTensorsFile> {
    let files = read_files(core::slice::from_ref(&opened), options, &mut |_, _| {})?;
    // One file in, one file out.
    files
        .into_iter()
        .next()
        .ok_or_else(|| Error::new(ErrorKind::Io).in_file(&opened.path))
}

/// Reads one tensor of the file at `path` into `buf`, which must be exactly
/// the tensor's length. Only the header and the tensor's bytes are read; no
/// map, so it works on any filesystem.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-read-into-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("model.safetensors");
/// use tensorsafe::{serialize_to_file, Dtype, TensorView};
/// serialize_to_file([("w", TensorView::new(Dtype::U8, &[3], &[1, 2, 3])?)], None, &path)?;
/// let mut buf = [0u8; 3];
/// tensorsafe::read_tensor_into(&path, "w", &mut buf)?;
/// assert_eq!(buf, [1, 2, 3]);
/// assert!(tensorsafe::read_tensor_into(&path, "w", &mut [0u8; 2]).is_err()); // wrong length
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_tensor_into(path: impl AsRef<Path>, name: &str, buf: &mut [u8]) -> Result<()> {
    let path = path.as_ref();
    let opened = Opened::new(path, &LoadOptions::default())?;
    let mut read = || -> Result<()> {
        let info = opened
            .header
            .get(name)
            .ok_or_else(|| Error::tensor_not_found(name))?;
        check_dest(&info, buf)?;
        read_at(&opened.file, buf, opened.offset_of(&info))
    };
    read().map_err(|e| e.in_file(path))
}

/// Asks `dest`, in file order, for each tensor of `header`'s destination,
/// checks that every buffer given is the tensor's length, and hands it to
/// `take`. Local and remote loads into caller buffers both start here.
pub(crate) fn each_destination<'h, 'b>(
    header: &'h Header,
    dest: &mut impl FnMut(TensorInfo<'_>) -> Option<&'b mut [u8]>,
    mut take: impl FnMut(TensorInfo<'h>, &'b mut [u8]),
) -> Result<()> {
    for info in header.iter() {
        if let Some(buf) = dest(info) {
            check_dest(&info, buf)?;
            take(info, buf);
        }
    }
    Ok(())
}

/// A destination buffer must be exactly the tensor's length.
pub(crate) fn check_dest(info: &TensorInfo<'_>, buf: &[u8]) -> Result<()> {
    if buf.len() as u64 == info.byte_len() {
        return Ok(());
    }
    Err(Error::buffer_length(buf.len(), info.byte_len(), "tensor").with_tensor(info.name()))
}

/// Loads the tensors of the file at `path` into buffers the caller owns,
/// without mapping the file (so it works on network filesystems, and the
/// buffers can be an arena reused across loads, pinned staging memory, or a
/// framework's own tensor storage).
///
/// `dest` is asked, in file order, for each tensor's destination: a buffer
/// of exactly the tensor's length, or `None` to skip it. Then every chosen
/// tensor is read, split across [`LoadOptions::threads`] threads; `progress`
/// is told the bytes read so far and in all (see [how progress is counted](crate::LoadOptions#progress)). Returns the header.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-load-into-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("model.safetensors");
/// use std::collections::HashMap;
/// use tensorsafe::{serialize_to_file, Dtype, LoadOptions, TensorView};
/// let (a, b) = ([1u8; 4], [2u8; 8]);
/// serialize_to_file([("a", TensorView::new(Dtype::U8, &[4], &a)?),
///                    ("b", TensorView::new(Dtype::F32, &[2], &b)?)], None, &path)?;
///
/// // The caller's storage: one buffer per tensor, allocated as it likes.
/// let header = tensorsafe::Header::read_from(std::fs::File::open(&path)?)?;
/// let mut storage: HashMap<String, Vec<u8>> = header
///     .iter()
///     .map(|t| (t.name().to_owned(), vec![0; t.byte_len() as usize]))
///     .collect();
/// let mut slots: HashMap<&str, &mut [u8]> =
///     storage.iter_mut().map(|(k, v)| (k.as_str(), v.as_mut_slice())).collect();
/// tensorsafe::load_into(&path, &LoadOptions::default(), |t| slots.remove(t.name()), |_, _| {})?;
/// assert_eq!(storage["b"], [2; 8]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_into<'b>(
    path: impl AsRef<Path>,
    options: &LoadOptions,
    mut dest: impl FnMut(TensorInfo<'_>) -> Option<&'b mut [u8]>,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<Header> {
    let opened = Opened::new(path.as_ref(), options)?;
    let mut pieces = Vec::new();
    opened.ask_destinations(&mut dest, &mut pieces)?;
    read_pieces(pieces, options, &mut progress)?;
    opened.check_unchanged()?;
    Ok(opened.header)
}

#[cfg(all(test, target_os = "linux"))]
mod huge_page_tests {
    use super::*;
    use std::time::Duration;
    use std::{format, vec::Vec};

    /// The `VmFlags` of the mapping that holds `addr`, from
    /// `/proc/self/smaps`.
    fn vm_flags(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = range.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = (a..b).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return Some(flags.to_owned());
                }
            }
        }
        None
    }

    /// Whether this system shows huge-page advice in `/proc/self/smaps`
    /// (not where THP is compiled out, nor under an emulator such as
    /// qemu-user, which ignores the advice and may show its host's maps).
    fn advice_shows() -> bool {
        let map = memmap2::MmapMut::map_anon(HUGE).unwrap();
        map.advise(memmap2::Advice::HugePage).is_ok()
            && vm_flags(map.as_ptr() as usize).is_some_and(|f| f.contains(" hg"))
    }

    /// An 8 MiB map advised to use huge pages, watched with `slow_after`,
    /// faulted in through the watch; `None` on a kernel that cannot fault
    /// in ahead (before 5.14).
    fn watched(slow_after: Duration) -> Option<(memmap2::MmapMut, HugeWatch)> {
        let mut map = memmap2::MmapMut::map_anon(4 * HUGE).unwrap();
        map.advise(memmap2::Advice::HugePage).unwrap();
        let watch = HugeWatch::new(&map, slow_after);
        watch.fault_in(&map[..]);
        if watch.done.load(Ordering::Relaxed) && !watch.switched() {
            return None; // MADV_POPULATE_WRITE refused
        }
        map[5] = 7;
        Some((map, watch))
    }

    #[test]
    #[cfg_attr(miri, ignore)] // madvise
    fn slow_huge_pages_switch_the_rest_to_small_pages() {
        if !advice_shows() {
            std::eprintln!("huge-page advice is not visible here; nothing to check");
            return;
        }
        // Every huge page counts as slow: after two, small pages.
        let Some((map, watch)) = watched(Duration::ZERO) else {
            return;
        };
        assert!(watch.switched());
        let flags = vm_flags(map.as_ptr() as usize).unwrap();
        assert!(flags.contains(" nh"), "{flags}");
        assert_eq!(map[5], 7);
        // None is slow: the advice stays.
        let (map, watch) = watched(Duration::from_secs(3600)).unwrap();
        assert!(!watch.switched());
        let flags = vm_flags(map.as_ptr() as usize).unwrap();
        assert!(flags.contains(" hg") && !flags.contains(" nh"), "{flags}");
    }

    #[test]
    #[cfg_attr(miri, ignore)] // files and maps
    fn open_reads_the_same_with_and_without_huge_pages() {
        let dir = std::env::temp_dir().join(format!("tensorsafe-huge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.safetensors");
        let data: Vec<u8> = (0..7 * HUGE + 12345).map(|i| (i % 251) as u8).collect();
        let view = crate::TensorView::new(crate::Dtype::U8, [data.len()], &data).unwrap();
        crate::serialize_to_file([("t", view)], None, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for (huge, threads) in [(true, 0), (true, 3), (false, 2)] {
            let options = LoadOptions {
                huge_pages: huge,
                threads,
                ..LoadOptions::default()
            };
            let file = SafeTensorsFile::open_with(&path, &options).unwrap();
            assert_eq!(file.as_bytes(), &bytes[..]);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Reads with `O_DIRECT` (Linux): aligned reads into a bounce buffer,
/// copied out to the destination.
mod direct {
    use std::fs::File;

    use super::{Result, PIECE};

    /// Offsets, lengths and addresses of direct reads are multiples of
    /// this (the largest logical block size in common use).
    pub(super) const ALIGN: u64 = 4096;

    /// `path` opened for direct reads, if the system and filesystem allow
    /// and it is still the file `opened` (not one renamed over it since).
    #[cfg(target_os = "linux")]
    pub(super) fn open(path: &std::path::Path, opened: &File) -> Option<File> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let direct = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()?;
        let (a, b) = (direct.metadata().ok()?, opened.metadata().ok()?);
        (a.dev() == b.dev() && a.ino() == b.ino()).then_some(direct)
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn open(_path: &std::path::Path, _opened: &File) -> Option<File> {
        None
    }

    /// A page-aligned buffer large enough for any piece plus its alignment
    /// on both ends; `None` if it cannot be had.
    pub(super) fn bounce() -> Option<memmap2::MmapMut> {
        memmap2::MmapMut::map_anon(PIECE + 2 * ALIGN as usize).ok()
    }

    /// Fills `buf` from `file` at `offset`, reading whole aligned blocks
    /// into `bounce` (page aligned, a multiple of [`ALIGN`] long).
    pub(super) fn read_at(
        file: &File,
        buf: &mut [u8],
        offset: u64,
        bounce: &mut [u8],
    ) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let start = at - at % ALIGN;
            let skip = (at - start) as usize;
            let want = round_up(skip + buf.len() - done).min(bounce.len());
            let got = read_some_at(file, &mut bounce[..want], start)?;
            if got <= skip {
                return Err(super::ended_early(offset, buf));
            }
            let n = (got - skip).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&bounce[skip..skip + n]);
            done += n;
        }
        Ok(())
    }

    /// `n` rounded up to a multiple of [`ALIGN`].
    fn round_up(n: usize) -> usize {
        let align = ALIGN as usize;
        n.div_ceil(align) * align
    }

    /// Reads into `buf` at `offset` until it is full or the file ends;
    /// returns the bytes read.
    fn read_some_at(file: &File, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match positioned_read(file, &mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(got)
    }

    #[cfg(unix)]
    fn positioned_read(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }

    #[cfg(not(unix))]
    fn positioned_read(_: &File, _: &mut [u8], _: u64) -> std::io::Result<usize> {
        unreachable!("direct reads are opened only on Linux")
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::ErrorKind;
        use std::vec::Vec;
        use std::{format, vec};

        #[test]
        #[cfg_attr(miri, ignore)] // anonymous maps and O_DIRECT
        fn unaligned_reads_through_the_bounce_buffer() {
            let dir =
                std::env::temp_dir().join(format!("tensorsafe-direct-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("bytes");
            let bytes: Vec<u8> = (0..3 * ALIGN as u32 + 77)
                .map(|i| (i % 253) as u8)
                .collect();
            std::fs::write(&path, &bytes).unwrap();
            // The direct handle where the filesystem has one, a plain one
            // otherwise: the alignment logic is the same.
            let plain = File::open(&path).unwrap();
            let file = open(&path, &plain).unwrap_or(plain);
            let mut bounce = bounce().unwrap();
            // A small bounce buffer too, so one piece takes several reads.
            let mut small = memmap2::MmapMut::map_anon(2 * ALIGN as usize).unwrap();
            let len = bytes.len() as u64;
            for (offset, n) in [
                (0, 1),
                (1, 4095),
                (4095, 2),
                (4096, 4096),
                (5, len as usize - 5),
                (len - 3, 3),
            ] {
                for bounce in [&mut bounce[..], &mut small[..]] {
                    let mut buf = vec![0u8; n];
                    read_at(&file, &mut buf, offset, bounce).unwrap();
                    assert_eq!(
                        buf,
                        bytes[offset as usize..offset as usize + n],
                        "{offset}+{n}"
                    );
                }
            }
            let mut past = vec![0u8; 10];
            let err = read_at(&file, &mut past, len - 5, &mut bounce).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::FileChanged);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
