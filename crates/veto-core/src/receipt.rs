//! Signed receipts for objections: what a person keeps as proof that the
//! operator acknowledged their objection (or its withdrawal), and when.
//!
//! The signature is Ed25519 by the installation key over the canonical JSON
//! of the receipt without its `signature` field: RFC 8785 (JCS) for
//! `veto-receipt/2`, the legacy form ([`crate::canonical::to_string`]) for
//! `veto-receipt/1`, which receipts issued before keep. Anyone with the
//! published public key can check it offline with any JCS library.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::canonical::strict::{self, StrictError};

/// The format of the receipts veto issues.
pub const RECEIPT_FORMAT: &str = "veto-receipt/2";
/// The format of receipts issued before JCS; they still verify.
pub const LEGACY_RECEIPT_FORMAT: &str = "veto-receipt/1";

/// A receipt as handed to the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Parses a receipt strictly: duplicate keys, unknown fields and
    /// anything that does not read back as written (a missing
    /// `withdrawn_at`, say) are refused, because the signature is checked
    /// over the receipt re-derived from the parsed fields and must cover
    /// exactly what the document shows.
    pub fn from_json(text: &str) -> Result<Receipt, StrictError> {
        strict::from_str(text).map(|(receipt, _)| receipt)
    }

    /// The signed bytes, or why this receipt's format has none.
    fn message(&self) -> Result<Vec<u8>, String> {
        let mut unsigned = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Some(fields) = unsigned.as_object_mut() {
            fields.remove("signature");
        }
        match self.format.as_str() {
            RECEIPT_FORMAT => Ok(crate::canonical::jcs(&unsigned).into_bytes()),
            LEGACY_RECEIPT_FORMAT => Ok(crate::canonical::to_string(&unsigned).into_bytes()),
            other => Err(format!(
                "format {other:?} is not a receipt format this veto knows ({RECEIPT_FORMAT} or {LEGACY_RECEIPT_FORMAT})"
            )),
        }
    }

    /// Fills `format` (the current one), `public_key` and `signature`.
    pub fn sign(mut self, key: &SigningKey) -> Receipt {
        self.format = RECEIPT_FORMAT.to_string();
        self.public_key = hex::encode(key.verifying_key().as_bytes());
        self.signature = String::new();
        let message = self.message().expect("the current format has a message");
        self.signature = hex::encode(key.sign(&message).to_bytes());
        self
    }

    /// Checks the signature against `trusted_key` (hex), or against the key
    /// in the receipt when none is given.
    pub fn verify(&self, trusted_key: Option<&str>) -> Result<(), String> {
        let message = self.message()?;
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
        key.verify(&message, &Signature::from_bytes(&sig))
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
