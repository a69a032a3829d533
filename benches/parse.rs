//! Header parsing and serialization, against the reference `safetensors`
//! crate in the same run.
//!
//! `cargo bench --bench parse`. Each group measures both crates on the same
//! bytes, so compare the two lines of a group (ratios), not absolute times.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tensorsafe::{Dtype, SafeTensors, TensorView};

/// A checkpoint-like list of tensors: realistic names, mixed dtypes, and
/// tiny shapes so the file is mostly header.
fn model(count: usize) -> (Vec<String>, Vec<(Dtype, Vec<usize>)>) {
    let parts = ["gate_proj", "up_proj", "down_proj"];
    let mut names = Vec::with_capacity(count);
    let mut specs = Vec::with_capacity(count);
    for i in 0..count {
        let layer = i / 384;
        let expert = (i / 3) % 128;
        let part = parts[i % 3];
        names.push(format!(
            "model.layers.{layer}.mlp.experts.{expert}.{part}.weight"
        ));
        let dtype = [Dtype::BF16, Dtype::F32, Dtype::F16, Dtype::U8][i % 4];
        specs.push((dtype, vec![2, 4]));
    }
    (names, specs)
}

/// Views of `specs` over a shared zero buffer.
fn views<'a>(specs: &'a [(Dtype, Vec<usize>)], data: &'a [u8]) -> Vec<TensorView<'a>> {
    specs
        .iter()
        .map(|(dtype, shape)| {
            let len = shape.iter().product::<usize>() * dtype.size().unwrap();
            TensorView::new(*dtype, shape, &data[..len]).unwrap()
        })
        .collect()
}

fn file(count: usize) -> (Vec<String>, Vec<u8>) {
    let (names, specs) = model(count);
    let data = [0u8; 64];
    let views = views(&specs, &data);
    let bytes = tensorsafe::serialize(names.iter().zip(views.iter()), None).unwrap();
    (names, bytes)
}

fn parse_and_lookup(c: &mut Criterion) {
    for count in [10_000usize, 100_000] {
        let (names, bytes) = file(count);
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        let mut group = c.benchmark_group(format!("parse+lookup/{count}"));
        group.throughput(Throughput::Bytes(header_len));
        if count >= 100_000 {
            group.sample_size(20);
        }
        group.bench_function(BenchmarkId::new("tensorsafe", count), |b| {
            b.iter(|| {
                let st = SafeTensors::deserialize(black_box(&bytes)).unwrap();
                let mut total = 0usize;
                for name in &names {
                    total += st.tensor(name).unwrap().data().len();
                }
                black_box(total)
            })
        });
        group.bench_function(BenchmarkId::new("reference", count), |b| {
            b.iter(|| {
                let st = safetensors::SafeTensors::deserialize(black_box(&bytes)).unwrap();
                let mut total = 0usize;
                for name in &names {
                    total += st.tensor(name).unwrap().data().len();
                }
                black_box(total)
            })
        });
        group.finish();
    }
}

fn serialize(c: &mut Criterion) {
    let count = 10_000;
    let (names, specs) = model(count);
    let data = [0u8; 64];
    let views = views(&specs, &data);
    let reference_views: Vec<safetensors::tensor::TensorView<'_>> = views
        .iter()
        .map(|v| {
            let dtype: safetensors::Dtype = reference_dtype(v.dtype());
            safetensors::tensor::TensorView::new(dtype, v.shape().to_vec(), v.data()).unwrap()
        })
        .collect();
    let mut group = c.benchmark_group(format!("serialize/{count}"));
    group.bench_function(BenchmarkId::new("tensorsafe", count), |b| {
        b.iter(|| black_box(tensorsafe::serialize(names.iter().zip(views.iter()), None).unwrap()))
    });
    group.bench_function(BenchmarkId::new("reference", count), |b| {
        b.iter(|| {
            black_box(
                safetensors::serialize(names.iter().zip(reference_views.iter()), None).unwrap(),
            )
        })
    });
    group.finish();
}

/// The reference's dtype of the same name.
fn reference_dtype(dtype: Dtype) -> safetensors::Dtype {
    serde_json::from_value(serde_json::Value::String(dtype.to_string())).unwrap()
}

criterion_group!(benches, parse_and_lookup, serialize);
criterion_main!(benches);
