//! Re-checking a snapshot directory: every file the manifest names
//! (shards, policy.toml, index, exclusions, rejected rows) re-hashed, every
//! Merkle root recomputed from the rows, and both compared with the manifest
//! and, when a ledger is given, with what the ledger recorded.

use std::path::{Component, Path};

use datafusion::arrow::array::{Array, AsArray};
use sha2::{Digest, Sha256};
use veto_core::hashing::{LeafData, leaf_hash, merkle_root};
use veto_core::ledger::Entry;
use veto_snapshot::manifest::ShardInfo;

use crate::{AuditError, read_columns, read_manifest};

/// What was checked and what did not match.
#[derive(Debug, Default)]
pub struct SnapshotCheck {
    pub snapshot_id: String,
    pub shards_checked: usize,
    pub rows_checked: u64,
    /// Files re-hashed against the manifest (shards included).
    pub files_checked: usize,
    pub ledger_checked: bool,
    pub failures: Vec<String>,
}

impl SnapshotCheck {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Verifies `dir` against its manifest and, if `ledger` is given, against
/// the ledger's `snapshot_built` entry.
pub fn verify(dir: &Path, ledger: Option<&[Entry]>) -> Result<SnapshotCheck, AuditError> {
    let (manifest, manifest_bytes) = read_manifest(dir)?;
    let mut check = SnapshotCheck {
        snapshot_id: manifest.snapshot_id.clone(),
        ..Default::default()
    };
    let entry = ledger.map(|entries| crate::ledger_file::snapshot_entry(entries, &manifest.snapshot_id));
    if let Some(entry) = entry {
        check.ledger_checked = true;
        match entry {
            None => check
                .failures
                .push(format!("the ledger records no snapshot {}", manifest.snapshot_id)),
            Some(e) if e.payload["manifest_sha256"] != hex::encode(Sha256::digest(&manifest_bytes)) => check
                .failures
                .push("manifest.json differs from the manifest recorded in the ledger".into()),
            Some(_) => {}
        }
    }
    // policy.toml decides what a retrain or an unlearning applies; the
    // manifest records the hash of its text, not its size.
    check.rehash(dir, "policy.toml", &manifest.policy.sha256, None);
    let others = [
        Some(&manifest.index),
        Some(&manifest.exclusions),
        manifest.rejected.as_ref(),
    ];
    for info in others.into_iter().flatten() {
        check.rehash(dir, &info.file, &info.sha256, Some(info.bytes));
    }
    for s in &manifest.shards {
        if !check.rehash(dir, &s.file, &s.sha256, Some(s.bytes)) {
            // The rows of other bytes prove nothing (and may not parse).
            continue;
        }
        let root = shard_root(&dir.join(&s.file), s, &mut check)?;
        if let Some(Some(e)) = entry {
            let recorded = e.payload["shards"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["shard"] == s.shard));
            if recorded.and_then(|x| x["merkle_root"].as_str()) != Some(root.as_str()) {
                check
                    .failures
                    .push(format!("{}: recomputed Merkle root differs from the ledger", s.file));
            }
        }
        check.shards_checked += 1;
    }
    Ok(check)
}

impl SnapshotCheck {
    /// Re-hashes `file` (relative to `dir`) against the manifest's SHA-256
    /// and, when it records one, size. Records a failure naming the file and
    /// returns false when it is missing, outside the snapshot or different.
    fn rehash(&mut self, dir: &Path, file: &str, sha256: &str, bytes: Option<u64>) -> bool {
        let relative = Path::new(file);
        if file.is_empty() || !relative.components().all(|c| matches!(c, Component::Normal(_))) {
            self.failures
                .push(format!("{file:?}: the manifest names a file outside the snapshot"));
            return false;
        }
        let path = dir.join(relative);
        if !path.is_file() {
            self.failures.push(format!("{file}: missing from the snapshot"));
            return false;
        }
        self.files_checked += 1;
        match veto_snapshot::sha256_file(&path) {
            Ok((sha, size)) if sha == sha256 && bytes.is_none_or(|b| b == size) => true,
            Ok(_) => {
                self.failures
                    .push(format!("{file}: SHA-256 or size differs from the manifest"));
                false
            }
            Err(e) => {
                self.failures.push(format!("{file}: cannot be read: {e}"));
                false
            }
        }
    }
}

/// Recomputes a shard's Merkle root from its rows and compares root and row
/// count with the manifest.
fn shard_root(path: &Path, s: &ShardInfo, check: &mut SnapshotCheck) -> Result<String, AuditError> {
    let mut leaves = Vec::new();
    let mut buf = Vec::new();
    read_columns(
        path,
        &["doc_id", "text", "platform", "kind", "lang", "media_sha256"],
        |b| {
            let col = |i: usize| b.column(i).as_string::<i32>();
            let opt = |i: usize, r: usize| col(i).is_valid(r).then(|| col(i).value(r));
            for r in 0..b.num_rows() {
                LeafData {
                    doc_id: col(0).value(r),
                    text: opt(1, r),
                    platform: col(2).value(r),
                    kind: col(3).value(r),
                    lang: opt(4, r),
                    media_sha256: opt(5, r),
                }
                .canonical_bytes(&mut buf);
                leaves.push(leaf_hash(&buf));
            }
            Ok(())
        },
    )?;
    let root = hex::encode(merkle_root(&leaves));
    if root != s.merkle_root || leaves.len() as u64 != s.rows {
        check.failures.push(format!(
            "{}: recomputed Merkle root or row count differs from the manifest",
            s.file
        ));
    }
    check.rows_checked += leaves.len() as u64;
    Ok(root)
}
