//! The ledger as kept in the store. Entries are appended inside the same
//! transaction as the change they record, so the ledger and the state never
//! disagree. The rules (hashing, linking, signing) are veto-core's.

use chrono::{SecondsFormat, Utc};
use ed25519_dalek::{Signer, SigningKey};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};
use veto_core::Objection;
use veto_core::hashing::person_ref;
use veto_core::ledger::{Entry, GENESIS_PREV, Head, rotation_message, sign_head};

use crate::{SnapshotRecord, Store, StoreError};

pub(crate) fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Appends one entry after the current last one.
pub(crate) async fn append(tx: &mut Transaction<'_, Any>, kind: &str, payload: Value) -> Result<Entry, StoreError> {
    let mut entries = append_many(tx, vec![(kind.to_string(), payload)]).await?;
    entries
        .pop()
        .ok_or_else(|| StoreError::Internal("an append of one entry appended none".into()))
}

/// Appends entries in order after the current last one: one read of the
/// head and one INSERT per 1,000 entries, not two round trips each (the
/// portal's group commit appends hundreds at once). The caller holds the
/// write lock ([`Store::write_tx`]), so the head cannot move meanwhile.
pub(crate) async fn append_many(
    tx: &mut Transaction<'_, Any>,
    items: Vec<(String, Value)>,
) -> Result<Vec<Entry>, StoreError> {
    let last = sqlx::query("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    let (mut seq, mut prev) = match last {
        Some(r) => (r.try_get::<i64, _>("seq")? as u64 + 1, r.try_get::<String, _>("hash")?),
        None => (0, GENESIS_PREV.to_string()),
    };
    let at = rfc3339(Utc::now());
    let mut entries = Vec::with_capacity(items.len());
    for (kind, payload) in items {
        let entry = Entry::new(seq, &kind, &at, payload, &prev);
        seq += 1;
        prev = entry.hash.clone();
        entries.push(entry);
    }
    for chunk in entries.chunks(1000) {
        let sql = format!(
            "INSERT INTO ledger (seq, format, kind, at, payload, prev, hash) VALUES {}",
            crate::backend::Backend::values(chunk.len(), 7)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for entry in chunk {
            q = q
                .bind(entry.seq as i64)
                .bind(u32::from(entry.format) as i64)
                .bind(entry.kind.clone())
                .bind(entry.at.clone())
                .bind(veto_core::canonical::jcs(&entry.payload))
                .bind(entry.prev.clone())
                .bind(entry.hash.clone());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(entries)
}

/// The ledger entries that record `o` (filed, and withdrawn if it is).
pub(crate) fn objection_entries(secret: &[u8], o: &Objection) -> Vec<(String, Value)> {
    let mut out = vec![(
        "objection_filed".to_string(),
        json!({
            "objection_id": o.objection_id,
            "person_ref": person_ref(secret, &o.person_id),
            "scope": o.scope.as_str(),
            "filed_at": rfc3339(o.filed_at),
            "channel": o.channel.as_str(),
        }),
    )];
    if let Some(w) = o.withdrawn_at {
        out.push((
            "objection_withdrawn".to_string(),
            json!({ "objection_id": o.objection_id, "withdrawn_at": rfc3339(w) }),
        ));
    }
    out
}

pub(crate) async fn append_objection(
    tx: &mut Transaction<'_, Any>,
    secret: &[u8],
    o: &Objection,
) -> Result<(), StoreError> {
    append_many(tx, objection_entries(secret, o)).await?;
    Ok(())
}

pub(crate) async fn append_snapshot(tx: &mut Transaction<'_, Any>, s: &SnapshotRecord) -> Result<(), StoreError> {
    let manifest: Value = serde_json::from_str(&s.manifest)
        .map_err(|e| StoreError::Corrupt(format!("manifest of {}: {e}", s.snapshot_id)))?;
    let shards: Vec<Value> = manifest["shards"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|sh| json!({ "shard": sh["shard"], "rows": sh["rows"], "sha256": sh["sha256"], "merkle_root": sh["merkle_root"] }))
                .collect()
        })
        .unwrap_or_default();
    let payload = json!({
        "snapshot_id": s.snapshot_id,
        "as_of": rfc3339(s.as_of),
        "policy": s.policy_name,
        "policy_sha256": s.policy_sha256,
        "manifest_sha256": hex::encode(Sha256::digest(s.manifest.as_bytes())),
        "shards": shards,
    });
    let mut payload = payload;
    if let Some(seq) = s.objections_seq {
        // The build read the objections of every entry up to this one and
        // of none after it (docs/ledger.md).
        payload["objections_through_seq"] = json!(seq);
    }
    append(tx, "snapshot_built", payload).await?;
    Ok(())
}

impl Store {
    pub(crate) async fn ensure_ledger(&self) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let any = sqlx::query("SELECT 1 FROM ledger LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        if any.is_none() {
            let key = self.signing_key().await?;
            append(
                &mut tx,
                "ledger_created",
                json!({ "public_key": hex::encode(key.verifying_key().as_bytes()) }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn signing_key(&self) -> Result<SigningKey, StoreError> {
        if let Some(key) = self.keys.lock().expect("keys lock").signing.clone() {
            return Ok(key);
        }
        let bytes: [u8; 32] = self
            .installation_value("signing_key")
            .await?
            .try_into()
            .map_err(|_| StoreError::Corrupt("signing key is not 32 bytes".into()))?;
        let key = SigningKey::from_bytes(&bytes);
        self.keys.lock().expect("keys lock").signing = Some(key.clone());
        Ok(key)
    }

    /// Signs a receipt with the installation key (the key never leaves the store).
    pub async fn sign_receipt(
        &self,
        receipt: veto_core::receipt::Receipt,
    ) -> Result<veto_core::receipt::Receipt, StoreError> {
        Ok(receipt.sign(&self.signing_key().await?))
    }

    /// Signs an unlearning certificate with the installation key.
    pub async fn sign_certificate(
        &self,
        cert: veto_core::certificate::Certificate,
    ) -> Result<veto_core::certificate::Certificate, StoreError> {
        Ok(cert.sign(&self.signing_key().await?))
    }

    /// The installation's current public key (hex), for receipts and proofs.
    pub async fn public_key(&self) -> Result<String, StoreError> {
        Ok(hex::encode(self.signing_key().await?.verifying_key().as_bytes()))
    }

    /// Appends an entry of another kind (models, later issues), in its own transaction.
    pub async fn append_ledger(&self, kind: &str, payload: Value) -> Result<Entry, StoreError> {
        let mut tx = self.write_tx().await?;
        let entry = append(&mut tx, kind, payload).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Every entry, in order.
    pub async fn ledger_entries(&self) -> Result<Vec<Entry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM ledger ORDER BY seq")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let payload: String = r.try_get("payload")?;
                let format = u32::try_from(r.try_get::<i64, _>("format")?)
                    .map_err(|e| e.to_string())
                    .and_then(veto_core::ledger::Format::try_from)
                    .map_err(|e| StoreError::Corrupt(format!("ledger format: {e}")))?;
                Ok(Entry {
                    format,
                    seq: r.try_get::<i64, _>("seq")? as u64,
                    kind: r.try_get("kind")?,
                    at: r.try_get("at")?,
                    payload: serde_json::from_str(&payload)
                        .map_err(|e| StoreError::Corrupt(format!("ledger payload: {e}")))?,
                    prev: r.try_get("prev")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }

    /// The ledger's last sequence number.
    pub async fn ledger_seq(&self) -> Result<u64, StoreError> {
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM ledger")
            .fetch_one(self.pool())
            .await?;
        Ok(seq as u64)
    }

    /// The current head, signed with the installation key.
    pub async fn signed_head(&self) -> Result<Head, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
            .fetch_one(self.pool())
            .await?;
        let key = self.signing_key().await?;
        Ok(sign_head(
            &key,
            row.try_get::<i64, _>("seq")? as u64,
            &row.try_get::<String, _>("hash")?,
        ))
    }

    /// Replaces the signing key; the ledger records the new public key with
    /// the old key's signature over it. Returns the new public key.
    pub async fn rotate_signing_key(&self) -> Result<String, StoreError> {
        let old = self.signing_key().await?;
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let new = SigningKey::from_bytes(&seed);
        let new_public = hex::encode(new.verifying_key().as_bytes());
        let signature = hex::encode(old.sign(&rotation_message(&new_public)).to_bytes());
        let mut tx = self.write_tx().await?;
        append(
            &mut tx,
            "key_rotated",
            json!({ "public_key": new_public, "signature_by_previous_key": signature }),
        )
        .await?;
        sqlx::query("UPDATE installation SET value = $1 WHERE key = 'signing_key'")
            .bind(hex::encode(seed))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.keys.lock().expect("keys lock").signing = Some(new);
        Ok(new_public)
    }
}

impl crate::Store {
    /// Ids of the objections filed or withdrawn in ledger entries after
    /// `seq`: what a build that read the objections at `seq` did not see.
    pub async fn objections_recorded_after(&self, seq: u64) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let payloads: Vec<String> = sqlx::query_scalar(
            "SELECT payload FROM ledger WHERE seq > $1 AND kind IN ('objection_filed', 'objection_withdrawn')",
        )
        .bind(seq as i64)
        .fetch_all(&self.pool)
        .await?;
        payloads
            .iter()
            .map(|p| {
                let v: Value =
                    serde_json::from_str(p).map_err(|e| StoreError::Corrupt(format!("ledger payload: {e}")))?;
                v["objection_id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| StoreError::Corrupt("an objection entry without objection_id".into()))
            })
            .collect()
    }
}
