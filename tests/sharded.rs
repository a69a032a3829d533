#![cfg(feature = "std")]
//! Sharded checkpoints: write shards, read them back through the index,
//! lazily; hostile index files are refused with the rule that failed.

mod common;

use std::path::Path;

use common::temp::{entries, TempDir};
use common::{tensors, views};
use proptest::prelude::*;
use tensorsafe::{
    serialize, Checkpoint, Dtype, ErrorKind, Located, SafeTensors, TensorView, Writer, INDEX_FILE,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn write_shards_then_read_through_the_index(ts in tensors(10), max in 1u64..64) {
        let tmp = TempDir::new("roundtrip");
        let dir = tmp.dir();
        let files = Writer::new().sharded(views(&ts), dir, max).unwrap();
        let checkpoint = Checkpoint::open(dir).unwrap();
        checkpoint.verify().unwrap();
        prop_assert_eq!(checkpoint.len(), ts.len());
        prop_assert_eq!(checkpoint.files().len(), files.len());
        for t in &ts {
            let v = checkpoint.tensor(&t.name).unwrap();
            prop_assert_eq!((v.dtype(), v.shape(), v.data()), (t.dtype, t.shape.as_slice(), t.data.as_slice()));
        }
        // Greedy: every shard fits the limit unless it holds a single
        // non-empty tensor (empty ones cost nothing and may ride along).
        for (k, file) in files.iter().enumerate() {
            prop_assert_eq!(file, &format!("model-{:05}-of-{:05}.safetensors", k + 1, files.len()));
            let bytes = std::fs::read(dir.join(file)).unwrap();
            let st = tensorsafe::SafeTensors::deserialize(&bytes).unwrap();
            let nonempty = st.iter().filter(|(_, v)| !v.data().is_empty()).count();
            prop_assert!(st.header().data_len() <= max || nonempty == 1);
        }
    }
}

fn u8s(name: &str, data: &'static [u8]) -> (String, TensorView<'static>) {
    (
        name.to_owned(),
        TensorView::new(Dtype::U8, [], &data[..1]).unwrap(),
    )
}

#[test]
fn shards_open_lazily_and_the_index_is_written_in_the_hub_format() {
    let tmp = TempDir::new("lazy");
    let dir = tmp.dir();
    let a = [1u8; 10];
    let b = [2u8; 10];
    let tensors = [
        ("a", TensorView::new(Dtype::U8, [10], &a).unwrap()),
        ("b", TensorView::new(Dtype::U8, [10], &b).unwrap()),
    ];
    Writer::new().sharded(tensors, dir, 10).unwrap();
    let index = std::fs::read_to_string(dir.join(INDEX_FILE)).unwrap();
    assert_eq!(
        index,
        "{\n  \"metadata\": {\n    \"total_size\": 20\n  },\n  \"weight_map\": {\n    \"a\": \"model-00001-of-00002.safetensors\",\n    \"b\": \"model-00002-of-00002.safetensors\"\n  }\n}\n"
    );
    let checkpoint = Checkpoint::open(dir.join(INDEX_FILE)).unwrap();
    // Remove the first shard after opening: only asking for "a" notices.
    std::fs::remove_file(dir.join("model-00001-of-00002.safetensors")).unwrap();
    assert_eq!(checkpoint.tensor("b").unwrap().data(), &b);
    assert_eq!(checkpoint.tensor("a").unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(
        checkpoint.tensor("zzz").unwrap_err().kind(),
        ErrorKind::TensorNotFound
    );
    assert!(Checkpoint::open_all(dir).is_err());
}

#[test]
fn verify_reads_headers_and_lengths_only() {
    let dir = TempDir::new("verify-headers");
    let (a, b) = ([1u8; 600], [2u8; 600]);
    let tensors = [
        ("a", TensorView::new(Dtype::U8, [600], &a).unwrap()),
        ("b", TensorView::new(Dtype::U8, [600], &b).unwrap()),
    ];
    Writer::new().sharded(tensors, dir.dir(), 1000).unwrap();
    let second = dir.path("model-00002-of-00002.safetensors");
    let good = std::fs::read(&second).unwrap();
    // Other tensor bytes: still valid, and verify cannot tell.
    let mut other = good.clone();
    *other.last_mut().unwrap() ^= 0xff;
    std::fs::write(&second, &other).unwrap();
    let checkpoint = Checkpoint::open(dir.dir()).unwrap();
    checkpoint.verify().unwrap();
    assert_eq!(
        checkpoint
            .shard_header(1)
            .unwrap()
            .get("b")
            .unwrap()
            .byte_len(),
        600
    );
    assert_eq!(checkpoint.shard_path(1), Some(second.as_path()));
    assert_eq!(
        checkpoint.shard_header(2).unwrap_err().kind(),
        ErrorKind::ShardNotFound
    );
    let err = checkpoint.shard(2).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ShardNotFound, "{err}");
    assert!(err.to_string().contains("shard 2 of 2"), "{err}");
    assert_eq!(checkpoint.shard_path(2), None);
    // One byte short: opening (which reads every shard's header and
    // checks it against the file's length) names the shard.
    std::fs::write(&second, &good[..good.len() - 1]).unwrap();
    let err = Checkpoint::open(dir.dir()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataOutOfBounds, "{err}");
    assert_eq!(err.path(), Some(second.as_path()));
    assert_eq!(err.tensor(), Some("b"));
}

/// A directory with the given shards (name -> tensors) and index text.
fn layout(
    tag: &str,
    shards: &[(&str, Vec<(String, TensorView<'static>)>)],
    index: &str,
) -> TempDir {
    let dir = TempDir::new(tag);
    for (file, tensors) in shards {
        std::fs::write(dir.path(file), serialize(tensors.clone(), None).unwrap()).unwrap();
    }
    std::fs::write(dir.path(INDEX_FILE), index).unwrap();
    dir
}

fn verify_kind(dir: impl AsRef<Path>) -> ErrorKind {
    match Checkpoint::open(dir) {
        Err(e) => e.kind(),
        Ok(c) => c.verify().unwrap_err().kind(),
    }
}

#[test]
fn hostile_indexes_are_refused_with_the_rule() {
    const ONE: &[u8] = &[1];
    let s1 = "model-00001-of-00002.safetensors";
    let s2 = "model-00002-of-00002.safetensors";
    let index = |map: &str, total: u64| {
        format!(r#"{{"metadata":{{"total_size":{total}}},"weight_map":{{{map}}}}}"#)
    };

    let dup = layout(
        "dup",
        &[(s1, vec![u8s("a", ONE)]), (s2, vec![u8s("a", ONE)])],
        &index(&format!(r#""a":"{s1}","b":"{s2}""#), 2),
    );
    assert_eq!(verify_kind(&dup), ErrorKind::DuplicateTensor);

    let missing = layout(
        "missing",
        &[(s1, vec![u8s("a", ONE)])],
        &index(&format!(r#""a":"{s1}","ghost":"{s1}""#), 1),
    );
    // Opening checks the index against the shards' headers.
    let err = Checkpoint::open(&missing).unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::IndexMissingTensor, Some("ghost"))
    );
    assert_eq!(err.path(), Some(missing.path(INDEX_FILE).as_path()));

    let unmapped = layout(
        "unmapped",
        &[(s1, vec![u8s("a", ONE), u8s("b", ONE)])],
        &index(&format!(r#""a":"{s1}""#), 2),
    );
    assert_eq!(verify_kind(&unmapped), ErrorKind::IndexMismatch);

    let total = layout(
        "total",
        &[(s1, vec![u8s("a", ONE)])],
        &index(&format!(r#""a":"{s1}""#), 7),
    );
    assert_eq!(verify_kind(&total), ErrorKind::IndexTotalSize);

    let unnamed = layout(
        "unnamed",
        &[(s1, vec![u8s("a", ONE)]), (s2, vec![u8s("b", ONE)])],
        &index(&format!(r#""a":"{s1}""#), 1),
    );
    assert_eq!(verify_kind(&unnamed), ErrorKind::IndexUnnamedShard);

    for map in [
        r#""a":"../outside.safetensors""#,
        r#""a":"/etc/passwd""#,
        r#""a":"""#,
        r#""a":1"#,
        // Not portable: each means something else on Windows.
        r#""a":"C:x.safetensors""#,
        r#""a":"x.safetensors:stream""#,
        r#""a":"NUL.safetensors""#,
        r#""a":"com1""#,
        r#""a":"x.safetensors.""#,
        r#""a":"sub\\x.safetensors""#,
    ] {
        let bad = layout("escape", &[], &index(map, 1));
        assert_eq!(verify_kind(&bad), ErrorKind::IndexInvalid, "{map}");
    }
    let twice = layout(
        "twice",
        &[(s1, vec![u8s("a", ONE)])],
        &index(&format!(r#""a":"{s1}","a":"{s1}""#), 1),
    );
    assert_eq!(verify_kind(&twice), ErrorKind::DuplicateTensor);
    let not_json = layout("notjson", &[], "{\"weight_map\": ");
    assert_eq!(verify_kind(&not_json), ErrorKind::IndexInvalid);
    let deep = layout(
        "deep",
        &[],
        &format!(
            r#"{{"metadata":{{"x":{}}},"weight_map":{{}}}}"#,
            "[".repeat(100_000)
        ),
    );
    assert_eq!(verify_kind(&deep), ErrorKind::IndexInvalid);

    let good = layout(
        "good",
        &[(s1, vec![u8s("a", ONE)])],
        &index(&format!(r#""a":"{s1}""#), 1),
    );
    assert!(Checkpoint::open_all(&good).is_ok());
}

/// Tensors `t0`..`t{n}` of 100 bytes each.
fn hundreds(n: usize, fill: &'static [u8; 100]) -> Vec<(String, TensorView<'static>)> {
    (0..n)
        .map(|i| {
            let view = TensorView::new(Dtype::U8, [100], fill).unwrap();
            (format!("t{i}"), view)
        })
        .collect()
}

#[test]
fn writing_a_checkpoint_over_an_older_one_replaces_it() {
    let tmp = TempDir::new("reshard");
    let dir = tmp.dir();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let three = Writer::new()
        .sharded(hundreds(3, &[1; 100]), dir, 100)
        .unwrap();
    assert_eq!(three.len(), 3);
    // Fewer shards: the older three are removed once the new index is in.
    let one = Writer::new()
        .sharded(hundreds(3, &[2; 100]), dir, 1000)
        .unwrap();
    assert_eq!(one, ["model-00001-of-00001.safetensors"]);
    assert_eq!(
        entries(dir),
        ["model-00001-of-00001.safetensors", INDEX_FILE, "notes.txt"]
    );
    let checkpoint = Checkpoint::open_all(dir).unwrap();
    assert_eq!(checkpoint.tensor("t2").unwrap().data(), [2; 100]);
    let loaded = Checkpoint::load(dir, &Default::default(), |_, _| {}).unwrap();
    assert_eq!(loaded.tensor("t0").unwrap().data(), [2; 100]);
    // More shards again: the single one goes.
    Writer::new()
        .sharded(hundreds(2, &[3; 100]), dir, 100)
        .unwrap();
    assert_eq!(
        entries(dir),
        [
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            INDEX_FILE,
            "notes.txt"
        ]
    );
    Checkpoint::open_all(dir).unwrap();
}

/// A view whose bytes fall short of what it declared: a write that fails
/// part-way through a checkpoint.
struct Short;

impl tensorsafe::View for Short {
    fn dtype(&self) -> Dtype {
        Dtype::U8
    }
    fn shape(&self) -> &[usize] {
        &[100]
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&[9; 99])
    }
    fn data_len(&self) -> usize {
        100
    }
}

#[test]
fn a_failed_resharding_leaves_the_older_checkpoint_as_it_was() {
    let tmp = TempDir::new("reshard-fails");
    let dir = tmp.dir();
    // Three shards; then two (other names) and three (the same names), each
    // failing at its last tensor, after earlier shards were written.
    Writer::new()
        .sharded(hundreds(3, &[1; 100]), dir, 100)
        .unwrap();
    let snapshot = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        entries(dir)
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
            .collect()
    };
    let before = snapshot(dir);
    for (count, limit) in [(3, 200), (3, 100)] {
        let mut tensors: Vec<(String, Box<dyn tensorsafe::View>)> = hundreds(count - 1, &[2; 100])
            .into_iter()
            .map(|(n, v)| (n, Box::new(v) as Box<dyn tensorsafe::View>))
            .collect();
        tensors.push((format!("t{}", count - 1), Box::new(Short)));
        let err = Writer::new()
            .sharded(
                tensors.iter().map(|(n, v)| (n.as_str(), v.as_ref())),
                dir,
                limit,
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidView, "{err}");
        assert!(
            snapshot(dir) == before,
            "the directory changed (limit {limit})"
        );
        let old = Checkpoint::open_all(dir).unwrap();
        assert_eq!(old.tensor("t0").unwrap().data(), [1; 100]);
    }
}

#[test]
fn a_shard_no_index_names_is_refused_before_anything_is_written() {
    let tmp = TempDir::new("stray");
    let dir = tmp.dir();
    Writer::new()
        .sharded(hundreds(3, &[1; 100]), dir, 100)
        .unwrap();
    let before = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let index = before(INDEX_FILE);
    let first = before("model-00001-of-00003.safetensors");
    // A shard-named file the index does not name is not known to be ours.
    let stray = "other-00001-of-00002.safetensors";
    std::fs::write(dir.join(stray), "not ours").unwrap();
    let err = Writer::new()
        .sharded(hundreds(1, &[2; 100]), dir, 1000)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IndexUnnamedShard, "{err}");
    assert_eq!(err.path(), Some(dir.join(stray).as_path()));
    assert!(err.to_string().contains("nothing was written"), "{err}");
    assert_eq!(before(INDEX_FILE), index);
    assert_eq!(before("model-00001-of-00003.safetensors"), first);
    assert!(!dir.join("model-00001-of-00001.safetensors").exists());
    assert_eq!(before(stray), b"not ours");
    // Nor with an index that cannot be read, or without an index.
    std::fs::remove_file(dir.join(stray)).unwrap();
    std::fs::write(dir.join(INDEX_FILE), "{").unwrap();
    let err = Writer::new()
        .sharded(hundreds(1, &[2; 100]), dir, 1000)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IndexUnnamedShard, "{err}");
    assert!(err.to_string().contains("cannot be read"), "{err}");
    std::fs::remove_file(dir.join(INDEX_FILE)).unwrap();
    let err = Writer::new()
        .sharded(hundreds(1, &[2; 100]), dir, 1000)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IndexUnnamedShard, "{err}");
    assert_eq!(entries(dir).len(), 3);
}

/// `hundreds(count)` with the tensor at `short` falling short of its bytes.
fn failing_at(count: usize, short: usize) -> Vec<(String, Box<dyn tensorsafe::View>)> {
    hundreds(count, &[2; 100])
        .into_iter()
        .enumerate()
        .map(|(i, (n, v))| {
            let view: Box<dyn tensorsafe::View> = if i == short {
                Box::new(Short)
            } else {
                Box::new(v)
            };
            (n, view)
        })
        .collect()
}

#[test]
fn a_write_failing_at_any_shard_leaves_no_index_and_the_older_one_whole() {
    // Three shards of one tensor each, the write failing at each of them:
    // in an empty directory nothing appears (no index); over an older
    // checkpoint its index stays, naming shards that are all there.
    for short in 0..3 {
        let tmp = TempDir::new("index-last");
        let dir = tmp.dir();
        let write = || {
            let tensors = failing_at(3, short);
            Writer::new()
                .sharded(
                    tensors.iter().map(|(n, v)| (n.as_str(), v.as_ref())),
                    dir,
                    100,
                )
                .unwrap_err()
        };
        assert_eq!(write().kind(), ErrorKind::InvalidView);
        assert!(entries(dir).is_empty(), "shard {short}: {:?}", entries(dir));
        Writer::new()
            .sharded(hundreds(2, &[1; 100]), dir, 200)
            .unwrap();
        let index = std::fs::read(dir.join(INDEX_FILE)).unwrap();
        assert_eq!(write().kind(), ErrorKind::InvalidView);
        assert_eq!(
            std::fs::read(dir.join(INDEX_FILE)).unwrap(),
            index,
            "shard {short}"
        );
        Checkpoint::open_all(dir).unwrap().verify().unwrap();
    }
}

/// A tensor of 100 bytes that, when its bytes are asked for (as its shard
/// is written, after the earlier shards' files were made), puts a
/// non-empty directory at `blocked`, so that the shard to go there cannot
/// be renamed into place.
struct Blocking {
    blocked: std::path::PathBuf,
}

impl tensorsafe::View for Blocking {
    fn dtype(&self) -> Dtype {
        Dtype::U8
    }
    fn shape(&self) -> &[usize] {
        &[100]
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        // An older shard of that name goes first.
        let _ = std::fs::remove_file(&self.blocked);
        std::fs::create_dir_all(&self.blocked).unwrap();
        std::fs::write(self.blocked.join("in-the-way"), "x").unwrap();
        std::borrow::Cow::Borrowed(&[3; 100])
    }
    fn data_len(&self) -> usize {
        100
    }
}

/// Writes three shards of 100 bytes into `dir`, the third tensor putting a
/// directory at `blocked` (a shard's name) when its bytes are read, so
/// that shard cannot be put in place; the write's error.
fn write_three_blocked_at(dir: &Path, blocked: &Path) -> tensorsafe::Error {
    let mut tensors: Vec<(String, Box<dyn tensorsafe::View>)> = hundreds(2, &[2; 100])
        .into_iter()
        .map(|(n, v)| (n, Box::new(v) as Box<dyn tensorsafe::View>))
        .collect();
    let view = Blocking {
        blocked: blocked.to_owned(),
    };
    tensors.push(("t2".to_owned(), Box::new(view)));
    Writer::new()
        .sharded(
            tensors.iter().map(|(n, v)| (n.as_str(), v.as_ref())),
            dir,
            100,
        )
        .unwrap_err()
}

#[test]
fn the_index_is_written_last_so_a_failed_commit_names_no_missing_shard() {
    // Three shards; every one is written, the first is put in place, and
    // renaming the second fails. No new index may name the second and
    // third: in an empty directory there is no index; over an older
    // checkpoint (other shard names) its index stays, naming shards that
    // are all there. The first new shard, under a name no file had, is
    // taken back.
    for over_older in [false, true] {
        let tmp = TempDir::new("index-last-commit");
        let dir = tmp.dir();
        let old_index = over_older.then(|| {
            Writer::new()
                .sharded(hundreds(2, &[1; 100]), dir, 100)
                .unwrap();
            std::fs::read(dir.join(INDEX_FILE)).unwrap()
        });
        let blocked = dir.join("model-00002-of-00003.safetensors");
        let err = write_three_blocked_at(dir, &blocked);
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        assert!(err.to_string().contains("renaming"), "{err}");
        assert_eq!(err.path(), Some(blocked.as_path()), "{err}");
        // The shard put in place before the failure is taken back.
        assert!(!dir.join("model-00001-of-00003.safetensors").exists());
        assert!(!dir.join("model-00003-of-00003.safetensors").exists());
        match old_index {
            None => assert!(
                !dir.join(INDEX_FILE).exists(),
                "an index names missing shards: {:?}",
                entries(dir)
            ),
            Some(index) => {
                assert!(
                    std::fs::read(dir.join(INDEX_FILE)).unwrap() == index,
                    "the older index changed"
                );
                // Nothing else lies beside it: the older checkpoint is whole.
                let old = Checkpoint::open(dir).unwrap();
                std::fs::remove_dir_all(&blocked).unwrap();
                old.verify().unwrap();
                assert_eq!(old.files().len(), 2);
                for file in old.files() {
                    assert!(dir.join(file).is_file(), "{file} is missing");
                }
                for name in ["t0", "t1"] {
                    assert_eq!(old.tensor(name).unwrap().data(), [1; 100]);
                }
            }
        }
    }
}

#[test]
fn a_failed_commit_names_the_older_shards_it_could_not_give_back() {
    // The older checkpoint has the new one's shard names: the first new
    // shard replaces the older first shard before the second fails.
    let tmp = TempDir::new("commit-replaced");
    let dir = tmp.dir();
    Writer::new()
        .sharded(hundreds(3, &[1; 100]), dir, 100)
        .unwrap();
    let first = dir.join("model-00001-of-00003.safetensors");
    let blocked = dir.join("model-00002-of-00003.safetensors");
    let err = write_three_blocked_at(dir, &blocked);
    assert_eq!(err.path(), Some(blocked.as_path()), "{err}");
    let text = err.to_string();
    assert!(text.contains("renaming"), "{text}");
    assert!(text.contains(&first.display().to_string()), "{text}");
    assert!(
        text.contains("replaced older files of the same name"),
        "{text}"
    );
    // It is the new shard: what the error says is so.
    let now = SafeTensors::deserialize(&std::fs::read(&first).unwrap())
        .unwrap()
        .tensor("t0")
        .unwrap()
        .data()
        .to_vec();
    assert_eq!(now, [2; 100]);
}

/// Two shards of two tensors each (`a`, `b` in the first, `c`, `d` in the
/// second), with `__metadata__` in each.
fn two_shards(dir: &Path) {
    let bytes: [&'static [u8]; 4] = [&[1; 300], &[2; 400], &[3; 300], &[4; 400]];
    let tensors = ["a", "b", "c", "d"]
        .into_iter()
        .zip(bytes)
        .map(|(name, b)| {
            let shape = [2, b.len() / 2];
            (name, TensorView::new(Dtype::U8, shape, b).unwrap())
        });
    let metadata: tensorsafe::Metadata = [("format".to_owned(), "pt".to_owned())].into();
    Writer::new()
        .metadata(&metadata)
        .sharded(tensors, dir, 800)
        .unwrap();
}

#[test]
fn a_checkpoint_lists_every_tensor_from_the_shards_headers() {
    let tmp = TempDir::new("listing");
    two_shards(tmp.dir());
    let checkpoint = Checkpoint::open(tmp.dir()).unwrap();
    let shards: Vec<Vec<u8>> = (0..2)
        .map(|i| std::fs::read(checkpoint.shard_path(i).unwrap()).unwrap())
        .collect();
    // Listing needs no shard file any more: it came from the headers.
    for i in 0..2 {
        std::fs::remove_file(checkpoint.shard_path(i).unwrap()).unwrap();
    }
    assert_eq!((checkpoint.len(), checkpoint.is_empty()), (4, false));
    assert_eq!(checkpoint.names().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert_eq!(checkpoint.total_size(), Some(1400));
    assert_eq!(checkpoint.metadata().unwrap()["format"], "pt");
    let mut seen = Vec::new();
    for (name, entry) in checkpoint.iter() {
        let fill = name.as_bytes()[0] - b'a' + 1;
        // a and c hold 300 bytes, b and d 400 (`two_shards`).
        let len = if fill % 2 == 1 { 300 } else { 400 };
        assert_eq!(
            (entry.dtype(), entry.shape()),
            (Dtype::U8, &[2, len / 2][..])
        );
        assert_eq!((entry.byte_len(), entry.info().name()), (len as u64, name));
        let file = format!("model-0000{}-of-00002.safetensors", entry.shard() + 1);
        assert_eq!(entry.file().file_name().unwrap(), &file[..], "{name}");
        // The range is where the bytes are in the shard file.
        let range = entry.byte_range();
        let bytes = &shards[entry.shard()][range.start as usize..range.end as usize];
        assert!(bytes.iter().all(|&b| b == fill), "{name}");
        seen.push((name.to_owned(), entry.shard()));
    }
    assert_eq!(
        seen,
        [
            ("a".into(), 0),
            ("b".into(), 0),
            ("c".into(), 1),
            ("d".into(), 1)
        ]
    );
    assert_eq!(checkpoint.entries().count(), 4);
    assert_eq!(checkpoint.entry("c").unwrap().shard(), 1);
    let err = checkpoint.entry("zzz").unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::TensorNotFound, Some("zzz"))
    );
    // Tensor bytes do need the shard.
    assert_eq!(checkpoint.tensor("a").unwrap_err().kind(), ErrorKind::Io);
}

#[test]
fn one_entry_point_opens_a_file_an_index_or_a_directory_holding_either() {
    let tmp = TempDir::new("any-path");
    let (dir, file) = (tmp.path("one"), tmp.path("one/model.safetensors"));
    std::fs::create_dir(&dir).unwrap();
    let w = [7u8; 6];
    tensorsafe::serialize_to_file(
        [("w", TensorView::new(Dtype::U8, [2, 3], &w).unwrap())],
        None,
        &file,
    )
    .unwrap();
    for path in [&file, &dir] {
        let checkpoint = Checkpoint::open(path).unwrap();
        assert!(!checkpoint.is_sharded());
        assert_eq!(checkpoint.path(), file);
        assert_eq!(checkpoint.files(), ["model.safetensors"]);
        assert_eq!(checkpoint.total_size(), Some(6));
        assert_eq!(checkpoint.entry("w").unwrap().shape(), [2, 3]);
        assert_eq!(checkpoint.tensor("w").unwrap().data(), w);
        checkpoint.verify().unwrap();
    }
    let loaded = Checkpoint::load(&file, &Default::default(), |_, _| {}).unwrap();
    assert_eq!(loaded.tensor("w").unwrap().data(), w);

    let sharded = tmp.path("sharded");
    two_shards(&sharded);
    for path in [sharded.clone(), sharded.join(INDEX_FILE)] {
        let checkpoint = Checkpoint::open(&path).unwrap();
        assert!(checkpoint.is_sharded());
        assert_eq!(checkpoint.path(), sharded.join(INDEX_FILE));
    }
    // Another index name, alone in its directory, is found too.
    std::fs::rename(
        sharded.join(INDEX_FILE),
        sharded.join("x.safetensors.index.json"),
    )
    .unwrap();
    assert_eq!(Checkpoint::open(&sharded).unwrap().len(), 4);
}

#[test]
fn a_directory_that_is_no_checkpoint_says_what_it_holds() {
    let tmp = TempDir::new("not-a-checkpoint");
    let dir = tmp.dir();
    let message = |dir: &Path| {
        let err = Checkpoint::open(dir).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotACheckpoint, "{err}");
        assert_eq!(err.path(), Some(dir));
        err.to_string()
    };
    let empty = message(dir);
    assert!(
        empty.contains("no .safetensors file or *.safetensors.index.json in the directory; expected a .safetensors file, an index (.json) or a directory"),
        "{empty}"
    );
    for name in ["a", "b", "c"] {
        let bytes = serialize(
            [(name, TensorView::new(Dtype::U8, [1], &[1]).unwrap())],
            None,
        );
        std::fs::write(dir.join(format!("{name}.safetensors")), bytes.unwrap()).unwrap();
    }
    let three = message(dir);
    assert!(
        three.contains("no *.safetensors.index.json and 3 .safetensors files (a.safetensors, b.safetensors, c.safetensors); expected one file, or a checkpoint's index"),
        "{three}"
    );
    for name in ["x.safetensors.index.json", "y.safetensors.index.json"] {
        std::fs::write(dir.join(name), "{\"weight_map\":{}}").unwrap();
    }
    let two = message(dir);
    assert!(
        two.contains("2 *.safetensors.index.json files (x.safetensors.index.json, y.safetensors.index.json) and no model.safetensors.index.json; expected one index"),
        "{two}"
    );
}

#[test]
fn an_index_over_the_limit_is_refused_by_its_size_before_it_is_read() {
    let tmp = TempDir::new("huge-index");
    let index = tmp.path(INDEX_FILE);
    // Sparse: reading it would take a while and find zero bytes, which are
    // no JSON (IndexInvalid). The size is checked first.
    let file = std::fs::File::create(&index).unwrap();
    file.set_len(100_000_001).unwrap();
    let err = Checkpoint::open(&index).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IndexTooLarge, "{err}");
    assert_eq!(err.category(), tensorsafe::Category::Limits);
    assert_eq!(err.path(), Some(index.as_path()));
    let text = err.to_string();
    assert!(
        text.contains("100000001 bytes; an index holds at most 100000000"),
        "{text}"
    );
    // At the limit, the content decides.
    file.set_len(100_000_000).unwrap();
    assert_eq!(
        Checkpoint::open(&index).unwrap_err().kind(),
        ErrorKind::IndexInvalid
    );
}

#[test]
fn an_index_that_cannot_be_read_is_an_io_error_naming_it() {
    let tmp = TempDir::new("unreadable-index");
    // A directory named like the preferred index is no index, and not
    // passed over for another one: an error naming it.
    let index = tmp.path("model.safetensors.index.json");
    std::fs::create_dir(&index).unwrap();
    one_tensor_file(&tmp.path("model.safetensors"));
    for err in [
        Checkpoint::open(tmp.dir()).unwrap_err(),
        Checkpoint::load(tmp.dir(), &Default::default(), |_, _| {}).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        assert_eq!(err.path(), Some(index.as_path()));
    }
    let missing = tmp.path("gone.safetensors.index.json");
    let err = Checkpoint::open(&missing).unwrap_err();
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound)
    );
}

#[test]
fn a_shard_changed_after_opening_is_an_error_not_another_tensor() {
    let tmp = TempDir::new("changed-shard");
    two_shards(tmp.dir());
    let checkpoint = Checkpoint::open(tmp.dir()).unwrap();
    // The second shard rewritten with other names, after its header was read.
    let other = serialize(
        [("x", TensorView::new(Dtype::U8, [1], &[9]).unwrap())],
        None,
    );
    let shard = checkpoint.shard_path(1).unwrap().to_owned();
    std::fs::write(&shard, other.unwrap()).unwrap();
    let err = checkpoint.tensor("c").unwrap_err();
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::FileChanged, Some("c"))
    );
    assert_eq!(err.path(), Some(shard.as_path()));
    // The first shard, untouched, still reads.
    assert_eq!(checkpoint.tensor("a").unwrap().data(), [1; 300]);
}

/// The checkpoint of `two_shards` opened, then its second shard (holding
/// `c`, U8 [2, 150], and `d`) rewritten by `change` from its bytes.
fn second_shard_changed(
    tag: &str,
    change: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> (TempDir, Checkpoint) {
    let tmp = TempDir::new(tag);
    two_shards(tmp.dir());
    let checkpoint = Checkpoint::open(tmp.dir()).unwrap();
    assert_eq!(checkpoint.entry("c").unwrap().shape(), [2, 150]);
    let shard = checkpoint.shard_path(1).unwrap();
    std::fs::write(shard, change(std::fs::read(shard).unwrap())).unwrap();
    (tmp, checkpoint)
}

fn assert_changed(checkpoint: &Checkpoint, err: tensorsafe::Error) {
    assert_eq!(
        (err.kind(), err.tensor()),
        (ErrorKind::FileChanged, Some("c")),
        "{err}"
    );
    assert_eq!(err.path(), checkpoint.shard_path(1), "{err}");
}

#[test]
fn a_shard_replaced_after_opening_is_not_read_as_the_new_file() {
    let same_names = |_| {
        let c: Vec<u8> = [1.5f32, 2.5].iter().flat_map(|x| x.to_le_bytes()).collect();
        let tensors = [
            ("c", TensorView::new(Dtype::F32, [2], &c).unwrap()),
            (
                "d",
                TensorView::new(Dtype::U8, [2, 200], &[4; 400]).unwrap(),
            ),
        ];
        serialize(tensors, None).unwrap()
    };
    let (_tmp, checkpoint) = second_shard_changed("replaced", same_names);
    assert_changed(&checkpoint, checkpoint.tensor("c").unwrap_err());
    let err = checkpoint.shard(1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FileChanged);
    assert_eq!(err.path(), checkpoint.shard_path(1));
    assert_eq!(checkpoint.tensor("a").unwrap().data(), [1; 300]);
}

#[test]
fn a_shard_truncated_or_extended_after_opening_names_the_tensor_asked_for() {
    let (_tmp, checkpoint) = second_shard_changed("truncated", |mut b| {
        b.pop();
        b
    });
    assert_changed(&checkpoint, checkpoint.tensor("c").unwrap_err());
    let (_tmp, checkpoint) = second_shard_changed("extended", |mut b| {
        b.push(0);
        b
    });
    assert_changed(&checkpoint, checkpoint.tensor("c").unwrap_err());
}

#[test]
fn a_mapped_shard_replaced_after_opening_is_an_error() {
    let tmp = TempDir::new("replaced-mapped");
    two_shards(tmp.dir());
    // SAFETY: the shard is replaced before it is mapped, never while.
    let checkpoint = unsafe { Checkpoint::mmap(tmp.dir()) }.unwrap();
    let shard = checkpoint.shard_path(1).unwrap();
    let other = [
        ("c", TensorView::new(Dtype::U8, [300], &[3; 300]).unwrap()),
        (
            "d",
            TensorView::new(Dtype::U8, [2, 200], &[4; 400]).unwrap(),
        ),
    ];
    std::fs::write(shard, serialize(other, None).unwrap()).unwrap();
    assert_changed(&checkpoint, checkpoint.tensor("c").unwrap_err());
}

/// `two_shards`, with the index's metadata replaced by `metadata`.
fn two_shards_with_index_metadata(tag: &str, metadata: &str) -> TempDir {
    let tmp = TempDir::new(tag);
    two_shards(tmp.dir());
    let index = std::fs::read_to_string(tmp.path(INDEX_FILE)).unwrap();
    let start = index.find("\"weight_map\"").unwrap();
    let index = format!("{{{metadata}{}", &index[start..]);
    std::fs::write(tmp.path(INDEX_FILE), index).unwrap();
    tmp
}

#[test]
fn an_index_without_the_right_total_size_opens_and_lists_and_verify_says_why() {
    let cases = [
        (
            "",
            "the index gives no metadata.total_size; the shards hold 1400 bytes of tensors",
        ),
        // mlx-lm writes the shards' file sizes.
        (
            r#""metadata":{"total_size":1700},"#,
            "metadata.total_size is 1700; the shards hold 1400 bytes of tensors",
        ),
    ];
    for (metadata, said) in cases {
        let tmp = two_shards_with_index_metadata("total-size", metadata);
        let checkpoint = Checkpoint::open(tmp.dir()).unwrap();
        assert_eq!(checkpoint.len(), 4);
        assert_eq!(checkpoint.entry("d").unwrap().shape(), [2, 200]);
        assert_eq!(checkpoint.tensor("d").unwrap().data(), [4; 400]);
        let err = checkpoint.verify().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IndexTotalSize);
        assert!(err.to_string().contains(said), "{err}");
        assert!(!err.to_string().contains("None"), "{err}");
        // Only verify checks total_size: the loads take the checkpoint.
        let options = tensorsafe::LoadOptions::default();
        let loaded = Checkpoint::load(tmp.dir(), &options, |_, _| {}).unwrap();
        assert_eq!(loaded.tensor("c").unwrap().data(), [3; 300]);
        let mut chosen = 0;
        Checkpoint::load_into(tmp.dir(), &options, |_| None, |_, _| chosen += 1).unwrap();
        assert_eq!(chosen, 1);
        let all = Checkpoint::open_all(tmp.dir()).unwrap();
        assert_eq!(all.tensor("d").unwrap().data(), [4; 400]);
    }
}

fn one_tensor_file(path: &Path) {
    let w = TensorView::new(Dtype::U8, [2], &[1, 2]).unwrap();
    std::fs::write(path, serialize([("w", w)], None).unwrap()).unwrap();
}

#[test]
fn a_directory_counts_regular_files_only_and_ignores_dot_files() {
    let tmp = TempDir::new("locate-regular");
    let dir = tmp.dir();
    one_tensor_file(&dir.join("model.safetensors"));
    // A directory named like a file or an index, and macOS's resource fork.
    std::fs::create_dir(dir.join("sub.safetensors")).unwrap();
    std::fs::create_dir(dir.join("x.safetensors.index.json")).unwrap();
    std::fs::write(dir.join("._model.safetensors"), [0; 4096]).unwrap();
    let located = Checkpoint::locate(dir).unwrap();
    assert_eq!(located, Located::File(dir.join("model.safetensors")));
    let checkpoint = Checkpoint::open(dir).unwrap();
    assert_eq!(checkpoint.names().collect::<Vec<_>>(), ["w"]);
}

#[test]
fn a_directory_of_many_files_names_the_first_few() {
    let tmp = TempDir::new("locate-many");
    for i in 0..6 {
        one_tensor_file(&tmp.path(&format!("part{i}.safetensors")));
    }
    let err = Checkpoint::open(tmp.dir()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotACheckpoint);
    let said = err.to_string();
    assert!(
        said.contains("6 .safetensors files (part0.safetensors, part1.safetensors, part2.safetensors, part3.safetensors, ...)"),
        "{said}"
    );
}

#[test]
fn a_file_that_is_no_safetensors_file_says_what_was_expected() {
    let tmp = TempDir::new("locate-bin");
    let bin = tmp.path("pytorch_model.bin");
    std::fs::write(&bin, b"PK\x03\x04 a zip of pickles, not safetensors").unwrap();
    let err = Checkpoint::open(&bin).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotACheckpoint, "{err}");
    assert_eq!(err.path(), Some(bin.as_path()));
    assert!(
        err.to_string().contains(
            "found pytorch_model.bin; expected a .safetensors file, an index (.json) or a directory"
        ),
        "{err}"
    );
    // A safetensors file by another name is one.
    let other = tmp.path("weights.st");
    one_tensor_file(&other);
    assert_eq!(
        Checkpoint::locate(&other).unwrap(),
        Located::File(other.clone())
    );
    assert_eq!(Checkpoint::open(&other).unwrap().len(), 1);
    // A path that does not exist is an I/O error naming it.
    let missing = tmp.path("missing.bin");
    assert_eq!(
        Checkpoint::open(&missing).unwrap_err().kind(),
        ErrorKind::Io
    );
}

#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_are_found_and_shown() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = TempDir::new("locate-utf8");
    let name = std::ffi::OsStr::from_bytes(b"mod\xffel.safetensors");
    let path = tmp.dir().join(name);
    one_tensor_file(&path);
    // Some filesystems refuse names that are not UTF-8.
    if !path.exists() {
        return;
    }
    assert_eq!(
        Checkpoint::locate(tmp.dir()).unwrap(),
        Located::File(path.clone())
    );
    let checkpoint = Checkpoint::open(tmp.dir()).unwrap();
    assert_eq!(checkpoint.files(), ["mod\u{fffd}el.safetensors"]);
    assert_eq!(checkpoint.file_of("w"), Some("mod\u{fffd}el.safetensors"));
    assert_eq!(checkpoint.tensor("w").unwrap().data(), [1, 2]);
}

#[test]
fn metadata_is_shard_zeros_and_the_others_are_not_compared() {
    let tmp = TempDir::new("metadata-shard0");
    let s1 = "model-00001-of-00002.safetensors";
    let s2 = "model-00002-of-00002.safetensors";
    for (file, name, format) in [(s1, "a", "pt"), (s2, "b", "np")] {
        let metadata: tensorsafe::Metadata = [("format".to_owned(), format.to_owned())].into();
        let t = TensorView::new(Dtype::U8, [1], &[1]).unwrap();
        std::fs::write(
            tmp.path(file),
            serialize([(name, t)], Some(&metadata)).unwrap(),
        )
        .unwrap();
    }
    let index =
        format!(r#"{{"metadata":{{"total_size":2}},"weight_map":{{"a":"{s1}","b":"{s2}"}}}}"#);
    std::fs::write(tmp.path(INDEX_FILE), index).unwrap();
    let checkpoint = Checkpoint::open(tmp.dir()).unwrap();
    checkpoint.verify().unwrap();
    assert_eq!(checkpoint.metadata().unwrap()["format"], "pt");
    let second = checkpoint.shard_header(1).unwrap().metadata().unwrap();
    assert_eq!(second["format"], "np");
}

/// `bytes` written to `to`, its modification time set to a fixed instant
/// long past (so it differs from any time the shard was written at).
fn write_dated(to: &Path, bytes: &[u8]) {
    let file = std::fs::File::create(to).unwrap();
    std::io::Write::write_all(&mut &file, bytes).unwrap();
    let then = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    file.set_modified(then).unwrap();
}

/// The second shard of `two_shards` with the same header, its tensors'
/// bytes changed.
fn same_header_other_bytes(shard: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(shard).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    bytes
}

#[test]
fn a_shard_renamed_over_by_a_file_with_the_same_header_is_changed() {
    let tmp = TempDir::new("renamed-same-header");
    two_shards(tmp.dir());
    let read = Checkpoint::open(tmp.dir()).unwrap();
    // SAFETY: the shard is renamed over before it is mapped, never while.
    let mapped = unsafe { Checkpoint::mmap(tmp.dir()) }.unwrap();
    let shard = read.shard_path(1).unwrap();
    let new = tmp.path("new");
    write_dated(&new, &same_header_other_bytes(shard));
    std::fs::rename(&new, shard).unwrap();
    for checkpoint in [&read, &mapped] {
        assert_changed(checkpoint, checkpoint.tensor("c").unwrap_err());
        assert_eq!(checkpoint.tensor("a").unwrap().data(), [1; 300]);
    }
    let options = tensorsafe::LoadOptions::default();
    // Loads open the checkpoint again: opened now, the new file is the shard.
    let loaded = Checkpoint::load(tmp.dir(), &options, |_, _| {}).unwrap();
    assert_eq!(loaded.tensor("d").unwrap().data()[399], 4 ^ 0xff);
}

#[test]
fn a_shard_written_in_place_with_the_same_length_is_changed() {
    let tmp = TempDir::new("rewritten-in-place");
    two_shards(tmp.dir());
    let checkpoint = Checkpoint::open(tmp.dir()).unwrap();
    let shard = checkpoint.shard_path(1).unwrap();
    let bytes = same_header_other_bytes(shard);
    let file = std::fs::OpenOptions::new().write(true).open(shard).unwrap();
    std::io::Write::write_all(&mut &file, &bytes).unwrap();
    file.set_modified(std::time::UNIX_EPOCH).unwrap();
    assert_changed(&checkpoint, checkpoint.tensor("c").unwrap_err());
}

#[test]
fn a_shard_written_in_place_during_a_load_is_changed() {
    let tmp = TempDir::new("rewritten-while-loading");
    two_shards(tmp.dir());
    let shard = tmp.path("model-00002-of-00002.safetensors");
    let bytes = same_header_other_bytes(&shard);
    let options = tensorsafe::LoadOptions::default();
    let mut rewritten = false;
    // The first progress call comes before any tensor byte is read.
    let err = Checkpoint::load(tmp.dir(), &options, |_, _| {
        if !std::mem::replace(&mut rewritten, true) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&shard)
                .unwrap();
            std::io::Write::write_all(&mut &file, &bytes).unwrap();
            file.set_modified(std::time::UNIX_EPOCH).unwrap();
        }
    })
    .err()
    .unwrap();
    assert_eq!(err.kind(), ErrorKind::FileChanged, "{err}");
    assert_eq!(err.path(), Some(shard.as_path()));
}

#[cfg(unix)]
#[test]
fn a_dangling_link_in_a_directory_is_an_io_error_naming_it_not_passed_over() {
    use std::os::unix::fs::symlink;
    // A dangling model.safetensors.index.json beside the fp16 index.
    let tmp = TempDir::new("locate-dangling-index");
    let dir = tmp.dir();
    one_tensor_file(&dir.join("model.fp16.safetensors"));
    let fp16 = "{\"weight_map\":{\"w\":\"model.fp16.safetensors\"}}";
    std::fs::write(dir.join("model.fp16.safetensors.index.json"), fp16).unwrap();
    assert!(Checkpoint::locate(dir).unwrap().is_index());
    let preferred = dir.join(INDEX_FILE);
    symlink(dir.join("blobs-missing"), &preferred).unwrap();
    let err = Checkpoint::locate(dir).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_eq!(err.path(), Some(preferred.as_path()));

    // A partial snapshot: model.safetensors links to a blob not there yet.
    let tmp = TempDir::new("locate-dangling-file");
    let file = tmp.path("model.safetensors");
    symlink(tmp.path("blob"), &file).unwrap();
    let err = Checkpoint::open(tmp.dir()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_eq!(err.path(), Some(file.as_path()));
}

#[test]
fn a_file_without_the_suffix_is_sniffed_and_opening_reports_its_own_error() {
    let tmp = TempDir::new("locate-sniff");
    // A Hugging Face blob: no suffix, a header that is not JSON.
    let blob = tmp.path("a1b2c3");
    let mut bytes = 4u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\"w\"");
    std::fs::write(&blob, &bytes).unwrap();
    assert_eq!(
        Checkpoint::locate(&blob).unwrap(),
        Located::File(blob.clone())
    );
    let err = Checkpoint::open(&blob).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JsonSyntax, "{err}");
    // A header beyond the default limits opens with larger ones.
    let big = tmp.path("big-blob");
    let name = "w".repeat(200);
    let w = TensorView::new(Dtype::U8, [1], &[1]).unwrap();
    std::fs::write(&big, serialize([(name.as_str(), w)], None).unwrap()).unwrap();
    let mut options = tensorsafe::LoadOptions::default();
    options.parse.limits.max_header_bytes = 64;
    let err = Checkpoint::open_with(&big, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HeaderTooLarge, "{err}");
    options.parse.limits.max_header_bytes = 1 << 20;
    assert_eq!(Checkpoint::open_with(&big, &options).unwrap().len(), 1);
    // Other content is still not a checkpoint.
    let bin = tmp.path("model.bin");
    std::fs::write(&bin, b"\x80\x02 a pickle, long enough").unwrap();
    let err = Checkpoint::open(&bin).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotACheckpoint, "{err}");
}

#[test]
fn suffixes_are_found_in_any_ascii_case() {
    let tmp = TempDir::new("locate-case");
    let file = tmp.path("MODEL.SAFETENSORS");
    one_tensor_file(&file);
    assert_eq!(Checkpoint::locate(tmp.dir()).unwrap(), Located::File(file));
    let index = tmp.path("x.index.JSON");
    assert_eq!(Checkpoint::locate(&index).unwrap(), Located::Index(index));
    let upper = tmp.path("W.Safetensors.Index.Json");
    std::fs::write(&upper, "{\"weight_map\":{\"w\":\"MODEL.SAFETENSORS\"}}").unwrap();
    assert_eq!(
        Checkpoint::locate(tmp.dir()).unwrap(),
        Located::Index(upper)
    );
    assert_eq!(Checkpoint::open(tmp.dir()).unwrap().len(), 1);
}

#[test]
fn verify_of_a_directory_that_cannot_be_listed_is_an_io_error_naming_it() {
    // Running as root defeats a permission test: the directory is
    // replaced by a file after opening instead.
    let tmp = TempDir::new("verify-unlisted");
    let dir = tmp.path("ckpt");
    std::fs::create_dir(&dir).unwrap();
    two_shards(&dir);
    let checkpoint = Checkpoint::open(&dir).unwrap();
    checkpoint.verify().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let err = checkpoint.verify().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_eq!(err.path(), Some(dir.as_path()));
}

#[test]
fn permissions_and_links_may_change_after_opening() {
    let tmp = TempDir::new("chmod");
    two_shards(tmp.dir());
    let checkpoint = Checkpoint::open(tmp.dir()).unwrap();
    let shard = checkpoint.shard_path(1).unwrap().to_path_buf();
    // Neither changes the file's bytes: both change only its status time.
    let mut permissions = std::fs::metadata(&shard).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&shard, permissions).unwrap();
    std::fs::hard_link(&shard, tmp.path("another-name")).unwrap();
    assert_eq!(checkpoint.tensor("c").unwrap().data(), &[3; 300][..]);
}

#[test]
fn a_file_whose_header_starts_with_white_space_is_found_without_its_suffix() {
    let tmp = TempDir::new("sniff-space");
    let json = b"  \n{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json);
    bytes.extend_from_slice(&[7, 8]);
    let blob = tmp.path("a1b2c3");
    std::fs::write(&blob, &bytes).unwrap();
    assert_eq!(
        Checkpoint::locate(&blob).unwrap(),
        Located::File(blob.clone())
    );
    let checkpoint = Checkpoint::open(&blob).unwrap();
    assert_eq!(checkpoint.tensor("w").unwrap().data(), [7, 8]);
}
