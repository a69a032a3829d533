//! Remote reads (feature `object-store`) against object_store's own
//! in-memory and local-filesystem stores, compared with local reads of the
//! same files; request counts through a counting wrapper around them.

mod common;
#[path = "../examples/support/counting_store.rs"]
mod counting_store;

use std::path::Path as FsPath;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::golden_files;
use common::temp::TempDir;
use counting_store::Counting;
use proptest::prelude::*;
use tensorsafe::remote::object_store::local::LocalFileSystem;
use tensorsafe::remote::object_store::memory::InMemory;
use tensorsafe::remote::object_store::path::Path;
use tensorsafe::remote::object_store::{ObjectStore, ObjectStoreExt};
use tensorsafe::remote::{RemoteCheckpoint, RemoteFile, RemoteOptions};
use tensorsafe::{Checkpoint, Dtype, ErrorKind, Header, SafeTensors, Select, TensorView, Writer};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden");

async fn put(store: &Arc<dyn ObjectStore>, location: &str, bytes: Vec<u8>) {
    store
        .put(&Path::from(location), bytes.into())
        .await
        .unwrap();
}

fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

/// Same entries, in the same order.
fn same_header(a: &Header, b: &Header) {
    let entries = |h: &Header| -> Vec<_> {
        h.iter()
            .map(|t| {
                (
                    t.name().to_owned(),
                    t.dtype(),
                    t.shape().to_vec(),
                    t.data_offsets(),
                )
            })
            .collect()
    };
    assert_eq!(entries(a), entries(b));
    assert_eq!(a.metadata(), b.metadata());
    assert_eq!(a.file_len(), b.file_len());
}

#[tokio::test]
async fn golden_files_read_remotely_as_locally() {
    let store = memory();
    for (name, bytes) in golden_files() {
        put(&store, &name, bytes.clone()).await;
        let local = SafeTensors::deserialize(&bytes).unwrap();
        let remote = RemoteFile::open(store.clone(), name.as_str())
            .await
            .unwrap();
        same_header(remote.header(), local.header());
        assert_eq!(remote.size(), bytes.len() as u64);
        for (tensor, view) in local.iter() {
            let fetched = remote.tensor(tensor).await.unwrap();
            assert_eq!(fetched.data(), view.data(), "{name}: {tensor}");
            assert_eq!(
                (fetched.dtype(), fetched.shape()),
                (view.dtype(), view.shape())
            );
            let range = remote.byte_range(tensor).unwrap();
            assert_eq!(
                &bytes[range.start as usize..range.end as usize],
                view.data()
            );
        }
        let loaded = remote.load(|_, _| {}).await.unwrap();
        assert_eq!(loaded.as_bytes(), &bytes[..], "{name}");
    }
}

/// A sharded checkpoint of `shards` shards on disk (tensors "t00".. of
/// F32 [rows, 64]), and the tensors' bytes.
fn sharded_on_disk(dir: &FsPath, tensors: usize, rows: usize, shards: usize) -> Vec<Vec<u8>> {
    let data: Vec<Vec<u8>> = (0..tensors)
        .map(|t| {
            (0..rows * 64)
                .flat_map(|i| ((t * 1_000_000 + i) as f32).to_le_bytes())
                .collect()
        })
        .collect();
    let names: Vec<String> = (0..tensors).map(|t| format!("t{t:02}")).collect();
    let views = names.iter().zip(&data).map(|(n, d)| {
        (
            n.as_str(),
            TensorView::new(Dtype::F32, [rows, 64], d).unwrap(),
        )
    });
    let per_shard = (tensors * rows * 256).div_ceil(shards) as u64;
    let files = Writer::new().sharded(views, dir, per_shard).unwrap();
    assert_eq!(files.len(), shards);
    data
}

#[tokio::test]
async fn listing_a_checkpoint_takes_one_request_per_shard_plus_the_index() {
    let dir = TempDir::new("remote-list");
    let data = sharded_on_disk(dir.dir(), 8, 256, 4);
    let disk: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.dir()).unwrap());
    let (store, counts) = Counting::wrap(disk);

    let checkpoint = RemoteCheckpoint::open(store.clone(), "model.safetensors.index.json")
        .await
        .unwrap();
    let (gets, ranged, bytes) = counts.get();
    assert_eq!(gets, 1 + 4, "index + one ranged read per shard");
    assert_eq!(ranged, 1 + 4);
    let whole: u64 = std::fs::read_dir(dir.dir())
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(bytes < whole, "{bytes} of {whole}");

    // The table matches the local checkpoint's.
    let local = Checkpoint::open(dir.dir()).unwrap();
    assert_eq!(checkpoint.len(), 8);
    assert_eq!(checkpoint.total_size(), local.total_size());
    for entry in checkpoint.entries() {
        assert_eq!(
            checkpoint.file_of(entry.name()),
            local.file_of(entry.name())
        );
        assert_eq!(
            checkpoint.shard_location(entry.shard()).map(|l| l.as_ref()),
            checkpoint.file_of(entry.name())
        );
        let view = local.tensor(entry.name()).unwrap();
        assert_eq!((entry.dtype(), entry.shape()), (view.dtype(), view.shape()));
        assert_eq!(
            entry.byte_range().end - entry.byte_range().start,
            view.data().len() as u64
        );
    }

    // Reads: a tensor, then the whole checkpoint.
    let total_size = checkpoint.total_size().unwrap();
    counts.reset();
    let t = checkpoint.tensor("t05").await.unwrap();
    assert_eq!(t.data(), &data[5][..]);
    assert_eq!(t.view().as_slice::<f32>().unwrap()[1], 5_000_001.0);
    assert_eq!(counts.get().0, 1);
    // A plain FnMut: the calls come one at a time, never going back.
    let (mut calls, mut last, mut all) = (0, 0, 0);
    let loaded = checkpoint
        .load(|done, total| {
            assert!(last <= done && done <= total, "{last} {done} {total}");
            (last, all) = (done, total);
            calls += 1;
        })
        .await
        .unwrap();
    for (i, d) in data.iter().enumerate() {
        assert_eq!(loaded.tensor(&format!("t{i:02}")).unwrap().data(), &d[..]);
    }
    // In memory, with the same listing and the same names for its parts.
    assert!(loaded.is_sharded());
    assert_eq!(loaded.files(), checkpoint.files());
    assert_eq!(checkpoint.files(), local.files());
    for i in 0..loaded.files().len() {
        assert_eq!(loaded.shard_location(i), checkpoint.shard_location(i));
        let (in_memory, remote) = (loaded.shard(i).unwrap(), checkpoint.shard(i).unwrap());
        assert_eq!(in_memory.as_bytes().len() as u64, remote.size());
        assert_eq!(local.shard(i).unwrap().as_bytes(), in_memory.as_bytes());
    }
    let past = loaded.files().len();
    assert_eq!(
        loaded.shard(past).unwrap_err().kind(),
        ErrorKind::ShardNotFound
    );
    assert_eq!(
        checkpoint.shard(past).unwrap_err().kind(),
        ErrorKind::ShardNotFound
    );
    for name in checkpoint.names() {
        assert_eq!(loaded.file_of(name), checkpoint.file_of(name));
    }
    assert_eq!(
        loaded.names().collect::<Vec<_>>(),
        checkpoint.names().collect::<Vec<_>>()
    );
    for (a, b) in loaded.entries().zip(checkpoint.entries()) {
        assert_eq!(
            (a.info(), a.shard(), a.byte_range()),
            (b.info(), b.shard(), b.byte_range())
        );
        assert_eq!(a.file().as_bytes().len() as u64, b.file().size());
    }
    assert!(calls > 1, "{calls}");
    // Progress counts tensor bytes: the index's total_size, no header.
    assert_eq!((last, all), (total_size, total_size));
}

#[tokio::test]
async fn a_long_header_takes_a_second_request() {
    let (store, counts) = Counting::wrap(memory());
    let bytes = std::fs::read(format!("{GOLDEN}/gpt2_tiny.safetensors")).unwrap();
    put(&store, "m.safetensors", bytes.clone()).await;
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    for (read, requests) in [(16, 2), (8 + header_len - 1, 2), (8 + header_len, 1)] {
        counts.reset();
        let mut options = RemoteOptions::default();
        options.header_read = read;
        let remote = RemoteFile::open_with(store.clone(), "m.safetensors", &options)
            .await
            .unwrap();
        assert_eq!(counts.get().0, requests, "header_read {read}");
        same_header(
            remote.header(),
            SafeTensors::deserialize(&bytes).unwrap().header(),
        );
    }
}

#[tokio::test]
async fn slices_and_splits_fetch_only_their_rows() {
    let (store, counts) = Counting::wrap(memory());
    let (rows, cols) = (64usize, 256usize);
    let data: Vec<u8> = (0..rows * cols)
        .flat_map(|i| (i as f32).to_le_bytes())
        .collect();
    let view = TensorView::new(Dtype::F32, [rows, cols], &data).unwrap();
    // A big first tensor keeps the speculative read away from w's bytes.
    // (Same dtype, so the writer orders them by name.)
    let pad = vec![0u8; 128 << 10];
    let file = tensorsafe::serialize(
        [
            (
                "a_pad",
                TensorView::new(Dtype::F32, [pad.len() / 4], &pad).unwrap(),
            ),
            ("w", view.clone()),
        ],
        None,
    )
    .unwrap();
    put(&store, "m.safetensors", file).await;

    let mut exact = RemoteOptions::default();
    exact.max_gap = 0;
    for (options, requests) in [(exact, rows as u64), (RemoteOptions::default(), 1)] {
        let remote = RemoteFile::open_with(store.clone(), "m.safetensors", &options)
            .await
            .unwrap();
        for rank in 0..4 {
            // Rows: one contiguous range.
            counts.reset();
            let part = remote.split("w", 0, rank, 4).await.unwrap();
            assert_eq!(part.data(), view.split(0, rank, 4).unwrap().to_bytes());
            assert_eq!(counts.get(), (1, 1, (rows * cols) as u64));
            // Columns: one range per row, exactly the part's bytes, unless
            // the gaps are merged.
            counts.reset();
            let part = remote.split("w", 1, rank, 4).await.unwrap();
            assert_eq!(part.shape(), [rows, cols / 4]);
            assert_eq!(part.data(), view.split(1, rank, 4).unwrap().to_bytes());
            let (gets, _, bytes) = counts.get();
            assert_eq!(gets, requests);
            if requests > 1 {
                assert_eq!(bytes, (rows * cols) as u64, "a quarter of the bytes");
            } else {
                assert!(bytes > (rows * cols) as u64 && bytes < data.len() as u64);
            }
        }
    }
}

#[tokio::test]
async fn load_into_fills_the_chosen_tensors_in_merged_requests() {
    let (store, counts) = Counting::wrap(memory());
    let tensors: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 100_000]).collect();
    let names: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let file = tensorsafe::serialize(
        names.iter().zip(&tensors).map(|(n, d)| {
            (
                n.as_str(),
                TensorView::new(Dtype::U8, [d.len()], d).unwrap(),
            )
        }),
        None,
    )
    .unwrap();
    put(&store, "m.safetensors", file).await;
    let remote = RemoteFile::open(store.clone(), "m.safetensors")
        .await
        .unwrap();
    counts.reset();
    // Every other tensor; the 100 kB gaps are beyond max_gap (64 KiB), so
    // each chosen tensor is one request.
    let mut buffers: Vec<Vec<u8>> = (0..5).map(|_| vec![0u8; 100_000]).collect();
    let mut slots = buffers.iter_mut();
    let mut asked = Vec::new();
    let last = AtomicU64::new(0);
    remote
        .load_into(
            |t| {
                asked.push(t.name().to_owned());
                let i: usize = t.name()[1..].parse().unwrap();
                (i % 2 == 0).then(|| slots.next().unwrap().as_mut_slice())
            },
            |done, total| last.store(done * 1000 / total, Ordering::Relaxed),
        )
        .await
        .unwrap();
    assert_eq!(asked, names);
    for (k, b) in buffers.iter().enumerate() {
        assert!(b.iter().all(|&x| x == 2 * k as u8));
    }
    assert_eq!(last.load(Ordering::Relaxed), 1000);
    // The first part of t0 came with the header read.
    assert_eq!(counts.get().0, 5);

    // The total first, before the bytes at hand are counted; no tensor
    // chosen: that one call only.
    let mut reports = Vec::new();
    remote.load(|d, t| reports.push((d, t))).await.unwrap();
    assert_eq!(reports.first(), Some(&(0, 1_000_000)));
    let mut reports = Vec::new();
    remote
        .load_into(|_| None, |d, t| reports.push((d, t)))
        .await
        .unwrap();
    assert_eq!(reports, [(0, 0)]);

    // A wrong-length destination is refused before anything is fetched.
    counts.reset();
    let err = remote
        .load_into(
            |_| Some(Box::leak(vec![0u8; 3].into_boxed_slice())),
            |_, _| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BufferLength);
    assert_eq!(err.tensor(), Some("t0"));
    assert_eq!(counts.get().0, 0);
}

#[tokio::test]
async fn large_reads_are_cut_into_parts() {
    let (store, counts) = Counting::wrap(memory());
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = tensorsafe::serialize(
        [(
            "w",
            TensorView::new(Dtype::U8, [data.len()], &data).unwrap(),
        )],
        None,
    )
    .unwrap();
    let size = file.len();
    put(&store, "m.safetensors", file.clone()).await;
    let mut options = RemoteOptions::default();
    options.part_size = 100_000;
    options.concurrency = 3;
    options.header_read = 64;
    let remote = RemoteFile::open_with(store.clone(), "m.safetensors", &options)
        .await
        .unwrap();
    counts.reset();
    assert_eq!(remote.tensor("w").await.unwrap().data(), &data[..]);
    assert_eq!(counts.get().0, 10);
    counts.reset();
    let loaded = remote.load(|_, _| {}).await.unwrap();
    assert_eq!(loaded.as_bytes(), &file[..]);
    // The header is longer than 64 bytes: its second read brought the
    // rest of it, and no more.
    let header_end = remote.header().data_start() as usize;
    assert!(header_end > 64);
    assert_eq!(
        counts.get().0 as usize,
        (size - header_end).div_ceil(100_000)
    );
}

/// The most GETs in flight at once during `op`, each held a while so that
/// the ones made together overlap.
async fn most_in_flight<T>(
    counts: &counting_store::Counts,
    op: impl std::future::Future<Output = tensorsafe::Result<T>>,
) -> (T, u64) {
    counts.reset();
    counts.hold.store(16, Ordering::Relaxed);
    let done = op.await.unwrap();
    counts.hold.store(0, Ordering::Relaxed);
    (done, counts.max_in_flight.load(Ordering::SeqCst))
}

#[tokio::test]
async fn at_most_concurrency_requests_are_in_flight_and_that_many_are_used() {
    // One tensor in 10 parts; a checkpoint of 6 shards (6 headers at once).
    let (store, counts) = Counting::wrap(memory());
    let data = vec![7u8; 1_000_000];
    let view = TensorView::new(Dtype::U8, [data.len()], &data).unwrap();
    put(
        &store,
        "m.safetensors",
        tensorsafe::serialize([("w", view)], None).unwrap(),
    )
    .await;
    let dir = TempDir::new("remote-in-flight");
    sharded_on_disk(dir.dir(), 6, 512, 6);
    let disk: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.dir()).unwrap());
    let (shards, shard_counts) = Counting::wrap(disk);
    for concurrency in [1, 3, 4] {
        let mut options = RemoteOptions::default();
        options.part_size = 100_000;
        options.concurrency = concurrency;
        let remote = RemoteFile::open_with(store.clone(), "m.safetensors", &options)
            .await
            .unwrap();
        // Each read makes more requests than `concurrency`: 10 parts, 6
        // headers, 6 shards of 128 KiB to load (past the 64 KiB header reads).
        let (_, parts) = most_in_flight(&counts, remote.tensor("w")).await;
        let (_, load) = most_in_flight(&counts, remote.load(|_, _| {})).await;
        let index = "model.safetensors.index.json";
        let open = RemoteCheckpoint::open_with(shards.clone(), index, &options);
        let (checkpoint, headers) = most_in_flight(&shard_counts, open).await;
        let (_, shards_load) = most_in_flight(&shard_counts, checkpoint.load(|_, _| {})).await;
        let n = concurrency as u64;
        assert_eq!(
            (parts, load, headers, shards_load),
            (n, n, n, n),
            "concurrency {concurrency}"
        );
    }
}

// ---- hostile objects and checkpoints ----

#[tokio::test]
async fn an_object_shorter_than_its_header_says_is_refused() {
    let store = memory();
    let mut bytes = std::fs::read(format!("{GOLDEN}/gpt2_tiny.safetensors")).unwrap();
    bytes.truncate(bytes.len() - 10);
    put(&store, "short.safetensors", bytes).await;
    let err = RemoteFile::open(store, "short.safetensors")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataOutOfBounds);
    assert!(err.tensor().is_some(), "{err}");
    assert_eq!(err.path(), Some(FsPath::new("short.safetensors")));
}

#[tokio::test]
async fn a_header_length_beyond_the_object_is_refused() {
    let store = memory();
    let mut bytes = 1000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    put(&store, "x.safetensors", bytes).await;
    let err = RemoteFile::open(store.clone(), "x.safetensors")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HeaderOutOfBounds);
    assert!(err.to_string().contains("the object has 10 bytes"), "{err}");

    // Beyond the limit: refused from the first read.
    let (counting, counts) = Counting::wrap(store.clone());
    put(
        &store,
        "huge.safetensors",
        [u64::MAX.to_le_bytes().as_slice(), &[0; 100]].concat(),
    )
    .await;
    let err = RemoteFile::open(counting, "huge.safetensors")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HeaderTooLarge);
    assert_eq!(counts.get().0, 1);

    for (name, bytes) in [("empty", vec![]), ("tiny", vec![1, 2, 3])] {
        put(&store, name, bytes).await;
        let err = RemoteFile::open(store.clone(), name).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FileTooSmall, "{name}: {err}");
    }
    let err = RemoteFile::open(store, "absent.safetensors")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
}

#[tokio::test]
async fn broken_headers_get_the_local_error() {
    let store = memory();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/broken");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let local = SafeTensors::deserialize(&bytes).map(|_| ());
        put(&store, &name, bytes).await;
        let remote = RemoteFile::open(store.clone(), name.as_str())
            .await
            .map(|_| ());
        match (local, remote) {
            (Err(l), Err(r)) => assert_eq!(l.kind(), r.kind(), "{name}: {l} / {r}"),
            (Ok(()), Ok(())) => {}
            (l, r) => panic!("{name}: local {l:?}, remote {r:?}"),
        }
        checked += 1;
    }
    assert!(checked > 50);
}

#[tokio::test]
async fn an_object_changed_after_its_header_was_read_is_an_error() {
    let store = memory();
    let bytes = std::fs::read(format!("{GOLDEN}/gpt2_tiny.safetensors")).unwrap();
    put(&store, "m.safetensors", bytes.clone()).await;
    let header = SafeTensors::deserialize(&bytes).unwrap().header().clone();
    let last = header.iter().last().unwrap().name().to_owned();
    let mut options = RemoteOptions::default();
    options.header_read = 8;
    let remote = RemoteFile::open_with(store.clone(), "m.safetensors", &options)
        .await
        .unwrap();
    // Shorter now: the store cannot give the bytes.
    put(&store, "m.safetensors", bytes[..bytes.len() - 5].to_vec()).await;
    let err = remote.tensor(&last).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
    assert_eq!(err.tensor(), Some(last.as_str()));
    assert_eq!(err.path(), Some(FsPath::new("m.safetensors")));
    // Same length, other bytes: the ETag differs.
    let mut other = bytes.clone();
    *other.last_mut().unwrap() ^= 1;
    put(&store, "m.safetensors", other).await;
    let err = remote.tensor(&last).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
    assert!(remote.load(|_, _| {}).await.is_err());
}

#[tokio::test]
async fn positioned_reads_give_the_bytes_at_their_offset_or_a_typed_error() {
    let store = memory();
    let bytes = std::fs::read(format!("{GOLDEN}/gpt2_tiny.safetensors")).unwrap();
    put(&store, "m.safetensors", bytes.clone()).await;
    let mut options = RemoteOptions::default();
    options.header_read = 8;
    options.part_size = 100; // one read, several requests
    let remote = RemoteFile::open_with(store.clone(), "m.safetensors", &options)
        .await
        .unwrap();
    let len = bytes.len() as u64;
    for (at, n) in [
        (0, 8),
        (3, 700),
        (len - 1, 1),
        (len, 0),
        (17, bytes.len() - 17),
    ] {
        let mut buf = vec![0u8; n];
        remote.read_at(at, &mut buf).await.unwrap();
        assert_eq!(buf, bytes[at as usize..at as usize + n], "{at} + {n}");
    }
    for (at, n) in [(len, 1), (len - 3, 4), (u64::MAX, 1), (u64::MAX - 2, 8)] {
        let err = remote.read_at(at, &mut vec![0u8; n]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataOutOfBounds, "{at} + {n}: {err}");
        assert_eq!(err.path(), Some(FsPath::new("m.safetensors")));
    }
    // Another object now: refused, naming the object and no tensor. (The
    // header's bytes are at hand and need no request.)
    let mut other = bytes.clone();
    *other.last_mut().unwrap() ^= 1;
    put(&store, "m.safetensors", other).await;
    let err = remote.read_at(len - 16, &mut [0u8; 16]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
    assert_eq!(err.tensor(), None, "{err}");
    assert_eq!(err.path(), Some(FsPath::new("m.safetensors")));
}

#[tokio::test]
async fn a_file_shrunk_on_disk_is_an_error_not_a_short_tensor() {
    let dir = TempDir::new("remote-shrink");
    let data = vec![7u8; 200_000];
    let file = tensorsafe::serialize(
        [(
            "w",
            TensorView::new(Dtype::U8, [data.len()], &data).unwrap(),
        )],
        None,
    )
    .unwrap();
    std::fs::write(dir.path("m.safetensors"), &file).unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.dir()).unwrap());
    let remote = RemoteFile::open(store, "m.safetensors").await.unwrap();
    std::fs::write(dir.path("m.safetensors"), &file[..file.len() - 1000]).unwrap();
    let err = remote.tensor("w").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
    assert_eq!(err.tensor(), Some("w"));
}

async fn checkpoint_with_index(index: &str) -> tensorsafe::Result<RemoteCheckpoint> {
    let store = memory();
    let (a, b) = ([1u8; 4], [2u8; 8]);
    let one = tensorsafe::serialize([("a", TensorView::new(Dtype::U8, [4], &a)?)], None)?;
    let two = tensorsafe::serialize([("b", TensorView::new(Dtype::U8, [8], &b)?)], None)?;
    put(&store, "m/one.safetensors", one).await;
    put(&store, "m/two.safetensors", two).await;
    put(
        &store,
        "m/model.safetensors.index.json",
        index.as_bytes().to_vec(),
    )
    .await;
    RemoteCheckpoint::open(store, "m/model.safetensors.index.json").await
}

#[tokio::test]
async fn checkpoints_are_checked_against_their_index() {
    let good = r#"{"metadata":{"total_size":12},"weight_map":{"a":"one.safetensors","b":"two.safetensors"}}"#;
    let checkpoint = checkpoint_with_index(good).await.unwrap();
    assert_eq!(
        checkpoint.entry("b").unwrap().location().as_ref(),
        "m/two.safetensors"
    );
    assert_eq!(checkpoint.tensor("b").await.unwrap().data(), [2; 8]);
    assert_eq!(
        checkpoint.entry("c").unwrap_err().kind(),
        ErrorKind::TensorNotFound
    );
    checkpoint.verify().unwrap();

    // No total_size: the checkpoint lists, reads and loads; verify says why not.
    let bare = r#"{"weight_map":{"a":"one.safetensors","b":"two.safetensors"}}"#;
    let checkpoint = checkpoint_with_index(bare).await.unwrap();
    assert_eq!(checkpoint.tensor("b").await.unwrap().data(), [2; 8]);
    let err = checkpoint.verify().unwrap_err();
    assert!(
        err.to_string()
            .contains("the index gives no metadata.total_size; the shards hold 12 bytes"),
        "{err}"
    );
    let loaded = checkpoint.load(|_, _| {}).await.unwrap();
    assert_eq!(loaded.tensor("b").unwrap().data(), [2; 8]);
    let mut b = [0u8; 8];
    let mut slot = Some(&mut b[..]);
    checkpoint
        .load_into(
            |t| (t.name() == "b").then(|| slot.take()).flatten(),
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(b, [2; 8]);

    let cases = [
        (
            r#"{"metadata":{"total_size":12},"weight_map":{"a":"one.safetensors","b":"three.safetensors"}}"#,
            ErrorKind::Io,
            "m/three.safetensors",
        ),
        (
            r#"{"metadata":{"total_size":13},"weight_map":{"a":"one.safetensors","b":"two.safetensors"}}"#,
            ErrorKind::IndexTotalSize,
            "m/model.safetensors.index.json",
        ),
        (
            r#"{"metadata":{"total_size":12},"weight_map":{"a":"one.safetensors","b":"one.safetensors"}}"#,
            ErrorKind::IndexMissingTensor,
            "m/model.safetensors.index.json",
        ),
        (
            r#"{"metadata":{"total_size":12},"weight_map":{"a":"one.safetensors"}}"#,
            ErrorKind::IndexTotalSize,
            "m/model.safetensors.index.json",
        ),
        (
            r#"{"metadata":{"total_size":4},"weight_map":{"a":"one.safetensors"},"x":"#,
            ErrorKind::IndexInvalid,
            "m/model.safetensors.index.json",
        ),
        (
            r#"{"weight_map":{"a":"../one.safetensors"}}"#,
            ErrorKind::IndexInvalid,
            "m/model.safetensors.index.json",
        ),
        // Not portable: a device name on Windows, a drive-relative path.
        (
            r#"{"weight_map":{"a":"NUL.safetensors"}}"#,
            ErrorKind::IndexInvalid,
            "m/model.safetensors.index.json",
        ),
        (
            r#"{"weight_map":{"a":"C:one.safetensors"}}"#,
            ErrorKind::IndexInvalid,
            "m/model.safetensors.index.json",
        ),
        // An empty object: the store refuses the ranged read, the index is
        // still named as invalid.
        (
            "",
            ErrorKind::IndexInvalid,
            "m/model.safetensors.index.json",
        ),
    ];
    for (index, kind, path) in cases {
        // Opening lists the checkpoint whatever its total_size; verify
        // (and the loads) check it.
        let err = match checkpoint_with_index(index).await {
            Ok(c) if kind == ErrorKind::IndexTotalSize => c.verify().unwrap_err(),
            other => other.unwrap_err(),
        };
        assert_eq!(err.kind(), kind, "{index}: {err}");
        assert_eq!(err.path(), Some(FsPath::new(path)), "{index}: {err}");
        if kind == ErrorKind::Io {
            assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
        }
    }
}

#[tokio::test]
async fn an_index_is_checked_by_its_size_and_read_errors_stay_io_errors() {
    let (store, counts) = Counting::wrap(memory());
    // One byte over the limit: refused by the size the store reports,
    // before its body is read, with the local index's error.
    let huge = vec![b' '; 100_000_001];
    put(&store, "big.safetensors.index.json", huge).await;
    counts.reset();
    let err = RemoteCheckpoint::open(store.clone(), "big.safetensors.index.json")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IndexTooLarge, "{err}");
    assert_eq!(err.path(), Some(FsPath::new("big.safetensors.index.json")));
    assert!(
        err.to_string()
            .contains("100000001 bytes; an index holds at most 100000000"),
        "{err}"
    );
    let (_, _, bytes) = counts.get();
    assert!(bytes < 1 << 20, "{bytes} bytes fetched");
    // No index there: an I/O error naming it, as for a local path.
    let err = RemoteCheckpoint::open(store, "gone.safetensors.index.json")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound)
    );
    assert_eq!(err.path(), Some(FsPath::new("gone.safetensors.index.json")));
}

#[tokio::test]
async fn shards_are_read_at_the_key_the_index_names() {
    // `Path::from` would percent-encode these characters and look for
    // another object; the shards were stored under these exact keys (as
    // another tool writing to the bucket would store them).
    let store = memory();
    let names = ["a#1 [x] 100%.safetensors", "b~{2}^`.safetensors"];
    let (a, b) = ([1u8; 4], [2u8; 8]);
    let files = [
        tensorsafe::serialize([("a", TensorView::new(Dtype::U8, [4], &a).unwrap())], None),
        tensorsafe::serialize([("b", TensorView::new(Dtype::U8, [8], &b).unwrap())], None),
    ];
    for (name, file) in names.iter().zip(files) {
        let key = Path::parse(format!("m/{name}")).unwrap();
        store.put(&key, file.unwrap().into()).await.unwrap();
    }
    let index = format!(
        r#"{{"metadata":{{"total_size":12}},"weight_map":{{"a":"{}","b":"{}"}}}}"#,
        names[0], names[1]
    );
    put(&store, "m/model.safetensors.index.json", index.into_bytes()).await;
    let checkpoint = RemoteCheckpoint::open(store, "m/model.safetensors.index.json")
        .await
        .unwrap();
    assert_eq!(
        checkpoint.entry("a").unwrap().location().as_ref(),
        format!("m/{}", names[0])
    );
    assert_eq!(checkpoint.tensor("b").await.unwrap().data(), [2; 8]);
    let loaded = checkpoint.load(|_, _| {}).await.unwrap();
    assert_eq!(loaded.tensor("a").unwrap().data(), [1; 4]);
}

#[tokio::test]
async fn a_tensor_in_two_shards_is_refused() {
    let store = memory();
    let a = [1u8; 4];
    let one =
        tensorsafe::serialize([("a", TensorView::new(Dtype::U8, [4], &a).unwrap())], None).unwrap();
    put(&store, "one.safetensors", one.clone()).await;
    put(&store, "two.safetensors", one).await;
    let index = r#"{"metadata":{"total_size":8},"weight_map":{"a":"one.safetensors","x":"two.safetensors"}}"#;
    put(&store, "i.json", index.as_bytes().to_vec()).await;
    let err = RemoteCheckpoint::open(store, "i.json").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DuplicateTensor, "{err}");
    assert_eq!(err.tensor(), Some("a"));
}

#[tokio::test]
async fn bad_requests_are_usage_errors() {
    let store = memory();
    let data: Vec<u8> = (0..24).collect();
    let file = tensorsafe::serialize(
        [("w", TensorView::new(Dtype::U8, [2, 3, 4], &data).unwrap())],
        None,
    )
    .unwrap();
    put(&store, "m.safetensors", file).await;
    let remote = RemoteFile::open(store, "m.safetensors").await.unwrap();
    let kind = |r: tensorsafe::Result<_>| {
        r.map(|_: tensorsafe::remote::OwnedTensor| ())
            .unwrap_err()
            .kind()
    };
    assert_eq!(
        kind(remote.slice("w", &[Select::Index(2)]).await),
        ErrorKind::InvalidSlice
    );
    assert_eq!(
        kind(remote.slice("w", &[Select::All; 4]).await),
        ErrorKind::InvalidSlice
    );
    assert_eq!(
        kind(remote.split("w", 1, 0, 2).await),
        ErrorKind::InvalidSlice
    );
    assert_eq!(
        kind(remote.split("w", 3, 0, 2).await),
        ErrorKind::InvalidSlice
    );
    assert_eq!(kind(remote.tensor("v").await), ErrorKind::TensorNotFound);
    let mut small = [0u8; 3];
    assert_eq!(
        remote
            .tensor_into("w", &mut small)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::BufferLength
    );
    assert_eq!(
        remote
            .slice_into("w", &[Select::Index(0)], &mut small)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::BufferLength
    );
    let row = remote
        .slice("w", &[Select::Index(1), Select::Index(2)])
        .await
        .unwrap();
    assert_eq!(
        (row.shape(), row.data()),
        (&[4][..], &[20u8, 21, 22, 23][..])
    );
}

#[test]
fn the_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let store = memory();
    send(&RemoteFile::open(store.clone(), "x"));
    send(&RemoteCheckpoint::open(store, "x.json"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bytes = std::fs::read(format!("{GOLDEN}/scalar.safetensors")).unwrap();
    runtime.block_on(async {
        let store = memory();
        put(&store, "s.safetensors", bytes).await;
        let file = RemoteFile::open(store.clone(), "s.safetensors")
            .await
            .unwrap();
        let checkpoint = RemoteCheckpoint::open(store, "s.safetensors")
            .await
            .unwrap();
        let name = file.header().names().next().unwrap().to_owned();
        send(&file.tensor(&name));
        send(&file.load(|_, _| {}));
        send(&checkpoint.load(|_, _| {}));
        send(&checkpoint.split(&name, 0, 0, 1));
        // And they run on another thread.
        let handle = tokio::spawn(async move { checkpoint.load(|_, _| {}).await.map(|c| c.len()) });
        assert_eq!(handle.await.unwrap().unwrap(), 1);
    });
}

fn spec() -> impl Strategy<Value = Vec<Select>> {
    let select = prop_oneof![
        Just(Select::All),
        (0usize..7).prop_map(Select::Index),
        (0usize..8, 0usize..9, 1usize..4).prop_map(|(start, stop, step)| Select::Range {
            start,
            stop,
            step
        }),
    ];
    prop::collection::vec(select, 0..=3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any selection, fetched with or without gap merging, equals the
    /// local slice (or both fail alike).
    #[test]
    fn remote_slices_equal_local_slices(spec in spec(), gap in prop_oneof![Just(0u64), Just(5), Just(64 << 10)]) {
        let data: Vec<u8> = (0..6 * 5 * 4 * 2).map(|i| (i % 256) as u8).collect();
        let view = TensorView::new(Dtype::U16, [6, 5, 4], &data).unwrap();
        let local = view.slice(&spec).map(|s| (s.shape().to_vec(), s.to_bytes()));
        let file = tensorsafe::serialize([("w", view)], None).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let remote = runtime.block_on(async {
            let store = memory();
            put(&store, "m.safetensors", file).await;
            // Header only in the first read, so the data is fetched.
            let mut options = RemoteOptions::default();
            options.max_gap = gap;
            options.header_read = 8;
            let remote = RemoteFile::open_with(store, "m.safetensors", &options).await.unwrap();
            remote.slice("w", &spec).await.map(|t| (t.shape().to_vec(), t.data().to_vec()))
        });
        match (local, remote) {
            (Ok(l), Ok(r)) => prop_assert_eq!(l, r),
            (Err(l), Err(r)) => prop_assert_eq!(l.kind(), r.kind()),
            (l, r) => prop_assert!(false, "local {:?}, remote {:?}", l.map(|_| ()), r.map(|_| ())),
        }
    }
}
