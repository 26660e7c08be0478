//! What each person contributed to a model version: their items and tokens
//! in the training sets, counted from the sets themselves (never estimated),
//! so the total is the model's training-set size.

use std::collections::BTreeSet;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt32Type;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rustc_hash::FxHashMap;

use crate::data::is_heldout;
use crate::train::read_snapshot_manifest;
use crate::{ModelManifest, ModelsError, io};

/// One person's share of a model version's training sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contribution {
    pub person_id: String,
    /// Rows in the training sets (with or without text).
    pub items: u64,
    /// Tokens of their texts as the model counts them (bytes of the text
    /// plus one end-of-text token); rows without text have none.
    pub tokens: u64,
}

/// Every contributing person of the model's current version, by person id,
/// and the total tokens (equal to the sum of the shards' `tokens`).
pub fn compute(snapshot_dir: &Path, model: &ModelManifest) -> Result<(Vec<Contribution>, u64), ModelsError> {
    let (snapshot, _) = read_snapshot_manifest(snapshot_dir)?;
    let removed: BTreeSet<&str> = model.removed_doc_ids.iter().map(String::as_str).collect();
    let tokens_of = text_tokens(snapshot_dir, &snapshot, &removed)?;
    let path = snapshot_dir.join("index.parquet");
    let file = std::fs::File::open(&path).map_err(io(&path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["person_id", "doc_id", "shard"]);
    let reader = builder.with_projection(mask).with_batch_size(65_536).build()?;
    let mut by_person: FxHashMap<String, (u64, u64)> = FxHashMap::default();
    let mut total = 0u64;
    for batch in reader {
        let batch = batch?;
        let (persons, docs) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        let shards = batch.column(2).as_primitive::<UInt32Type>();
        for i in 0..batch.num_rows() {
            let doc = docs.value(i);
            if is_heldout(doc) || removed.contains(doc) {
                continue;
            }
            if !model.shards.iter().any(|s| s.shard == shards.value(i)) {
                continue;
            }
            let tokens = tokens_of.get(doc).copied().unwrap_or(0);
            let e = by_person.entry(persons.value(i).to_string()).or_default();
            e.0 += 1;
            e.1 += tokens;
            total += tokens;
        }
    }
    let mut out: Vec<Contribution> = by_person
        .into_iter()
        .map(|(person_id, (items, tokens))| Contribution {
            person_id,
            items,
            tokens,
        })
        .collect();
    out.sort_by(|a, b| a.person_id.cmp(&b.person_id));
    Ok((out, total))
}

/// Tokens per doc id of the texts in the training sets.
fn text_tokens(
    snapshot_dir: &Path,
    snapshot: &veto_snapshot::Manifest,
    removed: &BTreeSet<&str>,
) -> Result<FxHashMap<String, u64>, ModelsError> {
    let mut out = FxHashMap::default();
    for shard in &snapshot.shards {
        let path = snapshot_dir.join(&shard.file);
        let file = std::fs::File::open(&path).map_err(io(&path))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), ["doc_id", "text"]);
        for batch in builder.with_projection(mask).with_batch_size(65_536).build()? {
            let batch = batch?;
            let (ids, texts) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
            for i in 0..batch.num_rows() {
                let id = ids.value(i);
                if texts.is_valid(i) && !is_heldout(id) && !removed.contains(id) {
                    out.insert(id.to_string(), texts.value(i).len() as u64 + 1);
                }
            }
        }
    }
    Ok(out)
}
