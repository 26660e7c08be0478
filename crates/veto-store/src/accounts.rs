//! Login accounts, server-side sessions and service tokens. Passwords are
//! stored only as argon2id PHC strings (hashed by the caller); session and
//! API tokens only as SHA-256, so a copy of the database opens no session.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use veto_core::time::{from_micros, to_micros};

use crate::{Store, StoreError};

/// Who an account is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A platform user: their Accounts Center identity.
    Person {
        person_id: String,
    },
    Operator,
}

#[derive(Clone, Debug)]
pub struct Account {
    pub username: String,
    pub role: Role,
    pub email: Option<String>,
    pub password_hash: String,
    /// The base32 RFC 6238 key of the account's second factor, if it has one.
    pub totp_secret: Option<String>,
    /// The last time step whose code this account used.
    pub totp_last_step: Option<i64>,
}

/// An API token as `veto tokens list` shows it (never the token itself).
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub name: String,
    pub role: TokenRole,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A live session: its account and the CSRF token bound to it.
#[derive(Clone, Debug)]
pub struct Session {
    pub account: Account,
    pub csrf_token: String,
}

/// What a service token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRole {
    /// File and read objections on behalf of persons (the platform's backend).
    Service,
    Operator,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn account_from_row(r: &sqlx::any::AnyRow) -> Result<Account, StoreError> {
    let role: String = r.try_get("role")?;
    let role = match role.as_str() {
        "person" => Role::Person {
            person_id: r.try_get("person_id")?,
        },
        "operator" => Role::Operator,
        other => return Err(StoreError::Corrupt(format!("accounts.role {other:?}"))),
    };
    Ok(Account {
        username: r.try_get("username")?,
        role,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        totp_secret: r.try_get("totp_secret")?,
        totp_last_step: r.try_get("totp_last_step")?,
    })
}

fn token_role(name: &str) -> Result<TokenRole, StoreError> {
    match name {
        "service" => Ok(TokenRole::Service),
        "operator" => Ok(TokenRole::Operator),
        other => Err(StoreError::Corrupt(format!("api_tokens.role {other:?}"))),
    }
}

impl Store {
    /// Adds or replaces an account (replacing keeps nothing of the old password).
    pub async fn upsert_account(
        &self,
        username: &str,
        role: &Role,
        email: Option<&str>,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let (role_name, person_id) = match role {
            Role::Person { person_id } => ("person", Some(person_id.as_str())),
            Role::Operator => ("operator", None),
        };
        sqlx::query(
            "INSERT INTO accounts (username, role, person_id, email, password_hash, created_at_us, password_changed_at_us)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (username) DO UPDATE SET role = excluded.role, person_id = excluded.person_id,
               email = excluded.email, password_hash = excluded.password_hash,
               password_changed_at_us = excluded.password_changed_at_us,
               totp_secret = CASE WHEN excluded.role = 'person' THEN NULL ELSE accounts.totp_secret END",
        )
        .bind(username)
        .bind(role_name)
        .bind(person_id)
        .bind(email)
        .bind(password_hash)
        .bind(to_micros(Utc::now()))
        .bind(to_micros(Utc::now()))
        .execute(self.pool())
        .await?;
        // A new password ends every open session of the account.
        sqlx::query("DELETE FROM sessions WHERE username = $1")
            .bind(username)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE username = $1")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Opens a session; returns the token for the cookie (only its hash is kept).
    pub async fn create_session(&self, username: &str, ttl: Duration) -> Result<(String, String), StoreError> {
        let (token, csrf) = (random_token(), random_token());
        sqlx::query("INSERT INTO sessions (token_sha256, username, csrf_token, expires_at_us) VALUES ($1, $2, $3, $4)")
            .bind(sha256_hex(&token))
            .bind(username)
            .bind(&csrf)
            .bind(to_micros(Utc::now() + ttl))
            .execute(self.pool())
            .await?;
        Ok((token, csrf))
    }

    pub async fn session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT a.*, s.csrf_token FROM sessions s JOIN accounts a ON a.username = s.username
             WHERE s.token_sha256 = $1 AND s.expires_at_us > $2",
        )
        .bind(sha256_hex(token))
        .bind(to_micros(now))
        .fetch_optional(self.pool())
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(Session {
                account: account_from_row(&r)?,
                csrf_token: r.try_get("csrf_token")?,
            })),
        }
    }

    pub async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
            .bind(sha256_hex(token))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of an account ("log out everywhere"); returns how many.
    pub async fn delete_sessions_of(&self, username: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE username = $1")
            .bind(username)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Creates a service or operator API token valid for `ttl`; returns it
    /// (shown once). A name that exists (revoked or not) is refused.
    pub async fn create_api_token(&self, name: &str, role: TokenRole, ttl: Duration) -> Result<String, StoreError> {
        let token = format!("veto_{}", random_token());
        let role = match role {
            TokenRole::Service => "service",
            TokenRole::Operator => "operator",
        };
        let now = Utc::now();
        let done = sqlx::query(
            "INSERT INTO api_tokens (token_sha256, name, role, created_at_us, expires_at_us) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(sha256_hex(&token))
        .bind(name)
        .bind(role)
        .bind(to_micros(now))
        .bind(to_micros(now + ttl))
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Refused(format!(
                "a token named {name:?} exists already: revoke it and choose another name"
            )));
        }
        Ok(token)
    }

    /// The token's name and role, if it exists, has not expired at `now`
    /// and was not revoked.
    pub async fn api_token(&self, token: &str, now: DateTime<Utc>) -> Result<Option<(String, TokenRole)>, StoreError> {
        let row = sqlx::query(
            "SELECT name, role FROM api_tokens
             WHERE token_sha256 = $1 AND revoked_at_us IS NULL AND expires_at_us > $2",
        )
        .bind(sha256_hex(token))
        .bind(to_micros(now))
        .fetch_optional(self.pool())
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((
                r.try_get("name")?,
                token_role(&r.try_get::<String, _>("role")?)?,
            ))),
        }
    }

    /// Every token, oldest first.
    pub async fn api_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at_us, name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    name: r.try_get("name")?,
                    role: token_role(&r.try_get::<String, _>("role")?)?,
                    created_at: from_micros(r.try_get("created_at_us")?),
                    expires_at: from_micros(r.try_get("expires_at_us")?),
                    revoked_at: r.try_get::<Option<i64>, _>("revoked_at_us")?.map(from_micros),
                })
            })
            .collect()
    }

    /// Revokes the token named `name` from now on; false if there is no
    /// such token or it was revoked already.
    pub async fn revoke_api_token(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at_us = $1 WHERE name = $2 AND revoked_at_us IS NULL")
            .bind(to_micros(Utc::now()))
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets (or with None removes) the account's second-factor key; the
    /// step record starts over. Sessions of the account end.
    pub async fn set_totp_secret(&self, username: &str, secret: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE accounts SET totp_secret = $1, totp_last_step = NULL WHERE username = $2")
            .bind(secret)
            .bind(username)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Refused(format!("no account {username:?}")));
        }
        sqlx::query("DELETE FROM sessions WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that the account's one-time code of time step `step` was
    /// used. False if that step or a later one was used already: a code
    /// seen once (by someone looking over a shoulder, or a phishing proxy
    /// replaying it) opens nothing a second time.
    pub async fn use_totp_step(&self, username: &str, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE accounts SET totp_last_step = $1
             WHERE username = $2 AND (totp_last_step IS NULL OR totp_last_step < $3)",
        )
        .bind(step)
        .bind(username)
        .bind(step)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the account's password hash (a change by its owner), ends
    /// every session of the account and queues `notice` (a mail telling the
    /// owner) in the same transaction.
    pub async fn change_password(
        &self,
        username: &str,
        password_hash: &str,
        notice: Option<&crate::portal::NewMail>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at_us = $2 WHERE username = $3")
            .bind(password_hash)
            .bind(to_micros(Utc::now()))
            .bind(username)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        if let Some(mail) = notice {
            crate::portal::queue_mail(&mut tx, mail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes sessions that expired before `now`; returns how many.
    pub async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at_us <= $1")
            .bind(to_micros(now))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
