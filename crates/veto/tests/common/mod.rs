//! What the CLI tests of models share: running veto, and a small
//! platform with a strict 4-shard snapshot and one late objector.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const AS_OF: &str = "2025-05-27T00:00:00+02:00";
/// The as-of time in UTC: objections filed up to it are in time.
pub const DEADLINE_UTC: &str = "2025-05-26T22:00:00";

pub fn veto_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veto"));
    cmd.arg("--home").arg(home).args(args).env_remove("VETO_HOME");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("veto runs")
}

pub fn veto(home: &Path, args: &[&str]) -> Output {
    veto_env(home, args, &[])
}

pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// A small export, its objections filed in time imported, a strict build
/// with 4 shards; and one late objector (scope all, never withdrawn) whose
/// items the build included, with that objection as a file of its own.
pub struct Setup {
    pub _tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub snapshot_dir: PathBuf,
    pub snapshot_id: String,
    pub late_person: String,
    pub late_file: PathBuf,
    pub tmp: PathBuf,
}

pub fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let (home, data) = (tmp.path().join("home"), tmp.path().join("export"));
    ok(veto(
        &home,
        &["generate", "--out", data.to_str().unwrap(), "--persons", "160"],
    ));
    let lines = std::fs::read_to_string(data.join("objections.jsonl")).unwrap();
    let rows: Vec<(String, Value)> = lines
        .lines()
        .map(|l| (l.to_string(), serde_json::from_str(l).unwrap()))
        .collect();
    let in_time: Vec<&str> = rows
        .iter()
        .filter(|(_, o)| o["filed_at"].as_str().unwrap() < DEADLINE_UTC)
        .map(|(l, _)| l.as_str())
        .collect();
    let early = tmp.path().join("early.jsonl");
    std::fs::write(&early, in_time.join("\n") + "\n").unwrap();
    ok(veto(&home, &["objections", "import", early.to_str().unwrap()]));
    let snapshot_dir = tmp.path().join("snap");
    ok(veto(
        &home,
        &[
            "build",
            "--data",
            data.to_str().unwrap(),
            "--policy",
            "strict",
            "--as-of",
            AS_OF,
            "--shards",
            "4",
            "--out",
            snapshot_dir.to_str().unwrap(),
        ],
    ));
    let snapshot_id = json_file(&snapshot_dir.join("manifest.json"))["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (line, late) = rows
        .iter()
        .filter(|(_, o)| {
            o["filed_at"].as_str().unwrap() > DEADLINE_UTC && o["scope"] == "all" && o["withdrawn_at"].is_null()
        })
        .find(|(_, o)| {
            let out = veto(
                &home,
                &["lookup", "--person", o["person_id"].as_str().unwrap(), "--json"],
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            v["snapshots"][0]["included"].as_u64().unwrap_or(0) > 0
        })
        .expect("a late objector with included items");
    let late_file = tmp.path().join("late.jsonl");
    std::fs::write(&late_file, format!("{line}\n")).unwrap();
    Setup {
        home,
        snapshot_dir,
        snapshot_id,
        late_person: late["person_id"].as_str().unwrap().to_string(),
        late_file,
        tmp: tmp.path().to_path_buf(),
        _tmp: tmp,
    }
}

/// `model_trained` / `model_unlearned` payloads of the exported ledger.
pub fn ledger_payloads(s: &Setup, kind: &str) -> Vec<Value> {
    let file = s.tmp.join(format!("ledger-{kind}.jsonl"));
    ok(veto(&s.home, &["ledger", "export", "--out", file.to_str().unwrap()]));
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == kind)
        .map(|e| e["payload"].clone())
        .collect()
}
