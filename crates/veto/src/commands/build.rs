//! `veto build`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use veto_core::Policy;
use veto_engine::build::{BuildOutcome, DEFAULT_MEMORY_LIMIT};
use veto_engine::{BuildRequest, Destination, OnError};
use veto_store::{SnapshotRecord, Store};

#[derive(Args)]
pub struct BuildArgs {
    /// The export directory (persons and items, Parquet or JSON Lines).
    #[arg(long)]
    pub data: PathBuf,
    /// A preset (meta-2025, strict) or a policy TOML file.
    #[arg(long)]
    pub policy: String,
    /// The build's as-of time (RFC 3339 with offset), or `now`.
    #[arg(long)]
    pub as_of: String,
    #[arg(long, default_value_t = 16)]
    pub shards: u32,
    /// Worker threads for the query engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// The snapshot directory (default: <home>/snapshots/<snapshot id>). Must not exist.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ErrorMode::Abort)]
    pub on_error: ErrorMode,
    /// Memory for the sorts and their merges before they spill to disk, in
    /// MiB (per-person state comes on top). Below the default, the build
    /// also hands freed memory back as it goes: slower, and smaller.
    #[arg(long, default_value_t = DEFAULT_MEMORY_LIMIT / (1 << 20))]
    pub memory_mib: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ErrorMode {
    /// Stop at the first bad row and write nothing.
    Abort,
    /// Write bad rows with their error to rejected.jsonl and continue.
    Quarantine,
}

/// A preset by name, or a TOML file.
pub fn load_policy(spec: &str) -> anyhow::Result<Policy> {
    if let Some(p) = Policy::preset(spec) {
        return Ok(p);
    }
    let path = Path::new(spec);
    if !path.is_file() {
        bail!(
            "policy {spec:?} is neither a preset ({}) nor a file",
            veto_core::policy::PRESETS.join(", ")
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading policy {}", path.display()))?;
    Ok(Policy::from_toml(&text, &path.display().to_string())?)
}

pub fn parse_as_of(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if s == "now" {
        return Ok(Utc::now());
    }
    veto_core::time::parse_rfc3339(s).map_err(|m| anyhow::anyhow!("--as-of: {m}"))
}

pub async fn run(home: &Path, args: BuildArgs) -> anyhow::Result<()> {
    let policy = load_policy(&args.policy)?;
    let as_of = parse_as_of(&args.as_of)?;
    let store = Store::open(home).await?;
    let request = BuildRequest {
        data_dir: args.data,
        policy,
        as_of,
        shards: args.shards,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        destination: match args.out {
            Some(dir) => Destination::Exact(dir),
            None => Destination::Under(home.join("snapshots")),
        },
        on_error: match args.on_error {
            ErrorMode::Abort => OnError::Abort,
            ErrorMode::Quarantine => OnError::Quarantine,
        },
        secret: store.secret().await?,
        objections: store.objections().await?,
        memory_limit: args.memory_mib << 20,
        progress: true,
    };
    let started = std::time::Instant::now();
    let outcome = build_and_record(&store, request).await?;
    store.close().await;
    print_summary(&outcome, started.elapsed());
    Ok(())
}

/// Runs a build, records the snapshot (and its ledger entry) in the store,
/// and fills the per-person lookup for it.
pub async fn build_and_record(store: &Store, request: BuildRequest) -> anyhow::Result<BuildOutcome> {
    let as_of = request.as_of;
    let secret = request.secret.clone();
    let clock = std::time::Instant::now();
    let outcome = veto_engine::build(request).await?;
    tracing::info!(elapsed_ms = clock.elapsed().as_millis() as u64, "snapshot written");
    let m = &outcome.manifest;
    let manifest_path = outcome.path.join("manifest.json");
    let manifest =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    store
        .record_snapshot(&SnapshotRecord {
            snapshot_id: m.snapshot_id.clone(),
            as_of,
            policy_name: m.policy.name.clone(),
            policy_sha256: m.policy.sha256.clone(),
            path: outcome.path.display().to_string(),
            built_at: Utc::now(),
            manifest,
        })
        .await?;
    tracing::info!(elapsed_ms = clock.elapsed().as_millis() as u64, "snapshot recorded");
    record_lookup(store, &outcome.persons, &m.snapshot_id, &secret).await?;
    tracing::info!(elapsed_ms = clock.elapsed().as_millis() as u64, "lookup recorded");
    Ok(outcome)
}

/// Records the store's lookup from the build's per-person counts: keyed
/// hashes on every core, sorted into the lookup's key order, packed into
/// pages, and written in one transaction.
pub async fn record_lookup(
    store: &Store,
    persons: &veto_engine::PersonTally,
    snapshot_id: &str,
    secret: &[u8],
) -> anyhow::Result<()> {
    let hasher = veto_core::hashing::KeyedHasher::person_refs(secret);
    let indices: Vec<u32> = persons.persons().map(|(i, _)| i as u32).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut refs: Vec<([u8; 16], u32)> = std::thread::scope(|scope| {
        let parts: Vec<_> = indices
            .chunks(indices.len().div_ceil(threads).max(1))
            .map(|part| {
                scope.spawn(|| {
                    part.iter()
                        .map(|&i| (hasher.truncated(persons.person_id(i as usize)), i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("hashing thread"))
            .collect()
    });
    refs.sort_unstable();
    let entries = refs.iter().map(|&(person_ref, i)| {
        let (shard, kinds, platforms, reasons) = persons.counts_by_code(i as usize);
        let counts = veto_store::lookup::PersonCounts {
            shard,
            kinds,
            platforms,
            reasons,
        };
        (person_ref, counts)
    });
    let pages = veto_store::lookup::page::pack(entries)
        .map_err(|k| anyhow::anyhow!("two persons share the person_ref {}", hex::encode(k)))?;
    store.record_lookup(snapshot_id, &pages).await?;
    Ok(())
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn print_summary(outcome: &BuildOutcome, elapsed: std::time::Duration) {
    let m = &outcome.manifest;
    let pct = |n: u64| {
        if m.items.read == 0 {
            0.0
        } else {
            100.0 * n as f64 / m.items.read as f64
        }
    };
    println!(
        "Snapshot {}  (policy {}, as of {})",
        m.snapshot_id, m.policy.name, m.as_of
    );
    if outcome.already_built {
        println!("  (identical snapshot already built; nothing new written)");
    }
    println!("  items read      {:>12}", thousands(m.items.read));
    println!(
        "  included        {:>12}  {:5.1}%  in {} shards",
        thousands(m.items.included),
        pct(m.items.included),
        m.shard_count
    );
    println!(
        "  excluded        {:>12}  {:5.1}%",
        thousands(m.items.excluded),
        pct(m.items.excluded)
    );
    for reason in veto_core::Reason::ALL {
        let n = m.excluded_by_reason.get(reason.as_str()).copied().unwrap_or(0);
        println!("    {:<16}{:>10}", reason.as_str(), thousands(n));
    }
    println!(
        "  rejected rows   {:>12}",
        thousands(m.items.rejected + m.persons.rejected)
    );
    let r = &m.redactions;
    println!(
        "  redacted        {} emails, {} phone numbers, {} IBANs, {} mentions",
        thousands(r.emails),
        thousands(r.phones),
        thousands(r.ibans),
        thousands(r.mentions)
    );
    println!("  objections on file when built: {}", thousands(m.objections_on_file));
    println!("Files in {}:", outcome.path.display());
    println!(
        "  shards/shard-00000.parquet .. shard-{:05}.parquet   training data (no person ids)",
        m.shard_count.saturating_sub(1)
    );
    println!("  index.parquet, exclusions.parquet                  private: who is in, who is out and why");
    println!("  manifest.json                                      counts, file hashes, Merkle roots");
    if m.rejected.is_some() {
        println!("  rejected.jsonl                                     rows that failed validation, with errors");
    }
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        println!(
            "Built in {secs:.2} s ({} items/s).",
            thousands((m.items.read as f64 / secs) as u64)
        );
    }
}
