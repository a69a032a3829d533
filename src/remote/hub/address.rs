//! `hf://` addresses: a repository on the Hub, a revision, a file.

use std::format;
use std::prelude::rust_2021::*;

use core::fmt;
use core::str::FromStr;

use crate::error::{Error, Result};

/// What kind of repository an address names. Models are the default;
/// `hf://datasets/...` and `hf://spaces/...` name the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RepoType {
    /// A model (`hf://ORG/NAME`).
    Model,
    /// A dataset (`hf://datasets/ORG/NAME`).
    Dataset,
    /// A Space (`hf://spaces/ORG/NAME`).
    Space,
}

impl RepoType {
    /// The plural the Hub's URLs and its cache use (`models`, `datasets`,
    /// `spaces`).
    pub fn plural(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
        }
    }
}

/// A file or a checkpoint on the Hub: `hf://[datasets/|spaces/]ORG/NAME[@REVISION][/PATH]`,
/// as huggingface_hub's `HfFileSystem` spells them.
///
/// - The revision is a branch, a tag or a commit (default `main`). One
///   with slashes is written percent-encoded (`@refs%2Fpr%2F1`); the Hub's
///   own `refs/pr/N` and `refs/convert/NAME` may also be written plainly.
/// - Without a path the address names the repository's checkpoint, found
///   as [`Hub::open`](super::Hub::open) says.
///
/// ```
/// use tensorsafe::remote::hub::{HubAddress, RepoType};
/// let a: HubAddress = "hf://meta-llama/Llama-3.1-8B@v1.0/model.safetensors.index.json".parse()?;
/// assert_eq!((a.repo_id(), a.revision(), a.path()), ("meta-llama/Llama-3.1-8B", Some("v1.0"), Some("model.safetensors.index.json")));
/// let d: HubAddress = "hf://datasets/org/data@refs/pr/3".parse()?;
/// assert_eq!((d.repo_type(), d.revision(), d.path()), (RepoType::Dataset, Some("refs/pr/3"), None));
/// assert_eq!(d.to_string(), "hf://datasets/org/data@refs%2Fpr%2F3");
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HubAddress {
    repo_type: RepoType,
    repo_id: String,
    revision: Option<String>,
    path: Option<String>,
}

/// The scheme, with its `://`.
pub const SCHEME: &str = "hf://";

impl HubAddress {
    /// A repository at a revision (`None`: the default branch), and a file
    /// in it (`None`: its checkpoint). The parts are checked as
    /// [`parse`](str::parse) checks them.
    pub fn new(
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
        path: Option<&str>,
    ) -> Result<Self> {
        let at = || repo_id.to_owned();
        check_repo_id(repo_id).map_err(|d| invalid(&at(), d))?;
        if let Some(r) = revision {
            check_revision(r).map_err(|d| invalid(&at(), d))?;
        }
        if let Some(p) = path {
            check_path(p).map_err(|d| invalid(&at(), d))?;
        }
        Ok(HubAddress {
            repo_type,
            repo_id: repo_id.to_owned(),
            revision: revision.map(str::to_owned),
            path: path.map(str::to_owned),
        })
    }

    /// Whether `text` starts with `hf://`.
    pub fn is_hub(text: &str) -> bool {
        text.get(..SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
    }

    /// The kind of repository.
    pub fn repo_type(&self) -> RepoType {
        self.repo_type
    }

    /// `ORG/NAME`.
    pub fn repo_id(&self) -> &str {
        &self.repo_id
    }

    /// The revision the address names, if any (`None` is `main`).
    pub fn revision(&self) -> Option<&str> {
        self.revision.as_deref()
    }

    /// The file in the repository, if the address names one.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The same repository and revision, naming file `path`.
    pub fn with_path(&self, path: &str) -> Result<Self> {
        check_path(path).map_err(|d| invalid(&self.to_string(), d))?;
        Ok(HubAddress {
            path: Some(path.to_owned()),
            ..self.clone()
        })
    }

    /// The same repository and file at revision `revision` (a commit, say).
    pub fn with_revision(&self, revision: &str) -> Result<Self> {
        check_revision(revision).map_err(|d| invalid(&self.to_string(), d))?;
        Ok(HubAddress {
            revision: Some(revision.to_owned()),
            ..self.clone()
        })
    }

    /// The repository's name in the Hub's URLs: `ORG/NAME`, with
    /// `datasets/` or `spaces/` before it for those.
    pub(crate) fn url_prefix(&self) -> String {
        match self.repo_type {
            RepoType::Model => self.repo_id.clone(),
            other => format!("{}/{}", other.plural(), self.repo_id),
        }
    }

    /// The repository's folder in the Hub cache: `models--ORG--NAME`.
    pub(crate) fn cache_folder(&self) -> String {
        format!(
            "{}--{}",
            self.repo_type.plural(),
            self.repo_id.replace('/', "--")
        )
    }
}

impl fmt::Display for HubAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCHEME)?;
        if self.repo_type != RepoType::Model {
            write!(f, "{}/", self.repo_type.plural())?;
        }
        f.write_str(&self.repo_id)?;
        if let Some(r) = &self.revision {
            write!(f, "@{}", encode(r, false))?;
        }
        if let Some(p) = &self.path {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

impl FromStr for HubAddress {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        if !HubAddress::is_hub(text) {
            return Err(invalid(text, "does not start with hf://".into()));
        }
        parse(&text[SCHEME.len()..]).map_err(|d| invalid(text, d))
    }
}

fn parse(rest: &str) -> core::result::Result<HubAddress, String> {
    let mut parts = rest.split('/').peekable();
    let repo_type = match parts.peek().copied() {
        Some("datasets") => RepoType::Dataset,
        Some("spaces") => RepoType::Space,
        Some("models") => RepoType::Model,
        _ => RepoType::Model,
    };
    if matches!(
        parts.peek().copied(),
        Some("datasets" | "spaces" | "models")
    ) {
        parts.next();
    }
    let org = parts.next().unwrap_or_default();
    let name_rev = parts
        .next()
        .ok_or_else(|| "needs ORG/NAME (a repository id with its owner)".to_owned())?;
    let (name, mut revision) = match name_rev.split_once('@') {
        Some((n, r)) => (n, Some(decode(r)?)),
        None => (name_rev, None),
    };
    // `@refs/pr/N` and `@refs/convert/NAME`, written without encoding.
    if revision.as_deref() == Some("refs") {
        let kind = parts.next().unwrap_or_default();
        let id = parts.next().unwrap_or_default();
        if !matches!(kind, "pr" | "convert") || id.is_empty() {
            return Err(
                "a revision `refs/...` must be refs/pr/N or refs/convert/NAME (or percent-encoded)"
                    .into(),
            );
        }
        revision = Some(format!("refs/{kind}/{id}"));
    }
    let repo_id = format!("{org}/{name}");
    check_repo_id(&repo_id)?;
    if let Some(r) = &revision {
        check_revision(r)?;
    }
    let rest: Vec<&str> = parts.collect();
    let path = match rest.as_slice() {
        [] | [""] => None,
        _ => {
            let path = rest.join("/");
            check_path(&path)?;
            Some(path)
        }
    };
    Ok(HubAddress {
        repo_type,
        repo_id,
        revision,
        path,
    })
}

fn invalid(text: &str, detail: String) -> Error {
    Error::from(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("not a Hub address ({SCHEME}ORG/NAME[@REVISION][/PATH]): {detail}"),
    ))
    .in_file(std::path::Path::new(text))
}

/// `ORG/NAME`: two non-empty names of letters, digits, `-`, `_` and `.`,
/// neither `.` nor `..`, at most 96 characters each (the Hub's rule).
fn check_repo_id(id: &str) -> core::result::Result<(), String> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 96
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match id.split_once('/') {
        Some((org, name)) if ok(org) && ok(name) => Ok(()),
        _ => Err(format!(
            "{id:?} is not a repository id (ORG/NAME, letters, digits, '-', '_', '.')"
        )),
    }
}

fn check_revision(rev: &str) -> core::result::Result<(), String> {
    let bad = rev.is_empty()
        || rev.len() > 256
        || rev
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        || rev
            .chars()
            .any(|c| c.is_control() || matches!(c, '\\' | ':'));
    if bad {
        Err(format!("{rev:?} is not a revision"))
    } else {
        Ok(())
    }
}

/// A path in a repository: segments that are not empty, `.` or `..`, no
/// backslashes or control characters (it becomes a path in the cache).
fn check_path(path: &str) -> core::result::Result<(), String> {
    let bad = path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
        || path.chars().any(|c| c.is_control() || c == '\\');
    if bad {
        Err(format!("{path:?} is not a file in a repository"))
    } else {
        Ok(())
    }
}

/// Percent-decodes `text` (`%2F` is `/`).
fn decode(text: &str) -> core::result::Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| core::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} decodes to bytes that are not UTF-8"))
}

/// Percent-encodes everything but unreserved characters (and `/` when
/// `keep_slash`), as the Hub's clients quote revisions and paths in URLs.
pub(crate) fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        let plain = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/');
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn parts(text: &str) -> (RepoType, String, Option<String>, Option<String>) {
        let a: HubAddress = text.parse().unwrap();
        (a.repo_type, a.repo_id, a.revision, a.path)
    }

    #[test]
    fn addresses_parse_and_print_back() {
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(
            parts("hf://org/name"),
            (RepoType::Model, "org/name".into(), None, None)
        );
        assert_eq!(
            parts("hf://org/name/"),
            (RepoType::Model, "org/name".into(), None, None)
        );
        assert_eq!(
            parts("hf://org/name@v1/sub/model.safetensors"),
            (
                RepoType::Model,
                "org/name".into(),
                s("v1"),
                s("sub/model.safetensors")
            )
        );
        assert_eq!(
            parts("hf://datasets/org/name@refs%2Fpr%2F7/a.safetensors"),
            (
                RepoType::Dataset,
                "org/name".into(),
                s("refs/pr/7"),
                s("a.safetensors")
            )
        );
        assert_eq!(
            parts("hf://org/name@refs/pr/7/a.safetensors"),
            (
                RepoType::Model,
                "org/name".into(),
                s("refs/pr/7"),
                s("a.safetensors")
            )
        );
        assert_eq!(parts("hf://spaces/o/n").0, RepoType::Space);
        for text in [
            "hf://org/name",
            "hf://datasets/org/name@refs%2Fpr%2F7/a.safetensors",
            "hf://o-1/n.2_x@0123456789abcdef0123456789abcdef01234567/x/y.json",
        ] {
            let a: HubAddress = text.parse().unwrap();
            assert_eq!(a.to_string(), text);
            assert_eq!(a.to_string().parse::<HubAddress>().unwrap(), a);
        }
    }

    #[test]
    fn bad_addresses_are_refused_with_the_reason() {
        for text in [
            "s3://org/name",
            "hf://",
            "hf://org",
            "hf://org/",
            "hf:///name",
            "hf://org/na me",
            "hf://org/name@",
            "hf://org/name@%zz",
            "hf://org/name@refs/heads",
            "hf://org/name/../x",
            "hf://org/name/a//b",
            "hf://org/../name",
            "hf://org/name/a\\b",
            "hf://org/name@C:x",
        ] {
            let e = text.parse::<HubAddress>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Io, "{text}");
            assert_eq!(e.path(), Some(std::path::Path::new(text)), "{text}");
            let said = e.to_string();
            assert_eq!(said.matches("not a Hub address").count(), 1, "{text}: {e}");
        }
    }

    #[test]
    fn urls_and_cache_folders() {
        let a: HubAddress = "hf://datasets/org/name".parse().unwrap();
        assert_eq!(a.url_prefix(), "datasets/org/name");
        assert_eq!(a.cache_folder(), "datasets--org--name");
        let m: HubAddress = "hf://org/name".parse().unwrap();
        assert_eq!(
            (m.url_prefix().as_str(), m.cache_folder().as_str()),
            ("org/name", "models--org--name")
        );
        assert_eq!(encode("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(
            encode("a b/c#d.safetensors", true),
            "a%20b/c%23d.safetensors"
        );
    }
}
