//! Lazy N-dimensional slicing of a tensor view into contiguous byte runs.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::{Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

use crate::checked::memory_len;
use crate::dtype::Dtype;
use crate::error::{count, Error, ErrorKind, Result};

use super::convert::{self, F32Decoder};
use super::element::{self, Element};
use super::TensorView;

/// What to keep along one dimension, with numpy's semantics for the
/// non-negative cases: a range's bounds are clamped to the dimension, an
/// empty range selects nothing, an index must be in range, a step must not
/// be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The whole dimension (`:`).
    All,
    /// One position; the dimension disappears from the result (`i`).
    Index(usize),
    /// `start..stop` every `step` elements (`start:stop:step`).
    Range {
        /// First position (clamped to the dimension).
        start: usize,
        /// End, exclusive (clamped to the dimension).
        stop: usize,
        /// Distance between kept positions; must be at least 1.
        step: usize,
    },
}

impl Select {
    /// `start..stop` with step 1.
    pub fn range(start: usize, stop: usize) -> Self {
        Select::Range {
            start,
            stop,
            step: 1,
        }
    }
}

/// An index: `3.into()` is `Select::Index(3)`.
impl From<usize> for Select {
    fn from(index: usize) -> Self {
        Select::Index(index)
    }
}

/// `a..b` with step 1.
impl From<Range<usize>> for Select {
    fn from(range: Range<usize>) -> Self {
        Select::range(range.start, range.end)
    }
}

/// `a..`: from `a` to the end.
impl From<RangeFrom<usize>> for Select {
    fn from(range: RangeFrom<usize>) -> Self {
        Select::range(range.start, usize::MAX)
    }
}

/// `..b`: from the start to `b`, exclusive.
impl From<RangeTo<usize>> for Select {
    fn from(range: RangeTo<usize>) -> Self {
        Select::range(0, range.end)
    }
}

/// `a..=b`: `b` included (a bound of `usize::MAX` is clamped to the
/// dimension like any other).
impl From<RangeInclusive<usize>> for Select {
    fn from(range: RangeInclusive<usize>) -> Self {
        // An exhausted range (iterated to its end) keeps its bounds but
        // holds nothing.
        if range.is_empty() {
            return Select::range(*range.start(), *range.start());
        }
        let (start, end) = range.into_inner();
        Select::range(start, end.saturating_add(1))
    }
}

/// `..=b`: from the start to `b` included.
impl From<RangeToInclusive<usize>> for Select {
    fn from(range: RangeToInclusive<usize>) -> Self {
        Select::range(0, range.end.saturating_add(1))
    }
}

/// `..`: the whole dimension.
impl From<RangeFull> for Select {
    fn from(_: RangeFull) -> Self {
        Select::All
    }
}

/// One dimension of the outer (non-contiguous) part of a slice.
#[derive(Debug, Clone, Copy)]
struct Outer {
    start: usize,
    count: usize,
    step: usize,
    /// Elements between consecutive positions of this dimension.
    stride: usize,
}

/// A selection of a tensor: its shape, and its bytes as a lazy sequence of
/// contiguous runs of the underlying buffer.
///
/// ```
/// use tensorsafe::{Dtype, Select, TensorView};
/// let data: Vec<u8> = (0..24).collect();
/// let view = TensorView::new(Dtype::U8, [2, 3, 4], &data)?;
/// let slice = view.slice(&[Select::All, Select::range(1, 3), Select::Index(0)])?;
/// assert_eq!(slice.shape(), &[2, 2]);
/// assert_eq!(slice.to_vec::<u8>()?, vec![4, 8, 16, 20]);
/// assert_eq!(slice.runs().count(), 4);
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Clone)]
pub struct Slice<'a> {
    data: &'a [u8],
    dtype: Dtype,
    shape: Vec<usize>,
    outer: Vec<Outer>,
    /// Element offset of the first run's start, before outer positions.
    base: usize,
    /// Elements per run; 0 when the selection is empty.
    run: usize,
}

/// Bytes taken by `elements` elements of `bits` bits (whole bytes: the
/// caller checked sub-byte runs), counted in u128 so that the bit count of
/// a large F32 tensor does not overflow a 32-bit usize. The result is at
/// most a tensor's byte length, which [`Slice::over`] checked fits.
fn bytes_of(elements: usize, bits: usize) -> usize {
    usize::try_from(elements as u128 * bits as u128 / 8).unwrap_or(usize::MAX)
}

fn invalid(detail: String) -> Error {
    Error::new(ErrorKind::InvalidSlice).with_detail(detail)
}

/// What one dimension keeps: `count` positions from `start`, `step` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pick {
    start: usize,
    count: usize,
    step: usize,
}

impl Pick {
    /// The pick for `select` along dimension `axis` of `size`, and the size
    /// of that dimension in the result (none for an index).
    fn new(axis: usize, size: usize, select: Select) -> Result<(Pick, Option<usize>)> {
        match select {
            Select::All => Ok((Pick::whole(size), Some(size))),
            Select::Index(i) if i >= size => Err(invalid(format!(
                "index {i} out of range for dimension {axis} of size {size}"
            ))),
            Select::Index(i) => Ok((
                Pick {
                    start: i,
                    count: 1,
                    step: 1,
                },
                None,
            )),
            Select::Range { step: 0, .. } => Err(invalid(format!("step 0 in dimension {axis}"))),
            Select::Range { start, stop, step } => {
                let (start, stop) = (start.min(size), stop.min(size));
                let count = stop.saturating_sub(start).div_ceil(step);
                Ok((Pick { start, count, step }, Some(count)))
            }
        }
    }

    fn whole(size: usize) -> Pick {
        Pick {
            start: 0,
            count: size,
            step: 1,
        }
    }

    /// Whether the pick keeps every position of a dimension of `size`, in
    /// order: all of it, or its only position whatever the step (an index
    /// or a range on a dimension of size 1).
    fn keeps_all(&self, size: usize) -> bool {
        self.start == 0 && self.count == size && (self.step == 1 || size <= 1)
    }
}

/// Element strides of a row-major tensor (each at most the element count,
/// which [`Slice::over`] checked fits in memory).
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; dims.len()];
    for axis in (0..dims.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1].saturating_mul(dims[axis + 1]);
    }
    strides
}

impl<'a> Slice<'a> {
    pub(crate) fn new(view: &TensorView<'a>, spec: &[Select]) -> Result<Self> {
        Slice::over(view.data(), view.dtype(), view.shape(), spec)
    }

    /// The selection `spec` of a tensor of `dtype` and `shape` whose bytes
    /// are `data` (empty when only the selection's byte ranges are wanted,
    /// as for a tensor in remote storage).
    pub(crate) fn over(
        data: &'a [u8],
        dtype: Dtype,
        dims: &[usize],
        spec: &[Select],
    ) -> Result<Self> {
        if spec.len() > dims.len() {
            return Err(invalid(format!(
                "{} selections for a tensor of rank {}",
                spec.len(),
                dims.len()
            )));
        }
        // Every element and byte position below is at most the tensor's
        // element or byte count: once both fit in a usize, no sum or
        // product of positions can overflow (bits are counted in u128).
        memory_len(dtype.shape_byte_len(dims)?)?;
        let mut picks = Vec::with_capacity(dims.len());
        let mut shape = Vec::with_capacity(dims.len());
        for (axis, &size) in dims.iter().enumerate() {
            let select = spec.get(axis).copied().unwrap_or(Select::All);
            let (pick, kept) = Pick::new(axis, size, select)?;
            picks.push(pick);
            shape.extend(kept);
        }
        let empty = picks.iter().any(|p| p.count == 0);
        let (outer, base, run) = Slice::layout(dims, &picks);
        let slice = Slice {
            data,
            dtype,
            shape,
            outer,
            base,
            run: if empty { 0 } else { run },
        };
        slice.check_whole_bytes()?;
        Ok(slice)
    }

    /// Splits the picks into a contiguous run (trailing whole dimensions plus
    /// one step-1 dimension) and the outer dimensions an odometer walks.
    /// Returns the outer dimensions, the run's first element, its length.
    fn layout(dims: &[usize], picks: &[Pick]) -> (Vec<Outer>, usize, usize) {
        let strides = strides(dims);
        // Trailing dimensions kept whole are contiguous with each other...
        let mut inner = dims.len();
        let mut run = 1usize;
        while inner > 0 && picks[inner - 1].keeps_all(dims[inner - 1]) {
            inner -= 1;
            run = run.saturating_mul(dims[inner]);
        }
        // ...and with one more dimension read with step 1.
        let mut base = 0usize;
        if let Some(&Pick { start, count, step }) = inner.checked_sub(1).map(|i| &picks[i]) {
            if step == 1 || count <= 1 {
                inner -= 1;
                base = start.saturating_mul(strides[inner]);
                run = run.saturating_mul(count);
            }
        }
        let outer = picks[..inner]
            .iter()
            .zip(&strides)
            .map(|(p, &stride)| Outer {
                start: p.start,
                count: p.count,
                step: p.step,
                stride,
            })
            .collect();
        (outer, base, run)
    }

    /// For F4 and F6, every run must start and end on a byte boundary.
    fn check_whole_bytes(&self) -> Result<()> {
        let bits = self.dtype.bits();
        if bits % 8 == 0 || self.run == 0 {
            return Ok(());
        }
        let first = self
            .outer
            .iter()
            .fold(self.base, |acc, o| acc + o.start * o.stride);
        let moves = self
            .outer
            .iter()
            .filter(|o| o.count > 1)
            .map(|o| o.step * o.stride);
        let cut = [first, self.run]
            .into_iter()
            .chain(moves)
            .any(|elements| elements as u128 * bits as u128 % 8 != 0);
        if cut {
            return Err(Error::new(ErrorKind::SubByteSlice).with_detail(format!(
                "{} packs {bits}-bit elements; this selection cuts inside a byte",
                self.dtype
            )));
        }
        Ok(())
    }

    /// The shape of the selection (dimensions picked by index are gone).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The dtype of the elements.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// Total bytes selected.
    pub fn byte_len(&self) -> usize {
        // An empty selection may have outer counts whose product overflows;
        // otherwise every count is at least 1 and their product is at most
        // the tensor's element count (Slice::over).
        if self.run == 0 {
            return 0;
        }
        let runs = self
            .outer
            .iter()
            .fold(1usize, |n, o| n.saturating_mul(o.count));
        bytes_of(runs.saturating_mul(self.run), self.dtype.bits())
    }

    /// The selected bytes as contiguous runs of the tensor's buffer, in
    /// row-major order. Computed as it goes: no list of runs is built.
    pub fn runs(&self) -> Runs<'a> {
        Runs {
            data: self.data,
            ranges: self.byte_ranges(),
        }
    }

    /// Where the selected bytes are: the runs of [`Slice::runs`] as byte
    /// ranges of the tensor's data, in row-major order (each ends before
    /// the next begins). For reading a selection from storage that is not
    /// in memory (the `object-store` feature turns them into ranged
    /// requests).
    ///
    /// ```
    /// use tensorsafe::{Dtype, TensorView};
    /// let data = [0u8; 16];
    /// let w = TensorView::new(Dtype::U16, [2, 4], &data)?;
    /// let right_half = w.split(1, 1, 2)?; // columns 2..4 of each row
    /// assert_eq!(right_half.byte_ranges().collect::<Vec<_>>(), [4..8, 12..16]);
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn byte_ranges(&self) -> ByteRanges {
        ByteRanges {
            bits: self.dtype.bits(),
            outer: self.outer.clone(),
            position: vec![0; self.outer.len()],
            base: self.base,
            run: self.run,
            done: self.run == 0,
        }
    }

    /// Copies the selected bytes into `out`, which must be exactly
    /// [`Slice::byte_len`] bytes ([`ErrorKind::BufferLength`] if not).
    pub fn copy_into(&self, out: &mut [u8]) -> Result<()> {
        self.check_out_len(out.len())?;
        let mut at = 0;
        for run in self.runs() {
            // The runs add up to byte_len, which is out.len().
            out[at..at + run.len()].copy_from_slice(run);
            at += run.len();
        }
        Ok(())
    }

    /// A buffer for the selection must be exactly [`Slice::byte_len`] bytes.
    pub(crate) fn check_out_len(&self, len: usize) -> Result<()> {
        if len == self.byte_len() {
            return Ok(());
        }
        Err(Error::buffer_length(len, self.byte_len() as u64, "slice"))
    }

    /// The selected bytes copied into a new buffer, in row-major order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        for run in self.runs() {
            out.extend_from_slice(run);
        }
        out
    }

    /// The selected elements copied into a `Vec<T>`, as
    /// [`TensorView::to_vec`] gives a whole tensor's: whatever the alignment
    /// and the host's byte order. Fails with [`ErrorKind::DtypeMismatch`]
    /// unless `T` is the tensor's type, and with [`ErrorKind::InvalidBool`]
    /// for a BOOL byte other than 0 or 1.
    ///
    /// ```
    /// use tensorsafe::{Select, TensorView};
    /// let w = TensorView::from_slice([2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    /// let column = w.slice(&[Select::All, Select::Index(1)])?;
    /// assert_eq!(column.to_vec::<f32>()?, vec![2.0, 5.0]);
    /// assert!(column.to_vec::<f64>().is_err()); // wrong type: an error, not a panic
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        element::check_dtype::<T>(self.dtype, "to_bytes")?;
        let mut out = Vec::with_capacity(self.element_count());
        for run in self.runs() {
            element::extend(&mut out, run)?;
        }
        Ok(out)
    }

    /// The selected elements decoded to `f32`, for the dtypes
    /// [`TensorView::to_f32_vec`] decodes.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let decoder = F32Decoder::new(self.dtype)?;
        let mut out = Vec::with_capacity(self.element_count());
        for run in self.runs() {
            // Each run is whole elements, and whole bytes for F4
            // (Slice::check_whole_bytes).
            decoder.extend(&mut out, run);
        }
        Ok(out)
    }

    /// The selected elements as `f64`, for the dtypes
    /// [`TensorView::to_f64_vec`] converts.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        convert::to_f64(self)
    }

    /// Number of elements selected (at most the tensor's, which fits).
    fn element_count(&self) -> usize {
        crate::dtype::element_count(&self.shape)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    }
}

/// Shows dtype, shape and length, not the bytes.
impl fmt::Debug for Slice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slice")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("bytes", &self.byte_len())
            .finish()
    }
}

/// Iterator over the contiguous byte runs of a [`Slice`].
#[derive(Clone)]
pub struct Runs<'a> {
    data: &'a [u8],
    ranges: ByteRanges,
}

/// Shows where the iteration stands, not the bytes.
impl fmt::Debug for Runs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runs")
            .field("position", &self.ranges.position)
            .field("run_bytes", &self.ranges.run_bytes())
            .field("done", &self.ranges.done)
            .finish()
    }
}

impl<'a> Iterator for Runs<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        // Slice::over took every position from the tensor's own shape, so
        // each range lies inside a view's bytes.
        self.ranges.next().map(|r| &self.data[r])
    }
}

/// Iterator over the byte ranges of a [`Slice`] within its tensor's data
/// ([`Slice::byte_ranges`]).
#[derive(Debug, Clone)]
pub struct ByteRanges {
    bits: usize,
    outer: Vec<Outer>,
    position: Vec<usize>,
    base: usize,
    run: usize,
    done: bool,
}

impl ByteRanges {
    fn run_bytes(&self) -> usize {
        bytes_of(self.run, self.bits)
    }
}

impl Iterator for ByteRanges {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.done {
            return None;
        }
        let element = self
            .outer
            .iter()
            .zip(&self.position)
            .fold(self.base, |acc, (o, &i)| {
                acc + (o.start + i * o.step) * o.stride
            });
        // Odometer: advance the last outer dimension first.
        self.done = true;
        for (o, i) in self.outer.iter().zip(self.position.iter_mut()).rev() {
            *i += 1;
            if *i < o.count {
                self.done = false;
                break;
            }
            *i = 0;
        }
        let begin = bytes_of(element, self.bits);
        Some(begin..begin + self.run_bytes())
    }
}

impl<'a> TensorView<'a> {
    /// Selects per dimension an index, a range with step, or everything;
    /// missing trailing selections mean everything. Nothing is copied.
    pub fn slice(&self, spec: &[Select]) -> Result<Slice<'a>> {
        Slice::new(self, spec)
    }

    /// The `part`-th of `parts` equal pieces along `dim`, as tensor
    /// parallelism splits a weight across devices. The dimension must divide
    /// evenly.
    ///
    /// ```
    /// use tensorsafe::{Dtype, TensorView};
    /// let data: Vec<u8> = (0..8).collect();
    /// let w = TensorView::new(Dtype::U8, [2, 4], &data)?;
    /// assert_eq!(w.split(1, 1, 2)?.to_vec::<u8>()?, vec![2, 3, 6, 7]); // columns 2..4 of each row
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn split(&self, dim: usize, part: usize, parts: usize) -> Result<Slice<'a>> {
        self.slice(&split_spec(self.shape(), dim, part, parts)?)
    }
}

/// The selection of [`TensorView::split`]: part `part` of `parts` along
/// `dim` of a tensor of shape `dims`.
pub(crate) fn split_spec(
    dims: &[usize],
    dim: usize,
    part: usize,
    parts: usize,
) -> Result<Vec<Select>> {
    let size = *dims.get(dim).ok_or_else(|| {
        invalid(format!(
            "dimension {dim} does not exist (the tensor has {})",
            count(dims.len() as u64, "dimension")
        ))
    })?;
    if parts == 0 {
        return Err(invalid(format!(
            "dimension {dim} cannot be split into 0 parts"
        )));
    }
    if part >= parts {
        return Err(invalid(format!(
            "part {part} of {parts}: parts are numbered from 0, so the last is {}",
            parts - 1
        )));
    }
    if size % parts != 0 {
        return Err(invalid(format!(
            "dimension {dim} of size {size} does not divide into {parts} parts"
        )));
    }
    let piece = size / parts;
    let mut spec = vec![Select::All; dim + 1];
    spec[dim] = Select::range(part * piece, (part + 1) * piece);
    Ok(spec)
}
