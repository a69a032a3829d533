//! `tensorsafe rewrite` when writing fails for real (a file size limit, a
//! full filesystem), over a private file, and through a symbolic link.
#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tensorsafe::{serialize, Dtype, SafeTensors, TensorView};

#[path = "../../tests/common/temp.rs"]
#[allow(dead_code)] // not every helper is used here
mod temp;
use temp::{entries, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_tensorsafe");

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A valid file of about `len` bytes of tensor data.
fn model(len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    serialize(
        [("w", TensorView::new(Dtype::U8, [len], &data).unwrap())],
        None,
    )
    .unwrap()
}

/// `dir/input` (1 MiB of tensors) and `out_dir/out` (a small old file,
/// mode 0600).
fn plant(dir: &Path, out_dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let input = dir.join("input.safetensors");
    std::fs::write(&input, model(1 << 20)).unwrap();
    let out = out_dir.join("out.safetensors");
    let old = model(16);
    std::fs::write(&out, &old).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600)).unwrap();
    (input, out, old)
}

/// A failed rewrite: non-zero exit, one message saying it could not write,
/// the old file as it was, nothing beside it.
fn assert_failed_cleanly(run: &Output, out: &Path, old: &[u8]) {
    let stderr = text(&run.stderr);
    assert!(!run.status.success(), "rewrite succeeded: {stderr}");
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(": cannot write: "), "{stderr}");
    assert_eq!(stderr.matches("out.safetensors").count(), 1, "{stderr}");
    assert!(std::fs::read(out).unwrap() == old);
    assert_eq!(mode(out), 0o600);
    assert_eq!(entries(out.parent().unwrap()), ["out.safetensors"]);
}

#[test]
fn rewrite_under_a_file_size_limit_fails_and_keeps_the_old_file() {
    let dir = TempDir::new("cli-fsize");
    let out_dir = dir.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    let (input, out, old) = plant(dir.dir(), &out_dir);
    // 64 blocks (32 or 64 KiB, by the shell's block size), SIGXFSZ ignored
    // so that the write fails with EFBIG rather than killing the process.
    let run = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 64 && exec "$0" "$@""#)
        .arg(BIN)
        .args([OsStr::new("rewrite"), input.as_os_str(), out.as_os_str()])
        .output()
        .unwrap();
    assert_failed_cleanly(&run, &out, &old);
}

#[test]
fn rewrite_on_a_full_filesystem_fails_and_keeps_the_old_file() {
    let dir = TempDir::new("cli-enospc");
    let mount = dir.path("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tensorsafe-test"])
        .arg(&mount)
        .output();
    match mounted {
        Ok(m) if m.status.success() => {}
        Ok(m) => {
            println!(
                "skipped: cannot mount a small tmpfs: {}",
                text(&m.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("skipped: cannot run mount: {e}");
            return;
        }
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mount);
    let (input, out, old) = plant(dir.dir(), &mount);
    let run = Command::new(BIN)
        .args([OsStr::new("rewrite"), input.as_os_str(), out.as_os_str()])
        .output()
        .unwrap();
    assert_failed_cleanly(&run, &out, &old);
}

#[test]
fn rewrite_in_place_keeps_a_private_file_private() {
    let dir = TempDir::new("cli-private");
    let path = dir.path("model.safetensors");
    let before = model(4096);
    std::fs::write(&path, &before).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = Command::new(BIN)
        .args([OsStr::new("rewrite"), path.as_os_str(), path.as_os_str()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(std::fs::read(&path).unwrap() == before);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(entries(dir.dir()), ["model.safetensors"]);
}

#[test]
fn rewrite_through_a_link_replaces_the_file_it_names() {
    let dir = TempDir::new("cli-link");
    std::fs::create_dir_all(dir.path("blobs")).unwrap();
    std::fs::create_dir_all(dir.path("snapshots/rev")).unwrap();
    let blob = dir.path("blobs/0123abcd");
    std::fs::write(&blob, model(4096)).unwrap();
    std::fs::set_permissions(&blob, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path("snapshots/rev/model.safetensors");
    std::os::unix::fs::symlink("../../blobs/0123abcd", &link).unwrap();
    let run = Command::new(BIN)
        .args(["rewrite", "--align", "64"])
        .args([link.as_os_str(), link.as_os_str()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let bytes = std::fs::read(&blob).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.header().data_start() % 64, 0);
    assert_eq!(mode(&blob), 0o640);
    assert_eq!(entries(&dir.path("blobs")), ["0123abcd"]);
}
