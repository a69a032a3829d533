//! Raw bytes -> full parse, then every view, typed cast, conversion, a
//! slice, and a rewrite that must read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorsafe::half::{bf16, f16};
use tensorsafe::{serialize, ErrorKind, SafeTensors, Select, TensorView};

fn casts(view: &TensorView<'_>) {
    macro_rules! both {
        ($($ty:ty),*) => {$(
            let copied = view.to_vec::<$ty>();
            if let Ok(slice) = view.as_slice::<$ty>() {
                // Debug text, so that NaN equals NaN.
                assert_eq!(format!("{slice:?}"), format!("{:?}", copied.expect("to_vec works where as_slice does")));
            }
        )*};
    }
    both!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, f16, bf16, bool);
}

/// Slices along the first dimension: the back half succeeds, unless a
/// packed sub-byte dtype would be cut inside a byte (then SubByteSlice);
/// an index past the end, a zero step and one selection too many are
/// InvalidSlice.
fn slices(view: &TensorView<'_>) {
    let shape = view.shape();
    let invalid = |spec: &[Select]| {
        let kind = view.slice(spec).err().map(|e| e.kind());
        assert_eq!(kind, Some(ErrorKind::InvalidSlice), "{spec:?} of {shape:?}");
    };
    invalid(&vec![Select::All; shape.len() + 1]);
    let Some(&first) = shape.first() else { return };
    invalid(&[Select::Index(first)]);
    invalid(&[Select::Range {
        start: 0,
        stop: first,
        step: 0,
    }]);
    let (start, kept) = (first / 2, first - first / 2);
    // Elements per position of the first dimension, and whether the back
    // half starts or ends inside a byte.
    let row = view.element_count().checked_div(first).unwrap_or(0) as u128;
    let bits = view.dtype().bits() as u128;
    let cuts = kept > 0
        && row > 0
        && (row * start as u128 * bits % 8 != 0 || row * kept as u128 * bits % 8 != 0);
    match view.slice(&[Select::range(start, first)]) {
        Ok(slice) => {
            assert!(
                !cuts,
                "{:?} {shape:?}: half from {start} cuts a byte",
                view.dtype()
            );
            let mut dims = shape.to_vec();
            dims[0] = kept;
            assert_eq!(slice.shape(), dims);
            let bytes = view
                .dtype()
                .shape_byte_len(&dims)
                .expect("part of a valid tensor");
            assert_eq!(slice.byte_len() as u64, bytes);
            assert_eq!(slice.to_bytes().len(), slice.byte_len());
        }
        Err(e) => assert!(
            cuts && e.kind() == ErrorKind::SubByteSlice,
            "{shape:?}: {e}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(st) = SafeTensors::deserialize(data) else {
        return;
    };
    for (name, view) in st.iter() {
        assert_eq!(
            st.tensor(name).ok().map(|v| v.data().as_ptr()),
            Some(view.data().as_ptr())
        );
        casts(&view);
        if let Ok(values) = view.to_f32_vec() {
            assert_eq!(values.len(), view.element_count());
        }
        slices(&view);
    }
    let rewritten = serialize(st.iter(), st.metadata()).expect("a valid file can be rewritten");
    let again = SafeTensors::deserialize(&rewritten).expect("the rewrite is valid");
    assert_eq!(again.metadata(), st.metadata());
    for (name, view) in st.iter() {
        assert_eq!(again.tensor(name).ok(), Some(view));
    }
});
