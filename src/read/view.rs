//! Borrowed tensor views and the `View` trait the writer consumes.

use std::borrow::Cow;

use super::convert;
use super::element::{self, Element};
use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};

/// What the writer needs of a tensor: its dtype, shape and bytes.
///
/// Implement it for your own tensor type to pass it to
/// [`serialize`](crate::serialize) without copying into a [`TensorView`].
/// `data` may return an owned buffer (for a tensor living on a device); it
/// is called once per tensor, right before its bytes are written.
pub trait View {
    /// The element type.
    fn dtype(&self) -> Dtype;
    /// The dimensions.
    fn shape(&self) -> &[usize];
    /// The tensor's bytes, little-endian, row-major.
    fn data(&self) -> Cow<'_, [u8]>;
    /// `data().len()`, possibly without producing the data.
    fn data_len(&self) -> usize;
}

impl<T: View + ?Sized> View for &T {
    fn dtype(&self) -> Dtype {
        (**self).dtype()
    }
    fn shape(&self) -> &[usize] {
        (**self).shape()
    }
    fn data(&self) -> Cow<'_, [u8]> {
        (**self).data()
    }
    fn data_len(&self) -> usize {
        (**self).data_len()
    }
}

/// A tensor borrowed from a buffer: dtype, shape and bytes, no copy.
///
/// ```
/// use tensorsafe::{Dtype, TensorView};
/// let bytes: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
/// let view = TensorView::new(Dtype::F32, &[2, 2], &bytes)?;
/// assert_eq!(view.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
/// assert!(view.as_slice::<f64>().is_err()); // wrong dtype: an error, not a panic
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorView<'a> {
    dtype: Dtype,
    shape: &'a [usize],
    data: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// A view of `data` as a tensor; fails unless `data` is exactly
    /// shape x dtype bytes long.
    pub fn new(dtype: Dtype, shape: &'a [usize], data: &'a [u8]) -> Result<Self> {
        let expected = expected_len(dtype, shape)?;
        if expected != data.len() {
            return Err(Error::new(ErrorKind::InvalidView).with_detail(format!(
                "{} bytes given, {shape:?} of {dtype} needs {expected}",
                data.len()
            )));
        }
        Ok(TensorView { dtype, shape, data })
    }

    /// Built from validated header entries only.
    pub(crate) fn new_unchecked(dtype: Dtype, shape: &'a [usize], data: &'a [u8]) -> Self {
        TensorView { dtype, shape, data }
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The dimensions; empty for a scalar.
    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }

    /// The tensor's bytes, borrowed from the buffer it was read from.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Number of elements.
    pub fn element_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements as `&[T]`, without copying.
    ///
    /// Fails with [`ErrorKind::DtypeMismatch`] unless `T` is the tensor's
    /// type, [`ErrorKind::Misaligned`] if the bytes are not aligned for `T`
    /// in memory, [`ErrorKind::BigEndianHost`] on a big-endian machine (for
    /// multi-byte `T`), and [`ErrorKind::InvalidBool`] for a BOOL byte other
    /// than 0 or 1. [`TensorView::to_vec`] always works.
    pub fn as_slice<T: Element>(&self) -> Result<&'a [T]> {
        element::cast(self.dtype, self.data)
    }

    /// The elements copied into a `Vec<T>`, whatever the alignment and the
    /// host's byte order.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        element::to_vec(self.dtype, self.data)
    }

    /// The elements decoded to `f32`: F32, F64 (rounded), F16, BF16, the
    /// F8 formats and F4. Other dtypes give
    /// [`ErrorKind::UnsupportedConversion`].
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        convert::to_f32(self.dtype, self.data)
    }
}

impl View for TensorView<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Byte length of a tensor of `shape` and `dtype`, with checked arithmetic.
pub(crate) fn expected_len(dtype: Dtype, shape: &[usize]) -> Result<usize> {
    let elements = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::new(ErrorKind::Overflow).with_detail(format!("shape {shape:?}")))?;
    dtype
        .byte_len(elements)
        .map_err(|kind| Error::new(kind).with_detail(format!("{elements} elements of {dtype}")))
}
