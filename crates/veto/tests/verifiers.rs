//! The verifiers refuse what they cannot vouch for: `veto verify --snapshot`
//! re-hashes every file its manifest names, `veto ledger verify`, `veto
//! verify PROOF` and `veto receipt verify` parse strictly, ledgers and
//! receipts written before JCS still verify, and `veto receipt verify`
//! never creates state.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn veto_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veto"))
        .current_dir(cwd)
        .args(args)
        .env_remove("VETO_HOME")
        .output()
        .expect("veto runs")
}

fn veto(home: &Path, args: &[&str]) -> Output {
    let home = home.to_str().unwrap();
    veto_in(Path::new("."), &[&["--home", home][..], args].concat())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../veto-core/tests/fixtures")
        .join(name)
}

/// The genesis key of the fixtures (the public key of the seed [1; 32]).
const FIXTURE_GENESIS: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

/// A demo installation, its one snapshot and its exported ledger.
struct Demo {
    tmp: tempfile::TempDir,
    home: PathBuf,
    snapshot: PathBuf,
    ledger: PathBuf,
}

fn demo() -> Demo {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("demo");
    let out = veto(&home, &["demo", "--persons", "120"]);
    assert!(out.status.success(), "{}", text(&out));
    let snapshot = std::fs::read_dir(home.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("manifest.json").is_file())
        .expect("a snapshot");
    let ledger = tmp.path().join("ledger.jsonl");
    let out = veto(&home, &["ledger", "export", "--out", ledger.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    Demo {
        tmp,
        home,
        snapshot,
        ledger,
    }
}

/// Runs `veto ledger verify` on `ledger` with line `n` (0-based) replaced.
fn verify_with_line(d: &Demo, n: usize, line: &str) -> Output {
    let original = std::fs::read_to_string(&d.ledger).unwrap();
    let changed: Vec<&str> = original
        .lines()
        .enumerate()
        .map(|(i, l)| if i == n { line } else { l })
        .collect();
    let path = d.tmp.path().join("changed.jsonl");
    std::fs::write(&path, changed.join("\n") + "\n").unwrap();
    veto(&d.home, &["ledger", "verify", path.to_str().unwrap()])
}

#[test]
fn ledger_verify_refuses_extra_fields_duplicate_keys_and_other_spellings() {
    let d = demo();
    let out = veto(&d.home, &["ledger", "verify", d.ledger.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let ledger = std::fs::read_to_string(&d.ledger).unwrap();
    let (n, line) = ledger
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("\"kind\":\"objection_filed\""))
        .expect("an objection entry");
    assert!(line.contains("\"format\":2"), "new entries are format 2: {line}");

    let extra = line.replacen("{\"at\"", "{\"approved\":true,\"at\"", 1);
    let out = verify_with_line(&d, n, &extra);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("line {}: unknown field `approved`", n + 1)),
        "{}",
        text(&out)
    );

    // A first `payload` with another scope, the original after it: serde_json
    // kept the last copy, so the hash matched and this used to verify.
    let (before, after) = line.split_once(",\"payload\":").unwrap();
    let payload_end = after.find("},\"prev\"").unwrap() + 1;
    let altered = after[..payload_end].replacen("\"scope\":\"", "\"scope\":\"x", 1);
    let doubled = format!("{before},\"payload\":{altered},\"payload\":{after}");
    let out = verify_with_line(&d, n, &doubled);
    assert!(!out.status.success());
    assert!(text(&out).contains("duplicate key \"payload\""), "{}", text(&out));

    let spaced = line.replacen(",\"kind\":", ", \"kind\":", 1);
    let out = verify_with_line(&d, n, &spaced);
    assert!(!out.status.success());
    assert!(text(&out).contains("not in canonical form"), "{}", text(&out));
}

#[test]
fn a_ledger_and_a_receipt_written_before_jcs_still_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = fixture("ledger-format1.jsonl");
    let out = veto_in(
        tmp.path(),
        &[
            "ledger",
            "verify",
            ledger.to_str().unwrap(),
            "--trusted-key",
            FIXTURE_GENESIS,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("ok: 6 entries"), "{}", text(&out));
    let receipt = fixture("receipt-format1.json");
    let out = veto_in(
        tmp.path(),
        &[
            "receipt",
            "verify",
            receipt.to_str().unwrap(),
            "--public-key",
            FIXTURE_GENESIS,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "nothing written");
}

#[test]
fn receipt_verify_without_home_creates_nothing_and_refuses_added_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let receipt = tmp.path().join("receipt.json");
    std::fs::copy(fixture("receipt-format1.json"), &receipt).unwrap();
    let receipt_s = receipt.to_str().unwrap();

    // Before: this created ./veto-data with a fresh key and then failed.
    let out = veto_in(&cwd, &["receipt", "verify", receipt_s]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no veto installation at ") && text(&out).contains("/cwd/veto-data"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("--public-key"), "{}", text(&out));
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "nothing created");

    let out = veto_in(&cwd, &["receipt", "verify", receipt_s, "--public-key", FIXTURE_GENESIS]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "nothing created");

    // An added field: the signed fields still verify, so this used to say ok.
    let original = std::fs::read_to_string(&receipt).unwrap();
    let added = original.replacen("{\n", "{\n  \"approved_by\": \"the DPO\",\n", 1);
    std::fs::write(&receipt, added).unwrap();
    let out = veto_in(&cwd, &["receipt", "verify", receipt_s, "--public-key", FIXTURE_GENESIS]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown field `approved_by`"), "{}", text(&out));
}

#[tokio::test]
async fn receipt_verify_reads_an_existing_homes_key_without_changing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let store = veto_store::Store::open(&home).await.unwrap();
    let unsigned: veto_core::receipt::Receipt =
        serde_json::from_str(&std::fs::read_to_string(fixture("receipt-format1.json")).unwrap()).unwrap();
    let receipt = store.sign_receipt(unsigned).await.unwrap();
    store.close().await;
    let file = tmp.path().join("receipt.json");
    std::fs::write(&file, serde_json::to_string_pretty(&receipt).unwrap()).unwrap();
    let listing = |dir: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let names = |files: &[(String, Vec<u8>)]| {
        files
            .iter()
            .map(|(n, b)| format!("{n} ({} bytes)", b.len()))
            .collect::<Vec<_>>()
    };
    let before = listing(&home);
    let out = veto(&home, &["receipt", "verify", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&receipt.public_key), "{}", text(&out));
    let after = listing(&home);
    assert!(
        after == before,
        "the home changed: {:?} -> {:?}",
        names(&before),
        names(&after)
    );
}

#[test]
fn verify_snapshot_rehashes_every_file_the_manifest_names() {
    let d = demo();
    let (snapshot, ledger) = (d.snapshot.to_str().unwrap(), d.ledger.to_str().unwrap());
    let out = veto(&d.home, &["verify", "--snapshot", snapshot, "--ledger", ledger]);
    assert!(out.status.success(), "{}", text(&out));
    // Before, these edits said "ok": only the shards were re-hashed.
    for file in ["policy.toml", "index.parquet", "exclusions.parquet"] {
        let path = d.snapshot.join(file);
        let original = std::fs::read(&path).unwrap();
        let mut edited = original.clone();
        if file == "policy.toml" {
            edited.extend_from_slice(b"\n# relaxed after the build\n");
        } else {
            let middle = edited.len() / 2;
            edited[middle] ^= 0x01;
        }
        std::fs::write(&path, &edited).unwrap();
        let out = veto(&d.home, &["verify", "--snapshot", snapshot, "--ledger", ledger]);
        assert!(!out.status.success(), "{file}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("FAILED: {file}: SHA-256 or size differs from the manifest")),
            "{file}: {}",
            text(&out)
        );
        std::fs::remove_file(&path).unwrap();
        let out = veto(&d.home, &["verify", "--snapshot", snapshot, "--ledger", ledger]);
        assert!(!out.status.success());
        assert!(
            text(&out).contains(&format!("FAILED: {file}: missing")),
            "{}",
            text(&out)
        );
        std::fs::write(&path, &original).unwrap();
    }
    let out = veto(&d.home, &["verify", "--snapshot", snapshot, "--ledger", ledger]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A word the failure names, and the change to the bundle that causes it.
type Change<'a> = (&'a str, &'a dyn Fn(&mut serde_json::Value));

#[test]
fn verify_refuses_a_proof_whose_top_level_claims_were_changed_or_items_repeated() {
    let d = demo();
    let included = (0..120)
        .map(|i| format!("p{i:08}"))
        .find(|p| {
            let out = veto(&d.home, &["lookup", "--person", p, "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["snapshots"][0]["included"].as_u64().unwrap_or(0) > 0
        })
        .expect("someone is included");
    let snapshot_id = d.snapshot.file_name().unwrap().to_str().unwrap();
    let proof = d.tmp.path().join("proof.json");
    let proof_s = proof.to_str().unwrap();
    let out = veto(
        &d.home,
        &[
            "prove",
            "--person",
            &included,
            "--snapshot",
            snapshot_id,
            "--out",
            proof_s,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let ledger = d.ledger.to_str().unwrap();
    let out = veto(&d.home, &["verify", proof_s, "--ledger", ledger]);
    assert!(out.status.success(), "{}", text(&out));

    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    let changes: [Change; 4] = [
        ("merkle_root", &|v| {
            v["merkle_root"] = serde_json::json!("ab".repeat(32))
        }),
        ("tree_size", &|v| {
            v["tree_size"] = serde_json::json!(v["tree_size"].as_u64().unwrap() * 2)
        }),
        ("format", &|v| v["format"] = serde_json::json!("veto-proof/2")),
        ("more than once", &|v| {
            let first = v["included"][0].clone();
            v["included"].as_array_mut().unwrap().push(first);
        }),
    ];
    for (word, change) in changes {
        let mut v = original.clone();
        change(&mut v);
        std::fs::write(&proof, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        let out = veto(&d.home, &["verify", proof_s, "--ledger", ledger]);
        assert!(!out.status.success(), "{word}: {}", text(&out));
        assert!(
            text(&out).lines().any(|l| l.starts_with("FAILED") && l.contains(word)),
            "{word}: {}",
            text(&out)
        );
    }
}

/// A store whose ledger was written before format 2 (the fixture's entries,
/// format 1, as the migration leaves them) goes on in format 2, and its
/// export verifies from the old genesis key, here and in Python.
#[tokio::test]
async fn a_store_begun_in_format_1_appends_format_2_and_still_verifies() {
    use sqlx::Connection;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    veto_store::Store::open(&home).await.unwrap().close().await;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(home.join("veto.db"));
    let mut db = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("DELETE FROM ledger").execute(&mut db).await.unwrap();
    let export = std::fs::read_to_string(fixture("ledger-format1.jsonl")).unwrap();
    for line in export.lines().filter(|l| !l.starts_with("{\"head\"")) {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        sqlx::query("INSERT INTO ledger (seq, kind, at, payload, prev, hash) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(e["seq"].as_i64().unwrap())
            .bind(e["kind"].as_str().unwrap())
            .bind(e["at"].as_str().unwrap())
            .bind(e["payload"].to_string())
            .bind(e["prev"].as_str().unwrap())
            .bind(e["hash"].as_str().unwrap())
            .execute(&mut db)
            .await
            .unwrap();
    }
    // The key in force after the fixture's rotation: the seed [2; 32].
    sqlx::query("UPDATE installation SET value = ? WHERE key = 'signing_key'")
        .bind(hex::encode([2u8; 32]))
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();

    let store = veto_store::Store::open(&home).await.unwrap();
    let filed = veto_core::time::parse_rfc3339("2025-07-01T10:00:00Z").unwrap();
    let objection = veto_core::Objection {
        objection_id: "obj-new".into(),
        person_id: "p-new".into(),
        scope: veto_core::ObjectionScope::All,
        filed_at: filed,
        withdrawn_at: None,
        channel: veto_core::Channel::Letter,
    };
    store.import_objections(&[objection]).await.unwrap();
    store.close().await;

    let ledger = tmp.path().join("ledger.jsonl");
    let out = veto(&home, &["ledger", "export", "--out", ledger.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let exported = std::fs::read_to_string(&ledger).unwrap();
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(
        lines[..6],
        export.lines().collect::<Vec<_>>()[..6],
        "old lines unchanged"
    );
    assert!(lines[6].contains("\"format\":2"), "{}", lines[6]);
    let out = veto(
        &home,
        &[
            "ledger",
            "verify",
            ledger.to_str().unwrap(),
            "--trusted-key",
            FIXTURE_GENESIS,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("ok: 7 entries"), "{}", text(&out));

    if std::env::var_os("VETO_SKIP_PYTHON_INTEROP").is_some() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/verify_ledger.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&ledger)
        .arg(FIXTURE_GENESIS)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
