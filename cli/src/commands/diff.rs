//! `tensorsafe diff`: what differs between two files or checkpoints.

use std::path::Path;

use super::values;
use crate::source::Source;
use crate::Failure;

pub fn diff(a: &Path, b: &Path, atol: f64, rtol: f64) -> Result<u8, Failure> {
    let (left, right) = (Source::open(a)?, Source::open(b)?);
    let mut differences = 0usize;
    let mut report = |line: String| {
        differences += 1;
        outln!("{line}");
    };
    for (name, _) in &left.tensors() {
        if right.get(name).is_none() {
            report(format!("only in A: {name}"));
        }
    }
    for (name, _) in &right.tensors() {
        if left.get(name).is_none() {
            report(format!("only in B: {name}"));
        }
    }
    for (name, x) in left.tensors() {
        let Some(y) = right.get(name) else { continue };
        if x.dtype() != y.dtype() || x.shape() != y.shape() {
            report(format!(
                "{name}: {} {:?} vs {} {:?}",
                x.dtype(),
                x.shape(),
                y.dtype(),
                y.shape()
            ));
            continue;
        }
        if x.data() == y.data() {
            continue;
        }
        match (values(&x).filter(|_| x.dtype().is_float()), values(&y)) {
            (Some(xs), Some(ys)) => {
                let (mut max_abs, mut max_rel, mut outside) = (0f64, 0f64, 0usize);
                for (&p, &q) in xs.iter().zip(&ys) {
                    if (p.is_nan() && q.is_nan()) || p == q {
                        continue;
                    }
                    let abs = (p - q).abs();
                    let rel = if q != 0.0 {
                        abs / q.abs()
                    } else {
                        f64::INFINITY
                    };
                    max_abs = max_abs.max(if abs.is_nan() { f64::INFINITY } else { abs });
                    max_rel = max_rel.max(if rel.is_nan() { f64::INFINITY } else { rel });
                    if abs.is_nan() || abs > atol + rtol * q.abs() {
                        outside += 1;
                    }
                }
                if outside > 0 {
                    report(format!(
                        "{name}: {outside} of {} values differ beyond tolerance (max abs {max_abs:e}, max rel {max_rel:e})",
                        xs.len()
                    ));
                } else {
                    outln!("{name}: within tolerance (max abs {max_abs:e}, max rel {max_rel:e})");
                }
            }
            _ => {
                let count = x
                    .data()
                    .iter()
                    .zip(y.data())
                    .filter(|(p, q)| p != q)
                    .count();
                report(format!(
                    "{name}: {count} of {} bytes differ",
                    x.data().len()
                ));
            }
        }
    }
    if left.metadata() != right.metadata() {
        report(format!(
            "metadata: {:?} vs {:?}",
            left.metadata(),
            right.metadata()
        ));
    }
    if differences == 0 {
        outln!("equal");
        Ok(0)
    } else {
        outln!("{differences} differences");
        Ok(1)
    }
}
