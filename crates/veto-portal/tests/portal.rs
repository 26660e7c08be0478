//! The real portal on a random port against a fresh store, driven over HTTP
//! the way a browser and a service would.

mod common;

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use veto_portal::configuration::Settings;
use veto_portal::startup::Application;
use veto_store::Store;
use veto_store::accounts::{Role, TokenRole};

const PASSWORD: &str = "correct horse battery";

struct TestApp {
    base: String,
    home: tempfile::TempDir,
    service_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    async fn spawn() -> TestApp {
        TestApp::spawn_with_policy("strict").await
    }

    async fn spawn_with_policy(policy: &str) -> TestApp {
        let home = tempfile::tempdir().unwrap();
        let store = veto_store::testing::open(home.path()).await;
        let hash = veto_portal::auth::hash_password(PASSWORD);
        for p in ["alice", "bob"] {
            store
                .upsert_account(
                    p,
                    &Role::Person {
                        person_id: format!("person-{p}"),
                    },
                    Some(&format!("{p}@example.invalid")),
                    &hash,
                )
                .await
                .unwrap();
        }
        store.upsert_account("op", &Role::Operator, None, &hash).await.unwrap();
        store.set_totp_secret("op", Some(common::OPERATOR_TOTP)).await.unwrap();
        let service_token = store
            .create_api_token("platform-backend", TokenRole::Service, chrono::Duration::days(1))
            .await
            .unwrap();
        store.close().await;
        let mut settings = Settings::new(
            "127.0.0.1:0".parse().unwrap(),
            home.path().to_path_buf(),
            veto_core::Policy::preset(policy).unwrap(),
        );
        settings.database = Some(veto_store::testing::database(home.path()).await);
        let app = Application::build(settings).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            home,
            service_token,
            stop: Some(stop),
            server: Some(server),
        }
    }

    fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            client: client(),
            cookies: HashMap::new(),
        }
    }

    async fn store(&self) -> Store {
        veto_store::testing::open(self.home.path()).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A minimal browser: keeps cookies, follows nothing by itself.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for c in res.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String, Option<String>) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&res);
        let location = res.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_string());
        (res.status(), res.text().await.unwrap(), location)
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, Option<String>) {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&res);
        let location = res.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_string());
        (res.status(), res.text().await.unwrap(), location)
    }

    async fn login(&mut self, user: &str, password: &str) -> StatusCode {
        let (_, page, _) = self.get("/login").await;
        let csrf = csrf_in(&page);
        let (status, body, _) = self
            .post("/login", &[("username", user), ("password", password), ("csrf", &csrf)])
            .await;
        match common::hidden_field(&body, "ticket") {
            Some(_) => self.code(&body).await.0,
            None => status,
        }
    }

    /// The code step of an account with a second factor: the current
    /// code, or the next one if an earlier login used the current one.
    async fn code(&mut self, page: &str) -> (StatusCode, String, Option<String>) {
        let ticket = common::hidden_field(page, "ticket").unwrap();
        let csrf = csrf_in(page);
        let step = common::current_step();
        for step in [step, step + 1] {
            let code = common::totp_at_step(common::OPERATOR_TOTP, step);
            let reply = self
                .post("/login/code", &[("ticket", &ticket), ("code", &code), ("csrf", &csrf)])
                .await;
            if reply.0 != StatusCode::UNAUTHORIZED {
                return reply;
            }
        }
        panic!("neither the current nor the next one-time code logged in");
    }

    /// Files an objection through the form; returns its id.
    async fn object(&mut self, scope: &str) -> String {
        let (status, page, _) = self.get("/object").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, location) = self
            .post(
                "/object",
                &[("scope", scope), ("reason", "Nein danke."), ("csrf", &csrf_in(&page))],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        location.unwrap().trim_start_matches("/receipts/").to_string()
    }
}

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn login_object_receipt_verify_withdraw_and_my_data() {
    let app = TestApp::spawn().await;
    let mut alice = app.browser();
    assert_eq!(alice.login("alice", PASSWORD).await, StatusCode::SEE_OTHER);
    let (_, form, _) = alice.get("/object").await;
    assert!(form.contains("value=\"alice@example.invalid\""), "email prefilled");
    let id = alice.object("all").await;

    // Durable before the answer: a second connection to the store sees it.
    let store = app.store().await;
    let on_file = store.objection(&id).await.unwrap().expect("stored");
    assert_eq!(on_file.person_id, "person-alice");
    assert!(on_file.withdrawn_at.is_none());
    let public_key = store.public_key().await.unwrap();

    let (status, page, _) = alice.get(&format!("/receipts/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&id) && page.contains(&public_key));
    // Filed after the strict policy's 2025 deadline: future builds exclude, models are unlearned.
    assert!(
        page.contains("Alle künftigen Trainingsdaten schließen Ihre Inhalte aus") && page.contains("exaktes Verlernen"),
        "{page}"
    );

    let (status, json, _) = alice.get(&format!("/receipts/{id}/json")).await;
    assert_eq!(status, StatusCode::OK);
    let receipt: veto_core::receipt::Receipt = serde_json::from_str(&json).unwrap();
    assert_eq!(receipt.verify(Some(&public_key)), Ok(()));
    assert_eq!(
        (receipt.event.as_str(), receipt.scope.as_str(), receipt.before_deadline),
        ("objection_filed", "all", false)
    );

    // The public check page and the API agree; a changed receipt fails.
    let mut anyone = app.browser();
    let (_, verify_page, _) = anyone.get("/receipts/verify").await;
    let (_, result, _) = anyone
        .post(
            "/receipts/verify",
            &[("receipt", &json), ("csrf", &csrf_in(&verify_page))],
        )
        .await;
    assert!(
        result.contains("id=\"verify-result\">Die Quittung ist echt"),
        "{result}"
    );
    let tampered = json.replace("\"scope\":\"all\"", "\"scope\":\"whatsapp\"");
    let api: serde_json::Value = client()
        .post(format!("{}/api/v1/receipts/verify", app.base))
        .body(tampered)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["valid"], false);

    // Withdraw: never one stray click. Without the ticked box the answer
    // is the confirmation step, and nothing changes.
    let (_, page, _) = alice.get(&format!("/receipts/{id}")).await;
    assert!(page.contains("name=\"confirm\" value=\"yes\" required"), "{page}");
    let (status, unconfirmed, _) = alice
        .post(&format!("/receipts/{id}/withdraw"), &[("csrf", &csrf_in(&page))])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(unconfirmed.contains("id=\"withdraw-missing\""), "{unconfirmed}");
    assert!(store.objection(&id).await.unwrap().unwrap().withdrawn_at.is_none());
    let (status, confirm_page, _) = alice.get(&format!("/receipts/{id}/withdraw")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm_page.contains("Widerspruch zurücknehmen?"), "{confirm_page}");
    // Ticked: as easy as filing, with a new receipt.
    let (status, _, location) = alice
        .post(
            &format!("/receipts/{id}/withdraw"),
            &[("csrf", &csrf_in(&page)), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some(format!("/receipts/{id}").as_str()))
    );
    let (_, json, _) = alice.get(&format!("/receipts/{id}/json")).await;
    let receipt: veto_core::receipt::Receipt = serde_json::from_str(&json).unwrap();
    assert_eq!(receipt.event, "objection_withdrawn");
    assert!(receipt.withdrawn_at.is_some());
    assert_eq!(receipt.verify(Some(&public_key)), Ok(()));
    assert!(store.objection(&id).await.unwrap().unwrap().withdrawn_at.is_some());

    let (status, page, _) = alice.get("/my-data").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&id));
    app.stop().await;
}

#[tokio::test]
async fn another_persons_objection_is_not_found_whatever_the_url() {
    let app = TestApp::spawn().await;
    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    let id = alice.object("facebook").await;
    let mut bob = app.browser();
    bob.login("bob", PASSWORD).await;
    assert_eq!(bob.get(&format!("/receipts/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(bob.get(&format!("/receipts/{id}/json")).await.0, StatusCode::NOT_FOUND);
    let (_, page, _) = bob.get("/object").await;
    let (status, _, _) = bob
        .post(&format!("/receipts/{id}/withdraw"), &[("csrf", &csrf_in(&page))])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let api = client()
        .get(format!("{}/api/v1/objections/{id}", app.base))
        .header(COOKIE, bob.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    // Bob's my-data shows nothing of Alice's.
    assert!(!bob.get("/my-data").await.1.contains(&id));
    assert!(
        app.store()
            .await
            .objection(&id)
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn forms_and_cookie_api_calls_without_the_csrf_token_are_rejected() {
    let app = TestApp::spawn().await;
    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    let (status, _, _) = alice.post("/object", &[("scope", "all")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = alice.post("/object", &[("scope", "all"), ("csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let api = client()
        .post(format!("{}/api/v1/objections", app.base))
        .header(COOKIE, alice.cookie_header())
        .json(&serde_json::json!({"scope": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    // A login form posted without its double-submit token is refused too.
    let mut stranger = app.browser();
    let (status, _, _) = stranger
        .post("/login", &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        app.store()
            .await
            .objections_of("person-alice")
            .await
            .unwrap()
            .is_empty(),
        "nothing was filed"
    );
    app.stop().await;
}

#[tokio::test]
async fn repeated_wrong_passwords_are_rate_limited() {
    let app = TestApp::spawn().await;
    let mut mallory = app.browser();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(mallory.login("alice", "wrong password").await);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    // While limited, even the right password is not tried.
    assert_eq!(mallory.login("alice", PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    // The counters are for the operator's scraper, not for the guesser.
    let url = format!("{}/metrics", app.base);
    assert_eq!(
        client().get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let service = client().get(&url).bearer_auth(&app.service_token).send().await.unwrap();
    assert_eq!(
        service.status(),
        StatusCode::UNAUTHORIZED,
        "a service token reads no metrics"
    );
    let store = veto_store::testing::open(app.home.path()).await;
    let scraper = store
        .create_api_token("scraper", TokenRole::Operator, chrono::Duration::days(1))
        .await
        .unwrap();
    store.close().await;
    let metrics = client().get(&url).bearer_auth(&scraper).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("veto_logins_failed_total 3"), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn a_retried_api_request_never_files_a_second_objection() {
    let app = TestApp::spawn().await;
    let post = |key: &'static str| {
        client()
            .post(format!("{}/api/v1/objections", app.base))
            .bearer_auth(&app.service_token)
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({"scope": "instagram", "person_id": "person-carol"}))
            .send()
    };
    let first = post("retry-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = post("retry-1").await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(first["objection"]["objection_id"], again["objection"]["objection_id"]);
    assert_eq!(post("retry-2").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(app.store().await.objections_of("person-carol").await.unwrap().len(), 2);
    // Service calls must name the person; unknown tokens are refused.
    let missing = client()
        .post(format!("{}/api/v1/objections", app.base))
        .bearer_auth(&app.service_token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let unknown = client()
        .post(format!("{}/api/v1/objections", app.base))
        .bearer_auth("veto_nope")
        .json(&serde_json::json!({"person_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_objections_are_all_acknowledged_and_all_stored() {
    let app = TestApp::spawn().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (base, token) = (app.base.clone(), app.service_token.clone());
        tasks.push(tokio::spawn(async move {
            let res = client()
                .post(format!("{base}/api/v1/objections"))
                .bearer_auth(token)
                .json(&serde_json::json!({"person_id": format!("load-{i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            res.json::<serde_json::Value>().await.unwrap()["objection"]["objection_id"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.push(t.await.unwrap());
    }
    let store = app.store().await;
    for id in &acknowledged {
        assert!(
            store.objection(id).await.unwrap().is_some(),
            "{id} acknowledged but not stored"
        );
    }
    // Each is in the ledger too, which still verifies.
    let entries = store.ledger_entries().await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.kind == "objection_filed").count(), 200);
    assert!(veto_core::ledger::verify(&entries, &store.signed_head().await.unwrap(), None).is_ok());
    app.stop().await;
}

#[tokio::test]
async fn pages_carry_security_headers_and_switch_language() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    let res = client().get(format!("{}/", app.base)).send().await.unwrap();
    let h = res.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let page = res.text().await.unwrap();
    assert!(page.contains("<html lang=\"de\">") && page.contains("Jetzt widersprechen"));
    let (_, page, _) = b.get("/?lang=en").await;
    assert!(page.contains("<html lang=\"en\">") && page.contains("Object now"));
    let (_, page, _) = b.get("/login").await;
    assert!(page.contains("Log in"), "the choice sticks");
    app.stop().await;
}

#[tokio::test]
async fn a_non_user_confirms_by_a_one_time_link() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    let (_, page, _) = b.get("/non-user").await;
    let (status, page, _) = b
        .post(
            "/non-user",
            &[
                ("email", "erika@example.invalid"),
                ("display_name", "Erika Mustermann"),
                ("handles", "@erika_m"),
                ("csrf", &csrf_in(&page)),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let outbox = app.home.path().join("outbox");
    let mail = std::fs::read_dir(&outbox)
        .unwrap()
        .next()
        .expect("a mail was written")
        .unwrap()
        .path();
    let mail = std::fs::read_to_string(mail).unwrap();
    assert!(mail.starts_with("To: erika@example.invalid"));
    let link = mail.lines().find(|l| l.contains("/non-user/verify?token=")).unwrap();
    let path = &link[link.find("/non-user").unwrap()..];
    let token = path.split("token=").nth(1).unwrap().trim();
    // The link opens a page whose button confirms (a POST).
    let (status, page, _) = b.get(path).await;
    assert_eq!(status, StatusCode::OK);
    let (status, page, _) = b
        .post("/non-user/verify", &[("token", token), ("csrf", &csrf_in(&page))])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Ihr Widerspruch ist bestätigt"));
    assert_eq!(b.get(path).await.0, StatusCode::NOT_FOUND, "the link works once");
    // What the next build redacts: the structured subject, with the
    // confirmed address among its emails.
    let store = veto_store::testing::open(app.home.path()).await;
    let subjects: Vec<_> = (store.third_parties_in_force(chrono::Utc::now()).await.unwrap())
        .into_iter()
        .map(|t| t.subject)
        .collect();
    store.close().await;
    assert_eq!(
        subjects,
        [veto_core::Subject {
            display_name: Some("Erika Mustermann".into()),
            handles: vec!["@erika_m".into()],
            emails: vec!["erika@example.invalid".into()],
            phones: vec![],
        }]
    );
    // A form that names nobody (only an address) is sent back.
    let (_, page, _) = b.get("/non-user").await;
    let (status, page, _) = b
        .post(
            "/non-user",
            &[("email", "x@example.invalid"), ("csrf", &csrf_in(&page))],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    app.stop().await;
}

#[tokio::test]
async fn only_operators_see_the_dashboard_and_the_csv() {
    let app = TestApp::spawn().await;
    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    alice.object("whatsapp").await;
    assert_eq!(alice.get("/operator").await.0, StatusCode::FORBIDDEN);
    let mut op = app.browser();
    assert_eq!(op.login("op", PASSWORD).await, StatusCode::SEE_OTHER);
    let (status, page, _) = op.get("/operator").await;
    assert_eq!(status, StatusCode::OK);
    // Codes in words: the scope is named, not "whatsapp".
    assert!(page.contains("<svg") && page.contains("Nur WhatsApp"), "{page}");
    assert!(!page.contains(">whatsapp<"), "{page}");
    let (_, csv, _) = op.get("/operator/objections.csv").await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "objection_id,person_id,scope,channel,filed_at,withdrawn_at,before_deadline"
    );
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains(",person-alice,whatsapp,web,"));
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_api_and_health_answers() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value = client()
        .get(format!("{}/api/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/objections",
        "/api/v1/objections/{id}",
        "/api/v1/objections/{id}/withdraw",
        "/api/v1/receipts/verify",
        "/api/v1/my-data",
        "/api/v1/snapshots",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    let health = client().get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    app.stop().await;
}

/// A minimal SMTP server for one message: enough of RFC 5321 for a client.
fn fake_smtp() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream);
        out.write_all(b"220 test ESMTP\r\n").unwrap();
        let mut data = String::new();
        let mut line = String::new();
        let mut in_data = false;
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    out.write_all(b"250 queued\r\n").unwrap();
                } else {
                    data.push_str(&line);
                }
            } else if line.starts_with("EHLO") || line.starts_with("HELO") {
                out.write_all(b"250 test\r\n").unwrap();
            } else if line.starts_with("DATA") {
                in_data = true;
                out.write_all(b"354 go on\r\n").unwrap();
            } else if line.starts_with("QUIT") {
                out.write_all(b"221 bye\r\n").unwrap();
                break;
            } else {
                out.write_all(b"250 ok\r\n").unwrap();
            }
            line.clear();
        }
        let _ = tx.send(data);
    });
    (port, rx)
}

#[tokio::test]
async fn with_an_smtp_relay_configured_the_link_is_mailed_through_it() {
    let (port, received) = fake_smtp();
    let home = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        home.path().to_path_buf(),
        veto_core::Policy::preset("strict").unwrap(),
    );
    settings.database = Some(veto_store::testing::database(home.path()).await);
    settings.smtp = Some(("127.0.0.1".into(), port, "veto <noreply@example.invalid>".into()));
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let mut b = Browser {
        base,
        client: client(),
        cookies: HashMap::new(),
    };
    let (_, page, _) = b.get("/non-user").await;
    let (status, _, _) = b
        .post(
            "/non-user",
            &[
                ("email", "max@example.invalid"),
                ("display_name", "Max"),
                ("csrf", &csrf_in(&page)),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mail = tokio::task::spawn_blocking(move || received.recv_timeout(std::time::Duration::from_secs(20)))
        .await
        .unwrap()
        .unwrap();
    assert!(mail.contains("To: max@example.invalid"), "{mail}");
    assert!(mail.contains("/non-user/verify?token="), "{mail}");
    assert!(
        !home.path().join("outbox").exists(),
        "no file sink when SMTP is configured"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// The page in a response body between a start marker and the next `<`.
fn text_after<'a>(page: &'a str, marker: &str) -> &'a str {
    let start = page.find(marker).map(|i| i + marker.len()).unwrap_or(page.len());
    let rest = &page[start..];
    &rest[..rest.find('<').unwrap_or(rest.len())]
}

#[tokio::test]
async fn what_happens_to_trained_data_is_said_before_objecting_in_the_policys_words() {
    for (policy, de, en) in [
        (
            "meta-2025",
            "Bereits trainierte Modelle behalten Ihre Daten",
            "models already trained keep your data",
        ),
        (
            "strict",
            "innerhalb eines Monats aus bereits trainierten Modellen entfernt",
            "removed from models already trained within one month",
        ),
    ] {
        let app = TestApp::spawn_with_policy(policy).await;
        let mut alice = app.browser();
        let (_, landing, _) = alice.get("/").await;
        assert!(
            text_after(&landing, "id=\"late-effect\">").contains(de),
            "{policy}: {landing}"
        );
        let (_, landing, _) = alice.get("/?lang=en").await;
        assert!(
            text_after(&landing, "id=\"late-effect\">").contains(en),
            "{policy}: {landing}"
        );
        alice.login("alice", PASSWORD).await;
        let (_, form, _) = alice.get("/object?lang=de").await;
        let said = text_after(&form, "id=\"late-effect\">");
        assert!(said.contains(de), "{policy}: {form}");
        // Said before the button that files.
        assert!(form.find("id=\"late-effect\"") < form.find("id=\"object-button\""));
        app.stop().await;
    }
}

#[tokio::test]
async fn german_pages_are_german_throughout_and_the_browser_language_counts_first() {
    let app = TestApp::spawn().await;
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut req = client().get(format!("{}{path}", app.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    // A first visit (no cookie) follows Accept-Language; a choice made here outranks it.
    let (_, page) = get("/", &[("accept-language", "en-GB,en;q=0.9,de;q=0.5")]).await;
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    let (_, page) = get("/", &[("accept-language", "fr-FR, de;q=0.7, en;q=0.3")]).await;
    assert!(page.contains("<html lang=\"de\">"), "{page}");
    let (_, page) = get("/", &[("accept-language", "en"), ("cookie", "lang=de")]).await;
    assert!(page.contains("<html lang=\"de\">"), "{page}");

    // Errors in the page's language, not the API's English.
    let (status, page) = get("/no-such-page", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("<html lang=\"de\">") && page.contains("Diese Seite gibt es nicht."),
        "{page}"
    );
    let (_, page) = get("/no-such-page", &[("accept-language", "en")]).await;
    assert!(page.contains("This page does not exist."), "{page}");

    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    let (status, page, _) = alice.get("/receipts/obj-00000000000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("Diese Seite gibt es nicht.") && !page.contains("no such resource"),
        "{page}"
    );
    let (status, page, _) = alice.post("/object", &[("scope", "all")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("Laden Sie die Seite neu") && !page.contains("security token"),
        "{page}"
    );
    let (_, form, _) = alice.get("/object").await;
    let (status, page, _) = alice
        .post("/object", &[("scope", "tiktok"), ("csrf", &csrf_in(&form))])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!page.contains("unknown") && page.contains("Eingaben"), "{page}");

    // The receipt: scope in words, Berlin time with its offset, whole seconds, no UTC line.
    let id = alice.object("instagram").await;
    let (_, page, _) = alice.get(&format!("/receipts/{id}")).await;
    assert!(
        page.contains("Nur Instagram") && !page.contains(">instagram<"),
        "{page}"
    );
    let filed = text_after(&page, "id=\"filed-at\">");
    assert!(!page.contains("(UTC)"), "{page}");
    let shown = chrono::DateTime::parse_from_str(filed, "%d.%m.%Y, %H:%M:%S %:z").expect(filed);
    assert!([3600, 7200].contains(&shown.offset().local_minus_utc()), "{filed}");

    // My data: headers with text, times local, scope in words.
    let (_, page, _) = alice.get("/my-data").await;
    assert!(
        !page.contains("<th scope=\"col\"></th>") && page.contains("Nur Instagram"),
        "{page}"
    );
    assert!(!page.contains("+00:00") && !page.contains(">instagram"), "{page}");
    app.stop().await;
}
