//! The auto traits and variance of the public types, asserted on this crate
//! and on the real `safetensors` 0.8.0 (`reference`) alike: code that sends
//! a reader to another thread, shares it, catches a panic around it or keeps
//! it in a `yoke::Yoke` (as candle does) compiles with either crate. These
//! are compile-time checks; the tests only make them run.

use std::panic::{RefUnwindSafe, UnwindSafe};

/// Every auto trait the reference's public types have.
fn auto_traits<T: Send + Sync + Unpin + UnwindSafe + RefUnwindSafe>() {}

/// The same, for a value whose type cannot be named (an `impl Iterator`).
fn auto_traits_of<T: Send + Sync + Unpin + UnwindSafe + RefUnwindSafe>(_: &T) {}

/// `Send + Sync + Unpin`, for the error types: `std::io::Error` (inside
/// `IoError`) is neither `UnwindSafe` nor `RefUnwindSafe`.
fn thread_traits<T: Send + Sync + Unpin>() {}

macro_rules! assert_types {
    ($krate:ident) => {{
        use $krate::slice::{InvalidSlice, SliceIterator, TensorIndexer};
        use $krate::tensor::{Metadata, TensorInfo, TensorView};
        use $krate::{Dtype, SafeTensorError, SafeTensors};

        auto_traits::<SafeTensors<'static>>();
        auto_traits::<TensorView<'static>>();
        auto_traits::<Metadata>();
        auto_traits::<TensorInfo>();
        auto_traits::<Dtype>();
        auto_traits::<TensorIndexer>();
        auto_traits::<InvalidSlice>();
        auto_traits::<SliceIterator<'static>>();
        thread_traits::<SafeTensorError>();
        thread_traits::<Result<SafeTensors<'static>, SafeTensorError>>();

        // The iterators the reader hands out, named by their values.
        let bytes = $krate::serialize(
            [(
                "w",
                TensorView::new(Dtype::U8, vec![2, 2], &[1, 2, 3, 4]).unwrap(),
            )],
            None,
        )
        .unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let iter = st.iter();
        auto_traits_of(&iter);
        assert_eq!(iter.count(), 1);
        let tensors = st.tensors();
        auto_traits_of(&tensors);
        auto_traits_of(&tensors.iter());
        let w = st.tensor("w").unwrap();
        let rows = w.sliced_data(&[TensorIndexer::Select(1)]).unwrap();
        auto_traits_of(&rows);
        assert_eq!(rows.flatten().copied().collect::<Vec<u8>>(), [3, 4]);
    }};
}

#[test]
fn the_public_types_have_the_references_auto_traits() {
    assert_types!(safetensors);
    assert_types!(reference);
}

/// Compiles only if `SafeTensors` is covariant in its lifetime.
fn shorten_reader<'short, 'long: 'short>(
    x: safetensors::SafeTensors<'long>,
) -> safetensors::SafeTensors<'short> {
    x
}

/// Compiles only if `TensorView` is covariant in its lifetime.
fn shorten_view<'short, 'long: 'short>(
    x: safetensors::tensor::TensorView<'long>,
) -> safetensors::tensor::TensorView<'short> {
    x
}

/// Compiles only if `SliceIterator` is covariant in its lifetime.
fn shorten_slice<'short, 'long: 'short>(
    x: safetensors::slice::SliceIterator<'long>,
) -> safetensors::slice::SliceIterator<'short> {
    x
}

/// The same three on the reference: they are covariant there too.
fn shorten_reference_reader<'short, 'long: 'short>(
    x: reference::SafeTensors<'long>,
) -> reference::SafeTensors<'short> {
    x
}

fn shorten_reference_view<'short, 'long: 'short>(
    x: reference::tensor::TensorView<'long>,
) -> reference::tensor::TensorView<'short> {
    x
}

fn shorten_reference_slice<'short, 'long: 'short>(
    x: reference::slice::SliceIterator<'long>,
) -> reference::slice::SliceIterator<'short> {
    x
}

#[test]
fn readers_views_and_slices_are_covariant_in_their_lifetime() {
    let bytes = safetensors::serialize(
        [(
            "w",
            safetensors::tensor::TensorView::new(safetensors::Dtype::U8, vec![2], &[1, 2]).unwrap(),
        )],
        None,
    )
    .unwrap();
    let st = shorten_reader(safetensors::SafeTensors::deserialize(&bytes).unwrap());
    let w = shorten_view(st.tensor("w").unwrap());
    let all = shorten_slice(w.sliced_data(&[]).unwrap());
    assert_eq!(all.flatten().copied().collect::<Vec<u8>>(), [1, 2]);

    let view = reference::tensor::TensorView::new(reference::Dtype::U8, vec![2], &[1, 2]).unwrap();
    let bytes = reference::serialize([("w", &view)], None).unwrap();
    let st = shorten_reference_reader(reference::SafeTensors::deserialize(&bytes).unwrap());
    let w = shorten_reference_view(st.tensor("w").unwrap());
    let all = shorten_reference_slice(w.sliced_data(&[]).unwrap());
    assert_eq!(all.flatten().copied().collect::<Vec<u8>>(), [1, 2]);
}
