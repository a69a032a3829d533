//! The reference crate's known leniencies, read from a file's header, so
//! that a differential test excuses exactly them: where this crate refuses
//! a file the reference accepts, the tensor our error names must have the
//! leniency that error kind stands for.
//!
//! The reference reads the header with serde: a struct may be written as a
//! JSON array (`["U8",[1],[0,1]]`), an enum as an object (`{"U8":null}`), a
//! repeated tensor name keeps its last entry (the others are only
//! type-checked), and it has no rank or
//! tensor-count limit. A key repeated inside an entry or inside
//! `__metadata__`, or `__metadata__` itself twice, is no leniency: both
//! crates refuse the first two (the reference as a duplicate field) and
//! keep the last metadata value.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use tensorsafe::{Error, ErrorKind, Limits};

struct Entries;

impl<'de> Visitor<'de> for Entries {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(entries)
    }
}

/// The header's top-level entries in order, repeated keys kept, or `None`
/// if the header is not a JSON object.
fn header_entries(file: &[u8]) -> Option<Vec<(String, Value)>> {
    let n = u64::from_le_bytes(file.get(..8)?.try_into().ok()?);
    let json = file.get(8..8usize.checked_add(usize::try_from(n).ok()?)?)?;
    serde_json::Deserializer::from_slice(json)
        .deserialize_map(Entries)
        .ok()
}

/// A field of a tensor entry: by name in an object, by position in an array.
fn field<'v>(entry: &'v Value, position: usize, name: &str) -> Option<&'v Value> {
    match entry {
        Value::Array(items) => items.get(position),
        _ => entry.get(name),
    }
}

/// Whether the entry has the leniency `kind` stands for.
fn lenient(entry: &Value, kind: ErrorKind) -> bool {
    let rank = || {
        field(entry, 1, "shape")
            .and_then(Value::as_array)
            .map(Vec::len)
    };
    match kind {
        ErrorKind::InvalidType => {
            entry.is_array() || field(entry, 0, "dtype").is_some_and(Value::is_object)
        }
        ErrorKind::RankTooLarge => rank().is_some_and(|r| r > Limits::DEFAULT_MAX_RANK),
        _ => false,
    }
}

/// True if `err`, our refusal of `file`, is one of the reference's
/// leniencies: an entry written as an array or a dtype written as an object
/// (our `InvalidType` for that tensor), the tensor's name given twice
/// (`DuplicateTensor`, or `InvalidOffsets` for reversed offsets in an entry
/// the reference drops for a later one), a rank over the default limit
/// (`RankTooLarge`) or more tensors than the default limit
/// (`TooManyTensors`).
pub fn excused(file: &[u8], err: &Error) -> bool {
    let Some(entries) = header_entries(file) else {
        return false;
    };
    let tensors = entries.iter().filter(|(k, _)| k != "__metadata__");
    if err.kind() == ErrorKind::TooManyTensors {
        return tensors.count() > Limits::DEFAULT_MAX_TENSORS;
    }
    let Some(name) = err.tensor() else {
        return false;
    };
    let named: Vec<&Value> = tensors.filter(|(k, _)| k == name).map(|(_, v)| v).collect();
    match (err.kind(), named.split_last()) {
        (ErrorKind::DuplicateTensor, Some((_, hidden))) => !hidden.is_empty(),
        // An entry the reference drops for a later one of the same name
        // has offsets it never checks.
        (ErrorKind::InvalidOffsets, Some((_, hidden))) => hidden.iter().any(|e| reversed(e)),
        (kind, _) => named.iter().any(|entry| lenient(entry, kind)),
    }
}

/// Whether an entry's `data_offsets` end before they begin.
fn reversed(entry: &Value) -> bool {
    let offsets = field(entry, 2, "data_offsets").and_then(Value::as_array);
    match offsets.map(|o| o.iter().map(Value::as_u64).collect::<Vec<_>>()) {
        Some(o) => matches!(o[..], [Some(begin), Some(end)] if end < begin),
        None => false,
    }
}
