//! `tensorsafe stats`: numbers about each tensor's values, read a chunk at
//! a time.

use std::path::Path;

use tensorsafe::{Header, TensorInfo};

use crate::chunks::{self, AnyReader};
use crate::source::{by_name, Source};
use crate::{human, progress, Failure};

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
            (self.count, self.min, self.max, self.mean, self.m2) = (count, min, max, mean, m2);
            return;
        }
        (self.min, self.max) = (self.min.min(min), self.max.max(max));
        let (before, total) = (self.count as f64, self.count as f64 + n);
        let delta = mean - self.mean;
        self.mean = if delta.is_finite() {
            // Exact when the parts agree (a constant tensor stays constant).
            self.mean + delta * (n / total)
        } else {
            // Means too far apart to subtract: weights of at most 1.
            self.mean * (before / total) + mean * (n / total)
        };
        // The sum of squared deviations can pass f64's range before the
        // std would: it then prints as inf.
        self.m2 += m2 + delta * delta * (before * n / total);
        self.count += count;
    }

    /// The figures after the name and dtype columns: min and max as
    /// integers for an integer dtype (up to 2^53), numbers with six
    /// significant digits otherwise; `-` where no value is finite.
    fn figures(&self, integer: bool) -> [String; 6] {
        // A variance past f64's range shows as inf, never as 0.
        let std = (self.m2 / self.count as f64).sqrt();
        let show = |v: f64, whole: bool| {
            if self.count == 0 {
                "-".to_owned()
            } else if whole && v.abs() < 2f64.powi(53) {
                // Exact: an integer of 53 bits or fewer is an exact f64.
                // Larger I64 and U64 values were rounded when decoded,
                // and print as the approximations they are (9.22337e18).
                format!("{v:.0}")
            } else {
                human::value(v)
            }
        };
        [
            show(self.min, integer),
            show(self.max, integer),
            show(self.mean, false),
            show(std, false),
            self.nan.to_string(),
            self.inf.to_string(),
        ]
    }
}

/// The table's columns after the name and dtype.
const TITLES: [&str; 6] = ["min", "max", "mean", "std", "nan", "inf"];

/// One tensor's row: its name (escaped) and dtype, then either its six
/// figures or one note saying why there are none.
struct Row {
    name: String,
    dtype: String,
    cells: Vec<String>,
}

/// Prints `rows` under the titles: the name and dtype left-aligned, each
/// figure right-aligned in a column as wide as its widest value (a note
/// in place of the figures does not widen them), names measured in
/// terminal columns.
fn print_table(rows: &[Row]) {
    let mut name_width = human::width("name");
    let mut dtype_width = "dtype".len();
    let mut widths = TITLES.map(str::len);
    for row in rows {
        name_width = name_width.max(human::width(&row.name));
        dtype_width = dtype_width.max(row.dtype.len());
        if row.cells.len() == widths.len() {
            for (width, cell) in widths.iter_mut().zip(&row.cells) {
                *width = (*width).max(cell.len());
            }
        }
    }
    let line = |name: &str, dtype: &str, cells: &[String]| {
        let mut line = format!(
            "{}  {dtype:<dtype_width$}",
            human::pad_right(name, name_width)
        );
        for (cell, width) in cells.iter().zip(widths) {
            line.push_str(&format!("  {cell:>width$}"));
        }
        line.trim_end().to_owned()
    };
    outln!("{}", line("name", "dtype", &TITLES.map(str::to_owned)));
    for row in rows {
        outln!("{}", line(&row.name, &row.dtype, &row.cells));
    }
}

/// Whether the values of `info`'s dtype have a numeric decoding.
fn decodes(info: &TensorInfo<'_>) -> bool {
    chunks::values(info.dtype(), &[]).is_some()
}

/// One tensor's row, its values summarised chunk by chunk, and how many
/// of them are NaN or Inf.
fn tensor_row(
    reader: &mut AnyReader<'_>,
    chunk: u64,
    header: &Header,
    info: &TensorInfo<'_>,
) -> Result<(Row, u64), Failure> {
    let dtype = info.dtype();
    let row = |cells: Vec<String>| Row {
        name: human::escape(info.name()),
        dtype: dtype.to_string(),
        cells,
    };
    let instead = |why: &str| (row(vec![format!("({why})")]), 0);
    if !decodes(info) {
        return Ok(instead("no numeric decoding"));
    }
    let mut summary = Summary::default();
    for range in chunks::ranges(header, info, chunk)? {
        for piece in chunks::pieces(reader.read(range)?) {
            // A BOOL byte other than 0 or 1, say.
            let Some(xs) = chunks::values(dtype, piece) else {
                return Ok(instead("values that do not decode"));
            };
            summary.add(&xs);
        }
    }
    let figures = summary.figures(!dtype.is_float());
    Ok((row(figures.to_vec()), summary.nan + summary.inf))
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
    // Every row is summarised before any is printed, so that each column
    // is as wide as its widest value.
    let mut rows = Vec::with_capacity(chosen.len());
    let mut reader = None;
    let (mut left_out, mut in_tensors) = (0u64, 0u64);
    let chunk = source.chunk();
    for &(i, ref info) in &chosen {
        let shard = &shards[i];
        // What will be read of this file: the chosen tensors that decode.
        let plan = || {
            let read = chosen.iter().filter(|(at, t)| *at == i && decodes(t));
            chunks::plan(shard.header, read.map(|(_, t)| *t), chunk)
        };
        let reader = chunks::reuse(&mut reader, &source, i, shard, plan)?;
        let (row, nonfinite) = tensor_row(reader, chunk, shard.header, info)?;
        rows.push(row);
        if nonfinite > 0 {
            (left_out, in_tensors) = (left_out + nonfinite, in_tensors + 1);
        }
        bar.inc(info.byte_len());
    }
    bar.finish_and_clear();
    print_table(&rows);
    if left_out > 0 {
        outln!();
        outln!(
            "min, max, mean and std leave out {} (NaN or Inf) in {}",
            human::plural(left_out, "non-finite value"),
            human::plural(in_tensors, "tensor")
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(pieces: &[&[f64]]) -> Summary {
        let mut s = Summary::default();
        for piece in pieces {
            s.add(piece);
        }
        s
    }

    #[test]
    fn pieces_merge_to_the_figures_of_the_whole() {
        // A constant, split anywhere, has a std of exactly 0.
        let threes = [3.0; 1000];
        let s = summary(&[&threes[..333], &threes[333..]]);
        assert_eq!((s.mean, s.m2), (3.0, 0.0));
        let xs: Vec<f64> = (0..1000).map(|i| f64::from(i % 17) * 0.25 - 1.0).collect();
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        for cut in [1, 7, 500, 999] {
            let (a, b) = xs.split_at(cut);
            let s = summary(&[a, &[f64::NAN, f64::INFINITY], b]);
            assert_eq!((s.count, s.nan, s.inf), (1000, 1, 1));
            assert_eq!((s.min, s.max), (-1.0, 3.0));
            assert!((s.mean - mean).abs() < 1e-12, "{cut}: {} vs {mean}", s.mean);
            assert!((s.m2 / n - var).abs() < 1e-12, "{cut}");
        }
        // Values whose sum overflows: the mean is right, the spread is not 0.
        let s = summary(&[&[1e308, 1e308], &[-1e308]]);
        assert!((s.mean - 1e308 / 3.0).abs() < 1e293, "{}", s.mean);
        assert!(s.m2 > 0.0, "{}", s.m2);
        // Only NaN and Inf: no figures.
        let s = summary(&[&[f64::NAN, f64::NEG_INFINITY]]);
        assert_eq!((s.count, s.nan, s.inf), (0, 1, 1));
        assert_eq!(s.figures(false)[..4], ["-", "-", "-", "-"]);
        // Integers print as integers while they are exact.
        let s = summary(&[&[42.0, -7.0]]);
        assert_eq!(s.figures(true)[..3], ["-7", "42", "17.5"]);
        let s = summary(&[&[2f64.powi(63)]]);
        assert_eq!(s.figures(true)[..2], ["9.22337e18", "9.22337e18"]);
    }
}
