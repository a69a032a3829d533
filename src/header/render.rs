//! Header JSON out: the pieces the writer and the `serde` integration
//! both render, in the reference writer's exact form.

use alloc::vec::Vec;

use super::Metadata;
use crate::dtype::Dtype;
use crate::json::emit;

/// `"__metadata__":{...}`, keys in order.
pub(crate) fn metadata(out: &mut Vec<u8>, metadata: &Metadata) {
    emit::string(out, "__metadata__");
    out.extend_from_slice(b":{");
    separated(out, metadata, |out, (key, value)| {
        emit::string(out, key);
        out.push(b':');
        emit::string(out, value);
    });
    out.push(b'}');
}

/// `"name":{"dtype":..,"shape":[..],"data_offsets":[begin,end]}`.
pub(crate) fn entry(
    out: &mut Vec<u8>,
    name: &str,
    dtype: Dtype,
    shape: impl IntoIterator<Item = u64>,
    [begin, end]: [u64; 2],
) {
    emit::string(out, name);
    out.extend_from_slice(b":{\"dtype\":\"");
    out.extend_from_slice(dtype.name().as_bytes());
    out.extend_from_slice(b"\",\"shape\":[");
    separated(out, shape, emit::integer);
    out.extend_from_slice(b"],\"data_offsets\":[");
    emit::integer(out, begin);
    out.push(b',');
    emit::integer(out, end);
    out.extend_from_slice(b"]}");
}

/// Each item rendered by `render`, with commas between.
fn separated<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut render: impl FnMut(&mut Vec<u8>, T),
) {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        render(out, item);
    }
}
