//! [`HubStore`]: one repository at one commit, as an object store whose
//! paths are the repository's files.

use std::format;
use std::prelude::rust_2021::*;

use core::fmt;
use core::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use futures_util::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use reqwest::StatusCode;

use super::address::{encode, HubAddress};
use super::cache::{blob_etag, RepoCache};
use super::http::{bare_etag, content_range, header_text, shown, Counters, HubError};
use super::Inner;

type StoreResult<T> = object_store::Result<T>;

/// One Hub repository at one revision, as a read-only
/// [`ObjectStore`]: the path `config.json` is that file of the repository.
///
/// - **Pinned to a commit.** The first answer's `X-Repo-Commit` fixes the
///   commit (or the cache's ref, or a commit given as the revision), and
///   every later read asks for that commit, so a push to the branch
///   while a checkpoint loads changes nothing it reads. An answer for
///   another commit, or a file whose ETag is not the one asked for, is a
///   precondition error ([`ErrorKind::FileChanged`](crate::ErrorKind::FileChanged)
///   through the remote readers).
/// - **Cache first.** A file the local Hub cache holds at that commit is
///   read from there, with no request; offline, a file it does not hold
///   is a "not found" error saying so.
/// - Reads are `GET {endpoint}/{repo}/resolve/{commit}/{path}` with
///   `Range`, following the Hub's redirect to its CDN (see
///   [`Hub`](super::Hub)). Writes, lists and copies are not supported.
pub struct HubStore {
    inner: Arc<Inner>,
    /// The repository, without revision or path.
    repo: HubAddress,
    revision: String,
    commit: OnceLock<String>,
    cache: Option<RepoCache>,
}

impl HubStore {
    pub(super) fn new(inner: Arc<Inner>, repo: HubAddress, revision: String) -> Self {
        let cache = inner
            .config
            .cache_dir
            .as_deref()
            .map(|dir| RepoCache::new(dir, &repo));
        let commit = OnceLock::new();
        if let Some(c) = cache.as_ref().and_then(|c| c.commit_of(&revision)) {
            let _ = commit.set(c);
        } else if super::cache::is_commit(&revision) {
            let _ = commit.set(revision.clone());
        }
        HubStore {
            inner,
            repo,
            revision,
            commit,
            cache,
        }
    }

    /// The revision asked for (`main` unless given).
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The commit every read is pinned to, once known: a commit given as
    /// the revision, the cache's ref for the revision, or the first
    /// answer's `X-Repo-Commit`.
    pub fn commit(&self) -> Option<&str> {
        self.commit.get().map(String::as_str)
    }

    /// The repository (without revision or path).
    pub fn repo(&self) -> &HubAddress {
        &self.repo
    }

    /// The cached copy of file `path`, if the cache holds it at the
    /// pinned commit.
    pub(super) fn cached(&self, path: &str) -> Option<PathBuf> {
        let commit = self.commit.get()?;
        self.cache.as_ref()?.file(commit, path)
    }

    /// Where this repository's cache folder is (whether or not it exists).
    pub(super) fn cache_folder(&self) -> Option<&std::path::Path> {
        self.cache.as_ref().map(RepoCache::folder)
    }

    /// What is said about this repository, file `path`.
    fn name(&self, path: &str) -> String {
        format!(
            "{path} in {} at revision {}",
            self.repo,
            self.revision_said()
        )
    }

    fn revision_said(&self) -> String {
        match self.commit.get() {
            Some(c) if *c != self.revision => format!("{} (commit {c})", self.revision),
            _ => self.revision.clone(),
        }
    }

    async fn get_network(&self, location: &Path, options: GetOptions) -> StoreResult<GetResult> {
        let path = location.as_ref();
        if self.inner.config.offline {
            return Err(not_found(
                location,
                HubError::NotCached(self.not_cached(path)),
            ));
        }
        let pinned = self.commit.get().cloned();
        let revision = pinned.as_deref().unwrap_or(&self.revision);
        let tail = format!(
            "{}/resolve/{}/{}",
            self.repo.url_prefix(),
            encode(revision, false),
            encode(path, true)
        );
        let url = self.inner.client.url(&tail).map_err(generic)?;
        if let Some(GetRange::Bounded(r)) = &options.range {
            if r.start >= r.end {
                return Err(generic(HubError::Protocol(format!(
                    "an empty range {r:?} of {}",
                    self.name(path)
                ))));
            }
        }
        let range = options.range.as_ref().map(range_header);
        let answer = self
            .inner
            .client
            .send(url, options.head, range.clone())
            .await
            .map_err(generic)?;
        let response = answer.response;
        let resolved = answer.resolved;
        let status = response.status();
        // Every answer is pinned to one commit: the first the Hub names
        // (a 404 for a file names it too, so that the next file looked for
        // is read at the same commit), and every later one must be it.
        if let Some(commit) = &resolved.commit {
            let now = self.commit.get_or_init(|| commit.clone());
            if now != commit {
                return Err(precondition(
                    location,
                    format!(
                        "{} answered for commit {commit}, but this checkpoint is read at commit {now}",
                        self.repo
                    ),
                ));
            }
        }
        // A HEAD stops at the resolve answer: for an LFS file that is the
        // redirect, whose headers say all.
        let answered = status.is_success() || (options.head && status.is_redirection());
        if !answered {
            return Err(self.status_error(location, &response, answer.gave_up));
        }
        let protocol = |text: String| generic(HubError::Protocol(text));
        // A file's answer must say its commit (the Hub's resolve answer
        // always does), and its ETag when one is asked for.
        if resolved.commit.is_none() {
            return Err(protocol(format!(
                "the answer for {} did not say its commit (no X-Repo-Commit from {})",
                self.name(path),
                self.inner.config.endpoint
            )));
        }
        let headers = response.headers();
        let etag = resolved
            .etag
            .clone()
            .or_else(|| header_text(headers, "etag").map(|t| bare_etag(&t)));
        if let Some(want) = &options.if_match {
            match &etag {
                Some(got) if bare_etag(want) == *got => {}
                got => {
                    return Err(precondition(
                        location,
                        format!(
                            "{} has ETag {} now, {want} when first read",
                            self.name(path),
                            got.as_deref().unwrap_or("(none)")
                        ),
                    ))
                }
            }
        }
        // The Content-Length header as sent (for a HEAD, the HTTP client
        // reports the empty body's length instead).
        let length =
            header_text(headers, "content-length").and_then(|n| n.trim().parse::<u64>().ok());
        let (range, size) = if options.head {
            // At the resolve address: an LFS file's size is X-Linked-Size
            // (a redirect must say it), another file's the Content-Length.
            let size = if status.is_redirection() {
                resolved.size
            } else {
                resolved.size.or(length)
            }
            .ok_or_else(|| protocol(format!("no size for {}", self.name(path))))?;
            (0..size, size)
        } else if status == StatusCode::PARTIAL_CONTENT {
            let (r, size) = content_range(headers).ok_or_else(|| {
                protocol(format!(
                    "a 206 answer for {} without a valid Content-Range",
                    self.name(path)
                ))
            })?;
            let size = size
                .or(resolved.size)
                .ok_or_else(|| protocol(format!("no size for {}", self.name(path))))?;
            // Exactly the range asked for (cut at the end of the file),
            // and a body of exactly that length.
            let asked = options.range.as_ref().and_then(|a| clamp(a, size));
            if asked.as_ref() != Some(&r) || length.is_some_and(|n| n != r.end - r.start) {
                return Err(protocol(format!(
                    "asked {} for {range:?}, it answered with bytes {}..{} of {size} and {} body bytes",
                    self.name(path),
                    r.start,
                    r.end,
                    length.map_or_else(|| "unsaid".to_owned(), |n| n.to_string())
                )));
            }
            (r, size)
        } else {
            // The whole file: its length must be said, and, for a range
            // asked, it must be all of it.
            let size = length.ok_or_else(|| {
                protocol(format!(
                    "a 200 answer for {} without Content-Length",
                    self.name(path)
                ))
            })?;
            if options
                .range
                .as_ref()
                .is_some_and(|asked| !covers_whole(asked, size))
            {
                return Err(protocol(format!(
                    "the server ignored the Range header for {} (200, not 206)",
                    self.name(path)
                )));
            }
            (0..size, size)
        };
        // The CDN's size is the Hub's, when the Hub said it.
        if let Some(linked) = resolved.size {
            if linked != size {
                return Err(protocol(format!(
                    "the Hub says {} has {linked} bytes, the answer {size}",
                    self.name(path)
                )));
            }
        }
        let payload = if options.head {
            stream::empty().boxed()
        } else {
            body(
                response,
                self.inner.clone(),
                location.clone(),
                range.end - range.start,
            )
        };
        Ok(get_result(location, payload, range, size, etag))
    }

    pub(super) fn not_cached(&self, path: &str) -> String {
        let folder = self.cache_folder().map_or_else(
            || "(no cache directory)".to_owned(),
            |f| f.display().to_string(),
        );
        match self.commit.get() {
            None => format!(
                "offline (HF_HUB_OFFLINE): the Hub cache has no ref {} for {} (looked in {folder}/refs)",
                self.revision, self.repo
            ),
            Some(c) => format!(
                "offline (HF_HUB_OFFLINE): the Hub cache does not hold {path} of {} at commit {c} (looked in {folder}/snapshots/{c})",
                self.repo
            ),
        }
    }

    /// An unsuccessful answer as the error the user needs: which
    /// repository, file and revision, and what to do about a token.
    fn status_error(
        &self,
        location: &Path,
        response: &reqwest::Response,
        gave_up: Option<String>,
    ) -> object_store::Error {
        let status = response.status();
        let headers = response.headers();
        let code = header_text(headers, "x-error-code");
        let message = header_text(headers, "x-error-message");
        let path = location.as_ref();
        let token = self.inner.client.has_token();
        let repo = &self.repo;
        let what = match (status.as_u16(), code.as_deref()) {
            (404, Some("EntryNotFound")) | (404, None) => format!("no file {}", self.name(path)),
            (404, Some("RevisionNotFound")) => {
                format!("no revision {} in {repo}", self.revision)
            }
            (401 | 404, Some("RepoNotFound")) if token => format!(
                "{repo} does not exist, or the token (HF_TOKEN or the token file) has no access to it"
            ),
            (401 | 404, Some("RepoNotFound")) => format!(
                "{repo} does not exist, or it is private or gated and needs a token: set HF_TOKEN, or log in (the token file under HF_HOME)"
            ),
            (401, _) if token => format!("{repo}: the token (HF_TOKEN or the token file) was refused"),
            (401 | 403, _) if !token => format!(
                "{repo} is gated or private and needs a token: set HF_TOKEN, or log in (the token file under HF_HOME)"
            ),
            (403, _) => format!(
                "{repo}: the token has no access to it (for a gated repository, ask for access on its page)"
            ),
            (429, _) => format!(
                "rate limited by the Hub reading {}, {}",
                self.name(path),
                gave_up.as_deref().unwrap_or("not retried")
            ),
            (500 | 502 | 503 | 504, _) => format!(
                "the server failed reading {}, {}",
                self.name(path),
                gave_up.as_deref().unwrap_or("not retried")
            ),
            (416, _) => format!("the range asked of {} is past its end", self.name(path)),
            _ => format!("reading {}", self.name(path)),
        };
        let error = HubError::Status {
            status: status.as_u16(),
            code,
            message,
            what,
        };
        let path = path.to_owned();
        match status.as_u16() {
            404 => object_store::Error::NotFound {
                path,
                source: Box::new(error),
            },
            401 => object_store::Error::Unauthenticated {
                path,
                source: Box::new(error),
            },
            403 => object_store::Error::PermissionDenied {
                path,
                source: Box::new(error),
            },
            _ => generic(error),
        }
    }

    async fn get_cached(
        &self,
        file: PathBuf,
        location: &Path,
        options: GetOptions,
    ) -> StoreResult<GetResult> {
        let etag = blob_etag(&file);
        if let (Some(want), Some(got)) = (&options.if_match, &etag) {
            if bare_etag(want) != *got {
                return Err(precondition(
                    location,
                    format!(
                        "the cached {} has ETag {got}, {want} when first read",
                        self.name(location.as_ref())
                    ),
                ));
            }
        }
        let inner = self.inner.clone();
        let asked = options.range.clone();
        let head = options.head;
        let named = self.name(location.as_ref());
        let read =
            tokio::task::spawn_blocking(move || read_file(&file, asked.as_ref(), head, &named))
                .await
                .map_err(|e| generic(HubError::Protocol(format!("a cache read stopped: {e}"))))?;
        let (bytes, range, size) = read.map_err(generic)?;
        Counters::add(&inner.client.counters.cache_reads, 1);
        Counters::add(&inner.client.counters.cache_bytes, bytes.len() as u64);
        let payload = if head {
            stream::empty().boxed()
        } else {
            stream::once(async move { Ok(bytes::Bytes::from(bytes)) }).boxed()
        };
        Ok(get_result(location, payload, range, size, etag))
    }
}

/// A read's result: `payload`, bytes `range` of the file at `location`,
/// which has `size` bytes and ETag `etag`.
fn get_result(
    location: &Path,
    payload: BoxStream<'static, StoreResult<bytes::Bytes>>,
    range: Range<u64>,
    size: u64,
    etag: Option<String>,
) -> GetResult {
    GetResult {
        payload: GetResultPayload::Stream(payload),
        meta: ObjectMeta {
            location: location.clone(),
            last_modified: Default::default(),
            size,
            e_tag: etag,
            version: None,
        },
        range,
        attributes: Default::default(),
        extensions: Default::default(),
    }
}

/// A cached file's bytes in `asked` (all of it without a range; nothing
/// for `head`), the range they are, and the file's size.
fn read_file(
    file: &std::path::Path,
    asked: Option<&GetRange>,
    head: bool,
    named: &str,
) -> Result<(Vec<u8>, Range<u64>, u64), HubError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e: std::io::Error| {
        HubError::Protocol(format!(
            "reading the cached {named} ({}): {e}",
            file.display()
        ))
    };
    let mut f = std::fs::File::open(file).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let range = match asked {
        None => 0..size,
        Some(GetRange::Bounded(r)) if r.start < size && r.start < r.end => r.start..r.end.min(size),
        Some(GetRange::Offset(o)) if *o < size => *o..size,
        Some(GetRange::Suffix(n)) if *n > 0 => size.saturating_sub(*n)..size,
        Some(_) if head => 0..size,
        Some(r) => {
            return Err(HubError::Protocol(format!(
                "the range {r:?} is not in the cached {named} of {size} bytes"
            )))
        }
    };
    if head {
        return Ok((Vec::new(), range, size));
    }
    let len = usize::try_from(range.end - range.start)
        .map_err(|_| HubError::Protocol(format!("a range of {named} too large for memory")))?;
    let mut buf = vec![0u8; len];
    f.seek(SeekFrom::Start(range.start)).map_err(io)?;
    f.read_exact(&mut buf).map_err(io)?;
    Ok((buf, range, size))
}

/// `Range: bytes=...` for an object_store range.
fn range_header(range: &GetRange) -> String {
    match range {
        GetRange::Bounded(r) => format!("bytes={}-{}", r.start, r.end.saturating_sub(1)),
        GetRange::Offset(o) => format!("bytes={o}-"),
        GetRange::Suffix(n) => format!("bytes=-{n}"),
    }
}

/// Whether a range asked for is all of an object of `size` bytes.
fn covers_whole(asked: &GetRange, size: u64) -> bool {
    match asked {
        GetRange::Bounded(r) => r.start == 0 && r.end >= size,
        GetRange::Offset(o) => *o == 0,
        GetRange::Suffix(n) => *n >= size,
    }
}

/// The answer's body as a stream, its bytes counted: at most `budget`
/// bytes (the range answered); a server sending more is refused at once,
/// before the bytes are kept.
fn body(
    response: reqwest::Response,
    inner: Arc<Inner>,
    location: Path,
    budget: u64,
) -> BoxStream<'static, StoreResult<bytes::Bytes>> {
    stream::unfold(Some((response, budget)), move |state| {
        let inner = inner.clone();
        let location = location.clone();
        async move {
            let (mut response, left) = state?;
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let n = chunk.len() as u64;
                    Counters::add(&inner.client.counters.bytes, n);
                    match left.checked_sub(n) {
                        Some(left) => Some((Ok(chunk), Some((response, left)))),
                        None => {
                            let text = format!(
                                "{} sent more than the {budget} bytes it answered with ({location})",
                                shown(response.url())
                            );
                            Some((Err(generic(HubError::Protocol(text))), None))
                        }
                    }
                }
                Ok(None) if left == 0 => None,
                Ok(None) => {
                    let text = format!(
                        "{} ended after {} of the {budget} bytes it answered with ({location})",
                        shown(response.url()),
                        budget - left
                    );
                    Some((Err(generic(HubError::Protocol(text))), None))
                }
                Err(error) => {
                    let url = format!("{} ({location})", shown(response.url()));
                    let error = Box::new(error.without_url());
                    Some((Err(generic(HubError::Transport { url, error })), None))
                }
            }
        }
    })
    .boxed()
}

/// The range `asked` of an object of `size` bytes, cut at its end, as a
/// server must answer it (`None` if no byte of it exists).
fn clamp(asked: &GetRange, size: u64) -> Option<Range<u64>> {
    let r = match asked {
        GetRange::Bounded(r) => r.start..r.end.min(size),
        GetRange::Offset(o) => *o..size,
        GetRange::Suffix(n) => size.saturating_sub(*n)..size,
    };
    (r.start < r.end).then_some(r)
}

fn generic(error: HubError) -> object_store::Error {
    object_store::Error::Generic {
        store: "Hugging Face Hub",
        source: Box::new(error),
    }
}

fn not_found(location: &Path, error: HubError) -> object_store::Error {
    object_store::Error::NotFound {
        path: location.to_string(),
        source: Box::new(error),
    }
}

fn precondition(location: &Path, text: String) -> object_store::Error {
    object_store::Error::Precondition {
        path: location.to_string(),
        source: Box::new(HubError::Protocol(text)),
    }
}

fn read_only(operation: &str) -> object_store::Error {
    object_store::Error::NotImplemented {
        operation: operation.to_owned(),
        implementer: "HubStore (read only)".to_owned(),
    }
}

impl fmt::Display for HubStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HubStore({}@{})", self.repo, self.revision_said())
    }
}

impl fmt::Debug for HubStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubStore")
            .field("repo", &self.repo.to_string())
            .field("revision", &self.revision)
            .field("commit", &self.commit.get())
            .field("cache", &self.cache_folder())
            .finish()
    }
}

#[async_trait::async_trait]
impl ObjectStore for HubStore {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> StoreResult<PutResult> {
        Err(read_only("put"))
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> StoreResult<Box<dyn MultipartUpload>> {
        Err(read_only("put_multipart"))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> StoreResult<GetResult> {
        match self.cached(location.as_ref()) {
            Some(file) => self.get_cached(file, location, options).await,
            None => self.get_network(location, options).await,
        }
    }

    fn delete_stream(
        &self,
        _: BoxStream<'static, StoreResult<Path>>,
    ) -> BoxStream<'static, StoreResult<Path>> {
        stream::once(async { Err(read_only("delete")) }).boxed()
    }

    fn list(&self, _: Option<&Path>) -> BoxStream<'static, StoreResult<ObjectMeta>> {
        stream::once(async { Err(read_only("list")) }).boxed()
    }

    async fn list_with_delimiter(&self, _: Option<&Path>) -> StoreResult<ListResult> {
        Err(read_only("list_with_delimiter"))
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> StoreResult<()> {
        Err(read_only("copy"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_range_headers() {
        assert_eq!(range_header(&GetRange::Bounded(0..100)), "bytes=0-99");
        assert_eq!(range_header(&GetRange::Offset(7)), "bytes=7-");
        assert_eq!(range_header(&GetRange::Suffix(9)), "bytes=-9");
        assert!(covers_whole(&GetRange::Bounded(0..100), 100));
        assert!(covers_whole(&GetRange::Bounded(0..200), 100));
        assert!(!covers_whole(&GetRange::Bounded(1..200), 100));
        assert!(!covers_whole(&GetRange::Bounded(0..99), 100));
    }

    #[test]
    fn cached_reads_cut_the_range_asked() {
        let dir = std::env::temp_dir().join(format!("tensorsafe-hub-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, (0..10u8).collect::<Vec<_>>()).unwrap();
        let read = |r: Option<GetRange>| read_file(&file, r.as_ref(), false, "f");
        assert_eq!(read(None).unwrap(), ((0..10).collect(), 0..10, 10));
        assert_eq!(
            read(Some(GetRange::Bounded(2..5))).unwrap(),
            (vec![2, 3, 4], 2..5, 10)
        );
        assert_eq!(
            read(Some(GetRange::Bounded(8..100))).unwrap(),
            (vec![8, 9], 8..10, 10)
        );
        assert_eq!(
            read(Some(GetRange::Suffix(3))).unwrap(),
            (vec![7, 8, 9], 7..10, 10)
        );
        assert_eq!(
            read(Some(GetRange::Offset(9))).unwrap(),
            (vec![9], 9..10, 10)
        );
        assert!(read(Some(GetRange::Bounded(10..12))).is_err());
        assert!(read(Some(GetRange::Bounded(3..3))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
