//! Workloads shared by the benchmarks and the speed examples. Here: the
//! header-heavy one of `benches/parse.rs` and `examples/parse_speed.rs`
//! (checkpoint-style names, mixed dtypes, tiny shapes, so the file is
//! mostly header); in [`load`], the pieces of the load benchmarks.
#![allow(dead_code)] // each user takes what it needs

use tensorsafe::{Dtype, TensorView};

pub mod alternate;
pub mod load;

/// `count` names like `model.layers.3.mlp.experts.17.up_proj.weight`, with
/// dtypes cycling through BF16, F32, F16 and U8, each of shape [2, 4].
pub fn model(count: usize) -> (Vec<String>, Vec<Dtype>) {
    let parts = ["gate_proj", "up_proj", "down_proj"];
    let dtypes = [Dtype::BF16, Dtype::F32, Dtype::F16, Dtype::U8];
    let names = (0..count)
        .map(|i| {
            let (layer, expert, part) = (i / 384, (i / 3) % 128, parts[i % 3]);
            format!("model.layers.{layer}.mlp.experts.{expert}.{part}.weight")
        })
        .collect();
    let specs = (0..count).map(|i| dtypes[i % dtypes.len()]).collect();
    (names, specs)
}

/// The shape of every tensor.
pub const SHAPE: [usize; 2] = [2, 4];

/// Views of the model's tensors over a shared zero buffer of 64 bytes.
pub fn views<'a>(dtypes: &[Dtype], zeros: &'a [u8; 64]) -> Vec<TensorView<'a>> {
    dtypes
        .iter()
        .map(|&dtype| {
            let len = dtype.shape_byte_len(&SHAPE).expect("small shape");
            TensorView::new(dtype, SHAPE, &zeros[..len as usize]).expect("consistent view")
        })
        .collect()
}

/// The same views for the reference crate.
pub fn reference_views<'a>(views: &[TensorView<'a>]) -> Vec<safetensors::tensor::TensorView<'a>> {
    views
        .iter()
        .map(|v| {
            let dtype = match v.dtype() {
                Dtype::BF16 => safetensors::Dtype::BF16,
                Dtype::F32 => safetensors::Dtype::F32,
                Dtype::F16 => safetensors::Dtype::F16,
                _ => safetensors::Dtype::U8,
            };
            safetensors::tensor::TensorView::new(dtype, v.shape().to_vec(), v.data())
                .expect("consistent view")
        })
        .collect()
}

/// The model serialized: its names and the file's bytes.
pub fn file(count: usize) -> (Vec<String>, Vec<u8>) {
    let (names, dtypes) = model(count);
    let zeros = [0u8; 64];
    let views = views(&dtypes, &zeros);
    let bytes = tensorsafe::serialize(names.iter().zip(views.iter()), None).expect("serialize");
    (names, bytes)
}
