//! Replays the fuzz corpus through the targets: the seeds in
//! `fuzz/corpus/<target>/` and every crash once found, kept in
//! `fuzz/regressions/<target>/`. This is the fuzzing smoke test CI runs
//! (no sanitizer build there); a fixed crash that comes back fails it.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files directly in `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = read
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(kind: &str, require: bool) {
    let mut replayed = 0;
    for (name, target) in veto_fuzz::TARGETS {
        let dir = fuzz_dir().join(kind).join(name);
        let inputs = files(&dir);
        assert!(!require || !inputs.is_empty(), "{} has no seed inputs", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).expect("a readable corpus file");
            // A panic names the input that caused it.
            eprintln!("{name}: {}", input.display());
            target(&data);
            replayed += 1;
        }
    }
    eprintln!("{kind}: {replayed} inputs replayed");
}

#[test]
fn every_seed_input_runs_clean() {
    replay("corpus", true);
}

#[test]
fn every_crash_found_stays_fixed() {
    replay("regressions", false);
}

#[test]
fn every_target_survives_empty_and_junk_input() {
    for (_, target) in veto_fuzz::TARGETS {
        for data in [
            &b""[..],
            b"\n",
            b"\xff\xfe",
            b"{}",
            b"PAR1",
            b"PAR1\0\0\0\0PAR1",
            b"[]\n{\"head\":{}}",
        ] {
            target(data);
        }
    }
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for (name, _) in veto_fuzz::TARGETS {
        let path = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(path.is_file(), "{} is missing", path.display());
    }
}

/// The seed bundles verify against the ledger the proof target checks
/// them with, so the fuzzer starts where every check passes and mutates
/// towards each failure from there.
#[test]
fn the_seed_proofs_verify_against_the_bundled_ledger() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let ledger = std::fs::read_to_string(data.join("ledger.jsonl")).expect("the bundled ledger");
    let (entries, head) = veto_audit::ledger_file::parse(&ledger).expect("it parses");
    veto_core::ledger::verify(&entries, &head, None).expect("it verifies");
    let mut proved = 0;
    for input in files(&fuzz_dir().join("corpus/proof_bundle")) {
        let text = std::fs::read_to_string(&input).expect("a readable seed");
        let bundle = veto_audit::proof::ProofBundle::from_json(&text).expect("a seed parses");
        let check = veto_audit::proof::verify(&bundle, &entries, None).expect("a seed is checked");
        assert!(check.ok(), "{}: {:?}", input.display(), check.failures);
        proved += check.included_verified;
    }
    assert!(proved > 0, "no seed proves an included item");
}

/// Parquet files the decoder panics on (found by fuzzing `parquet_export`):
/// a dictionary page whose index bit width exceeds 32 (the parquet crate
/// asserts), and a footer whose embedded Arrow schema names type NONE
/// (arrow-ipc's `unimplemented!`). veto reports each as a damaged file,
/// naming it, on every path that reads items and persons.
#[test]
fn parquet_files_the_decoder_panics_on_are_damaged_files() {
    for name in ["dictionary-index-bit-width.parquet", "arrow-schema-type-none.parquet"] {
        a_damaged_file(name);
    }
}

fn a_damaged_file(name: &str) {
    use veto_engine::export::{OnError, Rejections, TableFile, TableFormat, check_in_place, load_persons, stage_items};
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let path = scratch.path().join("items.parquet");
    std::fs::copy(fuzz_dir().join("regressions/parquet_export").join(name), &path).expect("the regression input");
    let known = scratch.path().join("persons.jsonl");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/persons.jsonl"), &known).expect("persons");
    let as_of = chrono::DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z")
        .expect("an instant")
        .to_utc();
    let mut rejections = Rejections::new(OnError::Abort, scratch.path().join("rejected.jsonl"));
    let persons_table = TableFile {
        path: known,
        format: TableFormat::JsonLines,
    };
    let persons = load_persons(&persons_table, as_of, &mut rejections).expect("the bundled persons");
    let table = TableFile {
        path,
        format: TableFormat::Parquet,
    };
    let hidden = indicatif::ProgressBar::hidden();
    let damaged = |e: veto_engine::BuildError| {
        let message = e.to_string();
        assert!(
            message.contains("items.parquet") && message.contains("damaged"),
            "{name}: {message}"
        );
    };
    damaged(check_in_place(&table, &persons, 1, &hidden).expect_err("a damaged file"));
    let staging = scratch.path().join("staged.parquet");
    for mode in [OnError::Abort, OnError::Quarantine] {
        let mut rejections = Rejections::new(mode, scratch.path().join("rejected.jsonl"));
        damaged(stage_items(&table, &persons, &mut rejections, &staging, &hidden).expect_err("a damaged file"));
    }
}
