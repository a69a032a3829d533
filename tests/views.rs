//! Typed zero-copy access: dtype, alignment and validity are checked and
//! reported as errors, never panics.

use half::{bf16, f16};
use tensorsafe::{Dtype, ErrorKind, SafeTensors, TensorView};

#[cfg(feature = "std")]
fn le<T: Copy, const N: usize>(values: &[T], to: fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| to(v)).collect()
}

/// Zero-copy access to elements wider than a byte is refused on a
/// big-endian host (the file is little-endian): the error every test of
/// `as_slice` expects there.
const BIG_ENDIAN: bool = cfg!(target_endian = "big");

#[cfg(feature = "std")]
fn refused_on_big_endian<T>(result: tensorsafe::Result<T>) -> Option<T> {
    match result {
        Err(e) if BIG_ENDIAN => {
            assert_eq!(e.kind(), ErrorKind::BigEndianHost, "{e}");
            None
        }
        other => Some(other.unwrap()),
    }
}

#[cfg(feature = "std")]
#[test]
#[cfg_attr(miri, ignore)] // the owned buffer is an anonymous memory map
fn the_owned_file_is_aligned_so_every_type_casts_without_copying() {
    let dir = std::env::temp_dir().join(format!("tensorsafe-views-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("typed.safetensors");
    let f64s = le(&[1.5f64, -2.0], f64::to_le_bytes);
    let f32s = le(&[0.25f32], f32::to_le_bytes);
    let u16s = le(&[7u16, 9, 11], u16::to_le_bytes);
    tensorsafe::serialize_to_file(
        [
            ("f64", TensorView::new(Dtype::F64, [2], &f64s).unwrap()),
            ("f32", TensorView::new(Dtype::F32, [], &f32s).unwrap()),
            ("u16", TensorView::new(Dtype::U16, [3], &u16s).unwrap()),
        ],
        None,
        &path,
    )
    .unwrap();
    let file = tensorsafe::SafeTensorsFile::open(&path).unwrap();
    let view = file.tensor("f64").unwrap();
    assert_eq!(view.to_vec::<f64>().unwrap(), [1.5, -2.0]);
    let Some(slice) = refused_on_big_endian(view.as_slice::<f64>()) else {
        return;
    };
    assert_eq!(slice, &[1.5, -2.0]);
    assert_eq!(
        slice.as_ptr() as *const u8,
        view.data().as_ptr(),
        "not zero-copy"
    );
    assert_eq!(
        file.tensor("f32").unwrap().as_slice::<f32>().unwrap(),
        &[0.25]
    );
    assert_eq!(
        file.tensor("u16").unwrap().as_slice::<u16>().unwrap(),
        &[7, 9, 11]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn typed_access_checks_each_type() {
    macro_rules! check {
        ($ty:ty, $dtype:ident, $values:expr) => {{
            let values: Vec<$ty> = $values;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let shape = [values.len()];
            let view = TensorView::new(Dtype::$dtype, &shape, &bytes).unwrap();
            assert_eq!(view.to_vec::<$ty>().unwrap(), values);
            match view.as_slice::<$ty>() {
                Ok(slice) => assert_eq!(slice, values.as_slice()),
                Err(e) if BIG_ENDIAN && std::mem::size_of::<$ty>() > 1 => {
                    assert_eq!(e.kind(), ErrorKind::BigEndianHost)
                }
                Err(e) => assert_eq!(e.kind(), ErrorKind::Misaligned),
            }
            // Any other element type is a dtype mismatch, not a reinterpretation.
            if Dtype::$dtype != Dtype::U8 {
                assert_eq!(
                    view.as_slice::<u8>().unwrap_err().kind(),
                    ErrorKind::DtypeMismatch
                );
                assert_eq!(
                    view.to_vec::<u8>().unwrap_err().kind(),
                    ErrorKind::DtypeMismatch
                );
            }
        }};
    }
    check!(u8, U8, vec![0, 255, 7]);
    check!(i8, I8, vec![-128, 127, 0]);
    check!(u16, U16, vec![0, 65535]);
    check!(i16, I16, vec![-32768, 5]);
    check!(u32, U32, vec![u32::MAX, 1]);
    check!(i32, I32, vec![i32::MIN, -1]);
    check!(u64, U64, vec![u64::MAX, 3]);
    check!(i64, I64, vec![i64::MIN, 9]);
    check!(f32, F32, vec![1.0, f32::NAN.copysign(1.0).min(0.0), -0.0]);
    check!(f64, F64, vec![1e300, -2.5]);
    check!(f16, F16, vec![f16::from_f32(0.5), f16::MAX]);
    check!(bf16, BF16, vec![bf16::from_f32(-3.0), bf16::MIN_POSITIVE]);
}

#[test]
fn misaligned_data_is_an_error_and_to_vec_still_works() {
    let mut bytes = [0u8; 9];
    bytes[1..5].copy_from_slice(&1.0f32.to_le_bytes());
    bytes[5..9].copy_from_slice(&2.0f32.to_le_bytes());
    // One of the two offsets is misaligned for f32.
    let a = TensorView::new(Dtype::F32, [2], &bytes[1..9]).unwrap();
    let b = TensorView::new(Dtype::F32, [2], &bytes[0..8]).unwrap();
    let misaligned = [a.clone(), b]
        .into_iter()
        .find(|v| v.data().as_ptr() as usize % 4 != 0)
        .unwrap();
    let expected = if BIG_ENDIAN {
        ErrorKind::BigEndianHost
    } else {
        ErrorKind::Misaligned
    };
    assert_eq!(misaligned.as_slice::<f32>().unwrap_err().kind(), expected);
    assert_eq!(a.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
}

#[test]
fn bools_must_be_zero_or_one() {
    let view = TensorView::new(Dtype::BOOL, [3], &[0, 1, 1]).unwrap();
    assert_eq!(view.as_slice::<bool>().unwrap(), &[false, true, true]);
    let bad = TensorView::new(Dtype::BOOL, [2], &[1, 2]).unwrap();
    assert_eq!(
        bad.as_slice::<bool>().unwrap_err().kind(),
        ErrorKind::InvalidBool
    );
    assert_eq!(
        bad.to_vec::<bool>().unwrap_err().kind(),
        ErrorKind::InvalidBool
    );
}

#[test]
fn empty_tensors_give_empty_slices_whatever_the_address() {
    let bytes = [0u8; 3];
    let view = TensorView::new(Dtype::F64, [0, 3], &bytes[1..1]).unwrap();
    assert_eq!(view.as_slice::<f64>().unwrap(), &[] as &[f64]);
    assert_eq!(view.to_f32_vec().unwrap(), Vec::<f32>::new());
}

#[test]
fn half_precision_converts_to_f32() {
    let values = [f16::from_f32(1.5), f16::from_f32(-0.25)];
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F16, [2], &bytes).unwrap();
    assert_eq!(view.to_f32_vec().unwrap(), vec![1.5, -0.25]);
    let values = [bf16::from_f32(3.0)];
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::BF16, [], &bytes).unwrap();
    assert_eq!(view.to_f32_vec().unwrap(), vec![3.0]);
    let view = TensorView::new(Dtype::I32, [1], &[0; 4]).unwrap();
    assert_eq!(
        view.to_f32_vec().unwrap_err().kind(),
        ErrorKind::UnsupportedConversion
    );
}

#[test]
fn missing_tensor_names_the_tensor() {
    let bytes = tensorsafe::serialize(Vec::<(&str, TensorView<'_>)>::new(), None).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let err = st.tensor("nope").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TensorNotFound);
    assert_eq!(err.tensor(), Some("nope"));
}

#[test]
fn from_slice_infers_the_dtype_and_checks_the_count() {
    let values = [1.5f32, -2.0, 0.25, 8.0];
    assert_eq!(
        TensorView::from_slice([2], &[true, false]).unwrap().data(),
        &[1, 0]
    );
    assert_eq!(
        TensorView::from_slice([2], &[-1i8, 1]).unwrap().data(),
        &[0xff, 1]
    );
    if BIG_ENDIAN {
        // The elements lie in memory big-endian: no view can borrow them.
        let err = TensorView::from_slice([2, 2], &values).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BigEndianHost);
        return;
    }
    let view = TensorView::from_slice([2, 2], &values).unwrap();
    assert_eq!((view.dtype(), view.shape()), (Dtype::F32, &[2usize, 2][..]));
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(view.data(), bytes.as_slice());
    assert_eq!(view.to_vec::<f32>().unwrap(), values);
    let halves = [bf16::from_f32(1.0), bf16::from_f32(-0.5)];
    assert_eq!(
        TensorView::from_slice(vec![2], &halves).unwrap().dtype(),
        Dtype::BF16
    );
    assert_eq!(
        TensorView::from_slice([1], &[f16::ONE]).unwrap().dtype(),
        Dtype::F16
    );
    assert_eq!(
        TensorView::from_slice([2], &[true, false]).unwrap().data(),
        &[1, 0]
    );
    assert_eq!(
        TensorView::from_slice([3], &[-1i64, 0, 1]).unwrap().dtype(),
        Dtype::I64
    );
    let err = TensorView::from_slice([3], &values).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidView);
}

#[test]
fn from_slice_counts_elements_not_bytes() {
    let detail = |shape: &[usize], n: usize| {
        let values = vec![0u8; n]; // one byte each: the same on every host
        let err = TensorView::from_slice(shape, &values).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidView);
        err.detail().unwrap().to_owned()
    };
    assert_eq!(detail(&[2, 2], 3), "3 elements given, shape [2, 2] needs 4");
    assert_eq!(detail(&[2], 1), "1 element given, shape [2] needs 2");
    // A shape with more elements than u64 counts is still an overflow.
    let err = TensorView::from_slice([usize::MAX, usize::MAX, 4], &[0u8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overflow);
}

#[test]
fn the_shape_is_anything_that_reads_as_a_slice_of_usize() {
    use std::borrow::Cow;
    let data = [0u8; 4];
    let want = TensorView::new(Dtype::U8, vec![2, 2], &data).unwrap();
    let vec = vec![2usize, 2];
    let boxed: Box<[usize]> = vec![2, 2].into_boxed_slice();
    let cow: Cow<'_, [usize]> = Cow::Borrowed(&vec);
    #[allow(clippy::needless_borrows_for_generic_args)] // the borrowed form is the point
    let borrowed_array = TensorView::new(Dtype::U8, &[2, 2], &data).unwrap();
    let views = [
        TensorView::new(Dtype::U8, [2, 2], &data).unwrap(),
        borrowed_array,
        TensorView::new(Dtype::U8, &vec, &data).unwrap(),
        TensorView::new(Dtype::U8, &vec[..], &data).unwrap(),
        TensorView::new(Dtype::U8, &boxed, &data).unwrap(),
        TensorView::new(Dtype::U8, boxed.clone(), &data).unwrap(),
        TensorView::new(Dtype::U8, cow.clone(), &data).unwrap(),
        TensorView::new(Dtype::U8, &cow, &data).unwrap(),
        TensorView::from_slice(&boxed, &data).unwrap(),
        TensorView::from_slice(vec.clone(), &data).unwrap(),
    ];
    for view in views {
        assert_eq!(view, want);
    }
    let scalar = TensorView::new(Dtype::U8, [], &data[..1]).unwrap();
    assert_eq!(scalar.shape(), &[] as &[usize]);
    let seven = [7u8];
    assert_eq!(
        TensorView::from_slice([], &seven).unwrap().shape(),
        scalar.shape()
    );
}

#[test]
fn new_takes_the_shape_by_value_or_borrowed() {
    let data = [0u8; 6];
    let shape: Vec<usize> = vec![3, 2];
    let by_value = TensorView::new(Dtype::U8, shape.clone(), &data).unwrap();
    assert_eq!(by_value, TensorView::new(Dtype::U8, &shape, &data).unwrap());
    assert_eq!(
        by_value,
        TensorView::new(Dtype::U8, &shape[..], &data).unwrap()
    );
    assert_eq!(by_value, TensorView::new(Dtype::U8, [3, 2], &data).unwrap());
    assert_eq!(by_value.shape(), &[3, 2]);
    assert_eq!(
        TensorView::new(Dtype::U8, vec![4, 2], &data)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidView
    );
}

#[test]
fn a_dtype_mismatch_says_what_was_asked_and_what_the_tensor_is() {
    let view = TensorView::new(Dtype::F32, [2], &[0; 8]).unwrap();
    let err = view.to_vec::<f64>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DtypeMismatch);
    assert_eq!(err.detail(), Some("tensor is F32, f64 needs F64"));
}

#[test]
fn asking_for_bytes_of_another_dtype_points_to_the_raw_bytes() {
    let view = TensorView::new(Dtype::F32, [2], &[0; 8]).unwrap();
    for err in [
        view.to_vec::<u8>().unwrap_err(),
        view.as_slice::<u8>().map(drop).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::DtypeMismatch);
        assert_eq!(
            err.detail(),
            Some("tensor is F32, u8 needs U8 (`data` gives the raw bytes)")
        );
    }
    assert_eq!(
        view.to_vec::<i8>().unwrap_err().detail(),
        Some("tensor is F32, i8 needs I8 (`data` gives the raw bytes)")
    );
    let flags = TensorView::new(Dtype::U8, [1], &[1]).unwrap();
    assert_eq!(
        flags.to_vec::<bool>().unwrap_err().detail(),
        Some("tensor is U8, bool needs BOOL")
    );
}

#[cfg(feature = "std")]
#[test]
fn the_file_handle_answers_the_readers_questions() {
    use tensorsafe::{serialize_to_file, Metadata, SafeTensorsFile, Writer};
    let dir = std::env::temp_dir().join(format!("tensorsafe-views-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    let (a, b) = ([1u8, 2, 3], [1.0f32, 2.0]);
    let b_bytes = le(&b, f32::to_le_bytes);
    let mut metadata = Metadata::new();
    metadata.insert("format".into(), "pt".into());
    Writer::new()
        .metadata(&metadata)
        .to_file(
            [
                ("a", TensorView::from_slice([3], &a).unwrap()),
                ("b", TensorView::new(Dtype::F32, [2], &b_bytes).unwrap()),
            ],
            &path,
        )
        .unwrap();
    serialize_to_file(Vec::<(&str, TensorView<'_>)>::new(), None, dir.join("e")).unwrap();
    for file in [
        SafeTensorsFile::open(&path).unwrap(),
        // SAFETY: this test's own file; nothing writes it while mapped.
        unsafe { SafeTensorsFile::mmap(&path).unwrap() },
    ] {
        let reader = file.reader();
        assert_eq!(file.tensor("b").unwrap(), reader.tensor("b").unwrap());
        assert_eq!(file.tensor("b").unwrap().to_vec::<f32>().unwrap(), b);
        assert_eq!(
            file.tensor("c").unwrap_err().kind(),
            ErrorKind::TensorNotFound
        );
        assert!(file.iter().eq(reader.iter()));
        assert_eq!(file.iter().len(), 2);
        assert_eq!(file.names(), reader.names());
        assert_eq!(file.names(), ["b", "a"]);
        assert_eq!(file.tensors(), reader.tensors());
        assert_eq!(file.tensors()[1].0, "a");
        assert_eq!((file.len(), file.is_empty()), (2, false));
        assert_eq!(file.metadata(), Some(&metadata));
        assert!(std::ptr::eq(file.header(), reader.header()));
    }
    let empty = SafeTensorsFile::open(dir.join("e")).unwrap();
    assert_eq!((empty.len(), empty.is_empty()), (0, true));
    assert!(empty.names().is_empty() && empty.tensors().is_empty() && empty.metadata().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
