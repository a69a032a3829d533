//! The crate's one error type.

use std::fmt;
use std::io;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an error is about, for callers that react by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Category {
    /// Reading or writing the file failed.
    Io,
    /// The bytes break a rule of the format.
    Format,
    /// The input is well formed but exceeds a configured [`Limits`](crate::Limits) value.
    Limits,
    /// The caller asked for something the data cannot give (a missing tensor,
    /// the wrong element type, an invalid tensor to write, ...).
    Usage,
}

/// Which rule failed. Each variant is one rule of the format or of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O operation failed; [`std::error::Error::source`] has the cause.
    #[error("I/O error")]
    Io,
    /// The input is shorter than the 8-byte header length prefix.
    #[error("file is shorter than its 8-byte header length")]
    FileTooSmall,
    /// The declared header length exceeds [`Limits::max_header_bytes`](crate::Limits).
    #[error("header length exceeds the limit")]
    HeaderTooLarge,
    /// 8 + the declared header length is past the end of the input.
    #[error("header length points past the end of the file")]
    HeaderOutOfBounds,
    /// The header bytes are not UTF-8.
    #[error("header is not valid UTF-8")]
    InvalidUtf8,
    /// The header is not JSON (bad token, bad escape, truncated, ...).
    #[error("header is not valid JSON")]
    JsonSyntax,
    /// Something other than JSON whitespace follows the header's object.
    #[error("unexpected bytes after the header's JSON object")]
    TrailingCharacters,
    /// JSON nested 128 levels deep or more (serde_json's limit).
    #[error("header JSON is nested too deeply")]
    RecursionLimit,
    /// A JSON value has the wrong type (the header is not an object, an entry
    /// is not an object, `shape` is not an array, ...).
    #[error("header value has the wrong JSON type")]
    InvalidType,
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`.
    #[error("tensor entry is missing a field")]
    MissingField,
    /// A tensor entry names the same field twice.
    #[error("tensor entry has a field twice")]
    DuplicateField,
    /// A tensor entry has a field other than the three known ones, and
    /// [`ParseOptions::deny_unknown_fields`](crate::ParseOptions) is set.
    #[error("tensor entry has an unknown field")]
    UnknownField,
    /// Two tensors share a name (in a header, or given to a writer).
    #[error("duplicate tensor name")]
    DuplicateTensor,
    /// `__metadata__` appears twice in the header.
    #[error("`__metadata__` appears twice")]
    DuplicateMetadata,
    /// `__metadata__` is neither null nor an object of string values.
    #[error("`__metadata__` must be an object whose values are strings")]
    InvalidMetadata,
    /// The dtype name is not one of the format's (names are case-sensitive).
    #[error("unknown dtype")]
    UnknownDtype,
    /// A `shape` or `data_offsets` number is negative, fractional, in
    /// exponent form, or too large.
    #[error("shape and data_offsets must hold non-negative integers that fit in 64 bits")]
    InvalidInteger,
    /// `data_offsets` is not exactly two numbers, or its end is before its begin.
    #[error("data_offsets must be [begin, end] with begin <= end")]
    InvalidOffsets,
    /// More tensors than [`Limits::max_tensors`](crate::Limits).
    #[error("too many tensors")]
    TooManyTensors,
    /// A shape with more dimensions than [`Limits::max_rank`](crate::Limits).
    #[error("tensor has too many dimensions")]
    RankTooLarge,
    /// The element count or byte size of a tensor overflows.
    #[error("tensor size overflows")]
    Overflow,
    /// A sub-byte dtype (F4, F6) whose element count does not fill whole bytes.
    #[error("tensor does not fill a whole number of bytes")]
    PartialByte,
    /// `end - begin` differs from shape x dtype size.
    #[error("data_offsets span differs from the size given by shape and dtype")]
    SizeMismatch,
    /// A tensor begins after the previous one ends (or the first after 0).
    #[error("hole in the data section")]
    DataGap,
    /// A tensor begins before the previous one ends.
    #[error("tensors overlap in the data section")]
    DataOverlap,
    /// The data section holds bytes after the last tensor.
    #[error("bytes after the last tensor")]
    TrailingData,
    /// A tensor ends past the end of the input.
    #[error("tensor data extends past the end of the file")]
    DataOutOfBounds,
    /// No tensor has the requested name.
    #[error("no tensor of that name")]
    TensorNotFound,
    /// A typed access asked for an element type the tensor does not have.
    #[error("tensor has another dtype")]
    DtypeMismatch,
    /// Zero-copy typed access on data that is not aligned for the element type.
    #[error("tensor data is not aligned for the element type")]
    Misaligned,
    /// Zero-copy typed access to multi-byte elements on a big-endian host.
    #[error("zero-copy typed access needs a little-endian host")]
    BigEndianHost,
    /// A BOOL tensor holds a byte other than 0 or 1.
    #[error("BOOL tensor holds a byte other than 0 or 1")]
    InvalidBool,
    /// The requested conversion is not defined for the dtype.
    #[error("conversion not supported for this dtype")]
    UnsupportedConversion,
    /// A tensor to write is named `__metadata__`.
    #[error("`__metadata__` is reserved and cannot name a tensor")]
    ReservedName,
    /// A streamed tensor's bytes came out of declaration order, or for an
    /// undeclared tensor.
    #[error("tensor bytes out of order")]
    StreamOrder,
    /// A streamed tensor got fewer bytes than its shape and dtype need.
    #[error("tensor got too few bytes")]
    StreamShort,
    /// A streamed tensor got more bytes than its shape and dtype need.
    #[error("tensor got too many bytes")]
    StreamOverflow,
    /// A slice selects out of range, has step 0, or has more selections
    /// than the tensor has dimensions.
    #[error("invalid slice")]
    InvalidSlice,
    /// A slice of an F4 or F6 tensor would start or end inside a byte.
    #[error("slice cuts inside a byte")]
    SubByteSlice,
    /// A sharded checkpoint's index file is unreadable or not the expected
    /// JSON (`weight_map` of names to plain file names).
    #[error("invalid checkpoint index")]
    IndexInvalid,
    /// The index maps a tensor to a shard that does not hold it.
    #[error("a tensor the index maps is missing from its shard")]
    IndexMissingTensor,
    /// A shard holds a tensor the index maps elsewhere or not at all.
    #[error("a shard holds a tensor the index does not map there")]
    IndexMismatch,
    /// `metadata.total_size` differs from the bytes of the shards' tensors.
    #[error("index total_size differs from the shards")]
    IndexTotalSize,
    /// A shard file lies beside the index but the index does not name it.
    #[error("a shard file is not named by the index")]
    IndexUnnamedShard,
    /// A requested alignment is not a power of two up to 1 MiB.
    #[error("alignment must be a power of two up to 1 MiB")]
    InvalidAlignment,
    /// A tensor to write has a data length that differs from shape x dtype.
    #[error("tensor data length differs from shape x dtype size")]
    InvalidView,
}

impl ErrorKind {
    /// The broad cause of this kind of error.
    pub fn category(self) -> Category {
        use ErrorKind::*;
        match self {
            Io => Category::Io,
            HeaderTooLarge | TooManyTensors | RankTooLarge => Category::Limits,
            TensorNotFound
            | DtypeMismatch
            | Misaligned
            | BigEndianHost
            | InvalidBool
            | UnsupportedConversion
            | ReservedName
            | InvalidView
            | InvalidAlignment
            | StreamOrder
            | StreamShort
            | StreamOverflow
            | InvalidSlice
            | SubByteSlice => Category::Usage,
            _ => Category::Format,
        }
    }
}

/// The error of every fallible operation in this crate.
///
/// It is one pointer wide, so `Result<T, Error>` stays small. It carries the
/// [`ErrorKind`] (which rule failed), and where known the tensor concerned and
/// the byte offset in the file. Its `Display` is one line:
///
/// ```
/// let bytes = b"\x07\x00\x00\x00\x00\x00\x00\x00{\"a\":1}";
/// let err = tensorsafe::SafeTensors::deserialize(bytes).unwrap_err();
/// assert_eq!(err.kind(), tensorsafe::ErrorKind::InvalidType);
/// assert_eq!(err.tensor(), Some("a"));
/// assert_eq!(err.offset(), Some(13));
/// assert_eq!(
///     err.to_string(),
///     "header value has the wrong JSON type: expected an object with dtype, shape \
///      and data_offsets, found a number (tensor \"a\", at byte 13)"
/// );
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    tensor: Option<String>,
    offset: Option<u64>,
    detail: Option<String>,
    source: Option<io::Error>,
}

impl Error {
    /// An error of the given kind, with no context yet.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                tensor: None,
                offset: None,
                detail: None,
                source: None,
            }),
        }
    }

    pub(crate) fn with_tensor(mut self, name: impl Into<String>) -> Self {
        self.inner.tensor = Some(name.into());
        self
    }

    pub(crate) fn at(mut self, offset: u64) -> Self {
        self.inner.offset = Some(offset);
        self
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.inner.detail = Some(detail.into());
        self
    }

    /// Which rule failed.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The broad cause (I/O, format, limits, usage).
    pub fn category(&self) -> Category {
        self.inner.kind.category()
    }

    /// The tensor concerned, when the error is about one.
    pub fn tensor(&self) -> Option<&str> {
        self.inner.tensor.as_deref()
    }

    /// The byte offset in the file (counting the 8-byte length prefix) where
    /// the problem was found, when there is one.
    pub fn offset(&self) -> Option<u64> {
        self.inner.offset
    }

    /// Extra detail (what was expected, what was found), when there is any.
    pub fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        let mut e = Error::new(ErrorKind::Io).with_detail(err.to_string());
        e.inner.source = Some(err);
        e
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner.kind)?;
        if let Some(detail) = &self.inner.detail {
            // Details may quote the input; control characters are escaped so
            // the message stays one line whatever the file holds.
            f.write_str(": ")?;
            for c in detail.chars() {
                if c.is_control() {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
        }
        match (&self.inner.tensor, self.inner.offset) {
            (Some(t), Some(o)) => write!(f, " (tensor {t:?}, at byte {o})"),
            (Some(t), None) => write!(f, " (tensor {t:?})"),
            (None, Some(o)) => write!(f, " (at byte {o})"),
            (None, None) => Ok(()),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("tensor", &self.inner.tensor)
            .field("offset", &self.inner.offset)
            .field("detail", &self.inner.detail)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_with_context() {
        let e = Error::new(ErrorKind::DataGap)
            .with_tensor("w\n")
            .at(42)
            .with_detail("begins at 8, previous ends at 4");
        let text = e.to_string();
        assert_eq!(
            text,
            "hole in the data section: begins at 8, previous ends at 4 (tensor \"w\\n\", at byte 42)"
        );
        assert!(!text.contains('\n'));
        assert_eq!(e.category(), Category::Format);
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn details_quoting_input_stay_on_one_line() {
        let e = Error::new(ErrorKind::InvalidInteger).with_detail("not a number: [\n\t\r]");
        assert_eq!(e.to_string(), "shape and data_offsets must hold non-negative integers that fit in 64 bits: not a number: [\\n\\t\\r]");
    }

    #[test]
    fn io_errors_keep_their_source() {
        let e = Error::from(io::Error::new(io::ErrorKind::NotFound, "gone"));
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(std::error::Error::source(&e).is_some());
    }
}
