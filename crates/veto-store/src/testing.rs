//! Databases for tests, on every backend this machine can run.
//!
//! SQLite always; PostgreSQL when `VETO_TEST_DATABASE_URL` names a server
//! (`postgres://USER@HOST:PORT/DB`, a role that may create databases):
//! each call then creates a fresh, empty database in it, so tests never see
//! each other's rows. Without the variable the PostgreSQL half of a test is
//! skipped with one line on stderr saying how to run it (`test.sh` starts a
//! throwaway server itself where PostgreSQL is installed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, Executor};

use crate::{Database, Store};

/// The variable naming the PostgreSQL server tests may create databases in.
pub const TEST_DATABASE_ENV: &str = "VETO_TEST_DATABASE_URL";

/// Set to `sqlite` to run the tests that take one backend per home
/// ([`database`]) on SQLite although a PostgreSQL server is configured.
pub const TEST_BACKEND_ENV: &str = "VETO_TEST_BACKEND";

/// The database chosen for each test home by [`database`].
static CHOSEN: Mutex<BTreeMap<PathBuf, Database>> = Mutex::new(BTreeMap::new());

/// The one database of the test installation at `home`, chosen at the
/// first call and the same at every later one: a fresh PostgreSQL database
/// where a server is configured (and `VETO_TEST_BACKEND` is not `sqlite`),
/// else the SQLite file under `home`. For tests that run a whole portal
/// once rather than every step on each backend.
pub async fn database(home: &Path) -> Database {
    if let Some(db) = CHOSEN.lock().expect("test databases").get(home) {
        return db.clone();
    }
    let db = match std::env::var(TEST_BACKEND_ENV).as_deref() {
        Ok("sqlite") => None,
        _ => fresh_postgres().await,
    }
    .unwrap_or_else(|| Database::default_for(home));
    CHOSEN
        .lock()
        .expect("test databases")
        .entry(home.to_path_buf())
        .or_insert(db)
        .clone()
}

/// Opens the store of the test installation at `home` on [`database`].
pub async fn open(home: &Path) -> Store {
    let db = database(home).await;
    Store::open_at(home, &db)
        .await
        .unwrap_or_else(|e| panic!("opening the test store on {db}: {e}"))
}

/// A fresh, empty PostgreSQL database, or None (with the line saying the
/// PostgreSQL tests were skipped) when `VETO_TEST_DATABASE_URL` is unset.
/// Panics when the server named cannot be reached: a test that was asked to
/// run against it must not pass without it.
pub async fn fresh_postgres() -> Option<Database> {
    let Ok(admin) = std::env::var(TEST_DATABASE_ENV) else {
        eprintln!(
            "PostgreSQL half of this test skipped: set {TEST_DATABASE_ENV}=postgres://USER@HOST:PORT/DB to run it"
        );
        return None;
    };
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "veto_test_{}_{}_{:08x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("{TEST_DATABASE_ENV}: cannot connect: {e}"));
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap_or_else(|e| panic!("{TEST_DATABASE_ENV}: CREATE DATABASE {name}: {e}"));
    conn.close().await.ok();
    Some(Database::Postgres(with_database(&admin, &name)))
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A store on each backend this machine runs, each with a home of its own
/// under `dir` (`sqlite/`, `postgres/`).
pub async fn stores(dir: &Path) -> Vec<Store> {
    let sqlite_home = dir.join("sqlite");
    let mut homes = vec![(sqlite_home.clone(), Database::default_for(&sqlite_home))];
    homes.extend(fresh_postgres().await.map(|pg| (dir.join("postgres"), pg)));
    let mut out = Vec::new();
    for (home, database) in homes {
        let store = Store::open_at(&home, &database)
            .await
            .unwrap_or_else(|e| panic!("opening the test store on {database}: {e}"));
        out.push(store);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_is_replaced_and_options_kept() {
        assert_eq!(
            super::with_database("postgres://veto@127.0.0.1:5432/postgres?sslmode=disable", "t1"),
            "postgres://veto@127.0.0.1:5432/t1?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://veto@h:1", "t2"),
            "postgres://veto@h:1/t2"
        );
    }
}
