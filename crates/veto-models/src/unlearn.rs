//! Exact unlearning (SISA): find the data of every person whose objection
//! now applies, and retrain only the shards that held it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::UInt32Type;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use veto_core::rules::objection_applies;
use veto_core::{Objection, Platform};
use veto_lm::Trainer;

use crate::manifest::VersionInfo;
use crate::train::{heldout_set, heldout_summary, heldout_tokens, read_eval, read_snapshot_manifest, train_shards};
use crate::{ModelManifest, ModelsError, io};

/// The data of one person to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    pub person_id: String,
    /// (doc_id, shard) of each item to remove.
    pub docs: Vec<(String, u32)>,
}

/// Finds, in the snapshot's index, every item still in the model whose
/// author has an objection in force at `now` that covers the item's
/// platform (rule 7 of veto-core, applied at `now`).
pub fn plan(
    snapshot_dir: &Path,
    objections: &[Objection],
    now: DateTime<Utc>,
    already_removed: &BTreeSet<String>,
) -> Result<Vec<Removal>, ModelsError> {
    let mut by_person: HashMap<&str, Vec<Objection>> = HashMap::new();
    for o in objections {
        by_person.entry(o.person_id.as_str()).or_default().push(o.clone());
    }
    let path = snapshot_dir.join("index.parquet");
    let file = std::fs::File::open(&path).map_err(io(&path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["person_id", "doc_id", "shard", "platform"]);
    let mut found: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
    for batch in builder.with_projection(mask).with_batch_size(65_536).build()? {
        let batch = batch?;
        let col = |name: &str| batch.column_by_name(name).expect("projected column");
        let (persons, docs, platforms) = (
            col("person_id").as_string::<i32>(),
            col("doc_id").as_string::<i32>(),
            col("platform").as_string::<i32>(),
        );
        let shards = col("shard").as_primitive::<UInt32Type>();
        for i in 0..batch.num_rows() {
            let Some(objs) = by_person.get(persons.value(i)) else {
                continue;
            };
            let platform = Platform::from_str(platforms.value(i)).map_err(|m| ModelsError::Format {
                path: path.clone(),
                message: m,
            })?;
            if objection_applies(objs, platform, now) && !already_removed.contains(docs.value(i)) {
                found
                    .entry(persons.value(i).to_string())
                    .or_default()
                    .push((docs.value(i).to_string(), shards.value(i)));
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|(person_id, docs)| Removal { person_id, docs })
        .collect())
}

/// Applies removals: a new model version in which only the shards that held
/// removed docs are retrained. `person_refs` name the removed persons in the
/// manifest (never their ids). The retrained shard files are written to
/// `staging`, which the caller renames to `<model_dir>/v<version>`; the new
/// manifest is returned, not written: `model.json` follows the store's
/// record of the version.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    model_dir: &Path,
    staging: &Path,
    snapshot_dir: &Path,
    current: &ModelManifest,
    removals: &[Removal],
    person_refs: Vec<String>,
    trainer: &dyn Trainer,
    threads: usize,
    at: &str,
) -> Result<ModelManifest, ModelsError> {
    if removals.is_empty() {
        return Err(ModelsError::Refused("nothing to unlearn".into()));
    }
    let (snapshot, _) = read_snapshot_manifest(snapshot_dir)?;
    let mut removed: BTreeSet<String> = current.removed_doc_ids.iter().cloned().collect();
    let mut affected = BTreeSet::new();
    for r in removals {
        for (doc, shard) in &r.docs {
            removed.insert(doc.clone());
            affected.insert(*shard);
        }
    }
    let version = current.version + 1;
    let heldout = heldout_set(snapshot_dir, &snapshot)?;
    let tokens = heldout_tokens(&heldout, current.order - 1);
    let affected: Vec<u32> = affected.into_iter().collect();
    let retrained = train_shards(
        snapshot_dir,
        &snapshot,
        &affected,
        &removed,
        trainer,
        &tokens,
        staging,
        &format!("v{version}"),
        threads,
    )?;
    let mut shards = current.shards.clone();
    let mut vectors = Vec::with_capacity(shards.len());
    for s in shards.iter_mut() {
        match retrained.iter().find(|(r, _)| r.shard == s.shard) {
            Some((r, v)) => {
                *s = r.clone();
                vectors.push(v.clone());
            }
            None => vectors.push(read_eval(&model_dir.join(s.file.replace(".kn", ".eval")))?),
        }
    }
    let hashes: Vec<String> = shards.iter().map(|s| s.model_sha256.clone()).collect();
    let mut versions = current.versions.clone();
    versions.push(VersionInfo {
        version,
        at: at.to_string(),
        retrained_shards: affected,
        removed_person_refs: person_refs,
        removed_docs: removals.iter().map(|r| r.docs.len() as u64).sum(),
    });
    let next = ModelManifest {
        version,
        model_sha256: crate::manifest::model_sha256(&current.trainer, &hashes),
        shards,
        heldout: heldout_summary(&heldout, &vectors),
        removed_doc_ids: removed.into_iter().collect(),
        versions,
        ..current.clone()
    };
    Ok(next)
}
