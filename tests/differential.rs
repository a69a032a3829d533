//! Differential tests against the reference `safetensors` crate 0.8.0:
//! the same verdict and the same contents on generated valid files and on
//! byte-level mutations of them, except where FORMAT.md makes this crate
//! stricter. Also: our writer's output is byte-identical to the reference's.

use std::collections::HashMap;

use proptest::prelude::*;
use tensorsafe::{serialize, Dtype, ErrorKind, Metadata, SafeTensors};

mod common;
use common::{long_name, tensors_named, views, Tensor};

fn metadata() -> impl Strategy<Value = Option<Metadata>> {
    prop::option::of(prop::collection::btree_map(long_name(), long_name(), 0..=1))
}

fn ours(ts: &[Tensor], metadata: Option<&Metadata>) -> Vec<u8> {
    serialize(views(ts), metadata).unwrap()
}

fn reference_dtype(dtype: Dtype) -> safetensors::Dtype {
    serde_json::from_value(serde_json::Value::String(dtype.to_string())).unwrap()
}

fn reference(ts: &[Tensor], metadata: Option<&Metadata>) -> Vec<u8> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = ts
        .iter()
        .map(|t| {
            let view = safetensors::tensor::TensorView::new(
                reference_dtype(t.dtype),
                t.shape.clone(),
                &t.data,
            )
            .unwrap();
            (t.name.clone(), view)
        })
        .collect();
    let metadata: Option<HashMap<String, String>> =
        metadata.map(|m| m.clone().into_iter().collect());
    safetensors::serialize(views, metadata).unwrap()
}

/// Both crates must agree, except where FORMAT.md says we are stricter.
fn agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    common::quirks::agree(bytes).map_err(TestCaseError::fail)
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Prefix(u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting =
        prop::sample::select(b"\"\\{}[],:-.0123456789eE+ \t\n\x00\xff\xc3abnulltrue_".to_vec());
    let byte = prop_oneof![3 => interesting, 1 => any::<u8>()];
    prop_oneof![
        4 => (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        2 => (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => prop_oneof![Just(0u64), Just(u64::MAX), 0u64..600].prop_map(Mutation::Prefix),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    // Mostly aim inside the header, where the rules are.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let span = n.saturating_add(8).min(bytes.len()).max(9);
    match *m {
        Mutation::Set(i, b) => {
            let i = 8 + i % (span - 8);
            if i < bytes.len() {
                bytes[i] = b;
            }
        }
        Mutation::Insert(i, b) => bytes.insert((8 + i % (span - 8)).min(bytes.len()), b),
        Mutation::Remove(i) => {
            let i = 8 + i % (span - 8);
            if i < bytes.len() {
                bytes.remove(i);
            }
        }
        Mutation::Prefix(v) => bytes[..8].copy_from_slice(&v.to_le_bytes()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn writer_output_is_byte_identical_to_the_reference(ts in tensors_named(6, long_name()), meta in metadata()) {
        // The reference writes invalid JSON (`{},"__metadata__":{}}`) for empty
        // metadata and no tensors; ours writes `{"__metadata__":{}}`.
        prop_assume!(!(ts.is_empty() && meta.as_ref().is_some_and(|m| m.is_empty())));
        prop_assert_eq!(ours(&ts, meta.as_ref()), reference(&ts, meta.as_ref()));
    }

    #[test]
    fn valid_files_read_the_same(ts in tensors_named(6, long_name()), meta in metadata()) {
        let bytes = ours(&ts, meta.as_ref());
        prop_assert!(SafeTensors::deserialize(&bytes).is_ok());
        agree(&bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn mutated_files_get_the_same_verdict(
        ts in tensors_named(6, long_name()),
        meta in metadata(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = ours(&ts, meta.as_ref());
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        agree(&bytes)?;
    }
}

/// JSON values for the places where the header allows any JSON.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
        "\"([a-z]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}|é|😀){0,5}\"",
        // Near misses, mostly invalid.
        "[-+.0-9eE]{1,4}",
        "\"\\\\u[dD][89abAB][0-9a-fA-F]{2}(\\\\u[dD][c-fC-F][0-9a-fA-F]{2})?\"",
        "(tru|nul|fals|True|NaN|Infinity)",
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        let ws = "[ \t\r\n]{0,2}";
        prop_oneof![
            (prop::collection::vec((inner.clone(), ws), 0..4)).prop_map(|items| format!(
                "[{}]",
                items
                    .into_iter()
                    .map(|(v, w)| format!("{w}{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            (prop::collection::vec(("[a-z\"]{0,3}", inner, ws), 0..4)).prop_map(|items| format!(
                "{{{}}}",
                items
                    .into_iter()
                    .map(|(k, v, w)| format!("\"{k}\":{w}{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Our scanner and serde_json (inside the reference) accept the same JSON.
    #[test]
    fn any_json_in_an_ignored_field_or_metadata(value in json_value(), ws in "[ \t\r\n]{0,2}", slot in 0usize..4) {
        let w = r#""dtype":"U8","shape":[1],"data_offsets":[0,1]"#;
        let header = match slot {
            0 => format!(r#"{{"w":{{{w},"extra":{ws}{value}}}}}"#),
            1 => format!(r#"{{"__metadata__":{ws}{value},"w":{{{w}}}}}"#),
            2 => format!(r#"{{"w":{{"shape":{value},{ws}"dtype":"U8","data_offsets":[0,1]}}}}"#),
            _ => format!(r#"{{"w":{{{w}}}{ws}{value}}}"#),
        };
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.push(7);
        agree(&bytes)?;
    }
}

#[test]
fn nesting_limit_matches_the_reference_exactly() {
    for levels in 120..132 {
        let value = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        for header in [
            format!(r#"{{"w":{{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":{value}}}}}"#),
            format!(
                r#"{{"__metadata__":{{"k":"v"}},"w":{{"x":{value},"dtype":"U8","shape":[1],"data_offsets":[0,1]}}}}"#
            ),
        ] {
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(header.as_bytes());
            bytes.push(0);
            let ours = SafeTensors::deserialize(&bytes).is_ok();
            let theirs = safetensors::SafeTensors::deserialize(&bytes).is_ok();
            assert_eq!(ours, theirs, "{levels} levels");
        }
    }
}

/// The documented cases where we refuse what the reference accepts.
#[test]
fn deliberate_strictness_is_exactly_where_documented() {
    let cases = [
        (
            r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            ErrorKind::DuplicateTensor,
        ),
        (r#"{"w":["U8",[1],[0,1]]}"#, ErrorKind::InvalidType),
        (
            r#"{"w":{"dtype":{"U8":null},"shape":[1],"data_offsets":[0,1]}}"#,
            ErrorKind::InvalidType,
        ),
    ];
    for (header, kind) in cases {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.push(0);
        assert!(
            safetensors::SafeTensors::deserialize(&bytes).is_ok(),
            "reference refuses {header}"
        );
        let err = SafeTensors::deserialize(&bytes).unwrap_err();
        assert_eq!(err.kind(), kind, "{header}");
        assert!(common::quirks::excused(&bytes, &err), "{header}");
    }
}

fn file_of(header: &str) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.push(0);
    bytes
}

/// A key repeated elsewhere than among tensor names is no leniency: both
/// crates give the same verdict, and nothing is excused.
#[test]
fn other_repeated_keys_get_the_same_verdict() {
    let w = r#""dtype":"U8","shape":[1],"data_offsets":[0,1]"#;
    let refused = [
        format!(r#"{{"w":{{{w},"shape":[1]}}}}"#),
        format!(r#"{{"__metadata__":{{}},"__metadata__":{{}},"w":{{{w}}}}}"#),
    ];
    for header in refused {
        let bytes = file_of(&header);
        assert!(
            safetensors::SafeTensors::deserialize(&bytes).is_err(),
            "{header}"
        );
        let err = SafeTensors::deserialize(&bytes).unwrap_err();
        assert!(!common::quirks::excused(&bytes, &err), "{header}");
    }
    let accepted = [
        (format!(r#"{{"w":{{{w},"x":1,"x":2}}}}"#), false),
        (
            format!(r#"{{"__metadata__":{{"k":"a","k":"b"}},"w":{{{w}}}}}"#),
            true,
        ),
    ];
    for (header, has_metadata) in accepted {
        let bytes = file_of(&header);
        agree(&bytes).unwrap();
        let ours = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(ours.metadata().is_some(), has_metadata, "{header}");
        if has_metadata {
            assert_eq!(ours.metadata().unwrap()["k"], "b", "{header}");
        }
    }
}

/// Several leniencies in one file are taken out one after another, and the
/// file then reads the same in both crates.
#[test]
fn leniencies_are_taken_out_in_turn() {
    let headers = [
        // An array entry given twice, the first with a dtype object.
        r#"{"w":[{"U8":null},[1],[0,1]],"v":{"dtype":{"U8":null},"shape":[1],"data_offsets":[1,2]},"w":["U8",[1],[0,1]]}"#,
        // A hidden entry first, with reversed offsets.
        r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[2,1]}, "v":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
        // Three entries of a name, the hidden ones apart.
        r#"{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"v":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"w":["U8",[1],[0,1]] ,"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
    ];
    for header in headers {
        let mut bytes = file_of(header);
        bytes.push(1);
        assert!(SafeTensors::deserialize(&bytes).is_err(), "{header}");
        assert!(common::quirks::reference(&bytes).is_some(), "{header}");
        common::quirks::agree(&bytes).unwrap();
    }
}

/// Once a leniency is excused, the rest of the file is still compared: a
/// reader stricter than ours elsewhere in a file with a repeated name, or
/// reading other contents, fails the check.
#[test]
fn an_excused_file_is_still_compared() {
    let header = r#"{"__metadata__":{"k":"v"},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
    let bytes = file_of(header);
    common::quirks::agree(&bytes).unwrap();
    // Refuses any file with metadata, with an error no leniency explains.
    let stricter = |file: &[u8], options: &tensorsafe::ParseOptions| {
        let read = common::quirks::ours(file, options)?;
        match read.1 {
            Some(_) => Err(SafeTensors::deserialize(b"").unwrap_err()),
            None => Ok(read),
        }
    };
    let failure = common::quirks::agree_with(&bytes, stricter).unwrap_err();
    assert!(failure.contains("we refuse"), "{failure}");
    // Drops the metadata.
    let other = |file: &[u8], options: &tensorsafe::ParseOptions| {
        common::quirks::ours(file, options).map(|(tensors, _)| (tensors, None))
    };
    let failure = common::quirks::agree_with(&bytes, other).unwrap_err();
    assert!(failure.contains("different contents"), "{failure}");
}

/// Reversed offsets are excused only inside an entry the reference drops.
#[test]
fn reversed_offsets_are_excused_only_in_a_hidden_entry() {
    let entry = |offsets: &str| format!(r#"{{"dtype":"U8","shape":[0],"data_offsets":{offsets}}}"#);
    // Our error for reversed offsets in the kept entry.
    let kept = file_of(&format!(
        r#"{{"w":{},"w":{}}}"#,
        entry("[0,0]"),
        entry("[1,0]")
    ));
    let err = SafeTensors::deserialize(&kept).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOffsets);
    assert!(!common::quirks::excused(&kept, &err));
    // The same error in a file of the same layout whose hidden entry is
    // reversed too: the error is still not inside the hidden entry.
    let both = file_of(&format!(
        r#"{{"w":{},"w":{}}}"#,
        entry("[1,0]"),
        entry("[1,0]")
    ));
    assert_eq!(both.len(), kept.len());
    assert!(!common::quirks::excused(&both, &err));
    // Inside the hidden entry, it is excused.
    let hidden = file_of(&format!(
        r#"{{"w":{},"w":{}}}"#,
        entry("[1,0]"),
        entry("[0,0]")
    ));
    let err = SafeTensors::deserialize(&hidden).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOffsets);
    assert!(common::quirks::excused(&hidden, &err));
    common::quirks::agree(&hidden).unwrap();
    // Reversed in another tensor, before a repeated name with a reversed
    // hidden entry: not excused.
    let elsewhere = file_of(&format!(
        r#"{{"v":{},"w":{},"w":{}}}"#,
        entry("[1,0]"),
        entry("[1,0]"),
        entry("[0,0]")
    ));
    let err = SafeTensors::deserialize(&elsewhere).unwrap_err();
    assert_eq!(err.tensor(), Some("v"));
    assert!(!common::quirks::excused(&elsewhere, &err));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The names both crates have mean the same: `tensors()`, `names()`,
    /// `len()`, `read_metadata()` (but for its header type) and `tensor()`
    /// give the same answers, up to order (the reference's is a hash map's,
    /// ours the file's).
    #[test]
    fn shared_reader_names_mean_the_same(ts in tensors_named(6, long_name()), meta in metadata()) {
        let bytes = ours(&ts, meta.as_ref());
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let theirs = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let sorted = |mut v: Vec<(String, Vec<usize>, Vec<u8>)>| { v.sort(); v };
        prop_assert_eq!(
            sorted(st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec())).collect()),
            sorted(theirs.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec())).collect())
        );
        let (mut a, mut b) = (st.names(), theirs.names());
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
        prop_assert_eq!(st.len(), theirs.len());
        let (n, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let (their_n, their_meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        prop_assert_eq!(n, their_n);
        prop_assert_eq!(header.data_len() as usize, their_meta.data_len());
        prop_assert_eq!(header.metadata().cloned(), their_meta.metadata().clone().map(|m| m.into_iter().collect()));
        for name in st.names() {
            prop_assert_eq!(st.tensor(name).unwrap().data(), theirs.tensor(name).unwrap().data());
        }
    }
}

#[test]
fn dtype_sizes_mean_what_the_reference_means() {
    for &dtype in Dtype::ALL {
        let theirs = reference_dtype(dtype);
        assert_eq!(dtype.bitsize(), theirs.bitsize(), "{dtype}");
        #[allow(deprecated)] // both crates deprecate `size`; it still means the same
        let (ours, their_size) = (dtype.size(), theirs.size());
        assert_eq!(ours, their_size, "{dtype}");
        let bits = theirs.bitsize();
        assert_eq!(
            dtype.whole_bytes(),
            (bits % 8 == 0).then_some(bits / 8),
            "{dtype}"
        );
    }
}

#[test]
fn read_metadata_rejects_what_deserialize_rejects() {
    let bytes = serialize(
        [(
            "w",
            tensorsafe::TensorView::from_slice([2], &[1u8, 2]).unwrap(),
        )],
        None,
    )
    .unwrap();
    let short = &bytes[..bytes.len() - 1];
    assert_eq!(
        SafeTensors::read_metadata(short).unwrap_err().kind(),
        SafeTensors::deserialize(short).unwrap_err().kind()
    );
    assert!(safetensors::SafeTensors::read_metadata(short).is_err());
}
