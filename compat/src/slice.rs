//! The reference's `slice` module: select parts of a tensor and get the
//! byte ranges that hold them.
//!
//! ```
//! use safetensors::slice::IndexOp;
//! use safetensors::tensor::TensorView;
//! use safetensors::Dtype;
//!
//! let data: Vec<u8> = (0..6u8).collect();
//! let view = TensorView::new(Dtype::U8, vec![2, 3], &data)?;
//! // Row 1, columns 1 and 2.
//! let part = view.slice((1, 1..3)).unwrap();
//! assert_eq!(part.newshape(), vec![2]);
//! assert_eq!(part.flatten().copied().collect::<Vec<u8>>(), vec![4, 5]);
//! # Ok::<(), safetensors::SafeTensorError>(())
//! ```

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroUsize;
use core::ops::{
    Bound, Range, RangeBounds, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive,
};

use crate::tensor::{Dtype, TensorView};

/// Why a slice cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidSlice {
    /// More indexers than the tensor has dimensions.
    TooManySlices,
    /// An index or bound past the end of dimension `dim_index` (bounds are
    /// not clamped). Also reported for a dimension whose size in bits
    /// overflows `usize`.
    SliceOutOfRange {
        /// The dimension.
        dim_index: usize,
        /// The index asked for (for a range, its first or last index).
        asked: usize,
        /// The dimension's size.
        dim_size: usize,
    },
    /// A cut inside a byte of a sub-byte dtype (F4, F6).
    MisalignedSlice,
}

impl fmt::Display for InvalidSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidSlice::TooManySlices => {
                f.write_str("more indexers than the tensor has dimensions")
            }
            InvalidSlice::SliceOutOfRange {
                dim_index,
                asked,
                dim_size,
            } => write!(
                f,
                "index {asked} is out of range for dimension {dim_index} of size {dim_size}"
            ),
            InvalidSlice::MisalignedSlice => f.write_str("slice cuts inside a byte"),
        }
    }
}

impl core::error::Error for InvalidSlice {}

/// What to take of one dimension.
#[derive(Debug, Clone)]
pub enum TensorIndexer {
    /// One index; the dimension disappears from the result's shape.
    Select(usize),
    /// A range with a step; the dimension stays.
    Narrow(Bound<usize>, Bound<usize>, NonZeroUsize),
}

impl fmt::Display for TensorIndexer {
    /// Python's notation: `3`, `1:4`, `:`, `::2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorIndexer::Select(i) => write!(f, "{i}"),
            TensorIndexer::Narrow(start, end, step) => {
                let bound = |f: &mut fmt::Formatter<'_>, b: &Bound<usize>| match b {
                    Bound::Included(n) | Bound::Excluded(n) => write!(f, "{n}"),
                    Bound::Unbounded => Ok(()),
                };
                bound(f, start)?;
                f.write_str(":")?;
                bound(f, end)?;
                if step.get() != 1 {
                    write!(f, ":{step}")?;
                }
                Ok(())
            }
        }
    }
}

impl From<usize> for TensorIndexer {
    fn from(index: usize) -> Self {
        TensorIndexer::Select(index)
    }
}

macro_rules! from_range {
    ($($range:ty),*) => {$(
        impl From<$range> for TensorIndexer {
            fn from(range: $range) -> Self {
                TensorIndexer::Narrow(
                    range.start_bound().cloned(),
                    range.end_bound().cloned(),
                    NonZeroUsize::MIN,
                )
            }
        }
    )*};
}

from_range!(
    Range<usize>,
    RangeFrom<usize>,
    RangeFull,
    RangeInclusive<usize>,
    RangeTo<usize>,
    RangeToInclusive<usize>
);

/// `view.slice(i)`, `view.slice((i, j))`, `view.slice((i, j, k))`: any mix
/// of indices and ranges, for the first one to three dimensions.
pub trait IndexOp<'data, T> {
    /// The slice's bytes, as an iterator of contiguous pieces.
    fn slice(&'data self, index: T) -> Result<SliceIterator<'data>, InvalidSlice>;
}

impl<'data, A: Into<TensorIndexer>> IndexOp<'data, A> for TensorView<'data> {
    fn slice(&'data self, index: A) -> Result<SliceIterator<'data>, InvalidSlice> {
        self.sliced_data(&[index.into()])
    }
}

impl<'data, A: Into<TensorIndexer>> IndexOp<'data, (A,)> for TensorView<'data> {
    fn slice(&'data self, (a,): (A,)) -> Result<SliceIterator<'data>, InvalidSlice> {
        self.sliced_data(&[a.into()])
    }
}

impl<'data, A: Into<TensorIndexer>, B: Into<TensorIndexer>> IndexOp<'data, (A, B)>
    for TensorView<'data>
{
    fn slice(&'data self, (a, b): (A, B)) -> Result<SliceIterator<'data>, InvalidSlice> {
        self.sliced_data(&[a.into(), b.into()])
    }
}

impl<'data, A: Into<TensorIndexer>, B: Into<TensorIndexer>, C: Into<TensorIndexer>>
    IndexOp<'data, (A, B, C)> for TensorView<'data>
{
    fn slice(&'data self, (a, b, c): (A, B, C)) -> Result<SliceIterator<'data>, InvalidSlice> {
        self.sliced_data(&[a.into(), b.into(), c.into()])
    }
}

/// The contiguous byte pieces of a slice, in row-major order.
#[derive(Debug, Clone)]
pub struct SliceIterator<'data> {
    data: &'data [u8],
    ranges: SliceByteRanges,
    next: usize,
    shape: SlicedShape,
}

impl<'data> SliceIterator<'data> {
    pub(crate) fn new(data: &'data [u8], ranges: SliceByteRanges, shape: SlicedShape) -> Self {
        SliceIterator {
            data,
            ranges,
            next: 0,
            shape,
        }
    }

    /// Bytes in the pieces not yet returned.
    pub fn remaining_byte_len(&self) -> usize {
        self.ranges
            .get(self.next..)
            .unwrap_or_default()
            .iter()
            .map(|(a, b)| b - a)
            .sum()
    }

    /// The slice's shape.
    pub fn newshape(&self) -> Vec<usize> {
        self.shape.clone()
    }
}

impl<'data> Iterator for SliceIterator<'data> {
    type Item = &'data [u8];

    fn next(&mut self) -> Option<&'data [u8]> {
        let &(begin, end) = self.ranges.get(self.next)?;
        self.next += 1;
        // The ranges lie inside a view whose length matches its shape.
        self.data.get(begin..end)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.ranges.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

/// `[begin, end)` byte ranges, in row-major order.
pub type SliceByteRanges = Vec<(usize, usize)>;
/// The shape of a slice.
pub type SlicedShape = Vec<usize>;

/// The byte ranges (relative to the tensor's first byte) holding the slice
/// `slices` of a tensor of `dtype` and `shape`, and the slice's shape.
/// Dimensions past the last indexer are taken whole.
///
/// The ranges are the reference's: trailing dimensions taken whole are
/// merged into one range per row; a step gives a range per element.
/// Differences: a reversed range (`4..2`) selects nothing, where the
/// reference panics or wraps; a slice that selects nothing gives no
/// ranges, or one empty range when the innermost cut is an empty step-1
/// range (the reference gives the whole tensor when an outer dimension is
/// empty); bounds that overflow are [`InvalidSlice::SliceOutOfRange`].
pub fn slice_byte_ranges(
    dtype: Dtype,
    shape: &[usize],
    slices: &[TensorIndexer],
) -> Result<(SliceByteRanges, SlicedShape), InvalidSlice> {
    if slices.len() > shape.len() {
        return Err(InvalidSlice::TooManySlices);
    }
    let whole_bytes = |bits: usize| {
        if bits % 8 == 0 {
            Ok(bits / 8)
        } else {
            Err(InvalidSlice::MisalignedSlice)
        }
    };
    let mut new_shape = Vec::with_capacity(shape.len());
    // Built from the innermost dimension that is cut; `None` while every
    // dimension seen so far is taken whole.
    let mut ranges: Option<SliceByteRanges> = None;
    // Bits per index of the current dimension.
    let mut stride = dtype.bitsize();
    for (axis, &size) in shape.iter().enumerate().rev() {
        let outer_stride = stride
            .checked_mul(size)
            .ok_or(InvalidSlice::SliceOutOfRange {
                dim_index: axis,
                asked: size,
                dim_size: size,
            })?;
        let Some(indexer) = slices.get(axis) else {
            new_shape.push(size);
            stride = outer_stride;
            continue;
        };
        let pick = Pick::resolve(indexer, axis, size)?;
        if pick.keeps_dimension {
            new_shape.push(pick.len());
        }
        // Every index below is < size, so index * stride <= outer_stride.
        match &mut ranges {
            None if pick.is_whole(size) => {}
            None if pick.step == 1 => {
                let range = (
                    whole_bytes(pick.start * stride)?,
                    whole_bytes(pick.stop * stride)?,
                );
                ranges = Some(vec![range]);
            }
            None => {
                let first = pick
                    .indices()
                    .map(|i| Ok((whole_bytes(i * stride)?, whole_bytes((i + 1) * stride)?)))
                    .collect::<Result<_, _>>()?;
                ranges = Some(first);
            }
            Some(inner) => {
                let mut grown = Vec::with_capacity(pick.len().saturating_mul(inner.len()));
                for i in pick.indices() {
                    let shift = whole_bytes(i * stride)?;
                    grown.extend(inner.iter().map(|&(a, b)| (a + shift, b + shift)));
                }
                *inner = grown;
            }
        }
        stride = outer_stride;
    }
    let ranges = match ranges {
        Some(ranges) => ranges,
        None => vec![(0, whole_bytes(stride)?)],
    };
    new_shape.reverse();
    Ok((ranges, new_shape))
}

/// One dimension's indexer, resolved against its size.
struct Pick {
    start: usize,
    /// At least `start`.
    stop: usize,
    step: usize,
    keeps_dimension: bool,
}

impl Pick {
    fn resolve(indexer: &TensorIndexer, axis: usize, size: usize) -> Result<Pick, InvalidSlice> {
        let out_of_range = |asked| InvalidSlice::SliceOutOfRange {
            dim_index: axis,
            asked,
            dim_size: size,
        };
        let (start, stop, step, keeps_dimension) = match *indexer {
            TensorIndexer::Select(i) => (i, i.checked_add(1).ok_or(out_of_range(i))?, 1, false),
            TensorIndexer::Narrow(start, stop, step) => {
                let start = match start {
                    Bound::Unbounded => 0,
                    Bound::Included(i) => i,
                    Bound::Excluded(i) => i.checked_add(1).ok_or(out_of_range(i))?,
                };
                let stop = match stop {
                    Bound::Unbounded => size,
                    Bound::Included(i) => i.checked_add(1).ok_or(out_of_range(i))?,
                    Bound::Excluded(i) => i,
                };
                (start, stop, step.get(), true)
            }
        };
        if start >= size {
            return Err(out_of_range(start));
        }
        if stop > size {
            return Err(out_of_range(stop - 1));
        }
        Ok(Pick {
            start,
            stop: stop.max(start),
            step,
            keeps_dimension,
        })
    }

    fn is_whole(&self, size: usize) -> bool {
        self.step == 1 && self.start == 0 && self.stop == size
    }

    fn len(&self) -> usize {
        (self.stop - self.start).div_ceil(self.step)
    }

    fn indices(&self) -> impl Iterator<Item = usize> {
        (self.start..self.stop).step_by(self.step)
    }
}
