//! The operators' review queue on the dashboard: a held third-party
//! objection is listed with its name and count, an operator applies or
//! rejects it with the page's buttons (a CSRF-checked POST, recorded under
//! the operator's name), and nobody else can.

mod common;

use common::{PASSWORD, TestApp};
use reqwest::StatusCode;
use veto_core::{Channel, ObjectionScope, Screening, Subject, SubjectObjection};
use veto_store::SnapshotRecord;
use veto_store::reviews::ObjectorRecord;

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

/// A third-party objection that a build held for review.
async fn hold(app: &TestApp, id: &str, name: &str) {
    let store = app.store().await;
    let objection = SubjectObjection {
        objection_id: id.into(),
        subject: Subject {
            display_name: Some(name.into()),
            ..Default::default()
        },
        scope: ObjectionScope::All,
        filed_at: chrono::Utc::now() - chrono::Duration::days(1),
        withdrawn_at: None,
        channel: Channel::Letter,
    };
    store.import_objection_file(&[], &[objection]).await.unwrap();
    let record = SnapshotRecord {
        snapshot_id: format!("snap-{id}"),
        as_of: chrono::Utc::now(),
        policy_name: "meta-2025".into(),
        policy_sha256: "0".repeat(64),
        path: format!("/snapshots/{id}"),
        built_at: chrono::Utc::now(),
        manifest: "{}".into(),
        objections_seq: None,
    };
    let screening = Screening {
        objection_id: id.into(),
        authors: 1001,
        threshold: 1000,
        held: true,
    };
    let objectors = ObjectorRecord {
        screenings: vec![screening],
        ..Default::default()
    };
    store.record_snapshot(&record, &[], &objectors, None).await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn an_operator_decides_on_a_held_objection_from_the_dashboard_and_no_one_else_can() {
    let app = TestApp::spawn_with(|_| {}).await;
    hold(&app, "famous", "Angela Merkel").await;
    hold(&app, "common", "Anna Müller").await;

    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    let page = alice.get("/object").await.body;
    let refused = alice
        .post(
            "/operator/review/famous",
            &[("csrf", &csrf_in(&page)), ("decision", "approve")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut op = app.browser();
    assert_eq!(op.login("op", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let page = op.get("/operator").await.body;
    assert!(page.contains("Angela Merkel") && page.contains("1001 (1000)"), "{page}");
    let csrf = csrf_in(&page);
    let forged = op
        .post("/operator/review/famous", &[("csrf", "forged"), ("decision", "reject")])
        .await;
    assert_ne!(forged.status, StatusCode::SEE_OTHER, "a forged token decides nothing");
    let done = op
        .post("/operator/review/famous", &[("csrf", &csrf), ("decision", "reject")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let done = op
        .post("/operator/review/common", &[("csrf", &csrf), ("decision", "approve")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let reply = op.get("/operator").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        !reply.body.contains("Angela Merkel") && !reply.body.contains("Anna Müller"),
        "the queue is empty: {}",
        reply.body
    );

    let store = app.store().await;
    assert_eq!(store.review_state("famous").await.unwrap().as_deref(), Some("rejected"));
    assert_eq!(store.review_state("common").await.unwrap().as_deref(), Some("approved"));
    let decided = store
        .ledger_entries()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "third_party_review_decided")
        .count();
    assert_eq!(decided, 2);
    store.close().await;
}
