//! What `serialize_to_file` does to the file it replaces, beside the
//! reference's 0.8.0, as the rustdoc of `serialize_to_file` states it:
//! permissions kept (the reference's file is always 0600) and symbolic
//! links written through (the reference replaces the link).
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::Dtype;

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
