//! `veto serve` as a process: acknowledged objections survive a kill, and
//! receipts verify from the command line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn veto(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_veto"));
    c.arg("--home").arg(home).env_remove("VETO_HOME");
    c
}

/// Starts `veto serve` on a free port; returns the child and its base URL.
fn serve(home: &Path) -> (Child, String) {
    let mut child = veto(home)
        .args(["serve", "--listen", "127.0.0.1:0", "--policy", "strict"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the address is printed")
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_objection_survives_a_kill_and_its_receipt_verifies() {
    let home = tempfile::tempdir().unwrap();
    let out = veto(home.path())
        .args(["tokens", "add", "--name", "backend"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (mut child, base) = serve(home.path());

    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..400 {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(format!("{base}/api/v1/objections"))
                .bearer_auth(token)
                .json(&serde_json::json!({"person_id": format!("kill-{i}")}))
                .send()
                .await
                .ok()?;
            if res.status() != reqwest::StatusCode::CREATED {
                return None;
            }
            let body: serde_json::Value = res.json().await.ok()?;
            Some(body)
        }));
    }
    // Kill the server (SIGKILL, no shutdown) once the first quarter is answered.
    let mut acknowledged = Vec::new();
    let mut killed = false;
    for t in tasks {
        if let Some(body) = t.await.unwrap() {
            acknowledged.push(body);
        }
        if !killed && acknowledged.len() >= 100 {
            child.kill().unwrap();
            killed = true;
        }
    }
    child.wait().unwrap();
    assert!(
        killed && acknowledged.len() >= 100,
        "{} acknowledged",
        acknowledged.len()
    );

    // Every acknowledged objection is on file after the kill; its receipt verifies offline.
    let store = veto_store::Store::open(home.path()).await.unwrap();
    for body in &acknowledged {
        let id = body["objection"]["objection_id"].as_str().unwrap();
        assert!(
            store.objection(id).await.unwrap().is_some(),
            "{id} was acknowledged but is lost"
        );
    }
    store.close().await;
    let receipt = home.path().join("receipt.json");
    std::fs::write(&receipt, acknowledged[0]["receipt"].to_string()).unwrap();
    let out = veto(home.path())
        .args(["receipt", "verify", receipt.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: receipt"));
    let forged = acknowledged[0]["receipt"]
        .to_string()
        .replace("\"scope\":\"all\"", "\"scope\":\"facebook\"");
    std::fs::write(&receipt, forged).unwrap();
    let out = veto(home.path())
        .args(["receipt", "verify", receipt.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the signature does not match"));
}
