//! Checks behind rows of docs/security.md (the OWASP ASVS map) that no
//! other test covers: the session cookie's attributes and entropy, logout,
//! expiry and password changes ending sessions, output encoding of what a
//! visitor typed, the body size limit, persons and roles kept apart, fields
//! a client cannot set, the response headers, and mail header injection.
//! The real portal on a random port against a fresh store.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use veto_portal::configuration::Settings;
use veto_portal::startup::Application;
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
        let home = tempfile::tempdir().unwrap();
        let store = veto_store::testing::open(home.path()).await;
        let role = Role::Person {
            person_id: "person-alice".into(),
        };
        let hash = veto_portal::auth::hash_password(PASSWORD);
        store.upsert_account("alice", &role, None, &hash).await.unwrap();
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
        // Several logins from one address within a second; the login pace
        // (tests/hardening_auth.rs) is not what these tests are about.
        settings.login_per_minute = 600;
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
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            set_cookies: Vec::new(),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
    }
}

/// Keeps cookies, sends the portal's own Origin on POST, follows nothing.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
    /// Every Set-Cookie header seen, as sent.
    set_cookies: Vec<String>,
}

impl Browser {
    async fn send(&mut self, req: reqwest::RequestBuilder) -> (StatusCode, String, Option<String>) {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let res = req.header(COOKIE, cookie).send().await.unwrap();
        for c in res.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap().to_string();
            let (pair, attrs) = c.split_once(';').unwrap_or((&c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
            self.set_cookies.push(c);
        }
        let location = res.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_string());
        (res.status(), res.text().await.unwrap(), location)
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String, Option<String>) {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, Option<String>) {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .form(form);
        self.send(req).await
    }

    async fn login(&mut self, user: &str, password: &str) -> (StatusCode, String, Option<String>) {
        let (_, page, _) = self.get("/login").await;
        let csrf = csrf_in(&page);
        self.post("/login", &[("username", user), ("password", password), ("csrf", &csrf)])
            .await
    }
}

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

// ASVS 3.2.2, 3.4.1 to 3.4.3, 3.4.5.
#[tokio::test]
async fn the_session_cookie_is_http_only_secure_same_site_and_256_random_bits() {
    let app = TestApp::spawn().await;
    let mut alice = app.browser();
    assert_eq!(alice.login("alice", PASSWORD).await.0, StatusCode::SEE_OTHER);
    let set = alice
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-veto_session="))
        .expect("a session cookie");
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    for wanted in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(attrs.contains(&wanted), "{wanted} in {set}");
    }
    assert!(!attrs.iter().any(|a| a.starts_with("Domain=")), "host-only: {set}");
    let token = &alice.cookies["__Host-veto_session"];
    assert!(
        token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "32 random bytes in hex: {token}"
    );
    // The store keeps only its hash.
    let db = std::fs::read(app.home.path().join("veto.db")).unwrap_or_default();
    let wal = std::fs::read(app.home.path().join("veto.db-wal")).unwrap_or_default();
    let needle = token.as_bytes();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "token in clear in the store"
        );
        // The same for API tokens (ASVS 2.10.3).
        let api = app.service_token.as_bytes();
        assert!(
            !bytes.windows(api.len()).any(|w| w == api),
            "API token in clear in the store"
        );
    }
    app.stop().await;
}

// ASVS 3.3.1 (logout ends the session) and 3.3.3 (a new password ends every session).
#[tokio::test]
async fn logging_out_and_changing_the_password_end_sessions_on_the_server() {
    let app = TestApp::spawn().await;
    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    let token = alice.cookies["__Host-veto_session"].clone();
    let (_, page, _) = alice.get("/my-data").await;
    let (status, _, _) = alice.post("/logout", &[("csrf", &csrf_in(&page))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        !alice.cookies.contains_key("__Host-veto_session"),
        "the browser is told to drop the cookie: {:?}",
        alice.set_cookies
    );
    // The old token, replayed (say from a copied cookie), is worth nothing.
    let mut replay = app.browser();
    replay.cookies.insert("__Host-veto_session".into(), token);
    assert_eq!(replay.get("/my-data").await.2.as_deref(), Some("/login"));

    // A password reset (veto accounts add) ends every open session.
    let (mut laptop, mut phone) = (app.browser(), app.browser());
    laptop.login("alice", PASSWORD).await;
    phone.login("alice", PASSWORD).await;
    let store = veto_store::testing::open(app.home.path()).await;
    let role = Role::Person {
        person_id: "person-alice".into(),
    };
    let new_hash = veto_portal::auth::hash_password("another long password");
    store.upsert_account("alice", &role, None, &new_hash).await.unwrap();
    for b in [&mut laptop, &mut phone] {
        assert_eq!(b.get("/my-data").await.2.as_deref(), Some("/login"));
    }
    assert_eq!(
        app.browser().login("alice", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED,
        "the old password no longer works"
    );
    // A session past its lifetime is no session (the portal opens them for
    // 8 hours, routes/pages.rs).
    let (token, _) = store.create_session("alice", chrono::Duration::hours(8)).await.unwrap();
    let now = chrono::Utc::now();
    assert!(store.session(&token, now).await.unwrap().is_some());
    let later = now + chrono::Duration::hours(8) + chrono::Duration::seconds(1);
    assert!(store.session(&token, later).await.unwrap().is_none());
    app.stop().await;
}

// ASVS 5.3.1 and 5.3.3: what a visitor typed comes back encoded for HTML.
#[tokio::test]
async fn a_username_echoed_on_a_failed_login_is_html_escaped() {
    let app = TestApp::spawn().await;
    let mut mallory = app.browser();
    let markup = "\"><script>alert(1)</script><img src=x onerror=alert(2)>";
    let (status, page, _) = mallory.login(markup, "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        !page.contains("<script>alert(1)") && !page.contains("<img src=x"),
        "{page}"
    );
    // askama writes numeric references (&#60;), other encoders named ones.
    assert!(
        page.contains("&#60;script&#62;alert(1)") || page.contains("&lt;script&gt;alert(1)"),
        "echoed, escaped: {page}"
    );
    assert!(
        page.contains("value=\"&#34;&#62;") || page.contains("value=\"&quot;&gt;"),
        "the quote cannot end the attribute"
    );
    app.stop().await;
}

// ASVS 13.1.x and 5.1.x: a body past the limit (2 MiB) is refused, not read whole.
#[tokio::test]
async fn bodies_past_the_limit_get_413_as_documented_json_and_pages() {
    let app = TestApp::spawn().await;
    let big = format!("{{\"person_id\":\"p\",\"reason\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/objections", app.base))
        .bearer_auth(&app.service_token)
        .header(CONTENT_TYPE, "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    let store = veto_store::testing::open(app.home.path()).await;
    assert!(store.objections_of("p").await.unwrap().is_empty(), "nothing filed");
    // A form past the limit is refused too.
    let mut b = app.browser();
    let (_, page, _) = b.get("/login").await;
    let csrf = csrf_in(&page);
    let huge = "y".repeat(3 * 1024 * 1024);
    let (status, _, _) = b
        .post("/login", &[("username", "alice"), ("password", &huge), ("csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

// ASVS 4.1.2, 4.1.3, 13.1.4 (roles and persons), 5.1.2 (mass assignment).
#[tokio::test]
async fn a_person_cannot_act_for_another_and_each_role_stays_in_its_lane() {
    let app = TestApp::spawn().await;
    let store = veto_store::testing::open(app.home.path()).await;
    let operator_token = store
        .create_api_token("ops", TokenRole::Operator, chrono::Duration::days(1))
        .await
        .unwrap();
    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    let (_, page, _) = alice.get("/object").await;
    let csrf = csrf_in(&page);
    let http = reqwest::Client::new();
    let cookie = format!("__Host-veto_session={}", alice.cookies["__Host-veto_session"]);
    // A session that names another person gets the same 404 as a missing one.
    let res = http
        .get(format!("{}/api/v1/objections?person_id=person-bob", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = http
        .post(format!("{}/api/v1/objections", app.base))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"person_id": "person-bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(store.objections_of("person-bob").await.unwrap().is_empty());
    // Operators do not file; services do not read snapshots.
    let res = http
        .post(format!("{}/api/v1/objections", app.base))
        .bearer_auth(&operator_token)
        .json(&serde_json::json!({"person_id": "person-bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = http
        .get(format!("{}/api/v1/snapshots", app.base))
        .bearer_auth(&app.service_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Fields the server sets cannot be sent in: they are ignored.
    let res = http
        .post(format!("{}/api/v1/objections", app.base))
        .bearer_auth(&app.service_token)
        .json(&serde_json::json!({
            "person_id": "person-carol",
            "objection_id": "obj-chosen",
            "channel": "letter",
            "filed_at": "2025-01-01T00:00:00Z",
            "before_deadline": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: serde_json::Value = res.json().await.unwrap();
    let o = &body["objection"];
    assert_ne!(o["objection_id"], "obj-chosen");
    assert_eq!(o["channel"], "api");
    assert_ne!(o["filed_at"], "2025-01-01T00:00:00Z");
    assert!(store.objection("obj-chosen").await.unwrap().is_none());
    app.stop().await;
}

// ASVS 14.3.3, 14.4.1, 14.4.2, 14.4.4, 14.5.1, 14.5.3.
#[tokio::test]
async fn answers_name_their_type_and_carry_the_headers_the_map_claims() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/",
        "/login",
        "/non-user",
        "/no-such-page",
        "/api/openapi.json",
        "/api/v1/no-such-path",
        "/api/v1/my-data",
        "/static/app.css",
        "/healthz",
    ] {
        let res = http
            .get(format!("{}{path}", app.base))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        let h = res.headers();
        let ct = h.get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_ascii_lowercase());
        let ct = ct.unwrap_or_else(|| panic!("{path}: no Content-Type"));
        if ct.starts_with("text/") {
            assert!(ct.contains("charset=utf-8"), "{path}: {ct}");
        }
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
        assert!(!h.contains_key("access-control-allow-origin"), "{path}: no CORS");
        if let Some(server) = h.get("server") {
            let server = server.to_str().unwrap();
            assert!(!server.chars().any(|c| c.is_ascii_digit()), "{path}: {server}");
        }
        assert!(!h.contains_key("x-powered-by"), "{path}");
        if path.starts_with("/api/") {
            assert_eq!(
                h.get("content-disposition").map(|v| v.to_str().unwrap()),
                Some("attachment; filename=\"api.json\""),
                "{path}"
            );
        }
    }
    // Methods no route has are refused, on pages as on the API.
    for (method, path) in [
        ("PUT", "/login"),
        ("DELETE", "/my-data"),
        ("PATCH", "/api/v1/objections"),
    ] {
        let res = http
            .request(method.parse().unwrap(), format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    app.stop().await;
}

// ASVS 5.2.3: a header line cannot be smuggled into a mail through the form.
#[tokio::test]
async fn an_address_with_a_line_break_gets_no_mail() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    for email in [
        "erika@example.invalid\r\nBcc: victim@example.invalid",
        "erika@example.invalid\nSubject: forged",
        "erika @example.invalid",
    ] {
        let (_, page, _) = b.get("/non-user").await;
        let (status, _, _) = b
            .post(
                "/non-user",
                &[("email", email), ("display_name", "Erika"), ("csrf", &csrf_in(&page))],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{email:?}");
    }
    let outbox = app.home.path().join("outbox");
    let mails = std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0);
    assert_eq!(mails, 0, "no mail was queued");
    app.stop().await;
}
