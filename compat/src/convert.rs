//! Every tensorsafe error kind onto one of the reference's 14 variants
//! (the dtype conversions are generated beside `Dtype`).

use alloc::borrow::ToOwned;
use alloc::string::ToString;

use tensorsafe::ErrorKind;

use crate::tensor::{Dtype, SafeTensorError};

/// The two enums list the same dtypes in the same order. If tensorsafe
/// gains one, this stops compiling, so the fallback arm of
/// `From<tensorsafe::Dtype> for Dtype` cannot be reached.
const _: () = assert!(tensorsafe::Dtype::ALL.len() == Dtype::ALL.len());

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
        // The system's own error, as the reference returns it: its OS code
        // (`raw_os_error`) and source chain intact. An error with no
        // `io::Error` behind it travels inside one.
        #[cfg(feature = "std")]
        ErrorKind::Io | ErrorKind::FileChanged => {
            SafeTensorError::IoError(e.into_io_error().unwrap_or_else(std::io::Error::other))
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
