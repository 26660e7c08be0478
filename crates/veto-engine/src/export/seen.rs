//! Repeated item ids in bounded memory, from several threads at once.
//!
//! A Bloom filter whose bits for one id all live in one 64-bit word: setting
//! them is a single atomic `fetch_or`, so of two threads that insert the same
//! id at the same time exactly one sees all its bits already set. Every real
//! repeat is therefore reported as a candidate; a few ids that were never
//! repeated are reported too (false positives) and the caller confirms the
//! candidates exactly. The parquet crate's split-block filter is the same
//! idea but not shareable between threads, which is why this one exists.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bits set per id, all in one word.
const BITS_PER_ID: u32 = 8;
/// Words per expected id: about 52 bits per id, under one in a million false
/// positives.
const BITS_PER_EXPECTED_ID: u64 = 52;
/// The cap on the filter's memory (64 MiB); past ~10 million ids the false
/// positive rate grows instead of the memory.
const MAX_WORDS: u64 = 8 << 20;

pub struct SeenIds {
    words: Vec<AtomicU64>,
    hasher: std::hash::RandomState,
}

impl SeenIds {
    pub fn with_expected(ids: u64) -> SeenIds {
        let words = (ids.saturating_mul(BITS_PER_EXPECTED_ID) / 64).clamp(1024, MAX_WORDS);
        SeenIds {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// Records `id`; true if it may have been recorded before.
    pub fn insert(&self, id: &str) -> bool {
        let mut h = self.hasher.build_hasher();
        h.write(id.as_bytes());
        let hash = h.finish();
        let spread = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let word = (spread * self.words.len() as u64) >> 32;
        // Eight 6-bit positions from the low 48 bits of the hash.
        let mut mask = 0u64;
        for i in 0..BITS_PER_ID {
            mask |= 1 << ((hash >> (6 * i)) & 63);
        }
        let before = self.words[word as usize].fetch_or(mask, Ordering::Relaxed);
        before & mask == mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_repeat_is_flagged_and_few_others_are() {
        let seen = SeenIds::with_expected(100_000);
        let mut false_positives = 0;
        for i in 0..100_000 {
            if seen.insert(&format!("i{i:08}")) {
                false_positives += 1;
            }
        }
        for i in (0..100_000).step_by(997) {
            assert!(seen.insert(&format!("i{i:08}")), "repeat of i{i:08} not flagged");
        }
        assert!(false_positives < 10, "{false_positives} false positives in 100,000 ids");
    }

    #[test]
    fn racing_threads_never_both_miss_a_repeat() {
        // Each id is inserted once by each of two threads at about the same
        // time; exactly one insert per id must see it as already there.
        let seen = SeenIds::with_expected(50_000);
        let flagged: Vec<Vec<bool>> = std::thread::scope(|s| {
            let a = s.spawn(|| (0..50_000).map(|i| seen.insert(&format!("x{i}"))).collect());
            let b = s.spawn(|| (0..50_000).map(|i| seen.insert(&format!("x{i}"))).collect());
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        for (i, (a, b)) in flagged[0].iter().zip(&flagged[1]).enumerate() {
            assert!(a | b, "x{i} inserted twice, flagged by neither thread");
        }
    }
}
