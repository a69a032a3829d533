//! `tensorsafe`: inspect, verify, rewrite, diff and summarise safetensors
//! files and sharded checkpoints.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[macro_use]
mod output;

mod chunks;
mod commands;
mod human;
mod lazy;
mod progress;
#[cfg(feature = "remote")]
mod remote;
mod source;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
pub struct Failure {
    /// 1: a file is invalid; 2: usage error, unreadable input or a failed
    /// write.
    pub code: u8,
    /// What to print on stderr, one line each.
    pub lines: Vec<String>,
}

impl Failure {
    /// A usage error, or trouble not about a file's content (exit code 2).
    pub fn usage(message: String) -> Self {
        Failure {
            code: 2,
            lines: vec![message],
        }
    }

    /// A file that cannot be read (exit code 2).
    pub fn unreadable(path: &Path, why: &str) -> Self {
        Failure {
            code: 2,
            lines: vec![format!("{}: cannot read: {why}", path.display())],
        }
    }

    /// A file that cannot be written (exit code 2).
    pub fn unwritable(path: &Path, why: &str) -> Self {
        Failure {
            code: 2,
            lines: vec![format!("{}: cannot write: {why}", path.display())],
        }
    }

    /// A file that breaks `rule` (exit code 1).
    pub fn invalid(path: &Path, rule: &str, why: &str) -> Self {
        Failure {
            code: 1,
            lines: vec![format!("{}: {rule}: {why}", path.display())],
        }
    }

    /// Several failures at once: every line, and the worst exit code.
    pub fn all(failures: Vec<Failure>) -> Self {
        Failure {
            code: failures.iter().map(|f| f.code).max().unwrap_or(2),
            lines: failures.into_iter().flat_map(|f| f.lines).collect(),
        }
    }

    /// A library error met while reading: I/O problems are "cannot read",
    /// the rest name the rule. The line starts with the file the error
    /// names (a shard, say), or else with `path`.
    pub fn from_error(path: &Path, error: &tensorsafe::Error) -> Self {
        Failure::from_error_at(error.path().unwrap_or(path), error)
    }

    /// A library error about `file`, met while reading it.
    pub fn from_error_at(file: &Path, error: &tensorsafe::Error) -> Self {
        // A path that names no checkpoint: the caller passed the wrong one.
        if error.kind() == tensorsafe::ErrorKind::NotACheckpoint {
            let what = error
                .detail()
                .map_or_else(|| describe(error), human::escape);
            return Failure::usage(format!("{}: {what}", file.display()));
        }
        if error.kind() == tensorsafe::ErrorKind::Io {
            Failure::unreadable(file, &describe(error))
        } else {
            Failure::invalid(file, &format!("{:?}", error.kind()), &describe(error))
        }
    }

    /// A library error met while writing `path` (a file, or a checkpoint's
    /// directory): I/O problems are "cannot write", the rest name the rule.
    /// Either way it is trouble (exit code 2), not an invalid input.
    pub fn from_write_error(path: &Path, error: &tensorsafe::Error) -> Self {
        let file = error.path().unwrap_or(path);
        if error.kind() == tensorsafe::ErrorKind::Io {
            // "cannot write" says it already; a later step (syncing,
            // renaming) is named.
            let why = describe(error);
            Failure::unwritable(file, why.strip_prefix("writing: ").unwrap_or(&why))
        } else {
            Failure {
                code: 2,
                ..Failure::invalid(file, &format!("{:?}", error.kind()), &describe(error))
            }
        }
    }
}

/// What went wrong, for a line that already starts with the file's path:
/// the error's text without its path (so the path is said once), and
/// without "I/O error" before the system's own message.
pub fn describe(error: &tensorsafe::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let io = error.io_error().map(ToString::to_string);
    if error.kind() != tensorsafe::ErrorKind::Io || (io.is_none() && error.detail().is_none()) {
        parts.push(error.kind().to_string());
    }
    parts.extend(error.detail().map(str::to_owned));
    // Some details already end with the system's message.
    parts.extend(io.filter(|io| !error.detail().is_some_and(|d| d.ends_with(io.as_str()))));
    let mut text = parts.join(": ");
    let mut place: Vec<String> = Vec::new();
    place.extend(error.tensor().map(|t| format!("tensor {t:?}")));
    place.extend(error.offset().map(|o| format!("at byte {o}")));
    if !place.is_empty() {
        text = format!("{text} ({})", place.join(", "));
    }
    // One line, whatever the operating system or a file name put in it.
    human::escape(&text)
}

#[derive(Parser)]
#[command(
    name = "tensorsafe",
    version,
    about = "Inspect, verify, rewrite, diff and summarise safetensors files",
    after_help = "Exit status, the same for every command:\n  \
                  0  done: the files are valid (verify), equal (diff), listed or written\n  \
                  1  the answer is no: a file breaks the format (every command but diff), \
                  or the inputs differ (diff)\n  \
                  2  trouble: a usage error, a file that cannot be read or written, or an \
                  input diff cannot compare (unreadable or invalid: no comparison happened)\n\n\
                  Errors are printed on stderr as `PATH: what happened`. When the reader of \
                  the output goes away (`tensorsafe stats x | head`), a command ends quietly \
                  with exit code 141, as a program ended by SIGPIPE does.\n\n\
                  Sizes are printed in decimal units (1 kB = 1000 bytes), the units \
                  --max-shard-size reads; counts of parameters as 147.9M (K, M, B, T: \
                  thousands, millions, billions, trillions). `inspect --json` and \
                  `inspect --exact` give exact numbers."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the tensors of a file or sharded checkpoint, with totals and metadata.
    ///
    /// Reads headers and the index only (8 + N bytes a file), whatever the
    /// size of the model.
    ///
    /// The table's columns: the tensor's name, dtype and shape; its
    /// parameters (elements) and bytes; offset, where its data starts in
    /// the file (from the file's first byte, header included); and align,
    /// the largest power of two (up to 1 MiB) dividing that offset: the
    /// alignment the tensor has in a memory map of the file. A tensor can
    /// be used in place from a map only if align is at least its element
    /// size (8 for F64); `rewrite --align N` makes it at least N.
    Inspect {
        /// A .safetensors file, a *.index.json, or a directory holding either;
        /// or the URL of a file or index in an object store (s3://, s3a://,
        /// gs://, az://, adl://, azure://, abfs(s)://, http(s)://,
        /// memory://), whose headers are read with ranged requests; or a
        /// checkpoint on the Hugging Face Hub,
        /// hf://[datasets/]ORG/NAME[@REVISION][/PATH] (HF_ENDPOINT,
        /// HF_TOKEN, HF_HUB_CACHE and HF_HUB_OFFLINE as huggingface_hub
        /// reads them; the local Hub cache is read first).
        path: PathBuf,
        /// Print one JSON object, the same shape for a file and a
        /// checkpoint: {"path": the file or index opened, "total_size": the
        /// index's metadata.total_size (null if it has none; for a file,
        /// its tensor bytes), "weight_map": {tensor: file} sorted by tensor,
        /// "files": [{"file": name, "size": bytes, "header": the header's
        /// entries, "__metadata__" first and then the tensors in data-offset
        /// order}] in the index's order}. For hf:// also "hub":
        /// {"address", "repo_id", "repo_type", "revision", "commit",
        /// "checkpoint": the file found, "shards", "parameters": {dtype:
        /// count}, "total_parameters", "size": bytes of all files, "cached":
        /// every file was in the local Hub cache, "requests": {"hub", "cdn",
        /// "retries", "bytes", "cache_reads"}}.
        #[arg(long, verbatim_doc_comment)]
        json: bool,
        /// Print exact numbers of parameters and bytes (124439808,
        /// 497758208 bytes) instead of 124.4M and 497.8 MB. (--json is
        /// always exact: with it, this changes nothing.)
        #[arg(long)]
        exact: bool,
    },
    /// Validate files fully; exit 0 if all are valid, 1 if any is not, 2 if one cannot be read.
    ///
    /// Without --data, reads headers and the index only (8 + N bytes a
    /// file, and its length): tensor bytes cannot be invalid. --data reads
    /// every tensor, a chunk at a time.
    ///
    /// With --deny-nonfinite, a NaN or Inf value in a float tensor makes its
    /// file invalid (exit 1), for checkpoints that must hold only finite
    /// numbers.
    Verify {
        /// Files, index files or directories; or URLs of files or indexes in
        /// an object store, or hf:// checkpoints on the Hugging Face Hub
        /// (headers, sizes and the index checked; with --data, the float
        /// tensors fetched).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also read every byte and count NaN and Inf values in float
        /// tensors (reported, not an error unless --deny-nonfinite).
        #[arg(long)]
        data: bool,
        /// Treat any NaN or Inf value in a float tensor as invalid: exit 1
        /// (implies --data).
        #[arg(long)]
        deny_nonfinite: bool,
    },
    /// Write INPUT to OUTPUT atomically, in the reference layout or aligned.
    Rewrite {
        /// A .safetensors file (or a directory holding one), or the URL of
        /// one, as inspect takes (s3://..., hf://ORG/NAME), each tensor
        /// fetched when it is written.
        input: PathBuf,
        /// The file to write; it may be INPUT.
        output: PathBuf,
        /// Align the data section and tensors to N bytes (a power of two up to 1 MiB).
        #[arg(long, value_name = "N", value_parser = commands::align_arg)]
        align: Option<u64>,
    },
    /// Compare two files or checkpoints; exit 0 if equal within tolerance, 1 if not, 2 if an input cannot be read or is invalid.
    ///
    /// Float values p (in A) and q (in B) are equal when
    /// |p - q| <= atol + rtol * max(|p|, |q|): symmetric, so swapping A and
    /// B gives the same answer (numpy's isclose scales by |q| only). NaN
    /// equals NaN; an infinity equals only the same infinity. Bytes that
    /// differ for equal values (-0.0 and 0.0, NaN payloads) are reported,
    /// not counted as a difference. Tensors are read a chunk at a time.
    /// Metadata is compared key by key (only in A, only in B, other
    /// values); no metadata and an empty one hold the same entries.
    Diff {
        /// A .safetensors file, a *.index.json, or a directory holding
        /// either; or a URL, as inspect takes (s3://..., hf://ORG/NAME),
        /// read 16 MiB at a time.
        a: PathBuf,
        /// The same kinds of path as A; a file and a checkpoint compare by
        /// tensor name, a local file with a URL.
        b: PathBuf,
        /// Absolute tolerance for float tensors (finite, at least 0).
        #[arg(long, default_value_t = 0.0, value_parser = commands::tolerance)]
        atol: f64,
        /// Relative tolerance for float tensors (finite, at least 0), relative
        /// to the larger magnitude of the two values.
        #[arg(long, default_value_t = 0.0, value_parser = commands::tolerance)]
        rtol: f64,
    },
    /// Split a file into Hugging Face shards plus model.safetensors.index.json.
    ///
    /// INPUT is one file (or a directory holding one); to shard a sharded
    /// checkpoint again, merge it into one file first.
    Shard {
        /// A .safetensors file (or a directory holding one), or the URL of
        /// one, as inspect takes, each tensor fetched when it is written.
        input: PathBuf,
        /// Where to write the shards and the index (created if missing; a
        /// checkpoint already there is replaced).
        out_dir: PathBuf,
        /// Largest shard file, header included: 5GB, 500MB, 1.5GB.
        ///
        /// It counts the whole file, its header as well as its tensors, so
        /// every file fits a limit of this size (an upload limit, say). A
        /// tensor that does not fit under the limit beside its own header
        /// gets a file of its own, larger than the limit, and a line on
        /// stderr says so in bytes. (transformers' max_shard_size counts
        /// tensor bytes only.)
        ///
        /// Units: B (or none), kB, MB, GB, TB, PB, EB are decimal, as sizes
        /// are printed; KiB, MiB, GiB, TiB, PiB, EiB are binary. Letters
        /// are read in any case, and b is bytes, never bits (5mb is 5 MB).
        /// Read exactly: a fraction must come to whole bytes; the largest
        /// size is 18446744073709551615 bytes.
        #[arg(long, value_name = "SIZE")]
        max_shard_size: String,
    },
    /// Join a sharded checkpoint (its index or directory) into one file.
    Merge {
        /// A *.index.json, or the directory holding it; or the URL of an
        /// index, or an hf:// checkpoint, each tensor fetched when it is
        /// written.
        input: PathBuf,
        /// The file to write.
        output: PathBuf,
    },
    /// Time loading a file every way (read, into a buffer, mapped), beside std::fs::read and a memcpy.
    ///
    /// With --write-to PATH, also time writing it to PATH (from memory, and
    /// copied from the file as rewrite does) beside a raw write + fsync and
    /// a copy + fsync of the same bytes.
    ///
    /// The file is memory-mapped: do not modify it while the benchmark runs.
    Bench {
        /// A .safetensors file (or a directory holding one).
        path: PathBuf,
        /// Number of runs; medians are reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Also time the same steps through the reference safetensors crate
        /// (only in a build with the `reference` feature; otherwise an
        /// error says how to rebuild, exit code 2).
        #[arg(long)]
        reference: bool,
        /// Also time writes of the file to PATH, a new file in a directory
        /// that exists (on the disk or tmpfs to measure). PATH must not
        /// exist; it is written and replaced every run, then removed.
        #[arg(long, value_name = "PATH")]
        write_to: Option<PathBuf>,
    },
    /// Per-tensor min, max, mean, std and NaN/Inf counts.
    ///
    /// min, max, mean and std are over the finite values; a line after the
    /// table says how many NaN and Inf values they leave out. min and max
    /// of integer tensors print as integers (exactly up to 2^53; beyond,
    /// as the approximations they are, 9.22337e18); other numbers with six
    /// significant digits, in fixed notation from 0.0001 to 999999
    /// (0.0123457, -1.5, 42) and scientific notation outside it (1.5e-7,
    /// 1.23457e6). Each column is as wide as its widest value; names are
    /// printed with control characters escaped (\n, \t, \u{1b}).
    ///
    /// Tensors are read a chunk at a time (with --tensor, only that one), so
    /// memory does not grow with the model.
    Stats {
        /// A .safetensors file, a *.index.json, or a directory holding
        /// either; or a URL, as inspect takes (s3://..., hf://ORG/NAME),
        /// read 16 MiB at a time (with --tensor, only that tensor's bytes).
        path: PathBuf,
        /// Only this tensor.
        #[arg(long, value_name = "NAME")]
        tensor: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { path, json, exact } => commands::inspect(&path, json, exact),
        Command::Verify {
            paths,
            data,
            deny_nonfinite,
        } => commands::verify(
            &paths,
            commands::Checks {
                data: data || deny_nonfinite,
                deny_nonfinite,
            },
        ),
        Command::Rewrite {
            input,
            output,
            align,
        } => commands::rewrite(&input, &output, align),
        Command::Diff { a, b, atol, rtol } => commands::diff(&a, &b, atol, rtol),
        Command::Stats { path, tensor } => commands::stats(&path, tensor.as_deref()),
        Command::Shard {
            input,
            out_dir,
            max_shard_size,
        } => commands::shard(&input, &out_dir, &max_shard_size),
        Command::Merge { input, output } => commands::merge(&input, &output),
        Command::Bench {
            path,
            runs,
            reference,
            write_to,
        } => commands::bench(&path, runs, reference, write_to.as_deref()),
    };
    output::flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            for line in &failure.lines {
                errln!("{line}");
            }
            ExitCode::from(failure.code)
        }
    }
}
