//! The store's account of one person for an unlearning certificate
//! ([`veto_core::certificate`]): their objections and, per model whose
//! snapshot included them, its status, versions and removal, each citing
//! its ledger entry. Callers add what needs the snapshot's files (the
//! membership audit, the contribution) and sign it.

use chrono::{DateTime, SecondsFormat, Utc};
use veto_core::certificate::{CertModel, CertObjection, CertRemoval, CertShard, Certificate, Cited, ContributionJob};
use veto_core::ledger::Entry;

use crate::models::ModelRecord;
use crate::pending::PendingUnlearning;
use crate::{Store, StoreError};

fn cite(e: &Entry) -> Cited {
    Cited {
        seq: e.seq,
        hash: e.hash.clone(),
    }
}

fn str_of<'a>(e: &'a Entry, field: &str) -> Option<&'a str> {
    e.payload.get(field).and_then(serde_json::Value::as_str)
}

/// The person's objections as the ledger holds them.
fn objections(entries: &[Entry], person_ref: &str) -> Vec<CertObjection> {
    entries
        .iter()
        .filter(|e| e.kind == "objection_filed" && str_of(e, "person_ref") == Some(person_ref))
        .map(|e| {
            let id = str_of(e, "objection_id").unwrap_or_default().to_string();
            let withdrawn_at = entries
                .iter()
                .filter(|w| w.kind == "objection_withdrawn" && str_of(w, "objection_id") == Some(id.as_str()))
                .filter_map(|w| str_of(w, "withdrawn_at"))
                .next_back()
                .map(str::to_string);
            CertObjection {
                scope: str_of(e, "scope").unwrap_or_default().to_string(),
                filed_at: str_of(e, "filed_at").unwrap_or_default().to_string(),
                objection_id: id,
                withdrawn_at,
                entry: cite(e),
            }
        })
        .collect()
}

/// The entry of version `version` of `model_id`.
fn version_entry<'a>(entries: &'a [Entry], model_id: &str, version: u32) -> Option<&'a Entry> {
    entries.iter().find(|e| {
        (e.kind == "model_trained" || e.kind == "model_unlearned")
            && str_of(e, "model_id") == Some(model_id)
            && e.payload["version"].as_u64() == Some(u64::from(version))
    })
}

fn corrupt(message: String) -> StoreError {
    StoreError::Corrupt(message)
}

/// Every unlearning that removed some of the person's items from the
/// model, in ledger order.
fn removals(entries: &[Entry], model_id: &str, person_ref: &str) -> Result<Vec<CertRemoval>, StoreError> {
    let names = |e: &&Entry| {
        e.payload["removed"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["person_ref"].as_str() == Some(person_ref)))
    };
    entries
        .iter()
        .filter(|e| e.kind == "model_unlearned" && str_of(e, "model_id") == Some(model_id))
        .filter(names)
        .map(|e| removal(entries, model_id, person_ref, e))
        .collect()
}

/// One removal, with the entry of the version before it.
fn removal(entries: &[Entry], model_id: &str, person_ref: &str, e: &Entry) -> Result<CertRemoval, StoreError> {
    let version = e.payload["version"].as_u64().filter(|&v| v >= 2).ok_or_else(|| {
        corrupt(format!(
            "ledger entry {}: model_unlearned without a version after 1",
            e.seq
        ))
    })? as u32;
    let prev = version_entry(entries, model_id, version - 1)
        .ok_or_else(|| corrupt(format!("the ledger has no version {} of model {model_id}", version - 1)))?;
    let root = |entry: &Entry, shard: u64| {
        entry.payload["shards"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["shard"].as_u64() == Some(shard)))
            .and_then(|s| s["training_set_root"].as_str())
            .map(str::to_string)
    };
    let shards = e.payload["retrained_shards"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_u64)
        .map(|s| CertShard {
            shard: s as u32,
            root_before: root(prev, s),
            root_after: root(e, s),
        })
        .collect();
    let items = e.payload["removed"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["person_ref"].as_str() == Some(person_ref)))
        .and_then(|x| x["items"].as_u64())
        .unwrap_or(0);
    Ok(CertRemoval {
        version,
        at: e.at.clone(),
        items,
        entry: cite(e),
        previous: cite(prev),
        shards,
    })
}

/// The model's last version in `entries`.
fn latest_version(entries: &[Entry], model_id: &str) -> u32 {
    entries
        .iter()
        .filter(|e| {
            (e.kind == "model_trained" || e.kind == "model_unlearned") && str_of(e, "model_id") == Some(model_id)
        })
        .filter_map(|e| e.payload["version"].as_u64())
        .max()
        .unwrap_or(1) as u32
}

impl Store {
    /// The unsigned certificate of `person_id` at `now`, without
    /// membership figures and contributions, and what counting the
    /// contributions needs (veto-audit's `contribution::fill`).
    pub async fn certificate_of(
        &self,
        person_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Certificate, Vec<ContributionJob>), StoreError> {
        let secret = self.secret().await?;
        let person_ref = veto_core::hashing::person_ref(&secret, person_id);
        let entries = self.ledger_entries().await?;
        let last = entries.last().ok_or_else(|| corrupt("the ledger is empty".into()))?;
        let pending = self.pending_unlearnings_of(now, Some(&person_ref)).await?;
        let (mut models, mut jobs) = (Vec::new(), Vec::new());
        for record in self.models().await? {
            if let Some(part) = self.model_part(&entries, &person_ref, &record, &pending).await? {
                if let Some(job) = self.contribution_job(&entries, &record, &part, models.len()).await? {
                    jobs.push(job);
                }
                models.push(part);
            }
        }
        let cert = Certificate {
            format: String::new(),
            issued_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            ledger_seq: last.seq,
            ledger_hash: last.hash.clone(),
            objections: objections(&entries, &person_ref),
            person_ref,
            models,
            public_key: String::new(),
            signature: String::new(),
        };
        Ok((cert, jobs))
    }

    /// Counting the person's contribution to `part`'s model: the current
    /// version while in it; once removed, the version before, with the
    /// person's own removal left out (the training-set size of that version
    /// comes from its ledger entry; entries written before veto recorded
    /// shard tokens give none).
    async fn contribution_job(
        &self,
        entries: &[Entry],
        record: &ModelRecord,
        part: &CertModel,
        index: usize,
    ) -> Result<Option<ContributionJob>, StoreError> {
        let Some(shard) = part.shard else {
            return Ok(None);
        };
        let manifest: serde_json::Value = serde_json::from_str(&record.manifest)
            .map_err(|e| corrupt(format!("the recorded manifest of {}: {e}", record.model_id)))?;
        let tokens_of = |shards: &serde_json::Value| -> Option<u64> {
            shards.as_array()?.iter().map(|s| s["tokens"].as_u64()).sum()
        };
        let (version, total, removed) = match (part.status.as_str(), part.removals.last()) {
            ("removed", Some(r)) => {
                let prev = entries.get(r.previous.seq as usize);
                (
                    r.version - 1,
                    prev.and_then(|e| tokens_of(&e.payload["shards"])),
                    serde_json::json!([]),
                )
            }
            _ => (
                record.version,
                tokens_of(&manifest["shards"]),
                manifest["removed_doc_ids"].clone(),
            ),
        };
        let Some(total_tokens) = total else {
            return Ok(None);
        };
        let removed = removed
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect();
        let snap = self.snapshot(&record.snapshot_id).await?;
        Ok(Some(ContributionJob {
            model: index,
            snapshot_dir: snap.path.into(),
            shard,
            removed,
            version,
            total_tokens,
        }))
    }

    /// One model's part; `None` if its snapshot never included the person.
    async fn model_part(
        &self,
        entries: &[Entry],
        person_ref: &str,
        record: &ModelRecord,
        pending: &[PendingUnlearning],
    ) -> Result<Option<CertModel>, StoreError> {
        let Some(p) = self
            .lookup(person_ref)
            .await?
            .into_iter()
            .find(|r| r.snapshot_id == record.snapshot_id)
            .and_then(|r| r.person)
            .filter(|p| p.included() > 0)
        else {
            return Ok(None);
        };
        let trained = version_entry(entries, &record.model_id, 1)
            .filter(|e| e.kind == "model_trained")
            .ok_or_else(|| corrupt(format!("the ledger has no model_trained entry for {}", record.model_id)))?;
        let removals = removals(entries, &record.model_id, person_ref)?;
        let waiting = pending
            .iter()
            .find(|w| w.model_id == record.model_id && w.person_ref == person_ref);
        // Versions from the ledger read above, so the certificate agrees
        // with its head even if an unlearning commits meanwhile.
        let all: Vec<u32> = (1..=latest_version(entries, &record.model_id)).collect();
        let (status, versions) = match (waiting, removals.last()) {
            (Some(w), _) if w.kept_by_policy => ("kept_by_policy", all),
            (Some(_), _) => ("pending", all),
            (None, Some(last)) => ("removed", (1..last.version).collect()),
            (None, None) => ("in_model", all),
        };
        Ok(Some(CertModel {
            model_id: record.model_id.clone(),
            snapshot_id: record.snapshot_id.clone(),
            trained: cite(trained),
            items_in_snapshot: p.included(),
            shard: p.shard,
            versions_with_data: versions,
            status: status.to_string(),
            removals,
            membership: None,
            contribution: None,
        }))
    }
}
