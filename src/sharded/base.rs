//! What every checkpoint is, wherever its shards live: an index (which
//! shard holds each tensor) and every shard's header, checked against each
//! other once, and the header-only listing over them. The local
//! [`Checkpoint`](crate::Checkpoint), the remote checkpoint and the remote
//! checkpoint loaded into memory differ only in their shard type.

use std::format;
use std::prelude::rust_2021::*;

use core::ops::Range;
use std::path::Path;

use super::index_file::Index;
use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, Metadata, TensorInfo};

/// A shard, as a checkpoint holds it: its header, and what the listing
/// hands out as the shard's file ([`Entry::file`]).
pub(crate) trait Shard {
    /// What [`Entry::file`] gives: a path, a remote object, a file in
    /// memory.
    type File: ?Sized;
    fn header(&self) -> &Header;
    fn file(&self) -> &Self::File;
}

/// One tensor of a checkpoint, from its shard's header: name, dtype,
/// shape, and where its bytes are. `F` is what the checkpoint knows its
/// shards as: a [`Path`] for a local checkpoint, a `remote::RemoteFile`
/// for a remote one (feature `object-store`), a
/// [`SafeTensorsFile`](crate::SafeTensorsFile) for one loaded from a store.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-entry-doc-{}", std::process::id()));
/// use tensorsafe::{Checkpoint, Dtype, TensorView, Writer};
/// let (a, b) = ([1u8; 600], [2u8; 600]);
/// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[2, 300], &b)?)];
/// Writer::new().sharded(tensors, &dir, 1000)?;
///
/// let checkpoint = Checkpoint::open(&dir)?; // the index and each shard's header
/// let b = checkpoint.entry("b")?;
/// assert_eq!((b.dtype(), b.shape(), b.byte_len(), b.shard()), (Dtype::U8, &[2, 300][..], 600, 1));
/// assert!(b.file().ends_with("model-00002-of-00002.safetensors"));
/// assert_eq!(b.byte_range().end - b.byte_range().start, 600);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Entry<'a, F: ?Sized = Path> {
    info: TensorInfo<'a>,
    shard: usize,
    /// Where the shard's data section starts in its file.
    data_start: u64,
    file: &'a F,
}

impl<F: ?Sized> Clone for Entry<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F: ?Sized> Copy for Entry<'_, F> {}

impl<'a, F: ?Sized> Entry<'a, F> {
    /// The tensor's header entry (name, dtype, shape, data offsets).
    pub fn info(&self) -> TensorInfo<'a> {
        self.info
    }

    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        self.info.name()
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.info.dtype()
    }

    /// The shape.
    pub fn shape(&self) -> &'a [usize] {
        self.info.shape()
    }

    /// The tensor's length in bytes.
    pub fn byte_len(&self) -> u64 {
        self.info.byte_len()
    }

    /// The position of its shard in the checkpoint's `files()`.
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// The shard: its path, or its object in a store.
    pub fn file(&self) -> &'a F {
        self.file
    }

    /// Where the tensor's bytes are in its shard file (from the file's
    /// first byte, not the data section's).
    pub fn byte_range(&self) -> Range<u64> {
        let (begin, end) = self.info.data_offsets();
        // The header was checked against the shard's length: these sums
        // do not saturate.
        self.data_start.saturating_add(begin)..self.data_start.saturating_add(end)
    }
}

/// An index and its shards, checked against each other.
#[derive(Debug)]
pub(crate) struct Core<S> {
    pub(crate) index: Index,
    /// In the order of `index.files`.
    pub(crate) shards: Vec<S>,
    /// The bytes of tensors the shards hold.
    pub(crate) tensor_bytes: u64,
}

impl<S: Shard> Core<S> {
    /// `shards` (in the order of `index.files`) checked against `index`:
    /// no tensor in two shards, every mapped tensor where the index says,
    /// none it does not map. Errors name `origin` (the index, or the
    /// single file). `metadata.total_size` is not checked here
    /// ([`Core::check_total_size`]): many published indexes lack it or
    /// count something else, and the listing does not need it.
    pub(crate) fn new(index: Index, shards: Vec<S>, origin: &Path) -> Result<Self> {
        let tensor_bytes = index.check_headers(shards.iter().map(Shard::header), origin)?;
        Ok(Core {
            index,
            shards,
            tensor_bytes,
        })
    }

    /// The index's `metadata.total_size` is the bytes of tensors the shards
    /// hold ([`ErrorKind::IndexTotalSize`] naming `origin`).
    pub(crate) fn check_total_size(&self, origin: &Path) -> Result<()> {
        self.index.check_total_size(self.tensor_bytes, origin)
    }

    pub(crate) fn total_size(&self) -> Option<u64> {
        self.index.total_size
    }

    pub(crate) fn len(&self) -> usize {
        self.index.weight_map.len()
    }

    pub(crate) fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.index.weight_map.keys().map(String::as_str)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = Entry<'_, S::File>> + '_ {
        // Checked when made: every mapped tensor is in its shard.
        self.index
            .weight_map
            .iter()
            .filter_map(|(name, &shard)| self.entry_in(name, shard).ok())
    }

    /// Tensor `name`'s entry, or [`ErrorKind::TensorNotFound`].
    pub(crate) fn entry(&self, name: &str) -> Result<Entry<'_, S::File>> {
        let &shard = self
            .index
            .weight_map
            .get(name)
            .ok_or_else(|| Error::tensor_not_found(name))?;
        self.entry_in(name, shard)
    }

    fn entry_in(&self, name: &str, shard: usize) -> Result<Entry<'_, S::File>> {
        let (Some(s), Some(file)) = (self.shards.get(shard), self.index.files.get(shard)) else {
            return Err(Error::tensor_not_found(name));
        };
        let header = s.header();
        let Some(info) = header.get(name) else {
            return Err(Error::new(ErrorKind::IndexMissingTensor)
                .with_tensor(name)
                .with_detail(format!(
                    "the index maps it to {file}, which does not hold it"
                )));
        };
        Ok(Entry {
            data_start: header.data_start(),
            info,
            shard,
            file: s.file(),
        })
    }

    /// The first shard's `__metadata__`.
    pub(crate) fn metadata(&self) -> Option<&Metadata> {
        self.shards.first().and_then(|s| s.header().metadata())
    }

    /// Shard `i`, or [`ErrorKind::ShardNotFound`] past the last one.
    pub(crate) fn shard(&self, i: usize) -> Result<&S> {
        self.shards.get(i).ok_or_else(|| {
            Error::new(ErrorKind::ShardNotFound)
                .with_detail(format!("shard {i} of {}", self.shards.len()))
        })
    }
}

/// The listing every checkpoint has, written once: `$core` is the field
/// holding its [`Core`], `$file` its shards' [`Shard::File`].
macro_rules! listing {
    ($core:ident, $file:ty) => {
        /// `metadata.total_size` as the index gives it (a single file: its
        /// data section's length). Only `verify()`, on a local or remote
        /// checkpoint, checks it against the shards: an index may lack it,
        /// or give the files' sizes instead.
        pub fn total_size(&self) -> Option<u64> {
            self.$core.total_size()
        }

        /// Shard file names as the index gives them (for a single file,
        /// its name), in the order the index first names them: an
        /// [`Entry::shard`](crate::Entry::shard) is a position in this.
        pub fn files(&self) -> &[String] {
            &self.$core.index.files
        }

        /// The name of the shard file that holds tensor `name` (an entry of
        /// [`files`](Self::files)), per the index.
        pub fn file_of(&self, name: &str) -> Option<&str> {
            self.$core.index.file_of(name)
        }

        /// Number of tensors.
        pub fn len(&self) -> usize {
            self.$core.len()
        }

        /// Whether the checkpoint holds no tensor.
        pub fn is_empty(&self) -> bool {
            self.$core.len() == 0
        }

        /// Tensor names, sorted, without allocating (`.collect::<Vec<_>>()`
        /// for the list that [`SafeTensors::names`](crate::SafeTensors::names)
        /// gives, as the reference crate's does).
        pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
            self.$core.names()
        }

        /// Every tensor's [`Entry`](crate::Entry) (from the
        /// shards' headers: no tensor byte is read), sorted by name.
        pub fn entries(&self) -> impl Iterator<Item = $crate::Entry<'_, $file>> + '_ {
            self.$core.entries()
        }

        /// `(name, entry)` for every tensor, sorted by name.
        pub fn iter(&self) -> impl Iterator<Item = (&str, $crate::Entry<'_, $file>)> + '_ {
            self.$core.entries().map(|e| (e.name(), e))
        }

        /// Tensor `name`'s entry (dtype, shape, byte length, shard, byte
        /// range in the shard), or
        /// [`ErrorKind::TensorNotFound`](crate::ErrorKind::TensorNotFound).
        pub fn entry(&self, name: &str) -> $crate::Result<$crate::Entry<'_, $file>> {
            self.$core.entry(name)
        }

        /// Shard 0's `__metadata__`; the other shards' are not compared
        /// with it (the hub writes the same map, such as
        /// `{"format": "pt"}`, into every shard, and a shard's own is in
        /// its header). The index's `metadata` holds only
        /// [`total_size`](Self::total_size).
        pub fn metadata(&self) -> Option<&$crate::Metadata> {
            self.$core.metadata()
        }
    };
}
pub(crate) use listing;
