//! What a PATH argument names: one `.safetensors` file, or a sharded
//! checkpoint (an `*.index.json` beside its shards, or a directory).

use std::path::{Path, PathBuf};

use tensorsafe::{Checkpoint, LoadOptions, Metadata, SafeTensorsFile, TensorView};

use crate::{progress, Failure};

/// An opened file or sharded checkpoint, with every file validated.
pub enum Source {
    File {
        path: PathBuf,
        file: SafeTensorsFile,
    },
    Sharded(Checkpoint),
}

/// Opens one safetensors file with full validation.
pub fn open_file(path: &Path) -> Result<SafeTensorsFile, Failure> {
    SafeTensorsFile::open(path).map_err(|e| Failure::from_error(path, &e))
}

/// Whether PATH names a sharded checkpoint: an index file, or a directory
/// that is not a single `.safetensors` file's home.
fn is_sharded(path: &Path) -> bool {
    if path.is_dir() {
        let single = std::fs::read_dir(path)
            .map(|entries| {
                let names: Vec<String> = entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                !names.iter().any(|n| n.ends_with(".index.json"))
                    && names.iter().filter(|n| n.ends_with(".safetensors")).count() == 1
            })
            .unwrap_or(false);
        return !single;
    }
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".json"))
}

/// The single `.safetensors` file in a directory.
fn single_file(path: &Path) -> PathBuf {
    if !path.is_dir() {
        return path.to_owned();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .unwrap_or_else(|| path.to_owned())
}

impl Source {
    /// Opens PATH and every file it names.
    pub fn open(path: &Path) -> Result<Source, Failure> {
        if !is_sharded(path) {
            let path = single_file(path);
            let file = open_file(&path)?;
            return Ok(Source::File { path, file });
        }
        // Every shard at once, threads sharing the reads across files; the
        // headers are checked against the index before any data is read.
        let bar = progress::bytes(0, "loading");
        let checkpoint = Checkpoint::load(path, &LoadOptions::default(), |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(|e| Failure::from_error(path, &e))?;
        bar.finish_and_clear();
        Ok(Source::Sharded(checkpoint))
    }

    /// Every file: its path and contents, in order.
    pub fn files(&self) -> Vec<(PathBuf, &SafeTensorsFile)> {
        match self {
            Source::File { path, file } => vec![(path.clone(), file)],
            Source::Sharded(c) => {
                let dir = c
                    .index_path()
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                (0..c.files().len())
                    .filter_map(|i| Some((dir.join(c.files().get(i)?), c.shard(i).ok()?)))
                    .collect()
            }
        }
    }

    /// Whether this is a sharded checkpoint.
    pub fn is_sharded(&self) -> bool {
        matches!(self, Source::Sharded(_))
    }

    /// Every tensor, file by file, in data-offset order.
    pub fn tensors(&self) -> Vec<(&str, TensorView<'_>)> {
        let mut out = Vec::new();
        for (_, file) in self.files() {
            // Names borrowed from the file's header (they outlive the
            // reader), views from the reader: both in data-offset order.
            let views = file
                .tensors()
                .iter()
                .map(|(_, view)| view)
                .collect::<Vec<_>>();
            out.extend(file.header().names().zip(views));
        }
        out
    }

    /// The tensor called `name`, in whichever file holds it.
    pub fn get(&self, name: &str) -> Option<TensorView<'_>> {
        match self {
            Source::File { file, .. } => file.tensors().tensor(name).ok(),
            Source::Sharded(c) => c.tensor(name).ok(),
        }
    }

    /// The metadata of the (first) file.
    pub fn metadata(&self) -> Option<&Metadata> {
        match self {
            Source::File { file, .. } => file.header().metadata(),
            Source::Sharded(c) => c.shard(0).ok().and_then(|f| f.header().metadata()),
        }
    }
}
