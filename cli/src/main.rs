//! `tensorsafe`: inspect, verify, rewrite, diff and summarise safetensors
//! files and sharded checkpoints.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod commands;
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
    /// 1: a file is invalid; 2: usage error or unreadable input.
    pub code: u8,
    /// What to print on stderr, one line each.
    pub lines: Vec<String>,
}

impl Failure {
    /// A usage error (exit code 2).
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

    /// A file that breaks `rule` (exit code 1).
    pub fn invalid(path: &Path, rule: &str, why: &str) -> Self {
        Failure {
            code: 1,
            lines: vec![format!("{}: {rule}: {why}", path.display())],
        }
    }

    /// A library error: I/O problems are "cannot read", the rest name the
    /// rule. The line starts with the file the error names (a shard, say),
    /// or else with `path`.
    pub fn from_error(path: &Path, error: &tensorsafe::Error) -> Self {
        Failure::from_error_at(error.path().unwrap_or(path), error)
    }

    /// A library error about `file`.
    pub fn from_error_at(file: &Path, error: &tensorsafe::Error) -> Self {
        if error.kind() == tensorsafe::ErrorKind::Io {
            Failure::unreadable(file, &error.to_string())
        } else {
            Failure::invalid(file, &format!("{:?}", error.kind()), &error.to_string())
        }
    }
}

#[derive(Parser)]
#[command(
    name = "tensorsafe",
    version,
    about = "Inspect, verify, rewrite, diff and summarise safetensors files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the tensors of a file or sharded checkpoint, with totals and metadata.
    Inspect {
        /// A .safetensors file, a *.index.json, or a directory holding either;
        /// or the URL of a file or index in an object store (s3://, gs://,
        /// az://, http(s)://), whose headers are read with ranged requests.
        path: PathBuf,
        /// Print the header as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Validate files fully; exit 0 if all are valid, 1 if any is not, 2 if one cannot be read.
    Verify {
        /// Files, index files or directories; or URLs of files or indexes in
        /// an object store (headers, sizes and the index checked; with
        /// --data, every byte fetched).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also count NaN and Inf values in float tensors.
        #[arg(long)]
        data: bool,
    },
    /// Write IN to OUT atomically, in the reference layout or aligned.
    Rewrite {
        input: PathBuf,
        output: PathBuf,
        /// Align the data section and tensors to N bytes (a power of two up to 1 MiB).
        #[arg(long, value_name = "N")]
        align: Option<u64>,
    },
    /// Compare two files or checkpoints; exit 0 if equal within tolerance, 1 if not.
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Absolute tolerance for float tensors.
        #[arg(long, default_value_t = 0.0)]
        atol: f64,
        /// Relative tolerance for float tensors.
        #[arg(long, default_value_t = 0.0)]
        rtol: f64,
    },
    /// Split a file into Hugging Face shards plus model.safetensors.index.json.
    Shard {
        input: PathBuf,
        out_dir: PathBuf,
        /// Largest shard, e.g. 5GB or 500MB (decimal units; KiB, MiB, GiB are binary).
        #[arg(long, value_name = "SIZE")]
        max_shard_size: String,
    },
    /// Join a sharded checkpoint (its index or directory) into one file.
    Merge { input: PathBuf, output: PathBuf },
    /// Time loading a file every way (read, into a buffer, mapped), beside std::fs::read and a memcpy.
    ///
    /// The file is memory-mapped: do not modify it while the benchmark runs.
    Bench {
        path: PathBuf,
        /// Number of runs; medians are reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Also time the same steps through the reference safetensors crate.
        #[arg(long)]
        reference: bool,
    },
    /// Per-tensor min, max, mean, std and NaN/Inf counts.
    Stats {
        path: PathBuf,
        /// Only this tensor.
        #[arg(long, value_name = "NAME")]
        tensor: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { path, json } => commands::inspect(&path, json),
        Command::Verify { paths, data } => commands::verify(&paths, data),
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
        } => commands::bench(&path, runs, reference),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            for line in &failure.lines {
                eprintln!("{line}");
            }
            ExitCode::from(failure.code)
        }
    }
}
