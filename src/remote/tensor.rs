//! [`OwnedTensor`]: a tensor (or a slice of one) fetched into memory of its
//! own.

use std::prelude::rust_2021::*;

use core::fmt;

use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};
use crate::view::TensorView;

/// A tensor's bytes in an 8-byte aligned buffer of its own, with its dtype
/// and shape: what [`RemoteFile::tensor`](super::RemoteFile::tensor) and
/// [`RemoteFile::slice`](super::RemoteFile::slice) return. Every element
/// type is aligned, so typed views
/// ([`TensorView::as_slice`]) work without copying.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    words: Vec<u64>,
    len: usize,
}

impl OwnedTensor {
    /// A zero-filled tensor of `dtype` and `shape` (its byte length checked
    /// as [`TensorView::new`] checks it).
    pub(crate) fn zeroed(dtype: Dtype, shape: Vec<usize>) -> Result<Self> {
        let len = crate::checked::memory_len(dtype.shape_byte_len(&shape)?)?;
        // The length comes from a header: memory that cannot be had is an
        // error, not an abort.
        let mut words = Vec::new();
        words.try_reserve_exact(len.div_ceil(8)).map_err(|e| {
            Error::new(ErrorKind::Overflow).with_detail(format!("a tensor of {len} bytes: {e}"))
        })?;
        words.resize(len.div_ceil(8), 0);
        Ok(OwnedTensor {
            dtype,
            shape,
            words,
            len,
        })
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The bytes, little-endian as in the file.
    pub fn data(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    /// The bytes, to change in place.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }

    /// A view for typed access and for writing.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// use std::sync::Arc;
    /// use tensorsafe::remote::{object_store::{memory::InMemory, ObjectStoreExt}, RemoteFile};
    /// let w: Vec<u8> = [1.5f32, 2.5].iter().flat_map(|x| x.to_le_bytes()).collect();
    /// let file = tensorsafe::serialize([("w", tensorsafe::TensorView::new(tensorsafe::Dtype::F32, &[2], &w)?)], None)?;
    /// let store = Arc::new(InMemory::new());
    /// store.put(&"m.safetensors".into(), file.into()).await?;
    /// let tensor = RemoteFile::open(store, "m.safetensors").await?.tensor("w").await?;
    /// assert_eq!(tensor.view().as_slice::<f32>()?, [1.5, 2.5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn view(&self) -> TensorView<'_> {
        TensorView::new_unchecked(self.dtype, &self.shape, self.data())
    }
}

/// Shows dtype, shape and length, not the bytes.
impl fmt::Debug for OwnedTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedTensor")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("bytes", &self.len)
            .finish()
    }
}
