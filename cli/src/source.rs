//! What a PATH argument names: one `.safetensors` file, or a sharded
//! checkpoint (an `*.index.json` beside its shards, or a directory); with
//! the `remote` feature, also a URL (`s3://`, `hf://`, ...) naming either.
//!
//! Opening one reads headers and the index only: 8 + N bytes of each file,
//! and its length (for a URL, ranged reads of the same bytes). Tensor
//! bytes are read later, a chunk at a time ([`crate::chunks`]), so no
//! command needs memory in proportion to the model.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use tensorsafe::{Checkpoint, Header, Located, Metadata, TensorInfo};

use crate::chunks::{AnyReader, Reader};
use crate::Failure;

/// An opened file or sharded checkpoint: its index and every header
/// validated, every file's length checked against its header.
pub enum Source {
    File {
        path: PathBuf,
        header: Header,
    },
    Sharded(Checkpoint),
    /// A file or checkpoint at a URL, its headers read with ranged reads.
    #[cfg(feature = "remote")]
    Remote(Box<crate::remote::Remote>),
}

/// One file of a source: where it is (a path, or a URL) and its header.
pub struct Shard<'s> {
    pub path: PathBuf,
    pub header: &'s Header,
}

/// The header of the file at `path` (8 + N bytes read), checked against
/// the file's length. No tensor byte is read.
pub fn read_header(path: &Path) -> Result<Header, Failure> {
    let read = || -> tensorsafe::Result<Header> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let header = Header::read_from(&file)?;
        header.check_file_len(len)?;
        Ok(header)
    };
    read().map_err(|e| Failure::from_error(path, &e))
}

/// What a PATH argument names, before anything in it is read.
pub enum Target {
    /// One `.safetensors` file: PATH, or the one in directory PATH.
    File(PathBuf),
    /// A sharded checkpoint: an `*.index.json`, or a directory holding a
    /// `*.safetensors.index.json`.
    Checkpoint,
}

/// What PATH names, by the library's rule ([`Checkpoint::locate`]): a
/// directory is the checkpoint whose index it holds, or else the one
/// `.safetensors` file it holds; a file is an index if its name ends in
/// `.json`, and otherwise a `.safetensors` file. A directory that is no
/// checkpoint, or a file that is no safetensors file, is a usage error
/// that says what was found and what was expected.
pub fn locate(path: &Path) -> Result<Target, Failure> {
    match Checkpoint::locate(path) {
        Ok(Located::File(file)) => Ok(Target::File(file)),
        // An index, or whatever else the library learns to locate: opened
        // as a checkpoint.
        Ok(_) => Ok(Target::Checkpoint),
        Err(e) => Err(Failure::from_error(path, &e)),
    }
}

impl Source {
    /// Opens PATH: the file's header, or the index and every shard's
    /// header, checked against the index as `Checkpoint::open` checks them
    /// ([`Source::verify`] checks the rest). Every shard that cannot be
    /// read or is invalid is reported, one line each, not only the first.
    pub fn open(path: &Path) -> Result<Source, Failure> {
        #[cfg(feature = "remote")]
        if crate::remote::is_url(path) {
            let remote = crate::remote::Remote::open(path)?;
            return Ok(Source::Remote(Box::new(remote)));
        }
        if let Target::File(path) = locate(path)? {
            let header = read_header(&path)?;
            return Ok(Source::File { path, header });
        }
        // Every shard that cannot be read is reported, not only the first.
        let checkpoint = Checkpoint::open(path).map_err(|first| {
            let mut problems = Checkpoint::diagnose(path);
            if problems.is_empty() {
                problems.push(first);
            }
            Failure::all(
                problems
                    .iter()
                    .map(|e| Failure::from_error(path, e))
                    .collect(),
            )
        })?;
        Ok(Source::Sharded(checkpoint))
    }

    /// What opening left to `verify`: a checkpoint's `total_size` and no
    /// unnamed shard beside its index (`Checkpoint::verify`).
    pub fn verify(&self) -> Result<(), Failure> {
        match self {
            Source::File { .. } => Ok(()),
            Source::Sharded(c) => c.verify().map_err(|e| Failure::from_error(c.path(), &e)),
            #[cfg(feature = "remote")]
            Source::Remote(r) => r.verify(),
        }
    }

    /// The file, or the checkpoint's index.
    pub fn path(&self) -> &Path {
        match self {
            Source::File { path, .. } => path,
            Source::Sharded(c) => c.path(),
            #[cfg(feature = "remote")]
            Source::Remote(r) => Path::new(&r.url),
        }
    }

    /// Whether this is a sharded checkpoint.
    pub fn is_sharded(&self) -> bool {
        match self {
            Source::File { .. } => false,
            Source::Sharded(_) => true,
            #[cfg(feature = "remote")]
            Source::Remote(r) => r.checkpoint.is_sharded(),
        }
    }

    /// Every file, in the index's order.
    pub fn shards(&self) -> Result<Vec<Shard<'_>>, Failure> {
        match self {
            Source::File { path, header } => Ok(vec![Shard {
                path: path.clone(),
                header,
            }]),
            Source::Sharded(c) => (0..c.files().len())
                .map(|i| {
                    let header = c
                        .shard_header(i)
                        .map_err(|e| Failure::from_error(c.path(), &e))?;
                    let path = c.shard_path(i).map(Path::to_path_buf).unwrap_or_default();
                    Ok(Shard { path, header })
                })
                .collect(),
            #[cfg(feature = "remote")]
            Source::Remote(r) => Ok(r
                .headers()
                .into_iter()
                .map(|(url, header)| Shard {
                    path: PathBuf::from(url),
                    header,
                })
                .collect()),
        }
    }

    /// A reader of shard `i` (of [`Source::shards`], which is `shard`):
    /// the local file opened, or ranged reads of the object, which fetch
    /// the ranges `plan` gives (those the caller will read, in order) a
    /// few at a time ([`crate::chunks::plan`]). A local file is read as
    /// asked, with no plan made.
    pub fn reader<'s>(
        &'s self,
        i: usize,
        shard: &Shard<'_>,
        plan: impl FnOnce() -> Result<Vec<std::ops::Range<u64>>, Failure>,
    ) -> Result<AnyReader<'s>, Failure> {
        #[cfg(feature = "remote")]
        if let Source::Remote(r) = self {
            return Ok(Box::new(r.reader(i, plan()?)));
        }
        let _ = (i, plan);
        Ok(Box::new(Reader::open(shard)?))
    }

    /// Whether the files are read over the network ([`Source::reader`]
    /// then follows a plan).
    pub fn is_remote(&self) -> bool {
        #[cfg(feature = "remote")]
        return matches!(self, Source::Remote(_));
        #[cfg(not(feature = "remote"))]
        return false;
    }

    /// The size of the chunks its readers read: 16 MiB for a remote
    /// source, 1 MiB for local files.
    pub fn chunk(&self) -> u64 {
        if self.is_remote() {
            crate::chunks::MAX_CHUNK
        } else {
            crate::chunks::CHUNK_BYTES
        }
    }

    /// The metadata of the (first) file.
    pub fn metadata(&self) -> Result<Option<&Metadata>, Failure> {
        Ok(self.shards()?.first().and_then(|s| s.header.metadata()))
    }
}

/// Every tensor of `shards`, by name: the shard it is in and its entry.
pub fn by_name<'s>(shards: &'s [Shard<'s>]) -> HashMap<&'s str, (usize, TensorInfo<'s>)> {
    shards
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.header.iter().map(move |t| (t.name(), (i, t))))
        .collect()
}
