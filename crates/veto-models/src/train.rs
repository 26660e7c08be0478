//! Training every shard model of a snapshot in parallel, and evaluating the
//! ensemble on the held-out slice.
//!
//! The held-out evaluation is additive over shards: each worker writes the
//! probabilities its shard model gives every held-out token
//! (`shard-NNNNN.eval`), and the ensemble probability is their mean. An
//! unlearning run that retrains two shards reuses the other shards' vectors.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use veto_lm::tokenizer::encode;
use veto_lm::{KneserNey, LanguageModel, Trainer};
use veto_snapshot::Manifest;

use crate::data::{Doc, TrainingSet, is_heldout, read_shard};
use crate::manifest::{Heldout, ShardModel};
use crate::trainer::{ShardJob, ShardTrainer};
use crate::{ModelsError, io, write_atomic};

/// Held-out documents evaluated (the first by doc id), bounding the cost.
pub const HELDOUT_DOCS: usize = 2_000;

/// The fixed evaluation set of a snapshot: held-out docs with text, sorted
/// by doc id, at most [`HELDOUT_DOCS`].
pub fn heldout_set(snapshot_dir: &Path, manifest: &Manifest) -> Result<Vec<Doc>, ModelsError> {
    let mut docs = Vec::new();
    for s in &manifest.shards {
        docs.extend(
            read_shard(&snapshot_dir.join(&s.file))?
                .into_iter()
                .filter(|d| is_heldout(&d.doc_id) && d.text.is_some()),
        );
    }
    docs.sort_by(|a, b| a.doc_id.cmp(&b.doc_id));
    docs.truncate(HELDOUT_DOCS);
    Ok(docs)
}

/// The evaluation set as kept in a model directory.
pub const HELDOUT_FILE: &str = "heldout.json";

/// Writes the evaluation set into the model directory; returns its SHA-256.
pub fn keep_heldout(model_dir: &Path, heldout: &[Doc]) -> Result<String, ModelsError> {
    use sha2::Digest;
    let bytes = serde_json::to_vec(heldout).map_err(|e| ModelsError::Internal(format!("held-out set: {e}")))?;
    write_atomic(&model_dir.join(HELDOUT_FILE), &bytes)?;
    Ok(hex::encode(sha2::Sha256::digest(&bytes)))
}

/// The model's evaluation set: the kept one, checked against its recorded
/// hash, or (for models from before it was kept) read from the snapshot.
pub fn model_heldout(model_dir: &Path, snapshot_dir: &Path, m: &crate::ModelManifest) -> Result<Vec<Doc>, ModelsError> {
    use sha2::Digest;
    let Some(expected) = &m.heldout.set_sha256 else {
        let (snapshot, _) = read_snapshot_manifest(snapshot_dir)?;
        return heldout_set(snapshot_dir, &snapshot);
    };
    let path = model_dir.join(HELDOUT_FILE);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let actual = hex::encode(sha2::Sha256::digest(&bytes));
    if &actual != expected {
        return Err(ModelsError::Format {
            path,
            message: format!("sha256 {actual} is not the recorded {expected}; the evaluation set was changed"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ModelsError::Format {
        path,
        message: e.to_string(),
    })
}

/// Each held-out token with its history (for per-shard evaluation).
pub fn heldout_tokens(heldout: &[Doc], context: usize) -> Vec<(Vec<u32>, u32)> {
    let mut out = Vec::new();
    for d in heldout {
        let tokens: Vec<u32> = encode(d.text.as_deref().unwrap_or("")).collect();
        for i in 0..tokens.len() {
            out.push((tokens[i.saturating_sub(context)..i].to_vec(), tokens[i]));
        }
    }
    out
}

/// The probabilities one model gives the held-out tokens, on `threads`
/// threads (each takes a slice; the vector is the same).
pub fn eval_vector(model: &dyn LanguageModel, tokens: &[(Vec<u32>, u32)], threads: usize) -> Vec<f64> {
    let threads = threads.clamp(1, tokens.len().max(1));
    let chunk = tokens.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = tokens
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|(h, t)| model.prob(h, *t)).collect::<Vec<f64>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

pub fn read_eval(path: &Path) -> Result<Vec<f64>, ModelsError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// Mean of per-shard probabilities → perplexity.
pub fn ensemble_perplexity(vectors: &[Vec<f64>], tokens: u64) -> f64 {
    if tokens == 0 || vectors.is_empty() {
        return f64::NAN;
    }
    let n = vectors.len() as f64;
    let nll: f64 = (0..tokens as usize)
        .map(|i| -(vectors.iter().map(|v| v[i]).sum::<f64>() / n).ln())
        .sum();
    (nll / tokens as f64).exp()
}

/// One trained shard: its record and (built-in trainer) its held-out
/// probabilities.
pub type TrainedShard = (ShardModel, Option<Vec<f64>>);

/// What every shard of one training or unlearning run shares.
pub struct Run<'a> {
    pub snapshot_dir: &'a Path,
    pub manifest: &'a Manifest,
    pub removed: &'a BTreeSet<String>,
    pub trainer: &'a ShardTrainer,
    pub heldout: &'a [Doc],
    pub eval_tokens: &'a [(Vec<u32>, u32)],
    /// The version directory being written, and its name (`v<N>`).
    pub out_dir: &'a Path,
    pub version_dir: &'a str,
    pub threads: usize,
}

/// Trains the given shards into `run.out_dir`, `run.threads` at a time.
/// Returns the shard records in shard order.
pub fn train_shards(run: &Run<'_>, shards: &[u32]) -> Result<Vec<TrainedShard>, ModelsError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Result<TrainedShard, ModelsError>>> = Mutex::new(Vec::new());
    // Fewer shards than threads (an unlearning that retrains one): each
    // shard's training and evaluation share out the rest.
    let workers = run.threads.max(1).min(shards.len().max(1));
    let per_shard = (run.threads.max(1) / workers).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&shard) = shards.get(i) else { break };
                    let r = train_one(run, shard, per_shard);
                    let failed = r.is_err();
                    results.lock().expect("results lock").push(r);
                    if failed {
                        // No new shard starts after a failure.
                        next.store(shards.len(), Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let mut out = results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let work = run.out_dir.join(".work");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io(&work))?;
    }
    out.sort_by_key(|(s, _)| s.shard);
    Ok(out)
}

fn train_one(run: &Run<'_>, shard: u32, threads: usize) -> Result<TrainedShard, ModelsError> {
    let info = run
        .manifest
        .shards
        .iter()
        .find(|s| s.shard == shard)
        .ok_or_else(|| ModelsError::Format {
            path: run.snapshot_dir.join("manifest.json"),
            message: format!("no shard {shard}"),
        })?;
    let set = TrainingSet::read(&run.snapshot_dir.join(&info.file), run.removed, threads)?;
    let texts = set.texts();
    let docs = texts.len() as u64;
    let tokens: u64 = texts.iter().map(|t| t.len() as u64 + 1).sum();
    drop(texts);
    let seed = {
        use sha2::Digest;
        let h = sha2::Sha256::digest(format!("{}\n{shard}", run.manifest.snapshot_id));
        u64::from_le_bytes(h[..8].try_into().expect("8 bytes")) >> 1
    };
    let job = ShardJob {
        shard,
        set: &set,
        eval_tokens: run.eval_tokens,
        heldout: run.heldout,
        out_dir: run.out_dir,
        version_dir: run.version_dir,
        threads,
        seed,
    };
    let out = run.trainer.train(&job)?;
    let record = ShardModel {
        shard,
        file: out
            .artifacts
            .first()
            .map_or_else(|| format!("{}/shard-{shard:05}", run.version_dir), |a| a.file.clone()),
        model_sha256: out.model_sha256,
        docs,
        tokens,
        training_set_root: Some(hex::encode(set.root)),
        training_set_rows: Some(set.rows),
        artifacts: out.artifacts,
        heldout_loss: out.heldout_loss,
    };
    Ok((record, out.eval))
}

/// The held-out summary: the ensemble's perplexity from the built-in
/// trainer's per-token vectors, or, for programs (whose models veto does
/// not run), exp of the mean of the shards' reported losses.
pub fn heldout_summary(heldout: &[Doc], shards: &[ShardModel], vectors: &[Option<Vec<f64>>]) -> Heldout {
    let full: Option<Vec<Vec<f64>>> = vectors.iter().cloned().collect();
    let (tokens, perplexity) = match full {
        Some(v) if !v.is_empty() => {
            let tokens = v[0].len() as u64;
            (tokens, ensemble_perplexity(&v, tokens))
        }
        _ => {
            let losses: Vec<f64> = shards.iter().filter_map(|s| s.heldout_loss).collect();
            let tokens = heldout
                .iter()
                .map(|d| d.text.as_deref().map_or(0, |t| t.len() as u64 + 1))
                .sum();
            let mean = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
            (tokens, if losses.is_empty() { f64::NAN } else { mean.exp() })
        }
    };
    Heldout {
        docs: heldout.len() as u64,
        tokens,
        perplexity,
        set_sha256: None,
    }
}

/// Trains a new model (version 1) on every shard of the snapshot in
/// `snapshot_dir`, into `model_dir`.
pub fn train_model(
    snapshot_dir: &Path,
    model_dir: &Path,
    trainer: &ShardTrainer,
    threads: usize,
    at: &str,
) -> Result<crate::ModelManifest, ModelsError> {
    let (manifest, _) = read_snapshot_manifest(snapshot_dir)?;
    let heldout = heldout_set(snapshot_dir, &manifest)?;
    let set_sha256 = keep_heldout(model_dir, &heldout)?;
    let order = match trainer {
        ShardTrainer::Builtin(kn) => kn.order,
        ShardTrainer::Exec(_) => 0,
    };
    let tokens = match trainer {
        ShardTrainer::Builtin(_) => heldout_tokens(&heldout, order - 1),
        ShardTrainer::Exec(_) => Vec::new(),
    };
    let shards: Vec<u32> = manifest.shards.iter().map(|s| s.shard).collect();
    let removed = BTreeSet::new();
    let run = Run {
        snapshot_dir,
        manifest: &manifest,
        removed: &removed,
        trainer,
        heldout: &heldout,
        eval_tokens: &tokens,
        out_dir: &model_dir.join("v1"),
        version_dir: "v1",
        threads,
    };
    let trained = train_shards(&run, &shards)?;
    let vectors: Vec<Option<Vec<f64>>> = trained.iter().map(|(_, v)| v.clone()).collect();
    let shard_models: Vec<ShardModel> = trained.into_iter().map(|(s, _)| s).collect();
    let hashes: Vec<String> = shard_models.iter().map(|s| s.model_sha256.clone()).collect();
    let name = trainer.name();
    let model_sha256 = crate::manifest::model_sha256(&name, &hashes);
    let model_id = {
        use sha2::Digest;
        let id = sha2::Sha256::digest(format!("{}\n{name}\n{model_sha256}", manifest.snapshot_id));
        format!("model-{}", &hex::encode(id)[..16])
    };
    let m = crate::ModelManifest {
        format: crate::manifest::MODEL_FORMAT.into(),
        model_id,
        snapshot_id: manifest.snapshot_id.clone(),
        trainer: name,
        trainer_exec: match trainer {
            ShardTrainer::Exec(spec) => Some(spec.clone()),
            ShardTrainer::Builtin(_) => None,
        },
        order,
        version: 1,
        model_sha256,
        heldout: Heldout {
            set_sha256: Some(set_sha256),
            ..heldout_summary(&heldout, &shard_models, &vectors)
        },
        shards: shard_models,
        removed_doc_ids: Vec::new(),
        versions: vec![crate::manifest::VersionInfo {
            version: 1,
            at: at.to_string(),
            retrained_shards: shards,
            removed_person_refs: Vec::new(),
            removed_items: Vec::new(),
            removed_docs: 0,
            objections_seq: None,
        }],
    };
    write_manifest(model_dir, &m)?;
    Ok(m)
}

/// The trainer a model was trained with (unlearning retrains through it).
pub fn trainer_of(m: &crate::ModelManifest) -> Result<ShardTrainer, ModelsError> {
    match &m.trainer_exec {
        Some(spec) => {
            spec.check_unchanged()?;
            Ok(ShardTrainer::Exec(spec.clone()))
        }
        None => KneserNey::new(m.order)
            .map(ShardTrainer::Builtin)
            .map_err(ModelsError::Refused),
    }
}

pub fn read_snapshot_manifest(snapshot_dir: &Path) -> Result<(Manifest, Vec<u8>), ModelsError> {
    let path = snapshot_dir.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let m = serde_json::from_slice(&bytes).map_err(|e| ModelsError::Format {
        path,
        message: e.to_string(),
    })?;
    Ok((m, bytes))
}

pub fn write_manifest(model_dir: &Path, m: &crate::ModelManifest) -> Result<(), ModelsError> {
    write_atomic(
        &model_dir.join("model.json"),
        &serde_json::to_vec_pretty(m).expect("manifest serialises"),
    )
}

pub fn read_manifest(model_dir: &Path) -> Result<crate::ModelManifest, ModelsError> {
    let path = model_dir.join("model.json");
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| ModelsError::Format {
        path,
        message: e.to_string(),
    })
}

/// Loads the ensemble of the manifest's current shard models.
pub fn load_ensemble(
    model_dir: &Path,
    m: &crate::ModelManifest,
    trainer: &dyn Trainer,
) -> Result<veto_lm::Ensemble, ModelsError> {
    let mut models = Vec::new();
    for s in &m.shards {
        let path = model_dir.join(&s.file);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let model = trainer.load(&bytes).map_err(|e| ModelsError::Format {
            path,
            message: e.to_string(),
        })?;
        models.push(std::sync::Arc::from(model));
    }
    Ok(veto_lm::Ensemble::new(models))
}
