//! Reading: a validated file borrowed from a buffer, and views of its tensors.

mod convert;
mod element;
mod slice;
mod view;

pub use element::Element;
pub use slice::{Runs, Select, Slice};
pub(crate) use view::expected_len;
pub use view::{TensorView, View};

use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, Metadata, TensorInfo};
use crate::limits::ParseOptions;

/// A safetensors file parsed from a byte buffer (a `Vec`, an mmap, ...),
/// handing out zero-copy [`TensorView`]s into it.
///
/// ```
/// use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};
/// let weights: Vec<u8> = [0.5f32, -1.0].iter().flat_map(|x| x.to_le_bytes()).collect();
/// let bytes = serialize([("w", TensorView::new(Dtype::F32, &[2], &weights)?)], None)?;
///
/// let st = SafeTensors::deserialize(&bytes)?;
/// let w = st.tensor("w")?;
/// assert_eq!(w.shape(), &[2]);
/// assert_eq!(w.to_vec::<f32>()?, vec![0.5, -1.0]);
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SafeTensors<'data> {
    header: Header,
    data: &'data [u8],
}

impl<'data> SafeTensors<'data> {
    /// Parses and fully validates `buffer` (the whole file) with default
    /// [`Limits`](crate::Limits).
    pub fn deserialize(buffer: &'data [u8]) -> Result<Self> {
        Self::deserialize_with(buffer, &ParseOptions::default())
    }

    /// [`SafeTensors::deserialize`] with your own limits and strictness.
    pub fn deserialize_with(buffer: &'data [u8], options: &ParseOptions) -> Result<Self> {
        let header = Header::parse_with(buffer, options)?;
        header.check_file_len(buffer.len() as u64)?;
        let data = usize::try_from(header.data_start())
            .ok()
            .and_then(|start| buffer.get(start..))
            .ok_or_else(|| Error::new(ErrorKind::DataOutOfBounds))?;
        Ok(SafeTensors { header, data })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.header.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty()
    }

    /// Tensor names, in data-offset order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.header.names()
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        tensor(&self.header, self.data, name)
    }

    /// `(name, view)` for every tensor, in data-offset order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, TensorView<'_>)> + '_ {
        iter(&self.header, self.data)
    }

    /// The `__metadata__` map, if the file has one.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.header.metadata()
    }
}

/// The view of a validated entry.
#[inline]
pub(crate) fn view<'a>(info: TensorInfo<'a>, data: &'a [u8]) -> TensorView<'a> {
    let (begin, end) = info.data_offsets();
    // Validation proved begin <= end <= data.len(); the fallback is unreachable.
    let bytes = usize::try_from(begin)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(b, e)| data.get(b..e))
        .unwrap_or(&[]);
    TensorView::new_unchecked(info.dtype(), info.shape(), bytes)
}

#[inline]
pub(crate) fn tensor<'a>(header: &'a Header, data: &'a [u8], name: &str) -> Result<TensorView<'a>> {
    header
        .get(name)
        .map(|info| view(info, data))
        .ok_or_else(|| Error::new(ErrorKind::TensorNotFound).with_tensor(name))
}

pub(crate) fn iter<'a>(
    header: &'a Header,
    data: &'a [u8],
) -> impl ExactSizeIterator<Item = (&'a str, TensorView<'a>)> + 'a {
    header
        .iter()
        .map(move |info| (info.name(), view(info, data)))
}
