//! `tensorsafe verify`: full validation, one line per problem.

use std::path::{Path, PathBuf};

use tensorsafe::{Dtype, SafeTensorsFile};

use crate::source::Source;
use crate::{progress, Failure};

/// The values of a float tensor as `f64`: C64 as its real and imaginary
/// `f32` parts, one after the other. The FP6 formats (OCP MX E2M3, E3M2)
/// encode no NaN and no Inf, so they have none to count; every other float
/// dtype decodes.
fn float_values(view: &tensorsafe::TensorView<'_>) -> Result<Vec<f64>, tensorsafe::Error> {
    if matches!(view.dtype(), Dtype::F6_E2M3 | Dtype::F6_E3M2) {
        return Ok(Vec::new());
    }
    if view.dtype() == Dtype::C64 {
        let parts = view.data().chunks_exact(4);
        return Ok(parts
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect());
    }
    view.to_f64_vec()
}

/// NaN and Inf counts of the float tensors of a file, reported per tensor.
/// A float tensor that cannot be decoded is an error, not a silent zero.
fn scan(path: &Path, file: &SafeTensorsFile) -> Result<(u64, u64), Failure> {
    let bar = progress::bytes(file.header().data_len(), "scanning");
    let (mut nan, mut inf) = (0u64, 0u64);
    for (name, view) in file.tensors().iter() {
        if view.dtype().is_float() {
            let values = float_values(&view).map_err(|e| {
                let why = format!("tensor {name:?}: {}", crate::describe(&e));
                Failure::unreadable(path, &why)
            })?;
            let n = values.iter().filter(|v| v.is_nan()).count() as u64;
            let i = values.iter().filter(|v| v.is_infinite()).count() as u64;
            if n + i > 0 {
                outln!("{}: tensor {name:?}: {n} NaN, {i} Inf", path.display());
            }
            nan += n;
            inf += i;
        }
        bar.inc(view.data().len() as u64);
    }
    bar.finish_and_clear();
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

/// A file or checkpoint in an object store: opening it reads and checks
/// every header (and the index); `--data` fetches every byte and scans it.
#[cfg(feature = "remote")]
fn verify_remote(url: &Path, checks: Checks) -> Result<(), Failure> {
    let remote = crate::remote::Remote::open(url)?;
    let headers = remote.headers();
    let tensors: usize = headers.iter().map(|(_, h)| h.len()).sum();
    let sharded = remote.checkpoint.is_sharded();
    let mut extra = String::from(if sharded {
        ", headers, sizes and index checked"
    } else {
        ", header and size checked"
    });
    if checks.data {
        let loaded = remote.load()?;
        let (mut nan, mut inf) = (0, 0);
        for (i, (name, _)) in headers.iter().enumerate() {
            let shard = loaded
                .shard(i)
                .map_err(|e| Failure::from_error(Path::new(name), &e))?;
            let (n, f) = scan(Path::new(name), shard)?;
            nan += n;
            inf += f;
        }
        check_finite(url, checks, nan, inf)?;
        extra = format!(", every byte fetched, {nan} NaN, {inf} Inf");
    }
    let shards = if sharded {
        format!("{} shards, ", headers.len())
    } else {
        String::new()
    };
    outln!("{}: ok ({shards}{tensors} tensors{extra})", remote.url);
    Ok(())
}

fn verify_one(path: &Path, checks: Checks) -> Result<(), Failure> {
    #[cfg(feature = "remote")]
    if crate::remote::is_url(path) {
        return verify_remote(path, checks);
    }
    let source = Source::open(path)?;
    if let Source::Sharded(checkpoint) = &source {
        checkpoint
            .verify()
            .map_err(|e| Failure::from_error(checkpoint.index_path(), &e))?;
    }
    let files = source.files();
    let (mut nan, mut inf) = (0, 0);
    if checks.data {
        for (file_path, file) in &files {
            let (n, i) = scan(file_path, file)?;
            nan += n;
            inf += i;
        }
        let named = match &source {
            Source::Sharded(c) => c.index_path(),
            Source::File { path, .. } => path,
        };
        check_finite(named, checks, nan, inf)?;
    }
    let extra = if checks.data {
        format!(", {nan} NaN, {inf} Inf")
    } else {
        String::new()
    };
    let tensors: usize = files.iter().map(|(_, f)| f.header().len()).sum();
    match &source {
        Source::Sharded(c) => outln!(
            "{}: ok ({} shards, {tensors} tensors{extra})",
            c.index_path().display(),
            files.len()
        ),
        Source::File { .. } => outln!("{}: ok ({tensors} tensors{extra})", path.display()),
    }
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
