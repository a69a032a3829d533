//! Files written by Python safetensors 0.8.0 (tests/data/make_golden.py):
//! we read the exact bytes and shapes, and rewriting them gives the same file.

use std::path::PathBuf;

use serde_json::Value;
#[cfg(feature = "std")]
use tensorsafe::SafeTensorsFile;
use tensorsafe::{serialize, Dtype, SafeTensors};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

fn manifest() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(golden_dir().join("manifest.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(map) => map,
        other => panic!("manifest is not an object: {other}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_golden_file_reads_exactly() {
    let manifest = manifest();
    assert!(
        manifest.len() >= 10,
        "manifest lists {} files",
        manifest.len()
    );
    for (file, expected) in &manifest {
        let bytes = std::fs::read(golden_dir().join(file)).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let tensors = expected["tensors"].as_object().unwrap();
        assert_eq!(st.len(), tensors.len(), "{file}");
        for (name, t) in tensors {
            let view = st.tensor(name).unwrap_or_else(|e| panic!("{file}: {e}"));
            let dtype: Dtype = t["dtype"].as_str().unwrap().parse().unwrap();
            assert_eq!(view.dtype(), dtype, "{file}/{name}");
            let shape: Vec<usize> = t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(view.shape(), shape.as_slice(), "{file}/{name}");
            assert_eq!(
                hex(view.data()),
                t["hex"].as_str().unwrap(),
                "{file}/{name}"
            );
        }
        match &expected["metadata"] {
            Value::Null => assert!(st.metadata().is_none(), "{file}"),
            Value::Object(m) => {
                let got = st
                    .metadata()
                    .unwrap_or_else(|| panic!("{file}: no metadata"));
                assert_eq!(got.len(), m.len(), "{file}");
                for (k, v) in m {
                    assert_eq!(got.get(k).map(String::as_str), v.as_str(), "{file}/{k}");
                }
            }
            other => panic!("bad manifest metadata {other}"),
        }
        // Offsets order: names() follows data offsets.
        let offsets: Vec<u64> = st.header().iter().map(|t| t.data_offsets().0).collect();
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{file}");
    }
}

#[test]
fn rewriting_a_golden_file_gives_identical_bytes() {
    let mut checked = 0;
    for (file, expected) in &manifest() {
        let bytes = std::fs::read(golden_dir().join(file)).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let rewritten = serialize(st.iter(), st.metadata()).unwrap();
        if expected["canonical"].as_bool().unwrap() {
            assert!(rewritten == bytes, "{file}: rewrite differs");
            checked += 1;
        } else {
            // Key order is the reference's hash order; ours is sorted. Same content.
            let again = SafeTensors::deserialize(&rewritten).unwrap();
            assert_eq!(again.metadata(), st.metadata(), "{file}");
            assert!(again.iter().eq(st.iter()), "{file}");
        }
    }
    assert!(checked >= 9, "only {checked} canonical files");
}

#[cfg(feature = "std")]
#[test]
#[cfg_attr(miri, ignore)] // memory maps files
fn golden_files_open_through_both_owned_handles() {
    for file in manifest().keys() {
        let path = golden_dir().join(file);
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let owned = SafeTensorsFile::open(&path).unwrap();
        // SAFETY: the test data is not modified while the map is alive.
        let mapped = unsafe { SafeTensorsFile::mmap(&path) }.unwrap();
        assert!(owned.iter().eq(st.iter()), "{file}");
        assert!(mapped.iter().eq(st.iter()), "{file}");
        assert_eq!(owned.as_bytes(), bytes.as_slice());
        assert_eq!(owned.metadata(), st.metadata());
    }
}

#[test]
fn golden_values_decode() {
    let bytes = std::fs::read(golden_dir().join("numpy.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = st.tensor("f32").unwrap().to_vec::<f32>().unwrap();
    assert_eq!(f32s.len(), 12);
    assert_eq!(f32s[0], -1.5);
    assert_eq!(f32s[11], 2.5);
    let f16s = st.tensor("f16").unwrap().to_f32_vec().unwrap();
    assert_eq!(&f16s[..3], &[0.5, -2.0, 65504.0]);
    let i64s = st.tensor("i64").unwrap().to_vec::<i64>().unwrap();
    assert_eq!(i64s, vec![-3, -2, -1, 0, 1, 2]);
    let bools = st.tensor("b").unwrap().to_vec::<bool>().unwrap();
    assert_eq!(bools, vec![true, false, true]);
    let scalar = st.tensor("scalar_i32").unwrap();
    assert_eq!(scalar.shape(), &[] as &[usize]);
    assert_eq!(scalar.to_vec::<i32>().unwrap(), vec![-7]);
    let f64s = st.tensor("f64").unwrap().to_vec::<f64>().unwrap();
    assert_eq!(f64s, vec![1e-300, -0.0, 3.25]);
    assert!(f64s[1].is_sign_negative());
}
