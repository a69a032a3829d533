//! Writing: one builder, [`Writer`], that carries the options (layout,
//! metadata, a progress hook) to every destination: memory, any
//! `io::Write`, a file replaced atomically, a stream of chunks, or a
//! sharded checkpoint. [`serialize`] and [`serialize_to_file`] are the
//! reference crate's two entry points, with the default options.

#[cfg(feature = "std")]
mod atomic;
#[cfg(feature = "std")]
mod copy;
pub(crate) mod layout;
#[cfg(feature = "std")]
mod stream;

#[cfg(all(test, feature = "std", target_os = "linux"))]
pub(crate) use atomic::fault;
#[cfg(feature = "std")]
pub use atomic::AtomicFile;
#[cfg(feature = "std")]
pub use copy::FileView;
#[cfg(feature = "std")]
pub use stream::{Declaration, StreamWriter};

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use core::fmt;
#[cfg(feature = "std")]
use std::io::Write;
#[cfg(feature = "std")]
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::header::Metadata;
use crate::view::View;

/// The largest alignment [`Writer::alignment`] accepts: 1 MiB.
pub const MAX_ALIGNMENT: u64 = 1 << 20;

/// Tensor bytes are written (or copied from a file), and progress
/// reported, in pieces of this size.
const CHUNK: usize = 8 << 20;

/// The progress hook: called with (bytes of tensor data written so far,
/// bytes in all). `Send`, so a writer holding one can move to a thread.
pub(crate) type Progress<'a> = Box<dyn FnMut(u64, u64) + Send + 'a>;

/// Writes safetensors files: set the options, then pick a destination.
///
/// The default layout is the reference writer's, byte for byte: tensors
/// sorted by dtype (descending) then name, the header padded with spaces
/// to a multiple of 8. With [`Writer::alignment`] the data section starts
/// at a multiple of the alignment and tensors are ordered so that each
/// lands on the largest power of two dividing its size (up to the
/// alignment), with no holes: the file stays valid for every reader.
///
/// Names must be unique and must not be `__metadata__`; every view's data
/// must be exactly shape x dtype bytes, and [`View::data`] must return
/// [`View::data_len`] bytes. A failed write to a file leaves any existing
/// file at the path as it was.
///
/// ```
/// use tensorsafe::{Dtype, Metadata, SafeTensors, TensorView, Writer};
/// let (a, b) = ([0u8; 3], [0u8; 64]);
/// let tensors = [
///     ("odd", TensorView::new(Dtype::U8, [3], &a)?),
///     ("big", TensorView::new(Dtype::U8, [64], &b)?),
/// ];
/// let mut metadata = Metadata::new();
/// metadata.insert("format".into(), "pt".into());
/// let mut seen = 0;
/// let bytes = Writer::new()
///     .alignment(64)
///     .metadata(&metadata)
///     .progress(|written, _total| seen = written)
///     .to_vec(tensors)?;
/// assert_eq!(seen, 67);
/// let st = SafeTensors::deserialize(&bytes)?;
/// assert_eq!(st.header().data_start() % 64, 0);
/// assert_eq!(st.header().get("big").unwrap().data_offsets(), (0, 64));
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Default)]
pub struct Writer<'a> {
    pub(crate) alignment: Option<u64>,
    pub(crate) metadata: Option<&'a Metadata>,
    pub(crate) progress: Option<Progress<'a>>,
}

impl fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("alignment", &self.alignment)
            .field("metadata", &self.metadata)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl<'a> Writer<'a> {
    /// A writer with the reference layout, no metadata and no progress hook.
    pub fn new() -> Self {
        Writer::default()
    }

    /// Aligns the data section and the tensors to `alignment` bytes where
    /// their sizes allow. Must be a power of two up to [`MAX_ALIGNMENT`]:
    /// any other value is reported as [`ErrorKind::InvalidAlignment`] by the
    /// method that ends the chain ([`Writer::to_vec`], [`Writer::to_file`],
    /// [`Writer::stream`], ...), before anything is written.
    ///
    /// ```
    /// use tensorsafe::{ErrorKind, TensorView, Writer};
    /// let w = TensorView::from_slice([2], &[1u8, 2])?;
    /// let err = Writer::new().alignment(3).to_vec([("w", &w)]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidAlignment);
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn alignment(mut self, alignment: u64) -> Self {
        self.alignment = Some(alignment);
        self
    }

    /// Fails unless the alignment asked for is one [`Writer::alignment`]
    /// accepts; every method that ends the chain starts here.
    pub(crate) fn check(&self) -> Result<()> {
        match self.alignment {
            Some(a) if !a.is_power_of_two() || a > MAX_ALIGNMENT => {
                Err(Error::new(ErrorKind::InvalidAlignment).with_detail(format!("got {a}")))
            }
            _ => Ok(()),
        }
    }

    /// The `__metadata__` to write (keys sorted); `None` writes none.
    pub fn metadata(mut self, metadata: impl Into<Option<&'a Metadata>>) -> Self {
        self.metadata = metadata.into();
        self
    }

    /// Calls `hook(written, total)` as tensor bytes are written (at least
    /// once per tensor and every 8 MiB), with the bytes of tensor data
    /// written so far and in all.
    ///
    /// Every progress hook of the crate, for writing and for loading, has
    /// this one shape: `impl FnMut(u64, u64) + Send` called with (bytes
    /// done, bytes in all). `FnMut`, so a hook can count or update state it
    /// owns or borrows mutably; `Send`, so the writer (or load) holding it
    /// can move to another thread or live across an `.await` in a spawned
    /// task.
    ///
    /// ```
    /// use tensorsafe::{TensorView, Writer};
    /// let w = TensorView::from_slice([4], &[1.0f32, 2.0, 3.0, 4.0])?;
    /// let mut calls = 0;
    /// let mut last = (0, 0);
    /// Writer::new()
    ///     .progress(|done, total| {
    ///         calls += 1;
    ///         last = (done, total);
    ///     })
    ///     .to_vec([("w", &w)])?;
    /// assert_eq!((calls, last), (1, (16, 16)));
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn progress(mut self, hook: impl FnMut(u64, u64) + Send + 'a) -> Self {
        self.progress = Some(Box::new(hook));
        self
    }

    /// The file, in memory.
    pub fn to_vec(
        mut self,
        tensors: impl IntoIterator<Item = (impl AsRef<str>, impl View)>,
    ) -> Result<Vec<u8>> {
        let layout = layout::layout(tensors.into_iter().collect(), &self)?;
        let total = usize::try_from(layout.data_len)
            .ok()
            .and_then(|d| d.checked_add(layout.header.len()))
            .ok_or_else(|| {
                Error::new(ErrorKind::Overflow).with_detail("file larger than memory")
            })?;
        let mut out = Vec::new();
        out.try_reserve_exact(total).map_err(|e| {
            Error::new(ErrorKind::Overflow).with_detail(format!("a file of {total} bytes: {e}"))
        })?;
        self.write_layout(&layout, &mut out)?;
        Ok(out)
    }

    #[cfg(feature = "std")]
    /// The file, into any writer (not atomic: on error, `out` holds part of
    /// a file). The writer is not flushed.
    pub fn to_writer(
        mut self,
        tensors: impl IntoIterator<Item = (impl AsRef<str>, impl View)>,
        mut out: impl Write,
    ) -> Result<()> {
        let layout = layout::layout(tensors.into_iter().collect(), &self)?;
        self.write_layout(&layout, &mut IoSink(&mut out))
    }

    #[cfg(feature = "std")]
    /// The file, streamed into a temporary file beside `path` that replaces
    /// `path` only once complete and synced ([`AtomicFile`]). Memory use is
    /// the header plus one buffer; tensor bytes are written as they come
    /// from [`View::data`], or, for a view whose bytes are in a file
    /// ([`View::file_range`], such as a [`FileView`]), copied file to file
    /// (`copy_file_range` on Linux, else writes from a read-only map of
    /// the source range, else positioned reads, 8 MiB at a time).
    ///
    /// On any error (an invalid tensor, a failed write) nothing is
    /// committed: the file at `path` stays as it was. The new file keeps
    /// the replaced one's permissions and owner, and a `path` that is a
    /// symbolic link is written through (see [`AtomicFile`]). Errors name
    /// `path`; a failed write says it was writing.
    pub fn to_file(
        self,
        tensors: impl IntoIterator<Item = (impl AsRef<str>, impl View)>,
        path: impl AsRef<Path>,
    ) -> Result<()> {
        let path = path.as_ref();
        let file = self.into_uncommitted(tensors, path)?;
        file.commit().map_err(|e| e.in_file(path))
    }

    #[cfg(feature = "std")]
    /// [`Writer::to_file`] up to the commit: the file written and its
    /// buffer freed, to be put in place by [`AtomicFile::commit`].
    pub(crate) fn into_uncommitted(
        mut self,
        tensors: impl IntoIterator<Item = (impl AsRef<str>, impl View)>,
        path: &Path,
    ) -> Result<AtomicFile> {
        let result = (|| {
            let layout = layout::layout(tensors.into_iter().collect(), &self)?;
            let mut file = AtomicFile::create(path)?;
            self.write_layout(&layout, &mut FileSink(&mut file))?;
            file.seal()?;
            Ok(file)
        })();
        result.map_err(|e: Error| e.in_file(path))
    }

    #[cfg(feature = "std")]
    /// A [`StreamWriter`] into `out`: the header for `tensors` is written
    /// now, their bytes come later in chunks. Tensors are laid out in
    /// declaration order; an alignment aligns the data section.
    pub fn stream<W: Write>(
        self,
        out: W,
        tensors: impl IntoIterator<Item = Declaration>,
    ) -> Result<StreamWriter<'a, W>> {
        StreamWriter::start(self, out, tensors.into_iter().collect())
    }

    #[cfg(feature = "std")]
    /// [`Writer::stream`] into a file that replaces `path` only when
    /// `finish()?.commit()` succeeds ([`AtomicFile`]). After a failed
    /// write, every later call returns an error and nothing is committed.
    /// Errors name `path`.
    pub fn stream_to_file(
        self,
        path: impl AsRef<Path>,
        tensors: impl IntoIterator<Item = Declaration>,
    ) -> Result<StreamWriter<'a, AtomicFile>> {
        let path = path.as_ref();
        self.check().map_err(|e| e.in_file(path))?;
        let file = AtomicFile::create(path)?;
        self.stream(file, tensors)
            .map(|stream| stream.at_path(path))
            .map_err(|e| e.in_file(path))
    }

    /// Writes the header, then each tensor's bytes: copied from its file
    /// for a view whose bytes are in one ([`View::file_range`]), or else
    /// as its view yields them.
    fn write_layout<S: AsRef<str>, V: View>(
        &mut self,
        layout: &layout::Layout<S, V>,
        out: &mut impl Sink,
    ) -> Result<()> {
        out.put(&layout.header)?;
        let mut written = 0;
        for (_name, view) in &layout.tensors {
            #[cfg(feature = "std")]
            if let Some((file, offset)) = view.file_range() {
                let len = view.data_len() as u64;
                let (before, total) = (written, layout.data_len);
                out.copy_from(file, offset, len, &mut |done| {
                    self.report(before + done, total);
                })
                .map_err(|e| e.with_tensor(_name.as_ref()))?;
                written += len;
                if len == 0 {
                    self.report(written, total);
                }
                continue;
            }
            let data = checked_data(view)?;
            for chunk in data.chunks(CHUNK) {
                out.put(chunk)?;
                written += chunk.len() as u64;
                self.report(written, layout.data_len);
            }
            if data.is_empty() {
                self.report(written, layout.data_len);
            }
        }
        Ok(())
    }

    /// Calls the progress hook, if there is one.
    pub(crate) fn report(&mut self, written: u64, total: u64) {
        if let Some(hook) = self.progress.as_mut() {
            hook(written, total);
        }
    }
}

/// Where [`Writer::write_layout`] puts bytes: a `Vec` always, any
/// `io::Write` or a file being written with the `std` feature.
trait Sink {
    fn put(&mut self, bytes: &[u8]) -> Result<()>;

    /// Puts `len` bytes at `offset` of `file`, calling `done` with the
    /// bytes put so far after each piece: read into a buffer of at most
    /// [`CHUNK`] bytes, then put.
    #[cfg(feature = "std")]
    fn copy_from(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        done: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let mut so_far = 0;
        copy::read_range(file, offset, len, &mut |piece| {
            self.put(piece)?;
            so_far += piece.len() as u64;
            done(so_far);
            Ok(())
        })
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

#[cfg(feature = "std")]
struct IoSink<W>(W);

#[cfg(feature = "std")]
impl<W: Write> Sink for IoSink<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.0
            .write_all(bytes)
            .map_err(|e| Error::from(e).with_detail("writing"))
    }
}

/// A file being written, which can take bytes from another file without
/// them passing through memory of ours ([`AtomicFile::copy_from`]).
#[cfg(feature = "std")]
struct FileSink<'f>(&'f mut AtomicFile);

#[cfg(feature = "std")]
impl Sink for FileSink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.0
            .write_all(bytes)
            .map_err(|e| Error::from(e).with_detail("writing"))
    }

    fn copy_from(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        done: &mut dyn FnMut(u64),
    ) -> Result<()> {
        self.0.copy_from(file, offset, len, done)
    }
}

/// A copy of an I/O error, to give again to every later call once a write
/// has failed (`io::Error` is not `Clone`).
#[cfg(feature = "std")]
pub(crate) fn replay(e: &std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(e.kind(), alloc::string::ToString::to_string(e)),
    }
}

/// A view's bytes, refused if they are not the `data_len` the header was
/// written with (a `View` implementation whose two methods disagree).
fn checked_data<V: View>(view: &V) -> Result<Cow<'_, [u8]>> {
    let data = view.data();
    if data.len() != view.data_len() {
        return Err(Error::new(ErrorKind::InvalidView).with_detail(format!(
            "View::data returned {} bytes, View::data_len said {}",
            data.len(),
            view.data_len()
        )));
    }
    Ok(data)
}

/// Serializes tensors and optional metadata into a safetensors file in
/// memory, in the reference writer's layout ([`Writer::to_vec`] with the
/// default options).
///
/// The output is byte-for-byte what the reference writer produces for the
/// same tensors with zero or one metadata key; with more, keys are written
/// sorted, so the output is reproducible. That is why the metadata is a
/// [`Metadata`] (a sorted map) where the reference's `serialize` takes a
/// `HashMap`; and the tensors need no `Ord` name type, since names are
/// unique and sorted by the layout.
///
/// ```
/// use tensorsafe::{serialize, Dtype, Metadata, SafeTensors, TensorView};
/// let mut metadata = Metadata::new();
/// metadata.insert("format".into(), "pt".into());
/// let bytes = serialize([("bias", TensorView::new(Dtype::U8, [3], &[1, 2, 3])?)], Some(&metadata))?;
///
/// // Rewriting what was read gives the same bytes back.
/// let st = SafeTensors::deserialize(&bytes)?;
/// assert_eq!(serialize(st.iter(), st.metadata())?, bytes);
/// # Ok::<(), tensorsafe::Error>(())
/// ```
pub fn serialize(
    tensors: impl IntoIterator<Item = (impl AsRef<str>, impl View)>,
    metadata: Option<&Metadata>,
) -> Result<Vec<u8>> {
    Writer::new().metadata(metadata).to_vec(tensors)
}

#[cfg(feature = "std")]
/// Serializes like [`serialize`], streaming into a file that appears at
/// `path` only when complete ([`Writer::to_file`] with the default options).
///
/// The bytes go to a temporary file in the same directory, which is flushed
/// and synced, then renamed over `path` (and on Unix the directory is synced
/// too). On error the temporary file is removed and any existing file at
/// `path` is left as it was. The new file keeps the permission bits, owner
/// and group of the file it replaces; a `path` that is a symbolic link is
/// written through to the file it names. [`AtomicFile`] says exactly what
/// is guaranteed, including when the final directory sync fails.
pub fn serialize_to_file(
    tensors: impl IntoIterator<Item = (impl AsRef<str>, impl View)>,
    metadata: Option<&Metadata>,
    path: impl AsRef<Path>,
) -> Result<()> {
    Writer::new().metadata(metadata).to_file(tensors, path)
}
