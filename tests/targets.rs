//! What must hold on every target: 32-bit ones (sizes are u64 until memory
//! is touched) and big-endian ones (values are decoded from little-endian
//! bytes, zero-copy access refuses). CI runs this file on i686 and s390x.

use tensorsafe::{serialize, Dtype, ErrorKind, Header, SafeTensors, TensorView};

/// A file's first bytes: the prefix and `json` (no tensor data).
fn header_only(json: &str) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes
}

#[test]
fn headers_of_tensors_past_4_gib_are_listed_on_every_target() {
    // An 8B model's embedding is about 1 GiB; these are 4 GiB and 6 GiB, past
    // a 32-bit usize in bytes and in bits.
    let (a, b) = (1u64 << 32, 6u64 << 30);
    let json = format!(
        r#"{{"emb":{{"dtype":"F32","shape":[1073741824],"data_offsets":[0,{a}]}},"lm":{{"dtype":"BF16","shape":[3,1073741824],"data_offsets":[{a},{}]}}}}"#,
        a + b
    );
    let bytes = header_only(&json);
    let header = Header::parse(&bytes).unwrap();
    let emb = header.get("emb").unwrap();
    assert_eq!(emb.byte_len(), a);
    assert_eq!(emb.element_count(), 1 << 30);
    let lm = header.get("lm").unwrap();
    assert_eq!(lm.byte_len(), b);
    assert_eq!(lm.element_count(), 3 << 30);
    assert_eq!(header.data_len(), a + b);
    assert_eq!(header.file_len(), bytes.len() as u64 + a + b);
    header.check_file_len(header.file_len()).unwrap();
    // Without the data, a buffer is refused for what it lacks.
    let err = SafeTensors::deserialize(&bytes).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataOutOfBounds, "{err}");
    assert_eq!(Dtype::F32.shape_byte_len(&[1 << 30]).unwrap(), a);
}

#[cfg(all(feature = "std", target_pointer_width = "32"))]
#[test]
fn a_file_past_the_address_space_is_refused_where_memory_is_needed() {
    // A sparse 3 GiB file: its header lists fine, a load needs the memory.
    let dir = std::env::temp_dir().join(format!("tensorsafe-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.safetensors");
    let len = 3u64 << 30;
    let json = format!(r#"{{"w":{{"dtype":"U8","shape":[{len}],"data_offsets":[0,{len}]}}}}"#);
    let bytes = header_only(&json);
    let file = std::fs::File::create(&path).unwrap();
    std::io::Write::write_all(&mut &file, &bytes).unwrap();
    file.set_len(bytes.len() as u64 + len).unwrap();
    drop(file);
    let header = Header::read_from(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(header.get("w").unwrap().byte_len(), len);
    let err = tensorsafe::SafeTensorsFile::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overflow, "{err}");
    // SAFETY: a private file nobody else changes.
    assert!(unsafe { tensorsafe::SafeTensorsFile::mmap(&path) }.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn values_decode_from_little_endian_on_every_host() {
    let values = [1.5f32, -2.0, 65504.0];
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ints: Vec<u8> = [7u16, 0x0102, 0xfffe]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let file = serialize(
        [
            ("f", TensorView::new(Dtype::F32, [3], &bytes).unwrap()),
            ("u", TensorView::new(Dtype::U16, [3], &ints).unwrap()),
        ],
        None,
    )
    .unwrap();
    // The writer writes the header length little-endian whatever the host.
    let n = u64::from_le_bytes(file[..8].try_into().unwrap());
    assert!(n > 0 && n < 1000, "{n}");
    let st = SafeTensors::deserialize(&file).unwrap();
    let f = st.tensor("f").unwrap();
    assert_eq!(f.data(), bytes.as_slice());
    assert_eq!(f.to_vec::<f32>().unwrap(), values);
    assert_eq!(f.to_f32_vec().unwrap(), values);
    assert_eq!(f.to_f64_vec().unwrap(), [1.5, -2.0, 65504.0]);
    let u = st.tensor("u").unwrap();
    assert_eq!(u.to_vec::<u16>().unwrap(), [7, 0x0102, 0xfffe]);
    // Zero-copy access gives the host's own representation or refuses.
    match f.as_slice::<f32>() {
        Ok(slice) if cfg!(target_endian = "little") => assert_eq!(slice, values),
        Ok(_) => panic!("zero-copy f32 access on a big-endian host"),
        Err(e) if cfg!(target_endian = "big") => {
            assert_eq!(e.kind(), ErrorKind::BigEndianHost, "{e}");
        }
        // The writer aligns tensors within the file; a Vec<u8> holding the
        // file may itself start anywhere.
        Err(e) => assert_eq!(e.kind(), ErrorKind::Misaligned, "{e}"),
    }
    // Single bytes have no order.
    let bools = [1u8, 0, 1];
    let view = TensorView::new(Dtype::U8, [3], &bools).unwrap();
    assert_eq!(view.as_slice::<u8>().unwrap(), bools);
}

#[test]
fn an_empty_selection_of_a_wide_tensor_has_no_bytes_on_every_target() {
    // Its outer counts multiply past a 32-bit usize; the zero dimension
    // makes the tensor and any selection of it empty.
    let view = TensorView::new(Dtype::U8, [1 << 20, 1 << 20, 0], &[]).unwrap();
    let step2 = tensorsafe::Select::Range {
        start: 0,
        stop: usize::MAX,
        step: 2,
    };
    let slice = view.slice(&[step2, step2]).unwrap();
    assert_eq!(slice.shape(), &[1 << 19, 1 << 19, 0]);
    assert_eq!(slice.byte_len(), 0);
    assert!(slice.to_bytes().is_empty());
    assert_eq!(slice.byte_ranges().count(), 0);
}
