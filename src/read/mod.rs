//! Reading: one reader, [`SafeTensors`], over bytes wherever they live.
//!
//! The reader borrows a file's bytes (`'data`) and lends [`TensorView`]s
//! that borrow the same bytes, never the reader. Storages are owners that
//! lend a reader over their bytes: a buffer of yours
//! ([`SafeTensors::deserialize`]), or a [`SafeTensorsFile`] holding an
//! aligned in-memory copy or a memory map ([`SafeTensorsFile::reader`]).
//! So every accessor is written once, here.

#[cfg(feature = "std")]
mod file;
#[cfg(feature = "std")]
mod load;

#[cfg(feature = "std")]
pub use file::SafeTensorsFile;
#[cfg(feature = "object-store")]
pub(crate) use load::{check_dest, each_destination, Blank, Progress};
/// What checkpoints and remote files build their loads from: files opened
/// with their headers, reads shared by threads, destinations asked for,
/// progress shared, fresh memory wrapped as a file.
#[cfg(feature = "std")]
pub(crate) use load::{check_same, read_file, read_files, read_pieces, Identity, Opened};
#[cfg(feature = "std")]
pub use load::{load_into, read_tensor_into, LoadOptions};

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::header::{Header, Metadata, TensorInfo};
use crate::limits::ParseOptions;
use crate::view::TensorView;

/// A validated safetensors file over a byte buffer (a `Vec`, an mmap, ...),
/// handing out zero-copy [`TensorView`]s into it.
///
/// ```
/// use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};
/// let weights: Vec<u8> = [0.5f32, -1.0].iter().flat_map(|x| x.to_le_bytes()).collect();
/// let bytes = serialize([("w", TensorView::new(Dtype::F32, [2], &weights)?)], None)?;
///
/// // The view borrows `bytes`, not the parsed file, so it can be returned.
/// fn weight(bytes: &[u8]) -> tensorsafe::Result<TensorView<'_>> {
///     SafeTensors::deserialize(bytes)?.tensor("w")
/// }
/// let w = weight(&bytes)?;
/// assert_eq!(w.shape(), &[2]);
/// assert_eq!(w.to_vec::<f32>()?, vec![0.5, -1.0]);
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Clone)]
pub struct SafeTensors<'data> {
    header: Cow<'data, Header>,
    /// The data section: exactly `header.data_len()` bytes.
    data: &'data [u8],
}

impl<'data> SafeTensors<'data> {
    /// Parses and fully validates `buffer` (the whole file) with default
    /// [`Limits`](crate::Limits).
    pub fn deserialize(buffer: &'data [u8]) -> Result<Self> {
        Self::deserialize_with(buffer, &ParseOptions::default())
    }

    /// [`SafeTensors::deserialize`] with your own limits and strictness.
    pub fn deserialize_with(buffer: &'data [u8], options: &ParseOptions) -> Result<Self> {
        let header = Header::parse_with(buffer, options)?;
        header.check_file_len(buffer.len() as u64)?;
        let data = data_section(&header, buffer);
        Ok(SafeTensors {
            header: Cow::Owned(header),
            data,
        })
    }

    /// Parses and validates the header of `buffer` (the whole file) and
    /// checks the file's length against it, without building a reader:
    /// the header's length in bytes (the JSON after the 8-byte prefix) and
    /// the header.
    ///
    /// The reference crate's function of this name gives its own `Metadata`
    /// type; this one gives our [`Header`], which answers the same questions
    /// ([`Header::get`], [`Header::iter`], [`Header::metadata`],
    /// [`Header::data_len`]).
    ///
    /// ```
    /// use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};
    /// let bytes = serialize([("w", TensorView::new(Dtype::U8, [2], &[1, 2])?)], None)?;
    /// let (n, header) = SafeTensors::read_metadata(&bytes)?;
    /// assert_eq!(n as u64, header.header_len());
    /// assert_eq!(header.get("w").unwrap().shape(), &[2]);
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn read_metadata(buffer: &[u8]) -> Result<(usize, Header)> {
        let header = Header::parse(buffer)?;
        header.check_file_len(buffer.len() as u64)?;
        // The header lies inside `buffer`, so its length fits in usize.
        Ok((header.header_len() as usize, header))
    }

    /// A reader over a header parsed elsewhere (say, from the first bytes of
    /// a file) and the file's data section, loaded wherever you chose.
    /// `data` must be exactly [`Header::data_len`] bytes
    /// ([`DataOutOfBounds`](crate::ErrorKind::DataOutOfBounds) or
    /// [`TrailingData`](crate::ErrorKind::TrailingData) if not).
    pub fn from_parts(header: &'data Header, data: &'data [u8]) -> Result<Self> {
        header.check_file_len(header.data_start().saturating_add(data.len() as u64))?;
        Ok(SafeTensors {
            header: Cow::Borrowed(header),
            data,
        })
    }

    /// A reader over a header and a data section that its storage has
    /// already checked against each other.
    #[cfg(feature = "std")]
    pub(crate) fn over(header: &'data Header, data: &'data [u8]) -> Self {
        debug_assert_eq!(data.len() as u64, header.data_len());
        SafeTensors {
            header: Cow::Borrowed(header),
            data,
        }
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The data section (the bytes after the header).
    pub fn data(&self) -> &'data [u8] {
        self.data
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.header.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty()
    }

    /// Tensor names, in data-offset order, collected as the reference
    /// crate's `names` does (its order is a hash map's; ours is the file's).
    /// [`Header::names`] iterates without allocating.
    pub fn names(&self) -> Vec<&str> {
        self.header.names().collect()
    }

    /// `(name, view)` for every tensor, in data-offset order, collected with
    /// owned names, as the reference crate's `tensors` does (its order is a
    /// hash map's; ours is the file's). [`SafeTensors::iter`] gives the same
    /// pairs without allocating.
    ///
    /// ```
    /// use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};
    /// let bytes = serialize([("w", TensorView::new(Dtype::U8, [2], &[1, 2])?)], None)?;
    /// let st = SafeTensors::deserialize(&bytes)?;
    /// for (name, view) in st.tensors() {
    ///     assert_eq!((name.as_str(), view.data()), ("w", &[1u8, 2][..]));
    /// }
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn tensors(&self) -> Vec<(String, TensorView<'data>)> {
        self.iter()
            .map(|(name, view)| (name.to_string(), view))
            .collect()
    }

    /// The tensor called `name`.
    #[inline]
    pub fn tensor(&self, name: &str) -> Result<TensorView<'data>> {
        self.header
            .get(name)
            .map(|info| self.view(info))
            .ok_or_else(|| Error::tensor_not_found(name))
    }

    /// `(name, view)` for every tensor, in data-offset order (the reference
    /// crate's `iter` gives the same pairs in a hash map's order), borrowing
    /// the names from the header: no allocation for shapes up to rank 6,
    /// which views hold inline.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, TensorView<'data>)> + '_ {
        self.header
            .iter()
            .map(move |info| (info.name(), self.view(info)))
    }

    /// The `__metadata__` map, if the file has one.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.header.metadata()
    }

    /// The view of an entry of this reader's header.
    #[inline]
    fn view(&self, info: TensorInfo<'_>) -> TensorView<'data> {
        view_in(self.data, info)
    }
}

/// The view of an entry of a header that was checked against the length of
/// `data`, its data section (`check_file_len`): every entry's range lies
/// inside `data`, which is in memory, so the offsets fit in usize.
#[inline]
fn view_in<'data>(data: &'data [u8], info: TensorInfo<'_>) -> TensorView<'data> {
    let (begin, end) = info.data_offsets();
    TensorView::new_unchecked(
        info.dtype(),
        info.shape(),
        &data[begin as usize..end as usize],
    )
}

/// Shows the tensor count, the data length and the metadata, not the bytes.
impl core::fmt::Debug for SafeTensors<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SafeTensors")
            .field("tensors", &self.len())
            .field("data_bytes", &self.data.len())
            .field("metadata", &self.metadata())
            .finish()
    }
}

/// The data section of a whole file whose length the header has accepted
/// (`check_file_len`), so it starts inside the file.
fn data_section<'a>(header: &Header, file: &'a [u8]) -> &'a [u8] {
    &file[header.data_start() as usize..]
}
