//! `veto demo`: the whole main job on the embedded defaults, end to end.

use std::path::Path;

use anyhow::bail;
use veto_core::Policy;
use veto_engine::build::DEFAULT_MEMORY_LIMIT;
use veto_engine::{BuildRequest, Destination, OnError};
use veto_store::Store;

/// Marks a home directory as created by `veto demo`, so a rerun may wipe it.
const MARKER: &str = ".veto-demo";

pub async fn run(home: &Path, persons: usize, seed: u64, serve: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
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
    let summary = veto_synth::generate_export(
        &platform,
        persons,
        veto_synth::DEFAULT_MAX_POSTS,
        seed,
        veto_synth::Format::Parquet,
        veto_synth::Version::V1_1,
    )?;
    println!(
        "   {} persons, {} items, {} objections in {}",
        summary.persons,
        summary.items,
        summary.objections,
        platform.display()
    );

    println!("2. Importing the objections filed by the deadline into the state store ...");
    let store = super::open_store(home).await?;
    let objections = veto_engine::export::read_objections(&platform.join("objections.jsonl"))?;
    let policy = Policy::preset("meta-2025").expect("preset exists");
    // The late ones come after the models are trained (step 7 on).
    let (late, in_time): (Vec<_>, Vec<_>) = objections.iter().cloned().partition(|o| policy.is_late(o.filed_at));
    let counts = store.import_objections(&in_time).await?;
    println!(
        "   {} objections on file; {} more in the export were filed after the deadline {} and come later",
        counts.added,
        late.len(),
        policy.deadline_display()
    );

    let as_of = policy.training_start;
    println!(
        "3. Building the first training snapshot with policy meta-2025 as of {} ...",
        as_of.with_timezone(&policy.timezone)
    );
    // What the build considers: the objections on file, as of one ledger position.
    let read = store.objections_read().await?;
    let request = BuildRequest {
        data_dir: platform.clone(),
        policy,
        as_of,
        shards: 16,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        destination: Destination::Under(home.join("snapshots")),
        on_error: OnError::Abort,
        secret: store.secret().await?,
        objections: read.objections,
        third_parties: Vec::new(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        progress: true,
    };
    let started = std::time::Instant::now();
    let strict_request = BuildRequest {
        data_dir: request.data_dir.clone(),
        policy: Policy::preset("strict").expect("preset exists"),
        as_of: request.as_of,
        shards: request.shards,
        threads: request.threads,
        destination: Destination::Under(home.join("snapshots")),
        on_error: OnError::Abort,
        secret: request.secret.clone(),
        objections: request.objections.clone(),
        third_parties: Vec::new(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        progress: false,
    };
    let outcome = super::build::build_and_record(&store, request, Some(read.ledger_seq))
        .await?
        .outcome;
    println!();
    super::build::print_summary(&outcome, started.elapsed());
    println!();
    println!("Try: veto --home {} snapshots list", home.display());
    println!();
    println!(
        "4. Building the same data under veto's strict policy (no assistant chats; late objections are unlearned) ..."
    );
    let strict = super::build::build_and_record(&store, strict_request, Some(read.ledger_seq))
        .await?
        .outcome;
    println!(
        "   {}: {} items included, {} excluded",
        strict.manifest.snapshot_id, strict.manifest.items.included, strict.manifest.items.excluded
    );
    let cast = super::demo_story::cast(&store, &objections, &outcome.manifest.snapshot_id).await?;
    store.close().await;
    let held_back: Vec<_> = late
        .iter()
        .filter(|o| o.objection_id != cast.late.objection_id)
        .cloned()
        .collect();
    let story_started = std::time::Instant::now();
    super::demo_story::tell(
        home,
        &cast,
        &outcome.manifest.snapshot_id,
        &strict.manifest.snapshot_id,
        &held_back,
    )
    .await?;
    println!();
    println!("The story took {:.1} s.", story_started.elapsed().as_secs_f64());
    let store = super::open_store(home).await?;
    let demo_objections = objections;
    let Some(listen) = serve else {
        store.close().await;
        return Ok(());
    };
    let logins = create_demo_logins(&store, persons, &demo_objections).await?;
    store.close().await;
    println!();
    println!("Demo logins (password {DEMO_PASSWORD}):");
    for (what, user) in logins {
        println!("  {what:<44} {user}");
    }
    println!("  (the demo operator logs in without a second factor; `veto serve` requires one)");
    let options = super::portal::ServeOptions {
        config: None,
        listen: Some(listen),
        public_url: None,
        policy: Some("meta-2025".to_string()),
        smtp: None,
        mail_from: None,
        trusted_proxies: Vec::new(),
        public_metrics: false,
        operator_mfa_required: false,
    };
    super::portal::serve(home, options).await
}

/// The password of every demo account. Demo only.
const DEMO_PASSWORD: &str = "veto-demo-2025";

/// Accounts for every generated person and an operator; returns the three
/// logins worth trying first.
async fn create_demo_logins(
    store: &Store,
    persons: usize,
    objections: &[veto_core::Objection],
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let policy = Policy::preset("meta-2025").expect("preset exists");
    // One argon2id hash shared by every demo account: hashing thousands of
    // identical demo passwords one by one would only slow the demo down.
    let hash = tokio::task::spawn_blocking(|| veto_portal::auth::hash_password(DEMO_PASSWORD)).await?;
    let secret = store.secret().await?;
    let mut clean = None;
    for i in 0..persons {
        let id = format!("p{i:08}");
        let role = veto_store::accounts::Role::Person { person_id: id.clone() };
        store
            .upsert_account(&id, &role, Some(&format!("{id}@example.invalid")), &hash)
            .await?;
        if clean.is_none() && !objections.iter().any(|o| o.person_id == id) {
            let rows = store.lookup(&veto_core::hashing::person_ref(&secret, &id)).await?;
            if rows.iter().any(|r| r.person.as_ref().is_some_and(|p| p.included() > 0)) {
                clean = Some(id);
            }
        }
    }
    store
        .upsert_account("operator", &veto_store::accounts::Role::Operator, None, &hash)
        .await?;
    let pick = |late: bool| {
        objections
            .iter()
            .find(|o| {
                policy.is_late(o.filed_at) == late
                    && o.withdrawn_at.is_none()
                    && o.scope == veto_core::ObjectionScope::All
            })
            .map(|o| o.person_id.clone())
            .unwrap_or_default()
    };
    Ok(vec![
        ("an adult who has not objected", clean.unwrap_or_default()),
        ("objected before the deadline", pick(false)),
        ("objected after the deadline", pick(true)),
        ("operator (dashboard at /operator)", "operator".into()),
    ])
}
