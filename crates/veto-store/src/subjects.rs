//! Objections by people without an account: imported subject lines and the
//! portal's confirmed non-user objections, and the subjects a build must
//! redact. The ledger records each with a keyed hash of its subject, never
//! the name or contact details in clear.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Any, Row, Transaction};
use veto_core::time::{from_micros, to_micros};
use veto_core::{Subject, SubjectObjection, ThirdParty};

use crate::{ImportCounts, Store, StoreError};

/// The subject as stored: canonical JSON (RFC 8785), so the same subject is
/// the same text and the same hash.
fn subject_json(s: &Subject) -> String {
    veto_core::canonical::jcs(&serde_json::to_value(s).expect("a subject serialises"))
}

fn subject_from(text: &str) -> Result<Subject, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("subject_objections.subject: {e}")))
}

fn row_to_objection(r: &sqlx::any::AnyRow) -> Result<SubjectObjection, StoreError> {
    let scope: String = r.try_get("scope")?;
    let channel: String = r.try_get("channel")?;
    Ok(SubjectObjection {
        objection_id: r.try_get("objection_id")?,
        subject: subject_from(&r.try_get::<String, _>("subject")?)?,
        scope: scope.parse().map_err(StoreError::Corrupt)?,
        filed_at: from_micros(r.try_get("filed_at_us")?),
        withdrawn_at: r.try_get::<Option<i64>, _>("withdrawn_at_us")?.map(from_micros),
        channel: channel.parse().map_err(StoreError::Corrupt)?,
    })
}

/// Inserts subject objections inside `tx`, each with its ledger entries.
/// An id already on file with the same content is counted as unchanged;
/// with other content (or as a user's objection) it is refused.
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Any>,
    secret: &[u8],
    objections: &[SubjectObjection],
) -> Result<ImportCounts, StoreError> {
    let mut counts = ImportCounts::default();
    let now = to_micros(Utc::now());
    for o in objections {
        let person = sqlx::query("SELECT 1 FROM objections WHERE objection_id = $1")
            .bind(&o.objection_id)
            .fetch_optional(&mut **tx)
            .await?;
        let existing = sqlx::query("SELECT * FROM subject_objections WHERE objection_id = $1")
            .bind(&o.objection_id)
            .fetch_optional(&mut **tx)
            .await?;
        match existing {
            Some(row) if person.is_none() && row_to_objection(&row)? == *o => {
                counts.unchanged += 1;
                continue;
            }
            None if person.is_none() => {}
            _ => {
                return Err(StoreError::ConflictingObjection {
                    objection_id: o.objection_id.clone(),
                });
            }
        }
        let subject = subject_json(&o.subject);
        sqlx::query(
            "INSERT INTO subject_objections (objection_id, subject, scope, filed_at_us, withdrawn_at_us, channel, recorded_at_us)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&o.objection_id)
        .bind(&subject)
        .bind(o.scope.as_str())
        .bind(to_micros(o.filed_at))
        .bind(o.withdrawn_at.map(to_micros))
        .bind(o.channel.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let filed = json!({
            "objection_id": o.objection_id,
            "subject_ref": veto_core::hashing::person_ref(secret, &subject),
            "scope": o.scope.as_str(),
            "filed_at": crate::ledger::rfc3339(o.filed_at),
            "channel": o.channel.as_str(),
        });
        crate::ledger::append(tx, "subject_objection_filed", filed).await?;
        if let Some(w) = o.withdrawn_at {
            let withdrawn = json!({ "objection_id": o.objection_id, "withdrawn_at": crate::ledger::rfc3339(w) });
            crate::ledger::append(tx, "objection_withdrawn", withdrawn).await?;
        }
        counts.added += 1;
    }
    Ok(counts)
}

impl Store {
    /// Every subject objection on file, by id.
    pub async fn subject_objections(&self) -> Result<Vec<SubjectObjection>, StoreError> {
        let rows = sqlx::query("SELECT * FROM subject_objections ORDER BY objection_id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(row_to_objection).collect()
    }

    /// The people without an account whose objections are in force at
    /// `at`: imported subjects, and the portal's non-user objections
    /// confirmed by then (a form from before subjects were structured
    /// gives its names and @handles, and the confirmed address). Those an
    /// operator has to decide on (`pending`) or refused are left out; the
    /// rest say whether a build has screened them.
    pub async fn third_parties_in_force(&self, at: DateTime<Utc>) -> Result<Vec<ThirdParty>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        third_parties_on(&mut conn, at).await
    }
}

/// [`Store::third_parties_in_force`] on one connection (inside the caller's
/// read transaction, for a build: [`Store::build_inputs`]).
pub(crate) async fn third_parties_on(
    conn: &mut sqlx::AnyConnection,
    at: DateTime<Utc>,
) -> Result<Vec<ThirdParty>, StoreError> {
    let reviews = crate::reviews::states_on(&mut *conn).await?;
    let mut out: Vec<ThirdParty> = Vec::new();
    let mut push = |objection_id: String, subject: Subject| match reviews.get(&objection_id).map(String::as_str) {
        Some("pending" | "rejected") => {}
        state => out.push(ThirdParty {
            objection_id,
            subject,
            screened: state.is_some(),
        }),
    };
    let subjects = sqlx::query("SELECT * FROM subject_objections ORDER BY objection_id")
        .fetch_all(&mut *conn)
        .await?;
    for o in subjects.iter().map(row_to_objection) {
        let o = o?;
        if o.in_force_at(at) {
            push(o.objection_id, o.subject);
        }
    }
    let rows = sqlx::query(
        "SELECT id, email, known_as, subject FROM third_party_objections
             WHERE verified_at_us IS NOT NULL AND verified_at_us <= $1 ORDER BY id",
    )
    .bind(to_micros(at))
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let id: String = r.try_get("id")?;
        if let Some(subject) = r.try_get::<Option<String>, _>("subject")? {
            push(id, subject_from(&subject)?);
            continue;
        }
        let known_as: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("known_as")?)
            .map_err(|e| StoreError::Corrupt(format!("third_party_objections.known_as: {e}")))?;
        let (handles, names): (Vec<String>, Vec<String>) = known_as.into_iter().partition(|k| k.starts_with('@'));
        let email: String = r.try_get("email")?;
        let mut names = names.into_iter();
        let first = Subject {
            display_name: names.next(),
            handles,
            emails: vec![email],
            phones: Vec::new(),
        };
        push(id.clone(), first);
        // One subject per further name, under the same objection id.
        for n in names {
            let subject = Subject {
                display_name: Some(n),
                ..Default::default()
            };
            push(id.clone(), subject);
        }
    }
    Ok(out)
}
