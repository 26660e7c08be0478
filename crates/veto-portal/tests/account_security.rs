//! Account security at ASVS level 2 over HTTP against the real portal:
//! changing one's password (current password asked, length and breach
//! rules, every other session ended, a mail to the owner), the operators'
//! second factor (no session without the code, a code used once opens
//! nothing again), API tokens that expire and can be revoked, sprayers who
//! invent `X-Forwarded-For` headers, and input that must arrive intact.

mod common;

use common::{Browser, PASSWORD, TestApp, current_step, hidden_field, totp_at_step};
use reqwest::StatusCode;
use veto_store::accounts::TokenRole;

async fn change(b: &mut Browser, current: &str, new: &str, repeat: &str) -> common::Reply {
    b.submit(
        "/account/password",
        "/account/password",
        &[("current", current), ("new", new), ("repeat", repeat)],
    )
    .await
}

/// The mails in the outbox directory, oldest first, with their file modes.
fn outbox(app: &TestApp) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = app.home.path().join("outbox");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            (std::fs::read_to_string(p).unwrap(), mode)
        })
        .collect()
}

#[tokio::test]
async fn a_person_changes_their_password_and_every_other_session_ends() {
    let app = TestApp::spawn_with(|_| {}).await;
    let (mut laptop, mut phone) = (app.browser(), app.browser());
    assert_eq!(laptop.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert_eq!(phone.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let before = laptop.session().cloned().unwrap();

    // The rules, each refused with the page's own words.
    let wrong = change(
        &mut laptop,
        "not my password",
        "Kanu Fahrrad Zitrone Nebel",
        "Kanu Fahrrad Zitrone Nebel",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(
        wrong.body.contains("Das jetzige Passwort stimmt nicht."),
        "{}",
        wrong.body
    );
    let differ = change(
        &mut laptop,
        PASSWORD,
        "Kanu Fahrrad Zitrone Nebel",
        "Kanu Fahrrad Zitrone",
    )
    .await;
    assert_eq!(differ.status, StatusCode::UNPROCESSABLE_ENTITY);
    let short = change(&mut laptop, PASSWORD, "kurz & gut!", "kurz & gut!").await;
    assert!(short.body.contains("mindestens 12 Zeichen"), "{}", short.body);
    let breached = change(&mut laptop, PASSWORD, "password1234", "password1234").await;
    assert!(breached.body.contains("zu leicht zu erraten"), "{}", breached.body);
    let named = change(&mut laptop, PASSWORD, "alice@example.invalid", "alice@example.invalid").await;
    assert!(
        named.body.contains("zu leicht zu erraten"),
        "the mail address is no password"
    );
    let long = "Ω".repeat(129);
    assert!(
        change(&mut laptop, PASSWORD, &long, &long)
            .await
            .body
            .contains("höchstens 128")
    );
    assert_eq!(
        laptop.get("/object").await.status,
        StatusCode::OK,
        "refusals end no session"
    );

    // 64 characters of any script are a good password and are hashed whole:
    // the same password without its last character does not log in.
    let new = "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich ✓";
    assert_eq!(new.chars().count(), 65);
    let done = change(&mut laptop, PASSWORD, new, new).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/account/password?done=1"));
    assert_ne!(laptop.session(), Some(&before), "this browser got a new session");
    assert!(
        laptop
            .get("/account/password?done=1")
            .await
            .body
            .contains("Ihr Passwort ist geändert.")
    );
    assert_eq!(
        phone.get("/object").await.location.as_deref(),
        Some("/login"),
        "the phone is logged out"
    );

    let mut someone = app.browser();
    assert_eq!(someone.login("alice", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let cut: String = new.chars().take(64).collect();
    assert_eq!(someone.login("alice", &cut).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(someone.login("alice", new).await.status, StatusCode::SEE_OTHER);

    // The owner is told, in the page's language, in a file only the portal reads.
    let mails = outbox(&app);
    let (mail, mode) = mails.last().expect("a notification mail");
    assert!(mail.starts_with("To: alice@example.invalid\r\n"), "{mail}");
    assert!(mail.contains("Subject: Ihr Passwort wurde geändert"), "{mail}");
    assert!(!mail.contains(new), "the mail holds no password");
    assert_eq!(*mode, 0o600, "mails are private to the portal's user");
    app.stop().await;
}

#[tokio::test]
async fn wrong_current_passwords_count_like_failed_logins() {
    let app = TestApp::spawn_with(|s| s.login_failures_per_account = 3).await;
    let mut thief = app.browser();
    assert_eq!(thief.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    // A stolen session must not become a way to guess the password.
    for _ in 0..3 {
        let r = change(
            &mut thief,
            "guess guess guess",
            "Kanu Fahrrad Zitrone Nebel",
            "Kanu Fahrrad Zitrone Nebel",
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let r = change(
        &mut thief,
        PASSWORD,
        "Kanu Fahrrad Zitrone Nebel",
        "Kanu Fahrrad Zitrone Nebel",
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test]
async fn an_operator_needs_the_one_time_code_and_a_code_opens_once() {
    let app = TestApp::spawn_with(|_| {}).await;
    let mut op = app.browser();
    let step = op.password_step("op", PASSWORD).await;
    assert_eq!(step.status, StatusCode::OK);
    assert!(step.body.contains("autocomplete=\"one-time-code\""), "{}", step.body);
    assert!(op.session().is_none(), "no session before the code");
    assert_eq!(op.get("/operator").await.status, StatusCode::FORBIDDEN);
    assert!(!step.body.contains(PASSWORD), "the code page carries no password");

    let ticket = hidden_field(&step.body, "ticket").unwrap();
    let csrf = hidden_field(&step.body, "csrf").unwrap();
    let now = current_step();
    let far = totp_at_step(common::OPERATOR_TOTP, now + 5);
    let wrong = op
        .post("/login/code", &[("ticket", &ticket), ("code", &far), ("csrf", &csrf)])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "a code five steps ahead");
    let forged = format!("9{ticket}");
    let code = totp_at_step(common::OPERATOR_TOTP, now + 1);
    let r = op
        .post("/login/code", &[("ticket", &forged), ("code", &code), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a ticket the server did not sign");
    assert!(op.session().is_none());

    let ok = op
        .post("/login/code", &[("ticket", &ticket), ("code", &code), ("csrf", &csrf)])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(op.get("/operator").await.status, StatusCode::OK);

    // Someone who saw the password and that code gets nowhere with them.
    let mut shoulder = app.browser();
    let step = shoulder.password_step("op", PASSWORD).await;
    let ticket = hidden_field(&step.body, "ticket").unwrap();
    let csrf = hidden_field(&step.body, "csrf").unwrap();
    let replay = shoulder
        .post("/login/code", &[("ticket", &ticket), ("code", &code), ("csrf", &csrf)])
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert!(shoulder.session().is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_right_password_does_not_reset_the_count_of_wrong_codes() {
    let app = TestApp::spawn_with(|s| s.login_failures_per_account = 4).await;
    let mut thief = app.browser();
    let wrong = totp_at_step(common::OPERATOR_TOTP, current_step() + 9);
    let mut statuses = Vec::new();
    // Someone with the password, starting over after every two wrong codes.
    for _ in 0..3 {
        let step = thief.password_step("op", PASSWORD).await;
        statuses.push(step.status);
        let Some(ticket) = hidden_field(&step.body, "ticket") else {
            continue;
        };
        let csrf = hidden_field(&step.body, "csrf").unwrap();
        for _ in 0..2 {
            let r = thief
                .post("/login/code", &[("ticket", &ticket), ("code", &wrong), ("csrf", &csrf)])
                .await;
            statuses.push(r.status);
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
        ],
        "four wrong codes use up the account's limit, passwords or not"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_ticket_dies_when_its_code_is_used() {
    let app = TestApp::spawn_with(|_| {}).await;
    let mut op = app.browser();
    let step = op.password_step("op", PASSWORD).await;
    let ticket = hidden_field(&step.body, "ticket").unwrap();
    let csrf = hidden_field(&step.body, "csrf").unwrap();
    let code = totp_at_step(common::OPERATOR_TOTP, current_step());
    let ok = op
        .post("/login/code", &[("ticket", &ticket), ("code", &code), ("csrf", &csrf)])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    // The captured ticket and a fresh code, without the password: refused.
    let mut thief = app.browser();
    let csrf = hidden_field(&thief.get("/login").await.body, "csrf").unwrap();
    let next = totp_at_step(common::OPERATOR_TOTP, current_step() + 1);
    let r = thief
        .post("/login/code", &[("ticket", &ticket), ("code", &next), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.body.contains("zu lange gedauert"),
        "the password step again: {}",
        r.body
    );
    assert!(thief.session().is_none());
    app.stop().await;
}

#[tokio::test]
async fn an_operator_without_a_second_factor_is_refused() {
    let app = TestApp::spawn_with(|_| {}).await;
    let store = app.store().await;
    store.set_totp_secret("op", None).await.unwrap();
    store.close().await;
    let mut op = app.browser();
    let r = op.password_step("op", PASSWORD).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("zweiten Faktor"), "{}", r.body);
    assert!(op.session().is_none());
    app.stop().await;
}

#[tokio::test]
async fn expired_and_revoked_tokens_open_nothing() {
    let app = TestApp::spawn_with(|_| {}).await;
    let store = app.store().await;
    let expired = store
        .create_api_token("old", TokenRole::Service, chrono::Duration::seconds(-1))
        .await
        .unwrap();
    let revoked = store
        .create_api_token("leaked", TokenRole::Operator, chrono::Duration::days(1))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let snapshots = format!("{}/api/v1/snapshots", app.base);
    let get = |token: String| client.get(&snapshots).bearer_auth(token).send();
    assert_eq!(get(revoked.clone()).await.unwrap().status(), StatusCode::OK);
    assert!(store.revoke_api_token("leaked").await.unwrap());
    assert!(!store.revoke_api_token("leaked").await.unwrap(), "once");
    assert!(
        store
            .create_api_token("leaked", TokenRole::Operator, chrono::Duration::days(1))
            .await
            .is_err(),
        "a revoked name is not reused"
    );
    store.close().await;
    for token in [expired, revoked] {
        let r = get(token).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn invented_forwarded_headers_do_not_escape_the_client_limit() {
    let app = TestApp::spawn_with(|s| s.login_failures_per_client = 5).await;
    let mut sprayer = app.browser();
    let mut statuses = Vec::new();
    for i in 0..8 {
        // A new "client" each time, as far as the header goes.
        sprayer.headers.retain(|(k, _)| k != "x-forwarded-for");
        sprayer
            .headers
            .push(("x-forwarded-for".into(), format!("198.51.100.{i}")));
        statuses.push(sprayer.login(&format!("user{i}"), "Sommer2025!").await.status);
    }
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(&statuses[5..], &[StatusCode::TOO_MANY_REQUESTS; 3], "{statuses:?}");
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let loopback = "127.0.0.1".parse().unwrap();
    let app = TestApp::spawn_with(|s| {
        s.login_failures_per_client = 2;
        s.trusted_proxies = vec![loopback];
    })
    .await;
    let mut sprayer = app.browser();
    sprayer.headers.push(("x-forwarded-for".into(), "198.51.100.9".into()));
    for i in 0..2 {
        assert_eq!(
            sprayer.login(&format!("user{i}"), "x").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(sprayer.login("user2", "x").await.status, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not punished for it.
    let mut alice = app.browser();
    alice.headers.push(("x-forwarded-for".into(), "203.0.113.4".into()));
    assert_eq!(alice.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn no_page_or_redirect_carries_the_session_token() {
    let app = TestApp::spawn_with(|_| {}).await;
    let mut alice = app.browser();
    let login = alice.login("alice", PASSWORD).await;
    let token = alice.session().cloned().unwrap();
    let mut seen = vec![login.location.unwrap_or_default(), login.body];
    for path in ["/", "/object", "/my-data", "/account/password", "/receipts/verify"] {
        let r = alice.get(path).await;
        seen.push(r.body);
        seen.extend(r.location);
    }
    assert!(seen.iter().all(|s| !s.contains(&token)), "ASVS 3.1.1");
    app.stop().await;
}

#[tokio::test]
async fn sql_and_unicode_in_input_arrive_as_written() {
    let app = TestApp::spawn_with(|_| {}).await;
    // A username built to break a query assembled from strings.
    let mut mallory = app.browser();
    for username in ["' OR '1'='1", "alice' --", "alice\"; DROP TABLE accounts; --"] {
        assert_eq!(
            mallory.login(username, "' OR '1'='1").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let mut alice = app.browser();
    assert_eq!(
        alice.login("alice", PASSWORD).await.status,
        StatusCode::SEE_OTHER,
        "accounts intact"
    );
    // A username from several scripts with markup comes back exactly, escaped.
    let name = "Zoë 中文 🙅 <b>x</b>";
    let echoed = app.browser().login(name, "wrong").await.body;
    assert!(
        echoed.contains("value=\"Zoë 中文 🙅 &#60;b&#62;x&#60;/b&#62;\""),
        "{echoed}"
    );
    // A reason built to break a query assembled from strings is filed as
    // one objection and breaks nothing.
    let reason = "Nein'); DROP TABLE objections; -- ß 🙅";
    let r = alice
        .submit("/object", "/object", &[("scope", "all"), ("reason", reason)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let store = app.store().await;
    let filed = store.objections().await.unwrap();
    store.close().await;
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].person_id, "person-alice");
    app.stop().await;
}
