#![cfg(feature = "std")]
//! The loaders: the owned `open`, caller buffers, and their errors.

mod common;
use common::temp::TempDir;
use tensorsafe::{
    load_into, read_tensor_into, Checkpoint, Dtype, ErrorKind, LoadOptions, SafeTensorsFile,
    TensorView, Writer,
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
            TensorView::new(Dtype::U8, [big.len()], &big).unwrap(),
        ),
        ("small", TensorView::new(Dtype::F32, [3], &small).unwrap()),
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
            file.tensor("small").unwrap().to_vec::<f32>().unwrap().len(),
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
                ("a", TensorView::new(Dtype::U16, [a.len() / 2], &a).unwrap()),
                ("b", TensorView::new(Dtype::F64, [1], &b).unwrap()),
            ],
            &path,
        )
        .unwrap();
    let mut buf_a = vec![0u8; a.len()];
    let mut buf_b = [0u8; 8];
    let mut slots = vec![("a", &mut buf_a[..]), ("b", &mut buf_b[..])];
    let mut reports = Vec::new();
    let mut options = LoadOptions::default();
    options.threads = 3;
    let header = load_into(
        &path,
        &options,
        |t| {
            let i = slots.iter().position(|(n, _)| *n == t.name())?;
            Some(slots.remove(i).1)
        },
        |done, total| reports.push((done, total)),
    )
    .unwrap();
    assert_eq!(header.len(), 2);
    assert!(buf_a == a);
    assert_eq!(buf_b, b);
    assert!(reports.windows(2).all(|w| w[0].0 < w[1].0), "{reports:?}");
    assert_eq!(reports.last().map(|r| r.0), Some(a.len() as u64 + 8));
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
        (ErrorKind::BufferLength, Some("b")) // F64 sorts first in the file
    );

    let mut one = [0u8; 8];
    read_tensor_into(&path, "b", &mut one).unwrap();
    assert_eq!(one, b);
    let err = read_tensor_into(&path, "zzz", &mut one).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TensorNotFound);
}

/// Tensors of awkward sizes, so that direct reads start and end inside
/// blocks and pieces cross block boundaries.
fn awkward_tensors() -> Vec<(String, Vec<u8>)> {
    [1usize, 4095, 4097, 3 << 20 | 13, 9 << 20 | 1, 2, 8 << 20]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let bytes = (0..n).map(|j| (j * 7 + i * 13) as u8).collect();
            (format!("t{i}"), bytes)
        })
        .collect()
}

#[test]
#[cfg_attr(miri, ignore)]
fn direct_reads_fill_buffers_of_any_size_and_offset() {
    let dir = TempDir::new("direct");
    let path = dir.path("model.safetensors");
    let tensors = awkward_tensors();
    let views = tensors
        .iter()
        .map(|(n, b)| (n, TensorView::new(Dtype::U8, [b.len()], b).unwrap()));
    Writer::new().to_file(views, &path).unwrap();
    for (direct, threads) in [(true, 1), (true, 2), (true, 3), (false, 2)] {
        let mut options = LoadOptions::default();
        options.direct = direct;
        options.threads = threads;
        let mut bufs: Vec<Vec<u8>> = tensors.iter().map(|(_, b)| vec![0xAA; b.len()]).collect();
        let mut slots: Vec<Option<&mut [u8]>> = bufs.iter_mut().map(|b| Some(&mut b[..])).collect();
        load_into(
            &path,
            &options,
            |t| slots[t.name()[1..].parse::<usize>().unwrap()].take(),
            |_, _| {},
        )
        .unwrap();
        for ((name, expected), got) in tensors.iter().zip(&bufs) {
            assert!(
                got == expected,
                "{name}, direct {direct}, {threads} threads"
            );
        }
        // The owned open takes the option too.
        let file = SafeTensorsFile::open_with(&path, &options).unwrap();
        assert!(file.as_bytes() == std::fs::read(&path).unwrap().as_slice());
    }
}

/// A checkpoint of the awkward tensors in three or more shards, with the
/// tensors' bytes by name.
fn sharded(dir: &TempDir) -> (std::path::PathBuf, Vec<(String, Vec<u8>)>) {
    let tensors = awkward_tensors();
    let views = tensors
        .iter()
        .map(|(n, b)| (n, TensorView::new(Dtype::U8, [b.len()], b).unwrap()));
    let ckpt = dir.path("ckpt");
    let files = Writer::new().sharded(views, &ckpt, 9 << 20).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    (ckpt, tensors)
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_checkpoint_loads_all_shards_at_once_with_progress() {
    let dir = TempDir::new("ckpt-load");
    let (ckpt, tensors) = sharded(&dir);
    // Progress counts tensor bytes: the index's total_size, no header.
    let total_size = Checkpoint::open(&ckpt).unwrap().total_size().unwrap();
    for threads in [1, 2, 3] {
        let mut options = LoadOptions::default();
        options.threads = threads;
        // A plain FnMut, though threads read: its calls are serialised.
        let mut reports = Vec::new();
        let checkpoint =
            Checkpoint::load(&ckpt, &options, |done, total| reports.push((done, total))).unwrap();
        for (name, bytes) in &tensors {
            assert!(
                checkpoint.tensor(name).unwrap().data() == bytes.as_slice(),
                "{name}"
            );
        }
        assert_eq!(reports.first(), Some(&(0, total_size)));
        assert!(reports.iter().all(|&(_, total)| total == total_size));
        assert!(reports.windows(2).all(|w| w[0].0 < w[1].0), "{reports:?}");
        assert_eq!(reports.last().map(|r| r.0), Some(total_size));
    }

    // Into one arena, in the order asked.
    let total: usize = tensors.iter().map(|(_, b)| b.len()).sum();
    let mut arena = vec![0u8; total];
    let mut rest = arena.as_mut_slice();
    let mut order = Vec::new();
    let mut options = LoadOptions::default();
    options.direct = true;
    let (mut calls, mut last) = (0, (0, 0));
    Checkpoint::load_into(
        &ckpt,
        &options,
        |t| {
            order.push(t.name().to_owned());
            let (mine, more) = std::mem::take(&mut rest).split_at_mut(t.byte_len() as usize);
            rest = more;
            Some(mine)
        },
        |done, all| {
            calls += 1;
            last = (done, all);
        },
    )
    .unwrap();
    assert!(calls >= tensors.len(), "{calls} progress calls");
    assert_eq!(last, (total_size, total_size));
    let mut at = 0;
    for name in &order {
        let bytes = &tensors.iter().find(|(n, _)| n == name).unwrap().1;
        assert!(&arena[at..at + bytes.len()] == bytes.as_slice(), "{name}");
        at += bytes.len();
    }
    assert_eq!(order.len(), tensors.len());
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_broken_checkpoint_is_refused_naming_the_file() {
    let dir = TempDir::new("ckpt-broken");
    let (ckpt, _) = sharded(&dir);
    let index = ckpt.join(tensorsafe::INDEX_FILE);
    let text = std::fs::read_to_string(&index).unwrap();
    let first = Checkpoint::open(&ckpt).unwrap().files()[0].clone();
    let last = Checkpoint::open(&ckpt)
        .unwrap()
        .files()
        .last()
        .unwrap()
        .clone();

    // The index maps t0 to the wrong shard: refused before any data is read.
    let wrong = text.replacen(
        &format!("\"t0\": \"{first}\""),
        &format!("\"t0\": \"{last}\""),
        1,
    );
    assert_ne!(wrong, text);
    std::fs::write(&index, &wrong).unwrap();
    let never =
        |_: tensorsafe::TensorInfo<'_>| -> Option<&mut [u8]> { panic!("asked for a destination") };
    let err = Checkpoint::load_into(&ckpt, &LoadOptions::default(), never, |_, _| {}).unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::IndexMismatch, Some("t0"))
    );
    let err = Checkpoint::load(&ckpt, &LoadOptions::default(), |_, _| {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IndexMismatch);
    std::fs::write(&index, &text).unwrap();

    // A shard cut short: the error names that shard.
    let shard = ckpt.join(&last);
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 1]).unwrap();
    let err = Checkpoint::load(&ckpt, &LoadOptions::default(), |_, _| {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataOutOfBounds);
    assert_eq!(err.path(), Some(shard.as_path()));
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_panicking_progress_callback_is_not_called_again_and_the_panic_comes_back() {
    let dir = TempDir::new("ckpt-load-panic");
    let (ckpt, _) = sharded(&dir);
    let mut options = LoadOptions::default();
    options.threads = 4;
    let mut calls = 0;
    let load = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Checkpoint::load(&ckpt, &options, |_, _| {
            calls += 1;
            assert!(calls < 2, "the callback's own panic");
        })
    }));
    let payload = load.expect_err("the callback's panic reaches the caller");
    let said = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    assert_eq!(said, Some("the callback's own panic"));
    // Called at the start, once more (the call that panicked), then never
    // again: the other readers stop.
    assert_eq!(calls, 2);
}

#[test]
#[cfg_attr(miri, ignore)]
fn progress_is_told_the_total_once_before_any_byte_even_when_it_is_zero() {
    let dir = TempDir::new("progress-zero");
    let (ckpt, _) = sharded(&dir);
    let options = LoadOptions::default();
    let mut reports = Vec::new();
    Checkpoint::load_into(&ckpt, &options, |_| None, |d, t| reports.push((d, t))).unwrap();
    assert_eq!(reports, [(0, 0)]);
    let path = Checkpoint::open(&ckpt)
        .unwrap()
        .shard_path(0)
        .unwrap()
        .to_owned();
    let mut reports = Vec::new();
    tensorsafe::load_into(&path, &options, |_| None, |d, t| reports.push((d, t))).unwrap();
    assert_eq!(reports, [(0, 0)]);
}
