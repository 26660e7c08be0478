//! Machine-readable objections and opt-outs at the portal: a browser's
//! Global Privacy Control signal (`Sec-GPC: 1`) files an objection with
//! channel `gpc` under a policy that honours it (strict), once per person;
//! and `GET /api/v1/content-usage` tells the platform what to attach to a
//! person's public pages.

mod common;

use common::{PASSWORD, TestApp};
use reqwest::StatusCode;
use veto_core::Channel;

async fn objections_of(app: &TestApp, person: &str) -> Vec<veto_core::Objection> {
    let store = app.store().await;
    let list = store.objections_of(person).await.unwrap();
    store.close().await;
    list
}

#[tokio::test]
async fn a_browser_sending_gpc_objects_once_and_the_receipt_says_why() {
    let app = TestApp::spawn_with(|_| {}).await;
    let mut alice = app.browser();
    alice.headers.push(("sec-gpc".into(), "1".into()));
    let login = alice.login("alice", PASSWORD).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    let receipt = login.location.unwrap();
    assert!(
        receipt.starts_with("/receipts/obj-") && receipt.ends_with("?gpc=1"),
        "{receipt}"
    );
    let page = alice.get(&receipt).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Global Privacy Control"), "{}", page.body);
    let filed = objections_of(&app, "person-alice").await;
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].channel, Channel::Gpc);
    assert_eq!(filed[0].scope, veto_core::ObjectionScope::All);

    // Again: covered already, so the form as usual.
    let mut again = app.browser();
    again.headers.push(("sec-gpc".into(), "1".into()));
    assert_eq!(
        again.login("alice", PASSWORD).await.location.as_deref(),
        Some("/object")
    );
    assert_eq!(again.get("/object").await.status, StatusCode::OK);
    assert_eq!(objections_of(&app, "person-alice").await.len(), 1);

    // Withdrawn by the person: the signal does not overrule them.
    let id = filed[0].objection_id.clone();
    let r = again
        .submit(
            &format!("/receipts/{id}/withdraw"),
            &format!("/receipts/{id}/withdraw"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(again.get("/object").await.status, StatusCode::OK);
    let after = objections_of(&app, "person-alice").await;
    assert_eq!(after.len(), 1);
    assert!(after[0].withdrawn_at.is_some());

    // The dashboard counts objections by channel, in words.
    let mut op = app.browser();
    op.login("op", PASSWORD).await;
    let dashboard = op.get("/operator").await.body;
    assert!(dashboard.contains("Browser-Signal (GPC)"), "{dashboard}");
    app.stop().await;
}

#[tokio::test]
async fn only_the_exact_signal_under_a_policy_that_honours_it_objects() {
    let app = TestApp::spawn_with(|_| {}).await;
    for value in ["0", "01", "true", ""] {
        let mut b = app.browser();
        b.headers.push(("sec-gpc".into(), value.into()));
        assert_eq!(
            b.login("bob", PASSWORD).await.location.as_deref(),
            Some("/object"),
            "{value:?}"
        );
    }
    assert!(objections_of(&app, "person-bob").await.is_empty());
    app.stop().await;

    let meta = TestApp::spawn_with(|s| s.policy = veto_core::Policy::preset("meta-2025").unwrap()).await;
    let mut b = meta.browser();
    b.headers.push(("sec-gpc".into(), "1".into()));
    assert_eq!(b.login("bob", PASSWORD).await.location.as_deref(), Some("/object"));
    assert!(
        objections_of(&meta, "person-bob").await.is_empty(),
        "meta-2025 does not honour GPC"
    );
    meta.stop().await;
}

#[tokio::test]
async fn content_usage_says_train_ai_n_for_objectors_to_their_own_callers_only() {
    let app = TestApp::spawn_with(|_| {}).await;
    let client = reqwest::Client::new();
    let url = |person: &str| format!("{}/api/v1/content-usage?person_id={person}", app.base);
    let get = |person: &str| client.get(url(person)).bearer_auth(&app.service_token).send();
    let body: serde_json::Value = get("person-bob").await.unwrap().json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"person_id": "person-bob", "content_usage": null, "platforms": []})
    );

    let mut bob = app.browser();
    bob.login("bob", PASSWORD).await;
    let r = bob.submit("/object", "/object", &[("scope", "instagram")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let body: serde_json::Value = get("person-bob").await.unwrap().json().await.unwrap();
    assert_eq!(body["content_usage"], "train-ai=n");
    assert_eq!(body["platforms"], serde_json::json!(["instagram"]));

    let store = app.store().await;
    let ops = store
        .create_api_token(
            "ops",
            veto_store::accounts::TokenRole::Operator,
            chrono::Duration::days(1),
        )
        .await
        .unwrap();
    store.close().await;
    let r = client.get(url("person-bob")).bearer_auth(ops).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "operators do not act for persons");
    let r = client.get(url("person-bob")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
