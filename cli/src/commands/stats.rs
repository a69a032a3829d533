//! `tensorsafe stats`: numbers about each tensor's values, read a chunk at
//! a time.

use std::path::Path;

use tensorsafe::{Header, TensorInfo};

use crate::chunks::{self, ReadChunk, Reader};
use crate::source::{by_name, Source};
use crate::{progress, Failure};

/// Running totals over a tensor's finite values (count, mean and the sum
/// of squared deviations, merged piece by piece as Chan et al. do, so no
/// sum of squares grows with the tensor), and its NaN and Inf counts.
#[derive(Default)]
struct Summary {
    count: u64,
    nan: u64,
    inf: u64,
    min: f64,
    max: f64,
    mean: f64,
    m2: f64,
}

impl Summary {
    fn add(&mut self, xs: &[f64]) {
        // This piece's own figures: count, sum, range; then its mean (from
        // terms divided first if their sum overflows) and the squared
        // deviations from it, in a second pass over the same values.
        let (mut count, mut sum) = (0u64, 0f64);
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for &x in xs {
            if x.is_finite() {
                count += 1;
                sum += x;
                (min, max) = (min.min(x), max.max(x));
            } else if x.is_nan() {
                self.nan += 1;
            } else {
                self.inf += 1;
            }
        }
        if count == 0 {
            return;
        }
        let finite = || xs.iter().filter(|x| x.is_finite());
        let n = count as f64;
        let mean = if sum.is_finite() {
            sum / n
        } else {
            finite().map(|x| x / n).sum::<f64>()
        };
        let m2 = finite().map(|x| (x - mean) * (x - mean)).sum::<f64>();
        if self.count == 0 {
            (self.min, self.max) = (min, max);
        }
        (self.min, self.max) = (self.min.min(min), self.max.max(max));
        let total = self.count as f64 + n;
        let delta = mean - self.mean;
        self.mean += delta * (n / total);
        self.m2 += m2 + delta * delta * (self.count as f64 * n / total);
        self.count += count;
    }

    fn line(&self, name: &str, dtype: &str) -> String {
        // A variance past f64's range shows as inf, never as 0.
        let std = (self.m2 / self.count as f64).sqrt();
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
            show(self.mean),
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
    let instead = |why: &str| format!("{:<48} {:<11} ({why})", info.name(), dtype.to_string());
    if chunks::values(dtype, &[]).is_none() {
        return Ok(instead("no numeric decoding"));
    }
    let mut summary = Summary::default();
    for range in chunks::ranges(header, info, chunks::CHUNK_BYTES)? {
        for piece in chunks::pieces(reader.read(range)?) {
            // A BOOL byte other than 0 or 1, say.
            let Some(xs) = chunks::values(dtype, piece) else {
                return Ok(instead("values that do not decode"));
            };
            summary.add(&xs);
        }
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
