//! Operations that change files and state together: build, train, unlearn.
//!
//! Every such operation follows one pattern, with named states (see
//! ARCHITECTURE.md, "Operation states"):
//!
//! 1. `intent`: a row records what is about to happen and where its files
//!    will be staged, before anything is written.
//! 2. `staged`: every file is written under the staging name and fsynced.
//! 3. `renamed`: the staging directory was renamed to its destination.
//! 4. `recorded`: one transaction recorded the result, its ledger entry and
//!    everything derived from it (lookup pages, model versions) and moved
//!    the operation to this state. This is the commit point.
//! 5. `done`: files derived from the record (a model's `model.json`) are
//!    written. Or `rolled_back`: nothing of it is left.
//!
//! A command that dies leaves its row short of `done`. The next command
//! recovers it ([`Store::recover`]): before the commit point it rolls back
//! (removes the staging directory, and the destination if the rename
//! happened), after it it rolls forward (rewrites the derived files). An
//! operation's owner holds `locks/op-<op_id>.lock` for its whole life, so a
//! recovery never touches the operation of a command that is still running.

use std::path::{Path, PathBuf};

use chrono::Utc;
use rand::RngCore;
use sqlx::{Row, Sqlite, Transaction};
use veto_core::time::to_micros;

use crate::lock::{self, Lock};
use crate::{Store, StoreError, fault};

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Build,
    Train,
    Unlearn,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Build => "build",
            OpKind::Train => "train",
            OpKind::Unlearn => "unlearn",
        }
    }
}

/// The states of an operation, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpState {
    Intent,
    Staged,
    Renamed,
    Recorded,
    Done,
    RolledBack,
}

impl OpState {
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Intent => "intent",
            OpState::Staged => "staged",
            OpState::Renamed => "renamed",
            OpState::Recorded => "recorded",
            OpState::Done => "done",
            OpState::RolledBack => "rolled_back",
        }
    }

    fn parse(s: &str) -> Result<OpState, StoreError> {
        Ok(match s {
            "intent" => OpState::Intent,
            "staged" => OpState::Staged,
            "renamed" => OpState::Renamed,
            "recorded" => OpState::Recorded,
            "done" => OpState::Done,
            "rolled_back" => OpState::RolledBack,
            other => return Err(StoreError::Corrupt(format!("operations.state {other:?}"))),
        })
    }
}

/// A running operation, owned by this process.
#[derive(Debug)]
pub struct Operation {
    pub op_id: String,
    pub kind: OpKind,
    staging: PathBuf,
    dest: Option<PathBuf>,
    state: OpState,
    finish: Vec<(PathBuf, String)>,
    lock: Option<Lock>,
}

impl Operation {
    /// Where the operation writes its files before the rename.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    pub fn state(&self) -> OpState {
        self.state
    }

    fn expect(&self, state: OpState) -> Result<(), StoreError> {
        if self.state == state {
            Ok(())
        } else {
            Err(StoreError::Internal(format!(
                "operation {} is {}, expected {}",
                self.op_id,
                self.state.as_str(),
                state.as_str()
            )))
        }
    }
}

/// What a recovery did with one operation left unfinished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    pub op_id: String,
    pub kind: String,
    pub target: String,
    /// The state it was left in.
    pub from: String,
    /// `rolled_back`, `done`, or `running` (its command is still alive).
    pub outcome: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn remove_dir(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `text` to `path` under a temporary name, fsyncs, renames.
fn write_atomic(path: &Path, text: &str) -> Result<(), StoreError> {
    use std::io::Write;
    let tmp = path.with_extension("recover-tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(&parent(path))
}

impl Store {
    async fn set_state(&self, op_id: &str, state: OpState, dest: Option<&Path>) -> Result<(), StoreError> {
        sqlx::query("UPDATE operations SET state = ?, dest = coalesce(?, dest), updated_at_us = ? WHERE op_id = ?")
            .bind(state.as_str())
            .bind(dest.map(|d| d.display().to_string()))
            .bind(to_micros(Utc::now()))
            .bind(op_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records the intent of an operation on `target` whose files will be
    /// staged in `<staging_parent>/.<kind>-<op_id>.staging` (created here).
    pub async fn begin_operation(
        &self,
        kind: OpKind,
        target: &str,
        staging_parent: &Path,
    ) -> Result<Operation, StoreError> {
        let mut id = [0u8; 12];
        rand::rng().fill_bytes(&mut id);
        let op_id = hex::encode(id);
        let lock = lock::try_acquire(self.home(), &format!("op-{op_id}"), kind.as_str())?
            .ok_or_else(|| StoreError::Internal(format!("fresh operation lock op-{op_id} is held")))?;
        let staging = staging_parent.join(format!(".{}-{op_id}.staging", kind.as_str()));
        let now = to_micros(Utc::now());
        sqlx::query(
            "INSERT INTO operations (op_id, kind, target, state, staging, pid, started_at_us, updated_at_us)
             VALUES (?, ?, ?, 'intent', ?, ?, ?, ?)",
        )
        .bind(&op_id)
        .bind(kind.as_str())
        .bind(target)
        .bind(staging.display().to_string())
        .bind(i64::from(std::process::id()))
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        fault::point(kind.as_str(), "intent");
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(Operation {
            op_id,
            kind,
            staging,
            dest: None,
            state: OpState::Intent,
            finish: Vec::new(),
            lock: Some(lock),
        })
    }

    /// Every file is in the staging directory and fsynced.
    pub async fn operation_staged(&self, op: &mut Operation) -> Result<(), StoreError> {
        op.expect(OpState::Intent)?;
        fault::point(op.kind.as_str(), "files");
        self.set_state(&op.op_id, OpState::Staged, None).await?;
        op.state = OpState::Staged;
        fault::point(op.kind.as_str(), "staged");
        Ok(())
    }

    /// Renames the staging directory to `dest` (which must not exist), under
    /// the lock `resource` that the caller holds.
    pub async fn operation_rename(&self, op: &mut Operation, dest: &Path, resource: &str) -> Result<(), StoreError> {
        op.expect(OpState::Staged)?;
        if dest.exists() {
            return Err(StoreError::Refused(format!(
                "{} already exists; nothing was overwritten",
                dest.display()
            )));
        }
        // Destination and lock before the rename: a command killed right
        // after it is still in state staged, and its recovery must find the
        // files (at dest, once the staging directory is gone) and hold the
        // same lock as anyone who uses dest.
        sqlx::query("UPDATE operations SET resource = ?, dest = ? WHERE op_id = ?")
            .bind(resource)
            .bind(dest.display().to_string())
            .bind(&op.op_id)
            .execute(self.pool())
            .await?;
        std::fs::rename(&op.staging, dest).map_err(io(dest))?;
        op.dest = Some(dest.to_path_buf());
        sync_dir(&parent(dest))?;
        fault::point(op.kind.as_str(), "rename");
        self.set_state(&op.op_id, OpState::Renamed, Some(dest)).await?;
        op.state = OpState::Renamed;
        fault::point(op.kind.as_str(), "renamed");
        Ok(())
    }

    /// Inside the caller's record transaction: the operation is recorded,
    /// and `finish` (files derived from the record) is what a recovery
    /// rewrites if the command dies before it has.
    pub(crate) async fn operation_recorded(
        tx: &mut Transaction<'_, Sqlite>,
        op: &Operation,
        finish: &[(PathBuf, String)],
    ) -> Result<(), StoreError> {
        if op.state != OpState::Renamed && op.state != OpState::Staged {
            return Err(StoreError::Internal(format!(
                "operation {} recorded from state {}",
                op.op_id,
                op.state.as_str()
            )));
        }
        let finish: Vec<(String, &str)> = finish
            .iter()
            .map(|(p, t)| (p.display().to_string(), t.as_str()))
            .collect();
        sqlx::query("UPDATE operations SET state = 'recorded', finish = ?, updated_at_us = ? WHERE op_id = ?")
            .bind(serde_json::to_string(&finish).map_err(|e| StoreError::Internal(e.to_string()))?)
            .bind(to_micros(Utc::now()))
            .bind(&op.op_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// After the record transaction committed.
    pub(crate) fn operation_committed(op: &mut Operation, finish: Vec<(PathBuf, String)>) {
        op.state = OpState::Recorded;
        op.finish = finish;
        fault::point(op.kind.as_str(), "recorded");
    }

    /// Writes the derived files and marks the operation done.
    pub async fn finish_operation(&self, mut op: Operation) -> Result<(), StoreError> {
        op.expect(OpState::Recorded)?;
        for (path, text) in &op.finish {
            write_atomic(path, text)?;
        }
        fault::point(op.kind.as_str(), "finish");
        self.set_state(&op.op_id, OpState::Done, None).await?;
        if let Some(lock) = op.lock.take() {
            lock.release_and_remove();
        }
        Ok(())
    }

    /// Ends an operation that turned out to have nothing to record (an
    /// identical snapshot already on file): its staging directory goes.
    pub async fn abandon_operation(&self, op: Operation, note: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE operations SET note = ? WHERE op_id = ?")
            .bind(note)
            .bind(&op.op_id)
            .execute(self.pool())
            .await?;
        self.roll_back(op).await
    }

    /// Undoes an operation that failed before its commit point: removes the
    /// staging directory and, if the rename happened, the destination.
    pub async fn roll_back(&self, mut op: Operation) -> Result<(), StoreError> {
        if op.state >= OpState::Recorded {
            return Err(StoreError::Internal(format!(
                "operation {} rolled back after its commit point",
                op.op_id
            )));
        }
        remove_dir(&op.staging)?;
        if let Some(dest) = &op.dest {
            remove_dir(dest)?;
        }
        self.set_state(&op.op_id, OpState::RolledBack, None).await?;
        if let Some(lock) = op.lock.take() {
            lock.release_and_remove();
        }
        Ok(())
    }
}

/// An unfinished operation as read back.
struct Unfinished {
    op_id: String,
    kind: String,
    target: String,
    state: OpState,
    staging: PathBuf,
    dest: Option<PathBuf>,
    resource: Option<String>,
    finish: Vec<(PathBuf, String)>,
}

impl Store {
    async fn unfinished(&self, op_id: Option<&str>) -> Result<Vec<Unfinished>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM operations WHERE state NOT IN ('done', 'rolled_back') AND (? IS NULL OR op_id = ?)
             ORDER BY started_at_us, op_id",
        )
        .bind(op_id)
        .bind(op_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let finish: Vec<(String, String)> = serde_json::from_str(&r.try_get::<String, _>("finish")?)
                    .map_err(|e| StoreError::Corrupt(format!("operations.finish: {e}")))?;
                Ok(Unfinished {
                    op_id: r.try_get("op_id")?,
                    kind: r.try_get("kind")?,
                    target: r.try_get("target")?,
                    state: OpState::parse(&r.try_get::<String, _>("state")?)?,
                    staging: PathBuf::from(r.try_get::<String, _>("staging")?),
                    dest: r.try_get::<Option<String>, _>("dest")?.map(PathBuf::from),
                    resource: r.try_get("resource")?,
                    finish: finish.into_iter().map(|(p, t)| (PathBuf::from(p), t)).collect(),
                })
            })
            .collect()
    }

    /// Finds operations whose command died and completes or rolls back each
    /// (see the module doc). `holding` names a resource lock this process
    /// already holds. Operations of live commands are reported as `running`.
    pub async fn recover(&self, holding: Option<&str>) -> Result<Vec<Recovered>, StoreError> {
        let mut report = Vec::new();
        for candidate in self.unfinished(None).await? {
            let Some(op_lock) = lock::try_acquire(self.home(), &format!("op-{}", candidate.op_id), "recovery")? else {
                report.push(recovered(&candidate, "running"));
                continue;
            };
            // Read again under the lock: its owner may have just finished.
            let Some(op) = self.unfinished(Some(&candidate.op_id)).await?.pop() else {
                op_lock.release_and_remove();
                continue;
            };
            let _resource = match op.resource.as_deref() {
                Some(r) if op.dest.is_some() && Some(r) != holding => {
                    match lock::try_acquire(self.home(), r, "recovery")? {
                        Some(l) => Some(l),
                        // Someone uses the resource; they recover it when
                        // they next start, or the next command does.
                        None => {
                            report.push(recovered(&op, "running"));
                            continue;
                        }
                    }
                }
                _ => None,
            };
            let outcome = self.settle(&op).await?;
            report.push(recovered(&op, outcome.as_str()));
            op_lock.release_and_remove();
        }
        Ok(report)
    }

    async fn settle(&self, op: &Unfinished) -> Result<OpState, StoreError> {
        let outcome = if op.state >= OpState::Recorded {
            for (path, text) in &op.finish {
                write_atomic(path, text)?;
            }
            OpState::Done
        } else {
            // The rename happened if the state says so, or if it was about
            // to (dest set) and the staging directory is gone.
            let renamed = op.state == OpState::Renamed || (op.dest.is_some() && !op.staging.exists());
            remove_dir(&op.staging)?;
            if renamed && let Some(dest) = &op.dest {
                remove_dir(dest)?;
            }
            OpState::RolledBack
        };
        sqlx::query("UPDATE operations SET state = ?, note = ?, updated_at_us = ? WHERE op_id = ?")
            .bind(outcome.as_str())
            .bind(format!("recovered from {}", op.state.as_str()))
            .bind(to_micros(Utc::now()))
            .bind(&op.op_id)
            .execute(self.pool())
            .await?;
        Ok(outcome)
    }
}

fn recovered(op: &Unfinished, outcome: &str) -> Recovered {
    Recovered {
        op_id: op.op_id.clone(),
        kind: op.kind.clone(),
        target: op.target.clone(),
        from: op.state.as_str().to_string(),
        outcome: outcome.to_string(),
    }
}
