//! `tensorsafe rewrite`: the same tensors, written again atomically.

use std::path::Path;

use tensorsafe::{SafeTensorsFile, Writer};

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
    let mut writer = Writer::new();
    if let Some(n) = align {
        writer = writer
            .alignment(n)
            .map_err(|e| Failure::usage(format!("--align {n}: {e}")))?;
    }
    // The input is read into memory first, so OUT may be the same path.
    let file = open_file(input)?;
    let bar = progress::bytes(file.header().data_len(), "writing");
    let st = file.tensors();
    writer
        .metadata(st.metadata())
        .progress(|written, _| bar.set_position(written))
        .to_file(st.iter(), output)
        .map_err(|e| Failure::from_write_error(output, &e))?;
    bar.finish_and_clear();
    if let Some(n) = align {
        let written = open_file(output)?;
        outln!(
            "{}: {} of {} tensors {n}-aligned before, {} after",
            output.display(),
            aligned_count(&file, n),
            file.header().len(),
            aligned_count(&written, n)
        );
    }
    Ok(0)
}
