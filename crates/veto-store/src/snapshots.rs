//! Snapshots as the store records them: the record, written in one
//! transaction with its lookup pages and ledger entry, and read back.

use chrono::Utc;
use sqlx::Row;
use veto_core::time::{from_micros, to_micros};

use crate::{Store, StoreError, ledger, lookup, operations, reviews};

/// A snapshot as recorded in the store.
#[derive(Debug, Clone)]
pub struct SnapshotRecord {
    pub snapshot_id: String,
    pub as_of: chrono::DateTime<Utc>,
    pub policy_name: String,
    pub policy_sha256: String,
    pub path: String,
    pub built_at: chrono::DateTime<Utc>,
    /// The manifest.json text as written.
    pub manifest: String,
    /// The build considered every objection whose ledger entry has a
    /// sequence number up to this one (None for snapshots recorded before
    /// veto kept it).
    pub objections_seq: Option<u64>,
}

impl Store {
    /// Records a completed snapshot, its whole per-person lookup (pages
    /// from [`lookup::page::pack`]) and its ledger entry in one transaction,
    /// and moves `op` (the build) to its commit point in the same one: a
    /// reader sees the snapshot listed only with its lookup. Recording an id
    /// already on file changes nothing and returns false.
    pub async fn record_snapshot(
        &self,
        s: &SnapshotRecord,
        pages: &[lookup::Page],
        objectors: &reviews::ObjectorRecord,
        op: Option<&mut operations::Operation>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "INSERT INTO snapshots (snapshot_id, as_of_us, policy_name, policy_sha256, path, status, built_at_us,
                                    manifest, lookup_ready, objections_seq)
             VALUES ($1, $2, $3, $4, $5, 'complete', $6, $7, TRUE, $8) ON CONFLICT (snapshot_id) DO NOTHING",
        )
        .bind(&s.snapshot_id)
        .bind(to_micros(s.as_of))
        .bind(&s.policy_name)
        .bind(&s.policy_sha256)
        .bind(&s.path)
        .bind(to_micros(s.built_at))
        .bind(&s.manifest)
        .bind(s.objections_seq.map(|q| q as i64))
        .execute(&mut *tx)
        .await?;
        let new = done.rows_affected() == 1;
        if new {
            lookup::insert_pages(&mut tx, &s.snapshot_id, pages).await?;
            reviews::record_mentions(&mut tx, &s.snapshot_id, &objectors.mentions).await?;
            ledger::append_snapshot(&mut tx, s).await?;
            // After the snapshot's entry: the holds it decided.
            reviews::record(&mut tx, &s.snapshot_id, &objectors.screenings).await?;
            reviews::forget_clear(&mut tx, &objectors.rescreen).await?;
        }
        if let Some(op) = op.as_deref() {
            Store::operation_recorded(&mut tx, op, &[]).await?;
        }
        tx.commit().await?;
        if let Some(op) = op {
            Store::operation_committed(op, Vec::new());
        }
        Ok(new)
    }

    /// Snapshots on record, oldest build first.
    pub async fn snapshots(&self) -> Result<Vec<SnapshotRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots ORDER BY built_at_us, snapshot_id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(snapshot_from_row).collect()
    }

    /// One snapshot by id (or a unique id prefix).
    pub async fn snapshot(&self, id: &str) -> Result<SnapshotRecord, StoreError> {
        // A prefix compared as text, not LIKE: the id is user input.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE substr(snapshot_id, 1, length($1)) = $1"
        )))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        match rows.as_slice() {
            [row] => snapshot_from_row(row),
            _ => Err(StoreError::UnknownSnapshot(id.to_string())),
        }
    }
}

/// The snapshot columns a [`SnapshotRecord`] reads. Never `SELECT *`:
/// `sqlx::Any` on SQLite refuses the BOOLEAN `lookup_ready` in a result.
const SNAPSHOT_COLUMNS: &str =
    "snapshot_id, as_of_us, policy_name, policy_sha256, path, built_at_us, manifest, objections_seq";

fn snapshot_from_row(r: &sqlx::any::AnyRow) -> Result<SnapshotRecord, StoreError> {
    Ok(SnapshotRecord {
        snapshot_id: r.try_get("snapshot_id")?,
        as_of: from_micros(r.try_get("as_of_us")?),
        policy_name: r.try_get("policy_name")?,
        policy_sha256: r.try_get("policy_sha256")?,
        path: r.try_get("path")?,
        built_at: from_micros(r.try_get("built_at_us")?),
        manifest: r.try_get("manifest")?,
        objections_seq: r.try_get::<Option<i64>, _>("objections_seq")?.map(|q| q as u64),
    })
}
