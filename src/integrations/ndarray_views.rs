//! `ndarray` support (feature `ndarray`): typed tensor views as
//! `ndarray` arrays, and `ndarray` arrays written as tensors.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::mem::size_of;

use ndarray::{ArrayBase, ArrayViewD, CowArray, Data, Dimension, IxDyn};

use crate::error::{Error, ErrorKind, Result};
use crate::view::element::Element;
use crate::view::{TensorView, View};
use crate::Dtype;

impl<'data> TensorView<'data> {
    /// The tensor as an `ndarray` view of `T`, without copying: fails as
    /// [`TensorView::as_slice`] does (dtype, alignment, host byte order).
    ///
    /// ```
    /// use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};
    /// let values: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    /// let file = serialize([("w", TensorView::new(Dtype::F32, [2, 3], &values)?)], None)?;
    /// let st = SafeTensors::deserialize(&file)?;
    /// let w = st.tensor("w")?;
    /// let array = w.as_ndarray::<f32>()?;           // borrows the file's bytes
    /// assert_eq!(array.shape(), &[2, 3]);
    /// assert_eq!(array[[1, 2]], 6.0);
    /// assert_eq!(array.sum_axis(ndarray::Axis(0)).iter().copied().collect::<Vec<_>>(), vec![5.0, 7.0, 9.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_ndarray<T: Element>(&self) -> Result<ArrayViewD<'data, T>> {
        shaped(self.shape(), self.as_slice::<T>()?)
    }

    /// The tensor as an `ndarray` array of `T`: a borrowed view when
    /// [`TensorView::as_ndarray`] works, an owned copy otherwise (data not
    /// aligned for `T`, or a big-endian host). Fails only on a dtype that
    /// is not `T`'s (or a BOOL byte other than 0 or 1).
    pub fn to_ndarray<T: Element>(&self) -> Result<CowArray<'data, T, IxDyn>> {
        match self.as_ndarray::<T>() {
            Ok(view) => Ok(view.into()),
            Err(e) if matches!(e.kind(), ErrorKind::Misaligned | ErrorKind::BigEndianHost) => {
                let owned = self.to_vec::<T>()?;
                ndarray::ArrayD::from_shape_vec(IxDyn(self.shape()), owned)
                    .map(CowArray::from)
                    .map_err(shape_error)
            }
            Err(e) => Err(e),
        }
    }
}

fn shaped<'a, T>(shape: &[usize], values: &'a [T]) -> Result<ArrayViewD<'a, T>> {
    ArrayViewD::from_shape(IxDyn(shape), values).map_err(shape_error)
}

/// Unreachable for a valid view (its length is its shape's); kept an
/// error, not a panic.
fn shape_error(e: ndarray::ShapeError) -> Error {
    Error::new(ErrorKind::InvalidView).with_detail(alloc::format!("{e}"))
}

/// Any `ndarray` array (owned, view, shared; any layout) of an element
/// type writes as a tensor: row-major, little-endian. A standard-layout
/// array on a little-endian host is written straight from its memory;
/// other layouts are copied in logical order.
///
/// ```
/// use ndarray::{array, ArrayD};
/// use tensorsafe::{serialize, SafeTensors};
/// let a = array![[1i32, 2, 3], [4, 5, 6]];
/// let t = a.t();                                  // a transposed view: not contiguous
/// let file = serialize([("a", a.view()), ("t", t)], None)?;
/// let st = SafeTensors::deserialize(&file)?;
/// let back: ArrayD<i32> = st.tensor("t")?.to_ndarray::<i32>()?.into_owned();
/// assert_eq!(back, t.into_dyn());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<T, S, D> View for ArrayBase<S, D>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    fn dtype(&self) -> Dtype {
        T::DTYPE
    }

    fn shape(&self) -> &[usize] {
        ArrayBase::shape(self)
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match self.as_slice() {
            Some(values) if cfg!(target_endian = "little") => {
                Cow::Borrowed(bytemuck::cast_slice(values))
            }
            Some(values) => Cow::Owned(little_endian(values.iter(), values.len())),
            None => Cow::Owned(little_endian(self.iter(), self.len())),
        }
    }

    fn data_len(&self) -> usize {
        // A broadcast view can claim more elements than memory holds; a
        // saturated length is then refused by the writer's size check.
        self.len().saturating_mul(size_of::<T>())
    }
}

/// `count` values, in iteration order, as little-endian bytes whatever
/// the host: one copy, straight into the output.
fn little_endian<'a, T: Element>(values: impl Iterator<Item = &'a T>, count: usize) -> Vec<u8> {
    // Reserved when possible; a length past memory (a broadcast view)
    // is not a reason to panic here, the growth below fails as it would.
    let mut bytes = Vec::new();
    let _ = bytes.try_reserve_exact(count.saturating_mul(size_of::<T>()));
    for value in values {
        let start = bytes.len();
        bytes.extend_from_slice(bytemuck::bytes_of(value));
        if cfg!(target_endian = "big") {
            bytes[start..].reverse();
        }
    }
    bytes
}
