//! Inputs the fuzzers found problems with, kept as regression tests
//! (tests/data/fuzz-regressions/<target>-<what>.bin).

use std::path::PathBuf;

use tensorsafe::{ErrorKind, Header, SafeTensors};

fn input(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    std::fs::read(dir.join(name)).unwrap()
}

/// `header` target: a `data_offsets` array holding a nested array with
/// newlines; the error detail quoted it, and the message spanned lines.
#[test]
fn header_newline_in_error_detail() {
    let bytes = input("header-newline-in-error-detail.bin");
    let err = Header::parse(&bytes).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInteger);
    assert!(!err.to_string().contains('\n'), "{err}");
}

/// `differential` target: a name given twice, the first entry with reversed
/// offsets. The reference keeps only the last entry and accepts the file; we
/// validate every entry and refuse it. Stricter by design.
#[test]
fn differential_invalid_entry_hidden_by_duplicate() {
    let bytes = input("differential-invalid-entry-hidden-by-duplicate.bin");
    assert!(safetensors::SafeTensors::deserialize(&bytes).is_ok());
    let err = SafeTensors::deserialize(&bytes).unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::InvalidOffsets, Some("empty_2d"))
    );
}

/// `differential` target, from the broken-file seeds: rank 65 is over our
/// default rank limit, which the reference does not have. A limit, not a
/// format rule: raising the limit accepts the file.
#[test]
fn differential_rank_limit() {
    let bytes = input("differential-rank-limit.bin");
    assert!(safetensors::SafeTensors::deserialize(&bytes).is_ok());
    let err = SafeTensors::deserialize(&bytes).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RankTooLarge);
    let mut options = tensorsafe::ParseOptions::default();
    options.limits.max_rank = 128;
    assert!(SafeTensors::deserialize_with(&bytes, &options).is_ok());
}

/// `structured` target: nine tensors, the first eight of 2^61 - 2 bytes
/// (I16, shape [2^60 - 1]) with chained offsets, then one byte: the data
/// section's length (2^64 - 15) fits in a u64, but not once the prefix and
/// the 952-byte header are added. `file_len` added without a check (a panic
/// with overflow checks on; a `TrailingData` error, about a wrapped length,
/// in release builds). Random byte mutation did not find such a file; the
/// structure-aware generator (`tensorsafe::arbitrary`) does in seconds.
#[test]
fn structured_file_len_overflow() {
    let bytes = input("structured-file-len-overflow.bin");
    let header = Header::parse(&bytes).err().map(|e| e.kind());
    assert_eq!(header, Some(ErrorKind::Overflow));
    let whole = SafeTensors::deserialize(&bytes).err().map(|e| e.kind());
    assert_eq!(whole, Some(ErrorKind::Overflow));
    #[cfg(feature = "std")]
    structured_file_len_overflow_from_a_path(&bytes);
}

#[cfg(feature = "std")]
fn structured_file_len_overflow_from_a_path(bytes: &[u8]) {
    let dir = std::env::temp_dir().join(format!("tensorsafe-regress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("overflow.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let opened = tensorsafe::SafeTensorsFile::open(&path)
        .err()
        .map(|e| e.kind());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(opened, Some(ErrorKind::Overflow));
}

/// Every kept input: no panic, and every error message is one line.
#[test]
fn every_kept_input_gives_one_line_errors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for err in [
            Header::parse(&bytes).err(),
            SafeTensors::deserialize(&bytes).err(),
        ]
        .into_iter()
        .flatten()
        {
            assert!(!err.to_string().contains('\n'), "{err}");
        }
        count += 1;
    }
    assert!(count >= 1);
}
