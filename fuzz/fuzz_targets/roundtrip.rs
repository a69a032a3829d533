//! Generated tensors (`tensorsafe::arbitrary::ArbitraryTensors`: every
//! dtype, ranks 0-4, empty and edge-valued dimensions) and writer layouts
//! (`WriterLayout`: alignment, metadata, chunk size) -> serialize, the
//! aligned layout and the streaming writer -> deserialize -> equal.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tensorsafe::arbitrary::{ArbitraryTensors, WriterLayout};
use tensorsafe::{serialize, Declaration, ErrorKind, SafeTensors, TensorView};

#[derive(Debug, Arbitrary)]
struct Input {
    tensors: ArbitraryTensors,
    layout: WriterLayout,
}

fuzz_target!(|input: Input| {
    let mut views: Vec<(&str, TensorView<'_>)> = Vec::new();
    for t in &input.tensors.0 {
        match t.view() {
            Ok(view) => views.push((t.name.as_str(), view)),
            Err(e) => {
                // Only a shape whose element count overflows has no view.
                assert_eq!(e.kind(), ErrorKind::Overflow, "{e}");
                assert!(t.dtype.shape_byte_len(&t.shape).is_err());
            }
        }
    }
    let metadata = input.layout.metadata.as_ref();
    let check = |bytes: &[u8]| {
        let st = SafeTensors::deserialize(bytes).expect("written files are valid");
        assert_eq!(st.len(), views.len());
        assert_eq!(st.metadata(), metadata);
        for (name, view) in &views {
            assert_eq!(st.tensor(name).expect("present"), *view);
        }
        st.header().data_start()
    };
    check(&serialize(views.clone(), metadata).expect("serializes"));

    match input.layout.writer() {
        Ok(writer) => {
            let start = check(&writer.to_vec(views.clone()).expect("serializes aligned"));
            if let Some(alignment) = input.layout.alignment {
                assert_eq!(start % alignment, 0);
            }
        }
        Err(e) => {
            assert!(!input.layout.alignment_is_valid());
            assert_eq!(e.kind(), ErrorKind::InvalidAlignment);
        }
    }
    assert_eq!(
        input.layout.writer().is_ok(),
        input.layout.alignment_is_valid()
    );

    let declarations = views
        .iter()
        .map(|(name, v)| Declaration::new(*name, v.dtype(), v.shape()));
    let mut out = Vec::new();
    let mut writer = tensorsafe::Writer::new()
        .metadata(metadata)
        .stream(&mut out, declarations)
        .expect("declares");
    for (name, view) in &views {
        for piece in view.data().chunks(input.layout.chunk) {
            writer.write(name, piece).expect("in order");
        }
    }
    writer.finish().expect("complete");
    check(&out);
});
