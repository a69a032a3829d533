//! Header parsing and serialization, against the reference `safetensors`
//! crate in the same run.
//!
//! `cargo bench --bench parse`. Each group measures both crates on the same
//! bytes, so compare the two lines of a group (ratios), not absolute times.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tensorsafe::SafeTensors;

#[path = "workload/mod.rs"]
mod workload;
use workload::{file, model, reference_views, views};

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
    let (names, dtypes) = model(count);
    let zeros = [0u8; 64];
    let views = views(&dtypes, &zeros);
    let reference_views = reference_views(&views);
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

criterion_group!(benches, parse_and_lookup, serialize);
criterion_main!(benches);
