//! Unlearning certificates: what a person keeps as proof of what happened
//! to their data in each model, signed by the installation key.
//!
//! Every claim cites the ledger entry that proves it (by sequence number
//! and entry hash), so a certificate is checked offline against a ledger
//! export (`veto verify CERT --ledger FILE`, veto-audit's
//! `certificate::check`): the signature says the operator issued it, the
//! ledger says it is true. Like receipts, it is signed over its RFC 8785
//! (JCS) form without the `signature` field and parsed strictly; figures
//! are decimal strings, so no reader has to agree on floating point.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::canonical::strict::{self, StrictError};

pub const CERTIFICATE_FORMAT: &str = "veto-certificate/1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub format: String,
    pub person_ref: String,
    /// RFC 3339 UTC.
    pub issued_at: String,
    /// The ledger's last entry when the certificate was issued: the ledger
    /// a verifier holds must reach it with this hash.
    pub ledger_seq: u64,
    pub ledger_hash: String,
    pub objections: Vec<CertObjection>,
    pub models: Vec<CertModel>,
    /// Hex Ed25519 public key of the installation.
    pub public_key: String,
    /// Hex signature; empty while signing.
    pub signature: String,
}

/// An entry of the ledger, cited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cited {
    pub seq: u64,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertObjection {
    pub objection_id: String,
    pub scope: String,
    pub filed_at: String,
    pub withdrawn_at: Option<String>,
    /// The `objection_filed` entry.
    pub entry: Cited,
}

/// What one model did with the person's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertModel {
    pub model_id: String,
    pub snapshot_id: String,
    /// The `model_trained` entry.
    pub trained: Cited,
    /// The person's items the snapshot included (from its lookup).
    pub items_in_snapshot: u64,
    /// The shard that held them, if any.
    pub shard: Option<u32>,
    /// Versions trained with the person's data: up to the version before
    /// the last removal when `removed`, else every version so far.
    pub versions_with_data: Vec<u32>,
    /// `removed` (nothing of theirs an objection covers is left),
    /// `pending` (an objection applies to items still in it; unlearning is
    /// due), `kept_by_policy` (the snapshot's policy keeps late objectors)
    /// or `in_model` (no objection applies).
    pub status: String,
    /// Every unlearning that removed some of the person's items, in order
    /// (a second objection can remove more later).
    pub removals: Vec<CertRemoval>,
    pub membership: Option<CertMembership>,
    /// What the person contributed to the training sets, counted from the
    /// snapshot's files: of the current version while in the model, of the
    /// version before the last removal once removed. Attested by the
    /// signature; the ledger has no per-person counts.
    pub contribution: Option<CertContribution>,
}

/// A person's part of a model version's training tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertContribution {
    pub version: u32,
    pub items: u64,
    /// UTF-8 bytes of their texts plus one end-of-text token each.
    pub tokens: u64,
    /// The version's training-set size in the same tokens.
    pub total_tokens: u64,
    /// tokens / total_tokens, as a decimal string.
    pub share: String,
}

/// An unlearning that removed the person's items from a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertRemoval {
    pub version: u32,
    /// RFC 3339 UTC, the `model_unlearned` entry's time.
    pub at: String,
    pub items: u64,
    /// The `model_unlearned` entry.
    pub entry: Cited,
    /// The entry of the version before (trained or unlearned).
    pub previous: Cited,
    /// The retrained shards' training-set roots before and after.
    pub shards: Vec<CertShard>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertShard {
    pub shard: u32,
    pub root_before: Option<String>,
    pub root_after: Option<String>,
}

/// The membership audit of the person's texts (decimal strings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertMembership {
    pub members: u64,
    pub auc_loss_before: String,
    pub auc_loss_after: String,
    pub auc_loss_retrained: String,
    pub auc_min_k_before: String,
    pub auc_min_k_after: String,
    pub auc_min_k_retrained: String,
    pub privleak_loss: String,
    pub verbmem_before: String,
    pub verbmem_after: String,
}

impl Certificate {
    /// Parses a certificate strictly (unknown fields, duplicate keys and
    /// non-canonical forms are refused).
    pub fn from_json(text: &str) -> Result<Certificate, StrictError> {
        strict::from_str(text).map(|(c, _)| c)
    }

    fn message(&self) -> Result<Vec<u8>, String> {
        if self.format != CERTIFICATE_FORMAT {
            return Err(format!(
                "format {:?} is not a certificate format this veto knows ({CERTIFICATE_FORMAT})",
                self.format
            ));
        }
        let mut unsigned = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Some(fields) = unsigned.as_object_mut() {
            fields.remove("signature");
        }
        Ok(crate::canonical::jcs(&unsigned).into_bytes())
    }

    /// Fills `format`, `public_key` and `signature`.
    pub fn sign(mut self, key: &SigningKey) -> Certificate {
        self.format = CERTIFICATE_FORMAT.to_string();
        self.public_key = hex::encode(key.verifying_key().as_bytes());
        self.signature = String::new();
        let message = self.message().expect("the current format has a message");
        self.signature = hex::encode(key.sign(&message).to_bytes());
        self
    }

    /// Checks the signature by the key the certificate names.
    pub fn verify_signature(&self) -> Result<(), String> {
        let message = self.message()?;
        let key: [u8; 32] = hex::decode(&self.public_key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or("bad public key")?;
        let key = VerifyingKey::from_bytes(&key).map_err(|e| e.to_string())?;
        let sig: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or("bad signature encoding")?;
        key.verify(&message, &Signature::from_bytes(&sig))
            .map_err(|_| "the signature does not match the certificate".to_string())
    }
}

/// What counting one model's contribution needs from the snapshot's files
/// (the store knows the rest): the person's rows of `shard` minus held-out
/// and `removed`, against `total_tokens` of `version`.
#[derive(Clone, Debug)]
pub struct ContributionJob {
    /// Index into [`Certificate::models`].
    pub model: usize,
    pub snapshot_dir: std::path::PathBuf,
    pub shard: u32,
    pub removed: std::collections::BTreeSet<String>,
    pub version: u32,
    pub total_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> Certificate {
        Certificate {
            format: String::new(),
            person_ref: "ab12".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
            ledger_seq: 7,
            ledger_hash: "00".into(),
            objections: vec![],
            models: vec![],
            public_key: String::new(),
            signature: String::new(),
        }
    }

    #[test]
    fn a_signed_certificate_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let c = cert().sign(&key);
        assert_eq!(c.verify_signature(), Ok(()));
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(Certificate::from_json(&text).unwrap(), c);
        let mut changed = c.clone();
        changed.ledger_seq = 8;
        assert!(changed.verify_signature().is_err());
        let extra = text.replacen('{', "{\"note\":\"x\",", 1);
        assert!(Certificate::from_json(&extra).is_err(), "unknown fields are refused");
    }
}
