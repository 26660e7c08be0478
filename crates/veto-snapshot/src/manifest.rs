//! `manifest.json`: what a snapshot contains and how to check it. It holds no
//! wall-clock time, so the same inputs give the same manifest byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use veto_core::mentions::MentionCounts;
use veto_core::redact::RedactionCounts;

/// The format tag of snapshots this version writes.
pub const SNAPSHOT_FORMAT: &str = "veto-snapshot/2";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub snapshot_id: String,
    /// RFC 3339, UTC.
    pub as_of: String,
    pub policy: PolicyRef,
    pub inputs: Vec<FileInfo>,
    pub objections_on_file: u64,
    pub persons: Counts,
    pub items: ItemCounts,
    /// Excluded items by reason; every reason is listed, zeros included.
    pub excluded_by_reason: BTreeMap<String, u64>,
    pub included_by_kind: BTreeMap<String, u64>,
    pub included_by_platform: BTreeMap<String, u64>,
    pub included_by_audience: BTreeMap<String, u64>,
    /// By the items' `lang`; `unknown` where it is null.
    pub included_by_lang: BTreeMap<String, u64>,
    /// UTF-8 bytes of (redacted) text in the shards.
    pub included_text_bytes: u64,
    /// The newest `created_at` among included items (RFC 3339, UTC).
    pub latest_item_created_at: Option<String>,
    pub redactions: RedactionCounts,
    /// Mentions of objectors (names, handles, emails, phones) replaced in
    /// other people's text. Absent in snapshots made before veto counted them.
    #[serde(default)]
    pub objector_mentions: MentionCounts,
    pub shard_count: u32,
    pub shards: Vec<ShardInfo>,
    pub index: FileInfo,
    pub exclusions: FileInfo,
    pub rejected: Option<FileInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Path relative to the snapshot directory (or the input file's name).
    pub file: String,
    pub rows: Option<u64>,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub read: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemCounts {
    pub read: u64,
    pub rejected: u64,
    pub included: u64,
    pub excluded: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub shard: u32,
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// RFC 6962 Merkle root over the shard's leaf hashes, in file order.
    pub merkle_root: String,
}
