//! The element types a safetensors file can declare.

use alloc::format;
use core::fmt;
use core::str::FromStr;

use crate::error::{Error, ErrorKind, Result};

macro_rules! dtypes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $bits:literal;)*) => {
        /// The element type of a tensor, as named in the file header.
        ///
        /// The variants are declared in the reference implementation's order,
        /// which the writer's canonical layout depends on (see [`Ord`]).
        /// Names are case-sensitive: `"F32"` parses, `"f32"` does not.
        ///
        /// ```
        /// use tensorsafe::Dtype;
        /// let dtype: Dtype = "BF16".parse()?;
        /// assert_eq!(dtype, Dtype::BF16);
        /// assert_eq!(dtype.bits(), 16);
        /// assert_eq!(dtype.to_string(), "BF16");
        /// # Ok::<(), tensorsafe::Error>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(non_camel_case_types)]
        #[non_exhaustive]
        pub enum Dtype {
            $($(#[$doc])* $variant,)*
        }

        impl Dtype {
            /// Every dtype, in declaration order.
            pub const ALL: &'static [Dtype] = &[$(Dtype::$variant,)*];

            /// The name used in file headers, e.g. `"F8_E4M3"`.
            pub const fn name(self) -> &'static str {
                match self { $(Dtype::$variant => $name,)* }
            }

            /// Size of one element in bits (4 for `F4`, 6 for the `F6` types).
            pub const fn bits(self) -> usize {
                match self { $(Dtype::$variant => $bits,)* }
            }

            /// Parses a header name without allocating; `None` if unknown.
            pub fn from_name(name: &str) -> Option<Dtype> {
                match name {
                    $($name => Some(Dtype::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

dtypes! {
    /// Boolean, one byte per element (0 or 1).
    BOOL = "BOOL", 8;
    /// OCP MX FP4 (E2M1), two elements per byte.
    F4 = "F4", 4;
    /// OCP MX FP6 (E2M3), four elements per three bytes.
    F6_E2M3 = "F6_E2M3", 6;
    /// OCP MX FP6 (E3M2), four elements per three bytes.
    F6_E3M2 = "F6_E3M2", 6;
    /// Unsigned 8-bit integer.
    U8 = "U8", 8;
    /// Signed 8-bit integer.
    I8 = "I8", 8;
    /// FP8 E5M2 (IEEE-like, with infinities).
    F8_E5M2 = "F8_E5M2", 8;
    /// FP8 E4M3 "FN" (no infinities, NaN at 0x7f/0xff).
    F8_E4M3 = "F8_E4M3", 8;
    /// OCP MX E8M0 scale: a power of two, 0xff is NaN.
    F8_E8M0 = "F8_E8M0", 8;
    /// FP8 E4M3 "FNUZ" (bias 8, NaN only at 0x80, no negative zero).
    F8_E4M3FNUZ = "F8_E4M3FNUZ", 8;
    /// FP8 E5M2 "FNUZ" (bias 16, NaN only at 0x80, no negative zero).
    F8_E5M2FNUZ = "F8_E5M2FNUZ", 8;
    /// Signed 16-bit integer.
    I16 = "I16", 16;
    /// Unsigned 16-bit integer.
    U16 = "U16", 16;
    /// IEEE half precision.
    F16 = "F16", 16;
    /// bfloat16.
    BF16 = "BF16", 16;
    /// Signed 32-bit integer.
    I32 = "I32", 32;
    /// Unsigned 32-bit integer.
    U32 = "U32", 32;
    /// IEEE single precision.
    F32 = "F32", 32;
    /// Complex number made of two `F32` (real, imaginary).
    C64 = "C64", 64;
    /// IEEE double precision.
    F64 = "F64", 64;
    /// Signed 64-bit integer.
    I64 = "I64", 64;
    /// Unsigned 64-bit integer.
    U64 = "U64", 64;
}

impl Dtype {
    /// Size of one element in bits: [`Dtype::bits`] under the reference
    /// crate's name. Unlike the crate's own accessors, which take the
    /// `Copy` dtype by value, it takes `&self` as the reference's does, so
    /// that ported code passing it as a function over borrowed dtypes
    /// (`dtypes.iter().map(Dtype::bitsize)`) compiles unchanged.
    ///
    /// ```
    /// use tensorsafe::Dtype;
    /// let dtypes = [Dtype::F4, Dtype::BF16];
    /// assert_eq!(dtypes.iter().map(Dtype::bitsize).collect::<Vec<_>>(), [4, 16]);
    /// ```
    pub const fn bitsize(&self) -> usize {
        self.bits()
    }

    /// Size of one element in bytes, rounded down: 0 for the sub-byte types
    /// (`F4`, `F6_*`). Deprecated as the reference crate's `size` is, with
    /// the same meaning and signature (`&self`, like [`Dtype::bitsize`]):
    /// [`Dtype::bitsize`] gives the exact size in bits,
    /// [`Dtype::whole_bytes`] says `None` for the sub-byte types, and
    /// [`Dtype::byte_len`] counts the bytes of a number of elements.
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// use tensorsafe::Dtype;
    /// assert_eq!(Dtype::BF16.size(), 2);
    /// assert_eq!(Dtype::F4.size(), 0);
    /// ```
    #[deprecated(
        since = "0.1.0",
        note = "0 for the sub-byte dtypes: use `bitsize`, `whole_bytes`, or `byte_len` for a byte count"
    )]
    pub const fn size(&self) -> usize {
        self.bits() / 8
    }

    /// Size of one element in whole bytes, or `None` for the sub-byte types
    /// (`F4`, `F6_*`), whose elements share bytes.
    ///
    /// ```
    /// use tensorsafe::Dtype;
    /// assert_eq!(Dtype::F32.whole_bytes(), Some(4));
    /// assert_eq!(Dtype::F6_E2M3.whole_bytes(), None);
    /// ```
    pub const fn whole_bytes(self) -> Option<usize> {
        let bits = self.bits();
        if bits % 8 == 0 {
            Some(bits / 8)
        } else {
            None
        }
    }

    /// Whether the elements are floating point numbers (including the F8, F6
    /// and F4 formats and the complex type).
    pub const fn is_float(self) -> bool {
        !matches!(
            self,
            Dtype::BOOL
                | Dtype::U8
                | Dtype::I8
                | Dtype::I16
                | Dtype::U16
                | Dtype::I32
                | Dtype::U32
                | Dtype::I64
                | Dtype::U64
        )
    }

    /// Byte length of `elements` elements, with checked arithmetic.
    ///
    /// Lengths are `u64` on every target (the bit count is taken in `u128`),
    /// so a 32-bit program reads headers of tensors larger than its address
    /// space (shapes are `usize`, so each dimension must fit in it); the
    /// conversion of a length to `usize` happens only where a view over
    /// memory is built. Fails with [`ErrorKind::Overflow`] if the byte count
    /// exceeds `u64::MAX` and with [`ErrorKind::PartialByte`] if it is not a
    /// whole number of bytes.
    ///
    /// ```
    /// use tensorsafe::Dtype;
    /// assert_eq!(Dtype::F32.byte_len(3)?, 12);
    /// // 2^62 F4 elements: their bit count overflows u64, their bytes do not.
    /// assert_eq!(Dtype::F4.byte_len(1 << 62)?, 1 << 61);
    /// assert!(Dtype::F64.byte_len(u64::MAX).is_err());
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn byte_len(self, elements: u64) -> Result<u64> {
        let bits = u128::from(elements) * self.bits() as u128;
        if bits % 8 != 0 {
            return Err(Error::new(ErrorKind::PartialByte)
                .with_detail(format!("{elements} elements of {self}")));
        }
        u64::try_from(bits / 8).map_err(|_| {
            Error::new(ErrorKind::Overflow).with_detail(format!(
                "{elements} elements of {self} are more than 2^64 bytes"
            ))
        })
    }

    /// Byte length of a tensor of this dtype and `shape`: the rule that the
    /// header's offsets, [`TensorView::new`](crate::TensorView::new) and the
    /// writers all check. Fails as [`Dtype::byte_len`] does, or with
    /// [`ErrorKind::Overflow`] if the element count exceeds `u64::MAX`.
    ///
    /// ```
    /// use tensorsafe::Dtype;
    /// assert_eq!(Dtype::BF16.shape_byte_len(&[2, 3])?, 12);
    /// assert_eq!(Dtype::F4.shape_byte_len(&[3, 2])?, 3);
    /// assert!(Dtype::F4.shape_byte_len(&[3]).is_err()); // half a byte
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn shape_byte_len(self, shape: &[usize]) -> Result<u64> {
        let elements = element_count(shape).ok_or_else(|| {
            Error::new(ErrorKind::Overflow)
                .with_detail(format!("shape {shape:?} has more than 2^64 elements"))
        })?;
        self.byte_len(elements)
    }
}

/// The product of the dimensions (1 for a scalar), if it fits in a `u64`.
pub(crate) fn element_count(shape: &[usize]) -> Option<u64> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dtype {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Dtype::from_name(s)
            .ok_or_else(|| Error::new(ErrorKind::UnknownDtype).with_detail(format!("{s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        assert_eq!(Dtype::ALL.len(), 22);
        for &d in Dtype::ALL {
            assert_eq!(d.name().parse::<Dtype>().unwrap(), d);
            assert!(d.name().to_lowercase().parse::<Dtype>().is_err());
        }
        assert!("f32".parse::<Dtype>().is_err());
        assert!("".parse::<Dtype>().is_err());
    }

    #[test]
    fn declaration_order_matches_reference() {
        assert!(Dtype::BOOL < Dtype::F4);
        assert!(Dtype::F32 < Dtype::C64);
        assert!(Dtype::C64 < Dtype::F64);
        assert_eq!(Dtype::ALL.last(), Some(&Dtype::U64));
    }

    #[test]
    fn byte_len_is_checked() {
        let kind = |r: Result<u64>| r.map_err(|e| e.kind());
        assert_eq!(kind(Dtype::F4.byte_len(3)), Err(ErrorKind::PartialByte));
        assert_eq!(kind(Dtype::F4.byte_len(4)), Ok(2));
        assert_eq!(kind(Dtype::F6_E2M3.byte_len(4)), Ok(3));
        assert_eq!(
            kind(Dtype::F6_E2M3.byte_len(2)),
            Err(ErrorKind::PartialByte)
        );
        assert_eq!(
            kind(Dtype::F64.byte_len(u64::MAX)),
            Err(ErrorKind::Overflow)
        );
        assert_eq!(kind(Dtype::U8.byte_len(u64::MAX)), Ok(u64::MAX));
        // Bits overflow u64 for F4 and F6 well before bytes do.
        assert_eq!(kind(Dtype::F4.byte_len(u64::MAX - 1)), Ok(u64::MAX / 2));
        assert_eq!(
            kind(Dtype::F6_E3M2.byte_len(1 << 62)),
            Ok((1u64 << 62) / 4 * 3)
        );
        assert_eq!(kind(Dtype::U16.byte_len(1 << 63)), Err(ErrorKind::Overflow));
        let big = [usize::MAX, usize::MAX, usize::MAX]; // past u64 on every target
        assert_eq!(
            kind(Dtype::U8.shape_byte_len(&big)),
            Err(ErrorKind::Overflow)
        );
        // A byte length past usize on a 32-bit target is still a length.
        assert_eq!(
            kind(Dtype::F32.shape_byte_len(&[1 << 20, 1 << 10])),
            Ok(1 << 32)
        );
        assert_eq!(kind(Dtype::U8.shape_byte_len(&[])), Ok(1));
    }
}
