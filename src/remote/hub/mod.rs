//! Checkpoints on the Hugging Face Hub (feature `hf`): `hf://ORG/NAME`
//! listed from a few kilobytes of headers, tensors and tensor-parallel
//! slices fetched with ranged reads, whole loads, and the local Hub cache
//! read first, with no request at all when it holds the files.
//!
//! ```no_run
//! # async fn f() -> tensorsafe::Result<()> {
//! use tensorsafe::remote::hub::Hub;
//! let hub = Hub::from_env()?;   // HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HUB_OFFLINE
//! let model = hub.open(&"hf://meta-llama/Llama-3.1-8B".parse()?).await?;
//! println!("{} tensors at commit {}", model.checkpoint().len(), model.commit());
//! let q = model.checkpoint().split("model.layers.0.self_attn.q_proj.weight", 0, 1, 8).await?;
//! println!("rank 1 of 8: {:?}, after {} requests", q.shape(), hub.stats().hub_requests);
//! # Ok(()) }
//! ```
//!
//! **Which file.** An address with a path opens that file (an index if it
//! ends in `.json`). Without one, the repository's checkpoint is the first
//! of [`CHECKPOINT_FILES`] it has: `model.safetensors.index.json`, then
//! `model.safetensors` (as huggingface_hub's `get_safetensors_metadata`
//! looks), then diffusers' `diffusion_pytorch_model.safetensors.index.json`
//! and `diffusion_pytorch_model.safetensors`. Each file it does not have
//! costs one request that answers 404, unless the cache holds the
//! snapshot.
//!
//! **Requests.** Every file is read at one commit: the revision (default
//! `main`) resolves once, by the first answer's `X-Repo-Commit` (or the
//! cache's ref, or the revision itself when it is a commit), and every
//! later read asks for `resolve/COMMIT/PATH`, so a push during a load is
//! never mixed in; each shard's reads are also pinned to its ETag. A
//! listing costs the index and one ranged read per shard (the first
//! 100,000 bytes, as huggingface_hub reads them; a longer header takes
//! one more). A read of an LFS file is two HTTP requests: the Hub answers
//! with a redirect to a signed CDN address, which is followed with the
//! `Range` kept and without the `Authorization` header, which only the
//! endpoint's own origin gets. [`Hub::stats`] counts both kinds.
//!
//! **Errors.** 401 and 403 name the repository and say whether a token is
//! missing or lacks access; 404 names the file and the revision (or the
//! revision, or the repository); 429, 500, 502, 503 and 504 are retried,
//! at most [`HubConfig::max_retries`] times and within
//! [`HubConfig::max_retry_wait`] of waiting for one read, after the wait
//! the answer asks for (`Retry-After`, or the `RateLimit` header's `t=`),
//! else after 1, 2, 4, 8, 8, ... seconds; a request that gets no answer
//! (refused, or timed out) is retried twice. [`HubError::of`] gives the
//! Hub's error behind a [`crate::Error`]. Every answer must name the
//! pinned commit, a 206 must answer exactly the range asked, and a body
//! longer than its range is refused as it arrives.
//!
//! **The cache.** huggingface_hub's cache (`HF_HUB_CACHE`, by default
//! `~/.cache/huggingface/hub`) is read, never written: a ref
//! (`models--ORG--NAME/refs/main`) gives the commit, and a file in
//! `snapshots/COMMIT/` is read from disk instead of the network. A ref in
//! the cache is taken as it is, as huggingface_hub does offline: to see a
//! newer push to a branch the cache has a ref for, name the commit, or
//! use an empty cache. With `HF_HUB_OFFLINE=1` nothing touches the
//! network, and what the cache lacks is a "not found" error saying which
//! ref or file is missing and where it looked.

mod address;
mod cache;
mod http;
mod store;

use std::format;
use std::prelude::rust_2021::*;

use core::fmt;
use core::time::Duration;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use object_store::ObjectStore;

pub use address::{HubAddress, RepoType};
pub use http::HubError;
pub use store::HubStore;

use super::{RemoteCheckpoint, RemoteOptions};
use crate::error::{Error, Result};

/// The files a repository's checkpoint is looked for in, in order, when
/// an address names no file.
pub const CHECKPOINT_FILES: [&str; 4] = [
    "model.safetensors.index.json",
    "model.safetensors",
    "diffusion_pytorch_model.safetensors.index.json",
    "diffusion_pytorch_model.safetensors",
];

/// Bytes read from the start of a file on the Hub for its header, as
/// huggingface_hub reads them: one request for nearly every header.
pub const HEADER_READ: u64 = 100_000;

/// Where the Hub is and how to reach it. [`HubConfig::from_env`] reads
/// the variables huggingface_hub reads.
#[derive(Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// The Hub's address (`HF_ENDPOINT`, default `https://huggingface.co`).
    pub endpoint: String,
    /// The token for gated and private repositories (`HF_TOKEN`, else the
    /// file `HF_TOKEN_PATH`, else `HF_HOME/token`), sent to the endpoint's
    /// origin only.
    pub token: Option<String>,
    /// The Hub cache to read first (`HF_HUB_CACHE`, else `HF_HOME/hub`;
    /// `None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network (`HF_HUB_OFFLINE=1`): read the cache only.
    pub offline: bool,
    /// Retries of one read (all its redirects) after a rate limit, a
    /// server error or no answer (default 5).
    pub max_retries: u32,
    /// The longest time one read may spend waiting between retries, all
    /// waits together (default 5 minutes, the Hub's rate limit window): a
    /// wait that would pass it is an error at once.
    pub max_retry_wait: Duration,
}

impl Default for HubConfig {
    /// The public Hub, no token, no cache, online.
    fn default() -> Self {
        HubConfig {
            endpoint: "https://huggingface.co".to_owned(),
            token: None,
            cache_dir: None,
            offline: false,
            max_retries: 5,
            max_retry_wait: Duration::from_secs(300),
        }
    }
}

impl fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("max_retries", &self.max_retries)
            .field("max_retry_wait", &self.max_retry_wait)
            .finish()
    }
}

impl HubConfig {
    /// The configuration huggingface_hub would use here: `HF_ENDPOINT`;
    /// `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`), else the token
    /// file (`HF_TOKEN_PATH`, default `HF_HOME/token`); `HF_HUB_CACHE` (or
    /// `HUGGINGFACE_HUB_CACHE`), default `HF_HOME/hub`; `HF_HUB_OFFLINE`
    /// (`1`, `true`, `yes` or `on`). `HF_HOME` defaults to
    /// `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let home = var("HF_HOME").map(PathBuf::from).or_else(|| {
            let cache = var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(cache.join("huggingface"))
        });
        let token_file = var("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join("token")));
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| std::fs::read_to_string(token_file?).ok())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let cache_dir = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join("hub")));
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        let endpoint = var("HF_ENDPOINT")
            .map(|e| e.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| HubConfig::default().endpoint);
        HubConfig {
            endpoint,
            token,
            cache_dir,
            offline,
            ..HubConfig::default()
        }
    }
}

/// What [`Hub`]'s requests did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// Requests to the Hub's endpoint (resolve answers, indexes, 404s).
    pub hub_requests: u64,
    /// Requests to other hosts (the CDN the Hub redirects to).
    pub cdn_requests: u64,
    /// Of these, retries after a rate limit, a server error or no answer.
    pub retries: u64,
    /// File bytes received from the network (the bodies of successful
    /// answers; an error answer's body is not read).
    pub bytes: u64,
    /// Reads served from the local Hub cache.
    pub cache_reads: u64,
    /// Bytes read from the local Hub cache.
    pub cache_bytes: u64,
}

/// What the Hub's stores share: the configuration and the HTTP client.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: HubConfig,
    pub(crate) client: http::Client,
}

/// A client for one Hub endpoint: opens `hf://` checkpoints and files, and
/// counts what it did ([`Hub::stats`]). Cloning shares the connection
/// pool and the counts.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Hub {
    /// A client for `config`'s endpoint.
    pub fn new(config: HubConfig) -> Result<Self> {
        let client = http::Client::new(&config).map_err(|e| hub_error(e, &config.endpoint))?;
        Ok(Hub {
            inner: Arc::new(Inner { config, client }),
        })
    }

    /// A client configured from the environment ([`HubConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(HubConfig::from_env())
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Requests, bytes and cache reads so far, for every store and
    /// checkpoint this client (or a clone) opened.
    pub fn stats(&self) -> HubStats {
        let c = &self.inner.client.counters;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        HubStats {
            hub_requests: n(&c.hub_requests),
            cdn_requests: n(&c.cdn_requests),
            retries: n(&c.retries),
            bytes: n(&c.bytes),
            cache_reads: n(&c.cache_reads),
            cache_bytes: n(&c.cache_bytes),
        }
    }

    /// The repository of `address` at its revision as an object store
    /// (its path is ignored), for [`RemoteFile`](super::RemoteFile) or
    /// any `object_store` user.
    pub fn store(&self, address: &HubAddress) -> HubStore {
        let repo = HubAddress::new(address.repo_type(), address.repo_id(), None, None)
            .expect("an address's repository id is valid");
        let revision = address.revision().unwrap_or("main").to_owned();
        HubStore::new(self.inner.clone(), repo, revision)
    }

    /// Opens the checkpoint `address` names (a file or an index; without a
    /// path, the repository's checkpoint, see [the module docs](self)),
    /// reading [`HEADER_READ`] bytes per header.
    pub async fn open(&self, address: &HubAddress) -> Result<HubCheckpoint> {
        let options = RemoteOptions {
            header_read: HEADER_READ,
            ..RemoteOptions::default()
        };
        self.open_with(address, &options).await
    }

    /// [`Hub::open`] with the given options, which later reads use too.
    pub async fn open_with(
        &self,
        address: &HubAddress,
        options: &RemoteOptions,
    ) -> Result<HubCheckpoint> {
        let store = Arc::new(self.store(address));
        let said = address.to_string();
        let candidates: Vec<&str> = match address.path() {
            Some(path) => vec![path],
            None => {
                // A snapshot in the cache says which file is there.
                match CHECKPOINT_FILES.iter().find(|f| store.cached(f).is_some()) {
                    Some(file) => vec![*file],
                    None if self.inner.config.offline => {
                        let missing = store.not_cached(&CHECKPOINT_FILES.join(" or "));
                        return Err(Error::from(std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            HubError::NotCached(missing),
                        ))
                        .in_file(std::path::Path::new(&said)));
                    }
                    None => CHECKPOINT_FILES.to_vec(),
                }
            }
        };
        let last = candidates.len() - 1;
        for (i, file) in candidates.iter().enumerate() {
            let dyn_store: Arc<dyn ObjectStore> = store.clone();
            match RemoteCheckpoint::open_with(dyn_store, *file, options).await {
                Ok(checkpoint) => {
                    let found = address.with_path(file)?;
                    return Ok(HubCheckpoint {
                        checkpoint,
                        address: found,
                        store,
                    });
                }
                Err(e) if i < last && is_missing(&e, file) => continue,
                Err(e) if address.path().is_none() && is_missing(&e, file) => {
                    return Err(Error::from(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "no checkpoint in {said}: it has none of {} (name the file: {said}/FILE)",
                            CHECKPOINT_FILES.join(", ")
                        ),
                    ))
                    .in_file(std::path::Path::new(&said)))
                }
                Err(e) => return Err(named(e, address, file)),
            }
        }
        unreachable!("the last candidate returns")
    }
}

/// Opens `address` (`hf://...`) with a client configured from the
/// environment: [`Hub::from_env`] then [`Hub::open`].
pub async fn open(address: &str) -> Result<HubCheckpoint> {
    let address: HubAddress = address.parse()?;
    Hub::from_env()?.open(&address).await
}

/// Whether a failed first read may be a range the object is too short
/// for, worth a `HEAD` to learn its size: not when the Hub said why it
/// failed (a rate limit, a server error, a protocol fault), only for 416.
pub(crate) fn may_be_short(err: &object_store::Error) -> bool {
    let source = match err {
        object_store::Error::Generic { source, .. }
        | object_store::Error::NotFound { source, .. }
        | object_store::Error::PermissionDenied { source, .. }
        | object_store::Error::Unauthenticated { source, .. } => source,
        // The commit or ETag moved: no size would help.
        object_store::Error::Precondition { .. } => return false,
        _ => return true,
    };
    match source.downcast_ref::<HubError>() {
        Some(HubError::Status { status, .. }) => *status == 416,
        Some(_) => false,
        None => true,
    }
}

/// The Hub's own error inside an `object_store` error a [`HubStore`]
/// returned, or the error unchanged.
pub(crate) fn hub_source(
    err: object_store::Error,
) -> core::result::Result<Box<dyn std::error::Error + Send + Sync>, object_store::Error> {
    match err {
        object_store::Error::Generic { source, .. }
        | object_store::Error::NotFound { source, .. }
        | object_store::Error::PermissionDenied { source, .. }
        | object_store::Error::Unauthenticated { source, .. }
            if source.is::<HubError>() =>
        {
            Ok(source)
        }
        other => Err(other),
    }
}

/// Whether `e` is "file `file` is not in the repository" (or, offline, not
/// in the cache): the next candidate may be.
fn is_missing(e: &Error, file: &str) -> bool {
    if e.path() != Some(std::path::Path::new(file)) {
        return false;
    }
    match HubError::of(e) {
        Some(HubError::Status { status, code, .. }) => {
            *status == 404 && matches!(code.as_deref(), None | Some("EntryNotFound"))
        }
        Some(HubError::NotCached(_)) => true,
        _ => false,
    }
}

/// `e` from opening `file` of `address`, naming what it is about: the
/// repository (a token, the repository or the revision is the trouble) or
/// the file, as a whole `hf://` address.
fn named(e: Error, address: &HubAddress, file: &str) -> Error {
    let Some(cause) = HubError::of(&e) else {
        return e;
    };
    let repo_level = match cause {
        HubError::Status { status, code, .. } => {
            matches!(*status, 401 | 403)
                || matches!(code.as_deref(), Some("RepoNotFound" | "RevisionNotFound"))
        }
        _ => false,
    };
    let about = match (repo_level, address.with_path(file)) {
        (false, Ok(at)) if e.path() == Some(std::path::Path::new(file)) => at.to_string(),
        (false, _) => return e,
        (true, _) => HubAddress::new(
            address.repo_type(),
            address.repo_id(),
            address.revision(),
            None,
        )
        .map_or_else(|_| address.to_string(), |a| a.to_string()),
    };
    match e.into_io_error() {
        Ok(io) => Error::from(io).in_file(std::path::Path::new(&about)),
        Err(e) => e,
    }
}

fn hub_error(e: HubError, at: &str) -> Error {
    Error::from(std::io::Error::other(e)).in_file(std::path::Path::new(at))
}

/// A checkpoint opened from the Hub: the [`RemoteCheckpoint`], the file it
/// was found at, and the commit every read is pinned to.
#[derive(Debug)]
pub struct HubCheckpoint {
    checkpoint: RemoteCheckpoint,
    address: HubAddress,
    store: Arc<HubStore>,
}

impl HubCheckpoint {
    /// The checkpoint: listing, tensors, slices, splits, loads.
    pub fn checkpoint(&self) -> &RemoteCheckpoint {
        &self.checkpoint
    }

    /// The checkpoint, owned.
    pub fn into_checkpoint(self) -> RemoteCheckpoint {
        self.checkpoint
    }

    /// The address as opened, with the file that was found: the index or
    /// the single file.
    pub fn address(&self) -> &HubAddress {
        &self.address
    }

    /// The commit every read is pinned to.
    pub fn commit(&self) -> &str {
        // Opening read at least one file, which pinned the commit.
        self.store.commit().unwrap_or_else(|| self.store.revision())
    }

    /// The address at the pinned commit: reading it later gives the same
    /// bytes whatever is pushed to the branch.
    pub fn pinned_address(&self) -> HubAddress {
        self.address
            .with_revision(self.commit())
            .unwrap_or_else(|_| self.address.clone())
    }

    /// Whether every file of the checkpoint (index and shards) is in the
    /// local Hub cache, so that no read of it touches the network.
    pub fn is_cached(&self) -> bool {
        let c = &self.checkpoint;
        let index = !c.is_sharded() || self.store.cached(c.location().as_ref()).is_some();
        index
            && (0..c.files().len()).all(|i| {
                c.shard_location(i)
                    .is_some_and(|l| self.store.cached(l.as_ref()).is_some())
            })
    }

    /// The store the checkpoint reads through.
    pub fn store(&self) -> &Arc<HubStore> {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_comes_from_the_variables_huggingface_hub_reads() {
        let dir =
            std::env::temp_dir().join(format!("tensorsafe-hub-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "hf_from_file\n").unwrap();
        let home = dir.display().to_string();
        let config = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            HubConfig::from_vars(|name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        let c = config(&[("HF_HOME", &home)]);
        assert_eq!(c.endpoint, "https://huggingface.co");
        assert_eq!(c.token.as_deref(), Some("hf_from_file"));
        assert_eq!(c.cache_dir, Some(dir.join("hub")));
        assert!(!c.offline);
        let c = config(&[
            ("HF_HOME", &home),
            ("HF_TOKEN", "hf_env"),
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_HUB_CACHE", "/elsewhere"),
            ("HF_HUB_OFFLINE", "True"),
        ]);
        assert_eq!(c.token.as_deref(), Some("hf_env"));
        assert_eq!(c.endpoint, "http://127.0.0.1:9");
        assert_eq!(c.cache_dir, Some(PathBuf::from("/elsewhere")));
        assert!(c.offline);
        let c = config(&[("HOME", "/home/u"), ("HF_HUB_OFFLINE", "0")]);
        assert_eq!(
            c.cache_dir,
            Some(PathBuf::from("/home/u/.cache/huggingface/hub"))
        );
        assert!(!c.offline);
        assert_eq!(c.token, None);
        let c = config(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/home/u")]);
        assert_eq!(c.cache_dir, Some(PathBuf::from("/x/huggingface/hub")));
        assert!(
            !format!("{c:?}").contains("hf_"),
            "the token is not printed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
