//! Files and sharded checkpoints in object storage (feature
//! `object-store`): read a header in one request, list a checkpoint of N
//! shards in 1 + N, and fetch single tensors, slices of tensors or whole
//! checkpoints with ranged reads, through any
//! [`ObjectStore`](object_store::ObjectStore): S3 and its compatibles,
//! GCS, Azure, HTTP, the local filesystem (feature `fs`) or memory.
//!
//! ```
//! use std::sync::Arc;
//! use tensorsafe::remote::object_store::{memory::InMemory, path::Path, ObjectStore, ObjectStoreExt};
//! use tensorsafe::remote::{RemoteCheckpoint, RemoteFile};
//! use tensorsafe::{Dtype, TensorView};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
//! let w: Vec<u8> = (0..8u8).collect();
//! let file = tensorsafe::serialize([("w", TensorView::new(Dtype::U8, &[2, 4], &w)?)], None)?;
//! store.put(&Path::from("model.safetensors"), file.into()).await?;
//!
//! // One ranged read of the object's start gives the validated header.
//! let remote = RemoteFile::open(store.clone(), "model.safetensors").await?;
//! assert_eq!(remote.header().get("w").unwrap().shape(), &[2, 4]);
//!
//! // A tensor, or just the part one rank of a tensor-parallel group needs.
//! assert_eq!(remote.tensor("w").await?.data(), &w[..]);
//! assert_eq!(remote.split("w", 1, 1, 2).await?.data(), [2, 3, 6, 7]);
//!
//! // A single file or a sharded checkpoint's index: the whole tensor table.
//! let checkpoint = RemoteCheckpoint::open(store, "model.safetensors").await?;
//! assert_eq!(checkpoint.entry("w")?.byte_range(), 8 + remote.header().header_len()..remote.size());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`RemoteFile`]: one `.safetensors` object. Opening it reads
//!   [`RemoteOptions::header_read`] bytes (64 KiB) from its start in one
//!   ranged GET, which also tells the object's size; a header longer than
//!   that takes one more. The header gets the same validation and limits
//!   as a local one ([`RemoteOptions::parse`]), and the object's size is
//!   checked against it.
//! - [`RemoteCheckpoint`]: a sharded checkpoint through its index (or a
//!   single file as a checkpoint of one shard): the index and then every
//!   shard's header, concurrently, checked against each other as
//!   [`Checkpoint::open`](crate::Checkpoint::open) checks local shards. It
//!   is the local [`Checkpoint`](crate::Checkpoint)'s design with objects
//!   for files: one checkpoint core holds the index and the headers, and
//!   gives both the same listing ([`Entry`], `entries`, `entry`, `iter`,
//!   `names`, `metadata`, ...).
//! - Reads go to a buffer you own (`*_into`), to an [`OwnedTensor`]
//!   (8-byte aligned, so typed views work), or for whole files and
//!   checkpoints to page-aligned memory ([`RemoteFile::load`] gives a
//!   [`SafeTensorsFile`](crate::SafeTensorsFile),
//!   [`RemoteCheckpoint::load`] a [`LoadedCheckpoint`]). Progress
//!   callbacks are `FnMut(done, total) + Send`, called one at a time. Slices become the byte ranges of
//!   their rows, merged where they touch or nearly touch
//!   ([`RemoteOptions::max_gap`]); large reads are cut into parts fetched
//!   in parallel ([`RemoteOptions::part_size`],
//!   [`RemoteOptions::concurrency`]).
//! - Every data read is pinned to the object the header came from (by its
//!   ETag, where the store gives one) and must bring exactly the bytes
//!   asked for: a shorter, longer or replaced object is an
//!   [`ErrorKind::FileChanged`](crate::ErrorKind::FileChanged) error naming
//!   the tensor and the object ([`Error::path`](crate::Error::path)), never
//!   a short tensor. Store errors are [`ErrorKind::Io`](crate::ErrorKind::Io)
//!   errors whose [`io_error`](crate::Error::io_error) wraps the
//!   `object_store` error (not found and permission denied keep their
//!   [`std::io::ErrorKind`]).
//!
//! The futures are `Send` and need no particular executor; the network
//! stores of `object_store` run on tokio. With the `s3`, `gcs`, `azure` or
//! `http` feature, `store_from_url` builds a store from a URL and the
//! environment; with `hf`, the `hub` module reads `hf://` checkpoints on the
//! Hugging Face Hub.

mod checkpoint;
mod fetch;
mod file;
#[cfg(feature = "hf")]
pub mod hub;
mod loaded;
mod tensor;

use crate::error::Error;
use crate::limits::ParseOptions;

pub use checkpoint::{Entry, RemoteCheckpoint};
pub use file::RemoteFile;
pub use loaded::LoadedCheckpoint;
pub use tensor::OwnedTensor;

/// Naming the object an error is about: its location in its store becomes
/// the error's [`path`](crate::Error::path), unless a file or object is
/// named already.
pub(crate) trait InObject {
    fn in_object(self, location: &object_store::path::Path) -> Self;
}

impl InObject for Error {
    fn in_object(self, location: &object_store::path::Path) -> Self {
        self.in_file(std::path::Path::new(location.as_ref()))
    }
}

/// Re-exported so that stores and paths need no version juggling.
pub use object_store;

/// How remote reads are made.
///
/// ```
/// let mut options = tensorsafe::remote::RemoteOptions::default();
/// options.concurrency = 32;          // more requests in flight
/// options.max_gap = 0;               // fetch only the bytes asked for
/// assert_eq!(options.header_read, 64 << 10);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RemoteOptions {
    /// Limits and strictness for headers (as for local files).
    pub parse: ParseOptions,
    /// Bytes read from an object's start to get its header: one request
    /// when the header fits (default 64 KiB, enough for most headers;
    /// a checkpoint with thousands of tensors per shard may want more).
    pub header_read: u64,
    /// Requests in flight at once (default 16).
    pub concurrency: usize,
    /// Largest single request: longer reads are cut into parts of this
    /// size, fetched in parallel (default 16 MiB).
    pub part_size: u64,
    /// Two byte ranges of one object are fetched by one request when at
    /// most this many unwanted bytes lie between them (default 64 KiB,
    /// less than one round trip's worth of transfer). 0 fetches exactly
    /// the bytes asked for, in as many requests as it takes.
    pub max_gap: u64,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            parse: ParseOptions::default(),
            header_read: 64 << 10,
            concurrency: 16,
            part_size: 16 << 20,
            max_gap: 64 << 10,
        }
    }
}

/// A store and the path in it for `url`, configured from the environment
/// as `object_store`'s builders read it (`AWS_ACCESS_KEY_ID`,
/// `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`,
/// `AZURE_STORAGE_ACCOUNT_NAME`, ...). Schemes: `s3://bucket/key` (feature
/// `s3`), `gs://` (`gcs`), `az://`, `abfs://` and Azure's `https://`
/// hosts (`azure`), other `http://` and `https://` URLs (`http`; an
/// `http://` URL allows plain HTTP), and `memory://` (an empty in-memory
/// store).
///
/// ```
/// // `s3://bucket/models/model.safetensors` gives the bucket's store and
/// // `models/model.safetensors`; `memory://` needs no configuration.
/// let (_store, path) = tensorsafe::remote::store_from_url("memory:///models/model.safetensors")?;
/// assert_eq!(path.as_ref(), "models/model.safetensors");
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
pub fn store_from_url(
    url: &str,
) -> crate::Result<(
    std::sync::Arc<dyn object_store::ObjectStore>,
    object_store::path::Path,
)> {
    use crate::error::Error;
    // The URL is the error's path, so it is said once.
    let at = std::path::Path::new(url);
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::from(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
            .with_detail("not a URL")
            .in_file(at)
    })?;
    // A plain `http://` URL says that plain HTTP is wanted.
    let plain_http = (parsed.scheme() == "http").then(|| ("allow_http".into(), "true".into()));
    let options = std::env::vars().chain(plain_http);
    let (store, path) = object_store::parse_url_opts(&parsed, options).map_err(|e| {
        Error::from(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
            .with_detail("cannot make a store for this URL")
            .in_file(at)
    })?;
    Ok((store.into(), path))
}
