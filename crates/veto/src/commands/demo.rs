//! `veto demo`: the whole main job on the embedded defaults, end to end.

use std::path::Path;

use anyhow::bail;
use veto_core::Policy;
use veto_engine::build::DEFAULT_MEMORY_LIMIT;
use veto_engine::{BuildRequest, Destination, OnError};
use veto_store::Store;

/// Marks a home directory as created by `veto demo`, so a rerun may wipe it.
const MARKER: &str = ".veto-demo";

pub async fn run(home: &Path, persons: usize, seed: u64) -> anyhow::Result<()> {
    if home.exists() {
        if !home.join(MARKER).is_file() {
            bail!(
                "{} exists and was not made by `veto demo`; pass another --home (or VETO_HOME) for the demo",
                home.display()
            );
        }
        std::fs::remove_dir_all(home)?;
    }
    std::fs::create_dir_all(home)?;
    std::fs::write(
        home.join(MARKER),
        "created by veto demo; rerunning the demo replaces this directory\n",
    )?;

    let platform = home.join("platform");
    println!("1. Generating a synthetic platform ({persons} persons, seed {seed}) ...");
    let summary = veto_synth::generate(&platform, persons, seed, veto_synth::Format::Parquet)?;
    println!(
        "   {} persons, {} items, {} objections in {}",
        summary.persons,
        summary.items,
        summary.objections,
        platform.display()
    );

    println!("2. Importing objections into the state store ...");
    let store = Store::open(home).await?;
    let objections = veto_engine::export::read_objections(&platform.join("objections.jsonl"))?;
    let counts = store.import_objections(&objections).await?;
    let policy = Policy::preset("meta-2025").expect("preset exists");
    let late = objections.iter().filter(|o| policy.is_late(o.filed_at)).count();
    println!(
        "   {} objections on file ({} filed after the deadline {})",
        counts.added,
        late,
        policy.objection_deadline.with_timezone(&policy.timezone)
    );

    let as_of = policy.training_start;
    println!(
        "3. Building the first training snapshot with policy meta-2025 as of {} ...",
        as_of.with_timezone(&policy.timezone)
    );
    let request = BuildRequest {
        data_dir: platform,
        policy,
        as_of,
        shards: 16,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        destination: Destination::Under(home.join("snapshots")),
        on_error: OnError::Abort,
        secret: store.secret().await?,
        objections,
        memory_limit: DEFAULT_MEMORY_LIMIT,
        progress: true,
    };
    let started = std::time::Instant::now();
    let outcome = super::build::build_and_record(&store, request).await?;
    store.close().await;
    println!();
    super::build::print_summary(&outcome, started.elapsed());
    println!();
    println!("Try: veto --home {} snapshots list", home.display());
    Ok(())
}
