//! `veto train`, `veto generate-text`, `veto unlearn`, `veto audit canary`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{SecondsFormat, Utc};
use rand::SeedableRng;
use serde_json::json;
use veto_core::LateObjections;
use veto_lm::KneserNey;
use veto_models::{ModelManifest, canary, train, unlearn};
use veto_store::Store;
use veto_store::models::ModelRecord;

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn trainer_for(m: &ModelManifest) -> anyhow::Result<KneserNey> {
    KneserNey::new(m.order).map_err(anyhow::Error::msg)
}

fn shard_hashes(m: &ModelManifest) -> Vec<serde_json::Value> {
    m.shards
        .iter()
        .map(|s| json!({ "shard": s.shard, "model_sha256": s.model_sha256 }))
        .collect()
}

pub async fn train_cmd(home: &Path, snapshot: &str, order: usize, out: Option<PathBuf>) -> anyhow::Result<()> {
    let kn = KneserNey::new(order).map_err(anyhow::Error::msg)?;
    let store = Store::open(home).await?;
    let snap = store.snapshot(snapshot).await?;
    let (snapshot_manifest, _) = veto_audit::read_manifest(Path::new(&snap.path))?;
    let tmp_dir = out
        .clone()
        .unwrap_or_else(|| home.join("models").join(format!(".training-{}", std::process::id())));
    if tmp_dir.exists() {
        bail!("{} already exists; nothing was overwritten", tmp_dir.display());
    }
    let started = std::time::Instant::now();
    let m = train::train_model(Path::new(&snap.path), &tmp_dir, &kn, order, threads(), &now_rfc3339())?;
    let dir = match out {
        Some(dir) => dir,
        None => {
            let dir = home.join("models").join(&m.model_id);
            std::fs::rename(&tmp_dir, &dir).with_context(|| format!("moving the model to {}", dir.display()))?;
            dir
        }
    };
    let payload = json!({
        "model_id": m.model_id, "snapshot_id": m.snapshot_id, "version": 1, "trainer": m.trainer,
        "model_sha256": m.model_sha256, "shards": shard_hashes(&m),
        "snapshot_shards": snapshot_manifest.shards.iter().map(|s| json!({"shard": s.shard, "sha256": s.sha256})).collect::<Vec<_>>(),
    });
    let record = ModelRecord {
        model_id: m.model_id.clone(),
        snapshot_id: m.snapshot_id.clone(),
        path: dir.display().to_string(),
        version: 1,
        trained_at: Utc::now(),
        manifest: serde_json::to_string_pretty(&m)?,
    };
    store.record_model(&record, payload).await?;
    store.close().await;
    let docs: u64 = m.shards.iter().map(|s| s.docs).sum();
    println!(
        "Model {} ({}) trained on snapshot {}: {} shard models, {docs} documents, in {:.1} s.",
        m.model_id,
        m.trainer,
        m.snapshot_id,
        m.shards.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "Held-out perplexity {:.3} per byte over {} documents ({} tokens). Files in {}.",
        m.heldout.perplexity,
        m.heldout.docs,
        m.heldout.tokens,
        dir.display()
    );
    Ok(())
}

pub async fn generate_text(home: &Path, model: &str, prompt: &str, max_bytes: usize, seed: u64) -> anyhow::Result<()> {
    let store = Store::open(home).await?;
    let record = store.model(model).await?;
    store.close().await;
    let dir = Path::new(&record.path);
    let m = train::read_manifest(dir)?;
    let ensemble = train::load_ensemble(dir, &m, &trainer_for(&m)?)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    println!("{prompt}{}", ensemble.sample(prompt, max_bytes, &mut rng));
    Ok(())
}

pub async fn unlearn_cmd(home: &Path, model: &str) -> anyhow::Result<()> {
    let store = Store::open(home).await?;
    let record = store.model(model).await?;
    let snap = store.snapshot(&record.snapshot_id).await?;
    let policy_path = Path::new(&snap.path).join("policy.toml");
    let policy_text =
        std::fs::read_to_string(&policy_path).with_context(|| format!("reading {}", policy_path.display()))?;
    let policy = veto_core::Policy::from_toml(&policy_text, &policy_path.display().to_string())?;
    if policy.late_objections == LateObjections::KeepTrained {
        bail!(
            "snapshot {} was built under policy {} (late_objections = keep_trained): models already trained keep \
             late objectors' data, so nothing was changed. Under a policy with late_objections = unlearn \
             (such as strict) this command retrains the affected shards.",
            snap.snapshot_id,
            policy.name
        );
    }
    let dir = Path::new(&record.path);
    let current = train::read_manifest(dir)?;
    let objections = store.objections().await?;
    let secret = store.secret().await?;
    let now = Utc::now();
    let removed = current.removed_doc_ids.iter().cloned().collect();
    let plan = unlearn::plan(Path::new(&snap.path), &objections, now, &removed)?;
    if plan.is_empty() {
        println!(
            "Nothing to unlearn: no objection on file applies to data still in {} (version {}).",
            record.model_id, current.version
        );
        return Ok(());
    }
    let refs: Vec<String> = plan
        .iter()
        .map(|r| veto_core::hashing::person_ref(&secret, &r.person_id))
        .collect();
    let started = std::time::Instant::now();
    let at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let next = unlearn::apply(
        dir,
        Path::new(&snap.path),
        &current,
        &plan,
        refs.clone(),
        &trainer_for(&current)?,
        threads(),
        &at,
    )?;
    let retrained = &next.versions.last().expect("a version was added").retrained_shards;
    let payload = json!({
        "model_id": next.model_id, "version": next.version, "model_sha256": next.model_sha256,
        "removed": plan.iter().zip(&refs).map(|(r, pref)| json!({"person_ref": pref, "items": r.docs.len()})).collect::<Vec<_>>(),
        "retrained_shards": retrained, "shards": shard_hashes(&next),
    });
    store
        .record_unlearning(
            &next.model_id,
            next.version,
            &serde_json::to_string_pretty(&next)?,
            &refs,
            now,
            payload,
        )
        .await?;
    store.close().await;
    let docs: usize = plan.iter().map(|r| r.docs.len()).sum();
    println!(
        "Unlearned {} person(s), {docs} item(s): retrained {} of {} shards {:?} in {:.1} s. Model {} is now version {}.",
        plan.len(),
        retrained.len(),
        next.shards.len(),
        retrained,
        started.elapsed().as_secs_f64(),
        next.model_id,
        next.version
    );
    println!(
        "Held-out perplexity {:.3} (was {:.3}).",
        next.heldout.perplexity, current.heldout.perplexity
    );
    Ok(())
}

pub async fn audit_canary(
    home: &Path,
    model: &str,
    references: usize,
    repeats: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let store = Store::open(home).await?;
    let record = store.model(model).await?;
    let snap = store.snapshot(&record.snapshot_id).await?;
    let secret = store.secret().await?;
    store.close().await;
    let dir = Path::new(&record.path);
    let m = train::read_manifest(dir)?;
    let r = canary::audit(
        dir,
        Path::new(&snap.path),
        &m,
        &trainer_for(&m)?,
        &secret,
        references,
        repeats,
        seed,
    )?;
    println!(
        "Canary audit of {} (shard {}, {} posts with the secret, {} reference secrets)",
        m.model_id, r.shard, r.repeats, r.references
    );
    println!(
        "  exposure, trained with the canary:   {:6.2} bits (max {:.2})",
        r.exposure_before, r.max_exposure
    );
    println!("  exposure, after unlearning:          {:6.2} bits", r.exposure_after);
    println!(
        "  exposure, model that never saw it:   {:6.2} bits",
        r.exposure_never_seen
    );
    let identical = r.shard_sha256_after == r.shard_sha256_never_seen;
    println!(
        "  shard model after unlearning {} the never-seen model ({})",
        if identical {
            "is byte-identical to"
        } else {
            "DIFFERS from"
        },
        r.shard_sha256_after
    );
    if !identical {
        bail!("unlearning did not give the model that never saw the canary");
    }
    Ok(())
}
