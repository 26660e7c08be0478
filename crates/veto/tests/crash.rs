//! Crash consistency, tried as a person would find it: each operation
//! (import, build, train, unlearn) is killed with SIGKILL at every step
//! boundary of its state machine (`VETO_CRASH_AT=<operation>:<point>`, see
//! ARCHITECTURE.md "Operation states"). After each kill the next command
//! must find records and files that agree: `veto lookup` for a late
//! objector, the snapshots and models on disk, and the ledger export that
//! `veto ledger verify` checks. Then the killed command is run again, the
//! rest of the sequence after it, and the result must equal what an
//! undisturbed run reaches.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The boundaries of build, train and unlearn, in order.
const POINTS: [&str; 7] = ["intent", "files", "staged", "rename", "renamed", "recorded", "finish"];
/// The boundaries of an import (one transaction).
const IMPORT_POINTS: [&str; 2] = ["insert", "commit"];
const AS_OF: &str = "2025-05-27T00:00:00+02:00";

fn veto(home: &Path, args: &[&str], crash: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veto"));
    cmd.arg("--home").arg(home).args(args).env_remove("VETO_HOME");
    match crash {
        Some(point) => cmd.env("VETO_CRASH_AT", point),
        None => cmd.env_remove("VETO_CRASH_AT"),
    };
    cmd.output().expect("veto runs")
}

fn ok(home: &Path, args: &[&str]) -> String {
    let o = veto(home, args, None);
    assert!(
        o.status.success(),
        "veto {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A generated export with objections, some of them late, shared by the
/// cases of one test, and a new installation that each case starts from a
/// copy of (one secret: the same data gives the same snapshot and model ids).
struct Export {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    template: PathBuf,
    /// A person whose late objection the unlearning removes.
    late_objector: String,
}

fn export() -> Export {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("export");
    ok(
        tmp.path(),
        &["generate", "--out", dir.to_str().unwrap(), "--persons", "200"],
    );
    let text = std::fs::read_to_string(dir.join("objections.jsonl")).unwrap();
    let late_objector = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|o| o["filed_at"].as_str().unwrap() > "2025-05-28" && o["withdrawn_at"].is_null() && o["scope"] == "all")
        .expect("the generator files late objections")["person_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A person without an account among them: the import's subject rows
    // and their ledger entries are in the same transaction as the users'.
    let subject = serde_json::json!({
        "objection_id": "third-party-1", "scope": "all", "filed_at": "2025-05-20T10:00:00+02:00",
        "withdrawn_at": null, "channel": "letter",
        "subject": {"display_name": "Erika Mustermann", "handles": ["@erika_m"], "emails": [], "phones": []},
    });
    std::fs::write(dir.join("objections.jsonl"), format!("{text}{subject}\n")).unwrap();
    let template = tmp.path().join("template");
    ok(&template, &["snapshots", "list"]);
    Export {
        _tmp: tmp,
        dir,
        template,
        late_objector,
    }
}

impl Export {
    fn fresh_home(&self, name: &str) -> PathBuf {
        let home = self.dir.with_file_name(name);
        std::fs::create_dir_all(&home).unwrap();
        for f in std::fs::read_dir(&self.template).unwrap().map(|e| e.unwrap().path()) {
            if f.is_file() {
                std::fs::copy(&f, home.join(f.file_name().unwrap())).unwrap();
            }
        }
        home
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Import,
    Build,
    Train,
    Unlearn,
}

const SEQUENCE: [Step; 4] = [Step::Import, Step::Build, Step::Train, Step::Unlearn];

fn args_of(step: Step, export: &Export, home: &Path) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    match step {
        Step::Import => s(&[
            "objections",
            "import",
            export.dir.join("objections.jsonl").to_str().unwrap(),
        ]),
        Step::Build => s(&[
            "build",
            "--data",
            export.dir.to_str().unwrap(),
            "--policy",
            "strict",
            "--as-of",
            AS_OF,
            "--shards",
            "4",
        ]),
        Step::Train => s(&["train", "--snapshot", &only_snapshot(home), "--order", "3"]),
        Step::Unlearn => s(&["unlearn", "--model", &only_model(home)]),
    }
}

fn run_step(step: Step, export: &Export, home: &Path, crash: Option<&str>) -> Output {
    let args = args_of(step, export, home);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    veto(home, &args, crash)
}

fn only_snapshot(home: &Path) -> String {
    let list = ok(home, &["snapshots", "list"]);
    let ids: Vec<&str> = list.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(ids.len(), 1, "{list}");
    ids[0].to_string()
}

fn only_model(home: &Path) -> String {
    let models = ledger(home)
        .into_iter()
        .filter(|e| e["kind"] == "model_trained")
        .map(|e| e["payload"]["model_id"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(models.len(), 1, "{models:?}");
    models[0].clone()
}

/// The ledger export, checked by `veto ledger verify`, as entries.
fn ledger(home: &Path) -> Vec<Value> {
    let file = home.with_extension("ledger.jsonl");
    ok(home, &["ledger", "export", "--out", file.to_str().unwrap()]);
    let verified = veto(home, &["ledger", "verify", file.to_str().unwrap()], None);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("head").is_none())
        .collect()
}

/// A late objector's lookup: (snapshot, items included) and (model,
/// version the person was unlearned in).
type Lookup = (Vec<(String, u64)>, Vec<(String, Option<u64>)>);

/// What a person and an auditor can see, without times: it must be the same
/// after a crash and a rerun as after an undisturbed run.
#[derive(Debug, PartialEq)]
struct Seen {
    ledger_kinds: Vec<String>,
    snapshots: Vec<String>,
    /// (model id, version, model_sha256) as model.json on disk says.
    models: Vec<(String, u64, String)>,
    /// The late objector's lookup: (snapshot, included) and (model, version unlearned in).
    lookup: Lookup,
}

/// Looks at the installation and asserts that records and files agree.
fn observe(home: &Path, export: &Export) -> Seen {
    // The first command after a crash recovers what it left.
    let entries = ledger(home);
    let kinds: Vec<String> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    let list = ok(home, &["snapshots", "list"]);
    let snapshots: Vec<String> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| id.starts_with("snap"))
        .map(String::from)
        .collect();
    let built: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "snapshot_built").collect();
    assert_eq!(built.len(), snapshots.len(), "one ledger entry per snapshot listed");
    for id in &snapshots {
        let dir = home.join("snapshots").join(id);
        assert!(
            dir.join("manifest.json").is_file(),
            "listed snapshot {id} has its files"
        );
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(home.join("snapshots"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    on_disk.sort();
    assert_eq!(on_disk, snapshots, "every snapshot directory is on record");
    let models = models_on_disk(home, &entries);
    let lookup = lookup(home, &export.late_objector, &entries);
    assert_no_debris(home);
    let doctor = veto(home, &["doctor"], None);
    assert!(
        doctor.status.success(),
        "doctor: {}",
        String::from_utf8_lossy(&doctor.stdout)
    );
    Seen {
        ledger_kinds: kinds,
        snapshots,
        models,
        lookup,
    }
}

/// Every model directory is on record, and its model.json is the version
/// the ledger last recorded.
fn models_on_disk(home: &Path, entries: &[Value]) -> Vec<(String, u64, String)> {
    let mut models = Vec::new();
    let Ok(dirs) = std::fs::read_dir(home.join("models")) else {
        return models;
    };
    for dir in dirs.map(|d| d.unwrap().path()) {
        let id = dir.file_name().unwrap().to_str().unwrap().to_string();
        let m: Value = serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
        let recorded = entries
            .iter()
            .rev()
            .find(|e| {
                (e["kind"] == "model_trained" || e["kind"] == "model_unlearned")
                    && e["payload"]["model_id"] == id.as_str()
            })
            .unwrap_or_else(|| panic!("model directory {id} is not on record"));
        assert_eq!(m["version"], recorded["payload"]["version"], "model.json of {id}");
        assert_eq!(
            m["model_sha256"], recorded["payload"]["model_sha256"],
            "model.json of {id}"
        );
        models.push((
            id,
            m["version"].as_u64().unwrap(),
            m["model_sha256"].as_str().unwrap().into(),
        ));
    }
    models.sort();
    models
}

/// The late objector's lookup, checked against the ledger: a model shows as
/// unlearned exactly when the ledger has its unlearning.
fn lookup(home: &Path, person: &str, entries: &[Value]) -> Lookup {
    let v: Value = serde_json::from_str(&ok(home, &["lookup", "--person", person, "--json"])).unwrap();
    let snapshots = v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["lookup_ready"], true);
            (
                s["snapshot_id"].as_str().unwrap().to_string(),
                s["included"].as_u64().unwrap(),
            )
        })
        .collect();
    let models: Vec<(String, Option<u64>)> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["model_id"].as_str().unwrap().to_string(),
                m["unlearned_in_version"].as_u64(),
            )
        })
        .collect();
    for (model, unlearned) in &models {
        let in_ledger = entries
            .iter()
            .find(|e| e["kind"] == "model_unlearned" && e["payload"]["model_id"] == model.as_str())
            .map(|e| e["payload"]["version"].as_u64().unwrap());
        assert_eq!(*unlearned, in_ledger, "lookup and ledger agree on {model}");
    }
    (snapshots, models)
}

/// No staging directory, temporary file or operation lock is left.
fn assert_no_debris(home: &Path) {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".staging")
                || name.contains(".tmp")
                || name.contains("recover-tmp")
                || name.starts_with(".veto-op-")
                || name.starts_with("op-")
            {
                found.push(e.path());
            }
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), found);
            }
        }
    }
    let mut found = Vec::new();
    walk(home, &mut found);
    assert!(found.is_empty(), "left behind: {found:?}");
}

/// Runs the sequence, killing `crashed` at `point`; returns what is seen at
/// the end.
fn run_with_crash(export: &Export, home: &Path, crashed: Step, point: &str) -> Seen {
    let op = format!("{crashed:?}").to_lowercase();
    for step in SEQUENCE {
        if step == crashed {
            let o = run_step(step, export, home, Some(&format!("{op}:{point}")));
            assert_eq!(o.status.signal(), Some(9), "{op}:{point} is reached and kills");
            observe(home, export);
            let again = run_step(step, export, home, None);
            let said = String::from_utf8_lossy(&again.stderr);
            // A training recorded before the kill is refused by name.
            let already = step == Step::Train && said.contains("already trained");
            assert!(again.status.success() || already, "rerun after {op}:{point}: {said}");
        } else {
            let o = run_step(step, export, home, None);
            assert!(o.status.success(), "{step:?}: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    observe(home, export)
}

fn crash_every_point_of(step: Step, points: &[&str]) {
    let export = export();
    let reference = {
        let home = export.fresh_home("reference");
        for s in SEQUENCE {
            let o = run_step(s, &export, &home, None);
            assert!(o.status.success(), "{s:?}: {}", String::from_utf8_lossy(&o.stderr));
        }
        observe(&home, &export)
    };
    assert!(
        reference.lookup.1.iter().any(|(_, v)| *v == Some(2)),
        "the late objector is unlearned: {reference:?}"
    );
    for point in points {
        let home = export.fresh_home(&format!("crash-{step:?}-{point}"));
        let seen = run_with_crash(&export, &home, step, point);
        assert_eq!(seen, reference, "after a kill at {step:?}:{point} and a rerun");
    }
    eprintln!("{step:?}: {} kill points covered", points.len());
}

#[test]
fn a_build_killed_at_any_step_leaves_records_that_agree_and_a_rerun_converges() {
    crash_every_point_of(Step::Build, &POINTS);
}

#[test]
fn a_training_killed_at_any_step_leaves_records_that_agree_and_a_rerun_converges() {
    crash_every_point_of(Step::Train, &POINTS);
}

#[test]
fn an_unlearning_killed_at_any_step_leaves_records_that_agree_and_a_rerun_converges() {
    crash_every_point_of(Step::Unlearn, &POINTS);
}

#[test]
fn an_import_killed_at_any_step_leaves_records_that_agree_and_a_rerun_converges() {
    crash_every_point_of(Step::Import, &IMPORT_POINTS);
}

#[test]
fn rebuilding_a_snapshot_whose_files_were_damaged_restores_them() {
    let export = export();
    let home = export.fresh_home("damaged");
    for step in [Step::Import, Step::Build] {
        assert!(run_step(step, &export, &home, None).status.success());
    }
    let dir = home.join("snapshots").join(only_snapshot(&home));
    let shard = dir.join("shards/shard-00001.parquet");
    let original = std::fs::read(&shard).unwrap();
    std::fs::remove_file(&shard).unwrap();
    std::fs::write(dir.join("exclusions.parquet"), b"not parquet").unwrap();
    let before = ledger(&home).len();

    let again = run_step(Step::Build, &export, &home, None);
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(
        said.contains("repaired on disk: exclusions.parquet, shards/shard-00001.parquet"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(&shard).unwrap(),
        original,
        "the shard is back, byte for byte"
    );
    assert_eq!(ledger(&home).len(), before, "the same snapshot: no second ledger entry");
    observe(&home, &export);
}

#[test]
fn a_relative_out_is_recovered_where_it_was_made_not_where_the_next_command_runs() {
    let export = export();
    let home = export.fresh_home("relative");
    assert!(run_step(Step::Import, &export, &home, None).status.success());
    let (made_in, elsewhere) = (home.with_file_name("made-in"), home.with_file_name("elsewhere"));
    std::fs::create_dir_all(&made_in).unwrap();
    // Someone else's directory of the same name where the next command runs.
    std::fs::create_dir_all(elsewhere.join("mysnap")).unwrap();
    std::fs::write(elsewhere.join("mysnap/keep.txt"), "mine").unwrap();
    let mut build = args_of(Step::Build, &export, &home);
    build.extend(["--out".to_string(), "mysnap".to_string()]);
    let o = Command::new(env!("CARGO_BIN_EXE_veto"))
        .current_dir(&made_in)
        .arg("--home")
        .arg(&home)
        .args(&build)
        .env("VETO_CRASH_AT", "build:renamed")
        .output()
        .unwrap();
    assert_eq!(o.status.signal(), Some(9));
    assert!(made_in.join("mysnap/manifest.json").is_file(), "the rename happened");
    let doctor = Command::new(env!("CARGO_BIN_EXE_veto"))
        .current_dir(&elsewhere)
        .arg("--home")
        .arg(&home)
        .arg("doctor")
        .output()
        .unwrap();
    assert!(doctor.status.success(), "{}", String::from_utf8_lossy(&doctor.stdout));
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("mysnap/keep.txt")).unwrap(),
        "mine"
    );
    assert!(
        !made_in.join("mysnap").exists(),
        "the unrecorded snapshot is rolled back"
    );
}
