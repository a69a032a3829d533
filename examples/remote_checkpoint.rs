//! A sharded checkpoint in an object store: list it from its headers, load
//! it whole, and fetch one tensor-parallel rank's part, counting requests
//! and bytes, beside a plain `object_store` download of the same objects.
//!
//! ```text
//! cargo run --release --example remote_checkpoint --features object-store [-- memory [MIB]]
//! cargo run --release --example remote_checkpoint --features s3 -- s3://BUCKET/PREFIX [MIB]
//! ```
//!
//! Without a URL it runs on an in-memory store. With one (any scheme
//! `tensorsafe::remote::store_from_url` takes, configured from the
//! environment), it uploads a synthetic checkpoint of MIB MiB (default 64
//! in memory, 256 otherwise) under PREFIX, measures, and deletes it.

#[path = "support/counting_store.rs"]
mod counting_store;

use std::sync::Arc;
use std::time::Instant;

use counting_store::Counting;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use tensorsafe::remote::object_store::memory::InMemory;
use tensorsafe::remote::object_store::path::Path;
use tensorsafe::remote::object_store::{ObjectStore, ObjectStoreExt};
use tensorsafe::remote::{RemoteCheckpoint, RemoteOptions};
use tensorsafe::{Dtype, TensorView, Writer};

type Failure = Box<dyn std::error::Error>;

/// The store and the prefix the checkpoint goes under.
fn store_for(arg: Option<&str>) -> Result<(Arc<dyn ObjectStore>, Path), Failure> {
    match arg {
        None | Some("memory") => Ok((Arc::new(InMemory::new()), Path::from("example"))),
        #[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
        Some(url) => Ok(tensorsafe::remote::store_from_url(url)?),
        #[cfg(not(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http")))]
        Some(url) => {
            Err(format!("{url}: build with --features s3 (or gcs, azure, http) for URLs").into())
        }
    }
}

/// A transformer-like checkpoint of about `mib` MiB: per layer, four
/// attention and two MLP projections of BF16, written as shards of at
/// most a quarter of the total into `dir`.
fn write_checkpoint(
    dir: &std::path::Path,
    mib: usize,
) -> Result<Vec<(String, Vec<usize>)>, Failure> {
    let hidden = 1024usize;
    let layer_bytes = (4 * hidden * hidden + 2 * hidden * 4 * hidden) * 2;
    let layers = ((mib << 20) / layer_bytes).max(1);
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for l in 0..layers {
        for (name, shape) in [
            ("attn.q_proj", [hidden, hidden]),
            ("attn.k_proj", [hidden, hidden]),
            ("attn.v_proj", [hidden, hidden]),
            ("attn.o_proj", [hidden, hidden]),
            ("mlp.up_proj", [4 * hidden, hidden]),
            ("mlp.down_proj", [hidden, 4 * hidden]),
        ] {
            let n = shape[0] * shape[1];
            let seed = tensors.len() as u32;
            let data: Vec<u8> = (0..n as u32)
                .flat_map(|i| {
                    half::bf16::from_f32(((i ^ seed) % 1000) as f32 / 1000.0).to_le_bytes()
                })
                .collect();
            tensors.push((format!("layers.{l}.{name}.weight"), shape.to_vec(), data));
        }
    }
    let total: usize = tensors.iter().map(|t| t.2.len()).sum();
    let views = tensors
        .iter()
        .map(|(n, s, d)| Ok((n.as_str(), TensorView::new(Dtype::BF16, s, d)?)))
        .collect::<tensorsafe::Result<Vec<_>>>()?;
    Writer::new().sharded(views, dir, total.div_ceil(4) as u64)?;
    Ok(tensors.into_iter().map(|(n, s, _)| (n, s)).collect())
}

/// What a plain get brought, held until the round ends as a load holds
/// its bytes; with `copy`, copied into fresh memory first.
fn owned<B: AsRef<[u8]> + From<Vec<u8>>>(bytes: B, copy: bool) -> B {
    if copy {
        B::from(bytes.as_ref().to_vec())
    } else {
        bytes
    }
}

/// How long `f` takes; what it returns is dropped after the clock stops,
/// so that no contender is timed releasing its memory.
fn timed<T>(f: impl FnOnce() -> T) -> std::time::Duration {
    let start = Instant::now();
    let held = f();
    let elapsed = start.elapsed();
    drop(std::hint::black_box(held));
    elapsed
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().map(String::as_str);
    let in_memory = matches!(url, None | Some("memory"));
    let mib: usize = match args.get(1) {
        Some(a) => a.parse()?,
        None if in_memory => 64,
        None => 256,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let (inner, prefix) = store_for(url)?;
    let prefix = prefix
        .clone()
        .join(format!("remote-checkpoint-{}", std::process::id()));
    let (store, counts) = Counting::wrap(inner.clone());

    // A checkpoint on disk, uploaded.
    let dir =
        std::env::temp_dir().join(format!("tensorsafe-remote-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let tensors = write_checkpoint(&dir, mib)?;
    let mut objects = Vec::new();
    let mut whole_size = 0u64;
    runtime.block_on(async {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path)?;
            let bytes_len = bytes.len() as u64;
            whole_size += bytes_len;
            let location = prefix.clone().join(name.as_str());
            inner.put(&location, bytes.into()).await?;
            objects.push((location, bytes_len));
        }
        Ok::<(), Failure>(())
    })?;
    std::fs::remove_dir_all(&dir)?;
    objects.sort();
    let index = prefix.clone().join("model.safetensors.index.json");
    println!(
        "checkpoint: {} tensors, {} objects, {:.1} MB, in {}",
        tensors.len(),
        objects.len(),
        mb(whole_size),
        if in_memory {
            "memory"
        } else {
            url.unwrap_or_default()
        }
    );

    // 1. Listing: the index and every shard's header.
    counts.reset();
    let start = Instant::now();
    let checkpoint = runtime.block_on(RemoteCheckpoint::open(store.clone(), index.clone()))?;
    let listed = start.elapsed();
    let (gets, _, bytes) = counts.get();
    println!(
        "list:  {gets} requests ({} shards + index), {bytes} bytes = {:.4}% of downloading all {} objects ({:.1} MB) in {:.1} ms",
        checkpoint.files().len(),
        bytes as f64 * 100.0 / whole_size as f64,
        objects.len(),
        mb(whole_size),
        listed.as_secs_f64() * 1e3
    );

    // 2. Whole-checkpoint load beside a plain get of every object, same
    // concurrency, alternating rounds.
    let concurrency = RemoteOptions::default().concurrency;
    // An in-memory store hands out its stored buffer without copying: there
    // the yardsticks copy what they get into fresh memory (a memcpy of the
    // same bytes), as a load must.
    let copy = in_memory;
    // The yardsticks: a plain get of every object, and plain ranged gets
    // of every object in parts of `part` bytes (the request pattern of a
    // parted load, without this crate), `concurrency` requests at a time.
    let plain_ranges = |part: u64| {
        let ranges: Vec<(Path, std::ops::Range<u64>)> = objects
            .iter()
            .flat_map(|(o, size)| {
                (0..size.div_ceil(part))
                    .map(move |k| (o.clone(), k * part..((k + 1) * part).min(*size)))
            })
            .collect();
        runtime.block_on(async {
            stream::iter(ranges.into_iter().map(|(o, range)| {
                let inner = inner.clone();
                async move { Ok::<_, Failure>(owned(inner.get_range(&o, range).await?, copy)) }
            }))
            .buffer_unordered(concurrency)
            .try_collect::<Vec<_>>()
            .await
            .expect("plain ranged get")
        })
    };
    let plain = || {
        runtime.block_on(async {
            stream::iter(objects.iter().map(|(o, _)| {
                let inner = inner.clone();
                async move { Ok::<_, Failure>(owned(inner.get(o).await?.bytes().await?, copy)) }
            }))
            .buffer_unordered(concurrency)
            .try_collect::<Vec<_>>()
            .await
            .expect("plain get")
        })
    };
    let whole_objects = {
        let mut options = RemoteOptions::default();
        options.part_size = u64::MAX;
        runtime.block_on(RemoteCheckpoint::open_with(
            store.clone(),
            index.clone(),
            &options,
        ))?
    };
    let load =
        |checkpoint: &RemoteCheckpoint| runtime.block_on(checkpoint.load(|_, _| {})).expect("load");
    // Buffers of the caller's, one per tensor, touched once and reused by
    // every round (a loader that keeps its arena pays for fresh memory
    // once, not per load), filled with one request per object: the plain
    // get's request pattern, into warm memory.
    let mut arena: Vec<(String, Vec<u8>)> = checkpoint
        .entries()
        .map(|e| (e.name().to_owned(), vec![1u8; e.info().byte_len() as usize]))
        .collect();
    let mut load_into = || {
        let mut free: std::collections::HashMap<&str, &mut [u8]> = arena
            .iter_mut()
            .map(|(n, b)| (n.as_str(), b.as_mut_slice()))
            .collect();
        runtime
            .block_on(whole_objects.load_into(|info| free.remove(info.name()), |_, _| {}))
            .expect("load_into");
    };
    // Its yardstick: a plain get of every object copied into buffers that
    // are likewise touched once and reused (in memory, a memcpy of the same
    // bytes into warm memory).
    let mut landing: Vec<Vec<u8>> = objects
        .iter()
        .map(|(_, size)| vec![1u8; *size as usize])
        .collect();
    let mut plain_into = || {
        runtime.block_on(async {
            stream::iter(objects.iter().zip(landing.iter_mut()).map(|((o, _), buf)| {
                let inner = inner.clone();
                async move {
                    buf.copy_from_slice(&inner.get(o).await?.bytes().await?);
                    Ok::<_, Failure>(())
                }
            }))
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await
            .expect("plain get into reused buffers")
        })
    };
    // The contenders alternate, round by round, so that noise on a shared
    // machine hits all alike; medians are reported.
    let rounds = if in_memory { 7 } else { 5 };
    let part = RemoteOptions::default().part_size;
    let mut times: [Vec<std::time::Duration>; 6] = Default::default();
    for _ in 0..rounds {
        times[0].push(timed(|| load(&checkpoint)));
        times[1].push(timed(|| load(&whole_objects)));
        times[2].push(timed(&mut load_into));
        times[3].push(timed(plain));
        times[4].push(timed(|| plain_ranges(part)));
        times[5].push(timed(&mut plain_into));
    }
    let [parts, whole, into, plain, plain_parts, plain_into] = times.map(|mut t| {
        t.sort();
        t[t.len() / 2]
    });
    let rate = |t: std::time::Duration| mb(whole_size) / t.as_secs_f64();
    let ms = |t: std::time::Duration| t.as_secs_f64() * 1e3;
    let copied = if in_memory {
        " + a copy into fresh memory"
    } else {
        ""
    };
    for (label, t, yardstick, what) in [
        (
            format!("load, parts of {} MiB", part >> 20),
            parts,
            plain_parts,
            format!("plain get_range of the same parts{copied}"),
        ),
        (
            "load, one request per object".into(),
            whole,
            plain,
            format!("plain get of every object{copied}"),
        ),
        (
            "load_into reused buffers, one request per object".into(),
            into,
            plain_into,
            "plain get of every object + a copy into reused buffers".into(),
        ),
    ] {
        println!(
            "load:  RemoteCheckpoint::{label}: {:.0} MB/s ({:.1} ms); {what}: {:.0} MB/s ({:.1} ms); ratio {:.2} (medians of {rounds})",
            rate(t),
            ms(t),
            rate(yardstick),
            ms(yardstick),
            yardstick.as_secs_f64() / t.as_secs_f64()
        );
    }

    // 3. Tensor parallelism: rank 0 of 4 takes a quarter of every weight of
    // layer 0, column-parallel ones (q, k, v, up) by rows, row-parallel ones
    // (o, down) by columns. (Every layer is alike; one keeps the exact
    // mode's thousands of requests to a few seconds.)
    let layer0: Vec<&(String, Vec<usize>)> = tensors
        .iter()
        .filter(|(n, _)| n.starts_with("layers.0."))
        .collect();
    let weights: u64 = layer0
        .iter()
        .map(|(n, _)| {
            checkpoint
                .entry(n)
                .map(|e| e.byte_range().end - e.byte_range().start)
        })
        .sum::<tensorsafe::Result<u64>>()?;
    let mut exact = RemoteOptions::default();
    exact.max_gap = 0;
    for (label, options) in [
        ("default (max_gap 64 KiB)", RemoteOptions::default()),
        ("exact (max_gap 0)", exact),
    ] {
        let checkpoint = runtime.block_on(RemoteCheckpoint::open_with(
            store.clone(),
            index.clone(),
            &options,
        ))?;
        counts.reset();
        let start = Instant::now();
        let mut part_bytes = 0u64;
        runtime.block_on(async {
            for (name, _) in &layer0 {
                let dim = if name.contains("o_proj") || name.contains("down_proj") {
                    1
                } else {
                    0
                };
                part_bytes += checkpoint.split(name, dim, 0, 4).await?.data().len() as u64;
            }
            Ok::<(), tensorsafe::Error>(())
        })?;
        let (gets, _, bytes) = counts.get();
        println!(
            "rank 0 of 4, layer 0, {label}: {:.2} MB fetched in {gets} requests for a {:.2} MB part = {:.1}% of the layer's {:.2} MB of weights ({:.0} ms)",
            mb(bytes),
            mb(part_bytes),
            bytes as f64 * 100.0 / weights as f64,
            mb(weights),
            start.elapsed().as_secs_f64() * 1e3
        );
    }

    runtime.block_on(async {
        for (o, _) in &objects {
            inner.delete(o).await?;
        }
        Ok::<(), Failure>(())
    })?;
    Ok(())
}
