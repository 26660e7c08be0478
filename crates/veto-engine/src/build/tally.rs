//! What each person has in a snapshot, counted while the snapshot is
//! written: the feed for the store's per-person lookup, so the build does not
//! read its own output again to produce it.
//!
//! Dense counters indexed by the person's row in the persons table, filled
//! by `veto_reason` where each row is judged (a batch at a time, under a
//! lock), before the sort: there the rows still come in export order,
//! usually grouped by author, so the counters are in cache; after the sort
//! they came in shard order and nearly every count was a cache miss. They
//! are one byte each (26 bytes per person with the shard), since a person
//! has few items of any one kind; a count past 255 goes on in an overflow
//! map, so every count is exact.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{Array, StringArray};
use veto_core::{Kind, Platform, Reason};

const KINDS: usize = Kind::ALL.len();
const PLATFORMS: usize = Platform::ALL.len();
const REASONS: usize = Reason::ALL.len();
const NO_SHARD: u32 = u32::MAX;

/// A person's shard and counters, as [`PersonTally::counts_by_code`] gives them.
pub type CountsByCode = (Option<u32>, [u32; KINDS], [u32; PLATFORMS], [u32; REASONS]);

/// Per-person counts of one snapshot.
pub struct PersonTally {
    person_ids: StringArray,
    shard: Vec<u32>,
    kinds: Counters<KINDS>,
    platforms: Counters<PLATFORMS>,
    reasons: Counters<REASONS>,
    /// Mentions of each objecting user redacted in others' text; empty
    /// until the first is set.
    mentions: Vec<u64>,
}

/// `N` counters per person, a byte each, with the part of a count above
/// 255 kept in `overflow`.
struct Counters<const N: usize> {
    bytes: Vec<[u8; N]>,
    overflow: HashMap<(u32, u8), u32>,
}

impl<const N: usize> Counters<N> {
    fn new(persons: usize) -> Counters<N> {
        Counters {
            bytes: vec![[0; N]; persons],
            overflow: HashMap::new(),
        }
    }

    fn bump(&mut self, person: u32, code: usize) {
        let byte = &mut self.bytes[person as usize][code];
        if *byte == u8::MAX {
            *self.overflow.entry((person, code as u8)).or_default() += 1;
        } else {
            *byte += 1;
        }
    }

    fn any(&self, person: usize) -> bool {
        self.bytes[person].iter().any(|n| *n > 0)
    }

    fn of(&self, person: usize) -> [u32; N] {
        let mut counts = self.bytes[person].map(u32::from);
        if !self.overflow.is_empty() {
            for (code, count) in counts.iter_mut().enumerate() {
                *count += self.overflow.get(&(person as u32, code as u8)).copied().unwrap_or(0);
            }
        }
        counts
    }
}

/// One person's part of a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonCounts<'a> {
    pub person_id: &'a str,
    /// The shard that holds their included items, if any.
    pub shard: Option<u32>,
    pub included_by_kind: BTreeMap<String, u64>,
    pub included_by_platform: BTreeMap<String, u64>,
    pub excluded_by_reason: BTreeMap<String, u64>,
}

impl std::fmt::Debug for PersonTally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PersonTally({} persons)", self.shard.len())
    }
}

impl PersonTally {
    pub fn new(person_ids: StringArray) -> PersonTally {
        let n = person_ids.len();
        PersonTally {
            person_ids,
            shard: vec![NO_SHARD; n],
            kinds: Counters::new(n),
            platforms: Counters::new(n),
            reasons: Counters::new(n),
            mentions: Vec::new(),
        }
    }

    /// Counts an included item.
    pub fn included(&mut self, person: u32, shard: u32, kind: Kind, platform: Platform) {
        self.shard[person as usize] = shard;
        self.kinds.bump(person, kind.code() as usize);
        self.platforms.bump(person, platform.code() as usize);
    }

    pub fn excluded(&mut self, person: u32, reason: Reason) {
        self.reasons.bump(person, reason.code() as usize);
    }

    /// Every person with at least one item in the snapshot, in persons-table order.
    pub fn persons(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        (0..self.shard.len())
            .filter(|&p| self.kinds.any(p) || self.reasons.any(p))
            .map(|p| (p, self.person_ids.value(p)))
    }

    /// The id of the person at `index`.
    /// Records the mentions of the person at `index` (an objector) that the
    /// build redacted in other people's text.
    pub fn set_mentions(&mut self, index: u32, n: u64) {
        if n == 0 {
            return;
        }
        if self.mentions.is_empty() {
            self.mentions = vec![0; self.shard.len()];
        }
        if let Some(slot) = self.mentions.get_mut(index as usize) {
            *slot = n;
        }
    }

    /// Mentions of the person at `index` redacted in others' text.
    pub fn mentions(&self, index: usize) -> u64 {
        self.mentions.get(index).copied().unwrap_or(0)
    }

    pub fn person_id(&self, index: usize) -> &str {
        self.person_ids.value(index)
    }

    /// The raw counters of the person at `index`: their shard, then included
    /// items by [`Kind::code`] and [`Platform::code`], and excluded items by
    /// [`Reason::code`].
    pub fn counts_by_code(&self, index: usize) -> CountsByCode {
        (
            (self.shard[index] != NO_SHARD).then_some(self.shard[index]),
            self.kinds.of(index),
            self.platforms.of(index),
            self.reasons.of(index),
        )
    }

    /// The counts of the person at `index` (from [`PersonTally::persons`]).
    pub fn counts(&self, index: usize) -> PersonCounts<'_> {
        let named = |names: &mut dyn Iterator<Item = &'static str>, counts: &[u32]| {
            names
                .zip(counts)
                .filter(|(_, n)| **n > 0)
                .map(|(name, n)| (name.to_string(), u64::from(*n)))
                .collect()
        };
        let (shard, kinds, platforms, reasons) = self.counts_by_code(index);
        PersonCounts {
            person_id: self.person_ids.value(index),
            shard,
            included_by_kind: named(&mut Kind::ALL.iter().map(|k| k.as_str()), &kinds),
            included_by_platform: named(&mut Platform::ALL.iter().map(|p| p.as_str()), &platforms),
            excluded_by_reason: named(&mut Reason::ALL.iter().map(|r| r.as_str()), &reasons),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_past_one_byte_stay_exact() {
        let mut tally = PersonTally::new(StringArray::from(vec!["many", "few", "none"]));
        for _ in 0..1_000 {
            tally.included(0, 3, Kind::Post, Platform::Facebook);
        }
        for _ in 0..255 {
            tally.excluded(0, Reason::Minor);
        }
        tally.included(1, 7, Kind::Comment, Platform::Instagram);
        tally.excluded(1, Reason::Objection);
        tally.excluded(1, Reason::Objection);

        let many = tally.counts(0);
        assert_eq!(many.shard, Some(3));
        assert_eq!(many.included_by_kind, BTreeMap::from([("post".to_string(), 1_000)]));
        assert_eq!(
            many.included_by_platform,
            BTreeMap::from([("facebook".to_string(), 1_000)])
        );
        assert_eq!(many.excluded_by_reason, BTreeMap::from([("minor".to_string(), 255)]));

        let few = tally.counts(1);
        assert_eq!(few.shard, Some(7));
        assert_eq!(few.included_by_kind, BTreeMap::from([("comment".to_string(), 1)]));
        assert_eq!(few.excluded_by_reason, BTreeMap::from([("objection".to_string(), 2)]));

        // Only persons with items are listed.
        let listed: Vec<&str> = tally.persons().map(|(_, id)| id).collect();
        assert_eq!(listed, ["many", "few"]);
    }
}
