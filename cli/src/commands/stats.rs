//! `tensorsafe stats`: numbers about each tensor's values.

use std::path::Path;

use super::values;
use crate::source::Source;
use crate::{progress, Failure};

pub fn stats(path: &Path, only: Option<&str>) -> Result<u8, Failure> {
    let source = Source::open(path)?;
    if let Some(name) = only {
        if source.get(name).is_none() {
            return Err(Failure::usage(format!(
                "{}: no tensor {name:?}",
                path.display()
            )));
        }
    }
    let tensors = source.tensors();
    let total: u64 = tensors.iter().map(|(_, v)| v.data().len() as u64).sum();
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
    for (name, view) in tensors {
        bar.inc(view.data().len() as u64);
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let Some(xs) = values(&view) else {
            outln!(
                "{name:<48} {:<11} (no numeric decoding)",
                view.dtype().to_string()
            );
            continue;
        };
        let (mut nan, mut inf, mut count) = (0usize, 0usize, 0usize);
        let (mut min, mut max, mut sum, mut sum_sq) =
            (f64::INFINITY, f64::NEG_INFINITY, 0f64, 0f64);
        for &x in &xs {
            if x.is_nan() {
                nan += 1;
            } else if x.is_infinite() {
                inf += 1;
            } else {
                count += 1;
                min = min.min(x);
                max = max.max(x);
                sum += x;
                sum_sq += x * x;
            }
        }
        let (mean, std) = if count == 0 {
            (f64::NAN, f64::NAN)
        } else {
            let mean = sum / count as f64;
            (mean, (sum_sq / count as f64 - mean * mean).max(0.0).sqrt())
        };
        let show = |v: f64| {
            if count == 0 {
                "-".to_owned()
            } else {
                format!("{v:.6e}")
            }
        };
        outln!(
            "{name:<48} {:<11} {:>14} {:>14} {:>14} {:>14} {nan:>8} {inf:>8}",
            view.dtype().to_string(),
            show(min),
            show(max),
            show(mean),
            show(std)
        );
    }
    bar.finish_and_clear();
    Ok(0)
}
