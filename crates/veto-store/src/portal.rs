//! Objections filed and withdrawn live (the portal and the API), objections
//! by non-users, and the email outbox.
//!
//! Filing takes a batch: the portal's writer commits every objection that
//! arrived while the previous commit was being fsynced in one transaction
//! (group commit), so each acknowledged objection is durable and many fit in
//! one fsync.

use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};
use veto_core::Objection;
use veto_core::time::{from_micros, to_micros};

use crate::accounts::sha256_hex;
use crate::{Store, StoreError, ledger, objection_from_row};

/// One objection to file, with an optional idempotency key (already scoped
/// to its caller), the hash of the request it came with, a reason, and the
/// receipt mail to queue if (and only if) it is filed now.
#[derive(Clone, Debug)]
pub struct NewObjection {
    pub objection: Objection,
    pub idempotency_key: Option<String>,
    /// SHA-256 (hex) of the request's canonical body; a key used again with
    /// another hash is refused ([`FiledOutcome::KeyReused`]).
    pub request_sha256: Option<String>,
    pub reason: Option<String>,
    pub mail: Option<NewMail>,
}

/// A mail to put in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMail {
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

/// What filing did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FiledOutcome {
    /// A new objection is on file.
    Created,
    /// The idempotency key had already filed this objection for the same request.
    Replayed,
    /// The idempotency key had filed this objection for a different request;
    /// nothing was filed.
    KeyReused,
}

/// The outcome of filing: the objection on file (for [`FiledOutcome::KeyReused`],
/// the one the key filed first) and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filed {
    pub objection: Objection,
    pub outcome: FiledOutcome,
}

impl Filed {
    pub fn created(&self) -> bool {
        self.outcome == FiledOutcome::Created
    }
}

/// Whether a non-user's objection was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThirdPartyQueued {
    /// Recorded, and its confirmation mail is in the outbox.
    Queued,
    /// The address already had its allowance of confirmation mails in the
    /// window; nothing was recorded or queued. The next one may go at `until`.
    LimitReached { until: DateTime<Utc> },
}

/// A non-user's objection.
#[derive(Clone, Debug)]
pub struct ThirdPartyObjection {
    pub id: String,
    pub email: String,
    /// The names and @handles of `subject`, as older versions kept them.
    pub known_as: Vec<String>,
    /// Who the objection is for, as the form collected it (the contact
    /// address among its emails).
    pub subject: Option<veto_core::Subject>,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

/// An email waiting for (or past) delivery.
#[derive(Clone, Debug)]
pub struct OutboxMail {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

/// What an idempotency key already answers for, if anything.
async fn replay(
    tx: &mut Transaction<'_, Any>,
    key: &str,
    request_sha256: Option<&str>,
) -> Result<Option<Filed>, StoreError> {
    let row = sqlx::query(
        "SELECT o.*, k.request_sha256 AS key_request FROM idempotency_keys k
         JOIN objections o ON o.objection_id = k.objection_id WHERE k.scoped_key = $1",
    )
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let first: Option<String> = row.try_get("key_request")?;
    // A key recorded before requests were hashed cannot be checked: it replays.
    let same = match (first.as_deref(), request_sha256) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    Ok(Some(Filed {
        objection: objection_from_row(&row)?,
        outcome: if same {
            FiledOutcome::Replayed
        } else {
            FiledOutcome::KeyReused
        },
    }))
}

async fn insert_objection(tx: &mut Transaction<'_, Any>, n: &NewObjection, now: i64) -> Result<(), StoreError> {
    let o = &n.objection;
    sqlx::query(
        "INSERT INTO objections (objection_id, person_id, scope, filed_at_us, withdrawn_at_us, channel, recorded_at_us, reason)
         VALUES ($1, $2, $3, $4, NULL, $5, $6, $7)",
    )
    .bind(&o.objection_id)
    .bind(&o.person_id)
    .bind(o.scope.as_str())
    .bind(to_micros(o.filed_at))
    .bind(o.channel.as_str())
    .bind(now)
    .bind(&n.reason)
    .execute(&mut **tx)
    .await?;
    if let Some(key) = &n.idempotency_key {
        sqlx::query(
            "INSERT INTO idempotency_keys (scoped_key, objection_id, created_at_us, request_sha256) VALUES ($1, $2, $3, $4)",
        )
        .bind(key)
        .bind(&o.objection_id)
        .bind(now)
        .bind(&n.request_sha256)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub(crate) async fn queue_mail(tx: &mut Transaction<'_, Any>, mail: &NewMail) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO outbox (recipient, subject, body, created_at_us) VALUES ($1, $2, $3, $4)")
        .bind(&mail.recipient)
        .bind(&mail.subject)
        .bind(&mail.body)
        .bind(to_micros(Utc::now()))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Files a batch in one transaction (one fsync) with ledger entries and
    /// the receipt mails of what is new: a mail is queued exactly when its
    /// objection is, so a replay never mails twice and a crash loses neither.
    pub async fn file_objections(&self, batch: &[NewObjection]) -> Result<Vec<Filed>, StoreError> {
        let secret = self.secret().await?;
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(batch.len());
        let now = to_micros(Utc::now());
        for n in batch {
            if let Some(key) = &n.idempotency_key
                && let Some(filed) = replay(&mut tx, key, n.request_sha256.as_deref()).await?
            {
                out.push(filed);
                continue;
            }
            insert_objection(&mut tx, n, now).await?;
            if let Some(mail) = &n.mail {
                queue_mail(&mut tx, mail).await?;
            }
            ledger::append_objection(&mut tx, &secret, &n.objection).await?;
            out.push(Filed {
                objection: n.objection.clone(),
                outcome: FiledOutcome::Created,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The email of the account that belongs to `person_id`, if it has one.
    pub async fn email_of_person(&self, person_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT email FROM accounts WHERE person_id = $1 AND email IS NOT NULL AND trim(email) <> ''
             ORDER BY username LIMIT 1",
        )
        .bind(person_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| r.try_get("email")).transpose().map_err(Into::into)
    }

    pub async fn objection(&self, objection_id: &str) -> Result<Option<Objection>, StoreError> {
        let row = sqlx::query("SELECT * FROM objections WHERE objection_id = $1")
            .bind(objection_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(objection_from_row).transpose()
    }

    pub async fn objections_of(&self, person_id: &str) -> Result<Vec<Objection>, StoreError> {
        let rows = sqlx::query("SELECT * FROM objections WHERE person_id = $1 ORDER BY filed_at_us, objection_id")
            .bind(person_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(objection_from_row).collect()
    }

    /// Withdraws an objection of `person_id` (None if it is not theirs or
    /// unknown). Withdrawing twice keeps the first withdrawal. `mail` (the
    /// withdrawal receipt, made for the withdrawal at `at`) is queued in the
    /// same transaction, and only by the call that withdraws.
    pub async fn withdraw_objection(
        &self,
        objection_id: &str,
        person_id: &str,
        at: DateTime<Utc>,
        mail: Option<&NewMail>,
    ) -> Result<Option<Objection>, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT * FROM objections WHERE objection_id = $1 AND person_id = $2")
            .bind(objection_id)
            .bind(person_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut o = objection_from_row(&row)?;
        if o.withdrawn_at.is_none() {
            let at = at.max(o.filed_at);
            sqlx::query("UPDATE objections SET withdrawn_at_us = $1 WHERE objection_id = $2")
                .bind(to_micros(at))
                .bind(objection_id)
                .execute(&mut *tx)
                .await?;
            ledger::append(
                &mut tx,
                "objection_withdrawn",
                serde_json::json!({ "objection_id": objection_id, "withdrawn_at": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true) }),
            )
            .await?;
            if let Some(mail) = mail {
                queue_mail(&mut tx, mail).await?;
            }
            o.withdrawn_at = Some(at);
        }
        tx.commit().await?;
        Ok(Some(o))
    }

    /// Records a non-user's objection and queues its confirmation mail,
    /// unless `limit` confirmation mails already went to this address (any
    /// case) within `window`. Counting and inserting share one write
    /// transaction, so concurrent requests cannot overshoot the limit.
    /// `token` is the one-time link secret (only its hash is kept).
    pub async fn add_third_party_objection(
        &self,
        t: &ThirdPartyObjection,
        token: &str,
        mail: (&str, &str),
        limit: (u32, chrono::Duration),
    ) -> Result<ThirdPartyQueued, StoreError> {
        let mut tx = self.write_tx().await?;
        let since = to_micros(t.created_at - limit.1);
        let row = sqlx::query(
            "SELECT count(*) AS sent, min(created_at_us) AS oldest FROM third_party_objections
             WHERE lower(email) = lower($1) AND created_at_us > $2",
        )
        .bind(&t.email)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let (sent, oldest): (i64, Option<i64>) = (row.try_get("sent")?, row.try_get("oldest")?);
        if sent >= i64::from(limit.0) {
            // The oldest mail in the window leaves it first.
            let until = oldest.map_or(t.created_at, from_micros) + limit.1;
            return Ok(ThirdPartyQueued::LimitReached { until });
        }
        let subject = t
            .subject
            .as_ref()
            .map(|s| serde_json::to_value(s).map(|v| veto_core::canonical::jcs(&v)))
            .transpose()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO third_party_objections (id, email, known_as, token_sha256, created_at_us, subject) VALUES ($1, $2, $3, $4, $5, $6)",
        )
            .bind(&t.id)
            .bind(&t.email)
            .bind(serde_json::to_string(&t.known_as).map_err(|e| StoreError::Internal(e.to_string()))?)
            .bind(sha256_hex(token))
            .bind(to_micros(t.created_at))
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        let mail = NewMail {
            recipient: t.email.clone(),
            subject: mail.0.to_string(),
            body: mail.1.to_string(),
        };
        queue_mail(&mut tx, &mail).await?;
        tx.commit().await?;
        Ok(ThirdPartyQueued::Queued)
    }

    /// Whether a one-time link is still unused (reading only: the page the
    /// link opens must not confirm anything, since mail scanners open links).
    pub async fn third_party_pending(&self, token: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 FROM third_party_objections WHERE token_sha256 = $1 AND verified_at_us IS NULL")
                .bind(sha256_hex(token))
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }

    /// Verifies the objection behind a one-time link; the link works once.
    pub async fn verify_third_party(
        &self,
        token: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ThirdPartyObjection>, StoreError> {
        let mut tx = self.write_tx().await?;
        let row =
            sqlx::query("SELECT * FROM third_party_objections WHERE token_sha256 = $1 AND verified_at_us IS NULL")
                .bind(sha256_hex(token))
                .fetch_optional(&mut *tx)
                .await?;
        let Some(r) = row else { return Ok(None) };
        let id: String = r.try_get("id")?;
        sqlx::query("UPDATE third_party_objections SET verified_at_us = $1 WHERE id = $2")
            .bind(to_micros(at))
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        ledger::append(
            &mut tx,
            "third_party_objection_verified",
            serde_json::json!({ "id": id }),
        )
        .await?;
        tx.commit().await?;
        let known_as: String = r.try_get("known_as")?;
        let subject = r
            .try_get::<Option<String>, _>("subject")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("third_party_objections.subject: {e}")))?;
        Ok(Some(ThirdPartyObjection {
            id,
            email: r.try_get("email")?,
            known_as: serde_json::from_str(&known_as).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            subject,
            created_at: from_micros(r.try_get("created_at_us")?),
            verified_at: Some(at),
        }))
    }

    /// Mails not yet handed to a sender, oldest first.
    pub async fn pending_mail(&self, limit: i64) -> Result<Vec<OutboxMail>, StoreError> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE sent_at_us IS NULL ORDER BY id LIMIT $1")
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxMail {
                    id: r.try_get("id")?,
                    recipient: r.try_get("recipient")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                })
            })
            .collect()
    }

    pub async fn mark_mail_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET sent_at_us = $1 WHERE id = $2")
            .bind(to_micros(at))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes mails handed to a sender before `before` (their bodies hold
    /// receipts and links); returns how many. Unsent mail stays.
    pub async fn purge_sent_mail(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM outbox WHERE sent_at_us IS NOT NULL AND sent_at_us < $1")
            .bind(to_micros(before))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
