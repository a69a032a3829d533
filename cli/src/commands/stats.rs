//! `tensorsafe stats`: numbers about each tensor's values, read a chunk at
//! a time.

use std::path::Path;

use tensorsafe::{Header, TensorInfo};

use crate::chunks::{self, ReadChunk, Reader};
use crate::source::{by_name, Source};
use crate::{progress, Failure};

/// Running totals over a tensor's finite values, and its NaN and Inf
/// counts. Means and variances are summed in f64, chunk by chunk.
#[derive(Default)]
struct Summary {
    count: u64,
    nan: u64,
    inf: u64,
    min: f64,
    max: f64,
    sum: f64,
    sum_sq: f64,
}

impl Summary {
    fn add(&mut self, xs: &[f64]) {
        for &x in xs {
            if x.is_nan() {
                self.nan += 1;
            } else if x.is_infinite() {
                self.inf += 1;
            } else {
                if self.count == 0 {
                    (self.min, self.max) = (x, x);
                }
                self.count += 1;
                self.min = self.min.min(x);
                self.max = self.max.max(x);
                self.sum += x;
                self.sum_sq += x * x;
            }
        }
    }

    fn line(&self, name: &str, dtype: &str) -> String {
        let n = self.count as f64;
        let mean = self.sum / n;
        let std = (self.sum_sq / n - mean * mean).max(0.0).sqrt();
        let show = |v: f64| {
            if self.count == 0 {
                "-".to_owned()
            } else {
                format!("{v:.6e}")
            }
        };
        format!(
            "{name:<48} {dtype:<11} {:>14} {:>14} {:>14} {:>14} {:>8} {:>8}",
            show(self.min),
            show(self.max),
            show(mean),
            show(std),
            self.nan,
            self.inf
        )
    }
}

/// One tensor's line: its values summarised chunk by chunk.
fn tensor_line(
    reader: &mut Reader,
    header: &Header,
    info: &TensorInfo<'_>,
) -> Result<String, Failure> {
    let dtype = info.dtype();
    let mut summary = Summary::default();
    for range in chunks::ranges(header, info, chunks::CHUNK_BYTES) {
        let bytes = reader.read(range)?;
        let Some(xs) = chunks::values(dtype, bytes) else {
            return Ok(format!(
                "{:<48} {:<11} (no numeric decoding)",
                info.name(),
                dtype.to_string()
            ));
        };
        summary.add(&xs);
    }
    Ok(summary.line(info.name(), &dtype.to_string()))
}

pub fn stats(path: &Path, only: Option<&str>) -> Result<u8, Failure> {
    let source = Source::open(path)?;
    let shards = source.shards()?;
    // Which tensors, in file order: all, or the one asked for.
    let chosen: Vec<(usize, TensorInfo<'_>)> = match only {
        Some(name) => {
            let Some(&found) = by_name(&shards).get(name) else {
                return Err(Failure::usage(format!(
                    "{}: no tensor {name:?}",
                    path.display()
                )));
            };
            vec![found]
        }
        None => shards
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.header.iter().map(move |t| (i, t)))
            .collect(),
    };
    let total = chosen
        .iter()
        .map(|(_, t)| t.byte_len())
        .fold(0u64, u64::saturating_add);
    let bar = progress::bytes(total, "reading");
    outln!(
        "{:<48} {:<11} {:>14} {:>14} {:>14} {:>14} {:>8} {:>8}",
        "name",
        "dtype",
        "min",
        "max",
        "mean",
        "std",
        "nan",
        "inf"
    );
    let mut reader = None;
    for (i, info) in chosen {
        let shard = &shards[i];
        let reader = chunks::reuse(&mut reader, i, shard)?;
        outln!("{}", tensor_line(reader, shard.header, &info)?);
        bar.inc(info.byte_len());
    }
    bar.finish_and_clear();
    Ok(0)
}
