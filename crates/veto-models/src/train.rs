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

use veto_engine::Manifest;
use veto_lm::tokenizer::encode;
use veto_lm::{LanguageModel, Trainer};

use crate::data::{Doc, is_heldout, read_shard, training_texts};
use crate::manifest::{Heldout, ShardModel};
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

/// The probabilities one model gives the held-out tokens.
pub fn eval_vector(model: &dyn LanguageModel, tokens: &[(Vec<u32>, u32)]) -> Vec<f64> {
    tokens.iter().map(|(h, t)| model.prob(h, *t)).collect()
}

fn to_le(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
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

/// One trained shard: its record and its held-out probabilities.
type TrainedShard = Result<(ShardModel, Vec<f64>), ModelsError>;

/// Trains the given shards into `out_dir`, `threads` at a time; the shard
/// records name the files as `<version_dir>/shard-NNNNN.kn` (relative to the
/// model directory that `out_dir` becomes once renamed into place).
/// Returns the shard records (in shard order) and their eval vectors.
#[allow(clippy::too_many_arguments)]
pub fn train_shards(
    snapshot_dir: &Path,
    manifest: &Manifest,
    shards: &[u32],
    removed: &BTreeSet<String>,
    trainer: &dyn Trainer,
    eval_tokens: &[(Vec<u32>, u32)],
    out_dir: &Path,
    version_dir: &str,
    threads: usize,
) -> Result<Vec<(ShardModel, Vec<f64>)>, ModelsError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<TrainedShard>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(shards.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&shard) = shards.get(i) else { break };
                    let r = train_one(
                        snapshot_dir,
                        manifest,
                        shard,
                        removed,
                        trainer,
                        eval_tokens,
                        out_dir,
                        version_dir,
                    );
                    results.lock().expect("results lock").push(r);
                }
            });
        }
    });
    let mut out = results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|(s, _)| s.shard);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn train_one(
    snapshot_dir: &Path,
    manifest: &Manifest,
    shard: u32,
    removed: &BTreeSet<String>,
    trainer: &dyn Trainer,
    eval_tokens: &[(Vec<u32>, u32)],
    out_dir: &Path,
    version_dir: &str,
) -> Result<(ShardModel, Vec<f64>), ModelsError> {
    let info = manifest
        .shards
        .iter()
        .find(|s| s.shard == shard)
        .ok_or_else(|| ModelsError::Format {
            path: snapshot_dir.join("manifest.json"),
            message: format!("no shard {shard}"),
        })?;
    let docs = read_shard(&snapshot_dir.join(&info.file))?;
    let (mut n_docs, mut n_tokens) = (0u64, 0u64);
    let model = trainer.train(&mut training_texts(&docs, removed).inspect(|t| {
        n_docs += 1;
        n_tokens += t.len() as u64 + 1;
    }));
    let bytes = model.to_bytes();
    let file = format!("{version_dir}/shard-{shard:05}.kn");
    write_atomic(&out_dir.join(format!("shard-{shard:05}.kn")), &bytes)?;
    let eval = eval_vector(model.as_ref(), eval_tokens);
    write_atomic(&out_dir.join(format!("shard-{shard:05}.eval")), &to_le(&eval))?;
    use sha2::Digest;
    let record = ShardModel {
        shard,
        file,
        model_sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        docs: n_docs,
        tokens: n_tokens,
    };
    Ok((record, eval))
}

/// The held-out summary from per-shard vectors.
pub fn heldout_summary(heldout: &[Doc], vectors: &[Vec<f64>]) -> Heldout {
    let tokens = vectors.first().map_or(0, |v| v.len() as u64);
    Heldout {
        docs: heldout.len() as u64,
        tokens,
        perplexity: ensemble_perplexity(vectors, tokens),
    }
}

/// Trains a new model (version 1) on every shard of the snapshot in
/// `snapshot_dir`, into `model_dir`.
pub fn train_model(
    snapshot_dir: &Path,
    model_dir: &Path,
    trainer: &dyn Trainer,
    order: usize,
    threads: usize,
    at: &str,
) -> Result<crate::ModelManifest, ModelsError> {
    let (manifest, _) = read_snapshot_manifest(snapshot_dir)?;
    let heldout = heldout_set(snapshot_dir, &manifest)?;
    let tokens = heldout_tokens(&heldout, order - 1);
    let shards: Vec<u32> = manifest.shards.iter().map(|s| s.shard).collect();
    let removed = BTreeSet::new();
    let trained = train_shards(
        snapshot_dir,
        &manifest,
        &shards,
        &removed,
        trainer,
        &tokens,
        &model_dir.join("v1"),
        "v1",
        threads,
    )?;
    let vectors: Vec<Vec<f64>> = trained.iter().map(|(_, v)| v.clone()).collect();
    let shard_models: Vec<ShardModel> = trained.into_iter().map(|(s, _)| s).collect();
    let hashes: Vec<String> = shard_models.iter().map(|s| s.model_sha256.clone()).collect();
    let model_sha256 = crate::manifest::model_sha256(&trainer.name(), &hashes);
    let model_id = {
        use sha2::Digest;
        let id = sha2::Sha256::digest(format!("{}\n{}\n{model_sha256}", manifest.snapshot_id, trainer.name()));
        format!("model-{}", &hex::encode(id)[..16])
    };
    let m = crate::ModelManifest {
        format: crate::manifest::MODEL_FORMAT.into(),
        model_id,
        snapshot_id: manifest.snapshot_id.clone(),
        trainer: trainer.name(),
        order,
        version: 1,
        model_sha256,
        shards: shard_models,
        heldout: heldout_summary(&heldout, &vectors),
        removed_doc_ids: Vec::new(),
        versions: vec![crate::manifest::VersionInfo {
            version: 1,
            at: at.to_string(),
            retrained_shards: shards,
            removed_person_refs: Vec::new(),
            removed_docs: 0,
        }],
    };
    write_manifest(model_dir, &m)?;
    Ok(m)
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
