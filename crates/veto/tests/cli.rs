//! The `veto` command as a person uses it: the demo, builds from the command
//! line, objection imports, and errors a person can act on.

use std::path::Path;
use std::process::{Command, Output};

fn veto(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veto"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("VETO_HOME")
        .output()
        .expect("veto runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn snapshot_dirs(home: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(home.join("snapshots"))
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

#[test]
fn the_demo_prints_counts_that_match_its_manifest_and_parquet_readers_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("demo");
    let out = veto(&home, &["demo", "--persons", "300"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut snapshots = snapshot_dirs(&home);
    assert_eq!(snapshots.len(), 2, "meta-2025 and strict: {snapshots:?}");
    let policy_of = |dir: &Path| {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        m["policy"]["name"].as_str().unwrap().to_string()
    };
    snapshots.sort_by_key(|d| policy_of(d) != "meta-2025");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snapshots[0].join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["policy"]["name"], "meta-2025");
    let objection_count = manifest["excluded_by_reason"]["objection"].as_u64().unwrap();
    assert!(objection_count > 0);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("objection "))
        .expect("objection line");
    assert_eq!(
        line.split_whitespace().last().unwrap().replace(',', ""),
        objection_count.to_string(),
        "{text}"
    );
    assert!(text.contains(manifest["snapshot_id"].as_str().unwrap()), "{text}");
    // The story of the way back, step by step.
    for said in [
        "objected in time: 0 of their",
        "Under meta-2025 they stay in the model",
        "Under strict they are gone: one shard retrained",
        "is byte-identical to the never-seen model",
        "OK: certificate for",
        "wait to be unlearned from the strict model",
    ] {
        assert!(text.contains(said), "{said:?} in {text}");
    }

    // The listing knows the snapshot; a second demo run starts afresh.
    let list = veto(&home, &["snapshots", "list"]);
    assert!(stdout(&list).contains(manifest["snapshot_id"].as_str().unwrap()));

    // pyarrow and DuckDB read the output without special options.
    if std::env::var_os("VETO_SKIP_PYTHON_INTEROP").is_some() {
        eprintln!("VETO_SKIP_PYTHON_INTEROP set: skipping the pyarrow/DuckDB check");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/check_snapshot.py");
    let check = Command::new("python3")
        .arg(script)
        .arg(&snapshots[0])
        .output()
        .expect("python3 runs");
    assert!(
        check.status.success(),
        "pyarrow/DuckDB check failed (install with `pip install -r tests/requirements.txt`):\n{}{}",
        stdout(&check),
        stderr(&check)
    );
}

#[test]
fn the_demo_refuses_to_wipe_a_directory_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let out = veto(tmp.path(), &["demo", "--persons", "10"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("was not made by `veto demo`"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("precious.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn generate_import_build_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, data) = (tmp.path().join("home"), tmp.path().join("export"));
    let data_s = data.to_str().unwrap();
    let out = veto(
        &home,
        &["generate", "--out", data_s, "--persons", "100", "--format", "jsonl"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(data.join("items.jsonl").is_file() && data.join("persons.jsonl").is_file());

    let objections = data.join("objections.jsonl");
    let out = veto(&home, &["objections", "import", objections.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = std::fs::read_to_string(&objections).unwrap().lines().count();
    assert!(
        stdout(&out).starts_with(&format!("Imported {lines} objections")),
        "{}",
        stdout(&out)
    );

    let snap = tmp.path().join("snap");
    let args = [
        "build",
        "--data",
        data_s,
        "--policy",
        "strict",
        "--as-of",
        "2025-08-01T00:00:00+02:00",
        "--shards",
        "4",
        "--out",
    ];
    let out = veto(&home, &[&args[..], &[snap.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snap.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["policy"]["name"], "strict");
    assert_eq!(manifest["shards"].as_array().unwrap().len(), 4);
    assert_eq!(manifest["objections_on_file"].as_u64().unwrap(), lines as u64);

    // The same --out again is refused and the snapshot stays as it was.
    let before = std::fs::read(snap.join("manifest.json")).unwrap();
    let out = veto(&home, &[&args[..], &[snap.to_str().unwrap()]].concat());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(snap.join("manifest.json")).unwrap(), before);
}

#[test]
fn a_bad_objection_file_imports_nothing_and_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("objections.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"objection_id":"o1","person_id":"p1","scope":"all","filed_at":"2025-05-01T00:00:00Z","withdrawn_at":null,"channel":"web"}"#,
            "\n",
            r#"{"objection_id":"o2","person_id":"p2","scope":"all","filed_at":"2025-05-01T00:00:00Z","withdrawn_at":null,"channel":"fax"}"#,
            "\n"
        ),
    )
    .unwrap();
    let home = tmp.path().join("home");
    let out = veto(&home, &["objections", "import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("objections.jsonl line 2, field `channel`: unknown channel \"fax\""),
        "{}",
        stderr(&out)
    );
    // Nothing was imported: a build sees no objections on file.
    let data = tmp.path().join("export");
    assert!(
        veto(&home, &["generate", "--out", data.to_str().unwrap(), "--persons", "20"])
            .status
            .success()
    );
    let snap = tmp.path().join("snap");
    let out = veto(
        &home,
        &[
            "build",
            "--data",
            data.to_str().unwrap(),
            "--policy",
            "meta-2025",
            "--as-of",
            "now",
            "--out",
            snap.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snap.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["objections_on_file"], 0);
}

#[test]
fn an_unknown_policy_says_what_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let out = veto(
        tmp.path(),
        &["build", "--data", ".", "--policy", "lenient", "--as-of", "now"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("neither a preset (meta-2025, strict) nor a file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_ledger_exports_verifies_here_and_in_python_and_tampering_fails_both() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("demo");
    assert!(veto(&home, &["demo", "--persons", "120"]).status.success());
    let ledger = tmp.path().join("ledger.jsonl");
    let out = veto(&home, &["ledger", "export", "--out", ledger.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = veto(&home, &["ledger", "verify", ledger.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&ledger).unwrap();
    let entries = text.lines().count() - 1;
    assert!(
        stdout(&out).starts_with(&format!("ok: {entries} entries")),
        "{}",
        stdout(&out)
    );

    // Change one objection's scope: the line no longer hashes to its hash.
    let tampered = tmp.path().join("tampered.jsonl");
    let line = text
        .lines()
        .position(|l| l.contains("\"scope\":\"all\""))
        .expect("an objection with scope all");
    let changed: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == line {
                l.replace("\"scope\":\"all\"", "\"scope\":\"whatsapp\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&tampered, changed.join("\n") + "\n").unwrap();
    let out = veto(&home, &["ledger", "verify", tampered.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("entry {line}: hash does not match")),
        "{}",
        stderr(&out)
    );

    if std::env::var_os("VETO_SKIP_PYTHON_INTEROP").is_some() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/verify_ledger.py");
    let good = Command::new("python3").arg(&script).arg(&ledger).output().unwrap();
    assert!(good.status.success(), "{}{}", stdout(&good), stderr(&good));
    let bad = Command::new("python3").arg(&script).arg(&tampered).output().unwrap();
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains(&format!("entry {line}: hash does not match")),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_person_sees_their_snapshots_and_a_proof_that_verifies_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("demo");
    assert!(veto(&home, &["demo", "--persons", "150"]).status.success());
    // The demo builds meta-2025 first, then strict: the lookup lists them
    // in that order.
    let snapshot = snapshot_dirs(&home)
        .into_iter()
        .find(|d| {
            std::fs::read_to_string(d.join("manifest.json"))
                .unwrap()
                .contains("\"meta-2025\"")
        })
        .unwrap();
    let snapshot_id = snapshot.file_name().unwrap().to_str().unwrap().to_string();
    // Pick an included person from the private index via the JSON lookup of a few candidates.
    let included = (0..150)
        .map(|i| format!("p{i:08}"))
        .find(|p| {
            let out = veto(&home, &["lookup", "--person", p, "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["snapshots"][0]["included"].as_u64().unwrap_or(0) > 0
        })
        .expect("someone is included");
    let out = veto(&home, &["lookup", "--person", &included, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["snapshots"][0]["snapshot_id"], snapshot_id.as_str());
    assert_eq!(v["snapshots"][0]["lookup_ready"], true);

    let proof = tmp.path().join("proof.json");
    let out = veto(
        &home,
        &[
            "prove",
            "--person",
            &included,
            "--snapshot",
            &snapshot_id[..10],
            "--out",
            proof.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    assert_eq!(
        bundle["included"].as_array().unwrap().len() as u64,
        v["snapshots"][0]["included"].as_u64().unwrap()
    );

    let ledger = tmp.path().join("ledger.jsonl");
    assert!(
        veto(&home, &["ledger", "export", "--out", ledger.to_str().unwrap()])
            .status
            .success()
    );
    let out = veto(
        &home,
        &[
            "verify",
            proof.to_str().unwrap(),
            "--ledger",
            ledger.to_str().unwrap(),
            "--snapshot",
            snapshot.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).trim_end().ends_with("ok"), "{}", stdout(&out));

    // The AI Act summary takes its numbers from the manifest.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snapshot.join("manifest.json")).unwrap()).unwrap();
    let out = veto(
        &home,
        &["report", "ai-act", "--snapshot", &snapshot_id, "--format", "html"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let html = stdout(&out);
    assert!(html.contains("<svg"), "charts are inline SVG");
    assert!(!html.contains("<script"), "no script");
    let included_line = format!("text, {} items", manifest["items"]["included"]);
    assert!(html.contains(&included_line), "{included_line}");
    let objection_line = format!(
        "items excluded because of an objection: {}",
        manifest["excluded_by_reason"]["objection"]
    );
    assert!(html.contains(&objection_line), "{objection_line}");
}

#[test]
fn train_unlearn_a_late_objector_under_strict_and_lookup_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, data) = (tmp.path().join("home"), tmp.path().join("export"));
    assert!(
        veto(
            &home,
            &["generate", "--out", data.to_str().unwrap(), "--persons", "200"]
        )
        .status
        .success()
    );
    assert!(
        veto(
            &home,
            &["objections", "import", data.join("objections.jsonl").to_str().unwrap()]
        )
        .status
        .success()
    );
    let build = |policy: &str, out: &Path| {
        let args = [
            "build",
            "--data",
            data.to_str().unwrap(),
            "--policy",
            policy,
            "--as-of",
            "2025-05-27T00:00:00+02:00",
            "--out",
        ];
        let o = veto(&home, &[&args[..], &[out.to_str().unwrap()]].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()["snapshot_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let models_dir = home.join("models");
    let train = |snapshot: &str| {
        let o = veto(&home, &["train", "--snapshot", snapshot, "--order", "4"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        let id = text.split_whitespace().nth(1).unwrap().to_string();
        assert!(models_dir.join(&id).join("model.json").is_file(), "{text}");
        id
    };

    // Under meta-2025 a late objection keeps the trained model as it is.
    let meta_model = train(&build("meta-2025", &tmp.path().join("meta")));
    let o = veto(&home, &["unlearn", "--model", &meta_model]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("late_objections = keep_trained"), "{}", stderr(&o));

    // Under strict, the late objectors are unlearned.
    let strict_model = train(&build("strict", &tmp.path().join("strict")));
    let o = veto(&home, &["unlearn", "--model", &strict_model]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("is now version 2"), "{}", stdout(&o));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models_dir.join(&strict_model).join("model.json")).unwrap()).unwrap();
    let retrained = manifest["versions"][1]["retrained_shards"].as_array().unwrap().len();
    assert!((1..16).contains(&retrained), "only affected shards: {retrained}");

    // A late objector's lookup shows the unlearning; running it again finds nothing new.
    let objections = std::fs::read_to_string(data.join("objections.jsonl")).unwrap();
    let late: Vec<String> = objections
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|o| {
            o["filed_at"].as_str().unwrap() > "2025-05-27" && o["withdrawn_at"].is_null() && o["scope"] == "all"
        })
        .map(|o| o["person_id"].as_str().unwrap().to_string())
        .collect();
    let unlearned = late.iter().any(|p| {
        let out = veto(&home, &["lookup", "--person", p, "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["model_id"] == strict_model.as_str() && m["unlearned_in_version"] == 2)
    });
    assert!(unlearned, "some late objector shows as unlearned");
    let o = veto(&home, &["unlearn", "--model", &strict_model]);
    assert!(stdout(&o).starts_with("Nothing to unlearn"), "{}", stdout(&o));
}

/// The texts of a JSON Lines items export.
fn texts_of(export_items: &Path) -> Vec<String> {
    std::fs::read_to_string(export_items)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_person_without_an_account_objects_by_file_and_the_build_redacts_their_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, data) = (tmp.path().join("home"), tmp.path().join("export"));
    let data_s = data.to_str().unwrap();
    let args = [
        "generate",
        "--out",
        data_s,
        "--persons",
        "200",
        "--format",
        "jsonl",
        "--export-version",
        "1.1",
    ];
    assert!(veto(&home, &args).status.success());
    // A name the texts use ("Liebe Grüße an ...") that some user also has.
    let texts = texts_of(&data.join("items.jsonl"));
    let greeting = texts
        .iter()
        .find_map(|t| t.split("Liebe Grüße an ").nth(1))
        .expect("a text names someone");
    let name = greeting.trim_end_matches('!').to_string();
    let file = tmp.path().join("subjects.jsonl");
    let line = serde_json::json!({
        "objection_id": "np-1", "scope": "all", "filed_at": "2025-05-20T10:00:00+02:00",
        "withdrawn_at": null, "channel": "letter",
        "subject": {"display_name": name, "handles": [], "emails": ["namesake@example.org"], "phones": []},
    });
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let out = veto(&home, &["objections", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 of them by people without an account"),
        "{}",
        stdout(&out)
    );
    let again = veto(&home, &["objections", "import", file.to_str().unwrap()]);
    assert!(stdout(&again).contains("(1 already on file)"), "{}", stdout(&again));

    let build = |policy: &str, out: &Path| -> serde_json::Value {
        let args = [
            "build",
            "--data",
            data_s,
            "--policy",
            policy,
            "--as-of",
            "2025-08-01T00:00:00+02:00",
            "--shards",
            "2",
            "--out",
            out.to_str().unwrap(),
        ];
        let done = veto(&home, &args);
        assert!(done.status.success(), "{}", stderr(&done));
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
    };
    let look = |id: &str| -> serde_json::Value {
        let out = veto(&home, &["lookup", "--objection", id, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let mentions = |v: &serde_json::Value, snap: &serde_json::Value| {
        v["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["snapshot_id"] == snap["snapshot_id"])
            .map(|s| s["mentions_redacted"].as_u64().unwrap())
    };

    // Under a policy that holds every new third-party objection for
    // review, the first build screens it and does not apply it.
    let preset = include_str!("../../veto-core/src/presets/meta-2025.toml");
    let review_all = tmp.path().join("review-all.toml");
    std::fs::write(&review_all, format!("third_party_review_threshold = 0\n{preset}")).unwrap();
    let held = build(review_all.to_str().unwrap(), &tmp.path().join("snap-held"));
    assert_eq!(held["objector_mentions"]["names"], 0, "held: not applied");
    let seen = look("np-1");
    assert_eq!(seen["review"], "pending", "{seen}");
    assert_eq!(mentions(&seen, &held), Some(0));
    let queue = veto(&home, &["objections", "review"]);
    assert!(
        stdout(&queue).contains("np-1") && stdout(&queue).contains(&name),
        "{}",
        stdout(&queue)
    );
    let approve = veto(&home, &["objections", "review", "approve", "np-1", "--by", "ops"]);
    assert!(approve.status.success(), "{}", stderr(&approve));
    let twice = veto(&home, &["objections", "review", "approve", "np-1", "--by", "ops"]);
    assert!(!twice.status.success() && stderr(&twice).contains("not waiting for review"));

    // Approved: the next build applies it.
    let manifest = build("meta-2025", &tmp.path().join("snap"));
    // The build redacted the name (that no shard holds it is the engine's
    // test, crates/veto-engine/tests/tagged.rs); here: the file reached it.
    assert!(
        manifest["objector_mentions"]["names"].as_u64().unwrap() > 0,
        "{manifest}"
    );
    let seen = look("np-1");
    assert_eq!(seen["review"], "approved", "{seen}");
    assert!(mentions(&seen, &manifest).unwrap() > 0, "{seen}");
    let report = veto(
        &home,
        &[
            "report",
            "ai-act",
            "--snapshot",
            manifest["snapshot_id"].as_str().unwrap(),
        ],
    );
    assert!(
        stdout(&report).contains("Mentions of people who objected"),
        "{}",
        stdout(&report)
    );
    // The ledger records the objection, the hold and the decision, without the name.
    let ledger = tmp.path().join("ledger.jsonl");
    assert!(
        veto(&home, &["ledger", "export", "--out", ledger.to_str().unwrap()])
            .status
            .success()
    );
    let entries = std::fs::read_to_string(&ledger).unwrap();
    for kind in [
        "subject_objection_filed",
        "third_party_held_for_review",
        "third_party_review_decided",
    ] {
        assert!(entries.contains(kind), "{kind}");
    }
    assert!(
        !entries.contains(&name) && !entries.contains("namesake@example.org"),
        "no name in the ledger"
    );
}

#[test]
fn completions_and_manual_pages_come_from_the_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("none");
    for (shell, marker) in [
        ("bash", "_veto()"),
        ("zsh", "#compdef veto"),
        ("fish", "complete -c veto"),
    ] {
        let out = veto(&home, &["completions", shell]);
        assert!(out.status.success(), "{}", stderr(&out));
        let script = stdout(&out);
        assert!(
            script.contains(marker) && script.contains("unlearn"),
            "{shell}: {script}"
        );
    }
    let pages = tmp.path().join("man");
    let out = veto(&home, &["man", "--out-dir", pages.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let unlearn = std::fs::read_to_string(pages.join("veto-unlearn.1")).unwrap();
    assert!(unlearn.starts_with(".ie") || unlearn.contains(".TH"), "{unlearn}");
    assert!(unlearn.contains("status"), "{unlearn}");
    assert!(stdout(&veto(&home, &["man"])).contains(".TH veto"));
    assert!(!home.exists(), "neither creates a state directory");
}
