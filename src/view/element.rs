//! Element types that tensor bytes can be viewed as.

use alloc::format;
use alloc::vec::Vec;
use bytemuck::checked::CheckedCastError;
use bytemuck::{CheckedBitPattern, NoUninit};
use half::{bf16, f16};

use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that a tensor's elements can be read as.
///
/// Implemented for `u8` … `u64`, `i8` … `i64`, `f32`, `f64`, [`half::f16`],
/// [`half::bf16`] and `bool`; sealed, because the mapping from dtype to type
/// is part of the format.
pub trait Element: sealed::Sealed + CheckedBitPattern + NoUninit + Copy {
    /// The dtype whose elements this type holds.
    const DTYPE: Dtype;

    /// Decodes one element from its little-endian bytes; `None` if the bytes
    /// are not a valid value (a BOOL byte other than 0 or 1).
    fn from_le(bytes: &[u8]) -> Option<Self>;
}

macro_rules! element {
    ($($ty:ty => $dtype:ident),* $(,)?) => {$(
        impl sealed::Sealed for $ty {}
        impl Element for $ty {
            const DTYPE: Dtype = Dtype::$dtype;
            #[inline]
            fn from_le(bytes: &[u8]) -> Option<Self> {
                Some(<$ty>::from_le_bytes(bytes.try_into().ok()?))
            }
        }
    )*};
}

element! {
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32,
    u64 => U64, i64 => I64, f32 => F32, f64 => F64, f16 => F16, bf16 => BF16,
}

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: Dtype = Dtype::BOOL;
    #[inline]
    fn from_le(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

/// Fails unless `T` holds the elements of `dtype`. `raw` names the method
/// of the caller's type that gives the bytes as they are: code ported from a
/// byte-oriented API (`let bytes: Vec<u8> = x.to_vec()?`) asks for `u8` by
/// inference, and the error says where the bytes are.
pub(crate) fn check_dtype<T: Element>(dtype: Dtype, raw: &str) -> Result<()> {
    if dtype == T::DTYPE {
        return Ok(());
    }
    let mut detail = format!(
        "tensor is {dtype}, {} needs {}",
        core::any::type_name::<T>(),
        T::DTYPE
    );
    if core::mem::size_of::<T>() == 1 && T::DTYPE != Dtype::BOOL {
        detail.push_str(&format!(" (`{raw}` gives the raw bytes)"));
    }
    Err(Error::new(ErrorKind::DtypeMismatch).with_detail(detail))
}

/// Zero-copy cast of little-endian tensor bytes to `&[T]`.
pub(crate) fn cast<T: Element>(dtype: Dtype, data: &[u8]) -> Result<&[T]> {
    check_dtype::<T>(dtype, "data")?;
    if data.is_empty() {
        return Ok(&[]);
    }
    if cfg!(target_endian = "big") && core::mem::size_of::<T>() > 1 {
        return Err(Error::new(ErrorKind::BigEndianHost).with_detail("use to_vec, which converts"));
    }
    bytemuck::checked::try_cast_slice(data).map_err(|e| match e {
        CheckedCastError::InvalidBitPattern => Error::new(ErrorKind::InvalidBool),
        CheckedCastError::PodCastError(e) => {
            Error::new(ErrorKind::Misaligned).with_detail(format!(
                "data at address {:#x} for {} of alignment {} ({e:?})",
                data.as_ptr() as usize,
                core::any::type_name::<T>(),
                core::mem::align_of::<T>()
            ))
        }
    })
}

/// Copies tensor bytes into a `Vec<T>`, whatever their alignment and the
/// host's endianness.
pub(crate) fn to_vec<T: Element>(dtype: Dtype, data: &[u8]) -> Result<Vec<T>> {
    check_dtype::<T>(dtype, "data")?;
    let mut out = Vec::with_capacity(data.len() / core::mem::size_of::<T>());
    extend(&mut out, data)?;
    Ok(out)
}

/// Appends the elements whose little-endian bytes are `data` (a whole
/// number of elements of a tensor already known to hold `T`).
pub(crate) fn extend<T: Element>(out: &mut Vec<T>, data: &[u8]) -> Result<()> {
    for chunk in data.chunks_exact(core::mem::size_of::<T>()) {
        out.push(T::from_le(chunk).ok_or_else(|| Error::new(ErrorKind::InvalidBool))?);
    }
    Ok(())
}
