//! [`Checkpoint`]: a checkpoint on disk, opened through its index (or as
//! one `.safetensors` file), listed from its shards' headers.

use std::format;
use std::prelude::rust_2021::*;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::base::{listing, Core, Shard};
use super::index_file::{check_index_len, is_shard_name, Index, MAX_INDEX_BYTES};
use super::locate::{locate, Located};
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, TensorInfo};
use crate::limits::ParseOptions;
use crate::read::{
    check_same, read_file, read_files, read_pieces, Identity, LoadOptions, Opened, SafeTensorsFile,
};
use crate::view::TensorView;

/// How shards are opened when first needed.
#[derive(Debug, Clone, Copy)]
enum Load {
    Read,
    Map,
}

/// A shard on disk: its path and header, and the whole file once opened.
struct LocalShard {
    path: PathBuf,
    header: Header,
    /// The file whose header was read, as it was then.
    identity: Identity,
    file: OnceLock<SafeTensorsFile>,
}

impl Shard for LocalShard {
    type File = Path;

    fn header(&self) -> &Header {
        &self.header
    }

    fn file(&self) -> &Path {
        &self.path
    }
}

/// A checkpoint on disk: a sharded one through its index, or a single
/// `.safetensors` file as a checkpoint of one shard. Opening reads the
/// index and every shard's header (8 + N bytes each, no tensor byte) and
/// checks them against each other, so the whole tensor table (names,
/// dtypes, shapes, where each tensor's bytes are) is at hand; a shard's
/// bytes are read into memory when one of its tensors is first asked for
/// (or all at once: [`Checkpoint::load`], [`Checkpoint::load_into`]).
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-doc-{}", std::process::id()));
/// use tensorsafe::{Checkpoint, Dtype, TensorView, Writer};
/// let (a, b) = ([1u8; 600], [2u8; 600]);
/// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
/// let files = Writer::new().sharded(tensors, &dir, 1000)?; // two shards and the index
/// assert_eq!(files.len(), 2);
///
/// let checkpoint = Checkpoint::open(&dir)?;   // the index and the shards' headers
/// for (name, entry) in checkpoint.iter() {    // no tensor byte read yet
///     println!("{name}: {} {:?} in shard {}", entry.dtype(), entry.shape(), entry.shard());
/// }
/// assert_eq!(checkpoint.tensor("b")?.data()[0], 2); // reads the second shard
/// checkpoint.verify()?;                       // no stray shard beside the index
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The three checkpoint types share their names: the listing
/// ([`files`](Checkpoint::files), [`file_of`](Checkpoint::file_of),
/// [`entries`](Checkpoint::entries), [`entry`](Checkpoint::entry),
/// [`iter`](Checkpoint::iter), [`names`](Checkpoint::names),
/// [`metadata`](Checkpoint::metadata), ...), `shard(i)` for shard `i`'s
/// handle, `tensor(name)`. Where things live differs with where the
/// shards are:
///
/// | | `Checkpoint` (on disk) | `remote::RemoteCheckpoint` | `remote::LoadedCheckpoint` |
/// |---|---|---|---|
/// | the index (or the single file) | [`path()`](Checkpoint::path): `&Path` | `location()`: the store's `&Path` | `location()`, where it was fetched from |
/// | shard `i` | [`shard_path(i)`](Checkpoint::shard_path) | `shard_location(i)` | `shard_location(i)` |
/// | shard `i`'s handle | [`shard(i)?`](Checkpoint::shard): `&SafeTensorsFile`, read when first asked for | `shard(i)?`: `&RemoteFile` | `shard(i)?`: `&SafeTensorsFile` in memory |
///
/// One entry point takes every layout a model comes in:
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-any-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// use tensorsafe::{serialize_to_file, Checkpoint, Dtype, ErrorKind, TensorView};
/// let w = TensorView::new(Dtype::U8, &[3], &[1, 2, 3])?;
/// serialize_to_file([("w", w.clone())], None, dir.join("model.safetensors"))?;
/// // A file, or a directory holding one file (or one index): the same checkpoint.
/// let file = Checkpoint::open(dir.join("model.safetensors"))?;
/// let in_dir = Checkpoint::open(&dir)?;
/// assert_eq!(file.entry("w")?.byte_range(), in_dir.entry("w")?.byte_range());
/// assert!(!in_dir.is_sharded());
///
/// // Two files and no index: which one is meant is not for the library to guess.
/// serialize_to_file([("w", w)], None, dir.join("other.safetensors"))?;
/// let err = Checkpoint::open(&dir).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotACheckpoint);
/// assert!(err.to_string().contains("2 .safetensors files (model.safetensors, other.safetensors)"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Checkpoint {
    /// The index, or the single file.
    path: PathBuf,
    /// Where shards lie: the index's directory.
    dir: PathBuf,
    sharded: bool,
    core: Core<LocalShard>,
    load: Load,
    /// How shards are read and their headers parsed.
    options: LoadOptions,
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shards = &self.core.shards;
        let opened = shards.iter().filter(|s| s.file.get().is_some()).count();
        f.debug_struct("Checkpoint")
            .field("path", &self.path)
            .field("files", &self.core.index.files)
            .field("tensors", &self.core.len())
            .field("opened", &opened)
            .field("load", &self.load)
            .field("options", &self.options)
            .finish()
    }
}

impl Checkpoint {
    /// Opens the checkpoint at `path`: an index (a path ending in `.json`),
    /// a `.safetensors` file (a checkpoint of one shard), or a directory
    /// holding `model.safetensors.index.json`, or else exactly one
    /// `*.safetensors.index.json`, or else exactly one `.safetensors` file
    /// (anything else is [`ErrorKind::NotACheckpoint`], saying what the
    /// directory holds); [`Checkpoint::locate`] gives the whole rule. Reads the index and every shard's header, checked
    /// against each other; shards are read into memory when one of their
    /// tensors is first asked for.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &LoadOptions::default())
    }

    /// [`Checkpoint::open`] with your own options: headers are parsed with
    /// `options.parse` (limits, strictness), and shards read (when first
    /// needed) as [`SafeTensorsFile::open_with`] reads them.
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
    /// let err = Checkpoint::open_with(&dir, &options).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::HeaderTooLarge);
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
    /// truncated in place while the checkpoint lives (a shard is mapped
    /// when one of its tensors is first asked for, on whichever thread
    /// asks, so "while mapped" cannot be told apart from "while the
    /// checkpoint lives"); a write or truncation of a mapped file is
    /// undefined behaviour (reads may see the bytes change, or the process
    /// may die of `SIGBUS`). A file renamed over a shard is harmless: a
    /// shard is mapped only if it is still the file whose header opening
    /// read (same inode and modification time, length and header), else
    /// [`ErrorKind::FileChanged`], and once mapped the map keeps the old
    /// file. That check is a best effort, not part of the contract.
    pub unsafe fn mmap(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_as(path.as_ref(), Load::Map, LoadOptions::default())
    }

    /// [`Checkpoint::mmap`] with your own header parsing options.
    ///
    /// # Safety
    ///
    /// As for [`Checkpoint::mmap`].
    pub unsafe fn mmap_with(path: impl AsRef<Path>, options: &ParseOptions) -> Result<Self> {
        Self::open_as(path.as_ref(), Load::Map, LoadOptions::from(*options))
    }

    /// Opens the checkpoint and every shard at once (each read into memory,
    /// as [`Checkpoint::open`] reads one when first needed): whatever
    /// reading a tensor would meet, it meets now. Like the other loads, it
    /// leaves [`Checkpoint::verify`]'s checks (`metadata.total_size`, no
    /// stray shard) to you.
    pub fn open_all(path: impl AsRef<Path>) -> Result<Self> {
        let checkpoint = Self::open(path)?;
        for i in 0..checkpoint.core.shards.len() {
            checkpoint.shard(i)?;
        }
        Ok(checkpoint)
    }

    /// Opens the checkpoint and reads every shard into memory at once: the
    /// headers first (each read and checked, then checked against the
    /// index as [`Checkpoint::open`] does, before any tensor byte is
    /// read; [`Checkpoint::verify`]'s checks are left to you), then all shards' bytes with positioned reads shared by
    /// [`LoadOptions::threads`] threads across files, into page-aligned
    /// memory as [`SafeTensorsFile::open`] does. `progress` is told the
    /// bytes read so far and in all (for a progress bar); its calls are
    /// serialised, so it may be any `FnMut` (see [how progress is counted](crate::LoadOptions#progress)).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-load-{}", std::process::id()));
    /// use tensorsafe::{Checkpoint, Dtype, LoadOptions, TensorView, Writer};
    /// let (a, b) = ([1u8; 600], [2u8; 600]);
    /// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
    /// Writer::new().sharded(tensors, &dir, 1000)?;
    ///
    /// let mut done = 0;
    /// let checkpoint = Checkpoint::load(&dir, &LoadOptions::default(), |read, _total| done = read)?;
    /// assert_eq!(checkpoint.tensor("b")?.data(), &[2; 600]);
    /// assert_eq!(done, 1200); // tensor bytes: the index's total_size
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(
        path: impl AsRef<Path>,
        options: &LoadOptions,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<Self> {
        let (checkpoint, opened) = Self::open_keeping(path.as_ref(), Load::Read, *options, true)?;
        let files = read_files(&opened, options, &mut progress)?;
        for (shard, file) in checkpoint.core.shards.iter().zip(files) {
            // The slots are fresh: nothing else has filled them.
            let _ = shard.file.set(file);
        }
        Ok(checkpoint)
    }

    /// Loads every shard's tensors into buffers the caller owns, without
    /// mapping anything: [`load_into`](crate::load_into) for a whole
    /// checkpoint. The headers are read and checked against the index
    /// first (as [`Checkpoint::open`] does; not [`Checkpoint::verify`]); then `dest` is asked, shard by shard in file order, for each
    /// tensor's destination (a buffer of exactly its length, or `None` to
    /// skip it), and all chosen tensors are read in parallel across files.
    /// `progress` is told the bytes read so far and in all
    /// (see [how progress is counted](crate::LoadOptions#progress)). Returns the checkpoint with its shards closed
    /// (opening one reads it).
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
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<Self> {
        let (checkpoint, opened) = Self::open_keeping(path.as_ref(), Load::Read, *options, true)?;
        let mut pieces = Vec::new();
        for shard in &opened {
            shard.ask_destinations(&mut dest, &mut pieces)?;
        }
        read_pieces(pieces, options, &mut progress)?;
        for shard in &opened {
            shard.check_unchanged()?;
        }
        Ok(checkpoint)
    }

    /// Every problem that [`Checkpoint::open`] and then
    /// [`Checkpoint::verify`] would meet at `path`, not only the first:
    /// one error for each shard whose header cannot be read or is invalid
    /// (each naming its shard), or else the first problem of the index
    /// against the headers or beside it. Empty when both would succeed.
    /// For tools that report a checkpoint's every broken shard at once.
    /// Headers are parsed with default options ([`Checkpoint::diagnose_with`]
    /// takes yours).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-diagnose-{}", std::process::id()));
    /// use tensorsafe::{Checkpoint, Dtype, ErrorKind, TensorView, Writer};
    /// let (a, b) = ([1u8; 600], [2u8; 600]);
    /// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
    /// let files = Writer::new().sharded(tensors, &dir, 1000)?;
    /// assert!(Checkpoint::diagnose(&dir).is_empty());
    ///
    /// std::fs::write(dir.join(&files[0]), [1, 0])?; // too short for a header
    /// std::fs::remove_file(dir.join(&files[1]))?;
    /// let kinds: Vec<_> = Checkpoint::diagnose(&dir).iter().map(|e| e.kind()).collect();
    /// assert_eq!(kinds, [ErrorKind::FileTooSmall, ErrorKind::Io]);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn diagnose(path: impl AsRef<Path>) -> Vec<Error> {
        Self::diagnose_with(path, &LoadOptions::default())
    }

    /// [`Checkpoint::diagnose`], with headers parsed as
    /// [`Checkpoint::open_with`] parses them. Each shard's header is read
    /// once.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-diagnose-with-{}", std::process::id()));
    /// use tensorsafe::{Checkpoint, Dtype, ErrorKind, LoadOptions, TensorView, Writer};
    /// let (a, b) = ([1u8; 600], [2u8; 600]);
    /// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
    /// Writer::new().sharded(tensors, &dir, 1000)?;
    ///
    /// let mut options = LoadOptions::default();
    /// options.parse.limits.max_header_bytes = 16; // smaller than any shard's header
    /// let kinds: Vec<_> = Checkpoint::diagnose_with(&dir, &options).iter().map(|e| e.kind()).collect();
    /// assert_eq!(kinds, [ErrorKind::HeaderTooLarge, ErrorKind::HeaderTooLarge]);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn diagnose_with(path: impl AsRef<Path>, options: &LoadOptions) -> Vec<Error> {
        let headers = match Headers::read(path.as_ref(), options, false) {
            Ok(headers) => headers,
            Err(e) => return vec![e],
        };
        let (shards, unreadable): (Vec<_>, Vec<_>) =
            headers.shards.into_iter().partition(Result::is_ok);
        if !unreadable.is_empty() {
            return unreadable.into_iter().filter_map(Result::err).collect();
        }
        let shards = shards.into_iter().filter_map(Result::ok).collect();
        let (path, index) = (headers.path, headers.index);
        match Self::assemble(path, index, shards, Load::Read, *options).and_then(|c| c.verify()) {
            Ok(()) => Vec::new(),
            Err(e) => vec![e],
        }
    }

    /// The checkpoint at `path`, checked against its shards' headers (each
    /// file closed once its header is read).
    fn open_as(path: &Path, load: Load, options: LoadOptions) -> Result<Self> {
        Ok(Self::open_keeping(path, load, options, false)?.0)
    }

    /// [`Checkpoint::open_as`], with every shard's file still open if
    /// `keep_open` (for a load: each file is opened and its header parsed
    /// once).
    fn open_keeping(
        path: &Path,
        load: Load,
        options: LoadOptions,
        keep_open: bool,
    ) -> Result<(Self, Vec<Opened>)> {
        let headers = Headers::read(path, &options, keep_open)?;
        let shards = headers.shards.into_iter().collect::<Result<Vec<_>>>()?;
        let checkpoint = Self::assemble(headers.path, headers.index, shards, load, options)?;
        Ok((checkpoint, headers.opened))
    }

    /// The checkpoint of `index` (read from `path`, an index or a single
    /// file) and its shards, checked against each other.
    fn assemble(
        path: Located,
        index: Index,
        shards: Vec<LocalShard>,
        load: Load,
        options: LoadOptions,
    ) -> Result<Self> {
        let sharded = path.is_index();
        let path = match path {
            Located::File(path) | Located::Index(path) => path,
        };
        let core = Core::new(index, shards, &path)?;
        Ok(Checkpoint {
            dir: dir_of(&path),
            path,
            sharded,
            core,
            load,
            options,
        })
    }

    listing!(core, Path);

    /// What `path` names, by the rule [`Checkpoint::open`] follows (and
    /// the `tensorsafe` command line tool too), without opening it:
    ///
    /// - a directory: its `model.safetensors.index.json`, or else its one
    ///   `*.safetensors.index.json`, or else its one `.safetensors` file.
    ///   Only regular files count (symbolic links are followed), and names
    ///   starting with a dot are ignored (`._model.safetensors`, the
    ///   metadata files macOS leaves on other filesystems). Anything else
    ///   is [`ErrorKind::NotACheckpoint`], naming the files found. An
    ///   entry named like either that cannot be looked at (a dangling
    ///   symbolic link, as in a partly downloaded Hugging Face cache; a
    ///   link loop; no permission), or a `model.safetensors.index.json`
    ///   that is not a regular file, is [`ErrorKind::Io`] naming it, not
    ///   passed over.
    /// - a path ending in `.json`: an index.
    /// - a path ending in `.safetensors`, or another regular file that
    ///   starts as a safetensors file does (an 8-byte header length, then
    ///   `{`; a Hugging Face cache blob): a single file, whose header
    ///   opening then checks. Any other file (say `pytorch_model.bin`) is
    ///   [`ErrorKind::NotACheckpoint`], saying what was found and what was
    ///   expected.
    ///
    /// Suffixes are compared ignoring ASCII case (`MODEL.SAFETENSORS`,
    /// `x.index.JSON`). Names need not be UTF-8.
    pub fn locate(path: impl AsRef<Path>) -> Result<Located> {
        locate(path.as_ref())
    }

    /// The index file (or the single file, for a checkpoint of one): what
    /// [`Checkpoint::locate`] found.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it was opened through an index, not as a single file.
    pub fn is_sharded(&self) -> bool {
        self.sharded
    }

    /// Shard `i` (a position in [`Checkpoint::files`]), read (or mapped)
    /// on first use. Errors name the shard's path;
    /// [`ErrorKind::ShardNotFound`] past the last shard.
    pub fn shard(&self, i: usize) -> Result<&SafeTensorsFile> {
        let shard = self.core.shard(i)?;
        if let Some(opened) = shard.file.get() {
            return Ok(opened);
        }
        let opened = self.open_shard(shard).map_err(|e| e.in_file(&shard.path))?;
        // Another thread may have won the race; either copy is the same file.
        Ok(shard.file.get_or_init(|| opened))
    }

    /// `shard` read (or mapped), which must be as it was when the
    /// checkpoint was opened: the same file (not one renamed over it, not
    /// written since), with the same length and header, or else
    /// [`ErrorKind::FileChanged`].
    fn open_shard(&self, shard: &LocalShard) -> Result<SafeTensorsFile> {
        let (path, was, id) = (&shard.path, &shard.header, &shard.identity);
        match self.load {
            Load::Read => read_file(Opened::again(path, &self.options, was, id)?, &self.options),
            Load::Map => {
                let unchanged = || -> Result<()> {
                    let now = Identity::of(&std::fs::metadata(path)?);
                    id.check(&now, "its header was read")
                };
                unchanged()?;
                // SAFETY: `mmap`/`mmap_with` are the only ways to get
                // `Load::Map`, and their caller promised that no shard is
                // modified in place while the checkpoint lives.
                let file = unsafe { SafeTensorsFile::mmap_with(path, &self.options.parse)? };
                // Still the same file: not one renamed over it meanwhile.
                unchanged()?;
                check_same(was, file.as_bytes().len() as u64, Some(file.header()))?;
                Ok(file)
            }
        }
    }

    /// The tensor called `name`, from the shard the index names (read into
    /// memory, or mapped, on first use).
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let entry = self.entry(name)?;
        // The shard was checked against the header read at opening, which
        // holds the tensor: only reading the shard can fail.
        let shard = self.shard(entry.shard()).map_err(|e| e.with_tensor(name))?;
        shard.tensor(name)
    }

    /// Shard `i`'s header, as opening read it (8 + N bytes, checked against
    /// the file's length and the index); [`ErrorKind::ShardNotFound`] past
    /// the last shard.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-header-{}", std::process::id()));
    /// use tensorsafe::{Checkpoint, Dtype, TensorView, Writer};
    /// let (a, b) = ([1u8; 600], [2u8; 600]);
    /// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
    /// Writer::new().sharded(tensors, &dir, 1000)?;
    ///
    /// let checkpoint = Checkpoint::open(&dir)?;
    /// let header = checkpoint.shard_header(1)?; // the second shard's
    /// assert_eq!(header.get("b").map(|t| t.byte_len()), Some(600));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shard_header(&self, i: usize) -> Result<&Header> {
        Ok(&self.core.shard(i)?.header)
    }

    /// The path of shard `i` (a position in [`Checkpoint::files`]): the
    /// index's directory joined with the shard's file name.
    pub fn shard_path(&self, i: usize) -> Option<&Path> {
        self.core.shards.get(i).map(|s| s.path.as_path())
    }

    /// What opening did not check: that the index's `metadata.total_size`
    /// is the bytes of tensors the shards hold, and that no
    /// `*-NNNNN-of-NNNNN.safetensors` file lies in the index's directory
    /// that the index does not name (a leftover of an older checkpoint); a
    /// directory that cannot be listed is [`ErrorKind::Io`] naming it.
    /// Opening checked the rest: no tensor in two shards, every mapped
    /// tensor where the index says, no tensor the index does not map,
    /// every shard exactly as long as its header requires. Tensor bytes are
    /// never invalid, so this is everything there is to check. Only this
    /// checks it: opening, reading and the loads do not need
    /// `total_size` (many published indexes lack it, or give the files'
    /// sizes, as mlx-lm writes them).
    pub fn verify(&self) -> Result<()> {
        self.core.check_total_size(&self.path)?;
        self.check_no_unnamed_shard()
    }

    /// No shard-named file beside the index that the index does not name.
    fn check_no_unnamed_shard(&self) -> Result<()> {
        if !self.sharded {
            return Ok(());
        }
        let unreadable = |e: std::io::Error| Error::from(e).in_file(&self.dir);
        for entry in std::fs::read_dir(&self.dir).map_err(unreadable)? {
            let name = entry.map_err(unreadable)?.file_name();
            let name = name.to_string_lossy().into_owned();
            if is_shard_name(&name) && !self.core.index.files.contains(&name) {
                return Err(Error::new(ErrorKind::IndexUnnamedShard)
                    .with_detail(format!(
                        "{name} lies beside the index but the index does not name it"
                    ))
                    .in_file(&self.path));
            }
        }
        Ok(())
    }
}

/// The index at `path`: its size checked first
/// ([`ErrorKind::IndexTooLarge`]), read errors kept as
/// [`ErrorKind::Io`], every problem with its content
/// [`ErrorKind::IndexInvalid`] (or [`ErrorKind::DuplicateTensor`]).
pub(super) fn read_index(path: &Path) -> Result<Index> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    check_index_len(len)?;
    let mut bytes = Vec::new();
    // One byte more than allowed: an index that grew since is refused too.
    file.take(MAX_INDEX_BYTES + 1).read_to_end(&mut bytes)?;
    check_index_len(bytes.len() as u64)?;
    Index::from_bytes(&bytes)
}

/// The file name of `path`, for the index of a single file (lossy for a
/// name that is not UTF-8).
fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// The directory holding `index` (and its shards).
fn dir_of(index: &Path) -> PathBuf {
    // A bare file name's parent is "", which names no directory.
    match index.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// What a checkpoint path names, its index (made up for a single file),
/// and every shard's header or the error reading it.
struct Headers {
    path: Located,
    index: Index,
    shards: Vec<Result<LocalShard>>,
    /// Every shard's file, still open, when asked for (a load reads them
    /// next) and every header was read.
    opened: Vec<Opened>,
}

impl Headers {
    /// Each shard's file is closed once its header is read, unless
    /// `keep_open`.
    fn read(path: &Path, options: &LoadOptions, keep_open: bool) -> Result<Headers> {
        let path = locate(path)?;
        let mut opened = Vec::new();
        let mut header_of = |path: PathBuf| -> Result<LocalShard> {
            let file = Opened::new(&path, options)?;
            let identity = file.identity;
            let header = if keep_open {
                let header = file.header.clone();
                opened.push(file);
                header
            } else {
                file.header
            };
            Ok(LocalShard {
                path,
                header,
                identity,
                file: OnceLock::new(),
            })
        };
        let (index, shards) = match &path {
            Located::Index(at) => {
                let index = read_index(at).map_err(|e| e.in_file(at))?;
                let dir = dir_of(at);
                let shards = index.files.iter().map(|f| header_of(dir.join(f))).collect();
                (index, shards)
            }
            Located::File(at) => {
                let shard = header_of(at.clone())?;
                (
                    Index::single(&file_name(at), &shard.header),
                    vec![Ok(shard)],
                )
            }
        };
        Ok(Headers {
            path,
            index,
            shards,
            opened,
        })
    }
}
