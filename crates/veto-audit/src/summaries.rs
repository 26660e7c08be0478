//! Per-person summaries of a snapshot, streamed in `person_ref` order: the
//! feed for the store's lookup table, whose key starts with `person_ref`, so
//! the rows arrive in index order and the insert appends instead of seeking.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt32Type};
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext, col, lit};
use futures::StreamExt;

use crate::AuditError;

/// One person in one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonSummary {
    pub person_id: String,
    /// The keyed pseudonym the lookup table stores instead of the person id.
    pub person_ref: String,
    pub shard: Option<u32>,
    pub included_by_kind: BTreeMap<String, u64>,
    pub included_by_platform: BTreeMap<String, u64>,
    pub excluded_by_reason: BTreeMap<String, u64>,
}

/// A stream of [`PersonSummary`], ordered by `person_ref`.
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
    /// Opens the summaries of the snapshot in `snapshot`; `secret` is the
    /// installation secret that keys `person_ref`.
    pub async fn open(snapshot: &Path, secret: &[u8]) -> Result<PersonSummaries, AuditError> {
        let mut config = SessionConfig::new();
        // Plain Utf8 throughout, as the files are written.
        config.options_mut().execution.parquet.schema_force_view_types = false;
        let ctx = SessionContext::new_with_config(config);
        let person_ref = PersonRefUdf::udf(secret);
        let read = |name: &'static str| {
            let ctx = &ctx;
            async move {
                let path = path_str(&snapshot.join(name))?;
                Ok::<_, AuditError>(ctx.read_parquet(path, ParquetReadOptions::default()).await?)
            }
        };
        // SELECT person_id, shard, kind AS key, platform, TRUE AS included, count(*) AS n
        //   FROM index GROUP BY person_id, shard, kind, platform
        // UNION ALL
        // SELECT person_id, NULL, reason, NULL, FALSE, count(*) FROM exclusions GROUP BY person_id, reason
        // with veto_person_ref(person_id) in front, ORDER BY person_ref, person_id
        let count_rows = || count(lit(1)).alias("n");
        let included = read("index.parquet")
            .await?
            .aggregate(
                vec![col("person_id"), col("shard"), col("kind"), col("platform")],
                vec![count_rows()],
            )?
            .select(vec![
                col("person_id"),
                col("shard"),
                col("kind").alias("key"),
                col("platform"),
                lit(true).alias("included"),
                col("n"),
            ])?;
        let excluded = read("exclusions.parquet")
            .await?
            .aggregate(vec![col("person_id"), col("reason")], vec![count_rows()])?
            .select(vec![
                col("person_id"),
                lit(ScalarValue::UInt32(None)).alias("shard"),
                col("reason").alias("key"),
                lit(ScalarValue::Utf8(None)).alias("platform"),
                lit(false).alias("included"),
                col("n"),
            ])?;
        let stream = included
            .union(excluded)?
            .select(vec![
                person_ref.call(vec![col("person_id")]).alias("person_ref"),
                col("person_id"),
                col("shard"),
                col("key"),
                col("platform"),
                col("included"),
                col("n"),
            ])?
            .sort(vec![
                col("person_ref").sort(true, false),
                col("person_id").sort(true, false),
            ])?
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
            let (refs, persons, keys, platforms) = (utf8(0)?, utf8(1)?, utf8(3)?, utf8(4)?);
            let (refs, persons, keys, platforms) = (
                refs.as_string::<i32>(),
                persons.as_string::<i32>(),
                keys.as_string::<i32>(),
                platforms.as_string::<i32>(),
            );
            let shards = batch.column(2).as_primitive::<UInt32Type>();
            let included = batch.column(5).as_boolean();
            let counts = batch.column(6).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                let person = persons.value(i);
                if self.pending.as_ref().is_none_or(|p| p.person_id != person) {
                    out.extend(self.pending.take());
                    self.pending = Some(PersonSummary {
                        person_id: person.to_string(),
                        person_ref: refs.value(i).to_string(),
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

/// `veto_person_ref(person_id)`: the keyed pseudonym of a person
/// (`veto_core::hashing::person_ref`), computed in the query so it can sort.
struct PersonRefUdf {
    signature: Signature,
    hasher: veto_core::hashing::KeyedHasher,
}

impl PersonRefUdf {
    fn udf(secret: &[u8]) -> ScalarUDF {
        ScalarUDF::new_from_impl(PersonRefUdf {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
            hasher: veto_core::hashing::KeyedHasher::person_refs(secret),
        })
    }
}

// Identity is the name; Debug prints only the name so the secret never
// reaches a log.
veto_engine::udf_identity!(PersonRefUdf);

impl ScalarUDFImpl for PersonRefUdf {
    fn name(&self) -> &str {
        "veto_person_ref"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::common::Result<ColumnarValue> {
        let ids = args.args[0].clone().into_array(args.number_rows)?;
        let ids = ids.as_string::<i32>();
        let refs: StringArray = ids.iter().map(|id| id.map(|id| self.hasher.doc_id(id))).collect();
        Ok(ColumnarValue::Array(Arc::new(refs)))
    }
}
