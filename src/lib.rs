//! A strict, fast, zero-copy reader and byte-exact writer for the
//! [safetensors](https://huggingface.co/docs/safetensors) tensor file format.
//!
//! ```
//! use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};
//!
//! // Write: any (name, view) pairs, plus optional metadata. A view is
//! // typed elements (dtype inferred) or little-endian bytes with a dtype.
//! let weight = [1.0f32, 2.0, 3.0, 4.0];
//! let bias = [7u8, 8];
//! let bytes = serialize(
//!     [
//!         ("layer.weight", TensorView::from_slice([2, 2], &weight)?),
//!         ("layer.bias", TensorView::new(Dtype::U8, [2], &bias)?),
//!     ],
//!     None,
//! )?;
//!
//! // Read: full validation, then views that borrow from `bytes`.
//! let st = SafeTensors::deserialize(&bytes)?;
//! for (name, view) in st.iter() {
//!     println!("{name}: {} {:?}, {} bytes", view.dtype(), view.shape(), view.data().len());
//! }
//! let w = st.tensor("layer.weight")?;
//! assert_eq!(w.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
//! # Ok::<(), tensorsafe::Error>(())
//! ```
//!
//! - [`SafeTensors`] is the reader: it parses a buffer you hold, and its
//!   [`TensorView`]s borrow that buffer. [`SafeTensorsFile`] opens a path
//!   (read into aligned memory, or memory-mapped), owns the bytes, and
//!   answers the same questions (`file.tensor(name)`, `file.iter()`, ...);
//!   [`SafeTensorsFile::reader`] lends a [`SafeTensors`] over them for code
//!   written against the reader. Where the reference `safetensors` crate
//!   has a name (`tensors`, `names`, `read_metadata`, `Dtype::size`,
//!   `TensorView::new`, ...), ours means the same, or its documentation
//!   says how it differs.
//! - [`Header`] parses just the header, from a byte prefix or a reader.
//! - [`serialize`] and [`serialize_to_file`] write the reference writer's
//!   layout; [`Writer`] carries options (alignment, metadata, progress) to
//!   memory, a file (atomic), a stream of chunks or a sharded checkpoint.
//! - [`Checkpoint`] opens any model path (a `.safetensors` file, a sharded
//!   checkpoint's index, or a directory holding either), lists every
//!   tensor from the shards' headers ([`Entry`]) and reads shards when
//!   needed.
//! - With the `object-store` feature, `remote` reads files and sharded
//!   checkpoints in object storage (S3, GCS, Azure, HTTP, ...) with ranged
//!   requests: headers in one request, tensors and slices without the rest.
//! - With the `arbitrary` feature, `arbitrary` generates safetensors files
//!   (and slice, split and writer arguments) from fuzzer input,
//!   structurally valid or deliberately off, with numbers at the edges
//!   where size arithmetic breaks.
//! - Every rejection is an [`Error`] whose [`ErrorKind`] names the rule,
//!   with the tensor, byte offset and file where known. No input panics.
//!   The rules, and where they are stricter than the reference crate, are
//!   in the repository's `docs/FORMAT.md`.
//!
//! How the source is laid out, bottom up (each layer uses only those above
//! it): `error`, `dtype`, `limits`; `json` (scanning and emitting) and
//! `names` (the name table); `header` (parse, validate); `view` (the
//! [`View`] trait, [`TensorView`], typed access, slicing); `read` (the
//! reader and the file storages); `write` (the [`Writer`] builder, layout,
//! streaming, atomic files); `sharded` (index file, the checkpoint core
//! that every checkpoint is built on, [`Checkpoint`] over files on disk,
//! sharded writing); `remote` (ranged reads from object stores, and the
//! same checkpoint core over objects); `arbitrary` (generated files and
//! arguments for fuzzing). `error` knows no layer above it (nor
//! `object_store`), and `remote` reaches into no module's private parts:
//! it uses what `read` offers the crate, and the checkpoint core of
//! `sharded` (index, shard headers, listing), which it shares.

#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;
// Unit tests use std whatever the features; the library itself sees `std`
// only with the `std` feature, so a stray `std::` fails the no_std build.
#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "arbitrary")]
pub mod arbitrary;
mod checked;
mod dtype;
mod error;
#[cfg(doctest)]
mod guides;
mod header;
mod integrations;
mod json;
mod limits;
mod names;
mod read;
#[cfg(feature = "object-store")]
pub mod remote;
#[cfg(feature = "std")]
mod sharded;
mod view;
mod write;

pub use dtype::Dtype;
pub use error::{Category, Error, ErrorKind, Result};
pub use header::{Header, Metadata, TensorInfo, PREFIX_LEN};
pub use limits::{Limits, ParseOptions};
pub use read::SafeTensors;
#[cfg(feature = "std")]
pub use read::{load_into, read_tensor_into, LoadOptions, SafeTensorsFile};
#[cfg(feature = "std")]
pub use sharded::{Checkpoint, Entry, Located, INDEX_FILE};
pub use view::element::Element;
pub use view::slice::{ByteRanges, Runs, Select, Slice};
pub use view::{TensorView, View};
pub use write::{serialize, Writer, MAX_ALIGNMENT};
#[cfg(feature = "std")]
pub use write::{serialize_to_file, AtomicFile, Declaration, FileView, StreamWriter};

/// Re-exported so that `f16`/`bf16` typed views need no version juggling.
pub use half;

/// Re-exported because [`Element`] builds on its traits: casting your own
/// buffers with the same version needs no version juggling.
pub use bytemuck;
