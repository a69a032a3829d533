//! What `serialize_to_file` does to the file it replaces, beside the
//! reference's 0.8.0, as the rustdoc of `serialize_to_file` states it:
//! permissions kept (the reference's file is always 0600) and symbolic
//! links written through (the reference replaces the link); and what a
//! failed write returns, the same as the reference.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError};

/// A fresh directory for one test.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("safetensors-compat-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn ours(path: &Path) {
    let view = TensorView::new(Dtype::U8, vec![2], &[1, 2]).unwrap();
    safetensors::serialize_to_file([("x", &view)], None, path).unwrap();
}

fn reference(path: &Path) {
    let view = reference::tensor::TensorView::new(reference::Dtype::U8, vec![2], &[1, 2]).unwrap();
    reference::serialize_to_file([("x", &view)], None, path).unwrap();
}

#[test]
fn the_replaced_files_permissions_are_kept_where_the_reference_makes_0600() {
    let dir = temp_dir("modes");
    for old in [0o640, 0o644, 0o600] {
        let (a, b) = (dir.join("ours"), dir.join("reference"));
        for path in [&a, &b] {
            std::fs::write(path, b"old").unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(old)).unwrap();
        }
        ours(&a);
        reference(&b);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(mode(&a), old);
        assert_eq!(mode(&b), 0o600);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_link_is_written_through_where_the_reference_replaces_it() {
    let dir = temp_dir("links");
    for (name, write) in [("ours", ours as fn(&Path)), ("reference", reference)] {
        let blob = dir.join(format!("{name}-blob"));
        let link = dir.join(format!("{name}-link"));
        std::fs::write(&blob, b"old").unwrap();
        std::os::unix::fs::symlink(blob.file_name().unwrap(), &link).unwrap();
        write(&link);
        let is_link = std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink();
        let blob_bytes = std::fs::read(&blob).unwrap();
        if name == "ours" {
            assert!(is_link);
            assert_ne!(blob_bytes, b"old");
        } else {
            assert!(!is_link);
            assert_eq!(blob_bytes, b"old");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A failed write is `IoError` holding the system's own `std::io::Error`:
/// the OS error code survives (`raw_os_error`, which callers test for a full
/// disk or a denied permission), and `Error::source` leads to it, as the
/// reference's `IoError` does for the errors it returns unwrapped. Both
/// give the same `io::ErrorKind`.
#[test]
fn a_failed_write_keeps_the_systems_error() {
    let dir = temp_dir("errors");
    let file = dir.join("file");
    std::fs::write(&file, b"").unwrap();
    // A directory that does not exist, and a file in place of a directory.
    for target in [dir.join("absent/x.safetensors"), file.join("x.safetensors")] {
        let code = std::fs::File::create(&target).unwrap_err().raw_os_error();
        assert!(code.is_some(), "{target:?}");

        let view = TensorView::new(Dtype::U8, vec![2], &[1, 2]).unwrap();
        let ours = safetensors::serialize_to_file([("x", &view)], None, &target).unwrap_err();
        let SafeTensorError::IoError(io) = &ours else {
            panic!("{target:?}: {ours:?}");
        };
        assert_eq!(io.raw_os_error(), code, "{target:?}: {io:?}");
        let source = std::error::Error::source(&ours).and_then(|s| s.downcast_ref());
        assert_eq!(
            source.map(std::io::Error::raw_os_error),
            Some(code),
            "{target:?}"
        );

        let view = reference::tensor::TensorView::new(reference::Dtype::U8, vec![2], &[1, 2]);
        let theirs =
            reference::serialize_to_file([("x", &view.unwrap())], None, &target).unwrap_err();
        let reference::SafeTensorError::IoError(their_io) = &theirs else {
            panic!("{target:?}: the reference says {theirs:?}");
        };
        assert_eq!(io.kind(), their_io.kind(), "{target:?}");
        // The reference wraps the temporary file's error in one naming its
        // path, which hides the code from both `raw_os_error` and the chain.
        assert_eq!(their_io.raw_os_error(), None, "{target:?}: {theirs:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
