//! Locks between processes: advisory file locks under `<home>/locks/`.
//!
//! The kernel releases a file lock when its process dies, however it dies,
//! so a lock never outlives a crashed command and needs no lease. The
//! holder writes who it is into the file; a command that has to wait says
//! so, naming the holder. std's `File::lock` (flock on Unix) does the
//! locking, so no crate is needed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    /// Held open for the lock's sake; closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl Lock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Releases the lock and removes its file. Only for locks that nobody
    /// waits on (an operation's own lock): a waiter would hold a removed file.
    pub fn release_and_remove(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self);
    }
}

fn locks_dir(home: &Path) -> PathBuf {
    home.join("locks")
}

fn open(home: &Path, name: &str) -> Result<(File, PathBuf), StoreError> {
    let dir = locks_dir(home);
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io {
        path: dir.clone(),
        error: e,
    })?;
    let path = dir.join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StoreError::Io {
            path: path.clone(),
            error: e,
        })?;
    Ok((file, path))
}

fn claim(mut file: File, path: PathBuf, holder: &str) -> Result<Lock, StoreError> {
    // The lock is the flock, already held. The holder's line only tells a
    // waiter whom it waits for: on a full disk it is left out rather than
    // failing the command here (and leaving the file behind).
    let line = format!(
        "pid {} ({holder}) since {}\n",
        std::process::id(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(lock = %path.display(), error = %e, "could not write the lock's holder");
    }
    Ok(Lock { _file: file, path })
}

/// Takes the lock `name` if nobody holds it; `None` if someone does.
pub fn try_acquire(home: &Path, name: &str, holder: &str) -> Result<Option<Lock>, StoreError> {
    let (file, path) = open(home, name)?;
    match file.try_lock() {
        Ok(()) => claim(file, path, holder).map(Some),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Io { path, error: e }),
    }
}

/// Takes the lock `name`, waiting for its holder if there is one. Before it
/// waits it calls `waiting` with the holder's line ("pid 12 (veto unlearn
/// model-…) since …").
pub async fn acquire(home: &Path, name: &str, holder: &str, waiting: impl FnOnce(&str)) -> Result<Lock, StoreError> {
    if let Some(lock) = try_acquire(home, name, holder)? {
        return Ok(lock);
    }
    let (mut file, path) = open(home, name)?;
    let mut who = String::new();
    let _ = file.read_to_string(&mut who);
    waiting(who.trim());
    let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| StoreError::Internal(format!("lock thread: {e}")))?
        .map_err(|e| StoreError::Io {
            path: path.clone(),
            error: e,
        })?;
    claim(file, path, holder)
}

/// Who holds the lock `name`, if anyone (for `veto doctor`).
pub fn holder(home: &Path, name: &str) -> Result<Option<String>, StoreError> {
    if !locks_dir(home).join(format!("{name}.lock")).exists() {
        return Ok(None);
    }
    let (mut file, _) = open(home, name)?;
    match file.try_lock() {
        Ok(()) => Ok(None),
        Err(_) => {
            let mut who = String::new();
            let _ = file.read_to_string(&mut who);
            Ok(Some(who.trim().to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_lock_is_refused_to_a_second_taker_and_free_once_dropped() {
        let home = tempfile::tempdir().unwrap();
        let first = try_acquire(home.path(), "model-x", "veto unlearn").unwrap().unwrap();
        assert!(try_acquire(home.path(), "model-x", "veto unlearn").unwrap().is_none());
        let who = holder(home.path(), "model-x").unwrap().unwrap();
        assert!(
            who.starts_with(&format!("pid {} (veto unlearn)", std::process::id())),
            "{who}"
        );
        drop(first);
        assert!(holder(home.path(), "model-x").unwrap().is_none());
        assert!(try_acquire(home.path(), "model-x", "veto unlearn").unwrap().is_some());
    }
}
