//! Checks an unlearning certificate ([`veto_core::certificate`]) against a
//! ledger export, offline: the ledger must verify, the certificate must be
//! signed by a key the ledger shows in force, and every claim must be what
//! the cited entries say. A certificate that claims a removal the ledger
//! does not hold, or hides one it does, is refused.

use serde_json::Value;
use veto_core::certificate::{CertModel, Certificate, Cited};
use veto_core::ledger::{Entry, Head};

/// What a verified certificate shows, in numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub objections: usize,
    pub models: usize,
    pub removed_from: usize,
}

/// Every key the ledger shows in force at some point: the genesis key and
/// each rotated-to key (the chain check has verified the rotations).
fn keys(entries: &[Entry]) -> Vec<&str> {
    entries
        .iter()
        .filter(|e| e.kind == "ledger_created" || e.kind == "key_rotated")
        .filter_map(|e| e.payload.get("public_key").and_then(Value::as_str))
        .collect()
}

fn cited<'a>(entries: &'a [Entry], c: &Cited, kind: &str, what: &str) -> Result<&'a Entry, String> {
    let e = entries
        .get(c.seq as usize)
        .ok_or_else(|| format!("{what}: the ledger has no entry {}", c.seq))?;
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

/// Checks `cert` against the ledger export (`entries`, `head`);
/// `trusted_key` as for `veto ledger verify`.
pub fn check(cert: &Certificate, entries: &[Entry], head: &Head, trusted_key: Option<&str>) -> Result<Checked, String> {
    veto_core::ledger::verify(entries, head, trusted_key).map_err(|e| format!("the ledger does not verify: {e}"))?;
    if !keys(entries).contains(&cert.public_key.as_str()) {
        return Err("signed with a key this ledger never shows in force".into());
    }
    cert.verify_signature()?;
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
    for o in &cert.objections {
        let e = cited(
            known,
            &o.entry,
            "objection_filed",
            &format!("objection {}", o.objection_id),
        )?;
        let same = str_of(e, "objection_id") == Some(&o.objection_id)
            && str_of(e, "person_ref") == Some(&cert.person_ref)
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
    let mut removed_from = 0;
    for m in &cert.models {
        check_model(known, &cert.person_ref, m)?;
        removed_from += usize::from(m.removed.is_some());
    }
    Ok(Checked {
        objections: cert.objections.len(),
        models: cert.models.len(),
        removed_from,
    })
}

/// The `model_unlearned` entries of `model_id` that removed `person_ref`.
fn removals<'a>(entries: &'a [Entry], model_id: &str, person_ref: &str) -> Vec<&'a Entry> {
    entries
        .iter()
        .filter(|e| e.kind == "model_unlearned" && str_of(e, "model_id") == Some(model_id))
        .filter(|e| {
            e.payload["removed"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x["person_ref"].as_str() == Some(person_ref)))
        })
        .collect()
}

fn root_of(e: &Entry, shard: u32) -> Option<Option<String>> {
    let shards = e.payload["shards"].as_array()?;
    let s = shards.iter().find(|s| s["shard"].as_u64() == Some(u64::from(shard)))?;
    Some(s["training_set_root"].as_str().map(str::to_string))
}

fn check_model(entries: &[Entry], person_ref: &str, m: &CertModel) -> Result<(), String> {
    let what = format!("model {}", m.model_id);
    let trained = cited(entries, &m.trained, "model_trained", &what)?;
    if str_of(trained, "model_id") != Some(&m.model_id) || str_of(trained, "snapshot_id") != Some(&m.snapshot_id) {
        return Err(format!("{what}: entry {} names another model or snapshot", trained.seq));
    }
    let found = removals(entries, &m.model_id, person_ref);
    let Some(r) = &m.removed else {
        if let Some(e) = found.first() {
            return Err(format!(
                "{what}: entry {} removed the person, the certificate says {}",
                e.seq, m.status
            ));
        }
        if m.status == "removed" {
            return Err(format!("{what}: status removed without a removal"));
        }
        return Ok(());
    };
    if m.status != "removed" {
        return Err(format!("{what}: a removal with status {}", m.status));
    }
    let e = cited(entries, &r.entry, "model_unlearned", &what)?;
    if found.first().map(|f| f.seq) != Some(e.seq) {
        return Err(format!(
            "{what}: entry {} is not the unlearning that removed the person",
            e.seq
        ));
    }
    let version = e.payload["version"].as_u64();
    let items = e.payload["removed"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["person_ref"].as_str() == Some(person_ref)))
        .and_then(|x| x["items"].as_u64());
    if version != Some(u64::from(r.version))
        || items != Some(r.items)
        || e.at != r.at
        || str_of(e, "model_id") != Some(&m.model_id)
    {
        return Err(format!(
            "{what}: entry {} says version {version:?}, items {items:?}, at {}",
            e.seq, e.at
        ));
    }
    if m.versions_with_data != (1..r.version).collect::<Vec<_>>() {
        return Err(format!("{what}: versions with data must be 1 to {}", r.version - 1));
    }
    let prev_kind = if r.version == 2 {
        "model_trained"
    } else {
        "model_unlearned"
    };
    let prev = cited(entries, &r.previous, prev_kind, &what)?;
    let prev_version = prev.payload["version"].as_u64();
    if str_of(prev, "model_id") != Some(&m.model_id) || prev_version != Some(u64::from(r.version - 1)) {
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
    if m.shard.is_some_and(|s| !claimed.contains(&u64::from(s))) {
        return Err(format!("{what}: the person's shard was not retrained"));
    }
    Ok(())
}
