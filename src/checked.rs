//! Conversions of sizes from outside into the sizes memory is measured in.
//!
//! Byte lengths and offsets are `u64` everywhere a header, an index or a
//! server gives them; they become `usize` only where a buffer is allocated
//! or a view over memory is cut, through the function here, so a 32-bit
//! target refuses what it cannot address with an error instead of
//! truncating.

use alloc::format;

use crate::error::{Error, ErrorKind, Result};

/// `len` bytes as a length in memory, or [`ErrorKind::Overflow`] when this
/// target cannot address that many bytes.
pub(crate) fn memory_len(len: u64) -> Result<usize> {
    usize::try_from(len)
        .ok()
        .filter(|&n| isize::try_from(n).is_ok())
        .ok_or_else(|| {
            Error::new(ErrorKind::Overflow).with_detail(format!(
                "{len} bytes do not fit in this target's memory ({}-bit addresses)",
                usize::BITS
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_past_the_address_space_are_refused() {
        assert_eq!(memory_len(0).unwrap(), 0);
        assert_eq!(memory_len(isize::MAX as u64).unwrap(), isize::MAX as usize);
        let past = isize::MAX as u64 + 1;
        assert_eq!(memory_len(past).unwrap_err().kind(), ErrorKind::Overflow);
        assert_eq!(
            memory_len(u64::MAX).unwrap_err().kind(),
            ErrorKind::Overflow
        );
    }
}
