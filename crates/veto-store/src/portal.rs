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
use std::collections::{HashMap, HashSet};

use crate::backend::Backend;
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
    /// Queued to the email of the person's account, if it has one (looked
    /// up in the filing transaction, for the whole batch at once).
    pub receipt_mail: Option<AccountMail>,
}

/// A mail for the account of a person: its address is the account's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountMail {
    pub subject: String,
    pub body: String,
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
    /// Its receipt mail is in the outbox now (only when filed now, and
    /// only if the person's account has an email).
    pub mail_queued: bool,
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

/// What each of `keys` already answers for: the objection it filed and the
/// hash of the request it came with (None for a key recorded before requests
/// were hashed). One query for the whole batch.
async fn replays(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    keys: &[&str],
) -> Result<HashMap<String, (Objection, Option<String>)>, StoreError> {
    let mut out = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let keys = serde_json::to_string(keys).map_err(|e| StoreError::Internal(format!("idempotency keys: {e}")))?;
    let sql = format!(
        "SELECT o.*, k.scoped_key AS key_name, k.request_sha256 AS key_request FROM idempotency_keys k
         JOIN objections o ON o.objection_id = k.objection_id WHERE k.scoped_key IN ({})",
        backend.json_texts("$1")
    );
    for row in sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(keys)
        .fetch_all(&mut **tx)
        .await?
    {
        out.insert(
            row.try_get("key_name")?,
            (objection_from_row(&row)?, row.try_get("key_request")?),
        );
    }
    Ok(out)
}

/// Whether a key first used for a request hashed `first` replays for one
/// hashed `now`. A key recorded before requests were hashed cannot be
/// checked: it replays.
fn replay_outcome(first: Option<&str>, now: Option<&str>) -> FiledOutcome {
    match (first, now) {
        (Some(a), Some(b)) if a != b => FiledOutcome::KeyReused,
        _ => FiledOutcome::Replayed,
    }
}

/// Inserts `rows` with `cols` values each (pushed by `bind_row`) into
/// `into` ("table (columns)"), in statements of at most 1,000 rows: both
/// backends take that many parameters, and a batch is one round trip each.
async fn insert_rows<'t, T>(
    tx: &mut Transaction<'_, Any>,
    into: &str,
    cols: usize,
    rows: &'t [T],
    bind_row: impl for<'q> Fn(
        sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
        &'t T,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(1000) {
        let sql = format!("INSERT INTO {into} VALUES {}", Backend::values(chunk.len(), cols));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            q = bind_row(q, row);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The email of each of `persons` that has an account with one (the first
/// such account by username, as [`Store::email_of_person`]).
async fn account_emails(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    persons: &[&str],
) -> Result<HashMap<String, String>, StoreError> {
    let mut out = HashMap::new();
    if persons.is_empty() {
        return Ok(out);
    }
    let persons = serde_json::to_string(persons).map_err(|e| StoreError::Internal(format!("person ids: {e}")))?;
    let sql = format!(
        "SELECT person_id, email FROM accounts WHERE person_id IN ({})
         AND email IS NOT NULL AND trim(email) <> '' ORDER BY username",
        backend.json_texts("$1")
    );
    for row in sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(persons)
        .fetch_all(&mut **tx)
        .await?
    {
        out.entry(row.try_get("person_id")?).or_insert(row.try_get("email")?);
    }
    Ok(out)
}

/// Inserts the objections of `news`, their idempotency keys and the receipt
/// mails of those whose account has an email. Returns the ids of the
/// objections whose mail was queued.
async fn insert_new(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    news: &[&NewObjection],
    now: i64,
) -> Result<HashSet<String>, StoreError> {
    let cols =
        "objections (objection_id, person_id, scope, filed_at_us, withdrawn_at_us, channel, recorded_at_us, reason)";
    insert_rows(tx, cols, 8, news, |q, n| {
        let o = &n.objection;
        q.bind(o.objection_id.clone())
            .bind(o.person_id.clone())
            .bind(o.scope.as_str())
            .bind(to_micros(o.filed_at))
            .bind(o.withdrawn_at.map(to_micros))
            .bind(o.channel.as_str())
            .bind(now)
            .bind(n.reason.clone())
    })
    .await?;
    let keyed: Vec<&&NewObjection> = news.iter().filter(|n| n.idempotency_key.is_some()).collect();
    let cols = "idempotency_keys (scoped_key, objection_id, created_at_us, request_sha256)";
    insert_rows(tx, cols, 4, &keyed, |q, n| {
        q.bind(n.idempotency_key.clone())
            .bind(n.objection.objection_id.clone())
            .bind(now)
            .bind(n.request_sha256.clone())
    })
    .await?;
    let wanting: Vec<&str> = news
        .iter()
        .filter(|n| n.receipt_mail.is_some())
        .map(|n| n.objection.person_id.as_str())
        .collect();
    let emails = account_emails(backend, tx, &wanting).await?;
    let mails: Vec<(&NewObjection, &String, &AccountMail)> = news
        .iter()
        .filter_map(|n| Some((*n, emails.get(&n.objection.person_id)?, n.receipt_mail.as_ref()?)))
        .collect();
    insert_rows(
        tx,
        "outbox (recipient, subject, body, created_at_us)",
        4,
        &mails,
        |q, (_, to, m)| {
            q.bind((*to).clone())
                .bind(m.subject.clone())
                .bind(m.body.clone())
                .bind(now)
        },
    )
    .await?;
    Ok(mails.iter().map(|(n, _, _)| n.objection.objection_id.clone()).collect())
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
        let keys: Vec<&str> = batch.iter().filter_map(|n| n.idempotency_key.as_deref()).collect();
        // A key's first use, on file or earlier in this batch.
        let mut known = replays(self.backend(), &mut tx, &keys).await?;
        let mut out = Vec::with_capacity(batch.len());
        let mut news = Vec::with_capacity(batch.len());
        for n in batch {
            if let Some(key) = &n.idempotency_key {
                if let Some((objection, first)) = known.get(key) {
                    out.push(Filed {
                        objection: objection.clone(),
                        outcome: replay_outcome(first.as_deref(), n.request_sha256.as_deref()),
                        mail_queued: false,
                    });
                    continue;
                }
                known.insert(key.clone(), (n.objection.clone(), n.request_sha256.clone()));
            }
            news.push(n);
            out.push(Filed {
                objection: n.objection.clone(),
                outcome: FiledOutcome::Created,
                mail_queued: false,
            });
        }
        let mailed = insert_new(self.backend(), &mut tx, &news, to_micros(Utc::now())).await?;
        for f in out.iter_mut().filter(|f| f.created()) {
            f.mail_queued = mailed.contains(&f.objection.objection_id);
        }
        let entries = news
            .iter()
            .flat_map(|n| ledger::objection_entries(&secret, &n.objection))
            .collect();
        ledger::append_many(&mut tx, entries).await?;
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
