//! veto-audit: what makes a snapshot checkable by people who do not trust
//! its builder.
//!
//! * [`summaries`]: one row per person and snapshot (included items by kind,
//!   exclusion reasons), which feeds the store's fast lookup.
//! * [`proof`]: proof bundles for one person (Merkle audit paths to the
//!   shard roots in the ledger, or a checkable statement of absence) and
//!   their offline verification.
//! * [`snapshot`]: re-hashing a snapshot directory against its manifest and
//!   the ledger.
//! * [`ledger_file`]: the ledger's JSON Lines export.
//! * [`certificate`]: checking an unlearning certificate against a ledger.
//! * [`contribution`]: one person's items and tokens in a model's training
//!   sets.
//! * [`report`]: the public summary of training content (EU AI Act
//!   Art. 53(1)(d)).
//!
//! Architecture invariant: everything here reads snapshots and ledgers; it
//! never writes into a snapshot and never decides eligibility.

pub mod certificate;
pub mod contribution;
pub mod ledger_file;
pub mod proof;
pub mod report;
pub mod snapshot;
pub mod summaries;

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use veto_snapshot::Manifest;

/// Why an audit step could not be done (not: a check that failed).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("query engine: {0}")]
    Engine(#[from] datafusion::error::DataFusionError),
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a snapshot's manifest.json, returning it with its exact bytes.
/// The ledger hashes those bytes, so the manifest is parsed strictly: a
/// duplicated key (say a second `shards`) or a field veto does not write
/// would let this reader and another see different snapshots under one hash.
pub fn read_manifest(snapshot: &Path) -> Result<(Manifest, Vec<u8>), AuditError> {
    let path = snapshot.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let bad = |message: String| AuditError::Format {
        path: path.clone(),
        message,
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| bad(e.to_string()))?;
    let (manifest, _) = veto_core::canonical::strict::from_str(text).map_err(|e| bad(e.to_string()))?;
    Ok((manifest, bytes))
}

/// Reads the named columns of a Parquet file, batch by batch.
pub(crate) fn read_columns(
    path: &Path,
    columns: &[&str],
    mut each: impl FnMut(&RecordBatch) -> Result<(), AuditError>,
) -> Result<(), AuditError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    for batch in builder.with_projection(mask).with_batch_size(65_536).build()? {
        each(&batch?)?;
    }
    Ok(())
}
