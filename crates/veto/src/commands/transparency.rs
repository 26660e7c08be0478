//! `veto ledger`, `veto lookup`, `veto prove`, `veto verify`, `veto report`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::json;
use veto_audit::{ledger_file, proof, report, snapshot};

/// Writes `text` to `out` atomically, or to stdout.
pub(crate) fn emit(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).and_then(|_| std::fs::File::open(&tmp)?.sync_all())?;
            std::fs::rename(&tmp, path)?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

pub async fn ledger_export(home: &Path, out: Option<PathBuf>) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let (entries, head) = (store.ledger_entries().await?, store.signed_head().await?);
    store.close().await;
    match out {
        Some(path) => {
            ledger_file::write(&path, &entries, &head)?;
            eprintln!(
                "wrote {} entries to {} (head {} signed by {})",
                entries.len(),
                path.display(),
                head.seq,
                head.public_key
            );
        }
        None => print!("{}", ledger_file::to_jsonl(&entries, &head)),
    }
    Ok(())
}

pub fn ledger_verify(file: &Path, trusted_key: Option<&str>) -> anyhow::Result<()> {
    let (entries, head) = ledger_file::read(file)?;
    let key = veto_core::ledger::verify(&entries, &head, trusted_key)
        .with_context(|| format!("{} does not verify", file.display()))?;
    println!(
        "ok: {} entries, chain intact, head {} signed by {key}",
        entries.len(),
        head.seq
    );
    Ok(())
}

pub async fn rotate_key(home: &Path) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let key = store.rotate_signing_key().await?;
    store.close().await;
    println!("New signing key {key}; the ledger records it, signed by the previous key.");
    Ok(())
}

pub async fn lookup(home: &Path, person: &str, as_json: bool) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let secret = store.secret().await?;
    let person_ref = veto_core::hashing::person_ref(&secret, person);
    let rows = store.lookup(&person_ref).await?;
    let objections: Vec<_> = store
        .objections()
        .await?
        .into_iter()
        .filter(|o| o.person_id == person)
        .collect();
    let models = store.models_for_person(&person_ref).await?;
    store.close().await;
    let model_status = |m: &veto_store::models::PersonModel| match m.unlearned {
        Some((version, at)) => format!("unlearned in version {version} on {}", at.to_rfc3339()),
        None => "contains your data".to_string(),
    };
    if as_json {
        let snapshots: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "snapshot_id": r.snapshot_id, "as_of": r.as_of.to_rfc3339(), "policy": r.policy_name,
                    "lookup_ready": r.lookup_ready,
                    "in_export": r.person.is_some(),
                    "included": r.person.as_ref().map_or(0, |p| p.included()),
                    "shard": r.person.as_ref().and_then(|p| p.shard),
                    "included_by_kind": r.person.as_ref().map(|p| &p.included_by_kind),
                    "included_by_platform": r.person.as_ref().map(|p| &p.included_by_platform),
                    "excluded_by_reason": r.person.as_ref().map(|p| &p.excluded_by_reason),
                    "mentions_redacted": r.person.as_ref().map_or(0, |p| p.mentions_redacted),
                })
            })
            .collect();
        let models: Vec<_> = models
            .iter()
            .map(|m| {
                json!({
                    "model_id": m.model.model_id, "snapshot_id": m.model.snapshot_id, "version": m.model.version,
                    "contains_data": m.unlearned.is_none(),
                    "unlearned_in_version": m.unlearned.map(|(v, _)| v),
                    "unlearned_at": m.unlearned.map(|(_, at)| at.to_rfc3339()),
                    "status": model_status(m),
                })
            })
            .collect();
        let out = json!({ "person_id": person, "person_ref": person_ref, "objections": objections, "snapshots": snapshots, "models": models });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("Person {person} (ledger ref {person_ref})");
    if objections.is_empty() {
        println!("  objections on file: none");
    }
    for o in &objections {
        let withdrawn = o
            .withdrawn_at
            .map(|w| format!(", withdrawn {}", w.to_rfc3339()))
            .unwrap_or_default();
        println!(
            "  objection {} scope {} filed {}{withdrawn}",
            o.objection_id,
            o.scope,
            o.filed_at.to_rfc3339()
        );
    }
    if rows.is_empty() {
        println!("  no snapshots built yet");
    }
    for r in rows {
        let state = match &r.person {
            None => "no content in this export".to_string(),
            Some(p) if p.included() > 0 => format!(
                "INCLUDED: {} items in shard {} ({}); {} excluded {}",
                p.included(),
                p.shard.map_or("?".into(), |s| s.to_string()),
                p.included_by_kind
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                p.excluded(),
                fmt_reasons(&p.excluded_by_reason)
            ),
            Some(p) => format!(
                "not included: {} items excluded {}",
                p.excluded(),
                fmt_reasons(&p.excluded_by_reason)
            ),
        };
        println!(
            "  {}  as of {}  policy {}: {state}",
            r.snapshot_id,
            r.as_of.to_rfc3339(),
            r.policy_name
        );
        if let Some(p) = r.person.as_ref().filter(|p| p.mentions_redacted > 0) {
            println!(
                "    your name or handle in other people's text: {} mentions redacted",
                p.mentions_redacted
            );
        }
    }
    if models.is_empty() {
        println!("  trained models with your data: none");
    }
    for m in &models {
        println!(
            "  model {} (snapshot {}, version {}): {}",
            m.model.model_id,
            m.model.snapshot_id,
            m.model.version,
            model_status(m)
        );
    }
    Ok(())
}

fn fmt_reasons(r: &std::collections::BTreeMap<String, u64>) -> String {
    if r.is_empty() {
        return String::new();
    }
    format!(
        "({})",
        r.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
    )
}

pub async fn prove(home: &Path, person: &str, snapshot_id: &str, out: Option<PathBuf>) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let record = store.snapshot(snapshot_id).await?;
    let secret = store.secret().await?;
    store.close().await;
    let bundle = proof::prove(Path::new(&record.path), person, &secret)?;
    eprintln!(
        "{}: {} included items with Merkle paths, {} excluded items",
        record.snapshot_id,
        bundle.included.len(),
        bundle.excluded.len()
    );
    emit(out.as_deref(), &(serde_json::to_string_pretty(&bundle)? + "\n"))
}

pub fn verify(
    proof_file: Option<&Path>,
    ledger: Option<&Path>,
    snapshot_dir: Option<&Path>,
    trusted_key: Option<&str>,
) -> anyhow::Result<()> {
    let entries = match ledger {
        Some(path) => {
            let (entries, head) = ledger_file::read(path)?;
            let key = veto_core::ledger::verify(&entries, &head, trusted_key)
                .with_context(|| format!("ledger {} does not verify", path.display()))?;
            println!("ledger: {} entries, chain intact, head signed by {key}", entries.len());
            Some(entries)
        }
        None => None,
    };
    let mut failures = Vec::new();
    match proof_file {
        Some(path) => {
            let Some(entries) = &entries else {
                bail!("verifying a proof needs --ledger FILE (from `veto ledger export`)")
            };
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let format = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .map(|v| v["format"].clone());
            if format.as_ref().and_then(|f| f.as_str()) == Some(veto_core::certificate::CERTIFICATE_FORMAT) {
                let ledger = ledger.context("checked above")?;
                return super::certificate::verify_certificate(&text, path, ledger, trusted_key);
            }
            let bundle = proof::ProofBundle::from_json(&text)
                .with_context(|| format!("{} is not a proof bundle veto can vouch for", path.display()))?;
            let check = proof::verify(&bundle, entries, snapshot_dir)?;
            println!(
                "proof: {} included items verified against the ledger's shard roots",
                check.included_verified
            );
            match check.absence_verified {
                Some(n) => println!("proof: {n} excluded doc_ids checked absent from every shard"),
                None if !bundle.excluded.is_empty() => {
                    println!(
                        "proof: {} excluded doc_ids not checked (pass --snapshot DIR to check the shard files)",
                        bundle.excluded.len()
                    )
                }
                None => {}
            }
            failures.extend(check.failures);
        }
        None => {
            let Some(dir) = snapshot_dir else {
                bail!("give a PROOF file, or --snapshot DIR to check a snapshot")
            };
            let check = snapshot::verify(dir, entries.as_deref())?;
            println!(
                "snapshot {}: {} files re-hashed, {} shards and {} rows; Merkle roots {}",
                check.snapshot_id,
                check.files_checked,
                check.shards_checked,
                check.rows_checked,
                if check.ledger_checked {
                    "compared with manifest and ledger"
                } else {
                    "compared with manifest (no --ledger)"
                }
            );
            failures.extend(check.failures);
        }
    }
    if failures.is_empty() {
        println!("ok");
        Ok(())
    } else {
        for f in &failures {
            println!("FAILED: {f}");
        }
        bail!("{} check(s) failed", failures.len())
    }
}

pub async fn report_ai_act(
    home: &Path,
    snapshot_id: &str,
    format: report::Format,
    provider: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let record = store.snapshot(snapshot_id).await?;
    let ledger = store.ledger_entries().await?;
    store.close().await;
    let (manifest, _) = veto_audit::read_manifest(Path::new(&record.path))?;
    // The snapshot publishes the policy text it was built with.
    let policy_path = Path::new(&record.path).join("policy.toml");
    let policy = std::fs::read_to_string(&policy_path)
        .ok()
        .and_then(|text| veto_core::Policy::from_toml(&text, &policy_path.display().to_string()).ok())
        .filter(|p| p.sha256 == manifest.policy.sha256);
    let input = report::ReportInput {
        manifest: &manifest,
        policy: policy.as_ref(),
        ledger: &ledger,
        provider,
    };
    emit(out.as_deref(), &report::render(&input, format))
}

/// `veto lookup --objection ID`: what the snapshots did about a person
/// without an account: whether the objection is in review, and the
/// mentions of them redacted per snapshot (never the texts).
pub async fn lookup_third_party(home: &Path, objection_id: &str, as_json: bool) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let known = store
        .subject_objections()
        .await?
        .iter()
        .any(|o| o.objection_id == objection_id)
        || store.third_party_objection_exists(objection_id).await?;
    if !known {
        store.close().await;
        anyhow::bail!("no objection by a person without an account has the id {objection_id}");
    }
    let review = store.review_state(objection_id).await?;
    let mentions = store
        .mentions_of(&veto_store::reviews::third_party_ref(objection_id))
        .await?;
    let snapshots = store.snapshots().await?;
    store.close().await;
    let rows: Vec<_> = snapshots
        .iter()
        .map(|s| (s, mentions.get(&s.snapshot_id).copied().unwrap_or(0)))
        .collect();
    if as_json {
        let snapshots: Vec<_> = rows
            .iter()
            .map(
                |(s, n)| json!({ "snapshot_id": s.snapshot_id, "as_of": s.as_of.to_rfc3339(), "mentions_redacted": n }),
            )
            .collect();
        let out = json!({ "objection_id": objection_id, "review": review, "snapshots": snapshots });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("Objection {objection_id} (a person without an account)");
    match review.as_deref() {
        None => println!(
            "  not screened yet: the next build that finds it confirmed and in force screens it \
             (a name many authors use waits for an operator)"
        ),
        Some("pending") => println!("  waiting for an operator: the name is common, so no build applies it yet"),
        Some("rejected") => println!("  rejected by an operator: no build applies it"),
        Some(state) => println!("  applied ({state})"),
    }
    for (s, n) in rows {
        println!(
            "  {}  as of {}: {n} mentions redacted",
            s.snapshot_id,
            s.as_of.to_rfc3339()
        );
    }
    Ok(())
}
