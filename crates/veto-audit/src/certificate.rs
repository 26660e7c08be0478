//! Checks an unlearning certificate ([`veto_core::certificate`]) against a
//! ledger export, offline: the ledger must verify, the certificate must be
//! signed by the key in force at the entry it cites as its head, and every
//! claim must be what the entries up to that head say. Nothing may be left
//! out: every objection of the person and every unlearning that names them
//! must be listed. A certificate that claims a removal the ledger does not
//! hold, or hides one it does, is refused.

use std::collections::BTreeSet;

use serde_json::Value;
use veto_core::certificate::{CertModel, CertRemoval, Certificate, Cited};
use veto_core::ledger::{Entry, Head};

/// The statuses a certificate may state.
const STATUSES: [&str; 4] = ["removed", "pending", "kept_by_policy", "in_model"];

/// What a verified certificate shows, in numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub objections: usize,
    pub models: usize,
    pub removed_from: usize,
    /// The key that signed it: the one in force at its head entry.
    pub key: String,
}

/// The key in force after `entries` (the chain check has verified the
/// rotations): the genesis key, then each rotated-to key.
fn key_in_force(entries: &[Entry]) -> Option<&str> {
    entries
        .iter()
        .filter(|e| e.kind == "ledger_created" || e.kind == "key_rotated")
        .filter_map(|e| e.payload.get("public_key").and_then(Value::as_str))
        .next_back()
}

fn cited<'a>(entries: &'a [Entry], c: &Cited, kind: &str, what: &str) -> Result<&'a Entry, String> {
    let e = entries
        .get(c.seq as usize)
        .ok_or_else(|| format!("{what}: the ledger has no entry {} up to the certificate's head", c.seq))?;
    if e.hash != c.hash {
        return Err(format!(
            "{what}: entry {} has hash {}, the certificate says {}",
            c.seq, e.hash, c.hash
        ));
    }
    if e.kind != kind {
        return Err(format!("{what}: entry {} is {}, not {kind}", c.seq, e.kind));
    }
    Ok(e)
}

fn str_of<'a>(e: &'a Entry, field: &str) -> Option<&'a str> {
    e.payload.get(field).and_then(Value::as_str)
}

/// Whether a `model_unlearned` entry names `person_ref` among the removed.
fn names(e: &Entry, person_ref: &str) -> bool {
    e.kind == "model_unlearned"
        && e.payload["removed"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["person_ref"].as_str() == Some(person_ref)))
}

/// Checks `cert` against the ledger export (`entries`, `head`);
/// `trusted_key` as for `veto ledger verify`.
pub fn check(cert: &Certificate, entries: &[Entry], head: &Head, trusted_key: Option<&str>) -> Result<Checked, String> {
    veto_core::ledger::verify(entries, head, trusted_key).map_err(|e| format!("the ledger does not verify: {e}"))?;
    let issued = entries
        .get(cert.ledger_seq as usize)
        .filter(|e| e.hash == cert.ledger_hash)
        .ok_or_else(|| {
            format!(
                "the ledger does not reach entry {} with hash {}",
                cert.ledger_seq, cert.ledger_hash
            )
        })?;
    let known = &entries[..=issued.seq as usize];
    let key = key_in_force(known).ok_or("the ledger names no key")?;
    if cert.public_key != key {
        return Err(format!(
            "signed with a key other than the one in force at entry {}",
            cert.ledger_seq
        ));
    }
    cert.verify_signature()?;
    check_objections(cert, known)?;
    let listed: BTreeSet<&str> = cert.models.iter().map(|m| m.model_id.as_str()).collect();
    if listed.len() != cert.models.len() {
        return Err("a model is listed twice".into());
    }
    if let Some(e) = known
        .iter()
        .filter(|e| names(e, &cert.person_ref))
        .find(|e| str_of(e, "model_id").is_none_or(|m| !listed.contains(m)))
    {
        return Err(format!(
            "entry {} removed the person from a model the certificate leaves out",
            e.seq
        ));
    }
    for m in &cert.models {
        check_model(known, &cert.person_ref, m)?;
    }
    Ok(Checked {
        objections: cert.objections.len(),
        models: cert.models.len(),
        removed_from: cert.models.iter().filter(|m| m.status == "removed").count(),
        key: key.to_string(),
    })
}

/// The listed objections are exactly the person's `objection_filed`
/// entries, each as stated, with the ledger's withdrawal.
fn check_objections(cert: &Certificate, known: &[Entry]) -> Result<(), String> {
    let filed: Vec<u64> = known
        .iter()
        .filter(|e| e.kind == "objection_filed" && str_of(e, "person_ref") == Some(&cert.person_ref))
        .map(|e| e.seq)
        .collect();
    let listed: Vec<u64> = cert.objections.iter().map(|o| o.entry.seq).collect();
    if filed != listed {
        return Err(format!(
            "the ledger holds the person's objections in entries {filed:?}, the certificate lists {listed:?}"
        ));
    }
    for o in &cert.objections {
        let e = cited(
            known,
            &o.entry,
            "objection_filed",
            &format!("objection {}", o.objection_id),
        )?;
        let same = str_of(e, "objection_id") == Some(&o.objection_id)
            && str_of(e, "scope") == Some(&o.scope)
            && str_of(e, "filed_at") == Some(&o.filed_at);
        if !same {
            return Err(format!("objection {}: entry {} says otherwise", o.objection_id, e.seq));
        }
        let withdrawn = known
            .iter()
            .filter(|w| w.kind == "objection_withdrawn" && str_of(w, "objection_id") == Some(&o.objection_id))
            .filter_map(|w| str_of(w, "withdrawn_at"))
            .next_back();
        if withdrawn != o.withdrawn_at.as_deref() {
            return Err(format!(
                "objection {}: the ledger says withdrawn_at {withdrawn:?}",
                o.objection_id
            ));
        }
    }
    Ok(())
}

fn root_of(e: &Entry, shard: u32) -> Option<Option<String>> {
    let shards = e.payload["shards"].as_array()?;
    let s = shards.iter().find(|s| s["shard"].as_u64() == Some(u64::from(shard)))?;
    Some(s["training_set_root"].as_str().map(str::to_string))
}

/// The model's last version in the ledger up to the head.
fn latest_version(entries: &[Entry], model_id: &str) -> Option<u32> {
    entries
        .iter()
        .filter(|e| {
            (e.kind == "model_trained" || e.kind == "model_unlearned") && str_of(e, "model_id") == Some(model_id)
        })
        .filter_map(|e| e.payload["version"].as_u64())
        .max()
        .map(|v| v as u32)
}

fn check_model(entries: &[Entry], person_ref: &str, m: &CertModel) -> Result<(), String> {
    let what = format!("model {}", m.model_id);
    let trained = cited(entries, &m.trained, "model_trained", &what)?;
    let first = str_of(trained, "model_id") == Some(&m.model_id)
        && str_of(trained, "snapshot_id") == Some(&m.snapshot_id)
        && trained.payload["version"].as_u64() == Some(1);
    if !first {
        return Err(format!(
            "{what}: entry {} is not version 1 of this model on this snapshot",
            trained.seq
        ));
    }
    if !STATUSES.contains(&m.status.as_str()) {
        return Err(format!("{what}: unknown status {:?}", m.status));
    }
    let found: Vec<u64> = entries
        .iter()
        .filter(|e| names(e, person_ref) && str_of(e, "model_id") == Some(&m.model_id))
        .map(|e| e.seq)
        .collect();
    let claimed: Vec<u64> = m.removals.iter().map(|r| r.entry.seq).collect();
    if found != claimed {
        return Err(format!(
            "{what}: the ledger removed the person in entries {found:?}, the certificate says {claimed:?}"
        ));
    }
    for r in &m.removals {
        check_removal(entries, person_ref, m, r)?;
    }
    let latest = latest_version(entries, &m.model_id).unwrap_or(1);
    let versions: Vec<u32> = match (m.status.as_str(), m.removals.last()) {
        ("removed", Some(last)) => (1..last.version).collect(),
        ("removed", None) => return Err(format!("{what}: status removed without a removal")),
        _ => (1..=latest).collect(),
    };
    if m.versions_with_data != versions {
        return Err(format!(
            "{what}: versions with data are {versions:?} by the ledger, the certificate says {:?}",
            m.versions_with_data
        ));
    }
    Ok(())
}

fn check_removal(entries: &[Entry], person_ref: &str, m: &CertModel, r: &CertRemoval) -> Result<(), String> {
    let what = format!("model {}", m.model_id);
    let e = cited(entries, &r.entry, "model_unlearned", &what)?;
    let version = e.payload["version"].as_u64();
    let items = e.payload["removed"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["person_ref"].as_str() == Some(person_ref)))
        .and_then(|x| x["items"].as_u64());
    if r.version < 2 || version != Some(u64::from(r.version)) || items != Some(r.items) || e.at != r.at {
        return Err(format!(
            "{what}: entry {} says version {version:?}, items {items:?}, at {}",
            e.seq, e.at
        ));
    }
    let prev_kind = if r.version == 2 {
        "model_trained"
    } else {
        "model_unlearned"
    };
    let prev = cited(entries, &r.previous, prev_kind, &what)?;
    if str_of(prev, "model_id") != Some(&m.model_id)
        || prev.payload["version"].as_u64() != Some(u64::from(r.version - 1))
    {
        return Err(format!(
            "{what}: entry {} is not version {} of the model",
            prev.seq,
            r.version - 1
        ));
    }
    let retrained: Vec<u64> = e.payload["retrained_shards"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let claimed: Vec<u64> = r.shards.iter().map(|s| u64::from(s.shard)).collect();
    if retrained != claimed {
        return Err(format!(
            "{what}: entry {} retrained shards {retrained:?}, the certificate says {claimed:?}",
            e.seq
        ));
    }
    for s in &r.shards {
        if root_of(prev, s.shard) != Some(s.root_before.clone()) || root_of(e, s.shard) != Some(s.root_after.clone()) {
            return Err(format!(
                "{what}: shard {}: the training-set roots differ from entries {} and {}",
                s.shard, prev.seq, e.seq
            ));
        }
    }
    match m.shard {
        Some(shard) if claimed.contains(&u64::from(shard)) => Ok(()),
        _ => Err(format!(
            "{what}: the person's shard {:?} is not among the retrained {claimed:?}",
            m.shard
        )),
    }
}
