//! Owned file handles: a memory map or an aligned in-memory copy, validated
//! once, handing out views that borrow from the handle.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, Metadata};
use crate::limits::ParseOptions;
use crate::read::{self, TensorView};

/// 64 bytes, 64-byte aligned: the unit of the owned buffer, so that every
/// tensor whose file offset is aligned is aligned in memory too.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u8; 64]);

// SAFETY: `Block` is `repr(C)` around a `[u8; 64]` with alignment 64, so its
// size is exactly 64 with no padding, and all-zero bytes are a valid value.
unsafe impl bytemuck::Zeroable for Block {}
// SAFETY: as above: no padding, no pointers, every bit pattern is valid, and
// the type is `Copy + 'static`.
unsafe impl bytemuck::Pod for Block {}

enum Storage {
    Mapped(memmap2::Mmap),
    Owned { blocks: Vec<Block>, len: usize },
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(map) => map,
            Storage::Owned { blocks, len } => {
                let all: &[u8] = bytemuck::cast_slice(blocks);
                all.get(..*len).unwrap_or(all)
            }
        }
    }
}

/// A safetensors file opened from a path and validated once; it owns its
/// bytes and lends out [`TensorView`]s, so there is no buffer and parser to
/// keep alive side by side.
///
/// Two ways to open one:
/// - [`SafeTensorsFile::open`] reads the file into memory aligned to 64
///   bytes. Safe; the right choice on network filesystems, where mapping is
///   slow, and for files another process may change.
/// - [`SafeTensorsFile::mmap`] maps the file. Fast and lazy, but `unsafe`:
///   see its safety contract.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// use tensorsafe::{serialize_to_file, Dtype, SafeTensorsFile, TensorView};
/// let path = dir.join("model.safetensors");
/// let ones = [1u8; 8];
/// serialize_to_file([("w", TensorView::new(Dtype::F32, &[2], &ones)?)], None, &path)?;
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
    /// Reads the whole file at `path` into 64-byte aligned memory and
    /// validates it with default limits.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &ParseOptions::default())
    }

    /// [`SafeTensorsFile::open`] with the given options.
    pub fn open_with(path: impl AsRef<Path>, options: &ParseOptions) -> Result<Self> {
        let mut file = File::open(path.as_ref())?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| Error::new(ErrorKind::Overflow).with_detail("file larger than memory"))?;
        let mut blocks = vec![Block([0; 64]); len.div_ceil(64)];
        let buffer: &mut [u8] = bytemuck::cast_slice_mut(&mut blocks);
        file.read_exact(buffer.get_mut(..len).unwrap_or_default())?;
        let storage = Storage::Owned { blocks, len };
        let header = Header::parse_with(storage.bytes(), options)?;
        header.check_file_len(len as u64)?;
        Ok(SafeTensorsFile { storage, header })
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
    pub unsafe fn mmap(path: impl AsRef<Path>) -> Result<Self> {
        // SAFETY: the caller upholds this function's contract, which is the one map_with needs.
        unsafe { Self::mmap_with(path, &ParseOptions::default()) }
    }

    /// [`SafeTensorsFile::mmap`] with the given options.
    ///
    /// # Safety
    ///
    /// As for [`SafeTensorsFile::mmap`].
    pub unsafe fn mmap_with(path: impl AsRef<Path>, options: &ParseOptions) -> Result<Self> {
        let file = File::open(path.as_ref())?;
        if file.metadata()?.len() < crate::header::PREFIX_LEN as u64 {
            return Err(Error::new(ErrorKind::FileTooSmall));
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

    /// The whole file's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    fn data(&self) -> &[u8] {
        let start = usize::try_from(self.header.data_start()).unwrap_or(usize::MAX);
        self.storage.bytes().get(start..).unwrap_or_default()
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.header.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty()
    }

    /// Tensor names, in data-offset order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.header.names()
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        read::tensor(&self.header, self.data(), name)
    }

    /// `(name, view)` for every tensor, in data-offset order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, TensorView<'_>)> + '_ {
        read::iter(&self.header, self.data())
    }

    /// The `__metadata__` map, if the file has one.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.header.metadata()
    }
}
