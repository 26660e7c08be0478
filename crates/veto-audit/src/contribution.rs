//! One person's contribution to a model's training sets, counted from the
//! snapshot's files (never estimated): their rows in the training set of
//! their shard and the tokens of those texts (UTF-8 bytes plus one
//! end-of-text token, the built-in model's tokens). `veto report
//! contributions` counts everyone at once; this reads one shard for the
//! person's own page and certificate.

use std::collections::BTreeSet;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use veto_core::hashing::is_heldout;

use crate::{AuditError, io};

/// Rows and tokens of `person_id` in the training set of `shard`: the
/// snapshot's rows of that shard minus the held-out slice and `removed`.
pub fn contribution(
    snapshot_dir: &Path,
    person_id: &str,
    shard: u32,
    removed: &BTreeSet<String>,
) -> Result<(u64, u64), AuditError> {
    let path = snapshot_dir.join("index.parquet");
    let file = std::fs::File::open(&path).map_err(io(&path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let groups = veto_snapshot::index::index_row_groups(builder.metadata(), &BTreeSet::from([shard]));
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["person_id", "doc_id"]);
    let mut docs: BTreeSet<String> = BTreeSet::new();
    for batch in builder.with_projection(mask).with_row_groups(groups).build()? {
        let batch = batch?;
        let (p, d) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        for i in 0..batch.num_rows() {
            let doc = d.value(i);
            if p.value(i) == person_id && !is_heldout(doc) && !removed.contains(doc) {
                docs.insert(doc.to_string());
            }
        }
    }
    let (manifest, _) = crate::read_manifest(snapshot_dir)?;
    let Some(info) = manifest.shards.iter().find(|s| s.shard == shard) else {
        return Ok((0, 0));
    };
    let path = snapshot_dir.join(&info.file);
    let file = std::fs::File::open(&path).map_err(io(&path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["doc_id", "text"]);
    let mut tokens = 0;
    for batch in builder.with_projection(mask).build()? {
        let batch = batch?;
        let (d, t) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        for i in 0..batch.num_rows() {
            if t.is_valid(i) && docs.contains(d.value(i)) {
                tokens += t.value(i).len() as u64 + 1;
            }
        }
    }
    Ok((docs.len() as u64, tokens))
}

/// Fills each job's model in `cert` with the person's contribution.
pub fn fill(
    cert: &mut veto_core::certificate::Certificate,
    person_id: &str,
    jobs: &[veto_core::certificate::ContributionJob],
) -> Result<(), AuditError> {
    for job in jobs {
        let (items, tokens) = contribution(&job.snapshot_dir, person_id, job.shard, &job.removed)?;
        let share = if job.total_tokens == 0 {
            0.0
        } else {
            tokens as f64 / job.total_tokens as f64
        };
        if let Some(m) = cert.models.get_mut(job.model) {
            m.contribution = Some(veto_core::certificate::CertContribution {
                version: job.version,
                items,
                tokens,
                total_tokens: job.total_tokens,
                share: format!("{share:.9}"),
            });
        }
    }
    Ok(())
}
