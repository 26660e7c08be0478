//! Signed receipts for objections: what a person keeps as proof that the
//! operator acknowledged their objection (or its withdrawal), and when.
//!
//! The signature is Ed25519 by the installation key over the canonical JSON
//! of the receipt without its `signature` field; anyone with the published
//! public key can check it offline.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

pub const RECEIPT_FORMAT: &str = "veto-receipt/1";

/// A receipt as handed to the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub format: String,
    /// `objection_filed` or `objection_withdrawn`.
    pub event: String,
    pub objection_id: String,
    pub person_id: String,
    pub scope: String,
    /// RFC 3339 UTC.
    pub filed_at: String,
    /// The same instant in the policy's time zone.
    pub filed_at_local: String,
    pub withdrawn_at: Option<String>,
    pub policy: String,
    /// Whether the objection was filed by the policy's deadline.
    pub before_deadline: bool,
    /// Hex Ed25519 public key of the installation.
    pub public_key: String,
    /// Hex signature; empty while signing.
    pub signature: String,
}

impl Receipt {
    fn message(&self) -> Vec<u8> {
        let mut unsigned = serde_json::to_value(self).expect("receipt serialises");
        unsigned.as_object_mut().expect("object").remove("signature");
        crate::canonical::to_string(&unsigned).into_bytes()
    }

    /// Fills `public_key` and `signature`.
    pub fn sign(mut self, key: &SigningKey) -> Receipt {
        self.public_key = hex::encode(key.verifying_key().as_bytes());
        self.signature = String::new();
        self.signature = hex::encode(key.sign(&self.message()).to_bytes());
        self
    }

    /// Checks the signature against `trusted_key` (hex), or against the key
    /// in the receipt when none is given.
    pub fn verify(&self, trusted_key: Option<&str>) -> Result<(), String> {
        if self.format != RECEIPT_FORMAT {
            return Err(format!("not a {RECEIPT_FORMAT} receipt"));
        }
        let key_hex = trusted_key.unwrap_or(&self.public_key);
        if key_hex != self.public_key {
            return Err("signed with a key other than the installation's".into());
        }
        let key: [u8; 32] = hex::decode(key_hex)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or("bad public key")?;
        let key = VerifyingKey::from_bytes(&key).map_err(|e| e.to_string())?;
        let sig: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or("bad signature encoding")?;
        key.verify(&self.message(), &Signature::from_bytes(&sig))
            .map_err(|_| "the signature does not match the receipt".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            format: RECEIPT_FORMAT.into(),
            event: "objection_filed".into(),
            objection_id: "obj-1".into(),
            person_id: "p1".into(),
            scope: "all".into(),
            filed_at: "2025-05-26T21:59:59Z".into(),
            filed_at_local: "2025-05-26T23:59:59+02:00".into(),
            withdrawn_at: None,
            policy: "meta-2025".into(),
            before_deadline: true,
            public_key: String::new(),
            signature: String::new(),
        }
    }

    #[test]
    fn a_signed_receipt_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let r = receipt().sign(&key);
        assert_eq!(r.verify(None), Ok(()));
        assert_eq!(r.verify(Some(&r.public_key.clone())), Ok(()));
        let mut changed = r.clone();
        changed.before_deadline = false;
        assert!(changed.verify(None).is_err());
        let mut changed = r.clone();
        changed.scope = "facebook".into();
        assert!(changed.verify(None).is_err());
        let other = SigningKey::from_bytes(&[8; 32]);
        let forged = receipt().sign(&other);
        assert!(forged.verify(Some(&r.public_key)).is_err());
    }
}
