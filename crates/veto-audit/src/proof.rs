//! Proof bundles: what one snapshot holds of one person, in a form the
//! person can check offline against a ledger export.
//!
//! For each included item the bundle carries the exact training row (the
//! redacted text and its fields), its leaf hash, and the Merkle audit path to
//! its shard's root; the verifier recomputes the root and compares it with
//! the root recorded in the ledger. For each excluded item it carries the
//! doc_id the item would have had and the reason; given the shard files, the
//! verifier checks that no shard contains that doc_id.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::UInt32Type;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use veto_core::canonical::strict::{self, StrictError};
use veto_core::hashing::{LeafData, audit_path, doc_id, leaf_hash, person_ref, root_from_path};
use veto_core::ledger::Entry;

use crate::{AuditError, read_columns, read_manifest};

pub const PROOF_FORMAT: &str = "veto-proof/1";

/// One training row exactly as it is in the shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub doc_id: String,
    pub text: Option<String>,
    pub platform: String,
    pub kind: String,
    pub lang: Option<String>,
    pub media_sha256: Option<String>,
}

impl Row {
    fn leaf_hash(&self) -> [u8; 32] {
        let mut buf = Vec::new();
        LeafData {
            doc_id: &self.doc_id,
            text: self.text.as_deref(),
            platform: &self.platform,
            kind: &self.kind,
            lang: self.lang.as_deref(),
            media_sha256: self.media_sha256.as_deref(),
        }
        .canonical_bytes(&mut buf);
        leaf_hash(&buf)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludedItem {
    pub item_id: String,
    pub row: Row,
    pub leaf_index: u64,
    pub leaf_hash: String,
    /// Sibling hashes from the leaf up (RFC 9162).
    pub path: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludedItem {
    pub item_id: String,
    pub doc_id: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofBundle {
    pub format: String,
    pub snapshot_id: String,
    pub manifest_sha256: String,
    pub person_ref: String,
    pub shard: Option<u32>,
    pub tree_size: Option<u64>,
    pub merkle_root: Option<String>,
    pub included: Vec<IncludedItem>,
    pub excluded: Vec<ExcludedItem>,
}

impl ProofBundle {
    /// Parses a bundle strictly: duplicate keys, unknown fields and values
    /// that do not read back as written are refused, so the bundle checked
    /// is the bundle shown.
    pub fn from_json(text: &str) -> Result<ProofBundle, StrictError> {
        strict::from_str(text).map(|(bundle, _)| bundle)
    }
}

/// The index's `leaf_hash` column: 32 raw bytes per row (snapshot format
/// 2), or 64 hex digits (format 1, still read).
enum LeafHashes<'a> {
    Binary(&'a datafusion::arrow::array::FixedSizeBinaryArray),
    Hex(&'a datafusion::arrow::array::StringArray),
}

impl<'a> LeafHashes<'a> {
    fn of(column: &'a datafusion::arrow::array::ArrayRef) -> Option<LeafHashes<'a>> {
        use datafusion::arrow::array::AsArray;
        match column.data_type() {
            datafusion::arrow::datatypes::DataType::FixedSizeBinary(32) => {
                Some(LeafHashes::Binary(column.as_fixed_size_binary()))
            }
            datafusion::arrow::datatypes::DataType::Utf8 => Some(LeafHashes::Hex(column.as_string::<i32>())),
            _ => None,
        }
    }

    fn get(&self, i: usize) -> Option<[u8; 32]> {
        match self {
            LeafHashes::Binary(a) => a.value(i).try_into().ok(),
            LeafHashes::Hex(a) => hex::decode(a.value(i)).ok()?.try_into().ok(),
        }
    }
}

/// Builds the proof bundle of `person_id` for the snapshot in `dir`.
pub fn prove(dir: &Path, person_id: &str, secret: &[u8]) -> Result<ProofBundle, AuditError> {
    let (manifest, manifest_bytes) = read_manifest(dir)?;
    // Pass 1 over the index: the person's rows and their positions. The
    // index is in shard file order, so a row's position in its shard is the
    // count of earlier index rows of that shard.
    let mut positions: BTreeMap<u32, u64> = BTreeMap::new();
    let mut found: Vec<(String, u32, u64)> = Vec::new();
    let index = dir.join("index.parquet");
    read_columns(&index, &["item_id", "person_id", "shard"], |b| {
        let (items, persons, shards) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
            b.column(2).as_primitive::<UInt32Type>(),
        );
        for i in 0..b.num_rows() {
            let pos = positions.entry(shards.value(i)).or_default();
            if persons.value(i) == person_id {
                found.push((items.value(i).to_string(), shards.value(i), *pos));
            }
            *pos += 1;
        }
        Ok(())
    })?;
    let shard = found.first().map(|f| f.1);
    let mut included = Vec::new();
    let (mut tree_size, mut merkle_root) = (None, None);
    if let Some(shard) = shard {
        // Pass 2: every leaf of that shard, and the person's rows from the shard file.
        let mut leaves = Vec::new();
        read_columns(&index, &["shard", "leaf_hash"], |b| {
            let shards = b.column(0).as_primitive::<UInt32Type>();
            let hashes = LeafHashes::of(b.column(1)).ok_or_else(|| AuditError::Format {
                path: index.clone(),
                message: format!("leaf_hash is {}, not 32-byte binary", b.column(1).data_type()),
            })?;
            for i in 0..b.num_rows() {
                if shards.value(i) == shard {
                    let h = hashes.get(i).ok_or_else(|| AuditError::Format {
                        path: index.clone(),
                        message: format!("bad leaf_hash in row {i} of a batch"),
                    })?;
                    leaves.push(h);
                }
            }
            Ok(())
        })?;
        let info = manifest
            .shards
            .iter()
            .find(|s| s.shard == shard)
            .ok_or_else(|| AuditError::Format {
                path: dir.join("manifest.json"),
                message: format!("shard {shard} is not in the manifest"),
            })?;
        let wanted: BTreeMap<u64, String> = found.iter().map(|(item, _, pos)| (*pos, item.clone())).collect();
        let rows = read_rows(&dir.join(&info.file), &wanted.keys().copied().collect())?;
        for (pos, item_id) in wanted {
            let row = rows.get(&pos).cloned().ok_or_else(|| AuditError::Format {
                path: dir.join(&info.file),
                message: format!("row {pos} is missing"),
            })?;
            included.push(IncludedItem {
                item_id,
                leaf_hash: hex::encode(leaves[pos as usize]),
                path: audit_path(&leaves, pos as usize).iter().map(hex::encode).collect(),
                leaf_index: pos,
                row,
            });
        }
        tree_size = Some(leaves.len() as u64);
        merkle_root = Some(hex::encode(veto_core::hashing::merkle_root(&leaves)));
    }
    let mut excluded = Vec::new();
    read_columns(
        &dir.join("exclusions.parquet"),
        &["item_id", "person_id", "reason"],
        |b| {
            let (items, persons, reasons) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
                b.column(2).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                if persons.value(i) == person_id {
                    excluded.push(ExcludedItem {
                        item_id: items.value(i).to_string(),
                        doc_id: doc_id(secret, items.value(i)),
                        reason: reasons.value(i).to_string(),
                    });
                }
            }
            Ok(())
        },
    )?;
    Ok(ProofBundle {
        format: PROOF_FORMAT.into(),
        snapshot_id: manifest.snapshot_id,
        manifest_sha256: hex::encode(Sha256::digest(&manifest_bytes)),
        person_ref: person_ref(secret, person_id),
        shard,
        tree_size,
        merkle_root,
        included,
        excluded,
    })
}

/// The rows at `positions` of a shard file.
fn read_rows(path: &Path, positions: &HashSet<u64>) -> Result<BTreeMap<u64, Row>, AuditError> {
    let mut out = BTreeMap::new();
    let mut pos = 0u64;
    read_columns(
        path,
        &["doc_id", "text", "platform", "kind", "lang", "media_sha256"],
        |b| {
            let col = |i: usize| b.column(i).as_string::<i32>();
            let opt = |i: usize, r: usize| col(i).is_valid(r).then(|| col(i).value(r).to_string());
            for r in 0..b.num_rows() {
                if positions.contains(&pos) {
                    out.insert(
                        pos,
                        Row {
                            doc_id: col(0).value(r).to_string(),
                            text: opt(1, r),
                            platform: col(2).value(r).to_string(),
                            kind: col(3).value(r).to_string(),
                            lang: opt(4, r),
                            media_sha256: opt(5, r),
                        },
                    );
                }
                pos += 1;
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// The outcome of checking a bundle.
#[derive(Debug, Default)]
pub struct ProofCheck {
    pub included_verified: usize,
    /// Excluded doc_ids checked absent from every shard (None: no shards given).
    pub absence_verified: Option<usize>,
    pub failures: Vec<String>,
}

impl ProofCheck {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Checks a bundle against the (already verified) ledger entries and, if
/// given, the snapshot's shard files.
pub fn verify(bundle: &ProofBundle, entries: &[Entry], snapshot: Option<&Path>) -> Result<ProofCheck, AuditError> {
    let mut check = ProofCheck {
        failures: consistency(bundle),
        ..Default::default()
    };
    let Some(entry) = crate::ledger_file::snapshot_entry(entries, &bundle.snapshot_id) else {
        check
            .failures
            .push(format!("the ledger records no snapshot {}", bundle.snapshot_id));
        return Ok(check);
    };
    if entry.payload["manifest_sha256"] != bundle.manifest_sha256 {
        check
            .failures
            .push("the bundle's manifest hash differs from the ledger's".into());
    }
    let shards = entry.payload["shards"].as_array().cloned().unwrap_or_default();
    let shard_entry = |s: u32| shards.iter().find(|x| x["shard"] == s);
    let recorded = bundle.shard.and_then(shard_entry);
    check.failures.extend(tree_claims(bundle, recorded));
    for item in &bundle.included {
        match check_included(item, recorded) {
            Ok(()) => check.included_verified += 1,
            Err(m) => check.failures.push(format!("item {}: {m}", item.item_id)),
        }
    }
    if let Some(dir) = snapshot {
        check_absence(bundle, dir, &shard_entry, &mut check)?;
    }
    Ok(check)
}

/// What a bundle must hold on its own, whatever the ledger says: the
/// format this verifier reads, each item once, and a shard tree exactly
/// when it proves included items (a reader shown a bundle must not be able
/// to count one item twice or see a root nothing leads to).
fn consistency(bundle: &ProofBundle) -> Vec<String> {
    let mut failures = Vec::new();
    if bundle.format != PROOF_FORMAT {
        failures.push(format!(
            "the bundle's format is {:?}, not {PROOF_FORMAT}",
            bundle.format
        ));
    }
    let mut seen = HashSet::new();
    let mut positions = HashSet::new();
    for item in &bundle.included {
        if !seen.insert(item.item_id.as_str()) {
            failures.push(format!("item {} is in the bundle more than once", item.item_id));
        } else if !positions.insert(item.leaf_index) {
            failures.push(format!("leaf {} is claimed by more than one item", item.leaf_index));
        }
    }
    let mut doc_ids = HashSet::new();
    for item in &bundle.excluded {
        if !seen.insert(item.item_id.as_str()) || !doc_ids.insert(item.doc_id.as_str()) {
            failures.push(format!(
                "excluded item {} is in the bundle more than once",
                item.item_id
            ));
        }
    }
    let tree = [
        bundle.shard.is_some(),
        bundle.tree_size.is_some(),
        bundle.merkle_root.is_some(),
    ];
    if bundle.included.is_empty() && tree.iter().any(|t| *t) {
        failures.push("the bundle names a shard tree but proves no item in it".into());
    } else if !bundle.included.is_empty() && !tree.iter().all(|t| *t) {
        failures.push("the bundle proves items but names no shard, tree size or root".into());
    }
    failures
}

/// The bundle's top-level shard, tree size and root are the ledger's.
fn tree_claims(bundle: &ProofBundle, recorded: Option<&serde_json::Value>) -> Vec<String> {
    let (Some(shard), Some(recorded)) = (bundle.shard, recorded) else {
        return match bundle.shard {
            Some(shard) => vec![format!("shard {shard} is not in the ledger's entry for this snapshot")],
            None => Vec::new(),
        };
    };
    let mut failures = Vec::new();
    if let Some(size) = bundle.tree_size
        && recorded["rows"].as_u64() != Some(size)
    {
        failures.push(format!(
            "the bundle's tree_size {size} differs from the {} rows the ledger records for shard {shard}",
            recorded["rows"]
        ));
    }
    if let Some(root) = &bundle.merkle_root
        && recorded["merkle_root"].as_str() != Some(root.as_str())
    {
        failures.push(format!(
            "the bundle's merkle_root differs from the root the ledger records for shard {shard}"
        ));
    }
    failures
}

/// One included item: its row hashes to its leaf, and its path leads from
/// there to the shard root the ledger recorded.
fn check_included(item: &IncludedItem, recorded: Option<&serde_json::Value>) -> Result<(), &'static str> {
    let s = recorded.ok_or("its shard is not in the ledger")?;
    let computed = item.row.leaf_hash();
    if hex::encode(computed) != item.leaf_hash {
        return Err("the row does not hash to its leaf hash");
    }
    let path: Option<Vec<[u8; 32]>> = item
        .path
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|v| v.try_into().ok()))
        .collect();
    let size = s["rows"].as_u64().unwrap_or(0);
    let root = path.and_then(|p| root_from_path(computed, item.leaf_index, size, &p));
    if root.map(hex::encode).as_deref() == s["merkle_root"].as_str() {
        Ok(())
    } else {
        Err("the Merkle path does not lead to the shard root in the ledger")
    }
}

/// Given the shard files (each must be the file the ledger recorded), no
/// shard holds an excluded doc_id.
fn check_absence<'a>(
    bundle: &ProofBundle,
    dir: &Path,
    shard_entry: &dyn Fn(u32) -> Option<&'a serde_json::Value>,
    check: &mut ProofCheck,
) -> Result<(), AuditError> {
    let excluded: HashSet<&str> = bundle.excluded.iter().map(|e| e.doc_id.as_str()).collect();
    let (manifest, _) = read_manifest(dir)?;
    for s in &manifest.shards {
        let path = dir.join(&s.file);
        let (sha, _) = veto_snapshot::sha256_file(&path).map_err(|e| AuditError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let recorded = shard_entry(s.shard).and_then(|x| x["sha256"].as_str().map(str::to_string));
        if recorded.as_deref() != Some(sha.as_str()) {
            check
                .failures
                .push(format!("{} is not the shard file recorded in the ledger", s.file));
            continue;
        }
        read_columns(&path, &["doc_id"], |b| {
            let ids = b.column(0).as_string::<i32>();
            for i in 0..b.num_rows() {
                if excluded.contains(ids.value(i)) {
                    check
                        .failures
                        .push(format!("excluded doc_id {} is in {}", ids.value(i), s.file));
                }
            }
            Ok(())
        })?;
    }
    check.absence_verified = Some(excluded.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, FixedSizeBinaryArray, StringArray, UInt32Array};
    use std::sync::Arc;

    #[test]
    fn leaf_hashes_read_as_raw_bytes_and_as_the_hex_of_format_1() {
        let leaf = veto_core::hashing::leaf_hash(b"row");
        let binary: ArrayRef = Arc::new(FixedSizeBinaryArray::try_from_iter([leaf].into_iter()).unwrap());
        let hex: ArrayRef = Arc::new(StringArray::from(vec![hex::encode(leaf)]));
        assert_eq!(LeafHashes::of(&binary).unwrap().get(0), Some(leaf));
        assert_eq!(LeafHashes::of(&hex).unwrap().get(0), Some(leaf));
        // Anything else is refused, not guessed at.
        let bad_hex: ArrayRef = Arc::new(StringArray::from(vec!["not hex"]));
        assert_eq!(LeafHashes::of(&bad_hex).unwrap().get(0), None);
        let other: ArrayRef = Arc::new(UInt32Array::from(vec![1]));
        assert!(LeafHashes::of(&other).is_none());
    }
}
