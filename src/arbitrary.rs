//! Generators for fuzzing: safetensors files and the arguments of this
//! crate's entry points, built from [`arbitrary`](https://docs.rs/arbitrary)
//! input (feature `arbitrary`).
//!
//! Random bytes rarely get past a JSON parser, and random numbers rarely hit
//! the values where size arithmetic breaks. The types here describe a file
//! by its structure (tensor names, dtypes, shapes, data offsets, metadata,
//! header padding, the declared header length, the data section, then a few
//! byte-level mutations) and render it ([`ArbitraryFile::to_bytes`]). Many
//! descriptions are consistent, so the rendered file is valid and a fuzzer
//! reaches the code behind the parser; the others are deliberately off in
//! one or a few places. Every number is drawn as a [`Number`]: usually small, often at an
//! edge (0, 1, 2^k and 2^k ± 1, `u32::MAX`, `usize::MAX`, `u64::MAX`, and
//! sizes such as 2^61 - 1 whose sum over several tensors overflows only at
//! the end; a tensor can repeat so that it does).
//!
//! The same numbers drive the arguments of slicing ([`Select`],
//! [`SliceArgs`], [`SplitArgs`]) and writing ([`ArbitraryTensors`],
//! [`WriterLayout`]), and [`Dtype`] implements [`Arbitrary`] too.
//!
//! Projects that load models from safetensors files can use
//! [`ArbitraryFile`] to fuzz their own loaders with structurally valid and
//! edge-valued files. Generation never panics, and sizes are capped (a few
//! hundred tensors, 64 KiB of tensor data) whatever the input, while the
//! header can still declare tensors of any size.
//!
//! ```
//! use tensorsafe::arbitrary::{Arbitrary, ArbitraryFile, Unstructured};
//! use tensorsafe::SafeTensors;
//!
//! // A fuzzer gives the bytes; any bytes make a description.
//! let raw: Vec<u8> = (1..=255u8).cycle().take(4096).collect();
//! let file = ArbitraryFile::arbitrary(&mut Unstructured::new(&raw))?;
//! let bytes = file.to_bytes();
//! match SafeTensors::deserialize(&bytes) {
//!     Ok(st) => assert!(st.len() <= file.entry_count()),
//!     // A consistent description renders a file every reader must accept.
//!     Err(e) => assert!(!file.is_valid(), "{e}"),
//! }
//! assert!(file.entry_count() > 0);
//! # Ok::<(), tensorsafe::arbitrary::Error>(())
//! ```
//!
//! Fuzzing a model loader with [cargo-fuzz](https://rust-fuzz.github.io/book/cargo-fuzz.html):
//! `cargo fuzz init`, then in `fuzz/Cargo.toml`
//!
//! ```toml
//! [dependencies]
//! libfuzzer-sys = "0.4"
//! tensorsafe = { version = "0.1", features = ["arbitrary"] }
//! ```
//!
//! and a target, `fuzz/fuzz_targets/load.rs`, whose input is the
//! description (libFuzzer's bytes become one through [`Arbitrary`]):
//!
//! ```
//! // #![no_main]
//! // libfuzzer_sys::fuzz_target!(|file: ArbitraryFile| check(file));
//! use tensorsafe::arbitrary::ArbitraryFile;
//!
//! fn check(file: ArbitraryFile) {
//!     let bytes = file.to_bytes();
//!     // Your loader here; it must not panic, whatever the bytes.
//!     let loaded = tensorsafe::SafeTensors::deserialize(&bytes);
//!     if file.is_valid() {
//!         // The format is fine, so any refusal is your loader's own rule.
//!         assert!(loaded.is_ok());
//!     }
//! }
//! # use tensorsafe::arbitrary::{Arbitrary, Unstructured};
//! # check(ArbitraryFile::arbitrary(&mut Unstructured::new(&[1, 2, 3]))?);
//! # Ok::<(), tensorsafe::arbitrary::Error>(())
//! ```
//!
//! Run it with debug assertions and overflow checks on,
//! `cargo fuzz run -a load`: in a release build (cargo-fuzz's default) an
//! overflowing sum wraps silently, and the bug it hides goes unnoticed.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub use ::arbitrary::{Arbitrary, Error, Unstructured};

use crate::dtype::Dtype;
use crate::header::{Metadata, PREFIX_LEN};
use crate::view::slice::Select;
use crate::write::MAX_ALIGNMENT;

type Result<T> = core::result::Result<T, Error>;

/// Most tensor descriptions in a file.
const MAX_SPECS: usize = 16;
/// Most repetitions of one description.
const MAX_REPEAT: usize = 16;
/// Most dimensions of a shape, except the deliberately deep ones.
const MAX_RANK: usize = 8;
/// Most characters of a generated name, key or value.
const MAX_TEXT: usize = 24;
/// Most metadata entries.
const MAX_METADATA: usize = 8;
/// Most bytes of tensor data rendered (or held by [`ArbitraryTensors`]).
pub const MAX_DATA: usize = 1 << 16;
/// Most byte-level mutations.
const MAX_MUTATIONS: usize = 4;
/// Most tensors of an [`ArbitraryTensors`].
const MAX_TENSORS: usize = 16;
/// Most selections of a [`SliceArgs`].
const MAX_SELECTS: usize = 6;

/// Edge values besides the powers of two and their neighbours.
const NAMED: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    8,
    u8::MAX as u64,
    u16::MAX as u64,
    i32::MAX as u64,
    u32::MAX as u64,
    u32::MAX as u64 + 1,
    (1 << 53) + 1,
    (1 << 61) - 1,
    (1 << 62) - 1,
    i64::MAX as u64,
    u64::MAX - 7,
    u64::MAX - 1,
    u64::MAX,
    usize::MAX as u64,
    usize::MAX as u64 / 2,
    usize::MAX as u64 / 8,
    100_000_000,
    100_000_001,
    1_000_000,
];

/// A number as a fuzzer should pick it: usually small (0 to 31), often at
/// an edge: 2^k, 2^k - 1 or 2^k + 1 for k below 64, one of `0`, `1`,
/// `u32::MAX`, `u32::MAX + 1`, `i64::MAX`, `usize::MAX`, `u64::MAX`,
/// 2^61 - 1 (the largest byte size a one-byte dtype can have), the
/// default limits and their successors, ...; sometimes any `u64`.
///
/// ```
/// use tensorsafe::arbitrary::{Arbitrary, Number, Unstructured};
/// let n = Number::arbitrary(&mut Unstructured::new(&[5]))?;
/// assert_eq!(n.get(), 5);
/// let edge = Number::arbitrary(&mut Unstructured::new(&[128 + 61, 1]))?;
/// assert_eq!(edge.get(), (1 << 61) - 1);
/// # Ok::<(), tensorsafe::arbitrary::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number(pub u64);

impl Number {
    /// The value.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The value as a `usize`, `usize::MAX` if it does not fit.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl<'a> Arbitrary<'a> for Number {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let tag: u8 = u.arbitrary()?;
        let value = match tag {
            0..=127 => u64::from(tag % 32),
            128..=191 => {
                let power = 1u64 << (tag % 64);
                match u.arbitrary::<u8>()? % 3 {
                    0 => power,
                    1 => power - 1,
                    _ => power.wrapping_add(1),
                }
            }
            192..=247 => NAMED
                .get(usize::from(tag - 192) % NAMED.len())
                .copied()
                .unwrap_or(0),
            _ => u.arbitrary()?,
        };
        Ok(Number(value))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(9))
    }
}

impl<'a> Arbitrary<'a> for Dtype {
    /// Any dtype of [`Dtype::ALL`], each as likely.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let i = usize::from(u.arbitrary::<u8>()?) % Dtype::ALL.len();
        Ok(Dtype::ALL.get(i).copied().unwrap_or(Dtype::U8))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(1))
    }
}

impl<'a> Arbitrary<'a> for Select {
    /// `All` or `Index` a quarter of the time each, otherwise a `Range`;
    /// every bound and step is a [`Number`] (so steps of 0, positions past
    /// the end and `usize::MAX` all occur).
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? % 4 {
            0 => Select::All,
            1 => Select::Index(Number::arbitrary(u)?.as_usize()),
            _ => Select::Range {
                start: Number::arbitrary(u)?.as_usize(),
                stop: Number::arbitrary(u)?.as_usize(),
                step: Number::arbitrary(u)?.as_usize(),
            },
        })
    }
}

/// The argument of [`TensorView::slice`](crate::TensorView::slice): up to
/// six [`Select`]s, valid or not for the tensor at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceArgs(pub Vec<Select>);

impl<'a> Arbitrary<'a> for SliceArgs {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = usize::from(u.arbitrary::<u8>()?) % (MAX_SELECTS + 1);
        let mut spec = Vec::with_capacity(n);
        for _ in 0..n {
            spec.push(Select::arbitrary(u)?);
        }
        Ok(SliceArgs(spec))
    }
}

/// The arguments of [`TensorView::split`](crate::TensorView::split):
/// `part` of `parts` along `dim`, each a [`Number`] (usually small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitArgs {
    /// The dimension to split.
    pub dim: usize,
    /// Which piece.
    pub part: usize,
    /// Into how many pieces.
    pub parts: usize,
}

impl<'a> Arbitrary<'a> for SplitArgs {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(SplitArgs {
            dim: usize::from(u.arbitrary::<u8>()? % 8),
            part: Number::arbitrary(u)?.as_usize(),
            parts: Number::arbitrary(u)?.as_usize(),
        })
    }
}

/// A short string: usually a plain ASCII word, sometimes any UTF-8 (control
/// characters, quotes, backslashes, non-ASCII).
fn text(u: &mut Unstructured<'_>) -> Result<String> {
    let raw: &str = u.arbitrary()?;
    let any = u.arbitrary::<u8>()? >= 192;
    Ok(raw
        .chars()
        .filter(|c| any || c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        .take(MAX_TEXT)
        .collect())
}

/// Up to [`MAX_METADATA`] entries of [`text`].
fn metadata_map(u: &mut Unstructured<'_>) -> Result<Metadata> {
    let n = usize::from(u.arbitrary::<u8>()?) % (MAX_METADATA + 1);
    let mut map = Metadata::new();
    for _ in 0..n {
        map.insert(text(u)?, text(u)?);
    }
    Ok(map)
}

/// Appends `s` as a JSON string.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How a number is written in the header: as a plain integer, or (rarely)
/// in a form the format does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Plain,
    Negative,
    Fraction,
    Exponent,
    LeadingZero,
    Quoted,
    Beyond64Bits,
    Null,
}

impl<'a> Arbitrary<'a> for Form {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let tag: u8 = u.arbitrary()?;
        Ok(match tag {
            0..=250 => Form::Plain,
            251 => Form::Negative,
            252 => Form::Fraction,
            253 => Form::Exponent,
            254 => match u.arbitrary::<u8>()? % 3 {
                0 => Form::LeadingZero,
                1 => Form::Quoted,
                _ => Form::Null,
            },
            _ => Form::Beyond64Bits,
        })
    }
}

impl Form {
    fn push(self, out: &mut String, n: u64) {
        let text = match self {
            Form::Plain => format!("{n}"),
            Form::Negative => format!("-{n}"),
            Form::Fraction => format!("{n}.0"),
            Form::Exponent => format!("{n}e0"),
            Form::LeadingZero => format!("0{n}"),
            Form::Quoted => format!("\"{n}\""),
            // Past u64::MAX, by the decimal digits of n appended to it.
            Form::Beyond64Bits => format!("{}{n}", u64::MAX),
            Form::Null => "null".into(),
        };
        out.push_str(&text);
    }
}

/// A number in the header, and how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    value: Number,
    form: Form,
}

impl<'a> Arbitrary<'a> for Written {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Written {
            value: Number::arbitrary(u)?,
            form: Form::arbitrary(u)?,
        })
    }
}

impl Written {
    /// A dimension of a `dtype` tensor: mostly 0 to 8, so that most tensors
    /// fit in memory; sometimes the largest element count whose size in
    /// bits fits in a `usize` (or one off), so that a few such tensors
    /// together reach the end of `u64`; otherwise any [`Number`].
    fn dimension(u: &mut Unstructured<'_>, dtype: Dtype) -> Result<Self> {
        let tag: u8 = u.arbitrary()?;
        let value = match tag {
            0..=175 => Number(u64::from(tag % 9)),
            176..=231 => Number::arbitrary(u)?,
            _ => {
                let largest = usize::MAX / dtype.bits().max(1);
                let value = match tag % 3 {
                    0 => largest,
                    1 => largest - 1,
                    _ => largest.saturating_add(1),
                };
                Number(value as u64)
            }
        };
        Ok(Written {
            value,
            form: Form::arbitrary(u)?,
        })
    }
}

/// A tensor's name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    /// `t0`, `t1`, ... by position among the rendered entries.
    Indexed,
    Text(String),
    /// The previous entry's name.
    Duplicate,
    Metadata,
}

impl<'a> Arbitrary<'a> for Name {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            0..=159 => Name::Indexed,
            160..=247 => Name::Text(text(u)?),
            248..=251 => Name::Duplicate,
            _ => Name::Metadata,
        })
    }
}

/// A tensor's dtype as written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DtypeName {
    Known(Dtype),
    /// The name in lower case (names are case-sensitive).
    Lower(Dtype),
    Unknown,
}

impl<'a> Arbitrary<'a> for DtypeName {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let tag: u8 = u.arbitrary()?;
        let dtype = Dtype::arbitrary(u)?;
        Ok(match tag {
            0..=249 => DtypeName::Known(dtype),
            250..=252 => DtypeName::Lower(dtype),
            _ => DtypeName::Unknown,
        })
    }
}

impl DtypeName {
    /// The dtype sizes are computed with.
    fn dtype(self) -> Dtype {
        match self {
            DtypeName::Known(d) | DtypeName::Lower(d) => d,
            DtypeName::Unknown => Dtype::U8,
        }
    }
}

/// A tensor's `data_offsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offsets {
    /// From where the previous entry ends, exactly shape x dtype bytes.
    Chained,
    /// Chained, but the end moved by `delta` (wrapping), forward or back.
    Off { delta: Number, back: bool },
    /// Any two numbers.
    Explicit(Written, Written),
    /// Chained, with begin and end swapped.
    Reversed,
    /// An array of this many numbers (not two).
    Arity(u8),
}

impl<'a> Arbitrary<'a> for Offsets {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            0..=243 => Offsets::Chained,
            244..=247 => Offsets::Off {
                delta: Number::arbitrary(u)?,
                back: u.arbitrary()?,
            },
            248..=251 => Offsets::Explicit(Written::arbitrary(u)?, Written::arbitrary(u)?),
            252 | 253 => Offsets::Reversed,
            _ => Offsets::Arity(u.arbitrary::<u8>()? % 4),
        })
    }
}

/// Something wrong with a tensor entry's fields, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    /// Field 0 (dtype), 1 (shape) or 2 (data_offsets) left out.
    Missing(u8),
    /// A field given twice.
    Twice(u8),
    /// An extra field the format does not know (allowed by default).
    Unknown,
    /// The entry is not an object.
    NotObject,
}

impl<'a> Arbitrary<'a> for Quirk {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            0..=247 => Quirk::None,
            248 | 249 => Quirk::Missing(u.arbitrary::<u8>()? % 3),
            250 | 251 => Quirk::Twice(u.arbitrary::<u8>()? % 3),
            252 | 253 => Quirk::Unknown,
            _ => Quirk::NotObject,
        })
    }
}

/// One tensor description, rendered `repeat` times.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TensorSpec {
    name: Name,
    dtype: DtypeName,
    shape: Vec<Written>,
    offsets: Offsets,
    quirk: Quirk,
    /// Field order: a rotation of (dtype, shape, data_offsets), reversed
    /// when the value is 3 or more.
    order: u8,
    repeat: usize,
}

impl<'a> Arbitrary<'a> for TensorSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let name = Name::arbitrary(u)?;
        let dtype = DtypeName::arbitrary(u)?;
        let rank_tag: u8 = u.arbitrary()?;
        let shape = if rank_tag >= 252 {
            // Around the default rank limit (64), every dimension 1.
            let rank = 60 + usize::from(rank_tag % 8);
            let one = Written {
                value: Number(1),
                form: Form::Plain,
            };
            alloc::vec![one; rank]
        } else {
            let rank = if rank_tag < 224 {
                usize::from(rank_tag % 5)
            } else {
                usize::from(rank_tag) % (MAX_RANK + 1)
            };
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(Written::dimension(u, dtype.dtype())?);
            }
            shape
        };
        let offsets = Offsets::arbitrary(u)?;
        let quirk = Quirk::arbitrary(u)?;
        let order = u.arbitrary::<u8>()? % 6;
        let repeat = match u.arbitrary::<u8>()? {
            0..=191 => 1,
            tag => 1 + usize::from(tag % 16),
        };
        Ok(TensorSpec {
            name,
            dtype,
            shape,
            offsets,
            quirk,
            order,
            repeat: repeat.min(MAX_REPEAT),
        })
    }
}

/// What `__metadata__` holds, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MetadataSpec {
    None,
    Null,
    Map(Metadata),
    /// A value that is a number, not a string.
    NotString,
    /// The key given twice.
    Twice(Metadata),
}

impl<'a> Arbitrary<'a> for MetadataSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            0..=99 => MetadataSpec::None,
            100..=109 => MetadataSpec::Null,
            110..=249 => MetadataSpec::Map(metadata_map(u)?),
            250..=252 => MetadataSpec::NotString,
            _ => MetadataSpec::Twice(metadata_map(u)?),
        })
    }
}

/// The declared header length (the 8-byte prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderLen {
    Exact,
    Plus(u8),
    Minus(u8),
    Value(Number),
}

impl<'a> Arbitrary<'a> for HeaderLen {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            0..=239 => HeaderLen::Exact,
            240..=245 => HeaderLen::Plus(u.arbitrary()?),
            246..=251 => HeaderLen::Minus(u.arbitrary()?),
            _ => HeaderLen::Value(Number::arbitrary(u)?),
        })
    }
}

/// How much tensor data follows the header, against what the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataLen {
    Exact,
    Short(u16),
    Long(u16),
}

impl<'a> Arbitrary<'a> for DataLen {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            0..=239 => DataLen::Exact,
            240..=247 => DataLen::Short(u.arbitrary()?),
            _ => DataLen::Long(u.arbitrary()?),
        })
    }
}

/// A byte-level change to the rendered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    Set { at: u32, byte: u8 },
    FlipBit { at: u32, bit: u8 },
    Insert { at: u32, byte: u8 },
    Delete { at: u32 },
}

/// Bytes that matter to a JSON parser, for [`Mutation`]s to write.
const INTERESTING: &[u8] = b"{}[]\",:-+.eE0129 \\\0\xff\x80";

impl<'a> Arbitrary<'a> for Mutation {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let at: u32 = u.arbitrary()?;
        let tag: u8 = u.arbitrary()?;
        let byte = if tag & 1 == 0 {
            INTERESTING
                .get(usize::from(tag >> 1) % INTERESTING.len())
                .copied()
                .unwrap_or(0)
        } else {
            u.arbitrary()?
        };
        Ok(match tag % 8 {
            0..=2 => Mutation::Set { at, byte },
            3 | 4 => Mutation::FlipBit { at, bit: byte % 8 },
            5 | 6 => Mutation::Insert { at, byte },
            _ => Mutation::Delete { at },
        })
    }
}

impl Mutation {
    fn apply(self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        let at = |at: u32| usize::try_from(at).unwrap_or(0) % len.max(1);
        match self {
            Mutation::Set { at: i, byte } => {
                if let Some(b) = bytes.get_mut(at(i)) {
                    *b = byte;
                }
            }
            Mutation::FlipBit { at: i, bit } => {
                if let Some(b) = bytes.get_mut(at(i)) {
                    *b ^= 1 << (bit % 8);
                }
            }
            Mutation::Insert { at: i, byte } => bytes.insert(at(i).min(len), byte),
            Mutation::Delete { at: i } => {
                if len > 0 {
                    bytes.remove(at(i));
                }
            }
        }
    }
}

/// A description of a safetensors file, from which a fuzzer's bytes pick
/// every choice, and the file it renders ([`ArbitraryFile::to_bytes`]).
///
/// The description covers tensor entries (name, dtype, shape,
/// `data_offsets`, field order, a description repeated several times),
/// the order of the entries in the JSON object, `__metadata__` (absent,
/// `null`, a map, and where it stands), whitespace between tokens, header
/// padding, the declared header length, the length of the data section and
/// its bytes, then up to four byte-level mutations. Numbers are
/// [`Number`]s; a dimension is also, at times, the largest element count
/// its dtype allows (or one off), so that a repeated entry reaches the end
/// of `u64`. Each choice is usually the consistent one, so that a good
/// share of the descriptions (a quarter of uniformly random inputs) make
/// valid files ([`ArbitraryFile::is_valid`]); the others are off in one or
/// a few places: a `data_offsets` span that differs from the shape, a
/// hole, a lower-case dtype, a number written as `-1` or `1.0` or past 64
/// bits, a field missing or given twice, a duplicate name, a rank over the
/// limit, a header length a few bytes off, data cut short...
///
/// Generation never panics and allocates little: at most 16 descriptions
/// of up to 8 dimensions (or 60 to 67 ones of 1), each repeated at most 16
/// times, and at most [`MAX_DATA`] bytes of tensor data; the header may
/// still declare tensors of any size, and the data section is then left
/// out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArbitraryFile {
    tensors: Vec<TensorSpec>,
    metadata: MetadataSpec,
    /// Where `__metadata__` stands among the entries (modulo their count + 1).
    metadata_at: u8,
    /// Rotation of the entries in the JSON object; reversed if odd.
    entry_order: u8,
    /// Whitespace between JSON tokens.
    spaced: bool,
    /// Padding after the JSON (bytes, and the byte; a space is the norm).
    padding: u8,
    padding_byte: u8,
    header_len: HeaderLen,
    data_len: DataLen,
    /// The data bytes are `(i * step + seed) as u8`.
    data_seed: u8,
    data_step: u8,
    mutations: Vec<Mutation>,
}

impl<'a> Arbitrary<'a> for ArbitraryFile {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let tag: u8 = u.arbitrary()?;
        let n = if tag < 192 {
            usize::from(tag % 5)
        } else {
            usize::from(tag) % (MAX_SPECS + 1)
        };
        let mut tensors = Vec::with_capacity(n);
        for _ in 0..n {
            tensors.push(TensorSpec::arbitrary(u)?);
        }
        let metadata = MetadataSpec::arbitrary(u)?;
        let metadata_at = u.arbitrary()?;
        let entry_order = u.arbitrary::<u8>()? % 4;
        let spaced = u.arbitrary::<u8>()? >= 224;
        let padding_tag: u8 = u.arbitrary()?;
        // Mostly the reference writer's padding (to a multiple of 8).
        let padding = if padding_tag < 192 {
            u8::MAX
        } else {
            padding_tag % 16
        };
        let padding_byte = match u.arbitrary::<u8>()? {
            0..=243 => b' ',
            244..=246 => b'\n',
            247..=249 => b'\t',
            250..=252 => 0,
            tag => tag,
        };
        let header_len = HeaderLen::arbitrary(u)?;
        let data_len = DataLen::arbitrary(u)?;
        let data_seed = u.arbitrary()?;
        let data_step = u.arbitrary()?;
        let count = match u.arbitrary::<u8>()? {
            0..=223 => 0,
            tag => 1 + usize::from(tag % 4),
        };
        let mut mutations = Vec::with_capacity(count);
        for _ in 0..count.min(MAX_MUTATIONS) {
            mutations.push(Mutation::arbitrary(u)?);
        }
        Ok(ArbitraryFile {
            tensors,
            metadata,
            metadata_at,
            entry_order,
            spaced,
            padding,
            padding_byte,
            header_len,
            data_len,
            data_seed,
            data_step,
            mutations,
        })
    }
}

/// One tensor entry as rendered.
struct Entry {
    name: String,
    json: String,
    /// Whether this entry, on its own, follows the format.
    valid: bool,
}

/// The rendered header JSON, the data length its offsets cover, and
/// whether it follows the format.
struct Rendered {
    json: String,
    data_len: u64,
    valid: bool,
}

impl ArbitraryFile {
    /// Number of tensor entries the header has (before mutations), valid or
    /// not.
    pub fn entry_count(&self) -> usize {
        self.tensors.iter().map(|t| t.repeat).sum()
    }

    /// Whether the description is consistent, so that the rendered file
    /// must be accepted by every conforming reader with default
    /// [`ParseOptions`](crate::ParseOptions): known dtypes, unique names
    /// (none `__metadata__`), every field present once, dimensions written
    /// as plain integers that fit this target's `usize`, rank at most 64,
    /// every span equal to shape x dtype, tensors back to back from offset
    /// 0, well-formed metadata, whitespace padding, exact header and data
    /// lengths, at most [`MAX_DATA`] bytes of data, no mutation.
    ///
    /// One way only: `true` means the file must be accepted; `false` means
    /// it may or may not be (a described mistake can render the same bytes
    /// as a consistent description, say a short data length of nothing).
    pub fn is_valid(&self) -> bool {
        self.mutations.is_empty()
            && self.header_len == HeaderLen::Exact
            && self.data_len == DataLen::Exact
            && matches!(self.padding_byte, b' ' | b'\n' | b'\t' | b'\r')
            && {
                let r = self.render();
                r.valid && usize::try_from(r.data_len).is_ok_and(|n| n <= MAX_DATA)
            }
    }

    /// The file: the 8-byte length prefix, the header and the data section.
    pub fn to_bytes(&self) -> Vec<u8> {
        let rendered = self.render();
        let mut header = rendered.json.into_bytes();
        let padding = if self.padding == u8::MAX {
            (8 - header.len() % 8) % 8
        } else {
            usize::from(self.padding)
        };
        header.resize(header.len().saturating_add(padding), self.padding_byte);
        let n = header.len() as u64;
        let declared = match self.header_len {
            HeaderLen::Exact => n,
            HeaderLen::Plus(d) => n.saturating_add(u64::from(d).max(1)),
            HeaderLen::Minus(d) => n.saturating_sub(u64::from(d).max(1)),
            HeaderLen::Value(v) => v.get(),
        };
        // Data the header asks for but that is too much to render is left
        // out altogether: the file is refused as short either way.
        let data_len = usize::try_from(rendered.data_len)
            .ok()
            .filter(|&n| n <= MAX_DATA)
            .unwrap_or(0);
        let data_len = match self.data_len {
            DataLen::Exact => data_len,
            DataLen::Short(d) => data_len.saturating_sub(usize::from(d).max(1)),
            DataLen::Long(d) => data_len.saturating_add(usize::from(d).max(1)),
        };
        let mut bytes = Vec::with_capacity(PREFIX_LEN + header.len() + data_len);
        bytes.extend_from_slice(&declared.to_le_bytes());
        bytes.extend_from_slice(&header);
        let mut value = self.data_seed;
        for _ in 0..data_len {
            bytes.push(value);
            value = value.wrapping_add(self.data_step | 1);
        }
        for m in &self.mutations {
            m.apply(&mut bytes);
        }
        bytes
    }

    /// The header JSON.
    fn render(&self) -> Rendered {
        let (mut entries, mut valid, data_len) = self.render_entries();
        let count = entries.len();
        if count > 0 {
            let by = usize::from(self.entry_order / 2) % count;
            entries.rotate_left(by);
            if self.entry_order % 2 == 1 {
                entries.reverse();
            }
        }
        let (sep, colon) = self.punctuation();
        let mut parts: Vec<String> = entries
            .into_iter()
            .map(|e| {
                let mut s = String::new();
                push_json_string(&mut s, &e.name);
                s.push_str(colon);
                s.push_str(&e.json);
                s
            })
            .collect();
        let (meta, meta_valid) = self.render_metadata();
        valid &= meta_valid;
        let at = usize::from(self.metadata_at) % (parts.len() + 1);
        for m in meta {
            parts.insert(at.min(parts.len()), m);
        }
        let mut json = String::from("{");
        json.push_str(&parts.join(sep));
        json.push('}');
        Rendered {
            json,
            data_len,
            valid,
        }
    }

    /// The separator between members and the one after a key.
    fn punctuation(&self) -> (&'static str, &'static str) {
        if self.spaced {
            (", ", ": ")
        } else {
            (",", ":")
        }
    }

    /// Every copy of every tensor spec as an entry, in declaration order;
    /// whether all are valid and their names unique; the data's length.
    fn render_entries(&self) -> (Vec<Entry>, bool, u64) {
        let mut entries: Vec<Entry> = Vec::new();
        let mut cursor: u64 = 0;
        let mut valid = true;
        for spec in &self.tensors {
            for copy in 0..spec.repeat {
                let previous = entries.last().map(|e| e.name.clone());
                let entry = render_entry(spec, copy, entries.len(), previous, &mut cursor);
                valid &= entry.valid;
                entries.push(entry);
            }
        }
        // Names must be unique.
        let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        valid &= names.windows(2).all(|w| w.first() != w.last());
        (entries, valid, cursor)
    }

    /// The `__metadata__` members (none, one, or the same twice) and
    /// whether they are valid.
    fn render_metadata(&self) -> (Vec<String>, bool) {
        let (sep, colon) = self.punctuation();
        let metadata = |map: &Metadata| {
            let mut s = String::from("{");
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    s.push_str(sep);
                }
                push_json_string(&mut s, k);
                s.push_str(colon);
                push_json_string(&mut s, v);
            }
            s.push('}');
            s
        };
        let key = format!("\"__metadata__\"{colon}");
        match &self.metadata {
            MetadataSpec::None => (Vec::new(), true),
            MetadataSpec::Null => (alloc::vec![format!("{key}null")], true),
            MetadataSpec::Map(map) => (alloc::vec![format!("{key}{}", metadata(map))], true),
            MetadataSpec::NotString => (alloc::vec![format!("{key}{{\"k\"{colon}1}}")], false),
            MetadataSpec::Twice(map) => {
                let m = format!("{key}{}", metadata(map));
                (alloc::vec![m.clone(), m], false)
            }
        }
    }
}

/// Renders copy `copy` of `spec` as entry number `index`, moving `cursor`
/// (the end of the data so far) past it.
fn render_entry(
    spec: &TensorSpec,
    copy: usize,
    index: usize,
    previous: Option<String>,
    cursor: &mut u64,
) -> Entry {
    // Unknown fields are allowed unless a reader is told to deny them.
    let mut valid = matches!(spec.quirk, Quirk::None | Quirk::Unknown);
    let name = entry_name(spec, copy, index, previous, &mut valid);
    let dtype_text = match spec.dtype {
        DtypeName::Known(d) => String::from(d.name()),
        DtypeName::Lower(d) => {
            valid = false;
            d.name().to_lowercase()
        }
        DtypeName::Unknown => {
            valid = false;
            String::from("F128")
        }
    };
    let (begin, end) = entry_span(spec, *cursor, &mut valid);
    let offsets = offsets_json(spec.offsets, begin, end, cursor, &mut valid);
    let mut shape = String::from("[");
    for (i, w) in spec.shape.iter().enumerate() {
        if i > 0 {
            shape.push(',');
        }
        w.form.push(&mut shape, w.value.get());
    }
    shape.push(']');
    let mut dtype_json = String::new();
    push_json_string(&mut dtype_json, &dtype_text);
    let json = entry_json(spec, &dtype_json, &shape, &offsets);
    Entry { name, json, valid }
}

/// The name of copy `copy` of `spec` as entry number `index`; clears
/// `valid` for a repeated or reserved name.
fn entry_name(
    spec: &TensorSpec,
    copy: usize,
    index: usize,
    previous: Option<String>,
    valid: &mut bool,
) -> String {
    let base = match &spec.name {
        Name::Indexed => format!("t{index}"),
        Name::Text(s) => s.clone(),
        Name::Duplicate => match previous {
            Some(p) => {
                *valid = false;
                p
            }
            None => format!("t{index}"),
        },
        Name::Metadata => {
            *valid = false;
            String::from("__metadata__")
        }
    };
    let name = match spec.name {
        Name::Text(_) if copy > 0 => format!("{base}.{copy}"),
        _ => base,
    };
    // A text name can spell the reserved key too.
    *valid &= name != "__metadata__";
    name
}

/// Where the entry's data would lie if chained after `begin`: the span
/// shape x dtype asks for (empty where that does not compute, ending at
/// `u64::MAX` where it runs past). Clears `valid` for a shape a reader
/// refuses.
fn entry_span(spec: &TensorSpec, begin: u64, valid: &mut bool) -> (u64, u64) {
    let dims: Vec<usize> = spec.shape.iter().map(|w| w.value.as_usize()).collect();
    // Shapes are usize: a dimension past it is refused on a 32-bit target
    // (`as_usize` saturates, so the check looks at the written value).
    *valid &= dims.len() <= 64
        && spec
            .shape
            .iter()
            .all(|w| w.form == Form::Plain && usize::try_from(w.value.0).is_ok());
    let size = match spec.dtype.dtype().shape_byte_len(&dims) {
        Ok(n) => n,
        Err(_) => {
            *valid = false;
            0
        }
    };
    let end = match begin.checked_add(size) {
        Some(end) => end,
        None => {
            *valid = false;
            u64::MAX
        }
    };
    (begin, end)
}

/// The `data_offsets` array for the span `begin..end` written as
/// `offsets` says, moving `cursor` to where the next entry begins.
fn offsets_json(
    offsets: Offsets,
    begin: u64,
    end: u64,
    cursor: &mut u64,
    valid: &mut bool,
) -> String {
    let mut out = String::from("[");
    match offsets {
        Offsets::Chained => {
            out.push_str(&format!("{begin},{end}"));
            *cursor = end;
        }
        Offsets::Off { delta, back } => {
            let moved = if back {
                end.wrapping_sub(delta.get())
            } else {
                end.wrapping_add(delta.get())
            };
            *valid &= moved == end;
            out.push_str(&format!("{begin},{moved}"));
            *cursor = moved.max(begin);
        }
        Offsets::Explicit(a, b) => {
            a.form.push(&mut out, a.value.get());
            out.push(',');
            b.form.push(&mut out, b.value.get());
            *valid &= a.form == Form::Plain
                && b.form == Form::Plain
                && a.value.get() == begin
                && b.value.get() == end;
            if b.form == Form::Plain && b.value.get() >= a.value.get() {
                *cursor = b.value.get();
            }
        }
        Offsets::Reversed => {
            out.push_str(&format!("{end},{begin}"));
            *valid &= begin == end;
            *cursor = end;
        }
        Offsets::Arity(k) => {
            *valid = false;
            let items: Vec<String> = [begin, end, end]
                .iter()
                .take(usize::from(k).min(3))
                .map(|n| format!("{n}"))
                .collect();
            out.push_str(&items.join(","));
            *cursor = end;
        }
    }
    out.push(']');
    out
}

/// The entry's value: its three fields in `spec`'s order, with its quirk.
fn entry_json(spec: &TensorSpec, dtype_json: &str, shape: &str, offsets: &str) -> String {
    if spec.quirk == Quirk::NotObject {
        return format!("[{dtype_json},{shape},{offsets}]");
    }
    let mut fields: Vec<String> = alloc::vec![
        format!("\"dtype\":{dtype_json}"),
        format!("\"shape\":{shape}"),
        format!("\"data_offsets\":{offsets}"),
    ];
    fields.rotate_left(usize::from(spec.order % 3));
    if spec.order >= 3 {
        fields.reverse();
    }
    let pick = |k: u8| {
        let key = ["\"dtype\"", "\"shape\"", "\"data_offsets\""];
        key.get(usize::from(k % 3)).copied().unwrap_or("\"dtype\"")
    };
    match spec.quirk {
        Quirk::None | Quirk::NotObject => {}
        Quirk::Missing(k) => fields.retain(|f| !f.starts_with(pick(k))),
        Quirk::Twice(k) => {
            if let Some(f) = fields.iter().find(|f| f.starts_with(pick(k))).cloned() {
                fields.push(f);
            }
        }
        Quirk::Unknown => fields.insert(0, String::from("\"extra\":[1,{\"a\":null}]")),
    }
    format!("{{{}}}", fields.join(","))
}

/// One tensor to write: a unique name, a dtype, a shape and, when shape x
/// dtype is a whole number of bytes up to [`MAX_DATA`], exactly that many
/// bytes of data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedTensor {
    /// Unique among the tensors of an [`ArbitraryTensors`], never
    /// `__metadata__`.
    pub name: String,
    /// The element type.
    pub dtype: Dtype,
    /// The dimensions: small ones, and edge values where another
    /// dimension is 0 (so the tensor holds no bytes, or its element count
    /// overflows).
    pub shape: Vec<usize>,
    /// shape x dtype bytes, or empty if that size does not compute.
    pub data: Vec<u8>,
}

impl OwnedTensor {
    /// The tensor as a view; fails as [`TensorView::new`](crate::TensorView::new)
    /// does when shape x dtype does not compute ([`ErrorKind::Overflow`](crate::ErrorKind::Overflow),
    /// [`ErrorKind::PartialByte`](crate::ErrorKind::PartialByte)).
    pub fn view(&self) -> crate::Result<crate::TensorView<'_>> {
        crate::TensorView::new(self.dtype, &self.shape, &self.data)
    }
}

/// Tensors to write, from an arbitrary description: up to 16 tensors of
/// any dtype, rank 0 to 4, with names unique (arbitrary UTF-8 or `t0`,
/// `t1`...), and at most [`MAX_DATA`] bytes of data in all.
///
/// ```
/// use tensorsafe::arbitrary::{Arbitrary, ArbitraryTensors, Unstructured, WriterLayout};
/// use tensorsafe::SafeTensors;
///
/// let raw: Vec<u8> = (1..=255u8).cycle().take(1024).collect();
/// let mut u = Unstructured::new(&raw);
/// let (tensors, layout) = (ArbitraryTensors::arbitrary(&mut u)?, WriterLayout::arbitrary(&mut u)?);
/// assert!(!tensors.0.is_empty());
/// let views: Vec<_> = tensors.0.iter().filter_map(|t| Some((&t.name, t.view().ok()?))).collect();
/// if let Ok(writer) = layout.writer() {
///     let bytes = writer.to_vec(views.clone())?;
///     assert_eq!(SafeTensors::deserialize(&bytes)?.len(), views.len());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArbitraryTensors(pub Vec<OwnedTensor>);

impl<'a> Arbitrary<'a> for ArbitraryTensors {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = usize::from(u.arbitrary::<u8>()?) % (MAX_TENSORS + 1);
        let mut tensors: Vec<OwnedTensor> = Vec::with_capacity(n);
        let mut budget = MAX_DATA;
        for i in 0..n {
            let name = if u.arbitrary::<u8>()? < 128 {
                format!("t{i}")
            } else {
                text(u)?
            };
            let dtype = Dtype::arbitrary(u)?;
            let shape = tensor_shape(u, dtype)?;
            let seed: u8 = u.arbitrary()?;
            let len = dtype
                .shape_byte_len(&shape)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            let data = match len {
                Ok(len) if len <= budget => {
                    budget -= len;
                    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
                }
                Ok(_) => continue,
                // The element count overflows: no data, and no view.
                Err(_) => Vec::new(),
            };
            if name != "__metadata__" && tensors.iter().all(|t| t.name != name) {
                tensors.push(OwnedTensor {
                    name,
                    dtype,
                    shape,
                    data,
                });
            }
        }
        Ok(ArbitraryTensors(tensors))
    }
}

/// A shape for a tensor of `dtype` to write: rank 0 to 4, small
/// dimensions filling whole bytes, now and then an edge dimension with a
/// zero somewhere.
fn tensor_shape(u: &mut Unstructured<'_>, dtype: Dtype) -> Result<Vec<usize>> {
    let rank = usize::from(u.arbitrary::<u8>()? % 5);
    let mut shape = Vec::with_capacity(rank);
    for _ in 0..rank {
        shape.push(usize::from(u.arbitrary::<u8>()? % 6));
    }
    // Whole bytes for the sub-byte dtypes (F4: 2 a byte, F6: 4 in 3 bytes).
    let per = match dtype.bits() % 8 {
        0 => 1,
        4 => 2,
        _ => 4,
    };
    match shape.last_mut() {
        Some(last) => *last *= per,
        None if per > 1 => shape.push(per),
        None => {}
    }
    if u.arbitrary::<u8>()? >= 224 && !shape.is_empty() {
        // An edge dimension, with a zero somewhere.
        let at = usize::from(u.arbitrary::<u8>()?) % shape.len();
        let zero = usize::from(u.arbitrary::<u8>()?) % shape.len();
        if let Some(d) = shape.get_mut(at) {
            *d = Number::arbitrary(u)?.as_usize();
        }
        if let Some(d) = shape.get_mut(zero) {
            *d = 0;
        }
    }
    Ok(shape)
}

/// How to write: the [`Writer`](crate::Writer)'s alignment and metadata,
/// and the chunk size for streamed writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterLayout {
    /// `None` for the reference layout; usually a power of two up to
    /// [`MAX_ALIGNMENT`], sometimes a [`Number`] that is not one.
    pub alignment: Option<u64>,
    /// The `__metadata__` to write.
    pub metadata: Option<Metadata>,
    /// Bytes per write when streaming: at least 1, usually small.
    pub chunk: usize,
}

impl<'a> Arbitrary<'a> for WriterLayout {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let alignment = match u.arbitrary::<u8>()? {
            0..=95 => None,
            96..=239 => Some(1u64 << (u.arbitrary::<u8>()? % 21)),
            _ => Some(Number::arbitrary(u)?.get()),
        };
        let metadata = if u.arbitrary()? {
            Some(metadata_map(u)?)
        } else {
            None
        };
        let chunk = Number::arbitrary(u)?.as_usize().max(1);
        Ok(WriterLayout {
            alignment,
            metadata,
            chunk,
        })
    }
}

impl WriterLayout {
    /// Whether [`Writer::alignment`](crate::Writer::alignment) accepts the
    /// alignment.
    pub fn alignment_is_valid(&self) -> bool {
        self.alignment
            .map_or(true, |a| a.is_power_of_two() && a <= MAX_ALIGNMENT)
    }

    /// A writer with this layout; fails for an invalid alignment as the
    /// writer's chain would end ([`Writer::alignment`](crate::Writer::alignment)).
    pub fn writer(&self) -> crate::Result<crate::Writer<'_>> {
        let mut writer = crate::Writer::new().metadata(self.metadata.as_ref());
        if let Some(a) = self.alignment {
            writer = writer.alignment(a);
        }
        writer.check()?;
        Ok(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Header, SafeTensors};

    /// Bytes from a simple generator, so that the tests see many shapes.
    fn raw(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn valid_descriptions_render_valid_files() {
        let (mut valid, mut total) = (0, 0);
        for seed in 0..2000 {
            let bytes = raw(seed, 512);
            let Ok(file) = ArbitraryFile::arbitrary(&mut Unstructured::new(&bytes)) else {
                continue;
            };
            total += 1;
            let rendered = file.to_bytes();
            if file.is_valid() {
                valid += 1;
                let st =
                    SafeTensors::deserialize(&rendered).unwrap_or_else(|e| panic!("{e}: {file:?}"));
                assert_eq!(st.len(), file.entry_count());
            }
        }
        // A generator that makes few valid files would not get past the parser.
        assert!(valid * 5 > total, "{valid} of {total}");
        assert!(valid < total, "{valid} of {total}");
    }

    #[test]
    fn empty_input_is_an_empty_file() {
        let file = ArbitraryFile::arbitrary(&mut Unstructured::new(&[])).unwrap();
        assert!(file.is_valid());
        let bytes = file.to_bytes();
        assert_eq!(Header::parse(&bytes).unwrap().len(), 0);
    }

    /// The sum of eight tensors of 2^61 - 1 bytes overflows only once the
    /// header length is added: the generator must be able to say that.
    #[test]
    fn repeated_edge_sizes_reach_the_end_of_u64() {
        let spec = TensorSpec {
            name: Name::Indexed,
            dtype: DtypeName::Known(Dtype::U8),
            shape: alloc::vec![Written {
                value: Number((1 << 61) - 1),
                form: Form::Plain,
            }],
            offsets: Offsets::Chained,
            quirk: Quirk::None,
            order: 0,
            repeat: 8,
        };
        let file = ArbitraryFile {
            tensors: alloc::vec![spec],
            metadata: MetadataSpec::None,
            metadata_at: 0,
            entry_order: 0,
            spaced: false,
            padding: u8::MAX,
            padding_byte: b' ',
            header_len: HeaderLen::Exact,
            data_len: DataLen::Exact,
            data_seed: 0,
            data_step: 0,
            mutations: Vec::new(),
        };
        // Consistent, but past what can be rendered.
        assert!(!file.is_valid());
        // And the library says why: 8 + N + (2^64 - 8) passes 2^64.
        let err = crate::Header::parse(&file.to_bytes()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Overflow, "{err}");
        let rendered = file.render();
        assert!(rendered.valid);
        assert_eq!(rendered.data_len, 8 * ((1 << 61) - 1));
        assert!(rendered.json.contains("\"t7\":{\"dtype\":\"U8\",\"shape\":[2305843009213693951],\"data_offsets\":[16140901064495857657,18446744073709551608]}"));
        assert_eq!(
            file.to_bytes().len(),
            8 + rendered.json.len().next_multiple_of(8)
        );
    }

    #[test]
    fn numbers_reach_the_edges() {
        let mut seen = alloc::collections::BTreeSet::new();
        for a in 0..=255u8 {
            for b in 0..3u8 {
                seen.insert(
                    Number::arbitrary(&mut Unstructured::new(&[a, b]))
                        .unwrap()
                        .get(),
                );
            }
        }
        for edge in [
            0,
            1,
            1 << 63,
            (1 << 61) - 1,
            u32::MAX as u64,
            u64::MAX,
            1 << 32,
        ] {
            assert!(seen.contains(&edge), "{edge}");
        }
    }
}
