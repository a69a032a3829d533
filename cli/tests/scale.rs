//! Commands on files far larger than the memory they may use: header-only
//! commands on a sparse 100 GB checkpoint, streaming commands on a file
//! larger than their bound. Each command's peak resident memory is the
//! kernel's count for that process (`wait4`), not an estimate.
//!
//! That count starts from the memory of the process that started it
//! (Linux carries the high-water mark across `exec`), so this test process
//! never holds much itself: files are made sparse and compared a chunk at
//! a time.

#![cfg(target_os = "linux")]

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tensorsafe::{Dtype, Header};

#[path = "../../tests/common/temp.rs"]
#[allow(dead_code)] // not every helper is used here
mod temp;
use temp::TempDir;

/// Peak memory of a command that reads headers only, whatever the data.
const HEADER_ONLY_BOUND: u64 = 50 << 20;
/// Peak memory of a command that streams tensors, whatever their size.
const STREAMING_BOUND: u64 = 32 << 20;

/// What a run of the binary gave: exit code, stdout, stderr, and its peak
/// resident memory in bytes.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    peak: u64,
    /// User and system CPU time.
    cpu: std::time::Duration,
}

/// Runs `tensorsafe ARGS` and measures its peak resident memory.
// The child is reaped by `wait4`, which also gives its resource usage.
#[allow(clippy::zombie_processes)]
fn measured(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tensorsafe"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).expect("reads output");
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value (plain integers).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is this process's own child, not yet waited for (the
    // `Child` is never waited on); `status` and `usage` are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "{args:?} was killed: {status}");
    Run {
        code: libc::WEXITSTATUS(status),
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
        // Kilobytes on Linux.
        peak: u64::try_from(usage.ru_maxrss).expect("a size") * 1024,
        cpu: [usage.ru_utime, usage.ru_stime]
            .iter()
            .map(|t| {
                let secs = u64::try_from(t.tv_sec).expect("a time");
                let micros = u32::try_from(t.tv_usec).expect("a time");
                std::time::Duration::new(secs, micros * 1000)
            })
            .sum(),
    }
}

/// This process's own peak resident memory (`VmHWM`), in bytes.
fn own_peak() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Runs ARGS, expects exit code `code` and a peak under `bound`.
fn within(bound: u64, code: i32, args: &[&str]) -> Run {
    // A child's count starts at this process's peak (a failed test's
    // backtrace, say, raises it): then nothing can be measured.
    let mine = own_peak();
    assert!(
        mine < bound / 2,
        "this test process holds {} MiB already; cannot measure {args:?}",
        mine >> 20
    );
    let run = measured(args);
    assert_eq!(run.code, code, "{args:?}: {}{}", run.stdout, run.stderr);
    assert!(
        run.peak < bound,
        "{args:?} used {} MiB, more than {} MiB",
        run.peak >> 20,
        bound >> 20
    );
    eprintln!("{args:?}: peak {} MiB", run.peak >> 20);
    run
}

/// Writes a safetensors file whose tensors are all zero without storing
/// them: the header, then a hole up to the file's length. Returns the
/// header.
fn sparse(path: &Path, tensors: &[(String, Dtype, Vec<usize>)]) -> Header {
    let mut json = String::from("{\"__metadata__\":{\"format\":\"pt\"}");
    let mut offset = 0u64;
    for (name, dtype, shape) in tensors {
        let end = offset + dtype.shape_byte_len(shape).unwrap();
        json += &format!(
            ",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{offset},{end}]}}"
        );
        offset = end;
    }
    json.push('}');
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    let header = Header::parse(&bytes).unwrap();
    let mut file = File::create(path).unwrap();
    file.write_all(&bytes).unwrap();
    file.set_len(header.file_len()).unwrap();
    header
}

/// `count` F32 tensors of `elements` each, named `{prefix}.{k}`.
fn f32s(prefix: &str, count: usize, elements: usize) -> Vec<(String, Dtype, Vec<usize>)> {
    (0..count)
        .map(|k| (format!("{prefix}.{k:03}"), Dtype::F32, vec![elements]))
        .collect()
}

/// A sharded checkpoint of sparse shards: `shards` files of `per_shard`
/// tensors of `elements` F32 values each, and its index.
fn sparse_checkpoint(dir: &Path, shards: usize, per_shard: usize, elements: usize) -> PathBuf {
    let mut map = serde_json::Map::new();
    let mut total = 0;
    for k in 1..=shards {
        let file = format!("model-{k:05}-of-{shards:05}.safetensors");
        let header = sparse(
            &dir.join(&file),
            &f32s(&format!("layer{k}"), per_shard, elements),
        );
        total += header.data_len();
        for name in header.names() {
            map.insert(name.to_owned(), file.clone().into());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": total}, "weight_map": map});
    let path = dir.join("model.safetensors.index.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&index).unwrap()).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn header_only_commands_on_100_gb_need_no_more_memory_than_headers() {
    let dir = TempDir::new("scale-header");
    // 100 tensors of 1 GB: one file, and four shards of 25 GB.
    let file = dir.path("model.safetensors");
    let header = sparse(&file, &f32s("w", 100, 250_000_000));
    assert!(header.file_len() > 100_000_000_000);
    let shards = TempDir::new("scale-header-shards");
    let index = sparse_checkpoint(shards.dir(), 4, 25, 250_000_000);
    for path in [&file, &index] {
        let run = within(HEADER_ONLY_BOUND, 0, &["inspect", s(path)]);
        // Reading 100 GB, even of holes, takes tens of seconds of CPU;
        // a header takes milliseconds (a debug build, a loaded machine).
        assert!(run.cpu.as_secs() < 2, "{:?} of CPU time", run.cpu);
        assert!(run.stdout.contains("tensors      100"), "{}", run.stdout);
        assert!(run.stdout.contains("100.0 GB"), "{}", run.stdout);
        let run = within(HEADER_ONLY_BOUND, 0, &["inspect", "--exact", s(path)]);
        assert!(run.stdout.contains("100000000000 bytes"), "{}", run.stdout);
        within(HEADER_ONLY_BOUND, 0, &["inspect", "--json", s(path)]);
        let run = within(HEADER_ONLY_BOUND, 0, &["verify", s(path)]);
        assert!(run.stdout.contains("100 tensors"), "{}", run.stdout);
        assert!(run.cpu.as_secs() < 2, "{:?} of CPU time", run.cpu);
        let run = within(
            HEADER_ONLY_BOUND,
            2,
            &["stats", "--tensor", "none", s(path)],
        );
        assert!(run.stderr.contains("no tensor \"none\""), "{}", run.stderr);
    }
    // merge refuses a single file before reading it.
    let out = dir.path("merged.safetensors");
    let run = within(HEADER_ONLY_BOUND, 2, &["merge", s(&file), s(&out)]);
    assert!(
        run.stderr.contains("not a sharded checkpoint"),
        "{}",
        run.stderr
    );
}

/// A file larger than the streaming bound: four F64 tensors of 1 MiB, a
/// 4 MiB F4 tensor of bytes `fill` (8 Mi values, 64 MiB as f64), and a
/// 40 MiB F64 tensor (so chunks are cut within a tensor), all zero but its
/// last value, `one`.
fn larger_than_the_bound(dir: &TempDir, name: &str, one: f64, fill: u8) -> PathBuf {
    let path = dir.path(name);
    let mut tensors: Vec<_> = (0..4)
        .map(|k| (format!("small.{k}"), Dtype::F64, vec![1 << 17]))
        .collect();
    tensors.push(("packed".to_owned(), Dtype::F4, vec![8 << 20]));
    tensors.push(("big".to_owned(), Dtype::F64, vec![5 << 20]));
    let header = sparse(&path, &tensors);
    let packed = header.get("packed").unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(
            &vec![fill; 4 << 20],
            header.data_start() + packed.data_offsets().0,
        )
        .unwrap();
    assert!(header.file_len() > STREAMING_BOUND);
    // The last value of the big tensor.
    let at = header.file_len() - 8;
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(&one.to_le_bytes(), at)
        .unwrap();
    path
}

#[test]
fn streaming_commands_stay_within_their_bound() {
    let dir = TempDir::new("scale-stream");
    // F4 0x11 is 0.5, 0.5; 0x22 is 1.0, 1.0.
    let a = larger_than_the_bound(&dir, "a.safetensors", 2.0, 0x11);
    let b = larger_than_the_bound(&dir, "b.safetensors", 3.0, 0x22);

    let run = within(STREAMING_BOUND, 0, &["stats", s(&a)]);
    assert_eq!(run.stdout.lines().count(), 7, "{}", run.stdout);
    let packed = run
        .stdout
        .lines()
        .find(|l| l.starts_with("packed "))
        .unwrap();
    let columns: Vec<&str> = packed.split_whitespace().collect();
    assert_eq!(columns[2..6], ["0.5", "0.5", "0.5", "0"], "{packed}");
    let big = run.stdout.lines().find(|l| l.starts_with("big ")).unwrap();
    // min 0, max 2, mean 2 / 5 Mi (3.8147e-7): the one value is seen.
    let columns: Vec<&str> = big.split_whitespace().collect();
    assert_eq!(columns[2..5], ["0", "2", "3.8147e-7"], "{big}");
    let run = within(STREAMING_BOUND, 0, &["stats", "--tensor", "big", s(&a)]);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);

    let run = within(STREAMING_BOUND, 0, &["verify", "--data", s(&a)]);
    assert!(
        run.stdout.contains("6 tensors, 0 NaN, 0 Inf"),
        "{}",
        run.stdout
    );

    let run = within(STREAMING_BOUND, 0, &["diff", s(&a), s(&a)]);
    assert!(run.stdout.contains("equal"), "{}", run.stdout);
    let run = within(STREAMING_BOUND, 1, &["diff", s(&a), s(&b)]);
    for expected in [
        "packed: 8388608 of 8388608 values differ beyond tolerance",
        "big: 1 of 5242880 values differ beyond tolerance",
    ] {
        assert!(run.stdout.contains(expected), "{}", run.stdout);
    }
    within(STREAMING_BOUND, 0, &["diff", "--atol", "1", s(&a), s(&b)]);
}

#[test]
fn writers_hold_one_tensor_at_a_time() {
    let dir = TempDir::new("scale-write");
    // 16 tensors of 3 MiB: 48 MiB, more than the bound.
    let input = dir.path("in.safetensors");
    let header = sparse(&input, &f32s("t", 16, 3 << 18));
    assert!(header.file_len() > STREAMING_BOUND);
    let out = dir.path("out.safetensors");
    let run = within(
        STREAMING_BOUND,
        0,
        &["rewrite", "--align", "4096", s(&input), s(&out)],
    );
    assert!(run.stdout.contains("16 after"), "{}", run.stdout);
    let shards = dir.path("shards");
    within(
        STREAMING_BOUND,
        0,
        &["shard", "--max-shard-size", "20MiB", s(&input), s(&shards)],
    );
    let merged = dir.path("merged.safetensors");
    within(STREAMING_BOUND, 0, &["merge", s(&shards), s(&merged)]);
    assert_same_bytes(&merged, &input);
}

/// Two files have the same bytes (read a chunk at a time).
fn assert_same_bytes(a: &Path, b: &Path) {
    let (mut a, mut b) = (File::open(a).unwrap(), File::open(b).unwrap());
    assert_eq!(a.metadata().unwrap().len(), b.metadata().unwrap().len());
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = a.read(&mut x).unwrap();
        b.read_exact(&mut y[..n]).unwrap();
        assert!(x[..n] == y[..n], "the files differ");
        if n == 0 {
            break;
        }
    }
}

#[test]
fn this_process_is_small_enough_to_measure_others() {
    // The high-water mark a child starts from (see the module docs).
    let run = within(16 << 20, 0, &["--version"]);
    assert!(run.stdout.starts_with("tensorsafe "), "{}", run.stdout);
}

#[test]
fn bench_holds_one_copy_of_the_data_beside_the_file() {
    let dir = TempDir::new("scale-bench");
    let input = dir.path("in.safetensors");
    let header = sparse(&input, &f32s("t", 8, 3 << 18));
    // The mapped file and one copy of its data, and a little more.
    let bound = 2 * header.file_len() + (24 << 20);
    // The reference crate's steps too, where this build has them.
    let mut args = vec!["bench", "--runs", "1"];
    if cfg!(feature = "reference") {
        args.push("--reference");
    }
    args.push(s(&input));
    let run = within(bound, 0, &args);
    assert!(run.stdout.contains("memcpy"), "{}", run.stdout);
}
