//! [`Checkpoint`]: a sharded checkpoint opened through its index.

use std::format;
use std::prelude::rust_2021::*;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::index_file::{is_shard_name, Index, INDEX_FILE, MAX_INDEX_BYTES};
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, TensorInfo};
use crate::limits::ParseOptions;
use crate::read::load::{self, LoadOptions, Opened, Piece};
use crate::read::SafeTensorsFile;
use crate::view::TensorView;

/// How shards are loaded.
#[derive(Debug, Clone, Copy)]
enum Load {
    Read,
    Map,
    /// Filled when made (see [`Checkpoint::loaded`]); nothing to open.
    #[cfg_attr(not(feature = "object-store"), allow(dead_code))]
    Loaded,
}

/// A sharded checkpoint: one lookup from tensor name to view across its
/// shard files, which are opened when first needed (or all at once).
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-doc-{}", std::process::id()));
/// use tensorsafe::{Checkpoint, Dtype, TensorView, Writer};
/// let (a, b) = ([1u8; 600], [2u8; 600]);
/// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
/// let files = Writer::new().sharded(tensors, &dir, 1000)?; // two shards and the index
/// assert_eq!(files.len(), 2);
///
/// let checkpoint = Checkpoint::open(&dir)?;   // reads only the index
/// assert_eq!(checkpoint.tensor("b")?.data()[0], 2); // opens the second shard
/// checkpoint.verify()?;                       // every shard's header against the index
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Checkpoint {
    index_path: PathBuf,
    dir: PathBuf,
    index: Index,
    shards: Vec<OnceLock<SafeTensorsFile>>,
    /// Shard headers read on their own ([`Checkpoint::shard_header`]).
    headers: Vec<OnceLock<Header>>,
    load: Load,
    /// How shards are read and their headers parsed.
    options: LoadOptions,
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opened = self.shards.iter().filter(|s| s.get().is_some()).count();
        f.debug_struct("Checkpoint")
            .field("index_path", &self.index_path)
            .field("files", &self.index.files)
            .field("tensors", &self.index.weight_map.len())
            .field("opened", &opened)
            .field("load", &self.load)
            .field("options", &self.options)
            .finish()
    }
}

impl Checkpoint {
    /// Opens the index at `path` (or `model.safetensors.index.json`, or the
    /// only `*.safetensors.index.json`, in the directory `path`). Shards are
    /// read into memory when one of their tensors is first asked for.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &LoadOptions::default())
    }

    /// [`Checkpoint::open`] with your own options: shards are read (when
    /// first needed) as [`SafeTensorsFile::open_with`] reads them, and their
    /// headers parsed with `options.parse` (limits, strictness).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-opts-{}", std::process::id()));
    /// use tensorsafe::{Checkpoint, Dtype, ErrorKind, LoadOptions, TensorView, Writer};
    /// let (a, b) = ([1u8; 600], [2u8; 600]);
    /// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
    /// Writer::new().sharded(tensors, &dir, 1000)?;
    ///
    /// let mut options = LoadOptions::default();
    /// options.parse.limits.max_header_bytes = 16; // smaller than any shard's header
    /// let checkpoint = Checkpoint::open_with(&dir, &options)?;
    /// assert_eq!(checkpoint.tensor("a").unwrap_err().kind(), ErrorKind::HeaderTooLarge);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Self> {
        Self::open_as(path.as_ref(), Load::Read, *options)
    }

    /// [`Checkpoint::open`], memory-mapping shards instead of reading them.
    ///
    /// # Safety
    ///
    /// As for [`SafeTensorsFile::mmap`]: no shard may be modified or
    /// truncated while the checkpoint is alive.
    pub unsafe fn mmap(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_as(path.as_ref(), Load::Map, LoadOptions::default())
    }

    /// [`Checkpoint::mmap`] with your own header parsing options.
    ///
    /// # Safety
    ///
    /// As for [`Checkpoint::mmap`].
    pub unsafe fn mmap_with(path: impl AsRef<Path>, options: &ParseOptions) -> Result<Self> {
        let options = LoadOptions {
            parse: *options,
            ..LoadOptions::default()
        };
        Self::open_as(path.as_ref(), Load::Map, options)
    }

    /// Opens the index and every shard at once (each read into memory, as
    /// [`Checkpoint::open`] reads one when first needed), after checking
    /// every shard's header against the index ([`Checkpoint::verify`]):
    /// whatever would fail, fails now.
    pub fn open_all(path: impl AsRef<Path>) -> Result<Self> {
        let checkpoint = Self::open(path)?;
        checkpoint.verify()?;
        for i in 0..checkpoint.index.files.len() {
            checkpoint.shard(i)?;
        }
        Ok(checkpoint)
    }

    /// Opens the index and reads every shard into memory at once: the
    /// headers first (each read and checked, then checked against the
    /// index as [`Checkpoint::verify`] does, before any tensor byte is
    /// read), then all shards' bytes with positioned reads shared by
    /// [`LoadOptions::threads`] threads across files, into page-aligned
    /// memory as [`SafeTensorsFile::open`] does. `progress` is told the
    /// bytes read so far and in all (for a progress bar).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-load-{}", std::process::id()));
    /// use tensorsafe::{Checkpoint, Dtype, LoadOptions, TensorView, Writer};
    /// let (a, b) = ([1u8; 600], [2u8; 600]);
    /// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
    /// Writer::new().sharded(tensors, &dir, 1000)?;
    ///
    /// let done = std::sync::atomic::AtomicU64::new(0);
    /// let checkpoint = Checkpoint::load(&dir, &LoadOptions::default(), |read, _total| {
    ///     done.store(read, std::sync::atomic::Ordering::Relaxed);
    /// })?;
    /// assert_eq!(checkpoint.tensor("b")?.data(), &[2; 600]);
    /// assert!(done.into_inner() >= 1200);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(
        path: impl AsRef<Path>,
        options: &LoadOptions,
        progress: impl Fn(u64, u64) + Sync,
    ) -> Result<Self> {
        let checkpoint = Self::open_as(path.as_ref(), Load::Read, *options)?;
        let opened = checkpoint.open_shards(options)?;
        let mut maps = opened
            .iter()
            .map(|o| load::owned_buffer(o.len, options).map_err(|e| e.in_file(&o.path)))
            .collect::<Result<Vec<_>>>()?;
        let pieces = opened
            .iter()
            .zip(maps.iter_mut())
            .map(|(from, map)| Piece {
                from,
                offset: 0,
                buf: map,
            })
            .collect();
        load::read_pieces(pieces, options, &progress)?;
        for ((shard, map), slot) in opened.into_iter().zip(maps).zip(&checkpoint.shards) {
            shard.check_unchanged()?;
            // The slots are fresh: nothing else has filled them.
            let _ = slot.set(SafeTensorsFile::owned(map, shard.header));
        }
        Ok(checkpoint)
    }

    /// Loads every shard's tensors into buffers the caller owns, without
    /// mapping anything: [`load_into`](crate::load_into) for a whole
    /// checkpoint. The headers are read and checked against the index
    /// first; then `dest` is asked, shard by shard in file order, for each
    /// tensor's destination (a buffer of exactly its length, or `None` to
    /// skip it), and all chosen tensors are read in parallel across files.
    /// Returns the checkpoint with its shards closed (opening one reads it).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-into-{}", std::process::id()));
    /// use tensorsafe::{Checkpoint, Dtype, LoadOptions, TensorView, Writer};
    /// let (a, b) = ([1u8; 600], [2u8; 600]);
    /// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
    /// Writer::new().sharded(tensors, &dir, 1000)?;
    ///
    /// // One arena for the whole checkpoint, handed out in the order asked.
    /// let mut arena = vec![0u8; 1200];
    /// let mut rest = arena.as_mut_slice();
    /// let mut names = Vec::new();
    /// Checkpoint::load_into(&dir, &LoadOptions::default(), |t| {
    ///     names.push(t.name().to_owned());
    ///     let (mine, more) = std::mem::take(&mut rest).split_at_mut(t.byte_len() as usize);
    ///     rest = more;
    ///     Some(mine)
    /// }, |_, _| {})?;
    /// assert_eq!(names, ["a", "b"]);
    /// assert_eq!(arena[600..], [2; 600]);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_into<'b>(
        path: impl AsRef<Path>,
        options: &LoadOptions,
        mut dest: impl FnMut(TensorInfo<'_>) -> Option<&'b mut [u8]>,
        progress: impl Fn(u64, u64) + Sync,
    ) -> Result<Self> {
        let checkpoint = Self::open_as(path.as_ref(), Load::Read, *options)?;
        let opened = checkpoint.open_shards(options)?;
        let mut pieces = Vec::new();
        for shard in &opened {
            shard.ask_destinations(&mut dest, &mut pieces)?;
        }
        load::read_pieces(pieces, options, &progress)?;
        for shard in &opened {
            shard.check_unchanged()?;
        }
        Ok(checkpoint)
    }

    /// Every shard's handle and header, checked against the index.
    fn open_shards(&self, options: &LoadOptions) -> Result<Vec<Opened>> {
        let opened = self
            .index
            .files
            .iter()
            .map(|file| Opened::new(&self.dir.join(file), options))
            .collect::<Result<Vec<_>>>()?;
        self.check_headers(opened.iter().map(|o| &o.header))?;
        Ok(opened)
    }

    fn open_as(path: &Path, load: Load, options: LoadOptions) -> Result<Self> {
        let index_path = find_index(path)?;
        let index = read_index(&index_path).map_err(|e| e.in_file(&index_path))?;
        let dir = index_path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let shards = index.files.iter().map(|_| OnceLock::new()).collect();
        let headers = index.files.iter().map(|_| OnceLock::new()).collect();
        Ok(Checkpoint {
            index_path,
            dir,
            index,
            shards,
            headers,
            load,
            options,
        })
    }

    /// A checkpoint whose shards are already in memory (loaded from remote
    /// storage): `index_path` names where the index came from, `shards`
    /// are in the order of `index.files`, checked against the index.
    #[cfg(feature = "object-store")]
    pub(crate) fn loaded(index_path: PathBuf, index: Index, shards: Vec<SafeTensorsFile>) -> Self {
        debug_assert_eq!(index.files.len(), shards.len());
        Checkpoint {
            index_path,
            dir: PathBuf::new(),
            headers: shards.iter().map(|_| OnceLock::new()).collect(),
            index,
            shards: shards.into_iter().map(OnceLock::from).collect(),
            load: Load::Loaded,
            options: LoadOptions::default(),
        }
    }

    /// The index file.
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }

    /// Shard file names, in the order the index first names them.
    pub fn files(&self) -> &[String] {
        &self.index.files
    }

    /// `metadata.total_size` from the index, if present.
    pub fn total_size(&self) -> Option<u64> {
        self.index.total_size
    }

    /// Number of tensors the index maps.
    pub fn len(&self) -> usize {
        self.index.weight_map.len()
    }

    /// Whether the index maps no tensor.
    pub fn is_empty(&self) -> bool {
        self.index.weight_map.is_empty()
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.index.weight_map.keys().map(String::as_str)
    }

    /// The shard file that holds `name`, per the index.
    pub fn file_of(&self, name: &str) -> Option<&str> {
        self.index.file_of(name)
    }

    /// Shard `i` (a position in [`Checkpoint::files`]), opened and
    /// validated on first use. Errors name the shard's path.
    pub fn shard(&self, i: usize) -> Result<&SafeTensorsFile> {
        let (Some(slot), Some(file)) = (self.shards.get(i), self.index.files.get(i)) else {
            return Err(self.no_shard(i));
        };
        if let Some(opened) = slot.get() {
            return Ok(opened);
        }
        let path = self.dir.join(file);
        let opened = match self.load {
            Load::Read => SafeTensorsFile::open_with(&path, &self.options)?,
            // SAFETY: `mmap`/`mmap_with` are the only ways to get `Load::Map`,
            // and their caller promised that no shard changes while the
            // checkpoint lives.
            Load::Map => unsafe { SafeTensorsFile::mmap_with(&path, &self.options.parse)? },
            // Every shard of a loaded checkpoint was filled when it was made.
            Load::Loaded => return Err(not_loaded(file)),
        };
        // Another thread may have won the race; either copy is the same file.
        Ok(slot.get_or_init(|| opened))
    }

    /// The tensor called `name`, from the shard the index names.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let &i = self
            .index
            .weight_map
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::TensorNotFound).with_tensor(name))?;
        self.shard(i)?.tensor(name).map_err(|e| {
            if e.kind() != ErrorKind::TensorNotFound {
                return e;
            }
            Error::new(ErrorKind::IndexMissingTensor)
                .with_tensor(name)
                .with_detail(format!(
                    "the index maps it to {}, which does not hold it",
                    self.index.files[i]
                ))
                .in_file(&self.index_path)
        })
    }

    /// Shard `i`'s header: read (8 + N bytes) and checked against the
    /// file's length on first use, without reading any tensor byte (or
    /// taken from the shard, if it is open already). Errors name the
    /// shard's path.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-header-{}", std::process::id()));
    /// use tensorsafe::{Checkpoint, Dtype, TensorView, Writer};
    /// let (a, b) = ([1u8; 600], [2u8; 600]);
    /// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
    /// Writer::new().sharded(tensors, &dir, 1000)?;
    ///
    /// let checkpoint = Checkpoint::open(&dir)?;
    /// let header = checkpoint.shard_header(1)?; // 8 + N bytes of the second shard
    /// assert_eq!(header.get("b").map(|t| t.byte_len()), Some(600));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shard_header(&self, i: usize) -> Result<&Header> {
        if let Some(open) = self.shards.get(i).and_then(OnceLock::get) {
            return Ok(open.header());
        }
        let (Some(slot), Some(file)) = (self.headers.get(i), self.index.files.get(i)) else {
            return Err(self.no_shard(i));
        };
        if let Some(header) = slot.get() {
            return Ok(header);
        }
        if matches!(self.load, Load::Loaded) {
            return Err(not_loaded(file));
        }
        let header = Opened::new(&self.dir.join(file), &self.options)?.header;
        Ok(slot.get_or_init(|| header))
    }

    /// The path of shard `i` (a position in [`Checkpoint::files`]): the
    /// index's directory joined with the shard's file name.
    pub fn shard_path(&self, i: usize) -> Option<PathBuf> {
        self.index.files.get(i).map(|file| self.dir.join(file))
    }

    /// A shard position past the last shard.
    fn no_shard(&self, i: usize) -> Error {
        Error::new(ErrorKind::InvalidSlice)
            .with_detail(format!("shard {i} of {}", self.index.files.len()))
    }

    /// Reads every shard's header (no tensor byte) and checks the index
    /// against them: no tensor in two shards, every mapped tensor where the
    /// index says, no tensor the index does not map, the right
    /// `total_size`, every shard exactly as long as its header requires,
    /// and no `*-NNNNN-of-NNNNN.safetensors` file in the directory the
    /// index does not name. The first problem is the error. Tensor bytes
    /// are never invalid, so this is everything there is to check.
    pub fn verify(&self) -> Result<()> {
        let headers = (0..self.index.files.len())
            .map(|i| self.shard_header(i))
            .collect::<Result<Vec<_>>>()?;
        self.check_headers(headers)
    }

    /// [`Checkpoint::verify`] on the shards' headers, in the order of
    /// [`Checkpoint::files`].
    fn check_headers<'h>(&self, headers: impl IntoIterator<Item = &'h Header>) -> Result<()> {
        self.index.check_headers(headers, &self.index_path)?;
        self.check_no_unnamed_shard()
    }

    /// No shard-named file beside the index that the index does not name.
    fn check_no_unnamed_shard(&self) -> Result<()> {
        if matches!(self.load, Load::Loaded) {
            return Ok(());
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_shard_name(&name) && !self.index.files.contains(&name) {
                return Err(Error::new(ErrorKind::IndexUnnamedShard)
                    .with_detail(format!(
                        "{name} lies beside the index but the index does not name it"
                    ))
                    .in_file(&self.index_path));
            }
        }
        Ok(())
    }
}

/// A shard of a loaded checkpoint that was not filled.
fn not_loaded(file: &str) -> Error {
    Error::new(ErrorKind::Io).with_detail(format!("shard {file} was not loaded"))
}

/// The index at `path`. Every problem with the index's content is
/// [`ErrorKind::IndexInvalid`] (or [`ErrorKind::DuplicateTensor`]).
pub(super) fn read_index(path: &Path) -> Result<Index> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_INDEX_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| Error::from(e).retag(ErrorKind::IndexInvalid))?;
    Index::parse(&text)
}

/// The index file `path` names, directly or as its directory.
fn find_index(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_owned());
    }
    let preferred = path.join(INDEX_FILE);
    if preferred.is_file() {
        return Ok(preferred);
    }
    let found: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::from(e).in_file(path))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".safetensors.index.json"))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Error::new(ErrorKind::IndexInvalid)
            .with_detail(format!("{} index files; expected one", found.len()))
            .in_file(path)),
    }
}
