//! Every command line of `docs/cli.md`, run as written against small files
//! of the names it uses: each exits as the guide's rule says (0 success,
//! same or valid; 1 different or invalid; 2 trouble), so the guide cannot
//! name a command or an option the binary does not have. Two kinds of line
//! are left out: object-store URLs (`.ci/run` runs those against its S3
//! server) and `bench`, which times the machine (`cli/tests/scale.rs` runs
//! it).

use std::path::Path;
use std::process::Command;

use tensorsafe::{Dtype, TensorView, Writer};

#[path = "../../tests/common/temp.rs"]
#[allow(dead_code)] // not every helper is used here
mod temp;
use temp::TempDir;

/// The command lines of the guide's fenced `sh` blocks that run the tool.
fn guide_commands() -> Vec<Vec<String>> {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md"))
            .unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in guide.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let line = line.split(" # ").next().unwrap().trim();
        if let Some(args) = line.strip_prefix("tensorsafe ") {
            commands.push(args.split_whitespace().map(str::to_owned).collect());
        }
    }
    commands
}

/// The files the guide's lines name, in `dir`: a model with the tensor its
/// `stats` line asks for, a copy under the names `rewrite` and `diff` use,
/// and a sharded checkpoint in `shards/`.
fn write_files(dir: &Path) {
    let wte: Vec<u8> = (0..64 * 8)
        .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
        .collect();
    let ln: Vec<u8> = (0..8).flat_map(|i| (i as u16).to_le_bytes()).collect();
    let tensors = [
        (
            "wte.weight",
            TensorView::new(Dtype::F32, [64, 8], &wte).unwrap(),
        ),
        (
            "ln_f.weight",
            TensorView::new(Dtype::F16, [8], &ln).unwrap(),
        ),
    ];
    for name in ["model", "in", "a", "b"] {
        Writer::new()
            .to_file(
                tensors.iter().map(|(n, v)| (*n, v)),
                dir.join(format!("{name}.safetensors")),
            )
            .unwrap();
    }
    Writer::new()
        .sharded(
            tensors.iter().map(|(n, v)| (*n, v)),
            dir.join("shards"),
            1024,
        )
        .unwrap();
}

#[test]
fn every_command_line_of_the_guide_runs_as_it_says() {
    let commands = guide_commands();
    assert!(commands.len() >= 10, "{commands:?}");
    let dir = TempDir::new("cli-guide");
    write_files(dir.dir());
    let mut ran = 0;
    for args in &commands {
        if args[0] == "bench" || args.iter().any(|a| a.contains("://")) {
            continue;
        }
        exits_with(dir.dir(), args, 0);
        ran += 1;
    }
    assert!(ran >= 10, "{ran} lines run");
}

/// The guide's rule for the other exit codes, on the same commands: a file
/// that breaks a rule is invalid (1), different files differ (1), a path
/// that cannot be read is trouble (2).
#[test]
fn the_guide_s_exit_codes_for_invalid_different_and_unreadable() {
    let dir = TempDir::new("cli-guide-codes");
    write_files(dir.dir());
    let model = std::fs::read(dir.path("model.safetensors")).unwrap();
    std::fs::write(dir.path("short.safetensors"), &model[..model.len() - 1]).unwrap();
    let other = [3u8; 4];
    Writer::new()
        .to_file(
            [("x", TensorView::new(Dtype::U8, [4], &other).unwrap())],
            dir.path("other.safetensors"),
        )
        .unwrap();
    for (args, code) in [
        (&["verify", "short.safetensors"][..], 1),
        (&["verify", "absent.safetensors"][..], 2),
        (&["diff", "a.safetensors", "other.safetensors"][..], 1),
        (&["diff", "a.safetensors", "absent.safetensors"][..], 2),
    ] {
        exits_with(dir.dir(), args, code);
    }
}

/// Runs `tensorsafe ARGS` in `dir` and checks its exit code.
fn exits_with(dir: &Path, args: &[impl AsRef<std::ffi::OsStr> + std::fmt::Debug], code: i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_tensorsafe"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "tensorsafe {args:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
