//! `tensorsafe rewrite`: the same tensors, written again atomically.

use std::path::Path;

use tensorsafe::{Header, Writer, MAX_ALIGNMENT};

use super::inspect::alignment;
use crate::lazy::Files;
use crate::source::read_header;
use crate::{progress, Failure};

/// How many tensors of `header` start at a multiple of `n` in the file.
fn aligned_count(header: &Header, n: u64) -> usize {
    let start = header.data_start();
    header
        .iter()
        .filter(|t| alignment(start + t.data_offsets().0) >= n)
        .count()
}

/// `--align`: a power of two up to the writer's largest alignment, checked
/// as the arguments are parsed, so that a bad value is a usage error
/// whatever the input (even one that cannot be read).
pub fn align_arg(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n.is_power_of_two() && n <= MAX_ALIGNMENT => Ok(n),
        _ => Err(format!("{text:?} is not a power of two up to 1 MiB")),
    }
}

pub fn rewrite(input: &Path, output: &Path, align: Option<u64>) -> Result<u8, Failure> {
    let mut writer = Writer::new();
    if let Some(n) = align {
        writer = writer.alignment(n);
    }
    let source =
        super::shard::single_file(input, "to write it as one file, use `tensorsafe merge`")?;
    let shards = source.shards()?;
    let header = super::shard::only_header(&source, &shards)?;
    // Each tensor is read when it is written. OUT may be IN: the new file
    // takes IN's name only once it is complete, and IN stays open.
    let files = Files::new(&source, &shards, align);
    let bar = progress::bytes(header.data_len(), "writing");
    writer
        .metadata(header.metadata())
        .progress(|written, _| bar.set_position(written))
        .to_file(files.views(&shards), output)
        .map_err(|e| files.write_failure(&shards, output, &e))?;
    bar.finish_and_clear();
    if let Some(n) = align {
        let written = read_header(output)?;
        outln!(
            "{}: {} of {} {n}-aligned before, {} after",
            output.display(),
            aligned_count(header, n),
            crate::human::plural(header.len() as u64, "tensor"),
            aligned_count(&written, n)
        );
    }
    Ok(0)
}
