//! Exact unlearning and the canary audit on a generated platform.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use veto_core::{Channel, Objection, ObjectionScope, Policy};
use veto_engine::build::DEFAULT_MEMORY_LIMIT;
use veto_engine::{BuildRequest, Destination, OnError};
use veto_lm::KneserNey;
use veto_models::{canary, membership, train, unlearn};

const SECRET: &[u8] = b"model test secret";

fn as_of() -> DateTime<Utc> {
    veto_core::time::parse_rfc3339("2025-07-01T00:00:00Z").unwrap()
}

fn build(data: &Path, out: PathBuf, objections: Vec<Objection>) -> PathBuf {
    let req = BuildRequest {
        data_dir: data.to_path_buf(),
        policy: Policy::preset("strict").unwrap(),
        as_of: as_of(),
        shards: 4,
        threads: 2,
        destination: Destination::Exact(out.clone()),
        on_error: OnError::Abort,
        secret: SECRET.to_vec(),
        objections,
        third_parties: Vec::new(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        progress: false,
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(veto_engine::build(req))
        .unwrap();
    out
}

fn objection(person: &str, filed_at: DateTime<Utc>) -> Objection {
    Objection {
        objection_id: format!("late-{person}"),
        person_id: person.into(),
        scope: ObjectionScope::All,
        filed_at,
        withdrawn_at: None,
        channel: Channel::Web,
    }
}

/// An included person with text items, read from the index.
fn included_person(snapshot: &Path) -> String {
    let f = std::fs::File::open(snapshot.join("index.parquet")).unwrap();
    let mut r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let b = r.next().unwrap().unwrap();
    arrow::array::AsArray::as_string::<i32>(b.column_by_name("person_id").unwrap())
        .value(0)
        .to_string()
}

#[test]
fn unlearning_a_person_gives_exactly_the_model_of_data_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    veto_synth::generate(&data, 250, 31, veto_synth::Format::Parquet).unwrap();
    let on_file = veto_engine::export::read_objections(&data.join("objections.jsonl")).unwrap();
    // Only objections the build honours anyway (filed before as_of) stay on file.
    let before: Vec<Objection> = on_file.into_iter().filter(|o| o.filed_at <= as_of()).collect();
    let snap_a = build(&data, tmp.path().join("a"), before.clone());
    let person = included_person(&snap_a);

    let kn = KneserNey::new(4).unwrap();
    let model_dir = tmp.path().join("model");
    let trained = train::train_model(
        &snap_a,
        &model_dir,
        &veto_models::trainer::ShardTrainer::Builtin(kn),
        2,
        "2025-07-02T00:00:00Z",
    )
    .unwrap();
    assert!(
        trained.heldout.perplexity.is_finite() && trained.heldout.perplexity < 40.0,
        "{:?}",
        trained.heldout
    );

    // The person objects late; unlearning finds only their items.
    let mut now_on_file = before.clone();
    now_on_file.push(objection(&person, as_of() + Duration::days(10)));
    let seen: BTreeSet<String> = BTreeSet::new();
    let candidates = unlearn::candidates(&now_on_file, as_of(), Some(&seen));
    assert!(candidates.contains_key(&person));
    for (p, objs) in &candidates {
        assert!(
            objs.iter().any(|o| o.filed_at > as_of()),
            "{p}: an objector the build judged in full is not read again"
        );
    }
    let later = as_of() + Duration::days(11);
    let plan = unlearn::plan(&snap_a, &candidates, None, later, &BTreeSet::new()).unwrap();
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].person_id, person);
    let shards: BTreeSet<u32> = plan[0].docs.iter().map(|(_, s)| *s).collect();
    assert_eq!(shards.len(), 1, "one person, one shard");
    // Reading only the person's shard's index rows finds the same items;
    // another shard's rows hold none of them.
    assert_eq!(
        unlearn::plan(&snap_a, &candidates, Some(&shards), later, &BTreeSet::new()).unwrap(),
        plan
    );
    let other: BTreeSet<u32> = (0..4).filter(|s| !shards.contains(s)).take(1).collect();
    assert!(
        unlearn::plan(&snap_a, &candidates, Some(&other), later, &BTreeSet::new())
            .unwrap()
            .is_empty()
    );
    let staging = model_dir.join("v2");
    let apply = unlearn::Apply {
        model_dir: &model_dir,
        staging: &staging,
        snapshot_dir: &snap_a,
        current: &trained,
        trainer: &veto_models::trainer::ShardTrainer::Builtin(kn),
        threads: 2,
        at: "2025-07-12T00:00:00Z",
        objections_seq: None,
    };
    let unlearned = unlearn::apply(&apply, &plan, vec!["ref".into()]).unwrap();
    assert_eq!(unlearned.version, 2);
    assert_eq!(
        unlearned.versions[1].retrained_shards,
        shards.iter().copied().collect::<Vec<_>>()
    );
    let changed: Vec<u32> = trained
        .shards
        .iter()
        .zip(&unlearned.shards)
        .filter(|(a, b)| a.model_sha256 != b.model_sha256)
        .map(|(a, _)| a.shard)
        .collect();
    assert_eq!(
        changed,
        shards.iter().copied().collect::<Vec<_>>(),
        "only the person's shard changed"
    );

    // The same data, had the person objected before the build.
    let mut objected_early = before;
    objected_early.push(objection(&person, as_of() - Duration::days(1)));
    let snap_b = build(&data, tmp.path().join("b"), objected_early);
    let without = train::train_model(
        &snap_b,
        &tmp.path().join("model-b"),
        &veto_models::trainer::ShardTrainer::Builtin(kn),
        2,
        "2025-07-02T00:00:00Z",
    )
    .unwrap();
    assert_eq!(
        unlearned.model_sha256, without.model_sha256,
        "unlearn(train(D), P) == train(D without P)"
    );
    assert_ne!(trained.model_sha256, without.model_sha256);

    // Membership inference: before unlearning the trained model; after it,
    // the unlearned model is to an attacker exactly the retrained one.
    let person = [person];
    let audit_v1 = membership::audit(&model_dir, &snap_a, &trained, &kn, &person).unwrap();
    assert!(
        audit_v1.members > 0 && audit_v1.nonmembers == audit_v1.members,
        "{audit_v1:?}"
    );
    assert_eq!(audit_v1.after, None, "version 1 still holds the person");
    assert_eq!(audit_v1.shards, shards.iter().copied().collect::<Vec<_>>());
    let audit_v2 = membership::audit(&model_dir, &snap_a, &unlearned, &kn, &person).unwrap();
    assert_eq!(audit_v2.after_is_retrained, Some(true));
    assert_eq!(audit_v2.after.as_ref(), Some(&audit_v2.retrained));
    assert_eq!(audit_v2.privleak(), Some((0.0, 0.0)));
    assert_eq!(audit_v2.before, audit_v1.before, "before unlearning is version 1");

    // Nothing is left to unlearn afterwards.
    let removed: BTreeSet<String> = unlearned.removed_doc_ids.iter().cloned().collect();
    assert!(
        unlearn::plan(&snap_a, &candidates, None, as_of() + Duration::days(12), &removed)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_canary_is_exposed_before_unlearning_and_not_after() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    veto_synth::generate(&data, 120, 8, veto_synth::Format::Parquet).unwrap();
    let snap = build(&data, tmp.path().join("snap"), vec![]);
    let kn = KneserNey::new(5).unwrap();
    let model_dir = tmp.path().join("model");
    let m = train::train_model(
        &snap,
        &model_dir,
        &veto_models::trainer::ShardTrainer::Builtin(kn),
        2,
        "2025-07-02T00:00:00Z",
    )
    .unwrap();
    let r = canary::audit(&model_dir, &snap, &m, &kn, SECRET, 511, 16, 1).unwrap();
    assert!((r.max_exposure - 9.0).abs() < 1e-9);
    assert!(r.exposure_before > 8.0, "memorised: {r:?}");
    assert_eq!(
        r.shard_sha256_after, r.shard_sha256_never_seen,
        "exactly the model that never saw it"
    );
    assert_eq!(r.exposure_after, r.exposure_never_seen);
    assert!(r.exposure_after < 5.0, "no longer memorised: {r:?}");
    // Its posts are told apart from held-out texts while trained on, and
    // the unlearned model tells them apart exactly as well as the one that
    // never saw them; it reproduced them verbatim, and no longer does.
    let [before, after, never] = &r.membership;
    assert!(before.auc_loss > 0.9 && before.auc_min_k > 0.9, "{before:?}");
    assert_eq!(after, never);
    assert!(before.verbmem > after.verbmem, "{before:?} {after:?}");
}
