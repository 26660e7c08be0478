//! `veto certificate --person P`: the signed account of what each model
//! did with a person's data, every claim citing its ledger entry
//! ([`veto_core::certificate`]); `veto verify CERT --ledger FILE` checks it
//! ([`veto_audit::certificate::check`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use veto_core::certificate::{CertMembership, CertModel, CertObjection, CertRemoval, CertShard, Certificate, Cited};
use veto_core::ledger::Entry;
use veto_models::{ModelManifest, membership};
use veto_store::Store;

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

fn removal(entries: &[Entry], model_id: &str, person_ref: &str) -> anyhow::Result<Option<CertRemoval>> {
    let Some(e) = entries.iter().find(|e| {
        e.kind == "model_unlearned"
            && str_of(e, "model_id") == Some(model_id)
            && e.payload["removed"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x["person_ref"].as_str() == Some(person_ref)))
    }) else {
        return Ok(None);
    };
    let version = e.payload["version"]
        .as_u64()
        .context("model_unlearned without a version")? as u32;
    let prev = version_entry(entries, model_id, version - 1)
        .with_context(|| format!("the ledger has no version {} of model {model_id}", version - 1))?;
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
    Ok(Some(CertRemoval {
        version,
        at: e.at.clone(),
        items,
        entry: cite(e),
        previous: cite(prev),
        shards,
    }))
}

fn figures(r: &membership::MembershipReport) -> Option<CertMembership> {
    let after = r.after.as_ref()?;
    let (leak, _) = r.privleak()?;
    let f = |x: f64| format!("{x:.4}");
    Some(CertMembership {
        members: r.members as u64,
        auc_loss_before: f(r.before.auc_loss),
        auc_loss_after: f(after.auc_loss),
        auc_loss_retrained: f(r.retrained.auc_loss),
        auc_min_k_before: f(r.before.auc_min_k),
        auc_min_k_after: f(after.auc_min_k),
        auc_min_k_retrained: f(r.retrained.auc_min_k),
        privleak_loss: f(leak),
        verbmem_before: f(r.before.verbmem),
        verbmem_after: f(after.verbmem),
    })
}

/// One model's part of the certificate; `None` if its snapshot never
/// held the person's items.
async fn model_part(
    store: &Store,
    entries: &[Entry],
    person: &str,
    person_ref: &str,
    record: &veto_store::models::ModelRecord,
    pending: &[veto_store::pending::PendingUnlearning],
    with_membership: bool,
) -> anyhow::Result<Option<CertModel>> {
    let lookup = store.lookup(person_ref).await?;
    let Some(p) = lookup
        .into_iter()
        .find(|r| r.snapshot_id == record.snapshot_id)
        .and_then(|r| r.person)
        .filter(|p| p.included() > 0)
    else {
        return Ok(None);
    };
    let trained = version_entry(entries, &record.model_id, 1)
        .filter(|e| e.kind == "model_trained")
        .with_context(|| format!("the ledger has no model_trained entry for {}", record.model_id))?;
    let removed = removal(entries, &record.model_id, person_ref)?;
    let waiting = pending
        .iter()
        .find(|w| w.model_id == record.model_id && w.person_ref == person_ref);
    let (status, versions) = match (&removed, waiting) {
        (Some(r), _) => ("removed", (1..r.version).collect()),
        (None, Some(w)) if w.kept_by_policy => ("kept_by_policy", (1..=record.version).collect()),
        (None, Some(_)) => ("pending", (1..=record.version).collect()),
        (None, None) => ("in_model", (1..=record.version).collect()),
    };
    let m: ModelManifest = serde_json::from_str(&record.manifest)
        .with_context(|| format!("the recorded manifest of model {}", record.model_id))?;
    let audit = if removed.is_some() && with_membership && m.trainer_exec.is_none() {
        let snap = store.snapshot(&record.snapshot_id).await?;
        let trainer = super::models::trainer_for(&m)?;
        let report = membership::audit(
            Path::new(&record.path),
            Path::new(&snap.path),
            &m,
            &trainer,
            &[person.to_string()],
        );
        // A person whose items have no text has nothing to measure.
        report.ok().as_ref().and_then(figures)
    } else {
        None
    };
    Ok(Some(CertModel {
        model_id: record.model_id.clone(),
        snapshot_id: record.snapshot_id.clone(),
        trained: cite(trained),
        items_in_snapshot: p.included(),
        shard: p.shard,
        versions_with_data: versions,
        status: status.to_string(),
        removed,
        membership: audit,
    }))
}

/// `veto certificate --person P [--out FILE] [--no-membership]`.
pub async fn certificate_cmd(
    home: &Path,
    person: &str,
    out: Option<PathBuf>,
    with_membership: bool,
) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let secret = store.secret().await?;
    let person_ref = veto_core::hashing::person_ref(&secret, person);
    let entries = store.ledger_entries().await?;
    let last = entries.last().context("the ledger is empty")?;
    let now = chrono::Utc::now();
    let pending = store.pending_unlearnings(now).await?;
    let mut models = Vec::new();
    for record in store.models().await? {
        if let Some(part) = model_part(
            &store,
            &entries,
            person,
            &person_ref,
            &record,
            &pending,
            with_membership,
        )
        .await?
        {
            models.push(part);
        }
    }
    let cert = Certificate {
        format: String::new(),
        person_ref: person_ref.clone(),
        issued_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ledger_seq: last.seq,
        ledger_hash: last.hash.clone(),
        objections: objections(&entries, &person_ref),
        models,
        public_key: String::new(),
        signature: String::new(),
    };
    let cert = store.sign_certificate(cert).await?;
    store.close().await;
    let removed = cert.models.iter().filter(|m| m.removed.is_some()).count();
    eprintln!(
        "Certificate for person {person_ref}: {} objection(s), {} model(s) trained with their data, removed from {removed}. \
         Check it offline: veto verify CERT --ledger LEDGER (veto ledger export --out LEDGER).",
        cert.objections.len(),
        cert.models.len()
    );
    let text = serde_json::to_string_pretty(&cert)? + "\n";
    super::transparency::emit(out.as_deref(), &text)
}

/// `veto verify CERT --ledger FILE`.
pub fn verify_certificate(text: &str, path: &Path, ledger: &Path, trusted_key: Option<&str>) -> anyhow::Result<()> {
    let cert = Certificate::from_json(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let (entries, head) = veto_audit::ledger_file::read(ledger)?;
    let checked = veto_audit::certificate::check(&cert, &entries, &head, trusted_key)
        .map_err(|e| anyhow::anyhow!("{}: REFUSED: {e}", path.display()))?;
    println!(
        "OK: certificate for {} is signed by the installation and agrees with the ledger: {} objection(s), {} model(s), removed from {}.",
        cert.person_ref, checked.objections, checked.models, checked.removed_from
    );
    for m in &cert.models {
        match &m.removed {
            Some(r) => println!(
                "  {}: in version(s) {:?}; removed in version {} at {} ({} items, shard(s) {:?}; ledger entry {})",
                m.model_id,
                m.versions_with_data,
                r.version,
                r.at,
                r.items,
                r.shards.iter().map(|s| s.shard).collect::<Vec<_>>(),
                r.entry.seq
            ),
            None => println!("  {}: {} (version(s) {:?})", m.model_id, m.status, m.versions_with_data),
        }
    }
    Ok(())
}
