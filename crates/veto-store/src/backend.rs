//! Which database a store lives in, and the few places where the SQL of the
//! two backends differs.
//!
//! The store talks to both through `sqlx::Any`: one set of portable SQL
//! (`$N` placeholders, integers of UTC microseconds, text and bytes), with
//! the schema in per-backend migrations (`migrations/sqlite/`,
//! `migrations/postgres/`). What cannot be portable — how a write
//! transaction serialises against other processes, a JSON aggregate, the
//! catalogue — is a method here, so a third backend is one more arm in
//! each `match` and one more migrations folder.

use std::fmt;
use std::path::{Path, PathBuf};

/// The file name of the embedded database under the veto home.
pub const DB_FILE: &str = "veto.db";

/// A store's database, as given by `--database` / `VETO_DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (`sqlite://PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`).
    Postgres(String),
}

/// The backend a [`Database`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Database {
    /// The embedded default: `<home>/veto.db`.
    pub fn default_for(home: &Path) -> Database {
        Database::Sqlite(home.join(DB_FILE))
    }

    /// Parses `sqlite://PATH` or `postgres://…` (also `postgresql://…`).
    /// A relative SQLite path is relative to the working directory.
    pub fn parse(url: &str) -> Result<Database, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite:///var/lib/veto/veto.db".into());
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_string()));
        }
        Err(format!(
            "database URL {:?}: expected sqlite://PATH or postgres://USER@HOST:PORT/DB",
            redact(url)
        ))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }
}

/// The URL with any password replaced by `***`: it goes into errors and logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Database::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// Debug is Display: a derived one would print the password.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A key for PostgreSQL's transaction-scoped advisory lock that every
/// write transaction takes first ("veto" in ASCII): writers from any number
/// of processes run one after another, so the ledger's head is read and
/// extended by one of them at a time and the chain cannot fork.
const WRITE_LOCK_KEY: i64 = 0x7665_746f;

impl Backend {
    /// The statement that begins a write transaction. SQLite's IMMEDIATE
    /// takes the database's write lock at BEGIN; PostgreSQL begins plainly
    /// and then takes [`Backend::write_lock`].
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// What a write transaction runs right after BEGIN, if anything.
    pub(crate) fn write_lock(self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(format!("SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")),
        }
    }

    /// The statement that begins a read transaction that sees one state of
    /// the database throughout (SQLite's deferred transactions already do;
    /// PostgreSQL's default READ COMMITTED does not).
    pub(crate) fn begin_read(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ",
        }
    }

    /// A JSON array of `columns` (a comma-separated list) per row of
    /// `from` (a subquery ordered as wanted, aliased `t`), as one text.
    pub(crate) fn json_rows(self, columns: &str, from: &str) -> String {
        match self {
            Backend::Sqlite => format!("SELECT coalesce(json_group_array(json_array({columns})), '[]') FROM {from}"),
            // json_agg keeps the order the subquery delivers only with an
            // ORDER BY of its own; callers order by their first column.
            Backend::Postgres => {
                let first = columns.split(',').next().unwrap_or(columns).trim();
                format!(
                    "SELECT coalesce(json_agg(json_build_array({columns}) ORDER BY {first}), '[]')::text FROM {from}"
                )
            }
        }
    }

    /// `rows` tuples of `cols` placeholders from `$1` on, for a multi-row
    /// `INSERT ... VALUES`. By hand: `QueryBuilder<Any>` writes `?`, which
    /// PostgreSQL does not take.
    pub(crate) fn values(rows: usize, cols: usize) -> String {
        let mut out = String::with_capacity(rows * cols * 5);
        for r in 0..rows {
            out.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..cols {
                if c > 0 {
                    out.push_str(", ");
                }
                out.push_str(&format!("${}", r * cols + c + 1));
            }
            out.push(')');
        }
        out
    }

    /// The values of a JSON array of texts bound as parameter `param`.
    pub(crate) fn json_texts(self, param: &str) -> String {
        match self {
            Backend::Sqlite => format!("SELECT value FROM json_each({param})"),
            Backend::Postgres => format!("SELECT json_array_elements_text(CAST({param} AS json))"),
        }
    }

    /// Whether a table exists (for migrations of old SQLite layouts).
    pub(crate) fn table_exists_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1",
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_passwords_never_print() {
        assert_eq!(
            Database::parse("sqlite:///var/lib/veto/veto.db").unwrap(),
            Database::Sqlite("/var/lib/veto/veto.db".into())
        );
        let pg = Database::parse("postgres://veto:s3cret@127.0.0.1:5432/veto").unwrap();
        assert_eq!(pg.backend(), Backend::Postgres);
        assert_eq!(pg.to_string(), "postgres://veto:***@127.0.0.1:5432/veto");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let err = Database::parse("mysql://root:hunter2@db/veto").unwrap_err();
        assert!(err.contains("expected sqlite://PATH or postgres://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(Database::parse("sqlite://").is_err());
    }
}
