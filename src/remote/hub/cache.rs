//! The Hub's local cache, as huggingface_hub lays it out (read only):
//!
//! ```text
//! HF_HUB_CACHE/models--ORG--NAME/
//!     refs/REVISION            the commit a branch or tag pointed to
//!     snapshots/COMMIT/PATH    a link to the file's blob
//!     blobs/ETAG               the file's bytes
//! ```

use std::prelude::rust_2021::*;

use std::path::{Path, PathBuf};

use super::address::HubAddress;

/// Whether `revision` is a full commit id (40 lowercase hex digits).
pub(crate) fn is_commit(revision: &str) -> bool {
    revision.len() == 40
        && revision
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A repository's folder in a cache directory.
#[derive(Debug, Clone)]
pub(crate) struct RepoCache {
    folder: PathBuf,
}

impl RepoCache {
    pub(crate) fn new(cache_dir: &Path, address: &HubAddress) -> Self {
        RepoCache {
            folder: cache_dir.join(address.cache_folder()),
        }
    }

    /// The repository's folder.
    pub(crate) fn folder(&self) -> &Path {
        &self.folder
    }

    /// The commit `refs/REVISION` names, if the cache has that ref and it
    /// holds a commit id.
    pub(crate) fn commit_of(&self, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_owned());
        }
        let mut file = self.folder.join("refs");
        for part in revision.split('/') {
            file.push(part);
        }
        let text = std::fs::read_to_string(file).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_owned())
    }

    /// The snapshot folder of `commit`.
    pub(crate) fn snapshot(&self, commit: &str) -> PathBuf {
        self.folder.join("snapshots").join(commit)
    }

    /// File `path` of `commit`, if the cache holds it (a link whose blob
    /// exists, or a plain file).
    pub(crate) fn file(&self, commit: &str, path: &str) -> Option<PathBuf> {
        // Only plain names are looked up: nothing that a platform reads as
        // a root, a drive or a parent (`C:x`, `..`) when joined.
        let plain = |p: &str| !p.is_empty() && p != "." && p != ".." && !p.contains([':', '\\']);
        if !is_commit(commit) || !path.split('/').all(plain) {
            return None;
        }
        let mut file = self.snapshot(commit);
        for part in path.split('/') {
            file.push(part);
        }
        // `metadata` follows the link: a dangling one is not a cached file.
        std::fs::metadata(&file)
            .ok()
            .filter(|m| m.is_file())
            .map(|_| file)
    }
}

/// The ETag a cached file was stored under: its blob's name, which
/// huggingface_hub takes from the Hub's `X-Linked-Etag` (LFS files) or
/// `ETag` (others), the same tag a network read of it reports.
pub(crate) fn blob_etag(file: &Path) -> Option<String> {
    let blob = std::fs::canonicalize(file).ok()?;
    let dir = blob.parent()?.file_name()?;
    (dir == "blobs").then(|| blob.file_name()?.to_str().map(str::to_owned))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_snapshots_and_blobs() {
        let dir = std::env::temp_dir().join(format!("tensorsafe-hub-cache-{}", std::process::id()));
        let address: HubAddress = "hf://org/name".parse().unwrap();
        let cache = RepoCache::new(&dir, &address);
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let repo = dir.join("models--org--name");
        std::fs::create_dir_all(repo.join("refs/refs/pr")).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join(format!("snapshots/{commit}/sub"))).unwrap();
        std::fs::write(repo.join("refs/main"), commit).unwrap();
        std::fs::write(repo.join("refs/refs/pr/1"), format!("{commit}\n")).unwrap();
        std::fs::write(repo.join("refs/broken"), "not a commit").unwrap();
        std::fs::write(repo.join("blobs/abc123"), b"bytes").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                "../../../blobs/abc123",
                repo.join(format!("snapshots/{commit}/sub/a.bin")),
            )
            .unwrap();
            std::os::unix::fs::symlink(
                "../../blobs/missing",
                repo.join(format!("snapshots/{commit}/dangling")),
            )
            .unwrap();
        }
        assert_eq!(cache.commit_of("main").as_deref(), Some(commit));
        assert_eq!(cache.commit_of("refs/pr/1").as_deref(), Some(commit));
        assert_eq!(cache.commit_of("broken"), None);
        assert_eq!(cache.commit_of("absent"), None);
        assert_eq!(cache.commit_of(commit).as_deref(), Some(commit));
        #[cfg(unix)]
        {
            let file = cache.file(commit, "sub/a.bin").unwrap();
            assert_eq!(std::fs::read(&file).unwrap(), b"bytes");
            assert_eq!(blob_etag(&file).as_deref(), Some("abc123"));
            assert_eq!(cache.file(commit, "dangling"), None);
        }
        assert_eq!(cache.file(commit, "sub"), None);
        assert_eq!(cache.file(commit, "../../x"), None);
        assert_eq!(cache.file(commit, "C:x"), None);
        assert_eq!(cache.file("/tmp", "x"), None);
        assert_eq!(cache.file(commit, "absent"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn commits_are_forty_lowercase_hex_digits() {
        assert!(is_commit("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_commit("0123456789ABCDEF0123456789abcdef01234567"));
        assert!(!is_commit("main"));
        assert!(!is_commit("0123456789abcdef0123456789abcdef0123456"));
    }
}
