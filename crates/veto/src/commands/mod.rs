//! The subcommands. Each reads its inputs, calls one library function and
//! prints the result for a person.

pub mod build;
pub mod certificate;
pub mod demo;
mod demo_story;
pub mod doctor;
pub mod model_reports;
pub mod models;
pub mod portal;
pub mod store;
pub mod transparency;

use std::path::Path;

use anyhow::Context;
use veto_store::Store;

pub fn generate(
    out: &Path,
    persons: usize,
    max_posts: u32,
    seed: u64,
    format: veto_synth::Format,
    version: veto_synth::Version,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let summary = veto_synth::generate_export(out, persons, max_posts, seed, format, version)?;
    println!(
        "Generated {} persons, {} items and {} objections in {} ({:.1} s).",
        summary.persons,
        summary.items,
        summary.objections,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The database `--database` / `VETO_DATABASE_URL` named, set once by
/// main before any command runs (None: the SQLite file under the home).
/// A process-wide setting rather than a parameter of every command: it is
/// fixed for the life of the process, like the home.
static DATABASE: std::sync::OnceLock<Option<veto_store::Database>> = std::sync::OnceLock::new();

/// Sets the database every command opens; called once, by main.
pub fn set_database(database: Option<veto_store::Database>) {
    DATABASE.set(database).ok();
}

/// The store's database for the installation at `home`.
pub fn database(home: &Path) -> veto_store::Database {
    match DATABASE.get() {
        Some(Some(db)) => db.clone(),
        _ => veto_store::Database::default_for(home),
    }
}

/// Opens the store and recovers what a command that died left unfinished
/// (see veto-store's `operations`), saying so on stderr. Every command that
/// uses the store opens it here.
pub async fn open_store(home: &Path) -> anyhow::Result<Store> {
    let store = Store::open_at(home, &database(home)).await?;
    for r in store.recover(None).await? {
        let what = format!("an unfinished {} of {} (left in state {})", r.kind, r.target, r.from);
        match r.outcome.as_str() {
            "running" => {}
            "done" => eprintln!("Recovered {what}: completed."),
            "rolled_back" => eprintln!("Recovered {what}: rolled back."),
            failed => eprintln!("Could not recover {what}: {failed}. `veto doctor` says more."),
        }
    }
    Ok(store)
}

/// `veto redact`: stdin lines to stdout, redacted.
pub fn redact(policy: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    let policy = build::load_policy(policy)?;
    let redactor = veto_core::redact::Redactor::new(policy.redaction);
    let mut counts = veto_core::redact::RedactionCounts::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading standard input (one UTF-8 text per line)")?;
        writeln!(out, "{}", redactor.redact(&line, &mut counts))?;
    }
    out.flush()?;
    eprintln!(
        "redacted {} emails, {} phone numbers, {} IBANs, {} mentions, {} card numbers, {} tax ids",
        counts.emails, counts.phones, counts.ibans, counts.mentions, counts.cards, counts.tax_ids
    );
    Ok(())
}

pub async fn import_objections(home: &Path, file: &Path) -> anyhow::Result<()> {
    let read = veto_engine::export::read_objection_file(file)?;
    let store = open_store(home).await?;
    let (counts, subjects) = store
        .import_objection_file(&read.persons, &read.subjects)
        .await
        .with_context(|| format!("importing {}", file.display()))?;
    store.close().await;
    println!(
        "Imported {} objections from {} ({} already on file), {} of them by people without an account ({} already on file).",
        counts.added + subjects.added,
        file.display(),
        counts.unchanged + subjects.unchanged,
        subjects.added,
        subjects.unchanged
    );
    Ok(())
}

/// `veto objections review`: lists the held third-party objections, or
/// records a decision on one.
pub async fn review(
    home: &Path,
    decision: Option<(String, veto_store::reviews::Decision, String)>,
) -> anyhow::Result<()> {
    let store = open_store(home).await?;
    if let Some((id, decision, by)) = decision {
        store.decide_review(&id, decision, &by).await?;
        store.close().await;
        let what = match decision {
            veto_store::reviews::Decision::Approve => "approved: the next build applies it",
            veto_store::reviews::Decision::Reject => "rejected: no build applies it",
        };
        println!("Objection {id} {what}.");
        return Ok(());
    }
    let held = store.review_queue().await?;
    store.close().await;
    if held.is_empty() {
        println!("No third-party objection is waiting for review.");
    }
    for h in held {
        println!(
            "{}  {:?}  named by {} authors (threshold {})  screened {} in snapshot {}",
            h.objection_id,
            h.display_name
                .as_deref()
                .unwrap_or("(no name: handles or contacts only)"),
            h.authors,
            h.threshold,
            h.screened_at.to_rfc3339(),
            h.snapshot_id
        );
    }
    Ok(())
}

pub async fn list_snapshots(home: &Path) -> anyhow::Result<()> {
    let store = open_store(home).await?;
    let snapshots = store.snapshots().await?;
    store.close().await;
    if snapshots.is_empty() {
        println!("No snapshots yet. Build one with `veto build`.");
    }
    for s in snapshots {
        println!(
            "{}  as of {}  policy {}  {}",
            s.snapshot_id,
            s.as_of.to_rfc3339(),
            s.policy_name,
            s.path
        );
    }
    Ok(())
}
