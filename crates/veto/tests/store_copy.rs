//! The command line on PostgreSQL (SQLite where no server is configured),
//! and `veto store copy` moving that installation to SQLite and back: the
//! demo's whole story (generate, import, build, train, unlearn,
//! certificate), then lookup, prove and verify, and serve; after two copies
//! the ledger exports are byte for byte the source's, and so is a person's
//! lookup. A copy into a store that holds anything is refused.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use veto_store::Database;

fn veto(home: &Path, db: &Database, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veto"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env("VETO_DATABASE_URL", url(db))
        .env_remove("VETO_HOME")
        .output()
        .expect("veto runs")
}

fn url(db: &Database) -> String {
    match db {
        Database::Sqlite(path) => format!("sqlite://{}", path.display()),
        Database::Postgres(url) => url.clone(),
    }
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Starts `veto serve`, checks that it answers a person's API lookup of
/// the objections it holds, and stops it.
async fn serve_answers(home: &Path, db: &Database) {
    use std::io::{BufRead, BufReader};
    let token = ok(veto(home, db, &["tokens", "add", "--name", "copy-check"]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_veto"))
        .arg("--home")
        .arg(home)
        .args(["serve", "--listen", "127.0.0.1:0", "--policy", "strict"])
        .env("VETO_DATABASE_URL", url(db))
        .env_remove("VETO_HOME")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/objections"))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({ "person_id": "served-person" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::CREATED, "the portal files on {db}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_runs_on_postgres_and_moves_to_sqlite_and_back_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let source = match veto_store::testing::fresh_postgres().await {
        Some(pg) => pg,
        None => Database::Sqlite(tmp.path().join("source.db")),
    };
    ok(veto(&home, &source, &["demo", "--persons", "150"]));

    // A person's lookup, a proof of their items and its offline check.
    let person = (0..150)
        .map(|i| format!("p{i:08}"))
        .find(|p| {
            let v: serde_json::Value =
                serde_json::from_str(&ok(veto(&home, &source, &["lookup", "--person", p, "--json"]))).unwrap();
            v["snapshots"][0]["included"].as_u64().unwrap_or(0) > 0
        })
        .expect("someone is included");
    let lookup = ok(veto(&home, &source, &["lookup", "--person", &person, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&lookup).unwrap();
    let snapshot_id = v["snapshots"][0]["snapshot_id"].as_str().unwrap().to_string();
    let proof = tmp.path().join("proof.json");
    let ledger = tmp.path().join("ledger.jsonl");
    let proof_args = ["prove", "--person", &person, "--snapshot", &snapshot_id, "--out"];
    ok(veto(
        &home,
        &source,
        &[&proof_args[..], &[proof.to_str().unwrap()]].concat(),
    ));
    ok(veto(
        &home,
        &source,
        &["ledger", "export", "--out", ledger.to_str().unwrap()],
    ));
    let snapshot_dir = home.join("snapshots").join(&snapshot_id);
    let verify = [
        "verify",
        proof.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
        "--snapshot",
        snapshot_dir.to_str().unwrap(),
    ];
    assert!(ok(veto(&home, &source, &verify)).trim_end().ends_with("ok"));
    serve_answers(&home, &source).await;

    // Source → SQLite → a fresh store of the source's kind.
    let middle = Database::Sqlite(tmp.path().join("middle.db"));
    let back = match &source {
        Database::Postgres(_) => veto_store::testing::fresh_postgres().await.unwrap(),
        Database::Sqlite(_) => Database::Sqlite(tmp.path().join("back.db")),
    };
    ok(veto(
        &home,
        &source,
        &["store", "copy", "--from", &url(&source), "--to", &url(&middle)],
    ));
    ok(veto(
        &home,
        &source,
        &["store", "copy", "--from", &url(&middle), "--to", &url(&back)],
    ));
    let export = |db: &Database, name: &str| {
        let file = tmp.path().join(name);
        ok(veto(&home, db, &["ledger", "export", "--out", file.to_str().unwrap()]));
        std::fs::read(file).unwrap()
    };
    let original = export(&source, "source.jsonl");
    assert_eq!(
        export(&middle, "middle.jsonl"),
        original,
        "SQLite copy: the same ledger, same signed head"
    );
    assert_eq!(
        export(&back, "back.jsonl"),
        original,
        "copied back: the same ledger, same signed head"
    );
    assert_eq!(
        ok(veto(&home, &back, &["lookup", "--person", &person, "--json"])),
        lookup
    );

    // A copy into a store that holds anything is refused and changes nothing.
    let o = veto(
        &home,
        &source,
        &["store", "copy", "--from", &url(&source), "--to", &url(&middle)],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(export(&middle, "middle-again.jsonl"), original);
}
