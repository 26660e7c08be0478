//! The per-person lookup: for every snapshot, whether a person's content is
//! in it, in which shard, how many items by kind, and why the rest is out.
//! Keyed by person_ref (a keyed hash), one indexed row per person and
//! snapshot, so a lookup is one index range scan however large the
//! snapshots are.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use veto_core::time::from_micros;

use crate::{Store, StoreError};

/// One person in one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonSnapshot {
    pub shard: Option<u32>,
    pub included_by_kind: BTreeMap<String, u64>,
    pub included_by_platform: BTreeMap<String, u64>,
    pub excluded_by_reason: BTreeMap<String, u64>,
}

impl PersonSnapshot {
    pub fn included(&self) -> u64 {
        self.included_by_kind.values().sum()
    }
    pub fn excluded(&self) -> u64 {
        self.excluded_by_reason.values().sum()
    }
}

/// A snapshot as seen by one person.
#[derive(Clone, Debug)]
pub struct LookupRow {
    pub snapshot_id: String,
    pub as_of: DateTime<Utc>,
    pub policy_name: String,
    pub built_at: DateTime<Utc>,
    /// False while the snapshot's lookup rows are still being written.
    pub lookup_ready: bool,
    /// None: the person has no item in this snapshot's export.
    pub person: Option<PersonSnapshot>,
}

/// Rows per INSERT statement (8 parameters each, well under SQLite's limit).
const ROWS_PER_STATEMENT: usize = 500;

fn to_json(map: &BTreeMap<String, u64>) -> String {
    serde_json::to_string(map).expect("map serialises")
}

fn from_json(text: &str) -> Result<BTreeMap<String, u64>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("snapshot_persons: {e}")))
}

impl Store {
    /// Adds lookup rows for a snapshot (one transaction per call; call
    /// repeatedly with chunks, then [`Store::finish_person_summaries`]).
    pub async fn record_person_summaries(
        &self,
        snapshot_id: &str,
        rows: &[(String, PersonSnapshot)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO snapshot_persons (person_ref, snapshot_id, shard, included, by_kind, excluded, by_reason, by_platform) VALUES ",
            );
            sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", "));
            sql.push_str(" ON CONFLICT (person_ref, snapshot_id) DO NOTHING");
            // Only placeholders are formatted in; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (person_ref, p) in chunk {
                q = q
                    .bind(person_ref)
                    .bind(snapshot_id)
                    .bind(p.shard.map(i64::from))
                    .bind(p.included() as i64)
                    .bind(to_json(&p.included_by_kind))
                    .bind(p.excluded() as i64)
                    .bind(to_json(&p.excluded_by_reason))
                    .bind(to_json(&p.included_by_platform));
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks a snapshot's lookup rows complete.
    pub async fn finish_person_summaries(&self, snapshot_id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE snapshots SET lookup_ready = TRUE WHERE snapshot_id = ?")
            .bind(snapshot_id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownSnapshot(snapshot_id.to_string()));
        }
        Ok(())
    }

    /// Every snapshot with what it holds of the person `person_ref`.
    pub async fn lookup(&self, person_ref: &str) -> Result<Vec<LookupRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.snapshot_id, s.as_of_us, s.policy_name, s.built_at_us, s.lookup_ready,
                    p.person_ref, p.shard, p.by_kind, p.by_reason, p.by_platform
             FROM snapshots s
             LEFT JOIN snapshot_persons p ON p.snapshot_id = s.snapshot_id AND p.person_ref = ?
             ORDER BY s.built_at_us, s.snapshot_id",
        )
        .bind(person_ref)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let person = match r.try_get::<Option<String>, _>("person_ref")? {
                    None => None,
                    Some(_) => Some(PersonSnapshot {
                        shard: r.try_get::<Option<i64>, _>("shard")?.map(|s| s as u32),
                        included_by_kind: from_json(&r.try_get::<String, _>("by_kind")?)?,
                        excluded_by_reason: from_json(&r.try_get::<String, _>("by_reason")?)?,
                        included_by_platform: from_json(&r.try_get::<String, _>("by_platform")?)?,
                    }),
                };
                Ok(LookupRow {
                    snapshot_id: r.try_get("snapshot_id")?,
                    as_of: from_micros(r.try_get("as_of_us")?),
                    policy_name: r.try_get("policy_name")?,
                    built_at: from_micros(r.try_get("built_at_us")?),
                    lookup_ready: r.try_get("lookup_ready")?,
                    person,
                })
            })
            .collect()
    }
}
