//! The shape of the API, as code written for the reference uses it: these
//! tests fail to compile if a signature, lifetime or trait impl drifts.

use std::borrow::Cow;

use safetensors::tensor::{Metadata, TensorInfo, TensorView};
use safetensors::{serialize, Dtype, SafeTensors, View};

/// A framework's own tensor type, implementing `View` for references to it
/// (as candle does for `&Tensor`): a blanket `impl View for &T` in this
/// crate would make this a conflicting impl.
struct Weights {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Weights {
    fn dtype(&self) -> Dtype {
        Dtype::U8
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Compiles only if `SafeTensors` is covariant in `'data` (what
/// `yoke::Yoke` needs to keep it beside its memory map).
fn shorten<'long: 'short, 'short>(st: SafeTensors<'long>) -> SafeTensors<'short> {
    st
}

/// Views outlive the reader they came from.
fn first_view(bytes: &[u8]) -> TensorView<'_> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, view) = st.iter().next().unwrap();
    view
}

#[test]
fn code_written_for_the_reference_compiles_and_runs() {
    let w = Weights {
        shape: vec![3],
        bytes: vec![1, 2, 3],
    };
    let bytes = serialize([("w", &w)], None).unwrap();
    let st = shorten(SafeTensors::deserialize(&bytes).unwrap());
    assert_eq!(st.names(), vec!["w"]);
    assert_eq!(first_view(&bytes).data(), &[1, 2, 3]);

    // View for TensorView and &TensorView.
    let view = st.tensor("w").unwrap();
    assert_eq!(View::data_len(&view), 3);
    assert_eq!(View::data_len(&&view), 3);
    let again = serialize([("w", &view)], None).unwrap();
    assert_eq!(again, bytes);

    let (n, meta): (usize, Metadata) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(n + 8 + 3, bytes.len());
    let info: &TensorInfo = meta.info("w").unwrap();
    assert_eq!((info.dtype, info.data_offsets), (Dtype::U8, (0, 3)));
    let made = Metadata::new(None, vec![("w".into(), info.clone())]).unwrap();
    assert_eq!(made.offset_keys(), vec!["w".to_string()]);

    #[allow(deprecated)]
    let size = Dtype::BF16.size();
    assert_eq!(
        (size, Dtype::F4.bitsize(), Dtype::F6_E2M3.bitsize()),
        (2, 4, 6)
    );
    assert_eq!(
        serde_json::to_string(&Dtype::F8_E4M3).unwrap(),
        "\"F8_E4M3\""
    );
}

#[test]
fn dtypes_match_tensorsafe_one_for_one() {
    for &d in tensorsafe::Dtype::ALL {
        let ours: Dtype = d.into();
        assert_eq!(ours.to_string(), d.name());
        assert_eq!(ours.bitsize(), d.bits());
        assert_eq!(tensorsafe::Dtype::from(ours), d);
    }
    // The writer's order depends on Ord: the same in both.
    let mut sorted: Vec<Dtype> = tensorsafe::Dtype::ALL
        .iter()
        .rev()
        .map(|&d| d.into())
        .collect();
    sorted.sort();
    let names: Vec<String> = sorted.iter().map(|d| d.to_string()).collect();
    let theirs: Vec<&str> = tensorsafe::Dtype::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(names, theirs);
}

#[test]
fn serialize_to_file_is_atomic_and_reads_back() {
    let dir = std::env::temp_dir().join(format!("safetensors-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    let data = [7u8; 4];
    let view = TensorView::new(Dtype::I32, vec![1], &data).unwrap();
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file([("x", &view)], Some(meta), &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    // A failed write leaves the file as it was.
    let wrong = TensorView::new(Dtype::U8, vec![4], &data).unwrap();
    assert!(safetensors::serialize_to_file([("x", &wrong), ("x", &wrong)], None, &path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let st = SafeTensors::deserialize(&before).unwrap();
    assert_eq!(st.tensor("x").unwrap().data(), &data);
    std::fs::remove_dir_all(&dir).unwrap();
}
