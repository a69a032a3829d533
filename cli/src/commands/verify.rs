//! `tensorsafe verify`: full validation, one line per problem.

use std::path::{Path, PathBuf};

use tensorsafe::SafeTensorsFile;

use crate::source::Source;
use crate::{progress, Failure};

/// NaN and Inf counts of the float tensors of a file, reported per tensor.
fn scan(path: &Path, file: &SafeTensorsFile) -> (u64, u64) {
    let bar = progress::bytes(file.header().data_len(), "scanning");
    let (mut nan, mut inf) = (0u64, 0u64);
    for (name, view) in file.tensors().iter() {
        if view.dtype().is_float() {
            if let Ok(values) = view.to_f64_vec() {
                let n = values.iter().filter(|v| v.is_nan()).count() as u64;
                let i = values.iter().filter(|v| v.is_infinite()).count() as u64;
                if n + i > 0 {
                    println!("{}: tensor {name:?}: {n} NaN, {i} Inf", path.display());
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

fn verify_one(path: &Path, data: bool) -> Result<(), Failure> {
    let source = Source::open(path)?;
    if let Source::Sharded(checkpoint) = &source {
        checkpoint
            .verify()
            .map_err(|e| Failure::from_error(checkpoint.index_path(), &e))?;
    }
    let files = source.files();
    let (mut nan, mut inf) = (0, 0);
    if data {
        for (file_path, file) in &files {
            let (n, i) = scan(file_path, file);
            nan += n;
            inf += i;
        }
    }
    let extra = if data {
        format!(", {nan} NaN, {inf} Inf")
    } else {
        String::new()
    };
    let tensors: usize = files.iter().map(|(_, f)| f.header().len()).sum();
    match &source {
        Source::Sharded(c) => println!(
            "{}: ok ({} shards, {tensors} tensors{extra})",
            c.index_path().display(),
            files.len()
        ),
        Source::File { .. } => println!("{}: ok ({tensors} tensors{extra})", path.display()),
    }
    Ok(())
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
