//! `tensorsafe shard` and `tensorsafe merge`: the Hugging Face sharded layout.

use std::path::Path;

use tensorsafe::{Writer, INDEX_FILE};

use crate::lazy::Files;
use crate::source::{is_sharded, read_header, Shard, Source};
use crate::{progress, Failure};

/// Parses a size like `5GB`, `500MB`, `10KiB` or `1234` (bytes). KB, MB, GB
/// and TB are decimal, as on the Hugging Face hub; KiB, MiB, GiB are binary.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KIB" => 1 << 10,
        "MIB" => 1 << 20,
        "GIB" => 1 << 30,
        "TIB" => 1 << 40,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 5GB"))?;
    let bytes = value * factor as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{text:?} is not a positive size"));
    }
    Ok(bytes as u64)
}

pub fn shard(input: &Path, out_dir: &Path, max_size: &str) -> Result<u8, Failure> {
    let max = parse_size(max_size).map_err(|e| Failure::usage(format!("--max-shard-size: {e}")))?;
    let header = read_header(input)?;
    let shards = [Shard {
        path: input.to_owned(),
        header: &header,
    }];
    let files = Files::new(&shards);
    let bar = progress::bytes(header.data_len(), "sharding");
    let written = Writer::new()
        .metadata(header.metadata())
        .progress(|written, _| bar.set_position(written))
        .sharded(files.views(&shards), out_dir, max)
        .map_err(|e| files.failure(Failure::from_write_error(out_dir, &e)))?;
    bar.finish_and_clear();
    outln!(
        "{}: {} shards, {} tensors, {} bytes",
        out_dir.join(INDEX_FILE).display(),
        written.len(),
        header.len(),
        header.data_len()
    );
    Ok(0)
}

pub fn merge(input: &Path, output: &Path) -> Result<u8, Failure> {
    // Before anything is read: a single file is rewritten, not merged.
    if let Err(e) = std::fs::metadata(input) {
        return Err(Failure::unreadable(input, &e.to_string()));
    }
    if !is_sharded(input) {
        return Err(Failure::usage(format!(
            "{}: not a sharded checkpoint (use rewrite)",
            input.display()
        )));
    }
    // Opening checks every header, length and the index.
    let source = Source::open(input)?;
    let shards = source.shards()?;
    let files = Files::new(&shards);
    let tensors = files.views(&shards);
    let total = shards
        .iter()
        .map(|s| s.header.data_len())
        .fold(0u64, u64::saturating_add);
    let bar = progress::bytes(total, "merging");
    let count = tensors.len();
    Writer::new()
        .metadata(source.metadata()?)
        .progress(|written, _| bar.set_position(written))
        .to_file(tensors, output)
        .map_err(|e| files.failure(Failure::from_write_error(output, &e)))?;
    bar.finish_and_clear();
    outln!(
        "{}: {count} tensors from {} shards",
        output.display(),
        shards.len()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_decimal_unless_binary() {
        assert_eq!(parse_size("5GB"), Ok(5_000_000_000));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1.5kb"), Ok(1500));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("0").is_err());
        assert!(parse_size("5XB").is_err());
        assert!(parse_size("GB").is_err());
    }
}
