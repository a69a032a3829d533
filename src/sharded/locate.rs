//! [`Located`]: what a checkpoint path names (an index, or one
//! `.safetensors` file), found by one rule that [`Checkpoint::open`] and
//! the command-line tool share.

use std::format;
use std::prelude::rust_2021::*;

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::index_file::INDEX_FILE;
use crate::error::{Error, ErrorKind, Result};
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
#[non_exhaustive]
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
    if ends_with(name, ".safetensors") || looks_like_safetensors(path)? {
        return Ok(Located::File(path.to_owned()));
    }
    Err(Error::new(ErrorKind::NotACheckpoint)
        .with_detail(format!(
            "found {}; expected a .safetensors file, an index (.json) or a directory",
            name.to_string_lossy()
        ))
        .in_file(path))
}

/// Whether `name` ends with `suffix`, ignoring ASCII case (any name, UTF-8
/// or not).
fn ends_with(name: &OsStr, suffix: &str) -> bool {
    let name = name.as_encoded_bytes();
    name.len() >= suffix.len()
        && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// Whether `path` is a regular file that starts as a safetensors file
/// does: an 8-byte header length, then `{` (after any JSON white space). Only a sniff: opening it
/// reports what is wrong with the rest (an error if it cannot be read at
/// all; a FIFO or a device is not opened).
fn looks_like_safetensors(path: &Path) -> Result<bool> {
    let sniff = || -> std::io::Result<bool> {
        if !std::fs::metadata(path)?.is_file() {
            return Ok(false);
        }
        // The header may start with JSON white space, as the parser allows.
        let mut start = Vec::with_capacity(72);
        File::open(path)?.take(72).read_to_end(&mut start)?;
        let json = start.get(8..).unwrap_or_default();
        Ok(json.iter().find(|b| !b" \t\r\n".contains(b)) == Some(&b'{'))
    };
    sniff().map_err(|e| Error::from(e).in_file(path))
}

/// The checkpoint directory `dir` holds: its `model.safetensors.index.json`,
/// or else its one `*.safetensors.index.json`, or else its one
/// `.safetensors` file (suffixes in any ASCII case). Only regular files
/// count (symbolic links followed), and names starting with a dot are
/// ignored (`._model.safetensors`, the resource forks macOS leaves on
/// other filesystems). An entry of either suffix that cannot be looked at
/// (a dangling link, a link loop, no permission), or a
/// `model.safetensors.index.json` that is not a regular file, is an
/// [`ErrorKind::Io`] error naming it: not a file to pass over.
fn in_directory(dir: &Path) -> Result<Located> {
    if let Some(preferred) = preferred_index(dir)? {
        return Ok(Located::Index(preferred));
    }
    let mut found = candidates(dir)?;
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

/// `dir`'s `model.safetensors.index.json`, if there is one; an error if it
/// is there but is not a regular file or cannot be looked at.
fn preferred_index(dir: &Path) -> Result<Option<PathBuf>> {
    let preferred = dir.join(INDEX_FILE);
    match std::fs::symlink_metadata(&preferred) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::from(e).in_file(&preferred)),
        Ok(_) => {}
    }
    let is_file = std::fs::metadata(&preferred).map_err(|e| Error::from(e).in_file(&preferred))?;
    if !is_file.is_file() {
        return Err(Error::new(ErrorKind::Io)
            .with_detail("not a regular file")
            .in_file(&preferred));
    }
    Ok(Some(preferred))
}

/// The regular files in `dir` named like an index or a `.safetensors`
/// file (not starting with a dot); an entry so named that cannot be
/// looked at is an error naming it.
fn candidates(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::from(e).in_file(dir))? {
        let entry = entry.map_err(|e| Error::from(e).in_file(dir))?;
        let name = entry.file_name();
        let named = ends_with(&name, ".safetensors") || ends_with(&name, ".safetensors.index.json");
        if !named || name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|e| Error::from(e).in_file(&path))?;
        if meta.is_file() {
            found.push(path);
        }
    }
    Ok(found)
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
