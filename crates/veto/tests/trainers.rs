//! The trainer contract of docs/trainers.md as an operator meets it: a
//! program trains every shard, `veto unlearn` retrains one through it, and
//! the training-set roots in model.json and the ledger are the ones anyone
//! recomputes from the snapshot; a program that fails, writes nothing or
//! writes garbage leaves no model, or the model as it was.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::*;

/// Writes an executable shell script trainer.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A trainer that meets the contract and writes down what it was given.
const GOOD: &str = r#"set -e
[ -z "$TRAINER_FAIL" ] || { echo "told to fail" >&2; exit 3; }
in="$1"; out="$2"
echo "input $in" > "$out/seen.txt"
echo "cwd $(pwd)" >> "$out/seen.txt"
env | grep '^VETO_' | sort >> "$out/seen.txt"
sha256sum "$in/train.parquet" | cut -d' ' -f1 > "$out/model.bin"
printf '{"format":"veto-trainer-eval/1","heldout_loss":1.5,"heldout_tokens":10}' > "$out/eval.json"
echo "trained shard $VETO_SHARD""#;

fn train_exec(s: &Setup, program: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let trainer = format!("exec:{}", program.display());
    let args = [
        &["train", "--snapshot", &s.snapshot_id, "--trainer", &trainer][..],
        extra,
    ]
    .concat();
    veto_env(&s.home, &args, env)
}

fn model_dirs(home: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(home.join("models"))
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn roots(shards: &Value) -> Vec<(u64, String)> {
    shards
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["shard"].as_u64().unwrap(),
                s["training_set_root"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_program_gets_the_contracts_input_environment_and_working_directory() {
    let s = setup();
    let program = script(&s.tmp, "good.sh", GOOD);
    let out = ok(train_exec(
        &s,
        &program,
        &[],
        &[("VETO_OPERATOR_SECRET", "not-for-trainers")],
    ));
    let dir = model_dirs(&s.home).pop().expect("a model directory");
    let m = json_file(&dir.join("model.json"));
    assert!(out.contains(m["model_id"].as_str().unwrap()), "{out}");
    assert_eq!(m["trainer_exec"]["program"], program.to_str().unwrap());
    let sha = format!("{:x}", sha2_of(&std::fs::read(&program).unwrap()));
    assert_eq!(m["trainer_exec"]["program_sha256"], sha.as_str());
    for shard in m["shards"].as_array().unwrap() {
        let n = shard["shard"].as_u64().unwrap();
        let seen = std::fs::read_to_string(dir.join(format!("v1/shard-{n:05}/seen.txt"))).unwrap();
        let input = seen.lines().next().unwrap().strip_prefix("input ").unwrap();
        let work = Path::new(input).parent().unwrap().display().to_string();
        assert!(input.ends_with(&format!(".work/shard-{n:05}/input")), "{seen}");
        assert!(seen.contains(&format!("cwd {work}\n")), "{seen}");
        // Only the contract's VETO_ variables, none of veto's own.
        let vars: Vec<&str> = seen.lines().filter(|l| l.starts_with("VETO_")).collect();
        let root = shard["training_set_root"].as_str().unwrap();
        assert_eq!(vars.len(), 4, "{seen}");
        assert!(vars.contains(&format!("VETO_SHARD={n}").as_str()), "{seen}");
        assert!(
            vars.contains(&format!("VETO_TRAINING_SET_ROOT={root}").as_str()),
            "{seen}"
        );
        assert!(vars.iter().any(|v| v.starts_with("VETO_SEED=")), "{seen}");
        assert!(vars.iter().any(|v| v.starts_with("VETO_THREADS=")), "{seen}");
        // stdout is kept; the working directory is gone; every file is an artifact.
        let log = std::fs::read_to_string(dir.join(format!("v1/logs/shard-{n:05}.stdout"))).unwrap();
        assert_eq!(log.trim(), format!("trained shard {n}"));
        assert!(!Path::new(&work).exists(), "{work} is removed");
        let files: Vec<&str> = shard["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["file"].as_str().unwrap())
            .collect();
        let base = format!("v1/shard-{n:05}");
        assert_eq!(
            files,
            [
                format!("{base}/eval.json"),
                format!("{base}/model.bin"),
                format!("{base}/seen.txt")
            ]
        );
        assert_eq!(shard["heldout_loss"], 1.5);
    }
    assert!(!dir.join("v1/.work").exists());
}

fn sha2_of(bytes: &[u8]) -> impl std::fmt::LowerHex {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
}

#[test]
fn a_trainer_that_fails_writes_nothing_or_garbage_leaves_no_model_behind() {
    let s = setup();
    let cases: [(&str, &str, &[&str], &str); 7] = [
        (
            "exits.sh",
            "echo 'out of GPU memory' >&2; exit 3",
            &[],
            "out of GPU memory",
        ),
        ("nothing.sh", "exit 0", &[], "eval.json"),
        (
            "no-model.sh",
            r#"printf '{"format":"veto-trainer-eval/1","heldout_loss":1,"heldout_tokens":1}' > "$2/eval.json""#,
            &[],
            "wrote no artifact",
        ),
        (
            "garbage.sh",
            r#"echo weights > "$2/m.bin"; printf '{"format":"veto-trainer-eval/1","heldout_loss":"low"}' > "$2/eval.json""#,
            &[],
            "heldout_loss",
        ),
        (
            "unknown-field.sh",
            r#"echo weights > "$2/m.bin"; printf '{"format":"veto-trainer-eval/1","heldout_loss":1,"heldout_tokens":1,"accuracy":1}' > "$2/eval.json""#,
            &[],
            "accuracy",
        ),
        (
            "link.sh",
            r#"ln -s /etc/passwd "$2/m.bin"; printf '{"format":"veto-trainer-eval/1","heldout_loss":1,"heldout_tokens":1}' > "$2/eval.json""#,
            &[],
            "links are refused",
        ),
        ("hangs.sh", "exec sleep 600", &["--trainer-timeout", "1"], "killed"),
    ];
    for (name, body, extra, reason) in cases {
        let program = script(&s.tmp, name, body);
        let o = train_exec(&s, &program, extra, &[]);
        assert!(!o.status.success(), "{name} must fail");
        let err = stderr(&o);
        assert!(err.contains("shard "), "{name}: names the shard: {err}");
        assert!(err.contains(reason), "{name}: says {reason:?}: {err}");
        assert!(model_dirs(&s.home).is_empty(), "{name}: no model directory is left");
    }
    assert!(ledger_payloads(&s, "model_trained").is_empty(), "nothing is recorded");
    ok(veto(&s.home, &["doctor"]));
    // The snapshot trains as if nothing had happened.
    ok(train_exec(&s, &script(&s.tmp, "good.sh", GOOD), &[], &[]));
    assert_eq!(ledger_payloads(&s, "model_trained").len(), 1);
}

#[test]
fn an_unlearning_whose_trainer_fails_or_changed_leaves_the_model_as_it_was() {
    let s = setup();
    let program = script(&s.tmp, "good.sh", GOOD);
    ok(train_exec(&s, &program, &[], &[]));
    let dir = model_dirs(&s.home).pop().unwrap();
    let model_id = json_file(&dir.join("model.json"))["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = std::fs::read(dir.join("model.json")).unwrap();
    ok(veto(&s.home, &["objections", "import", s.late_file.to_str().unwrap()]));

    let o = veto_env(&s.home, &["unlearn", "--model", &model_id], &[("TRAINER_FAIL", "1")]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("told to fail"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.join("model.json")).unwrap(),
        before,
        "model.json unchanged"
    );
    assert!(!dir.join("v2").exists(), "no version 2");
    assert!(ledger_payloads(&s, "model_unlearned").is_empty());

    // The program changed since training: refused before anything runs.
    std::fs::write(&program, format!("#!/bin/sh\n# edited\n{GOOD}\n")).unwrap();
    let o = veto(&s.home, &["unlearn", "--model", &model_id]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("changed since the model was trained"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(dir.join("model.json")).unwrap(), before);

    // Restored, it unlearns.
    std::fs::write(&program, format!("#!/bin/sh\n{GOOD}\n")).unwrap();
    let out = ok(veto(&s.home, &["unlearn", "--model", &model_id]));
    assert!(out.contains("is now version 2"), "{out}");
    ok(veto(&s.home, &["doctor"]));
}

/// The Python checks of this file run where the test tools are installed
/// (test.sh installs them); elsewhere they say loudly that they skipped.
fn python_tools() -> bool {
    if std::env::var_os("VETO_SKIP_PYTHON_INTEROP").is_some() {
        eprintln!("!! SKIPPING the numpy trainer run: pip install -r tests/requirements.txt");
        return false;
    }
    true
}

#[test]
fn the_numpy_trainer_trains_every_shard_and_unlearning_retrains_one_with_recomputable_roots() {
    if !python_tools() {
        return;
    }
    let s = setup();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let program = root.join("examples/trainers/charlm.py");
    let check = root.join("tests/interop/check_training_sets.py");
    let out = ok(train_exec(&s, &program, &["--trainer-arg", "--steps=40"], &[]));
    assert!(out.contains("(exec:charlm.py --steps=40)"), "{out}");
    let dir = model_dirs(&s.home).pop().unwrap();
    let v1 = json_file(&dir.join("model.json"));
    let model_id = v1["model_id"].as_str().unwrap().to_string();
    for shard in v1["shards"].as_array().unwrap() {
        let loss = shard["heldout_loss"].as_f64().unwrap();
        // A model that learned something beats uniform guessing over bytes.
        assert!(loss > 0.0 && loss < (256f64).ln(), "held-out loss {loss}");
        let n = shard["shard"].as_u64().unwrap();
        assert!(dir.join(format!("v1/shard-{n:05}/w1.npy")).is_file());
    }
    let recheck = |persons: &[&str]| {
        // Each version's contributions CSV is checked against the same
        // recomputed training sets.
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
        let o = Command::new("python3")
            .arg(&check)
            .arg(&s.snapshot_dir)
            .arg(&dir)
            .arg("--contributions")
            .arg(&csv)
            .args(persons)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
    };
    recheck(&[]);
    let trained = ledger_payloads(&s, "model_trained");
    assert_eq!(
        roots(&trained[0]["shards"]),
        roots(&v1["shards"]),
        "the ledger names the roots"
    );

    ok(veto(&s.home, &["objections", "import", s.late_file.to_str().unwrap()]));
    let out = ok(veto(&s.home, &["unlearn", "--model", &model_id]));
    assert!(out.contains("retrained 1 of 4 shards"), "{out}");
    let v2 = json_file(&dir.join("model.json"));
    let retrained = v2["versions"][1]["retrained_shards"][0].as_u64().unwrap();
    // The retrained shard's set is the shard without the person (recomputed
    // from the snapshot's files); the other shards are untouched.
    recheck(&[&s.late_person]);
    for ((n, before), (_, after)) in roots(&v1["shards"]).into_iter().zip(roots(&v2["shards"])) {
        assert_eq!(n == retrained, before != after, "shard {n}");
    }
    let unlearned = ledger_payloads(&s, "model_unlearned");
    assert_eq!(roots(&unlearned[0]["shards"]), roots(&v2["shards"]));
    assert_eq!(unlearned[0]["retrained_shards"], serde_json::json!([retrained]));
}
