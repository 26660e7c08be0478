//! The review queue for third-party objections: a build's screening is
//! recorded with its snapshot; a held objection is left out of the next
//! builds until an operator approves it (a rejected one stays out); each
//! hold and each decision is in the ledger; third parties' mention counts
//! are kept per snapshot.

use chrono::Utc;
use veto_core::{Channel, ObjectionScope, Screening, Subject, SubjectObjection};
use veto_store::reviews::{Decision, ObjectorRecord, third_party_ref};
use veto_store::{SnapshotRecord, Store};

fn subject_objection(id: &str, name: &str) -> SubjectObjection {
    SubjectObjection {
        objection_id: id.into(),
        subject: Subject {
            display_name: Some(name.into()),
            ..Default::default()
        },
        scope: ObjectionScope::All,
        filed_at: Utc::now() - chrono::Duration::days(1),
        withdrawn_at: None,
        channel: Channel::Web,
    }
}

async fn snapshot(store: &Store, id: &str, objectors: &ObjectorRecord) {
    let record = SnapshotRecord {
        snapshot_id: id.into(),
        as_of: Utc::now(),
        policy_name: "meta-2025".into(),
        policy_sha256: "0".repeat(64),
        path: format!("/snapshots/{id}"),
        built_at: Utc::now(),
        manifest: "{}".into(),
        objections_seq: None,
    };
    store.record_snapshot(&record, &[], objectors, None).await.unwrap();
}

/// The ids of the third parties a build would get now, with whether each
/// was screened.
async fn in_force(store: &Store) -> Vec<(String, bool)> {
    let mut out: Vec<_> = (store.third_parties_in_force(Utc::now()).await.unwrap())
        .into_iter()
        .map(|t| (t.objection_id, t.screened))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_held_objection_waits_for_an_operator_and_only_an_approved_one_is_applied() {
    let home = tempfile::tempdir().unwrap();
    for store in veto_store::testing::stores(home.path()).await {
        let subjects = [
            subject_objection("famous", "Angela Merkel"),
            subject_objection("common", "Anna Müller"),
            subject_objection("rare", "Xaver Quandt-Zyl"),
        ];
        store.import_objection_file(&[], &subjects).await.unwrap();
        assert_eq!(
            in_force(&store).await,
            [
                ("common".into(), false),
                ("famous".into(), false),
                ("rare".into(), false)
            ],
            "nothing screened yet"
        );
        let screenings = vec![
            Screening {
                objection_id: "famous".into(),
                authors: 1001,
                threshold: 1000,
                held: true,
            },
            Screening {
                objection_id: "common".into(),
                authors: 1001,
                threshold: 1000,
                held: true,
            },
            Screening {
                objection_id: "rare".into(),
                authors: 3,
                threshold: 1000,
                held: false,
            },
        ];
        let record = ObjectorRecord {
            mentions: vec![(third_party_ref("rare"), 7)],
            screenings,
            rescreen: Vec::new(),
        };
        snapshot(&store, "snap-1", &record).await;
        assert_eq!(
            in_force(&store).await,
            [("rare".into(), true)],
            "held ones are left out"
        );
        let queue = store.review_queue().await.unwrap();
        let names: Vec<_> = queue
            .iter()
            .map(|h| (h.objection_id.as_str(), h.display_name.as_deref()))
            .collect();
        assert_eq!(
            names,
            [("common", Some("Anna Müller")), ("famous", Some("Angela Merkel"))]
        );
        assert!(queue.iter().all(|h| h.authors == 1001 && h.snapshot_id == "snap-1"));

        store
            .decide_review("common", Decision::Approve, "operator-1")
            .await
            .unwrap();
        store
            .decide_review("famous", Decision::Reject, "operator-1")
            .await
            .unwrap();
        assert!(store.review_queue().await.unwrap().is_empty());
        assert_eq!(
            in_force(&store).await,
            [("common".into(), true), ("rare".into(), true)],
            "approved is applied, rejected is not, and neither is screened again"
        );
        // A build that read its inputs before the decisions and records after
        // them does not undo them.
        let stale = [
            Screening {
                objection_id: "famous".into(),
                authors: 1001,
                threshold: 1000,
                held: true,
            },
            Screening {
                objection_id: "common".into(),
                authors: 1001,
                threshold: 1000,
                held: true,
            },
        ];
        store.record_screenings("snap-2", &stale).await.unwrap();
        assert!(store.review_queue().await.unwrap().is_empty(), "decisions stand");
        let again = store.decide_review("famous", Decision::Approve, "operator-2").await;
        assert!(again.unwrap_err().to_string().contains("not waiting for review"));
        assert_eq!(store.review_state("famous").await.unwrap().as_deref(), Some("rejected"));

        // The ledger has the holds and the decisions, by id and never by name.
        let entries = store.ledger_entries().await.unwrap();
        let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "third_party_held_for_review").count(), 2);
        assert_eq!(kinds.iter().filter(|k| **k == "third_party_review_decided").count(), 2);
        let text = serde_json::to_string(&entries.iter().map(|e| &e.payload).collect::<Vec<_>>()).unwrap();
        assert!(
            !text.contains("Merkel") && !text.contains("Müller"),
            "no names in the ledger"
        );

        let mentions = store.mentions_of(&third_party_ref("rare")).await.unwrap();
        assert_eq!(mentions.get("snap-1"), Some(&7));

        // A cleared name that a later build found more often than the
        // threshold (it became common) is screened again; an approved one is
        // not: the operator decided.
        let later = ObjectorRecord {
            rescreen: vec!["rare".into(), "common".into()],
            ..Default::default()
        };
        snapshot(&store, "snap-3", &later).await;
        assert_eq!(
            in_force(&store).await,
            [("common".into(), true), ("rare".into(), false)]
        );
        store.close().await;
    }
}
