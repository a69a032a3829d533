//! Prints how long parsing a header and looking up every tensor takes, for
//! this crate and the reference `safetensors` crate, measured alternately in
//! the same run (medians of 15 runs each, and their ratio).
//!
//! `cargo run --release --example parse_speed -- 100000`
//! (`-- 100000 --profile=ROUNDS`: this crate alone, for a profiler; see
//! `profile` below)
//! (the criterion bench `cargo bench --bench parse` measures the same
//! workload, `benches/workload/`, with statistics; this example alternates
//! the two crates run by run, so machine noise hits both alike).

use std::time::Duration;

use tensorsafe::SafeTensors;

#[path = "../benches/workload/mod.rs"]
mod workload;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    if let Some(rounds) = std::env::args().skip(2).find_map(|a| profile_rounds(&a)) {
        return profile(count, rounds);
    }
    let (names, dtypes) = workload::model(count);
    let zeros = [0u8; 64];
    let views = workload::views(&dtypes, &zeros);
    let bytes = tensorsafe::serialize(names.iter().zip(views.iter()), None).expect("serialize");
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));

    let (ours, theirs, checksum) = workload::alternate::medians(
        15,
        || {
            let st = SafeTensors::deserialize(&bytes).expect("valid");
            names
                .iter()
                .map(|n| st.tensor(n).expect("present").data().len())
                .sum()
        },
        || {
            let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid");
            names
                .iter()
                .map(|n| st.tensor(n).expect("present").data().len())
                .sum()
        },
    );
    let mbps = |d: Duration| header_len as f64 / d.as_secs_f64() / 1e6;
    println!("{count} tensors, header {header_len} bytes (checksum {checksum})");
    println!("parse + look up every tensor:");
    println!("  tensorsafe  {ours:>10.3?}  {:>7.0} MB/s", mbps(ours));
    println!("  reference   {theirs:>10.3?}  {:>7.0} MB/s", mbps(theirs));
    println!(
        "  ratio       {:.2}x",
        theirs.as_secs_f64() / ours.as_secs_f64()
    );

    // Serialize the same tensors, alternating the two writers.
    let reference_views = workload::reference_views(&views);
    let (ours, theirs, checksum) = workload::alternate::medians(
        15,
        || {
            let out = tensorsafe::serialize(names.iter().zip(views.iter()), None);
            out.expect("serialize").len()
        },
        || {
            let out = safetensors::serialize(names.iter().zip(reference_views.iter()), None);
            out.expect("serialize").len()
        },
    );
    println!("serialize (checksum {checksum}):");
    println!("  tensorsafe  {ours:>10.3?}");
    println!("  reference   {theirs:>10.3?}");
    println!(
        "  ratio       {:.2}x",
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
}

/// The rounds of `--profile=ROUNDS` (at least 1).
fn profile_rounds(arg: &str) -> Option<usize> {
    let rounds = arg.strip_prefix("--profile=")?;
    let rounds: usize = rounds.parse().expect("--profile=ROUNDS takes a number");
    Some(rounds.max(1))
}

/// `parse_speed COUNT --profile=ROUNDS`: this crate alone, for a profiler.
/// Parses the header ROUNDS times, then looks up every tensor ROUNDS times,
/// and prints the best time of each. Under `perf record`, the phases are
/// these symbols: `classify::Classes::new` (every byte classified, UTF-8
/// included), `header::parse::parse` and `Scanner::string` (the walk, with
/// numbers and the plain entry path inlined), `NameTable::build` and the
/// hashing before it (the name table), `validate` and `sort_by_offset`
/// (layout rules), `Header::get` (lookups).
fn profile(count: usize, rounds: usize) {
    let (names, bytes) = workload::file(count);
    let time = |f: &mut dyn FnMut() -> usize| {
        let mut best = Duration::MAX;
        let mut checksum = 0;
        for _ in 0..rounds {
            let start = std::time::Instant::now();
            checksum += f();
            best = best.min(start.elapsed());
        }
        (best, checksum)
    };
    let (parse, _) = time(&mut || tensorsafe::Header::parse(&bytes).expect("valid").len());
    let header = tensorsafe::Header::parse(&bytes).expect("valid");
    let (lookups, checksum) = time(&mut || {
        let found = names.iter().filter_map(|n| header.get(n));
        found.map(|t| t.byte_len() as usize).sum()
    });
    println!("{count} tensors: parse {parse:.3?}, look up every tensor {lookups:.3?} (best of {rounds}; checksum {checksum})");
}
