//! A file opened from a path that owns its bytes: an aligned in-memory copy
//! or a memory map, validated once.

use std::prelude::rust_2021::*;

use std::fmt;
use std::fs::File;
use std::path::Path;

use super::load::{self, LoadOptions};
use super::{data_section, view_in, SafeTensors};
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, Metadata, PREFIX_LEN};
use crate::limits::ParseOptions;
use crate::view::TensorView;

enum Storage {
    Mapped(memmap2::Mmap),
    /// An anonymous map holding a copy of the file.
    Owned(memmap2::MmapMut),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(map) => map,
            Storage::Owned(map) => map,
        }
    }
}

/// A safetensors file opened from a path and validated once. It owns its
/// bytes and answers the reader's questions itself
/// ([`SafeTensorsFile::tensor`], [`SafeTensorsFile::iter`],
/// [`SafeTensorsFile::names`], ...), so there is no buffer and parser to
/// keep alive side by side; [`SafeTensorsFile::reader`] lends a
/// [`SafeTensors`] over its bytes for code written against the reader.
///
/// Two ways to open one:
/// - [`SafeTensorsFile::open`] reads the file into page-aligned memory:
///   the header first (a bad header costs only its own bytes), then the
///   data section with positioned reads on several threads. Safe; the right
///   choice on network filesystems, where mapping is slow, and for files
///   another process may change.
/// - [`SafeTensorsFile::mmap`] maps the file. Fast and lazy, but `unsafe`:
///   see its safety contract.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// use tensorsafe::{serialize_to_file, Dtype, SafeTensorsFile, TensorView};
/// let path = dir.join("model.safetensors");
/// let ones = [1u8; 8];
/// serialize_to_file([("w", TensorView::new(Dtype::F32, [2], &ones)?)], None, &path)?;
///
/// let file = SafeTensorsFile::open(&path)?;
/// let w = file.tensor("w")?;
/// assert_eq!(w.as_slice::<f32>()?.len(), 2); // aligned: zero-copy works
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SafeTensorsFile {
    storage: Storage,
    header: Header,
}

impl SafeTensorsFile {
    /// Reads the whole file at `path` into page-aligned memory and
    /// validates it, with default [`LoadOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &LoadOptions::default())
    }

    /// [`SafeTensorsFile::open`] with the given options (limits, threads,
    /// huge pages). A file shorter or longer than its header says, or whose
    /// length changes while it loads, is an error naming the file.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-openwith-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// use tensorsafe::{serialize_to_file, Dtype, LoadOptions, SafeTensorsFile, TensorView};
    /// let path = dir.join("model.safetensors");
    /// serialize_to_file([("w", TensorView::new(Dtype::U8, [4], &[1, 2, 3, 4])?)], None, &path)?;
    ///
    /// let mut options = LoadOptions::default();
    /// options.threads = 1;                          // one reader thread
    /// options.parse.deny_unknown_fields = true;     // strict headers
    /// let file = SafeTensorsFile::open_with(&path, &options)?;
    /// assert_eq!(file.tensor("w")?.data(), &[1, 2, 3, 4]);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Self> {
        let path = path.as_ref();
        Self::read(path, options).map_err(|e| e.in_file(path))
    }

    fn read(path: &Path, options: &LoadOptions) -> Result<Self> {
        load::read_file(load::Opened::new(path, options)?, options)
    }

    /// A file read into `map`, whose `header` was checked against its
    /// length.
    pub(crate) fn owned(map: memmap2::MmapMut, header: Header) -> Self {
        SafeTensorsFile {
            storage: Storage::Owned(map),
            header,
        }
    }

    /// Maps the file at `path` into memory and validates it with default
    /// limits.
    ///
    /// # Safety
    ///
    /// The views this handle lends are plain `&[u8]`. If any process
    /// modifies or truncates the file while it is mapped, their contents may
    /// change under you (undefined behaviour for Rust references), or
    /// reading them may kill the process with `SIGBUS`. Call this only for
    /// files nothing else writes while the handle lives (a checkpoint you
    /// own, a read-only download). Otherwise use [`SafeTensorsFile::open`].
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-mmap-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("model.safetensors");
    /// # tensorsafe::serialize_to_file([("w", tensorsafe::TensorView::new(tensorsafe::Dtype::U8, [2], &[1, 2])?)], None, &path)?;
    /// // SAFETY: this program wrote the file and nothing changes it while mapped.
    /// let file = unsafe { tensorsafe::SafeTensorsFile::mmap(&path)? };
    /// assert_eq!(file.tensor("w")?.data(), &[1, 2]);
    /// # drop(file);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn mmap(path: impl AsRef<Path>) -> Result<Self> {
        // SAFETY: the caller upholds this function's contract, which is the one mmap_with needs.
        unsafe { Self::mmap_with(path, &ParseOptions::default()) }
    }

    /// [`SafeTensorsFile::mmap`] with the given options.
    ///
    /// # Safety
    ///
    /// As for [`SafeTensorsFile::mmap`].
    pub unsafe fn mmap_with(path: impl AsRef<Path>, options: &ParseOptions) -> Result<Self> {
        let path = path.as_ref();
        // SAFETY: passed on from this function's own contract.
        unsafe { Self::map(path, options) }.map_err(|e| e.in_file(path))
    }

    /// # Safety
    ///
    /// As for [`SafeTensorsFile::mmap`].
    unsafe fn map(path: &Path, options: &ParseOptions) -> Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < PREFIX_LEN as u64 {
            return Err(Error::new(ErrorKind::FileTooSmall).with_detail(format!("{len} bytes")));
        }
        // SAFETY: the caller promises that nothing modifies or truncates the
        // file while the map lives (this function's `# Safety` contract),
        // which is the precondition of `Mmap::map`.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        let header = Header::parse_with(&map, options)?;
        header.check_file_len(map.len() as u64)?;
        Ok(SafeTensorsFile {
            storage: Storage::Mapped(map),
            header,
        })
    }

    /// Lends the reader over this file's bytes, for code written against
    /// [`SafeTensors`] (a function taking `&SafeTensors<'_>` whatever the
    /// storage). Its views borrow this handle. The handle answers the same
    /// questions itself: [`SafeTensorsFile::tensor`],
    /// [`SafeTensorsFile::iter`], [`SafeTensorsFile::names`], ...
    pub fn reader(&self) -> SafeTensors<'_> {
        // Opening checked the file's length against the header.
        SafeTensors::over(
            &self.header,
            data_section(&self.header, self.storage.bytes()),
        )
    }

    /// The tensor called `name`; the view borrows this handle
    /// ([`SafeTensors::tensor`]).
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        self.reader().tensor(name)
    }

    /// `(name, view)` for every tensor, in data-offset order, without
    /// allocating ([`SafeTensors::iter`]).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, TensorView<'_>)> + '_ {
        let data = data_section(&self.header, self.storage.bytes());
        // Opening checked the file's length against the header.
        self.header
            .iter()
            .map(move |info| (info.name(), view_in(data, info)))
    }

    /// Tensor names, in data-offset order ([`SafeTensors::names`]).
    pub fn names(&self) -> Vec<&str> {
        self.header.names().collect()
    }

    /// `(name, view)` for every tensor, in data-offset order, with owned
    /// names, as the reference crate's `SafeTensors::tensors` gives them
    /// ([`SafeTensors::tensors`]).
    pub fn tensors(&self) -> Vec<(String, TensorView<'_>)> {
        self.reader().tensors()
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.header.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty()
    }

    /// The `__metadata__` map, if the file has one.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.header.metadata()
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The whole file's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Whether the bytes are a memory map (from [`SafeTensorsFile::mmap`]).
    pub fn is_mapped(&self) -> bool {
        matches!(self.storage, Storage::Mapped(_))
    }
}

impl fmt::Debug for SafeTensorsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SafeTensorsFile")
            .field("mapped", &self.is_mapped())
            .field("bytes", &self.storage.bytes().len())
            .field("tensors", &self.header.len())
            .finish()
    }
}
