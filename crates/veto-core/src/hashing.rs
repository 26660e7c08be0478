//! The hashes that make a snapshot checkable without trusting its builder.
//!
//! * `doc_id`: HMAC-SHA-256 of the item id under the installation secret,
//!   truncated to 128 bits. Shards can leave the building: nobody without
//!   the secret can link a doc_id to an item or a person.
//! * `shard_of`: the shard of a person, from an HMAC of the person id, so all
//!   of one person's items land in one shard (the unit of retraining).
//! * leaf hashes and Merkle roots follow RFC 6962 (Certificate Transparency):
//!   leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right),
//!   the empty tree hashes to SHA-256(""). Any standard verifier can check
//!   them. SHA-256 is used where proofs need it; nothing else here is a
//!   security boundary beyond the HMACs.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const DOC_ID_DOMAIN: &[u8] = b"veto/doc_id/v1\0";
const SHARD_DOMAIN: &[u8] = b"veto/shard/v1\0";
const PERSON_REF_DOMAIN: &[u8] = b"veto/person-ref/v1\0";

/// The pseudonymous document id of an item (32 lowercase hex characters).
pub fn doc_id(secret: &[u8], item_id: &str) -> String {
    KeyedHasher::doc_ids(secret).doc_id(item_id)
}

/// The held-out slice of every snapshot: one doc id in sixteen (those
/// starting with `0`), never trained on by any model; models evaluate on it.
pub fn is_heldout(doc_id: &str) -> bool {
    doc_id.starts_with('0')
}

/// The shard (0..shards) that holds every item of `person_id`.
pub fn shard_of(secret: &[u8], person_id: &str, shards: u32) -> u32 {
    KeyedHasher::shards(secret).shard_of(person_id, shards)
}

/// An HMAC keyed once with the secret and a domain prefix, for hashing many
/// values: each call clones the prepared state, so it costs two SHA-256
/// blocks instead of four. Gives exactly [`doc_id`] and [`shard_of`].
#[derive(Clone)]
pub struct KeyedHasher {
    prepared: HmacSha256,
}

impl KeyedHasher {
    fn new(secret: &[u8], domain: &[u8]) -> KeyedHasher {
        let mut prepared = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        prepared.update(domain);
        KeyedHasher { prepared }
    }

    /// A hasher for [`KeyedHasher::doc_id`].
    pub fn doc_ids(secret: &[u8]) -> KeyedHasher {
        KeyedHasher::new(secret, DOC_ID_DOMAIN)
    }

    /// A hasher for [`person_ref`]s, through [`KeyedHasher::doc_id`] (the
    /// same truncation and encoding, another domain).
    pub fn person_refs(secret: &[u8]) -> KeyedHasher {
        KeyedHasher::new(secret, PERSON_REF_DOMAIN)
    }

    /// A hasher for [`KeyedHasher::shard_of`].
    pub fn shards(secret: &[u8]) -> KeyedHasher {
        KeyedHasher::new(secret, SHARD_DOMAIN)
    }

    fn mac(&self, value: &str) -> [u8; 32] {
        let mut mac = self.prepared.clone();
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The doc id of `item_id` (use with [`KeyedHasher::doc_ids`]).
    pub fn doc_id(&self, item_id: &str) -> String {
        let mut out = String::with_capacity(32);
        self.doc_id_into(item_id, &mut out);
        out
    }

    /// The 16 bytes that [`KeyedHasher::doc_id`] writes as hex.
    pub fn truncated(&self, value: &str) -> [u8; 16] {
        self.mac(value)[..16].try_into().expect("16 of 32 bytes")
    }

    /// Appends the doc id of `item_id` to `out` without allocating.
    pub fn doc_id_into(&self, item_id: &str, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in &self.truncated(item_id) {
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }

    /// The shard of `person_id` (use with [`KeyedHasher::shards`]).
    pub fn shard_of(&self, person_id: &str, shards: u32) -> u32 {
        assert!(shards > 0, "at least one shard");
        let bytes = self.mac(person_id);
        let n = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        (n % shards as u64) as u32
    }
}

/// The keyed pseudonym of a person in the ledger and the lookup tables
/// (32 hex characters). Without the secret it cannot be linked to a person.
pub fn person_ref(secret: &[u8], person_id: &str) -> String {
    KeyedHasher::person_refs(secret).doc_id(person_id)
}

/// One training row as it is hashed into a shard's Merkle tree.
#[derive(Clone, Copy, Debug)]
pub struct LeafData<'a> {
    pub doc_id: &'a str,
    pub text: Option<&'a str>,
    pub platform: &'a str,
    pub kind: &'a str,
    pub lang: Option<&'a str>,
    pub media_sha256: Option<&'a str>,
}

impl LeafData<'_> {
    /// The canonical bytes: for each field in order (doc_id, text, platform,
    /// kind, lang, media_sha256) one byte 0 for null, or 1 followed by the
    /// UTF-8 length as 4 bytes big-endian and the UTF-8 bytes.
    pub fn canonical_bytes(&self, out: &mut Vec<u8>) {
        out.clear();
        for field in [
            Some(self.doc_id),
            self.text,
            Some(self.platform),
            Some(self.kind),
            self.lang,
            self.media_sha256,
        ] {
            match field {
                None => out.push(0),
                Some(s) => {
                    out.push(1);
                    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
    }
}

/// RFC 6962 leaf hash of arbitrary data.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 6962 Merkle tree hash over leaf hashes, in order.
pub fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&merkle_root(&leaves[..k]), &merkle_root(&leaves[k..]))
        }
    }
}

fn split_point(n: usize) -> usize {
    // The largest power of two strictly smaller than n (n >= 2).
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// RFC 9162 audit path of leaf `index` in the tree over `leaves`.
pub fn audit_path(leaves: &[[u8; 32]], index: usize) -> Vec<[u8; 32]> {
    assert!(index < leaves.len(), "leaf index inside the tree");
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m) = (0usize, leaves.len(), index);
    // Walk down from the root, remembering the sibling subtree at each level.
    let mut siblings = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if m < k {
            siblings.push(merkle_root(&leaves[lo + k..hi]));
            hi = lo + k;
        } else {
            siblings.push(merkle_root(&leaves[lo..lo + k]));
            lo += k;
            m -= k;
        }
    }
    // The path lists siblings from the leaf up.
    while let Some(s) = siblings.pop() {
        path.push(s);
    }
    path
}

/// The root implied by a leaf hash, its index, the tree size and an audit
/// path (RFC 9162, section 2.1.3.2); `None` if the path cannot fit the tree.
pub fn root_from_path(leaf: [u8; 32], index: u64, size: u64, path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_leaf_proves_and_any_flipped_bit_fails(n in 1usize..70, pick in any::<prop::sample::Index>(), bit in 0usize..256) {
            let leaves: Vec<[u8; 32]> = (0..n as u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let root = merkle_root(&leaves);
            let i = pick.index(n);
            let path = audit_path(&leaves, i);
            prop_assert_eq!(root_from_path(leaves[i], i as u64, n as u64, &path), Some(root));
            // Flip one bit of the leaf, or of one path element.
            let mut leaf = leaves[i];
            leaf[bit / 8] ^= 1 << (bit % 8);
            prop_assert_ne!(root_from_path(leaf, i as u64, n as u64, &path), Some(root));
            if !path.is_empty() {
                let mut bad = path.clone();
                let j = bit % bad.len();
                bad[j][bit / 8] ^= 1 << (bit % 8);
                prop_assert_ne!(root_from_path(leaves[i], i as u64, n as u64, &bad), Some(root));
            }
            // The wrong index or size does not prove it either.
            if n > 1 {
                let other = (i + 1) % n;
                prop_assert_ne!(root_from_path(leaves[i], other as u64, n as u64, &path), Some(root));
            }
        }
    }

    #[test]
    fn shards_are_stable_and_spread() {
        let secret = b"installation secret";
        let mut counts = [0u32; 16];
        for i in 0..16_000 {
            let s = shard_of(secret, &format!("person-{i}"), 16);
            assert_eq!(s, shard_of(secret, &format!("person-{i}"), 16));
            counts[s as usize] += 1;
        }
        // Each shard within 15% of the mean of 1000.
        assert!(counts.iter().all(|c| (850..1150).contains(c)), "{counts:?}");
    }

    #[test]
    fn doc_ids_depend_on_the_secret() {
        assert_ne!(doc_id(b"a", "item-1"), doc_id(b"b", "item-1"));
        assert_ne!(doc_id(b"a", "item-1"), doc_id(b"a", "item-2"));
        assert_eq!(doc_id(b"a", "item-1").len(), 32);
    }

    #[test]
    fn keyed_hashes_match_an_independent_hmac() {
        // Expected values from Python's hmac module (hmac.new(key, domain +
        // value, sha256)), not from this code: other tools must be able to
        // recompute doc ids and shards from the documented definition.
        let secret: Vec<u8> = (0u8..32).collect();
        assert_eq!(doc_id(&secret, "i0000001"), "f46836849f15f0e349b4f9b15258d76f");
        assert_eq!(
            KeyedHasher::doc_ids(&secret).doc_id("i0000001"),
            "f46836849f15f0e349b4f9b15258d76f"
        );
        assert_eq!(shard_of(&secret, "p00000042", 16), 10);
        assert_eq!(KeyedHasher::shards(&secret).shard_of("p00000042", 1000), 834);
        assert_eq!(person_ref(&secret, "p00000042"), "f4be79b0552139853cbb3a3c0c87f362");
    }

    #[test]
    fn merkle_root_matches_rfc6962_structure() {
        let l: Vec<[u8; 32]> = (0u8..3).map(|i| leaf_hash(&[i])).collect();
        // Three leaves: root = H(1 || H(1||l0||l1) || l2).
        assert_eq!(merkle_root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!(merkle_root(&l[..1]), l[0]);
        // The empty tree is SHA-256 of the empty string.
        assert_eq!(
            hex::encode(merkle_root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn canonical_bytes_distinguish_null_from_empty() {
        let a = LeafData {
            doc_id: "d",
            text: None,
            platform: "facebook",
            kind: "post",
            lang: None,
            media_sha256: None,
        };
        let b = LeafData { text: Some(""), ..a };
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.canonical_bytes(&mut x);
        b.canonical_bytes(&mut y);
        assert_ne!(leaf_hash(&x), leaf_hash(&y));
    }
}
