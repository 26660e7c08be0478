//! The second half of `veto demo`: the way back, told with one person who
//! objected in time and one who objects after the models were trained.
//! Each step says in one sentence what it shows and which command looks
//! further; the commands are the ones an operator runs.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use veto_core::{Objection, ObjectionScope, Policy};
use veto_store::Store;

use super::models::{audit_canary, train_cmd, trainer_from_flags, unlearn_cmd};

/// Persons of the story.
pub struct Cast {
    /// Objected by the deadline (scope all, never withdrawn), has items.
    pub in_time: String,
    /// Objects after the training: their late objection, held back so far.
    pub late: Objection,
}

/// Items of `person` a snapshot included.
async fn included(store: &Store, secret: &[u8], person: &str, snapshot_id: &str) -> anyhow::Result<(u64, u64)> {
    let rows = store.lookup(&veto_core::hashing::person_ref(secret, person)).await?;
    let p = rows
        .into_iter()
        .find(|r| r.snapshot_id == snapshot_id)
        .and_then(|r| r.person)
        .unwrap_or_default();
    Ok((p.included(), p.included() + p.excluded()))
}

/// Picks the cast among the export's objectors: the first in-time and the
/// first late objector (scope all, never withdrawn) with items the meta-2025
/// snapshot saw, and included for the late one.
pub async fn cast(store: &Store, objections: &[Objection], snapshot_id: &str) -> anyhow::Result<Cast> {
    let policy = Policy::preset("meta-2025").expect("preset exists");
    let secret = store.secret().await?;
    let plain = |o: &&Objection| o.scope == ObjectionScope::All && o.withdrawn_at.is_none();
    let mut in_time = None;
    for o in objections.iter().filter(plain).filter(|o| !policy.is_late(o.filed_at)) {
        if included(store, &secret, &o.person_id, snapshot_id).await?.1 > 0 {
            in_time = Some(o.person_id.clone());
            break;
        }
    }
    let mut late = None;
    for o in objections.iter().filter(plain).filter(|o| policy.is_late(o.filed_at)) {
        if included(store, &secret, &o.person_id, snapshot_id).await?.0 > 0 {
            late = Some(o.clone());
            break;
        }
    }
    Ok(Cast {
        in_time: in_time.context("the platform has no in-time objector with items; try more --persons")?,
        late: late.context("the platform has no late objector with included items; try more --persons")?,
    })
}

fn look(home: &Path, args: &str) {
    // A database named by flag must be named again; one from the
    // environment is still there. The URL prints without its password.
    let db = super::database(home);
    let database = if db != veto_store::Database::default_for(home) && std::env::var_os("VETO_DATABASE_URL").is_none() {
        format!(" --database '{db}'")
    } else {
        String::new()
    };
    println!("   Look further: veto --home {}{database} {args}", home.display());
}

/// The model trained on `snapshot_id`.
async fn model_of(store: &Store, snapshot_id: &str) -> anyhow::Result<String> {
    let m = store.models().await?;
    m.into_iter()
        .find(|m| m.snapshot_id == snapshot_id)
        .map(|m| m.model_id)
        .context("the model just trained is on record")
}

/// Steps 5 to 10. `meta` and `strict` are the two snapshots of the same data.
pub async fn tell(home: &Path, cast: &Cast, meta: &str, strict: &str, held_back: &[Objection]) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let secret = store.secret().await?;
    let (in_meta, seen) = included(&store, &secret, &cast.in_time, meta).await?;
    let (in_strict, _) = included(&store, &secret, &cast.in_time, strict).await?;
    println!();
    println!(
        "5. {} objected in time: {in_meta} of their {seen} items are in the meta-2025 snapshot, {in_strict} in the strict one.",
        cast.in_time
    );
    look(home, &format!("lookup --person {}", cast.in_time));

    println!();
    println!("6. Training the reference model (16 shards) on both snapshots ...");
    let trainer = trainer_from_flags("builtin", 5, Vec::new(), 0)?;
    train_cmd(home, meta, &trainer, None).await?;
    let started = Instant::now();
    train_cmd(home, strict, &trainer, None).await?;
    let full = started.elapsed();
    let (meta_model, strict_model) = (model_of(&store, meta).await?, model_of(&store, strict).await?);

    let late = &cast.late.person_id;
    let (items, _) = included(&store, &secret, late, strict).await?;
    store.import_objections(std::slice::from_ref(&cast.late)).await?;
    println!();
    println!("7. {late} objects now, after the training: their {items} items are in both models.");
    match unlearn_cmd(home, &meta_model).await {
        Ok(()) => anyhow::bail!("meta-2025 keeps late objectors, the unlearning should have been refused"),
        Err(e) => println!(
            "   Under meta-2025 they stay in the model: {}",
            first_sentence(&e.to_string())
        ),
    }
    let started = Instant::now();
    unlearn_cmd(home, &strict_model).await?;
    let one = started.elapsed();
    println!(
        "   Under strict they are gone: one shard retrained in {:.2} s, against {:.2} s for training all 16 ({:.1}x).",
        one.as_secs_f64(),
        full.as_secs_f64(),
        full.as_secs_f64() / one.as_secs_f64()
    );
    look(home, &format!("lookup --person {late}"));

    println!();
    println!("8. Does unlearning remove what the model memorised? A planted secret, before and after:");
    audit_canary(home, &strict_model, 255, 16, 1).await?;
    look(
        home,
        &format!("audit membership --model {strict_model} --person {late}"),
    );

    println!();
    println!("9. {late}'s certificate, signed, checked offline against the exported ledger:");
    let cert = home.join(format!("certificate-{late}.json"));
    let ledger = home.join("ledger.jsonl");
    super::certificate::certificate_cmd(home, late, Some(cert.clone()), true).await?;
    super::transparency::ledger_export(home, Some(ledger.clone())).await?;
    let text = std::fs::read_to_string(&cert)?;
    super::certificate::verify_certificate(&text, &cert, &ledger, None)?;
    look(
        home,
        &format!("verify {} --ledger {}", cert.display(), ledger.display()),
    );

    let counts = store.import_objections(held_back).await?;
    let waiting = store.pending_unlearnings(chrono::Utc::now()).await?;
    let due = waiting.iter().filter(|p| !p.kept_by_policy).count();
    println!();
    println!(
        "10. The export's other {} late objections are filed now: {due} person(s) wait to be unlearned from the strict model, \
         {} stay in the meta-2025 one by its policy.",
        counts.added,
        waiting.len() - due
    );
    look(home, "unlearn --status");
    store.close().await;
    Ok(())
}

fn first_sentence(s: &str) -> &str {
    s.split_once(": models already").map_or(s, |(a, _)| a)
}
