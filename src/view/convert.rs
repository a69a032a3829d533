//! Decoding of the floating point dtypes to `f32`.

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use half::{bf16, f16};

use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};

use super::element::Element;

/// 2^k as an f32, exact for -149 <= k <= 127.
fn pow2(k: i32) -> f32 {
    if k >= -126 {
        f32::from_bits(((k + 127) as u32) << 23)
    } else {
        f32::from_bits(1u32 << (k + 149).clamp(0, 22))
    }
}

/// A small float with `exp` exponent bits and `man` mantissa bits.
#[derive(Clone, Copy)]
struct Minifloat {
    exp: u32,
    man: u32,
    bias: i32,
    nan: fn(u32) -> bool,
    inf: fn(u32) -> bool,
}

impl Minifloat {
    fn decode(self, bits: u32) -> f32 {
        if (self.nan)(bits) {
            return f32::NAN;
        }
        let sign = if bits >> (self.exp + self.man) & 1 == 1 {
            -1.0
        } else {
            1.0
        };
        if (self.inf)(bits) {
            return sign * f32::INFINITY;
        }
        let e = (bits >> self.man) & ((1 << self.exp) - 1);
        let m = bits & ((1 << self.man) - 1);
        let scale = (1u32 << self.man) as f32;
        let magnitude = if e == 0 {
            pow2(1 - self.bias) * (m as f32 / scale)
        } else {
            pow2(e as i32 - self.bias) * (1.0 + m as f32 / scale)
        };
        sign * magnitude
    }
}

const NEVER: fn(u32) -> bool = |_| false;

impl Minifloat {
    /// A format with no infinities, NaN where `nan` says.
    const fn finite(exp: u32, man: u32, bias: i32, nan: fn(u32) -> bool) -> Minifloat {
        Minifloat {
            exp,
            man,
            bias,
            nan,
            inf: NEVER,
        }
    }
}

/// E4M3 "FN": NaN at 0x7f/0xff, no infinities.
const E4M3: Minifloat = Minifloat::finite(4, 3, 7, |b| b & 0x7f == 0x7f);
/// E5M2: IEEE-like, with infinities.
const E5M2: Minifloat = Minifloat {
    inf: |b| b & 0x7f == 0x7c,
    ..Minifloat::finite(5, 2, 15, |b| b & 0x7f > 0x7c)
};
// The "FNUZ" formats: NaN only at 0x80, no negative zero.
const E4M3FNUZ: Minifloat = Minifloat::finite(4, 3, 8, |b| b == 0x80);
const E5M2FNUZ: Minifloat = Minifloat::finite(5, 2, 16, |b| b == 0x80);
/// FP4 E2M1: every code is a number.
const E2M1: Minifloat = Minifloat::finite(2, 1, 1, NEVER);

fn e8m0(bits: u8) -> f32 {
    if bits == 0xff {
        f32::NAN
    } else {
        pow2(i32::from(bits) - 127)
    }
}

/// How one dtype's elements decode to `f32`.
#[derive(Clone)]
enum Decode {
    F32,
    F64,
    F16,
    BF16,
    /// One byte an element, through a table of the 256 codes.
    Table(Box<[f32; 256]>),
    /// Two elements a byte, the first in the low nibble.
    F4,
}

/// The decoder of a float dtype's elements to `f32` (F64 is rounded),
/// chosen before any byte is read; other dtypes give
/// [`ErrorKind::UnsupportedConversion`].
#[derive(Clone)]
pub(crate) struct F32Decoder(Decode);

impl F32Decoder {
    pub(crate) fn new(dtype: Dtype) -> Result<Self> {
        let table = |decode: &dyn Fn(u8) -> f32| {
            let mut lut = Box::new([0f32; 256]);
            for (byte, value) in (0..=255u8).zip(lut.iter_mut()) {
                *value = decode(byte);
            }
            Decode::Table(lut)
        };
        let minifloat = |format: Minifloat| table(&|b| format.decode(u32::from(b)));
        Ok(F32Decoder(match dtype {
            Dtype::F32 => Decode::F32,
            Dtype::F64 => Decode::F64,
            Dtype::F16 => Decode::F16,
            Dtype::BF16 => Decode::BF16,
            Dtype::F8_E4M3 => minifloat(E4M3),
            Dtype::F8_E5M2 => minifloat(E5M2),
            Dtype::F8_E4M3FNUZ => minifloat(E4M3FNUZ),
            Dtype::F8_E5M2FNUZ => minifloat(E5M2FNUZ),
            Dtype::F8_E8M0 => table(&e8m0),
            Dtype::F4 => Decode::F4,
            other => {
                return Err(Error::new(ErrorKind::UnsupportedConversion)
                    .with_detail(format!("{other} cannot be decoded to f32")))
            }
        }))
    }

    /// Appends the elements whose bytes are `data` (whole elements, and
    /// whole bytes for F4).
    pub(crate) fn extend(&self, out: &mut Vec<f32>, data: &[u8]) {
        fn each<const N: usize>(out: &mut Vec<f32>, data: &[u8], f: impl Fn([u8; N]) -> f32) {
            out.extend(
                data.chunks_exact(N)
                    .map(|c| f(c.try_into().unwrap_or([0; N]))),
            );
        }
        match &self.0 {
            Decode::F32 => each(out, data, f32::from_le_bytes),
            Decode::F64 => each(out, data, |b| f64::from_le_bytes(b) as f32),
            Decode::F16 => each(out, data, |b| f16::from_le_bytes(b).to_f32()),
            Decode::BF16 => each(out, data, |b| bf16::from_le_bytes(b).to_f32()),
            Decode::Table(lut) => out.extend(data.iter().map(|&b| lut[usize::from(b)])),
            Decode::F4 => out.extend(data.iter().flat_map(|&b| {
                [
                    E2M1.decode(u32::from(b & 0xf)),
                    E2M1.decode(u32::from(b >> 4)),
                ]
            })),
        }
    }
}

/// What the conversion to `f64` needs of a tensor or a selection: its
/// dtype, its elements as they are, and its floats decoded to `f32`.
pub(crate) trait Elements {
    fn dtype(&self) -> Dtype;
    fn elements<T: Element>(&self) -> Result<Vec<T>>;
    fn f32s(&self) -> Result<Vec<f32>>;
}

// Views and selections answer through their own typed accessors.
macro_rules! elements_by_accessors {
    ($($ty:ty),*) => {$(
        impl Elements for $ty {
            fn dtype(&self) -> Dtype {
                <$ty>::dtype(self)
            }
            fn elements<T: Element>(&self) -> Result<Vec<T>> {
                self.to_vec()
            }
            fn f32s(&self) -> Result<Vec<f32>> {
                self.to_f32_vec()
            }
        }
    )*};
}
elements_by_accessors!(super::TensorView<'_>, super::slice::Slice<'_>);

/// The elements as `f64`: exact for F64, the integers and BOOL (64-bit
/// integers rounded beyond 2^53), through `f32` for the other floats.
pub(crate) fn to_f64(x: &impl Elements) -> Result<Vec<f64>> {
    fn widen<T: Element>(x: &impl Elements, f: impl Fn(T) -> f64) -> Result<Vec<f64>> {
        Ok(x.elements::<T>()?.into_iter().map(f).collect())
    }
    match x.dtype() {
        Dtype::F64 => x.elements::<f64>(),
        Dtype::BOOL => widen(x, |b: bool| f64::from(u8::from(b))),
        Dtype::U8 => widen::<u8>(x, f64::from),
        Dtype::I8 => widen::<i8>(x, f64::from),
        Dtype::U16 => widen::<u16>(x, f64::from),
        Dtype::I16 => widen::<i16>(x, f64::from),
        Dtype::U32 => widen::<u32>(x, f64::from),
        Dtype::I32 => widen::<i32>(x, f64::from),
        Dtype::U64 => widen(x, |v: u64| v as f64),
        Dtype::I64 => widen(x, |v: i64| v as f64),
        _ => Ok(x.f32s()?.into_iter().map(f64::from).collect()),
    }
}

/// Decodes the elements of a float tensor to `f32` (F64 is rounded).
pub(crate) fn to_f32(dtype: Dtype, data: &[u8]) -> Result<Vec<f32>> {
    let decoder = F32Decoder::new(dtype)?;
    let mut out = Vec::with_capacity(data.len().saturating_mul(8) / dtype.bits());
    decoder.extend(&mut out, data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn one(dtype: Dtype, byte: u8) -> f32 {
        to_f32(dtype, &[byte]).unwrap()[0]
    }

    #[test]
    fn fp8_formats_decode_known_values() {
        assert_eq!(one(Dtype::F8_E4M3, 0x38), 1.0);
        assert_eq!(one(Dtype::F8_E4M3, 0x7e), 448.0);
        assert_eq!(one(Dtype::F8_E4M3, 0x01), pow2(-9));
        assert_eq!(one(Dtype::F8_E4M3, 0xb8), -1.0);
        assert!(one(Dtype::F8_E4M3, 0x7f).is_nan());
        assert!(one(Dtype::F8_E4M3, 0xff).is_nan());
        assert_eq!(one(Dtype::F8_E5M2, 0x3c), 1.0);
        assert_eq!(one(Dtype::F8_E5M2, 0x7b), 57344.0);
        assert_eq!(one(Dtype::F8_E5M2, 0x7c), f32::INFINITY);
        assert_eq!(one(Dtype::F8_E5M2, 0xfc), f32::NEG_INFINITY);
        assert!(one(Dtype::F8_E5M2, 0x7d).is_nan());
        assert_eq!(one(Dtype::F8_E4M3FNUZ, 0x7f), 240.0);
        assert_eq!(one(Dtype::F8_E4M3FNUZ, 0x40), 1.0);
        assert!(one(Dtype::F8_E4M3FNUZ, 0x80).is_nan());
        assert_eq!(one(Dtype::F8_E5M2FNUZ, 0x7f), 57344.0);
        assert_eq!(one(Dtype::F8_E5M2FNUZ, 0x40), 1.0);
        assert_eq!(one(Dtype::F8_E8M0, 127), 1.0);
        assert_eq!(one(Dtype::F8_E8M0, 0), pow2(-127));
        assert_eq!(one(Dtype::F8_E8M0, 254), pow2(127));
        assert!(one(Dtype::F8_E8M0, 255).is_nan());
    }

    #[test]
    fn fp4_decodes_both_nibbles_low_first() {
        // 0x72: low nibble 2 -> 1.0, high nibble 7 -> 6.0
        assert_eq!(to_f32(Dtype::F4, &[0x72]).unwrap(), vec![1.0, 6.0]);
        let all: Vec<f32> = (0..8u32).map(|b| E2M1.decode(b)).collect();
        assert_eq!(all, vec![0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
        assert_eq!(E2M1.decode(0xf), -6.0);
    }

    #[test]
    fn integer_and_sub_byte_fp6_are_refused() {
        assert_eq!(
            to_f32(Dtype::I32, &[0; 4]).unwrap_err().kind(),
            ErrorKind::UnsupportedConversion
        );
        assert_eq!(
            to_f32(Dtype::F6_E2M3, &[0; 3]).unwrap_err().kind(),
            ErrorKind::UnsupportedConversion
        );
    }
}
