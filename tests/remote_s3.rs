//! Remote reads through a real S3-compatible server (feature `s3`).
//!
//! `.ci/run` starts one on 127.0.0.1, fills it with
//! `tests/remote/s3_setup.py` (the golden files under `golden/`, a sharded
//! checkpoint written by Python safetensors under `sharded/`) and runs
//! these with `--ignored`, setting:
//!
//! - `TENSORSAFE_S3_BUCKET`: the bucket (URLs are `s3://BUCKET/...`);
//! - `TENSORSAFE_S3_SHARDED`: the local directory of the sharded checkpoint;
//! - `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`: read by the store.
//!
//! Every remote result is compared byte for byte with the local read of
//! the same file.

mod common;
#[path = "../examples/support/counting_store.rs"]
mod counting_store;

use std::path::PathBuf;
use std::sync::Arc;

use common::golden_files;
use counting_store::Counting;
use tensorsafe::remote::object_store::{ObjectStore, ObjectStoreExt};
use tensorsafe::remote::{store_from_url, RemoteCheckpoint, RemoteFile, RemoteOptions};
use tensorsafe::{Checkpoint, ErrorKind, SafeTensors, Select};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden");
const IGNORED: &str = "needs an S3-compatible server: .ci/run starts one";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set ({IGNORED})"))
}

fn bucket_store() -> Arc<dyn ObjectStore> {
    let (store, path) = store_from_url(&format!("s3://{}", env("TENSORSAFE_S3_BUCKET"))).unwrap();
    assert_eq!(path.as_ref(), "");
    store
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: .ci/run starts one"]
async fn s3_golden_files_equal_their_local_reads() {
    let store = bucket_store();
    for (name, bytes) in golden_files() {
        let local = SafeTensors::deserialize(&bytes).unwrap();
        // Through store_from_url with the object's own URL, too.
        let url = format!("s3://{}/golden/{name}", env("TENSORSAFE_S3_BUCKET"));
        let (own_store, location) = store_from_url(&url).unwrap();
        let remote = RemoteFile::open(own_store, location).await.unwrap();
        assert_eq!(remote.size(), bytes.len() as u64);
        assert_eq!(remote.header().names().collect::<Vec<_>>(), local.names());
        assert_eq!(remote.header().metadata(), local.metadata());
        for (tensor, view) in local.iter() {
            let fetched = remote.tensor(tensor).await.unwrap();
            assert_eq!(fetched.data(), view.data(), "{name}: {tensor}");
            assert_eq!(fetched.shape(), view.shape());
            // Halves along the first dimension, where it divides.
            if view.shape().first().is_some_and(|&d| d % 2 == 0 && d > 0) {
                for part in 0..2 {
                    let local = view.split(0, part, 2).unwrap().to_bytes();
                    assert_eq!(
                        remote.split(tensor, 0, part, 2).await.unwrap().data(),
                        local
                    );
                }
            }
        }
        let loaded = RemoteFile::open(store.clone(), format!("golden/{name}"))
            .await
            .unwrap()
            .load(|_, _| {})
            .await
            .unwrap();
        assert_eq!(loaded.as_bytes(), &bytes[..], "{name}");
    }
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: .ci/run starts one"]
async fn s3_sharded_checkpoint_lists_in_one_request_per_shard_and_reads_like_the_local_one() {
    let local_dir = PathBuf::from(env("TENSORSAFE_S3_SHARDED"));
    let local = Checkpoint::open_all(&local_dir).unwrap();
    let (store, counts) = Counting::wrap(bucket_store());

    let remote = RemoteCheckpoint::open(store.clone(), "sharded/model.safetensors.index.json")
        .await
        .unwrap();
    let shards = remote.files().len() as u64;
    assert_eq!(shards, local.files().len() as u64);
    let (gets, ranged, bytes) = counts.get();
    assert_eq!(
        (gets, ranged),
        (1 + shards, 1 + shards),
        "index + one read per shard"
    );
    let whole: u64 = std::fs::read_dir(&local_dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        bytes < whole / 4,
        "listing fetched {bytes} of {whole} bytes"
    );

    assert_eq!(
        remote.names().collect::<Vec<_>>(),
        local.names().collect::<Vec<_>>()
    );
    assert_eq!(remote.total_size(), local.total_size());
    for entry in remote.entries() {
        let view = local.tensor(entry.name()).unwrap();
        assert_eq!((entry.dtype(), entry.shape()), (view.dtype(), view.shape()));
        assert_eq!(
            entry.location().filename(),
            local.file_of(entry.name()),
            "{}",
            entry.name()
        );
        let fetched = remote.tensor(entry.name()).await.unwrap();
        assert_eq!(fetched.data(), view.data(), "{}", entry.name());
        // Rank 1 of 4 along each dimension that divides by 4.
        for dim in 0..view.shape().len() {
            if view.shape()[dim] % 4 == 0 {
                let part = remote.split(entry.name(), dim, 1, 4).await.unwrap();
                assert_eq!(part.data(), view.split(dim, 1, 4).unwrap().to_bytes());
            }
        }
        let rows = [Select::Range {
            start: 1,
            stop: 9,
            step: 3,
        }];
        // Both sides agree: the same bytes, or the same kind of refusal
        // (a scalar has no rows).
        match (view.slice(&rows), remote.slice(entry.name(), &rows).await) {
            (Ok(local), Ok(fetched)) => {
                assert_eq!(fetched.data(), local.to_bytes(), "{}", entry.name())
            }
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{}", entry.name()),
            (a, b) => panic!(
                "{}: local {:?}, remote {:?}",
                entry.name(),
                a.err(),
                b.err()
            ),
        }
    }

    // Exact column split: one request per row, a quarter of the bytes.
    let mut exact = RemoteOptions::default();
    exact.max_gap = 0;
    let exact_ckpt = RemoteCheckpoint::open_with(
        store.clone(),
        "sharded/model.safetensors.index.json",
        &exact,
    )
    .await
    .unwrap();
    let entry = exact_ckpt.entry("layers.0.mlp.down.weight").unwrap();
    let rows = entry.shape()[0] as u64;
    let range = entry.byte_range();
    let (row, quarter) = (
        (range.end - range.start) / rows,
        (range.end - range.start) / rows / 4,
    );
    // Rows whose quarter lies in the shard's first 64 KiB came with the
    // header read.
    let at_hand = (0..rows)
        .filter(|r| range.start + r * row + quarter <= exact.header_read)
        .count() as u64;
    counts.reset();
    let part = exact_ckpt.split(entry.name(), 1, 0, 4).await.unwrap();
    let (gets, _, bytes) = counts.get();
    assert_eq!(part.data().len() as u64, rows * quarter);
    assert_eq!(gets, rows - at_hand, "one request per row");
    assert_eq!(bytes, (rows - at_hand) * quarter, "exactly the quarter");

    // The whole checkpoint, into memory.
    let loaded = remote.load(|_, _| {}).await.unwrap();
    assert_eq!(loaded.len(), local.len());
    for name in local.names() {
        assert_eq!(
            loaded.tensor(name).unwrap().data(),
            local.tensor(name).unwrap().data()
        );
    }
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: .ci/run starts one"]
async fn s3_hostile_objects_are_refused() {
    let store = bucket_store();
    let bytes = std::fs::read(format!("{GOLDEN}/gpt2_tiny.safetensors")).unwrap();
    let put = |name: &'static str, data: Vec<u8>| {
        let store = store.clone();
        async move {
            store
                .put(&format!("hostile/{name}").into(), data.into())
                .await
                .unwrap()
        }
    };
    put("short.safetensors", bytes[..bytes.len() - 1].to_vec()).await;
    put(
        "long_header.safetensors",
        [&1_000_000u64.to_le_bytes()[..], b"{}"].concat(),
    )
    .await;
    put("empty.safetensors", Vec::new()).await;
    put(
        "model.safetensors.index.json",
        br#"{"metadata":{"total_size":1},"weight_map":{"a":"missing.safetensors"}}"#.to_vec(),
    )
    .await;
    let open = |name: &'static str| {
        let store = store.clone();
        async move {
            RemoteFile::open(store, format!("hostile/{name}"))
                .await
                .unwrap_err()
        }
    };
    assert_eq!(
        open("short.safetensors").await.kind(),
        ErrorKind::DataOutOfBounds
    );
    assert_eq!(
        open("long_header.safetensors").await.kind(),
        ErrorKind::HeaderOutOfBounds
    );
    assert_eq!(
        open("empty.safetensors").await.kind(),
        ErrorKind::FileTooSmall
    );
    let err = open("absent.safetensors").await;
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound)
    );
    let err = RemoteCheckpoint::open(store.clone(), "hostile/model.safetensors.index.json")
        .await
        .unwrap_err();
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert_eq!(
        err.path().unwrap().to_str(),
        Some("hostile/missing.safetensors")
    );

    // Replaced after its header was read: the ETag no longer matches.
    put("replaced.safetensors", bytes.clone()).await;
    let mut options = RemoteOptions::default();
    options.header_read = 8;
    let remote = RemoteFile::open_with(store.clone(), "hostile/replaced.safetensors", &options)
        .await
        .unwrap();
    let mut other = bytes.clone();
    *other.last_mut().unwrap() ^= 1;
    put("replaced.safetensors", other).await;
    let last = remote.header().names().last().unwrap().to_owned();
    let err = remote.tensor(&last).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
    assert_eq!(err.tensor(), Some(last.as_str()));
}
