//! Helpers the portal's HTTP tests share. The one-time codes here are
//! computed by hand from RFC 6238 and RFC 4648 (HMAC-SHA-1, dynamic
//! truncation, base32), not with the crate the portal uses.
#![allow(dead_code)]

use hmac::{Hmac, Mac};

/// The operators' second-factor key in the tests (base32 of the RFC 6238
/// test key "12345678901234567890").
pub const OPERATOR_TOTP: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base32 character") as u64;
        value = (value << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
        }
    }
    out
}

/// The six-digit code of time step `step` for the base32 key `secret`.
pub fn totp_at_step(secret: &str, step: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&base32_decode(secret)).unwrap();
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// The current time step (30 seconds each).
pub fn current_step() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

/// The value of the hidden form field `name` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

#[test]
fn the_code_oracle_matches_the_rfc_6238_vectors() {
    // RFC 6238 appendix B (SHA-1): 94287082 at 59 s, 07081804 at
    // 1111111109 s, 14050471 at 1111111111 s; six digits are the last six.
    assert_eq!(totp_at_step(OPERATOR_TOTP, 59 / 30), "287082");
    assert_eq!(totp_at_step(OPERATOR_TOTP, 1_111_111_109 / 30), "081804");
    assert_eq!(totp_at_step(OPERATOR_TOTP, 1_111_111_111 / 30), "050471");
}

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use veto_portal::configuration::Settings;
use veto_portal::startup::Application;
use veto_store::Store;
use veto_store::accounts::{Role, TokenRole};

pub const PASSWORD: &str = "correct horse battery";

/// The real portal on a random port against a fresh store: alice and bob
/// (persons, with mail addresses), op (an operator with the second factor
/// `OPERATOR_TOTP`) and a service token.
pub struct TestApp {
    pub base: String,
    pub home: tempfile::TempDir,
    pub service_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn_with(tune: impl FnOnce(&mut Settings)) -> TestApp {
        let home = tempfile::tempdir().unwrap();
        let store = veto_store::testing::open(home.path()).await;
        let hash = veto_portal::auth::hash_password(PASSWORD);
        for p in ["alice", "bob"] {
            let role = Role::Person {
                person_id: format!("person-{p}"),
            };
            let mail = format!("{p}@example.invalid");
            store.upsert_account(p, &role, Some(&mail), &hash).await.unwrap();
        }
        store.upsert_account("op", &Role::Operator, None, &hash).await.unwrap();
        store.set_totp_secret("op", Some(OPERATOR_TOTP)).await.unwrap();
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
        // Tests log in often from one address; the per-pair rate has its
        // own test (portal.rs), the failure limits are left as they are.
        settings.login_per_minute = 600;
        tune(&mut settings);
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

    /// A second handle on the running portal's store.
    pub async fn store(&self) -> Store {
        veto_store::testing::open(self.home.path()).await
    }

    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            headers: vec![("origin".to_string(), self.base.clone())],
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub body: String,
    pub location: Option<String>,
}

/// A minimal browser: keeps cookies, sends its page's Origin (and any
/// other `headers`) on every request, follows nothing by itself.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub cookies: HashMap<String, String>,
    pub headers: Vec<(String, String)>,
}

impl Browser {
    async fn send(&mut self, mut req: reqwest::RequestBuilder) -> Reply {
        let mut pairs: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.sort();
        req = req.header(COOKIE, pairs.join("; "));
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let res = req.send().await.unwrap();
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
            body: res.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let req = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    /// Posts a form of the page at `path` with the page's CSRF token.
    pub async fn submit(&mut self, page_path: &str, action: &str, form: &[(&str, &str)]) -> Reply {
        let page = self.get(page_path).await;
        let csrf = hidden_field(&page.body, "csrf").expect("a form with a CSRF token");
        let mut form = form.to_vec();
        form.push(("csrf", &csrf));
        self.post(action, &form).await
    }

    /// The password step only.
    pub async fn password_step(&mut self, user: &str, password: &str) -> Reply {
        self.submit("/login", "/login", &[("username", user), ("password", password)])
            .await
    }

    /// Logs in; an account with a second factor also gives the code of
    /// the current step, or of the next one if the current one was used.
    pub async fn login(&mut self, user: &str, password: &str) -> Reply {
        let reply = self.password_step(user, password).await;
        let Some(ticket) = hidden_field(&reply.body, "ticket") else {
            return reply;
        };
        let csrf = hidden_field(&reply.body, "csrf").unwrap();
        let step = current_step();
        for step in [step, step + 1] {
            let code = totp_at_step(OPERATOR_TOTP, step);
            let reply = self
                .post("/login/code", &[("ticket", &ticket), ("code", &code), ("csrf", &csrf)])
                .await;
            if reply.status != StatusCode::UNAUTHORIZED {
                return reply;
            }
        }
        panic!("neither the current nor the next one-time code logged in");
    }

    pub fn session(&self) -> Option<&String> {
        self.cookies.get("__Host-veto_session")
    }
}
