//! A tensor and a slice spec decoded from the input (selections with
//! edge-valued bounds and steps, from `tensorsafe::arbitrary`) -> the lazy
//! runs equal a naive element gather; a split equals the range it stands
//! for, and is refused exactly when the dimension does not divide.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tensorsafe::arbitrary::{SliceArgs, SplitArgs};
use tensorsafe::{Dtype, Select, TensorView};

#[derive(Debug, Arbitrary)]
struct Input {
    dims: Vec<u8>,
    spec: SliceArgs,
    split: SplitArgs,
    dtype: u8,
}

fuzz_target!(|input: Input| {
    let shape: Vec<usize> = input
        .dims
        .iter()
        .take(4)
        .map(|d| usize::from(d % 7))
        .collect();
    let dtype = [Dtype::U8, Dtype::F16, Dtype::F32, Dtype::F64][usize::from(input.dtype % 4)];
    let elem = dtype.size().expect("whole bytes");
    let count: usize = shape.iter().product();
    let data: Vec<u8> = (0..count * elem).map(|i| (i % 253) as u8).collect();
    let view = TensorView::new(dtype, &shape, &data).expect("consistent");
    split(&view, &shape, input.split);
    let spec = input.spec.0;
    // Naive: the kept positions per dimension.
    let mut kept: Vec<Vec<usize>> = Vec::new();
    let mut valid = spec.len() <= shape.len();
    for (axis, &size) in shape.iter().enumerate() {
        match spec.get(axis).copied().unwrap_or(Select::All) {
            Select::All => kept.push((0..size).collect()),
            Select::Index(i) if i < size => kept.push(vec![i]),
            Select::Index(_) | Select::Range { step: 0, .. } => valid = false,
            Select::Range { start, stop, step } => {
                kept.push((start.min(size)..stop.min(size)).step_by(step).collect())
            }
        }
    }
    let slice = view.slice(&spec);
    assert_eq!(slice.is_ok(), valid, "{spec:?} of {shape:?}");
    let Ok(slice) = slice else { return };
    let mut want = Vec::new();
    if kept.iter().all(|k| !k.is_empty()) {
        let mut index = vec![0usize; kept.len()];
        'outer: loop {
            let offset = index
                .iter()
                .enumerate()
                .fold(0, |acc, (axis, &i)| acc * shape[axis] + kept[axis][i]);
            want.extend_from_slice(&data[offset * elem..(offset + 1) * elem]);
            for axis in (0..kept.len()).rev() {
                index[axis] += 1;
                if index[axis] < kept[axis].len() {
                    continue 'outer;
                }
                index[axis] = 0;
            }
            break;
        }
    }
    let got: Vec<u8> = slice.runs().flatten().copied().collect();
    assert_eq!(got, want);
    assert_eq!(slice.byte_len(), want.len());
});

/// `split(dim, part, parts)` is the range `part * piece..(part + 1) * piece`
/// of `dim`, and fails exactly when that is not a whole piece.
fn split(view: &TensorView<'_>, shape: &[usize], SplitArgs { dim, part, parts }: SplitArgs) {
    let result = view.split(dim, part, parts);
    let Some(&size) = shape.get(dim) else {
        assert!(result.is_err());
        return;
    };
    let divides = parts > 0 && part < parts && size % parts == 0;
    assert_eq!(result.is_ok(), divides, "{dim} {part} {parts} of {shape:?}");
    let Ok(slice) = result else { return };
    let piece = size / parts;
    let mut spec = vec![Select::All; dim + 1];
    spec[dim] = Select::range(part * piece, (part + 1) * piece);
    let same = view.slice(&spec).expect("a whole piece");
    assert_eq!(same.shape(), slice.shape());
    assert_eq!(same.to_vec(), slice.to_vec());
}
