//! Bounds on what a parser accepts, so hostile input cannot exhaust memory.

/// Size limits applied while parsing a header.
///
/// Every limit is checked before the memory it guards is allocated. The
/// defaults accept every real checkpoint; raise them for unusual files.
///
/// ```
/// use tensorsafe::{Limits, ParseOptions};
/// let mut options = ParseOptions::default();
/// options.limits.max_header_bytes = 1 << 20;
/// options.limits.max_tensors = 10_000;
/// assert_eq!(options.limits.max_rank, Limits::DEFAULT_MAX_RANK);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest header length accepted, in bytes (the JSON, without the
    /// 8-byte prefix). Default: [`Limits::DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: u64,
    /// The most tensors one file may hold. Default:
    /// [`Limits::DEFAULT_MAX_TENSORS`].
    pub max_tensors: usize,
    /// The most dimensions one tensor may have. Default:
    /// [`Limits::DEFAULT_MAX_RANK`].
    pub max_rank: usize,
}

impl Limits {
    /// Default maximum header length: 100,000,000 bytes, as the reference.
    pub const DEFAULT_MAX_HEADER_BYTES: u64 = 100_000_000;
    /// Default maximum number of tensors in one file: 1,000,000.
    pub const DEFAULT_MAX_TENSORS: usize = 1_000_000;
    /// Default maximum rank (number of dimensions): 64, numpy's maximum.
    pub const DEFAULT_MAX_RANK: usize = 64;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            max_tensors: Self::DEFAULT_MAX_TENSORS,
            max_rank: Self::DEFAULT_MAX_RANK,
        }
    }
}

/// How a header is parsed: the [`Limits`] and how strict to be.
///
/// ```
/// use tensorsafe::ParseOptions;
/// let mut options = ParseOptions::default();
/// options.limits.max_tensors = 100;
/// options.deny_unknown_fields = true;
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ParseOptions {
    /// The size limits.
    pub limits: Limits,
    /// Refuse tensor entries with fields other than `dtype`, `shape` and
    /// `data_offsets` ([`ErrorKind::UnknownField`](crate::ErrorKind::UnknownField)).
    /// Off by default, as the reference ignores them.
    pub deny_unknown_fields: bool,
}

impl From<Limits> for ParseOptions {
    fn from(limits: Limits) -> Self {
        ParseOptions {
            limits,
            ..ParseOptions::default()
        }
    }
}
