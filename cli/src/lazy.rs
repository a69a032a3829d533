//! Tensors whose bytes stay in their file until a writer copies them, so
//! that `rewrite`, `shard` and `merge` copy file to file
//! ([`View::file_range`]: `copy_file_range` on Linux, else writes from a
//! read-only map, else reads, 8 MiB at a time) and never hold the model in
//! memory. From a URL, each tensor is fetched (ranged reads, in parallel
//! parts) when the writer reaches it, small neighbours together: memory for
//! one tensor, and up to 16 MiB a file of small tensors fetched ahead.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use tensorsafe::{Dtype, TensorInfo, View};

use crate::chunks::read_failure;
use crate::source::{Shard, Source};
use crate::Failure;

/// The files of a source, each opened when the writer first reaches one of
/// its tensors and kept open, and the first error met opening or reading
/// one, which a [`View`] cannot return: the view gives the writer no bytes
/// instead, which the writer refuses, and [`Files::failure`] says why.
pub struct Files<'a> {
    /// Each file's path (or URL).
    paths: Vec<PathBuf>,
    /// A reader of each file when they are not local (each planned to
    /// read its tensors in the writer's order).
    #[cfg(feature = "remote")]
    remote: Option<Vec<RefCell<crate::remote::RemoteReader<'a>>>>,
    #[cfg(not(feature = "remote"))]
    remote: std::marker::PhantomData<&'a ()>,
    /// Each file, once opened (`None` if it could not be).
    open: Vec<OnceCell<Option<File>>>,
    /// The file and what went wrong, for the first read that failed.
    error: RefCell<Option<(PathBuf, String)>>,
}

impl<'a> Files<'a> {
    /// The files of `source`, whose [`Source::shards`] are `shards`, to
    /// be written by a writer with `alignment`.
    pub fn new(source: &'a Source, shards: &[Shard<'_>], alignment: Option<u64>) -> Files<'a> {
        Files {
            paths: shards.iter().map(|s| s.path.clone()).collect(),
            #[cfg(feature = "remote")]
            remote: match source {
                Source::Remote(remote) => Some(
                    shards
                        .iter()
                        .enumerate()
                        .map(|(i, shard)| {
                            RefCell::new(remote.reader(i, writer_order(shard, alignment)))
                        })
                        .collect(),
                ),
                _ => None,
            },
            #[cfg(not(feature = "remote"))]
            remote: {
                let _ = (source, alignment);
                std::marker::PhantomData
            },
            open: shards.iter().map(|_| OnceCell::new()).collect(),
            error: RefCell::new(None),
        }
    }

    /// Every tensor of `shards` (as given to [`Files::new`]), in file
    /// order, as a view that reads its bytes when asked.
    pub fn views<'s>(&'s self, shards: &'s [Shard<'s>]) -> Vec<(&'s str, FileTensor<'s, 'a>)> {
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

    /// What a failed write to `output` means, for a write fed by views of
    /// `shards`: the read error a view met, if any; a source file that
    /// changed while it was copied (named by the tensor the error names);
    /// or else a failure to write `output`.
    pub fn write_failure(
        &self,
        shards: &[Shard<'_>],
        output: &std::path::Path,
        error: &tensorsafe::Error,
    ) -> Failure {
        if error.kind() == tensorsafe::ErrorKind::FileChanged {
            let source = error
                .tensor()
                .and_then(|name| shards.iter().find(|s| s.header.get(name).is_some()))
                .or(shards.first());
            if let Some(shard) = source {
                return self.failure(Failure::unreadable(&shard.path, &crate::describe(error)));
            }
        }
        self.failure(Failure::from_write_error(output, error))
    }

    /// File `i`, opened the first time it is asked for; `None` (the error
    /// kept for [`Files::failure`]) if it cannot be opened.
    fn file(&self, i: usize) -> Option<&File> {
        #[cfg(feature = "remote")]
        if self.remote.is_some() {
            return None;
        }
        let path = self.paths.get(i)?;
        self.open
            .get(i)?
            .get_or_init(|| match File::open(path) {
                Ok(file) => Some(file),
                Err(e) => {
                    self.error
                        .borrow_mut()
                        .get_or_insert((path.clone(), e.to_string()));
                    None
                }
            })
            .as_ref()
    }

    /// Reads `buf.len()` bytes at `at` of file `i`.
    fn read(&self, i: usize, at: u64, buf: &mut [u8]) -> Result<(), String> {
        #[cfg(feature = "remote")]
        if let Some(readers) = &self.remote {
            let reader = readers.get(i).ok_or("no such shard")?;
            return reader.borrow_mut().read_into(at, buf);
        }
        let mut file = self.file(i).ok_or("cannot be opened")?;
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.read_exact(buf))
            .map_err(|e| read_failure(&e, at, buf.len()))
    }
}

/// The order in which a [`tensorsafe::Writer`] lays tensors out, as its
/// documentation gives it: with an alignment, the largest power of two
/// dividing a tensor's size (capped at the alignment) first; then dtype
/// descending, then name. `key` gives a tensor's name, dtype and size.
pub fn writer_sort<T>(
    tensors: &mut [T],
    alignment: Option<u64>,
    key: impl Fn(&T) -> (&str, Dtype, u64),
) {
    let factor = |len: u64| match alignment {
        Some(cap) if len == 0 => cap,
        Some(cap) => (1u64 << len.trailing_zeros()).min(cap),
        None => 0,
    };
    tensors.sort_by(|x, y| {
        let ((xn, xd, xl), (yn, yd, yl)) = (key(x), key(y));
        factor(yl)
            .cmp(&factor(xl))
            .then_with(|| yd.cmp(&xd))
            .then_with(|| xn.cmp(yn))
    });
}

/// The byte ranges of `shard`'s tensors in the order a writer with
/// `alignment` asks for them ([`writer_sort`]), so that a remote file is
/// read ahead in that order.
#[cfg(feature = "remote")]
fn writer_order(shard: &Shard<'_>, alignment: Option<u64>) -> Vec<std::ops::Range<u64>> {
    let mut tensors: Vec<TensorInfo<'_>> = shard.header.iter().collect();
    writer_sort(&mut tensors, alignment, |t| {
        (t.name(), t.dtype(), t.byte_len())
    });
    let start = shard.header.data_start();
    tensors
        .iter()
        .filter(|t| t.byte_len() > 0)
        .map(|t| {
            // Checked against the file's length: it fits.
            let (begin, end) = t.data_offsets();
            start.saturating_add(begin)..start.saturating_add(end)
        })
        .collect()
}

/// One tensor of a source's file: its entry and where its bytes start.
pub struct FileTensor<'s, 'a> {
    files: &'s Files<'a>,
    /// The file's position in the source.
    file: usize,
    info: TensorInfo<'s>,
    at: u64,
}

impl FileTensor<'_, '_> {
    fn read(&self) -> Result<Vec<u8>, String> {
        let mut buf = Vec::new();
        if self.data_len() == 0 {
            return Ok(buf);
        }
        buf.try_reserve_exact(self.data_len())
            .map_err(|e| format!("no memory for its {} bytes: {e}", self.data_len()))?;
        buf.resize(self.data_len(), 0);
        self.files.read(self.file, self.at, &mut buf)?;
        Ok(buf)
    }
}

impl View for FileTensor<'_, '_> {
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

    /// The bytes in the source file: a writer into a file copies them file
    /// to file. `None` if the file cannot be opened (then `data` fails and
    /// says why), or is not local (then `data` fetches them).
    fn file_range(&self) -> Option<(&File, u64)> {
        Some((self.files.file(self.file)?, self.at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_sort_is_the_order_the_writer_lays_tensors_out() {
        let bytes = vec![0u8; 4096];
        // Sizes with different power-of-two factors, dtypes and names.
        // "c" and "k": one dtype, one power-of-two factor (16), so only
        // their names order them.
        let specs: [(&str, Dtype, usize); 9] = [
            ("k", Dtype::F32, 4 * 4),
            ("b", Dtype::U8, 3),
            ("a", Dtype::U8, 64),
            ("c", Dtype::F32, 4 * 12),
            ("d", Dtype::F32, 4 * 256),
            ("e", Dtype::F16, 2 * 5),
            ("f", Dtype::F16, 2 * 2048),
            ("g", Dtype::I64, 0),
            ("h", Dtype::BF16, 2 * 96),
        ];
        for alignment in [None, Some(64), Some(4096)] {
            let views: Vec<(&str, tensorsafe::TensorView<'_>)> = specs
                .iter()
                .map(|&(name, dtype, len)| {
                    let n = len * 8 / dtype.bits();
                    (
                        name,
                        tensorsafe::TensorView::new(dtype, [n], &bytes[..len]).unwrap(),
                    )
                })
                .collect();
            let mut writer = tensorsafe::Writer::new();
            if let Some(n) = alignment {
                writer = writer.alignment(n);
            }
            let file = writer.to_vec(views).unwrap();
            let header = tensorsafe::Header::parse(&file).unwrap();
            let mut written: Vec<TensorInfo<'_>> = header.iter().collect();
            written.sort_by_key(|t| (t.data_offsets(), t.byte_len() > 0));
            let mut sorted: Vec<TensorInfo<'_>> = header.iter().collect();
            writer_sort(&mut sorted, alignment, |t| {
                (t.name(), t.dtype(), t.byte_len())
            });
            // Empty tensors share an offset with their neighbour: compare
            // the tensors with bytes.
            let names = |ts: &[TensorInfo<'_>]| -> Vec<String> {
                ts.iter()
                    .filter(|t| t.byte_len() > 0)
                    .map(|t| t.name().to_owned())
                    .collect()
            };
            assert_eq!(names(&sorted), names(&written), "{alignment:?}");
        }
    }

    #[test]
    fn a_source_that_changed_while_copied_is_unreadable_not_unwritable() {
        let header = |name: &str| {
            let empty = tensorsafe::TensorView::new(Dtype::U8, [0], &[]).unwrap();
            let bytes = tensorsafe::serialize([(name, empty)], None).unwrap();
            tensorsafe::Header::parse(&bytes).unwrap()
        };
        let (one, two) = (header("a"), header("b"));
        let shards = [
            Shard {
                path: "one.safetensors".into(),
                header: &one,
            },
            Shard {
                path: "two.safetensors".into(),
                header: &two,
            },
        ];
        let source = Source::File {
            path: "one.safetensors".into(),
            header: header("a"),
        };
        let files = Files::new(&source, &shards, None);
        let out = std::path::Path::new("out.safetensors");
        let changed = tensorsafe::Error::new(tensorsafe::ErrorKind::FileChanged).with_tensor("b");
        let failure = files.write_failure(&shards, out, &changed);
        assert_eq!(failure.code, 2);
        assert!(
            failure.lines[0].starts_with("two.safetensors: cannot read:")
                && failure.lines[0].contains("changed"),
            "{:?}",
            failure.lines
        );
        // Any other error is about the output.
        let io = tensorsafe::Error::from(std::io::Error::from_raw_os_error(28));
        let failure = files.write_failure(&shards, out, &io);
        assert!(
            failure.lines[0].starts_with("out.safetensors: cannot write"),
            "{:?}",
            failure.lines
        );
    }
}
