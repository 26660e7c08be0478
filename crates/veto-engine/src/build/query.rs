//! The build's one query and the consumer of its sorted stream.
//!
//! The query looks each item's author up in the persons table
//! (`veto_person`), applies the core's rules (`veto_reason`), and for included rows only computes doc id,
//! redaction and leaf hash (`row_udf.rs`); one sort puts included rows first in (shard,
//! doc_id) order and excluded rows after them in item_id order. The
//! consumer splits that stream into the shards (and the index) and the
//! exclusions.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::UInt8Type;
use datafusion::common::ScalarValue;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::Expr;
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use futures::StreamExt;
use veto_core::Reason;

use super::repeats::RepeatWatch;
use super::writer::{EXCLUSIONS_SCHEMA, ParquetSink, ShardSink};
use crate::error::BuildError;

/// Where [`judge_and_write`] puts what the query returns.
pub(super) struct Sinks<'a> {
    pub shards: &'a mut ShardSink,
    pub exclusions: &'a mut ParquetSink,
    pub repeats: &'a mut RepeatWatch,
}

/// What [`judge_and_write`] counted.
pub(super) struct Judged {
    pub included: u64,
    pub excluded: u64,
    pub by_reason: BTreeMap<String, u64>,
}

/// Runs the build's query and splits its sorted stream: included rows into
/// the shards (and the index), excluded rows into the exclusions. (Each
/// person's part is counted where the rows are judged: `veto_reason`.)
pub(super) async fn judge_and_write(
    ctx: &SessionContext,
    query: DataFrame,
    sinks: Sinks<'_>,
    progress: &indicatif::ProgressBar,
) -> Result<Judged, BuildError> {
    let Sinks {
        shards,
        exclusions,
        repeats,
    } = sinks;
    let mut by_code = [0u64; Reason::ALL.len()];
    // One pass: the author lookup, the rules, and for included rows only doc id,
    // redaction and leaf hash; then one sort that puts included rows first in (shard, doc_id)
    // order and excluded rows after them in item_id order. Both keys are
    // unique: item ids are checked, and doc ids are keyed hashes of them.
    let plan = query.create_physical_plan().await?;
    tracing::debug!(
        plan = %datafusion::physical_plan::displayable(plan.as_ref()).indent(true),
        "the build's query"
    );
    let mut stream = datafusion::physical_plan::execute_stream(plan, ctx.task_ctx())?;
    let (mut included, mut excluded) = (0u64, 0u64);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if included + excluded == 0 {
            // Everything before this is scan, checks, join, rules and the
            // sort's runs; everything after is the final merge and writing.
            tracing::info!("first sorted rows");
        }
        progress.inc(batch.num_rows() as u64);
        repeats.observe(batch.column(ITEM_ID_COLUMN).as_string::<i32>());
        let reasons = batch.column(REASON_COLUMN).as_primitive::<UInt8Type>();
        let first_excluded = reasons
            .values()
            .iter()
            .position(|r| *r != 0)
            .unwrap_or(batch.num_rows());
        if first_excluded > 0 {
            included += first_excluded as u64;
            shards.write(&batch.slice(0, first_excluded))?;
        }
        let rest = batch.num_rows() - first_excluded;
        if rest == 0 {
            continue;
        }
        let rest = batch.slice(first_excluded, rest);
        let codes = rest.column(REASON_COLUMN).as_primitive::<UInt8Type>();
        let mut names = Vec::with_capacity(rest.num_rows());
        for code in codes.values() {
            let reason = code.checked_sub(1).and_then(Reason::from_code).ok_or_else(|| {
                BuildError::Refused("internal: an included row sorted after the excluded ones".into())
            })?;
            by_code[reason.code() as usize] += 1;
            names.push(reason.as_str());
        }
        excluded += rest.num_rows() as u64;
        let columns = vec![
            rest.column(ITEM_ID_COLUMN).clone(),
            rest.column(PERSON_ID_COLUMN).clone(),
            Arc::new(StringArray::from(names)) as _,
        ];
        exclusions.write(RecordBatch::try_new(EXCLUSIONS_SCHEMA.clone(), columns)?)?;
    }
    let by_reason = Reason::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), by_code[r.code() as usize]))
        .collect();
    Ok(Judged {
        included,
        excluded,
        by_reason,
    })
}

/// The build's query, built with DataFrame calls (veto does without the SQL
/// front end: it was a large part of the engine's compile time, and every
/// query here is fixed). `check_rows`: the items are read in place from the
/// export, so every row also goes through `veto_check_item` (a staged copy
/// holds only rows already checked). In SQL:
///
/// ```text
/// SELECT shard, doc_id, text, platform, kind, lang, media_sha256, item_id, person_id,
///        veto_leaf(reason, doc_id, text, platform, kind, lang, media_sha256) AS leaf_hash,
///        reason
/// FROM (
///   -- Excluded rows carry only what exclusions.parquet needs through the sort.
///   SELECT veto_shard_key(reason, person_idx) AS shard, veto_doc_key(reason, item_id) AS doc_id,
///          veto_redact(reason, text) AS text, veto_included(reason, platform) AS platform,
///          ... (kind, lang, media_sha256 likewise), item_id, person_id, reason
///   FROM (
///     SELECT item_id, person_id, platform, kind, text, lang, media_sha256, person_idx,
///            veto_reason(person_idx, platform, kind, audience, created_at, deleted_at,
///                        tagged, usage) AS reason
///     FROM (SELECT *, veto_person(person_id) AS person_idx FROM items)))
/// ORDER BY shard, doc_id
/// ```
pub(super) async fn judge_and_sort(ctx: &SessionContext, check_rows: bool) -> Result<DataFrame, BuildError> {
    let udf = |name: &str| ctx.udf(name);
    let mut items = ctx.table("items").await?;
    if check_rows {
        let fields = crate::export::CHECKED.iter().map(|c| col(*c)).collect();
        items = items.filter(udf("veto_check_item")?.call(fields))?;
    }
    let reason = udf("veto_reason")?.call(
        [
            "person_idx",
            "platform",
            "kind",
            "audience",
            "created_at",
            "deleted_at",
            "tagged",
            "usage",
        ]
        .map(col)
        .to_vec(),
    );
    // A v1 file read in place has no `tagged` or `usage`: typed nulls.
    let has = |name: &str| items.schema().has_column_with_unqualified_name(name);
    let tagged = match has("tagged") {
        true => col("tagged"),
        false => lit(ScalarValue::try_from(crate::export::tagged_type())?),
    };
    let usage = match has("usage") {
        true => col("usage"),
        false => lit(ScalarValue::Utf8(None)),
    };
    let joined = items
        .select(vec![
            col("item_id"),
            col("person_id"),
            col("platform"),
            col("kind"),
            col("audience"),
            col("created_at"),
            col("deleted_at"),
            col("text"),
            col("lang"),
            col("media_sha256"),
            tagged.alias("tagged"),
            usage.alias("usage"),
            udf("veto_person")?.call(vec![col("person_id")]).alias("person_idx"),
        ])?
        .select(vec![
            col("item_id"),
            col("person_id"),
            col("platform"),
            col("kind"),
            col("text"),
            col("lang"),
            col("media_sha256"),
            col("person_idx"),
            reason.alias("reason"),
        ])?;
    let judged =
        |name: &str, arg: &str| -> Result<Expr, BuildError> { Ok(udf(name)?.call(vec![col("reason"), col(arg)])) };
    let mut row = vec![
        judged("veto_shard_key", "person_idx")?.alias("shard"),
        judged("veto_doc_key", "item_id")?.alias("doc_id"),
        judged("veto_redact", "text")?.alias("text"),
    ];
    for name in ["platform", "kind", "lang", "media_sha256"] {
        row.push(judged("veto_included", name)?.alias(name));
    }
    row.extend(["item_id", "person_id", "reason"].map(col));
    let leaf = udf("veto_leaf")?.call(
        ["reason", "doc_id", "text", "platform", "kind", "lang", "media_sha256"]
            .map(col)
            .to_vec(),
    );
    let sorted = joined
        .select(row)?
        .select(vec![
            col("shard"),
            col("doc_id"),
            col("text"),
            col("platform"),
            col("kind"),
            col("lang"),
            col("media_sha256"),
            col("item_id"),
            col("person_id"),
            leaf.alias("leaf_hash"),
            col("reason"),
        ])?
        .sort(vec![col("shard").sort(true, false), col("doc_id").sort(true, false)])?;
    Ok(sorted)
}

const ITEM_ID_COLUMN: usize = 7;
const PERSON_ID_COLUMN: usize = 8;
const REASON_COLUMN: usize = 10;
