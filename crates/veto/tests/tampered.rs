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
