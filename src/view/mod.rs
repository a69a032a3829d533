//! Tensor views, shared by reading and writing: the [`View`] trait the
//! writers consume, and [`TensorView`], a tensor borrowed from a buffer,
//! with typed access ([`element`], [`convert`]) and lazy slicing ([`slice`]).

pub(crate) mod convert;
pub(crate) mod element;
pub(crate) mod slice;

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use core::fmt;

use crate::dtype::Dtype;
use crate::error::{count, Error, ErrorKind, Result};
use element::Element;

/// What the writer needs of a tensor: its dtype, shape and bytes.
///
/// Implement it for your own tensor type to pass it to
/// [`serialize`](crate::serialize) without copying into a [`TensorView`].
/// `data` may return an owned buffer (for a tensor living on a device); it
/// is called once per tensor, right before its bytes are written.
///
/// ```
/// use std::borrow::Cow;
/// use tensorsafe::{serialize, Dtype, SafeTensors, View};
///
/// /// A tensor type of your own: f32 values in a Vec.
/// struct Weights { shape: Vec<usize>, values: Vec<f32> }
///
/// impl View for Weights {
///     fn dtype(&self) -> Dtype { Dtype::F32 }
///     fn shape(&self) -> &[usize] { &self.shape }
///     fn data(&self) -> Cow<'_, [u8]> {
///         Cow::Owned(self.values.iter().flat_map(|v| v.to_le_bytes()).collect())
///     }
///     fn data_len(&self) -> usize { self.values.len() * 4 }
/// }
///
/// let w = Weights { shape: vec![2], values: vec![0.5, 1.5] };
/// let bytes = serialize([("w", &w)], None)?;
/// let st = SafeTensors::deserialize(&bytes)?;
/// assert_eq!(st.tensor("w")?.to_vec::<f32>()?, vec![0.5, 1.5]);
/// # Ok::<(), tensorsafe::Error>(())
/// ```
pub trait View {
    /// The element type.
    fn dtype(&self) -> Dtype;
    /// The dimensions.
    fn shape(&self) -> &[usize];
    /// The tensor's bytes, little-endian, row-major.
    fn data(&self) -> Cow<'_, [u8]>;
    /// `data().len()`, possibly without producing the data.
    fn data_len(&self) -> usize;
    /// Where the bytes already are in a file, if they are: the file and
    /// the offset of the first of [`View::data_len`] bytes. A writer into
    /// a file then copies them file to file instead of calling
    /// [`View::data`] ([`FileView`](crate::FileView) says how); the other
    /// writers read them from the file. `None` (the default): the bytes
    /// come from `data`.
    #[cfg(feature = "std")]
    fn file_range(&self) -> Option<(&std::fs::File, u64)> {
        None
    }
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
    #[cfg(feature = "std")]
    fn file_range(&self) -> Option<(&std::fs::File, u64)> {
        (**self).file_range()
    }
}

/// Dimensions kept inline: real tensors have at most five or so.
const INLINE_RANK: usize = 6;

/// A view's own copy of its shape, so that the view borrows only the bytes
/// (not the header it was found in). Inline up to [`INLINE_RANK`]
/// dimensions; `rank <= INLINE_RANK` always holds for `Inline`.
#[derive(Clone)]
enum Shape {
    Inline {
        rank: u8,
        dims: [usize; INLINE_RANK],
    },
    Heap(Box<[usize]>),
}

impl Shape {
    #[inline]
    fn new(shape: &[usize]) -> Self {
        let mut dims = [0; INLINE_RANK];
        match dims.get_mut(..shape.len()) {
            Some(prefix) => {
                prefix.copy_from_slice(shape);
                Shape::Inline {
                    rank: shape.len() as u8,
                    dims,
                }
            }
            None => Shape::Heap(shape.into()),
        }
    }

    #[inline]
    fn as_slice(&self) -> &[usize] {
        match self {
            Shape::Inline { rank, dims } => &dims[..usize::from(*rank)],
            Shape::Heap(dims) => dims,
        }
    }
}

/// A tensor borrowed from a buffer: dtype, shape and bytes, no copy of the
/// bytes. It borrows only the buffer (`'data`), so a view can outlive the
/// [`SafeTensors`](crate::SafeTensors) it came from.
///
/// ```
/// use tensorsafe::{Dtype, TensorView};
/// let bytes: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
/// let view = TensorView::new(Dtype::F32, [2, 2], &bytes)?;
/// assert_eq!(view.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
/// assert!(view.as_slice::<f64>().is_err()); // wrong dtype: an error, not a panic
/// assert_eq!(format!("{view:?}"), "TensorView { dtype: F32, shape: [2, 2], bytes: 16 }");
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Clone)]
pub struct TensorView<'data> {
    dtype: Dtype,
    shape: Shape,
    data: &'data [u8],
}

impl<'data> TensorView<'data> {
    /// A view of `data` as a tensor; fails unless `data` is exactly
    /// shape x dtype bytes long ([`ErrorKind::InvalidView`], or
    /// [`ErrorKind::Overflow`] / [`ErrorKind::PartialByte`] for a shape whose
    /// byte length does not exist).
    ///
    /// The shape is anything that reads as a `&[usize]`: by value as in
    /// the reference crate (`Vec<usize>`, an array), or borrowed (`&[usize]`,
    /// `&[usize; N]`, `&Vec<usize>`, `&Box<[usize]>`, a `Cow`). The view
    /// keeps its own copy of the dimensions either way.
    ///
    /// ```
    /// use tensorsafe::{Dtype, TensorView};
    /// let data = [0u8; 6];
    /// let a = TensorView::new(Dtype::U8, vec![2, 3], &data)?;
    /// let b = TensorView::new(Dtype::U8, [2, 3], &data)?;
    /// let shape: &[usize] = &[2, 3];
    /// let c = TensorView::new(Dtype::U8, shape, &data)?;
    /// assert!(a == b && b == c);
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn new(dtype: Dtype, shape: impl AsRef<[usize]>, data: &'data [u8]) -> Result<Self> {
        let shape = shape.as_ref();
        let expected = dtype.shape_byte_len(shape)?;
        if expected != data.len() as u64 {
            return Err(Error::new(ErrorKind::InvalidView).with_detail(format!(
                "{} bytes given, {shape:?} of {dtype} needs {expected}",
                data.len()
            )));
        }
        Ok(TensorView::new_unchecked(dtype, shape, data))
    }

    /// A view of typed elements, the dtype inferred from `T`: `&[f32]` is
    /// an F32 tensor, `&[half::bf16]` a BF16 one, and so on for every
    /// [`Element`]. Fails unless `data` holds exactly the shape's element
    /// count ([`ErrorKind::InvalidView`]), and with
    /// [`ErrorKind::BigEndianHost`] for multi-byte elements on a big-endian
    /// machine (the view borrows the elements as they lie in memory, and the
    /// format is little-endian).
    ///
    /// ```
    /// use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};
    /// let weight = [1.0f32, 2.0, 3.0, 4.0];
    /// let view = TensorView::from_slice([2, 2], &weight)?;
    /// assert_eq!(view.dtype(), Dtype::F32);
    /// let bytes = serialize([("w", view)], None)?;
    /// let st = SafeTensors::deserialize(&bytes)?;
    /// assert_eq!(st.tensor("w")?.to_vec::<f32>()?, weight);
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn from_slice<T: Element>(shape: impl AsRef<[usize]>, data: &'data [T]) -> Result<Self> {
        if cfg!(target_endian = "big") && core::mem::size_of::<T>() > 1 {
            return Err(Error::new(ErrorKind::BigEndianHost)
                .with_detail("build the view from little-endian bytes with TensorView::new"));
        }
        let shape = shape.as_ref();
        match crate::dtype::element_count(shape) {
            Some(needed) if needed != data.len() as u64 => Err(Error::new(ErrorKind::InvalidView)
                .with_detail(format!(
                    "{} given, shape {shape:?} needs {needed}",
                    count(data.len() as u64, "element")
                ))),
            // A count past u64 is the overflow TensorView::new reports.
            _ => TensorView::new(T::DTYPE, shape, bytemuck::cast_slice(data)),
        }
    }

    /// Built from validated header entries only.
    #[inline]
    pub(crate) fn new_unchecked(dtype: Dtype, shape: &[usize], data: &'data [u8]) -> Self {
        TensorView {
            dtype,
            shape: Shape::new(shape),
            data,
        }
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The dimensions; empty for a scalar.
    pub fn shape(&self) -> &[usize] {
        self.shape.as_slice()
    }

    /// The tensor's bytes, borrowed from the buffer it was read from.
    pub fn data(&self) -> &'data [u8] {
        self.data
    }

    /// Number of elements.
    pub fn element_count(&self) -> usize {
        // Counted in u64 so that a zero dimension after large ones gives 0
        // on every target; the bytes are in memory, so the count fits.
        crate::dtype::element_count(self.shape())
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX)
    }

    /// The elements as `&[T]`, without copying.
    ///
    /// Fails with [`ErrorKind::DtypeMismatch`] unless `T` is the tensor's
    /// type, [`ErrorKind::Misaligned`] if the bytes are not aligned for `T`
    /// in memory, [`ErrorKind::BigEndianHost`] on a big-endian machine (for
    /// multi-byte `T`), and [`ErrorKind::InvalidBool`] for a BOOL byte other
    /// than 0 or 1. [`TensorView::to_vec`] copies, so alignment and byte
    /// order do not matter to it.
    ///
    /// ```
    /// use tensorsafe::{half::bf16, serialize, Dtype, SafeTensors, TensorView};
    /// let values = [bf16::from_f32(1.5), bf16::from_f32(-2.0)];
    /// let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    /// let file = serialize([("w", TensorView::new(Dtype::BF16, [2], &bytes)?)], None)?;
    /// let st = SafeTensors::deserialize(&file)?;
    /// let w: &[bf16] = st.tensor("w")?.as_slice()?; // the writer aligns tensors to 8 bytes
    /// assert_eq!(w, values);
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn as_slice<T: Element>(&self) -> Result<&'data [T]> {
        element::cast(self.dtype, self.data)
    }

    /// The elements copied into a `Vec<T>`, whatever the alignment and the
    /// host's byte order.
    ///
    /// Fails with [`ErrorKind::DtypeMismatch`] unless `T` is the tensor's
    /// type (code written for a byte API, `let bytes: Vec<u8> =
    /// view.to_vec()?`, asks for `u8` by inference: [`TensorView::data`]
    /// has the bytes), and with [`ErrorKind::InvalidBool`] for a BOOL byte
    /// other than 0 or 1.
    ///
    /// A view does not know the name it was found under, so the errors of
    /// this method and of [`TensorView::as_slice`] name no tensor. Where the
    /// name matters, add it with [`Error::with_tensor`](crate::Error::with_tensor):
    ///
    /// ```
    /// use tensorsafe::{serialize, ErrorKind, SafeTensors, TensorView};
    /// let file = serialize([("w", TensorView::from_slice([2], &[1.0f32, 2.0])?)], None)?;
    /// let st = SafeTensors::deserialize(&file)?;
    /// let name = "w";
    /// let err = st.tensor(name)?.to_vec::<f64>().map_err(|e| e.with_tensor(name)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::DtypeMismatch);
    /// assert_eq!(err.tensor(), Some("w"));
    /// assert_eq!(err.to_string(), "tensor has another dtype: tensor is F32, f64 needs F64 (tensor \"w\")");
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        element::to_vec(self.dtype, self.data)
    }

    /// The elements decoded to `f32`: F32, F64 (rounded), F16, BF16, the
    /// F8 formats and F4. Other dtypes give
    /// [`ErrorKind::UnsupportedConversion`].
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        convert::to_f32(self.dtype, self.data)
    }

    /// The elements as `f64`: exact for F64, every float format
    /// [`TensorView::to_f32_vec`] decodes, BOOL and the integers up to 32
    /// bits; 64-bit integers are rounded to the nearest `f64` beyond 2^53.
    /// F6 and C64 give [`ErrorKind::UnsupportedConversion`].
    ///
    /// ```
    /// use tensorsafe::{Dtype, TensorView};
    /// let big = 1e300f64.to_le_bytes();
    /// let view = TensorView::new(Dtype::F64, [1], &big)?;
    /// assert_eq!(view.to_f64_vec()?, vec![1e300]); // to_f32_vec would give inf
    /// let ids: Vec<u8> = [-3i32, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    /// assert_eq!(TensorView::new(Dtype::I32, [2], &ids)?.to_f64_vec()?, vec![-3.0, 7.0]);
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        convert::to_f64(self)
    }

    /// The tensor's length in bytes (`data().len()`), as [`View::data_len`]
    /// gives it.
    #[inline]
    pub fn data_len(&self) -> usize {
        self.data.len()
    }
}

impl PartialEq for TensorView<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.dtype == other.dtype && self.shape() == other.shape() && self.data == other.data
    }
}

impl Eq for TensorView<'_> {}

/// Shows dtype, shape and length, not the bytes.
///
/// ```
/// use tensorsafe::{Dtype, TensorView};
/// let view = TensorView::new(Dtype::U8, [2, 2], &[1, 2, 3, 4])?;
/// assert_eq!(format!("{view:?}"), "TensorView { dtype: U8, shape: [2, 2], bytes: 4 }");
/// # Ok::<(), tensorsafe::Error>(())
/// ```
impl fmt::Debug for TensorView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TensorView")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape())
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl View for TensorView<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        self.shape.as_slice()
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}
