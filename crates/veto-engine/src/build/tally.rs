//! What each person has in a snapshot, counted while the snapshot is
//! written: the feed for the store's per-person lookup, so the build does not
//! read its own output again to produce it.
//!
//! Dense counters indexed by the person's row in the persons table (a few
//! dozen bytes per person, like the persons table itself): the rows arrive in
//! shard order, not person order, so every person's counters stay open.

use std::collections::BTreeMap;
use std::str::FromStr;

use datafusion::arrow::array::{Array, StringArray};
use veto_core::{Kind, Platform, Reason};

const KINDS: usize = Kind::ALL.len();
const PLATFORMS: usize = Platform::ALL.len();
const REASONS: usize = Reason::ALL.len();
const NO_SHARD: u32 = u32::MAX;

/// A person's shard and counters, as [`PersonTally::counts_by_code`] gives them.
pub type CountsByCode<'a> = (Option<u32>, &'a [u32; KINDS], &'a [u32; PLATFORMS], &'a [u32; REASONS]);

/// Per-person counts of one snapshot.
pub struct PersonTally {
    person_ids: StringArray,
    shard: Vec<u32>,
    kinds: Vec<[u32; KINDS]>,
    platforms: Vec<[u32; PLATFORMS]>,
    reasons: Vec<[u32; REASONS]>,
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
            kinds: vec![[0; KINDS]; n],
            platforms: vec![[0; PLATFORMS]; n],
            reasons: vec![[0; REASONS]; n],
        }
    }

    /// Counts an included item. `kind` and `platform` were validated on input.
    pub fn included(&mut self, person: u32, shard: u32, kind: &str, platform: &str) {
        let p = person as usize;
        self.shard[p] = shard;
        if let Ok(kind) = Kind::from_str(kind) {
            self.kinds[p][kind.code() as usize] += 1;
        }
        if let Ok(platform) = Platform::from_str(platform) {
            self.platforms[p][platform.code() as usize] += 1;
        }
    }

    pub fn excluded(&mut self, person: u32, reason: Reason) {
        self.reasons[person as usize][reason.code() as usize] += 1;
    }

    /// Every person with at least one item in the snapshot, in persons-table order.
    pub fn persons(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        (0..self.shard.len())
            .filter(|&p| self.kinds[p].iter().chain(&self.reasons[p]).any(|n| *n > 0))
            .map(|p| (p, self.person_ids.value(p)))
    }

    /// The id of the person at `index`.
    pub fn person_id(&self, index: usize) -> &str {
        self.person_ids.value(index)
    }

    /// The raw counters of the person at `index`: their shard, then included
    /// items by [`Kind::code`] and [`Platform::code`], and excluded items by
    /// [`Reason::code`].
    pub fn counts_by_code(&self, index: usize) -> CountsByCode<'_> {
        (
            (self.shard[index] != NO_SHARD).then_some(self.shard[index]),
            &self.kinds[index],
            &self.platforms[index],
            &self.reasons[index],
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
        PersonCounts {
            person_id: self.person_ids.value(index),
            shard: (self.shard[index] != NO_SHARD).then_some(self.shard[index]),
            included_by_kind: named(&mut Kind::ALL.iter().map(|k| k.as_str()), &self.kinds[index]),
            included_by_platform: named(&mut Platform::ALL.iter().map(|p| p.as_str()), &self.platforms[index]),
            excluded_by_reason: named(&mut Reason::ALL.iter().map(|r| r.as_str()), &self.reasons[index]),
        }
    }
}
