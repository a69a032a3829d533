//! `tensorsafe inspect`: what is in a file.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use tensorsafe::SafeTensorsFile;

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
fn header_json(file: &SafeTensorsFile) -> Value {
    serde_json::to_value(file.header()).unwrap_or(Value::Null)
}

pub fn inspect(path: &Path, as_json: bool) -> Result<u8, Failure> {
    let source = Source::open(path)?;
    if as_json {
        let files = source.files();
        let value = if source.is_sharded() {
            let mut shards = Map::new();
            for (path, file) in &files {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                shards.insert(name.to_owned(), header_json(file));
            }
            Value::Object(shards)
        } else {
            files
                .first()
                .map(|(_, file)| header_json(file))
                .unwrap_or(Value::Null)
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(0);
    }

    let (mut tensors, mut parameters, mut file_bytes, mut header_bytes) =
        (0usize, 0u128, 0u64, 0u64);
    let mut per_dtype: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let files = source.files();
    for (path, file) in &files {
        let header = file.header();
        println!("{} ({} tensors)", path.display(), header.len());
        println!(
            "  {:<48} {:<11} {:<20} {:>14} {:>14} {:>14} {:>7}",
            "name", "dtype", "shape", "parameters", "bytes", "offset", "align"
        );
        for info in header.iter() {
            let offset = header.data_start() + info.data_offsets().0;
            let count = info.element_count() as u128;
            println!(
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
            parameters += count;
            let entry = per_dtype.entry(info.dtype().to_string()).or_default();
            entry.0 += 1;
            entry.1 += info.byte_len();
        }
        file_bytes += header.file_len();
        header_bytes += header.header_len();
    }
    println!();
    println!("tensors      {tensors}");
    println!("parameters   {parameters}");
    for (dtype, (count, bytes)) in &per_dtype {
        println!("  {dtype:<11} {count:>8} tensors {bytes:>16} bytes");
    }
    println!(
        "file size    {file_bytes} bytes{}",
        if files.len() > 1 { " (all shards)" } else { "" }
    );
    println!("header size  {header_bytes} bytes");
    match source.metadata() {
        Some(metadata) if !metadata.is_empty() => {
            println!("metadata");
            for (key, value) in metadata {
                println!("  {key}: {value}");
            }
        }
        Some(_) => println!("metadata     (empty)"),
        None => println!("metadata     (none)"),
    }
    Ok(0)
}
