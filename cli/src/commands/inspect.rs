//! `tensorsafe inspect`: what is in a file.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use tensorsafe::Header;

use crate::source::Source;
use crate::Failure;

/// Largest power of two dividing a file offset, as the tensor's alignment.
pub fn alignment(offset: u64) -> u64 {
    if offset == 0 {
        1 << 20
    } else {
        (1u64 << offset.trailing_zeros()).min(1 << 20)
    }
}

/// The header as stored, as one JSON object in data-offset order.
fn header_json(header: &Header) -> Value {
    serde_json::to_value(header).unwrap_or(Value::Null)
}

pub fn inspect(path: &Path, as_json: bool) -> Result<u8, Failure> {
    #[cfg(feature = "remote")]
    if crate::remote::is_url(path) {
        let remote = crate::remote::Remote::open(path)?;
        show(&remote.headers(), remote.checkpoint.is_sharded(), as_json);
        return Ok(0);
    }
    let source = Source::open(path)?;
    let files = source.files();
    let headers: Vec<(String, &Header)> = files
        .iter()
        .map(|(path, file)| (path.display().to_string(), file.header()))
        .collect();
    show(&headers, source.is_sharded(), as_json);
    Ok(0)
}

/// Prints the tensor table (or the headers as JSON) of `headers`, each a
/// file's name (a path or URL) and header.
fn show(headers: &[(String, &Header)], sharded: bool, as_json: bool) {
    if as_json {
        let value = if sharded {
            let mut shards = Map::new();
            for (name, header) in headers {
                let file = name.rsplit('/').next().unwrap_or_default();
                shards.insert(file.to_owned(), header_json(header));
            }
            Value::Object(shards)
        } else {
            headers
                .first()
                .map(|(_, header)| header_json(header))
                .unwrap_or(Value::Null)
        };
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }

    let (mut tensors, mut parameters, mut file_bytes, mut header_bytes) =
        (0usize, 0u128, 0u64, 0u64);
    let mut per_dtype: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for (name, header) in headers {
        outln!("{name} ({} tensors)", header.len());
        outln!(
            "  {:<48} {:<11} {:<20} {:>14} {:>14} {:>14} {:>7}",
            "name",
            "dtype",
            "shape",
            "parameters",
            "bytes",
            "offset",
            "align"
        );
        for info in header.iter() {
            let offset = header.data_start() + info.data_offsets().0;
            let count = info.element_count() as u128;
            outln!(
                "  {:<48} {:<11} {:<20} {:>14} {:>14} {:>14} {:>7}",
                info.name(),
                info.dtype().to_string(),
                format!("{:?}", info.shape()),
                count,
                info.byte_len(),
                offset,
                alignment(offset)
            );
            tensors += 1;
            parameters = parameters.saturating_add(count);
            let entry = per_dtype.entry(info.dtype().to_string()).or_default();
            entry.0 += 1;
            // Headers from a server can claim anything: totals saturate.
            entry.1 = entry.1.saturating_add(info.byte_len());
        }
        file_bytes = file_bytes.saturating_add(header.file_len());
        header_bytes = header_bytes.saturating_add(header.header_len());
    }
    outln!();
    outln!("tensors      {tensors}");
    outln!("parameters   {parameters}");
    for (dtype, (count, bytes)) in &per_dtype {
        outln!("  {dtype:<11} {count:>8} tensors {bytes:>16} bytes");
    }
    outln!(
        "file size    {file_bytes} bytes{}",
        if headers.len() > 1 {
            " (all shards)"
        } else {
            ""
        }
    );
    outln!("header size  {header_bytes} bytes");
    match headers.first().and_then(|(_, h)| h.metadata()) {
        Some(metadata) if !metadata.is_empty() => {
            outln!("metadata");
            for (key, value) in metadata {
                outln!("  {key}: {value}");
            }
        }
        Some(_) => outln!("metadata     (empty)"),
        None => outln!("metadata     (none)"),
    }
}
