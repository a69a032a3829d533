//! The broken-file corpus (tests/data/broken, made by make_broken.py): every
//! file is refused with the error kind it was made for, through every entry
//! point, and the reference crate refuses it too unless FORMAT.md makes this
//! crate stricter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tensorsafe::SafeTensors;
#[cfg(feature = "std")]
use tensorsafe::{Header, SafeTensorsFile};

fn corpus() -> (PathBuf, BTreeMap<String, String>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/broken");
    let read = |name: &str| -> BTreeMap<String, String> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let mut expected = read("expected.json");
    // Shapes are usize: a 32-bit target refuses dimensions past 2^32 - 1
    // as Overflow before the rule a 64-bit one reaches.
    if usize::BITS == 32 {
        expected.extend(read("expected-32bit.json"));
    }
    (dir, expected)
}

#[test]
#[cfg_attr(miri, ignore)] // memory maps files
fn every_broken_file_fails_with_its_kind() {
    let (dir, expected) = corpus();
    assert!(expected.len() >= 60, "{} files", expected.len());
    // Every x_ file is listed, so none goes unchecked.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("x_") {
            assert!(
                expected.contains_key(&name),
                "{name} is not in expected.json"
            );
        }
    }
    for (file, kind) in &expected {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let err = SafeTensors::deserialize(&bytes).expect_err(file);
        assert_eq!(format!("{:?}", err.kind()), *kind, "{file}: {err}");
        assert!(!err.to_string().contains('\n'));
        #[cfg(feature = "std")]
        {
            // The owned handles agree.
            let owned = SafeTensorsFile::open(&path).err().map(|e| e.kind());
            assert_eq!(owned, Some(err.kind()), "{file} through open");
            // SAFETY: test data, not modified while mapped.
            let mapped = unsafe { SafeTensorsFile::mmap(&path) }
                .err()
                .map(|e| e.kind());
            assert_eq!(mapped, Some(err.kind()), "{file} through mmap");
        }
        // A header-only read fails the same way, unless the header itself is fine.
        #[cfg(feature = "std")]
        match Header::read_from(bytes.as_slice()) {
            Err(e) => assert_eq!(e.kind(), err.kind(), "{file} through read_from"),
            Ok(h) => assert_eq!(
                h.check_file_len(bytes.len() as u64).unwrap_err().kind(),
                err.kind(),
                "{file}"
            ),
        }
    }
}

/// The broken files the reference accepts, each with why we refuse it
/// (FORMAT.md lists these strictness rules); the reference refuses every
/// other one.
const STRICTER: [(&str, &str); 2] = [
    (
        "x_rank_65.safetensors",
        "rank 65, past our default limit of 64 (numpy's maximum); the reference has none",
    ),
    (
        "x_type_entry_array.safetensors",
        "a tensor entry written as an array: serde reads a struct from a sequence",
    ),
];

#[test]
fn the_reference_refuses_them_too_except_where_we_are_stricter() {
    let (dir, expected) = corpus();
    for (file, why) in STRICTER {
        assert!(
            expected.contains_key(file),
            "{file} ({why}) is not in the corpus"
        );
    }
    // The reference's own arithmetic overflows on some of the u64-edge
    // files: a debug build panics there, which refuses them too.
    let accepted: Vec<&str> = expected
        .keys()
        .filter(|file| {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            std::panic::catch_unwind(|| safetensors::SafeTensors::deserialize(&bytes))
                .is_ok_and(|r| r.is_ok())
        })
        .map(String::as_str)
        .collect();
    let listed: Vec<&str> = STRICTER.iter().map(|(file, _)| *file).collect();
    assert_eq!(accepted, listed, "the files the reference accepts");
}

/// What `fn main() -> Result<(), Box<dyn Error>>` prints is the `Debug`
/// form: it carries the kind and the whole sentence.
#[test]
fn debug_carries_the_sentence() {
    let file = b"\x07\x00\x00\x00\x00\x00\x00\x00{\"a\":1}";
    let err = SafeTensors::deserialize(file).unwrap_err();
    let sentence = err.to_string();
    assert_eq!(
        format!("{err:?}"),
        format!("Error(InvalidType, {sentence:?})")
    );
    let boxed: Box<dyn std::error::Error> = Box::new(err);
    let printed = format!("{boxed:?}");
    assert!(
        printed.contains("found a number (tensor \\\"a\\\", at byte 13)"),
        "{printed}"
    );
}

/// A file too short for the length prefix gives its byte count through
/// every entry point.
#[cfg(feature = "std")]
#[test]
fn file_too_small_gives_the_byte_count_everywhere() {
    let dir = std::env::temp_dir().join(format!("tensorsafe-too-small-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("short.safetensors");
    std::fs::write(&path, b"\x01\x02\x03").unwrap();
    let detail = |e: tensorsafe::Error| {
        assert_eq!(e.kind(), tensorsafe::ErrorKind::FileTooSmall);
        e.detail().map(str::to_owned)
    };
    let three = Some("3 bytes".to_owned());
    assert_eq!(
        detail(SafeTensors::deserialize(b"\x01\x02\x03").unwrap_err()),
        three
    );
    assert_eq!(detail(SafeTensorsFile::open(&path).unwrap_err()), three);
    // SAFETY: this test's own file; nothing writes it while mapped.
    assert_eq!(
        detail(unsafe { SafeTensorsFile::mmap(&path) }.unwrap_err()),
        three
    );
    assert_eq!(
        detail(Header::read_from(&b"\x01\x02\x03"[..]).unwrap_err()),
        three
    );
    let err = SafeTensorsFile::open(&path).unwrap_err();
    assert_eq!(err.path(), Some(path.as_path()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A destination buffer of the wrong length is the caller's mistake, not a
/// broken tensor: its own kind and message, naming the tensor.
#[cfg(feature = "std")]
#[test]
fn a_destination_buffer_of_the_wrong_length_is_the_callers() {
    use tensorsafe::{read_tensor_into, serialize_to_file, ErrorKind, TensorView};
    let dir = std::env::temp_dir().join(format!("tensorsafe-wrong-buffer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    let w = [0u8; 800];
    serialize_to_file(
        [(
            "w",
            TensorView::new(tensorsafe::Dtype::F64, [100], &w).unwrap(),
        )],
        None,
        &path,
    )
    .unwrap();
    let mut buf = vec![0u8; 100];
    let err = read_tensor_into(&path, "w", &mut buf).unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::BufferLength, Some("w"))
    );
    assert_eq!(err.category(), tensorsafe::Category::Usage);
    assert!(
        err.to_string().starts_with(
            "destination buffer has the wrong length: 100 bytes given, the tensor has 800 (tensor \"w\""
        ),
        "{err}"
    );
    let mut buf = vec![0u8; 800];
    read_tensor_into(&path, "w", &mut buf).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
