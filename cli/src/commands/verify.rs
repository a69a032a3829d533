//! `tensorsafe verify`: full validation, one line per problem.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use tensorsafe::Header;

use crate::chunks::{self, ReadChunk};
use crate::source::Source;
use crate::{human, progress, Failure};

/// NaN and Inf counts of the float tensors of file `name` with `header`,
/// read a chunk at a time from `from` and reported per tensor. A float
/// tensor that cannot be decoded is an error, not a silent zero; so is a
/// file whose length changed by the end. `bar` counts the tensor bytes of
/// every file scanned (a checkpoint's `total_size`).
fn scan(
    name: &str,
    header: &Header,
    from: &mut dyn ReadChunk,
    chunk: u64,
    bar: &ProgressBar,
) -> Result<(u64, u64), Failure> {
    let (mut nan, mut inf) = (0u64, 0u64);
    for info in header.iter() {
        if !info.dtype().is_float() {
            // Not read, but part of the total.
            bar.inc(info.byte_len());
            continue;
        }
        let (mut n, mut i) = (0u64, 0u64);
        for range in chunks::ranges(header, &info, chunk)? {
            let len = range.end - range.start;
            let Some((a, b)) = chunks::nonfinite(info.dtype(), from.read(range)?) else {
                let why = format!("tensor {:?}: cannot decode {}", info.name(), info.dtype());
                return Err(Failure::unreadable(Path::new(name), &why));
            };
            (n, i) = (n + a, i + b);
            bar.inc(len);
        }
        if n + i > 0 {
            outln!("{name}: tensor {:?}: {n} NaN, {i} Inf", info.name());
        }
        (nan, inf) = (nan + n, inf + i);
    }
    from.check_len(header.file_len())?;
    Ok((nan, inf))
}

/// What `verify` checks beyond the format.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    /// Read every byte and count NaN and Inf values (`--data`).
    pub data: bool,
    /// A NaN or Inf value makes the file invalid (`--deny-nonfinite`).
    pub deny_nonfinite: bool,
}

/// With `--deny-nonfinite`, NaN or Inf values make `path` invalid.
fn check_finite(path: &Path, checks: Checks, nan: u64, inf: u64) -> Result<(), Failure> {
    if checks.deny_nonfinite && nan + inf > 0 {
        return Err(Failure::invalid(
            path,
            "NonFinite",
            &format!("{nan} NaN and {inf} Inf values in float tensors (--deny-nonfinite)"),
        ));
    }
    Ok(())
}

/// A file or checkpoint, local or at a URL: headers, lengths and the
/// index checked (no tensor byte read); with `--data`, every tensor read a
/// chunk at a time and scanned.
fn verify_one(path: &Path, checks: Checks) -> Result<(), Failure> {
    // Opening checks every header, length and the index; verify the rest.
    let source = Source::open(path)?;
    source.verify()?;
    let shards = source.shards()?;
    let mut extra = String::new();
    if checks.data {
        let (mut nan, mut inf) = (0, 0);
        // The tensor bytes (a checkpoint's total_size, verified above).
        let total = shards
            .iter()
            .map(|s| s.header.data_len())
            .fold(0u64, u64::saturating_add);
        let bar = progress::bytes(total, "scanning");
        for (i, shard) in shards.iter().enumerate() {
            let name = shard.path.display().to_string();
            let plan = || {
                let floats = shard.header.iter().filter(|t| t.dtype().is_float());
                chunks::plan(shard.header, floats, source.chunk())
            };
            let mut reader = source.reader(i, shard, plan)?;
            let (n, f) = scan(&name, shard.header, reader.as_mut(), source.chunk(), &bar)?;
            (nan, inf) = (nan + n, inf + f);
        }
        bar.finish_and_clear();
        check_finite(source.path(), checks, nan, inf)?;
        extra = format!(", {nan} NaN, {inf} Inf");
    }
    let tensors: usize = shards.iter().map(|s| s.header.len()).sum();
    let count = if source.is_sharded() {
        format!("{}, ", human::plural(shards.len() as u64, "shard"))
    } else {
        String::new()
    };
    outln!(
        "{}: ok ({count}{}{extra})",
        source.path().display(),
        human::plural(tensors as u64, "tensor")
    );
    Ok(())
}

pub fn verify(paths: &[PathBuf], checks: Checks) -> Result<u8, Failure> {
    let mut worst = 0u8;
    for path in paths {
        if let Err(failure) = verify_one(path, checks) {
            for line in &failure.lines {
                errln!("{line}");
            }
            worst = worst.max(failure.code);
        }
    }
    Ok(worst)
}
