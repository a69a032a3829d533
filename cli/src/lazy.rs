//! Tensors whose bytes stay in their file until a writer asks for them,
//! so that `rewrite`, `shard` and `merge` hold one tensor in memory at a
//! time, not the model.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use tensorsafe::{Dtype, TensorInfo, View};

use crate::source::Shard;
use crate::Failure;

/// The open files of a source and the first read error met, which a
/// [`View`] cannot return: the view gives the writer no bytes instead,
/// which the writer refuses, and [`Files::failure`] says why.
pub struct Files {
    files: Vec<(PathBuf, File)>,
    error: RefCell<Option<(PathBuf, std::io::Error)>>,
}

impl Files {
    /// Opens every shard.
    pub fn open(shards: &[Shard<'_>]) -> Result<Files, Failure> {
        let files = shards
            .iter()
            .map(|s| {
                let file = File::open(&s.path)
                    .map_err(|e| Failure::unreadable(&s.path, &e.to_string()))?;
                Ok((s.path.clone(), file))
            })
            .collect::<Result<_, Failure>>()?;
        Ok(Files {
            files,
            error: RefCell::new(None),
        })
    }

    /// Every tensor of `shards` (opened as `self`), in file order, as a
    /// view that reads its bytes when asked.
    pub fn views<'s>(&'s self, shards: &'s [Shard<'s>]) -> Vec<(&'s str, FileTensor<'s>)> {
        shards
            .iter()
            .zip(&self.files)
            .flat_map(|(shard, file)| {
                let start = shard.header.data_start();
                shard.header.iter().map(move |info| {
                    let at = start.saturating_add(info.data_offsets().0);
                    let view = FileTensor {
                        files: self,
                        file,
                        info,
                        at,
                    };
                    (info.name(), view)
                })
            })
            .collect()
    }

    /// What a failed write means: the read error a view met, if any (the
    /// input is unreadable), or else `otherwise`.
    pub fn failure(&self, otherwise: Failure) -> Failure {
        match self.error.borrow_mut().take() {
            Some((path, e)) => Failure::unreadable(&path, &e.to_string()),
            None => otherwise,
        }
    }
}

/// One tensor of an open file: its entry and where its bytes start.
pub struct FileTensor<'s> {
    files: &'s Files,
    /// The file's path and handle.
    file: &'s (PathBuf, File),
    info: TensorInfo<'s>,
    at: u64,
}

impl FileTensor<'_> {
    fn read(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(self.data_len())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::OutOfMemory, e))?;
        buf.resize(self.data_len(), 0);
        let mut file = &self.file.1;
        file.seek(SeekFrom::Start(self.at))?;
        file.read_exact(&mut buf)?;
        Ok(buf)
    }
}

impl View for FileTensor<'_> {
    fn dtype(&self) -> Dtype {
        self.info.dtype()
    }

    fn shape(&self) -> &[usize] {
        self.info.shape()
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match self.read() {
            Ok(bytes) => Cow::Owned(bytes),
            Err(e) => {
                let path = self.file.0.clone();
                self.files.error.borrow_mut().get_or_insert((path, e));
                Cow::Borrowed(&[])
            }
        }
    }

    fn data_len(&self) -> usize {
        // Past the address space (32-bit), the read's reservation fails.
        usize::try_from(self.info.byte_len()).unwrap_or(usize::MAX)
    }
}
