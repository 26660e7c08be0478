//! The API against its own OpenAPI document: schemathesis (PyPI, from
//! tests/requirements.txt; test.sh puts its virtual environment first on
//! PATH) generates requests from `/api/openapi.json` and sends them to the
//! real portal on a loopback port with a fresh store, once as a service, once
//! as an operator and once as a logged-in person with a cookie session.
//! Every answer must be no 5xx, a documented status with a documented
//! content type, and a body that matches the documented schema (errors
//! included: the `ErrorBody` with a listed code).
//!
//! Deterministic: one seed, one worker, no example database, a bounded
//! number of examples per operation, and a hard wall-clock limit per pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use veto_portal::configuration::Settings;
use veto_portal::startup::Application;
use veto_store::accounts::{Role, TokenRole};

const PASSWORD: &str = "correct horse battery";
/// Fixed, so a failure found once is found again (and can be replayed).
const SEED: &str = "20250526";
const MAX_EXAMPLES: &str = "25";
/// Per pass; three passes stay well under the three minutes a test may take.
const PASS_LIMIT: Duration = Duration::from_secs(50);
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";

/// The schemathesis command on PATH, or None after one loud line (a failure
/// under CI, where the suite must not pass without it).
fn schemathesis() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("schemathesis"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let line = "SKIPPED the schemathesis API run: schemathesis is not on PATH; \
                    pip install -r tests/requirements.txt (bash test.sh does it in its venv)";
        assert!(std::env::var_os("CI").is_none(), "{line} (CI is set, so this fails)");
        eprintln!("!! {line}");
    }
    found
}

struct Portal {
    base: String,
    _home: tempfile::TempDir,
    service_token: String,
    operator_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

async fn spawn() -> Portal {
    let home = tempfile::tempdir().unwrap();
    let store = veto_store::testing::open(home.path()).await;
    let hash = veto_portal::auth::hash_password(PASSWORD);
    let alice = Role::Person {
        person_id: "person-alice".into(),
    };
    store
        .upsert_account("alice", &alice, Some("alice@example.invalid"), &hash)
        .await
        .unwrap();
    let service_token = store
        .create_api_token("platform-backend", TokenRole::Service, chrono::Duration::days(1))
        .await
        .unwrap();
    let operator_token = store
        .create_api_token("ops", TokenRole::Operator, chrono::Duration::days(1))
        .await
        .unwrap();
    store.close().await;
    let mut settings = Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        home.path().to_path_buf(),
        veto_core::Policy::preset("strict").unwrap(),
    );
    settings.database = Some(veto_store::testing::database(home.path()).await);
    // The session pass files every objection for one person; at the default
    // pace most of them would be 429 (documented, but it would hide the
    // answers behind it from the checks).
    settings.objections_per_minute = 10_000;
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Portal {
        base,
        _home: home,
        service_token,
        operator_token,
        stop: Some(stop),
        server: Some(server),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn cookies_of(res: &reqwest::Response, jar: &mut HashMap<String, String>) {
    for c in res.headers().get_all(SET_COOKIE) {
        let c = c.to_str().unwrap();
        let pair = c.split(';').next().unwrap();
        let (k, v) = pair.split_once('=').unwrap();
        jar.insert(k.to_string(), v.to_string());
    }
}

fn cookie_header(jar: &HashMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

/// Logs alice in through the login form; returns the session cookie and the
/// session's CSRF token (from a page's form, as a browser script would).
async fn session(base: &str) -> (String, String) {
    let http = client();
    let mut jar = HashMap::new();
    let res = http.get(format!("{base}/login")).send().await.unwrap();
    cookies_of(&res, &mut jar);
    let token = csrf_in(&res.text().await.unwrap());
    let res = http
        .post(format!("{base}/login"))
        .header(COOKIE, cookie_header(&jar))
        .form(&[("username", "alice"), ("password", PASSWORD), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login");
    cookies_of(&res, &mut jar);
    let session = jar.get("__Host-veto_session").expect("a session cookie").clone();
    let cookie = format!("__Host-veto_session={session}");
    let page = http
        .get(format!("{base}/object"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (cookie, csrf_in(&page))
}

/// Runs one schemathesis pass with `headers`; returns its output, or the
/// output and why it failed.
fn run_pass(st: &Path, base: &str, name: &str, headers: &[String], workdir: &Path) -> Result<String, String> {
    let out_path = workdir.join(format!("{name}.log"));
    let out = std::fs::File::create(&out_path).unwrap();
    // VETO_SCHEMATHESIS_CHECKS widens (or narrows) the run by hand, e.g. `all`.
    let checks = std::env::var("VETO_SCHEMATHESIS_CHECKS").unwrap_or_else(|_| CHECKS.to_string());
    let mut cmd = Command::new(st);
    cmd.arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--checks", &checks])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "1"])
        .args(["--generation-database", "none", "--request-timeout", "10"])
        // Our credentials, not generated ones: the point is what a real caller gets.
        .args(["--generation-with-security-parameters", "false"])
        .args(["--no-color", "--max-failures", "20"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    // A fresh directory: no schemathesis.toml of anyone's picked up, and
    // whatever it writes (hypothesis files) goes away with the test.
    cmd.current_dir(workdir)
        .env("NO_COLOR", "1")
        .env("HYPOTHESIS_STORAGE_DIRECTORY", workdir.join(".hypothesis"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", st.display()))?;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > PASS_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&out_path).unwrap_or_default();
    eprintln!("schemathesis pass {name}: {:.1} s", started.elapsed().as_secs_f64());
    match status {
        Some(s) if s.success() => {
            // What was tried, for the test's output: the warnings and the summary at the end.
            let tail = log
                .find("= WARNINGS")
                .or_else(|| log.find("SUMMARY"))
                .map_or("", |at| &log[at..]);
            eprintln!("{tail}");
            Ok(log)
        }
        Some(s) => Err(format!("{log}\nschemathesis pass {name} failed ({s})")),
        None => Err(format!("{log}\nschemathesis pass {name} ran past {PASS_LIMIT:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_as_its_openapi_document_says() {
    let Some(st) = schemathesis() else { return };
    let mut portal = spawn().await;
    let base = portal.base.clone();
    let (cookie, csrf) = session(&base).await;

    // The credentials work, so the run sees more than 401s.
    let http = client();
    let filed = http
        .post(format!("{base}/api/v1/objections"))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"scope":"facebook"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), StatusCode::CREATED, "the session files");
    let listed = http
        .get(format!("{base}/api/v1/objections?person_id=person-bob"))
        .header(AUTHORIZATION, format!("Bearer {}", portal.service_token))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK, "the service token reads");
    let snapshots = http
        .get(format!("{base}/api/v1/snapshots"))
        .header(AUTHORIZATION, format!("Bearer {}", portal.operator_token))
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.status(), StatusCode::OK, "the operator token reads");

    let passes = [
        (
            "service",
            vec![format!("Authorization: Bearer {}", portal.service_token)],
        ),
        (
            "operator",
            vec![format!("Authorization: Bearer {}", portal.operator_token)],
        ),
        (
            "session",
            vec![format!("Cookie: {cookie}"), format!("X-CSRF-Token: {csrf}")],
        ),
    ];
    let workdir = tempfile::tempdir().unwrap();
    let dir = workdir.path().to_path_buf();
    let results = tokio::task::spawn_blocking(move || {
        passes
            .iter()
            .map(|(name, headers)| run_pass(&st, &base, name, headers, &dir))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();

    let _ = portal.stop.take().unwrap().send(());
    portal.server.take().unwrap().await.unwrap().unwrap();
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
