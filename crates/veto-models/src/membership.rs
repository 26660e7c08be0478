//! The membership audit of a model: the person's texts against matched
//! held-out texts ([`veto_lm::membership`]) under three models: the model
//! that held them (before unlearning), the model as it is (after
//! unlearning, if they were unlearned) and shards trained from scratch
//! without them (retrained). For the built-in trainer "after" and
//! "retrained" are the same bytes, so PrivLeak is exactly 0.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::UInt32Type;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use veto_lm::membership::{Figures, measure, privleak};
use veto_lm::{Ensemble, LanguageModel, Trainer};

use crate::data::{is_heldout, read_shard, training_texts};
use crate::train::{model_heldout, read_snapshot_manifest};
use crate::{ModelManifest, ModelsError, io};

/// Min-K% Prob's K, as in Shi et al.'s main results.
pub const K_PERCENT: f64 = 20.0;
/// Member texts measured at most (the first by doc id), bounding the cost
/// of greedy decoding for VerbMem.
pub const MAX_MEMBERS: usize = 200;

#[derive(Clone, Debug, PartialEq)]
pub struct MembershipReport {
    pub persons: usize,
    /// Member texts measured and as many length-matched held-out texts.
    pub members: usize,
    pub nonmembers: usize,
    /// The shards that hold the persons' items.
    pub shards: Vec<u32>,
    pub before: Figures,
    /// `None` while the model still holds the persons.
    pub after: Option<Figures>,
    pub retrained: Figures,
    /// After unlearning, whether every affected shard of the model is the
    /// byte-identical model trained from scratch without them.
    pub after_is_retrained: Option<bool>,
}

impl MembershipReport {
    /// PrivLeak of the loss attack and of Min-K% (after unlearning).
    pub fn privleak(&self) -> Option<(f64, f64)> {
        let a = self.after.as_ref()?;
        Some((
            privleak(a.auc_loss, self.retrained.auc_loss),
            privleak(a.auc_min_k, self.retrained.auc_min_k),
        ))
    }
}

/// The doc ids (and shards) of `persons` in the snapshot's index.
fn docs_of(snapshot_dir: &Path, persons: &BTreeSet<&str>) -> Result<BTreeMap<String, u32>, ModelsError> {
    let path = snapshot_dir.join("index.parquet");
    let file = std::fs::File::open(&path).map_err(io(&path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["person_id", "doc_id", "shard"]);
    let mut out = BTreeMap::new();
    for batch in builder.with_projection(mask).with_batch_size(65_536).build()? {
        let batch = batch?;
        let (p, d) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        let s = batch.column(2).as_primitive::<UInt32Type>();
        for i in 0..batch.num_rows() {
            if persons.contains(p.value(i)) {
                out.insert(d.value(i).to_string(), s.value(i));
            }
        }
    }
    Ok(out)
}

/// For each member text (longest first), the unused held-out text nearest
/// in length: non-members that differ from members in membership, not in
/// length.
fn matched<'a>(members: &[&str], pool: &'a [String]) -> Vec<&'a str> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(members[i].len()));
    let mut used = vec![false; pool.len()];
    let mut out = Vec::new();
    for i in order {
        let best = (0..pool.len())
            .filter(|&j| !used[j])
            .min_by_key(|&j| (pool[j].len().abs_diff(members[i].len()), j));
        if let Some(j) = best {
            used[j] = true;
            out.push(pool[j].as_str());
        }
    }
    out
}

/// The manifest's entry of a shard the index names.
fn shard_info<'a>(
    snapshot: &'a veto_snapshot::Manifest,
    snapshot_dir: &Path,
    shard: u32,
) -> Result<&'a veto_snapshot::manifest::ShardInfo, ModelsError> {
    snapshot
        .shards
        .iter()
        .find(|s| s.shard == shard)
        .ok_or_else(|| ModelsError::Format {
            path: snapshot_dir.join("manifest.json"),
            message: format!("the index names shard {shard}, the manifest has no such shard"),
        })
}

/// Runs the audit for `persons` on the model's current version.
pub fn audit(
    model_dir: &Path,
    snapshot_dir: &Path,
    m: &ModelManifest,
    trainer: &dyn Trainer,
    persons: &[String],
) -> Result<MembershipReport, ModelsError> {
    let (snapshot, _) = read_snapshot_manifest(snapshot_dir)?;
    let wanted: BTreeSet<&str> = persons.iter().map(String::as_str).collect();
    let docs = docs_of(snapshot_dir, &wanted)?;
    let shards: BTreeSet<u32> = docs.values().copied().collect();
    let removed: BTreeSet<String> = m.removed_doc_ids.iter().cloned().collect();
    let unlearned = !docs.is_empty() && docs.keys().all(|d| removed.contains(d));
    let mut with_them = removed.clone();
    with_them.retain(|d| !docs.contains_key(d));
    let mut without_them = removed.clone();
    without_them.extend(docs.keys().cloned());

    let current = load_shards(model_dir, m, trainer)?;
    let (mut before, mut retrained) = (current.clone(), current.clone());
    let mut member_texts: Vec<String> = Vec::new();
    let mut identical = true;
    for &shard in &shards {
        let info = shard_info(&snapshot, snapshot_dir, shard)?;
        let rows = read_shard(&snapshot_dir.join(&info.file))?;
        member_texts.extend(
            rows.iter()
                .filter(|d| docs.contains_key(&d.doc_id) && !is_heldout(&d.doc_id))
                .filter_map(|d| d.text.clone()),
        );
        let with: Arc<dyn LanguageModel> = Arc::from(trainer.train(&mut training_texts(&rows, &with_them)));
        let without: Arc<dyn LanguageModel> = Arc::from(trainer.train(&mut training_texts(&rows, &without_them)));
        let slot = m
            .shards
            .iter()
            .position(|s| s.shard == shard)
            .ok_or_else(|| ModelsError::Internal(format!("model {} has no shard {shard}", m.model_id)))?;
        identical &= veto_lm::trainer::model_hash(without.as_ref()) == m.shards[slot].model_sha256;
        before[slot] = with;
        retrained[slot] = without;
    }
    member_texts.truncate(MAX_MEMBERS);
    let members: Vec<&str> = member_texts.iter().map(String::as_str).collect();
    let pool: Vec<String> = model_heldout(model_dir, snapshot_dir, m)?
        .into_iter()
        .filter_map(|d| d.text)
        .collect();
    let nonmembers = matched(&members, &pool);
    let figures = |models: Vec<Arc<dyn LanguageModel>>| {
        measure(&Ensemble::new(models), &members, &nonmembers, K_PERCENT).ok_or_else(|| {
            ModelsError::Refused(format!(
                "nothing to measure: {} text(s) of the person(s) in the model, {} held-out text(s)",
                members.len(),
                nonmembers.len()
            ))
        })
    };
    Ok(MembershipReport {
        persons: persons.len(),
        members: members.len(),
        nonmembers: nonmembers.len(),
        shards: shards.into_iter().collect(),
        before: figures(before)?,
        after: if unlearned { Some(figures(current)?) } else { None },
        retrained: figures(retrained)?,
        after_is_retrained: unlearned.then_some(identical),
    })
}

fn load_shards(
    model_dir: &Path,
    m: &ModelManifest,
    trainer: &dyn Trainer,
) -> Result<Vec<Arc<dyn LanguageModel>>, ModelsError> {
    m.shards
        .iter()
        .map(|s| {
            let path = model_dir.join(&s.file);
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let model = trainer.load(&bytes).map_err(|e| ModelsError::Format {
                path,
                message: e.to_string(),
            })?;
            Ok(Arc::from(model))
        })
        .collect()
}

/// `n` persons with text in the model's training sets, chosen by `seed`
/// (a keyed hash order, so the choice is reproducible and not biased to
/// any id range).
pub fn sample_persons(snapshot_dir: &Path, n: usize, seed: u64) -> Result<Vec<String>, ModelsError> {
    let path = snapshot_dir.join("index.parquet");
    let file = std::fs::File::open(&path).map_err(io(&path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["person_id", "doc_id"]);
    let mut ranked: BTreeSet<([u8; 32], String)> = BTreeSet::new();
    for batch in builder.with_projection(mask).with_batch_size(65_536).build()? {
        let batch = batch?;
        let (p, d) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        for i in 0..batch.num_rows() {
            if is_heldout(d.value(i)) {
                continue;
            }
            use sha2::Digest;
            let key: [u8; 32] = sha2::Sha256::digest(format!("{seed}\n{}", p.value(i))).into();
            ranked.insert((key, p.value(i).to_string()));
            if ranked.len() > n {
                ranked.pop_last();
            }
        }
    }
    Ok(ranked.into_iter().map(|(_, p)| p).collect())
}

/// One shard's training set as it stands for one person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardStanding {
    pub shard: u32,
    /// The person's rows in the shard that a model may train on (not held out).
    pub items: usize,
    /// Of those, the ones still in the current training set.
    pub in_set: usize,
    /// The root model.json records for the shard's current training set.
    pub recorded_root: Option<String>,
    /// The root recomputed from the snapshot's files with the model's
    /// removals.
    pub recomputed_root: String,
    /// The root of the shard's rows without any of the person's: the
    /// training set of a build that never had them.
    pub root_without: String,
}

/// For each shard holding `person_id`'s items, their standing in the
/// model's current training sets, recomputed from the snapshot's files.
pub fn standing(
    snapshot_dir: &Path,
    m: &ModelManifest,
    person_id: &str,
    threads: usize,
) -> Result<Vec<ShardStanding>, ModelsError> {
    let (snapshot, _) = read_snapshot_manifest(snapshot_dir)?;
    let docs = docs_of(snapshot_dir, &BTreeSet::from([person_id]))?;
    let removed: BTreeSet<String> = m.removed_doc_ids.iter().cloned().collect();
    let shards: BTreeSet<u32> = docs.values().copied().collect();
    let mut out = Vec::new();
    for shard in shards {
        let info = shard_info(&snapshot, snapshot_dir, shard)?;
        let path = snapshot_dir.join(&info.file);
        let current = crate::data::TrainingSet::read(&path, &removed, threads)?;
        let mut without_them = removed.clone();
        without_them.extend(docs.keys().cloned());
        let without = crate::data::TrainingSet::read(&path, &without_them, threads)?;
        let mine: Vec<&String> = docs
            .iter()
            .filter(|(d, s)| **s == shard && !is_heldout(d))
            .map(|(d, _)| d)
            .collect();
        out.push(ShardStanding {
            shard,
            items: mine.len(),
            in_set: mine.iter().filter(|d| !removed.contains(**d)).count(),
            recorded_root: m
                .shards
                .iter()
                .find(|s| s.shard == shard)
                .and_then(|s| s.training_set_root.clone()),
            recomputed_root: hex::encode(current.root),
            root_without: hex::encode(without.root),
        });
    }
    Ok(out)
}
