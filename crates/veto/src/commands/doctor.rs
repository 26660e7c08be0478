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
    let store = Store::open(home).await?;
    let mut findings = Vec::new();
    for r in store.recover(None).await? {
        let text = match r.outcome.as_str() {
            "running" => format!(
                "{} of {} in progress (state {}), op {}",
                r.kind, r.target, r.from, r.op_id
            ),
            "done" => format!("completed an unfinished {} of {} (was {})", r.kind, r.target, r.from),
            _ => format!("rolled back an unfinished {} of {} (was {})", r.kind, r.target, r.from),
        };
        findings.push(Finding { ok: true, text });
    }
    for dir in stray_staging(home) {
        let text = match std::fs::remove_dir_all(&dir) {
            Ok(()) => format!("removed {}, left by a command that died", dir.display()),
            Err(e) => format!("could not remove {}: {e}", dir.display()),
        };
        findings.push(Finding { ok: true, text });
    }
    check_snapshots(&store, &mut findings).await?;
    check_models(&store, &mut findings).await?;
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

async fn check_snapshots(store: &Store, findings: &mut Vec<Finding>) -> anyhow::Result<()> {
    let incomplete = store.snapshots_without_lookup().await?;
    for s in store.snapshots().await? {
        let dir = Path::new(&s.path);
        if !dir.join("manifest.json").is_file() {
            findings.push(Finding {
                ok: false,
                text: format!(
                    "snapshot {}: {} has no manifest.json (rebuild it to restore it)",
                    s.snapshot_id, s.path
                ),
            });
        }
        if incomplete.contains(&s.snapshot_id) {
            findings.push(Finding {
                ok: false,
                text: format!(
                    "snapshot {}: its per-person lookup was never completed (rebuild it)",
                    s.snapshot_id
                ),
            });
        }
    }
    Ok(())
}

async fn check_models(store: &Store, findings: &mut Vec<Finding>) -> anyhow::Result<()> {
    for m in store.models().await? {
        let on_disk = veto_models::train::read_manifest(Path::new(&m.path));
        let problem = match on_disk {
            Err(e) => Some(format!("{e}")),
            Ok(d) if d.version != m.version => Some(format!(
                "model.json is at version {}, the record at version {}",
                d.version, m.version
            )),
            Ok(d) => d
                .shards
                .iter()
                .find(|s| !Path::new(&m.path).join(&s.file).is_file())
                .map(|s| format!("{} is missing", s.file)),
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
/// operations (`.<name>.tmp-<pid>-<nanos>`, `.training-<pid>`) whose
/// process is gone.
fn stray_staging(home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for parent in [home.join("snapshots"), home.join("models")] {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(".training-")
                .or_else(|| {
                    name.split_once(".tmp-")
                        .map(|(_, rest)| rest.split('-').next().unwrap_or(""))
                })
                .and_then(|p| p.parse::<i32>().ok());
            if let Some(pid) = pid
                && !alive(pid)
            {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

fn alive(pid: i32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}
