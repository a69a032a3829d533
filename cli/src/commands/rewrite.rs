//! `tensorsafe rewrite`: the same tensors, written again atomically.

use std::path::Path;

use tensorsafe::{serialize_to_file_with, SafeTensorsFile, WriteOptions};

use super::inspect::alignment;
use crate::source::open_file;
use crate::{progress, Failure};

/// How many tensors of `file` start at a multiple of `n` in the file.
fn aligned_count(file: &SafeTensorsFile, n: u64) -> usize {
    let start = file.header().data_start();
    file.header()
        .iter()
        .filter(|t| alignment(start + t.data_offsets().0) >= n)
        .count()
}

pub fn rewrite(input: &Path, output: &Path, align: Option<u64>) -> Result<u8, Failure> {
    let options = match align {
        None => WriteOptions::default(),
        Some(n) => WriteOptions::default()
            .alignment(n)
            .map_err(|e| Failure::usage(format!("--align {n}: {e}")))?,
    };
    // The input is read into memory first, so OUT may be the same path.
    let file = open_file(input)?;
    let bar = progress::bytes(file.header().data_len(), "writing");
    let tensors = file.iter().inspect(|(_, v)| bar.inc(v.data().len() as u64));
    serialize_to_file_with(tensors, file.metadata(), output, &options)
        .map_err(|e| Failure::from_error(output, &e))?;
    bar.finish_and_clear();
    if let Some(n) = align {
        let written = open_file(output)?;
        println!(
            "{}: {} of {} tensors {n}-aligned before, {} after",
            output.display(),
            aligned_count(&file, n),
            file.len(),
            aligned_count(&written, n)
        );
    }
    Ok(0)
}
