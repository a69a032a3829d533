//! Name -> entry lookup without an allocation per name.
//!
//! Names live in one arena string, so a `HashMap<&str, _>` cannot borrow them
//! from the header that owns both. This is a small open-addressing table of
//! entry indices, hashed with std's randomly keyed SipHash so that crafted
//! names cannot force collisions.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

#[derive(Debug, Clone)]
pub(crate) struct NameIndex {
    /// `hash_high_32 << 32 | (entry + 1)`; 0 is an empty slot.
    slots: Vec<u64>,
    hasher: RandomState,
}

impl NameIndex {
    /// Builds the index over `count` names given by `name(i)`. On a duplicate
    /// returns the index of the second occurrence.
    pub(crate) fn build<'n>(count: usize, name: impl Fn(usize) -> &'n str) -> Result<Self, usize> {
        let capacity = count.saturating_mul(2).max(8).next_power_of_two();
        let mut index = NameIndex {
            slots: vec![0; capacity],
            hasher: RandomState::new(),
        };
        let mask = capacity - 1;
        for i in 0..count {
            let key = name(i);
            let hash = index.hasher.hash_one(key);
            let tag = hash >> 32;
            let mut slot = (hash as usize) & mask;
            loop {
                let value = index.slots.get(slot).copied().unwrap_or(0);
                if value == 0 {
                    if let Some(s) = index.slots.get_mut(slot) {
                        *s = (tag << 32) | (i as u64 + 1);
                    }
                    break;
                }
                if value >> 32 == tag && name((value as u32 as usize) - 1) == key {
                    return Err(i);
                }
                slot = (slot + 1) & mask;
            }
        }
        Ok(index)
    }

    /// The entry named `key`, if any.
    #[inline]
    pub(crate) fn find<'n>(&self, key: &str, name: impl Fn(usize) -> &'n str) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let hash = self.hasher.hash_one(key);
        let tag = hash >> 32;
        let mut slot = (hash as usize) & mask;
        loop {
            let value = *self.slots.get(slot)?;
            if value == 0 {
                return None;
            }
            let entry = (value as u32 as usize).wrapping_sub(1);
            if value >> 32 == tag && name(entry) == key {
                return Some(entry);
            }
            slot = (slot + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_name_and_reports_duplicates() {
        let names: Vec<String> = (0..1000).map(|i| format!("layer.{i}.weight")).collect();
        let index = NameIndex::build(names.len(), |i| &names[i]).unwrap();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(index.find(n, |i| &names[i]), Some(i));
        }
        assert_eq!(index.find("missing", |i| &names[i]), None);
        let dup = ["a", "b", "a"];
        assert_eq!(NameIndex::build(3, |i| dup[i]).unwrap_err(), 2);
        let empty: [&str; 0] = [];
        let index = NameIndex::build(0, |i| empty[i]).unwrap();
        assert_eq!(index.find("a", |i| empty[i]), None);
    }
}
