//! Tensors whose bytes stay in their file until a writer asks for them,
//! so that `rewrite`, `shard` and `merge` hold one tensor in memory at a
//! time, not the model.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use tensorsafe::{Dtype, TensorInfo, View};

use crate::chunks::read_failure;
use crate::source::Shard;
use crate::Failure;

/// The files of a source, opened one at a time as the writer walks them in
/// order, and the first read error met, which a [`View`] cannot return:
/// the view gives the writer no bytes instead, which the writer refuses,
/// and [`Files::failure`] says why.
pub struct Files {
    paths: Vec<PathBuf>,
    /// The file open now, and its position in `paths`.
    open: RefCell<Option<(usize, File)>>,
    /// The file and what went wrong, for the first read that failed.
    error: RefCell<Option<(PathBuf, String)>>,
}

impl Files {
    pub fn new(shards: &[Shard<'_>]) -> Files {
        Files {
            paths: shards.iter().map(|s| s.path.clone()).collect(),
            open: RefCell::new(None),
            error: RefCell::new(None),
        }
    }

    /// Every tensor of `shards` (as given to [`Files::new`]), in file
    /// order, as a view that reads its bytes when asked.
    pub fn views<'s>(&'s self, shards: &'s [Shard<'s>]) -> Vec<(&'s str, FileTensor<'s>)> {
        shards
            .iter()
            .enumerate()
            .flat_map(|(file, shard)| {
                let start = shard.header.data_start();
                shard.header.iter().map(move |info| {
                    // Checked against the file's length: it fits.
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
            Some((path, why)) => Failure::unreadable(&path, &why),
            None => otherwise,
        }
    }

    /// Reads `buf.len()` bytes at `at` of file `i`, opening it (and closing
    /// the one before) if it is not the file open now.
    fn read(&self, i: usize, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let mut open = self.open.borrow_mut();
        let file = match open.take() {
            Some((now, file)) if now == i => file,
            _ => File::open(self.paths.get(i).ok_or(std::io::ErrorKind::NotFound)?)?,
        };
        let (_, file) = open.insert((i, file));
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(buf)
    }
}

/// One tensor of a source's file: its entry and where its bytes start.
pub struct FileTensor<'s> {
    files: &'s Files,
    /// The file's position in the source.
    file: usize,
    info: TensorInfo<'s>,
    at: u64,
}

impl FileTensor<'_> {
    fn read(&self) -> Result<Vec<u8>, String> {
        let mut buf = Vec::new();
        if self.data_len() == 0 {
            return Ok(buf);
        }
        buf.try_reserve_exact(self.data_len())
            .map_err(|e| format!("no memory for its {} bytes: {e}", self.data_len()))?;
        buf.resize(self.data_len(), 0);
        self.files
            .read(self.file, self.at, &mut buf)
            .map_err(|e| read_failure(&e, self.at, buf.len()))?;
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
            Err(why) => {
                let path = self.files.paths.get(self.file).cloned().unwrap_or_default();
                let why = format!("tensor {:?}: {why}", self.info.name());
                self.files.error.borrow_mut().get_or_insert((path, why));
                Cow::Borrowed(&[])
            }
        }
    }

    fn data_len(&self) -> usize {
        // Past the address space (32-bit), the read's reservation fails.
        usize::try_from(self.info.byte_len()).unwrap_or(usize::MAX)
    }
}
