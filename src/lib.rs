//! A strict, fast, zero-copy reader and byte-exact writer for the
//! [safetensors](https://huggingface.co/docs/safetensors) tensor file format.
//!
//! ```
//! use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};
//!
//! // Write: any (name, view) pairs, plus optional metadata.
//! let weight: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
//! let bias = [7u8, 8];
//! let bytes = serialize(
//!     [
//!         ("layer.weight", TensorView::new(Dtype::F32, &[2, 2], &weight)?),
//!         ("layer.bias", TensorView::new(Dtype::U8, &[2], &bias)?),
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
//! - [`SafeTensors`] parses a buffer you hold; [`SafeTensorsFile`] opens a
//!   path (read into aligned memory, or memory-mapped) and owns its bytes.
//! - [`Header`] parses just the header, from a byte prefix or a reader.
//! - [`serialize`] and [`serialize_to_file`] write the reference writer's
//!   layout; the file variant is atomic and streams tensor bytes.
//! - Every rejection is an [`Error`] whose [`ErrorKind`] names the rule,
//!   with the tensor and byte offset where known. No input panics.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod dtype;
mod error;
mod file;
mod header;
mod index;
mod limits;
mod read;
mod write;

pub use dtype::Dtype;
pub use error::{Category, Error, ErrorKind, Result};
pub use file::SafeTensorsFile;
pub use header::{Header, Metadata, TensorInfo, PREFIX_LEN};
pub use index::{write_sharded, Checkpoint, INDEX_FILE};
pub use limits::{Limits, ParseOptions};
pub use read::{Element, Runs, SafeTensors, Select, Slice, TensorView, View};
pub use write::{
    serialize, serialize_to_file, serialize_to_file_with, serialize_with, AtomicFile, Declaration,
    StreamWriter, WriteOptions,
};

/// Re-exported so that `f16`/`bf16` typed views need no version juggling.
pub use half;
