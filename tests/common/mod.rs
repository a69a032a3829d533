//! Generators shared by the property tests.
#![allow(dead_code)] // each test binary uses a different part

pub mod quirks;
pub mod temp;

use proptest::prelude::*;
use tensorsafe::{Dtype, TensorView};

/// A tensor to write: name, dtype, shape and bytes that agree.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Tensor {
    pub fn view(&self) -> TensorView<'_> {
        TensorView::new(self.dtype, &self.shape, &self.data)
            .expect("generated tensors are consistent")
    }
}

/// Names: mostly checkpoint-like, some with characters JSON must escape.
pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,3}(\\.[a-z0-9_]{1,6}){0,3}",
        1 => "[\"\\\\/\\n\\t\\u{1}\\u{1f}\\u{7f}é漢😀 a]{0,6}",
    ]
}

/// Names of 6 to 12 characters before any suffix, so that a byte-level
/// mutation rarely turns one name into another.
pub fn long_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{6,12}(\\.[a-z0-9_]{1,6}){0,3}",
        1 => "[\"\\\\/\\n\\t\\u{1}\\u{1f}\\u{7f}é漢😀 a]{6,12}",
    ]
}

/// Any dtype, rank 0 to 4, dimensions 0 to 4 (so empty tensors occur).
pub fn tensor() -> impl Strategy<Value = Tensor> {
    tensor_named(name())
}

/// [`tensor`] with names from `names`.
pub fn tensor_named(names: impl Strategy<Value = String>) -> impl Strategy<Value = Tensor> {
    (
        names,
        prop::sample::select(Dtype::ALL.to_vec()),
        prop::collection::vec(0usize..5, 0..=4),
        any::<u64>(),
    )
        .prop_map(|(name, dtype, mut shape, seed)| {
            // Sub-byte dtypes need a whole number of bytes: make the last dim fit.
            let per = match dtype.bits() {
                4 => 2,
                6 => 4,
                _ => 1,
            };
            if per > 1 {
                match shape.last_mut() {
                    Some(last) => *last *= per,
                    None => shape.push(per),
                }
            }
            let len = dtype.shape_byte_len(&shape).expect("whole bytes");
            let data = (0..len)
                .map(|i| (seed >> (i % 8 * 8)) as u8 ^ i as u8)
                .collect();
            Tensor {
                name,
                dtype,
                shape,
                data,
            }
        })
}

/// Up to `max` tensors with distinct names, none called `__metadata__`.
pub fn tensors(max: usize) -> impl Strategy<Value = Vec<Tensor>> {
    tensors_named(max, name())
}

/// [`tensors`] with names from `names`.
pub fn tensors_named(
    max: usize,
    names: impl Strategy<Value = String>,
) -> impl Strategy<Value = Vec<Tensor>> {
    prop::collection::vec(tensor_named(names), 0..max).prop_map(|mut ts| {
        let mut seen = std::collections::HashSet::new();
        ts.retain(|t| t.name != "__metadata__" && seen.insert(t.name.clone()));
        ts
    })
}

/// `(name, view)` pairs for the writer.
pub fn views(ts: &[Tensor]) -> Vec<(&str, TensorView<'_>)> {
    ts.iter().map(|t| (t.name.as_str(), t.view())).collect()
}

/// Every golden file (`tests/data/golden/*.safetensors`): name and bytes,
/// sorted by name.
pub fn golden_files() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the golden files")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "golden files missing");
    files
}
