//! Exact unlearning (SISA): find the data of every person whose objection
//! now applies, and retrain only the shards that held it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use arrow::array::AsArray;
use arrow::datatypes::UInt32Type;
use chrono::{DateTime, Utc};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use veto_core::rules::{may_apply_after, objection_applies};
use veto_core::{Objection, Platform};

use crate::manifest::{Heldout, VersionInfo};
use crate::train::{
    Run, heldout_summary, heldout_tokens, model_heldout, read_eval, read_snapshot_manifest, train_shards,
};
use crate::trainer::ShardTrainer;
use crate::{ModelManifest, ModelsError, io};

/// The data of one person to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    pub person_id: String,
    /// (doc_id, shard) of each item to remove.
    pub docs: Vec<(String, u32)>,
}

/// The persons whose included data an objection can now reach, with all
/// their objections: those with an objection that may apply after the
/// snapshot's as-of time ([`may_apply_after`], the one rule). Everyone else
/// was judged by the build with every objection they have, so unlearning
/// never reads their rows.
///
/// `unseen` holds the objections recorded after the build read the
/// objections (an import with an old filing time): the build did not judge
/// by them, whatever their time. `None`: the build's view is not on record
/// (snapshots from before it was kept), so every objector is a candidate.
pub fn candidates(
    objections: &[Objection],
    as_of: DateTime<Utc>,
    unseen: Option<&BTreeSet<String>>,
) -> BTreeMap<String, Vec<Objection>> {
    let late: BTreeSet<&str> = objections
        .iter()
        .filter(|o| unseen.is_none_or(|u| u.contains(&o.objection_id)) || may_apply_after(o, as_of))
        .map(|o| o.person_id.as_str())
        .collect();
    let mut by_person: BTreeMap<String, Vec<Objection>> = BTreeMap::new();
    for o in objections.iter().filter(|o| late.contains(o.person_id.as_str())) {
        by_person.entry(o.person_id.clone()).or_default().push(o.clone());
    }
    by_person
}

/// Finds, in the snapshot's index, every item of a candidate still in the
/// model whose author has an objection in force at `now` that covers the
/// item's platform (rule 7 of veto-core, applied at `now`). `shards` names
/// the shards that hold the candidates (from the lookup pages): only the
/// index row groups of those shards are read, so the cost follows the
/// affected shards, not the snapshot; items in other shards are not
/// returned. `None` reads every row group.
pub fn plan(
    snapshot_dir: &Path,
    candidates: &BTreeMap<String, Vec<Objection>>,
    shards: Option<&BTreeSet<u32>>,
    now: DateTime<Utc>,
    already_removed: &BTreeSet<String>,
) -> Result<Vec<Removal>, ModelsError> {
    if candidates.is_empty() || shards.is_some_and(|s| s.is_empty()) {
        return Ok(Vec::new());
    }
    let path = snapshot_dir.join("index.parquet");
    let file = std::fs::File::open(&path).map_err(io(&path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let groups = match shards {
        Some(s) => veto_snapshot::index::index_row_groups(builder.metadata(), s),
        None => (0..builder.metadata().num_row_groups()).collect(),
    };
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["person_id", "doc_id", "shard", "platform"]);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(groups)
        .with_batch_size(65_536)
        .build()?;
    // Hashed: every index row of the read groups is looked up here.
    let by_person: rustc_hash::FxHashMap<&str, &Vec<Objection>> =
        candidates.iter().map(|(p, o)| (p.as_str(), o)).collect();
    let mut found: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
    for batch in reader {
        let batch = batch?;
        let col = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| ModelsError::Format {
                path: path.clone(),
                message: format!("no column {name}"),
            })
        };
        let (persons, docs, platforms) = (
            col("person_id")?.as_string::<i32>(),
            col("doc_id")?.as_string::<i32>(),
            col("platform")?.as_string::<i32>(),
        );
        let shard_col = col("shard")?.as_primitive::<UInt32Type>();
        for i in 0..batch.num_rows() {
            let Some(objs) = by_person.get(persons.value(i)) else {
                continue;
            };
            if shards.is_some_and(|s| !s.contains(&shard_col.value(i))) {
                continue;
            }
            let platform = Platform::from_str(platforms.value(i)).map_err(|m| ModelsError::Format {
                path: path.clone(),
                message: m,
            })?;
            if objection_applies(objs, platform, now) && !already_removed.contains(docs.value(i)) {
                found
                    .entry(persons.value(i).to_string())
                    .or_default()
                    .push((docs.value(i).to_string(), shard_col.value(i)));
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|(person_id, docs)| Removal { person_id, docs })
        .collect())
}

/// A retraining of the affected shards: the retrained shards' files are
/// written to `staging`, which the caller renames to `<model_dir>/v<version>`.
pub struct Apply<'a> {
    pub model_dir: &'a Path,
    /// Where the new version's files go (renamed to `v<N>` by the caller).
    pub staging: &'a Path,
    pub snapshot_dir: &'a Path,
    pub current: &'a ModelManifest,
    pub trainer: &'a ShardTrainer,
    pub threads: usize,
    /// RFC 3339 time of the new version.
    pub at: &'a str,
    /// The ledger position the plan's objections were read at.
    pub objections_seq: Option<u64>,
}

/// Applies removals: a new model version in which only the shards that held
/// removed docs are retrained, through the model's own trainer. `person_refs`
/// name the removed persons in the manifest (never their ids). The new
/// manifest is returned, not written: `model.json` follows the store's
/// record of the version.
pub fn apply(job: &Apply<'_>, removals: &[Removal], person_refs: Vec<String>) -> Result<ModelManifest, ModelsError> {
    if removals.is_empty() {
        return Err(ModelsError::Refused("nothing to unlearn".into()));
    }
    let current = job.current;
    let (snapshot, _) = read_snapshot_manifest(job.snapshot_dir)?;
    let mut removed: BTreeSet<String> = current.removed_doc_ids.iter().cloned().collect();
    let mut affected = BTreeSet::new();
    for r in removals {
        for (doc, shard) in &r.docs {
            removed.insert(doc.clone());
            affected.insert(*shard);
        }
    }
    let version = current.version + 1;
    let heldout = model_heldout(job.model_dir, job.snapshot_dir, current)?;
    let tokens = match job.trainer {
        ShardTrainer::Builtin(_) => heldout_tokens(&heldout, current.order.saturating_sub(1)),
        ShardTrainer::Exec(_) => Vec::new(),
    };
    let affected: Vec<u32> = affected.into_iter().collect();
    let version_dir = format!("v{version}");
    let run = Run {
        snapshot_dir: job.snapshot_dir,
        manifest: &snapshot,
        removed: &removed,
        trainer: job.trainer,
        heldout: &heldout,
        eval_tokens: &tokens,
        out_dir: job.staging,
        version_dir: &version_dir,
        threads: job.threads,
    };
    let retrained = train_shards(&run, &affected)?;
    let mut shards = current.shards.clone();
    let mut vectors = Vec::with_capacity(shards.len());
    for s in shards.iter_mut() {
        match retrained.iter().find(|(r, _)| r.shard == s.shard) {
            Some((r, v)) => {
                *s = r.clone();
                vectors.push(v.clone());
            }
            None if matches!(job.trainer, ShardTrainer::Builtin(_)) => {
                vectors.push(Some(read_eval(&job.model_dir.join(s.file.replace(".kn", ".eval")))?))
            }
            None => vectors.push(None),
        }
    }
    let hashes: Vec<String> = shards.iter().map(|s| s.model_sha256.clone()).collect();
    let mut versions = current.versions.clone();
    versions.push(VersionInfo {
        version,
        at: job.at.to_string(),
        retrained_shards: affected,
        removed_person_refs: person_refs,
        removed_items: removals.iter().map(|r| r.docs.len() as u64).collect(),
        removed_docs: removals.iter().map(|r| r.docs.len() as u64).sum(),
        objections_seq: job.objections_seq,
    });
    Ok(ModelManifest {
        version,
        model_sha256: crate::manifest::model_sha256(&current.trainer, &hashes),
        heldout: Heldout {
            set_sha256: current.heldout.set_sha256.clone(),
            ..heldout_summary(&heldout, &shards, &vectors)
        },
        shards,
        removed_doc_ids: removed.into_iter().collect(),
        versions,
        ..current.clone()
    })
}
