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

    let out = ok(veto(&s.home, &["unlearn", "--model", &model_id]));
    assert!(out.contains("retrained 1 of 4 shards"), "{out}");
    let status = ok(veto(&s.home, &["unlearn", "--status"]));
    assert!(status.contains("No late objection waits"), "{status}");
    let audit = ok(veto(
        &s.home,
        &["audit", "membership", "--model", &model_id, "--person", &s.late_person],
    ));
    assert!(audit.contains("PrivLeak: +0.00% (loss), +0.00% (Min-K%)"), "{audit}");

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
    let removed = &m["removed"];
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
    refused(&cert_file, &other_ledger, "never shows in force");
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
