//! veto-engine: corpus builds on Apache DataFusion.
//!
//! A build reads a platform export ([`export`]), validates every row with an
//! error that names file, row and field, stages the valid items as Parquet,
//! then lets DataFusion join them with the persons, judge each item with
//! [`veto_core::evaluate`] (registered as a UDF), redact, hash and sort them
//! into shards ([`build`]). The result is a snapshot directory with a
//! [`manifest::Manifest`], written atomically (the format: veto-snapshot).
//!
//! Architecture invariant: the engine never decides eligibility itself; the
//! only decision is `veto_core::evaluate`, called from the `veto_reason` UDF.
//! Architecture invariant: the engine keeps no state between builds; what
//! must persist (objections, the secret, the snapshot record) is passed in
//! and handed back to the caller, who owns the store.

pub mod build;
pub mod error;
pub mod export;
// The snapshot format lives in veto-snapshot; these names stay for callers.
pub use veto_snapshot::{index, manifest};

pub use build::{
    BuildOutcome, BuildRequest, Destination, Objector, ObjectorFacts, OnError, PersonCounts, PersonTally, StagedBuild,
    build, build_staged,
};
pub use error::{BuildError, InputError};
pub use manifest::Manifest;
