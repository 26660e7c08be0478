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
/// The cap on the filter's memory (16 MiB, so it stays in a server's last
/// level cache next to the query's own data; at 64 MiB every insert was a
/// cache and TLB miss). Past ~2.5 million ids the false positive rate grows
/// instead of the memory: about 0.2% at 10 million ids, each a candidate
/// that the exact second read of the ids clears.
const MAX_WORDS: u64 = 2 << 20;

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

    /// The word and the bits of `id`.
    fn slot(&self, id: &str) -> (usize, u64) {
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
        (word as usize, mask)
    }

    /// Records `id`; true if it may have been recorded before.
    pub fn insert(&self, id: &str) -> bool {
        let (word, mask) = self.slot(id);
        let before = self.words[word].fetch_or(mask, Ordering::Relaxed);
        before & mask == mask
    }

    /// Records every id of `ids` and calls `repeat` with each one that may
    /// have been recorded before. Same result as [`SeenIds::insert`] one by
    /// one, faster: a group of plain loads goes first, so their cache misses
    /// overlap, instead of each atomic update waiting for its own miss. A
    /// word that already has all the id's bits needs no update; any other
    /// takes the same `fetch_or` as `insert`, so racing threads still cannot
    /// both miss a repeat.
    pub fn insert_all<'a>(&self, ids: impl IntoIterator<Item = &'a str>, mut repeat: impl FnMut(&'a str)) {
        const GROUP: usize = 32;
        let mut ids = ids.into_iter().peekable();
        let mut group: [(&str, usize, u64, u64); GROUP] = [("", 0, 0, 0); GROUP];
        while ids.peek().is_some() {
            let mut n = 0;
            for id in ids.by_ref().take(GROUP) {
                let (word, mask) = self.slot(id);
                group[n] = (id, word, mask, self.words[word].load(Ordering::Relaxed));
                n += 1;
            }
            for &(id, word, mask, seen) in &group[..n] {
                if seen & mask == mask || self.words[word].fetch_or(mask, Ordering::Relaxed) & mask == mask {
                    repeat(id);
                }
            }
        }
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
    fn inserting_a_group_flags_what_inserting_one_by_one_flags() {
        let ids: Vec<String> = (0..5_000).map(|i| format!("id-{}", i % 3_700)).collect();
        let one_by_one = SeenIds::with_expected(5_000);
        let grouped = SeenIds {
            words: (0..one_by_one.words.len()).map(|_| AtomicU64::new(0)).collect(),
            hasher: one_by_one.hasher.clone(),
        };
        let expected: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| one_by_one.insert(id))
            .collect();
        let mut flagged = Vec::new();
        grouped.insert_all(ids.iter().map(String::as_str), |id| flagged.push(id));
        assert_eq!(flagged, expected);
        assert!(flagged.len() >= 1_300, "every one of the 1,300 repeats is flagged");
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
