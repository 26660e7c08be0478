//! Fuzz targets over veto's parsers of untrusted input.
//!
//! Each target takes arbitrary bytes and hands them to the real entry point
//! veto uses for that input: the export readers of `veto_engine::export`
//! (which take files, so the bytes are written to a scratch file first), the
//! policy loader, and the strict parsers and verifiers of ledger exports,
//! proof bundles and receipts. A target ignores every `Err`: refusing bad
//! input is the parsers' job. What it must never do is panic, abort, hang or
//! run out of memory, whatever the bytes; libFuzzer (`fuzz/`, `bench/fuzz`)
//! reports any of those as a crash.
//!
//! Where a parser promises more than "no panic", the target checks it, so a
//! broken promise is a crash too: a receipt, proof bundle or ledger export
//! that parses must read back the same after veto writes it again (the
//! strict parsers vouch that the document checked is the document shown).
//!
//! The same functions run in the ordinary test suite
//! (`tests/corpus.rs` replays `fuzz/corpus` and `fuzz/regressions`), so a
//! crash found once stays fixed without a sanitizer build in CI.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use veto_audit::{ledger_file, proof};
use veto_core::ledger::Entry;
use veto_core::receipt::Receipt;
use veto_core::{Platform, Policy};
use veto_engine::export::{
    OnError, Persons, Rejections, TableFile, TableFormat, check_in_place, load_persons, queryable_rows,
    read_objections, stage_items,
};

/// A fuzz target: any bytes in, no panic out.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/<name>.rs` and the corpus
/// directories `fuzz/corpus/<name>/` and `fuzz/regressions/<name>/` call it.
pub const TARGETS: &[(&str, Target)] = &[
    ("objections_jsonl", objections_jsonl),
    ("persons_jsonl", persons_jsonl),
    ("items_jsonl", items_jsonl),
    ("parquet_export", parquet_export),
    ("policy_toml", policy_toml),
    ("ledger_export", ledger_export),
    ("proof_bundle", proof_bundle),
    ("receipt", receipt),
];

/// Replaces libFuzzer's panic hook (which aborts on every panic, caught or
/// not) with one that prints the panic's place and message: veto catches
/// the parquet decoder's panics on damaged pages and reports the file as
/// damaged (`veto_engine::export`), and such a caught panic is no crash. A
/// panic that reaches the target still is one: libfuzzer-sys aborts on it.
/// Called once, from each fuzz target's `init`.
pub fn init_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| l.to_string()).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("panicked at {location}: {message}");
    }));
}

/// The persons the items targets check authors against: the persons of the
/// seed exports (`veto generate --persons 5`), so seed items pass the author
/// check and the fuzzer reaches the checks after it.
const PERSONS: &str = include_str!("../data/persons.jsonl");

/// The ledger export proof bundles are verified against: the demo ledger
/// whose snapshot the seed bundles come from, so a seed bundle verifies and
/// the fuzzer starts from the path where every check passes.
const LEDGER: &str = include_str!("../data/ledger.jsonl");

/// The build's `as_of` for the export readers (birth dates after it are
/// refused). Fixed, so a corpus file behaves the same on every day.
fn as_of() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0)
        .single()
        .expect("a valid instant")
}

static LEDGER_ENTRIES: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    let (entries, head) = ledger_file::parse(LEDGER).expect("the bundled ledger parses");
    veto_core::ledger::verify(&entries, &head, None).expect("the bundled ledger verifies");
    entries
});

/// A scratch directory per thread (the readers take paths; libFuzzer runs
/// one input at a time per thread, tests run targets on several threads),
/// with the persons table the items targets need, loaded once.
struct Scratch {
    dir: tempfile::TempDir,
    persons: Persons,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("veto-fuzz-")
            .tempdir()
            .expect("a scratch directory");
        let path = dir.path().join("known-persons.jsonl");
        std::fs::write(&path, PERSONS).expect("writing the scratch persons file");
        let table = TableFile {
            path,
            format: TableFormat::JsonLines,
        };
        let mut rejections = Rejections::new(OnError::Abort, dir.path().join("known-rejected.jsonl"));
        let persons = load_persons(&table, as_of(), &mut rejections).expect("the bundled persons load");
        Scratch { dir, persons }
    }

    /// Writes `data` to `name` in the scratch directory.
    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, data).expect("writing a scratch file");
        path
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

fn with_scratch(f: impl FnOnce(&Scratch)) {
    SCRATCH.with(|cell| {
        let mut cell = cell.borrow_mut();
        f(cell.get_or_insert_with(Scratch::new))
    })
}

/// Both ways a build treats bad rows: stop at the first, or set each aside
/// in `rejected.jsonl` and go on (a different path through every reader).
const MODES: [OnError; 2] = [OnError::Abort, OnError::Quarantine];

/// An objection file, as `veto objections import` reads it.
pub fn objections_jsonl(data: &[u8]) {
    with_scratch(|s| {
        let _ = read_objections(&s.file("objections.jsonl", data));
    })
}

/// A persons table in JSON Lines, as `veto build` loads it.
pub fn persons_jsonl(data: &[u8]) {
    with_scratch(|s| {
        let path = s.file("persons.jsonl", data);
        load_persons_both_ways(s, &path, TableFormat::JsonLines);
    })
}

/// An items table in JSON Lines, validated and staged as `veto build` does
/// it, against the bundled persons.
pub fn items_jsonl(data: &[u8]) {
    with_scratch(|s| {
        let path = s.file("items.jsonl", data);
        stage_items_both_ways(s, &path, TableFormat::JsonLines);
    })
}

/// A Parquet file as either table of an export: loaded as persons, and as
/// items checked in place (when its footer says the query could read it
/// directly) and staged.
pub fn parquet_export(data: &[u8]) {
    with_scratch(|s| {
        let path = s.file("export.parquet", data);
        load_persons_both_ways(s, &path, TableFormat::Parquet);
        let table = TableFile {
            path: path.clone(),
            format: TableFormat::Parquet,
        };
        if let Ok(Some(_)) = queryable_rows(&table) {
            let _ = check_in_place(&table, &s.persons, 1, &indicatif::ProgressBar::hidden());
        }
        stage_items_both_ways(s, &path, TableFormat::Parquet);
    })
}

fn load_persons_both_ways(s: &Scratch, path: &Path, format: TableFormat) {
    for mode in MODES {
        let table = TableFile {
            path: path.to_path_buf(),
            format,
        };
        let mut rejections = Rejections::new(mode, s.dir.path().join("rejected.jsonl"));
        let _ = load_persons(&table, as_of(), &mut rejections);
        let _ = rejections.finish();
    }
}

fn stage_items_both_ways(s: &Scratch, path: &Path, format: TableFormat) {
    for mode in MODES {
        let table = TableFile {
            path: path.to_path_buf(),
            format,
        };
        let mut rejections = Rejections::new(mode, s.dir.path().join("rejected.jsonl"));
        let staging = s.dir.path().join("items.staged.parquet");
        let hidden = indicatif::ProgressBar::hidden();
        let _ = stage_items(&table, &s.persons, &mut rejections, &staging, &hidden);
        let _ = rejections.finish();
    }
}

/// A policy file, as `veto build --policy FILE` and `veto serve` load it,
/// and the questions the build and the portal ask of it.
pub fn policy_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::from_toml(text, "fuzz input") else {
        return;
    };
    for platform in Platform::ALL {
        let _ = policy.kinds_for(*platform);
    }
    for t in [DateTime::<Utc>::MIN_UTC, as_of(), DateTime::<Utc>::MAX_UTC] {
        let _ = policy.is_late(t);
    }
}

/// A ledger export, as `veto ledger verify` reads and checks it. One that
/// parses must parse the same after veto writes it out again.
pub fn ledger_export(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((entries, head)) = ledger_file::parse(text) else {
        return;
    };
    let _ = veto_core::ledger::verify(&entries, &head, None);
    let _ = veto_core::ledger::verify(&entries, &head, Some(&head.public_key));
    let written = ledger_file::to_jsonl(&entries, &head);
    assert_eq!(
        ledger_file::parse(&written),
        Ok((entries, head)),
        "a parsed ledger export reads back differently once written"
    );
}

/// A proof bundle, as `veto verify PROOF --ledger FILE` reads and checks it
/// (against the bundled ledger; no snapshot directory).
pub fn proof_bundle(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(bundle) = proof::ProofBundle::from_json(text) else {
        return;
    };
    let _ = proof::verify(&bundle, &LEDGER_ENTRIES, None);
    let written = serde_json::to_string_pretty(&bundle).expect("a bundle is JSON");
    assert_eq!(
        proof::ProofBundle::from_json(&written).as_ref(),
        Ok(&bundle),
        "a parsed proof bundle reads back differently once written"
    );
}

/// A receipt, as `veto receipt verify` reads and checks it.
pub fn receipt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(receipt) = Receipt::from_json(text) else {
        return;
    };
    let _ = receipt.verify(None);
    let _ = receipt.verify(Some(&receipt.public_key));
    let written = serde_json::to_string_pretty(&receipt).expect("a receipt is JSON");
    assert_eq!(
        Receipt::from_json(&written).as_ref(),
        Ok(&receipt),
        "a parsed receipt reads back differently once written"
    );
}
