//! The `serde` feature: dtypes by name, the header as its own JSON object
//! (and back, through the same validator), tensor descriptions.
#![cfg(feature = "serde")]

use serde_json::{json, Value};
use tensorsafe::{serialize, Dtype, Header, SafeTensors, TensorView};

fn golden(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    std::fs::read(dir.join(name)).unwrap()
}

/// The header's JSON exactly as the file stores it.
fn stored(bytes: &[u8]) -> Value {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + n]).unwrap()
}

#[test]
fn dtypes_are_their_header_names() {
    for &dtype in Dtype::ALL {
        let text = serde_json::to_string(&dtype).unwrap();
        assert_eq!(text, format!("\"{}\"", dtype.name()));
        assert_eq!(serde_json::from_str::<Dtype>(&text).unwrap(), dtype);
    }
    let err = serde_json::from_str::<Dtype>("\"f32\"").unwrap_err();
    assert!(err.to_string().contains("dtype name"), "{err}");
}

#[test]
fn a_header_serializes_to_the_files_own_json_and_back() {
    for name in [
        "gpt2_tiny.safetensors",
        "all_dtypes.safetensors",
        "metadata_escapes.safetensors",
        "empty.safetensors",
        "scalar.safetensors",
    ] {
        let bytes = golden(name);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let value = serde_json::to_value(st.header()).unwrap();
        assert_eq!(value, stored(&bytes), "{name}");
        let back: Header = serde_json::from_value(value).unwrap();
        // (Zero-byte tensors share an offset; JSON objects have no order.)
        let sorted = |h: &Header| {
            let mut v: Vec<_> = h
                .iter()
                .map(|t| {
                    (
                        t.name().to_owned(),
                        t.dtype(),
                        t.shape().to_vec(),
                        t.data_offsets(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&back), sorted(st.header()), "{name}");
        assert_eq!(back.metadata(), st.header().metadata(), "{name}");
        // With the file's data section it reads the same tensors.
        let again = SafeTensors::from_parts(&back, st.data()).unwrap();
        for (n, view) in st.iter() {
            assert_eq!(again.tensor(n).unwrap(), view, "{name}");
        }
    }
}

#[test]
fn a_deserialized_header_obeys_the_parser_rules() {
    let entry = |b: u64, e: u64| json!({"dtype": "U8", "shape": [e - b], "data_offsets": [b, e]});
    let gap = json!({"a": entry(0, 2), "b": entry(3, 4)});
    let err = serde_json::from_value::<Header>(gap)
        .unwrap_err()
        .to_string();
    assert!(err.contains("hole in the data section"), "{err}");
    let bad_size = json!({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 4]}});
    assert!(serde_json::from_value::<Header>(bad_size).is_err());
    let missing = json!({"a": {"dtype": "F32", "shape": [1]}});
    assert!(serde_json::from_value::<Header>(missing)
        .unwrap_err()
        .to_string()
        .contains("data_offsets"));
    // From text, a name given twice is refused, as by the parser.
    let twice = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},
                    "a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#;
    assert!(serde_json::from_str::<Header>(twice)
        .unwrap_err()
        .to_string()
        .contains("duplicate"));
    // Null metadata is no metadata; unknown fields are ignored.
    let ok = json!({"__metadata__": null, "a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2], "x": 1}});
    let header: Header = serde_json::from_value(ok).unwrap();
    assert!(header.metadata().is_none());
    assert_eq!(header.data_len(), 2);
}

#[test]
fn a_tensor_info_describes_itself() {
    let bytes = serialize(
        [("w", TensorView::new(Dtype::BF16, [2], &[0; 4]).unwrap())],
        None,
    )
    .unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let listing: Vec<Value> = st
        .header()
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    assert_eq!(
        listing,
        [json!({"name": "w", "dtype": "BF16", "shape": [2], "data_offsets": [0, 4]})]
    );
}
