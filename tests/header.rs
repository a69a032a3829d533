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

/// A header whose keys are not in offset order: the duplicate reported is
/// the second occurrence in offset order (here the first `a` key, whose
/// tensor lies after the other `a`), and every name is found after the
/// entries are sorted, for small and large (8,193+ entries) tables.
#[test]
fn duplicates_and_lookups_follow_offset_order_whatever_the_key_order() {
    let json = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[3,4]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#;
    let err = tensorsafe::Header::parse(&framed(json)).unwrap_err();
    assert_eq!(err.kind(), tensorsafe::ErrorKind::DuplicateTensor);
    assert_eq!(err.tensor(), Some("a"));
    assert_eq!(err.offset(), Some(9)); // the first key, just after the `{`

    for count in [10usize, 9_000] {
        // Keys in reverse offset order: every entry moves when sorted.
        let mut entries: Vec<String> = (0..count)
            .map(|i| {
                format!(
                    r#""t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{}]}}"#,
                    i + 1
                )
            })
            .collect();
        entries.reverse();
        let json = format!("{{{}}}", entries.join(","));
        let header = tensorsafe::Header::parse(&framed(&json)).unwrap();
        for i in 0..count {
            let name = format!("t{i}");
            let info = header
                .get(&name)
                .unwrap_or_else(|| panic!("{name} not found"));
            assert_eq!(info.name(), name);
            assert_eq!(info.data_offsets(), (i as u64, i as u64 + 1));
        }
        assert!(header.get("t").is_none());
        let order: Vec<&str> = header.names().collect();
        assert_eq!(order[..2], ["t0", "t1"]);
    }
}

/// The 8-byte prefix and `json`.
fn framed(json: &str) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes
}
