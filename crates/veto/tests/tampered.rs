//! Files of a snapshot changed after its build: what they say is refused,
//! not acted on.

use std::path::Path;
use std::process::{Command, Output};

fn veto(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veto"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("VETO_HOME")
        .output()
        .unwrap()
}

fn ok(home: &Path, args: &[&str]) -> String {
    let o = veto(home, args);
    assert!(
        o.status.success(),
        "veto {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_edited_policy_file_does_not_change_what_unlearn_does() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, data) = (tmp.path().join("home"), tmp.path().join("export"));
    ok(
        &home,
        &["generate", "--out", data.to_str().unwrap(), "--persons", "200"],
    );
    ok(
        &home,
        &["objections", "import", data.join("objections.jsonl").to_str().unwrap()],
    );
    ok(
        &home,
        &[
            "build",
            "--data",
            data.to_str().unwrap(),
            "--policy",
            "meta-2025",
            "--as-of",
            "2025-05-27T00:00:00+02:00",
            "--shards",
            "4",
        ],
    );
    let snapshot = ok(&home, &["snapshots", "list"])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let model = ok(&home, &["train", "--snapshot", &snapshot, "--order", "3"])
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    // meta-2025 keeps late objectors in trained models; an edit that says
    // otherwise must not make unlearn act as if the build had been strict.
    let policy = home.join("snapshots").join(&snapshot).join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(text.contains("keep_trained"), "{text}");
    std::fs::write(&policy, text.replace("keep_trained", "unlearn")).unwrap();
    let o = veto(&home, &["unlearn", "--model", &model]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("policy.toml was changed after the build"), "{err}");
    let trained: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("models").join(&model).join("model.json")).unwrap()).unwrap();
    assert_eq!(trained["version"], 1, "the model is as it was");
}

fn build(home: &Path, data: &Path, policy: &str, out: Option<&Path>) -> Output {
    let mut args = vec![
        "build",
        "--data",
        data.to_str().unwrap(),
        "--policy",
        policy,
        "--as-of",
        "2025-05-27T00:00:00+02:00",
        "--shards",
        "4",
    ];
    if let Some(out) = out {
        args.extend(["--out", out.to_str().unwrap()]);
    }
    veto(home, &args)
}

#[test]
fn a_directory_recorded_for_one_snapshot_never_receives_another() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, data, p) = (tmp.path().join("home"), tmp.path().join("export"), tmp.path().join("p"));
    ok(
        &home,
        &["generate", "--out", data.to_str().unwrap(), "--persons", "200"],
    );
    ok(
        &home,
        &["objections", "import", data.join("objections.jsonl").to_str().unwrap()],
    );
    assert!(build(&home, &data, "meta-2025", Some(&p)).status.success());
    let meta = ok(&home, &["snapshots", "list"])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::fs::remove_dir_all(&p).unwrap();
    // A strict build into the same, now empty, place is refused by name ...
    let o = build(&home, &data, "strict", Some(&p));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains(&format!("is where snapshot {meta} is recorded")), "{err}");
    assert!(!p.exists(), "nothing written there");
    // ... and rebuilding the recorded snapshot restores it in place.
    let o = build(&home, &data, "meta-2025", None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("repaired on disk"));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(p.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["snapshot_id"], meta.as_str());
}

#[test]
fn doctor_names_a_shard_that_was_deleted_or_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, data) = (tmp.path().join("home"), tmp.path().join("export"));
    ok(
        &home,
        &["generate", "--out", data.to_str().unwrap(), "--persons", "200"],
    );
    assert!(build(&home, &data, "strict", None).status.success());
    assert!(veto(&home, &["doctor"]).status.success());
    let snapshot = ok(&home, &["snapshots", "list"])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let dir = home.join("snapshots").join(&snapshot);
    std::fs::remove_file(dir.join("shards/shard-00001.parquet")).unwrap();
    std::fs::write(dir.join("index.parquet"), b"changed").unwrap();
    let o = veto(&home, &["doctor"]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{said}");
    assert!(
        said.contains("shard-00001.parquet") && said.contains("index.parquet"),
        "{said}"
    );
}
