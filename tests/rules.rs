//! One broken file per rule of FORMAT.md, each refused with that rule's kind.

use tensorsafe::{ErrorKind, Limits, ParseOptions, SafeTensors};

/// A file with `header` as its JSON (unpadded) followed by `data`.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn kind(bytes: &[u8]) -> ErrorKind {
    match SafeTensors::deserialize(bytes) {
        Ok(_) => panic!("accepted: {:?}", String::from_utf8_lossy(bytes)),
        Err(e) => {
            let text = e.to_string();
            assert!(!text.contains('\n'), "multi-line message: {text}");
            e.kind()
        }
    }
}

fn header_kind(header: &str, data: &[u8]) -> ErrorKind {
    kind(&file(header, data))
}

const W: &str = r#""w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}"#;

#[test]
fn a_valid_file_is_accepted_as_control() {
    let bytes = file(&format!("{{{W}}}"), &[1, 2]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("w").unwrap().data(), &[1, 2]);
}

#[test]
fn shorter_than_the_prefix() {
    assert_eq!(kind(b""), ErrorKind::FileTooSmall);
    assert_eq!(kind(&[1, 0, 0]), ErrorKind::FileTooSmall);
}

#[test]
fn header_length_over_the_limit() {
    let mut bytes = 100_000_001u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert_eq!(kind(&bytes), ErrorKind::HeaderTooLarge);
    assert_eq!(kind(&u64::MAX.to_le_bytes()), ErrorKind::HeaderTooLarge);
    let small = ParseOptions::default().limits(Limits::default().max_header_bytes(4));
    let err = SafeTensors::deserialize_with(&file("{}    ", &[]), &small).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HeaderTooLarge);
}

#[test]
fn header_length_past_the_end() {
    let mut bytes = 100u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert_eq!(kind(&bytes), ErrorKind::HeaderOutOfBounds);
}

#[test]
fn header_not_utf8() {
    let mut bytes = file(r#"{"w\xff":1}"#, &[]);
    let at = bytes.iter().position(|&b| b == b'\\').unwrap();
    bytes.splice(at..at + 4, [0xff, b' ', b' ', b' ']);
    let err = SafeTensors::deserialize(&bytes).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUtf8);
    assert_eq!(err.offset(), Some(at as u64));
}

#[test]
fn header_not_json() {
    for header in [
        "",
        "   ",
        "{",
        r#"{"w":"#,
        "{]",
        "{'w':1}",
        r#"{"w":{"dtype":"U8",}}"#,
        "{,}",
        "nul",
    ] {
        assert_eq!(
            header_kind(header, &[]),
            ErrorKind::JsonSyntax,
            "{header:?}"
        );
    }
    // A byte-order mark is not JSON whitespace.
    assert_eq!(header_kind("\u{feff}{}", &[]), ErrorKind::JsonSyntax);
}

#[test]
fn header_not_an_object() {
    for header in ["[]", "1", "\"s\"", "null", "true"] {
        assert_eq!(
            header_kind(header, &[]),
            ErrorKind::InvalidType,
            "{header:?}"
        );
    }
}

#[test]
fn bytes_after_the_object() {
    assert_eq!(
        header_kind("{}\0\0\0\0\0\0", &[]),
        ErrorKind::TrailingCharacters
    );
    assert_eq!(header_kind("{}x", &[]), ErrorKind::TrailingCharacters);
    assert_eq!(header_kind("{}{}", &[]), ErrorKind::TrailingCharacters);
}

#[test]
fn json_whitespace_around_the_object_is_accepted() {
    for header in ["{}", " \t\r\n{} \t\r\n", "{}      "] {
        let bytes = file(header, &[]);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert!(st.is_empty());
    }
}

#[test]
fn nesting_deeper_than_128_levels_even_in_an_ignored_field() {
    let deep = |levels: usize| {
        format!(
            r#"{{"w":{{"dtype":"U8","shape":[],"data_offsets":[0,1],"x":{}1{}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    // The object and the entry take two levels.
    assert!(SafeTensors::deserialize(&file(&deep(125), &[0])).is_ok());
    assert_eq!(header_kind(&deep(126), &[0]), ErrorKind::RecursionLimit);
    assert_eq!(
        header_kind(&"[".repeat(100_000), &[]),
        ErrorKind::RecursionLimit
    );
    let in_entry = format!(r#"{{"w":{}"#, "{\"a\":".repeat(100_000));
    assert_eq!(header_kind(&in_entry, &[]), ErrorKind::RecursionLimit);
}

#[test]
fn tensor_entry_of_the_wrong_type() {
    assert_eq!(header_kind(r#"{"w":1}"#, &[]), ErrorKind::InvalidType);
    assert_eq!(
        header_kind(r#"{"w":["U8",[],[0,1]]}"#, &[0]),
        ErrorKind::InvalidType
    );
    assert_eq!(
        header_kind(r#"{"w":{"dtype":1,"shape":[],"data_offsets":[0,1]}}"#, &[0]),
        ErrorKind::InvalidType
    );
    assert_eq!(
        header_kind(
            r#"{"w":{"dtype":"U8","shape":1,"data_offsets":[0,1]}}"#,
            &[0]
        ),
        ErrorKind::InvalidType
    );
    assert_eq!(
        header_kind(r#"{"w":{"dtype":"U8","shape":[],"data_offsets":{}}}"#, &[0]),
        ErrorKind::InvalidType
    );
}

#[test]
fn missing_fields() {
    for header in [
        r#"{"w":{"shape":[],"data_offsets":[0,1]}}"#,
        r#"{"w":{"dtype":"U8","data_offsets":[0,1]}}"#,
        r#"{"w":{"dtype":"U8","shape":[]}}"#,
        r#"{"w":{}}"#,
    ] {
        let err = SafeTensors::deserialize(&file(header, &[0])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingField, "{header}");
        assert_eq!(err.tensor(), Some("w"));
    }
}

#[test]
fn a_field_twice() {
    let h = r#"{"w":{"dtype":"U8","dtype":"U8","shape":[],"data_offsets":[0,1]}}"#;
    assert_eq!(header_kind(h, &[0]), ErrorKind::DuplicateField);
}

#[test]
fn unknown_fields_are_ignored_unless_strict() {
    let h = r#"{"w":{"dtype":"U8","shape":[],"data_offsets":[0,1],"extra":{"any":[1,"x",null]}}}"#;
    assert!(SafeTensors::deserialize(&file(h, &[0])).is_ok());
    let strict = ParseOptions::default().deny_unknown_fields(true);
    let err = SafeTensors::deserialize_with(&file(h, &[0]), &strict).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownField);
}

#[test]
fn duplicate_tensor_names_even_spelled_differently() {
    let h = format!(r#"{{{W},"w":{{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}}}"#);
    let err = SafeTensors::deserialize(&file(&h, &[1, 2])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DuplicateTensor);
    assert_eq!(err.tensor(), Some("w"));
    let escaped = format!(r#"{{{W},"\u0077":{{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}}}"#);
    assert_eq!(header_kind(&escaped, &[1, 2]), ErrorKind::DuplicateTensor);
}

#[test]
fn metadata_twice_or_not_strings() {
    let twice = format!(r#"{{"__metadata__":{{}},{W},"__metadata__":null}}"#);
    assert_eq!(header_kind(&twice, &[1, 2]), ErrorKind::DuplicateMetadata);
    let spelled = format!(r#"{{"__metadata__":{{}},{W},"__metadata\u005f_":{{}}}}"#);
    assert_eq!(header_kind(&spelled, &[1, 2]), ErrorKind::DuplicateMetadata);
    for value in [
        r#"{"a":1}"#,
        r#"{"a":null}"#,
        r#"{"a":["x"]}"#,
        r#"{"a":{"b":"c"}}"#,
        "1",
        "[]",
        "\"s\"",
    ] {
        let h = format!(r#"{{"__metadata__":{value},{W}}}"#);
        assert_eq!(
            header_kind(&h, &[1, 2]),
            ErrorKind::InvalidMetadata,
            "{value}"
        );
    }
}

#[test]
fn null_metadata_is_no_metadata() {
    let bytes = file(&format!(r#"{{"__metadata__":null,{W}}}"#), &[1, 2]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.metadata().is_none());
    let bytes = file(&format!(r#"{{"__metadata__":{{}},{W}}}"#), &[1, 2]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.metadata().map(|m| m.len()), Some(0));
}

#[test]
fn unknown_or_lower_case_dtype() {
    for dtype in ["f32", "F128", "", "BOOL ", "Bf16", "F8_E4M3FN"] {
        let h = format!(r#"{{"w":{{"dtype":"{dtype}","shape":[],"data_offsets":[0,1]}}}}"#);
        let err = SafeTensors::deserialize(&file(&h, &[0])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownDtype, "{dtype}");
        assert_eq!(err.tensor(), Some("w"));
    }
}

#[test]
fn numbers_that_are_not_u64() {
    for dim in [
        "-1",
        "-0",
        "1.0",
        "1e2",
        "1E0",
        "18446744073709551616",
        "\"2\"",
        "null",
        "[2]",
    ] {
        let h = format!(r#"{{"w":{{"dtype":"U8","shape":[{dim}],"data_offsets":[0,2]}}}}"#);
        assert_eq!(header_kind(&h, &[0, 0]), ErrorKind::InvalidInteger, "{dim}");
        let h = format!(r#"{{"w":{{"dtype":"U8","shape":[2],"data_offsets":[0,{dim}]}}}}"#);
        assert_eq!(header_kind(&h, &[0, 0]), ErrorKind::InvalidInteger, "{dim}");
    }
    for bad in ["01", "1.", "+1", "0x10", ".5", "-"] {
        let h = format!(r#"{{"w":{{"dtype":"U8","shape":[{bad}],"data_offsets":[0,2]}}}}"#);
        assert_eq!(header_kind(&h, &[0, 0]), ErrorKind::JsonSyntax, "{bad}");
    }
}

#[test]
fn data_offsets_not_a_pair_or_reversed() {
    for offsets in ["[]", "[0]", "[0,1,2]", "[1,0]"] {
        let h = format!(r#"{{"w":{{"dtype":"U8","shape":[1],"data_offsets":{offsets}}}}}"#);
        assert_eq!(
            header_kind(&h, &[0]),
            ErrorKind::InvalidOffsets,
            "{offsets}"
        );
    }
}

#[test]
fn too_many_tensors_or_dimensions() {
    let h = format!(r#"{{{W},"v":{{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}}}"#);
    let one = ParseOptions::default().limits(Limits::default().max_tensors(1));
    assert_eq!(
        SafeTensors::deserialize_with(&file(&h, &[1, 2]), &one)
            .unwrap_err()
            .kind(),
        ErrorKind::TooManyTensors
    );
    let rank = format!("[{}]", vec!["1"; 65].join(","));
    let h = format!(r#"{{"w":{{"dtype":"U8","shape":{rank},"data_offsets":[0,1]}}}}"#);
    assert_eq!(header_kind(&h, &[0]), ErrorKind::RankTooLarge);
    let rank = format!("[{}]", vec!["1"; 64].join(","));
    let h = format!(r#"{{"w":{{"dtype":"U8","shape":{rank},"data_offsets":[0,1]}}}}"#);
    assert!(SafeTensors::deserialize(&file(&h, &[0])).is_ok());
}

#[test]
fn shape_or_byte_count_overflow() {
    let h = r#"{"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,1]}}"#;
    assert_eq!(header_kind(h, &[0]), ErrorKind::Overflow);
    let h = r#"{"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,1]}}"#;
    assert_eq!(header_kind(h, &[0]), ErrorKind::Overflow);
    // An empty dimension makes the product 0 whatever the others are.
    let h = r#"{"w":{"dtype":"U8","shape":[0,18446744073709551615],"data_offsets":[0,0]}}"#;
    assert!(SafeTensors::deserialize(&file(h, &[])).is_ok());
}

#[test]
fn sub_byte_tensor_not_whole_bytes() {
    let h = r#"{"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#;
    assert_eq!(header_kind(h, &[0, 0]), ErrorKind::PartialByte);
    let h = r#"{"w":{"dtype":"F6_E3M2","shape":[2],"data_offsets":[0,2]}}"#;
    assert_eq!(header_kind(h, &[0, 0]), ErrorKind::PartialByte);
    let h = r#"{"w":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,3]}}"#;
    assert!(SafeTensors::deserialize(&file(h, &[0, 0, 0])).is_ok());
}

#[test]
fn span_differs_from_shape_times_dtype() {
    let h = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#;
    let err = SafeTensors::deserialize(&file(h, &[0; 4])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SizeMismatch);
    assert_eq!(err.tensor(), Some("w"));
    assert_eq!(err.offset(), Some(9));
}

#[test]
fn holes_overlaps_aliasing_and_a_late_start() {
    let two = |a: &str, b: &str| {
        format!(
            r#"{{"a":{{"dtype":"U8","shape":[2],"data_offsets":{a}}},"b":{{"dtype":"U8","shape":[2],"data_offsets":{b}}}}}"#
        )
    };
    assert_eq!(
        header_kind(&two("[0,2]", "[3,5]"), &[0; 5]),
        ErrorKind::DataGap
    );
    assert_eq!(
        header_kind(&two("[0,2]", "[1,3]"), &[0; 3]),
        ErrorKind::DataOverlap
    );
    assert_eq!(
        header_kind(&two("[0,2]", "[0,2]"), &[0; 2]),
        ErrorKind::DataOverlap
    );
    assert_eq!(
        header_kind(&two("[1,3]", "[3,5]"), &[0; 5]),
        ErrorKind::DataGap
    );
    // Order in the header does not matter, only coverage.
    assert!(SafeTensors::deserialize(&file(&two("[2,4]", "[0,2]"), &[0; 4])).is_ok());
}

#[test]
fn empty_tensors_may_share_an_offset() {
    let h = r#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,1]},"b":{"dtype":"F32","shape":[2,0],"data_offsets":[1,1]},"c":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
    let bytes = file(h, &[9]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.names().collect::<Vec<_>>(), ["c", "a", "b"]);
}

#[test]
fn trailing_data_and_truncation() {
    let h = format!("{{{W}}}");
    let err = SafeTensors::deserialize(&file(&h, &[1, 2, 3])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TrailingData);
    let err = SafeTensors::deserialize(&file(&h, &[1])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataOutOfBounds);
    assert_eq!(err.tensor(), Some("w"));
    let huge = r#"{"w":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}"#;
    assert_eq!(header_kind(huge, &[0]), ErrorKind::DataOutOfBounds);
}

#[test]
fn control_characters_and_lone_surrogates_in_names() {
    assert_eq!(header_kind("{\"a\nb\":1}", &[]), ErrorKind::JsonSyntax);
    assert_eq!(header_kind(r#"{"\ud800":1}"#, &[]), ErrorKind::JsonSyntax);
    assert_eq!(header_kind(r#"{"\udc00":1}"#, &[]), ErrorKind::JsonSyntax);
    assert_eq!(header_kind(r#"{"\q":1}"#, &[]), ErrorKind::JsonSyntax);
}
