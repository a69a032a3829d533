//! The name table: name -> position lookup without an allocation per name,
//! shared by the header (lookups, duplicate names) and the writer
//! (duplicate names).
//!
//! Names live in one arena string, so a `HashMap<&str, _>` cannot borrow them
//! from the header that owns both. This is a small open-addressing table of
//! entry indices. The hash is a folded-multiply hash (the construction of the
//! foldhash crate) keyed with per-process random seeds, so names chosen in
//! advance cannot be made to collide; it is several times faster than
//! SipHash on checkpoint-style names, and hashing is a third of lookup time.
//!
//! Without the `std` feature there is no source of randomness: the seeds
//! then come from the table's own address (randomized where the platform
//! has ASLR). Colliding names cost lookup time, never correctness.

use alloc::vec;
use alloc::vec::Vec;

#[derive(Debug, Clone, Copy)]
struct Seeds([u64; 3]);

impl Seeds {
    /// Per-process random seeds, from the standard library's hasher keys.
    #[cfg(feature = "std")]
    fn random(_: &[u64]) -> Self {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        let state = RandomState::new();
        Seeds([
            state.hash_one(1u64),
            state.hash_one(2u64),
            state.hash_one(3u64),
        ])
    }

    /// Seeds from the address of the table's slots (see the module docs).
    #[cfg(not(feature = "std"))]
    fn random(slots: &[u64]) -> Self {
        let at = slots.as_ptr() as usize as u64;
        let mix = |k: u64| {
            let p = u128::from(at ^ k) * u128::from(0x9E37_79B9_7F4A_7C15u64);
            (p as u64) ^ ((p >> 64) as u64)
        };
        Seeds([
            mix(0x243F_6A88_85A3_08D3),
            mix(0x1319_8A2E_0370_7344),
            mix(0xA409_3822_299F_31D0),
        ])
    }

    #[inline]
    fn hash(&self, key: &str) -> u64 {
        #[inline(always)]
        fn fold(a: u64, b: u64) -> u64 {
            let p = u128::from(a) * u128::from(b);
            (p as u64) ^ ((p >> 64) as u64)
        }
        #[inline(always)]
        fn word(bytes: &[u8], at: usize) -> u64 {
            let mut w = [0u8; 8];
            if let Some(src) = bytes.get(at..at + 8) {
                w.copy_from_slice(src);
            }
            u64::from_le_bytes(w)
        }
        #[inline(always)]
        fn half(bytes: &[u8], at: usize) -> u64 {
            let mut w = [0u8; 4];
            if let Some(src) = bytes.get(at..at + 4) {
                w.copy_from_slice(src);
            }
            u64::from(u32::from_le_bytes(w))
        }
        let [k0, k1, k2] = self.0;
        let bytes = key.as_bytes();
        let len = bytes.len();
        let mut state = k0 ^ (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let (a, b) = if len >= 16 {
            let mut at = 0;
            while at + 16 < len {
                state = fold(word(bytes, at) ^ state, word(bytes, at + 8) ^ k1);
                at += 16;
            }
            // The last 16 bytes, overlapping what came before if need be.
            (word(bytes, len - 16), word(bytes, len - 8))
        } else if len >= 8 {
            (word(bytes, 0), word(bytes, len - 8))
        } else if len >= 4 {
            (half(bytes, 0), half(bytes, len - 4))
        } else {
            // Here len < 4; `byte` is called only when len > 0, with
            // indices below len.
            let byte = |i: usize| u64::from(bytes[i]);
            match len {
                0 => (0, 0),
                _ => (byte(0) | byte(len / 2) << 8 | byte(len - 1) << 16, 0),
            }
        };
        state = fold(a ^ state, b ^ k1);
        fold(state, k2)
    }
}

/// Tables of at least this many slots are filled by home slot.
const PARTITIONED_FROM: usize = 1 << 15;
/// The number of runs (as a power of two) a large table is filled in.
const PARTITION_BITS: u32 = 8;

#[derive(Debug, Clone)]
pub(crate) struct NameTable {
    /// `hash_high_32 << 32 | (entry + 1)`; 0 is an empty slot.
    slots: Vec<u64>,
    seeds: Seeds,
}

impl NameTable {
    /// Builds the index over `count` names given by `name(i)`. On a duplicate
    /// returns the index of the second occurrence (the first index `i` whose
    /// name equals that of some `j < i`).
    pub(crate) fn build<'n>(count: usize, name: impl Fn(usize) -> &'n str) -> Result<Self, usize> {
        let capacity = count.saturating_mul(2).max(8).next_power_of_two();
        let slots = vec![0; capacity];
        let seeds = Seeds::random(&slots);
        let mut index = NameTable { slots, seeds };
        if capacity < PARTITIONED_FROM {
            for i in 0..count {
                let hash = index.seeds.hash(name(i));
                index.insert(hash, i, &name)?;
            }
            return Ok(index);
        }
        // A large table does not fit in the cache, and inserting in name
        // order would touch its slots at random. Inserting by home slot
        // instead (names sorted into 256 runs by the top bits of their home
        // slot, each run in name order) writes the table front to back.
        let shift = capacity.trailing_zeros() - PARTITION_BITS;
        let part = |hash: u64| (hash as usize & (capacity - 1)) >> shift;
        let hashes: Vec<u64> = (0..count).map(|i| index.seeds.hash(name(i))).collect();
        let mut starts = [0usize; 1 << PARTITION_BITS];
        for &hash in &hashes {
            starts[part(hash)] += 1;
        }
        let mut total = 0;
        for start in starts.iter_mut() {
            (*start, total) = (total, total + *start);
        }
        let mut order = vec![(0u64, 0usize); count];
        for (i, &hash) in hashes.iter().enumerate() {
            let at = &mut starts[part(hash)];
            order[*at] = (hash, i);
            *at += 1;
        }
        drop(hashes);
        for &(hash, i) in &order {
            if index.insert(hash, i, &name).is_err() {
                // Equal names share a run, so a duplicate is found, but
                // maybe not the one of the lowest index: the plain order
                // says which that is.
                return Self::build_in_order(count, name);
            }
        }
        Ok(index)
    }

    /// [`NameTable::build`] inserting in name order.
    fn build_in_order<'n>(count: usize, name: impl Fn(usize) -> &'n str) -> Result<Self, usize> {
        let capacity = count.saturating_mul(2).max(8).next_power_of_two();
        let slots = vec![0; capacity];
        let seeds = Seeds::random(&slots);
        let mut index = NameTable { slots, seeds };
        for i in 0..count {
            let hash = index.seeds.hash(name(i));
            index.insert(hash, i, &name)?;
        }
        Ok(index)
    }

    /// Inserts entry `i`, whose name hashes to `hash`; a name already
    /// present is `Err(i)`.
    #[inline(always)]
    fn insert<'n>(
        &mut self,
        hash: u64,
        i: usize,
        name: &impl Fn(usize) -> &'n str,
    ) -> Result<(), usize> {
        let mask = self.slots.len() - 1;
        let tag = hash >> 32;
        let mut slot = (hash as usize) & mask;
        loop {
            // `slot` is masked to the table's power-of-two length.
            let value = self.slots[slot];
            if value == 0 {
                self.slots[slot] = (tag << 32) | (i as u64 + 1);
                return Ok(());
            }
            // Names are read only when the tags match, which for distinct
            // names is rare.
            if value >> 32 == tag && name((value as u32 as usize) - 1) == name(i) {
                return Err(i);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Renumbers the entries: the entry that was `i` becomes `new[i]`.
    /// `new` must be a permutation of `0..count`.
    pub(crate) fn renumber(&mut self, new: &[u32]) {
        for slot in self.slots.iter_mut().filter(|slot| **slot != 0) {
            let old = (*slot as u32 as usize).wrapping_sub(1);
            debug_assert!(old < new.len(), "renumbering entry {old} of {}", new.len());
            if let Some(&entry) = new.get(old) {
                *slot = (*slot & !u64::from(u32::MAX)) | (u64::from(entry) + 1);
            }
        }
    }

    /// The entry named `key`, if any.
    #[inline]
    pub(crate) fn find<'n>(&self, key: &str, name: impl Fn(usize) -> &'n str) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let hash = self.seeds.hash(key);
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
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn finds_every_name_and_reports_duplicates() {
        let names: Vec<String> = (0..1000).map(|i| format!("layer.{i}.weight")).collect();
        let index = NameTable::build(names.len(), |i| &names[i]).unwrap();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(index.find(n, |i| &names[i]), Some(i));
        }
        assert_eq!(index.find("missing", |i| &names[i]), None);
        let dup = ["a", "b", "a"];
        assert_eq!(NameTable::build(3, |i| dup[i]).unwrap_err(), 2);
        let short = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcdefg",
            "abcdefgh",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
        ];
        let index = NameTable::build(short.len(), |i| short[i]).unwrap();
        for (i, n) in short.iter().enumerate() {
            assert_eq!(index.find(n, |i| short[i]), Some(i));
        }
        let mut renumbered = NameTable::build(3, |i| ["x", "y", "z"][i]).unwrap();
        renumbered.renumber(&[2, 0, 1]);
        let moved = ["y", "z", "x"];
        for (i, n) in moved.iter().enumerate() {
            assert_eq!(renumbered.find(n, |i| moved[i]), Some(i));
        }
        // Large tables are filled by home slot; the duplicate reported is
        // still the first second occurrence in name order.
        let many: Vec<String> = (0..40_000).map(|i| format!("t{i}")).collect();
        let index = NameTable::build(many.len(), |i| &many[i]).unwrap();
        for (i, n) in many.iter().enumerate() {
            assert_eq!(index.find(n, |i| &many[i]), Some(i));
        }
        let mut twice = many.clone();
        twice[30_000] = "t29999".into();
        twice[20_000] = "t5".into();
        twice[10_000] = "t39999".into();
        assert_eq!(
            NameTable::build(twice.len(), |i| &twice[i]).unwrap_err(),
            20_000
        );
        let empty: [&str; 0] = [];
        let index = NameTable::build(0, |i| empty[i]).unwrap();
        assert_eq!(index.find("a", |i| empty[i]), None);
    }
}
