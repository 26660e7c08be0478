//! `veto certificate --person P`: the signed account of what each model
//! did with a person's data, every claim citing its ledger entry
//! ([`veto_core::certificate`], built by the store), with the person's
//! contribution and the membership audit added from the snapshot's files;
//! `veto verify CERT --ledger FILE` checks it
//! ([`veto_audit::certificate::check`]).

use std::path::{Path, PathBuf};

use veto_core::certificate::{CertMembership, Certificate};
use veto_models::{ModelManifest, membership};
use veto_store::Store;

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

/// Adds the membership audit to each model the person was removed from
/// (built-in trainer only; a person whose items have no text has nothing to
/// measure and gets none).
async fn add_membership(store: &Store, cert: &mut Certificate, person: &str) -> anyhow::Result<()> {
    for part in cert.models.iter_mut().filter(|m| m.status == "removed") {
        let record = store.model(&part.model_id).await?;
        let m: ModelManifest = serde_json::from_str(&record.manifest)?;
        if m.trainer_exec.is_some() {
            continue;
        }
        let snap = store.snapshot(&record.snapshot_id).await?;
        let trainer = super::models::trainer_for(&m)?;
        let report = membership::audit(
            Path::new(&record.path),
            Path::new(&snap.path),
            &m,
            &trainer,
            &[person.to_string()],
        );
        part.membership = report.ok().as_ref().and_then(figures);
    }
    Ok(())
}

/// `veto certificate --person P [--out FILE] [--no-membership]`.
pub async fn certificate_cmd(
    home: &Path,
    person: &str,
    out: Option<PathBuf>,
    with_membership: bool,
) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let (mut cert, jobs) = store.certificate_of(person, chrono::Utc::now()).await?;
    veto_audit::contribution::fill(&mut cert, person, &jobs)?;
    if with_membership {
        add_membership(&store, &mut cert, person).await?;
    }
    let cert = store.sign_certificate(cert).await?;
    store.close().await;
    let removed = cert.models.iter().filter(|m| m.status == "removed").count();
    eprintln!(
        "Certificate for person {}: {} objection(s), {} model(s) trained with their data, removed from {removed}. \
         Check it offline: veto verify CERT --ledger LEDGER (veto ledger export --out LEDGER).",
        cert.person_ref,
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
        "OK: certificate for {} is signed by the key in force at its head entry and agrees with the ledger: {} objection(s), {} model(s), removed from {}.",
        cert.person_ref, checked.objections, checked.models, checked.removed_from
    );
    for m in &cert.models {
        match m.removals.last() {
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
