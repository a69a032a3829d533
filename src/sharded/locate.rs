//! [`Located`]: what a checkpoint path names (an index, or one
//! `.safetensors` file), found by one rule that [`Checkpoint::open`] and
//! the command-line tool share.

use std::format;
use std::prelude::rust_2021::*;

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::index_file::INDEX_FILE;
use crate::error::{Error, ErrorKind, Result};
use crate::header::Header;
#[cfg(doc)]
use crate::sharded::Checkpoint;

/// What a checkpoint path names, found by [`Checkpoint::locate`] (which
/// [`Checkpoint::open`] uses): an index, or one `.safetensors` file.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-locate-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// use tensorsafe::{serialize_to_file, Checkpoint, Dtype, ErrorKind, Located, TensorView};
/// let w = TensorView::new(Dtype::U8, &[3], &[1, 2, 3])?;
/// serialize_to_file([("w", w)], None, dir.join("model.safetensors"))?;
/// assert_eq!(Checkpoint::locate(&dir)?, Located::File(dir.join("model.safetensors")));
/// // Any path ending in .json is an index (whether it exists is for opening to find).
/// let index = dir.join("model.safetensors.index.json");
/// assert_eq!(Checkpoint::locate(&index)?, Located::Index(index.clone()));
///
/// std::fs::write(dir.join("model.bin"), b"PK\x03\x04 a pickle")?;
/// let err = Checkpoint::locate(dir.join("model.bin")).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotACheckpoint);
/// assert!(err.to_string().contains("found model.bin; expected a .safetensors file"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// One `.safetensors` file: a checkpoint of one shard.
    File(PathBuf),
    /// A sharded checkpoint's index, beside its shards.
    Index(PathBuf),
}

impl Located {
    /// The file or the index.
    pub fn path(&self) -> &Path {
        match self {
            Located::File(path) | Located::Index(path) => path,
        }
    }

    /// Whether it is an index (a sharded checkpoint).
    pub fn is_index(&self) -> bool {
        matches!(self, Located::Index(_))
    }
}

/// What `path` names; see [`Checkpoint::locate`] for the rule.
pub(crate) fn locate(path: &Path) -> Result<Located> {
    if path.is_dir() {
        return in_directory(path);
    }
    let name = path.file_name().unwrap_or_default();
    if ends_with(name, ".json") {
        return Ok(Located::Index(path.to_owned()));
    }
    if ends_with(name, ".safetensors") || is_safetensors(path)? {
        return Ok(Located::File(path.to_owned()));
    }
    Err(Error::new(ErrorKind::NotACheckpoint)
        .with_detail(format!(
            "found {}; expected a .safetensors file, an index (.json) or a directory",
            name.to_string_lossy()
        ))
        .in_file(path))
}

/// Whether `name` ends with `suffix` (any name, UTF-8 or not).
fn ends_with(name: &OsStr, suffix: &str) -> bool {
    name.as_encoded_bytes().ends_with(suffix.as_bytes())
}

/// Whether the file at `path` starts with a valid safetensors header (an
/// error if it cannot be read at all).
fn is_safetensors(path: &Path) -> Result<bool> {
    let file = File::open(path).map_err(|e| Error::from(e).in_file(path))?;
    Ok(Header::read_from(file).is_ok())
}

/// The checkpoint directory `dir` holds: its `model.safetensors.index.json`,
/// or else its one `*.safetensors.index.json`, or else its one
/// `.safetensors` file. Only regular files count (symbolic links followed),
/// and names starting with a dot are ignored (`._model.safetensors`, the
/// resource forks macOS leaves on other filesystems).
fn in_directory(dir: &Path) -> Result<Located> {
    let preferred = dir.join(INDEX_FILE);
    if preferred.is_file() {
        return Ok(Located::Index(preferred));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::from(e).in_file(dir))?
        .flatten()
        .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    let ending = |suffix: &str| -> Vec<&PathBuf> {
        let named = |p: &&PathBuf| ends_with(p.file_name().unwrap_or_default(), suffix);
        found.iter().filter(named).collect()
    };
    let (indexes, files) = (ending(".safetensors.index.json"), ending(".safetensors"));
    match (indexes.as_slice(), files.as_slice()) {
        ([one], _) => Ok(Located::Index((*one).clone())),
        ([], [one]) => Ok(Located::File((*one).clone())),
        _ => Err(Error::new(ErrorKind::NotACheckpoint)
            .with_detail(what_is_there(&indexes, &files))
            .in_file(dir)),
    }
}

/// What a directory that is not a checkpoint holds, and what was expected.
fn what_is_there(indexes: &[&PathBuf], files: &[&PathBuf]) -> String {
    if indexes.len() > 1 {
        return format!(
            "{} *.safetensors.index.json files ({}) and no {INDEX_FILE}; expected one index",
            indexes.len(),
            some_names(indexes)
        );
    }
    if files.is_empty() {
        return "no .safetensors file or *.safetensors.index.json in the directory; \
                expected a .safetensors file, an index (.json) or a directory holding either"
            .to_owned();
    }
    format!(
        "no *.safetensors.index.json and {} .safetensors files ({}); expected one file, \
         or a checkpoint's index",
        files.len(),
        some_names(files)
    )
}

/// The first few file names of `paths`, then "..." if there are more.
fn some_names(paths: &[&PathBuf]) -> String {
    const SHOWN: usize = 4;
    let mut names: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if paths.len() > SHOWN {
        names.push("...".to_owned());
    }
    names.join(", ")
}
