//! A tensor and a slice spec decoded from the input (selections with
//! edge-valued bounds and steps, from `tensorsafe::arbitrary`) -> the lazy
//! runs equal a naive element-by-element gather of the tensor's bits; a
//! packed sub-byte dtype (F4, two elements a byte; F6, four in three bytes)
//! refuses exactly the selections whose contiguous stretches start or end
//! inside a byte; a split equals the range it stands for, and is refused
//! exactly when the dimension does not divide.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tensorsafe::arbitrary::{SliceArgs, SplitArgs};
use tensorsafe::{Dtype, ErrorKind, Select, TensorView};

#[derive(Debug, Arbitrary)]
struct Input {
    dims: Vec<u8>,
    spec: SliceArgs,
    split: SplitArgs,
    dtype: u8,
    axis: u8,
}

const DTYPES: [Dtype; 7] = [
    Dtype::U8,
    Dtype::F16,
    Dtype::F32,
    Dtype::F64,
    Dtype::F4,
    Dtype::F6_E2M3,
    Dtype::F6_E3M2,
];

fuzz_target!(|input: Input| {
    let dtype = DTYPES[usize::from(input.dtype) % DTYPES.len()];
    let shape = whole_bytes(&input.dims, dtype, input.axis);
    let bytes = dtype.shape_byte_len(&shape).expect("whole bytes") as usize;
    let data: Vec<u8> = (0..bytes).map(|i| (i * 89 % 251) as u8).collect();
    let view = TensorView::new(dtype, &shape, &data).expect("consistent");
    split(&view, &shape, input.split);
    let spec = input.spec.0;
    let slice = view.slice(&spec);
    let Some((kept, dims)) = naive(&shape, &spec) else {
        let kind = slice.err().map(|e| e.kind());
        assert_eq!(kind, Some(ErrorKind::InvalidSlice), "{spec:?} of {shape:?}");
        return;
    };
    let elements = flat(&kept, &shape);
    let bits = dtype.bits();
    let cuts = cuts_a_byte(&elements, bits);
    match slice {
        Err(e) => assert!(
            cuts && e.kind() == ErrorKind::SubByteSlice,
            "{spec:?} of {shape:?} {dtype}: {e}"
        ),
        Ok(slice) => {
            assert!(!cuts, "{spec:?} of {shape:?} {dtype}: cuts a byte");
            assert_eq!(slice.shape(), dims, "{spec:?} of {shape:?}");
            let want = gather_bits(&data, &elements, bits);
            let got: Vec<u8> = slice.runs().flatten().copied().collect();
            assert_eq!(got, want, "{spec:?} of {shape:?} {dtype}");
            assert_eq!(slice.byte_len(), want.len());
        }
    }
});

/// Up to four dimensions below 7. For a sub-byte dtype only the whole
/// tensor must fill whole bytes, not each row: if its elements do not, the
/// dimension `axis` picks is scaled so that they do (a scalar becomes a
/// vector), so rows may start inside a byte (F4 `[3, 2, 1]`, F6 `[4, 1]`).
fn whole_bytes(dims: &[u8], dtype: Dtype, axis: u8) -> Vec<usize> {
    let mut shape: Vec<usize> = dims.iter().take(4).map(|d| usize::from(d % 7)).collect();
    // Elements per whole number of bytes: 2 for F4, 4 for F6.
    let per = 8 / gcd(dtype.bits(), 8);
    if shape.is_empty() {
        if per > 1 {
            shape.push(per);
        }
        return shape;
    }
    let count: usize = shape.iter().product();
    let factor = per / gcd(count, per);
    let axis = usize::from(axis) % shape.len();
    shape[axis] *= factor;
    shape
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The kept positions per dimension and the result's shape, or `None`
/// where the spec is invalid (too many selections, an index out of range,
/// a zero step).
fn naive(shape: &[usize], spec: &[Select]) -> Option<(Vec<Vec<usize>>, Vec<usize>)> {
    if spec.len() > shape.len() {
        return None;
    }
    let mut kept = Vec::new();
    let mut dims = Vec::new();
    for (axis, &size) in shape.iter().enumerate() {
        let positions: Vec<usize> = match spec.get(axis).copied().unwrap_or(Select::All) {
            Select::All => (0..size).collect(),
            Select::Index(i) if i < size => {
                kept.push(vec![i]);
                continue;
            }
            Select::Index(_) | Select::Range { step: 0, .. } => return None,
            Select::Range { start, stop, step } => {
                (start.min(size)..stop.min(size)).step_by(step).collect()
            }
        };
        dims.push(positions.len());
        kept.push(positions);
    }
    Some((kept, dims))
}

/// The row-major element index of every kept position, in order.
fn flat(kept: &[Vec<usize>], shape: &[usize]) -> Vec<usize> {
    let mut elements = Vec::new();
    if kept.iter().any(|k| k.is_empty()) {
        return elements;
    }
    let mut index = vec![0usize; kept.len()];
    'outer: loop {
        let element = index
            .iter()
            .enumerate()
            .fold(0, |acc, (axis, &i)| acc * shape[axis] + kept[axis][i]);
        elements.push(element);
        for axis in (0..kept.len()).rev() {
            index[axis] += 1;
            if index[axis] < kept[axis].len() {
                continue 'outer;
            }
            index[axis] = 0;
        }
        return elements;
    }
}

/// Whether a stretch of consecutive elements starts or ends inside a byte.
fn cuts_a_byte(elements: &[usize], bits: usize) -> bool {
    let inside = |element: usize| element * bits % 8 != 0;
    elements.iter().enumerate().any(|(n, &e)| {
        let starts = n == 0 || elements[n - 1] + 1 != e;
        let ends = elements.get(n + 1) != Some(&(e + 1));
        (starts && inside(e)) || (ends && inside(e + 1))
    })
}

/// The elements' bits, one after another, the first in the low bits (the
/// file's packing: F4 holds its first element in the low nibble).
fn gather_bits(data: &[u8], elements: &[usize], bits: usize) -> Vec<u8> {
    let mut out = vec![0u8; (elements.len() * bits).div_ceil(8)];
    for (n, &element) in elements.iter().enumerate() {
        for b in 0..bits {
            let (from, to) = (element * bits + b, n * bits + b);
            out[to / 8] |= (data[from / 8] >> (from % 8) & 1) << (to % 8);
        }
    }
    out
}

/// `split(dim, part, parts)` is the range `part * piece..(part + 1) * piece`
/// of `dim`, and fails exactly when that is not a whole piece (or, for a
/// sub-byte dtype, as that range fails).
fn split(view: &TensorView<'_>, shape: &[usize], SplitArgs { dim, part, parts }: SplitArgs) {
    let result = view.split(dim, part, parts);
    let divides = shape
        .get(dim)
        .is_some_and(|&size| parts > 0 && part < parts && size % parts == 0);
    if !divides {
        let kind = result.err().map(|e| e.kind());
        assert_eq!(
            kind,
            Some(ErrorKind::InvalidSlice),
            "{dim} {part} {parts} of {shape:?}"
        );
        return;
    }
    let piece = shape[dim] / parts;
    let mut spec = vec![Select::All; dim + 1];
    spec[dim] = Select::range(part * piece, (part + 1) * piece);
    match (result, view.slice(&spec)) {
        (Ok(slice), Ok(same)) => {
            assert_eq!(same.shape(), slice.shape());
            assert_eq!(same.to_bytes(), slice.to_bytes());
        }
        (Err(a), Err(b)) => assert_eq!((a.kind(), b.kind()), (ErrorKind::SubByteSlice, b.kind())),
        (a, b) => panic!("split {:?}, range {:?}", a.err(), b.err()),
    }
}
