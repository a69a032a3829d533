//! `tensorsafe diff`: what differs between two files or checkpoints, read
//! a chunk at a time from both.

use std::collections::BTreeSet;
use std::path::Path;

use tensorsafe::{Metadata, TensorInfo};

use crate::chunks::{self, AnyReader};
use crate::source::{by_name, Shard, Source};
use crate::{human, Failure};

/// `--atol` and `--rtol`: a finite, non-negative number.
pub fn tolerance(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("{text:?} is not a finite, non-negative number")),
    }
}

/// Whether `p` and `q` are equal within `atol + rtol * max(|p|, |q|)`:
/// symmetric, so A and B may be swapped. NaN equals NaN; an infinity
/// equals only itself, whatever the tolerance.
fn close(p: f64, q: f64, atol: f64, rtol: f64) -> bool {
    if p == q || (p.is_nan() && q.is_nan()) {
        return true;
    }
    if !p.is_finite() || !q.is_finite() {
        return false;
    }
    (p - q).abs() <= atol + rtol * p.abs().max(q.abs())
}

/// How two float tensors of the same shape differ: counts, and the
/// largest absolute and relative differences (infinite where a value is
/// NaN or infinite on one side only).
#[derive(Default)]
struct Closeness {
    outside: u64,
    max_abs: f64,
    max_rel: f64,
}

impl Closeness {
    fn add(&mut self, xs: &[f64], ys: &[f64], atol: f64, rtol: f64) {
        for (&p, &q) in xs.iter().zip(ys) {
            if p == q || (p.is_nan() && q.is_nan()) {
                continue;
            }
            let abs = (p - q).abs();
            let (abs, rel) = if abs.is_finite() {
                (abs, abs / p.abs().max(q.abs()))
            } else {
                (f64::INFINITY, f64::INFINITY)
            };
            self.max_abs = self.max_abs.max(abs);
            self.max_rel = self.max_rel.max(rel);
            if !close(p, q, atol, rtol) {
                self.outside += 1;
            }
        }
    }
}

/// What one tensor pair's comparison found.
enum Found {
    Equal,
    /// Other bytes for the same numbers: -0.0 and 0.0, NaN payloads.
    SameValues,
    Within(Closeness),
    Beyond(Closeness),
    Bytes {
        differ: u64,
        of: u64,
    },
}

/// Compares two tensors of the same dtype and shape, chunk by chunk;
/// values are decoded only where bytes differ.
fn compare(
    (x, xr, xs): (&TensorInfo<'_>, &mut AnyReader<'_>, &Shard<'_>),
    (y, yr, ys): (&TensorInfo<'_>, &mut AnyReader<'_>, &Shard<'_>),
    chunk: u64,
    tolerance: (f64, f64),
) -> Result<Found, Failure> {
    let dtype = x.dtype();
    let float = dtype.is_float();
    let (mut closeness, mut differ, mut decoded) = (Closeness::default(), 0u64, true);
    let left_ranges = chunks::ranges(xs.header, x, chunk)?;
    let right_ranges = chunks::ranges(ys.header, y, chunk)?;
    for (a, b) in left_ranges.zip(right_ranges) {
        let (left, right) = (xr.read(a)?, yr.read(b)?);
        for (p, q) in chunks::pieces(left).zip(chunks::pieces(right)) {
            if p == q {
                continue;
            }
            differ += p.iter().zip(q).filter(|(p, q)| p != q).count() as u64;
            let values = (chunks::values(dtype, p), chunks::values(dtype, q));
            match values {
                (Some(p), Some(q)) if float => closeness.add(&p, &q, tolerance.0, tolerance.1),
                _ => decoded = false,
            }
        }
    }
    Ok(match (differ, decoded) {
        (0, _) => Found::Equal,
        (_, true) if closeness.max_abs == 0.0 => Found::SameValues,
        (_, true) if closeness.outside == 0 => Found::Within(closeness),
        (_, true) => Found::Beyond(closeness),
        (_, false) => Found::Bytes {
            differ,
            of: x.byte_len(),
        },
    })
}

pub fn diff(a: &Path, b: &Path, atol: f64, rtol: f64) -> Result<u8, Failure> {
    // Any trouble with an input is exit code 2; 1 says only "different".
    compare_sources(a, b, (atol, rtol)).map_err(|f| Failure { code: 2, ..f })
}

fn compare_sources(a: &Path, b: &Path, tolerance: (f64, f64)) -> Result<u8, Failure> {
    let (left, right) = (Source::open(a)?, Source::open(b)?);
    let (left_shards, right_shards) = (left.shards()?, right.shards()?);
    let (in_left, in_right) = (by_name(&left_shards), by_name(&right_shards));
    let mut differences = 0usize;
    let mut report = |line: String| {
        differences += 1;
        outln!("{line}");
    };
    for (side, shards, other) in [
        ("A", &left_shards, &in_right),
        ("B", &right_shards, &in_left),
    ] {
        for name in shards.iter().flat_map(|s| s.header.names()) {
            if !other.contains_key(name) {
                report(format!("only in {side}: {}", human::escape(name)));
            }
        }
    }
    // What to say of each tensor of A that B holds, in A's order: a
    // dtype or shape that differs, or a comparison of their values.
    enum Item<'s> {
        Differs(String),
        Pair(usize, TensorInfo<'s>, usize, TensorInfo<'s>),
    }
    let mut items = Vec::new();
    for (i, xs) in left_shards.iter().enumerate() {
        for x in xs.header.iter() {
            let Some(&(j, y)) = in_right.get(x.name()) else {
                continue;
            };
            items.push(if x.dtype() != y.dtype() || x.shape() != y.shape() {
                Item::Differs(format!(
                    "{}: {} {:?} vs {} {:?}",
                    human::escape(x.name()),
                    x.dtype(),
                    x.shape(),
                    y.dtype(),
                    y.shape()
                ))
            } else {
                Item::Pair(i, x, j, y)
            });
        }
    }
    // The pairs are compared in A's order; in B's file order instead if B
    // is remote and A is not, so that B's reads go forward through its
    // files. Lines are printed in A's order all the same.
    let mut order: Vec<usize> = (0..items.len()).collect();
    if right.is_remote() && !left.is_remote() {
        order.sort_by_key(|&k| match &items[k] {
            Item::Pair(_, _, j, y) => (*j, y.data_offsets().0),
            Item::Differs(_) => (0, 0),
        });
    }
    // Both sides in chunks of the larger size (the tensors of a pair have
    // the same length).
    let chunk = left.chunk().max(right.chunk());
    let pairs = || {
        order.iter().filter_map(|&k| match &items[k] {
            Item::Pair(i, x, j, y) => Some((*i, x, *j, y)),
            Item::Differs(_) => None,
        })
    };
    // What each side's shard `i` is asked for, in order: a plan for its
    // reader. A side that leaves a shard and comes back to it gets none
    // (its reader is not kept, so bytes fetched ahead would be lost).
    let plans = |side: usize, shards: &[Shard<'_>]| -> Result<Vec<Vec<_>>, Failure> {
        let mut plans = vec![Vec::new(); shards.len()];
        if ![&left, &right][side].is_remote() {
            return Ok(plans);
        }
        let mut left_behind = vec![false; shards.len()];
        let mut at = None;
        for (i, x, j, y) in pairs() {
            let (shard, info) = if side == 0 { (i, x) } else { (j, y) };
            if at != Some(shard) {
                if left_behind[shard] {
                    return Ok(vec![Vec::new(); shards.len()]);
                }
                if let Some(before) = at {
                    left_behind[before] = true;
                }
                at = Some(shard);
            }
            plans[shard].extend(chunks::ranges(shards[shard].header, info, chunk)?);
        }
        Ok(plans)
    };
    let (mut left_plans, mut right_plans) = (plans(0, &left_shards)?, plans(1, &right_shards)?);
    let mut found: Vec<Option<Found>> = items.iter().map(|_| None).collect();
    let mut shown = 0;
    // Prints every line up to the first tensor not yet compared (with
    // `all`, up to the last one compared, saying which were not: what is
    // known when a read failed).
    let mut show = |found: &mut Vec<Option<Found>>, all: bool| {
        let last = found.iter().rposition(Option::is_some);
        while let Some(item) = items.get(shown) {
            let name = |x: &TensorInfo<'_>| human::escape(x.name());
            match (item, found[shown].take()) {
                (Item::Differs(line), _) => report(line.clone()),
                (Item::Pair(..), None) if !all || last.is_none_or(|l| shown > l) => break,
                (Item::Pair(_, x, ..), None) => outln!("{}: not compared", name(x)),
                (Item::Pair(_, x, ..), Some(f)) => match f {
                    Found::Equal => {}
                    Found::SameValues => outln!(
                        "{}: bytes differ, values equal (signed zeros or NaN payloads)",
                        name(x)
                    ),
                    Found::Within(c) => outln!(
                        "{}: within tolerance (max abs {}, max rel {})",
                        name(x),
                        human::value(c.max_abs),
                        human::value(c.max_rel)
                    ),
                    Found::Beyond(c) => report(format!(
                        "{}: {} of {} values differ beyond tolerance (max abs {}, max rel {})",
                        name(x),
                        c.outside,
                        x.element_count(),
                        human::value(c.max_abs),
                        human::value(c.max_rel)
                    )),
                    Found::Bytes { differ, of } => {
                        report(format!("{}: {differ} of {of} bytes differ", name(x)))
                    }
                },
            }
            shown += 1;
        }
    };
    let (mut xr, mut yr) = (None, None);
    for &k in &order {
        if let Item::Pair(i, x, j, y) = &items[k] {
            let (i, j) = (*i, *j);
            let (xs, ys) = (&left_shards[i], &right_shards[j]);
            let take = |plans: &mut Vec<Vec<_>>, shard: usize| std::mem::take(&mut plans[shard]);
            let compared = chunks::reuse(&mut xr, &left, i, xs, || Ok(take(&mut left_plans, i)))
                .and_then(|xr| {
                    let yr =
                        chunks::reuse(&mut yr, &right, j, ys, || Ok(take(&mut right_plans, j)))?;
                    compare((x, xr, xs), (y, yr, ys), chunk, tolerance)
                });
            match compared {
                Ok(f) => found[k] = Some(f),
                Err(failure) => {
                    // What was compared is said before the error.
                    show(&mut found, true);
                    return Err(failure);
                }
            }
        }
        show(&mut found, false);
    }
    let (left_meta, right_meta) = (left.metadata()?, right.metadata()?);
    for line in metadata_differences(left_meta, right_meta) {
        report(line);
    }
    if left_meta.is_none() != right_meta.is_none() && differences == 0 {
        // The same (no) entries either way: said, not counted.
        let (none, empty) = if left_meta.is_none() {
            ("A", "B")
        } else {
            ("B", "A")
        };
        outln!("metadata: {none} has none, {empty} an empty one");
    }
    if differences == 0 {
        outln!("equal");
        Ok(0)
    } else {
        outln!("{}", human::plural(differences as u64, "difference"));
        Ok(1)
    }
}

/// The metadata entries that differ, one line each in key order: a key
/// only in A, only in B, or with other values. No metadata and an empty
/// map hold the same entries.
fn metadata_differences(a: Option<&Metadata>, b: Option<&Metadata>) -> Vec<String> {
    let empty = Metadata::new();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|key| match (a.get(key), b.get(key)) {
            (Some(x), None) => Some(format!("metadata: only in A: {key:?} = {x:?}")),
            (None, Some(y)) => Some(format!("metadata: only in B: {key:?} = {y:?}")),
            (Some(x), Some(y)) if x != y => Some(format!("metadata: {key:?}: {x:?} vs {y:?}")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closeness_is_symmetric_and_infinities_are_never_close() {
        assert!(close(100.0, 101.0, 0.0, 0.01));
        assert!(close(101.0, 100.0, 0.0, 0.01));
        assert!(!close(100.0, 102.0, 0.0, 0.01));
        assert!(close(f64::NAN, f64::NAN, 0.0, 0.0));
        assert!(close(f64::INFINITY, f64::INFINITY, 0.0, 0.0));
        for big in [1.0, 1e300] {
            assert!(!close(f64::INFINITY, big, 1.0, 1.0));
            assert!(!close(big, f64::NEG_INFINITY, 1.0, 1.0));
            assert!(!close(f64::NAN, big, 1.0, 1.0));
        }
        assert!(tolerance("1e-3").is_ok());
        for bad in ["-1", "nan", "inf", "x"] {
            assert!(tolerance(bad).is_err(), "{bad}");
        }
    }
}
