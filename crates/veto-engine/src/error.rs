//! Errors of a build. Bad input is an [`InputError`]: it names the file, the
//! row (JSON Lines: line) and the field, so the person fixing the export can
//! go straight to it.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// One bad row or file in an export, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    /// File name within the export directory (or the path given).
    pub file: String,
    /// 1-based line (JSON Lines) or row (Parquet); `None` for whole-file errors.
    pub row: Option<u64>,
    /// `"line"` for JSON Lines, `"row"` for Parquet.
    #[serde(skip)]
    pub row_label: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(row) = self.row {
            write!(f, " {} {row}", self.row_label)?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a build did not produce a snapshot. Whatever the cause, nothing that
/// looks like a finished snapshot is left behind.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Input(InputError),
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("query engine: {0}")]
    Engine(#[from] datafusion::error::DataFusionError),
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

impl From<veto_snapshot::FileError> for BuildError {
    fn from(e: veto_snapshot::FileError) -> BuildError {
        match e {
            veto_snapshot::FileError::Io { path, source } => BuildError::Io { path, source },
            exists @ veto_snapshot::FileError::Exists(_) => BuildError::Refused(exists.to_string()),
        }
    }
}

impl BuildError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io { path, source }
    }
}
