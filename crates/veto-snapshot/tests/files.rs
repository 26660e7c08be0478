//! Nothing half-written looks complete, and the readers of snapshots do not
//! compile the query engine.

use std::path::Path;

use veto_snapshot::files::Staging;

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn a_staging_directory_dropped_before_its_commit_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("snap-1");
    {
        let staging = Staging::next_to(&dest).unwrap();
        std::fs::write(staging.path().join("manifest.json"), b"{}").unwrap();
        assert_eq!(
            names(root.path()).len(),
            1,
            "the staging directory is there while written"
        );
    }
    assert!(
        names(root.path()).is_empty(),
        "a build that stopped leaves no directory behind"
    );
}

#[test]
fn a_commit_renames_into_place_and_never_overwrites() {
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("snap-1");
    let staging = Staging::next_to(&dest).unwrap();
    std::fs::write(staging.path().join("manifest.json"), b"first").unwrap();
    staging.commit(&dest).unwrap();
    assert_eq!(names(root.path()), ["snap-1"]);

    let again = Staging::next_to(&dest).unwrap();
    std::fs::write(again.path().join("manifest.json"), b"second").unwrap();
    let err = again.commit(&dest).unwrap_err();
    assert!(matches!(err, veto_snapshot::FileError::Exists(_)), "{err}");
    assert_eq!(std::fs::read(dest.join("manifest.json")).unwrap(), b"first");
    assert_eq!(names(root.path()), ["snap-1"], "the refused staging directory is gone");
}

#[test]
fn an_atomic_write_leaves_the_file_and_no_temporary_one() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("model.json");
    veto_snapshot::write_atomic(&path, b"new").unwrap();
    veto_snapshot::write_atomic(&path, b"newer").unwrap();
    assert_eq!(names(root.path()), ["model.json"]);
    assert_eq!(std::fs::read(&path).unwrap(), b"newer");
    // SHA-256 of "newer", from coreutils' sha256sum.
    let (sha, len) = veto_snapshot::sha256_file(&path).unwrap();
    assert_eq!(
        (sha.as_str(), len),
        ("804f51f71254c4081e37e7c887073560f4a6fa6cdad202e9ac67e032c43ed1e1", 5)
    );
}

#[test]
fn the_snapshot_readers_do_not_depend_on_the_query_engine() {
    // Architecture invariant (ARCHITECTURE.md): veto-snapshot and
    // veto-models read snapshots with arrow and parquet alone.
    for krate in ["veto-snapshot", "veto-models"] {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(krate)
            .join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let deps = text
            .split("\n[dependencies]\n")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap_or_else(|| panic!("{} has a [dependencies] table", manifest.display()));
        for line in deps.lines() {
            let name = line.split(['.', '=', ' ']).next().unwrap_or("");
            assert!(
                name != "datafusion" && name != "veto-engine",
                "{krate} depends on {name}: {line}"
            );
        }
    }
}
