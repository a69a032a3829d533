//! Sharded checkpoints in the Hugging Face layout: `model.safetensors.index.json`
//! beside `model-00001-of-0000N.safetensors` files.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Result};
use crate::file::SafeTensorsFile;
use crate::header::json::Scanner;
use crate::header::Metadata;
use crate::read::{TensorView, View};
use crate::write::{serialize_to_file, AtomicFile};

/// The index file name this crate writes, and looks for in a directory.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// Largest index file read: an index lists names and file names only.
const MAX_INDEX_BYTES: u64 = 100_000_000;

fn index_error(kind: ErrorKind, path: &Path, detail: String) -> Error {
    Error::new(kind).with_detail(format!("{}: {detail}", path.display()))
}

/// A shard file name from an index must name a file beside it.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The parts of an index file this crate uses.
struct IndexFile {
    total_size: Option<u64>,
    weight_map: Vec<(String, String)>,
}

/// Parses an index: `{"metadata": {"total_size": N, ...}, "weight_map": {name: file}}`.
fn parse_index(text: &str) -> Result<IndexFile> {
    let mut s = Scanner::new(text, 0);
    let mut index = IndexFile {
        total_size: None,
        weight_map: Vec::new(),
    };
    let mut seen_map = false;
    s.expect(b'{', "an object")?;
    if !s.empty(b'}') {
        loop {
            s.skip_ws();
            let key = s.string()?;
            let key = s.str_of(&key).to_owned();
            s.expect(b':', "':'")?;
            s.skip_ws();
            match key.as_str() {
                "metadata" if s.peek() == Some(b'{') => {
                    s.pos += 1;
                    if !s.empty(b'}') {
                        loop {
                            s.skip_ws();
                            let field = s.string()?;
                            let is_total = s.str_of(&field) == "total_size";
                            s.expect(b':', "':'")?;
                            s.skip_ws();
                            if is_total {
                                index.total_size = Some(s.integer(2)?);
                            } else {
                                s.value(2)?;
                            }
                            if !s.more(b'}')? {
                                break;
                            }
                        }
                    }
                }
                "weight_map" => {
                    if s.peek() != Some(b'{') {
                        return Err(s.wrong_type("an object of tensor name to file name", 1));
                    }
                    seen_map = true;
                    s.pos += 1;
                    if !s.empty(b'}') {
                        loop {
                            s.skip_ws();
                            let name = s.string()?;
                            let name = s.str_of(&name).to_owned();
                            s.expect(b':', "':'")?;
                            s.skip_ws();
                            if s.peek() != Some(b'"') {
                                return Err(s.wrong_type("a file name", 2).with_tensor(name));
                            }
                            let file = s.string()?;
                            let file = s.str_of(&file).to_owned();
                            index.weight_map.push((name, file));
                            if !s.more(b'}')? {
                                break;
                            }
                        }
                    }
                }
                _ => s.value(1)?,
            }
            if !s.more(b'}')? {
                break;
            }
        }
    }
    if !s.at_end() {
        return Err(s.error(ErrorKind::TrailingCharacters, "after the index object"));
    }
    if !seen_map {
        return Err(Error::new(ErrorKind::MissingField).with_detail("no \"weight_map\""));
    }
    Ok(index)
}

/// How shards are loaded.
#[derive(Debug, Clone, Copy)]
enum Load {
    Read,
    Map,
}

/// A sharded checkpoint: one lookup from tensor name to view across its
/// shard files, which are opened when first needed (or all at once).
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tensorsafe-ckpt-doc-{}", std::process::id()));
/// use tensorsafe::{write_sharded, Checkpoint, Dtype, TensorView};
/// let (a, b) = ([1u8; 600], [2u8; 600]);
/// let tensors = [("a", TensorView::new(Dtype::U8, &[600], &a)?), ("b", TensorView::new(Dtype::U8, &[600], &b)?)];
/// let files = write_sharded(tensors, None, &dir, 1000)?; // two shards and the index
/// assert_eq!(files.len(), 2);
///
/// let checkpoint = Checkpoint::open(&dir)?;   // reads only the index
/// assert_eq!(checkpoint.tensor("b")?.data()[0], 2); // opens the second shard
/// checkpoint.verify()?;                       // every shard against the index
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Checkpoint {
    index_path: PathBuf,
    dir: PathBuf,
    total_size: Option<u64>,
    /// Tensor name -> position in `files`.
    weight_map: BTreeMap<String, usize>,
    files: Vec<String>,
    shards: Vec<OnceLock<SafeTensorsFile>>,
    load: Load,
}

impl Checkpoint {
    /// Opens the index at `path` (or `model.safetensors.index.json`, or the
    /// only `*.safetensors.index.json`, in the directory `path`). Shards are
    /// read into memory when one of their tensors is first asked for.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_as(path.as_ref(), Load::Read)
    }

    /// [`Checkpoint::open`], memory-mapping shards instead of reading them.
    ///
    /// # Safety
    ///
    /// As for [`SafeTensorsFile::mmap`]: no shard may be modified or
    /// truncated while the checkpoint is alive.
    pub unsafe fn open_mmap(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_as(path.as_ref(), Load::Map)
    }

    /// Opens the index and every shard at once, and checks them against each
    /// other ([`Checkpoint::verify`]).
    pub fn open_all(path: impl AsRef<Path>) -> Result<Self> {
        let checkpoint = Self::open(path)?;
        checkpoint.verify()?;
        Ok(checkpoint)
    }

    fn open_as(path: &Path, load: Load) -> Result<Self> {
        let index_path = find_index(path)?;
        let file = std::fs::File::open(&index_path)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_INDEX_BYTES), &mut text)
            .map_err(|e| index_error(ErrorKind::IndexInvalid, &index_path, e.to_string()))?;
        let parsed = parse_index(&text).map_err(|e| {
            let detail = format!("{}: {e}", index_path.display());
            let mut err = Error::new(ErrorKind::IndexInvalid).with_detail(detail);
            if let Some(t) = e.tensor() {
                err = err.with_tensor(t);
            }
            err
        })?;
        let mut files: Vec<String> = Vec::new();
        let mut weight_map = BTreeMap::new();
        for (name, file) in parsed.weight_map {
            if !plain_file_name(&file) {
                return Err(index_error(
                    ErrorKind::IndexInvalid,
                    &index_path,
                    format!("{file:?} is not a file name beside the index"),
                )
                .with_tensor(name));
            }
            let shard = match files.iter().position(|f| *f == file) {
                Some(i) => i,
                None => {
                    files.push(file);
                    files.len() - 1
                }
            };
            if weight_map.insert(name.clone(), shard).is_some() {
                return Err(index_error(
                    ErrorKind::DuplicateTensor,
                    &index_path,
                    "named twice in weight_map".into(),
                )
                .with_tensor(name));
            }
        }
        let dir = index_path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let shards = files.iter().map(|_| OnceLock::new()).collect();
        Ok(Checkpoint {
            index_path,
            dir,
            total_size: parsed.total_size,
            weight_map,
            files,
            shards,
            load,
        })
    }

    /// The index file.
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }

    /// Shard file names, in the order the index first names them.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// `metadata.total_size` from the index, if present.
    pub fn total_size(&self) -> Option<u64> {
        self.total_size
    }

    /// Number of tensors the index maps.
    pub fn len(&self) -> usize {
        self.weight_map.len()
    }

    /// Whether the index maps no tensor.
    pub fn is_empty(&self) -> bool {
        self.weight_map.is_empty()
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.weight_map.keys().map(String::as_str)
    }

    /// The shard file that holds `name`, per the index.
    pub fn file_of(&self, name: &str) -> Option<&str> {
        self.weight_map
            .get(name)
            .and_then(|&i| self.files.get(i))
            .map(String::as_str)
    }

    /// Shard `i`, opened (and validated) on first use.
    pub fn shard(&self, i: usize) -> Result<&SafeTensorsFile> {
        let slot = self
            .shards
            .get(i)
            .ok_or_else(|| Error::new(ErrorKind::TensorNotFound))?;
        if let Some(file) = slot.get() {
            return Ok(file);
        }
        let path = self.dir.join(self.files.get(i).map_or("", String::as_str));
        let opened = match self.load {
            Load::Read => SafeTensorsFile::open(&path),
            // SAFETY: `open_mmap` is the only way to get `Load::Map`, and its
            // caller promised that no shard changes while the checkpoint lives.
            Load::Map => unsafe { SafeTensorsFile::mmap(&path) },
        }
        .map_err(|e| {
            let detail = format!("shard {}: {e}", path.display());
            let mut err = Error::new(e.kind()).with_detail(detail);
            if let Some(t) = e.tensor() {
                err = err.with_tensor(t);
            }
            err
        })?;
        // Another thread may have won the race; either copy is the same file.
        let _ = slot.set(opened);
        slot.get().ok_or_else(|| Error::new(ErrorKind::Io))
    }

    /// The tensor called `name`, from the shard the index names.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let &i = self
            .weight_map
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::TensorNotFound).with_tensor(name))?;
        self.shard(i)?.tensor(name).map_err(|e| {
            if e.kind() == ErrorKind::TensorNotFound {
                Error::new(ErrorKind::IndexMissingTensor)
                    .with_tensor(name)
                    .with_detail(format!(
                        "the index maps it to {}, which does not hold it",
                        self.files[i]
                    ))
            } else {
                e
            }
        })
    }

    /// Opens every shard and checks the index against their headers: no
    /// tensor in two shards, every mapped tensor where the index says, no
    /// tensor the index does not map, the right `total_size`, and no
    /// `*-NNNNN-of-NNNNN.safetensors` file in the directory the index does
    /// not name. The first problem is the error.
    pub fn verify(&self) -> Result<()> {
        let mut found: BTreeMap<&str, usize> = BTreeMap::new();
        let mut total: u64 = 0;
        for i in 0..self.files.len() {
            for (name, view) in self.shard(i)?.iter() {
                total += view.data_len() as u64;
                if let Some(&other) = found.get(name) {
                    return Err(Error::new(ErrorKind::DuplicateTensor)
                        .with_tensor(name)
                        .with_detail(format!(
                            "in both {} and {}",
                            self.files[other], self.files[i]
                        )));
                }
                found.insert(name, i);
                match self.weight_map.get(name) {
                    Some(&mapped) if mapped == i => {}
                    Some(&mapped) => {
                        return Err(Error::new(ErrorKind::IndexMismatch)
                            .with_tensor(name)
                            .with_detail(format!(
                                "mapped to {} but found in {}",
                                self.files[mapped], self.files[i]
                            )))
                    }
                    None => {
                        return Err(Error::new(ErrorKind::IndexMismatch)
                            .with_tensor(name)
                            .with_detail(format!(
                                "found in {} but not in the index",
                                self.files[i]
                            )))
                    }
                }
            }
        }
        if let Some((name, &i)) = self
            .weight_map
            .iter()
            .find(|(n, _)| !found.contains_key(n.as_str()))
        {
            return Err(Error::new(ErrorKind::IndexMissingTensor)
                .with_tensor(name.as_str())
                .with_detail(format!(
                    "mapped to {}, which does not hold it",
                    self.files[i]
                )));
        }
        if self.total_size != Some(total) {
            return Err(Error::new(ErrorKind::IndexTotalSize).with_detail(format!(
                "{}: metadata.total_size is {:?}, the shards hold {total} bytes of tensors",
                self.index_path.display(),
                self.total_size
            )));
        }
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_shard_name(&name) && !self.files.contains(&name) {
                    return Err(
                        Error::new(ErrorKind::IndexUnnamedShard).with_detail(format!(
                            "{name} lies beside the index but the index does not name it"
                        )),
                    );
                }
            }
        }
        Ok(())
    }
}

/// `PREFIX-NNNNN-of-NNNNN.safetensors`.
fn is_shard_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".safetensors") else {
        return false;
    };
    let five = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = stem.rsplit('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(total), Some("of"), Some(k), Some(_)) if five(total) && five(k)
    )
}

/// The index file `path` names, directly or as its directory.
fn find_index(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_owned());
    }
    let preferred = path.join(INDEX_FILE);
    if preferred.is_file() {
        return Ok(preferred);
    }
    let found: Vec<PathBuf> = std::fs::read_dir(path)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".safetensors.index.json"))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Error::new(ErrorKind::IndexInvalid).with_detail(format!(
            "{}: {} index files; expected one",
            path.display(),
            found.len()
        ))),
    }
}

/// Splits `tensors` into shards of at most `max_shard_bytes` of tensor data
/// (greedy, in the given order; a larger tensor gets a shard of its own) and
/// writes them into `dir` as `model-0000k-of-0000n.safetensors`, each
/// atomically, then `model.safetensors.index.json` last (sorted keys, 2-space
/// indent). Returns the shard file names.
pub fn write_sharded<S, V, I>(
    tensors: I,
    metadata: Option<&Metadata>,
    dir: impl AsRef<Path>,
    max_shard_bytes: u64,
) -> Result<Vec<String>>
where
    S: AsRef<str>,
    V: View,
    I: IntoIterator<Item = (S, V)>,
{
    let dir = dir.as_ref();
    let tensors: Vec<(S, V)> = tensors.into_iter().collect();
    let mut shard_of = Vec::with_capacity(tensors.len());
    let (mut shard, mut used) = (0usize, 0u64);
    for (i, (_, view)) in tensors.iter().enumerate() {
        let size = view.data_len() as u64;
        if i > 0 && used > 0 && used.saturating_add(size) > max_shard_bytes {
            shard += 1;
            used = 0;
        }
        used = used.saturating_add(size);
        shard_of.push(shard);
    }
    // No tensors, no shards: an empty shard could not be named by the index.
    let count = if tensors.is_empty() { 0 } else { shard + 1 };
    std::fs::create_dir_all(dir)?;
    let files: Vec<String> = (1..=count)
        .map(|k| format!("model-{k:05}-of-{count:05}.safetensors"))
        .collect();
    let mut weight_map: BTreeMap<&str, &str> = BTreeMap::new();
    let mut total_size = 0u64;
    for (k, file) in files.iter().enumerate() {
        let members = tensors
            .iter()
            .zip(&shard_of)
            .filter(|(_, &s)| s == k)
            .map(|((n, v), _)| (n.as_ref(), v));
        let members: Vec<(&str, &V)> = members.collect();
        for (name, view) in &members {
            if weight_map.insert(name, file).is_some() {
                return Err(Error::new(ErrorKind::DuplicateTensor).with_tensor(*name));
            }
            total_size += view.data_len() as u64;
        }
        serialize_to_file(members, metadata, dir.join(file))?;
    }
    // The index last: whoever finds it finds every shard complete.
    let mut text = Vec::new();
    text.extend_from_slice(b"{\n  \"metadata\": {\n    \"total_size\": ");
    crate::write::json_integer(&mut text, total_size);
    text.extend_from_slice(b"\n  },\n  \"weight_map\": {");
    for (i, (name, file)) in weight_map.iter().enumerate() {
        text.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
        crate::write::json_string(&mut text, name);
        text.extend_from_slice(b": ");
        crate::write::json_string(&mut text, file);
    }
    text.extend_from_slice(if weight_map.is_empty() {
        b"}\n}\n"
    } else {
        b"\n  }\n}\n"
    });
    let mut index = AtomicFile::create(dir.join(INDEX_FILE))?;
    index.write_all(&text)?;
    index.commit()?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_and_index_parsing() {
        assert!(is_shard_name("model-00001-of-00003.safetensors"));
        assert!(is_shard_name(
            "diffusion_pytorch_model-00002-of-00002.safetensors"
        ));
        assert!(!is_shard_name("00001-of-00003.safetensors"));
        assert!(!is_shard_name("model.safetensors"));
        assert!(!is_shard_name("model-1-of-3.safetensors"));
        let index = parse_index(r#"{"metadata":{"total_size":10,"format":"pt"},"weight_map":{"a":"x.safetensors"},"extra":[1]}"#).unwrap();
        assert_eq!(index.total_size, Some(10));
        assert_eq!(
            index.weight_map,
            vec![("a".to_owned(), "x.safetensors".to_owned())]
        );
        assert!(parse_index(r#"{"metadata":{}}"#).is_err());
        assert!(parse_index(r#"{"weight_map":{"a":1}}"#).is_err());
        assert!(parse_index(r#"{"weight_map":{}} x"#).is_err());
        assert!(
            !plain_file_name("../etc/passwd")
                && !plain_file_name("")
                && plain_file_name("a.safetensors")
        );
    }
}
