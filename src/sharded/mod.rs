//! Sharded checkpoints in the Hugging Face layout: an index file
//! (`model.safetensors.index.json`) beside `model-00001-of-0000N.safetensors`
//! shard files.
//!
//! - [`index_file`]: reading and writing the index file.
//! - [`checkpoint`]: [`Checkpoint`], one lookup across the shards, and its
//!   check of the index against the shards.
//! - [`write`]: [`Writer::sharded`](crate::Writer::sharded), splitting
//!   tensors into shards.

mod checkpoint;
pub(crate) mod index_file;
mod write;

pub use checkpoint::Checkpoint;
pub use index_file::INDEX_FILE;
