//! Runs the built `tensorsafe` binary: exit codes, messages and outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/golden")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tensorsafe"))
        .args(args)
        .output()
        .expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[path = "../../tests/common/temp.rs"]
#[allow(dead_code)] // not every helper is used here
mod temp;
use temp::TempDir;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn verify_accepts_every_golden_file() {
    let files: Vec<PathBuf> = std::fs::read_dir(golden(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    assert!(files.len() >= 10);
    let mut args = vec!["verify", "--data"];
    args.extend(files.iter().map(|p| s(p)));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches(": ok (").count(), files.len());
}

#[test]
fn verify_data_counts_inf_in_f64_values_without_rounding_to_f32() {
    let dir = TempDir::new("verify-f64");
    let path = dir.path("big.safetensors");
    // 1e300 is finite as f64 and would be Inf as f32; the second is Inf.
    let values: Vec<u8> = [1e300f64, f64::INFINITY]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let bytes = serialize(
        [("x", TensorView::new(Dtype::F64, [2], &values).unwrap())],
        None,
    )
    .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let out = run(&["verify", "--data", s(&path)]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("tensor \"x\": 0 NaN, 1 Inf"), "{stdout}");
}

/// The broken-file corpus (tests/data/broken, made by make_broken.py): file
/// name -> the rule it breaks. The library's tests read the same table.
fn broken() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/broken");
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let table: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    table
        .into_iter()
        .map(|(file, rule)| (file, rule.as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn verify_names_file_rule_and_tensor_for_every_broken_file() {
    let dir = TempDir::new("broken");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/broken");
    let table = broken();
    assert!(table.len() >= 100, "{} files", table.len());
    for (name, rule) in table {
        let path = corpus.join(&name);
        let out = run(&["verify", s(&path)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.starts_with(s(&path)), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!(": {rule}: ")),
            "{name} should name {rule}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Short files, lengths past the end, unreadable paths.
    std::fs::write(dir.path("short.safetensors"), [1, 0]).unwrap();
    let out = run(&["verify", s(&dir.path("short.safetensors"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("FileTooSmall"));
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    std::fs::write(dir.path("huge.safetensors"), &huge).unwrap();
    let out = run(&["verify", s(&dir.path("huge.safetensors"))]);
    assert!(
        text(&out.stderr).contains("HeaderTooLarge"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "verify",
        s(&dir.path("missing.safetensors")),
        s(&golden("scalar.safetensors")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("scalar.safetensors: ok"));
    assert_eq!(run(&["verify"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

/// The golden gpt2_tiny file sharded by the CLI into `dir/shards`, files
/// of at most 1480 bytes: room for a header as long as the whole file's
/// (864 bytes, and 16 set aside) and 600 bytes of tensors (several shards).
fn gpt2_shards(dir: &TempDir) -> PathBuf {
    let shards = dir.path("shards");
    let gpt2 = golden("gpt2_tiny.safetensors");
    let out = run(&["shard", "--max-shard-size", "1480B", s(&gpt2), s(&shards)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    shards
}

/// The header a file stores, as JSON.
fn stored_header(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + n]).unwrap()
}

/// `inspect --json PATH`, parsed.
fn inspect_json(path: &Path) -> serde_json::Value {
    let out = run(&["inspect", "--json", s(path)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn inspect_json_has_one_shape_for_a_file_and_a_checkpoint() {
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    for name in [
        "gpt2_tiny.safetensors",
        "names.safetensors",
        "metadata_one.safetensors",
        "empty.safetensors",
    ] {
        let path = golden(name);
        let printed = inspect_json(&path);
        assert_eq!(
            keys(&printed),
            ["path", "total_size", "weight_map", "files"]
        );
        assert_eq!(printed["path"], s(&path), "{name}");
        let files = printed["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{name}");
        assert_eq!(files[0]["file"], name);
        assert_eq!(files[0]["size"], std::fs::metadata(&path).unwrap().len());
        assert_eq!(files[0]["header"], stored_header(&path), "{name}");
        let st = SafeTensors::deserialize(&std::fs::read(&path).unwrap())
            .unwrap()
            .len();
        let map = printed["weight_map"].as_object().unwrap();
        assert_eq!(map.len(), st, "{name}");
        assert!(map.values().all(|f| f == name), "{name}");
        assert!(map.keys().is_sorted(), "{name}");
        let bytes = std::fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        assert_eq!(printed["total_size"], bytes.len() as u64 - 8 - n, "{name}");
    }
    // A checkpoint: the index's map and total, every shard's header.
    let dir = TempDir::new("inspect-json");
    let shards = gpt2_shards(&dir);
    let index_path = shards.join("model.safetensors.index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let printed = inspect_json(&shards);
    assert_eq!(
        keys(&printed),
        ["path", "total_size", "weight_map", "files"]
    );
    assert_eq!(printed["path"], s(&index_path));
    assert_eq!(printed["total_size"], index["metadata"]["total_size"]);
    assert_eq!(printed["weight_map"], index["weight_map"]);
    let files = printed["files"].as_array().unwrap();
    assert!(files.len() > 1, "{printed}");
    for file in files {
        let path = shards.join(file["file"].as_str().unwrap());
        assert_eq!(file["header"], stored_header(&path));
        assert_eq!(file["size"], std::fs::metadata(&path).unwrap().len());
    }
    let out = run(&["inspect", s(&golden("gpt2_tiny.safetensors"))]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("wte.weight")
            && stdout.contains("parameters")
            && stdout.contains("format: pt")
    );
}

#[test]
fn rewrite_is_byte_identical_and_align_aligns() {
    let dir = TempDir::new("rewrite");
    for name in [
        "gpt2_tiny.safetensors",
        "all_dtypes.safetensors",
        "names.safetensors",
    ] {
        let out_path = dir.path(name);
        let out = run(&["rewrite", s(&golden(name)), s(&out_path)]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            std::fs::read(&out_path).unwrap() == std::fs::read(golden(name)).unwrap(),
            "{name}"
        );
    }
    // In place.
    let copy = dir.path("copy.safetensors");
    std::fs::copy(golden("gpt2_tiny.safetensors"), &copy).unwrap();
    assert_eq!(run(&["rewrite", s(&copy), s(&copy)]).status.code(), Some(0));
    assert!(
        std::fs::read(&copy).unwrap() == std::fs::read(golden("gpt2_tiny.safetensors")).unwrap()
    );

    let aligned = dir.path("aligned.safetensors");
    let out = run(&[
        "rewrite",
        s(&golden("gpt2_tiny.safetensors")),
        s(&aligned),
        "--align",
        "64",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("64-aligned before"));
    let bytes = std::fs::read(&aligned).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let start = st.header().data_start();
    assert_eq!(start % 64, 0);
    for info in st.header().iter() {
        let want = (1u64 << info.byte_len().trailing_zeros().min(6)).max(1);
        assert_eq!((start + info.data_offsets().0) % want, 0, "{}", info.name());
    }
    let original = std::fs::read(golden("gpt2_tiny.safetensors")).unwrap();
    let original = SafeTensors::deserialize(&original).unwrap();
    for (name, view) in original.iter() {
        assert_eq!(st.tensor(name).unwrap(), view);
    }
    let out = run(&[
        "rewrite",
        s(&golden("scalar.safetensors")),
        s(&aligned),
        "--align",
        "48",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_bad_align_is_a_usage_error_before_the_input_is_read() {
    let dir = TempDir::new("bad-align");
    let missing = dir.path("missing.safetensors");
    let written = dir.path("out.safetensors");
    for bad in ["3", "0", "2097152", "x"] {
        let out = run(&["rewrite", "--align", bad, s(&missing), s(&written)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--align"), "{stderr}");
        assert!(
            stderr.contains(&format!("\"{bad}\" is not a power of two up to 1 MiB")),
            "{stderr}"
        );
        assert!(!stderr.contains("missing.safetensors"), "{stderr}");
        assert!(!written.exists());
    }
}

#[test]
fn diff_reports_equal_and_different() {
    let dir = TempDir::new("diff");
    let a = [1.0f32, 2.0, 3.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect::<Vec<u8>>();
    let b = [1.0f32, 2.0, 3.001]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect::<Vec<u8>>();
    let write = |name: &str, data: &[u8], extra: bool| {
        let path = dir.path(name);
        let mut tensors = vec![("w", TensorView::new(Dtype::F32, [3], data).unwrap())];
        if extra {
            tensors.push(("extra", TensorView::new(Dtype::U8, [1], &[1]).unwrap()));
        }
        std::fs::write(&path, serialize(tensors, None).unwrap()).unwrap();
        path
    };
    let (pa, pb, pc) = (
        write("a.safetensors", &a, false),
        write("b.safetensors", &b, false),
        write("c.safetensors", &a, true),
    );
    assert_eq!(run(&["diff", s(&pa), s(&pa)]).status.code(), Some(0));
    let out = run(&["diff", s(&pa), s(&pb)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("w: 1 of 3 values differ"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        run(&["diff", s(&pa), s(&pb), "--atol", "0.01"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&["diff", s(&pa), s(&pb), "--rtol", "0.001"])
            .status
            .code(),
        Some(0)
    );
    let out = run(&["diff", s(&pa), s(&pc)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("only in B: extra"));
}

#[test]
fn shard_then_merge_equals_rewrite_and_bad_indexes_are_caught() {
    let dir = TempDir::new("shard");
    let input = golden("gpt2_tiny.safetensors");
    let shards = dir.path("shards");
    let out = run(&["shard", s(&input), s(&shards), "--max-shard-size", "1480B"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let index_path = shards.join("model.safetensors.index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let count = std::fs::read_dir(&shards).unwrap().count() - 1;
    assert!(count >= 3, "{count} shards");
    assert!(shards
        .join(format!("model-00001-of-{count:05}.safetensors"))
        .is_file());
    assert_eq!(index["metadata"]["total_size"], 1696);
    assert_eq!(index["weight_map"].as_object().unwrap().len(), 11);

    assert_eq!(run(&["verify", s(&shards)]).status.code(), Some(0));
    let stats = run(&["stats", s(&index_path)]);
    assert_eq!(stats.status.code(), Some(0));
    assert!(text(&stats.stdout).contains("wte.weight"));
    let merged = dir.path("merged.safetensors");
    assert_eq!(
        run(&["merge", s(&shards), s(&merged)]).status.code(),
        Some(0)
    );
    let rewritten = dir.path("rewritten.safetensors");
    assert_eq!(
        run(&["rewrite", s(&input), s(&rewritten)]).status.code(),
        Some(0)
    );
    assert!(std::fs::read(&merged).unwrap() == std::fs::read(&rewritten).unwrap());
    assert_eq!(run(&["diff", s(&shards), s(&input)]).status.code(), Some(0));

    // Hostile indexes: a wrong total, a missing tensor, a tensor in no map.
    let original = std::fs::read_to_string(&index_path).unwrap();
    let cases = [
        (original.replace("1696", "1697"), "TotalSize"),
        (
            original.replacen(
                "\"weight_map\": {",
                &format!("\"weight_map\": {{\n    \"ghost.weight\": \"model-00001-of-{count:05}.safetensors\","),
                1,
            ),
            "MissingTensor",
        ),
        (
            original.replacen("\"h.0.attn.bias\"", "\"h.0.attn.bias.x\"", 1),
            "IndexMismatch",
        ),
    ];
    for (text_, rule) in cases {
        std::fs::write(&index_path, &text_).unwrap();
        let out = run(&["verify", s(&index_path)]);
        assert_eq!(out.status.code(), Some(1), "{rule}");
        assert!(
            text(&out.stderr).contains(rule),
            "{rule}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            run(&["merge", s(&index_path), s(&merged)]).status.code(),
            Some(1)
        );
    }
}

#[test]
fn stats_and_bench_run() {
    let out = run(&["stats", s(&golden("numpy.safetensors")), "--tensor", "f32"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(" -1.5 ") && stdout.contains(" 2.5 "),
        "{stdout}"
    );
    assert_eq!(
        run(&["stats", s(&golden("numpy.safetensors")), "--tensor", "nope"])
            .status
            .code(),
        Some(2)
    );
    let out = run(&["bench", s(&golden("gpt2_tiny.safetensors")), "--runs", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        ["memcpy", "load_into", "read into memory", "std::fs::read"]
            .iter()
            .all(|line| stdout.contains(line)),
        "{stdout}"
    );
    assert!(stdout.contains("2.6 kB (2568 bytes)"), "{stdout}");
    assert!(stdout.contains("median of 2 runs"), "{stdout}");
    assert!(!stdout.contains("reference"), "{stdout}");
    assert!(
        text(&out.stderr).is_empty(),
        "no progress bar when stderr is not a terminal"
    );
}

#[test]
fn bench_write_to_times_the_writes_beside_raw_ones_and_removes_its_file() {
    let dir = TempDir::new("bench-write-to");
    let input = golden("gpt2_tiny.safetensors");
    let out_path = dir.path("written.safetensors");
    let out = run(&[
        "bench",
        s(&input),
        "--runs",
        "2",
        "--write-to",
        s(&out_path),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "write: raw write_all + fsync",
        "write: Writer::to_file from memory",
        "write: std::fs::copy + fsync",
        "write: rewrite, copied from file",
        "write speed (same run): to_file ",
    ] {
        assert_eq!(stdout.matches(line).count(), 1, "{line}: {stdout}");
    }
    assert!(!out_path.exists(), "the written file is removed");
    // Without --write-to, no write lines.
    let out = run(&["bench", s(&input), "--runs", "1"]);
    assert!(!text(&out.stdout).contains("write:"));
    // An existing PATH (the input itself, here) is refused, and untouched.
    let before = std::fs::read(&input).unwrap();
    let out = run(&["bench", s(&input), "--runs", "1", "--write-to", s(&input)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&input).unwrap(), before);
    // A directory that does not exist: cannot write, exit 2, nothing left.
    let nowhere = dir.path("no/such/dir/w.safetensors");
    let out = run(&["bench", s(&input), "--runs", "1", "--write-to", s(&nowhere)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot write"),
        "{}",
        text(&out.stderr)
    );
}

#[cfg(feature = "reference")]
#[test]
fn bench_reference_times_the_reference_crate() {
    let out = run(&[
        "bench",
        s(&golden("gpt2_tiny.safetensors")),
        "--runs",
        "2",
        "--reference",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        ["reference: parse", "reference: zero-copy walk", "memcpy"]
            .iter()
            .all(|line| stdout.contains(line)),
        "{stdout}"
    );
}

#[cfg(not(feature = "reference"))]
#[test]
fn bench_reference_without_the_feature_says_how_to_rebuild() {
    let out = run(&["bench", s(&golden("gpt2_tiny.safetensors")), "--reference"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--features reference"), "{stderr}");
    assert!(text(&out.stdout).is_empty(), "nothing timed");
}

/// A file of `n` one-element F32 tensors, each `value`: long outputs.
fn many_tensors(path: &Path, n: usize, value: f32) {
    let bytes = value.to_le_bytes();
    let tensors: Vec<(String, TensorView<'_>)> = (0..n)
        .map(|i| {
            let view = TensorView::new(Dtype::F32, [1], &bytes).unwrap();
            (format!("layer.{i}.weight"), view)
        })
        .collect();
    std::fs::write(path, serialize(tensors, None).unwrap()).unwrap();
}

#[test]
fn a_closed_output_pipe_ends_every_command_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = TempDir::new("pipe");
    // Each command prints far more than a pipe buffers (64 KiB), so it is
    // still writing when the reader goes away after one line.
    let (nan, one) = (dir.path("nan.safetensors"), dir.path("one.safetensors"));
    many_tensors(&nan, 20_000, f32::NAN);
    many_tensors(&one, 20_000, 1.0);
    let commands: [&[&str]; 5] = [
        &["inspect", s(&nan)],
        &["inspect", "--json", s(&nan)],
        &["stats", s(&nan)],
        &["verify", "--data", s(&nan)],
        &["diff", s(&nan), s(&one)],
    ];
    for args in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tensorsafe"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{args:?}");
        drop(reader);
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

#[test]
fn verify_deny_nonfinite_makes_nan_and_inf_invalid() {
    let dir = TempDir::new("nonfinite");
    let (nan, one) = (dir.path("nan.safetensors"), dir.path("one.safetensors"));
    many_tensors(&nan, 3, f32::NAN);
    many_tensors(&one, 3, 1.0);
    // Counted but accepted with --data alone.
    let out = run(&["verify", "--data", s(&nan)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("3 NaN, 0 Inf"));

    let out = run(&["verify", "--deny-nonfinite", s(&one), s(&nan)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}: NonFinite: 3 NaN and 0 Inf", s(&nan))),
        "{stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("{}: ok", s(&one))), "{stdout}");
    // Each NaN tensor is still named.
    assert_eq!(stdout.matches(": 1 NaN, 0 Inf").count(), 3, "{stdout}");

    // A sharded checkpoint is named by its index.
    let shards = dir.path("shards");
    // Files the size of the whole: room for its header and one 4-byte
    // tensor each.
    let size = format!("{}B", std::fs::metadata(&nan).unwrap().len());
    let out = run(&["shard", s(&nan), s(&shards), "--max-shard-size", &size]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["verify", "--deny-nonfinite", s(&shards)]);
    let index = shards.join("model.safetensors.index.json");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(&format!("{}: NonFinite", s(&index))),
        "{}",
        text(&out.stderr)
    );

    let help = text(&run(&["verify", "--help"]).stdout);
    assert!(help.contains("--deny-nonfinite"), "{help}");

    // C64 is scanned as pairs of f32 (real, imaginary), not skipped.
    let c64 = dir.path("c64.safetensors");
    let parts: Vec<u8> = [1.0f32, f32::NAN, f32::INFINITY, 2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let view = TensorView::new(Dtype::C64, [2], &parts).unwrap();
    std::fs::write(&c64, serialize([("z", view)], None).unwrap()).unwrap();
    let out = run(&["verify", "--data", s(&c64)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 NaN, 1 Inf"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["verify", "--deny-nonfinite", s(&c64)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // FP6 encodes no NaN or Inf: scanned, nothing to count, not an error.
    let f6 = dir.path("f6.safetensors");
    let view = TensorView::new(Dtype::F6_E2M3, [4], &[0xff; 3]).unwrap();
    std::fs::write(&f6, serialize([("q", view)], None).unwrap()).unwrap();
    let out = run(&["verify", "--deny-nonfinite", s(&f6)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_failed_write_says_writing_and_names_the_path_once() {
    let dir = TempDir::new("write-error");
    let input = golden("gpt2_tiny.safetensors");
    let output = dir.path("missing/out.safetensors");
    let out = run(&["rewrite", s(&input), s(&output)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}: cannot write: ", s(&output))),
        "{stderr}"
    );
    assert_eq!(stderr.matches("out.safetensors").count(), 1, "{stderr}");
    assert!(!stderr.contains("I/O error"), "{stderr}");
    // A read error names the file once too.
    let missing = dir.path("absent.safetensors");
    let stderr = text(&run(&["inspect", s(&missing)]).stderr);
    assert!(
        stderr.starts_with(&format!("{}: cannot read: ", s(&missing))),
        "{stderr}"
    );
    assert_eq!(stderr.matches("absent.safetensors").count(), 1, "{stderr}");
}

/// Under a file-size limit (with SIGXFSZ ignored, so the write fails
/// rather than the process dying) the output cannot be written.
#[cfg(unix)]
#[test]
fn a_write_past_the_file_size_limit_says_writing() {
    let dir = TempDir::new("fsize");
    let input = golden("gpt2_tiny.safetensors");
    let output = dir.path("x.safetensors");
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 1; exec \"$0\" rewrite \"$1\" \"$2\"")
        .args([env!("CARGO_BIN_EXE_tensorsafe"), s(&input), s(&output)])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}: cannot write: ", s(&output))),
        "{stderr}"
    );
    assert_eq!(stderr.matches("x.safetensors").count(), 1, "{stderr}");
    assert!(!output.exists());
}

#[test]
fn sharding_over_an_older_checkpoint_replaces_it() {
    let dir = TempDir::new("reshard-cli");
    let input = golden("gpt2_tiny.safetensors");
    let shards = dir.path("shards");
    let out = run(&["shard", s(&input), s(&shards), "--max-shard-size", "1480B"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(std::fs::read_dir(&shards).unwrap().count() >= 4);
    let out = run(&["shard", s(&input), s(&shards), "--max-shard-size", "5GB"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "model-00001-of-00001.safetensors",
            "model.safetensors.index.json"
        ]
    );
    let out = run(&["verify", s(&shards)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // A shard-named file that no index names is not the writer's to
    // remove: refused, nothing written.
    let stray = shards.join("other-00001-of-00002.safetensors");
    std::fs::write(&stray, "not ours").unwrap();
    let index = std::fs::read(shards.join("model.safetensors.index.json")).unwrap();
    let out = run(&["shard", s(&input), s(&shards), "--max-shard-size", "1480B"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}: IndexUnnamedShard: ", s(&stray))),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(
        stderr.matches("other-00001-of-00002").count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(shards.join("model.safetensors.index.json")).unwrap(),
        index
    );
    assert_eq!(std::fs::read_dir(&shards).unwrap().count(), 3);
}

/// A file of one F32 tensor `w` holding `values`.
fn f32_file(path: &Path, values: &[f32]) -> PathBuf {
    let data: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, [values.len()], &data).unwrap();
    std::fs::write(path, serialize([("w", view)], None).unwrap()).unwrap();
    path.to_owned()
}

#[test]
fn diff_says_trouble_with_2_and_different_with_1() {
    let dir = TempDir::new("diff-codes");
    let a = f32_file(&dir.path("a.safetensors"), &[1.0]);
    let broken = dir.path("broken.safetensors");
    std::fs::write(&broken, [1, 0]).unwrap();
    let missing = dir.path("missing.safetensors");
    for (x, y) in [(&a, &broken), (&broken, &a), (&a, &missing), (&missing, &a)] {
        let out = run(&["diff", s(x), s(y)]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    }
    // Tolerances: finite and not negative, or a usage error.
    for bad in ["-1", "nan", "inf", "-inf", "1e400", "x"] {
        for flag in ["--atol", "--rtol"] {
            let out = run(&["diff", &format!("{flag}={bad}"), s(&a), s(&a)]);
            assert_eq!(out.status.code(), Some(2), "{flag} {bad}");
            assert!(
                text(&out.stderr).contains("finite"),
                "{}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn diff_tolerance_is_symmetric_and_an_infinity_is_never_close() {
    let dir = TempDir::new("diff-symmetric");
    let a = f32_file(&dir.path("a.safetensors"), &[100.0]);
    let b = f32_file(&dir.path("b.safetensors"), &[101.0]);
    // |a - b| = 1: within 0.00991 of 101, not of 100. Either order agrees.
    for (x, y) in [(&a, &b), (&b, &a)] {
        let code = |rtol: &str| run(&["diff", "--rtol", rtol, s(x), s(y)]).status.code();
        assert_eq!(code("0.00991"), Some(0));
        assert_eq!(code("0.0098"), Some(1));
    }
    let inf = f32_file(&dir.path("inf.safetensors"), &[f32::INFINITY]);
    let nan = f32_file(&dir.path("nan.safetensors"), &[f32::NAN]);
    for (x, y) in [(&inf, &a), (&a, &inf), (&nan, &a), (&a, &nan)] {
        let out = run(&["diff", "--rtol", "1e30", "--atol", "1e30", s(x), s(y)]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    }
    for same in [&inf, &nan] {
        assert_eq!(run(&["diff", s(same), s(same)]).status.code(), Some(0));
    }
}

#[test]
fn every_shard_that_cannot_be_read_is_reported() {
    let dir = TempDir::new("missing-shards");
    let shards = gpt2_shards(&dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    // The first shard broken, the last gone: both named, whatever the command.
    std::fs::write(&files[0], [1, 0]).unwrap();
    std::fs::remove_file(files.last().unwrap()).unwrap();
    for command in [
        &["inspect"][..],
        &["verify"],
        &["stats"],
        &["inspect", "--json"],
    ] {
        let mut args = command.to_vec();
        args.push(s(&shards));
        let out = run(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(stderr.contains(s(&files[0])), "{command:?}: {stderr}");
        assert!(
            stderr.contains(s(files.last().unwrap())),
            "{command:?}: {stderr}"
        );
        assert!(stderr.contains("FileTooSmall"), "{command:?}: {stderr}");
    }
}

#[test]
fn a_local_path_with_a_colon_and_slashes_is_not_a_url() {
    let dir = TempDir::new("not-a-url");
    // `weird:` is a directory; `weird://w.safetensors` names a file in it.
    std::fs::create_dir(dir.path("weird:")).unwrap();
    f32_file(&dir.path("weird:").join("w.safetensors"), &[1.0]);
    let path = format!("{}/weird://w.safetensors", dir.dir().display());
    for command in ["inspect", "verify", "stats"] {
        let out = run(&[command, &path]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command}: {}",
            text(&out.stderr)
        );
    }
    // A known scheme is a URL (here an empty in-memory store).
    let out = run(&["inspect", "memory:///w.safetensors"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("memory:///w.safetensors"));
}

#[test]
fn every_command_checks_the_index_against_the_shards() {
    let dir = TempDir::new("index-checked");
    let shards = gpt2_shards(&dir);
    let gpt2 = golden("gpt2_tiny.safetensors");
    let index_path = shards.join("model.safetensors.index.json");
    let good = std::fs::read_to_string(&index_path).unwrap();
    let mut index: serde_json::Value = serde_json::from_str(&good).unwrap();
    // `wte.weight` mapped to a shard that does not hold it.
    let map = index["weight_map"].as_object_mut().unwrap();
    let wte = map["wte.weight"].as_str().unwrap().to_owned();
    let other = map.values().find(|f| **f != wte).unwrap().clone();
    map.insert("wte.weight".into(), other);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    for (command, code) in [("inspect", 1), ("verify", 1), ("stats", 1), ("diff", 2)] {
        let mut args = vec![command, s(&shards)];
        if command == "diff" {
            args.push(s(&gpt2));
        }
        let out = run(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{command}: {stderr}");
        assert!(stderr.contains("IndexMismatch"), "{command}: {stderr}");
        assert!(stderr.contains("wte.weight"), "{command}: {stderr}");
    }
    let out = run(&["merge", s(&shards), s(&dir.path("merged.safetensors"))]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // Restored, the same checkpoint reads as the file it came from.
    std::fs::write(&index_path, good).unwrap();
    let out = run(&["diff", s(&shards), s(&gpt2)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn merge_of_a_missing_path_says_it_cannot_read_it() {
    let dir = TempDir::new("merge-missing");
    let out = run(&[
        "merge",
        s(&dir.path("absent")),
        s(&dir.path("out.safetensors")),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
    assert!(!stderr.contains("not a sharded checkpoint"), "{stderr}");
}

#[test]
fn diff_reports_equal_values_in_other_bytes_without_counting_them() {
    let dir = TempDir::new("diff-same-values");
    let a = f32_file(&dir.path("a.safetensors"), &[0.0, f32::NAN]);
    let b = f32_file(
        &dir.path("b.safetensors"),
        &[-0.0, f32::from_bits(f32::NAN.to_bits() | 1)],
    );
    let out = run(&["diff", s(&a), s(&b)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("w: bytes differ, values equal"), "{stdout}");
}

/// The lines of `out`'s stdout, after checking it exited with `code`.
fn lines(out: &Output, code: i32) -> Vec<String> {
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn inspect_prints_sizes_for_people_and_exact_numbers_on_request() {
    let gpt2 = golden("gpt2_tiny.safetensors");
    let human = lines(&run(&["inspect", s(&gpt2)]), 0);
    // The name column is as wide as the longest name, h.0.attn.c_attn.weight.
    let longest = "h.0.attn.c_attn.weight";
    let title = format!("  {:<w$}  dtype", "name", w = longest.len());
    assert!(human[1].starts_with(&title), "{human:#?}");
    assert!(human[0].ends_with("(11 tensors)"), "{human:#?}");
    for line in [
        "parameters   1.0K",
        "file size    2.6 kB",
        "header size  864 B",
        "  BF16       2 tensors  432 B",
        "  BOOL       1 tensor    64 B",
        "tensors      11",
    ] {
        assert!(human.iter().any(|l| l == line), "{line:?} in {human:#?}");
    }
    let wte = human.iter().find(|l| l.contains("wte.weight")).unwrap();
    assert!(wte.contains(" 128  512 B "), "{wte}");
    let exact = lines(&run(&["inspect", "--exact", s(&gpt2)]), 0);
    for line in [
        "parameters   1009",
        "file size    2568 bytes",
        "  BOOL       1 tensor    64 bytes",
    ] {
        assert!(exact.iter().any(|l| l == line), "{line:?} in {exact:#?}");
    }
    // One tensor, said so.
    let dir = TempDir::new("inspect-one");
    let one = f32_file(&dir.path("one.safetensors"), &[1.0]);
    let listed = lines(&run(&["inspect", s(&one)]), 0);
    assert!(listed[0].ends_with("(1 tensor)"), "{listed:#?}");
    // --json is exact already: --exact beside it changes nothing.
    let json = run(&["inspect", "--json", s(&one)]);
    let both = run(&["inspect", "--json", "--exact", s(&one)]);
    assert_eq!(both.status.code(), Some(0), "{}", text(&both.stderr));
    assert_eq!(both.stdout, json.stdout);
    // The align column is explained.
    let help = text(&run(&["inspect", "--help"]).stdout);
    assert!(help.contains("align, the largest power of two"), "{help}");
}

#[test]
fn stats_prints_integers_as_integers_and_says_what_it_left_out() {
    let numpy = golden("numpy.safetensors");
    let out = lines(&run(&["stats", s(&numpy)]), 0);
    let row = |name: &str| -> Vec<String> {
        out.iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {out:#?}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("i64")[2..5], ["-3", "2", "-0.5"], "{out:#?}");
    assert_eq!(row("scalar_i32")[2..6], ["-7", "-7", "-7", "0"], "{out:#?}");
    assert_eq!(
        row("f32")[2..6],
        ["-1.5", "2.5", "0.5", "1.25529"],
        "{out:#?}"
    );
    // The name column is as wide as the longest name, scalar_i32.
    assert!(out[0].starts_with("name        dtype"), "{out:#?}");
    assert!(!out.iter().any(|l| l.contains("leave out")), "{out:#?}");
    let dir = TempDir::new("stats-nonfinite");
    let nan = dir.path("nan.safetensors");
    many_tensors(&nan, 3, f32::NAN);
    let out = lines(&run(&["stats", s(&nan)]), 0);
    assert_eq!(
        out.last().unwrap(),
        "min, max, mean and std leave out 3 non-finite values (NaN or Inf) in 3 tensors",
        "{out:#?}"
    );
    let inf = f32_file(&dir.path("inf.safetensors"), &[1.0, f32::INFINITY]);
    let out = lines(&run(&["stats", s(&inf)]), 0);
    assert_eq!(
        out.last().unwrap(),
        "min, max, mean and std leave out 1 non-finite value (NaN or Inf) in 1 tensor",
        "{out:#?}"
    );
}

/// A file of one U8 tensor `w` with `metadata` (none if `None`).
fn with_metadata(path: &Path, metadata: Option<&[(&str, &str)]>) -> PathBuf {
    let metadata: Option<std::collections::BTreeMap<String, String>> = metadata.map(|m| {
        m.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    });
    let view = TensorView::new(Dtype::U8, [1], &[7]).unwrap();
    std::fs::write(path, serialize([("w", view)], metadata.as_ref()).unwrap()).unwrap();
    path.to_owned()
}

#[test]
fn diff_shows_metadata_key_by_key() {
    let dir = TempDir::new("diff-metadata");
    let a = with_metadata(
        &dir.path("a.safetensors"),
        Some(&[("format", "pt"), ("step", "1"), ("only_a", "x")]),
    );
    let b = with_metadata(
        &dir.path("b.safetensors"),
        Some(&[("format", "pt"), ("step", "2"), ("only_b", "y")]),
    );
    let out = lines(&run(&["diff", s(&a), s(&b)]), 1);
    assert_eq!(
        out,
        [
            r#"metadata: only in A: "only_a" = "x""#,
            r#"metadata: only in B: "only_b" = "y""#,
            r#"metadata: "step": "1" vs "2""#,
            "3 differences",
        ],
    );
    let c = with_metadata(
        &dir.path("c.safetensors"),
        Some(&[("format", "pt"), ("step", "2")]),
    );
    let out = lines(&run(&["diff", s(&c), s(&b)]), 1);
    assert_eq!(
        out,
        [r#"metadata: only in B: "only_b" = "y""#, "1 difference"]
    );
    // No metadata and an empty one hold the same entries.
    let none = with_metadata(&dir.path("none.safetensors"), None);
    let empty = with_metadata(&dir.path("empty.safetensors"), Some(&[]));
    let out = lines(&run(&["diff", s(&none), s(&empty)]), 0);
    assert_eq!(out, ["metadata: A has none, B an empty one", "equal"]);
}

#[test]
fn every_command_exits_0_when_done_1_for_an_invalid_file_or_a_difference_and_2_for_trouble() {
    let dir = TempDir::new("exit-codes");
    let good = golden("gpt2_tiny.safetensors");
    let other = f32_file(&dir.path("other.safetensors"), &[1.0]);
    let broken = dir.path("broken.safetensors");
    std::fs::write(&broken, [1, 0]).unwrap();
    let missing = dir.path("missing.safetensors");
    let shards = gpt2_shards(&dir);
    let out = |name: &str| dir.path(name);
    let (good, other, broken, missing) = (s(&good), s(&other), s(&broken), s(&missing));
    let shards = s(&shards);
    // Directories that are no checkpoint: empty, or two files and no index.
    let empty = out("empty");
    std::fs::create_dir(&empty).unwrap();
    let two = out("two");
    std::fs::create_dir(&two).unwrap();
    std::fs::copy(golden("gpt2_tiny.safetensors"), two.join("a.safetensors")).unwrap();
    std::fs::copy(golden("gpt2_tiny.safetensors"), two.join("b.safetensors")).unwrap();
    let one = out("one");
    std::fs::create_dir(&one).unwrap();
    std::fs::copy(
        golden("gpt2_tiny.safetensors"),
        one.join("model.safetensors"),
    )
    .unwrap();
    let (empty, two, one) = (s(&empty), s(&two), s(&one));
    let index = format!("{shards}/model.safetensors.index.json");
    let written = out("written.safetensors");
    let written = s(&written);
    let sharded = out("sharded");
    let sharded = s(&sharded);
    // Under a file: cannot be created.
    let unwritable = format!("{good}/x.safetensors");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["inspect", good], 0),
        (vec!["inspect", broken], 1),
        (vec!["inspect", missing], 2),
        (vec!["inspect", "--frobnicate", good], 2),
        (vec!["verify", good, shards], 0),
        (vec!["verify", broken], 1),
        (vec!["verify", missing], 2),
        (vec!["verify"], 2),
        (vec!["stats", good], 0),
        (vec!["stats", broken], 1),
        (vec!["stats", missing], 2),
        (vec!["stats", "--tensor", "absent", good], 2),
        (vec!["diff", good, shards], 0),
        (vec!["diff", good, other], 1),
        (vec!["diff", good, broken], 2),
        (vec!["diff", missing, good], 2),
        (vec!["diff", "--atol", "-1", good, good], 2),
        (vec!["rewrite", good, written], 0),
        (vec!["rewrite", broken, written], 1),
        (vec!["rewrite", missing, written], 2),
        (vec!["rewrite", good, &unwritable], 2),
        (vec!["rewrite", "--align", "3", good, written], 2),
        (vec!["shard", good, sharded, "--max-shard-size", "5GB"], 0),
        (vec!["shard", broken, sharded, "--max-shard-size", "5GB"], 1),
        (
            vec!["shard", missing, sharded, "--max-shard-size", "5GB"],
            2,
        ),
        (vec!["shard", good, sharded, "--max-shard-size", "5XB"], 2),
        (vec!["shard", shards, sharded, "--max-shard-size", "5GB"], 2),
        (vec!["merge", shards, written], 0),
        (vec!["merge", missing, written], 2),
        (vec!["merge", good, written], 2),
        (vec!["bench", "--runs", "1", good], 0),
        (vec!["bench", broken], 1),
        (vec!["bench", missing], 2),
        (vec!["bench", "--runs", "x", good], 2),
        (vec!["frobnicate"], 2),
        (vec!["bench", "--runs", "1", one], 0),
        (vec!["bench", shards], 2),
        (vec!["bench", &index], 2),
    ];
    let cases = cases
        .into_iter()
        .chain([empty, two].into_iter().flat_map(|dir| {
            [
                (vec!["inspect", dir], 2),
                (vec!["verify", dir], 2),
                (vec!["stats", dir], 2),
                (vec!["diff", dir, good], 2),
                (vec!["merge", dir, written], 2),
                (vec!["rewrite", dir, written], 2),
                (vec!["shard", dir, sharded, "--max-shard-size", "5GB"], 2),
                (vec!["bench", dir], 2),
            ]
        }));
    for (args, code) in cases {
        let out = run(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        if code != 0 {
            // diff says what differs on stdout; every failure on stderr.
            let said = if args[0] == "diff" && code == 1 {
                text(&out.stdout)
            } else {
                stderr.clone()
            };
            assert!(!said.is_empty(), "{args:?}: no reason given");
        }
    }
    // Each says what the directory holds, and what to pass instead.
    for command in [
        "inspect", "verify", "stats", "merge", "shard", "rewrite", "bench",
    ] {
        let mut args = vec![command, two, written];
        args.truncate(if ["merge", "shard", "rewrite"].contains(&command) {
            3
        } else {
            2
        });
        if command == "shard" {
            args.extend(["--max-shard-size", "5GB"]);
        }
        let stderr = text(&run(&args).stderr);
        assert_eq!(
            stderr,
            format!(
                "{two}: no *.safetensors.index.json and 2 .safetensors files (a.safetensors, \
                 b.safetensors); expected one file, or a checkpoint's index\n"
            ),
            "{command}"
        );
        args[1] = empty;
        let stderr = text(&run(&args).stderr);
        assert!(
            stderr.starts_with(&format!(
                "{empty}: no .safetensors file or *.safetensors.index.json"
            )),
            "{command}: {stderr}"
        );
    }
    let stderr = text(&run(&["bench", &index]).stderr);
    assert!(stderr.contains("bench takes one file"), "{stderr}");
    // A file that is no safetensors file: a usage problem, saying what was
    // found and what was expected.
    let pickle = out("pytorch_model.bin");
    std::fs::write(&pickle, b"PK\x03\x04 a zip of pickles").unwrap();
    let pickle = s(&pickle);
    for command in ["inspect", "verify", "stats", "bench"] {
        let out = run(&[command, pickle]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert_eq!(
            stderr,
            format!(
                "{pickle}: found pytorch_model.bin; expected a .safetensors file, an index \
                 (.json) or a directory\n"
            ),
            "{command}"
        );
    }
    // The rule is in the help.
    let help = text(&run(&["--help"]).stdout);
    for line in [
        "Exit status",
        "0  done",
        "1  the answer is no",
        "2  trouble",
    ] {
        assert!(help.contains(line), "{line:?} in {help}");
    }
}

#[test]
fn shard_and_rewrite_of_a_checkpoint_say_what_to_do_instead() {
    let dir = TempDir::new("shard-checkpoint");
    let shards = gpt2_shards(&dir);
    for (command, instead) in [
        ("shard", "tensorsafe merge"),
        ("rewrite", "tensorsafe merge"),
    ] {
        let mut args = vec![command, s(&shards), "out"];
        if command == "shard" {
            args.extend(["--max-shard-size", "5GB"]);
        }
        let out = run(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("a sharded checkpoint, not a file"),
            "{stderr}"
        );
        assert!(stderr.contains(instead), "{stderr}");
    }
    // A directory holding one file is that file.
    let single = dir.path("single");
    std::fs::create_dir(&single).unwrap();
    std::fs::copy(
        golden("gpt2_tiny.safetensors"),
        single.join("model.safetensors"),
    )
    .unwrap();
    let out = run(&[
        "shard",
        s(&single),
        s(&dir.path("again")),
        "--max-shard-size",
        "5GB",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn max_shard_size_counts_whole_files() {
    let dir = TempDir::new("shard-size");
    let gpt2 = golden("gpt2_tiny.safetensors");
    // 1.7 kB of tensors and a header of 864 bytes: one file of 2568 bytes
    // if only tensor bytes counted.
    let shards = dir.path("shards");
    let out = run(&["shard", s(&gpt2), s(&shards), "--max-shard-size", "2KB"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": 2 shards, 11 tensors, 1.7 kB of tensors"),
        "{}",
        text(&out.stdout)
    );
    for entry in std::fs::read_dir(&shards).unwrap() {
        let entry = entry.unwrap();
        let len = entry.metadata().unwrap().len();
        assert!(len <= 2000, "{:?}: {len} bytes", entry.file_name());
    }
    // A file of exactly the limit is one shard; a byte less, two, each
    // within it.
    let shards = dir.path("exact");
    let out = run(&["shard", s(&gpt2), s(&shards), "--max-shard-size", "2568B"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": 1 shard,"),
        "{}",
        text(&out.stdout)
    );
    let shard = shards.join("model-00001-of-00001.safetensors");
    assert_eq!(std::fs::read(shard).unwrap(), std::fs::read(&gpt2).unwrap());
    let shards = dir.path("under");
    let out = run(&["shard", s(&gpt2), s(&shards), "--max-shard-size", "2567B"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": 2 shards,"),
        "{}",
        text(&out.stdout)
    );
    for entry in std::fs::read_dir(&shards).unwrap() {
        let len = entry.unwrap().metadata().unwrap().len();
        assert!(len <= 2567, "{len} bytes");
    }
    // No room beside the header: said in bytes, nothing written.
    let out = run(&[
        "shard",
        s(&gpt2),
        s(&dir.path("none")),
        "--max-shard-size",
        "800B",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "800 bytes leave no room for tensors beside a shard's 8-byte length and header of \
             up to 864 bytes"
        ),
        "{stderr}"
    );
    assert!(!dir.path("none").exists());
    // A tensor that does not fit beside its own header gets a file of its
    // own, larger than the limit: said on stderr, in bytes. 4000 bytes of
    // F32 after 8 + 64 bytes of length and header: a file of 4072 bytes.
    let big = f32_file(&dir.path("big.safetensors"), &[0.5; 1000]);
    assert_eq!(std::fs::metadata(&big).unwrap().len(), 4072);
    for (limit, over) in [("4072B", false), ("4071B", true), ("4.05kB", true)] {
        let shards = dir.path(&format!("big-{limit}"));
        let out = run(&["shard", s(&big), s(&shards), "--max-shard-size", limit]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let shard = shards.join("model-00001-of-00001.safetensors");
        assert_eq!(std::fs::metadata(&shard).unwrap().len(), 4072, "{limit}");
        if over {
            let max = if limit == "4071B" { 4071 } else { 4050 };
            assert_eq!(
                stderr,
                format!(
                    "{}: 4072 bytes, over --max-shard-size: a tensor of 4000 bytes does not \
                     fit in {max} bytes beside its header\n",
                    shard.display()
                )
            );
        } else {
            assert!(stderr.is_empty(), "{limit}: {stderr}");
        }
    }
    // The help says what is counted, and when a file is larger.
    let help = text(&run(&["shard", "--help"]).stdout);
    assert!(help.contains("It counts the whole file"), "{help}");
    assert!(
        help.contains("does not fit under the limit beside its own"),
        "{help}"
    );
    assert!(
        !help.contains("Only a tensor larger than the limit"),
        "{help}"
    );
    // The largest size there is, exactly; one more is refused.
    let out = run(&[
        "shard",
        s(&gpt2),
        s(&dir.path("largest")),
        "--max-shard-size",
        "18446744073709551615",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&[
        "shard",
        s(&gpt2),
        s(&dir.path("past")),
        "--max-shard-size",
        "18446744073709551616",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("largest size, 18446744073709551615 bytes"),
        "{stderr}"
    );
}

/// A file whose header lists 50 one-byte tensors b00..b49 first and then
/// `a`, 100000 bytes: not the order this crate writes (a first).
fn reordered(path: &Path) -> PathBuf {
    let mut entries: Vec<String> = (0..50)
        .map(|i| {
            format!(
                r#""b{i:02}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{}]}}"#,
                i + 1
            )
        })
        .collect();
    entries.push(r#""a":{"dtype":"U8","shape":[100000],"data_offsets":[50,100050]}"#.to_owned());
    let mut header = format!("{{{}}}", entries.join(",")).into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    file.resize(file.len() + 100_050, 1);
    std::fs::write(path, file).unwrap();
    path.to_owned()
}

#[test]
fn max_shard_size_bounds_files_whatever_the_order_of_the_input() {
    let dir = TempDir::new("shard-reordered");
    let input = reordered(&dir.path("reordered.safetensors"));
    assert_eq!(run(&["verify", s(&input)]).status.code(), Some(0));
    // Limits about `a` and its header, and just past the whole file.
    for max in [100_300u64, 102_914, 103_300, 103_500] {
        let shards = dir.path(&format!("out-{max}"));
        let limit = format!("{max}B");
        let out = run(&["shard", s(&input), s(&shards), "--max-shard-size", &limit]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{max}: {stderr}");
        assert!(stderr.is_empty(), "{max}: {stderr}");
        for entry in std::fs::read_dir(&shards).unwrap() {
            let entry = entry.unwrap();
            let len = entry.metadata().unwrap().len();
            assert!(len <= max, "{max}: {:?}: {len} bytes", entry.file_name());
        }
        assert_eq!(run(&["verify", s(&shards)]).status.code(), Some(0));
        let merged = dir.path(&format!("merged-{max}.safetensors"));
        assert_eq!(
            run(&["merge", s(&shards), s(&merged)]).status.code(),
            Some(0)
        );
        assert_eq!(run(&["diff", s(&input), s(&merged)]).status.code(), Some(0));
    }
}

#[test]
fn tables_escape_control_characters_and_line_up_wide_ones() {
    let names = golden("names.safetensors");
    for command in ["inspect", "stats"] {
        let out = run(&[command, s(&names)]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        // No control character but the line ends: no raw tab, CR or ESC.
        assert!(
            !stdout.chars().any(|c| c.is_control() && c != '\n'),
            "{command}: {stdout:?}"
        );
        let lines: Vec<&str> = stdout.lines().collect();
        let row = |name: &str| {
            let found: Vec<&&str> = lines.iter().filter(|l| l.contains(name)).collect();
            assert_eq!(found.len(), 1, "{command}: {name}: {lines:#?}");
            found[0].to_string()
        };
        // The longest name, ctrl\u{1}\u{1f}\u{7f}, sets the column (21);
        // 漢字 and 😀 take two columns each.
        let indent = if command == "inspect" { "  " } else { "" };
        for (name, pad) in [
            (r"ctrl\u{1}\u{1f}\u{7f}", 0),
            (r"new\nline\ttab\rcr", 3),
            ("café.über/漢字", 7),
            ("emoji.😀", 13),
        ] {
            let expected = format!("{indent}{name}{:pad$}  U8 ", "");
            assert!(
                row(name).starts_with(&expected),
                "{command}: {:?}",
                row(name)
            );
        }
    }
    // And in diff's lines.
    let out = run(&["diff", s(&names), s(&golden("scalar.safetensors"))]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        !stdout.chars().any(|c| c.is_control() && c != '\n'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains(r"only in A: new\nline\ttab\rcr"),
        "{stdout}"
    );
    // Metadata too: this value ends in a NUL.
    let out = run(&["inspect", s(&golden("metadata_escapes.safetensors"))]);
    let stdout = text(&out.stdout);
    assert!(
        !stdout.chars().any(|c| c.is_control() && c != '\n'),
        "{stdout:?}"
    );
    assert!(stdout.contains(r"\u{0}"), "{stdout}");
    // The per-dtype totals: a column as wide as the longest dtype.
    let all = lines(&run(&["inspect", s(&golden("all_dtypes.safetensors"))]), 0);
    for line in [
        "  F8_E4M3FNUZ 1 tensor    8 B",
        "  BF16        1 tensor   16 B",
        "  U8          1 tensor    8 B",
    ] {
        assert!(all.iter().any(|l| l == line), "{line:?} in {all:#?}");
    }
}

#[test]
fn stats_columns_are_as_wide_as_their_widest_value() {
    let dir = TempDir::new("stats-wide");
    let (ints, floats) = ([-9_007_199_254_740_991i64, 1], [123_456_789f32, 0.5]);
    let int_bytes: Vec<u8> = ints.iter().flat_map(|v| v.to_le_bytes()).collect();
    let float_bytes: Vec<u8> = floats.iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensors = [
        ("i", TensorView::new(Dtype::I64, [2], &int_bytes).unwrap()),
        ("f", TensorView::new(Dtype::F32, [2], &float_bytes).unwrap()),
    ];
    let path = dir.path("wide.safetensors");
    std::fs::write(&path, serialize(tensors, None).unwrap()).unwrap();
    let out = lines(&run(&["stats", s(&path)]), 0);
    assert_eq!(out.len(), 3, "{out:#?}");
    // Integers in full while exact; a whole float from 1e6 on in
    // scientific notation.
    let row = |name: &str| -> Vec<String> {
        let line = out.iter().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(row("i ")[2..4], ["-9007199254740991", "1"], "{out:#?}");
    assert_eq!(row("f ")[2..4], ["0.5", "1.23457e8"], "{out:#?}");
    // Every column ends where its title ends.
    let ends = |line: &str| -> Vec<usize> {
        let mut ends = Vec::new();
        let chars: Vec<char> = line.chars().collect();
        for i in 0..chars.len() {
            if chars[i] != ' ' && chars.get(i + 1).is_none_or(|c| *c == ' ') {
                ends.push(i);
            }
        }
        ends[2..].to_vec()
    };
    for line in &out[1..] {
        assert_eq!(ends(line), ends(&out[0]), "{out:#?}");
    }
}

#[test]
fn counts_are_singular_for_one() {
    let dir = TempDir::new("plurals");
    let one = f32_file(&dir.path("one.safetensors"), &[1.0]);
    let out = lines(&run(&["verify", s(&one)]), 0);
    assert_eq!(out, [format!("{}: ok (1 tensor)", s(&one))]);
    let shards = dir.path("shards");
    let out = lines(
        &run(&["shard", s(&one), s(&shards), "--max-shard-size", "5GB"]),
        0,
    );
    assert!(
        out[0].ends_with(": 1 shard, 1 tensor, 4 B of tensors"),
        "{out:#?}"
    );
    let out = lines(&run(&["verify", s(&shards)]), 0);
    assert!(out[0].ends_with("ok (1 shard, 1 tensor)"), "{out:#?}");
    let merged = dir.path("merged.safetensors");
    let out = lines(&run(&["merge", s(&shards), s(&merged)]), 0);
    assert!(out[0].ends_with(": 1 tensor from 1 shard"), "{out:#?}");
}

#[test]
fn a_checkpoint_whose_index_lacks_total_size_is_listed_and_verify_says_why() {
    let dir = TempDir::new("no-total-size");
    let shards = gpt2_shards(&dir);
    let index_path = shards.join("model.safetensors.index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index.as_object_mut().unwrap().remove("metadata");
    std::fs::write(&index_path, index.to_string()).unwrap();
    for command in ["inspect", "stats"] {
        let out = run(&[command, s(&shards)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command}: {}",
            text(&out.stderr)
        );
    }
    let out = run(&["verify", s(&shards)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the index gives no metadata.total_size; the shards hold 1696 bytes"),
        "{stderr}"
    );
}

#[test]
fn a_checkpoint_named_by_its_bare_index_file_name_verifies_and_merges() {
    let dir = TempDir::new("bare-index");
    let shards = gpt2_shards(&dir);
    let in_shards = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tensorsafe"))
            .args(args)
            .current_dir(&shards)
            .output()
            .expect("runs")
    };
    let out = in_shards(&["verify", "model.safetensors.index.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let merged = dir.path("merged.safetensors");
    let out = in_shards(&["merge", "model.safetensors.index.json", s(&merged)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["diff", s(&merged), s(&golden("gpt2_tiny.safetensors"))]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
