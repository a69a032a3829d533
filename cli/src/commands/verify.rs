//! `tensorsafe verify`: full validation, one line per problem.

use std::path::{Path, PathBuf};

use crate::source::{self, Shard, Source};
use crate::{progress, Failure};

/// NaN and Inf counts of the float tensors of a file.
fn scan(shard: &Shard) -> (u64, u64) {
    let bar = progress::bytes(shard.file.header().data_len(), "scanning");
    let (mut nan, mut inf) = (0u64, 0u64);
    for (name, view) in shard.file.iter() {
        if view.dtype().is_float() {
            if let Ok(values) = view.to_f32_vec() {
                let n = values.iter().filter(|v| v.is_nan()).count() as u64;
                let i = values.iter().filter(|v| v.is_infinite()).count() as u64;
                if n + i > 0 {
                    println!(
                        "{}: tensor {name:?}: {n} NaN, {i} Inf",
                        shard.path.display()
                    );
                }
                nan += n;
                inf += i;
            }
        }
        bar.inc(view.data().len() as u64);
    }
    bar.finish_and_clear();
    (nan, inf)
}

/// Verifies one PATH; returns the problems found.
fn verify_one(path: &Path, data: bool) -> Result<(), Failure> {
    let resolved = if path.is_dir() {
        Source::open(path).map(|s| s.index.map(|i| i.path))?
    } else {
        None
    };
    let index_path: Option<PathBuf> =
        resolved.or_else(|| source::is_index(path).then(|| path.to_owned()));
    let Some(index_path) = index_path else {
        let shard = match Source::open(path) {
            Ok(mut source) => source.shards.remove(0),
            Err(failure) => return Err(failure),
        };
        let (nan, inf) = if data { scan(&shard) } else { (0, 0) };
        let extra = if data {
            format!(", {nan} NaN, {inf} Inf")
        } else {
            String::new()
        };
        println!(
            "{}: ok ({} tensors{extra})",
            path.display(),
            shard.file.len()
        );
        return Ok(());
    };
    // A sharded checkpoint: every shard, then the index against them.
    let index = source::read_index(&index_path)?;
    let dir = index_path.parent().unwrap_or(Path::new("."));
    let mut files: Vec<&String> = index.weight_map.values().collect();
    files.sort();
    files.dedup();
    let mut failure = Failure {
        code: 0,
        lines: Vec::new(),
    };
    let mut shards = Vec::new();
    for file in files {
        match source::open_file(&dir.join(file)) {
            Ok(shard) => shards.push(shard),
            Err(f) => {
                failure.code = failure.code.max(f.code);
                failure.lines.extend(f.lines);
            }
        }
    }
    if failure.code == 0 {
        let source = Source {
            index: Some(index),
            shards,
        };
        let problems = source.index_problems();
        if problems.is_empty() {
            let (mut nan, mut inf) = (0, 0);
            if data {
                for shard in &source.shards {
                    let (n, i) = scan(shard);
                    nan += n;
                    inf += i;
                }
            }
            let extra = if data {
                format!(", {nan} NaN, {inf} Inf")
            } else {
                String::new()
            };
            let count: usize = source.shards.iter().map(|s| s.file.len()).sum();
            println!(
                "{}: ok ({} shards, {count} tensors{extra})",
                index_path.display(),
                source.shards.len()
            );
            return Ok(());
        }
        failure.code = 1;
        failure.lines.extend(problems);
    }
    Err(failure)
}

pub fn verify(paths: &[PathBuf], data: bool) -> Result<u8, Failure> {
    let mut worst = 0u8;
    for path in paths {
        if let Err(failure) = verify_one(path, data) {
            for line in &failure.lines {
                eprintln!("{line}");
            }
            worst = worst.max(failure.code);
        }
    }
    Ok(worst)
}
