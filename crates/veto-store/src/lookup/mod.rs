//! The per-person lookup: for every snapshot, whether a person's content is
//! in it, in which shard, how many items by kind, and why the rest is out.
//! Keyed by person_ref (a keyed hash). A snapshot's persons are stored in
//! packed pages of [`page::PAGE_ENTRIES`] persons (format in [`page`]), so a
//! lookup is one index seek per snapshot however large the snapshots are,
//! and recording a million persons is a few thousand row inserts.

pub mod page;

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::Row;
use veto_core::time::from_micros;
use veto_core::{Kind, Platform, Reason};

pub use page::{Page, PersonCounts};

use crate::{Store, StoreError};

/// One person in one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonSnapshot {
    pub shard: Option<u32>,
    pub included_by_kind: BTreeMap<String, u64>,
    pub included_by_platform: BTreeMap<String, u64>,
    pub excluded_by_reason: BTreeMap<String, u64>,
    /// Mentions of the person (an objector) redacted in other people's text.
    pub mentions_redacted: u64,
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

impl Store {
    /// Records a snapshot's whole lookup from pages made by [`page::pack`],
    /// and marks it ready, in one transaction: a reader sees all of it or
    /// none. Recording again (an identical snapshot built again) replaces it.
    pub async fn record_lookup(&self, snapshot_id: &str, pages: &[Page]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM lookup_pages WHERE snapshot_id = $1")
            .bind(snapshot_id)
            .execute(&mut *tx)
            .await?;
        insert_pages(&mut tx, snapshot_id, pages).await?;
        let done = sqlx::query("UPDATE snapshots SET lookup_ready = TRUE WHERE snapshot_id = $1")
            .bind(snapshot_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownSnapshot(snapshot_id.to_string()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Snapshots on record whose lookup was never completed (only stores
    /// from before snapshots and lookups were recorded together have any).
    pub async fn snapshots_without_lookup(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT snapshot_id FROM snapshots WHERE NOT lookup_ready ORDER BY snapshot_id")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Every snapshot with what it holds of the person `person_ref` (the
    /// hex of [`veto_core::hashing::person_ref`]).
    pub async fn lookup(&self, person_ref: &str) -> Result<Vec<LookupRow>, StoreError> {
        let key = parse_ref(person_ref)?;
        let rows = sqlx::query(
            "SELECT s.snapshot_id, s.as_of_us, s.policy_name, s.built_at_us,
                    CASE WHEN s.lookup_ready THEN 1 ELSE 0 END AS lookup_ready,
                    (SELECT p.page FROM lookup_pages p
                     WHERE p.snapshot_id = s.snapshot_id AND p.first_ref <= $1
                     ORDER BY p.first_ref DESC LIMIT 1) AS page
             FROM snapshots s
             ORDER BY s.built_at_us, s.snapshot_id",
        )
        .bind(key.as_slice())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let snapshot_id: String = r.try_get("snapshot_id")?;
                let person = match r.try_get::<Option<Vec<u8>>, _>("page")? {
                    None => None,
                    Some(bytes) => page::find(&bytes, &key)
                        .map_err(|e| StoreError::Corrupt(format!("lookup page of snapshot {snapshot_id}: {e}")))?,
                };
                Ok(LookupRow {
                    snapshot_id,
                    as_of: from_micros(r.try_get("as_of_us")?),
                    policy_name: r.try_get("policy_name")?,
                    built_at: from_micros(r.try_get("built_at_us")?),
                    // An integer: `sqlx::Any` on SQLite refuses a BOOLEAN result.
                    lookup_ready: r.try_get::<i64, _>("lookup_ready")? != 0,
                    person,
                })
            })
            .collect()
    }

    /// Repacks the rows of the per-person table that stores before migration
    /// 0005 kept (`snapshot_persons`, one JSON row per person) into pages,
    /// then drops that table. Runs when the store opens; a no-op once done.
    pub(crate) async fn repack_legacy_lookup(&self) -> Result<(), StoreError> {
        let legacy: Option<String> = sqlx::query_scalar(self.backend().table_exists_sql())
            .bind("snapshot_persons")
            .fetch_optional(self.pool())
            .await?;
        if legacy.is_none() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        let snapshots: Vec<String> = sqlx::query_scalar("SELECT DISTINCT snapshot_id FROM snapshot_persons")
            .fetch_all(&mut *tx)
            .await?;
        for snapshot_id in snapshots {
            let rows = sqlx::query(
                "SELECT person_ref, shard, by_kind, by_platform, by_reason FROM snapshot_persons
                 WHERE snapshot_id = $1 ORDER BY person_ref",
            )
            .bind(&snapshot_id)
            .fetch_all(&mut *tx)
            .await?;
            let mut entries = Vec::with_capacity(rows.len());
            for r in &rows {
                let counts = PersonCounts {
                    shard: r.try_get::<Option<i64>, _>("shard")?.map(|s| s as u32),
                    kinds: by_code(&r.try_get::<String, _>("by_kind")?, |n| {
                        Kind::from_str(n).ok().map(Kind::code)
                    })?,
                    platforms: by_code(&r.try_get::<String, _>("by_platform")?, |n| {
                        Platform::from_str(n).ok().map(Platform::code)
                    })?,
                    reasons: by_code(&r.try_get::<String, _>("by_reason")?, |n| {
                        Reason::from_str(n).ok().map(Reason::code)
                    })?,
                    mentions: 0,
                };
                entries.push((parse_ref(&r.try_get::<String, _>("person_ref")?)?, counts));
            }
            let pages = page::pack(entries)
                .map_err(|k| StoreError::Corrupt(format!("snapshot_persons: person_ref {} twice", hex::encode(k))))?;
            for page in &pages {
                sqlx::query("INSERT INTO lookup_pages (snapshot_id, first_ref, page) VALUES ($1, $2, $3)")
                    .bind(&snapshot_id)
                    .bind(page.first_ref.as_slice())
                    .bind(page.bytes.as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query("DROP TABLE snapshot_persons").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Inserts a snapshot's pages inside the caller's transaction.
pub(crate) async fn insert_pages(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    snapshot_id: &str,
    pages: &[Page],
) -> Result<(), StoreError> {
    for page in pages {
        sqlx::query("INSERT INTO lookup_pages (snapshot_id, first_ref, page) VALUES ($1, $2, $3)")
            .bind(snapshot_id)
            .bind(page.first_ref.as_slice())
            .bind(page.bytes.as_slice())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The 16 bytes of a person_ref given as hex.
fn parse_ref(person_ref: &str) -> Result<[u8; 16], StoreError> {
    let mut key = [0u8; 16];
    hex::decode_to_slice(person_ref, &mut key)
        .map_err(|_| StoreError::Corrupt(format!("person_ref {person_ref:?} is not 32 hex digits")))?;
    Ok(key)
}

/// Counts by name (the legacy JSON) as an array by vocabulary code.
fn by_code<const N: usize>(json: &str, code_of: fn(&str) -> Option<u8>) -> Result<[u32; N], StoreError> {
    let named: BTreeMap<String, u64> =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("snapshot_persons: {e}")))?;
    let mut counts = [0u32; N];
    for (name, n) in named {
        let code =
            code_of(&name).ok_or_else(|| StoreError::Corrupt(format!("snapshot_persons: unknown name {name:?}")))?;
        let slot = counts
            .get_mut(code as usize)
            .ok_or_else(|| StoreError::Corrupt(format!("snapshot_persons: code of {name:?} out of range")))?;
        *slot = u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("snapshot_persons: count {n}")))?;
    }
    Ok(counts)
}
