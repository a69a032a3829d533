//! Raw bytes -> full parse, then every view, typed cast, conversion, a
//! slice, and a rewrite that must read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorsafe::half::{bf16, f16};
use tensorsafe::{serialize, SafeTensors, Select, TensorView};

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

fuzz_target!(|data: &[u8]| {
    let Ok(st) = SafeTensors::deserialize(data) else { return };
    for (name, view) in st.iter() {
        assert_eq!(st.tensor(name).ok().map(|v| v.data().as_ptr()), Some(view.data().as_ptr()));
        casts(&view);
        if let Ok(values) = view.to_f32_vec() {
            assert_eq!(values.len(), view.element_count());
        }
        if let Some(&first) = view.shape().first() {
            if let Ok(slice) = view.slice(&[Select::Range { start: first / 2, stop: first, step: 1 }]) {
                assert_eq!(slice.to_vec().len(), slice.byte_len());
            }
        }
    }
    let rewritten = serialize(st.iter(), st.metadata()).expect("a valid file can be rewritten");
    let again = SafeTensors::deserialize(&rewritten).expect("the rewrite is valid");
    assert_eq!(again.metadata(), st.metadata());
    for (name, view) in st.iter() {
        assert_eq!(again.tensor(name).ok(), Some(view));
    }
});
