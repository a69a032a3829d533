//! How fast a checkpoint's bytes get into usable memory: every loading
//! method of this crate beside the reference crate, `std::fs::read` and the
//! machine's ceilings, measured alternately in the same run (medians and
//! ratios), on a generated checkpoint. Also the write side: writing the file
//! beside a raw write + fsync of the same bytes.
//!
//! ```text
//! cargo run --release --example load_speed -- [GIB] [RUNS] [DIR]
//! ```
//!
//! GIB (default 1) is the checkpoint's size, RUNS (default 5) the number of
//! rounds, DIR (default the system's temporary directory) where the files
//! go. The page cache is warm (each file is read once first). Prints a table,
//! then `csv,` lines and writes `load_speed.svg` (a bar chart of GB/s) into
//! DIR. `benches/python_load.sh` runs it with Python safetensors measured on
//! the same file in the same run. See BENCHMARKS.md.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tensorsafe::{
    Checkpoint, Declaration, Dtype, LoadOptions, SafeTensorsFile, TensorView, Writer,
};

const PAGE: usize = 4096;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let gib: f64 = args.next().map_or(Ok(1.0), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = dir.join(format!("tensorsafe-load-speed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(gib, runs, &dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

/// A realistic layout: transformer blocks of 16-bit projections and F32
/// norms. The projections are F16 rather than BF16 because numpy, which
/// Python safetensors loads into, has no bfloat16; the bytes are the same.
fn layout(bytes: usize) -> Vec<(String, Dtype, Vec<usize>)> {
    let hidden = 2048usize;
    let per_layer = 4 * hidden * hidden * 2 + 3 * hidden * 5504 * 2;
    let layers = (bytes / per_layer).max(1);
    let mut out = vec![("embed.weight".to_owned(), Dtype::F16, vec![1024, hidden])];
    for l in 0..layers {
        for p in ["q_proj", "k_proj", "v_proj", "o_proj"] {
            out.push((
                format!("layers.{l}.attn.{p}.weight"),
                Dtype::F16,
                vec![hidden, hidden],
            ));
        }
        for p in ["gate_proj", "up_proj"] {
            out.push((
                format!("layers.{l}.mlp.{p}.weight"),
                Dtype::F16,
                vec![5504, hidden],
            ));
        }
        out.push((
            format!("layers.{l}.mlp.down_proj.weight"),
            Dtype::F16,
            vec![hidden, 5504],
        ));
        for n in ["input_norm", "post_norm"] {
            out.push((format!("layers.{l}.{n}.weight"), Dtype::F32, vec![hidden]));
        }
    }
    out
}

/// Median of the recorded times of one method.
struct Method {
    name: &'static str,
    times: Vec<Duration>,
}

impl Method {
    /// One method per name, none timed yet.
    fn list(names: &[&'static str]) -> Vec<Method> {
        names
            .iter()
            .map(|&name| Method {
                name,
                times: vec![],
            })
            .collect()
    }

    fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t.get(t.len() / 2).copied().unwrap_or_default()
    }
}

fn time<T>(times: &mut Vec<Duration>, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    times.push(start.elapsed());
    out
}

#[path = "../benches/workload/mod.rs"]
mod workload;
use workload::load::{load_into_arena, reference_mmap_copy, touch};

/// The ceiling: positioned reads of the file's bytes into `buf`, split into
/// `threads` contiguous parts (nothing else: no parsing, no checks).
fn pread(path: &Path, buf: &mut [u8], threads: usize) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = File::open(path)?;
    let part = buf.len().div_ceil(threads).next_multiple_of(PAGE);
    std::thread::scope(|s| {
        let handles: Vec<_> = buf
            .chunks_mut(part)
            .enumerate()
            .map(|(i, chunk)| {
                let file = &file;
                s.spawn(move || file.read_exact_at(chunk, (i * part) as u64))
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("reader thread"))
    })
}

fn anon_huge(len: usize) -> memmap2::MmapMut {
    let map = memmap2::MmapMut::map_anon(len).expect("anonymous map");
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    map
}

fn run(gib: f64, runs: usize, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let target = (gib * (1u64 << 30) as f64) as usize;
    let specs = layout(target);
    let lens: Vec<usize> = specs
        .iter()
        .map(|(_, d, s)| d.shape_byte_len(s).map_or(0, |n| n as usize))
        .collect();
    let data_len: usize = lens.iter().sum();
    // One buffer of pseudo-random bytes, tensors as consecutive slices.
    let data = workload::load::pseudo_random(data_len);
    let mut views = Vec::new();
    let mut at = 0;
    for ((name, dtype, shape), len) in specs.iter().zip(&lens) {
        views.push((
            name.as_str(),
            TensorView::new(*dtype, shape, &data[at..at + len])?,
        ));
        at += len;
    }
    let path = dir.join("model.safetensors");
    let file_bytes = Writer::new().to_vec(views.iter().cloned())?;
    let file_len = file_bytes.len();
    println!(
        "checkpoint: {} tensors, {:.3} GB ({file_len} bytes), {runs} rounds, warm page cache",
        views.len(),
        file_len as f64 / 1e9
    );

    let writes = measure_writes(&views, &file_bytes, &path, &dir.join("raw.bin"), runs)?;
    drop(file_bytes);
    // The same tensors as a checkpoint of four shards.
    let ckpt = dir.join("ckpt");
    let shards = Writer::new()
        .sharded(views.iter().cloned(), &ckpt, (data_len / 4 + 1) as u64)?
        .len();
    drop(views);
    drop(data);
    let _ = std::fs::read(&path)?; // warm the page cache
    let cold = measure_cold(&path, file_len, runs)?;

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let names = [
        "tensorsafe: SafeTensorsFile::open + touch",
        "tensorsafe: open, 1 thread, + touch",
        "tensorsafe: open, no huge pages, + touch",
        "tensorsafe: load_into caller buffers (reused)",
        "tensorsafe: mmap + touch every page",
        "reference: mmap + deserialize + copy each tensor",
        "std::fs::read",
        "ceiling: pread into fresh memory, 1 thread",
        "ceiling: pread into fresh memory, all threads",
        "ceiling: pread into anon map + MADV_HUGEPAGE, all threads",
        "ceiling: pread into touched buffer, 1 thread",
        "ceiling: pread into touched buffer, all threads",
        "ceiling: memcpy from the page cache (mapped file)",
        "tensorsafe: Checkpoint::load (the same in shards) + touch",
    ];
    let mut methods = Method::list(&names);
    let mut one = LoadOptions::default();
    one.threads = 1;
    let mut flat = LoadOptions::default();
    flat.huge_pages = false;
    // The caller's arena, allocated and touched once, reused every round.
    let header = tensorsafe::Header::read_from(File::open(&path)?)?;
    // Sized like the file and used from the data section's offset, so each
    // tensor sits at the same address modulo the page size as in the file
    // (the kernel copies page-cache pages fastest that way).
    let mut arena = vec![1u8; file_len];
    let data_start = header.data_start() as usize;
    let mut touched = vec![1u8; file_len];
    let mut check = 0u64;
    for _ in 0..runs {
        let m = &mut methods;
        check += time(&mut m[0].times, || -> tensorsafe::Result<u64> {
            Ok(touch(SafeTensorsFile::open(&path)?.as_bytes()))
        })?;
        check += time(&mut m[1].times, || -> tensorsafe::Result<u64> {
            Ok(touch(SafeTensorsFile::open_with(&path, &one)?.as_bytes()))
        })?;
        check += time(&mut m[2].times, || -> tensorsafe::Result<u64> {
            Ok(touch(SafeTensorsFile::open_with(&path, &flat)?.as_bytes()))
        })?;
        time(&mut m[3].times, || {
            load_into_arena(&path, &mut arena[data_start..], &LoadOptions::default())
        })?;
        check += time(&mut m[4].times, || -> tensorsafe::Result<u64> {
            // SAFETY: the benchmark's own file; nothing writes it meanwhile.
            let file = unsafe { SafeTensorsFile::mmap(&path)? };
            Ok(touch(file.as_bytes()))
        })?;
        check += time(&mut m[5].times, || reference_mmap_copy(&path))? as u64;
        check += time(&mut m[6].times, || -> std::io::Result<u64> {
            Ok(touch(&std::fs::read(&path)?))
        })?;
        for (k, n) in [(7, 1), (8, threads)] {
            check += time(&mut m[k].times, || -> std::io::Result<u64> {
                let mut fresh = vec![0u8; file_len];
                pread(&path, &mut fresh, n)?;
                Ok(touch(&fresh))
            })?;
        }
        check += time(&mut m[9].times, || -> std::io::Result<u64> {
            let mut map = anon_huge(file_len);
            pread(&path, &mut map, threads)?;
            Ok(touch(&map))
        })?;
        for (k, n) in [(10, 1), (11, threads)] {
            time(&mut m[k].times, || pread(&path, &mut touched, n))?;
        }
        time(&mut m[12].times, || -> std::io::Result<()> {
            let file = File::open(&path)?;
            // SAFETY: as above.
            let map = unsafe { memmap2::Mmap::map(&file)? };
            touched.copy_from_slice(&map);
            Ok(())
        })?;
        check += time(&mut m[13].times, || -> tensorsafe::Result<u64> {
            let checkpoint = Checkpoint::load(&ckpt, &LoadOptions::default(), |_, _| {})?;
            let files = (0..shards).map(|i| checkpoint.shard(i).map(|f| touch(f.as_bytes())));
            files.sum()
        })?;
    }
    check += touch(&arena) + touch(&touched);

    let gbps = |d: Duration| file_len as f64 / d.as_secs_f64() / 1e9;
    let python = python_median_ms(&path, runs)?;
    let reference = methods[5].median();
    let mut rows: Vec<(String, Duration)> = methods
        .iter()
        .map(|m| (m.name.to_owned(), m.median()))
        .collect();
    if let Some(ms) = python {
        rows.push((
            "python safetensors.numpy.load_file (same file)".into(),
            Duration::from_secs_f64(ms / 1e3),
        ));
    }
    println!(
        "{:<58} {:>10} {:>8} {:>10}",
        "method (median)", "ms", "GB/s", "vs ref"
    );
    for (name, d) in &rows {
        let ratio = reference.as_secs_f64() / d.as_secs_f64();
        println!(
            "{name:<58} {:>10.1} {:>8.2} {:>9.2}x",
            d.as_secs_f64() * 1e3,
            gbps(*d),
            ratio
        );
    }
    for m in cold.iter().chain(&writes) {
        let d = m.median();
        // Disk times vary widely on shared machines: show the spread too.
        let ms: Vec<u64> = m.times.iter().map(|t| t.as_millis() as u64).collect();
        println!(
            "{:<58} {:>10.1} {:>8.2}   runs (ms): {ms:?}",
            m.name,
            d.as_secs_f64() * 1e3,
            gbps(d)
        );
    }
    // (what, ours, the figure it is compared with), all medians of this run.
    let med = |i: usize| methods[i].median();
    let mut ratios = vec![("open vs reference mmap+copy", med(0), reference)];
    if let Some(ms) = python {
        let python = Duration::from_secs_f64(ms / 1e3);
        ratios.push(("open vs python load_file", med(0), python));
    }
    ratios.extend([
        ("open vs fresh-memory ceiling, all threads", med(0), med(8)),
        (
            "open, 1 thread vs fresh-memory ceiling, 1 thread",
            med(1),
            med(7),
        ),
        ("open vs huge-page ceiling", med(0), med(9)),
        (
            "load_into vs touched-buffer ceiling, all threads",
            med(3),
            med(11),
        ),
    ]);
    ratios.push((
        "Checkpoint::load vs reference mmap+copy",
        med(13),
        reference,
    ));
    if let [direct, cached, read] = &cold[..] {
        ratios.push((
            "cold: O_DIRECT vs through the page cache",
            direct.median(),
            cached.median(),
        ));
        ratios.push((
            "cold: O_DIRECT vs std::fs::read",
            direct.median(),
            read.median(),
        ));
    }
    let raw_write = writes[0].median();
    for (what, m) in [
        "Writer::to_file vs raw write + fsync",
        "StreamWriter (stream_to_file) vs raw write + fsync",
        "rewrite (mapped source, to_file) vs raw write + fsync",
    ]
    .into_iter()
    .zip(&writes[1..])
    {
        ratios.push((what, m.median(), raw_write));
    }
    println!("ratios (medians, same run, {threads} threads):");
    for (what, ours, other) in ratios {
        println!("  {what}: {:.2}x", other.as_secs_f64() / ours.as_secs_f64());
    }
    println!("(checksum {check:x})");
    let write_rows: Vec<(String, Duration)> = cold
        .iter()
        .chain(&writes)
        .map(|m| (m.name.to_owned(), m.median()))
        .collect();
    for (name, d) in rows.iter().chain(&write_rows) {
        println!("csv,{name},{:.3},{:.3}", d.as_secs_f64() * 1e3, gbps(*d));
    }
    let svg = chart(
        &rows
            .iter()
            .map(|(n, d)| (n.as_str(), gbps(*d)))
            .collect::<Vec<_>>(),
    );
    let svg_path = dir.parent().unwrap_or(dir).join("load_speed.svg");
    std::fs::write(&svg_path, svg)?;
    println!("chart: {}", svg_path.display());
    Ok(())
}

/// Writes the checkpoint every way this crate can, beside a raw write +
/// fsync of the same bytes (creating or truncating a file, like `dd
/// conv=fsync`). Each round runs them all, starting one later each round
/// so no method always follows the same one, from a clean page cache.
fn measure_writes(
    views: &[(&str, TensorView<'_>)],
    file_bytes: &[u8],
    path: &Path,
    raw_path: &Path,
    runs: usize,
) -> Result<Vec<Method>, Box<dyn std::error::Error>> {
    let names = [
        "write: raw write + fsync (ceiling)",
        "write: Writer::to_file (atomic, fsync)",
        "write: StreamWriter, 4 MiB chunks (atomic, fsync)",
        "write: rewrite (mapped source, Writer::to_file)",
    ];
    let mut methods = Method::list(&names);
    let source = path.with_extension("source");
    std::fs::write(&source, file_bytes)?;
    let declarations: Vec<Declaration> = views
        .iter()
        .map(|(n, v)| Declaration::new(*n, v.dtype(), v.shape()))
        .collect();
    for round in 0..runs.max(3) {
        for k in 0..names.len() {
            let which = (round + k) % names.len();
            // Dirty pages left by the previous write would throttle the
            // next one: start each from a clean page cache.
            settle();
            let times = &mut methods[which].times;
            match which {
                0 => time(times, || -> std::io::Result<()> {
                    let mut f = File::create(raw_path)?;
                    f.write_all(file_bytes)?;
                    f.sync_all()
                })?,
                1 => time(times, || Writer::new().to_file(views.iter().cloned(), path))?,
                2 => time(times, || -> tensorsafe::Result<()> {
                    let mut out = Writer::new().stream_to_file(path, declarations.clone())?;
                    for (name, view) in views {
                        for chunk in view.data().chunks(4 << 20) {
                            out.write(name, chunk)?;
                        }
                    }
                    out.finish()?.commit()
                })?,
                _ => time(times, || -> tensorsafe::Result<()> {
                    // SAFETY: the benchmark's own file; nothing writes it meanwhile.
                    let file = unsafe { SafeTensorsFile::mmap(&source)? };
                    let st = file.reader();
                    Writer::new()
                        .metadata(st.metadata())
                        .to_file(st.iter(), path)
                })?,
            }
        }
    }
    std::fs::remove_file(raw_path)?;
    std::fs::remove_file(&source)?;
    Ok(methods)
}

/// Drops the page cache (Linux, as root), or says why it cannot.
fn drop_caches() -> std::io::Result<()> {
    settle();
    std::fs::write("/proc/sys/vm/drop_caches", "3")
}

/// The page cache's size in bytes (Linux), from `/proc/meminfo`.
fn page_cache_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("Cached:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// With `LOAD_SPEED_COLD=1` and the right to drop the page cache (Linux,
/// root), loads from a cold cache: `load_into` with `O_DIRECT` beside the
/// same through the page cache and `std::fs::read`, each after dropping
/// the cache, printing how much each left in the page cache.
fn measure_cold(
    path: &Path,
    file_len: usize,
    runs: usize,
) -> Result<Vec<Method>, Box<dyn std::error::Error>> {
    if std::env::var_os("LOAD_SPEED_COLD").is_none() {
        return Ok(vec![]);
    }
    if let Err(e) = drop_caches() {
        println!("cold loads skipped: cannot drop the page cache ({e})");
        return Ok(vec![]);
    }
    let names = [
        "cold: load_into caller buffers, O_DIRECT",
        "cold: load_into caller buffers, page cache",
        "cold: std::fs::read",
    ];
    let mut methods = Method::list(&names);
    let mut cached = [0u64; 3];
    let header = tensorsafe::Header::read_from(File::open(path)?)?;
    let mut arena = vec![1u8; file_len];
    let data_start = header.data_start() as usize;
    let mut direct = LoadOptions::default();
    direct.direct = true;
    for round in 0..runs {
        for k in 0..names.len() {
            let which = (round + k) % names.len();
            drop_caches()?;
            let before = page_cache_bytes().unwrap_or(0);
            let times = &mut methods[which].times;
            match which {
                0 => drop(time(times, || {
                    load_into_arena(path, &mut arena[data_start..], &direct)
                })?),
                1 => drop(time(times, || {
                    load_into_arena(path, &mut arena[data_start..], &LoadOptions::default())
                })?),
                _ => drop(time(times, || std::fs::read(path))?),
            }
            cached[which] = page_cache_bytes().unwrap_or(0).saturating_sub(before);
        }
    }
    for (name, grew) in names.iter().zip(cached) {
        println!("{name}: page cache grew by {:.0} MB", grew as f64 / 1e6);
    }
    let _ = std::fs::read(path)?; // warm again for what follows
    Ok(methods)
}

/// With `LOAD_SPEED_PYTHON` set to a Python that has safetensors and numpy
/// (`benches/python_load.sh` sets it), the median of `load_file` on the
/// same file, in milliseconds.
fn python_median_ms(path: &Path, runs: usize) -> Result<Option<f64>, Box<dyn std::error::Error>> {
    let Ok(python) = std::env::var("LOAD_SPEED_PYTHON") else {
        return Ok(None);
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python_load.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(path)
        .arg(runs.to_string())
        .output()?;
    if !out.status.success() {
        return Err(format!("python: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(Some(String::from_utf8(out.stdout)?.trim().parse()?))
}

/// Flushes every dirty page of the system (`sync`), where the command exists.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

/// A horizontal bar chart of GB/s per method, as SVG text.
fn chart(rows: &[(&str, f64)]) -> String {
    let max = rows.iter().map(|r| r.1).fold(1.0, f64::max);
    let (left, width, bar) = (430.0, 360.0, 22.0);
    let height = 40.0 + bar * rows.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<text x=\"10\" y=\"18\" font-weight=\"bold\">Load throughput, GB/s (median, warm page cache)</text>\n",
        left + width + 60.0
    );
    for (i, (name, value)) in rows.iter().enumerate() {
        let y = 30.0 + bar * i as f64;
        let w = width * value / max;
        let colour = if name.starts_with("tensorsafe") {
            "#2a7"
        } else if name.starts_with("ceiling") {
            "#bbb"
        } else {
            "#58c"
        };
        let name = name.replace('&', "&amp;").replace('<', "&lt;");
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{name}</text><rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{value:.2}</text>\n",
            left - 6.0, y + 15.0, bar - 4.0, left + w + 4.0, y + 15.0
        ));
    }
    svg.push_str("</svg>\n");
    svg
}
