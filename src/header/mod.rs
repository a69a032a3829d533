//! The parsed header: the tensor table and the metadata.

pub(crate) mod index;
pub(crate) mod json;
mod parse;

use std::collections::BTreeMap;
use std::io::Read;

use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};
use crate::limits::ParseOptions;
use index::NameIndex;

/// The free-form `__metadata__` of a file: string keys to string values,
/// sorted by key.
pub type Metadata = BTreeMap<String, String>;

/// Length of the little-endian header length prefix.
pub const PREFIX_LEN: usize = 8;

/// One tensor as the header describes it (name, dtype, shape, data offsets).
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
        self.end - self.begin
    }

    /// Number of elements (the product of the shape; 1 for a scalar).
    pub fn element_count(&self) -> usize {
        // Validation proved the product fits.
        self.shape.iter().product()
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    name: (usize, usize),
    shape: (usize, usize),
    begin: u64,
    end: u64,
    /// File offset of the entry's key, for errors.
    key_at: u64,
    dtype: Dtype,
}

/// A parsed and validated header, independent of the buffer it came from.
///
/// Tensors are kept in data-offset order, which is the order of
/// [`Header::iter`] and [`Header::names`]. Lookups by name are O(1).
///
/// Obtain one from [`Header::parse`] (a byte prefix of a file) or
/// [`Header::read_from`] (any reader, consuming exactly the header), or from
/// a loaded file. Checking that the file really is [`Header::file_len`] bytes
/// long is then the caller's job.
#[derive(Debug, Clone)]
pub struct Header {
    header_len: u64,
    data_len: u64,
    entries: Vec<Entry>,
    names: String,
    shapes: Vec<usize>,
    index: NameIndex,
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
        let n = header_len(prefix, options)?;
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
    pub fn read_from<R: Read>(reader: R) -> Result<Header> {
        Header::read_from_with(reader, &ParseOptions::default())
    }

    /// [`Header::read_from`] with the given options.
    pub fn read_from_with<R: Read>(mut reader: R, options: &ParseOptions) -> Result<Header> {
        let mut prefix = [0u8; PREFIX_LEN];
        reader.read_exact(&mut prefix).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::new(ErrorKind::FileTooSmall)
            } else {
                Error::from(e)
            }
        })?;
        let n = header_len(prefix, options)?;
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

    fn from_json(json: &[u8], options: &ParseOptions) -> Result<Header> {
        let text = std::str::from_utf8(json).map_err(|e| {
            Error::new(ErrorKind::InvalidUtf8).at((PREFIX_LEN + e.valid_up_to()) as u64)
        })?;
        let raw = parse::parse(text, options)?;
        Header::validate(raw, json.len() as u64)
    }

    fn validate(raw: parse::RawHeader, header_len: u64) -> Result<Header> {
        let parse::RawHeader {
            mut entries,
            names,
            shapes,
            metadata,
        } = raw;
        // Writers emit entries in offset order, so this is usually a no-op check.
        if !entries
            .windows(2)
            .all(|w| (w[0].begin, w[0].end) <= (w[1].begin, w[1].end))
        {
            entries.sort_by_key(|e| (e.begin, e.end));
        }
        let name_of = |i: usize| {
            entries
                .get(i)
                .and_then(|e| names.get(e.name.0..e.name.1))
                .unwrap_or("")
        };
        let index = NameIndex::build(entries.len(), name_of).map_err(|dup| {
            let at = entries.get(dup).map_or(0, |e| e.key_at);
            Error::new(ErrorKind::DuplicateTensor)
                .with_tensor(name_of(dup))
                .at(at)
        })?;
        let data_start = header_len + PREFIX_LEN as u64;
        let mut cursor: u64 = 0;
        for entry in &entries {
            let name = names.get(entry.name.0..entry.name.1).unwrap_or("");
            let fail = |kind: ErrorKind, at: u64, detail: String| {
                Error::new(kind)
                    .with_tensor(name)
                    .at(at)
                    .with_detail(detail)
            };
            let shape = shapes.get(entry.shape.0..entry.shape.1).unwrap_or(&[]);
            let elements = shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| {
                    fail(
                        ErrorKind::Overflow,
                        entry.key_at,
                        format!("shape {shape:?}"),
                    )
                })?;
            let bytes = entry.dtype.byte_len(elements).map_err(|kind| {
                fail(
                    kind,
                    entry.key_at,
                    format!("{elements} elements of {}", entry.dtype),
                )
            })?;
            if entry.end - entry.begin != bytes as u64 {
                return Err(fail(
                    ErrorKind::SizeMismatch,
                    entry.key_at,
                    format!(
                        "data_offsets [{}, {}] span {} bytes, {:?} of {} needs {bytes}",
                        entry.begin,
                        entry.end,
                        entry.end - entry.begin,
                        shape,
                        entry.dtype
                    ),
                ));
            }
            if entry.begin != cursor {
                let kind = if entry.begin > cursor {
                    ErrorKind::DataGap
                } else {
                    ErrorKind::DataOverlap
                };
                return Err(fail(
                    kind,
                    data_start.saturating_add(cursor),
                    format!(
                        "tensor begins at {}, previous data ends at {cursor}",
                        entry.begin
                    ),
                ));
            }
            cursor = entry.end;
        }
        Ok(Header {
            header_len,
            data_len: cursor,
            entries,
            names,
            shapes,
            index,
            metadata,
        })
    }

    /// Checks that a buffer or file of `len` bytes is exactly as long as this
    /// header requires.
    pub fn check_file_len(&self, len: u64) -> Result<()> {
        let expected = self.file_len();
        if len == expected {
            return Ok(());
        }
        let data_start = self.data_start();
        if len > expected {
            return Err(Error::new(ErrorKind::TrailingData)
                .at(expected)
                .with_detail(format!("{} bytes after the last tensor", len - expected)));
        }
        // Name the first tensor that does not fit.
        let available = len.saturating_sub(data_start);
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

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The header length N (the JSON and its padding, without the prefix).
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// File offset of the data section: 8 + N.
    pub fn data_start(&self) -> u64 {
        self.header_len + PREFIX_LEN as u64
    }

    /// Length of the data section the tensors cover.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// The exact length the file must have: 8 + N + data length.
    pub fn file_len(&self) -> u64 {
        self.data_start() + self.data_len
    }

    /// The `__metadata__` map, if the header has one (`null` counts as none).
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }

    /// The tensor called `name`.
    #[inline]
    pub fn get(&self, name: &str) -> Option<TensorInfo<'_>> {
        let i = self.index.find(name, |i| self.name(i))?;
        self.info(i)
    }

    /// Tensor names in data-offset order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.entries.len()).map(|i| self.name(i))
    }

    /// Tensors in data-offset order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = TensorInfo<'_>> + '_ {
        self.entries.iter().map(|e| self.info_of(e))
    }

    #[inline]
    fn name(&self, i: usize) -> &str {
        self.entries
            .get(i)
            .and_then(|e| self.names.get(e.name.0..e.name.1))
            .unwrap_or("")
    }

    #[inline]
    pub(crate) fn info(&self, i: usize) -> Option<TensorInfo<'_>> {
        self.entries.get(i).map(|e| self.info_of(e))
    }

    #[inline]
    fn info_of(&self, e: &Entry) -> TensorInfo<'_> {
        TensorInfo {
            name: self.names.get(e.name.0..e.name.1).unwrap_or(""),
            dtype: e.dtype,
            shape: self.shapes.get(e.shape.0..e.shape.1).unwrap_or(&[]),
            begin: e.begin,
            end: e.end,
        }
    }
}

/// Reads the prefix and checks it against the limit.
fn header_len(prefix: [u8; PREFIX_LEN], options: &ParseOptions) -> Result<u64> {
    let n = u64::from_le_bytes(prefix);
    let max = options.limits.header_bytes();
    if n > max {
        return Err(Error::new(ErrorKind::HeaderTooLarge)
            .at(0)
            .with_detail(format!("declared {n} bytes, limit {max}")));
    }
    Ok(n)
}
