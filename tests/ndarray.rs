//! The `ndarray` feature: zero-copy array views where the bytes allow,
//! copies where they do not, and arrays of any layout written as tensors.
#![cfg(feature = "ndarray")]

use ndarray::{array, Array3, ArrayD};
use tensorsafe::{serialize, Dtype, ErrorKind, SafeTensors, TensorView};

#[test]
fn aligned_views_borrow_and_misaligned_ones_copy() {
    let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let file = serialize(
        [("w", TensorView::new(Dtype::F32, [3, 4], &bytes).unwrap())],
        None,
    )
    .unwrap();
    let st = SafeTensors::deserialize(&file).unwrap();
    let w = st.tensor("w").unwrap();
    let view = w.as_ndarray::<f32>().unwrap();
    assert_eq!(
        view.as_ptr() as usize,
        w.data().as_ptr() as usize,
        "borrowed"
    );
    assert_eq!(view.shape(), &[3, 4]);
    assert_eq!(view[[2, 3]], 5.5);
    assert!(w.to_ndarray::<f32>().unwrap().is_view());

    // The same bytes one byte off: no view, but a correct copy.
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let odd = TensorView::new(Dtype::F32, [3, 4], &shifted[1..]).unwrap();
    if odd.data().as_ptr() as usize % 4 != 0 {
        assert_eq!(
            odd.as_ndarray::<f32>().unwrap_err().kind(),
            ErrorKind::Misaligned
        );
        let copy = odd.to_ndarray::<f32>().unwrap();
        assert!(copy.is_owned());
        assert_eq!(copy, view.view());
    }
    // The wrong element type is an error either way.
    assert_eq!(
        w.to_ndarray::<i32>().unwrap_err().kind(),
        ErrorKind::DtypeMismatch
    );
}

#[test]
fn arrays_of_any_layout_write_as_row_major_tensors() {
    let a: Array3<u16> =
        Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (100 * i + 10 * j + k) as u16);
    let permuted = a.view().permuted_axes([2, 0, 1]);
    assert!(permuted.as_slice().is_none());
    let every_other = a.slice(ndarray::s![.., ..;2, ..]);
    let scalar = ndarray::arr0(7i64);
    let bools = array![true, false, true];

    let file = serialize(
        [
            ("a", a.view()),
            ("permuted", permuted),
            ("every_other", every_other),
        ],
        None,
    )
    .unwrap();
    let st = SafeTensors::deserialize(&file).unwrap();
    for (name, expected) in [
        ("a", a.view()),
        ("permuted", permuted),
        ("every_other", every_other),
    ] {
        let back: ArrayD<u16> = st
            .tensor(name)
            .unwrap()
            .to_ndarray::<u16>()
            .unwrap()
            .into_owned();
        assert_eq!(back, expected.into_dyn(), "{name}");
    }
    assert_eq!(st.tensor("permuted").unwrap().shape(), &[4, 2, 3]);

    let file = serialize([("s", &scalar)], None).unwrap();
    let st = SafeTensors::deserialize(&file).unwrap();
    let s = st.tensor("s").unwrap();
    assert_eq!((s.dtype(), s.shape()), (Dtype::I64, &[][..]));
    assert_eq!(
        s.to_ndarray::<i64>()
            .unwrap()
            .into_owned()
            .into_dimensionality::<ndarray::Ix0>()
            .unwrap()[()],
        7
    );

    let file = serialize([("b", bools.view())], None).unwrap();
    let st = SafeTensors::deserialize(&file).unwrap();
    let b = st.tensor("b").unwrap().to_ndarray::<bool>().unwrap();
    assert_eq!(b.iter().filter(|&&x| x).count(), 2);
}
