//! `veto build`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use veto_core::Policy;
use veto_engine::Objector;
use veto_engine::build::{BuildOutcome, DEFAULT_MEMORY_LIMIT};
use veto_engine::{BuildRequest, Destination, OnError};
use veto_store::lock;
use veto_store::lookup::Page;
use veto_store::operations::{OpKind, Operation};
use veto_store::reviews::ObjectorRecord;
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
    let store = super::open_store(home).await?;
    let (read, third_parties) = store.build_inputs(as_of).await?;
    let request = BuildRequest {
        data_dir: args.data,
        policy,
        as_of,
        shards: args.shards,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        destination: match args.out {
            // Absolute: the store records it (see main.rs).
            Some(dir) => Destination::Exact(std::path::absolute(&dir).unwrap_or(dir)),
            None => Destination::Under(home.join("snapshots")),
        },
        on_error: match args.on_error {
            ErrorMode::Abort => OnError::Abort,
            ErrorMode::Quarantine => OnError::Quarantine,
        },
        secret: store.secret().await?,
        objections: read.objections,
        third_parties,
        memory_limit: args.memory_mib << 20,
        progress: true,
    };
    let started = std::time::Instant::now();
    let built = build_and_record(&store, request, Some(read.ledger_seq)).await?;
    store.close().await;
    print_summary(&built.outcome, started.elapsed());
    match built.repaired.as_deref() {
        Some([]) | None => {}
        Some(files) => println!(
            "  repaired on disk: {} (they were missing or changed)",
            files.join(", ")
        ),
    }
    Ok(())
}

/// A build as the CLI runs it: an operation of the store (see veto-store's
/// `operations`): intent, the snapshot staged and fsynced, renamed into
/// place, then the snapshot, its lookup and its ledger entry recorded in one
/// transaction. On any error the operation is rolled back; after a crash the
/// next command does that.
/// `objections_seq` is the ledger position the request's objections were
/// read at ([`Store::objections_read`]).
pub async fn build_and_record(
    store: &Store,
    request: BuildRequest,
    objections_seq: Option<u64>,
) -> anyhow::Result<Built> {
    veto_engine::build::check_request(&request)?;
    let (parent, exact) = match &request.destination {
        Destination::Exact(p) => {
            if p.exists() {
                bail!("{} already exists; nothing was overwritten", p.display());
            }
            (parent_of(p), Some(p.clone()))
        }
        Destination::Under(dir) => (dir.clone(), None),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let target = exact.as_ref().unwrap_or(&parent).display().to_string();
    let mut op = store.begin_operation(OpKind::Build, &target, &parent).await?;
    match build_steps(store, &mut op, &request, (&parent, exact), objections_seq).await {
        Ok(built) => {
            match built.repaired.is_some() {
                true => store.abandon_operation(op, "identical snapshot on record").await?,
                false => store.finish_operation(op).await?,
            }
            Ok(built)
        }
        Err(e) => {
            if let Err(undo) = store.roll_back(op).await {
                tracing::error!(error = %undo, "rolling back the build");
            }
            Err(e)
        }
    }
}

/// A recorded build.
pub struct Built {
    pub outcome: BuildOutcome,
    /// Some(files replaced) when an identical snapshot was already on record.
    pub repaired: Option<Vec<String>>,
}

async fn build_steps(
    store: &Store,
    op: &mut Operation,
    request: &BuildRequest,
    (parent, exact): (&Path, Option<PathBuf>),
    objections_seq: Option<u64>,
) -> anyhow::Result<Built> {
    let clock = std::time::Instant::now();
    let staged = veto_engine::build_staged(request, op.staging()).await?;
    tracing::info!(elapsed_ms = clock.elapsed().as_millis() as u64, "snapshot written");
    store.operation_staged(op).await?;
    let m = &staged.manifest;
    let resource = format!("snapshot-{}", m.snapshot_id);
    let _lock = lock::acquire(store.home(), &resource, "veto build", |who| {
        eprintln!("Waiting for {who}, which holds snapshot {} ...", m.snapshot_id)
    })
    .await?;
    store.recover(Some(&resource)).await?;
    let outcome = |path: PathBuf, already_built: bool, persons| BuildOutcome {
        manifest: m.clone(),
        path,
        already_built,
        persons,
        objectors: staged.objectors.clone(),
    };
    if let Some(existing) = store
        .snapshots()
        .await?
        .into_iter()
        .find(|s| s.snapshot_id == m.snapshot_id)
    {
        let path = PathBuf::from(&existing.path);
        let mut repaired = repair(&path, op.staging(), &m.snapshot_id)?;
        if store.snapshots_without_lookup().await?.contains(&m.snapshot_id) {
            // Recorded by a version of veto that wrote the lookup afterwards
            // and died in between: the rebuild completes it.
            let pages = lookup_pages(&staged.persons, &request.secret)?;
            store.record_lookup(&m.snapshot_id, &pages).await?;
            repaired.push("the per-person lookup".into());
        }
        // The same snapshot can still have screened a new third party (one
        // held leaves the output as it was): its hold must not be lost.
        if !staged.objectors.screenings.is_empty() {
            store
                .record_screenings(&m.snapshot_id, &staged.objectors.screenings)
                .await?;
        }
        return Ok(Built {
            outcome: outcome(path, true, staged.persons),
            repaired: Some(repaired),
        });
    }
    let from_id = exact.is_none();
    let dest = exact.unwrap_or_else(|| parent.join(&m.snapshot_id));
    if let Some(other) = store
        .snapshots()
        .await?
        .into_iter()
        .find(|s| Path::new(&s.path) == dest)
    {
        bail!(
            "{} is where snapshot {} is recorded (its files are missing); build into another directory, \
             or rebuild {} to restore it",
            dest.display(),
            other.snapshot_id,
            other.snapshot_id
        );
    }
    if store.unfinished_at(&dest).await? {
        bail!(
            "{} is the destination of an unfinished operation; `veto doctor` says which",
            dest.display()
        );
    }
    if from_id && dest.exists() {
        // <snapshots>/<id> that no record names: what a build that died
        // before builds were recorded operations left. Nothing refers to it.
        std::fs::remove_dir_all(&dest).with_context(|| format!("removing unrecorded {}", dest.display()))?;
    }
    store.operation_rename(op, &dest, &resource).await?;
    let manifest_path = dest.join("manifest.json");
    let manifest =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let pages = lookup_pages(&staged.persons, &request.secret)?;
    let objectors = objector_record(&staged.objectors, request);
    store
        .record_snapshot(
            &SnapshotRecord {
                snapshot_id: m.snapshot_id.clone(),
                as_of: request.as_of,
                policy_name: m.policy.name.clone(),
                policy_sha256: m.policy.sha256.clone(),
                path: dest.display().to_string(),
                built_at: Utc::now(),
                manifest,
                objections_seq,
            },
            &pages,
            &objectors,
            Some(op),
        )
        .await?;
    tracing::info!(
        elapsed_ms = clock.elapsed().as_millis() as u64,
        "snapshot and lookup recorded"
    );
    Ok(Built {
        outcome: outcome(dest, false, staged.persons),
        repaired: None,
    })
}

/// The third parties' mentions (users' are in the lookup pages) and the
/// screenings, keyed as the store keeps them.
fn objector_record(facts: &veto_engine::ObjectorFacts, request: &BuildRequest) -> ObjectorRecord {
    // One objection id may have several subjects (a form of an older
    // version): their mentions add up.
    let mut mentions: std::collections::BTreeMap<String, u64> = Default::default();
    for (who, n) in &facts.mentions {
        if let Objector::ThirdParty(id) = who {
            *mentions.entry(veto_store::reviews::third_party_ref(id)).or_default() += n;
        }
    }
    // Mentions are at least the distinct authors, so only a count above
    // the threshold can mean a name has become common since it was cleared.
    let threshold = request.policy.third_party_review_threshold;
    let rescreen = request
        .third_parties
        .iter()
        .filter(|t| t.screened)
        .filter(|t| {
            mentions
                .get(&veto_store::reviews::third_party_ref(&t.objection_id))
                .is_some_and(|n| *n > threshold)
        })
        .map(|t| t.objection_id.clone())
        .collect();
    ObjectorRecord {
        mentions: mentions.into_iter().collect(),
        screenings: facts.screenings.clone(),
        rescreen,
    }
}

/// Compares every file of a snapshot on record with the identical build
/// just staged and moves the staged copy over each one that is missing or
/// differs (each by one rename). Returns the files replaced.
fn repair(recorded: &Path, staged: &Path, snapshot_id: &str) -> anyhow::Result<Vec<String>> {
    // Only ever into the snapshot's own directory: files of another
    // snapshot there (the path reused) are not this one's to replace.
    if let Ok((there, _)) = veto_audit::read_manifest(recorded)
        && there.snapshot_id != snapshot_id
    {
        bail!(
            "{} holds snapshot {}, not {snapshot_id} as recorded; nothing was changed",
            recorded.display(),
            there.snapshot_id
        );
    }
    let mut replaced = Vec::new();
    let mut files = Vec::new();
    list_files(staged, Path::new(""), &mut files)?;
    for rel in files {
        let fresh = staged.join(&rel);
        let old = recorded.join(&rel);
        let same = old.is_file() && veto_snapshot::sha256_file(&old)?.0 == veto_snapshot::sha256_file(&fresh)?.0;
        if !same {
            if let Some(dir) = old.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::rename(&fresh, &old).with_context(|| format!("restoring {}", old.display()))?;
            std::fs::File::open(old.parent().unwrap_or(recorded))
                .and_then(|d| d.sync_all())
                .with_context(|| format!("syncing {}", recorded.display()))?;
            replaced.push(rel.display().to_string());
        }
    }
    Ok(replaced)
}

fn list_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let dir = root.join(rel);
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if veto_store::operations::is_marker(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let rel = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            list_files(root, &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    out.sort();
    Ok(())
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The store's lookup pages from the build's per-person counts: keyed
/// hashes on every core, sorted into the lookup's key order, packed.
/// The lookup pages of a snapshot, with each objecting user's mentions in
/// other people's text.
pub fn lookup_pages(persons: &veto_engine::PersonTally, secret: &[u8]) -> anyhow::Result<Vec<Page>> {
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
            mentions: persons.mentions(i as usize),
        };
        (person_ref, counts)
    });
    veto_store::lookup::page::pack(entries)
        .map_err(|k| anyhow::anyhow!("two persons share the person_ref {}", hex::encode(k)))
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
    let o = &m.objector_mentions;
    println!(
        "  objectors named in others' text, replaced: {} names, {} handles, {} emails, {} phones",
        thousands(o.names),
        thousands(o.handles),
        thousands(o.emails),
        thousands(o.phones)
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
