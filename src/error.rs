//! The crate's one error type.
//!
//! [`Error`] is one pointer wide. It carries an [`ErrorKind`] (which rule
//! failed), and where known the tensor, the byte offset, the file, a detail
//! line, and the underlying I/O error. Every kind is classified into a
//! [`Category`] by the table below, so a new kind cannot be added without
//! choosing its category.

#[cfg(feature = "std")]
use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
#[cfg(feature = "std")]
use std::io;
#[cfg(feature = "std")]
use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What an error is about, for callers that react by cause.
///
/// ```
/// use tensorsafe::{Category, SafeTensors};
/// match SafeTensors::deserialize(b"short") {
///     Err(e) => match e.category() {
///         Category::Io => println!("could not read: {e}"),
///         Category::Format | Category::Limits => println!("not a valid file: {e}"),
///         Category::Usage => println!("bug in the caller: {e}"),
///         _ => println!("{e}"),
///     },
///     Ok(_) => unreachable!(),
/// }
/// ```
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

macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident => $category:ident, $message:literal;)*) => {
        /// Which rule failed. Each variant is one rule of the format or of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorKind {
            $($(#[$doc])* $name,)*
        }

        impl ErrorKind {
            /// The broad cause of this kind of error.
            pub const fn category(self) -> Category {
                match self {
                    $(ErrorKind::$name => Category::$category,)*
                }
            }

            /// A one-line description of the rule, as `Display` shows it.
            pub const fn message(self) -> &'static str {
                match self {
                    $(ErrorKind::$name => $message,)*
                }
            }
        }
    };
}

kinds! {
    /// An I/O operation failed; [`Error::io_error`] has the cause.
    Io => Io, "I/O error";
    /// A file changed since its header was read: it ended early, or has
    /// another length, or is another file (renamed over it) or was written
    /// since (its modification time differs).
    FileChanged => Io, "file changed while being read";
    /// The input is shorter than the 8-byte header length prefix.
    FileTooSmall => Format, "file is shorter than its 8-byte header length";
    /// The declared header length exceeds [`Limits::max_header_bytes`](crate::Limits).
    HeaderTooLarge => Limits, "header length exceeds the limit";
    /// 8 + the declared header length is past the end of the input.
    HeaderOutOfBounds => Format, "header length points past the end of the file";
    /// The header bytes are not UTF-8.
    InvalidUtf8 => Format, "header is not valid UTF-8";
    /// The header is not JSON (bad token, bad escape, truncated, ...).
    JsonSyntax => Format, "header is not valid JSON";
    /// Something other than JSON whitespace follows the header's object.
    TrailingCharacters => Format, "unexpected bytes after the header's JSON object";
    /// JSON nested 128 levels deep or more (serde_json's limit).
    RecursionLimit => Format, "header JSON is nested too deeply";
    /// A JSON value has the wrong type (the header is not an object, an entry
    /// is not an object, `shape` is not an array, ...).
    InvalidType => Format, "header value has the wrong JSON type";
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`.
    MissingField => Format, "tensor entry is missing a field";
    /// A tensor entry names the same field twice.
    DuplicateField => Format, "tensor entry has a field twice";
    /// A tensor entry has a field other than the three known ones, and
    /// [`ParseOptions::deny_unknown_fields`](crate::ParseOptions) is set.
    UnknownField => Format, "tensor entry has an unknown field";
    /// Two tensors share a name (in a header, or given to a writer).
    DuplicateTensor => Format, "duplicate tensor name";
    /// `__metadata__` appears twice in the header.
    DuplicateMetadata => Format, "`__metadata__` appears twice";
    /// `__metadata__` is neither null nor an object of string values.
    InvalidMetadata => Format, "`__metadata__` must be an object whose values are strings";
    /// The dtype name is not one of the format's (names are case-sensitive).
    UnknownDtype => Format, "unknown dtype";
    /// A `shape` or `data_offsets` number is negative, fractional, in
    /// exponent form, or too large.
    InvalidInteger => Format, "shape and data_offsets must hold non-negative integers that fit in 64 bits";
    /// `data_offsets` is not exactly two numbers, or its end is before its begin.
    InvalidOffsets => Format, "data_offsets must be [begin, end] with begin <= end";
    /// More tensors than [`Limits::max_tensors`](crate::Limits).
    TooManyTensors => Limits, "too many tensors";
    /// A shape with more dimensions than [`Limits::max_rank`](crate::Limits).
    RankTooLarge => Limits, "tensor has too many dimensions";
    /// The element count or byte size of a tensor overflows.
    Overflow => Format, "tensor size overflows";
    /// A sub-byte dtype (F4, F6) whose element count does not fill whole bytes.
    PartialByte => Format, "tensor does not fill a whole number of bytes";
    /// `end - begin` differs from shape x dtype size.
    SizeMismatch => Format, "data_offsets span differs from the size given by shape and dtype";
    /// A tensor begins after the previous one ends (or the first after 0).
    DataGap => Format, "hole in the data section";
    /// A tensor begins before the previous one ends.
    DataOverlap => Format, "tensors overlap in the data section";
    /// The data section holds bytes after the last tensor.
    TrailingData => Format, "bytes after the last tensor";
    /// A tensor ends past the end of the input.
    DataOutOfBounds => Format, "tensor data extends past the end of the file";
    /// No tensor has the requested name.
    TensorNotFound => Usage, "no tensor of that name";
    /// A typed access asked for an element type the tensor does not have.
    DtypeMismatch => Usage, "tensor has another dtype";
    /// Zero-copy typed access on data that is not aligned for the element type.
    Misaligned => Usage, "tensor data is not aligned for the element type";
    /// Zero-copy typed access to multi-byte elements on a big-endian host.
    BigEndianHost => Usage, "zero-copy typed access needs a little-endian host";
    /// A BOOL tensor holds a byte other than 0 or 1.
    InvalidBool => Usage, "BOOL tensor holds a byte other than 0 or 1";
    /// The requested conversion is not defined for the dtype.
    UnsupportedConversion => Usage, "conversion not supported for this dtype";
    /// A tensor to write is named `__metadata__`.
    ReservedName => Usage, "`__metadata__` is reserved and cannot name a tensor";
    /// A streamed tensor's bytes came out of declaration order, or for an
    /// undeclared tensor.
    StreamOrder => Usage, "tensor bytes out of order";
    /// A streamed tensor got fewer bytes than its shape and dtype need.
    StreamShort => Usage, "tensor got too few bytes";
    /// A streamed tensor got more bytes than its shape and dtype need.
    StreamOverflow => Usage, "tensor got too many bytes";
    /// A slice selects out of range, has step 0, or has more selections
    /// than the tensor has dimensions.
    InvalidSlice => Usage, "invalid slice";
    /// A slice of an F4 or F6 tensor would start or end inside a byte.
    SubByteSlice => Usage, "slice cuts inside a byte";
    /// A sharded checkpoint's index file is unreadable or not the expected
    /// JSON (`weight_map` of names to plain file names).
    IndexInvalid => Format, "invalid checkpoint index";
    /// The index maps a tensor to a shard that does not hold it.
    IndexMissingTensor => Format, "a tensor the index maps is missing from its shard";
    /// A shard holds a tensor the index maps elsewhere or not at all.
    IndexMismatch => Format, "a shard holds a tensor the index does not map there";
    /// `metadata.total_size` differs from the bytes of the shards' tensors.
    IndexTotalSize => Format, "index total_size differs from the shards";
    /// A shard file lies beside the index but the index does not name it.
    IndexUnnamedShard => Format, "a shard file is not named by the index";
    /// A checkpoint's index file is larger than any index this crate reads
    /// (an index lists names and file names only).
    IndexTooLarge => Limits, "checkpoint index too large";
    /// A path given as a checkpoint is neither an index, nor a
    /// `.safetensors` file, nor a directory holding exactly one of either.
    NotACheckpoint => Usage, "not a checkpoint";
    /// A requested alignment is not a power of two up to 1 MiB.
    InvalidAlignment => Usage, "alignment must be a power of two up to 1 MiB";
    /// A tensor to write has a data length that differs from shape x dtype.
    InvalidView => Usage, "tensor data length differs from shape x dtype size";
    /// A destination buffer the caller gave (to load a tensor into, or to
    /// copy a slice into) is not exactly the length of what goes in it.
    BufferLength => Usage, "destination buffer has the wrong length";
    /// A checkpoint's shard asked for by a position past its last shard.
    ShardNotFound => Usage, "no shard at that position";
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The error of every fallible operation in this crate.
///
/// It is one pointer wide, so `Result<T, Error>` stays small. It carries the
/// [`ErrorKind`] (which rule failed), and where known the tensor concerned,
/// the byte offset in the file and the file's path. Its `Display` is one
/// line:
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
///
/// For an I/O error, `Display` includes the operating system's message and
/// [`std::error::Error::source`] continues below it (as `serde_json` does),
/// so an error chain printed by `anyhow` does not repeat it; the
/// [`io::Error`] itself is [`Error::io_error`].
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    tensor: Option<String>,
    offset: Option<u64>,
    #[cfg(feature = "std")]
    path: Option<PathBuf>,
    detail: Option<String>,
    #[cfg(feature = "std")]
    io: Option<io::Error>,
}

impl Error {
    /// An error of the given kind, with no context yet.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                tensor: None,
                offset: None,
                #[cfg(feature = "std")]
                path: None,
                detail: None,
                #[cfg(feature = "std")]
                io: None,
            }),
        }
    }

    /// No tensor called `name`: every lookup by name (a file, a
    /// checkpoint, a remote object) says it with this one error.
    pub(crate) fn tensor_not_found(name: &str) -> Self {
        Error::new(ErrorKind::TensorNotFound).with_tensor(name)
    }

    /// A destination buffer of `given` bytes for a `what` (a tensor, a
    /// slice) of `needed` bytes: every caller buffer of the wrong length is
    /// reported with this one error.
    pub(crate) fn buffer_length(given: usize, needed: u64, what: &str) -> Self {
        Error::new(ErrorKind::BufferLength).with_detail(alloc::format!(
            "{} given, the {what} has {needed}",
            count(given as u64, "byte")
        ))
    }

    /// The same error, about tensor `name` (replacing any name it had). The crate names the tensor
    /// wherever it knows it; a [`TensorView`](crate::TensorView) does not
    /// know the name it was found under, so its conversions (`to_vec`,
    /// `as_slice`) give errors without one, and this adds it:
    /// `view.to_vec::<f32>().map_err(|e| e.with_tensor(name))`.
    pub fn with_tensor(mut self, name: impl Into<String>) -> Self {
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

    /// Names the file the error is about, unless a more specific one (a
    /// shard inside a checkpoint) is already named.
    #[cfg(feature = "std")]
    pub(crate) fn in_file(mut self, path: &Path) -> Self {
        if self.inner.path.is_none() {
            self.inner.path = Some(path.to_owned());
        }
        self
    }

    /// The same error, classified as `kind` (a JSON syntax error inside a
    /// checkpoint index becomes an invalid index), keeping its context.
    pub(crate) fn retag(mut self, kind: ErrorKind) -> Self {
        self.inner.kind = kind;
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

    /// The file concerned, when the error came from opening or writing one;
    /// for remote storage (the `object-store` feature), the object's
    /// location in its store.
    #[cfg(feature = "std")]
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Extra detail (what was expected, what was found), when there is any.
    pub fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }

    /// The I/O error behind an [`ErrorKind::Io`] error.
    #[cfg(feature = "std")]
    pub fn io_error(&self) -> Option<&io::Error> {
        self.inner.io.as_ref()
    }

    /// The I/O error this error holds ([`Error::io_error`]), by value, for
    /// code that must hand on the `io::Error` itself (its OS error code
    /// intact); this error's kind and context are dropped. Errors of other
    /// kinds may hold one too (an index that could not be read is
    /// [`ErrorKind::IndexInvalid`]). Without one, this error comes back.
    ///
    /// ```
    /// use tensorsafe::{Error, ErrorKind};
    /// let e = Error::from(std::io::Error::from_raw_os_error(28));
    /// assert_eq!(e.into_io_error().unwrap().raw_os_error(), Some(28)); // ENOSPC
    /// let e = Error::new(ErrorKind::Overflow);
    /// assert_eq!(e.into_io_error().unwrap_err().kind(), ErrorKind::Overflow);
    /// ```
    #[cfg(feature = "std")]
    pub fn into_io_error(mut self) -> Result<io::Error, Self> {
        self.inner.io.take().ok_or(self)
    }
}

#[cfg(feature = "std")]
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        let mut e = Error::new(ErrorKind::Io);
        e.inner.io = Some(err);
        e
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

/// `n` and `noun`, plural unless `n` is 1: "1 byte", "3 bytes".
pub(crate) fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        alloc::format!("1 {noun}")
    } else {
        alloc::format!("{n} {noun}s")
    }
}

/// Writes `text` with control characters escaped, so a message quoting the
/// input stays one line whatever the file holds.
fn one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.write_str(inner.kind.message())?;
        if let Some(detail) = &inner.detail {
            f.write_str(": ")?;
            one_line(f, detail)?;
        }
        #[cfg(feature = "std")]
        if let Some(io) = &inner.io {
            f.write_str(": ")?;
            one_line(f, &alloc::string::ToString::to_string(io))?;
        }
        let mut open = " (";
        if let Some(t) = &inner.tensor {
            write!(f, "{open}tensor ")?;
            one_line(f, &alloc::format!("{t:?}"))?;
            open = ", ";
        }
        if let Some(o) = inner.offset {
            write!(f, "{open}at byte {o}")?;
            open = ", ";
        }
        #[cfg(feature = "std")]
        if let Some(p) = &inner.path {
            write!(f, "{open}in ")?;
            one_line(f, &alloc::string::ToString::to_string(&p.display()))?;
            open = ", ";
        }
        if open == ", " {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The kind and the whole `Display` sentence, as
/// `Error(Kind, "sentence")`, so that what `fn main() -> Result<(), Box<dyn
/// Error>>` prints on failure reads like the `Display` form and still names
/// the kind (serde_json's error does the same).
///
/// ```
/// let err = tensorsafe::SafeTensors::deserialize(b"short").unwrap_err();
/// assert_eq!(
///     format!("{err:?}"),
///     r#"Error(FileTooSmall, "file is shorter than its 8-byte header length: 5 bytes")"#
/// );
/// ```
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Error")
            .field(&self.inner.kind)
            .field(&alloc::string::ToString::to_string(self))
            .finish()
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        // The I/O error's own message is already part of `Display`; its
        // source (if any) is the next link of the chain.
        #[cfg(feature = "std")]
        return self.inner.io.as_ref().and_then(|e| e.source());
        #[cfg(not(feature = "std"))]
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

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
        #[cfg(feature = "std")]
        {
            let e = e
                .in_file(Path::new("a.safetensors"))
                .in_file(Path::new("b"));
            assert!(e.to_string().ends_with("at byte 42, in a.safetensors)"));
        }
    }

    #[test]
    fn details_quoting_input_stay_on_one_line() {
        let e = Error::new(ErrorKind::InvalidInteger).with_detail("not a number: [\n\t\r]");
        assert_eq!(e.to_string(), "shape and data_offsets must hold non-negative integers that fit in 64 bits: not a number: [\\n\\t\\r]");
    }

    #[test]
    #[cfg(feature = "std")]
    fn io_errors_are_shown_once() {
        let e = Error::from(io::Error::new(io::ErrorKind::NotFound, "gone"))
            .in_file(Path::new("m.safetensors"));
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.category(), Category::Io);
        assert_eq!(e.to_string(), "I/O error: gone (in m.safetensors)");
        assert_eq!(
            e.io_error().map(io::Error::kind),
            Some(io::ErrorKind::NotFound)
        );
        // The chain does not repeat "gone".
        let mut chain = std::string::String::new();
        let mut next: Option<&dyn std::error::Error> = Some(&e);
        while let Some(err) = next {
            chain.push_str(&err.to_string());
            next = err.source();
        }
        assert_eq!(chain.matches("gone").count(), 1);
    }

    #[test]
    #[cfg(feature = "std")]
    fn the_io_error_is_given_back_whatever_the_kind() {
        let e = Error::from(io::Error::from_raw_os_error(13))
            .retag(ErrorKind::IndexInvalid)
            .with_tensor("w");
        assert_eq!(
            e.into_io_error().map(|io| io.raw_os_error()).ok(),
            Some(Some(13))
        );
        let e = Error::new(ErrorKind::FileChanged).with_tensor("w");
        let back = e.into_io_error().unwrap_err();
        assert_eq!(
            (back.kind(), back.tensor()),
            (ErrorKind::FileChanged, Some("w"))
        );
    }

    #[test]
    fn buffer_length_counts_bytes_once_in_the_singular_for_one() {
        assert_eq!(
            Error::buffer_length(100, 800, "tensor").to_string(),
            "destination buffer has the wrong length: 100 bytes given, the tensor has 800"
        );
        assert_eq!(
            Error::buffer_length(1, 2, "slice").to_string(),
            "destination buffer has the wrong length: 1 byte given, the slice has 2"
        );
    }

    #[test]
    fn retag_keeps_the_context() {
        let e = Error::new(ErrorKind::JsonSyntax)
            .at(7)
            .with_tensor("t")
            .retag(ErrorKind::IndexInvalid);
        assert_eq!(e.kind(), ErrorKind::IndexInvalid);
        assert_eq!((e.offset(), e.tensor()), (Some(7), Some("t")));
    }
}
