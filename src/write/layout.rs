//! What goes where in a file being written: the checks on the tensors, their
//! order, and the header that describes them.

use alloc::format;
use alloc::vec::Vec;

use super::{Writer, MAX_ALIGNMENT};
use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};
use crate::header::{render, Metadata, PREFIX_LEN};
use crate::limits::Limits;
use crate::names::NameTable;
use crate::view::View;

/// The header bytes (prefix included) and the tensors in file order.
pub(super) struct Layout<S, V> {
    pub(super) header: Vec<u8>,
    pub(super) tensors: Vec<(S, V)>,
    pub(super) data_len: u64,
}

/// One tensor as the header lists it.
pub(super) struct Entry<'t> {
    pub(super) name: &'t str,
    pub(super) dtype: Dtype,
    pub(super) shape: &'t [usize],
    pub(super) len: u64,
}

/// Refuses duplicate names and the reserved name `__metadata__`.
pub(super) fn check_names<'n>(count: usize, name_of: impl Fn(usize) -> &'n str) -> Result<()> {
    NameTable::build(count, &name_of)
        .map_err(|dup| Error::new(ErrorKind::DuplicateTensor).with_tensor(name_of(dup)))?;
    if let Some(i) = (0..count).find(|&i| name_of(i) == "__metadata__") {
        return Err(Error::new(ErrorKind::ReservedName).with_tensor(name_of(i)));
    }
    Ok(())
}

/// Byte length of a tensor to write, with the tensor named in errors.
pub(super) fn tensor_len(name: &str, dtype: Dtype, shape: &[usize]) -> Result<u64> {
    dtype.shape_byte_len(shape).map_err(|e| e.with_tensor(name))
}

/// A view whose data length is not what its dtype and shape need.
pub(crate) fn check_view(name: &str, view: &impl View) -> Result<()> {
    let expected = tensor_len(name, view.dtype(), view.shape())?;
    if view.data_len() as u64 == expected {
        return Ok(());
    }
    Err(Error::new(ErrorKind::InvalidView)
        .with_tensor(name)
        .with_detail(format!(
            "{} bytes given, {:?} of {} needs {expected}",
            view.data_len(),
            view.shape(),
            view.dtype()
        )))
}

/// The largest power of two dividing `len`, capped at `cap` (`cap` for 0).
fn alignment_of(len: u64, cap: u64) -> u64 {
    if len == 0 {
        cap
    } else {
        (1u64 << len.trailing_zeros()).min(cap)
    }
}

/// Checks the tensors, orders them as the reference writer does (dtype
/// descending, then name) or for alignment, and renders the header.
pub(super) fn layout<S: AsRef<str>, V: View>(
    mut tensors: Vec<(S, V)>,
    writer: &Writer<'_>,
) -> Result<Layout<S, V>> {
    writer.check()?;
    check_names(tensors.len(), |i| tensors[i].0.as_ref())?;
    for (name, view) in &tensors {
        check_view(name.as_ref(), view)?;
    }
    // Names are unique, so an unstable sort gives the one canonical order.
    let reference_order = |(ln, lv): &(S, V), (rn, rv): &(S, V)| {
        rv.dtype()
            .cmp(&lv.dtype())
            .then_with(|| ln.as_ref().cmp(rn.as_ref()))
    };
    match writer.alignment {
        None => tensors.sort_unstable_by(reference_order),
        // Larger power-of-two factors first: each tensor then starts at a
        // multiple of its own factor (capped at the alignment).
        Some(cap) => tensors.sort_unstable_by(|l, r| {
            alignment_of(r.1.data_len() as u64, cap)
                .cmp(&alignment_of(l.1.data_len() as u64, cap))
                .then_with(|| reference_order(l, r))
        }),
    }
    let entries = tensors.iter().map(|(n, v)| Entry {
        name: n.as_ref(),
        dtype: v.dtype(),
        shape: v.shape(),
        len: v.data_len() as u64,
    });
    let (header, data_len) = render_header(entries, writer.metadata, writer.alignment)?;
    Ok(Layout {
        header,
        tensors,
        data_len,
    })
}

/// Renders the prefix and header for tensors laid out back to back in the
/// given order; returns it with the data section's length.
pub(super) fn render_header<'t>(
    entries: impl ExactSizeIterator<Item = Entry<'t>>,
    metadata: Option<&Metadata>,
    alignment: Option<u64>,
) -> Result<(Vec<u8>, u64)> {
    let mut out = Vec::with_capacity(PREFIX_LEN + 64 + entries.len() * 96);
    out.extend_from_slice(&[0; PREFIX_LEN]);
    out.push(b'{');
    if let Some(metadata) = metadata {
        render::metadata(&mut out, metadata);
    }
    let mut offset: u64 = 0;
    for entry in entries {
        if out.len() > PREFIX_LEN + 1 {
            out.push(b',');
        }
        let end = offset
            .checked_add(entry.len)
            .ok_or_else(|| Error::new(ErrorKind::Overflow).with_tensor(entry.name))?;
        let shape = entry.shape.iter().map(|&d| d as u64);
        render::entry(&mut out, entry.name, entry.dtype, shape, [offset, end]);
        offset = end;
    }
    out.push(b'}');
    finish_header(&mut out, alignment)?;
    // The reader's rule: the whole file, 8 + N + data, fits in a u64.
    if (out.len() as u64).checked_add(offset).is_none() {
        return Err(Error::new(ErrorKind::Overflow).with_detail(format!(
            "a header of {} bytes and {offset} bytes of data are more than 2^64 bytes",
            out.len()
        )));
    }
    Ok((out, offset))
}

/// Pads with spaces so the data section starts at a multiple of 8 (or of
/// the alignment), and writes the length prefix.
fn finish_header(out: &mut Vec<u8>, alignment: Option<u64>) -> Result<()> {
    // At most MAX_ALIGNMENT, so the conversion is exact.
    let unit = alignment.unwrap_or(8).clamp(8, MAX_ALIGNMENT) as usize;
    let padded = out.len().next_multiple_of(unit);
    out.resize(padded, b' ');
    let n = (padded - PREFIX_LEN) as u64;
    let limit = Limits::DEFAULT_MAX_HEADER_BYTES;
    if n > limit {
        return Err(Error::new(ErrorKind::HeaderTooLarge).with_detail(format!(
            "header would be {n} bytes, readers refuse more than {limit}"
        )));
    }
    out[..PREFIX_LEN].copy_from_slice(&n.to_le_bytes());
    Ok(())
}
