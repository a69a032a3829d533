//! Cold loads at several depths (requests in flight): the page cache is
//! dropped before every run (Linux, as root), then the same file is loaded
//! with `load_into` at 1, 2, 4, ... 64 reader threads, each keeping one
//! read of up to 8 MiB in flight, through the page cache and with
//! `O_DIRECT`. Every (mode, depth) pair runs once per round, starting one
//! later each round, so none always follows the same one.
//!
//! ```text
//! cargo run --release --example cold_depth -- [GIB] [RUNS] [DIR] [DEPTHS]
//! ```
//!
//! GIB (default 1) is the file's size, RUNS (default 5) the rounds, DIR
//! (default the system's temporary directory; it must be on the disk, not
//! tmpfs) where the file goes, DEPTHS (default `1,2,4,8,16,32,64`) the
//! depths. Prints medians, GB/s and every run. See BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tensorsafe::LoadOptions;

#[path = "../benches/workload/mod.rs"]
mod workload;
use workload::load::load_into_arena;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let gib: f64 = args.next().map_or(Ok(1.0), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let depths: Vec<usize> = match args.next() {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![1, 2, 4, 8, 16, 32, 64],
    };
    let dir = dir.join(format!("tensorsafe-cold-depth-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(gib, runs, &dir, &depths);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn drop_caches() -> std::io::Result<()> {
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3")
}

fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    t.get(t.len() / 2).copied().unwrap_or_default()
}

fn run(
    gib: f64,
    runs: usize,
    dir: &Path,
    depths: &[usize],
) -> Result<(), Box<dyn std::error::Error>> {
    let path = dir.join("model.safetensors");
    let data_len = workload::load::write_u8_file(&path, gib, 64 << 20)?;
    if let Err(e) = drop_caches() {
        return Err(format!("cannot drop the page cache ({e}): run as root on Linux").into());
    }
    // (direct, depth) pairs, in the order they are first run.
    let cases: Vec<(bool, usize)> = depths
        .iter()
        .flat_map(|&d| [(false, d), (true, d)])
        .collect();
    let mut times = vec![Vec::new(); cases.len()];
    let mut arena = vec![1u8; data_len];
    println!(
        "cold loads of {:.3} GB, {runs} rounds, {} cases per round",
        data_len as f64 / 1e9,
        cases.len()
    );
    for round in 0..runs {
        for k in 0..cases.len() {
            let which = (round + k) % cases.len();
            let (direct, depth) = cases[which];
            let mut options = LoadOptions::default();
            options.threads = depth;
            options.direct = direct;
            drop_caches()?;
            let start = Instant::now();
            load_into_arena(&path, &mut arena, &options)?;
            times[which].push(start.elapsed());
        }
    }
    let gbps = |d: Duration| data_len as f64 / d.as_secs_f64() / 1e9;
    println!(
        "{:<12} {:>6} {:>10} {:>8}   runs (ms, in round order)",
        "mode", "depth", "median ms", "GB/s"
    );
    for ((direct, depth), t) in cases.iter().zip(&times) {
        let m = median(t);
        let ms: Vec<u64> = t.iter().map(|t| t.as_millis() as u64).collect();
        let mode = if *direct { "O_DIRECT" } else { "page cache" };
        println!(
            "{mode:<12} {depth:>6} {:>10.1} {:>8.2}   {ms:?}",
            m.as_secs_f64() * 1e3,
            gbps(m)
        );
    }
    for ((direct, depth), t) in cases.iter().zip(&times) {
        let m = median(t);
        println!(
            "csv,{},{depth},{:.1},{:.3}",
            if *direct { "direct" } else { "cached" },
            m.as_secs_f64() * 1e3,
            gbps(m)
        );
    }
    Ok(())
}
