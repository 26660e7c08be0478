//! `veto train`, `veto generate-text`, `veto unlearn`, `veto audit canary`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{SecondsFormat, Utc};
use rand::SeedableRng;
use serde_json::json;
use veto_core::LateObjections;
use veto_lm::KneserNey;
use veto_models::trainer::{ExecSpec, ShardTrainer};
use veto_models::{ModelManifest, canary, train, unlearn};
use veto_store::models::ModelRecord;
use veto_store::operations::{OpKind, Operation};
use veto_store::{SnapshotRecord, Store, lock};

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The built-in trainer of a model; models of exec trainers are not run by
/// veto (sampling and the canary audit need the model in the process).
pub(crate) fn trainer_for(m: &ModelManifest) -> anyhow::Result<KneserNey> {
    if m.trainer_exec.is_some() {
        bail!(
            "model {} was trained by {}: veto runs only its built-in models; use the trainer's own tools",
            m.model_id,
            m.trainer
        );
    }
    KneserNey::new(m.order).map_err(anyhow::Error::msg)
}

/// Per shard, what the ledger records of a model version: the model hash,
/// the training-set root and rows, and each artifact's hash.
fn shard_hashes(m: &ModelManifest) -> Vec<serde_json::Value> {
    m.shards
        .iter()
        .map(|s| {
            json!({
                "shard": s.shard, "model_sha256": s.model_sha256, "tokens": s.tokens,
                "training_set_root": s.training_set_root, "training_set_rows": s.training_set_rows,
                "artifacts": s.artifacts.iter().map(|a| json!({"file": a.file, "sha256": a.sha256})).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// The trainer named by `veto train`'s flags.
pub fn trainer_from_flags(
    trainer: &str,
    order: usize,
    args: Vec<String>,
    timeout_s: u64,
) -> anyhow::Result<ShardTrainer> {
    if trainer == "builtin" {
        if !args.is_empty() {
            bail!("--trainer-arg is for --trainer exec:PROGRAM");
        }
        return Ok(ShardTrainer::Builtin(
            KneserNey::new(order).map_err(anyhow::Error::msg)?,
        ));
    }
    let Some(program) = trainer.strip_prefix("exec:").filter(|p| !p.is_empty()) else {
        bail!("--trainer {trainer:?}: expected builtin or exec:PROGRAM");
    };
    Ok(ShardTrainer::Exec(ExecSpec::new(program, args, timeout_s)?))
}

pub async fn train_cmd(
    home: &Path,
    snapshot: &str,
    trainer: &ShardTrainer,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let snap = store.snapshot(snapshot).await?;
    let resource = format!("train-{}", snap.snapshot_id);
    let _lock = lock::acquire(home, &resource, "veto train", |who| {
        eprintln!(
            "Waiting for {who}, which is training on snapshot {} ...",
            snap.snapshot_id
        )
    })
    .await?;
    store.recover(Some(&resource)).await?;
    // Training is deterministic: the same snapshot and trainer give the
    // same model, so one on record is refused before anything is written.
    for m in store.models().await? {
        let name = serde_json::from_str::<ModelManifest>(&m.manifest).map(|mm| mm.trainer);
        let deterministic = matches!(trainer, ShardTrainer::Builtin(_));
        if deterministic && m.snapshot_id == snap.snapshot_id && name.as_deref().ok() == Some(trainer.name().as_str()) {
            bail!(
                "model {} ({}) is already trained on snapshot {} (in {}); nothing was written",
                m.model_id,
                trainer.name(),
                snap.snapshot_id,
                m.path
            );
        }
    }
    // Absolute: the store records it (see main.rs).
    let out = out.map(|dir| std::path::absolute(&dir).unwrap_or(dir));
    let (parent, exact) = match out {
        Some(dir) if dir.exists() => bail!("{} already exists; nothing was overwritten", dir.display()),
        Some(dir) => (parent_of(&dir), Some(dir)),
        None => (home.join("models"), None),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let started = std::time::Instant::now();
    let mut op = store.begin_operation(OpKind::Train, &snap.snapshot_id, &parent).await?;
    let trained = match train_steps(&store, &mut op, &snap, trainer, (&parent, exact), &resource).await {
        Ok(trained) => trained,
        Err(e) => {
            if let Err(undo) = store.roll_back(op).await {
                tracing::error!(error = %undo, "rolling back the training");
            }
            return Err(e);
        }
    };
    store.finish_operation(op).await?;
    store.close().await;
    let (m, dir) = trained;
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

/// Trains into the operation's staging directory, renames it into place
/// and records the model with its ledger entry.
async fn train_steps(
    store: &Store,
    op: &mut Operation,
    snap: &SnapshotRecord,
    trainer: &ShardTrainer,
    (parent, exact): (&Path, Option<PathBuf>),
    resource: &str,
) -> anyhow::Result<(ModelManifest, PathBuf)> {
    let snapshot_manifest = snapshot_on_disk(snap)?;
    let m = train::train_model(Path::new(&snap.path), op.staging(), trainer, threads(), &now_rfc3339())?;
    store.operation_staged(op).await?;
    let default_dest = exact.is_none();
    let dir = exact.unwrap_or_else(|| parent.join(&m.model_id));
    if store.model(&m.model_id).await.is_ok() {
        bail!("model {} is already on record; nothing was written", m.model_id);
    }
    if store.unfinished_at(&dir).await? {
        bail!(
            "{} is the destination of an unfinished operation; `veto doctor` says which",
            dir.display()
        );
    }
    if default_dest && dir.exists() {
        // models/<id> that no record names: left by a training that died
        // before trainings were recorded operations. Nothing refers to it.
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing unrecorded {}", dir.display()))?;
    }
    store.operation_rename(op, &dir, resource).await?;
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
    store.record_model(&record, payload, Some(op)).await?;
    Ok((m, dir))
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub async fn generate_text(home: &Path, model: &str, prompt: &str, max_bytes: usize, seed: u64) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
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
    let store = super::open_store(home).await?;
    let model_id = store.model(model).await?.model_id;
    // One unlearning per model at a time; the second waits, then finds
    // what the first left to do.
    let resource = format!("model-{model_id}");
    let _lock = lock::acquire(home, &resource, "veto unlearn", |who| {
        eprintln!("Waiting for {who}, which holds model {model_id} ...")
    })
    .await?;
    store.recover(Some(&resource)).await?;
    let record = store.model(&model_id).await?;
    let snap = store.snapshot(&record.snapshot_id).await?;
    let policy = snapshot_policy(&snap)?;
    if policy.late_objections == LateObjections::KeepTrained {
        bail!(
            "snapshot {} was built under policy {} (late_objections = keep_trained): models already trained keep \
             late objectors' data, so nothing was changed. Under a policy with late_objections = unlearn \
             (such as strict) this command retrains the affected shards.",
            snap.snapshot_id,
            policy.name
        );
    }
    // The store's record is the model's truth; model.json follows it.
    let current: ModelManifest = serde_json::from_str(&record.manifest)
        .with_context(|| format!("the recorded manifest of model {}", record.model_id))?;
    let now = Utc::now();
    let secret = store.secret().await?;
    let (plan, read_at) = unlearning_plan(&store, &secret, &snap, &current, now).await?;
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
    let model_dir = PathBuf::from(&record.path);
    let mut op = store
        .begin_operation(OpKind::Unlearn, &record.model_id, &model_dir)
        .await?;
    let job = Unlearning {
        model_dir: &model_dir,
        snap: &snap,
        current: &current,
        plan: &plan,
        refs: &refs,
        now,
        resource: &resource,
        read_at,
    };
    let next = match unlearn_steps(&store, &mut op, &job).await {
        Ok(next) => next,
        Err(e) => {
            if let Err(undo) = store.roll_back(op).await {
                tracing::error!(error = %undo, "rolling back the unlearning");
            }
            return Err(e);
        }
    };
    store.finish_operation(op).await?;
    store.close().await;
    print_unlearned(&plan, &current, &next, started.elapsed());
    Ok(())
}

/// What an unlearning of `current` at `now` removes, and the ledger
/// position its objections were read at.
async fn unlearning_plan(
    store: &Store,
    secret: &[u8],
    snap: &SnapshotRecord,
    current: &ModelManifest,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<(Vec<unlearn::Removal>, u64)> {
    // Read before the objections: one recorded in between is judged now
    // and looked at once more next time, never missed.
    let read_at = store.ledger_seq().await?;
    let unseen = match snap.objections_seq {
        Some(seq) => Some(store.objections_recorded_after(seq).await?),
        None => None,
    };
    let objections = store.objections_of_late_objectors(snap.as_of, unseen.as_ref()).await?;
    let mut candidates = unlearn::candidates(&objections, snap.as_of, unseen.as_ref());
    // Everyone whose objections the last unlearning judged in full is
    // settled: only persons with an objection recorded since, or filed
    // after it ran, are looked at, so the cost follows the new objections,
    // not all late objectors so far.
    let judged = current.versions.last().and_then(|v| {
        let at = veto_core::time::parse_rfc3339(&v.at).ok()?;
        Some((v.objections_seq?, at))
    });
    if let Some((seq, at)) = judged {
        let fresh = store.objections_recorded_after(seq).await?;
        candidates.retain(|_, objs| objs.iter().any(|o| fresh.contains(&o.objection_id) || o.filed_at > at));
    }
    let shards = candidate_shards(store, secret, &snap.snapshot_id, current, &mut candidates).await?;
    let removed = current.removed_doc_ids.iter().cloned().collect();
    let plan = unlearn::plan(Path::new(&snap.path), &candidates, shards.as_ref(), now, &removed)?;
    Ok((plan, read_at))
}

/// Narrows the candidates with the snapshot's lookup pages: drops those
/// whose included items this model has all removed already (late objectors
/// stay candidates for good; this keeps each unlearning's cost to the new
/// ones), and returns the shards that hold the rest. `None` where the
/// lookup is not complete (then every shard's index rows are read).
async fn candidate_shards(
    store: &Store,
    secret: &[u8],
    snapshot_id: &str,
    model: &ModelManifest,
    candidates: &mut std::collections::BTreeMap<String, Vec<veto_core::Objection>>,
) -> anyhow::Result<Option<std::collections::BTreeSet<u32>>> {
    let mut shards = std::collections::BTreeSet::new();
    let mut settled = Vec::new();
    for person in candidates.keys() {
        let person_ref = veto_core::hashing::person_ref(secret, person);
        let rows = store.lookup(&person_ref).await?;
        let Some(p) = rows
            .iter()
            .find(|r| r.snapshot_id == snapshot_id && r.lookup_ready)
            .map(|r| &r.person)
        else {
            return Ok(None);
        };
        let included: u64 = p.as_ref().map_or(0, |p| p.included_by_platform.values().sum());
        if model.items_removed_of(&person_ref) >= included {
            settled.push(person.clone());
            continue;
        }
        shards.extend(p.as_ref().and_then(|p| p.shard));
    }
    for person in settled {
        candidates.remove(&person);
    }
    Ok(Some(shards))
}

/// The manifest of the snapshot's files, which must be the one on record:
/// a directory reused for another snapshot, or a manifest edited, is not
/// trained on or unlearned from.
fn snapshot_on_disk(snap: &SnapshotRecord) -> anyhow::Result<veto_snapshot::Manifest> {
    let dir = Path::new(&snap.path);
    let read = veto_audit::read_manifest(dir);
    match read {
        Ok((manifest, bytes)) if bytes == snap.manifest.as_bytes() => Ok(manifest),
        Ok(_) => bail!(
            "{} does not hold snapshot {} as recorded (its manifest.json differs); nothing was done. \
             Rebuild the snapshot to restore it.",
            dir.display(),
            snap.snapshot_id
        ),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "snapshot {} is recorded at {}; rebuild it to restore its files",
            snap.snapshot_id,
            dir.display()
        ))),
    }
}

/// The snapshot's policy as recorded: the file in the snapshot must be the
/// one whose hash the store and the manifest hold.
fn snapshot_policy(snap: &SnapshotRecord) -> anyhow::Result<veto_core::Policy> {
    snapshot_on_disk(snap)?;
    let policy_path = Path::new(&snap.path).join("policy.toml");
    let policy_text =
        std::fs::read_to_string(&policy_path).with_context(|| format!("reading {}", policy_path.display()))?;
    let policy = veto_core::Policy::from_toml(&policy_text, &policy_path.display().to_string())?;
    if policy.sha256 != snap.policy_sha256 {
        bail!(
            "{} was changed after the build (sha256 {}, recorded {}); nothing was done. \
             Restore it, or rebuild the snapshot to repair it.",
            policy_path.display(),
            policy.sha256,
            snap.policy_sha256
        );
    }
    Ok(policy)
}

struct Unlearning<'a> {
    model_dir: &'a Path,
    snap: &'a SnapshotRecord,
    current: &'a ModelManifest,
    plan: &'a [unlearn::Removal],
    refs: &'a [String],
    now: chrono::DateTime<Utc>,
    resource: &'a str,
    /// The ledger position the objections were read at.
    read_at: u64,
}

/// Retrains the affected shards into the staging directory, renames it to
/// `v<N>`, records the version (model.json follows when the operation
/// finishes).
async fn unlearn_steps(store: &Store, op: &mut Operation, job: &Unlearning<'_>) -> anyhow::Result<ModelManifest> {
    let at = job.now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let trainer = train::trainer_of(job.current)?;
    let apply = unlearn::Apply {
        model_dir: job.model_dir,
        staging: op.staging(),
        snapshot_dir: Path::new(&job.snap.path),
        current: job.current,
        trainer: &trainer,
        threads: threads(),
        at: &at,
        objections_seq: Some(job.read_at),
    };
    let next = unlearn::apply(&apply, job.plan, job.refs.to_vec())?;
    store.operation_staged(op).await?;
    let dest = job.model_dir.join(format!("v{}", next.version));
    if store.unfinished_at(&dest).await? {
        bail!(
            "{} is the destination of an unfinished operation; `veto doctor` says which",
            dest.display()
        );
    }
    if dest.exists() {
        // A version directory the record does not reach (the record is at
        // version - 1): left by an unlearning that died before operations
        // were recorded. Nothing refers to it.
        std::fs::remove_dir_all(&dest).with_context(|| format!("removing unrecorded {}", dest.display()))?;
    }
    store.operation_rename(op, &dest, job.resource).await?;
    let retrained = &next.versions.last().context("a version was added")?.retrained_shards;
    let payload = json!({
        "model_id": next.model_id, "version": next.version, "model_sha256": next.model_sha256,
        "removed": job.plan.iter().zip(job.refs).map(|(r, pref)| json!({"person_ref": pref, "items": r.docs.len()})).collect::<Vec<_>>(),
        "retrained_shards": retrained, "shards": shard_hashes(&next),
    });
    store
        .record_unlearning(
            &next.model_id,
            next.version,
            &serde_json::to_string_pretty(&next)?,
            job.refs,
            job.now,
            payload,
            op,
            &job.model_dir.join("model.json"),
        )
        .await?;
    Ok(next)
}

fn print_unlearned(
    plan: &[unlearn::Removal],
    current: &ModelManifest,
    next: &ModelManifest,
    took: std::time::Duration,
) {
    let docs: usize = plan.iter().map(|r| r.docs.len()).sum();
    let retrained = next
        .versions
        .last()
        .map(|v| v.retrained_shards.clone())
        .unwrap_or_default();
    println!(
        "Unlearned {} person(s), {docs} item(s): retrained {} of {} shards {:?} in {:.1} s. Model {} is now version {}.",
        plan.len(),
        retrained.len(),
        next.shards.len(),
        retrained,
        took.as_secs_f64(),
        next.model_id,
        next.version
    );
    println!(
        "Held-out perplexity {:.3} (was {:.3}).",
        next.heldout.perplexity, current.heldout.perplexity
    );
}

pub async fn audit_canary(
    home: &Path,
    model: &str,
    references: usize,
    repeats: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
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
    let [before, after, never] = &r.membership;
    println!(
        "  membership AUC (loss / Min-{}%) of its posts: {:.3} / {:.3} trained with it, {:.3} / {:.3} after unlearning, {:.3} / {:.3} never seen",
        veto_models::membership::K_PERCENT,
        before.auc_loss,
        before.auc_min_k,
        after.auc_loss,
        after.auc_min_k,
        never.auc_loss,
        never.auc_min_k
    );
    println!(
        "  verbatim memorisation (VerbMem, ROUGE-L of the second half): {:.3} trained with it, {:.3} after, {:.3} never seen",
        before.verbmem, after.verbmem, never.verbmem
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
