//! `model.json`: what a model directory holds, version by version.

use serde::{Deserialize, Serialize};

pub const MODEL_FORMAT: &str = "veto-model/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    pub format: String,
    pub model_id: String,
    pub snapshot_id: String,
    /// The trainer's name, e.g. `kneser-ney-bytes/order-5` or
    /// `exec:charlm.py --epochs 2`.
    pub trainer: String,
    /// The program of an exec trainer, which unlearning runs again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer_exec: Option<crate::trainer::ExecSpec>,
    pub order: usize,
    /// 1 after training; +1 with every unlearning.
    pub version: u32,
    /// SHA-256 over the trainer name and the shard model hashes in order: a
    /// pure function of the training data, equal for equal data.
    pub model_sha256: String,
    pub shards: Vec<ShardModel>,
    pub heldout: Heldout,
    /// Doc ids removed by unlearning so far (sorted).
    pub removed_doc_ids: Vec<String>,
    pub versions: Vec<VersionInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardModel {
    pub shard: u32,
    /// Relative to the model directory.
    pub file: String,
    pub model_sha256: String,
    pub docs: u64,
    pub tokens: u64,
    /// Merkle root (hex) over the leaves of the rows this shard model was
    /// trained on ([`crate::data::TrainingSet`]); absent in models trained
    /// before veto kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_set_root: Option<String>,
    /// Rows of the training set (with and without text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_set_rows: Option<u64>,
    /// The files the trainer wrote, relative to the model directory, with
    /// their SHA-256 (for the built-in trainer: the one `.kn` file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
    /// Mean negative log-likelihood per token (nats) of this shard's model
    /// on the held-out set, as the trainer reported it (exec trainers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout_loss: Option<f64>,
}

/// One file a trainer wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heldout {
    pub docs: u64,
    pub tokens: u64,
    /// Per-token (byte) perplexity of the ensemble on the held-out slice.
    pub perplexity: f64,
    /// SHA-256 of `heldout.json`, the evaluation set kept in the model
    /// directory so that unlearning need not re-read every shard (absent in
    /// models trained before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_sha256: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: u32,
    /// RFC 3339.
    pub at: String,
    /// Shards retrained for this version (all of them for version 1).
    pub retrained_shards: Vec<u32>,
    /// Person refs whose data this version removed.
    pub removed_person_refs: Vec<String>,
    /// Items removed per person, in the order of `removed_person_refs`
    /// (absent in versions made before veto kept it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_items: Vec<u64>,
    pub removed_docs: u64,
    /// The ledger position up to which this unlearning judged the
    /// objections, at `at`: a person whose objections were all recorded by
    /// then and filed by `at` has nothing more to unlearn from this model,
    /// so the next unlearning looks only at the others. Absent in version 1
    /// (the build judged the objections at the as-of time only, not at
    /// later times) and in versions made before veto kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objections_seq: Option<u64>,
}

/// The model hash over shard hashes.
pub fn model_sha256(trainer: &str, shard_hashes: &[String]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(trainer.as_bytes());
    for s in shard_hashes {
        h.update(b"\n");
        h.update(s.as_bytes());
    }
    hex::encode(h.finalize())
}

impl ModelManifest {
    /// Items of the person with `person_ref` removed by unlearning so far.
    pub fn items_removed_of(&self, person_ref: &str) -> u64 {
        self.versions
            .iter()
            .flat_map(|v| v.removed_person_refs.iter().zip(&v.removed_items))
            .filter(|(r, _)| r.as_str() == person_ref)
            .map(|(_, n)| n)
            .sum()
    }
}
