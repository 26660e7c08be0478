//! The canary audit: does unlearning really remove what a model memorised?
//!
//! A test person's posts carry a sentence with a random secret. The audit
//! trains the secret's shard with those posts (all other shards as in the
//! model), measures the secret's exposure, then removes the person exactly
//! as `veto unlearn` does (the same training-set function with their doc ids
//! removed), retrains that shard and measures again, next to the model that
//! never saw the canary.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use veto_lm::canary::{exposure, random_secret, sentence};
use veto_lm::membership::{Figures, measure};
use veto_lm::{Ensemble, LanguageModel, Trainer};

use crate::data::{Doc, read_shard, training_texts};
use crate::train::read_snapshot_manifest;
use crate::{ModelManifest, ModelsError, io};

#[derive(Clone, Debug)]
pub struct CanaryReport {
    pub shard: u32,
    pub repeats: usize,
    pub references: usize,
    /// log2(references + 1): the exposure of a secret ranked first.
    pub max_exposure: f64,
    pub exposure_before: f64,
    pub exposure_after: f64,
    pub exposure_never_seen: f64,
    /// SHA-256 of the canary shard's model: before, after unlearning, never seen.
    pub shard_sha256_before: String,
    pub shard_sha256_after: String,
    pub shard_sha256_never_seen: String,
    /// Membership inference on the canary's posts against as many posts
    /// of the same sentence with reference secrets: before, after
    /// unlearning, never seen.
    pub membership: [Figures; 3],
}

fn sha(model: &dyn LanguageModel) -> String {
    veto_lm::trainer::model_hash(model)
}

#[allow(clippy::too_many_arguments)]
pub fn audit(
    model_dir: &Path,
    snapshot_dir: &Path,
    m: &ModelManifest,
    trainer: &dyn Trainer,
    installation_secret: &[u8],
    references: usize,
    repeats: usize,
    seed: u64,
) -> Result<CanaryReport, ModelsError> {
    let (snapshot, _) = read_snapshot_manifest(snapshot_dir)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let person = format!("canary-{:016x}", rng.random::<u64>());
    let shard = veto_core::hashing::shard_of(installation_secret, &person, snapshot.shard_count);
    let secret = random_secret(&mut rng, 6);
    let mut refs = BTreeSet::new();
    while refs.len() < references {
        let r = random_secret(&mut rng, 6);
        if r != secret {
            refs.insert(r);
        }
    }
    let refs: Vec<String> = refs.into_iter().collect();

    let info = snapshot
        .shards
        .iter()
        .find(|s| s.shard == shard)
        .expect("shard_of is below shard_count");
    let mut docs = read_shard(&snapshot_dir.join(&info.file))?;
    let canary_docs: Vec<Doc> = (0..repeats)
        .map(|i| Doc {
            doc_id: veto_core::hashing::doc_id(installation_secret, &format!("{person}-item-{i}")),
            text: Some(sentence(&secret)),
        })
        .collect();
    docs.extend(canary_docs.iter().cloned());
    let removed: BTreeSet<String> = m.removed_doc_ids.iter().cloned().collect();
    let mut removed_with_canary = removed.clone();
    removed_with_canary.extend(canary_docs.iter().map(|d| d.doc_id.clone()));

    let before: Arc<dyn LanguageModel> = Arc::from(trainer.train(&mut training_texts(&docs, &removed)));
    let after: Arc<dyn LanguageModel> = Arc::from(trainer.train(&mut training_texts(&docs, &removed_with_canary)));
    let mut others: Vec<Arc<dyn LanguageModel>> = Vec::new();
    let mut never_seen: Option<Arc<dyn LanguageModel>> = None;
    for s in &m.shards {
        let path = model_dir.join(&s.file);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let model: Arc<dyn LanguageModel> = Arc::from(trainer.load(&bytes).map_err(|e| ModelsError::Format {
            path,
            message: e.to_string(),
        })?);
        if s.shard == shard {
            never_seen = Some(model.clone());
        }
        others.push(model);
    }
    let never_seen = never_seen.expect("the model has every shard");
    let with = |replacement: &Arc<dyn LanguageModel>| {
        let models = m
            .shards
            .iter()
            .zip(&others)
            .map(|(s, model)| {
                if s.shard == shard {
                    replacement.clone()
                } else {
                    model.clone()
                }
            })
            .collect();
        Ensemble::new(models)
    };
    // The canary's posts against the same sentence with reference secrets,
    // which no model saw: texts that differ in membership only, so the
    // attack measures memorisation, not how predictable a text is.
    let members: Vec<&str> = canary_docs.iter().filter_map(|d| d.text.as_deref()).collect();
    let pool: Vec<String> = refs.iter().take(members.len()).map(|r| sentence(r)).collect();
    let nonmembers: Vec<&str> = pool.iter().map(String::as_str).collect();
    let figures = |model: &Arc<dyn LanguageModel>| {
        measure(&with(model), &members, &nonmembers, crate::membership::K_PERCENT)
            .ok_or_else(|| ModelsError::Internal("a canary audit without posts or references".into()))
    };
    let membership = [figures(&before)?, figures(&after)?, figures(&never_seen)?];
    Ok(CanaryReport {
        shard,
        repeats,
        references,
        max_exposure: ((references + 1) as f64).log2(),
        exposure_before: exposure(&with(&before), &secret, &refs),
        exposure_after: exposure(&with(&after), &secret, &refs),
        exposure_never_seen: exposure(&with(&never_seen), &secret, &refs),
        shard_sha256_before: sha(before.as_ref()),
        shard_sha256_after: sha(after.as_ref()),
        shard_sha256_never_seen: sha(never_seen.as_ref()),
        membership,
    })
}
