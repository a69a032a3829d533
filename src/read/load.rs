//! Getting a file's bytes into memory at the machine's limit: the header
//! first (a bad file costs 8 + N bytes of reading), then the data section
//! with positioned reads split across threads, into memory that is never
//! zero-filled by us (an anonymous map the kernel hands out zeroed and
//! lazily, with transparent huge pages requested on Linux) or into buffers
//! the caller owns.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, TensorInfo};
use crate::limits::ParseOptions;

/// Reads are split into pieces of at most this many bytes, so that threads
/// share the work of one large tensor.
const PIECE: usize = 8 << 20;

/// How files are loaded: parsing options, threads, huge pages.
///
/// ```
/// use tensorsafe::LoadOptions;
/// let mut options = LoadOptions::default();
/// options.threads = 4;            // 0 (the default): one per available core
/// options.huge_pages = false;     // Linux only: ask for transparent huge pages
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
    /// (`madvise(MADV_HUGEPAGE)`): far fewer page faults when the kernel
    /// has huge pages to give. Default: on.
    pub huge_pages: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            parse: ParseOptions::default(),
            threads: 0,
            huge_pages: true,
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
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(Error::new(ErrorKind::FileChanged).with_detail(format!(
                "ended before byte {}",
                offset.saturating_add(buf.len() as u64)
            )))
        }
        Err(e) => Err(e.into()),
    }
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

/// A file opened for loading: its handle, its length when opened, and its
/// header, read (exactly 8 + N bytes) and checked against that length
/// before any tensor byte is read.
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) len: u64,
    pub(crate) header: Header,
}

impl Opened {
    pub(crate) fn new(path: &Path, options: &ParseOptions) -> Result<Opened> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let header = Header::read_from_with(&file, options)?;
        header.check_file_len(len)?;
        Ok(Opened { file, len, header })
    }

    /// File offset of a tensor's first byte.
    fn offset_of(&self, info: &TensorInfo<'_>) -> u64 {
        self.header.data_start() + info.data_offsets().0
    }

    /// Checks, after loading, that the file still has the length it had.
    pub(crate) fn check_unchanged(&self) -> Result<()> {
        let now = self.file.metadata()?.len();
        if now != self.len {
            return Err(Error::new(ErrorKind::FileChanged).with_detail(format!(
                "{} bytes when opened, {now} after loading",
                self.len
            )));
        }
        Ok(())
    }
}

/// One read: these bytes of the file into this buffer.
struct Piece<'b> {
    offset: u64,
    buf: &'b mut [u8],
}

/// Reads every piece on up to `threads` threads, which take the next piece
/// in file order as they finish one (so a thread that is slowed down does
/// not hold up the others). `done(bytes)` is called as pieces finish.
fn read_pieces(
    file: &File,
    pieces: Vec<Piece<'_>>,
    threads: usize,
    done: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    // Cut large pieces so every thread has a share of one large tensor.
    let mut small = Vec::with_capacity(pieces.len());
    for Piece { offset, buf } in pieces {
        let mut at = offset;
        for chunk in buf.chunks_mut(PIECE) {
            let len = chunk.len() as u64;
            small.push(Piece {
                offset: at,
                buf: chunk,
            });
            at += len;
        }
    }
    let total: usize = small.iter().map(|p| p.buf.len()).sum();
    let threads = if total < 2 * PIECE {
        1
    } else {
        threads.clamp(1, small.len())
    };
    let queue = std::sync::Mutex::new(small.into_iter());
    // No reader panics while holding the lock, so a poisoned queue is as
    // good as any.
    let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).next();
    let work = || -> Result<()> {
        while let Some(piece) = next() {
            read_at(file, piece.buf, piece.offset)?;
            done(piece.buf.len() as u64);
        }
        Ok(())
    };
    if threads == 1 {
        return work();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(())
}

/// The whole file in a fresh anonymous map, read in parallel. The map is
/// page aligned, so tensors are as aligned in memory as in the file.
pub(crate) fn read_owned(opened: &Opened, options: &LoadOptions) -> Result<memmap2::MmapMut> {
    let len = usize::try_from(opened.len)
        .map_err(|_| Error::new(ErrorKind::Overflow).with_detail("file larger than memory"))?;
    let mut map = memmap2::MmapMut::map_anon(len)?;
    #[cfg(target_os = "linux")]
    if options.huge_pages && len >= 2 << 20 {
        // Only advice: a kernel without huge pages to give ignores it.
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    let whole = Piece {
        offset: 0,
        buf: &mut map,
    };
    read_pieces(&opened.file, vec![whole], options.thread_count(), &|_| {})?;
    Ok(map)
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
    let mut read = || -> Result<()> {
        let opened = Opened::new(path, &ParseOptions::default())?;
        let info = opened
            .header
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::TensorNotFound).with_tensor(name))?;
        check_dest(&info, buf)?;
        read_at(&opened.file, buf, opened.offset_of(&info))
    };
    read().map_err(|e| e.in_file(path))
}

/// A destination buffer must be exactly the tensor's length.
fn check_dest(info: &TensorInfo<'_>, buf: &[u8]) -> Result<()> {
    if buf.len() as u64 == info.byte_len() {
        return Ok(());
    }
    Err(Error::new(ErrorKind::InvalidView)
        .with_tensor(info.name())
        .with_detail(format!(
            "buffer of {} bytes for a tensor of {}",
            buf.len(),
            info.byte_len()
        )))
}

/// Loads the tensors of the file at `path` into buffers the caller owns,
/// without mapping the file (so it works on network filesystems, and the
/// buffers can be an arena reused across loads, pinned staging memory, or a
/// framework's own tensor storage).
///
/// `dest` is asked, in file order, for each tensor's destination: a buffer
/// of exactly the tensor's length, or `None` to skip it. Then every chosen
/// tensor is read, split across [`LoadOptions::threads`] threads; `progress`
/// is told the bytes read so far and in all. Returns the header.
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
    progress: impl Fn(u64, u64) + Sync,
) -> Result<Header> {
    let path = path.as_ref();
    let mut load = || -> Result<Header> {
        let opened = Opened::new(path, &options.parse)?;
        let mut pieces = Vec::new();
        for info in opened.header.iter() {
            if let Some(buf) = dest(info) {
                check_dest(&info, buf)?;
                let offset = opened.offset_of(&info);
                pieces.push(Piece { offset, buf });
            }
        }
        let total: u64 = pieces.iter().map(|p| p.buf.len() as u64).sum();
        let read = std::sync::atomic::AtomicU64::new(0);
        let done = |n: u64| {
            let now = read.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            progress(now, total);
        };
        read_pieces(&opened.file, pieces, options.thread_count(), &done)?;
        opened.check_unchanged()?;
        Ok(opened.header)
    };
    load().map_err(|e| e.in_file(path))
}
