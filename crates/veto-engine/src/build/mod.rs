//! A corpus build: export + objections + policy → snapshot directory.
//!
//! ```text
//! persons ─load/validate─► persons table (+ shard, objection slot per person)
//! items ── read in place (Parquet, fail-fast) or validated into items.staged.parquet
//!   ─► DataFusion, one query: each item's author looked up in persons ·
//!      veto_check_item (rows read in place: the export's row checks) ·
//!      veto_reason (the core's rules) · for included rows only: veto_doc_key,
//!      veto_redact, veto_leaf · one sort: included by (shard, doc_id), then
//!      excluded by item_id
//!   ─► split: shards/ + index.parquet (Merkle roots), exclusions.parquet
//! ```
//! Everything is written into a staging directory that is fsynced and renamed
//! into place only when complete.

mod memory;
mod objectors;
mod query;
mod repeats;
mod row_udf;
mod tally;
mod udf;
mod writer;

pub use objectors::Objector;
pub use tally::{PersonCounts, PersonTally};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use sha2::{Digest, Sha256};
use veto_core::hashing::KeyedHasher;
use veto_core::mentions::MentionCounts;
use veto_core::redact::{RedactionCounts, Redactor};
use veto_core::{Audience, Kind, Objection, Platform, Policy};

use crate::error::BuildError;
pub use crate::export::OnError;
use crate::export::{
    Rejections, StagedItems, TableFile, TableFormat, check_in_place, confirm_repeats, load_persons,
    load_persons_naming, queryable_rows, stage_items,
};
use query::{Judged, Sinks, judge_and_sort, judge_and_write};
use repeats::RepeatWatch;
use row_udf::{DocKeyUdf, IncludedUdf, LeafUdf, RedactUdf, ShardKeyUdf};
use udf::{CheckItemUdf, IncludedFacts, ObjectionSlots, PersonUdf, ReasonUdf};
use veto_snapshot::files::{Staging, sha256_file, write_atomic};
use veto_snapshot::manifest::{Counts, FileInfo, ItemCounts, Manifest, PolicyRef, SNAPSHOT_FORMAT};
use writer::{EXCLUSIONS_SCHEMA, ParquetSink, ShardSink, describe};

/// Where the snapshot goes.
#[derive(Clone, Debug)]
pub enum Destination {
    /// Exactly this directory; it must not exist yet.
    Exact(PathBuf),
    /// A directory named after the snapshot id inside this one.
    Under(PathBuf),
}

/// Everything a build needs. The caller (the CLI) reads the store; the
/// engine does not touch it.
pub struct BuildRequest {
    pub data_dir: PathBuf,
    pub policy: Policy,
    pub as_of: DateTime<Utc>,
    pub shards: u32,
    pub threads: usize,
    pub destination: Destination,
    pub on_error: OnError,
    /// The installation secret (keys doc ids and shards).
    pub secret: Vec<u8>,
    /// Every objection on file; the rules decide which are in force at `as_of`.
    pub objections: Vec<Objection>,
    /// The people without an account whose objections are in force at
    /// `as_of` (verified, and not waiting for or refused by an operator):
    /// their names, handles, emails and phones are redacted in every
    /// included text, as are objecting users' names. Those not screened
    /// before are screened first (see `objectors.rs`).
    pub third_parties: Vec<veto_core::ThirdParty>,
    /// Memory for the query's sorts before they spill to disk (operators
    /// that cannot spill are tracked but not limited; see `memory.rs`).
    pub memory_limit: usize,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
}

/// A finished build.
#[derive(Debug)]
pub struct BuildOutcome {
    pub manifest: Manifest,
    pub path: PathBuf,
    /// The identical snapshot already existed; nothing new was written.
    pub already_built: bool,
    /// What each person has in the snapshot, for the per-person lookup.
    pub persons: PersonTally,
    pub objectors: ObjectorFacts,
}

/// What a build did about objectors named in other people's text.
#[derive(Clone, Debug, Default)]
pub struct ObjectorFacts {
    /// Mentions replaced, per objector with at least one.
    pub mentions: Vec<(Objector, u64)>,
    /// The third-party objections screened by this build.
    pub screenings: Vec<veto_core::Screening>,
}

pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// Runs a build. On error nothing is left at the destination.
pub async fn build(req: BuildRequest) -> Result<BuildOutcome, BuildError> {
    check_request(&req)?;
    let probe = match &req.destination {
        Destination::Exact(p) => {
            if p.exists() {
                return Err(BuildError::Refused(format!(
                    "{} already exists; nothing was overwritten",
                    p.display()
                )));
            }
            p.clone()
        }
        Destination::Under(dir) => dir.join("snapshot"),
    };
    let staging = Staging::next_to(&probe)?;
    let StagedBuild {
        manifest,
        persons: tally,
        objectors,
    } = build_staged(&req, staging.path()).await?;
    let path = match &req.destination {
        Destination::Exact(p) => p.clone(),
        Destination::Under(dir) => dir.join(&manifest.snapshot_id),
    };
    if matches!(req.destination, Destination::Under(_)) && path.join("manifest.json").is_file() {
        // Same id means same inputs, policy, as-of, secret and content.
        return Ok(BuildOutcome {
            manifest,
            path,
            already_built: true,
            persons: tally,
            objectors,
        });
    }
    staging.commit(&path)?;
    Ok(BuildOutcome {
        manifest,
        path,
        already_built: false,
        persons: tally,
        objectors,
    })
}

/// A snapshot written and fsynced in a staging directory, not yet renamed.
#[derive(Debug)]
pub struct StagedBuild {
    pub manifest: Manifest,
    pub persons: PersonTally,
    pub objectors: ObjectorFacts,
}

/// The most shards a build writes. Each shard file is finished on a thread
/// of its own that `ShardSink` joins only at the end of the build, and an
/// exited thread keeps its stack mapped until joined: near 33,000 shards a
/// Linux process runs out of memory maps (`vm.max_map_count`, 65,530 by
/// default) and aborts ("failed to set up alternative stack guard page").
/// 10,000 leaves a wide margin (a build of that many takes seconds).
pub const MAX_SHARDS: u32 = 10_000;

/// Checks a request before anything is written.
pub fn check_request(req: &BuildRequest) -> Result<(), BuildError> {
    if req.as_of < req.policy.training_start {
        return Err(BuildError::Refused(format!(
            "as-of {} is before training_start {} of policy {}; the policy allows no training build before then",
            rfc3339(req.as_of),
            rfc3339(req.policy.training_start),
            req.policy.name
        )));
    }
    if req.shards == 0 || req.shards > MAX_SHARDS {
        return Err(BuildError::Refused(format!(
            "--shards must be between 1 and {MAX_SHARDS}, not {}",
            req.shards
        )));
    }
    Ok(())
}

/// Writes the whole snapshot into `root` (an existing, empty staging
/// directory) and fsyncs every file and directory in it; the caller renames
/// it into place (the CLI does so as a recorded operation: see veto-store's
/// `operations`). `req.destination` is not used.
pub async fn build_staged(req: &BuildRequest, root: &Path) -> Result<StagedBuild, BuildError> {
    check_request(req)?;
    let root = root.to_path_buf();
    let progress = progress_bar(req.progress);
    // From the start: staging a JSON Lines export frees as much as the query.
    let returner = return_freed_memory(req.memory_limit);

    let persons_table = TableFile::locate(&req.data_dir, "persons")?;
    let items_table = TableFile::locate(&req.data_dir, "items")?;
    // The inputs' hashes for the manifest, on a thread of their own: the
    // first phases leave a core free.
    let input_hashes = {
        let paths = [persons_table.path.clone(), items_table.path.clone()];
        std::thread::spawn(move || paths.map(|path| sha256_file(&path)))
    };

    let mut rejections = Rejections::new(req.on_error, root.join("rejected.jsonl"));
    progress.set_message("reading persons");
    let clock = std::time::Instant::now();
    let phase = |name: &str| {
        tracing::info!(
            phase = name,
            elapsed_ms = clock.elapsed().as_millis() as u64,
            "build phase done"
        )
    };
    let objecting = objectors::objecting_users(&req.objections, req.as_of);
    let (persons, named) = load_persons_naming(&persons_table, req.as_of, &mut rejections, &objecting)?;
    let names = objectors::Names::start(named, &req.third_parties);
    phase("persons");
    let persons_rejected = rejections.persons;
    let threads = req.threads.max(1);
    // A Parquet export with the queried column types is read in place, and
    // its rows are checked inside the query (`veto_check_item`); anything
    // else is validated into a staged copy first.
    let in_place_rows = match (items_table.format, req.on_error) {
        (TableFormat::Parquet, OnError::Abort) => queryable_rows(&items_table)?,
        _ => None,
    };
    let staged = match in_place_rows {
        Some(rows) => StagedItems {
            path: items_table.path.clone(),
            read: rows,
            staged: rows,
            repeat_candidates: Vec::new(),
        },
        None => {
            progress.set_message("validating items");
            stage_items(
                &items_table,
                &persons,
                &mut rejections,
                &root.join("items.staged.parquet"),
                &progress,
            )?
        }
    };
    let staged_copy = in_place_rows.is_none();
    phase("items ready");

    let ctx = session(req, &root)?;
    if staged_copy {
        ctx.register_parquet("staged", path_str(&staged.path)?, ParquetReadOptions::default())
            .await?;
        drop_duplicates(&ctx, &items_table, &staged.repeat_candidates, &mut rejections).await?;
        phase("duplicates");
    } else {
        // Checked in place: the query engine reads the export itself.
        ctx.register_parquet("items", path_str(&staged.path)?, ParquetReadOptions::default())
            .await?;
    }
    let (names_job, screenings) = names
        .after_screening(&ctx, &req.third_parties, req.policy.third_party_review_threshold)
        .await?;
    let objections = Arc::new(ObjectionSlots::new(&req.objections));
    let shards_of = KeyedHasher::shards(&req.secret);
    let persons_read = persons.len() as u64 + persons_rejected;
    let persons = Arc::new(persons.into_table(
        |id| shards_of.shard_of(id, req.shards),
        |id| objections.slot(id),
        threads,
    ));
    let tally = Arc::new(Mutex::new(PersonTally::new(persons.ids())));
    phase("persons table");

    let objectors::Compiled {
        names: objector_names,
        owners,
        users,
    } = names_job.join().expect("objector names thread");
    let objector_names = Arc::new(objector_names);
    let policy = Arc::new(req.policy.clone());
    let redaction_counts = Arc::new(Mutex::new(RedactionCounts::default()));
    let mention_counts = Arc::new(Mutex::new(MentionCounts::default()));
    let included_facts = Arc::new(Mutex::new(IncludedFacts::default()));
    ctx.register_udf(PersonUdf::udf(persons.clone()));
    ctx.register_udf(ReasonUdf::udf(
        policy.clone(),
        req.as_of,
        persons.clone(),
        objections,
        included_facts.clone(),
        tally.clone(),
    ));
    ctx.register_udf(RedactUdf::udf(
        Redactor::new(policy.redaction),
        redaction_counts.clone(),
        objector_names.clone(),
        mention_counts.clone(),
    ));
    ctx.register_udf(ShardKeyUdf::udf(persons));
    ctx.register_udf(DocKeyUdf::udf(&req.secret));
    ctx.register_udf(IncludedUdf::udf());
    ctx.register_udf(LeafUdf::udf());
    let repeat_candidates = Arc::new(Mutex::new(Vec::new()));
    ctx.register_udf(CheckItemUdf::udf(staged.staged, repeat_candidates.clone()));

    progress.set_position(0);
    progress.set_length(staged.staged);
    progress.set_message("judging and writing");
    let mut shards = ShardSink::create(&root, req.shards)?;
    let mut exclusions = ParquetSink::create(root.join("exclusions.parquet"), EXCLUSIONS_SCHEMA.clone())?;
    let query = judge_and_sort(&ctx, in_place_rows.is_some()).await?;
    let mut repeats = RepeatWatch::new(repeat_candidates.clone());
    let judged = judge_and_write(
        &ctx,
        query,
        Sinks {
            shards: &mut shards,
            exclusions: &mut exclusions,
            repeats: &mut repeats,
        },
        &progress,
    )
    .await;
    drop(returner);
    let Judged {
        included,
        excluded,
        by_reason,
    } = match (judged, in_place_rows) {
        (Ok(judged), Some(rows)) if judged.included + judged.excluded == rows => judged,
        (Err(e), None) => return Err(e),
        (Ok(judged), None) => judged,
        (outcome, Some(_)) => {
            // A row failed its checks in the query, or rows went missing in
            // the author lookup (an author not in persons): name the first bad row.
            let persons = load_persons(&persons_table, req.as_of, &mut rejections)?;
            progress.set_message("finding the bad row");
            check_in_place(&items_table, &persons, threads, &progress)?;
            return Err(outcome.err().unwrap_or_else(|| {
                BuildError::Refused("internal: the query lost rows that all passed their checks".into())
            }));
        }
    };
    if let Some(candidates) = repeats.unsettled()
        && in_place_rows.is_some()
    {
        confirm_repeats(&items_table, candidates)?;
    }
    let (shard_infos, index, stats) = shards.finish()?;
    let exclusions = exclusions.finish(&root)?;
    phase("judged, sorted and written");
    drop(ctx);
    // The query's UDFs are gone with the session: the tally is ours alone.
    let mut tally = Arc::try_unwrap(tally)
        .map_err(|_| BuildError::Refused("internal: the person tally is still shared".into()))?
        .into_inner()
        .expect("tally lock");
    let mentions = objectors::settle(&objector_names, owners, &users, &mut tally);
    if staged_copy {
        std::fs::remove_file(&staged.path).map_err(BuildError::io(&staged.path))?;
    }
    let _ = std::fs::remove_dir_all(root.join("spill"));

    let items_rejected = rejections.items;
    let rejected = match rejections.finish()? {
        Some(path) => Some(describe(&path, &root, Some(persons_rejected + items_rejected))?),
        None => None,
    };
    let redactions = *redaction_counts.lock().expect("counts lock");
    let objector_mentions = *mention_counts.lock().expect("counts lock");
    let facts = *included_facts.lock().expect("facts lock");
    let [persons_hash, items_hash] = input_hashes.join().expect("input hashing thread");
    let mut inputs = Vec::new();
    for (table, hash, rows) in [
        (&persons_table, persons_hash, persons_read),
        (&items_table, items_hash, staged.read),
    ] {
        let (sha256, bytes) = hash?;
        inputs.push(FileInfo {
            file: table.name(),
            rows: Some(rows),
            bytes,
            sha256,
        });
    }
    let mut manifest = Manifest {
        format: SNAPSHOT_FORMAT.into(),
        snapshot_id: String::new(),
        as_of: rfc3339(req.as_of),
        policy: PolicyRef {
            name: req.policy.name.clone(),
            sha256: req.policy.sha256.clone(),
        },
        inputs,
        objections_on_file: req.objections.len() as u64,
        persons: Counts {
            read: persons_read,
            rejected: persons_rejected,
        },
        items: ItemCounts {
            read: staged.read,
            rejected: items_rejected,
            included,
            excluded,
        },
        excluded_by_reason: by_reason,
        included_by_kind: by_name(Kind::ALL, Kind::as_str, &facts.kinds),
        included_by_platform: by_name(Platform::ALL, Platform::as_str, &facts.platforms),
        included_by_audience: by_name(Audience::ALL, Audience::as_str, &facts.audiences),
        included_by_lang: stats.by_lang,
        included_text_bytes: stats.text_bytes,
        latest_item_created_at: facts
            .latest_created_us
            .map(|us| rfc3339(veto_core::time::from_micros(us))),
        redactions,
        objector_mentions,
        shard_count: req.shards,
        shards: shard_infos,
        index,
        exclusions,
        rejected,
    };
    manifest.snapshot_id = snapshot_id(&manifest);
    write_atomic(&root.join("policy.toml"), req.policy.source.as_bytes())?;
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    write_atomic(&root.join("manifest.json"), &json)?;
    progress.finish_and_clear();
    veto_snapshot::files::sync_tree(&root)?;
    Ok(StagedBuild {
        manifest,
        persons: tally,
        objectors: ObjectorFacts { mentions, screenings },
    })
}

/// Counts by vocabulary code as a map by name, leaving out zeros.
fn by_name<T: Copy>(all: &[T], name: fn(T) -> &'static str, counts: &[u64]) -> BTreeMap<String, u64> {
    all.iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(v, n)| (name(*v).to_string(), *n))
        .collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn path_str(p: &Path) -> Result<&str, BuildError> {
    p.to_str()
        .ok_or_else(|| BuildError::Refused(format!("path {} is not valid UTF-8", p.display())))
}

/// The id of a snapshot: a hash of its manifest (with an empty id), so it
/// names exactly this content built from exactly these inputs.
fn snapshot_id(manifest: &Manifest) -> String {
    let json = serde_json::to_vec(manifest).expect("manifest serialises");
    format!("snap-{}", &hex::encode(Sha256::digest(&json))[..20])
}

/// Rows per batch inside the query. Batches of 32k rows made the 10M build
/// about 1 s (7%) faster than DataFusion's 8k, for about 250 MiB more peak
/// memory (bench/RESULTS.md); a budget below the default says memory matters
/// more, so it keeps 8k. The output does not depend on it: the writers cut
/// their own fixed-size chunks.
fn batch_rows(memory_limit: usize) -> usize {
    if memory_limit >= DEFAULT_MEMORY_LIMIT {
        32 * 1024
    } else {
        8 * 1024
    }
}

/// Below the default budget, freed memory goes back to the system every
/// 200 ms while the build reads and queries (`memory::FreedMemoryReturner`).
/// Not at the default: there, once a second cost 1.2 s of 15 s at 10M items
/// for 330 MiB less; the default keeps the speed, a smaller budget buys
/// memory with time.
fn return_freed_memory(memory_limit: usize) -> Option<memory::FreedMemoryReturner> {
    (memory_limit < DEFAULT_MEMORY_LIMIT)
        .then(|| memory::FreedMemoryReturner::start(std::time::Duration::from_millis(200)))
}

fn session(req: &BuildRequest, root: &Path) -> Result<SessionContext, BuildError> {
    let threads = req.threads.max(1);
    let mut config = SessionConfig::new()
        .with_target_partitions(threads)
        .with_batch_size(batch_rows(req.memory_limit));
    // Read strings as Utf8, the type the shards are written in: no view/plain
    // conversions on the way through.
    config.options_mut().execution.parquet.schema_force_view_types = false;
    // Each sorting partition reserves this much for its final merge; keep the
    // reservations within the budget however small the budget is.
    let reservation = (req.memory_limit / (4 * threads)).min(10 << 20);
    config.options_mut().execution.sort_spill_reservation_bytes = reservation;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(memory::SpillBudgetPool::new(req.memory_limit)))
        .with_temp_file_path(root.join("spill"))
        .build_arc()?;
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

fn progress_bar(show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:20} [{bar:30}] {human_pos}/{human_len} rows ({per_sec})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Finds repeated item ids in the staged items. The first occurrence stays;
/// every later one is an error (or, in quarantine mode, a rejected row).
/// Registers the view `items` over the rows that remain.
///
/// Only the rows of `candidates` (the repeat filter's, from staging) are
/// read back: a GROUP BY over every staged id held memory in proportion to
/// the items.
async fn drop_duplicates(
    ctx: &SessionContext,
    table: &TableFile,
    candidates: &[String],
    rejections: &mut Rejections,
) -> Result<(), BuildError> {
    use datafusion::arrow::array::{StringArray, UInt64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::logical_expr::JoinType;
    use datafusion::prelude::col;
    let staged = ctx.table("staged").await?;
    let mut dropped = Vec::new();
    if !candidates.is_empty() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        let ids = StringArray::from_iter_values(candidates);
        let candidates = ctx.read_batch(RecordBatch::try_new(schema, vec![Arc::new(ids)])?)?;
        let rows = staged
            .clone()
            .join(candidates, JoinType::Inner, &["item_id"], &["id"], None)?
            .select_columns(&["row", "item_id"])?
            .sort(vec![col("row").sort(true, false)])?
            .collect()
            .await?;
        // Rows in file order: the first row of an id is its first occurrence.
        let mut first_rows: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for batch in &rows {
            let (rows, ids) = (
                batch.column(0).as_primitive::<UInt64Type>(),
                batch.column(1).as_string::<i32>(),
            );
            for i in 0..batch.num_rows() {
                let (row, id) = (rows.value(i), ids.value(i));
                let Some(&first) = first_rows.get(id) else {
                    first_rows.insert(id.to_string(), row);
                    continue;
                };
                let message = format!("duplicate item_id {id:?} (first at {} {first})", table.row_label());
                rejections.reject(
                    table.error_at(Some(row), Some("item_id"), message),
                    serde_json::json!({ "item_id": id }),
                    false,
                )?;
                dropped.push(row);
            }
        }
    }
    let items = if dropped.is_empty() {
        staged
    } else {
        let schema = Arc::new(Schema::new(vec![Field::new("dropped_row", DataType::UInt64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(dropped))])?;
        staged.join(
            ctx.read_batch(batch)?,
            JoinType::LeftAnti,
            &["row"],
            &["dropped_row"],
            None,
        )?
    };
    ctx.register_table("items", items.into_view())?;
    Ok(())
}
