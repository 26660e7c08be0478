//! Two flows end to end in real headless Chromium: a person without an
//! account objects on the non-user form and confirms by the mailed link
//! (opening the link confirms nothing; its page's button does), and a
//! browser that sends Global Privacy Control (`Sec-GPC: 1`, set through
//! Chrome's DevTools protocol since Chromium has no switch for it) objects
//! by logging in, under a policy that honours it (strict).

mod chromium;
mod common;

use axum::http::Method;
use chromium::*;
use fantoccini::Locator;
use fantoccini::wd::WebDriverCompatibleCommand;
use reqwest::Url;

/// The url crate's parse error, as reqwest's `Url` names it.
type ParseError = <Url as std::str::FromStr>::Err;

/// A DevTools protocol command through chromedriver's own endpoint.
#[derive(Debug)]
struct Cdp(&'static str, serde_json::Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &Url, session: Option<&str>) -> Result<Url, ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &Url) -> (Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.0, "params": self.1 });
        (Method::POST, Some(body.to_string()))
    }
}

async fn text_of(browser: &fantoccini::Client, id: &str) -> String {
    browser.find(Locator::Id(id)).await.unwrap().text().await.unwrap()
}

async fn click(browser: &fantoccini::Client, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_user_objects_and_confirms_and_a_gpc_browser_objects_by_its_signal() {
    if !browser_present() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let (base, store, stop, server) = portal(home.path(), "strict").await;
    let (_driver, port) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let browser = start_browser(port, profile.path(), "de-DE,de").await;

    // The non-user form collects a structured subject.
    browser.goto(&format!("{base}/non-user")).await.unwrap();
    for (id, value) in [
        ("email", "erika@example.invalid"),
        ("display_name", "Erika Mustermann"),
        ("handles", "@erika_m"),
        ("phones", "+49 170 1234567"),
    ] {
        browser
            .find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    click(&browser, "form button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::Id("nonuser-message"))
        .await
        .unwrap();
    let mail = std::fs::read_dir(home.path().join("outbox"))
        .unwrap()
        .next()
        .expect("a confirmation mail was written")
        .unwrap()
        .path();
    let mail = std::fs::read_to_string(mail).unwrap();
    let link = mail.lines().find(|l| l.contains("/non-user/verify?token=")).unwrap();
    let path = link[link.find("/non-user").unwrap()..].trim();
    // What a mail scanner does: open the link. Nothing is confirmed yet.
    browser.goto(&format!("{base}{path}")).await.unwrap();
    browser.wait().for_element(Locator::Id("confirm-intro")).await.unwrap();
    let none = store.third_parties_in_force(chrono::Utc::now()).await.unwrap();
    assert!(none.is_empty(), "opening the link confirmed: {none:?}");
    click(&browser, "form button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::XPath("//*[contains(text(), 'Ihr Widerspruch ist bestätigt')]"))
        .await
        .unwrap();
    let confirmed = store.third_parties_in_force(chrono::Utc::now()).await.unwrap();
    assert_eq!(confirmed.len(), 1, "{confirmed:?}");
    let subject = &confirmed[0].subject;
    assert_eq!(subject.display_name.as_deref(), Some("Erika Mustermann"));
    assert_eq!(subject.handles, ["@erika_m"]);
    assert_eq!(subject.phones, ["+49 170 1234567"]);
    assert!(subject.emails.contains(&"erika@example.invalid".to_string()));

    // From here on every request carries Sec-GPC: 1. Logging in files the
    // objection and shows its receipt with the reason.
    browser
        .issue_cmd(Cdp("Network.enable", serde_json::json!({})))
        .await
        .unwrap();
    let headers = serde_json::json!({ "headers": { "Sec-GPC": "1" } });
    browser
        .issue_cmd(Cdp("Network.setExtraHTTPHeaders", headers))
        .await
        .unwrap();
    browser.goto(&format!("{base}/login")).await.unwrap();
    browser
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("anna")
        .await
        .unwrap();
    let password = browser.find(Locator::Id("password")).await.unwrap();
    password.send_keys("browser test password").await.unwrap();
    click(&browser, "#login-button").await;
    browser.wait().for_element(Locator::Id("gpc-notice")).await.unwrap();
    assert!(browser.current_url().await.unwrap().path().starts_with("/receipts/"));
    assert!(text_of(&browser, "gpc-notice").await.contains("Global Privacy Control"));
    let filed: Vec<_> = (store.objections().await.unwrap())
        .into_iter()
        .filter(|o| o.person_id == "person-anna")
        .collect();
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert_eq!(filed[0].channel, veto_core::Channel::Gpc);
    browser.close().await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
