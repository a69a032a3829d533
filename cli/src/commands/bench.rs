//! `tensorsafe bench`: how fast a file loads every way this crate offers
//! (read into memory, into a caller's buffer, mapped), beside
//! `std::fs::read`, a plain memcpy of the same bytes and optionally the
//! reference crate, measured in the same run; with `--write-to PATH`, how
//! fast it is written there (from memory, and copied from the file as
//! `rewrite` does), beside a raw write + fsync and a copy + fsync of the
//! same bytes.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use tensorsafe::{FileView, LoadOptions, SafeTensorsFile, Writer};

use crate::source::{locate, Target};
use crate::{human, progress, Failure};

/// Folds every byte, so each page is really read.
fn touch(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut acc = 0u64;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        acc = acc.wrapping_add(u64::from_le_bytes(word));
    }
    chunks
        .remainder()
        .iter()
        .fold(acc, |a, &b| a.wrapping_add(u64::from(b)))
}

struct Step {
    name: &'static str,
    times: Vec<Duration>,
    bytes: u64,
}

impl Step {
    fn new(name: &'static str, bytes: u64) -> Self {
        Step {
            name,
            times: Vec::new(),
            bytes,
        }
    }

    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = black_box(f());
        self.times.push(start.elapsed());
        out
    }

    fn print(&mut self) {
        self.times.sort();
        let median = self
            .times
            .get(self.times.len() / 2)
            .copied()
            .unwrap_or_default();
        let rate = if self.bytes > 0 && median > Duration::ZERO {
            format!(
                "{:>9.2} GB/s",
                self.bytes as f64 / median.as_secs_f64() / 1e9
            )
        } else {
            String::new()
        };
        outln!("  {:<34} {:>12.3?} {rate}", self.name, median);
    }
}

/// Reads one byte per 4 KiB page, so lazily allocated memory is really there.
fn touch_pages(bytes: &[u8]) -> u64 {
    bytes.iter().step_by(4096).map(|&b| u64::from(b)).sum()
}

/// Every tensor into consecutive slices of `arena` (the data section's
/// length), as a framework loading into its own storage would.
fn load_into_arena(path: &Path, arena: &mut [u8]) -> Result<(), Failure> {
    let mut rest = arena;
    tensorsafe::load_into(
        path,
        &LoadOptions::default(),
        |t| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(t.byte_len() as usize);
            rest = tail;
            Some(head)
        },
        |_, _| {},
    )
    .map(|_| ())
    .map_err(|e| Failure::from_error(path, &e))
}

/// The reference crate's parse, walk and copy of the same mapped bytes.
#[cfg(feature = "reference")]
fn time_reference(
    path: &Path,
    bytes: &[u8],
    [open, walk, copy]: [&mut Step; 3],
) -> Result<u64, Failure> {
    let st = open
        .time(|| safetensors::SafeTensors::deserialize(bytes))
        .map_err(|e| Failure::invalid(path, "Reference", &e.to_string()))?;
    let mut checksum = walk.time(|| {
        st.iter()
            .fold(0u64, |acc, (_, v)| acc.wrapping_add(touch(v.data())))
    });
    let owned: Vec<Vec<u8>> = copy.time(|| st.iter().map(|(_, v)| v.data().to_vec()).collect());
    checksum = checksum.wrapping_add(owned.len() as u64);
    Ok(checksum)
}

/// Reads `path` into memory, as `SafeTensorsFile::open` does.
fn open_file(path: &Path) -> Result<SafeTensorsFile, Failure> {
    SafeTensorsFile::open(path).map_err(|e| Failure::from_error(path, &e))
}

/// Maps `path`; the bench reads files nothing else is writing.
fn map(path: &Path) -> Result<SafeTensorsFile, Failure> {
    // SAFETY: `tensorsafe bench` documents that the file must not be modified
    // while it runs; it only reads the map.
    unsafe { SafeTensorsFile::mmap(path) }.map_err(|e| Failure::from_error(path, &e))
}

/// A buffer of `len` bytes with every page touched, so that the step
/// timed with it does not also time the first touch of fresh memory.
fn touched(len: usize) -> Vec<u8> {
    vec![1u8; len]
}

/// Without the `reference` feature, the reference crate is not in this
/// build: `--reference` says how to get one that has it.
#[cfg(not(feature = "reference"))]
fn time_reference(_: &Path, _: &[u8], _: [&mut Step; 3]) -> Result<u64, Failure> {
    Err(no_reference())
}

#[cfg(not(feature = "reference"))]
fn no_reference() -> Failure {
    Failure::usage(
        "--reference: this tensorsafe was built without the reference safetensors crate; \
         rebuild with `--features reference` (cargo install tensorsafe-cli --features reference)"
            .to_owned(),
    )
}

/// `--write-to`: a path that names nothing yet (it is written, replaced and
/// removed by the benchmark, so an existing file, the input above all, is
/// never touched), in a directory that exists.
fn check_write_to(out: &Path) -> Result<(), Failure> {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(Failure::usage(format!(
            "--write-to {}: exists; name a new file (the benchmark writes it and removes it)",
            out.display()
        )));
    }
    Ok(())
}

/// The write steps: the file written to `out` from memory (its tensors as
/// views of the map) and copied from the file (`FileView`s, as `rewrite`
/// does), each through `Writer::to_file`, beside a raw `write_all` +
/// `fsync` of the same bytes and `std::fs::copy` + `fsync` of the file,
/// each replacing what the step before left at `out`.
struct Writes {
    raw: Step,
    to_file: Step,
    copy: Step,
    rewrite: Step,
}

impl Writes {
    fn new(bytes: u64) -> Self {
        Writes {
            raw: Step::new("write: raw write_all + fsync", bytes),
            to_file: Step::new("write: Writer::to_file from memory", bytes),
            copy: Step::new("write: std::fs::copy + fsync", bytes),
            rewrite: Step::new("write: rewrite, copied from file", bytes),
        }
    }

    fn run(&mut self, path: &Path, file: &SafeTensorsFile, out: &Path) -> Result<(), Failure> {
        let written = |e: std::io::Error| Failure::unwritable(out, &e.to_string());
        self.raw
            .time(|| -> std::io::Result<()> {
                use std::io::Write;
                let mut f = std::fs::File::create(out)?;
                f.write_all(file.as_bytes())?;
                f.sync_all()
            })
            .map_err(written)?;
        self.to_file
            .time(|| {
                Writer::new()
                    .metadata(file.metadata())
                    .to_file(file.iter(), out)
            })
            .map_err(|e| Failure::from_write_error(out, &e))?;
        self.copy
            .time(|| -> std::io::Result<()> {
                std::fs::copy(path, out)?;
                std::fs::File::options().write(true).open(out)?.sync_all()
            })
            .map_err(written)?;
        let source =
            std::fs::File::open(path).map_err(|e| Failure::unreadable(path, &e.to_string()))?;
        let header = file.header();
        self.rewrite
            .time(|| -> tensorsafe::Result<()> {
                let tensors = header
                    .iter()
                    .map(|info| Ok((info.name(), FileView::of(&source, header, &info)?)))
                    .collect::<tensorsafe::Result<Vec<_>>>()?;
                Writer::new()
                    .metadata(header.metadata())
                    .to_file(tensors, out)
            })
            .map_err(|e| Failure::from_write_error(out, &e))?;
        Ok(())
    }

    fn print(&mut self) {
        for step in [
            &mut self.raw,
            &mut self.to_file,
            &mut self.copy,
            &mut self.rewrite,
        ] {
            step.print();
        }
        // Medians (sorted by `print`): the reference's time over ours.
        let median = |step: &Step| step.times.get(step.times.len() / 2).copied();
        let ratio = |ours: &Step, theirs: &Step| match (median(ours), median(theirs)) {
            (Some(a), Some(b)) if a > Duration::ZERO => {
                format!("{:.2}x", b.as_secs_f64() / a.as_secs_f64())
            }
            _ => "-".to_owned(),
        };
        outln!(
            "  write speed (same run): to_file {} the raw write's, rewrite {} the copy's",
            ratio(&self.to_file, &self.raw),
            ratio(&self.rewrite, &self.copy)
        );
    }
}

pub fn bench(
    path: &Path,
    runs: usize,
    reference: bool,
    write_to: Option<&Path>,
) -> Result<u8, Failure> {
    #[cfg(not(feature = "reference"))]
    if reference {
        return Err(no_reference());
    }
    let path = match locate(path)? {
        Target::File(file) => file,
        Target::Checkpoint => {
            return Err(Failure::usage(format!(
                "{}: a sharded checkpoint; bench takes one file (one shard, or the \
                 checkpoint joined with `tensorsafe merge`)",
                path.display()
            )))
        }
    };
    let path = path.as_path();
    if let Some(out) = write_to {
        check_write_to(out)?;
    }
    let runs = runs.max(1);
    let probe = map(path)?;
    let data_len = probe.header().data_len();
    let file_len = probe.header().file_len();
    drop(probe);
    let mut read = Step::new("open: read into memory + touch", file_len);
    let mut into = Step::new("load_into one reused buffer", data_len);
    let mut std_read = Step::new("std::fs::read", file_len);
    let mut open = Step::new("open + parse (mmap)", 0);
    let mut walk = Step::new("zero-copy walk of every tensor", data_len);
    let mut copy = Step::new("copy every tensor to owned memory", data_len);
    let mut memcpy = Step::new("memcpy of the same bytes (ceiling)", data_len);
    let mut ref_open = Step::new("reference: parse (same map)", 0);
    let mut ref_walk = Step::new("reference: zero-copy walk", data_len);
    let mut ref_copy = Step::new("reference: copy to owned memory", data_len);
    let mut writes = Writes::new(file_len);
    let arena_len = usize::try_from(data_len)
        .map_err(|_| Failure::usage(format!("{}: too large for this machine", path.display())))?;
    let bar = progress::runs(runs as u64, "benchmarking");
    let mut checksum = 0u64;
    // Each step allocates what it measures and frees it before the next,
    // so the peak is one copy of the data beside the (mapped) file.
    for _ in 0..runs {
        let owned =
            read.time(|| -> Result<u64, Failure> { Ok(touch_pages(open_file(path)?.as_bytes())) })?;
        checksum = checksum.wrapping_add(owned);
        let mut arena = touched(arena_len);
        into.time(|| load_into_arena(path, &mut arena))?;
        drop(arena);
        let bytes = std_read
            .time(|| std::fs::read(path))
            .map_err(|e| Failure::unreadable(path, &e.to_string()))?;
        checksum = checksum.wrapping_add(bytes.len() as u64);
        drop(bytes);
        let file = open.time(|| map(path))?;
        checksum = checksum.wrapping_add(walk.time(|| {
            file.iter()
                .fold(0u64, |acc, (_, v)| acc.wrapping_add(touch(v.data())))
        }));
        let owned: Vec<Vec<u8>> =
            copy.time(|| file.iter().map(|(_, v)| v.data().to_vec()).collect());
        checksum = checksum.wrapping_add(owned.len() as u64);
        drop(owned);
        let start = usize::try_from(file.header().data_start()).unwrap_or(0);
        let source = file.as_bytes().get(start..).unwrap_or_default();
        let mut target = touched(arena_len);
        memcpy.time(|| target.copy_from_slice(source.get(..arena_len).unwrap_or_default()));
        drop(target);
        if reference {
            checksum = checksum.wrapping_add(time_reference(
                path,
                file.as_bytes(),
                [&mut ref_open, &mut ref_walk, &mut ref_copy],
            )?);
        }
        if let Some(out) = write_to {
            let result = writes.run(path, &file, out);
            if result.is_err() {
                let _ = std::fs::remove_file(out);
            }
            result?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    outln!(
        "{}: {} ({file_len} bytes), {} of tensors, median of {} (checksum {checksum:x})",
        path.display(),
        human::bytes(file_len),
        human::bytes(data_len),
        human::plural(runs as u64, "run")
    );
    for step in [
        &mut read,
        &mut into,
        &mut std_read,
        &mut open,
        &mut walk,
        &mut copy,
        &mut memcpy,
    ] {
        step.print();
    }
    if reference {
        for step in [&mut ref_open, &mut ref_walk, &mut ref_copy] {
            step.print();
        }
    }
    if let Some(out) = write_to {
        writes.print();
        std::fs::remove_file(out).map_err(|e| Failure::unwritable(out, &e.to_string()))?;
    }
    Ok(0)
}
