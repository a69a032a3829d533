//! Checkpoints: a sharded one in the Hugging Face layout (an index file,
//! `model.safetensors.index.json`, beside `model-00001-of-0000N.safetensors`
//! shard files), or a single `.safetensors` file as a checkpoint of one
//! shard.
//!
//! - [`index_file`]: reading and writing the index file.
//! - [`base`]: what every checkpoint is, wherever its shards live: the
//!   index and every shard's header, checked against each other once, and
//!   the header-only listing over them ([`Entry`]). The local
//!   [`Checkpoint`] and the remote ones (`remote::RemoteCheckpoint`, and
//!   `remote::LoadedCheckpoint` in memory) are this core over their own
//!   shard type.
//! - [`locate`]: [`Located`], the checkpoint a local path names.
//! - [`checkpoint`]: [`Checkpoint`], the core over files on disk, reading
//!   shards when first needed or all at once.
//! - [`write`]: [`Writer::sharded`](crate::Writer::sharded), splitting
//!   tensors into shards.

pub(crate) mod base;
mod checkpoint;
pub(crate) mod index_file;
mod locate;
mod write;

pub use base::Entry;
pub use checkpoint::Checkpoint;
pub use index_file::INDEX_FILE;
pub use locate::Located;
