//! The portal's defences around logins and sessions, and the deadline's last
//! second, over HTTP against the real app on a random port: failed-login
//! limits per client and per account, session rotation and "log out
//! everywhere", HMAC-bound double-submit tokens, the Origin check, and
//! `Cache-Control: no-store`.

mod common;

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use veto_core::{Channel, Objection, ObjectionScope};
use veto_portal::configuration::Settings;
use veto_portal::startup::Application;
use veto_store::accounts::{Role, TokenRole};

const PASSWORD: &str = "correct horse battery";

struct TestApp {
    base: String,
    service_token: String,
    _home: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}, &[]).await
    }

    /// A portal with alice, bob and an operator, `objections` on file, and
    /// settings changed by `tune`.
    async fn spawn_with(tune: impl FnOnce(&mut Settings), objections: &[Objection]) -> TestApp {
        let home = tempfile::tempdir().unwrap();
        let store = veto_store::testing::open(home.path()).await;
        let hash = veto_portal::auth::hash_password(PASSWORD);
        for p in ["alice", "bob"] {
            let role = Role::Person {
                person_id: format!("person-{p}"),
            };
            store.upsert_account(p, &role, None, &hash).await.unwrap();
        }
        store.upsert_account("op", &Role::Operator, None, &hash).await.unwrap();
        store.set_totp_secret("op", Some(common::OPERATOR_TOTP)).await.unwrap();
        let service_token = store
            .create_api_token("platform-backend", TokenRole::Service, chrono::Duration::days(1))
            .await
            .unwrap();
        if !objections.is_empty() {
            store.import_objections(objections).await.unwrap();
        }
        store.close().await;
        let mut settings = Settings::new(
            "127.0.0.1:0".parse().unwrap(),
            home.path().to_path_buf(),
            veto_core::Policy::preset("strict").unwrap(),
        );
        settings.database = Some(veto_store::testing::database(home.path()).await);
        tune(&mut settings);
        let app = Application::build(settings).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            service_token,
            _home: home,
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
            origin: Some(self.base.clone()),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
    }
}

struct Reply {
    status: StatusCode,
    body: String,
    location: Option<String>,
    headers: reqwest::header::HeaderMap,
}

/// A minimal browser: keeps cookies, sends its page's Origin on POST the
/// way a real one does, follows nothing by itself.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
    origin: Option<String>,
}

impl Browser {
    fn cookie_header(&self) -> String {
        let mut pairs: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.sort();
        pairs.join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.header(COOKIE, self.cookie_header()).send().await.unwrap();
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
        Reply {
            status: res.status(),
            location: res.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_string()),
            headers: res.headers().clone(),
            body: res.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Reply {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let mut req = self.client.post(format!("{}{path}", self.base)).form(form);
        if let Some(origin) = &self.origin {
            req = req.header("origin", origin);
        }
        self.send(req).await
    }

    /// Logs in; an account with a second factor (the operator) also
    /// gives its one-time code.
    async fn login(&mut self, user: &str, password: &str) -> Reply {
        let page = self.get("/login").await;
        let csrf = csrf_in(&page.body);
        let reply = self
            .post("/login", &[("username", user), ("password", password), ("csrf", &csrf)])
            .await;
        match common::hidden_field(&reply.body, "ticket") {
            Some(ticket) => self.code(&ticket, &csrf_in(&reply.body)).await,
            None => reply,
        }
    }

    /// The code step: the current code, or the next one if the current was
    /// used by an earlier login of the same test.
    async fn code(&mut self, ticket: &str, csrf: &str) -> Reply {
        let step = common::current_step();
        for step in [step, step + 1] {
            let code = common::totp_at_step(common::OPERATOR_TOTP, step);
            let reply = self
                .post("/login/code", &[("ticket", ticket), ("code", &code), ("csrf", csrf)])
                .await;
            if reply.status != StatusCode::UNAUTHORIZED {
                return reply;
            }
        }
        panic!("neither the current nor the next one-time code logged in");
    }

    fn session(&self) -> Option<String> {
        self.cookies.get("__Host-veto_session").cloned()
    }
}

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: i64) -> chrono::DateTime<Utc> {
    chrono_tz::Europe::Berlin
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::milliseconds(ms)
}

fn objection(id: &str, person: &str, filed_at: chrono::DateTime<Utc>) -> Objection {
    Objection {
        objection_id: id.into(),
        person_id: person.into(),
        scope: ObjectionScope::All,
        filed_at,
        withdrawn_at: None,
        channel: Channel::Web,
    }
}

/// The text of the `<dd>` after the `<dt>` that holds `label`.
fn dd_after(page: &str, label: &str) -> String {
    let at = page.find(label).unwrap_or_else(|| panic!("{label} in {page}"));
    let rest = &page[at..];
    let start = rest.find("<dd>").unwrap() + 4;
    rest[start..].split("</dd>").next().unwrap().trim().to_string()
}

#[tokio::test]
async fn an_objection_in_the_last_second_of_26_may_is_on_time_and_one_at_midnight_is_late() {
    let on_time = objection("obj-last-second", "person-alice", berlin(2025, 5, 26, 23, 59, 59, 400));
    let late = objection("obj-midnight", "person-alice", berlin(2025, 5, 27, 0, 0, 0, 0));
    let app = TestApp::spawn_with(|_| {}, &[on_time, late]).await;
    let mut alice = app.browser();
    assert_eq!(alice.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    for (id, expected) in [("obj-last-second", true), ("obj-midnight", false)] {
        let page = alice.get(&format!("/receipts/{id}?lang=en")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let shown = dd_after(&page.body, "Before the deadline");
        assert_eq!(shown, if expected { "yes" } else { "no" }, "{id}");
        let json = alice.get(&format!("/receipts/{id}/json")).await;
        let receipt: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        assert_eq!(receipt["before_deadline"], expected, "{id}: {}", json.body);
        let api: serde_json::Value = alice
            .client
            .get(format!("{}/api/v1/objections/{id}?person_id=person-alice", app.base))
            .bearer_auth(&app.service_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let objection = api.get("objection").unwrap_or(&api);
        assert_eq!(objection["before_deadline"], expected, "{id}: {api}");
    }
    // The landing page names the last second as people read it, in Berlin time with its offset.
    let landing = app.browser().get("/?lang=en").await;
    assert!(
        landing.body.contains("26 May 2025, 23:59:59 +02:00"),
        "{}",
        landing.body
    );
    let landing = app.browser().get("/?lang=de").await;
    assert!(landing.body.contains("26.05.2025, 23:59:59 +02:00"), "{}", landing.body);
    // The dashboard counts one before and one after.
    let mut op = app.browser();
    op.login("op", PASSWORD).await;
    let dashboard = op.get("/operator").await;
    assert!(dashboard.body.contains("<p>1 / 1</p>"), "{}", dashboard.body);
    app.stop().await;
}

#[tokio::test]
async fn one_password_against_forty_accounts_from_one_client_gets_429_after_the_limit() {
    let app = TestApp::spawn_with(|s| s.login_failures_per_client = 10, &[]).await;
    let mut sprayer = app.browser();
    let page = sprayer.get("/login").await;
    let csrf = csrf_in(&page.body);
    let mut statuses = Vec::new();
    for i in 0..40 {
        let user = format!("user{i}");
        let r = sprayer
            .post(
                "/login",
                &[("username", &user), ("password", "Sommer2025!"), ("csrf", &csrf)],
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = r.headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
            assert!((1..=15 * 60).contains(&retry), "{retry}");
            assert!(r.body.contains("Zu viele fehlgeschlagene Anmeldungen"), "{}", r.body);
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses[..10], [StatusCode::UNAUTHORIZED; 10]);
    assert_eq!(statuses[10..], [StatusCode::TOO_MANY_REQUESTS; 30]);
    // The right password does not get through from that client either.
    let r = sprayer
        .post(
            "/login",
            &[("username", "alice"), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // A client that asks for JSON gets the documented JSON error.
    let res = sprayer
        .client
        .post(format!("{}/login", app.base))
        .header(COOKIE, sprayer.cookie_header())
        .header("accept", "application/json")
        .form(&[("username", "bob"), ("password", "x"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key(RETRY_AFTER));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    app.stop().await;
}

#[tokio::test]
async fn guessing_one_accounts_password_gets_429_after_the_account_limit() {
    let app = TestApp::spawn_with(
        |s| {
            s.login_failures_per_account = 3;
            s.login_per_minute = 600;
        },
        &[],
    )
    .await;
    let mut guesser = app.browser();
    for _ in 0..3 {
        assert_eq!(guesser.login("alice", "guess").await.status, StatusCode::UNAUTHORIZED);
    }
    let r = guesser.login("alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert!(r.headers.contains_key(RETRY_AFTER));
    // Other accounts from the same client are not locked with it.
    assert_eq!(guesser.login("bob", PASSWORD).await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn logging_in_again_ends_the_previous_session_of_that_browser() {
    let app = TestApp::spawn().await;
    let mut alice = app.browser();
    assert_eq!(alice.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let first = alice.session().unwrap();
    assert_eq!(alice.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let second = alice.session().unwrap();
    assert_ne!(first, second, "a new session on every login");
    assert_eq!(alice.get("/my-data").await.status, StatusCode::OK);
    let mut stale = app.browser();
    stale.cookies.insert("__Host-veto_session".into(), first);
    let r = stale.get("/my-data").await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login")),
        "the earlier token no longer works"
    );
    app.stop().await;
}

#[tokio::test]
async fn log_out_everywhere_ends_every_session_of_the_account_only() {
    let app = TestApp::spawn().await;
    let (mut laptop, mut phone, mut bob) = (app.browser(), app.browser(), app.browser());
    laptop.login("alice", PASSWORD).await;
    phone.login("alice", PASSWORD).await;
    bob.login("bob", PASSWORD).await;
    let page = laptop.get("/my-data").await;
    assert!(
        page.body.contains("action=\"/logout/everywhere\""),
        "a button on the page"
    );
    // Without the session's token nothing happens.
    let r = laptop.post("/logout/everywhere", &[("csrf", "wrong")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(phone.get("/my-data").await.status, StatusCode::OK);

    let r = laptop
        .post("/logout/everywhere", &[("csrf", &csrf_in(&page.body))])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    for (who, b) in [("laptop", &mut laptop), ("phone", &mut phone)] {
        let r = b.get("/my-data").await;
        assert_eq!(r.location.as_deref(), Some("/login"), "{who} is logged out");
    }
    assert_eq!(
        bob.get("/my-data").await.status,
        StatusCode::OK,
        "another account keeps its session"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_forged_double_submit_pair_is_refused_on_login() {
    let app = TestApp::spawn().await;
    let mut attacker = app.browser();
    attacker.cookies.insert("__Host-veto_csrf".into(), "x".into());
    let r = attacker
        .post(
            "/login",
            &[("username", "alice"), ("password", PASSWORD), ("csrf", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(attacker.session().is_none());
    // A pair of the right shape but not signed by this portal fails too.
    let other = app.browser().get("/login").await;
    let token = csrf_in(&other.body);
    let (nonce, _) = token.split_once('.').expect("nonce.mac");
    let forged = format!("{nonce}.{}", "0".repeat(64));
    attacker.cookies.insert("__Host-veto_csrf".into(), forged.clone());
    let r = attacker
        .post(
            "/login",
            &[("username", "alice"), ("password", PASSWORD), ("csrf", &forged)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The login page replaces a planted cookie with a signed one.
    let page = attacker.get("/login").await;
    assert_ne!(attacker.cookies["__Host-veto_csrf"], forged);
    assert_eq!(csrf_in(&page.body), attacker.cookies["__Host-veto_csrf"]);
    assert_eq!(attacker.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn state_changing_requests_from_another_origin_get_403() {
    let app = TestApp::spawn().await;
    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    let page = alice.get("/object").await;
    let csrf = csrf_in(&page.body);
    alice.origin = Some("https://evil.example".into());
    let r = alice
        .post("/object", &[("scope", "all"), ("reason", "x"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "valid token, wrong origin");
    let r = alice.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let mut anyone = app.browser();
    let login = anyone.get("/login").await;
    anyone.origin = Some("null".into());
    let form = [
        ("username", "bob"),
        ("password", PASSWORD),
        ("csrf", &csrf_in(&login.body)),
    ];
    assert_eq!(anyone.post("/login", &form).await.status, StatusCode::FORBIDDEN);
    // Without Origin, Sec-Fetch-Site speaks for the browser.
    anyone.origin = None;
    let res = anyone
        .client
        .post(format!("{}/login", app.base))
        .header(COOKIE, anyone.cookie_header())
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The API answers with its JSON error.
    let res = anyone
        .client
        .post(format!("{}/api/v1/receipts/verify", app.base))
        .header("origin", "https://evil.example")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    // The portal's own origin passes.
    anyone.origin = Some(app.base.clone());
    assert_eq!(anyone.post("/login", &form).await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn pages_and_answers_with_personal_data_are_not_stored_by_caches() {
    let app = TestApp::spawn_with(
        |_| {},
        &[objection("obj-1", "person-alice", berlin(2025, 5, 1, 12, 0, 0, 0))],
    )
    .await;
    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    let mut op = app.browser();
    op.login("op", PASSWORD).await;
    let paths = [
        "/receipts/obj-1",
        "/receipts/obj-1/json",
        "/my-data",
        "/object",
        "/api/v1/my-data",
        "/operator",
        "/operator/objections.csv",
    ];
    for path in paths {
        let who = if path.starts_with("/operator") {
            &mut op
        } else {
            &mut alice
        };
        let r = who.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        let cache = r.headers.get(CACHE_CONTROL).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(cache.as_deref(), Some("no-store"), "{path}");
    }
    let api = app
        .browser()
        .client
        .get(format!("{}/api/v1/objections/obj-1?person_id=person-alice", app.base))
        .bearer_auth(&app.service_token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()[CACHE_CONTROL], "no-store");
    let css = app.browser().get("/static/app.css").await;
    assert_ne!(
        css.headers.get(CACHE_CONTROL).map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "static assets may be cached"
    );
    app.stop().await;
}
