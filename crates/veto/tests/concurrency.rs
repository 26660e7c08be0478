//! Two commands at once. One unlearning or training per model or snapshot
//! at a time: the second waits, says for whom, and then finds what the
//! first left to do. Imports go on while a build runs, and the ledger says
//! which objections the build considered. The commands are ordered by what
//! they print and by a lock the test holds (`VETO_PAUSE_AT`), never by
//! sleeping.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use serde_json::Value;

const AS_OF: &str = "2025-05-27T00:00:00+02:00";

fn command(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veto"));
    cmd.arg("--home")
        .arg(home)
        .args(args)
        .env_remove("VETO_HOME")
        .env_remove("VETO_CRASH_AT")
        .env_remove("VETO_PAUSE_AT");
    cmd
}

fn ok(home: &Path, args: &[&str]) -> String {
    let o = command(home, args).output().unwrap();
    assert!(
        o.status.success(),
        "veto {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A running command whose stderr is read line by line.
struct Running {
    child: Child,
    stderr: BufReader<ChildStderr>,
    seen: String,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        Running {
            child,
            stderr,
            seen: String::new(),
        }
    }

    /// Blocks until the command prints a line containing `text`.
    fn wait_for(&mut self, text: &str) -> String {
        loop {
            let mut line = String::new();
            let n = self.stderr.read_line(&mut line).unwrap();
            assert!(n > 0, "ended before printing {text:?}: {}", self.seen);
            self.seen.push_str(&line);
            if line.contains(text) {
                return line;
            }
        }
    }

    fn finish(mut self) -> (Output, String) {
        self.stderr.read_to_string(&mut self.seen).unwrap();
        let out = self.child.wait_with_output().unwrap();
        (out, self.seen)
    }
}

/// The lock a paused command waits for, held by the test until released.
struct Gate {
    file: std::fs::File,
    path: PathBuf,
}

impl Gate {
    fn new(dir: &Path) -> Gate {
        let path = dir.join("gate");
        let file = std::fs::File::create(&path).unwrap();
        file.lock().unwrap();
        Gate { file, path }
    }

    fn pause(&self, cmd: &mut Command, point: &str) {
        cmd.env("VETO_PAUSE_AT", point).env("VETO_PAUSE_LOCK", &self.path);
    }

    fn open(self) {
        self.file.unlock().unwrap();
    }
}

fn ledger(home: &Path) -> Vec<Value> {
    ok(home, &["ledger", "export"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("head").is_none())
        .collect()
}

/// An installation with objections on file, a strict snapshot and a model.
fn trained(tmp: &Path) -> (PathBuf, PathBuf, String, String) {
    let (home, data) = (tmp.join("home"), tmp.join("export"));
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
            "strict",
            "--as-of",
            AS_OF,
            "--shards",
            "4",
        ],
    );
    let snapshot = ok(&home, &["snapshots", "list"])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let train = ok(&home, &["train", "--snapshot", &snapshot, "--order", "3"]);
    let model = train.split_whitespace().nth(1).unwrap().to_string();
    (home, data, snapshot, model)
}

#[test]
fn two_unlearnings_of_one_model_at_once_record_version_2_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, _, _, model) = trained(tmp.path());
    let gate = Gate::new(tmp.path());
    let mut first = command(&home, &["unlearn", "--model", &model]);
    gate.pause(&mut first, "unlearn:intent");
    let mut first = Running::start(first);
    first.wait_for("paused at unlearn:intent");
    let mut second = Running::start(command(&home, &["unlearn", "--model", &model]));
    let waiting = second.wait_for("Waiting for");
    assert!(
        waiting.contains(&format!("pid {}", first.child.id())) && waiting.contains(&model),
        "says who holds the model: {waiting}"
    );
    gate.open();
    let (a, a_err) = first.finish();
    let (b, b_err) = second.finish();
    assert!(a.status.success(), "{a_err}");
    assert!(b.status.success(), "{b_err}");
    assert!(String::from_utf8_lossy(&a.stdout).contains("is now version 2"));
    assert!(String::from_utf8_lossy(&b.stdout).starts_with("Nothing to unlearn"));
    let unlearned: Vec<Value> = ledger(&home)
        .into_iter()
        .filter(|e| e["kind"] == "model_unlearned")
        .collect();
    assert_eq!(unlearned.len(), 1, "{unlearned:?}");
    assert_eq!(unlearned[0]["payload"]["version"], 2);
}

#[test]
fn a_second_training_of_one_snapshot_waits_and_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, _, snapshot, model) = trained(tmp.path());
    // Under another order: a different model, trained while a third waits.
    let gate = Gate::new(tmp.path());
    let mut first = command(&home, &["train", "--snapshot", &snapshot, "--order", "2"]);
    gate.pause(&mut first, "train:intent");
    let mut first = Running::start(first);
    first.wait_for("paused at train:intent");
    let mut second = Running::start(command(&home, &["train", "--snapshot", &snapshot, "--order", "2"]));
    second.wait_for("Waiting for");
    gate.open();
    let (a, a_err) = first.finish();
    let (b, b_err) = second.finish();
    assert!(a.status.success(), "{a_err}");
    assert!(!b.status.success());
    let order2 = String::from_utf8_lossy(&a.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        b_err.contains(&format!("model {order2}")) && b_err.contains("already trained"),
        "{b_err}"
    );
    // And the first model again, sequentially: refused before any work.
    let again = command(&home, &["train", "--snapshot", &snapshot, "--order", "3"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains(&format!("model {model}")));
    let mut dirs: Vec<String> = std::fs::read_dir(home.join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut expected = vec![model, order2];
    expected.sort();
    assert_eq!(dirs, expected, "nothing else left in models/");
    let trained = ledger(&home)
        .into_iter()
        .filter(|e| e["kind"] == "model_trained")
        .count();
    assert_eq!(trained, 2);
}

#[test]
fn objections_imported_during_a_build_are_after_its_position_in_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, data) = (tmp.path().join("home"), tmp.path().join("export"));
    ok(
        &home,
        &["generate", "--out", data.to_str().unwrap(), "--persons", "200"],
    );
    let all = std::fs::read_to_string(data.join("objections.jsonl")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let (early, late) = lines.split_at(lines.len() / 2);
    let write = |name: &str, part: &[&str]| {
        let path = tmp.path().join(name);
        std::fs::write(&path, part.join("\n") + "\n").unwrap();
        path
    };
    let (early_file, late_file) = (write("early.jsonl", early), write("late.jsonl", late));
    ok(&home, &["objections", "import", early_file.to_str().unwrap()]);

    let gate = Gate::new(tmp.path());
    let mut build = command(
        &home,
        &[
            "build",
            "--data",
            data.to_str().unwrap(),
            "--policy",
            "strict",
            "--as-of",
            AS_OF,
        ],
    );
    gate.pause(&mut build, "build:intent");
    let mut build = Running::start(build);
    build.wait_for("paused at build:intent");
    // Imports are not held up by a build.
    ok(&home, &["objections", "import", late_file.to_str().unwrap()]);
    gate.open();
    let (out, err) = build.finish();
    assert!(out.status.success(), "{err}");

    let entries = ledger(&home);
    let built = entries.iter().find(|e| e["kind"] == "snapshot_built").unwrap();
    let through = built["payload"]["objections_through_seq"]
        .as_u64()
        .expect("the build's position");
    let id_of = |l: &&str| serde_json::from_str::<Value>(l).unwrap()["objection_id"].clone();
    let considered: Vec<Value> = entries
        .iter()
        .filter(|e| e["kind"] == "objection_filed" && e["seq"].as_u64().unwrap() <= through)
        .map(|e| e["payload"]["objection_id"].clone())
        .collect();
    let mut expected: Vec<Value> = early.iter().map(id_of).collect();
    expected.sort_by_key(|v| v.to_string());
    let mut considered_sorted = considered.clone();
    considered_sorted.sort_by_key(|v| v.to_string());
    assert_eq!(
        considered_sorted, expected,
        "exactly the objections on file when the build read them"
    );
    // The later ones come before the snapshot_built entry, after its position.
    let later_before_entry = entries
        .iter()
        .take_while(|e| e["kind"] != "snapshot_built")
        .filter(|e| e["kind"] == "objection_filed" && e["seq"].as_u64().unwrap() > through)
        .count();
    assert_eq!(later_before_entry, late.len());
    let snapshot = ok(&home, &["snapshots", "list"])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(home.join("snapshots").join(&snapshot).join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["objections_on_file"], early.len());
}
