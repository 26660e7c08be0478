//! veto-store: the state veto keeps between commands — objections on file,
//! the snapshots built, the per-person lookup of every snapshot, the
//! transparency ledger ([`ledger`]) with its signing key, and the
//! installation secret that keys doc ids, shards and person refs.
//!
//! SQLite (one file under the veto home) is the embedded default;
//! PostgreSQL ([`backend::Database::Postgres`]) serves several processes on
//! one database. All SQL is portable and every time is an integer of UTC
//! microseconds; what differs between the backends is in [`backend`] and
//! in their migrations.
//!
//! Durability: SQLite runs in WAL mode with `synchronous = FULL` and
//! PostgreSQL commits synchronously, so a call that returned has been
//! fsynced.

pub mod accounts;
pub mod backend;
pub mod certificates;
pub mod copy;
pub mod fault;
pub mod ledger;
pub mod lock;
pub mod lookup;
pub mod models;
pub mod operations;
pub mod pending;
pub mod portal;
pub mod reviews;
pub mod snapshots;
pub mod subjects;
pub mod testing;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rand::RngCore;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

pub use backend::{Backend, Database};
pub use snapshots::SnapshotRecord;
use veto_core::time::{from_micros, to_micros};
use veto_core::{Objection, ThirdParty};

/// Errors from the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {database}: {source}")]
    Open { database: Database, source: sqlx::Error },
    #[error("state store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("state store: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("objection {objection_id} is already on file with different content")]
    ConflictingObjection { objection_id: String },
    #[error("state store holds a value it cannot read: {0}")]
    Corrupt(String),
    #[error("snapshot {0} is not on record")]
    UnknownSnapshot(String),
    #[error("model {0} is not on record")]
    UnknownModel(String),
    /// `error` is not a `source`: the message already names it, and a
    /// chain would print it twice.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    /// The request cannot be carried out as asked; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// A bug in veto, not a problem with the input.
    #[error("internal error (a bug in veto): {0}")]
    Internal(String),
}

/// Counts from importing objections.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportCounts {
    pub added: u64,
    /// Already on file with identical content (a re-import is harmless).
    pub unchanged: u64,
}

/// The objections on file and the ledger position they were read at.
#[derive(Debug, Clone)]
pub struct ObjectionsRead {
    pub objections: Vec<Objection>,
    /// The ledger's last sequence number in the same read transaction: every
    /// objection entry up to it is in `objections`, none after it.
    pub ledger_seq: u64,
}

/// The state store of one veto installation.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    database: Database,
    /// The veto home: lock files, snapshots, models (and by default the
    /// database).
    home: PathBuf,
    /// The installation secret and signing key, read once per process: they
    /// are on every hot path (doc ids, person refs, receipts). A key rotation
    /// by another process takes effect here at the next start.
    keys: std::sync::Arc<std::sync::Mutex<Keys>>,
}

#[derive(Default, Debug)]
struct Keys {
    secret: Option<Vec<u8>>,
    // The key itself, not its seed: making a SigningKey from a seed derives
    // the public key, a scalar multiplication as dear as the signature.
    signing: Option<ed25519_dalek::SigningKey>,
}

impl Store {
    /// Opens (creating if needed) the embedded store, `<home>/veto.db`.
    pub async fn open(home: &Path) -> Result<Store, StoreError> {
        Store::open_at(home, &Database::default_for(home)).await
    }

    /// Opens (creating a SQLite file if needed) the store in `database`
    /// for the installation at `home`, migrates it, and makes sure the
    /// installation has a secret.
    pub async fn open_at(home: &Path, database: &Database) -> Result<Store, StoreError> {
        let open_err = |source: sqlx::Error| StoreError::Open {
            database: database.clone(),
            source,
        };
        std::fs::create_dir_all(home).map_err(|e| open_err(e.into()))?;
        let pool = connect_migrated(database).await?;
        let backend = database.backend();
        let store = Store {
            pool,
            backend,
            database: database.clone(),
            home: home.to_path_buf(),
            keys: Default::default(),
        };
        store.ensure_secret().await?;
        store.ensure_ledger().await?;
        store.repack_legacy_lookup().await?;
        Ok(store)
    }

    async fn ensure_secret(&self) -> Result<(), StoreError> {
        for key in ["secret", "signing_key"] {
            let mut value = [0u8; 32];
            rand::rng().fill_bytes(&mut value);
            sqlx::query("INSERT INTO installation (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(hex::encode(value))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn installation_value(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let row = sqlx::query("SELECT value FROM installation WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        let value: String = row.try_get("value")?;
        hex::decode(value).map_err(|e| StoreError::Corrupt(format!("installation {key}: {e}")))
    }

    /// The installation secret that keys doc ids and shard assignment. It
    /// never leaves the store except into the build that uses it.
    pub async fn secret(&self) -> Result<Vec<u8>, StoreError> {
        if let Some(s) = self.keys.lock().expect("keys lock").secret.clone() {
            return Ok(s);
        }
        let secret = self.installation_value("secret").await?;
        self.keys.lock().expect("keys lock").secret = Some(secret.clone());
        Ok(secret)
    }

    /// Adds objections in one transaction: all or none. An objection already
    /// on file with identical content is skipped; with different content the
    /// whole import is refused.
    pub async fn import_objections(&self, objections: &[Objection]) -> Result<ImportCounts, StoreError> {
        self.import_objection_file(objections, &[])
            .await
            .map(|(persons, _)| persons)
    }

    /// Records a whole objection file, users' objections and subject lines,
    /// in one transaction: all of it or nothing. Returns the counts of each.
    pub async fn import_objection_file(
        &self,
        objections: &[Objection],
        subjects: &[veto_core::SubjectObjection],
    ) -> Result<(ImportCounts, ImportCounts), StoreError> {
        let secret = self.secret().await?;
        let mut tx = self.write_tx().await?;
        let mut counts = ImportCounts::default();
        let now = to_micros(Utc::now());
        for o in objections {
            let existing = sqlx::query("SELECT * FROM objections WHERE objection_id = $1")
                .bind(&o.objection_id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = existing {
                if objection_from_row(&row)? == *o {
                    counts.unchanged += 1;
                    continue;
                }
                return Err(StoreError::ConflictingObjection {
                    objection_id: o.objection_id.clone(),
                });
            }
            // One id names one objection, a user's or a subject's.
            let subject = sqlx::query("SELECT 1 FROM subject_objections WHERE objection_id = $1")
                .bind(&o.objection_id)
                .fetch_optional(&mut *tx)
                .await?;
            if subject.is_some() {
                return Err(StoreError::ConflictingObjection {
                    objection_id: o.objection_id.clone(),
                });
            }
            sqlx::query(
                "INSERT INTO objections (objection_id, person_id, scope, filed_at_us, withdrawn_at_us, channel, recorded_at_us)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&o.objection_id)
            .bind(&o.person_id)
            .bind(o.scope.as_str())
            .bind(to_micros(o.filed_at))
            .bind(o.withdrawn_at.map(to_micros))
            .bind(o.channel.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ledger::append_objection(&mut tx, &secret, o).await?;
            counts.added += 1;
        }
        let subject_counts = subjects::insert(&mut tx, &secret, subjects).await?;
        fault::point("import", "insert");
        tx.commit().await?;
        fault::point("import", "commit");
        Ok((counts, subject_counts))
    }

    /// Every objection on file, ordered by id.
    pub async fn objections(&self) -> Result<Vec<Objection>, StoreError> {
        Ok(self.objections_read().await?.objections)
    }

    /// Every objection on file with the ledger position it was read at, in
    /// one read transaction (what a build considered).
    pub async fn objections_read(&self) -> Result<ObjectionsRead, StoreError> {
        let mut tx = self.read_tx().await?;
        let read = objections_on(self.backend, &mut tx, None).await?;
        tx.commit().await?;
        Ok(read)
    }

    /// Every objection of each person who has one filed after `as_of` or
    /// among `unseen` (ids): the only persons whose included data an
    /// objection can reach after a build at `as_of` (the rule itself is
    /// `veto_core::rules::may_apply_after`, which unlearning applies to what
    /// this returns; this read only spares it the other objectors, 0.2 s at
    /// 175,000 objections). `unseen = None` reads every objection.
    pub async fn objections_of_late_objectors(
        &self,
        as_of: DateTime<Utc>,
        unseen: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<Vec<Objection>, StoreError> {
        let Some(unseen) = unseen else {
            return self.objections().await;
        };
        let ids = serde_json::to_string(unseen).map_err(|e| StoreError::Internal(format!("objection ids: {e}")))?;
        let mut tx = self.read_tx().await?;
        let filter = ObjectionFilter::LateOrUnseen {
            as_of_us: to_micros(as_of),
            unseen_ids: ids,
        };
        let read = objections_on(self.backend, &mut tx, Some(filter)).await?;
        tx.commit().await?;
        Ok(read.objections)
    }

    /// What a build reads from the store, in one read transaction: every
    /// objection with the ledger position, and the third parties in force
    /// at `as_of`, so an import between the two reads cannot make them
    /// disagree.
    pub async fn build_inputs(&self, as_of: DateTime<Utc>) -> Result<(ObjectionsRead, Vec<ThirdParty>), StoreError> {
        let mut tx = self.read_tx().await?;
        let read = objections_on(self.backend, &mut tx, None).await?;
        let third_parties = subjects::third_parties_on(&mut tx, as_of).await?;
        tx.commit().await?;
        Ok((read, third_parties))
    }
}

/// Which objections [`objections_on`] reads.
enum ObjectionFilter {
    /// All objections of the persons with one filed after `as_of_us` or
    /// whose id is in `unseen_ids` (a JSON array).
    LateOrUnseen { as_of_us: i64, unseen_ids: String },
}

/// [`Store::objections_read`] inside `tx`; `filter` narrows it.
async fn objections_on(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    filter: Option<ObjectionFilter>,
) -> Result<ObjectionsRead, StoreError> {
    // One row holding every objection as a JSON array: sqlx hands each
    // result row over from its worker thread, about 2 µs a row, which
    // made this read 0.4 s of every build at 175,000 objections; SQLite
    // builds the array in about a third of that.
    const COLUMNS: &str = "objection_id, person_id, scope, filed_at_us, withdrawn_at_us, channel";
    let json: String = match filter {
        None => {
            let sql = backend.json_rows(COLUMNS, "(SELECT * FROM objections ORDER BY objection_id) AS t");
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut **tx)
                .await?
        }
        Some(ObjectionFilter::LateOrUnseen { as_of_us, unseen_ids }) => {
            let from = format!(
                "(SELECT * FROM objections WHERE person_id IN
                    (SELECT person_id FROM objections WHERE filed_at_us > $1 OR objection_id IN ({}))
                  ORDER BY objection_id) AS t",
                backend.json_texts("$2")
            );
            sqlx::query_scalar(sqlx::AssertSqlSafe(backend.json_rows(COLUMNS, &from)))
                .bind(as_of_us)
                .bind(unseen_ids)
                .fetch_one(&mut **tx)
                .await?
        }
    };
    let ledger_seq: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM ledger")
        .fetch_one(&mut **tx)
        .await?;
    let rows: Vec<ObjectionColumns> =
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("objections: {e}")))?;
    Ok(ObjectionsRead {
        objections: rows.into_iter().map(objection_from_columns).collect::<Result<_, _>>()?,
        ledger_seq: ledger_seq as u64,
    })
}

impl Store {
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database this store lives in (Display hides a password).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The veto home this store lives in.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// A write transaction that holds the store's one write lock from its
    /// start (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock): a
    /// transaction that reads first (the ledger's last sequence number) and
    /// writes later is then serialised against every other writer in any
    /// process, so the ledger gets one chain.
    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        if let Some(lock) = self.backend.write_lock() {
            sqlx::query(sqlx::AssertSqlSafe(lock)).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// A read transaction that sees one state of the store throughout.
    pub(crate) async fn read_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(self.pool.begin_with(self.backend.begin_read()).await?)
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// A pool on `database` with the schema migrated to this version (and
/// nothing else: no secret, no ledger).
pub(crate) async fn connect_migrated(database: &Database) -> Result<AnyPool, StoreError> {
    let pool = connect(database).await.map_err(|source| StoreError::Open {
        database: database.clone(),
        source,
    })?;
    match database.backend() {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
    }
    Ok(pool)
}

/// A pool on `database`. SQLite: WAL with `synchronous = FULL`, foreign
/// keys on, and a long busy timeout (a build records thousands of lookup
/// pages in one transaction; other writers wait for it rather than fail).
async fn connect(database: &Database) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    match database {
        Database::Sqlite(path) => {
            use sqlx::ConnectOptions;
            let path = std::path::absolute(path)?;
            let url = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .to_url_lossy();
            let pool = AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 120000; PRAGMA foreign_keys = ON",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(url.as_str())
                .await?;
            // Persistent in the file: once per open is enough.
            pool.execute("PRAGMA journal_mode = WAL").await?;
            Ok(pool)
        }
        Database::Postgres(url) => AnyPoolOptions::new().max_connections(8).connect(url).await,
    }
}

/// An objection's stored columns: id, person, scope, filed and withdrawn
/// (UTC microseconds), channel.
type ObjectionColumns = (String, String, String, i64, Option<i64>, String);

fn objection_from_columns(columns: ObjectionColumns) -> Result<Objection, StoreError> {
    let (objection_id, person_id, scope, filed_us, withdrawn_us, channel) = columns;
    let corrupt = |field: &str, e: String| StoreError::Corrupt(format!("objections.{field}: {e}"));
    Ok(Objection {
        objection_id,
        person_id,
        scope: veto_core::ObjectionScope::from_str(&scope).map_err(|e| corrupt("scope", e))?,
        filed_at: from_micros(filed_us),
        withdrawn_at: withdrawn_us.map(from_micros),
        channel: veto_core::Channel::from_str(&channel).map_err(|e| corrupt("channel", e))?,
    })
}

pub(crate) fn objection_from_row(row: &sqlx::any::AnyRow) -> Result<Objection, StoreError> {
    objection_from_columns((
        row.try_get("objection_id")?,
        row.try_get("person_id")?,
        row.try_get("scope")?,
        row.try_get("filed_at_us")?,
        row.try_get("withdrawn_at_us")?,
        row.try_get("channel")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use veto_core::{Channel, ObjectionScope};

    fn objection(id: &str, scope: ObjectionScope) -> Objection {
        Objection {
            objection_id: id.into(),
            person_id: "p-1".into(),
            scope,
            filed_at: veto_core::time::parse_rfc3339("2025-05-20T10:00:00+02:00").unwrap(),
            withdrawn_at: None,
            channel: Channel::Web,
        }
    }

    #[tokio::test]
    async fn objections_survive_a_reopen_and_the_secret_is_stable() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).await.unwrap();
        let secret = store.secret().await.unwrap();
        assert_eq!(secret.len(), 32);
        let counts = store
            .import_objections(&[objection("o-1", ObjectionScope::All)])
            .await
            .unwrap();
        assert_eq!(counts, ImportCounts { added: 1, unchanged: 0 });
        store.close().await;

        let store = Store::open(home.path()).await.unwrap();
        assert_eq!(store.secret().await.unwrap(), secret);
        assert_eq!(
            store.objections().await.unwrap(),
            vec![objection("o-1", ObjectionScope::All)]
        );
    }

    #[tokio::test]
    async fn every_field_of_every_objection_reads_back_in_id_order() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).await.unwrap();
        assert_eq!(store.objections().await.unwrap(), vec![], "none on file");
        let mut withdrawn = objection("o-2", ObjectionScope::Instagram);
        withdrawn.person_id = "p-\"quoted\" ü".into();
        withdrawn.channel = Channel::Letter;
        withdrawn.withdrawn_at = Some(withdrawn.filed_at + chrono::Duration::microseconds(1_234_567));
        let plain = objection("o-10", ObjectionScope::All);
        store
            .import_objections(&[withdrawn.clone(), plain.clone()])
            .await
            .unwrap();
        // Text order of the ids: "o-10" before "o-2".
        assert_eq!(store.objections().await.unwrap(), vec![plain, withdrawn]);
    }

    #[tokio::test]
    async fn a_conflicting_reimport_changes_nothing() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).await.unwrap();
        store
            .import_objections(&[objection("o-1", ObjectionScope::All)])
            .await
            .unwrap();
        let again = store
            .import_objections(&[objection("o-1", ObjectionScope::All)])
            .await
            .unwrap();
        assert_eq!(again, ImportCounts { added: 0, unchanged: 1 });
        let err = store
            .import_objections(&[
                objection("o-2", ObjectionScope::All),
                objection("o-1", ObjectionScope::Facebook),
            ])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ConflictingObjection { ref objection_id } if objection_id == "o-1"));
        // o-2 came before the conflict in the same import and must not stay.
        assert_eq!(store.objections().await.unwrap().len(), 1);
    }
}
