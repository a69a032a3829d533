//! The reference's `tensor` module: reader, writer, header model, views,
//! dtypes and the error type.

use alloc::borrow::{Cow, ToOwned};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::Utf8Error;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::convert;
use crate::slice::{slice_byte_ranges, InvalidSlice, SliceIterator, TensorIndexer};
use crate::HashMap;

/// Why reading or writing failed: the reference's 14 variants.
///
/// tensorsafe reports more precisely (a rule, a tensor, a byte offset); each
/// of its error kinds arrives here as the closest variant, with tensorsafe's
/// message inside the `serde_json::Error` or `std::io::Error` where the
/// variant carries one. The crate README has the full table.
#[derive(Debug)]
pub enum SafeTensorError {
    /// The header is not UTF-8.
    InvalidHeader(Utf8Error),
    /// The header is UTF-8 but breaks a rule of the header's JSON (syntax,
    /// types, fields, dtype names, integers, duplicate keys).
    InvalidHeaderDeserialization(serde_json::Error),
    /// The declared header is longer than the limit (100,000,000 bytes, as
    /// in the reference; the number of tensors and their rank are not
    /// bounded).
    HeaderTooLarge,
    /// The buffer is shorter than the 8-byte length prefix.
    HeaderTooSmall,
    /// The declared header length points past the end of the buffer.
    InvalidHeaderLength,
    /// No tensor has this name.
    TensorNotFound(String),
    /// A tensor's shape, dtype and byte span disagree.
    TensorInvalidInfo,
    /// This tensor's offsets leave a hole, overlap, run backwards, or its
    /// name cannot be placed (given twice, or `__metadata__`).
    InvalidOffset(String),
    /// Reading or writing a file failed.
    #[cfg(feature = "std")]
    IoError(std::io::Error),
    /// A JSON (de)serialization error outside header parsing.
    JsonError(serde_json::Error),
    /// A view's byte length differs from its dtype and shape: (dtype, shape,
    /// bytes given).
    InvalidTensorView(Dtype, Vec<usize>, usize),
    /// The tensors do not cover the data section exactly (bytes missing at
    /// the end, or left over).
    MetadataIncompleteBuffer,
    /// A size computed from a shape overflows.
    ValidationOverflow,
    /// A sub-byte tensor (F4, F6) does not fill whole bytes.
    MisalignedSlice,
}

#[cfg(feature = "std")]
impl From<std::io::Error> for SafeTensorError {
    fn from(error: std::io::Error) -> Self {
        SafeTensorError::IoError(error)
    }
}

impl From<serde_json::Error> for SafeTensorError {
    fn from(error: serde_json::Error) -> Self {
        SafeTensorError::JsonError(error)
    }
}

impl fmt::Display for SafeTensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SafeTensorError as E;
        match self {
            E::InvalidHeader(e) => write!(f, "header is not UTF-8: {e}"),
            E::InvalidHeaderDeserialization(e) => write!(f, "invalid header: {e}"),
            E::HeaderTooLarge => f.write_str("header exceeds the size limits"),
            E::HeaderTooSmall => f.write_str("file is shorter than its 8-byte header length"),
            E::InvalidHeaderLength => f.write_str("header length points past the end of the file"),
            E::TensorNotFound(name) => write!(f, "no tensor named {name:?}"),
            E::TensorInvalidInfo => f.write_str("tensor shape, dtype and byte span disagree"),
            E::InvalidOffset(name) => write!(f, "invalid data offsets for tensor {name:?}"),
            #[cfg(feature = "std")]
            E::IoError(e) => write!(f, "I/O error: {e}"),
            E::JsonError(e) => write!(f, "JSON error: {e}"),
            E::InvalidTensorView(dtype, shape, n) => {
                write!(
                    f,
                    "{n} bytes cannot hold a {dtype} tensor of shape {shape:?}"
                )
            }
            E::MetadataIncompleteBuffer => {
                f.write_str("tensors do not cover the data section exactly")
            }
            E::ValidationOverflow => f.write_str("tensor size overflows"),
            E::MisalignedSlice => f.write_str("sub-byte tensor does not fill whole bytes"),
        }
    }
}

impl core::error::Error for SafeTensorError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SafeTensorError::InvalidHeader(e) => Some(e),
            SafeTensorError::InvalidHeaderDeserialization(e) | SafeTensorError::JsonError(e) => {
                Some(e)
            }
            #[cfg(feature = "std")]
            SafeTensorError::IoError(e) => Some(e),
            _ => None,
        }
    }
}

/// What [`serialize`] needs of a tensor, as in the reference.
///
/// Implemented for [`TensorView`] and `&TensorView` only, like the
/// reference: a blanket `impl View for &T` would conflict with frameworks
/// that implement `View` for references to their own tensors.
pub trait View {
    /// The element type.
    fn dtype(&self) -> Dtype;
    /// The dimensions.
    fn shape(&self) -> &[usize];
    /// The bytes, little-endian, row-major.
    fn data(&self) -> Cow<'_, [u8]>;
    /// `data().len()`, possibly without producing the data.
    fn data_len(&self) -> usize;
}

macro_rules! view_of_tensor_view {
    ($($ty:ty),*) => {$(
        impl View for $ty {
            fn dtype(&self) -> Dtype {
                TensorView::dtype(self)
            }
            fn shape(&self) -> &[usize] {
                TensorView::shape(self)
            }
            fn data(&self) -> Cow<'_, [u8]> {
                Cow::Borrowed(TensorView::data(self))
            }
            fn data_len(&self) -> usize {
                TensorView::data(self).len()
            }
        }
    )*};
}

view_of_tensor_view!(TensorView<'_>, &TensorView<'_>);

/// One of your views, as tensorsafe's writer sees it.
struct Adapted<V>(V);

impl<V: View> tensorsafe::View for Adapted<V> {
    fn dtype(&self) -> tensorsafe::Dtype {
        self.0.dtype().into()
    }
    fn shape(&self) -> &[usize] {
        self.0.shape()
    }
    fn data(&self) -> Cow<'_, [u8]> {
        self.0.data()
    }
    fn data_len(&self) -> usize {
        self.0.data_len()
    }
}

/// The views adapted for tensorsafe's writer, each checked first: a view
/// whose `data_len` is not its shape and dtype's size is
/// [`SafeTensorError::InvalidTensorView`].
fn adapt<S: AsRef<str>, V: View>(
    data: impl IntoIterator<Item = (S, V)>,
) -> Result<Vec<(S, Adapted<V>)>, SafeTensorError> {
    data.into_iter()
        .map(|(name, view)| {
            if byte_len(view.dtype(), view.shape())? != view.data_len() {
                return Err(SafeTensorError::InvalidTensorView(
                    view.dtype(),
                    view.shape().to_vec(),
                    view.data_len(),
                ));
            }
            Ok((name, Adapted(view)))
        })
        .collect()
}

/// The bytes of a tensor of `dtype` and `shape`, by tensorsafe's rule:
/// overflow is [`SafeTensorError::ValidationOverflow`], a sub-byte tensor
/// that does not fill whole bytes [`SafeTensorError::MisalignedSlice`].
fn byte_len(dtype: Dtype, shape: &[usize]) -> Result<usize, SafeTensorError> {
    let len = tensorsafe::Dtype::from(dtype)
        .shape_byte_len(shape)
        .map_err(|e| convert::error(e, None))?;
    // The reference's lengths are usize; past it is its overflow error.
    usize::try_from(len).map_err(|_| SafeTensorError::ValidationOverflow)
}

fn sorted(info: Option<HashMap<String, String>>) -> Option<tensorsafe::Metadata> {
    info.map(|map| map.into_iter().collect::<BTreeMap<_, _>>())
}

/// Serializes tensors (and optional `__metadata__`) into a safetensors file
/// in memory, in the reference's layout: tensors sorted by dtype
/// (descending) then name, header padded to a multiple of 8. Byte for byte
/// the reference's output with at most one metadata key; with more, keys
/// are written sorted.
///
/// Two tensors with one name, or a tensor named `__metadata__`, are
/// [`SafeTensorError::InvalidOffset`] (the reference panics or writes a
/// file no reader accepts).
pub fn serialize<S: AsRef<str> + Ord + fmt::Display, V: View, I: IntoIterator<Item = (S, V)>>(
    data: I,
    data_info: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, SafeTensorError> {
    let tensors = adapt(data)?;
    tensorsafe::serialize(tensors, sorted(data_info).as_ref()).map_err(|e| convert::error(e, None))
}

/// Serializes like [`serialize`], streaming into a file: the bytes go to a
/// temporary file beside `filename` that replaces it only once complete
/// and synced, so a failed write leaves any existing file untouched.
///
/// This is [`tensorsafe::serialize_to_file`], and
/// [`tensorsafe::AtomicFile`] states its guarantees exactly. Compared with
/// the reference's 0.8.0, which also writes a temporary file (a
/// `tempfile::NamedTempFile`, `.tmpXXXXXX`, beside `filename`) and renames
/// it over `filename`:
///
/// - Durability. The reference syncs neither the file nor the directory: a
///   power cut or system crash soon after it returns can leave `filename`
///   empty, partly written, or the old file. Here the file is synced before
///   the rename and the directory after it: once this returns `Ok`, the new
///   file survives a power cut. If only the directory sync fails, the error
///   is returned with the new file already in place, and after a power cut
///   `filename` may be the old file or the new one, each whole.
/// - Errors. Both return the first failed write and keep the old file. The
///   reference never sees a writeback error (it does not wait for the
///   bytes to reach the disk), so it can rename a file with lost pages
///   over a good one; here such an error is caught while writing or by the
///   final sync, and nothing is renamed. A failure is
///   [`SafeTensorError::IoError`] holding the system's own `io::Error`,
///   whose `raw_os_error` gives the OS error code; the reference wraps a
///   failure to create its temporary file in an error naming that file,
///   which has no OS code.
/// - Leftovers. A process killed mid-write leaves the reference's
///   `.tmpXXXXXX` behind; here the file has no name until complete (Linux
///   `O_TMPFILE`; elsewhere a hidden `.NAME.PID.N.tmp`).
/// - Permissions. The reference's file is always `0600` (the temporary
///   file's mode), whatever the replaced file's mode or the umask; here the
///   new file keeps the replaced file's permission bits, owner and group,
///   and a new file gets the umask default (`0644` under the usual umask).
/// - Symbolic links. The reference replaces a link with a regular file
///   (the file it pointed to is left as it was); here the link is followed
///   and the file it names is replaced, the link staying as it was.
#[cfg(feature = "std")]
pub fn serialize_to_file<S, V, I>(
    data: I,
    data_info: Option<HashMap<String, String>>,
    filename: &std::path::Path,
) -> Result<(), SafeTensorError>
where
    S: AsRef<str> + Ord + fmt::Display,
    V: View,
    I: IntoIterator<Item = (S, V)>,
{
    let tensors = adapt(data)?;
    tensorsafe::serialize_to_file(tensors, sorted(data_info).as_ref(), filename)
        .map_err(|e| convert::error(e, None))
}

/// The reference's limits: a header of at most 100,000,000 bytes, and no
/// bound of its own on the number of tensors or their rank (tensorsafe's
/// defaults, 1,000,000 and 64, are lifted). Memory stays bounded by the
/// header's length, as in the reference.
fn parse_options() -> tensorsafe::ParseOptions {
    let mut options = tensorsafe::ParseOptions::default();
    options.limits.max_header_bytes = 100_000_000;
    options.limits.max_tensors = usize::MAX;
    options.limits.max_rank = usize::MAX;
    options
}

/// A validated file over a byte buffer, lending [`TensorView`]s that borrow
/// the buffer (`'data`), not this value.
///
/// Covariant in `'data`, as the reference is, so frameworks can keep it in
/// a `yoke::Yoke` beside the memory map it borrows.
#[derive(Debug, Clone)]
pub struct SafeTensors<'data> {
    inner: tensorsafe::SafeTensors<'data>,
}

impl<'data> SafeTensors<'data> {
    /// Parses and validates the header of `buffer` (a whole file), returning
    /// the header's length (without the 8-byte prefix) and its [`Metadata`].
    pub fn read_metadata(buffer: &'data [u8]) -> Result<(usize, Metadata), SafeTensorError> {
        let header = tensorsafe::Header::parse_with(buffer, &parse_options())
            .and_then(|h| h.check_file_len(buffer.len() as u64).map(|()| h))
            .map_err(|e| convert::error(e, Some(buffer)))?;
        let n = header.data_start() as usize - tensorsafe::PREFIX_LEN;
        Ok((n, Metadata::from_header(&header)))
    }

    /// Parses and validates `buffer` (a whole file), without copying any
    /// tensor.
    pub fn deserialize(buffer: &'data [u8]) -> Result<Self, SafeTensorError> {
        let inner = tensorsafe::SafeTensors::deserialize_with(buffer, &parse_options())
            .map_err(|e| convert::error(e, Some(buffer)))?;
        Ok(SafeTensors { inner })
    }

    /// Every `(name, view)`, in data-offset order.
    pub fn tensors(&self) -> Vec<(String, TensorView<'data>)> {
        self.iter().map(|(n, v)| (n.to_owned(), v)).collect()
    }

    /// Every `(name, view)`, in data-offset order, without allocating names.
    pub fn iter(&self) -> impl Iterator<Item = (&str, TensorView<'data>)> {
        self.inner.iter().map(|(n, v)| (n, TensorView::from(v)))
    }

    /// The tensor called `tensor_name`.
    #[inline]
    pub fn tensor(&self, tensor_name: &str) -> Result<TensorView<'data>, SafeTensorError> {
        match self.inner.tensor(tensor_name) {
            Ok(view) => Ok(TensorView::from(view)),
            Err(_) => Err(SafeTensorError::TensorNotFound(tensor_name.to_owned())),
        }
    }

    /// The tensor names, in data-offset order.
    pub fn names(&self) -> Vec<&'_ str> {
        self.inner.names()
    }

    /// How many tensors the file holds.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the file holds no tensor.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

impl<'data> From<tensorsafe::SafeTensors<'data>> for SafeTensors<'data> {
    fn from(inner: tensorsafe::SafeTensors<'data>) -> Self {
        SafeTensors { inner }
    }
}

impl<'data> From<SafeTensors<'data>> for tensorsafe::SafeTensors<'data> {
    fn from(st: SafeTensors<'data>) -> Self {
        st.inner
    }
}

/// A file's header as the reference models it: the tensors' entries in
/// data-offset order, a name lookup, and `__metadata__`.
#[derive(Debug, Clone)]
pub struct Metadata {
    metadata: Option<HashMap<String, String>>,
    tensors: Vec<TensorInfo>,
    index_map: HashMap<String, usize>,
}

impl Metadata {
    /// A header from entries in data-offset order, validated: offsets
    /// contiguous from 0 ([`SafeTensorError::InvalidOffset`]), each span
    /// the size its dtype and shape give
    /// ([`SafeTensorError::TensorInvalidInfo`], sub-byte:
    /// [`SafeTensorError::MisalignedSlice`], overflow:
    /// [`SafeTensorError::ValidationOverflow`]), and, stricter than the
    /// reference, names unique and not `__metadata__`
    /// ([`SafeTensorError::InvalidOffset`]).
    pub fn new(
        metadata: Option<HashMap<String, String>>,
        tensors: Vec<(String, TensorInfo)>,
    ) -> Result<Self, SafeTensorError> {
        let mut index_map = HashMap::with_capacity(tensors.len());
        let mut infos = Vec::with_capacity(tensors.len());
        let mut end = 0;
        for (index, (name, info)) in tensors.into_iter().enumerate() {
            let (begin, stop) = info.data_offsets;
            if begin != end || stop < begin || name == "__metadata__" {
                return Err(SafeTensorError::InvalidOffset(name));
            }
            if stop - begin != byte_len(info.dtype, &info.shape)? {
                return Err(SafeTensorError::TensorInvalidInfo);
            }
            end = stop;
            if index_map.contains_key(&name) {
                return Err(SafeTensorError::InvalidOffset(name));
            }
            index_map.insert(name, index);
            infos.push(info);
        }
        Ok(Metadata {
            metadata,
            tensors: infos,
            index_map,
        })
    }

    /// The model of a header tensorsafe has validated.
    fn from_header(header: &tensorsafe::Header) -> Self {
        let mut index_map = HashMap::with_capacity(header.len());
        let tensors = header
            .iter()
            .enumerate()
            .map(|(index, info)| {
                index_map.insert(info.name().to_owned(), index);
                let (begin, end) = info.data_offsets();
                TensorInfo {
                    dtype: info.dtype().into(),
                    shape: info.shape().to_vec(),
                    // The header was checked against a buffer in memory, so
                    // its offsets fit in usize.
                    data_offsets: (begin as usize, end as usize),
                }
            })
            .collect();
        let metadata = header
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        Metadata {
            metadata,
            tensors,
            index_map,
        }
    }

    /// The entry of the tensor called `name`.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(*self.index_map.get(name)?)
    }

    /// Every tensor's entry, by name.
    pub fn tensors(&self) -> HashMap<String, &TensorInfo> {
        self.index_map
            .iter()
            .filter_map(|(name, &i)| Some((name.clone(), self.tensors.get(i)?)))
            .collect()
    }

    /// The tensor names in data-offset order.
    pub fn offset_keys(&self) -> Vec<String> {
        let mut names: Vec<(&String, usize)> =
            self.index_map.iter().map(|(n, &i)| (n, i)).collect();
        names.sort_unstable_by_key(|&(_, i)| i);
        names.into_iter().map(|(n, _)| n.clone()).collect()
    }

    /// The data section's length in bytes.
    pub fn data_len(&self) -> usize {
        self.tensors.last().map_or(0, |t| t.data_offsets.1)
    }

    /// The `__metadata__` map, if any.
    pub fn metadata(&self) -> &Option<HashMap<String, String>> {
        &self.metadata
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut names: Vec<&str> = alloc::vec![""; self.tensors.len()];
        for (name, &i) in &self.index_map {
            if let Some(slot) = names.get_mut(i) {
                *slot = name;
            }
        }
        let extra = usize::from(self.metadata.is_some());
        let mut map = serializer.serialize_map(Some(self.tensors.len() + extra))?;
        if let Some(metadata) = &self.metadata {
            map.serialize_entry("__metadata__", metadata)?;
        }
        for (name, info) in names.iter().zip(&self.tensors) {
            map.serialize_entry(name, info)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a safetensors header object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                use serde::de::Error;
                let mut metadata = None;
                let mut seen_metadata = false;
                let mut tensors: Vec<(String, TensorInfo)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        if seen_metadata {
                            return Err(A::Error::custom("`__metadata__` appears twice"));
                        }
                        seen_metadata = true;
                        metadata = map.next_value::<Option<HashMap<String, String>>>()?;
                    } else {
                        tensors.push((key, map.next_value()?));
                    }
                }
                // Any order in the file; validated in offset order.
                tensors.sort_by_key(|(_, info)| info.data_offsets);
                Metadata::new(metadata, tensors).map_err(A::Error::custom)
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// One tensor's entry in the header. Little-endian, row-major.
#[derive(Debug, Deserialize, Serialize, Clone)]
pub struct TensorInfo {
    /// The element type.
    pub dtype: Dtype,
    /// The dimensions.
    pub shape: Vec<usize>,
    /// `[begin, end)` of the bytes in the data section.
    pub data_offsets: (usize, usize),
}

/// A tensor in a buffer: dtype, shape and the bytes it borrows.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct TensorView<'data> {
    inner: tensorsafe::TensorView<'data>,
}

impl<'data> TensorView<'data> {
    /// A view of `data` as a tensor of `dtype` and `shape`, if the length is
    /// right ([`SafeTensorError::InvalidTensorView`]; sub-byte tensors that
    /// do not fill whole bytes: [`SafeTensorError::MisalignedSlice`];
    /// overflow: [`SafeTensorError::ValidationOverflow`]).
    pub fn new(
        dtype: Dtype,
        shape: Vec<usize>,
        data: &'data [u8],
    ) -> Result<Self, SafeTensorError> {
        match tensorsafe::TensorView::new(dtype.into(), &shape, data) {
            Ok(inner) => Ok(TensorView { inner }),
            Err(e) => Err(match e.kind() {
                tensorsafe::ErrorKind::Overflow => SafeTensorError::ValidationOverflow,
                tensorsafe::ErrorKind::PartialByte => SafeTensorError::MisalignedSlice,
                _ => SafeTensorError::InvalidTensorView(dtype, shape, data.len()),
            }),
        }
    }

    /// The element type.
    #[inline]
    pub fn dtype(&self) -> Dtype {
        self.inner.dtype().into()
    }

    /// The dimensions.
    #[inline]
    pub fn shape(&self) -> &[usize] {
        self.inner.shape()
    }

    /// The bytes, borrowed from the buffer the file was read from.
    #[inline]
    pub fn data(&self) -> &'data [u8] {
        self.inner.data()
    }

    /// The byte ranges of a slice of this tensor (see
    /// [`slice_byte_ranges`]), as an iterator of byte slices.
    pub fn sliced_data(
        &'data self,
        slices: &[TensorIndexer],
    ) -> Result<SliceIterator<'data>, InvalidSlice> {
        let (ranges, shape) = slice_byte_ranges(self.dtype(), self.shape(), slices)?;
        Ok(SliceIterator::new(self.data(), ranges, shape))
    }
}

impl<'data> From<tensorsafe::TensorView<'data>> for TensorView<'data> {
    #[inline]
    fn from(inner: tensorsafe::TensorView<'data>) -> Self {
        TensorView { inner }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(tensorsafe::Dtype::from(*self).name())
    }
}

impl<'data> From<TensorView<'data>> for tensorsafe::TensorView<'data> {
    fn from(view: TensorView<'data>) -> Self {
        view.inner
    }
}

/// The enum and its conversions to and from `tensorsafe::Dtype`, whose
/// variants have the same names in the same order.
macro_rules! dtypes {
    ($($(#[$doc:meta])* $variant:ident;)*) => {
        /// The element types, in the reference's order (the writer sorts
        /// by it). Serialized as their header names (`"F32"`, ...).
        #[derive(Debug, Deserialize, Serialize, Clone, Copy, PartialEq, Eq, Ord, PartialOrd, Hash)]
        #[allow(non_camel_case_types)]
        #[non_exhaustive]
        pub enum Dtype {
            $($(#[$doc])* $variant,)*
        }

        impl Dtype {
            pub(crate) const ALL: &'static [Dtype] = &[$(Dtype::$variant,)*];
        }

        impl From<Dtype> for tensorsafe::Dtype {
            fn from(dtype: Dtype) -> Self {
                match dtype { $(Dtype::$variant => tensorsafe::Dtype::$variant,)* }
            }
        }

        impl From<tensorsafe::Dtype> for Dtype {
            #[inline]
            fn from(dtype: tensorsafe::Dtype) -> Self {
                match dtype {
                    $(tensorsafe::Dtype::$variant => Dtype::$variant,)*
                    // Unreachable: `convert` asserts at compile time that
                    // both enums have as many variants.
                    _ => Dtype::U8,
                }
            }
        }
    };
}

dtypes! {
    /// Boolean, one byte per element.
    BOOL;
    /// OCP MX FP4 (E2M1).
    F4;
    /// OCP MX FP6 (E2M3).
    F6_E2M3;
    /// OCP MX FP6 (E3M2).
    F6_E3M2;
    /// Unsigned 8-bit integer.
    U8;
    /// Signed 8-bit integer.
    I8;
    /// FP8 E5M2.
    F8_E5M2;
    /// FP8 E4M3.
    F8_E4M3;
    /// OCP MX E8M0 scale.
    F8_E8M0;
    /// FP8 E4M3 FNUZ.
    F8_E4M3FNUZ;
    /// FP8 E5M2 FNUZ.
    F8_E5M2FNUZ;
    /// Signed 16-bit integer.
    I16;
    /// Unsigned 16-bit integer.
    U16;
    /// IEEE half precision.
    F16;
    /// bfloat16.
    BF16;
    /// Signed 32-bit integer.
    I32;
    /// Unsigned 32-bit integer.
    U32;
    /// IEEE single precision.
    F32;
    /// Complex of two `F32`.
    C64;
    /// IEEE double precision.
    F64;
    /// Signed 64-bit integer.
    I64;
    /// Unsigned 64-bit integer.
    U64;
}

impl Dtype {
    /// Size of one element in bits (4 for `F4`, 6 for the `F6` types).
    pub fn bitsize(&self) -> usize {
        tensorsafe::Dtype::from(*self).bits()
    }

    /// Size of one element in whole bytes (0 for `F4`, 0 for the `F6`
    /// types: use [`Dtype::bitsize`]).
    #[deprecated(
        since = "0.6.0",
        note = "use `bitsize`: some dtypes are narrower than a byte"
    )]
    pub fn size(&self) -> usize {
        self.bitsize() / 8
    }
}
