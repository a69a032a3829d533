//! [`RemoteFile`]: one safetensors object in a store.

use std::format;
use std::prelude::rust_2021::*;

use core::fmt;
use core::ops::Range;
use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;

use super::fetch::{self, changed, refused_size, store_error, Object, Target};
use super::{InObject, OwnedTensor, RemoteOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Header, TensorInfo, PREFIX_LEN};
use crate::read::{check_dest, each_destination, Blank, LoadOptions, SafeTensorsFile};
use crate::view::slice::{split_spec, Select, Slice};

/// One `.safetensors` object in a store, its header read and validated.
///
/// Opening reads [`RemoteOptions::header_read`] bytes from the object's
/// start (one request; a second only when the declared header is longer),
/// checks the header as [`Header::parse`] does, and checks the object's
/// size against it. The methods then fetch tensors, slices of tensors or
/// the whole object with ranged reads (see the [module](super) docs).
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use std::sync::Arc;
/// use tensorsafe::remote::{object_store::{memory::InMemory, ObjectStoreExt}, RemoteFile};
/// use tensorsafe::{Dtype, Select, TensorView};
/// let w: Vec<u8> = (0..12).collect();
/// let file = tensorsafe::serialize([("w", TensorView::new(Dtype::U8, &[3, 4], &w)?)], None)?;
/// let store = Arc::new(InMemory::new());
/// store.put(&"model.safetensors".into(), file.into()).await?;
///
/// let remote = RemoteFile::open(store, "model.safetensors").await?;
/// let mut row = [0u8; 4];
/// remote.slice_into("w", &[Select::Index(2)], &mut row).await?;
/// assert_eq!(row, [8, 9, 10, 11]);
/// let whole = remote.load(|_, _| {}).await?; // a SafeTensorsFile in memory
/// assert_eq!(whole.tensor("w")?.data(), &w[..]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RemoteFile {
    store: Arc<dyn ObjectStore>,
    location: Path,
    size: u64,
    e_tag: Option<String>,
    version: Option<String>,
    header: Header,
    /// The object's first bytes as the header read fetched them (the
    /// prefix, the header, and whatever data the read brought along).
    prefix: Vec<u8>,
    options: RemoteOptions,
}

impl fmt::Debug for RemoteFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteFile")
            .field("store", &format_args!("{}", self.store))
            .field("location", &self.location.as_ref())
            .field("size", &self.size)
            .field("e_tag", &self.e_tag)
            .field("tensors", &self.header.len())
            .finish()
    }
}

impl RemoteFile {
    /// Reads and validates the header of the object at `location`, with
    /// default [`RemoteOptions`].
    pub async fn open(store: Arc<dyn ObjectStore>, location: impl Into<Path>) -> Result<Self> {
        Self::open_with(store, location, &RemoteOptions::default()).await
    }

    /// [`RemoteFile::open`] with the given options, which later reads use
    /// too.
    pub async fn open_with(
        store: Arc<dyn ObjectStore>,
        location: impl Into<Path>,
        options: &RemoteOptions,
    ) -> Result<Self> {
        let location = location.into();
        let read = read_header(&*store, &location, options).await;
        let (header, prefix, meta) = read.map_err(|e| e.in_object(&location))?;
        Ok(RemoteFile {
            store,
            location,
            size: meta.size,
            e_tag: meta.e_tag,
            version: meta.version,
            header,
            prefix,
            options: *options,
        })
    }

    /// The validated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Where the object is in its store.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object's size in bytes, as the header read found it (and as the
    /// header requires).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The object's ETag when the header was read, if the store gives one.
    /// Later reads ask for this ETag, so a replaced object is an error.
    pub fn e_tag(&self) -> Option<&str> {
        self.e_tag.as_deref()
    }

    /// The options reads use.
    pub fn options(&self) -> &RemoteOptions {
        &self.options
    }

    /// The tensor `name`'s entry, or [`ErrorKind::TensorNotFound`].
    pub(crate) fn info(&self, name: &str) -> Result<TensorInfo<'_>> {
        self.header
            .get(name)
            .ok_or_else(|| Error::tensor_not_found(name))
    }

    /// Where tensor `name`'s bytes are in the object.
    pub fn byte_range(&self, name: &str) -> Result<Range<u64>> {
        Ok(self.range_of(&self.info(name)?))
    }

    pub(crate) fn range_of(&self, info: &TensorInfo<'_>) -> Range<u64> {
        self.header.file_range(info)
    }

    pub(crate) fn object(&self) -> Object<'_> {
        Object {
            store: &*self.store,
            location: &self.location,
            size: self.size,
            e_tag: self.e_tag.as_deref(),
            version: self.version.as_deref(),
            prefix: &self.prefix,
        }
    }

    /// Fetches tensor `name` into `buf`, which must be exactly its length.
    pub async fn tensor_into(&self, name: &str, buf: &mut [u8]) -> Result<()> {
        let info = self.info(name)?;
        check_dest(&info, buf)?;
        let target = Target {
            object: 0,
            at: self.range_of(&info).start,
            buf,
            tensor: info.name(),
            counted: true,
        };
        self.fetch(vec![target], &mut |_, _| {}).await
    }

    /// Fetches bytes `at..at + buf.len()` of the object into `buf`, from
    /// the object the header was read from (same size and ETag), as every
    /// read here is: a positioned read, for callers that walk a large
    /// tensor a piece at a time. A range past the object's end is
    /// [`ErrorKind::DataOutOfBounds`].
    pub async fn read_at(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        let fits = at
            .checked_add(buf.len() as u64)
            .is_some_and(|end| end <= self.size);
        if !fits {
            return Err(Error::new(ErrorKind::DataOutOfBounds)
                .with_detail(format!(
                    "{} bytes at byte {at} of an object of {} bytes",
                    buf.len(),
                    self.size
                ))
                .in_object(&self.location));
        }
        let target = Target {
            object: 0,
            at,
            buf,
            tensor: "",
            counted: true,
        };
        self.fetch(vec![target], &mut |_, _| {}).await
    }

    /// Fetches tensor `name` into memory of its own.
    pub async fn tensor(&self, name: &str) -> Result<OwnedTensor> {
        let info = self.info(name)?;
        let mut out = OwnedTensor::zeroed(info.dtype(), info.shape().to_vec())?;
        self.tensor_into(name, out.data_mut()).await?;
        Ok(out)
    }

    /// The selection `spec` of tensor `name` (as
    /// [`TensorView::slice`](crate::TensorView::slice) selects), without
    /// its bytes: its shape and byte ranges.
    fn plan_slice(&self, name: &str, spec: &[Select]) -> Result<(TensorInfo<'_>, Slice<'static>)> {
        let info = self.info(name)?;
        let slice =
            Slice::over(&[], info.dtype(), info.shape(), spec).map_err(|e| e.with_tensor(name))?;
        Ok((info, slice))
    }

    /// Fetches the selection `spec` of tensor `name` (as
    /// [`TensorView::slice`](crate::TensorView::slice) selects) into `buf`,
    /// which must be exactly the selection's length, in row-major order.
    /// Only the selected rows are fetched, merged into requests as
    /// [`RemoteOptions::max_gap`] allows.
    pub async fn slice_into(&self, name: &str, spec: &[Select], buf: &mut [u8]) -> Result<()> {
        let (info, slice) = self.plan_slice(name, spec)?;
        self.fetch_slice(&info, &slice, buf).await
    }

    async fn fetch_slice(
        &self,
        info: &TensorInfo<'_>,
        slice: &Slice<'_>,
        buf: &mut [u8],
    ) -> Result<()> {
        slice
            .check_out_len(buf.len())
            .map_err(|e| e.with_tensor(info.name()))?;
        let start = self.range_of(info).start;
        let mut rest = buf;
        let mut targets = Vec::new();
        for range in slice.byte_ranges() {
            let (here, later) = core::mem::take(&mut rest).split_at_mut(range.len());
            rest = later;
            targets.push(Target {
                object: 0,
                at: start + range.start as u64,
                buf: here,
                tensor: info.name(),
                counted: true,
            });
        }
        self.fetch(targets, &mut |_, _| {}).await
    }

    /// Fetches the selection `spec` of tensor `name` into memory of its
    /// own, with the selection's shape.
    pub async fn slice(&self, name: &str, spec: &[Select]) -> Result<OwnedTensor> {
        let (info, slice) = self.plan_slice(name, spec)?;
        let mut out = OwnedTensor::zeroed(info.dtype(), slice.shape().to_vec())?;
        self.fetch_slice(&info, &slice, out.data_mut()).await?;
        Ok(out)
    }

    /// Part `k` of `n` (counted from 0) of tensor `name` along `dim`, as
    /// [`TensorView::split`](crate::TensorView::split) selects it: what
    /// rank `k` of a tensor-parallel group of `n` needs.
    pub async fn split(&self, name: &str, dim: usize, k: usize, n: usize) -> Result<OwnedTensor> {
        let info = self.info(name)?;
        let spec = split_spec(info.shape(), dim, k, n).map_err(|e| e.with_tensor(name))?;
        self.slice(name, &spec).await
    }

    /// Fetches the whole object into page-aligned memory, in parts fetched
    /// in parallel, and returns it as a [`SafeTensorsFile`]. `progress` is
    /// told the bytes fetched so far and in all; its calls are serialised,
    /// so it may be any `FnMut` (see [how progress is counted](crate::LoadOptions#progress)).
    pub async fn load(&self, mut progress: impl FnMut(u64, u64) + Send) -> Result<SafeTensorsFile> {
        let files = fetch_files(core::slice::from_ref(self), &self.options, &mut progress).await?;
        // One object in, one file out.
        files
            .into_iter()
            .next()
            .ok_or_else(|| Error::new(ErrorKind::Io).in_object(&self.location))
    }

    /// Fetches tensors into buffers the caller owns, as
    /// [`load_into`](crate::load_into) does for a local file: `dest` is
    /// asked, in file order, for each tensor's destination (a buffer of
    /// exactly its length, or `None` to skip it); then all chosen tensors
    /// are fetched, neighbours merged into one request, large ones cut into
    /// parts. `progress` is told the bytes fetched so far and in all
    /// (see [how progress is counted](crate::LoadOptions#progress)).
    pub async fn load_into<'b>(
        &self,
        mut dest: impl FnMut(TensorInfo<'_>) -> Option<&'b mut [u8]>,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<()> {
        let files = core::slice::from_ref(self);
        fetch_into(files, &self.options, &mut dest, &mut progress).await
    }

    /// Asks `dest` for every tensor's destination, in file order, adding a
    /// target (of object `object`) for each one given.
    fn ask_destinations<'s, 'b: 's>(
        &'s self,
        object: usize,
        dest: &mut impl FnMut(TensorInfo<'_>) -> Option<&'b mut [u8]>,
        targets: &mut Vec<Target<'s>>,
    ) -> Result<()> {
        each_destination(&self.header, dest, |info, buf| {
            targets.push(Target {
                object,
                at: self.range_of(&info).start,
                buf,
                tensor: info.name(),
                counted: true,
            })
        })
        .map_err(|e| e.in_object(&self.location))
    }

    /// Fills `targets` (all of this object) as [`fetch::fetch`] does.
    async fn fetch(
        &self,
        targets: Vec<Target<'_>>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<()> {
        Self::fetch_from(
            core::slice::from_ref(self),
            targets,
            &self.options,
            progress,
        )
        .await
    }

    /// Fills `targets`, each of the object `files[target.object]`, as
    /// [`fetch::fetch`] does.
    pub(crate) async fn fetch_from(
        files: &[RemoteFile],
        targets: Vec<Target<'_>>,
        options: &RemoteOptions,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<()> {
        let objects: Vec<_> = files.iter().map(RemoteFile::object).collect();
        fetch::fetch(&objects, targets, options, progress).await
    }
}

/// The tensors of `files` that `dest` gives destinations for (asked file
/// by file, each in file order), fetched together as [`fetch::fetch`]
/// plans them.
pub(crate) async fn fetch_into<'b>(
    files: &[RemoteFile],
    options: &RemoteOptions,
    dest: &mut impl FnMut(TensorInfo<'_>) -> Option<&'b mut [u8]>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<()> {
    let mut targets = Vec::new();
    for (i, file) in files.iter().enumerate() {
        file.ask_destinations(i, dest, &mut targets)?;
    }
    RemoteFile::fetch_from(files, targets, options, progress).await
}

/// Every object of `files` fetched whole into page-aligned memory (all
/// together, in parts, as [`fetch::fetch`] plans them) and wrapped as a
/// file in memory.
pub(crate) async fn fetch_files(
    files: &[RemoteFile],
    options: &RemoteOptions,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Vec<SafeTensorsFile>> {
    let mut blanks = files
        .iter()
        .map(|f| {
            Blank::new(f.header.clone(), &LoadOptions::default())
                .map_err(|e| e.in_object(&f.location))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut targets = Vec::with_capacity(2 * blanks.len());
    for (object, blank) in blanks.iter_mut().enumerate() {
        // The header (8 + N bytes), then the data section: progress counts
        // the latter's bytes.
        let (head, data, _) = blank.split();
        let data_start = head.len() as u64;
        targets.push(Target {
            object,
            at: 0,
            buf: head,
            tensor: "",
            counted: false,
        });
        targets.push(Target {
            object,
            at: data_start,
            buf: data,
            tensor: "",
            counted: true,
        });
    }
    RemoteFile::fetch_from(files, targets, options, progress).await?;
    Ok(blanks.into_iter().map(Blank::into_file).collect())
}

/// What a header read found: the header, the bytes fetched from the
/// object's start, and the object's metadata.
type HeaderRead = (Header, Vec<u8>, object_store::ObjectMeta);

/// Reads the header of the object at `location`: `options.header_read`
/// bytes from its start, and the rest of the header if it is longer.
async fn read_header(
    store: &dyn ObjectStore,
    location: &Path,
    options: &RemoteOptions,
) -> Result<HeaderRead> {
    let want = options.header_read.max(PREFIX_LEN as u64);
    let (mut prefix, meta) = read_start(store, location, want).await?;
    let header_end = header_end(&prefix, meta.size, options)?;
    if header_end > prefix.len() as u64 {
        read_rest(store, location, &meta, header_end, &mut prefix, options).await?;
    }
    let json = prefix
        .get(PREFIX_LEN..crate::checked::memory_len(header_end)?)
        .unwrap_or_default();
    let header = Header::from_json(json, &options.parse)?;
    header.check_file_len(meta.size)?;
    Ok((header, prefix, meta))
}

/// The first `want` bytes of the object at `location` (fewer if it is
/// shorter), and its metadata: one ranged read.
async fn read_start(
    store: &dyn ObjectStore,
    location: &Path,
    want: u64,
) -> Result<(Vec<u8>, object_store::ObjectMeta)> {
    let first = Object {
        store,
        location,
        size: 0,
        e_tag: None,
        version: None,
        prefix: &[],
    };
    let result = match store
        .get_opts(location, fetch::get_options(&first, 0..want))
        .await
    {
        Ok(result) => result,
        Err(err) => return Err(first_read_failed(store, location, err).await),
    };
    let meta = result.meta.clone();
    let result_range = result.range.clone();
    let prefix = result
        .bytes()
        .await
        .map_err(|e| store_error(e, location))?
        .to_vec();
    let expected = want.min(meta.size);
    // These bytes are reused as tensor data by loads: they must be the
    // object's first bytes, not another range the store chose to send.
    if result_range.start != 0 || prefix.len() as u64 != expected {
        return Err(changed(
            location,
            format!(
                "asked for the first {expected} bytes, the store sent {} from {}",
                prefix.len(),
                result_range.start
            ),
        ));
    }
    Ok((prefix, meta))
}

/// Where the header ends in an object of `size` bytes, from its 8-byte
/// prefix (the start of `prefix`), checked against the limits and the
/// object's size.
fn header_end(prefix: &[u8], size: u64, options: &RemoteOptions) -> Result<u64> {
    let declared: [u8; PREFIX_LEN] = prefix
        .get(..PREFIX_LEN)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| {
            Error::new(ErrorKind::FileTooSmall).with_detail(format!("the object has {size} bytes"))
        })?;
    let n = Header::declared_len(declared, &options.parse)?;
    let header_end = n.saturating_add(PREFIX_LEN as u64);
    if header_end > size {
        return Err(Error::new(ErrorKind::HeaderOutOfBounds)
            .at(0)
            .with_detail(format!(
                "header of {n} bytes, but the object has {size} bytes"
            )));
    }
    Ok(header_end)
}

/// The header is longer than the speculative read: one more request for
/// the rest of it (up to `header_end`), from the same object, appended to
/// `prefix`.
async fn read_rest(
    store: &dyn ObjectStore,
    location: &Path,
    meta: &object_store::ObjectMeta,
    header_end: u64,
    prefix: &mut Vec<u8>,
    options: &RemoteOptions,
) -> Result<()> {
    let object = Object {
        store,
        location,
        size: meta.size,
        e_tag: meta.e_tag.as_deref(),
        version: meta.version.as_deref(),
        prefix: &[],
    };
    let have = prefix.len() as u64;
    let mut rest = vec![0u8; crate::checked::memory_len(header_end - have)?];
    let target = Target {
        object: 0,
        at: have,
        buf: &mut rest,
        tensor: "",
        counted: true,
    };
    let mut options = *options;
    options.part_size = u64::MAX;
    fetch::fetch(&[object], vec![target], &options, &mut |_, _| {}).await?;
    prefix.extend_from_slice(&rest);
    Ok(())
}

/// The first read of an object failed. An object too short for the range
/// asked (an empty one, say) is refused by some stores: a `head` tells
/// that case apart, and it is [`ErrorKind::FileTooSmall`].
async fn first_read_failed(
    store: &dyn ObjectStore,
    location: &Path,
    err: object_store::Error,
) -> Error {
    match refused_size(store, location, &err).await {
        Some(size) if size < PREFIX_LEN as u64 => {
            Error::new(ErrorKind::FileTooSmall).with_detail(format!("the object has {size} bytes"))
        }
        _ => store_error(err, location),
    }
}
