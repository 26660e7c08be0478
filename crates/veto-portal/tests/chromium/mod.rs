//! Headless Chromium for the browser tests: chromedriver on a free port,
//! a fresh profile per browser, a portal with a person (anna) and an
//! operator (olga), and the login steps.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fantoccini::{ClientBuilder, Locator};
use veto_portal::configuration::Settings;
use veto_portal::startup::Application;
use veto_store::Store;
use veto_store::accounts::Role;

use crate::common;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and waits (bounded) until it accepts connections.
pub fn chromedriver() -> (Driver, u16) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (driver, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("chromedriver did not start on port {port}");
}

/// The target directory: where test.sh keeps the tools it brings.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

pub fn screenshots() -> PathBuf {
    let dir = match std::env::var_os("VETO_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir().join("screenshots"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Chromium with the flags that work in containers, a fresh profile each
/// time, and the languages it asks for (`Accept-Language`).
pub async fn start_browser(port: u16, profile: &Path, accept_languages: &str) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--hide-scrollbars", "--window-size=1024,900", format!("--user-data-dir={}", profile.display())],
            "prefs": { "intl": { "accept_languages": accept_languages } }
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap()
}

/// A portal with a person (anna) and an operator (olga) under `policy`.
pub async fn portal(
    home: &Path,
    policy: &str,
) -> (
    String,
    Store,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let store = veto_store::testing::open(home).await;
    let hash = veto_portal::auth::hash_password("browser test password");
    store
        .upsert_account(
            "anna",
            &Role::Person {
                person_id: "person-anna".into(),
            },
            Some("anna@example.invalid"),
            &hash,
        )
        .await
        .unwrap();
    store
        .upsert_account("olga", &Role::Operator, None, &hash)
        .await
        .unwrap();
    store
        .set_totp_secret("olga", Some(common::OPERATOR_TOTP))
        .await
        .unwrap();
    let mut settings = Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        home.to_path_buf(),
        veto_core::Policy::preset(policy).unwrap(),
    );
    settings.database = Some(veto_store::testing::database(home).await);
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    (base, store, stop, server)
}

pub fn browser_present() -> bool {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var_os("VETO_SKIP_BROWSER").is_some(),
            "install Debian's chromium and chromium-driver (as .ci/run does), or set VETO_SKIP_BROWSER=1"
        );
        return false;
    }
    true
}

pub async fn login(browser: &fantoccini::Client, base: &str, user: &str) {
    browser.goto(&format!("{base}/login")).await.unwrap();
    let field = browser.find(Locator::Id("username")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(user).await.unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("browser test password")
        .await
        .unwrap();
    browser
        .find(Locator::Id("login-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // A click returns before the navigation it starts has finished: wait
    // for the next page, a person's objection form or the operator's code
    // step (elements the login page, even with a session, never has).
    browser
        .wait()
        .for_element(Locator::Css("#object-button, #code"))
        .await
        .unwrap();
}

/// The last code step this test process used: the portal accepts a step
/// once, and after one wrong code it makes the next try wait, so a second
/// login in the same 30 seconds must not try the used step first.
static LAST_STEP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The code step of the operator's login, in one try: the current step, or
/// the next one (the portal allows one step of clock drift) when an earlier
/// login of this test used the current one.
pub async fn enter_code(browser: &fantoccini::Client) {
    use std::sync::atomic::Ordering;
    let now = common::current_step();
    let step = now.max(LAST_STEP.load(Ordering::SeqCst) + 1);
    assert!(
        step <= now + 1,
        "three operator logins within 30 seconds: no unused code step is valid"
    );
    LAST_STEP.store(step, Ordering::SeqCst);
    let field = browser.find(Locator::Id("code")).await.unwrap();
    field
        .send_keys(&common::totp_at_step(common::OPERATOR_TOTP, step))
        .await
        .unwrap();
    browser
        .find(Locator::Id("code-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if let Err(e) = browser.wait().for_element(Locator::Id("operator-title")).await {
        let page = browser.source().await.unwrap_or_default();
        panic!("the code of step {step} did not log in ({e}): {page}");
    }
}
