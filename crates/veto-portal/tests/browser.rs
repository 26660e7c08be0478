//! End to end in real headless Chromium (Debian's chromium and
//! chromium-driver): log in, object, see the receipt, switch language.
//! Screenshots of each page go to target/screenshots/.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fantoccini::{ClientBuilder, Locator};
use veto_portal::configuration::Settings;
use veto_portal::startup::Application;
use veto_store::Store;
use veto_store::accounts::Role;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and waits (bounded) until it accepts connections.
fn chromedriver() -> (Driver, u16) {
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

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_objects_sees_the_receipt_and_switches_language() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var_os("VETO_SKIP_BROWSER").is_some(),
            "install Debian's chromium and chromium-driver (as .ci/run does), or set VETO_SKIP_BROWSER=1"
        );
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).await.unwrap();
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
    let settings = Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        home.path().to_path_buf(),
        veto_core::Policy::preset("meta-2025").unwrap(),
    );
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let (_driver, port) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1024,900", format!("--user-data-dir={}", profile.path().display())]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let shots = screenshots();
    let shot = |name: &'static str| {
        let browser = browser.clone();
        let path = shots.join(name);
        async move { std::fs::write(path, browser.screenshot().await.unwrap()).unwrap() }
    };

    browser.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(
        browser.find(Locator::Css("h1")).await.unwrap().text().await.unwrap(),
        "Ihre Inhalte und das KI-Training"
    );
    shot("1-landing.png").await;

    browser.goto(&format!("{base}/login")).await.unwrap();
    browser
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("anna")
        .await
        .unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("browser test password")
        .await
        .unwrap();
    shot("2-login.png").await;
    browser
        .find(Locator::Id("login-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // A click returns before the navigation it starts has finished: wait for the next page.
    browser.wait().for_element(Locator::Id("object-button")).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/object");
    shot("3-object.png").await;

    browser
        .find(Locator::Id("object-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait().for_element(Locator::Id("receipt-title")).await.unwrap();
    let url = browser.current_url().await.unwrap();
    let id = url
        .path()
        .strip_prefix("/receipts/")
        .expect("on the receipt page")
        .to_string();
    let title = browser
        .find(Locator::Id("receipt-title"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(title, "Quittung: Ihr Widerspruch ist eingegangen");
    assert_eq!(
        browser
            .find(Locator::Id("objection-id"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        id
    );
    shot("4-receipt.png").await;

    browser
        .find(Locator::Id("lang-switch"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::XPath("//html[@lang='en']"))
        .await
        .unwrap();
    let title = browser
        .find(Locator::Id("receipt-title"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(title, "Receipt: your objection was received");
    shot("5-receipt-en.png").await;
    browser.close().await.unwrap();

    // What the browser saw acknowledged is on file.
    let on_file = store.objection(&id).await.unwrap().expect("stored");
    assert_eq!(
        (on_file.person_id.as_str(), on_file.scope),
        ("person-anna", veto_core::ObjectionScope::All)
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
