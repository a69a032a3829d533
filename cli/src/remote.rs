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

    /// Shard `i` (in the order of [`Remote::headers`]), to be read in
    /// the ranges of `plan`, in that order ([`RemoteReader`]).
    pub fn reader(&self, i: usize, plan: Vec<Range<u64>>) -> RemoteReader<'_> {
        RemoteReader {
            remote: self,
            file: self.checkpoint.shard(i).ok(),
            by_start: by_start(&plan),
            plan,
            next: 0,
            buf: Vec::new(),
            at: 0,
            chain: 0..0,
            read: Vec::new(),
        }
    }
}

/// Planned ranges this far apart (or closer) are fetched in one request,
/// the bytes between them with them: a small tensor the caller does not
/// read (an integer tensor in `verify --data`, say).
const PLAN_GAP: u64 = 64 << 10;

/// The most bytes one request of a [`RemoteReader`] fetches ahead.
const WINDOW: u64 = crate::chunks::MAX_CHUNK;

/// Every planned range's start and its index in `plan`, sorted by start.
fn by_start(plan: &[Range<u64>]) -> Vec<(u64, usize)> {
    let mut by_start: Vec<(u64, usize)> =
        plan.iter().enumerate().map(|(k, r)| (r.start, k)).collect();
    by_start.sort_unstable();
    by_start
}

/// Where one request for `plan[p]` ends, and the last planned range it
/// holds: the ranges after `p` are taken, in the plan's order, while each
/// starts at most [`PLAN_GAP`] bytes past the one before (never before its
/// end, and with no other planned range in between: `by_start` is every
/// planned range's start and index, sorted) and the request stays within
/// [`WINDOW`] bytes.
fn ahead(plan: &[Range<u64>], by_start: &[(u64, usize)], p: usize) -> (u64, usize) {
    let start = plan[p].start;
    let (mut end, mut last) = (plan[p].end, p);
    for (k, r) in plan.iter().enumerate().skip(p + 1) {
        let near = r.start >= end && r.start - end <= PLAN_GAP;
        // The first planned range at or past `end` must be this one.
        let first = by_start.partition_point(|&(s, _)| s < end);
        let next_in_file = by_start.get(first).is_some_and(|&(_, j)| j == k);
        if !near || !next_in_file || r.end.saturating_sub(start) > WINDOW {
            break;
        }
        (end, last) = (r.end, k);
    }
    (end, last)
}

/// One object of a remote checkpoint, read in ranges its caller planned:
/// a request fetches the range asked and the planned ranges after it, in
/// the plan's order, while they follow each other in the file at most
/// [`PLAN_GAP`] bytes apart and all fit in [`WINDOW`] bytes; the next
/// reads come from those bytes. Read in the file's order, a file of many
/// small tensors costs a request per 16 MiB, not per tensor. A caller
/// that reads as it planned gets no planned byte twice, and none outside
/// the plan but its small gaps. A range not in the plan, or one passed
/// over (planned before the last one fetched), is fetched on its own.
pub struct RemoteReader<'r> {
    remote: &'r Remote,
    file: Option<&'r RemoteFile>,
    /// The ranges the caller will read, in order.
    plan: Vec<Range<u64>>,
    /// Every planned range's start and index in `plan`, by start.
    by_start: Vec<(u64, usize)>,
    /// Where in `plan` the next read is expected (no earlier one is
    /// fetched ahead).
    next: usize,
    /// Bytes of the file from offset `at`: the last request's.
    buf: Vec<u8>,
    at: u64,
    /// The planned ranges `buf` holds (indices into `plan`), and which of
    /// them have been read ([`RemoteReader::read_into`]).
    chain: Range<usize>,
    read: Vec<bool>,
}

impl<'r> RemoteReader<'r> {
    /// Where `range` is in `buf`, if it is there.
    fn held(&self, range: &Range<u64>) -> Option<Range<usize>> {
        let from = range.start.checked_sub(self.at)?;
        let to = range.end.checked_sub(self.at)?;
        (from <= to && to <= self.buf.len() as u64).then_some(from as usize..to as usize)
    }

    /// `range`'s place in the plan, if it is planned.
    fn index(&self, range: &Range<u64>) -> Option<usize> {
        let at = self
            .by_start
            .binary_search_by_key(&range.start, |&(s, _)| s)
            .ok()?;
        let k = self.by_start[at].1;
        (self.plan[k] == *range).then_some(k)
    }

    /// `range`'s place in the plan, if it is planned and not passed over
    /// (before `next`).
    fn planned(&self, range: &Range<u64>) -> Option<usize> {
        self.index(range).filter(|&k| k >= self.next)
    }

    /// Makes `buf` hold `range`, and the planned ranges a request takes
    /// after it.
    fn fetch(&mut self, range: &Range<u64>) -> tensorsafe::Result<()> {
        // Nothing is held unless the read succeeds (the allocation is
        // kept for the next request).
        self.buf.clear();
        self.chain = 0..0;
        let file = self.file()?;
        let (end, chain) = match self.planned(range) {
            Some(p) => {
                let (end, last) = ahead(&self.plan, &self.by_start, p);
                (end, p..last + 1)
            }
            None => (range.end, 0..0),
        };
        // At most a window (a chunk, or planned ranges within WINDOW).
        let len = usize::try_from(end - range.start).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                "a read past the address space",
            )
        })?;
        self.buf.resize(len, 0);
        let read = self
            .remote
            .runtime
            .block_on(file.read_at(range.start, &mut self.buf));
        if let Err(e) = read {
            self.buf.clear();
            return Err(e);
        }
        self.next = self.next.max(chain.end);
        self.read = vec![false; chain.len()];
        (self.at, self.chain) = (range.start, chain);
        Ok(())
    }

    /// The object read, or why there is none.
    fn file(&self) -> tensorsafe::Result<&'r RemoteFile> {
        self.file.ok_or_else(|| {
            let none = std::io::Error::new(std::io::ErrorKind::NotFound, "no such shard");
            tensorsafe::Error::from(none)
        })
    }

    /// Fills `out` with the bytes at `at`: from what is held, or fetched
    /// with the planned ranges after them; a range larger than a request
    /// ahead is fetched on its own, straight into `out`. Once every planned
    /// range held has been read (or after a read outside the plan),
    /// nothing is held.
    pub fn read_into(&mut self, at: u64, out: &mut [u8]) -> Result<(), String> {
        let describe = |e: tensorsafe::Error| crate::describe(&e);
        let range = at..at.saturating_add(out.len() as u64);
        if self.held(&range).is_none() {
            if range.end - range.start > WINDOW {
                let file = self.file().map_err(describe)?;
                let read = self.remote.runtime.block_on(file.read_at(at, out));
                return read.map_err(describe);
            }
            self.fetch(&range).map_err(describe)?;
        }
        let held = self.held(&range).ok_or("not fetched")?;
        out.copy_from_slice(&self.buf[held]);
        // Once every planned range held has been read, the memory goes.
        if let Some(k) = self.index(&range).filter(|k| self.chain.contains(k)) {
            self.read[k - self.chain.start] = true;
        }
        if self.read.iter().all(|&r| r) {
            (self.buf, self.chain) = (Vec::new(), 0..0);
        }
        Ok(())
    }
}

impl ReadChunk for RemoteReader<'_> {
    fn read(&mut self, range: Range<u64>) -> Result<&[u8], Failure> {
        crate::chunks::chunk_len(&range)?;
        if self.held(&range).is_none() {
            let remote = self.remote;
            self.fetch(&range)
                .map_err(|e| failure(&remote.base, Path::new(&remote.url), &e))?;
        }
        let held = self.held(&range).ok_or_else(|| {
            Failure::usage(format!("{}: bytes {range:?} not fetched", self.remote.url))
        })?;
        Ok(&self.buf[held])
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `ahead` of `plan[p]`, with the index a reader makes.
    fn ahead_in(plan: &[Range<u64>], p: usize) -> (u64, usize) {
        ahead(plan, &by_start(plan), p)
    }

    #[test]
    fn a_request_ahead_takes_planned_ranges_in_order_close_together_and_within_a_window() {
        const M: u64 = 1 << 20;
        // Back to back: all in one request, up to the window.
        let plan: Vec<Range<u64>> = (0..40).map(|k| k * M..(k + 1) * M).collect();
        assert_eq!(ahead_in(&plan, 0), (16 * M, 15));
        assert_eq!(ahead_in(&plan, 16), (32 * M, 31));
        assert_eq!(ahead_in(&plan, 39), (40 * M, 39));
        // A gap of PLAN_GAP is bridged, one byte more is not.
        let g = PLAN_GAP;
        let plan = [0..10, 10 + g..20 + g, 21 + 2 * g..30 + 2 * g];
        assert_eq!(ahead_in(&plan, 0), (20 + g, 1));
        // A range before the last one's end (another order) stops it.
        let plan = [100..200, 0..100, 200..300];
        assert_eq!(ahead_in(&plan, 0), (200, 0));
        // From 0..100 the next planned is 200..300, but 100..200 (planned,
        // read already) lies between: not fetched again.
        assert_eq!(ahead_in(&plan, 1), (100, 1));
        // Nor one still to come: 50..60 is read after 100..110.
        let plan = [0..10, 100..110, 50..60];
        assert_eq!(ahead_in(&plan, 0), (10, 0));
        // A range larger than the window is fetched alone.
        let plan = [0..20 * M, 20 * M..20 * M + 1];
        assert_eq!(ahead_in(&plan, 0), (20 * M, 0));
        assert_eq!(ahead_in(&plan, 1), (20 * M + 1, 1));
    }
}
