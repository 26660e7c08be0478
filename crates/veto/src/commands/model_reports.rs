//! Reports and audits of models: `veto report contributions`, `veto audit
//! membership`, `veto unlearn --status`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use veto_models::{ModelManifest, contributions, membership, train};

/// Writes the CSV of each person's share of the model's training tokens
/// (current version): `person_ref,items,tokens,share`, sorted by
/// person_ref. Counted from the training sets; the tokens add up to the
/// model's training-set size, which the summary line says.
pub async fn contributions_cmd(home: &Path, model: &str, out: Option<PathBuf>) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let record = store.model(model).await?;
    let snap = store.snapshot(&record.snapshot_id).await?;
    let secret = store.secret().await?;
    store.close().await;
    let m: ModelManifest = serde_json::from_str(&record.manifest)
        .with_context(|| format!("the recorded manifest of model {}", record.model_id))?;
    let (rows, total) = contributions::compute(Path::new(&snap.path), &m)?;
    let size: u64 = m.shards.iter().map(|s| s.tokens).sum();
    if total != size {
        anyhow::bail!(
            "the training sets of {} version {} hold {total} tokens, model.json says {size}; \
             the snapshot's files are not the ones it was trained on",
            m.model_id,
            m.version
        );
    }
    let mut refs: Vec<(String, &contributions::Contribution)> = rows
        .iter()
        .map(|c| (veto_core::hashing::person_ref(&secret, &c.person_id), c))
        .collect();
    refs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut csv = String::from("person_ref,items,tokens,share\n");
    for (r, c) in &refs {
        let share = if total == 0 {
            0.0
        } else {
            c.tokens as f64 / total as f64
        };
        writeln!(csv, "{r},{},{},{share:.12}", c.items, c.tokens)?;
    }
    eprintln!(
        "{} version {}: {} persons, {total} training tokens (the model's training-set size)",
        m.model_id,
        m.version,
        refs.len()
    );
    super::transparency::emit(out.as_deref(), &csv)
}

/// Whose texts the membership audit tests.
pub enum Subjects {
    Person(String),
    /// This many persons, chosen by the seed.
    Sample(usize, u64),
}

/// `veto audit membership`: the figures of [`membership::audit`] as a
/// table, and a refusal if unlearning did not give the retrained model.
pub async fn audit_membership(home: &Path, model: &str, who: Subjects) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let record = store.model(model).await?;
    let snap = store.snapshot(&record.snapshot_id).await?;
    store.close().await;
    let (dir, snap_dir) = (Path::new(&record.path), Path::new(&snap.path));
    let m = train::read_manifest(dir)?;
    let trainer = super::models::trainer_for(&m)?;
    let persons = match who {
        Subjects::Person(p) => vec![p],
        Subjects::Sample(n, seed) => membership::sample_persons(snap_dir, n, seed)?,
    };
    let r = membership::audit(dir, snap_dir, &m, &trainer, &persons)?;
    println!(
        "Membership audit of {} version {}: {} person(s), {} of their texts in shard(s) {:?} against {} length-matched held-out texts",
        m.model_id, m.version, r.persons, r.members, r.shards, r.nonmembers
    );
    println!(
        "  model                        AUC loss  AUC Min-{}%  VerbMem",
        membership::K_PERCENT
    );
    let row = |name: &str, f: &veto_lm::membership::Figures| {
        println!(
            "  {name:<28} {:8.3}  {:11.3}  {:7.3}",
            f.auc_loss, f.auc_min_k, f.verbmem
        );
    };
    row("before unlearning", &r.before);
    match &r.after {
        Some(f) => row("after unlearning (current)", f),
        None => println!("  after unlearning             (not unlearned: the current model holds them)"),
    }
    row("retrained without them", &r.retrained);
    match r.privleak() {
        Some((loss, min_k)) => println!(
            "  PrivLeak: {loss:+.2}% (loss), {min_k:+.2}% (Min-K%); 0 means the unlearned model is the retrained one to an attacker"
        ),
        None => println!(
            "  PrivLeak: none yet (`veto unlearn --model {}` once their objection applies)",
            m.model_id
        ),
    }
    if r.after_is_retrained == Some(false) {
        anyhow::bail!("the unlearned shards differ from shards trained from scratch without the person(s)");
    }
    Ok(())
}

/// The one month of GDPR Art. 12(3), in days.
pub const DUE_DAYS: i64 = 30;

/// `veto unlearn --status`: late objections not yet unlearned, per model,
/// oldest first, with their age; `model` narrows to one model.
pub async fn unlearn_status(home: &Path, model: Option<&str>) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let only = match model {
        Some(m) => Some(store.model(m).await?.model_id),
        None => None,
    };
    let now = chrono::Utc::now();
    let pending: Vec<_> = store
        .pending_unlearnings(now)
        .await?
        .into_iter()
        .filter(|p| only.as_ref().is_none_or(|m| &p.model_id == m))
        .collect();
    store.close().await;
    let due: Vec<_> = pending.iter().filter(|p| !p.kept_by_policy).collect();
    if due.is_empty() {
        println!("No late objection waits to be unlearned.");
    } else {
        println!("model                  person_ref        items  filed                 age (days)");
        for p in &due {
            let age = (now - p.filed_at).num_days();
            println!(
                "{:<22} {:<16}  {:>5}  {}  {:>4}{}",
                p.model_id,
                &p.person_ref[..p.person_ref.len().min(16)],
                p.items,
                p.filed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                age,
                if age >= DUE_DAYS {
                    "  OVERDUE (Art. 12(3): one month)"
                } else {
                    ""
                }
            );
        }
        let models: Vec<&str> = due
            .iter()
            .map(|p| p.model_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        println!(
            "{} late objection(s) wait; `veto unlearn --model {}` honours them.",
            due.len(),
            models.join("` / `veto unlearn --model ")
        );
    }
    let kept = pending.len() - due.len();
    if kept > 0 {
        println!(
            "{kept} more late objector(s) stay in models whose snapshot policy keeps them (late_objections = keep_trained)."
        );
    }
    Ok(())
}

/// `veto prove --person P --model M`: for each shard that holds the
/// person's items, whether they are in the model's current training set,
/// with the recorded root, the root recomputed from the snapshot's files,
/// and the root of the shard without the person (a build without them).
pub async fn prove_training_sets(home: &Path, person: &str, model: &str) -> anyhow::Result<()> {
    let store = super::open_store(home).await?;
    let record = store.model(model).await?;
    let snap = store.snapshot(&record.snapshot_id).await?;
    store.close().await;
    let m: ModelManifest = serde_json::from_str(&record.manifest)
        .with_context(|| format!("the recorded manifest of model {}", record.model_id))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shards = membership::standing(Path::new(&snap.path), &m, person, threads)?;
    if shards.is_empty() {
        println!(
            "{person} has no item in the snapshot of {} ({}).",
            m.model_id, snap.snapshot_id
        );
        return Ok(());
    }
    println!(
        "{person} in {} version {} (snapshot {}):",
        m.model_id, m.version, snap.snapshot_id
    );
    let mut disagree = false;
    for s in &shards {
        let recorded = s.recorded_root.as_deref().unwrap_or("(not recorded)");
        let agrees = s.recorded_root.as_deref() == Some(s.recomputed_root.as_str());
        disagree |= !agrees;
        println!(
            "  shard {}: {} of their {} items in the training set; root {} recorded, {} recomputed from the snapshot{}",
            s.shard,
            s.in_set,
            s.items,
            recorded,
            if agrees { "the same" } else { s.recomputed_root.as_str() },
            if s.in_set == 0 && s.recomputed_root == s.root_without {
                "; it is the shard's training set without them, as a build that never had them"
            } else {
                ""
            }
        );
    }
    if disagree {
        anyhow::bail!("a recorded training-set root differs from the snapshot's files; run veto doctor");
    }
    Ok(())
}
