//! Writing a sharded checkpoint: [`Writer::sharded`].

use std::prelude::rust_2021::*;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::index_file::{self, shard_name, INDEX_FILE};
use crate::error::{Error, ErrorKind, Result};
use crate::view::View;
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

/// The bytes of tensor data in `views`, summed with a check: a [`View`]
/// says its own length, which may be anything.
fn total_len<'v, V: View + 'v>(mut views: impl Iterator<Item = &'v V>) -> Result<u64> {
    views.try_fold(0u64, |sum, view| {
        u64::try_from(view.data_len())
            .ok()
            .and_then(|len| sum.checked_add(len))
            .ok_or_else(|| {
                Error::new(ErrorKind::Overflow).with_detail("tensor data larger than 2^64 bytes")
            })
    })
}

impl Writer<'_> {
    /// Splits `tensors` into shards of at most `max_shard_bytes` of tensor
    /// data (greedy, in the given order; a larger tensor gets a shard of its
    /// own) and writes them into `dir` as `model-0000k-of-0000n.safetensors`,
    /// each atomically with this writer's options, then
    /// `model.safetensors.index.json` last (sorted keys, 2-space indent), so
    /// whoever finds the index finds every shard complete. Returns the shard
    /// file names. No tensors, no shards: the index maps nothing.
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
        let tensors: Vec<_> = tensors.into_iter().collect();
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
        let total = total_len(tensors.iter().map(|(_, v)| v))?;
        // Shards are runs of consecutive tensors (`assign` is greedy in order).
        let (mut done, mut start) = (0u64, 0usize);
        for (k, file) in files.iter().enumerate() {
            let count = shard_of[start..].iter().take_while(|&&s| s == k).count();
            let members = &tensors[start..start + count];
            start += count;
            let size = total_len(members.iter().map(|(_, v)| v))?;
            let shard = self.for_shard(done, total);
            shard.to_file(members.iter().map(|(n, v)| (n.as_ref(), v)), dir.join(file))?;
            // At most `total`, which did not overflow.
            done = done.saturating_add(size);
        }
        let path = dir.join(INDEX_FILE);
        let write_index = || -> Result<()> {
            let mut index = AtomicFile::create(&path)?;
            index
                .write_all(&index_file::render(total, &weight_map))
                .map_err(|e| Error::from(e).with_detail("writing"))?;
            index.commit()
        };
        write_index().map_err(|e| e.in_file(&path))?;
        Ok(files)
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

#[cfg(test)]
mod tests {
    use super::assign;
    use crate::{Dtype, ErrorKind, View, Writer};
    use std::borrow::Cow;

    /// A view that claims more bytes than any file can hold.
    struct Huge;

    impl View for Huge {
        fn dtype(&self) -> Dtype {
            Dtype::U8
        }
        fn shape(&self) -> &[usize] {
            &[usize::MAX]
        }
        fn data(&self) -> Cow<'_, [u8]> {
            Cow::Borrowed(&[])
        }
        fn data_len(&self) -> usize {
            usize::MAX
        }
    }

    #[test]
    fn sizes_that_overflow_are_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(std::format!(
            "tensorsafe-unit-sharded-overflow-{}",
            std::process::id()
        ));
        let err = Writer::new()
            .sharded([("a", Huge), ("b", Huge), ("c", Huge)], &dir, 1)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Overflow);
        let written = std::fs::read_dir(&dir).unwrap().count();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(written, 0);
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
