//! Structured tensors of every dtype (ranks 0-4, empty dimensions,
//! metadata) -> serialize -> deserialize -> equal; the same through the
//! streaming writer with arbitrary chunking, and through the aligned layout.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tensorsafe::{
    serialize, Declaration, Dtype, Metadata, SafeTensors, TensorView, Writer,
};

#[derive(Debug, Arbitrary)]
struct Input {
    tensors: Vec<(String, u8, Vec<u8>, u8)>,
    metadata: Option<Vec<(String, String)>>,
    chunk: u8,
    align_shift: u8,
}

struct Tensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut tensors: Vec<Tensor> = Vec::new();
    for (name, dtype, dims, seed) in input.tensors.into_iter().take(16) {
        let dtype = Dtype::ALL[usize::from(dtype) % Dtype::ALL.len()];
        let mut shape: Vec<usize> = dims.into_iter().take(4).map(|d| usize::from(d % 5)).collect();
        let per = match dtype.bits() {
            4 => 2,
            6 => 4,
            _ => 1,
        };
        match shape.last_mut() {
            Some(last) => *last *= per,
            None if per > 1 => shape.push(per),
            None => {}
        }
        let len = dtype.shape_byte_len(&shape).expect("whole bytes") as usize;
        let data = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
        if name != "__metadata__" && tensors.iter().all(|t| t.name != name) {
            tensors.push(Tensor { name, dtype, shape, data });
        }
    }
    let metadata: Option<Metadata> = input.metadata.map(|m| m.into_iter().collect());
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|t| (t.name.as_str(), TensorView::new(t.dtype, &t.shape, &t.data).expect("consistent")))
        .collect();
    let check = |bytes: &[u8]| {
        let st = SafeTensors::deserialize(bytes).expect("written files are valid");
        assert_eq!(st.len(), tensors.len());
        assert_eq!(st.metadata(), metadata.as_ref());
        for t in &tensors {
            let v = st.tensor(&t.name).expect("present");
            assert_eq!((v.dtype(), v.shape(), v.data()), (t.dtype, t.shape.as_slice(), t.data.as_slice()));
        }
    };
    let bytes = serialize(views.clone(), metadata.as_ref()).expect("serializes");
    check(&bytes);

    let alignment = 1u64 << (input.align_shift % 21);
    let writer = Writer::new().alignment(alignment).expect("power of two").metadata(metadata.as_ref());
    check(&writer.to_vec(views).expect("serializes aligned"));

    let declarations = tensors.iter().map(|t| Declaration::new(t.name.clone(), t.dtype, t.shape.clone()));
    let mut out = Vec::new();
    let mut writer = Writer::new().metadata(metadata.as_ref()).stream(&mut out, declarations).expect("declares");
    let chunk = usize::from(input.chunk).max(1);
    for t in &tensors {
        for piece in t.data.chunks(chunk) {
            writer.write(&t.name, piece).expect("in order");
        }
    }
    writer.finish().expect("complete");
    check(&out);
});
