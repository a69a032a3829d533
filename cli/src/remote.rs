//! URL arguments (`s3://bucket/key`, `gs://`, `az://`, `http(s)://`): a
//! file or a checkpoint's index in an object store, its headers read with
//! ranged requests. The store is configured from the environment as
//! `object_store` reads it (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, ...).

use std::path::{Path, PathBuf};

use tensorsafe::remote::{store_from_url, RemoteCheckpoint};
use tensorsafe::{Checkpoint, Header};

use crate::{progress, Failure};

/// Whether a PATH argument is a URL.
pub fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.contains("://"))
}

/// A checkpoint (or single file) in a store, every header validated.
pub struct Remote {
    /// The URL as given.
    pub url: String,
    /// The URL up to the object's location, to name shards by URL.
    base: String,
    runtime: tokio::runtime::Runtime,
    pub checkpoint: RemoteCheckpoint,
}

impl Remote {
    /// Reads the index (if the URL names one) and every shard's header.
    pub fn open(url: &Path) -> Result<Remote, Failure> {
        let text = url.to_string_lossy().into_owned();
        let (store, location) = store_from_url(&text)
            .map_err(|e| Failure::usage(format!("{text}: {}", crate::describe(&e))))?;
        let base = text
            .strip_suffix(location.as_ref())
            .unwrap_or(&text)
            .to_owned();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Failure::usage(format!(
                    "{text}: cannot start the runtime for network reads: {e}"
                ))
            })?;
        let checkpoint = runtime
            .block_on(RemoteCheckpoint::open(store, location))
            .map_err(|e| failure(&base, url, &e))?;
        Ok(Remote {
            url: text,
            base,
            runtime,
            checkpoint,
        })
    }

    /// Every shard: its URL and header, in the index's order.
    pub fn headers(&self) -> Vec<(String, &Header)> {
        self.checkpoint
            .files()
            .iter()
            .map(|f| (format!("{}{}", self.base, f.location()), f.header()))
            .collect()
    }

    /// Fetches every shard into memory (for `verify --data`).
    pub fn load(&self) -> Result<Checkpoint, Failure> {
        let bar = progress::bytes(0, "fetching");
        let loaded = self.runtime.block_on(self.checkpoint.load(|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        }));
        bar.finish_and_clear();
        loaded.map_err(|e| failure(&self.base, Path::new(&self.url), &e))
    }
}

/// A library error on a remote object: the line starts with the URL of
/// the object it names (a shard, say), or else with `url`.
fn failure(base: &str, url: &Path, e: &tensorsafe::Error) -> Failure {
    let object = e.path().map_or_else(
        || url.to_path_buf(),
        |p| PathBuf::from(format!("{base}{}", p.display())),
    );
    Failure::from_error_at(&object, e)
}
