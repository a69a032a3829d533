//! Lazy slicing against a naive element-by-element gather.

use proptest::prelude::*;
use tensorsafe::{Dtype, ErrorKind, Select, TensorView};

fn select() -> impl Strategy<Value = Select> {
    prop_oneof![
        2 => Just(Select::All),
        2 => (0usize..6).prop_map(Select::Index),
        4 => (0usize..8, 0usize..8, 0usize..4).prop_map(|(start, stop, step)| Select::Range { start, stop, step }),
    ]
}

/// The positions kept along one dimension, or None for an invalid selection.
fn positions(select: Select, size: usize) -> Option<Vec<usize>> {
    match select {
        Select::All => Some((0..size).collect()),
        Select::Index(i) => (i < size).then(|| vec![i]),
        Select::Range { step: 0, .. } => None,
        Select::Range { start, stop, step } => {
            Some((start.min(size)..stop.min(size)).step_by(step).collect())
        }
    }
}

/// Naive gather: every selected multi-index in row-major order.
fn naive(
    shape: &[usize],
    spec: &[Select],
    elem: usize,
    data: &[u8],
) -> Option<(Vec<usize>, Vec<u8>)> {
    if spec.len() > shape.len() {
        return None;
    }
    let mut kept = Vec::new();
    let mut result_shape = Vec::new();
    for (axis, &size) in shape.iter().enumerate() {
        let select = spec.get(axis).copied().unwrap_or(Select::All);
        let p = positions(select, size)?;
        if !matches!(select, Select::Index(_)) {
            result_shape.push(p.len());
        }
        kept.push(p);
    }
    let mut out = Vec::new();
    let mut index = vec![0usize; shape.len()];
    if kept.iter().all(|p| !p.is_empty()) {
        loop {
            let mut offset = 0;
            for (axis, &i) in index.iter().enumerate() {
                offset = offset * shape[axis] + kept[axis][i];
            }
            out.extend_from_slice(&data[offset * elem..(offset + 1) * elem]);
            let mut axis = shape.len();
            loop {
                if axis == 0 {
                    return Some((result_shape, out));
                }
                axis -= 1;
                index[axis] += 1;
                if index[axis] < kept[axis].len() {
                    break;
                }
                index[axis] = 0;
            }
        }
    }
    Some((result_shape, out))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn runs_equal_a_naive_gather(
        shape in prop::collection::vec(0usize..6, 0..=4),
        spec in prop::collection::vec(select(), 0..=5),
        dtype in prop::sample::select(vec![Dtype::U8, Dtype::BF16, Dtype::F32, Dtype::C64]),
    ) {
        let elem = dtype.whole_bytes().unwrap();
        let count: usize = shape.iter().product();
        let data: Vec<u8> = (0..count * elem).map(|i| (i * 7 % 251) as u8).collect();
        let view = TensorView::new(dtype, &shape, &data).unwrap();
        match (view.slice(&spec), naive(&shape, &spec, elem, &data)) {
            (Ok(slice), Some((want_shape, want))) => {
                prop_assert_eq!(slice.shape(), want_shape.as_slice());
                prop_assert_eq!(slice.byte_len(), want.len());
                let joined: Vec<u8> = slice.runs().flatten().copied().collect();
                prop_assert_eq!(&joined, &want);
                let mut buffer = vec![0u8; want.len()];
                slice.copy_into(&mut buffer).unwrap();
                prop_assert_eq!(&buffer, &want);
                prop_assert!(slice.runs().all(|r| !r.is_empty()));
            }
            (Err(e), None) => prop_assert_eq!(e.kind(), ErrorKind::InvalidSlice),
            (Ok(_), None) => prop_assert!(false, "accepted an invalid selection {:?} of {:?}", spec, shape),
            (Err(e), Some(_)) => prop_assert!(false, "refused a valid selection {:?} of {:?}: {}", spec, shape, e),
        }
    }
}

#[test]
fn a_contiguous_selection_is_one_run() {
    let data: Vec<u8> = (0..60).collect();
    let view = TensorView::new(Dtype::U8, [3, 4, 5], &data).unwrap();
    let rows = view.slice(&[Select::range(1, 3)]).unwrap();
    assert_eq!(rows.runs().count(), 1);
    assert_eq!(rows.runs().next().unwrap(), &data[20..60]);
    let strided = view
        .slice(&[
            Select::All,
            Select::Range {
                start: 0,
                stop: 4,
                step: 2,
            },
        ])
        .unwrap();
    assert_eq!(strided.runs().count(), 6);
    assert_eq!(strided.shape(), &[3, 2, 5]);
}

#[test]
fn bounds_follow_numpy_and_never_panic() {
    let data = [0u8; 6];
    let view = TensorView::new(Dtype::U8, [2, 3], &data).unwrap();
    let big = Select::Range {
        start: usize::MAX,
        stop: usize::MAX,
        step: usize::MAX,
    };
    assert_eq!(view.slice(&[big]).unwrap().shape(), &[0, 3]);
    let reversed = Select::Range {
        start: 2,
        stop: 1,
        step: 1,
    };
    assert_eq!(view.slice(&[Select::All, reversed]).unwrap().byte_len(), 0);
    assert_eq!(
        view.slice(&[Select::Index(usize::MAX)]).unwrap_err().kind(),
        ErrorKind::InvalidSlice
    );
    assert_eq!(
        view.slice(&[Select::All, Select::All, Select::All])
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidSlice
    );
    let wide = Select::Range {
        start: 0,
        stop: usize::MAX,
        step: usize::MAX,
    };
    assert_eq!(view.slice(&[wide]).unwrap().shape(), &[1, 3]);
    let scalar = TensorView::new(Dtype::F32, [], &[0; 4]).unwrap();
    assert_eq!(scalar.slice(&[]).unwrap().to_bytes(), vec![0; 4]);
}

#[test]
fn sub_byte_slices_must_not_cut_a_byte() {
    let data = [0x21u8, 0x43, 0x65, 0x87];
    let f4 = TensorView::new(Dtype::F4, [2, 4], &data).unwrap();
    assert_eq!(
        f4.slice(&[Select::Index(1)]).unwrap().to_bytes(),
        vec![0x65, 0x87]
    );
    assert_eq!(
        f4.slice(&[Select::All, Select::range(2, 4)])
            .unwrap()
            .to_bytes(),
        vec![0x43, 0x87]
    );
    let err = f4.slice(&[Select::All, Select::range(1, 3)]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SubByteSlice);
    let err = f4.slice(&[Select::All, Select::Index(1)]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SubByteSlice);
}

#[test]
fn a_size_one_dimension_picked_whole_by_any_step_cuts_no_byte() {
    // Every position kept: the rows of 5 F4 values join into whole bytes,
    // whatever the step on a dimension of size 1, or an index into it.
    let data = [0x21u8, 0x43, 0x65, 0x87, 0xa9];
    let f4 = TensorView::new(Dtype::F4, [1, 2, 1, 5], &data).unwrap();
    let every_step = Select::Range {
        start: 0,
        stop: 1,
        step: 5,
    };
    for spec in [
        vec![Select::Index(0), Select::All, every_step],
        vec![Select::All, Select::All, Select::Index(0)],
        vec![Select::range(0, 1), Select::All, every_step, Select::All],
    ] {
        let slice = f4.slice(&spec).unwrap();
        assert_eq!(slice.to_bytes(), data, "{spec:?}");
        assert_eq!(slice.runs().count(), 1, "{spec:?}");
    }
    // Rows of one F4 value, two rows: a whole byte only together.
    let f4 = TensorView::new(Dtype::F4, [2, 1], &data[..1]).unwrap();
    let spec = [
        Select::range(0, 2),
        Select::Range {
            start: 0,
            stop: 1,
            step: 3,
        },
    ];
    assert_eq!(f4.slice(&spec).unwrap().to_bytes(), [0x21]);
    // Half of them is still half a byte.
    let err = f4.slice(&[Select::Index(1)]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SubByteSlice);
}

#[test]
fn split_gives_equal_parts_for_tensor_parallelism() {
    let data: Vec<u8> = (0..24).collect();
    let w = TensorView::new(Dtype::U8, [4, 6], &data).unwrap();
    let parts: Vec<Vec<u8>> = (0..3)
        .map(|k| w.split(1, k, 3).unwrap().to_bytes())
        .collect();
    assert_eq!(parts[0], vec![0, 1, 6, 7, 12, 13, 18, 19]);
    assert_eq!(
        w.split(0, 1, 2).unwrap().to_bytes(),
        (12..24).collect::<Vec<u8>>()
    );
    assert_eq!(
        w.split(1, 0, 4).unwrap_err().kind(),
        ErrorKind::InvalidSlice
    );
    assert_eq!(
        w.split(2, 0, 1).unwrap_err().kind(),
        ErrorKind::InvalidSlice
    );
    assert_eq!(
        w.split(0, 2, 2).unwrap_err().kind(),
        ErrorKind::InvalidSlice
    );
}

#[test]
fn slices_give_typed_elements_as_views_do() {
    let values: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let w = TensorView::new(Dtype::F32, [3, 4], &bytes).unwrap();
    let column = w.slice(&[Select::All, Select::Index(1)]).unwrap();
    assert_eq!(column.to_vec::<f32>().unwrap(), [1.0, 5.0, 9.0]);
    assert_eq!(column.to_f32_vec().unwrap(), [1.0, 5.0, 9.0]);
    assert_eq!(column.to_f64_vec().unwrap(), [1.0, 5.0, 9.0]);
    let ids = TensorView::new(Dtype::I16, [2, 2], &[1, 0, 0xfe, 0xff, 3, 0, 4, 0]).unwrap();
    let first_column = ids.slice(&[Select::All, Select::Index(0)]).unwrap();
    assert_eq!(first_column.to_f64_vec().unwrap(), [1.0, 3.0]);
    assert_eq!(first_column.to_vec::<i16>().unwrap(), [1, 3]);
    assert_eq!(column.to_bytes().len(), 12);
    assert_eq!(
        column.to_vec::<u32>().unwrap_err().kind(),
        ErrorKind::DtypeMismatch
    );
    // Typed reads copy, so the bytes' alignment never matters: an F32
    // tensor one byte into a byte buffer reads wherever that lands.
    let mut odd = [0u8; 1 + 16];
    for (i, v) in [1.0f32, 2.0, 3.0, 4.0].iter().enumerate() {
        odd[1 + 4 * i..5 + 4 * i].copy_from_slice(&v.to_le_bytes());
    }
    let view = TensorView::new(Dtype::F32, [2, 2], &odd[1..]).unwrap();
    let right = view.split(1, 1, 2).unwrap();
    assert_eq!(right.to_vec::<f32>().unwrap(), [2.0, 4.0]);
    let bools = TensorView::new(Dtype::BOOL, [2], &[1, 2]).unwrap();
    assert_eq!(
        bools
            .slice(&[Select::from(..)])
            .unwrap()
            .to_vec::<bool>()
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidBool
    );
}

#[test]
fn selections_convert_from_indices_and_ranges() {
    assert_eq!(Select::from(3), Select::Index(3));
    assert_eq!(Select::from(1..4), Select::range(1, 4));
    assert_eq!(Select::from(2..), Select::range(2, usize::MAX));
    assert_eq!(Select::from(..5), Select::range(0, 5));
    assert_eq!(Select::from(1..=4), Select::range(1, 5));
    assert_eq!(Select::from(..=4), Select::range(0, 5));
    assert_eq!(Select::from(..), Select::All);
    assert_eq!(Select::from(0..=usize::MAX), Select::range(0, usize::MAX));
    let data: Vec<u8> = (0..24).collect();
    let view = TensorView::new(Dtype::U8, [2, 3, 4], &data).unwrap();
    let spec = [Select::from(..), Select::from(1..=2), 0.into()];
    assert_eq!(
        view.slice(&spec).unwrap().to_vec::<u8>().unwrap(),
        [4, 8, 16, 20]
    );
    let tail = view
        .slice(&[1.into(), (2..).into(), (..=1).into()])
        .unwrap();
    assert_eq!(tail.to_vec::<u8>().unwrap(), [20, 21]);
}

#[test]
fn an_exhausted_inclusive_range_selects_nothing() {
    let data: Vec<u8> = (0..8).collect();
    let view = TensorView::new(Dtype::U8, [8], &data).unwrap();
    let mut range = 3..=5;
    range.by_ref().for_each(drop);
    let slice = view.slice(&[range.into()]).unwrap();
    assert_eq!(slice.shape(), &[0]);
    assert_eq!(slice.to_vec::<u8>().unwrap(), Vec::<u8>::new());
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = 5..=3;
    assert_eq!(view.slice(&[backwards.into()]).unwrap().shape(), &[0]);
    assert_eq!(
        view.slice(&[(5..=5).into()])
            .unwrap()
            .to_vec::<u8>()
            .unwrap(),
        [5]
    );
}

#[test]
fn asking_a_selection_for_bytes_of_another_dtype_points_to_to_bytes() {
    let data = [0u8; 8];
    let view = TensorView::new(Dtype::F32, [2], &data).unwrap();
    let slice = view.slice(&[Select::All]).unwrap();
    let err = slice.to_vec::<u8>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DtypeMismatch);
    assert_eq!(
        err.detail(),
        Some("tensor is F32, u8 needs U8 (`to_bytes` gives the raw bytes)")
    );
    assert_eq!(
        slice.to_vec::<i8>().unwrap_err().detail(),
        Some("tensor is F32, i8 needs I8 (`to_bytes` gives the raw bytes)")
    );
    assert_eq!(
        slice.to_vec::<f64>().unwrap_err().detail(),
        Some("tensor is F32, f64 needs F64")
    );
    assert_eq!(slice.to_bytes(), data);
}

#[test]
fn split_errors_say_why() {
    let data = [0u8; 12];
    let w = TensorView::new(Dtype::U8, [2, 6], &data).unwrap();
    let detail = |dim, part, parts| {
        let err = w.split(dim, part, parts).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidSlice);
        err.detail().unwrap().to_owned()
    };
    assert_eq!(
        detail(1, 1, 4),
        "dimension 1 of size 6 does not divide into 4 parts"
    );
    assert_eq!(
        detail(1, 2, 2),
        "part 2 of 2: parts are numbered from 0, so the last is 1"
    );
    assert_eq!(detail(1, 0, 0), "dimension 1 cannot be split into 0 parts");
    assert_eq!(
        detail(2, 0, 2),
        "dimension 2 does not exist (the tensor has 2 dimensions)"
    );
    let row = TensorView::new(Dtype::U8, [12], &data).unwrap();
    assert_eq!(
        row.split(1, 0, 2).unwrap_err().detail(),
        Some("dimension 1 does not exist (the tensor has 1 dimension)")
    );
    assert_eq!(w.split(1, 2, 3).unwrap().shape(), &[2, 2]);
}

#[test]
fn a_buffer_of_the_wrong_length_is_the_callers() {
    let data: Vec<u8> = (0..8).collect();
    let w = TensorView::new(Dtype::U8, [2, 4], &data).unwrap();
    let half = w.split(1, 0, 2).unwrap();
    let mut out = [0u8; 5];
    let err = half.copy_into(&mut out).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BufferLength);
    assert_eq!(
        err.to_string(),
        "destination buffer has the wrong length: 5 bytes given, the slice has 4"
    );
    half.copy_into(&mut out[..4]).unwrap();
    assert_eq!(out[..4], [0, 1, 4, 5]);
}
