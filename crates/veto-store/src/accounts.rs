//! Login accounts, server-side sessions and service tokens. Passwords are
//! stored only as argon2id PHC strings (hashed by the caller); session and
//! API tokens only as SHA-256, so a copy of the database opens no session.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use veto_core::time::to_micros;

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

fn account_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Account, StoreError> {
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
    })
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
            "INSERT INTO accounts (username, role, person_id, email, password_hash, created_at_us) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (username) DO UPDATE SET role = excluded.role, person_id = excluded.person_id,
               email = excluded.email, password_hash = excluded.password_hash",
        )
        .bind(username)
        .bind(role_name)
        .bind(person_id)
        .bind(email)
        .bind(password_hash)
        .bind(to_micros(Utc::now()))
        .execute(self.pool())
        .await?;
        // A new password ends every open session of the account.
        sqlx::query("DELETE FROM sessions WHERE username = ?")
            .bind(username)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE username = ?")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Opens a session; returns the token for the cookie (only its hash is kept).
    pub async fn create_session(&self, username: &str, ttl: Duration) -> Result<(String, String), StoreError> {
        let (token, csrf) = (random_token(), random_token());
        sqlx::query("INSERT INTO sessions (token_sha256, username, csrf_token, expires_at_us) VALUES (?, ?, ?, ?)")
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
             WHERE s.token_sha256 = ? AND s.expires_at_us > ?",
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
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = ?")
            .bind(sha256_hex(token))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of an account ("log out everywhere"); returns how many.
    pub async fn delete_sessions_of(&self, username: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE username = ?")
            .bind(username)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Creates a service or operator API token; returns it (shown once).
    pub async fn create_api_token(&self, name: &str, role: TokenRole) -> Result<String, StoreError> {
        let token = format!("veto_{}", random_token());
        let role = match role {
            TokenRole::Service => "service",
            TokenRole::Operator => "operator",
        };
        sqlx::query("INSERT INTO api_tokens (token_sha256, name, role, created_at_us) VALUES (?, ?, ?, ?)")
            .bind(sha256_hex(&token))
            .bind(name)
            .bind(role)
            .bind(to_micros(Utc::now()))
            .execute(self.pool())
            .await?;
        Ok(token)
    }

    pub async fn api_token(&self, token: &str) -> Result<Option<(String, TokenRole)>, StoreError> {
        let row = sqlx::query("SELECT name, role FROM api_tokens WHERE token_sha256 = ?")
            .bind(sha256_hex(token))
            .fetch_optional(self.pool())
            .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let role = if r.try_get::<String, _>("role")? == "operator" {
                    TokenRole::Operator
                } else {
                    TokenRole::Service
                };
                Ok(Some((r.try_get("name")?, role)))
            }
        }
    }
}
