//! A drop-in replacement for the `safetensors` 0.8 crate, backed by
//! [`tensorsafe`].
//!
//! Same package name, same paths, same signatures: a project (or a
//! framework it depends on, such as candle) switches with Cargo
//! configuration alone:
//!
//! ```toml
//! [patch.crates-io]
//! safetensors = { git = "https://github.com/tensorsafe/tensorsafe" }  # or { path = ".../compat" }
//! ```
//!
//! ```
//! use safetensors::tensor::TensorView;
//! use safetensors::{serialize, Dtype, SafeTensors};
//!
//! let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
//! let view = TensorView::new(Dtype::F32, vec![2], &data)?;
//! let bytes = serialize([("w", view)], None)?;
//!
//! let st = SafeTensors::deserialize(&bytes)?;
//! let w = st.tensor("w")?;
//! assert_eq!((w.dtype(), w.shape(), w.data()), (Dtype::F32, &[2][..], &data[..]));
//! # Ok::<(), safetensors::SafeTensorError>(())
//! ```
//!
//! What differs from the reference is behaviour, never the API:
//!
//! - Parsing is tensorsafe's: several times faster, and stricter. Files the
//!   reference accepts but tensorsafe refuses (a tensor name given twice,
//!   JSON the reference's parser lets through) fail with the closest
//!   [`SafeTensorError`] variant; the README of this crate lists how every
//!   tensorsafe error kind maps onto the reference's 14 variants. The
//!   limits are the reference's: a header of up to 100,000,000 bytes,
//!   with any number of tensors of any rank.
//! - Where the reference panics (two tensors with one name given to
//!   [`serialize`], a slice bound that overflows) this crate returns an
//!   error.
//! - [`SafeTensors::tensors`], [`SafeTensors::iter`], [`SafeTensors::names`]
//!   and [`Metadata::tensors`](tensor::Metadata::tensors) list tensors in
//!   data-offset order (the reference: hash-map order, which varies from
//!   run to run).
//! - [`serialize_to_file`] syncs the new file before renaming it over the
//!   target and the directory after (the reference syncs neither), keeps
//!   the replaced file's permissions (the reference's file is always
//!   `0600`), and writes through a symbolic link (the reference replaces
//!   the link).
//! - [`serialize`] writes `__metadata__` keys sorted; with at most one key
//!   (the usual `{"format": "pt"}`) the bytes are the reference's exactly.
//!
//! Features: `std` (default) and `alloc`, as in the reference.
//! `default-features = false, features = ["alloc"]` builds `no_std`.

#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

mod convert;
pub mod slice;
pub mod tensor;

#[cfg(feature = "std")]
pub use tensor::serialize_to_file;
pub use tensor::{serialize, Dtype, SafeTensorError, SafeTensors, View};

/// The library this crate adapts, for code that wants its richer API
/// (typed views, owned file handles, loaders) beside the reference's.
pub use tensorsafe;

/// The map type of `__metadata__` and of [`Metadata::tensors`](tensor::Metadata::tensors):
/// std's `HashMap` with `std`, `hashbrown`'s without, as in the reference.
#[cfg(feature = "std")]
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V>;
#[cfg(not(feature = "std"))]
pub(crate) type HashMap<K, V> = hashbrown::HashMap<K, V>;
