//! What a PATH argument names: one `.safetensors` file, or a sharded
//! checkpoint (an `*.index.json` beside its shards, or a directory).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tensorsafe::{Metadata, SafeTensorsFile, TensorView};

use crate::Failure;

/// One opened file.
pub struct Shard {
    pub path: PathBuf,
    pub file: SafeTensorsFile,
}

/// The index of a sharded checkpoint, as read.
pub struct Index {
    pub path: PathBuf,
    pub total_size: Option<u64>,
    pub weight_map: BTreeMap<String, String>,
}

/// An opened file or sharded checkpoint.
pub struct Source {
    pub index: Option<Index>,
    pub shards: Vec<Shard>,
}

/// Opens one safetensors file with full validation.
pub fn open_file(path: &Path) -> Result<Shard, Failure> {
    let file = SafeTensorsFile::open(path).map_err(|e| Failure::from_error(path, &e))?;
    Ok(Shard {
        path: path.to_owned(),
        file,
    })
}

/// Finds the index (or the single file) a directory holds.
fn resolve(path: &Path) -> Result<PathBuf, Failure> {
    if !path.is_dir() {
        return Ok(path.to_owned());
    }
    let preferred = path.join("model.safetensors.index.json");
    if preferred.is_file() {
        return Ok(preferred);
    }
    let mut indexes = Vec::new();
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path).map_err(|e| Failure::unreadable(path, &e.to_string()))?;
    for entry in entries.flatten() {
        let p = entry.path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.ends_with(".safetensors.index.json") {
            indexes.push(p);
        } else if name.ends_with(".safetensors") {
            files.push(p);
        }
    }
    match (indexes.len(), files.len()) {
        (1, _) => Ok(indexes.remove(0)),
        (0, 1) => Ok(files.remove(0)),
        _ => Err(Failure::usage(format!(
            "{}: holds {} index files and {} .safetensors files; name one",
            path.display(),
            indexes.len(),
            files.len()
        ))),
    }
}

pub fn is_index(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".json"))
}

/// Reads and checks the shape of an index file.
pub fn read_index(path: &Path) -> Result<Index, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::unreadable(path, &e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::invalid(path, "IndexSyntax", &e.to_string()))?;
    let weight_map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Failure::invalid(path, "IndexWeightMap", "no \"weight_map\" object"))?;
    let mut map = BTreeMap::new();
    for (name, file) in weight_map {
        let file = file.as_str().ok_or_else(|| {
            Failure::invalid(
                path,
                "IndexWeightMap",
                &format!("{name:?} maps to a non-string"),
            )
        })?;
        if file.contains('/') || file.contains('\\') || file == ".." {
            return Err(Failure::invalid(
                path,
                "IndexWeightMap",
                &format!("{name:?} maps outside the directory: {file:?}"),
            ));
        }
        map.insert(name.clone(), file.to_owned());
    }
    let total_size = value
        .get("metadata")
        .and_then(|m| m.get("total_size"))
        .and_then(|t| t.as_u64());
    Ok(Index {
        path: path.to_owned(),
        total_size,
        weight_map: map,
    })
}

impl Source {
    /// Opens PATH: a file, an index, or a directory holding either.
    pub fn open(path: &Path) -> Result<Source, Failure> {
        let path = resolve(path)?;
        if !is_index(&path) {
            return Ok(Source {
                index: None,
                shards: vec![open_file(&path)?],
            });
        }
        let index = read_index(&path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut names: Vec<&String> = index.weight_map.values().collect();
        names.sort();
        names.dedup();
        let shards = names
            .into_iter()
            .map(|file| open_file(&dir.join(file)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Source {
            index: Some(index),
            shards,
        })
    }

    /// Every tensor, shard by shard, in data-offset order.
    pub fn tensors(&self) -> impl Iterator<Item = (&str, TensorView<'_>)> + '_ {
        self.shards.iter().flat_map(|s| s.file.iter())
    }

    /// The tensor called `name`, in whichever shard holds it.
    pub fn get(&self, name: &str) -> Option<TensorView<'_>> {
        self.shards.iter().find_map(|s| s.file.tensor(name).ok())
    }

    /// The metadata of the (first) file.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.shards.first().and_then(|s| s.file.metadata())
    }

    /// Problems where the index and the shards disagree, one line each.
    pub fn index_problems(&self) -> Vec<String> {
        let Some(index) = &self.index else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        let mut seen: HashMap<&str, &Path> = HashMap::new();
        let mut total: u64 = 0;
        for shard in &self.shards {
            let file_name = shard
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            for (name, view) in shard.file.iter() {
                total += view.data().len() as u64;
                if let Some(other) = seen.insert(name, &shard.path) {
                    problems.push(format!(
                        "{}: DuplicateTensor: tensor {name:?} is in {} and {}",
                        index.path.display(),
                        other.display(),
                        shard.path.display()
                    ));
                }
                match index.weight_map.get(name) {
                    None => problems.push(format!(
                        "{}: UnindexedTensor: tensor {name:?} of {} is not in the weight map",
                        index.path.display(),
                        shard.path.display()
                    )),
                    Some(mapped) if mapped != file_name => problems.push(format!(
                        "{}: WrongShard: tensor {name:?} is mapped to {mapped} but found in {file_name}",
                        index.path.display()
                    )),
                    Some(_) => {}
                }
            }
        }
        for (name, file) in &index.weight_map {
            if !seen.contains_key(name.as_str()) {
                problems.push(format!(
                    "{}: MissingTensor: tensor {name:?} mapped to {file} is not in it",
                    index.path.display()
                ));
            }
        }
        match index.total_size {
            Some(size) if size != total => problems.push(format!(
                "{}: TotalSize: metadata.total_size is {size}, the shards hold {total} bytes of tensors",
                index.path.display()
            )),
            None => problems.push(format!("{}: TotalSize: no metadata.total_size", index.path.display())),
            _ => {}
        }
        problems
    }
}
