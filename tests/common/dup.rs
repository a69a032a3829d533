//! Whether a header names a top-level key twice (which the reference crate
//! resolves silently by keeping the last entry).

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

struct Keys;

impl<'de> Visitor<'de> for Keys {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut duplicate = false;
        while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
            duplicate |= !seen.insert(key);
        }
        Ok(duplicate)
    }
}

/// True if the file's header JSON parses and has a duplicate top-level key.
pub fn has_duplicate_keys(file: &[u8]) -> bool {
    let Some(n) = file
        .get(..8)
        .map(|p| u64::from_le_bytes(p.try_into().unwrap_or([0; 8])))
    else {
        return false;
    };
    let Some(json) = usize::try_from(n)
        .ok()
        .and_then(|n| file.get(8..8usize.saturating_add(n)))
    else {
        return false;
    };
    serde_json::Deserializer::from_slice(json)
        .deserialize_map(Keys)
        .unwrap_or(false)
}
