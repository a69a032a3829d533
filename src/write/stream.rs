//! Writing a file whose tensors arrive as a stream of byte chunks.

use std::format;
use std::prelude::rust_2021::*;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::layout::{check_names, render_header, tensor_len, Entry};
use super::Writer;
use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};

/// A tensor announced to a [`StreamWriter`] before its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// The tensor's name.
    pub name: String,
    /// The element type.
    pub dtype: Dtype,
    /// The dimensions.
    pub shape: Vec<usize>,
}

impl Declaration {
    /// A declaration of `name` as a `dtype` tensor of `shape`.
    pub fn new(name: impl Into<String>, dtype: Dtype, shape: impl Into<Vec<usize>>) -> Self {
        Declaration {
            name: name.into(),
            dtype,
            shape: shape.into(),
        }
    }
}

/// Writes a safetensors file whose tensor bytes arrive in chunks, holding
/// only the header in memory.
///
/// Declare every tensor first; the header is written at once. Then give
/// each tensor's bytes with [`StreamWriter::write`], in declaration order,
/// in chunks of any size. The writer counts bytes exactly: too many bytes
/// for a tensor, bytes for a tensor out of order, or [`StreamWriter::finish`]
/// before every tensor is complete are errors that name the tensor. Such
/// mistakes are refused before any byte is written, so the writer can go
/// on; an I/O error cannot be undone (part of the chunk may be written), so
/// after one every call returns an error and the file is never finished.
/// Tensors are laid out in declaration order (not the reference writer's
/// order, which would need every tensor before the first byte).
///
/// Made by [`Writer::stream`] or [`Writer::stream_to_file`].
///
/// ```
/// use tensorsafe::{Declaration, Dtype, SafeTensors, Writer};
/// let mut out = Vec::new();
/// let mut writer = Writer::new().stream(
///     &mut out,
///     [Declaration::new("a", Dtype::U8, [4]), Declaration::new("b", Dtype::U16, [1])],
/// )?;
/// writer.write("a", &[1, 2])?;
/// writer.write("a", &[3, 4])?;
/// writer.write("b", &7u16.to_le_bytes())?;
/// writer.finish()?;
/// let st = SafeTensors::deserialize(&out)?;
/// assert_eq!(st.tensor("a")?.data(), &[1, 2, 3, 4]);
/// # Ok::<(), tensorsafe::Error>(())
/// ```
pub struct StreamWriter<'a, W: Write> {
    out: W,
    tensors: Vec<(String, u64)>,
    current: usize,
    written: u64,
    /// Bytes of every tensor, and of all tensors written so far.
    total: u64,
    done: u64,
    writer: Writer<'a>,
    /// The file being written, to name in errors, when known.
    path: Option<PathBuf>,
    /// The first I/O error: the output is spoiled for good.
    failed: Option<io::Error>,
}

impl<W: Write> std::fmt::Debug for StreamWriter<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("tensors", &self.tensors.len())
            .field("current", &self.tensors.get(self.current).map(|t| &t.0))
            .field("written", &self.done)
            .field("total", &self.total)
            .finish()
    }
}

impl<'a, W: Write> StreamWriter<'a, W> {
    /// Writes the header for `declared` into `out` and waits for their bytes.
    pub(super) fn start(
        writer: Writer<'a>,
        mut out: W,
        declared: Vec<Declaration>,
    ) -> Result<Self> {
        writer.check()?;
        check_names(declared.len(), |i| declared[i].name.as_str())?;
        let lens = declared
            .iter()
            .map(|d| tensor_len(&d.name, d.dtype, &d.shape))
            .collect::<Result<Vec<u64>>>()?;
        let entries = declared.iter().zip(&lens).map(|(d, &len)| Entry {
            name: &d.name,
            dtype: d.dtype,
            shape: &d.shape,
            len,
        });
        let (header, total) = render_header(entries, writer.metadata, writer.alignment)?;
        out.write_all(&header)
            .map_err(|e| Error::from(e).with_detail("writing the header"))?;
        let tensors = declared.into_iter().map(|d| d.name).zip(lens).collect();
        Ok(StreamWriter {
            out,
            tensors,
            current: 0,
            written: 0,
            total,
            done: 0,
            writer,
            path: None,
            failed: None,
        })
    }

    /// Names `path` in the errors to come.
    pub(super) fn at_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// `e`, naming the file when known.
    fn located(&self, e: Error) -> Error {
        match &self.path {
            Some(path) => e.in_file(path),
            None => e,
        }
    }

    /// Refuses to go on after an I/O error.
    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(e) => Err(self.located(
                Error::from(super::replay(e))
                    .with_detail("writing failed earlier; the file cannot be completed"),
            )),
            None => Ok(()),
        }
    }

    /// Skips past complete tensors (and empty ones) to the one bytes go to.
    fn settle(&mut self) {
        while let Some((_, len)) = self.tensors.get(self.current) {
            if self.written < *len {
                break;
            }
            self.current += 1;
            self.written = 0;
        }
    }

    /// Appends `bytes` to tensor `name`, which must be the tensor being
    /// written or, once that one is complete, the next declared one.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.check()?;
        self.write_unchecked(name, bytes)
            .map_err(|e| self.located(e))
    }

    fn write_unchecked(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() && self.tensors.iter().any(|(n, _)| n == name) {
            return Ok(());
        }
        self.settle();
        let Some((expected, len)) = self.tensors.get(self.current) else {
            return Err(Error::new(ErrorKind::StreamOrder)
                .with_tensor(name)
                .with_detail("every declared tensor is already complete"));
        };
        if expected != name {
            return Err(self.out_of_order(name));
        }
        let (len, written) = (*len, self.written);
        // `settle` leaves `written < len`.
        let room = len.saturating_sub(written);
        let count = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if count > room {
            return Err(Error::new(ErrorKind::StreamOverflow)
                .with_tensor(name)
                .with_detail(format!(
                    "{} more bytes for a tensor of {len} bytes with {room} left",
                    bytes.len()
                )));
        }
        if let Err(e) = self.out.write_all(bytes) {
            self.failed = Some(super::replay(&e));
            return Err(Error::from(e)
                .with_tensor(name)
                .with_detail("writing tensor data"));
        }
        // `count <= room`, and `done` stays at most `total`.
        self.written = written.saturating_add(count);
        self.done = self.done.saturating_add(count);
        self.writer.report(self.done, self.total);
        Ok(())
    }

    /// The error for bytes given for `name` while the current tensor is
    /// another: that one is short if it has bytes already, else `name`
    /// comes out of order or was never declared.
    fn out_of_order(&self, name: &str) -> Error {
        let (expected, len) = &self.tensors[self.current];
        if self.written > 0 {
            let detail = format!(
                "got {} of {len} bytes before bytes for {name:?}",
                self.written
            );
            return Error::new(ErrorKind::StreamShort)
                .with_tensor(expected.as_str())
                .with_detail(detail);
        }
        let detail = if self.tensors.iter().any(|(n, _)| n == name) {
            format!("{expected:?} comes next, not {name:?}")
        } else {
            format!("{name:?} was not declared; {expected:?} comes next")
        };
        Error::new(ErrorKind::StreamOrder)
            .with_tensor(name)
            .with_detail(detail)
    }

    /// Checks that every tensor is complete, flushes, and returns the sink.
    pub fn finish(mut self) -> Result<W> {
        self.check()?;
        self.settle();
        if let Some((name, len)) = self.tensors.get(self.current) {
            return Err(self.located(
                Error::new(ErrorKind::StreamShort)
                    .with_tensor(name.as_str())
                    .with_detail(format!(
                        "finished with {} of {len} bytes written",
                        self.written
                    )),
            ));
        }
        if let Err(e) = self.out.flush() {
            return Err(self.located(Error::from(e).with_detail("writing")));
        }
        Ok(self.out)
    }
}
