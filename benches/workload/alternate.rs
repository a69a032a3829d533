//! Two contenders timed alternately, round by round, so that noise on a
//! shared machine hits both alike. Used by `examples/parse_speed.rs` and
//! `compat/examples/compat_speed.rs`.

use std::time::{Duration, Instant};

/// The medians of `rounds` timed runs of `a` and of `b`, run alternately,
/// and the sum of what the runs returned (a checksum, so the work is not
/// optimized away).
pub fn medians(
    rounds: usize,
    mut a: impl FnMut() -> usize,
    mut b: impl FnMut() -> usize,
) -> (Duration, Duration, usize) {
    let (mut a_runs, mut b_runs, mut checksum) = (Vec::new(), Vec::new(), 0);
    for _ in 0..rounds {
        let start = Instant::now();
        checksum += a();
        a_runs.push(start.elapsed());
        let start = Instant::now();
        checksum += b();
        b_runs.push(start.elapsed());
    }
    let median = |mut runs: Vec<Duration>| {
        runs.sort();
        runs[runs.len() / 2]
    };
    (median(a_runs), median(b_runs), checksum)
}
