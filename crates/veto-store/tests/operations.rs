//! The operation state machine under random interleavings: several
//! operations in flight, each advanced step by step, some of them dying
//! (their `Operation` dropped without finishing, which releases their lock
//! as the kernel does for a dead process), and recoveries run in between.
//! Checked against a model of what must be true: a recovery never touches a
//! live operation's files, rolls back every dead one short of its commit
//! point, and completes every dead one past it; the snapshots listed are
//! exactly the recorded ones, and each has its files.

use std::path::PathBuf;

use proptest::prelude::*;
use veto_store::operations::{OpKind, OpState, Operation};
use veto_store::{SnapshotRecord, Store};

#[derive(Clone, Debug)]
enum Action {
    Begin,
    /// Advance the n-th live operation by one step.
    Advance(usize),
    /// The n-th live operation's command dies.
    Die(usize),
    Recover,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::Begin),
        5 => (0usize..4).prop_map(Action::Advance),
        2 => (0usize..4).prop_map(Action::Die),
        2 => Just(Action::Recover),
    ]
}

/// What the model knows of one operation.
struct Tracked {
    id: String,
    staging: PathBuf,
    dest: PathBuf,
    /// The state it reached (its last step that completed).
    state: OpState,
    live: Option<Operation>,
}

fn record(id: &str, dest: &std::path::Path) -> SnapshotRecord {
    SnapshotRecord {
        snapshot_id: id.to_string(),
        as_of: chrono::Utc::now(),
        policy_name: "strict".into(),
        policy_sha256: "0".repeat(64),
        path: dest.display().to_string(),
        built_at: chrono::Utc::now(),
        manifest: "{}".into(),
        objections_seq: Some(0),
    }
}

async fn advance(store: &Store, t: &mut Tracked) {
    let Some(op) = t.live.as_mut() else { return };
    match t.state {
        OpState::Intent => {
            std::fs::write(op.staging().join("manifest.json"), "{}").unwrap();
            store.operation_staged(op).await.unwrap();
            t.state = OpState::Staged;
        }
        OpState::Staged => {
            store
                .operation_rename(op, &t.dest, &format!("snapshot-{}", t.id))
                .await
                .unwrap();
            t.state = OpState::Renamed;
        }
        OpState::Renamed => {
            store
                .record_snapshot(&record(&t.id, &t.dest), &[], &Default::default(), Some(op))
                .await
                .unwrap();
            t.state = OpState::Recorded;
        }
        OpState::Recorded => {
            store.finish_operation(t.live.take().unwrap()).await.unwrap();
            t.state = OpState::Done;
        }
        OpState::Done | OpState::RolledBack => {}
    }
}

/// The files of an operation are where its state says.
fn check(t: &Tracked) {
    let (staging, dest) = (t.staging.exists(), t.dest.exists());
    let want = match t.state {
        OpState::Intent | OpState::Staged => (true, false),
        OpState::Renamed | OpState::Recorded | OpState::Done => (false, true),
        OpState::RolledBack => (false, false),
    };
    assert_eq!((staging, dest), want, "operation {} in state {:?}", t.id, t.state);
}

async fn run(actions: Vec<Action>) {
    let home = tempfile::tempdir().unwrap();
    for store in veto_store::testing::stores(home.path()).await {
        let snapshots = store.home().join("snapshots");
        std::fs::create_dir_all(&snapshots).unwrap();
        let mut ops: Vec<Tracked> = Vec::new();
        for a in actions.iter().cloned().chain([Action::Recover]) {
            let live: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].live.is_some()).collect();
            match a {
                Action::Begin => {
                    let op = store
                        .begin_operation(OpKind::Build, "snapshots", &snapshots)
                        .await
                        .unwrap();
                    let id = format!("snap-{}", ops.len());
                    ops.push(Tracked {
                        dest: snapshots.join(&id),
                        id,
                        staging: op.staging().to_path_buf(),
                        state: OpState::Intent,
                        live: Some(op),
                    });
                }
                Action::Advance(n) if !live.is_empty() => advance(&store, &mut ops[live[n % live.len()]]).await,
                Action::Die(n) if !live.is_empty() => {
                    let t = &mut ops[live[n % live.len()]];
                    drop(t.live.take());
                    // What the next command's recovery must make of it.
                    t.state = match t.state {
                        OpState::Recorded | OpState::Done => OpState::Done,
                        _ => OpState::RolledBack,
                    };
                }
                Action::Recover => {
                    for r in store.recover(None).await.unwrap() {
                        let t = ops
                            .iter()
                            .find(|t| t.staging.display().to_string().contains(&r.op_id))
                            .unwrap();
                        assert_eq!(r.outcome == "running", t.live.is_some(), "{r:?}");
                    }
                    ops.iter().for_each(check);
                }
                _ => {}
            }
        }
        let recorded: Vec<String> = ops
            .iter()
            .filter(|t| matches!(t.state, OpState::Recorded | OpState::Done))
            .map(|t| t.id.clone())
            .collect();
        let mut listed: Vec<String> = store
            .snapshots()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.snapshot_id)
            .collect();
        listed.sort();
        let mut recorded_sorted = recorded.clone();
        recorded_sorted.sort();
        assert_eq!(listed, recorded_sorted, "the snapshots listed are the recorded ones");
        for t in &ops {
            check(t);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn recovery_never_touches_live_operations_and_settles_dead_ones(actions in prop::collection::vec(action(), 1..24)) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run(actions));
    }
}
