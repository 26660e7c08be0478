//! The portal's answers to a probe as an attacker would run it: idempotency
//! keys bound to their request, receipts mailed through the outbox, CSV
//! formula injection, API errors as documented JSON with authentication
//! first, and the non-user confirmation (a POST, limited per address).
//! The real portal on a random port against a fresh store, as in portal.rs.

mod common;

use std::collections::HashMap;
use std::path::Path;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
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
    /// Alice has an email, Dora has none, `op` is an operator.
    async fn spawn() -> TestApp {
        let home = tempfile::tempdir().unwrap();
        let store = veto_store::testing::open(home.path()).await;
        let hash = veto_portal::auth::hash_password(PASSWORD);
        for (user, email) in [("alice", Some("alice@example.invalid")), ("dora", None)] {
            let role = Role::Person {
                person_id: format!("person-{user}"),
            };
            store.upsert_account(user, &role, email, &hash).await.unwrap();
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
            veto_core::Policy::preset("strict").unwrap(),
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

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Files through the API with the service token.
    async fn api_file(&self, key: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = client()
            .post(self.url("/api/v1/objections"))
            .bearer_auth(&self.service_token)
            .json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        req.send().await.unwrap()
    }

    /// The mails written to `<home>/outbox`, oldest first.
    fn mails(&self) -> Vec<String> {
        mails_in(&self.home.path().join("outbox"))
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
    }
}

fn mails_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
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
        self.finish(res).await
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
        self.finish(res).await
    }

    async fn finish(&mut self, res: reqwest::Response) -> (StatusCode, String, Option<String>) {
        self.keep(&res);
        let location = res.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_string());
        (res.status(), res.text().await.unwrap(), location)
    }

    async fn login(&mut self, user: &str) {
        let (_, page, _) = self.get("/login").await;
        let csrf = csrf_in(&page);
        let (mut status, body, _) = self
            .post("/login", &[("username", user), ("password", PASSWORD), ("csrf", &csrf)])
            .await;
        if common::hidden_field(&body, "ticket").is_some() {
            status = self.code(&body).await.0;
        }
        assert_eq!(status, StatusCode::SEE_OTHER);
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
}

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

/// Status and body of an API answer, checking it is the documented JSON error.
async fn api_error(res: reqwest::Response) -> (StatusCode, String, String) {
    let status = res.status();
    let ct = res.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
    let text = res.text().await.unwrap();
    assert_eq!(ct.as_deref(), Some("application/json"), "{status}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}"));
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    assert_eq!(body.as_object().unwrap().len(), 1, "{text}");
    (status, code, message)
}

// Defect 3: an Idempotency-Key answers only for the request it came with.
#[tokio::test]
async fn an_idempotency_key_is_bound_to_its_request_and_a_replay_after_withdrawal_says_so() {
    let app = TestApp::spawn().await;
    let body = json!({"scope": "instagram", "person_id": "person-carol", "reason": "nein"});
    let first = app.api_file(Some("k-1"), &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let id = first["objection"]["objection_id"].as_str().unwrap().to_string();
    assert!(first.get("notice").is_none(), "a new objection has no notice");

    // The same request, keys in another order and with spacing around the reason: a replay.
    let same = json!({"person_id": "person-carol", "reason": "  nein ", "scope": "instagram"});
    let replay = app.api_file(Some("k-1"), &same).await;
    assert_eq!(replay.status(), StatusCode::OK);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["objection"]["objection_id"], id.as_str());
    assert!(replay["notice"].as_str().unwrap().contains("nothing new was filed"));

    // The same key with another body: refused, nothing filed.
    for other in [
        json!({"scope": "whatsapp", "person_id": "person-carol", "reason": "nein"}),
        json!({"scope": "instagram", "person_id": "person-carol"}),
    ] {
        let (status, code, message) = api_error(app.api_file(Some("k-1"), &other).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
        );
        assert!(message.contains("different request body"), "{message}");
    }
    assert_eq!(app.store().await.objections_of("person-carol").await.unwrap().len(), 1);

    // Withdrawn, then replayed: the answer shows the withdrawal and says so.
    let withdrawn = client()
        .post(app.url(&format!("/api/v1/objections/{id}/withdraw?person_id=person-carol")))
        .bearer_auth(&app.service_token)
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), StatusCode::OK);
    let replay = app.api_file(Some("k-1"), &body).await;
    assert_eq!(replay.status(), StatusCode::OK);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["objection"]["objection_id"], id.as_str());
    assert!(replay["objection"]["withdrawn_at"].is_string(), "{replay}");
    assert_eq!(replay["receipt"]["event"], "objection_withdrawn");
    let notice = replay["notice"].as_str().unwrap();
    assert!(
        notice.contains("withdrawn") && notice.contains("new Idempotency-Key"),
        "{notice}"
    );

    // The OpenAPI document says all of this.
    let doc: Value = client()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post = &doc["paths"]["/api/v1/objections"]["post"];
    assert!(
        post["responses"]["422"]["description"]
            .as_str()
            .unwrap()
            .contains("idempotency_key_reused")
    );
    let said = format!("{} {}", post["summary"], post["description"]);
    assert!(
        said.contains("withdrawn") && said.contains("idempotency_key_reused"),
        "{post}"
    );
    assert!(doc["components"]["schemas"]["ObjectionResponse"]["properties"]["notice"].is_object());
    app.stop().await;
}

/// The receipt JSON inside a mail.
fn receipt_in(mail: &str) -> veto_core::receipt::Receipt {
    let start = mail.find("\n{").expect("the receipt inline") + 1;
    let end = mail.rfind('}').unwrap() + 1;
    serde_json::from_str(&mail[start..end]).unwrap()
}

// Defect 4: the signed receipt (and the withdrawal receipt) go to the account's email.
#[tokio::test]
async fn receipts_are_mailed_in_the_persons_language_only_to_accounts_with_an_email() {
    let app = TestApp::spawn().await;
    let public_key = app.store().await.public_key().await.unwrap();
    let mut alice = app.browser();
    alice.login("alice").await;
    let (_, form, _) = alice.get("/object?lang=en").await;
    let (status, _, location) = alice
        .post("/object", &[("scope", "all"), ("csrf", &csrf_in(&form))])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = location.unwrap().trim_start_matches("/receipts/").to_string();

    let mails = app.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert!(mail.starts_with("To: alice@example.invalid\r\n"), "{mail}");
    assert!(mail.contains("Subject: veto: receipt for your objection"), "{mail}");
    assert!(mail.contains(&format!("/receipts/{id}?lang=en\n")), "{mail}");
    let receipt = receipt_in(mail);
    assert_eq!(
        (receipt.objection_id.as_str(), receipt.event.as_str()),
        (id.as_str(), "objection_filed")
    );
    assert_eq!(receipt.verify(Some(&public_key)), Ok(()));

    // Withdrawn in German: the withdrawal receipt follows, once.
    let (_, page, _) = alice.get(&format!("/receipts/{id}?lang=de")).await;
    for _ in 0..2 {
        let (status, _, _) = alice
            .post(
                &format!("/receipts/{id}/withdraw"),
                &[("csrf", &csrf_in(&page)), ("confirm", "yes")],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let mails = app.mails();
    assert_eq!(mails.len(), 2, "a second withdrawal mails nothing");
    assert!(
        mails[1].contains("Subject: veto: Quittung für die Rücknahme"),
        "{}",
        mails[1]
    );
    let receipt = receipt_in(&mails[1]);
    assert_eq!(receipt.event, "objection_withdrawn");
    assert_eq!(receipt.verify(Some(&public_key)), Ok(()));
    let (_, on_file, _) = alice.get(&format!("/receipts/{id}/json")).await;
    let on_file: veto_core::receipt::Receipt = serde_json::from_str(&on_file).unwrap();
    assert_eq!(
        on_file.withdrawn_at, receipt.withdrawn_at,
        "the mail shows the withdrawal on file"
    );

    // Through the API for Alice, in English by Accept-Language; a replay mails nothing.
    for _ in 0..2 {
        let res = client()
            .post(app.url("/api/v1/objections"))
            .bearer_auth(&app.service_token)
            .header("Idempotency-Key", "mail-1")
            .header("Accept-Language", "en-US,en;q=0.9")
            .json(&json!({"person_id": "person-alice", "scope": "facebook"}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }
    let mails = app.mails();
    assert_eq!(mails.len(), 3);
    assert!(mails[2].contains("Subject: veto: receipt for your objection"));

    // No email on the account, or no account: no mail.
    let mut dora = app.browser();
    dora.login("dora").await;
    let (_, form, _) = dora.get("/object").await;
    dora.post("/object", &[("scope", "all"), ("csrf", &csrf_in(&form))])
        .await;
    assert_eq!(
        app.api_file(None, &json!({"person_id": "no-account"})).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.mails().len(), 3);
    assert!(
        app.store().await.pending_mail(10).await.unwrap().is_empty(),
        "all handed to the sender"
    );
    app.stop().await;
}

// Defect 5: formula cells in the operator's CSV, and person_ids from services.
#[tokio::test]
async fn person_ids_from_services_are_checked_and_csv_cells_cannot_be_formulas() {
    let app = TestApp::spawn().await;
    for bad in [
        "=HYPERLINK(\"http://x\")".to_string(),
        "+1".into(),
        "@SUM(A1)".into(),
        "-2".into(),
        "carol\u{7}".into(),
        "carol\r\nforged: log line".into(),
        "x".repeat(129),
    ] {
        let (status, code, message) = api_error(app.api_file(None, &json!({"person_id": bad})).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            "{bad:?}"
        );
        assert!(message.starts_with("person_id:"), "{message}");
    }
    let (status, code, _) = api_error(app.api_file(None, &json!({"person_id": ""})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"));
    assert_eq!(
        app.api_file(None, &json!({"person_id": "x".repeat(128)}))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.store().await.objections().await.unwrap().len(),
        1,
        "only the valid one is on file"
    );

    // Objections imported from files are not checked like that: the CSV
    // neutralises whatever reaches it.
    let imported = veto_core::Objection {
        objection_id: "@obj-imported".into(),
        person_id: "=HYPERLINK(\"http://x\",\"click\")".into(),
        scope: veto_core::ObjectionScope::All,
        filed_at: chrono::Utc::now(),
        withdrawn_at: None,
        channel: veto_core::Channel::Letter,
    };
    app.store().await.import_objections(&[imported]).await.unwrap();
    let mut op = app.browser();
    op.login("op").await;
    let (status, csv, _) = op.get("/operator/objections.csv").await;
    assert_eq!(status, StatusCode::OK);
    let row = csv.lines().find(|l| l.contains("obj-imported")).unwrap();
    assert!(
        row.starts_with("\"'@obj-imported\",\"'=HYPERLINK(\"\"http://x\"\",\"\"click\"\")\",all,letter,"),
        "{row}"
    );
    for line in csv.lines() {
        // No cell, quoted or not, starts a formula.
        for cell in line.split(',') {
            let unquoted = cell.trim_start_matches('"');
            assert!(!unquoted.starts_with(['=', '+', '-', '@', '\t', '\r']), "{line}");
        }
    }
    app.stop().await;
}

// Defect 7: every API error is the documented JSON, credentials first.
#[tokio::test]
async fn api_errors_are_documented_json_and_credentials_come_before_the_body() {
    let app = TestApp::spawn().await;
    let post = |token: Option<&str>, body: &'static str| {
        let mut req = client()
            .post(app.url("/api/v1/objections"))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    for token in [None, Some("veto_unknown")] {
        let (status, code, _) = api_error(post(token, "{\"scope\": ").await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{token:?}"
        );
    }
    let token = Some(app.service_token.as_str());
    let (status, code, message) = api_error(post(token, "{\"scope\": ").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"));
    assert!(message.contains("line 1 column"), "{message}");
    // JSON that does not fit: 422 naming the field and place, never a Rust type.
    for (body, starts) in [
        ("\"x\"", "the body must be a JSON object"),
        ("{\"person_id\": 5}", "person_id: invalid type: integer"),
        ("{\"person_id\": \"p\", \"scope\": \"tiktok\"}", "scope:"),
    ] {
        let (status, code, message) = api_error(post(token, body).await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            "{body}"
        );
        assert!(message.starts_with(starts), "{message}");
        assert!(
            !message.contains("struct") && !message.contains("CreateObjection"),
            "{message}"
        );
    }
    // Without a JSON content type.
    let res = client()
        .post(app.url("/api/v1/objections"))
        .bearer_auth(&app.service_token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(api_error(res).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Unknown paths and methods under /api.
    for path in ["/api/v1/nope", "/api/nothing/here", "/api/v2/objections"] {
        let (status, code, _) = api_error(client().get(app.url(path)).send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "not_found"), "{path}");
    }
    let res = client().delete(app.url("/api/v1/objections")).send().await.unwrap();
    let (status, code, _) = api_error(res).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    // A query that does not fit, and a body the framework refuses (not UTF-8).
    let res = client()
        .get(app.url("/api/v1/objections?person_id=a&person_id=b"))
        .bearer_auth(&app.service_token)
        .send()
        .await
        .unwrap();
    assert_eq!(api_error(res).await.0, StatusCode::BAD_REQUEST);
    let res = client()
        .post(app.url("/api/v1/receipts/verify"))
        .body(vec![0xffu8, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(api_error(res).await.0, StatusCode::BAD_REQUEST);
    // The error schema is in the OpenAPI document.
    let doc: Value = client()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let detail = &doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["description"];
    assert!(detail.as_str().unwrap().contains("idempotency_key_reused"), "{detail}");
    // Pages outside /api are untouched: still HTML.
    let res = client().get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

/// Asks for a non-user confirmation mail; returns the status and page.
async fn ask_non_user(b: &mut Browser, email: &str) -> (StatusCode, String) {
    let (_, page, _) = b.get("/non-user").await;
    let (status, page, _) = b
        .post(
            "/non-user",
            &[
                ("email", email),
                ("display_name", "Erika M."),
                ("csrf", &csrf_in(&page)),
            ],
        )
        .await;
    (status, page)
}

fn link_in(mail: &str) -> String {
    let line = mail.lines().find(|l| l.contains("/non-user/verify?token=")).unwrap();
    line[line.find("/non-user").unwrap()..].trim().to_string()
}

// Defect 8: opening the link changes nothing; the button confirms.
#[tokio::test]
async fn opening_the_non_user_link_confirms_nothing_and_its_button_does() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    assert_eq!(ask_non_user(&mut b, "erika@example.invalid").await.0, StatusCode::OK);
    let path = link_in(&app.mails()[0]);
    let token = path.split("token=").nth(1).unwrap().to_string();
    let store = app.store().await;

    // A mail scanner (no cookies) and the person open the link, several times.
    let mut scanner = app.browser();
    for visitor in [&mut scanner, &mut b] {
        for _ in 0..2 {
            let (status, page, _) = visitor.get(&path).await;
            assert_eq!(status, StatusCode::OK);
            assert!(page.contains("method=\"post\" action=\"/non-user/verify\""), "{page}");
            assert!(!page.contains("Ihr Widerspruch ist bestätigt"));
        }
    }
    assert!(
        store.third_party_pending(&token).await.unwrap(),
        "nothing confirmed by a GET"
    );
    assert!(
        store
            .ledger_entries()
            .await
            .unwrap()
            .iter()
            .all(|e| e.kind != "third_party_objection_verified"),
        "nothing in the ledger"
    );

    // Without the form's CSRF token the POST is refused.
    let (status, _, _) = b.post("/non-user/verify", &[("token", &token)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(store.third_party_pending(&token).await.unwrap());

    let (_, page, _) = b.get(&path).await;
    let (status, page, _) = b
        .post("/non-user/verify", &[("token", &token), ("csrf", &csrf_in(&page))])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Ihr Widerspruch ist bestätigt"));
    assert!(!store.third_party_pending(&token).await.unwrap());
    // Used once: the link's page and a second POST say so.
    assert_eq!(b.get(&path).await.0, StatusCode::NOT_FOUND);
    let (_, page, _) = b.get("/non-user").await;
    let (status, _, _) = b
        .post("/non-user/verify", &[("token", &token), ("csrf", &csrf_in(&page))])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

// Defect 8: at most three confirmation mails to one address in 24 hours.
#[tokio::test]
async fn confirmation_mails_to_one_address_are_limited() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    for email in [
        "victim@example.invalid",
        "Victim@Example.invalid",
        "victim@example.invalid",
    ] {
        assert_eq!(ask_non_user(&mut b, email).await.0, StatusCode::OK);
    }
    assert_eq!(app.mails().len(), 3);
    let (_, form, _) = b.get("/non-user").await;
    let res = client()
        .post(app.url("/non-user"))
        .header(COOKIE, b.cookie_header())
        .form(&[
            ("email", "VICTIM@example.invalid"),
            ("display_name", "Erika M."),
            ("csrf", &csrf_in(&form)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (86_000..=86_400).contains(&retry),
        "a slot frees 24 h after the first mail: {retry}"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("Bestätigungs-Mails"), "{page}");
    assert_eq!(app.mails().len(), 3, "no fourth mail");
    assert!(
        app.store().await.pending_mail(10).await.unwrap().is_empty(),
        "none queued either"
    );
    // Another address is not affected.
    assert_eq!(ask_non_user(&mut b, "someone@example.invalid").await.0, StatusCode::OK);
    assert_eq!(app.mails().len(), 4);
    app.stop().await;
}
