//! Atomic output: everything is written under a temporary name next to the
//! destination, fsynced, and renamed into place in one step, so a crashed
//! build never leaves anything a reader could take for complete.

use std::fs::File;
use std::path::{Path, PathBuf};

/// A file operation that failed, with the path it failed on.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The destination of a commit exists; nothing was overwritten.
    #[error("{} already exists; nothing was overwritten", .0.display())]
    Exists(PathBuf),
}

fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.into();
    move |source| FileError::Io { path, source }
}

/// A directory being written; removed on drop unless [`Staging::commit`] ran.
pub struct Staging {
    dir: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates `.<name>.tmp-<pid>-<nanos>` next to `dest`.
    pub fn next_to(dest: &Path) -> Result<Staging, FileError> {
        let parent = parent_of(dest);
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("snapshot");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = parent.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        Ok(Staging { dir, committed: false })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// fsyncs every file and directory below the staging directory, then
    /// renames it to `dest` and fsyncs the parent. `dest` must not exist.
    pub fn commit(mut self, dest: &Path) -> Result<(), FileError> {
        sync_tree(&self.dir)?;
        if dest.exists() {
            return Err(FileError::Exists(dest.to_path_buf()));
        }
        std::fs::rename(&self.dir, dest).map_err(io(dest))?;
        self.committed = true;
        sync_dir(&parent_of(dest))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// fsyncs every file and directory below `dir`, and `dir`.
pub fn sync_tree(dir: &Path) -> Result<(), FileError> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        if entry.file_type().map_err(io(&path))?.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path).and_then(|f| f.sync_all()).map_err(io(&path))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), FileError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// Writes `bytes` to `path` atomically (temp name, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(&parent_of(path))
}

/// SHA-256 (hex) and length of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<(String, u64), FileError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}
