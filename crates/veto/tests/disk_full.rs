//! A full disk under `<home>` or under `--out`: the build fails with an
//! error that names the file and the cause, nothing is listed, and nothing
//! complete-looking (or half-written) is left. Needs root to mount a small
//! tmpfs (CI runs as root); elsewhere it says loudly that it skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const AS_OF: &str = "2025-05-27T00:00:00+02:00";

fn veto(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veto"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("VETO_HOME")
        .env_remove("VETO_CRASH_AT")
        .output()
        .unwrap()
}

/// A tmpfs of `kib` KiB, unmounted when dropped.
struct Small(PathBuf);

impl Small {
    fn mount(at: PathBuf, kib: u32) -> Option<Small> {
        std::fs::create_dir_all(&at).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&at)
            .output()
            .ok()?;
        o.status.success().then_some(Small(at))
    }
}

impl Drop for Small {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&e.path()).into_iter().map(|f| format!("{name}/{f}")));
        } else {
            out.push(name);
        }
    }
    out.sort();
    out
}

fn export(tmp: &Path) -> PathBuf {
    let data = tmp.join("export");
    let o = veto(
        &tmp.join("gen"),
        &["generate", "--out", data.to_str().unwrap(), "--persons", "3000"],
    );
    assert!(o.status.success());
    data
}

fn assert_failed_cleanly(o: &Output, home: &Path) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a build that does not fit fails");
    assert!(
        err.contains("No space left on device") || err.contains("disk is full"),
        "names the cause: {err}"
    );
    let list = veto(home, &["snapshots", "list"]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert!(String::from_utf8_lossy(&list.stdout).starts_with("No snapshots yet"));
    let doctor = veto(home, &["doctor"]);
    assert!(doctor.status.success(), "{}", String::from_utf8_lossy(&doctor.stdout));
}

#[test]
fn a_full_disk_under_home_or_out_fails_the_build_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(small) = Small::mount(tmp.path().join("small-home"), 1200) else {
        // CI runs as root and must run this test; elsewhere it says so.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI could not mount a tmpfs: the full-disk test needs root"
        );
        eprintln!("!! SKIPPED the full-disk test: mounting a tmpfs needs root (CI runs it as root)");
        return;
    };
    let data = export(tmp.path());

    // The whole home on the small filesystem: the store fits, the snapshot does not.
    let home = small.0.join("home");
    let import = veto(
        &home,
        &["objections", "import", data.join("objections.jsonl").to_str().unwrap()],
    );
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    let build = [
        "build",
        "--data",
        data.to_str().unwrap(),
        "--policy",
        "strict",
        "--as-of",
        AS_OF,
    ];
    let o = veto(&home, &build);
    assert_failed_cleanly(&o, &home);
    let left: Vec<String> = files_under(&home)
        .into_iter()
        .filter(|f| !f.starts_with("veto.db") && !f.starts_with("locks/snapshot-"))
        .collect();
    assert!(left.is_empty(), "left under <home>: {left:?}");

    // Only --out on a small filesystem.
    let out_fs = Small::mount(tmp.path().join("small-out"), 300).expect("mounted once, mounts twice");
    let home = tmp.path().join("home");
    let o = veto(
        &home,
        &["objections", "import", data.join("objections.jsonl").to_str().unwrap()],
    );
    assert!(o.status.success());
    let out = out_fs.0.join("snapshot");
    let o = veto(&home, &[&build[..], &["--out", out.to_str().unwrap()]].concat());
    assert_failed_cleanly(&o, &home);
    assert!(
        files_under(&out_fs.0).is_empty(),
        "left under --out: {:?}",
        files_under(&out_fs.0)
    );
}
