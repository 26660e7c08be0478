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
use sqlx::{Any, Row, Transaction};
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
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
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

/// Writes `text` to `path` under a temporary name, fsyncs, renames. Errors
/// name `path`, the file a person knows.
fn write_atomic(path: &Path, text: &str) -> Result<(), StoreError> {
    use std::io::Write;
    let tmp = path.with_extension("recover-tmp");
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    sync_dir(&parent(path))
}

/// The file inside an operation's staging directory that names it. It
/// travels with the rename, so a recovery removes a destination only if the
/// marker says the files there are this operation's: never a directory it
/// did not create, whatever happened around the rename.
fn marker(dir: &Path, op_id: &str) -> PathBuf {
    dir.join(format!(".veto-op-{op_id}"))
}

/// Whether a file name is an operation marker (not part of the output).
pub fn is_marker(name: &str) -> bool {
    name.starts_with(".veto-op-")
}

fn remove_marker(dest: Option<&Path>, op_id: &str) -> Result<(), StoreError> {
    let Some(dest) = dest else { return Ok(()) };
    let m = marker(dest, op_id);
    match std::fs::remove_file(&m) {
        Ok(()) => sync_dir(dest),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(&m)(e)),
    }
}

/// Removes what an operation short of its commit point left: its staging
/// directory (named after it) and its destination if the marker shows the
/// rename happened.
fn undo_files(op_id: &str, staging: &Path, dest: Option<&Path>) -> Result<(), StoreError> {
    remove_dir(staging)?;
    if let Some(dest) = dest
        && marker(dest, op_id).exists()
    {
        remove_dir(dest)?;
    }
    Ok(())
}

impl Store {
    async fn set_state(&self, op_id: &str, state: OpState, dest: Option<&Path>) -> Result<(), StoreError> {
        sqlx::query("UPDATE operations SET state = $1, dest = coalesce($2, dest), updated_at_us = $3 WHERE op_id = $4")
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
        match self.record_intent(kind, target, &op_id, &staging).await {
            Ok(()) => Ok(Operation {
                op_id,
                kind,
                staging,
                dest: None,
                state: OpState::Intent,
                finish: Vec::new(),
                lock: Some(lock),
            }),
            // Nothing recorded, or an intent the next recovery settles:
            // either way this lock's file must not stay (a full disk).
            Err(e) => {
                lock.release_and_remove();
                Err(e)
            }
        }
    }

    /// The `intent` row, then the staging directory with its marker.
    async fn record_intent(&self, kind: OpKind, target: &str, op_id: &str, staging: &Path) -> Result<(), StoreError> {
        let now = to_micros(Utc::now());
        sqlx::query(
            "INSERT INTO operations (op_id, kind, target, state, staging, pid, started_at_us, updated_at_us)
             VALUES ($1, $2, $3, 'intent', $4, $5, $6, $7)",
        )
        .bind(op_id)
        .bind(kind.as_str())
        .bind(target)
        .bind(staging.display().to_string())
        .bind(i64::from(std::process::id()))
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        fault::point(kind.as_str(), "intent");
        std::fs::create_dir_all(staging).map_err(io(staging))?;
        std::fs::File::create(marker(staging, op_id)).map_err(io(staging))?;
        Ok(())
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
        sqlx::query("UPDATE operations SET resource = $1, dest = $2 WHERE op_id = $3")
            .bind(resource)
            .bind(dest.display().to_string())
            .bind(&op.op_id)
            .execute(self.pool())
            .await?;
        // The marker must be on disk before the rename makes it matter.
        std::fs::File::open(marker(&op.staging, &op.op_id))
            .and_then(|f| f.sync_all())
            .map_err(io(&op.staging))?;
        sync_dir(&op.staging)?;
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
        tx: &mut Transaction<'_, Any>,
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
        sqlx::query("UPDATE operations SET state = 'recorded', finish = $1, updated_at_us = $2 WHERE op_id = $3")
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
        remove_marker(op.dest.as_deref(), &op.op_id)?;
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
        sqlx::query("UPDATE operations SET note = $1 WHERE op_id = $2")
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
        // The lock file goes whatever happens next: on a full disk the state
        // update can fail, and the next command's recovery settles the
        // operation without needing this file.
        let lock = op.lock.take();
        let undone = undo_files(&op.op_id, &op.staging, op.dest.as_deref());
        let recorded = match undone {
            Ok(()) => self.set_state(&op.op_id, OpState::RolledBack, None).await,
            Err(e) => Err(e),
        };
        if let Some(lock) = lock {
            lock.release_and_remove();
        }
        recorded
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
            "SELECT * FROM operations WHERE state NOT IN ('done', 'rolled_back') AND ($1 IS NULL OR op_id = $2)
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
    /// already holds: an operation on it is settled before this returns
    /// (waiting for a recovery by another process to finish), so the caller
    /// never works on a resource with a dead operation's files on it.
    /// Operations of live commands are reported as `running`; one that
    /// cannot be settled as `failed: <why>`, and the others still are.
    pub async fn recover(&self, holding: Option<&str>) -> Result<Vec<Recovered>, StoreError> {
        let mut report = Vec::new();
        for candidate in self.unfinished(None).await? {
            let mine = holding.is_some() && candidate.resource.as_deref() == holding;
            let outcome = match self.recover_one(&candidate, mine).await {
                Ok(Some(outcome)) => outcome,
                Ok(None) => continue,
                Err(e) => format!("failed: {e}"),
            };
            report.push(recovered(&candidate, &outcome));
        }
        Ok(report)
    }

    /// Settles one operation if its command is dead; None if it finished
    /// meanwhile. `mine`: the caller holds its resource lock, so its lock
    /// can only be held by another recovery, which is waited for.
    async fn recover_one(&self, candidate: &Unfinished, mine: bool) -> Result<Option<String>, StoreError> {
        let name = format!("op-{}", candidate.op_id);
        let op_lock = if mine {
            lock::acquire(self.home(), &name, "recovery", |_| {}).await?
        } else {
            match lock::try_acquire(self.home(), &name, "recovery")? {
                Some(l) => l,
                None => return Ok(Some("running".into())),
            }
        };
        // The lock file goes on every path out: a recovery that cannot
        // finish (a full disk) must not leave one behind.
        let outcome = self.recover_locked(&candidate.op_id, mine).await;
        op_lock.release_and_remove();
        outcome
    }

    /// [`Self::recover_one`] under the operation's lock.
    async fn recover_locked(&self, op_id: &str, mine: bool) -> Result<Option<String>, StoreError> {
        // Read again under the lock: its owner or another recovery may have
        // just finished it.
        let Some(op) = self.unfinished(Some(op_id)).await?.pop() else {
            return Ok(None);
        };
        let _resource = match op.resource.as_deref() {
            Some(r) if op.dest.is_some() && !mine => match lock::try_acquire(self.home(), r, "recovery")? {
                Some(l) => Some(l),
                // Someone uses the resource; they settle it when they
                // take it (see `holding`).
                None => return Ok(Some("running".into())),
            },
            _ => None,
        };
        let outcome = self.settle(&op).await?;
        Ok(Some(outcome.as_str().to_string()))
    }

    /// Whether an unfinished operation names `dest` as its destination.
    pub async fn unfinished_at(&self, dest: &Path) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM operations WHERE dest = $1 AND state NOT IN ('done', 'rolled_back')",
        )
        .bind(dest.display().to_string())
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    async fn settle(&self, op: &Unfinished) -> Result<OpState, StoreError> {
        let outcome = if op.state >= OpState::Recorded {
            for (path, text) in &op.finish {
                write_atomic(path, text)?;
            }
            remove_marker(op.dest.as_deref(), &op.op_id)?;
            OpState::Done
        } else {
            undo_files(&op.op_id, &op.staging, op.dest.as_deref())?;
            OpState::RolledBack
        };
        sqlx::query("UPDATE operations SET state = $1, note = $2, updated_at_us = $3 WHERE op_id = $4")
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
