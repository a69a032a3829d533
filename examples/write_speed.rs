//! How fast files get written, beside copying the same bytes with the
//! system's tools, measured in alternating rounds of one run (every run,
//! medians and ratios):
//!
//! - `tensorsafe rewrite` of a 790 MB checkpoint against `cp` + `sync`;
//! - the same rewrite in process: `Writer::to_file` fed `FileView`s of the
//!   source (what `rewrite` does, without starting a process);
//! - `tensorsafe shard` of a 1 GiB checkpoint into four shards against `cp`
//!   of the file, and `tensorsafe merge` of those shards against `cp` of
//!   the shards;
//! - `Writer::to_file` of 1 GiB from memory against a raw `write_all` +
//!   `fsync` of the same bytes.
//!
//! ```text
//! cargo build --release -p tensorsafe-cli
//! cargo run --release --example write_speed -- [DIR] [ROUNDS]
//! ```
//!
//! DIR (default `/dev/shm`, a tmpfs: no disk in the way, so the figures
//! are the writer's own cost) is where the files go; ROUNDS defaults to 7.
//! Beside each wall-clock time is the processor time (user + system, of
//! this process and the commands it ran), which other work on a shared
//! machine disturbs less.
//! The `tensorsafe` binary is `TENSORSAFE_CLI`, or else the one beside
//! this example's directory (`target/release/tensorsafe`). `sync` runs
//! before every timed step, so no step pays for the dirty pages of the
//! one before. Ratios are the reference's median time over ours: 1.0x is
//! as fast as the reference, 0.9x takes 11% longer. See BENCHMARKS.md.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tensorsafe::{Dtype, FileView, Header, TensorView, Writer};

#[path = "../benches/workload/mod.rs"]
mod workload;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map_or_else(|| PathBuf::from("/dev/shm"), PathBuf::from);
    let rounds: usize = args.next().map_or(Ok(7), |a| a.parse())?;
    #[cfg(not(unix))]
    println!("processor time is measured on Unix only: its columns read 0 here");
    let cli = match std::env::var_os("TENSORSAFE_CLI") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .ok_or("no directory above the example's")?
            .join("tensorsafe"),
    };
    if !cli.is_file() {
        return Err(format!(
            "{}: no tensorsafe binary (cargo build --release -p tensorsafe-cli, or set TENSORSAFE_CLI)",
            cli.display()
        )
        .into());
    }
    let dir = dir.join(format!("tensorsafe-write-speed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&cli, &dir, rounds);
    std::fs::remove_dir_all(&dir)?;
    result
}

/// Transformer blocks of F16 projections and F32 norms, about `bytes` in
/// all (whole blocks, at least one).
fn layout(bytes: usize) -> Vec<(String, Dtype, Vec<usize>)> {
    let hidden = 2048usize;
    let per_layer = 4 * hidden * hidden * 2 + 3 * hidden * 5504 * 2;
    let layers = (bytes / per_layer).max(1);
    let mut out = vec![("embed.weight".to_owned(), Dtype::F16, vec![1024, hidden])];
    for l in 0..layers {
        for p in ["q_proj", "k_proj", "v_proj", "o_proj"] {
            let name = format!("layers.{l}.attn.{p}.weight");
            out.push((name, Dtype::F16, vec![hidden, hidden]));
        }
        for p in ["gate_proj", "up_proj"] {
            let name = format!("layers.{l}.mlp.{p}.weight");
            out.push((name, Dtype::F16, vec![5504, hidden]));
        }
        let name = format!("layers.{l}.mlp.down_proj.weight");
        out.push((name, Dtype::F16, vec![hidden, 5504]));
        for n in ["input_norm", "post_norm"] {
            out.push((format!("layers.{l}.{n}.weight"), Dtype::F32, vec![hidden]));
        }
    }
    // The rest as an output projection, so the total is about `bytes`.
    let so_far = 1024 * hidden * 2 + layers * (per_layer + 2 * hidden * 4);
    let rows = bytes.saturating_sub(so_far) / (hidden * 2);
    if rows > 0 {
        out.push(("lm_head.weight".to_owned(), Dtype::F16, vec![rows, hidden]));
    }
    out
}

/// Pseudo-random bytes for the tensors of `specs`, one buffer.
fn data_for(specs: &[(String, Dtype, Vec<usize>)]) -> Vec<u8> {
    let len: u64 = specs
        .iter()
        .map(|(_, d, s)| d.shape_byte_len(s).unwrap_or(0))
        .sum();
    workload::load::pseudo_random(len as usize)
}

/// The tensors of `specs` as views of consecutive slices of `data`.
fn views<'d>(
    specs: &'d [(String, Dtype, Vec<usize>)],
    data: &'d [u8],
) -> Result<Vec<(&'d str, TensorView<'d>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    for (name, dtype, shape) in specs {
        let len = dtype.shape_byte_len(shape)? as usize;
        out.push((
            name.as_str(),
            TensorView::new(*dtype, shape, &data[at..at + len])?,
        ));
        at += len;
    }
    Ok(out)
}

/// One contender: its name, every time it took and the processor time
/// (user + system, of this process and of the commands it ran) each time.
struct Step {
    name: &'static str,
    times: Vec<Duration>,
    cpu: Vec<Duration>,
}

/// User + system time used so far by this process and by its children
/// that have been waited for.
#[cfg(unix)]
fn cpu_time() -> Duration {
    let mut total = Duration::ZERO;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: `usage` is a valid, writable rusage; getrusage writes
        // only into it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `who` is one of the two documented values.
        if unsafe { libc::getrusage(who, &mut usage) } == 0 {
            for t in [usage.ru_utime, usage.ru_stime] {
                total += Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
            }
        }
    }
    total
}

/// Not measured off Unix (no `getrusage`, and `libc` is a Unix-only
/// dependency): the cpu columns read 0, as `main` says.
#[cfg(not(unix))]
fn cpu_time() -> Duration {
    Duration::ZERO
}

impl Step {
    fn new(name: &'static str) -> Self {
        Step {
            name,
            times: vec![],
            cpu: vec![],
        }
    }

    fn cpu_median(&self) -> Duration {
        let mut t = self.cpu.clone();
        t.sort();
        t.get(t.len() / 2).copied().unwrap_or_default()
    }

    fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t.get(t.len() / 2).copied().unwrap_or_default()
    }

    fn runs(&self) -> String {
        let ms: Vec<String> = self
            .times
            .iter()
            .map(|t| format!("{:.0}", t.as_secs_f64() * 1e3))
            .collect();
        ms.join(", ")
    }
}

/// Runs a command, failing unless it succeeds.
fn sh(program: impl AsRef<std::ffi::OsStr>, args: &[&std::ffi::OsStr]) -> Result<()> {
    let out = Command::new(program.as_ref()).args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "{:?} {:?}: {}",
            program.as_ref(),
            args,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// Flushes every dirty page of the system, so the next step starts clean.
fn settle() {
    let _ = Command::new("sync").status();
}

/// Runs `bodies` in alternating order for `rounds` rounds (each round
/// starts one later), timing each; prints every run and the medians.
fn race(
    title: &str,
    bytes: u64,
    rounds: usize,
    steps: &mut [(Step, &mut dyn FnMut() -> Result<()>)],
) -> Result<()> {
    for round in 0..rounds {
        for k in 0..steps.len() {
            let which = (round + k) % steps.len();
            settle();
            let (step, body) = &mut steps[which];
            let (start, cpu) = (Instant::now(), cpu_time());
            body()?;
            step.times.push(start.elapsed());
            step.cpu.push(cpu_time().saturating_sub(cpu));
        }
    }
    println!("\n{title} ({:.3} GB, {rounds} rounds)", bytes as f64 / 1e9);
    for (step, _) in steps.iter() {
        let median = step.median();
        println!(
            "  {:<44} median {:>8.1} ms {:>6.2} GB/s  (cpu {:>6.1} ms)  runs: {}",
            step.name,
            median.as_secs_f64() * 1e3,
            bytes as f64 / median.as_secs_f64() / 1e9,
            step.cpu_median().as_secs_f64() * 1e3,
            step.runs()
        );
    }
    let reference = steps[0].0.median().as_secs_f64();
    for (step, _) in &steps[1..] {
        println!(
            "  ratio {:<38} {:.2}x of {} (processor time: {:.2}x)",
            step.name,
            reference / step.median().as_secs_f64(),
            steps[0].0.name,
            steps[0].0.cpu_median().as_secs_f64() / step.cpu_median().as_secs_f64()
        );
    }
    Ok(())
}

fn run(cli: &Path, dir: &Path, rounds: usize) -> Result<()> {
    println!(
        "directory: {} (tensorsafe: {})",
        dir.display(),
        cli.display()
    );
    let os = |p: &Path| p.as_os_str().to_owned();

    // (a) rewrite of a 790 MB checkpoint against cp + sync.
    let specs = layout(790_000_000);
    let data = data_for(&specs);
    let source = dir.join("rewrite-source.safetensors");
    Writer::new().to_file(views(&specs, &data)?, &source)?;
    drop(data);
    let bytes = std::fs::metadata(&source)?.len();
    let (out, copy) = (
        dir.join("rewritten.safetensors"),
        dir.join("copied.safetensors"),
    );
    let (src, out_os, copy_os) = (os(&source), os(&out), os(&copy));
    race(
        "rewrite",
        bytes,
        rounds,
        &mut [
            (Step::new("cp + sync"), &mut || {
                sh("cp", &[&src, &copy_os])?;
                sh("sync", &[])
            }),
            (Step::new("tensorsafe rewrite"), &mut || {
                sh(cli, &["rewrite".as_ref(), &src, &out_os])
            }),
            (
                Step::new("Writer::to_file of FileViews (in process)"),
                &mut || {
                    let file = File::open(&source)?;
                    let header = Header::read_from(&file)?;
                    let tensors = header
                        .iter()
                        .map(|info| Ok((info.name(), FileView::of(&file, &header, &info)?)))
                        .collect::<tensorsafe::Result<Vec<_>>>()?;
                    Writer::new()
                        .metadata(header.metadata())
                        .to_file(tensors, &out)?;
                    Ok(())
                },
            ),
        ],
    )?;
    for p in [&source, &out, &copy] {
        std::fs::remove_file(p)?;
    }

    // (b) shard and merge of a 1 GiB checkpoint against cp of the same bytes.
    let specs = layout(1 << 30);
    let data = data_for(&specs);
    let source = dir.join("model.safetensors");
    Writer::new().to_file(views(&specs, &data)?, &source)?;
    let bytes = std::fs::metadata(&source)?.len();
    let shards = dir.join("shards");
    let copied = dir.join("copied.safetensors");
    let (src, shards_os, copied_os) = (os(&source), os(&shards), os(&copied));
    let max = format!("{}", bytes / 4 + (1 << 20));
    race(
        "shard into 4",
        bytes,
        rounds,
        &mut [
            (Step::new("cp"), &mut || sh("cp", &[&src, &copied_os])),
            (Step::new("tensorsafe shard"), &mut || {
                sh(
                    cli,
                    &[
                        "shard".as_ref(),
                        &src,
                        &shards_os,
                        "--max-shard-size".as_ref(),
                        max.as_ref(),
                    ],
                )
            }),
        ],
    )?;
    let shard_files: Vec<PathBuf> = std::fs::read_dir(&shards)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    let copies = dir.join("copies");
    std::fs::create_dir_all(&copies)?;
    let mut cp_args: Vec<std::ffi::OsString> = vec!["-t".into(), os(&copies)];
    cp_args.extend(shard_files.iter().map(|p| os(p)));
    let cp_args: Vec<&std::ffi::OsStr> = cp_args.iter().map(|a| a.as_os_str()).collect();
    let merged = dir.join("merged.safetensors");
    let merged_os = os(&merged);
    race(
        &format!("merge {} shards", shard_files.len()),
        bytes,
        rounds,
        &mut [
            (Step::new("cp of the shards"), &mut || sh("cp", &cp_args)),
            (Step::new("tensorsafe merge"), &mut || {
                sh(cli, &["merge".as_ref(), &shards_os, &merged_os])
            }),
        ],
    )?;
    std::fs::remove_dir_all(&shards)?;
    std::fs::remove_dir_all(&copies)?;
    for p in [&source, &copied, &merged] {
        std::fs::remove_file(p)?;
    }

    // (c) Writer::to_file from memory against write_all + fsync.
    let tensors = views(&specs, &data)?;
    let file_bytes = Writer::new().to_vec(tensors.iter().cloned())?;
    let (raw, atomic) = (dir.join("raw.bin"), dir.join("written.safetensors"));
    race(
        "write from memory",
        file_bytes.len() as u64,
        rounds,
        &mut [
            (Step::new("write_all + fsync"), &mut || {
                let mut f = File::create(&raw)?;
                f.write_all(&file_bytes)?;
                f.sync_all()?;
                Ok(())
            }),
            (Step::new("Writer::to_file"), &mut || {
                Ok(Writer::new().to_file(tensors.iter().cloned(), &atomic)?)
            }),
        ],
    )?;
    Ok(())
}
