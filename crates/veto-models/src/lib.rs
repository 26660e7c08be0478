//! veto-models: language models trained on snapshots, and their exact
//! unlearning.
//!
//! A model directory holds one model per shard (`v<N>/shard-NNNNN.kn`) and a
//! `model.json` ([`ModelManifest`]). The training set of shard k at version
//! N is a pure function: the rows of the snapshot's shard k, minus the
//! held-out slice (doc ids starting with `0`), minus every doc id removed by
//! unlearning up to version N ([`data::training_texts`]). Unlearning a
//! person therefore retrains only the shards that held their rows, and the
//! result is byte-identical to training on a snapshot that never had them.

pub mod canary;
pub mod contributions;
pub mod data;
pub mod manifest;
pub mod membership;
pub mod train;
pub mod trainer;
pub mod unlearn;

use std::path::{Path, PathBuf};

pub use manifest::ModelManifest;

/// Errors of model commands.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Refused(String),
    /// A shard trainer failed or broke its contract (docs/trainers.md).
    #[error("the trainer of shard {shard} failed: {message}")]
    Trainer { shard: u32, message: String },
    /// A bug in veto, not a problem with the input.
    #[error("internal error: {0}")]
    Internal(String),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelsError + '_ {
    move |source| ModelsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` under a temporary name, fsyncs, renames and fsyncs the
/// directory: the snapshot format's one atomic write, creating the directory first.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    veto_snapshot::write_atomic(path, bytes).map_err(|e| match e {
        veto_snapshot::FileError::Io { path, source } => ModelsError::Io { path, source },
        exists @ veto_snapshot::FileError::Exists(_) => ModelsError::Refused(exists.to_string()),
    })
}
