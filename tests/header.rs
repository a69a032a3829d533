//! Header-only reads: from a byte prefix or a reader, consuming exactly the
//! header, with the same validation and limits as a full parse.

#[cfg(feature = "std")]
use std::io::{Cursor, Read};

#[cfg(feature = "std")]
use tensorsafe::ParseOptions;
use tensorsafe::{serialize, Dtype, ErrorKind, Header, TensorView};

fn sample() -> Vec<u8> {
    let a = [1u8, 2, 3, 4];
    let b = [0u8; 8];
    serialize(
        [
            ("a", TensorView::new(Dtype::U8, [4], &a).unwrap()),
            ("b", TensorView::new(Dtype::F64, [1], &b).unwrap()),
        ],
        None,
    )
    .unwrap()
}

#[cfg(feature = "std")]
#[test]
fn read_from_consumes_exactly_the_header() {
    let bytes = sample();
    let mut cursor = Cursor::new(&bytes);
    let header = Header::read_from(&mut cursor).unwrap();
    assert_eq!(cursor.position(), header.data_start());
    assert_eq!(header.file_len(), bytes.len() as u64);
    assert_eq!(header.data_len(), 12);
    assert_eq!(header.names().collect::<Vec<_>>(), ["b", "a"]);
    let a = header.get("a").unwrap();
    assert_eq!(
        (a.dtype(), a.shape(), a.data_offsets()),
        (Dtype::U8, &[4usize][..], (8, 12))
    );
    // The rest of the stream is the data section.
    let mut rest = Vec::new();
    cursor.read_to_end(&mut rest).unwrap();
    assert_eq!(&rest[8..], &[1, 2, 3, 4]);
}

#[test]
fn a_prefix_is_enough_and_the_caller_checks_the_length() {
    let bytes = sample();
    let header = Header::parse(&bytes).unwrap();
    let prefix = &bytes[..header.data_start() as usize];
    let from_prefix = Header::parse(prefix).unwrap();
    assert!(from_prefix.iter().eq(header.iter()));
    assert!(from_prefix.check_file_len(bytes.len() as u64).is_ok());
    assert_eq!(
        from_prefix
            .check_file_len(bytes.len() as u64 - 1)
            .unwrap_err()
            .kind(),
        ErrorKind::DataOutOfBounds
    );
    assert_eq!(
        from_prefix
            .check_file_len(bytes.len() as u64 + 1)
            .unwrap_err()
            .kind(),
        ErrorKind::TrailingData
    );
    // One byte short of the header is not enough.
    assert_eq!(
        Header::parse(&prefix[..prefix.len() - 1])
            .unwrap_err()
            .kind(),
        ErrorKind::HeaderOutOfBounds
    );
}

#[cfg(feature = "std")]
#[test]
fn a_reader_that_ends_early_or_declares_too_much_is_refused() {
    let bytes = sample();
    let short = &bytes[..20];
    assert_eq!(
        Header::read_from(short).unwrap_err().kind(),
        ErrorKind::HeaderOutOfBounds
    );
    assert_eq!(
        Header::read_from(&bytes[..5]).unwrap_err().kind(),
        ErrorKind::FileTooSmall
    );
    // A declared length over the limit is refused before anything is read.
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    assert_eq!(
        Header::read_from(huge.as_slice()).unwrap_err().kind(),
        ErrorKind::HeaderTooLarge
    );
    let mut tight = ParseOptions::default();
    tight.limits.max_header_bytes = 16;
    assert_eq!(
        Header::read_from_with(bytes.as_slice(), &tight)
            .unwrap_err()
            .kind(),
        ErrorKind::HeaderTooLarge
    );
}
