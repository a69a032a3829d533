//! The header: the tensor table and the metadata, parsed from the JSON after
//! the 8-byte length prefix ([`parse`]) and checked against the format's
//! layout rules ([`validate`]).

mod parse;
pub(crate) mod render;
mod validate;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;
#[cfg(feature = "std")]
use std::io::Read;

use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};
use crate::limits::ParseOptions;
use crate::names::NameTable;

/// The free-form `__metadata__` of a file: string keys to string values,
/// sorted by key.
///
/// Differs from the reference crate on purpose: its `Metadata` is the whole
/// parsed header (tensors and `__metadata__`), which is our [`Header`];
/// ours is only the `__metadata__` map, the `HashMap<String, String>` the
/// reference passes to `serialize`, sorted so that output is reproducible.
pub type Metadata = BTreeMap<String, String>;

/// Length of the little-endian header length prefix.
pub const PREFIX_LEN: usize = 8;

/// One tensor as the header describes it (name, dtype, shape, data offsets).
///
/// The reference crate's `TensorInfo` means the same entry as an owned
/// struct with public fields and `usize` offsets; ours borrows the header,
/// includes the name, and answers through methods, with offsets in `u64`
/// so that a 32-bit program reads headers of tensors past 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorInfo<'a> {
    name: &'a str,
    dtype: Dtype,
    shape: &'a [usize],
    begin: u64,
    end: u64,
}

impl<'a> TensorInfo<'a> {
    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The dimensions; empty for a scalar.
    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }

    /// `[begin, end)` of the tensor's bytes, relative to the data section.
    pub fn data_offsets(&self) -> (u64, u64) {
        (self.begin, self.end)
    }

    /// Number of bytes of the tensor.
    pub fn byte_len(&self) -> u64 {
        // Validation proved begin <= end (hand-made infos cannot exist).
        self.end.saturating_sub(self.begin)
    }

    /// Number of elements (the product of the shape; 1 for a scalar), as
    /// a `u64` on every target: a 32-bit program can list tensors with more
    /// elements than its `usize` holds.
    pub fn element_count(&self) -> u64 {
        // Validation proved the product fits.
        crate::dtype::element_count(self.shape).unwrap_or(u64::MAX)
    }
}

/// One tensor of the table. Its name and shape are ranges of the header's
/// arenas: the parser pushes each name and shape and records the range it
/// pushed, so every range lies inside its arena (on a character boundary,
/// for names) for as long as the header lives.
///
/// On 64-bit targets an entry is 57 bytes; aligned to 64 it fills one cache
/// line, so a lookup reads one line for it rather than two.
#[derive(Debug, Clone)]
#[cfg_attr(target_pointer_width = "64", repr(align(64)))]
pub(crate) struct Entry {
    name: Range<usize>,
    shape: Range<usize>,
    begin: u64,
    end: u64,
    /// File offset of the entry's key, for errors.
    key_at: u64,
    dtype: Dtype,
}

/// The tensor table: entries plus the arenas their names and shapes live in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    entries: Vec<Entry>,
    names: String,
    shapes: Vec<usize>,
}

impl Table {
    /// The name of an entry of this table (see [`Entry`] for why the range
    /// is in bounds).
    #[inline]
    fn name(&self, entry: &Entry) -> &str {
        &self.names[entry.name.clone()]
    }

    /// The shape of an entry of this table.
    #[inline]
    fn shape(&self, entry: &Entry) -> &[usize] {
        &self.shapes[entry.shape.clone()]
    }

    #[inline]
    fn info(&self, entry: &Entry) -> TensorInfo<'_> {
        TensorInfo {
            name: self.name(entry),
            dtype: entry.dtype,
            shape: self.shape(entry),
            begin: entry.begin,
            end: entry.end,
        }
    }
}

/// A parsed and validated header, independent of the buffer it came from.
///
/// Tensors are kept in data-offset order, which is the order of
/// [`Header::iter`] and [`Header::names`]. Lookups by name are O(1).
///
/// Obtain one from [`Header::parse`] (a byte prefix of a file) or
/// [`Header::read_from`] (any reader, consuming exactly the header), or from
/// a loaded file. Checking that the file really is [`Header::file_len`] bytes
/// long is then the caller's job ([`Header::check_file_len`]).
///
/// This is what the reference crate calls `Metadata` (its
/// `SafeTensors::read_metadata` gives one; ours gives a `Header`): its
/// `info(name)` is [`Header::get`], its `data_len()` is
/// [`Header::data_len`] (in `u64`), its `metadata()` is
/// [`Header::metadata`].
///
/// ```
/// use tensorsafe::{serialize, Dtype, Header, TensorView};
/// let file = serialize([("w", TensorView::new(Dtype::F16, [2, 3], &[0; 12])?)], None)?;
///
/// // The first 8 + N bytes are enough (say, one ranged read of a remote file).
/// let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
/// let header = Header::parse(&file[..8 + n])?;
/// let w = header.get("w").unwrap();
/// assert_eq!((w.dtype(), w.shape(), w.byte_len()), (Dtype::F16, &[2, 3][..], 12));
/// // Where the bytes are, and how long the whole file must be.
/// assert_eq!(header.data_start() + w.data_offsets().0, 8 + n as u64);
/// header.check_file_len(file.len() as u64)?;
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Header {
    header_len: u64,
    data_len: u64,
    table: Table,
    lookup: NameTable,
    metadata: Option<Metadata>,
}

impl Header {
    /// Parses and validates the header at the start of `bytes`, with default
    /// limits. `bytes` must hold at least the 8-byte prefix and the header;
    /// anything after it is ignored.
    ///
    /// ```
    /// let file = tensorsafe::serialize([("w", tensorsafe::TensorView::new(
    ///     tensorsafe::Dtype::U8, &[2], &[1, 2])?)], None)?;
    /// let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    /// let header = tensorsafe::Header::parse(&file[..8 + n])?; // no tensor data needed
    /// assert_eq!(header.file_len(), file.len() as u64);
    /// assert_eq!(header.get("w").unwrap().shape(), &[2]);
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Header> {
        Header::parse_with(bytes, &ParseOptions::default())
    }

    /// [`Header::parse`] with the given options.
    pub fn parse_with(bytes: &[u8], options: &ParseOptions) -> Result<Header> {
        let prefix: [u8; PREFIX_LEN] = bytes
            .get(..PREFIX_LEN)
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| {
                Error::new(ErrorKind::FileTooSmall).with_detail(format!("{} bytes", bytes.len()))
            })?;
        let n = Header::declared_len(prefix, options)?;
        let json = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(PREFIX_LEN))
            .and_then(|end| bytes.get(PREFIX_LEN..end))
            .ok_or_else(|| {
                Error::new(ErrorKind::HeaderOutOfBounds)
                    .at(0)
                    .with_detail(format!(
                        "header of {n} bytes, but only {} bytes follow the prefix",
                        bytes.len() - PREFIX_LEN
                    ))
            })?;
        Header::from_json(json, options)
    }

    /// Reads exactly the prefix and the header from `reader` (8 + N bytes,
    /// nothing more) and validates them, with default limits. The declared
    /// length is checked against the limit before anything is allocated.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-read-from-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("model.safetensors");
    /// # tensorsafe::serialize_to_file([("w", tensorsafe::TensorView::new(tensorsafe::Dtype::U8, [2], &[1, 2])?)], None, &path)?;
    /// use std::io::{Read, Seek, SeekFrom};
    /// let mut file = std::fs::File::open(&path)?;
    /// let header = tensorsafe::Header::read_from(&mut file)?; // 8 + N bytes read
    /// header.check_file_len(file.metadata()?.len())?;
    /// let w = header.get("w").unwrap();
    /// let mut bytes = vec![0; w.byte_len() as usize];
    /// file.seek(SeekFrom::Start(header.data_start() + w.data_offsets().0))?;
    /// file.read_exact(&mut bytes)?;
    /// assert_eq!(bytes, [1, 2]);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "std")]
    pub fn read_from<R: Read>(reader: R) -> Result<Header> {
        Header::read_from_with(reader, &ParseOptions::default())
    }

    /// [`Header::read_from`] with the given options.
    #[cfg(feature = "std")]
    pub fn read_from_with<R: Read>(mut reader: R, options: &ParseOptions) -> Result<Header> {
        let prefix = read_prefix(&mut reader)?;
        let n = Header::declared_len(prefix, options)?;
        let mut json = Vec::new();
        let read = reader.by_ref().take(n).read_to_end(&mut json)?;
        if read as u64 != n {
            return Err(Error::new(ErrorKind::HeaderOutOfBounds)
                .at(0)
                .with_detail(format!(
                    "header of {n} bytes, but the input ends after {read}"
                )));
        }
        Header::from_json(&json, options)
    }

    /// The header length a prefix declares, checked against the limit.
    pub(crate) fn declared_len(prefix: [u8; PREFIX_LEN], options: &ParseOptions) -> Result<u64> {
        let n = u64::from_le_bytes(prefix);
        let max = options.limits.max_header_bytes;
        if n > max {
            return Err(Error::new(ErrorKind::HeaderTooLarge)
                .at(0)
                .with_detail(format!("declared {n} bytes, limit {max}")));
        }
        Ok(n)
    }

    /// Parses and validates the header's JSON (the N bytes after the
    /// prefix), with offsets in errors counted from the file's start.
    pub(crate) fn from_json(json: &[u8], options: &ParseOptions) -> Result<Header> {
        let (text, classes) = crate::json::classify::text(json).map_err(|e| {
            Error::new(ErrorKind::InvalidUtf8).at((PREFIX_LEN + e.valid_up_to()) as u64)
        })?;
        let parsed = parse::parse(text, classes, options)?;
        validate::validate(parsed, json.len() as u64)
    }

    /// Where `info`'s bytes are in the file (counting the 8-byte prefix).
    /// Validation proved that the whole file's length fits in a `u64`, so
    /// neither sum can overflow for a tensor of this header.
    #[cfg(feature = "std")]
    pub(crate) fn file_range(&self, info: &TensorInfo<'_>) -> core::ops::Range<u64> {
        let (begin, end) = info.data_offsets();
        let start = self.data_start();
        start.saturating_add(begin)..start.saturating_add(end)
    }

    /// Checks that a buffer or file of `len` bytes is exactly as long as this
    /// header requires.
    pub fn check_file_len(&self, len: u64) -> Result<()> {
        let expected = self.file_len();
        if len == expected {
            return Ok(());
        }
        if len > expected {
            return Err(Error::new(ErrorKind::TrailingData)
                .at(expected)
                .with_detail(format!("{} bytes after the last tensor", len - expected)));
        }
        // Name the first tensor that does not fit.
        let available = len.saturating_sub(self.data_start());
        let culprit = self.iter().find(|t| t.end > available);
        let mut err = Error::new(ErrorKind::DataOutOfBounds)
            .at(len)
            .with_detail(format!(
                "file has {len} bytes, the header requires {expected}"
            ));
        if let Some(t) = culprit {
            err = err.with_tensor(t.name);
        }
        Err(err)
    }

    /// Whether `other` describes the same file: the same header length,
    /// tensors (names, dtypes, shapes, offsets), data length and
    /// `__metadata__`.
    #[cfg(feature = "std")]
    pub(crate) fn same_as(&self, other: &Header) -> bool {
        self.header_len == other.header_len
            && self.data_len == other.data_len
            && self.metadata == other.metadata
            && self.iter().eq(other.iter())
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.table.entries.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.table.entries.is_empty()
    }

    /// The header length N (the JSON and its padding, without the prefix).
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// File offset of the data section: 8 + N.
    pub fn data_start(&self) -> u64 {
        // N is the length of a header held in memory, far below u64::MAX.
        self.header_len.saturating_add(PREFIX_LEN as u64)
    }

    /// Length of the data section the tensors cover.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// The exact length the file must have: 8 + N + data length.
    /// Validation refuses a header whose file length would not fit in a
    /// `u64` ([`ErrorKind::Overflow`]), so this sum is exact.
    pub fn file_len(&self) -> u64 {
        self.data_start().saturating_add(self.data_len)
    }

    /// The `__metadata__` map, if the header has one (`null` counts as none).
    /// The reference's `Metadata::metadata` gives `&Option<HashMap<..>>`
    /// for the same map.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }

    /// The tensor called `name`.
    #[inline]
    pub fn get(&self, name: &str) -> Option<TensorInfo<'_>> {
        let entries = &self.table.entries;
        let i = self.lookup.find(name, |i| self.table.name(&entries[i]))?;
        Some(self.table.info(&entries[i]))
    }

    /// Tensor names in data-offset order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.table.entries.iter().map(|e| self.table.name(e))
    }

    /// Tensors in data-offset order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = TensorInfo<'_>> + '_ {
        self.table.entries.iter().map(|e| self.table.info(e))
    }
}

/// The 8-byte prefix of `reader`; an input that ends before it is
/// [`ErrorKind::FileTooSmall`] with the byte count, as [`Header::parse`]
/// gives it.
#[cfg(feature = "std")]
fn read_prefix(mut reader: impl Read) -> Result<[u8; PREFIX_LEN]> {
    let mut prefix = [0u8; PREFIX_LEN];
    let mut filled = 0;
    while filled < PREFIX_LEN {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) => {
                return Err(
                    Error::new(ErrorKind::FileTooSmall).with_detail(format!("{filled} bytes"))
                )
            }
            Ok(read) => filled += read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(prefix)
}
