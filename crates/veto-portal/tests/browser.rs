//! End to end in real headless Chromium (Debian's chromium and
//! chromium-driver): log in, object, see the receipt, switch language; then
//! every page in both languages at 375 px and 1280 px: axe-core finds no
//! accessibility violation, nothing scrolls sideways on a phone, and a
//! screenshot of each goes to `$VETO_SCREENSHOTS` (default
//! `$CARGO_TARGET_DIR/screenshots`).
//!
//! axe-core comes from npm (test.sh installs it and sets `VETO_AXE_JS` to
//! its `axe.min.js`). Without it the accessibility check is skipped with
//! one loud line, except under CI, where a missing check is a failure.

mod chromium;
mod common;

use std::path::PathBuf;

use chromium::*;
use fantoccini::Locator;

/// axe-core's script: `VETO_AXE_JS`, else where test.sh installs it.
fn axe_source() -> Option<String> {
    let path = match std::env::var_os("VETO_AXE_JS") {
        Some(p) => PathBuf::from(p),
        None => target_dir().join("test-node/node_modules/axe-core/axe.min.js"),
    };
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "axe-core is needed under CI: npm install --prefix \"$CARGO_TARGET_DIR/test-node\" axe-core@4 \
                 and set VETO_AXE_JS ({}: {e})",
                path.display()
            );
            eprintln!(
                "!! SKIPPED the axe-core accessibility check: {} not readable ({e}); \
                 run test.sh, or npm install axe-core@4 and set VETO_AXE_JS",
                path.display()
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_objects_sees_the_receipt_and_switches_language() {
    if !browser_present() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let (base, store, stop, server) = portal(home.path(), "meta-2025").await;
    let (_driver, port) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    // A German browser: its first visit gets German pages without asking.
    let browser = start_browser(port, profile.path(), "de-DE,de").await;
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

    // "Show password" shows it and hides it again (ASVS 2.1.12), and a
    // password pasted into the field stays as pasted (2.1.11).
    browser.goto(&format!("{base}/login")).await.unwrap();
    let field = browser.find(Locator::Id("password")).await.unwrap();
    field.send_keys("Kanu Fahrrad").await.unwrap();
    let show = browser.find(Locator::Css("input.show-password")).await.unwrap();
    show.click().await.unwrap();
    assert_eq!(field.attr("type").await.unwrap().as_deref(), Some("text"));
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some("Kanu Fahrrad"));
    show.click().await.unwrap();
    assert_eq!(field.attr("type").await.unwrap().as_deref(), Some("password"));

    login(&browser, &base, "anna").await;
    browser.wait().for_element(Locator::Id("object-button")).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/object");
    shot("3-object.png").await;
    // Nothing of the session is within a script's reach (ASVS 8.2.2): no
    // web storage, and the cookies a script can read are the language only.
    let reach = browser
        .execute(
            "return [localStorage.length, sessionStorage.length, document.cookie];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(reach[0], 0, "{reach}");
    assert_eq!(reach[1], 0, "{reach}");
    let cookies = reach[2].as_str().unwrap();
    assert!(
        cookies.split("; ").all(|c| c.is_empty() || c.starts_with("lang=")),
        "script-readable cookies: {cookies}"
    );

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

    // Withdrawing without ticking the box does nothing: the browser keeps
    // the form (required), and the objection stays in force.
    browser
        .find(Locator::Id("withdraw-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), format!("/receipts/{id}"));
    assert!(store.objection(&id).await.unwrap().unwrap().withdrawn_at.is_none());

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

/// The checks every page gets; what fails is collected, so one run names
/// every broken page.
struct Audit {
    browser: fantoccini::Client,
    axe: Option<String>,
    shots: PathBuf,
    failures: Vec<String>,
    checked: usize,
}

const WIDTHS: [(u32, u32); 2] = [(375, 1400), (1280, 1000)];

impl Audit {
    /// Sets the viewport (not the window) to `width` x `height`.
    async fn viewport(&self, width: u32, height: u32) {
        self.browser.set_window_size(width, height).await.unwrap();
        let inner = self
            .browser
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .unwrap();
        let inner: Vec<u32> = serde_json::from_value(inner).unwrap();
        if inner != [width, height] {
            let (w, h) = (width + width - inner[0], height + height - inner[1]);
            self.browser.set_window_size(w, h).await.unwrap();
        }
    }

    /// axe-core on the page as it is now, both widths, and a screenshot at each.
    async fn check(&mut self, name: &str) {
        let lang: String = serde_json::from_value(
            self.browser
                .execute("return document.documentElement.lang;", vec![])
                .await
                .unwrap(),
        )
        .unwrap();
        let page = format!("{name}-{lang}");
        self.checked += 1;
        for (width, height) in WIDTHS {
            self.viewport(width, height).await;
            let png = self.browser.screenshot().await.unwrap();
            std::fs::write(self.shots.join(format!("{page}-{width}.png")), png).unwrap();
            let scroll: u64 = serde_json::from_value(
                self.browser
                    .execute("return document.documentElement.scrollWidth;", vec![])
                    .await
                    .unwrap(),
            )
            .unwrap();
            if width == 375 && scroll > 375 {
                self.failures
                    .push(format!("{page}: scrolls sideways at 375 px (scrollWidth {scroll})"));
            }
            if let Some(axe) = &self.axe {
                self.browser.execute(axe, vec![]).await.unwrap();
                let found = self
                    .browser
                    .execute_async(
                        "var done = arguments[arguments.length - 1];
                         axe.run(document, { resultTypes: ['violations'] })
                           .then(function (r) { done(r.violations.map(function (v) {
                             return v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                               v.nodes.map(function (n) { return n.target.join(' ') + ' [' + n.failureSummary.replace(/\\n/g, ' ') + ']'; }).join('; ');
                           })); })
                           .catch(function (e) { done(['axe failed: ' + e]); });",
                        vec![],
                    )
                    .await
                    .unwrap();
                let found: Vec<String> = serde_json::from_value(found).unwrap();
                for v in found {
                    self.failures.push(format!("{page} at {width} px: {v}"));
                }
            }
        }
    }

    async fn goto_and_check(&mut self, url: &str, name: &str) {
        self.browser.goto(url).await.unwrap();
        self.check(name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_both_languages_is_accessible_and_fits_a_phone() {
    if !browser_present() {
        return;
    }
    let axe = axe_source();
    let home = tempfile::tempdir().unwrap();
    let (base, _store, stop, server) = portal(home.path(), "meta-2025").await;
    let (_driver, port) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let browser = start_browser(port, profile.path(), "en-US,en").await;
    let mut audit = Audit {
        browser: browser.clone(),
        axe,
        shots: screenshots(),
        failures: Vec::new(),
        checked: 0,
    };
    for lang in ["de", "en"] {
        // Anyone.
        audit.goto_and_check(&format!("{base}/?lang={lang}"), "landing").await;
        audit.goto_and_check(&format!("{base}/login"), "login").await;
        audit.goto_and_check(&format!("{base}/receipts/verify"), "verify").await;
        audit.goto_and_check(&format!("{base}/non-user"), "non-user").await;
        audit.goto_and_check(&format!("{base}/no-such-page"), "error").await;

        // A person: the form, a receipt, the confirmation step, My data.
        login(&browser, &base, "anna").await;
        audit.goto_and_check(&format!("{base}/object"), "object").await;
        browser
            .find(Locator::Css("input[value=instagram]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser
            .find(Locator::Id("object-button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser.wait().for_element(Locator::Id("receipt-title")).await.unwrap();
        let receipt = browser.current_url().await.unwrap();
        audit.check("receipt").await;
        audit.goto_and_check(&format!("{receipt}/withdraw"), "withdraw").await;
        audit.goto_and_check(&format!("{base}/my-data"), "my-data").await;
        audit
            .goto_and_check(&format!("{base}/account/password"), "account")
            .await;
        // The verify page with a result.
        browser.goto(&format!("{receipt}/json")).await.ok();
        browser.goto(&format!("{base}/receipts/verify")).await.unwrap();
        browser
            .find(Locator::Id("receipt"))
            .await
            .unwrap()
            .send_keys("{\"not\": \"a receipt\"}")
            .await
            .unwrap();
        browser
            .find(Locator::Css("main button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser.wait().for_element(Locator::Id("verify-result")).await.unwrap();
        audit.check("verify-result").await;

        // The operator.
        login(&browser, &base, "olga").await;
        audit.check("login-code").await;
        enter_code(&browser).await;
        audit.goto_and_check(&format!("{base}/operator"), "operator").await;
        browser
            .find(Locator::Id("logout-everywhere"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser
            .wait()
            .for_element(Locator::Css("a[href='/login']"))
            .await
            .unwrap();
    }
    browser.close().await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    eprintln!(
        "checked {} pages at {:?} px; screenshots in {}",
        audit.checked,
        WIDTHS.map(|w| w.0),
        audit.shots.display()
    );
    assert!(
        audit.failures.is_empty(),
        "{} problems:\n{}",
        audit.failures.len(),
        audit.failures.join("\n")
    );
}
