//! Does the huge-page advice of `SafeTensorsFile::open` pay, in a fresh
//! process and in one that also allocates and frees ordinary memory
//! between loads (as an application that loads a model does)?
//!
//! ```text
//! cargo run --release --example huge_pages -- churn [GIB] [RUNS] [DIR]
//! cargo run --release --example huge_pages -- fresh [GIB] [RUNS] [DIR]
//! ```
//!
//! `churn`: one process; before every load it allocates, touches and frees
//! about 3 GiB of ordinary memory (`Vec<u8>`s from 64 KiB to 1 GiB), then
//! times `open` with the default options and with `huge_pages` off, in
//! alternating order. `fresh`: every load in a new process (this example
//! run again), alternating likewise. GIB (default 0.74, about 790 MB) is
//! the file's size, RUNS (default 7) the rounds, DIR (default the system's
//! temporary directory) where the file goes; the page cache is warm. Prints
//! medians, every run, and per run the page faults and the
//! `/proc/vmstat` huge-page and compaction counters. With
//! `HUGE_PAGES_ONLY=0` (or `1`), only the default (or no huge pages) runs,
//! back to back. See BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tensorsafe::{LoadOptions, SafeTensorsFile};

#[path = "../benches/workload/mod.rs"]
mod workload;

const VARIANTS: [&str; 2] = ["default", "no huge pages"];

fn options(variant: usize) -> LoadOptions {
    let mut o = LoadOptions::default();
    if variant == 1 {
        o.huge_pages = false;
    }
    o
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "churn".into());
    if mode == "one" {
        // A child: one timed load, its figures on stdout.
        let path = PathBuf::from(args.next().ok_or("path")?);
        let variant: usize = args.next().ok_or("variant")?.parse()?;
        let (t, c) = timed_open(&path, variant)?;
        println!("{} {}", t.as_nanos(), c.join(" "));
        return Ok(());
    }
    let gib: f64 = args.next().map_or(Ok(0.74), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(7), |a| a.parse())?;
    let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = dir.join(format!("tensorsafe-huge-pages-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&mode, gib, runs, &dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

/// Allocates, touches and frees about 3 GiB of ordinary memory in blocks
/// of many sizes, some kept while later ones are made.
fn churn(round: usize) -> u64 {
    let mut sum = 0u64;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let sizes = [
        (2000, 64 << 10),
        (40, 3 << 20),
        (12, 24 << 20),
        (3, 200 << 20),
        (1, 1 << 30),
        (500, 300 << 10),
        (1, 700 << 20),
    ];
    for (i, &(count, size)) in sizes.iter().enumerate() {
        for j in 0..count {
            let mut v = vec![0u8; size + (i * 4096 + j * 64) % 8192];
            for b in v.iter_mut().step_by(4096) {
                *b = (round + j) as u8 | 1;
            }
            sum += u64::from(v[v.len() / 2]);
            // Every third block lives on a while.
            if j % 3 == 0 {
                kept.push(v);
            }
        }
        if kept.len() > 100 {
            kept.drain(..kept.len() / 2);
        }
    }
    sum
}

/// The counters of `/proc/vmstat` that say how huge pages were had.
const COUNTERS: [&str; 5] = [
    "thp_fault_alloc",
    "thp_fault_fallback",
    "compact_stall",
    "compact_fail",
    "pgmajfault",
];

fn vmstat() -> Vec<u64> {
    let text = std::fs::read_to_string("/proc/vmstat").unwrap_or_default();
    COUNTERS
        .iter()
        .map(|c| {
            text.lines()
                .find_map(|l| l.strip_prefix(c)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// Minor page faults of this process so far.
fn minor_faults() -> u64 {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u.ru_minflt as u64
    }
}

/// Times `open` of `path` with the variant's options (the file dropped
/// after the clock stops); returns the time and the counters' changes.
fn timed_open(path: &Path, variant: usize) -> tensorsafe::Result<(Duration, Vec<String>)> {
    let options = options(variant);
    let (before, faults) = (vmstat(), minor_faults());
    let start = Instant::now();
    let file = SafeTensorsFile::open_with(path, &options)?;
    let t = start.elapsed();
    let (after, faults) = (vmstat(), minor_faults() - faults);
    let mut c = vec![format!("faults={faults}")];
    for ((name, a), b) in COUNTERS.iter().zip(after).zip(before) {
        if a != b {
            c.push(format!("{name}={}", a - b));
        }
    }
    std::hint::black_box(file.as_bytes()[file.as_bytes().len() / 2]);
    drop(file);
    Ok((t, c))
}

fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    t.get(t.len() / 2).copied().unwrap_or_default()
}

fn run(mode: &str, gib: f64, runs: usize, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let path = dir.join("model.safetensors");
    workload::load::write_u8_file(&path, gib, 16 << 20)?;
    let len = std::fs::read(&path)?.len(); // and warm the page cache
    let exe = std::env::current_exe()?;
    let mut times = vec![Vec::new(); VARIANTS.len()];
    let mut notes = vec![Vec::new(); VARIANTS.len()];
    let mut check = 0u64;
    // HUGE_PAGES_ONLY=0 (or 1): that variant alone, back to back.
    let only: Option<usize> = std::env::var("HUGE_PAGES_ONLY")
        .ok()
        .and_then(|v| v.parse().ok());
    println!("{mode}: open of {:.3} GB, {runs} rounds", len as f64 / 1e9);
    for round in 0..runs {
        for k in 0..VARIANTS.len() {
            let which = (round + k) % VARIANTS.len();
            if only.is_some_and(|o| o != which) {
                continue;
            }
            let (t, c) = match mode {
                "churn" => {
                    check += churn(round);
                    timed_open(&path, which)?
                }
                "fresh" => {
                    let out = std::process::Command::new(&exe)
                        .arg("one")
                        .arg(&path)
                        .arg(which.to_string())
                        .output()?;
                    if !out.status.success() {
                        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
                    }
                    let text = String::from_utf8(out.stdout)?;
                    let mut words = text.split_whitespace();
                    let ns: u64 = words.next().ok_or("no time")?.parse()?;
                    (Duration::from_nanos(ns), words.map(str::to_owned).collect())
                }
                _ => return Err(format!("unknown mode {mode}: churn or fresh").into()),
            };
            println!(
                "  round {round} {:<14} {:>7.1} ms  {}",
                VARIANTS[which],
                t.as_secs_f64() * 1e3,
                c.join(" ")
            );
            times[which].push(t);
            notes[which].push(c);
        }
    }
    let gbps = |d: Duration| len as f64 / d.as_secs_f64() / 1e9;
    println!(
        "{:<16} {:>10} {:>8} {:>9}   runs (ms, in round order)",
        "open", "median ms", "GB/s", "max ms"
    );
    for (name, t) in VARIANTS.iter().zip(&times) {
        let m = median(t);
        let max = t.iter().max().copied().unwrap_or_default();
        let ms: Vec<u64> = t.iter().map(|t| t.as_millis() as u64).collect();
        println!(
            "{name:<16} {:>10.1} {:>8.2} {:>9.1}   {ms:?}",
            m.as_secs_f64() * 1e3,
            gbps(m),
            max.as_secs_f64() * 1e3
        );
    }
    println!("(checksum {check:x})");
    Ok(())
}
