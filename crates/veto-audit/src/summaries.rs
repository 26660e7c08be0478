//! Per-person summaries of a snapshot, streamed in person order: the feed
//! for the store's lookup table.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Int64Type, UInt32Type};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;

use crate::AuditError;

/// One person in one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonSummary {
    pub person_id: String,
    pub shard: Option<u32>,
    pub included_by_kind: BTreeMap<String, u64>,
    pub included_by_platform: BTreeMap<String, u64>,
    pub excluded_by_reason: BTreeMap<String, u64>,
}

/// A stream of [`PersonSummary`], ordered by person id.
pub struct PersonSummaries {
    _ctx: SessionContext,
    stream: SendableRecordBatchStream,
    pending: Option<PersonSummary>,
    done: bool,
}

fn path_str(p: &Path) -> Result<String, AuditError> {
    p.to_str().map(str::to_string).ok_or_else(|| AuditError::Format {
        path: p.to_path_buf(),
        message: "path is not UTF-8".into(),
    })
}

impl PersonSummaries {
    pub async fn open(snapshot: &Path) -> Result<PersonSummaries, AuditError> {
        let mut config = SessionConfig::new();
        // Plain Utf8 throughout: from the files and from CAST(... AS VARCHAR).
        config.options_mut().execution.parquet.schema_force_view_types = false;
        config.options_mut().sql_parser.map_string_types_to_utf8view = false;
        let ctx = SessionContext::new_with_config(config);
        ctx.register_parquet(
            "idx",
            path_str(&snapshot.join("index.parquet"))?,
            ParquetReadOptions::default(),
        )
        .await?;
        ctx.register_parquet(
            "exc",
            path_str(&snapshot.join("exclusions.parquet"))?,
            ParquetReadOptions::default(),
        )
        .await?;
        let stream = ctx
            .sql(
                "SELECT person_id, shard, kind AS key, platform, TRUE AS included, count(*) AS n
                   FROM idx GROUP BY person_id, shard, kind, platform
                 UNION ALL
                 SELECT person_id, CAST(NULL AS INT UNSIGNED) AS shard, reason AS key, CAST(NULL AS VARCHAR) AS platform,
                        FALSE AS included, count(*) AS n
                   FROM exc GROUP BY person_id, reason
                 ORDER BY person_id",
            )
            .await?
            .execute_stream()
            .await?;
        Ok(PersonSummaries {
            _ctx: ctx,
            stream,
            pending: None,
            done: false,
        })
    }

    /// Up to about `max` complete persons; empty when the stream is done.
    pub async fn next_chunk(&mut self, max: usize) -> Result<Vec<PersonSummary>, AuditError> {
        let mut out = Vec::new();
        while out.len() < max && !self.done {
            let Some(batch) = self.stream.next().await else {
                self.done = true;
                out.extend(self.pending.take());
                break;
            };
            // Normalise the column types so a change of engine defaults is an
            // error here, never a panic.
            let batch = batch?;
            let utf8 = |i: usize| -> Result<datafusion::arrow::array::ArrayRef, AuditError> {
                Ok(datafusion::arrow::compute::cast(
                    batch.column(i),
                    &datafusion::arrow::datatypes::DataType::Utf8,
                )?)
            };
            let (persons, keys, platforms) = (utf8(0)?, utf8(2)?, utf8(3)?);
            let (persons, keys, platforms) = (
                persons.as_string::<i32>(),
                keys.as_string::<i32>(),
                platforms.as_string::<i32>(),
            );
            let shards = batch.column(1).as_primitive::<UInt32Type>();
            let included = batch.column(4).as_boolean();
            let counts = batch.column(5).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                let person = persons.value(i);
                if self.pending.as_ref().is_none_or(|p| p.person_id != person) {
                    out.extend(self.pending.take());
                    self.pending = Some(PersonSummary {
                        person_id: person.to_string(),
                        ..Default::default()
                    });
                }
                let p = self.pending.as_mut().expect("set above");
                let n = counts.value(i) as u64;
                if included.value(i) {
                    p.shard = Some(shards.value(i));
                    *p.included_by_kind.entry(keys.value(i).to_string()).or_default() += n;
                    *p.included_by_platform
                        .entry(platforms.value(i).to_string())
                        .or_default() += n;
                } else {
                    *p.excluded_by_reason.entry(keys.value(i).to_string()).or_default() += n;
                }
            }
        }
        Ok(out)
    }
}
