//! Several processes on one store, on each backend: two `veto serve`
//! behind one imaginary load balancer and `veto objections import`s, all
//! writing at once, make one ledger chain (no fork, no gap, no repeated
//! sequence number) in which every acknowledged objection appears exactly
//! once; and when one of the two portals is killed mid-load, every
//! objection that got a 201 is on file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use veto_store::Database;

fn veto(home: &Path, db: &Database) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_veto"));
    c.arg("--home")
        .arg(home)
        .env("VETO_DATABASE_URL", db_url(db))
        .env_remove("VETO_HOME")
        .env_remove("VETO_CRASH_AT")
        .env_remove("VETO_PAUSE_AT");
    c
}

fn db_url(db: &Database) -> String {
    match db {
        Database::Sqlite(path) => format!("sqlite://{}", path.display()),
        Database::Postgres(url) => url.clone(),
    }
}

fn ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Starts `veto serve` on a free port; returns the child and its base URL.
fn serve(home: &Path, db: &Database) -> (Child, String) {
    let mut child = veto(home, db)
        .args(["serve", "--listen", "127.0.0.1:0", "--policy", "strict"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("the address is printed: {first}"))
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

/// The backends to run on: SQLite always, PostgreSQL where configured.
async fn databases(dir: &Path) -> Vec<(std::path::PathBuf, Database)> {
    let sqlite_home = dir.join("sqlite");
    let mut all = vec![(sqlite_home.clone(), Database::default_for(&sqlite_home))];
    if let Some(pg) = veto_store::testing::fresh_postgres().await {
        all.push((dir.join("postgres"), pg));
    }
    all
}

/// Files `n` objections through the portals at `bases` in turn, all at
/// once; returns the ids of those answered 201 (or None where no answer
/// came, e.g. from a killed process).
/// Each 201 is also announced on `acks`.
async fn file_objections(
    bases: &[String],
    token: &str,
    prefix: &str,
    n: usize,
    acks: Option<tokio::sync::mpsc::UnboundedSender<()>>,
) -> Vec<Option<String>> {
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (client, base, token) = (client.clone(), bases[i % bases.len()].clone(), token.to_string());
            let person = format!("{prefix}-{i}");
            let acks = acks.clone();
            tokio::spawn(async move {
                let res = client
                    .post(format!("{base}/api/v1/objections"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({ "person_id": person }))
                    .send()
                    .await
                    .ok()?;
                if res.status() != reqwest::StatusCode::CREATED {
                    return None;
                }
                if let Some(acks) = acks {
                    acks.send(()).ok();
                }
                let body: Value = res.json().await.ok()?;
                body["objection"]["objection_id"].as_str().map(str::to_string)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// An objection file of `n` lines with ids `{prefix}-{i}`.
fn objection_file(path: &Path, prefix: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let lines: Vec<String> = ids
        .iter()
        .map(|id| {
            serde_json::json!({
                "objection_id": id, "person_id": format!("person-{id}"), "scope": "all",
                "filed_at": "2025-05-20T10:00:00+02:00", "withdrawn_at": null, "channel": "letter",
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    ids
}

/// The exported ledger's entries (without the head line), after checking
/// that `veto ledger verify` accepts the export.
fn exported_ledger(home: &Path, db: &Database) -> Vec<Value> {
    let file = home.join("ledger.jsonl");
    ok({
        let mut c = veto(home, db);
        c.args(["ledger", "export", "--out", file.to_str().unwrap()]);
        c
    });
    ok({
        let mut c = veto(home, db);
        c.args(["ledger", "verify", file.to_str().unwrap()]);
        c
    });
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("head").is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_portals_and_imports_at_once_make_one_chain_with_every_objection_once() {
    let dir = tempfile::tempdir().unwrap();
    for (home, db) in databases(dir.path()).await {
        let token = ok({
            let mut c = veto(&home, &db);
            c.args(["tokens", "add", "--name", "backend"]);
            c
        });
        let token = token.trim();
        let (mut a, base_a) = serve(&home, &db);
        let (mut b, base_b) = serve(&home, &db);
        // Three imports, started before the requests and running with them.
        let mut imported = Vec::new();
        let imports: Vec<Child> = (0..3)
            .map(|k| {
                let file = home.join(format!("objections-{k}.jsonl"));
                imported.extend(objection_file(&file, &format!("import{k}"), 150));
                veto(&home, &db)
                    .args(["objections", "import", file.to_str().unwrap()])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let filed = file_objections(&[base_a, base_b], token, "web", 600, None).await;
        for mut i in imports {
            assert!(i.wait().unwrap().success(), "an import failed on {db}");
        }
        a.kill().unwrap();
        b.kill().unwrap();
        a.wait().unwrap();
        b.wait().unwrap();
        let acknowledged: Vec<String> = filed
            .into_iter()
            .map(|f| f.expect("every request answered 201"))
            .collect();

        let entries = exported_ledger(&home, &db);
        let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(
            seqs,
            (0..entries.len() as u64).collect::<Vec<_>>(),
            "one chain, no gap or repeat on {db}"
        );
        let mut times: BTreeMap<String, usize> = BTreeMap::new();
        for e in entries.iter().filter(|e| e["kind"] == "objection_filed") {
            *times
                .entry(e["payload"]["objection_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        for id in acknowledged.iter().chain(&imported) {
            assert_eq!(times.get(id), Some(&1), "{id} in the ledger exactly once on {db}");
        }
        assert_eq!(
            times.len(),
            acknowledged.len() + imported.len(),
            "nothing else filed on {db}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_two_portals_loses_no_acknowledged_objection() {
    let dir = tempfile::tempdir().unwrap();
    for (home, db) in databases(dir.path()).await {
        let token = ok({
            let mut c = veto(&home, &db);
            c.args(["tokens", "add", "--name", "backend"]);
            c
        });
        let token = token.trim().to_string();
        let (mut a, base_a) = serve(&home, &db);
        let (mut b, base_b) = serve(&home, &db);
        let bases = [base_a, base_b];
        let (tx, mut acks) = tokio::sync::mpsc::unbounded_channel();
        let load = {
            let token = token.clone();
            tokio::spawn(async move { file_objections(&bases, &token, "kill", 800, Some(tx)).await })
        };
        // SIGKILL one portal (no shutdown) once 100 objections are
        // acknowledged, so that it dies with requests in flight.
        for _ in 0..100 {
            acks.recv().await.expect("the load acknowledges objections");
        }
        a.kill().unwrap();
        a.wait().unwrap();
        let filed = load.await.unwrap();
        b.kill().unwrap();
        b.wait().unwrap();
        let acknowledged: Vec<&String> = filed.iter().flatten().collect();
        assert!(acknowledged.len() >= 400, "the surviving portal kept answering on {db}");

        let store = veto_store::Store::open_at(&home, &db).await.unwrap();
        let mut stored = 0;
        for id in &acknowledged {
            assert!(
                store.objection(id).await.unwrap().is_some(),
                "{id} got a 201 but is lost on {db}"
            );
            stored += 1;
        }
        eprintln!(
            "{db}: {} of 800 acknowledged, {stored} of them stored, {} on file in all",
            acknowledged.len(),
            store.objections().await.unwrap().len()
        );
        store.close().await;
    }
}
