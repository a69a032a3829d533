//! The loaders: the owned `open`, caller buffers, and their errors.

mod common;
use common::temp::TempDir;
use tensorsafe::{
    load_into, read_tensor_into, Dtype, ErrorKind, LoadOptions, SafeTensorsFile, TensorView, Writer,
};

#[test]
#[cfg_attr(miri, ignore)] // file I/O and anonymous maps
fn a_bad_header_is_refused_without_reading_the_data() {
    // A 1 TiB sparse file: reading its data would take hours or fail for
    // want of memory, so a quick refusal shows only the header was read.
    let dir = TempDir::new("bad-header");
    let path = dir.path("huge.safetensors");
    let header = br#"{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    std::fs::write(&path, &bytes).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let err = SafeTensorsFile::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JsonSyntax);
    assert_eq!(err.path(), Some(path.as_path()));
    let err = load_into(&path, &LoadOptions::default(), |_| None, |_, _| {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JsonSyntax);
}

#[test]
#[cfg_attr(miri, ignore)]
fn open_reads_every_byte_with_any_thread_count_and_refuses_short_files() {
    let dir = TempDir::new("open");
    let path = dir.path("model.safetensors");
    // Large enough to be split into pieces across threads.
    let big: Vec<u8> = (0..40u32 << 20).map(|i| (i * 31 + 7) as u8).collect();
    let small: Vec<u8> = (0..12u8).collect();
    let tensors = [
        (
            "big",
            TensorView::new(Dtype::U8, &[big.len()], &big).unwrap(),
        ),
        ("small", TensorView::new(Dtype::F32, &[3], &small).unwrap()),
    ];
    Writer::new().to_file(tensors.clone(), &path).unwrap();
    let expected = std::fs::read(&path).unwrap();
    for threads in [0, 1, 2, 3, 7] {
        let mut options = LoadOptions::default();
        options.threads = threads;
        options.huge_pages = threads % 2 == 0;
        let file = SafeTensorsFile::open_with(&path, &options).unwrap();
        assert!(file.as_bytes() == expected.as_slice(), "{threads} threads");
        assert_eq!(
            file.tensors()
                .tensor("small")
                .unwrap()
                .to_vec::<f32>()
                .unwrap()
                .len(),
            3
        );
    }
    // One byte short: the error names the file and the tensor cut off.
    let short = dir.path("short.safetensors");
    std::fs::write(&short, &expected[..expected.len() - 1]).unwrap();
    let err = SafeTensorsFile::open(&short).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataOutOfBounds);
    assert_eq!(err.path(), Some(short.as_path()));
    assert!(err.tensor().is_some());
}

#[test]
#[cfg_attr(miri, ignore)]
fn caller_buffers_get_exactly_their_tensors() {
    let dir = TempDir::new("load-into");
    let path = dir.path("model.safetensors");
    let a: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 251) as u8).collect();
    let b = [9u8; 8];
    Writer::new()
        .to_file(
            [
                (
                    "a",
                    TensorView::new(Dtype::U16, &[a.len() / 2], &a).unwrap(),
                ),
                ("b", TensorView::new(Dtype::F64, &[1], &b).unwrap()),
            ],
            &path,
        )
        .unwrap();
    let mut buf_a = vec![0u8; a.len()];
    let mut buf_b = [0u8; 8];
    let mut slots = vec![("a", &mut buf_a[..]), ("b", &mut buf_b[..])];
    let reports = std::sync::Mutex::new(Vec::new());
    let header = load_into(
        &path,
        &LoadOptions::default(),
        |t| {
            let i = slots.iter().position(|(n, _)| *n == t.name())?;
            Some(slots.remove(i).1)
        },
        |done, total| reports.lock().unwrap().push((done, total)),
    )
    .unwrap();
    assert_eq!(header.len(), 2);
    assert!(buf_a == a);
    assert_eq!(buf_b, b);
    let reports = reports.into_inner().unwrap();
    assert_eq!(reports.iter().map(|r| r.0).max(), Some(a.len() as u64 + 8));
    assert!(reports.iter().all(|r| r.1 == a.len() as u64 + 8));

    // Skipping a tensor leaves its buffer alone; a wrong length is an error.
    let mut only_b = [0u8; 8];
    let mut slot = Some(&mut only_b[..]);
    load_into(
        &path,
        &LoadOptions::default(),
        |t| if t.name() == "b" { slot.take() } else { None },
        |_, _| {},
    )
    .unwrap();
    assert_eq!(only_b, b);
    let mut wrong = [0u8; 7];
    let mut slot = Some(&mut wrong[..]);
    let err = load_into(&path, &LoadOptions::default(), |_| slot.take(), |_, _| {}).unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::InvalidView, Some("b")) // F64 sorts first in the file
    );

    let mut one = [0u8; 8];
    read_tensor_into(&path, "b", &mut one).unwrap();
    assert_eq!(one, b);
    let err = read_tensor_into(&path, "zzz", &mut one).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TensorNotFound);
}
