//! Stage one of the scanner: every byte of a JSON document classified in
//! one pass, before the document is walked.
//!
//! The pass records, for each byte, whether a string scan must stop there
//! (`"`, `\` or a control character), as one bit per byte in 64-bit words,
//! and whether any byte is outside ASCII. Walking the document then finds
//! the end of a string with a bit search instead of a byte loop, and an
//! all-ASCII document (nearly every header) needs no separate UTF-8 pass.
//!
//! On x86_64 each 64-byte block is classified with SSE2 (part of the
//! architecture's baseline; targets that switch it off, such as kernel
//! targets, are excluded); elsewhere a portable loop does the same. A test checks that both
//! give the same bits on every block it tries.

use alloc::vec::Vec;

/// Bytes per classified block: one bit of a `u64` each.
const BLOCK: usize = 64;

/// A document's stop bits and whether it is all ASCII.
#[derive(Debug)]
pub(crate) struct Classes {
    /// Bit `i % 64` of word `i / 64` is set when byte `i` is `"`, `\` or a
    /// control character (below 0x20). Bits past the document's end are 0.
    stops: Vec<u64>,
    ascii: bool,
}

impl Classes {
    /// Classifies every byte of `bytes`.
    pub(crate) fn new(bytes: &[u8]) -> Classes {
        let mut stops = Vec::with_capacity(bytes.len() / BLOCK + 1);
        let mut high = false;
        let mut blocks = bytes.chunks_exact(BLOCK);
        for chunk in &mut blocks {
            let block: &[u8; BLOCK] = chunk.try_into().expect("chunks_exact gives whole blocks");
            let (bits, h) = classify(block);
            stops.push(bits);
            high |= h;
        }
        let tail = blocks.remainder();
        if !tail.is_empty() {
            // Padding with a byte of no class adds no stop past the end.
            let mut block = [b' '; BLOCK];
            block[..tail.len()].copy_from_slice(tail);
            let (bits, h) = classify(&block);
            stops.push(bits);
            high |= h;
        }
        Classes {
            stops,
            ascii: !high,
        }
    }

    /// True if every byte is below 0x80 (so the document is valid UTF-8).
    #[cfg(test)]
    pub(crate) fn is_ascii(&self) -> bool {
        self.ascii
    }

    /// The position of the first stop byte at or after `pos`, if any.
    #[inline]
    pub(crate) fn next_stop(&self, pos: usize) -> Option<usize> {
        let mut word = pos / BLOCK;
        let mut bits = *self.stops.get(word)? & (u64::MAX << (pos % BLOCK));
        while bits == 0 {
            word += 1;
            bits = *self.stops.get(word)?;
        }
        Some(word * BLOCK + bits.trailing_zeros() as usize)
    }
}

/// `bytes` as text, classified: all-ASCII text is valid UTF-8 without
/// further checks; other text is checked by `core::str::from_utf8`, whose
/// error (with its position) is returned.
pub(crate) fn text(bytes: &[u8]) -> Result<(&str, Classes), core::str::Utf8Error> {
    let classes = Classes::new(bytes);
    if !classes.ascii {
        return Ok((core::str::from_utf8(bytes)?, classes));
    }
    debug_assert!(bytes.is_ascii());
    // SAFETY: `classes` was computed from these very bytes and found none
    // at or above 0x80 (the test below checks the classification against a
    // byte-by-byte definition for every byte value), and a sequence of
    // bytes below 0x80 is valid UTF-8: each is a one-byte character.
    let text = unsafe { core::str::from_utf8_unchecked(bytes) };
    Ok((text, classes))
}

/// Stop bits and "any byte >= 0x80" for one block.
#[inline(always)]
fn classify(block: &[u8; BLOCK]) -> (u64, bool) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        sse2(block)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        portable(block)
    }
}

/// The portable classification: a byte at a time.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
fn portable(block: &[u8; BLOCK]) -> (u64, bool) {
    let mut stops = 0u64;
    let mut high = 0u8;
    for (i, &b) in block.iter().enumerate() {
        stops |= u64::from(b == b'"' || b == b'\\' || b < 0x20) << i;
        high |= b;
    }
    (stops, high >= 0x80)
}

/// The same with SSE2: four 16-byte lanes, three compares each.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn sse2(block: &[u8; BLOCK]) -> (u64, bool) {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut stops = 0u64;
    let mut high = 0;
    for (i, lane) in block.chunks_exact(16).enumerate() {
        // SAFETY: this function is compiled only where the target enables
        // SSE2 (every x86_64 target but kernel-style ones that switch it
        // off, which take the portable path), so the intrinsics exist. The one memory access is an
        // unaligned 16-byte load from `lane`, which is exactly 16 bytes long
        // (`chunks_exact(16)`); `_mm_loadu_si128` needs no alignment.
        let (bits, top) = unsafe {
            let v = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned b < 0x20 exactly when min(b, 0x1f) == b.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            let any = _mm_or_si128(_mm_or_si128(quote, backslash), control);
            // movemask takes each byte's top bit: the compare results, and
            // for `top`, bytes >= 0x80.
            let top = _mm_movemask_epi8(v);
            (_mm_movemask_epi8(any), top)
        };
        stops |= u64::from(bits as u16) << (16 * i);
        high |= top;
    }
    (stops, high != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value in every position of a block, plus mixed blocks:
    /// the bits match the definition (and, on x86_64, SSE2 matches the
    /// portable loop).
    #[test]
    fn stop_bits_match_the_definition() {
        let expect = |block: &[u8; BLOCK]| {
            let mut bits = 0u64;
            for (i, &b) in block.iter().enumerate() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    bits |= 1 << i;
                }
            }
            (bits, block.iter().any(|&b| b >= 0x80))
        };
        let mut blocks = Vec::new();
        for value in 0..=255u8 {
            for at in [0, 1, 15, 16, 31, 32, 47, 48, 63] {
                let mut block = [b'a'; BLOCK];
                block[at] = value;
                blocks.push(block);
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut block = [0u8; BLOCK];
            for b in block.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            blocks.push(block);
        }
        for block in &blocks {
            assert_eq!(classify(block), expect(block), "{block:?}");
            assert_eq!(portable(block), expect(block), "{block:?}");
        }
    }

    #[test]
    fn next_stop_finds_each_stop_across_blocks_and_none_past_the_end() {
        let mut text = alloc::vec![b'x'; 300];
        for at in [0, 5, 63, 64, 200, 299] {
            text[at] = b'"';
        }
        let classes = Classes::new(&text);
        assert!(classes.is_ascii());
        let mut found = Vec::new();
        let mut pos = 0;
        while let Some(at) = classes.next_stop(pos) {
            found.push(at);
            pos = at + 1;
        }
        assert_eq!(found, [0, 5, 63, 64, 200, 299]);
        assert_eq!(classes.next_stop(300), None);
        assert_eq!(classes.next_stop(10_000), None);
        // A tail shorter than a block gets no stops from its padding.
        let short = Classes::new(b"ab\x01");
        assert_eq!(short.next_stop(0), Some(2));
        assert_eq!(short.next_stop(3), None);
        assert!(!Classes::new("\u{e9}".as_bytes()).is_ascii());
        assert_eq!(Classes::new(b"").next_stop(0), None);
    }

    #[test]
    fn text_accepts_utf8_and_reports_where_it_breaks() {
        let long_ascii = "x".repeat(200);
        assert_eq!(text(long_ascii.as_bytes()).unwrap().0, long_ascii);
        let accented = alloc::format!("{long_ascii}\u{e9}");
        assert_eq!(text(accented.as_bytes()).unwrap().0, accented);
        let mut broken = long_ascii.clone().into_bytes();
        broken[150] = 0xff;
        assert_eq!(text(&broken).unwrap_err().valid_up_to(), 150);
        broken[150] = 0x80;
        assert_eq!(text(&broken).unwrap_err().valid_up_to(), 150);
    }
}
