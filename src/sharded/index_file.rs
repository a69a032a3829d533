//! The index file: `{"metadata": {"total_size": N, ...}, "weight_map":
//! {tensor name: shard file name}}`.

use std::format;
use std::prelude::rust_2021::*;

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::header::Header;
use crate::json::emit;
use crate::json::scan::Scanner;

/// The index file name this crate writes, and looks for in a directory.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// Largest index file read: an index lists names and file names only.
pub(crate) const MAX_INDEX_BYTES: u64 = 100_000_000;

/// An index of `len` bytes is read only if it is at most
/// [`MAX_INDEX_BYTES`]: checked before reading it, locally and remotely.
pub(crate) fn check_index_len(len: u64) -> Result<()> {
    if len <= MAX_INDEX_BYTES {
        return Ok(());
    }
    Err(Error::new(ErrorKind::IndexTooLarge).with_detail(format!(
        "{len} bytes; an index holds at most {MAX_INDEX_BYTES}"
    )))
}

/// Whether an object named `name` is read as an index (it ends in
/// `.json`, in any ASCII case, as a local path does) rather than as a
/// `.safetensors` file.
#[cfg(feature = "object-store")]
pub(crate) fn is_index_name(name: &str) -> bool {
    let name = name.as_bytes();
    name.len() >= 5 && name[name.len() - 5..].eq_ignore_ascii_case(b".json")
}

/// The parts of an index file this crate uses.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct IndexFile {
    pub(super) total_size: Option<u64>,
    /// (tensor name, shard file name), in the file's order.
    pub(super) weight_map: Vec<(String, String)>,
}

/// Why `name`, a shard file name from an index, is not a plain file name
/// beside the index on every platform, or `None` if it is one. A checkpoint
/// is portable, so Windows' rules apply everywhere: exactly one normal path
/// component (not empty, `.` or `..`, no `/` or `\`), no drive letter or
/// stream (no `:` anywhere), none of the characters Windows refuses
/// (`<>"|?*` and control characters), no trailing dot or space, and not a
/// device name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9`,
/// `CONIN$`, `CONOUT$`, in any case and with any extension:
/// `nul.safetensors` is the device too).
pub(super) fn file_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Some("not a file name");
    }
    if name.contains(['/', '\\']) {
        return Some("a path, not one file name");
    }
    if name.contains(':') {
        return Some("a drive or stream name (`:`), not a file name");
    }
    if name
        .chars()
        .any(|c| c.is_control() || "<>\"|?*".contains(c))
    {
        return Some("a character that Windows does not allow in file names");
    }
    if name.ends_with(['.', ' ']) {
        return Some("a file name ending in a dot or space, which Windows drops");
    }
    if is_device_name(name) {
        return Some("a device name on Windows, not a file");
    }
    None
}

/// Whether Windows reads `name` as a device: its part before the first dot,
/// trailing spaces ignored, is a reserved name (ASCII case-insensitively;
/// `COM` and `LPT` also take the superscript digits ¹ ² ³).
fn is_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    if ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"].contains(&upper.as_str()) {
        return true;
    }
    let Some(number) = upper
        .strip_prefix("COM")
        .or_else(|| upper.strip_prefix("LPT"))
    else {
        return false;
    };
    let mut chars = number.chars();
    matches!(
        (chars.next(), chars.next()),
        (Some('0'..='9' | '¹' | '²' | '³'), None)
    )
}

/// `PREFIX-NNNNN-of-NNNNN.safetensors`: a shard by its name.
pub(super) fn is_shard_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".safetensors") else {
        return false;
    };
    let five = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = stem.rsplit('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(total), Some("of"), Some(k), Some(_)) if five(total) && five(k)
    )
}

/// The `k`-th of `count` shard names, counting from 1.
pub(super) fn shard_name(k: usize, count: usize) -> String {
    format!("model-{k:05}-of-{count:05}.safetensors")
}

/// Parses an index file's text. Errors are JSON errors, with offsets in
/// the text; the caller classifies them.
pub(super) fn parse(text: &str) -> Result<IndexFile> {
    let mut s = Scanner::new(text, 0);
    let mut index = IndexFile {
        total_size: None,
        weight_map: Vec::new(),
    };
    let mut seen_map = false;
    s.skip_ws();
    if s.peek() != Some(b'{') {
        return Err(s.wrong_type("an object", 0));
    }
    s.object(&[b"\"metadata\"", b"\"weight_map\""], |s, key, _| {
        match key.known {
            Some(0) if s.peek() == Some(b'{') => index.total_size = total_size(s)?,
            Some(1) => {
                seen_map = true;
                weight_map(s, &mut index.weight_map)?;
            }
            _ => s.value(1)?,
        }
        Ok(())
    })?;
    if !s.at_end() {
        return Err(s.error(ErrorKind::TrailingCharacters, "after the index object"));
    }
    if !seen_map {
        return Err(Error::new(ErrorKind::MissingField).with_detail("no \"weight_map\""));
    }
    Ok(index)
}

/// `metadata.total_size`, if the metadata object has it.
fn total_size(s: &mut Scanner<'_>) -> Result<Option<u64>> {
    let mut total = None;
    s.object(&[b"\"total_size\""], |s, key, _| {
        match key.known {
            Some(_) => total = Some(s.integer(2)?),
            None => s.value(2)?,
        }
        Ok(())
    })?;
    Ok(total)
}

/// The `weight_map` object: tensor name to file name.
fn weight_map(s: &mut Scanner<'_>, map: &mut Vec<(String, String)>) -> Result<()> {
    if s.peek() != Some(b'{') {
        return Err(s.wrong_type("an object of tensor name to file name", 1));
    }
    s.object(&[], |s, key, _| {
        let name = s.str_of(&key.text).to_owned();
        if s.peek() != Some(b'"') {
            return Err(s.wrong_type("a file name", 2).with_tensor(name));
        }
        let file = s.string()?;
        map.push((name, s.str_of(&file).to_owned()));
        Ok(())
    })
}

/// What a checkpoint keeps of its index file: which shard holds each
/// tensor, and the total the shards must add up to.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    pub(crate) total_size: Option<u64>,
    /// Tensor name -> position in `files`.
    pub(crate) weight_map: BTreeMap<String, usize>,
    /// Shard file names, in the order the index first names them.
    pub(crate) files: Vec<String>,
}

impl Index {
    /// The index file's text, parsed and checked: every shard a plain file
    /// name, no tensor named twice. Every problem is
    /// [`ErrorKind::IndexInvalid`] (or [`ErrorKind::DuplicateTensor`]).
    pub(crate) fn parse(text: &str) -> Result<Index> {
        let parsed = parse(text).map_err(|e| e.retag(ErrorKind::IndexInvalid))?;
        let mut files: Vec<String> = Vec::new();
        let mut weight_map = BTreeMap::new();
        for (name, file) in parsed.weight_map {
            if let Some(problem) = file_name_problem(&file) {
                return Err(Error::new(ErrorKind::IndexInvalid)
                    .with_tensor(name)
                    .with_detail(format!(
                        "shard {file:?} is {problem}; a shard must be a plain file beside the index"
                    )));
            }
            let shard = match files.iter().position(|f| *f == file) {
                Some(i) => i,
                None => {
                    files.push(file);
                    files.len() - 1
                }
            };
            if weight_map.insert(name.clone(), shard).is_some() {
                return Err(Error::new(ErrorKind::DuplicateTensor)
                    .with_tensor(name)
                    .with_detail("named twice in weight_map"));
            }
        }
        Ok(Index {
            total_size: parsed.total_size,
            weight_map,
            files,
        })
    }

    /// An index file's bytes, parsed and checked as [`Index::parse`]
    /// does; bytes that are not UTF-8 are [`ErrorKind::IndexInvalid`].
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Index> {
        let text = core::str::from_utf8(bytes).map_err(|e| {
            Error::new(ErrorKind::IndexInvalid)
                .at(e.valid_up_to() as u64)
                .with_detail("not UTF-8")
        })?;
        Index::parse(text)
    }

    /// The index a single file would have: every tensor in `file`.
    pub(crate) fn single(file: &str, header: &Header) -> Index {
        Index {
            total_size: Some(header.data_len()),
            weight_map: header.names().map(|n| (n.to_owned(), 0)).collect(),
            files: vec![file.to_owned()],
        }
    }

    /// The shard file that holds `name`, per the index.
    pub(crate) fn file_of(&self, name: &str) -> Option<&str> {
        self.weight_map.get(name).map(|&i| self.files[i].as_str())
    }

    /// Checks the index against its shards' headers (in the order of
    /// `files`): no tensor in two shards, every mapped tensor where the
    /// index says, no tensor the index does not map. Returns the bytes of
    /// tensors the shards hold (for [`Index::check_total_size`]). Errors
    /// name `index_path`.
    pub(crate) fn check_headers<'h>(
        &self,
        headers: impl IntoIterator<Item = &'h Header>,
        index_path: &Path,
    ) -> Result<u64> {
        let mut found: BTreeMap<&str, usize> = BTreeMap::new();
        let mut total: u64 = 0;
        let check = |found: &mut BTreeMap<&'h str, usize>, name: &'h str, i: usize| {
            self.check_placement(found, name, i)
                .map_err(|e| e.with_tensor(name).in_file(index_path))
        };
        for (i, header) in headers.into_iter().enumerate() {
            for info in header.iter() {
                // Each shard's length fits in a u64; their sum need not.
                total = total.checked_add(info.byte_len()).ok_or_else(|| {
                    Error::new(ErrorKind::Overflow)
                        .with_tensor(info.name())
                        .with_detail("the shards hold more than 2^64 bytes of tensors")
                        .in_file(index_path)
                })?;
                check(&mut found, info.name(), i)?;
            }
        }
        self.check_all_found(&found)
            .map_err(|e| e.in_file(index_path))?;
        Ok(total)
    }

    /// `metadata.total_size` is `total`, the bytes of tensors the shards
    /// hold ([`ErrorKind::IndexTotalSize`], naming `index_path`).
    pub(crate) fn check_total_size(&self, total: u64, index_path: &Path) -> Result<()> {
        let detail = match self.total_size {
            Some(size) if size == total => return Ok(()),
            Some(size) => {
                format!("metadata.total_size is {size}; the shards hold {total} bytes of tensors")
            }
            None => format!(
                "the index gives no metadata.total_size; the shards hold {total} bytes of tensors"
            ),
        };
        Err(Error::new(ErrorKind::IndexTotalSize)
            .with_detail(detail)
            .in_file(index_path))
    }

    /// Tensor `name`, found in shard `i`, must be in no other shard and be
    /// mapped to shard `i`.
    fn check_placement<'s>(
        &self,
        found: &mut BTreeMap<&'s str, usize>,
        name: &'s str,
        i: usize,
    ) -> Result<()> {
        let fail = |kind: ErrorKind, detail: String| Err(Error::new(kind).with_detail(detail));
        if let Some(other) = found.insert(name, i) {
            let (a, b) = (&self.files[other], &self.files[i]);
            return fail(ErrorKind::DuplicateTensor, format!("in both {a} and {b}"));
        }
        match self.weight_map.get(name) {
            Some(&mapped) if mapped == i => Ok(()),
            Some(&mapped) => fail(
                ErrorKind::IndexMismatch,
                format!(
                    "mapped to {} but found in {}",
                    self.files[mapped], self.files[i]
                ),
            ),
            None => fail(
                ErrorKind::IndexMismatch,
                format!("found in {} but not in the index", self.files[i]),
            ),
        }
    }

    /// Every tensor the index maps must have been found in a shard.
    fn check_all_found(&self, found: &BTreeMap<&str, usize>) -> Result<()> {
        let missing = self
            .weight_map
            .iter()
            .find(|(n, _)| !found.contains_key(n.as_str()));
        match missing {
            None => Ok(()),
            Some((name, &i)) => Err(Error::new(ErrorKind::IndexMissingTensor)
                .with_tensor(name.as_str())
                .with_detail(format!(
                    "mapped to {}, which does not hold it",
                    self.files[i]
                ))),
        }
    }
}

/// The index text as the hub writes it: sorted keys, 2-space indent.
pub(super) fn render(total_size: u64, weight_map: &BTreeMap<&str, &str>) -> Vec<u8> {
    let mut text = Vec::new();
    text.extend_from_slice(b"{\n  \"metadata\": {\n    \"total_size\": ");
    emit::integer(&mut text, total_size);
    text.extend_from_slice(b"\n  },\n  \"weight_map\": {");
    for (i, (name, file)) in weight_map.iter().enumerate() {
        text.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
        emit::string(&mut text, name);
        text.extend_from_slice(b": ");
        emit::string(&mut text, file);
    }
    text.extend_from_slice(if weight_map.is_empty() {
        b"}\n}\n"
    } else {
        b"\n  }\n}\n"
    });
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_and_index_parsing() {
        assert!(is_shard_name("model-00001-of-00003.safetensors"));
        assert!(is_shard_name(&shard_name(2, 3)));
        assert!(is_shard_name(
            "diffusion_pytorch_model-00002-of-00002.safetensors"
        ));
        assert!(!is_shard_name("00001-of-00003.safetensors"));
        assert!(!is_shard_name("model.safetensors"));
        assert!(!is_shard_name("model-1-of-3.safetensors"));
        let index = parse(r#"{"metadata":{"total_size":10,"format":"pt"},"weight_map":{"a":"x.safetensors"},"extra":[1]}"#).unwrap();
        assert_eq!(index.total_size, Some(10));
        assert_eq!(
            index.weight_map,
            vec![("a".to_owned(), "x.safetensors".to_owned())]
        );
        let escaped = parse(r#"{"w\u0065ight_map":{}," metadata":1}"#).unwrap();
        assert_eq!(escaped.weight_map, vec![]);
        assert!(parse(r#"{"metadata":{}}"#).is_err());
        assert!(parse(r#"{"weight_map":{"a":1}}"#).is_err());
        assert!(parse(r#"{"weight_map":{}} x"#).is_err());
        assert!(parse(r#"[]"#).is_err());
    }

    #[test]
    fn shard_file_names_are_plain_on_every_platform() {
        let refused = [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b.safetensors",
            "a\\b.safetensors",
            "C:x.safetensors",
            "C:",
            "x.safetensors:stream",
            "x:stream",
            "CON",
            "con",
            "NUL.safetensors",
            "nul.tar.gz",
            "Aux .safetensors",
            "PRN",
            "COM0",
            "com1.safetensors",
            "LPT9",
            "COM¹.safetensors",
            "CONIN$",
            "conout$.x",
            "x.safetensors.",
            "x.safetensors ",
            "a\0b",
            "a\nb",
            "a\u{7f}b",
            "a<b",
            "a>b",
            "a\"b",
            "a|b",
            "a?b",
            "a*b",
        ];
        for name in refused {
            assert!(file_name_problem(name).is_some(), "{name:?} was accepted");
        }
        let accepted = [
            "a.safetensors",
            "model-00001-of-00003.safetensors",
            "CONSOLE.safetensors",
            "COM10.safetensors",
            "LPT.safetensors",
            "nul-1.safetensors",
            "x.nul",
            ".hidden.safetensors",
            " leading space.safetensors",
            "shard#1 100%.safetensors",
            "é.safetensors",
        ];
        for name in accepted {
            assert_eq!(file_name_problem(name), None, "{name:?} was refused");
        }
    }

    #[test]
    fn render_then_parse() {
        let map: BTreeMap<&str, &str> = [("b", "s2"), ("a\"", "s1")].into_iter().collect();
        let text = String::from_utf8(render(7, &map)).unwrap();
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.total_size, Some(7));
        assert_eq!(
            parsed.weight_map,
            vec![("a\"".into(), "s1".into()), ("b".into(), "s2".into())]
        );
        assert_eq!(
            String::from_utf8(render(0, &BTreeMap::new())).unwrap(),
            "{\n  \"metadata\": {\n    \"total_size\": 0\n  },\n  \"weight_map\": {}\n}\n"
        );
    }
}
