//! URL arguments (`s3://bucket/key`, `gs://`, `az://`, `http(s)://`,
//! `hf://ORG/NAME`): a file or a checkpoint's index in an object store or
//! on the Hugging Face Hub, its headers read with ranged requests. A store
//! is configured from the environment as `object_store` reads it
//! (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, ...), the Hub as huggingface_hub
//! does (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_CACHE`, `HF_HUB_OFFLINE`).

use std::path::{Path, PathBuf};

use std::ops::Range;

use tensorsafe::remote::hub::{Hub, HubAddress, HubStats};
use tensorsafe::remote::{store_from_url, RemoteCheckpoint, RemoteFile};
use tensorsafe::Header;

use crate::chunks::ReadChunk;
use crate::commands::{HubListing, Listing};
use crate::Failure;

/// The URL schemes a PATH argument may start with (`SCHEME://`) to name an
/// object in a store; anything else is a local path.
pub const SCHEMES: &[&str] = &[
    "s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss", "http", "https", "memory", "hf",
];

/// Whether a PATH argument is a URL: it starts with a known scheme and
/// `://` (a local file may have `://` in its name).
pub fn is_url(path: &Path) -> bool {
    path.to_str()
        .and_then(|s| s.split_once("://"))
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// A checkpoint (or single file) in a store, every header validated.
pub struct Remote {
    /// The URL as given.
    pub url: String,
    /// The URL up to the object's location, to name shards by URL.
    base: String,
    runtime: tokio::runtime::Runtime,
    pub checkpoint: RemoteCheckpoint,
    /// For `hf://` addresses: where on the Hub.
    pub hub: Option<HubSource>,
}

/// A checkpoint opened from the Hub: the client (for its counts), the file
/// found, the commit read.
pub struct HubSource {
    pub client: Hub,
    /// The address with the file found (the index or the single file).
    pub address: HubAddress,
    pub commit: String,
    /// Every file was read from the local Hub cache.
    pub cached: bool,
}

impl HubSource {
    pub fn stats(&self) -> HubStats {
        self.client.stats()
    }
}

/// A new single-threaded runtime for the network reads of `text`.
fn runtime(text: &str) -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::usage(format!(
                "{text}: cannot start the runtime for network reads: {e}"
            ))
        })
}

impl Remote {
    /// Reads the index (if the URL names one) and every shard's header.
    pub fn open(url: &Path) -> Result<Remote, Failure> {
        let text = url.to_string_lossy().into_owned();
        if HubAddress::is_hub(&text) {
            return Self::open_hub(url, text);
        }
        let (store, location) = store_from_url(&text)
            .map_err(|e| Failure::usage(format!("{text}: {}", crate::describe(&e))))?;
        let base = text
            .strip_suffix(location.as_ref())
            .unwrap_or(&text)
            .to_owned();
        let runtime = runtime(&text)?;
        let checkpoint = runtime
            .block_on(RemoteCheckpoint::open(store, location))
            .map_err(|e| failure(&base, url, &e))?;
        Ok(Remote {
            url: text,
            base,
            runtime,
            checkpoint,
            hub: None,
        })
    }

    /// An `hf://` address: the checkpoint found there, at one commit, the
    /// local Hub cache read first.
    fn open_hub(url: &Path, text: String) -> Result<Remote, Failure> {
        let usage =
            |e: tensorsafe::Error| Failure::usage(format!("{text}: {}", crate::describe(&e)));
        let address: HubAddress = text.parse().map_err(usage)?;
        let client = Hub::from_env().map_err(usage)?;
        // Files are named under the repository as the address gives it.
        let repo = HubAddress::new(
            address.repo_type(),
            address.repo_id(),
            address.revision(),
            None,
        )
        .map_err(usage)?;
        let base = format!("{repo}/");
        let runtime = runtime(&text)?;
        let opened = runtime
            .block_on(client.open(&address))
            .map_err(|e| failure(&base, url, &e))?;
        let hub = HubSource {
            client,
            address: opened.address().clone(),
            commit: opened.commit().to_owned(),
            cached: opened.is_cached(),
        };
        Ok(Remote {
            url: text,
            base,
            runtime,
            checkpoint: opened.into_checkpoint(),
            hub: Some(hub),
        })
    }

    /// What opening left to `verify`: the index's `total_size`.
    pub fn verify(&self) -> Result<(), Failure> {
        let url = Path::new(&self.url);
        self.checkpoint
            .verify()
            .map_err(|e| failure(&self.base, url, &e))
    }

    /// Every shard: its URL and header, in the index's order.
    pub fn headers(&self) -> Vec<(String, &Header)> {
        self.shards()
            .map(|(_, f)| (format!("{}{}", self.base, f.location()), f.header()))
            .collect()
    }

    /// Every shard, with its name as the index gives it.
    fn shards(&self) -> impl Iterator<Item = (&str, &RemoteFile)> + '_ {
        let files = self.checkpoint.files().iter().enumerate();
        files.filter_map(|(i, name)| Some((name.as_str(), self.checkpoint.shard(i).ok()?)))
    }

    /// What `inspect` shows: every shard's header, the index's map.
    pub fn listing<'a>(&'a self) -> Listing<'a> {
        // Shards as the index names them.
        let files = self.checkpoint.files();
        Listing {
            path: self.url.clone(),
            total_size: self.checkpoint.total_size(),
            weight_map: self
                .checkpoint
                .entries()
                .map(|e| (e.name(), files[e.shard()].as_str()))
                .collect(),
            files: self
                .shards()
                .map(|(name, f)| (name, format!("{}{}", self.base, f.location()), f.header()))
                .collect(),
            hub: self.hub.as_ref().map(|h| HubListing {
                address: h.address.to_string(),
                repo_id: h.address.repo_id().to_owned(),
                repo_type: h
                    .address
                    .repo_type()
                    .plural()
                    .trim_end_matches('s')
                    .to_owned(),
                revision: h.address.revision().unwrap_or("main").to_owned(),
                commit: h.commit.clone(),
                checkpoint: h.address.path().unwrap_or_default().to_owned(),
                cached: h.cached,
                stats: h.stats(),
            }),
        }
    }

    /// Fills `buf` from offset `at` of shard `i` (in the order of
    /// [`Remote::headers`]), in parallel parts; or says why not.
    pub fn read_at(&self, i: usize, at: u64, buf: &mut [u8]) -> Result<(), String> {
        let file = self.checkpoint.shard(i).map_err(|e| crate::describe(&e))?;
        self.runtime
            .block_on(file.read_at(at, buf))
            .map_err(|e| crate::describe(&e))
    }

    /// Shard `i` (in the order of [`Remote::headers`]), read a chunk at a
    /// time.
    pub fn reader(&self, i: usize) -> RemoteReader<'_> {
        let file = self.checkpoint.shard(i).ok();
        let header = file.map(RemoteFile::header);
        RemoteReader {
            remote: self,
            file,
            buf: Vec::new(),
            at: 0,
            next: header.map_or(0, Header::data_start),
            until: header.map_or(0, Header::file_len),
        }
    }
}

/// A read that starts this close past where the last one ended is part of
/// a walk in file order (tensors may be padded apart, as aligned files
/// are).
const WALK_GAP: u64 = 1 << 20;

/// One object of a remote checkpoint, read a chunk at a time (each chunk
/// one positioned read, which the library splits into parallel requests).
///
/// A walk in file order (the tensors of a file one after the other, from
/// the first) reads ahead: each request fetches a whole chunk, however
/// small the tensor it starts with, and the next tensors come from it. A
/// file of many small tensors then costs a request per chunk, not per
/// tensor. Other reads fetch exactly what is asked.
pub struct RemoteReader<'r> {
    remote: &'r Remote,
    file: Option<&'r RemoteFile>,
    /// Bytes of the file from offset `at`: the last request's.
    buf: Vec<u8>,
    at: u64,
    /// Where the last read ended (at first, where the tensors start).
    next: u64,
    /// No request reads past this offset: the end of the file, or of what
    /// the caller will read ([`ReadChunk::read_no_further_than`]).
    until: u64,
}

impl ReadChunk for RemoteReader<'_> {
    fn chunk(&self) -> u64 {
        crate::chunks::MAX_CHUNK
    }

    fn read_no_further_than(&mut self, end: u64) {
        self.until = self.until.min(end);
    }

    fn read(&mut self, range: Range<u64>) -> Result<&[u8], Failure> {
        let remote = self.remote;
        let Some(file) = self.file else {
            return Err(Failure::usage(format!("{}: no such shard", remote.url)));
        };
        let len = crate::chunks::chunk_len(&range)?;
        let held = self.at..self.at + self.buf.len() as u64;
        if !(held.start <= range.start && range.end <= held.end) {
            let walk = range
                .start
                .checked_sub(self.next)
                .is_some_and(|gap| gap <= WALK_GAP);
            let end = if walk {
                let ahead = range.start.saturating_add(self.chunk()).min(self.until);
                ahead.max(range.end)
            } else {
                range.end
            };
            self.buf
                .resize(crate::chunks::chunk_len(&(range.start..end))?, 0);
            self.at = range.start;
            let read = remote
                .runtime
                .block_on(file.read_at(range.start, &mut self.buf));
            if let Err(e) = read {
                // Nothing is held once a read failed.
                self.buf.clear();
                return Err(failure(&remote.base, Path::new(&remote.url), &e));
            }
        }
        self.next = range.end;
        // In `held` (or just read): `at <= start` and `end - at <= len(buf)`.
        let from = (range.start - self.at) as usize;
        Ok(&self.buf[from..from + len])
    }
}

/// A library error on a remote object: the line starts with the URL of
/// the object it names (a shard, say), or else with `url`.
fn failure(base: &str, url: &Path, e: &tensorsafe::Error) -> Failure {
    // A path that is a whole address (`hf://...`) is named as it is.
    let object = e.path().map_or_else(
        || url.to_path_buf(),
        |p| match p.to_str() {
            Some(s) if is_url(p) => PathBuf::from(s),
            _ => PathBuf::from(format!("{base}{}", p.display())),
        },
    );
    Failure::from_error_at(&object, e)
}
