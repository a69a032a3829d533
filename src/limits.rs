//! Bounds on what a parser accepts, so hostile input cannot exhaust memory.

/// Size limits applied while parsing a header.
///
/// Every limit is checked before the memory it guards is allocated. The
/// defaults accept every real checkpoint; raise them for unusual files.
///
/// ```
/// use tensorsafe::Limits;
/// let limits = Limits::default().max_header_bytes(1 << 20).max_tensors(10_000);
/// assert_eq!(limits.header_bytes(), 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    header_bytes: u64,
    tensors: usize,
    rank: usize,
}

impl Limits {
    /// Default maximum header length: 100,000,000 bytes, as the reference.
    pub const DEFAULT_MAX_HEADER_BYTES: u64 = 100_000_000;
    /// Default maximum number of tensors in one file: 1,000,000.
    pub const DEFAULT_MAX_TENSORS: usize = 1_000_000;
    /// Default maximum rank (number of dimensions): 64, numpy's maximum.
    pub const DEFAULT_MAX_RANK: usize = 64;

    /// Sets the maximum header length in bytes (the JSON, without the 8-byte prefix).
    pub fn max_header_bytes(mut self, bytes: u64) -> Self {
        self.header_bytes = bytes;
        self
    }

    /// Sets the maximum number of tensors.
    pub fn max_tensors(mut self, tensors: usize) -> Self {
        self.tensors = tensors;
        self
    }

    /// Sets the maximum number of dimensions of one tensor.
    pub fn max_rank(mut self, rank: usize) -> Self {
        self.rank = rank;
        self
    }

    /// The maximum header length in bytes.
    pub fn header_bytes(&self) -> u64 {
        self.header_bytes
    }

    /// The maximum number of tensors.
    pub fn tensors(&self) -> usize {
        self.tensors
    }

    /// The maximum rank.
    pub fn rank(&self) -> usize {
        self.rank
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            tensors: Self::DEFAULT_MAX_TENSORS,
            rank: Self::DEFAULT_MAX_RANK,
        }
    }
}

/// How a header is parsed: the [`Limits`] and how strict to be.
///
/// ```
/// use tensorsafe::{Limits, ParseOptions};
/// let options = ParseOptions::default()
///     .limits(Limits::default().max_tensors(100))
///     .deny_unknown_fields(true);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    pub(crate) limits: Limits,
    pub(crate) deny_unknown_fields: bool,
}

impl ParseOptions {
    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Refuse tensor entries with fields other than `dtype`, `shape` and
    /// `data_offsets` ([`ErrorKind::UnknownField`](crate::ErrorKind::UnknownField)).
    /// Off by default, as the reference ignores them.
    pub fn deny_unknown_fields(mut self, deny: bool) -> Self {
        self.deny_unknown_fields = deny;
        self
    }
}

impl From<Limits> for ParseOptions {
    fn from(limits: Limits) -> Self {
        ParseOptions::default().limits(limits)
    }
}
