//! Writing a sharded checkpoint: [`Writer::sharded`].

use std::prelude::rust_2021::*;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::checkpoint::read_index;
use super::index_file::{self, is_shard_name, shard_name, INDEX_FILE};
use crate::error::{Error, ErrorKind, Result};
use crate::view::View;
use crate::write::layout::check_view;
use crate::write::{AtomicFile, Writer};

/// Shard numbers (from 0) for tensors of these sizes: greedy, in the given
/// order; a tensor larger than `max` gets a shard of its own (empty tensors
/// may join it, since they cost nothing).
fn assign(sizes: impl Iterator<Item = u64>, max: u64) -> Vec<usize> {
    let (mut shard, mut used) = (0usize, 0u64);
    let mut out = Vec::new();
    for (i, size) in sizes.enumerate() {
        if i > 0 && used > 0 && used.saturating_add(size) > max {
            shard += 1;
            used = 0;
        }
        used = used.saturating_add(size);
        out.push(shard);
    }
    out
}

/// The shard files in `dir` that a checkpoint written there before left
/// and the new one (with shard files `new`) will not replace: the files
/// named `*-NNNNN-of-NNNNN.safetensors` that the index in `dir` names. Any
/// other file so named that the new checkpoint does not overwrite would
/// make it fail [`Checkpoint::verify`](crate::Checkpoint::verify), and is
/// nobody's to delete: that is an error, before anything is written.
fn older_shards(dir: &Path, new: &[String]) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::from(e).in_file(dir)),
    };
    let mut left: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::from(e).in_file(dir))?;
        // A name that is not UTF-8 is no shard name.
        if let Ok(name) = entry.file_name().into_string() {
            if is_shard_name(&name) && !new.contains(&name) {
                left.push(name);
            }
        }
    }
    if left.is_empty() {
        return Ok(left);
    }
    left.sort();
    let (named, why) = match read_index(&dir.join(INDEX_FILE)) {
        Ok(index) => (
            index.files,
            format!("the {INDEX_FILE} beside it does not name it"),
        ),
        Err(e) if e.io_error().map(|io| io.kind()) == Some(std::io::ErrorKind::NotFound) => {
            (Vec::new(), format!("no {INDEX_FILE} beside it names it"))
        }
        Err(e) => (
            Vec::new(),
            format!("the {INDEX_FILE} beside it cannot be read ({e})"),
        ),
    };
    if let Some(stray) = left.iter().find(|name| !named.contains(name)) {
        return Err(Error::new(ErrorKind::IndexUnnamedShard)
            .with_detail(format!(
                "{why}, so it is not known to be a shard of an older checkpoint; nothing \
                 was written: remove it, or write the checkpoint into another directory"
            ))
            .in_file(&dir.join(stray)));
    }
    Ok(left)
}

/// Whether two paths lead to one file (a missing one is no file).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // Windows and macOS volumes fold case by default.
        let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().to_lowercase());
        name(a) == name(b)
    }
}

/// After a failed commit, removes the shards this write put in place under
/// names no file had, so the directory is as it was. A shard that took an
/// older file's name cannot be undone, nor one that cannot be removed:
/// `error` then names them.
fn take_back(placed: &[(PathBuf, bool)], error: Error) -> Error {
    let (mut kept, mut stuck) = (Vec::new(), Vec::new());
    for (path, replaces) in placed {
        if *replaces {
            kept.push(path.display().to_string());
        } else if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                stuck.push(format!("{} ({e})", path.display()));
            }
        }
    }
    let mut notes = Vec::new();
    if !kept.is_empty() {
        notes.push(format!(
            "new shards replaced older files of the same name, which cannot be given \
             back (an older index may name them): {}",
            kept.join(", ")
        ));
    }
    if !stuck.is_empty() {
        notes.push(format!(
            "new shards that could not be removed: {}",
            stuck.join(", ")
        ));
    }
    if notes.is_empty() {
        return error;
    }
    let detail = format!(
        "{}; {}",
        error.detail().unwrap_or("the write failed"),
        notes.join("; ")
    );
    error.with_detail(detail)
}

impl Writer<'_> {
    /// Splits `tensors` into shards of at most `max_shard_bytes` of tensor
    /// data (greedy, in the given order; a larger tensor gets a shard of its
    /// own) and writes them into `dir` as `model-0000k-of-0000n.safetensors`,
    /// all written and synced with this writer's options before any is
    /// renamed into place, then
    /// `model.safetensors.index.json` last (sorted keys, 2-space indent), so
    /// whoever finds the index finds every shard complete. Returns the shard
    /// file names. No tensors, no shards: the index maps nothing.
    ///
    /// Every shard is written and synced before any is put in place, so a
    /// failed write (a bad tensor, a full disk) leaves `dir` as it was. If
    /// putting a shard or the index in place fails after other shards
    /// were (rare: the name taken by a directory, an I/O error), the new
    /// shards put in place under names no file had are removed; a new
    /// shard that replaced an older file of the same name cannot be
    /// undone, and the error names it. An index put in place whose
    /// directory could not be synced leaves the new checkpoint complete,
    /// and the error says so.
    /// The price: until the renames, the new checkpoint takes its full
    /// size beside the old one, and each shard holds an open file (one per
    /// shard, so a checkpoint of more shards than the process may open
    /// files fails cleanly with "too many open files": raise the limit, or
    /// write larger shards). Where the filesystem has no unnamed files
    /// (macOS, Windows, some network filesystems), a process killed before
    /// the renames leaves the hidden `.NAME.PID.N.tmp` files behind.
    /// A checkpoint already in `dir` is replaced: once the new index is
    /// written, the older checkpoint's shards that the new one did not
    /// overwrite are removed (those its index names, and named
    /// `*-NNNNN-of-NNNNN.safetensors`; nothing else is touched). A file
    /// named like a shard that no index in `dir` names is an
    /// [`ErrorKind::IndexUnnamedShard`] error before anything is written:
    /// it would make the new checkpoint fail
    /// [`Checkpoint::verify`](crate::Checkpoint::verify), and it is not
    /// known to be an old shard.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tensorsafe-sharded-doc-{}", std::process::id()));
    /// use tensorsafe::{Checkpoint, Dtype, TensorView, Writer, INDEX_FILE};
    /// let weights = [[1u8; 400], [2u8; 400], [3u8; 400]];
    /// let tensors = (0..3).map(|i| (format!("layer.{i}"), TensorView::new(Dtype::U8, &[400], &weights[i]).unwrap()));
    /// let files = Writer::new().sharded(tensors, &dir, 1000)?;
    /// assert_eq!(files, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
    /// assert!(dir.join(INDEX_FILE).exists());
    ///
    /// let checkpoint = Checkpoint::open_all(&dir)?; // index and shards agree
    /// checkpoint.verify()?;                          // total_size too, no stray shard
    /// assert_eq!(checkpoint.file_of("layer.2"), Some(files[1].as_str()));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sharded(
        mut self,
        tensors: impl IntoIterator<Item = (impl AsRef<str>, impl View)>,
        dir: impl AsRef<Path>,
        max_shard_bytes: u64,
    ) -> Result<Vec<String>> {
        let dir = dir.as_ref();
        self.check()?;
        let tensors: Vec<_> = tensors.into_iter().collect();
        let total = checked_total(&tensors)?;
        let shard_of = assign(
            tensors.iter().map(|(_, v)| v.data_len() as u64),
            max_shard_bytes,
        );
        let count = shard_of.last().map_or(0, |last| last + 1);
        std::fs::create_dir_all(dir).map_err(|e| Error::from(e).in_file(dir))?;
        let files: Vec<String> = (1..=count).map(|k| shard_name(k, count)).collect();
        let mut weight_map: BTreeMap<&str, &str> = BTreeMap::new();
        for ((name, _), &k) in tensors.iter().zip(&shard_of) {
            if weight_map.insert(name.as_ref(), &files[k]).is_some() {
                return Err(Error::new(ErrorKind::DuplicateTensor).with_tensor(name.as_ref()));
            }
        }
        let older = older_shards(dir, &files)?;
        let written = self.write_shards(&tensors, &shard_of, dir, &files, total)?;
        let placed = place(written)?;
        // An index in place whose directory sync failed: the new checkpoint
        // is complete (the older shards still go), but the error is said.
        let unsynced = write_index(dir, total, &weight_map, &placed)?;
        // Only now that the new index is committed are the older shards
        // nobody's: removing them earlier would break the older checkpoint
        // for as long as the new one is incomplete.
        remove_older(dir, &files, &older)?;
        unsynced.map_or(Ok(files), Err)
    }

    /// Writes every shard (not yet in place) as `files` (in `dir`), the
    /// tensors in shard `shard_of[i]`. Shards are runs of consecutive
    /// tensors (`assign` is greedy in order). Every shard is written
    /// before any is put in place, so a failed write leaves the directory
    /// (and a checkpoint already in it, whose shards may have the same
    /// names) as it was.
    fn write_shards(
        &mut self,
        tensors: &[(impl AsRef<str>, impl View)],
        shard_of: &[usize],
        dir: &Path,
        files: &[String],
        total: u64,
    ) -> Result<Vec<(AtomicFile, PathBuf)>> {
        let mut written = Vec::with_capacity(files.len());
        let (mut done, mut start) = (0u64, 0usize);
        for (k, file) in files.iter().enumerate() {
            let count = shard_of[start..].iter().take_while(|&&s| s == k).count();
            let members = &tensors[start..start + count];
            start += count;
            // Part of `total`, which did not overflow.
            let size = members
                .iter()
                .fold(0u64, |sum, (_, v)| sum.saturating_add(v.data_len() as u64));
            let shard = self.for_shard(done, total);
            let path = dir.join(file);
            let members = members.iter().map(|(n, v)| (n.as_ref(), v));
            written.push((shard.into_uncommitted(members, &path)?, path));
            done = done.saturating_add(size);
        }
        Ok(written)
    }

    /// A writer for one shard: the same layout and metadata, and progress
    /// reported against the whole checkpoint.
    fn for_shard(&mut self, before: u64, total: u64) -> Writer<'_> {
        let mut shard = Writer {
            alignment: self.alignment,
            metadata: self.metadata,
            progress: None,
        };
        if let Some(hook) = self.progress.as_mut() {
            shard = shard.progress(move |written, _| hook(before.saturating_add(written), total));
        }
        shard
    }
}

/// The tensors' total data length, every view checked before its length
/// is trusted and the lengths summed with a check: a view may claim
/// anything.
fn checked_total(tensors: &[(impl AsRef<str>, impl View)]) -> Result<u64> {
    let mut total = 0u64;
    for (name, view) in tensors {
        check_view(name.as_ref(), view)?;
        total = total.checked_add(view.data_len() as u64).ok_or_else(|| {
            Error::new(ErrorKind::Overflow)
                .with_tensor(name.as_ref())
                .with_detail("the tensors hold more than 2^64 bytes")
        })?;
    }
    Ok(total)
}

/// Puts every written shard in place: the shards put in place, and
/// whether each took an older file's name. A failure takes back those
/// already placed (as far as it can).
fn place(written: Vec<(AtomicFile, PathBuf)>) -> Result<Vec<(PathBuf, bool)>> {
    let mut placed: Vec<(PathBuf, bool)> = Vec::with_capacity(written.len());
    for (file, path) in written {
        let replaces = std::fs::symlink_metadata(&path).is_ok();
        let mut in_place = false;
        let committed = file.commit_placing(&mut in_place);
        if in_place {
            placed.push((path.clone(), replaces));
        }
        if let Err(e) = committed {
            return Err(take_back(&placed, e.in_file(&path)));
        }
    }
    Ok(placed)
}

/// Writes the index into `dir` and puts it in place. If that fails, the
/// `placed` shards are taken back, unless the index is in place and only
/// the directory sync failed: that error is returned as `Ok(Some(_))`.
fn write_index(
    dir: &Path,
    total: u64,
    weight_map: &BTreeMap<&str, &str>,
    placed: &[(PathBuf, bool)],
) -> Result<Option<Error>> {
    let path = dir.join(INDEX_FILE);
    let mut in_place = false;
    let mut write = || -> Result<()> {
        let mut index = AtomicFile::create(&path)?;
        index
            .write_all(&index_file::render(total, weight_map))
            .map_err(|e| Error::from(e).with_detail("writing"))?;
        index.commit_placing(&mut in_place)
    };
    match write() {
        Ok(()) => Ok(None),
        Err(e) if in_place => Ok(Some(e.in_file(&path))),
        Err(e) => Err(take_back(placed, e.in_file(&path))),
    }
}

/// Removes the `older` shards in `dir` that are not new shards (`files`).
fn remove_older(dir: &Path, files: &[String], older: &[String]) -> Result<()> {
    let new: Vec<_> = files.iter().map(|f| dir.join(f)).collect();
    for name in older {
        let old = dir.join(name);
        // On a filesystem that folds case or normalises names, an older
        // shard's name can lead to a new shard: that one stays.
        if new.iter().any(|n| same_file(n, &old)) {
            continue;
        }
        match std::fs::remove_file(&old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::from(e)
                    .with_detail(
                        "the new checkpoint is complete, but this shard of the \
                         checkpoint it replaced could not be removed; remove it by hand",
                    )
                    .in_file(&old))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    // Lengths a view claims past 2^64: tests/roundtrip.rs
    // (`sharded_lengths_past_u64_are_refused_before_writing`).
    use super::assign;
    #[cfg(target_os = "linux")]
    use super::*;

    /// Three shards of one 100-byte tensor each, `fill` bytes.
    #[cfg(target_os = "linux")]
    fn three(dir: &Path, fill: u8) -> Result<Vec<String>> {
        let data = [fill; 100];
        let tensors = (0..3).map(|i| {
            let view = crate::TensorView::new(crate::Dtype::U8, [100], &data).unwrap();
            (format!("t{i}"), view)
        });
        Writer::new().sharded(tensors, dir, 100)
    }

    /// A fresh directory for one test.
    #[cfg(target_os = "linux")]
    fn fresh(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tensorsafe-sharded-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_shard_in_place_whose_directory_sync_failed_is_taken_back() {
        let dir = fresh("dir-sync-shard");
        // The second shard's rename succeeds, the sync after it fails.
        crate::write::fault::fail_dir_sync_after(1, libc::EIO);
        let err = three(&dir, 1).unwrap_err();
        assert!(err.to_string().contains("syncing the directory"), "{err}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert!(
            left.is_empty(),
            "{:?}",
            left.iter().map(|e| e.path()).collect::<Vec<_>>()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn an_index_in_place_whose_directory_sync_failed_completes_the_checkpoint() {
        let dir = fresh("dir-sync-index");
        // An older checkpoint of other shard names.
        let data = [9u8; 100];
        let older = [(
            "old",
            crate::TensorView::new(crate::Dtype::U8, [100], &data).unwrap(),
        )];
        Writer::new().sharded(older, &dir, 1000).unwrap();
        // Three shard syncs pass; the index's fails after its rename.
        crate::write::fault::fail_dir_sync_after(3, libc::EIO);
        let err = three(&dir, 1).unwrap_err();
        assert!(
            err.to_string().contains("the new file is in place"),
            "{err}"
        );
        assert_eq!(err.path(), Some(dir.join(INDEX_FILE).as_path()));
        let checkpoint = crate::Checkpoint::open_all(&dir).unwrap();
        checkpoint.verify().unwrap();
        assert_eq!(checkpoint.files().len(), 3);
        assert!(
            !dir.join(shard_name(1, 1)).exists(),
            "the older shard stays"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn greedy_assignment() {
        assert_eq!(assign([600, 600, 300].into_iter(), 1000), [0, 1, 1]);
        assert_eq!(assign([2000, 0, 10].into_iter(), 1000), [0, 1, 1]);
        assert_eq!(assign([0, 2000, 10].into_iter(), 1000), [0, 0, 1]);
        assert_eq!(assign([0, 0].into_iter(), 1), [0, 0]);
        assert!(assign(std::iter::empty(), 1).is_empty());
    }
}
