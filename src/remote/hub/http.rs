//! The HTTP the Hub speaks: resolve addresses answered by a redirect to a
//! signed CDN address (followed by hand, `Range` kept, `Authorization`
//! sent to the Hub's own origin only), rate limits retried after the wait
//! the Hub asks for, and the Hub's errors told apart by status and
//! `X-Error-Code`.

use std::format;
use std::prelude::rust_2021::*;

use core::fmt;
use core::time::Duration;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, LOCATION, RANGE};
use reqwest::{Method, StatusCode, Url};

use super::HubConfig;

/// Redirects followed for one read (the Hub takes one, two for a renamed
/// repository).
const MAX_REDIRECTS: usize = 5;

/// Retries of a request that got no answer (a wrong endpoint should
/// fail fast; a rate limit is worth waiting for).
const TRANSPORT_RETRIES: u32 = 2;

/// The longest doubling wait when an answer asks for none (as
/// huggingface_hub waits).
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Requests and bytes on the wire, and reads served from the cache.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hub_requests: AtomicU64,
    pub(crate) cdn_requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) cache_reads: AtomicU64,
    pub(crate) cache_bytes: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Why a Hub read failed: the error inside the [`std::io::Error`] of a
/// [`crate::Error`] from a Hub read ([`HubError::of`]), so that code can
/// tell a missing token from a missing file or a rate limit.
///
/// ```
/// # fn f(e: tensorsafe::Error) {
/// use tensorsafe::remote::hub::HubError;
/// match HubError::of(&e) {
///     Some(HubError::Status { status: 401 | 403, .. }) => eprintln!("a token is needed: {e}"),
///     Some(HubError::NotCached(_)) => eprintln!("offline, not in the cache: {e}"),
///     _ => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum HubError {
    /// An HTTP status the read cannot go on from, with what the Hub said.
    Status {
        /// The HTTP status.
        status: u16,
        /// `X-Error-Code` (`EntryNotFound`, `RevisionNotFound`,
        /// `RepoNotFound`, `GatedRepo`, ...).
        code: Option<String>,
        /// `X-Error-Message`.
        message: Option<String>,
        /// What failed, for people.
        what: String,
    },
    /// The request got no answer (refused, timed out, broken off).
    Transport {
        /// Where it went.
        url: String,
        /// The HTTP client's error.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Something the Hub (or its CDN) answered does not add up.
    Protocol(String),
    /// Offline (or told to read the cache only), and the cache does not
    /// hold what is needed.
    NotCached(String),
}

impl HubError {
    /// The Hub's error behind `e`, if `e` came from a Hub read.
    pub fn of(e: &crate::Error) -> Option<&HubError> {
        e.io_error()?.get_ref()?.downcast_ref::<HubError>()
    }
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HubError::Status {
                status,
                code,
                message,
                what,
            } => {
                write!(f, "{what} (HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, ", {code}")?;
                }
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                f.write_str(")")
            }
            HubError::Transport { url, error } => {
                write!(f, "no answer from {url}: {error}")?;
                let mut source = error.source();
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                Ok(())
            }
            HubError::Protocol(text) | HubError::NotCached(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for HubError {}

/// What the resolve answer (the Hub's, before any redirect to the CDN)
/// says about the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    /// `X-Repo-Commit`: the commit the revision resolved to.
    pub(crate) commit: Option<String>,
    /// `X-Linked-Etag` (LFS files), else `ETag`, without quotes.
    pub(crate) etag: Option<String>,
    /// `X-Linked-Size` (LFS files).
    pub(crate) size: Option<u64>,
}

/// The last answer of a read, and what the resolve answer said.
pub(crate) struct Answer {
    pub(crate) response: reqwest::Response,
    pub(crate) resolved: Resolved,
    /// Set when the answer is a rate limit or server error that was not
    /// retried further, and why.
    pub(crate) gave_up: Option<String>,
}

/// A client bound to one endpoint: its origin gets the token.
#[derive(Debug)]
pub(crate) struct Client {
    client: reqwest::Client,
    endpoint: Url,
    /// `Bearer TOKEN`, marked sensitive (never printed).
    token: Option<HeaderValue>,
    max_retries: u32,
    max_wait: Duration,
    pub(crate) counters: Counters,
}

impl Client {
    pub(crate) fn new(config: &HubConfig) -> Result<Self, HubError> {
        let endpoint = Url::parse(&config.endpoint).map_err(|e| {
            HubError::Protocol(format!(
                "HF_ENDPOINT {:?} is not a URL: {e}",
                config.endpoint
            ))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(HubError::Protocol(format!(
                "HF_ENDPOINT {:?} is not an http(s) URL",
                config.endpoint
            )));
        }
        let client = reqwest::Client::builder()
            // Redirects are followed by hand: the resolve answer's headers
            // are wanted, and the token must not leave the Hub's origin.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("tensorsafe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| HubError::Transport {
                url: config.endpoint.clone(),
                error: Box::new(error),
            })?;
        let token = match &config.token {
            None => None,
            Some(t) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    HubError::Protocol(
                        "the token (HF_TOKEN or the token file) holds characters a header cannot carry (a line break?)".to_owned(),
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Client {
            client,
            endpoint,
            token,
            max_retries: config.max_retries,
            max_wait: config.max_retry_wait,
            counters: Counters::default(),
        })
    }

    /// Whether a token is sent to the Hub.
    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `{endpoint}/{tail}`.
    pub(crate) fn url(&self, tail: &str) -> Result<Url, HubError> {
        let base = self.endpoint.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/{tail}"))
            .map_err(|e| HubError::Protocol(format!("cannot make a URL of {base}/{tail}: {e}")))
    }

    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.endpoint.scheme()
            && url.host_str() == self.endpoint.host_str()
            && url.port_or_known_default() == self.endpoint.port_or_known_default()
    }

    /// A GET (or HEAD) of `url` with `range`, following redirects. A HEAD
    /// stops at the resolve answer (the first carrying `X-Repo-Commit`),
    /// as the Hub's clients read a file's metadata.
    pub(crate) async fn send(
        &self,
        url: Url,
        head: bool,
        range: Option<String>,
    ) -> Result<Answer, HubError> {
        let method = if head { Method::HEAD } else { Method::GET };
        let mut url = url;
        let mut resolved: Option<Resolved> = None;
        let mut budget = Budget::default();
        for _ in 0..=MAX_REDIRECTS {
            let response = self
                .send_once(&url, &method, range.as_deref(), &mut budget)
                .await?;
            let headers = response.headers();
            // Only the Hub's own answers say which commit and file this is:
            // a CDN's headers are not taken for them.
            if resolved.is_none() && self.same_origin(&url) && headers.contains_key("x-repo-commit")
            {
                let found = resolved_from(headers);
                if !found.commit.as_deref().is_some_and(super::cache::is_commit) {
                    // An error answer's headers are not relied on; a file's
                    // must be right.
                    let status = response.status();
                    if status.is_success() || status.is_redirection() {
                        return Err(HubError::Protocol(format!(
                            "{} answered with X-Repo-Commit {:?}, not a commit id",
                            shown(&url),
                            found.commit.unwrap_or_default()
                        )));
                    }
                    return Ok(Answer {
                        response,
                        resolved: Resolved::default(),
                        gave_up: budget.gave_up,
                    });
                }
                resolved = Some(found);
                if head {
                    return Ok(Answer {
                        response,
                        resolved: resolved.unwrap_or_default(),
                        gave_up: budget.gave_up,
                    });
                }
            }
            if !response.status().is_redirection() {
                return Ok(Answer {
                    response,
                    resolved: resolved.unwrap_or_default(),
                    gave_up: budget.gave_up,
                });
            }
            let location = headers
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| {
                    HubError::Protocol(format!(
                        "{} answered {} without a Location",
                        shown(&url),
                        response.status()
                    ))
                })?;
            url = url.join(location).map_err(|e| {
                let location = location.split('?').next().unwrap_or_default();
                HubError::Protocol(format!("{} redirected to {location:?}: {e}", shown(&url)))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(HubError::Protocol(format!(
                    "a redirect to {}, not http(s)",
                    shown(&url)
                )));
            }
        }
        Err(HubError::Protocol(format!(
            "more than {MAX_REDIRECTS} redirects, the last to {}",
            shown(&url)
        )))
    }

    /// One request, retried (a bounded number of times, within one wait
    /// budget for the whole read) on a rate limit, a server error or no
    /// answer, after the wait the server asks for or else a doubling one.
    async fn send_once(
        &self,
        url: &Url,
        method: &Method,
        range: Option<&str>,
        budget: &mut Budget,
    ) -> Result<reqwest::Response, HubError> {
        let own = self.same_origin(url);
        loop {
            let mut request = self.client.request(method.clone(), url.clone());
            if let Some(range) = range {
                request = request.header(RANGE, range);
            }
            if let (true, Some(token)) = (own, &self.token) {
                request = request.header(AUTHORIZATION, token.clone());
            }
            Counters::add(
                if own {
                    &self.counters.hub_requests
                } else {
                    &self.counters.cdn_requests
                },
                1,
            );
            let attempt = budget.retries;
            let wait = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let again = status == StatusCode::TOO_MANY_REQUESTS
                        || matches!(status.as_u16(), 500 | 502 | 503 | 504);
                    if !again {
                        return Ok(response);
                    }
                    if attempt >= self.max_retries {
                        budget.gave_up = Some(format!("after {attempt} retries"));
                        return Ok(response);
                    }
                    let wait = asked_wait(response.headers())
                        .unwrap_or_else(|| backoff(attempt, self.max_wait));
                    // Waiting past the budget would only fail later.
                    if budget.waited.saturating_add(wait) > self.max_wait {
                        budget.gave_up = Some(format!(
                            "after {attempt} retries: the next wait, {} s, would pass the {} s allowed (HubConfig::max_retry_wait)",
                            wait.as_secs(),
                            self.max_wait.as_secs()
                        ));
                        return Ok(response);
                    }
                    wait
                }
                // A refused connection or a timeout may pass; twice at
                // most, so that a wrong endpoint fails within seconds.
                Err(error)
                    if (error.is_connect() || error.is_timeout())
                        && attempt < self.max_retries.min(TRANSPORT_RETRIES)
                        && budget
                            .waited
                            .saturating_add(backoff(attempt, self.max_wait))
                            <= self.max_wait =>
                {
                    backoff(attempt, self.max_wait)
                }
                Err(error) => {
                    return Err(HubError::Transport {
                        url: shown(url),
                        error: Box::new(error.without_url()),
                    })
                }
            };
            budget.retries += 1;
            budget.waited = budget.waited.saturating_add(wait);
            Counters::add(&self.counters.retries, 1);
            tokio::time::sleep(wait).await;
        }
    }
}

/// Retries and waits so far for one read (all its redirects).
#[derive(Debug, Default)]
struct Budget {
    retries: u32,
    waited: Duration,
    /// Why retrying stopped while the answer still asked for one.
    gave_up: Option<String>,
}

/// 1 s, 2 s, 4 s, 8 s, 8 s, ..., at most `max`.
fn backoff(attempt: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << attempt.min(16))
        .min(MAX_BACKOFF)
        .min(max)
}

/// The wait a 429 or 503 asks for: `Retry-After` in seconds, or the
/// reset time (`t=`) of the `RateLimit` header (`"api";r=0;t=55`), or a
/// plain `RateLimit-Reset`.
pub(crate) fn asked_wait(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(secs) = text("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if let Some(limit) = text("ratelimit") {
        let reset = limit
            .split([';', ','])
            .filter_map(|p| p.trim().strip_prefix("t="))
            .filter_map(|t| t.trim().parse::<u64>().ok())
            .max();
        if let Some(secs) = reset {
            return Some(Duration::from_secs(secs));
        }
    }
    text("ratelimit-reset")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// `url` as errors show it: without its query, which for a CDN address is
/// a signature that grants access to the file until it expires.
pub(crate) fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// A tag without `W/` and quotes.
pub(crate) fn bare_etag(tag: &str) -> String {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.trim_matches('"').to_owned()
}

fn resolved_from(headers: &HeaderMap) -> Resolved {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    Resolved {
        commit: text("x-repo-commit").map(|c| c.trim().to_owned()),
        etag: text("x-linked-etag")
            .or_else(|| text("etag"))
            .map(bare_etag),
        size: text("x-linked-size").and_then(|s| s.trim().parse().ok()),
    }
}

/// `Content-Range: bytes A-B/SIZE`: the range `A..B+1` and the size
/// (`None` for `*`).
pub(crate) fn content_range(headers: &HeaderMap) -> Option<(core::ops::Range<u64>, Option<u64>)> {
    let text = headers.get("content-range")?.to_str().ok()?;
    let rest = text.trim().strip_prefix("bytes ")?;
    let (span, size) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    let end = b.checked_add(1).filter(|&e| e > a)?;
    let size = match size.trim() {
        "*" => None,
        s => Some(s.parse::<u64>().ok().filter(|&s| s >= end)?),
    };
    Some((a..end, size))
}

/// The text of header `name`.
pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn waits_come_from_retry_after_or_ratelimit() {
        assert_eq!(
            asked_wait(&headers(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            asked_wait(&headers(&[("ratelimit", "\"resolvers\";r=0;t=17")])),
            Some(Duration::from_secs(17))
        );
        assert_eq!(
            asked_wait(&headers(&[("ratelimit-reset", "9")])),
            Some(Duration::from_secs(9))
        );
        // A date is not understood: the doubling wait applies.
        assert_eq!(
            asked_wait(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            None
        );
        assert_eq!(asked_wait(&headers(&[])), None);
        assert_eq!(backoff(0, Duration::from_secs(8)), Duration::from_secs(1));
        assert_eq!(backoff(3, Duration::from_secs(300)), Duration::from_secs(8));
        assert_eq!(
            backoff(40, Duration::from_secs(300)),
            Duration::from_secs(8)
        );
        assert_eq!(backoff(2, Duration::from_secs(3)), Duration::from_secs(3));
    }

    #[test]
    fn content_ranges_are_checked() {
        let r = |v: &'static str| content_range(&headers(&[("content-range", v)]));
        assert_eq!(r("bytes 0-99/1000"), Some((0..100, Some(1000))));
        assert_eq!(r("bytes 5-5/*"), Some((5..6, None)));
        assert_eq!(r("bytes 10-5/100"), None);
        assert_eq!(r("bytes 0-99/50"), None);
        assert_eq!(r("bytes 0-18446744073709551615/5"), None);
        assert_eq!(r("items 0-1/2"), None);
        assert_eq!(bare_etag("W/\"abc\""), "abc");
        assert_eq!(bare_etag("\"abc\""), "abc");
    }

    #[test]
    fn a_token_a_header_cannot_carry_is_refused_up_front() {
        let config = HubConfig {
            token: Some("hf_a\nb".into()),
            ..HubConfig::default()
        };
        let e = Client::new(&config).unwrap_err();
        assert!(e.to_string().contains("line break"), "{e}");
        let config = HubConfig {
            token: Some("hf_fine".into()),
            ..HubConfig::default()
        };
        let client = Client::new(&config).unwrap();
        assert!(client.token.as_ref().unwrap().is_sensitive());
    }

    #[test]
    fn the_token_goes_to_the_endpoints_origin_only() {
        let config = HubConfig {
            endpoint: "http://127.0.0.1:8080/".into(),
            token: Some("t".into()),
            ..HubConfig::default()
        };
        let client = Client::new(&config).unwrap();
        let own = |u: &str| client.same_origin(&Url::parse(u).unwrap());
        assert!(own("http://127.0.0.1:8080/org/name/resolve/main/x"));
        assert!(!own("http://127.0.0.1:8081/blobs/x"));
        assert!(!own("https://127.0.0.1:8080/x"));
        assert!(!own("http://localhost:8080/x"));
        let signed = Url::parse("http://cdn.example/blobs/x?Expires=1&Signature=secret#f").unwrap();
        assert_eq!(shown(&signed), "http://cdn.example/blobs/x");
        assert_eq!(
            client.url("org/name/resolve/main/a.json").unwrap().as_str(),
            "http://127.0.0.1:8080/org/name/resolve/main/a.json"
        );
    }
}
