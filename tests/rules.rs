//! What the broken-file corpus cannot say. The corpus
//! (`tests/data/make_broken.py`, checked by `tests/broken.rs` and by the
//! CLI's tests) is the one table of what is refused and why; here are the
//! edge cases that are accepted, the rules that depend on options, and
//! where errors point.

use tensorsafe::{ErrorKind, ParseOptions, SafeTensors};

/// A file with `header` as its JSON (unpadded) followed by `data`.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn accepted(header: &str, data: &[u8]) -> bool {
    SafeTensors::deserialize(&file(header, data)).is_ok()
}

const W: &str = r#""w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}"#;

#[test]
fn a_valid_file_is_accepted_as_control() {
    let bytes = file(&format!("{{{W}}}"), &[1, 2]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("w").unwrap().data(), &[1, 2]);
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
fn nesting_up_to_the_limit_is_accepted() {
    let deep = |levels: usize| {
        format!(
            r#"{{"w":{{"dtype":"U8","shape":[],"data_offsets":[0,1],"x":{}1{}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    // The object and the entry take two levels of serde_json's 127.
    assert!(accepted(&deep(125), &[0]));
    let err = SafeTensors::deserialize(&file(&deep(126), &[0])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RecursionLimit);
}

#[test]
fn unknown_fields_are_ignored_unless_strict() {
    let h = r#"{"w":{"dtype":"U8","shape":[],"data_offsets":[0,1],"extra":{"any":[1,"x",null]}}}"#;
    assert!(accepted(h, &[0]));
    let mut strict = ParseOptions::default();
    strict.deny_unknown_fields = true;
    let err = SafeTensors::deserialize_with(&file(h, &[0]), &strict).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownField);
    assert_eq!(err.tensor(), Some("w"));
}

#[test]
fn limits_are_options() {
    let mut small = ParseOptions::default();
    small.limits.max_header_bytes = 4;
    let err = SafeTensors::deserialize_with(&file("{}    ", &[]), &small).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HeaderTooLarge);

    let h = format!(r#"{{{W},"v":{{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}}}"#);
    let mut one = ParseOptions::default();
    one.limits.max_tensors = 1;
    let err = SafeTensors::deserialize_with(&file(&h, &[1, 2]), &one).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyTensors);
    assert!(SafeTensors::deserialize(&file(&h, &[1, 2])).is_ok());

    let rank = |n: usize| {
        let dims = vec!["1"; n].join(",");
        format!(r#"{{"w":{{"dtype":"U8","shape":[{dims}],"data_offsets":[0,1]}}}}"#)
    };
    assert!(accepted(&rank(64), &[0]));
    let mut wide = ParseOptions::default();
    wide.limits.max_rank = 128;
    assert!(SafeTensors::deserialize_with(&file(&rank(100), &[0]), &wide).is_ok());
}

#[test]
fn metadata_null_or_empty() {
    let bytes = file(&format!(r#"{{"__metadata__":null,{W}}}"#), &[1, 2]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.metadata().is_none());
    let bytes = file(&format!(r#"{{"__metadata__":{{}},{W}}}"#), &[1, 2]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.metadata().map(|m| m.len()), Some(0));
}

#[test]
fn sizes_at_the_edges_are_accepted() {
    // An empty dimension makes the product 0 whatever the others are.
    let h = format!(
        r#"{{"w":{{"dtype":"U8","shape":[0,{}],"data_offsets":[0,0]}}}}"#,
        usize::MAX
    );
    assert!(accepted(&h, &[]));
    let h = r#"{"w":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,3]}}"#;
    assert!(accepted(h, &[0, 0, 0]));
}

/// Shapes are `usize`, as the memory they describe is: on a 32-bit target a
/// dimension past `u32::MAX` is an overflow there, whatever the dtype.
#[test]
fn dimensions_past_usize_overflow() {
    let h = r#"{"w":{"dtype":"U8","shape":[0,4294967296],"data_offsets":[0,0]}}"#;
    let bytes = file(h, &[]);
    let result = SafeTensors::deserialize(&bytes).map(|st| st.len());
    if usize::BITS == 32 {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Overflow);
    } else {
        assert_eq!(result.unwrap(), 1);
    }
}

#[test]
fn order_in_the_header_does_not_matter_only_coverage() {
    let h = r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#;
    let bytes = file(h, &[0; 4]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.names(), ["b", "a"]);
    let h = r#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,1]},"b":{"dtype":"F32","shape":[2,0],"data_offsets":[1,1]},"c":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
    let bytes = file(h, &[9]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.names(), ["c", "a", "b"]);
}

#[test]
fn errors_point_at_the_tensor_and_the_byte() {
    let mut bytes = file(r#"{"w\xff":1}"#, &[]);
    let at = bytes.iter().position(|&b| b == b'\\').unwrap();
    bytes.splice(at..at + 4, [0xff, b' ', b' ', b' ']);
    let err = SafeTensors::deserialize(&bytes).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUtf8);
    assert_eq!(err.offset(), Some(at as u64));

    let h = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#;
    let err = SafeTensors::deserialize(&file(h, &[0; 4])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SizeMismatch);
    assert_eq!((err.tensor(), err.offset()), (Some("w"), Some(9)));

    let err = SafeTensors::deserialize(&file(r#"{"w":{}}"#, &[])).unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::MissingField, Some("w"))
    );

    let h = format!(r#"{{{W},"\u0077":{{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}}}"#);
    let err = SafeTensors::deserialize(&file(&h, &[1, 2])).unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::DuplicateTensor, Some("w"))
    );

    let err = SafeTensors::deserialize(&file(&format!("{{{W}}}"), &[1])).unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::DataOutOfBounds, Some("w"))
    );

    let h = r#"{"w":{"dtype":"f32","shape":[],"data_offsets":[0,4]}}"#;
    let err = SafeTensors::deserialize(&file(h, &[0; 4])).unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::UnknownDtype, Some("w"))
    );
}
