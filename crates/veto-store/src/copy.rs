//! Moving an installation from one database to another (`veto store
//! copy`): every table a running installation needs — objections, third
//! parties and their reviews, snapshots with their lookup pages, models and
//! unlearning records, the ledger with the installation's keys, accounts,
//! service tokens, idempotency keys, the mail outbox, finished operations —
//! in the source's order, as they are. Sessions stay behind: a login ends
//! with the move.
//!
//! The source is read in one read transaction and the target written in
//! one write transaction, so a copy that dies leaves the target as empty as
//! it was. The target must be empty; afterwards its ledger head (sequence
//! number and hash) and its row counts must equal the source's, or the copy
//! is reported as failed.

use futures::TryStreamExt;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::{Backend, Database, Store, StoreError};

/// How a column is read and written.
#[derive(Clone, Copy)]
enum Col {
    Text,
    Int,
    Bytes,
    /// BOOLEAN: read as 0/1 (`sqlx::Any` on SQLite refuses a BOOLEAN
    /// result), written as a boolean.
    Bool,
}

use Col::{Bool, Bytes, Int, Text};

/// A table to copy: its name, its columns (nullable or not: every value is
/// read as an Option) and the order its rows are read in.
type Table = (&'static str, &'static [(&'static str, Col)], &'static str);

/// The tables copied, parents before children.
const TABLES: &[Table] = &[
    ("installation", &[("key", Text), ("value", Text)], "key"),
    (
        "objections",
        &[
            ("objection_id", Text),
            ("person_id", Text),
            ("scope", Text),
            ("filed_at_us", Int),
            ("withdrawn_at_us", Int),
            ("channel", Text),
            ("recorded_at_us", Int),
            ("reason", Text),
        ],
        "objection_id",
    ),
    (
        "subject_objections",
        &[
            ("objection_id", Text),
            ("subject", Text),
            ("scope", Text),
            ("filed_at_us", Int),
            ("withdrawn_at_us", Int),
            ("channel", Text),
            ("recorded_at_us", Int),
        ],
        "objection_id",
    ),
    (
        "third_party_objections",
        &[
            ("id", Text),
            ("email", Text),
            ("known_as", Text),
            ("token_sha256", Text),
            ("created_at_us", Int),
            ("verified_at_us", Int),
            ("subject", Text),
        ],
        "id",
    ),
    (
        "snapshots",
        &[
            ("snapshot_id", Text),
            ("as_of_us", Int),
            ("policy_name", Text),
            ("policy_sha256", Text),
            ("path", Text),
            ("status", Text),
            ("built_at_us", Int),
            ("manifest", Text),
            ("lookup_ready", Bool),
            ("objections_seq", Int),
        ],
        "snapshot_id",
    ),
    (
        "lookup_pages",
        &[("snapshot_id", Text), ("first_ref", Bytes), ("page", Bytes)],
        "snapshot_id, first_ref",
    ),
    (
        "subject_reviews",
        &[
            ("objection_id", Text),
            ("authors", Int),
            ("threshold", Int),
            ("state", Text),
            ("screened_at_us", Int),
            ("snapshot_id", Text),
            ("decided_at_us", Int),
            ("decided_by", Text),
        ],
        "objection_id",
    ),
    (
        "mention_counts",
        &[("snapshot_id", Text), ("subject_ref", Text), ("mentions", Int)],
        "snapshot_id, subject_ref",
    ),
    (
        "models",
        &[
            ("model_id", Text),
            ("snapshot_id", Text),
            ("path", Text),
            ("version", Int),
            ("trained_at_us", Int),
            ("manifest", Text),
        ],
        "model_id",
    ),
    (
        "model_unlearning",
        &[
            ("model_id", Text),
            ("person_ref", Text),
            ("version", Int),
            ("done_at_us", Int),
        ],
        "model_id, person_ref",
    ),
    (
        "ledger",
        &[
            ("seq", Int),
            ("kind", Text),
            ("at", Text),
            ("payload", Text),
            ("prev", Text),
            ("hash", Text),
            ("format", Int),
        ],
        "seq",
    ),
    (
        "accounts",
        &[
            ("username", Text),
            ("role", Text),
            ("person_id", Text),
            ("email", Text),
            ("password_hash", Text),
            ("created_at_us", Int),
            ("totp_secret", Text),
            ("totp_last_step", Int),
            ("password_changed_at_us", Int),
        ],
        "username",
    ),
    (
        "api_tokens",
        &[
            ("token_sha256", Text),
            ("name", Text),
            ("role", Text),
            ("created_at_us", Int),
            ("expires_at_us", Int),
            ("revoked_at_us", Int),
        ],
        "token_sha256",
    ),
    (
        "idempotency_keys",
        &[
            ("scoped_key", Text),
            ("objection_id", Text),
            ("created_at_us", Int),
            ("request_sha256", Text),
        ],
        "scoped_key",
    ),
    (
        "outbox",
        &[
            ("id", Int),
            ("recipient", Text),
            ("subject", Text),
            ("body", Text),
            ("created_at_us", Int),
            ("sent_at_us", Int),
        ],
        "id",
    ),
    (
        "operations",
        &[
            ("op_id", Text),
            ("kind", Text),
            ("target", Text),
            ("state", Text),
            ("staging", Text),
            ("dest", Text),
            ("resource", Text),
            ("finish", Text),
            ("pid", Int),
            ("started_at_us", Int),
            ("updated_at_us", Int),
            ("note", Text),
        ],
        "op_id",
    ),
];

/// Tables that must be empty in a target besides [`TABLES`].
const ALSO_EMPTY: &[&str] = &["sessions"];

/// Rows per INSERT statement (PostgreSQL takes at most 65,535 parameters).
const BATCH_ROWS: usize = 200;

/// What a copy moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Rows per table, in copy order.
    pub rows: Vec<(&'static str, u64)>,
    /// The ledger head both stores now share: sequence number and hash.
    pub head: (u64, String),
}

/// One value read from a row.
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Option<Vec<u8>>),
    Bool(Option<bool>),
}

impl Store {
    /// Copies this installation into `to` (see the module doc). Refuses a
    /// target that holds anything and a source with an operation still
    /// unfinished (`veto doctor` settles those first).
    pub async fn copy_to(&self, to: &Database) -> Result<CopyReport, StoreError> {
        if self.database() == to {
            return Err(StoreError::Refused(format!("{to} is the source itself")));
        }
        let target = crate::connect_migrated(to).await?;
        let result = copy_into(self, &target, to).await;
        target.close().await;
        result
    }
}

async fn copy_into(source: &Store, target: &AnyPool, to: &Database) -> Result<CopyReport, StoreError> {
    for table in TABLES.iter().map(|t| t.0).chain(ALSO_EMPTY.iter().copied()) {
        let any: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT 1 FROM {table} LIMIT 1")))
            .fetch_optional(target)
            .await?;
        if any.is_some() {
            return Err(StoreError::Refused(format!(
                "{to} is not empty (table {table} has rows): veto store copy writes only into an empty store"
            )));
        }
    }
    let mut read = source.read_tx().await?;
    let unfinished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM operations WHERE state NOT IN ('done', 'rolled_back')")
            .fetch_one(&mut *read)
            .await?;
    if unfinished > 0 {
        return Err(StoreError::Refused(format!(
            "{unfinished} operation(s) in the source are unfinished: let them end, or run `veto doctor`, then copy"
        )));
    }
    let mut write = target.begin_with(to.backend().begin_write()).await?;
    let mut rows = Vec::new();
    for (table, columns, order) in TABLES {
        let n = copy_table(&mut read, &mut write, table, columns, order).await?;
        rows.push((*table, n));
    }
    if to.backend() == Backend::Postgres {
        // Ids were copied as they are; the identity must continue after them.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('outbox', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM outbox), false)",
        )
        .execute(&mut *write)
        .await?;
    }
    let head = head_on(&mut read).await?;
    read.commit().await?;
    if head_on(&mut write).await? != head {
        return Err(StoreError::Internal(
            "the copied ledger head differs from the source's".into(),
        ));
    }
    write.commit().await?;
    Ok(CopyReport { rows, head })
}

/// The ledger's last sequence number and hash.
async fn head_on(tx: &mut Transaction<'_, Any>) -> Result<(u64, String), StoreError> {
    let row = sqlx::query("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
        .fetch_one(&mut **tx)
        .await?;
    Ok((row.try_get::<i64, _>("seq")? as u64, row.try_get("hash")?))
}

/// Streams `table` from `read` into `write` in batches; returns the rows.
async fn copy_table(
    read: &mut Transaction<'_, Any>,
    write: &mut Transaction<'_, Any>,
    table: &str,
    columns: &[(&str, Col)],
    order: &str,
) -> Result<u64, StoreError> {
    let select: Vec<String> = columns
        .iter()
        .map(|(name, col)| match col {
            Bool => format!("CASE WHEN {name} THEN 1 ELSE 0 END AS {name}"),
            _ => name.to_string(),
        })
        .collect();
    let sql = format!("SELECT {} FROM {table} ORDER BY {order}", select.join(", "));
    let mut stream = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut **read);
    let mut batch: Vec<Vec<Value>> = Vec::new();
    let mut n = 0;
    // Rows go to a Vec first: the read stream borrows `read` until it ends,
    // and a batch is written while it is open (the two are different
    // connections).
    while let Some(row) = stream.try_next().await? {
        batch.push(values(&row, columns)?);
        if batch.len() == BATCH_ROWS {
            n += insert(write, table, columns, std::mem::take(&mut batch)).await?;
        }
    }
    n += insert(write, table, columns, batch).await?;
    Ok(n)
}

fn values(row: &sqlx::any::AnyRow, columns: &[(&str, Col)]) -> Result<Vec<Value>, StoreError> {
    columns
        .iter()
        .map(|(name, col)| {
            Ok(match col {
                Text => Value::Text(row.try_get(*name)?),
                Int => Value::Int(row.try_get(*name)?),
                Bytes => Value::Bytes(row.try_get(*name)?),
                Bool => Value::Bool(row.try_get::<Option<i64>, _>(*name)?.map(|b| b != 0)),
            })
        })
        .collect()
}

async fn insert(
    write: &mut Transaction<'_, Any>,
    table: &str,
    columns: &[(&str, Col)],
    rows: Vec<Vec<Value>>,
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let width = columns.len();
    let tuples: Vec<String> = (0..rows.len())
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES {}",
        names.join(", "),
        tuples.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in rows.into_iter().flatten() {
        q = match v {
            Value::Text(t) => q.bind(t),
            Value::Int(i) => q.bind(i),
            Value::Bytes(b) => q.bind(b),
            Value::Bool(b) => q.bind(b),
        };
    }
    Ok(q.execute(&mut **write).await?.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns of `table` in the migrated schema, sorted.
    async fn schema_columns(store: &Store, table: &str) -> Vec<String> {
        let sql = match store.backend() {
            Backend::Sqlite => "SELECT name FROM pragma_table_info($1)",
            Backend::Postgres => {
                "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        };
        let mut names: Vec<String> = sqlx::query_scalar(sql)
            .bind(table)
            .fetch_all(store.pool())
            .await
            .unwrap();
        names.sort();
        names
    }

    /// A migration that adds a column must add it here too, or a copy
    /// would drop it without a word.
    #[tokio::test]
    async fn the_copy_knows_every_column_of_every_table() {
        let dir = tempfile::tempdir().unwrap();
        for store in crate::testing::stores(dir.path()).await {
            for (table, columns, _) in TABLES {
                let mut copied: Vec<String> = columns.iter().map(|c| c.0.to_string()).collect();
                copied.sort();
                assert_eq!(
                    copied,
                    schema_columns(&store, table).await,
                    "{table} on {}",
                    store.database()
                );
            }
            let tables_sql = match store.backend() {
                Backend::Sqlite => {
                    "SELECT name FROM sqlite_master WHERE type = 'table'
                     AND name NOT LIKE 'sqlite%' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\'"
                }
                Backend::Postgres => {
                    "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
                     WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'"
                }
            };
            let mut all: Vec<String> = sqlx::query_scalar(tables_sql).fetch_all(store.pool()).await.unwrap();
            all.sort();
            let mut known: Vec<String> = TABLES
                .iter()
                .map(|t| t.0)
                .chain(ALSO_EMPTY.iter().copied())
                .map(str::to_string)
                .collect();
            known.sort();
            assert_eq!(all, known, "every table is copied or named as left behind");
        }
    }
}
