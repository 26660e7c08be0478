//! `veto doctor`: recovers what commands that died left unfinished, and
//! checks that the records and the files on disk agree.

use std::path::{Path, PathBuf};

use veto_store::Store;

/// One finding; `ok == false` makes the command fail.
struct Finding {
    ok: bool,
    text: String,
}

pub async fn run(home: &Path) -> anyhow::Result<bool> {
    let store = Store::open_at(home, &super::database(home)).await?;
    let mut findings = Vec::new();
    let mut busy = Vec::new();
    for r in store.recover(None).await? {
        let (ok, text) = match r.outcome.as_str() {
            "running" => {
                busy.push(r.target.clone());
                (
                    true,
                    format!(
                        "{} of {} in progress (state {}), op {}",
                        r.kind, r.target, r.from, r.op_id
                    ),
                )
            }
            "done" => (
                true,
                format!("completed an unfinished {} of {} (was {})", r.kind, r.target, r.from),
            ),
            "rolled_back" => (
                true,
                format!("rolled back an unfinished {} of {} (was {})", r.kind, r.target, r.from),
            ),
            failed => (
                false,
                format!(
                    "could not recover the {} of {} (op {}, state {}): {failed}",
                    r.kind, r.target, r.op_id, r.from
                ),
            ),
        };
        findings.push(Finding { ok, text });
    }
    let recorded: Vec<String> = store.snapshots().await?.into_iter().map(|s| s.path).collect();
    for dir in stray_staging(home, &recorded) {
        let text = match std::fs::remove_dir_all(&dir) {
            Ok(()) => format!("removed {}, left by a command that died", dir.display()),
            Err(e) => format!("could not remove {}: {e}", dir.display()),
        };
        findings.push(Finding { ok: true, text });
    }
    check_snapshots(&store, &mut findings).await?;
    check_models(&store, &busy, &mut findings).await?;
    store.close().await;
    let healthy = findings.iter().all(|f| f.ok);
    for f in &findings {
        println!("{} {}", if f.ok { "  " } else { "!!" }, f.text);
    }
    println!(
        "{}",
        if healthy {
            "The records and the files on disk agree."
        } else {
            "Records and files disagree; see the lines marked !!."
        }
    );
    Ok(healthy)
}

/// Every snapshot on record: its manifest is the recorded one, and every
/// file it names re-hashes to the manifest's hash (as `veto verify
/// --snapshot` does, against the ledger too).
async fn check_snapshots(store: &Store, findings: &mut Vec<Finding>) -> anyhow::Result<()> {
    let incomplete = store.snapshots_without_lookup().await?;
    let ledger = store.ledger_entries().await?;
    for s in store.snapshots().await? {
        let bad = |text: String| Finding {
            ok: false,
            text: format!("snapshot {}: {text} (rebuild it to restore it)", s.snapshot_id),
        };
        let dir = Path::new(&s.path);
        match veto_audit::read_manifest(dir) {
            Err(e) => findings.push(bad(format!("{e}"))),
            Ok((_, bytes)) if bytes != s.manifest.as_bytes() => {
                findings.push(bad(format!("{} holds another manifest than the recorded one", s.path)))
            }
            Ok(_) => match veto_audit::snapshot::verify(dir, Some(&ledger)) {
                Err(e) => findings.push(bad(format!("{e}"))),
                Ok(check) => findings.extend(check.failures.into_iter().map(bad)),
            },
        }
        if incomplete.contains(&s.snapshot_id) {
            findings.push(bad("its per-person lookup was never completed".into()));
        }
    }
    Ok(())
}

/// Every model on record: model.json is the recorded version and each
/// current shard model re-hashes to its recorded hash. Models that a live
/// command is changing are left alone.
async fn check_models(store: &Store, busy: &[String], findings: &mut Vec<Finding>) -> anyhow::Result<()> {
    for m in store.models().await? {
        if busy.contains(&m.model_id) {
            continue;
        }
        let dir = Path::new(&m.path);
        let problem = match veto_models::train::read_manifest(dir) {
            Err(e) => Some(format!("{e}")),
            Ok(d) if d.version != m.version => Some(format!(
                "model.json is at version {}, the record at version {}",
                d.version, m.version
            )),
            Ok(d) => d.shards.iter().find_map(|s| {
                // An exec trainer's shard is its artifacts, each with its
                // own hash; the built-in one's is its one model file.
                let files: Vec<(&str, &str)> = if s.artifacts.is_empty() {
                    vec![(&s.file, &s.model_sha256)]
                } else {
                    s.artifacts
                        .iter()
                        .map(|a| (a.file.as_str(), a.sha256.as_str()))
                        .collect()
                };
                files
                    .into_iter()
                    .find_map(|(file, want)| match veto_snapshot::sha256_file(&dir.join(file)) {
                        Err(e) => Some(format!("{e}")),
                        Ok((sha, _)) if sha != want => Some(format!("{file} differs from its recorded hash")),
                        Ok(_) => None,
                    })
            }),
        };
        if let Some(problem) = problem {
            findings.push(Finding {
                ok: false,
                text: format!("model {}: {problem}", m.model_id),
            });
        }
    }
    Ok(())
}

/// Staging directories from before builds and trainings were recorded
/// operations, exactly as those versions named them
/// (`.<name>.tmp-<pid>-<nanos>`, `.training-<pid>`), whose process is gone
/// and that no record names.
fn stray_staging(home: &Path, recorded: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for parent in [home.join("snapshots"), home.join("models")] {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let pid = match name.strip_prefix('.') {
                Some(rest) if rest.starts_with("training-") && digits(&rest[9..]) => rest[9..].parse::<i32>().ok(),
                Some(rest) => rest
                    .rsplit_once(".tmp-")
                    .and_then(|(_, tail)| match tail.split_once('-') {
                        Some((pid, nanos)) if digits(pid) && digits(nanos) => pid.parse::<i32>().ok(),
                        _ => None,
                    }),
                None => None,
            };
            let path = entry.path();
            if let Some(pid) = pid
                && !alive(pid)
                && !recorded.iter().any(|r| Path::new(r) == path)
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn alive(pid: i32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}
