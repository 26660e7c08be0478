//! The operators' review queue for third-party objections: what a build's
//! screening found (see veto-engine's `build/objectors.rs`), recorded with
//! the snapshot, and an operator's decision on the ones held. Every
//! screening that holds an objection and every decision is a ledger entry
//! (the objection id and the counts, never the name).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Any, Row, Transaction};
use veto_core::Screening;
use veto_core::time::{from_micros, to_micros};

use crate::{Store, StoreError};

/// A held third-party objection, as the queue shows it to an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub objection_id: String,
    /// The subject's display name (operators decide whether it is a public
    /// figure's or a common one).
    pub display_name: Option<String>,
    pub authors: u64,
    pub threshold: u64,
    pub screened_at: DateTime<Utc>,
    pub snapshot_id: String,
}

/// An operator's decision on a held objection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// What a snapshot records about objectors named in other people's text.
#[derive(Clone, Debug, Default)]
pub struct ObjectorRecord {
    /// Mentions redacted per person without an account, keyed by
    /// [`third_party_ref`] (users' are in the lookup pages).
    pub mentions: Vec<(String, u64)>,
    pub screenings: Vec<Screening>,
    /// Objections cleared by an earlier screening whose mentions in this
    /// build exceed the threshold (a name that became common): screened
    /// again by the next build. An approved one is not.
    pub rescreen: Vec<String>,
}

/// Records a build's screenings inside `tx` (the snapshot's transaction).
/// An objection screened twice (two subjects under one id, from a form of
/// an older version) keeps the larger count and is held if either was; an
/// operator's decision stands against a build that read its inputs before
/// it.
pub(crate) async fn record(
    tx: &mut Transaction<'_, Any>,
    snapshot_id: &str,
    screenings: &[Screening],
) -> Result<(), StoreError> {
    let now = to_micros(Utc::now());
    for s in screenings {
        let state = if s.held { "pending" } else { "clear" };
        let before: Option<String> = sqlx::query_scalar("SELECT state FROM subject_reviews WHERE objection_id = $1")
            .bind(&s.objection_id)
            .fetch_optional(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO subject_reviews (objection_id, authors, threshold, state, screened_at_us, snapshot_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (objection_id) DO UPDATE SET
                 authors = CASE WHEN subject_reviews.authors > excluded.authors
                                THEN subject_reviews.authors ELSE excluded.authors END,
                 state = CASE WHEN subject_reviews.state IN ('approved', 'rejected') THEN subject_reviews.state
                              WHEN excluded.state = 'pending' THEN 'pending' ELSE subject_reviews.state END",
        )
        .bind(&s.objection_id)
        .bind(s.authors as i64)
        .bind(s.threshold as i64)
        .bind(state)
        .bind(now)
        .bind(snapshot_id)
        .execute(&mut **tx)
        .await?;
        // A hold is an entry once: not again while it waits, and never
        // against an operator's decision.
        if s.held && matches!(before.as_deref(), None | Some("clear")) {
            let entry = json!({
                "objection_id": s.objection_id,
                "authors": s.authors,
                "threshold": s.threshold,
                "snapshot_id": snapshot_id,
            });
            crate::ledger::append(tx, "third_party_held_for_review", entry).await?;
        }
    }
    Ok(())
}

/// Forgets the screening of cleared objections inside `tx`, so that the
/// next build screens them again.
pub(crate) async fn forget_clear(tx: &mut Transaction<'_, Any>, ids: &[String]) -> Result<(), StoreError> {
    for id in ids {
        sqlx::query("DELETE FROM subject_reviews WHERE objection_id = $1 AND state = 'clear'")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Records mentions per objector inside `tx`.
pub(crate) async fn record_mentions(
    tx: &mut Transaction<'_, Any>,
    snapshot_id: &str,
    mentions: &[(String, u64)],
) -> Result<(), StoreError> {
    // Many rows a build (one per objector named): in statements of 500,
    // not one round trip each.
    for chunk in mentions.chunks(500) {
        // `$N` placeholders by hand: `QueryBuilder<Any>` writes `?`, which
        // PostgreSQL does not take.
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${})", 2 * i + 2, 2 * i + 3))
            .collect();
        let sql = format!(
            "INSERT INTO mention_counts (snapshot_id, subject_ref, mentions) VALUES {}
             ON CONFLICT (snapshot_id, subject_ref) DO UPDATE SET mentions = excluded.mentions",
            values.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(snapshot_id);
        for (subject_ref, n) in chunk {
            q = q.bind(subject_ref).bind(*n as i64);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Every screened objection's state, by objection id.
pub(crate) async fn states_on(conn: &mut sqlx::AnyConnection) -> Result<HashMap<String, String>, StoreError> {
    let rows = sqlx::query("SELECT objection_id, state FROM subject_reviews")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("objection_id")?, r.try_get("state")?)))
        .collect()
}

/// The key of a third party's mention counts.
pub fn third_party_ref(objection_id: &str) -> String {
    format!("objection:{objection_id}")
}

impl Store {
    /// Records screenings on their own (a rebuild of a snapshot already on
    /// record that screened a new third party).
    pub async fn record_screenings(&self, snapshot_id: &str, screenings: &[Screening]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        record(&mut tx, snapshot_id, screenings).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every screened objection's state, by objection id.
    /// One objection's review state (`clear`, `pending`, `approved`,
    /// `rejected`), None when no build has screened it.
    pub async fn review_state(&self, objection_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT state FROM subject_reviews WHERE objection_id = $1")
            .bind(objection_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("state")).transpose()?)
    }

    /// Whether the portal's non-user form has an objection with this id.
    pub async fn third_party_objection_exists(&self, id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM third_party_objections WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// The objections waiting for an operator, oldest screening first.
    pub async fn review_queue(&self) -> Result<Vec<Held>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.objection_id, r.authors, r.threshold, r.screened_at_us, r.snapshot_id,
                    COALESCE(s.subject, t.subject) AS subject, t.known_as
             FROM subject_reviews r
             LEFT JOIN subject_objections s ON s.objection_id = r.objection_id
             LEFT JOIN third_party_objections t ON t.id = r.objection_id
             WHERE r.state = 'pending' ORDER BY r.screened_at_us, r.objection_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let name = match r.try_get::<Option<String>, _>("subject")? {
                    Some(s) => {
                        serde_json::from_str::<veto_core::Subject>(&s)
                            .map_err(|e| StoreError::Corrupt(format!("subject of {}: {e}", r.get::<String, _>(0))))?
                            .display_name
                    }
                    None => r
                        .try_get::<Option<String>, _>("known_as")?
                        .and_then(|k| serde_json::from_str::<Vec<String>>(&k).ok())
                        .and_then(|k| k.into_iter().find(|n| !n.starts_with('@'))),
                };
                Ok(Held {
                    objection_id: r.try_get("objection_id")?,
                    display_name: name,
                    authors: r.try_get::<i64, _>("authors")? as u64,
                    threshold: r.try_get::<i64, _>("threshold")? as u64,
                    screened_at: from_micros(r.try_get("screened_at_us")?),
                    snapshot_id: r.try_get("snapshot_id")?,
                })
            })
            .collect()
    }

    /// An operator's decision on a held objection: approved ones are
    /// applied by the next build, rejected ones never. Refused for an
    /// objection that is not waiting.
    pub async fn decide_review(&self, objection_id: &str, decision: Decision, by: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let state = match decision {
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
        };
        let done = sqlx::query(
            "UPDATE subject_reviews SET state = $1, decided_at_us = $2, decided_by = $3
             WHERE objection_id = $4 AND state = 'pending'",
        )
        .bind(state)
        .bind(to_micros(Utc::now()))
        .bind(by)
        .bind(objection_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Refused(format!(
                "objection {objection_id} is not waiting for review (`veto objections review` lists those that are)"
            )));
        }
        let entry = json!({ "objection_id": objection_id, "decision": state });
        crate::ledger::append(&mut tx, "third_party_review_decided", entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Mentions of one objector redacted in each snapshot that has any
    /// (`subject_ref`: [`third_party_ref`] of an objection id).
    pub async fn mentions_of(&self, subject_ref: &str) -> Result<HashMap<String, u64>, StoreError> {
        let rows = sqlx::query("SELECT snapshot_id, mentions FROM mention_counts WHERE subject_ref = $1")
            .bind(subject_ref)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("snapshot_id")?, r.try_get::<i64, _>("mentions")? as u64)))
            .collect()
    }
}
