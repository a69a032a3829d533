//! Differential tests against the reference `safetensors` crate 0.8.0:
//! the same verdict and the same contents on generated valid files and on
//! byte-level mutations of them, except where FORMAT.md makes this crate
//! stricter. Also: our writer's output is byte-identical to the reference's.

use std::collections::{BTreeMap, HashMap};

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

type Contents = (
    BTreeMap<String, (String, Vec<usize>, Vec<u8>)>,
    Option<BTreeMap<String, String>>,
);

fn read_ours(bytes: &[u8]) -> Result<Contents, tensorsafe::Error> {
    let st = SafeTensors::deserialize(bytes)?;
    let tensors = st
        .iter()
        .map(|(n, v)| {
            (
                n.to_owned(),
                (v.dtype().to_string(), v.shape().to_vec(), v.data().to_vec()),
            )
        })
        .collect();
    Ok((tensors, st.metadata().cloned()))
}

fn read_reference(bytes: &[u8]) -> Option<Contents> {
    let st = safetensors::SafeTensors::deserialize(bytes).ok()?;
    let tensors = st
        .iter()
        .map(|(n, v)| {
            (
                n.to_owned(),
                (
                    format!("{:?}", v.dtype()),
                    v.shape().to_vec(),
                    v.data().to_vec(),
                ),
            )
        })
        .collect();
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).ok()?;
    let metadata = meta.metadata().clone().map(|m| m.into_iter().collect());
    Some((tensors, metadata))
}

/// Both crates must agree, except where FORMAT.md says we are stricter.
fn agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mine = read_ours(bytes);
    let theirs = read_reference(bytes);
    match (mine, theirs) {
        (Ok(a), Some(b)) => prop_assert_eq!(a, b),
        (Err(_), None) => {}
        (Ok(_), None) => {
            return Err(TestCaseError::fail(format!(
                "we accept, the reference refuses: {:?}",
                String::from_utf8_lossy(bytes)
            )))
        }
        (Err(e), Some(_)) => {
            // Stricter by design (FORMAT.md), and only there: the tensor our
            // error names has the reference's leniency that error stands for.
            prop_assert!(
                common::quirks::excused(bytes, &e),
                "we refuse ({e}), the reference accepts: {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    Ok(())
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
        prop_assert!(read_ours(&bytes).is_ok());
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
        format!(r#"{{"w":{{{w},"x":1,"x":2}}}}"#),
        format!(r#"{{"__metadata__":{{"k":"a","k":"b"}},"w":{{{w}}}}}"#),
    ];
    for header in accepted {
        let bytes = file_of(&header);
        agree(&bytes).unwrap();
        let ours = SafeTensors::deserialize(&bytes).unwrap();
        if let Some(metadata) = ours.metadata() {
            assert_eq!(metadata["k"], "b", "{header}");
        }
    }
}
