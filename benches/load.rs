//! Loading a checkpoint's bytes into usable memory, beside the reference
//! crate, `std::fs::read` and a plain positioned read into an already
//! touched buffer (the ceiling), all on the same file in the same run.
//!
//! `cargo bench --bench load` (file size: `TENSORSAFE_BENCH_MIB`, default
//! 256). `examples/load_speed.rs` measures the same methods interleaved and
//! prints ratios; prefer it on a noisy machine.

use std::fs::File;
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tensorsafe::{Dtype, LoadOptions, SafeTensorsFile, TensorView, Writer};

fn make_file(path: &Path, bytes: usize) {
    let tensors = (bytes / (4 << 20)).max(1);
    let data: Vec<u8> = (0..4 << 20).map(|i| (i * 7 + 3) as u8).collect();
    let views: Vec<(String, TensorView<'_>)> = (0..tensors)
        .map(|i| {
            let (dtype, shape) = if i % 2 == 0 {
                (Dtype::BF16, [1024usize, 2048])
            } else {
                (Dtype::F32, [1024, 1024])
            };
            (
                format!("layers.{i}.weight"),
                TensorView::new(dtype, shape, &data).unwrap(),
            )
        })
        .collect();
    Writer::new().to_file(views, path).unwrap();
}

#[path = "workload/mod.rs"]
mod workload;
use workload::load::{load_into_arena, reference_mmap_copy, touch};

fn load(c: &mut Criterion) {
    let mib: usize = std::env::var("TENSORSAFE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = std::env::temp_dir().join(format!("tensorsafe-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    make_file(&path, mib << 20);
    let len = std::fs::metadata(&path).unwrap().len();
    let header = tensorsafe::Header::read_from(File::open(&path).unwrap()).unwrap();
    let mut arena = vec![1u8; header.data_len() as usize];
    let mut touched = vec![1u8; len as usize];

    let mut group = c.benchmark_group(format!("load/{mib}MiB"));
    group.throughput(Throughput::Bytes(len));
    group.sample_size(10);
    group.bench_function("tensorsafe open + touch", |b| {
        b.iter(|| touch(SafeTensorsFile::open(&path).unwrap().as_bytes()))
    });
    group.bench_function("tensorsafe load_into (reused buffers)", |b| {
        b.iter(|| load_into_arena(&path, &mut arena, &LoadOptions::default()).unwrap())
    });
    group.bench_function("tensorsafe mmap + touch", |b| {
        // SAFETY: the benchmark's own file; nothing writes it meanwhile.
        b.iter(|| touch(unsafe { SafeTensorsFile::mmap(&path) }.unwrap().as_bytes()))
    });
    group.bench_function("reference mmap + copy each tensor", |b| {
        b.iter(|| black_box(reference_mmap_copy(&path).unwrap()))
    });
    group.bench_function("std::fs::read", |b| {
        b.iter(|| touch(&std::fs::read(&path).unwrap()))
    });
    group.bench_function("ceiling: pread into a touched buffer", |b| {
        use std::os::unix::fs::FileExt;
        b.iter(|| {
            File::open(&path)
                .unwrap()
                .read_exact_at(&mut touched, 0)
                .unwrap()
        })
    });
    group.finish();
    std::fs::remove_dir_all(&dir).unwrap();
}

criterion_group!(benches, load);
criterion_main!(benches);
