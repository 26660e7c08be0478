//! The transparency ledger's rules: how an entry is hashed, how the chain
//! links, how the head is signed, and how a whole export is verified. Pure
//! functions; the store appends and the CLI exports (see docs/ledger.md).
//!
//! entry hash, format 2 = SHA-256(JCS, RFC 8785, of {"at", "format", "kind", "payload", "prev", "seq"})
//! entry hash, format 1 = SHA-256(legacy canonical JSON of {"at", "kind", "payload", "prev", "seq"})
//! head signature = Ed25519 over `veto-ledger-head/v1\n{seq}\n{hash}`
//!
//! The first entry (`ledger_created`) carries the installation's first public
//! key; a `key_rotated` entry carries the next key and the old key's signature
//! over it, so one trusted genesis key verifies the head at any later time.
//!
//! Entries appended from now on are format 2; ledgers begun before hold
//! format-1 entries first and keep verifying, but a chain never goes back to
//! format 1 once it has a format-2 entry.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::canonical::strict::{self, StrictError};

/// The `prev` of the first entry.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How an entry is serialised for its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub enum Format {
    /// The legacy canonical JSON ([`crate::canonical::to_string`]); the
    /// entry does not carry a `format` field.
    Legacy = 1,
    /// RFC 8785 (JCS); the entry carries `"format": 2`, and the hash covers it.
    Jcs = 2,
}

impl Format {
    /// The format of the entries veto appends.
    pub const CURRENT: Format = Format::Jcs;

    fn is_legacy(&self) -> bool {
        *self == Format::Legacy
    }
}

impl TryFrom<u32> for Format {
    type Error = String;

    fn try_from(n: u32) -> Result<Format, String> {
        match n {
            1 => Ok(Format::Legacy),
            2 => Ok(Format::Jcs),
            _ => Err(format!("ledger format {n} is not one this veto knows (1 or 2)")),
        }
    }
}

impl From<Format> for u32 {
    fn from(f: Format) -> u32 {
        f as u32
    }
}

fn legacy_format() -> Format {
    Format::Legacy
}

/// One ledger entry as stored and exported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Absent in format-1 entries, which were written before it existed.
    #[serde(default = "legacy_format", skip_serializing_if = "Format::is_legacy")]
    pub format: Format,
    pub seq: u64,
    pub kind: String,
    /// RFC 3339 UTC, when the entry was appended.
    pub at: String,
    pub payload: Value,
    pub prev: String,
    pub hash: String,
}

/// The signed head of an exported ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    /// Hex Ed25519 public key that signed the head.
    pub public_key: String,
    /// Hex Ed25519 signature over [`head_message`].
    pub signature: String,
}

/// The exact bytes an entry's hash covers.
pub fn hashed_bytes(format: Format, seq: u64, kind: &str, at: &str, payload: &Value, prev: &str) -> String {
    match format {
        Format::Legacy => {
            let body = json!({ "seq": seq, "kind": kind, "at": at, "payload": payload, "prev": prev });
            crate::canonical::to_string(&body)
        }
        Format::Jcs => {
            let body =
                json!({ "format": format, "seq": seq, "kind": kind, "at": at, "payload": payload, "prev": prev });
            crate::canonical::jcs(&body)
        }
    }
}

/// The hash an entry must carry.
pub fn entry_hash(format: Format, seq: u64, kind: &str, at: &str, payload: &Value, prev: &str) -> String {
    hex::encode(Sha256::digest(
        hashed_bytes(format, seq, kind, at, payload, prev).as_bytes(),
    ))
}

impl Entry {
    /// A new entry in the current format, linked to `prev` (the previous
    /// entry's hash or [`GENESIS_PREV`]).
    pub fn new(seq: u64, kind: &str, at: &str, payload: Value, prev: &str) -> Entry {
        Entry::in_format(Format::CURRENT, seq, kind, at, payload, prev)
    }

    /// A new entry in `format` (format 1 only for tests and tools that
    /// reproduce old ledgers).
    pub fn in_format(format: Format, seq: u64, kind: &str, at: &str, payload: Value, prev: &str) -> Entry {
        let hash = entry_hash(format, seq, kind, at, &payload, prev);
        Entry {
            format,
            seq,
            kind: kind.to_string(),
            at: at.to_string(),
            payload,
            prev: prev.to_string(),
            hash,
        }
    }

    /// The hash this entry's content calls for.
    pub fn expected_hash(&self) -> String {
        entry_hash(self.format, self.seq, &self.kind, &self.at, &self.payload, &self.prev)
    }

    /// The entry's line in a ledger export. Format 2: the JCS of the whole
    /// entry, so any JCS library re-derives it. Format 1: the line earlier
    /// versions wrote (fields in declaration order, the payload in the
    /// legacy canonical form), so old exports read back byte for byte.
    pub fn to_line(&self) -> String {
        match self.format {
            Format::Jcs => crate::canonical::jcs(&serde_json::to_value(self).expect("an entry is JSON")),
            Format::Legacy => {
                let s = |v: &str| Value::String(v.to_string()).to_string();
                format!(
                    "{{\"seq\":{},\"kind\":{},\"at\":{},\"payload\":{},\"prev\":{},\"hash\":{}}}",
                    self.seq,
                    s(&self.kind),
                    s(&self.at),
                    crate::canonical::to_string(&self.payload),
                    s(&self.prev),
                    s(&self.hash)
                )
            }
        }
    }
}

/// One line of a ledger export.
#[derive(Clone, Debug, PartialEq)]
pub enum ExportLine {
    Entry(Entry),
    Head(Head),
}

/// The last line of an export: `{"head": {...}}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadLine {
    head: Head,
}

/// The export line of a signed head (JCS; earlier versions wrote the same bytes).
pub fn head_line(head: &Head) -> String {
    crate::canonical::jcs(&serde_json::to_value(HeadLine { head: head.clone() }).expect("a head is JSON"))
}

/// Parses one export line strictly: no duplicate keys, no unknown or
/// missing fields, and the line must be exactly the one veto writes for
/// what it says ([`Entry::to_line`], [`head_line`]), so the bytes a reader
/// sees are the bytes the hash covers.
pub fn parse_export_line(line: &str) -> Result<ExportLine, StrictError> {
    let value = strict::parse_value(line)?;
    let is_head = value
        .as_object()
        .is_some_and(|o| o.len() == 1 && o.contains_key("head"));
    let (parsed, canonical) = if is_head {
        let h: HeadLine = strict::from_value(&value)?;
        let canonical = head_line(&h.head);
        (ExportLine::Head(h.head), canonical)
    } else {
        let e: Entry = strict::from_value(&value)?;
        let canonical = e.to_line();
        (ExportLine::Entry(e), canonical)
    };
    if line != canonical {
        return Err(StrictError::NonCanonical(
            "the line is not written the way veto writes it (key order, spacing or escapes)".into(),
        ));
    }
    Ok(parsed)
}

/// The bytes a head signature covers.
pub fn head_message(seq: u64, hash: &str) -> Vec<u8> {
    format!("veto-ledger-head/v1\n{seq}\n{hash}").into_bytes()
}

/// The bytes a key rotation signature covers.
pub fn rotation_message(new_public_key: &str) -> Vec<u8> {
    format!("veto-key-rotation/v1\n{new_public_key}").into_bytes()
}

/// Signs the head `(seq, hash)`.
pub fn sign_head(key: &SigningKey, seq: u64, hash: &str) -> Head {
    Head {
        seq,
        hash: hash.to_string(),
        public_key: hex::encode(key.verifying_key().as_bytes()),
        signature: hex::encode(key.sign(&head_message(seq, hash)).to_bytes()),
    }
}

/// Why a ledger does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("the ledger is empty")]
    Empty,
    #[error("entry {position}: seq is {found}, expected {expected} (an entry was dropped, added or moved)")]
    Sequence { position: usize, found: u64, expected: u64 },
    #[error("entry {seq}: prev does not match the hash of entry {previous} (the chain is broken)")]
    Link { seq: u64, previous: u64 },
    #[error("entry {seq}: hash does not match its content (the entry was altered)")]
    Hash { seq: u64 },
    #[error("entry {seq}: format 1 after a format-2 entry (veto never goes back to the old form)")]
    Format { seq: u64 },
    #[error("entry 0 must be ledger_created with the installation's public key")]
    Genesis,
    #[error("entry {seq}: {message}")]
    Rotation { seq: u64, message: String },
    #[error("head: {0}")]
    Head(String),
}

fn verifying_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key)
        .map_err(|e| e.to_string())?
        .try_into()
        .map_err(|_| "not 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| e.to_string())
}

fn signature(hex_sig: &str) -> Result<Signature, String> {
    let bytes: [u8; 64] = hex::decode(hex_sig)
        .map_err(|e| e.to_string())?
        .try_into()
        .map_err(|_| "not 64 bytes".to_string())?;
    Ok(Signature::from_bytes(&bytes))
}

/// Verifies a complete ledger export: sequence, links, formats, hashes, key
/// rotations and the signed head. `trusted_key` (hex), when given, must equal
/// the genesis key; otherwise the genesis key in the export is trusted.
/// Returns the public key in force at the head.
pub fn verify(entries: &[Entry], head: &Head, trusted_key: Option<&str>) -> Result<String, ChainError> {
    let first = entries.first().ok_or(ChainError::Empty)?;
    let mut key = match (
        first.kind.as_str(),
        first.payload.get("public_key").and_then(Value::as_str),
    ) {
        ("ledger_created", Some(k)) => k.to_string(),
        _ => return Err(ChainError::Genesis),
    };
    if trusted_key.is_some_and(|t| t != key) {
        return Err(ChainError::Genesis);
    }
    let mut prev = GENESIS_PREV.to_string();
    let mut format = Format::Legacy;
    for (position, e) in entries.iter().enumerate() {
        if e.seq != position as u64 {
            return Err(ChainError::Sequence {
                position,
                found: e.seq,
                expected: position as u64,
            });
        }
        if e.prev != prev {
            return Err(ChainError::Link {
                seq: e.seq,
                previous: e.seq.saturating_sub(1),
            });
        }
        // Only a ledger begun before format 2 holds format-1 entries, and
        // only before its first format-2 one: a later format-1 entry was
        // not written by veto.
        if e.format < format {
            return Err(ChainError::Format { seq: e.seq });
        }
        format = e.format;
        if e.expected_hash() != e.hash {
            return Err(ChainError::Hash { seq: e.seq });
        }
        if e.kind == "key_rotated" {
            key = check_rotation(e, &key)?;
        }
        prev = e.hash.clone();
    }
    check_head(entries, head, &key)?;
    Ok(key)
}

/// The new key of a `key_rotated` entry, once its signature by `key` checks.
fn check_rotation(e: &Entry, key: &str) -> Result<String, ChainError> {
    let rotation = |message: String| ChainError::Rotation { seq: e.seq, message };
    let new_key = e
        .payload
        .get("public_key")
        .and_then(Value::as_str)
        .ok_or_else(|| rotation("no public_key".into()))?;
    let sig = e
        .payload
        .get("signature_by_previous_key")
        .and_then(Value::as_str)
        .ok_or_else(|| rotation("no signature".into()))?;
    let old = verifying_key(key).map_err(rotation)?;
    old.verify(&rotation_message(new_key), &signature(sig).map_err(rotation)?)
        .map_err(|_| rotation("not signed by the previous key".into()))?;
    Ok(new_key.to_string())
}

/// The head names the last entry and is signed by `key`, the key in force.
fn check_head(entries: &[Entry], head: &Head, key: &str) -> Result<(), ChainError> {
    let Some(last) = entries.last() else {
        return Err(ChainError::Empty);
    };
    if head.seq != last.seq || head.hash != last.hash {
        return Err(ChainError::Head(format!(
            "signed head is entry {} ({}), but the last entry is {} ({}): entries were dropped or added",
            head.seq, head.hash, last.seq, last.hash
        )));
    }
    if head.public_key != key {
        return Err(ChainError::Head("signed by a key that is not the one in force".into()));
    }
    let vk = verifying_key(key).map_err(ChainError::Head)?;
    vk.verify(
        &head_message(head.seq, &head.hash),
        &signature(&head.signature).map_err(ChainError::Head)?,
    )
    .map_err(|_| ChainError::Head("signature does not verify".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn ledger(n: usize) -> (Vec<Entry>, Head) {
        let k = key(1);
        let mut entries = vec![Entry::new(
            0,
            "ledger_created",
            "2025-05-01T00:00:00Z",
            json!({"public_key": hex::encode(k.verifying_key().as_bytes())}),
            GENESIS_PREV,
        )];
        for i in 1..n as u64 {
            let prev = entries.last().unwrap().hash.clone();
            entries.push(Entry::new(
                i,
                "objection_filed",
                "2025-05-02T00:00:00Z",
                json!({"objection_id": format!("o{i}"), "scope": "all"}),
                &prev,
            ));
        }
        let last = entries.last().unwrap();
        let head = sign_head(&k, last.seq, &last.hash);
        (entries, head)
    }

    #[test]
    fn an_untouched_ledger_verifies() {
        let (entries, head) = ledger(5);
        assert!(verify(&entries, &head, None).is_ok());
        let genesis = entries[0].payload["public_key"].as_str().unwrap();
        assert!(verify(&entries, &head, Some(genesis)).is_ok());
        assert_eq!(verify(&entries, &head, Some("00")), Err(ChainError::Genesis));
    }

    #[test]
    fn tampering_with_any_entry_is_detected() {
        let (entries, head) = ledger(5);
        for i in 0..entries.len() {
            let mut t = entries.clone();
            t[i].payload["scope"] = json!("facebook");
            assert!(verify(&t, &head, None).is_err(), "entry {i}");
        }
        // Re-hashing the altered entry breaks the next link instead.
        let mut t = entries.clone();
        t[2].payload["scope"] = json!("facebook");
        t[2].hash = t[2].expected_hash();
        assert_eq!(verify(&t, &head, None), Err(ChainError::Link { seq: 3, previous: 2 }));
    }

    #[test]
    fn reordering_or_dropping_entries_is_detected() {
        let (entries, head) = ledger(5);
        let mut swapped = entries.clone();
        swapped.swap(2, 3);
        assert!(matches!(
            verify(&swapped, &head, None),
            Err(ChainError::Sequence { position: 2, .. })
        ));
        let mut dropped_middle = entries.clone();
        dropped_middle.remove(2);
        assert!(matches!(
            verify(&dropped_middle, &head, None),
            Err(ChainError::Sequence { position: 2, .. })
        ));
        let dropped_last = &entries[..4];
        assert!(matches!(verify(dropped_last, &head, None), Err(ChainError::Head(_))));
    }

    #[test]
    fn a_head_signed_by_another_key_is_refused() {
        let (entries, head) = ledger(3);
        let forged = sign_head(&key(9), head.seq, &head.hash);
        assert!(matches!(verify(&entries, &forged, None), Err(ChainError::Head(_))));
    }

    #[test]
    fn key_rotation_needs_the_previous_keys_signature() {
        let (mut entries, _) = ledger(2);
        let (old, new) = (key(1), key(2));
        let new_pub = hex::encode(new.verifying_key().as_bytes());
        let sig = hex::encode(old.sign(&rotation_message(&new_pub)).to_bytes());
        let prev = entries.last().unwrap().hash.clone();
        entries.push(Entry::new(
            2,
            "key_rotated",
            "2025-06-01T00:00:00Z",
            json!({"public_key": new_pub, "signature_by_previous_key": sig}),
            &prev,
        ));
        let head = sign_head(&new, 2, &entries[2].hash);
        assert!(verify(&entries, &head, None).is_ok());
        // The old key no longer signs heads.
        let stale = sign_head(&old, 2, &entries[2].hash);
        assert!(verify(&entries, &stale, None).is_err());
        // A rotation signed by a stranger is refused.
        let bad_sig = hex::encode(key(7).sign(&rotation_message(&new_pub)).to_bytes());
        entries[2] = Entry::new(
            2,
            "key_rotated",
            "2025-06-01T00:00:00Z",
            json!({"public_key": new_pub, "signature_by_previous_key": bad_sig}),
            &prev,
        );
        let head = sign_head(&new, 2, &entries[2].hash);
        assert!(matches!(
            verify(&entries, &head, None),
            Err(ChainError::Rotation { seq: 2, .. })
        ));
    }
}
