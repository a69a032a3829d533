#![cfg(feature = "std")]
//! serialize -> deserialize gives back what went in: in memory, through
//! `serialize_to_file`, and through both owned file handles. Failed writes
//! leave an existing file untouched.

use std::borrow::Cow;

use proptest::prelude::*;
use tensorsafe::{
    serialize, serialize_to_file, Dtype, ErrorKind, Metadata, SafeTensors, SafeTensorsFile,
    TensorView, View, Writer,
};

mod common;
use common::temp::{entries, TempDir};
use common::{tensors, views, Tensor};

fn model() -> impl Strategy<Value = (Vec<Tensor>, Option<Metadata>)> {
    let metadata = prop::collection::btree_map("[a-z\"é]{0,5}", "[a-z\\\\\n]{0,5}", 0..4);
    (tensors(8), prop::option::of(metadata))
}

fn assert_same<'a>(
    ts: &[Tensor],
    got: impl Iterator<Item = (&'a str, TensorView<'a>)>,
) -> Result<(), TestCaseError> {
    let got: Vec<_> = got.collect();
    prop_assert_eq!(got.len(), ts.len());
    for t in ts {
        let (_, v) = got
            .iter()
            .find(|(n, _)| *n == t.name)
            .expect("tensor missing");
        prop_assert_eq!(v.dtype(), t.dtype);
        prop_assert_eq!(v.shape(), t.shape.as_slice());
        prop_assert_eq!(v.data(), t.data.as_slice());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn in_memory((ts, meta) in model()) {
        let bytes = serialize(views(&ts), meta.as_ref()).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert_same(&ts, st.iter())?;
        prop_assert_eq!(st.metadata(), meta.as_ref());
        // The header is padded so the data section starts at a multiple of 8.
        prop_assert_eq!(st.header().data_start() % 8, 0);
        // Writing what was read is a fixed point.
        prop_assert_eq!(serialize(st.iter(), st.metadata()).unwrap(), bytes);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // memory maps: natively and under ASan
    fn through_files_and_owned_handles((ts, meta) in model()) {
        let dir = TempDir::new("roundtrip");
        let path = dir.path("model.safetensors");
        serialize_to_file(views(&ts), meta.as_ref(), &path).unwrap();
        let in_memory = serialize(views(&ts), meta.as_ref()).unwrap();
        prop_assert_eq!(std::fs::read(&path).unwrap(), in_memory);

        let owned = SafeTensorsFile::open(&path).unwrap();
        assert_same(&ts, owned.iter())?;
        prop_assert_eq!(owned.header().metadata(), meta.as_ref());
        // SAFETY: nothing else touches this private temporary file.
        let mapped = unsafe { SafeTensorsFile::mmap(&path) }.unwrap();
        assert_same(&ts, mapped.iter())?;
        for t in &ts {
            prop_assert_eq!(mapped.tensor(&t.name).unwrap().data(), t.data.as_slice());
        }
    }
}

/// A view whose `data` disagrees with its `data_len`: detected mid-write.
struct Liar;

impl View for Liar {
    fn dtype(&self) -> Dtype {
        Dtype::U8
    }
    fn shape(&self) -> &[usize] {
        &[4]
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(vec![1, 2])
    }
    fn data_len(&self) -> usize {
        4
    }
}

#[test]
fn a_failed_write_leaves_the_old_file_untouched() {
    let dir = TempDir::new("atomic");
    let path = dir.path("model.safetensors");
    let old = serialize(
        [("keep", TensorView::new(Dtype::U8, [1], &[9]).unwrap())],
        None,
    )
    .unwrap();
    std::fs::write(&path, &old).unwrap();

    let err = serialize_to_file([("a", Liar)], None, &path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidView);
    let bad = TensorView::new(Dtype::U8, [1], &[1]).unwrap();
    let err = serialize_to_file([("__metadata__", &bad)], None, &path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReservedName);
    assert_eq!(err.path(), Some(path.as_path()));
    let err = serialize_to_file([("x", &bad), ("x", &bad)], None, &path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DuplicateTensor);

    assert_eq!(std::fs::read(&path).unwrap(), old);
    let leftovers: Vec<_> = std::fs::read_dir(dir.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("model.safetensors")]
    );

    // A write into a directory that does not exist fails cleanly too.
    let missing = dir.path("missing/model.safetensors");
    let err = serialize_to_file([("x", bad)], None, &missing).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.path(), Some(missing.as_path()));
}

#[test]
#[cfg_attr(miri, ignore)] // 85 MiB of writes and O_TMPFILE: natively and under ASan
fn a_file_being_written_has_no_name_until_committed() {
    use std::io::Write;
    let dir = TempDir::new("unnamed");
    let path = dir.path("model.safetensors");
    // Large enough to replace in the background and to cross several
    // writeback windows.
    std::fs::write(&path, vec![7u8; 65 << 20]).unwrap();
    let new: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();

    let mut file = tensorsafe::AtomicFile::create(&path).unwrap();
    file.write_all(&new[..1 << 20]).unwrap();
    let while_writing = entries(dir.dir());
    if file.is_unnamed() {
        // Killed now, the process would leave nothing behind.
        assert_eq!(while_writing, ["model.safetensors"]);
    } else {
        assert_eq!(while_writing.len(), 2, "{while_writing:?}");
    }
    // On Linux the unnamed file is the rule (tmpfs, ext4, xfs, btrfs have it).
    if cfg!(target_os = "linux") && std::env::var_os("TENSORSAFE_NAMED_TEMP_OK").is_none() {
        assert!(file.is_unnamed(), "no O_TMPFILE in {}", dir.dir().display());
    }
    for chunk in new[1 << 20..].chunks(3 << 20) {
        file.write_all(chunk).unwrap();
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 65 << 20);
    file.commit().unwrap();
    assert!(std::fs::read(&path).unwrap() == new);
    assert_eq!(entries(dir.dir()), ["model.safetensors"]);

    // Dropped uncommitted: the old file stays, nothing is left.
    let mut file = tensorsafe::AtomicFile::create(&path).unwrap();
    file.write_all(b"partial").unwrap();
    drop(file);
    assert!(std::fs::read(&path).unwrap() == new);
    assert_eq!(entries(dir.dir()), ["model.safetensors"]);
}

#[test]
fn invalid_views_are_refused_on_write_not_written() {
    let err = TensorView::new(Dtype::F32, [3], &[0; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidView);
    assert_eq!(
        serialize([("a", Liar)], None).unwrap_err().kind(),
        ErrorKind::InvalidView
    );
    struct Short;
    impl View for Short {
        fn dtype(&self) -> Dtype {
            Dtype::F32
        }
        fn shape(&self) -> &[usize] {
            &[2]
        }
        fn data(&self) -> Cow<'_, [u8]> {
            Cow::Borrowed(&[0; 4])
        }
        fn data_len(&self) -> usize {
            4
        }
    }
    let err = serialize([("short", Short)], None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidView);
    assert_eq!(err.tensor(), Some("short"));
    struct Huge;
    impl View for Huge {
        fn dtype(&self) -> Dtype {
            Dtype::F64
        }
        fn shape(&self) -> &[usize] {
            // More than 2^64 bytes on every target.
            &[usize::MAX, usize::MAX, usize::MAX]
        }
        fn data(&self) -> Cow<'_, [u8]> {
            Cow::Borrowed(&[])
        }
        fn data_len(&self) -> usize {
            0
        }
    }
    assert_eq!(
        serialize([("huge", Huge)], None).unwrap_err().kind(),
        ErrorKind::Overflow
    );
}

/// Views may claim any length: a checkpoint whose views' lengths add up
/// past 2^64 bytes is refused before anything is written.
#[cfg(target_pointer_width = "64")]
#[test]
fn sharded_lengths_past_u64_are_refused_before_writing() {
    struct Claims;
    impl View for Claims {
        fn dtype(&self) -> Dtype {
            Dtype::U8
        }
        fn shape(&self) -> &[usize] {
            &[usize::MAX]
        }
        fn data(&self) -> Cow<'_, [u8]> {
            Cow::Borrowed(&[])
        }
        fn data_len(&self) -> usize {
            usize::MAX
        }
    }
    let dir = TempDir::new("sharded-claims");
    let err = Writer::new()
        .sharded([("a", Claims), ("b", Claims)], dir.path("out"), 1 << 30)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overflow, "{err}");
    assert_eq!(err.tensor(), Some("b"));
    assert!(
        !dir.path("out").exists() || std::fs::read_dir(dir.path("out")).unwrap().next().is_none()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The aligned layout: valid, same contents, data section aligned, and
    /// every tensor on the largest power of two its size allows (capped).
    #[test]
    fn aligned_layout((ts, meta) in model(), shift in 3u32..13) {
        let alignment = 1u64 << shift;
        let writer = Writer::new().alignment(alignment).metadata(meta.as_ref());
        let bytes = writer.to_vec(views(&ts)).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert_same(&ts, st.iter())?;
        let start = st.header().data_start();
        prop_assert_eq!(start % alignment, 0);
        for info in st.header().iter() {
            let len = info.byte_len();
            let want = if len == 0 { alignment } else { (1u64 << len.trailing_zeros()).min(alignment) };
            prop_assert_eq!((start + info.data_offsets().0) % want, 0, "{} of {} bytes", info.name(), len);
        }
    }
}

#[test]
fn alignment_must_be_a_power_of_two_up_to_one_mebibyte() {
    // The builder takes any value; the method ending the chain rejects it,
    // before anything is written, whatever the destination.
    let dir = TempDir::new("bad-alignment");
    let w = TensorView::from_slice([2], &[1u8, 2]).unwrap();
    for bad in [0u64, 3, 48, 2 << 20] {
        let kind = |r: tensorsafe::Result<()>| r.unwrap_err().kind();
        let writer = || Writer::new().alignment(bad);
        let err = writer().to_vec([("w", &w)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("alignment must be a power of two up to 1 MiB: got {bad}")
        );
        let path = dir.path("m.safetensors");
        assert_eq!(
            kind(writer().to_file([("w", &w)], &path)),
            ErrorKind::InvalidAlignment
        );
        let declared = [tensorsafe::Declaration::new("w", Dtype::U8, [2])];
        let mut out = Vec::new();
        assert_eq!(
            kind(writer().stream(&mut out, declared.clone()).map(drop)),
            ErrorKind::InvalidAlignment
        );
        assert!(out.is_empty(), "nothing written for alignment {bad}");
        assert_eq!(
            kind(writer().stream_to_file(&path, declared).map(drop)),
            ErrorKind::InvalidAlignment
        );
        let shards = dir.path("shards");
        assert_eq!(
            kind(writer().sharded([("w", &w)], &shards, 1 << 20).map(drop)),
            ErrorKind::InvalidAlignment
        );
        assert!(
            !path.exists() && !shards.exists(),
            "no file for alignment {bad}"
        );
    }
    let bytes = Writer::new()
        .alignment(tensorsafe::MAX_ALIGNMENT)
        .to_vec([("w", &w)])
        .unwrap();
    assert_eq!(
        SafeTensors::deserialize(&bytes)
            .unwrap()
            .header()
            .data_start(),
        tensorsafe::MAX_ALIGNMENT
    );
}

/// Writers are `Send` (their progress hooks are), so they move to threads
/// and live across an `.await` in a spawned task. Checked at compile time.
const _: () = {
    const fn send<T: Send>() {}
    send::<Writer<'static>>();
    send::<tensorsafe::StreamWriter<'static, Vec<u8>>>();
    send::<tensorsafe::StreamWriter<'static, tensorsafe::AtomicFile>>();
};

#[test]
fn a_writer_with_a_counting_hook_moves_to_a_thread() {
    let (tell, told) = std::sync::mpsc::channel();
    let mut calls = 0u32;
    let writer = Writer::new().alignment(64).progress(move |done, total| {
        calls += 1;
        tell.send((calls, done, total)).unwrap();
    });
    let bytes = std::thread::spawn(move || {
        let w = TensorView::new(Dtype::U16, [3], &[1, 0, 2, 0, 3, 0]).unwrap();
        writer.to_vec([("w", w)]).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(told.iter().collect::<Vec<_>>(), [(1, 6, 6)]);
    assert_eq!(
        SafeTensors::deserialize(&bytes)
            .unwrap()
            .tensor("w")
            .unwrap()
            .to_vec::<u16>()
            .unwrap(),
        [1, 2, 3]
    );

    // A stream started here is finished on another thread.
    let declared = [tensorsafe::Declaration::new("a", Dtype::U8, [4])];
    let mut stream = Writer::new()
        .progress(|_, _| {})
        .stream(Vec::new(), declared)
        .unwrap();
    stream.write("a", &[1, 2]).unwrap();
    let out = std::thread::spawn(move || {
        stream.write("a", &[3, 4]).unwrap();
        stream.finish().unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(
        SafeTensors::deserialize(&out)
            .unwrap()
            .tensor("a")
            .unwrap()
            .data(),
        &[1, 2, 3, 4]
    );
}
