//! `tensorsafe shard` and `tensorsafe merge`: the Hugging Face sharded layout.

use std::collections::BTreeMap;
use std::path::Path;

use tensorsafe::{serialize_to_file, TensorView};

use crate::source::{open_file, Source};
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

/// Greedy split in the given order; a tensor over the limit gets a shard of its own.
pub fn plan(sizes: impl IntoIterator<Item = u64>, max: u64) -> Vec<usize> {
    let mut shard_of = Vec::new();
    let (mut shard, mut used) = (0usize, 0u64);
    for (i, size) in sizes.into_iter().enumerate() {
        if i > 0 && used > 0 && used.saturating_add(size) > max {
            shard += 1;
            used = 0;
        }
        used = used.saturating_add(size);
        shard_of.push(shard);
    }
    shard_of
}

pub fn shard(input: &Path, out_dir: &Path, max_size: &str) -> Result<u8, Failure> {
    let max = parse_size(max_size).map_err(|e| Failure::usage(format!("--max-shard-size: {e}")))?;
    let source = open_file(input)?;
    let tensors: Vec<(&str, TensorView<'_>)> = source.file.iter().collect();
    let shard_of = plan(tensors.iter().map(|(_, v)| v.data().len() as u64), max);
    let count = shard_of.last().map_or(1, |last| last + 1);
    std::fs::create_dir_all(out_dir).map_err(|e| Failure::unreadable(out_dir, &e.to_string()))?;
    let bar = progress::bytes(source.file.header().data_len(), "sharding");
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0u64;
    for shard in 0..count {
        let name = format!("model-{:05}-of-{count:05}.safetensors", shard + 1);
        let members: Vec<(&str, TensorView<'_>)> = tensors
            .iter()
            .zip(&shard_of)
            .filter(|(_, s)| **s == shard)
            .map(|(t, _)| *t)
            .collect();
        for (tensor, view) in &members {
            weight_map.insert(tensor.to_string(), name.clone());
            total_size += view.data().len() as u64;
            bar.inc(view.data().len() as u64);
        }
        let path = out_dir.join(&name);
        serialize_to_file(members, source.file.metadata(), &path)
            .map_err(|e| Failure::from_error(&path, &e))?;
    }
    bar.finish_and_clear();
    // The index last: a reader that finds it finds every shard complete.
    let index = serde_json::json!({
        "metadata": {"total_size": total_size},
        "weight_map": weight_map,
    });
    let index_path = out_dir.join("model.safetensors.index.json");
    let text = serde_json::to_string_pretty(&index).unwrap_or_default() + "\n";
    write_atomically(&index_path, text.as_bytes())?;
    println!(
        "{}: {count} shards, {} tensors, {total_size} bytes",
        index_path.display(),
        tensors.len()
    );
    Ok(0)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let temp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&temp, bytes)
        .and_then(|()| std::fs::File::open(&temp)?.sync_all())
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            Failure::unreadable(path, &e.to_string())
        })
}

pub fn merge(input: &Path, output: &Path) -> Result<u8, Failure> {
    let source = Source::open(input)?;
    if source.index.is_none() {
        return Err(Failure::usage(format!(
            "{}: not a sharded checkpoint (use rewrite)",
            input.display()
        )));
    }
    let problems = source.index_problems();
    if !problems.is_empty() {
        return Err(Failure {
            code: 1,
            lines: problems,
        });
    }
    let total: u64 = source.tensors().map(|(_, v)| v.data().len() as u64).sum();
    let bar = progress::bytes(total, "merging");
    let tensors = source
        .tensors()
        .inspect(|(_, v)| bar.inc(v.data().len() as u64));
    serialize_to_file(tensors, source.metadata(), output)
        .map_err(|e| Failure::from_error(output, &e))?;
    bar.finish_and_clear();
    println!(
        "{}: {} tensors from {} shards",
        output.display(),
        source.tensors().count(),
        source.shards.len()
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

    #[test]
    fn greedy_split_gives_big_tensors_their_own_shard() {
        assert_eq!(plan([4, 4, 4], 8), vec![0, 0, 1]);
        assert_eq!(plan([10, 1, 1], 8), vec![0, 1, 1]);
        assert_eq!(plan([1, 10, 1], 8), vec![0, 1, 2]);
        assert_eq!(plan([0, 8, 0, 1], 8), vec![0, 0, 0, 1]);
        assert_eq!(plan([], 8), Vec::<usize>::new());
    }
}
