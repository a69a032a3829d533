//! Between tensorsafe's types and the reference's: dtypes both ways, and
//! every tensorsafe error kind onto one of the reference's 14 variants.

use alloc::borrow::ToOwned;
use alloc::string::ToString;

use tensorsafe::ErrorKind;

use crate::tensor::{Dtype, SafeTensorError};

/// The two enums list the same dtypes in the same order. If tensorsafe
/// gains one, this stops compiling, so the fallback arm in [`dtype_from`]
/// cannot be reached.
const _: () = assert!(tensorsafe::Dtype::ALL.len() == Dtype::ALL.len());

impl From<Dtype> for tensorsafe::Dtype {
    fn from(dtype: Dtype) -> Self {
        use tensorsafe::Dtype as T;
        match dtype {
            Dtype::BOOL => T::BOOL,
            Dtype::F4 => T::F4,
            Dtype::F6_E2M3 => T::F6_E2M3,
            Dtype::F6_E3M2 => T::F6_E3M2,
            Dtype::U8 => T::U8,
            Dtype::I8 => T::I8,
            Dtype::F8_E5M2 => T::F8_E5M2,
            Dtype::F8_E4M3 => T::F8_E4M3,
            Dtype::F8_E8M0 => T::F8_E8M0,
            Dtype::F8_E4M3FNUZ => T::F8_E4M3FNUZ,
            Dtype::F8_E5M2FNUZ => T::F8_E5M2FNUZ,
            Dtype::I16 => T::I16,
            Dtype::U16 => T::U16,
            Dtype::F16 => T::F16,
            Dtype::BF16 => T::BF16,
            Dtype::I32 => T::I32,
            Dtype::U32 => T::U32,
            Dtype::F32 => T::F32,
            Dtype::C64 => T::C64,
            Dtype::F64 => T::F64,
            Dtype::I64 => T::I64,
            Dtype::U64 => T::U64,
        }
    }
}

impl From<tensorsafe::Dtype> for Dtype {
    fn from(dtype: tensorsafe::Dtype) -> Self {
        dtype_from(dtype)
    }
}

#[inline]
pub(crate) fn dtype_from(dtype: tensorsafe::Dtype) -> Dtype {
    use tensorsafe::Dtype as T;
    match dtype {
        T::BOOL => Dtype::BOOL,
        T::F4 => Dtype::F4,
        T::F6_E2M3 => Dtype::F6_E2M3,
        T::F6_E3M2 => Dtype::F6_E3M2,
        T::U8 => Dtype::U8,
        T::I8 => Dtype::I8,
        T::F8_E5M2 => Dtype::F8_E5M2,
        T::F8_E4M3 => Dtype::F8_E4M3,
        T::F8_E8M0 => Dtype::F8_E8M0,
        T::F8_E4M3FNUZ => Dtype::F8_E4M3FNUZ,
        T::F8_E5M2FNUZ => Dtype::F8_E5M2FNUZ,
        T::I16 => Dtype::I16,
        T::U16 => Dtype::U16,
        T::F16 => Dtype::F16,
        T::BF16 => Dtype::BF16,
        T::I32 => Dtype::I32,
        T::U32 => Dtype::U32,
        T::F32 => Dtype::F32,
        T::C64 => Dtype::C64,
        T::F64 => Dtype::F64,
        T::I64 => Dtype::I64,
        T::U64 => Dtype::U64,
        // Unreachable: the assertion above counts the variants.
        _ => Dtype::U8,
    }
}

/// `serde_json::Error` has no public constructor but serde's `custom`.
fn json_error(text: &str) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(text)
}

/// The reference's variant for a tensorsafe error. `file` is the buffer the
/// error came from, when there is one: an invalid-UTF-8 header is reported
/// with the `Utf8Error` of its bytes, as the reference does.
pub(crate) fn error(e: tensorsafe::Error, file: Option<&[u8]>) -> SafeTensorError {
    let name = || e.tensor().unwrap_or("no_tensor").to_owned();
    match e.kind() {
        #[cfg(feature = "std")]
        ErrorKind::Io | ErrorKind::FileChanged => {
            let kind = e
                .io_error()
                .map_or(std::io::ErrorKind::Other, std::io::Error::kind);
            SafeTensorError::IoError(std::io::Error::new(kind, e.to_string()))
        }
        ErrorKind::FileTooSmall => SafeTensorError::HeaderTooSmall,
        ErrorKind::HeaderTooLarge | ErrorKind::TooManyTensors | ErrorKind::RankTooLarge => {
            SafeTensorError::HeaderTooLarge
        }
        ErrorKind::HeaderOutOfBounds => SafeTensorError::InvalidHeaderLength,
        ErrorKind::InvalidUtf8 => match file.and_then(header_utf8_error) {
            Some(utf8) => SafeTensorError::InvalidHeader(utf8),
            None => SafeTensorError::InvalidHeaderDeserialization(json_error(&e.to_string())),
        },
        ErrorKind::Overflow => SafeTensorError::ValidationOverflow,
        ErrorKind::PartialByte | ErrorKind::SubByteSlice => SafeTensorError::MisalignedSlice,
        ErrorKind::SizeMismatch => SafeTensorError::TensorInvalidInfo,
        ErrorKind::InvalidOffsets
        | ErrorKind::DataGap
        | ErrorKind::DataOverlap
        | ErrorKind::DuplicateTensor
        | ErrorKind::ReservedName => SafeTensorError::InvalidOffset(name()),
        ErrorKind::TrailingData | ErrorKind::DataOutOfBounds => {
            SafeTensorError::MetadataIncompleteBuffer
        }
        ErrorKind::TensorNotFound => SafeTensorError::TensorNotFound(name()),
        // The rest of the header's syntax and typing rules: what the
        // reference's serde_json parse reports.
        ErrorKind::JsonSyntax
        | ErrorKind::TrailingCharacters
        | ErrorKind::RecursionLimit
        | ErrorKind::InvalidType
        | ErrorKind::MissingField
        | ErrorKind::DuplicateField
        | ErrorKind::UnknownField
        | ErrorKind::DuplicateMetadata
        | ErrorKind::InvalidMetadata
        | ErrorKind::UnknownDtype
        | ErrorKind::InvalidInteger => {
            SafeTensorError::InvalidHeaderDeserialization(json_error(&e.to_string()))
        }
        // Kinds the adapter's operations do not produce (typed access,
        // streaming, checkpoints, alignment): the generic variant.
        _ => SafeTensorError::TensorInvalidInfo,
    }
}

/// The `Utf8Error` of a file's header bytes, if they are not UTF-8.
fn header_utf8_error(file: &[u8]) -> Option<core::str::Utf8Error> {
    let prefix: [u8; 8] = file.get(..8)?.try_into().ok()?;
    let n = usize::try_from(u64::from_le_bytes(prefix)).ok()?;
    let json = file.get(8..8usize.checked_add(n)?)?;
    core::str::from_utf8(json).err()
}
