//! [`LoadedCheckpoint`]: a remote checkpoint fetched whole into memory.

use std::prelude::rust_2021::*;

use core::fmt;

use object_store::path::Path;

use crate::error::Result;
use crate::header::Header;
use crate::read::SafeTensorsFile;
use crate::sharded::base::{listing, Core, Shard};
use crate::sharded::index_file::Index;
use crate::view::TensorView;

/// A checkpoint whose shards were fetched from a store into memory
/// ([`RemoteCheckpoint::load`](super::RemoteCheckpoint::load)): the same
/// listing as the [`RemoteCheckpoint`](super::RemoteCheckpoint) it came
/// from and as a local [`Checkpoint`](crate::Checkpoint), and every tensor
/// a [`TensorView`] into page-aligned memory. Nothing here reads from the
/// store (or from disk) again.
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use std::sync::Arc;
/// use tensorsafe::remote::object_store::{memory::InMemory, ObjectStoreExt};
/// use tensorsafe::remote::RemoteCheckpoint;
/// use tensorsafe::{Dtype, TensorView};
/// let w: Vec<u8> = [1.5f32, 2.5].iter().flat_map(|x| x.to_le_bytes()).collect();
/// let file = tensorsafe::serialize([("w", TensorView::new(Dtype::F32, &[2], &w)?)], None)?;
/// let store = Arc::new(InMemory::new());
/// store.put(&"model.safetensors".into(), file.into()).await?;
///
/// let checkpoint = RemoteCheckpoint::open(store, "model.safetensors").await?;
/// let mut calls = 0;
/// let loaded = checkpoint.load(|_, _| calls += 1).await?;
/// assert!(calls > 0);
/// assert_eq!(loaded.tensor("w")?.as_slice::<f32>()?, [1.5, 2.5]); // page aligned
/// assert_eq!(loaded.shard_location(0).map(|l| l.as_ref()), Some("model.safetensors"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LoadedCheckpoint {
    location: Path,
    sharded: bool,
    /// Where each shard was fetched from, in the order of `files()`.
    locations: Vec<Path>,
    core: Core<SafeTensorsFile>,
}

impl Shard for SafeTensorsFile {
    type File = SafeTensorsFile;

    fn header(&self) -> &Header {
        SafeTensorsFile::header(self)
    }

    fn file(&self) -> &SafeTensorsFile {
        self
    }
}

impl fmt::Debug for LoadedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedCheckpoint")
            .field("location", &self.location.as_ref())
            .field("files", &self.core.index.files)
            .field("tensors", &self.core.len())
            .finish()
    }
}

impl LoadedCheckpoint {
    /// The shards (each with where it came from) of the checkpoint at
    /// `location`, in the order of `index.files`.
    pub(crate) fn new(
        location: Path,
        sharded: bool,
        index: Index,
        shards: Vec<(Path, SafeTensorsFile)>,
    ) -> Result<Self> {
        let (locations, files) = shards.into_iter().unzip();
        let core = Core::new(index, files, std::path::Path::new(location.as_ref()))?;
        Ok(LoadedCheckpoint {
            location,
            sharded,
            locations,
            core,
        })
    }

    /// The index's location (or the single file's) in its store.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// Whether it was opened through an index, not as a single file.
    pub fn is_sharded(&self) -> bool {
        self.sharded
    }

    /// Shard `i` (a position in [`LoadedCheckpoint::files`]), in memory;
    /// [`ErrorKind::ShardNotFound`](crate::ErrorKind::ShardNotFound) past
    /// the last.
    pub fn shard(&self, i: usize) -> Result<&SafeTensorsFile> {
        self.core.shard(i)
    }

    /// Where shard `i` (a position in [`LoadedCheckpoint::files`]) was
    /// fetched from.
    pub fn shard_location(&self, i: usize) -> Option<&Path> {
        self.locations.get(i)
    }

    listing!(core, SafeTensorsFile);

    /// The tensor called `name`: a view into its shard's memory.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let entry = self.entry(name)?;
        entry.file().tensor(name)
    }
}
