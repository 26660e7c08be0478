//! The packed lookup page: many persons of one snapshot in one row.
//!
//! A snapshot of 10 million items has about a million persons. One table row
//! per person made recording the lookup the slowest step of a build (SQLite
//! spends microseconds per row on its B-tree) and the table grew by about
//! 200 bytes per person and snapshot. A page holds up to [`PAGE_ENTRIES`]
//! persons in `person_ref` order, keyed by its first `person_ref`, so a
//! lookup is still one index seek per snapshot (the page whose first key is
//! the greatest not above the person's) plus a binary search in the page.
//! No general-purpose format fits: the job is a sorted array of fixed
//! 16-byte keys with tiny varying payloads, read one key at a time.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! u8        version (1)
//! u32       n, the number of entries
//! n × 16    person_ref of each entry, strictly ascending
//! n × u32   end offset of each entry's payload, counted from the payload start
//! payload   for each entry: varint shard (0 = no included item, else shard + 1),
//!           then (tag, varint count) pairs for every non-zero count, where
//!           tag = group << 5 | code; group 0 = kind, 1 = platform, 2 = reason,
//!           and code is the value's code in veto-core's vocabulary; group 3,
//!           code 0: mentions of the person (an objector) redacted in other
//!           people's text (added with export v1.1; pages without it read as 0).
//! ```
//!
//! Varints are LEB128 (7 bits per byte, low bits first).

use veto_core::{Kind, Platform, Reason};

use super::PersonSnapshot;

/// Persons per page: a page of typical persons is about 16 KiB.
pub const PAGE_ENTRIES: usize = 512;

const VERSION: u8 = 1;
/// Kinds, platforms and reasons in veto-core's vocabulary.
pub const KINDS: usize = Kind::ALL.len();
pub const PLATFORMS: usize = Platform::ALL.len();
pub const REASONS: usize = Reason::ALL.len();
const GROUP_KIND: u8 = 0;
const GROUP_PLATFORM: u8 = 1;
const GROUP_REASON: u8 = 2;
const GROUP_MENTIONS: u8 = 3;

/// One person's counts in a snapshot, by vocabulary code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonCounts {
    /// The shard that holds their included items, if any.
    pub shard: Option<u32>,
    /// Included items by [`Kind::code`].
    pub kinds: [u32; KINDS],
    /// Included items by [`Platform::code`].
    pub platforms: [u32; PLATFORMS],
    /// Excluded items by [`Reason::code`].
    pub reasons: [u32; REASONS],
    /// Mentions of the person redacted in other people's text.
    pub mentions: u64,
}

/// One encoded page and the key it is stored under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub first_ref: [u8; 16],
    pub bytes: Vec<u8>,
}

/// Packs entries, given in strictly ascending `person_ref` order, into pages.
/// Returns the first offending key if the order is broken.
pub fn pack<I>(entries: I) -> Result<Vec<Page>, [u8; 16]>
where
    I: IntoIterator<Item = ([u8; 16], PersonCounts)>,
{
    let mut pages = Vec::new();
    let mut keys: Vec<[u8; 16]> = Vec::with_capacity(PAGE_ENTRIES);
    let mut ends: Vec<u32> = Vec::with_capacity(PAGE_ENTRIES);
    let mut payload: Vec<u8> = Vec::new();
    let mut last: Option<[u8; 16]> = None;
    for (key, counts) in entries {
        if last.is_some_and(|l| l >= key) {
            return Err(key);
        }
        last = Some(key);
        keys.push(key);
        encode_counts(&counts, &mut payload);
        ends.push(payload.len() as u32);
        if keys.len() == PAGE_ENTRIES {
            pages.push(finish(&mut keys, &mut ends, &mut payload));
        }
    }
    if !keys.is_empty() {
        pages.push(finish(&mut keys, &mut ends, &mut payload));
    }
    Ok(pages)
}

fn finish(keys: &mut Vec<[u8; 16]>, ends: &mut Vec<u32>, payload: &mut Vec<u8>) -> Page {
    let mut bytes = Vec::with_capacity(5 + keys.len() * 20 + payload.len());
    bytes.push(VERSION);
    bytes.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    for key in keys.iter() {
        bytes.extend_from_slice(key);
    }
    for end in ends.iter() {
        bytes.extend_from_slice(&end.to_le_bytes());
    }
    bytes.extend_from_slice(payload);
    let page = Page {
        first_ref: keys[0],
        bytes,
    };
    keys.clear();
    ends.clear();
    payload.clear();
    page
}

fn encode_counts(counts: &PersonCounts, out: &mut Vec<u8>) {
    put_varint(out, counts.shard.map_or(0, |s| u64::from(s) + 1));
    let groups: [(u8, &[u32]); 3] = [
        (GROUP_KIND, &counts.kinds),
        (GROUP_PLATFORM, &counts.platforms),
        (GROUP_REASON, &counts.reasons),
    ];
    for (group, values) in groups {
        for (code, &n) in values.iter().enumerate() {
            if n > 0 {
                out.push(group << 5 | code as u8);
                put_varint(out, u64::from(n));
            }
        }
    }
    if counts.mentions > 0 {
        out.push(GROUP_MENTIONS << 5);
        put_varint(out, counts.mentions);
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Finds `person_ref` in an encoded page. `Ok(None)`: not in this page.
/// Every malformation is an error naming what is wrong; nothing panics.
pub fn find(page: &[u8], person_ref: &[u8; 16]) -> Result<Option<PersonSnapshot>, String> {
    let (&version, rest) = page.split_first().ok_or("empty page")?;
    if version != VERSION {
        return Err(format!("page version {version}, expected {VERSION}"));
    }
    let n = u32::from_le_bytes(rest.get(..4).ok_or("page too short")?.try_into().expect("4 bytes")) as usize;
    let keys_end = 4 + n.checked_mul(16).ok_or("page entry count overflows")?;
    let ends_end = keys_end + n * 4;
    let keys = rest.get(4..keys_end).ok_or("page keys truncated")?;
    let ends = rest.get(keys_end..ends_end).ok_or("page offsets truncated")?;
    let payload = &rest[ends_end..];
    let key_at = |i: usize| &keys[i * 16..i * 16 + 16];
    let end_at = |i: usize| u32::from_le_bytes(ends[i * 4..i * 4 + 4].try_into().expect("4 bytes")) as usize;
    // Binary search over the fixed-width keys.
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match key_at(mid).cmp(person_ref.as_slice()) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                let start = if mid == 0 { 0 } else { end_at(mid - 1) };
                let bytes = payload
                    .get(start..end_at(mid))
                    .ok_or("page payload offsets out of range")?;
                return decode_counts(bytes).map(Some);
            }
        }
    }
    Ok(None)
}

fn decode_counts(mut bytes: &[u8]) -> Result<PersonSnapshot, String> {
    let shard = match take_varint(&mut bytes)? {
        0 => None,
        s => Some(u32::try_from(s - 1).map_err(|_| "shard out of range")?),
    };
    let mut person = PersonSnapshot {
        shard,
        ..PersonSnapshot::default()
    };
    while let Some((&tag, rest)) = bytes.split_first() {
        bytes = rest;
        let n = take_varint(&mut bytes)?;
        let code = tag & 0x1f;
        if tag == GROUP_MENTIONS << 5 {
            person.mentions_redacted = n;
            continue;
        }
        let (map, name) = match tag >> 5 {
            GROUP_KIND => (&mut person.included_by_kind, Kind::from_code(code).map(|k| k.as_str())),
            GROUP_PLATFORM => (
                &mut person.included_by_platform,
                Platform::from_code(code).map(|p| p.as_str()),
            ),
            GROUP_REASON => (
                &mut person.excluded_by_reason,
                Reason::from_code(code).map(|r| r.as_str()),
            ),
            _ => (&mut person.excluded_by_reason, None),
        };
        let name = name.ok_or_else(|| format!("unknown count tag {tag:#04x}"))?;
        map.insert(name.to_string(), n);
    }
    Ok(person)
}

fn take_varint(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first().ok_or("varint truncated")?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts() -> impl Strategy<Value = PersonCounts> {
        (
            proptest::option::of(0u32..=u32::MAX - 1),
            proptest::array::uniform11(prop_oneof![Just(0u32), 1u32..300, Just(u32::MAX)]),
            proptest::array::uniform3(prop_oneof![Just(0u32), 1u32..300]),
            proptest::array::uniform11(prop_oneof![Just(0u32), 1u32..300]),
            prop_oneof![Just(0u64), 1u64..1_000_000_000_000],
        )
            .prop_map(|(shard, kinds, platforms, reasons, mentions)| PersonCounts {
                shard,
                kinds,
                platforms,
                reasons,
                mentions,
            })
    }

    /// What a reader should see for `c`: every non-zero count under its name.
    fn expected(c: &PersonCounts) -> PersonSnapshot {
        let named = |names: Vec<&'static str>, values: &[u32]| {
            names
                .into_iter()
                .zip(values)
                .filter(|(_, n)| **n > 0)
                .map(|(name, n)| (name.to_string(), u64::from(*n)))
                .collect()
        };
        PersonSnapshot {
            shard: c.shard,
            included_by_kind: named(Kind::ALL.iter().map(|k| k.as_str()).collect(), &c.kinds),
            included_by_platform: named(Platform::ALL.iter().map(|p| p.as_str()).collect(), &c.platforms),
            excluded_by_reason: named(Reason::ALL.iter().map(|r| r.as_str()).collect(), &c.reasons),
            mentions_redacted: c.mentions,
        }
    }

    /// The page that should hold `key`: the last whose first key is not above it.
    fn page_for<'a>(pages: &'a [Page], key: &[u8; 16]) -> Option<&'a Page> {
        pages.iter().rev().find(|p| p.first_ref <= *key)
    }

    proptest! {
        // Each case packs up to three pages; 48 cases keep the debug run short.
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn every_person_is_found_with_their_counts_and_no_one_else(
            people in proptest::collection::btree_map(any::<[u8; 16]>(), counts(), 0..1500),
            strangers in proptest::collection::vec(any::<[u8; 16]>(), 20),
        ) {
            let pages = pack(people.iter().map(|(k, c)| (*k, c.clone()))).unwrap();
            prop_assert_eq!(pages.len(), people.len().div_ceil(PAGE_ENTRIES));
            for (key, c) in &people {
                let page = page_for(&pages, key).expect("a page for every key");
                prop_assert_eq!(find(&page.bytes, key).unwrap(), Some(expected(c)));
            }
            for key in strangers.iter().filter(|k| !people.contains_key(*k)) {
                if let Some(page) = page_for(&pages, key) {
                    prop_assert_eq!(find(&page.bytes, key).unwrap(), None);
                }
            }
        }

        #[test]
        fn damaged_pages_give_errors_not_panics(
            people in proptest::collection::btree_map(any::<[u8; 16]>(), counts(), 1..40),
            cut in any::<prop::sample::Index>(),
            flip in any::<(prop::sample::Index, u8)>(),
        ) {
            let page = pack(people.iter().map(|(k, c)| (*k, c.clone()))).unwrap().remove(0);
            let key = *people.keys().next().unwrap();
            let truncated = &page.bytes[..cut.index(page.bytes.len())];
            let _ = find(truncated, &key);
            let mut flipped = page.bytes.clone();
            let at = flip.0.index(flipped.len());
            flipped[at] ^= flip.1;
            let _ = find(&flipped, &key);
        }
    }

    #[test]
    fn out_of_order_entries_are_refused() {
        let a = [1u8; 16];
        let b = [2u8; 16];
        let refused = pack([(b, PersonCounts::default()), (a, PersonCounts::default())]);
        assert_eq!(refused, Err(a));
        let repeated = pack([(a, PersonCounts::default()), (a, PersonCounts::default())]);
        assert_eq!(repeated, Err(a));
    }
}
