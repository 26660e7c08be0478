//! The way back with the built-in model, as an operator and a person meet
//! it: a late objection waits (`veto unlearn --status`), unlearning
//! retrains the person's shard, the membership audit finds the unlearned
//! model indistinguishable from one retrained without them (PrivLeak 0),
//! and the person's certificate verifies offline against the ledger, and
//! against no other ledger.

mod common;
use common::*;
use serde_json::Value;

fn lookup(s: &Setup) -> Value {
    let out = ok(veto(&s.home, &["lookup", "--person", &s.late_person, "--json"]));
    serde_json::from_str(&out).unwrap()
}

fn export_ledger(s: &Setup, name: &str) -> std::path::PathBuf {
    let file = s.tmp.join(name);
    ok(veto(&s.home, &["ledger", "export", "--out", file.to_str().unwrap()]));
    file
}

#[test]
fn a_late_objection_waits_is_unlearned_and_certified_against_the_ledger() {
    let s = setup();
    ok(veto(&s.home, &["train", "--snapshot", &s.snapshot_id]));
    let model_id = ledger_payloads(&s, "model_trained")[0]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = ok(veto(&s.home, &["unlearn", "--status"]));
    assert!(status.contains("No late objection waits"), "{status}");

    // The late objection is filed: it waits, with the person's items.
    ok(veto(&s.home, &["objections", "import", s.late_file.to_str().unwrap()]));
    let person = lookup(&s);
    let included = person["snapshots"][0]["included"].as_u64().unwrap();
    let shard = person["snapshots"][0]["shard"].as_u64().unwrap();
    let status = ok(veto(&s.home, &["unlearn", "--status"]));
    let row = status
        .lines()
        .find(|l| l.starts_with(&model_id))
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(
        row.split_whitespace().nth(2),
        Some(included.to_string().as_str()),
        "{row}"
    );
    assert!(status.contains("1 late objection(s) wait"), "{status}");
    let audit = ok(veto(
        &s.home,
        &["audit", "membership", "--model", &model_id, "--person", &s.late_person],
    ));
    assert!(audit.contains("not unlearned"), "{audit}");
    let before_unlearning = export_ledger(&s, "ledger-before.jsonl");
    let prove = |s: &Setup| {
        ok(veto(
            &s.home,
            &["prove", "--person", &s.late_person, "--model", &model_id],
        ))
    };
    let standing = prove(&s);
    assert!(
        standing.contains(&format!("shard {shard}: ")) && !standing.contains("never had them"),
        "{standing}"
    );
    assert!(!standing.contains(": 0 of their"), "{standing}");

    let out = ok(veto(&s.home, &["unlearn", "--model", &model_id]));
    assert!(out.contains("retrained 1 of 4 shards"), "{out}");
    let status = ok(veto(&s.home, &["unlearn", "--status"]));
    assert!(status.contains("No late objection waits"), "{status}");
    let audit = ok(veto(
        &s.home,
        &["audit", "membership", "--model", &model_id, "--person", &s.late_person],
    ));
    assert!(audit.contains("PrivLeak: +0.00% (loss), +0.00% (Min-K%)"), "{audit}");
    let standing = prove(&s);
    assert!(standing.contains(&format!("shard {shard}: 0 of their")), "{standing}");
    assert!(standing.contains("the same"), "{standing}");
    assert!(standing.contains("as a build that never had them"), "{standing}");

    // The certificate says what the records say.
    let cert_file = s.tmp.join("certificate.json");
    ok(veto(
        &s.home,
        &[
            "certificate",
            "--person",
            &s.late_person,
            "--out",
            cert_file.to_str().unwrap(),
        ],
    ));
    let cert = json_file(&cert_file);
    assert_eq!(cert["person_ref"], person["person_ref"]);
    let m = &cert["models"][0];
    assert_eq!(m["model_id"], model_id.as_str());
    assert_eq!(
        (m["status"].as_str(), m["versions_with_data"].clone()),
        (Some("removed"), serde_json::json!([1]))
    );
    let removed = &m["removals"][0];
    assert_eq!(m["removals"].as_array().unwrap().len(), 1);
    assert_eq!(
        (removed["version"].as_u64(), removed["items"].as_u64()),
        (Some(2), Some(included))
    );
    assert_eq!(removed["shards"][0]["shard"].as_u64(), Some(shard));
    let root_of = |payload: &Value| {
        payload["shards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["shard"].as_u64() == Some(shard))
            .unwrap()["training_set_root"]
            .clone()
    };
    assert_eq!(
        removed["shards"][0]["root_before"],
        root_of(&ledger_payloads(&s, "model_trained")[0])
    );
    let model_json = json_file(&s.home.join("models").join(&model_id).join("model.json"));
    assert_eq!(removed["shards"][0]["root_after"], root_of(&model_json));
    assert_ne!(removed["shards"][0]["root_before"], removed["shards"][0]["root_after"]);
    assert_eq!(m["membership"]["privleak_loss"], "0.0000");
    let late: Value = serde_json::from_str(std::fs::read_to_string(&s.late_file).unwrap().trim()).unwrap();
    assert_eq!(cert["objections"][0]["objection_id"], late["objection_id"]);

    // Offline: it verifies against the ledger export ...
    let ledger = export_ledger(&s, "ledger.jsonl");
    let cert_path = cert_file.to_str().unwrap();
    let out = ok(veto(
        &s.home,
        &["verify", cert_path, "--ledger", ledger.to_str().unwrap()],
    ));
    assert!(out.contains("OK: certificate"), "{out}");
    // ... not once changed, not against a ledger that does not reach it,
    // not against another installation's ledger.
    let text = std::fs::read_to_string(&cert_file).unwrap();
    let changed = s.tmp.join("changed.json");
    let items = format!("\"items\": {included}");
    assert!(text.contains(&items));
    std::fs::write(
        &changed,
        text.replacen(&items, &format!("\"items\": {}", included + 1), 1),
    )
    .unwrap();
    let refused = |cert: &std::path::Path, ledger: &std::path::Path, why: &str| {
        let o = veto(
            &s.home,
            &["verify", cert.to_str().unwrap(), "--ledger", ledger.to_str().unwrap()],
        );
        assert!(!o.status.success(), "{why}");
        assert!(stderr(&o).contains(why), "{}", stderr(&o));
    };
    refused(&changed, &ledger, "signature does not match");
    refused(&cert_file, &before_unlearning, "does not reach entry");
    let other = s.tmp.join("other-home");
    ok(veto(&other, &["objections", "import", s.late_file.to_str().unwrap()]));
    let other_ledger = s.tmp.join("other-ledger.jsonl");
    ok(veto(
        &other,
        &["ledger", "export", "--out", other_ledger.to_str().unwrap()],
    ));
    refused(&cert_file, &other_ledger, "REFUSED");
}

/// A late objector with included items on Facebook and on Instagram, and
/// their objection line.
fn on_two_platforms(s: &Setup) -> (String, Value) {
    let lines = std::fs::read_to_string(s.tmp.join("export/objections.jsonl")).unwrap();
    lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|o| o["filed_at"].as_str().unwrap() > DEADLINE_UTC && o["withdrawn_at"].is_null())
        .find_map(|o| {
            let person = o["person_id"].as_str().unwrap().to_string();
            let out = veto(&s.home, &["lookup", "--person", &person, "--json"]);
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            let by = &v["snapshots"][0]["included_by_platform"];
            let n = |p: &str| by[p].as_u64().unwrap_or(0);
            (n("facebook") > 0 && n("instagram") > 0).then_some((person, o))
        })
        .expect("a late objector on both platforms")
}

#[test]
fn a_second_objection_of_someone_unlearned_before_is_unlearned_too() {
    let s = setup();
    ok(veto(&s.home, &["train", "--snapshot", &s.snapshot_id]));
    let model_id = ledger_payloads(&s, "model_trained")[0]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (person, late) = on_two_platforms(&s);
    let v: Value = serde_json::from_str(&ok(veto(&s.home, &["lookup", "--person", &person, "--json"]))).unwrap();
    let by = &v["snapshots"][0]["included_by_platform"];
    let (facebook, instagram) = (by["facebook"].as_u64().unwrap(), by["instagram"].as_u64().unwrap());
    let file = |name: &str, o: &Value| {
        let path = s.tmp.join(name);
        std::fs::write(&path, format!("{o}\n")).unwrap();
        ok(veto(&s.home, &["objections", "import", path.to_str().unwrap()]));
    };
    let mut first = late.clone();
    first["scope"] = "instagram".into();
    file("first.jsonl", &first);
    let out = ok(veto(&s.home, &["unlearn", "--model", &model_id]));
    assert!(
        out.contains(&format!("Unlearned 1 person(s), {instagram} item(s)")),
        "{out}"
    );
    let out = ok(veto(&s.home, &["unlearn", "--model", &model_id]));
    assert!(out.contains("Nothing to unlearn"), "settled: {out}");
    // Later the same person objects for Facebook too.
    let mut second = late;
    second["objection_id"] = "second-objection".into();
    second["scope"] = "facebook".into();
    second["filed_at"] = "2026-01-01T00:00:00Z".into();
    file("second.jsonl", &second);
    let status = ok(veto(&s.home, &["unlearn", "--status"]));
    assert!(status.contains("1 late objection(s) wait"), "{status}");
    let out = ok(veto(&s.home, &["unlearn", "--model", &model_id]));
    assert!(
        out.contains(&format!("Unlearned 1 person(s), {facebook} item(s)")),
        "{out}"
    );
    let out = ok(veto(&s.home, &["unlearn", "--model", &model_id]));
    assert!(out.contains("Nothing to unlearn"), "{out}");
    let status = ok(veto(&s.home, &["unlearn", "--status"]));
    assert!(status.contains("No late objection waits"), "{status}");
}

/// The value of the hidden form field `name` in `html`.
fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |v: &str| {
        v.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Cookies a response sets, as one Cookie header value.
fn cookies(res: &reqwest::Response) -> String {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_data_shows_the_contribution_and_offers_the_certificate() {
    let s = setup();
    ok(veto(&s.home, &["train", "--snapshot", &s.snapshot_id]));
    ok(veto(&s.home, &["objections", "import", s.late_file.to_str().unwrap()]));
    let model_id = ledger_payloads(&s, "model_trained")[0]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Before unlearning: the person's row of the operator's report, counted
    // by veto-models over every training set.
    let csv = s.tmp.join("contributions.csv");
    ok(veto(
        &s.home,
        &[
            "report",
            "contributions",
            "--model",
            &model_id,
            "--out",
            csv.to_str().unwrap(),
        ],
    ));
    let person = lookup(&s);
    let person_ref = person["person_ref"].as_str().unwrap();
    let row = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .find(|l| l.starts_with(person_ref))
        .unwrap()
        .to_string();
    let tokens: u64 = row.split(',').nth(2).unwrap().parse().unwrap();
    ok(veto(&s.home, &["unlearn", "--model", &model_id]));
    // Another late objector waits: the metrics say since when.
    let lines = std::fs::read_to_string(s.tmp.join("export/objections.jsonl")).unwrap();
    let (waiting_line, filed_at) = lines
        .lines()
        .map(|l| (l, serde_json::from_str::<Value>(l).unwrap()))
        .filter(|(_, o)| {
            o["filed_at"].as_str().unwrap() > DEADLINE_UTC
                && o["scope"] == "all"
                && o["withdrawn_at"].is_null()
                && o["person_id"] != s.late_person.as_str()
        })
        .find(|(_, o)| {
            let out = veto(
                &s.home,
                &["lookup", "--person", o["person_id"].as_str().unwrap(), "--json"],
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            v["snapshots"][0]["included"].as_u64().unwrap_or(0) > 0
        })
        .map(|(l, o)| (l.to_string(), o["filed_at"].as_str().unwrap().to_string()))
        .expect("a second late objector");
    let waiting = s.tmp.join("waiting.jsonl");
    std::fs::write(&waiting, format!("{waiting_line}\n")).unwrap();
    ok(veto(&s.home, &["objections", "import", waiting.to_str().unwrap()]));
    let token = ok(veto(&s.home, &["tokens", "add", "--name", "scraper", "--operator"]));

    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_veto"))
        .args([
            "--home",
            s.home.to_str().unwrap(),
            "accounts",
            "add",
            "--person",
            &s.late_person,
            "--password-stdin",
        ])
        .env_remove("VETO_HOME")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    add.stdin
        .take()
        .unwrap()
        .write_all(b"Kanu Fahrrad Zitrone Nebel\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_veto"))
        .args([
            "--home",
            s.home.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--policy",
            "strict",
        ])
        .env_remove("VETO_HOME")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    std::thread::spawn(move || for _ in lines {});

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login_page = client.get(format!("{base}/login")).send().await.unwrap();
    let jar = cookies(&login_page);
    let csrf = hidden_field(&login_page.text().await.unwrap(), "csrf").unwrap();
    let res = client
        .post(format!("{base}/login"))
        .header(reqwest::header::COOKIE, &jar)
        .header(reqwest::header::ORIGIN, &base)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[
            ("username", s.late_person.as_str()),
            ("password", "Kanu Fahrrad Zitrone Nebel"),
            ("csrf", &csrf),
        ]))
        .send()
        .await
        .unwrap();
    let session = cookies(&res);
    assert!(
        session.contains("veto_session"),
        "{:?} {}",
        res.status(),
        res.text().await.unwrap()
    );
    let page = client
        .get(format!("{base}/my-data"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&model_id) && page.contains("entfernt in Version 2"),
        "{page}"
    );
    assert!(
        page.contains(&format!("{tokens} Tokens")),
        "the report's {tokens} tokens: {page}"
    );
    let cert = client
        .get(format!("{base}/my-data/certificate.json"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(cert.status(), reqwest::StatusCode::OK);
    let file = s.tmp.join("from-portal.json");
    std::fs::write(&file, cert.bytes().await.unwrap()).unwrap();
    let metrics = client
        .get(format!("{base}/metrics"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("veto_unlearning_oldest_pending_age_seconds "))
        .unwrap_or_else(|| panic!("{metrics}"))
        .parse()
        .unwrap();
    let filed = chrono::DateTime::parse_from_rfc3339(&filed_at).unwrap();
    let age = (chrono::Utc::now() - filed.with_timezone(&chrono::Utc)).num_seconds();
    assert!(
        (gauge - age).abs() < 300,
        "gauge {gauge}, the waiting objection is {age} s old"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let ledger = export_ledger(&s, "ledger.jsonl");
    let out = ok(veto(
        &s.home,
        &["verify", file.to_str().unwrap(), "--ledger", ledger.to_str().unwrap()],
    ));
    assert!(out.contains("removed from 1"), "{out}");
    assert_eq!(
        json_file(&file)["models"][0]["contribution"]["tokens"].as_u64(),
        Some(tokens)
    );
}
