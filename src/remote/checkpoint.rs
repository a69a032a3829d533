//! [`RemoteCheckpoint`]: a sharded checkpoint (or a single file) in a
//! store, listed from its index and its shards' headers.

use std::format;
use std::prelude::rust_2021::*;

use core::fmt;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use object_store::path::{Path, PathPart};
use object_store::{GetOptions, GetRange, ObjectStore};

use super::fetch::{refused_size, store_error};
use super::file::{fetch_files, fetch_into};
use super::loaded::LoadedCheckpoint;
use super::{InObject, OwnedTensor, RemoteFile, RemoteOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, TensorInfo};
use crate::sharded::base::{listing, Core, Shard};
use crate::sharded::index_file::{check_index_len, is_index_name, Index, MAX_INDEX_BYTES};
#[cfg(doc)]
use crate::sharded::Checkpoint;
use crate::view::slice::Select;

/// One tensor of a [`RemoteCheckpoint`]: its header entry, its shard, and
/// where its bytes are in the shard object.
pub type Entry<'a> = crate::Entry<'a, RemoteFile>;

impl<'a> crate::Entry<'a, RemoteFile> {
    /// The shard's location in the store.
    pub fn location(&self) -> &'a Path {
        self.file().location()
    }
}

impl Shard for RemoteFile {
    type File = RemoteFile;

    fn header(&self) -> &Header {
        RemoteFile::header(self)
    }

    fn file(&self) -> &RemoteFile {
        self
    }
}

/// A checkpoint in a store: the whole tensor table of a sharded
/// checkpoint's shards, or of one file.
///
/// Opening a location ending in `.json` reads it as the index
/// (`model.safetensors.index.json`): one request for the index, then one
/// ranged read per shard for the headers, [`RemoteOptions::concurrency`]
/// at a time (a header longer than [`RemoteOptions::header_read`] takes
/// one more). The shards lie beside the index, each at exactly the key the
/// index names (`shard#1.safetensors` is that object, not
/// `shard%231.safetensors` as `Path::from` would make it), and are checked against
/// it as [`Checkpoint::open`] checks local ones: no tensor in two shards,
/// every mapped tensor where the index says, none it does not map
/// (`metadata.total_size` is checked by [`RemoteCheckpoint::verify`]
/// only, as locally). (Unlike a local directory, the store is not
/// listed for shard objects the index does not name: that would cost a
/// list request.) Any other location is one `.safetensors` file: a
/// checkpoint of one shard.
///
/// The listing ([`entries`](Self::entries), [`entry`](Self::entry),
/// [`iter`](Self::iter), [`names`](Self::names), ...) is the local
/// [`Checkpoint`]'s, with the same names and meanings.
///
/// Here the store is a local directory (`LocalFileSystem`, feature `fs`):
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use std::sync::Arc;
/// use tensorsafe::remote::object_store::{local::LocalFileSystem, ObjectStore};
/// use tensorsafe::remote::RemoteCheckpoint;
/// use tensorsafe::{Dtype, TensorView, Writer};
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-remote-ckpt-doc-{}", std::process::id()));
/// let (a, b) = ([1u8; 600], [2u8; 600]);
/// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
/// Writer::new().sharded(tensors, &dir, 1000)?; // two shards and the index
///
/// let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&dir)?);
/// let checkpoint = RemoteCheckpoint::open(store, "model.safetensors.index.json").await?;
/// let b = checkpoint.entry("b")?;
/// assert_eq!((b.shard(), b.location().as_ref()), (1, "model-00002-of-00002.safetensors"));
/// assert_eq!(checkpoint.tensor("b").await?.data(), [2; 600]);
///
/// let loaded = checkpoint.load(|_, _| {}).await?; // every shard, in memory
/// assert_eq!(loaded.tensor("a")?.data(), [1; 600]);
/// assert_eq!(loaded.entry("a")?.byte_range(), checkpoint.entry("a")?.byte_range());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RemoteCheckpoint {
    location: Path,
    core: Core<RemoteFile>,
    options: RemoteOptions,
}

impl RemoteCheckpoint {
    /// Opens the checkpoint at `location` (an index, or a single file);
    /// `options` are for its reads too. [`RemoteCheckpoint::open`] takes
    /// the default options.
    pub async fn open_with(
        store: Arc<dyn ObjectStore>,
        location: impl Into<Path>,
        options: &RemoteOptions,
    ) -> Result<Self> {
        Self::open_at(store, location.into(), options).await
    }

    /// [`RemoteCheckpoint::open_with`], not generic (compiled once).
    async fn open_at(
        store: Arc<dyn ObjectStore>,
        location: Path,
        options: &RemoteOptions,
    ) -> Result<Self> {
        let (index, shards) = if is_index(&location) {
            open_shards(store, &location, options).await?
        } else {
            let file = RemoteFile::open_with(store, location.clone(), options).await?;
            let name = location.filename().unwrap_or_default();
            (Index::single(name, file.header()), vec![file])
        };
        let core = Core::new(index, shards, std::path::Path::new(location.as_ref()))?;
        Ok(RemoteCheckpoint {
            location,
            core,
            options: *options,
        })
    }

    /// [`RemoteCheckpoint::open_with`] with default [`RemoteOptions`].
    pub async fn open(store: Arc<dyn ObjectStore>, location: impl Into<Path>) -> Result<Self> {
        Self::open_with(store, location, &RemoteOptions::default()).await
    }

    /// The index's location (or the single file's).
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// Whether it was opened through an index (a `.json` location), not as
    /// a single file.
    pub fn is_sharded(&self) -> bool {
        is_index(&self.location)
    }

    /// Shard `i` (a position in [`RemoteCheckpoint::files`]), whose header
    /// opening read; [`ErrorKind::ShardNotFound`](crate::ErrorKind::ShardNotFound)
    /// past the last.
    pub fn shard(&self, i: usize) -> Result<&RemoteFile> {
        self.core.shard(i)
    }

    /// Where shard `i` (a position in [`RemoteCheckpoint::files`]) is in
    /// the store: beside the index, at the key the index names.
    pub fn shard_location(&self, i: usize) -> Option<&Path> {
        self.core.shards.get(i).map(RemoteFile::location)
    }

    listing!(core, RemoteFile);

    /// Fetches tensor `name` into `buf` ([`RemoteFile::tensor_into`]).
    pub async fn tensor_into(&self, name: &str, buf: &mut [u8]) -> Result<()> {
        self.entry(name)?.file().tensor_into(name, buf).await
    }

    /// Fetches tensor `name` into memory of its own ([`RemoteFile::tensor`]).
    pub async fn tensor(&self, name: &str) -> Result<OwnedTensor> {
        self.entry(name)?.file().tensor(name).await
    }

    /// Fetches a selection of tensor `name` into `buf`
    /// ([`RemoteFile::slice_into`]).
    pub async fn slice_into(&self, name: &str, spec: &[Select], buf: &mut [u8]) -> Result<()> {
        self.entry(name)?.file().slice_into(name, spec, buf).await
    }

    /// Fetches a selection of tensor `name` ([`RemoteFile::slice`]).
    pub async fn slice(&self, name: &str, spec: &[Select]) -> Result<OwnedTensor> {
        self.entry(name)?.file().slice(name, spec).await
    }

    /// Part `k` of `n` of tensor `name` along `dim`
    /// ([`RemoteFile::split`]).
    pub async fn split(&self, name: &str, dim: usize, k: usize, n: usize) -> Result<OwnedTensor> {
        self.entry(name)?.file().split(name, dim, k, n).await
    }

    /// Fetches every shard into page-aligned memory, and returns them as a
    /// [`LoadedCheckpoint`]: the same listing, with tensors as views into
    /// that memory. All shards' bytes are fetched together, cut into parts
    /// of [`RemoteOptions::part_size`], at most
    /// [`RemoteOptions::concurrency`] requests in flight. `progress` is
    /// told the bytes fetched so far and in all; its calls are serialised,
    /// so it may be any `FnMut` (see [how progress is counted](crate::LoadOptions#progress)).
    pub async fn load(
        &self,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<LoadedCheckpoint> {
        let files = fetch_files(&self.core.shards, &self.options, &mut progress).await?;
        let locations = self.core.shards.iter().map(|s| s.location().clone());
        LoadedCheckpoint::new(
            self.location.clone(),
            self.is_sharded(),
            self.core.index.clone(),
            locations.zip(files).collect(),
        )
    }

    /// Fetches tensors of every shard into buffers the caller owns, as
    /// [`Checkpoint::load_into`] does locally: `dest` is asked, shard by
    /// shard in file order, for each tensor's destination (a buffer of
    /// exactly its length, or `None` to skip it); then all chosen tensors
    /// are fetched together, neighbours merged, large ones cut into parts.
    /// `progress` is told the bytes fetched so far and in all
    /// (see [how progress is counted](crate::LoadOptions#progress)).
    pub async fn load_into<'b>(
        &self,
        mut dest: impl FnMut(TensorInfo<'_>) -> Option<&'b mut [u8]>,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<()> {
        fetch_into(&self.core.shards, &self.options, &mut dest, &mut progress).await
    }

    /// What opening did not check: that the index's `metadata.total_size`
    /// is the bytes of tensors the shards hold
    /// ([`ErrorKind::IndexTotalSize`](crate::ErrorKind::IndexTotalSize)),
    /// as [`Checkpoint::verify`] checks it. (The store is not listed for
    /// shard objects the index does not name.) Only this checks it:
    /// opening, fetching and the loads do not need `total_size`.
    pub fn verify(&self) -> Result<()> {
        self.core
            .check_total_size(std::path::Path::new(self.location.as_ref()))
    }

    /// The options reads use (the ones it was opened with).
    pub fn options(&self) -> &RemoteOptions {
        &self.options
    }
}

impl fmt::Debug for RemoteCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteCheckpoint")
            .field("location", &self.location.as_ref())
            .field("files", &self.core.index.files)
            .field("tensors", &self.core.len())
            .finish()
    }
}

/// The index at `location`, and every shard it names opened (header read),
/// [`RemoteOptions::concurrency`] at a time.
async fn open_shards(
    store: Arc<dyn ObjectStore>,
    location: &Path,
    options: &RemoteOptions,
) -> Result<(Index, Vec<RemoteFile>)> {
    let index = read_index(&*store, location)
        .await
        .map_err(|e| e.in_object(location))?;
    let dir: Path = location
        .parts()
        .take(location.parts().count().saturating_sub(1))
        .collect();
    let locations = index
        .files
        .iter()
        .map(|file| shard_location(&dir, file))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| e.in_object(location))?;
    // Made before the stream, so the future stays `Send`.
    let opens: Vec<_> = locations
        .into_iter()
        .map(|at| RemoteFile::open_with(store.clone(), at, options))
        .collect();
    let shards = stream::iter(opens)
        .buffered(options.concurrency.max(1))
        .try_collect()
        .await?;
    Ok((index, shards))
}

/// A location is read as an index when it ends in `.json`.
fn is_index(location: &Path) -> bool {
    is_index_name(location.as_ref())
}

/// Where shard `file` (a plain file name: the index was checked) lies:
/// beside the index, at exactly that key. Joining the `&str` would
/// percent-encode characters such as `#`, `%` or `[` and look for another
/// object than the one the index names.
fn shard_location(dir: &Path, file: &str) -> Result<Path> {
    match PathPart::parse(file) {
        Ok(part) => Ok(dir.clone().join(part)),
        Err(e) => Err(Error::new(ErrorKind::IndexInvalid)
            .with_detail(format!("shard {file:?} cannot be an object's name: {e}"))),
    }
}

/// Reads and parses the index object at `location`: its size checked
/// before its bytes are read, as for a local index.
async fn read_index(store: &dyn ObjectStore, location: &Path) -> Result<Index> {
    let options = GetOptions {
        range: Some(GetRange::Bounded(0..MAX_INDEX_BYTES + 1)),
        ..GetOptions::default()
    };
    let result = match store.get_opts(location, options).await {
        Ok(result) => result,
        // An empty index is refused like an empty local index file (some
        // stores refuse any range of an empty object).
        Err(err) => match refused_size(store, location, &err).await {
            Some(0) => return Index::from_bytes(b""),
            _ => return Err(store_error(err, location)),
        },
    };
    check_index_len(result.meta.size)?;
    let bytes = result.bytes().await.map_err(|e| store_error(e, location))?;
    Index::from_bytes(&bytes)
}
