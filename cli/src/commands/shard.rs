//! `tensorsafe shard` and `tensorsafe merge`: the Hugging Face sharded layout.

use std::path::{Path, PathBuf};

use tensorsafe::{Header, Writer, INDEX_FILE};

use crate::lazy::Files;
use crate::source::{is_sharded, Shard, Source};
use crate::{human, progress, Failure};

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

/// The header of the one file `input` names (a file, or a directory
/// holding one `.safetensors` file and no index), and its path. A sharded
/// checkpoint is a usage error that says what to do instead.
pub fn single_file(input: &Path, instead: &str) -> Result<(PathBuf, Header), Failure> {
    if let Err(e) = std::fs::metadata(input) {
        return Err(Failure::unreadable(input, &e.to_string()));
    }
    if is_sharded(input) {
        return Err(Failure::usage(format!(
            "{}: a sharded checkpoint, not a file ({instead})",
            input.display()
        )));
    }
    match Source::open(input)? {
        Source::File { path, header } => Ok((path, header)),
        Source::Sharded(c) => Err(Failure::usage(format!(
            "{}: a sharded checkpoint, not a file ({instead})",
            c.index_path().display()
        ))),
    }
}

/// The most tensor bytes a shard may hold so that its file (8 bytes, its
/// header, its tensors) is at most `max` bytes. A shard's header lists a
/// subset of the whole file's entries, with offsets no larger, so it is no
/// longer than the whole file's header as this crate writes it (padded to
/// 8 bytes); `header_len` is that of the input, which another writer may
/// have left up to 7 bytes shorter, so 8 more are set aside.
fn tensor_budget(max: u64, header_len: u64) -> Option<u64> {
    max.checked_sub(8 + header_len + 8).filter(|&b| b > 0)
}

pub fn shard(input: &Path, out_dir: &Path, max_size: &str) -> Result<u8, Failure> {
    let max = parse_size(max_size).map_err(|e| Failure::usage(format!("--max-shard-size: {e}")))?;
    let (input, header) = single_file(
        input,
        "to shard it at another size, join it first with `tensorsafe merge`, then shard that file",
    )?;
    let budget = tensor_budget(max, header.header_len()).ok_or_else(|| {
        Failure::usage(format!(
            "--max-shard-size: {} leaves no room for tensors beside a header of up to {} \
             (that of {})",
            human::bytes(max),
            human::bytes(header.header_len() + 16),
            input.display()
        ))
    })?;
    let shards = [Shard {
        path: input.clone(),
        header: &header,
    }];
    let files = Files::new(&shards);
    let bar = progress::bytes(header.data_len(), "sharding");
    let written = Writer::new()
        .metadata(header.metadata())
        .progress(|written, _| bar.set_position(written))
        .sharded(files.views(&shards), out_dir, budget)
        .map_err(|e| files.failure(Failure::from_write_error(out_dir, &e)))?;
    bar.finish_and_clear();
    outln!(
        "{}: {}, {}, {} of tensors",
        out_dir.join(INDEX_FILE).display(),
        human::plural(written.len() as u64, "shard"),
        human::plural(header.len() as u64, "tensor"),
        human::bytes(header.data_len())
    );
    // Only a tensor larger than the limit makes a shard larger.
    for file in &written {
        let path = out_dir.join(file);
        if let Ok(len) = std::fs::metadata(&path).map(|m| m.len()) {
            if len > max {
                errln!(
                    "{}: {} (over --max-shard-size {}: it holds a tensor that large)",
                    path.display(),
                    human::bytes(len),
                    human::bytes(max)
                );
            }
        }
    }
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
        "{}: {} from {}",
        output.display(),
        human::plural(count as u64, "tensor"),
        human::plural(shards.len() as u64, "shard")
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
