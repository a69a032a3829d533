//! Writing: the reference writer's canonical layout, to memory or atomically
//! to a file.

mod atomic;
mod json;
mod stream;

pub use atomic::AtomicFile;
pub(crate) use json::{integer as json_integer, string as json_string};
pub use stream::{Declaration, StreamWriter};

use std::io::Write;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::header::index::NameIndex;
use crate::header::{Metadata, PREFIX_LEN};
use crate::limits::Limits;
use crate::read::{expected_len, View};

/// The header bytes (prefix included) and the tensors in file order.
struct Prepared<V> {
    header: Vec<u8>,
    tensors: Vec<V>,
    data_len: u64,
}

/// How to lay out a file.
///
/// The default is the reference writer's layout. With
/// [`WriteOptions::alignment`] the data section starts at a multiple of the
/// alignment and tensors are ordered so that each lands on the largest
/// power of two dividing its size (up to the alignment), with no holes: the
/// file stays valid for every reader.
///
/// ```
/// use tensorsafe::{serialize_with, Dtype, SafeTensors, TensorView, WriteOptions};
/// let (a, b) = ([0u8; 3], [0u8; 64]);
/// let bytes = serialize_with(
///     [("odd", TensorView::new(Dtype::U8, &[3], &a)?), ("big", TensorView::new(Dtype::U8, &[64], &b)?)],
///     None,
///     &WriteOptions::default().alignment(64)?,
/// )?;
/// let st = SafeTensors::deserialize(&bytes)?;
/// assert_eq!(st.header().data_start() % 64, 0);
/// assert_eq!(st.header().get("big").unwrap().data_offsets(), (0, 64));
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    alignment: Option<u64>,
}

impl WriteOptions {
    /// The largest alignment accepted: 1 MiB.
    pub const MAX_ALIGNMENT: u64 = 1 << 20;

    /// Aligns the data section and the tensors to `alignment` bytes where
    /// their sizes allow. Must be a power of two up to 1 MiB.
    pub fn alignment(mut self, alignment: u64) -> Result<Self> {
        if !alignment.is_power_of_two() || alignment > Self::MAX_ALIGNMENT {
            return Err(Error::new(ErrorKind::InvalidAlignment)
                .with_detail(format!("{alignment} is not a power of two up to 1 MiB")));
        }
        self.alignment = Some(alignment);
        Ok(self)
    }
}

/// The largest power of two dividing `len`, capped at `cap` (`cap` for 0).
fn alignment_of(len: u64, cap: u64) -> u64 {
    if len == 0 {
        cap
    } else {
        (1u64 << len.trailing_zeros()).min(cap)
    }
}

/// Refuses duplicate names and the reserved name `__metadata__`.
fn check_names<'n>(count: usize, name_of: impl Fn(usize) -> &'n str) -> Result<()> {
    NameIndex::build(count, &name_of)
        .map_err(|dup| Error::new(ErrorKind::DuplicateTensor).with_tensor(name_of(dup)))?;
    if let Some(i) = (0..count).find(|&i| name_of(i) == "__metadata__") {
        return Err(Error::new(ErrorKind::ReservedName).with_tensor(name_of(i)));
    }
    Ok(())
}

/// Byte length of a tensor to write, with the tensor named in errors.
fn tensor_len(name: &str, dtype: crate::Dtype, shape: &[usize]) -> Result<u64> {
    let len = expected_len(dtype, shape).map_err(|e| {
        let detail = e.detail().unwrap_or_default().to_owned();
        Error::new(e.kind()).with_tensor(name).with_detail(detail)
    })?;
    Ok(len as u64)
}

/// Renders the prefix and header for tensors laid out back to back in the
/// given order; returns it with the data section's length.
fn render_header<'t>(
    tensors: impl ExactSizeIterator<Item = (&'t str, crate::Dtype, &'t [usize], u64)>,
    metadata: Option<&Metadata>,
    options: &WriteOptions,
) -> Result<(Vec<u8>, u64)> {
    let mut header = Vec::with_capacity(PREFIX_LEN + 64 + tensors.len() * 96);
    header.extend_from_slice(&[0; PREFIX_LEN]);
    header.push(b'{');
    let mut first = true;
    if let Some(metadata) = metadata {
        json::string(&mut header, "__metadata__");
        header.extend_from_slice(b":{");
        for (i, (key, value)) in metadata.iter().enumerate() {
            if i > 0 {
                header.push(b',');
            }
            json::string(&mut header, key);
            header.push(b':');
            json::string(&mut header, value);
        }
        header.push(b'}');
        first = false;
    }
    let mut offset: u64 = 0;
    for (name, dtype, shape, len) in tensors {
        if !first {
            header.push(b',');
        }
        first = false;
        let end = offset
            .checked_add(len)
            .ok_or_else(|| Error::new(ErrorKind::Overflow).with_tensor(name))?;
        json::string(&mut header, name);
        header.extend_from_slice(b":{\"dtype\":\"");
        header.extend_from_slice(dtype.name().as_bytes());
        header.extend_from_slice(b"\",\"shape\":[");
        for (i, &dim) in shape.iter().enumerate() {
            if i > 0 {
                header.push(b',');
            }
            json::integer(&mut header, dim as u64);
        }
        header.extend_from_slice(b"],\"data_offsets\":[");
        json::integer(&mut header, offset);
        header.push(b',');
        json::integer(&mut header, end);
        header.extend_from_slice(b"]}");
        offset = end;
    }
    header.push(b'}');
    // Pad with spaces so the data section starts at a multiple of 8 (or of
    // the alignment).
    let unit = usize::try_from(options.alignment.unwrap_or(8).max(8)).unwrap_or(8);
    let padded = header.len().next_multiple_of(unit);
    header.resize(padded, b' ');
    let n = (padded - PREFIX_LEN) as u64;
    let limit = Limits::DEFAULT_MAX_HEADER_BYTES;
    if n > limit {
        return Err(Error::new(ErrorKind::HeaderTooLarge).with_detail(format!(
            "header would be {n} bytes, readers refuse more than {limit}"
        )));
    }
    if let Some(prefix) = header.get_mut(..PREFIX_LEN) {
        prefix.copy_from_slice(&n.to_le_bytes());
    }
    Ok((header, offset))
}

/// Checks the tensors, orders them as the reference writer does (dtype
/// descending, then name) or for alignment, and renders the header.
fn prepare<S, V, I>(
    tensors: I,
    metadata: Option<&Metadata>,
    options: &WriteOptions,
) -> Result<Prepared<V>>
where
    S: AsRef<str>,
    V: View,
    I: IntoIterator<Item = (S, V)>,
{
    let mut tensors: Vec<(S, V)> = tensors.into_iter().collect();
    check_names(tensors.len(), |i| {
        tensors.get(i).map_or("", |(name, _)| name.as_ref())
    })?;
    for (name, view) in &tensors {
        let expected = tensor_len(name.as_ref(), view.dtype(), view.shape())?;
        if view.data_len() as u64 != expected {
            return Err(Error::new(ErrorKind::InvalidView)
                .with_tensor(name.as_ref())
                .with_detail(format!(
                    "{} bytes given, {:?} of {} needs {expected}",
                    view.data_len(),
                    view.shape(),
                    view.dtype()
                )));
        }
    }
    // Names are unique, so an unstable sort gives the one canonical order.
    let reference_order = |(ln, lv): &(S, V), (rn, rv): &(S, V)| {
        rv.dtype()
            .cmp(&lv.dtype())
            .then_with(|| ln.as_ref().cmp(rn.as_ref()))
    };
    match options.alignment {
        None => tensors.sort_unstable_by(reference_order),
        // Larger power-of-two factors first: each tensor then starts at a
        // multiple of its own factor (capped at the alignment).
        Some(cap) => tensors.sort_unstable_by(|l, r| {
            alignment_of(r.1.data_len() as u64, cap)
                .cmp(&alignment_of(l.1.data_len() as u64, cap))
                .then_with(|| reference_order(l, r))
        }),
    }
    let (header, data_len) = render_header(
        tensors
            .iter()
            .map(|(n, v)| (n.as_ref(), v.dtype(), v.shape(), v.data_len() as u64)),
        metadata,
        options,
    )?;
    Ok(Prepared {
        header,
        tensors: tensors.into_iter().map(|(_, v)| v).collect(),
        data_len,
    })
}

impl<V: View> Prepared<V> {
    /// Streams the header, then each tensor's bytes as the view yields them.
    fn write_to(&self, out: &mut impl Write) -> Result<()> {
        out.write_all(&self.header)?;
        for view in &self.tensors {
            out.write_all(&checked_data(view)?)?;
        }
        Ok(())
    }
}

/// A view's bytes, refused if they are not the `data_len` the header was
/// written with (a `View` implementation whose two methods disagree).
fn checked_data<V: View>(view: &V) -> Result<std::borrow::Cow<'_, [u8]>> {
    let data = view.data();
    if data.len() != view.data_len() {
        return Err(Error::new(ErrorKind::InvalidView).with_detail(format!(
            "View::data returned {} bytes, View::data_len said {}",
            data.len(),
            view.data_len()
        )));
    }
    Ok(data)
}

/// Serializes tensors and optional metadata into a safetensors file in memory.
///
/// The output is byte-for-byte what the reference writer produces for the
/// same tensors with zero or one metadata key; with more, keys are written
/// sorted, so the output is reproducible. Names must be unique and must not
/// be `__metadata__`; every view's data must be exactly shape x dtype bytes.
///
/// ```
/// use tensorsafe::{serialize, Dtype, Metadata, SafeTensors, TensorView};
/// let mut metadata = Metadata::new();
/// metadata.insert("format".into(), "pt".into());
/// let bytes = serialize([("bias", TensorView::new(Dtype::U8, &[3], &[1, 2, 3])?)], Some(&metadata))?;
///
/// // Rewriting what was read gives the same bytes back.
/// let st = SafeTensors::deserialize(&bytes)?;
/// assert_eq!(serialize(st.iter(), st.metadata())?, bytes);
/// # Ok::<(), tensorsafe::Error>(())
/// ```
pub fn serialize<S, V, I>(tensors: I, metadata: Option<&Metadata>) -> Result<Vec<u8>>
where
    S: AsRef<str>,
    V: View,
    I: IntoIterator<Item = (S, V)>,
{
    serialize_with(tensors, metadata, &WriteOptions::default())
}

/// [`serialize`] with a layout chosen by [`WriteOptions`].
pub fn serialize_with<S, V, I>(
    tensors: I,
    metadata: Option<&Metadata>,
    options: &WriteOptions,
) -> Result<Vec<u8>>
where
    S: AsRef<str>,
    V: View,
    I: IntoIterator<Item = (S, V)>,
{
    let prepared = prepare(tensors, metadata, options)?;
    let total = usize::try_from(prepared.data_len)
        .ok()
        .and_then(|d| d.checked_add(prepared.header.len()))
        .ok_or_else(|| Error::new(ErrorKind::Overflow).with_detail("file larger than memory"))?;
    let mut out = Vec::with_capacity(total);
    prepared.write_to(&mut out)?;
    Ok(out)
}

/// Serializes like [`serialize`], streaming into a file that appears at
/// `path` only when complete.
///
/// The bytes go to a temporary file in the same directory, which is flushed
/// and synced, then renamed over `path` (and on Unix the directory is synced
/// too). On error the temporary file is removed and any existing file at
/// `path` is left as it was. Memory use is the header plus one buffer; tensor
/// bytes are written as they come from [`View::data`].
pub fn serialize_to_file<S, V, I>(
    tensors: I,
    metadata: Option<&Metadata>,
    path: impl AsRef<Path>,
) -> Result<()>
where
    S: AsRef<str>,
    V: View,
    I: IntoIterator<Item = (S, V)>,
{
    serialize_to_file_with(tensors, metadata, path, &WriteOptions::default())
}

/// [`serialize_to_file`] with a layout chosen by [`WriteOptions`].
pub fn serialize_to_file_with<S, V, I>(
    tensors: I,
    metadata: Option<&Metadata>,
    path: impl AsRef<Path>,
    options: &WriteOptions,
) -> Result<()>
where
    S: AsRef<str>,
    V: View,
    I: IntoIterator<Item = (S, V)>,
{
    let prepared = prepare(tensors, metadata, options)?;
    atomic::write(path.as_ref(), |out| prepared.write_to(out))
}
