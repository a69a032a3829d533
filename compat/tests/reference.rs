//! This crate against the real `safetensors` 0.8.0 (`reference`): the same
//! files read the same, the same tensors serialize to the same bytes, the
//! same slices give the same byte ranges, broken files are refused with the
//! same variant, and the same size limits apply. Where the two part ways on
//! purpose, the case is named, with the reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use safetensors::slice::{slice_byte_ranges, IndexOp, InvalidSlice, TensorIndexer};
use safetensors::tensor::{Metadata, TensorView};
use safetensors::{serialize, Dtype, SafeTensorError, SafeTensors};

fn data_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(kind)
}

/// The files of `tests/data/<kind>` whose name ends in `.<extension>`.
fn files_of(kind: &str, extension: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(data_dir(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn files(kind: &str) -> Vec<(String, Vec<u8>)> {
    files_of(kind, "safetensors")
}

/// A file: the length prefix, `json`, and `data` zero bytes.
fn file(json: &str, data: usize) -> Vec<u8> {
    let mut f = (json.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(json.as_bytes());
    f.resize(f.len() + data, 0);
    f
}

fn reference_dtype(dtype: Dtype) -> reference::Dtype {
    let name = dtype.to_string();
    serde_json::from_value(serde_json::Value::String(name)).unwrap()
}

#[test]
fn golden_files_read_as_the_reference_reads_them() {
    let golden = files("golden");
    assert!(golden.len() >= 10);
    for (file, bytes) in &golden {
        assert_same_reading(file, bytes);
        let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
        let (_, their_meta) = reference::SafeTensors::read_metadata(bytes).unwrap();
        // The serde impls agree too: the same JSON for the same header.
        assert_eq!(
            serde_json::to_value(&meta).unwrap(),
            serde_json::to_value(&their_meta).unwrap(),
            "{file}"
        );
        // And the same text, where no hash-map order is involved (no two
        // tensors share an offset, at most one metadata key).
        if file != "empty.safetensors" && meta.metadata().as_ref().map_or(0, |m| m.len()) <= 1 {
            assert_eq!(
                serde_json::to_string(&meta).unwrap(),
                serde_json::to_string(&their_meta).unwrap(),
                "{file}"
            );
        }
        let back: Metadata = serde_json::from_value(serde_json::to_value(&meta).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&meta).unwrap()
        );
    }
}

/// Both crates read `bytes`, and read the same: tensors, header length,
/// offsets, metadata.
fn assert_same_reading(file: &str, bytes: &[u8]) {
    let ours = SafeTensors::deserialize(bytes).unwrap();
    let theirs = reference::SafeTensors::deserialize(bytes).unwrap();
    assert_eq!(ours.len(), theirs.len(), "{file}");
    let mut names = ours.names();
    let mut their_names = theirs.names();
    names.sort();
    their_names.sort();
    assert_eq!(names, their_names, "{file}");
    for (name, view) in ours.tensors() {
        let theirs = theirs.tensor(&name).unwrap();
        assert_eq!(
            reference_dtype(view.dtype()),
            theirs.dtype(),
            "{file} {name}"
        );
        assert_eq!(view.shape(), theirs.shape(), "{file} {name}");
        assert_eq!(view.data(), theirs.data(), "{file} {name}");
    }

    let (n, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let (their_n, their_meta) = reference::SafeTensors::read_metadata(bytes).unwrap();
    assert_eq!(n, their_n, "{file}");
    // Offset order; tensors of zero bytes share an offset and the
    // reference orders those by hash, so compare offsets, then sets.
    let offsets = |keys: Vec<String>, m: &dyn Fn(&str) -> (usize, usize)| {
        keys.iter().map(|k| m(k)).collect::<Vec<_>>()
    };
    assert_eq!(
        offsets(meta.offset_keys(), &|k| meta.info(k).unwrap().data_offsets),
        offsets(their_meta.offset_keys(), &|k| their_meta
            .info(k)
            .unwrap()
            .data_offsets),
        "{file}"
    );
    let mut keys = meta.offset_keys();
    let mut their_keys = their_meta.offset_keys();
    keys.sort();
    their_keys.sort();
    assert_eq!(keys, their_keys, "{file}");
    assert_eq!(meta.data_len(), their_meta.data_len(), "{file}");
    assert_eq!(meta.metadata(), their_meta.metadata(), "{file}");
    assert_eq!(meta.tensors().len(), their_meta.tensors().len(), "{file}");
    for name in meta.offset_keys() {
        let (a, b) = (meta.info(&name).unwrap(), their_meta.info(&name).unwrap());
        assert_eq!(
            (reference_dtype(a.dtype), &a.shape, a.data_offsets),
            (b.dtype, &b.shape, b.data_offsets),
            "{file} {name}"
        );
    }
}

/// Which of the 14 variants, as a name.
fn variant(e: &SafeTensorError) -> &'static str {
    match e {
        SafeTensorError::InvalidHeader(_) => "InvalidHeader",
        SafeTensorError::InvalidHeaderDeserialization(_) => "InvalidHeaderDeserialization",
        SafeTensorError::HeaderTooLarge => "HeaderTooLarge",
        SafeTensorError::HeaderTooSmall => "HeaderTooSmall",
        SafeTensorError::InvalidHeaderLength => "InvalidHeaderLength",
        SafeTensorError::TensorNotFound(_) => "TensorNotFound",
        SafeTensorError::TensorInvalidInfo => "TensorInvalidInfo",
        SafeTensorError::InvalidOffset(_) => "InvalidOffset",
        SafeTensorError::IoError(_) => "IoError",
        SafeTensorError::JsonError(_) => "JsonError",
        SafeTensorError::InvalidTensorView(..) => "InvalidTensorView",
        SafeTensorError::MetadataIncompleteBuffer => "MetadataIncompleteBuffer",
        SafeTensorError::ValidationOverflow => "ValidationOverflow",
        SafeTensorError::MisalignedSlice => "MisalignedSlice",
    }
}

fn their_variant(e: &reference::SafeTensorError) -> &'static str {
    use reference::SafeTensorError as E;
    match e {
        E::InvalidHeader(_) => "InvalidHeader",
        E::InvalidHeaderDeserialization(_) => "InvalidHeaderDeserialization",
        E::HeaderTooLarge => "HeaderTooLarge",
        E::HeaderTooSmall => "HeaderTooSmall",
        E::InvalidHeaderLength => "InvalidHeaderLength",
        E::TensorNotFound(_) => "TensorNotFound",
        E::TensorInvalidInfo => "TensorInvalidInfo",
        E::InvalidOffset(_) => "InvalidOffset",
        E::IoError(_) => "IoError",
        E::JsonError(_) => "JsonError",
        E::InvalidTensorView(..) => "InvalidTensorView",
        E::MetadataIncompleteBuffer => "MetadataIncompleteBuffer",
        E::ValidationOverflow => "ValidationOverflow",
        E::MisalignedSlice => "MisalignedSlice",
    }
}

/// What a reader makes of a file: `"Ok"`, the variant's name, or (the
/// reference only) `"panic"`.
fn our_outcome(bytes: &[u8]) -> &'static str {
    let outcome = match SafeTensors::deserialize(bytes) {
        Ok(_) => "Ok",
        Err(e) => {
            assert!(!e.to_string().is_empty());
            variant(&e)
        }
    };
    // read_metadata applies the same rules.
    let header = SafeTensors::read_metadata(bytes).map_or_else(|e| variant(&e), |_| "Ok");
    assert_eq!(outcome, header, "read_metadata");
    outcome
}

fn their_outcome(bytes: &[u8]) -> &'static str {
    match std::panic::catch_unwind(|| reference::SafeTensors::deserialize(bytes)) {
        Err(_) => "panic",
        Ok(Ok(_)) => "Ok",
        Ok(Err(e)) => their_variant(&e),
    }
}

/// Inputs on which this crate and the reference part ways on purpose. Every
/// other input must read the same in both, or be refused by both with the
/// same variant.
struct Difference {
    /// Files of `tests/data`.
    files: &'static [&'static str],
    /// What the reference makes of them (see `their_outcome`).
    reference: &'static str,
    /// What this crate makes of them.
    here: &'static str,
    /// Why they differ.
    why: &'static str,
}

fn differences() -> [Difference; 5] {
    [
        Difference {
            files: &["x_type_entry_array.safetensors"],
            reference: "Ok",
            here: "InvalidHeaderDeserialization",
            why: "stricter: an entry as a JSON array is a quirk of the reference's serde derive",
        },
        Difference {
            files: &["differential-invalid-entry-hidden-by-duplicate.bin"],
            reference: "Ok",
            here: "InvalidOffset",
            why: "stricter: a name twice; the reference keeps the last, never checking the first",
        },
        Difference {
            files: &[
                "x_offsets_empty.safetensors",
                "x_offsets_one.safetensors",
                "x_offsets_three.safetensors",
            ],
            reference: "InvalidHeaderDeserialization",
            here: "InvalidOffset",
            why: "`data_offsets` not two numbers: one kind with every bad `data_offsets`",
        },
        Difference {
            files: &[
                "x_f4_bits_past_u64.safetensors",
                "x_f6_bits_past_u64.safetensors",
                "x_spans_to_u64_max.safetensors",
            ],
            reference: "ValidationOverflow",
            here: "MetadataIncompleteBuffer",
            why: "sizes near 2^64 are counted without overflow; the file is too short for them",
        },
        Difference {
            files: &[
                "x_chained_spans_overflow.safetensors",
                "structured-file-len-overflow.bin",
            ],
            // The reference sums the file length past usize: a debug build
            // panics, a release build wraps around to a wrong length.
            reference: if cfg!(debug_assertions) {
                "panic"
            } else {
                "MetadataIncompleteBuffer"
            },
            here: "ValidationOverflow",
            why: "the file length passes 2^64, checked in every build",
        },
    ]
}

#[test]
fn every_input_reads_as_in_the_reference_but_the_named_differences() {
    let broken = files("broken");
    assert!(broken.len() >= 60);
    let inputs: Vec<(String, Vec<u8>)> = files("golden")
        .into_iter()
        .chain(broken)
        .chain(files_of("fuzz-regressions", "bin"))
        .collect();
    let differences = differences();
    let mut unexpected = Vec::new();
    for (file, bytes) in &inputs {
        let (ours, theirs) = (our_outcome(bytes), their_outcome(bytes));
        match differences
            .iter()
            .find(|d| d.files.contains(&file.as_str()))
        {
            Some(d) => {
                if (theirs, ours) != (d.reference, d.here) {
                    unexpected.push(format!(
                        "{file}: reference {theirs}, here {ours}; listed as {} and {} ({})",
                        d.reference, d.here, d.why
                    ));
                }
            }
            None if theirs == "Ok" && ours == "Ok" => assert_same_reading(file, bytes),
            None if theirs == ours => {}
            None => unexpected.push(format!("{file}: reference {theirs}, here {ours}")),
        }
    }
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    for file in differences.iter().flat_map(|d| d.files) {
        assert!(inputs.iter().any(|(f, _)| f == file), "{file} is gone");
    }
}

// The reference bounds a header by its length alone (100,000,000 bytes),
// not by its number of tensors or their rank; so does this crate.

#[test]
fn a_rank_over_64_reads_as_in_the_reference() {
    for rank in [64, 65, 200, 10_000] {
        let dims = vec!["1"; rank].join(",");
        let json = format!(r#"{{"w":{{"dtype":"U8","shape":[{dims}],"data_offsets":[0,1]}}}}"#);
        let bytes = file(&json, 1);
        assert_same_reading(&format!("rank {rank}"), &bytes);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor("w").unwrap().shape(), vec![1; rank]);
    }
}

#[test]
fn more_than_a_million_tensors_read_as_in_the_reference() {
    // 1,000,001 tensors of zero bytes and one of a byte: ~55 MB of header.
    let count = 1_000_002;
    let mut json = String::from("{");
    for i in 1..count {
        json.push_str(&format!(
            r#""{i}":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}},"#
        ));
    }
    json.push_str(r#""w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#);
    let bytes = file(&json, 1);
    drop(json);
    // The reference's parse of a header this size is slow in a debug
    // build: it runs once; this crate's read_metadata is checked too.
    let theirs = reference::SafeTensors::deserialize(&bytes).unwrap();
    let ours = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!((ours.len(), theirs.len()), (count, count));
    for name in ["1", "999999", "1000001", "w"] {
        let (a, b) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!((a.shape(), a.data()), (b.shape(), b.data()), "{name}");
    }
    let (n, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!((n, meta.data_len()), (json_len(&bytes), 1));
    assert_eq!(meta.offset_keys().len(), count);
}

/// The header length a file declares.
fn json_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

#[test]
fn a_header_over_100_000_000_bytes_is_too_large_for_both() {
    // Exactly at the limit: read; one byte more: HeaderTooLarge (checked
    // before the header is looked at).
    let limit = 100_000_000;
    let mut bytes = file("{}", 0);
    bytes.resize(8 + limit, b' ');
    bytes[..8].copy_from_slice(&(limit as u64).to_le_bytes());
    assert_eq!((our_outcome(&bytes), their_outcome(&bytes)), ("Ok", "Ok"));
    bytes.push(b' ');
    bytes[..8].copy_from_slice(&(limit as u64 + 1).to_le_bytes());
    assert_eq!(
        (our_outcome(&bytes), their_outcome(&bytes)),
        ("HeaderTooLarge", "HeaderTooLarge")
    );
}

#[test]
fn errors_map_to_the_documented_variants() {
    let err = |bytes: &[u8]| variant(&SafeTensors::deserialize(bytes).unwrap_err());
    assert_eq!(err(b"short"), "HeaderTooSmall");
    assert_eq!(err(&file("{}", 0)[..9]), "InvalidHeaderLength");
    let mut huge = file("{}", 0);
    huge[..8].copy_from_slice(&200_000_000u64.to_le_bytes());
    assert_eq!(err(&huge), "HeaderTooLarge");
    let mut bad_utf8 = file("{\"a\":1}", 0);
    bad_utf8[10] = 0xff;
    match SafeTensors::deserialize(&bad_utf8).unwrap_err() {
        SafeTensorError::InvalidHeader(e) => assert_eq!(e.valid_up_to(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(err(&file("{\"a\":", 0)), "InvalidHeaderDeserialization");
    let t = |dtype: &str, shape: &str, offsets: &str| {
        format!("{{\"t\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":{offsets}}}}}")
    };
    assert_eq!(
        err(&file(&t("F32", "[2]", "[0,4]"), 4)),
        "TensorInvalidInfo"
    );
    assert_eq!(err(&file(&t("F32", "[1]", "[4,8]"), 8)), "InvalidOffset");
    assert_eq!(
        err(&file(&t("F32", "[1]", "[0,4]"), 6)),
        "MetadataIncompleteBuffer"
    );
    assert_eq!(err(&file(&t("F4", "[3]", "[0,2]"), 2)), "MisalignedSlice");
    let overflow = t("U8", "[4294967296,4294967296]", "[0,0]");
    assert_eq!(err(&file(&overflow, 0)), "ValidationOverflow");
    // Stricter than the reference: one name twice.
    let twice = "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\
                 \"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
    assert_eq!(err(&file(twice, 2)), "InvalidOffset");

    let one = file(&t("U8", "[1]", "[0,1]"), 1);
    let st = SafeTensors::deserialize(&one).unwrap();
    match st.tensor("missing").unwrap_err() {
        SafeTensorError::TensorNotFound(name) => assert_eq!(name, "missing"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn serialize_refuses_what_the_reference_panics_on_or_writes_broken() {
    let data = [1u8, 2];
    let view = || TensorView::new(Dtype::U8, vec![2], &data).unwrap();
    let twice = serialize([("a", view()), ("a", view())], None).unwrap_err();
    assert!(
        matches!(twice, SafeTensorError::InvalidOffset(ref n) if n == "a"),
        "{twice:?}"
    );
    let reserved = serialize([("__metadata__", view())], None).unwrap_err();
    assert_eq!(variant(&reserved), "InvalidOffset");
    assert!(matches!(
        TensorView::new(Dtype::F32, vec![2], &data),
        Err(SafeTensorError::InvalidTensorView(Dtype::F32, ref s, 2)) if s == &[2]
    ));
    assert!(matches!(
        TensorView::new(Dtype::F4, vec![3], &data),
        Err(SafeTensorError::MisalignedSlice)
    ));
}

/// Tensors for the serialize comparison: (name, dtype index, shape, seed).
fn model() -> impl Strategy<Value = Vec<(String, usize, Vec<usize>)>> {
    proptest::collection::vec(
        (
            "[a-z]{1,3}(\\.[0-9])?",
            0..22usize,
            proptest::collection::vec(0..4usize, 0..3),
        ),
        0..6,
    )
    .prop_map(|mut ts| {
        ts.sort_by(|a, b| a.0.cmp(&b.0));
        ts.dedup_by(|a, b| a.0 == b.0);
        ts
    })
}

proptest! {
    #[test]
    fn serialize_gives_the_reference_bytes(
        tensors in model(),
        meta in proptest::option::of(("[a-z]{1,4}", "[ -~]{0,6}")),
    ) {
        // Sub-byte dtypes need whole bytes: pad shapes to a multiple of 8 elements.
        let specs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
            .into_iter()
            .map(|(name, d, mut shape)| {
                let dtype = Dtype::from(safetensors::tensorsafe::Dtype::ALL[d]);
                if dtype.bitsize() % 8 != 0 {
                    shape.push(8);
                }
                let elements: usize = shape.iter().product();
                let bytes = (0..elements * dtype.bitsize() / 8).map(|i| i as u8).collect();
                (name, dtype, shape, bytes)
            })
            .collect();
        let ours: Vec<_> = specs
            .iter()
            .map(|(n, d, s, b)| (n.as_str(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let theirs: Vec<_> = specs
            .iter()
            .map(|(n, d, s, b)| {
                let view = reference::tensor::TensorView::new(reference_dtype(*d), s.clone(), b);
                (n.as_str(), view.unwrap())
            })
            .collect();
        let info = meta.map(|(k, v)| HashMap::from([(k, v)]));
        let bytes = serialize(ours, info.clone()).unwrap();
        prop_assert_eq!(&bytes, &reference::serialize(theirs, info).unwrap());
        // And it reads back.
        let st = SafeTensors::deserialize(&bytes).unwrap();
        prop_assert_eq!(st.len(), specs.len());
    }

    #[test]
    fn slices_give_the_reference_byte_ranges(
        shape in proptest::collection::vec(1..5usize, 1..4),
        picks in proptest::collection::vec((0..6usize, 0..6usize, 1..3usize, any::<bool>()), 0..4),
        sub_byte in any::<bool>(),
    ) {
        let dtype = if sub_byte { Dtype::F4 } else { Dtype::F32 };
        let slices: Vec<TensorIndexer> = picks
            .iter()
            .map(|&(a, b, step, select)| {
                if select {
                    TensorIndexer::Select(a)
                } else {
                    use std::ops::Bound::{Excluded, Included};
                    TensorIndexer::Narrow(Included(a), Excluded(b), step.try_into().unwrap())
                }
            })
            .collect();
        let their_slices: Vec<reference::slice::TensorIndexer> = slices
            .iter()
            .map(|s| match s {
                TensorIndexer::Select(i) => reference::slice::TensorIndexer::Select(*i),
                TensorIndexer::Narrow(a, b, c) => reference::slice::TensorIndexer::Narrow(*a, *b, *c),
            })
            .collect();
        // The reference panics on reversed ranges and differs where a slice
        // selects nothing (see `slice_byte_ranges`): compare the rest.
        let reversed = picks.iter().any(|&(a, b, _, select)| !select && b < a);
        prop_assume!(!reversed);
        let ours = slice_byte_ranges(dtype, &shape, &slices);
        let theirs = reference::slice::slice_byte_ranges(reference_dtype(dtype), &shape, &their_slices);
        match (ours, theirs) {
            (Ok((ranges, new_shape)), Ok((their_ranges, their_shape))) => {
                prop_assert_eq!(&new_shape, &their_shape);
                if new_shape.iter().product::<usize>() > 0 {
                    prop_assert_eq!(ranges, their_ranges);
                } else {
                    prop_assert!(ranges.iter().all(|(a, b)| a == b));
                }
            }
            // Both refuse. Where a range selects nothing, the reference
            // first falls back to the whole tensor (and may refuse its bit
            // length) before it looks at the other dimensions' bounds, so
            // which of two problems it names first differs.
            (Err(_), Err(_)) if picks.iter().any(|&(a, b, _, select)| !select && b <= a) => {}
            (Err(e), Err(their)) => prop_assert_eq!(format!("{e:?}"), format!("{their:?}")),
            // Selecting nothing: no ranges here, where the reference falls
            // back to the whole tensor (and may then refuse its bit length).
            (Ok((ranges, new_shape)), Err(_)) if new_shape.contains(&0) => {
                prop_assert!(ranges.iter().all(|(a, b)| a == b));
            }
            (ours, theirs) => prop_assert!(false, "ours {:?}, theirs {:?}", ours, theirs),
        }
    }
}

#[test]
fn slice_errors_and_reads() {
    let data: Vec<u8> = (0..24).collect();
    let view = TensorView::new(Dtype::U8, vec![2, 3, 4], &data).unwrap();
    let part = view.slice((1, 1..3, ..)).unwrap();
    assert_eq!(part.newshape(), vec![2, 4]);
    assert_eq!(part.remaining_byte_len(), 8);
    assert_eq!(
        part.flatten().copied().collect::<Vec<_>>(),
        (16..24).collect::<Vec<u8>>()
    );
    let strided = view.slice((.., 0, 0..4)).unwrap();
    assert_eq!(
        strided.flatten().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 12, 13, 14, 15]
    );
    assert_eq!(
        view.slice((0, 0..4)).unwrap_err(),
        InvalidSlice::SliceOutOfRange {
            dim_index: 1,
            asked: 3,
            dim_size: 3
        }
    );
    assert_eq!(
        view.slice(2).unwrap_err(),
        InvalidSlice::SliceOutOfRange {
            dim_index: 0,
            asked: 2,
            dim_size: 2
        }
    );
    assert!(view
        .sliced_data(&[0.into(), 0.into(), 0.into(), 0.into()])
        .is_err());
    // Where the reference overflows: an inclusive bound at usize::MAX.
    assert!(view.slice(..=usize::MAX).is_err());
    // Sub-byte cuts.
    let f4 = TensorView::new(Dtype::F4, vec![4], &data[..2]).unwrap();
    assert_eq!(f4.slice(1..3).unwrap_err(), InvalidSlice::MisalignedSlice);
    assert_eq!(
        f4.slice(2..4)
            .unwrap()
            .flatten()
            .copied()
            .collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(TensorIndexer::from(1..4).to_string(), "1:4");
    assert_eq!(TensorIndexer::from(..).to_string(), ":");
}
