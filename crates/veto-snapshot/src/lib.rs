//! veto-snapshot: what a snapshot directory is, for everyone who reads one.
//!
//! A snapshot is `manifest.json` ([`manifest::Manifest`]), `policy.toml`,
//! the shards (`shards/shard-NNNN.parquet`), the private `index.parquet`
//! and `exclusions.parquet`. The build (veto-engine) writes them; the
//! auditor, the models, the portal and the command line read them. This
//! crate holds the format and the file discipline (write under a temporary
//! name, fsync, rename) and nothing of the query engine, so the readers do
//! not compile DataFusion to read JSON.
//!
//! Architecture invariant: nothing half-written looks complete. A snapshot
//! directory appears by one rename of a fully fsynced staging directory
//! ([`files::Staging::commit`]); single files by [`files::write_atomic`].

pub mod files;
pub mod index;
pub mod manifest;

pub use files::{FileError, sha256_file, write_atomic};
pub use manifest::Manifest;
